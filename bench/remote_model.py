"""remote_model.py - a stand-in for a remote embedding model (OpenAI, TEI, vLLM, Ollama) in benchmarks.

An OpenAI-compatible POST /v1/embeddings that answers all-MiniLM-L6-v2
vectors made by `ragd-index embed` (one process per request: about the
latency of a real remote call), and counts every request and input, so a
benchmark can report the model calls a cache saved as calls the model
server actually received. GET /stats -> {"requests": N, "inputs": N}.

    python3 bench/remote_model.py PORT      # or: with RemoteModel() as m: m.url()
"""
import http.server
import json
import os
import subprocess
import sys
import threading

import common


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with self.server.lock:
            return self.reply(200, dict(self.server.stats))

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            req = json.loads(raw)
            texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
        except (ValueError, KeyError):
            return self.reply(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
        with self.server.lock:
            self.server.stats["requests"] += 1
            self.server.stats["inputs"] += len(texts)
        # one line per text: embed takes lines, so newlines inside a text become spaces
        r = subprocess.run([os.path.join(common.BIN, "ragd-index"), "embed", "--embedder", "minilm"],
                           input="".join(" ".join(t.split()) + "\n" for t in texts), capture_output=True, text=True)
        if r.returncode != 0:
            return self.reply(500, {"error": {"message": r.stderr[-500:]}})
        vecs = [json.loads(line) for line in r.stdout.splitlines()]
        self.reply(200, {"object": "list", "model": req.get("model"),
                         "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)],
                         "usage": {"prompt_tokens": 0, "total_tokens": 0}})


class RemoteModel:
    def __init__(self, port=0):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.lock = threading.Lock()
        self.server.stats = {"requests": 0, "inputs": 0}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/v1" % self.server.server_address[1]

    def stats(self):
        with self.server.lock:
            return dict(self.server.stats)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    m = RemoteModel(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(m.url(), flush=True)
    threading.Event().wait()
