"""test_index_specs.py - every FAISS index spec builds, publishes, reloads and searches.

One index folder is rebuilt with each spec (2 shards, the native MiniLM
encoder over the Python tutorial pages that `make deps` installs; vectors
come from the embedding cache after the first build) while one ragd-serve
reloads it through /admin/reload. Each spec answers 20 queries over HTTP;
their top 10 are compared with the Flat build's (exact search, itself
checked against `ragd-index search --exact`): Flat and SQ8 must agree
exactly, the approximate specs must reach recall@10 >= 0.9. An L2-only
spec is refused before anything is fetched.
"""
import json
import os
import shutil
import urllib.parse

import harness

TUTORIAL = "/usr/share/doc/python3.11/html/tutorial"
SPECS = ["Flat", "HNSW32", "HNSW16,SQ8", "HNSW32,Flat", "IVF64,Flat", "IVF64,SQ8", "IVF64,PQ16x4", "PQ16x4", "SQ8"]
EXACT_SPECS = {"Flat", "SQ8"}  # SQ8 codes are re-ranked by the stored vectors over every candidate
QUERIES = ["how do I read a file", "list comprehension", "define a class", "exceptions and errors",
           "dictionary keys", "string formatting", "import a module", "virtual environment", "floating point",
           "while loop", "lambda expressions", "unpacking argument lists", "tuples and sequences",
           "the standard library", "iterators and generators", "packages", "input and output",
           "default argument values", "errors in interactive mode", "sets"]

WORK = INDEX = SRV = None
EXACT = {}


def build(spec):
    r = harness.ragd_index("build", "--out", INDEX, "--source", TUTORIAL, "--embedder", "minilm", "--index-spec",
                           spec, "--shards", "2", "--chunk-tokens", "64", "--chunk-overlap", "8",
                           "--max-shrink", "100%", "--log-level", "warn", timeout=600)
    assert r.returncode == 0, (spec, r.returncode, r.stderr)


def search(query):
    st, _, body = SRV.get("/v1/search?" + urllib.parse.urlencode({"q": query, "k": 10, "mode": "vector"}))
    assert st == 200, (st, body)
    return json.loads(body)["results"]


def top10(query):
    return [h["id"] for h in search(query)]


def reload_to(spec):
    st, _, body = SRV.post("/admin/reload", "{}")
    assert st == 200, (st, body)
    st, _, body = SRV.get("/v1/index")
    assert st == 200 and json.loads(body)["index_spec"] == spec, body


def setup_module():
    global WORK, INDEX, SRV
    WORK = harness.tmpdir()
    INDEX = os.path.join(WORK, "index")
    build("Flat")
    SRV = harness.Server(INDEX)
    for q in QUERIES:
        EXACT[q] = top10(q)


def teardown_module():
    if SRV:
        SRV.close()
    shutil.rmtree(WORK, ignore_errors=True)


def test_flat_equals_brute_force():
    # Same scores rank by rank (float rounding may swap near-ties).
    for q in QUERIES[:5]:
        r = harness.ragd_index("search", INDEX, q, "--k", "10", "--exact")
        assert r.returncode == 0, r.stderr
        exact = [json.loads(l)["score"] for l in r.stdout.splitlines()]
        served = [h["score"] for h in search(q)]
        assert len(exact) == len(served) == 10, (exact, served)
        assert all(abs(a - b) < 1e-4 for a, b in zip(exact, served)), (q, exact, served)


def test_every_spec_builds_reloads_and_searches():
    recalls = {}
    for spec in SPECS[1:] + ["Flat"]:
        build(spec)
        reload_to(spec)
        assert harness.ragd_index("info", INDEX, "--verify").returncode == 0, spec
        hits = sum(len(set(top10(q)) & set(EXACT[q])) for q in QUERIES)
        recalls[spec] = hits / (10.0 * len(QUERIES))
    print("recall@10 against exact search:", json.dumps(recalls))
    for spec, r in recalls.items():
        assert r >= (1.0 if spec in EXACT_SPECS else 0.9), (spec, r, recalls)


def test_l2_only_spec_is_a_usage_error():
    r = harness.ragd_index("build", "--out", os.path.join(WORK, "l2"), "--source", TUTORIAL, "--embedder", "hash",
                           "--index-spec", "HNSW32,PQ16")
    assert r.returncode == 2 and "inner product" in r.stderr, (r.returncode, r.stderr)
    r = harness.ragd_index("build", "--out", os.path.join(WORK, "bad"), "--source", TUTORIAL, "--embedder", "hash",
                           "--index-spec", "NoSuchIndex42")
    assert r.returncode == 2 and "--index-spec" in r.stderr, (r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(WORK, "l2", "current"))


harness.main(globals())
