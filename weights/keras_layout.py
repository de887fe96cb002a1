"""Write raw Keras-named tensors as a Keras 2.x `save_weights` HDF5 file, for converter tests.

Needs Debian's python3-h5py and python3-numpy only.

    import keras_layout
    keras_layout.write_h5('fpf_add.h5', 'fpf_add', raw)                   # Keras 2.0.8 .. 2.2 (TF backend) form
    keras_layout.write_h5('x.h5', 'cores', raw, form='flat')              # weight names without the layer scope
    keras_layout.write_h5('x.h5', 'cores', raw, form='td_inner')          # other Keras versions' prefixes
    keras_layout.write_h5('x.h5', 'cores', raw, form='keras2', full_model=True, chunk_attrs=True)

`raw` maps CONTRACT.md section 2 names ("conv1/kernel", "bn_conv1_core/moving_mean",
"mrcnn_mask_deconv/kernel" in Keras (kh, kw, out, in) order, ...) to float32 arrays, as
weights/reference/seeded.py makes them. The layout follows spec section 12.1, i.e. what
keras.engine.saving.save_weights_to_hdf5_group writes (Keras 2.x):

  - root attributes `layer_names` (every layer of the model, weightless ones included), `backend`,
    `keras_version`; with full_model=True everything sits in a group `model_weights` (model.save)
    next to an `optimizer_weights` group, and the root has `model_config` / `training_config`;
  - one group per layer with attribute `weight_names`; each array stored at
    `<layer group>/<weight name>`, so a "/" inside the weight name makes subgroups;
  - the RPN is one nested model `rpn_model` whose weights carry the sub-layer names
    (`rpn_conv_shared/kernel:0`, ...); the box and mask head layers are TimeDistributed wrappers
    whose group holds the inner layer's arrays.

Weight-name forms (`form`):
  keras2    `conv1/kernel:0` (TF variable names: layer scope + token). TimeDistributed heads:
            `mrcnn_class_conv1/kernel:0`. rpn_model: `rpn_conv_shared/kernel:0`.
  flat      `kernel:0` directly in the layer group (backends without name scopes). rpn_model keeps
            the sub-layer scope (its three kernels would collide otherwise).
  td_inner  TimeDistributed heads named after the inner layer (`mrcnn_class_conv1/conv2d_7/kernel:0`
            for Conv2D, `time_distributed_3/kernel:0` for Dense), TF-uniquified `_1` scopes elsewhere
            (`conv1_1/kernel:0`, `rpn_model/rpn_conv_shared_1/kernel:0`).
Attribute storage: fixed-length byte strings (h5py with lists of bytes, as Keras under Python 2 wrote),
or variable-length str with vlen_str=True. chunk_attrs=True splits `layer_names` into `layer_names0`,
`layer_names1`, ... as Keras does above the 64 KiB object-header limit.
"""
import h5py
import numpy as np

TD_LAYERS = ('mrcnn_class_conv1', 'mrcnn_class_bn1', 'mrcnn_class_conv2', 'mrcnn_class_bn2',
             'mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_mask_conv1', 'mrcnn_mask_bn1', 'mrcnn_mask_conv2',
             'mrcnn_mask_bn2', 'mrcnn_mask_conv3', 'mrcnn_mask_bn3', 'mrcnn_mask_conv4', 'mrcnn_mask_bn4',
             'mrcnn_mask_deconv', 'mrcnn_mask')
RPN_LAYERS = ('rpn_conv_shared', 'rpn_class_raw', 'rpn_bbox_pred')
ORDER = ('kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance')
FORMS = ('keras2', 'flat', 'td_inner')


def _layers_in_raw(raw):
    """{layer: [(token, array)]} in Keras weight order, layers in first-seen order."""
    out = {}
    for name in raw:
        layer, tok = name.rsplit('/', 1)
        out.setdefault(layer, [])
    for layer in out:
        out[layer] = [(t, raw[layer + '/' + t]) for t in ORDER if layer + '/' + t in raw]
    return out


def _weightless(variant):
    """A plausible set of weightless layer names of the matterport/FPF graph (inputs, activations,
    pooling, adds, Lambda and detection layers); the converter must ignore all of them."""
    names = ['input_image', 'input_image_meta', 'input_anchors']
    if variant in ('fpf_add', 'fpf_concat'):
        names.insert(1, 'input_core_image')
    towers = [''] + (['_core'] if variant in ('fpf_add', 'fpf_concat') else [])
    k = 1
    for sfx in towers:
        names += ['zero_padding2d_%d' % k, 'activation_%d' % k, 'max_pooling2d_%d' % k]
        for s, nb in zip((2, 3, 4, 5), (2, 2, 4, 2)):
            for b in range(nb):
                names += ['res%d%s_out%s' % (s, chr(97 + b), sfx), 'add_%d%s' % (k, sfx)]
                k += 1
        names += [n + sfx for n in ('fpn_p5upsampled', 'fpn_p4add', 'fpn_p4upsampled', 'fpn_p3add',
                                    'fpn_p3upsampled', 'fpn_p2add', 'fpn_p6')]
    if len(towers) > 1:
        names += ['fpn_p%d_merge' % i for i in range(2, 7)]
    names += ['ROI', 'roi_align_classifier', 'activation_%d' % (k + 1), 'pool_squeeze', 'mrcnn_class',
              'mrcnn_bbox', 'mrcnn_detection', 'lambda_1', 'roi_align_mask', 'activation_%d' % (k + 2)]
    return names


def _attr(g, name, values, vlen_str=False, chunk=False):
    enc = [v if isinstance(v, bytes) else v.encode('utf8') for v in values]
    if vlen_str:
        data = np.array([v.decode('utf8') for v in enc], dtype=h5py.string_dtype('utf-8'))
    elif enc:
        data = np.array(enc)                        # fixed-length 'S' array
    else:
        data = np.zeros((0,), np.float64)           # what h5py makes of Keras's empty list
    if chunk and len(values) > 1:
        parts = np.array_split(np.arange(len(values)), 3)
        for i, p in enumerate(parts):
            g.attrs['%s%d' % (name, i)] = data[p[0]:p[-1] + 1]
    else:
        g.attrs[name] = data


def weight_names(layer, tokens, form, counter):
    """The Keras weight names of one top-level layer group."""
    base = layer
    if form == 'td_inner' and layer in TD_LAYERS:
        if layer in ('mrcnn_class_logits', 'mrcnn_bbox_fc'):
            counter[0] += 1
            base = layer + '/time_distributed_%d' % counter[0]
        else:
            counter[0] += 1
            kind = ('batch_normalization_%d' if '_bn' in layer else
                    'conv2d_transpose_%d' if 'deconv' in layer else 'conv2d_%d')
            base = layer + '/' + kind % counter[0]
    elif form == 'td_inner':
        base = layer + '_1'
    if form == 'flat':
        return ['%s:0' % t for t in tokens]
    return ['%s/%s:0' % (base, t) for t in tokens]


def write_h5(path, variant, raw, form='keras2', full_model=False, vlen_str=False, chunk_attrs=False,
             extra_groups=None, keras_version='2.1.6', weightless=True, dtype=None):
    """Write `raw` as a Keras 2.x weights file. extra_groups: {layer: {token: array}} added as further
    weight-bearing top-level layers (tests of the converter's refusals). dtype: store arrays as this dtype."""
    if form not in FORMS:
        raise ValueError('form must be one of %s' % (FORMS,))
    layers = _layers_in_raw(raw)
    rpn = [(l, layers.pop(l)) for l in RPN_LAYERS if l in layers]
    for l, d in (extra_groups or {}).items():
        layers[l] = [(t, a) for t, a in d.items()]
    top = []
    for l, ws in layers.items():
        top.append((l, ws))
        if l == 'fpn_p5' and rpn:           # the RPN follows the FPN in the matterport graph
            top.append(('rpn_model', None))
    if rpn and not any(l == 'rpn_model' for l, _ in top):
        top.append(('rpn_model', None))
    names = [l for l, _ in top]
    if weightless:
        wl = _weightless(variant)
        names = wl[:3] + names + wl[3:]
    counter = [0]
    with h5py.File(path, 'w') as f:
        root = f
        if full_model:
            f.attrs['model_config'] = b'{"class_name": "Model", "config": {"name": "mask_rcnn"}}'
            f.attrs['training_config'] = b'{"loss": {}}'
            f.create_group('optimizer_weights').attrs['weight_names'] = np.array([b'training/SGD/Variable:0'])
            f['optimizer_weights'].create_dataset('training/SGD/Variable:0', data=np.zeros((3,), np.float32))
            root = f.create_group('model_weights')
        _attr(root, 'layer_names', names, vlen_str, chunk_attrs)
        root.attrs['backend'] = b'tensorflow'
        root.attrs['keras_version'] = keras_version.encode('ascii')
        weights = dict(top)
        for l in names:
            g = root.create_group(l)
            ws = weights.get(l, [])
            if l == 'rpn_model':
                wn, arrs = [], []
                for sub, sws in rpn:
                    scope = sub + '_1' if form == 'td_inner' else sub
                    for t, a in sws:
                        wn.append('%s/%s:0' % (scope, t))
                        arrs.append(a)
            else:
                wn = weight_names(l, [t for t, _ in ws], form, counter) if ws else []
                arrs = [a for _, a in ws]
            _attr(g, 'weight_names', wn, vlen_str)
            for n, a in zip(wn, arrs):
                if isinstance(a, tuple):            # a shape only: dataset without storage (reads as 0)
                    g.create_dataset(n, shape=a, dtype=dtype or np.float32)
                    continue
                a = np.asarray(a)
                g.create_dataset(n, data=a.astype(dtype) if dtype else a)
    return path


def read_h5_raw(path):
    """An independent, minimal reader for the test's own files: every dataset found by walking the file,
    named <layer>/<token> by the last two meaningful path parts. Used by check_convert.py to feed the
    reference directly from the h5 (not through the converter)."""
    raw = {}
    with h5py.File(path, 'r') as f:
        root = f['model_weights'] if 'model_weights' in f and 'layer_names' not in f.attrs else f

        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            parts = name.split('/')
            tok = parts[-1].split(':')[0]
            top = parts[0]
            if top == 'rpn_model':
                layer = parts[-2]
                if layer.endswith('_1'):
                    layer = layer[:-2]
            else:
                layer = top
            raw['%s/%s' % (layer, tok)] = np.array(obj, dtype=np.float32)
        root.visititems(visit)
    return raw
