"""harness.py - shared helpers for ragd's integration tests (stdlib only).

Each test module defines test_* functions and ends with `harness.main(globals())`,
which runs them in order, prints "ok"/"FAIL" per test and the closing
"# name: N passed, N failed" line that tests/run.sh adds up.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RAGD_BIN", os.path.join(ROOT, "bin"))


def binary(name):
    return os.path.join(BIN, name)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpdir(prefix="ragd-it-"):
    return tempfile.mkdtemp(prefix=prefix)


def run(args, timeout=300, **kw):
    """Run a command; return CompletedProcess with text stdout/stderr."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def ragd_index(*args, timeout=300):
    return run([binary("ragd-index")] + [str(a) for a in args], timeout=timeout)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dump_chunks(index_dir):
    r = ragd_index("dump", index_dir)
    assert r.returncode == 0, r.stderr
    # "\n" only: str.splitlines also breaks at U+0085 and U+2028, which JSON
    # strings may hold unescaped.
    return [json.loads(line) for line in r.stdout.split("\n") if line.strip()]


def http(method, url, body=None, headers=None, timeout=30):
    """Return (status, headers, body bytes) without raising on 4xx/5xx."""
    data = body if body is None or isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until(pred, timeout=30.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def serve_in_thread(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t


def main(scope):
    name = os.path.splitext(os.path.basename(scope["__file__"]))[0]
    tests = [(k, v) for k, v in scope.items() if k.startswith("test_") and callable(v)]
    setup = scope.get("setup_module")
    teardown = scope.get("teardown_module")
    passed = failed = 0
    try:
        if setup:
            setup()
        for tname, fn in tests:
            try:
                fn()
                passed += 1
                print("ok   " + tname, flush=True)
            except Exception:
                failed += 1
                print("FAIL " + tname, flush=True)
                traceback.print_exc(file=sys.stdout)
    except Exception:
        failed += 1
        print("FAIL setup_module", flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        if teardown:
            try:
                teardown()
            except Exception:
                traceback.print_exc(file=sys.stdout)
    print("# %s: %d passed, %d failed" % (name, passed, failed), flush=True)
    sys.exit(1 if failed else 0)


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember "
         "fjord glacier harbor island jungle karst lagoon meadow nebula orchard prairie quarry reef savanna "
         "tundra upland valley wetland").split()


def make_corpus(folder, n_docs=60, seed=7):
    """Write n_docs Markdown files of pseudo-random prose (deterministic)."""
    import random
    rnd = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for d in range(n_docs):
        lines = ["# Document %d about %s" % (d, WORDS[d % len(WORDS)]), ""]
        for s in range(3):
            lines.append("## Section %d %s" % (s, rnd.choice(WORDS)))
            lines.append("")
            for p in range(2):
                lines.append(" ".join(rnd.choice(WORDS) for _ in range(40)) + ".")
                lines.append("")
        with open(os.path.join(folder, "doc%03d.md" % d), "w") as f:
            f.write("\n".join(lines))


class Server:
    """A ragd-serve process on a free port, stopped by close(). index None: a router (pass --router --peers)."""

    def __init__(self, index, *args, env=None, wait_loaded=True, port=None):
        self.port = port or free_port()
        self.wait_loaded = wait_loaded
        self.log = tempfile.NamedTemporaryFile(prefix="ragd-serve-", suffix=".log", delete=False)
        cmd = [binary("ragd-serve")] + (["--index", index] if index else []) + [
            "--port", str(self.port), "--log-level", "warn", "--no-access-log"] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        ok = wait_until(self._up, 30)
        if not ok:
            out = self.output()
            self.close()
            raise AssertionError("ragd-serve did not start: " + out)

    def _up(self):
        if self.proc.poll() is not None:
            return False
        try:
            if http("GET", self.url("/health"), timeout=2)[0] not in (200, 401):
                return False
            if not self.wait_loaded:
                return True
            # The server listens before it loads: wait until the first
            # load has been tried (ready, or not ready for a reason).
            st, _, body = http("GET", self.url("/ready"), timeout=2)
            return st != 503 or json.loads(body).get("status") != "loading"
        except OSError:
            return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, headers=None):
        return http("GET", self.url(path), headers=headers)

    def post(self, path, body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return http("POST", self.url(path), body=body, headers=h)

    def output(self):
        if not os.path.exists(self.log.name):
            return getattr(self, "final_output", "")
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.final_output = self.output()
        os.unlink(self.log.name)
        # A clean stop exits 0; sanitizer reports (leaks, UB) make it non-zero.
        if self.proc.returncode != 0 and not getattr(self, "killed", False):
            raise AssertionError("ragd-serve exited %d:\n%s" % (self.proc.returncode, self.final_output[-3000:]))
        return self.proc.returncode


class Redis:
    """A real redis-server on a free loopback port (no persistence)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: self.cli("PING").strip() == "PONG", 10), "redis-server did not start"

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args], capture_output=True,
                           text=True, timeout=10)
        return r.stdout

    def keys(self, pattern):
        return [k for k in self.cli("--scan", "--pattern", pattern).split() if k]

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
