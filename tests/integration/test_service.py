"""test_service.py - ragd-serve as users and Kubernetes see it, over real HTTP on 127.0.0.1.

Builds an index with the real ragd-index, starts the real ragd-serve, and
checks results against brute force (`ragd-index search --exact`), the
seed-compatible shape, every error status, auth, rate limits, readiness,
metrics, hot reload under load, rejection of a damaged version, graceful
shutdown, and a seeded fuzz of queries and bodies.
"""
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import threading
import time
import urllib.parse

import harness

WORK = CORPUS = INDEX = None
SRV = None


def build(index, *extra):
    r = harness.ragd_index("build", "--out", index, "--source", CORPUS, "--embedder", "hash", "--index-spec", "Flat",
                           "--shards", "3", "--chunk-tokens", "48", "--log-level", "warn", *extra)
    assert r.returncode == 0, r.stderr
    return os.readlink(os.path.join(index, "current")).split("/")[-1]


def setup_module():
    global WORK, CORPUS, INDEX, SRV
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS)
    INDEX = os.path.join(WORK, "docs")
    build(INDEX)
    SRV = harness.Server(INDEX, "--watch-ms", "0")


def teardown_module():
    if SRV:
        SRV.close()
    shutil.rmtree(WORK, ignore_errors=True)


def body_json(resp):
    status, headers, body = resp
    assert headers.get("Content-Type", "").startswith("application/json"), headers
    return json.loads(body)


def exact(query, k):
    r = harness.ragd_index("search", INDEX, query, "--k", str(k), "--exact")
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_search_matches_brute_force():
    rnd = random.Random(3)
    for i in range(8):
        q = " ".join(rnd.choice(harness.WORDS) for _ in range(4))
        want = exact(q, 10)
        got = body_json(SRV.get("/v1/search?" + urllib.parse.urlencode({"q": q, "k": 10, "mode": "vector"})))
        assert len(got["results"]) == 10
        for a, b in zip(got["results"], want):
            assert abs(a["score"] - b["score"]) < 1e-5, (q, a["score"], b["score"])
        assert got["results"][0]["id"] == str(want[0]["id"]) or abs(got["results"][0]["score"] - got["results"][1]["score"]) < 1e-6
        post = body_json(SRV.post("/v1/search", json.dumps({"query": q, "k": 10, "mode": "vector"})))
        assert [r["id"] for r in post["results"]] == [r["id"] for r in got["results"]]
        for key in ("index_version", "took_ms", "timings", "cache", "mode"):
            assert key in got, key
        assert got["mode"] == "vector"
        assert set(got["timings"]) == {"embed_ms", "search_ms", "keyword_ms", "filter_ms", "fetch_ms"}
        assert set(got["results"][0]) == {"id", "score", "text", "url", "title", "headings", "flags"}


def embed(text):
    r = harness.run([os.path.join(harness.BIN, "ragd-index"), "embed", "--embedder", "hash"], input=text + "\n")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_search_by_vector():
    """POST /v1/search {"vector": [...]}: the caller's vector ranks exactly
    as the service's own embedding of the same text; it is normalised like
    the index's vectors, bypasses the cache, and a vector that does not fit
    the index is a 400."""
    rnd = random.Random(5)
    for i in range(4):
        q = " ".join(rnd.choice(harness.WORDS) for _ in range(4))
        v = embed(q)
        by_text = body_json(SRV.post("/v1/search", json.dumps({"query": q, "k": 10, "mode": "vector"})))
        by_vec = body_json(SRV.post("/v1/search", json.dumps({"vector": v, "k": 10})))
        assert by_vec["mode"] == "vector" and by_vec["cache"] == "bypass", by_vec
        assert [r["id"] for r in by_vec["results"]] == [r["id"] for r in by_text["results"]], q
        for a, b in zip(by_vec["results"], by_text["results"]):
            assert abs(a["score"] - b["score"]) < 1e-5
        assert by_vec["timings"]["embed_ms"] == 0
        # Scaled by 7: the same ranking and scores (the index compares unit vectors).
        scaled = body_json(SRV.post("/v1/search", json.dumps({"vector": [x * 7 for x in v], "k": 10})))
        assert [(r["id"], round(r["score"], 5)) for r in scaled["results"]] == \
            [(r["id"], round(r["score"], 5)) for r in by_vec["results"]]
        # With text too, hybrid takes its vector list from "vector" and its keyword list from the text.
        hyb = body_json(SRV.post("/v1/search", json.dumps({"query": q, "vector": v, "k": 5, "mode": "hybrid"})))
        assert hyb["mode"] == "hybrid" and len(hyb["results"]) == 5
        same = body_json(SRV.post("/v1/search", json.dumps({"query": q, "k": 5, "mode": "hybrid"})))
        assert [r["id"] for r in hyb["results"]] == [r["id"] for r in same["results"]]
        # A filter applies to vector queries as to text ones.
        flt = body_json(SRV.post("/v1/search", json.dumps({"vector": v, "k": 10, "filter": {"url_prefix": "file:///nowhere/"}})))
        assert flt["results"] == []
    dim = len(embed("x"))
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.1] * (dim - 1)})), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.0] * dim})), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": []})), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": "0.1,0.2"})), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.1] * (dim - 1) + ["x"]})), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", '{"vector": [1e39]}'), 400, "invalid_vector")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.1] * dim, "mode": "keyword", "query": "a"})), 400,
                 "invalid_mode")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.1] * dim, "mode": "hybrid"})), 400, "missing_query")
    expect_error(SRV.post("/v1/search", json.dumps({"vector": [0.1] * dim, "query": 5})), 400, "missing_query")


def test_filter_by_url_prefix():
    prefix = "file://" + os.path.realpath(CORPUS) + "/doc01"
    got = body_json(SRV.post("/v1/search", json.dumps({"query": "alpha bravo", "k": 5, "filter": {"url_prefix": prefix}})))
    assert got["results"], got
    assert all(r["url"].startswith(prefix) for r in got["results"])


def test_seed_compatible_shape():
    got = body_json(SRV.get("/?query=" + urllib.parse.quote("delta echo foxtrot")))
    assert list(got) == ["results", "status", "message"], list(got)
    assert got["status"] == "success" and got["message"] == "Found 5 results"
    assert len(got["results"]) == 5
    for r in got["results"]:
        assert list(r) == ["content", "source", "score"], list(r)
    empty = body_json(SRV.get("/?query="))
    assert empty == {"results": [], "status": "empty_query", "message": "Please provide a query parameter"}
    assert body_json(SRV.get("/")) == empty


def expect_error(resp, status, code):
    st, headers, body = resp
    assert st == status, (st, status, body[:200])
    j = json.loads(body)
    assert j["error"]["code"] == code and j["error"]["message"], j
    return headers


def test_error_statuses_have_json_bodies():
    expect_error(SRV.post("/v1/search", "{not json"), 400, "invalid_json")
    expect_error(SRV.post("/v1/search", "[1,2]"), 400, "invalid_json")
    expect_error(SRV.post("/v1/search", json.dumps({"k": 3})), 400, "missing_query")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "   "})), 400, "empty_query")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "a", "k": 0})), 400, "invalid_k")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "a", "k": 101})), 400, "invalid_k")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "a", "k": "5"})), 400, "invalid_k")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "a", "filter": "x"})), 400, "invalid_filter")
    expect_error(SRV.get("/v1/search?q=a&k=abc"), 400, "invalid_k")
    expect_error(SRV.get("/v1/search?k=3"), 400, "missing_query")
    expect_error(SRV.get("/v1/search?q=%ff%fe"), 400, "invalid_query")
    expect_error(SRV.get("/v1/search?q=a%00b"), 400, "invalid_query")
    expect_error(SRV.get("/v1/search?q=" + "x" * 2049), 414, "query_too_long")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "x" * 2049})), 400, "query_too_long")
    expect_error(SRV.post("/v1/search", json.dumps({"query": "x", "pad": "y" * 70000})), 413, "body_too_large")
    expect_error(SRV.get("/no/such/route"), 404, "not_found")
    h = expect_error(harness.http("DELETE", SRV.url("/v1/search")), 405, "method_not_allowed")
    assert "POST" in h.get("Allow", "")
    expect_error(harness.http("GET", SRV.url("/admin/reload")), 405, "method_not_allowed")


def test_chunked_body_over_limit_is_413():
    conn = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=10)
    conn.putrequest("POST", "/v1/search")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    payload = json.dumps({"query": "x", "pad": "y" * 80000}).encode()
    for i in range(0, len(payload), 8192):
        part = payload[i:i + 8192]
        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"] == "body_too_large"
    conn.close()


def test_health_ready_index_metrics():
    assert body_json(SRV.get("/health")) == {"status": "ok"}
    ready = body_json(SRV.get("/ready"))
    assert ready["status"] == "ready" and ready["index_version"]
    info = body_json(SRV.get("/v1/index"))
    assert info["shards"] == 3 and info["embedder"]["name"] == "hash" and info["chunks"] > 0
    def count():
        st, _, body = SRV.get("/metrics")
        assert st == 200
        for line in body.decode().splitlines():
            if line.startswith('ragd_http_requests_total{route="/v1/search",status="200"}'):
                return int(line.split()[-1])
        return 0
    before = count()
    for _ in range(3):
        SRV.get("/v1/search?q=alpha")
    assert count() == before + 3
    text = SRV.get("/metrics")[2].decode()
    for name in ("ragd_http_request_duration_seconds_bucket", "ragd_stage_duration_seconds_bucket{stage=\"embed\"",
                 "ragd_http_requests_in_flight", "ragd_index_chunks", "ragd_index_info{version=",
                 "ragd_index_reloads_total", "ragd_cache_requests_total", "ragd_embedder_calls_total"):
        assert name in text, name


def test_auth_keys_and_limits():
    keys = os.path.join(WORK, "keys")
    admin_hash = hashlib.sha256(b"admin-secret-123").hexdigest()
    with open(keys, "w") as f:
        f.write("# test keys\nuser-secret-123 id=user tenant=acme\nother-secret-123 id=other indexes=wiki,blog\n"
                "sha256:%s id=ops admin\n" % admin_hash)
    srv = harness.Server(INDEX, "--api-keys", keys, "--watch-ms", "0")
    try:
        expect_error(srv.get("/v1/search?q=alpha"), 401, "missing_api_key")
        expect_error(srv.get("/v1/search?q=alpha", {"Authorization": "Bearer wrong-secret-1"}), 401, "invalid_api_key")
        assert srv.get("/v1/search?q=alpha", {"Authorization": "Bearer user-secret-123"})[0] == 200
        assert srv.get("/v1/search?q=alpha", {"X-API-Key": "user-secret-123"})[0] == 200
        expect_error(srv.get("/v1/search?q=alpha", {"X-API-Key": "other-secret-123"}), 403, "index_forbidden")
        expect_error(srv.post("/admin/reload", "", {"X-API-Key": "user-secret-123"}), 403, "admin_required")
        assert srv.post("/admin/reload", "", {"X-API-Key": "admin-secret-123"})[0] == 200
        assert srv.get("/health")[0] == 200 and srv.get("/metrics")[0] == 200
        assert "user-secret-123" not in srv.output()
    finally:
        srv.close()
    srv = harness.Server(INDEX, "--api-keys", keys, "--protect-ops", "--watch-ms", "0")
    try:
        expect_error(srv.get("/metrics"), 401, "missing_api_key")
        assert srv.get("/metrics", {"X-API-Key": "user-secret-123"})[0] == 200
    finally:
        srv.close()
    with open(keys, "w") as f:
        f.write("short\n")
    r = harness.run([harness.binary("ragd-serve"), "--index", INDEX, "--api-keys", keys, "--port", "0"], timeout=30)
    assert r.returncode == 2 and "keys:1" in r.stderr, r.stderr


def test_rate_limit_429_with_retry_after():
    srv = harness.Server(INDEX, "--rate-limit", "1", "--burst", "2", "--watch-ms", "0")
    try:
        codes = [srv.get("/v1/search?q=alpha")[0] for _ in range(2)]
        assert codes == [200, 200], codes
        h = expect_error(srv.get("/v1/search?q=alpha"), 429, "rate_limited")
        assert int(h["Retry-After"]) >= 1
        assert srv.get("/health")[0] == 200  # ops routes are not limited
    finally:
        srv.close()


def test_readiness_follows_publication():
    index = os.path.join(WORK, "late")
    srv = harness.Server(index, "--watch-ms", "100")
    try:
        st, _, body = srv.get("/ready")
        assert st == 503 and json.loads(body)["status"] == "not_ready", body
        expect_error(srv.get("/v1/search?q=alpha"), 503, "not_ready")
        version = build(index)
        assert harness.wait_until(lambda: srv.get("/ready")[0] == 200, 20)
        assert body_json(srv.get("/ready"))["index_version"] == version
    finally:
        srv.close()


def test_reload_under_load_zero_failures():
    index = os.path.join(WORK, "hot")
    published = {build(index, "--keep-versions", "3")}
    srv = harness.Server(index, "--watch-ms", "200", "--threads", "2")
    stop = threading.Event()
    failures, versions, count = [], set(), [0]
    lock = threading.Lock()

    def load(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        while not stop.is_set():
            q = urllib.parse.quote(" ".join(rnd.choice(harness.WORDS) for _ in range(3)))
            try:
                conn.request("GET", "/v1/search?k=5&q=" + q)
                r = conn.getresponse()
                body = r.read()
                with lock:
                    count[0] += 1
                    if r.status != 200:
                        failures.append((r.status, body[:200]))
                    else:
                        versions.add(json.loads(body)["index_version"])
            except Exception as e:  # a dropped connection is a failure too
                with lock:
                    failures.append(repr(e))
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        for i in range(10):
            published.add(build(index, "--keep-versions", "3", "--chunk-overlap", str(i % 2 * 4)))
            if i % 2:
                assert srv.post("/admin/reload", "")[0] == 200
            else:
                os.kill(srv.proc.pid, signal.SIGHUP)
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        srv.close()
    assert not failures, failures[:5]
    assert count[0] > 50, count
    assert versions <= published, versions - published
    assert len(versions) >= 3, versions


def test_damaged_version_rejected_old_keeps_serving():
    index = os.path.join(WORK, "damaged")
    good = build(index)
    srv = harness.Server(index, "--watch-ms", "0")
    try:
        bad = build(index)
        shard = os.path.join(index, "versions", bad, "shard-001.faiss")
        with open(shard, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xFF]))
        expect_error(srv.post("/admin/reload", ""), 500, "reload_failed")
        assert body_json(srv.get("/ready"))["index_version"] == good
        assert body_json(srv.get("/v1/search?q=alpha"))["index_version"] == good
        assert "SHA-256" in srv.output()
    finally:
        srv.close()


def test_unknown_embedder_fails_readiness():
    index = os.path.join(WORK, "strange")
    version = build(index)
    path = os.path.join(index, "versions", version, "manifest.json")
    m = json.load(open(path))
    m["embedder"]["name"] = "nosuch"
    with open(path, "w") as f:
        json.dump(m, f)
    srv = harness.Server(index, "--watch-ms", "0")
    try:
        st, _, body = srv.get("/ready")
        assert st == 503, st
        assert "unknown embedder \"nosuch\"" in json.loads(body)["reason"], body
    finally:
        srv.close()


def test_graceful_shutdown_finishes_in_flight():
    srv = harness.Server(INDEX, "--watch-ms", "0")
    results = []

    def one():
        try:
            results.append(srv.get("/v1/search?q=alpha+bravo&k=50")[0])
        except Exception as e:
            results.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join()
    code = srv.proc.wait(20)
    srv.close()
    assert code == 0, (code, srv.output())
    # Requests the server had taken were answered in full; connections still
    # in the kernel's backlog when the listener closed are refused or reset,
    # never answered with an error or cut mid-response.
    assert results.count(200) >= 1, results
    assert all(r == 200 or "Connection refused" in str(r) or "ConnectionResetError" in str(r) for r in results), results


def test_fuzz_queries_and_bodies():
    rnd = random.Random(12345)
    alphabet = ["a", "Z", " ", "%", "&", "=", "?", "#", "+", "\u00e9", "\u4e2d", "\U0001F600", "\\", "\"", "{", "}",
                "[", "]", "\n", "\t", "0", "9", "-", "k", "q", "*", "(", ")", ":", "^", "NEAR", " OR ", "AND", "the"]
    conn = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=30)

    def req(method, path, body=None):
        nonlocal conn
        for attempt in range(2):
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=30)
        raise AssertionError("server stopped answering at " + path[:100])
    for i in range(1500):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        raw = rnd.choice([urllib.parse.quote(s), s.replace(" ", "+").replace("\n", ""), "%" + s[:3]])
        raw = "".join(ch for ch in raw if 32 < ord(ch) < 127) or "x"
        path = rnd.choice(["/v1/search?q=", "/v1/search?k=" + raw + "&q=", "/?query=", "/v1/search?url_prefix=",
                           "/v1/search?mode=keyword&q=", "/v1/search?mode=hybrid&q=", "/v1/search?q=a&mode=",
                           "/v1/search?mode=hybrid&q=a&alpha="]) + raw
        st, body = req("GET", path)
        assert 200 <= st < 500, (st, path, body[:200])
        json.loads(body)
    fields = [None, True, 1, -1, 0, 10**30, 1.5, "", "x", [], {}, "a" * 3000, {"url_prefix": 5}, {"url_prefix": "file://"},
              "keyword", "hybrid", "vector", "rrf", 0.5, 0.25, {"nope": 1}]
    for i in range(1500):
        kind = rnd.randint(0, 3)
        if kind == 0:
            obj = {"query": rnd.choice(fields), "k": rnd.choice(fields), "filter": rnd.choice(fields),
                   "mode": rnd.choice(fields), "alpha": rnd.choice(fields), "fusion": rnd.choice(fields)}
            obj = {k: v for k, v in obj.items() if v is not None or rnd.random() < 0.5}
            body = json.dumps(obj).encode()
        elif kind == 1:
            body = json.dumps({"query": "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 60))), "k": rnd.randint(-5, 120),
                               "mode": rnd.choice(["vector", "keyword", "hybrid"])}).encode()
        elif kind == 2:
            body = bytes(rnd.randint(0, 255) for _ in range(rnd.randint(0, 200)))
        else:
            good = json.dumps({"query": "alpha bravo", "k": 3}).encode()
            cut = rnd.randint(0, len(good))
            body = good[:cut] + bytes([rnd.randint(0, 255)]) + good[cut:]
        st, resp = req("POST", "/v1/search", body)
        assert 200 <= st < 500, (st, body[:100], resp[:200])
        json.loads(resp)
    conn.close()
    assert SRV.get("/health")[0] == 200


harness.main(globals())
