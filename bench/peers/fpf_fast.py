"""A fast PyTorch form of the FPF network, built from the reference model (weights/reference/fpf_ref.py)
with the same seeded weights, for timing and for the ONNX export.

FastTrunk  - the dense trunk: backbone(s) + FPN(s) + fusion + RPN convs + RPN softmax, every BatchNorm folded
             into its conv (float64 fold, as the .fpf writer does), plain nn.Conv2d, exportable to ONNX.
             Inputs: molded NCHW images (cell, and nucleus for FPF). Outputs: rpn_probs [1, A, 2],
             rpn_bbox [1, A, 4] and the fused maps F2..F5 (NCHW) that the RoI heads read.
WholeNet   - FastTrunk + proposals (top-k 6000, deltas, clip, NMS 0.7 -> <= 500) + PyramidROIAlign
             (crop_and_resize by gathers) + box head + detection (class 1: score >= 0.7, NMS 0.3, <= 200)
             + mask head (4 convs, 2x2/2 transposed conv, 1x1, sigmoid). Made of ops that ONNX has.
             It reproduces the structure and cost of the network; NMS ties and crop_and_resize border
             handling are ONNX's / close approximations, not the bit-exact reference (the reference
             itself is what bench/peers/torch_peer.py times end to end).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import ref_path

ref_path()
import fpf_ref  # noqa: E402

STD = torch.tensor([0.1, 0.1, 0.2, 0.2], dtype=torch.float32)


def fold(kconv, kbn=None):
    """KConv (+ KBN) -> nn.Conv2d with the BN folded in float64."""
    w = kconv.weight.detach().double()
    b = kconv.bias.detach().double()
    if kbn is not None:
        inv = kbn.gamma.detach().double() / torch.sqrt(kbn.moving_variance.double() + fpf_ref.BN_EPS)
        w = w * inv[:, None, None, None]
        b = (b - kbn.moving_mean.double()) * inv + kbn.beta.detach().double()
    cout, cin, kh, kw = w.shape
    stride = kconv.stride
    pad = kconv.k // 2 if kconv.padding == 'same' else 0
    c = nn.Conv2d(cin, cout, kh, stride=stride, padding=pad)
    c.weight.data.copy_(w.float())
    c.bias.data.copy_(b.float())
    c.kname = kconv.kname         # the Keras layer name (the .fpf tensor name), for the int8 QDQ export
    return c


def fold_dense(kdense, kbn=None):
    """KDense [fan_in, out] (+ KBN) -> (W [fan_in, out], b) float32 tensors, BN folded in float64."""
    w = kdense.weight.detach().double()
    b = kdense.bias.detach().double()
    if kbn is not None:
        inv = kbn.gamma.detach().double() / torch.sqrt(kbn.moving_variance.double() + fpf_ref.BN_EPS)
        w = w * inv[None, :]
        b = (b - kbn.moving_mean.double()) * inv + kbn.beta.detach().double()
    return w.float(), b.float()


class FBlock(nn.Module):
    def __init__(self, rb):
        super().__init__()
        self.a = fold(rb.c2a, rb.b2a)
        self.b = fold(rb.c2b, rb.b2b)
        self.c = fold(rb.c2c, rb.b2c)
        self.s = fold(rb.short, rb.bshort) if rb.short is not None else None

    def forward(self, x):
        y = F.relu(self.a(x))
        y = F.relu(self.b(y))
        y = self.c(y)
        s = self.s(x) if self.s is not None else x
        return F.relu(y + s)


class Stem(nn.Module):
    def __init__(self, tw):
        super().__init__()
        self.conv1 = fold(tw.conv1, tw.bn1)
        self.conv1.padding = (3, 3)      # ZeroPadding2D(3) + valid 7x7/2

    def forward(self, x):
        x = F.relu(self.conv1(x))
        # Keras 3x3/2 'same' max-pool pads bottom/right only; the input is >= 0 (ReLU), so a zero pad
        # gives the same maxima as TF's -inf pad.
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 3, 2)


class FPN(nn.Module):
    def __init__(self, tw):
        super().__init__()
        self.lat = nn.ModuleList([fold(tw.c2p2), fold(tw.c3p3), fold(tw.c4p4), fold(tw.c5p5)])
        self.smooth = nn.ModuleList([fold(p) for p in tw.p])

    def forward(self, C2, C3, C4, C5):
        L5 = self.lat[3](C5)
        L4 = F.interpolate(L5, scale_factor=2.0, mode='nearest') + self.lat[2](C4)
        L3 = F.interpolate(L4, scale_factor=2.0, mode='nearest') + self.lat[1](C3)
        L2 = F.interpolate(L3, scale_factor=2.0, mode='nearest') + self.lat[0](C2)
        return [self.smooth[0](L2), self.smooth[1](L3), self.smooth[2](L4), self.smooth[3](L5)]


class FTower(nn.Module):
    """Backbone + FPN -> [P2, P3, P4, P5]. Submodules stem, res2..res5, fpn (their names scope the ONNX
    node names, which bench/peers/ort_peer.js maps to stages)."""

    def __init__(self, tw):
        super().__init__()
        self.stem = Stem(tw)
        self.res2 = nn.Sequential(*[FBlock(b) for b in tw.stages[0]])
        self.res3 = nn.Sequential(*[FBlock(b) for b in tw.stages[1]])
        self.res4 = nn.Sequential(*[FBlock(b) for b in tw.stages[2]])
        self.res5 = nn.Sequential(*[FBlock(b) for b in tw.stages[3]])
        self.fpn = FPN(tw)

    def forward(self, x):
        C2 = self.res2(self.stem(x))
        C3 = self.res3(C2)
        C4 = self.res4(C3)
        C5 = self.res5(C4)
        return self.fpn(C2, C3, C4, C5)


class Fuse(nn.Module):
    def __init__(self, variant):
        super().__init__()
        self.variant = variant

    def forward(self, P, Pn):
        if Pn is None:
            F_ = list(P)
        elif self.variant == 'fpf_concat':
            F_ = [torch.cat([a, b], 1) for a, b in zip(P, Pn)]
        else:
            F_ = [a + b for a, b in zip(P, Pn)]
        F_.append(F.max_pool2d(F_[3], 1, 2))      # P6 = MaxPooling2D(1, stride 2) of the fused P5
        return F_


class RPN(nn.Module):
    def __init__(self, ref):
        super().__init__()
        self.shared = fold(ref.rpn.shared)
        self.cls = fold(ref.rpn.cls)
        self.bbox = fold(ref.rpn.bbox)

    def forward(self, P):
        logits, bbox = [], []
        for f in P:
            s = F.relu(self.shared(f))
            logits.append(self.cls(s).permute(0, 2, 3, 1).reshape(1, -1, 2))
            bbox.append(self.bbox(s).permute(0, 2, 3, 1).reshape(1, -1, 4))
        return torch.softmax(torch.cat(logits, 1), -1), torch.cat(bbox, 1)


class FastTrunk(nn.Module):
    def __init__(self, ref):
        super().__init__()
        self.variant = ref.variant
        self.fpf = ref.fpf
        self.core = FTower(ref.core) if ref.fpf else None   # nucleus tower first, as fpf runs it
        self.tower = FTower(ref.tower)
        self.fuse = Fuse(ref.variant)
        self.rpn = RPN(ref)

    def pyramid(self, x, xc=None):
        Pn = self.core(xc) if self.fpf else None
        return self.fuse(self.tower(x), Pn)

    def forward(self, x, xc):
        P = self.pyramid(x, xc)
        probs, deltas = self.rpn(P)
        return probs, deltas, P[0], P[1], P[2], P[3]


# Stage names shared with the C bench (bench_fpf.c group names) for per-stage comparisons.
def stage_of(module_path, variant):
    """'core.res3...' / '/trunk/core/res3/...' -> 'nucleus res3'; None if not in the trunk."""
    p = module_path.replace('/', '.').strip('.')
    if p.startswith('trunk.'):
        p = p[6:]
    if p.startswith('t.'):          # TrunkSingle
        p = p[2:]
    parts = p.split('.')
    if parts[0] in ('core', 'tower') and len(parts) > 1:
        who = 'nucleus' if parts[0] == 'core' else 'cell'
        sub = parts[1]
        if sub in ('stem', 'res2'):
            return who + ' conv1+res2'
        if sub in ('res3', 'res4', 'res5'):
            return who + ' ' + sub
        if sub == 'fpn':
            if who == 'cell' and variant == 'fpf_add':
                return 'cell FPN + fusion + P6'
            return who + ' FPN'
        return who + ' (other)'
    if parts[0] == 'fuse':
        return 'cell FPN + fusion + P6' if variant == 'fpf_add' else 'fusion + P6'
    if parts[0] == 'rpn':
        return 'RPN (convs, softmax)'
    return None


def stage_hooks(trunk, stamps):
    """Forward hooks that append (stage, time) to stamps after each trunk stage module (eager only)."""
    import time as _t
    hs = []
    mods = []
    for tn in ('core', 'tower'):
        tw = getattr(trunk, tn)
        if tw is None:
            continue
        for sub in ('stem', 'res2', 'res3', 'res4', 'res5', 'fpn'):
            mods.append(('%s.%s' % (tn, sub), getattr(tw, sub)))
    mods += [('fuse', trunk.fuse), ('rpn', trunk.rpn)]
    for n, mod in mods:
        st = stage_of(n, trunk.variant)
        hs.append(mod.register_forward_hook(lambda m, i, o, st=st: stamps.append((st, _t.perf_counter()))))
    return hs


class TrunkSingle(nn.Module):
    """FastTrunk for one-input variants (cores, without_nucleus, with_nucleus)."""

    def __init__(self, trunk):
        super().__init__()
        self.t = trunk

    def forward(self, x):
        P = self.t.pyramid(x)
        probs, deltas = self.t.rpn(P)
        return probs, deltas, P[0], P[1], P[2], P[3]


# ----------------------------------------------------------------------------------------------- NMS
def _nms_eager(boxes, scores, iou, max_out):
    """Greedy NMS in score order (boxes y1,x1,y2,x2), numpy. Returns kept indices (int64 tensor)."""
    order = torch.argsort(scores, descending=True)
    b = boxes[order].numpy()
    n = b.shape[0]
    y1, x1, y2, x2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0)
    sup = np.zeros(n, np.bool_)
    keep = []
    for i in range(n):
        if sup[i]:
            continue
        keep.append(i)
        if len(keep) >= max_out:
            break
        iy1 = np.maximum(y1[i], y1[i + 1:])
        ix1 = np.maximum(x1[i], x1[i + 1:])
        iy2 = np.minimum(y2[i], y2[i + 1:])
        ix2 = np.minimum(x2[i], x2[i + 1:])
        inter = np.maximum(iy2 - iy1, 0) * np.maximum(ix2 - ix1, 0)
        sup[i + 1:] |= inter / np.maximum(area[i] + area[i + 1:] - inter, 1e-12) > iou
    return order[torch.tensor(keep, dtype=torch.long)]


class NMS(torch.autograd.Function):
    """Eager: greedy NMS. ONNX: NonMaxSuppression (one batch, one class, center_point_box 0)."""

    @staticmethod
    def forward(ctx, boxes, scores, iou, max_out):
        return _nms_eager(boxes, scores, float(iou), int(max_out))

    @staticmethod
    def symbolic(g, boxes, scores, iou, max_out):
        b = g.op('Unsqueeze', boxes, g.op('Constant', value_t=torch.tensor([0], dtype=torch.long)))
        s = g.op('Unsqueeze', scores, g.op('Constant', value_t=torch.tensor([0, 1], dtype=torch.long)))
        sel = g.op('NonMaxSuppression', b, s,
                   g.op('Constant', value_t=torch.tensor([int(max_out)], dtype=torch.long)),
                   g.op('Constant', value_t=torch.tensor([float(iou)], dtype=torch.float32)))
        idx = g.op('Gather', sel, g.op('Constant', value_t=torch.tensor(2, dtype=torch.long)), axis_i=1)
        return idx


def nms(boxes, scores, iou, max_out):
    return NMS.apply(boxes, scores, iou, max_out)


# ------------------------------------------------------------------------------------ box arithmetic
def apply_deltas(boxes, d):
    h = boxes[:, 2] - boxes[:, 0]
    w = boxes[:, 3] - boxes[:, 1]
    cy = boxes[:, 0] + 0.5 * h + d[:, 0] * h
    cx = boxes[:, 1] + 0.5 * w + d[:, 1] * w
    h = h * torch.exp(d[:, 2])
    w = w * torch.exp(d[:, 3])
    y1 = cy - 0.5 * h
    x1 = cx - 0.5 * w
    return torch.stack([y1, x1, y1 + h, x1 + w], 1)


def clip(boxes, win):
    y1 = torch.clamp(boxes[:, 0], min=float(win[0]), max=float(win[2]))
    x1 = torch.clamp(boxes[:, 1], min=float(win[1]), max=float(win[3]))
    y2 = torch.clamp(boxes[:, 2], min=float(win[0]), max=float(win[2]))
    x2 = torch.clamp(boxes[:, 3], min=float(win[1]), max=float(win[3]))
    return torch.stack([y1, x1, y2, x2], 1)


def crop_and_resize(flat, H, W, boxes, P):
    """tf.image.crop_and_resize (bilinear, extrapolation 0) of one map given as flat [H*W, D] (NHWC rows)
    -> [n, P, P, D], by row gathers."""
    D = flat.shape[1]
    hm1, wm1 = float(H - 1), float(W - 1)
    g = torch.arange(P, dtype=torch.float32)
    y1, x1, y2, x2 = boxes[:, 0:1], boxes[:, 1:2], boxes[:, 2:3], boxes[:, 3:4]
    in_y = y1 * hm1 + g[None, :] * ((y2 - y1) * hm1 / (P - 1))      # [n, P]
    in_x = x1 * wm1 + g[None, :] * ((x2 - x1) * wm1 / (P - 1))
    vy = (in_y >= 0) & (in_y <= hm1)
    vx = (in_x >= 0) & (in_x <= wm1)
    in_y = torch.where(vy, in_y, torch.zeros_like(in_y))
    in_x = torch.where(vx, in_x, torch.zeros_like(in_x))
    t = torch.floor(in_y)
    bt = torch.ceil(in_y)
    ly = (in_y - t)[:, :, None, None]                                # [n, P, 1, 1]
    l = torch.floor(in_x)
    r = torch.ceil(in_x)
    lx = (in_x - l)[:, None, :, None]                                # [n, 1, P, 1]
    t, bt, l, r = t.long(), bt.long(), l.long(), r.long()

    def tap(yi, xi):                                                 # -> [n, P, P, D]
        idx = (yi[:, :, None] * W + xi[:, None, :]).reshape(-1)
        return flat.index_select(0, idx).reshape(boxes.shape[0], P, P, D)

    tl, tr, bl, br = tap(t, l), tap(t, r), tap(bt, l), tap(bt, r)
    top = tl + (tr - tl) * lx
    bot = bl + (br - bl) * lx
    out = top + (bot - top) * ly
    valid = (vy[:, :, None] & vx[:, None, :])[..., None]
    return torch.where(valid, out, torch.zeros_like(out))            # [n, P, P, D] (NHWC, as Keras)


def to_rows(fm):
    """[1, D, H, W] -> ([H*W, D], H, W): the NHWC rows the RoI gathers read (one transpose per level)."""
    _, D, H, W = fm.shape
    return fm[0].permute(1, 2, 0).reshape(H * W, D), H, W


def roi_align(boxes, rows, P, image_area):
    """PyramidROIAlign: level per box, crop per level, back to the box order. rows: to_rows() of F2..F5.
    -> [n, P, P, D]."""
    h = boxes[:, 2] - boxes[:, 0]
    w = boxes[:, 3] - boxes[:, 1]
    lvl = torch.log(torch.sqrt(h * w) / (224.0 / math.sqrt(image_area))) / math.log(2.0)
    lvl = torch.clamp(4 + torch.round(lvl), 2, 5)          # zero-area boxes: log 0 = -inf -> level 2
    outs, idxs = [], []
    for k in (2, 3, 4, 5):
        ix = torch.nonzero(lvl == k)[:, 0]
        flat, H, W = rows[k - 2]
        outs.append(crop_and_resize(flat, H, W, boxes[ix], P))
        idxs.append(ix)
    pooled = torch.cat(outs, 0)
    order = torch.argsort(torch.cat(idxs, 0))
    return pooled[order]


class WholeNet(nn.Module):
    def __init__(self, ref, trunk, H, W, h=None, w=None):
        super().__init__()
        self.trunk = trunk
        self.fpf = ref.fpf
        self.H, self.W = H, W
        h = H if h is None else h
        w = W if w is None else w
        self.register_buffer('anchors', torch.from_numpy(fpf_ref.anchors_for(H, W)))
        self.window = fpf_ref.window32(h, w, H, W).tolist()
        W1, b1 = fold_dense(ref.box.conv1, ref.box.bn1)
        W2, b2 = fold_dense(ref.box.conv2, ref.box.bn2)
        self.fc1 = nn.Linear(W1.shape[0], W1.shape[1])
        self.fc1.weight.data.copy_(W1.t()); self.fc1.bias.data.copy_(b1)
        self.fc2 = nn.Linear(W2.shape[0], W2.shape[1])
        self.fc2.weight.data.copy_(W2.t()); self.fc2.bias.data.copy_(b2)
        self.logits = nn.Linear(ref.box.logits.weight.shape[0], ref.box.logits.weight.shape[1])
        self.logits.weight.data.copy_(ref.box.logits.weight.detach().t()); self.logits.bias.data.copy_(ref.box.logits.bias.detach())
        self.bbox = nn.Linear(ref.box.bbox.weight.shape[0], ref.box.bbox.weight.shape[1])
        self.bbox.weight.data.copy_(ref.box.bbox.weight.detach().t()); self.bbox.bias.data.copy_(ref.box.bbox.bias.detach())
        self.mconv = nn.ModuleList([fold(c, b) for c, b in zip(ref.mask.convs, ref.mask.bns)])
        m = ref.mask.m
        self.deconv = nn.ConvTranspose2d(m, m, 2, stride=2)
        self.deconv.weight.data.copy_(ref.mask.deconv_w.detach())     # (in, out, kh, kw)
        self.deconv.bias.data.copy_(ref.mask.deconv_b.detach())
        self.mout = fold(ref.mask.out)

    def forward(self, x, xc=None):
        probs, deltas, F2, F3, F4, F5 = self.trunk(x, xc) if self.fpf else self.trunk(x)
        fm = [to_rows(f) for f in (F2, F3, F4, F5)]
        area = float(self.H * self.W)
        # proposals
        scores = probs[0, :, 1]
        k = min(fpf_ref.PRE_NMS_LIMIT, int(self.anchors.shape[0]))
        top, ix = torch.topk(scores, k)
        boxes = clip(apply_deltas(self.anchors[ix], deltas[0][ix] * STD), [0.0, 0.0, 1.0, 1.0])
        keep = nms(boxes, top, float(fpf_ref.RPN_NMS_THRESHOLD), fpf_ref.POST_NMS_ROIS)
        rois = boxes[keep]
        # box head
        feat = roi_align(rois, fm, fpf_ref.POOL_SIZE, area)
        z = feat.reshape(feat.shape[0], -1)
        z = F.relu(self.fc1(z))
        z = F.relu(self.fc2(z))
        cls = torch.softmax(self.logits(z), -1)
        bb = self.bbox(z).reshape(-1, 2, 4)
        # detection (two classes: only class 1 can be kept)
        score, cid = torch.max(cls, 1)
        d = bb[:, 1, :] * STD
        refined = clip(apply_deltas(rois, d), self.window)
        sel = torch.nonzero((cid > 0) & (score >= float(fpf_ref.DETECTION_MIN_CONFIDENCE)))[:, 0]
        kb, ks = refined[sel], score[sel]
        dk = nms(kb, ks, float(fpf_ref.DETECTION_NMS_THRESHOLD), fpf_ref.DETECTION_MAX_INSTANCES)
        det, dscore = kb[dk], ks[dk]
        # mask head
        mf = roi_align(det, fm, fpf_ref.MASK_POOL_SIZE, area).permute(0, 3, 1, 2)
        for c in self.mconv:
            mf = F.relu(c(mf))
        mf = F.relu(self.deconv(mf))
        masks = torch.sigmoid(self.mout(mf))[:, 1]
        return det, dscore, masks


def build(cfg, variant, seed, nucleus_seed):
    """The reference model with the seeded weights, and its FastTrunk."""
    ref_path()
    import seeded
    raw = seeded.make_raw_weights(cfg, variant, seed=seed, nucleus_seed=nucleus_seed)
    ref = fpf_ref.FPFModel(cfg, variant).load_raw(raw).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    trunk = FastTrunk(ref).eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    return ref, trunk
