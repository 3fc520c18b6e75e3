#!/usr/bin/env bash
# build.sh - the container image's build stage, runnable without Docker.
#
# Usage: deploy/image/build.sh STAGE_DIR
#
# Installs the build dependencies (deploy/deps.sh), builds FAISS and ragd,
# fetches the model, installs binaries and model under STAGE_DIR/opt/ragd
# (what the runtime stage copies), and checks with ldd that the runtime
# stage's package list (runtime-packages.txt) covers every library the
# binaries load. The Dockerfile runs exactly this; `make test` runs it too
# (tests/integration/test_image.py), so a missing runtime package fails the
# suite on any machine, Docker engine or not.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 STAGE_DIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mkdir -p "$1" && cd "$1" && pwd)
cd "$top"
bash deploy/deps.sh
bash deploy/build-faiss.sh
make -j"$(nproc)" all
bash deploy/model.sh
make install DESTDIR="$stage" PREFIX=/opt/ragd
python3 deploy/image/check_runtime.py --packages deploy/image/runtime-packages.txt "$stage"/opt/ragd/bin/*
