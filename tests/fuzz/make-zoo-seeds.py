#!/usr/bin/env python3
"""Writes tiny state_dicts of every generator kind `cg-trainer export` imports (official resnet with
each norm and dropout, unet_128 / unet_256, CUT's antialiased resnet, two re-implementations) into
the state-dict fuzzer's seed corpus, so that mutation starts from each kind's key layout.

Usage: make-zoo-seeds.py [corpus folder]   (default: corpus/state-dict beside this script)
Run with a Python that has torch, e.g. the one the tests use (meson option torch_python)."""

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import zoo  # noqa: E402

LIMIT = 50 * 1024

SEEDS = {
    "zoo-resnet1-ngf2-batch-dropout": lambda: zoo.ResnetGenerator(3, 3, 2, "batch", True, 1),
    "zoo-resnet2-ngf2-none": lambda: zoo.ResnetGenerator(3, 3, 2, "none", False, 2),
    "zoo-resnet1-ngf2-instance-dropout": lambda: zoo.ResnetGenerator(3, 3, 2, "instance", True, 1),
    # A U-Net's 8*ngf levels of 4x4 convs make even ngf 2 about 200 KB: ngf 1, and half precision
    # (which the import accepts too) where float32 would pass the limit.
    "zoo-unet128-ngf1-none": lambda: zoo.UnetGenerator(3, 3, 7, 1, "none", False),
    "zoo-unet128-ngf1-batch-dropout-half": lambda: zoo.UnetGenerator(3, 3, 7, 1, "batch", True),
    "zoo-unet256-ngf1-instance-half": lambda: zoo.UnetGenerator(3, 3, 8, 1, "instance", False),
    "zoo-cut1-ngf2-antialias": lambda: zoo.CutResnetGenerator(3, 3, 2, "instance", False, 1),
    "zoo-cut1-ngf2-antialias-up-only": lambda: zoo.CutResnetGenerator(3, 3, 2, "instance", False, 1,
                                                                     no_antialias=True),
    "zoo-thirdparty1-ngf2-affine-instance": lambda: zoo.ThirdPartyResnet(3, 3, 2, 1),
    "zoo-split1-ngf2-affine-instance": lambda: zoo.SplitResnet(3, 3, 2, 1),
}


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, (name, build) in enumerate(SEEDS.items()):
        torch.manual_seed(100 + i)
        path = os.path.join(out, name + ".pth")
        net = zoo.noisy(build())
        if name.endswith("-half"):
            net = net.half()
        torch.save(net.state_dict(), path)
        size = os.path.getsize(path)
        assert size <= LIMIT, f"{path}: {size} bytes"
        print(f"{path}: {size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "state-dict"))
