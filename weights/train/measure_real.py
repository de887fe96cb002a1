#!/usr/bin/python3
"""Score a nucleus model on real labelled nuclei with the C CLIs (issue #12): build/fpf_segment on every image,
then build/fpf_eval at real density.

    /usr/bin/python3 weights/train/measure_real.py --model weights/models/cores.fpf
    /usr/bin/python3 weights/train/measure_real.py --model build/real/cores/cores.fpf --json build/real/cores_test.json

Default set: ../shared/data/dsb2018_test_fluo (53 images, 3,083 nuclei; NAME.png + uint16 NAME_labels.tif).
That folder is TEST ONLY: never train, tune thresholds or choose checkpoints on it; use --set-dir with the
validation split (weights/train/real.py --list-split val) for model choice.

Metrics (segm, masks): COCO AP50 and mean AP 0.50:0.95 with at most --max-dets detections per image
(default 1000, fpf_eval --max-dets), the DSB/StarDist accuracy TP/(TP+FP+FN), F1, precision and recall at
IoU 0.5 and 0.7 (fpf_eval --match-iou: maximum one-to-one matching at IoU >= T), and the counts. The
detections are fpf_segment's label image (overlaps resolved by score, as every user sees them) with each
instance's score. Segmentation is resumable: images whose output already exists are not run again.
Needs only the Python standard library.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.join(ROOT, 'build')
TEST = os.path.join(ROOT, '..', 'shared', 'data', 'dsb2018_test_fluo')
IOUS = (0.5, 0.7)
sys.path.insert(0, HERE)
from evaluate import write_scores  # noqa: E402  (the one fpf_segment CSV -> --dt-scores writer)


def names_of(set_dir):
    return sorted(f[:-len('_labels.tif')] for f in os.listdir(set_dir) if f.endswith('_labels.tif'))


def segment(model, set_dir, names, work, threads, min_score, log, extra=()):
    seg = os.path.join(work, 'seg')
    os.makedirs(seg, exist_ok=True)
    t0 = time.time()
    for i, n in enumerate(names):
        out = os.path.join(seg, n)
        if os.path.exists(os.path.join(out, 'nuclei.csv')):
            continue
        cmd = [os.path.join(BUILD, 'fpf_segment'), '--model', model, '--nucleus', os.path.join(set_dir, n + '.png'),
               '--out', out, '--threads', str(threads), '--quiet']
        if min_score is not None:
            cmd += ['--min-score', str(min_score)]
        subprocess.check_call(cmd + list(extra))
        log('%3d/%d %s  %.0f s' % (i + 1, len(names), n, time.time() - t0))
    return seg


def link(src, dst):
    if os.path.lexists(dst):
        os.remove(dst)
    os.symlink(os.path.abspath(src), dst)


def score(set_dir, names, seg, work, max_dets):
    gt_dir, dt_dir = os.path.join(work, 'gt'), os.path.join(work, 'dt')
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(dt_dir, exist_ok=True)
    for n in names:
        link(os.path.join(set_dir, n + '_labels.tif'), os.path.join(gt_dir, n + '.tif'))
        link(os.path.join(seg, n, 'nuclei.tif'), os.path.join(dt_dir, n + '.tif'))
    scores = write_scores(os.path.join(work, 'scores.csv'), [(n, os.path.join(seg, n, 'nuclei.csv')) for n in names])
    cmd = [os.path.join(BUILD, 'fpf_eval'), '--gt-labels', gt_dir, '--dt-labels', dt_dir, '--dt-scores', scores,
           '--max-dets', str(max_dets), '--match-iou', ','.join(str(t) for t in IOUS)]
    res = json.loads(subprocess.check_output(cmd + ['--json']).decode())
    res['table'] = subprocess.check_output(cmd).decode()
    res['command'] = ' '.join(os.path.relpath(c, ROOT) if os.path.isabs(c) else c for c in cmd)
    return res


def row(label, res):
    s = res['segm']
    m = {round(x['iou'], 2): x for x in s['matching']}
    a, b = m[0.5], m[0.7]
    return ('| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %d | %d/%d/%d | %d/%d/%d |' %
            (label, s['ap50'], s['map_50_95'], a['accuracy'], a['f1'], b['accuracy'], b['f1'],
             a['tp'] + a['fp'], a['tp'], a['fp'], a['fn'], b['tp'], b['fp'], b['fn']))


HEADER = ('| model | AP50 | mAP 0.50:0.95 | accuracy @0.5 | F1 @0.5 | accuracy @0.7 | F1 @0.7 | detections | '
          'TP/FP/FN @0.5 | TP/FP/FN @0.7 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='a cores (nucleus) .fpf model')
    ap.add_argument('--set-dir', default=TEST, help='NAME.png + NAME_labels.tif folder (default: the test set)')
    ap.add_argument('--work', help='output folder (default build/real_eval/MODEL_SET)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--segment-args', default='', help='more fpf_segment arguments, e.g. "--scale 2"')
    ap.add_argument('--min-score', type=float, help="fpf_segment --min-score (default: the model's, 0.7)")
    ap.add_argument('--max-dets', type=int, default=1000)
    ap.add_argument('--json', help='write the scores here as JSON')
    a = ap.parse_args()
    if not os.path.isdir(a.set_dir):
        sys.exit('measure_real: %s not found' % a.set_dir)
    for exe in ('fpf_segment', 'fpf_eval'):
        if not os.path.exists(os.path.join(BUILD, exe)):
            subprocess.check_call(['make', '-C', ROOT, '-s', 'build/' + exe])
    tag = os.path.splitext(os.path.basename(a.model))[0] + '_' + os.path.basename(os.path.normpath(a.set_dir))
    work = a.work or os.path.join(BUILD, 'real_eval', tag)
    names = names_of(a.set_dir)
    t0 = time.time()
    seg = segment(a.model, a.set_dir, names, work, a.threads, a.min_score,
                  lambda m: print('measure_real: ' + m, file=sys.stderr, flush=True), a.segment_args.split())
    res = score(a.set_dir, names, seg, work, a.max_dets)
    res.update(model=a.model, set_dir=a.set_dir, images=len(names), threads=a.threads, min_score=a.min_score,
               seconds=round(time.time() - t0, 1))
    sys.stdout.write(res['table'])
    print('\n' + HEADER + '\n' + row(os.path.basename(a.model), res))
    print('\nfpf_eval command: ' + res['command'])
    if a.json:
        with open(a.json + '.tmp', 'w') as f:
            json.dump(res, f, indent=1)
        os.replace(a.json + '.tmp', a.json)


if __name__ == '__main__':
    main()
