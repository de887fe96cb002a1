#!/usr/bin/python3
"""Shapes and MAC counts of every stage at the paper configuration, for docs/ARCHITECTURE.md §13.

    /usr/bin/python3 docs/stage_macs.py [H W]        (default 1024 1280; no packages needed)

A MAC is one multiply-accumulate. Every conv and dense layer costs Ho·Wo·kh·kw·cin·cout (the
bias adds and activations are not counted). The heads are counted as the Keras graph runs them:
the box head on all 500 proposals, the mask head on all 200 detection slots. The totals agree
with `build/bench/bench_fpf --config paper --variant V --macs-only` (bench/bench_fpf.c).
"""
import sys

H, W = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (1024, 1280)
G = 1e9
BLOCKS, F1, F3 = (2, 2, 4, 2), (32, 64, 128, 256), (128, 256, 512, 1024)
FPN, RPN, FC, MASK, POOL, MPOOL, ROIS, DETS = 256, 512, 1024, 256, 7, 14, 500, 200


def tower(cin):
    """[(stage, shape, MACs)] of one backbone + FPN."""
    rows = [('conv1 7×7/2 + BN + ReLU', (H // 2, W // 2, 64), H // 2 * W // 2 * 49 * cin * 64),
            ('max-pool 3×3/2 → C1', (H // 4, W // 4, 64), 0)]
    cprev = 64
    for s in range(4):
        h, w = H >> (s + 2), W >> (s + 2)
        m = 0
        for b in range(BLOCKS[s]):
            cin_b = cprev if b == 0 else F3[s]
            m += h * w * (cin_b * F1[s] + 9 * F1[s] * F1[s] + F1[s] * F3[s])
            if b == 0:
                m += h * w * cin_b * F3[s]
        rows.append(('res%d (%d blocks) → C%d' % (s + 2, BLOCKS[s], s + 2), (h, w, F3[s]), m))
        cprev = F3[s]
    for s in (3, 2, 1, 0):
        h, w = H >> (s + 2), W >> (s + 2)
        rows.append(('fpn_c%dp%d 1×1 (+ upsampled)' % (s + 2, s + 2), (h, w, FPN), h * w * F3[s] * FPN))
    for s in (0, 1, 2, 3):
        h, w = H >> (s + 2), W >> (s + 2)
        rows.append(('fpn_p%d 3×3 → P%d' % (s + 2, s + 2), (h, w, FPN), h * w * 9 * FPN * FPN))
    rows.append(('P6 = P5[::2, ::2]', (H >> 6, W >> 6, FPN), 0))
    return rows


def heads(D):
    rows = []
    A = 0
    for l in range(5):
        h, w = H >> (l + 2), W >> (l + 2)
        A += 3 * h * w
        rows.append(('RPN on F%d (3×3 + 1×1 + 1×1)' % (l + 2), (h * w * 3, '2 + 4'),
                     h * w * (9 * D * RPN + RPN * 6 + RPN * 12)))
    rows.append(('anchors', (A, 4), 0))
    rows.append(('proposals (top 6000, NMS 0.7)', (ROIS, 4), 0))
    rows.append(('RoIAlign 7×7', (ROIS, POOL, POOL, D), 0))
    per = POOL * POOL * D * FC + FC * FC + FC * 2 + FC * 8
    rows.append(('box head ×%d' % ROIS, (ROIS, '2 + 2·4'), ROIS * per))
    rows.append(('detection layer', (DETS, 6), 0))
    rows.append(('RoIAlign 14×14', (DETS, MPOOL, MPOOL, D), 0))
    per = MPOOL * MPOOL * 9 * (D * MASK + 3 * MASK * MASK) + MPOOL * MPOOL * 4 * MASK * MASK + 4 * MPOOL * MPOOL * MASK * 2
    rows.append(('mask head ×%d' % DETS, (DETS, 2 * MPOOL, 2 * MPOOL, 2), DETS * per))
    return rows, per


def show(name, towers, D):
    print('## %s at %d×%d (D = %d)' % (name, H, W, D))
    total = 0
    for label, cin in towers:
        rows = tower(cin)
        t = sum(r[2] for r in rows)
        total += t
        print('%s tower: %.2f G' % (label, t / G))
        for r in rows:
            print('  %-34s %-22s %9.3f G' % (r[0], 'x'.join(map(str, r[1])), r[2] / G))
    rows, per_mask = heads(D)
    for r in rows:
        total += r[2]
        print('  %-34s %-22s %9.3f G' % (r[0], 'x'.join(map(str, r[1])), r[2] / G))
    print('  mask head per detection %.1f M; total %.2f G MACs\n' % (per_mask / 1e6, total / G))


show('cores / without_nucleus', [('single', 1)], 256)
show('with_nucleus', [('single (2-channel conv1)', 2)], 256)
show('FPF-add', [('nucleus', 1), ('cell', 1)], 256)
show('FPF-concat', [('nucleus', 1), ('cell', 1)], 512)
