#!/usr/bin/env python3
"""Writes the safetensors fuzzer's seed corpus: tiny generators of the kinds export imports, saved
by Python's safetensors library as model hubs' files are (official keys, CUT's blur buffers, a
half-precision U-Net, a re-implementation matched by tensor order), one G.safetensors of ours
with its metadata (written by cg-trainer export), and a file holding only metadata.

Usage: make-safetensors-seeds.py CG_TRAINER [corpus folder]   (default: corpus/safetensors here)
Run with the tests' Python (meson option torch_python), which has torch and safetensors."""

import os
import struct
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import zoo  # noqa: E402

LIMIT = 50 * 1024

SEEDS = {
    "hub-resnet1-ngf2-batch-dropout": lambda: zoo.ResnetGenerator(3, 3, 2, "batch", True, 1),
    "hub-unet128-ngf1-none-half": lambda: zoo.UnetGenerator(3, 3, 7, 1, "none", False),
    "hub-cut1-ngf2-antialias": lambda: zoo.CutResnetGenerator(3, 3, 2, "instance", False, 1),
    "hub-thirdparty1-ngf2-affine-instance": lambda: zoo.ThirdPartyResnet(3, 3, 2, 1),
}


def check(path):
    size = os.path.getsize(path)
    assert size <= LIMIT, f"{path}: {size} bytes"
    print(f"{path}: {size} bytes")


def main(cg_trainer, out):
    os.makedirs(out, exist_ok=True)
    for i, (name, build) in enumerate(SEEDS.items()):
        torch.manual_seed(200 + i)
        net = zoo.noisy(build())
        if name.endswith("-half"):
            net = net.half()
        path = os.path.join(out, name + ".safetensors")
        save_file(net.state_dict(), path, metadata={"format": "pt"})
        check(path)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(210)
        pth = os.path.join(tmp, "x.pth")
        torch.save(zoo.noisy(zoo.ResnetGenerator(3, 3, 2, "instance", False, 1)).state_dict(), pth)
        path = os.path.join(out, "ours-resnet1-ngf2.safetensors")
        subprocess.run([cg_trainer, "export", "--from", pth, "--to", path], check=True, stdout=subprocess.DEVNULL)
        check(path)
    header = b'{"__metadata__":{"format":"pt"}}'
    path = os.path.join(out, "metadata-only.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
    check(path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus", "safetensors"))
