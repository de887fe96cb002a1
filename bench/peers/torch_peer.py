"""PyTorch timings of the FPF network on the seeded weights (run with /usr/bin/python3).

    /usr/bin/python3 bench/peers/torch_peer.py --what WHAT --config paper --variant fpf_add \
        --height 1024 --width 1280 --cell CELL.u8 --nucleus NUC.u8 --threads 2 --warmup 1 --runs 5 --json OUT

WHAT:
  ref          the reference end to end, as is: fpf_ref.run_inference (float32 torch NCHW eager trunk with
               unfolded BN, numpy post-processing with TF-exact NMS, numpy crop_and_resize, einsum deconv,
               full-resolution mask pasting). Written for exactness, not speed.
  trunk_ref    the reference's own dense trunk only: FPFModel.forward_pyramid + RPNHead (NCHW eager, BN unfolded)
  trunk_eager  the fast trunk (bench/peers/fpf_fast.py: BN folded, nn.Conv2d), eager, NCHW
  trunk_cl     the same, eager, channels_last
  trunk_jit    the same, channels_last, torch.jit.trace + torch.jit.freeze + torch.jit.optimize_for_inference
  whole_jit    fpf_fast.WholeNet (fast trunk + ONNX-style heads), eager heads on a frozen-TorchScript trunk
Threads: torch.set_num_threads(T) and set_num_interop_threads(1), explicitly (torch's default here is 1).
The trunk inputs are the molded images (molding is outside the timing, as in the C bench's trunk figure).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--what', required=True,
                    choices=['ref', 'trunk_ref', 'trunk_eager', 'trunk_cl', 'trunk_jit', 'whole_jit'])
    ap.add_argument('--config', default='paper')
    ap.add_argument('--variant', default='fpf_add')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--nucleus-seed', type=int, default=7)
    ap.add_argument('--height', type=int, default=1024)
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--cell')
    ap.add_argument('--nucleus')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--stage-runs', type=int, default=-1, help='eager trunks: runs with per-stage hooks (default --runs)')
    ap.add_argument('--json')
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()

    os.environ.pop('OPENBLAS_CORETYPE', None)     # trap: it forces AVX2 OpenBLAS kernels (torch convs use oneDNN anyway)
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    import fpf_fast
    import fpf_ref

    if a.cell and a.nucleus:
        cell = common.read_u8(a.cell, a.height, a.width)
        nuc = common.read_u8(a.nucleus, a.height, a.width)
    else:
        cell, nuc = common.synth_pair(a.height, a.width)

    t0 = time.perf_counter()
    ref, trunk = fpf_fast.build(a.config, a.variant, a.seed, a.nucleus_seed)
    load_ms = (time.perf_counter() - t0) * 1e3       # seeded weights (numpy splitmix) + module build + BN fold

    x = torch.from_numpy(common.mold_nchw(cell))
    xc = torch.from_numpy(common.mold_nchw(nuc))
    if a.variant == 'with_nucleus':
        x = torch.cat([x, xc], 1)
    single = not ref.fpf
    if a.variant == 'cores':
        x = xc
    info = {}
    prep_ms = 0.0

    with torch.inference_mode():
        if a.what == 'ref':
            def fn():
                out = fpf_ref.run_inference(ref, cell=cell, nucleus=nuc)
                info['n_props'] = int(out['info']['n_proposals'])
                info['n0'] = int(out['info']['N0'])
                info['n_cells'] = int(out['info']['N'])
                info['rpn_bbox_sum'] = float(np.asarray(out['rpn_bbox'], np.float64).sum())
        elif a.what == 'trunk_ref':
            def fn():
                pyr = ref.forward_pyramid(x, None if single else xc)
                lg, bb = ref.rpn(pyr['F'])
                probs = torch.softmax(lg, -1)
                info['rpn_bbox_sum'] = float(bb.double().sum())
                return probs
        else:
            m = trunk if not single else fpf_fast.TrunkSingle(trunk).eval()
            xi, xci = x, xc
            t1 = time.perf_counter()
            if a.what in ('trunk_cl', 'trunk_jit', 'whole_jit'):
                m = m.to(memory_format=torch.channels_last)
                xi = x.contiguous(memory_format=torch.channels_last)
                xci = xc.contiguous(memory_format=torch.channels_last)
            args = (xi,) if single else (xi, xci)
            if a.what in ('trunk_jit', 'whole_jit'):
                with torch.no_grad():
                    tm = torch.jit.trace(m, args, check_trace=False)
                    tm = torch.jit.freeze(tm.eval())
                    tm = torch.jit.optimize_for_inference(tm)
                m = tm
            prep_ms = (time.perf_counter() - t1) * 1e3
            if a.what == 'whole_jit':
                Hp, Wp = common.pad_shape(a.height, a.width)
                whole = fpf_fast.WholeNet(ref, trunk, Hp, Wp, h=a.height, w=a.width).eval()
                whole.trunk = m   # the frozen trunk; the heads stay eager

                def fn():
                    det, sc, masks = whole(xi, xci)
                    info['n0'] = int(det.shape[0])
            else:
                def fn():
                    probs, deltas = m(*args)[:2]
                    info['rpn_bbox_sum'] = float(deltas.double().sum())
        foreign = []
        ts = common.time_runs(fn, a.warmup, a.runs, 'torch %s T=%d' % (a.what, a.threads), a.quiet, foreign)
        stages = {}
        nst = a.runs if a.stage_runs < 0 else a.stage_runs
        if a.what in ('trunk_eager', 'trunk_cl') and nst > 0:
            stamps = []
            hooks = fpf_fast.stage_hooks(trunk, stamps)
            for i in range(nst):
                del stamps[:]
                t0s = time.perf_counter()
                fn()
                t1s = time.perf_counter()
                last = t0s
                per = {}
                for st, t in stamps:
                    per[st] = per.get(st, 0.0) + (t - last) * 1e3
                    last = t
                per['(rest of the trunk)'] = (t1s - last) * 1e3
                for k, v in per.items():
                    stages.setdefault(k, []).append(v)
            for h in hooks:
                h.remove()
            stages = {k: common.stats(v) for k, v in stages.items()}

    res = dict(peer='torch', what=a.what, threads=a.threads, torch=torch.__version__,
               torch_threads=torch.get_num_threads(), config=a.config, variant=a.variant,
               height=a.height, width=a.width, load_ms=load_ms, prep_ms=prep_ms,
               ms=common.stats(ts), foreign=foreign, stages=stages, maxrss_kb=common.maxrss_kb(), info=info)
    if True:
        s = res['ms']
        print('torch %s threads=%d: median %.1f ms (min %.1f, max %.1f); load %.0f ms, prep %.0f ms; %s; maxrss %.0f MB'
              % (a.what, a.threads, s['median'], s['min'], s['max'], load_ms, prep_ms, info, res['maxrss_kb'] / 1024))
    common.write_json(a.json, res)


if __name__ == '__main__':
    main()
