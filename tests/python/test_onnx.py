"""`cg-trainer export --to G.onnx` for every generator family we import or train: the ONNX model
passes onnx's full check (with shape inference), ONNX Runtime computes what the G.pt computes
(torch.jit.load) to 1e-4 at a square and a non-square size the size rule allows, at batch 1 and 2,
its input and output are as documented (names, symbolic N, H, W, float32, opset 17), it carries the
G.pt's metadata, and `cg-trainer info` reads that back.

Each family: an independent implementation (zoo.py, reference.py) with random weights and
statistics, its state_dict exported to a G.pt, and the G.pt exported to a G.onnx; the .pth and a
G.safetensors exported straight to ONNX give the same model."""

import collections
import json
import os
import sys
import unittest
import zlib

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(__file__))
import zoo  # noqa: E402
from trainer_cli import RESNET_SIZES, TOLERANCE, UNET_SIZES, TempDirTest, cg, gpt_metadata, load_gpt, save_ours  # noqa: E402
from reference import ResnetGenerator as MobileCapableResnet  # noqa: E402

# build: the module; sizes: a square and a non-square size of the size rule; args: export's
# options; ops: op types the graph must hold (the layers that make the family what it is), with
# "Conv(depthwise)" for a grouped Conv (groups are only ever depthwise in our layouts).
# ours: for our own architectures, which export does not recognise from a .pth, the
# GeneratorOptions fields of the G.safetensors of ours that stands for the .pth.
Family = collections.namedtuple("Family", "build sizes args ops ours", defaults=(None,))

BASE_RESNET_OPS = {"Pad", "Conv", "InstanceNormalization", "Relu", "Add", "ConvTranspose", "Tanh"}

FAMILIES = {
    "resnet6_instance": Family(lambda: zoo.ResnetGenerator(3, 3, 8, "instance", False, 6), RESNET_SIZES, [],
                               BASE_RESNET_OPS),
    "resnet6_instance_dropout": Family(lambda: zoo.ResnetGenerator(3, 3, 8, "instance", True, 6), RESNET_SIZES, [],
                                       BASE_RESNET_OPS),
    "resnet6_batch": Family(lambda: zoo.ResnetGenerator(3, 3, 8, "batch", False, 6), RESNET_SIZES, [],
                            {"BatchNormalization", "Add", "ConvTranspose"}),
    # test.py without --eval: each frame normalised by its own statistics.
    "resnet6_batch_bn_train": Family(lambda: zoo.ResnetGenerator(3, 3, 8, "batch", True, 6), RESNET_SIZES,
                                     ["--bn-mode", "train"], {"InstanceNormalization", "Add"}),
    "resnet6_none": Family(lambda: zoo.ResnetGenerator(3, 3, 8, "none", False, 6), RESNET_SIZES, [],
                           {"Conv", "Relu", "Add", "ConvTranspose"}),
    # Re-implementations: affine InstanceNorm; nearest upsampling then a conv on the way up.
    "thirdparty6_affine": Family(lambda: zoo.ThirdPartyResnet(3, 3, 8, 6), RESNET_SIZES, [],
                                 {"InstanceNormalization", "Add", "ConvTranspose"}),
    "upsample6": Family(lambda: zoo.UpsampleResnet(3, 3, 8, 6), RESNET_SIZES, [], {"Resize", "Add"}),
    # CUT: anti-aliased both ways, and only on the way up.
    "cut6_antialias": Family(lambda: zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6), RESNET_SIZES, [],
                             {"Pad", "Conv(depthwise)", "ConvTranspose", "Slice", "Add"}),
    "cut6_antialias_up_only": Family(lambda: zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6, True, False),
                                     RESNET_SIZES, [], {"ConvTranspose", "Slice", "Add"}),
    # GAN Compression's mobile ResNet: depthwise-separable blocks (Conv with group = channels).
    "mobile6": Family(lambda: MobileCapableResnet(ngf=8, n_blocks=6, mobile=True), RESNET_SIZES, [],
                      {"Conv(depthwise)", "InstanceNormalization", "Add"}),
    "mobile6_dropout": Family(lambda: MobileCapableResnet(ngf=8, n_blocks=6, use_dropout=True, mobile=True),
                              RESNET_SIZES, [], {"Conv(depthwise)", "Add"}),
    # Our students that never convolve at full resolution: SpaceToDepth with a Gather of its
    # channels into pixel_unshuffle's order, DepthToSpace (CRD) as pixel_shuffle.
    "s2d4_mobile3": Family(lambda: zoo.SpaceToDepthResnet(3, 3, 8, 3, 4, True, "instance"), RESNET_SIZES, [],
                           {"SpaceToDepth", "Gather", "DepthToSpace", "Conv(depthwise)", "Tanh"},
                           {"ngf": 8, "n_blocks": 3, "mobile": True, "space_to_depth": 4}),
    "s2d2_resnet2_batch": Family(lambda: zoo.SpaceToDepthResnet(3, 3, 8, 2, 2, False, "batch"), RESNET_SIZES, [],
                                 {"SpaceToDepth", "Gather", "DepthToSpace", "ConvTranspose", "BatchNormalization"},
                                 {"ngf": 8, "n_blocks": 2, "norm": "batch", "space_to_depth": 2}),
    # pix2pix U-Nets: skips concatenated, LeakyReLU down, transposed convs up.
    "unet128_batch_dropout": Family(lambda: zoo.UnetGenerator(3, 3, 7, 8, "batch", True), UNET_SIZES[7], [],
                                    {"Concat", "LeakyRelu", "BatchNormalization", "ConvTranspose", "Tanh"}),
    "unet128_instance": Family(lambda: zoo.UnetGenerator(3, 3, 7, 8, "instance", False), UNET_SIZES[7], [],
                               {"Concat", "LeakyRelu", "InstanceNormalization"}),
    "unet128_none": Family(lambda: zoo.UnetGenerator(3, 3, 7, 8, "none", False), UNET_SIZES[7], [],
                           {"Concat", "LeakyRelu", "ConvTranspose"}),
    "unet256_batch_dropout": Family(lambda: zoo.UnetGenerator(3, 3, 8, 8, "batch", True), UNET_SIZES[8], [],
                                    {"Concat", "BatchNormalization"}),
    "unet256_batch_bn_train": Family(lambda: zoo.UnetGenerator(3, 3, 8, 8, "batch", True), UNET_SIZES[8],
                                     ["--bn-mode", "train"], {"Concat", "InstanceNormalization"}),
}


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2  # a shared machine
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Exported:
    """A family's G.pt and the G.onnx exported from it, made once."""

    cache = {}

    def __init__(self, test, name, tmp):
        family = FAMILIES[name]
        torch.manual_seed(zlib.crc32(name.encode()))
        self.folder = os.path.join(tmp, name)
        os.makedirs(self.folder)
        self.ref = zoo.noisy(family.build())
        self.pth, self.gpt, self.onnx = (os.path.join(self.folder, f) for f in ("x.pth", "G.pt", "G.onnx"))
        if family.ours is None:
            torch.save(self.ref.state_dict(), self.pth)
        else:
            self.pth = os.path.join(self.folder, "x.safetensors")
            save_ours(self.ref, self.pth, **family.ours)
        self.runs = [cg("export", "--from", self.pth, "--to", self.gpt, "--direction", "BtoA", *family.args),
                     cg("export", "--from", self.gpt, "--to", self.onnx)]

    @classmethod
    def get(cls, test, name):
        if name not in cls.cache:
            cls.cache[name] = Exported(test, name, Onnx.tmp.name)
        e = cls.cache[name]
        for run in e.runs:
            test.assertEqual(run.returncode, 0, f"{name}: {run.args}: {run.stderr}")
        return e


class Onnx(TempDirTest):
    @classmethod
    def tearDownClass(cls):
        Exported.cache.clear()
        super().tearDownClass()

    def assert_same_as_gpt(self, name, onnx_path, gpt_path, sizes, batches=(1, 2)):
        g = load_gpt(gpt_path)
        s = session(onnx_path)
        for h, w in sizes:
            for n in batches:
                x = torch.rand(n, 3, h, w) * 2 - 1
                if n > 1:
                    x[1] = x[1] * 0.5 + 0.3  # other statistics than frame 0, for the per-frame norms
                with torch.no_grad():
                    want = g(x).numpy()
                (got,) = s.run(["output"], {"input": x.numpy()})
                self.assertEqual(got.shape, (n, 3, h, w), f"{name} at {n}x3x{h}x{w}")
                self.assertEqual(got.dtype, np.float32)
                diff = float(np.abs(got - want).max())
                self.assertLessEqual(diff, TOLERANCE, f"{name} at {n}x3x{h}x{w}")

    def check_model(self, name):
        e = Exported.get(self, name)
        m = onnx.load(e.onnx)
        onnx.checker.check_model(m, full_check=True)
        self.assertEqual([(o.domain, o.version) for o in m.opset_import], [("", 17)])
        self.assertEqual(m.ir_version, 8)
        ops = {n.op_type for n in m.graph.node}
        ops |= {"Conv(depthwise)" for n in m.graph.node for a in n.attribute
                if n.op_type == "Conv" and a.name == "group" and a.i > 1}
        self.assertLessEqual(FAMILIES[name].ops, ops, f"{name}: {sorted(ops)}")
        self.assertNotIn("Dropout", ops)
        for values, channels in [(m.graph.input, 3), (m.graph.output, 3)]:
            (v,) = values
            self.assertEqual(v.type.tensor_type.elem_type, onnx.TensorProto.FLOAT)
            dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            self.assertEqual(dims, ["N", channels, "H", "W"])
            self.assertIn("[-1, 1]", v.doc_string)
        self.assertEqual((m.graph.input[0].name, m.graph.output[0].name), ("input", "output"))
        self.assertIn("[-1, 1]", m.doc_string)
        # The weights are the generator's tensors under their official state_dict names, as in
        # its G.safetensors (running statistics only where batch norm uses them), besides the
        # graph's own constants.
        st = os.path.join(e.folder, "names.safetensors")
        run = cg("export", "--from", e.gpt, "--to", st)
        self.assertEqual(run.returncode, 0, run.stderr)
        with safe_open(st, "pt") as f:
            keys = set(f.keys())
        if "--bn-mode" in FAMILIES[name].args:
            keys = {k for k in keys if not k.endswith(("running_mean", "running_var"))}
        initializers = {t.name for t in m.graph.initializer}
        constants = {n for n in initializers
                     if n.split("_")[0] in ("ones", "zeros", "pads", "crop", "scales", "pixel")}
        self.assertEqual(initializers - constants, keys, name)
        # The G.pt's metadata, as it is.
        props = {p.key: p.value for p in m.metadata_props}
        self.assertEqual(json.loads(props["cyclegan_gst"]), gpt_metadata(e.gpt))

    def check_forward(self, name):
        e = Exported.get(self, name)
        self.assert_same_as_gpt(name, e.onnx, e.gpt, FAMILIES[name].sizes)

    def check_info(self, name):
        e = Exported.get(self, name)
        run = cg("info", e.onnx)
        self.assertEqual(run.returncode, 0, run.stderr)
        meta = gpt_metadata(e.gpt)
        self.assertIn("opset 17", run.stdout)
        self.assertIn(f"generator: {meta['architecture']}", run.stdout)
        self.assertIn(f"multiples of {meta['size_multiple']}, at least {meta['min_size']}", run.stdout)
        self.assertIn('"direction": "BtoA"', run.stdout)

    def test_every_route_gives_the_same_model(self):
        """--from a .pth and --from a G.safetensors write what --from the G.pt writes."""
        for name in ["cut6_antialias", "unet128_batch_dropout", "resnet6_batch_bn_train"]:
            with self.subTest(name):
                e = Exported.get(self, name)
                args = FAMILIES[name].args
                st, from_pth, from_st = (os.path.join(e.folder, f) for f in ("G.safetensors", "pth.onnx", "st.onnx"))
                for run in [cg("export", "--from", e.pth, "--to", from_pth, "--direction", "BtoA", *args),
                            cg("export", "--from", e.gpt, "--to", st),
                            cg("export", "--from", st, "--to", from_st)]:
                    self.assertEqual(run.returncode, 0, f"{run.args}: {run.stderr}")
                ours = onnx.load(e.onnx)
                for path in [from_pth, from_st]:
                    other = onnx.load(path)
                    self.assertEqual([n.op_type for n in other.graph.node], [n.op_type for n in ours.graph.node])
                    self.assertEqual(other.metadata_props, ours.metadata_props)
                    self.assert_same_as_gpt(name, path, e.gpt, FAMILIES[name].sizes[:1], batches=(2,))

    def test_space_to_depth_is_pixel_unshuffle(self):
        """ONNX's SpaceToDepth puts a cell's pixel before the channel, pixel_unshuffle after it: alone
        it is not pixel_unshuffle, the exported layer (SpaceToDepth, then a Gather of the channels)
        is, exactly; and the whole students compute what their independent modules compute."""
        for name, r in [("s2d4_mobile3", 4), ("s2d2_resnet2_batch", 2)]:
            with self.subTest(name):
                e = Exported.get(self, name)
                x = torch.rand(2, 3, 16, 24) * 2 - 1
                want = torch.pixel_unshuffle(x, r).numpy()
                alone = onnx.helper.make_model(onnx.helper.make_graph(
                    [onnx.helper.make_node("SpaceToDepth", ["input"], ["cells"], blocksize=r)], "alone",
                    [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, list(x.shape))],
                    [onnx.helper.make_tensor_value_info("cells", onnx.TensorProto.FLOAT, None)]),
                    opset_imports=[onnx.helper.make_opsetid("", 17)])
                alone.ir_version = 8
                path = os.path.join(e.folder, "alone.onnx")
                onnx.save(alone, path)
                (cells,) = session(path).run(None, {"input": x.numpy()})
                self.assertFalse(np.array_equal(cells, want))
                layer = os.path.join(e.folder, "layer0.onnx")
                onnx.utils.extract_model(e.onnx, layer, ["input"], ["model.0"])
                (got,) = session(layer).run(None, {"input": x.numpy()})
                self.assertTrue(np.array_equal(got, want))
                for h, w in FAMILIES[name].sizes:
                    x = torch.rand(2, 3, h, w) * 2 - 1
                    with torch.no_grad():
                        want = e.ref(x).numpy()
                    (got,) = session(e.onnx).run(["output"], {"input": x.numpy()})
                    self.assertLessEqual(float(np.abs(got - want).max()), 1e-5, f"{name} at {h}x{w}")

    def test_onnx_is_not_read(self):
        e = Exported.get(self, "resnet6_instance")
        run = cg("export", "--from", e.onnx, "--to", os.path.join(e.folder, "back.pt"))
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(e.onnx, run.stderr)
        self.assertIn("ONNX files are written, not read", run.stderr)

    def test_info_on_damaged_and_foreign_files(self):
        e = Exported.get(self, "resnet6_instance")
        with open(e.onnx, "rb") as f:
            data = f.read()
        cut = os.path.join(e.folder, "truncated.onnx")
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        run = cg("info", cut)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(cut, run.stderr)
        self.assertIn("not a valid protocol buffer", run.stderr)
        # A model without our metadata: info says so and shows what it can.
        m = onnx.load(e.onnx)
        del m.metadata_props[:]
        foreign = os.path.join(e.folder, "foreign.onnx")
        onnx.save(m, foreign)
        run = cg("info", foreign)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("no cyclegan-gst metadata", run.stdout)
        self.assertIn(f"{len(m.graph.node)} nodes", run.stdout)


def _add_family_tests():
    for name in FAMILIES:
        setattr(Onnx, f"test_model_{name}", lambda self, n=name: self.check_model(n))
        setattr(Onnx, f"test_forward_{name}", lambda self, n=name: self.check_forward(n))
        setattr(Onnx, f"test_info_{name}", lambda self, n=name: self.check_info(n))


_add_family_tests()


if __name__ == "__main__":
    unittest.main(verbosity=2)
