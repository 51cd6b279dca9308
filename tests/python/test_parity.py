"""G.pt files written by the C++ exporter load in Python's torch.jit and match an independent
PyTorch implementation of the official generator."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))
from reference import ResnetGenerator, init_normal  # noqa: E402

warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated")
CG_TRAINER = os.environ["CG_TRAINER"]


def noisy(net):
    """Official init plus noise on the biases, so that they matter."""
    init_normal(net).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.05)
    return net


def count_macs(net, h, w):
    """Multiply-adds of the convolutions for one 3 x h x w image, transposed ones per input pixel."""
    macs = []

    def hook(m, inputs, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):
            macs.append(inputs[0].numel() * m.out_channels * k)
        else:
            macs.append(out.numel() * m.in_channels // m.groups * k)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    with torch.no_grad():
        net(torch.zeros(1, 3, h, w))
    for handle in handles:
        handle.remove()
    return sum(macs)


def info(gpt):
    run = subprocess.run([CG_TRAINER, "info", gpt], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


class ExportParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(99)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ref = noisy(ResnetGenerator())
        pth = os.path.join(cls.tmp.name, "latest_net_G_A.pth")
        torch.save(cls.ref.state_dict(), pth)
        cls.gpt = os.path.join(cls.tmp.name, "G.pt")
        run = subprocess.run([CG_TRAINER, "export", "--from", pth, "--to", cls.gpt, "--direction", "AtoB"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_forward_matches_reference(self):
        extra = {"metadata.json": ""}
        m = torch.jit.load(self.gpt, _extra_files=extra)
        self.assertIn(b'"architecture": "resnet_9blocks"', extra["metadata.json"])
        with torch.inference_mode():
            for h, w in [(256, 256), (200, 320)]:
                x = torch.rand(1, 3, h, w) * 2 - 1
                diff = (m(x) - self.ref(x)).abs().max().item()
                self.assertLessEqual(diff, 1e-4, f"{h}x{w}")

    def test_cli_reports_errors(self):
        bad = os.path.join(self.tmp.name, "bad.pth")
        with open(bad, "wb") as f:
            f.write(b"garbage")
        run = subprocess.run([CG_TRAINER, "export", "--from", bad, "--to", os.path.join(self.tmp.name, "x.pt")],
                             capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("bad.pth: not a PyTorch file", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "x.pt")))

    def test_info_prints_metadata(self):
        out = info(self.gpt)
        self.assertIn('"ngf": 64', out)
        self.assertIn(f'"macs_per_256x256_frame": {count_macs(self.ref, 256, 256)}', out)
        self.assertIn("multiply-adds per 256x256 frame: 49.5515 G", out)


class MobileExportParity(unittest.TestCase):
    """A generator with GAN Compression's depthwise-separable blocks, imported by its key names."""

    @classmethod
    def setUpClass(cls):
        torch.manual_seed(98)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ref = noisy(ResnetGenerator(ngf=16, n_blocks=6, mobile=True))
        pth = os.path.join(cls.tmp.name, "mobile.pth")
        torch.save(cls.ref.state_dict(), pth)
        cls.gpt = os.path.join(cls.tmp.name, "G.pt")
        run = subprocess.run([CG_TRAINER, "export", "--from", pth, "--to", cls.gpt], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_forward_matches_reference(self):
        extra = {"metadata.json": ""}
        m = torch.jit.load(self.gpt, _extra_files=extra)
        meta = json.loads(extra["metadata.json"])
        self.assertEqual(meta["architecture"], "mobile_resnet_6blocks")
        self.assertIs(meta["mobile"], True)
        self.assertEqual(meta["macs_per_256x256_frame"], count_macs(self.ref, 256, 256))
        with torch.inference_mode():
            for h, w in [(64, 64), (40, 56)]:
                x = torch.rand(2, 3, h, w) * 2 - 1
                diff = (m(x) - self.ref(x)).abs().max().item()
                self.assertLessEqual(diff, 1e-4, f"{h}x{w}")

    def test_info_counts_multiply_adds(self):
        macs = float(re.search(r"multiply-adds per 256x256 frame: (\S+) G", info(self.gpt)).group(1))
        self.assertAlmostEqual(macs, count_macs(self.ref, 256, 256) / 1e9, delta=1e-4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
