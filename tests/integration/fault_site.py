"""fault_site.py - a documentation site on 127.0.0.1 whose pages fail on command.

/docs/ links to pages p00.html .. pNN.html. Each page answers with a mode
the test sets: "ok", "503" (every try), "hang" (longer than the crawler's
timeout), "reset" (connection closed with no answer), "huge" (an endless
body), "404", "410", or "garbage" (random bytes labelled text/html).
Pages send ETag and Last-Modified and answer conditional requests with
304, like a real web server (and like Python's http.server for
If-Modified-Since). Every request is logged as (path, status, body bytes
sent, time) so a test can count downloads and the gaps between them.
/robots.txt answers 301 to /meta/robots.txt (or loops, or is missing),
which may set a Crawl-delay; /docs/secret.html is disallowed there.
"""
import email.utils
import hashlib
import socket
import threading
import time

from trap_site import QuietServer, TrapHandler

def page_html(i, version):
    words = ["aardvark", "bison", "caribou", "dingo", "emu", "ferret", "gazelle", "heron", "ibex", "jackal",
             "koala", "lemur", "marmot", "newt", "ocelot", "puffin", "quail", "raccoon", "stoat", "tapir",
             "urial", "vole", "walrus", "xerus", "yak", "zebu", "alpaca", "beaver", "cougar", "dormouse"]
    w = words[i % len(words)]
    return ("<html><head><title>Page %02d</title></head><body><main><h1>About the %s</h1>"
            "<p>Page %02d describes the %s in detail (version %d). The %s lives in field guide %d.</p>"
            "<p><a href=\"/docs/\">home</a></p></main></body></html>" % (i, w, i, w, version, w, i))


class Handler(TrapHandler):
    """The trap site's response writer, with every answer logged."""

    def record(self, status, nbytes):
        srv = self.server
        with srv.lock:
            srv.log.append((self.path, status, nbytes, time.monotonic()))

    def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=None):
        super().send(status, body, ctype, headers)
        self.record(status, len(body.encode("utf-8") if isinstance(body, str) else body))

    def robots(self):
        srv = self.server
        if srv.robots == "loop":
            return self.send(301, headers={"Location": "/meta/r1.txt"})
        if srv.robots == "missing":
            return self.send(404, "none")
        if srv.robots == "503":
            return self.send(503, "down")
        return self.send(301, headers={"Location": "/meta/robots.txt"})

    def page(self, i):
        srv = self.server
        mode = srv.modes.get(i, "ok")
        if mode in ("503", "404", "410"):
            return self.send(int(mode), "no")
        if mode == "hang":
            time.sleep(srv.hang_seconds)
            return self.send(503, "late")
        if mode == "reset":
            self.record(0, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.record(200, -1)
            chunk = b"<p>" + b"endless " * 8000 + b"</p>"
            try:
                for _ in range(100000):  # bounded: ~6 GB if nobody hangs up
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
            return None
        if mode == "garbage":  # the same bytes every time: no tags, control and high bytes, broken UTF-8
            return self.send(200, bytes(b for b in range(1, 256) if b not in b"<>&") * 12)
        return self.conditional(page_html(i, srv.versions.get(i, 1)), srv.versions.get(i, 1))

    def conditional(self, body, version):
        """200 with validators, or 304 when the client's copy is current."""
        etag = '"%s"' % hashlib.sha256(body.encode()).hexdigest()[:16]
        lm = email.utils.formatdate(1700000000 + version, usegmt=True)
        hdr = {"ETag": etag, "Last-Modified": lm}
        if self.headers.get("If-None-Match") == etag:
            return self.send(304, headers=hdr)
        return self.send(200, body, headers=hdr)

    def do_GET(self):
        srv = self.server
        path = self.path
        if path == "/robots.txt":
            return self.robots()
        if path.startswith("/meta/r") and srv.robots == "loop":
            return self.send(302, headers={"Location": "/meta/r%d.txt" % (int(path[7:-4]) + 1)})
        if path == "/meta/robots.txt":
            delay = "Crawl-delay: %s\n" % srv.crawl_delay if srv.crawl_delay else ""
            return self.send(200, "User-agent: *\n%sDisallow: /docs/secret.html\n" % delay, "text/plain")
        if path == "/docs/":
            links = "".join('<a href="p%02d.html">page %d</a> ' % (i, i) for i in range(srv.n_pages))
            body = ("<html><head><title>Docs</title></head><body><main><h1>Field guide index</h1>"
                    "<p>Animals of the field guide.</p>%s<a href=\"secret.html\">secret</a></main></body></html>"
                    % links)
            return self.conditional(body, 1)
        if path.startswith("/docs/p") and path.endswith(".html"):
            try:
                i = int(path[7:-5])
            except ValueError:
                i = -1
            if 0 <= i < srv.n_pages:
                return self.page(i)
        if path == "/docs/secret.html":
            return self.send(200, "<html><body><p>robots forbids this okapi</p></body></html>")
        return self.send(404, "not found")


class FaultSite:
    def __init__(self, n_pages=30, robots="redirect", crawl_delay=None, hang_seconds=3.0):
        self.server = QuietServer(("127.0.0.1", 0), Handler)
        s = self.server
        s.lock = threading.Lock()
        s.log = []
        s.modes = {}
        s.versions = {}
        s.n_pages = n_pages
        s.robots = robots
        s.crawl_delay = crawl_delay
        s.hang_seconds = hang_seconds
        self.port = s.server_address[1]
        threading.Thread(target=s.serve_forever, daemon=True).start()

    def url(self, path="/docs/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set_modes(self, modes):
        with self.server.lock:
            self.server.modes = dict(modes)

    def bump(self, i):
        with self.server.lock:
            self.server.versions[i] = self.server.versions.get(i, 1) + 1

    def requests(self):
        with self.server.lock:
            return list(self.server.log)

    def reset_log(self):
        with self.server.lock:
            self.server.log.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
