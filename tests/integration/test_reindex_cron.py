"""test_reindex_cron.py - a nightly `ragd-index build --incremental` left alone against a failing site.

The real binary crawls fault_site on 127.0.0.1 run after run, as cron
would: a clean first run; a no-change run that downloads no page body
(304s counted in the site's log); a run with a third of the pages failing
in every transient way (503, timeouts, resets, an endless body) that
carries them over; a run where half the pages are gone (404), which the
shrink guard refuses (exit 4, live version untouched) until
--allow-shrink; carry-over bounded by --max-carry-age; a site that
vanishes; robots.txt behind redirects; Crawl-delay; --include/--exclude;
the Prometheus textfile; nonsense flag values.
"""
import json
import os
import re
import shutil
import time

import harness
from fault_site import FaultSite

WORK = SITE = INDEX = METRICS = None
N = 30  # pages; the index page /docs/ makes 31 documents


def build(*extra, site=None, index=None, report="report.json"):
    s = site or SITE
    rep = os.path.join(WORK, report)
    r = harness.ragd_index("build", "--out", index or INDEX, "--source", s.url(), "--embedder", "hash",
                           "--shards", "2", "--index-spec", "Flat", "--timeout-ms", "800", "--retries", "1",
                           "--max-page-bytes", "200000", "--incremental", "--report", rep,
                           "--metrics-file", METRICS, "--log-level", "warn", *extra)
    return r, harness.load_json(rep)


def live():
    return os.readlink(os.path.join(INDEX, "current"))


def doc_urls(index=None):
    return sorted({c["url"] for c in harness.dump_chunks(index or INDEX)})


def metrics():
    out = {}
    with open(METRICS) as f:
        for line in f:
            m = re.match(r'^(\w+)\{([^}]*)\} (\S+)$', line.strip())
            if m:
                extra = re.sub(r'index="[^"]*",?', "", m.group(2))
                out[m.group(1) + ("{%s}" % extra if extra else "")] = float(m.group(3))
    return out


def reasons(rep, key):
    return {k: v["count"] for k, v in rep["pages"][key]["by_reason"].items()}


def page_requests(site, status=None):
    return [r for r in site.requests() if re.match(r"^/docs/(p\d\d\.html)?$", r[0]) and
            (status is None or r[1] == status)]


def setup_module():
    global WORK, SITE, INDEX, METRICS
    WORK = harness.tmpdir()
    SITE = FaultSite(N)
    INDEX = os.path.join(WORK, "index")
    METRICS = os.path.join(WORK, "ragd_index.prom")


def teardown_module():
    SITE.close()
    shutil.rmtree(WORK, ignore_errors=True)


def test_first_run_publishes_everything():
    r, rep = build()
    assert r.returncode == 0, r.stderr
    assert rep["documents"] == N + 1 and rep["pages"]["fetched"] == N + 1, rep["pages"]
    assert len(doc_urls()) == N + 1
    # robots.txt answered 301; the crawler followed it and obeyed the rules behind it.
    log = [x[0] for x in SITE.requests()]
    assert "/robots.txt" in log and "/meta/robots.txt" in log, log[:5]
    assert "/docs/secret.html" not in log
    assert rep["pages"]["skipped_by_reason"]["robots_disallowed"]["count"] == 1
    m = metrics()
    assert m["ragd_index_last_exit_code"] == 0 and m["ragd_index_last_run_published"] == 1, m
    assert m['ragd_index_pages{outcome="fetched"}'] == N + 1, m
    assert abs(m["ragd_index_last_success_timestamp_seconds"] - time.time()) < 300, m


def test_no_change_run_downloads_no_page_body():
    before = live()
    SITE.reset_log()
    r, rep = build()
    assert r.returncode == 0, r.stderr
    assert len(page_requests(SITE, 304)) == N + 1, page_requests(SITE)
    assert page_requests(SITE, 200) == [], page_requests(SITE, 200)
    assert rep["pages"]["not_modified"] == N + 1 and rep["pages"]["fetched"] == 0, rep["pages"]
    c = rep["chunks"]
    assert c["embedded"] == 0 and c["deleted"] == 0 and c["reused"] == c["unique"] > 0, c
    assert live() != before and len(doc_urls()) == N + 1
    # Same rows in both shards: the live FAISS files are linked, not rebuilt.
    assert rep["shards_unchanged"] == 2, rep["shards_unchanged"]
    for s in ("shard-000.faiss", "shard-001.faiss"):
        assert os.stat(os.path.join(INDEX, before, s)).st_ino == os.stat(os.path.join(INDEX, live(), s)).st_ino
    assert harness.ragd_index("info", INDEX, "--verify").returncode == 0


def test_one_changed_page_is_the_only_download():
    SITE.bump(7)
    SITE.reset_log()
    r, rep = build()
    assert r.returncode == 0, r.stderr
    assert [x[0] for x in page_requests(SITE, 200)] == ["/docs/p07.html"]
    assert rep["pages"]["not_modified"] == N and rep["chunks"]["embedded"] >= 1, rep
    text = " ".join(c["text"] for c in harness.dump_chunks(INDEX))
    assert "version 2" in text and "version 1). The heron" not in text


def test_transient_failures_are_carried_over():
    urls = doc_urls()
    modes = {i: "503" for i in range(6)}
    modes.update({6: "hang", 7: "hang", 8: "reset", 9: "huge"})
    SITE.set_modes(modes)
    r, rep = build()
    # 10 of 31 pages failed (> --max-failed-share 0.2): published, exit 3.
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert rep["published"] is True
    assert doc_urls() == urls  # nothing lost
    assert rep["pages"]["carried_over"]["count"] == 10, rep["pages"]
    assert reasons(rep, "carried_over") == {"http_503": 6, "timeout": 2, "network_error": 1, "too_large": 1}, \
        reasons(rep, "carried_over")
    assert rep["chunks"]["carried"] >= 10 and rep["chunks"]["embedded"] == 0, rep["chunks"]
    text = " ".join(c["text"] for c in harness.dump_chunks(INDEX))
    assert "aardvark" in text and "jackal" in text  # p00 (503) and p09 (endless body)
    m = metrics()
    assert m["ragd_index_last_exit_code"] == 3 and m['ragd_index_pages{outcome="carried_over"}'] == 10, m


def test_half_the_site_gone_is_refused_by_the_shrink_guard():
    before = live()
    success_before = metrics()["ragd_index_last_success_timestamp_seconds"]
    SITE.set_modes({i: "404" for i in range(16)})
    r, rep = build()
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "shrink" in r.stderr and os.path.basename(before) in r.stderr, r.stderr
    assert live() == before and len(doc_urls()) == N + 1
    assert rep["published"] is False and rep["shrink_guard"]["refused"] is True, rep["shrink_guard"]
    assert rep["shrink_guard"]["live_documents"] == N + 1 and rep["shrink_guard"]["new_documents"] == N + 1 - 16
    assert reasons(rep, "removed") == {"http_404": 16}, reasons(rep, "removed")
    m = metrics()
    assert m["ragd_index_last_exit_code"] == 4 and m["ragd_index_last_run_published"] == 0, m
    assert m["ragd_index_last_success_timestamp_seconds"] == success_before, m
    assert harness.ragd_index("info", INDEX, "--verify").returncode == 0


def test_allow_shrink_publishes_the_smaller_site():
    r, rep = build("--allow-shrink")
    # 404s are the site's answer, not failures of the run: exit 0, not 3.
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert rep["documents"] == N + 1 - 16 and len(doc_urls()) == N + 1 - 16


def test_carry_over_is_bounded_by_max_carry_age():
    SITE.set_modes({i: "404" for i in range(16)} | {20: "503"})
    r, rep = build()
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert reasons(rep, "carried_over") == {"http_503": 1} and SITE.url("/docs/p20.html") in doc_urls()
    time.sleep(2.2)  # p20 last fetched more than 2 s ago
    r, rep = build("--max-carry-age", "2s")
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert reasons(rep, "removed").get("carry_expired") == 1, rep["pages"]["removed"]
    assert SITE.url("/docs/p20.html") not in doc_urls()


def test_nonsense_guard_values_are_usage_errors():
    for flag, value in [("--max-shrink", "150%"), ("--max-shrink", "-0.1"), ("--max-shrink", "lots"),
                        ("--max-carry-age", "-1d"), ("--max-carry-age", "7x"), ("--max-carry-age", ""),
                        ("--max-crawl-delay", "2h"), ("--max-crawl-delay", "soon")]:
        r = harness.ragd_index("build", "--out", os.path.join(WORK, "never"), "--source", SITE.url(),
                               "--embedder", "hash", flag, value)
        assert r.returncode == 2 and flag in r.stderr, (flag, value, r.returncode, r.stderr)
    r = harness.ragd_index("build", "--out", os.path.join(WORK, "never"), "--source", SITE.url(),
                           "--embedder", "hash", "--metrics-file", "/nonexistent/folder/ragd.prom")
    assert r.returncode == 2 and "--metrics-file" in r.stderr, (r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(WORK, "never"))


def test_site_that_vanishes_keeps_the_live_index():
    site = FaultSite(6)
    index = os.path.join(WORK, "vanish")
    try:
        r, _ = build(site=site, index=index, report="v1.json")
        assert r.returncode == 0, r.stderr
        urls = doc_urls(index)
        site.server.robots = "503"  # robots.txt unreachable: every page must wait for the next run
        r, rep = build(site=site, index=index, report="v2.json")
        assert r.returncode == 3 and doc_urls(index) == urls, (r.returncode, r.stderr)
        assert reasons(rep, "carried_over") == {"robots_unavailable": 7}, rep["pages"]
    finally:
        site.close()
    r, rep = build(site=site, index=index, report="v3.json")  # connection refused everywhere
    assert r.returncode == 3 and doc_urls(index) == urls, (r.returncode, r.stderr)
    assert rep["pages"]["carried_over"]["count"] == 7


def test_garbage_page_is_indexed_as_served_and_the_run_finishes():
    site = FaultSite(3)
    index = os.path.join(WORK, "garbage")
    try:
        site.set_modes({1: "garbage"})
        r, rep = build(site=site, index=index, report="g.json")
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert rep["documents"] == 4 and rep["pages"]["failed"] == 0, rep["pages"]
        assert harness.ragd_index("info", index, "--verify").returncode == 0
        chunks = [c for c in harness.dump_chunks(index) if c["url"].endswith("/p01.html")]
        assert chunks and all(isinstance(c["text"], str) for c in chunks)  # valid UTF-8 JSON
    finally:
        site.close()


def test_robots_redirect_loop_counts_as_unavailable():
    site = FaultSite(2, robots="loop")
    try:
        r, rep = build(site=site, index=os.path.join(WORK, "loop"), report="loop.json")
        assert r.returncode == 0, r.stderr
        # RFC 9309: more than five redirects = unavailable = allow all.
        assert rep["pages"]["skipped_by_reason"]["robots_redirects"]["count"] == 1
        assert "/docs/secret.html" in [x[0] for x in site.requests()]
        assert sum(1 for x in site.requests() if x[0].startswith("/meta/r")) == 5
    finally:
        site.close()


def test_crawl_delay_honoured_up_to_the_cap():
    site = FaultSite(4, crawl_delay="30")
    try:
        r, _ = build("--max-crawl-delay", "300ms", "--concurrency", "4", site=site,
                     index=os.path.join(WORK, "delay"), report="delay.json")
        assert r.returncode == 0, r.stderr
        assert "Crawl-delay 30.0 s" in r.stderr, r.stderr
        starts = sorted(x[3] for x in page_requests(site))
        assert len(starts) == 5
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= 0.28, gaps  # a lower bound: a slow machine only widens the gaps
    finally:
        site.close()


def test_include_and_exclude_narrow_the_scope():
    index = os.path.join(WORK, "filtered")
    SITE.set_modes({})
    r, rep = build("--include", "/docs/p*", "--exclude", "/docs/p0*", "--exclude", "*/p2?.html",
                   index=index, report="filtered.json")
    assert r.returncode == 0, r.stderr
    assert doc_urls(index) == [SITE.url("/docs/p%02d.html" % i) for i in range(10, 20)]
    # p00-p09, p20-p29 and secret.html excluded, and the seed read for links only
    assert rep["pages"]["skipped_by_reason"]["excluded"]["count"] == 22, rep["pages"]["skipped_by_reason"]


harness.main(globals())
