#!/usr/bin/env bash
# make_minilm_fixture.sh - regenerate tests/reference/minilm_fixture.json with the reference stack.
#
# Creates a virtualenv (REF_VENV, default build/ref-venv), installs
# sentence-transformers and torch from PyPI, installs the model (make model)
# and runs make_minilm_fixture.py. Not part of `make test`: the fixture it
# writes is committed, and the test needs no Python.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
venv=${REF_VENV:-$top/build/ref-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet sentence-transformers
bash "$top/deploy/model.sh"
HF_HUB_OFFLINE=1 "$venv/bin/python" "$top/tests/reference/make_minilm_fixture.py" \
  "$top/models/all-MiniLM-L6-v2" "$top/tests/reference/minilm_fixture.json"
