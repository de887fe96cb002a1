"""Independent Python/PyTorch reference of FPF (Feature Pyramid Fusion) Mask R-CNN inference.

Written from the project's inference spec (its rules and section numbers: docs/ARCHITECTURE.md) and
weights/reference/CONTRACT.md only,
never from the C code. Decisions where spec/contract were open or wrong: NOTES.md.

How to run (always with /usr/bin/python3, the interpreter that has numpy + torch):

    cd weights/reference
    /usr/bin/python3 -c "
    import numpy as np, seeded, fpf_ref
    raw = seeded.make_raw_weights('tiny', 'fpf_add', seed=1, nucleus_seed=7)
    model = fpf_ref.FPFModel('tiny', 'fpf_add').load_raw(raw)
    cell = np.random.RandomState(0).randint(0, 255, (150, 230)).astype(np.uint8)
    nuc = np.random.RandomState(1).randint(0, 255, (150, 230)).astype(np.uint8)
    out = fpf_ref.run_inference(model, cell=cell, nucleus=nuc)   # OrderedDict of every contract stage
    print(out['final.boxes'], out['final.scores'])"

    /usr/bin/python3 weights/reference/make_fixtures.py     # writes tests/fixtures/*.fpt (make fixtures)
    /usr/bin/python3 weights/reference/selftest.py          # unit checks of the tricky semantics

Layout of this file:
  * dense, differentiable torch trunk: KConv/KBN/blocks, Tower (backbone + FPN), RPNHead, BoxHead, MaskHead,
    FPFModel (load_raw()/raw_state() convert from/to raw Keras-named, Keras-layout float32 tensors);
  * post-processing as plain numpy float32 functions: molding/padding, anchors, rpn_softmax, proposals,
    nms_tf (TF semantics + libstdc++ heap tie emulation), roi_levels, crop_and_resize, pyramid_roi_align,
    head_softmax, refine_detections, unmold_detections, paste_mask;
  * run_inference(): the whole pipeline, returning the contract section 6 stages.
All activations in this file are float32; NHWC outside torch, NCHW inside.
"""
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from seeded import CONFIGS, VARIANTS, CORE_SUFFIX, is_fpf, input_channels, pyramid_depth

f32 = np.float32

# ----------------------------------------------------------------------------- constants (spec 1.4)
MEAN_PIXEL = f32(112.5)
PIXEL_SCALE = f32(255.0)
BN_EPS = 1e-3
ANCHOR_SCALES = (32, 64, 128, 256, 512)
ANCHOR_RATIOS = (0.5, 1, 2)
BACKBONE_STRIDES = (4, 8, 16, 32, 64)
ANCHOR_STRIDE = 1
PRE_NMS_LIMIT = 6000
POST_NMS_ROIS = 500
RPN_NMS_THRESHOLD = f32(0.7)
STD_DEV = np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)     # RPN_BBOX_STD_DEV == BBOX_STD_DEV
POOL_SIZE = 7
MASK_POOL_SIZE = 14
DETECTION_MIN_CONFIDENCE = f32(0.7)
DETECTION_NMS_THRESHOLD = f32(0.3)
DETECTION_MAX_INSTANCES = 200
MASK_THRESHOLD = 0.5
ROI_CANONICAL = f32(224.0)
NMS_TIE_MODE = 'tf-compat'


def cfg_of(cfg):
    return CONFIGS[cfg] if isinstance(cfg, str) else cfg


# ----------------------------------------------------------------------------- float32 helpers
def exp32(x):
    """float32 exp, correctly rounded (evaluated in float64, rounded once) -- deterministic across CPUs."""
    return np.exp(np.asarray(x, np.float32).astype(np.float64)).astype(np.float32)


def log32(x):
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.log(np.asarray(x, np.float32).astype(np.float64)).astype(np.float32)


def _chk32(*arrs):
    for a in arrs:
        assert a.dtype == np.float32, a.dtype


# ============================================================================= dense torch trunk
class KConv(nn.Module):
    """Keras Conv2D (NCHW in torch). padding 'same' (stride 1, odd k: symmetric k//2) or 'valid'.
    Stored in torch layout (out, in, kh, kw); Keras kernel is (kh, kw, in, out)."""

    def __init__(self, name, cin, cout, k, stride=1, padding='valid'):
        super().__init__()
        self.kname, self.k, self.stride, self.padding = name, k, stride, padding
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        pad = self.k // 2 if self.padding == 'same' else 0
        if self.padding == 'same':
            assert self.stride == 1 and self.k % 2 == 1
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=pad)

    def load(self, raw):
        k = raw[self.kname + '/kernel']
        assert k.shape == (self.k, self.k, self.weight.shape[1], self.weight.shape[0]), (self.kname, k.shape)
        self.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
        self.bias.data.copy_(torch.from_numpy(raw[self.kname + '/bias']))

    def export(self, d):
        d[self.kname + '/kernel'] = self.weight.detach().numpy().transpose(2, 3, 1, 0).copy()
        d[self.kname + '/bias'] = self.bias.detach().numpy().copy()


class KDense(nn.Module):
    """Keras Dense; kernel (in, out). Also used for 7x7 valid conv == FC over (y, x, c)-flattened input."""

    def __init__(self, name, keras_shape):
        super().__init__()
        self.kname, self.kshape = name, tuple(keras_shape)
        fan_in = int(np.prod(keras_shape[:-1]))
        self.weight = nn.Parameter(torch.zeros(fan_in, keras_shape[-1]))
        self.bias = nn.Parameter(torch.zeros(keras_shape[-1]))

    def forward(self, x):       # x [R, fan_in]
        return torch.addmm(self.bias, x, self.weight)

    def load(self, raw):
        k = raw[self.kname + '/kernel']
        assert k.shape == self.kshape, (self.kname, k.shape, self.kshape)
        self.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(k.reshape(self.weight.shape))))
        self.bias.data.copy_(torch.from_numpy(raw[self.kname + '/bias']))

    def export(self, d):
        d[self.kname + '/kernel'] = self.weight.detach().numpy().reshape(self.kshape).copy()
        d[self.kname + '/bias'] = self.bias.detach().numpy().copy()


class KBN(nn.Module):
    """Keras BatchNormalization in inference mode (TRAIN_BN=False: always moving stats, eps 1e-3), evaluated as
    tf.nn.batch_normalization: inv = gamma * rsqrt(var + eps); y = x * inv + (beta - mean * inv). Not folded."""

    def __init__(self, name, c, channel_dim=1):
        super().__init__()
        self.kname, self.cdim = name, channel_dim
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))
        self.register_buffer('moving_mean', torch.zeros(c))
        self.register_buffer('moving_variance', torch.ones(c))

    def forward(self, x):
        inv = torch.rsqrt(self.moving_variance + BN_EPS) * self.gamma
        off = self.beta - self.moving_mean * inv
        shape = [1] * x.dim()
        shape[self.cdim] = -1
        return x * inv.view(shape) + off.view(shape)

    def load(self, raw):
        for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
            getattr(self, w).data.copy_(torch.from_numpy(raw[self.kname + '/' + w]))

    def export(self, d):
        for w in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
            d[self.kname + '/' + w] = getattr(self, w).detach().numpy().copy()


class ResBlock(nn.Module):
    """conv_block (shortcut conv, stride on the 1x1 2a and branch1) or identity_block."""

    def __init__(self, stage, block, cin, f1, f3, stride, conv_shortcut, suffix):
        super().__init__()
        cb, bb = 'res%d%s_branch' % (stage, block), 'bn%d%s_branch' % (stage, block)
        self.c2a = KConv(cb + '2a' + suffix, cin, f1, 1, stride)
        self.b2a = KBN(bb + '2a' + suffix, f1)
        self.c2b = KConv(cb + '2b' + suffix, f1, f1, 3, 1, 'same')
        self.b2b = KBN(bb + '2b' + suffix, f1)
        self.c2c = KConv(cb + '2c' + suffix, f1, f3, 1)
        self.b2c = KBN(bb + '2c' + suffix, f3)
        self.short = None
        if conv_shortcut:
            self.short = KConv(cb + '1' + suffix, cin, f3, 1, stride)
            self.bshort = KBN(bb + '1' + suffix, f3)

    def forward(self, x):
        y = F.relu(self.b2a(self.c2a(x)))
        y = F.relu(self.b2b(self.c2b(y)))
        y = self.b2c(self.c2c(y))
        s = self.bshort(self.short(x)) if self.short is not None else x
        return F.relu(y + s)


def maxpool_same_3x3s2(x):
    """Keras MaxPooling2D((3,3), (2,2), 'same'): TF SAME pads only bottom/right here -> rows {2i, 2i+1, 2i+2}."""
    H, W = x.shape[2], x.shape[3]
    oh, ow = -(-H // 2), -(-W // 2)
    ph, pw = max((oh - 1) * 2 + 3 - H, 0), max((ow - 1) * 2 + 3 - W, 0)
    pt, pl = ph // 2, pw // 2          # TF: before = total // 2, after = the rest
    x = F.pad(x, (pl, pw - pl, pt, ph - pt), value=float('-inf'))
    return F.max_pool2d(x, 3, 2)


def upsample2(x):
    """UpSampling2D(2) = resize_nearest_neighbor without align_corners = pixel replication."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


class Tower(nn.Module):
    """Reduced ResNet backbone (stage5 always) + FPN. Returns dict C2..C5, P2..P6 (NCHW)."""

    def __init__(self, cfg, cin, suffix=''):
        super().__init__()
        c = cfg_of(cfg)
        self.conv1 = KConv('conv1' + suffix, cin, c['stem'], 7, 2)
        self.bn1 = KBN('bn_conv1' + suffix, c['stem'])
        stages = []
        ch = c['stem']
        for si, stage in enumerate((2, 3, 4, 5)):
            blocks = []
            for bi in range(c['blocks'][si]):
                stride = (1 if stage == 2 else 2) if bi == 0 else 1
                blocks.append(ResBlock(stage, chr(97 + bi), ch, c['f1'][si], c['f3'][si], stride, bi == 0, suffix))
                ch = c['f3'][si]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        Fw = c['fpn']
        self.c5p5 = KConv('fpn_c5p5' + suffix, c['f3'][3], Fw, 1)
        self.c4p4 = KConv('fpn_c4p4' + suffix, c['f3'][2], Fw, 1)
        self.c3p3 = KConv('fpn_c3p3' + suffix, c['f3'][1], Fw, 1)
        self.c2p2 = KConv('fpn_c2p2' + suffix, c['f3'][0], Fw, 1)
        self.p = nn.ModuleList([KConv('fpn_p%d' % k + suffix, Fw, Fw, 3, 1, 'same') for k in (2, 3, 4, 5)])

    def forward(self, x):
        # ZeroPadding2D(3) + valid 7x7/2 == symmetric pad 3 (in the molded domain)
        x = F.conv2d(F.pad(x, (3, 3, 3, 3)), self.conv1.weight, self.conv1.bias, stride=2)
        x = F.relu(self.bn1(x))
        x = maxpool_same_3x3s2(x)
        out = {}
        for i, st in enumerate(self.stages):
            x = st(x)
            out['C%d' % (i + 2)] = x
        P5 = self.c5p5(out['C5'])
        P4 = upsample2(P5) + self.c4p4(out['C4'])
        P3 = upsample2(P4) + self.c3p3(out['C3'])
        P2 = upsample2(P3) + self.c2p2(out['C2'])
        out['P2'] = self.p[0](P2)
        out['P3'] = self.p[1](P3)
        out['P4'] = self.p[2](P4)
        out['P5'] = self.p[3](P5)
        out['P6'] = out['P5'][:, :, ::2, ::2]      # MaxPooling2D(1, stride 2) == subsampling
        return out


class RPNHead(nn.Module):
    def __init__(self, cfg, D):
        super().__init__()
        c = cfg_of(cfg)
        self.shared = KConv('rpn_conv_shared', D, c['rpn'], 3, 1, 'same')
        self.cls = KConv('rpn_class_raw', c['rpn'], 6, 1)
        self.bbox = KConv('rpn_bbox_pred', c['rpn'], 12, 1)

    def forward(self, feats):
        """feats: list of NCHW maps (P2..P6). Returns logits [N, A, 2], bbox [N, A, 4]."""
        logits, bbox = [], []
        for f in feats:
            s = F.relu(self.shared(f))
            n = s.shape[0]
            logits.append(self.cls(s).permute(0, 2, 3, 1).reshape(n, -1, 2))
            bbox.append(self.bbox(s).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.cat(logits, 1), torch.cat(bbox, 1)


class BoxHead(nn.Module):
    def __init__(self, cfg, D):
        super().__init__()
        c = cfg_of(cfg)
        self.conv1 = KDense('mrcnn_class_conv1', (POOL_SIZE, POOL_SIZE, D, c['fc']))
        self.bn1 = KBN('mrcnn_class_bn1', c['fc'])
        self.conv2 = KDense('mrcnn_class_conv2', (1, 1, c['fc'], c['fc']))
        self.bn2 = KBN('mrcnn_class_bn2', c['fc'])
        self.logits = KDense('mrcnn_class_logits', (c['fc'], 2))
        self.bbox = KDense('mrcnn_bbox_fc', (c['fc'], 8))

    def forward(self, pooled):
        """pooled: [R, 7, 7, D] (NHWC). Returns logits [R, 2], deltas [R, 2, 4]."""
        x = pooled.reshape(pooled.shape[0], -1)            # (y, x, c) flatten == Keras 7x7 valid conv
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.logits(x), self.bbox(x).reshape(-1, 2, 4)


class MaskHead(nn.Module):
    def __init__(self, cfg, D):
        super().__init__()
        c = cfg_of(cfg)
        m = c['mask']
        self.convs = nn.ModuleList([KConv('mrcnn_mask_conv%d' % i, D if i == 1 else m, m, 3, 1, 'same')
                                    for i in range(1, 5)])
        self.bns = nn.ModuleList([KBN('mrcnn_mask_bn%d' % i, m) for i in range(1, 5)])
        self.m = m
        # Conv2DTranspose: keras kernel (kh, kw, out, in); torch conv_transpose2d weight (in, out, kh, kw)
        self.deconv_w = nn.Parameter(torch.zeros(m, m, 2, 2))
        self.deconv_b = nn.Parameter(torch.zeros(m))
        self.out = KConv('mrcnn_mask', m, 2, 1)

    def forward(self, pooled):
        """pooled: [R, 14, 14, D] NHWC -> mask logits [R, 28, 28, 2] NHWC (sigmoid applied by caller)."""
        x = pooled.permute(0, 3, 1, 2)
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(bn(conv(x)))
        # out[2i+a, 2j+b, o] = bias[o] + sum_c in[i, j, c] * K[a, b, o, c]   (no flip, no overlap)
        # (written as an einsum: torch's CPU conv_transpose2d is very slow; same math, differentiable)
        R, _, H, W = x.shape
        y = torch.einsum('rchw,coab->rohawb', x, self.deconv_w).reshape(R, self.m, 2 * H, 2 * W)
        x = F.relu(y + self.deconv_b.view(1, -1, 1, 1))
        return self.out(x).permute(0, 2, 3, 1)

    def load_deconv(self, raw):
        k = raw['mrcnn_mask_deconv/kernel']
        assert k.shape == (2, 2, self.m, self.m)
        self.deconv_w.data.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
        self.deconv_b.data.copy_(torch.from_numpy(raw['mrcnn_mask_deconv/bias']))

    def export_deconv(self, d):
        d['mrcnn_mask_deconv/kernel'] = self.deconv_w.detach().numpy().transpose(2, 3, 1, 0).copy()
        d['mrcnn_mask_deconv/bias'] = self.deconv_b.detach().numpy().copy()


class FPFModel(nn.Module):
    """One of the five variants. forward_pyramid() gives the towers' C/P maps and the fused F2..F6."""

    def __init__(self, cfg, variant):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(variant)
        self.cfg_name = cfg if isinstance(cfg, str) else 'custom'
        self.cfg, self.variant = cfg_of(cfg), variant
        self.fpf = is_fpf(variant)
        self.D = pyramid_depth(self.cfg, variant)
        self.tower = Tower(self.cfg, input_channels(variant))
        self.core = Tower(self.cfg, 1, CORE_SUFFIX) if self.fpf else None
        self.rpn = RPNHead(self.cfg, self.D)
        self.box = BoxHead(self.cfg, self.D)
        self.mask = MaskHead(self.cfg, self.D)

    def _leaves(self):
        return [m for m in self.modules() if isinstance(m, (KConv, KDense, KBN))]

    def load_raw(self, raw, strict=True):
        """raw: {keras name: float32 numpy array in Keras layout}. Returns self."""
        raw = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
        used = set()
        for m in self._leaves():
            m.load(raw)
            used.update(k for k in raw if k.rsplit('/', 1)[0] == m.kname)
        self.mask.load_deconv(raw)
        used.update(('mrcnn_mask_deconv/kernel', 'mrcnn_mask_deconv/bias'))
        extra = set(raw) - used
        if strict and extra:
            raise ValueError('unused raw tensors: %s' % sorted(extra)[:10])
        return self

    def raw_state(self):
        """Inverse of load_raw: {keras name: Keras-layout float32 numpy array}."""
        d = {}
        for m in self._leaves():
            m.export(d)
        self.mask.export_deconv(d)
        return d

    def forward_pyramid(self, x, x_core=None):
        """x: molded NCHW cell (or single-tower) input; x_core: molded NCHW nucleus input (FPF only)."""
        cell = self.tower(x)
        out = {'cell': cell}
        if self.fpf:
            nuc = self.core(x_core)
            out['nucleus'] = nuc
            if self.variant == 'fpf_concat':
                fused = [torch.cat([cell['P%d' % k], nuc['P%d' % k]], 1) for k in range(2, 7)]
            else:
                fused = [cell['P%d' % k] + nuc['P%d' % k] for k in range(2, 7)]
        else:
            fused = [cell['P%d' % k] for k in range(2, 7)]
        out['F'] = fused
        return out


# ============================================================================= input, anchors
def pad_shape(h, w):
    return -(-h // 64) * 64, -(-w // 64) * 64


def mold(img_u8, Hp, Wp):
    """uint8 (or 0..255 float) [h, w] or [h, w, C] -> molded float32 [Hp, Wp, C], padded bottom/right with raw 0."""
    a = np.asarray(img_u8)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, C = a.shape
    p = np.zeros((Hp, Wp, C), np.float32)
    p[:h, :w] = a.astype(np.float32)
    return (p - MEAN_PIXEL) / PIXEL_SCALE            # true division, float32


def window_of(h, w, Hp, Wp):
    """norm_boxes([0, 0, h, w], (Hp, Wp)) in float64, cast to float32 (contract section 4)."""
    return (np.array([0, 0, h, w], np.float64) - np.array([0, 0, 1, 1], np.float64)) / \
        np.array([Hp - 1, Wp - 1, Hp - 1, Wp - 1], np.float64)


def window32(h, w, Hp, Wp):
    return window_of(h, w, Hp, Wp).astype(np.float32)


def generate_anchors(scale, ratios, shape, stride, anchor_stride=ANCHOR_STRIDE):
    scales, ratios = np.meshgrid(np.array([scale], np.float64), np.array(ratios, np.float64))
    scales, ratios = scales.flatten(), ratios.flatten()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)
    shifts_y = np.arange(0, shape[0], anchor_stride) * stride
    shifts_x = np.arange(0, shape[1], anchor_stride) * stride
    shifts_x, shifts_y = np.meshgrid(shifts_x, shifts_y)
    box_widths, box_centers_x = np.meshgrid(widths, shifts_x)
    box_heights, box_centers_y = np.meshgrid(heights, shifts_y)
    centers = np.stack([box_centers_y, box_centers_x], axis=2).reshape([-1, 2])
    sizes = np.stack([box_heights, box_widths], axis=2).reshape([-1, 2])
    return np.concatenate([centers - 0.5 * sizes, centers + 0.5 * sizes], axis=1)


def anchors_for(H, W):
    """Normalized anchors [A, 4] float32 for a (padded) H x W input; float64 arithmetic, one cast."""
    a = np.concatenate([generate_anchors(s, ANCHOR_RATIOS, (int(math.ceil(H / f)), int(math.ceil(W / f))), f)
                        for s, f in zip(ANCHOR_SCALES, BACKBONE_STRIDES)], axis=0)
    scale = np.array([H - 1, W - 1, H - 1, W - 1], np.float64)
    shift = np.array([0, 0, 1, 1], np.float64)
    return ((a - shift) / scale).astype(np.float32)


# ============================================================================= RPN / proposals
def rpn_softmax(logits):
    """Keras softmax on a 3-D tensor: e = exp(x - max); e / sum(e) (true division), float32."""
    l = np.asarray(logits, np.float32)
    m = np.max(l, axis=-1, keepdims=True)
    e = exp32(l - m)
    return e / np.sum(e, axis=-1, keepdims=True, dtype=np.float32)


def head_softmax(logits):
    """tf.nn.softmax kernel: exp(x - max) * (1 / sum) (reciprocal multiply), float32."""
    l = np.asarray(logits, np.float32)
    m = np.max(l, axis=-1, keepdims=True)
    e = exp32(l - m)
    return e * (f32(1.0) / np.sum(e, axis=-1, keepdims=True, dtype=np.float32))


def apply_box_deltas(boxes, deltas):
    """apply_box_deltas_graph in float32, exact op order (y2 = y1' + h)."""
    boxes = np.asarray(boxes, np.float32)
    deltas = np.asarray(deltas, np.float32)
    _chk32(boxes, deltas)
    h = boxes[:, 2] - boxes[:, 0]
    w = boxes[:, 3] - boxes[:, 1]
    cy = boxes[:, 0] + f32(0.5) * h
    cx = boxes[:, 1] + f32(0.5) * w
    cy = cy + deltas[:, 0] * h
    cx = cx + deltas[:, 1] * w
    h = h * exp32(deltas[:, 2])
    w = w * exp32(deltas[:, 3])
    y1 = cy - f32(0.5) * h
    x1 = cx - f32(0.5) * w
    y2 = y1 + h
    x2 = x1 + w
    out = np.stack([y1, x1, y2, x2], axis=1)
    _chk32(out)
    return out


def clip_boxes(boxes, window):
    """clip_boxes_graph: max(min(v, w_hi), w_lo)."""
    w = np.asarray(window, np.float32)
    b = np.asarray(boxes, np.float32)
    y1 = np.maximum(np.minimum(b[:, 0], w[2]), w[0])
    x1 = np.maximum(np.minimum(b[:, 1], w[3]), w[1])
    y2 = np.maximum(np.minimum(b[:, 2], w[2]), w[0])
    x2 = np.maximum(np.minimum(b[:, 3], w[3]), w[1])
    out = np.stack([y1, x1, y2, x2], axis=1)
    _chk32(out)
    return out


def topk_stable(scores, k):
    """tf.nn.top_k(sorted=True): descending, equal values keep the lower index first."""
    s = np.asarray(scores, np.float32)
    return np.argsort(-s, kind='stable')[:k]


class _LibstdcxxMaxHeap(object):
    """std::priority_queue<Candidate, ..., cmp(a,b)= a.score < b.score> as implemented by libstdc++
    (push_heap / pop_heap / __adjust_heap), to reproduce TF's NMS candidate order on equal scores."""

    def __init__(self):
        self.a = []            # list of (score, index)

    def __len__(self):
        return len(self.a)

    def _push_up(self, hole, top, value):
        a = self.a
        parent = (hole - 1) // 2
        while hole > top and a[parent][0] < value[0]:
            a[hole] = a[parent]
            hole = parent
            parent = (hole - 1) // 2
        a[hole] = value

    def push(self, value):
        self.a.append(value)
        self._push_up(len(self.a) - 1, 0, value)

    def pop(self):
        a = self.a
        top = a[0]
        n = len(a)
        if n > 1:
            value = a[n - 1]
            a[n - 1] = top
            length = n - 1
            hole = 0
            second = 0
            while second < (length - 1) // 2:
                second = 2 * (second + 1)
                if a[second][0] < a[second - 1][0]:
                    second -= 1
                a[hole] = a[second]
                hole = second
            if (length & 1) == 0 and second == (length - 2) // 2:
                second = 2 * (second + 1)
                a[hole] = a[second - 1]
                hole = second - 1
            self._push_up(hole, 0, value)
        a.pop()
        return top


def nms_order(scores, tie_mode=NMS_TIE_MODE):
    """Order in which TF's NMS visits the candidates."""
    s = np.asarray(scores, np.float32)
    if tie_mode == 'stable':
        for i in np.argsort(-s, kind='stable'):
            yield int(i)
        return
    if tie_mode != 'tf-compat':
        raise ValueError(tie_mode)
    heap = _LibstdcxxMaxHeap()
    for i, v in enumerate(s.tolist()):        # score_threshold = -inf: every finite score is a candidate
        if v > -math.inf:
            heap.push((v, i))
    while len(heap):
        yield heap.pop()[1]


def nms_tf(boxes, scores, max_output_size, iou_threshold, tie_mode=NMS_TIE_MODE):
    """tf.image.non_max_suppression (TF 1.x kernel semantics): float32 IoU without +1, IoU = 0 if either area <= 0,
    suppress on IoU > threshold (strict), greedy in score order. Returns selected indices (int64)."""
    b = np.asarray(boxes, np.float32)
    thr = f32(iou_threshold)
    ymin = np.minimum(b[:, 0], b[:, 2])
    xmin = np.minimum(b[:, 1], b[:, 3])
    ymax = np.maximum(b[:, 0], b[:, 2])
    xmax = np.maximum(b[:, 1], b[:, 3])
    area = (ymax - ymin) * (xmax - xmin)
    _chk32(area)
    sel = []
    sel_arr = np.zeros(0, np.int64)
    zero = f32(0.0)
    for i in nms_order(scores, tie_mode):
        if len(sel) >= max_output_size:
            break
        ok = True
        if len(sel) and area[i] > zero:
            j = sel_arr
            iy1 = np.maximum(ymin[i], ymin[j])
            ix1 = np.maximum(xmin[i], xmin[j])
            iy2 = np.minimum(ymax[i], ymax[j])
            ix2 = np.minimum(xmax[i], xmax[j])
            inter = np.maximum(iy2 - iy1, zero) * np.maximum(ix2 - ix1, zero)
            with np.errstate(divide='ignore', invalid='ignore'):
                iou = inter / (area[i] + area[j] - inter)
            iou = np.where(area[j] > zero, iou, zero)
            _chk32(iou)
            ok = not bool(np.any(iou > thr))
        if ok:
            sel.append(i)
            sel_arr = np.array(sel, np.int64)
    return np.array(sel, np.int64)


def proposals(rpn_probs, rpn_bbox, anchors, tie_mode=NMS_TIE_MODE, return_count=False):
    """ProposalLayer for one image: [POST_NMS_ROIS, 4] float32, zero padded."""
    scores = np.asarray(rpn_probs, np.float32)[:, 1]
    deltas = np.asarray(rpn_bbox, np.float32) * STD_DEV
    k = min(PRE_NMS_LIMIT, anchors.shape[0])
    ix = topk_stable(scores, k)
    scores, deltas, pre = scores[ix], deltas[ix], anchors[ix]
    boxes = apply_box_deltas(pre, deltas)
    boxes = clip_boxes(boxes, np.array([0, 0, 1, 1], np.float32))
    keep = nms_tf(boxes, scores, POST_NMS_ROIS, RPN_NMS_THRESHOLD, tie_mode)
    out = np.zeros((POST_NMS_ROIS, 4), np.float32)
    out[:len(keep)] = boxes[keep]
    return (out, len(keep)) if return_count else out


# ============================================================================= ROI align
def roi_level_value(boxes, image_area):
    """float32 lvl = log(sqrt(h*w) / (224 / sqrt(A))) / log(2) (TF float32 op order; ln/ln2, no log2)."""
    b = np.asarray(boxes, np.float32)
    h = b[:, 2] - b[:, 0]
    w = b[:, 3] - b[:, 1]
    denom = ROI_CANONICAL / np.sqrt(f32(image_area))
    v = np.sqrt(h * w) / denom
    _chk32(v)
    lvl = log32(v) / log32(f32(2.0))
    _chk32(lvl)
    return lvl


def level_from_lvl(lvl):
    """min(5, max(2, 4 + int(round_half_even(lvl)))); -inf / nan (zero-area boxes) -> 2."""
    r = np.rint(np.asarray(lvl, np.float32))          # half to even
    fin = np.isfinite(r)
    li = np.where(fin, 4 + np.where(fin, r, 0).astype(np.int64), np.iinfo(np.int32).min)
    return np.minimum(5, np.maximum(2, li)).astype(np.int32)


def roi_levels(boxes, image_area):
    """PyramidROIAlign level per box (float32, 224/sqrt(A) first, ln/ln2, round half to even, clamp [2, 5],
    zero area -> 2)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        return level_from_lvl(roi_level_value(boxes, image_area))


def crop_and_resize(fmap, boxes, P):
    """tf.image.crop_and_resize (bilinear, extrapolation 0), CPU kernel float32 op order.
    fmap [Hk, Wk, C] float32, boxes [n, 4] float32 normalized -> [n, P, P, C] float32."""
    fm = np.asarray(fmap, np.float32)
    b = np.asarray(boxes, np.float32)
    Hk, Wk, C = fm.shape
    n = b.shape[0]
    if n == 0:
        return np.zeros((0, P, P, C), np.float32)
    hm1, wm1 = f32(Hk - 1), f32(Wk - 1)
    y1, x1, y2, x2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    hs = (y2 - y1) * hm1 / f32(P - 1)
    ws = (x2 - x1) * wm1 / f32(P - 1)
    g = np.arange(P, dtype=np.float32)
    in_y = (y1 * hm1)[:, None] + g[None, :] * hs[:, None]        # [n, P]
    in_x = (x1 * wm1)[:, None] + g[None, :] * ws[:, None]
    _chk32(in_y, in_x)
    vy = (in_y >= 0) & (in_y <= hm1)
    vx = (in_x >= 0) & (in_x <= wm1)
    in_y = np.where(vy, in_y, f32(0))
    in_x = np.where(vx, in_x, f32(0))
    t = np.floor(in_y).astype(np.int64)
    bo = np.ceil(in_y).astype(np.int64)
    ly = in_y - t.astype(np.float32)
    l = np.floor(in_x).astype(np.int64)
    r = np.ceil(in_x).astype(np.int64)
    lx = in_x - l.astype(np.float32)
    _chk32(ly, lx)
    T, B = t[:, :, None], bo[:, :, None]
    L, R = l[:, None, :], r[:, None, :]
    lxb = lx[:, None, :, None]
    top = fm[T, L] + (fm[T, R] - fm[T, L]) * lxb
    bot = fm[B, L] + (fm[B, R] - fm[B, L]) * lxb
    out = top + (bot - top) * ly[:, :, None, None]
    valid = (vy[:, :, None] & vx[:, None, :])[..., None]
    out = np.where(valid, out, f32(0.0))          # extrapolation_value 0 (+0.0) per invalid row / column
    _chk32(out)
    return out


def pyramid_roi_align(boxes, fmaps, P, image_area):
    """fmaps: [F2, F3, F4, F5] as [Hk, Wk, D] float32 numpy. Returns [n, P, P, D] in the original box order."""
    b = np.asarray(boxes, np.float32)
    lv = roi_levels(b, image_area)
    D = fmaps[0].shape[-1]
    out = np.zeros((b.shape[0], P, P, D), np.float32)
    for k in (2, 3, 4, 5):
        idx = np.nonzero(lv == k)[0]
        if len(idx):
            out[idx] = crop_and_resize(fmaps[k - 2], b[idx], P)
    return out


# ============================================================================= detection layer
def refine_detections(rois, probs, deltas, window, tie_mode=NMS_TIE_MODE):
    """refine_detections_graph for one image -> [DETECTION_MAX_INSTANCES, 6] float32 (zero padded)."""
    rois = np.asarray(rois, np.float32)
    probs = np.asarray(probs, np.float32)
    deltas = np.asarray(deltas, np.float32)
    n = rois.shape[0]
    class_ids = np.argmax(probs, axis=1)                      # first max on ties
    scores = probs[np.arange(n), class_ids]
    d = deltas[np.arange(n), class_ids] * STD_DEV
    refined = clip_boxes(apply_box_deltas(rois, d), window)
    keep = np.nonzero((class_ids > 0) & (scores >= DETECTION_MIN_CONFIDENCE))[0]   # ascending
    det = np.zeros((DETECTION_MAX_INSTANCES, 6), np.float32)
    if len(keep) == 0:
        return det
    pre_ids = class_ids[keep]
    nms_keep = []
    _, first = np.unique(pre_ids, return_index=True)
    for cid in pre_ids[np.sort(first)]:                        # tf.unique: order of first appearance
        ixs = np.nonzero(pre_ids == cid)[0]
        ck = nms_tf(refined[keep[ixs]], scores[keep[ixs]], DETECTION_MAX_INSTANCES,
                    DETECTION_NMS_THRESHOLD, tie_mode)
        nms_keep.extend(keep[ixs[ck]].tolist())
    keep = np.intersect1d(keep, np.array(nms_keep, np.int64))  # sorted ascending (set_intersection)
    k = min(len(keep), DETECTION_MAX_INSTANCES)
    top = topk_stable(scores[keep], k)
    keep = keep[top]
    det[:k, :4] = refined[keep]
    det[:k, 4] = class_ids[keep].astype(np.float32)
    det[:k, 5] = scores[keep]
    return det


# ============================================================================= unmolding / paste
def resize_bilinear_sk014(m, oh, ow, clip=True):
    """skimage 0.14 transform.resize(m, (oh, ow), order=1, mode='constant', cval=0, clip=True), analytic form:
    float64, half-pixel centres, neighbours outside the grid are 0, no anti-aliasing, then 0.14's
    _clip_warp_output (clip to [min(m), max(m)], keeping exact-cval pixels when 0 is outside that range)."""
    m = np.asarray(m).astype(np.float64)
    ih, iw = m.shape
    fr = float(ih) / float(oh)
    fc = float(iw) / float(ow)
    r = fr * (np.arange(oh, dtype=np.float64) + 0.5) - 0.5
    c = fc * (np.arange(ow, dtype=np.float64) + 0.5) - 0.5
    r0 = np.floor(r).astype(np.int64)
    r1 = np.ceil(r).astype(np.int64)
    c0 = np.floor(c).astype(np.int64)
    c1 = np.ceil(c).astype(np.int64)
    dr = (r - r0)[:, None]
    dc = (c - c0)[None, :]
    mp = np.zeros((ih + 2, iw + 2), np.float64)
    mp[1:-1, 1:-1] = m

    def px(rr, cc):
        return mp[np.clip(rr, -1, ih) + 1][:, np.clip(cc, -1, iw) + 1]

    top = (1 - dc) * px(r0, c0) + dc * px(r0, c1)
    bottom = (1 - dc) * px(r1, c0) + dc * px(r1, c1)
    out = (1 - dr) * top + dr * bottom
    if clip:
        mn, mx = m.min(), m.max()
        preserve = not (mn <= 0.0 <= mx)
        if preserve:
            cmask = out == 0.0
        out = np.clip(out, mn, mx)
        if preserve:
            out[cmask] = 0.0
    return out


def paste_mask(mask, box, h, w, clip=True):
    """utils.unmold_mask: resize the 28x28 float mask to the pixel box, threshold >= 0.5, place into [h, w]."""
    y1, x1, y2, x2 = [int(v) for v in box]
    full = np.zeros((h, w), np.bool_)
    res = resize_bilinear_sk014(mask, y2 - y1, x2 - x1, clip=clip)
    sub = full[y1:y2, x1:x2]
    assert sub.shape == res.shape, (box, h, w)
    full[y1:y2, x1:x2] = res >= MASK_THRESHOLD
    return full


def unmold_detections(detections, mrcnn_mask, h, w, window):
    """unmold_detections with the contract's window rule. mrcnn_mask: [>= N0, 28, 28, 2].
    Returns (N0, boxes int32 [N,4], class_ids int32 [N], scores f32 [N], masks bool [N, h, w])."""
    det = np.asarray(detections, np.float32)
    zero_ix = np.nonzero(det[:, 4] == 0)[0]
    N0 = int(zero_ix[0]) if zero_ix.shape[0] > 0 else det.shape[0]
    boxes = det[:N0, :4]
    class_ids = det[:N0, 4].astype(np.int32)
    scores = det[:N0, 5]
    masks = np.asarray(mrcnn_mask)[np.arange(N0), :, :, class_ids] if N0 else np.zeros((0, 28, 28), np.float32)
    win = np.asarray(window, np.float32)
    wy1, wx1, wy2, wx2 = win
    shift = np.array([wy1, wx1, wy1, wx1], np.float32)
    wh, ww = wy2 - wy1, wx2 - wx1
    scale = np.array([wh, ww, wh, ww], np.float32)
    boxes = np.divide(boxes - shift, scale)
    _chk32(boxes)
    pscale = np.array([h - 1, w - 1, h - 1, w - 1], np.float64)
    pshift = np.array([0, 0, 1, 1], np.float64)
    px = np.around(boxes.astype(np.float64) * pscale + pshift).astype(np.int32)     # round half to even
    keep = np.nonzero((px[:, 2] - px[:, 0]) * (px[:, 3] - px[:, 1]) > 0)[0]
    px, class_ids, scores, masks = px[keep], class_ids[keep], scores[keep], masks[keep]
    full = np.zeros((len(keep), h, w), np.bool_)
    for i in range(len(keep)):
        full[i] = paste_mask(masks[i], px[i], h, w)
    return N0, px, class_ids, scores, full


# ============================================================================= whole pipeline
def _nhwc(t):
    return t[0].permute(1, 2, 0).contiguous().numpy()


def sigmoid32(x):
    x = np.asarray(x, np.float32).astype(np.float64)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


@torch.no_grad()
def run_inference(model, cell=None, nucleus=None, tie_mode=NMS_TIE_MODE):
    """Run one image (pair) through the model; returns an OrderedDict with the contract section 6 stages
    (numpy arrays; names as in the contract), plus 'info' (counts) which is not a stage."""
    v = model.variant
    if v == 'cores':
        img = nucleus if nucleus is not None else cell
        inp = np.asarray(img)
    elif v == 'with_nucleus':
        inp = np.stack([np.asarray(cell), np.asarray(nucleus)], axis=-1)
    else:
        inp = np.asarray(cell)
    h, w = inp.shape[:2]
    Hp, Wp = pad_shape(h, w)
    out = OrderedDict()
    out['mold'] = mold(inp, Hp, Wp)
    x = torch.from_numpy(out['mold']).permute(2, 0, 1)[None].contiguous()
    xc = None
    if model.fpf:
        assert np.asarray(nucleus).shape[:2] == (h, w)
        out['mold_nucleus'] = mold(nucleus, Hp, Wp)
        xc = torch.from_numpy(out['mold_nucleus']).permute(2, 0, 1)[None].contiguous()
    anchors = anchors_for(Hp, Wp)
    out['anchors'] = anchors
    pyr = model.forward_pyramid(x, xc)
    towers = [('cell', pyr['cell'])] + ([('nucleus', pyr['nucleus'])] if model.fpf else [])
    for tname, t in towers:
        for k in ('C2', 'C3', 'C4', 'C5', 'P2', 'P3', 'P4', 'P5', 'P6'):
            out['%s.%s' % (tname, k)] = _nhwc(t[k])
    fused = [_nhwc(f) for f in pyr['F']]
    for k, f in zip(range(2, 7), fused):
        out['F%d' % k] = f
    logits, bbox = model.rpn(pyr['F'])
    logits, bbox = logits[0].numpy(), bbox[0].numpy()
    assert logits.shape[0] == anchors.shape[0]
    out['rpn_class'] = rpn_softmax(logits)
    out['rpn_bbox'] = bbox
    rois, nprop = proposals(out['rpn_class'], bbox, anchors, tie_mode, return_count=True)
    out['rpn_rois'] = rois
    area = Hp * Wp
    feat = fused[:4]
    out['roi_feat'] = pyramid_roi_align(rois, feat, POOL_SIZE, area)
    cl, bb = model.box(torch.from_numpy(out['roi_feat']))
    out['mrcnn_class'] = head_softmax(cl.numpy())
    out['mrcnn_bbox'] = bb.numpy()
    win = window32(h, w, Hp, Wp)
    det = refine_detections(rois, out['mrcnn_class'], out['mrcnn_bbox'], win, tie_mode)
    out['detections'] = det
    zero_ix = np.nonzero(det[:, 4] == 0)[0]
    N0 = int(zero_ix[0]) if len(zero_ix) else det.shape[0]
    out['mask_feat'] = pyramid_roi_align(det[:N0, :4], feat, MASK_POOL_SIZE, area)
    if N0:
        ml = model.mask(torch.from_numpy(out['mask_feat'])).numpy()
    else:
        ml = np.zeros((0, 28, 28, 2), np.float32)
    out['mrcnn_mask'] = sigmoid32(ml)
    n0, boxes, cids, scores, masks = unmold_detections(det, out['mrcnn_mask'], h, w, win)
    assert n0 == N0
    out['final.boxes'] = boxes.astype(np.int32)
    out['final.class_ids'] = cids.astype(np.int32)
    out['final.scores'] = scores.astype(np.float32)
    out['final.masks'] = np.packbits(masks.astype(np.uint8).ravel())
    out['final.masks_bool'] = masks
    out['info'] = dict(h=h, w=w, Hp=Hp, Wp=Wp, n_proposals=nprop, N0=N0, N=len(boxes),
                       n_kept=int(np.sum((np.argmax(out['mrcnn_class'], 1) > 0) &
                                         (out['mrcnn_class'].max(1) >= DETECTION_MIN_CONFIDENCE))))
    return out
