"""Seeded raw-weight generator of CONTRACT.md section 3 (splitmix64 counter form, fnv1a64 keys).

    import seeded
    names = seeded.raw_tensor_list('tiny', 'fpf_add')          # [(name, shape), ...]
    raw   = seeded.make_raw_weights('tiny', 'fpf_add', seed=1, nucleus_seed=7)   # {name: float32 array}

Run as a script to print the tensor list and a few checksums:
    /usr/bin/python3 weights/reference/seeded.py tiny fpf_add 1 7
"""
import math
import sys

import numpy as np

CONFIGS = {
    'paper': dict(stem=64, blocks=(2, 2, 4, 2), f1=(32, 64, 128, 256), f3=(128, 256, 512, 1024),
                  fpn=256, rpn=512, fc=1024, mask=256),
    'tiny': dict(stem=16, blocks=(2, 2, 4, 2), f1=(8, 16, 32, 64), f3=(32, 64, 128, 256),
                 fpn=32, rpn=64, fc=128, mask=32),
    # issue #12: twice the tiny widths (a quarter of the paper's), for real nuclei; training tools only
    'small': dict(stem=32, blocks=(2, 2, 4, 2), f1=(16, 32, 64, 128), f3=(64, 128, 256, 512),
                  fpn=64, rpn=128, fc=256, mask=64),
}
VARIANTS = ('cores', 'without_nucleus', 'with_nucleus', 'fpf_add', 'fpf_concat')
CORE_SUFFIX = '_core'
OUTPUT_LAYERS = ('rpn_class_raw', 'rpn_bbox_pred', 'mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_mask')
NUM_CLASSES = 2
ANCHORS_PER_LOC = 3

M64 = (1 << 64) - 1
# Contract section 3: hidden conv/dense kernels +-sqrt(KERNEL_GAIN / fan_in), deconv +-sqrt(KERNEL_GAIN / m_in),
# output layers +-sqrt(OUTPUT_GAIN / fan_in). Overridable per call only for experiments (see NOTES.md).
KERNEL_GAIN = 3.0
OUTPUT_GAIN = 3.0
# CONTRACT.md §3 (revised): the class and mask logits get more spread.
LAYER_GAIN = {'mrcnn_class_logits': 100.0, 'mrcnn_mask': 300.0}


def is_fpf(variant):
    return variant in ('fpf_add', 'fpf_concat')


def input_channels(variant):
    return 2 if variant == 'with_nucleus' else 1


def pyramid_depth(cfg, variant):
    c = CONFIGS[cfg] if isinstance(cfg, str) else cfg
    return 2 * c['fpn'] if variant == 'fpf_concat' else c['fpn']


def _conv(layers, name, kh, kw, cin, cout):
    layers.append((name, 'conv', (kh, kw, cin, cout)))


def _bn(layers, name, c):
    layers.append((name, 'bn', (c,)))


def tower_layers(c, cin, suffix=''):
    """Layer list of one backbone+FPN tower: (layer name, kind, kernel shape or (channels,))."""
    L = []
    _conv(L, 'conv1' + suffix, 7, 7, cin, c['stem'])
    _bn(L, 'bn_conv1' + suffix, c['stem'])
    ch = c['stem']
    for si, stage in enumerate((2, 3, 4, 5)):
        f1, f3 = c['f1'][si], c['f3'][si]
        for bi in range(c['blocks'][si]):
            blk = chr(97 + bi)
            cb = 'res%d%s_branch' % (stage, blk)
            bb = 'bn%d%s_branch' % (stage, blk)
            _conv(L, cb + '2a' + suffix, 1, 1, ch, f1)
            _bn(L, bb + '2a' + suffix, f1)
            _conv(L, cb + '2b' + suffix, 3, 3, f1, f1)
            _bn(L, bb + '2b' + suffix, f1)
            _conv(L, cb + '2c' + suffix, 1, 1, f1, f3)
            _bn(L, bb + '2c' + suffix, f3)
            if bi == 0:
                _conv(L, cb + '1' + suffix, 1, 1, ch, f3)
                _bn(L, bb + '1' + suffix, f3)
            ch = f3
    F = c['fpn']
    _conv(L, 'fpn_c5p5' + suffix, 1, 1, c['f3'][3], F)
    _conv(L, 'fpn_c4p4' + suffix, 1, 1, c['f3'][2], F)
    _conv(L, 'fpn_c3p3' + suffix, 1, 1, c['f3'][1], F)
    _conv(L, 'fpn_c2p2' + suffix, 1, 1, c['f3'][0], F)
    for k in (2, 3, 4, 5):
        _conv(L, 'fpn_p%d' % k + suffix, 3, 3, F, F)
    return L


def head_layers(c, D):
    L = []
    A = ANCHORS_PER_LOC
    _conv(L, 'rpn_conv_shared', 3, 3, D, c['rpn'])
    _conv(L, 'rpn_class_raw', 1, 1, c['rpn'], 2 * A)
    _conv(L, 'rpn_bbox_pred', 1, 1, c['rpn'], 4 * A)
    fc, m = c['fc'], c['mask']
    _conv(L, 'mrcnn_class_conv1', 7, 7, D, fc)
    _bn(L, 'mrcnn_class_bn1', fc)
    _conv(L, 'mrcnn_class_conv2', 1, 1, fc, fc)
    _bn(L, 'mrcnn_class_bn2', fc)
    L.append(('mrcnn_class_logits', 'dense', (fc, NUM_CLASSES)))
    L.append(('mrcnn_bbox_fc', 'dense', (fc, 4 * NUM_CLASSES)))
    cin = D
    for i in range(1, 5):
        _conv(L, 'mrcnn_mask_conv%d' % i, 3, 3, cin, m)
        _bn(L, 'mrcnn_mask_bn%d' % i, m)
        cin = m
    L.append(('mrcnn_mask_deconv', 'deconv', (2, 2, m, m)))   # Keras Conv2DTranspose (kh, kw, out, in)
    _conv(L, 'mrcnn_mask', 1, 1, m, NUM_CLASSES)
    return L


def model_layers(cfg, variant):
    c = CONFIGS[cfg] if isinstance(cfg, str) else cfg
    if variant not in VARIANTS:
        raise ValueError('unknown variant %r' % variant)
    L = tower_layers(c, input_channels(variant))
    if is_fpf(variant):
        L += tower_layers(c, 1, CORE_SUFFIX)
    L += head_layers(c, pyramid_depth(c, variant))
    return L


def raw_tensor_list(cfg, variant):
    """All raw tensor names and Keras shapes: [(name, shape), ...] (contract section 2)."""
    out = []
    for name, kind, shp in model_layers(cfg, variant):
        if kind == 'bn':
            for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
                out.append((name + '/' + w, shp))
        else:
            out.append((name + '/kernel', shp))
            out.append((name + '/bias', (shp[-2] if kind == 'deconv' else shp[-1],)))
    return out


def fnv1a64(data):
    if isinstance(data, str):
        data = data.encode('ascii')
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def weight_range(name, shape, kernel_gain=None, output_gain=None):
    kg = KERNEL_GAIN if kernel_gain is None else kernel_gain
    og = OUTPUT_GAIN if output_gain is None else output_gain
    layer, w = name.rsplit('/', 1)
    base = layer[:-len(CORE_SUFFIX)] if layer.endswith(CORE_SUFFIX) else layer
    if w == 'kernel':
        if base == 'mrcnn_mask_deconv':
            a = math.sqrt(kg / shape[-1])
        else:
            fan_in = int(np.prod(shape[:-1]))
            g = LAYER_GAIN.get(base, og if base in OUTPUT_LAYERS else kg)
            a = math.sqrt(g / fan_in)
        return -a, a
    return {'bias': (-0.05, 0.05), 'gamma': (0.8, 1.2), 'beta': (-0.1, 0.1),
            'moving_mean': (-0.1, 0.1), 'moving_variance': (0.5, 1.5)}[w]


def key_for(name, seed, nucleus_seed):
    layer, w = name.rsplit('/', 1)
    if layer.endswith(CORE_SUFFIX):
        return (nucleus_seed ^ fnv1a64(layer[:-len(CORE_SUFFIX)] + '/' + w)) & M64
    return (seed ^ fnv1a64(name)) & M64


_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix_u(key, n, chunk=1 << 22):
    """u_i = (splitmix64(key + (i+1)*golden) >> 40) * 2^-24 for i in 0..n-1, float64."""
    out = np.empty(n, np.float64)
    k = np.uint64(key)
    with np.errstate(over='ignore'):
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            z = np.arange(s + 1, e + 1, dtype=np.uint64) * _GOLD + k
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            z = z ^ (z >> np.uint64(31))
            out[s:e] = (z >> np.uint64(40)).astype(np.float64) * (2.0 ** -24)
    return out


def seeded_tensor(name, shape, seed, nucleus_seed, kernel_gain=None, output_gain=None):
    n = int(np.prod(shape))
    lo, hi = weight_range(name, shape, kernel_gain, output_gain)
    u = splitmix_u(key_for(name, seed, nucleus_seed), n)
    v = (lo + (hi - lo) * u).astype(np.float32)      # double, rounded once to float32
    return v.reshape(shape)


def make_raw_weights(cfg, variant, seed, nucleus_seed=None, kernel_gain=None, output_gain=None):
    """Full raw tensor dict {keras name: float32 array in Keras layout} (contract section 3).
    kernel_gain/output_gain default to the contract's 3 and 3 (plus LAYER_GAIN)."""
    if nucleus_seed is None:
        nucleus_seed = seed
    return {name: seeded_tensor(name, shape, seed, nucleus_seed, kernel_gain, output_gain)
            for name, shape in raw_tensor_list(cfg, variant)}


if __name__ == '__main__':
    cfg = sys.argv[1] if len(sys.argv) > 1 else 'tiny'
    var = sys.argv[2] if len(sys.argv) > 2 else 'fpf_add'
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    nseed = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    lst = raw_tensor_list(cfg, var)
    tot = 0
    for name, shp in lst:
        t = seeded_tensor(name, shp, seed, nseed)
        tot += t.size
        print('%-40s %-22s first=% .9g sum=% .9g' % (name, shp, float(t.flat[0]), float(t.astype(np.float64).sum())))
    print('%d tensors, %d values' % (len(lst), tot))
