"""test_security.py - regression tests for the security review's findings (issue 18),
through the real binaries. Parser-level findings have unit tests too
(test_url.c: escaped dot segments; test_auth.c: key file attributes).
"""
import http.server
import json
import os
import re
import shutil
import time

import harness

WORK = None


def setup_module():
    global WORK
    WORK = harness.tmpdir()


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Serves `pages` (path -> (content type, body)); records every path asked for."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.requested.append(path)
        ctype, body = self.server.pages.get(path, (None, None))
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def recorder(host, pages):
    srv = http.server.ThreadingHTTPServer((host, 0), Recorder)
    srv.requested, srv.pages = [], pages
    harness.serve_in_thread(srv)
    return srv


def test_escaped_dot_segments_cannot_leave_the_scope():
    # Finding 1: "/guide/%2e%2e/secret.html" passed the /guide/ scope and the
    # robots rule, while the server was asked for /secret.html.
    html = lambda title, body: ("text/html", "<html><head><title>%s</title></head><body>%s</body></html>" % (title, body))
    srv = recorder("127.0.0.1", {
        "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /secret\n"),
        "/guide/index.html": html("Guide", "<p>The guide of the zebra manual.</p><a href='/guide/%2e%2e/secret.html'>"
                                           "up</a> <a href='%2E%2E/secret.html'>up2</a><a href='page.html'>next</a>"),
        "/guide/page.html": html("Page", "<p>A page about quokkas.</p>"),
        "/secret.html": html("Secret", "<p>launch codes</p>"),
    })
    try:
        index = os.path.join(WORK, "crawl")
        r = harness.ragd_index("build", "--out", index, "--source",
                               "http://127.0.0.1:%d/guide/index.html" % srv.server_address[1],
                               "--embedder", "hash", "--log-level", "warn")
        assert r.returncode == 0, r.stderr
        assert "/secret.html" not in srv.requested, srv.requested
        urls = {c["url"] for c in harness.dump_chunks(index)}
        assert urls and all("/guide/" in u and ".." not in u and "%2e" not in u.lower() for u in urls), urls
    finally:
        srv.shutdown()


class Links(http.server.BaseHTTPRequestHandler):
    """Every page links to 2,000 new pages."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        stem = path.rsplit("/", 1)[-1].split(".")[0]
        if path == "/robots.txt":
            data, ctype = b"", "text/plain"
        elif not path.startswith("/p/") or (stem and not stem.isdigit()):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            n = int(path.rsplit("/", 1)[-1].split(".")[0] or 0) if path[-1] != "/" else 0
            links = "".join("<a href='/p/%d.html'>x</a>" % (n * 2000 + i + 1) for i in range(2000))
            data, ctype = ("<html><head><title>P%d</title></head><body><p>page %d of the maze</p>%s</body></html>"
                           % (n, n, links)).encode(), "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_links_beyond_max_pages_are_not_queued():
    # Finding 10: with --max-pages 3 the crawler still queued (and
    # remembered) every link it saw; now it stops queueing at the limit.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Links)
    harness.serve_in_thread(srv)
    try:
        index = os.path.join(WORK, "maze")
        report = os.path.join(WORK, "maze-report.json")
        r = harness.ragd_index("build", "--out", index, "--source", "http://127.0.0.1:%d/p/" % srv.server_address[1],
                               "--embedder", "hash", "--max-pages", "3", "--report", report, "--log-level", "warn")
        assert r.returncode == 0, r.stderr
        m = re.search(r"(\d+) more links not followed: --max-pages 3 reached", r.stderr)
        assert m and int(m.group(1)) >= 3990, r.stderr
        rep = json.dumps(harness.load_json(report))
        assert rep.count("/p/") < 100, len(rep)  # the report does not list thousands of skipped links
    finally:
        srv.shutdown()


def test_feed_error_replies_back_off():
    # Finding 4: an error reply to XREAD (here WRONGTYPE: the feed key is a
    # string) was retried at once, ~51k commands/s from each replica.
    corpus = os.path.join(WORK, "feed-corpus")
    harness.make_corpus(corpus, n_docs=3)
    index = os.path.join(WORK, "feed-idx")
    r = harness.ragd_index("build", "--out", index, "--source", corpus, "--embedder", "hash", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    redis = harness.Redis()
    srv = None
    try:
        redis.cli("SET", "ragd:v1:semfeed", "not a stream")
        srv = harness.Server(index, "--redis", redis.url(), "--cache-semantic", "on", "--cache-key-embedder", "hash",
                             "--watch-ms", "0", "--log-level", "info")
        redis.cli("CONFIG", "RESETSTAT")
        time.sleep(3)  # a window to count commands in; the assertion is on the count, not on time

        def xreads():
            m = re.search(r"cmdstat_xread:calls=(\d+)", redis.cli("INFO", "commandstats"))
            return int(m.group(1)) if m else 0

        n = xreads()
        assert 1 <= n <= 30, n  # back-off: 0.1 s doubling to 5 s (at once: tens of thousands)
        metrics = srv.get("/metrics")[2].decode()
        assert re.search(r'ragd_cache_events_total\{event="feed_errors"\} [1-9]', metrics)
        assert srv.output().count("WRONGTYPE") == 1, srv.output()[-2000:]  # logged once, not per retry
        assert srv.get("/v1/search?q=alpha")[0] == 200
        redis.cli("DEL", "ragd:v1:semfeed")  # the feed recovers once the key is usable
        assert harness.wait_until(lambda: srv.post("/v1/search", json.dumps({"query": "bravo charlie"}))[0] == 200, 10)
    finally:
        if srv:
            srv.close()
        redis.stop()


def test_files_with_non_utf8_names_are_found():
    # Finding 6: a file whose name is not UTF-8 got a file:// URL that was
    # not either, and its hits silently vanished from search results.
    corpus = os.path.join(WORK, "latin1").encode()
    os.makedirs(corpus)
    for name, text in ((b"caf\xe9.md", "# Cafe\n\nThe zebra cafe menu."), (b"100%.md", "# Percent\n\nZebra percent."),
                       (b"plain.md", "# Plain\n\nA zebra plain page.")):
        with open(os.path.join(corpus, name), "w") as f:
            f.write(text)
    index = os.path.join(WORK, "latin1-idx")
    r = harness.ragd_index("build", "--out", index, "--source", corpus.decode("utf-8", "surrogateescape"),
                           "--embedder", "hash", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    urls = sorted(c["url"] for c in harness.dump_chunks(index))
    assert len(urls) == 3 and urls[0].endswith("/100%25.md") and urls[1].endswith("/caf%E9.md"), urls
    srv = harness.Server(index, "--watch-ms", "0")
    try:
        st, _, body = srv.get("/v1/search?q=zebra&k=3&mode=keyword")
        res = json.loads(body)["results"]
        assert st == 200 and sorted(h["url"] for h in res) == urls, body
        st, _, body = srv.get("/?query=zebra")
        assert st == 200 and len(json.loads(body)["results"]) == 3, body
    finally:
        srv.close()


def test_sitemap_index_cannot_send_the_crawler_elsewhere():
    # Finding 2: the <loc> entries of a <sitemapindex> were fetched with no
    # origin or robots check (SSRF: any address the site names).
    other = recorder("127.0.0.2", {"/internal/sitemap.xml": ("application/xml", "<urlset/>")})
    html = "<html><head><title>T</title></head><body><p>A page about zebras.</p></body></html>"
    site = recorder("127.0.0.1", {
        "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /private/\n"),
        "/docs/index.html": ("text/html", html),
        "/private/sitemap.xml": ("application/xml", "<urlset/>"),
    })
    port, oport = site.server_address[1], other.server_address[1]
    locs = ["http://127.0.0.2:%d/internal/sitemap.xml" % oport, "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:%d/private/sitemap.xml" % port, "http://127.0.0.1:%d/docs/more.xml" % port]
    site.pages["/docs/sitemap.xml"] = ("application/xml", "<sitemapindex>%s</sitemapindex>" % "".join(
        "<sitemap><loc>%s</loc></sitemap>" % u for u in locs))
    site.pages["/docs/more.xml"] = ("application/xml",
                                    "<urlset><url><loc>http://127.0.0.1:%d/docs/index.html</loc></url></urlset>" % port)
    try:
        index = os.path.join(WORK, "sitemaps")
        r = harness.ragd_index("build", "--out", index, "--source", "http://127.0.0.1:%d/docs/index.html" % port,
                               "--embedder", "hash", "--log-level", "warn", timeout=120)
        assert r.returncode == 0, r.stderr
        assert other.requested == [], other.requested
        assert "/private/sitemap.xml" not in site.requested, site.requested
        assert "/docs/more.xml" in site.requested, site.requested  # same origin, allowed: still read
    finally:
        site.shutdown()
        other.shutdown()


def test_crawl_targets_refuse_private_and_metadata_addresses():
    # Finding 2: no connection to link-local/metadata addresses, and with
    # --crawl-targets public none to private or loopback ones either.
    site = recorder("127.0.0.1", {"/docs/index.html": ("text/html", "<html><body><p>zebra</p></body></html>")})
    try:
        port = site.server_address[1]
        r = harness.ragd_index("build", "--out", os.path.join(WORK, "public-only"), "--source",
                               "http://127.0.0.1:%d/docs/index.html" % port, "--embedder", "hash",
                               "--crawl-targets", "public", "--log-level", "warn", timeout=120)
        assert r.returncode != 0 and "refused to connect to 127.0.0.1 (loopback)" in r.stderr, (r.returncode, r.stderr)
        assert site.requested == [], site.requested
        r = harness.ragd_index("build", "--out", os.path.join(WORK, "metadata"), "--source",
                               "http://169.254.169.254/latest/meta-data/", "--embedder", "hash", "--log-level", "warn",
                               timeout=120)
        assert r.returncode != 0 and "refused to connect to 169.254.169.254 (link-local/metadata)" in r.stderr, \
            (r.returncode, r.stderr)
        r = harness.ragd_index("build", "--out", os.path.join(WORK, "x"), "--source", "http://h/", "--crawl-targets",
                               "everything")
        assert r.returncode == 2 and "--crawl-targets" in r.stderr, r.stderr
    finally:
        site.shutdown()


def test_key_file_with_an_empty_index_list_is_refused():
    # Finding 8: "indexes=" used to grant every index.
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("sk-live-4f9a0c71e2 id=ui indexes=\n")
    r = harness.run([harness.binary("ragd-serve"), "--index", os.path.join(WORK, "none"), "--api-keys", keys])
    assert r.returncode == 2 and "keys:1: indexes= names no index" in r.stderr, (r.returncode, r.stderr)


def test_failed_key_attempts_are_rate_limited():
    # Finding 12 (in part): 401s were not rate limited, so keys could be
    # guessed at full speed. Failed attempts now spend the client's tokens.
    corpus = os.path.join(WORK, "rl-corpus")
    harness.make_corpus(corpus, n_docs=2)
    index = os.path.join(WORK, "rl-idx")
    r = harness.ragd_index("build", "--out", index, "--source", corpus, "--embedder", "hash", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    keys = os.path.join(WORK, "rl-keys")
    with open(keys, "w") as f:
        f.write("the-right-key-123 id=ok rate=1000 burst=1000\n")
    srv = harness.Server(index, "--api-keys", keys, "--rate-limit", "1", "--burst", "3", "--watch-ms", "0")
    try:
        statuses = [srv.get("/v1/index", headers={"X-API-Key": "guess-%04d" % i})[0] for i in range(12)]
        assert statuses[:3] == [401, 401, 401] and 429 in statuses, statuses
        st, h, body = srv.get("/v1/index", headers={"X-API-Key": "guess-again"})
        assert st == 429 and int(h["Retry-After"]) >= 1 and json.loads(body)["error"]["code"] == "rate_limited"
        # the right key has its own bucket and is not held back by the guesses
        assert srv.get("/v1/index", headers={"X-API-Key": "the-right-key-123"})[0] == 200
    finally:
        srv.close()


def test_index_paths_with_uri_syntax_open():
    # Finding 11: the chunk store was opened as "file:PATH?immutable=1" with
    # PATH unescaped, so "#", "?" or "%41" in a folder name broke it.
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=4)
    index = os.path.join(WORK, "we#ird?dir%41 x", "idx")
    r = harness.ragd_index("build", "--out", index, "--source", corpus, "--embedder", "hash", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    r = harness.ragd_index("search", index, "alpha bravo", "--k", "3")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3, r.stderr
    srv = harness.Server(index, "--watch-ms", "0")
    try:
        st, _, body = srv.get("/v1/search?q=alpha&k=3&mode=keyword")
        assert st == 200 and len(json.loads(body)["results"]) == 3, body
    finally:
        srv.close()




def test_slow_upstream_never_starves_probes():
    """Finding 3: searches waiting on a hung embeddings upstream run on the
    request workers; /health, /ready and /metrics are answered while they
    wait, a full queue answers 503 at once, and every stuck request ends
    at its deadline with a JSON error instead of the upstream's 20 s."""
    import threading
    import urllib.parse
    from fake_embeddings import FakeEmbeddings

    corpus = os.path.join(WORK, "slow-corpus")
    harness.make_corpus(corpus, n_docs=6)
    fake = FakeEmbeddings(dim=8)
    oai = ["--openai-url", fake.url(), "--openai-model", "m", "--openai-retries", "0"]
    out = os.path.join(WORK, "idx-slow")
    r = harness.ragd_index("build", "--out", out, "--source", corpus, "--embedder", "openai", "--dim", "8",
                           "--index-spec", "Flat", "--log-level", "warn", *oai)
    assert r.returncode == 0, r.stderr
    srv = harness.Server(out, *oai, "--openai-timeout-ms", "60000", "--threads", "2", "--max-queued", "2",
                         "--request-deadline-ms", "4000", "--embed-batch-max", "0", "--watch-ms", "0")
    answers = []
    try:
        fake.script(*["hang:20"] * 8)
        gauge = lambda name: float(re.search(r"^%s (\S+)$" % name, srv.get("/metrics")[2].decode(), re.M).group(1))

        def search(i):
            st, _, body = srv.get("/v1/search?" + urllib.parse.urlencode({"q": "slow question %d" % i}))
            answers.append((st, json.loads(body)))

        threads = [threading.Thread(target=search, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        # Both workers are stuck on the upstream and two requests wait for them.
        assert harness.wait_until(lambda: gauge("ragd_requests_running") == 2 and gauge("ragd_requests_queued") == 2,
                                  10), srv.get("/metrics")[2].decode()[-600:]
        for path in ("/health", "/ready"):
            st, _, body = srv.get(path)
            assert st == 200, (path, st, body)
        assert not answers, answers  # the probes did not wait for the searches
        st, h, body = srv.get("/v1/search?q=one+more")
        assert st == 503 and json.loads(body)["error"]["code"] == "overloaded" and h.get("Retry-After") == "1", (st, body)
        for t in threads:
            t.join(60)
        assert len(answers) == 4, answers
        for st, body in answers:
            assert st in (503, 504) and body["error"]["code"] == "deadline_exceeded", (st, body)
        # A worker counts itself done just after its answer is handed back, so wait for the gauges to settle.
        assert harness.wait_until(lambda: gauge("ragd_requests_running") == 0 and gauge("ragd_requests_queued") == 0,
                                  10), srv.get("/metrics")[2].decode()[-600:]
        assert srv.get("/health")[0] == 200
    finally:
        srv.close()
        fake.close()


harness.main(globals())
