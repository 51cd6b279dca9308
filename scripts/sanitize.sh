#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (clang), then each libFuzzer
# target for a bounded time from its committed seed corpus. Crashes found are written to
# build-asan/fuzz-crashes/ and fail the run. Usage: scripts/sanitize.sh [SECONDS_PER_FUZZER]
# In CI each fuzzer replays a fixed number of inputs from a fixed seed (CG_FUZZ_SEED, default 1),
# about SECONDS_PER_FUZZER on this machine (capped at twice that), so a run fails only when the
# code changed, not when a faster machine gets further. CG_FUZZ_SEED=random explores new ground
# for SECONDS_PER_FUZZER each (long campaigns by hand, whose crashes become regression tests).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_FUZZER="${1:-60}"
PY=$(scripts/setup.sh | tail -n 1)
BUILD="${CG_ASAN_BUILD_DIR:-build-asan}"
source scripts/ccache-env.sh
# Meson puts ccache in front of the compiler only when it picks the compiler itself, so it is
# named here; this build has debug info, whose paths ccache would otherwise hash, so a clean
# clone in another folder (CI's) would miss every object; and clang's precompiled header must
# not record its inputs' times, or ccache will not cache it nor what includes it, and must carry
# its inputs' contents: a cached one made in another folder names its header by that folder's
# path, and clang refuses it once that folder is gone.
export CCACHE_NOHASHDIR=true
wrap=$(command -v ccache >/dev/null && echo "ccache " || true)
if [ ! -f "$BUILD/build.ninja" ]; then
  CC="${wrap}clang-14" CXX="${wrap}clang++-14" meson setup "$BUILD" -Dtorch_python="$PY" -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=enabled \
    "-Dcpp_args=['-fsanitize=fuzzer-no-link','-Xclang','-fno-pch-timestamp','-Xclang','-fmodules-embed-all-files']"
fi
# Only what runs sanitized below: the trainer, its tests and the benchmarks would double the build.
ninja -C "$BUILD" -j"${CG_JOBS:-$(nproc)}" tests/fixtures tests/model-tests tests/engine/engine-tests \
  tests/element-tests plugin/libgstcyclegan.so tests/fuzz/fuzz-state-dict tests/fuzz/fuzz-safetensors \
  tests/fuzz/fuzz-model-file tests/fuzz/fuzz-frames

# LibTorch and GStreamer are not instrumented and keep allocations alive until exit; leaks that
# grow with the work done are checked by the soak test instead.
export ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CG_SANITIZED=1
status=0
meson test -C "$BUILD" --no-rebuild --print-errorlogs --num-processes 1 model engine element || status=$?
read -r passed failed < <(scripts/summarize-tests.py "$BUILD/meson-logs/testlog.junit.xml" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')

# LeakSanitizer on the element: a short and a four-times-longer soak (frames and model swaps) must
# report the same leaked total, i.e. nothing that grows with the work (GLib keeps a buffer or
# two until exit).
leaked() {
  # LeakSanitizer makes the run exit non-zero when it reports anything; the total is what counts.
  (ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0 CG_SOAK_FRAMES="$1" CG_SOAK_SWAPS="$2" \
    GST_PLUGIN_PATH_1_0="$PWD/$BUILD/plugin" GST_REGISTRY_1_0="$PWD/$BUILD/lsan-registry.bin" GST_REGISTRY_FORK=no \
    CG_FIXTURES="$PWD/$BUILD/tests/fixtures" "$BUILD/tests/element-tests" --gtest_filter='Soak.Frames*' 2>&1 || true) |
    sed -n 's/^SUMMARY: AddressSanitizer: \([0-9]*\) byte.*/\1/p'
}
leaked 20 1 >/dev/null  # builds the registry, which itself allocates once
short=$(leaked 200 4)
long=$(leaked 800 16)
echo "leak check: ${short:-0} bytes leaked after 200 frames and 4 swaps, ${long:-0} after 800 frames and 16 swaps"
if [ "${short:-0}" = "${long:-0}" ]; then
  passed=$((passed + 1))
else
  echo "leak check: FAILED, the leak grows with the frames" >&2
  failed=$((failed + 1))
  status=1
fi

crashes="$BUILD/fuzz-crashes"
# Inputs per second measured here: the reader ~6,500, safetensors ~940, G.pt loading ~1,000-1,600,
# frames ~30.
runs_of() {
  case "$1" in
    state-dict) echo $((SECONDS_PER_FUZZER * 5000)) ;;
    safetensors) echo $((SECONDS_PER_FUZZER * 800)) ;;
    model-file) echo $((SECONDS_PER_FUZZER * 800)) ;;
    frames) echo $((SECONDS_PER_FUZZER * 25)) ;;
  esac
}
mkdir -p "$crashes"
for target in state-dict safetensors model-file frames; do
  bin="$BUILD/tests/fuzz/fuzz-$target"
  [ -x "$bin" ] || continue
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
  if [ "${CG_FUZZ_SEED:-1}" = random ]; then
    bound=(-max_total_time="$SECONDS_PER_FUZZER")
    echo "fuzz-$target: ${SECONDS_PER_FUZZER}s, random seed"
  else
    bound=(-seed="${CG_FUZZ_SEED:-1}" -runs="$(runs_of "$target")" -max_total_time=$((2 * SECONDS_PER_FUZZER)))
    echo "fuzz-$target: $(runs_of "$target") inputs from seed ${CG_FUZZ_SEED:-1}"
  fi
  if ! GST_PLUGIN_PATH_1_0="$PWD/$BUILD/plugin" GST_REGISTRY_1_0="$PWD/$BUILD/fuzz-registry.bin" GST_REGISTRY_FORK=no \
      "$bin" "${bound[@]}" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$crashes/$target-" "$work" 2>"$BUILD/fuzz-$target.log"; then
    echo "fuzz-$target: FAILED, see $BUILD/fuzz-$target.log and $crashes" >&2
    tail -30 "$BUILD/fuzz-$target.log" >&2
    status=1
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
    grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz-$target.log" | tail -2
  fi
  rm -rf "$work"
done
echo "sanitizers: $passed passed, $failed failed"
exit $status
