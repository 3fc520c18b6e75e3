"""fake_embeddings.py - an OpenAI-compatible embeddings server that fails on cue.

A fake is fine here: the real upstream (OpenAI, Azure, Ollama, TEI) is not
ours and cannot be made to fail on purpose. POST /v1/embeddings (or Azure's
/openai/deployments/NAME/embeddings?api-version=V) answers deterministic
vectors of `dim` floats per input, unless the next scripted fault says
otherwise. Faults: "429:SECS" (Retry-After), "429ms:MS" (retry-after-ms),
"500", "503", "hang:SECS", "malformed", "wrong_dim", "wrong_count", "quota"
(429 insufficient_quota), "400", "401". Every request is logged with its
time, path, headers and body for the test to inspect.
"""
import hashlib
import http.server
import json
import struct
import threading
import time


def vector(text, dim):
    out, i = [], 0
    while len(out) < dim:
        h = hashlib.sha256(("%d:%s" % (i, text)).encode()).digest()
        out.extend(x / 2**31 for x in struct.unpack("<8i", h))
        i += 1
    return out[:dim]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj=None, raw=None, headers=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with srv.lock:
            fault = srv.script.pop(0) if srv.script else "ok"
            srv.log.append({"t": time.time(), "path": self.path, "headers": dict(self.headers),
                            "body": raw.decode("utf-8", "replace"), "fault": fault})
        try:
            req = json.loads(raw)
            texts = req["input"]
        except Exception:
            return self.reply(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
        dim = srv.dim
        kind, _, arg = fault.partition(":")
        if kind == "429":
            return self.reply(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              headers={"Retry-After": arg or "1"})
        if kind == "429ms":
            return self.reply(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": arg})
        if kind == "quota":
            return self.reply(429, {"error": {"message": "You exceeded your current quota, please check your plan",
                                              "type": "insufficient_quota", "code": "insufficient_quota"}})
        if kind in ("500", "503"):
            return self.reply(int(kind), {"error": {"message": "upstream exploded"}})
        if kind in ("400", "401"):
            return self.reply(int(kind), {"error": {"message": "Invalid request: model not found", "type": "invalid_request_error"}})
        if kind == "hang":
            time.sleep(float(arg or 5))
        if kind == "malformed":
            return self.reply(200, raw=b'{"data": [{"embedding": [0.1, 0.2')
        if kind == "wrong_dim":
            dim = dim + 3
        data = [{"object": "embedding", "index": i, "embedding": vector(t, dim)} for i, t in enumerate(texts)]
        if kind == "wrong_count":
            data = data[:-1]
        self.reply(200, {"object": "list", "data": data, "model": req.get("model"),
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})


class Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class FakeEmbeddings:
    def __init__(self, dim=8):
        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.server.lock = threading.Lock()
        self.server.script, self.server.log, self.server.dim = [], [], dim
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def script(self, *faults):
        with self.server.lock:
            self.server.script = list(faults)
            self.server.log = []

    def log(self):
        with self.server.lock:
            return list(self.server.log)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
