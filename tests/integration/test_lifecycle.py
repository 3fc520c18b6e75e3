"""test_lifecycle.py - ragd-serve as Kubernetes runs it: listen before load, readiness
progress, API keys reloaded on SIGHUP and on change, JSON log lines.

A slow volume is simulated by tests/integration/slow_disk.c (LD_PRELOAD):
opening one shard file waits while a "hold" file exists, so the test can
look at /health and /ready in the middle of a load without timing guesses.
"""
import json
import os
import shutil
import signal
import subprocess
import threading

import harness

WORK = CORPUS = INDEX = SHIM = None


def build(index, *extra):
    r = harness.ragd_index("build", "--out", index, "--source", CORPUS, "--embedder", "hash", "--shards", "3",
                           "--log-level", "warn", *extra)
    assert r.returncode == 0, r.stderr
    return os.readlink(os.path.join(index, "current")).split("/")[-1]


def setup_module():
    global WORK, CORPUS, INDEX, SHIM
    WORK = harness.tmpdir()
    CORPUS = os.path.join(WORK, "corpus")
    harness.make_corpus(CORPUS, n_docs=30)
    INDEX = os.path.join(WORK, "docs")
    build(INDEX)
    SHIM = os.path.join(WORK, "slow_disk.so")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_disk.c")
    r = harness.run(["cc", "-shared", "-fPIC", "-O1", "-o", SHIM, src, "-ldl"])
    assert r.returncode == 0, r.stderr


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def shim_env(hold, match):
    env = dict(os.environ, LD_PRELOAD=SHIM, SLOW_DISK_MATCH=match, SLOW_DISK_HOLD=hold)
    # An ASan build wants its runtime first in the library list; the shim
    # only wraps open(), which ASan does not intercept.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    return env


def get_json(srv, path, headers=None):
    st, _, body = srv.get(path, headers=headers)
    return st, json.loads(body)


def test_listens_and_reports_progress_while_loading():
    hold = os.path.join(WORK, "hold")
    open(hold, "w").close()
    version = os.readlink(os.path.join(INDEX, "current")).split("/")[-1]
    srv = harness.Server(INDEX, "--watch-ms", "0", env=shim_env(hold, "shard-001.faiss"), wait_loaded=False)
    try:
        # The loader is parked on shard 1 (of 3): shard 0 is done.
        assert harness.wait_until(lambda: get_json(srv, "/ready")[1].get("progress", {}).get("shards_loaded") == 1, 20)
        assert srv.get("/health")[0] == 200
        st, ready = get_json(srv, "/ready")
        assert st == 503 and ready["status"] == "loading", ready
        p = ready["progress"]
        assert p["index_version"] == version and p["shards"] == 3, p
        assert 0 < p["bytes_loaded"] < p["bytes"] and 0 < p["fraction"] < 1, p
        assert version in ready["reason"] and ready["error"]["code"] == "not_ready", ready
        st, body = get_json(srv, "/v1/search?q=alpha")
        assert st == 503 and body["error"]["code"] == "not_ready" and "loading" in body["error"]["message"], body
        os.unlink(hold)
        assert harness.wait_until(lambda: srv.get("/ready")[0] == 200, 20)
        st, ready = get_json(srv, "/ready")
        assert ready["status"] == "ready" and ready["index_version"] == version and "progress" not in ready
        assert srv.get("/v1/search?q=alpha")[0] == 200
    finally:
        if os.path.exists(hold):
            os.unlink(hold)
        srv.close()


def test_not_ready_until_the_first_version_is_published():
    empty = os.path.join(WORK, "later")
    os.makedirs(empty)
    srv = harness.Server(empty, "--watch-ms", "50")
    try:
        st, ready = get_json(srv, "/ready")
        assert st == 503 and ready["status"] == "not_ready" and "current" in ready["reason"], ready
        assert srv.get("/health")[0] == 200
        version = build(empty)
        assert harness.wait_until(lambda: srv.get("/ready")[0] == 200, 20)
        assert get_json(srv, "/ready")[1]["index_version"] == version
    finally:
        srv.close()


def test_a_rejected_reload_is_retried_until_it_loads():
    # Security review finding 5: a version that fails to load once (here a
    # shard file damaged, as if still being copied) used to be skipped for
    # good. It is retried with back-off; /ready says why meanwhile.
    index = os.path.join(WORK, "retry")
    v1 = build(index)
    srv = harness.Server(index, "--watch-ms", "0")
    try:
        v2 = build(index, "--chunk-tokens", "40")
        shard = os.path.join(index, "versions", v2, "shard-001.db")
        with open(shard, "rb") as f:
            good = f.read()
        with open(shard, "ab") as f:
            f.write(b"partial copy")
        srv.proc.send_signal(signal.SIGHUP)
        assert harness.wait_until(lambda: "reload_error" in get_json(srv, "/ready")[1], 10)
        st, ready = get_json(srv, "/ready")
        assert st == 200 and ready["index_version"] == v1 and "shard-001.db" in ready["reload_error"], ready
        with open(shard, "wb") as f:
            f.write(good)
        assert harness.wait_until(lambda: get_json(srv, "/ready")[1]["index_version"] == v2, 20)
        assert "reload_error" not in get_json(srv, "/ready")[1]
    finally:
        srv.close()


def write_keys(path, text):
    # Like a Kubernetes secret update: write a new file, then rename it in.
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def counter(srv, name, label):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.split()[-1])
    raise AssertionError(name)


def test_api_keys_reload_on_change_and_sighup():
    keys = os.path.join(WORK, "keys")
    write_keys(keys, "old-secret id=old\n")
    srv = harness.Server(INDEX, "--api-keys", keys, "--watch-ms", "50")
    old, new = {"X-API-Key": "old-secret"}, {"X-API-Key": "new-secret"}
    try:
        assert srv.get("/v1/search?q=alpha", headers=old)[0] == 200
        assert srv.get("/v1/search?q=alpha", headers=new)[0] == 401
        # A changed file is picked up by polling.
        write_keys(keys, "new-secret id=new\n")
        assert harness.wait_until(lambda: srv.get("/v1/search?q=alpha", headers=new)[0] == 200, 10)
        assert srv.get("/v1/search?q=alpha", headers=old)[0] == 401
        assert counter(srv, "ragd_api_key_reloads_total", 'result="ok"') >= 1
        # A malformed file is rejected and the keys in force stay.
        write_keys(keys, "new-secret id=new bogus-attribute=1\n")
        assert harness.wait_until(lambda: counter(srv, "ragd_api_key_reloads_total", 'result="rejected"') >= 1, 10)
        assert srv.get("/v1/search?q=alpha", headers=new)[0] == 200
        assert "API key reload rejected" in srv.output()
    finally:
        srv.close()
    # SIGHUP reloads even when polling is off (--watch-ms 0).
    write_keys(keys, "old-secret id=old\n")
    srv = harness.Server(INDEX, "--api-keys", keys, "--watch-ms", "0")
    try:
        with open(keys, "a") as f:
            f.write("new-secret id=new\n")
        assert srv.get("/v1/search?q=alpha", headers=new)[0] == 401
        srv.proc.send_signal(signal.SIGHUP)
        assert harness.wait_until(lambda: srv.get("/v1/search?q=alpha", headers=new)[0] == 200, 10)
        assert srv.get("/v1/search?q=alpha", headers=old)[0] == 200
    finally:
        srv.close()


def test_key_reloads_under_load_drop_no_request():
    keys = os.path.join(WORK, "keys-load")
    write_keys(keys, "steady-secret id=steady\n")
    srv = harness.Server(INDEX, "--api-keys", keys, "--watch-ms", "20", "--threads", "4")
    statuses, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            statuses.append(srv.get("/v1/search?q=alpha+bravo", headers={"X-API-Key": "steady-secret"})[0])

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for i in range(20):
            # the steady key stays in every version of the file
            write_keys(keys, "steady-secret id=steady\nrotating-%d id=r%d\n" % (i, i))
            srv.proc.send_signal(signal.SIGHUP)
            harness.wait_until(lambda: counter(srv, "ragd_api_key_reloads_total", 'result="ok"') >= i + 1, 10)
        stop.set()
        for t in threads:
            t.join()
        assert counter(srv, "ragd_api_key_reloads_total", 'result="ok"') >= 20
        assert statuses and set(statuses) == {200}, set(statuses)
    finally:
        stop.set()
        srv.close()


def test_logs_are_json_lines_unless_asked_for_text():
    srv = harness.Server(INDEX, "--watch-ms", "0", "--log-level", "info")
    try:
        srv.get("/v1/search?q=alpha")
    finally:
        srv.close()
    lines = [l for l in srv.final_output.splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is JSON (stderr is not a terminal)
    msgs = [r for r in records if "msg" in r]
    assert any("serving index version" in r["msg"] for r in msgs), lines
    for r in msgs:
        assert set(r) == {"ts", "level", "msg"} and r["level"] in ("debug", "info", "warn", "error"), r
        assert r["ts"].endswith("Z") and len(r["ts"]) == 24, r
    r = harness.run([harness.binary("ragd-serve"), "--index", os.path.join(WORK, "nowhere"), "--port", "0",
                     "--log-format", "text", "--check"])
    assert r.returncode == 1 and r.stderr and not r.stderr.lstrip().startswith("{"), r.stderr
    assert " error " in r.stderr and "no published version" in r.stderr, r.stderr
    r = harness.run([harness.binary("ragd-serve"), "--index", INDEX, "--log-format", "yaml"])
    assert r.returncode == 2 and "--log-format" in r.stderr, r.stderr


harness.main(globals())
