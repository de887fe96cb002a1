"""Unit checks of the reference's tricky semantics against hand-worked values.

    /usr/bin/python3 weights/reference/selftest.py        # prints "selftest: N passed, N failed"
"""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fpf_ref as R  # noqa: E402
import fpt  # noqa: E402
import seeded  # noqa: E402

f32 = np.float32
RESULTS = []


def check(name, cond, detail=''):
    RESULTS.append((name, bool(cond)))
    print('%s %s %s' % ('ok  ' if cond else 'FAIL', name, detail))


def t_maxpool():
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    got = R.maxpool_same_3x3s2(x)[0, 0].numpy()
    # TF SAME: pad bottom/right only -> windows rows/cols {0,1,2} and {2,3}
    check('maxpool SAME bottom/right', np.array_equal(got, [[10, 11], [14, 15]]), got.tolist())
    wrong = F.max_pool2d(x, 3, 2, padding=1)[0, 0].numpy()
    check('maxpool differs from torch padding=1', not np.array_equal(wrong, got), wrong.tolist())
    x = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6)
    got = R.maxpool_same_3x3s2(x)[0, 0].numpy()
    check('maxpool 6x6 -> 3x3', np.array_equal(got, [[14, 16, 17], [26, 28, 29], [32, 34, 35]]), got.tolist())


def t_conv1_and_strides():
    # conv1: ZeroPadding(3) + valid 7x7/2: out[0,0] sees input rows/cols -3..3
    t = R.Tower('tiny', 1)
    w = torch.zeros_like(t.conv1.weight)
    w[0, 0, 0, 0] = 1.0      # tap (0,0) of the kernel = input (2i-3, 2j-3)
    w[1, 0, 6, 6] = 1.0      # tap (6,6) = input (2i+3, 2j+3)
    x = torch.arange(1, 65, dtype=torch.float32).reshape(1, 1, 8, 8)
    y = F.conv2d(F.pad(x, (3, 3, 3, 3)), w, None, stride=2)
    check('conv1 pad 3 symmetric: out(0,0) tap(0,0) is zero pad', float(y[0, 0, 0, 0]) == 0.0)
    check('conv1 out(2,2) tap(0,0) = in(1,1)', float(y[0, 0, 2, 2]) == float(x[0, 0, 1, 1]))
    check('conv1 out(0,0) tap(6,6) = in(3,3)', float(y[0, 1, 0, 0]) == float(x[0, 0, 3, 3]))
    check('conv1 output size 8 -> 4', tuple(y.shape[2:]) == (4, 4))
    # stride-2 1x1 conv: out[i] = in[2i], ceil(H/2)
    c = R.KConv('x', 1, 1, 1, 2)
    c.weight.data.fill_(1.0)
    o = c(torch.arange(1, 50, dtype=torch.float32).reshape(1, 1, 7, 7))
    check('1x1 stride 2 takes in[2i]', o.shape[2] == 4 and float(o[0, 0, 1, 1]) == float(2 * 7 + 2 + 1))


def t_upsample_p6():
    x = torch.arange(4, dtype=torch.float32).reshape(1, 1, 2, 2)
    u = R.upsample2(x)[0, 0].numpy()
    check('nearest x2 upsampling', np.array_equal(u, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]))


def t_bn():
    bn = R.KBN('b', 2)
    bn.gamma.data = torch.tensor([2.0, 1.0])
    bn.beta.data = torch.tensor([0.5, 0.0])
    bn.moving_mean.data = torch.tensor([1.0, 0.0])
    bn.moving_variance.data = torch.tensor([0.999, 3.0 - 1e-3])
    y = bn(torch.tensor([[3.0, 2.0]]).reshape(1, 2, 1, 1)).flatten().detach().numpy()
    # gamma*(x-mean)/sqrt(var+1e-3)+beta = 2*2/1+0.5 = 4.5 ; 2/sqrt(3)
    check('BN eps 1e-3 moving stats', abs(y[0] - 4.5) < 1e-6 and abs(y[1] - 2 / math.sqrt(3)) < 1e-6, y.tolist())


def t_deconv_layout():
    mh = R.MaskHead('tiny', 32)
    m = mh.m
    rs = np.random.RandomState(0)
    K = rs.randn(2, 2, m, m).astype(np.float32)        # Keras (kh, kw, out, in)
    b = rs.randn(m).astype(np.float32)
    mh.load_deconv({'mrcnn_mask_deconv/kernel': K, 'mrcnn_mask_deconv/bias': b})
    x = rs.randn(1, m, 3, 3).astype(np.float32)
    with torch.no_grad():
        y = torch.einsum('rchw,coab->rohawb', torch.from_numpy(x), mh.deconv_w).reshape(1, m, 6, 6)
        y = (y + mh.deconv_b.view(1, -1, 1, 1)).numpy()
    # out[2i+a, 2j+b, o] = bias[o] + sum_c in[i, j, c] * K[a, b, o, c]
    ref = b[5] + np.sum(x[0, :, 1, 2] * K[1, 0, 5, :])
    check('Conv2DTranspose kernel (kh,kw,out,in)', abs(y[0, 5, 3, 4] - ref) < 1e-5, (float(y[0, 5, 3, 4]), float(ref)))


def t_crop_and_resize():
    # 3x3 map, box = whole map, P=3: align-corners grid hits the pixels exactly
    fm = np.arange(9, dtype=np.float32).reshape(3, 3, 1)
    out = R.crop_and_resize(fm, np.array([[0, 0, 1, 1]], np.float32), 3)[0, :, :, 0]
    check('crop_and_resize identity grid', np.array_equal(out, fm[:, :, 0]))
    # half-way sample: box [0,0,0.5,0.5], P=2 -> samples at 0 and 1 (in map units on a 3x3 map)
    out = R.crop_and_resize(fm, np.array([[0.25, 0.25, 0.75, 0.75]], np.float32), 2)[0, :, :, 0]
    check('crop_and_resize bilinear 0.5 offsets', np.allclose(out, [[2.0, 3.0], [5.0, 6.0]]), out.tolist())
    # out-of-range row -> zero row; out-of-range column -> zero column
    out = R.crop_and_resize(fm, np.array([[-0.5, 0, 0.5, 1]], np.float32), 3)[0, :, :, 0]
    check('crop_and_resize extrapolation row zero', np.all(out[0] == 0) and np.allclose(out[1], [0, 1, 2]))
    # y2 = 1.0: float32 rounding makes in_y of the last row > Hk-1 -> that row is zero.
    # Hand-worked: Hk = 8, P = 7, y1 = 0.01f: hs = ((1 - 0.01f) * 7) / 6 = 1.1550001f;
    # in_y(6) = 0.01f*7 + 6*hs = 7.0000005f > 7 (mathematically exactly 7).
    Hk = 8
    y1 = f32(0.01)
    hs = (f32(1.0) - y1) * f32(Hk - 1) / f32(6)
    in_y6 = y1 * f32(Hk - 1) + f32(6) * hs
    check('hand value: in_y(6) = 7.0000005f > 7', in_y6 > f32(7) and float(in_y6) == 7.000000476837158,
          repr(float(in_y6)))
    fm = np.ones((Hk, 8, 1), np.float32)
    out = R.crop_and_resize(fm, np.array([[y1, 0, 1.0, 1.0]], np.float32), 7)[0, :, :, 0]
    check('crop_and_resize y2=1.0 last row zeroed', np.all(out[6] == 0) and np.all(out[:6] == 1), out[:, 0].tolist())


def t_levels():
    L = R.level_from_lvl(np.array([0.5, -0.5, 1.5, -1.5, 0.49999997, 2.5, -np.inf, np.nan], np.float32))
    # half to even: 0.5 -> 0 (roundf: 1), -0.5 -> -0 (roundf: -1); 1.5 -> 2 -> 6 -> clamp 5; -1.5 -> -2 -> 2
    check('round half to even + clamp + -inf/nan -> 2', L.tolist() == [4, 4, 5, 2, 4, 5, 2, 2], L.tolist())
    # Informational: with a correctly rounded float32 log, no float32 v near 2^(+-0.5) gives lvl exactly +-0.5
    # (log32(2)/2 = 0.3465736f is skipped), so for real boxes half-even vs half-away cannot differ; the lvl
    # values nearest to +-0.5 must still land on level 4 / 5 and 3 / 4 by ordinary rounding.
    A = 224 * 224
    for target, centre in ((0.5, math.sqrt(2)), (-0.5, math.sqrt(0.5))):
        c = f32(centre)
        v = (c.view(np.int32) + np.arange(-2000, 2000, dtype=np.int32)).view(np.float32)
        b = np.stack([np.zeros_like(v), np.zeros_like(v), v, v], 1)
        lv = R.roi_level_value(b, A)
        L = R.roi_levels(b, A)
        below, above = lv < f32(target), lv > f32(target)
        exp_below, exp_above = (4, 5) if target > 0 else (3, 4)
        check('levels around lvl %+.1f (exact hits: %d)' % (target, int(np.sum(lv == f32(target)))),
              np.all(L[below] == exp_below) and np.all(L[above] == exp_above) and
              np.all(L[lv == f32(target)] == 4))
    b = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0.1, 0.1, 0.1, 0.5], [0, 0, 0.01, 0.01]], np.float32)
    L = R.roi_levels(b, 1024 * 1280)
    # full image: sqrt(1)/ (224/1144.9) = 5.11 -> log2 2.35 -> 4+2 -> clamp 5; 0.01: 0.0511 -> -4.29 -> 0 -> 2
    check('levels: zero area -> 2, clamp', L.tolist() == [2, 5, 2, 2], L.tolist())


def t_nms():
    thr = f32(0.5)
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 0.5]], np.float32)       # IoU exactly 0.5
    keep = R.nms_tf(boxes, np.array([0.9, 0.8], np.float32), 10, thr)
    check('NMS strict >: IoU == thr kept', keep.tolist() == [0, 1], keep.tolist())
    boxes2 = np.array([[0, 0, 1, 1], [0, 0, 1, 0.5000001]], np.float32)
    keep = R.nms_tf(boxes2, np.array([0.9, 0.8], np.float32), 10, thr)
    check('NMS: IoU just above thr suppressed', keep.tolist() == [0], keep.tolist())
    z = np.zeros((3, 4), np.float32)
    keep = R.nms_tf(z, np.array([0.5, 0.5, 0.5], np.float32), 10, f32(0.7))
    check('NMS zero-area boxes: IoU 0, all kept', sorted(keep.tolist()) == [0, 1, 2])
    # heap tie order, 5 equal scores (worked by hand through libstdc++ push_heap/__adjust_heap): 0,2,4,1,3
    b5 = np.array([[i, 0, i + 0.5, 1] for i in range(5)], np.float32) / f32(10)
    keep = R.nms_tf(b5, np.full(5, 0.7, np.float32), 10, f32(0.7))
    check('NMS tf-compat heap tie order 0,2,4,1,3', keep.tolist() == [0, 2, 4, 1, 3], keep.tolist())
    keep = R.nms_tf(b5, np.full(5, 0.7, np.float32), 10, f32(0.7), tie_mode='stable')
    check('NMS stable tie order', keep.tolist() == [0, 1, 2, 3, 4])
    # mixed scores: higher scores first, equal ones in heap order
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.5], np.float32)
    keep = R.nms_tf(b5, s, 10, f32(0.7))
    order = list(R.nms_order(s))
    check('NMS selection follows heap order', keep.tolist() == order and order[:2] in ([1, 3], [3, 1]), order)
    # max_output_size
    keep = R.nms_tf(b5, np.full(5, 0.7, np.float32), 3, f32(0.7))
    check('NMS max_output_size', keep.tolist() == [0, 2, 4])
    # top-k stable
    check('top-k ties to lower index', R.topk_stable(np.array([1, 3, 3, 2, 3], np.float32), 4).tolist() == [1, 2, 4, 3])


def t_softmax_deltas():
    p = R.rpn_softmax(np.array([[0.0, 0.0], [0.0, 30.0]], np.float32))
    check('rpn softmax', p[0, 1] == f32(0.5) and p[1, 1] == f32(1.0))
    d = R.apply_box_deltas(np.array([[0.1, 0.2, 0.5, 0.4]], np.float32), np.zeros((1, 4), np.float32))
    check('apply deltas zero -> identity (y2 = y1 + h)', np.allclose(d, [[0.1, 0.2, 0.5, 0.4]]))
    det = R.refine_detections(np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7], [0.1, 0.1, 0.3, 0.31]],
                                        np.float32),
                              np.array([[0.3, 0.7], [0.31, 0.69], [0.2, 0.8]], np.float32),
                              np.zeros((3, 2, 4), np.float32), np.array([0, 0, 1, 1], np.float32))
    # score >= 0.7f: row 0 (0.7f) kept, row 1 no; rows 0 and 2 overlap -> NMS keeps 2 (0.8) only
    check('detection: >= 0.7f and per-class NMS', det[0, 5] == f32(0.8) and det[1, 4] == 0, det[:2].tolist())
    det = R.refine_detections(np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7]], np.float32),
                              np.array([[0.3, 0.7], [0.3, 0.7]], np.float32), np.zeros((2, 2, 4), np.float32),
                              np.array([0, 0, 1, 1], np.float32))
    check('detection: score 0.7f kept, ties keep lower ROI index first',
          np.allclose(det[0, :4], [0.1, 0.1, 0.3, 0.3]) and det[1, 5] == f32(0.7))


def t_paste():
    # constant 1.0 mask, 28 -> 56: edge pixel src = 0.5*0.5 - 0.5 = -0.25 -> 0.75 * 1.0 (zero outside)
    r = R.resize_bilinear_sk014(np.ones((28, 28), np.float32), 56, 56, clip=False)
    check('paste edge attenuation 0.75 / corner 0.5625', r[0, 5] == 0.75 and r[0, 0] == 0.5625 and r[5, 5] == 1.0)
    m = np.full((28, 28), 0.6, np.float32)
    m[14, 14] = 0.1                       # min 0.1 < 0.5: edges 0.45 stay below threshold
    full = R.paste_mask(m, (2, 3, 58, 59), 60, 62)
    check('paste: attenuated edge row dropped', not full[2].any() and full[3, 10] and not full[:, 3].any()
          and full[10, 4] and full.sum() > 0)
    m = np.full((28, 28), 0.6, np.float32)  # min 0.6 >= 0.5: skimage 0.14 clips edges up to 0.6 -> full box
    full = R.paste_mask(m, (2, 3, 58, 59), 60, 62)
    check('paste: skimage-0.14 clip to input range keeps full box', full[2:58, 3:59].all() and full.sum() == 56 * 56)
    one = R.resize_bilinear_sk014(np.arange(784, dtype=np.float32).reshape(28, 28) / 784, 1, 1)
    check('paste 1x1 samples (13.5, 13.5)', abs(one[0, 0] - (13.5 * 28 + 13.5) / 784) < 1e-7, one[0, 0])


def t_anchors():
    a = R.anchors_for(1024, 1280)
    check('anchors count 327360', a.shape == (327360, 4), a.shape)
    check('anchors range -0.35390..1.29134', round(float(a.min()), 5) == -0.3539 and round(float(a.max()), 5) == 1.29134,
          (float(a.min()), float(a.max())))
    # first anchor: P2 (0,0) ratio 0.5: h = 32/sqrt(.5) = 45.25, w = 22.63 -> y1 = -22.627/1023
    check('anchor 0', abs(float(a[0, 0]) - (-16 * math.sqrt(2) / 1023)) < 1e-7 and
          abs(float(a[0, 2]) - ((16 * math.sqrt(2) - 1) / 1023)) < 1e-7)


def t_window_unmold():
    w = R.window32(150, 230, 192, 256)
    check('window = (h-1)/(Hp-1), (w-1)/(Wp-1)', w[2] == f32(149 / 191) and w[3] == f32(229 / 255))
    det = np.zeros((200, 6), np.float32)
    det[0] = [0, 0, w[2], w[3], 1, 0.9]
    det[1] = [0.5, 0.5, 0.4, 0.6, 1, 0.8]                 # negative height -> dropped
    N0, px, cid, sc, masks = R.unmold_detections(det, np.ones((2, 28, 28, 2), np.float32), 150, 230, w)
    check('unmold: N0 / drop zero area / full box', N0 == 2 and px.tolist() == [[0, 0, 150, 230]] and
          masks.shape == (1, 150, 230))
    # round half to even in float64 pixel conversion: 0.5 * (h-1) with h-1 = 5 -> 2.5 -> 2
    det = np.zeros((200, 6), np.float32)
    det[0] = [0.5, 0.5, 1, 1, 1, 0.9]
    _, px, _, _, _ = R.unmold_detections(det, np.ones((1, 28, 28, 2), np.float32), 6, 6, np.array([0, 0, 1, 1], np.float32))
    check('pixel boxes round half to even', px.tolist() == [[2, 2, 6, 6]], px.tolist())


def t_seeded_fpt():
    M = (1 << 64) - 1
    key = (1 ^ seeded.fnv1a64('conv1/kernel')) & M
    z = (key + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z ^= z >> 31
    u = (z >> 40) * 2.0 ** -24
    a = math.sqrt(6.0 / 49)
    v0 = f32(-a + 2 * a * u)
    t = seeded.seeded_tensor('conv1/kernel', (7, 7, 1, 16), 1, 7)
    check('seeded value 0 (scalar splitmix64)', t.flat[0] == v0, (float(t.flat[0]), float(v0)))
    c1 = seeded.seeded_tensor('conv1_core/kernel', (7, 7, 1, 16), 1, 7)
    c7 = seeded.seeded_tensor('conv1/kernel', (7, 7, 1, 16), 7, 99)
    check('seeded _core tower == cores model with nucleus seed', np.array_equal(c1, c7))
    n = len(seeded.raw_tensor_list('paper', 'fpf_concat'))
    check('raw tensor counts 276 / 502', n == 502 and len(seeded.raw_tensor_list('paper', 'cores')) == 276)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, 'x.fpt')
        big = np.arange(20000, dtype=np.float32).reshape(100, 200)
        fpt.write(p, [('a', big), ('b', np.array([1, 2], np.int32)), ('c', np.zeros((0, 4), np.float32))])
        r = fpt.read(p)
        ok = (r['a'].kind == 1 and r['a'].dims == (100, 200) and r['a'].data[1] == 4 and
              r['a'].stats[0] == float(np.sum(np.arange(20000))) and r['b'].kind == 0 and
              r['b'].data.tolist() == [1, 2] and r['c'].dims == (0, 4))
        check('fpt round trip (sampled idx (k*n)//4096, stats, empty)', ok)


def main():
    torch.set_num_threads(2)
    for t in (t_maxpool, t_conv1_and_strides, t_upsample_p6, t_bn, t_deconv_layout, t_crop_and_resize, t_levels,
              t_nms, t_softmax_deltas, t_paste, t_anchors, t_window_unmold, t_seeded_fpt):
        try:
            t()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(t.__name__ + ' raised', False, repr(e))
    p = sum(1 for _, ok in RESULTS if ok)
    f = len(RESULTS) - p
    print('selftest: %d passed, %d failed' % (p, f))
    return 0 if f == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
