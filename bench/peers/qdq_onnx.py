"""The ONNX Runtime int8 peer: a QDQ form of the fp32 trunk export with fpf's own int8 weights and scales
(run with /usr/bin/python3: Debian numpy + python3-onnx; no torch, no onnxruntime Python package).

    # 1. the tensors fpf does not quantize but ORT must (below), exposed as outputs for calibration
    qdq_onnx.py plan  --onnx trunk.onnx --manifest manifest.json --int8 M_int8.fpf \\
                      --calib-cell C.pgm --calib-nucleus N.pgm --out-dir D
    node bench/peers/ort_peer.js --model D/calib.onnx --manifest D/calib_manifest.json --ranges D/ranges.json
    # 2. the QDQ model
    qdq_onnx.py build --onnx trunk.onnx --manifest manifest.json --int8 M_int8.fpf --ranges D/ranges.json \\
                      --out D/trunk_int8.onnx
    # 3. which kernels ORT runs (its optimized-model dump) and how close the outputs are
    qdq_onnx.py check --optimized OPT.onnx --fpf-int8 DIR --fpf-fp32 DIR --ort-int8 DIR --ort-fp32 DIR \\
                      --manifest manifest.json [--json OUT]

What the QDQ model computes (the arithmetic of fpf.h, "int8 quantized models", as far as ONNX can):
- every conv that is int8 in the .fpf reads its input through QuantizeLinear -> DequantizeLinear with the
  layer's own `<layer>/input_q` {s_x, z_x} (u8, per tensor): the same q_x = clamp(rhe(x / s_x) + z_x);
- its weights are the file's s8 q_w (HWIO -> OIHW) through DequantizeLinear with the file's per-output-channel
  scales s_w (axis 0, zero point 0), checked against the fp32 export (|w - s_w q_w| <= s_w / 2);
- its bias is int32 round(b / (s_x s_w)) through DequantizeLinear with scale s_x s_w (ORT's QDQ conv wants
  an int32 bias); fpf adds the float bias after acc * s_x s_w, so they differ by < s_x s_w / 2;
- layers the .fpf keeps fp32 (the stem, the RPN output convs) stay float Conv nodes;
- an int8 conv's output that is also a graph output (F2..F5 of one-tower variants) is given out as a DQ of it;
  the FPF fusion (Add / Concat) writes F2..F5 in float, as fpf does.
ORT fuses DQ -> Conv -> Q into QLinearConv (u8 x s8, NHWC), DQ, DQ -> Add -> Q into QLinearAdd, and runs
Resize / MaxPool on u8, but only where the conv's output is itself quantized. fpf keeps the output of a
conv in float when a float epilogue follows (2c and the shortcut before the residual add, the FPN laterals
before the upsample-add, the smoothing convs before the fusion add, the RPN shared conv before the fp32
output convs). ORT has no such path, so those tensors get a u8 per-tensor Q/DQ of their own, with min/max
ranges from ORT's fp32 run of the same trunk on the same calibration pair fpf_quantize used, and the same
formula (s = (hi - lo) / 255 over [min(lo, 0), max(hi, 0)], z = rhe(-lo / s)). That requantization, and
ORT's fixed-point output requantization, are why the outputs are close to fpf int8 but not the same bits.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


# ------------------------------------------------------------------------------------------ .fpf
def read_fpf(path):
    """{tensor name: (dtype, array, scales or None)}: the table of fpf.h's "Model file format"; s8 kernels
    come back as int8 HWIO arrays with their per-output-channel float32 scales."""
    with open(path, 'rb') as f:
        b = f.read()
    if b[:8] != b'FPFMODEL':
        raise SystemExit('%s: not an .fpf file' % path)
    ver, nt = struct.unpack_from('<II', b, 8)
    if ver != 1:
        raise SystemExit('%s: format version %d (this script reads 1)' % (path, ver))
    out = {}
    for t in range(nt):
        e = 320 + 128 * t
        name = b[e:e + 80].split(b'\0', 1)[0].decode()
        dtype, ndim = struct.unpack_from('<II', b, e + 80)
        shape = struct.unpack_from('<4I', b, e + 88)[:ndim]
        off, nbytes, soff = struct.unpack_from('<QQQ', b, e + 104)
        if dtype == 0:
            a = np.frombuffer(b, np.float32, nbytes // 4, off).reshape(shape)
            out[name] = (0, a, None)
        elif dtype == 1:
            a = np.frombuffer(b, np.int8, nbytes, off).reshape(shape)
            out[name] = (1, a, np.frombuffer(b, np.float32, shape[-1], soff).copy())
        else:
            raise SystemExit('%s: tensor %s has dtype %d' % (path, name, dtype))
    return out


def int8_layers(fpf):
    """{layer: (q_w HWIO int8, s_w [cout], s_x, z_x)} of the int8 layers."""
    out = {}
    for name, (dt, a, sc) in fpf.items():
        if dt == 1 and name.endswith('/kernel'):
            ly = name[:-7]
            q = fpf[ly + '/input_q'][1]
            out[ly] = (a, sc, np.float32(q[0]), int(q[1]))
    return out


def qparams(lo, hi):
    """fpf_quantize's activation formula (docs/ARCHITECTURE.md §16.2) for a calibrated range."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    s = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    z = int(np.clip(np.round(np.float32(-lo) / s), 0, 255))      # np.round: half to even
    return s, z


def read_image(path, h, w):
    """Raw H*W bytes or a binary PGM (P5, maxval 255), as bench/run.py writes the calibration pair."""
    with open(path, 'rb') as f:
        b = f.read()
    if b[:2] == b'P5':
        parts, pos = [], 2
        while len(parts) < 3:
            while b[pos:pos + 1].isspace():
                pos += 1
            end = pos
            while not b[end:end + 1].isspace():
                end += 1
            parts.append(int(b[pos:end]))
            pos = end
        b = b[pos + 1:]
        if parts[0] != w or parts[1] != h or parts[2] != 255:
            raise SystemExit('%s: %dx%d maxval %d, expected %dx%d 255' % (path, parts[0], parts[1], parts[2], w, h))
    a = np.frombuffer(b, np.uint8)
    if a.size != h * w:
        raise SystemExit('%s: %d pixels, expected %dx%d' % (path, a.size, h, w))
    return a.reshape(h, w)


# ------------------------------------------------------------------------------------------ graph
class Plan(object):
    """Which conv is int8 (by its Keras name), which tensor is quantized with which {s, z}, which need ranges."""

    def __init__(self, m, man, fpf):
        g = m.graph
        self.g = g
        self.inits = {i.name: i for i in g.initializer}
        self.outputs = {o.name for o in g.output}
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers = {}
        for n in g.node:
            for x in n.input:
                self.consumers.setdefault(x, []).append(n)
        names = man.get('trunk_layers')
        if not names:
            raise SystemExit('manifest has no trunk_layers (re-export with bench/peers/export_onnx.py)')
        q8 = int8_layers(fpf)
        self.q8 = q8
        self.int8 = {}          # node name -> Keras layer name
        self.fp32 = []
        for n in g.node:
            if n.op_type != 'Conv':
                continue
            ly = names.get(n.input[1])
            if ly is None:
                raise SystemExit('no Keras name for conv %s (weight %s)' % (n.name, n.input[1]))
            (self.int8.__setitem__(n.name, ly) if ly in q8 else self.fp32.append(ly))
        # 1. inputs of int8 convs: the layer's own input_q
        self.q = {}             # tensor -> (s, z, source)
        for n in g.node:
            if n.name in self.int8:
                _, _, s, z = q8[self.int8[n.name]]
                x = n.input[0]
                if x in self.q and (self.q[x][0], self.q[x][1]) != (s, z):
                    raise SystemExit('tensor %s is read by int8 layers with different input_q' % x)
                self.q[x] = (s, z, 'fpf ' + self.int8[n.name])
        # 2. u8 through nearest Resize and MaxPool: their output keeps the input's {s, z} (exact)
        for n in g.node:
            if n.op_type in ('Resize', 'MaxPool') and n.input[0] in self.q and n.output[0] not in self.q:
                s, z, _ = self.q[n.input[0]]
                self.q[n.output[0]] = (s, z, 'as its input (%s)' % n.op_type)
        # 3. outputs of int8 convs (after their ReLU) that no int8 layer reads: calibrated ranges
        self.calib = []
        for n in g.node:
            if n.name not in self.int8:
                continue
            y = n.output[0]
            c = self.consumers.get(y, [])
            if len(c) == 1 and c[0].op_type == 'Relu' and y not in self.outputs:
                y = c[0].output[0]
            if y not in self.q and y not in self.calib:
                self.calib.append(y)

    def int8_output(self, t):
        """t is written by an int8 conv (directly or through its ReLU)."""
        n = self.producer.get(t)
        if n is not None and n.op_type == 'Relu':
            n = self.producer.get(n.input[0])
        return n is not None and n.name in self.int8

    def summary(self):
        return '%d convs int8 (%d layers), %d fp32 (%s); %d tensors with fpf scales, %d with calibrated ranges' % (
            len(self.int8), len(set(self.int8.values())), len(self.fp32), ', '.join(sorted(set(self.fp32))),
            len(self.q), len(self.calib))


def build(m, plan, ranges):
    from onnx import helper as h, numpy_helper as nh
    g = plan.g
    for t in plan.calib:
        if t not in ranges:
            raise SystemExit('no calibrated range for %s' % t)
        s, z = qparams(*ranges[t])
        plan.q[t] = (s, z, 'calibrated [%.4g, %.4g]' % tuple(ranges[t]))
    new_inits, new_nodes, wdone = [], [], set()
    worst = 0.0
    for n in g.node:
        if n.name not in plan.int8:
            continue
        ly = plan.int8[n.name]
        qw, sw, sx, zx = plan.q8[ly]
        wq = np.ascontiguousarray(qw.transpose(3, 2, 0, 1))                     # HWIO -> OIHW
        w32 = nh.to_array(plan.inits[n.input[1]])
        if w32.shape != wq.shape:
            raise SystemExit('%s: ONNX weight %s vs .fpf %s' % (ly, w32.shape, wq.shape))
        err = np.abs(w32 - sw[:, None, None, None] * wq.astype(np.float32)).reshape(len(sw), -1).max(1)
        worst = max(worst, float((err / sw).max()))
        if (err > 0.5 * sw * (1 + 1e-3) + 1e-7).any():
            raise SystemExit('%s: the .fpf int8 weights are not the ONNX weights quantized (max error %.3g s_w)'
                             % (ly, float((err / sw).max())))
        base = 'q8/' + ly
        if base not in wdone:                       # the RPN shared conv: one weight, five nodes
            wdone.add(base)
            new_inits += [nh.from_array(wq, base + '/w_q'), nh.from_array(sw.astype(np.float32), base + '/w_s'),
                          nh.from_array(np.zeros(len(sw), np.int8), base + '/w_z')]
        new_nodes.append(h.make_node('DequantizeLinear', [base + '/w_q', base + '/w_s', base + '/w_z'],
                                     [n.name + '/w_dq'], name=n.name + '/w_DQ', axis=0))
        n.input[1] = n.name + '/w_dq'
        if len(n.input) > 2 and n.input[2]:
            b = nh.to_array(plan.inits[n.input[2]]).astype(np.float64)
            bs = (np.float32(sx) * sw).astype(np.float32)                      # m[co] = s_x * s_w[co]
            bq = np.clip(np.round(b / bs), -2 ** 31, 2 ** 31 - 1).astype(np.int32)
            new_inits += [nh.from_array(bq, n.name + '/b_q'), nh.from_array(bs, n.name + '/b_s'),
                          nh.from_array(np.zeros(len(sw), np.int32), n.name + '/b_z')]
            new_nodes.append(h.make_node('DequantizeLinear', [n.name + '/b_q', n.name + '/b_s', n.name + '/b_z'],
                                         [n.name + '/b_dq'], name=n.name + '/b_DQ', axis=0))
            n.input[2] = n.name + '/b_dq'
    # Q after each quantized tensor, one DQ per consumer (ORT's QDQ groups want a DQ of their own)
    for k, (t, (s, z, _)) in enumerate(sorted(plan.q.items())):
        tag = 'q%d' % k
        new_inits += [nh.from_array(np.array(s, np.float32), tag + '/s'), nh.from_array(np.array(z, np.uint8), tag + '/z')]
        src = t
        if t in plan.outputs and plan.int8_output(t):
            # an int8 conv's output that is also a graph output (F2..F5 of one-tower variants): the graph
            # output becomes a DQ of it, else ORT could not fuse the conv (its output would have a float reader)
            plan.producer[t].output[0] = src = t + '/pre_q'
            new_nodes.append(h.make_node('DequantizeLinear', [tag + '/u8', tag + '/s', tag + '/z'], [t], name=tag + '/out_DQ'))
        new_nodes.append(h.make_node('QuantizeLinear', [src, tag + '/s', tag + '/z'], [tag + '/u8'], name=tag + '/Q'))
        for j, c in enumerate(plan.consumers.get(t, [])):
            d = '%s/dq%d' % (tag, j)
            new_nodes.append(h.make_node('DequantizeLinear', [tag + '/u8', tag + '/s', tag + '/z'], [d], name=d + '/DQ'))
            for i, x in enumerate(c.input):
                if x == t:
                    c.input[i] = d
    used = {x for n in list(g.node) + new_nodes for x in n.input}
    keep = [i for i in g.initializer if i.name in used]
    # topological order: a new node goes right after the last producer of its inputs
    nodes = list(g.node) + new_nodes
    have = {i.name for i in g.input} | {i.name for i in keep} | {i.name for i in new_inits}
    order, pending = [], nodes
    while pending:
        rest = []
        for n in pending:
            if all(x == '' or x in have for x in n.input):
                order.append(n)
                have.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise SystemExit('QDQ graph has a cycle or a dangling input')
        pending = rest
    del g.node[:]
    g.node.extend(order)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    return worst


# ------------------------------------------------------------------------------------------ check
def load_outputs(d, man, layout):
    """{name: float64 array} in fpf's layout (maps HWC, rpn [A, k]); layout 'onnx' (NCHW) or 'fpf'."""
    names = {'F2': 'F2', 'F3': 'F3', 'F4': 'F4', 'F5': 'F5', 'rpn_probs': 'rpn_class', 'rpn_bbox': 'rpn_bbox'}
    out = {}
    for onnx_name, fpf_name in names.items():
        f = os.path.join(d, (onnx_name if layout == 'onnx' else fpf_name) + '.f32')
        if not os.path.exists(f):
            continue
        a = np.fromfile(f, np.float32).astype(np.float64)
        if onnx_name.startswith('F') and layout == 'onnx':
            c = a.size // man['_hw'][onnx_name]
            h, w = man['_shape'][onnx_name]
            a = a.reshape(c, h, w).transpose(1, 2, 0).ravel()
        out[onnx_name] = a
    return out


def compare(a, b):
    d = np.abs(a - b)
    return dict(max_abs=float(d.max()), mean_abs=float(d.mean()), ref_max_abs=float(np.abs(b).max()),
                ref_mean_abs=float(np.abs(b).mean()))


def check(a):
    import onnx
    man = json.load(open(a.manifest))
    Hp, Wp = man['inputs'][0]['shape'][2:]
    man['_shape'] = {'F%d' % k: (Hp >> k, Wp >> k) for k in range(2, 6)}
    man['_hw'] = {k: v[0] * v[1] for k, v in man['_shape'].items()}
    res = dict(ops={})
    if a.optimized:
        om = onnx.load(a.optimized)
        cnt = {}
        for n in om.graph.node:
            k = (n.domain + '.' if n.domain else '') + n.op_type
            cnt[k] = cnt.get(k, 0) + 1
        res['ops'] = dict(sorted(cnt.items(), key=lambda kv: -kv[1]))
    sets = dict(fpf_int8=(a.fpf_int8, 'fpf'), fpf_fp32=(a.fpf_fp32, 'fpf'),
                ort_int8=(a.ort_int8, 'onnx'), ort_fp32=(a.ort_fp32, 'onnx'))
    T = {k: load_outputs(d, man, lay) for k, (d, lay) in sets.items() if d}
    pairs = [('ort_int8', 'fpf_int8'), ('ort_int8', 'ort_fp32'), ('fpf_int8', 'fpf_fp32'), ('ort_fp32', 'fpf_fp32')]
    res['errors'] = {}
    for x, y in pairs:
        if x in T and y in T:
            res['errors']['%s vs %s' % (x, y)] = {k: compare(T[x][k], T[y][k]) for k in T[x] if k in T[y]}
    for pair, per in res['errors'].items():
        print('qdq check %s: %s' % (pair, '; '.join('%s max %.3g mean %.3g (|ref| max %.3g mean %.3g)' % (
            k, v['max_abs'], v['mean_abs'], v['ref_max_abs'], v['ref_mean_abs']) for k, v in per.items())))
    if res['ops']:
        print('qdq check: ORT optimized graph: %s' % ', '.join('%s %d' % kv for kv in res['ops'].items()))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)


# ------------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('step', choices=('plan', 'build', 'check'))
    ap.add_argument('--onnx', help='the fp32 trunk export (bench/peers/export_onnx.py: trunk.onnx)')
    ap.add_argument('--manifest', help="export_onnx.py's manifest.json")
    ap.add_argument('--int8', help='the int8 .fpf (build/fpf_quantize) of the same weights')
    ap.add_argument('--calib-cell')
    ap.add_argument('--calib-nucleus')
    ap.add_argument('--out-dir')
    ap.add_argument('--ranges')
    ap.add_argument('--out')
    ap.add_argument('--optimized', help="ORT's optimized-model dump of the QDQ model")
    ap.add_argument('--fpf-int8')
    ap.add_argument('--fpf-fp32')
    ap.add_argument('--ort-int8')
    ap.add_argument('--ort-fp32')
    ap.add_argument('--json')
    a = ap.parse_args()
    if a.step == 'check':
        return check(a)
    import onnx
    from onnx import helper as h, TensorProto
    m = onnx.load(a.onnx)
    man = json.load(open(a.manifest))
    plan = Plan(m, man, read_fpf(a.int8))
    print('qdq plan: ' + plan.summary())
    if a.step == 'plan':
        os.makedirs(a.out_dir, exist_ok=True)
        g = m.graph
        for t in plan.calib:
            g.output.append(h.make_tensor_value_info(t, TensorProto.FLOAT, None))
        onnx.save(m, os.path.join(a.out_dir, 'calib.onnx'))
        H, W = man['height'], man['width']
        cell = read_image(a.calib_cell, H, W)
        nuc = read_image(a.calib_nucleus, H, W)
        cm = dict(variant=man['variant'], inputs=[])
        for inp in man['inputs']:
            x = {'cell': lambda: common.mold_nchw(cell), 'nucleus': lambda: common.mold_nchw(nuc)}.get(inp['name'])
            if x is None:     # one-input variants: 'image'
                x = (lambda: np.concatenate([common.mold_nchw(cell), common.mold_nchw(nuc)], 1)) if inp['shape'][1] == 2 \
                    else (lambda: common.mold_nchw(nuc if man['variant'] == 'cores' else cell))
            f = os.path.join(a.out_dir, 'calib_%s.f32' % inp['name'])
            x().astype(np.float32).tofile(f)
            cm['inputs'].append(dict(name=inp['name'], file=os.path.abspath(f), shape=inp['shape']))
        with open(os.path.join(a.out_dir, 'calib_manifest.json'), 'w') as f:
            json.dump(cm, f, indent=1)
        print('qdq plan: wrote calib.onnx (%d extra outputs) and calib_manifest.json to %s' % (len(plan.calib), a.out_dir))
        return 0
    ranges = json.load(open(a.ranges))
    worst = build(m, plan, ranges)
    onnx.checker.check_model(m)
    tmp = a.out + '.tmp'
    onnx.save(m, tmp)
    os.replace(tmp, a.out)
    print('qdq build: wrote %s (%.1f MB): %d Q, %d DQ; ONNX fp32 weights vs fpf s_w q_w: max %.3f s_w' % (
        a.out, os.path.getsize(a.out) / 1e6, sum(n.op_type == 'QuantizeLinear' for n in m.graph.node),
        sum(n.op_type == 'DequantizeLinear' for n in m.graph.node), worst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
