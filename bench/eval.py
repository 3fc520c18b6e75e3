"""eval.py - retrieval quality of ragd (and of the seed's LangChain stack) on a SMART collection.

    python3 bench/eval.py [--collection ../shared/datasets/cisi] [--seed-venv build/bench-venv]

Converts the collection into one text file per document, builds a ragd
index per embedder (hash, minilm, minilm at --precision bf16 and int8; Flat, i.e.
exact search), asks every
judged query through ragd-serve in each mode (vector; keyword, BM25 over
the FTS5 index, once; hybrid with the server's default fusion, and with
RRF; --alphas sweeps the convex weight), and scores the ranked documents
(a document ranks at its best chunk) with nDCG@10, recall@100 and MRR@10.
With a seed venv it also builds LangChain's FAISS vectorstore with
HuggingFaceEmbeddings (all-MiniLM-L6-v2) over the very same chunks and
scores it the same way. Writes bench/results/eval-DATE-HOST.json and .md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import metrics  # noqa: E402
import smart_collection  # noqa: E402

DEPTH = 300  # chunks asked for, so that 100 distinct documents come back


def ragd_runs(url, queries, **opts):
    """Ranked document ids per query from a running ragd-serve; opts: mode, alpha, fusion."""
    runs = {}
    for qid, text in queries.items():
        r = common.post_json(url + "/v1/search", dict({"query": text[:2000], "k": DEPTH}, **opts))
        runs[qid] = metrics.dedupe_docs([smart_collection.doc_id_of(h["url"]) for h in r["results"]])
    return runs


def dump_chunks(index, path):
    r = common.run([os.path.join(common.BIN, "ragd-index"), "dump", index])
    with open(path, "w") as f:
        f.write(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", default=os.path.join(common.ROOT, "..", "shared", "datasets", "cisi"))
    ap.add_argument("--seed-venv", default=os.environ.get("SEED_VENV", os.path.join(common.ROOT, "build", "bench-venv")))
    ap.add_argument("--embedders", default="hash,minilm,minilm-bf16,minilm-int8",
                    help="comma-separated; minilm-bf16 and minilm-int8 are minilm at --precision bf16 and int8 (issue 16)")
    ap.add_argument("--keyword-stemming", default="porter", help="the keyword index's stemming (porter or none)")
    ap.add_argument("--alphas", default="", help="also sweep hybrid convex fusion over these alphas "
                    "(comma-separated), to tune the default (on CISI only)")
    a = ap.parse_args()
    name = os.path.basename(os.path.normpath(a.collection))
    docs, queries, qrels = smart_collection.load(a.collection)
    work = os.path.join(common.WORK, "eval-" + name)
    shutil.rmtree(work, ignore_errors=True)
    smart_collection.write_docs(docs, os.path.join(work, "docs"))
    common.log("%s: %d documents, %d judged queries" % (name, len(docs), len(queries)))
    result = {"collection": name, "documents": len(docs), "queries": len(queries), "machine": common.machine(),
              "command": " ".join(sys.argv), "systems": {}}
    for emb in a.embedders.split(","):
        index = os.path.join(work, "index-" + emb)
        t = time.time()
        common.run([os.path.join(common.BIN, "ragd-index"), "build", "--out", index, "--source",
                    os.path.join(work, "docs"), "--embedder", emb.split("-")[0], "--index-spec", "Flat", "--shards", "2",
                    "--precision", emb.split("-")[1] if "-" in emb else "fp32",
                    "--log-level", "warn", "--report", os.path.join(work, "report-%s.json" % emb),
                    "--keyword-stemming", a.keyword_stemming])
        build_s = time.time() - t
        report = json.load(open(os.path.join(work, "report-%s.json" % emb)))
        # Three modes of one index: vector (Flat, exact), BM25 keyword, hybrid (the server defaults, then RRF).
        variants = [("ragd-" + emb, {"mode": "vector"}, "Flat (exact)"),
                    ("ragd-%s-hybrid" % emb, {"mode": "hybrid"}, "hybrid, server defaults (convex fusion)"),
                    ("ragd-%s-hybrid-rrf" % emb, {"mode": "hybrid", "fusion": "rrf"}, "hybrid, RRF")]
        # keyword search once, on the minilm index when there is one (the chunks hybrid fuses)
        if emb == ("minilm" if "minilm" in a.embedders.split(",") else a.embedders.split(",")[0]):
            variants.insert(1, ("ragd-keyword", {"mode": "keyword"}, "BM25 (FTS5, %s)" % (
                "porter stemming" if a.keyword_stemming == "porter" else "no stemming")))
        variants += [("ragd-%s-hybrid-a%s" % (emb, x), {"mode": "hybrid", "alpha": float(x)}, "hybrid, alpha %s" % x)
                     for x in a.alphas.split(",") if x]
        with common.ragd_serve(index, "--max-k", DEPTH, "--threads", "2") as url:
            for sysname, opts, desc in variants:
                runs = ragd_runs(url, queries, **opts)
                m = metrics.evaluate(runs, qrels)
                m.update({"build_s": round(build_s, 1), "search": desc, "request": opts})
                if opts["mode"] == "keyword":
                    m["keyword_index"] = report.get("keyword_index")
                result["systems"][sysname] = m
                common.log("%s: %s" % (sysname, m))
                if opts == {"mode": "vector"}:
                    with open(os.path.join(work, "runs-ragd-%s.json" % emb), "w") as f:
                        json.dump({str(k): v for k, v in runs.items()}, f)
    py = os.path.join(a.seed_venv, "bin", "python")
    if os.path.exists(py) and "minilm" in a.embedders:
        chunks = os.path.join(work, "chunks.jsonl")
        dump_chunks(os.path.join(work, "index-minilm"), chunks)
        qfile = os.path.join(work, "queries.json")
        with open(qfile, "w") as f:
            json.dump({str(k): v for k, v in queries.items()}, f)
        out = os.path.join(work, "runs-seed.json")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        common.run([py, os.path.join(common.ROOT, "bench", "seed_stack.py"), "eval", "--chunks", chunks,
                    "--model", os.path.join(common.ROOT, "models", "all-MiniLM-L6-v2"), "--queries", qfile,
                    "--k", DEPTH, "--out", out], env=env)
        seed = json.load(open(out))
        runs = {int(q): metrics.dedupe_docs([smart_collection.doc_id_of(u) for u in urls])
                for q, urls in seed["runs"].items()}
        m = metrics.evaluate(runs, qrels)
        m.update({"build_s": seed["build_s"], "search": "LangChain FAISS (exact L2 on normalised vectors)"})
        result["systems"]["seed-langchain-minilm"] = m
        mine = json.load(open(os.path.join(work, "runs-ragd-minilm.json")))
        overlap = [len(set(mine[str(q)][:5]) & set(runs[q][:5])) / 5 for q in runs if str(q) in mine]
        result["top5_doc_overlap_ragd_minilm_vs_seed"] = sum(overlap) / len(overlap)
        common.log("seed: %s" % m)
    else:
        common.log("no seed venv at %s: skipping the LangChain comparison (bench/setup_venv.sh makes it)" % a.seed_venv)
    path = common.save("eval-" + name, result)
    lines = ["# Retrieval quality on %s (%d documents, %d judged queries)" % (name, len(docs), len(queries)), "",
             "Command: `%s`, %s, %d cores, %s" % (result["command"], result["machine"]["cpu"],
                                                 result["machine"]["cores"], result["machine"]["date"]), "",
             "| system | search | nDCG@10 | recall@100 | MRR@10 | build s |", "|---|---|---|---|---|---|"]
    for s, m in result["systems"].items():
        lines.append("| %s | %s | %.4f | %.4f | %.4f | %s |" % (s, m["search"], m["ndcg@10"], m["recall@100"], m["mrr@10"],
                                                             m["build_s"]))
    if "top5_doc_overlap_ragd_minilm_vs_seed" in result:
        lines += ["", "Top-5 document overlap, ragd minilm vs seed: %.3f" % result["top5_doc_overlap_ragd_minilm_vs_seed"]]
    with open(path[:-5] + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
