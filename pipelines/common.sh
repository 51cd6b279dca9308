# Shared by the pipeline scripts: finds the element (an installed plugin, or the one in the build
# folder), the bundled demo model, and reports errors the same way.
# shellcheck shell=bash
CG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CG_BUILD="${CG_BUILD_DIR:-$CG_ROOT/build}"
CG_DEMO_MODEL="$CG_ROOT/pipelines/models/facades-labels2photo.pt"
if [ -d "$CG_BUILD/plugin" ]; then
  export GST_PLUGIN_PATH="$CG_BUILD/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 1
}

require_element() {
  for e in "$@"; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || die "GStreamer element '$e' is missing (run scripts/setup.sh, or build the project for 'cyclegan')"
  done
}

require_model() {
  [ -f "$1" ] || die "$1: no such model file"
  [ -r "$1" ] || die "$1: not readable"
}

# What gst-discoverer-1.0 finds in file $1 (its output), or fails naming the file. Its default
# 10 s limit is too short on a busy machine, where a timed-out analysis used to look like a file
# without video.
discover() {
  local info
  info=$(gst-discoverer-1.0 -t 60 "$1" 2>&1) || die "$1: cannot be decoded ($(echo "$info" | grep -iE 'error|missing' | head -1))"
  ! echo "$info" | grep -qi "timed out" || die "$1: not analysed within 60 s (gst-discoverer-1.0 timed out)"
  echo "$info"
}

# Prints gst-launch's error lines and fails.
run_pipeline() {
  local log
  log=$(mktemp)
  if ! gst-launch-1.0 -e "$@" 2> >(tee "$log" >&2); then
    local why
    why=$(grep -E "^ERROR|Could not|error:" "$log" | head -3)
    rm -f "$log"
    die "pipeline failed${why:+: $why}"
  fi
  rm -f "$log"
}
