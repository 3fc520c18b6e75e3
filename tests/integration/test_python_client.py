"""test_python_client.py - clients/python (ragd_client) against the real service.

The client is installed into build/test-venv from the tree by
tests/setup_venv.sh, as `pip install ./clients/python` installs it for a
user; each check runs there in a subprocess.
"""
import json
import os
import shutil
import subprocess

import harness
from fake_llm import FakeLLM

WORK = INDEX = SRV = LLM = None
VENV_PY = os.path.join(harness.ROOT, "build", "test-venv", "bin", "python")


def setup_module():
    global WORK, INDEX, SRV, LLM
    WORK = harness.tmpdir()
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=8)
    with open(os.path.join(corpus, "codes.md"), "w") as f:
        f.write("# Error codes\n\nQX-4471 means the disk is full.\n")
    INDEX = os.path.join(WORK, "idx")
    r = harness.ragd_index("build", "--out", INDEX, "--source", corpus, "--embedder", "minilm", "--log-level", "warn")
    assert r.returncode == 0, r.stderr
    LLM = FakeLLM(reply="QX-4471 means the disk is full [1].")
    SRV = harness.Server(INDEX, "--watch-ms", "0", "--llm-url", LLM.url(), "--llm-model", "m")


def teardown_module():
    if SRV:
        SRV.close()
    if LLM:
        LLM.close()
    shutil.rmtree(WORK, ignore_errors=True)


def client(code, url, **kw):
    """Run code with `c = RagdClient(url, **kw)` in the test venv; its stdout as JSON."""
    src = "import json, time, ragd_client\nfrom ragd_client import *\nc = RagdClient(%r, **%r)\n" % (url, kw) + code
    r = subprocess.run([VENV_PY, "-c", src], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_search_embed_info_ready():
    out = client("r = c.search('QX-4471', k=3, mode='hybrid', filter={'url_prefix': 'file://'})\n"
                 "print(json.dumps({'urls': [h.url for h in r.hits], 'found': r.hits[0].found_by, 'mode': r.mode,"
                 " 'version': r.index_version, 'info': c.index_info()['index_version'], 'ready': c.ready(),"
                 " 'model': c.model(), 'vec': c.embed(['QX-4471 means the disk is full.'])}))", SRV.url(""))
    assert out["urls"][0].endswith("codes.md") and "keyword" in out["found"] and out["mode"] == "hybrid"
    assert out["version"] == out["info"] and out["ready"] is True and out["model"] == "all-MiniLM-L6-v2"
    r = harness.run([harness.binary("ragd-index"), "embed", "--embedder", "minilm"],
                    input="QX-4471 means the disk is full.\n")
    assert [round(x, 6) for x in out["vec"][0]] == [round(x, 6) for x in json.loads(r.stdout)]


def test_answer_whole_and_streamed():
    out = client("a = c.answer('what does QX-4471 mean?', k=3, mode='keyword')\n"
                 "parts = list(c.answer_stream('what does QX-4471 mean?', k=3, mode='keyword'))\n"
                 "print(json.dumps({'answer': a.answer, 'cites': [(x.n, x.url) for x in a.citations],"
                 " 'pieces': [p for p in parts if isinstance(p, str)], 'final': parts[-1].answer,"
                 " 'fcites': [x.n for x in parts[-1].citations]}))", SRV.url(""))
    assert out["answer"] == "QX-4471 means the disk is full [1]." and out["cites"][0][0] == 1
    assert out["cites"][0][1].endswith("codes.md")
    assert "".join(out["pieces"]) == out["final"] == out["answer"] and len(out["pieces"]) > 1 and out["fcites"] == [1]


def test_errors_carry_the_server_code():
    out = client("try:\n    c.search('a', mode='bm25')\nexcept BadRequest as e:\n"
                 "    print(json.dumps([e.status, e.code, isinstance(e, RagdError)]))", SRV.url(""))
    assert out == [400, "invalid_mode", True]
    out = client("try:\n    c.search('a', filter={'titel': 'x'})\nexcept BadRequest as e:\n"
                 "    print(json.dumps([e.code, 'titel' in e.message]))", SRV.url(""))
    assert out == ["invalid_filter", True]
    out = client("try:\n    c.embed('one text')\nexcept TypeError:\n    print('true')", SRV.url(""))
    assert out is True
    port = harness.free_port()
    out = client("try:\n    c.search('a')\nexcept RagdError as e:\n    print(json.dumps([e.status, e.code]))",
                 "http://127.0.0.1:%d" % port, retries=1, backoff=0.01)
    assert out == [0, "unreachable"]


def test_keys_and_rate_limits():
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("agent-secret-key id=agent\n")
    srv = harness.Server(INDEX, "--watch-ms", "0", "--api-keys", keys, "--rate-limit", "1", "--burst", "1")
    try:
        out = client("try:\n    c.search('a')\nexcept Unauthorized as e:\n    print(json.dumps(e.code))", srv.url(""),
                     api_key="wrong")
        assert out == "invalid_api_key"
        # retries off: the second call in the same second is refused, with the server's Retry-After
        out = client("c.search('a')\ntry:\n    c.search('a')\n    print('null')\nexcept RateLimited as e:\n"
                     "    print(json.dumps([e.code, e.retry_after]))", srv.url(""), api_key="agent-secret-key",
                     retries=0)
        assert out[0] == "rate_limited" and out[1] >= 1, out
        # retries on: the client waits what Retry-After says and every call succeeds
        out = client("print(json.dumps([len(c.search('a', k=2).hits) for _ in range(3)]))", srv.url(""),
                     api_key="agent-secret-key", retries=5)
        assert out == [2, 2, 2]
    finally:
        srv.close()


def test_langchain_retriever_and_embeddings():
    out = client("from ragd_client.langchain import RagdRetriever, RagdEmbeddings\n"
                 "r = RagdRetriever(url=%r, k=2, mode='keyword')\n"
                 "docs = r.invoke('QX-4471')\n"
                 "e = RagdEmbeddings(%r)\n"
                 "print(json.dumps({'n': len(docs), 'meta': docs[0].metadata, 'text': docs[0].page_content,"
                 " 'q': e.embed_query('disk full'), 'd': e.embed_documents(['disk full', 'x']),"
                 " 'none': e.embed_documents([])}))" % (SRV.url(""), SRV.url("")), SRV.url(""))
    assert out["n"] == 1 and out["meta"]["url"].endswith("codes.md") and "QX-4471" in out["text"]  # one chunk holds it
    assert set(out["meta"]) == {"id", "url", "title", "headings", "score", "index_version", "found_by"}
    assert out["q"] == out["d"][0] and len(out["d"]) == 2 and out["none"] == []


def test_not_ready():
    empty = os.path.join(WORK, "empty")
    os.makedirs(empty)
    srv = harness.Server(empty, "--watch-ms", "0")
    try:
        out = client("print(json.dumps(c.ready()))", srv.url(""))
        assert out is False
        out = client("try:\n    c.search('a')\nexcept NotReady as e:\n    print(json.dumps([e.status, e.code]))",
                     srv.url(""), retries=1, backoff=0.01)
        assert out == [503, "not_ready"]
    finally:
        srv.close()


if __name__ == "__main__":
    harness.main(globals())
