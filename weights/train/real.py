#!/usr/bin/python3
"""Real-data training (issue #12): DSB2018 fluorescence nuclei, its validation split, scale / intensity / blur
augmentation, and the semi-synthetic cell fields grown around real nuclei.

    /usr/bin/python3 weights/train/real.py split                      # build/real_data/{train,val}/ (symlinks)
    /usr/bin/python3 weights/train/real.py semi --count 4             # semi-synthetic examples -> build/real_data/semi/
    /usr/bin/python3 weights/train/real.py semi --part val --count 38 --per-image 2 --crop 384 --seed 5000 \
        --preview 0 --out build/real_data/semi_val                   # held-out fields for the cell models
    /usr/bin/python3 weights/train/real.py check                      # sample shapes, timing (no training)

train.py uses it with --real DIR (weights/train/README.md, "Real data"):
  cores:            every sample is a crop of a real image (RealSampler);
  the cell models:  a sample is a semi-synthetic field (SemiSampler: real nucleus image, rendered cells) with
                    probability --semi, otherwise a synthetic fpf_synth scene (data.Sampler), as issue #12 asks.

Data: ../shared/data/dsb2018_train_fluo, NAME.png (8-bit grey) + NAME_labels.tif (uint16), read in place,
never copied. The test folder dsb2018_test_fluo is never read here.

Validation split (fixed, by image, seeded): an image is in "val" when
    int(sha1(b'fpf-issue12-val-1:' + NAME).hexdigest()[:8], 16) % 10 == 0
(about 10 %; does not depend on which other files are in the folder). `split` lists it.
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np
from scipy import ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
import data as D  # noqa: E402

TRAIN_DIR = os.path.join(ROOT, '..', 'shared', 'data', 'dsb2018_train_fluo')
VAL_SEED = b'fpf-issue12-val-1:'
DIAMETER = (8.0, 60.0)       # nucleus diameters the scale augmentation covers (px, log-uniform)
SEMI_DIAMETER = (8.0, 30.0)  # semi-synthetic fields: nuclei smaller, so that their cells fit the crop
ZOOM = (0.2, 5.0)            # zoom clamp (nuclei of 8.6..52 px median in the data)


# ----------------------------------------------------------------------------- data and split
def is_val(name):
    return int(hashlib.sha1(VAL_SEED + name.encode()).hexdigest()[:8], 16) % 10 == 0


def names_in(root):
    return sorted(f[:-len('_labels.tif')] for f in os.listdir(root) if f.endswith('_labels.tif'))


def split(root=TRAIN_DIR):
    """(train names, val names) of the DSB training folder."""
    if 'dsb2018_test_fluo' in os.path.abspath(root):
        raise SystemExit('real.py: %s is the TEST set: never train or tune on it' % root)
    n = names_in(root)
    return [x for x in n if not is_val(x)], [x for x in n if is_val(x)]


def read_png(path):
    from skimage import io
    a = io.imread(path)
    if a.ndim == 3:
        a = a[:, :, 0]
    return np.ascontiguousarray(a)


def median_diameter(labels):
    a = np.bincount(labels.ravel())[1:]
    a = a[a > 0]
    return float(np.median(2.0 * np.sqrt(a / np.pi))) if len(a) else 20.0


class RealSet:
    """The images of one part of the split, loaded once (498 images, ~150 MB as uint8 + uint16)."""

    def __init__(self, root=TRAIN_DIR, part='train'):
        tr, va = split(root)
        self.names = tr if part == 'train' else va if part == 'val' else tr + va
        self.img, self.lab, self.diam = [], [], []
        for n in self.names:
            self.img.append(read_png(os.path.join(root, n + '.png')))
            self.lab.append(D.read_tif(os.path.join(root, n + '_labels.tif')).astype(np.uint16))
            self.diam.append(median_diameter(self.lab[-1]))
        self.n = len(self.names)


# ----------------------------------------------------------------------------- augmentation
def scaled_crop(img, lab, zoom, crop, rng, p_object=0.8):
    """A crop x crop window of the image zoomed by `zoom` (bilinear image, nearest labels); zero padding where
    the zoomed image is smaller than the crop. Only the source window is resampled. With probability p_object
    the window is centred near a random labelled pixel (strong zooms of sparse fields are otherwise often
    empty), else placed uniformly."""
    H, W = lab.shape
    src = crop / zoom
    y0 = rng.uniform(min(0.0, H - src), max(0.0, H - src))
    x0 = rng.uniform(min(0.0, W - src), max(0.0, W - src))
    if src < max(H, W) and rng.rand() < p_object:
        fg = np.flatnonzero(lab[::4, ::4])
        if len(fg):
            k = fg[rng.randint(len(fg))]
            cy, cx = 4 * (k // lab[::4, ::4].shape[1]), 4 * (k % lab[::4, ::4].shape[1])
            y0 = float(np.clip(cy - src / 2 + rng.uniform(-0.25, 0.25) * src, min(0.0, H - src), max(0.0, H - src)))
            x0 = float(np.clip(cx - src / 2 + rng.uniform(-0.25, 0.25) * src, min(0.0, W - src), max(0.0, W - src)))
    yy = y0 + (np.arange(crop) + 0.5) / zoom - 0.5
    xx = x0 + (np.arange(crop) + 0.5) / zoom - 0.5
    inside = ((yy >= -0.5) & (yy <= H - 0.5))[:, None] & ((xx >= -0.5) & (xx <= W - 0.5))[None, :]
    Y, X = np.meshgrid(np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1), indexing='ij')
    im = ndi.map_coordinates(img.astype(np.float32), [Y, X], order=1, mode='nearest')
    lb = lab[np.clip(np.round(Y).astype(int), 0, H - 1), np.clip(np.round(X).astype(int), 0, W - 1)]
    return (im * inside).astype(np.float32), (lb * inside).astype(np.uint16)


def flip_rot(arrs, rng):
    k, fl = int(rng.randint(4)), bool(rng.randint(2))
    out = []
    for a in arrs:
        a = np.rot90(a, k, axes=(0, 1))
        out.append(np.ascontiguousarray(a[:, ::-1] if fl else a))
    return out


def photometric(x, rng):
    """Real 8-bit fields are molded unchanged by the C kit, so the model must see every brightness: per
    channel a gain 0.25..1.5 and a gamma 0.6..1.6 (log-uniform), an offset 0..20, a Gaussian blur of sigma
    0..1.5 px (half the samples), then Poisson-like and Gaussian noise (sigma 0..8 grey levels); 0..255."""
    gam = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    gain = float(np.exp(rng.uniform(np.log(0.25), np.log(1.5))))
    y = np.float32(255.0) * np.power(np.clip(x, 0, 255) / np.float32(255.0), np.float32(gam))
    y = y * np.float32(gain) + np.float32(rng.uniform(0, 20))
    if rng.rand() < 0.5:
        y = ndi.gaussian_filter(y, rng.uniform(0.0, 1.5))
    shot = rng.uniform(0, 0.5)
    y = y + np.sqrt(np.maximum(y, 0) * shot) * rng.standard_normal(y.shape).astype(np.float32)
    y = y + np.float32(rng.uniform(0, 8)) * rng.standard_normal(y.shape).astype(np.float32)
    return np.clip(y, 0, 255).astype(np.float32)


def uneven_contrast(x, lab, rng):
    """The 'contrast' augmentation (issue #12): nuclei of one field at different brightness, as in real
    fields where dim nuclei lie beside bright ones (on the validation split, recall at IoU 0.5 fell from
    0.90 for nuclei near the field's bright end to 0.67 at a fifth to a third of it). Each nucleus gets
    its own gain, log-uniform 0.15..1.2, and every pixel takes the gain of its nearest nucleus (blurred by
    4 px where two regions meet), so that the nucleus's blurred rim and its halo scale with it and no label
    edge appears in the image; a smooth illumination field (gain 0.6..1.0, varying over about a crop)
    multiplies the whole field. Applied to half the samples, before photometric(); gains act above the
    crop's 5th-percentile background."""
    if rng.rand() >= 0.5 or lab.max() == 0:
        return x
    n = int(lab.max())
    g = np.ones(n + 1, np.float32)
    g[1:] = np.exp(rng.uniform(np.log(0.15), np.log(1.2), n)).astype(np.float32)
    iy, ix = ndi.distance_transform_edt(lab == 0, return_distances=False, return_indices=True)
    gain = ndi.gaussian_filter(g[lab[iy, ix]], 4.0)
    H, W = x.shape
    coarse = rng.uniform(0.6, 1.0, (3, 3)).astype(np.float32)
    field = ndi.zoom(coarse, (H / 3.0, W / 3.0), order=1, mode='nearest')[:H, :W]
    bg = np.float32(np.percentile(x, 5))
    return (bg + np.maximum(x - bg, 0) * gain * field).astype(np.float32)


def relabel(lab, min_px=6):
    """1..n labels of the objects with at least min_px pixels left in the crop."""
    a = np.bincount(lab.ravel())
    keep = np.nonzero(a >= min_px)[0]
    keep = keep[keep > 0]
    m = np.zeros(len(a), np.uint16)
    m[keep] = np.arange(1, len(keep) + 1)
    return m[lab]


def zoom_for(diam, rng, rangep=DIAMETER):
    target = float(np.exp(rng.uniform(np.log(rangep[0]), np.log(rangep[1]))))
    return float(np.clip(target / max(diam, 1.0), ZOOM[0], ZOOM[1]))


class RealSampler:
    """Augmented crops of real nucleus images for the cores model: dict like data.Sampler.get()."""

    def __init__(self, rs, rng, crop=256, weighted=False, contrast=False):
        self.rs, self.rng, self.crop, self.weighted, self.contrast = rs, rng, crop, weighted, contrast
        self.n = rs.n

    def get(self, i=None):
        rng = self.rng
        if i is None:
            i = int(rng.randint(self.n))
        z = zoom_for(self.rs.diam[i], rng)
        im, lb = scaled_crop(self.rs.img[i], self.rs.lab[i], z, self.crop, rng)
        im, lb = flip_rot([im, lb], rng)
        lb = relabel(lb)
        if self.contrast:
            im = uneven_contrast(im, lb, rng)
        im = photometric(im, rng)
        boxes, masks = D.instances(lb)
        w = D.border_weight_map(lb) if self.weighted else None
        return dict(inputs=[im[:, :, None]], boxes=boxes, masks=masks, weight=w, index=i, zoom=z)


# ----------------------------------------------------------------------------- semi-synthetic cells
def smooth_noise(shape, sigma, rng):
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return n / (n.std() + 1e-6)


def grow_cells(nuc_labels, rng, size=(2.0, 3.5), touch=0.7, protrusions=(1, 5)):
    """Macrophage-like cells around the given nuclei -> uint16 cell labels (cell k holds nucleus k).

    Each cell is a star-shaped region around its nucleus centre: radius R(theta) = R0 (1 + low harmonics) plus
    1..5 narrow protrusions (lobes 0.15..0.45 rad wide, 1.4..2.8 x R0 long), roughened by an image-wide smooth
    noise field. R0 is size x the nucleus radius, and with probability `touch` at least 0.65 x the distance to
    the nearest other nucleus, so that neighbours touch and dense nuclei give clusters. A pixel goes to the
    cell of smallest normalized distance |p - c| / R(theta) when that is below 1; each cell keeps the connected
    part that holds its nucleus, and every nucleus pixel belongs to its own cell."""
    H, W = nuc_labels.shape
    ids = np.unique(nuc_labels)
    ids = ids[ids > 0]
    cells = np.zeros((H, W), np.uint16)
    if not len(ids):
        return cells
    com = np.array(ndi.center_of_mass(np.ones_like(nuc_labels), nuc_labels, ids))
    area = ndi.sum(np.ones_like(nuc_labels), nuc_labels, ids)
    rn = np.sqrt(np.maximum(area, 1) / np.pi)
    d2 = ((com[:, None, :] - com[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nn = np.sqrt(d2.min(1)) if len(ids) > 1 else np.full(1, np.inf)
    rough = smooth_noise((H, W), 3.0, rng)
    best = np.full((H, W), np.inf, np.float32)
    owner = np.zeros((H, W), np.int32)
    for k in range(len(ids)):
        r0 = rn[k] * rng.uniform(*size)
        if rng.rand() < touch and np.isfinite(nn[k]):
            r0 = max(r0, 0.65 * nn[k])
        r0 = min(r0, 6 * rn[k] + 4)
        th = np.linspace(0, 2 * np.pi, 256, endpoint=False)
        prof = np.ones_like(th)
        for h in (2, 3, 4):
            prof += rng.uniform(0, 0.12) * np.cos(h * th + rng.uniform(0, 2 * np.pi))
        for _ in range(rng.randint(protrusions[0], protrusions[1] + 1)):
            c, wd, ln = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.45), rng.uniform(1.4, 2.8)
            dd = np.angle(np.exp(1j * (th - c)))
            prof = np.maximum(prof, 1 + (ln - 1) * np.exp(-0.5 * (dd / (wd / 2)) ** 2))
        rmax = r0 * prof.max() + 3
        cy, cx = com[k]
        y0, y1 = max(0, int(cy - rmax)), min(H, int(cy + rmax) + 1)
        x0, x1 = max(0, int(cx - rmax)), min(W, int(cx + rmax) + 1)
        Y, X = np.mgrid[y0:y1, x0:x1]
        dy, dx = Y - cy, X - cx
        ang = (np.arctan2(dy, dx) % (2 * np.pi)) * (256 / (2 * np.pi))
        rad = r0 * np.interp(ang, np.arange(257), np.append(prof, prof[0]))
        nd = np.sqrt(dy * dy + dx * dx) / rad * (1 + 0.12 * rough[y0:y1, x0:x1])
        win_b, win_o = best[y0:y1, x0:x1], owner[y0:y1, x0:x1]
        take = (nd < 1) & (nd < win_b)
        win_b[take] = nd[take]
        win_o[take] = k + 1
    lab_of = np.zeros(int(ids.max()) + 1, np.int32)
    lab_of[ids] = np.arange(1, len(ids) + 1)
    own_n = lab_of[nuc_labels]
    owner[own_n > 0] = own_n[own_n > 0]
    sl = ndi.find_objects(owner)
    for k, s in enumerate(sl):
        if s is None:
            continue
        m = owner[s] == k + 1
        cc, n = ndi.label(m)
        if n > 1:
            keep = np.unique(cc[(own_n[s] == k + 1) & m])
            keep = keep[keep > 0]
            m &= np.isin(cc, keep) if len(keep) else cc == np.argmax(np.bincount(cc.ravel())[1:]) + 1
        cells[s][m] = k + 1
    return cells


def render_cytoplasm(cells, nuc_labels, rng):
    """A cytoplasm-stain channel (float, arbitrary units ~ 16-bit counts) for the cell labels: per-cell
    brightness (log-normal), brighter around the nucleus and dimmer towards protrusion tips, textured, the
    nucleus itself dimmer, thin bright rims where cells touch in half the fields, camera offset, PSF blur and
    shot / read noise."""
    H, W = cells.shape
    n = int(cells.max())
    lev = np.concatenate([[0.0], np.exp(rng.normal(0, 0.45, n))]).astype(np.float32)
    base = lev[cells]
    dist_in = ndi.distance_transform_edt(cells > 0).astype(np.float32)
    dn = ndi.distance_transform_edt(nuc_labels == 0).astype(np.float32)
    peri = np.exp(-dn / rng.uniform(6, 20)).astype(np.float32)
    tex = 1 + 0.25 * smooth_noise((H, W), rng.uniform(1.0, 3.0), rng)
    y = base * (0.55 + 0.45 * peri + 0.25 * np.minimum(dist_in / 6.0, 1)) * np.clip(tex, 0.3, None)
    y *= np.where(nuc_labels > 0, np.float32(rng.uniform(0.5, 1.0)), np.float32(1.0))
    if rng.rand() < 0.5:
        edge = np.zeros((H, W), bool)
        edge[:-1] |= (cells[:-1] != cells[1:]) & (cells[:-1] > 0) & (cells[1:] > 0)
        edge[:, :-1] |= (cells[:, :-1] != cells[:, 1:]) & (cells[:, :-1] > 0) & (cells[:, 1:] > 0)
        y = y + edge * base * np.float32(rng.uniform(0.2, 0.6))
    y = ndi.gaussian_filter(y, rng.uniform(0.8, 2.0))
    peak = rng.uniform(800, 20000)
    y = 100 + y / max(float(np.percentile(y, 99.5)), 1e-6) * peak
    y = rng.poisson(np.maximum(y, 0)).astype(np.float32) + rng.normal(0, rng.uniform(2, 15), (H, W))
    return np.clip(y, 0, 65535).astype(np.uint16)


def semi_field(img, lab, rng, crop=256, zoom=None, diam=None):
    """One semi-synthetic field: (nucleus float 0..255 = the real image, augmented; cell uint16; nucleus
    labels; cell labels), all crop x crop."""
    if zoom is None:
        zoom = zoom_for(diam if diam else median_diameter(lab), rng, SEMI_DIAMETER)
    im, nl = scaled_crop(img, lab, zoom, crop, rng)
    im, nl = flip_rot([im, nl], rng)
    nl = relabel(nl)
    cl = grow_cells(nl, rng)
    cell = render_cytoplasm(cl, nl, rng)
    return photometric(im, rng), cell, nl, cl


class SemiSampler:
    """Samples for the cell variants: with probability p_semi a semi-synthetic field around real nuclei,
    otherwise a synthetic fpf_synth scene from data.Sampler (`synth`, may be None when p_semi == 1)."""

    def __init__(self, rs, variant, rng, synth=None, p_semi=0.5, crop=256, weighted=False):
        self.rs, self.variant, self.rng, self.synth = rs, variant, rng, synth
        self.p, self.crop, self.weighted = p_semi, crop, weighted
        self.n = rs.n

    def get(self, i=None):
        rng = self.rng
        if self.synth is not None and rng.rand() >= self.p:
            return self.synth.get()
        if i is None:
            i = int(rng.randint(self.n))
        nuc, cell16, nl, cl = semi_field(self.rs.img[i], self.rs.lab[i], rng, self.crop, diam=self.rs.diam[i])
        cell = D.intensity(D.norm16(cell16)[:, :, None], rng)   # the C kit's 16-bit percentile mapping
        v = self.variant
        inputs = ([cell] if v == 'without_nucleus' else [np.concatenate([cell, nuc[:, :, None]], 2)]
                  if v == 'with_nucleus' else [cell, nuc[:, :, None]])
        boxes, masks = D.instances(cl)
        w = D.border_weight_map(cl) if self.weighted else None
        return dict(inputs=inputs, boxes=boxes, masks=masks, weight=w, index=-1 - i)


def make_sampler(args, variant, rng, synth_data=None):
    """The sampler train.py uses with --real (cores: RealSampler; cell variants: SemiSampler)."""
    rs = RealSet(args.real, 'train')
    if variant == 'cores':
        return RealSampler(rs, rng, args.crop, args.weighted, contrast=args.aug == 'contrast')
    synth = D.Sampler(synth_data, variant, rng, args.weighted, args.aug) if synth_data is not None else None
    return SemiSampler(rs, variant, rng, synth, args.semi, args.crop, args.weighted)


# ----------------------------------------------------------------------------- command line
def cmd_split(a):
    tr, va = split(a.root)
    out = os.path.join(ROOT, 'build', 'real_data')
    for part, names in (('train', tr), ('val', va)):
        d = os.path.join(out, part)
        os.makedirs(d, exist_ok=True)
        for n in names:
            for suf in ('.png', '_labels.tif'):
                dst = os.path.join(d, n + suf)
                if not os.path.lexists(dst):
                    os.symlink(os.path.abspath(os.path.join(a.root, n + suf)), dst)
    with open(os.path.join(out, 'split.txt'), 'w') as f:
        f.write(''.join('%s %s\n' % ('val' if is_val(n) else 'train', n) for n in sorted(tr + va)))
    print('split: %d train, %d val images -> %s/{train,val}/ (symlinks), split.txt' % (len(tr), len(va), out))


def write_tif(path, a):
    import tifffile
    tifffile.imwrite(path, a)


def cmd_semi(a):
    """Semi-synthetic fields under build/ only (the nucleus channel is real data: never commit them): --count
    images of the --part split, --per-image fields each, named NAME[_K]. With --part val they are a held-out
    set for the cell models (their training never sees the validation images): evaluate.py --set-dir OUT
    --gt-suffix cell_labels."""
    rs_names = split(a.root)[0 if a.part == 'train' else 1][:a.count]
    out = a.out
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(a.seed)
    todo = [(n, k) for n in rs_names for k in range(a.per_image)]
    for n0, k in todo:
        n = n0 if a.per_image == 1 else '%s_%d' % (n0, k)
        img = read_png(os.path.join(a.root, n0 + '.png'))
        lab = D.read_tif(os.path.join(a.root, n0 + '_labels.tif')).astype(np.uint16)
        t0 = time.time()
        nuc, cell, nl, cl = semi_field(img, lab, rng, a.crop)
        write_tif(os.path.join(out, n + '_cell.tif'), cell)
        write_tif(os.path.join(out, n + '_nucleus.tif'), np.clip(nuc, 0, 255).astype(np.uint8))
        write_tif(os.path.join(out, n + '_cell_labels.tif'), cl)
        write_tif(os.path.join(out, n + '_nucleus_labels.tif'), nl)
        sizes = np.bincount(cl.ravel())[1:]
        touching = int(((cl[:-1] != cl[1:]) & (cl[:-1] > 0) & (cl[1:] > 0)).sum())
        print('%s: %d nuclei, %d cells (median %d px), %d touching border px, %.2f s -> %s' %
              (n, nl.max(), (sizes > 0).sum(), np.median(sizes[sizes > 0]) if sizes.any() else 0, touching,
               time.time() - t0, out))
        if not a.preview:
            continue
        c = D.norm16(cell)
        rgb = np.stack([c, 0.5 * c, np.clip(nuc, 0, 255)], -1)
        edge = np.zeros(cl.shape, bool)
        edge[:-1] |= cl[:-1] != cl[1:]
        edge[:, :-1] |= cl[:, :-1] != cl[:, 1:]
        rgb[edge] = (255, 255, 0)
        from skimage import io
        io.imsave(os.path.join(out, n + '_preview.png'), rgb.astype(np.uint8), check_contrast=False)
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        f.write('real.py semi --part %s --count %d --per-image %d --crop %d --seed %d\n' %
                (a.part, a.count, a.per_image, a.crop, a.seed))


def cmd_check(a):
    tr, va = split(a.root)
    print('split: %d train, %d val' % (len(tr), len(va)))
    rs = RealSet(a.root, 'val')
    rng = np.random.RandomState(1)
    s = RealSampler(rs, rng, a.crop)
    t0 = time.time()
    for _ in range(8):
        x = s.get()
        print('cores sample %3d: input %s, %3d nuclei, zoom %.2f' % (x['index'], x['inputs'][0].shape,
                                                                     len(x['boxes']), x['zoom']))
    print('%.2f s per sample' % ((time.time() - t0) / 8))
    ss = SemiSampler(rs, 'fpf_add', rng, None, 1.0, a.crop)
    t0 = time.time()
    for _ in range(4):
        x = ss.get()
        print('fpf_add sample: inputs %s, %3d cells' % ([i.shape for i in x['inputs']], len(x['boxes'])))
    print('%.2f s per semi-synthetic sample' % ((time.time() - t0) / 4))
    # properties of the grown cells on 20 fields: one cell per nucleus, nucleus inside its own cell, one
    # connected piece per cell (unless its nucleus is split), and neighbours that touch
    bad, touch, total = 0, 0, 0
    for j in range(20):
        i = j % rs.n
        _, cell, nl, cl = semi_field(rs.img[i], rs.lab[i], rng, a.crop, diam=rs.diam[i])
        n = int(nl.max())
        ok = int(cl.max()) == n and np.all(cl[nl > 0] == nl[nl > 0])
        for k, sl in enumerate(ndi.find_objects(cl)):
            if sl is None:
                continue
            pieces = ndi.label(cl[sl] == k + 1)[1]
            ok &= pieces <= max(1, ndi.label(nl[sl] == k + 1)[1])
        nb = np.zeros(n + 1, bool)
        for A, B in ((cl[:-1], cl[1:]), (cl[:, :-1], cl[:, 1:])):
            e = (A != B) & (A > 0) & (B > 0)
            nb[A[e]] = nb[B[e]] = True
        bad += not ok
        touch += int(nb[1:].sum())
        total += n
    print('grown cells: %d of 20 fields break a rule; %d of %d cells touch a neighbour' % (bad, touch, total))
    if bad:
        raise SystemExit('real.py check: grown cells break a rule')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('cmd', choices=('split', 'semi', 'check'))
    ap.add_argument('--root', default=TRAIN_DIR)
    ap.add_argument('--count', type=int, default=4)
    ap.add_argument('--crop', type=int, default=256)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', default=os.path.join(ROOT, 'build', 'real_data', 'semi'))
    ap.add_argument('--part', default='train', choices=('train', 'val'), help='semi: images of this split')
    ap.add_argument('--per-image', type=int, default=1, help='semi: fields per image')
    ap.add_argument('--preview', type=int, default=1, help='semi: also write NAME_preview.png (1) or not (0)')
    a = ap.parse_args()
    if not os.path.isdir(a.root):
        sys.exit('real.py: %s not found' % a.root)
    {'split': cmd_split, 'semi': cmd_semi, 'check': cmd_check}[a.cmd](a)


if __name__ == '__main__':
    main()
