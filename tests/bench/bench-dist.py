#!/usr/bin/env python3
"""Scaling of cg-trainer under torchrun on one machine: an epoch of a small synthetic run with 1 rank
x T threads against N ranks x T threads each, interleaved round by round, with the gradient bytes
all-reduced per iteration and the time spent in collectives. Not a test: prints figures. On a
machine with several GPUs, --device cuda measures NCCL the same way.

usage: bench-dist.py [--trainer build/trainer/cg-trainer] [--ranks 2] [--threads 1] [--images 32]
                     [--size 64] [--ngf 16] [--rounds 2] [--device cpu]
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, data, ranks, name):
    train = ["train", "--dataroot", data, "--checkpoints-dir", os.path.join(os.path.dirname(data), "ck"),
             "--name", name, "--netG", "resnet_6blocks", "--ngf", str(args.ngf), "--ndf", str(args.ngf),
             "--preprocess", "none", "--seed", "1", "--device", args.device, "--threads", str(args.threads),
             "--num-threads", "1", "--print-freq", "1000", "--save-latest-freq", "100000",
             "--max-iters", str(args.images // ranks)]
    cmd = [args.trainer, *train]
    if ranks > 1:
        torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
        cmd = [torchrun, f"--nproc-per-node={ranks}", "--master-addr=127.0.0.1", f"--master-port={free_port()}",
               "--no-python", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    rate = float(re.search(r"iterations/s \(after the first of this run\): ([0-9.e+-]+)", out).group(1))
    comm = re.search(r"communication: (\d+) gradient bytes .* ([0-9.e+-]+) s in collectives", out)
    return rate * ranks, (int(comm.group(1)), float(comm.group(2))) if comm else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainer", default="build/trainer/cg-trainer")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data")
        subprocess.run([args.trainer, "synth", "--out", data, "--count", str(args.images), "--test-count", "1",
                        "--size", str(args.size)], check=True, stdout=subprocess.DEVNULL)
        alone, together, comms = [], [], []
        for r in range(args.rounds):
            alone.append(run(args, data, 1, f"alone{r}")[0])
            rate, comm = run(args, data, args.ranks, f"ranks{r}")
            together.append(rate)
            comms.append(comm)
    a, t = statistics.median(alone), statistics.median(together)
    print(f"{args.images} images of {args.size}x{args.size}, resnet_6blocks ngf {args.ngf}, {args.device}, "
          f"{args.threads} thread(s) per rank, median of {args.rounds} rounds")
    print(f"1 rank:   {a:.2f} images/s   (rounds: {', '.join(f'{x:.2f}' for x in alone)})")
    print(f"{args.ranks} ranks:  {t:.2f} images/s   (rounds: {', '.join(f'{x:.2f}' for x in together)})")
    print(f"scaling:  {t / a:.2f}x")
    bytes_per_iter, seconds = comms[-1]
    print(f"all-reduced per iteration per rank: {bytes_per_iter / 2**20:.2f} MiB; "
          f"time in collectives in the last run: {seconds:.2f} s")


if __name__ == "__main__":
    main()
