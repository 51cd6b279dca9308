"""Writes the files the C++ tests read: official-style state_dicts (OrderedDict, with and
without InstanceNorm running statistics, legacy format, wrong architecture, damaged), and
reference inputs and outputs for the parity tests."""

import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from reference import ResnetGenerator, NLayerDiscriminator, init_normal  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1234)

    # The default generator, official init plus noise on the biases so that they matter.
    g9 = init_normal(ResnetGenerator()).eval()
    with torch.no_grad():
        for name, p in g9.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.05)
    sd = g9.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    torch.save(sd, os.path.join(out, "g9.pth"))

    io = {}
    with torch.no_grad():
        for h, w in [(256, 256), (200, 320)]:
            x = torch.rand(1, 3, h, w) * 2 - 1
            io[f"input_{h}x{w}"] = x
            io[f"output_{h}x{w}"] = g9(x)
    torch.save(io, os.path.join(out, "g9-io.pth"))

    # A small resnet_6blocks in the style of the 2018 pretrained files: InstanceNorm with running
    # statistics (track_running_stats=True in old PyTorch) and the legacy format.
    g6 = init_normal(ResnetGenerator(ngf=16, n_blocks=6)).eval()
    sd6 = g6.state_dict()
    stats = collections.OrderedDict(sd6)
    for name, m in g6.named_modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            stats[name + ".running_mean"] = torch.zeros(m.num_features)
            stats[name + ".running_var"] = torch.ones(m.num_features)
            stats[name + ".num_batches_tracked"] = torch.tensor(0)
    torch.save(stats, os.path.join(out, "g6-ngf16-running-stats.pth"))
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 96) * 2 - 1
        torch.save({"input": x, "output": g6(x)}, os.path.join(out, "g6-ngf16-io.pth"))
    torch.save(sd6, os.path.join(out, "g6-ngf16-legacy.pth"), _use_new_zipfile_serialization=False)

    # A video frame of odd size through the element's contract: RGB bytes to [-1, 1], replicate-pad
    # right and bottom to a multiple of 4, generator, crop, back to bytes with rounding.
    frame = torch.randint(0, 256, (38, 50, 3), dtype=torch.uint8)
    with torch.no_grad():
        x = frame.permute(2, 0, 1)[None].float() / 127.5 - 1
        x = torch.nn.functional.pad(x, (0, 2, 0, 2), mode="replicate")
        y = g6(x)[..., :38, :50]
        translated = ((y + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous()
    torch.save({"frame": frame, "translated": translated}, os.path.join(out, "g6-ngf16-frame.pth"))

    # With dropout (the pix2pix-style option) the second block conv sits at conv_block.6.
    gd = init_normal(ResnetGenerator(ngf=8, n_blocks=2, use_dropout=True)).eval()
    torch.save(gd.state_dict(), os.path.join(out, "g2-ngf8-dropout.pth"))
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32) * 2 - 1
        torch.save({"input": x, "output": gd(x)}, os.path.join(out, "g2-ngf8-dropout-io.pth"))

    # Wrong architectures: a discriminator, and a generator with one tensor mis-shaped.
    torch.save(NLayerDiscriminator().state_dict(), os.path.join(out, "discriminator.pth"))
    bad = collections.OrderedDict(sd6)
    bad["model.13.conv_block.5.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(bad, os.path.join(out, "g6-bad-shape.pth"))
    extra = collections.OrderedDict(sd6)
    extra["model.30.weight"] = torch.zeros(3)
    torch.save(extra, os.path.join(out, "g6-extra-key.pth"))

    # Damaged files.
    data = open(os.path.join(out, "g6-ngf16-running-stats.pth"), "rb").read()
    open(os.path.join(out, "truncated.pth"), "wb").write(data[: len(data) // 2])
    open(os.path.join(out, "not-zip.pth"), "wb").write(b"this is not a model\n" * 10)
    open(os.path.join(out, "empty.pth"), "wb").write(b"")

    # Plain dict (not OrderedDict), half-precision and non-contiguous storage views.
    g6h = {k: v.half() for k, v in sd6.items()}
    torch.save(g6h, os.path.join(out, "g6-ngf16-half-dict.pth"))
    views = {"t": torch.arange(24.0).reshape(4, 6).t(), "s": torch.arange(10.0)[3:7], "i": torch.tensor([1, -2, 3])}
    torch.save(views, os.path.join(out, "views.pth"))
    open(os.path.join(out, "stamp"), "w").write("ok\n")


if __name__ == "__main__":
    main(sys.argv[1])
