#!/usr/bin/env bash
# deps.sh - install ragd's Debian packages; quick no-op when all are present.
#
# Called by `make deps`. Idempotent: dpkg-query decides what is missing and
# only that is installed, so a second run takes well under a second.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config cmake dpkg-dev
  libfaiss-dev libopenblas-dev liblapack-dev
  libmicrohttpd-dev libxml2-dev libcurl4-openssl-dev libhiredis-dev
  libsqlite3-dev libutf8proc-dev libjansson-dev
  redis-server wrk python3 python3-venv curl python3.11-doc
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
