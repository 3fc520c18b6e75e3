"""test_openai_embedder.py - the openai embedder against a fault-injecting server on 127.0.0.1.

Drives `ragd-index embed --embedder openai` (the real binary, real HTTP)
and checks retries, Retry-After, no retry on quota and other 4xx, timeouts,
malformed answers, dimension and count checks, failover across endpoints,
key handling (file, env, never logged) and the Azure request shape.
"""
import json
import math
import os

import harness
from fake_embeddings import FakeEmbeddings, vector

FAKE = BACKUP = None
WORK = None


def setup_module():
    global FAKE, BACKUP, WORK
    FAKE, BACKUP, WORK = FakeEmbeddings(dim=8), FakeEmbeddings(dim=8), harness.tmpdir()


def teardown_module():
    FAKE.close()
    BACKUP.close()


def embed(lines, *extra, urls=None, env=None):
    args = [harness.binary("ragd-index"), "embed", "--embedder", "openai", "--openai-url", urls or FAKE.url(),
            "--openai-model", "text-embedding-test", "--dim", "8", "--openai-timeout-ms", "1000",
            "--openai-retries", "2"] + list(extra)
    e = dict(os.environ)
    e.pop("OPENAI_API_KEY", None)
    e.update(env or {})
    return harness.run(args, input="".join(l + "\n" for l in lines), env=e, timeout=120)


def vectors(out):
    return [json.loads(l) for l in out.splitlines()]


def normalised(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def test_ok_vectors_normalised_in_order():
    FAKE.script()
    r = embed(["alpha", "beta", ""])
    assert r.returncode == 0, r.stderr
    got = vectors(r.stdout)
    assert len(got) == 3
    for g, t in zip(got, ["alpha", "beta", ""]):
        want = normalised(vector(t, 8))
        assert max(abs(a - b) for a, b in zip(g, want)) < 1e-5
    body = json.loads(FAKE.log()[0]["body"])
    assert body == {"model": "text-embedding-test", "input": ["alpha", "beta", ""]}


def test_429_retry_after_is_honoured():
    FAKE.script("429:1")
    r = embed(["x"])
    assert r.returncode == 0, r.stderr
    log = FAKE.log()
    assert len(log) == 2 and log[1]["t"] - log[0]["t"] >= 0.95, [l["t"] for l in log]


def test_retry_after_ms_and_5xx_backoff():
    FAKE.script("429ms:300", "500", "503")
    r = embed(["x"], "--openai-retries", "3")
    assert r.returncode == 0, r.stderr
    log = FAKE.log()
    assert len(log) == 4
    assert log[1]["t"] - log[0]["t"] >= 0.28


def test_retries_are_bounded():
    FAKE.script("500", "500", "500", "500")
    r = embed(["x"])
    assert r.returncode == 1
    assert "HTTP 500" in r.stderr and "upstream exploded" in r.stderr, r.stderr
    assert len(FAKE.log()) == 3  # first try + 2 retries


def test_quota_and_4xx_are_not_retried():
    FAKE.script("quota")
    r = embed(["x"])
    assert r.returncode == 1 and "exceeded your current quota" in r.stderr, r.stderr
    assert len(FAKE.log()) == 1
    FAKE.script("400")
    r = embed(["x"])
    assert r.returncode == 1 and "HTTP 400" in r.stderr and len(FAKE.log()) == 1


def test_hang_times_out_then_retries():
    FAKE.script("hang:3")
    r = embed(["x"])
    assert r.returncode == 0, r.stderr
    assert len(FAKE.log()) == 2


def test_malformed_wrong_dim_wrong_count_fail_clearly():
    for fault, words in [("malformed", "malformed response"), ("wrong_dim", "11 dimensions, expected 8"),
                         ("wrong_count", "1 embeddings for 2 inputs")]:
        FAKE.script(fault)
        r = embed(["a", "b"])
        assert r.returncode == 1, (fault, r.stdout)
        assert words in r.stderr, (fault, r.stderr)
        assert r.stdout == ""


def test_failover_to_next_endpoint():
    FAKE.script("500")
    BACKUP.script()
    r = embed(["x"], urls=FAKE.url() + "," + BACKUP.url())
    assert r.returncode == 0, r.stderr
    assert len(FAKE.log()) == 1 and len(BACKUP.log()) == 1
    dead = "http://127.0.0.1:%d/v1" % harness.free_port()
    r = embed(["x"], urls=dead + "," + BACKUP.url())
    assert r.returncode == 0, r.stderr


def test_key_from_file_and_env_never_logged():
    key = os.path.join(WORK, "key")
    with open(key, "w") as f:
        f.write("sk-secret-from-file\n")
    FAKE.script()
    assert embed(["x"], "--openai-key-file", key).returncode == 0
    assert FAKE.log()[0]["headers"]["Authorization"] == "Bearer sk-secret-from-file"
    FAKE.script()
    assert embed(["x"], env={"OPENAI_API_KEY": "sk-from-env"}).returncode == 0
    assert FAKE.log()[0]["headers"]["Authorization"] == "Bearer sk-from-env"
    FAKE.script("401")
    r = embed(["x"], "--openai-key-file", key)
    assert "sk-secret" not in r.stderr + r.stdout


def test_azure_shape():
    FAKE.script()
    r = embed(["x"], "--openai-api-version", "2024-02-01", "--openai-key-file", os.path.join(WORK, "key"),
              urls="http://127.0.0.1:%d" % FAKE.port)
    assert r.returncode == 0, r.stderr
    entry = FAKE.log()[0]
    assert entry["path"] == "/openai/deployments/text-embedding-test/embeddings?api-version=2024-02-01"
    assert entry["headers"]["api-key"] == "sk-secret-from-file" and "Authorization" not in entry["headers"]


def test_batches_split():
    FAKE.script()
    r = embed(["t%d" % i for i in range(10)], "--openai-batch", "4")
    assert r.returncode == 0 and len(vectors(r.stdout)) == 10
    assert [len(json.loads(e["body"])["input"]) for e in FAKE.log()] == [4, 4, 2]


harness.main(globals())
