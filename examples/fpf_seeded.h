/* examples/fpf_seeded.h - seeded random FPF models, built in memory as .fpf file images.
 *
 * Implements weights/reference/CONTRACT.md §1 (the `paper` and `tiny` configs) and §3 (raw Keras
 * tensors from splitmix64 keyed by fnv1a64 of the tensor name), then folds each BatchNorm into
 * the conv before it and writes the .fpf format of fpf.h. The Python reference generates the
 * same raw tensors, so big models never need to be committed. Used by build/fpf_mkmodel, the
 * tests and the benchmarks.
 *
 *   size_t n; void *file = fpf_seeded_file(&cfg, seed, nucleus_seed, &n);   // malloc'd
 *
 * Include after fpf.h (the interface is enough). */
#ifndef FPF_SEEDED_H
#define FPF_SEEDED_H
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fpf.h"

/* The contract's configurations: "paper" (spec §1.4) and "tiny" (widths / 4, FPN 32). */
static inline int fpf_seeded_config(fpf_config *c, const char *name, fpf_variant v) {
    int i;
    fpf_config_paper(c, v);
    if (strcmp(name, "paper") == 0) return 1;
    if (strcmp(name, "tiny") != 0) return 0;
    c->stem_width = 16;
    for (i = 0; i < 4; i++) { c->bottleneck[i] = 8 << i; c->stage_out[i] = 32 << i; }
    c->fpn_width = 32; c->rpn_width = 64; c->fc_width = 128; c->mask_width = 32;
    return 1;
}

static inline int fpf_seeded_variant(const char *name, fpf_variant *v) {
    static const char *names[5] = {"cores", "without_nucleus", "with_nucleus", "fpf_add", "fpf_concat"};
    int i;
    for (i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) { *v = (fpf_variant)i; return 1; }
    return 0;
}

static inline uint64_t fpf_seeded_fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001b3ull; }
    return h;
}

/* Fills out[0..n) for raw tensor `name` with values uniform in [lo, hi] (contract §3). */
static inline void fpf_seeded_fill(const char *name, uint64_t seed, uint64_t nucleus_seed, double lo,
                            double hi, float *out, size_t n) {
    char base[128];
    const char *core = strstr(name, "_core/");
    uint64_t key;
    size_t i;
    if (core) { /* the nucleus tower: key from the nucleus seed and the name without "_core" */
        size_t k = (size_t)(core - name);
        memcpy(base, name, k);
        strcpy(base + k, core + 5);
        key = nucleus_seed ^ fpf_seeded_fnv1a(base);
    } else {
        key = seed ^ fpf_seeded_fnv1a(name);
    }
    for (i = 0; i < n; i++) {
        uint64_t z = key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        out[i] = (float)(lo + (hi - lo) * ((double)(z >> 40) * (1.0 / 16777216.0)));
    }
}

/* The gain g of a kernel's range ±sqrt(g / fan_in) (contract §3): 3 keeps activations O(1)
   through the residual stages; the class and mask logits get more spread so that scores and
   masks are not all near the 0.7 and 0.5 thresholds. */
static inline double fpf_seeded_gain(const char *layer) {
    if (strcmp(layer, "mrcnn_class_logits") == 0) return 100.0;
    if (strcmp(layer, "mrcnn_mask") == 0) return 300.0;
    return 3.0;
}

static inline void fpf_seeded_name(char *dst, const char *layer, const char *w) {
    strcpy(dst, layer); strcat(dst, "/"); strcat(dst, w);
}

/* Raw Keras kernel + bias (+ BN) of layer d, folded into the .fpf layout: kernel [*, cout], bias. */
static inline void fpf_seeded_layer(const fpf_layer_desc *d, uint64_t seed, uint64_t nseed, float *kernel, float *bias) {
    size_t nk = (size_t)d->kh * d->kw * d->cin * d->cout, i;
    int co;
    double fan = d->kind == 2 ? (double)d->cin : (double)d->kh * d->kw * d->cin;
    double a = sqrt(fpf_seeded_gain(d->name) / fan);
    char name[160];
    fpf_seeded_name(name, d->name, "kernel");
    fpf_seeded_fill(name, seed, nseed, -a, a, kernel, nk);
    if (d->kind == 2) { /* Keras Conv2DTranspose (kh, kw, out, in) -> .fpf [kh][kw][in][out] */
        float *t = (float *)malloc(nk * sizeof(float));
        int ab, o, c;
        memcpy(t, kernel, nk * sizeof(float));
        for (ab = 0; ab < 4; ab++)
            for (o = 0; o < d->cout; o++)
                for (c = 0; c < d->cin; c++)
                    kernel[((size_t)ab * d->cin + c) * d->cout + o] = t[((size_t)ab * d->cout + o) * d->cin + c];
        free(t);
    }
    fpf_seeded_name(name, d->name, "bias");
    fpf_seeded_fill(name, seed, nseed, -0.05, 0.05, bias, (size_t)d->cout);
    if (d->bn_name[0]) { /* fold y = γ (x − mean) / sqrt(var + 1e-3) + β, in float64 */
        float *g = (float *)malloc(4 * (size_t)d->cout * sizeof(float)), *be = g + d->cout, *mu = be + d->cout, *var = mu + d->cout;
        fpf_seeded_name(name, d->bn_name, "gamma"); fpf_seeded_fill(name, seed, nseed, 0.8, 1.2, g, (size_t)d->cout);
        fpf_seeded_name(name, d->bn_name, "beta"); fpf_seeded_fill(name, seed, nseed, -0.1, 0.1, be, (size_t)d->cout);
        fpf_seeded_name(name, d->bn_name, "moving_mean"); fpf_seeded_fill(name, seed, nseed, -0.1, 0.1, mu, (size_t)d->cout);
        fpf_seeded_name(name, d->bn_name, "moving_variance"); fpf_seeded_fill(name, seed, nseed, 0.5, 1.5, var, (size_t)d->cout);
        for (co = 0; co < d->cout; co++) {
            double inv = (double)g[co] / sqrt((double)var[co] + 1e-3);
            for (i = (size_t)co; i < nk; i += (size_t)d->cout) kernel[i] = (float)((double)kernel[i] * inv);
            bias[co] = (float)(((double)bias[co] - (double)mu[co]) * inv + (double)be[co]);
        }
        free(g);
    }
}

static inline void fpf_seeded_w32(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }
static inline void fpf_seeded_w64(unsigned char *p, uint64_t v) { fpf_seeded_w32(p, (uint32_t)v); fpf_seeded_w32(p + 4, (uint32_t)(v >> 32)); }

/* Writes the table entry of one tensor; returns the data offset after it. */
static inline size_t fpf_seeded_entry(unsigned char *e, const char *name, int ndim, const int *dims, size_t off) {
    size_t n = 4;
    int i;
    memset(e, 0, 128);
    memcpy(e, name, strlen(name) < 79 ? strlen(name) : 79);
    fpf_seeded_w32(e + 80, 0); fpf_seeded_w32(e + 84, (uint32_t)ndim);
    for (i = 0; i < ndim; i++) { fpf_seeded_w32(e + 88 + 4 * i, (uint32_t)dims[i]); n *= (size_t)dims[i]; }
    fpf_seeded_w64(e + 104, off); fpf_seeded_w64(e + 112, n);
    return off + (n + 63) / 64 * 64;
}

/* The .fpf file image of a seeded model (malloc'd; *size set). NULL if cfg is invalid. */
static inline void *fpf_seeded_file(const fpf_config *cfg, uint64_t seed, uint64_t nucleus_seed, size_t *size) {
    fpf_layer_desc *d = (fpf_layer_desc *)malloc(FPF_MAX_LAYERS * sizeof(fpf_layer_desc));
    int n = fpf_config_layers(cfg, d, FPF_MAX_LAYERS), l, T;
    size_t off, total;
    unsigned char *f;
    uint32_t words[64];
    if (n <= 0 || n > FPF_MAX_LAYERS) { free(d); return NULL; }
    T = 2 * n;
    off = (64 + 256 + 128 * (size_t)T + 63) / 64 * 64;
    for (l = 0, total = off; l < n; l++) { /* sizes first */
        size_t nk = (size_t)d[l].kh * d[l].kw * d[l].cin * d[l].cout * 4;
        total += (nk + 63) / 64 * 64 + ((size_t)d[l].cout * 4 + 63) / 64 * 64;
    }
    f = (unsigned char *)calloc(1, total);
    memcpy(f, "FPFMODEL", 8);
    fpf_seeded_w32(f + 8, FPF_FORMAT_VERSION); fpf_seeded_w32(f + 12, (uint32_t)T); fpf_seeded_w64(f + 16, total);
    fpf_config_to_words(cfg, words);
    for (l = 0; l < 64; l++) fpf_seeded_w32(f + 64 + 4 * l, words[l]);
    for (l = 0; l < n; l++) {
        char name[160];
        int kd[4], bd[1], nd = d[l].kind == 1 ? 2 : 4;
        size_t koff = off;
        if (d[l].kind == 1) { kd[0] = d[l].cin; kd[1] = d[l].cout; }
        else { kd[0] = d[l].kh; kd[1] = d[l].kw; kd[2] = d[l].cin; kd[3] = d[l].cout; }
        bd[0] = d[l].cout;
        fpf_seeded_name(name, d[l].name, "kernel");
        off = fpf_seeded_entry(f + 320 + 128 * (size_t)(2 * l), name, nd, kd, off);
        fpf_seeded_name(name, d[l].name, "bias");
        fpf_seeded_layer(&d[l], seed, nucleus_seed, (float *)(void *)(f + koff), (float *)(void *)(f + off));
        off = fpf_seeded_entry(f + 320 + 128 * (size_t)(2 * l + 1), name, 1, bd, off);
    }
    fpf_seeded_w64(f + 24, fpf_checksum(f, total));
    free(d);
    *size = total;
    return f;
}
#endif
