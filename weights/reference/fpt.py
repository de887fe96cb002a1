"""Read/write of the `.fpt` dump format (CONTRACT.md section 5).

    import fpt
    w = fpt.Writer()
    w.add('mold', arr_f32)                 # stored sampled automatically if > 16384 elements
    w.add('input.cell', img_u8, full=True) # force full storage (kind 0)
    w.save('x.fpt')
    recs = fpt.read('x.fpt')               # OrderedDict name -> Record
    recs['mold'].kind, .dims, .dtype, .data (full data, or the 4096 samples), .stats, .indices()

Little-endian: magic "FPFT0001", u32 count, then records
    u16 name_len, name, u8 dtype (0 f32, 1 i32, 2 u8, 3 f64), u8 kind (0 full, 1 sampled), u8 ndim, u8 0,
    u32 dims[ndim], then kind 0: prod(dims) values; kind 1: f64 stats[3] = (sum, sum|x|, max|x|) accumulated
    sequentially in float64 in flat C order, then 4096 values at flat indices (k*n)//4096.
"""
import struct
from collections import OrderedDict

import numpy as np

MAGIC = b'FPFT0001'
DTYPES = {0: np.dtype('<f4'), 1: np.dtype('<i4'), 2: np.dtype('u1'), 3: np.dtype('<f8')}
CODES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.uint8): 2, np.dtype(np.float64): 3}
SAMPLE_THRESHOLD = 16384
NSAMPLES = 4096


def sample_indices(n):
    k = np.arange(NSAMPLES, dtype=np.int64)
    return (k * np.int64(n)) // NSAMPLES


def stats_of(flat):
    x = np.asarray(flat, dtype=np.float64).ravel()
    if x.size == 0:
        return (0.0, 0.0, 0.0)
    # sequential (not pairwise) float64 accumulation, like a C loop
    s = float(np.cumsum(x)[-1])
    a = float(np.cumsum(np.abs(x))[-1])
    m = float(np.max(np.abs(x)))
    return (s, a, m)


class Record(object):
    def __init__(self, name, dtype, kind, dims, data, stats=None):
        self.name, self.dtype, self.kind, self.dims, self.data, self.stats = name, dtype, kind, tuple(dims), data, stats

    @property
    def n(self):
        return int(np.prod(self.dims, dtype=np.int64)) if self.dims else 1

    def indices(self):
        return sample_indices(self.n) if self.kind == 1 else np.arange(self.n)

    def array(self):
        if self.kind != 0:
            raise ValueError('%s is sampled' % self.name)
        return self.data.reshape(self.dims)

    def __repr__(self):
        return 'Record(%s, %s, kind=%d, dims=%s)' % (self.name, self.dtype, self.kind, self.dims)


class Writer(object):
    def __init__(self):
        self.records = []

    def add(self, name, arr, full=False, dtype=None):
        a = np.asarray(arr)
        if dtype is not None:
            a = a.astype(dtype)
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        if a.dtype not in CODES:
            raise TypeError('%s: unsupported dtype %s' % (name, a.dtype))
        if any(r[0] == name for r in self.records):
            raise ValueError('duplicate record %s' % name)
        self.records.append((name, np.ascontiguousarray(a), full))

    def tobytes(self):
        out = [MAGIC, struct.pack('<I', len(self.records))]
        for name, a, full in self.records:
            nb = name.encode('ascii')
            code = CODES[a.dtype]
            n = a.size
            kind = 0 if (full or n <= SAMPLE_THRESHOLD) else 1
            out.append(struct.pack('<H', len(nb)) + nb + struct.pack('<BBBB', code, kind, a.ndim, 0))
            out.append(struct.pack('<%dI' % a.ndim, *a.shape))
            flat = a.ravel().astype(DTYPES[code])
            if kind == 0:
                out.append(flat.tobytes())
            else:
                out.append(struct.pack('<3d', *stats_of(flat)))
                out.append(flat[sample_indices(n)].tobytes())
        return b''.join(out)

    def save(self, path):
        data = self.tobytes()
        with open(path, 'wb') as f:
            f.write(data)
        return len(data)


def write(path, items):
    """items: iterable of (name, array) or (name, array, full)."""
    w = Writer()
    for it in items:
        w.add(it[0], it[1], full=(it[2] if len(it) > 2 else False))
    return w.save(path)


def read(path):
    with open(path, 'rb') as f:
        buf = f.read()
    if buf[:8] != MAGIC:
        raise ValueError('bad magic in %s' % path)
    (count,) = struct.unpack_from('<I', buf, 8)
    off = 12
    recs = OrderedDict()
    for _ in range(count):
        (ln,) = struct.unpack_from('<H', buf, off); off += 2
        name = buf[off:off + ln].decode('ascii'); off += ln
        code, kind, ndim, _r = struct.unpack_from('<BBBB', buf, off); off += 4
        dims = struct.unpack_from('<%dI' % ndim, buf, off); off += 4 * ndim
        dt = DTYPES[code]
        n = int(np.prod(dims, dtype=np.int64)) if ndim else 1
        stats = None
        if kind == 0:
            data = np.frombuffer(buf, dt, n, off).copy(); off += n * dt.itemsize
        elif kind == 1:
            stats = struct.unpack_from('<3d', buf, off); off += 24
            data = np.frombuffer(buf, dt, NSAMPLES, off).copy(); off += NSAMPLES * dt.itemsize
        else:
            raise ValueError('bad kind %d' % kind)
        recs[name] = Record(name, dt, kind, dims, data, stats)
    if off != len(buf):
        raise ValueError('%d trailing bytes in %s' % (len(buf) - off, path))
    return recs


def text_of(rec):
    return bytes(rec.data.astype(np.uint8)).decode('ascii')


def compare(ref, arr, rtol=1e-4):
    """Compare a full array against a record (full or sampled). Returns max abs err / max|ref|."""
    a = np.asarray(arr).ravel().astype(np.float64)
    if rec_n(ref) != a.size:
        raise ValueError('%s: size %d vs %d' % (ref.name, rec_n(ref), a.size))
    r = ref.data.astype(np.float64)
    got = a[ref.indices()] if ref.kind == 1 else a
    scale = max(np.max(np.abs(r)) if r.size else 0.0, 1e-30)
    return float(np.max(np.abs(got - r)) / scale) if r.size else 0.0


def rec_n(rec):
    return rec.n
