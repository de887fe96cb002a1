#!/usr/bin/python3
"""Convert the FPF authors' Keras weight files (.h5) to fpf model files (.fpf).

    /usr/bin/python3 weights/convert_keras.py IN.h5 OUT.fpf [--variant auto|cores|without_nucleus|with_nucleus|fpf_add|fpf_concat]
    /usr/bin/python3 weights/convert_keras.py pretrained_grayscale_resnet.h5 OUT.fpf --untrained-heads --variant fpf_add [--seed N]

Needs only Debian's python3-h5py and python3-numpy. Spec: docs/ARCHITECTURE.md sections 0.1 and 12.

What it reads: the Keras 2.x `save_weights` layout (root attribute `layer_names`, or the same inside a
`model_weights` group as model.save writes it; attributes split into `layer_names0`, `layer_names1`, ... are
joined). Each weight-bearing layer group lists its arrays in `weight_names`; arrays are matched by the group
name and the trailing token (`kernel:0`, `bias:0`, `gamma:0`, `beta:0`, `moving_mean:0`, `moving_variance:0`),
whatever prefix the Keras version put in front (`conv1/kernel:0`, `kernel:0`, `conv1_1/kernel:0`,
`mrcnn_class_conv1/conv2d_7/kernel:0`, ...). The nested `rpn_model` group is matched by sub-layer name
(`rpn_conv_shared`, `rpn_class_raw`, `rpn_bbox_pred`, TF's `_1` uniquifying suffixes allowed).
Weightless layers (inputs, activations, Lambda, ...) are ignored.

Variant (--variant auto, the default): `_core` layers mean FPF; then `rpn_conv_shared` input depth 512 means
concat and 256 add. Without `_core` layers a `conv1` kernel with 2 input channels means with_nucleus. A
single-tower 1-channel file is either the nucleus model (cores) or the cell model (without_nucleus): their
layers are identical, so auto decides by the file name ("without" -> without_nucleus; "core"/"nucle" ->
cores) and otherwise asks for --variant. An explicit --variant must agree with the file's layers.

Checks: the file must hold exactly the arrays of the variant at the paper configuration (spec 12.2), with
exactly those shapes, float32 (float16 is widened; float64 only if every value is exactly a float32), all
finite. Anything else is refused with one line on stderr and exit status 1, and nothing is written: the
output is written to a temporary file and renamed into place only after every check passed, then read
back and verified. Sanity checks (spec 2.3), reported as warnings only:
  - FPF: the `_core` backbone BN moving statistics equal the cell backbone's (both come from the
    pretrained grayscale ResNet and BN was frozen);
  - every model: the head BNs (mrcnn_class_bn*, mrcnn_mask_bn*) hold their initial values, mean 0, var 1.

Conversion is exact: the arrays are copied bit for bit; each BatchNorm is folded into the conv before it in
float64 and rounded once to float32 (as examples/fpf_seeded.h does); the mask deconv kernel goes from Keras'
(kh, kw, out, in) to the .fpf [kh, kw, in, out].

The backbone-only file (pretrained_grayscale_resnet): refused by default, because it has no FPN, RPN or
heads and so cannot segment anything. With --untrained-heads --variant V it makes an experiment model: the
file's backbone in the cell tower (and, for FPF, also in the nucleus tower), and the FPN, RPN and heads at
Keras' initial values (glorot_uniform kernels from a seeded generator, --seed, zero biases, BN gamma 1,
beta 0, mean 0, var 1), i.e. the state the authors' training scripts start from. Its detections are
meaningless until trained. with_nucleus is refused there (the backbone's conv1 takes one channel).

Exit status: 0 converted (warnings possible), 1 refused, 2 bad command line.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import fpf_write  # noqa: E402

PROG = 'convert_keras'
TOKENS = ('kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance')
RPN_LAYERS = ('rpn_conv_shared', 'rpn_class_raw', 'rpn_bbox_pred')
HEAD_BNS = ('mrcnn_class_bn1', 'mrcnn_class_bn2', 'mrcnn_mask_bn1', 'mrcnn_mask_bn2', 'mrcnn_mask_bn3',
            'mrcnn_mask_bn4')
HDF5_MAGIC = b'\x89HDF\r\n\x1a\n'


class Refuse(Exception):
    """A one-line reason to refuse the input."""


def _s(v):
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode('utf8')
    return str(v)


def attr_list(g, name):
    """A Keras string-list attribute, joined from name0, name1, ... chunks if split. None if absent."""
    if name in g.attrs:
        vals = list(np.atleast_1d(g.attrs[name]))
    elif name + '0' in g.attrs:
        vals, i = [], 0
        while '%s%d' % (name, i) in g.attrs:
            vals += list(np.atleast_1d(g.attrs['%s%d' % (name, i)]))
            i += 1
    else:
        return None
    return [_s(v) for v in vals if not isinstance(v, (float, np.floating))]


def _token(part):
    """'kernel:0' -> 'kernel'; 'kernel_1:0' -> 'kernel'; unknown -> None."""
    t = part.split(':')[0]
    if t in TOKENS:
        return t
    t2 = re.sub(r'_\d+$', '', t)
    return t2 if t2 in TOKENS else None


def _strip_uniq(name):
    return re.sub(r'_\d+$', '', name)


def sniff(path):
    """Refuse files that are not HDF5 with a helpful reason."""
    if not os.path.exists(path):
        raise Refuse('%s: no such file' % path)
    if os.path.isdir(path):
        raise Refuse('%s: is a directory' % path)
    try:
        with open(path, 'rb') as fh:
            head = fh.read(8)
            size = os.fstat(fh.fileno()).st_size
            found = head == HDF5_MAGIC
            off = 512
            while not found and off + 8 <= size and off <= (1 << 20):   # HDF5 allows a user block of 2^k bytes
                fh.seek(off)
                found = fh.read(8) == HDF5_MAGIC
                off *= 2
    except OSError as e:
        raise Refuse('%s: cannot read: %s' % (path, e.strerror or e))
    if found:
        return
    if size == 0:
        raise Refuse('%s: empty file, not an HDF5 file' % path)
    if head[:4] == b'PK\x03\x04':
        raise Refuse('%s: a zip archive, not an HDF5 file; unzip it first (the .h5 weights file is inside)' % path)
    if head == b'FPFMODEL':
        raise Refuse('%s: already an .fpf model file, not a Keras .h5 file' % path)
    raise Refuse('%s: not an HDF5 file (no HDF5 signature); expected a Keras .h5 weights file' % path)


class H5Weights(object):
    """The weight arrays of a Keras weights file: {raw name: h5py dataset}, plus what was seen."""

    def __init__(self, path):
        import h5py
        self.path = path
        try:
            self.f = h5py.File(path, 'r')
        except (OSError, IOError) as e:
            msg = str(e).replace('\n', ' ')
            if 'truncated' in msg:
                raise Refuse('%s: truncated HDF5 file (%s); download it again' % (path, msg))
            raise Refuse('%s: corrupt or unreadable HDF5 file (%s)' % (path, msg))
        root = self.f
        if 'layer_names' not in root.attrs and 'layer_names0' not in root.attrs and 'model_weights' in root:
            root = root['model_weights']
        names = attr_list(root, 'layer_names')
        if names is None:
            raise Refuse('%s: HDF5 file without a Keras "layer_names" attribute: not a Keras weights file'
                         % path)
        if len(set(names)) != len(names):
            dup = sorted(n for n in set(names) if names.count(n) > 1)[0]
            raise Refuse('%s: layer %s is listed twice in layer_names (corrupt file)' % (path, dup))
        self.keras_version = _s(root.attrs.get('keras_version', b'?'))
        self.backend = _s(root.attrs.get('backend', b'?'))
        self.layers = names
        self.arrays = {}          # raw name -> dataset
        self.layer_arrays = {}    # top-level layer -> [raw names]
        self.ignored = []         # (layer, reason)
        self.forms = set()
        for layer in names:
            try:
                g = root[layer]
            except (KeyError, OSError, ValueError):
                raise Refuse('%s: layer_names lists %s but the file has no such group (truncated or corrupt)'
                             % (path, layer))
            wn = attr_list(g, 'weight_names')
            if wn is None:
                raise Refuse('%s: layer group %s has no "weight_names" attribute (not Keras save_weights layout)'
                             % (path, layer))
            if not wn:
                continue
            if layer.endswith('_core') and layer.startswith(('rpn_model', 'mrcnn_')):
                self.ignored.append((layer, len(wn)))     # spec 12.2: not part of any fused graph
                continue
            dsets = []
            for w in wn:
                try:
                    ds = g[w]
                    _ = ds.shape
                except (KeyError, OSError, ValueError):
                    raise Refuse('%s: layer %s lists array %s but the file has no such array (truncated or corrupt)'
                                 % (path, layer, w))
                dsets.append((w, ds))
            self._add_layer(layer, dsets)

    def _put(self, layer, raw, ds):
        if raw in self.arrays:
            raise Refuse('%s: layer %s holds two arrays for %s' % (self.path, layer, raw))
        self.arrays[raw] = ds
        self.layer_arrays.setdefault(layer, []).append(raw)

    def _add_layer(self, layer, dsets):
        if layer == 'rpn_model':
            subs = [w.split('/') for w, _ in dsets]
            if all(len(p) >= 2 for p in subs):
                for (w, ds), p in zip(dsets, subs):
                    sub, tok = p[-2], _token(p[-1])
                    if sub not in RPN_LAYERS and _strip_uniq(sub) in RPN_LAYERS:
                        sub = _strip_uniq(sub)
                        self.forms.add('uniquified')
                    if sub not in RPN_LAYERS or tok not in ('kernel', 'bias'):
                        raise Refuse('%s: rpn_model holds an unexpected array %s' % (self.path, w))
                    self._put(layer, sub + '/' + tok, ds)
                self.forms.add('nested rpn_model')
                return
            # no sub-layer names: Keras' own order (conv, class, bbox; kernel then bias each)
            if len(dsets) != 6 or [_token(w) for w, _ in dsets] != ['kernel', 'bias'] * 3:
                raise Refuse('%s: rpn_model holds %d arrays without sub-layer names; expected the 6 of spec 12.1'
                             % (self.path, len(dsets)))
            for i, (w, ds) in enumerate(dsets):
                self._put(layer, RPN_LAYERS[i // 2] + '/' + ('kernel', 'bias')[i % 2], ds)
            self.forms.add('positional rpn_model')
            return
        tokens = [_token(w.split('/')[-1]) for w, _ in dsets]
        if None in tokens:
            w = dsets[tokens.index(None)][0]
            if all(re.match(r'^param_\d+$', x.split('/')[-1]) for x, _ in dsets) and len(dsets) in (2, 4):
                tokens = list(TOKENS[:2]) if len(dsets) == 2 else list(TOKENS[2:])
                self.forms.add('param_N names')
            else:
                raise Refuse('%s: layer %s holds an array %s that is none of %s'
                             % (self.path, layer, w, ', '.join(TOKENS)))
        for (w, ds), tok in zip(dsets, tokens):
            parts = w.split('/')
            self.forms.add('flat' if len(parts) == 1 else 'nested' if parts[0] == layer and len(parts) == 2
                           else 'other prefix')
            self._put(layer, layer + '/' + tok, ds)

    def shape(self, raw):
        return tuple(self.arrays[raw].shape)

    def close(self):
        try:
            self.f.close()
        except Exception:
            pass


# ------------------------------------------------------------------------------------------- classification
def foreign_model_checks(h):
    """Refuse well-known models that are not FPF models, with a specific message."""
    p = h.path
    for name in ('mrcnn_class_logits/kernel', 'mrcnn_mask/kernel'):
        if name in h.arrays:
            k = h.shape(name)[-1]
            if k != 2:
                if k == 81:
                    raise Refuse('%s: %s has 81 classes: this is a matterport COCO Mask R-CNN, not an FPF cell model '
                                 '(which has 2 classes: background + cell)' % (p, name.split('/')[0]))
                raise Refuse('%s: %s has %d classes; FPF models have 2 (background + cell or nucleus)'
                             % (p, name.split('/')[0], k))
    if 'conv1/kernel' in h.arrays:
        s = h.shape('conv1/kernel')
        if len(s) == 4 and s[2] == 3:
            raise Refuse('%s: conv1 takes 3 input channels (an RGB model such as matterport COCO/ImageNet); '
                         'FPF models take 1 channel (2 for with_nucleus)' % p)
    stage4 = sorted(set(re.match(r'res4([a-z]+)_', n).group(1) for n in h.arrays if re.match(r'res4[a-z]+_', n)))
    if len(stage4) > 4:
        raise Refuse('%s: stage 4 has %d blocks (a ResNet-%s backbone); the FPF backbone has 4'
                     % (p, len(stage4), '101' if len(stage4) == 23 else '50' if len(stage4) == 6 else '?'))


def is_backbone_only(h):
    layers = set(h.layer_arrays)
    head = [l for l in layers if l.startswith(('fpn_', 'rpn_', 'mrcnn_')) or l == 'rpn_model']
    return 'conv1' in layers and not head


def detect_variant(h, requested, cfg):
    """Returns (variant, how). Refuses when the file's layers do not fit `requested`."""
    p = h.path
    has_core = any(l.endswith('_core') and not l.startswith(('rpn_model', 'mrcnn_')) for l in h.layer_arrays)
    if 'conv1/kernel' not in h.arrays:
        raise Refuse('%s: missing layer conv1 (no conv1/kernel array): not an FPF model' % p)
    cin = h.shape('conv1/kernel')[2] if len(h.shape('conv1/kernel')) == 4 else -1
    base = os.path.basename(p).lower()
    if has_core:
        if 'rpn_conv_shared/kernel' not in h.arrays:
            raise Refuse('%s: missing layer rpn_conv_shared (in rpn_model)' % p)
        d = h.shape('rpn_conv_shared/kernel')
        F = cfg['fpn_width']
        if len(d) != 4 or d[2] not in (F, 2 * F):
            raise Refuse('%s: an FPF model (_core layers) whose rpn_conv_shared kernel %s has input depth %s; '
                         'expected %d (add) or %d (concat)' % (p, d, d[2] if len(d) == 4 else '?', F, 2 * F))
        v = 'fpf_concat' if d[2] == 2 * F else 'fpf_add'
        how = '_core layers present; rpn_conv_shared input depth %d' % d[2]
    elif cin == 2:
        v, how = 'with_nucleus', 'no _core layers; conv1 takes 2 input channels'
    elif cin == 1:
        how = 'no _core layers; conv1 takes 1 input channel'
        if requested in ('cores', 'without_nucleus'):
            return requested, how + '; --variant %s' % requested
        if requested != 'auto':
            v = 'cores or without_nucleus'
        elif 'without' in base:
            return 'without_nucleus', how + '; file name says "without"'
        elif 'with_nucleus' in base or '2channel' in base or '2_channel' in base:
            raise Refuse('%s: named like the 2-channel with_nucleus model, but conv1 takes 1 input channel; '
                         'pass --variant cores or --variant without_nucleus if this is intended' % p)
        elif 'core' in base or 'nucle' in base:
            return 'cores', how + '; file name says nucleus/cores'
        else:
            raise Refuse('%s: a single-tower 1-channel model: the nucleus model (cores) and the cell model '
                         '(without_nucleus) have identical layers and the file name does not say which; '
                         'pass --variant cores or --variant without_nucleus' % p)
    else:
        raise Refuse('%s: conv1 kernel %s: expected 1 or 2 input channels' % (p, h.shape('conv1/kernel')))
    if requested not in ('auto', v):
        raise Refuse('%s: --variant %s, but the file is a %s model (%s)' % (p, requested, v, how))
    return v, how


def check_set(h, variant, cfg, warn):
    """Exactly the arrays the variant implies, exactly those shapes. Returns the expected list."""
    p = h.path
    expected = fpf_write.raw_tensor_list(variant, cfg)
    names = set(n for n, _ in expected)
    # spec 12.2: rpn_model_core / mrcnn_*_core groups are not part of any published graph; ignored on reading.
    for layer, n in h.ignored:
        warn('ignored layer %s (%d arrays): nucleus-model heads are not part of the fused model (spec 12.2)'
             % (layer, n))
    got = set(h.arrays)
    missing = [(n, s) for n, s in expected if n not in got]
    if missing:
        n, s = missing[0]
        layer = n.rsplit('/', 1)[0]
        more = '' if len(missing) == 1 else ' (and %d more missing arrays)' % (len(missing) - 1)
        raise Refuse('%s: missing layer %s: no %s %s for the %s model%s' % (p, layer, n, s, variant, more))
    extra = sorted(got - names)
    if extra:
        layer = [l for l, rs in h.layer_arrays.items() if extra[0] in rs][0]
        more = '' if len(extra) == 1 else ' (%d unexpected arrays in all)' % len(extra)
        if any(r in names for r in h.layer_arrays[layer]):
            raise Refuse('%s: unexpected array %s in layer %s of the %s model%s'
                         % (p, extra[0], layer, variant, more))
        raise Refuse('%s: unexpected layer %s (array %s) is not part of the %s model%s'
                     % (p, layer, extra[0], variant, more))
    for n, s in expected:
        if h.shape(n) != tuple(s):
            raise Refuse('%s: %s has shape %s, the %s model needs %s' % (p, n, h.shape(n), variant, tuple(s)))
    return expected


def read_arrays(h, names):
    """Reads the arrays, exactly, as float32."""
    raw = {}
    for n in names:
        ds = h.arrays[n]
        try:
            a = ds[()]
        except Exception as e:          # h5py raises OSError for short reads; be broad, one line
            raise Refuse('%s: cannot read %s (%s): truncated or corrupt file'
                         % (h.path, n, str(e).replace('\n', ' ')))
        a = np.asarray(a)
        if a.dtype == np.float32:
            pass
        elif a.dtype == np.float16:
            a = a.astype(np.float32)                      # exact
        elif a.dtype == np.float64:
            a32 = a.astype(np.float32)
            if not np.array_equal(a32.astype(np.float64), a, equal_nan=True):
                raise Refuse('%s: %s is float64 with values that are not float32 numbers; converting would not be '
                             'exact' % (h.path, n))
            a = a32
        else:
            raise Refuse('%s: %s has dtype %s; expected float32' % (h.path, n, a.dtype))
        if not np.all(np.isfinite(a)):
            raise Refuse('%s: %s holds NaN or Inf values' % (h.path, n))
        raw[n] = np.ascontiguousarray(a)
    return raw


# ------------------------------------------------------------------------------------------- sanity checks
def sanity(raw, variant):
    """[(ok, message)] for the spec 2.3 checks."""
    out = []
    if variant in ('fpf_add', 'fpf_concat'):
        bns = sorted(n.rsplit('/', 1)[0] for n in raw if n.endswith('/moving_mean') and n.startswith('bn')
                     and not n.rsplit('/', 1)[0].endswith('_core'))
        differ, worst = [], 0.0
        for b in bns:
            for w in ('moving_mean', 'moving_variance'):
                x, y = raw[b + '/' + w], raw[b + '_core/' + w]
                if not np.array_equal(x, y):
                    differ.append(b) if b not in differ else None
                    worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y))))
        if differ:
            out.append((False, '_core BN moving statistics differ from the cell backbone\'s in %d of %d BN layers '
                               '(first %s, max |diff| %.3g); expected equal (both from the pretrained grayscale '
                               'ResNet, BN frozen; spec 2.3)' % (len(differ), len(bns), differ[0], worst)))
        else:
            out.append((True, '_core BN moving statistics equal the cell backbone\'s (%d of %d BN layers)'
                              % (len(bns), len(bns))))
    off, wm, wv = [], 0.0, 0.0
    for b in HEAD_BNS:
        m, v = raw[b + '/moving_mean'], raw[b + '/moving_variance']
        if not (np.all(m == 0) and np.all(v == 1)):
            off.append(b)
            wm = max(wm, float(np.max(np.abs(m))))
            wv = max(wv, float(np.max(np.abs(v.astype(np.float64) - 1))))
    if off:
        out.append((False, 'head BN statistics are not at their initial values (mean 0, var 1) in %d of %d layers '
                           '(first %s, max |mean| %.3g, max |var-1| %.3g); expected initial (BN frozen in training; '
                           'spec 2.3)' % (len(off), len(HEAD_BNS), off[0], wm, wv)))
    else:
        out.append((True, 'head BNs hold their initial values, mean 0 and var 1 (%d layers)' % len(HEAD_BNS)))
    return out


# ------------------------------------------------------------------------------------------- untrained heads
def untrained_model(backbone, variant, cfg, seed):
    """The backbone's arrays in the tower(s); everything else at Keras' initial values."""
    rng = np.random.default_rng(seed)
    raw = {}
    for name, shape in fpf_write.raw_tensor_list(variant, cfg):
        layer, tok = name.rsplit('/', 1)
        src = layer[:-5] + '/' + tok if layer.endswith('_core') else name
        if src in backbone:
            raw[name] = backbone[src]
            continue
        if tok == 'kernel':
            if len(shape) == 2:
                fan_in, fan_out = shape
            else:
                rf = shape[0] * shape[1]
                fan_in, fan_out = rf * shape[2], rf * shape[3]
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            raw[name] = rng.uniform(-lim, lim, size=shape).astype(np.float32)
        elif tok in ('gamma', 'moving_variance'):
            raw[name] = np.ones(shape, np.float32)
        else:
            raw[name] = np.zeros(shape, np.float32)
    return raw


def backbone_path(h, args, warn, info):
    p = h.path
    tower = [(n, s) for n, s in fpf_write.raw_tensor_list('without_nucleus', args.config)
             if not n.startswith(('fpn_', 'rpn_', 'mrcnn_'))]
    if not args.untrained_heads:
        raise Refuse('%s: holds only a ResNet backbone (pretrained_grayscale_resnet): no FPN, RPN or heads, so it '
                     'cannot segment; it is what training starts from. For an untrained-heads experiment model '
                     'add --untrained-heads --variant VARIANT' % p)
    if args.variant in ('auto', 'with_nucleus'):
        raise Refuse('%s: --untrained-heads needs --variant cores, without_nucleus, fpf_add or fpf_concat '
                     '(with_nucleus needs a 2-channel conv1, the backbone has 1)' % p)
    want = set(n for n, _ in tower)
    other = sorted(l for l, rs in h.layer_arrays.items() if not set(rs) & want)
    for l in other:
        warn('ignored layer %s (%d arrays): not part of the Mask R-CNN backbone' % (l, len(h.layer_arrays[l])))
    for n, s in tower:
        if n not in h.arrays:
            raise Refuse('%s: backbone file lacks %s %s' % (p, n, s))
        if h.shape(n) != tuple(s):
            raise Refuse('%s: %s has shape %s, the FPF backbone needs %s' % (p, n, h.shape(n), tuple(s)))
    leftover = sorted(n for l, rs in h.layer_arrays.items() if l not in other for n in rs if n not in want)
    if leftover:
        raise Refuse('%s: unexpected array %s in a backbone layer' % (p, leftover[0]))
    backbone = read_arrays(h, [n for n, _ in tower])
    info('backbone-only file: %d layers; FPN, RPN and heads at Keras initial values (seed %d); '
         'detections are meaningless until trained' % (len(set(n.split('/')[0] for n in backbone)), args.seed))
    return args.variant, untrained_model(backbone, args.variant, args.config, args.seed)


# ------------------------------------------------------------------------------------------- main
def convert(args, info, warn):
    inp, out = args.input, args.output
    odir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(odir):
        raise Refuse('%s: output directory %s does not exist' % (out, odir))
    if os.path.exists(inp) and os.path.exists(out) and os.path.samefile(inp, out):
        raise Refuse('%s: input and output are the same file' % out)
    sniff(inp)
    cfg_name = args.config
    h = H5Weights(inp)
    try:
        n_layers = len(h.layer_arrays)
        info('%s: Keras %s (%s), %d layers listed, %d with weights, %d arrays; names: %s'
             % (inp, h.keras_version, h.backend, len(h.layers), n_layers, len(h.arrays),
                ', '.join(sorted(h.forms)) or '-'))
        if not h.arrays:
            raise Refuse('%s: a Keras weights file without any weight arrays' % inp)
        foreign_model_checks(h)
        cfg = fpf_write.config_dict(cfg_name, 'without_nucleus')
        if 'conv1/kernel' in h.arrays and h.shape('conv1/kernel')[-1] != cfg['stem_width']:
            raise Refuse('%s: conv1 has %d filters, the %s configuration of the published models has %d'
                         % (inp, h.shape('conv1/kernel')[-1], cfg_name, cfg['stem_width']))
        if is_backbone_only(h):
            variant, raw = backbone_path(h, args, warn, info)
            how = 'backbone only, --untrained-heads'
        else:
            if args.untrained_heads:
                raise Refuse('%s: --untrained-heads is for the backbone-only file; this file has FPN/RPN/head layers'
                             % inp)
            variant, how = detect_variant(h, args.variant, cfg)
            cfg = fpf_write.config_dict(cfg_name, variant)
            expected = check_set(h, variant, cfg, warn)
            raw = read_arrays(h, [n for n, _ in expected])
    finally:
        h.close()
    info('variant %s (%s)' % (variant, how))
    for ok, msg in sanity(raw, variant):
        (info if ok else warn)(('check ok: ' if ok else '') + msg)
    try:
        nbytes = fpf_write.write_fpf(out, variant, raw, cfg_name)
        back = fpf_write.read_fpf(out)          # verify what is on disk
        ref = fpf_write.fold_tensors(variant, raw, cfg_name)
        if back['order'] != [n for n, _ in ref] or not all(
                np.array_equal(back['tensors'][n], a) for n, a in ref):
            raise Refuse('%s: read-back verification failed' % out)
    except fpf_write.FpfError as e:
        raise Refuse('%s: %s' % (out, e))
    except Refuse:
        try:
            os.unlink(out)
        except OSError:
            pass
        raise
    info('wrote %s: %s model, %d tensors, %d bytes, checksum %016x (read back and verified)'
         % (out, variant, len(back['order']), nbytes, back['checksum']))
    return variant


def main(argv=None):
    ap = argparse.ArgumentParser(prog='convert_keras.py',
                                 description='Convert an FPF Keras weights file (.h5) to an fpf model file (.fpf).')
    ap.add_argument('input', metavar='IN.h5')
    ap.add_argument('output', metavar='OUT.fpf')
    ap.add_argument('--variant', default='auto', choices=('auto',) + fpf_write.VARIANTS)
    ap.add_argument('--untrained-heads', action='store_true',
                    help='backbone-only input: make an experiment model with FPN/RPN/heads at Keras initial values')
    ap.add_argument('--seed', type=int, default=0, help='seed of the --untrained-heads initial values (0)')
    ap.add_argument('--config', default='paper', choices=('paper', 'tiny'),
                    help='architecture widths: paper (all published files, default) or the tests\' tiny')
    ap.add_argument('-q', '--quiet', action='store_true', help='print warnings and errors only')
    args = ap.parse_args(argv)

    def info(msg):
        if not args.quiet:
            print(msg)
            sys.stdout.flush()

    def warn(msg):
        sys.stdout.flush()
        print('%s: warning: %s' % (PROG, msg), file=sys.stderr)
        sys.stderr.flush()

    try:
        convert(args, info, warn)
    except Refuse as e:
        sys.stdout.flush()
        print('%s: error: %s' % (PROG, str(e).replace('\n', ' ')), file=sys.stderr)
        return 1
    except Exception as e:  # never a traceback for a user's file; still one line
        sys.stdout.flush()
        print('%s: error: %s: unexpected %s: %s' % (PROG, args.input, type(e).__name__,
                                                    str(e).replace('\n', ' ')), file=sys.stderr)
        try:
            if os.path.exists(args.output) and os.path.getsize(args.output) == 0:
                os.unlink(args.output)
        except OSError:
            pass
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
