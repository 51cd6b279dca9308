#!/usr/bin/env python3
"""Training speed on one device (CPU or CUDA): cg-trainer train against Python PyTorch eager running
the official cycle_gan iteration (tests/python/reference.py networks, LSGAN, cycle and identity
losses, the official update order and image pool, Adam 2e-4), at the same size and model, in fp32
and with bf16 autocast (cg-trainer --amp bf16). The Python side keeps PyTorch's defaults on CUDA
(cuDNN benchmark mode, as the official code sets it; TF32 convolutions), as a user of the official
code would run it. Prints iterations/s of each, the ratios, and with --json writes them.

tests/trainer/bench-train.py is the CPU comparison at equal thread counts; this one is for the GPU
check (scripts/device-check.sh), where the whole budget is minutes, so each side runs once.

usage: bench-train-device.py --trainer PATH [--device cuda] [--size 256] [--ngf 64] [--blocks 9]
                             [--iters 20] [--amp off,bf16] [--json FILE]
"""
import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from reference import NLayerDiscriminator, Pool, ResnetGenerator, init_normal  # noqa: E402


def python_rate(device, amp, size, ngf, blocks, iters, warmup):
    """Iterations/s of the official iteration; amp 'bf16' runs forwards and losses under autocast."""
    torch.manual_seed(0)
    if device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    nets = [init_normal(ResnetGenerator(ngf=ngf, n_blocks=blocks)), init_normal(ResnetGenerator(ngf=ngf, n_blocks=blocks)),
            init_normal(NLayerDiscriminator(ndf=ngf)), init_normal(NLayerDiscriminator(ndf=ngf))]
    G_A, G_B, D_A, D_B = (n.to(device) for n in nets)
    opt_G = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_A, pool_B = Pool(50), Pool(50)
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    autocast = torch.autocast(device.split(':')[0], dtype=torch.bfloat16, enabled=amp == 'bf16')

    def gan(p, real):
        return mse(p.float(), torch.ones_like(p.float()) if real else torch.zeros_like(p.float()))

    def step(A, B):
        with autocast:
            fake_B = G_A(A); rec_A = G_B(fake_B); fake_A = G_B(B); rec_B = G_A(fake_A)
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad = False
        opt_G.zero_grad()
        with autocast:
            loss = (l1(G_A(B), B) * 5 + l1(G_B(A), A) * 5 + gan(D_A(fake_B), True) + gan(D_B(fake_A), True)
                    + l1(rec_A, A) * 10 + l1(rec_B, B) * 10)
        loss.backward()
        opt_G.step()
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad = True
        opt_D.zero_grad()
        fb = pool_B.query(fake_B.detach())
        with autocast:
            loss_D_A = 0.5 * (gan(D_A(B), True) + gan(D_A(fb), False))
        loss_D_A.backward()
        fa = pool_A.query(fake_A.detach())
        with autocast:
            loss_D_B = 0.5 * (gan(D_B(A), True) + gan(D_B(fa), False))
        loss_D_B.backward()
        opt_D.step()

    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    data = [((torch.rand(1, 3, size, size) * 2 - 1).to(device), (torch.rand(1, 3, size, size) * 2 - 1).to(device))
            for _ in range(4)]
    for i in range(warmup):
        step(*data[i % 4])
    sync()
    t = time.perf_counter()
    for i in range(iters):
        step(*data[i % 4])
    sync()
    return iters / (time.perf_counter() - t)


def trainer_rate(trainer, device, amp, size, ngf, blocks, iters, data):
    """Iterations/s cg-trainer reports after the first iteration of its run (saves excluded)."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [trainer, 'train', '--dataroot', data, '--checkpoints-dir', d, '--name', 'bench',
               '--netG', 'resnet_%dblocks' % blocks, '--ngf', str(ngf), '--ndf', str(ngf),
               '--load-size', str(size), '--crop-size', str(size), '--device', device, '--seed', '1',
               '--max-iters', str(iters + 1), '--print-freq', '100000', '--display-freq', '100000',
               '--save-latest-freq', '100000']
        if amp != 'off':
            cmd += ['--amp', amp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            lines = (r.stderr or r.stdout).strip().splitlines()
            raise RuntimeError('exit %d: %s' % (r.returncode, lines[-1] if lines else 'no output'))
        m = re.search(r'iterations/s \(after the first of this run\): ([0-9.eE+-]+)', r.stdout)
        if not m:
            raise RuntimeError('no rate in the output: ' + (r.stdout + r.stderr)[-300:])
        return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--trainer', default=os.environ.get('CG_TRAINER', 'build/trainer/cg-trainer'))
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--ngf', type=int, default=64)
    ap.add_argument('--blocks', type=int, default=9)
    ap.add_argument('--iters', type=int, default=20, help='timed iterations of each side (after warm-up)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed Python iterations (cuDNN autotuning)')
    ap.add_argument('--amp', default='off,bf16', help='comma-separated: off, bf16')
    ap.add_argument('--json')
    a = ap.parse_args()
    name = torch.cuda.get_device_name(0) if a.device.startswith('cuda') else 'CPU, %d threads' % torch.get_num_threads()
    print('settings: %s, torch %s, %dx%d, ngf/ndf %d, resnet_%dblocks, batch 1, %d timed iterations each'
          % (name, torch.__version__, a.size, a.size, a.ngf, a.blocks, a.iters), flush=True)
    data = tempfile.mkdtemp()
    subprocess.run([a.trainer, 'synth', '--out', data, '--count', '8', '--test-count', '1', '--size', str(a.size)],
                   check=True, stdout=subprocess.DEVNULL)
    rows = []
    for amp in a.amp.split(','):
        row = {'amp': amp}
        try:
            row['cg_trainer'] = trainer_rate(a.trainer, a.device, amp, a.size, a.ngf, a.blocks, a.iters, data)
        except RuntimeError as e:
            row['cg_trainer_error'] = str(e)
        row['python'] = python_rate(a.device, amp, a.size, a.ngf, a.blocks, a.iters, a.warmup)
        rows.append(row)
        cpp = '%.3f it/s' % row['cg_trainer'] if 'cg_trainer' in row else 'FAILED (%s)' % row['cg_trainer_error']
        ratio = ', ratio %.2fx' % (row['cg_trainer'] / row['python']) if 'cg_trainer' in row else ''
        print('amp %-4s  cg-trainer %s, Python eager %.3f it/s%s' % (amp, cpp, row['python'], ratio), flush=True)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'device_name': name, 'torch': torch.__version__, 'size': a.size, 'ngf': a.ngf,
                       'blocks': a.blocks, 'iters': a.iters, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
    main()
