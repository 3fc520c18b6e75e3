"""common.py - helpers shared by the benchmark and evaluation scripts (stdlib only)."""
import contextlib
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
RESULTS = os.path.join(ROOT, "bench", "results")
WORK = os.path.join(ROOT, "build", "bench")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(args, **kw):
    log("$ " + " ".join(str(a) for a in args))
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s" % (r.returncode, " ".join(map(str, args)), r.stderr[-3000:]))
    return r


def wrk(url, conns, seconds, *script_args):
    """wrk with bench/wrk_queries.lua (2 threads at most): its RESULT line, plus qps, p50/p99 in ms and the command."""
    args = ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", "%ds" % seconds, "--timeout", "10s", "-s",
            os.path.join(ROOT, "bench", "wrk_queries.lua"), url, "--"] + [str(a) for a in script_args]
    r = run(args)
    res = json.loads(r.stdout.split("RESULT ", 1)[1])
    res["qps"] = res["requests"] / res["seconds"]
    res["p50_ms"] = res["percentiles_us"]["50"] / 1000
    res["p99_ms"] = res["percentiles_us"]["99"] / 1000
    res["command"] = " ".join(args)
    return res


def latency_cdf_plot(series, dat, png, title):
    """A latency CDF (log x) of wrk runs: series = [(label, percentiles_us dict), ...]; writes dat and png."""
    with open(dat, "w") as f:
        for label, pct in series:
            f.write("# %s\n" % label)
            for q, us in sorted(pct.items(), key=lambda kv: float(kv[0])):
                f.write("%f %s\n" % (us / 1000, q))
            f.write("\n\n")
    cmds = ", ".join("'%s' index %d with linespoints title '%s'" % (dat, i, label) for i, (label, _) in enumerate(series))
    subprocess.run(["gnuplot", "-e", "set terminal png size 900,560 noenhanced; set output '%s'; set logscale x; "
                    "set xlabel 'latency (ms)'; set ylabel 'percentile'; set key bottom right; set grid; "
                    "set title '%s'; plot %s" % (png, title, cmds)], check=True)
    return png


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url, obj, timeout=60):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def ragd_serve(index, *extra):
    port = free_port()
    p = subprocess.Popen([os.path.join(BIN, "ragd-serve")] + (["--index", index] if index else []) +
                         ["--port", str(port), "--no-access-log", "--log-level", "warn"] + [str(e) for e in extra])
    url = "http://127.0.0.1:%d" % port
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        else:
            raise SystemExit("ragd-serve did not become ready")
        yield url
    finally:
        p.terminate()
        p.wait(30)


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"host": platform.node(), "cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


def save(name, data):
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d")
    path = os.path.join(RESULTS, "%s-%s-%s.json" % (name, stamp, platform.node()))
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
    log("wrote " + path)
    return path
