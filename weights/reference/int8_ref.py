#!/usr/bin/python3
"""int8 reference (issue #11): an int8 .fpf model's residual stages 3..5, FPN, fusion, RPN, box head and mask
head, in numpy, written from the formula documented in fpf.h ("int8 quantized models"), not from the C code:

    q_x = clamp(round_half_even(x / s_x) + z_x, 0, 255)      x / s_x a float32 division
    acc = sum over (ky, kx, ci) of (q_x - z_x) * q_w          exact integers (float64 sums of them here)
    y   = float32(acc) * m[co] + bias[co],  m = s_x * s_w     float32 operations, in this order
    then + residual (or nearest-upsampled map, or the nucleus pyramid for FPF-add), ReLU (v < 0 -> 0);
    taps outside the input count as q_x = z_x.

Parity, each part from the C kit's dumped input of that part (weights/reference/int8_dump.c):
  - bit for bit: C2..C5 from C1..C4 (tower by tower), each tower's P2..P5 from its C2..C5 (the whole FPN),
    the fused F2..F6 (FPF-add in the cell tower's 3x3 epilogue, concat cell first, P6 = P5[::2, ::2]);
  - within 1e-4 relative: the RPN's scores and deltas from F2..F6, the box head's class probabilities and
    deltas from the pooled RoIs, the mask head's sigmoid masks from the pooled detections. Their hidden
    int8 layers follow the formula, but they end in fp32 output layers whose float32 summation order (and
    expf) the contract leaves open. Moving every zero point by one (--must-fail) moves these outputs by
    1e-3..1e-2, so the tolerance still catches a one-step integer error.

    make int8-ref [INT8_REF_CONFIG=paper] [INT8_REF_VARIANTS="fpf_add cores"]
    (or by hand: build/int8_dump MODEL_int8.fpf CELL.tif NUCLEUS.tif DIR;
     /usr/bin/python3 weights/reference/int8_ref.py MODEL_int8.fpf DIR [--must-fail])

Exit status 0 when every comparison holds (with --must-fail: when every comparison fails).
Not covered: the stem (fp32; C1, its pooled output, is where the int8 part starts), RoIAlign and the
detection layer (fp32, covered by the fp32 parity suite).
"""
import os
import struct
import sys

import numpy as np

HDR, CFG, ENTRY = 64, 256, 128


def read_fpf(path):
    b = open(path, 'rb').read()
    T = struct.unpack_from('<I', b, 12)[0]
    words = struct.unpack_from('<64I', b, HDR)
    cfg = dict(blocks=words[5:9], bottleneck=words[9:13], stage_out=words[13:17])
    t = {}
    for i in range(T):
        e = HDR + CFG + ENTRY * i
        name = b[e:e + 80].split(b'\0', 1)[0].decode()
        dtype, ndim = struct.unpack_from('<II', b, e + 80)
        dims = struct.unpack_from('<4I', b, e + 88)[:ndim]
        off, nbytes, soff = struct.unpack_from('<QQQ', b, e + 104)
        if dtype == 1:
            q = np.frombuffer(b, np.int8, nbytes, off).reshape(dims)
            t[name] = ('s8', q, np.frombuffer(b, '<f4', dims[-1], soff))
        else:
            t[name] = ('f32', np.frombuffer(b, '<f4', nbytes // 4, off).reshape(dims), None)
    return cfg, t


def quant(x, s, z):
    t = np.float32(x) / np.float32(s)
    t = np.minimum(np.maximum(t, np.float32(-512)), np.float32(512))
    t = np.rint(t) + np.float32(z)  # rint: round half to even
    return np.minimum(np.maximum(t, np.float32(0)), np.float32(255)).astype(np.int64)


def qin(t, layer, x):
    """x quantized with the layer's input parameters, minus z_x: exact integers held in float64."""
    iq = t[layer + '/input_q'][1]
    sx, zx = np.float32(iq[0]), int(iq[1])
    return (quant(x, sx, zx) - zx).astype(np.float64), sx


def tail(v, relu, res):
    """The epilogue after the bias: + res, then ReLU (v < 0 -> 0), in float32."""
    if res is not None:
        v = v + res
    if relu:
        v = np.where(v < 0, np.float32(0), v)
    return v.astype(np.float32)


def operands(t, layer, x):
    """(weights, inputs, close) of a layer's sums, all float64; close(acc, relu, res=None) is its epilogue.
    An int8 layer sums q_w * (q_x - z_x), exact integers (|acc| < 2^53), then y = float32(acc) * m + bias
    (m = s_x * s_w, one float32 product), float32 steps in this order. A layer the model keeps fp32 (e.g.
    a head that saw no calibration data) sums w * x in float64 and adds the bias before one rounding, so
    everything downstream of it is compared within a tolerance."""
    kind, w, sw = t[layer + '/kernel']
    bias = t[layer + '/bias'][1]
    if kind != 's8':
        return w.astype(np.float64), x.astype(np.float64), \
            lambda acc, relu, res=None: tail((acc + bias).astype(np.float32), relu, res)
    q, sx = qin(t, layer, x)
    m = (sx * sw.astype(np.float32)).astype(np.float32)
    return w.astype(np.float64), q, lambda acc, relu, res=None: tail(acc.astype(np.float32) * m + bias, relu, res)


def conv(t, layer, x, stride, relu, res=None, pad=None):
    """x: [H, W, C] (or a batch [N, H, W, C]) float32 -> [H', W', cout] float32 by the int8 formula
    (fp32 layers: see operands).
    "same" padding (pad (k-1)/2, taps outside read q_x = z_x, the real value 0) unless pad=0 ("valid").
    Sums are exact: every product is at most 255 * 127 and kh*kw*cin <= 32768 terms, far below 2^53,
    so float64 BLAS sums them without rounding."""
    if x.ndim == 3:
        return conv(t, layer, x[None], stride, relu, None if res is None else res[None], pad)[0]
    w, q, close = operands(t, layer, x)                     # x: [N, H, W, C], a batch of maps
    kh, kw, cin, cout = w.shape
    pad = (kh - 1) // 2 if pad is None else pad
    N, H, W, _ = x.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    qx = np.zeros((N, H + 2 * pad, W + 2 * pad, cin), np.float64)
    qx[:, pad:pad + H, pad:pad + W] = q
    acc = np.zeros((N * Ho * Wo, cout), np.float64)
    for ky in range(kh):
        for kx in range(kw):
            patch = qx[:, ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride]
            acc += patch.reshape(-1, cin) @ w[ky, kx].reshape(cin, cout)
    return close(acc.reshape(N, Ho, Wo, cout), relu, res)


def deconv2x2(t, layer, x):
    """Conv2DTranspose 2x2, stride 2, "valid", ReLU: out[2i+a, 2j+b, o] = y of sum_c q[i, j, c] * q_w[a, b, c, o]
    (the .fpf holds the deconv kernel as [kh, kw, in, out])."""
    w, q, close = operands(t, layer, x)                     # x: [N, H, W, C]
    N, H, W, cin = x.shape
    cout = w.shape[3]
    acc = np.zeros((N, 2 * H, 2 * W, cout), np.float64)
    for a in range(2):
        for b in range(2):
            acc[:, a::2, b::2] = (q.reshape(-1, cin) @ w[a, b]).reshape(N, H, W, cout)
    return close(acc, True)


def dense_f32(t, layer, x):
    """An fp32 output layer (1x1 conv or Dense): float64 sums rounded once (C's float32 summation order is
    not part of the contract, so these are compared within a tolerance)."""
    kind, w, _ = t[layer + '/kernel']
    if kind == 's8':      # a model quantized with its output layers int8 too
        return conv(t, layer, x.reshape(-1, 1, 1, x.shape[-1]), 1, False).reshape(x.shape[:-1] + (-1,))
    w = w.reshape(-1, w.shape[-1]).astype(np.float64)
    y = x.reshape(-1, x.shape[-1]).astype(np.float64) @ w + t[layer + '/bias'][1]
    return y.astype(np.float32).reshape(x.shape[:-1] + (-1,))


def stage(cfg, t, s, x, sfx):
    """Residual stage s (2..5) on x, as the spec's bottleneck blocks (stride 2 on the first 1x1s of res3..res5)."""
    out = None
    for b in range(cfg['blocks'][s - 2]):
        name = lambda br: 'res%d%s_branch%s%s' % (s, chr(ord('a') + b), br, sfx)
        stride = 2 if b == 0 and s > 2 else 1       # res2 follows the stem's max-pool: stride 1
        inp = x if b == 0 else out
        m1 = conv(t, name('2a'), inp, stride, True)
        m2 = conv(t, name('2b'), m1, 1, True)
        short = conv(t, name('1'), x, stride, False) if b == 0 else out
        out = conv(t, name('2c'), m2, 1, True, res=short)
    return out


def up2(x):
    """UpSampling2D(2, 2), nearest: out[y][x] = in[y/2][x/2]."""
    return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1)


def fpn(t, C, sfx, onto=None):
    """P2..P5 of one tower from its C2..C5 (spec section 3): L5 = c5p5(C5); Lk = ckpk(Ck) + up2(L(k+1));
    Pk = pk(Lk), 3x3. `onto` (FPF-add): the nucleus tower's P2..P5, added in the smoothing convs' epilogue."""
    L = [None] * 4
    for i in (3, 2, 1, 0):
        L[i] = conv(t, 'fpn_c%dp%d%s' % (i + 2, i + 2, sfx), C[i], 1, False, None if i == 3 else up2(L[i + 1]))
    return [conv(t, 'fpn_p%d%s' % (i + 2, sfx), L[i], 1, False, None if onto is None else onto[i]) for i in range(4)]


def rpn(t, F):
    """Shared 3x3 conv (int8, ReLU) on F2..F6, the fp32 1x1 class and box outputs, the level-major
    concatenation [h*w*3, 2] / [h*w*3, 4] and Keras' RPN softmax e / sum(e) (a true division)."""
    probs, deltas = [], []
    for f in F:
        sh = conv(t, 'rpn_conv_shared', f, 1, True)
        lg = dense_f32(t, 'rpn_class_raw', sh).reshape(-1, 2)
        e = np.exp(lg - lg.max(axis=1, keepdims=True)).astype(np.float32)
        probs.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))
        deltas.append(dense_f32(t, 'rpn_bbox_pred', sh).reshape(-1, 4))
    return np.concatenate(probs), np.concatenate(deltas)


def box_head(t, roi):
    """roi: [R, 7, 7, D] -> class probabilities [R, K] (tf.nn.softmax: exp(l - max) * (1 / sum)) and box
    deltas [R, K, 4]. mrcnn_class_conv1 is a 7x7 "valid" conv, i.e. an FC over the (y, x, c) crop."""
    h = conv(t, 'mrcnn_class_conv1', roi, 1, True, pad=0)            # [R, 1, 1, fc]
    h = conv(t, 'mrcnn_class_conv2', h, 1, True)[:, 0, 0]            # [R, fc]
    lg = dense_f32(t, 'mrcnn_class_logits', h)
    e = np.exp(lg - lg.max(axis=1, keepdims=True)).astype(np.float32)
    cls = (e * (np.float32(1) / e.sum(axis=1, keepdims=True))).astype(np.float32)
    box = dense_f32(t, 'mrcnn_bbox_fc', h)
    return cls, box.reshape(len(box), -1, 4)


def mask_head(t, feat):
    """feat: [n, 14, 14, D] -> [n, 28, 28, K]: 4 x (3x3 conv, ReLU), the 2x2 deconv (ReLU), 1x1 + sigmoid."""
    x = feat
    for i in range(1, 5):
        x = conv(t, 'mrcnn_mask_conv%d' % i, x, 1, True)
    x = deconv2x2(t, 'mrcnn_mask_deconv', x)
    lg = dense_f32(t, 'mrcnn_mask', x).astype(np.float64)
    return (1 / (1 + np.exp(-lg))).astype(np.float32)


def load(d, name):
    shape = tuple(int(v) for v in open(os.path.join(d, name + '.shape')).read().split())
    return np.fromfile(os.path.join(d, name + '.f32'), '<f4').reshape(shape)


def has(d, name):
    return os.path.exists(os.path.join(d, name + '.shape'))


class Report:
    def __init__(self):
        self.ok = True      # every comparison passed
        self.none = True    # no comparison passed

    def exact(self, what, got, want):
        same = got.shape == want.shape and np.array_equal(got.view(np.uint32), want.view(np.uint32))
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float('nan')
        print('%-34s %s (max |diff| %g, %d values)' % (what, 'bit-identical' if same else 'DIFFERS', diff, want.size))
        self.ok &= same
        self.none &= not same

    def close(self, what, got, want, tol):
        """Within tol * (1 + |want|): the fp32 output layers' summation order is not in the contract."""
        good = got.shape == want.shape
        err = np.abs(got.astype(np.float64) - want) / (1 + np.abs(want.astype(np.float64))) if good else None
        worst = float(err.max()) if good and err.size else (0.0 if good else float('nan'))
        good = good and worst <= tol
        print('%-34s %s (max relative diff %.2g, tolerance %g, %d values)' % (what, 'within' if good else 'OUTSIDE', worst, tol, want.size))
        self.ok &= good
        self.none &= not good


# The fp32 output layers sum up to 1024 (paper) float32 products in an order the contract leaves open, and
# expf / the sigmoid may differ in the last ulp: 1e-4 relative bounds that, while one step of an int8
# hidden activation moves an output by far more.
F32_TOL = 1e-4


def perturb(t):
    """--must-fail: every int8 layer's input zero point moved by one step (z_x + 1, or - 1 at 255), so every
    compared output must come out different: shows that the comparisons, the tolerant ones included, can fail."""
    for k, v in list(t.items()):
        if k.endswith('/input_q'):
            q = v[1].copy()
            q[1] = q[1] - 1 if q[1] >= 255 else q[1] + 1
            t[k] = (v[0], q, v[2])


def main():
    args = [a for a in sys.argv[1:] if a != '--must-fail']
    must_fail = len(args) != len(sys.argv) - 1
    if len(args) != 2:
        sys.exit('usage: int8_ref.py MODEL_int8.fpf DUMPDIR [--must-fail]')
    model, d = args
    cfg, t = read_fpf(model)
    if must_fail:
        perturb(t)
    r = Report()
    P = {}
    for tower, sfx in (('nucleus', '_core'), ('cell', '')):      # the nucleus pyramid first (FPF-add adds onto it)
        if not has(d, tower + '.C2'):
            continue
        for s in (2, 3, 4, 5):
            if not has(d, '%s.C%d' % (tower, s - 1)):
                continue
            r.exact('%s C%d from C%d' % (tower, s, s - 1), stage(cfg, t, s, load(d, '%s.C%d' % (tower, s - 1)), sfx),
                    load(d, '%s.C%d' % (tower, s)))
        C = [load(d, '%s.C%d' % (tower, s)) for s in (2, 3, 4, 5)]
        # FPF-add: the cell tower's smoothing convs add onto the nucleus pyramid (computed first)
        onto = P.get('nucleus') if tower == 'cell' and not has(d, 'cell.P2') else None
        P[tower] = fpn(t, C, sfx, onto)
        for i in range(4):
            if has(d, '%s.P%d' % (tower, i + 2)):
                r.exact('%s P%d from C2..C5' % (tower, i + 2), P[tower][i], load(d, '%s.P%d' % (tower, i + 2)))
    if not has(d, 'F2'):
        return finish(r, must_fail)
    F = [load(d, 'F%d' % k) for k in range(2, 7)]
    if 'cell' in P and 'nucleus' in P and F[0].shape[2] == 2 * P['cell'][0].shape[2]:
        mine = [np.concatenate([c, n], axis=2) for c, n in zip(P['cell'], P['nucleus'])]   # concat: cell first
    else:
        mine = P['cell']      # one tower, or FPF-add (already summed in the epilogue)
    mine = mine + [mine[3][::2, ::2]]                                                       # P6 = P5[::2, ::2]
    for k in range(5):
        r.exact('F%d (fused pyramid)' % (k + 2), mine[k], F[k])
    probs, deltas = rpn(t, F)
    r.close('rpn_class from F2..F6', probs, load(d, 'rpn_class'), F32_TOL)
    r.close('rpn_bbox from F2..F6', deltas, load(d, 'rpn_bbox'), F32_TOL)
    cls, box = box_head(t, load(d, 'roi_feat'))
    r.close('mrcnn_class from roi_feat', cls, load(d, 'mrcnn_class'), F32_TOL)
    r.close('mrcnn_bbox from roi_feat', box, load(d, 'mrcnn_bbox'), F32_TOL)
    mask_q = any(t[n + '/kernel'][0] == 's8' for n in ['mrcnn_mask_conv%d' % i for i in range(1, 5)] + ['mrcnn_mask_deconv'])
    if must_fail and not mask_q:
        print('mrcnn_mask: the mask head is fp32 in this model (no calibration data reached it), no zero point to move')
    elif has(d, 'mask_feat') and load(d, 'mask_feat').shape[0]:
        r.close('mrcnn_mask from mask_feat', mask_head(t, load(d, 'mask_feat')), load(d, 'mrcnn_mask'), F32_TOL)
    else:
        print('mrcnn_mask: no detections in this image, not compared')
    return finish(r, must_fail)


def finish(r, must_fail):
    if must_fail:
        print('int8 reference, every zero point moved by one: %s' % ('all comparisons failed, as they must' if r.none else 'SOME STILL PASS'))
        return 0 if r.none else 1
    print('int8 reference parity: %s' % ('ok' if r.ok else 'FAILED'))
    return 0 if r.ok else 1


if __name__ == '__main__':
    sys.exit(main())
