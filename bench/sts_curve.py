"""sts_curve.py - how often a semantic-cache hit joins two sentences humans call different.

STS-benchmark dev pairs (../shared/datasets/stsb/sts-dev.csv, human scores
0-5) embedded with ragd's own minilm encoder (`ragd-index embed`). For a
cosine threshold t a pair "hits" when cos >= t. A hit on a pair scored < 4
is a wrong hit; pairs scored >= 4.5 should hit. The pairs are split in two
halves by id (tune on "tune", report "held-out"), so a guard tuned later on
one half is judged on the other. For each threshold: hits, wrong hits,
wrong-hit rate (wrong / hits) and hit rate (hits among the >= 4.5 pairs).

This is the cosine-only baseline that a guard must beat (issue 13's target:
wrong hits <= 2% of semantic hits while hitting >= 30% of the >= 4.5 pairs).

    python3 bench/sts_curve.py [--stsb DIR] [--out FILE.json]
"""
import argparse
import csv
import hashlib
import json
import math
import os
import subprocess
import sys

import common

THRESHOLDS = [round(0.80 + 0.005 * i, 3) for i in range(40)]  # 0.800 .. 0.995


def load_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 7:
                continue
            try:
                score = float(row[4])
            except ValueError:
                continue
            a, b = " ".join(row[5].split()), " ".join(row[6].split())
            if a and b:
                half = "tune" if int(hashlib.sha256(row[3].encode() + row[1].encode()).hexdigest(), 16) % 2 == 0 \
                    else "held-out"
                pairs.append({"score": score, "a": a, "b": b, "half": half})
    return pairs


def embed(texts):
    """One vector per text, by the native encoder (the same vectors the service uses)."""
    r = subprocess.run([os.path.join(common.BIN, "ragd-index"), "embed", "--embedder", "minilm"],
                       input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    vecs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(vecs) == len(texts), (len(vecs), len(texts))
    return vecs


def curve(pairs):
    same = [p for p in pairs if p["score"] >= 4.5]
    points = []
    for t in THRESHOLDS:
        hits = [p for p in pairs if p["cos"] >= t]
        wrong = [p for p in hits if p["score"] < 4]
        points.append({"threshold": t, "hits": len(hits), "wrong_hits": len(wrong),
                       "wrong_hit_rate": round(len(wrong) / len(hits), 4) if hits else 0.0,
                       "hit_rate_same": round(sum(1 for p in same if p["cos"] >= t) / len(same), 4) if same else 0.0})
    return {"pairs": len(pairs), "same_pairs": len(same), "different_pairs": sum(1 for p in pairs if p["score"] < 4),
            "points": points}


def measure(stsb_dir):
    pairs = load_pairs(os.path.join(stsb_dir, "sts-dev.csv"))
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    vec = dict(zip(texts, embed(texts)))
    for p in pairs:
        a, b = vec[p["a"]], vec[p["b"]]
        p["cos"] = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return {"data": os.path.join(stsb_dir, "sts-dev.csv"), "embedder": "minilm (ragd-index embed)",
            "rule": "hit = cosine >= threshold; wrong = hit on a pair scored < 4; hit rate over pairs scored >= 4.5",
            "command": "python3 bench/sts_curve.py",
            "halves": {h: curve([p for p in pairs if p["half"] == h]) for h in ("tune", "held-out")}}


def markdown(res):
    L = ["## Semantic-cache guard baseline: cosine threshold alone on STS-benchmark dev pairs", "",
         "%s; `%s`. Held-out half: %d pairs (%d scored >= 4.5, %d scored < 4)." %
         (res["rule"], res["command"], res["halves"]["held-out"]["pairs"], res["halves"]["held-out"]["same_pairs"],
          res["halves"]["held-out"]["different_pairs"]), "",
         "| threshold | hits | wrong hits | wrong-hit rate | hit rate (>= 4.5 pairs) |", "|---|---|---|---|---|"]
    for p in res["halves"]["held-out"]["points"]:
        if int(round(p["threshold"] * 1000)) % 10 == 0 or p["threshold"] >= 0.95:
            L.append("| %.3f | %d | %d | %.1f%% | %.1f%% |" % (p["threshold"], p["hits"], p["wrong_hits"],
                                                            100 * p["wrong_hit_rate"], 100 * p["hit_rate_same"]))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stsb", default=os.path.join(common.ROOT, "..", "shared", "datasets", "stsb"))
    ap.add_argument("--out")
    a = ap.parse_args()
    res = measure(a.stsb)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)
    print(markdown(res))


if __name__ == "__main__":
    sys.exit(main())
