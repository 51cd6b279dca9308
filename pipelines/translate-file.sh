#!/usr/bin/env bash
# Translates a video file with a CycleGAN generator into a new file (H.264 in MP4 by default),
# keeping the audio track. The output appears only when the whole file was written.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options] INPUT OUTPUT.mp4
Translates every frame of INPUT (any container and codec GStreamer decodes) and writes OUTPUT.

Options (defaults in brackets):
  -m, --model FILE         G.pt generator [$CG_DEMO_MODEL]
  -d, --device DEV         auto, cpu, cuda or cuda:N [auto]
  -p, --precision P        fp32, fp16 or bf16 [fp32]
  -s, --process-size S     native, model or WxH [native]
  -t, --temporal           blend each frame with the last along the motion (temporal=flow): less flicker [off]
  -b, --bitrate KBPS       H.264 bitrate [4000]
      --no-audio           drop the audio track
  -h, --help               this text
USAGE
}

model="$CG_DEMO_MODEL" device=auto precision=fp32 size=native bitrate=4000 audio=1 temporal=off
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m|--model) model="$2"; shift 2 ;;
    -d|--device) device="$2"; shift 2 ;;
    -p|--precision) precision="$2"; shift 2 ;;
    -s|--process-size) size="$2"; shift 2 ;;
    -b|--bitrate) bitrate="$2"; shift 2 ;;
    -t|--temporal) temporal=flow; shift ;;
    --no-audio) audio=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || { usage >&2; die "need INPUT and OUTPUT"; }
in="${args[0]}" out="${args[1]}"

[ -f "$in" ] || die "$in: no such file"
[ -r "$in" ] || die "$in: not readable"
outdir=$(dirname "$out")
[ -d "$outdir" ] || die "$outdir: no such folder for the output"
[ -w "$outdir" ] || die "$outdir: not writable"
require_model "$model"
require_element cyclegan decodebin x264enc h264parse mp4mux progressreport

info=$(discover "$in") || exit 1
echo "$info" | grep -qE '^\s*video #' || die "$in: has no video stream"
has_audio=0
if [ "$audio" = 1 ] && echo "$info" | grep -qE '^\s*audio #'; then
  require_element avenc_aac
  has_audio=1
fi

part="$out.part"
trap 'rm -f "$part"' EXIT
pipeline=(filesrc location="$in" ! decodebin name=dec
  dec. ! queue ! progressreport update-freq=2 ! videoconvert ! cyclegan model="$model" device="$device"
  precision="$precision" process-size="$size" temporal="$temporal" ! videoconvert ! video/x-raw,format=I420
  ! x264enc bitrate="$bitrate" speed-preset=medium ! h264parse ! queue ! mp4mux name=mux ! filesink location="$part")
if [ "$has_audio" = 1 ]; then
  pipeline+=(dec. ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux.)
fi
run_pipeline "${pipeline[@]}"
mv -f "$part" "$out"
trap - EXIT
echo "wrote $out"
