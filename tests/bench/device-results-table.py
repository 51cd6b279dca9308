#!/usr/bin/env python3
"""The summary tables of scripts/device-check.sh, from the JSON files of bench_inference.py (one per
configuration, named inference-SIZE-PRECISION-bBATCH-FORMAT.json) and bench-train-device.py. A
configuration whose file is missing (its step failed, timed out or was not reached) gets a line
saying so, so the table shows every configuration asked for.

usage: device-results-table.py --inference FILE... [--training FILE]
"""
import argparse
import json
import os
import re


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cell(r):
    return '%9.2f %8.1f' % (r['median_ms'], r['fps']) if r else '%9s %8s' % ('-', '-')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--inference', nargs='*', default=[])
    ap.add_argument('--training')
    a = ap.parse_args()

    runs = [(p, load(p)) for p in a.inference]
    first = next((d for _, d in runs if d), None)
    if first:
        print('inference: %s, torch %s, generator resnet_%dblocks ngf %d; median ms per frame and frames/s; '
              'eager = Python PyTorch eager on the same device'
              % (first['device_name'], first['torch'], first['args']['blocks'], first['args']['ngf']))
    print('%-10s %-5s %5s %-13s | %-18s | %-18s | %-18s | %7s %7s' % (
        'size', 'prec', 'batch', 'memory format', 'eager ms    fps', 'engine ms    fps', 'element ms   fps',
        'el/eng', 'eng/eag'))
    for path, d in runs:
        m = re.match(r'inference-(.+)-(\w+)-b(\d+)-([\w-]+)\.json$', os.path.basename(path))
        label = m.groups() if m else (os.path.basename(path), '?', '?', '?')
        if not d:
            print('%-10s %-5s %5s %-13s | no result: the step failed, timed out or was not reached' % label)
            continue
        res = d['results']
        eager = next((v for k, v in res.items() if k.startswith('python eager')), None)
        engine, element = res.get('engine (bare)'), res.get('element (pipeline)')
        ratio_el = '%7.3f' % (element['median_ms'] / engine['median_ms']) if engine and element else '%7s' % '-'
        speedup = '%6.2fx' % (eager['median_ms'] / engine['median_ms']) if eager and engine else '%7s' % '-'
        args = d['args']
        print('%-10s %-5s %5d %-13s | %s | %s | %s | %s %s' % (
            args['size'], args['precision'], args['batch'], args['memory_format'], cell(eager), cell(engine),
            cell(element), ratio_el, speedup))
        for name, e in d.get('errors', {}).items():
            # cg-bench ends its message with the launch line in brackets: the reason comes first.
            print('%-37s   %s FAILED: %s' % ('', name, e.split(' (videotestsrc')[0][:200]))
    if runs:
        print('el/eng: element time over engine time (target <= 1.10); eng/eag: engine speed-up over eager')

    if a.training:
        t = load(a.training)
        print()
        if not t:
            print('training: no result (the step failed, timed out or was not reached; see bench-train.log)')
            return
        print('training: %s, torch %s, %dx%d, resnet_%dblocks, ngf/ndf %d, batch 1; iterations/s'
              % (t['device_name'], t['torch'], t['size'], t['size'], t['blocks'], t['ngf']))
        print('%-5s | %-22s | %-26s | %s' % ('amp', 'cg-trainer', 'Python eager (official)', 'ratio'))
        for r in t['rows']:
            cpp = '%.3f' % r['cg_trainer'] if 'cg_trainer' in r else 'FAILED: ' + r['cg_trainer_error'][:200]
            ratio = '%.2fx' % (r['cg_trainer'] / r['python']) if 'cg_trainer' in r else '-'
            print('%-5s | %-22s | %-26.3f | %s' % (r['amp'], cpp, r['python'], ratio))


if __name__ == '__main__':
    main()
