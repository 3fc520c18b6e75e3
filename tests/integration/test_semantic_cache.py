"""test_semantic_cache.py - the semantic tier: key embedder, guard, modes; real redis-server, real service.

The remote index embedder is the test-owned fake OpenAI server
(fake_embeddings.py), scripted to fail: a semantic hit must not call it at
all. The key embedder is the native minilm, so paraphrases score as the
real model scores them.
"""
import json
import os
import shutil
import urllib.parse

import harness
from fake_embeddings import FakeEmbeddings

WORK = CORPUS = None
Q = "How do I reset my password?"
PARA = "How can I reset my password?"
OPENAI = ["--openai-model", "text-embedding-test", "--openai-timeout-ms", "1000", "--openai-retries", "0"]

# Pairs the raw threshold (0.9 here) joins and the guard must not: cosine
# under minilm 0.97 (numbers), 0.96 (negation), 0.93 (entity).
CHANGED = [
    ("numbers", "What is the largest file size I can upload to my shared team folder in the web application, in "
                "megabytes, with a plan of 10 users?",
     "What is the largest file size I can upload to my shared team folder in the web application, in megabytes, "
     "with a plan of 50 users?"),
    ("negation", "Can I reset my password?", "Can I not reset my password?"),
    ("entity", "Find the email thread in which the vendor from Berlin confirmed the delivery schedule for the "
               "replacement laptops and monitors",
     "Find the email thread in which the vendor from Munich confirmed the delivery schedule for the replacement "
     "laptops and monitors"),
]


def build(out, *extra):
    r = harness.ragd_index("build", "--out", out, "--source", CORPUS, "--index-spec", "Flat", "--shards", "2",
                           "--chunk-tokens", "64", "--log-level", "warn", *extra)
    assert r.returncode == 0, r.stderr
    return out


def setup_module():
    global WORK, CORPUS
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS, n_docs=12)
    with open(os.path.join(CORPUS, "account.md"), "w") as f:
        f.write("# Accounts\n\n## Passwords\n\nTo reset your password open Settings, choose Security and press "
                "Reset password. A link is mailed to you.\n")


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def search(srv, q, k=5):
    st, _, body = srv.get("/v1/search?" + urllib.parse.urlencode({"q": q, "k": k}))
    assert st == 200, (st, body[:300])
    return json.loads(body)


def metric(srv, name, label=""):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name) and line.split()[0].split("{")[0] == name and label in line:
            return float(line.split()[-1])
    return 0.0


def ready(srv):
    st, _, body = srv.get("/ready")
    assert st == 200, body
    return json.loads(body)


def embed_cos(a, b):
    r = harness.run([harness.binary("ragd-index"), "embed", "--embedder", "minilm"], input=a + "\n" + b + "\n")
    assert r.returncode == 0, r.stderr
    va, vb = [json.loads(l) for l in r.stdout.splitlines()]
    return sum(x * y for x, y in zip(va, vb))


def test_remote_embedder_semantic_hit_makes_zero_model_calls():
    fake = FakeEmbeddings(dim=8)
    redis = harness.Redis()
    srv = None
    try:
        index = build(os.path.join(WORK, "idx-openai"), "--embedder", "openai", "--openai-url", fake.url(), "--dim", "8",
                      *OPENAI)
        # auto: the index embedder is remote, so the semantic tier runs, keyed by the local minilm.
        srv = harness.Server(index, "--redis", redis.url(), "--openai-url", fake.url(), *OPENAI, "--watch-ms", "0")
        assert ready(srv)["semantic_cache"] == "on", ready(srv)
        fake.script()  # clear the log
        first = search(srv, Q)
        assert first["cache"] == "miss" and first["results"]
        assert len(fake.log()) == 1 and Q in fake.log()[0]["body"]
        assert harness.wait_until(lambda: metric(srv, "ragd_cache_mirror_entries") >= 1, 5)
        # From here any call to the model server would fail: a hit must not make one.
        fake.script(*(["500"] * 20))
        para = search(srv, PARA)
        assert para["cache"] == "semantic", para["cache"]
        assert [h["id"] for h in para["results"]] == [h["id"] for h in first["results"]]
        assert search(srv, Q)["cache"] == "exact"
        assert fake.log() == [], fake.log()
        assert metric(srv, "ragd_model_calls_avoided_total", 'tier="semantic",model="index"') == 1
        assert metric(srv, "ragd_cache_semantic_verified_total") == 0  # --cache-verify-rate 0 by default
        assert metric(srv, "ragd_key_embedder_calls_total") >= 2
        # The semantic hit wrote the exact tiers back: a repeat of the paraphrase needs no model either.
        assert harness.wait_until(lambda: search(srv, PARA)["cache"] == "exact", 5)
        assert fake.log() == []
        # A query nothing answers goes to the (failing) model and fails cleanly.
        st, _, body = srv.get("/v1/search?" + urllib.parse.urlencode({"q": "volcanic soil in Iceland", "k": 5}))
        assert st >= 500 and b"error" in body, (st, body[:200])
        assert len(fake.log()) == 1
    finally:
        if srv:
            srv.close()
        redis.stop()
        fake.close()


def test_guard_rejects_changes_the_threshold_accepts():
    index = build(os.path.join(WORK, "idx-minilm"), "--embedder", "minilm")
    redis = harness.Redis()
    guarded = raw = None
    try:
        common = ["--cache-semantic", "on", "--cache-threshold", "0.9", "--watch-ms", "0"]
        guarded = harness.Server(index, "--redis", redis.url() + "/0", *common)
        raw = harness.Server(index, "--redis", redis.url() + "/1", "--cache-guard", "off", *common)
        for n, (reason, first, changed) in enumerate(CHANGED, 1):
            assert embed_cos(first, changed) >= 0.9  # the raw threshold accepts the pair
            for srv in (guarded, raw):
                assert search(srv, first)["cache"] == "miss"
                assert harness.wait_until(lambda: metric(srv, "ragd_cache_mirror_entries") >= n, 5)
            assert search(raw, changed)["cache"] == "semantic", reason
            r = search(guarded, changed)
            assert r["cache"] == "miss", (reason, r["cache"])
            assert metric(guarded, "ragd_cache_guard_rejections_total", 'reason="%s"' % reason) == 1, reason
            assert harness.wait_until(lambda: metric(guarded, "ragd_cache_mirror_entries") >= n + 1, 5)
        # ... while a paraphrase still hits through the guard.
        search(guarded, Q)
        assert harness.wait_until(lambda: metric(guarded, "ragd_cache_mirror_entries") >= len(CHANGED) * 2 + 1, 5)
        assert search(guarded, PARA)["cache"] == "semantic"
    finally:
        for s in (guarded, raw):
            if s:
                s.close()
        redis.stop()


def test_auto_is_off_for_a_local_index_embedder():
    index = os.path.join(WORK, "idx-minilm")
    redis = harness.Redis()
    srv = None
    try:
        srv = harness.Server(index, "--redis", redis.url(), "--watch-ms", "0")
        assert ready(srv)["semantic_cache"].startswith("off: auto"), ready(srv)
        assert search(srv, Q)["cache"] == "miss"
        harness.wait_until(lambda: len(redis.keys("ragd:v1:*:res:*")) >= 1, 5)
        assert search(srv, PARA)["cache"] == "miss"  # no semantic lookup
        assert redis.keys("ragd:v1:*:sem:*") == []   # and no semantic entries written
        assert search(srv, Q)["cache"] == "exact"  # the exact tiers still work
    finally:
        if srv:
            srv.close()
        redis.stop()


def test_key_embedder_failing_to_load_disables_only_the_semantic_tier():
    index = build(os.path.join(WORK, "idx-hash"), "--embedder", "hash")
    redis = harness.Redis()
    srv = None
    try:
        srv = harness.Server(index, "--redis", redis.url(), "--cache-semantic", "on", "--cache-key-embedder", "minilm",
                             "--model", os.path.join(WORK, "no-such-model"), "--watch-ms", "0")
        state = ready(srv)["semantic_cache"]
        assert state.startswith("off: key embedder minilm failed to load") and "no-such-model" in state, state
        assert "semantic cache tier off" in srv.output()
        assert search(srv, Q)["cache"] == "miss"
        assert harness.wait_until(lambda: search(srv, Q)["cache"] == "exact", 5)
    finally:
        if srv:
            srv.close()
        redis.stop()


def test_entries_of_another_key_embedder_are_foreign():
    index = os.path.join(WORK, "idx-hash")
    redis = harness.Redis()
    by_hash = by_minilm = None
    try:
        by_hash = harness.Server(index, "--redis", redis.url(), "--cache-semantic", "on", "--cache-key-embedder", "hash",
                                 "--watch-ms", "0")
        by_minilm = harness.Server(index, "--redis", redis.url(), "--cache-semantic", "on", "--watch-ms", "0")
        search(by_hash, Q)
        assert harness.wait_until(lambda: metric(by_minilm, "ragd_cache_events_total", 'event="foreign_entries"') >= 1, 5)
        assert metric(by_minilm, "ragd_cache_mirror_entries") == 0
        assert harness.wait_until(lambda: metric(by_hash, "ragd_cache_mirror_entries") == 1, 5)
        # An entry written in the old format (RSE1) is foreign too, never served.
        key = redis.keys("ragd:v1:*:sem:*")[0]
        redis.cli("SET", "ragd:v1:default:sem:old", "RSE1" + "0" * 200)
        redis.cli("XADD", "ragd:v1:semfeed", "*", "k", "ragd:v1:default:sem:old")
        assert harness.wait_until(lambda: metric(by_hash, "ragd_cache_events_total", 'event="foreign_entries"') >= 1, 5)
        assert metric(by_hash, "ragd_cache_mirror_entries") == 1 and key
    finally:
        for s in (by_hash, by_minilm):
            if s:
                s.close()
        redis.stop()


def test_verify_rate_serves_sampled_hits_fresh_and_measures_them():
    """--cache-verify-rate 1: every semantic hit is served by a fresh search (one model call) and its
    cached list compared with the fresh one; the metrics agree with what an uncached server returns."""
    fake = FakeEmbeddings(dim=8)
    redis = harness.Redis()
    srv = plain = None
    try:
        small = os.path.join(WORK, "small")  # few enough chunks that k can cover them all
        harness.make_corpus(small, n_docs=2)
        shutil.copy(os.path.join(CORPUS, "account.md"), small)
        r = harness.ragd_index("build", "--out", os.path.join(WORK, "idx-verify"), "--source", small, "--index-spec",
                               "Flat", "--shards", "2", "--chunk-tokens", "64", "--log-level", "warn", "--embedder",
                               "openai", "--openai-url", fake.url(), "--dim", "8", *OPENAI)
        assert r.returncode == 0, r.stderr
        index = os.path.join(WORK, "idx-verify")
        srv = harness.Server(index, "--redis", redis.url(), "--openai-url", fake.url(), *OPENAI, "--watch-ms", "0",
                             "--cache-verify-rate", "1")
        plain = harness.Server(index, "--openai-url", fake.url(), *OPENAI, "--watch-ms", "0")  # no cache: the truth
        want = {"agree": 0, "disagree": 0}
        overlap_sum = 0.0
        chunks = int(metric(plain, "ragd_index_chunks"))
        assert 3 < chunks <= 100, chunks
        for k in (1, 3, chunks):
            entries = metric(srv, "ragd_cache_mirror_entries")
            first = search(srv, Q, k)
            assert first["cache"] == ("miss" if k == 1 else "exact"), first["cache"]  # the vector tier is k-free
            assert harness.wait_until(lambda: metric(srv, "ragd_cache_mirror_entries") >= entries + 1, 5)
            fake.script()
            para = search(srv, PARA, k)
            truth = search(plain, PARA, k)
            # served fresh, not from the cache: the uncached server's results; at k=1 one model call for the
            # reworded query (later its vector is cached), besides the uncached server's
            assert para["cache"] == ("miss" if k == 1 else "exact"), para["cache"]
            assert len(fake.log()) == (2 if k == 1 else 1) and all(PARA in l["body"] for l in fake.log()), fake.log()
            assert [h["id"] for h in para["results"]] == [h["id"] for h in
                                                                         truth["results"]]
            cached = {h["id"] for h in first["results"]}
            fresh = {h["id"] for h in truth["results"]}
            overlap = len(cached & fresh) / len(cached)
            want["agree" if overlap >= 0.5 else "disagree"] += 1
            overlap_sum += overlap
            assert metric(srv, "ragd_cache_semantic_verified_total", 'outcome="agree"') == want["agree"], (k, want)
            assert metric(srv, "ragd_cache_semantic_verified_total", 'outcome="disagree"') == want["disagree"]
            assert abs(metric(srv, "ragd_cache_semantic_verified_overlap_sum") - overlap_sum) < 1e-4
        # k = every chunk of the index: both lists hold all of it, so they agree
        assert want["agree"] >= 1
    finally:
        for s in (srv, plain):
            if s:
                s.close()
        redis.stop()
        fake.close()


def test_bad_semantic_flags_are_usage_errors():
    for args, msg in ((["--cache-semantic", "sometimes"], "--cache-semantic"),
                      (["--cache-guard", "maybe"], "--cache-guard"),
                      (["--cache-guard-max-words", "-1"], "--cache-guard-max-words"),
                      (["--cache-verify-rate", "1.5"], "--cache-verify-rate"),
                      (["--cache-verify-rate", "-0.1"], "--cache-verify-rate")):
        r = harness.run([harness.binary("ragd-serve"), "--index", WORK] + args)
        assert r.returncode == 2 and msg in r.stderr, (args, r.returncode, r.stderr)


if __name__ == "__main__":
    harness.main(globals())
