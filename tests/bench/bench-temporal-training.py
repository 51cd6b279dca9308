#!/usr/bin/env python3
"""What --lambda-temporal does to video: models of the synthetic facades task (trained from one seed
with and without the term) run over a moving clip made from its test split, for which the true
translation of every frame is known. For each model: the warping error of its per-frame output
(cg-trainer flicker; also as a multiple of the input's own) and the mean PSNR to the true clip,
with the element's temporal filter off and at temporal=flow.

The clips: the test label maps tiled into a mosaic, seen through a window that pans by whole pixels,
or pans by fractions of a pixel and slowly zooms; each frame with its own sensor noise (2 levels).
The true clips are the same motions over the mosaic of their true renderings, without noise.

  tests/bench/bench-temporal-training.py --build build --dataroot synth64 \\
      --model lambda0=ck/lt0/G_A.pt --model lambda10=ck/lt10/G_A.pt --out /tmp/temporal-training
Needs numpy and opencv-python(-headless) in the Python that runs it.
"""
import argparse
import importlib.util
import os

import cv2
import numpy as np

_spec = importlib.util.spec_from_file_location("bench_temporal",
                                               os.path.join(os.path.dirname(__file__), "bench-temporal.py"))
bench_temporal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_temporal)


def mosaic(folder, tiles):
    names = sorted(os.listdir(folder))[:tiles * tiles]
    if len(names) < tiles * tiles:
        raise SystemExit(f"{folder}: {tiles * tiles} images needed for the mosaic, found {len(names)}")
    images = [cv2.imread(os.path.join(folder, n)) for n in names]
    return np.concatenate([np.concatenate(images[r * tiles:(r + 1) * tiles], axis=1) for r in range(tiles)], axis=0)


def make_clips(dataroot, out, frames, side, tiles):
    """Two clips and their truths: a pan by whole pixels (2 px per frame, so the input's own warping
    error is little more than its noise) and a zoom with a sub-pixel pan."""
    labels, truth = mosaic(os.path.join(dataroot, "testA"), tiles), mosaic(os.path.join(dataroot, "testA_truth"), tiles)
    rng = np.random.default_rng(1)
    motions = {"pan": lambda t: np.float32([[1, 0, 2 * t], [0, 1, 4]]),
               "zoom": lambda t: np.float32([[1 + 0.1 * t / frames, 0, 0.6 * t + 3], [0, 1 + 0.1 * t / frames, 0.35 * t + 3]])}
    clips = {}
    for name, motion in motions.items():
        moving, true = [], []
        for t in range(frames):
            # The matrix maps a frame's pixels to the mosaic's.
            warp = lambda img: cv2.warpAffine(img, motion(t), (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            moving.append(bench_temporal.noisy(warp(labels), rng))
            true.append(warp(truth))
        clips[name] = (bench_temporal.write_clip(moving, os.path.join(out, f"clip-{name}")),
                       bench_temporal.write_clip(true, os.path.join(out, f"truth-{name}")))
    return clips


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--dataroot", required=True, help="a cg-trainer synth folder (testA, testA_truth)")
    ap.add_argument("--model", action="append", required=True, help="NAME=G.pt (label map -> photo)")
    ap.add_argument("--out", default="/tmp/cg-temporal-training")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--side", type=int, default=192)
    ap.add_argument("--tiles", type=int, default=4, help="the mosaic is tiles x tiles test images")
    ap.add_argument("--strength", default="0.5", help="temporal-strength of the flow rows")
    a = ap.parse_args()
    trainer = os.path.join(a.build, "trainer", "cg-trainer")
    clips = make_clips(a.dataroot, a.out, a.frames, a.side, a.tiles)
    print(f"{a.frames} frames of {a.side}x{a.side}")
    for clip_name, (clip, truth) in clips.items():
        floor = bench_temporal.flicker(trainer, clip, truth)
        print(f"{clip_name}: the input's own warping error {floor['input_warping_error']:.5f}, the true clip's "
              f"{floor['output_warping_error']:.5f}")
    print(f"{'clip':>5} {'model':>10} {'element':>10}  {'warping error':>13} {'x input':>8} {'PSNR to truth':>14}")
    for clip_name, (clip, truth) in clips.items():
        for name, path in (m.split("=", 1) for m in a.model):
            for label, props in (("off", ["temporal=off"]),
                                 (f"flow {a.strength}", ["temporal=flow", f"temporal-strength={a.strength}"])):
                out, _ = bench_temporal.translate(a.build, clip, path,
                                                  os.path.join(a.out, f"{clip_name}-{name}-{label.split()[0]}"), props)
                f = bench_temporal.flicker(trainer, clip, out, truth)
                print(f"{clip_name:>5} {name:>10} {label:>10}  {f['output_warping_error']:13.5f} "
                      f"{f['output_to_input_ratio']:7.2f}x {f['psnr_output_to_reference_db']:11.2f} dB", flush=True)


if __name__ == "__main__":
    main()
