#!/usr/bin/env bash
# Fuzzes every fuzz target of the module for SECONDS each (default 30) and
# prints the executions per target. With --keep, the new interesting inputs
# the fuzzer found are copied into the package's testdata/fuzz corpus, so
# the corpus grows with each run that is committed. New inputs are minimized
# for at most 2 s: the scenario seeds are whole files, and minimizing one took
# the default 60 s (a 30 s run then fuzzed 33 inputs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=30 keep=0
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    *) secs=$a ;;
  esac
done
cache=$(go env GOCACHE)/fuzz/github.com/tcplab/tcplab
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" -fuzzminimizetime 2s "$pkg" 2>&1); then
      # Go 1.26's fuzzing coordinator can report its own -fuzztime deadline
      # as the target's failure ("context deadline exceeded", no input
      # written: golang/go#75804, fixed in Go 1.27). Only that exact ending
      # is forgiven; a failing input, a panic or any other error fails.
      if grep -qx -- "--- FAIL: ${target} (.*)" <<<"$out" && grep -qx '    context deadline exceeded' <<<"$out" &&
        ! grep -q 'Failing input written\|panic:\|_test.go:[0-9]' <<<"$out"; then
        echo "fuzz ${pkg#github.com/tcplab/tcplab/} ${target}: the Go fuzzing coordinator's own deadline race at the end (golang/go#75804), no failing input"
      else
        echo "$out"
        status=1
      fi
    fi
    execs=$(grep -o 'execs: [0-9]*' <<<"$out" | tail -1 | cut -d' ' -f2 || true)
    echo "fuzz ${pkg#github.com/tcplab/tcplab/} ${target}: ${execs:-0} execs in ${secs} s"
    if [ "$keep" = 1 ]; then
      rel=${pkg#github.com/tcplab/tcplab}
      src="$cache$rel/$target"
      if [ -d "$src" ]; then
        mkdir -p "$dir/testdata/fuzz/$target"
        cp -n "$src"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
      fi
    fi
  done
done
exit $status
