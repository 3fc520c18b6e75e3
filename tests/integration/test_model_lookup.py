"""test_model_lookup.py - the default embedder and where the binaries find the model.

`ragd-index build` without --embedder uses minilm when the model is
found, and otherwise stops with exit 2 and a message that says where it
looked and what to do. The model is found by --model, then
$RAGD_MODEL_DIR (both final), then BINDIR/../models/, then
BINDIR/../share/ragd/models/ (the `make install` layout, any PREFIX),
then /usr/local/share/ragd/models/. Binaries copied elsewhere keep
working when the model is laid out beside them; ragd-serve resolves the
model of a minilm index the same way and says what it tried.
"""
import json
import os
import shutil

import harness

WORK = MODEL = None
SYSTEM_MODEL = "/usr/local/share/ragd/models/all-MiniLM-L6-v2"
DOCS = "/usr/share/doc/python3.11/html/tutorial"


def env():
    e = dict(os.environ)
    e.pop("RAGD_MODEL_DIR", None)
    return e


def install(layout):
    """Binaries in WORK/layout/bin; returns that folder."""
    bindir = os.path.join(WORK, layout, "bin")
    os.makedirs(bindir)
    for b in ("ragd-index", "ragd-serve"):
        shutil.copy2(harness.binary(b), bindir)
    return bindir


def link_model(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(MODEL, path)


def build(bindir, index, *extra, e=None):
    return harness.run([os.path.join(bindir, "ragd-index"), "build", "--out", index, "--source", DOCS,
                        "--index-spec", "Flat", "--max-pages", "3", "--log-level", "warn"] + list(extra),
                       env=e or env(), timeout=300)


def info(bindir, index):
    r = harness.run([os.path.join(bindir, "ragd-index"), "info", index], env=env())
    assert r.returncode == 0, r.stderr
    return r.stdout


def setup_module():
    global WORK, MODEL
    WORK = harness.tmpdir()
    MODEL = os.path.realpath(os.environ.get("RAGD_MODEL_DIR") or
                             os.path.join(harness.ROOT, "models", "all-MiniLM-L6-v2"))
    assert os.path.exists(os.path.join(MODEL, "model.safetensors")), MODEL


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def test_copied_binary_without_model_says_how_to_get_it():
    if os.path.exists(SYSTEM_MODEL):
        return  # this machine has a system-wide install, which the binary rightly finds
    bindir = install("bare")
    index = os.path.join(WORK, "bare-index")
    r = build(bindir, index)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for part in ("make model", "--embedder hash", os.path.join(bindir, "../models/all-MiniLM-L6-v2"),
                 SYSTEM_MODEL):
        assert part in r.stderr, (part, r.stderr)
    assert not os.path.exists(index)
    r = build(bindir, index, "--embedder", "hash")
    assert r.returncode == 0, r.stderr
    assert "embedder    hash" in info(bindir, index)


def test_model_beside_the_binary_is_the_default():
    bindir = install("copy")
    link_model(os.path.join(WORK, "copy", "models", "all-MiniLM-L6-v2"))
    index = os.path.join(WORK, "copy-index")
    r = build(bindir, index)
    assert r.returncode == 0, r.stderr
    assert "embedder    minilm" in info(bindir, index)


def test_install_layout_serves_a_minilm_index():
    bindir = install("usr")
    link_model(os.path.join(WORK, "usr", "share", "ragd", "models", "all-MiniLM-L6-v2"))
    index = os.path.join(WORK, "usr-index")
    r = build(bindir, index)
    assert r.returncode == 0, r.stderr
    assert "embedder    minilm" in info(bindir, index)
    old = harness.BIN
    harness.BIN = bindir
    try:
        srv = harness.Server(index, env=env())
    finally:
        harness.BIN = old
    try:
        st, _, body = srv.get("/ready")
        assert st == 200, body
        st, _, body = srv.get("/v1/search?q=read+a+file&k=2")
        assert st == 200 and len(json.loads(body)["results"]) == 2, body
    finally:
        srv.close()


def test_service_without_model_names_what_it_tried():
    if os.path.exists(SYSTEM_MODEL):
        return
    index = os.path.join(WORK, "copy-index")  # a minilm index from the test above
    old = harness.BIN
    harness.BIN = os.path.join(WORK, "bare", "bin")
    try:
        srv = harness.Server(index, "--watch-ms", "0", env=env())
    finally:
        harness.BIN = old
    try:
        st, _, body = srv.get("/ready")
        reason = json.loads(body)["reason"]
        assert st == 503 and "looked in" in reason.lower() and "make model" in reason, (st, reason)
    finally:
        srv.close()


def test_explicit_model_choice_never_falls_back():
    bindir = os.path.join(WORK, "copy", "bin")  # has a model beside it
    e = env()
    e["RAGD_MODEL_DIR"] = "/nonexistent/model"
    r = build(bindir, os.path.join(WORK, "x1"), e=e)
    assert r.returncode == 2 and "/nonexistent/model" in r.stderr, (r.returncode, r.stderr)
    r = build(bindir, os.path.join(WORK, "x2"), "--model", "/nonexistent/other")
    assert r.returncode == 2 and "/nonexistent/other" in r.stderr, (r.returncode, r.stderr)


harness.main(globals())
