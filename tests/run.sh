#!/usr/bin/env bash
# run.sh - run every unit test binary and integration test; print one summary.
#
# Usage: tests/run.sh UNIT_TEST_DIR BIN_DIR
# Each unit binary ends with "# name: N passed, N failed"; integration
# tests (tests/integration/test_*.sh and test_*.py) count one case each.
# The last line is the suite's "N passed, N failed"; exit 1 on any failure.
set -u
unit_dir=$1
export RAGD_BIN=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$unit_dir"/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  "$t" >"$log" 2>&1
  rc=$?
  cat "$log"
  line=$(grep -E '^# [a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "FAIL $(basename "$t"): exited $rc without a summary (crash?)"
    failed=$((failed + 1))
    continue
  fi
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $(basename "$t"): exited $rc"
    failed=$((failed + 1))
  fi
done

for t in "$top"/tests/integration/test_*; do
  [ -f "$t" ] || continue
  echo "== integration/$(basename "$t")"
  case "$t" in
    *.py) python3 "$t" ;;
    *.sh) bash "$t" ;;
    *) continue ;;
  esac
  if [ $? -eq 0 ]; then passed=$((passed + 1)); echo "ok   $(basename "$t")"
  else failed=$((failed + 1)); echo "FAIL $(basename "$t")"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
