#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and builds into build/ (or $CG_BUILD_DIR): everything, or only the
# ninja targets given (scripts/demo.sh builds just the element and cg-trainer). Prints the build
# folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/setup.sh | tail -n 1)
BUILD="${CG_BUILD_DIR:-build}"
source scripts/ccache-env.sh
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dtorch_python="$PY" >&2
fi
ninja -C "$BUILD" -j"${CG_JOBS:-$(nproc)}" "$@" >&2
echo "$BUILD"
