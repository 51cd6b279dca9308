"""`cg-trainer export` imports the generator kinds people train with -- official resnet_Nblocks with
every norm and dropout option, unet_128 / unet_256, CUT's antialiased resnet, re-implementations
with other module names -- and the G.pt it writes computes what the original module computes.

Each case: an independent implementation from zoo.py with random weights and statistics, its
state_dict saved as official training saves it, exported, loaded back in torch.jit and compared on
random inputs at a square and a non-square size."""

import collections
import os
import subprocess
import sys
import tempfile
import unittest
import zlib

import torch

sys.path.insert(0, os.path.dirname(__file__))
import zoo  # noqa: E402
from trainer_cli import CG_TRAINER, RESNET_SIZES, TOLERANCE, UNET_SIZES  # noqa: E402
from trainer_cli import gpt_metadata as metadata  # noqa: E402
from trainer_cli import load_gpt as load  # noqa: E402
from trainer_cli import TempDirTest, save_ours  # noqa: E402


Case = collections.namedtuple("Case", "build sizes args arch norm size_multiple info_words bn_train")


def resnet(n_blocks, norm, dropout, args=(), bn_train=False):
    return Case(lambda: zoo.ResnetGenerator(3, 3, 8, norm, dropout, n_blocks), RESNET_SIZES, list(args),
                f"resnet_{n_blocks}blocks", norm, 4, [], bn_train)


def unet(num_downs, norm, dropout, args=(), bn_train=False):
    return Case(lambda: zoo.UnetGenerator(3, 3, num_downs, 8, norm, dropout), UNET_SIZES[num_downs], list(args),
                f"unet_{2 ** num_downs}", norm, 2 ** num_downs, [], bn_train)


def cut(n_blocks, no_antialias, no_antialias_up, args=()):
    words = [] if no_antialias and no_antialias_up else ["antialias"]
    return Case(lambda: zoo.CutResnetGenerator(3, 3, 8, "instance", False, n_blocks, no_antialias, no_antialias_up),
                RESNET_SIZES, list(args), f"resnet_{n_blocks}blocks", "instance", 4, words, False)


CASES = {
    # Official CycleGAN / pix2pix resnet generators: each norm, with and without dropout, 6 and 9 blocks.
    "resnet6_instance": resnet(6, "instance", False),
    "resnet9_instance_dropout": resnet(9, "instance", True),
    "resnet6_batch_dropout": resnet(6, "batch", True),
    "resnet9_batch": resnet(9, "batch", False),
    "resnet6_none": resnet(6, "none", False),
    "resnet9_none_dropout": resnet(9, "none", True),
    # test.py without --eval: BatchNorm normalises each frame by its own statistics.
    "resnet6_batch_dropout_bn_train": resnet(6, "batch", True, ["--bn-mode", "train"], bn_train=True),
    "resnet9_batch_bn_eval": resnet(9, "batch", False, ["--bn-mode", "eval"]),
    # pix2pix U-Nets: the default (batch norm, dropout) and instance norm.
    "unet128_batch_dropout": unet(7, "batch", True),
    "unet128_instance": unet(7, "instance", False),
    "unet128_none": unet(7, "none", False),
    "unet256_batch_dropout": unet(8, "batch", True),
    "unet256_instance": unet(8, "instance", False),
    "unet256_batch_dropout_bn_train": unet(8, "batch", True, ["--bn-mode", "train"], bn_train=True),
    # CUT: antialiased resampling (its default), only the up path antialiased, and neither (the
    # CycleGAN layout).
    "cut6_antialias": cut(6, False, False),
    "cut9_antialias": cut(9, False, False),
    "cut6_antialias_up_only": cut(6, True, False),
    "cut9_no_antialias": cut(9, True, True),
    # Re-implementations: affine InstanceNorm, biased convs, other names.
    "thirdparty9": Case(lambda: zoo.ThirdPartyResnet(3, 3, 8, 9), RESNET_SIZES, [], "resnet_9blocks", "instance",
                        4, [], False),
    "thirdparty_split6": Case(lambda: zoo.SplitResnet(3, 3, 8, 6), RESNET_SIZES, [], "resnet_6blocks", "instance",
                              4, [], False),
    "thirdparty_upsample6": Case(lambda: zoo.UpsampleResnet(3, 3, 8, 6), RESNET_SIZES, [], "resnet_6blocks",
                                 "instance", 4, [], False),
    "thirdparty_upsample6_arch": Case(lambda: zoo.UpsampleResnet(3, 3, 8, 6), RESNET_SIZES,
                                      ["--arch", "resnet-upsample"], "resnet_6blocks", "instance", 4, [], False),
    # --arch names the kind instead of recognition.
    "resnet6_instance_arch": resnet(6, "instance", False, ["--arch", "resnet"]),
    "unet256_batch_dropout_arch": unet(8, "batch", True, ["--arch", "unet"]),
    "cut6_antialias_arch": cut(6, False, False, ["--arch", "cut-resnet"]),
}


def export(pth, gpt, *args):
    return subprocess.run([CG_TRAINER, "export", "--from", pth, "--to", gpt, *args], capture_output=True, text=True)


class Exported:
    """A case's reference network and what exporting its state_dict gave, made once."""

    cache = {}

    def __init__(self, name, tmp):
        case = CASES[name]
        torch.manual_seed(zlib.crc32(name.encode()))
        self.case = case
        self.ref = zoo.noisy(case.build())
        folder = os.path.join(tmp, name)
        os.makedirs(folder)
        self.pth = os.path.join(folder, "x.pth")
        torch.save(self.ref.state_dict(), self.pth)
        self.gpt = os.path.join(folder, "G.pt")
        self.run = export(self.pth, self.gpt, *case.args)

    @classmethod
    def get(cls, test, name):
        if name not in cls.cache:
            cls.cache[name] = Exported(name, Zoo.tmp.name)
        e = cls.cache[name]
        test.assertEqual(e.run.returncode, 0, f"export {name} {e.case.args}: {e.run.stderr}")
        return e


class Zoo(TempDirTest):
    @classmethod
    def tearDownClass(cls):
        Exported.cache.clear()
        super().tearDownClass()

    def check_forward(self, name):
        e = Exported.get(self, name)
        m = load(e.gpt)
        ref = zoo.bn_train_copy(e.ref) if e.case.bn_train else e.ref
        # In batch-statistics mode each frame is its own batch, as in the official test.py.
        batch = 1 if e.case.bn_train else 2
        for h, w in e.case.sizes:
            x = torch.rand(batch, 3, h, w) * 2 - 1
            with torch.no_grad():
                want = ref(x)
                got = m(x)
            self.assertEqual(tuple(got.shape), (batch, 3, h, w), f"{h}x{w}")
            diff = (got - want).abs().max().item()
            self.assertLessEqual(diff, TOLERANCE, f"{name} at {h}x{w}")

    def check_info(self, name):
        e = Exported.get(self, name)
        run = subprocess.run([CG_TRAINER, "info", e.gpt], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        for word in [e.case.arch, e.case.norm, *e.case.info_words]:
            self.assertIn(word, run.stdout, f"{name}: info says\n{run.stdout}")

    def check_size_multiple(self, name):
        e = Exported.get(self, name)
        self.assertEqual(metadata(e.gpt)["size_multiple"], e.case.size_multiple)


def _add_case_tests():
    for name in CASES:
        setattr(Zoo, f"test_forward_{name}", lambda self, n=name: self.check_forward(n))
        setattr(Zoo, f"test_info_{name}", lambda self, n=name: self.check_info(n))
        setattr(Zoo, f"test_size_multiple_{name}", lambda self, n=name: self.check_size_multiple(n))


_add_case_tests()


class BatchStatisticsPerFrame(unittest.TestCase):
    """--bn-mode train on a batch of frames: each frame normalised by its own statistics, as the
    official test.py (batch size 1) would give frame after frame."""

    def test_two_frames_are_two_batches(self):
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(5)
            net = zoo.noisy(zoo.ResnetGenerator(3, 3, 8, "batch", False, 6))
            pth, gpt = os.path.join(tmp, "x.pth"), os.path.join(tmp, "G.pt")
            torch.save(net.state_dict(), pth)
            run = export(pth, gpt, "--bn-mode", "train")
            self.assertEqual(run.returncode, 0, run.stderr)
            m = load(gpt)
            ref = zoo.bn_train_copy(net)
            x = torch.rand(2, 3, 48, 80) * 2 - 1
            x[1] = x[1] * 0.5 + 0.3  # other statistics than frame 0
            with torch.no_grad():
                want = torch.cat([ref(x[:1]), ref(x[1:])])
                got = m(x)
            self.assertLessEqual((got - want).abs().max().item(), TOLERANCE)

    def test_eval_mode_uses_running_statistics(self):
        # The default: the stored running statistics, whatever the frame.
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(6)
            net = zoo.noisy(zoo.UnetGenerator(3, 3, 7, 8, "batch", True))
            pth, gpt = os.path.join(tmp, "x.pth"), os.path.join(tmp, "G.pt")
            torch.save(net.state_dict(), pth)
            run = export(pth, gpt)
            self.assertEqual(run.returncode, 0, run.stderr)
            x = torch.rand(1, 3, 128, 128) * 2 - 1
            with torch.no_grad():
                got = load(gpt)(x)
                self.assertLessEqual((got - net(x)).abs().max().item(), TOLERANCE)
                self.assertGreater((got - zoo.bn_train_copy(net)(x)).abs().max().item(), 1e-2)


class CutWithoutFilters(TempDirTest):
    """CUT forks that do not save the fixed blur filters: by CUT's key names the file is still
    CUT's; with the names lost too its shapes are those of a nearest-upsampling ResNet, which is
    what it is read as unless --arch cut-resnet says otherwise."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        torch.manual_seed(31)
        cls.net = zoo.noisy(zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6, False, False)).eval()
        cls.state = {k: v for k, v in cls.net.state_dict().items() if not k.endswith("filt")}
        cls.x = torch.rand(1, 3, 48, 80) * 2 - 1

    def exported(self, state, name, *args):
        pth, gpt = os.path.join(self.tmp.name, name + ".pth"), os.path.join(self.tmp.name, name + ".pt")
        torch.save(state, pth)
        return export(pth, gpt, *args), gpt

    def check(self, gpt):
        with torch.no_grad():
            self.assertLessEqual((load(gpt)(self.x) - self.net(self.x)).abs().max().item(), TOLERANCE)

    def test_by_name(self):
        run, gpt = self.exported(self.state, "named")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check(gpt)

    def test_by_order_with_arch(self):
        renamed = {f"layer{i}": v for i, v in enumerate(self.state.values())}
        run, gpt = self.exported(renamed, "renamed")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("resnet-upsample", run.stdout)
        run, gpt = self.exported(renamed, "renamed-cut", "--arch", "cut-resnet")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("cut-resnet", run.stdout)
        self.check(gpt)


# Our students that never convolve at full resolution: name -> (the independent module, the
# GeneratorOptions fields its metadata records, the architecture name).
S2D_CASES = {
    "s2d4_mobile6_instance": (lambda: zoo.SpaceToDepthResnet(3, 3, 8, 6, 4, True, "instance"),
                              {"ngf": 8, "n_blocks": 6, "mobile": True, "space_to_depth": 4},
                              "s2d4_mobile_resnet_6blocks"),
    "s2d4_resnet2_none": (lambda: zoo.SpaceToDepthResnet(3, 3, 8, 2, 4, False, "none"),
                          {"ngf": 8, "n_blocks": 2, "norm": "none", "space_to_depth": 4}, "s2d4_resnet_2blocks"),
    "s2d2_mobile3_batch_dropout": (lambda: zoo.SpaceToDepthResnet(3, 3, 8, 3, 2, True, "batch", True),
                                   {"ngf": 8, "n_blocks": 3, "mobile": True, "norm": "batch", "use_dropout": True,
                                    "space_to_depth": 2}, "s2d2_mobile_resnet_3blocks"),
}
# Same operators on the same weights, where the G.pt's group_norm stands for InstanceNorm2d: closer
# than the importer's tolerance.
S2D_TOLERANCE = 1e-5


class SpaceToDepth(TempDirTest):
    """pixel_unshuffle before the first convolution, pixel_shuffle after the last: the G.pt that
    export writes from the module's state_dict (as a G.safetensors of ours) computes what the
    module computes, and records the factor."""

    def exported(self, name):
        build, fields, _ = S2D_CASES[name]
        torch.manual_seed(zlib.crc32(name.encode()))
        ref = zoo.noisy(build())
        st, gpt = (os.path.join(self.tmp.name, name + ext) for ext in (".safetensors", ".pt"))
        save_ours(ref, st, **fields)
        run = export(st, gpt)
        self.assertEqual(run.returncode, 0, run.stderr)
        return ref, gpt

    def test_gpt_computes_what_the_module_computes(self):
        for name, (_, fields, arch) in S2D_CASES.items():
            with self.subTest(name):
                ref, gpt = self.exported(name)
                m = load(gpt)
                self.assertIn("pixel_unshuffle", m.code)
                for h, w in RESNET_SIZES:
                    x = torch.rand(2, 3, h, w) * 2 - 1
                    with torch.no_grad():
                        diff = (m(x) - ref(x)).abs().max().item()
                    self.assertLessEqual(diff, S2D_TOLERANCE, f"{name} at {h}x{w}")
                meta = metadata(gpt)
                self.assertEqual(meta["architecture"], arch)
                self.assertEqual(meta["space_to_depth"], fields["space_to_depth"])
                self.assertEqual((meta["size_multiple"], meta["min_size"]), (4, 8))
                info = subprocess.run([CG_TRAINER, "info", gpt], capture_output=True, text=True)
                self.assertEqual(info.returncode, 0, info.stderr)
                self.assertIn(f"space-to-depth by {fields['space_to_depth']}", info.stdout)

    def test_contradicting_metadata_is_refused(self):
        torch.manual_seed(3)
        ref = zoo.noisy(S2D_CASES["s2d4_mobile6_instance"][0]())
        cases = {
            # The name says the official layout, the field a fold by 4.
            "name": ({"ngf": 8, "n_blocks": 6, "mobile": True, "space_to_depth": 4,
                      "architecture": "mobile_resnet_6blocks"}, "architecture"),
            # The factor left out: the tensors are not the official layout's.
            "factor": ({"ngf": 8, "n_blocks": 6, "mobile": True}, ""),
            "bad factor": ({"ngf": 8, "n_blocks": 6, "mobile": True, "space_to_depth": 8}, "space_to_depth 8"),
        }
        for what, (fields, words) in cases.items():
            with self.subTest(what):
                st = os.path.join(self.tmp.name, what.replace(" ", "-") + ".safetensors")
                save_ours(ref, st, **fields)
                run = export(st, st[:-len(".safetensors")] + ".pt")
                self.assertEqual(run.returncode, 1, run.stdout)
                self.assertIn(st, run.stderr)
                self.assertIn(words, run.stderr)


class BadInput(TempDirTest):
    """Files that are not a supported generator: exit status 1 with a message, no G.pt."""

    def refuse(self, state, *args, name="bad"):
        pth, gpt = os.path.join(self.tmp.name, name + ".pth"), os.path.join(self.tmp.name, name + ".pt")
        torch.save(state, pth)
        run = export(pth, gpt, *args)
        self.assertEqual(run.returncode, 1, f"stdout: {run.stdout}\nstderr: {run.stderr}")
        self.assertFalse(os.path.exists(gpt))
        self.assertTrue(run.stderr.strip(), "no message")
        return run.stderr

    def misshape(self, net, key, reshape):
        torch.manual_seed(7)
        sd = zoo.noisy(net).state_dict()
        self.assertIn(key, sd)
        sd[key] = reshape(sd[key]).contiguous()
        return sd

    def test_resnet_residual_conv_transposed(self):
        key = "model.13.conv_block.5.weight"
        sd = self.misshape(zoo.ResnetGenerator(3, 3, 8, "instance", False, 6), key, lambda w: w.permute(2, 3, 0, 1))
        self.assertIn(key, self.refuse(sd, name="resnet-transposed"))

    def test_resnet_batch_missing_running_var(self):
        torch.manual_seed(7)
        sd = zoo.noisy(zoo.ResnetGenerator(3, 3, 8, "batch", False, 6)).state_dict()
        key = "model.12.conv_block.2.running_var"
        del sd[key]
        self.assertIn(key, self.refuse(sd, name="resnet-no-running-var"))

    def test_unet_down_conv_transposed(self):
        key = "model.model.1.model.3.model.1.weight"
        sd = self.misshape(zoo.UnetGenerator(3, 3, 8, 8, "batch", True), key, lambda w: w.transpose(0, 1))
        self.assertIn(key, self.refuse(sd, name="unet-transposed"))

    def test_cut_residual_conv_transposed(self):
        key = "model.14.conv_block.1.weight"
        sd = self.misshape(zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6), key, lambda w: w.permute(2, 3, 0, 1))
        self.assertIn(key, self.refuse(sd, name="cut-transposed"))

    def test_unrelated_tensors(self):
        torch.manual_seed(8)
        sd = collections.OrderedDict([("encoder.fc.weight", torch.randn(10, 20)), ("encoder.fc.bias", torch.randn(10)),
                                      ("embed", torch.randn(7, 3, 3)), ("head.0.weight", torch.randn(3, 5, 1, 1))])
        self.refuse(sd, name="unrelated")

    def test_arch_that_does_not_fit(self):
        torch.manual_seed(9)
        sd = zoo.noisy(zoo.ResnetGenerator(3, 3, 8, "instance", False, 6)).state_dict()
        self.refuse(sd, "--arch", "unet", name="resnet-as-unet")
        sd = zoo.noisy(zoo.CutResnetGenerator(3, 3, 8, "instance", False, 6)).state_dict()
        self.refuse(sd, "--arch", "resnet", name="cut-as-resnet")


if __name__ == "__main__":
    unittest.main(verbosity=2)
