"""Training data for the FPF models: synthetic scenes from build/fpf_synth, normalized exactly as the C kit.

The C kit (fpf.h fpf__norm16, default FPF_NORM16_PERCENTILE) maps a 16-bit image to float 0..255 with
per-image percentiles: lo = sorted[floor(0.1f/100 * (n-1))], hi = sorted[floor(99.9f/100 * (n-1))],
v = clip(((float)x - lo) * (255.0f / (hi - lo)), 0, 255) in float32, not rounded; then molding
(v - 112.5f) / 255.0f. norm16() below reproduces that bit for bit, so training sees what inference sees.
"""
import os
import subprocess

import numpy as np
from scipy import ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))


def read_tif(path):
    from skimage import io
    return io.imread(path)


def hist_percentile(img, p):
    """fpf__hist_percentile: sorted[floor((double)p / 100 * (n - 1))] with p a float32."""
    flat = np.sort(img.ravel())
    rank = int(float(np.float32(p)) / 100.0 * float(flat.size - 1))
    return float(flat[rank])


def norm_params(img):
    lo = hist_percentile(img, 0.1)
    hi = hist_percentile(img, 99.9)
    if not hi > lo:
        hi = lo + 1.0
    return np.float32(lo), np.float32(np.float32(255.0) / np.float32(hi - lo))


def norm16(img, lo=None, k=None):
    """uint16 image -> float32 0..255 as the C kit's default percentile mapping."""
    if lo is None:
        lo, k = norm_params(img)
    v = (img.astype(np.float32) - np.float32(lo)) * np.float32(k)
    return np.clip(v, np.float32(0.0), np.float32(255.0)).astype(np.float32)


def generate(out_dir, count, size, first_seed=None):
    """Runs build/fpf_synth --set train (seeds 100000.. unless first_seed) into out_dir if not there yet."""
    if os.path.exists(os.path.join(out_dir, 'manifest.txt')):
        return
    exe = os.path.join(ROOT, 'build', 'fpf_synth')
    if not os.path.exists(exe):
        subprocess.check_call(['make', '-C', ROOT, 'build/fpf_synth'])
    cmd = [exe, '--set', 'train', '--count', str(count), '--width', str(size), '--height', str(size),
           '--out', out_dir, '--quiet']
    if first_seed is not None:
        cmd += ['--seed', str(first_seed)]
    subprocess.check_call(cmd)


def load_set(src_dir, cache_path):
    """Loads every train_NNNNN scene of src_dir into one npz cache (raw uint16 + norm params + labels)."""
    if os.path.exists(cache_path):
        z = np.load(cache_path)
        return {k: z[k] for k in z.files}
    names = sorted(f[:-len('_cell.tif')] for f in os.listdir(src_dir) if f.endswith('_cell.tif'))
    cell, nuc, cl, nl, prm = [], [], [], [], []
    for n in names:
        c = read_tif(os.path.join(src_dir, n + '_cell.tif'))
        u = read_tif(os.path.join(src_dir, n + '_nucleus.tif'))
        cell.append(c)
        nuc.append(u)
        cl.append(read_tif(os.path.join(src_dir, n + '_cell_labels.tif')).astype(np.uint16))
        nl.append(read_tif(os.path.join(src_dir, n + '_nucleus_labels.tif')).astype(np.uint16))
        prm.append(list(norm_params(c)) + list(norm_params(u)))
    d = dict(cell=np.stack(cell), nucleus=np.stack(nuc), cell_labels=np.stack(cl), nucleus_labels=np.stack(nl),
             params=np.array(prm, np.float32), names=np.array(names))
    tmp = cache_path + '.tmp.npz'
    np.savez(tmp, **d)
    os.replace(tmp, cache_path)
    return d


def border_weight_map(labels, ksize=25, sigma=5.0):
    """The paper's weighted mask loss map: cell contours (pixels whose 4-neighbourhood holds another label),
    blurred with a ksize x ksize Gaussian of the given sigma (cv2.GaussianBlur equivalent: truncate at the
    kernel radius), scaled to max 1, plus 1 -> weights 1..2 (2 on borders between / around cells)."""
    L = labels
    edge = np.zeros(L.shape, bool)
    edge[:-1] |= L[:-1] != L[1:]
    edge[1:] |= L[:-1] != L[1:]
    edge[:, :-1] |= L[:, :-1] != L[:, 1:]
    edge[:, 1:] |= L[:, :-1] != L[:, 1:]
    edge &= L > 0
    r = ksize // 2
    g = ndi.gaussian_filter(edge.astype(np.float32), sigma, truncate=r / sigma, mode='reflect')
    m = g.max()
    if m > 0:
        g = g / m
    return (1.0 + g).astype(np.float32)


def instances(labels):
    """label image -> (boxes_norm [n,4] float32 normalized (matterport norm_boxes), masks [n,H,W] bool)."""
    ids = np.unique(labels)
    ids = ids[ids > 0]
    H, W = labels.shape
    boxes, masks = [], []
    sl = ndi.find_objects(labels.astype(np.int32))
    for i in ids:
        s = sl[i - 1]
        if s is None:
            continue
        y1, y2, x1, x2 = s[0].start, s[0].stop, s[1].start, s[1].stop
        if (y2 - y1) < 2 or (x2 - x1) < 2:
            continue
        boxes.append([y1, x1, y2, x2])
        masks.append(labels == i)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0, H, W), bool)
    b = np.array(boxes, np.float64)
    # norm_boxes: (b - [0,0,1,1]) / [H-1, W-1, H-1, W-1]
    b = (b - np.array([0, 0, 1, 1])) / np.array([H - 1, W - 1, H - 1, W - 1])
    return b.astype(np.float32), np.stack(masks)


AUGS = ('basic', 'strong')


def rescale(inputs, labels, rng, lo=0.7, hi=1.4):
    """'strong' augmentation, geometry: zoom by s (log-uniform in lo..hi; bilinear images, nearest labels),
    then a random crop (s > 1) or a zero pad at a random offset (s < 1) back to the original size."""
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    H, W = labels.shape
    z = [ndi.zoom(x, (s, s, 1), order=1) for x in inputs]
    zl = ndi.zoom(labels, s, order=0)
    h, w = zl.shape
    oy, ox = int(rng.randint(abs(h - H) + 1)), int(rng.randint(abs(w - W) + 1))

    def fit(a):
        if h >= H:
            return np.ascontiguousarray(a[oy:oy + H, ox:ox + W])
        o = np.zeros((H, W) + a.shape[2:], a.dtype)
        o[oy:oy + h, ox:ox + w] = a
        return o
    return [fit(x).astype(np.float32) for x in z], fit(zl)


def intensity(x, rng):
    """'strong' augmentation, per channel: gamma 0.7..1.4 and gain 0.3..1.2 (both log-uniform), then
    Gaussian noise of sigma 0..6 grey levels; clipped to 0..255. Real images are often dimmer and less
    uniform than the synthetic ones after the percentile mapping (a few bright cells set the 99.9 %)."""
    C = x.shape[2]
    gam = np.exp(rng.uniform(np.log(0.7), np.log(1.4), size=(1, 1, C))).astype(np.float32)
    gain = np.exp(rng.uniform(np.log(0.3), np.log(1.2), size=(1, 1, C))).astype(np.float32)
    sig = rng.uniform(0.0, 6.0, size=(1, 1, C)).astype(np.float32)
    y = np.float32(255.0) * np.power(np.clip(x, 0, 255) / np.float32(255.0), gam) * gain
    y = y + sig * rng.standard_normal(x.shape).astype(np.float32)
    return np.clip(y, 0, 255).astype(np.float32)


class Sampler:
    """Random augmented samples for one variant: dict(inputs=[HxWxC float 0..255 arrays], labels, weight)."""

    def __init__(self, data, variant, rng, weighted=False, aug='basic'):
        self.d, self.variant, self.rng, self.weighted = data, variant, rng, weighted
        if aug not in AUGS:
            raise ValueError('augmentation %r, expected one of %s' % (aug, AUGS))
        self.aug = aug
        self.n = data['cell'].shape[0]

    def get(self, i=None):
        d, rng = self.d, self.rng
        if i is None:
            i = int(rng.randint(self.n))
        p = d['params'][i]
        cell = norm16(d['cell'][i], p[0], p[1])
        nuc = norm16(d['nucleus'][i], p[2], p[3])
        if self.variant == 'cores':
            labels = d['nucleus_labels'][i]
            inputs = [nuc[:, :, None]]
        elif self.variant == 'without_nucleus':
            labels = d['cell_labels'][i]
            inputs = [cell[:, :, None]]
        elif self.variant == 'with_nucleus':
            labels = d['cell_labels'][i]
            inputs = [np.stack([cell, nuc], -1)]
        else:
            labels = d['cell_labels'][i]
            inputs = [cell[:, :, None], nuc[:, :, None]]
        # augmentation: the 8 flips/rotations (square scenes); 'basic': mild per-channel contrast jitter,
        # 'strong': zoom 0.7..1.4, gamma, gain and noise per channel (rescale(), intensity())
        k = int(rng.randint(4))
        fl = bool(rng.randint(2))

        def aug(a):
            a = np.rot90(a, k, axes=(0, 1))
            if fl:
                a = a[:, ::-1]
            return np.ascontiguousarray(a)
        inputs = [aug(x) for x in inputs]
        labels = aug(labels)
        if self.aug == 'strong':
            inputs, labels = rescale(inputs, labels, rng)
            out = [intensity(x, rng) for x in inputs]
        else:
            out = []
            for x in inputs:
                g = rng.uniform(0.85, 1.15, size=(1, 1, x.shape[2])).astype(np.float32)
                out.append(np.clip(x * g, 0, 255).astype(np.float32))
        w = border_weight_map(labels) if self.weighted else None
        boxes, masks = instances(labels)
        return dict(inputs=out, boxes=boxes, masks=masks, weight=w, index=i)
