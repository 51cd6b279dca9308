#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite; ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/setup.sh | tail -n 1)
BUILD="${CG_BUILD_DIR:-build}"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dtorch_python="$PY"
fi
ninja -C "$BUILD" -j"${CG_JOBS:-$(nproc)}"
status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 1 "$@" || status=$?
scripts/summarize-tests.py "$BUILD/meson-logs/testlog.junit.xml"
exit $status
