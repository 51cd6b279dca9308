#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently: Debian packages (only when one is
# missing) and a Python virtual environment holding PyPI's torch wheel, whose LibTorch the C++
# code links against. The venv lives outside the source tree, so new clones and CI runs on the
# same machine download nothing. Prints the venv's python path on its last line.
set -euo pipefail

TORCH_VERSION="${CG_TORCH_VERSION:-2.11.0}"
CACHE="${CG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cyclegan-gst}"
VENV="$CACHE/venv-torch-$TORCH_VERSION"

DEB_PACKAGES=(
  build-essential pkg-config meson ninja-build ccache python3 python3-venv python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-plugins-base-apps
  libopencv-dev libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libgloo-dev clang-14 libclang-rt-14-dev clang-format-14
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! "$VENV/bin/python" -c "import torch, numpy; assert torch.__version__.split('+')[0] == '$TORCH_VERSION'" 2>/dev/null; then
  echo "setup: installing torch $TORCH_VERSION into $VENV (once; about 5 GB with its CUDA libraries)" >&2
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy >&2
fi
# Python packages only the tests use, pinned so a fresh machine tests against what was tested here:
# safetensors reads the G.safetensors files `cg-trainer export` writes, as model hubs' users would;
# onnx checks the G.onnx files and onnxruntime runs them against the G.pt.
TEST_PACKAGES=(safetensors==0.8.0 onnx==1.23.2 onnxruntime==1.32.0)
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys
sys.exit(any(m.version(n) != v for n, v in (p.split('==') for p in sys.argv[1:])))" "${TEST_PACKAGES[@]}" 2>/dev/null; then
  echo "setup: installing ${TEST_PACKAGES[*]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${TEST_PACKAGES[@]}" >&2
fi
echo "$VENV/bin/python"
