#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and PyTorch (the torch version this build links)
# but nothing else of ours, run from the repository root with .device/ (scripts/device-bundle.sh)
# carried along. Unpacks the bundle, fails at once if CUDA is not visible, runs the CUDA tests with
# CG_REQUIRE_CUDA=1 (so that they fail rather than skip), then the inference benchmarks (Python
# eager, engine and element side by side: fp32, tf32, fp16, bf16 at 256x256, batch 1 and 8,
# 1920x1080 fp16, contiguous against channels-last) and the training benchmark (cg-trainer
# against the official iteration in Python, fp32 and --amp bf16). Writes $OUT/gpu-results.txt
# (the summary) and a log per step under $OUT (default ./device-out). Every step has a time bound
# and none starts after CG_DEVICE_BUDGET_S seconds (450; 1500 in a dry run), so the whole ends
# within 8 minutes on the GPU machine.
#
# --dry-run: the same script from the same bundle on a machine without a GPU (the development
# machine), the venv's python standing in for the GPU machine's: CUDA steps skipped (and the tests
# shown to fail under CG_REQUIRE_CUDA=1), benchmarks at a tiny size on the CPU. Proves the script
# and the bundle before GPU time is spent.
#
# Usage: scripts/device-check.sh [--dry-run]   (CG_PYTHON: a python with torch, if not python3)
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: scripts/device-check.sh [--dry-run]" >&2; exit 2 ;;
esac
OUT="${OUT:-device-out}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/gpu-results.txt"
# The dry run gets longer: a loaded 2-core CPU starts LibTorch and Python far slower than a GPU machine.
BUDGET="${CG_DEVICE_BUDGET_S:-$( ((DRY)) && echo 1500 || echo 450)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cg-device.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
: >"$RESULTS"
failed=()

say() { echo "$*" | tee -a "$RESULTS"; }
die() {
  say "device-check: FAILED: $*"
  exit 1
}

# ---- Python with torch: the GPU machine's (python3, else the image's venv), or the build's venv.
PY="${CG_PYTHON:-}"
if [ -z "$PY" ]; then
  candidates=(python3 /opt/torch/.venv/bin/python3)
  ((DRY)) && candidates=("${CG_CACHE_DIR:-$HOME/.cache/cyclegan-gst}/venv-torch-2.11.0/bin/python" python3)
  for p in "${candidates[@]}"; do
    if "$p" -c 'import torch' 2>/dev/null; then
      PY=$(command -v "$p")
      break
    fi
  done
fi
[ -n "$PY" ] || die "no python3 that imports torch (set CG_PYTHON)"
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
SITE=$(cd "$TORCH_LIB/../.." && pwd)

say "== cyclegan-gst GPU check$( ((DRY)) && echo ' (DRY RUN: CPU, tiny sizes, no CUDA)'), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "host: $(uname -m), $(nproc) cores, $(ldd --version | head -n 1)"
say "python: $PY, $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())')"
if command -v nvidia-smi >/dev/null; then
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4 | paste -sd ';')"
fi

# ---- The bundle.
for f in sys-libs.tar.xz cg-bin.tar.xz; do
  [ -f ".device/$f" ] || die ".device/$f is missing: run scripts/device-bundle.sh here first and carry .device"
done
B="$WORK/bundle"
mkdir -p "$B"
for f in sys-libs.tar.xz cg-bin.tar.xz; do
  if command -v xz >/dev/null; then
    tar -C "$B" -xJf ".device/$f"
  else  # Python reads xz itself when the image has no xz
    "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' ".device/$f" "$B"
  fi
done
sed 's/^/bundle: /' "$B/manifest.txt" | tee -a "$RESULTS"
bundle_torch=$(sed -n 's/^torch: \([^ ]*\).*/\1/p' "$B/manifest.txt")
here_torch=$("$PY" -c 'import torch; print(torch.__version__)')
# Same version, not just a compatible one: the binaries call LibTorch's C++ API, which has no
# stable ABI across releases.
[ "${bundle_torch%%+*}" = "${here_torch%%+*}" ] ||
  die "the bundle was built against torch $bundle_torch, this python has $here_torch"

# Our binaries run through wrappers that give them the bundle's libraries and the torch package's,
# so that neither leaks into Python processes (whose own libraries they could shadow). LD_LIBRARY_PATH
# also overrides the RUNPATH into the build machine's venv that the binaries carry.
LIBS="$B/lib:$TORCH_LIB"
mkdir -p "$WORK/bin"
for exe in cg-trainer cg-bench engine-tests element-tests; do
  # shellcheck disable=SC2016  # $LD_LIBRARY_PATH and $@ are the wrapper's, expanded when it runs
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' "$LIBS" "$B/bin/$exe" \
    >"$WORK/bin/$exe"
  chmod +x "$WORK/bin/$exe"
done
export CG_TRAINER="$WORK/bin/cg-trainer" CG_BENCH="$WORK/bin/cg-bench"
# GStreamer from the bundle only: its plugins, our element, a registry of this run, no scanner
# process (plugins load in-process), and nothing of a system GStreamer there may be.
export GST_PLUGIN_SYSTEM_PATH_1_0="$B/gst-plugins" GST_PLUGIN_PATH_1_0="$B/plugin"
export GST_REGISTRY_1_0="$WORK/registry.bin" GST_REGISTRY_FORK=no
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# ---- Every library resolves, to the bundle, the torch package or the core runtime, with the
# symbol versions the binaries need (ldd reports a missing version as "not found" too).
CORE='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|libresolv\.so\.2|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'
bad=$(for f in "$B"/bin/* "$B"/plugin/* "$B"/gst-plugins/*; do
  LD_LIBRARY_PATH="$LIBS" ldd "$f" 2>&1 | sed "s|^|$(basename "$f"): |"
done | CORE="$CORE" awk -v b="$B/" -v s="$SITE/" '
  /not found/ { print; next }
  $3 == "=>" && $4 !~ /^\(/ && index($4, b) != 1 && index($4, s) != 1 && $2 !~ ENVIRON["CORE"] { print $0 " (outside the bundle)" }')
[ -z "$bad" ] || die "libraries do not resolve as they must:
$bad"
say "loader: every library of the bundle resolves (bundle, torch package $SITE, core runtime)"

# ---- CUDA must be visible, or there is nothing to check.
if ((DRY)); then
  say "cuda: dry run, CUDA steps skipped"
elif ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  die "CUDA is not visible to PyTorch here ($("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>&1) devices); no GPU check was run"
fi

# step NAME SECONDS LOG COMMAND...: runs COMMAND with its output appended to $OUT/LOG, bounded by
# SECONDS and by what is left of the budget; records a failure (the script goes on: GPU time is
# scarce, so one failing step should not cost the others' figures).
step() {
  local name=$1 limit=$2 log="$OUT/$3" rc=0 t0=$SECONDS
  shift 3
  local left=$((BUDGET - SECONDS))
  if ((left < 20)); then
    say "SKIPPED  $name (time budget of ${BUDGET}s spent)"
    failed+=("$name (not run: time)")
    return 0
  fi
  ((limit > left)) && limit=$left
  echo "== $name: $*" >>"$log"
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    say "ok       $name ($((SECONDS - t0)) s)"
  else
    if [ "$rc" -eq 124 ]; then
      say "TIMEOUT  $name after ${limit}s (see $(basename "$log"))"
    else
      say "FAILED   $name, exit $rc (see $(basename "$log"))"
    fi
    failed+=("$name")
  fi
  return 0
}

# A gtest run that must have run tests and skipped none (a skip would be a GPU test without a GPU).
gtest_ran() {
  local log=$1
  if grep -q '^\[  SKIPPED \]' "$log"; then
    say "FAILED   $(basename "$log"): tests were skipped"
    failed+=("skips in $(basename "$log")")
  elif ! grep -qE '^\[==========\] [1-9][0-9]* tests? from .* ran' "$log"; then
    say "FAILED   $(basename "$log"): no test ran"
    failed+=("no tests in $(basename "$log")")
  fi
}

say ""
say "== tests"
export CG_FIXTURES="$WORK/fixtures"
step "fixtures (tests/python/make_fixtures.py)" 120 tests.log "$PY" tests/python/make_fixtures.py "$CG_FIXTURES"
if ((DRY)); then
  step "engine tests (CUDA ones skip: no GPU)" 180 engine-gpu.log "$WORK/bin/engine-tests"
  # The other half of the contract: without a GPU, CG_REQUIRE_CUDA=1 must turn the skips into failures.
  for t in engine-tests:EngineGpu element-tests:ElementGpu; do
    if CG_REQUIRE_CUDA=1 timeout 120 "$WORK/bin/${t%%:*}" --gtest_filter="${t##*:}.*" >>"$OUT/tests.log" 2>&1; then
      say "FAILED   ${t##*:} passed under CG_REQUIRE_CUDA=1 without a GPU"
      failed+=("CG_REQUIRE_CUDA guard ${t##*:}")
    else
      say "ok       ${t##*:} tests fail under CG_REQUIRE_CUDA=1 without a GPU, as they must"
    fi
  done
else
  export CG_REQUIRE_CUDA=1
  step "engine tests, CUDA required" 180 engine-gpu.log "$WORK/bin/engine-tests"
  gtest_ran "$OUT/engine-gpu.log"
  step "element tests on CUDA, CUDA required" 120 element-gpu.log \
    "$WORK/bin/element-tests" --gtest_filter='ElementGpu.*'
  gtest_ran "$OUT/element-gpu.log"
fi
grep -h -E '^(mean \||element: mean|engine device)' "$OUT/engine-gpu.log" "$OUT/element-gpu.log" 2>/dev/null |
  sed 's/^/  /' | tee -a "$RESULTS" || true

# ---- Benchmarks. Sizes, frames and model for the GPU, or tiny ones for the dry run on the CPU
# (where fp16 does not exist: bf16 stands in).
if ((DRY)); then
  # No ceiling: a bf16 matrix product takes minutes on CPUs without native bf16.
  DEVICE=cpu S=48x48 L=96x56 MODEL=(--ngf 8 --blocks 6 --no-ceiling) FRAMES=2 BIGFRAMES=2 ROUNDS=1
  TRAIN=(--device cpu --size 32 --ngf 8 --blocks 6 --iters 2 --warmup 1)
  SINGLE=(fp32 tf32 bf16) BATCHED=(fp32 bf16) fp16=bf16
else
  DEVICE=cuda S=256x256 L=1920x1080 MODEL=() FRAMES=30 BIGFRAMES=10 ROUNDS=2
  TRAIN=(--device cuda --size 256 --iters 20 --warmup 3)
  SINGLE=(fp32 tf32 fp16 bf16) BATCHED=(fp32 fp16 bf16) fp16=fp16
fi
json=()
bench() {  # bench SIZE PRECISION BATCH MEMORY_FORMAT
  local frames=$FRAMES file="$WORK/inference-$1-$2-b$3-$4.json"
  [ "$1" = "$L" ] && frames=$BIGFRAMES
  ((${3} > 1)) && frames=$((frames * 2))
  step "inference $1 $2 batch $3 $4" 90 bench-inference.log "$PY" tests/bench/bench_inference.py --device "$DEVICE" \
    --size "$1" --precision "$2" --batch "$3" --memory-format "$4" --rounds "$ROUNDS" --frames "$frames" \
    --warmup 3 "${MODEL[@]}" --gpt "$WORK/G-bench.pt" --json "$file"
  json+=("$file")
}
say ""
say "== benchmarks"
for p in "${SINGLE[@]}"; do bench "$S" "$p" 1 auto; done
for p in "${BATCHED[@]}"; do bench "$S" "$p" 8 auto; done
bench "$L" $fp16 1 auto
step "training fp32 and --amp bf16" 180 bench-train.log "$PY" tests/bench/bench-train-device.py \
  --trainer "$CG_TRAINER" "${TRAIN[@]}" --amp off,bf16 --json "$WORK/training.json"
for size in "$S" "$L"; do
  for f in contiguous channels-last; do bench "$size" $fp16 1 "$f"; done
done

# ---- Summary.
say ""
"$PY" tests/bench/device-results-table.py --inference "${json[@]}" --training "$WORK/training.json" |
  tee -a "$RESULTS"
say ""
say "elapsed: $SECONDS s (budget ${BUDGET} s); logs in $OUT"
if ((${#failed[@]})); then
  say "device-check: FAILED: ${#failed[@]} step(s): $(printf '%s; ' "${failed[@]}")"
  exit 1
fi
say "device-check: all steps passed$( ((DRY)) && echo ' (dry run: nothing ran on a GPU)')"
