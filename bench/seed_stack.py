"""seed_stack.py - the Python stack ragd replaces, for side-by-side runs (runs in the bench venv).

LangChain's FAISS vectorstore with HuggingFaceEmbeddings (all-MiniLM-L6-v2),
served by FastAPI/uvicorn with a ?query= endpoint returning the top 5, as
the seed project's Ray Serve FAISS example does. Built over chunks dumped
from a ragd index (`ragd-index dump`), so both systems search the same text.

    python seed_stack.py eval  --chunks C.jsonl --model DIR --queries Q.json --k 300 --out runs.json
    python seed_stack.py serve --chunks C.jsonl --model DIR --port 8000
    python seed_stack.py embed --model DIR --texts T.txt --queries Q.txt --out st.json
"""
import argparse
import json
import statistics
import sys
import time


def embeddings(model):
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError:
        from langchain_community.embeddings import HuggingFaceEmbeddings
    return HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"})


def load_chunks(path):
    texts, metas = [], []
    with open(path) as f:
        for line in f:
            c = json.loads(line)
            texts.append(c["text"])
            metas.append({"source": c["url"], "id": str(c["id"])})
    return texts, metas


def build(chunks, model):
    from langchain_community.vectorstores import FAISS
    texts, metas = load_chunks(chunks)
    t = time.time()
    store = FAISS.from_texts(texts, embeddings(model), metadatas=metas)
    return store, time.time() - t


def cmd_eval(a):
    store, build_s = build(a.chunks, a.model)
    queries = json.load(open(a.queries))
    runs = {q: [d.metadata["source"] for d, _ in store.similarity_search_with_score(text[:2000], k=a.k)]
            for q, text in queries.items()}
    json.dump({"build_s": round(build_s, 1), "runs": runs}, open(a.out, "w"))


def cmd_serve(a):
    import uvicorn
    from fastapi import FastAPI
    store, build_s = build(a.chunks, a.model)
    print("seed: built FAISS over %s in %.1f s" % (a.chunks, build_s), file=sys.stderr, flush=True)
    app = FastAPI()

    @app.get("/")
    def search(query: str = ""):
        if not query:
            return {"results": [], "status": "empty_query", "message": "Please provide a query parameter"}
        docs = store.similarity_search_with_score(query, k=5)
        return {"results": [{"content": d.page_content, "source": d.metadata["source"], "score": float(s)}
                            for d, s in docs], "status": "success", "message": "Found %d results" % len(docs)}

    @app.get("/ready")
    def ready():
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


def cmd_embed(a):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(a.threads)
    m = SentenceTransformer(a.model, device="cpu")
    texts = [l.rstrip("\n") for l in open(a.texts)]
    queries = [l.rstrip("\n") for l in open(a.queries)]
    m.encode(texts[:64], batch_size=32)  # warm up

    def batch(lo, hi):
        torch.set_num_threads(a.threads)
        t = time.perf_counter()
        m.encode(texts[lo:hi], batch_size=a.batch)
        return time.perf_counter() - t

    def single(lo, hi):
        torch.set_num_threads(1)  # single-query latency on one core, as ragd's is measured
        lat = []
        for q in queries[lo:hi]:
            t = time.perf_counter()
            m.encode([q])
            lat.append((time.perf_counter() - t) * 1000)
        return lat

    if a.interleave:  # the commands of build/bench/embed_bench --interleave, for bench/run.py
        for line in sys.stdin:
            w = line.split()
            cmd, lo, hi = w[0], int(w[1]), int(w[2])
            if cmd == "vectors":  # raw float32 rows to w[3]
                torch.set_num_threads(a.threads)
                m.encode(texts[lo:hi], batch_size=a.batch, normalize_embeddings=True).astype("float32").tofile(w[3])
                reply = {"texts": hi - lo}
            else:
                reply = {"s": batch(lo, hi), "texts": len(texts[lo:hi])} if cmd == "batch" else {"ms": single(lo, hi)}
            print(json.dumps(reply), flush=True)
        return
    batch_s = batch(0, len(texts))
    lat = sorted(single(0, len(queries)))
    json.dump({"texts": len(texts), "batch_s": batch_s, "chunks_per_s": len(texts) / batch_s,
               "query_p50_ms": statistics.median(lat), "query_p99_ms": lat[int(len(lat) * 0.99) - 1],
               "threads": a.threads, "query_threads": 1, "torch": torch.__version__}, open(a.out, "w"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--chunks"), e.add_argument("--model"), e.add_argument("--queries")
    e.add_argument("--k", type=int, default=100), e.add_argument("--out")
    s = sub.add_parser("serve")
    s.add_argument("--chunks"), s.add_argument("--model"), s.add_argument("--port", type=int)
    m = sub.add_parser("embed")
    m.add_argument("--model"), m.add_argument("--texts"), m.add_argument("--queries"), m.add_argument("--out")
    m.add_argument("--threads", type=int, default=2), m.add_argument("--batch", type=int, default=32)
    m.add_argument("--interleave", action="store_true", help="answer batch/queries commands on stdin")
    a = ap.parse_args()
    {"eval": cmd_eval, "serve": cmd_serve, "embed": cmd_embed}[a.cmd](a)


if __name__ == "__main__":
    main()
