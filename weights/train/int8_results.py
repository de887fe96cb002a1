#!/usr/bin/python3
"""int8 versions of the shipped models and their fp32-vs-int8 table (issue #11).

    /usr/bin/python3 weights/train/int8_results.py --quantize        # weights/models/NAME_int8.fpf, the default options
    /usr/bin/python3 weights/train/int8_results.py --eval --real     # scores into build/eval/int8.json
    /usr/bin/python3 weights/train/int8_results.py --table build/eval/int8.json

--quantize calibrates each fp32 model in weights/models with build/fpf_quantize (C) and the options of
QUANTIZE below (the shipped default, chosen by the measurements in weights/RESULTS.md) on the first
--calib-count scenes of the synthetic TRAINING set (build/fpf_synth --set train, seeds 100000..; never a
test scene).

--eval scores fp32 and int8 with the C kit (fpf_segment + fpf_eval, as results.py does) on the synthetic
test set and the clustered subset (--real adds the nucleus model on ../shared/data/dsb2018_test_fluo;
never used for tuning) and counts the share of fp32 detections that int8 reproduces, two ways:
  labels     an fp32 instance of the label image is matched by an int8 instance of the label image with
             IoU >= 0.9. The label image gives each pixel to one instance, so when two touching
             instances trade shared pixels, both can count as misses;
  instances  an fp32 detection is matched by an int8 detection whose full-size instance mask
             (fpf_instance_paste, before the label image) has IoU >= 0.9 with it
             (build/fpf_quantize --compare).
--try KEY='ARGS' (repeatable) also quantizes each model with those fpf_quantize options into
build/int8/NAME_KEY.fpf and scores it beside the shipped int8 file (key "int8"), to compare options.
Each score is cached in build/eval/int8/ under the SHA-1 of the model file, so rerunning --eval after
new fp32 models (and --quantize) rescores only what changed; results merge into --out.
--floor also scores two fp32 files made from each model (build/int8/NAME_bf16.fpf, NAME_w8.fpf): every
kernel rounded to bfloat16 (8 significant bits), and the int8 model's weights alone (each kernel that
int8 quantizes, quantized per output channel as fpf_quantize does and stored back as float; inputs stay
float). They show how much a much smaller change than int8 already moves the scores.
--models a,b limits any step to some models.
"""
import argparse
import hashlib
import json
import os
import shlex
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

# The shipped int8 models: fpf_quantize's options (weights/RESULTS.md, "int8 models", says why).
QUANTIZE = []
SETS = {'test': 'synthetic test (18)', 'clustered': 'clustered (78 crops)', 'real': 'real DSB2018 fluo test'}
variant_of = E.model_variant


def sha1(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def items(model, d, names):
    """fpf_quantize items of one model: the nucleus image (cores), the cell image, or CELL,NUCLEUS."""
    v = variant_of(model)
    if v == 'cores':
        return [os.path.join(d, x + '_nucleus.tif') for x in names]
    if v == 'without_nucleus':
        return [os.path.join(d, x + '_cell.tif') for x in names]
    return ['%s,%s' % (os.path.join(d, x + '_cell.tif'), os.path.join(d, x + '_nucleus.tif')) for x in names]


def set_names(d):
    return sorted(f[:-len('_cell.tif')] for f in os.listdir(d) if f.endswith('_cell.tif'))


def calib_items(model, n):
    d = os.path.join(BUILD, 'eval_data', 'train_calib')
    if not os.path.exists(os.path.join(d, 'manifest.txt')) or len(set_names(d)) < n:
        subprocess.check_call([os.path.join(BIN, 'fpf_synth'), '--set', 'train', '--count', str(n), '--out', d, '--quiet'])
    return items(model, d, set_names(d)[:n])


def quantize(model, out, n, args):
    cmd = [os.path.join(BIN, 'fpf_quantize'), '--model', model, '--out', out, '--threads', '2'] + list(args)
    subprocess.check_call(cmd + ['--calib'] + calib_items(model, n))


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


def reproduced_labels(work32, work8, kind):
    """fp32 instances of the label images matched by an int8 instance at IoU >= 0.9."""
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


def reproduced_instances(p32, p8, d):
    """fp32 detections matched by an int8 detection, full-size instance masks (fpf_quantize --compare)."""
    out = subprocess.check_output([os.path.join(BIN, 'fpf_quantize'), '--model', p32, '--compare', p8, '--threads', '2',
                                   '--calib'] + items(p32, d, set_names(d))).decode()
    last = out.strip().splitlines()[-1].split()
    return int(last[1]), int(last[3])


def cached(work, stamp, fn):
    """fn() once per stamp: the result is kept in work/result.json."""
    p = os.path.join(work, 'result.json')
    if os.path.exists(p):
        with open(p) as f:
            r = json.load(f)
        if r.get('stamp') == stamp:
            return r['value']
    v = fn()
    os.makedirs(work, exist_ok=True)
    with open(p, 'w') as f:
        json.dump({'stamp': stamp, 'value': v}, f)
    return v


def score(name, key, path, s, d, gt):
    work = os.path.join(BUILD, 'eval', 'int8', '%s_%s_%s' % (name, key, s))
    stamp = sha1(path)

    def run():
        e = E.run(path, d, gt, work, threads=2, extra=('--conv3x3', 'direct'))  # the sums calibration saw
        return {t: e[t] for t in ('bbox', 'segm')}
    return cached(work + '.score', stamp, run), work


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


FP32_LAYERS = ('rpn_class_raw', 'rpn_bbox_pred', 'mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_mask')


def perturbed(src, dst, mode):
    """src with every kernel rounded to bfloat16 ('bf16') or its int8 weights as floats ('w8')."""
    sys.path.insert(0, os.path.join(ROOT, 'weights'))
    import fpf_write
    b = bytearray(open(src, 'rb').read())
    for t in range(struct.unpack_from('<I', b, 12)[0]):
        e = 320 + 128 * t
        name = bytes(b[e:e + 80]).split(b'\0', 1)[0].decode()
        ndim = struct.unpack_from('<I', b, e + 84)[0]
        dims = struct.unpack_from('<4I', b, e + 88)[:ndim]
        off, nbytes = struct.unpack_from('<QQ', b, e + 104)
        if not name.endswith('/kernel'):
            continue
        w = np.frombuffer(bytes(b[off:off + nbytes]), '<f4').astype(np.float32)
        if mode == 'bf16':  # round half to even to the top 16 bits
            u = w.view(np.uint32).astype(np.uint64)
            w = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
        else:  # as fpf_quantize: the stem (cin < 4) and the output layers stay float
            if name[:-7] in FP32_LAYERS or dims[-2] % 4 != 0 or int(np.prod(dims[:-1])) > 32768:
                continue
            W = w.reshape(-1, dims[-1])
            sc = (np.abs(W).max(0) / np.float32(127)).astype(np.float32)
            sc[sc == 0] = 1
            w = (np.clip(np.round(W / sc), -127, 127).astype(np.float32) * sc).astype(np.float32).ravel()
        b[off:off + nbytes] = w.astype('<f4').tobytes()
    struct.pack_into('<Q', b, 24, 0)
    struct.pack_into('<Q', b, 24, fpf_write.checksum(bytes(b)))
    with open(dst, 'wb') as f:
        f.write(b)


def do_eval(out, tries, names, real, floor):
    res = {}
    if os.path.exists(out):
        with open(out) as f:
            res = json.load(f)
    for name in names:
        p32 = os.path.join(MODEL_DIR, name + '.fpf')
        if not os.path.exists(p32):
            continue
        kind = 'nuclei' if variant_of(p32) == 'cores' else 'cells'
        variants = {'fp32': p32, 'int8': os.path.join(MODEL_DIR, name + '_int8.fpf')}
        for key, args in tries:
            q = os.path.join(BUILD, 'int8', '%s_%s.fpf' % (name, key))
            stamp = os.path.join(BUILD, 'int8', '%s_%s.stamp' % (name, key))
            want = '%s %s %d' % (sha1(p32), args, ARGS.calib_count)
            if not os.path.exists(q) or not os.path.exists(stamp) or open(stamp).read() != want:
                os.makedirs(os.path.dirname(q), exist_ok=True)
                quantize(p32, q, ARGS.calib_count, shlex.split(args))
                with open(stamp, 'w') as f:
                    f.write(want)
            variants[key] = q
        for mode in (('bf16', 'w8') if floor else ()):
            q = os.path.join(BUILD, 'int8', '%s_%s.fpf' % (name, mode))
            os.makedirs(os.path.dirname(q), exist_ok=True)
            perturbed(p32, q, mode)
            variants[mode] = q
        r = res.setdefault(name, {})
        sets = [('test', E.ensure_set('test'), None), ('clustered', E.ensure_set('clustered'), None)]
        if real and kind == 'nuclei' and real_set():
            sets.append(('real', real_set(), 'mask'))
        for s, d, gt in sets:
            works = {}
            for k, v in variants.items():
                e, works[k] = score(name, k, v, s, d, gt)
                rk = r.setdefault(k, {})
                rk['size'] = os.path.getsize(v)
                rk[s] = dict(e)
                if k != 'fp32':
                    stamp = sha1(p32) + ' ' + sha1(v)
                    rk[s]['reproduced'] = cached(works[k] + '.labels', stamp,
                                                 lambda: reproduced_labels(works['fp32'], works[k], kind))
                    rk[s]['reproduced_instances'] = cached(works[k] + '.instances', stamp,
                                                           lambda: reproduced_instances(p32, v, d))
                print('%-20s %-12s %-9s segm mean %.4f AP50 %.4f %s %s' % (
                    name, k, s, e['segm']['mean'], e['segm']['0.50'], rk[s].get('reproduced', ''),
                    rk[s].get('reproduced_instances', '')), flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(res, f, indent=1)


def pct(hit_total):
    h, t = hit_total
    return '%d / %d = %.1f %%' % (h, t, 100.0 * h / max(t, 1))


def table(res, key='int8'):
    L = ['| model | fp32 / int8 bytes | set | fp32 segm mean AP | int8 segm mean AP | Δ | fp32 AP50 | int8 AP50 | '
         'reproduced: instances (mask IoU ≥ 0.9) | reproduced: label images |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|']
    for name in MODELS:
        if name not in res or key not in res[name]:
            continue
        a, b = res[name]['fp32'], res[name][key]
        for s in SETS:
            if s not in b:
                continue
            L.append('| %s | %s | %s | %.3f | %.3f | %+.3f | %.3f | %.3f | %s | %s |' % (
                LABEL[name], '%d / %d (%.0f %%)' % (a['size'], b['size'], 100.0 * b['size'] / a['size']) if s == 'test' else '',
                SETS[s], a[s]['segm']['mean'], b[s]['segm']['mean'], b[s]['segm']['mean'] - a[s]['segm']['mean'],
                a[s]['segm']['0.50'], b[s]['segm']['0.50'], pct(b[s]['reproduced_instances']), pct(b[s]['reproduced'])))
    return '\n'.join(L)


KEY_NAMES = {'int8': 'shipped (mse)', 'minmax': 'min/max', 'bc': 'min/max, bias corrected', 'mse_bc': 'mse, bias corrected',
             'w8': 'int8 weights only (float file)', 'bf16': 'bf16 weights (float file)'}


def compare(res, keys):
    """Options side by side: Δ mean segm AP, detections reproduced (instances / label images)."""
    L = ['| model | set | ' + ' | '.join(KEY_NAMES.get(k, k) for k in keys) + ' |',
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
                (hi, ti), (hl, tl) = b['reproduced_instances'], b['reproduced']
                cells.append('%+.4f, %.1f / %.1f %%' % (b['segm']['mean'] - res[name]['fp32'][s]['segm']['mean'],
                                                       100.0 * hi / max(ti, 1), 100.0 * hl / max(tl, 1)))
            L.append('| %s | %s | %s |' % (LABEL[name], s, ' | '.join(cells)))
    return '\n'.join(L)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--quantize', action='store_true', help='weights/models/NAME_int8.fpf from NAME.fpf (QUANTIZE options)')
    ap.add_argument('--eval', action='store_true')
    ap.add_argument('--out', default=os.path.join(BUILD, 'eval', 'int8.json'))
    ap.add_argument('--real', action='store_true', help='with --eval: the nucleus model on ../shared/data/dsb2018_test_fluo too')
    ap.add_argument('--try', dest='tries', action='append', default=[], metavar="KEY='ARGS'",
                    help='with --eval: also quantize with these fpf_quantize options and score as KEY')
    ap.add_argument('--floor', action='store_true', help='with --eval: also the bf16-weight and int8-weight-only fp32 files')
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--table')
    ap.add_argument('--key', default='int8', help='the int8 column of --table')
    ap.add_argument('--compare-keys', default='', help='--table: also the options side by side (KEY,KEY,...)')
    ap.add_argument('--calib-count', type=int, default=32)
    ARGS = ap.parse_args()
    names = [m for m in ARGS.models.split(',') if m]
    if ARGS.quantize:
        for name in names:
            p32 = os.path.join(MODEL_DIR, name + '.fpf')
            if os.path.exists(p32):
                quantize(p32, os.path.join(MODEL_DIR, name + '_int8.fpf'), ARGS.calib_count, QUANTIZE)
    if ARGS.eval:
        do_eval(ARGS.out, [t.split('=', 1) for t in ARGS.tries], names, ARGS.real, ARGS.floor)
    if ARGS.table:
        with open(ARGS.table) as f:
            r = json.load(f)
        print(table(r, ARGS.key))
        if ARGS.compare_keys:
            print()
            print(compare(r, ARGS.compare_keys.split(',')))
