#!/usr/bin/env python3
"""Training speed of cg-trainer against Python PyTorch eager running the official cycle_gan
iteration (tests/python/reference.py networks, official losses, update order and image pool),
at the same settings and thread count. Not a test: prints iterations/s of each and the ratio.

usage: bench-train.py [--trainer build/trainer/cg-trainer] [--size 256] [--ngf 64] [--blocks 9]
                      [--threads 2] [--iters 3]
Run with the torch of the build (e.g. the venv given to meson as torch_python).
"""
import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from reference import NLayerDiscriminator, Pool, ResnetGenerator, init_normal  # noqa: E402


def python_rate(size, ngf, blocks, threads, iters, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    G_A, G_B = init_normal(ResnetGenerator(ngf=ngf, n_blocks=blocks)), init_normal(ResnetGenerator(ngf=ngf, n_blocks=blocks))
    D_A, D_B = init_normal(NLayerDiscriminator(ndf=ngf)), init_normal(NLayerDiscriminator(ndf=ngf))
    opt_G = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_A, pool_B = Pool(50), Pool(50)
    mse, l1 = nn.MSELoss(), nn.L1Loss()

    def gan(p, real):
        return mse(p, torch.ones_like(p) if real else torch.zeros_like(p))

    def step(A, B):
        fake_B = G_A(A); rec_A = G_B(fake_B); fake_A = G_B(B); rec_B = G_A(fake_A)
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad = False
        opt_G.zero_grad()
        loss = (l1(G_A(B), B) * 5 + l1(G_B(A), A) * 5 + gan(D_A(fake_B), True) + gan(D_B(fake_A), True)
                + l1(rec_A, A) * 10 + l1(rec_B, B) * 10)
        loss.backward()
        opt_G.step()
        for p in itertools.chain(D_A.parameters(), D_B.parameters()):
            p.requires_grad = True
        opt_D.zero_grad()
        fb = pool_B.query(fake_B.detach())
        (0.5 * (gan(D_A(B), True) + gan(D_A(fb), False))).backward()
        fa = pool_A.query(fake_A.detach())
        (0.5 * (gan(D_B(A), True) + gan(D_B(fa), False))).backward()
        opt_D.step()

    data = [(torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1) for _ in range(4)]
    for i in range(warmup):
        step(*data[i % 4])
    t = time.perf_counter()
    for i in range(iters):
        step(*data[i % 4])
    return iters / (time.perf_counter() - t)


def trainer_rate(trainer, size, ngf, blocks, threads, iters):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([trainer, 'synth', '--out', d + '/data', '--count', '8', '--test-count', '1', '--size', str(size)],
                       check=True, stdout=subprocess.DEVNULL)
        # The trainer reports iterations/s after the first iteration, excluding saves.
        r = subprocess.run([trainer, 'train', '--dataroot', d + '/data', '--checkpoints-dir', d + '/ck', '--name', 'bench',
                            '--netG', 'resnet_%dblocks' % blocks, '--ngf', str(ngf), '--ndf', str(ngf),
                            '--load-size', str(size), '--crop-size', str(size), '--threads', str(threads),
                            '--device', 'cpu', '--seed', '1', '--max-iters', str(iters + 1), '--print-freq', '100000',
                            '--display-freq', '100000', '--save-latest-freq', '100000'],
                           check=True, capture_output=True, text=True)
        m = re.search(r'iterations/s \(after the first of this run\): ([0-9.eE+-]+)', r.stdout)
        if not m:
            sys.exit('no rate in the trainer output:\n' + r.stdout + r.stderr)
        return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--trainer', default='build/trainer/cg-trainer')
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--ngf', type=int, default=64)
    ap.add_argument('--blocks', type=int, default=9)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iters', type=int, default=3, help='timed iterations each (after one warm-up)')
    ap.add_argument('--repeat', type=int, default=3, help='alternating runs of each; the medians are compared')
    a = ap.parse_args()
    print('settings: %dx%d, ngf/ndf %d, resnet_%dblocks, batch 1, CPU, %d threads, %d timed iterations per run, '
          '%d alternating runs each' % (a.size, a.size, a.ngf, a.blocks, a.threads, a.iters, a.repeat), flush=True)
    cpp, py = [], []
    # Alternating runs, so that a change in the machine's load hits both sides alike.
    for _ in range(a.repeat):
        cpp.append(trainer_rate(a.trainer, a.size, a.ngf, a.blocks, a.threads, a.iters))
        print('  cg-trainer   %.3f it/s' % cpp[-1], flush=True)
        py.append(python_rate(a.size, a.ngf, a.blocks, a.threads, a.iters, 1))
        print('  Python eager %.3f it/s' % py[-1], flush=True)
    c, p = statistics.median(cpp), statistics.median(py)
    print('cg-trainer:              %.3f it/s (%.2f s/it), median' % (c, 1 / c))
    print('Python eager (torch %s): %.3f it/s (%.2f s/it), median' % (torch.__version__, p, 1 / p))
    print('ratio cg-trainer / Python: %.2fx' % (c / p))


if __name__ == '__main__':
    main()
