"""Export the FPF network on the seeded weights to ONNX for ONNX Runtime (run with /usr/bin/python3).

    /usr/bin/python3 bench/peers/export_onnx.py --config paper --variant fpf_add --height 1024 --width 1280 \
        --cell CELL.u8 --nucleus NUC.u8 --out-dir build/bench/onnx/paper_fpf_add_1024x1280

Writes into --out-dir:
  trunk.onnx      the dense trunk (fpf_fast.FastTrunk, BN folded): inputs `cell` [1,1,Hp,Wp] (and `nucleus` for
                  FPF), the molded images; outputs rpn_probs [1,A,2], rpn_bbox [1,A,4], F2..F5 (NCHW).
                  Static shapes, opset 13.
  whole.onnx      fpf_fast.WholeNet: the trunk plus proposals (TopK, NonMaxSuppression), PyramidROIAlign
                  (crop_and_resize as Gather ops; levels by NonZero), box head, detection (NMS), mask head
                  (ConvTranspose); outputs det_boxes [N0,4], det_scores [N0], masks [N0,28,28]. Opset 13.
                  Mask pasting to full resolution is not part of it (fpf_session_run does not paste either).
  cell.f32, nucleus.f32   the molded inputs (float32, NCHW)
  manifest.json   input names/files/shapes, the output names, and torch's values to check ORT against
                  (sum of rpn_bbox; N0 of WholeNet); trunk_layers: each trunk conv's ONNX weight
                  initializer -> its Keras layer name (the .fpf tensor prefix), for qdq_onnx.py.
Identity nodes on shared initializers (torch 1.13 exporter) are removed (a known exporter trap).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def strip_identity(path):
    import onnx
    m = onnx.load(path)
    g = m.graph
    inits = {i.name for i in g.initializer}
    ren, keep = {}, []
    for n in g.node:
        if n.op_type == 'Identity' and n.input[0] in inits:
            ren[n.output[0]] = n.input[0]
        else:
            keep.append(n)
    if not ren:
        return 0
    for n in keep:
        for k, x in enumerate(n.input):
            if x in ren:
                n.input[k] = ren[x]
    for o in g.output:
        if o.name in ren:       # keep graph outputs intact
            return 0
    del g.node[:]
    g.node.extend(keep)
    onnx.save(m, path)
    return len(ren)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', default='paper')
    ap.add_argument('--variant', default='fpf_add')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--nucleus-seed', type=int, default=7)
    ap.add_argument('--height', type=int, default=1024)
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--cell')
    ap.add_argument('--nucleus')
    ap.add_argument('--out-dir', required=True)
    ap.add_argument('--no-whole', action='store_true')
    ap.add_argument('--opset', type=int, default=13)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)

    import numpy as np
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    import fpf_fast

    if a.cell and a.nucleus:
        cell = common.read_u8(a.cell, a.height, a.width)
        nuc = common.read_u8(a.nucleus, a.height, a.width)
    else:
        cell, nuc = common.synth_pair(a.height, a.width)
    t0 = time.perf_counter()
    ref, trunk = fpf_fast.build(a.config, a.variant, a.seed, a.nucleus_seed)
    x = torch.from_numpy(common.mold_nchw(cell))
    xc = torch.from_numpy(common.mold_nchw(nuc))
    fpf = ref.fpf
    if a.variant == 'with_nucleus':
        x = torch.cat([x, xc], 1)
    if a.variant == 'cores':
        x = xc
    names = ['cell', 'nucleus'] if fpf else ['image']
    feeds = [x, xc] if fpf else [x]
    man = dict(config=a.config, variant=a.variant, height=a.height, width=a.width, inputs=[], outputs={})
    for n, t in zip(names, feeds):
        f = os.path.join(a.out_dir, n + '.f32')
        t.numpy().astype(np.float32).tofile(f)
        man['inputs'].append(dict(name=n, file=os.path.abspath(f), shape=list(t.shape)))

    m = trunk if fpf else fpf_fast.TrunkSingle(trunk).eval()
    tout = ['rpn_probs', 'rpn_bbox', 'F2', 'F3', 'F4', 'F5']
    with torch.inference_mode():
        probs, deltas = m(*feeds)[:2]
        # the fast trunk against the reference's own trunk (unfolded BN)
        pyr = ref.forward_pyramid(x, xc if fpf else None)
        lg, bb = ref.rpn(pyr['F'])
        d_bbox = float((bb - deltas).abs().max())
        d_prob = float((torch.softmax(lg, -1) - probs).abs().max())
    man['torch_check'] = dict(rpn_bbox_sum=float(deltas.double().sum()), fast_vs_ref_max_abs_rpn_bbox=d_bbox,
                              fast_vs_ref_max_abs_rpn_probs=d_prob, rpn_bbox_max_abs=float(bb.abs().max()))
    print('fast trunk vs reference trunk: max |d rpn_bbox| %.3g (max |rpn_bbox| %.3g), max |d probs| %.3g'
          % (d_bbox, man['torch_check']['rpn_bbox_max_abs'], d_prob), flush=True)

    path = os.path.join(a.out_dir, 'trunk.onnx')
    t1 = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(m, tuple(feeds), path, opset_version=a.opset, input_names=names, output_names=tout,
                          do_constant_folding=True)
    n_id = strip_identity(path)
    man['outputs']['trunk'] = dict(file=os.path.abspath(path), outputs=tout, export_s=time.perf_counter() - t1,
                                   identity_removed=n_id, bytes=os.path.getsize(path))
    # ONNX weight initializer -> Keras layer name (= the .fpf tensor prefix; the nucleus tower's end in
    # "_core"), for bench/peers/qdq_onnx.py
    man['trunk_layers'] = {'%s.weight' % n: mod.kname for n, mod in m.named_modules() if hasattr(mod, 'kname')}
    print('wrote %s (%.1f MB, %.1f s, %d Identity removed)' % (path, os.path.getsize(path) / 1e6,
                                                             time.perf_counter() - t1, n_id), flush=True)

    if not a.no_whole:
        Hp, Wp = common.pad_shape(a.height, a.width)
        whole = fpf_fast.WholeNet(ref, m, Hp, Wp, h=a.height, w=a.width).eval()
        path = os.path.join(a.out_dir, 'whole.onnx')
        wout = ['det_boxes', 'det_scores', 'masks']
        try:
            with torch.inference_mode():
                det, sc, mk = whole(*feeds)
            man['torch_check']['whole_n0'] = int(det.shape[0])
            t1 = time.perf_counter()
            with torch.no_grad():
                torch.onnx.export(whole, tuple(feeds), path, opset_version=a.opset,
                                  input_names=names, output_names=wout, do_constant_folding=True)
            n_id = strip_identity(path)
            man['outputs']['whole'] = dict(file=os.path.abspath(path), outputs=wout, export_s=time.perf_counter() - t1,
                                           identity_removed=n_id, bytes=os.path.getsize(path))
            print('wrote %s (%.1f MB, %.1f s); torch WholeNet N0 = %d' % (path, os.path.getsize(path) / 1e6,
                                                                       time.perf_counter() - t1, det.shape[0]), flush=True)
        except Exception as e:     # report why, keep the trunk
            man['outputs']['whole'] = dict(file=None, error='%s: %s' % (type(e).__name__, str(e).splitlines()[0][:300]))
            print('whole-network export failed: %s' % man['outputs']['whole']['error'], flush=True)
    man['export_total_s'] = time.perf_counter() - t0
    with open(os.path.join(a.out_dir, 'manifest.json'), 'w') as f:
        json.dump(man, f, indent=1)


if __name__ == '__main__':
    main()
