#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite; ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(scripts/build.sh | tail -n 1)
status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 1 "$@" || status=$?
scripts/summarize-tests.py "$BUILD/meson-logs/testlog.junit.xml"
exit $status
