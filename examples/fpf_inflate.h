/* examples/fpf_inflate.h - a small, bounds-checked DEFLATE decoder and encoder (libc only).
 *
 * Used by fpf_image.h for TIFF Deflate (compression 8 / 32946), PNG IDAT streams and
 * PNG writing. Part of the same stb-style single-header scheme: the implementation is
 * compiled where FPF_IMAGE_IMPLEMENTATION is defined before including fpf_image.h.
 *
 *   int fpfi_inflate(src, srclen, zlib, dst, dstcap, &dstlen, err, errlen)
 *       Decodes a raw DEFLATE stream (RFC 1951) or, with zlib != 0, a zlib stream
 *       (RFC 1950: 2-byte header, DEFLATE data, big-endian Adler-32). Output goes into
 *       the caller's buffer of dstcap bytes, so a "decompression bomb" can never make
 *       it allocate: a stream that wants to produce more returns FPFI_INFLATE_FULL.
 *       Returns 0 (stream ended, *dstlen bytes written), FPFI_INFLATE_FULL (dst filled
 *       and the stream still had output), or -1 with err filled.
 *   int fpfi_zlib_compress(src, n, &out, &outlen)
 *       zlib stream with fixed-Huffman blocks and a greedy LZ77 match finder
 *       (RFC 1951 3.2.6). Small code, not the best ratio; out is malloc'ed.
 *   fpfi_crc32 / fpfi_adler32: the PNG chunk CRC (PNG spec, Annex D) and zlib Adler-32.
 *
 * The decoder follows the structure of Mark Adler's "puff": canonical Huffman codes
 * are decoded one bit at a time from per-length counts, which is short and obviously
 * correct, and fast enough for microscopy-sized images. */
#ifndef FPF_INFLATE_H
#define FPF_INFLATE_H
#include <stddef.h>

#define FPFI_INFLATE_FULL 1

/* Public functions have external linkage unless FPFIDEF is predefined (e.g. to static). */
#ifndef FPFIDEF
#define FPFIDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif
FPFIDEF int fpfi_inflate(const unsigned char *src, size_t srclen, int zlib, unsigned char *dst,
                        size_t dstcap, size_t *dstlen, char *err, size_t errlen);
FPFIDEF int fpfi_zlib_compress(const unsigned char *src, size_t n, unsigned char **out,
                              size_t *outlen);
FPFIDEF unsigned long fpfi_crc32(unsigned long crc, const unsigned char *p, size_t n);
FPFIDEF unsigned long fpfi_adler32(unsigned long adler, const unsigned char *p, size_t n);
#ifdef __cplusplus
}
#endif

#ifdef FPF_IMAGE_IMPLEMENTATION
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Every allocation of fpf_inflate.h and fpf_image.h goes through these (define all four or none;
 * buffers these headers hand out are then released with FPFI_FREE). */
#ifndef FPFI_MALLOC
#define FPFI_MALLOC(n) malloc(n)
#define FPFI_REALLOC(p, n) realloc(p, n)
#define FPFI_CALLOC(n, k) calloc(n, k)
#define FPFI_FREE(p) free(p)
#endif

/* ---- checksums -------------------------------------------------------------------- */

/* CRC-32 with polynomial 0xEDB88320 (reflected), as in PNG spec Annex D. Start with 0. */
FPFIDEF unsigned long fpfi_crc32(unsigned long crc, const unsigned char *p, size_t n) {
    static unsigned long table[256];
    static int ready = 0;
    size_t i;
    if (!ready) {
        unsigned long c;
        int k, j;
        for (k = 0; k < 256; k++) {
            c = (unsigned long)k;
            for (j = 0; j < 8; j++) c = (c & 1) ? 0xEDB88320UL ^ (c >> 1) : c >> 1;
            table[k] = c;
        }
        ready = 1;
    }
    crc = crc ^ 0xFFFFFFFFUL;
    for (i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return (crc ^ 0xFFFFFFFFUL) & 0xFFFFFFFFUL;
}

/* Adler-32 (RFC 1950 section 8.2). Start with 1. */
FPFIDEF unsigned long fpfi_adler32(unsigned long adler, const unsigned char *p, size_t n) {
    unsigned long a = adler & 0xFFFF, b = (adler >> 16) & 0xFFFF;
    while (n > 0) {
        size_t k = n < 5552 ? n : 5552; /* largest k with no 32-bit overflow */
        n -= k;
        while (k--) { a += *p++; b += a; }
        a %= 65521UL;
        b %= 65521UL;
    }
    return (b << 16) | a;
}

/* ---- decoder ---------------------------------------------------------------------- */

typedef struct fpfi__inflate {
    const unsigned char *in;
    size_t inlen, inpos;
    unsigned long bitbuf;
    int bitcnt;
    unsigned char *out;
    size_t outcap, outpos;
    int full;        /* output buffer was filled while the stream still had data */
    char *err;
    size_t errlen;
} fpfi__inflate;

/* A canonical Huffman code given as counts per length and symbols in code order. */
typedef struct fpfi__huff {
    short count[16];
    short symbol[320];
} fpfi__huff;

static int fpfi__inf_fail(fpfi__inflate *s, const char *msg) {
    if (s->err && s->errlen) snprintf(s->err, s->errlen, "%s", msg);
    return -1;
}

/* Bits are packed starting from the least significant bit of each byte (RFC 1951 3.1.1).
 * Returns -1 when the input runs out. */
static long fpfi__bits(fpfi__inflate *s, int need) {
    unsigned long v = s->bitbuf;
    while (s->bitcnt < need) {
        if (s->inpos >= s->inlen) return -1;
        v |= (unsigned long)s->in[s->inpos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    s->bitbuf = v >> need;
    s->bitcnt -= need;
    return (long)(v & ((1UL << need) - 1UL));
}

/* Decode one symbol: Huffman codes are packed most-significant bit first (3.1.1), so
 * walk the lengths, comparing the code read so far with the first code of each length. */
static int fpfi__decode(fpfi__inflate *s, const fpfi__huff *h) {
    int code = 0, first = 0, index = 0, len;
    for (len = 1; len < 16; len++) {
        long b = fpfi__bits(s, 1);
        int count;
        if (b < 0) return -1;
        code |= (int)b;
        count = h->count[len];
        if (code - count < first) return h->symbol[index + (code - first)];
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -2; /* ran out of codes: invalid */
}

/* Build the decoding tables from code lengths (3.2.2). Returns 0 if the code is complete,
 * > 0 if incomplete (allowed for a single distance code), < 0 if over-subscribed. */
static int fpfi__build(fpfi__huff *h, const short *length, int n) {
    short offs[16];
    int sym, len, left;
    for (len = 0; len < 16; len++) h->count[len] = 0;
    for (sym = 0; sym < n; sym++) h->count[length[sym]]++;
    if (h->count[0] == n) return 0;
    left = 1;
    for (len = 1; len < 16; len++) {
        left <<= 1;
        left -= h->count[len];
        if (left < 0) return left;
    }
    offs[1] = 0;
    for (len = 1; len < 15; len++) offs[len + 1] = (short)(offs[len] + h->count[len]);
    for (sym = 0; sym < n; sym++)
        if (length[sym] != 0) h->symbol[offs[length[sym]]++] = (short)sym;
    return left;
}

static int fpfi__put(fpfi__inflate *s, unsigned char c) {
    if (s->outpos >= s->outcap) { s->full = 1; return -1; }
    s->out[s->outpos++] = c;
    return 0;
}

/* Stored block (3.2.4): align to a byte, LEN and its one's complement NLEN, raw bytes. */
static int fpfi__stored(fpfi__inflate *s) {
    size_t len, nlen;
    s->bitbuf = 0;
    s->bitcnt = 0;
    if (s->inpos + 4 > s->inlen) return fpfi__inf_fail(s, "truncated deflate stored block");
    len = s->in[s->inpos] | ((size_t)s->in[s->inpos + 1] << 8);
    nlen = s->in[s->inpos + 2] | ((size_t)s->in[s->inpos + 3] << 8);
    s->inpos += 4;
    if (len != (~nlen & 0xFFFF)) return fpfi__inf_fail(s, "deflate stored block length check failed");
    if (s->inpos + len > s->inlen) return fpfi__inf_fail(s, "truncated deflate stored block");
    while (len--) {
        if (fpfi__put(s, s->in[s->inpos++])) return 1;
    }
    return 0;
}

/* Decode literal/length and distance symbols until end-of-block (3.2.5). */
static int fpfi__codes(fpfi__inflate *s, const fpfi__huff *lencode, const fpfi__huff *distcode) {
    static const short lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const unsigned short dbase[30] = {
        1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
        193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
        int sym = fpfi__decode(s, lencode);
        if (sym == -1) return fpfi__inf_fail(s, "truncated deflate data");
        if (sym < 0) return fpfi__inf_fail(s, "invalid deflate literal/length code");
        if (sym < 256) {
            if (fpfi__put(s, (unsigned char)sym)) return 1;
        } else if (sym == 256) {
            return 0;
        } else {
            long e;
            size_t len, dist;
            sym -= 257;
            if (sym >= 29) return fpfi__inf_fail(s, "invalid deflate length symbol");
            e = fpfi__bits(s, lext[sym]);
            if (e < 0) return fpfi__inf_fail(s, "truncated deflate data");
            len = (size_t)(lbase[sym] + e);
            sym = fpfi__decode(s, distcode);
            if (sym == -1) return fpfi__inf_fail(s, "truncated deflate data");
            if (sym < 0 || sym >= 30) return fpfi__inf_fail(s, "invalid deflate distance code");
            e = fpfi__bits(s, dext[sym]);
            if (e < 0) return fpfi__inf_fail(s, "truncated deflate data");
            dist = (size_t)(dbase[sym] + e);
            if (dist > s->outpos) return fpfi__inf_fail(s, "deflate distance too far back");
            while (len--) {
                if (fpfi__put(s, s->out[s->outpos - dist])) return 1;
            }
        }
    }
}

/* Fixed Huffman codes (3.2.6). */
static int fpfi__fixed(fpfi__inflate *s) {
    static fpfi__huff lencode, distcode;
    static int ready = 0;
    if (!ready) {
        short lengths[288];
        int sym;
        for (sym = 0; sym < 144; sym++) lengths[sym] = 8;
        for (; sym < 256; sym++) lengths[sym] = 9;
        for (; sym < 280; sym++) lengths[sym] = 7;
        for (; sym < 288; sym++) lengths[sym] = 8;
        fpfi__build(&lencode, lengths, 288);
        for (sym = 0; sym < 30; sym++) lengths[sym] = 5;
        fpfi__build(&distcode, lengths, 30);
        ready = 1;
    }
    return fpfi__codes(s, &lencode, &distcode);
}

/* Dynamic Huffman codes (3.2.7): code lengths are themselves Huffman coded. */
static int fpfi__dynamic(fpfi__inflate *s) {
    static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    short lengths[320];
    fpfi__huff lencode, distcode;
    long nlen, ndist, ncode;
    int index, err;
    nlen = fpfi__bits(s, 5);
    ndist = fpfi__bits(s, 5);
    ncode = fpfi__bits(s, 4);
    if (nlen < 0 || ndist < 0 || ncode < 0) return fpfi__inf_fail(s, "truncated deflate header");
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > 286 || ndist > 30) return fpfi__inf_fail(s, "bad deflate code counts");
    for (index = 0; index < ncode; index++) {
        long b = fpfi__bits(s, 3);
        if (b < 0) return fpfi__inf_fail(s, "truncated deflate header");
        lengths[order[index]] = (short)b;
    }
    for (; index < 19; index++) lengths[order[index]] = 0;
    if (fpfi__build(&lencode, lengths, 19) != 0) return fpfi__inf_fail(s, "bad deflate code-length code");
    index = 0;
    while (index < nlen + ndist) {
        int sym = fpfi__decode(s, &lencode);
        if (sym == -1) return fpfi__inf_fail(s, "truncated deflate header");
        if (sym < 0) return fpfi__inf_fail(s, "bad deflate code-length symbol");
        if (sym < 16) {
            lengths[index++] = (short)sym;
        } else {
            short len = 0;
            long rep;
            if (sym == 16) {
                if (index == 0) return fpfi__inf_fail(s, "deflate repeat with no previous length");
                len = lengths[index - 1];
                rep = fpfi__bits(s, 2);
                rep = rep < 0 ? -1 : 3 + rep;
            } else if (sym == 17) {
                rep = fpfi__bits(s, 3);
                rep = rep < 0 ? -1 : 3 + rep;
            } else {
                rep = fpfi__bits(s, 7);
                rep = rep < 0 ? -1 : 11 + rep;
            }
            if (rep < 0) return fpfi__inf_fail(s, "truncated deflate header");
            if (index + rep > nlen + ndist) return fpfi__inf_fail(s, "too many deflate code lengths");
            while (rep--) lengths[index++] = len;
        }
    }
    if (lengths[256] == 0) return fpfi__inf_fail(s, "deflate block has no end-of-block code");
    /* An incomplete code is only allowed as a single code of one bit (RFC 1951 3.2.7, as zlib
     * and puff read it): anything else leaves bit patterns that decode to nothing. */
    err = fpfi__build(&lencode, lengths, (int)nlen);
    if (err < 0 || (err > 0 && nlen - lencode.count[0] != lencode.count[1]) || (err > 0 && lencode.count[1] != 1))
        return fpfi__inf_fail(s, "bad deflate literal/length code lengths");
    err = fpfi__build(&distcode, lengths + nlen, (int)ndist);
    if (err < 0 || (err > 0 && ndist - distcode.count[0] != distcode.count[1]) || (err > 0 && distcode.count[1] != 1))
        return fpfi__inf_fail(s, "bad deflate distance code lengths");
    return fpfi__codes(s, &lencode, &distcode);
}

FPFIDEF int fpfi_inflate(const unsigned char *src, size_t srclen, int zlib, unsigned char *dst,
                        size_t dstcap, size_t *dstlen, char *err, size_t errlen) {
    fpfi__inflate s;
    int last, rc;
    memset(&s, 0, sizeof s);
    s.in = src;
    s.inlen = srclen;
    s.out = dst;
    s.outcap = dstcap;
    s.err = err;
    s.errlen = errlen;
    *dstlen = 0;
    if (zlib) {
        /* RFC 1950 2.2: CMF (method 8, window <= 32K), FLG; (CMF*256+FLG) % 31 == 0; no dictionary. */
        if (srclen < 2) return fpfi__inf_fail(&s, "truncated zlib header");
        if ((src[0] & 0x0F) != 8 || (src[0] >> 4) > 7)
            return fpfi__inf_fail(&s, "zlib stream is not deflate");
        if (((unsigned)src[0] * 256u + src[1]) % 31u != 0)
            return fpfi__inf_fail(&s, "zlib header check failed");
        if (src[1] & 0x20) return fpfi__inf_fail(&s, "zlib preset dictionary not supported");
        s.inpos = 2;
    }
    do {
        long hdr = fpfi__bits(&s, 3);
        if (hdr < 0) return fpfi__inf_fail(&s, "truncated deflate data");
        last = (int)(hdr & 1);
        switch (hdr >> 1) {
        case 0: rc = fpfi__stored(&s); break;
        case 1: rc = fpfi__fixed(&s); break;
        case 2: rc = fpfi__dynamic(&s); break;
        default: return fpfi__inf_fail(&s, "invalid deflate block type 3");
        }
        if (rc < 0 && s.full) rc = 1;
        if (rc < 0) return -1;
        if (rc > 0) { *dstlen = s.outpos; return FPFI_INFLATE_FULL; }
    } while (!last);
    *dstlen = s.outpos;
    if (zlib) {
        unsigned long want, got;
        if (s.inpos + 4 > s.inlen) return fpfi__inf_fail(&s, "truncated zlib Adler-32 checksum");
        want = ((unsigned long)s.in[s.inpos] << 24) | ((unsigned long)s.in[s.inpos + 1] << 16) |
               ((unsigned long)s.in[s.inpos + 2] << 8) | s.in[s.inpos + 3];
        got = fpfi_adler32(1, dst, s.outpos);
        if (want != got) return fpfi__inf_fail(&s, "zlib Adler-32 checksum mismatch");
    }
    return 0;
}

/* ---- encoder ---------------------------------------------------------------------- */

typedef struct fpfi__bitw {
    unsigned char *buf;
    size_t len, cap;
    unsigned long acc;
    int n;
    int oom;
} fpfi__bitw;

static void fpfi__wbyte(fpfi__bitw *w, unsigned char b) {
    if (w->len == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        unsigned char *p = (unsigned char *)FPFI_REALLOC(w->buf, cap);
        if (!p) { w->oom = 1; return; }
        w->buf = p;
        w->cap = cap;
    }
    w->buf[w->len++] = b;
}

/* Append n bits LSB-first (the order of non-Huffman fields, 3.1.1). */
static void fpfi__wbits(fpfi__bitw *w, unsigned long v, int n) {
    w->acc |= v << w->n;
    w->n += n;
    while (w->n >= 8) {
        fpfi__wbyte(w, (unsigned char)(w->acc & 0xFF));
        w->acc >>= 8;
        w->n -= 8;
    }
}

/* Huffman codes go most-significant bit first, so reverse before appending. */
static void fpfi__whuff(fpfi__bitw *w, unsigned code, int n) {
    unsigned r = 0;
    int i;
    for (i = 0; i < n; i++) r |= ((code >> i) & 1u) << (n - 1 - i);
    fpfi__wbits(w, r, n);
}

/* Fixed literal/length code of 3.2.6. */
static void fpfi__wlit(fpfi__bitw *w, int sym) {
    if (sym < 144) fpfi__whuff(w, 0x30u + (unsigned)sym, 8);
    else if (sym < 256) fpfi__whuff(w, 0x190u + (unsigned)(sym - 144), 9);
    else if (sym < 280) fpfi__whuff(w, (unsigned)(sym - 256), 7);
    else fpfi__whuff(w, 0xC0u + (unsigned)(sym - 280), 8);
}

static void fpfi__wmatch(fpfi__bitw *w, int len, int dist) {
    static const short lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const int dbase[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                  33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    int l = 28, d = 29;
    while (lbase[l] > len) l--;
    while (dbase[d] > dist) d--;
    fpfi__wlit(w, 257 + l);
    fpfi__wbits(w, (unsigned long)(len - lbase[l]), lext[l]);
    fpfi__whuff(w, (unsigned)d, 5);
    fpfi__wbits(w, (unsigned long)(dist - dbase[d]), dext[d]);
}

#define FPFI__HBITS 15
#define FPFI__WIN 32768
#define FPFI__CHAIN 24

/* zlib stream, one fixed-Huffman block, greedy LZ77 with short hash chains. */
FPFIDEF int fpfi_zlib_compress(const unsigned char *src, size_t n, unsigned char **out,
                              size_t *outlen) {
    fpfi__bitw w;
    long *head = (long *)FPFI_MALLOC(sizeof(long) << FPFI__HBITS);
    long *prev = (long *)FPFI_MALLOC(sizeof(long) * FPFI__WIN);
    size_t i = 0;
    unsigned long adler = fpfi_adler32(1, src, n);
    memset(&w, 0, sizeof w);
    *out = NULL;
    *outlen = 0;
    if (!head || !prev) { FPFI_FREE(head); FPFI_FREE(prev); return -1; }
    for (i = 0; i < ((size_t)1 << FPFI__HBITS); i++) head[i] = -1;
    fpfi__wbyte(&w, 0x78); /* CMF: deflate, 32K window */
    fpfi__wbyte(&w, 0x01); /* FLG: fastest, check bits make 0x7801 % 31 == 0 */
    fpfi__wbits(&w, 1, 1); /* BFINAL */
    fpfi__wbits(&w, 1, 2); /* BTYPE = 01 fixed Huffman */
    i = 0;
    while (i < n) {
        int best = 0, bestd = 0;
        if (i + 3 <= n) {
            unsigned h = ((unsigned)src[i] << 10 ^ (unsigned)src[i + 1] << 5 ^ src[i + 2]) &
                         ((1u << FPFI__HBITS) - 1);
            long cand = head[h];
            int chain = FPFI__CHAIN;
            size_t maxlen = n - i < 258 ? n - i : 258;
            while (cand >= 0 && i - (size_t)cand <= FPFI__WIN - 1 && chain-- > 0) {
                size_t l = 0;
                while (l < maxlen && src[(size_t)cand + l] == src[i + l]) l++;
                if ((int)l > best) { best = (int)l; bestd = (int)(i - (size_t)cand); }
                if (l == maxlen) break;
                cand = prev[(size_t)cand % FPFI__WIN];
            }
        }
        if (best >= 3) {
            int k;
            fpfi__wmatch(&w, best, bestd);
            for (k = 0; k < best; k++, i++) {
                if (i + 3 <= n) {
                    unsigned h = ((unsigned)src[i] << 10 ^ (unsigned)src[i + 1] << 5 ^ src[i + 2]) &
                                 ((1u << FPFI__HBITS) - 1);
                    prev[i % FPFI__WIN] = head[h];
                    head[h] = (long)i;
                }
            }
        } else {
            if (i + 3 <= n) {
                unsigned h = ((unsigned)src[i] << 10 ^ (unsigned)src[i + 1] << 5 ^ src[i + 2]) &
                             ((1u << FPFI__HBITS) - 1);
                prev[i % FPFI__WIN] = head[h];
                head[h] = (long)i;
            }
            fpfi__wlit(&w, src[i]);
            i++;
        }
    }
    fpfi__wlit(&w, 256);
    if (w.n > 0) fpfi__wbits(&w, 0, 8 - w.n); /* flush to a byte boundary */
    fpfi__wbyte(&w, (unsigned char)(adler >> 24));
    fpfi__wbyte(&w, (unsigned char)(adler >> 16));
    fpfi__wbyte(&w, (unsigned char)(adler >> 8));
    fpfi__wbyte(&w, (unsigned char)adler);
    FPFI_FREE(head);
    FPFI_FREE(prev);
    if (w.oom) { FPFI_FREE(w.buf); return -1; }
    *out = w.buf;
    *outlen = w.len;
    return 0;
}
#endif /* FPF_IMAGE_IMPLEMENTATION */
#endif /* FPF_INFLATE_H */
