"""metrics.py - nDCG@10, recall@100 and MRR@10 over binary relevance judgements."""
import math


def ndcg_at(ranked, relevant, k=10):
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked, relevant, k=100):
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr_at(ranked, relevant, k=10):
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(runs, qrels):
    """runs {qid: [docid ranked]} -> mean metrics over the judged queries."""
    qs = [q for q in runs if q in qrels]
    n = len(qs) or 1
    return {"queries": len(qs),
            "ndcg@10": sum(ndcg_at(runs[q], qrels[q]) for q in qs) / n,
            "recall@100": sum(recall_at(runs[q], qrels[q]) for q in qs) / n,
            "mrr@10": sum(mrr_at(runs[q], qrels[q]) for q in qs) / n}


def dedupe_docs(hits):
    """Chunk hits (doc ids, best first) -> documents in order of their best chunk."""
    seen, out = set(), []
    for d in hits:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out
