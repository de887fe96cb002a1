/* examples/fpf_image.h - image I/O for the fpf CLIs: TIFF, PNG and PGM, libc only.
 *
 * stb-style single header: include it anywhere for the declarations; in exactly one .c
 * file write
 *     #define FPF_IMAGE_IMPLEMENTATION
 *     #include "fpf_image.h"
 * to compile the implementation. Public names start with fpfi_, private ones with fpfi__.
 *
 * Reading (every reader works on a memory buffer; fpfi_read() loads the file first):
 *   TIFF  classic and BigTIFF, "II" and "MM" byte order, strips and tiles, compression
 *         none / PackBits / LZW / Deflate (8 and 32946), predictor 2 (horizontal) and 3
 *         (floating point), 8/16/32-bit unsigned and signed integers, 32-bit float,
 *         palette images, multi-page stacks, contiguous (chunky) and planar samples.
 *   PNG   gray, gray+alpha, RGB, RGBA (8/16 bit), gray and palette at 1/2/4/8 bit.
 *   PGM   P5 (8 or 16 bit) and PPM P6 (three samples).
 * A read returns ONE page (TIFF IFD index; 0 otherwise) and ONE sample (channel) as a
 * single-channel image of the stored type. Values are the stored values: no scaling,
 * no inversion for WhiteIsZero. Palette images give one gray sample: when the palette
 * is gray (R == G == B for every entry) the value is the palette gray level, otherwise
 * it is the raw index, because in microscopy files (ImageJ LUTs, indexed label images)
 * a coloured palette is only a display colouring of the measured index.
 *
 * Writing: uncompressed TIFF (8/16/32-bit, signed or float, with an ImageJ description so
 * ImageJ/Fiji, napari and CellProfiler read label images as they are), PNG (8/16-bit
 * gray, RGB8) and PGM (8/16-bit). Every write goes to a temporary file in the target
 * directory that is renamed over the target only after it was written completely.
 *
 * Every failure returns nonzero with a message in err; limits below are checked before
 * any allocation, and every offset read from a file is checked against the buffer. */
#ifndef FPF_IMAGE_H
#define FPF_IMAGE_H
#include <stddef.h>
#include "fpf_inflate.h"

/* ---- limits (override by defining before the include) ----------------------------- */
#ifndef FPFI_MAX_DIM
#define FPFI_MAX_DIM 65536 /* pixels per side */
#endif
#ifndef FPFI_MAX_DECODED
#define FPFI_MAX_DECODED ((size_t)1 << 30) /* bytes one read allocates besides the file: the
                                              decoded stream or strip plus the image, together */
#endif
#ifndef FPFI_MAX_FILE
#define FPFI_MAX_FILE ((size_t)1 << 30) /* bytes of an input file (read whole; its size is checked
                                           before it is read, and its format sniffed first) */
#endif
#ifndef FPFI_MAX_PAGES
#define FPFI_MAX_PAGES 65536 /* TIFF IFDs */
#endif
#ifndef FPFI_MAX_SAMPLES
#define FPFI_MAX_SAMPLES 64 /* samples (channels) per pixel */
#endif
/* DEFLATE cannot expand more than 1032:1 (a 258-byte match costs at least 2 bits), so a
 * PNG whose declared size needs more than this from its IDAT bytes is rejected up front. */
#define FPFI_DEFLATE_MAX_RATIO 1032

typedef enum { FPFI_U8, FPFI_U16, FPFI_U32, FPFI_S8, FPFI_S16, FPFI_S32, FPFI_F32 } fpfi_type;
typedef struct fpfi_image {
    int w, h;
    fpfi_type type;
    void *pixels; /* w*h samples, row-major, contiguous */
} fpfi_image;

typedef enum { FPFI_FORMAT_UNKNOWN, FPFI_FORMAT_TIFF, FPFI_FORMAT_PNG, FPFI_FORMAT_PGM } fpfi_format;

/* What one page holds, as fpfi_info_*() reports it. */
typedef struct fpfi_page_info {
    int width, height;
    int samples;     /* samples per pixel as fpfi_read() exposes them (palette: 1) */
    int bits;        /* bits per stored sample (1..32) */
    fpfi_type type;  /* type fpfi_read() returns for this page */
    int compression; /* TIFF Compression tag (1 none, 5 LZW, 8 Deflate, 32773 PackBits); PNG 8; PGM 1 */
    int planar;      /* 1 contiguous, 2 planar (TIFF PlanarConfiguration) */
    int tiled;       /* TIFF tiles instead of strips */
    int palette;     /* palette/indexed colour */
    int photometric; /* TIFF PhotometricInterpretation; PNG colour type; PGM 1 */
} fpfi_page_info;

typedef struct fpfi_info {
    fpfi_format format;
    int bigtiff, big_endian;
    int npages;
    fpfi_page_info *pages;
} fpfi_info;

#ifdef __cplusplus
extern "C" {
#endif
/* read one page (TIFF page index; 0 for PNG/PGM) and one sample (channel index) as a
 * single-channel image; returns 0 or nonzero with err filled */
FPFIDEF int fpfi_read(const char *path, int page, int sample, fpfi_image *out, char *err, size_t errlen);
FPFIDEF int fpfi_read_memory(const void *data, size_t size, int page, int sample, fpfi_image *out,
                             char *err, size_t errlen);
FPFIDEF void fpfi_free(fpfi_image *img);
FPFIDEF int fpfi_write_pgm(const char *path, const fpfi_image *img, char *err, size_t errlen);
FPFIDEF int fpfi_write_tiff(const char *path, const fpfi_image *img, char *err, size_t errlen);
FPFIDEF int fpfi_write_png(const char *path, const fpfi_image *img, char *err, size_t errlen);
/* 8-bit RGB (rgb holds w*h*3 bytes, row-major) as a colour PNG */
FPFIDEF int fpfi_write_png_rgb(const char *path, int w, int h, const unsigned char *rgb, char *err,
                               size_t errlen);
/* The same PNG into a malloc'ed buffer (*out, *outlen; free() it). */
FPFIDEF int fpfi_encode_png_rgb(int w, int h, const unsigned char *rgb, unsigned char **out, size_t *outlen,
                                char *err, size_t errlen);
/* Encode into a malloc'ed buffer instead of a file (format: FPFI_FORMAT_TIFF/PNG/PGM). */
FPFIDEF int fpfi_encode(fpfi_format format, const fpfi_image *img, unsigned char **out, size_t *outlen,
                        char *err, size_t errlen);
/* Page/sample enumeration for fpf_imageinfo; free with fpfi_info_free(). */
FPFIDEF int fpfi_info_read(const char *path, fpfi_info *info, char *err, size_t errlen);
FPFIDEF int fpfi_info_memory(const void *data, size_t size, fpfi_info *info, char *err, size_t errlen);
FPFIDEF void fpfi_info_free(fpfi_info *info);
/* Load a whole file into a malloc'ed buffer (used by fpfi_read; handy for tests). */
FPFIDEF int fpfi_load_file(const char *path, unsigned char **data, size_t *size, char *err, size_t errlen);
/* Write a buffer atomically: temp file in the same directory, then rename over path. */
FPFIDEF int fpfi_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                                   size_t errlen);
/* Allocate a zeroed w x h image of the given type; returns 0 or nonzero. */
FPFIDEF int fpfi_alloc(fpfi_image *img, int w, int h, fpfi_type type);
FPFIDEF size_t fpfi_type_size(fpfi_type type);
FPFIDEF const char *fpfi_type_name(fpfi_type type);   /* "uint8" ... "float32" */
FPFIDEF const char *fpfi_type_format(fpfi_type type); /* "uint" | "int" | "float" */
FPFIDEF double fpfi_get(const fpfi_image *img, size_t index); /* any sample as a double */
#ifdef __cplusplus
}
#endif

#ifdef FPF_IMAGE_IMPLEMENTATION
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ---------------------------------------------------------------- */

static int fpfi__fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

FPFIDEF size_t fpfi_type_size(fpfi_type type) {
    switch (type) {
    case FPFI_U8: case FPFI_S8: return 1;
    case FPFI_U16: case FPFI_S16: return 2;
    default: return 4;
    }
}

FPFIDEF const char *fpfi_type_name(fpfi_type type) {
    static const char *names[] = {"uint8", "uint16", "uint32", "int8", "int16", "int32", "float32"};
    return (unsigned)type < 7 ? names[type] : "?";
}

FPFIDEF const char *fpfi_type_format(fpfi_type type) {
    if (type == FPFI_F32) return "float";
    return (type == FPFI_S8 || type == FPFI_S16 || type == FPFI_S32) ? "int" : "uint";
}

static int fpfi__type_bits(fpfi_type type) { return (int)fpfi_type_size(type) * 8; }

FPFIDEF int fpfi_alloc(fpfi_image *img, int w, int h, fpfi_type type) {
    size_t n;
    img->w = w;
    img->h = h;
    img->type = type;
    img->pixels = NULL;
    if (w <= 0 || h <= 0 || w > FPFI_MAX_DIM || h > FPFI_MAX_DIM) return -1;
    n = (size_t)w * (size_t)h * fpfi_type_size(type);
    if (n / fpfi_type_size(type) / (size_t)w != (size_t)h || n > FPFI_MAX_DECODED) return -1;
    img->pixels = FPFI_CALLOC(n, 1);
    return img->pixels ? 0 : -1;
}

FPFIDEF void fpfi_free(fpfi_image *img) {
    if (!img) return;
    FPFI_FREE(img->pixels);
    img->pixels = NULL;
    img->w = img->h = 0;
}

FPFIDEF double fpfi_get(const fpfi_image *img, size_t i) {
    const void *p = img->pixels;
    switch (img->type) {
    case FPFI_U8: return ((const uint8_t *)p)[i];
    case FPFI_U16: return ((const uint16_t *)p)[i];
    case FPFI_U32: return ((const uint32_t *)p)[i];
    case FPFI_S8: return ((const int8_t *)p)[i];
    case FPFI_S16: return ((const int16_t *)p)[i];
    case FPFI_S32: return ((const int32_t *)p)[i];
    default: return ((const float *)p)[i];
    }
}

static int fpfi__host_big_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 0;
}

/* Reverse the bytes of each of n samples of size bytes (2 or 4) in place. */
static void fpfi__swap(unsigned char *p, size_t n, int bytes) {
    size_t i;
    unsigned char t;
    if (bytes == 2) {
        for (i = 0; i < n; i++, p += 2) { t = p[0]; p[0] = p[1]; p[1] = t; }
    } else if (bytes == 4) {
        for (i = 0; i < n; i++, p += 4) {
            t = p[0]; p[0] = p[3]; p[3] = t;
            t = p[1]; p[1] = p[2]; p[2] = t;
        }
    }
}

/* Check "w x h samples of bytes each" against the limits before allocating. */
static int fpfi__check_size(uint64_t w, uint64_t h, uint64_t bytes_per_pixel, char *err, size_t errlen) {
    if (w == 0 || h == 0) return fpfi__fail(err, errlen, "image has zero size (%llu x %llu)",
                                            (unsigned long long)w, (unsigned long long)h);
    if (w > FPFI_MAX_DIM || h > FPFI_MAX_DIM || w * h > (uint64_t)FPFI_MAX_DECODED / bytes_per_pixel)
        return fpfi__fail(err, errlen, "image too large (%llu x %llu exceeds limit)",
                          (unsigned long long)w, (unsigned long long)h);
    return 0;
}

FPFIDEF int fpfi_load_file(const char *path, unsigned char **data, size_t *size, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    long end;
    *data = NULL;
    *size = 0;
    if (!f) return fpfi__fail(err, errlen, "cannot open %s", path);
    /* A regular file's size is known before anything is read: refuse it whole when too large,
     * else read it into one buffer of that size (pipes and the like grow a buffer instead). */
    if (fseek(f, 0, SEEK_END) == 0 && (end = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        if ((unsigned long)end > (unsigned long)FPFI_MAX_FILE) {
            fclose(f);
            return fpfi__fail(err, errlen, "%s: file too large (%lu bytes, limit %lu)", path, (unsigned long)end,
                              (unsigned long)FPFI_MAX_FILE);
        }
        cap = (size_t)end + 1; /* one more byte sees a file that grew, and a directory's EISDIR */
        if (!(buf = (unsigned char *)FPFI_MALLOC(cap))) {
            fclose(f);
            return fpfi__fail(err, errlen, "out of memory reading %s", path);
        }
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *p;
            if (cap > FPFI_MAX_FILE) {
                FPFI_FREE(buf);
                fclose(f);
                return fpfi__fail(err, errlen, "%s: file too large", path);
            }
            p = (unsigned char *)FPFI_REALLOC(buf, ncap);
            if (!p) { FPFI_FREE(buf); fclose(f); return fpfi__fail(err, errlen, "out of memory reading %s", path); }
            buf = p;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) { FPFI_FREE(buf); fclose(f); return fpfi__fail(err, errlen, "read error on %s (a directory?)", path); }
    fclose(f);
    *data = buf;
    *size = len;
    return 0;
}

static fpfi_format fpfi__sniff(const unsigned char *d, size_t n) {
    static const unsigned char png_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (n >= 4 && ((d[0] == 'I' && d[1] == 'I') || (d[0] == 'M' && d[1] == 'M'))) return FPFI_FORMAT_TIFF;
    if (n >= 8 && memcmp(d, png_sig, 8) == 0) return FPFI_FORMAT_PNG;
    if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6' || (d[1] >= '1' && d[1] <= '4')))
        return FPFI_FORMAT_PGM;
    return FPFI_FORMAT_UNKNOWN;
}

/* Copy sample `sample` of a contiguous buffer of `spp` samples per pixel into dst. */
static void fpfi__pick(unsigned char *dst, const unsigned char *src, size_t npix, int spp, int sample,
                       int bytes) {
    size_t i;
    src += (size_t)sample * (size_t)bytes;
    for (i = 0; i < npix; i++) {
        memcpy(dst, src, (size_t)bytes);
        dst += bytes;
        src += (size_t)spp * (size_t)bytes;
    }
}

/* ==== PGM / PPM (Netpbm) ============================================================= */
/* Header: magic, whitespace-separated decimal width, height, maxval with '#' comments up
 * to end of line; exactly one whitespace byte, then raster. maxval < 256 means one byte
 * per sample, otherwise two bytes, most significant first. */

typedef struct fpfi__pnm {
    int w, h, maxval, channels;
    size_t data_offset;
} fpfi__pnm;

static int fpfi__pnm_int(const unsigned char *d, size_t n, size_t *pos, long *v) {
    size_t p = *pos;
    long x = 0;
    int digits = 0;
    for (;;) {
        while (p < n && (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n')) p++;
        if (p < n && d[p] == '#') {
            while (p < n && d[p] != '\n') p++;
            continue;
        }
        break;
    }
    while (p < n && d[p] >= '0' && d[p] <= '9') {
        if (x > 100000000L) return -1;
        x = x * 10 + (d[p] - '0');
        p++;
        digits++;
    }
    if (!digits) return -1;
    *pos = p;
    *v = x;
    return 0;
}

static int fpfi__pnm_header(const unsigned char *d, size_t n, fpfi__pnm *pn, char *err, size_t errlen) {
    size_t pos = 2;
    long w, h, maxval;
    if (n < 2 || d[0] != 'P') return fpfi__fail(err, errlen, "not a PGM file");
    if (d[1] != '5' && d[1] != '6')
        return fpfi__fail(err, errlen, "unsupported Netpbm variant P%c (only binary P5/P6)", d[1]);
    pn->channels = d[1] == '5' ? 1 : 3;
    if (fpfi__pnm_int(d, n, &pos, &w) || fpfi__pnm_int(d, n, &pos, &h) || fpfi__pnm_int(d, n, &pos, &maxval))
        return fpfi__fail(err, errlen, "truncated or malformed PGM header");
    if (maxval < 1 || maxval > 65535) return fpfi__fail(err, errlen, "PGM maxval %ld out of range", maxval);
    if (pos >= n) return fpfi__fail(err, errlen, "truncated PGM header");
    pos++; /* the single whitespace byte after maxval */
    if (fpfi__check_size((uint64_t)w, (uint64_t)h, (uint64_t)pn->channels * 2, err, errlen)) return -1;
    pn->w = (int)w;
    pn->h = (int)h;
    pn->maxval = (int)maxval;
    pn->data_offset = pos;
    {
        size_t need = (size_t)w * (size_t)h * (size_t)pn->channels * (maxval < 256 ? 1u : 2u);
        if (n - pos < need)
            return fpfi__fail(err, errlen, "truncated PGM data: %lu bytes at offset %lu, need %lu",
                              (unsigned long)(n - pos), (unsigned long)pos, (unsigned long)need);
    }
    return 0;
}

static int fpfi__pnm_read(const unsigned char *d, size_t n, int sample, fpfi_image *out, char *err,
                          size_t errlen) {
    fpfi__pnm pn;
    int bytes;
    if (fpfi__pnm_header(d, n, &pn, err, errlen)) return -1;
    if (sample < 0 || sample >= pn.channels)
        return fpfi__fail(err, errlen, "sample %d out of range (file has %d)", sample, pn.channels);
    bytes = pn.maxval < 256 ? 1 : 2;
    if (fpfi_alloc(out, pn.w, pn.h, bytes == 1 ? FPFI_U8 : FPFI_U16))
        return fpfi__fail(err, errlen, "out of memory");
    fpfi__pick((unsigned char *)out->pixels, d + pn.data_offset, (size_t)pn.w * pn.h, pn.channels, sample,
               bytes);
    if (bytes == 2 && !fpfi__host_big_endian())
        fpfi__swap((unsigned char *)out->pixels, (size_t)pn.w * pn.h, 2);
    return 0;
}

static int fpfi__pnm_info(const unsigned char *d, size_t n, fpfi_info *info, char *err, size_t errlen) {
    fpfi__pnm pn;
    fpfi_page_info *pg;
    if (fpfi__pnm_header(d, n, &pn, err, errlen)) return -1;
    pg = (fpfi_page_info *)FPFI_CALLOC(1, sizeof *pg);
    if (!pg) return fpfi__fail(err, errlen, "out of memory");
    pg->width = pn.w;
    pg->height = pn.h;
    pg->samples = pn.channels;
    pg->bits = pn.maxval < 256 ? 8 : 16;
    pg->type = pn.maxval < 256 ? FPFI_U8 : FPFI_U16;
    pg->compression = 1;
    pg->planar = 1;
    pg->photometric = 1;
    info->format = FPFI_FORMAT_PGM;
    info->big_endian = 1;
    info->npages = 1;
    info->pages = pg;
    return 0;
}

/* ==== TIFF ========================================================================== */
/* TIFF 6.0 section 2: an 8-byte header ("II" little- or "MM" big-endian, 42, offset of the
 * first IFD); each IFD is a count, 12-byte entries (tag, type, count, value-or-offset) and
 * the offset of the next IFD. BigTIFF (version 43) widens counts and offsets to 8 bytes
 * and entries to 20 bytes. Values that fit in the offset field are stored in place. */

typedef struct fpfi__tiff {
    const unsigned char *d;
    size_t n;
    int be, big; /* big-endian file, BigTIFF */
} fpfi__tiff;

/* One IFD entry: where its values are in the file. */
typedef struct fpfi__tent {
    int type;
    uint64_t count;
    size_t pos;
} fpfi__tent;

typedef struct fpfi__tpage {
    uint64_t width, height, rps, tile_w, tile_h;
    int spp, bps, fmt, compression, photometric, planar, predictor, tiled;
    fpfi__tent offsets, counts, colormap;
    int have_offsets, have_counts, have_colormap;
} fpfi__tpage;

static uint64_t fpfi__tu(const fpfi__tiff *t, size_t pos, int bytes) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < bytes; i++) {
        int k = t->be ? i : bytes - 1 - i;
        v = (v << 8) | t->d[pos + (size_t)k];
    }
    return v;
}

/* TIFF 6.0 section 2 field types (BigTIFF adds 16 LONG8, 17 SLONG8, 18 IFD8). */
static int fpfi__ttype_size(int type) {
    switch (type) {
    case 1: case 2: case 6: case 7: return 1;
    case 3: case 8: return 2;
    case 4: case 9: case 11: case 13: return 4;
    case 5: case 10: case 12: case 16: case 17: case 18: return 8;
    default: return 0;
    }
}

/* Value i of an integer entry; the caller has checked i < count. */
static uint64_t fpfi__tval(const fpfi__tiff *t, const fpfi__tent *e, uint64_t i) {
    int sz = fpfi__ttype_size(e->type);
    uint64_t v = fpfi__tu(t, e->pos + (size_t)i * (size_t)sz, sz);
    return e->type == 5 ? v >> 32 : v; /* RATIONAL: numerator (not used for data) */
}

static int fpfi__tiff_header(fpfi__tiff *t, uint64_t *first, char *err, size_t errlen) {
    uint64_t version;
    if (t->n < 8) return fpfi__fail(err, errlen, "truncated TIFF header");
    if (t->d[0] != t->d[1] || (t->d[0] != 'I' && t->d[0] != 'M'))
        return fpfi__fail(err, errlen, "not a TIFF file (bad byte-order mark)");
    t->be = t->d[0] == 'M';
    version = fpfi__tu(t, 2, 2);
    if (version == 42) {
        t->big = 0;
        *first = fpfi__tu(t, 4, 4);
    } else if (version == 43) {
        if (t->n < 16) return fpfi__fail(err, errlen, "truncated BigTIFF header");
        if (fpfi__tu(t, 4, 2) != 8 || fpfi__tu(t, 6, 2) != 0)
            return fpfi__fail(err, errlen, "unsupported BigTIFF offset size");
        t->big = 1;
        *first = fpfi__tu(t, 8, 8);
    } else {
        return fpfi__fail(err, errlen, "unsupported TIFF version %llu", (unsigned long long)version);
    }
    return 0;
}

/* Parse the IFD at `off` into *p and return the next IFD offset in *next. Every value's
 * location is checked against the file size here, so later reads need no checks. */
static int fpfi__tiff_ifd(const fpfi__tiff *t, uint64_t off, fpfi__tpage *p, uint64_t *next, char *err,
                          size_t errlen) {
    int csz = t->big ? 8 : 2, esz = t->big ? 20 : 12, osz = t->big ? 8 : 4;
    uint64_t nent, i;
    int have_bps = 0;
    memset(p, 0, sizeof *p);
    p->spp = 1;
    p->bps = 1;
    p->fmt = 1;
    p->compression = 1;
    p->planar = 1;
    p->predictor = 1;
    p->photometric = -1;
    if (off < 8 || off > t->n || t->n - off < (uint64_t)csz)
        return fpfi__fail(err, errlen, "IFD offset %llu outside the file (size %lu)", (unsigned long long)off,
                          (unsigned long)t->n);
    nent = fpfi__tu(t, (size_t)off, csz);
    if (nent == 0 || nent > 4096) return fpfi__fail(err, errlen, "IFD at %llu has a bad entry count %llu",
                                                     (unsigned long long)off, (unsigned long long)nent);
    if ((t->n - off - csz) / esz < nent || t->n - off - csz - nent * esz < (uint64_t)osz)
        return fpfi__fail(err, errlen, "truncated IFD at offset %llu", (unsigned long long)off);
    for (i = 0; i < nent; i++) {
        size_t ep = (size_t)(off + csz + i * esz);
        int tag = (int)fpfi__tu(t, ep, 2);
        fpfi__tent e;
        uint64_t bytes;
        int sz;
        e.type = (int)fpfi__tu(t, ep + 2, 2);
        e.count = fpfi__tu(t, ep + 4, osz);
        sz = fpfi__ttype_size(e.type);
        if (sz == 0 || e.count == 0) continue; /* unknown type: skip, as TIFF 6.0 asks readers to */
        if (e.count > ((uint64_t)1 << 40)) bytes = (uint64_t)1 << 62; else bytes = e.count * (uint64_t)sz;
        if (bytes <= (uint64_t)osz) {
            e.pos = ep + 4 + (size_t)osz;
        } else {
            uint64_t vo = fpfi__tu(t, ep + 4 + (size_t)osz, osz);
            if (vo > t->n || bytes > t->n - vo) {
                if (tag == 273 || tag == 279 || tag == 324 || tag == 325 || tag == 258 || tag == 320)
                    return fpfi__fail(err, errlen, "tag %d values at offset %llu lie outside the file", tag,
                                      (unsigned long long)vo);
                continue; /* a broken tag we do not need */
            }
            e.pos = (size_t)vo;
        }
        switch (tag) {
        case 256: p->width = fpfi__tval(t, &e, 0); break;
        case 257: p->height = fpfi__tval(t, &e, 0); break;
        case 258: {
            uint64_t k;
            p->bps = (int)fpfi__tval(t, &e, 0);
            for (k = 1; k < e.count; k++)
                if ((int)fpfi__tval(t, &e, k) != p->bps)
                    return fpfi__fail(err, errlen, "samples with different BitsPerSample are not supported");
            have_bps = 1;
            break;
        }
        case 259: p->compression = (int)fpfi__tval(t, &e, 0); break;
        case 262: p->photometric = (int)fpfi__tval(t, &e, 0); break;
        case 273: p->offsets = e; p->have_offsets = 1; break;
        case 277: p->spp = (int)fpfi__tval(t, &e, 0); break;
        case 278: p->rps = fpfi__tval(t, &e, 0); break;
        case 279: p->counts = e; p->have_counts = 1; break;
        case 284: p->planar = (int)fpfi__tval(t, &e, 0); break;
        case 317: p->predictor = (int)fpfi__tval(t, &e, 0); break;
        case 320: p->colormap = e; p->have_colormap = 1; break;
        case 322: p->tile_w = fpfi__tval(t, &e, 0); p->tiled = 1; break;
        case 323: p->tile_h = fpfi__tval(t, &e, 0); p->tiled = 1; break;
        case 324: p->offsets = e; p->have_offsets = 1; break;
        case 325: p->counts = e; p->have_counts = 1; break;
        case 339: p->fmt = (int)fpfi__tval(t, &e, 0); break;
        default: break;
        }
    }
    (void)have_bps;
    *next = fpfi__tu(t, (size_t)(off + csz + nent * esz), osz);
    return 0;
}

/* Check what this reader supports and derive the output type. */
static int fpfi__tiff_validate(const fpfi__tpage *p, fpfi_type *type, char *err, size_t errlen) {
    if (fpfi__check_size(p->width, p->height, (uint64_t)(p->bps > 8 ? p->bps / 8 : 1), err, errlen)) return -1;
    if (p->spp < 1 || p->spp > FPFI_MAX_SAMPLES)
        return fpfi__fail(err, errlen, "unsupported SamplesPerPixel %d", p->spp);
    if (p->bps != 8 && p->bps != 16 && p->bps != 32)
        return fpfi__fail(err, errlen, "unsupported BitsPerSample %d (8, 16 or 32 only)", p->bps);
    if (p->compression != 1 && p->compression != 5 && p->compression != 8 && p->compression != 32946 &&
        p->compression != 32773)
        return fpfi__fail(err, errlen, "unsupported TIFF compression %d", p->compression);
    if (p->planar != 1 && p->planar != 2) return fpfi__fail(err, errlen, "bad PlanarConfiguration %d", p->planar);
    if (p->predictor < 1 || p->predictor > 3) return fpfi__fail(err, errlen, "unsupported predictor %d", p->predictor);
    if (!p->have_offsets) return fpfi__fail(err, errlen, "TIFF page has no strip or tile offsets");
    if (p->tiled && (p->tile_w == 0 || p->tile_h == 0 || p->tile_w > FPFI_MAX_DIM || p->tile_h > FPFI_MAX_DIM))
        return fpfi__fail(err, errlen, "bad tile size %llu x %llu", (unsigned long long)p->tile_w,
                          (unsigned long long)p->tile_h);
    if (p->photometric == 3) {
        if (p->spp != 1 || p->bps > 16) return fpfi__fail(err, errlen, "unsupported palette layout");
        if (!p->have_colormap || p->colormap.count < 3ull << p->bps)
            return fpfi__fail(err, errlen, "palette image without a complete ColorMap");
    }
    switch (p->fmt) {
    case 1: case 4: *type = p->bps == 8 ? FPFI_U8 : p->bps == 16 ? FPFI_U16 : FPFI_U32; break;
    case 2: *type = p->bps == 8 ? FPFI_S8 : p->bps == 16 ? FPFI_S16 : FPFI_S32; break;
    case 3:
        if (p->bps != 32) return fpfi__fail(err, errlen, "unsupported %d-bit float samples", p->bps);
        *type = FPFI_F32;
        break;
    default: return fpfi__fail(err, errlen, "unsupported SampleFormat %d", p->fmt);
    }
    if (p->predictor == 2 && p->fmt == 3) return fpfi__fail(err, errlen, "predictor 2 on float samples");
    if (p->predictor == 3 && p->fmt != 3) return fpfi__fail(err, errlen, "predictor 3 on integer samples");
    return 0;
}

/* Walk the IFD chain. With want >= 0 stop at that page; return the page count. */
static int fpfi__tiff_walk(const fpfi__tiff *t, uint64_t first, int want, fpfi__tpage *page,
                           fpfi_page_info **infos, char *err, size_t errlen) {
    uint64_t off = first, seen[64];
    /* An IFD chain that loops back is a classic malformed-file trap. The first 64 offsets
     * are compared exactly; beyond that, real IFDs cannot overlap, so a file of n bytes
     * holds at most n / (smallest IFD) of them and a longer chain must be a loop. */
    uint64_t maxpages = t->n / (t->big ? 36u : 18u) + 1;
    int n = 0, cap = 0;
    fpfi__tpage p;
    if (maxpages > FPFI_MAX_PAGES) maxpages = FPFI_MAX_PAGES;
    while (off != 0) {
        uint64_t next = 0;
        if ((uint64_t)n >= maxpages)
            return fpfi__fail(err, errlen, "too many TIFF pages (IFD chain loops or exceeds %d)", FPFI_MAX_PAGES);
        if (n < 64) {
            int k;
            for (k = 0; k < n; k++)
                if (seen[k] == off) return fpfi__fail(err, errlen, "TIFF IFD chain loops at offset %llu",
                                                      (unsigned long long)off);
            seen[n] = off;
        }
        if (fpfi__tiff_ifd(t, off, &p, &next, err, errlen)) return -1;
        if (n == want) { *page = p; return n + 1; }
        if (infos) {
            fpfi_page_info *pi;
            fpfi_type type = FPFI_U8;
            if (n == cap) {
                int ncap = cap ? cap * 2 : 8;
                fpfi_page_info *q = (fpfi_page_info *)FPFI_REALLOC(*infos, (size_t)ncap * sizeof *q);
                if (!q) return fpfi__fail(err, errlen, "out of memory");
                *infos = q;
                cap = ncap;
            }
            if (fpfi__tiff_validate(&p, &type, err, errlen)) {
                char msg[200];
                snprintf(msg, sizeof msg, "%s", err ? err : "");
                return fpfi__fail(err, errlen, "page %d: %s", n, msg);
            }
            pi = &(*infos)[n];
            memset(pi, 0, sizeof *pi);
            pi->width = (int)p.width;
            pi->height = (int)p.height;
            pi->samples = p.spp;
            pi->bits = p.bps;
            pi->type = type;
            pi->compression = p.compression;
            pi->planar = p.planar;
            pi->tiled = p.tiled;
            pi->palette = p.photometric == 3;
            pi->photometric = p.photometric;
        }
        n++;
        off = next;
    }
    if (want >= 0) return fpfi__fail(err, errlen, "page %d out of range (file has %d)", want, n);
    return n;
}

/* PackBits (TIFF 6.0 section 9): header byte n; 0..127 copy n+1 bytes, -127..-1 repeat
 * the next byte 1-n times, -128 is a no-op. */
static int fpfi__packbits(const unsigned char *s, size_t n, unsigned char *o, size_t cap, size_t *got) {
    size_t i = 0, k = 0;
    while (i < n && k < cap) {
        int c = (signed char)s[i++];
        if (c >= 0) {
            size_t len = (size_t)c + 1;
            if (n - i < len) return -1;
            if (cap - k < len) len = cap - k;
            memcpy(o + k, s + i, len);
            i += (size_t)c + 1;
            k += len;
        } else if (c != -128) {
            size_t len = (size_t)(1 - c);
            if (i >= n) return -1;
            if (cap - k < len) len = cap - k;
            memset(o + k, s[i++], len);
            k += len;
        }
    }
    *got = k;
    return 0;
}

/* LZW (TIFF 6.0 section 13): codes of 9..12 bits, most significant bit first. 256 clears
 * the table, 257 ends the data, new strings start at 258. The code width grows one code
 * early ("early change"): after the table reaches 511, 1023, 2047 entries. */
static int fpfi__lzw(const unsigned char *s, size_t n, unsigned char *o, size_t cap, size_t *got, char *err,
                     size_t errlen) {
    uint16_t prefix[4096], length[4096];
    unsigned char suffix[4096], first[4096];
    size_t pos = 0, k = 0;
    uint32_t acc = 0;
    int nbits = 0, width = 9, next = 258, old = -1, c;
    if (n >= 2 && s[0] == 0 && (s[1] & 1))
        return fpfi__fail(err, errlen, "old-style (LSB-first) LZW is not supported");
    for (c = 0; c < 256; c++) { length[c] = 1; suffix[c] = first[c] = (unsigned char)c; prefix[c] = 0; }
    while (k < cap) {
        int code, len;
        while (nbits < width) {
            if (pos >= n) { *got = k; return fpfi__fail(err, errlen, "truncated LZW data"); }
            acc = (acc << 8) | s[pos++];
            nbits += 8;
        }
        code = (int)((acc >> (nbits - width)) & ((1u << width) - 1));
        nbits -= width;
        if (code == 257) break;
        if (code == 256) { width = 9; next = 258; old = -1; continue; }
        if (code > next || (code == next && old < 0) || (code >= 258 && old < 0))
            return fpfi__fail(err, errlen, "LZW code out of range (%d, table has %d)", code, next);
        if (old >= 0 && next < 4096) {
            /* new entry: old string + first byte of the current one (or of old itself when
             * code == next, the KwKwK case) */
            prefix[next] = (uint16_t)old;
            suffix[next] = code == next ? first[old] : first[code];
            first[next] = first[old];
            length[next] = (uint16_t)(length[old] + 1);
            next++;
            if (next + 1 >= (1 << width) && width < 12) width++;
        }
        old = code;
        /* Emit the string for `code`, written back to front along the prefix chain. */
        len = length[code];
        {
            int avail = cap - k < (size_t)len ? (int)(cap - k) : len, j = len, cc = code;
            while (j > 0) {
                j--;
                if (j < avail) o[k + (size_t)j] = suffix[cc];
                cc = prefix[cc];
            }
            k += (size_t)avail;
        }
    }
    *got = k;
    return 0;
}

/* Undo predictor 2 (TIFF 6.0 section 14): each sample holds the difference to the same
 * sample of the previous pixel in the row. Values are in host order here. */
static void fpfi__unpredict2(unsigned char *row, size_t nvals, int stride, int bytes) {
    size_t i;
    if (bytes == 1) for (i = (size_t)stride; i < nvals; i++) row[i] = (unsigned char)(row[i] + row[i - stride]);
    else if (bytes == 2) {
        uint16_t *v = (uint16_t *)(void *)row;
        for (i = (size_t)stride; i < nvals; i++) v[i] = (uint16_t)(v[i] + v[i - stride]);
    } else {
        uint32_t *v = (uint32_t *)(void *)row;
        for (i = (size_t)stride; i < nvals; i++) v[i] = v[i] + v[i - stride];
    }
}

/* Undo predictor 3 (Adobe Photoshop TIFF Technical Note 3): the bytes of a row were split
 * into planes, most significant byte first, and then byte-differenced with the pixel stride. */
static int fpfi__unpredict3(unsigned char *row, size_t nvals, int stride, int bytes) {
    size_t nb = nvals * (size_t)bytes, i;
    unsigned char *tmp = (unsigned char *)FPFI_MALLOC(nb);
    int b, host_be = fpfi__host_big_endian();
    if (!tmp) return -1;
    for (i = (size_t)stride; i < nb; i++) row[i] = (unsigned char)(row[i] + row[i - stride]);
    for (i = 0; i < nvals; i++)
        for (b = 0; b < bytes; b++)
            tmp[i * bytes + (host_be ? b : bytes - 1 - b)] = row[(size_t)b * nvals + i];
    memcpy(row, tmp, nb);
    FPFI_FREE(tmp);
    return 0;
}

/* Decode page p, sample `sample` into out. */
static int fpfi__tiff_decode(const fpfi__tiff *t, const fpfi__tpage *p, int sample, fpfi_image *out, char *err,
                             size_t errlen) {
    fpfi_type type;
    int bytes, cspp, plane, k0, direct;
    uint64_t ck;
    uint64_t cw, ch, across, down, per_plane, nchunks, rowvals;
    size_t rowbytes, chunkcap;
    unsigned char *tmp;
    const char *what = p->tiled ? "tile" : "strip";
    if (fpfi__tiff_validate(p, &type, err, errlen)) return -1;
    if (sample < 0 || sample >= p->spp)
        return fpfi__fail(err, errlen, "sample %d out of range (page has %d)", sample, p->spp);
    bytes = p->bps / 8;
    cspp = p->planar == 2 ? 1 : p->spp; /* samples inside one chunk */
    plane = p->planar == 2 ? sample : 0;
    if (p->tiled) {
        cw = p->tile_w;
        ch = p->tile_h;
    } else {
        cw = p->width;
        ch = p->rps == 0 || p->rps > p->height ? p->height : p->rps;
    }
    across = (p->width + cw - 1) / cw;
    down = (p->height + ch - 1) / ch;
    per_plane = across * down;
    nchunks = per_plane * (uint64_t)(p->planar == 2 ? p->spp : 1);
    if (p->offsets.count < nchunks || (p->have_counts && p->counts.count < nchunks))
        return fpfi__fail(err, errlen, "TIFF page lists %llu %ss, needs %llu", (unsigned long long)p->offsets.count,
                          what, (unsigned long long)nchunks);
    if (!p->have_counts && p->compression != 1)
        return fpfi__fail(err, errlen, "compressed TIFF page without byte counts");
    rowvals = cw * (uint64_t)cspp;
    if (rowvals * (uint64_t)bytes * ch > FPFI_MAX_DECODED)
        return fpfi__fail(err, errlen, "%s too large (%llu x %llu)", what, (unsigned long long)cw,
                          (unsigned long long)ch);
    if (per_plane > ((uint64_t)1 << 24))
        return fpfi__fail(err, errlen, "too many %ss (%llu)", what, (unsigned long long)per_plane);
    rowbytes = (size_t)(rowvals * (uint64_t)bytes);
    chunkcap = rowbytes * (size_t)ch;
    /* Strips of one sample are rows of the image: decode them in place. Otherwise a strip or
     * tile buffer sits beside the image, and the two together must fit FPFI_MAX_DECODED. */
    direct = !p->tiled && cspp == 1;
    if (!direct && (uint64_t)chunkcap + p->width * p->height * (uint64_t)bytes > FPFI_MAX_DECODED)
        return fpfi__fail(err, errlen, "%s buffer plus image too large (%llu x %llu)", what,
                          (unsigned long long)p->width, (unsigned long long)p->height);
    if (fpfi_alloc(out, (int)p->width, (int)p->height, type)) return fpfi__fail(err, errlen, "out of memory");
    tmp = direct ? NULL : (unsigned char *)FPFI_MALLOC(chunkcap ? chunkcap : 1);
    if (!direct && !tmp) { fpfi_free(out); return fpfi__fail(err, errlen, "out of memory"); }
    for (ck = 0; ck < per_plane; ck++) {
        uint64_t idx = (uint64_t)plane * per_plane + (uint64_t)ck, off, cnt, x0, y0, rows, r;
        size_t need, got = 0;
        const unsigned char *src;
        k0 = 0;
        x0 = (ck % across) * cw;
        y0 = (ck / across) * ch;
        rows = p->tiled ? ch : (p->height - y0 < ch ? p->height - y0 : ch);
        need = rowbytes * (size_t)rows;
        if (direct) tmp = (unsigned char *)out->pixels + (size_t)y0 * rowbytes;
        off = fpfi__tval(t, &p->offsets, idx);
        cnt = p->have_counts ? fpfi__tval(t, &p->counts, idx) : need;
        if (off > t->n || cnt > t->n - off) {
            if (!direct) FPFI_FREE(tmp);
            fpfi_free(out);
            return fpfi__fail(err, errlen, "truncated %s data at offset %llu: %s %llu needs %llu bytes, file has %llu",
                              what, (unsigned long long)off, what, (unsigned long long)idx,
                              (unsigned long long)cnt, (unsigned long long)(off > t->n ? 0 : t->n - off));
        }
        src = t->d + off;
        switch (p->compression) {
        case 1:
            got = cnt < need ? (size_t)cnt : need;
            memcpy(tmp, src, got);
            break;
        case 32773:
            if (fpfi__packbits(src, (size_t)cnt, tmp, need, &got)) got = 0, k0 = -2;
            break;
        case 5:
            if (fpfi__lzw(src, (size_t)cnt, tmp, need, &got, err, errlen)) k0 = -1;
            break;
        default: {
            int rc = fpfi_inflate(src, (size_t)cnt, 1, tmp, need, &got, err, errlen);
            if (rc < 0) k0 = -1;
            break;
        }
        }
        if (k0 == 0 && got < need) {
            k0 = -1;
            fpfi__fail(err, errlen, "truncated %s data at offset %llu: %s %llu decodes to %lu bytes, expected %lu",
                       what, (unsigned long long)off, what, (unsigned long long)idx, (unsigned long)got,
                       (unsigned long)need);
        }
        if (k0 == -2) fpfi__fail(err, errlen, "truncated PackBits data in %s %llu", what, (unsigned long long)idx);
        if (k0 < 0) { if (!direct) FPFI_FREE(tmp); fpfi_free(out); return -1; }
        /* Predictor 3 works on file bytes; otherwise bring samples to host order first. */
        for (r = 0; r < rows; r++) {
            unsigned char *row = tmp + (size_t)r * rowbytes;
            if (p->predictor == 3) {
                if (fpfi__unpredict3(row, (size_t)rowvals, cspp, bytes)) {
                    if (!direct) FPFI_FREE(tmp);
                    fpfi_free(out);
                    return fpfi__fail(err, errlen, "out of memory");
                }
                continue;
            }
            if (bytes > 1 && t->be != fpfi__host_big_endian()) fpfi__swap(row, (size_t)rowvals, bytes);
            if (p->predictor == 2) fpfi__unpredict2(row, (size_t)rowvals, cspp, bytes);
        }
        /* Copy our sample of the part of the chunk that lies inside the image. */
        for (r = 0; !direct && r < rows && y0 + r < p->height; r++) {
            uint64_t ncol = p->width - x0 < cw ? p->width - x0 : cw;
            unsigned char *dst = (unsigned char *)out->pixels + ((size_t)(y0 + r) * p->width + x0) * (size_t)bytes;
            fpfi__pick(dst, tmp + (size_t)r * rowbytes, (size_t)ncol, cspp, p->planar == 2 ? 0 : sample, bytes);
        }
    }
    if (!direct) FPFI_FREE(tmp);
    /* Palette: gray palettes map to their gray level, coloured ones keep the index. */
    if (p->photometric == 3) {
        size_t ncol = (size_t)1 << p->bps, i, npix = (size_t)p->width * p->height;
        int gray = 1, shift = 8;
        uint64_t top = 0;
        for (i = 0; i < ncol && gray; i++) {
            uint64_t r = fpfi__tval(t, &p->colormap, i), g = fpfi__tval(t, &p->colormap, ncol + i),
                     b = fpfi__tval(t, &p->colormap, 2 * ncol + i);
            gray = r == g && g == b;
            if (r > top) top = r;
        }
        if (top < 256) shift = 0; /* some writers store 8-bit colormaps, not 16-bit ones */
        if (gray) {
            for (i = 0; i < npix; i++) {
                if (bytes == 1) {
                    unsigned char *v = (unsigned char *)out->pixels;
                    v[i] = (unsigned char)(fpfi__tval(t, &p->colormap, v[i]) >> shift);
                } else {
                    uint16_t *v = (uint16_t *)out->pixels;
                    v[i] = (uint16_t)fpfi__tval(t, &p->colormap, v[i]);
                }
            }
        }
    }
    return 0;
}

static int fpfi__tiff_read(const unsigned char *d, size_t n, int page, int sample, fpfi_image *out, char *err,
                           size_t errlen) {
    fpfi__tiff t;
    fpfi__tpage p;
    uint64_t first;
    t.d = d;
    t.n = n;
    if (page < 0) return fpfi__fail(err, errlen, "page %d out of range", page);
    if (fpfi__tiff_header(&t, &first, err, errlen)) return -1;
    if (fpfi__tiff_walk(&t, first, page, &p, NULL, err, errlen) < 0) return -1;
    return fpfi__tiff_decode(&t, &p, sample, out, err, errlen);
}

static int fpfi__tiff_info(const unsigned char *d, size_t n, fpfi_info *info, char *err, size_t errlen) {
    fpfi__tiff t;
    uint64_t first;
    int count;
    t.d = d;
    t.n = n;
    if (fpfi__tiff_header(&t, &first, err, errlen)) return -1;
    info->format = FPFI_FORMAT_TIFF;
    info->bigtiff = t.big;
    info->big_endian = t.be;
    count = fpfi__tiff_walk(&t, first, -1, NULL, &info->pages, err, errlen);
    if (count < 0) { FPFI_FREE(info->pages); info->pages = NULL; return -1; }
    if (count == 0) return fpfi__fail(err, errlen, "TIFF file has no pages");
    info->npages = count;
    return 0;
}

/* ==== PNG =========================================================================== */
/* PNG (ISO/IEC 15948, W3C PNG 2nd ed.): 8-byte signature, then chunks of big-endian
 * length, 4-letter type, data and a CRC-32 over type and data. IHDR gives the geometry;
 * the concatenated IDAT data is one zlib stream of filtered scanlines, each prefixed by a
 * filter-type byte (section 9). */

typedef struct fpfi__png {
    uint32_t w, h;
    int depth, ctype, channels, interlace;
    const unsigned char *plte;
    size_t plte_len;
    size_t idat_total;
} fpfi__png;

static uint32_t fpfi__be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Walk the chunks once: validate CRCs and IHDR; with idat != NULL also gather IDAT data. */
static int fpfi__png_scan(const unsigned char *d, size_t n, fpfi__png *g, unsigned char *idat, char *err,
                          size_t errlen) {
    size_t pos = 8, total = 0;
    int seen_ihdr = 0, seen_iend = 0;
    memset(g, 0, sizeof *g);
    if (n < 8) return fpfi__fail(err, errlen, "truncated PNG signature");
    while (!seen_iend) {
        uint32_t len;
        const unsigned char *type;
        if (n - pos < 12) return fpfi__fail(err, errlen, "truncated PNG chunk at offset %lu", (unsigned long)pos);
        len = fpfi__be32(d + pos);
        type = d + pos + 4;
        if (len > 0x7FFFFFFFu || n - pos - 12 < len)
            return fpfi__fail(err, errlen, "truncated PNG chunk %.4s at offset %lu (length %lu)", (const char *)type,
                              (unsigned long)pos, (unsigned long)len);
        if (fpfi_crc32(0, type, (size_t)len + 4) != fpfi__be32(type + 4 + len))
            return fpfi__fail(err, errlen, "PNG chunk %.4s CRC mismatch", (const char *)type);
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0) return fpfi__fail(err, errlen, "PNG does not start with IHDR");
        if (memcmp(type, "IHDR", 4) == 0) {
            const unsigned char *h = type + 4;
            if (len != 13 || seen_ihdr) return fpfi__fail(err, errlen, "bad PNG IHDR");
            g->w = fpfi__be32(h);
            g->h = fpfi__be32(h + 4);
            g->depth = h[8];
            g->ctype = h[9];
            g->interlace = h[12];
            if (h[10] != 0 || h[11] != 0) return fpfi__fail(err, errlen, "unknown PNG compression/filter method");
            seen_ihdr = 1;
        } else if (memcmp(type, "PLTE", 4) == 0) {
            g->plte = type + 4;
            g->plte_len = len;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            if (idat) memcpy(idat + total, type + 4, len);
            total += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
        } else if (!(type[0] & 0x20)) {
            return fpfi__fail(err, errlen, "unknown critical PNG chunk %.4s", (const char *)type);
        }
        pos += 12 + (size_t)len;
    }
    g->idat_total = total;
    /* PNG 11.2.2: allowed bit depths per colour type. */
    switch (g->ctype) {
    case 0: g->channels = 1; if (g->depth != 1 && g->depth != 2 && g->depth != 4 && g->depth != 8 && g->depth != 16) goto bad; break;
    case 2: g->channels = 3; if (g->depth != 8 && g->depth != 16) goto bad; break;
    case 3: g->channels = 1; if (g->depth != 1 && g->depth != 2 && g->depth != 4 && g->depth != 8) goto bad; break;
    case 4: g->channels = 2; if (g->depth != 8 && g->depth != 16) goto bad; break;
    case 6: g->channels = 4; if (g->depth != 8 && g->depth != 16) goto bad; break;
    default: goto bad;
    }
    if (g->interlace != 0) return fpfi__fail(err, errlen, "interlaced (Adam7) PNG is not supported");
    if (g->ctype == 3 && (g->plte_len == 0 || g->plte_len % 3 != 0 || g->plte_len > 768))
        return fpfi__fail(err, errlen, "PNG palette image without a valid PLTE chunk");
    if (fpfi__check_size(g->w, g->h, (uint64_t)g->channels * (g->depth == 16 ? 2 : 1), err, errlen)) return -1;
    if (total == 0) return fpfi__fail(err, errlen, "PNG has no image data (IDAT)");
    return 0;
bad:
    return fpfi__fail(err, errlen, "unsupported PNG colour type %d with bit depth %d", g->ctype, g->depth);
}

static int fpfi__paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* Reverse the per-scanline filters (PNG section 9.2); bpp = bytes per complete pixel, >= 1. */
static int fpfi__png_unfilter(unsigned char *raw, uint32_t h, size_t rowbytes, int bpp, char *err, size_t errlen) {
    uint32_t y;
    size_t i;
    unsigned char *prev = NULL;
    for (y = 0; y < h; y++) {
        unsigned char *line = raw + (size_t)y * (rowbytes + 1);
        int ft = line[0];
        unsigned char *cur = line + 1;
        for (i = 0; i < rowbytes; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
            int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
            switch (ft) {
            case 0: break;
            case 1: cur[i] = (unsigned char)(cur[i] + a); break;
            case 2: cur[i] = (unsigned char)(cur[i] + b); break;
            case 3: cur[i] = (unsigned char)(cur[i] + ((a + b) >> 1)); break;
            case 4: cur[i] = (unsigned char)(cur[i] + fpfi__paeth(a, b, c)); break;
            default: return fpfi__fail(err, errlen, "bad PNG filter type %d in row %lu", ft, (unsigned long)y);
            }
        }
        prev = cur;
    }
    return 0;
}

static int fpfi__png_read(const unsigned char *d, size_t n, int sample, fpfi_image *out, char *err,
                          size_t errlen) {
    fpfi__png g;
    unsigned char *idat, *raw;
    size_t rowbytes, rawlen, got, x;
    uint32_t y;
    int rc, gray = 1;
    if (fpfi__png_scan(d, n, &g, NULL, err, errlen)) return -1;
    if (sample < 0 || sample >= g.channels)
        return fpfi__fail(err, errlen, "sample %d out of range (PNG has %d)", sample, g.channels);
    rowbytes = ((size_t)g.w * (size_t)g.channels * (size_t)g.depth + 7) / 8;
    rawlen = (size_t)g.h * (rowbytes + 1);
    if ((uint64_t)rawlen + (uint64_t)g.w * g.h * (g.depth == 16 ? 2u : 1u) > FPFI_MAX_DECODED)
        return fpfi__fail(err, errlen, "PNG image data plus image too large (%lu x %lu)", (unsigned long)g.w,
                          (unsigned long)g.h);
    if ((uint64_t)rawlen > (uint64_t)g.idat_total * FPFI_DEFLATE_MAX_RATIO + 1024)
        return fpfi__fail(err, errlen, "decompression bomb: %lu compressed bytes cannot hold %lu bytes of image data",
                          (unsigned long)g.idat_total, (unsigned long)rawlen);
    idat = (unsigned char *)FPFI_MALLOC(g.idat_total);
    raw = (unsigned char *)FPFI_MALLOC(rawlen);
    if (!idat || !raw) { FPFI_FREE(idat); FPFI_FREE(raw); return fpfi__fail(err, errlen, "out of memory"); }
    fpfi__png_scan(d, n, &g, idat, NULL, 0);
    rc = fpfi_inflate(idat, g.idat_total, 1, raw, rawlen, &got, err, errlen);
    FPFI_FREE(idat);
    if (rc == FPFI_INFLATE_FULL) rc = fpfi__fail(err, errlen, "PNG image data is larger than its size (decompression bomb?)");
    else if (rc == 0 && got < rawlen)
        rc = fpfi__fail(err, errlen, "truncated PNG image data: %lu of %lu bytes", (unsigned long)got, (unsigned long)rawlen);
    if (rc == 0) rc = fpfi__png_unfilter(raw, g.h, rowbytes, (g.channels * g.depth + 7) / 8, err, errlen);
    if (rc == 0 && fpfi_alloc(out, (int)g.w, (int)g.h, g.depth == 16 ? FPFI_U16 : FPFI_U8))
        rc = fpfi__fail(err, errlen, "out of memory");
    if (rc) { FPFI_FREE(raw); return -1; }
    if (g.ctype == 3) /* gray palette? */
        for (x = 0; x + 2 < g.plte_len; x += 3) gray &= g.plte[x] == g.plte[x + 1] && g.plte[x] == g.plte[x + 2];
    for (y = 0; y < g.h; y++) {
        const unsigned char *line = raw + (size_t)y * (rowbytes + 1) + 1;
        for (x = 0; x < g.w; x++) {
            size_t i = (size_t)y * g.w + x;
            if (g.depth == 16) {
                const unsigned char *q = line + (x * (size_t)g.channels + (size_t)sample) * 2;
                ((uint16_t *)out->pixels)[i] = (uint16_t)((q[0] << 8) | q[1]);
            } else if (g.depth == 8) {
                unsigned v = line[x * (size_t)g.channels + (size_t)sample];
                if (g.ctype == 3 && gray) {
                    if (v * 3 >= g.plte_len) { FPFI_FREE(raw); fpfi_free(out); return fpfi__fail(err, errlen, "PNG palette index %u out of range", v); }
                    v = g.plte[v * 3];
                }
                ((unsigned char *)out->pixels)[i] = (unsigned char)v;
            } else { /* 1, 2, 4 bits: packed from the most significant bit (PNG 7.2) */
                size_t bit = x * (size_t)g.depth;
                unsigned v = (line[bit / 8] >> (8 - g.depth - (int)(bit % 8))) & ((1u << g.depth) - 1);
                if (g.ctype == 3 && gray) v = v * 3 < g.plte_len ? g.plte[v * 3] : 0;
                ((unsigned char *)out->pixels)[i] = (unsigned char)v;
            }
        }
    }
    FPFI_FREE(raw);
    return 0;
}

static int fpfi__png_info(const unsigned char *d, size_t n, fpfi_info *info, char *err, size_t errlen) {
    fpfi__png g;
    fpfi_page_info *pg;
    if (fpfi__png_scan(d, n, &g, NULL, err, errlen)) return -1;
    pg = (fpfi_page_info *)FPFI_CALLOC(1, sizeof *pg);
    if (!pg) return fpfi__fail(err, errlen, "out of memory");
    pg->width = (int)g.w;
    pg->height = (int)g.h;
    pg->samples = g.channels;
    pg->bits = g.depth;
    pg->type = g.depth == 16 ? FPFI_U16 : FPFI_U8;
    pg->compression = 8;
    pg->planar = 1;
    pg->palette = g.ctype == 3;
    pg->photometric = g.ctype;
    info->format = FPFI_FORMAT_PNG;
    info->big_endian = 1;
    info->npages = 1;
    info->pages = pg;
    return 0;
}

/* ==== dispatch ====================================================================== */

FPFIDEF int fpfi_read_memory(const void *data, size_t size, int page, int sample, fpfi_image *out, char *err,
                             size_t errlen) {
    const unsigned char *d = (const unsigned char *)data;
    out->pixels = NULL;
    out->w = out->h = 0;
    out->type = FPFI_U8;
    if (!d) return fpfi__fail(err, errlen, "no data");
    switch (fpfi__sniff(d, size)) {
    case FPFI_FORMAT_TIFF: return fpfi__tiff_read(d, size, page, sample, out, err, errlen);
    case FPFI_FORMAT_PNG:
        if (page != 0) return fpfi__fail(err, errlen, "page %d out of range (PNG has 1)", page);
        return fpfi__png_read(d, size, sample, out, err, errlen);
    case FPFI_FORMAT_PGM:
        if (page != 0) return fpfi__fail(err, errlen, "page %d out of range (PGM has 1)", page);
        return fpfi__pnm_read(d, size, sample, out, err, errlen);
    default: return fpfi__fail(err, errlen, "unknown image format (not TIFF, PNG or PGM)");
    }
}

/* The first bytes of a file must name a format we read before the whole file is loaded. */
static int fpfi__sniff_file(const char *path, char *err, size_t errlen) {
    unsigned char head[8];
    size_t got;
    FILE *f = fopen(path, "rb");
    if (!f) return fpfi__fail(err, errlen, "cannot open %s", path);
    got = fread(head, 1, sizeof head, f);
    if (ferror(f)) { fclose(f); return fpfi__fail(err, errlen, "read error on %s (a directory?)", path); }
    fclose(f);
    if (fpfi__sniff(head, got) == FPFI_FORMAT_UNKNOWN)
        return fpfi__fail(err, errlen, "%s: unknown image format (not TIFF, PNG or PGM)", path);
    return 0;
}

FPFIDEF int fpfi_read(const char *path, int page, int sample, fpfi_image *out, char *err, size_t errlen) {
    unsigned char *d;
    size_t n;
    int rc;
    out->pixels = NULL;
    if (fpfi__sniff_file(path, err, errlen)) return -1;
    if (fpfi_load_file(path, &d, &n, err, errlen)) return -1;
    rc = fpfi_read_memory(d, n, page, sample, out, err, errlen);
    FPFI_FREE(d);
    if (rc && err && errlen) { /* prefix the file name */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "%s: %s", path, msg);
    }
    return rc;
}

FPFIDEF int fpfi_info_memory(const void *data, size_t size, fpfi_info *info, char *err, size_t errlen) {
    const unsigned char *d = (const unsigned char *)data;
    memset(info, 0, sizeof *info);
    switch (fpfi__sniff(d, size)) {
    case FPFI_FORMAT_TIFF: return fpfi__tiff_info(d, size, info, err, errlen);
    case FPFI_FORMAT_PNG: return fpfi__png_info(d, size, info, err, errlen);
    case FPFI_FORMAT_PGM: return fpfi__pnm_info(d, size, info, err, errlen);
    default: return fpfi__fail(err, errlen, "unknown image format (not TIFF, PNG or PGM)");
    }
}

FPFIDEF int fpfi_info_read(const char *path, fpfi_info *info, char *err, size_t errlen) {
    unsigned char *d;
    size_t n;
    int rc;
    memset(info, 0, sizeof *info);
    if (fpfi_load_file(path, &d, &n, err, errlen)) return -1;
    rc = fpfi_info_memory(d, n, info, err, errlen);
    FPFI_FREE(d);
    return rc;
}

FPFIDEF void fpfi_info_free(fpfi_info *info) {
    if (!info) return;
    FPFI_FREE(info->pages);
    info->pages = NULL;
    info->npages = 0;
}

/* ==== writers ======================================================================= */

typedef struct fpfi__buf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} fpfi__buf;

static void fpfi__bput(fpfi__buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 1024;
        unsigned char *q;
        while (cap - b->len < n) cap *= 2;
        q = (unsigned char *)FPFI_REALLOC(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void fpfi__bput_u(fpfi__buf *b, uint32_t v, int bytes, int be) {
    unsigned char t[4];
    int i;
    for (i = 0; i < bytes; i++) t[be ? bytes - 1 - i : i] = (unsigned char)(v >> (8 * i));
    fpfi__bput(b, t, (size_t)bytes);
}

FPFIDEF int fpfi_write_file_atomic(const char *path, const void *data, size_t size, char *err, size_t errlen) {
    static unsigned long counter = 0;
    char tmp[4096];
    FILE *f = NULL;
    int tries, ok;
    if (strlen(path) + 40 > sizeof tmp) return fpfi__fail(err, errlen, "path too long: %s", path);
    /* A name nobody else uses: the target name plus time, a counter and a stack address. */
    for (tries = 0; tries < 100 && !f; tries++) {
        FILE *probe;
        snprintf(tmp, sizeof tmp, "%s.tmp%lx%lx%lx", path, (unsigned long)time(NULL), ++counter,
                 (unsigned long)(((size_t)&tmp >> 4) & 0xFFFFF));
        probe = fopen(tmp, "rb");
        if (probe) { fclose(probe); continue; }
        f = fopen(tmp, "wb");
    }
    if (!f) return fpfi__fail(err, errlen, "cannot create %s", tmp);
    ok = fwrite(data, 1, size, f) == size;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok) { remove(tmp); return fpfi__fail(err, errlen, "write error on %s", tmp); }
    if (rename(tmp, path) != 0) {
        /* C's rename() may refuse to replace an existing file (Windows); retry once. */
        remove(path);
        if (rename(tmp, path) != 0) { remove(tmp); return fpfi__fail(err, errlen, "cannot rename %s to %s", tmp, path); }
    }
    return 0;
}

static void fpfi__minmax(const fpfi_image *img, double *mn, double *mx) {
    size_t i, n = (size_t)img->w * img->h;
    *mn = *mx = n ? fpfi_get(img, 0) : 0;
    for (i = 1; i < n; i++) {
        double v = fpfi_get(img, i);
        if (v < *mn) *mn = v;
        if (v > *mx) *mx = v;
    }
}

static int fpfi__check_image(const fpfi_image *img, char *err, size_t errlen) {
    if (!img || !img->pixels || img->w <= 0 || img->h <= 0 || img->w > FPFI_MAX_DIM || img->h > FPFI_MAX_DIM ||
        (unsigned)img->type > FPFI_F32)
        return fpfi__fail(err, errlen, "invalid image");
    return 0;
}

/* Baseline little-endian TIFF with one uncompressed strip (TIFF 6.0 sections 2, 3, 8).
 * ImageDescription starts with "ImageJ=" so ImageJ/Fiji take min/max as display range
 * and read the samples as they are (labels stay labels). Tags are in ascending order. */
static int fpfi__encode_tiff(const fpfi_image *img, fpfi__buf *b, char *err, size_t errlen) {
    enum { NTAGS = 12 };
    char desc[160];
    size_t dlen, npix = (size_t)img->w * img->h, data_off, desc_off, ifd_off = 8;
    int bytes = (int)fpfi_type_size(img->type), host_be = fpfi__host_big_endian(), fmt;
    double mn, mx;
    if (npix * (size_t)bytes > 0xFFFFFFF0u - 4096) return fpfi__fail(err, errlen, "image too large for classic TIFF");
    fpfi__minmax(img, &mn, &mx);
    snprintf(desc, sizeof desc, "ImageJ=1.11a\nimages=1\nmin=%.9g\nmax=%.9g\n", mn, mx);
    dlen = strlen(desc) + 1;
    desc_off = ifd_off + 2 + NTAGS * 12 + 4;
    data_off = (desc_off + dlen + 15) & ~(size_t)15;
    fmt = img->type == FPFI_F32 ? 3 : (img->type == FPFI_S8 || img->type == FPFI_S16 || img->type == FPFI_S32) ? 2 : 1;
    fpfi__bput(b, "II", 2);
    fpfi__bput_u(b, 42, 2, 0);
    fpfi__bput_u(b, (uint32_t)ifd_off, 4, 0);
    fpfi__bput_u(b, NTAGS, 2, 0);
#define FPFI__TAG(tag, type, count, value)          \
    do {                                            \
        fpfi__bput_u(b, tag, 2, 0);                  \
        fpfi__bput_u(b, type, 2, 0);                 \
        fpfi__bput_u(b, (uint32_t)(count), 4, 0);    \
        if ((type) == 3) { fpfi__bput_u(b, (uint32_t)(value), 2, 0); fpfi__bput_u(b, 0, 2, 0); } \
        else fpfi__bput_u(b, (uint32_t)(value), 4, 0); \
    } while (0)
    FPFI__TAG(256, 4, 1, img->w);                     /* ImageWidth */
    FPFI__TAG(257, 4, 1, img->h);                     /* ImageLength */
    FPFI__TAG(258, 3, 1, bytes * 8);                  /* BitsPerSample */
    FPFI__TAG(259, 3, 1, 1);                          /* Compression: none */
    FPFI__TAG(262, 3, 1, 1);                          /* Photometric: BlackIsZero */
    FPFI__TAG(270, 2, dlen, desc_off);                /* ImageDescription */
    FPFI__TAG(273, 4, 1, data_off);                   /* StripOffsets */
    FPFI__TAG(277, 3, 1, 1);                          /* SamplesPerPixel */
    FPFI__TAG(278, 4, 1, img->h);                     /* RowsPerStrip: one strip */
    FPFI__TAG(279, 4, 1, npix * (size_t)bytes);       /* StripByteCounts */
    FPFI__TAG(284, 3, 1, 1);                          /* PlanarConfiguration: contiguous */
    FPFI__TAG(339, 3, 1, fmt);                        /* SampleFormat */
#undef FPFI__TAG
    fpfi__bput_u(b, 0, 4, 0); /* no next IFD */
    fpfi__bput(b, desc, dlen);
    while (b->len < data_off) fpfi__bput(b, "", 1);
    if (bytes > 1 && host_be) { /* file is little-endian */
        size_t start = b->len;
        fpfi__bput(b, img->pixels, npix * (size_t)bytes);
        if (!b->oom) fpfi__swap(b->p + start, npix, bytes);
    } else {
        fpfi__bput(b, img->pixels, npix * (size_t)bytes);
    }
    return 0;
}

static void fpfi__png_chunk(fpfi__buf *b, const char *type, const unsigned char *data, size_t len) {
    size_t start;
    fpfi__bput_u(b, (uint32_t)len, 4, 1);
    start = b->len;
    fpfi__bput(b, type, 4);
    if (len) fpfi__bput(b, data, len);
    if (!b->oom) fpfi__bput_u(b, (uint32_t)fpfi_crc32(0, b->p + start, len + 4), 4, 1);
}

/* PNG from big-endian samples (`channels` per pixel of depth 8 or 16). Each row picks
 * the filter with the smallest sum of absolute byte values (the PNG book's heuristic). */
static int fpfi__encode_png_raw(const unsigned char *px, uint32_t w, uint32_t h, int channels, int depth,
                                fpfi__buf *b, char *err, size_t errlen) {
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char ihdr[13], *filt, *z = NULL;
    size_t rowbytes = (size_t)w * (size_t)channels * (size_t)(depth / 8), zlen = 0, i;
    int bpp = channels * depth / 8, f;
    uint32_t y;
    filt = (unsigned char *)FPFI_MALLOC((size_t)h * (rowbytes + 1));
    if (!filt) return fpfi__fail(err, errlen, "out of memory");
    for (y = 0; y < h; y++) {
        const unsigned char *cur = px + (size_t)y * rowbytes, *prev = y ? cur - rowbytes : NULL;
        unsigned char *dst = filt + (size_t)y * (rowbytes + 1);
        unsigned long best = (unsigned long)-1;
        for (f = 0; f < 5; f++) {
            unsigned long cost = 0;
            for (i = 0; i < rowbytes; i++) {
                int a = i >= (size_t)bpp ? cur[i - bpp] : 0, bb = prev ? prev[i] : 0;
                int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0, pred = 0;
                unsigned char v;
                if (f == 1) pred = a; else if (f == 2) pred = bb; else if (f == 3) pred = (a + bb) >> 1;
                else if (f == 4) pred = fpfi__paeth(a, bb, c);
                v = (unsigned char)(cur[i] - pred);
                cost += v < 128 ? v : 256u - v;
            }
            if (cost < best) { best = cost; dst[0] = (unsigned char)f; }
        }
        f = dst[0];
        for (i = 0; i < rowbytes; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0, bb = prev ? prev[i] : 0;
            int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0, pred = 0;
            if (f == 1) pred = a; else if (f == 2) pred = bb; else if (f == 3) pred = (a + bb) >> 1;
            else if (f == 4) pred = fpfi__paeth(a, bb, c);
            dst[1 + i] = (unsigned char)(cur[i] - pred);
        }
    }
    if (fpfi_zlib_compress(filt, (size_t)h * (rowbytes + 1), &z, &zlen)) {
        FPFI_FREE(filt);
        return fpfi__fail(err, errlen, "out of memory");
    }
    FPFI_FREE(filt);
    fpfi__bput(b, sig, 8);
    ihdr[0] = (unsigned char)(w >> 24); ihdr[1] = (unsigned char)(w >> 16); ihdr[2] = (unsigned char)(w >> 8); ihdr[3] = (unsigned char)w;
    ihdr[4] = (unsigned char)(h >> 24); ihdr[5] = (unsigned char)(h >> 16); ihdr[6] = (unsigned char)(h >> 8); ihdr[7] = (unsigned char)h;
    ihdr[8] = (unsigned char)depth;
    ihdr[9] = (unsigned char)(channels == 3 ? 2 : 0);
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    fpfi__png_chunk(b, "IHDR", ihdr, 13);
    for (i = 0; i < zlen; i += 1u << 20) /* IDAT chunks of at most 1 MiB */
        fpfi__png_chunk(b, "IDAT", z + i, zlen - i < (1u << 20) ? zlen - i : (1u << 20));
    fpfi__png_chunk(b, "IEND", NULL, 0);
    FPFI_FREE(z);
    return 0;
}

/* Samples in big-endian byte order (PNG and PGM store 16-bit values that way). */
static unsigned char *fpfi__be_copy(const fpfi_image *img) {
    size_t n = (size_t)img->w * img->h * fpfi_type_size(img->type);
    unsigned char *p = (unsigned char *)FPFI_MALLOC(n ? n : 1);
    if (!p) return NULL;
    memcpy(p, img->pixels, n);
    if (fpfi_type_size(img->type) > 1 && !fpfi__host_big_endian())
        fpfi__swap(p, (size_t)img->w * img->h, (int)fpfi_type_size(img->type));
    return p;
}

FPFIDEF int fpfi_encode(fpfi_format format, const fpfi_image *img, unsigned char **out, size_t *outlen, char *err,
                        size_t errlen) {
    fpfi__buf b;
    int rc = 0;
    memset(&b, 0, sizeof b);
    *out = NULL;
    *outlen = 0;
    if (fpfi__check_image(img, err, errlen)) return -1;
    if (format == FPFI_FORMAT_TIFF) {
        rc = fpfi__encode_tiff(img, &b, err, errlen);
    } else if (format == FPFI_FORMAT_PNG || format == FPFI_FORMAT_PGM) {
        unsigned char *be;
        if (img->type != FPFI_U8 && img->type != FPFI_U16)
            return fpfi__fail(err, errlen, "%s stores only uint8 or uint16, not %s", format == FPFI_FORMAT_PNG ? "PNG" : "PGM",
                              fpfi_type_name(img->type));
        be = fpfi__be_copy(img);
        if (!be) return fpfi__fail(err, errlen, "out of memory");
        if (format == FPFI_FORMAT_PNG) {
            rc = fpfi__encode_png_raw(be, (uint32_t)img->w, (uint32_t)img->h, 1, fpfi__type_bits(img->type), &b, err, errlen);
        } else {
            char hdr[64];
            snprintf(hdr, sizeof hdr, "P5\n%d %d\n%d\n", img->w, img->h, img->type == FPFI_U8 ? 255 : 65535);
            fpfi__bput(&b, hdr, strlen(hdr));
            fpfi__bput(&b, be, (size_t)img->w * img->h * fpfi_type_size(img->type));
        }
        FPFI_FREE(be);
    } else {
        return fpfi__fail(err, errlen, "unknown output format");
    }
    if (rc == 0 && b.oom) rc = fpfi__fail(err, errlen, "out of memory");
    if (rc) { FPFI_FREE(b.p); return -1; }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

static int fpfi__write(fpfi_format format, const char *path, const fpfi_image *img, char *err, size_t errlen) {
    unsigned char *p;
    size_t n;
    int rc;
    if (fpfi_encode(format, img, &p, &n, err, errlen)) return -1;
    rc = fpfi_write_file_atomic(path, p, n, err, errlen);
    FPFI_FREE(p);
    return rc;
}

FPFIDEF int fpfi_write_pgm(const char *path, const fpfi_image *img, char *err, size_t errlen) {
    return fpfi__write(FPFI_FORMAT_PGM, path, img, err, errlen);
}
FPFIDEF int fpfi_write_tiff(const char *path, const fpfi_image *img, char *err, size_t errlen) {
    return fpfi__write(FPFI_FORMAT_TIFF, path, img, err, errlen);
}
FPFIDEF int fpfi_write_png(const char *path, const fpfi_image *img, char *err, size_t errlen) {
    return fpfi__write(FPFI_FORMAT_PNG, path, img, err, errlen);
}

FPFIDEF int fpfi_encode_png_rgb(int w, int h, const unsigned char *rgb, unsigned char **out, size_t *outlen,
                                char *err, size_t errlen) {
    fpfi__buf b;
    int rc;
    memset(&b, 0, sizeof b);
    *out = NULL; *outlen = 0;
    if (!rgb || w <= 0 || h <= 0 || w > FPFI_MAX_DIM || h > FPFI_MAX_DIM) return fpfi__fail(err, errlen, "invalid image");
    rc = fpfi__encode_png_raw(rgb, (uint32_t)w, (uint32_t)h, 3, 8, &b, err, errlen);
    if (rc == 0 && b.oom) rc = fpfi__fail(err, errlen, "out of memory");
    if (rc != 0) { FPFI_FREE(b.p); return rc; }
    *out = b.p; *outlen = b.len;
    return 0;
}

FPFIDEF int fpfi_write_png_rgb(const char *path, int w, int h, const unsigned char *rgb, char *err, size_t errlen) {
    unsigned char *data;
    size_t len;
    int rc = fpfi_encode_png_rgb(w, h, rgb, &data, &len, err, errlen);
    if (rc == 0) rc = fpfi_write_file_atomic(path, data, len, err, errlen);
    FPFI_FREE(data);
    return rc;
}

#endif /* FPF_IMAGE_IMPLEMENTATION */
#endif /* FPF_IMAGE_H */
