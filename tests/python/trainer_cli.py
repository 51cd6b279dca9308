"""What the Python tests of cg-trainer's files share: the program, the sizes each family is compared
at, the tolerance, and reading back the G.pt files it writes."""

import json
import os
import subprocess
import warnings
import zipfile

import torch

CG_TRAINER = os.environ["CG_TRAINER"]
TOLERANCE = 1e-4

# A square and a non-square size of each size rule: ResNets take multiples of 4, U-Nets of 2^depth.
RESNET_SIZES = [(64, 64), (48, 80)]
UNET_SIZES = {7: [(128, 128), (128, 256)], 8: [(256, 256), (256, 512)]}


def cg(*args):
    return subprocess.run([CG_TRAINER, *args], capture_output=True, text=True)


def load_gpt(path):
    with warnings.catch_warnings():  # unittest resets the filters before each test
        warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated")
        return torch.jit.load(path)


def gpt_metadata(path):
    """The metadata a G.pt carries."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith("metadata.json")]
        assert len(names) == 1, names
        return json.loads(z.read(names[0]))
