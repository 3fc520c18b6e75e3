#!/usr/bin/env bash
# run.sh - build every fuzz harness with clang's libFuzzer (+ ASan, UBSan) and run each one.
#
# Usage: FUZZ_SECONDS=30 tests/fuzz/run.sh NAME...   (`make fuzz` passes every harness)
#
# The library objects are built by this Makefile with clang into
# build/fuzz/obj (-fsanitize=fuzzer-no-link,address,undefined); each
# harness tests/fuzz/fuzz_NAME.c is linked with -fsanitize=fuzzer. A run
# starts from tests/fuzz/corpus/NAME plus what earlier runs found
# (build/fuzz/corpus/NAME), for FUZZ_SECONDS. Any crash, leak, UB or
# timeout fails the run; the input is left in build/fuzz/crashes/ (copy it
# to tests/fuzz/regress/NAME/ with the fix, and `make test` replays it
# for ever). clang-14 and libFuzzer (libclang-rt-14-dev) are installed
# from Debian when missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
secs=${FUZZ_SECONDS:-30}
cc=${FUZZ_CC:-clang-14}
if ! command -v "$cc" >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null; }
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
obj=build/fuzz/obj
make -s objs O=$obj CC="$cc" CFLAGS="-O1 -g -std=gnu11 -pthread $san -fsanitize=fuzzer-no-link" >/dev/null
vars=$(make -s --no-print-directory O=$obj print-CPPFLAGS print-FUZZ_OBJ print-LDLIBS)
cppflags=$(echo "$vars" | sed -n 1p)
objs=$(echo "$vars" | sed -n 2p)
ldlibs=$(echo "$vars" | sed -n 3p)
mkdir -p build/fuzz/crashes
export RAGD_MODEL_DIR=${RAGD_MODEL_DIR:-$top/models/all-MiniLM-L6-v2}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-12s %14s %10s %8s  %s\n' harness executions exec/s corpus result
for n in "$@"; do
  bin=build/fuzz/fuzz_$n
  # shellcheck disable=SC2086
  "$cc" $cppflags -g -O1 $san -fsanitize=fuzzer -o "$bin" "tests/fuzz/fuzz_$n.c" $objs $ldlibs
  mkdir -p "build/fuzz/corpus/$n"
  log=build/fuzz/$n.log
  dict=(); [ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
  rc=0
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/crashes/$n-" "${dict[@]}" "build/fuzz/corpus/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(ls "build/fuzz/corpus/$n" | wc -l)
  if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc, see $log)"; failed=1; fi
  printf '%-12s %14s %10s %8s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "$size" "$result"
  [ "$rc" -eq 0 ] || grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$log" | head -8 >&2
done
exit $failed
