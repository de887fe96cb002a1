#!/usr/bin/python3
"""Score an .fpf model with the C kit: build/fpf_segment on every image of a synthetic set, then build/fpf_eval.

    /usr/bin/python3 weights/train/evaluate.py --model weights/models/fpf_add_weighted.fpf --set test
    /usr/bin/python3 weights/train/evaluate.py --model weights/models/cores.fpf --set clustered --json out.json

Sets: test (18 fields 1280x1024, fpf_synth --set test) and clustered (78 crops 256x256), generated into
build/eval_data/ when missing; or --set-dir DIR with --gt-suffix for any folder of <name>_cell.tif,
<name>_nucleus.tif and <name>_<suffix>.tif ground-truth label images. A cores model is scored against
the nucleus labels, every other variant against the cell labels. Needs no Python packages beyond the stdlib.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.join(ROOT, 'build')


VARIANTS = ('cores', 'without_nucleus', 'with_nucleus', 'fpf_add', 'fpf_concat')


def model_variant(path):
    """Variant name from word 0 of the .fpf config block (the fpf_variant enum); fp32 and int8 files alike."""
    import struct
    with open(path, 'rb') as f:
        b = f.read(68)
    return VARIANTS[struct.unpack_from('<I', b, 64)[0]]


def ensure_set(name):
    d = os.path.join(BUILD, 'eval_data', name)
    if not os.path.exists(os.path.join(d, 'manifest.txt')):
        subprocess.check_call([os.path.join(BUILD, 'fpf_synth'), '--set', name, '--out', d, '--quiet'])
    return d


def parse_eval(text):
    res = {}
    for line in text.splitlines():
        m = re.match(r'AP @ IoU (0\.\d\d)\s+([\d.]+)\s+([\d.]+)', line)
        if m:
            res.setdefault('bbox', {})[m.group(1)] = float(m.group(2))
            res.setdefault('segm', {})[m.group(1)] = float(m.group(3))
        m = re.match(r'mean AP 0\.50-0\.90\s+([\d.]+)\s+([\d.]+)', line)
        if m:
            res['bbox']['mean'] = float(m.group(1))
            res['segm']['mean'] = float(m.group(2))
        m = re.match(r'(TP|FP|FN) @ IoU 0\.75\s+(\d+)\s+(\d+)', line)
        if m:
            res['bbox'][m.group(1)] = int(m.group(2))
            res['segm'][m.group(1)] = int(m.group(3))
    return res


def write_scores(path, rows_by_image):
    """fpf_eval --dt-scores from fpf_segment CSVs: `file,label,score` from each (image name, CSV path);
    the CSVs' first two columns are ObjectNumber (the label) and Score."""
    rows = ['file,label,score']
    for n, csv_path in rows_by_image:
        with open(csv_path) as f:
            next(f)
            for line in f:
                p = line.split(',')
                rows.append('%s.tif,%s,%s' % (n, p[0], p[1]))
    with open(path, 'w') as f:
        f.write('\n'.join(rows) + '\n')
    return path


def run(model, set_dir, gt_suffix, work, threads=1, nucleus_model=None, min_score=None, keep=False, extra=()):
    variant = model_variant(model)
    kind = 'nuclei' if variant == 'cores' else 'cells'
    if gt_suffix is None:
        gt_suffix = 'nucleus_labels' if variant == 'cores' else 'cell_labels'
    names = sorted(f[:-len('_cell.tif')] for f in os.listdir(set_dir) if f.endswith('_cell.tif'))
    if os.path.exists(work):
        shutil.rmtree(work)
    gt_dir, dt_dir, seg_dir = (os.path.join(work, x) for x in ('gt', 'dt', 'seg'))
    for d in (gt_dir, dt_dir, seg_dir):
        os.makedirs(d)
    for n in names:
        out = os.path.join(seg_dir, n)
        cmd = [os.path.join(BUILD, 'fpf_segment'), '--model', model, '--nucleus',
               os.path.join(set_dir, n + '_nucleus.tif'), '--cell', os.path.join(set_dir, n + '_cell.tif'),
               '--out', out, '--threads', str(threads), '--quiet',
               '--tile', '0']  # untiled: the setup behind the committed tables
        if nucleus_model:
            cmd += ['--nucleus-model', nucleus_model]
        if min_score is not None:
            cmd += ['--min-score', str(min_score)]
        cmd += ['--post', 'off'] + list(extra)  # the model itself; post_eval.py passes --post on (issue #14)
        subprocess.check_call(cmd)
        os.symlink(os.path.join(out, kind + '.tif'), os.path.join(dt_dir, n + '.tif'))
        os.symlink(os.path.join(set_dir, '%s_%s.tif' % (n, gt_suffix)), os.path.join(gt_dir, n + '.tif'))
    scores = write_scores(os.path.join(work, 'scores.csv'),
                          [(n, os.path.join(seg_dir, n, kind + '.csv')) for n in names])
    txt = subprocess.check_output([os.path.join(BUILD, 'fpf_eval'), '--gt-labels', gt_dir, '--dt-labels', dt_dir,
                                   '--dt-scores', scores]).decode()
    res = parse_eval(txt)
    res['text'] = txt
    res['variant'] = variant
    res['images'] = len(names)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--set', default='test', help='test | clustered (generated into build/eval_data)')
    ap.add_argument('--set-dir')
    ap.add_argument('--gt-suffix')
    ap.add_argument('--work')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--min-score', type=float)
    ap.add_argument('--json')
    ap.add_argument('--segment-args', default='', help='more fpf_segment options, e.g. "--object-diameter auto"')
    a = ap.parse_args()
    set_dir = os.path.abspath(a.set_dir or ensure_set(a.set))
    # absolute: the dt/ and gt/ folders hold symbolic links into it
    work = os.path.abspath(a.work or os.path.join(BUILD, 'eval', os.path.splitext(os.path.basename(a.model))[0] + '_' + a.set))
    res = run(a.model, set_dir, a.gt_suffix, work, a.threads, min_score=a.min_score, extra=shlex.split(a.segment_args))
    sys.stdout.write(res['text'])
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
