#!/usr/bin/python3
"""Split a measure_real.py result by image type: images whose size occurs in the training folder against
those whose size does not (issue #12: the DSB stage-1 test adds acquisition types the training folder lacks).
Reads the label images measure_real.py leaves behind (WORK/gt, WORK/dt); a TP is a ground-truth nucleus
matched one-to-one at IoU > 0.5 (unique at that threshold, so no assignment step is needed).

    /usr/bin/python3 weights/train/real_groups.py build/real_eval/best_dsb2018_test_fluo
    /usr/bin/python3 weights/train/real_groups.py WORK --train-dir ../shared/data/dsb2018_train_fluo
    /usr/bin/python3 weights/train/real_groups.py build/real/cores/val_ckpt_012500_0.8 --brightness build/real_data/val

Needs numpy and PIL (python3-numpy, python3-pil). Reports only; chooses nothing.
"""
import argparse
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'dsb2018_train_fluo')


def matches(g, t):
    """[G, T] bool: ground-truth label i+1 and detection j+1 overlap at IoU > 0.5."""
    m = (g > 0) | (t > 0)
    G, T = int(g.max()), int(t.max())
    cnt = np.bincount(g[m] * (T + 1) + t[m], minlength=(G + 1) * (T + 1)).reshape(G + 1, T + 1)
    inter = cnt[1:, 1:]
    union = cnt.sum(1)[1:, None] + cnt.sum(0)[None, 1:] - inter
    return inter > 0.5 * np.maximum(union, 1)


def tp_count(g, t):
    return int(matches(g, t).sum())


BINS = (0.2, 0.35, 0.5, 0.7, 1.0)


def brightness_recall(work, image_dir):
    """Recall at IoU 0.5 of the ground-truth nuclei by relative brightness: a nucleus's mean above the
    image's background (median of the unlabelled pixels), over the 90th percentile of that over the image's
    nuclei. Dim nuclei beside bright ones are where the real-data models lose most (issue #12)."""
    hits = []
    for f in sorted(os.listdir(os.path.join(work, 'gt'))):
        g = np.array(Image.open(os.path.join(work, 'gt', f))).astype(np.int64)
        t = np.array(Image.open(os.path.join(work, 'dt', f))).astype(np.int64)
        im = np.array(Image.open(os.path.join(image_dir, f[:-4] + '.png')).convert('L')).astype(np.float64)
        G = int(g.max())
        hit = matches(g, t).any(1)
        area = np.bincount(g.ravel(), minlength=G + 1)[1:]
        ok = area > 0
        if not ok.any():
            continue
        above = np.bincount(g.ravel(), weights=im.ravel(), minlength=G + 1)[1:][ok] / area[ok]
        above -= np.median(im[g == 0]) if (g == 0).any() else 0
        rel = above / max(float(np.percentile(above, 90)), 1e-6)
        hits += zip(rel, hit[ok])
    h = np.array(hits, dtype=np.float64).reshape(-1, 2)
    edges = (-np.inf,) + BINS + (np.inf,)
    for lo, hi in zip(edges[:-1], edges[1:]):
        k = (h[:, 0] >= lo) & (h[:, 0] < hi)
        print('relative brightness %5s..%-5s %5d nuclei: recall@0.5 %.3f' % (
            '' if lo == -np.inf else '%.2f' % lo, '' if hi == np.inf else '%.2f' % hi, k.sum(),
            h[k, 1].mean() if k.any() else float('nan')))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('work', help="measure_real.py's work folder (holding gt/ and dt/)")
    ap.add_argument('--train-dir', default=TRAIN)
    ap.add_argument('--brightness', metavar='IMAGE_DIR',
                    help='instead: recall by relative nucleus brightness, reading the images NAME.png in IMAGE_DIR')
    a = ap.parse_args()
    if a.brightness:
        return brightness_recall(a.work, a.brightness)
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
