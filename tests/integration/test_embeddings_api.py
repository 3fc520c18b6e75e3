"""test_embeddings_api.py - /v1/embeddings and /v1/models, driven by the official openai package.

The openai package (build/test-venv, tests/setup_venv.sh) is pointed at
ragd-serve with base_url, unchanged; its vectors must equal `ragd-index
embed` bit for bit (float32), in both encodings.
"""
import json
import os
import re
import shutil
import struct
import subprocess

import harness
from fake_embeddings import FakeEmbeddings

WORK = INDEX = SRV = None
VENV_PY = os.path.join(harness.ROOT, "build", "test-venv", "bin", "python")
TEXTS = ["How do I reset my password?", "caf\u00e9 \u4e2d\u6587 emoji \U0001F600", "lorem ipsum " * 300]


def setup_module():
    global WORK, INDEX, SRV
    WORK = harness.tmpdir()
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=5)
    INDEX = os.path.join(WORK, "idx")
    r = harness.ragd_index("build", "--out", INDEX, "--source", corpus, "--embedder", "minilm", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    SRV = harness.Server(INDEX, "--watch-ms", "0", "--embeddings-max-inputs", "8")


def teardown_module():
    if SRV:
        SRV.close()
    shutil.rmtree(WORK, ignore_errors=True)


def openai_script(body, base_url, api_key="unused"):
    """Run Python in the test venv with an OpenAI client `c` bound to ragd; return its JSON output."""
    code = ("import json, openai\nc = openai.OpenAI(base_url=%r, api_key=%r, max_retries=0)\n" % (base_url, api_key) +
            body)
    r = subprocess.run([VENV_PY, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def f32(v):
    return struct.pack("<%df" % len(v), *v)


def reference():
    r = harness.run([harness.binary("ragd-index"), "embed", "--embedder", "minilm"],
                    input="".join(t + "\n" for t in TEXTS))
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_openai_package_gets_the_index_vectors_bit_for_bit():
    want = reference()
    out = openai_script(
        "r = c.embeddings.create(model='all-MiniLM-L6-v2', input=%r)\n"  # the package asks for base64
        "f = c.embeddings.create(model='all-MiniLM-L6-v2', input=%r, encoding_format='float')\n"
        "print(json.dumps({'b64': [d.embedding for d in r.data], 'float': [d.embedding for d in f.data],"
        " 'model': r.model, 'usage': [r.usage.prompt_tokens, r.usage.total_tokens],"
        " 'index': [d.index for d in r.data]}))" % (TEXTS, TEXTS), SRV.url("/v1"))
    for got in (out["b64"], out["float"]):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert len(g) == 384 and f32(g) == f32(w)
    assert out["model"] == "all-MiniLM-L6-v2" and out["index"] == [0, 1, 2]
    assert out["usage"][0] == out["usage"][1] > 0
    st, _, body = SRV.post("/v1/embeddings", json.dumps({"model": "all-MiniLM-L6-v2", "input": TEXTS}))
    assert json.loads(body)["truncated_inputs"] == [2]  # 600 words are over the model's 256 tokens


def test_models_route_and_model_names():
    out = openai_script("print(json.dumps([m.id for m in c.models.list()]))", SRV.url("/v1"))
    assert out == ["all-MiniLM-L6-v2"]
    for name in ("all-MiniLM-L6-v2", "minilm"):
        st, _, _ = SRV.post("/v1/embeddings", json.dumps({"model": name, "input": "a"}))
        assert st == 200, name
    out = openai_script(
        "try:\n    c.embeddings.create(model='text-embedding-3-small', input='a')\n"
        "except openai.NotFoundError as e:\n    print(json.dumps([e.status_code, e.code, e.param]))\n",
        SRV.url("/v1"))
    assert out == [404, "model_not_found", "model"]


def test_bad_input_is_an_openai_shaped_400():
    cases = [({"input": "", "model": "minilm"}, "input"), ({"input": [], "model": "minilm"}, "input"),
             ({"input": ["a"] * 9, "model": "minilm"}, "input"), ({"input": ["a", 3], "model": "minilm"}, "input"),
             ({"input": [[1, 2, 3]], "model": "minilm"}, "input"), ({"input": "a" * 70000, "model": "minilm"}, "input"),
             ({"input": "a", "model": "minilm", "encoding_format": "int8"}, "encoding_format"),
             ({"input": "a", "model": "minilm", "dimensions": 128}, "dimensions"),
             ({"input": "a", "model": "minilm", "temperature": 1}, "temperature"),
             ({"input": "a"}, "model"), ({"model": "minilm"}, "input")]
    for body, param in cases:
        raw = json.dumps(body)
        st, _, resp = SRV.post("/v1/embeddings", raw) if len(raw) < 60000 else (None, None, None)
        if st is None:  # over --max-body-bytes: ragd's own 413
            continue
        err = json.loads(resp)["error"]
        assert st == 400 and err["type"] == "invalid_request_error" and err["param"] == param and err["message"], \
            (body if len(raw) < 200 else param, st, err)
    st, _, resp = SRV.post("/v1/embeddings", "{not json")
    assert st == 400 and json.loads(resp)["error"]["code"] == "invalid_json"
    assert SRV.get("/v1/embeddings")[0] == 405
    out = openai_script(
        "try:\n    c.embeddings.create(model='all-MiniLM-L6-v2', input=[])\n"
        "except openai.BadRequestError as e:\n    print(json.dumps([e.status_code, e.code]))\n", SRV.url("/v1"))
    assert out == [400, "invalid_input"]


def test_keys_rate_limits_and_metrics_apply():
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("s3cret-agent-key id=agent\n")
    srv = harness.Server(INDEX, "--watch-ms", "0", "--api-keys", keys)
    try:
        out = openai_script("print(json.dumps(len(c.embeddings.create(model='minilm', input=['a', 'b']).data)))",
                            srv.url("/v1"), api_key="s3cret-agent-key")
        assert out == 2
        out = openai_script(
            "try:\n    c.embeddings.create(model='minilm', input='a')\n"
            "except openai.AuthenticationError as e:\n    print(json.dumps(e.status_code))\n", srv.url("/v1"),
            api_key="wrong")
        assert out == 401
        metrics = srv.get("/metrics", {"Authorization": "Bearer s3cret-agent-key"})[2].decode()
        assert 'ragd_http_requests_total{route="/v1/embeddings",status="200"} 1' in metrics, metrics[:500]
    finally:
        srv.close()


def test_remote_index_embedder_is_refused_unless_allowed():
    fake = FakeEmbeddings(dim=8)
    try:
        idx = os.path.join(WORK, "idx-remote")
        r = harness.ragd_index("build", "--out", idx, "--source", os.path.join(WORK, "corpus"), "--embedder", "openai",
                               "--openai-url", fake.url(), "--openai-model", "m", "--dim", "8", "--log-level", "warn")
        assert r.returncode == 0, r.stderr
        common = ["--watch-ms", "0", "--openai-url", fake.url(), "--openai-model", "m"]
        srv = harness.Server(idx, *common)
        try:
            fake.script()
            st, _, body = srv.post("/v1/embeddings", json.dumps({"model": "openai-m-d8", "input": "a"}))
            assert st == 400 and json.loads(body)["error"]["code"] == "remote_embedder"
            assert fake.log() == []
        finally:
            srv.close()
        srv = harness.Server(idx, *common, "--embeddings-allow-remote")
        try:
            st, _, body = srv.post("/v1/embeddings", json.dumps({"model": "openai-m-d8", "input": ["a", "b"]}))
            assert st == 200 and len(json.loads(body)["data"]) == 2 and len(fake.log()) == 1
        finally:
            srv.close()
    finally:
        fake.close()


def test_concurrent_requests_get_their_own_vectors_bit_for_bit():
    # Concurrent requests are combined into shared encoder passes; each must
    # still get exactly the vectors of its own texts, as `ragd-index embed`
    # of each text alone gives them.
    texts = ["question number %d about %s" % (i, w) for i, w in enumerate("alpha bravo charlie delta echo "
                                                                             "foxtrot golf hotel india juliet".split())]
    ref = {}
    for t in texts:
        r = harness.run([harness.binary("ragd-index"), "embed", "--embedder", "minilm"], input=t + "\n")
        ref[t] = f32(json.loads(r.stdout))
    srv = harness.Server(INDEX, "--watch-ms", "0", "--threads", "8", "--embed-concurrency", "1")
    try:
        out = {}

        def one(i):
            for rep in range(3):
                t = texts[(i + rep) % len(texts)]
                st, _, body = srv.post("/v1/embeddings", json.dumps({"model": "all-MiniLM-L6-v2", "input": [t, t]}))
                assert st == 200, body
                data = json.loads(body)["data"]
                out[(i, rep)] = (t, [f32(d["embedding"]) for d in data])

        threads = [harness.threading.Thread(target=one, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(out) == 24
        for t, vecs in out.values():
            assert vecs == [ref[t], ref[t]], t
        m = srv.get("/metrics")[2].decode()
        passes = int(re.search(r"^ragd_embed_passes_total (\d+)$", m, re.M).group(1))
        served = int(re.search(r"^ragd_embed_pass_requests_total (\d+)$", m, re.M).group(1))
        assert served == 24 and 1 <= passes <= served, (passes, served)
    finally:
        srv.close()


def test_a_lone_request_splits_its_pass_and_keeps_its_bits():
    # Alone on an idle server, a request's encoder pass splits its products
    # over the idle cores (--query-threads, default: cores); the vectors
    # are still the bits `ragd-index embed` gives. --query-threads 1 never
    # splits.
    if (os.cpu_count() or 1) < 2:
        return
    texts = ["a lone question about sourdough", "another one about tides and the moon"]
    ref = [f32(json.loads(l)) for l in harness.run([harness.binary("ragd-index"), "embed", "--embedder", "minilm"],
                                                     input="\n".join(texts) + "\n").stdout.splitlines()]
    for flags, split in (([], True), (["--query-threads", "1"], False)):
        srv = harness.Server(INDEX, "--watch-ms", "0", *flags)
        try:
            for t, want in zip(texts, ref):
                st, _, body = srv.post("/v1/embeddings", json.dumps({"model": "all-MiniLM-L6-v2", "input": t}))
                assert st == 200, body
                assert f32(json.loads(body)["data"][0]["embedding"]) == want, (flags, t)
            m = srv.get("/metrics")[2].decode()
            n = int(re.search(r"^ragd_embed_split_passes_total (\d+)$", m, re.M).group(1))
            assert (n == len(texts)) if split else (n == 0), (flags, n)
        finally:
            srv.close()


def test_waiting_requests_share_one_upstream_call():
    # With a remote embedder, requests that arrive while a call is under way
    # wait (--embed-concurrency 1) and go upstream together: fewer calls,
    # every request still answered with its own vectors (searches too).
    fake = FakeEmbeddings(dim=8)
    try:
        idx = os.path.join(WORK, "idx-remote-batch")
        r = harness.ragd_index("build", "--out", idx, "--source", os.path.join(WORK, "corpus"), "--embedder", "openai",
                               "--openai-url", fake.url(), "--openai-model", "m", "--dim", "8", "--log-level", "warn")
        assert r.returncode == 0, r.stderr
        srv = harness.Server(idx, "--watch-ms", "0", "--openai-url", fake.url(), "--openai-model", "m",
                             "--embeddings-allow-remote", "--threads", "12", "--embed-concurrency", "1")
        try:
            fake.script("hang:1.5")  # the first call is slow; the others queue behind it
            results, errors = {}, []

            def embed(i):
                st, _, body = srv.post("/v1/embeddings", json.dumps({"model": "openai-m-d8", "input": "text %d" % i}))
                results[i] = (st, body)

            def search(i):
                st, _, body = srv.post("/v1/search", json.dumps({"query": "query %d" % i, "mode": "vector"}))
                results["s%d" % i] = (st, body)

            first = harness.threading.Thread(target=embed, args=(0,))
            first.start()
            assert harness.wait_until(lambda: len(fake.log()) == 1, 10)
            rest = [harness.threading.Thread(target=embed, args=(i,)) for i in range(1, 9)] + \
                   [harness.threading.Thread(target=search, args=(i,)) for i in range(3)]
            for th in rest:
                th.start()
            for th in [first] + rest:
                th.join()
            for i in range(9):
                st, body = results[i]
                assert st == 200, body
                got = json.loads(body)["data"][0]["embedding"]
                want = fake_vector("text %d" % i)
                # its own text's vector (normalised in float32 by ragd: to 1e-6)
                assert max(abs(a - b) for a, b in zip(got, want)) < 1e-6, i
            for i in range(3):
                assert results["s%d" % i][0] == 200, results["s%d" % i]
            calls = fake.log()
            sent = sum(len(json.loads(c["body"])["input"]) for c in calls)
            print("    %d requests, %d upstream calls" % (12, len(calls)))
            assert sent == 12 and len(calls) < 12, [json.loads(c["body"])["input"] for c in calls]
        finally:
            srv.close()
    finally:
        fake.close()


def fake_vector(text):
    from fake_embeddings import vector
    import math
    v = vector(text, 8)
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


if __name__ == "__main__":
    harness.main(globals())
