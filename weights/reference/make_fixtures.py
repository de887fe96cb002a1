"""Write the parity fixtures tests/fixtures/{tiny,paper}_<variant>.fpt and tiny_fpf_add_sparse.fpt.

    /usr/bin/python3 weights/reference/make_fixtures.py            # from the repo root (make fixtures)
    options: --out DIR   --only NAME[,NAME]   --kernel-gain G --output-gain G (default: the contract's 6 and 3)
             --full-masks (store final.masks in full even when it has more than 16384 elements)

Each fixture holds the meta records, the input images and every stage of CONTRACT.md section 6, computed by
fpf_ref.run_inference with seeded weights (seeded.py). Every record follows the contract's size rule (more than
16384 elements -> sampled); the input sizes are chosen so that the inputs stay full. See NOTES.md.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fpt  # noqa: E402
import fpf_ref  # noqa: E402
import seeded  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, 'tests', 'fixtures')

CELL_SEED, NUCLEUS_SEED = 1, 7
# h*w <= 16384 so that the inputs are stored in full by the contract's own size rule; neither is a multiple of 64
SIZES = {'tiny': (110, 140), 'paper': (100, 150)}      # padded to 128x192 and 128x192
IMAGE_SEED = {'tiny': 11, 'paper': 12}
SPARSE_SIZE, SPARSE_IMAGE_SEED = (60, 64), 13          # padded to 64x64


def synth_pair(h, w, seed, n_cells=None, sparse=False):
    """Deterministic synthetic uint8 (cell, nucleus) images: dark noisy background, bright elliptic nuclei,
    larger dimmer irregular cells around them. sparse=True: almost empty (one faint small blob)."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cell = 18.0 + 4.0 * rs.randn(h, w)
    nuc = 12.0 + 4.0 * rs.randn(h, w)
    if n_cells is None:
        n_cells = 1 if sparse else max(3, int(h * w / 2500))
    for _ in range(n_cells):
        cy, cx = rs.uniform(0.1 * h, 0.9 * h), rs.uniform(0.1 * w, 0.9 * w)
        a, b = rs.uniform(5, 11), rs.uniform(4, 9)
        th = rs.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dy * np.cos(th) + dx * np.sin(th)) / a
        v = (-dy * np.sin(th) + dx * np.cos(th)) / b
        r2 = u * u + v * v
        amp = rs.uniform(150, 210) * (0.25 if sparse else 1.0)
        nuc += amp * np.clip(1.3 - r2, 0, 1) ** 0.5 * (r2 < 1.3)
        R0 = rs.uniform(14, 26) * (0.5 if sparse else 1.0)
        ang = np.arctan2(dy, dx)
        rad = R0 * (1 + 0.18 * np.sin(2 * ang + rs.uniform(0, 6.3)) + 0.12 * np.sin(3 * ang + rs.uniform(0, 6.3)))
        d = np.sqrt(dy * dy + dx * dx)
        inside = np.clip((rad - d) / 3.0, 0, 1)
        cell += rs.uniform(60, 110) * (0.25 if sparse else 1.0) * inside * (1 + 0.15 * np.sin(xx / 3.0 + yy / 5.0))
        nuc += 8 * inside
    noise = 2.0 if sparse else 6.0
    cell += noise * rs.randn(h, w)
    nuc += noise * rs.randn(h, w)
    return (np.clip(np.rint(cell), 0, 255).astype(np.uint8),
            np.clip(np.rint(nuc), 0, 255).astype(np.uint8))


def seeds_for(variant):
    return (NUCLEUS_SEED if variant == 'cores' else CELL_SEED), NUCLEUS_SEED


STAGE_ORDER_HEAD = ['mold', 'mold_nucleus', 'anchors']
TOWER_KEYS = ['C2', 'C3', 'C4', 'C5', 'P2', 'P3', 'P4', 'P5', 'P6']
STAGE_ORDER_TAIL = ['F2', 'F3', 'F4', 'F5', 'F6', 'rpn_class', 'rpn_bbox', 'rpn_rois', 'roi_feat',
                    'mrcnn_class', 'mrcnn_bbox', 'detections', 'mask_feat', 'mrcnn_mask',
                    'final.boxes', 'final.class_ids', 'final.scores', 'final.masks']


def build_fixture(cfg, variant, cell, nucleus, gains=None, full_masks=False):
    seed, nseed = seeds_for(variant)
    kw = {} if gains is None else dict(kernel_gain=gains[0], output_gain=gains[1])
    raw = seeded.make_raw_weights(cfg, variant, seed, nseed, **kw)
    model = fpf_ref.FPFModel(cfg, variant).load_raw(raw)
    out = fpf_ref.run_inference(model, cell=cell, nucleus=nucleus)
    h, w = cell.shape
    W = fpt.Writer()
    W.add('meta.config', np.frombuffer(cfg.encode('ascii'), np.uint8))
    W.add('meta.variant', np.frombuffer(variant.encode('ascii'), np.uint8))
    W.add('meta.seed', np.array([seed], np.int32))
    W.add('meta.nucleus_seed', np.array([nseed], np.int32))
    W.add('meta.hw', np.array([h, w], np.int32))
    if variant != 'cores':
        W.add('input.cell', cell)
    if variant != 'without_nucleus':
        W.add('input.nucleus', nucleus)
    names = [n for n in STAGE_ORDER_HEAD if n in out]
    for t in ('cell', 'nucleus'):
        names += ['%s.%s' % (t, k) for k in TOWER_KEYS if '%s.%s' % (t, k) in out]
    names += STAGE_ORDER_TAIL
    for n in names:
        W.add(n, out[n], full=(n == 'final.masks' or n.startswith('input.')))
    return W, out


def check_roundtrip(path, out):
    recs = fpt.read(path)
    for name, r in recs.items():
        if name.startswith('meta.'):
            continue
        if name.startswith('input.'):
            assert r.kind == 0, name
            continue
        a = np.asarray(out[name]).ravel()
        got = a[r.indices()] if r.kind == 1 else a
        assert np.array_equal(got.astype(r.dtype), r.data, equal_nan=True), name
        assert tuple(np.asarray(out[name]).shape) == r.dims, name
    return recs


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=OUT_DIR)
    ap.add_argument('--only', default='')
    ap.add_argument('--kernel-gain', type=float, default=None)
    ap.add_argument('--output-gain', type=float, default=None)
    ap.add_argument('--full-masks', action='store_true')
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    gains = None
    if args.kernel_gain is not None or args.output_gain is not None:
        gains = (args.kernel_gain if args.kernel_gain is not None else seeded.KERNEL_GAIN,
                 args.output_gain if args.output_gain is not None else seeded.OUTPUT_GAIN)
        print('NOTE: non-contract weight gains %s' % (gains,))
    os.makedirs(args.out, exist_ok=True)
    jobs = []
    for cfg in ('tiny', 'paper'):
        cell, nuc = synth_pair(SIZES[cfg][0], SIZES[cfg][1], IMAGE_SEED[cfg])
        for v in seeded.VARIANTS:
            jobs.append(('%s_%s' % (cfg, v), cfg, v, cell, nuc))
    sc, sn = synth_pair(SPARSE_SIZE[0], SPARSE_SIZE[1], SPARSE_IMAGE_SEED, sparse=True)
    jobs.append(('tiny_fpf_add_sparse', 'tiny', 'fpf_add', sc, sn))
    only = set(x for x in args.only.split(',') if x)
    total = 0
    t00 = time.time()
    print('%-26s %9s %6s %6s %5s %5s %6s  %s' % ('fixture', 'bytes', 'props', 'kept', 'N0', 'N', 'sec', 'notes'))
    for name, cfg, v, cell, nuc in jobs:
        if only and name not in only:
            continue
        t0 = time.time()
        W, out = build_fixture(cfg, v, cell, nuc, gains, args.full_masks)
        path = os.path.join(args.out, name + '.fpt')
        size = W.save(path)
        check_roundtrip(path, out)
        total += size
        info = out['info']
        notes = []
        nonfinite = [k for k, a in out.items() if k not in ('info',) and isinstance(a, np.ndarray)
                     and a.dtype.kind == 'f' and not np.all(np.isfinite(a))]
        if nonfinite:
            notes.append('NON-FINITE in ' + ','.join(nonfinite))
        sat = int(np.sum(out['rpn_class'][:, 1] == np.float32(1.0)))
        if sat:
            notes.append('%d rpn scores == 1.0f' % sat)
        if info['N'] in (0, fpf_ref.DETECTION_MAX_INSTANCES):
            notes.append('N=%d' % info['N'])
        print('%-26s %9d %6d %6d %5d %5d %6.1f  %s' % (name, size, info['n_proposals'], info['n_kept'], info['N0'],
                                                       info['N'], time.time() - t0, '; '.join(notes)))
        sys.stdout.flush()
    print('total %d bytes, %.1f s' % (total, time.time() - t00))


if __name__ == '__main__':
    main()
