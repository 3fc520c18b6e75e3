#!/usr/bin/env python3
"""soak.py - `make soak`: ten minutes of mixed load on a real ragd-serve while everything around it moves.

What runs at once, for SOAK_MINUTES (10):
  - wrk, 8 connections, rotating four request shapes (GET hybrid, GET
    keyword, POST vector with a filter, POST /v1/embeddings), in one-minute
    slices, so p99 is reported per minute;
  - the index rebuilt every 30 s (`ragd-index build --incremental` after
    one file changed), each new version hot-reloaded by the server;
  - the semantic cache on a real redis-server, which is killed and
    restarted twice (at 30% and 60% of the run);
  - clients that disconnect mid-request (half-sent headers, half-sent
    bodies, requests abandoned before the answer).
Reported: requests, failed requests by kind (wrk's socket errors and
non-2xx), p99 per minute, the server's RSS after the first minute (warm)
and at the end. Goals (issue 18): no failed request, RSS growth <= 5%
after warm-up. Exit 1 when a goal is missed. Writes
bench/results/soak-DATE-HOST.{json,md}.
"""
import datetime
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import common  # noqa: E402

BIN = os.path.join(ROOT, "bin")
DOCS = "/usr/share/doc/python3.11/html/tutorial"
MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


redis_box = [None]  # the live redis-server process (replaced when it is bounced)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def run_redis(port):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                          "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            redis_box[0] = p
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def rude_clients(port, stop, counts):
    """Open connections and walk away at awkward moments."""
    rnd = random.Random(5)
    while not stop.is_set():
        kind = rnd.randrange(3)
        try:
            s = socket.create_connection(("127.0.0.1", port), 2)
            if kind == 0:    # headers cut short
                s.sendall(b"GET /v1/search?q=half HTTP/1.1\r\nHost: x\r\n")
            elif kind == 1:  # a body promised and not sent
                s.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 500\r\n\r\n{\"query\": \"abandoned")
            else:            # a whole request, the answer never read
                s.sendall(b"GET /v1/search?q=never+read&k=50 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(rnd.random() * 0.05)
            s.close()
            counts[kind] += 1
        except OSError:
            pass
        time.sleep(0.1)


def main():
    work = tempfile.mkdtemp(prefix="ragd-soak-")
    corpus = os.path.join(work, "docs")
    shutil.copytree(DOCS, corpus)
    index = os.path.join(work, "index")
    idx = os.path.join(BIN, "ragd-index")
    build = [idx, "build", "--out", index, "--source", corpus, "--embedder", "minilm", "--incremental",
             "--max-shrink", "100%", "--log-level", "warn"]
    t0 = time.time()
    subprocess.run(build, check=True)
    print("soak: first build %.0f s" % (time.time() - t0), flush=True)
    queries = os.path.join(work, "queries.txt")
    with open(queries, "w") as f:
        for q in ["how do I read a file", "list comprehension", "what is a tuple", "define a class",
                  "exceptions and errors", "virtual environments", "string formatting", "modules and packages",
                  "floating point arithmetic", "interactive mode", "dictionary keys", "lambda expressions"]:
            f.write(q + "\n")
    rport, port = common.free_port(), common.free_port()
    run_redis(rport)
    log = open(os.path.join(work, "serve.log"), "w")
    srv = subprocess.Popen([os.path.join(BIN, "ragd-serve"), "--index", index, "--port", str(port), "--threads", "4",
                            "--redis", "redis://127.0.0.1:%d" % rport, "--cache-semantic", "on", "--watch-ms", "500",
                            "--no-access-log", "--log-level", "warn"], stdout=log, stderr=log)
    url = "http://127.0.0.1:%d" % port
    for _ in range(600):
        try:
            if http_get(url + "/ready")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    stop = threading.Event()
    versions, build_fail = [], []

    def rebuild():
        n = 0
        while not stop.is_set():
            start = time.time()
            n += 1
            with open(os.path.join(corpus, "soak-%d.html" % (n % 3)), "w") as f:
                f.write("<html><head><title>Soak %d</title></head><body><p>Rebuild number %d at %f.</p></body></html>"
                        % (n, n, start))
            r = subprocess.run(build, capture_output=True, text=True)
            (versions if r.returncode == 0 else build_fail).append(r.returncode)
            while not stop.is_set() and time.time() - start < 30:
                time.sleep(0.2)

    rude_counts = [0, 0, 0]
    threads = [threading.Thread(target=rebuild), threading.Thread(target=rude_clients, args=(port, stop, rude_counts))]
    for t in threads:
        t.start()
    minutes, rss_warm, restarts = [], None, []
    kills = {int(MINUTES * 0.3), int(MINUTES * 0.6)}
    for m in range(int(MINUTES)):
        if m in kills:  # kill Redis a little into this minute, restart it 10 s later
            def bounce():
                time.sleep(15)
                redis_box[0].kill()
                redis_box[0].wait()
                time.sleep(10)
                run_redis(rport)
                restarts.append(time.time())
            threading.Thread(target=bounce).start()
        r = common.run(["wrk", "-t", "2", "-c", "8", "-d", "60s", "--timeout", "10s", "-s",
                        os.path.join(HERE, "wrk_queries.lua"), url, "--", queries, "/", "mixed", "all-MiniLM-L6-v2"])
        res = json.loads(r.stdout.split("RESULT ", 1)[1])
        minutes.append({"minute": m + 1, "requests": res["requests"], "errors": res["errors"], "non2xx": res["non2xx"],
                        "p99_ms": res["percentiles_us"]["99"] / 1000, "p50_ms": res["percentiles_us"]["50"] / 1000,
                        "rss_mb": rss_kb(srv.pid) / 1024})
        if m == 0:
            rss_warm = rss_kb(srv.pid)
        print("soak: minute %d: %s" % (m + 1, json.dumps(minutes[-1])), flush=True)
    stop.set()
    for t in threads:
        t.join()
    rss_end = rss_kb(srv.pid)
    metrics = http_get(url + "/metrics")[1]
    srv.terminate()
    code = srv.wait(30)
    redis_box[0].kill()
    reloads = sum(float(l.split()[-1]) for l in metrics.splitlines()
                  if l.startswith('ragd_index_reloads_total{result="ok"}'))
    total = sum(x["requests"] for x in minutes)
    failed = sum(x["errors"] + x["non2xx"] for x in minutes)
    growth = (rss_end - rss_warm) / rss_warm if rss_warm else 0
    out = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z", "machine": common.machine(),
           "minutes": minutes, "requests": total, "failed": failed,
           "failed_by_kind": {"socket_errors": sum(x["errors"] for x in minutes),
                              "non2xx": sum(x["non2xx"] for x in minutes)},
           "versions_published": len(versions), "builds_failed": len(build_fail), "reloads_ok": reloads,
           "redis_restarts": len(restarts), "rude_clients": rude_counts, "rss_warm_mb": rss_warm / 1024,
           "rss_end_mb": rss_end / 1024, "rss_growth": growth, "server_exit": code,
           "command": "make soak (python3 bench/soak.py), SOAK_MINUTES=%g" % MINUTES}
    ok = failed == 0 and growth <= 0.05 and code == 0 and not build_fail
    mach = out["machine"]
    desc = "%s, %s cores" % (mach.get("cpu", "?"), mach.get("cores", "?")) if isinstance(mach, dict) else str(mach)
    lines = ["# Soak (%s, %s; `%s`)" % (out["date"], desc, out["command"]), "",
             "%d requests in %d minutes (wrk, 8 connections, 4 request shapes); failed: %d (socket errors %d, non-2xx %d)."
             % (total, len(minutes), failed, out["failed_by_kind"]["socket_errors"], out["failed_by_kind"]["non2xx"]),
             "Index versions published and hot-reloaded: %d (reloads ok: %d); Redis killed and restarted: %d times;"
             " rude clients: %d cut headers, %d cut bodies, %d unread answers." % (
                 len(versions), reloads, len(restarts), *rude_counts),
             "RSS after minute 1: %.1f MB; at the end: %.1f MB (%+.1f%%). Server exit code %d." % (
                 out["rss_warm_mb"], out["rss_end_mb"], 100 * growth, code), "",
             "| minute | requests | failed | p50 ms | p99 ms | RSS MB |", "|---|---|---|---|---|---|"]
    for x in minutes:
        lines.append("| %d | %d | %d | %.1f | %.1f | %.1f |" % (x["minute"], x["requests"], x["errors"] + x["non2xx"],
                                                               x["p50_ms"], x["p99_ms"], x["rss_mb"]))
    lines += ["", "Goals: no failed request, RSS growth <= 5%%: %s." % ("met" if ok else "NOT met")]
    stamp = datetime.date.today().strftime("%Y%m%d")
    base = os.path.join(ROOT, "bench", "results", "soak-%s-%s" % (stamp, socket.gethostname()[:16] or "host"))
    with open(base + ".json", "w") as f:
        json.dump(out, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
