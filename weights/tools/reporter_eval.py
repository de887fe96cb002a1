#!/usr/bin/python3
"""Reporter-readout accuracy on a synthetic plate (issue #14). Run by hand:

    nice /usr/bin/python3 weights/tools/reporter_eval.py --model fpf_add [--post on] [--wells 12]

The plate is `fpf_synth --set test --count WELLS --seed 9000 --reporter` (1280x1024 fields, seeds never
used for training or the test sets; bacteria in about 30 % of the cells, truth in <name>_infected.csv).
Each well goes through build/fpf_segment with the cell model, the shipped nucleus model and --reporter
(default readout rule), single-threaded. A predicted cell is matched to the true cell it overlaps with
IoU >= 0.5 (greedy by score, as COCO). Then, over cells:
  TP = called infected and matched to an infected true cell;
  FP = called infected and unmatched or matched to an uninfected one;
  FN = infected true cells without a matched cell called infected;
precision = TP/(TP+FP), recall = TP/(TP+FN). Per well, the infection rate (infected / cells) of the
readout is compared with the truth. Needs python3-numpy and python3-tifffile.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np
import tifffile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.join(ROOT, 'build')


def match(pred, gt, order):
    """pred label -> gt label (IoU >= 0.5), greedy in the given order of pred labels."""
    n_gt = int(gt.max())
    gt_area = np.bincount(gt.ravel(), minlength=n_gt + 1)
    used, out = set(), {}
    for k in order:
        m = pred == k
        a = int(m.sum())
        if not a:
            continue
        ov = np.bincount(gt[m], minlength=n_gt + 1)
        best, best_iou = 0, 0.5
        for g in np.nonzero(ov)[0]:
            if g == 0 or g in used:
                continue
            iou = ov[g] / (a + gt_area[g] - ov[g])
            if iou >= best_iou:
                best, best_iou = g, iou
        if best:
            used.add(best)
            out[k] = best
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='fpf_add')
    ap.add_argument('--post', default=None, help='fpf_segment --post value (default: the CLI default)')
    ap.add_argument('--wells', type=int, default=12)
    ap.add_argument('--extra', nargs='*', default=[])
    ap.add_argument('--json')
    a = ap.parse_args()
    plate = os.path.join(BUILD, 'eval_data', 'plate_%d' % a.wells)
    if not os.path.exists(os.path.join(plate, 'manifest.txt')):
        subprocess.check_call([os.path.join(BUILD, 'fpf_synth'), '--set', 'test', '--count', str(a.wells), '--seed', '9000',
                               '--reporter', '--out', plate, '--quiet'])
    names = sorted(f[:-len('_cell.tif')] for f in os.listdir(plate) if f.endswith('_cell.tif'))
    tp = fp = fn = 0
    rates = []
    for n in names:
        out = os.path.join(BUILD, 'eval', 'reporter', a.model + '_' + (a.post or 'default'), n)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = [os.path.join(BUILD, 'fpf_segment'), '--model', os.path.join(ROOT, 'weights', 'models', a.model + '.fpf'),
               '--nucleus-model', os.path.join(ROOT, 'weights', 'models', 'cores.fpf'),
               '--nucleus', os.path.join(plate, n + '_nucleus.tif'), '--cell', os.path.join(plate, n + '_cell.tif'),
               '--reporter', os.path.join(plate, n + '_reporter.tif'), '--out', out, '--threads', '1', '--quiet', '--tile', '0'] + a.extra
        if a.post:
            cmd += ['--post', a.post]
        subprocess.check_call(cmd)
        gt = tifffile.imread(os.path.join(plate, n + '_cell_labels.tif')).astype(np.int64)
        pred = tifffile.imread(os.path.join(out, 'cells.tif')).astype(np.int64)
        truth = {int(r['cell_label']): int(r['infected']) for r in csv.DictReader(open(os.path.join(plate, n + '_infected.csv')))}
        rows = list(csv.DictReader(open(os.path.join(out, 'cells.csv'))))
        called = {int(r['ObjectNumber']): int(r['Reporter_Infected']) for r in rows}
        order = [int(r['ObjectNumber']) for r in sorted(rows, key=lambda r: -float(r['Score']))]
        m = match(pred, gt, order)
        hit = set()
        for k, c in called.items():
            if not c:
                continue
            if k in m and truth.get(m[k], 0):
                tp += 1
                hit.add(m[k])
            else:
                fp += 1
        fn += sum(1 for g, t in truth.items() if t and g not in hit)
        true_rate = sum(truth.values()) / max(1, len(truth))
        read_rate = sum(called.values()) / max(1, len(called))
        rates.append((n, true_rate, read_rate))
    prec = tp / max(1, tp + fp)
    rec = tp / max(1, tp + fn)
    err = [abs(r - t) for _, t, r in rates]
    res = {'model': a.model, 'post': a.post or 'default', 'wells': len(names), 'tp': tp, 'fp': fp, 'fn': fn,
           'precision': prec, 'recall': rec, 'rate_abs_error_mean': float(np.mean(err)),
           'rate_abs_error_max': float(np.max(err)), 'rates': rates}
    print('%s post %s: %d wells, TP %d FP %d FN %d, precision %.3f recall %.3f; infection rate |error| mean %.3f max %.3f'
          % (a.model, res['post'], len(names), tp, fp, fn, prec, rec, res['rate_abs_error_mean'], res['rate_abs_error_max']))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
