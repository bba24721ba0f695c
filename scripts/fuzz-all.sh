#!/usr/bin/env bash
# Runs every `func FuzzX` in the module for a bounded time each (default 10s).
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  while IFS= read -r target; do
    echo "fuzz: ./$dir $target ($fuzztime)"
    corpus="$dir/testdata/fuzz/$target"
    before=$(find "$corpus" -type f 2>/dev/null | sort || true)
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" </dev/null >/tmp/fuzz-$$.log 2>&1; then
      after=$(find "$corpus" -type f 2>/dev/null | sort || true)
      # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as
      # a failure (golang/go#75804, fixed in Go 1.27): no input failed and
      # none was written. Anything else is a real failure.
      if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' /tmp/fuzz-$$.log \
        && [ "$(grep -c -- '--- FAIL' /tmp/fuzz-$$.log)" = 1 ] && ! grep -q 'Failing input written' /tmp/fuzz-$$.log; then
        echo "fuzz: $target: ended by golang/go#75804 (deadline reported as failure, no failing input): not a failure"
      else
        cat /tmp/fuzz-$$.log
        status=1
      fi
    fi
  done < <(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/')
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort)
rm -f /tmp/fuzz-$$.log
exit $status
