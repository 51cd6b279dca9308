#!/usr/bin/env bash
# A live camera (V4L2), translated on the fly, on the screen.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options]
Options (defaults in brackets):
  -c, --camera DEV         V4L2 device [/dev/video0]
  -m, --model FILE         G.pt generator [$CG_DEMO_MODEL]
  -d, --device DEV         auto, cpu, cuda or cuda:N [auto]
  -p, --precision P        fp32, fp16 or bf16 [fp32]
  -s, --process-size S     native, model or WxH [model: the training crop, fast enough for live video]
  -j, --parallel-frames N  frames translated at once, each on its share of the threads [1; on the CPU 2 pays
                           for small models: the bundled nano student runs about twice the frames/s on 2 cores]
      --no-temporal        translate each frame alone (temporal=off) [temporal=flow: less flicker, about 5 % of a
                           frame's time]
      --size WxH           ask the camera for this size [640x480]
      --frames N           stop after N frames and print the element's timing [run until closed]
      --test-source        use a live test pattern instead of a camera
  -h, --help               this text
USAGE
}

camera=/dev/video0 model="$CG_DEMO_MODEL" device=auto precision=fp32 size=model cam_size=640x480 frames=-1 test=0 temporal=flow
parallel=1
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--camera) camera="$2"; shift 2 ;;
    -m|--model) model="$2"; shift 2 ;;
    -d|--device) device="$2"; shift 2 ;;
    -p|--precision) precision="$2"; shift 2 ;;
    -s|--process-size) size="$2"; shift 2 ;;
    -j|--parallel-frames) parallel="$2"; shift 2 ;;
    --size) cam_size="$2"; shift 2 ;;
    --no-temporal) temporal=off; shift ;;
    --frames) frames="$2"; shift 2 ;;
    --test-source) test=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
require_model "$model"
require_element cyclegan
# The element's own range, so that a value it would ignore with a warning stops here instead.
max_parallel=$(gst-inspect-1.0 cyclegan | grep -A2 "^  parallel-frames" | sed -n 's/.*Range: 1 - \([0-9]*\).*/\1/p' || true)
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] && [ "$parallel" -le "${max_parallel:-1}" ] ||
  die "--parallel-frames $parallel: not a whole number from 1 to ${max_parallel:-1}"
w=${cam_size%x*} h=${cam_size#*x}
if [ "$test" = 1 ]; then
  src=(videotestsrc is-live=true num-buffers="$frames")
else
  [ -e "$camera" ] || die "$camera: no such camera"
  require_element v4l2src
  src=(v4l2src device="$camera" num-buffers="$frames")
fi
sink=autovideosink
[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || sink="fakesink sync=false"
# A leaky queue drops frames rather than building latency when translation is slower than the camera.
run_pipeline "${src[@]}" ! video/x-raw,width="$w",height="$h" ! videoconvert \
  ! queue max-size-buffers=1 leaky=downstream ! cyclegan model="$model" device="$device" precision="$precision" \
  process-size="$size" temporal="$temporal" parallel-frames="$parallel" ! videoconvert ! $sink
