#!/usr/bin/env python3
"""Scaling of cg-trainer under torchrun on one machine: one epoch of a small synthetic run as one
process and as N ranks (T threads each), interleaved round by round. For each it prints the
whole-process wall time (start-up, rendezvous and saving included), the steady rate after the
first iteration, the gradient bytes all-reduced per iteration and the share of the run's time the
training thread waited in collectives; with --overlap both, every N > 1 also runs with
--dist-overlap 0 (buckets sent after backward) beside --dist-overlap 1. Not a test: prints figures.
On a machine with several GPUs, --device cuda measures NCCL the same way.

usage: bench-dist.py [--trainer build/trainer/cg-trainer] [--ranks 1,2,4] [--threads 1]
                     [--images 300] [--size 64] [--ngf 16] [--rounds 2] [--device cpu]
                     [--overlap on|off|both]
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, data, ranks, overlap, name):
    train = ["train", "--dataroot", data, "--checkpoints-dir", os.path.join(os.path.dirname(data), "ck"),
             "--name", name, "--netG", "resnet_6blocks", "--ngf", str(args.ngf), "--ndf", str(args.ngf),
             "--preprocess", "none", "--seed", "1", "--device", args.device, "--threads", str(args.threads),
             "--num-threads", "1", "--print-freq", "100000", "--save-latest-freq", "100000",
             "--display-freq", "100000", "--max-iters", str(args.images // ranks),
             "--dist-overlap", "1" if overlap else "0"]
    cmd = [args.trainer, *train]
    if ranks > 1:
        torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
        cmd = [torchrun, f"--nproc-per-node={ranks}", "--master-addr=127.0.0.1", f"--master-port={free_port()}",
               "--no-python", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    rate = float(re.search(r"iterations/s \(after the first of this run\): ([0-9.e+-]+)", p.stdout).group(1))
    comm = re.search(r"communication: (\d+) gradient bytes .* ([0-9.e+-]+) s in collectives", p.stdout)
    return {"wall": wall, "images_per_s": rate * ranks,
            "bytes": int(comm.group(1)) if comm else 0, "comm_s": float(comm.group(2)) if comm else 0.0}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainer", default="build/trainer/cg-trainer")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overlap", choices=["on", "off", "both"], default="on")
    args = p.parse_args()
    ranks = [int(r) for r in args.ranks.split(",")]
    configs = []
    for n in ranks:
        if n == 1:
            configs.append((1, True))
            continue
        if args.overlap in ("on", "both"):
            configs.append((n, True))
        if args.overlap in ("off", "both"):
            configs.append((n, False))
    results = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data")
        subprocess.run([args.trainer, "synth", "--out", data, "--count", str(args.images), "--test-count", "1",
                        "--size", str(args.size), "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        for r in range(args.rounds):
            for c in configs:
                results[c].append(run(args, data, c[0], c[1], f"r{r}-{c[0]}-{int(c[1])}"))
    print(f"one epoch of {args.images} images of {args.size}x{args.size}, resnet_6blocks ngf {args.ngf}, "
          f"{args.device}, {args.threads} thread(s) per rank, {os.cpu_count()} cores, median of {args.rounds} "
          f"interleaved rounds")
    print(f"{'ranks':>5} {'overlap':>7} {'whole run s':>11} {'speed-up':>8} {'images/s':>8} {'speed-up':>8} "
          f"{'MiB/iter':>8} {'in collectives':>14}")
    base = configs[0]
    base_wall = statistics.median(x["wall"] for x in results[base])
    base_rate = statistics.median(x["images_per_s"] for x in results[base])
    for c in configs:
        rs = results[c]
        wall = statistics.median(x["wall"] for x in rs)
        rate = statistics.median(x["images_per_s"] for x in rs)
        share = statistics.median(x["comm_s"] / x["wall"] for x in rs)
        mib = rs[-1]["bytes"] / 2**20
        overlap = "-" if c[0] == 1 else ("on" if c[1] else "off")
        print(f"{c[0]:>5} {overlap:>7} {wall:>11.1f} {base_wall / wall:>7.2f}x {rate:>8.2f} {rate / base_rate:>7.2f}x "
              f"{mib:>8.2f} {100 * share:>13.1f}%")
        print(f"{'':>13} rounds: " + ", ".join(f"{x['wall']:.1f} s / {x['images_per_s']:.2f} img/s" for x in rs))


if __name__ == "__main__":
    main()
