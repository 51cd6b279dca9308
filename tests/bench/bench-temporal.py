#!/usr/bin/env python3
"""Temporal stability of the cyclegan element, measured: for each clip and model, the warping error
(cg-trainer flicker) of the per-frame output (temporal=off) and of temporal=flow at several
strengths, the PSNR of each to the per-frame output, and the time the filter adds per frame
(the median of the element's own per-frame log lines, rounds interleaved).

Clips are made here from cg-trainer synth images as a camera would see them: a slow pan along a
strip of facade label maps, and a slow zoom and pan over a rendered facade photo, each frame with
its own sensor noise (2 levels), written as PNG sequences.

  tests/bench/bench-temporal.py --build build --model demo=pipelines/models/facades-labels2photo.pt \\
      --model tiny=pipelines/models/facades-labels2photo-tiny.pt --out /tmp/temporal
Real clips: --video NAME=PATH (any number; --only-video leaves the synthetic ones out), for example
the camera clips of Debian's opencv-doc package (examples/data/vtest.avi, tree.avi).
Needs numpy and opencv-python(-headless) in the Python that runs it.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def write_clip(frames, folder):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(os.path.join(folder, f"{i:03d}.png"), f)
    return os.path.join(folder, "%03d.png")


def noisy(frame, rng, sigma=2.0):
    return np.clip(frame.astype(np.float32) + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def make_clips(trainer, out, frames, side):
    synth = os.path.join(out, "synth")
    if not os.path.isdir(synth):
        run([trainer, "synth", "--out", synth, "--count", "1", "--test-count", "4", "--size", str(side), "--seed", "7"])
    labels = [cv2.imread(os.path.join(synth, "testA", n)) for n in sorted(os.listdir(os.path.join(synth, "testA")))]
    photos = [cv2.imread(os.path.join(synth, "testB", n)) for n in sorted(os.listdir(os.path.join(synth, "testB")))]
    rng = np.random.default_rng(1)
    strip = np.concatenate(labels[:3], axis=1)
    pan = [noisy(strip[:, 2 * t:2 * t + side], rng) for t in range(frames)]
    big = cv2.resize(photos[0], (side * 3 // 2, side * 3 // 2), interpolation=cv2.INTER_CUBIC)
    zoom = []
    for t in range(frames):
        s = 1.0 + 0.15 * t / frames
        m = np.float32([[s, 0, -t * 0.7], [0, s, -t * 0.4]])
        zoom.append(noisy(cv2.warpAffine(big, m, (side, side), flags=cv2.INTER_LINEAR), rng))
    return {"facade-pan": write_clip(pan, os.path.join(out, "clip-pan")),
            "photo-zoom": write_clip(zoom, os.path.join(out, "clip-zoom"))}


def video_clip(path, out, frames, side, start):
    """Frames start .. start + frames of a real video, scaled so the longer side is `side` (even)."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        sys.exit(f"{path}: cannot be read as a video")
    picked = []
    for i in range(start + frames):
        ok, frame = cap.read()
        if not ok:
            sys.exit(f"{path}: has {i} frames, {start + frames} needed")
        if i >= start:
            h, w = frame.shape[:2]
            scale = side / max(h, w)
            size = (2 * round(w * scale / 2), 2 * round(h * scale / 2))
            picked.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    return write_clip(picked, out)


def translate(build, clip, model, out_dir, props):
    """Runs the element over a PNG sequence; returns the output pattern and the element's median ms per frame."""
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "plugin"), GST_DEBUG="cyclegan:6",
               GST_DEBUG_NO_COLOR="1", OMP_WAIT_POLICY="PASSIVE")
    out = os.path.join(out_dir, "%03d.png")
    r = run(["gst-launch-1.0", "-q", "multifilesrc", f"location={clip}", "caps=image/png,framerate=10/1", "!",
             "pngdec", "!", "videoconvert", "!", "video/x-raw,format=RGB", "!", "cyclegan", "device=cpu",
             f"model={model}", *props, "!", "videoconvert", "!", "pngenc", "!", "multifilesink",
             f"location={out}"], env)
    ms = [float(m) for m in re.findall(r"frame\(s\) of \d+x\d+ in ([0-9.]+) ms", r.stderr)]
    # The median frame, the first left out: a shared machine's stalls land on a few frames.
    return out, (float(np.median(ms[1:])) if len(ms) > 1 else float("nan"))


def flicker(trainer, clip, out, reference=None):
    cmd = [trainer, "flicker", "--input", clip, "--output", out, "--json"]
    if reference:
        cmd += ["--reference", reference]
    return json.loads(run(cmd).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", action="append", required=True, help="NAME=G.pt")
    ap.add_argument("--out", default="/tmp/cg-temporal")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--strengths", default="0.3,0.5,0.7,0.9")
    ap.add_argument("--rounds", type=int, default=2, help="timing rounds, interleaved")
    ap.add_argument("--video", action="append", default=[],
                    help="NAME=PATH: also a real video's frames (from --start), longer side scaled to --side")
    ap.add_argument("--start", type=int, default=0, help="the first frame taken from each --video")
    ap.add_argument("--only-video", action="store_true", help="leave out the synthetic clips")
    a = ap.parse_args()
    trainer = os.path.join(a.build, "trainer", "cg-trainer")
    clips = {} if a.only_video else make_clips(trainer, a.out, a.frames, a.side)
    for name, path in (v.split("=", 1) for v in a.video):
        clips[name] = video_clip(path, os.path.join(a.out, f"clip-{name}"), a.frames, a.side, a.start)
    strengths = [float(s) for s in a.strengths.split(",")]
    print(f"{a.frames} frames, longer side {a.side}; warping error (x the input's own), PSNR to the per-frame output")
    for name, path in (m.split("=", 1) for m in a.model):
        for clip_name, clip in clips.items():
            base = os.path.join(a.out, f"{name}-{clip_name}")
            off, _ = translate(a.build, clip, path, base + "-off", ["temporal=off"])
            f_off = flicker(trainer, clip, off)
            row = [f"{name:>6} {clip_name:>10}  off {f_off['output_warping_error']:.5f} "
                   f"({f_off['output_to_input_ratio']:.2f}x)"]
            for s in strengths:
                out, _ = translate(a.build, clip, path, base + f"-flow{s}", ["temporal=flow", f"temporal-strength={s}"])
                f = flicker(trainer, clip, out, off)
                row.append(f"  {s}: {f['output_warping_error'] / f_off['output_warping_error']:.2f} of off, "
                           f"{f['psnr_output_to_reference_db']:.1f} dB")
            print("".join(row), flush=True)
        if a.rounds == 0:
            continue
        # Time: the element's own per-frame figure, off and flow interleaved.
        times = {"off": [], "flow": []}
        for _ in range(a.rounds):
            for mode in ("off", "flow"):
                _, ms = translate(a.build, next(iter(clips.values())), path, os.path.join(a.out, f"time-{name}-{mode}"),
                                  [f"temporal={mode}"])
                times[mode].append(ms)
        off_ms, flow_ms = float(np.median(times["off"])), float(np.median(times["flow"]))
        print(f"{name:>6} time per frame (median frame, median of {a.rounds} rounds): off {off_ms:.1f} ms, flow {flow_ms:.1f} ms, "
              f"added {flow_ms - off_ms:.1f} ms = {100 * (flow_ms - off_ms) / off_ms:.0f} %", flush=True)


if __name__ == "__main__":
    main()
