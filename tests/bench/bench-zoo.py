"""Imported generators side by side with the modules they came from, in one run: for each kind
(the pix2pix U-Net, CUT's anti-aliased ResNet, a batch-norm ResNet, the default ResNet), an
official-style PyTorch module (tests/python/zoo.py) is exported with `cg-trainer export` and both
run on the same frames in this process, rounds interleaved so that a noisy machine slows both
alike. Prints ms/frame for each, the ratio, and the largest output difference.

    tests/bench/bench-zoo.py [--size 256 --threads 2 --rounds 8]

Needs the venv's torch; cg-trainer is found through CG_TRAINER or under build/."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import torch  # noqa: E402
import zoo  # noqa: E402

warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated")


def kinds():
    return {
        "unet_256, batch norm (pix2pix)": lambda: zoo.UnetGenerator(3, 3, 8, 64, "batch", True),
        "CUT resnet_9blocks, anti-aliased": lambda: zoo.CutResnetGenerator(3, 3, 64, "instance", False, 9, False,
                                                                           False),
        "resnet_9blocks, batch norm": lambda: zoo.ResnetGenerator(3, 3, 64, "batch", False, 9),
        "resnet_9blocks, instance norm (CycleGAN)": lambda: zoo.ResnetGenerator(3, 3, 64, "instance", False, 9),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    trainer = os.environ.get("CG_TRAINER") or os.path.join(ROOT, "build", "trainer", "cg-trainer")
    x = torch.rand(1, 3, a.size, a.size) * 2 - 1
    print(f"{a.size}x{a.size}, {a.threads} threads, median of {a.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in kinds().items():
            torch.manual_seed(0)
            net = zoo.noisy(build()).eval()
            pth, gpt = os.path.join(tmp, "g.pth"), os.path.join(tmp, "g.pt")
            torch.save(net.state_dict(), pth)
            r = subprocess.run([trainer, "export", "--from", pth, "--to", gpt], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"export failed for {name}:\n{r.stderr}")
            g = torch.jit.load(gpt)
            times = {"module": [], "G.pt": []}
            with torch.no_grad():
                for f in (net, g):
                    f(x)  # warm-up
                for _ in range(a.rounds):
                    for key, f in (("module", net), ("G.pt", g)):
                        t = time.perf_counter()
                        f(x)
                        times[key].append(time.perf_counter() - t)
                diff = (net(x) - g(x)).abs().max().item()
            m, s = (statistics.median(times[k]) * 1e3 for k in ("module", "G.pt"))
            print(f"{name}: module {m:.0f} ms, G.pt {s:.0f} ms, {m / s:.2f}x, max difference {diff:.1e}")


if __name__ == "__main__":
    main()
