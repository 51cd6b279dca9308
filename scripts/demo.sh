#!/usr/bin/env bash
# The main job on embedded defaults: sets up and builds, makes a short demo clip from synthetic
# facade label maps (6 s, 128x128, with a sound track), translates it with the bundled model into
# demo-out/translated.mp4 and writes demo-out/side-by-side.png (original | translated).
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what the demo runs: the element and cg-trainer (the test suites are left to scripts/test.sh).
BUILD=$(scripts/build.sh plugin/libgstcyclegan.so trainer/cg-trainer | tail -n 1)
OUT="${1:-demo-out}"
mkdir -p "$OUT" "$BUILD/demo"
export CG_BUILD_DIR="$PWD/$BUILD"

clip="$BUILD/demo/clip.mp4"
if [ ! -f "$clip" ]; then
  # 24 frames of 2 x 2 synthetic facades at the 64-pixel scale the demo model was trained at.
  rm -rf "$BUILD/demo/synth"
  "$BUILD/trainer/cg-trainer" synth --out "$BUILD/demo/synth" --count 1 --test-count 96 --size 64 --seed 2024 >/dev/null
  tiles=()
  for i in 0 1 2 3; do
    tiles+=(multifilesrc location="$BUILD/demo/synth/testA/%05d.png" index=$((24 * i)) stop-index=$((24 * i + 23))
            caps=image/png,framerate=4/1 ! pngdec ! videoconvert ! "comp.sink_$i")
  done
  gst-launch-1.0 -q -e compositor name=comp sink_1::xpos=64 sink_2::ypos=64 sink_3::xpos=64 sink_3::ypos=64 \
      ! videoconvert ! video/x-raw,format=I420,width=128,height=128 ! x264enc ! h264parse ! mp4mux name=mux \
      ! filesink location="$clip.part" "${tiles[@]}" \
    audiotestsrc wave=sine freq=330 volume=0.1 num-buffers=259 ! audioconvert ! avenc_aac ! aacparse ! mux.
  mv "$clip.part" "$clip"
fi
pipelines/translate-file.sh "$clip" "$OUT/translated.mp4"
pipelines/side-by-side.sh "$clip" "$OUT/side-by-side.png"
echo "demo: $OUT/translated.mp4 and $OUT/side-by-side.png (input clip: $clip)"
