"""Faster CPU forms of three reference layers, for training only (same functions, other summation order).

Debian's torch 1.13 is built with BLAS_INFO=generic (the reference BLAS, ~0.3 GFLOP/s on one core), and
at one thread aten sends 1x1 convolutions and small matmuls to that BLAS instead of oneDNN (mkldnn).
These patches route the same arithmetic through oneDNN convolutions:
  * a 1x1 convolution on [N,C,H,W] runs as a 1x1 convolution on the permuted [H,C,N,W] (batch H >= 16
    selects oneDNN); per-pixel linear maps do not care how pixels are arranged;
  * the box head's 7x7 "dense" layer runs as a 7x7 convolution, its 1x1 FC as a 1x1 convolution;
  * the mask head's 2x2/2 transposed convolution runs as a 1x1 convolution to 4m channels + pixel_shuffle.
check() compares each against the reference module (max abs difference ~1e-6). apply() patches the
classes in weights/reference/fpf_ref.py for this process only; the reference file is not changed.
"""
import torch
import torch.nn.functional as F

import fpf_ref

_orig = {}


def conv1x1(x, w, b, stride=1):
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    y = F.conv2d(x.permute(2, 1, 0, 3), w, b)
    return y.permute(2, 1, 0, 3)


def kconv_forward(self, x):
    if self.k == 1:
        return conv1x1(x, self.weight, self.bias, self.stride)
    return _orig['kconv'](self, x)


def box_forward(self, pooled):
    R = pooled.shape[0]
    D = pooled.shape[3]
    fc = self.conv1.weight.shape[1]
    x = pooled.permute(0, 3, 1, 2)                                        # [R, D, 7, 7]
    w1 = self.conv1.weight.view(fpf_ref.POOL_SIZE, fpf_ref.POOL_SIZE, D, fc).permute(3, 2, 0, 1)
    x = F.relu(self.bn1(F.conv2d(x, w1, self.conv1.bias)))                # [R, fc, 1, 1]
    w2 = self.conv2.weight.t().reshape(fc, fc, 1, 1)
    x = F.relu(self.bn2(conv1x1(x, w2, self.conv2.bias)))
    x = x.reshape(R, fc)
    return self.logits(x), self.bbox(x).reshape(-1, 2, 4)


def mask_forward(self, pooled):
    x = pooled.permute(0, 3, 1, 2)
    for conv, bn in zip(self.convs, self.bns):
        x = F.relu(bn(conv(x)))
    m = self.m
    # out[r, o, 2i+a, 2j+b] = sum_c x[r, c, i, j] * W[c, o, a, b]  ==  pixel_shuffle of a 1x1 conv to (o, a, b)
    w = self.deconv_w.permute(1, 2, 3, 0).reshape(4 * m, m, 1, 1)
    y = F.pixel_shuffle(conv1x1(x, w, None), 2)
    x = F.relu(y + self.deconv_b.view(1, -1, 1, 1))
    return self.out(x).permute(0, 2, 3, 1)


def apply():
    if _orig:
        return
    _orig['kconv'] = fpf_ref.KConv.forward
    _orig['box'] = fpf_ref.BoxHead.forward
    _orig['mask'] = fpf_ref.MaskHead.forward
    fpf_ref.KConv.forward = kconv_forward
    fpf_ref.BoxHead.forward = box_forward
    fpf_ref.MaskHead.forward = mask_forward


def check(model, x, xc=None):
    """Max abs difference of pyramid, box head and mask head between the patched and reference forms."""
    patched = bool(_orig)
    saved = dict(_orig)
    if patched:
        fpf_ref.KConv.forward, fpf_ref.BoxHead.forward, fpf_ref.MaskHead.forward = \
            saved['kconv'], saved['box'], saved['mask']
        _orig.clear()
    with torch.no_grad():
        ref = model.forward_pyramid(x, xc)['F']
        pooled = torch.randn(20, 7, 7, model.D)
        mp = torch.randn(20, 14, 14, model.D)
        rb = model.box(pooled)
        rm = model.mask(mp)
        apply()
        new = model.forward_pyramid(x, xc)['F']
        nb = model.box(pooled)
        nm = model.mask(mp)
    d = max(float((a - b).abs().max()) for a, b in zip(ref, new))
    d = max(d, float((rb[0] - nb[0]).abs().max()), float((rb[1] - nb[1]).abs().max()),
            float((rm - nm).abs().max()))
    return d
