#!/usr/bin/env python3
"""Throughput of the cyclegan element with parallel-frames 1 against 2 (or more), side by side in
one run: videotestsrc ! cyclegan ! fpsdisplaysink video-sink=fakesink sync=false, rounds
interleaved. Each figure is fpsdisplaysink's average from the first frame out to the last (the
model load is not in it), the best of the rounds: on a shared machine the best round is the one
least disturbed by others.

  tests/bench/bench-parallel-frames.py --build build --threads 2 \\
      --model tiny=pipelines/models/facades-labels2photo-tiny.pt:60 \\
      --model demo=pipelines/models/facades-labels2photo.pt:60 --size 256x256 --size 640x360
A model is NAME=PATH[:FRAMES] (frames per run, default 60; resnet_9blocks wants few).
"""
import argparse
import os
import subprocess
import re
import sys


def run_once(env, model, size, threads, parallel, frames):
    w, h = size.split("x")
    cmd = ["gst-launch-1.0", "-v", "videotestsrc", f"num-buffers={frames}", "pattern=ball", "!",
           f"video/x-raw,format=RGB,width={w},height={h},framerate=30/1", "!",
           "cyclegan", "device=cpu", f"model={model}", f"threads={threads}", f"parallel-frames={parallel}", "!",
           "fpsdisplaysink", "video-sink=fakesink", "text-overlay=false", "sync=false", "fps-update-interval=200"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    averages = re.findall(r"average: ([0-9.]+)", r.stdout)
    if r.returncode != 0 or not averages:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr}")
    return float(averages[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--plugin-dir", help="where libgstcyclegan.so is (default BUILD/plugin; a copy keeps a rebuild "
                    "during the run out of it)")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH[:FRAMES]")
    ap.add_argument("--size", action="append", help="WxH (default 256x256)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, action="append", help="parallel-frames values (default 1 and 2)")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    sizes = a.size or ["256x256"]
    parallel = a.parallel or [1, 2]
    env = dict(os.environ)
    plugin = os.path.abspath(a.plugin_dir or os.path.join(a.build, "plugin"))
    env.update({"GST_PLUGIN_PATH_1_0": plugin, "GST_PLUGIN_PATH": plugin,
                "GST_REGISTRY_1_0": os.path.join(plugin, "bench-parallel-registry.bin")})
    print(f"threads={a.threads}, best of {a.rounds} interleaved rounds")
    print("| model | size | " + " | ".join(f"parallel-frames={p}" for p in parallel) + " | speed-up |")
    print("|---|---|" + "---|" * (len(parallel) + 1))
    for spec in a.model:
        name, rest = spec.split("=", 1)
        path, _, frames = rest.partition(":")
        frames = int(frames or 60)
        for size in sizes:
            best = {p: 0.0 for p in parallel}
            for _ in range(a.rounds):
                for p in parallel:
                    best[p] = max(best[p], run_once(env, path, size, a.threads, p, frames))
            cells = " | ".join(f"{best[p]:.1f} fps" for p in parallel)
            print(f"| {name} | {size} | {cells} | {best[parallel[-1]] / best[parallel[0]]:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
