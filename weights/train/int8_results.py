#!/usr/bin/python3
"""int8 versions of the shipped models and their fp32-vs-int8 table (issue #11).

    /usr/bin/python3 weights/train/int8_results.py --quantize            # weights/models/NAME_int8.fpf
    /usr/bin/python3 weights/train/int8_results.py --eval --out build/eval/int8.json [--methods percentile,minmax]
    /usr/bin/python3 weights/train/int8_results.py --table build/eval/int8.json

--quantize calibrates each shipped fp32 model with build/fpf_quantize (C, the default method) on the
first --calib-count scenes of the synthetic TRAINING set (build/fpf_synth --set train, seeds 100000..;
never a test scene). --eval scores fp32 and int8 with the C kit (fpf_segment + fpf_eval, as
results.py does) on the synthetic test set and the clustered subset, and counts the share of fp32
detections that int8 reproduces: an fp32 instance of the label image is reproduced when an int8
instance overlaps it with mask IoU >= 0.9. --methods also quantizes with other methods into
build/int8/ to compare them (the default method is the one that measures best).
"""
import argparse
import json
import os
import subprocess
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.join(ROOT, 'build')
MODEL_DIR = os.path.join(ROOT, 'weights', 'models')
sys.path.insert(0, HERE)
import evaluate as E  # noqa: E402
from results import MODELS, LABEL  # noqa: E402

# INT8_BIN=DIR runs copies of the binaries (fpf_segment, fpf_eval, fpf_synth, fpf_quantize) from DIR,
# so that rebuilding build/ during a long evaluation does not disturb it.
BIN = os.environ.get('INT8_BIN', BUILD)
E.BUILD = BIN

VARIANTS = ['cores', 'without_nucleus', 'with_nucleus', 'fpf_add', 'fpf_concat']


def variant_of(path):  # word 0 of the config block; works for int8 files too
    with open(path, 'rb') as f:
        b = f.read(68)
    return VARIANTS[struct.unpack_from('<I', b, 64)[0]]


E.model_variant = variant_of


def calib_items(name, n):
    d = os.path.join(BUILD, 'eval_data', 'train_calib')
    if not os.path.exists(os.path.join(d, 'manifest.txt')):
        subprocess.check_call([os.path.join(BIN, 'fpf_synth'), '--set', 'train', '--count', str(n), '--out', d, '--quiet'])
    names = sorted(f[:-len('_cell.tif')] for f in os.listdir(d) if f.endswith('_cell.tif'))[:n]
    v = variant_of(os.path.join(MODEL_DIR, name + '.fpf'))
    if v == 'cores':
        return [os.path.join(d, x + '_nucleus.tif') for x in names]
    if v == 'without_nucleus':
        return [os.path.join(d, x + '_cell.tif') for x in names]
    return ['%s,%s' % (os.path.join(d, x + '_cell.tif'), os.path.join(d, x + '_nucleus.tif')) for x in names]


def quantize(name, out, n, method=None):
    cmd = [os.path.join(BIN, 'fpf_quantize'), '--model', os.path.join(MODEL_DIR, name + '.fpf'), '--out', out,
           '--threads', '2', '--calib'] + calib_items(name, n)
    if method:
        cmd += ['--method', method]
    subprocess.check_call(cmd)


def read_labels(path):
    """fpf_segment's label TIFF (fpf_image.h writer: little-endian, uncompressed, one strip)."""
    with open(path, 'rb') as f:
        b = f.read()
    ifd = struct.unpack_from('<I', b, 4)[0]
    tags = {}
    for i in range(struct.unpack_from('<H', b, ifd)[0]):
        tag, typ, _cnt, val = struct.unpack_from('<HHII', b, ifd + 2 + 12 * i)
        tags[tag] = val & 0xFFFF if typ == 3 else val
    w, h, bits, off = tags[256], tags[257], tags[258], tags[273]
    assert tags.get(259, 1) == 1, path
    return np.frombuffer(b, dtype='<u%d' % (bits // 8), count=w * h, offset=off).reshape(h, w)


def reproduced(work32, work8, kind):
    """fp32 instances (label images) matched by an int8 instance at mask IoU >= 0.9."""
    seg32, seg8 = os.path.join(work32, 'seg'), os.path.join(work8, 'seg')
    hit = total = 0
    for n in sorted(os.listdir(seg32)):
        a = read_labels(os.path.join(seg32, n, kind + '.tif')).astype(np.int64)
        b = read_labels(os.path.join(seg8, n, kind + '.tif')).astype(np.int64)
        na, nb = int(a.max()), int(b.max())
        if na == 0:
            continue
        inter = np.bincount((a * (nb + 1) + b).ravel(), minlength=(na + 1) * (nb + 1)).reshape(na + 1, nb + 1)
        area_a, area_b = inter.sum(1), inter.sum(0)
        for i in range(1, na + 1):
            if area_a[i] == 0:
                continue
            total += 1
            iou = inter[i, 1:] / np.maximum(area_a[i] + area_b[1:] - inter[i, 1:], 1)
            hit += int(iou.size > 0 and iou.max() >= 0.9)
    return hit, total


def do_eval(out, methods):
    res = {}
    for name in MODELS:
        p32 = os.path.join(MODEL_DIR, name + '.fpf')
        if not os.path.exists(p32):
            continue
        kind = 'nuclei' if variant_of(p32) == 'cores' else 'cells'
        variants = {'fp32': p32, 'int8': os.path.join(MODEL_DIR, name + '_int8.fpf')}
        for m in methods:
            q = os.path.join(BUILD, 'int8', '%s_%s.fpf' % (name, m))
            if not os.path.exists(q):
                os.makedirs(os.path.dirname(q), exist_ok=True)
                quantize(name, q, ARGS.calib_count, m)
            variants['int8_' + m] = q
        r = {k: {'size': os.path.getsize(v)} for k, v in variants.items()}
        for s in ('test', 'clustered'):
            works = {}
            for k, v in variants.items():
                works[k] = os.path.join(BUILD, 'eval', 'int8', '%s_%s_%s' % (name, k, s))
                e = E.run(v, E.ensure_set(s), None, works[k], threads=2)
                r[k][s] = {t: e[t] for t in ('bbox', 'segm')}
                if k != 'fp32':
                    r[k][s]['reproduced'] = reproduced(works['fp32'], works[k], kind)
                print('%-20s %-11s %-9s segm mean %.4f AP50 %.4f %s' % (name, k, s, e['segm']['mean'], e['segm']['0.50'],
                      r[k][s].get('reproduced', '')), flush=True)
        res[name] = r
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(res, f, indent=1)


def real_set():
    """The nucleus model's real test set: ../shared/data/dsb2018_test_fluo (read in place, symlinks)."""
    src = os.path.join(ROOT, '..', 'shared', 'data', 'dsb2018_test_fluo')
    if not os.path.isdir(src):
        return None
    d = os.path.join(BUILD, 'eval_data', 'dsb2018_test_fluo')
    os.makedirs(d, exist_ok=True)
    for f in sorted(os.listdir(src)):
        if f.endswith('.png'):
            n = f[:-4]
            for suffix, target in (('_cell.tif', f), ('_nucleus.tif', f), ('_mask.tif', n + '_labels.tif')):
                link = os.path.join(d, n + suffix)
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(src, target)), link)
    return d


def do_real(out, methods):
    with open(out) as f:
        res = json.load(f)
    d = real_set()
    if d is None or 'cores' not in res:
        print('no ../shared/data/dsb2018_test_fluo or no cores results; skipped')
        return
    variants = {'fp32': os.path.join(MODEL_DIR, 'cores.fpf'), 'int8': os.path.join(MODEL_DIR, 'cores_int8.fpf')}
    for m in methods:
        variants['int8_' + m] = os.path.join(BUILD, 'int8', 'cores_%s.fpf' % m)
    works = {}
    for k, v in variants.items():
        works[k] = os.path.join(BUILD, 'eval', 'int8', 'cores_%s_real' % k)
        e = E.run(v, d, 'mask', works[k], threads=2)
        res['cores'][k]['real'] = {t: e[t] for t in ('bbox', 'segm')}
        if k != 'fp32':
            res['cores'][k]['real']['reproduced'] = reproduced(works['fp32'], works[k], 'nuclei')
        print('%-20s %-11s %-9s segm mean %.4f AP50 %.4f %s' % ('cores', k, 'real', e['segm']['mean'], e['segm']['0.50'],
              res['cores'][k]['real'].get('reproduced', '')), flush=True)
    with open(out, 'w') as f:
        json.dump(res, f, indent=1)


def table(res, key='int8'):
    L = ['| model | fp32 / int8 bytes | set | fp32 segm mean AP | int8 segm mean AP | Δ | fp32 AP50 | int8 AP50 | '
         'fp32 detections reproduced (mask IoU ≥ 0.9) |', '|---|---:|---|---:|---:|---:|---:|---:|---:|']
    for name in MODELS:
        if name not in res or key not in res[name]:
            continue
        a, b = res[name]['fp32'], res[name][key]
        for s in ('test', 'clustered', 'real'):
            if s not in b:
                continue
            h, t = b[s]['reproduced']
            L.append('| %s | %s | %s | %.3f | %.3f | %+.3f | %.3f | %.3f | %d / %d = %.1f %% |' % (
                LABEL[name], '%d / %d (%.0f %%)' % (a['size'], b['size'], 100.0 * b['size'] / a['size']) if s == 'test' else '',
                {'test': 'synthetic test (18)', 'clustered': 'clustered (78 crops)', 'real': 'real DSB2018 fluo test'}[s],
                a[s]['segm']['mean'], b[s]['segm']['mean'], b[s]['segm']['mean'] - a[s]['segm']['mean'],
                a[s]['segm']['0.50'], b[s]['segm']['0.50'], h, t, 100.0 * h / max(t, 1)))
    return '\n'.join(L)


def compare(res, keys=('int8_minmax', 'int8')):
    """Calibration methods side by side: Δ mean segm AP and detections reproduced."""
    names = {'int8_minmax': 'min/max', 'int8': 'percentile 99.99'}
    L = ['| model | set | ' + ' | '.join('%s: Δ segm mean AP, reproduced' % names.get(k, k) for k in keys) + ' |',
         '|---|---|' + '---:|' * len(keys)]
    for name in MODELS:
        if name not in res:
            continue
        for s in ('test', 'clustered'):
            cells = []
            for k in keys:
                b = res[name].get(k, {}).get(s)
                if not b:
                    cells.append('')
                    continue
                h, t = b['reproduced']
                cells.append('%+.4f, %.1f %%' % (b['segm']['mean'] - res[name]['fp32'][s]['segm']['mean'], 100.0 * h / max(t, 1)))
            L.append('| %s | %s | %s |' % (LABEL[name], s, ' | '.join(cells)))
    return '\n'.join(L)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--quantize', action='store_true')
    ap.add_argument('--eval', action='store_true')
    ap.add_argument('--out', default=os.path.join(BUILD, 'eval', 'int8.json'))
    ap.add_argument('--real', action='store_true', help='add the nucleus model on ../shared/data/dsb2018_test_fluo')
    ap.add_argument('--table')
    ap.add_argument('--key', default='int8_minmax', help='the shipped int8 models (min/max, the default method)')
    ap.add_argument('--methods', default='')
    ap.add_argument('--calib-count', type=int, default=32)
    ARGS = ap.parse_args()
    if ARGS.quantize:
        for name in MODELS:
            quantize(name, os.path.join(MODEL_DIR, name + '_int8.fpf'), ARGS.calib_count)
    if ARGS.eval:
        do_eval(ARGS.out, [m for m in ARGS.methods.split(',') if m])
    if ARGS.real:
        do_real(ARGS.out, [m for m in ARGS.methods.split(',') if m])
    if ARGS.table:
        with open(ARGS.table) as f:
            r = json.load(f)
        print(table(r, ARGS.key))
        print()
        print(compare(r))
