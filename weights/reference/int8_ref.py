#!/usr/bin/python3
"""int8 reference (issue #11): the backbone's residual stages 3..5 of an int8 .fpf model, in numpy, written
from the formula documented in fpf.h ("int8 quantized models"), not from the C code:

    q_x = clamp(round_half_even(x / s_x) + z_x, 0, 255)      x / s_x a float32 division
    acc = sum over (ky, kx, ci) of (q_x - z_x) * q_w          exact integers (int64 here)
    y   = float32(acc) * m[co] + bias[co],  m = s_x * s_w     float32 operations, in this order
    then + residual, ReLU (v < 0 -> 0), as in fp32; taps outside the input count as q_x = z_x.

Parity: stage S+1 is computed from the C kit's dumped stage S output (weights/reference/int8_dump.c),
tower by tower, and compared bit for bit with the C kit's stage S+1 output (C3, C4, C5):

    cc -std=c99 -O2 -ffp-contract=off -I. -Iexamples weights/reference/int8_dump.c -o build/int8_dump -lm -lpthread
    build/int8_dump MODEL_int8.fpf CELL.tif NUCLEUS.tif DIR
    /usr/bin/python3 weights/reference/int8_ref.py MODEL_int8.fpf DIR

Exit status 0 when every compared map is bit-identical. (Stages 2 and the FPN/heads are not covered here.)
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


def conv(t, layer, x, stride, relu, res=None):
    """x: [H, W, C] float32 -> [H', W', cout] float32 by the int8 formula (layer must be int8)."""
    kind, qw, sw = t[layer + '/kernel']
    assert kind == 's8', layer + ' is not int8'
    iq = t[layer + '/input_q'][1]
    sx, zx = np.float32(iq[0]), int(iq[1])
    bias = t[layer + '/bias'][1]
    kh, kw, cin, cout = qw.shape
    pad = (kh - 1) // 2
    H, W, _ = x.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    qx = np.full((H + 2 * pad, W + 2 * pad, cin), zx, np.int64)  # outside: q_x = z_x
    qx[pad:pad + H, pad:pad + W] = quant(x, sx, zx)
    qx -= zx
    acc = np.zeros((Ho, Wo, cout), np.int64)
    w64 = qw.astype(np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = qx[ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride]
            acc += np.tensordot(patch, w64[ky, kx], axes=([2], [0]))
    m = (sx * sw.astype(np.float32)).astype(np.float32)
    v = acc.astype(np.float32) * m
    v = v + bias
    if res is not None:
        v = v + res
    if relu:
        v = np.where(v < 0, np.float32(0), v)
    return v.astype(np.float32)


def stage(cfg, t, s, x, sfx):
    """Residual stage s (3..5) on x, as the spec's bottleneck blocks (stride 2 on the first 1x1s)."""
    out = None
    for b in range(cfg['blocks'][s - 2]):
        name = lambda br: 'res%d%s_branch%s%s' % (s, chr(ord('a') + b), br, sfx)
        stride = 2 if b == 0 else 1
        inp = x if b == 0 else out
        m1 = conv(t, name('2a'), inp, stride, True)
        m2 = conv(t, name('2b'), m1, 1, True)
        short = conv(t, name('1'), x, stride, False) if b == 0 else out
        out = conv(t, name('2c'), m2, 1, True, res=short)
    return out


def load(d, name):
    shape = tuple(int(v) for v in open(os.path.join(d, name + '.shape')).read().split())
    return np.fromfile(os.path.join(d, name + '.f32'), '<f4').reshape(shape)


def main():
    model, d = sys.argv[1], sys.argv[2]
    cfg, t = read_fpf(model)
    ok = True
    for tower, sfx in (('cell', ''), ('nucleus', '_core')):
        if not os.path.exists(os.path.join(d, tower + '.C2.shape')):
            continue
        for s in (3, 4, 5):
            x = load(d, '%s.C%d' % (tower, s - 1))
            want = load(d, '%s.C%d' % (tower, s))
            got = stage(cfg, t, s, x, sfx)
            same = got.shape == want.shape and np.array_equal(got.view(np.uint32), want.view(np.uint32))
            diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float('nan')
            print('%-8s C%d from C%d: %s (max |diff| %g, %d values)' % (tower, s, s - 1, 'bit-identical' if same else 'DIFFERS', diff, want.size))
            ok &= same
    print('int8 reference parity: %s' % ('ok' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
