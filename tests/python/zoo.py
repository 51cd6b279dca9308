"""Independent PyTorch implementations of the generator kinds that `cg-trainer export` imports,
written so that their state_dict keys, shapes and outputs equal those of the modules people train
with:

- pytorch-CycleGAN-and-pix2pix's ResnetGenerator and UnetGenerator (unet_128, unet_256) with every
  norm option (instance, batch, none) and with or without dropout;
- contrastive-unpaired-translation's (CUT's) ResnetGenerator, whose default resamples with a fixed
  blur (antialiased strided conv down, blurred transposed conv up);
- two re-implementations in the style found around the web: InstanceNorm with affine parameters,
  conv biases everywhere, other module names.

Used only by the tests (test_zoo.py) and the fuzzer's seed script."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("instance", "batch", "none")


def norm_maker(norm):
    """(make(channels) -> module, conv bias) for the official --norm values. Official rule: convs
    that a norm follows carry a bias only with instance norm (BatchNorm has its own shift, and with
    'none' the norm slot holds a parameterless Identity and the convs still have no bias)."""
    if norm == "instance":
        return (lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)), True
    if norm == "batch":
        return (lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)), False
    if norm == "none":
        return (lambda c: nn.Identity()), False
    raise ValueError(f"unknown norm {norm!r}")


def _stage(conv, norm_layer):
    return [conv, norm_layer, nn.ReLU(True)]


# ---------------------------------------------------------------------------------------------
# pytorch-CycleGAN-and-pix2pix: resnet_Nblocks
# ---------------------------------------------------------------------------------------------

class ResnetBlock(nn.Module):
    """x + [pad, conv3, norm, relu, (dropout), pad, conv3, norm](x), the Sequential named conv_block."""

    def __init__(self, dim, norm="instance", use_dropout=False):
        super().__init__()
        make, bias = norm_maker(norm)
        half = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make(dim)]
        layers = half + [nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The official resnet generator: c7s1-ngf, two stride-2 convs, n_blocks residual blocks at
    4*ngf, two stride-2 transposed convs, c7s1-output_nc (always with a bias) and tanh."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="instance", use_dropout=False, n_blocks=9):
        super().__init__()
        make, bias = norm_maker(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            layers += _stage(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), make(2 * c))
        layers += [ResnetBlock(4 * ngf, norm, use_dropout) for _ in range(n_blocks)]
        for c in (4 * ngf, 2 * ngf):
            up = nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
            layers += _stage(up, make(c // 2))
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# pytorch-CycleGAN-and-pix2pix: unet_128 (num_downs 7), unet_256 (num_downs 8)
# ---------------------------------------------------------------------------------------------

class UnetSkipConnectionBlock(nn.Module):
    """One level of the official U-Net. Its Sequential `model` holds, by position:
    outermost  [down conv, inner level, relu, up conv (bias always), tanh]
    innermost  [leaky relu, down conv, relu, up conv, norm]
    otherwise  [leaky relu, down conv, norm, inner level, relu, up conv, norm, (dropout)]
    All but the outermost level return cat([input, model(input)], channels)."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, where="middle", norm="batch",
                 use_dropout=False):
        super().__init__()
        make, bias = norm_maker(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        self.outermost = where == "outermost"

        def down():
            return nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)

        def up(in_c, with_bias):
            return nn.ConvTranspose2d(in_c, outer_nc, 4, stride=2, padding=1, bias=with_bias)

        if where == "outermost":
            layers = [down(), submodule, nn.ReLU(True), up(2 * inner_nc, True), nn.Tanh()]
        elif where == "innermost":
            layers = [nn.LeakyReLU(0.2, True), down(), nn.ReLU(True), up(inner_nc, bias), make(outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down(), make(inner_nc), submodule,
                      nn.ReLU(True), up(2 * inner_nc, bias), make(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """The official U-Net, built from the bottleneck outwards: the innermost level at 8*ngf,
    num_downs - 5 more levels at 8*ngf (these take the dropout), then 4*ngf, 2*ngf, ngf and the
    outermost level. An input of 2**num_downs pixels square reaches the bottleneck as 1x1."""

    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64, norm="batch", use_dropout=False):
        super().__init__()
        assert num_downs >= 5
        level = UnetSkipConnectionBlock(8 * ngf, 8 * ngf, where="innermost", norm=norm)
        for _ in range(num_downs - 5):
            level = UnetSkipConnectionBlock(8 * ngf, 8 * ngf, submodule=level, norm=norm, use_dropout=use_dropout)
        for outer in (4 * ngf, 2 * ngf, ngf):
            level = UnetSkipConnectionBlock(outer, 2 * outer, submodule=level, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=level, where="outermost",
                                             norm=norm)

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# contrastive-unpaired-translation: antialiased resnet generator
# ---------------------------------------------------------------------------------------------

def binomial_kernel(taps):
    """The separable binomial blur of `taps` taps ([1, 2, 1], [1, 3, 3, 1], ...) as a 2-D kernel
    whose entries sum to 1."""
    row = [1.0]
    for _ in range(taps - 1):  # Pascal's triangle
        row = [a + b for a, b in zip([0.0] + row, row + [0.0])]
    row = torch.tensor(row)
    k2 = torch.outer(row, row)
    return k2 / k2.sum()


class Downsample(nn.Module):
    """Blur-then-subsample (Zhang 2019): reflect pad 1, a depthwise 3x3 [1,2,1] x [1,2,1] / 16
    kernel at stride 2. Maps H to ceil(H / 2). The kernel is a persistent buffer, `filt`, of shape
    (channels, 1, 3, 3), so it is in the state_dict."""

    def __init__(self, channels):
        super().__init__()
        self.register_buffer("filt", binomial_kernel(3).expand(channels, 1, 3, 3).clone())

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.filt, stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Zero-insertion upsampling with a blur: replicate pad 1, a depthwise transposed conv at
    stride 2 and padding 2 with the 4x4 [1,3,3,1] x [1,3,3,1] kernel normalised to sum 1 and then
    multiplied by stride**2 = 4 (so each output phase sums to 1), then drop the first row and
    column and the last row and column. Maps H to 2H. Buffer `filt` of shape (channels, 1, 4, 4)."""

    def __init__(self, channels):
        super().__init__()
        self.register_buffer("filt", (binomial_kernel(4) * 4).expand(channels, 1, 4, 4).clone())

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        y = F.conv_transpose2d(x, self.filt, stride=2, padding=2, groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]


class CutResnetGenerator(nn.Module):
    """CUT's resnet generator. Antialiased down (the default): conv3 stride 1, norm, relu,
    Downsample -- four modules per step instead of three. Antialiased up (the default): Upsample,
    conv3 stride 1 padding 1, norm, relu. With no_antialias and no_antialias_up it is the official
    CycleGAN ResnetGenerator, key for key."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="instance", use_dropout=False, n_blocks=9,
                 no_antialias=False, no_antialias_up=False):
        super().__init__()
        make, bias = norm_maker(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            if no_antialias:
                layers += _stage(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), make(2 * c))
            else:
                layers += _stage(nn.Conv2d(c, 2 * c, 3, stride=1, padding=1, bias=bias), make(2 * c))
                layers.append(Downsample(2 * c))
        layers += [ResnetBlock(4 * ngf, norm, use_dropout) for _ in range(n_blocks)]
        for c in (4 * ngf, 2 * ngf):
            if no_antialias_up:
                up = nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
                layers += _stage(up, make(c // 2))
            else:
                layers.append(Upsample(c))
                layers += _stage(nn.Conv2d(c, c // 2, 3, stride=1, padding=1, bias=bias), make(c // 2))
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# Re-implementations in the wild
# ---------------------------------------------------------------------------------------------

def _affine_in(c):
    return nn.InstanceNorm2d(c, affine=True)


class ThirdPartyBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _affine_in(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _affine_in(dim))

    def forward(self, x):
        return x + self.block(x)


class ThirdPartyResnet(nn.Module):
    """The official layer order in one Sequential `model`, residual Sequentials named `block`,
    biased convs and InstanceNorm2d(affine=True) (weight and bias per norm, no running stats)."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), _affine_in(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            layers += _stage(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _affine_in(2 * c))
        layers += [ThirdPartyBlock(4 * ngf) for _ in range(n_blocks)]
        for c in (4 * ngf, 2 * ngf):
            layers += _stage(nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                             _affine_in(c // 2))
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class SplitBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv1, self.norm1 = nn.Conv2d(dim, dim, 3), _affine_in(dim)
        self.conv2, self.norm2 = nn.Conv2d(dim, dim, 3), _affine_in(dim)

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(F.pad(x, (1, 1, 1, 1), mode="reflect"))))
        return x + self.norm2(self.conv2(F.pad(y, (1, 1, 1, 1), mode="reflect")))


class SplitResnet(nn.Module):
    """The same network as ThirdPartyResnet under other names: `initial`, `down`, `res`, `up`,
    `final`, and residual blocks with conv1/norm1/conv2/norm2; only the order and shapes of the
    tensors say what it is."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9):
        super().__init__()
        self.initial = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), _affine_in(ngf), nn.ReLU(True))
        self.down = nn.Sequential(
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1), _affine_in(2 * ngf), nn.ReLU(True),
            nn.Conv2d(2 * ngf, 4 * ngf, 3, stride=2, padding=1), _affine_in(4 * ngf), nn.ReLU(True))
        self.res = nn.Sequential(*[SplitBlock(4 * ngf) for _ in range(n_blocks)])
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, stride=2, padding=1, output_padding=1), _affine_in(2 * ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1), _affine_in(ngf), nn.ReLU(True))
        self.final = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh())

    def forward(self, x):
        return self.final(self.up(self.res(self.down(self.initial(x)))))


class UpsampleResnet(nn.Module):
    """A re-implementation with nearest 2x upsampling and a zero-padded 3x3 conv on the way up
    instead of transposed convs, blocks named `block`, plain InstanceNorm: only the order and
    shapes of the tensors say what it is."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9):
        super().__init__()
        plain = nn.InstanceNorm2d
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), plain(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            layers += _stage(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), plain(2 * c))
        for _ in range(n_blocks):
            block = ThirdPartyBlock(4 * ngf)
            block.block[2], block.block[6] = plain(4 * ngf), plain(4 * ngf)
            layers.append(block)
        for c in (4 * ngf, 2 * ngf):
            layers += [nn.Upsample(scale_factor=2)] + _stage(nn.Conv2d(c, c // 2, 3, padding=1), plain(c // 2))
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# cyclegan-gst's students that never convolve at full resolution (no other project has them; they
# reach cg-trainer as a G.safetensors with our metadata, trainer_cli.save_ours)
# ---------------------------------------------------------------------------------------------

class MobileBlock(nn.Module):
    """GAN Compression's residual block: each 3x3 conv of the official block is a depthwise 3x3,
    a norm and a 1x1; ReLU after the first half, dropout before the second."""

    def __init__(self, dim, norm="instance", use_dropout=False):
        super().__init__()
        make, bias = norm_maker(norm)

        def half():
            return [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, groups=dim, bias=bias), make(dim),
                    nn.Conv2d(dim, dim, 1, bias=bias), make(dim)]

        self.conv_block = nn.Sequential(*half(), nn.ReLU(True), *([nn.Dropout(0.5)] if use_dropout else []), *half())

    def forward(self, x):
        return x + self.conv_block(x)


class SpaceToDepthResnet(nn.Module):
    """PixelUnshuffle(r) folds r x r cells into channels (3 -> 3 r^2 at 1/r of the size); a 3x3 conv
    (reflection pad 1) to the width the official ResNet has at that resolution (ngf * r); the
    stride-2 convs the fold did not replace (two halvings in all); the residual blocks at 4 ngf;
    as many transposed convs back up to 1/r; a 3x3 conv (reflection pad 1) to 3 r^2 channels;
    PixelShuffle(r); tanh. r = 4 convolves nothing at full resolution or at half."""

    def __init__(self, input_nc=3, output_nc=3, ngf=16, n_blocks=6, r=4, mobile=True, norm="instance",
                 use_dropout=False):
        super().__init__()
        assert r in (2, 4)
        make, bias = norm_maker(norm)
        block = MobileBlock if mobile else ResnetBlock
        width = ngf * r
        layers = [nn.PixelUnshuffle(r), nn.ReflectionPad2d(1), nn.Conv2d(input_nc * r * r, width, 3, bias=bias),
                  make(width), nn.ReLU(True)]
        while width < 4 * ngf:
            layers += _stage(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=bias), make(2 * width))
            width *= 2
        layers += [block(width, norm, use_dropout) for _ in range(n_blocks)]
        while width > ngf * r:
            up = nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
            layers += _stage(up, make(width // 2))
            width //= 2
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, output_nc * r * r, 3), nn.PixelShuffle(r), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def noisy(net):
    """Random values for every weight, bias, affine norm parameter and BatchNorm running statistic
    (variances positive), scaled so that activations stay of order one; blur buffers (`filt`) and
    num_batches_tracked keep their values. Returns net in eval mode."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.conv._ConvNd):
                w = m.weight
                fan_in = w.shape[1] * w[0, 0].numel()
                if isinstance(m, nn.ConvTranspose2d):
                    fan_in = w.shape[0] * w[0, 0].numel() / (m.stride[0] * m.stride[1])
                w.normal_(0.0, 1.0 / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.modules.batchnorm._NormBase):
                if m.weight is not None:
                    m.weight.copy_(1.0 + 0.25 * torch.randn_like(m.weight))
                    m.bias.normal_(0.0, 0.2)
                if m.running_mean is not None:
                    m.running_mean.normal_(0.0, 0.3)
                    m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def bn_train_copy(net):
    """What the official test.py without --eval computes for one frame, dropout left out: a copy
    with BatchNorm layers in training mode (batch statistics; the running statistics it updates
    do not affect the output) and everything else in eval mode."""
    ref = copy.deepcopy(net).eval()
    for m in ref.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
    return ref
