#!/usr/bin/python3
"""Check an fpf_segment output folder with readers independent of the C kit (issue #14). Run by hand:

    /usr/bin/python3 weights/tools/check_outputs.py OUT [--pixel-size UM]

- cells.tif / nuclei.tif through tifffile (Debian python3-tifffile): integer labels, an ImageJ
  description, and with a pixel size its resolution tags (XResolution = pixels per micron);
- cells.csv / nuclei.csv against the TIFF: one row per label, AreaShape_Area = the pixel count,
  bounding box and centroid; with scikit-image (python3-skimage) also perimeter, major/minor axis
  and eccentricity against regionprops;
- cells_coco.json (if present): every RLE decoded with this file's own decoder, written from the
  COCO spec (column-major runs, compressed counts: 5 bits per char + 48, continuation bit 0x20,
  sign bit 0x10, delta from the count two back for i > 2), must equal (labels == ObjectNumber),
  with bbox [x, y, w, h] the mask's box.
Prints one line per check and exits 1 on the first failure. Needs python3-numpy and python3-tifffile.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import tifffile


def fail(msg):
    print('FAIL', msg)
    sys.exit(1)


def rle_decode(counts, h, w):
    """COCO compressed RLE string -> h x w uint8 mask (maskApi.c rleFrString + rleDecode)."""
    cnts, i, s = [], 0, counts.encode()
    while i < len(s):
        x, k, more = 0, 0, True
        while more:
            c = s[i] - 48
            x |= (c & 0x1f) << 5 * k
            more = bool(c & 0x20)
            i += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    flat = np.zeros(h * w, np.uint8)
    pos, val = 0, 0
    for c in cnts:
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    if pos != h * w:
        fail('RLE counts sum to %d, not %d' % (pos, h * w))
    return flat.reshape(w, h).T  # column-major


def check_tiff(path, pixel_size):
    with tifffile.TiffFile(path) as t:
        lab = t.asarray()
        page = t.pages[0]
        ij = t.imagej_metadata
        if lab.dtype not in (np.uint16, np.uint32):
            fail('%s: dtype %s' % (path, lab.dtype))
        if not ij:
            fail('%s: no ImageJ metadata' % path)
        print('ok   %s: %s %s, ImageJ metadata %s' % (path, lab.dtype, lab.shape, ij))
        if pixel_size:
            xr = page.tags['XResolution'].value
            got = xr[1] / xr[0]
            if abs(got - pixel_size) > 1e-9 or ij.get('unit') != 'micron':
                fail('%s: pixel size %r unit %r, expected %r micron' % (path, got, ij.get('unit'), pixel_size))
            print('ok   %s: pixel size %g micron (XResolution %d/%d px per micron)' % (path, got, xr[0], xr[1]))
    return lab


def check_csv(path, lab, pixel_size):
    rows = list(csv.DictReader(open(path)))
    n = int(lab.max())
    if len(rows) != n:
        fail('%s: %d rows, %d labels' % (path, len(rows), n))
    area = np.bincount(lab.ravel(), minlength=n + 1)
    for r in rows:
        k = int(r['ObjectNumber'])
        ys, xs = np.nonzero(lab == k)
        if int(r['AreaShape_Area']) != area[k]:
            fail('%s: object %d area %s, TIFF %d' % (path, k, r['AreaShape_Area'], area[k]))
        if area[k] == 0:
            continue
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        got = tuple(int(r[c]) for c in ('AreaShape_BoundingBoxMinimum_X', 'AreaShape_BoundingBoxMinimum_Y',
                                         'AreaShape_BoundingBoxMaximum_X', 'AreaShape_BoundingBoxMaximum_Y'))
        if got != box:
            fail('%s: object %d box %s, TIFF %s' % (path, k, got, box))
        if abs(float(r['AreaShape_Center_X']) - xs.mean()) > 1e-3 or abs(float(r['AreaShape_Center_Y']) - ys.mean()) > 1e-3:
            fail('%s: object %d centroid' % (path, k))
        if pixel_size and abs(float(r['AreaShape_Area_um2']) - area[k] * pixel_size ** 2) > 1e-3 * area[k]:
            fail('%s: object %d calibrated area' % (path, k))
    print('ok   %s: %d rows; area, box and centroid match the TIFF' % (path, len(rows)))
    try:
        from skimage.measure import regionprops
    except ImportError:
        print('skip %s: no scikit-image for perimeter/axes' % path)
        return rows
    worst = 0.0
    by = {int(r['ObjectNumber']): r for r in rows}
    for p in regionprops(lab.astype(np.int32)):
        r = by[p.label]
        for col, v in (('AreaShape_Perimeter', p.perimeter), ('AreaShape_MajorAxisLength', p.major_axis_length),
                       ('AreaShape_MinorAxisLength', p.minor_axis_length),
                       ('AreaShape_Eccentricity', p.eccentricity)):
            d = abs(float(r[col]) - v)
            worst = max(worst, d / max(1.0, abs(v)))
            if d > 1e-3 * max(1.0, abs(v)):
                fail('%s: object %d %s %s, scikit-image %r' % (path, p.label, col, r[col], v))
    print('ok   %s: perimeter, major/minor axis, eccentricity match scikit-image regionprops (worst rel. diff %.2g)'
          % (path, worst))
    return rows


def check_coco(path, lab, rows):
    res = json.load(open(path))
    score = {int(r['ObjectNumber']): float(r['Score']) for r in rows}
    h, w = lab.shape
    for d in res:
        seg = d['segmentation']
        if seg['size'] != [h, w]:
            fail('%s: size %s' % (path, seg['size']))
        m = rle_decode(seg['counts'], h, w)
        ks = np.unique(lab[m > 0])
        if len(ks) != 1 or ks[0] == 0:
            fail('%s: a mask covers labels %s' % (path, ks))
        k = int(ks[0])
        if not np.array_equal(m > 0, lab == k):
            fail('%s: mask of label %d differs from the TIFF' % (path, k))
        ys, xs = np.nonzero(m)
        box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        if [round(v) for v in d['bbox']] != [int(v) for v in box]:
            fail('%s: label %d bbox %s, mask %s' % (path, k, d['bbox'], box))
        if abs(d['score'] - score[k]) > 1e-5:
            fail('%s: label %d score %s, CSV %s' % (path, k, d['score'], score[k]))
    if len(res) != len([k for k in np.unique(lab) if k]):
        fail('%s: %d results, %d labels' % (path, len(res), len(np.unique(lab)) - 1))
    print('ok   %s: %d RLE masks decode (own decoder) to the TIFF labels; boxes and scores match' % (path, len(res)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--pixel-size', type=float)
    a = ap.parse_args()
    for kind in ('cells', 'nuclei'):
        tif = os.path.join(a.out, kind + '.tif')
        if not os.path.exists(tif):
            continue
        lab = check_tiff(tif, a.pixel_size)
        rows = check_csv(os.path.join(a.out, kind + '.csv'), lab, a.pixel_size)
        coco = os.path.join(a.out, kind + '_coco.json')
        if os.path.exists(coco):
            check_coco(coco, lab, rows)
    print('all checks passed')


if __name__ == '__main__':
    main()
