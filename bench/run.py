"""run.py - `make bench`: every figure of the README's Performance section, in one run.

Sections (each records its command lines, versions and inputs):
  embedder  ragd minilm at fp32, bf16 and int8 vs sentence-transformers and ONNX
            Runtime (fp32, dynamic int8) on 2,000 real chunks and 1,000 short
            queries, interleaved: chunks/s, query p50/p99, cosine to fp32
  service   wrk against ragd-serve /v1/search k=10 on an index of >= 100k
            chunks (hash embedder): vector, keyword and hybrid modes without
            cache, exact hits, semantic hits; 1 and 16 connections; plus
            FAISS called directly on the same index and queries
  filters   filtered search on the service index: one page (0.1%), a broad
            URL prefix, a heading word; latency and fewest results
  embeddings  POST /v1/embeddings (wrk, 1 and 16 connections) vs ragd-index
            embed on the same texts
  seed      the seed's LangChain + FastAPI stack vs ragd (minilm, exact) over
            the same CISI chunks: wrk on /?query=, alternating A/B
  cache     a CISI query log (each query, an exact repeat, two rewordings)
            with a remote index embedder (a counting model server on
            127.0.0.1) and with the local minilm: model calls made and
            avoided per tier, wrong-hit rate, latency per outcome
  indexing  crawl of the local Python docs: full, incremental with no change,
            incremental with 1% of pages changed (hash embedder)
  guard     the semantic cache's guard on STS-benchmark dev pairs (tuned on
            one half, reported on the other): wrong-hit rate against hit
            rate, threshold alone vs threshold + guard (bench/sts_curve.py)
  peers     ragd against Chroma (its own server, same vectors, texts and
            HNSW parameters): recall@10 and wrk QPS/p99 at 1 and 16
            connections, vector in and text in; ingest time (bench/peers.py)
  indexing-minilm  the same with the minilm encoder (about 6 minutes; only
            when named: python3 bench/run.py indexing-minilm)
Writes bench/results/bench-DATE-HOST.json and .md, and PNG plots (gnuplot).
"""
import contextlib
import glob
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import peers  # noqa: E402
import smart_collection  # noqa: E402
import remote_model  # noqa: E402
import sts_curve  # noqa: E402

IDX = os.path.join(common.BIN, "ragd-index")
VENV = os.environ.get("SEED_VENV", os.path.join(common.ROOT, "build", "bench-venv"))
CHROMA_VENV = os.environ.get("CHROMA_VENV", os.path.join(common.ROOT, "build", "chroma-venv"))
PY = os.path.join(VENV, "bin", "python")
MODEL = os.path.join(common.ROOT, "models", "all-MiniLM-L6-v2")
DOCS = "/usr/share/doc/python3.11/html"
CISI = os.path.join(common.ROOT, "..", "shared", "datasets", "cisi")
STSB = os.path.join(common.ROOT, "..", "shared", "datasets", "stsb")
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "10"))


class Site:
    """A folder served over HTTP on 127.0.0.1 (python3 -m http.server)."""

    def __init__(self, folder):
        self.port = common.free_port()
        self.p = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                   "--directory", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url(), timeout=1)
                break
            except Exception:
                time.sleep(0.1)

    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def close(self):
        self.p.terminate()
        self.p.wait()


def build(out, source, *extra):
    t = time.time()
    report = out + "-report.json"
    r = subprocess.run([IDX, "build", "--out", out, "--source", source, "--report", report, "--log-level", "warn"]
                       + [str(e) for e in extra], capture_output=True, text=True)
    if r.returncode not in (0, 3):
        raise SystemExit(r.stderr)
    return time.time() - t, json.load(open(report))


def wrk(url, queries, path, param, extra, conns, seconds=None):
    return common.wrk(url, conns, seconds or WRK_SECONDS, queries, path, param, extra)


def dump_texts(index, n, seed=1):
    rows = [json.loads(l) for l in common.run([IDX, "dump", index]).stdout.splitlines()]
    random.Random(seed).shuffle(rows)
    return rows[:n] if n else rows


# ---- sections ----

def section_indexing(out, embedder="hash", key="indexing"):
    site_dir = os.path.join(common.WORK, "site")
    shutil.rmtree(site_dir, ignore_errors=True)
    shutil.copytree(DOCS, site_dir, symlinks=False, ignore_dangling_symlinks=True)
    site = Site(site_dir)
    index = os.path.join(common.WORK, "pydocs-" + embedder)
    shutil.rmtree(index, ignore_errors=True)
    try:
        # --no-embed-cache: the full run embeds every chunk even when an
        # earlier bench left vectors behind.
        full_s, full = build(index, site.url(), "--embedder", embedder, "--concurrency", "4", "--no-embed-cache")
        same_s, same = build(index, site.url(), "--embedder", embedder, "--concurrency", "4", "--incremental")
        pages = sorted(glob.glob(os.path.join(site_dir, "library", "*.html")))
        changed = pages[:max(1, full["pages"]["fetched"] // 100)]
        for p in changed:  # a new paragraph inside the main content, under the first heading
            html = open(p, encoding="utf-8").read()
            html = html.replace("</h1>", "</h1><p>Benchmark change in %s: a new paragraph about incremental "
                                "reindexing.</p>" % os.path.basename(p), 1)
            with open(p, "w", encoding="utf-8") as f:
                f.write(html)
        one_s, one = build(index, site.url(), "--embedder", embedder, "--concurrency", "4", "--incremental")
    finally:
        site.close()
    out[key] = {
        "source": "Debian python3.11-doc HTML served by python3 -m http.server on 127.0.0.1", "embedder": embedder,
        "command": "ragd-index build --out %s --source %s --embedder %s --concurrency 4 [--no-embed-cache | --incremental]"
                   % (index, site.url(), embedder),
        "pages": full["pages"]["fetched"], "chunks": full["chunks"]["total"],
        "failed_by_reason": {k: v["count"] for k, v in full["pages"]["failed_by_reason"].items()},
        "skipped_by_reason": {k: v["count"] for k, v in full["pages"]["skipped_by_reason"].items()},
        "full_s": round(full_s, 2), "pages_per_s": round(full["pages"]["fetched"] / full_s, 1),
        "chunks_per_s": round(full["chunks"]["total"] / full_s, 1),
        "embed_share_of_wall": round(full["durations_ms"]["embed"] / full["durations_ms"]["total"], 4),
        "embed_note": "embedding runs on worker threads while crawling; share = summed embed-call time / wall time",
        "incremental_nochange_s": round(same_s, 2), "incremental_nochange_embedded": same["chunks"]["embedded"],
        "incremental_nochange_not_modified": same["pages"]["not_modified"],
        "incremental_nochange_downloaded": same["pages"]["fetched"],
        "incremental_nochange_share_of_full": round(same_s / full_s, 3),
        "incremental_1pct_s": round(one_s, 2), "incremental_1pct_pages_changed": len(changed),
        "incremental_1pct_downloaded": one["pages"]["fetched"],
        "incremental_1pct_share_of_full": round(one_s / full_s, 3),
        "incremental_1pct_embedded": one["chunks"]["embedded"]}
    return index


class Interleaved:
    """A benchmark process answering one JSON line per command on stdin."""

    def __init__(self, cmd, env=None):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline()
        if not reply:
            raise RuntimeError("benchmark process exited on: " + line)
        return json.loads(reply)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def read_vectors(path, dim=384):
    import array
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return [a[i * dim:(i + 1) * dim] for i in range(len(a) // dim)]


def cosines(ref, vecs):
    out = []
    for u, v in zip(ref, vecs):
        nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
        out.append(sum(x * y for x, y in zip(u, v)) / (nu * nv) if nu and nv else 0.0)
    return out


def section_embedder(out, texts_file, queries_file):
    """ragd (fp32, bf16 and int8) and its peers on the same texts, interleaved.

    This VM's speed drifts by 10-30% within minutes, so whole runs minutes
    apart compare drift more than code. Every engine is loaded once: ragd's
    encoder at --precision fp32, bf16 and int8 (build/bench/embed_bench), and,
    with the bench venv, sentence-transformers (PyTorch) and ONNX Runtime
    fp32 and dynamic int8 (bench/onnx_embed.py, exported from the same
    weights). The 2,000 texts are cut into slices and each slice is
    embedded by every engine back to back, the order rotating from slice to
    slice; the single queries likewise; and the sgemm limit is measured next
    to every ragd fp32 slice. Throughput is total texts over total seconds
    per engine; each slice's own ratio is reported to show the spread. Then
    every engine embeds all texts once more and its vectors are compared to
    ragd fp32's (cosine: mean and min), which equal sentence-transformers'
    (test_minilm)."""
    slices = int(os.environ.get("BENCH_EMBED_SLICES", "10"))
    eb = os.path.join(common.ROOT, "build", "bench", "embed_bench")
    have_st = os.path.exists(PY)
    engines = [("ragd", [eb, "--precision", "fp32", MODEL, texts_file, queries_file, "2", "--interleave"]),
               ("ragd_bf16", [eb, "--precision", "bf16", MODEL, texts_file, queries_file, "2", "--interleave"]),
               ("ragd_int8", [eb, "--precision", "int8", MODEL, texts_file, queries_file, "2", "--interleave"])]
    if have_st:
        engines.append(("st", [PY, os.path.join(common.ROOT, "bench", "seed_stack.py"), "embed", "--model", MODEL,
                               "--texts", texts_file, "--queries", queries_file, "--threads", "2", "--interleave"]))
        for q in ("fp32", "int8"):
            engines.append(("ort_" + q, [PY, os.path.join(common.ROOT, "bench", "onnx_embed.py"), "--model", MODEL,
                                         "--texts", texts_file, "--queries", queries_file, "--threads", "2",
                                         "--quant", q, "--interleave"]))
    procs = {}
    try:
        for name, cmd in engines:
            common.log("$ " + " ".join(cmd))
            procs[name] = Interleaved(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        names = [n for n, _ in engines]
        nt = sum(1 for _ in open(texts_file))
        nq = sum(1 for _ in open(queries_file))
        res = {"texts": nt, "queries": nq, "slices": [], "sgemm": [], "engines": names}
        lat = {n: [] for n in names}
        for n in names:
            procs[n].ask("queries 0 20")  # warm up the single-query path
        for i in range(slices):
            lo, hi = nt * i // slices, nt * (i + 1) // slices
            qlo, qhi = nq * i // slices, nq * (i + 1) // slices
            order = names[i % len(names):] + names[:i % len(names)]
            row = {"from": lo, "to": hi}
            for name in order:
                if name == "ragd":
                    res["sgemm"].append(procs["ragd"].ask("sgemm 1"))
                r = procs[name].ask("batch %d %d" % (lo, hi))
                row[name + "_s"] = r["s"]
                if "tokens" in r:
                    row["tokens"] = r["tokens"]
                lat[name] += procs[name].ask("queries %d %d" % (qlo, qhi))["ms"]
            if have_st:
                row["ratio"] = row["st_s"] / row["ragd_s"]
            res["slices"].append(row)
        vec_dir = os.path.join(common.WORK, "vectors")
        os.makedirs(vec_dir, exist_ok=True)
        vecs = {}
        for n in names:
            path = os.path.join(vec_dir, n + ".f32")
            procs[n].ask("vectors 0 %d %s" % (nt, path))
            vecs[n] = read_vectors(path)
    finally:
        for p in procs.values():
            p.close()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p))]
    tokens = sum(r["tokens"] for r in res["slices"])
    limit = statistics.mean(max(g["blas"], g["side"]) for g in res["sgemm"])
    paths = {}
    for n in names:
        secs = sum(r[n + "_s"] for r in res["slices"])
        cs = cosines(vecs["ragd"], vecs[n])
        paths[n] = {"texts": nt, "batch_s": secs, "chunks_per_s": nt / secs, "tokens_per_s": tokens / secs,
                    "query_p50_ms": pct(lat[n], 0.5), "query_p99_ms": pct(lat[n], 0.99),
                    "cos_mean": statistics.mean(cs), "cos_min": min(cs),
                    "command": " ".join(dict(engines)[n])}
    r = dict(paths["ragd"], threads=2, tokens=tokens, sgemm_gflops_n=limit, mflop_per_token=22.4,
             sgemm_share=tokens / paths["ragd"]["batch_s"] * 22.4e6 / (limit * 1e9))
    res.update({"ragd": r, "ragd_command": r["command"], "paths": paths})
    for prec in ("bf16", "int8"):
        b = paths["ragd_" + prec]
        res[prec] = {"throughput_vs_fp32": r["batch_s"] / b["batch_s"],
                     "query_p50_vs_fp32": b["query_p50_ms"] / r["query_p50_ms"],
                     "cos_mean": b["cos_mean"], "cos_min": b["cos_min"]}
    if have_st:
        st = paths["st"]
        res["sentence_transformers"] = dict(st, torch=common.run([PY, "-c", "import torch; print(torch.__version__)"]).stdout.strip())
        res["onnxruntime"] = common.run([PY, "-c", "import onnxruntime; print(onnxruntime.__version__)"]).stdout.strip()
        for prec in ("bf16", "int8"):
            res[prec]["throughput_vs_ort_int8"] = paths["ort_int8"]["batch_s"] / paths["ragd_" + prec]["batch_s"]
        res.update({"st_command": st["command"], "throughput_ratio": st["batch_s"] / r["batch_s"],
                    "query_p50_ratio": st["query_p50_ms"] / r["query_p50_ms"],
                    "slice_ratio_range": [min(x["ratio"] for x in res["slices"]), max(x["ratio"] for x in res["slices"])]})
    out["embedder"] = res


def section_service(out, queries_file):
    index = os.path.join(common.WORK, "big-hash")
    shutil.rmtree(index, ignore_errors=True)
    _, rep = build(index, DOCS, "--embedder", "hash", "--chunk-tokens", "24", "--chunk-overlap", "0",
                   "--shards", "2", "--index-spec", "HNSW32")
    direct_cmd = [os.path.join(common.ROOT, "build", "bench", "faiss_direct"), index, queries_file, "10"]
    direct = json.loads(common.run(direct_cmd).stdout)
    res = {"index_chunks": rep["chunks"]["unique"], "embedder": "hash", "index_spec": "HNSW32 (2 shards)",
           "faiss_direct": direct, "faiss_direct_command": " ".join(direct_cmd), "runs": {}}
    with common.ragd_serve(index) as url:
        for c in (1, 16):
            res["runs"]["cache_off_c%d" % c] = wrk(url, queries_file, "/v1/search", "q", "&k=10&mode=vector", c)
        # The three search modes side by side, no cache (docs/search.md).
        for mode in ("keyword", "hybrid"):
            for c in (1, 16):
                res["runs"]["mode_%s_c%d" % (mode, c)] = wrk(url, queries_file, "/v1/search", "q",
                                                             "&k=10&mode=" + mode, c)
    redis = subprocess.Popen(["redis-server", "--port", str(common.free_port()), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    port = [a for a in redis.args if a.isdigit()][0]
    try:
        # The semantic tier keyed by the index's own (hash) embedder: this run
        # measures the service path, the cache section measures the key embedder.
        with common.ragd_serve(index, "--redis", "redis://127.0.0.1:%s" % port, "--cache-semantic", "on",
                               "--cache-key-embedder", "index") as url:
            one = os.path.join(common.WORK, "one-query.txt")
            with open(one, "w") as f:
                f.write("how do I read a file line by line\n")
            common.post_json(url + "/v1/search", {"query": "how do I read a file line by line", "k": 10})
            time.sleep(0.5)
            for c in (1, 16):
                res["runs"]["cache_exact_c%d" % c] = wrk(url, one, "/v1/search", "q", "&k=10", c)
            # Same words in other cases and punctuation: the hash embedder maps
            # them to the same vector, so each variant is a semantic hit the
            # first time and, written back, an exact hit after that.
            variants = os.path.join(common.WORK, "variants.txt")
            with open(variants, "w") as f:
                for i in range(500):
                    f.write("How do I read a file line by line%s\n" % ("?" * (i % 5 + 1) + " " * (i // 5)))
            for c in (1, 16):
                res["runs"]["cache_semantic_c%d" % c] = wrk(url, variants, "/v1/search", "q", "&k=10", c)
        # The same exact hits without the in-process L1: every repeat asks Redis.
        with common.ragd_serve(index, "--redis", "redis://127.0.0.1:%s" % port, "--cache-l1-max", "0") as url:
            common.post_json(url + "/v1/search", {"query": "how do I read a file line by line", "k": 10})
            time.sleep(0.5)
            for c in (1, 16):
                res["runs"]["cache_exact_redis_only_c%d" % c] = wrk(url, one, "/v1/search", "q", "&k=10", c)
    finally:
        redis.terminate()
        redis.wait()
    res["service_over_direct_c1"] = direct["qps"] / res["runs"]["cache_off_c1"]["qps"]
    out["service"] = res



def heading_queries(index, path, n=1000):
    """n distinct section headings of an index's chunks (in a fixed random order) as a query file."""
    heads, seen = [], set()
    for r in dump_texts(index, 0):
        h = " ".join((r["headings"][-1] if r["headings"] else r["title"]).split())
        if h and h not in seen and len(h) < 120:
            seen.add(h)
            heads.append(h)
        if len(heads) == n:
            break
    with open(path, "w") as f:
        f.write("\n".join(heads) + "\n")
    return path


def section_router(out):
    """A router over two shard servers (shards 0-1 and 2-3) against one process serving all four shards, on
    the same machine: the Python docs, hash embedder (so the query costs little and the router's hop shows),
    4 shards HNSW32, vector mode, k=10; wrk at 1 and 16 connections, 3 alternating rounds, medians."""
    index = os.path.join(common.WORK, "router-hash")
    shutil.rmtree(index, ignore_errors=True)
    _, rep = build(index, DOCS, "--embedder", "hash", "--chunk-tokens", "64", "--shards", "4", "--index-spec", "HNSW32")
    queries_file = heading_queries(index, os.path.join(common.WORK, "router-queries.txt"))
    secret = os.path.join(common.WORK, "router-secret")
    with open(secret, "w") as f:
        f.write("bench-router-peer-secret\n")
    res = {"index_chunks": rep["chunks"]["unique"], "index_spec": "HNSW32, 4 shards", "embedder": "hash",
           "layout": "router + 2 shard servers (shards 0-1, 2-3) vs one process with all 4; all on this machine",
           "runs": {}}
    with common.ragd_serve(index, "--shards", "0-1", "--peer-secret-file", secret) as a, \
            common.ragd_serve(index, "--shards", "2-3", "--peer-secret-file", secret) as b, \
            common.ragd_serve(index) as single:
        peers_arg = "%s,%s" % (a, b)
        with common.ragd_serve(None, "--router", "--peers", peers_arg, "--peer-secret-file", secret) as router:
            rounds = {}
            for rnd in range(3):
                for name, url in (("single", single), ("router", router)):
                    for c in (1, 16):
                        rounds.setdefault("%s_c%d" % (name, c), []).append(
                            wrk(url, queries_file, "/v1/search", "q", "&k=10&mode=vector", c))
    for key, runs in rounds.items():
        res["runs"][key] = {"qps": statistics.median(r["qps"] for r in runs),
                            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                            "rounds_qps": [round(r["qps"], 1) for r in runs], "command": runs[0]["command"]}
    out["router"] = res



def rss_kib(url):
    """VmRSS of the ragd-serve answering url (found by its port)."""
    port = url.rsplit(":", 1)[1]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            if cmd and cmd[0].endswith(b"ragd-serve") and b"--port" in cmd and cmd[cmd.index(b"--port") + 1] == port.encode():
                for line in open("/proc/%s/status" % pid):
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    raise SystemExit("no ragd-serve on port " + port)


def section_memory(out):
    """Memory of a shard server per million chunks, by index spec: the Python docs (64-token chunks, hash
    embedder at 384 dimensions, the size of all-MiniLM-L6-v2's vectors; vectors are stored the same whatever
    model made them), one shard, RSS after loading minus RSS of the same server over a 1-document index; and
    that shard's vector-search QPS at 16 connections (k=10)."""
    tiny_src = os.path.join(common.WORK, "memory-tiny-src")
    os.makedirs(tiny_src, exist_ok=True)
    with open(os.path.join(tiny_src, "one.md"), "w") as f:
        f.write("# One\n\nA single small document.\n")
    res = {"note": "hash embedder, 384 dims, one shard; RSS after /ready, minus a 1-chunk index's", "specs": {}}
    queries_file = os.path.join(common.WORK, "memory-queries.txt")
    for spec in ("Flat", "HNSW32", "HNSW16,SQ8", "IVF256,SQ8", "IVF256,PQ48"):
        index = os.path.join(common.WORK, "memory-" + spec.replace(",", "-"))
        tiny = index + "-tiny"
        for d in (index, tiny):
            shutil.rmtree(d, ignore_errors=True)
        _, rep = build(index, DOCS, "--embedder", "hash", "--chunk-tokens", "64", "--shards", "1", "--index-spec", spec)
        common.run([IDX, "build", "--out", tiny, "--source", tiny_src, "--embedder", "hash", "--shards", "1",
                    "--index-spec", "Flat", "--log-level", "warn"])
        if not os.path.exists(queries_file):
            heading_queries(index, queries_file)
        with common.ragd_serve(tiny) as url:
            base = rss_kib(url)
        with common.ragd_serve(index) as url:
            wrk(url, queries_file, "/v1/search", "q", "&k=10&mode=vector", 16, 3)  # warm
            full = rss_kib(url)
            qps = wrk(url, queries_file, "/v1/search", "q", "&k=10&mode=vector", 16)
        chunks = rep["chunks"]["unique"]
        disk = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(index, "versions"))
                   for f in fs)
        res["specs"][spec] = {"chunks": chunks, "rss_kib": full, "base_rss_kib": base,
                              "mib_per_million_chunks": (full - base) / 1024 / chunks * 1e6,
                              "disk_mib_per_million_chunks": disk / 2**20 / chunks * 1e6,
                              "qps_c16": qps["qps"], "p99_ms_c16": qps["p99_ms"]}
        common.log("memory %s: %s" % (spec, res["specs"][spec]))
    out["memory"] = res


def section_filters(out, queries_file):
    """Filtered search on the service bench index: no filter, one page (about 0.1% of the chunks: the
    exact path), a broad URL prefix and a broad heading word (the deeper-search path); one request at
    a time, server took_ms, vector and hybrid."""
    index = os.path.join(common.WORK, "big-hash")
    if not os.path.exists(index):
        build(index, DOCS, "--embedder", "hash", "--chunk-tokens", "24", "--chunk-overlap", "0", "--shards", "2",
              "--index-spec", "HNSW32")
    rows = [json.loads(l) for l in common.run([IDX, "dump", index]).stdout.split("\n") if l.strip()]
    per_url = {}
    for r in rows:
        per_url[r["url"]] = per_url.get(r["url"], 0) + 1
    page = min(per_url, key=lambda u: (abs(per_url[u] - len(rows) // 1000), u))
    prefix = [u for u in sorted(per_url) if "/library/" in u][0].split("/library/")[0] + "/library/"
    share = sum(n for u, n in per_url.items() if u.startswith(prefix)) / len(rows)
    filters = [("none", {}), ("one page, %d chunks (%.2f%%)" % (per_url[page], 100.0 * per_url[page] / len(rows)),
                              {"url": page}),
               ("url_prefix .../library/ (%.0f%%)" % (100 * share), {"url_prefix": prefix}),
               ("heading word \"Examples\"", {"heading": "Examples"})]
    qs = [l.strip() for l in open(queries_file) if l.strip()][:200]
    res = {"index_chunks": len(rows), "queries": len(qs), "k": 10, "runs": []}

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p))]
    with common.ragd_serve(index) as url:
        for name, f in filters:
            for mode in ("vector", "hybrid"):
                took, fl, counts = [], [], []
                for q in qs:
                    r = common.post_json(url + "/v1/search", {"query": q, "k": 10, "mode": mode, "filter": f})
                    took.append(r["took_ms"])
                    fl.append(r["timings"]["filter_ms"])
                    counts.append(len(r["results"]))
                res["runs"].append({"filter": name, "mode": mode, "took_p50_ms": pct(took, 0.5),
                                    "took_p99_ms": pct(took, 0.99), "filter_p50_ms": pct(fl, 0.5),
                                    "fewest_results": min(counts)})
    out["filters"] = res


def section_embeddings(out, queries_file):
    """POST /v1/embeddings (one query text per request, wrk at 1 and 16 connections) against
    ragd-index embed on the same texts (64 per call): texts per second."""
    index = os.path.join(common.WORK, "tutorial-minilm")
    if not os.path.exists(index):
        build(index, os.path.join(DOCS, "tutorial"), "--embedder", "minilm")
    qs = [l.strip() for l in open(queries_file) if l.strip()]
    t = time.time()
    common.run([IDX, "embed", "--embedder", "minilm"], input="\n".join(qs) + "\n")
    cli_s = time.time() - t
    res = {"texts": len(qs), "cli_texts_per_s": len(qs) / cli_s, "cli_command": "ragd-index embed --embedder minilm",
           "runs": {}}
    # Default server (request threads = cores, so requests never wait to be
    # combined), then more request threads than cores with requests combined
    # into shared passes (--embed-batch-max 64) and without (0).
    variants = [("default", []), ("threads8", ["--threads", "8"]),
                ("threads8-nocombine", ["--threads", "8", "--embed-batch-max", "0"])]
    for name, flags in variants:
        with common.ragd_serve(index, *flags) as url:
            for c in ((1, 16) if name == "default" else (16,)):
                r = wrk(url, queries_file, "/v1/embeddings", "embeddings", "all-MiniLM-L6-v2", c)
                r["server_flags"] = " ".join(flags)
                m = urllib.request.urlopen(url + "/metrics").read().decode()
                got = dict(re.findall(r"^(ragd_embed_pass(?:es|_requests)_total) (\d+)$", m, re.M))
                if got:
                    r["requests_per_pass"] = int(got["ragd_embed_pass_requests_total"]) / max(1, int(got["ragd_embed_passes_total"]))
                res["runs"]["c%d" % c if name == "default" else "c%d-%s" % (c, name)] = r
    out["embeddings_api"] = res


def section_seed(out):
    work = os.path.join(common.WORK, "eval-cisi")
    index = os.path.join(work, "index-minilm")
    if not os.path.exists(index):
        common.run([sys.executable, os.path.join(common.ROOT, "bench", "eval.py"), "--embedders", "minilm",
                    "--seed-venv", VENV])
    if not os.path.exists(PY):
        return
    chunks = os.path.join(work, "chunks.jsonl")
    with open(chunks, "w") as f:
        f.write(common.run([IDX, "dump", index]).stdout)
    _, queries, _ = smart_collection.load(CISI)
    qfile = os.path.join(common.WORK, "cisi-queries.txt")
    with open(qfile, "w") as f:
        for q in queries.values():
            f.write(" ".join(q.split())[:300] + "\n")
    port = common.free_port()
    seed = subprocess.Popen([PY, os.path.join(common.ROOT, "bench", "seed_stack.py"), "serve", "--chunks", chunks,
                             "--model", MODEL, "--port", str(port)], env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stderr=subprocess.PIPE, text=True)
    t = time.time()
    seed_url = "http://127.0.0.1:%d" % port
    for _ in range(3000):
        try:
            urllib.request.urlopen(seed_url + "/ready", timeout=1)
            break
        except Exception:
            time.sleep(0.2)
    seed_ready_s = time.time() - t
    res = {"chunks": sum(1 for _ in open(chunks)), "queries": len(queries), "seed_startup_build_s": round(seed_ready_s, 1),
           "runs": {}}
    try:
        with common.ragd_serve(index) as ragd_url:
            overlap = []
            for q in list(queries.values())[:50]:
                qs = urllib.parse.quote(" ".join(q.split())[:300])
                a = json.loads(urllib.request.urlopen(ragd_url + "/?query=" + qs).read())
                b = json.loads(urllib.request.urlopen(seed_url + "/?query=" + qs).read())
                overlap.append(len({r["source"] + r["content"][:50] for r in a["results"]} &
                                   {r["source"] + r["content"][:50] for r in b["results"]}) / 5)
            res["top5_overlap"] = sum(overlap) / len(overlap)
            for rnd in range(2):  # alternate A/B
                for c in (1, 16):
                    res["runs"]["ragd_c%d_round%d" % (c, rnd)] = wrk(ragd_url, qfile, "/", "query", "", c)
                    res["runs"]["seed_c%d_round%d" % (c, rnd)] = wrk(seed_url, qfile, "/", "query", "", c)
    finally:
        seed.terminate()
        seed.wait()
    for c in (1, 16):
        r = [res["runs"]["ragd_c%d_round%d" % (c, i)] for i in range(2)]
        s = [res["runs"]["seed_c%d_round%d" % (c, i)] for i in range(2)]
        res["c%d" % c] = {"ragd_qps": sum(x["qps"] for x in r) / 2, "seed_qps": sum(x["qps"] for x in s) / 2,
                          "ragd_p50_ms": sum(x["p50_ms"] for x in r) / 2, "seed_p50_ms": sum(x["p50_ms"] for x in s) / 2,
                          "ragd_p99_ms": sum(x["p99_ms"] for x in r) / 2, "seed_p99_ms": sum(x["p99_ms"] for x in s) / 2}
        res["c%d" % c]["qps_ratio"] = res["c%d" % c]["ragd_qps"] / res["c%d" % c]["seed_qps"]
    ev = sorted(glob.glob(os.path.join(common.RESULTS, "eval-cisi-*.json")))
    if ev:
        e = json.load(open(ev[-1]))["systems"]
        if "seed-langchain-minilm" in e:
            res["build_s"] = {"ragd": e["ragd-minilm"]["build_s"], "seed": e["seed-langchain-minilm"]["build_s"]}
    out["seed"] = res


def section_ann(out, queries_file):
    index = os.path.join(common.WORK, "pydocs-minilm-48")
    if not os.path.exists(os.path.join(index, "current")):
        site = Site(DOCS)
        try:
            t, rep = build(index, site.url(), "--embedder", "minilm", "--chunk-tokens", "48", "--chunk-overlap", "0",
                           "--index-spec", "Flat", "--shards", "1", "--concurrency", "4")
        finally:
            site.close()
        out["ann_index_build"] = {"seconds": round(t, 1), "chunks": rep["chunks"]["unique"],
                                  "embedded": rep["chunks"]["embedded"], "embed_tokens": rep["embed"]["tokens"]}
    cmd = [os.path.join(common.ROOT, "build", "bench", "ann_bench"), index, queries_file]
    res = json.loads(common.run(cmd).stdout)
    res["command"] = " ".join(cmd)
    out["ann"] = res


REWORD = [(r"^What (are|is) ", "Tell me what {0} "), (r"^How (can|do|does|should) ", "In what way {0} "),
          (r"\?$", ""), (r"^", "Please answer: ")]


def section_peers(out):
    """ragd and Chroma side by side (bench/peers.py, in the Chroma venv)."""
    res = os.path.join(common.WORK, "peers.json")
    cmd = [os.path.join(CHROMA_VENV, "bin", "python"), os.path.join(common.ROOT, "bench", "peers.py"), "--out", res]
    common.log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)
    out["peers"] = json.load(open(res))
    out["peers"]["command"] = " ".join(cmd)


def rewordings(q):
    """Two rewordings per query by fixed rules (documented in the results)."""
    a = q
    for pat, rep in REWORD[:2]:
        m = re.match(pat, a)
        if m:
            a = re.sub(pat, rep.format(*m.groups()), a, count=1)
            break
    a = re.sub(r"\?$", "", a) if a == q else a
    b = "Please answer: " + q.rstrip("?") + "?"
    return [a if a != q else q + " please", b]


def metric_values(text, name):
    """{labels: value} of one metric in Prometheus text."""
    out = {}
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def run_log(url, plain, log, model=None):
    """Send the log one request at a time. Per outcome: latency and query length; semantic hits checked
    against a fresh search (plain: the same index, no cache); model: the remote model's counters."""
    stats = {"miss": [], "exact": [], "semantic": [], "bypass": []}
    chars = {k: [] for k in stats}  # query length per outcome: outcomes are not random samples
    wrong = top1 = model_calls = 0
    overlaps = []
    for qid, text, kind in log:
        before = model.stats()["requests"] if model else 0
        t = time.perf_counter()
        r = common.post_json(url + "/v1/search", {"query": text, "k": 10})
        stats[r["cache"]].append((time.perf_counter() - t) * 1000)
        chars[r["cache"]].append(len(text))
        model_calls += (model.stats()["requests"] - before) if model else 0
        if r["cache"] == "semantic":
            fresh = common.post_json(plain + "/v1/search", {"query": text, "k": 10})
            a, b = [h["id"] for h in fresh["results"]], [h["id"] for h in r["results"]]
            wrong += a != b
            overlaps.append(len(set(a) & set(b)) / 10)
            top1 += bool(a) and bool(b) and a[0] == b[0]
        time.sleep(0.02)  # let the background write land, as between real users' requests
    metrics_text = urllib.request.urlopen(url + "/metrics").read().decode()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p))] if v else None
    avoided = metric_values(metrics_text, "ragd_model_calls_avoided_total")
    sem = len(stats["semantic"])
    return {"requests": len(log), "outcomes": {k: len(v) for k, v in stats.items()},
            "index_model_calls": model_calls if model else
            metric_values(metrics_text, "ragd_embedder_calls_total").get("", 0),
            "key_model_calls": metric_values(metrics_text, "ragd_key_embedder_calls_total").get("", 0),
            "calls_avoided": {k.strip("{}"): v for k, v in avoided.items()},
            "guard_rejections": {k.strip("{}"): v for k, v in
                                 metric_values(metrics_text, "ragd_cache_guard_rejections_total").items() if v},
            "semantic_hits": sem, "semantic_wrong_top10": wrong,
            "wrong_hit_rate": (wrong / sem) if sem else None,
            "semantic_mean_top10_overlap": (sum(overlaps) / len(overlaps)) if overlaps else None,
            "semantic_same_top1": top1,
            "latency_ms": {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99)} for k, v in stats.items() if v},
            "query_chars_p50": {k: pct(v, 0.5) for k, v in chars.items() if v}}


def cisi_log():
    """The CISI minilm index (made by eval.py when missing) and a query log: each query, an exact repeat
    and two rule-based rewordings. Returns (work folder, index, queries, log of (qid, text, kind))."""
    work = os.path.join(common.WORK, "eval-cisi")
    index = os.path.join(work, "index-minilm")
    if not os.path.exists(index):
        common.run([sys.executable, os.path.join(common.ROOT, "bench", "eval.py"), "--embedders", "minilm",
                    "--seed-venv", VENV])
    _, queries, _ = smart_collection.load(CISI)
    log = []
    for qid, q in queries.items():
        q = " ".join(q.split())[:500]
        log += [(qid, q, "original"), (qid, q, "repeat")] + [(qid, r, "reworded") for r in rewordings(q)]
    return work, index, queries, log


def section_cache(out):
    """The CISI query log through the cache, three ways: a remote index embedder (a model server on
    127.0.0.1 that counts its calls) with the minilm key embedder; the local minilm index with the
    semantic tier on; the same with auto (which turns it off for a local embedder)."""
    work, index, queries, log = cisi_log()
    res = {"log": "CISI: %d queries x (original, exact repeat, 2 rule-based rewordings) = %d requests"
           % (len(queries), len(log)), "rewording_rules": [r[0] + " -> " + r[1] for r in REWORD],
           "latency_note": "client-side over HTTP on 127.0.0.1, one request at a time", "runs": {}}
    with remote_model.RemoteModel() as model:
        remote_index = os.path.join(work, "index-remote")
        oa = ["--openai-url", model.url(), "--openai-model", "all-MiniLM-L6-v2"]
        if not os.path.exists(remote_index):
            common.run([IDX, "build", "--out", remote_index, "--source", os.path.join(work, "docs"), "--embedder",
                        "openai", "--dim", "384", "--index-spec", "Flat", "--shards", "2", "--log-level", "warn"] + oa)
        configs = [("remote embedder, semantic auto (on), key minilm", remote_index, oa, model),
                   ("local minilm, semantic on", index, ["--cache-semantic", "on"], None),
                   ("local minilm, semantic auto (off)", index, [], None)]
        for name, idx, extra, m in configs:
            redis = subprocess.Popen(["redis-server", "--port", str(common.free_port()), "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            port = [a for a in redis.args if a.isdigit()][0]
            try:
                with common.ragd_serve(idx, "--redis", "redis://127.0.0.1:%s" % port, *extra) as url, \
                        common.ragd_serve(idx, *(oa if m else [])) as plain:
                    res["runs"][name] = run_log(url, plain, log, m)
            finally:
                redis.terminate()
                redis.wait()
            common.log("cache %s: %s" % (name, res["runs"][name]["outcomes"]))
    out["cache"] = res



LLM_DELAY_S = 0.2  # the stand-in model's fixed latency per call


@contextlib.contextmanager
def fake_llm(delay):
    """The test suite's OpenAI-compatible chat server (tests/integration/fake_llm.py) as a process with a
    fixed delay per call; GET /stats counts the calls it received."""
    port = common.free_port()
    p = subprocess.Popen([sys.executable, os.path.join(common.ROOT, "tests", "integration", "fake_llm.py"),
                          str(port), str(delay)], stdout=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/stats", timeout=1)
            break
        except Exception:
            time.sleep(0.05)
    try:
        yield url
    finally:
        p.terminate()
        p.wait()


def llm_calls(url):
    return json.loads(urllib.request.urlopen(url + "/stats").read())["requests"]


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(len(v) * p))], 2) if v else None


def answer_log(url, llm, log):
    """The log through /v1/answer one request at a time: outcomes, LLM calls the model server received,
    client-side latency per outcome."""
    lat = {"miss": [], "exact": [], "semantic": [], "bypass": []}
    before = llm_calls(llm)
    for qid, text, kind in log:
        t = time.perf_counter()
        r = common.post_json(url + "/v1/answer", {"query": text, "k": 5})
        lat[r["cache"]].append((time.perf_counter() - t) * 1000)
        time.sleep(0.02)  # let the background write land, as between real users' requests
    m = urllib.request.urlopen(url + "/metrics").read().decode()
    return {"requests": len(log), "outcomes": {k: len(v) for k, v in lat.items()},
            "llm_calls": llm_calls(llm) - before,
            "llm_calls_avoided": {k.strip("{}"): v for k, v in metric_values(m, "ragd_llm_calls_avoided_total").items()},
            "guard_rejections": {k.strip("{}"): v for k, v in
                                 metric_values(m, "ragd_cache_guard_rejections_total").items() if v},
            "latency_ms": {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99)} for k, v in lat.items() if v}}


def gateway_overhead(index, llm, queries, n=100):
    """Client-side latency of /v1/answer (no cache) against a direct call to the same model server with
    the prompt ragd sent, alternating, n each: what retrieval, prompt building and the gateway add."""
    direct, via, llm_ms = [], [], []
    with common.ragd_serve(index, "--llm-url", llm + "/v1", "--llm-model", "stub") as url:
        for q in queries[:n]:
            t = time.perf_counter()
            r = common.post_json(url + "/v1/answer", {"query": q, "k": 5})
            via.append((time.perf_counter() - t) * 1000)
            llm_ms.append(r["timings"]["llm_ms"])
            body = {"model": "stub", "max_tokens": 512, "stream": False,
                    "messages": [{"role": "system", "content": "x" * 600},
                                 {"role": "user", "content": "y" * (r["context"]["tokens"] * 4)}]}
            t = time.perf_counter()
            common.post_json(llm + "/v1/chat/completions", body)
            direct.append((time.perf_counter() - t) * 1000)
    return {"calls": len(via), "model_delay_ms": LLM_DELAY_S * 1000,
            "direct_ms": {"p50": pct(direct, 0.5), "p99": pct(direct, 0.99)},
            "answer_ms": {"p50": pct(via, 0.5), "p99": pct(via, 0.99)},
            "answer_llm_ms": {"p50": pct(llm_ms, 0.5), "p99": pct(llm_ms, 0.99)},
            "added_ms": {"p50": round(pct(via, 0.5) - pct(direct, 0.5), 2),
                         "p99": round(pct(via, 0.99) - pct(direct, 0.99), 2)}}


def section_answers(out):
    """/v1/answer on the CISI index with a stand-in chat model (fixed delay, counts its calls): the
    cache section's query log (originals, exact repeats, rule-based rewordings) with the answer cache,
    the semantic tier on and off; and the latency the service adds over a direct model call."""
    work, index, queries, log = cisi_log()
    res = {"log": "CISI: %d queries x (original, exact repeat, 2 rule-based rewordings) = %d requests"
           % (len(queries), len(log)), "model_delay_ms": LLM_DELAY_S * 1000, "runs": {}}
    with fake_llm(LLM_DELAY_S) as llm:
        for name, extra in [("answer cache, semantic on", []),
                            ("answer cache, semantic off", ["--answer-cache-semantic", "off"])]:
            port = common.free_port()
            redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            try:
                with common.ragd_serve(index, "--redis", "redis://127.0.0.1:%d" % port, "--llm-url", llm + "/v1",
                                       "--llm-model", "stub", *extra) as url:
                    res["runs"][name] = answer_log(url, llm, log)
            finally:
                redis.terminate()
                redis.wait()
            common.log("answers %s: %s" % (name, res["runs"][name]["outcomes"]))
        res["gateway"] = gateway_overhead(index, llm, [q for _, q, k in log if k == "original"])
    out["answers"] = res


def plots(out, base):
    if not shutil.which("gnuplot"):
        common.log("gnuplot missing: no plots")
        return []
    made = []
    svc = out.get("service", {}).get("runs", {})
    if svc:
        made.append(common.latency_cdf_plot([(name, r["percentiles_us"]) for name, r in svc.items()],
                                            base + "-latency.dat", base + "-latency-cdf.png",
                                            "ragd-serve /v1/search k=10 latency CDF (wrk)"))
    ann = out.get("ann")
    if ann:
        dat = base + "-ann.dat"
        groups = {}
        for p in ann["points"]:
            groups.setdefault(p["spec"], []).append(p)
        with open(dat, "w") as f:
            for spec, pts in groups.items():
                f.write("# %s\n" % spec)
                for p in pts:
                    f.write("%f %f\n" % (p["recall10"], p["qps"]))
                f.write("\n\n")
        png = base + "-ann-recall-qps.png"
        cmds = ", ".join("'%s' index %d with linespoints title '%s'" % (dat, i, g) for i, g in enumerate(groups))
        subprocess.run(["gnuplot", "-e", "set terminal png size 900,560 noenhanced; set output '%s'; set logscale y; set xrange [0.4:1.02]; "
                        "set xlabel 'recall@10'; set ylabel 'queries/s (1 thread)'; set key bottom left; "
                        "set title 'FAISS on %d real all-MiniLM-L6-v2 chunk vectors'; plot %s" % (png, ann["vectors"], cmds)],
                       check=True)
        made.append(png)
    guard = out.get("guard")
    if guard:
        dat = base + "-guard.dat"
        series = [(half, kind) for half in ("held-out", "tune") for kind in ("threshold_only", "threshold_and_guard")]
        with open(dat, "w") as f:
            for half, kind in series:
                f.write("# %s %s\n" % (half, kind))
                for p in guard["halves"][half][kind]:
                    if p["hits"]:
                        f.write("%f %f %f\n" % (100 * p["hit_rate_same"], 100 * p["wrong_hit_rate"], p["threshold"]))
                f.write("\n\n")
        png = base + "-guard-curve.png"
        cmds = ", ".join("'%s' index %d with linespoints title '%s, %s'" % (dat, i, h, k.replace("_", " "))
                         for i, (h, k) in enumerate(series))
        subprocess.run(["gnuplot", "-e", "set terminal png size 900,560 noenhanced; set output '%s'; "
                        "set xlabel 'hit rate on pairs scored >= 4.5 (%%)'; set ylabel 'wrong hits (%% of hits)'; "
                        "set key top left; set grid; set arrow from 30,2 to 100,2 nohead dt 2; "
                        "set label 'issue 13 target: <= 2%% wrong at >= 30%% hit rate' at 31,3.2; "
                        "set title 'Semantic cache on STS-benchmark dev: threshold 0.80-0.995, alone and with the guard'; "
                        "plot %s" % (png, cmds)], check=True)
        made.append(png)
    if out.get("peers"):
        made += peers.plots(out["peers"], base)
    return made


def markdown(out, pngs):
    L = ["# ragd benchmarks", "", "Machine: %s, %d cores, %s. Command: `make bench` (bench/run.py)." %
         (out["machine"]["cpu"], out["machine"]["cores"], out["machine"]["date"]), ""]
    e = out.get("embedder")
    if e:
        r = e["ragd"]
        L += ["## Embedder (all-MiniLM-L6-v2, %d real chunks, %d tokens)" % (r["texts"], r["tokens"]), "",
              "| | chunks/s (2 threads) | query p50 ms (1 thread) | query p99 ms |", "|---|---|---|---|",
              "| ragd minilm | %.1f | %.2f | %.2f |" % (r["chunks_per_s"], r["query_p50_ms"], r["query_p99_ms"])]
        if "sentence_transformers" in e:
            s = e["sentence_transformers"]
            L += ["| sentence-transformers %s | %.1f | %.2f | %.2f |" % (s["torch"], s["chunks_per_s"], s["query_p50_ms"], s["query_p99_ms"]),
                  "", "ragd/ST throughput %.2fx; ST/ragd query p50 %.2fx." % (e["throughput_ratio"], e["query_p50_ratio"])]
        L += ["", "ragd: %.0f tokens/s = %.0f%% of the measured sgemm limit (%.0f GFLOP/s on 2 threads, 22.4 MFLOP/token)."
              % (r["tokens_per_s"], r["sgemm_share"] * 100, r["sgemm_gflops_n"]), ""]
        if e.get("paths"):
            label = {"ragd": "ragd minilm fp32", "ragd_bf16": "ragd minilm bf16 (--precision bf16)",
                     "ragd_int8": "ragd minilm int8 (--precision int8)",
                     "st": "sentence-transformers (PyTorch)", "ort_fp32": "ONNX Runtime %s fp32" % e.get("onnxruntime", ""),
                     "ort_int8": "ONNX Runtime %s dynamic int8" % e.get("onnxruntime", "")}
            L += ["Every path, same texts, interleaved; cosine to ragd fp32's vectors:", "",
                  "| engine | chunks/s (2 threads) | vs ragd fp32 | query p50 ms | p99 ms | mean cos | min cos |",
                  "|---|---|---|---|---|---|---|"]
            for n in e["engines"]:
                p = e["paths"][n]
                L.append("| %s | %.1f | %.2fx | %.2f | %.2f | %.4f | %.4f |" % (
                    label.get(n, n), p["chunks_per_s"], r["batch_s"] / p["batch_s"], p["query_p50_ms"],
                    p["query_p99_ms"], p["cos_mean"], p["cos_min"]))
            L.append("")
        if e.get("slices") and "throughput_ratio" in e:
            L += ["%d slices of %d texts, each embedded by both back to back in ABBA order; slice ratios %.2fx to %.2fx:"
                  % (len(e["slices"]), e["texts"] // len(e["slices"]), e["slice_ratio_range"][0], e["slice_ratio_range"][1]),
                  "", "| slice | ragd s | ST s | ratio | sgemm limit GFLOP/s |", "|---|---|---|---|---|"]
            for i, (sl, g) in enumerate(zip(e["slices"], e["sgemm"])):
                L.append("| %d | %.2f | %.2f | %.2fx | %.0f |" % (i + 1, sl["ragd_s"], sl["st_s"], sl["ratio"],
                                                               max(g["blas"], g["side"])))
            L.append("")
    s = out.get("service")
    if s:
        L += ["## Service (%d chunks, %s, %s embedder)" % (s["index_chunks"], s["index_spec"], s["embedder"]), "",
              "| run | QPS | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
        for k, r in s["runs"].items():
            L.append("| %s | %.0f | %.2f | %.2f | %d |" % (k, r["qps"], r["p50_ms"], r["p99_ms"], r["errors"] + r["non2xx"]))
        L += ["", "FAISS called directly on the same index and queries (1 thread, embedding excluded): %.0f QPS; "
              "ragd-serve at 1 connection makes %.2fx that QPS end to end (HTTP, JSON, embedding and row fetch "
              "included; its 2 shards are searched on 2 threads)." %
              (s["faiss_direct"]["qps"], 1.0 / s["service_over_direct_c1"]), ""]
    fi = out.get("filters")
    if fi:
        L += ["## Filters (%d chunks, %d queries one at a time, k=%d, server took_ms)" % (fi["index_chunks"],
              fi["queries"], fi["k"]), "", "| filter | mode | p50 ms | p99 ms | filter p50 ms | fewest results |",
              "|---|---|---|---|---|---|"]
        for r in fi["runs"]:
            L.append("| %s | %s | %.2f | %.2f | %.2f | %d |" % (r["filter"], r["mode"], r["took_p50_ms"],
                                                             r["took_p99_ms"], r["filter_p50_ms"], r["fewest_results"]))
        L.append("")
    ea = out.get("embeddings_api")
    if ea:
        L += ["## /v1/embeddings (all-MiniLM-L6-v2, %d query texts, one per request)" % ea["texts"], "",
              "| client | texts/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|",
              "| `%s` (64 texts per call) | %.0f | | | |" % (ea["cli_command"], ea["cli_texts_per_s"])]
        for k, r in ea["runs"].items():
            conns, _, variant = k[1:].partition("-")
            flags = " (`%s`%s)" % (r["server_flags"], ", %.2f requests per encoder pass" % r["requests_per_pass"]
                                   if "requests_per_pass" in r else "") if r.get("server_flags") else ""
            L.append("| POST /v1/embeddings, %s connection(s)%s | %.0f | %.2f | %.2f | %d |" % (
                conns, flags, r["qps"], r["p50_ms"], r["p99_ms"], r["errors"] + r["non2xx"]))
        L.append("")
    sd = out.get("seed")
    if sd and "c1" in sd:
        L += ["## Seed stack side by side (CISI, %d chunks, all-MiniLM-L6-v2, exact search, GET /?query= top 5)" % sd["chunks"], "",
              "| conns | ragd QPS | seed QPS | ratio | ragd p50/p99 ms | seed p50/p99 ms |", "|---|---|---|---|---|---|"]
        for c in (1, 16):
            x = sd["c%d" % c]
            L.append("| %d | %.0f | %.0f | %.1fx | %.1f / %.1f | %.1f / %.1f |" % (c, x["ragd_qps"], x["seed_qps"], x["qps_ratio"],
                     x["ragd_p50_ms"], x["ragd_p99_ms"], x["seed_p50_ms"], x["seed_p99_ms"]))
        L += ["", "Top-5 overlap on 50 queries: %.3f." % sd["top5_overlap"]]
        if "build_s" in sd:
            L.append("Index build: ragd %.1f s, seed %.1f s (%.2fx)." % (sd["build_s"]["ragd"], sd["build_s"]["seed"],
                                                                         sd["build_s"]["seed"] / sd["build_s"]["ragd"]))
        L.append("")
    c = out.get("cache")
    if c and "runs" in c:
        L += ["## Cache (%s)" % c["log"], "",
              "Model calls: requests the index's embedder received (for the remote embedder, counted by the model "
              "server on 127.0.0.1). Avoided: `ragd_model_calls_avoided_total` by tier, for the index model and "
              "the key model. Wrong: semantic hits whose top 10 differs from a fresh search.", "",
              "| run | miss | exact | semantic | index-model calls | key-model calls | avoided (index model): vector / "
              "results / semantic | semantic hits with another top 10 | mean top-10 overlap | guard rejections |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in c["runs"].items():
            av = r["calls_avoided"]
            L.append("| %s | %d | %d | %d | %d | %d | %d / %d / %d | %d | %s | %s |" % (
                name, r["outcomes"]["miss"], r["outcomes"]["exact"], r["outcomes"]["semantic"], r["index_model_calls"],
                r["key_model_calls"], av.get('tier="vector",model="index"', 0), av.get('tier="results",model="index"', 0),
                av.get('tier="semantic",model="index"', 0), r["semantic_wrong_top10"],
                "%.2f" % r["semantic_mean_top10_overlap"] if r["semantic_mean_top10_overlap"] is not None else "-",
                ", ".join("%s %d" % (k.split('"')[1], v) for k, v in r["guard_rejections"].items()) or "0"))
        L += ["", "| run | outcome | requests | p50 ms | p99 ms | query p50 chars |", "|---|---|---|---|---|---|"]
        for name, r in c["runs"].items():
            for k, v in r["latency_ms"].items():
                L.append("| %s | %s | %d | %.2f | %.2f | %s |" % (name, k, r["outcomes"][k], v["p50"], v["p99"],
                                                              r.get("query_chars_p50", {}).get(k, "-")))
        L.append("")
    me = out.get("memory")
    if me:
        L += ["## Memory per million chunks (%s)" % me["note"], "",
              "| index spec | chunks | RSS MiB | MiB per million chunks (RAM) | MiB per million chunks (disk) | QPS, 16 conns (one shard) | p99 ms |",
              "|---|---|---|---|---|---|---|"]
        for spec, r in me["specs"].items():
            L.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f |" % (spec, r["chunks"], r["rss_kib"] / 1024,
                                                                    r["mib_per_million_chunks"],
                                                                    r["disk_mib_per_million_chunks"], r["qps_c16"],
                                                                    r["p99_ms_c16"]))
        L.append("")
    ro = out.get("router")
    if ro:
        L += ["## Router (%s; %d chunks, %s, %s embedder)" % (ro["layout"], ro["index_chunks"], ro["index_spec"],
                                                           ro["embedder"]), "",
              "| target | connections | QPS | p50 ms | p99 ms | QPS per round |", "|---|---|---|---|---|---|"]
        for c in (1, 16):
            for name in ("single", "router"):
                r = ro["runs"]["%s_c%d" % (name, c)]
                L.append("| %s | %d | %.0f | %.2f | %.2f | %s |" % (name, c, r["qps"], r["p50_ms"], r["p99_ms"],
                                                                  ", ".join("%.0f" % q for q in r["rounds_qps"])))
        L.append("")
    an = out.get("answers")
    if an:
        L += ["## Answers (%s; stand-in chat model with %.0f ms per call)" % (an["log"], an["model_delay_ms"]), "",
              "LLM calls: requests the model server received. Avoided: `ragd_llm_calls_avoided_total` by tier.", "",
              "| run | miss | exact | semantic | LLM calls | avoided exact / semantic | guard rejections |",
              "|---|---|---|---|---|---|---|"]
        for name, r in an["runs"].items():
            av, o = r["llm_calls_avoided"], r["outcomes"]
            L.append("| %s | %d | %d | %d | %d of %d requests | %d / %d | %s |" % (
                name, o["miss"], o["exact"], o["semantic"], r["llm_calls"], r["requests"], av.get('tier="exact"', 0),
                av.get('tier="semantic"', 0),
                ", ".join("%s %d" % (k.split('"')[1], v) for k, v in r["guard_rejections"].items()) or "0"))
        L += ["", "| run | outcome | requests | p50 ms | p99 ms |", "|---|---|---|---|---|"]
        for name, r in an["runs"].items():
            for k, v in r["latency_ms"].items():
                L.append("| %s | %s | %d | %.2f | %.2f |" % (name, k, r["outcomes"][k], v["p50"], v["p99"]))
        g = an["gateway"]
        L += ["", "Gateway: %d questions, alternating `/v1/answer` (no cache) and a direct POST of a prompt of "
              "the same size to the model server, one at a time:" % g["calls"], "",
              "| | p50 ms | p99 ms |", "|---|---|---|",
              "| direct call to the model server | %.2f | %.2f |" % (g["direct_ms"]["p50"], g["direct_ms"]["p99"]),
              "| POST /v1/answer (retrieval, prompt, gateway, model) | %.2f | %.2f |" % (g["answer_ms"]["p50"],
                                                                                   g["answer_ms"]["p99"]),
              "| ... of which the LLM call inside ragd (timings.llm_ms) | %.2f | %.2f |" % (g["answer_llm_ms"]["p50"],
                                                                                        g["answer_llm_ms"]["p99"]),
              "| added by ragd (client-side: /v1/answer minus the direct call) | %.2f | %.2f |" % (
                  g["added_ms"]["p50"], g["added_ms"]["p99"]),
              "| ... of which the gateway (timings.llm_ms minus the direct call) | %.2f | %.2f |" % (
                  g["answer_llm_ms"]["p50"] - g["direct_ms"]["p50"], g["answer_llm_ms"]["p99"] - g["direct_ms"]["p99"]),
              "", "The rest of what ragd adds is the retrieval (embedding the question, searching, fetching rows) "
              "and building the prompt; CISI's questions are long (up to 500 characters) to embed.", ""]
    for key in ("indexing", "indexing_minilm"):
        i = out.get(key)
        if not i:
            continue
        L += ["## Indexing (Python 3.11 docs crawled on 127.0.0.1, %s embedder)" % i["embedder"], "",
              "%d pages, %d chunks in %.1f s: %.0f pages/s, %.0f chunks/s (embedding %.1f%% of wall time). "
              "Incremental, nothing changed: %.2f s (%.0f%% of the full run), %d pages downloaded, %d answered 304, "
              "%d chunks embedded. Incremental, %d pages (1%%) changed: %.2f s (%.0f%%), %d pages downloaded, "
              "%d chunks embedded." %
              (i["pages"], i["chunks"], i["full_s"], i["pages_per_s"], i["chunks_per_s"], i["embed_share_of_wall"] * 100,
               i["incremental_nochange_s"], i["incremental_nochange_share_of_full"] * 100,
               i["incremental_nochange_downloaded"], i["incremental_nochange_not_modified"],
               i["incremental_nochange_embedded"], i["incremental_1pct_pages_changed"], i["incremental_1pct_s"],
               i["incremental_1pct_share_of_full"] * 100, i["incremental_1pct_downloaded"],
               i["incremental_1pct_embedded"]), ""]
    if out.get("guard"):
        L += [sts_curve.markdown(out["guard"])]
    if out.get("peers"):
        L += [peers.markdown(out["peers"])]
    a = out.get("ann")
    if a:
        L += ["## ANN (%d real all-MiniLM-L6-v2 chunk vectors of the Python docs, %d queries, exact top 10 as truth)" %
              (a["vectors"], a["queries"]), "", "| index | parameter | build s | QPS (1 thread) | recall@10 |", "|---|---|---|---|---|"]
        for p in a["points"]:
            L.append("| %s | %s | %.1f | %.0f | %.3f |" % (p["spec"], ("%s=%d" % (p["param"], p["value"])) if p["param"] else "",
                                                          p["build_s"], p["qps"], p["recall10"]))
        L.append("")
    for p in pngs:
        L.append("![%s](%s)" % (os.path.basename(p), os.path.basename(p)))
    return "\n".join(L) + "\n"


def main():
    os.makedirs(common.WORK, exist_ok=True)
    os.environ.setdefault("RAGD_MODEL_DIR", MODEL)  # the bench binaries live in build/bench, not bin/
    only = set(sys.argv[1:]) or {"indexing", "embedder", "service", "filters", "embeddings", "seed", "cache", "ann",
                                 "guard", "peers", "answers", "router", "memory"}
    out = {"machine": common.machine(), "command": "python3 bench/run.py " + " ".join(sys.argv[1:])}
    texts_file = os.path.join(common.WORK, "texts.txt")
    queries_file = os.path.join(common.WORK, "queries.txt")
    started = time.time()
    if "indexing-minilm" in only:
        section_indexing(out, "minilm", "indexing_minilm")
    if "indexing" in only:
        index = section_indexing(out)
    else:
        index = os.path.join(common.WORK, "pydocs-hash")
    if only & {"embedder", "service", "filters", "embeddings", "seed", "cache", "ann"} and \
            not os.path.exists(texts_file):
        rows = dump_texts(index, 0)
        with open(texts_file, "w") as f:
            for r in rows[:2000]:
                f.write(" ".join(r["text"].split()) + "\n")
        heads, seen = [], set()
        for r in rows:
            h = " ".join((r["headings"][-1] if r["headings"] else r["title"]).split())
            if h and h not in seen and len(h) < 120:
                seen.add(h)
                heads.append(h)
        with open(queries_file, "w") as f:
            f.write("\n".join(heads[:1000]) + "\n")
    for name, fn in [("embedder", lambda: section_embedder(out, texts_file, queries_file)),
                     ("service", lambda: section_service(out, queries_file)),
                     ("filters", lambda: section_filters(out, queries_file)),
                     ("embeddings", lambda: section_embeddings(out, queries_file)), ("seed", lambda: section_seed(out)),
                     ("cache", lambda: section_cache(out)), ("ann", lambda: section_ann(out, queries_file)),
                     ("guard", lambda: out.update(guard=sts_curve.measure(STSB))), ("peers", lambda: section_peers(out)),
                     ("answers", lambda: section_answers(out)),
                     ("router", lambda: section_router(out)), ("memory", lambda: section_memory(out))]:
        if name in only:
            t = time.time()
            fn()
            common.log("%s: %.0f s" % (name, time.time() - t))
    out["wall_s"] = round(time.time() - started, 1)
    everything = {"indexing", "embedder", "service", "filters", "embeddings", "seed", "cache", "ann", "guard", "peers",
                  "answers", "router", "memory"}
    path = common.save("bench" if only == everything else "bench-" + "-".join(sorted(only)), out)
    pngs = plots(out, path[:-5])
    with open(path[:-5] + ".md", "w") as f:
        f.write(markdown(out, pngs))
    print(open(path[:-5] + ".md").read())


if __name__ == "__main__":
    main()
