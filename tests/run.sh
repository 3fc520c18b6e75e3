#!/usr/bin/env bash
# run.sh - run every unit test binary and integration test; print one summary.
#
# Usage: tests/run.sh UNIT_TEST_DIR BIN_DIR
# Every test program (unit binaries, tests/integration/test_*.py) ends with
# "# name: N passed, N failed"; this script adds them up, counts a program
# that crashes or exits non-zero without failures as one failure, and
# prints the suite's closing "N passed, N failed". Exit 1 on any failure.
set -u
unit_dir=$1
export RAGD_BIN=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
export RAGD_MODEL_DIR=${RAGD_MODEL_DIR:-$top/models/all-MiniLM-L6-v2}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() {
  local label=$1; shift
  echo "== $label"
  local t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  cat "$log"
  echo "   ($label: $((SECONDS - t0)) s)"
  local line
  line=$(grep -E '^# [a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "FAIL $label: exited $rc without a summary (crash?)"
    failed=$((failed + 1))
    return
  fi
  local p f
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $label: exited $rc"
    failed=$((failed + 1))
  fi
}

for t in "$unit_dir"/test_*; do
  [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in "$top"/tests/integration/test_*.py; do
  [ -f "$t" ] && run_one "integration/$(basename "$t")" python3 "$t"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
