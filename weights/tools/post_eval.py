#!/usr/bin/python3
"""Mean AP of the shipped cell models without and with the paper's post-processing (issue #14).

    nice /usr/bin/python3 weights/tools/post_eval.py --out build/eval/post.json            # every cell model
    /usr/bin/python3 weights/tools/post_eval.py --models fpf_add --sets clustered --post off 1 2 3 on
    /usr/bin/python3 weights/tools/post_eval.py --set-dir DIR --models fpf_add --post off on   # any folder
    /usr/bin/python3 weights/tools/post_eval.py --table build/eval/post_on.json    # RESULTS.md table

Every image goes through build/fpf_segment with the shipped nucleus model (cores.fpf) beside the cell
model, with `--post P` for each P given, and is scored by build/fpf_eval (weights/train/evaluate.py).
The nucleus model does not change the cell model's output, so `--post off` reproduces
weights/train/results.json. Single-threaded: the CPU is shared.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'weights', 'train'))
import evaluate as E  # noqa: E402

CELL_MODELS = ['without_nucleus', 'with_nucleus', 'fpf_concat', 'fpf_add', 'fpf_concat_weighted', 'fpf_add_weighted']


LABEL = {'without_nucleus': 'without nucleus', 'with_nucleus': '2-channel input', 'fpf_concat': 'FPF concat',
         'fpf_add': 'FPF add', 'fpf_concat_weighted': 'FPF concat + weighted loss',
         'fpf_add_weighted': 'FPF add + weighted loss'}


def table(path):
    """Markdown: mean AP without post-processing (weights/train/results.json, the same runs) and with it."""
    on = json.load(open(path))
    off = json.load(open(os.path.join(ROOT, 'weights', 'train', 'results.json')))
    print('| model | set | det off | det on | change | segm off | segm on | change |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    for s in ('test', 'clustered'):
        for m in CELL_MODELS:
            if m not in on or s not in on[m]:
                continue
            r = on[m][s]
            p = 'on' if 'on' in r else sorted(r)[0]
            row = ['%s' % LABEL[m], s]
            for k in ('bbox', 'segm'):
                a = r['off'][k]['mean'] if 'off' in r else off[m][s][k]['mean']
                b = r[p][k]['mean']
                row += ['%.3f' % a, '**%.3f**' % b, '%+.1f %%' % (100 * (b - a) / a)]
            print('| ' + ' | '.join(row) + ' |')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--table', help='print the markdown table of a --out JSON and exit')
    ap.add_argument('--models', nargs='+', default=CELL_MODELS)
    ap.add_argument('--sets', nargs='+', default=['test', 'clustered'])
    ap.add_argument('--set-dir', help='a folder of <name>_cell.tif, <name>_nucleus.tif, <name>_cell_labels.tif')
    ap.add_argument('--post', nargs='+', default=['off', 'on'])
    ap.add_argument('--post-set', nargs='*', default=[], help='NAME=VALUE passed to fpf_segment --post-set')
    ap.add_argument('--tag', default='', help='suffix of the work folders')
    ap.add_argument('--out')
    a = ap.parse_args()
    if a.table:
        return table(a.table)
    cores = os.path.join(ROOT, 'weights', 'models', 'cores.fpf')
    res = {}
    sets = [('custom', os.path.abspath(a.set_dir))] if a.set_dir else [(s, None) for s in a.sets]
    for name in a.models:
        model = os.path.join(ROOT, 'weights', 'models', name + '.fpf')
        for s, d in sets:
            d = d or E.ensure_set(s)
            for p in a.post:
                work = os.path.join(ROOT, 'build', 'eval', 'post', '%s_%s_%s%s' % (name, s, p, a.tag))
                extra = ['--post', p] + [x for kv in a.post_set for x in ('--post-set', kv)]
                r = E.run(model, d, None, work, threads=1, nucleus_model=cores, extra=extra)
                res.setdefault(name, {}).setdefault(s, {})[p] = {k: r[k] for k in ('bbox', 'segm')}
                print('%-20s %-9s post %-3s %s bbox mean %.4f  segm mean %.4f  segm AP50 %.4f' %
                      (name, s, p, ' '.join(a.post_set), r['bbox']['mean'], r['segm']['mean'], r['segm']['0.50']), flush=True)
                if a.out:
                    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
                    with open(a.out, 'w') as f:
                        json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
