"""sts_curve.py - how often a semantic-cache hit joins two sentences humans call different, with and without the guard.

STS-benchmark pairs (../shared/datasets/stsb/, human scores 0-5) embedded
with ragd's own minilm encoder (`ragd-index embed`). For a cosine
threshold t a pair "hits" when cos >= t (threshold alone), or when
cos >= t and the guard accepts the two texts (threshold + guard: the C
guard of cache/query_guard.c, run by build/bench/guard_eval). A hit on a
pair scored < 4 is a wrong hit; pairs scored >= 4.5 should hit. The dev
pairs are split in two halves by a hash of their id ("tune", "held-out");
the guard's rules and its defaults (threshold 0.94, 3 content words) were
chosen on the train split and the tune half; the held-out half is the
report. For each threshold: hits, wrong hits, wrong-hit rate (wrong /
hits) and hit rate (hits among the >= 4.5 pairs).

Issue 13's target: wrong hits <= 2% of semantic hits while hitting >= 30%
of the >= 4.5 pairs.

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
DEFAULT_THRESHOLD = 0.94  # ragd-serve --cache-threshold
GUARD_WORDS = 3           # ragd-serve --cache-guard-max-words
GUARD = os.path.join(common.ROOT, "build", "bench", "guard_eval")


def load_pairs(path, split=None):
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
                half = split or ("tune" if int(hashlib.sha256(row[3].encode() + row[1].encode()).hexdigest(), 16)
                                 % 2 == 0 else "held-out")
                pairs.append({"score": score, "a": a, "b": b, "half": half})
    return pairs


def embed(texts):
    """One vector per text, by the native encoder (the same vectors the service uses)."""
    r = subprocess.run([os.path.join(common.BIN, "ragd-index"), "embed", "--embedder", "minilm"],
                       input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    vecs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(vecs) == len(texts), (len(vecs), len(texts))
    return vecs


def guard_verdicts(pairs):
    """The C guard's verdict per pair ("accept", "numbers", "negation", "entity", "question", "person", "words")."""
    r = subprocess.run([GUARD, str(GUARD_WORDS)], input="".join("%s\t%s\n" % (p["a"], p["b"]) for p in pairs),
                       capture_output=True, text=True, check=True)
    out = r.stdout.split()
    assert len(out) == len(pairs)
    return out


def curve(pairs, guarded):
    same = [p for p in pairs if p["score"] >= 4.5]
    points = []
    for t in THRESHOLDS:
        hits = [p for p in pairs if p["cos"] >= t and (not guarded or p["guard"] == "accept")]
        wrong = [p for p in hits if p["score"] < 4]
        points.append({"threshold": t, "hits": len(hits), "wrong_hits": len(wrong),
                       "wrong_hit_rate": round(len(wrong) / len(hits), 4) if hits else 0.0,
                       "hit_rate_same": round(sum(1 for p in hits if p["score"] >= 4.5) / len(same), 4) if same
                       else 0.0})
    return points


def summary(pairs):
    return {"pairs": len(pairs), "same_pairs": sum(1 for p in pairs if p["score"] >= 4.5),
            "different_pairs": sum(1 for p in pairs if p["score"] < 4),
            "threshold_only": curve(pairs, False), "threshold_and_guard": curve(pairs, True)}


def measure(stsb_dir):
    pairs = load_pairs(os.path.join(stsb_dir, "sts-dev.csv")) + load_pairs(os.path.join(stsb_dir, "sts-train.csv"),
                                                                         "train")
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    vec = dict(zip(texts, embed(texts)))
    for p, v in zip(pairs, guard_verdicts(pairs)):
        a, b = vec[p["a"]], vec[p["b"]]
        p["cos"] = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
        p["guard"] = v
    held = [p for p in pairs if p["half"] == "held-out"]
    rejected = {}
    for p in held:
        if p["cos"] >= DEFAULT_THRESHOLD and p["guard"] != "accept":
            k = "%s, pair scored %s" % (p["guard"], ">= 4" if p["score"] >= 4 else "< 4")
            rejected[k] = rejected.get(k, 0) + 1
    wrong = [{"score": p["score"], "cos": round(p["cos"], 4), "a": p["a"], "b": p["b"]} for p in held
             if p["cos"] >= DEFAULT_THRESHOLD and p["guard"] == "accept" and p["score"] < 4]
    return {"data": stsb_dir, "embedder": "minilm (ragd-index embed)", "guard": "cache/query_guard.c, max %d "
            "content words one side only (build/bench/guard_eval)" % GUARD_WORDS,
            "rule": "hit = cosine >= threshold (and the guard accepts); wrong = hit on a pair scored < 4; "
                    "hit rate over pairs scored >= 4.5",
            "command": "python3 bench/sts_curve.py", "default_threshold": DEFAULT_THRESHOLD,
            "held_out_rejections_at_default": rejected, "held_out_wrong_hits_at_default": wrong,
            "halves": {h: summary([p for p in pairs if p["half"] == h]) for h in ("train", "tune", "held-out")}}


def point(points, t):
    return next(p for p in points if abs(p["threshold"] - t) < 1e-9)


def markdown(res):
    h = res["halves"]["held-out"]
    L = ["## Semantic-cache guard on STS-benchmark dev pairs (held-out half)", "",
         "%s; `%s`. Held-out half: %d pairs (%d scored >= 4.5, %d scored < 4); the guard's rules and defaults were "
         "chosen on the train split and the dev tune half." %
         (res["rule"], res["command"], h["pairs"], h["same_pairs"], h["different_pairs"]), "",
         "| threshold | threshold alone: hits | wrong | wrong-hit rate | hit rate | + guard: hits | wrong | "
         "wrong-hit rate | hit rate |", "|---|---|---|---|---|---|---|---|---|"]
    for t in (0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98):
        a, g = point(h["threshold_only"], t), point(h["threshold_and_guard"], t)
        L.append("| %.2f%s | %d | %d | %.1f%% | %.1f%% | %d | %d | %.1f%% | %.1f%% |" % (
            t, " (default)" if abs(t - res["default_threshold"]) < 1e-9 else "", a["hits"], a["wrong_hits"],
            100 * a["wrong_hit_rate"], 100 * a["hit_rate_same"], g["hits"], g["wrong_hits"],
            100 * g["wrong_hit_rate"], 100 * g["hit_rate_same"]))
    L.append("")
    for name in ("tune", "train"):
        x = res["halves"][name]
        a, g = point(x["threshold_only"], res["default_threshold"]), point(x["threshold_and_guard"],
                                                                          res["default_threshold"])
        L.append("%s (%d pairs) at %.2f: threshold alone %.1f%% wrong at %.1f%% hit rate; with the guard %.1f%% wrong "
                 "at %.1f%%." % (name.capitalize(), x["pairs"], res["default_threshold"], 100 * a["wrong_hit_rate"],
                                 100 * a["hit_rate_same"], 100 * g["wrong_hit_rate"], 100 * g["hit_rate_same"]))
    L.append("Held-out candidates the guard turned down at %.2f: %s." % (res["default_threshold"], ", ".join(
        "%s: %d" % kv for kv in sorted(res["held_out_rejections_at_default"].items()))))
    for w in res["held_out_wrong_hits_at_default"]:
        L.append("Held-out wrong hit at %.2f (scored %.2f, cosine %.3f): \"%s\" / \"%s\"." % (
            res["default_threshold"], w["score"], w["cos"], w["a"], w["b"]))
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
