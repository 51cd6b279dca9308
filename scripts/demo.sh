#!/usr/bin/env bash
# The main job on embedded defaults: sets up and builds, makes a short demo clip from synthetic
# facade label maps (with a sound track), translates it with the bundled model into
# demo-out/translated.mp4 and writes demo-out/side-by-side.png (original | translated).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(scripts/build.sh | tail -n 1)
OUT="${1:-demo-out}"
mkdir -p "$OUT" "$BUILD/demo"
export CG_BUILD_DIR="$PWD/$BUILD"

clip="$BUILD/demo/clip.mp4"
if [ ! -f "$clip" ]; then
  rm -rf "$BUILD/demo/synth"
  "$BUILD/trainer/cg-trainer" synth --out "$BUILD/demo/synth" --count 1 --test-count 24 --size 128 --seed 2024 >/dev/null
  gst-launch-1.0 -q -e multifilesrc location="$BUILD/demo/synth/testA/%05d.png" index=0 stop-index=23 \
      caps=image/png,framerate=4/1 ! pngdec ! videoconvert ! video/x-raw,format=I420 ! x264enc ! h264parse \
      ! mp4mux name=mux ! filesink location="$clip.part" \
    audiotestsrc wave=sine freq=330 volume=0.1 num-buffers=259 ! audioconvert ! avenc_aac ! aacparse ! mux.
  mv "$clip.part" "$clip"
fi
pipelines/translate-file.sh "$clip" "$OUT/translated.mp4"
pipelines/side-by-side.sh "$clip" "$OUT/side-by-side.png"
echo "demo: $OUT/translated.mp4 and $OUT/side-by-side.png (input clip: $clip)"
