"""test_image.py - the container image, built the way its Dockerfile builds it.

No Docker engine runs here, so the build stage's script
(deploy/image/build.sh) runs on this machine into a staging folder, as the
Dockerfile's build stage runs it; that script ends with the ldd check of
runtime-packages.txt. Then the staged tree is used as the runtime stage
uses it: the binaries run from /opt/ragd's layout and find the bundled
model, and ragd-serve serves. The Dockerfile is checked to be the thin
wrapper around these steps that it claims to be.
"""
import json
import os
import re
import shutil
import subprocess

import harness

WORK = STAGE = None
IMAGE = os.path.join(harness.ROOT, "deploy", "image")


def setup_module():
    global WORK, STAGE
    WORK = harness.tmpdir()
    STAGE = os.path.join(WORK, "stage")
    r = harness.run(["bash", os.path.join(IMAGE, "build.sh"), STAGE], timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "every library covered" in r.stdout, r.stdout[-2000:]


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def staged(name):
    return os.path.join(STAGE, "opt", "ragd", "bin", name)


def clean_env():
    # as in the image: no RAGD_MODEL_DIR, the model found next to the binaries
    return {k: v for k, v in os.environ.items() if k != "RAGD_MODEL_DIR"}


def test_staged_binaries_run_with_the_bundled_model():
    r = harness.run([staged("ragd-serve"), "--version"])
    assert r.returncode == 0 and r.stdout.startswith("ragd-serve "), r
    texts = "the quick brown fox\nkubernetes readiness probes\n"
    a = subprocess.run([staged("ragd-index"), "embed", "--embedder", "minilm"], input=texts, capture_output=True,
                       text=True, env=clean_env(), cwd=WORK)
    # against the plain build build.sh made (under `make asan` the suite's
    # own binaries are compiled otherwise and differ in the last bits)
    b = subprocess.run([os.path.join(harness.ROOT, "bin", "ragd-index"), "embed", "--embedder", "minilm"],
                       input=texts, capture_output=True, text=True, env=clean_env())
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == 2


def test_staged_server_serves():
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=5)
    index = os.path.join(WORK, "index")
    r = subprocess.run([staged("ragd-index"), "build", "--out", index, "--source", corpus, "--log-level", "warn"],
                       capture_output=True, text=True, env=clean_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    port = harness.free_port()
    p = subprocess.Popen([staged("ragd-serve"), "--index", index, "--port", str(port), "--no-access-log"],
                         env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        assert harness.wait_until(lambda: _status(url + "/ready") == 200, 30)
        st, _, body = harness.http("GET", url + "/v1/search?q=alpha&k=2")
        assert st == 200 and len(json.loads(body)["results"]) == 2
    finally:
        p.terminate()
        assert p.wait(15) == 0


def _status(url):
    try:
        return harness.http("GET", url, timeout=2)[0]
    except OSError:
        return None


def test_runtime_check_fails_when_a_package_is_missing():
    with open(os.path.join(IMAGE, "runtime-packages.txt")) as f:
        full = f.read()
    less = os.path.join(WORK, "less.txt")
    with open(less, "w") as f:
        f.write(full.replace("libmicrohttpd12\n", ""))
    r = harness.run(["python3", os.path.join(IMAGE, "check_runtime.py"), "--packages", less, staged("ragd-serve")])
    assert r.returncode == 1 and "libmicrohttpd" in r.stderr, (r.returncode, r.stderr)


def test_dockerfile_is_the_build_script_plus_a_slim_runtime():
    with open(os.path.join(harness.ROOT, "Dockerfile")) as f:
        text = f.read()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "two stages"
    build, runtime = stages
    assert build.startswith("debian:bookworm AS build")
    assert "RUN bash deploy/image/build.sh /stage" in build
    assert runtime.startswith("debian:bookworm-slim")
    assert "COPY deploy/image/runtime-packages.txt" in runtime and "apt-get install" in runtime
    assert "COPY --from=build /stage/opt/ragd /opt/ragd" in runtime  # build.sh installs with PREFIX=/opt/ragd
    m = re.search(r"^USER (\d+):(\d+)$", runtime, re.M)
    assert m and int(m.group(1)) != 0, "a non-root numeric user"
    assert re.search(r"^STOPSIGNAL SIGTERM$", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD curl -fsS .*/health", runtime, re.M)
    assert "LABEL org.opencontainers.image.title" in runtime
    # the Kubernetes manifests run as that user and call the binaries where the image has them
    for name in ("ragd-serve.yaml", "reindex-cronjob.yaml"):
        with open(os.path.join(harness.ROOT, "deploy", "k8s", name)) as f:
            k = f.read()
        assert "runAsUser: %s" % m.group(1) in k, name
        for path in re.findall(r'"(/opt/ragd/bin/[\w-]+)"', k):
            assert os.path.exists(os.path.join(STAGE, path.lstrip("/"))), path


harness.main(globals())
