#!/usr/bin/python3
"""An .fpf model back to raw Keras-named tensors, for training on top of a shipped model.

    /usr/bin/python3 weights/train/unfold.py weights/models/cores.fpf    (checks the round trip)

An .fpf stores BatchNorm folded into its convolution. unfold() returns an equivalent raw set: the folded
kernel, conv bias 0, and a BN with gamma 1, mean 0, variance float32(0.999) and beta = the folded bias.
Folding that again (fpf_write.fold_tensors, float64) gives the stored tensors bit for bit: the scale
1/sqrt(0.999 + 1e-3) differs from 1 by 6e-9, below half an ulp of float32. So the FPF cell models can take
their frozen nucleus tower from the shipped weights/models/cores.fpf (train.py --nucleus accepts it).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))

import fpf_write  # noqa: E402

UNIT_VAR = np.float32(0.999)


def unfold(path):
    """(variant, config dict, raw {keras name: float32 array})."""
    m = fpf_write.read_fpf(path)
    cfg, t, raw = m['config'], m['tensors'], {}
    for name, bn, kind, kh, kw, cin, cout in fpf_write.model_layers(m['variant'], cfg):
        k, b = t[name + '/kernel'], t[name + '/bias']
        raw[name + '/kernel'] = np.ascontiguousarray(k.transpose(0, 1, 3, 2) if kind == 2 else k)
        if bn:
            raw[name + '/bias'] = np.zeros_like(b)
            raw[bn + '/gamma'] = np.ones_like(b)
            raw[bn + '/beta'] = b.copy()
            raw[bn + '/moving_mean'] = np.zeros_like(b)
            raw[bn + '/moving_variance'] = np.full_like(b, UNIT_VAR)
        else:
            raw[name + '/bias'] = b.copy()
    return m['variant'], cfg, raw


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: unfold.py MODEL.fpf')
    variant, cfg, raw = unfold(sys.argv[1])
    again = dict(fpf_write.fold_tensors(variant, raw, cfg))
    t = fpf_write.read_fpf(sys.argv[1])['tensors']
    bad = [n for n in t if not np.array_equal(t[n], again[n])]
    print('%s: %s, %d raw tensors, refolds %s' % (sys.argv[1], variant, len(raw),
                                                 'bit for bit' if not bad else 'with %d differences' % len(bad)))
    sys.exit(1 if bad else 0)
