#!/usr/bin/python3
"""Proof of weights/convert_keras.py without the authors' files (GitHub issue #5).

    /usr/bin/python3 weights/check_convert.py                 # everything (make check-convert); ~10 min on 2 cores
    options: --work DIR (default build/check_convert)  --only NAME[,NAME]  --skip-parity  --skip-refusals  --keep
             --parity-bin PATH (another build of tests/test_parity.c, e.g. one compiled with -DFPF_NO_SIMD)

1. Writer identity: weights/fpf_write.py and the C writer (build/fpf_mkmodel, examples/fpf_seeded.h) give
   byte-identical .fpf files from the same seeded raw tensors, tiny config, all five variants.
2. Parity, the seven published files at the paper configuration: for each, seeded raw tensors are written as
   a Keras 2.x weights file (weights/keras_layout.py; the forms vary: nested, flat, other prefixes, model.save's
   model_weights group, variable-length and chunked attributes); convert_keras.py converts it (variant
   auto-detected from the file); the .fpf must be byte-identical to the C writer's when the weights are the
   seeded ones; the PyTorch reference (weights/reference/fpf_ref.py) runs on the arrays read directly from the
   h5 by an independent reader and its stages are saved as a .fpt fixture; build/tests/test_parity --model
   --fixture compares the C kit's every stage with it at the parity tolerances. Two files carry "realistic"
   BN statistics (the _core tower's equal to the cell tower's, the head BNs at mean 0 / var 1) so that the
   sanity checks must pass on them and warn on the others.
3. Refusals: every malformed input must give exit status 1, exactly one line on stderr naming the reason,
   and no output file (nor a temporary one). Plus the accepted edge cases (ignored _core heads, explicit
   --variant for an ambiguous file, the backbone-only file with --untrained-heads, loaded by the C kit).
Prints a summary with the measured max errors per variant and stage.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'reference'))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import fpf_write  # noqa: E402
import keras_layout  # noqa: E402
import seeded  # noqa: E402

PY = sys.executable or '/usr/bin/python3'
CONVERT = os.path.join(HERE, 'convert_keras.py')
MKMODEL = os.path.join(REPO, 'build', 'fpf_mkmodel')
PARITY = os.path.join(REPO, 'build', 'tests', 'test_parity')

# name (as the authors' zip), variant, seed, nucleus seed, h5 form, write_h5 options, realistic BN stats.
# Seeds of the two realistic files: fpf_add seed 3 gives 0 detections with realistic BN (nothing past the box
# head compared), so 5 (88 detections). fpf_concat seed 4 (70 detections) hits a RoIAlign near-tie cascade
# (CONTRACT.md section 7) beyond test_parity's budget: 2 one-sided near-tie detections suppressing 17 others
# across the two sides, every compared stage within tolerance (worst err/tol 0.459); seed 5 (42 detections).
MODELS = [
    ('cores', 'cores', 7, 7, 'keras2', {}, False),
    ('without_nucleus', 'without_nucleus', 1, 7, 'flat', {'full_model': True}, False),
    ('with_nucleus', 'with_nucleus', 2, 7, 'td_inner', {'vlen_str': True}, False),
    ('fpf_add', 'fpf_add', 1, 7, 'keras2', {}, False),
    ('fpf_concat', 'fpf_concat', 1, 7, 'keras2', {'chunk_attrs': True}, False),
    ('fpf_add_weighted', 'fpf_add', 5, 7, 'td_inner', {'full_model': True, 'chunk_attrs': True}, True),
    ('fpf_concat_weighted', 'fpf_concat', 5, 7, 'flat', {'vlen_str': True}, True),
]
IMAGE_HW, IMAGE_SEED = (100, 150), 12          # the paper fixtures' image (make_fixtures.py), padded to 128x192

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print('  FAIL: ' + msg)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def ensure_built(parity=True):
    need = [p for p in ((MKMODEL, PARITY) if parity else (MKMODEL,)) if not os.path.exists(p)]
    if need:
        r = run(['make', '-s'] + [os.path.relpath(p, REPO) for p in need], cwd=REPO)
        if r.returncode != 0:
            sys.exit('check_convert: cannot build %s:\n%s' % (need, r.stderr[-2000:]))


def realistic(raw, variant):
    """BN statistics as the authors' training leaves them (spec 2.3): _core stats = cell stats, heads initial."""
    raw = dict(raw)
    for n in list(raw):
        layer, w = n.rsplit('/', 1)
        if w in ('moving_mean', 'moving_variance') and layer.endswith('_core') and layer.startswith('bn'):
            raw[n] = raw[layer[:-5] + '/' + w].copy()
    for b in ('mrcnn_class_bn1', 'mrcnn_class_bn2', 'mrcnn_mask_bn1', 'mrcnn_mask_bn2', 'mrcnn_mask_bn3',
              'mrcnn_mask_bn4'):
        raw[b + '/moving_mean'] = np.zeros_like(raw[b + '/moving_mean'])
        raw[b + '/moving_variance'] = np.ones_like(raw[b + '/moving_variance'])
    return raw


# ------------------------------------------------------------------------------------------------ 1
def check_writer_identity(work):
    print('1. fpf_write.py vs the C writer (build/fpf_mkmodel), tiny config')
    for v in fpf_write.VARIANTS:
        c = os.path.join(work, 'c_%s.fpf' % v)
        p = os.path.join(work, 'p_%s.fpf' % v)
        r = run([MKMODEL, '--config', 'tiny', '--variant', v, '--seed', '1', '--nucleus-seed', '7', '--out', c])
        if r.returncode:
            fail('fpf_mkmodel %s: %s' % (v, r.stderr.strip()))
            continue
        fpf_write.write_fpf(p, v, seeded.make_raw_weights('tiny', v, 1, 7), 'tiny')
        same = open(c, 'rb').read() == open(p, 'rb').read()
        print('  %-16s %s' % (v, 'byte-identical' if same else 'DIFFERENT'))
        if not same:
            fail('fpf_write %s differs from fpf_mkmodel' % v)
        os.unlink(c)
        os.unlink(p)


# ------------------------------------------------------------------------------------------------ 2
def build_fixture(path, variant, raw, seed, nseed, cell, nucleus):
    import torch
    import fpf_ref
    import fpt
    import make_fixtures as mf
    torch.set_num_threads(2)
    model = fpf_ref.FPFModel('paper', variant).load_raw(raw)
    with torch.no_grad():
        out = fpf_ref.run_inference(model, cell=cell, nucleus=nucleus)
    h, w = cell.shape
    W = fpt.Writer()
    W.add('meta.config', np.frombuffer(b'paper', np.uint8))
    W.add('meta.variant', np.frombuffer(variant.encode('ascii'), np.uint8))
    W.add('meta.seed', np.array([seed], np.int32))
    W.add('meta.nucleus_seed', np.array([nseed], np.int32))
    W.add('meta.hw', np.array([h, w], np.int32))
    if variant != 'cores':
        W.add('input.cell', cell)
    if variant != 'without_nucleus':
        W.add('input.nucleus', nucleus)
    names = [n for n in mf.STAGE_ORDER_HEAD if n in out]
    for t in ('cell', 'nucleus'):
        names += ['%s.%s' % (t, k) for k in mf.TOWER_KEYS if '%s.%s' % (t, k) in out]
    names += mf.STAGE_ORDER_TAIL
    for n in names:
        W.add(n, out[n], full=(n == 'final.masks' or n.startswith('input.')))
    W.save(path)
    return out['info']


LINE = re.compile(r'^\s+(\S+)\s+(full|samples|sum|1-IoU)\s+max err (\S+)\s+tol (\S+)')


def parse_parity(text):
    stages = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            name, kind, err, tol = m.group(1), m.group(2), float(m.group(3)), float(m.group(4))
            if kind == 'sum':
                continue
            prev = stages.get(name)
            if prev is None or err / tol > prev[0] / prev[1]:
                stages[name] = (err, tol)
    worst = re.search(r'worst error/tolerance (\S+) \((\S+)\)', text)
    dets = re.search(r'(\d+) detections', text)
    ties = re.search(r'near-ties: (.*)$', text, re.M)
    return stages, (float(worst.group(1)), worst.group(2)) if worst else (None, None), \
        int(dets.group(1)) if dets else None, ties.group(1).strip() if ties else ''


def check_parity(work, only, keep):
    import make_fixtures as mf
    print('2. the seven published files at the paper config: h5 -> convert -> parity with the reference on the h5')
    cell, nucleus = mf.synth_pair(IMAGE_HW[0], IMAGE_HW[1], IMAGE_SEED)
    results = []
    for name, variant, seed, nseed, form, opts, real in MODELS:
        if only and name not in only:
            continue
        t0 = time.time()
        h5 = os.path.join(work, name + '.h5')
        out = os.path.join(work, name + '.fpf')
        fx = os.path.join(work, name + '.fpt')
        raw = seeded.make_raw_weights('paper', variant, seed, nseed)
        if real:
            raw = realistic(raw, variant)
        keras_layout.write_h5(h5, variant, raw, form=form, **opts)
        h5_bytes = os.path.getsize(h5)
        r = run([PY, CONVERT, h5, out])
        res = {'name': name, 'variant': variant, 'form': form + ''.join(
            ', ' + k for k, v in sorted(opts.items()) if v), 'h5_bytes': h5_bytes}
        if r.returncode != 0:
            fail('%s: conversion failed: %s' % (name, r.stderr.strip()))
            results.append(res)
            continue
        detected = re.search(r'^variant (\S+)', r.stdout, re.M)
        res['detected'] = detected.group(1) if detected else '?'
        if res['detected'] != variant:
            fail('%s: detected variant %s, expected %s' % (name, res['detected'], variant))
        warns = [l for l in r.stderr.splitlines() if l.strip()]
        oks = [l for l in r.stdout.splitlines() if l.startswith('check ok:')]
        n_checks = 2 if variant in ('fpf_add', 'fpf_concat') else 1
        if real and (warns or len(oks) != n_checks):
            fail('%s: sanity checks should pass on realistic BN statistics: %s' % (name, warns))
        if not real and len(warns) != n_checks:
            fail('%s: expected %d sanity warnings on seeded BN statistics, got %s' % (name, n_checks, warns))
        res['sanity'] = '%d ok' % len(oks) if not warns else '%d warn' % len(warns)
        # exactness: the converted file equals the C writer's for the same (seeded) weights
        if not real:
            c = os.path.join(work, name + '.c.fpf')
            rc = run([MKMODEL, '--config', 'paper', '--variant', variant, '--seed', str(seed),
                      '--nucleus-seed', str(nseed), '--out', c])
            same = rc.returncode == 0 and open(c, 'rb').read() == open(out, 'rb').read()
            res['identical'] = 'yes' if same else 'NO'
            if not same:
                fail('%s: converted file differs from fpf_mkmodel --seed %d --nucleus-seed %d' % (name, seed, nseed))
            if os.path.exists(c):
                os.unlink(c)
        else:
            ref = fpf_write.fpf_bytes(variant, raw)
            same = ref == open(out, 'rb').read()
            res['identical'] = 'yes (py)' if same else 'NO'
            if not same:
                fail('%s: converted file differs from fpf_write of the raw tensors' % name)
        # the reference on the h5's arrays, read independently of the converter
        raw_h5 = keras_layout.read_h5_raw(h5)
        if set(raw_h5) != set(raw) or any(not np.array_equal(raw_h5[k], raw[k]) for k in raw):
            fail('%s: the independent h5 reader does not give back the raw tensors' % name)
        if not keep:
            os.unlink(h5)
        t1 = time.time()
        info = build_fixture(fx, variant, raw_h5, seed, nseed, cell, nucleus)
        t2 = time.time()
        p = run([PARITY, '--model', out, '--fixture', fx, '-v'], cwd=REPO)
        if p.returncode < 0:
            print('  %s: %s crashed with signal %d (a C kit problem, not a conversion one)'
                  % (name, os.path.relpath(PARITY, REPO), -p.returncode))
        t3 = time.time()
        stages, worst, dets, ties = parse_parity(p.stdout)
        res.update(stages=stages, worst=worst, dets=dets, ties=ties, parity_rc=p.returncode,
                   n_ref=info.get('N'), t=(t1 - t0, t2 - t1, t3 - t2))
        ok = p.returncode == 0 and stages
        if not ok:
            fail('%s: parity failed (rc %d):\n%s' % (name, p.returncode, p.stdout[-3000:]))
        print('  %-20s %-16s detected %-16s identical %-8s sanity %-7s parity %s, worst err/tol %s (%s), '
              '%s detections  [h5+convert %.0fs, reference %.0fs, C %.0fs]'
              % (name, variant, res['detected'], res.get('identical'), res['sanity'], 'ok' if ok else 'FAIL',
                 '%.3f' % worst[0] if worst[0] is not None else '?', worst[1], dets, *res['t']))
        sys.stdout.flush()
        if not keep:
            for f in (out, fx):
                os.unlink(f)
        results.append(res)
    return results


# ------------------------------------------------------------------------------------------------ 3
def shapes(variant, cfg='paper'):
    return {n: tuple(s) for n, s in fpf_write.raw_tensor_list(variant, cfg)}


def matterport_resnet101(num_classes, cin=3):
    """Names and shapes of a matterport Mask R-CNN (ResNet-101, e.g. mask_rcnn_coco.h5: 81 classes)."""
    d = {}

    def conv(n, s):
        d[n + '/kernel'] = s
        d[n + '/bias'] = (s[-1],)

    def bn(n, c):
        for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
            d['%s/%s' % (n, w)] = (c,)
    conv('conv1', (7, 7, cin, 64))
    bn('bn_conv1', 64)
    ch = 64
    for s, nb, f1, f3 in ((2, 3, 64, 256), (3, 4, 128, 512), (4, 23, 256, 1024), (5, 3, 512, 2048)):
        for b in range(nb):
            t = '%d%s_branch' % (s, chr(97 + b))
            conv('res' + t + '2a', (1, 1, ch, f1)); bn('bn' + t + '2a', f1)
            conv('res' + t + '2b', (3, 3, f1, f1)); bn('bn' + t + '2b', f1)
            conv('res' + t + '2c', (1, 1, f1, f3)); bn('bn' + t + '2c', f3)
            if b == 0:
                conv('res' + t + '1', (1, 1, ch, f3)); bn('bn' + t + '1', f3)
            ch = f3
    for s, c in ((5, 2048), (4, 1024), (3, 512), (2, 256)):
        conv('fpn_c%dp%d' % (s, s), (1, 1, c, 256))
    for s in (2, 3, 4, 5):
        conv('fpn_p%d' % s, (3, 3, 256, 256))
    conv('rpn_conv_shared', (3, 3, 256, 512))
    conv('rpn_class_raw', (1, 1, 512, 6))
    conv('rpn_bbox_pred', (1, 1, 512, 12))
    conv('mrcnn_class_conv1', (7, 7, 256, 1024)); bn('mrcnn_class_bn1', 1024)
    conv('mrcnn_class_conv2', (1, 1, 1024, 1024)); bn('mrcnn_class_bn2', 1024)
    conv('mrcnn_class_logits', (1024, num_classes))
    conv('mrcnn_bbox_fc', (1024, 4 * num_classes))
    for i in range(1, 5):
        conv('mrcnn_mask_conv%d' % i, (3, 3, 256, 256)); bn('mrcnn_mask_bn%d' % i, 256)
    conv('mrcnn_mask_deconv', (2, 2, 256, 256))
    conv('mrcnn_mask', (1, 1, 256, num_classes))
    return d


C_LOADER = r'''
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include <stdio.h>
int main(int argc, char **argv) {
    fpf_model *m = NULL; char msg[256];
    if (argc != 2 || fpf_model_load_file(argv[1], NULL, &m, msg, sizeof msg) != FPF_OK) { printf("load failed: %s\n", msg); return 1; }
    printf("variant %d, %zu weight bytes\n", fpf_model_config(m)->variant, fpf_model_weight_bytes(m));
    fpf_model_free(m);
    return 0;
}
'''


def c_loader(work):
    exe = os.path.join(work, 'load_fpf')
    if not os.path.exists(exe):
        src = exe + '.c'
        open(src, 'w').write(C_LOADER)
        r = run(['cc', '-std=c99', '-O1', '-I' + REPO, src, '-o', exe, '-lm'])
        if r.returncode:
            fail('cannot build the C loader: ' + r.stderr[-500:])
            return None
    return exe


def refusal_cases(work):
    """(label, writer(path) -> None, extra args, expected stderr substring, file name)."""
    P = os.path.join
    add = shapes('fpf_add')
    cases = []

    def h5(raw, variant='fpf_add', **kw):
        return lambda path: keras_layout.write_h5(path, variant, raw, **kw)

    def minus(d, layer):
        return {k: v for k, v in d.items() if k.split('/')[0] != layer}

    cases.append(('missing layer', h5(minus(add, 'fpn_p3')), [], 'missing layer fpn_p3', 'fpf_add.h5'))
    d = dict(add); del d['mrcnn_mask_conv2/bias']
    cases.append(('missing array', h5(d), [], 'missing layer mrcnn_mask_conv2: no mrcnn_mask_conv2/bias', 'fpf_add.h5'))
    d = dict(add); d['mrcnn_extra/kernel'] = (3, 3, 256, 256); d['mrcnn_extra/bias'] = (256,)
    cases.append(('extra layer', h5(d), [], 'unexpected layer mrcnn_extra', 'fpf_add.h5'))
    d = dict(add); d['conv1/gamma'] = (64,)
    cases.append(('extra array in a layer', h5(d), [], 'unexpected array conv1/gamma in layer conv1', 'fpf_add.h5'))
    d = dict(add); d['fpn_p2/kernel'] = (3, 3, 128, 256)
    cases.append(('wrong shape', h5(d), [], 'fpn_p2/kernel has shape (3, 3, 128, 256)', 'fpf_add.h5'))
    d = dict(add); d['mrcnn_mask_deconv/kernel'] = (2, 2, 256, 128)
    cases.append(('wrong deconv shape', h5(d), [], 'mrcnn_mask_deconv/kernel has shape', 'fpf_add.h5'))

    def truncated(path):
        keras_layout.write_h5(path + '.full', 'fpf_add', seeded.make_raw_weights('tiny', 'fpf_add', 1, 7))
        data = open(path + '.full', 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
        os.unlink(path + '.full')
    cases.append(('truncated h5', truncated, ['--config', 'tiny'], 'truncated HDF5 file', 'fpf_add.h5'))
    cases.append(('matterport COCO (81 classes)', h5(matterport_resnet101(81), 'without_nucleus'), [],
                  '81 classes: this is a matterport COCO Mask R-CNN', 'mask_rcnn_coco.h5'))
    cases.append(('matterport 2-class RGB model', h5(matterport_resnet101(2), 'without_nucleus'), [],
                  'conv1 takes 3 input channels', 'mask_rcnn_balloon.h5'))
    cases.append(('ResNet-101, 1 channel', h5(matterport_resnet101(2, 1), 'without_nucleus'), [],
                  'stage 4 has 23 blocks (a ResNet-101 backbone)', 'cells_r101.h5'))
    cases.append(('not HDF5 (text)', lambda p: open(p, 'w').write('this is not a weights file\n' * 10), [],
                  'not an HDF5 file', 'fpf_add.h5'))
    cases.append(('empty file', lambda p: open(p, 'w').close(), [], 'empty file', 'fpf_add.h5'))

    def zipped(path):
        inner = path + '.inner.h5'
        keras_layout.write_h5(inner, 'fpf_add', shapes('fpf_add', 'tiny'))
        with zipfile.ZipFile(path, 'w') as z:
            z.write(inner, 'fpf_add.h5')
        os.unlink(inner)
    cases.append(('zip archive', zipped, [], 'a zip archive, not an HDF5 file; unzip it first', 'fpf_add.zip'))

    def fpf_input(path):
        fpf_write.write_fpf(path, 'cores', seeded.make_raw_weights('tiny', 'cores', 1, 1), 'tiny')
    cases.append(('an .fpf as input', fpf_input, [], 'already an .fpf model file', 'cores.h5'))

    def not_keras(path):
        with h5py.File(path, 'w') as f:
            f.create_dataset('data', data=np.arange(10))
    cases.append(('HDF5, not Keras', not_keras, [], 'without a Keras "layer_names" attribute', 'fpf_add.h5'))

    def lost_group(path):
        keras_layout.write_h5(path, 'fpf_add', add)
        with h5py.File(path, 'a') as f:
            del f['fpn_p3']
    cases.append(('layer group missing', lost_group, [], 'layer_names lists fpn_p3 but the file has no such group',
                  'fpf_add.h5'))

    def dup_names(path):
        keras_layout.write_h5(path, 'fpf_add', add)
        with h5py.File(path, 'a') as f:
            names = list(f.attrs['layer_names'])
            f.attrs['layer_names'] = np.array(names + [names[5]])
    cases.append(('duplicate layer name', dup_names, [], 'listed twice in layer_names', 'fpf_add.h5'))

    def bad_rpn(path):
        keras_layout.write_h5(path, 'fpf_add', add)
        with h5py.File(path, 'a') as f:
            g = f['rpn_model']
            wn = list(g.attrs['weight_names'])
            g.create_dataset('rpn_extra/kernel:0', shape=(1, 1, 512, 6), dtype='f4')
            g.attrs['weight_names'] = np.array(wn + [b'rpn_extra/kernel:0'])
    cases.append(('unknown rpn_model array', bad_rpn, [], 'rpn_model holds an unexpected array rpn_extra/kernel:0',
                  'fpf_add.h5'))
    cases.append(('--variant disagrees', h5(add), ['--variant', 'fpf_concat'],
                  '--variant fpf_concat, but the file is a fpf_add model', 'fpf_add.h5'))
    cases.append(('1-channel single tower, ambiguous name', h5(shapes('without_nucleus'), 'without_nucleus'), [],
                  'pass --variant cores or --variant without_nucleus', 'model_0100.h5'))
    cases.append(('2-channel file as cores', h5(shapes('with_nucleus'), 'with_nucleus'), ['--variant', 'cores'],
                  'the file is a with_nucleus model', 'with_nucleus.h5'))
    cases.append(('tiny widths at the paper config', h5(shapes('fpf_add', 'tiny')), [],
                  'conv1 has 16 filters', 'fpf_add.h5'))

    def nan(path):
        d = dict(add)
        d['mrcnn_mask/bias'] = np.array([0.0, np.nan], np.float32)
        keras_layout.write_h5(path, 'fpf_add', d)
    cases.append(('NaN weight', nan, [], 'mrcnn_mask/bias holds NaN or Inf', 'fpf_add.h5'))

    def f64(path):
        d = dict(add)
        d['mrcnn_mask/bias'] = np.array([0.1, 0.2], np.float64)
        keras_layout.write_h5(path, 'fpf_add', d)
    cases.append(('float64, not exact in float32', f64, [], 'not float32 numbers', 'fpf_add.h5'))
    bb = {k: v for k, v in shapes('without_nucleus').items() if not k.startswith(('fpn_', 'rpn_', 'mrcnn_'))}
    bb['fc1000/kernel'] = (1024, 1000)
    bb['fc1000/bias'] = (1000,)
    cases.append(('backbone only, no --untrained-heads', h5(bb, 'without_nucleus', weightless=False), [],
                  'holds only a ResNet backbone', 'pretrained_grayscale_resnet.h5'))
    cases.append(('backbone only, --untrained-heads without --variant', h5(bb, 'without_nucleus', weightless=False),
                  ['--untrained-heads'], '--untrained-heads needs --variant', 'pretrained_grayscale_resnet.h5'))
    cases.append(('--untrained-heads on a full model', h5(add), ['--untrained-heads', '--variant', 'fpf_add'],
                  '--untrained-heads is for the backbone-only file', 'fpf_add.h5'))
    cases.append(('output directory missing', h5(add), [], 'does not exist', 'fpf_add.h5', P('no_such_dir', 'x.fpf')))
    return cases, bb


def check_refusals(work):
    print('3. refusals: exit status 1, one line on stderr, no output file')
    d = os.path.join(work, 'refuse')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cases, bb = refusal_cases(work)
    rows = []
    for case in cases:
        label, writer, extra, expect, fname = case[:5]
        out = os.path.join(d, case[5]) if len(case) > 5 else os.path.join(d, 'out.fpf')
        src = os.path.join(d, fname)
        writer(src)
        r = run([PY, CONVERT, src, out] + extra)
        err = [l for l in r.stderr.splitlines() if l.strip()]
        left = [f for f in os.listdir(d) if f.endswith('.tmp') or f == os.path.basename(out)]
        ok = (r.returncode == 1 and len(err) == 1 and err[0].startswith('convert_keras: error: ')
              and expect in err[0] and 'Traceback' not in r.stderr and not os.path.exists(out) and not left)
        msg = err[0][len('convert_keras: error: '):] if err else '(no message)'
        print('  %-52s %s  %s' % (label, 'ok  ' if ok else 'FAIL', msg))
        if not ok:
            fail('refusal "%s": rc %d, stderr %r, leftovers %s, expected %r' % (label, r.returncode, r.stderr, left,
                                                                              expect))
        rows.append((label, ok, msg))
        os.unlink(src)
    # accepted edge cases
    print('   accepted edge cases:')
    loader = c_loader(work)
    add = shapes('fpf_add')

    def accept(label, writer, fname, extra, want_warn=None, want_out=None, c_load=True):
        src, out = os.path.join(d, fname), os.path.join(d, 'ok.fpf')
        writer(src)
        r = run([PY, CONVERT, src, out] + extra)
        ok = r.returncode == 0 and os.path.exists(out)
        if want_warn:
            ok &= want_warn in r.stderr
        if want_out:
            ok &= want_out in r.stdout
        note = ''
        if ok and c_load and loader:
            lr = run([loader, out])
            ok &= lr.returncode == 0
            note = 'C loads it: ' + lr.stdout.strip()
        print('  %-52s %s  %s' % (label, 'ok  ' if ok else 'FAIL', note))
        if not ok:
            fail('accepted case "%s": rc %d\n%s\n%s' % (label, r.returncode, r.stdout, r.stderr))
        for f in (src, out):
            if os.path.exists(f):
                os.unlink(f)
        rows.append((label, ok, note))

    def core_heads(path):
        d2 = dict(add)
        d2['mrcnn_class_logits_core/kernel'] = (1024, 2)
        d2['mrcnn_class_logits_core/bias'] = (2,)
        keras_layout.write_h5(path, 'fpf_add', d2)
        with h5py.File(path, 'a') as f:             # a nested rpn_model_core like rpn_model
            g = f.create_group('rpn_model_core')
            wn = []
            for sub, ks in (('rpn_conv_shared', (3, 3, 256, 512)), ('rpn_class_raw', (1, 1, 512, 6)),
                            ('rpn_bbox_pred', (1, 1, 512, 12))):
                for tok, shp in (('kernel', ks), ('bias', ks[-1:])):
                    g.create_dataset('%s/%s:0' % (sub, tok), shape=shp, dtype='f4')
                    wn.append(('%s/%s:0' % (sub, tok)).encode())
            g.attrs['weight_names'] = np.array(wn)
            f.attrs['layer_names'] = np.array(list(f.attrs['layer_names']) + [b'rpn_model_core'])
    accept('rpn_model_core / mrcnn_*_core ignored (spec 12.2)', core_heads, 'fpf_add.h5', [],
           want_warn='ignored layer rpn_model_core (6 arrays)')
    accept('ambiguous 1-channel file with --variant',
           lambda p: keras_layout.write_h5(p, 'without_nucleus', shapes('without_nucleus')), 'model_0100.h5',
           ['--variant', 'without_nucleus'], want_out='variant without_nucleus')
    accept('float16 arrays (widened exactly)',
           lambda p: keras_layout.write_h5(p, 'cores', shapes('cores'), dtype=np.float16), 'cores.h5', [])
    accept('backbone only --untrained-heads --variant fpf_add',
           lambda p: keras_layout.write_h5(p, 'without_nucleus', bb, weightless=False),
           'pretrained_grayscale_resnet.h5', ['--untrained-heads', '--variant', 'fpf_add', '--seed', '5'],
           want_warn='ignored layer fc1000', want_out='check ok: _core BN')
    shutil.rmtree(d, ignore_errors=True)
    return rows


def summary(results, refusals):
    print()
    print('Summary: max |C - reference| per stage (tolerance in brackets: 1e-4 x max|ref| for maps, 2e-5 for')
    print('probabilities, 1e-5 for boxes; final.masks is 1 - worst IoU). Sampled stages: on the 4096 samples.')
    cols = ['C5', 'P2', 'F2', 'rpn_class', 'rpn_bbox', 'rpn_rois', 'roi_feat', 'mrcnn_class', 'mrcnn_bbox',
            'detections', 'mask_feat', 'mrcnn_mask', 'final.scores', 'final.masks']
    hdr = '%-20s %-16s %-5s' % ('model', 'variant', 'dets') + ''.join(' %-10s' % c for c in cols) + ' worst err/tol'
    print(hdr)
    for r in results:
        st = r.get('stages') or {}

        def g(c):
            keys = [k for k in st if k == c or k.endswith('.' + c)]
            if not keys:
                return '-'
            return '%.2g' % max(st[k][0] for k in keys)
        w = r.get('worst') or (None, None)
        print('%-20s %-16s %-5s' % (r['name'], r['variant'], r.get('dets')) + ''.join(' %-10s' % g(c) for c in cols) +
              (' %.3f (%s)' % w if w[0] is not None else ' -'))
    print()
    print('near-ties (CONTRACT.md section 7; excluded or matched by test_parity):')
    for r in results:
        print('  %-20s %s' % (r['name'], r.get('ties') or '-'))
    print()
    print('per-stage detail (max err / tol):')
    for r in results:
        st = r.get('stages') or {}
        print('  %s: ' % r['name'] + ', '.join('%s %.3g/%.3g' % (k, e, t) for k, (e, t) in st.items()))
    n_ok = sum(1 for _, ok, _ in refusals if ok)
    print()
    print('refusal and edge cases: %d of %d as expected' % (n_ok, len(refusals)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', default=os.path.join(REPO, 'build', 'check_convert'))
    ap.add_argument('--only', default='', help='comma-separated model names of step 2 (e.g. cores,fpf_add)')
    ap.add_argument('--skip-parity', action='store_true')
    ap.add_argument('--skip-refusals', action='store_true')
    ap.add_argument('--keep', action='store_true', help='keep the h5, .fpf and .fpt files in --work')
    ap.add_argument('--parity-bin', default=None, help='test_parity binary to use (default build/tests/test_parity)')
    args = ap.parse_args()
    global PARITY
    if args.parity_bin:
        PARITY = os.path.abspath(args.parity_bin)
    os.makedirs(args.work, exist_ok=True)
    ensure_built(not args.skip_parity)
    t0 = time.time()
    check_writer_identity(args.work)
    results, refusals = [], []
    if not args.skip_parity:
        results = check_parity(args.work, set(x for x in args.only.split(',') if x), args.keep)
    if not args.skip_refusals:
        refusals = check_refusals(args.work)
    summary(results, refusals)
    print('check_convert: %s (%d failures, %.0f s)' % ('PASS' if not FAILS else 'FAIL', len(FAILS), time.time() - t0))
    return 1 if FAILS else 0


if __name__ == '__main__':
    sys.exit(main())
