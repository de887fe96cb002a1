/* examples/fpf_coco.h - COCO instances JSON for the example CLIs: reading and writing.
   SPDX-License-Identifier: MIT            (full text in LICENSE)

   One place for the JSON the CLIs read and write: fpf_eval reads ground truth and results with
   it, fpf_synth writes its ground truth with it, and the tests read that back with it. The RLE
   itself (column-major runs, COCO's compressed counts strings) is fpf_eval.h's: this header only
   moves it in and out of JSON.

       #define FPF_EVAL_IMPLEMENTATION   // in one file: the RLE functions
       #include "fpf_eval.h"
       #define FPF_COCO_IMPLEMENTATION
       #include "fpf_coco.h"

       fpfc_json root; char err[1024];
       if (fpfc_json_parse_file("gt.json", &root, err, sizeof err)) puts(err);
       const fpfc_json *images = fpfc_json_get(&root, "images");   // NULL when absent
       fpfc_json_free(&root);

       fpfc_buf b = {0};
       fpfc_printf(&b, "{\"name\": ");
       fpfc_json_string(&b, name);                 // quoted, with \\ \" and control characters escaped
       fpfc_write_rle(&b, &rle, 1);                // {"size": [h, w], "counts": "..."}
       if (b.failed) ...out of memory...; free(b.p);

   Reading: a DOM of fpfc_json values (RFC 8259: strings with every escape, \u surrogate pairs to
   UTF-8, numbers correctly rounded by strtod, nesting up to 200). Errors come back as -1 with a
   one-line message in err ("PATH: malformed JSON: WHAT at line L, column C").
   Integers (fpfc_json_int) are numbers with no fraction within +-2^53; anything else, 1e300
   say, is refused rather than cast.

   Config macros
       FPF_COCO_IMPLEMENTATION   emit the implementation in this translation unit
       FPF_COCO_STATIC           make all functions static
*/
#ifndef FPF_COCO_H_INCLUDED
#define FPF_COCO_H_INCLUDED
#include <stddef.h>
#include "fpf_eval.h"

#ifndef FPFC_DEF
#if defined(FPF_COCO_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define FPFC_DEF static __attribute__((unused))
#elif defined(FPF_COCO_STATIC)
#define FPFC_DEF static
#else
#define FPFC_DEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reading ------------------------------------------------------------------------------ */
typedef enum fpfc_type { FPFC_NULL, FPFC_BOOL, FPFC_NUM, FPFC_STR, FPFC_ARR, FPFC_OBJ } fpfc_type;
typedef struct fpfc_json {
    fpfc_type t;
    double num;
    char *str;          /* FPFC_STR (NUL-terminated), len bytes */
    size_t len, n;      /* n: items of FPFC_ARR / FPFC_OBJ */
    struct fpfc_json *items; /* FPFC_ARR items, FPFC_OBJ values */
    char **keys;        /* FPFC_OBJ keys */
} fpfc_json;

/* Parses a whole file into root (free it with fpfc_json_free, also after an error). */
FPFC_DEF int fpfc_json_parse_file(const char *path, fpfc_json *root, char *err, size_t err_size);
/* The same on text in memory; name stands for the path in messages. */
FPFC_DEF int fpfc_json_parse(const char *text, size_t len, const char *name, fpfc_json *root,
                             char *err, size_t err_size);
FPFC_DEF void fpfc_json_free(fpfc_json *v);
/* A whole file, NUL-terminated (malloc'd; *size excludes the NUL). */
FPFC_DEF int fpfc_read_text(const char *path, char **data, size_t *size, char *err, size_t err_size);
FPFC_DEF const fpfc_json *fpfc_json_get(const fpfc_json *obj, const char *key); /* NULL if absent */
FPFC_DEF int fpfc_json_int(const fpfc_json *v, long long *out);                 /* 0 if an integer */
/* A COCO segmentation {"size": [h, w], "counts": [...] or "..."} into an RLE; what names the
   annotation in messages. */
FPFC_DEF int fpfc_read_rle(const fpfc_json *seg, fpf_eval_rle *out, const char *what, char *err,
                           size_t err_size);

/* ---- writing ------------------------------------------------------------------------------ */
/* A growable string; failed is set (and further output dropped) when memory runs out. */
typedef struct fpfc_buf { char *p; size_t len, cap; int failed; } fpfc_buf;
FPFC_DEF void fpfc_printf(fpfc_buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* s as a JSON string literal: quotes, backslashes and control characters escaped. */
FPFC_DEF void fpfc_json_string(fpfc_buf *b, const char *s);
/* {"size": [h, w], "counts": ...}: the counts as COCO's compressed string (as_string) or a list. */
FPFC_DEF void fpfc_write_rle(fpfc_buf *b, const fpf_eval_rle *r, int as_string);

#ifdef __cplusplus
}
#endif
#endif /* FPF_COCO_H_INCLUDED */

#if defined(FPF_COCO_IMPLEMENTATION) && !defined(FPF_COCO_IMPLEMENTATION_DONE)
#define FPF_COCO_IMPLEMENTATION_DONE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static int fpfc__fail(char *err, size_t err_size, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fpfc__fail(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    if (!err || !err_size) return -1;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- reading: a small JSON DOM ------------------------------------------------------------- */
typedef struct fpfc__parser {
    const char *s, *end, *path;
    int depth;
    char *err;
    size_t err_size;
} fpfc__parser;

static int fpfc__err(fpfc__parser *p, const char *what) {
    return fpfc__fail(p->err, p->err_size, "%s: malformed JSON: %s", p->path, what);
}

FPFC_DEF void fpfc_json_free(fpfc_json *v) {
    size_t i;
    if (!v) return;
    for (i = 0; i < v->n; i++) {
        fpfc_json_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items); free(v->keys); free(v->str);
    memset(v, 0, sizeof *v);
}

static void fpfc__ws(fpfc__parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int fpfc__hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int fpfc__string(fpfc__parser *p, char **out, size_t *outlen) {
    size_t cap = 16, n = 0;
    char *b = (char *)malloc(cap);
    if (!b) return fpfc__fail(p->err, p->err_size, "out of memory");
    p->s++; /* opening quote */
    for (;;) {
        unsigned cp;
        if (p->s >= p->end) { free(b); return fpfc__err(p, "unterminated string"); }
        if (n + 8 > cap) {
            char *nb = (char *)realloc(b, cap *= 2);
            if (!nb) { free(b); return fpfc__fail(p->err, p->err_size, "out of memory"); }
            b = nb;
        }
        if (*p->s == '"') { p->s++; break; }
        if ((unsigned char)*p->s < 0x20) { free(b); return fpfc__err(p, "control character in string"); }
        if (*p->s != '\\') { b[n++] = *p->s++; continue; }
        if (p->end - p->s < 2) { free(b); return fpfc__err(p, "bad escape"); }
        p->s++;
        switch (*p->s++) {
        case '"': b[n++] = '"'; break;
        case '\\': b[n++] = '\\'; break;
        case '/': b[n++] = '/'; break;
        case 'b': b[n++] = '\b'; break;
        case 'f': b[n++] = '\f'; break;
        case 'n': b[n++] = '\n'; break;
        case 'r': b[n++] = '\r'; break;
        case 't': b[n++] = '\t'; break;
        case 'u':
            if (p->end - p->s < 4 || fpfc__hex4(p->s, &cp)) { free(b); return fpfc__err(p, "bad \\u escape"); }
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                unsigned lo;
                if (!fpfc__hex4(p->s + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p->s += 6;
                }
            }
            if (cp < 0x80) b[n++] = (char)cp;
            else if (cp < 0x800) { b[n++] = (char)(0xC0 | (cp >> 6)); b[n++] = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) {
                b[n++] = (char)(0xE0 | (cp >> 12)); b[n++] = (char)(0x80 | ((cp >> 6) & 63));
                b[n++] = (char)(0x80 | (cp & 63));
            } else {
                b[n++] = (char)(0xF0 | (cp >> 18)); b[n++] = (char)(0x80 | ((cp >> 12) & 63));
                b[n++] = (char)(0x80 | ((cp >> 6) & 63)); b[n++] = (char)(0x80 | (cp & 63));
            }
            break;
        default: free(b); return fpfc__err(p, "bad escape");
        }
    }
    b[n] = 0;
    *out = b; *outlen = n;
    return 0;
}

static int fpfc__number(fpfc__parser *p, double *out) {
    const char *s = p->s;
    char buf[64];
    size_t n;
    if (s < p->end && *s == '-') s++;
    if (s >= p->end || *s < '0' || *s > '9') return fpfc__err(p, "bad number");
    if (*s == '0') s++;
    else while (s < p->end && *s >= '0' && *s <= '9') s++;
    if (s < p->end && *s == '.') {
        s++;
        if (s >= p->end || *s < '0' || *s > '9') return fpfc__err(p, "bad number");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    if (s < p->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < p->end && (*s == '+' || *s == '-')) s++;
        if (s >= p->end || *s < '0' || *s > '9') return fpfc__err(p, "bad number");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    n = (size_t)(s - p->s);
    if (n >= sizeof buf) return fpfc__err(p, "number too long");
    memcpy(buf, p->s, n); buf[n] = 0;
    *out = strtod(buf, NULL); /* correctly rounded, like Python's float() */
    p->s = s;
    return 0;
}

static int fpfc__value(fpfc__parser *p, fpfc_json *v);

static int fpfc__push(fpfc__parser *p, fpfc_json *v, size_t *cap, char *key) {
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        fpfc_json *ni = (fpfc_json *)realloc(v->items, nc * sizeof *ni);
        if (!ni) return fpfc__fail(p->err, p->err_size, "out of memory");
        v->items = ni;
        if (v->t == FPFC_OBJ) {
            char **nk = (char **)realloc(v->keys, nc * sizeof *nk);
            if (!nk) return fpfc__fail(p->err, p->err_size, "out of memory");
            v->keys = nk;
        }
        *cap = nc;
    }
    memset(&v->items[v->n], 0, sizeof(fpfc_json));
    if (v->t == FPFC_OBJ) v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int fpfc__container(fpfc__parser *p, fpfc_json *v) {
    char close = *p->s == '[' ? ']' : '}';
    size_t cap = 0;
    v->t = close == ']' ? FPFC_ARR : FPFC_OBJ;
    if (++p->depth > 200) return fpfc__err(p, "nesting too deep");
    p->s++;
    fpfc__ws(p);
    if (p->s < p->end && *p->s == close) { p->s++; p->depth--; return 0; }
    for (;;) {
        char *key = NULL;
        size_t klen;
        fpfc__ws(p);
        if (v->t == FPFC_OBJ) {
            if (p->s >= p->end || *p->s != '"') return fpfc__err(p, "expected a string key");
            if (fpfc__string(p, &key, &klen)) return -1;
            fpfc__ws(p);
            if (p->s >= p->end || *p->s != ':') { free(key); return fpfc__err(p, "expected ':'"); }
            p->s++;
        }
        if (fpfc__push(p, v, &cap, key)) { free(key); return -1; }
        if (fpfc__value(p, &v->items[v->n - 1])) return -1;
        fpfc__ws(p);
        if (p->s < p->end && *p->s == ',') { p->s++; continue; }
        if (p->s < p->end && *p->s == close) { p->s++; break; }
        return fpfc__err(p, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
    p->depth--;
    return 0;
}

static int fpfc__lit(fpfc__parser *p, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n)) return fpfc__err(p, "unexpected token");
    p->s += n;
    return 0;
}

static int fpfc__value(fpfc__parser *p, fpfc_json *v) {
    fpfc__ws(p);
    if (p->s >= p->end) return fpfc__err(p, "unexpected end of input");
    switch (*p->s) {
    case '{': case '[': return fpfc__container(p, v);
    case '"': v->t = FPFC_STR; return fpfc__string(p, &v->str, &v->len);
    case 't': v->t = FPFC_BOOL; v->num = 1; return fpfc__lit(p, "true");
    case 'f': v->t = FPFC_BOOL; v->num = 0; return fpfc__lit(p, "false");
    case 'n': v->t = FPFC_NULL; return fpfc__lit(p, "null");
    default: v->t = FPFC_NUM; return fpfc__number(p, &v->num);
    }
}

FPFC_DEF int fpfc_read_text(const char *path, char **data, size_t *size, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0, r;
    if (!f) return fpfc__fail(err, err_size, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        if (n + 65536 > cap) {
            char *nb = (char *)realloc(b, cap = cap ? cap * 2 : 1 << 20);
            if (!nb) { free(b); fclose(f); return fpfc__fail(err, err_size, "%s: out of memory", path); }
            b = nb;
        }
        r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) { free(b); fclose(f); return fpfc__fail(err, err_size, "%s: read error", path); }
    fclose(f);
    b[n] = 0;
    *data = b; *size = n;
    return 0;
}

FPFC_DEF int fpfc_json_parse(const char *text, size_t len, const char *name, fpfc_json *root,
                             char *err, size_t err_size) {
    fpfc__parser p;
    int rc;
    memset(root, 0, sizeof *root);
    p.s = text; p.end = text + len; p.path = name; p.depth = 0; p.err = err; p.err_size = err_size;
    rc = fpfc__value(&p, root);
    if (!rc) {
        fpfc__ws(&p);
        if (p.s != p.end) rc = fpfc__err(&p, "trailing characters after the top-level value");
    }
    if (rc) { /* locate the error for the message */
        int line = 1, col = 1;
        const char *c;
        char msg[1024];
        for (c = text; c < p.s && c < p.end; c++) { if (*c == '\n') { line++; col = 1; } else col++; }
        snprintf(msg, sizeof msg, "%s", err ? err : "");
        fpfc__fail(err, err_size, "%.900s at line %d, column %d", msg, line, col);
        fpfc_json_free(root);
    }
    return rc;
}

FPFC_DEF int fpfc_json_parse_file(const char *path, fpfc_json *root, char *err, size_t err_size) {
    char *data = NULL;
    size_t size = 0;
    int rc;
    memset(root, 0, sizeof *root);
    if (fpfc_read_text(path, &data, &size, err, err_size)) return -1;
    rc = fpfc_json_parse(data, size, path, root, err, err_size);
    free(data);
    return rc;
}

FPFC_DEF const fpfc_json *fpfc_json_get(const fpfc_json *o, const char *key) {
    size_t i;
    if (!o || o->t != FPFC_OBJ) return NULL;
    for (i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

/* An integral number within ±2^53 (exact in a double; anything larger, 1e300 say, is refused
   before the cast, which would be undefined). */
FPFC_DEF int fpfc_json_int(const fpfc_json *v, long long *out) {
    if (!v || v->t != FPFC_NUM || !(v->num >= -9007199254740992.0 && v->num <= 9007199254740992.0) ||
        v->num != (double)(long long)v->num)
        return -1;
    *out = (long long)v->num;
    return 0;
}


/* ---- reading: COCO fields ---------------------------------------------------------------- */

/* COCO RLE object {"size": [h, w], "counts": [...] or "..."} -> rle */
FPFC_DEF int fpfc_read_rle(const fpfc_json *seg, fpf_eval_rle *out, const char *what, char *err, size_t err_size) {
    const fpfc_json *size = fpfc_json_get(seg, "size"), *counts = fpfc_json_get(seg, "counts");
    long long h, w;
    fpf_eval_result r;
    if (seg && seg->t == FPFC_ARR) return fpfc__fail(err, err_size, "%s: polygon segmentation is not supported (use RLE)", what);
    if (!size || size->t != FPFC_ARR || size->n != 2 || fpfc_json_int(&size->items[0], &h) ||
        fpfc_json_int(&size->items[1], &w) || h < 0 || w < 0 || h > 1 << 30 || w > 1 << 30 || !counts)
        return fpfc__fail(err, err_size, "%s: segmentation is not a COCO RLE {size, counts}", what);
    if (counts->t == FPFC_STR) {
        r = fpf_eval_rle_from_string(out, counts->str, counts->len, (int)h, (int)w, NULL);
    } else if (counts->t == FPFC_ARR) {
        uint32_t *c = (uint32_t *)malloc((counts->n + 1) * sizeof *c);
        size_t i;
        if (!c) return fpfc__fail(err, err_size, "out of memory");
        for (i = 0; i < counts->n; i++) {
            long long v;
            if (fpfc_json_int(&counts->items[i], &v) || v < 0 || v > 0xFFFFFFFFll) {
                free(c);
                return fpfc__fail(err, err_size, "%s: RLE counts must be non-negative integers", what);
            }
            c[i] = (uint32_t)v;
        }
        r = fpf_eval_rle_from_counts(out, c, counts->n, (int)h, (int)w, NULL);
        free(c);
    } else {
        return fpfc__fail(err, err_size, "%s: RLE counts must be a list or a string", what);
    }
    if (r != FPF_EVAL_OK)
        return fpfc__fail(err, err_size, "%s: bad RLE (%s; counts must add up to height*width)", what, fpf_eval_result_string(r));
    return 0;
}


/* ---- writing ------------------------------------------------------------------------------- */

FPFC_DEF void fpfc_printf(fpfc_buf *b, const char *fmt, ...) {
    va_list ap;
    int n;
    if (b->failed) return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->failed = 1; return; }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *q;
        while (b->len + (size_t)n + 1 > cap) cap *= 2;
        if (!(q = (char *)realloc(b->p, cap))) { b->failed = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

FPFC_DEF void fpfc_json_string(fpfc_buf *b, const char *s) {
    fpfc_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fpfc_printf(b, "\\%c", c);
        else if (c < 0x20) fpfc_printf(b, "\\u%04x", c);
        else fpfc_printf(b, "%c", c);
    }
    fpfc_printf(b, "\"");
}

FPFC_DEF void fpfc_write_rle(fpfc_buf *b, const fpf_eval_rle *r, int as_string) {
    size_t i, len = 0;
    fpfc_printf(b, "{\"size\": [%d, %d], \"counts\": ", r->h, r->w);
    if (as_string) {
        char *s;
        fpf_eval_rle_to_string(r, NULL, 0, &len);
        if (!(s = (char *)malloc(len + 1)) || fpf_eval_rle_to_string(r, s, len + 1, &len) != FPF_EVAL_OK) {
            free(s);
            b->failed = 1;
            return;
        }
        fpfc_json_string(b, s); /* the counts alphabet has '\\' (48 + 44) */
        free(s);
    } else {
        fpfc_printf(b, "[");
        for (i = 0; i < r->m; i++) fpfc_printf(b, "%s%lu", i ? ", " : "", (unsigned long)r->counts[i]);
        fpfc_printf(b, "]");
    }
    fpfc_printf(b, "}");
}

#ifdef __cplusplus
}
#endif
#endif /* FPF_COCO_IMPLEMENTATION */
