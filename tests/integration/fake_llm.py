"""fake_llm.py - an OpenAI-compatible chat completions server that fails on cue.

A fake is right here: the real upstream (OpenAI, Azure OpenAI, vLLM,
Ollama) is not ours and cannot be made to fail on purpose. POST
.../chat/completions answers `reply` (whole, or streamed as SSE chunks
word by word when the request asks for "stream"), unless the next
scripted fault says otherwise. Faults: "429:SECS" (Retry-After),
"429ms:MS" (retry-after-ms), "500", "503", "400", "401", "quota",
"hang:SECS" (answer after SECS, or stop early when the client hangs up),
"malformed", "stream_cut" (two chunks, then the connection closes),
"slow_stream:SECS" (a chunk every SECS). Every request is logged with its
time, path, headers, body and how it ended ("ok", "client_closed", ...).
`delay` (seconds) is added to every answer: a model's fixed latency, for
benchmarks (bench/run.py answers runs it as a process:
`python3 fake_llm.py PORT DELAY`; GET /stats counts the requests).
"""
import http.server
import json
import select
import socket
import threading
import time


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

    def client_gone(self):
        r, _, _ = select.select([self.connection], [], [], 0)
        if not r:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, secs, entry):
        """Sleep up to secs; True if the client hung up first (logged)."""
        end = time.time() + secs
        while time.time() < end:
            if self.client_gone():
                entry["ended"] = "client_closed"
                entry["ended_at"] = time.time()
                return True
            time.sleep(0.02)
        return False

    def do_GET(self):
        with self.server.lock:
            self.reply(200, {"requests": self.server.requests})

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with srv.lock:
            srv.requests += 1
            fault = srv.script.pop(0) if srv.script else "ok"
            entry = {"t": time.time(), "path": self.path, "headers": dict(self.headers),
                     "body": raw.decode("utf-8", "replace"), "fault": fault, "ended": "ok"}
            if getattr(srv, "keep_log", True):
                srv.log.append(entry)
        try:
            req = json.loads(raw)
            msgs = req["messages"]
            assert isinstance(msgs, list)
        except Exception:
            return self.reply(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
        kind, _, arg = fault.partition(":")
        if srv.delay:
            time.sleep(srv.delay)
        if kind == "429":
            return self.reply(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              headers={"Retry-After": arg or "1"})
        if kind == "429ms":
            return self.reply(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": arg})
        if kind == "quota":
            return self.reply(429, {"error": {"message": "You exceeded your current quota",
                                              "type": "insufficient_quota", "code": "insufficient_quota"}})
        if kind in ("500", "503"):
            return self.reply(int(kind), {"error": {"message": "upstream exploded"}})
        if kind in ("400", "401"):
            return self.reply(int(kind), {"error": {"message": "Invalid request: model not found",
                                                    "type": "invalid_request_error"}})
        if kind == "hang" and self.wait(float(arg or 5), entry):
            return
        if kind == "malformed":
            return self.reply(200, raw=b'{"choices": [{"message": {"content": "cut')
        text = srv.reply
        if req.get("stream"):
            return self.stream(req, text, kind, arg, entry)
        self.reply(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": req.get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 100 + len(raw) // 4, "completion_tokens": len(text.split()),
                                   "total_tokens": 100 + len(raw) // 4 + len(text.split())}})

    def stream(self, req, text, kind, arg, entry):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        words = text.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]

        def event(obj):
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": req.get("model")}
        try:
            for i, p in enumerate(pieces):
                if kind == "stream_cut" and i == 2:
                    entry["ended"] = "cut"
                    return
                delta = {"content": p} if i else {"role": "assistant", "content": p}
                event(dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}]))
                if kind == "slow_stream" and self.wait(float(arg or 1), entry):
                    return
            event(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            event(dict(base, choices=[], usage={"prompt_tokens": 120, "completion_tokens": len(pieces),
                                                "total_tokens": 120 + len(pieces)}))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError:
            entry["ended"] = "client_closed"
            entry["ended_at"] = time.time()


class Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class FakeLLM:
    def __init__(self, reply="Files are opened with open() [1]. Modes are listed in [2][7].", port=0, delay=0.0):
        self.server = Quiet(("127.0.0.1", port), Handler)
        self.server.lock = threading.Lock()
        self.server.script, self.server.log, self.server.reply = [], [], reply
        self.server.delay, self.server.requests = delay, 0
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def script(self, *faults, reply=None):
        with self.server.lock:
            self.server.script = list(faults)
            self.server.log = []
            if reply is not None:
                self.server.reply = reply

    def log(self):
        with self.server.lock:
            return [dict(e) for e in self.server.log]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    import sys
    fake = FakeLLM(port=int(sys.argv[1]), delay=float(sys.argv[2]))
    fake.server.keep_log = False
    while True:
        time.sleep(3600)
