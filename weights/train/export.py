#!/usr/bin/python3
"""Export a training checkpoint to an .fpf model file for the C kit.

    /usr/bin/python3 weights/train/export.py build/train/cores/ckpt.pt weights/models/cores.fpf
    /usr/bin/python3 weights/train/export.py CKPT.pt OUT.fpf det_min_confidence=0.5   # config overrides

Uses weights/fpf_write.py (raw Keras-named tensors -> BN folded, .fpf). The config block is the tiny
(CONTRACT.md section 1) config when the checkpoint was trained with --config tiny, else paper.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'weights'))
sys.path.insert(0, os.path.join(ROOT, 'weights', 'reference'))
sys.path.insert(0, HERE)

import fpf_write  # noqa: E402
import train  # noqa: E402


def export(ckpt, out, overrides=None):
    model, ck = train.load_model_from_ckpt(ckpt)
    raw = {k: np.asarray(v, np.float32) for k, v in model.raw_state().items()}
    cfg = ck['args'].get('config', 'tiny')
    if ck['args'].get('fpf_config'):    # issue #12: anchors, proposals, detections of a real-data model
        cfg = dict(ck['args']['fpf_config'], base=cfg)
    if overrides:                       # KEY=VALUE of the command line, e.g. a score floor chosen on validation
        cfg = dict(cfg if isinstance(cfg, dict) else {'base': cfg}, **overrides)
    n = fpf_write.write_fpf(out, model.variant, raw, config=cfg)
    return n, ck


if __name__ == '__main__':
    if len(sys.argv) < 3 or any('=' not in a for a in sys.argv[3:]):
        sys.exit('usage: export.py CKPT.pt OUT.fpf [CONFIG_FIELD=VALUE ...]')
    ov = {k: float(v) if '.' in v else int(v) for k, v in (a.split('=', 1) for a in sys.argv[3:])}
    n, ck = export(sys.argv[1], sys.argv[2], ov)
    print('%s: %s, %d bytes, iteration %d' % (sys.argv[2], ck['variant'], n, ck['it']))
