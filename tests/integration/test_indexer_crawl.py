"""test_indexer_crawl.py - ragd-index against a real HTTP site full of traps.

Runs the real binary on 127.0.0.1 and checks the report's counts and
reasons, the index's contents (through `ragd-index dump` and `search
--exact`, which read the core chunk stores), incremental reindexing,
the build lock, and exit codes.
"""
import json
import os
import shutil
import subprocess
import time

import harness
from trap_site import HIDDEN_MARKERS, TrapSite

WORK = None
SITE = None
INDEX = None
REPORT1 = None


def build(index, report, *extra, site=None):
    s = site or SITE
    return harness.ragd_index(
        "build", "--out", index, "--source", s.url(), "--report", report, "--embedder", "hash",
        "--timeout-ms", "1000", "--max-page-bytes", "100000", "--retries", "2",
        "--shards", "2", "--index-spec", "Flat", "--chunk-tokens", "64", "--chunk-overlap", "8",
        "--max-failed-share", "0.5", "--log-level", "warn", *extra)


def setup_module():
    global WORK, SITE, INDEX, REPORT1
    WORK = harness.tmpdir()
    SITE = TrapSite(WORK)
    INDEX = os.path.join(WORK, "index")
    REPORT1 = os.path.join(WORK, "report1.json")
    r = build(INDEX, REPORT1)
    assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)


def teardown_module():
    SITE.close()
    shutil.rmtree(WORK, ignore_errors=True)


def reasons(report, kind):
    return {k: v["count"] for k, v in report["pages"][kind + "_by_reason"].items()}


def test_every_trap_reported_by_reason():
    rep = harness.load_json(REPORT1)
    failed, skipped = reasons(rep, "failed"), reasons(rep, "skipped")
    assert failed.get("http_404") == 1, failed          # missing.html
    assert failed.get("timeout") == 1, failed           # slow.html
    assert failed.get("redirect_loop") == 1, failed     # loop-a -> loop-b -> loop-a
    assert failed.get("too_large") == 1, failed         # huge.html
    assert skipped.get("redirect_out_of_scope") == 1, skipped
    assert skipped.get("robots_disallowed") == 1, skipped   # private/secret.html
    assert skipped.get("not_html") == 1, skipped            # binary.bin
    assert skipped.get("out_of_scope", 0) >= 3, skipped     # /elsewhere/, other host, sitemap entry
    examples = [e["url"] for e in rep["pages"]["failed_by_reason"]["http_404"]["examples"]]
    assert examples == [SITE.url("/site/missing.html")], examples


def test_retries_and_scope_behaviour():
    assert SITE.hits("/site/flaky.html") == 2            # 500, then 200
    assert SITE.hits("/site/ratelimited.html") == 2      # 429 + Retry-After, then 200
    assert SITE.hits("/site/private/secret.html") == 0   # robots: never fetched
    assert SITE.hits("/site/staronly/page.html") == 1    # our group beats "*"
    assert SITE.hits("/elsewhere/page.html") == 0
    assert SITE.hits("/elsewhere/landing.html") == 0     # redirect out of scope not followed
    assert SITE.hits("/site/sitemap-only.html") == 1     # seeded from sitemap.xml
    assert SITE.hits("/site/dup1.html") == 1             # %64up1.html is the same URL
    assert SITE.hits("/site/nav-only.html") == 1         # nav links are followed, not indexed


def test_index_holds_expected_pages_and_no_hidden_text():
    chunks = harness.dump_chunks(INDEX)
    text = "\n".join(c["text"] for c in chunks)
    for word in ["wombat", "capybara", "quokka", "narwhal", "platypus", "armadillo",
                 "malformed survivor phrase", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", "okapi"]:
        assert word in text, word
    for bad in HIDDEN_MARKERS + ["axolotl", "too late", "nav link"]:
        assert bad not in text, bad
    rep = harness.load_json(REPORT1)
    assert rep["published"] is True and rep["exit_code"] == 0
    assert rep["chunks"]["embedded"] == rep["chunks"]["unique"] == len(chunks)


def test_duplicate_page_stored_once_with_both_sources():
    chunks = [c for c in harness.dump_chunks(INDEX) if "pangolin" in c["text"]]
    assert len(chunks) == 1, chunks
    assert chunks[0]["url"] == SITE.url("/site/dup1.html")
    assert SITE.url("/site/dup2.html") in chunks[0]["sources"]


def test_search_finds_pages_exact_and_faiss_agree():
    for query, page in [("capybara Retry-After", "ratelimited.html"), ("pangolin text", "dup1.html"),
                        ("creme brulee cafe recipe", "latin1.html")]:
        out = {}
        for mode in ([], ["--exact"]):
            r = harness.ragd_index("search", INDEX, query, "--k", "3", *mode)
            assert r.returncode == 0, r.stderr
            out[bool(mode)] = [json.loads(l) for l in r.stdout.splitlines()]
        assert out[False][0]["url"].endswith(page), (query, out[False][0]["url"])
        # Flat is exact: same scores rank by rank (ties may swap ids).
        for a, b in zip(out[False], out[True]):
            assert abs(a["score"] - b["score"]) < 1e-5, (a["score"], b["score"])


def test_incremental_unchanged_then_one_page_changed():
    rep2 = os.path.join(WORK, "report2.json")
    r = build(INDEX, rep2, "--incremental")
    assert r.returncode == 0, r.stderr
    c = harness.load_json(rep2)["chunks"]
    assert c["embedded"] == 0 and c["deleted"] == 0 and c["reused"] == c["unique"] > 0, c
    SITE.set_changeable("<html><title>Changeable</title><body><h1>Changeable</h1>"
                        "<p>Second version: the okapi moved to a new enclosure.</p></body></html>")
    rep3 = os.path.join(WORK, "report3.json")
    r = build(INDEX, rep3, "--incremental")
    assert r.returncode == 0, r.stderr
    c3 = harness.load_json(rep3)["chunks"]
    assert c3["embedded"] == 1 and c3["deleted"] == 1, c3
    assert c3["reused"] == c["unique"] - 1, c3
    text = "\n".join(ch["text"] for ch in harness.dump_chunks(INDEX))
    assert "new enclosure" in text and "First version" not in text
    # A full (not incremental) rebuild takes every vector from the
    # embedding cache beside the index.
    rep4 = os.path.join(WORK, "report4.json")
    r = build(INDEX, rep4)
    assert r.returncode == 0, r.stderr
    c4 = harness.load_json(rep4)["chunks"]
    assert c4["embedded"] == 0 and c4["reused"] == 0 and c4["cached"] == c4["unique"] > 0, c4
    r = build(INDEX, rep4, "--no-embed-cache")
    c5 = harness.load_json(rep4)["chunks"]
    assert c5["cached"] == 0 and c5["embedded"] == c5["unique"], c5


def test_zero_chunks_publishes_nothing_and_exits_1():
    empty = harness.tmpdir()
    index = os.path.join(WORK, "empty-index")
    r = harness.ragd_index("build", "--out", index, "--source", empty, "--embedder", "hash", "--report", os.path.join(WORK, "e.json"))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "no chunks" in r.stderr
    assert not os.path.exists(os.path.join(index, "current"))
    rep = harness.load_json(os.path.join(WORK, "e.json"))
    assert rep["published"] is False and rep["exit_code"] == 1


def test_robots_unavailable_disallows_everything():
    site = TrapSite(harness.tmpdir(), robots_mode="500")
    try:
        index = os.path.join(WORK, "robots500")
        rep = os.path.join(WORK, "robots500.json")
        r = build(index, rep, site=site)
        assert r.returncode == 1, r.stderr
        rj = harness.load_json(rep)
        assert reasons(rj, "failed").get("robots_unavailable") == 1
        assert site.hits("/site/") == 0
    finally:
        site.close()


def test_robots_404_allows_everything():
    site = TrapSite(harness.tmpdir(), robots_mode="404")
    try:
        r = build(os.path.join(WORK, "robots404"), os.path.join(WORK, "robots404.json"), site=site)
        assert r.returncode == 0, r.stderr
        assert site.hits("/site/private/secret.html") == 1
    finally:
        site.close()


def test_too_many_failures_exits_3_but_publishes():
    index = os.path.join(WORK, "partial")
    r = harness.ragd_index("build", "--out", index, "--source", SITE.url(), "--embedder", "hash", "--timeout-ms", "1000",
                           "--max-page-bytes", "100000", "--retries", "0", "--index-spec", "Flat",
                           "--max-failed-share", "0.05", "--log-level", "error")
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert os.path.islink(os.path.join(index, "current"))


def test_second_build_is_locked_out():
    index = os.path.join(WORK, "locked")
    slow = subprocess.Popen([harness.binary("ragd-index"), "build", "--out", index, "--source", SITE.url(),
                             "--embedder", "hash", "--timeout-ms", "3000", "--index-spec", "Flat", "--log-level", "error"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert harness.wait_until(lambda: os.path.exists(os.path.join(index, "lock")), 10)
        time.sleep(0.2)
        r = harness.ragd_index("build", "--out", index, "--source", SITE.url(), "--embedder", "hash",
                               "--index-spec", "Flat")
        assert r.returncode == 1, (r.returncode, r.stderr)
        # The pid comes from the kernel's lock table: the live holder, even when
        # the lock file names another process.
        assert "locked by another build (pid %d)" % slow.pid in r.stderr, r.stderr
        with open(os.path.join(index, "lock"), "w") as f:
            f.write("999999\n")
        r = harness.ragd_index("build", "--out", index, "--source", SITE.url(), "--embedder", "hash")
        assert r.returncode == 1 and "(pid %d)" % slow.pid in r.stderr, r.stderr
    finally:
        slow.wait(60)


def test_killed_build_leaves_live_version():
    before = os.readlink(os.path.join(INDEX, "current"))
    p = subprocess.Popen([harness.binary("ragd-index"), "build", "--out", INDEX, "--source", SITE.url(),
                          "--embedder", "hash", "--timeout-ms", "3000", "--index-spec", "Flat", "--log-level", "error"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    p.kill()
    p.wait()
    assert os.readlink(os.path.join(INDEX, "current")) == before
    assert harness.ragd_index("info", INDEX, "--verify").returncode == 0


def test_usage_errors_exit_2():
    cases = [[], ["build"], ["build", "--out", "/tmp/x"], ["build", "--source", "/tmp"],
             ["build", "--out", "/tmp/x", "--source", "/tmp", "--shards", "0"],
             ["build", "--out", "/tmp/x", "--source", "/tmp", "--chunk-tokens", "abc"],
             ["build", "--out", "/tmp/x", "--source", "/tmp", "--bogus", "1"],
             ["build", "--out", "/tmp/x", "--source", "/tmp", "--embedder", "nope"],
             ["build", "--out", "/tmp/x", "--source", "/tmp", "--chunk-tokens", "100", "--chunk-overlap", "90"],
             ["frobnicate"]]
    for args in cases:
        r = harness.ragd_index(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.strip(), args


def test_config_file_and_flags_win():
    conf = os.path.join(WORK, "ragd.conf")
    with open(conf, "w") as f:
        f.write("# test config\nshards = 3\nindex-spec = Flat\nchunk-tokens = 64\nembedder = hash\nsource = %s\n" % SITE.url())
    index = os.path.join(WORK, "conf-index")
    r = harness.ragd_index("build", "--config", conf, "--out", index, "--shards", "1", "--timeout-ms", "1000",
                           "--max-failed-share", "0.9", "--log-level", "error")
    assert r.returncode == 0, r.stderr
    info = harness.ragd_index("info", index).stdout
    assert "1 shards" in info and "64 tokens" in info, info
    with open(conf, "w") as f:
        f.write("shards 3\n")
    r = harness.ragd_index("build", "--config", conf, "--out", index, "--source", SITE.url())
    assert r.returncode == 2 and "ragd.conf:1" in r.stderr, r.stderr


harness.main(globals())
