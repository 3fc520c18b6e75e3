#!/usr/bin/env bash
# onednn_gemm.sh - ragd's bf16 and int8 kernels against oneDNN's matmul, one thread (issue 16's
# "alternatives measured"; not part of make bench: it needs libdnnl-dev, which ragd does not).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if ! dpkg-query -W -f='${Status}' libdnnl-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -qq libdnnl-dev >/dev/null
fi
make -s all
objs=$(make -s --no-print-directory print-LIB_OBJ)
libs=$(make -s --no-print-directory print-LDLIBS)
mkdir -p build/bench
# shellcheck disable=SC2086
cc -D_GNU_SOURCE -Icore -Iembedders -O2 -std=gnu11 -o build/bench/onednn_gemm bench/onednn_gemm.c $objs $libs -ldnnl
OMP_NUM_THREADS=1 build/bench/onednn_gemm
