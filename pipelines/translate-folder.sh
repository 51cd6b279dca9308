#!/usr/bin/env bash
# A folder of images through a generator: PNGs with the inputs' names and an index.html with
# input and output side by side (cg-trainer test).
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options] INPUT_DIR OUTPUT_DIR
Options (defaults in brackets):
  -m, --model FILE         G.pt generator [$CG_DEMO_MODEL]
  -d, --device DEV         auto, cpu, cuda or cuda:N [auto]
  -h, --help               this text
USAGE
}
model="$CG_DEMO_MODEL" device=auto
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m|--model) model="$2"; shift 2 ;;
    -d|--device) device="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || { usage >&2; die "need INPUT_DIR and OUTPUT_DIR"; }
[ -d "${args[0]}" ] || die "${args[0]}: no such folder"
require_model "$model"
trainer="$CG_BUILD/trainer/cg-trainer"
command -v cg-trainer >/dev/null 2>&1 && [ ! -x "$trainer" ] && trainer=cg-trainer
[ -x "$trainer" ] || command -v "$trainer" >/dev/null || die "cg-trainer not found (build the project first)"
exec "$trainer" test --model "$model" --input "${args[0]}" --output "${args[1]}" --device "$device"
