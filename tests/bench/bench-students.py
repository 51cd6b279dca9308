"""Distilled students side by side with their teacher, in one run: per model, multiply-adds and
parameters (from `cg-trainer info`), ms/frame and frames/s in the engine and in the element
(cg-bench, rounds interleaved across the models so that a noisy machine slows all of them alike),
the speed-up over the teacher, and with --dataroot (a `cg-trainer synth` dataset) the fidelity:
PSNR/SSIM of each model's outputs against the teacher's and against the true renderings
(`cg-trainer eval --teacher`).

    tests/bench/bench-students.py --teacher T.pt --student fast=F.pt --student tiny=S.pt \\
        --dataroot synth64 [--size 256x256 --threads 2 --rounds 3 --frames 10]

cg-trainer, cg-bench and the element are found through CG_TRAINER, CG_BENCH and GST_PLUGIN_PATH,
or under build/."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def tool(env, relative):
    return os.environ.get(env) or os.path.join(ROOT, "build", relative)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def info(path):
    out = run([tool("CG_TRAINER", "trainer/cg-trainer"), "info", path])
    params = int(re.search(r"parameters: (\d+)", out).group(1))
    macs = re.search(r"multiply-adds per 256x256 frame: ([0-9.e+-]+) G", out)
    arch = re.search(r'"architecture": "([^"]+)"', out)
    ngf = re.search(r'"ngf": (\d+)', out)
    return {"params": params, "gmacs": float(macs.group(1)) if macs else None,
            "arch": f"{arch.group(1)}, ngf {ngf.group(1)}" if arch else "unknown"}


def bench(mode, path, args):
    out = run([tool("CG_BENCH", "tests/bench/cg-bench"), "--mode", mode, "--model", path, "--width", str(args.w),
               "--height", str(args.h), "--frames", str(args.frames), "--threads", str(args.threads),
               "--warmup", "2"])
    return json.loads(out.strip().splitlines()[-1])["ms"]


def fidelity(path, teacher, dataroot):
    with tempfile.TemporaryDirectory() as tmp:
        j = os.path.join(tmp, "scores.json")
        run([tool("CG_TRAINER", "trainer/cg-trainer"), "eval", "--dataroot", dataroot, "--model-a", path,
             "--teacher", teacher, "--device", "cpu", "--json", j])
        with open(j) as f:
            return json.load(f)


def main():
    os.environ.setdefault("GST_PLUGIN_PATH", os.path.join(ROOT, "build", "plugin"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", action="append", default=[], metavar="NAME=G.pt")
    p.add_argument("--dataroot", help="a cg-trainer synth dataset, for the fidelity columns")
    p.add_argument("--size", default="256x256")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=10, help="frames per model per mode per round")
    p.add_argument("--no-element", action="store_true", help="time the engine only")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    args.w, args.h = (int(v) for v in args.size.split("x"))

    models = [("teacher", args.teacher)] + [tuple(s.split("=", 1)) for s in args.student]
    modes = ["engine"] + ([] if args.no_element else ["element"])
    rows = {name: {"path": path, **info(path), **{m: [] for m in modes}} for name, path in models}
    for _ in range(args.rounds):
        for mode in modes:
            for name, path in models:
                rows[name][mode] += bench(mode, path, args)
    if args.dataroot:
        for name, path in models:
            rows[name]["fidelity"] = fidelity(path, args.teacher, args.dataroot)

    teacher = rows["teacher"]
    print(f"{args.size}, {args.threads} threads, fp32, {args.rounds} interleaved rounds of {args.frames} frames")
    head = "| model | architecture | GMAC/frame 256² | parameters |"
    for m in modes:
        head += f" {m} ms/frame | {m} fps | {m} × teacher |"
    if args.dataroot:
        head += " PSNR vs teacher | SSIM vs teacher | PSNR vs truth | SSIM vs truth |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name, r in rows.items():
        line = f"| {name} | {r['arch']} | {r['gmacs']:.2f} | {r['params']:,} |"
        for m in modes:
            med = statistics.median(r[m])
            r[m + "_ms"] = med
            line += f" {med:.1f} | {1000 / med:.1f} | {statistics.median(teacher[m]) / med:.1f} |"
        if args.dataroot:
            f = r["fidelity"]
            vs = "—" if name == "teacher" else f"{f['teacher_psnr']:.2f} dB"
            vss = "—" if name == "teacher" else f"{f['teacher_ssim']:.3f}"
            line += f" {vs} | {vss} | {f['psnr']:.2f} dB | {f['ssim']:.3f} |"
        print(line)
        if r["gmacs"] and teacher["gmacs"]:
            r["macs_reduction"] = teacher["gmacs"] / r["gmacs"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
