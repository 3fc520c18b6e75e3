"""test_hybrid.py - keyword (BM25) and hybrid search through the real indexer and service.

The index uses the native minilm embedder, so "vector search misses a
made-up identifier" is what the real model does, not an assumption.
"""
import glob
import json
import os
import shutil
import sqlite3
import urllib.parse

import harness

WORK = CORPUS = INDEX = SRV = None
IDENT = "XQ-7731"  # an error code inside a long chunk


def setup_module():
    global WORK, CORPUS, INDEX, SRV
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS, n_docs=30)
    with open(os.path.join(CORPUS, "tuning.md"), "w") as f:
        f.write("# Tuning the scheduler\n\n## Limits\n\nThe scheduler runs jobs from the queue in priority order and "
                "keeps a history of every run for a week. Workers pull jobs in batches; a batch that fails is split "
                "and retried. Set %s to 4 to bound the retries of the job runner; the default keeps retrying "
                "forever. Logs go to the journal.\n" % IDENT)
    with open(os.path.join(CORPUS, "codes.md"), "w") as f:
        f.write("# Error codes\n\nCodes XQ-1001 to XQ-1999 are network errors; XQ-2000 and up are disk errors.\n")
    with open(os.path.join(CORPUS, "running.md"), "w") as f:
        f.write("# Marathon\n\nShe was running the marathon in record time.\n")
    INDEX = os.path.join(WORK, "idx")
    build(INDEX)
    SRV = harness.Server(INDEX, "--watch-ms", "0")


def teardown_module():
    if SRV:
        SRV.close()
    shutil.rmtree(WORK, ignore_errors=True)


def build(out, *extra):
    r = harness.ragd_index("build", "--out", out, "--source", CORPUS, "--embedder", "minilm", "--index-spec", "Flat",
                           "--shards", "2", "--chunk-tokens", "64", "--log-level", "warn",
                           "--report", out + "-report.json", *extra)
    assert r.returncode == 0, r.stderr
    return harness.load_json(out + "-report.json")


def get(srv, **params):
    st, _, body = srv.get("/v1/search?" + urllib.parse.urlencode(params))
    return st, json.loads(body)


def ok(srv, **params):
    st, body = get(srv, **params)
    assert st == 200, (st, body)
    return body


def post(srv, obj):
    st, _, body = srv.post("/v1/search", json.dumps(obj))
    return st, json.loads(body)


def test_keyword_finds_an_identifier_vector_search_misses():
    q = IDENT
    vec = ok(SRV, q=q, k=3, mode="vector")
    kw = ok(SRV, q=q, k=3, mode="keyword")
    hyb = ok(SRV, q=q, k=3, mode="hybrid")
    assert not vec["results"][0]["url"].endswith("tuning.md"), "premise: minilm does not know the identifier"
    assert kw["results"][0]["url"].endswith("tuning.md")
    assert hyb["results"][0]["url"].endswith("tuning.md")
    assert kw["mode"] == "keyword" and hyb["mode"] == "hybrid" and vec["mode"] == "vector"
    top = hyb["results"][0]
    assert "keyword" in top["found_by"] and top["scores"]["keyword"] > 0
    assert hyb["fusion"] == "convex" and hyb["alpha"] == 0.5
    assert hyb["timings"]["keyword_ms"] >= 0 and kw["timings"]["embed_ms"] == 0
    # The server's default mode is hybrid; the CLI gives the same lists.
    assert [r["id"] for r in ok(SRV, q=q, k=3)["results"]] == [r["id"] for r in hyb["results"]]
    for mode, body in (("keyword", kw), ("hybrid", hyb)):
        r = harness.ragd_index("search", INDEX, q, "--k", "3", "--mode", mode)
        assert r.returncode == 0, r.stderr
        assert [str(json.loads(l)["id"]) for l in r.stdout.splitlines()] == [h["id"] for h in body["results"]], mode


def test_keyword_ranking_equals_fts5_bm25():
    """The in-memory scorer ranks exactly as SQLite's own bm25() over the shard's FTS5 index."""
    ver = glob.glob(os.path.join(INDEX, "versions", "*", ""))[0]
    cons = [sqlite3.connect("file:%s?immutable=1" % p, uri=True) for p in sorted(glob.glob(ver + "shard-*.db"))]
    for words in (["retries", "runner"], ["alpha", "bravo", "charlie"], ["running"], ["marathons", "record"]):
        match = " OR ".join('"%s"' % w for w in words)
        rows = []
        for c in cons:
            rows += c.execute("SELECT rowid, -bm25(chunks_fts, 2.0, 2.0, 1.0) FROM chunks_fts WHERE chunks_fts "
                              "MATCH ? ORDER BY bm25(chunks_fts, 2.0, 2.0, 1.0) LIMIT 10", (match,)).fetchall()
        rows.sort(key=lambda r: (-r[1], r[0]))
        got = ok(SRV, q=" ".join(words), k=10, mode="keyword")["results"]
        assert [str(r[0]) for r in rows[:10]] == [h["id"] for h in got], words
        for r, h in zip(rows, got):
            assert abs(r[1] - h["score"]) < 1e-3 * max(1.0, r[1]), (words, r, h["score"])


def test_stemming_and_no_stemming():
    # porter (default): "runs" finds "running"
    assert ok(SRV, q="runs", k=1, mode="keyword")["results"][0]["url"].endswith("running.md")
    plain = os.path.join(WORK, "idx-nostem")
    rep = build(plain, "--keyword-stemming", "none")
    assert rep["keyword_index"]["tokenizer"] == "unicode61" and rep["keyword_index"]["bytes"] > 0
    r = harness.ragd_index("search", plain, "runs", "--mode", "keyword", "--k", "3")
    assert r.returncode == 0 and not any("running.md" in l for l in r.stdout.splitlines()), r.stdout
    r = harness.ragd_index("search", plain, "running", "--mode", "keyword", "--k", "1")
    assert "running.md" in r.stdout


def test_query_syntax_never_reaches_fts5():
    for q in ['NEAR("x" y)*', '"unbalanced', "title:alpha", "-bravo", "(((", "alpha AND", "a*", "^", "OR OR OR",
              "x' OR 1=1 --", "\u4e2d\u6587 caf\u00e9"]:
        for mode in ("keyword", "hybrid", "vector"):
            st, body = get(SRV, q=q, k=5, mode=mode)
            assert st == 200, (q, mode, st, body)
    # only stopwords and punctuation: keyword finds nothing, hybrid answers what vector search finds
    assert ok(SRV, q="the of and ?!", k=5, mode="keyword")["results"] == []
    h = ok(SRV, q="the of and ?!", k=5, mode="hybrid")["results"]
    v = ok(SRV, q="the of and ?!", k=5, mode="vector")["results"]
    assert [r["id"] for r in h] == [r["id"] for r in v] and all(r["found_by"] == ["vector"] for r in h)


def test_mode_alpha_and_fields_are_validated():
    bad = [({"q": "a", "mode": "bm25"}, "invalid_mode"), ({"q": "a", "mode": ""}, "invalid_mode"),
           ({"q": "a", "mode": "hybrid", "alpha": "1.5"}, "invalid_alpha"),
           ({"q": "a", "mode": "hybrid", "alpha": "x"}, "invalid_alpha"),
           ({"q": "a", "mode": "hybrid", "alpha": "nan"}, "invalid_alpha"),
           ({"q": "a", "mode": "vector", "alpha": "0.3"}, "invalid_mode"),
           ({"q": "a", "mode": "hybrid", "fusion": "max"}, "invalid_mode"),
           ({"q": "a", "mode": "hybrid", "fusion": "rrf", "alpha": "0.3"}, "invalid_mode"),
           ({"q": "a", "modes": "keyword"}, "unknown_parameter")]
    for params, code in bad:
        st, body = get(SRV, **params)
        assert st == 400 and body["error"]["code"] == code, (params, st, body)
    assert "modes" in get(SRV, q="a", modes="x")[1]["error"]["message"]
    for obj, code in (({"query": "a", "mode": 3}, "invalid_mode"), ({"query": "a", "mode": "hybrid", "alpha": "0.5"},
                                                                     "invalid_alpha"),
                      ({"query": "a", "mode": "hybrid", "alpha": -0.1}, "invalid_alpha"),
                      ({"query": "a", "top_k": 3}, "unknown_field"),
                      ({"query": "a", "filter": {"url_prefix": "file://", "title": "x"}}, "invalid_filter")):
        st, body = post(SRV, obj)
        assert st == 400 and body["error"]["code"] == code, (obj, st, body)
    st, body = post(SRV, {"query": "a", "filter": {"titel": "x"}})
    assert "titel" in body["error"]["message"]
    st, body = post(SRV, {"query": "alpha", "mode": "hybrid", "fusion": "rrf", "k": 4})
    assert st == 200 and body["fusion"] == "rrf" and "alpha" not in body and len(body["results"]) == 4
    st, body = post(SRV, {"query": "alpha", "mode": "hybrid", "alpha": 1, "k": 4})
    assert st == 200 and body["alpha"] == 1.0


def test_filter_applies_to_every_mode():
    prefix = "file://" + os.path.join(CORPUS, "tuning")
    for mode in ("keyword", "hybrid", "vector"):
        st, body = post(SRV, {"query": "retries limits " + IDENT, "k": 5, "mode": mode, "filter": {"url_prefix": prefix}})
        assert st == 200 and body["results"] and all(r["url"].startswith(prefix) for r in body["results"]), mode


def test_incremental_build_keeps_keyword_results():
    before = ok(SRV, q="retries runner " + IDENT, k=5, mode="keyword")["results"]
    rep = build(INDEX, "--incremental")
    assert rep["keyword_index"]["bytes"] > 0 and rep["keyword_index"]["tokenizer"] == "porter unicode61"
    srv = harness.Server(INDEX, "--watch-ms", "0")
    try:
        after = ok(srv, q="retries runner " + IDENT, k=5, mode="keyword")["results"]
        assert [(r["id"], round(r["score"], 4)) for r in after] == [(r["id"], round(r["score"], 4)) for r in before]
    finally:
        srv.close()


def test_index_without_keyword_index_refuses_keyword_modes():
    old = os.path.join(WORK, "idx-old")
    shutil.copytree(INDEX, old, symlinks=True)
    for db in glob.glob(os.path.join(old, "versions", "*", "shard-*.db")):
        c = sqlite3.connect(db)
        c.execute("DROP TABLE chunks_fts")
        c.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        c.commit()
        c.close()
    srv = harness.Server(old, "--watch-ms", "0", "--no-verify")
    try:
        for mode in ("keyword", "hybrid"):
            st, body = get(srv, q="alpha", mode=mode)
            assert st == 400 and body["error"]["code"] == "mode_unavailable" and "rebuild" in body["error"]["message"]
        assert ok(srv, q="alpha", mode="vector")["results"]
    finally:
        srv.close()
    r = harness.ragd_index("search", old, "alpha", "--mode", "keyword")
    assert r.returncode != 0 and "keyword index" in r.stderr


def test_cache_keys_differ_by_mode_and_alpha():
    redis = harness.Redis()
    srv = harness.Server(INDEX, "--redis", redis.url(), "--watch-ms", "0")
    try:
        q = "retries of the job runner"
        assert ok(srv, q=q, mode="vector")["cache"] == "miss"
        assert harness.wait_until(lambda: ok(srv, q=q, mode="vector")["cache"] == "exact", 5)
        for params in ({"mode": "keyword"}, {"mode": "hybrid"}, {"mode": "hybrid", "alpha": "0.2"},
                       {"mode": "hybrid", "fusion": "rrf"}):
            first = ok(srv, q=q, **params)
            assert first["cache"] in ("miss", "exact") and first["cache"] != "semantic", params
            assert harness.wait_until(lambda: ok(srv, q=q, **params)["cache"] == "exact", 5), params
            again = ok(srv, q=q, **params)
            assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]], params
            if params.get("mode") == "hybrid":  # per-mode scores survive the cache
                assert again["results"][0]["scores"] == first["results"][0]["scores"]
        assert len(redis.keys("ragd:v1:*:res:*")) == 5
    finally:
        srv.close()
        redis.stop()


def test_cli_search_flags():
    for args in (["--mode", "bm25"], ["--alpha", "0.5"], ["--mode", "hybrid", "--alpha", "2"],
                 ["--mode", "hybrid", "--fusion", "max"], ["--bogus"]):
        r = harness.ragd_index("search", INDEX, "alpha", *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)


if __name__ == "__main__":
    harness.main(globals())
