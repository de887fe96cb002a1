// ONNX Runtime (npm onnxruntime-node, CPU EP) timing of an exported FPF model.
//
//   node bench/peers/ort_peer.js --model trunk.onnx --manifest manifest.json --threads 2 \
//        [--warmup 1] [--runs 5] [--profile-runs 3] [--json OUT] [--ort-dir build/bench] [--quiet]
//        [--save-outputs DIR] [--ranges OUT]
//
// The package is found under --ort-dir (default: build/bench, where `make bench` installs it with
// ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node). Session options follow
// the usual single-process CPU set-up: CPU EP, intraOpNumThreads = --threads, interOpNumThreads 1,
// graphOptimizationLevel 'all', sequential execution. Load time = InferenceSession.create.
// --profile-runs K: afterwards, a second session with enableProfiling runs 1 + K times; the kernel
// times of the last K are summed per stage (node names carry the torch module scopes of
// bench/peers/fpf_fast.py: /core/res3/..., /tower/fpn/..., /rpn/...) and averaged. These per-stage
// figures come from separate, profiled runs, not from the timed ones.
// --save-outputs DIR: after the timed runs, every output of the last run goes to DIR/<name>.f32 (raw
// float32, the ONNX layout). --ranges OUT: calibration only: one run, then {output: [min, max]} of
// every output goes to OUT as JSON and nothing is timed (bench/peers/qdq_onnx.py calibrates with it).
'use strict';
const fs = require('fs');
const path = require('path');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) return def;
  return process.argv[i + 1];
}
const flag = (name) => process.argv.includes('--' + name);

function stats(a) {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  const med = n % 2 ? s[n >> 1] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  return { median: med, min: s[0], max: s[n - 1], all: a };
}

// Foreign load (cores): busy CPU time of the machine (/proc/stat) minus this process's CPU time, over wall time.
const HZ = 100; // USER_HZ on Linux
function busyS() {
  const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (v.slice(0, 8).reduce((a, b) => a + b, 0) - v[3] - v[4]) / HZ;
}
function ownS() { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }
function foreignStart() { return { b: busyS(), o: ownS(), t: performance.now() }; }
function foreignStop(f) {
  const dt = (performance.now() - f.t) / 1e3;
  return dt > 0 ? Math.max(0, ((busyS() - f.b) - (ownS() - f.o)) / dt) : 0;
}

// Same stage names as bench_fpf.c and fpf_fast.stage_of.
function stageOf(node, variant) {
  let p = node.replace(/\//g, '.').replace(/^\.+/, '');
  if (p.startsWith('trunk.')) p = p.slice(6);
  if (p.startsWith('t.')) p = p.slice(2);
  const parts = p.split('.');
  if ((parts[0] === 'core' || parts[0] === 'tower') && parts.length > 1) {
    const who = parts[0] === 'core' ? 'nucleus' : 'cell';
    const sub = parts[1];
    if (sub === 'stem' || sub === 'res2') return who + ' conv1+res2';
    if (sub === 'res3' || sub === 'res4' || sub === 'res5') return who + ' ' + sub;
    if (sub === 'fpn') return who === 'cell' && variant === 'fpf_add' ? 'cell FPN + fusion + P6' : who + ' FPN';
    return who + ' (other)';
  }
  if (parts[0] === 'fuse') return variant === 'fpf_add' ? 'cell FPN + fusion + P6' : 'fusion + P6';
  if (parts[0] === 'rpn') return 'RPN (convs, softmax)';
  if (/^(ReorderInput|ReorderOutput)/.test(p)) return '(layout reorders)';
  return '(other)';
}

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

(async () => {
  const model = arg('model');
  const manifest = JSON.parse(fs.readFileSync(arg('manifest'), 'utf8'));
  const threads = +arg('threads', '1');
  const warmup = +arg('warmup', '1');
  const runs = +arg('runs', '5');
  const quiet = flag('quiet');
  const ortDir = path.resolve(arg('ort-dir', path.join(__dirname, '..', '..', 'build', 'bench')));
  const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  const opt = {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  };
  if (process.env.ORT_OPT_OUT) opt.optimizedModelFilePath = process.env.ORT_OPT_OUT;
  let t0 = performance.now();
  const sess = await ort.InferenceSession.create(model, opt);
  const loadMs = performance.now() - t0;
  const feeds = {};
  for (const inp of manifest.inputs) feeds[inp.name] = new ort.Tensor('float32', readF32(inp.file), inp.shape);
  const rangesOut = arg('ranges');
  if (rangesOut) {
    const out = await sess.run(feeds);
    const rng = {};
    for (const k of sess.outputNames) {
      let lo = Infinity, hi = -Infinity;
      for (const v of out[k].data) { if (v < lo) lo = v; if (v > hi) hi = v; }
      rng[k] = [lo, hi];
    }
    fs.writeFileSync(rangesOut, JSON.stringify(rng, null, 1));
    console.log(`ort ranges: ${Object.keys(rng).length} outputs of ${path.basename(model)} -> ${rangesOut}`);
    return;
  }
  const info = {};
  const check = (out) => {
    if (out.rpn_bbox) { let s = 0; for (const v of out.rpn_bbox.data) s += v; info.rpn_bbox_sum = s; }
    if (out.det_boxes) info.n0 = out.det_boxes.dims[0];
  };
  for (let i = 0; i < warmup; i++) {
    t0 = performance.now();
    const out = await sess.run(feeds);
    if (i === 0) check(out);
    if (!quiet) console.log(`  ort T=${threads} warm-up ${i + 1}/${warmup}: ${(performance.now() - t0).toFixed(1)} ms`);
  }
  const ts = [], foreign = [];
  let last = null;
  for (let i = 0; i < runs; i++) {
    const fm = foreignStart();
    t0 = performance.now();
    const out = await sess.run(feeds);
    last = out;
    ts.push(performance.now() - t0);
    foreign.push(foreignStop(fm));
    if (warmup === 0 && i === 0) check(out);
    if (!quiet) console.log(`  ort T=${threads} run ${i + 1}/${runs}: ${ts[i].toFixed(1)} ms (foreign load ${foreign[i].toFixed(2)} cores)`);
  }
  const saveDir = arg('save-outputs');
  if (saveDir && last) {
    fs.mkdirSync(saveDir, { recursive: true });
    for (const k of sess.outputNames) {
      const d = last[k].data;
      const f = path.join(saveDir, k + '.f32');
      fs.writeFileSync(f + '.tmp', Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      fs.renameSync(f + '.tmp', f);
    }
  }
  const stages = {};
  const profRuns = +arg('profile-runs', '0');
  if (profRuns > 0) {
    const po = Object.assign({}, opt, { enableProfiling: true,
      profileFilePrefix: path.join(require('os').tmpdir(), 'ort_peer_' + process.pid) });
    delete po.optimizedModelFilePath;
    const ps = await ort.InferenceSession.create(model, po);
    await ps.run(feeds);
    // ORT writes the events of every run; keep the last profRuns: drop the first run's events by time.
    const tStart = [];
    for (let i = 0; i < profRuns; i++) { tStart.push(performance.now()); await ps.run(feeds); }
    const pf = ps.endProfiling ? ps.endProfiling() : null;
    const file = typeof pf === 'string' ? pf : null;
    let events = [];
    if (file && fs.existsSync(file)) { events = JSON.parse(fs.readFileSync(file, 'utf8')); fs.unlinkSync(file); }
    else { // older bindings: find the newest file with our prefix
      const dir = require('os').tmpdir();
      const f = fs.readdirSync(dir).filter((n) => n.startsWith('ort_peer_' + process.pid)).map((n) => path.join(dir, n));
      if (f.length) { events = JSON.parse(fs.readFileSync(f[f.length - 1], 'utf8')); f.forEach((x) => fs.unlinkSync(x)); }
    }
    const runsEv = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
    const from = runsEv.length > profRuns ? runsEv[runsEv.length - profRuns].ts : 0;
    const variant = manifest.variant;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
      const st = stageOf(e.name.replace(/_kernel_time$/, ''), variant) || '(other)';
      stages[st] = (stages[st] || 0) + e.dur / 1e3 / profRuns;
    }
    const runMs = runsEv.slice(-profRuns).map((e) => e.dur / 1e3);
    stages['(profiled run, wall)'] = runMs.reduce((a, b) => a + b, 0) / Math.max(1, runMs.length);
  }
  const res = {
    peer: 'ort', stages_profiled: stages, model, threads, ort: ort.env.versions ? ort.env.versions.common : '?', load_ms: loadMs,
    ms: stats(ts), foreign, maxrss_kb: process.resourceUsage().maxRSS, info,
  };
  const s = res.ms;
  console.log(`ort ${path.basename(model)} threads=${threads}: median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}); load ${loadMs.toFixed(0)} ms; ${JSON.stringify(info)}; maxrss ${(res.maxrss_kb / 1024).toFixed(0)} MB`);
  const out = arg('json');
  if (out) fs.writeFileSync(out, JSON.stringify(res, null, 1));
})().catch((e) => { console.error('ort_peer: error:', e && e.message ? e.message : e); process.exit(1); });
