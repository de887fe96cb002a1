#!/usr/bin/python3
"""cocoeval_ref.py - reference scorer for fpf_eval.h (SPDX-License-Identifier: MIT).

A line-by-line port of the parts of pycocotools that fpf_eval.h reproduces
(pycocotools is not installable here):
  * common/maskApi.c   rleEncode, rleDecode, rleArea, rleToBbox, bbIou, rleIou,
                       rleToString, rleFrString
  * pycocotools/coco.py      COCO(annotation_file), loadRes, annToRLE
  * pycocotools/cocoeval.py  evaluate/computeIoU/evaluateImg/accumulate/summarize
    for useCats=1, one category, areaRng 'all', maxDets [1, 10, 100].
Only numpy is used, with the same numpy calls as pycocotools (stable argsort,
cumsum, searchsorted, np.mean), so float results are those of pycocotools.

Extensions (not in pycocotools, defined by fpf_eval.h): map_50_90 = summarize
style mean of precision[0:9]; tp/fp/fn at any IoU threshold = evaluateImg's
matching at that threshold.

Usage:
  /usr/bin/python3 weights/tools/cocoeval_ref.py eval GT.json DT.json [--tpfp-iou T]
      prints the JSON object that `build/fpf_eval --json` prints
  /usr/bin/python3 weights/tools/cocoeval_ref.py fixtures [OUTDIR]
      regenerates tests/fixtures/eval (deterministic)
"""
import json
import os
import sys
from collections import defaultdict

import numpy as np

# ---------------------------------------------------------------- maskApi port


def rle_encode(mask_f):
    """rleEncode: mask_f is h x w, read in column-major (Fortran) order."""
    h, w = mask_f.shape
    flat = np.asarray(mask_f, dtype=np.uint8).flatten(order='F')
    cnts, p, c = [], 0, 0
    for v in flat.tolist():
        v = 1 if v else 0
        if v != p:
            cnts.append(c)
            c = 0
            p = v
        c += 1
    cnts.append(c)
    return {'size': [h, w], 'counts': cnts}


def rle_decode(rle):
    h, w = rle['size']
    out = np.zeros(h * w, dtype=np.uint8)
    pos, v = 0, 0
    for c in rle['counts']:
        out[pos:pos + c] = v
        pos += c
        v = 1 - v
    return out.reshape((h, w), order='F')


def rle_area(rle):
    c = rle['counts']
    return sum(c[j] for j in range(1, len(c), 2))


def rle_to_bbox(rle):
    h, w = rle['size']
    cnts = rle['counts']
    m = (len(cnts) // 2) * 2
    xs, ys, xe, ye, cc, xp = w, h, 0, 0, 0, 0
    if m == 0:
        return [0.0, 0.0, 0.0, 0.0]
    for j in range(m):
        cc += cnts[j]
        t = cc - j % 2
        y = t % h
        x = (t - y) // h
        if j % 2 == 0:
            xp = x
        elif xp < x:
            ys = 0
            ye = h - 1
        xs = min(xs, x); xe = max(xe, x); ys = min(ys, y); ye = max(ye, y)
    return [float(xs), float(ys), float(xe - xs + 1), float(ye - ys + 1)]


def bb_iou_one(D, G):
    """bbIou with crowd=0; Python floats are IEEE doubles, no FMA."""
    ga = G[2] * G[3]
    da = D[2] * D[3]
    w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
    if w <= 0:
        return 0.0
    h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
    if h <= 0:
        return 0.0
    i = w * h
    u = da + ga - i
    return i / u


def rle_iou_one(dt, gt):
    """rleIou for one pair (crowd=0), after the bbIou > 0 gate."""
    if bb_iou_one(rle_to_bbox(dt), rle_to_bbox(gt)) <= 0:
        return 0.0
    if dt['size'] != gt['size']:
        return -1.0
    A, B = dt['counts'], gt['counts']
    ka, kb = len(A), len(B)
    ca, cb = A[0], B[0]
    va = vb = False
    a = b = 1
    i = u = 0
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        if va or vb:
            u += c
            if va and vb:
                i += c
        ct = 0
        ca -= c
        if not ca and a < ka:
            ca = A[a]; a += 1; va = not va
        ct += ca
        cb -= c
        if not cb and b < kb:
            cb = B[b]; b += 1; vb = not vb
        ct += cb
    if i == 0:
        u = 1
    return float(i) / float(u)


def iou_matrix(d, g, kind):
    """maskUtils.iou(d, g, iscrowd): [] if either side is empty, else D x G."""
    if len(d) == 0 or len(g) == 0:
        return []
    f = rle_iou_one if kind == 'segm' else bb_iou_one
    return np.array([[f(x, y) for y in g] for x in d], dtype=np.double)


def rle_to_string(counts):
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return ''.join(out)


def rle_fr_string(s):
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << 5 * k
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts


def to_rle(segm):
    """annToRLE for RLE inputs: counts as list or compressed string."""
    if isinstance(segm, dict) and 'counts' in segm:
        c = segm['counts']
        counts = rle_fr_string(c) if isinstance(c, str) else list(c)
        return {'size': list(segm['size']), 'counts': counts}
    raise ValueError('only RLE segmentations are supported')

# ------------------------------------------------------------ COCO / loadRes


class Coco:
    def __init__(self, dataset):
        self.dataset = dataset
        self.imgs = {im['id']: im for im in dataset.get('images', [])}
        self.anns = {a['id']: a for a in dataset.get('annotations', [])}
        self.cats = [c['id'] for c in dataset.get('categories', [])]

    def load_res(self, results):
        """COCO.loadRes for bbox/segm results (bbox branch if the first has a bbox)."""
        anns = [dict(a) for a in results]
        ids = set(a['image_id'] for a in anns)
        assert ids <= set(self.imgs), 'Results do not correspond to current coco set'
        if anns and 'bbox' in anns[0] and anns[0]['bbox'] != []:
            for i, a in enumerate(anns):
                bb = a['bbox']
                if 'segmentation' not in a:
                    raise ValueError('polygon from bbox not supported')
                a['area'] = bb[2] * bb[3]
                a['id'] = i + 1
                a['iscrowd'] = 0
        elif anns and 'segmentation' in anns[0]:
            for i, a in enumerate(anns):
                r = to_rle(a['segmentation'])
                a['area'] = rle_area(r)
                if 'bbox' not in a:
                    a['bbox'] = rle_to_bbox(r)
                a['id'] = i + 1
                a['iscrowd'] = 0
        res = Coco({'images': list(self.imgs.values()), 'annotations': anns,
                    'categories': self.dataset.get('categories', [])})
        return res

# ------------------------------------------------------------ COCOeval port


class CocoEvalRef:
    def __init__(self, gt, dt, iou_type):
        self.gt, self.dt, self.iou_type = gt, dt, iou_type
        self.img_ids = sorted(np.unique(sorted(gt.imgs)).tolist())
        self.cat_ids = sorted(gt.cats)
        self.iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.rec_thrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.max_dets = [1, 10, 100]
        self.area_rng = [0 ** 2, 1e5 ** 2]

    def prepare(self):
        self._gts, self._dts = defaultdict(list), defaultdict(list)
        cats = set(self.cat_ids)
        for a in self.gt.anns.values():
            if a['category_id'] in cats and a['image_id'] in self.gt.imgs:
                g = dict(a)
                if self.iou_type == 'segm':
                    g['segmentation'] = to_rle(a['segmentation'])
                g['ignore'] = 'iscrowd' in g and g['iscrowd']
                self._gts[g['image_id'], g['category_id']].append(g)
        for a in self.dt.anns.values():
            if a['category_id'] in cats:
                d = dict(a)
                if self.iou_type == 'segm':
                    d['segmentation'] = to_rle(a['segmentation'])
                self._dts[d['image_id'], d['category_id']].append(d)

    def compute_iou(self, img, cat):
        gt, dt = self._gts[img, cat], self._dts[img, cat]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in inds]
        if len(dt) > self.max_dets[-1]:
            dt = dt[0:self.max_dets[-1]]
        key = 'segmentation' if self.iou_type == 'segm' else 'bbox'
        return iou_matrix([d[key] for d in dt], [g[key] for g in gt], self.iou_type)

    def evaluate_img(self, img, cat, a_rng, max_det, thrs):
        gt, dt = self._gts[img, cat], self._dts[img, cat]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            g['_ignore'] = 1 if (g['ignore'] or g['area'] < a_rng[0] or g['area'] > a_rng[1]) else 0
        gtind = np.argsort([g['_ignore'] for g in gt], kind='mergesort')
        gt = [gt[i] for i in gtind]
        dtind = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in dtind[0:max_det]]
        iscrowd = [int(o['iscrowd']) for o in gt]
        ious = self.ious[img, cat]
        ious = ious[:, gtind] if len(ious) > 0 else ious
        T, G, D = len(thrs), len(gt), len(dt)
        gtm, dtm = np.zeros((T, G)), np.zeros((T, D))
        gt_ig = np.array([g['_ignore'] for g in gt])
        dt_ig = np.zeros((T, D))
        if not len(ious) == 0:
            for tind, t in enumerate(thrs):
                for dind, d in enumerate(dt):
                    iou = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gt_ig[m] == 0 and gt_ig[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dt_ig[tind, dind] = gt_ig[m]
                    dtm[tind, dind] = gt[m]['id']
                    gtm[tind, m] = d['id']
        a = np.array([d['area'] < a_rng[0] or d['area'] > a_rng[1] for d in dt]).reshape((1, len(dt)))
        dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {'dtMatches': dtm, 'gtIgnore': gt_ig, 'dtIgnore': dt_ig,
                'dtScores': [d['score'] for d in dt], 'nGt': G}

    def evaluate(self):
        self.prepare()
        self.ious = {(i, c): self.compute_iou(i, c) for i in self.img_ids for c in self.cat_ids}
        self.eval_imgs = [self.evaluate_img(i, c, self.area_rng, self.max_dets[-1], self.iou_thrs)
                          for c in self.cat_ids for i in self.img_ids]

    def accumulate(self):
        T, R, K, M = len(self.iou_thrs), len(self.rec_thrs), len(self.cat_ids), len(self.max_dets)
        precision = -np.ones((T, R, K, 1, M))
        recall = -np.ones((T, K, 1, M))
        I0 = len(self.img_ids)
        for k in range(K):
            for m, max_det in enumerate(self.max_dets):
                E = [self.eval_imgs[k * I0 + i] for i in range(I0)]
                E = [e for e in E if e is not None]
                if len(E) == 0:
                    continue
                dt_scores = np.concatenate([e['dtScores'][0:max_det] for e in E])
                inds = np.argsort(-dt_scores, kind='mergesort')
                dtm = np.concatenate([e['dtMatches'][:, 0:max_det] for e in E], axis=1)[:, inds]
                dt_ig = np.concatenate([e['dtIgnore'][:, 0:max_det] for e in E], axis=1)[:, inds]
                gt_ig = np.concatenate([e['gtIgnore'] for e in E])
                npig = np.count_nonzero(gt_ig == 0)
                if npig == 0:
                    continue
                tps = np.logical_and(dtm, np.logical_not(dt_ig))
                fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                    tp, fp = np.array(tp), np.array(fp)
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    q = np.zeros((R,))
                    recall[t, k, 0, m] = rc[-1] if nd else 0
                    pr, q = pr.tolist(), q.tolist()
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    inds2 = np.searchsorted(rc, self.rec_thrs, side='left')
                    try:
                        for ri, pi in enumerate(inds2):
                            q[ri] = pr[pi]
                    except IndexError:
                        pass
                    precision[t, :, k, 0, m] = np.array(q)
        self.precision, self.recall = precision, recall

    def _summ(self, ap, iou_thr=None, thr_slice=None):
        s = self.precision if ap else self.recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == self.iou_thrs)[0]]
        if thr_slice is not None:
            s = s[thr_slice]
        s = s[..., 0, 2] if ap else s[:, :, 0, 2]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    def tpfp(self, t):
        """extension: evaluateImg matching at threshold t, top-100 detections"""
        tp = fp = fn = 0
        for c in self.cat_ids:
            for i in self.img_ids:
                e = self.evaluate_img(i, c, self.area_rng, self.max_dets[-1], [t])
                if e is None:
                    continue
                n_tp = int(np.count_nonzero(e['dtMatches'][0]))
                tp += n_tp
                fp += len(e['dtScores']) - n_tp
                fn += e['nGt'] - n_tp
        return tp, fp, fn

    def result(self, tpfp_iou):
        ap = [self._summ(1, iou_thr=t) for t in self.iou_thrs]
        rec = [self._summ(0, iou_thr=t) for t in self.iou_thrs]
        tp, fp, fn = self.tpfp(tpfp_iou)
        return {'ap': ap, 'map_50_95': self._summ(1), 'map_50_90': self._summ(1, thr_slice=slice(0, 9)),
                'ap50': self._summ(1, iou_thr=.5), 'ap75': self._summ(1, iou_thr=.75),
                'recall': rec, 'mar_50_95': self._summ(0),
                'tpfp': {'iou': tpfp_iou, 'tp': tp, 'fp': fp, 'fn': fn}}


def fmt(x):
    if isinstance(x, dict):
        return '{' + ', '.join('"%s": %s' % (k, fmt(v)) for k, v in x.items()) + '}'
    if isinstance(x, list):
        return '[' + ', '.join(fmt(v) for v in x) + ']'
    if isinstance(x, int):
        return '%d' % x
    return '%.17g' % x


def evaluate_files(gt_path, dt_path, tpfp_iou=0.75):
    with open(gt_path) as f:
        gt = Coco(json.load(f))
    with open(dt_path) as f:
        dt = gt.load_res(json.load(f))
    out = {}
    for kind in ('bbox', 'segm'):
        E = CocoEvalRef(gt, dt, kind)
        E.evaluate()
        E.accumulate()
        out[kind] = E.result(tpfp_iou)
    return fmt(out)

# ------------------------------------------------------------ fixtures


def blob(rng, h, w, cx=None, cy=None):
    """random ellipse mask (row-major h x w bool)"""
    cx = rng.uniform(0, w) if cx is None else cx
    cy = rng.uniform(0, h) if cy is None else cy
    rx, ry = rng.uniform(1.5, 8.0), rng.uniform(1.5, 8.0)
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    if not m.any():
        m[min(int(cy), h - 1), min(int(cx), w - 1)] = True
    return m


def jitter(rng, m):
    """a detection mask: the GT shifted by up to one pixel, maybe grown"""
    dy, dx = rng.choice([-1, 0, 0, 0, 1], size=2)
    out = np.roll(np.roll(m, dy, axis=0), dx, axis=1)
    if rng.random() < 0.3:
        out = out | np.roll(out, 1, axis=1)
    return out


def rle_json(m, compressed):
    r = rle_encode(m)
    if compressed:
        r['counts'] = rle_to_string(r['counts'])
    return r


def make_case(rng, name, n_img, h, w, n_gt, n_fp, score_levels, extra=None):
    images, anns, res = [], [], []
    aid = 1
    img_ids = list(rng.permutation(np.arange(1, n_img + 1) * 7).tolist())  # ids not in order
    for ii, img_id in enumerate(img_ids):
        images.append({'id': img_id, 'width': w, 'height': h, 'file_name': '%s_%d.tif' % (name, img_id)})
        k_gt = n_gt[ii] if isinstance(n_gt, list) else n_gt
        k_fp = n_fp[ii] if isinstance(n_fp, list) else n_fp
        gts = [blob(rng, h, w) for _ in range(k_gt)]
        for m in gts:
            r = rle_encode(m)
            anns.append({'id': aid, 'image_id': img_id, 'category_id': 1, 'iscrowd': 0,
                         'area': float(rle_area(r)), 'bbox': rle_to_bbox(r),
                         'segmentation': rle_json(m, rng.random() < 0.5)})
            aid += 1
        dets = []
        for m in gts:
            for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 (duplicate) detections
                dets.append(jitter(rng, m))
        dets += [blob(rng, h, w) for _ in range(k_fp)]
        for k in rng.permutation(len(dets)).tolist():
            m = dets[k]
            bb = rle_to_bbox(rle_encode(m))
            if rng.random() < 0.5:  # fractional boxes, as a network would give
                bb = [float(bb[0] + rng.uniform(-0.7, 0.7)), float(bb[1] + rng.uniform(-0.7, 0.7)),
                      float(bb[2] * rng.uniform(0.8, 1.2)), float(bb[3] * rng.uniform(0.8, 1.2))]
            score = float(rng.integers(1, score_levels + 1)) / score_levels if score_levels else float(rng.random())
            res.append({'image_id': img_id, 'category_id': 1, 'bbox': bb, 'score': score,
                        'segmentation': rle_json(m, rng.random() < 0.7)})
    if extra:
        extra(rng, images, anns, res)
    gt = {'images': images, 'annotations': anns,
          'categories': [{'id': 1, 'name': 'cell'}]}
    return gt, res


def write_case(outdir, name, gt, res):
    gp = os.path.join(outdir, 'gt_%s.json' % name)
    dp = os.path.join(outdir, 'dt_%s.json' % name)
    with open(gp, 'w') as f:
        json.dump(gt, f, separators=(',', ':'))
    with open(dp, 'w') as f:
        json.dump(res, f, separators=(',', ':'))
    for t in (0.75, 0.5):
        suffix = '' if t == 0.75 else '_iou50'
        with open(os.path.join(outdir, 'expect_%s%s.json' % (name, suffix)), 'w') as f:
            f.write(evaluate_files(gp, dp, t) + '\n')


def pgm16(path, lab):
    h, w = lab.shape
    with open(path, 'wb') as f:
        f.write(b'P5\n%d %d\n65535\n' % (w, h))
        f.write(lab.astype('>u2').tobytes())


def make_label_case(rng, outdir):
    """label images (values above 255, border and one-pixel instances) as PGM,
    plus the same instances as COCO json for the reference."""
    h, w = 30, 40
    gdir, ddir = os.path.join(outdir, 'labels_gt'), os.path.join(outdir, 'labels_dt')
    os.makedirs(gdir, exist_ok=True)
    os.makedirs(ddir, exist_ok=True)
    images, anns, res, csv = [], [], [], ['file,label,score']
    aid = 1
    for ii, name in enumerate(['a', 'b', 'c']):
        gl = np.zeros((h, w), dtype=np.uint16)
        dl = np.zeros((h, w), dtype=np.uint16)
        vals = [300 + 7 * k for k in range(6)]
        for k, v in enumerate(vals):
            m = blob(rng, h, w, cx=0.0 if k == 0 else None)  # k == 0 touches the left border
            gl[m] = v
        gl[h - 1, w - 1] = 65535                              # one-pixel GT in the corner
        for k, v in enumerate(vals[::-1]):
            m = jitter(rng, gl == v) if rng.random() < 0.8 else blob(rng, h, w)
            dl[m & (dl == 0)] = 1000 + 13 * k
        dl[h - 1, w - 1] = 2                                  # one-pixel detection
        pgm16(os.path.join(gdir, name + '.pgm'), gl)
        pgm16(os.path.join(ddir, name + '.pgm'), dl)
        img_id = ii + 1
        images.append({'id': img_id, 'width': w, 'height': h, 'file_name': name + '.pgm'})
        for v in sorted(set(gl.flatten().tolist()) - {0}):
            r = rle_encode(gl == v)
            anns.append({'id': aid, 'image_id': img_id, 'category_id': 1, 'iscrowd': 0,
                         'area': float(rle_area(r)), 'bbox': rle_to_bbox(r), 'segmentation': r})
            aid += 1
        for v in sorted(set(dl.flatten().tolist()) - {0}):
            r = rle_encode(dl == v)
            if rng.random() < 0.7:
                score = float(rng.integers(1, 5)) / 4
                csv.append('%s,%d,%.17g' % (name + '.pgm', v, score))
            else:
                score = 1.0  # absent from the CSV: default 1
            res.append({'image_id': img_id, 'category_id': 1, 'bbox': rle_to_bbox(r),
                        'score': score, 'segmentation': r})
    with open(os.path.join(outdir, 'labels_scores.csv'), 'w') as f:
        f.write('\n'.join(csv) + '\n')
    gt = {'images': images, 'annotations': anns, 'categories': [{'id': 1, 'name': 'cell'}]}
    write_case(outdir, 'labels', gt, res)


def make_fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    # mixed: 4 images, ties within and across images, an image without GT,
    # an image without detections, an image with neither
    def mixed_extra(rng, images, anns, res):
        images.append({'id': 1000, 'width': 64, 'height': 48, 'file_name': 'empty.tif'})
    gt, res = make_case(rng, 'mixed', 4, 48, 64, [5, 0, 6, 4], [2, 3, 1, 0], 4, mixed_extra)
    res = [r for r in res if r['image_id'] != gt['images'][3]['id']]
    write_case(outdir, 'mixed', gt, res)
    # many: more than 100 detections per image, crowded, few score levels
    gt, res = make_case(rng, 'many', 2, 40, 48, 60, 60, 8)
    write_case(outdir, 'many', gt, res)
    # continuous scores, 6 images
    gt, res = make_case(rng, 'random', 6, 32, 40, [3, 8, 1, 5, 0, 7], 2, 0)
    write_case(outdir, 'random', gt, res)
    # no detections at all
    gt, _ = make_case(rng, 'nodt', 2, 24, 24, 3, 0, 4)
    write_case(outdir, 'nodt', gt, [])
    # no GT at all: everything -1
    gt, res = make_case(rng, 'nogt', 2, 24, 24, 0, 3, 4)
    write_case(outdir, 'nogt', gt, res)
    make_label_case(rng, outdir)


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'eval':
        t = 0.75
        if '--tpfp-iou' in sys.argv:
            t = float(sys.argv[sys.argv.index('--tpfp-iou') + 1])
        print(evaluate_files(sys.argv[2], sys.argv[3], t))
    elif len(sys.argv) >= 2 and sys.argv[1] == 'fixtures':
        make_fixtures(sys.argv[2] if len(sys.argv) > 2 else 'tests/fixtures/eval')
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
