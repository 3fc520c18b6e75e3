#!/usr/bin/env bash
# setup_venv.sh - the Python packages the test suite drives ragd with (PyPI), in build/test-venv.
#
# Called by `make test` and `make asan`. The official openai package checks
# that /v1/embeddings is OpenAI-compatible for real clients; ragd's own
# Python client (clients/python) is installed from the tree each run, so
# the tests use what `pip install ./clients/python` gives a user.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=$top/build/test-venv
PINS=(openai==3.51.0)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import openai; assert openai.__version__ == '${PINS[0]#openai==}'" 2>/dev/null; then
  echo "tests: installing ${PINS[*]} into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$top/clients/python"
