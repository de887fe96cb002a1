#!/usr/bin/python3
"""Score every shipped model with the C kit and write the paper-style tables (issue #6).

    /usr/bin/python3 weights/train/results.py --eval --out build/eval/results.json   # runs fpf_segment + fpf_eval
    /usr/bin/python3 weights/train/results.py --tables build/eval/results.json       # markdown tables
    /usr/bin/python3 weights/train/results.py --check build/eval/results.json weights/train/results.json
    /usr/bin/python3 weights/train/results.py --pictures                              # docs/results/*.png

--check passes when every mean AP and AP50 is within --tolerance (default 0.02) of the committed numbers.
Rescoring the committed .fpf files gives identical numbers (the C kit is deterministic for any thread
count); the tolerance covers other CPUs' kernels. A retrained model (make train-NAME, then
`results.py --eval --models build/retrain --out X.json` and `--check X.json weights/train/results.json
--tolerance 0.05`) differs more: training is repeatable on one machine, not bit-exact across machines.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
import evaluate as E  # noqa: E402

MODELS = ['cores', 'without_nucleus', 'with_nucleus', 'fpf_concat', 'fpf_add', 'fpf_concat_weighted',
          'fpf_add_weighted']
LABEL = {'cores': 'nucleus model (cores)', 'without_nucleus': 'without nucleus', 'with_nucleus': '2-channel input',
         'fpf_concat': 'FPF concat', 'fpf_add': 'FPF add', 'fpf_concat_weighted': 'FPF concat + weighted loss',
         'fpf_add_weighted': 'FPF add + weighted loss'}
THR = ['0.50', '0.55', '0.60', '0.65', '0.70', '0.75', '0.80', '0.85', '0.90']
TOLERANCE = 0.02
SHARED = os.path.abspath(os.path.join(ROOT, '..', 'shared', 'data'))
MODEL_DIR = os.path.join(ROOT, 'weights', 'models')


def model_path(name):
    return os.path.join(MODEL_DIR, name + '.fpf')


def eval_real_nuclei(model, work):
    """The nucleus model on the two labelled StarDist/DSB2018 images (never trained on)."""
    d = os.path.join(SHARED, 'stardist_dsb2018_nuclei')
    if not os.path.isdir(d):
        return None
    if os.path.exists(work):
        shutil.rmtree(work)
    res = {}
    for size in ('256', '512'):
        sd = os.path.join(work, size)
        os.makedirs(os.path.join(sd, 'set'))
        img = os.path.join(d, 'img2d_%s.tif' % size)
        os.symlink(img, os.path.join(sd, 'set', 'img%s_cell.tif' % size))
        os.symlink(img, os.path.join(sd, 'set', 'img%s_nucleus.tif' % size))
        os.symlink(os.path.join(d, 'mask2d_%s.tif' % size), os.path.join(sd, 'set', 'img%s_mask.tif' % size))
        r = E.run(model, os.path.join(sd, 'set'), 'mask', os.path.join(sd, 'run'))
        res['img2d_' + size] = {k: r[k] for k in ('bbox', 'segm', 'text')}
    return res


def do_eval(out):
    res = {}
    for name in MODELS:
        p = model_path(name)
        if not os.path.exists(p):
            continue
        r = {'size': os.path.getsize(p)}
        for s in ('test', 'clustered'):
            e = E.run(p, E.ensure_set(s), None, os.path.join(ROOT, 'build', 'eval', name + '_' + s), threads=2)
            r[s] = {k: e[k] for k in ('bbox', 'segm', 'text')}
            print('%-20s %-9s bbox mean %.4f  segm mean %.4f  segm AP50 %.4f' %
                  (name, s, e['bbox']['mean'], e['segm']['mean'], e['segm']['0.50']), flush=True)
        if name == 'cores':
            r['real_nuclei'] = eval_real_nuclei(p, os.path.join(ROOT, 'build', 'eval', 'cores_real'))
        res[name] = r
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(res, f, indent=1)
    return res


def table(res, s, kind):
    rows = ['| model | ' + ' | '.join('AP%s' % t[2:] for t in THR) + ' | mean AP 0.50..0.90 |',
            '|---|' + '---:|' * (len(THR) + 1)]
    for name in MODELS:
        if name not in res or name == 'cores':
            continue
        r = res[name][s][kind]
        rows.append('| %s | ' % LABEL[name] + ' | '.join('%.3f' % r[t] for t in THR) + ' | **%.3f** |' % r['mean'])
    return '\n'.join(rows)


def tpfp_table(res, s):
    rows = ['| model | TP (det) | FP (det) | FN (det) | TP (segm) | FP (segm) | FN (segm) |', '|---|' + '---:|' * 6]
    for name in MODELS:
        if name not in res or name == 'cores':
            continue
        b, g = res[name][s]['bbox'], res[name][s]['segm']
        rows.append('| %s | %d | %d | %d | %d | %d | %d |' % (LABEL[name], b['TP'], b['FP'], b['FN'],
                                                              g['TP'], g['FP'], g['FN']))
    return '\n'.join(rows)


def tables(res):
    out = []
    for s, title in (('test', 'full synthetic test set (18 fields 1280x1024)'),
                     ('clustered', 'clustered subset (78 crops 256x256)')):
        out.append('### Detection (bbox) AP, %s\n\n%s\n' % (title, table(res, s, 'bbox')))
        out.append('### Segmentation (mask) AP, %s\n\n%s\n' % (title, table(res, s, 'segm')))
        out.append('### TP / FP / FN at IoU 0.75, %s\n\n%s\n' % (title, tpfp_table(res, s)))
    if 'cores' in res:
        c = res['cores']
        rows = ['| set | AP50 (det) | AP50 (segm) | mean AP det | mean AP segm |', '|---|---:|---:|---:|---:|']
        for s in ('test', 'clustered'):
            rows.append('| synthetic %s (nuclei) | %.3f | %.3f | %.3f | %.3f |' % (
                s, c[s]['bbox']['0.50'], c[s]['segm']['0.50'], c[s]['bbox']['mean'], c[s]['segm']['mean']))
        for k, v in sorted((c.get('real_nuclei') or {}).items()):
            rows.append('| real %s (StarDist/DSB2018) | %.3f | %.3f | %.3f | %.3f |' % (
                k, v['bbox']['0.50'], v['segm']['0.50'], v['bbox']['mean'], v['segm']['mean']))
        out.append('### Nucleus model\n\n' + '\n'.join(rows) + '\n')
    return '\n'.join(out)


def check(new, ref):
    bad = 0
    for name, r in ref.items():
        if name not in new:
            print('missing: %s' % name)
            bad += 1
            continue
        for s in ('test', 'clustered'):
            for kind in ('bbox', 'segm'):
                for key in ('mean', '0.50'):
                    a, b = new[name][s][kind][key], r[s][kind][key]
                    ok = abs(a - b) <= TOLERANCE
                    bad += not ok
                    print('%s %-20s %-9s %s %-4s %.4f vs %.4f' % ('ok  ' if ok else 'FAIL', name, s, kind, key, a, b))
    print('models-check: %d outside +-%.2f' % (bad, TOLERANCE))
    return bad


def pictures(names=('without_nucleus', 'with_nucleus', 'fpf_add_weighted'), crops=(12, 28, 47, 57)):
    """Overlays of a few clustered synthetic crops for three models, side by side: docs/results/*.png."""
    import numpy as np
    from skimage import io
    cdir = E.ensure_set('clustered')
    outd = os.path.join(ROOT, 'docs', 'results')
    os.makedirs(outd, exist_ok=True)
    for c in crops:
        n = 'clustered_%03d' % c
        tiles = []
        for name in names:
            p = model_path(name)
            if not os.path.exists(p):
                continue
            w = os.path.join(ROOT, 'build', 'pictures', name, n)
            os.makedirs(os.path.dirname(w), exist_ok=True)
            subprocess.check_call([os.path.join(ROOT, 'build', 'fpf_segment'), '--model', p, '--nucleus-model',
                                   model_path('cores'), '--nucleus', os.path.join(cdir, n + '_nucleus.tif'),
                                   '--cell', os.path.join(cdir, n + '_cell.tif'), '--out', w, '--overlay',
                                   '--quiet', '--threads', '1', '--post', 'off'])  # the model alone (#14)
            tiles.append(io.imread(os.path.join(w, 'overlay.png'))[:, :, :3])
        if not tiles:
            continue
        sep = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
        row = [tiles[0]]
        for t in tiles[1:]:
            row += [sep, t]
        io.imsave(os.path.join(outd, 'clustered_%03d.png' % c), np.concatenate(row, 1), check_contrast=False)
        print('docs/results/clustered_%03d.png: %s' % (c, ', '.join(names)))


def cards(res):
    """weights/train/cards/NAME.md: one model card per shipped model (data, configuration, schedule, losses,
    results, size, checksum), from build/train/NAME/ckpt.pt and the scores in res."""
    import hashlib
    import torch
    outd = os.path.join(HERE, 'cards')
    os.makedirs(outd, exist_ok=True)
    for name in MODELS:
        p = model_path(name)
        ck_path = os.path.join(ROOT, 'build', 'train', name, 'ckpt.pt')
        if not os.path.exists(p) or not os.path.exists(ck_path):
            continue
        ck = torch.load(ck_path)
        a, hist = ck['args'], ck['hist']
        last = hist[-5:]
        fin = {k: sum(h[k] for h in last) / len(last) for k in
               ('total', 'rpn_class', 'rpn_bbox', 'mrcnn_class', 'mrcnn_bbox', 'mrcnn_mask')}
        busy = sum(max(0.0, min(h2['time'] - h1['time'], 600.0)) for h1, h2 in zip(hist, hist[1:]))
        sha = hashlib.sha256(open(p, 'rb').read()).hexdigest()
        c = ck['cfg']
        L = ['# Model card: `%s.fpf`' % name, '',
             '| | |', '|---|---|',
             '| variant | `%s`%s |' % (ck['variant'], ' + border-weighted mask loss (training only)' if a['weighted'] else ''),
             '| task | %s |' % ('nucleus segmentation (input: nucleus image)' if name == 'cores' else
                                'cell segmentation (%s)' % LABEL[name]),
             '| file | `weights/models/%s.fpf`, %d bytes, sha256 `%s` |' % (name, os.path.getsize(p), sha),
             '| configuration | `%s` widths: stem %d, blocks %s, bottleneck %s, stage out %s, FPN %d, RPN %d, '
             'FC %d, mask %d; everything else as the paper (anchors 32..512, 500 proposals, min confidence 0.7) |' % (
                 a['config'], c['stem'], list(c['blocks']), list(c['f1']), list(c['f3']), c['fpn'], c['rpn'], c['fc'],
                 c['mask']),
             '| nucleus tower | %s |' % ('frozen, from `cores` (`%s`)' % a['nucleus'] if a.get('nucleus') else 'none'),
             '| data | %d synthetic scenes 384x384 from `build/fpf_synth --set train` (seeds 100000..), '
             'C-kit percentile normalization (0.1/99.9 %%), flips/rot90, %s |' % (
                 a['count'], 'zoom 0.7..1.4, gamma 0.7..1.4, gain 0.3..1.2, noise sigma 0..6 (`--aug strong`)'
                 if a.get('aug') == 'strong' else 'contrast x0.85..1.15'),
             '| schedule | %d iterations, 1 image per iteration, Adam lr %g (warm-up %d, x0.1 from iteration %d), '
             'gradient clip %g, seed %d, %d RPN anchors / 200 ROIs (33%% positive) / %d mask ROIs per image |' % (
                 ck['it'], a['lr'], a['warmup'], int(a['iters'] * a['decay_at']), a['clip'], a['seed'], 256,
                 a['mask_rois']),
             '| training time | %.0f min wall on a shared 2-core machine (1 thread, niced) |' % (busy / 60),
             '| final losses (mean of the last %d logged intervals) | total %.3f; rpn_class %.4f, rpn_bbox %.4f, '
             'mrcnn_class %.4f, mrcnn_bbox %.4f, mrcnn_mask %.4f |' % (
                 len(last) * a['log_every'], fin['total'], fin['rpn_class'], fin['rpn_bbox'], fin['mrcnn_class'],
                 fin['mrcnn_bbox'], fin['mrcnn_mask']),
             ]
        r = res.get(name)
        if r:
            for s in ('test', 'clustered'):
                L.append('| %s set (C kit, fpf_eval) | det AP50 %.3f, mean AP %.3f; segm AP50 %.3f, mean AP %.3f |' % (
                    s, r[s]['bbox']['0.50'], r[s]['bbox']['mean'], r[s]['segm']['0.50'], r[s]['segm']['mean']))
            for k, v in sorted((r.get('real_nuclei') or {}).items()):
                L.append('| real nuclei %s | det AP50 %.3f, segm AP50 %.3f |' % (k, v['bbox']['0.50'], v['segm']['0.50']))
        L += ['', 'Retrain from scratch: `make train-%s` (output in `build/retrain/`); continue this run: '
              '`make resume-%s && make export-%s`. Training code: `weights/train/`.' % (name, name, name), '']
        with open(os.path.join(outd, name + '.md'), 'w') as f:
            f.write('\n'.join(L))
        print('weights/train/cards/%s.md' % name)


def main():
    global MODEL_DIR, TOLERANCE
    ap = argparse.ArgumentParser()
    ap.add_argument('--eval', action='store_true')
    ap.add_argument('--out', default=os.path.join(ROOT, 'build', 'eval', 'results.json'))
    ap.add_argument('--tables')
    ap.add_argument('--check', nargs=2)
    ap.add_argument('--pictures', action='store_true')
    ap.add_argument('--picture-models', default='without_nucleus,with_nucleus,fpf_add_weighted',
                    help='three models, left to right (the last: the best FPF model)')
    ap.add_argument('--cards', help='results json -> weights/train/cards/*.md')
    ap.add_argument('--models', help='folder of NAME.fpf to score instead of weights/models (e.g. build/retrain)')
    ap.add_argument('--tolerance', type=float, default=0.02)
    a = ap.parse_args()
    if a.models:
        MODEL_DIR = os.path.abspath(a.models)
    TOLERANCE = a.tolerance
    if a.eval:
        res = do_eval(a.out)
        print(tables(res))
    if a.tables:
        print(tables(json.load(open(a.tables))))
    if a.check:
        sys.exit(1 if check(json.load(open(a.check[0])), json.load(open(a.check[1]))) else 0)
    if a.cards:
        cards(json.load(open(a.cards)))
    if a.pictures:
        pictures(tuple(a.picture_models.split(',')))


if __name__ == '__main__':
    main()
