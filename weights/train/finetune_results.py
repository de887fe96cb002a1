#!/usr/bin/python3
"""The cell models fine-tuned on the real-nuclei mix (finetune_real.sh) against the shipped ones and the ones
trained from scratch on the mix (schedule_real.sh step 5, build/real/NAME.fpf), on the synthetic test set, its
clustered subset, and 76 held-out semi-synthetic fields of 384x384 grown around the real nuclei of the 38
VALIDATION images of dsb2018_train_fluo (real.py semi --part val ...; no cell model trains on those images):
segm AP50 and mean AP 0.50..0.90 (at most 100 detections per image), as RESULTS.md's tables.

    /usr/bin/python3 weights/train/finetune_results.py [--dir build/real_ft] [--int8]

Scores each model with evaluate.run (build/fpf_segment + build/fpf_eval), each score cached under
DIR/eval/ by the SHA-1 of the model and of fpf_segment (int8_results.cached), and prints a markdown table, with
the gain of each nucleus-using model over `without_nucleus` trained the same way (the paper's comparison).
--int8 also scores DIR/NAME_int8.fpf, made first when missing with build/fpf_quantize and the shipped int8
models' calibration (int8_results.py: the first 32 synthetic training scenes, the default options).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluate as E  # noqa: E402
import int8_results as I  # noqa: E402
from results import MODELS  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
NAMES = tuple(m for m in MODELS if m != 'cores')
LABEL = dict(without_nucleus='without nucleus', with_nucleus='2-channel input', fpf_concat='FPF ⊙ (concat)',
             fpf_add='FPF ⊕ (add)', fpf_concat_weighted='FPF ⊙, weighted mask loss',
             fpf_add_weighted='FPF ⊕, weighted mask loss')
SETS = ('test', 'clustered', 'semi')
SEMI = os.path.join(ROOT, 'build', 'real_data', 'semi_val')
SEMI_CMD = ['real.py', 'semi', '--part', 'val', '--count', '38', '--per-image', '2', '--crop', '384', '--seed', '5000',
            '--preview', '0', '--out', SEMI]


def set_dir(name):
    """The synthetic sets (evaluate.py makes them), or the held-out real-nuclei fields (made here)."""
    if name != 'semi':
        return E.ensure_set(name)
    if not os.path.exists(os.path.join(SEMI, 'manifest.txt')):
        subprocess.check_call([sys.executable, os.path.join(HERE, SEMI_CMD[0])] + SEMI_CMD[1:], stdout=subprocess.DEVNULL)
    return SEMI


def score(model, key, work, which):
    """(segm AP50, segm mean AP) of model on set which."""
    stamp = I.sha1(model) + ' ' + I.sha1(os.path.join(E.BUILD, 'fpf_segment'))
    r = I.cached(os.path.join(work, key) + '.score', stamp,
                 lambda: E.run(model, set_dir(which), None, os.path.join(work, key), threads=2)['segm'])
    return r['0.50'], r['mean']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', default=os.path.join(ROOT, 'build', 'real_ft'))
    ap.add_argument('--int8', action='store_true')
    args = ap.parse_args()
    work = os.path.join(args.dir, 'eval')
    os.makedirs(work, exist_ok=True)
    rows = [('shipped (synthetic only)', 'shipped', lambda n: os.path.join(ROOT, 'weights', 'models', n + '.fpf')),
            ('from scratch on the real-nuclei mix (session 5/6)', 'scratch',
             lambda n: os.path.join(ROOT, 'build', 'real', n + '.fpf')),
            ('fine-tuned on the real-nuclei mix', 'ft', lambda n: os.path.join(args.dir, n + '.fpf'))]
    if args.int8:
        rows.append(('fine-tuned, int8', 'ft8', lambda n: os.path.join(args.dir, n + '_int8.fpf')))
        for n in NAMES:
            src, dst = os.path.join(args.dir, n + '.fpf'), os.path.join(args.dir, n + '_int8.fpf')
            if os.path.exists(src) and not os.path.exists(dst):
                I.quantize(src, dst + '.tmp', 32, I.QUANTIZE)
                os.replace(dst + '.tmp', dst)
    res = {}
    for _, tag, path in rows:
        for n in NAMES:
            if os.path.exists(path(n)):
                res[tag, n] = [v for s in SETS for v in score(path(n), '%s_%s_%s' % (tag, n, s), work, s)]
    print('| segm | model | test AP50 | test mean AP | clustered AP50 | clustered mean AP | real-nuclei fields AP50 | '
          'real-nuclei fields mean AP |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    for label, tag, _ in rows:
        for n in NAMES:
            if (tag, n) in res:
                print('| %s | %s | %s |' % (label, LABEL[n], ' | '.join('%.3f' % v for v in res[tag, n])))
    for label, tag, _ in rows:
        base = res.get((tag, 'without_nucleus'))
        for n in NAMES[1:]:
            if base and (tag, n) in res:
                print('| %s, gain over without nucleus | %s | %s |' % (
                    label, LABEL[n], ' | '.join('%+.3f' % (a - b) for a, b in zip(res[tag, n], base))))
    json.dump({'%s/%s' % k: v for k, v in res.items()}, open(os.path.join(work, 'summary.json'), 'w'), indent=1)


if __name__ == '__main__':
    main()
