#!/usr/bin/env bash
# Packs into .device/ what a GPU machine needs to run scripts/device-check.sh when it has PyTorch
# (the same torch version as this build) but no compiler toolchain for us, no GStreamer, no OpenCV
# and no internet: the binaries built here (CUDA-capable, since they link the wheel's LibTorch),
# the shared libraries they need that such a machine lacks, and the GStreamer plugins the element
# test and benchmark use. LibTorch, CUDA and NVIDIA libraries are left out (the machine's torch
# package provides them; device-check.sh puts its lib folder on LD_LIBRARY_PATH), and so are
# glibc's and GCC's runtime libraries, which every Linux has. Test fixtures are not packed either:
# device-check.sh writes them there with that machine's torch (the default generator's weights
# alone are 45 MB of random floats that do not compress).
#
# .device/ is git-ignored: carry it along with the working tree to the GPU machine. Two archives,
# so that a rebuild repacks only our own binaries: sys-libs.tar.xz (system libraries and plugins,
# repacked only when one of them changes; xz -9 takes minutes) and cg-bin.tar.xz (ours).
#
# Usage: scripts/device-bundle.sh [--no-build]   (--no-build: the binaries are already built)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${CG_BUILD_DIR:-build}"
DEST=.device
LIMIT_BYTES=$((64 * 1024 * 1024))
TARGETS=(trainer/cg-trainer tests/bench/cg-bench tests/engine/engine-tests tests/element-tests plugin/libgstcyclegan.so)

if [ "${1:-}" != --no-build ]; then
  BUILD=$(scripts/build.sh "${TARGETS[@]}" | tail -n 1)
fi
for t in "${TARGETS[@]}"; do
  [ -f "$BUILD/$t" ] || { echo "device-bundle: $BUILD/$t is missing (build it, or drop --no-build)" >&2; exit 1; }
done

# The torch package the binaries were linked against: everything under its site-packages (torch/lib,
# nvidia/*/lib) is the GPU machine's own.
torch_lib=$(ldd "$BUILD/trainer/cg-trainer" | awk '$1 == "libtorch.so" { print $3 }')
[ -n "$torch_lib" ] || { echo "device-bundle: cg-trainer does not resolve libtorch.so" >&2; exit 1; }
site=$(cd "$(dirname "$torch_lib")/../.." && pwd)
torch_version=$("$site/../../../bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo unknown)

gst_plugins=$(pkg-config --variable=pluginsdir gstreamer-1.0)
# coreelements: queue, capsfilter, fakesink; videotestsrc: the benchmark's source; videoconvertscale
# (videoconvert since GStreamer 1.22) and app for element tests that convert or feed frames.
PLUGINS=(coreelements app videotestsrc videoconvertscale)
# The dynamic loader, glibc and GCC's runtime: present on any Linux with a C++ toolchain's runtime
# (device-check.sh's loader check fails loudly when their versions are too old there).
CORE='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|libresolv\.so\.2|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/sys/lib" "$stage/sys/gst-plugins" "$stage/cg/bin" "$stage/cg/plugin"
for t in trainer/cg-trainer tests/bench/cg-bench tests/engine/engine-tests tests/element-tests; do
  cp "$BUILD/$t" "$stage/cg/bin/"
done
cp "$BUILD/plugin/libgstcyclegan.so" "$stage/cg/plugin/"
for p in "${PLUGINS[@]}"; do
  cp "$gst_plugins/libgst$p.so" "$stage/sys/gst-plugins/"
done

# The closure of what they load, as this machine's loader resolves it (ldd lists indirect
# dependencies too), less the torch package and the core libraries.
missing=0
while read -r name path; do
  if [[ "$name" =~ $CORE ]] || [[ "$path" == "$site"/* ]]; then continue; fi
  if [ "$path" = "not" ] || [ ! -f "$path" ]; then
    echo "device-bundle: $name is not found here" >&2
    missing=1
    continue
  fi
  cp -L "$path" "$stage/sys/lib/$name"
done < <(for f in "$stage"/cg/bin/* "$stage"/cg/plugin/* "$stage"/sys/gst-plugins/*; do
  ldd "$f" | awk '$2 == "=>" { print $1, $3 }'
done | sort -u)
[ "$missing" -eq 0 ] || exit 1

# The newest glibc and libstdc++ symbol versions anything in the bundle asks for: what the GPU
# machine's own libraries must provide.
need() { find "$stage" -type f -exec objdump -T {} + 2>/dev/null | grep -o "$1[0-9.]*" | sort -uV | tail -n 1; }
glibc_needed=$(need 'GLIBC_2\.')
glibcxx_needed=$(need 'GLIBCXX_3\.')

mkdir -p "$DEST"
# The system part is keyed by the contents of its files, so an unchanged machine repacks nothing.
key=$( (cd "$stage/sys" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
if [ -f "$DEST/sys-libs.tar.xz" ] && [ "$(cat "$DEST/sys-libs.key" 2>/dev/null)" = "$key" ]; then
  echo "device-bundle: system libraries unchanged, $DEST/sys-libs.tar.xz kept" >&2
else
  echo "device-bundle: packing $(find "$stage/sys/lib" -type f | wc -l) system libraries and ${#PLUGINS[@]} plugins" \
    "($(du -sh "$stage/sys" | cut -f1) unpacked; xz -9 takes a few minutes)" >&2
  tar -C "$stage/sys" -cf - . | xz -9 -T0 >"$DEST/sys-libs.tar.xz.part"
  mv "$DEST/sys-libs.tar.xz.part" "$DEST/sys-libs.tar.xz"
  echo "$key" >"$DEST/sys-libs.key"
fi

cat >"$stage/cg/manifest.txt" <<EOF
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(ldd --version | head -n 1)
commit: $(git describe --always --dirty 2>/dev/null || echo unknown)
torch: $torch_version ($site)
glibc needed: $glibc_needed
libstdc++ needed: $glibcxx_needed
system libraries: $key
EOF
tar -C "$stage/cg" -cf - . | xz -6 -T0 >"$DEST/cg-bin.tar.xz.part"
mv "$DEST/cg-bin.tar.xz.part" "$DEST/cg-bin.tar.xz"
cp "$stage/cg/manifest.txt" "$DEST/manifest.txt"

total=$(cat "$DEST"/* | wc -c)
cat "$DEST/manifest.txt"
ls -l "$DEST"
echo "device-bundle: $DEST holds $((total / 1024 / 1024)) MiB ($total bytes) of the 64 MiB that may travel"
[ "$total" -lt "$LIMIT_BYTES" ] || { echo "device-bundle: too big to travel" >&2; exit 1; }
