#!/usr/bin/env bash
# Original | translated, next to each other: to a video file, a PNG of the first frame, or the screen.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options] INPUT [OUTPUT.mp4 | OUTPUT.png]
Without OUTPUT the comparison is shown on the screen.

Options (defaults in brackets):
  -m, --model FILE         G.pt generator [$CG_DEMO_MODEL]
  -d, --device DEV         auto, cpu, cuda or cuda:N [auto]
  -s, --process-size S     native, model or WxH [native]
  -t, --temporal           blend each frame with the last along the motion (temporal=flow): less flicker [off]
  -h, --help               this text
USAGE
}

model="$CG_DEMO_MODEL" device=auto size=native temporal=off
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m|--model) model="$2"; shift 2 ;;
    -d|--device) device="$2"; shift 2 ;;
    -s|--process-size) size="$2"; shift 2 ;;
    -t|--temporal) temporal=flow; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -ge 1 ] && [ ${#args[@]} -le 2 ] || { usage >&2; die "need INPUT and at most one OUTPUT"; }
in="${args[0]}" out="${args[1]:-}"
[ -f "$in" ] || die "$in: no such file"
require_model "$model"
require_element cyclegan decodebin compositor

info=$(discover "$in") || exit 1
width=$(echo "$info" | sed -n 's/^ *Width: \([0-9]*\)/\1/p' | head -1)
[ -n "$width" ] || die "$in: has no video stream"

case "$out" in
  "") sink=(videoconvert ! autovideosink) ;;
  *.png|*.PNG) sink=(videoconvert ! pngenc snapshot=true ! filesink location="$out.part") ;;
  *) require_element x264enc h264parse mp4mux
     sink=(videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=6000 ! h264parse ! mp4mux ! filesink location="$out.part") ;;
esac
if [ -n "$out" ]; then
  [ -w "$(dirname "$out")" ] || die "$(dirname "$out"): not writable"
  trap 'rm -f "$out.part"' EXIT
fi
run_pipeline filesrc location="$in" ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! tee name=t \
  compositor name=comp background=black sink_1::xpos="$width" ! "${sink[@]}" \
  t. ! queue ! comp.sink_0 \
  t. ! queue ! cyclegan model="$model" device="$device" process-size="$size" temporal="$temporal" ! comp.sink_1
if [ -n "$out" ]; then
  mv -f "$out.part" "$out"
  trap - EXIT
  echo "wrote $out"
fi
