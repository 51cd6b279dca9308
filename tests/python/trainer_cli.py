"""What the Python tests of cg-trainer's files share: the program, the sizes each family is compared
at, the tolerance, and reading back the G.pt files it writes."""

import json
import os
import subprocess
import tempfile
import unittest
import warnings
import zipfile

import torch
from safetensors.torch import save_file

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


def save_ours(net, path, **generator):
    """net's state_dict as a G.safetensors of ours: the metadata JSON names the generator's
    GeneratorOptions fields (`generator`); the fields left out take their defaults."""
    meta = {"format": "cyclegan-gst generator", "format_version": 2, **generator}
    state = {k: v.contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, path, metadata={"cyclegan_gst": json.dumps(meta), "format": "pt"})


class TempDirTest(unittest.TestCase):
    """A test class with a scratch folder, `cls.tmp`, removed after its last test."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
