"""Shared helpers of the benchmark peers (run with /usr/bin/python3: Debian numpy + torch).

- inputs: a deterministic synthetic (cell, nucleus) uint8 image pair, written as raw H*W bytes so that
  the C bench, PyTorch and ONNX Runtime all read the same pixels;
- molding exactly as the reference ((x - 112.5) / 255, padded to a multiple of 64);
- timing statistics and a JSON result line.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REF_DIR = os.path.join(REPO, 'weights', 'reference')


def ref_path():
    if REF_DIR not in sys.path:
        sys.path.insert(0, REF_DIR)


def synth_pair(h, w, seed=1003, n_cells=None):
    """Cells (large irregular blobs, dim) around nuclei (small bright ellipses) on a noisy background.
    The shapes follow weights/reference/make_fixtures.synth_pair, painted in local windows so that a
    1024x1280 pair takes well under a second."""
    rs = np.random.RandomState(seed)
    cell = 18.0 + 4.0 * rs.randn(h, w)
    nuc = 12.0 + 4.0 * rs.randn(h, w)
    if n_cells is None:
        n_cells = max(3, int(h * w / 12000))
    for _ in range(n_cells):
        cy, cx = rs.uniform(0.05 * h, 0.95 * h), rs.uniform(0.05 * w, 0.95 * w)
        a, b = rs.uniform(5, 11), rs.uniform(4, 9)
        th = rs.uniform(0, np.pi)
        R0 = rs.uniform(14, 26)
        p1, p2 = rs.uniform(0, 6.3), rs.uniform(0, 6.3)
        amp_n, amp_c = rs.uniform(150, 210), rs.uniform(60, 110)
        r = int(R0 * 1.4) + 4
        y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
        x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dy, dx = yy - cy, xx - cx
        u = (dy * np.cos(th) + dx * np.sin(th)) / a
        v = (-dy * np.sin(th) + dx * np.cos(th)) / b
        r2 = u * u + v * v
        nuc[y0:y1, x0:x1] += amp_n * np.clip(1.3 - r2, 0, 1) ** 0.5 * (r2 < 1.3)
        ang = np.arctan2(dy, dx)
        rad = R0 * (1 + 0.18 * np.sin(2 * ang + p1) + 0.12 * np.sin(3 * ang + p2))
        d = np.sqrt(dy * dy + dx * dx)
        inside = np.clip((rad - d) / 3.0, 0, 1)
        cell[y0:y1, x0:x1] += amp_c * inside * (1 + 0.15 * np.sin(xx / 3.0 + yy / 5.0))
        nuc[y0:y1, x0:x1] += 8 * inside
    cell += 6.0 * rs.randn(h, w)
    nuc += 6.0 * rs.randn(h, w)
    return (np.clip(np.rint(cell), 0, 255).astype(np.uint8),
            np.clip(np.rint(nuc), 0, 255).astype(np.uint8))


def read_u8(path, h, w):
    a = np.fromfile(path, dtype=np.uint8)
    if a.size != h * w:
        raise SystemExit('%s: %d bytes, expected %dx%d' % (path, a.size, h, w))
    return a.reshape(h, w)


def pad_shape(h, w):
    return -(-h // 64) * 64, -(-w // 64) * 64


def mold_nchw(img_u8):
    """uint8 [h, w] -> molded float32 [1, 1, Hp, Wp] (reference mold(): pad with raw 0, then (x-112.5)/255)."""
    h, w = img_u8.shape
    Hp, Wp = pad_shape(h, w)
    p = np.zeros((Hp, Wp), np.float32)
    p[:h, :w] = img_u8.astype(np.float32)
    return ((p - np.float32(112.5)) / np.float32(255.0))[None, None].copy()


def stats(ts_ms):
    return dict(median=statistics.median(ts_ms), min=min(ts_ms), max=max(ts_ms), all=list(ts_ms))


HZ = os.sysconf('SC_CLK_TCK')


def _busy_s():
    """CPU seconds (all CPUs) spent busy since boot: user+nice+system+irq+softirq+steal (no idle/iowait)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / HZ


def _own_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Foreign(object):
    """Foreign load (cores) during an interval: busy CPU time of the whole machine minus this process's
    own CPU time, over the wall time."""

    def start(self):
        self.b, self.o, self.t = _busy_s(), _own_s(), time.perf_counter()

    def stop(self):
        dt = time.perf_counter() - self.t
        return max(0.0, ((_busy_s() - self.b) - (_own_s() - self.o)) / dt) if dt > 0 else 0.0


def time_runs(fn, warmup, runs, label='', quiet=False, foreign=None):
    """warmup untimed calls, then runs timed calls; returns the list of ms. foreign: a list that gets the
    foreign load (cores) of each timed call."""
    for i in range(warmup):
        t = time.perf_counter()
        fn()
        if not quiet:
            print('  %s warm-up %d/%d: %.1f ms' % (label, i + 1, warmup, (time.perf_counter() - t) * 1e3), flush=True)
    ts = []
    fm = Foreign()
    for i in range(runs):
        fm.start()
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
        fl = fm.stop()
        if foreign is not None:
            foreign.append(fl)
        if not quiet:
            print('  %s run %d/%d: %.1f ms (foreign load %.2f cores)' % (label, i + 1, runs, ts[-1], fl), flush=True)
    return ts


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def write_json(path, obj):
    if path:
        with open(path, 'w') as f:
            json.dump(obj, f, indent=1)
