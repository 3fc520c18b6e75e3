"""test_openapi.py - docs/openapi.yaml is the API the server really has.

schemathesis (PyPI, in build/test-venv) generates requests from the spec,
valid and invalid, for every operation, with a fixed seed and a bounded
number of examples, against a live ragd-serve with API keys; every
response must match the spec (status, content type, headers, body schema),
no request may cause a 5xx, unsupported methods must answer 405 with Allow,
and routes must refuse requests without a key.

Two schemathesis checks are left out, on purpose: positive_data_acceptance
and negative_data_rejection test whether JSON Schema can state the server's
input rules exactly, and it cannot (limits are in bytes, schemas count
characters; a title filter must hold a word that is not a stopword). The
rules are stated in the spec's descriptions and tested in test_service.py,
test_filters.py and test_embeddings_api.py.
"""
import json
import os
import re
import shutil
import subprocess

import harness
from fake_llm import FakeLLM

SPEC = os.path.join(harness.ROOT, "docs", "openapi.yaml")
VENV = os.path.join(harness.ROOT, "build", "test-venv", "bin")
KEY = "openapi-fuzz-admin-key"
WORK = SRV = MODEL = LLM = None


def setup_module():
    global WORK, SRV, MODEL, LLM
    WORK = harness.tmpdir()
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=8)
    index = os.path.join(WORK, "idx")
    r = harness.ragd_index("build", "--out", index, "--source", corpus, "--embedder", "minilm", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("%s id=fuzz admin\n" % KEY)
    LLM = FakeLLM()  # /v1/answer's upstream (not ours: a fake, see fake_llm.py)
    SRV = harness.Server(index, "--api-keys", keys, "--watch-ms", "0", "--llm-url", LLM.url(), "--llm-model", "m")
    st, _, body = SRV.get("/v1/models", headers={"Authorization": "Bearer " + KEY})
    assert st == 200, body
    MODEL = json.loads(body)["data"][0]["id"]


def teardown_module():
    if SRV:
        SRV.close()
    if LLM:
        LLM.close()
    shutil.rmtree(WORK, ignore_errors=True)


def spec_for_this_server(mutate=None):
    """The spec with the request's `model` narrowed to the one this server
    serves (any other is a documented 404), so the fuzzer reaches the
    embedder; `mutate` edits the text (for the negative control)."""
    with open(SPEC) as f:
        text = f.read()
    old = '        model: {type: string, examples: ["all-MiniLM-L6-v2"],'
    assert old in text
    text = text.replace(old, '        model: {type: string, enum: [%s],' % json.dumps(MODEL))
    if mutate:
        text = mutate(text)
    path = os.path.join(WORK, "openapi-%d.yaml" % len(os.listdir(WORK)))
    with open(path, "w") as f:
        f.write(text)
    return path


def schemathesis(spec, max_examples):
    cmd = [os.path.join(VENV, "schemathesis"), "run", spec, "--url", SRV.url(""),
           "-H", "Authorization: Bearer " + KEY, "--checks", "all",
           "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
           "--max-examples", str(max_examples), "--seed", "20261123", "--workers", "1",
           "--generation-database", "none", "--no-color", "--output-truncate", "true"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=WORK)


def test_every_response_matches_the_spec():
    r = schemathesis(spec_for_this_server(), 80)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    assert m and int(m.group(1)) >= 500 and m.group(1) == m.group(2), out[-2000:]
    assert "Selected: 11/11" in out and "Tested: 11" in out, out[-2000:]
    # the server survived it: still serving, no 5xx recorded
    assert SRV.get("/health")[0] == 200
    metrics = SRV.get("/metrics")[2].decode()
    counted = [l for l in metrics.splitlines() if l.startswith("ragd_http_requests_total{")]
    assert sum(float(l.split()[-1]) for l in counted) >= 500, counted
    # (/ready answered 503 while the index loaded at startup: that one is its job)
    assert not [l for l in counted if re.search(r'status="(5\d\d|other)"', l) and 'route="/ready"' not in l], counted


def test_a_wrong_spec_fails():
    # The check has teeth: a spec that misstates one response field fails.
    spec = spec_for_this_server(lambda t: t.replace("        status: {const: ready}", "        status: {const: up}"))
    r = schemathesis(spec, 5)
    assert r.returncode != 0 and "/ready" in r.stdout, r.stdout[-3000:]


def test_spec_documents_every_route():
    with open(os.path.join(harness.ROOT, "service", "server.c")) as f:
        server_c = f.read()
    table = re.search(r"table\[\] = \{(.*?)\};", server_c, re.S).group(1)
    # /internal/v1/* are a shard server's routes for its router, behind the peer secret: not the public API
    # (service/shard_api.h, docs/scaling.md); they exist only with --peer-secret-file.
    routes = {r for r in re.findall(r'\{"(/[^"]*)", ROUTE_', table) if not r.startswith("/internal/")}
    with open(SPEC) as f:
        spec_paths = set(re.findall(r"^  (/\S*):$", f.read(), re.M))
    assert routes and routes == spec_paths, (routes ^ spec_paths)


harness.main(globals())
