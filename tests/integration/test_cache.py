"""test_cache.py - the Redis semantic cache with a real redis-server and the real service.

Uses the native minilm embedder, so paraphrases score as a real model
scores them (0.99 for a rewording, 0.93 for a negation, ~0.06 unrelated).
"""
import json
import os
import shutil
import signal
import threading
import time
import urllib.parse

import harness

WORK = CORPUS = INDEX = None
REDIS = A = B = None
Q = "How do I reset my password?"
PARA = "How can I reset my password?"
NEG = "How do I not reset my password?"
UNRELATED = "What is the weather in Paris today?"


def build(index, corpus, *extra):
    r = harness.ragd_index("build", "--out", index, "--source", corpus, "--embedder", "minilm", "--index-spec",
                           "Flat", "--shards", "2", "--chunk-tokens", "64", "--log-level", "warn", *extra)
    assert r.returncode == 0, r.stderr
    return os.readlink(os.path.join(index, "current")).split("/")[-1]


def setup_module():
    global WORK, CORPUS, INDEX, REDIS, A, B
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS, n_docs=12)
    with open(os.path.join(CORPUS, "account.md"), "w") as f:
        f.write("# Accounts\n\n## Passwords\n\nTo reset your password open Settings, choose Security and press "
                "Reset password. A link is mailed to you.\n")
    INDEX = os.path.join(WORK, "idx")
    build(INDEX, CORPUS)
    REDIS = harness.Redis()
    A = harness.Server(INDEX, "--redis", REDIS.url(), "--cache-semantic", "on", "--watch-ms", "0")
    B = harness.Server(INDEX, "--redis", REDIS.url(), "--cache-semantic", "on", "--watch-ms", "0")


def teardown_module():
    for s in (A, B):
        if s:
            s.close()
    if REDIS:
        REDIS.stop()
    shutil.rmtree(WORK, ignore_errors=True)


def search(srv, q, k=5, headers=None):
    st, _, body = srv.get("/v1/search?" + urllib.parse.urlencode({"q": q, "k": k}), headers)
    assert st == 200, (st, body[:300])
    return json.loads(body)


def metric(srv, name):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if line.split()[0] == name or line.startswith(name):
                return float(line.split()[-1])
    raise AssertionError(name)


def counter(srv, name, label):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.split()[-1])
    return 0.0


def wait_written(n_keys_pattern="ragd:v1:*:res:*", at_least=1):
    assert harness.wait_until(lambda: len(REDIS.keys(n_keys_pattern)) >= at_least, 5)


def test_exact_hit_skips_embedder():
    q = "exact repeat about glacier harbor"
    calls = metric(A, "ragd_embedder_calls_total")
    first = search(A, q)
    assert first["cache"] == "miss"
    assert metric(A, "ragd_embedder_calls_total") == calls + 1
    assert harness.wait_until(lambda: search(A, q)["cache"] == "exact", 5)
    again = search(A, q)
    assert again["cache"] == "exact" and again["results"] == first["results"]
    assert metric(A, "ragd_embedder_calls_total") == calls + 1  # no embedding for the repeats
    assert metric(A, "ragd_embedder_calls_avoided_total") >= 2
    by_tier = {t: counter(A, "ragd_model_calls_avoided_total", 'tier="%s"' % t) for t in ("vector", "results", "semantic")}
    assert by_tier["vector"] + by_tier["results"] == metric(A, "ragd_embedder_calls_avoided_total"), by_tier
    assert by_tier["semantic"] == 0  # the query is embedded before a semantic lookup


def test_paraphrase_hits_negation_and_unrelated_do_not():
    first = search(A, Q)
    assert first["cache"] == "miss"
    wait_written()
    para = search(A, PARA)
    assert harness.wait_until(lambda: search(A, PARA + " ")["cache"] in ("semantic", "exact"), 5)
    para = search(A, PARA)
    assert para["cache"] in ("semantic", "exact"), para["cache"]
    assert [r["id"] for r in para["results"]] == [r["id"] for r in first["results"]]
    assert search(A, NEG)["cache"] == "miss"
    assert search(A, UNRELATED)["cache"] == "miss"


def test_two_replicas_share_semantic_hits():
    q = "Where do I change the password of my account?"
    assert search(A, q)["cache"] == "miss"
    assert harness.wait_until(lambda: search(B, "Where can I change the password of my account?")["cache"] == "semantic", 5)


def mirror_size(srv):
    return metric(srv, "ragd_cache_mirror_entries")


def test_semantic_hit_writes_exact_tiers_back():
    q, para = "How do I delete my account?", "How can I delete my account?"
    before = mirror_size(A)
    assert search(A, q)["cache"] == "miss"
    assert harness.wait_until(lambda: mirror_size(A) > before, 5)
    assert search(A, para)["cache"] == "semantic"
    # The hit wrote the results under the paraphrase's own key (asynchronously):
    # an identical repeat is now an exact hit, not another semantic one.
    assert harness.wait_until(lambda: search(A, para)["cache"] == "exact", 5)
    assert harness.wait_until(lambda: len(REDIS.keys("ragd:v1:*:res:*")) >= 2, 5)


def epoch(srv):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith("ragd_cache_epoch_info{"):
            return line.split('"')[1]
    return None


def test_after_a_redis_restart_a_repeat_is_exact_not_semantic():
    q = "How do I export all my data?"
    assert search(A, q)["cache"] == "miss"
    assert harness.wait_until(lambda: len(REDIS.keys("ragd:v1:*:sem:*")) >= 1 and mirror_size(A) >= 1, 5)
    old = epoch(A)
    REDIS.stop()
    REDIS.start()  # no persistence: the dataset, its epoch key and every entry are gone
    assert harness.wait_until(lambda: epoch(A) not in (None, old), 5)
    # Pooled connections to the old process fail once each (a bypass, which
    # writes nothing): wait until requests reach the new Redis again.
    n = [0]

    def through():
        n[0] += 1
        return all(search(A, "warm up %d %d" % (n[0], i))["cache"] != "bypass" for i in range(5))
    assert harness.wait_until(through, 10)
    # The mirror went with the dataset: the query searches again (a miss, not
    # a semantic hit on a vector Redis no longer holds) and is written again,
    # so its repeat is exact.
    assert search(A, q)["cache"] == "miss"
    assert harness.wait_until(lambda: search(A, q)["cache"] == "exact", 5)


def test_flushdb_purges_every_replica():
    q, para = "How do I change my email address?", "How can I change my email address?"
    assert search(A, q)["cache"] == "miss"
    assert harness.wait_until(lambda: search(B, para)["cache"] in ("semantic", "exact"), 5)
    purges = [counter(s, "ragd_cache_events_total", 'event="mirror_purges"') for s in (A, B)]
    time.sleep(0.5)  # let the replicas' asynchronous writes land before the purge
    assert REDIS.cli("FLUSHDB").strip() == "OK"
    # Within a feed period (500 ms) every replica drops its mirror, before any
    # new query; a hit served in between cannot write the purged results back
    # (the write-back is checked against the dataset's epoch in one script).
    assert harness.wait_until(lambda: mirror_size(A) == 0 and mirror_size(B) == 0, 3), (mirror_size(A), mirror_size(B))
    for i, srv in enumerate((A, B)):
        assert counter(srv, "ragd_cache_events_total", 'event="mirror_purges"') == purges[i] + 1
    # A's own L1 copy of q (it wrote q) went with the purge too.
    assert search(A, q)["cache"] == "miss"


def test_exact_repeat_served_from_l1_without_redis():
    q = "l1 repeat about basalt cobalt dune"
    first = search(A, q)
    assert first["cache"] == "miss"
    l1 = counter(A, "ragd_cache_events_total", 'event="l1_hits"')
    lat = metric(A, "ragd_redis_duration_seconds_count")
    again = search(A, q)
    assert again["cache"] == "exact" and again["results"] == first["results"]
    assert counter(A, "ragd_cache_events_total", 'event="l1_hits"') == l1 + 1
    assert metric(A, "ragd_redis_duration_seconds_count") == lat  # no Redis round trip
    # B has no L1 copy: it reads Redis (once written) and keeps the entry with Redis's TTL.
    assert harness.wait_until(lambda: search(B, q)["cache"] == "exact", 5)
    l1b = counter(B, "ragd_cache_events_total", 'event="l1_hits"')
    assert search(B, q)["cache"] == "exact"
    assert counter(B, "ragd_cache_events_total", 'event="l1_hits"') == l1b + 1


def test_results_keyed_by_index_version():
    q = "zircon quokka manual"
    corpus2 = os.path.join(WORK, "corpus2")
    shutil.copytree(CORPUS, corpus2)
    index = os.path.join(WORK, "versioned")
    build(index, CORPUS)
    srv = harness.Server(index, "--redis", REDIS.url(), "--cache-semantic", "on", "--watch-ms", "0")
    try:
        old = search(srv, q)
        assert harness.wait_until(lambda: search(srv, q)["cache"] == "exact", 5)
        with open(os.path.join(corpus2, "zircon.md"), "w") as f:
            f.write("# Zircon quokka manual\n\nThe zircon quokka manual explains the zircon quokka.\n")
        new_version = build(index, corpus2)
        assert srv.post("/admin/reload", "")[0] == 200
        fresh = search(srv, q)
        assert fresh["index_version"] == new_version
        assert fresh["results"][0]["url"].endswith("zircon.md"), fresh["results"][0]["url"]
        assert [r["id"] for r in fresh["results"]] != [r["id"] for r in old["results"]]
    finally:
        srv.close()


def test_tenants_never_share_entries():
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("tenant-a-secret id=a tenant=acme\ntenant-b-secret id=b tenant=globex\n")
    srv = harness.Server(INDEX, "--redis", REDIS.url(), "--cache-semantic", "on", "--api-keys", keys, "--watch-ms", "0")
    try:
        ha, hb = {"X-API-Key": "tenant-a-secret"}, {"X-API-Key": "tenant-b-secret"}
        q = "tenant isolation question about lagoon reefs"
        assert search(srv, q, headers=ha)["cache"] == "miss"
        assert harness.wait_until(lambda: search(srv, q, headers=ha)["cache"] == "exact", 5)
        # Same text, other tenant: neither A's results (exact) nor A's
        # entry (semantic) may be served.
        assert search(srv, q, headers=hb)["cache"] == "miss"
        assert REDIS.keys("ragd:v1:acme:*") and REDIS.keys("ragd:v1:globex:*")
    finally:
        srv.close()


def test_corrupt_values_are_misses_not_crashes():
    q = "corruption check nebula orchard"
    search(A, q)
    wait_written("ragd:v1:default:res:*", 1)
    time.sleep(0.3)
    for k in REDIS.keys("ragd:v1:default:*"):
        REDIS.cli("SET", k, "garbage-not-a-ragd-value")
    # B reads them from Redis (A would answer from its own L1 copy, which it
    # wrote itself and is still good).
    before = metric(B, 'ragd_cache_events_total{event="corrupt_entries"}')
    r = search(B, q)
    # The corrupt tier-1/2 values are not served (the replica's in-memory
    # mirror, read before the corruption, may still answer semantically).
    assert r["cache"] in ("miss", "semantic") and r["results"], r["cache"]
    assert metric(B, 'ragd_cache_events_total{event="corrupt_entries"}') > before
    assert B.get("/health")[0] == 200


def test_ttl_not_extended_by_reads():
    srv = harness.Server(INDEX, "--redis", REDIS.url(), "--cache-semantic", "on", "--cache-results-ttl-ms", "3000", "--watch-ms", "0")
    try:
        q = "short lived entry about tundra upland"
        search(srv, q)
        before = set(REDIS.keys("ragd:v1:default:res:*"))
        assert harness.wait_until(lambda: search(srv, q)["cache"] == "exact", 3)
        key = [k for k in REDIS.keys("ragd:v1:default:res:*")]
        pttl = {k: int(REDIS.cli("PTTL", k)) for k in key}
        target = min(pttl, key=lambda k: pttl[k] if pttl[k] > 0 else 10**9)
        t1 = int(REDIS.cli("PTTL", target))
        for _ in range(5):
            search(srv, q)  # reads must not refresh the TTL
        time.sleep(0.5)
        t2 = int(REDIS.cli("PTTL", target))
        assert 0 < t2 < t1 - 400, (t1, t2)
        assert harness.wait_until(lambda: int(REDIS.cli("PTTL", target)) == -2, 5)
        r = search(srv, q)
        assert r["timings"]["search_ms"] > 0  # served by a fresh search, not the expired entry
        del before
    finally:
        srv.close()


def test_redis_outage_bypasses_and_recovers():
    stop = threading.Event()
    statuses, caches = [], []

    def load():
        i = 0
        while not stop.is_set():
            # Repeats (served from the L1 or Redis) and new queries (which need Redis).
            q = "outage probe %d" % (i % 7) if i % 2 else "outage question number %d about lagoons" % i
            st, _, body = A.get("/v1/search?" + urllib.parse.urlencode({"q": q, "k": 3}))
            statuses.append(st)
            if st == 200:
                caches.append(json.loads(body)["cache"])
            i += 1
    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.5)
        REDIS.stop()
        # Repeats are served from the L1 without Redis; the outage still shows
        # (the feed's failed reconnects open the breaker).
        assert harness.wait_until(lambda: json.loads(A.get("/ready")[2])["cache"] == "degraded", 5)
        assert A.get("/ready")[0] == 200
        REDIS.start()
        # Hits resume: the replica's mirror and Redis serve again (no bypass);
        # the restarted Redis is empty, so repeats hit once their writes land.
        assert harness.wait_until(lambda: len(caches) > 5 and all(c != "bypass" for c in caches[-5:]) and
                                  any(c in ("exact", "semantic") for c in caches[-10:]), 20)
    finally:
        stop.set()
        t.join()
    assert statuses and all(s == 200 for s in statuses), set(statuses)
    assert "bypass" in caches
    assert harness.wait_until(lambda: json.loads(A.get("/ready")[2])["cache"] == "ok", 5)


def test_slow_redis_never_holds_a_request():
    # A paused redis-server (SIGSTOP) accepts connections and answers nothing:
    # the command timeout (100 ms) turns the lookup into a bypass and the
    # request is answered by a search.
    os.kill(REDIS.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        r = search(A, "a question while redis is paused about prairie quarry")
        took = time.time() - t0
        assert r["cache"] == "bypass" and r["results"], r["cache"]
        assert took < 1.0, took  # bounded by the timeouts, not by Redis
    finally:
        os.kill(REDIS.proc.pid, signal.SIGCONT)
    assert harness.wait_until(lambda: json.loads(A.get("/ready")[2])["cache"] == "ok", 5)


def test_hits_resume_within_2s_after_a_long_outage():
    REDIS.stop()
    try:
        # 12 s of new queries while Redis is down (repeats would be served from
        # the L1): the request path's back-off grows to 8-16 s meanwhile;
        # recovery must not wait for it.
        end, i = time.time() + 12, 0
        while time.time() < end:
            assert search(A, "long outage question %d" % i)["cache"] == "bypass"
            i += 1
            time.sleep(0.2)
    finally:
        REDIS.start()
    t0 = time.time()
    assert harness.wait_until(lambda: search(A, "after the outage %f" % time.time())["cache"] != "bypass", 2.0)
    assert time.time() - t0 <= 2.0
    # and the cache works again: a repeat is an exact hit
    q = "after the outage, a question about fjords"
    search(A, q)
    assert harness.wait_until(lambda: search(B, q)["cache"] == "exact", 5)


def test_indexer_embedding_cache_in_redis():
    index = os.path.join(WORK, "redis-cached")
    report = os.path.join(WORK, "rc.json")
    for run in range(2):
        shutil.rmtree(index, ignore_errors=True)  # a full rebuild from scratch each time
        r = harness.ragd_index("build", "--out", index, "--source", CORPUS, "--embedder", "minilm", "--index-spec",
                               "Flat", "--redis", REDIS.url(), "--report", report, "--log-level", "warn")
        assert r.returncode == 0, r.stderr
        c = harness.load_json(report)["chunks"]
        if run == 0:
            assert c["embedded"] == c["unique"] > 0, c
        else:
            assert c["embedded"] == 0 and c["cached"] == c["unique"], c
    assert REDIS.keys("ragd:v1:emb:*")
    assert not os.path.exists(os.path.join(index, "embed-cache.db"))


harness.main(globals())
