#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds the project against that machine's PyTorch, runs the
# test suites (the GPU tests included: CUDA vs CPU at each precision, device=cuda in the element)
# and the GPU benchmark, and writes everything to ${OUT:-gpu-results}/gpu-results.txt.
# Needs python3 with torch (CUDA), meson, ninja, and the GStreamer 1.22 dev files; where those
# are missing, pass a folder of unpacked Debian packages as CG_DEB_ROOT (dpkg -x into it).
set -uo pipefail
cd "$(dirname "$0")/../.."
RESULTS="${OUT:-gpu-results}"
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu-results.txt"
exec > >(tee "$LOG") 2>&1

if [ -n "${CG_DEB_ROOT:-}" ]; then
  root=$(cd "$CG_DEB_ROOT" && pwd)
  export PKG_CONFIG_PATH="$root/usr/lib/x86_64-linux-gnu/pkgconfig:$root/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export PKG_CONFIG_SYSROOT_DIR="$root"
  export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$root/usr/bin:$PATH"
  export GST_PLUGIN_SYSTEM_PATH_1_0="$root/usr/lib/x86_64-linux-gnu/gstreamer-1.0"
  export GST_PLUGIN_SCANNER_1_0="$root/usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
PY=$(command -v python3)
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

BUILD=build-gpu
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dtorch_python="$PY" -Dtests=enabled
ninja -C "$BUILD" || exit 1
meson test -C "$BUILD" --print-errorlogs model element python-parity
grep -h "mean |cuda - cpu|" "$BUILD/meson-logs/testlog.txt" || true

export GST_PLUGIN_PATH_1_0="$PWD/$BUILD/plugin" GST_REGISTRY_1_0="$PWD/$BUILD/gpu-registry.bin"
export CG_BENCH="$PWD/$BUILD/tests/bench/cg-bench" CG_TRAINER="$PWD/$BUILD/trainer/cg-trainer"
for args in "--size 256x256 --precision fp32" "--size 256x256 --precision fp16" \
            "--size 256x256 --precision fp16 --batch 8 --frames 64" \
            "--size 1920x1080 --precision fp16 --frames 10"; do
  echo "== benchmark $args"
  # shellcheck disable=SC2086
  "$PY" tests/bench/bench_inference.py --device cuda --rounds 2 --frames 20 $args
done
