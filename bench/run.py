#!/usr/bin/python3
"""fpf benchmark driver: fpf (C) against PyTorch and ONNX Runtime on the same seeded weights and inputs.

    /usr/bin/python3 bench/run.py            # full: paper config, FPF-add, 1024x1280, threads 1 and 2, 5 runs
    /usr/bin/python3 bench/run.py --quick    # smoke test: tiny config, 256x320, 2 runs, short waits

(make bench / make bench-quick build the binaries and install onnxruntime-node first; see bench/README.md.)

Every timed command:
  - waits for a quiet machine first (foreign load < --quiet-load cores over 1 s, at most --max-wait s),
    like a careful benchmark runner does; "foreign" = busy CPU time of the machine (/proc/stat)
    minus our own children's CPU time;
  - runs under /usr/bin/time -v (peak RSS, wall);
  - reports the foreign load during each of its timed runs (each peer measures it around every run);
  - is repeated (--retries) when the median foreign load of its runs was above --quiet-load, keeping the
    cleanest attempt.
Results: build/bench/results/*.json (raw) and build/bench/BENCHMARKS.generated.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))
import common  # noqa: E402

PY = '/usr/bin/python3'
HZ = os.sysconf('SC_CLK_TCK')


# ----------------------------------------------------------------------------------------- load meter
def busy_s():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / HZ


def children_s():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def foreign_load(sec):
    b0, c0 = busy_s(), children_s()
    time.sleep(sec)
    return max(0.0, ((busy_s() - b0) - (children_s() - c0)) / sec)


def wait_quiet(max_wait, thr):
    t0 = time.time()
    load = foreign_load(0.3)
    while load >= thr and time.time() - t0 < max_wait:
        load = foreign_load(1.0)
    return load, time.time() - t0


def parse_time_v(text):
    out = {}
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', text)
    if m:
        out['maxrss_kb'] = int(m.group(1))
    m = re.search(r'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)', text)
    if m:
        p = [float(x) for x in m.group(1).split(':')]
        out['wall_s'] = sum(v * 60 ** i for i, v in enumerate(reversed(p)))
    return out


class Runner(object):
    def __init__(self, a, log):
        self.a = a
        self.log = log
        self.env = dict(os.environ)
        self.env.pop('OPENBLAS_CORETYPE', None)       # trap 2: forces AVX2 OpenBLAS kernels
        self.env.pop('OPENBLAS_L2_SIZE', None)
        self.records = []

    def say(self, *x):
        s = ' '.join(str(v) for v in x)
        print(s, flush=True)
        self.log.write(s + '\n')
        self.log.flush()

    def run(self, key, cmd, json_out, threads=None, timed=True):
        """Runs cmd (list) under /usr/bin/time -v; returns the parsed JSON (with driver fields) or None."""
        best = None
        attempts = 1 + (self.a.retries if timed else 0)
        for att in range(attempts):
            pre, waited = wait_quiet(self.a.max_wait, self.a.quiet_load) if timed else (foreign_load(0.3), 0.0)
            env = dict(self.env)
            if threads:
                env['OMP_NUM_THREADS'] = str(threads)
            full = ['/usr/bin/time', '-v'] + cmd if os.path.exists('/usr/bin/time') else cmd
            self.say('[%s] %s%s  (waited %.0f s, foreign before %.2f cores)' % (
                time.strftime('%H:%M:%S'), ' '.join(cmd), '' if att == 0 else '  [retry %d]' % att, waited, pre))
            b0, c0, t0 = busy_s(), children_s(), time.time()
            p = subprocess.run(full, cwd=REPO, env=env, capture_output=True, text=True)
            dt = time.time() - t0
            fl = max(0.0, ((busy_s() - b0) - (children_s() - c0)) / dt) if dt > 0 else 0.0
            tv = parse_time_v(p.stderr)
            tail = [l for l in (p.stdout + p.stderr).splitlines() if l.strip() and not l.startswith('\t')]
            if p.returncode != 0:
                self.say('    FAILED (exit %d):\n      %s' % (p.returncode, '\n      '.join(tail[-15:])))
                rec = dict(key=key, cmd=cmd, error='exit %d: %s' % (p.returncode, ' | '.join(tail[-3:])))
                self.records.append(rec)
                return None
            for l in tail:
                if re.match(r'^(ort |torch |fpf |peak |cpu:|load:|== |WHOLE|dense trunk|fast trunk|wrote |qdq )', l.strip()):
                    self.say('    ' + l.strip())
            res = {}
            if json_out and os.path.exists(json_out):
                with open(json_out) as f:
                    res = json.load(f)
            runs_f = res.get('foreign') or []
            if not runs_f and isinstance(res.get('results'), list) and res['results']:
                runs_f = res['results'][0].get('foreign', [])
            med_f = statistics.median(runs_f) if runs_f else fl
            res['_driver'] = dict(key=key, cmd=cmd, waited_s=waited, foreign_before=pre, foreign_cmd=fl,
                                  foreign_runs_median=med_f, foreign_runs_max=max(runs_f) if runs_f else fl,
                                  time_v=tv, wall_s=dt, attempt=att)
            self.say('    (wall %.1f s, peak RSS %.0f MB, foreign load: command %.2f, runs median %.2f max %.2f cores)' % (
                dt, tv.get('maxrss_kb', 0) / 1024, fl, med_f, res['_driver']['foreign_runs_max']))
            if best is None or med_f < best['_driver']['foreign_runs_median']:
                best = res
            if med_f < self.a.quiet_load:
                break
        best['_driver']['key'] = key
        self.records.append(best)
        return best


# ------------------------------------------------------------------------------------------- report
def fmt_ms(s):
    if not s:
        return 'n/a'
    med, mn, mx = s['median'], s['min'], s['max']
    if med >= 1000:
        return '%.2f s (%.2f–%.2f)' % (med / 1e3, mn / 1e3, mx / 1e3)
    return '%.1f ms (%.1f–%.1f)' % (med, mn, mx)


def st(v):
    return common.stats(v) if v else None


def ratio(peer, fpf):
    if not peer or not fpf or fpf['median'] <= 0:
        return 'n/a'
    return '%.2f×' % (peer['median'] / fpf['median'])


def cpu_info():
    model, flags, fam, mod = 'unknown', [], '?', '?'
    try:
        with open('/proc/cpuinfo') as f:
            for l in f:
                if l.startswith('model name') and model == 'unknown':
                    model = l.split(':', 1)[1].strip()
                elif l.startswith('flags') and not flags:
                    flags = l.split(':', 1)[1].split()
                elif l.startswith('cpu family') and fam == '?':
                    fam = l.split(':', 1)[1].strip()
                elif l.startswith('model\t') and mod == '?':
                    mod = l.split(':', 1)[1].strip()
    except OSError:
        pass
    isa = [x for x in ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile') if x in flags]
    return model, fam, mod, isa


def int8_peer_report(w, a, R, env, fpf, f8, gops, peak_name='VNNI'):
    """fpf int8 against the ONNX Runtime int8 QDQ peer on the same trunk (bench/peers/qdq_onnx.py)."""
    if not any(R.get('ort_int8_trunk_T%d' % t) for t in a.threads):
        return
    w('### fpf int8 against ONNX Runtime int8 QDQ, the same trunk')
    w('')
    w('ONNX Runtime runs `trunk.onnx` made QDQ by `bench/peers/qdq_onnx.py` with the int8 `.fpf`\'s own s8 weights, '
      'per-output-channel scales and per-layer input {scale, zero point} (u8); the stem and the RPN output convs '
      'stay fp32 as in fpf. fpf keeps some conv outputs in float before a float epilogue (residual, upsample-add, '
      'fusion add, the RPN output convs); ORT cannot, so those tensors get u8 Q/DQ with min/max ranges from its '
      'own fp32 run on the calibration pair fpf_quantize used. GOP/s = 2 × trunk MACs / median time; %% of the int8 '
      '%s peak of this run (the peak of the row fpf ran; ORT runs VNNI).' % peak_name)
    w('')
    w('| T | fpf int8 trunk | ORT int8 QDQ trunk | ORT int8 / fpf int8 | fpf int8 GOP/s, % peak | ORT int8 GOP/s, % peak '
      '| ORT fp32 trunk | ORT int8 speed-up over its fp32 |')
    w('|---|---|---|---|---|---|---|---|')
    tmacs = next((r['results'][0]['trunk_macs'] for r in f8.values() if r), 0)

    def rate(s, t):
        if not s or not tmacs:
            return ''
        g = 2 * tmacs / 1e9 / (s['median'] / 1e3)
        return '%.1f, %.1f %%' % (g, 100 * g / gops[t]) if gops.get(t) else '%.1f' % g
    for t in a.threads:
        r8 = f8.get(t)
        s8 = st(r8['results'][0]['trunk_ms']) if r8 else None
        o8 = R.get('ort_int8_trunk_T%d' % t)
        o8 = st(o8['ms']['all']) if o8 else None
        o32 = R.get('ort_trunk_T%d' % t)
        o32 = st(o32['ms']['all']) if o32 else None
        w('| %d | %s | %s | %s | %s | %s | %s | %s |' % (t, fmt_ms(s8), fmt_ms(o8), ratio(o8, s8), rate(s8, t), rate(o8, t),
                                                         fmt_ms(o32), ratio(o32, o8)))
    w('')
    q = env.get('qdq') or {}
    ops = q.get('ops') or {}
    if ops:
        w('Kernels ONNX Runtime runs (its optimized-model dump of the QDQ trunk): %s.' % ', '.join(
            '%s × %d' % kv for kv in ops.items()))
        w('')
    errs = q.get('errors') or {}
    if errs:
        w('Trunk outputs on the timed input (T=2; maps and RPN outputs in fpf\'s layout): max |Δ| / mean |Δ|, and the '
          'reference\'s max |x| / mean |x|.')
        w('')
        names = sorted({k for v in errs.values() for k in v})
        w('| comparison | ' + ' | '.join(names) + ' |')
        w('|---|' + '---|' * len(names))
        for pair, per in errs.items():
            w('| %s | %s |' % (pair, ' | '.join('%.3g / %.3g (%.3g / %.3g)' % (
                per[k]['max_abs'], per[k]['mean_abs'], per[k]['ref_max_abs'], per[k]['ref_mean_abs']) if k in per else ''
                for k in names)))
        w('')
    t2 = 2 if 2 in a.threads else a.threads[-1]
    r8, o8 = f8.get(t2), R.get('ort_int8_trunk_T%d' % t2)
    if r8 and o8 and gops.get(t2):
        s8, so = st(r8['results'][0]['trunk_ms']), st(o8['ms']['all'])
        pct = 100 * 2 * tmacs / 1e9 / (s8['median'] / 1e3) / gops[t2]
        w('| issue #11 target (T=%d) | measured | met |' % t2)
        w('|---|---|---|')
        w('| int8 dense trunk ≥ 60 %% of the measured %s peak | %.1f %% | %s |' % (peak_name, pct, 'yes' if pct >= 60 else '**no**'))
        w('| int8 dense trunk faster than ONNX Runtime int8 QDQ | %s vs %s | %s |' % (
            fmt_ms(s8), fmt_ms(so), 'yes' if s8['median'] < so['median'] else '**no**'))
        w('')


def report(a, R, env):
    L = []
    w = L.append
    model, fam, mod, isa = cpu_info()
    fpf = {t: R.get('fpf_T%d' % t) for t in a.threads}
    # The peak used for "% of peak": the higher of the two medians this run measured for T threads
    # (standalone `peak`, and bench_fpf in its own process). Contention can only lower a measured peak.
    peak_used = {}
    for t in a.threads:
        v = [fpf[t]['results'][0]['peak_gflops']] if fpf.get(t) else []
        for pt in (R.get('peak') or {}).get('threads', []):
            if pt['threads'] == t:
                v.append(pt['peak_gflops'])
        peak_used[t] = max(v) if v else 0.0
        if fpf.get(t):
            fpf[t]['results'][0]['peak_gflops'] = peak_used[t]
    w('# fpf benchmark results (generated)')
    w('')
    w('Generated by `bench/run.py%s` on %s. The lead curates `BENCHMARKS.md` from this file.' % (
        ' --quick' if a.quick else '', datetime.datetime.now().strftime('%Y-%m-%d %H:%M')))
    w('')
    w('- **CPU:** %s (cpu family %s, model %s), %d logical CPUs; ISA flags: %s' % (
        model, fam, mod, os.cpu_count(), ', '.join(isa) or 'none'))
    w('- **System:** %s; %s; torch %s; ONNX Runtime %s (npm onnxruntime-node, CPU EP)' % (
        platform.platform(), env.get('cc', '?'), env.get('torch', '?'), env.get('ort', '?')))
    kern = sorted(set('%s (%s pool)' % (r['results'][0].get('isa', '?'), r['results'][0].get('pool', '?'))
                      for r in fpf.values() if r))
    w('- **fpf kernels:** %s; build flags as `make` (no -march=native)' % (', '.join(kern) or 'n/a'))
    w('- **Workload:** config `%s`, variant `%s`, image %d×%d (cell + nucleus, synthetic, `bench/peers/common.py`), '
      'seeded weights (seed %d, nucleus seed %d), model file %.1f MB' % (
          a.config, a.variant, a.height, a.width, a.seed, a.nucleus_seed, env.get('model_bytes', 0) / 1e6))
    w('- **Protocol:** %d warm-up + %d timed runs per command; threads %s; each command waits for foreign load '
      '< %.2f cores (at most %d s) and is retried up to %d× when its runs saw more. Figures: median (min–max).' % (
          a.warmup, a.runs, ','.join(map(str, a.threads)), a.quiet_load, a.max_wait, a.retries))
    w('')

    # peak
    pk = R.get('peak')
    w('## Machine fp32 FMA peak (bench/peak.c)')
    w('')
    if pk:
        w('| threads | clock (add chain) | fp32 FMA ymm (AVX2) | fp32 FMA zmm (AVX-512) | peak used |')
        w('|---|---|---|---|---|')
        for t in pk['threads']:
            z = t['zmm_gflops']
            w('| %d | %.2f GHz | %.1f GFLOP/s (%.1f–%.1f) | %s | %.1f GFLOP/s (%s) |' % (
                t['threads'], t['clock_ghz'][0], t['ymm_gflops'][0], t['ymm_gflops'][1], t['ymm_gflops'][2],
                '%.1f (%.1f–%.1f)' % tuple(z) if z[0] > 0 else 'not available', t['peak_gflops'], pk['peak_isa']))
        w('')
        w('The %% of peak figures below use, per thread count, the higher of this table\'s median and the median '
          'bench_fpf measured in its own process right before its runs (contention only lowers a measured peak): %s.' % ', '.join(
              'T=%d: %.1f GFLOP/s' % (t, peak_used[t]) for t in a.threads))
    else:
        w('(not measured)')
    w('')

    # whole forward
    w('## Whole forward pass')
    w('')
    w('fpf = `fpf_session_run` (molding, both towers, fusion, RPN, proposals, RoIAlign, heads, detection, '
      'unmolding; no full-resolution masks) and the same plus `fpf_instance_paste` of every instance '
      '(the reference pastes full masks). Ratio = peer time / fpf time (> 1: fpf faster).')
    w('')
    hdr = '| runtime | ' + ' | '.join('T=%d' % t for t in a.threads) + ' | ' + \
        ' | '.join('vs fpf T=%d' % t for t in a.threads) + ' | detections (N0) |'
    w(hdr)
    w('|' + '---|' * (2 + 2 * len(a.threads)))

    def fpf_fwd(t):
        r = fpf.get(t)
        return st(r['results'][0]['forward_ms']) if r else None

    def fpf_fwd_paste(t):
        r = fpf.get(t)
        if not r:
            return None
        x = r['results'][0]
        return st([f + p for f, p in zip(x['forward_ms'], x['paste_ms'])])

    rows = [('**fpf** (C, fp32)', fpf_fwd, lambda t: fpf[t]['results'][0]['n0'] if fpf.get(t) else None),
            ('fpf + paste all masks', fpf_fwd_paste, lambda t: None)]
    for key, label in (('torch_ref', 'PyTorch reference `run_inference`, as is'),
                       ('torch_whole_jit', 'PyTorch fast: frozen-TorchScript trunk + eager ONNX-style heads'),
                       ('ort_whole', 'ONNX Runtime, whole network (`whole.onnx`)')):
        rows.append((label, (lambda t, key=key: st(R[key + '_T%d' % t]['ms']['all']) if R.get(key + '_T%d' % t) else None),
                     (lambda t, key=key: (R.get(key + '_T%d' % t) or {}).get('info', {}).get('n0'))))
    for label, f, n0 in rows:
        cells = [fmt_ms(f(t)) for t in a.threads]
        rat = [ratio(f(t), fpf_fwd(t)) if 'fpf' not in label else '1' for t in a.threads]
        n = [n0(t) for t in a.threads if n0(t) is not None]
        w('| %s | %s | %s | %s |' % (label, ' | '.join(cells), ' | '.join(rat), n[0] if n else ''))
    w('')
    w('The PyTorch reference (`weights/reference/fpf_ref.py`) is written for exactness: NCHW eager convs with '
      'unfolded BatchNorm, TF-exact NMS with a Python heap, numpy crop_and_resize and mask pasting in float64. '
      'The "fast" whole-network rows use `bench/peers/fpf_fast.py`: same weights, BN folded, ONNX NonMaxSuppression / '
      'Gather-based crop_and_resize; their detections can differ from the exact pipeline in ties and borders.')
    w('')

    # trunk
    w('## Dense trunk (backbone ×2, FPN ×2, fusion, RPN convs + softmax)')
    w('')
    w('fpf: sum of its dense stages in the stage-callback runs (excludes molding and anchors). Peers: '
      '`trunk.onnx` / `fpf_fast.FastTrunk`, inputs = the molded images, outputs = RPN probabilities, deltas and F2..F5.')
    w('')
    w('| runtime | ' + ' | '.join('T=%d' % t for t in a.threads) + ' | ' +
      ' | '.join('GMAC/s, %% peak T=%d' % t for t in a.threads) + ' | ' +
      ' | '.join('vs fpf T=%d' % t for t in a.threads) + ' |')
    w('|' + '---|' * (1 + 3 * len(a.threads)))

    def fpf_trunk(t):
        r = fpf.get(t)
        return st(r['results'][0]['trunk_ms']) if r else None
    tmacs = fpf[a.threads[0]]['results'][0]['trunk_macs'] if fpf.get(a.threads[0]) else 0
    trows = [('**fpf** (C, fp32)', fpf_trunk)]
    for key, label in (('torch_trunk_cl', 'PyTorch eager, channels_last (BN folded)'),
                       ('torch_trunk_jit', 'PyTorch frozen TorchScript (`jit.freeze` + `optimize_for_inference`)'),
                       ('torch_trunk_eager', 'PyTorch eager NCHW (BN folded)'),
                       ('torch_trunk_ref', 'PyTorch reference trunk (NCHW, BN unfolded)'),
                       ('ort_trunk', 'ONNX Runtime fp32 (`trunk.onnx`)')):
        if any(R.get(key + '_T%d' % t) for t in a.threads):
            trows.append((label, (lambda t, key=key: st(R[key + '_T%d' % t]['ms']['all']) if R.get(key + '_T%d' % t) else None)))
    for label, f in trows:
        cells = [fmt_ms(f(t)) for t in a.threads]
        rates = []
        for t in a.threads:
            s = f(t)
            pk_t = fpf[t]['results'][0]['peak_gflops'] if fpf.get(t) else 0
            if s and tmacs:
                g = tmacs / 1e9 / (s['median'] / 1e3)
                rates.append('%.1f, %.0f%%' % (g, 200 * g / pk_t) if pk_t else '%.1f' % g)
            else:
                rates.append('n/a')
        rat = [ratio(f(t), fpf_trunk(t)) if 'fpf' not in label else '1' for t in a.threads]
        w('| %s | %s | %s | %s |' % (label, ' | '.join(cells), ' | '.join(rates), ' | '.join(rat)))
    w('')
    w('Trunk MACs: %.2f G (from the config, `bench_fpf.c`). RPN delta sums (a cross-check that all run the same '
      'weights and inputs): %s.' % (tmacs / 1e9, '; '.join(
          '%s %.4f' % (k, v) for k, v in env.get('rpn_sums', {}).items())))
    w('')

    # per stage
    for t in a.threads:
        r = fpf.get(t)
        if not r:
            continue
        x = r['results'][0]
        pk_t = x['peak_gflops']
        tcl = (R.get('torch_trunk_cl_T%d' % t) or {}).get('stages', {})
        ortp = (R.get('ort_trunk_T%d' % t) or {}).get('stages_profiled', {})
        w('## Per stage, T=%d (fpf: %d stage-callback runs; peak %.1f GFLOP/s)' % (t, len(x['forward_cb_ms']), pk_t))
        w('')
        w('| stage | GMAC | fpf | GMAC/s | % peak | PyTorch eager CL | ONNX Runtime (profiled) | CL / fpf | ORT / fpf |')
        w('|---|---|---|---|---|---|---|---|---|')
        for g in x['stages']:
            s = st(g['ms'])
            gm = g['macs'] / 1e9
            rate = gm / (s['median'] / 1e3) if s and s['median'] > 0 else 0
            c = tcl.get(g['name'])
            o = ortp.get(g['name'])
            w('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                g['name'], '%.2f' % gm if gm else '', fmt_ms(s), '%.1f' % rate if gm else '',
                '%.1f%%' % (200 * rate / pk_t) if gm and pk_t else '', fmt_ms(c) if c else '',
                '%.1f ms' % o if o is not None else '', ratio(c, s) if c else '',
                '%.2f×' % (o / s['median']) if o is not None and s['median'] > 0 else ''))
        for k in ('(layout reorders)', '(other)'):
            if k in ortp:
                w('| ORT %s | | | | | | %.1f ms | | |' % (k, ortp[k]))
        fw = st(x['forward_cb_ms'])
        w('| **whole forward (stage runs)** | %.2f | %s | %.1f | %.1f%% | | | | |' % (
            x['total_macs'] / 1e9, fmt_ms(fw), x['total_macs'] / 1e9 / (fw['median'] / 1e3),
            200 * x['total_macs'] / 1e9 / (fw['median'] / 1e3) / pk_t if pk_t else 0))
        w('')
        w('Proposals %d, detections N0 %d (box head on %d rows, mask head on %d RoIs). ORT per-stage times come '
          'from separate profiled runs (sum of kernel times per stage).' % (
              x['n_props'], x['n0'], min(x['n_props'] + 1, 500), x['n0']))
        w('')

    # int8
    f8 = {t: R.get('fpf_int8_T%d' % t) for t in a.threads}
    if any(f8.values()):
        # the int8 peak of the row the int8 runs used: AMX tiles (tdpbusd) or vpdpbusd zmm
        isa8 = next((r['results'][0].get('int8_isa', '') for r in f8.values() if r), '')
        amx = isa8 == 'amx'
        peak_name = 'AMX' if amx else 'VNNI'
        gops = {}
        for pt in (R.get('peak') or {}).get('threads', []):
            gops[pt['threads']] = (pt.get('int8_amx_gops' if amx else 'int8_vnni_gops') or [0])[0]
        w('## int8 (the same weights through `build/fpf_quantize`: %s int8; file %.1f MB = %.0f %% of fp32)' % (
            'all layers but the stem and the outputs are', env.get('model8_bytes', 0) / 1e6,
            100.0 * env.get('model8_bytes', 0) / max(env.get('model_bytes', 1), 1)))
        w('')
        w('int8 kernel row: %s. Machine int8 peak of that row (bench/peak.c, %s, 1 MAC = 2 ops, same run): %s.' % (
            isa8 or 'unknown', 'AMX tdpbusd tiles' if amx else 'vpdpbusd zmm', ', '.join(
                'T=%d: %.1f GOP/s' % (t, g) for t, g in sorted(gops.items()) if g > 0)) if any(gops.values()) else
          'Machine int8 %s peak: not available on this CPU.' % peak_name)
        w('')
        w('| T | fp32 whole forward | int8 whole forward | int8 speed-up | fp32 dense trunk | int8 dense trunk | trunk speed-up | int8 trunk GOP/s, % int8 peak |')
        w('|---|---|---|---|---|---|---|---|')
        for t in a.threads:
            r32, r8 = fpf.get(t), f8.get(t)
            if not (r32 and r8):
                continue
            x32, x8 = r32['results'][0], r8['results'][0]
            s32, s8 = st(x32['forward_ms']), st(x8['forward_ms'])
            t32 = st(x32['trunk_ms']) if x32.get('trunk_ms') else None
            t8 = st(x8['trunk_ms']) if x8.get('trunk_ms') else None
            tg = 2 * x8.get('trunk_macs', 0) / 1e9 / (t8['median'] / 1e3) if t8 and t8['median'] > 0 else 0
            w('| %d | %s | %s | %.2f× | %s | %s | %s | %s |' % (
                t, fmt_ms(s32), fmt_ms(s8), s32['median'] / s8['median'], fmt_ms(t32) if t32 else '',
                fmt_ms(t8) if t8 else '', '%.2f×' % (t32['median'] / t8['median']) if t32 and t8 else '',
                '%.1f, %.1f %%' % (tg, 100 * tg / gops[t]) if tg and gops.get(t) else ''))
        w('')
        int8_peer_report(w, a, R, env, fpf, f8, gops, peak_name)
        for t in a.threads:
            r8 = f8.get(t)
            if not r8:
                continue
            x = r8['results'][0]
            g8 = gops.get(t, 0)
            w('### int8 per stage, T=%d (%% of the int8 %s peak %.1f GOP/s; the stem and output layers stay fp32)' % (t, peak_name, g8))
            w('')
            o8p = (R.get('ort_int8_trunk_T%d' % t) or {}).get('stages_profiled', {})
            w('| stage | GMAC | int8 | GOP/s | % int8 peak | fp32 | int8 speed-up | ORT int8 QDQ (profiled) | ORT int8 / fpf int8 |')
            w('|---|---|---|---|---|---|---|---|---|')
            f32 = {g['name']: g for g in fpf[t]['results'][0]['stages']} if fpf.get(t) else {}
            for g in x['stages']:
                s = st(g['ms'])
                gm = g['macs'] / 1e9
                rate = 2 * gm / (s['median'] / 1e3) if s and s['median'] > 0 else 0
                o = f32.get(g['name'])
                so = st(o['ms']) if o else None
                op = o8p.get(g['name'])
                w('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                    g['name'], '%.2f' % gm if gm else '', fmt_ms(s), '%.1f' % rate if gm else '',
                    '%.1f%%' % (100 * rate / g8) if gm and g8 else '', fmt_ms(so) if so else '',
                    '%.2f×' % (so['median'] / s['median']) if so and s and s['median'] > 0 else '',
                    '%.1f ms' % op if op is not None else '',
                    '%.2f×' % (op / s['median']) if op is not None and s and s['median'] > 0 else ''))
            for k in ('(layout reorders)', '(other)'):
                if k in o8p:
                    w('| ORT %s | | | | | | | %.1f ms | |' % (k, o8p[k]))
            w('')

    # load + memory
    w('## Load time and memory')
    w('')
    w('| runtime | T | load | peak RSS (`/usr/bin/time -v`) | peak RSS − model file |')
    w('|---|---|---|---|---|')
    mb = env.get('model_bytes', 0)
    for key in sorted(R):
        rec = R[key]
        if key == 'peak' or not isinstance(rec, dict) or '_driver' not in rec:
            continue
        tv = rec['_driver'].get('time_v', {})
        rss = tv.get('maxrss_kb', 0) * 1024
        if key.startswith('fpf_'):
            load = 'first %.0f ms, then %.0f ms (fpf_model_load_file); session init %.1f ms, workspace %.0f MB' % (
                rec['load_first_ms'], rec['load_median_ms'], rec['results'][0]['session_init_ms'],
                rec.get('workspace_bytes', 0) / 1e6)
        elif key.startswith('torch'):
            load = '%.0f ms (seeded weights + build + fold)%s' % (
                rec.get('load_ms', 0), ', + %.0f ms trace/freeze' % rec['prep_ms'] if rec.get('prep_ms', 0) > 1 else '')
        elif key.startswith('ort'):
            load = '%.0f ms (InferenceSession.create)' % rec.get('load_ms', 0)
        else:
            load = ''
        w('| %s | %s | %s | %.0f MB | %s |' % (key.rsplit('_T', 1)[0], key.rsplit('_T', 1)[-1], load, rss / 1e6,
                                              '%.0f MB' % ((rss - mb) / 1e6) if key.startswith('fpf_') else ''))
    w('')

    # targets
    w('## Issue #7 targets')
    w('')
    real = (a.config == 'paper' and a.variant == 'fpf_add' and a.height == 1024 and a.width == 1280)
    t2 = 2 if 2 in a.threads else a.threads[-1]
    x = fpf[t2]['results'][0] if fpf.get(t2) else None
    if not real:
        w('(Targets apply to the paper configuration, FPF-add, 1024×1280, 2 threads; this run is `%s %s %d×%d`, so '
          'the checks below are informational only.)' % (a.config, a.variant, a.height, a.width))
        w('')
    if x:
        tt = st(x['trunk_ms'])
        dense_pct = 200 * (x['trunk_macs'] / 1e9 / (tt['median'] / 1e3)) / x['peak_gflops'] if x['peak_gflops'] else 0
        conv_stages = [g for g in x['stages'] if g['dense']]
        fw = st(x['forward_ms'])
        ort_t = R.get('ort_trunk_T%d' % t2)
        ref_t = R.get('torch_ref_T%d' % t2)
        rss = fpf[t2]['_driver'].get('time_v', {}).get('maxrss_kb', 0) * 1024
        checks = [
            ('dense convolutions ≥ 75 %% of measured fp32 peak (dense trunk, T=%d)' % t2, '%.1f %%' % dense_pct, dense_pct >= 75),
            ('whole forward ≤ 3 s (T=%d)' % t2, fmt_ms(fw), fw['median'] <= 3000),
            ('fp32 trunk faster than ONNX Runtime fp32 (T=%d)' % t2,
             '%s vs %s' % (fmt_ms(tt), fmt_ms(ort_t['ms']) if ort_t else 'n/a'),
             bool(ort_t) and tt['median'] < ort_t['ms']['median']),
            ('≥ 3× faster than the PyTorch reference end to end (T=%d, fpf + paste)' % t2,
             ratio(ref_t['ms'] if ref_t else None, fpf_fwd_paste(t2)),
             bool(ref_t) and ref_t['ms']['median'] >= 3 * fpf_fwd_paste(t2)['median']),
            ('peak RSS ≤ model size + 300 MB', '%.0f MB vs %.0f + 300 MB' % (rss / 1e6, mb / 1e6), rss <= mb + 300e6),
        ]
        w('| target | measured | met |')
        w('|---|---|---|')
        for name, val, ok in checks:
            w('| %s | %s | %s |' % (name, val, 'yes' if ok else '**no**'))
        w('')
        del conv_stages

    # load notes
    w('## Other load on the machine')
    w('')
    w('Foreign load = busy CPU of the whole machine minus the benchmark\'s own CPU time, in cores (2 = both '
      'vCPUs busy with other work). Runs above %.2f cores are contaminated; their times are upper bounds.' % a.quiet_load)
    w('')
    w('| command | waited for quiet | before | during the command | per timed run: median (max) | retries |')
    w('|---|---|---|---|---|---|')
    for key in sorted(R):
        rec = R[key]
        if not isinstance(rec, dict) or '_driver' not in rec:
            continue
        d = rec['_driver']
        flag = ' ⚠' if d['foreign_runs_median'] >= a.quiet_load else ''
        w('| %s | %.0f s | %.2f | %.2f | %.2f (%.2f)%s | %d |' % (key, d['waited_s'], d['foreign_before'], d['foreign_cmd'],
                                                             d['foreign_runs_median'], d['foreign_runs_max'], flag, d['attempt']))
    errs = [r for r in env.get('errors', [])]
    if errs:
        w('')
        w('## Failures')
        w('')
        for e in errs:
            w('- `%s`: %s' % (e['key'], e['error']))
    w('')
    return '\n'.join(L)


# -------------------------------------------------------------------------------- ONNX Runtime int8
def make_qdq(a, run, skip, man, man_f, onnx_dir, model_f, model8_f, pgms, bin_fpf, out, resd, img_args):
    """The ORT int8 peer's model (untimed): trunk.onnx made QDQ with the int8 .fpf's own s8 weights, weight
    scales and input quantization (bench/peers/qdq_onnx.py); the tensors fpf keeps in float get ranges from
    ORT's fp32 run on the calibration pair fpf_quantize used. Then the check: the kernels ORT runs (its
    optimized-model dump) and the trunk outputs of fpf int8 / fp32 and ORT int8 / fp32 on the timed input.
    Returns (QDQ model path or None, the check's JSON or None)."""
    trunk_f = man.get('outputs', {}).get('trunk', {}).get('file')
    if 'ort_int8' in skip or not os.path.exists(model8_f) or not trunk_f:
        return None, None
    qd = os.path.join(onnx_dir, 'int8')
    qdq_f = os.path.join(qd, 'trunk_int8.onnx')
    qpy = ['bench/peers/qdq_onnx.py']
    deps = [trunk_f, model8_f, os.path.join(HERE, 'peers', 'qdq_onnx.py'), os.path.join(HERE, 'peers', 'ort_peer.js')]
    base = ['--onnx', trunk_f, '--manifest', man_f, '--int8', model8_f]
    if not os.path.exists(qdq_f) or os.path.getmtime(qdq_f) < max(os.path.getmtime(x) for x in deps):
        run.say('making the ONNX Runtime int8 QDQ trunk (untimed) ...')
        steps = [('qdq_plan', [PY] + qpy + ['plan'] + base + ['--calib-cell', pgms[0], '--calib-nucleus', pgms[1],
                                                           '--out-dir', qd]),
                 ('qdq_ranges', ['node', 'bench/peers/ort_peer.js', '--model', os.path.join(qd, 'calib.onnx'),
                                 '--manifest', os.path.join(qd, 'calib_manifest.json'), '--threads', '2',
                                 '--ranges', os.path.join(qd, 'ranges.json'), '--ort-dir', out]),
                 ('qdq_build', [PY] + qpy + ['build'] + base + ['--ranges', os.path.join(qd, 'ranges.json'),
                                                            '--out', qdq_f])]
        for key, cmd in steps:
            if run.run(key, cmd, None, timed=False) is None:
                return None, None
    j = os.path.join(resd, 'qdq_check_%s.json' % os.path.basename(onnx_dir))
    if os.path.exists(j) and os.path.getmtime(j) > max(os.path.getmtime(x) for x in [qdq_f, model_f, bin_fpf] + deps):
        with open(j) as f:                          # the same models and programs: the check stands
            return qdq_f, json.load(f)
    run.say('checking the ONNX Runtime int8 QDQ trunk against fpf (untimed) ...')
    dirs = {k: os.path.join(qd, 'out_' + k) for k in ('fpf_int8', 'fpf_fp32', 'ort_int8', 'ort_fp32')}
    opt_f = os.path.join(qd, 'trunk_int8.optimized.onnx')
    if os.path.exists(opt_f):
        os.remove(opt_f)
    ort = ['bench/peers/ort_peer.js', '--manifest', man_f, '--threads', '2', '--warmup', '0', '--runs', '1',
           '--ort-dir', out, '--quiet']
    checks = [('qdq_out_ort_int8', ['env', 'ORT_OPT_OUT=' + opt_f, 'node'] + ort + ['--model', qdq_f,
                                                                                   '--save-outputs', dirs['ort_int8']]),
              ('qdq_out_ort_fp32', ['node'] + ort + ['--model', trunk_f, '--save-outputs', dirs['ort_fp32']]),
              ('qdq_out_fpf_int8', [bin_fpf, '--dump', dirs['fpf_int8'], '--model', model8_f, '--threads', '2'] + img_args),
              ('qdq_out_fpf_fp32', [bin_fpf, '--dump', dirs['fpf_fp32'], '--model', model_f, '--threads', '2'] + img_args)]
    for key, cmd in checks:
        if run.run(key, cmd, None, timed=False) is None:
            return qdq_f, None
    if run.run('qdq_check', [PY] + qpy + ['check', '--optimized', opt_f, '--manifest', man_f, '--json', j] +
               sum([['--' + k.replace('_', '-'), d] for k, d in dirs.items()], []), None, timed=False) is None:
        return qdq_f, None
    with open(j) as f:
        return qdq_f, json.load(f)


# --------------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny config, 256x320, 2 runs, short waits, no retries')
    ap.add_argument('--config', default=None)
    ap.add_argument('--variant', default='fpf_add')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--nucleus-seed', type=int, default=7)
    ap.add_argument('--height', type=int, default=None)
    ap.add_argument('--width', type=int, default=None)
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--runs', type=int, default=None)
    ap.add_argument('--max-wait', type=int, default=None, help='seconds to wait for a quiet machine per command')
    ap.add_argument('--quiet-load', type=float, default=0.15, help='foreign load (cores) that counts as quiet')
    ap.add_argument('--retries', type=int, default=None, help='re-runs of a command whose runs saw foreign load')
    ap.add_argument('--skip', default='', help='comma list of: torch_ref,torch_trunk,torch_whole,ort_trunk,ort_whole,'
                    'int8 (fpf int8 and the ORT int8 peer),ort_int8 (only the ORT int8 QDQ peer)')
    ap.add_argument('--extra-torch', action='store_true', help='also time trunk_eager (NCHW) and trunk_ref')
    ap.add_argument('--isa', default='auto', help='fpf kernels: auto|scalar|avx2|avx512|neon (bench_fpf --isa)')
    ap.add_argument('--int8-isa', default='auto', help='fpf int8 kernels: auto|avx512vnni|amx|... (bench_fpf --int8-isa)')
    ap.add_argument('--pool', default='builtin', help='fpf threads: builtin (fpf_options.n_threads) or openmp '
                    '(OpenMP through fpf_options.parallel_for)')
    ap.add_argument('--out', default=os.path.join(REPO, 'build', 'bench'))
    ap.add_argument('--prepare-only', action='store_true',
                    help='only the untimed set-up (models, inputs, ONNX exports, the int8 QDQ trunk and its check), '
                    'so that a later run with the same options times without it')
    ap.add_argument('--report-only', action='store_true',
                    help='re-render BENCHMARKS.generated.md from the last run\'s results/all_<tag>.json')
    a = ap.parse_args()
    q = a.quick
    a.config = a.config or ('tiny' if q else 'paper')
    a.height = a.height or (256 if q else 1024)
    a.width = a.width or (320 if q else 1280)
    a.runs = a.runs or (2 if q else 5)
    a.max_wait = a.max_wait if a.max_wait is not None else (3 if q else 180)
    a.retries = a.retries if a.retries is not None else (0 if q else 2)
    a.threads = [int(x) for x in a.threads.split(',')]
    skip = set(x for x in a.skip.split(',') if x)

    out = a.out
    resd = os.path.join(out, 'results')
    for d in (out, resd, os.path.join(out, 'models'), os.path.join(out, 'inputs'), os.path.join(out, 'onnx')):
        os.makedirs(d, exist_ok=True)
    tag = '%s_%s_%dx%d' % (a.config, a.variant, a.height, a.width)
    if a.report_only:
        with open(os.path.join(resd, 'all_%s.json' % tag)) as f:
            d = json.load(f)
        for k, v in d['args'].items():
            if k not in ('report_only',):
                setattr(a, k, v)
        md = report(a, d['results'], d['env'])
        with open(os.path.join(out, 'BENCHMARKS.generated.md'), 'w') as f:
            f.write(md)
        print('wrote', os.path.join(out, 'BENCHMARKS.generated.md'))
        return 0
    log = open(os.path.join(out, 'bench_%s.log' % tag), 'w')
    run = Runner(a, log)
    bin_peak = os.path.join(out, 'peak')
    bin_fpf = os.path.join(out, 'bench_fpf')
    mk = os.path.join(REPO, 'build', 'fpf_mkmodel')
    for b in (bin_peak, bin_fpf, mk):
        if not os.path.exists(b):
            sys.exit('missing %s: run `make bench` (or make bench-quick), which builds it' % b)
    ort_ok = os.path.isdir(os.path.join(out, 'node_modules', 'onnxruntime-node'))
    if not ort_ok:
        run.say('onnxruntime-node is not installed under %s (make bench installs it); skipping ORT' % out)
        skip |= {'ort_trunk', 'ort_whole', 'ort_int8'}
    if 'int8' in skip:
        skip.add('ort_int8')

    # inputs and model (untimed, cached)
    cell_f = os.path.join(out, 'inputs', '%dx%d_cell.u8' % (a.height, a.width))
    nuc_f = os.path.join(out, 'inputs', '%dx%d_nucleus.u8' % (a.height, a.width))
    if not (os.path.exists(cell_f) and os.path.exists(nuc_f)):
        c, n = common.synth_pair(a.height, a.width)
        c.tofile(cell_f)
        n.tofile(nuc_f)
    model_f = os.path.join(out, 'models', '%s_%s_s%d_n%d.fpf' % (a.config, a.variant, a.seed, a.nucleus_seed))
    if not os.path.exists(model_f) or os.path.getmtime(model_f) < os.path.getmtime(mk):
        subprocess.run([mk, '--config', a.config, '--variant', a.variant, '--seed', str(a.seed),
                        '--nucleus-seed', str(a.nucleus_seed), '--out', model_f], check=True)
    model_bytes = os.path.getsize(model_f)
    common_args = ['--config', a.config, '--variant', a.variant, '--seed', str(a.seed),
                   '--nucleus-seed', str(a.nucleus_seed), '--height', str(a.height), '--width', str(a.width),
                   '--cell', cell_f, '--nucleus', nuc_f]
    onnx_dir = os.path.join(out, 'onnx', '%s_s%d_n%d' % (tag, a.seed, a.nucleus_seed))
    man_f = os.path.join(onnx_dir, 'manifest.json')
    srcs = [os.path.join(HERE, 'peers', f) for f in ('export_onnx.py', 'fpf_fast.py', 'common.py')]
    if not (skip >= {'ort_trunk', 'ort_whole', 'ort_int8'}):
        old = json.load(open(man_f)) if os.path.exists(man_f) else {}
        if not old or os.path.getmtime(man_f) < max(os.path.getmtime(s) for s in srcs) or (
                'ort_whole' not in skip and not old.get('outputs', {}).get('whole')):
            run.say('exporting ONNX (untimed) ...')
            run.run('export', [PY, 'bench/peers/export_onnx.py'] + common_args + ['--out-dir', onnx_dir] + (
                ['--no-whole'] if 'ort_whole' in skip else []), None, timed=False)
    man = json.load(open(man_f)) if os.path.exists(man_f) else {}

    # int8: the same weights through build/fpf_quantize (untimed), calibrated on a synthetic pair
    # other than the timed input (seed 1004), written as PGM
    model8_f = model_f[:-4] + '_int8.fpf'
    pgms = [os.path.join(out, 'inputs', 'calib_%dx%d_%s.pgm' % (a.height, a.width, nm)) for nm in ('cell', 'nucleus')]
    if 'int8' not in skip:
        qbin = os.path.join(REPO, 'build', 'fpf_quantize')
        if not all(os.path.exists(pg) for pg in pgms):
            for pg, img in zip(pgms, common.synth_pair(a.height, a.width, seed=1004)):
                with open(pg, 'wb') as f:
                    f.write(b'P5\n%d %d\n255\n' % (a.width, a.height) + img.astype('uint8').tobytes())
        if not os.path.exists(model8_f) or os.path.getmtime(model8_f) < max(
                os.path.getmtime(model_f), os.path.getmtime(qbin), os.path.getmtime(pgms[0])):
            run.say('quantizing the model to int8 (untimed) ...')
            item = ','.join(pgms) if a.variant in ('with_nucleus', 'fpf_add', 'fpf_concat') else pgms[1 if a.variant == 'cores' else 0]
            subprocess.run([qbin, '--model', model_f, '--calib', item, '--out', model8_f, '--threads', '2'], check=True)

    qdq_f, qdq = make_qdq(a, run, skip, man, man_f, onnx_dir, model_f, model8_f, pgms, bin_fpf, out, resd,
                          ['--height', str(a.height), '--width', str(a.width), '--cell', cell_f, '--nucleus', nuc_f])

    if a.prepare_only:
        errs = [r for r in run.records if r and 'error' in r]
        run.say('prepared (models, inputs, ONNX exports, the QDQ trunk and its check); nothing timed')
        return 1 if errs else 0

    R = {}
    env = dict(model_bytes=model_bytes, rpn_sums={}, errors=[], qdq=qdq)
    if os.path.exists(model8_f):
        env['model8_bytes'] = os.path.getsize(model8_f)
    # peak
    pj = os.path.join(resd, 'peak.json')
    R['peak'] = run.run('peak', [bin_peak, '--threads', ','.join(map(str, a.threads)), '--json', pj], pj)
    for t in a.threads:
        j = os.path.join(resd, 'fpf_T%d.json' % t)
        R['fpf_T%d' % t] = run.run('fpf_T%d' % t, [bin_fpf, '--model', model_f, '--height', str(a.height),
                                                    '--width', str(a.width), '--cell', cell_f, '--nucleus', nuc_f,
                                                    '--threads', str(t), '--warmup', str(a.warmup), '--runs', str(a.runs),
                                                    '--stage-runs', str(a.runs), '--isa', a.isa, '--pool', a.pool,
                                                    '--json', j, '--quiet'], j, t)
        if 'int8' not in skip and os.path.exists(model8_f):
            j = os.path.join(resd, 'fpf_int8_T%d.json' % t)
            R['fpf_int8_T%d' % t] = run.run('fpf_int8_T%d' % t, [bin_fpf, '--model', model8_f, '--height', str(a.height),
                                                              '--width', str(a.width), '--cell', cell_f, '--nucleus', nuc_f,
                                                              '--threads', str(t), '--warmup', str(a.warmup), '--runs', str(a.runs),
                                                              '--stage-runs', str(a.runs), '--isa', a.isa, '--pool', a.pool,
                                                              '--int8-isa', getattr(a, 'int8_isa', 'auto'),
                                                              '--json', j, '--quiet'], j, t)
        torch_modes = []
        if 'torch_ref' not in skip:
            torch_modes.append('ref')
        if 'torch_trunk' not in skip:
            torch_modes += ['trunk_cl', 'trunk_jit'] + (['trunk_eager', 'trunk_ref'] if a.extra_torch else [])
        if 'torch_whole' not in skip:
            torch_modes.append('whole_jit')
        for w_ in torch_modes:
            j = os.path.join(resd, 'torch_%s_T%d.json' % (w_, t))
            R['torch_%s_T%d' % (w_, t)] = run.run('torch_%s_T%d' % (w_, t), [
                PY, 'bench/peers/torch_peer.py', '--what', w_] + common_args + [
                '--threads', str(t), '--warmup', str(a.warmup), '--runs', str(a.runs), '--json', j, '--quiet'], j, t)
        for w_ in ('trunk', 'whole'):
            if 'ort_' + w_ in skip:
                continue
            mo = man.get('outputs', {}).get(w_, {})
            if not mo.get('file'):
                env['errors'].append(dict(key='ort_%s' % w_, error='no ONNX model: %s' % mo.get('error', 'export failed')))
                continue
            j = os.path.join(resd, 'ort_%s_T%d.json' % (w_, t))
            R['ort_%s_T%d' % (w_, t)] = run.run('ort_%s_T%d' % (w_, t), [
                'node', 'bench/peers/ort_peer.js', '--model', mo['file'], '--manifest', man_f, '--threads', str(t),
                '--warmup', str(a.warmup), '--runs', str(a.runs), '--profile-runs', '0' if w_ == 'whole' else str(min(3, a.runs)),
                '--ort-dir', out, '--json', j, '--quiet'], j, t)
        if qdq_f:
            j = os.path.join(resd, 'ort_int8_trunk_T%d.json' % t)
            R['ort_int8_trunk_T%d' % t] = run.run('ort_int8_trunk_T%d' % t, [
                'node', 'bench/peers/ort_peer.js', '--model', qdq_f, '--manifest', man_f, '--threads', str(t),
                '--warmup', str(a.warmup), '--runs', str(a.runs), '--profile-runs', str(min(3, a.runs)),
                '--ort-dir', out, '--json', j, '--quiet'], j, t)

    # cross-checks and versions
    for k, r in R.items():
        if not r:
            continue
        if k.startswith('fpf_'):
            env['rpn_sums'][k] = r['results'][0].get('rpn_bbox_sum', 0)
        elif isinstance(r.get('info'), dict) and 'rpn_bbox_sum' in r['info']:
            env['rpn_sums'][k] = r['info']['rpn_bbox_sum']
        if k.startswith('torch') and 'torch' not in env:
            env['torch'] = r.get('torch')
        if k.startswith('ort') and 'ort' not in env:
            env['ort'] = r.get('ort')
    try:
        env['cc'] = subprocess.run(['cc', '--version'], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        pass
    env['errors'] += [dict(key=r['key'], error=r['error']) for r in run.records if r and 'error' in r]
    R = {k: v for k, v in R.items() if v}
    with open(os.path.join(resd, 'all_%s.json' % tag), 'w') as f:
        json.dump(dict(args=vars(a), results=R, env=env), f, indent=1)
    md = report(a, R, env)
    dst = os.path.join(out, 'BENCHMARKS.generated.md')
    with open(dst, 'w') as f:
        f.write(md)
    run.say('\nwrote %s' % dst)
    if env['errors']:
        run.say('%d command(s) failed: %s' % (len(env['errors']), ', '.join(e['key'] for e in env['errors'])))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
