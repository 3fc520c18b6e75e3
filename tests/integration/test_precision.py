"""test_precision.py - the minilm encoder at --precision bf16 and int8, end to end (issue 16).

`ragd-index build --precision bf16` (or int8) records the precision in
the manifest and a model id of its own ("-bf16", "-int8"); ragd-serve
embeds queries at the index's precision unless told otherwise, and
accepts an index built at one precision queried at another (the same
model; vectors agree to a cosine of 0.9999 for bf16, 0.99 for int8).
Switching the build's precision re-embeds everything (the model id
changed), and a CPU without the instructions (forced with
RAGD_MAX_CPU_ISA=generic) builds at fp32 and says so. Kernels are
checked against references in test_tensor and test_minilm; this checks
the flags, the manifest and the service.
"""
import json
import os
import shutil

import harness

WORK = CORPUS = None
QUERIES = {  # query -> the document it must find first
    "how do I bake sourdough bread at home": "bread.md",
    "tides and the pull of the moon on the ocean": "tides.md",
    "compiling a C program with warnings enabled": "compiler.md",
}
DOCS = {
    "bread.md": "# Sourdough\n\nMix flour, water and a starter, let the dough rise overnight, then bake the loaf "
                "in a hot oven until the crust is dark.\n",
    "tides.md": "# Tides\n\nThe moon's gravity pulls the oceans; the sea rises and falls twice a day along "
                "the coast.\n",
    "compiler.md": "# Compilers\n\nRun gcc with -Wall -Wextra to see warnings when you compile C source files "
                   "into an executable.\n",
    "garden.md": "# Gardening\n\nWater tomatoes in the morning and stake them as they grow tall.\n",
}


def setup_module():
    global WORK, CORPUS
    WORK = harness.tmpdir("ragd-precision-")
    CORPUS = os.path.join(WORK, "corpus")
    os.makedirs(CORPUS)
    for name, text in DOCS.items():
        with open(os.path.join(CORPUS, name), "w") as f:
            f.write(text)


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def build(out, *args, env=None):
    report = os.path.join(WORK, "report.json")
    r = harness.run([harness.binary("ragd-index"), "build", "--out", out, "--source", CORPUS, "--embedder", "minilm",
                     "--report", report] + list(args), env=env)
    assert r.returncode == 0, r.stderr
    return harness.load_json(report), harness.load_json(os.path.join(out, "current", "manifest.json"))


def top_files(server):
    got = {}
    for q in QUERIES:
        st, _, body = server.get("/v1/search?k=1&q=" + q.replace(" ", "+"))
        assert st == 200, body
        got[q] = os.path.basename(json.loads(body)["results"][0]["url"])
    return got


def test_bf16_build_and_serve():
    out = os.path.join(WORK, "bf16")
    _, m = build(out, "--precision", "bf16")
    _, m32 = build(os.path.join(WORK, "fp32"), "--precision", "fp32")
    assert m32["embedder"]["precision"] == "fp32" and not m32["embedder"]["model_id"].endswith("-bf16"), m32
    if m["embedder"]["precision"] == "fp32":  # this CPU has no bf16 kernel: the fallback, said in the manifest
        assert m["embedder"]["model_id"] == m32["embedder"]["model_id"], m
        print("    no bf16 kernel on this CPU: built at fp32")
        return
    assert m["embedder"]["model_id"] == m32["embedder"]["model_id"] + "-bf16", (m, m32)
    info = harness.ragd_index("info", out)
    assert info.returncode == 0 and "-bf16" in info.stdout, info.stdout
    s = harness.Server(out)
    try:
        st, _, body = s.get("/v1/index")
        emb = json.loads(body)["embedder"]
        assert emb["precision"] == "bf16" and emb["query"]["precision"] == "bf16", emb
        assert emb["query"]["kernel"] in ("bf16-amx", "bf16-avx512"), emb
        assert top_files(s) == {q: f for q, f in QUERIES.items()}
    finally:
        s.close()
    # The same index queried at fp32: accepted, and it finds the same documents.
    s = harness.Server(out, "--precision", "fp32")
    try:
        emb = json.loads(s.get("/v1/index")[2])["embedder"]
        assert emb["precision"] == "bf16" and emb["query"] == {
            "model_id": m32["embedder"]["model_id"], "precision": "fp32", "kernel": "fp32"}, emb
        assert top_files(s) == {q: f for q, f in QUERIES.items()}
    finally:
        s.close()


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def has_vnni():
    return {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= cpu_flags()


def test_int8_build_and_serve():
    out = os.path.join(WORK, "int8")
    _, m = build(out, "--precision", "int8")
    _, m32 = build(os.path.join(WORK, "fp32"), "--precision", "fp32")
    if not has_vnni():  # no AVX512_VNNI: the fallback, said in the manifest
        assert m["embedder"]["precision"] == "fp32" and m["embedder"]["model_id"] == m32["embedder"]["model_id"], m
        print("    no AVX512_VNNI on this CPU: built at fp32")
        return
    assert m["embedder"]["precision"] == "int8", m
    assert m["embedder"]["model_id"] == m32["embedder"]["model_id"] + "-int8", (m, m32)
    s = harness.Server(out)
    try:
        emb = json.loads(s.get("/v1/index")[2])["embedder"]
        assert emb["precision"] == "int8" and emb["query"]["precision"] == "int8", emb
        assert emb["query"]["kernel"] == "int8-vnni", emb
        assert top_files(s) == {q: f for q, f in QUERIES.items()}
    finally:
        s.close()
    # An fp32 index queried at int8, and the int8 index at fp32: the same model, the same documents.
    for index, args in ((os.path.join(WORK, "fp32"), ["--precision", "int8"]), (out, ["--precision", "fp32"])):
        s = harness.Server(index, *args)
        try:
            emb = json.loads(s.get("/v1/index")[2])["embedder"]
            assert emb["query"]["precision"] == args[1], emb
            assert top_files(s) == {q: f for q, f in QUERIES.items()}
        finally:
            s.close()


def test_switching_precision_reembeds():
    out = os.path.join(WORK, "switch")
    rep, _ = build(out, "--incremental", "--precision", "fp32")
    assert rep["chunks"]["embedded"] == len(DOCS), rep["chunks"]
    rep, _ = build(out, "--incremental", "--precision", "fp32")
    assert rep["chunks"]["embedded"] == 0, rep["chunks"]
    rep, m = build(out, "--incremental", "--precision", "bf16")
    if m["embedder"]["precision"] == "bf16":  # another model id: nothing reused
        assert rep["chunks"]["embedded"] == len(DOCS), rep["chunks"]
    rep, m = build(out, "--incremental", "--precision", "int8")
    if m["embedder"]["precision"] == "int8":
        assert rep["chunks"]["embedded"] == len(DOCS), rep["chunks"]
        rep, m = build(out, "--incremental", "--precision", "int8")
        assert rep["chunks"]["embedded"] == 0, rep["chunks"]


def cpu_vendor():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    return ""


def test_default_is_auto():
    """auto (the default) is the fastest path measured on this kind of CPU:
    bf16 with AMX, int8 with AVX512_VNNI on AMD, else fp32."""
    r = harness.run([harness.binary("ragd-serve"), "--help"])
    assert "auto (default" in r.stdout, r.stdout
    _, m = build(os.path.join(WORK, "default"))
    _, amx = build(os.path.join(WORK, "amx"), "--precision", "bf16")
    s = harness.Server(os.path.join(WORK, "amx"))
    try:
        kernel = json.loads(s.get("/v1/index")[2])["embedder"]["query"]["kernel"]
    finally:
        s.close()
    amd = cpu_vendor() == "AuthenticAMD"
    want = "bf16" if kernel == "bf16-amx" else "int8" if amd and has_vnni() else \
        "bf16" if amd and kernel == "bf16-avx512" else "fp32"
    assert m["embedder"]["precision"] == want, (m, kernel, cpu_vendor())
    # Capped to AVX-512 (no AMX), auto follows the vendor: int8 on AMD, fp32 on Intel.
    env = dict(os.environ, RAGD_MAX_CPU_ISA="avx512")
    _, m = build(os.path.join(WORK, "avx512-auto"), env=env)
    want = "int8" if amd and has_vnni() else "bf16" if amd and kernel == "bf16-avx512" else "fp32"
    assert m["embedder"]["precision"] == want, m


def test_index_without_precision_is_queried_at_fp32():
    """An index built before --precision existed (no "precision" in its
    manifest) was built at fp32 and is queried at fp32, whatever the CPU."""
    out = os.path.join(WORK, "old")
    _, m = build(out, "--precision", "fp32")
    path = os.path.join(out, "current", "manifest.json")
    doc = harness.load_json(path)
    del doc["embedder"]["precision"]
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    s = harness.Server(out)
    try:
        emb = json.loads(s.get("/v1/index")[2])["embedder"]
        assert "precision" not in emb and emb["query"]["precision"] == "fp32", emb
    finally:
        s.close()


def test_cpu_without_bf16_builds_fp32():
    env = dict(os.environ, RAGD_MAX_CPU_ISA="generic")
    for prec in ("bf16", "int8"):
        out = os.path.join(WORK, "generic-" + prec)
        _, m = build(out, "--precision", prec, env=env)
        assert m["embedder"]["precision"] == "fp32" and not m["embedder"]["model_id"].endswith("-" + prec), m
    # auto never picks a reduced precision without the instructions
    _, m = build(os.path.join(WORK, "generic-auto"), "--precision", "auto", env=env)
    assert m["embedder"]["precision"] == "fp32", m


def test_embed_precision_vectors_agree():
    texts = "\n".join(["a question about sourdough bread", "the moon and the tides", "gcc warnings"]) + "\n"
    vecs = {}
    for p in ("fp32", "bf16", "int8"):
        r = harness.run([harness.binary("ragd-index"), "embed", "--precision", p], input=texts)
        assert r.returncode == 0, r.stderr
        vecs[p] = [json.loads(line) for line in r.stdout.splitlines()]
    for p, bound in (("bf16", 0.999), ("int8", 0.99)):
        for a, b in zip(vecs["fp32"], vecs[p]):
            cos = sum(x * y for x, y in zip(a, b))  # both L2-normalised
            assert cos > bound, (p, cos)


def test_bad_precision_is_a_usage_error():
    for args in (["build", "--out", os.path.join(WORK, "bad"), "--source", CORPUS, "--precision", "int4"],
                 ["embed", "--precision", "fp16"]):
        r = harness.run([harness.binary("ragd-index")] + args, input="x\n")
        assert r.returncode == 2 and "expected fp32, bf16, int8 or auto" in r.stderr, (r.returncode, r.stderr)
    r = harness.run([harness.binary("ragd-serve"), "--index", os.path.join(WORK, "fp32"), "--precision", "half"])
    assert r.returncode == 2 and "expected fp32, bf16, int8 or auto" in r.stderr, (r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(WORK, "bad", "current"))


harness.main(globals())
