"""peers.py - ragd against Chroma, the vector database users would deploy instead (issue 19).

Run by `python3 bench/run.py peers` in the Chroma venv (bench/setup_venv.sh
makes build/chroma-venv: chromadb pinned, numpy), or by hand:

    build/chroma-venv/bin/python bench/peers.py --out RESULT.json [--reuse]

1. Builds a ragd index of Debian's Python docs with the native minilm
   encoder (its default precision), one shard, HNSW32 (FAISS's
   efConstruction 40), chunks of 64 tokens: about 70,000 vectors.
2. Starts Chroma's own server (`chroma run`, persistent path under
   build/bench/peers) and loads it, through its Python client, with
   exactly the vectors, texts, URLs and titles in ragd's chunk stores;
   its HNSW configured the same: cosine, max_neighbors (M) 32,
   ef_construction 40, ef_search EF; ragd-serve gets --ef-search EF.
3. recall@10 of both against exact inner-product search (numpy) over the
   same vectors, for every query, one request at a time.
4. wrk (bench/wrk_queries.lua, its "bodies" mode: one JSON body per line,
   POSTed in turn; the same script and the same numbers for both) at 1 and
   16 connections, alternating rounds in rotating order:
     ragd_vector   POST /v1/search {"vector": [...], "k": 10, "mode": "vector"}
     chroma        POST .../collections/ID/query {"query_embeddings": [[...]],
                   "n_results": 10, "include": [documents, metadatas, distances]}
     ragd_text     POST /v1/search {"query": TEXT, "k": 10, "mode": "vector"}
                   (ragd embeds the text itself; Chroma's server cannot, so
                   it keeps the precomputed vector: the comparison favours it)
   Both answer with the texts, URLs and titles of the top 10.
5. Ingest: ragd's build (crawl-free folder walk, extraction, chunking,
   embedding, FAISS and SQLite) with its stage times, and Chroma's add of
   the precomputed vectors until every one is queryable.

Prints nothing but progress on stderr; writes one JSON object to --out.
"""
import argparse
import json
import random
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

DOCS = "/usr/share/doc/python3.11/html"
IDX = os.path.join(common.BIN, "ragd-index")
M, EF_CONSTRUCTION = 32, 40  # ragd's default HNSW32 and FAISS's default efConstruction
K = 10


def log(*a):
    common.log("peers:", *a)


def post(url, body, timeout=60):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def build_index(index, reuse):
    report = index + "-report.json"
    if reuse and os.path.exists(os.path.join(index, "current")) and os.path.exists(report):
        log("reusing", index)
        return json.load(open(report)), None
    shutil.rmtree(index, ignore_errors=True)
    args = [IDX, "build", "--out", index, "--source", DOCS, "--embedder", "minilm", "--shards", "1",
            "--index-spec", "HNSW%d" % M, "--chunk-tokens", "64", "--chunk-overlap", "8", "--report", report,
            "--log-level", "warn"]
    t = time.time()
    common.run(args)
    return json.load(open(report)), {"seconds": time.time() - t, "command": " ".join(args)}


def read_stores(index):
    """Every chunk of the live version: ids, vectors (float32), texts, URLs, titles, last headings."""
    import numpy as np
    version = os.path.realpath(os.path.join(index, "current"))
    manifest = json.load(open(os.path.join(version, "manifest.json")))
    ids, vecs, texts, urls, titles, heads = [], [], [], [], [], []
    for sh in manifest["shards"]:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(version, sh["store_file"]), uri=True)
        for cid, url, title, hd, text, vec in db.execute(
                "SELECT id, doc_url, title, headings, text, vector FROM chunks ORDER BY id"):
            ids.append(cid)
            urls.append(url)
            titles.append(title)
            texts.append(text)
            h = json.loads(hd)
            heads.append(" ".join((h[-1] if h else title).split()))
            vecs.append(np.frombuffer(vec, dtype="<f4"))
        db.close()
    return manifest, np.array(ids, dtype=np.int64), np.vstack(vecs), texts, urls, titles, heads


MARKUP = ("`", "..", "==", "--", "~~", "**", "::", ":mod:", ":class:", ":func:")


def pick_queries(heads, n=1000):
    """Distinct section headings in a seeded order, as bench/run.py picks them, without the
    reStructuredText markup of the docs' _sources/*.rst.txt copies (".. _label:", "=====")."""
    order = list(range(len(heads)))
    random.Random(1).shuffle(order)
    out, seen = [], set()
    for i in order:
        h = heads[i]
        if h and h not in seen and len(h) < 120 and not any(m in h for m in MARKUP):
            seen.add(h)
            out.append(h)
    return out[:n]


def embed_queries(queries, precision):
    """The query vectors ragd-serve computes for these texts (same encoder, same precision)."""
    import numpy as np
    r = common.run([IDX, "embed", "--embedder", "minilm", "--precision", precision], input="\n".join(queries) + "\n")
    return np.array([json.loads(l) for l in r.stdout.splitlines()], dtype=np.float32)


class Chroma:
    def __init__(self, path, venv_bin, fresh=True):
        self.port = common.free_port()
        self.path, self.venv_bin = path, venv_bin
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
        self.log = open(path + ".log", "a")
        self.p = subprocess.Popen([os.path.join(venv_bin, "chroma"), "run", "--path", path, "--host", "127.0.0.1",
                                   "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url("/api/v2/heartbeat"), timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise SystemExit("chroma did not start (see %s.log)" % path)

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.p.terminate()
        self.p.wait(30)
        self.log.close()

    def restart(self):
        """The same database in a new server process (a configuration change reaches the loaded index)."""
        self.close()
        self.__init__(self.path, self.venv_bin, fresh=False)


def load_chroma(ch, ef_search, ids, vecs, texts, urls, titles):
    import chromadb
    client = chromadb.HttpClient(host="127.0.0.1", port=ch.port)
    cfg = {"hnsw": {"space": "cosine", "max_neighbors": M, "ef_construction": EF_CONSTRUCTION, "ef_search": ef_search}}
    col = client.create_collection("ragd-peer", configuration=cfg, embedding_function=None)
    batch = client.get_max_batch_size()
    t = time.time()
    for i in range(0, len(ids), batch):
        j = min(i + batch, len(ids))
        col.add(ids=[str(x) for x in ids[i:j]], embeddings=vecs[i:j], documents=texts[i:j],
                metadatas=[{"url": u, "title": ti} for u, ti in zip(urls[i:j], titles[i:j])])
    added = time.time() - t
    while col.count() < len(ids):
        time.sleep(0.2)
    return col, {"seconds": time.time() - t, "add_seconds": added, "batch": batch,
                 "configuration": col.configuration_json if hasattr(col, "configuration_json") else cfg,
                 "chromadb": chromadb.__version__}


def fmt(v):
    return "[" + ",".join("%.9g" % x for x in v) + "]"


def bodies(work, qvecs, queries):
    """One file of request bodies per target, line i = query i."""
    files = {"ragd_vector": os.path.join(work, "bodies-ragd-vector.txt"),
             "chroma": os.path.join(work, "bodies-chroma.txt"),
             "ragd_text": os.path.join(work, "bodies-ragd-text.txt")}
    with open(files["ragd_vector"], "w") as f:
        for v in qvecs:
            f.write(json.dumps({"k": K, "mode": "vector"})[:-1] + ', "vector": ' + fmt(v) + "}\n")
    with open(files["chroma"], "w") as f:
        for v in qvecs:
            f.write('{"query_embeddings": [' + fmt(v) + '], "n_results": %d, '
                    '"include": ["documents", "metadatas", "distances"]}\n' % K)
    with open(files["ragd_text"], "w") as f:
        for q in queries:
            f.write(json.dumps({"query": q, "k": K, "mode": "vector"}) + "\n")
    return files


def recall(truth, got):
    return statistics.mean(len(set(t) & set(g)) / K for t, g in zip(truth, got))


def one_recall(url, bodies, truth):
    ids = []
    for line in open(bodies):
        r = post(url, line)
        ids.append([int(h["id"]) for h in r["results"]] if "results" in r else [int(x) for x in r["ids"][0]])
    return recall(truth, ids)


def measure_recall(ragd_url, chroma_query_url, files, truth):
    return {name: one_recall(url, files[name], truth)
            for name, url in (("ragd_vector", ragd_url + "/v1/search"), ("ragd_text", ragd_url + "/v1/search"),
                              ("chroma", chroma_query_url))}


def sweep_ef(index, col, ch, qpath, files, truth, efs, seconds, serve_arg):
    """recall@10 and QPS at 16 connections of both over efSearch (the same value on both at each point):
    the QPS-recall curves, so each side can be read at the other's recall."""
    import chromadb
    points = []
    for ef in efs:
        with common.ragd_serve(index, "--ef-search", str(ef), *serve_arg) as url:
            rec = one_recall(url + "/v1/search", files["ragd_text"], truth)
            r = common.wrk(url, 16, seconds, files["ragd_text"], "/v1/search", "bodies")
        points.append({"system": "ragd_text", "ef_search": ef, "recall10": rec, "qps": r["qps"], "p99_ms": r["p99_ms"],
                       "errors": r["errors"] + r["non2xx"]})
        # A running Chroma 1.5.9 keeps the ef_search its loaded index was opened with (measured: the
        # recall did not move): change it, then restart the server on the same data.
        col.modify(configuration={"hnsw": {"ef_search": ef}})
        ch.restart()
        col = chromadb.HttpClient(host="127.0.0.1", port=ch.port).get_collection(col.name)
        rec = one_recall(ch.url(qpath), files["chroma"], truth)
        r = common.wrk(ch.url(), 16, seconds, files["chroma"], qpath, "bodies")
        points.append({"system": "chroma", "ef_search": ef, "recall10": rec, "qps": r["qps"], "p99_ms": r["p99_ms"],
                       "errors": r["errors"] + r["non2xx"]})
        log("efSearch %d: ragd %.3f / %.0f q/s, chroma %.3f / %.0f q/s" % (
            ef, points[-2]["recall10"], points[-2]["qps"], points[-1]["recall10"], points[-1]["qps"]))
    return points


LABEL = {"ragd_text": "ragd, text in (embeds the query)", "ragd_vector": "ragd, vector in",
         "chroma": "Chroma %s, vector in"}


def markdown(p):
    """The peers section of the benchmark report."""
    h = p["hnsw"]
    L = ["## Peers: ragd and Chroma side by side (%d all-MiniLM-L6-v2 vectors of the Python docs, %s)" %
         (p["vectors"], p["precision"]), "",
         "Same vectors, texts, URLs and titles on both (read from ragd's chunk stores); HNSW M=%d, "
         "efConstruction=%d, efSearch=%d on both; k=%d; %d queries (section headings); wrk, %d rounds of %d s in "
         "rotating order, medians. Chroma's server cannot embed text, so in the text-in row ragd embeds each "
         "query while Chroma is still given its vector." % (h["M"], h["ef_construction"], h["ef_search"], p["k"],
                                                            p["queries"], p["rounds"], p["wrk_seconds"]), "",
         "| target | recall@10 | QPS 1 conn | p50 / p99 ms | QPS 16 conns | p50 / p99 ms | vs Chroma at 16: QPS, p99 |",
         "|---|---|---|---|---|---|---|"]
    ver = p.get("chroma_load", {}).get("chromadb", "")
    for n in ("ragd_text", "ragd_vector", "chroma"):
        r1, r16 = p["runs"]["%s_c1" % n], p["runs"]["%s_c16" % n]
        vs = "%.2fx, %.2fx" % (r16["qps_vs_chroma"], r16["p99_vs_chroma"]) if "qps_vs_chroma" in r16 else ""
        L.append("| %s | %.3f | %.0f | %.2f / %.2f | %.0f | %.2f / %.2f | %s |" % (
            LABEL[n] % ver if "%s" in LABEL[n] else LABEL[n], p["recall10"][n], r1["qps_median"], r1["p50_ms_median"],
            r1["p99_ms_median"], r16["qps_median"], r16["p50_ms_median"], r16["p99_ms_median"], vs))
    t1 = p["runs"]["ragd_text_c1"]["qps_vs_chroma"]
    L += ["", "At 1 connection ragd (text in) makes %.2fx Chroma's QPS. Errors: %s." % (
        t1, ", ".join("%s %d" % (k, v["errors"]) for k, v in p["runs"].items())), ""]
    b, c = p.get("ragd_build", {}), p.get("chroma_load", {})
    d = p.get("ragd_build_report", {}).get("durations_ms", {})
    if "seconds" in b:
        L.append("Ingest: `ragd-index build` of the docs folder %.1f s for %d chunks, embedding included (the "
                 "encoder ran %.1f s summed over its threads); of it, building the FAISS index and the SQLite "
                 "store from the vectors and publishing took %.1f s. Chroma's add of the precomputed vectors, "
                 "texts and metadata through its client, in batches of %d, until all were counted: %.1f s." % (
                     b["seconds"], p["vectors"], d.get("embed", 0) / 1000, (d.get("build", 0) + d.get("publish", 0)) / 1000,
                     c["batch"], c["seconds"]))
    L += ["", "Commands: `%s`; Chroma `%s`." % (p["runs"]["ragd_text_c16"]["command"], p["runs"]["chroma_c16"]["command"]),
          ""]
    sw = p.get("sweep")
    if sw:
        L += ["QPS against recall@10 at 16 connections, efSearch the same on both at each point (ragd text in, "
              "Chroma vector in; one %d s wrk run per point):" % p["wrk_seconds"], "",
              "| efSearch | ragd recall@10 | ragd QPS | ragd p99 ms | Chroma recall@10 | Chroma QPS | Chroma p99 ms |",
              "|---|---|---|---|---|---|---|"]
        for ef in sorted({x["ef_search"] for x in sw}):
            r = next(x for x in sw if x["ef_search"] == ef and x["system"] == "ragd_text")
            c = next(x for x in sw if x["ef_search"] == ef and x["system"] == "chroma")
            L.append("| %d | %.3f | %.0f | %.1f | %.3f | %.0f | %.1f |" % (ef, r["recall10"], r["qps"], r["p99_ms"],
                                                                      c["recall10"], c["qps"], c["p99_ms"]))
        L.append("")
    prof = p.get("profile")
    if prof:
        names = list(prof)
        parts = sorted({k for v in prof.values() for k in v["parts"]}, key=lambda k: -prof[names[-1]]["parts"].get(k, 0))
        L += ["Where ragd-serve's CPU goes at 16 connections, text in (perf samples, `bench/profile_serve.sh`; "
              "QPS under perf):", "", "| part | " + " | ".join("%s (%.0f QPS)" % (n, prof[n]["qps_under_perf"])
                                                             for n in names) + " |",
              "|---|" + "---|" * len(names)]
        for k in parts:
            L.append("| %s | %s |" % (k, " | ".join("%.1f%%" % prof[n]["parts"].get(k, 0) for n in names)))
        L.append("")
    return "\n".join(L)


def plots(p, base):
    """QPS bars (1 and 16 connections) and the latency CDF at 16; PNG paths."""
    if not shutil.which("gnuplot"):
        return []
    names = ("ragd_text", "ragd_vector", "chroma")
    dat = base + "-peers-qps.dat"
    with open(dat, "w") as f:
        for n in names:
            f.write('"%s (recall %.3f)" %f %f\n' % (n.replace("_", " "), p["recall10"][n],
                                                    p["runs"][n + "_c1"]["qps_median"], p["runs"][n + "_c16"]["qps_median"]))
    png = base + "-peers-qps.png"
    subprocess.run(["gnuplot", "-e", "set terminal png size 900,560 noenhanced; set output '%s'; set style data histograms; "
                    "set style fill solid 0.8 border -1; set boxwidth 0.9; set ylabel 'queries/s (median of rounds)'; "
                    "set key top right; set grid ytics; set yrange [0:*]; "
                    "set title 'ragd vs Chroma, %d vectors, k=10, HNSW M=%d efSearch=%d'; "
                    "plot '%s' using 2:xtic(1) title '1 connection', '' using 3 title '16 connections'" %
                    (png, p["vectors"], p["hnsw"]["M"], p["hnsw"]["ef_search"], dat)], check=True)
    made = [png]
    made.append(common.latency_cdf_plot(
        [(n.replace("_", " "), p["runs"][n + "_c16"]["last_percentiles_us"]) for n in names],
        base + "-peers-latency.dat", base + "-peers-latency-c16.png",
        "ragd vs Chroma at 16 connections (wrk, last round)"))
    sw = p.get("sweep")
    if sw:
        dat = base + "-peers-sweep.dat"
        with open(dat, "w") as f:
            for n in ("ragd_text", "chroma"):
                f.write("# %s\n" % n)
                for x in sorted((x for x in sw if x["system"] == n), key=lambda x: x["ef_search"]):
                    f.write("%f %f %d\n" % (x["recall10"], x["qps"], x["ef_search"]))
                f.write("\n\n")
        png = base + "-peers-recall-qps.png"
        subprocess.run(["gnuplot", "-e", "set terminal png size 900,560 noenhanced; set output '%s'; set grid; "
                        "set xlabel 'recall@10'; set ylabel 'queries/s at 16 connections'; set key top right; "
                        "set yrange [0:*]; set title 'QPS against recall, efSearch swept on both (labels)'; "
                        "plot '%s' index 0 with linespoints title 'ragd, text in', '' index 0 using 1:2:3 with labels "
                        "offset 0,1 notitle, '' index 1 with linespoints title 'Chroma, vector in', '' index 1 using "
                        "1:2:3 with labels offset 0,-1 notitle" % (png, dat)], check=True)
        made.append(png)
    return made


def main():
    import numpy as np
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--queries", help="query texts, one per line (default: 1,000 of the index's headings)")
    ap.add_argument("--ef-search", type=int, default=100, help="HNSW efSearch on both (Chroma's default: 100)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("WRK_SECONDS", "10")))
    ap.add_argument("--reuse", action="store_true", help="keep an existing index (development)")
    ap.add_argument("--sweep", default="16,32,64,100,200",
                    help="efSearch values for the QPS-recall curves at 16 connections (\"\": none)")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra ragd-serve argument")
    a = ap.parse_args()
    work = os.path.join(common.WORK, "peers")
    os.makedirs(work, exist_ok=True)
    out = {"machine": common.machine(), "hnsw": {"M": M, "ef_construction": EF_CONSTRUCTION, "ef_search": a.ef_search},
           "k": K, "wrk_seconds": a.seconds, "rounds": a.rounds}

    index = os.path.join(work, "index")
    report, build = build_index(index, a.reuse)
    out["ragd_build"] = build or {"reused": True}
    out["ragd_build_report"] = {k: report.get(k) for k in ("chunks", "embed", "durations_ms") if k in report}
    manifest, ids, vecs, texts, urls, titles, heads = read_stores(index)
    precision = manifest["embedder"].get("precision", "fp32")
    out.update(vectors=len(ids), dim=int(vecs.shape[1]), model_id=manifest["embedder"]["model_id"], precision=precision)
    log("%d vectors of %d dimensions (%s)" % (len(ids), vecs.shape[1], manifest["embedder"]["model_id"]))

    queries = [l.strip() for l in open(a.queries) if l.strip()] if a.queries else pick_queries(heads)
    qvecs = embed_queries(queries, precision)
    scores = qvecs @ vecs.T
    top = np.argsort(-scores, axis=1)[:, :K]
    truth = [[int(ids[j]) for j in row] for row in top]
    files = bodies(work, qvecs, queries)
    out["queries"] = len(queries)

    ch = Chroma(os.path.join(work, "chroma"), os.path.dirname(sys.executable))
    try:
        col, out["chroma_load"] = load_chroma(ch, a.ef_search, ids, vecs, texts, urls, titles)
        log("chroma loaded in %.1f s" % out["chroma_load"]["seconds"])
        qpath = "/api/v2/tenants/default_tenant/databases/default_database/collections/%s/query" % col.id
        with common.ragd_serve(index, "--ef-search", str(a.ef_search), *a.serve_arg) as url:
            out["ragd_serve_args"] = ["--ef-search", str(a.ef_search)] + a.serve_arg
            out["recall10"] = measure_recall(url, ch.url(qpath), files, truth)
            log("recall@10", out["recall10"])
            targets = {"ragd_vector": (url, "/v1/search"), "chroma": (ch.url(), qpath),
                       "ragd_text": (url, "/v1/search")}
            runs = {}
            names = list(targets)
            for rnd in range(a.rounds):
                for c in (1, 16):
                    order = names[rnd % 3:] + names[:rnd % 3]
                    for n in order:
                        base, path = targets[n]
                        r = common.wrk(base, c, a.seconds, files[n], path, "bodies")
                        runs.setdefault("%s_c%d" % (n, c), []).append(r)
                        log("round %d c=%d %s: %.0f q/s p99 %.1f ms (%d errors, %d non-2xx)" %
                            (rnd + 1, c, n, r["qps"], r["p99_ms"], r["errors"], r["non2xx"]))
        if a.sweep:
            out["sweep"] = sweep_ef(index, col, ch, qpath, files, truth, [int(x) for x in a.sweep.split(",")],
                                    a.seconds, a.serve_arg)
    finally:
        ch.close()
    if shutil.which("perf"):
        # Where ragd's CPU goes at 16 connections, text in: the encoder at fp32 and at this CPU's default.
        out["profile"] = {}
        for name, extra in (("fp32", ["--precision", "fp32"]), ("default", [])):
            cmd = ["bash", os.path.join(common.ROOT, "bench", "profile_serve.sh"), index, files["ragd_text"],
                   "--ef-search", str(a.ef_search)] + extra
            try:
                text = common.run(cmd).stdout
            except SystemExit as e:  # perf refused (paranoid setting, no PMU): no profile, not a failed run
                log("no profile:", str(e)[:200])
                out.pop("profile")
                break
            qps = float(text.split("Requests/sec:")[1].split()[0])
            parts = {l[9:].strip(): float(l[:6]) for l in text.splitlines() if "%" in l[:8]}
            out["profile"][name] = {"qps_under_perf": qps, "parts": parts, "command": " ".join(cmd)}
    summary = {}
    for key, rs in runs.items():
        summary[key] = {"qps_median": statistics.median(r["qps"] for r in rs),
                        "qps": [r["qps"] for r in rs],
                        "p50_ms_median": statistics.median(r["p50_ms"] for r in rs),
                        "p99_ms_median": statistics.median(r["p99_ms"] for r in rs),
                        "p99_ms": [r["p99_ms"] for r in rs],
                        "errors": sum(r["errors"] + r["non2xx"] for r in rs),
                        "last_percentiles_us": rs[-1]["percentiles_us"],
                        "command": rs[0]["command"]}
    out["runs"] = summary
    for c in (1, 16):
        ch_qps = summary["chroma_c%d" % c]["qps_median"]
        ch_p99 = summary["chroma_c%d" % c]["p99_ms_median"]
        for n in ("ragd_vector", "ragd_text"):
            s = summary["%s_c%d" % (n, c)]
            s["qps_vs_chroma"] = s["qps_median"] / ch_qps
            s["p99_vs_chroma"] = s["p99_ms_median"] / ch_p99
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
    log("wrote", a.out)


if __name__ == "__main__":
    main()
