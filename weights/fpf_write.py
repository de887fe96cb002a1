"""Write and read fpf model files (.fpf, format version 1 of fpf.h) from raw Keras-named tensors.

Pure Python 3 + numpy (Debian's python3-numpy); no h5py, no torch. The output is byte-identical to the
C writer of examples/fpf_seeded.h for the same raw tensors (weights/check_convert.py tests that).

    import sys; sys.path.insert(0, 'weights')
    import fpf_write

    # raw: {"conv1/kernel": (7,7,1,64) float32, "bn_conv1/gamma": (64,), ..., "mrcnn_mask/bias": (2,)}
    #   names and Keras layouts as weights/reference/CONTRACT.md section 2 (nucleus tower: "<layer>_core/...";
    #   mrcnn_mask_deconv/kernel in Keras Conv2DTranspose order (2, 2, out, in)).
    fpf_write.write_fpf('model.fpf', 'fpf_add', raw)                  # paper config (spec section 1.4)
    fpf_write.write_fpf('tiny.fpf', 'cores', raw, config='tiny')       # the contract's tiny widths
    fpf_write.write_fpf('m.fpf', 'fpf_add', raw, config={'det_min_confidence': 0.5})  # paper + overrides

    fpf_write.raw_tensor_list('fpf_add', 'tiny')    # [(name, keras shape), ...] the raw tensors expected
    fpf_write.config_dict('tiny')                   # {field: value} with the C fpf_config field names
    m = fpf_write.read_fpf('model.fpf')             # {'config', 'variant', 'tensors', 'checksum_ok', ...}

What write_fpf does (fpf.h, "Model file format"):
  - checks that `raw` holds exactly the tensors the variant and config imply, with exactly the Keras shapes,
    all finite (ValueError naming the first problem otherwise; strict=False tolerates extra names);
  - folds every BatchNorm into the conv before it, in float64, rounded once to float32:
        inv = gamma / sqrt(var + 1e-3);  kernel *= inv (per output channel);  bias = (bias - mean) * inv + beta
  - transposes the mask deconv from Keras (kh, kw, out, in) to the .fpf [kh, kw, in, out];
  - writes header, the 64-word config block, the tensor table and 64-byte aligned data in the order of
    fpf_config_layers(), with the position-weighted u64 checksum; atomically (temporary file + rename),
    so a failed write never leaves a partial output file.

Config: `config` is None or 'paper' (fpf_config_paper), 'tiny' (CONTRACT.md section 1), 'small' (twice tiny), or a dict of
overrides of the paper config using the C field names (e.g. {'fpn_width': 32, 'blocks': [2, 2, 4, 2]});
a dict may also hold 'base': 'tiny' or 'small'. variant, merge and input_channels always follow the `variant` argument.
"""
import os
import struct
import tempfile

import numpy as np

__all__ = ['VARIANTS', 'config_dict', 'config_check', 'model_layers', 'raw_tensor_list', 'fold_tensors',
           'write_fpf', 'fpf_bytes', 'read_fpf', 'checksum', 'FpfError']

MAGIC = b'FPFMODEL'
FORMAT_VERSION = 1
HDR, CFG_BYTES, ENTRY, NAME_LEN = 64, 256, 128, 80
BN_EPSILON = 1e-3                      # Keras BatchNormalization default, folded in float64
ANCHORS_PER_LOC = 3
VARIANTS = ('cores', 'without_nucleus', 'with_nucleus', 'fpf_add', 'fpf_concat')
MAX_LAYERS = 160                       # FPF_MAX_LAYERS

# fpf.h fpf__cfg_fields: (C field name, is_float, count), in config-block word order.
CFG_FIELDS = (
    ('variant', 0, 1), ('merge', 0, 1), ('input_channels', 0, 1), ('num_classes', 0, 1),
    ('stem_width', 0, 1), ('blocks', 0, 4), ('bottleneck', 0, 4), ('stage_out', 0, 4),
    ('fpn_width', 0, 1), ('rpn_width', 0, 1), ('fc_width', 0, 1), ('mask_width', 0, 1),
    ('pool_size', 0, 1), ('mask_pool_size', 0, 1), ('image_multiple', 0, 1), ('anchor_stride', 0, 1),
    ('anchor_scales', 1, 5), ('anchor_ratios', 1, 3), ('backbone_strides', 0, 5), ('mean_pixel', 1, 1),
    ('pixel_scale', 1, 1), ('rpn_nms_threshold', 1, 1), ('pre_nms_limit', 0, 1), ('post_nms_rois', 0, 1),
    ('rpn_bbox_std', 1, 4), ('bbox_std', 1, 4), ('det_min_confidence', 1, 1), ('det_nms_threshold', 1, 1),
    ('det_max_instances', 0, 1), ('roi_canonical_size', 1, 1), ('roi_canonical_level', 0, 1),
    ('mask_threshold', 1, 1), ('bn_epsilon', 1, 1), ('object_diameter', 1, 1))
_FIELD = {f[0]: f for f in CFG_FIELDS}


class FpfError(ValueError):
    """A malformed config, raw tensor set or .fpf file; the message is one line."""


def _paper(variant):
    v = VARIANTS.index(variant)
    return {
        'variant': v, 'merge': 1 if variant == 'fpf_add' else 2 if variant == 'fpf_concat' else 0,
        'input_channels': 2 if variant == 'with_nucleus' else 1, 'num_classes': 2, 'stem_width': 64,
        'blocks': [2, 2, 4, 2], 'bottleneck': [32, 64, 128, 256], 'stage_out': [128, 256, 512, 1024],
        'fpn_width': 256, 'rpn_width': 512, 'fc_width': 1024, 'mask_width': 256,
        'pool_size': 7, 'mask_pool_size': 14, 'image_multiple': 64, 'anchor_stride': 1,
        'anchor_scales': [32.0, 64.0, 128.0, 256.0, 512.0], 'anchor_ratios': [0.5, 1.0, 2.0],
        'backbone_strides': [4, 8, 16, 32, 64], 'mean_pixel': 112.5, 'pixel_scale': 255.0,
        'rpn_nms_threshold': 0.7, 'pre_nms_limit': 6000, 'post_nms_rois': 500,
        'rpn_bbox_std': [0.1, 0.1, 0.2, 0.2], 'bbox_std': [0.1, 0.1, 0.2, 0.2],
        'det_min_confidence': 0.7, 'det_nms_threshold': 0.3, 'det_max_instances': 200,
        'roi_canonical_size': 224.0, 'roi_canonical_level': 4, 'mask_threshold': 0.5, 'bn_epsilon': 1e-3,
        'object_diameter': 0.0}   # 0 = not recorded; else the object diameter (px) the model works best at


TINY = {'stem_width': 16, 'bottleneck': [8, 16, 32, 64], 'stage_out': [32, 64, 128, 256],
        'fpn_width': 32, 'rpn_width': 64, 'fc_width': 128, 'mask_width': 32}
SMALL = {'stem_width': 32, 'bottleneck': [16, 32, 64, 128], 'stage_out': [64, 128, 256, 512],
         'fpn_width': 64, 'rpn_width': 128, 'fc_width': 256, 'mask_width': 64}   # twice tiny (issue #12)
BASES = {'tiny': TINY, 'small': SMALL}


def _variant_name(variant):
    if isinstance(variant, (int, np.integer)) and 0 <= int(variant) < len(VARIANTS):
        return VARIANTS[int(variant)]
    if variant not in VARIANTS:
        raise FpfError('unknown variant %r (expected one of %s)' % (variant, ', '.join(VARIANTS)))
    return variant


def config_dict(name_or_overrides=None, variant='without_nucleus'):
    """The full config as {C field name: value}: 'paper' / None, 'tiny', or a dict of overrides of the
    paper config (may contain 'base': 'tiny' and 'variant'). Lists for the array fields."""
    ov = name_or_overrides
    if isinstance(ov, dict):
        ov = dict(ov)
        if 'variant' in ov:
            variant = _variant_name(ov.pop('variant'))
    variant = _variant_name(variant)
    cfg = _paper(variant)
    base = ov.pop('base', 'paper') if isinstance(ov, dict) else (ov or 'paper')
    if base in BASES:
        cfg.update({k: (list(v) if isinstance(v, list) else v) for k, v in BASES[base].items()})
    elif base != 'paper':
        raise FpfError('unknown config %r (expected paper, tiny, small or a dict of overrides)' % (base,))
    if isinstance(ov, dict):
        for k, v in ov.items():
            if k not in _FIELD:
                raise FpfError('unknown config field %r' % (k,))
            n = _FIELD[k][2]
            if n > 1:
                v = list(v)
                if len(v) != n:
                    raise FpfError('config field %s needs %d values, got %d' % (k, n, len(v)))
            cfg[k] = v
    for k in ('merge', 'input_channels'):     # always derived from the variant
        if cfg[k] != _paper(variant)[k]:
            raise FpfError('config field %s=%r does not fit variant %s' % (k, cfg[k], variant))
    return cfg


def config_check(cfg):
    """Raises FpfError when the config is outside what fpf_config_check() accepts (the main rules)."""
    bad = []
    if not 0 <= cfg['variant'] <= 4:
        bad.append('variant')
    v = VARIANTS[cfg['variant']] if 0 <= cfg['variant'] <= 4 else None
    if v and cfg['merge'] != _paper(v)['merge']:
        bad.append('merge')
    if v and cfg['input_channels'] != _paper(v)['input_channels']:
        bad.append('input_channels')
    if cfg['num_classes'] != 2:
        bad.append('num_classes (must be 2)')
    if cfg['image_multiple'] != 64 or cfg['anchor_stride'] != 1:
        bad.append('image_multiple/anchor_stride')
    if list(cfg['backbone_strides']) != [4, 8, 16, 32, 64]:
        bad.append('backbone_strides')
    for k in ('stem_width', 'fpn_width', 'rpn_width', 'fc_width', 'mask_width'):
        if not 1 <= cfg[k] <= 8192:
            bad.append(k)
    for i in range(4):
        if not (1 <= cfg['blocks'][i] <= 26 and cfg['bottleneck'][i] >= 1 and cfg['stage_out'][i] >= 1):
            bad.append('stage %d' % (i + 2))
    if not (cfg.get('object_diameter', 0.0) == 0.0 or 1.0 <= cfg['object_diameter'] <= 10000.0):
        bad.append('object_diameter (0, or 1..10000 px)')
    if bad:
        raise FpfError('invalid config: ' + ', '.join(bad))


def _resolve(variant, config):
    variant = _variant_name(variant)
    if isinstance(config, dict) and 'stem_width' in config and len(config) == len(CFG_FIELDS):
        cfg = dict(config)                    # already a full config dict (e.g. from read_fpf)
        if cfg['variant'] != VARIANTS.index(variant):
            raise FpfError('config variant %d does not fit variant %s' % (cfg['variant'], variant))
    else:
        cfg = config_dict(config, variant)
    config_check(cfg)
    return variant, cfg


def model_layers(variant, config=None):
    """The .fpf layer list of fpf_config_layers(): [(name, bn_name or '', kind, kh, kw, cin, cout)],
    kind 0 conv (HWIO), 1 dense [cin, cout], 2 deconv (.fpf [2,2,cin,cout], Keras (2,2,cout,cin))."""
    variant, c = _resolve(variant, config)
    L = []

    def tower(sfx, cin0):
        L.append(('conv1' + sfx, 'bn_conv1' + sfx, 0, 7, 7, cin0, c['stem_width']))
        for s in range(4):
            f1, f3 = c['bottleneck'][s], c['stage_out'][s]
            for b in range(c['blocks'][s]):
                cin = c['stage_out'][s] if b > 0 else (c['stem_width'] if s == 0 else c['stage_out'][s - 1])
                tag = '%d%s_branch' % (s + 2, chr(97 + b))
                for j, br in enumerate(('2a', '2b', '2c', '1')):
                    if j == 3 and b > 0:
                        break
                    k = 3 if j == 1 else 1
                    ci = cin if j in (0, 3) else f1
                    co = f3 if j >= 2 else f1
                    L.append(('res' + tag + br + sfx, 'bn' + tag + br + sfx, 0, k, k, ci, co))
        F = c['fpn_width']
        for s in (3, 2, 1, 0):
            L.append(('fpn_c%dp%d' % (s + 2, s + 2) + sfx, '', 0, 1, 1, c['stage_out'][s], F))
        for s in (2, 3, 4, 5):
            L.append(('fpn_p%d' % s + sfx, '', 0, 3, 3, F, F))

    tower('', c['input_channels'])
    if c['merge']:
        tower('_core', 1)
    D = 2 * c['fpn_width'] if c['merge'] == 2 else c['fpn_width']
    P, K, m, fc = c['pool_size'], c['num_classes'], c['mask_width'], c['fc_width']
    L += [('rpn_conv_shared', '', 0, 3, 3, D, c['rpn_width']),
          ('rpn_class_raw', '', 0, 1, 1, c['rpn_width'], 2 * ANCHORS_PER_LOC),
          ('rpn_bbox_pred', '', 0, 1, 1, c['rpn_width'], 4 * ANCHORS_PER_LOC),
          ('mrcnn_class_conv1', 'mrcnn_class_bn1', 0, P, P, D, fc),
          ('mrcnn_class_conv2', 'mrcnn_class_bn2', 0, 1, 1, fc, fc),
          ('mrcnn_class_logits', '', 1, 1, 1, fc, K),
          ('mrcnn_bbox_fc', '', 1, 1, 1, fc, 4 * K)]
    for i in range(4):
        L.append(('mrcnn_mask_conv%d' % (i + 1), 'mrcnn_mask_bn%d' % (i + 1), 0, 3, 3, m if i else D, m))
    L.append(('mrcnn_mask_deconv', '', 2, 2, 2, m, m))
    L.append(('mrcnn_mask', '', 0, 1, 1, m, K))
    if len(L) > MAX_LAYERS:
        raise FpfError('config implies %d layers, more than %d' % (len(L), MAX_LAYERS))
    return L


def _keras_kernel_shape(kind, kh, kw, cin, cout):
    if kind == 1:
        return (cin, cout)
    if kind == 2:
        return (kh, kw, cout, cin)
    return (kh, kw, cin, cout)


def raw_tensor_list(variant, config=None):
    """[(raw name, Keras shape)] that write_fpf expects, in file order (BN arrays after their conv)."""
    out = []
    for name, bn, kind, kh, kw, cin, cout in model_layers(variant, config):
        out.append((name + '/kernel', _keras_kernel_shape(kind, kh, kw, cin, cout)))
        out.append((name + '/bias', (cout,)))
        if bn:
            for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
                out.append((bn + '/' + w, (cout,)))
    return out


def check_raw(variant, raw, config=None, strict=True):
    """Raises FpfError for a missing / extra (strict) / misshaped / non-finite raw tensor."""
    expected = raw_tensor_list(variant, config)
    names = set(n for n, _ in expected)
    for name, shape in expected:
        if name not in raw:
            raise FpfError('missing tensor %s %s' % (name, shape))
        a = np.asarray(raw[name])
        if tuple(a.shape) != tuple(shape):
            raise FpfError('tensor %s has shape %s, expected %s' % (name, tuple(a.shape), tuple(shape)))
        if a.dtype.kind != 'f':
            raise FpfError('tensor %s has dtype %s, expected a float type' % (name, a.dtype))
        if not np.all(np.isfinite(a)):
            raise FpfError('tensor %s holds NaN or Inf' % name)
    if strict:
        extra = sorted(set(raw) - names)
        if extra:
            raise FpfError('unexpected tensor %s (%d extra)' % (extra[0], len(extra)))


def fold_tensors(variant, raw, config=None, strict=True):
    """[(fpf name, float32 array in .fpf layout)] in file order: BN folded (float64, rounded once), deconv
    transposed. Exactly what write_fpf stores."""
    variant, cfg = _resolve(variant, config)
    check_raw(variant, raw, cfg, strict)
    out = []
    for name, bn, kind, kh, kw, cin, cout in model_layers(variant, cfg):
        k = np.asarray(raw[name + '/kernel'], dtype=np.float32)
        b = np.asarray(raw[name + '/bias'], dtype=np.float32)
        if kind == 2:
            k = k.transpose(0, 1, 3, 2)       # Keras (kh, kw, out, in) -> .fpf [kh, kw, in, out]
        k = np.ascontiguousarray(k)
        if bn:
            g, be, mu, var = (np.asarray(raw[bn + '/' + w], dtype=np.float32).astype(np.float64)
                              for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'))
            with np.errstate(all='ignore'):
                inv = g / np.sqrt(var + BN_EPSILON)
                k = (k.astype(np.float64) * inv).astype(np.float32)
                b = ((b.astype(np.float64) - mu) * inv + be).astype(np.float32)
            if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
                raise FpfError('folding %s into %s gives NaN or Inf (moving_variance <= -1e-3?)' % (bn, name))
        out.append((name + '/kernel', k))
        out.append((name + '/bias', np.ascontiguousarray(b, dtype=np.float32)))
    return out


def _config_words(cfg):
    words = bytearray(CFG_BYTES)
    k = 0
    for name, isf, n in CFG_FIELDS:
        vals = cfg[name] if n > 1 else [cfg[name]]
        for v in vals:
            struct.pack_into('<f' if isf else '<i', words, 4 * k, float(v) if isf else int(v))
            k += 1
    return bytes(words)


def _config_from_words(b):
    cfg, k = {}, 0
    for name, isf, n in CFG_FIELDS:
        vals = [struct.unpack_from('<f' if isf else '<i', b, 4 * (k + i))[0] for i in range(n)]
        if isf:
            vals = [float(np.float32(v)) for v in vals]
        cfg[name] = vals if n > 1 else vals[0]
        k += n
    return cfg


def checksum(buf):
    """fpf_checksum(): sum of u64 LE words w_i * (2i + 1) mod 2^64, word 3 (bytes 24..31) read as 0."""
    buf = bytes(buf)
    tail = len(buf) % 8
    if tail:
        buf = buf + b'\0' * (8 - tail)
    w = np.frombuffer(buf, dtype='<u8').copy()
    if len(w) > 3:
        w[3] = 0
    with np.errstate(over='ignore'):
        mul = np.arange(len(w), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        return int(np.sum(w * mul, dtype=np.uint64))


def _align(n):
    return (n + 63) // 64 * 64


def fpf_bytes(variant, raw, config=None, strict=True):
    """The complete .fpf file image (bytes)."""
    variant, cfg = _resolve(variant, config)
    tensors = fold_tensors(variant, raw, cfg, strict)
    T = len(tensors)
    off = _align(HDR + CFG_BYTES + ENTRY * T)
    total = off + sum(_align(4 * a.size) for _, a in tensors)
    f = bytearray(total)
    f[0:8] = MAGIC
    struct.pack_into('<IIQ', f, 8, FORMAT_VERSION, T, total)
    f[HDR:HDR + CFG_BYTES] = _config_words(cfg)
    for t, (name, a) in enumerate(tensors):
        nb = name.encode('ascii')
        if len(nb) >= NAME_LEN:
            raise FpfError('tensor name too long for the .fpf table: %s' % name)
        e = HDR + CFG_BYTES + ENTRY * t
        f[e:e + len(nb)] = nb
        dims = list(a.shape) + [0] * (4 - a.ndim)
        # 80 name, 80 dtype, 84 ndim, 88 shape[4], 104 offset, 112 nbytes, 120 scales = 128 bytes (fpf.h's
        # comment also lists a 'u64 reserved', which does not fit in the 128-byte entry; the C code has none)
        struct.pack_into('<II4IQQQ', f, e + NAME_LEN, 0, a.ndim, *dims, off, 4 * a.size, 0)
        f[off:off + 4 * a.size] = a.astype('<f4').tobytes()
        off += _align(4 * a.size)
    struct.pack_into('<Q', f, 24, checksum(f))
    return bytes(f)


def write_fpf(path, variant, raw, config=None, strict=True):
    """Validate, fold and write `raw` as an .fpf file at `path`, atomically. Returns the file size.
    Raises FpfError (nothing written) when the tensors do not fit the variant/config."""
    data = fpf_bytes(variant, raw, config, strict)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=d)
    try:
        with os.fdopen(fd, 'wb') as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(data)


def read_fpf(path_or_bytes, verify=True):
    """Parse an .fpf file. Returns {'version', 'size', 'checksum', 'checksum_ok', 'config' (dict),
    'variant' (name), 'tensors' ({name: float32 array}), 'order' ([names in table order])}.
    verify=True raises FpfError on a bad magic, version, size or checksum."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        b = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, 'rb') as fh:
            b = fh.read()
    if len(b) < HDR + CFG_BYTES or b[:8] != MAGIC:
        raise FpfError('not an .fpf file (bad magic or too short)')
    version, T, size, csum = struct.unpack_from('<IIQQ', b, 8)
    ok = checksum(b) == csum
    if verify:
        if version != FORMAT_VERSION:
            raise FpfError('.fpf format version %d, expected %d' % (version, FORMAT_VERSION))
        if size != len(b):
            raise FpfError('.fpf header says %d bytes, file has %d' % (size, len(b)))
        if not ok:
            raise FpfError('.fpf checksum mismatch')
    cfg = _config_from_words(b[HDR:HDR + CFG_BYTES])
    tensors, order = {}, []
    for t in range(T):
        e = HDR + CFG_BYTES + ENTRY * t
        name = b[e:e + NAME_LEN].split(b'\0', 1)[0].decode('ascii')
        dtype, ndim = struct.unpack_from('<II', b, e + NAME_LEN)
        dims = struct.unpack_from('<4I', b, e + NAME_LEN + 8)[:ndim]
        off, nbytes = struct.unpack_from('<QQ', b, e + NAME_LEN + 24)
        if dtype != 0 or off + nbytes > len(b) or nbytes != 4 * int(np.prod(dims)):
            raise FpfError('bad table entry for %s' % name)
        tensors[name] = np.frombuffer(b, dtype='<f4', count=nbytes // 4, offset=off).reshape(dims).astype(np.float32)
        order.append(name)
    var = VARIANTS[cfg['variant']] if 0 <= cfg['variant'] < len(VARIANTS) else cfg['variant']
    return {'version': version, 'size': size, 'checksum': csum, 'checksum_ok': ok, 'config': cfg,
            'variant': var, 'tensors': tensors, 'order': order}


def set_config(buf, fields):
    """The .fpf file image buf (fp32 or int8) with some config fields replaced ({name: value}) and its
    checksum redone; the tensors are untouched (e.g. record object_diameter after a model was chosen)."""
    b = bytearray(buf)
    if len(b) < HDR + CFG_BYTES or b[:8] != b'FPFMODEL' or checksum(b) != struct.unpack_from('<Q', b, 24)[0]:
        raise FpfError('not an .fpf model, or its checksum does not match')
    cfg = _config_from_words(bytes(b[HDR:HDR + CFG_BYTES]))
    for k, v in fields.items():
        if k not in _FIELD:
            raise FpfError('unknown config field %s' % k)
        cfg[k] = v
    config_check(cfg)
    b[HDR:HDR + CFG_BYTES] = _config_words(cfg)
    b[24:32] = b'\0' * 8
    struct.pack_into('<Q', b, 24, checksum(b))
    return bytes(b)


if __name__ == '__main__':
    import sys
    if len(sys.argv) >= 4 and sys.argv[1] == '--set':     # fpf_write.py --set IN OUT FIELD=VALUE ...
        with open(sys.argv[2], 'rb') as f:
            src = f.read()
        kv = dict(a.split('=', 1) for a in sys.argv[4:])
        out = set_config(src, {k: (float(v) if _FIELD.get(k, (0, 0))[1] else int(v)) for k, v in kv.items()})
        with open(sys.argv[3] + '.tmp', 'wb') as f:
            f.write(out)
        os.replace(sys.argv[3] + '.tmp', sys.argv[3])
        sys.exit(0)
    if len(sys.argv) != 2:
        sys.exit('usage: fpf_write.py FILE.fpf    (prints the config and tensor table)\n'
                 '       fpf_write.py --set IN.fpf OUT.fpf FIELD=VALUE ...    (config fields, e.g. object_diameter=24)')
    m = read_fpf(sys.argv[1], verify=False)
    print('variant %s, %d tensors, %d bytes, checksum %s' % (m['variant'], len(m['order']), m['size'],
                                                           'ok' if m['checksum_ok'] else 'BAD'))
    for k, v in m['config'].items():
        print('  %-20s %s' % (k, v))
    for n in m['order']:
        print('  %-40s %s' % (n, m['tensors'][n].shape))
