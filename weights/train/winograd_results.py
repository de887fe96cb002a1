#!/usr/bin/python3
"""Winograd against the direct 3×3 convs on every shipped fp32 model (issue #11's fp32 speed work).

    /usr/bin/python3 weights/train/winograd_results.py [--models a,b] [--out build/eval/winograd.json]

fpf_segment runs each fp32 model in weights/models twice, with --conv3x3 direct (the reference order of
sums) and --conv3x3 winograd (the default), on the synthetic test set and the clustered subset (the C kit,
fpf_segment + fpf_eval, as results.py scores them). Printed per model and set: segm mean AP (0.50..0.95)
and AP50 of both, and the share of the direct run's instances (label images) that the Winograd run
reproduces with IoU >= 0.9 (int8_results.py's "labels" measure). Each score is cached in
build/eval/winograd/ under the SHA-1 of the model file and the fpf_segment binary.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluate as E  # noqa: E402
from int8_results import BUILD, MODEL_DIR, cached, reproduced_labels, sha1, variant_of  # noqa: E402
from results import MODELS, LABEL  # noqa: E402

MODES = ('direct', 'winograd')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--out', default=os.path.join(BUILD, 'eval', 'winograd.json'))
    a = ap.parse_args()
    res = {}
    seg = os.path.join(BUILD, 'fpf_segment')
    rows = []
    for name in a.models.split(','):
        path = os.path.join(MODEL_DIR, name + '.fpf')
        kind = 'nuclei' if variant_of(path) == 'cores' else 'cells'
        stamp = sha1(path) + ' ' + sha1(seg)
        for s in ('test', 'clustered'):
            d, works, r = E.ensure_set(s), {}, {}
            for mode in MODES:
                works[mode] = os.path.join(BUILD, 'eval', 'winograd', '%s_%s_%s' % (name, mode, s))

                def run(mode=mode):
                    e = E.run(path, d, None, works[mode], threads=2, extra=('--conv3x3', mode))
                    return {t: e[t] for t in ('bbox', 'segm')}
                r[mode] = cached(works[mode] + '.score', stamp, run)
            r['reproduced'] = cached(works['winograd'] + '.labels', stamp,
                                     lambda: reproduced_labels(works['direct'], works['winograd'], kind))
            res.setdefault(name, {})[s] = r
            h, t = r['reproduced']
            row = '| %s | %s | %.4f | %.4f | %+.4f | %.3f | %.3f | %d / %d = %.1f %% |' % (
                LABEL[name], s, r['direct']['segm']['mean'], r['winograd']['segm']['mean'],
                r['winograd']['segm']['mean'] - r['direct']['segm']['mean'], r['direct']['segm']['0.50'],
                r['winograd']['segm']['0.50'], h, t, 100.0 * h / max(t, 1))
            print(row, flush=True)
            rows.append(row)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1)
    print('\n| model | set | direct segm mean AP | Winograd | Δ | direct AP50 | Winograd AP50 | direct instances reproduced (IoU ≥ 0.9) |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
