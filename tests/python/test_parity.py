"""G.pt files written by the C++ exporter load in Python's torch.jit and match an independent
PyTorch implementation of the official generator."""

import os
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


class ExportParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(99)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ref = init_normal(ResnetGenerator()).eval()
        with torch.no_grad():
            for name, p in cls.ref.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0.0, 0.05)
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
        run = subprocess.run([CG_TRAINER, "info", self.gpt], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('"ngf": 64', run.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
