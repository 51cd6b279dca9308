"""safetensors in and out of `cg-trainer export`, checked with Python's own `safetensors` library:
the G.safetensors files export writes load with `safetensors.torch.load_file` into the official
modules (zoo.py) and compute what the G.pt computes; files Python writes, and the Hub's pickled
`pytorch_model.bin`, import as their .pth does; a G.safetensors goes back to a G.pt that computes
what the first G.pt did, and `info` reads it."""

import json
import os
import sys
import unittest

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
import zoo  # noqa: E402
from trainer_cli import TOLERANCE, cg  # noqa: E402
from trainer_cli import gpt_metadata as load_info  # noqa: E402
from trainer_cli import load_gpt as load  # noqa: E402
from trainer_cli import TempDirTest, save_ours  # noqa: E402


# Official key names (recognised by name), CUT's blur buffers, batch norm's statistics, and a
# re-implementation recognised by the order of its tensors.
# name: (module, a frame size it takes, what export recognises it as)
MODELS = {
    "resnet6_instance": (lambda: zoo.ResnetGenerator(3, 3, 8, "instance", False, 6), (48, 80), "resnet_6blocks"),
    "unet128_batch_dropout": (lambda: zoo.UnetGenerator(3, 3, 7, 8, "batch", True), (128, 256), "unet_128"),
    "cut6_antialias": (lambda: zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6), (48, 80), "resnet_6blocks"),
    "thirdparty6": (lambda: zoo.ThirdPartyResnet(3, 3, 8, 6), (48, 80), "resnet_6blocks"),
}


def same_output(a, b, size, batch=2):
    x = torch.rand(batch, 3, *size) * 2 - 1
    with torch.no_grad():
        return torch.equal(a(x), b(x))


class Safetensors(TempDirTest):
    def folder(self, name):
        path = os.path.join(self.tmp.name, name)
        os.makedirs(path, exist_ok=True)
        return path

    def export(self, src, dst, *args):
        run = cg("export", "--from", src, "--to", dst, *args)
        self.assertEqual(run.returncode, 0, f"export {src} -> {dst}: {run.stderr}")
        return run

    def model(self, name):
        torch.manual_seed(sum(map(ord, name)))
        build, size, _ = MODELS[name]
        return zoo.noisy(build()), size

    def test_python_reads_what_export_writes(self):
        for name in ["resnet6_instance", "unet128_batch_dropout", "cut6_antialias"]:
            with self.subTest(name):
                d = self.folder("ours-" + name)
                ref, size = self.model(name)
                pth, gpt, st = (os.path.join(d, f) for f in ("x.pth", "G.pt", "G.safetensors"))
                torch.save(ref.state_dict(), pth)
                self.export(pth, gpt, "--direction", "BtoA")
                self.export(pth, st, "--direction", "BtoA")
                tensors = load_file(st)
                want = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
                self.assertEqual(sorted(tensors), sorted(want))
                for k, v in want.items():
                    self.assertTrue(torch.equal(tensors[k], v), k)
                with safe_open(st, "pt") as f:
                    meta = json.loads(f.metadata()["cyclegan_gst"])
                    self.assertEqual(f.metadata()["format"], "pt")
                self.assertEqual(meta["direction"], "BtoA")
                self.assertEqual(meta["format_version"], 2)
                self.assertEqual(meta["architecture"], load_info(gpt)["architecture"])
                # The official module loads the file as it is and computes what the G.pt computes.
                official, _ = self.model(name)
                missing, unexpected = official.load_state_dict(tensors, strict=False)
                self.assertEqual(unexpected, [])
                self.assertTrue(all(k.endswith("num_batches_tracked") for k in missing), missing)
                x = torch.rand(2, 3, *size) * 2 - 1
                with torch.no_grad():
                    diff = (official.eval()(x) - load(gpt)(x)).abs().max().item()
                self.assertLessEqual(diff, TOLERANCE)

    def test_space_to_depth_goes_both_ways(self):
        """A student without full-resolution convolutions: written by Python with our metadata,
        exported to a G.pt and back to a G.safetensors, whose tensors the independent module loads
        strictly, and which computes what that G.pt computes."""
        d = self.folder("s2d")
        torch.manual_seed(11)
        ref = zoo.noisy(zoo.SpaceToDepthResnet(3, 3, 8, 3, 4, True, "instance"))
        src, gpt, st = (os.path.join(d, f) for f in ("in.safetensors", "G.pt", "G.safetensors"))
        save_ours(ref, src, ngf=8, n_blocks=3, mobile=True, space_to_depth=4)
        self.export(src, gpt)
        self.export(gpt, st)
        with safe_open(st, "pt") as f:
            meta = json.loads(f.metadata()["cyclegan_gst"])
        self.assertEqual((meta["space_to_depth"], meta["architecture"]), (4, "s2d4_mobile_resnet_3blocks"))
        back = zoo.SpaceToDepthResnet(3, 3, 8, 3, 4, True, "instance")
        back.load_state_dict(load_file(st), strict=True)
        x = torch.rand(2, 3, 48, 80) * 2 - 1
        with torch.no_grad():
            self.assertTrue(torch.equal(back.eval()(x), ref(x)))
            self.assertLessEqual((load(gpt)(x) - ref(x)).abs().max().item(), 1e-5)

    def test_export_reads_what_python_writes(self):
        for name in MODELS:
            for dtype in [torch.float32, torch.float16]:
                with self.subTest(name, dtype=dtype):
                    d = self.folder(f"theirs-{name}-{dtype}")
                    ref, size = self.model(name)
                    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in ref.state_dict().items()}
                    pth, st = os.path.join(d, "x.pth"), os.path.join(d, "model.safetensors")
                    torch.save(state, pth)
                    save_file(state, st, metadata={"format": "pt"})
                    self.export(pth, os.path.join(d, "from-pth.pt"))
                    run = self.export(st, os.path.join(d, "from-st.pt"))
                    self.assertIn(MODELS[name][2], run.stdout)
                    a, b = load(os.path.join(d, "from-pth.pt")), load(os.path.join(d, "from-st.pt"))
                    self.assertTrue(same_output(a, b, size))
                    source = load_info(os.path.join(d, "from-st.pt"))["source"]
                    self.assertTrue(source.startswith("safetensors model.safetensors"), source)
                    # info on weights from elsewhere says what export makes of them.
                    info = cg("info", st)
                    self.assertEqual(info.returncode, 0, info.stderr)
                    self.assertIn("no metadata", info.stdout)
                    self.assertIn(MODELS[name][2], info.stdout)

    def test_hub_pytorch_model_bin_imports_as_its_pth(self):
        d = self.folder("hub")
        ref, size = self.model("resnet6_instance")
        os.makedirs(os.path.join(d, "hub-model"))
        binary = os.path.join(d, "hub-model", "pytorch_model.bin")
        pth = os.path.join(d, "x.pth")
        torch.save(ref.state_dict(), binary)  # torch.save names its archive folder after the file
        torch.save(ref.state_dict(), pth)
        self.export(pth, os.path.join(d, "a.pt"))
        self.export(binary, os.path.join(d, "b.pt"))
        self.assertTrue(same_output(load(os.path.join(d, "a.pt")), load(os.path.join(d, "b.pt")), size))

    def test_round_trip_through_safetensors_keeps_the_output(self):
        d = self.folder("round-trip")
        ref, size = self.model("unet128_batch_dropout")
        pth, gpt, st, gpt2 = (os.path.join(d, f) for f in ("x.pth", "G.pt", "G.safetensors", "G2.pt"))
        torch.save(ref.state_dict(), pth)
        self.export(pth, gpt, "--bn-mode", "train", "--crop-size", "128")
        self.export(gpt, st)
        self.export(st, gpt2)
        self.assertTrue(same_output(load(gpt), load(gpt2), size, batch=1))
        self.assertEqual(load_info(gpt2), load_info(gpt))
        # info prints for the G.safetensors what it prints for the G.pt.
        info_st, info_pt = cg("info", st), cg("info", gpt)
        self.assertEqual(info_st.returncode, 0, info_st.stderr)
        self.assertEqual(info_st.stdout, info_pt.stdout)
        self.assertIn("statistics of each frame", info_st.stdout)
        # Metadata options given to export override what the file carries.
        self.export(st, os.path.join(d, "G3.safetensors"), "--direction", "BtoA")
        with safe_open(os.path.join(d, "G3.safetensors"), "pt") as f:
            meta = json.loads(f.metadata()["cyclegan_gst"])
        self.assertEqual((meta["direction"], meta["crop_size"], meta["batch_stats"]), ("BtoA", 128, True))

    def test_named_submodules_lose_their_order_and_the_message_says_so(self):
        d = self.folder("split")
        torch.manual_seed(3)
        st = os.path.join(d, "split.safetensors")
        save_file(zoo.noisy(zoo.SplitResnet(3, 3, 8, 6)).state_dict(), st)
        run = cg("export", "--from", st, "--to", os.path.join(d, "G.pt"))
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("a safetensors file keeps no module order", run.stderr)

    def test_damaged_file_is_refused_with_its_name_and_reason(self):
        d = self.folder("damaged")
        ref, _ = self.model("resnet6_instance")
        st = os.path.join(d, "model.safetensors")
        save_file(ref.state_dict(), st)
        with open(st, "rb") as f:
            data = f.read()
        cut = os.path.join(d, "cut.safetensors")
        with open(cut, "wb") as f:
            f.write(data[: len(data) - 100])
        for cmd in (["export", "--from", cut, "--to", os.path.join(d, "G.pt")], ["info", cut]):
            run = cg(*cmd)
            self.assertEqual(run.returncode, 1, run.stdout)
            self.assertIn(f"cg-trainer: error: {cut}: not a readable safetensors file: tensor", run.stderr)
            self.assertIn("are not inside the data area", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "G.pt")))



if __name__ == "__main__":
    unittest.main(verbosity=2)
