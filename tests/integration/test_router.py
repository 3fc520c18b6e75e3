"""test_router.py - a router over two shard groups of two replicas each; real processes on 127.0.0.1.

One index version with 4 shards: group A serves shards 0-1 (replicas A1,
A2), group B shards 2-3 (B1, B2), and a single process serves all four
for comparison. The router must answer exactly what the single process
answers; lose no request when a replica is killed; refuse (or, when
allowed, answer partially) when a whole group is gone; never mix two
versions during a rollout; and refuse shard servers with another secret
or another index.
"""
import json
import os
import shutil
import signal
import threading
import time

import harness

WORK = CORPUS = INDEX = SECRET = SINGLE = ROUTER = None
A = B = None  # [replica, replica]
QUERIES = ["document about harbor glacier", "tundra wetland ember", "fjord romeo karst xray", "savanna prairie",
           "Section 1 alpha", "cobalt basalt tango bravo india"]


def build(seed):
    harness.make_corpus(CORPUS, n_docs=24, seed=seed)
    r = harness.ragd_index("build", "--out", INDEX, "--source", CORPUS, "--shards", "4", "--index-spec", "Flat",
                           "--log-level", "warn")
    assert r.returncode == 0, r.stderr


def shard_server(shards, port=None):
    return harness.Server(INDEX, "--watch-ms", "0", "--shards", shards, "--peer-secret-file", SECRET, port=port)


def peers(*groups):
    return ",".join("|".join("http://127.0.0.1:%d" % s.port for s in g) for g in groups)


def setup_module():
    global WORK, CORPUS, INDEX, SECRET, SINGLE, ROUTER, A, B
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    INDEX = os.path.join(WORK, "idx")
    build(7)
    SECRET = os.path.join(WORK, "peer-secret")
    with open(SECRET, "w") as f:
        f.write("router-and-shards-share-this\n")
    A = [shard_server("0,1"), shard_server("0-1")]
    B = [shard_server("2,3"), shard_server("2-3")]
    SINGLE = harness.Server(INDEX, "--watch-ms", "0")
    ROUTER = harness.Server(None, "--router", "--peers", peers(A, B), "--peer-secret-file", SECRET,
                            "--shard-timeout-ms", "1000")


def teardown_module():
    for s in [ROUTER, SINGLE] + (A or []) + (B or []):
        if s:
            s.close()
    shutil.rmtree(WORK, ignore_errors=True)


def post(srv, body):
    st, _, b = srv.post("/v1/search", json.dumps(body))
    return st, json.loads(b)


def strip(r):
    return [(h["id"], h["score"], h["url"], h["text"], h.get("found_by")) for h in r["results"]]


def restart(old, shards):
    old.killed = True
    if old.proc.poll() is None:
        old.proc.kill()
    old.proc.wait()
    try:
        old.close()
    except AssertionError:
        pass
    return shard_server(shards, port=old.port)


def wait_router(version=None):
    def ok():
        st, _, b = ROUTER.get("/ready")
        return st == 200 and json.loads(b)["complete"] and (version is None or json.loads(b)["index_version"] == version)
    assert harness.wait_until(ok, 20), ROUTER.get("/ready")


def test_results_equal_one_process():
    wait_router()
    bodies = []
    for q in QUERIES:
        for mode in ("vector", "keyword", "hybrid"):
            bodies.append({"query": q, "k": 7, "mode": mode})
        bodies.append({"query": q, "k": 5, "mode": "hybrid", "fusion": "rrf"})
        bodies.append({"query": q, "k": 5, "filter": {"url_prefix": "file://" + CORPUS + "/doc01"}})
    for body in bodies:
        st1, one = post(SINGLE, body)
        st2, via = post(ROUTER, body)
        assert st1 == st2 == 200, (body, via)
        assert strip(via) == strip(one) and via["results"], body
        assert via["index_version"] == one["index_version"] and "partial" not in via
    # a vector given by the caller, and the seed-compatible route
    vec = json.loads(SINGLE.post("/v1/embeddings", json.dumps({"model": "all-MiniLM-L6-v2", "input": "glacier"}))[2])
    via = json.loads(ROUTER.post("/v1/embeddings", json.dumps({"model": "all-MiniLM-L6-v2", "input": "glacier"}))[2])
    assert via["data"][0]["embedding"] == vec["data"][0]["embedding"]  # the router's model is the version's
    assert json.loads(ROUTER.get("/v1/models")[2]) == json.loads(SINGLE.get("/v1/models")[2])
    body = {"vector": vec["data"][0]["embedding"], "k": 6}
    assert strip(post(ROUTER, body)[1]) == strip(post(SINGLE, body)[1])
    st, _, b1 = ROUTER.get("/?query=harbor+glacier")
    assert st == 200 and json.loads(b1) == json.loads(SINGLE.get("/?query=harbor+glacier")[2])
    # what the router knows
    st, _, b = ROUTER.get("/v1/index")
    info = json.loads(b)
    assert st == 200 and info["shards"] == 4 and len(info["replicas"]) == 4 and all(r["ok"] for r in info["replicas"])
    assert sorted(tuple(r["shards"]) for r in info["replicas"]) == [(0, 1), (0, 1), (2, 3), (2, 3)]


def test_the_router_serves_through_the_cache():
    wait_router()
    redis = harness.Redis()
    r2 = harness.Server(None, "--router", "--peers", peers(A, B), "--peer-secret-file", SECRET, "--redis", redis.url())
    try:
        body = {"query": QUERIES[2], "k": 6, "mode": "hybrid"}
        st, first = post(r2, body)
        assert st == 200 and first["cache"] == "miss"
        one = post(SINGLE, body)[1]
        assert strip(first) == strip(one)

        def again():
            st, r = post(r2, body)
            return st == 200 and r["cache"] == "exact" and strip(r) == strip(one)
        assert harness.wait_until(again, 10)  # cached ids, rows fetched from the shard servers
        st, other_k = post(r2, dict(body, k=3))
        assert st == 200 and other_k["cache"] == "exact" and strip(other_k) == strip(post(SINGLE, dict(body, k=3))[1])
        assert redis.keys("ragd:v1:*:res:*")
    finally:
        r2.close()
        redis.stop()


def test_answers_through_the_router():
    from fake_llm import FakeLLM
    llm = FakeLLM(reply="See [1].")
    r2 = harness.Server(None, "--router", "--peers", peers(A, B), "--peer-secret-file", SECRET, "--llm-url", llm.url(),
                        "--llm-model", "m")
    s2 = harness.Server(INDEX, "--watch-ms", "0", "--llm-url", llm.url(), "--llm-model", "m")
    try:
        body = json.dumps({"query": QUERIES[0], "k": 4, "mode": "vector"})
        llm.script()
        st, _, b = r2.post("/v1/answer", body)
        via = json.loads(b)
        prompt_via = json.loads(llm.log()[0]["body"])["messages"][1]["content"]
        llm.script()
        one = json.loads(s2.post("/v1/answer", body)[2])
        prompt_one = json.loads(llm.log()[0]["body"])["messages"][1]["content"]
        assert st == 200 and via["citations"] == one["citations"] and via["index_version"] == one["index_version"]
        assert prompt_via == prompt_one  # the same passages, in the same order, as one process
        assert r2.post("/admin/reload", "")[0] == 400
    finally:
        r2.close()
        s2.close()
        llm.close()


def load(stop, counts, statuses):
    i = 0
    while not stop.is_set():
        body = {"query": QUERIES[i % len(QUERIES)], "k": 5, "mode": ("vector", "hybrid", "keyword")[i % 3]}
        try:
            st, r = post(ROUTER, body)
            statuses.append((st, r.get("index_version"), [h["id"] for h in r.get("results", [])]))
        except Exception as e:  # a refused connection is a failed request too
            statuses.append((0, str(e), []))
        counts[0] += 1
        i += 1


def under_load(fn, threads=4, seconds_after=1.0):
    stop, counts, statuses = threading.Event(), [0], []
    ts = [threading.Thread(target=load, args=(stop, counts, statuses)) for _ in range(threads)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    fn()
    time.sleep(seconds_after)
    stop.set()
    for t in ts:
        t.join()
    return statuses


def test_killing_a_replica_under_load_fails_no_request():
    global A
    wait_router()
    statuses = under_load(lambda: os.kill(A[0].proc.pid, signal.SIGKILL), seconds_after=2.5)
    bad = [s for s in statuses if s[0] != 200]
    assert len(statuses) > 50 and not bad, (len(statuses), bad[:3])
    assert metric(ROUTER, "ragd_router_failovers_total") >= 1  # the dead replica's requests went to its twin
    assert harness.wait_until(lambda: sum(r["ok"] for r in json.loads(ROUTER.get("/v1/index")[2])["replicas"]) == 3, 10)
    A[0] = restart(A[0], "0,1")
    assert harness.wait_until(lambda: sum(r["ok"] for r in json.loads(ROUTER.get("/v1/index")[2])["replicas"]) == 4, 10)


def metric(srv, name):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def complete():
    st, _, b = ROUTER.get("/ready")
    return st == 200 and json.loads(b)["complete"]


def test_a_group_without_replicas_is_503_or_partial_when_allowed():
    global B
    wait_router()
    for s in B:
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait()
    # at once (the router may not have polled yet) and after it has: the same answers
    for when in ("before the poll", "after the poll"):
        if when == "after the poll":
            assert harness.wait_until(lambda: not complete(), 10)
            st, _, b = ROUTER.get("/ready")
            ready = json.loads(b)
            assert st == 200 and ready["complete"] is False and "2 of its 4 shards" in ready["reason"], ready
        st, r = post(ROUTER, {"query": QUERIES[1], "k": 5, "mode": "vector"})
        assert st == 503 and r["error"]["code"] == "shards_unavailable" and "allow_partial" in r["error"]["message"], r
        assert ROUTER.get("/v1/search?q=glacier")[0] == 503
        st, r = post(ROUTER, {"query": QUERIES[1], "k": 5, "mode": "vector", "allow_partial": True})
        assert st == 200 and r["partial"] is True and r["missing_shards"] == [2, 3], (when, r)
        # what is there is right: the best hits of shards 0 and 1, as the one process ranks them
        whole = post(SINGLE, {"query": QUERIES[1], "k": 60, "mode": "vector"})[1]["results"]
        mine = {h["id"] for h in post(A[0], {"query": QUERIES[1], "k": 60, "mode": "vector"})[1]["results"]}
        want = [h["id"] for h in whole if h["id"] in mine][:5]
        assert [h["id"] for h in r["results"]] == want, when
        st, _, b = ROUTER.get("/v1/search?q=glacier&allow_partial=true")
        assert st == 200 and json.loads(b)["partial"] is True
    assert metric(ROUTER, "ragd_router_partial_answers_total") >= 4
    assert metric(ROUTER, "ragd_router_complete") == 0
    B = [restart(B[0], "2,3"), restart(B[1], "2-3")]
    assert harness.wait_until(complete, 10)


def ids_of_live_version():
    return {str(c["id"]) for c in harness.dump_chunks(INDEX)}


def test_rollout_never_mixes_versions_and_fails_nothing():
    wait_router()
    old = json.loads(ROUTER.get("/ready")[2])["index_version"]
    old_ids = ids_of_live_version()
    build(99)  # a different corpus: every chunk id changes
    new_ids = ids_of_live_version()
    assert not old_ids & new_ids
    new = os.path.basename(os.readlink(os.path.join(INDEX, "current")))

    def roll():
        for s in A + B:
            st, _, body = s.post("/admin/reload", "")
            assert st == 200, body
            time.sleep(0.7)
    statuses = under_load(roll, seconds_after=2.5)
    bad = [s for s in statuses if s[0] != 200]
    assert len(statuses) > 50 and not bad, bad[:3]
    versions = {s[1] for s in statuses}
    for st, version, ids in statuses:
        assert set(ids) <= (old_ids if version == old else new_ids), version
    assert harness.wait_until(lambda: json.loads(ROUTER.get("/ready")[2]).get("index_version") == new, 10)
    assert old in versions and new != old


def test_wrong_secret_or_another_index_is_refused():
    other_secret = os.path.join(WORK, "other-secret")
    with open(other_secret, "w") as f:
        f.write("a-different-secret-entirely\n")
    st, _, b = A[0].get("/internal/v1/state", headers={"X-Ragd-Peer-Secret": "a-different-secret-entirely"})
    assert st == 401 and json.loads(b)["error"]["code"] == "invalid_peer_secret"
    assert A[0].get("/internal/v1/state")[0] == 401
    assert SINGLE.get("/internal/v1/state")[0] == 404  # no secret file: no internal routes at all
    r2 = harness.Server(None, "--router", "--peers", peers(A, B), "--peer-secret-file", other_secret, wait_loaded=False)
    try:
        assert r2.get("/ready")[0] == 503
        info = json.loads(r2.get("/v1/index")[2])
        assert info["replicas"] and all(not r["ok"] and "secret" in r["error"] for r in info["replicas"])
        assert json.loads(r2.post("/v1/search", json.dumps({"query": "x"}))[2])["error"]["code"] == "not_ready"
    finally:
        r2.close()
    other = os.path.join(WORK, "other")
    r = harness.ragd_index("build", "--out", other, "--source", CORPUS, "--shards", "4", "--log-level", "warn")
    assert r.returncode == 0
    d = harness.Server(other, "--watch-ms", "0", "--peer-secret-file", SECRET)
    r3 = harness.Server(None, "--router", "--peers", "http://127.0.0.1:%d" % d.port, "--peer-secret-file", SECRET,
                        "--index-name", "idx", wait_loaded=False)
    try:
        assert r3.get("/ready")[0] == 503
        info = json.loads(r3.get("/v1/index")[2])
        assert "serves index \"other\"" in info["replicas"][0]["error"]
    finally:
        r3.close()
        d.close()


harness.main(globals())
