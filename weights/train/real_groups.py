#!/usr/bin/python3
"""Split a measure_real.py result by image type: images whose size occurs in the training folder against
those whose size does not (issue #12: the DSB stage-1 test adds acquisition types the training folder lacks).
Reads the label images measure_real.py leaves behind (WORK/gt, WORK/dt); a TP is a ground-truth nucleus
matched one-to-one at IoU > 0.5 (unique at that threshold, so no assignment step is needed).

    /usr/bin/python3 weights/train/real_groups.py build/real_eval/best_dsb2018_test_fluo
    /usr/bin/python3 weights/train/real_groups.py WORK --train-dir ../shared/data/dsb2018_train_fluo

Needs numpy and PIL (python3-numpy, python3-pil). Reports only; chooses nothing.
"""
import argparse
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'dsb2018_train_fluo')


def tp_count(g, t):
    m = (g > 0) | (t > 0)
    G, T = int(g.max()), int(t.max())
    cnt = np.bincount(g[m] * (T + 1) + t[m], minlength=(G + 1) * (T + 1)).reshape(G + 1, T + 1)
    inter = cnt[1:, 1:]
    union = cnt.sum(1)[1:, None] + cnt.sum(0)[None, 1:] - inter
    return int((inter > 0.5 * np.maximum(union, 1)).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('work', help="measure_real.py's work folder (holding gt/ and dt/)")
    ap.add_argument('--train-dir', default=TRAIN)
    a = ap.parse_args()
    sizes = {Image.open(os.path.join(a.train_dir, f)).size for f in os.listdir(a.train_dir) if f.endswith('.png')}
    acc = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
    for f in sorted(os.listdir(os.path.join(a.work, 'gt'))):
        g = np.array(Image.open(os.path.join(a.work, 'gt', f))).astype(np.int64)
        t = np.array(Image.open(os.path.join(a.work, 'dt', f))).astype(np.int64)
        ng, nd = len(np.unique(g)) - 1, len(np.unique(t)) - 1
        tp = tp_count(g, t)
        r = acc[(g.shape[1], g.shape[0]) in sizes]
        r[0] += tp; r[1] += nd - tp; r[2] += ng - tp; r[3] += 1
    for seen in (True, False):
        tp, fp, fn, n = acc[seen]
        if n:
            print('%-24s %2d images, %4d nuclei: accuracy@0.5 %.3f, recall %.3f, precision %.3f (TP %d FP %d FN %d)' % (
                'sizes in training' if seen else 'sizes not in training', n, tp + fn, tp / max(tp + fp + fn, 1),
                tp / max(tp + fn, 1), tp / max(tp + fp, 1), tp, fp, fn))


if __name__ == '__main__':
    main()
