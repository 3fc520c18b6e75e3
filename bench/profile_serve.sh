#!/usr/bin/env bash
# profile_serve.sh - where ragd-serve's CPU goes under load: perf samples by part of the request path.
#
# Usage: bench/profile_serve.sh INDEX_DIR BODIES_FILE [ragd-serve flags...]
#   e.g. bench/profile_serve.sh build/bench/peers/index build/bench/peers/bodies-ragd-text.txt --ef-search 100
# Starts ragd-serve on INDEX_DIR, drives POST /v1/search with wrk at 16
# connections (bench/wrk_queries.lua "bodies" mode: one JSON body per line
# of BODIES_FILE), records 8 s of call stacks with perf (999 Hz) and prints
# QPS under perf and the share of samples in the encoder's linear layers,
# the rest of the encoder, the HNSW search (FAISS), row fetch (SQLite),
# JSON (jansson), HTTP (libmicrohttpd), libc and the kernel. Needs perf.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
index=$1 bodies=$2
shift 2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
"$top/bin/ragd-serve" --index "$index" --port "$port" --no-access-log --log-level warn "$@" &
pid=$!
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.5; done
(sleep 1; perf record -F 999 -g -p "$pid" -o "$out/perf.data" -- sleep 8 >/dev/null 2>&1) &
wrk -t2 -c16 -d10s --timeout 10s -s "$top/bench/wrk_queries.lua" "http://127.0.0.1:$port" -- "$bodies" /v1/search bodies |
  grep -oE 'Requests/sec: +[0-9.]+'
wait %2 2>/dev/null || wait
perf report -i "$out/perf.data" --no-children --sort dso,symbol -g none 2>/dev/null | grep -E '^ +[0-9]' >"$out/report.txt"
python3 - "$out/report.txt" <<'PY'
import collections, re, sys
parts = collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(4)
    if dso.startswith("[kernel"): part = "kernel (TCP, scheduling, syscalls)"
    elif "jansson" in dso: part = "JSON (jansson)"
    elif "sqlite" in dso: part = "row fetch (SQLite)"
    elif "microhttpd" in dso: part = "HTTP (libmicrohttpd)"
    elif "libc" in dso: part = "libc (malloc, memcpy, locks, formatting)"
    elif re.search(r"faiss|HNSW|fvec", sym): part = "HNSW search (FAISS)"
    elif re.search(r"linear|to_bf16|panels|amx|avx_block|vnni|quantize_rows", sym): part = "encoder: linear layers"
    elif re.search(r"attention|softmax|gelu|layernorm|_row|bert|wordpiece|tensor", sym):
        part = "encoder: attention, norms, activations, tokenizer"
    else: part = "other"
    parts[part] += pct
for part, pct in sorted(parts.items(), key=lambda kv: -kv[1]):
    print("%6.1f%%  %s" % (pct, part))
PY
