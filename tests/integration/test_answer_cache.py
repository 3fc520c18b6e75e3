"""test_answer_cache.py - /v1/answer's cache and token budget: real redis-server, real service, fake LLM.

An exact or semantic answer hit must make no LLM call at all (the fake
LLM's log stays empty); a rewording the guard rejects must make one; a
new index version, another tenant or another k never get an old answer;
with Redis gone answers still work, uncached. A key's token budget
(tokens per minute) answers 429 with Retry-After once spent.
"""
import json
import os
import shutil

import harness
from fake_llm import FakeLLM

WORK = CORPUS = INDEX = FAKE = REDIS = None
Q = "How do I reset my password?"
PARA = "How can I reset my password?"
NEG = "How do I not reset my password?"


def build():
    r = harness.ragd_index("build", "--out", INDEX, "--source", CORPUS, "--chunk-tokens", "64", "--log-level", "warn")
    assert r.returncode == 0, r.stderr


def setup_module():
    global WORK, CORPUS, INDEX, FAKE, REDIS
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS, n_docs=10)
    with open(os.path.join(CORPUS, "account.md"), "w") as f:
        f.write("# Accounts\n\n## Passwords\n\nTo reset your password open Settings, choose Security and press "
                "Reset password. A link is mailed to you.\n")
    INDEX = os.path.join(WORK, "idx")
    build()
    FAKE = FakeLLM(reply="Open Settings, then Security [1].")
    REDIS = harness.Redis()


def teardown_module():
    if FAKE:
        FAKE.close()
    if REDIS:
        REDIS.stop()
    shutil.rmtree(WORK, ignore_errors=True)


def start(*extra):
    return harness.Server(INDEX, "--watch-ms", "0", "--redis", REDIS.url(), "--llm-url", FAKE.url(), "--llm-model",
                          "gpt-test", "--cache-threshold", "0.9", *extra)


def ask(srv, q, headers=None, **kw):
    body = dict({"query": q, "k": 3}, **kw)
    st, h, b = srv.post("/v1/answer", json.dumps(body), headers=headers)
    return st, h, (json.loads(b) if h.get("Content-Type", "").startswith("application/json") else b)


def mirrored(srv, n):
    _, _, b = srv.get("/metrics")
    for line in b.decode().splitlines():
        if line.startswith("ragd_cache_mirror_entries "):
            return float(line.split()[1]) >= n
    return False


def metric(srv, prefix):
    _, _, b = srv.get("/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in b.decode().splitlines() if l.startswith(prefix))


def test_exact_and_semantic_hits_make_no_llm_call():
    REDIS.cli("FLUSHALL")
    srv = start()
    try:
        FAKE.script()
        st, _, first = ask(srv, Q)
        assert st == 200 and first["cache"] == "miss" and len(FAKE.log()) == 1
        assert harness.wait_until(lambda: mirrored(srv, 1), 10)
        FAKE.script()
        st, _, again = ask(srv, Q)
        assert st == 200 and again["cache"] == "exact" and FAKE.log() == []
        for f in ("answer", "citations", "dropped_citations", "usage", "model", "context"):
            assert again[f] == first[f], f
        assert again["index_version"] == first["index_version"] and again["timings"]["llm_ms"] == 0
        st, _, para = ask(srv, PARA)
        assert st == 200 and para["cache"] == "semantic" and FAKE.log() == []
        assert para["answer"] == first["answer"] and para["citations"] == first["citations"]
        # the rewording is then an exact hit of its own (once the write-back,
        # which runs after the reply, has landed: until then it is semantic)
        seen = [para["cache"]]
        assert harness.wait_until(lambda: seen.append(ask(srv, PARA)[2]["cache"]) or seen[-1] == "exact", 10)
        assert FAKE.log() == [] and set(seen) == {"semantic", "exact"}, seen
        assert metric(srv, 'ragd_llm_calls_avoided_total{tier="exact"}') >= 2
        assert metric(srv, 'ragd_llm_calls_avoided_total{tier="semantic"}') == seen.count("semantic")
        # a streamed request is served from the cache too, as one piece
        st, h, raw = ask(srv, Q, stream=True)
        ev = [json.loads(b[6:]) for b in raw.decode().split("\n\n") if b.startswith("data: {")]
        assert st == 200 and ev[0]["choices"][0]["delta"]["content"] == first["answer"]
        assert ev[-1]["cache"] == "exact" and ev[-1]["citations"] == first["citations"] and FAKE.log() == []
    finally:
        srv.close()


def test_a_rewording_the_guard_rejects_calls_the_llm():
    REDIS.cli("FLUSHALL")
    srv = start()
    try:
        FAKE.script()
        assert ask(srv, Q)[0] == 200
        assert harness.wait_until(lambda: mirrored(srv, 1), 10)
        FAKE.script(reply="You cannot skip it [1].")
        st, _, r = ask(srv, NEG)
        assert st == 200 and r["cache"] == "miss" and len(FAKE.log()) == 1 and r["answer"] == "You cannot skip it [1]."
        assert metric(srv, 'ragd_cache_guard_rejections_total{reason="negation"}') >= 1
    finally:
        srv.close()


def test_other_k_tenant_or_version_never_share_an_answer():
    REDIS.cli("FLUSHALL")
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("key-acme-1 id=a tenant=acme admin\nkey-globex-1 id=b tenant=globex\n")
    srv = start("--api-keys", keys)
    a, b = {"Authorization": "Bearer key-acme-1"}, {"Authorization": "Bearer key-globex-1"}
    try:
        FAKE.script()
        st, _, first = ask(srv, Q, headers=a)
        assert st == 200 and first["cache"] == "miss"
        assert harness.wait_until(lambda: ask(srv, Q, headers=a)[2]["cache"] == "exact", 10)
        FAKE.script()
        st, _, other = ask(srv, Q, headers=b)
        assert st == 200 and other["cache"] == "miss" and len(FAKE.log()) == 1
        FAKE.script()
        assert ask(srv, Q, headers=a, k=2)[2]["cache"] == "miss" and len(FAKE.log()) == 1
        # a new index version: the old answer is never served
        with open(os.path.join(CORPUS, "extra.md"), "w") as f:
            f.write("# Extra\n\nPasswords expire after ninety days.\n")
        build()
        st, _, r = srv.post("/admin/reload", "", headers=a)
        assert st == 200, r
        FAKE.script()
        st, _, fresh = ask(srv, Q, headers=a)
        assert st == 200 and fresh["cache"] == "miss" and len(FAKE.log()) == 1
        assert fresh["index_version"] != first["index_version"]
    finally:
        srv.close()
        os.unlink(os.path.join(CORPUS, "extra.md"))
        build()


def test_redis_down_answers_still_work_uncached():
    REDIS.cli("FLUSHALL")
    srv = start("--redis-timeout-ms", "100")
    try:
        REDIS.stop()
        FAKE.script()
        st, _, r = ask(srv, Q)
        assert st == 200 and r["cache"] == "bypass" and len(FAKE.log()) == 1
        st, _, r = ask(srv, Q)
        assert st == 200 and r["cache"] == "bypass" and len(FAKE.log()) == 2
    finally:
        srv.close()
        REDIS.start()


def test_token_budget_answers_429_with_retry_after():
    keys = os.path.join(WORK, "keys2")
    with open(keys, "w") as f:
        f.write("key-small-1 id=small\nkey-big-12 id=big tpm=1000000\n")
    srv = start("--api-keys", keys, "--llm-tokens-per-minute", "2000", "--answer-cache-semantic", "off")
    small, big = {"Authorization": "Bearer key-small-1"}, {"Authorization": "Bearer key-big-12"}
    try:
        REDIS.cli("FLUSHALL")
        FAKE.script()
        # each call estimates its prompt plus max_tokens (1000): the second does not fit in 2000
        st, _, r = ask(srv, "first question about harbors", headers=small, max_tokens=1000)
        assert st == 200, r
        st, h, r = ask(srv, "second question about glaciers", headers=small, max_tokens=1000)
        assert st == 429 and r["error"]["code"] == "token_budget_exceeded" and int(h["Retry-After"]) >= 1
        assert len(FAKE.log()) == 1
        # a cached answer costs no tokens; another key has its own budget
        assert harness.wait_until(lambda: ask(srv, "first question about harbors", headers=small,
                                              max_tokens=1000)[0] == 200, 10)
        st, _, r = ask(srv, "second question about glaciers", headers=big, max_tokens=1000)
        assert st == 200 and len(FAKE.log()) == 2
    finally:
        srv.close()


harness.main(globals())
