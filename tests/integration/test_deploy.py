"""test_deploy.py - the Kubernetes manifests in deploy/k8s are valid and complete.

Every manifest is validated with kubernetes-validate (PyPI, installed in
build/test-venv by tests/setup_venv.sh) against the Kubernetes 1.33 and
1.37 schemas, strictly (unknown fields are errors); a broken copy must
fail, so the validator is known to be looking. Then what the manifests
promise is checked against the binaries: every flag a container passes is
in that binary's --help, ragd-serve accepts the whole argument list, and
the kustomization lists every manifest.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import harness

K8S = os.path.join(harness.ROOT, "deploy", "k8s")
VENV = os.path.join(harness.ROOT, "build", "test-venv", "bin")
VERSIONS = ("1.33.0", "1.37.0")
WORK = None


def setup_module():
    global WORK
    WORK = harness.tmpdir()


def teardown_module():
    shutil.rmtree(WORK, ignore_errors=True)


def manifests():
    return sorted(p for p in glob.glob(os.path.join(K8S, "*.yaml")) if not p.endswith("kustomization.yaml"))


def load_all():
    """Every document of every manifest, as dicts (PyYAML from the venv)."""
    code = ("import json, sys, yaml\n"
            "print(json.dumps([[p, d] for p in sys.argv[1:] for d in yaml.safe_load_all(open(p)) if d]))")
    r = subprocess.run([os.path.join(VENV, "python"), "-c", code] + manifests(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def validate(paths, version):
    return subprocess.run([os.path.join(VENV, "kubernetes-validate"), "--strict", "-k", version] + paths,
                          capture_output=True, text=True, timeout=300)


def test_manifests_validate_strictly():
    for v in VERSIONS:
        r = validate(manifests(), v)
        out = r.stdout + r.stderr
        assert r.returncode == 0, (v, out)
        assert "ERROR" not in out and "Couldn't find schema" not in out, (v, out)


def test_validator_rejects_a_broken_manifest():
    with open(os.path.join(K8S, "ragd-serve.yaml")) as f:
        text = f.read()
    for i, (old, new) in enumerate([("replicas: 2", "replicas: two"),
                                    ("terminationGracePeriodSeconds: 40", "terminationGracePeriod: 40")]):
        assert old in text
        bad = os.path.join(WORK, "bad%d.yaml" % i)
        with open(bad, "w") as f:
            f.write(text.replace(old, new))
        assert validate([bad], VERSIONS[-1]).returncode != 0, new


def test_kustomization_lists_every_manifest_and_names_the_image():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        text = f.read()
    listed = re.findall(r"^  - (\S+\.yaml)$", text, re.M)
    assert sorted(listed) == sorted(os.path.basename(p) for p in manifests()), listed
    assert re.search(r"^  - name: ragd\b", text, re.M), "images: entry for ragd"
    for path, doc in load_all():
        for c in containers(doc):
            if c["name"].startswith("ragd"):
                assert c["image"] == "ragd", (path, c["image"])  # set by kustomization images:


def containers(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", [])


def ragd_containers():
    out = []
    for path, doc in load_all():
        for c in containers(doc):
            if c.get("command", [""])[0].startswith("/opt/ragd/bin/"):
                out.append((doc, c, os.path.basename(c["command"][0])))
    return out


def test_every_flag_a_manifest_passes_exists():
    seen = set()
    for doc, c, binary in ragd_containers():
        seen.add(binary)
        helptext = harness.run([harness.binary(binary), "--help"]).stdout
        for a in c["args"]:
            if a.startswith("--"):
                assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(a), helptext), (doc["metadata"]["name"], a)
    assert seen == {"ragd-serve", "ragd-index"}, seen


def test_ragd_serve_accepts_the_manifest_arguments():
    # --check parses everything, then fails only for want of an index (exit 1);
    # a flag or value it does not accept is a usage error (exit 2).
    for doc, c, binary in ragd_containers():
        if binary != "ragd-serve":
            continue
        args = list(c["args"])
        args[args.index("--index") + 1] = os.path.join(WORK, "no-index")
        r = harness.run([harness.binary(binary)] + args + ["--check"])
        assert r.returncode == 1 and "no published version" in r.stderr, (r.returncode, r.stderr)


def test_serve_deployment_is_production_shaped():
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in load_all()}
    dep = docs[("Deployment", "ragd-serve")]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert c["lifecycle"]["preStop"]
    # drain: preStop sleep + ragd-serve's own shutdown timeout fit in the grace period
    shutdown = int(c["args"][c["args"].index("--shutdown-timeout-s") + 1])
    assert 5 + shutdown < pod["terminationGracePeriodSeconds"]
    assert pod["affinity"]["podAntiAffinity"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    keys = c["args"][c["args"].index("--api-keys") + 1]
    mount = [m for m in c["volumeMounts"] if keys.startswith(m["mountPath"] + "/")]
    assert mount and [v for v in pod["volumes"] if v["name"] == mount[0]["name"]][0]["secret"]
    redis = c["args"][c["args"].index("--redis") + 1]
    assert redis == "redis://ragd-redis:6379" and ("Service", "ragd-redis") in docs
    assert ("Deployment", "ragd-redis") in docs and docs[("Deployment", "ragd-redis")]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
        assert (kind, "ragd-serve") in docs, kind
    cron = docs[("CronJob", "ragd-reindex")]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "--metrics-file" in job["containers"][0]["args"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in job["volumes"] + pod["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims == {"ragd-index"}, claims  # one shared index volume


# ---- the scale-out overlay (deploy/k8s-scale-out: the base with its ragd-serve as a router, plus shard groups) ----

SCALE = os.path.join(harness.ROOT, "deploy", "k8s-scale-out")


def scale_manifests():
    return sorted(p for p in glob.glob(os.path.join(SCALE, "*.yaml")) if not p.endswith("kustomization.yaml"))


def load_yaml(paths):
    code = ("import json, sys, yaml\n"
            "print(json.dumps([[p, d] for p in sys.argv[1:] for d in yaml.safe_load_all(open(p)) if d]))")
    r = subprocess.run([os.path.join(VENV, "python"), "-c", code] + paths, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def router_patch():
    """The overlay's patch of the base's ragd-serve Deployment: its container (the router)."""
    kz = load_yaml([os.path.join(SCALE, "kustomization.yaml")])[0][1]
    assert kz["resources"][0] == "../k8s"  # the base, whole
    code = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(sys.stdin.read())))"
    (patch,) = [p for p in kz["patches"] if p["target"] == {"kind": "Deployment", "name": "ragd-serve"}]
    r = subprocess.run([os.path.join(VENV, "python"), "-c", code], input=patch["patch"], capture_output=True, text=True)
    return kz, json.loads(r.stdout)["spec"]["template"]["spec"]


def test_scale_out_manifests_validate_strictly():
    for v in VERSIONS:
        r = validate(scale_manifests(), v)
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "ERROR" not in out and "Couldn't find schema" not in out, (v, out)


def test_scale_out_overlay_is_consistent():
    kz, router = router_patch()
    listed = [x for x in kz["resources"][1:]]
    assert sorted(listed) == sorted(os.path.basename(p) for p in scale_manifests()), listed
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in load_yaml(scale_manifests())}
    shards_seen = []
    peers = []
    secret_path = None
    for (kind, name), dep in sorted(docs.items()):
        if kind != "Deployment":
            continue
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        a = c["args"]
        lo, _, hi = a[a.index("--shards") + 1].partition("-")
        shards_seen += list(range(int(lo), int(hi or lo) + 1))
        secret_path = a[a.index("--peer-secret-file") + 1]
        mount = [m for m in c["volumeMounts"] if secret_path.startswith(m["mountPath"] + "/")][0]
        assert [v for v in pod["volumes"] if v["name"] == mount["name"]][0]["secret"]["secretName"] == "ragd-peer-secret"
        svc = docs[("Service", name)]  # a headless Service per group, selecting exactly its pods
        assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
        assert ("PodDisruptionBudget", name) in docs
        assert docs[("PodDisruptionBudget", name)]["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        peers.append("http://%s:%d" % (name, svc["spec"]["ports"][0]["port"]))
    assert sorted(shards_seen) == [0, 1, 2, 3], shards_seen  # every shard once
    ra = router["containers"][0]["args"]
    assert "--router" in ra and "--index" not in ra
    assert ra[ra.index("--peers") + 1] == ",".join(peers)
    assert ra[ra.index("--peer-secret-file") + 1] == secret_path
    assert [v for v in router["volumes"] if v.get("name") == "peer"][0]["secret"]["secretName"] == "ragd-peer-secret"
    assert docs[("Secret", "ragd-peer-secret")]
    # the base still gives the router pods (component serve) their Service, PDB and HPA
    base = {(d["kind"], d["metadata"]["name"]) for _, d in load_all()}
    for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
        assert (kind, "ragd-serve") in base


def test_scale_out_flags_exist_and_both_roles_start():
    _, router = router_patch()
    docs = [d for _, d in load_yaml(scale_manifests()) if d["kind"] == "Deployment"]
    helptext = harness.run([harness.binary("ragd-serve"), "--help"]).stdout
    arg_lists = [router["containers"][0]["args"]] + [d["spec"]["template"]["spec"]["containers"][0]["args"] for d in docs]
    for args in arg_lists:
        for a in args:
            if a.startswith("--"):
                assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(a), helptext), a
    # each role's argument list, with this machine's files and ports, really starts
    secret = os.path.join(WORK, "peer")
    with open(secret, "w") as f:
        f.write("a-test-peer-secret-of-some-length\n")
    keys = os.path.join(WORK, "keys")
    with open(keys, "w") as f:
        f.write("some-test-key-1234 id=t\n")
    corpus = os.path.join(WORK, "corpus")
    harness.make_corpus(corpus, n_docs=6)
    index = os.path.join(WORK, "docs")
    assert harness.ragd_index("build", "--out", index, "--source", corpus, "--shards", "4", "--embedder", "hash",
                              "--log-level", "warn").returncode == 0
    shard = list(docs[0]["spec"]["template"]["spec"]["containers"][0]["args"])
    shard[shard.index("--index") + 1] = index
    shard[shard.index("--peer-secret-file") + 1] = secret
    shard = [a for a in shard if a not in ("--bind", "0.0.0.0", "--port", "8080")]
    s = harness.Server(None, *shard)
    try:
        ra = list(router["containers"][0]["args"])
        ra[ra.index("--peer-secret-file") + 1] = secret
        ra[ra.index("--api-keys") + 1] = keys
        ra[ra.index("--peers") + 1] = "http://127.0.0.1:%d" % s.port
        ra[ra.index("--redis") + 1] = "redis://127.0.0.1:%d" % harness.free_port()
        ra = [a for a in ra if a not in ("--bind", "0.0.0.0", "--port", "8080")]
        r = harness.Server(None, *ra, wait_loaded=False)
        try:
            st, _, b = r.get("/ready")
            ready = json.loads(b)  # one group of shards 0-1 only: served, but not complete
            assert st == 200 and ready["role"] == "router" and ready["complete"] is False, ready
        finally:
            r.close()
    finally:
        s.close()


harness.main(globals())
