"""Runs official CycleGAN training iterations (losses and update order of
pytorch-CycleGAN-and-pix2pix's cycle_gan model) in Python PyTorch from the initial weights the
C++ test wrote, and compares losses and final weights with cg-trainer's.

usage: train_step_reference.py INIT.pt AFTER.pt
"""
import itertools
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from reference import NLayerDiscriminator, ResnetGenerator  # noqa: E402


def main(init_path, after_path):
    # Both files were just written by the C++ test (typed dicts need the full unpickler).
    init = torch.load(init_path, weights_only=False)
    after = torch.load(after_path, weights_only=False)
    cfg = {k[4:]: v.item() for k, v in init.items() if k.startswith('cfg.')}
    torch.set_num_threads(1)
    nets = {
        'G_A': ResnetGenerator(ngf=int(cfg['ngf']), n_blocks=int(cfg['n_blocks'])),
        'G_B': ResnetGenerator(ngf=int(cfg['ngf']), n_blocks=int(cfg['n_blocks'])),
        'D_A': NLayerDiscriminator(ndf=int(cfg['ndf'])),
        'D_B': NLayerDiscriminator(ndf=int(cfg['ndf'])),
    }
    for name, net in nets.items():
        state = {k[len(name) + 1:]: v for k, v in init.items() if k.startswith(name + '.')}
        net.load_state_dict(state, strict=True)
    G_A, G_B, D_A, D_B = nets['G_A'], nets['G_B'], nets['D_A'], nets['D_B']
    lam_A, lam_B, lam_idt = cfg['lambda_A'], cfg['lambda_B'], cfg['lambda_identity']
    opt_G = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=cfg['lr'], betas=(cfg['beta1'], 0.999))
    opt_D = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=cfg['lr'], betas=(cfg['beta1'], 0.999))
    mse, l1 = nn.MSELoss(), nn.L1Loss()

    def gan(pred, real):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    def requires_grad(nets_, flag):
        for n in nets_:
            for p in n.parameters():
                p.requires_grad = flag

    losses = []
    for step in range(int(cfg['steps'])):
        real_A, real_B = init['A.%d' % step], init['B.%d' % step]
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        requires_grad([D_A, D_B], False)
        opt_G.zero_grad()
        idt_A = l1(G_A(real_B), real_B) * lam_B * lam_idt
        idt_B = l1(G_B(real_A), real_A) * lam_A * lam_idt
        g_A = gan(D_A(fake_B), True)
        g_B = gan(D_B(fake_A), True)
        c_A = l1(rec_A, real_A) * lam_A
        c_B = l1(rec_B, real_B) * lam_B
        (g_A + g_B + c_A + c_B + idt_A + idt_B).backward()
        opt_G.step()
        requires_grad([D_A, D_B], True)
        opt_D.zero_grad()
        # pool_size 0: the pools return the fakes unchanged
        d_A = 0.5 * (gan(D_A(real_B), True) + gan(D_A(fake_B.detach()), False))
        d_A.backward()
        d_B = 0.5 * (gan(D_B(real_A), True) + gan(D_B(fake_A.detach()), False))
        d_B.backward()
        opt_D.step()
        losses.append([d_A.item(), g_A.item(), c_A.item(), idt_A.item(), d_B.item(), g_B.item(), c_B.item(), idt_B.item()])

    ok = True
    theirs = after['losses'].tolist()
    for step, (mine, cpp) in enumerate(zip(losses, theirs)):
        for name, a, b in zip(['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'], mine, cpp):
            if abs(a - b) > 1e-4 * max(1.0, abs(a)):
                print('step %d loss %s: python %.7f, c++ %.7f' % (step + 1, name, a, b))
                ok = False
    # Adam divides by sqrt(v): where a gradient is ~0, rounding differences of the fast
    # formulations can flip an update's sign, so a few elements may differ by up to 2 lr per step.
    # The bias of a conv followed by InstanceNorm has a gradient that is zero in exact arithmetic
    # (the norm removes the mean), so both implementations move it by rounding noise alone: only
    # the bound applies to those.
    noise_only = set()
    for name, net in nets.items():
        for prefix, mod in net.named_modules():
            if isinstance(mod, nn.Sequential):
                layers = list(mod)
                for i in range(len(layers) - 1):
                    if isinstance(layers[i], (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(layers[i + 1], nn.InstanceNorm2d):
                        noise_only.add('%s.%s.%d.bias' % (name, prefix, i))
    worst_fraction = 0.0
    for name, net in nets.items():
        for key, p in net.state_dict().items():
            q = after[name + '.' + key]
            diff = (p - q).abs()
            frac = (diff > 1e-6).float().mean().item()
            bound = 2 * cfg['lr'] * cfg['steps'] + 1e-6
            if name + '.' + key in noise_only:
                frac = 0.0
                # Adam's bias-corrected early steps can exceed lr a little when noise flips sign.
                bound = 3 * cfg['lr'] * cfg['steps']
            worst_fraction = max(worst_fraction, frac)
            if diff.max().item() > bound or frac > 0.01:
                print('%s.%s: max diff %.3g, %.2f%% of elements differ by more than 1e-6' % (name, key, diff.max().item(), 100 * frac))
                ok = False
            moved = (p - init[name + '.' + key]).abs().max().item()
            if moved == 0.0:
                print('%s.%s did not change in training' % (name, key))
                ok = False
    print('losses and weights %s the official update (worst fraction of differing elements %.4f%%)'
          % ('match' if ok else 'DO NOT match', 100 * worst_fraction))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
