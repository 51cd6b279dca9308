#!/usr/bin/env python3
"""Scaling of cg-trainer under torchrun on one machine: one epoch of a small synthetic run as one
process and as N ranks (T threads each), interleaved round by round. For each it prints the
whole-process wall time (start-up, rendezvous and saving included), the steady rate after the
first iteration, the gradient bytes all-reduced per iteration and the share of the run's time the
training thread waited in collectives; with --overlap both, every N > 1 also runs with
--dist-overlap 0 (buckets sent after backward) beside --dist-overlap 1. With --ceiling (the
default), every N > 1 also runs as N independent single processes started together, each on its
share of the iterations and with no process group: what N processes get out of this machine with
nothing to communicate, the most data-parallel training can reach here (cores shared with the
system, one memory bus, clocks that drop when every core is busy). Not a test: prints figures.
On a machine with several GPUs, --device cuda measures NCCL the same way.

usage: bench-dist.py [--trainer build/trainer/cg-trainer] [--ranks 1,2,4] [--threads 1]
                     [--images 300] [--size 64] [--ngf 16] [--rounds 2] [--device cpu]
                     [--overlap on|off|both] [--ceiling 1|0]
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


def command(args, data, ranks, overlap, name):
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
    return cmd


def torchrun_alone(ranks):
    """Wall time of torchrun launching `ranks` processes that do nothing: its share of a run."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    t0 = time.monotonic()
    subprocess.run([torchrun, f"--nproc-per-node={ranks}", "--master-addr=127.0.0.1", f"--master-port={free_port()}",
                    "--no-python", "true"], check=True, capture_output=True)
    return time.monotonic() - t0


def run(args, data, ranks, mode, name):
    """mode: True/False = torchrun with --dist-overlap 1/0; "alone" = `ranks` independent processes."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if mode == "alone":
        cmds = [command(args, data, 1, True, f"{name}-{i}") for i in range(ranks)]
        for c in cmds:  # each its share of the iterations, as a rank would have
            c[c.index("--max-iters") + 1] = str(args.images // ranks)
    else:
        cmds = [command(args, data, ranks, mode, name)]
    t0 = time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in cmds]
    outs = [p.communicate() for p in procs]
    wall = time.monotonic() - t0
    rate = 0.0
    for c, p, (out, err) in zip(cmds, procs, outs):
        if p.returncode != 0:
            sys.exit(f"{' '.join(c)} failed:\n{out[-3000:]}{err[-3000:]}")
        rate += float(re.search(r"iterations/s \(after the first of this run\): ([0-9.e+-]+)", out).group(1))
    if mode != "alone":
        rate *= ranks
    comm = re.search(r"communication: (\d+) gradient bytes .* ([0-9.e+-]+) s in collectives", outs[0][0])
    return {"wall": wall, "images_per_s": rate,
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
    p.add_argument("--ceiling", type=int, choices=[0, 1], default=1)
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
        if args.ceiling:
            configs.append((n, "alone"))
    results = {c: [] for c in configs}
    launcher = {n: [] for n in ranks if n > 1}
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data")
        subprocess.run([args.trainer, "synth", "--out", data, "--count", str(args.images), "--test-count", "1",
                        "--size", str(args.size), "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        for r in range(args.rounds):
            for c in configs:
                results[c].append(run(args, data, c[0], c[1], f"r{r}-{c[0]}-{c[1]}"))
            for n in launcher:
                launcher[n].append(torchrun_alone(n))
    print(f"one epoch of {args.images} images of {args.size}x{args.size}, resnet_6blocks ngf {args.ngf}, "
          f"{args.device}, {args.threads} thread(s) per rank, {os.cpu_count()} cores, median of {args.rounds} "
          f"interleaved rounds")
    print("ceiling: as many independent processes, no process group, the same iterations in all")
    print(f"{'ranks':>5} {'overlap':>9} {'whole run s':>11} {'speed-up':>8} {'images/s':>8} {'speed-up':>8} "
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
        overlap = "-" if c[0] == 1 else {True: "on", False: "off", "alone": "ceiling"}[c[1]]
        print(f"{c[0]:>5} {overlap:>9} {wall:>11.1f} {base_wall / wall:>7.2f}x {rate:>8.2f} {rate / base_rate:>7.2f}x "
              f"{mib:>8.2f} {100 * share:>13.1f}%")
        print(f"{'':>13} rounds: " + ", ".join(f"{x['wall']:.1f} s / {x['images_per_s']:.2f} img/s" for x in rs))
    for n, times in launcher.items():
        print(f"torchrun alone, {n} processes that do nothing: {statistics.median(times):.1f} s of each whole run")


if __name__ == "__main__":
    main()
