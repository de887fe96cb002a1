/* tests/fpt.h - reader for the .fpt tensor dumps the Python reference writes
 * (format: weights/reference/CONTRACT.md §5). */
#ifndef FPF_FPT_H
#define FPF_FPT_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FPT_SAMPLES 4096

typedef struct fpt_rec {
    char name[128];
    int dtype;              /* 0 f32, 1 i32, 2 u8, 3 f64 */
    int kind;               /* 0 full, 1 sampled */
    int ndim, dims[8];
    size_t n;               /* elements of the full tensor */
    const void *data;       /* kind 0: n values; kind 1: FPT_SAMPLES values */
    double stats[3];        /* kind 1: sum, sum |x|, max |x| */
    int used;               /* set by the test when compared */
} fpt_rec;

typedef struct fpt_file {
    unsigned char *buf;     /* the file as read */
    unsigned char *store;   /* every record's data, each at an 8-byte aligned offset */
    int n;
    fpt_rec *rec;
} fpt_file;

static inline size_t fpt_elsize(int dtype) { return dtype == 2 ? 1 : dtype == 3 ? 8 : 4; }

static inline unsigned fpt_u32(const unsigned char *p) {
    return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24;
}

static inline size_t fpt_rec_bytes(const fpt_rec *r) { return (r->kind == 1 ? FPT_SAMPLES : r->n) * fpt_elsize(r->dtype); }

/* Records sit at any byte offset of the file; typed loads need them aligned, so each record's
   data is copied into f->store at a multiple of 8 (repro #5: misaligned loads under UBSan). */
static inline int fpt_align_records(fpt_file *f) {
    size_t total = 8, off = 0;
    int i;
    for (i = 0; i < f->n; i++) total += (fpt_rec_bytes(&f->rec[i]) + 7) / 8 * 8;
    if (!(f->store = (unsigned char *)malloc(total))) return -1;
    for (i = 0; i < f->n; i++) {
        size_t nb = fpt_rec_bytes(&f->rec[i]);
        if (nb) memcpy(f->store + off, f->rec[i].data, nb);
        f->rec[i].data = f->store + off;
        off += (nb + 7) / 8 * 8;
    }
    return 0;
}

/* 1 when every record's data is aligned for its element type. */
static inline int fpt_records_aligned(const fpt_file *f) {
    int i;
    for (i = 0; i < f->n; i++)
        if ((uintptr_t)f->rec[i].data % fpt_elsize(f->rec[i].dtype)) return 0;
    return 1;
}

/* Returns 0 on success; the records point into f->store. */
static inline int fpt_load(const char *path, fpt_file *f) {
    FILE *fp = fopen(path, "rb");
    long len;
    size_t pos = 12;
    int i, k;
    memset(f, 0, sizeof *f);
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END); len = ftell(fp); fseek(fp, 0, SEEK_SET);
    f->buf = (unsigned char *)malloc((size_t)len + 8);
    if (!f->buf || fread(f->buf, 1, (size_t)len, fp) != (size_t)len) { fclose(fp); return -1; }
    fclose(fp);
    if (len < 12 || memcmp(f->buf, "FPFT0001", 8) != 0) return -2;
    f->n = (int)fpt_u32(f->buf + 8);
    f->rec = (fpt_rec *)calloc((size_t)f->n + 1, sizeof(fpt_rec));
    for (i = 0; i < f->n; i++) {
        fpt_rec *r = &f->rec[i];
        unsigned nl;
        if (pos + 2 > (size_t)len) return -3;
        nl = (unsigned)f->buf[pos] | (unsigned)f->buf[pos + 1] << 8;
        pos += 2;
        if (nl >= sizeof r->name || pos + nl + 4 > (size_t)len) return -3;
        memcpy(r->name, f->buf + pos, nl);
        pos += nl;
        r->dtype = f->buf[pos]; r->kind = f->buf[pos + 1]; r->ndim = f->buf[pos + 2];
        pos += 4;
        if (r->ndim > 8) return -3;
        r->n = 1;
        for (k = 0; k < r->ndim; k++) { r->dims[k] = (int)fpt_u32(f->buf + pos); r->n *= (size_t)r->dims[k]; pos += 4; }
        if (r->kind == 1) {
            memcpy(r->stats, f->buf + pos, 24);
            pos += 24;
            r->data = f->buf + pos;
            pos += FPT_SAMPLES * fpt_elsize(r->dtype);
        } else {
            r->data = f->buf + pos;
            pos += r->n * fpt_elsize(r->dtype);
        }
        if (pos > (size_t)len) return -3;
    }
    return fpt_align_records(f);
}

static inline fpt_rec *fpt_find(fpt_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++) if (strcmp(f->rec[i].name, name) == 0) return &f->rec[i];
    return NULL;
}

static inline void fpt_free(fpt_file *f) { free(f->buf); free(f->store); free(f->rec); memset(f, 0, sizeof *f); }
#endif
