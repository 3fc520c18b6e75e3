#!/usr/bin/env bash
# setup_venv.sh - the Python packages the test suite drives ragd with (PyPI), in build/test-venv.
#
# Called by `make test` and `make asan`. The official openai package checks
# that /v1/embeddings is OpenAI-compatible for real clients, langchain-core
# that the client's LangChain retriever and embeddings work, schemathesis
# that the server keeps to docs/openapi.yaml, kubernetes-validate that
# deploy/k8s validates against the Kubernetes schemas; ragd's own
# Python client (clients/python) is installed from the tree each run, so
# the tests use what `pip install ./clients/python` gives a user.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=$top/build/test-venv
# langchain-core 1.8 needs a certifi newer than the registry serves; 1.7.0 resolves
PINS=(openai==3.51.0 langchain-core==1.7.0 schemathesis==4.32.5 kubernetes-validate==1.37.0)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "
import importlib.metadata as m
pins = '${PINS[*]}'.split()
assert all(m.version(p.split('==')[0]) == p.split('==')[1] for p in pins)
" 2>/dev/null; then
  echo "tests: installing ${PINS[*]} into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$top/clients/python"
