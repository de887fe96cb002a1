/* tests/test_qkernels.c - every int8 kernel path against the int8 reference twin, bit for bit.
 *
 * Runs each int8 kernel row this CPU supports (scalar; AVX2 without VNNI, AVX-VNNI, AVX-512 VNNI
 * and AMX-INT8 on x86-64, by cpuid (AMX also by Linux's tile permission); NEON and NEON dotprod on
 * aarch64, by hwcaps). `make test` also
 * cross-compiles this file for aarch64 and runs it under qemu-user (-cpu max has dotprod).
 * Shapes: every conv shape the network has (1×1, 3×3, stride 2, bands, the 7×7 box-head FC as a
 * long 1×1, dense layers, the 2×2 deconv, the mask head's batches), channel and pixel tails,
 * zero points 0 and not, input values on rounding ties, beyond the range, and NaN. Plus the
 * quantization formula by hand. */
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "harness.h"
#include <stdint.h>
#include <stdlib.h>

static uint32_t rnd(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }
static float frand(uint32_t *s) { return (float)rnd(s) / 16777216.0f * 2.0f - 1.0f; }

typedef struct qlayer {
    fpf__conv k;
    fpf__qconv q;
    int8_t *w;
    float *scale, *bias;
    void *mem;
} qlayer;

/* A random int8 layer: s8 weights over the whole range (−128 included), positive scales. */
static void qlayer_make(qlayer *L, int kh, int cin, int cout, float in_scale, int in_zero, int deconv, uint32_t *seed) {
    size_t nw = (size_t)kh * kh * cin * cout, i;
    memset(L, 0, sizeof *L);
    L->w = (int8_t *)malloc(nw);
    L->scale = (float *)malloc((size_t)cout * 4);
    L->bias = (float *)malloc((size_t)cout * 4);
    for (i = 0; i < nw; i++) L->w[i] = (int8_t)(int)(rnd(seed) % 256 - 128);
    for (i = 0; i < (size_t)cout; i++) { L->scale[i] = 0.001f + 0.01f * (frand(seed) + 1.0f); L->bias[i] = frand(seed); }
    L->k.kh = L->k.kw = kh; L->k.cin = cin; L->k.cout = cout; L->k.b = L->bias;
    L->q.w = L->w; L->q.scale = L->scale; L->q.in_scale = in_scale; L->q.in_zero = in_zero;
    L->mem = malloc(fpf__qlayer_bytes(&L->k) + 64);
    L->k.q = &L->q;
    fpf__qinit(&L->q, &L->k, deconv, (void *)(((uintptr_t)L->mem + 63) & ~(uintptr_t)63));
}
static void qlayer_free(qlayer *L) { free(L->w); free(L->scale); free(L->bias); free(L->mem); }

/* Inputs: mostly uniform over the quantized range, some exact ties (k + 0.5)·s, some far out. */
static float qinput(uint32_t *s, float scale, int zero) {
    uint32_t r = rnd(s) % 16;
    if (r == 0) return ((float)((int)(rnd(s) % 300) - 150) + 0.5f) * scale;
    if (r == 1) return frand(s) * 1000.0f * scale;
    return ((float)(rnd(s) % 256) - (float)zero) * scale * (1.0f + 0.3f * frand(s));
}

static uint8_t qbuf_mem[FPF__ZEROS + (1 << 20)];

static int qconv_matches(const struct fpf__qkernels *K, int h, int w, int cin, int cout, int k, int stride,
                         int relu, int with_res, int accumulate, int zero, int batch, int band, int flat) {
    int pad = (k - 1) / 2, oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1, nb = batch > 1 ? batch : 1;
    int y0 = band ? 1 : 0, iy0 = 0, ohb = band ? oh - 2 : oh, ok, i;
    size_t ni = (size_t)h * w * cin * nb, no = (size_t)oh * ow * cout * nb, j;
    float *in = (float *)malloc(ni * 4), *o1 = (float *)malloc(no * 4), *o2 = (float *)malloc(no * 4), *res = (float *)malloc(no * 4);
    uint32_t seed = (uint32_t)(h * 131 + w * 17 + cin * 7 + cout + k + stride + zero);
    float s = 0.02f + 0.01f * (frand(&seed) + 1.0f);
    qlayer L;
    fpf__conv_args a;
    fpf__runner r;
    fpf__map rm = with_res == 2 ? fpf__mk(res, (oh + 1) / 2, (ow + 1) / 2, cout) : fpf__mk(res, oh, ow, cout);
    qlayer_make(&L, k, cin, cout, s, zero, 0, &seed);
    for (j = 0; j < ni; j++) in[j] = qinput(&seed, s, zero);
    if (ni > 3) { in[0] = 0.0f / 0.0f; in[1] = -1e30f; in[2] = 1e30f; } /* NaN and far outside */
    for (j = 0; j < no; j++) { res[j] = frand(&seed); o1[j] = o2[j] = frand(&seed); }
    memset(&a, 0, sizeof a);
    a.k = &L.k; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(o1, ohb, ow, cout);
    a.stride = stride; a.pad = pad;
    a.flags = (relu ? FPF__RELU : 0) | (accumulate ? FPF__ACCUMULATE : 0) |
              (with_res == 2 ? FPF__RESIDUAL_UP2 : with_res ? FPF__RESIDUAL : 0); /* 2: half-size residual */
    a.res = with_res ? &rm : NULL; a.y0 = y0; a.iy0 = iy0; a.flat = flat;
    if (batch > 1) { a.batch = batch; a.in_bs = (size_t)h * w * cin; a.out_bs = (size_t)oh * ow * cout; }
    memset(&r, 0, sizeof r);
    r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
    fpf__conv2d(&r, &a);
    for (i = 0; i < nb; i++) { /* the twin, image by image */
        fpf__conv_args one = a;
        one.batch = 0; one.in.d = in + (size_t)i * a.in_bs; one.out.d = o2 + (size_t)i * a.out_bs;
        fpf__qu8s8_conv__ref(&one);
    }
    ok = memcmp(o1, o2, no * 4) == 0;
    if (!ok) printf("  %s differs at %dx%d cin %d cout %d k %d s %d z %d batch %d band %d flat %d\n", fpf_qisa_name(K->isa), h, w, cin, cout, k, stride, zero, batch, band, flat);
    qlayer_free(&L);
    free(in); free(o1); free(o2); free(res);
    return ok;
}

static int paths(int h, int w, int cin, int cout, int k, int stride, int relu, int with_res, int zero, int batch, int band, int flat) {
    int isa, ok = 1;
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        ok &= qconv_matches(K, h, w, cin, cout, k, stride, relu, with_res, 0, zero, batch, band, flat);
        ok &= qconv_matches(K, h, w, cin, cout, k, stride, relu, with_res, 1, zero, batch, band, flat);
    }
    return ok;
}
static int all_paths(int h, int w, int cin, int cout, int k, int stride, int relu, int with_res, int zero, int batch, int band) {
    return paths(h, w, cin, cout, k, stride, relu, with_res, zero, batch, band, 0);
}

TEST(int8_paths_this_cpu_runs) {
    int isa, n = 0;
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++)
        if (fpf_qisa_supported((fpf_qisa)isa)) { printf("  int8 kernels: %s\n", fpf_qisa_name((fpf_qisa)isa)); n++; }
    CHECK(n >= 1 && fpf__qkernels_for(FPF_QISA_AUTO, FPF_ISA_AUTO) != NULL);
    CHECK(fpf__qkernels_for(FPF_QISA_AUTO, FPF_ISA_SCALAR)->isa == FPF_QISA_SCALAR);
#if defined(__x86_64__) && !defined(FPF_NO_SIMD)
    CHECK(fpf_qisa_supported(FPF_QISA_AVX512VNNI) == (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")));
    CHECK(!fpf_qisa_supported(FPF_QISA_NEON));
#endif
    /* AMX needs the AVX-512 row too (its quantizer and epilogue); where it runs, AUTO takes it */
    CHECK(!fpf_qisa_supported(FPF_QISA_AMX) || fpf_qisa_supported(FPF_QISA_AVX512VNNI));
    CHECK(!fpf_qisa_supported(FPF_QISA_AMX) || fpf__qkernels_for(FPF_QISA_AUTO, FPF_ISA_AUTO)->isa == FPF_QISA_AMX);
    if (!fpf_qisa_supported(FPF_QISA_AMX)) printf("  int8 kernels: amx not run here (no AMX-INT8, no Linux tile permission, or not built)\n");
    CHECK(!strcmp(fpf_qisa_name(FPF_QISA_AMX), "amx") && !strcmp(fpf_qisa_name((fpf_qisa)8), "unknown"));
}

TEST(quantize_by_hand) { /* q = clamp(round_half_even(v / s) + z, 0, 255) */
    CHECK(fpf__quant(2.5f, 1.0f, 0) == 2 && fpf__quant(3.5f, 1.0f, 0) == 4);   /* ties to even */
    CHECK(fpf__quant(-0.5f, 1.0f, 10) == 10 && fpf__quant(-1.5f, 1.0f, 10) == 8);
    CHECK(fpf__quant(0.75f, 0.5f, 3) == 5);                                      /* 1.5 -> 2, + 3 */
    CHECK(fpf__quant(1e9f, 1.0f, 0) == 255 && fpf__quant(-3.0f, 1.0f, 1) == 0);  /* clamped */
    CHECK(fpf__quant(0.0f / 0.0f, 1.0f, 200) == 0);                              /* NaN -> 0 */
    CHECK(fpf__quant(254.4f, 1.0f, 0) == 254 && fpf__quant(254.5f, 1.0f, 0) == 254 && fpf__quant(255.5f, 1.0f, 0) == 255);
}

TEST(quantize_rows_equal_scalar) { /* every SIMD row quantizer against fpf__quant */
    float v[203];
    uint8_t a[203], b[203];
    uint32_t seed = 9;
    int isa, i, ok = 1;
    for (i = 0; i < 203; i++) v[i] = qinput(&seed, 0.1f, 17);
    v[5] = 0.0f / 0.0f; v[6] = 1.0f / 0.0f; v[7] = -1.0f / 0.0f; v[8] = 0.05f; v[9] = 0.15f;
    for (i = 0; i < 203; i++) b[i] = fpf__quant(v[i], 0.1f, 17);
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        K->quant(v, 203, 0.1f, 17, a);
        ok &= memcmp(a, b, sizeof a) == 0;
    }
    CHECK(ok);
}

TEST(int8_conv_by_hand) { /* 1×1, cin 4, cout 1: Σ (q_x − z)·q_w · s_x·s_w + bias */
    int8_t w[4] = {1, -2, 3, 127};
    float scale[1] = {0.5f}, bias[1] = {0.25f}, in[4] = {1.0f, 2.0f, 3.0f, 4.0f}, out[1];
    /* s_x = 0.5, z = 2: q_x = 2 + {2, 4, 6, 8} = {4, 6, 8, 10}; q_x − z = {2, 4, 6, 8};
       Σ = 2 − 8 + 18 + 1016 = 1028; y = 1028 · 0.25 + 0.25 = 257.25 */
    fpf__conv k;
    fpf__qconv q;
    fpf__conv_args a;
    memset(&k, 0, sizeof k); memset(&q, 0, sizeof q); memset(&a, 0, sizeof a);
    q.w = w; q.scale = scale; q.in_scale = 0.5f; q.in_zero = 2;
    k.kh = k.kw = 1; k.cin = 4; k.cout = 1; k.b = bias; k.q = &q;
    a.k = &k; a.in = fpf__mk(in, 1, 1, 4); a.out = fpf__mk(out, 1, 1, 1); a.stride = 1;
    fpf__qu8s8_conv__ref(&a);
    CHECK(out[0] == 257.25f);
}

TEST(int8_conv_paths_equal_twin_on_odd_shapes) {
    CHECK(all_paths(1, 1, 4, 1, 1, 1, 0, 0, 0, 0, 0));       /* one pixel, one channel */
    CHECK(all_paths(7, 5, 12, 17, 3, 1, 1, 1, 0, 0, 0));     /* 3×3, channel tail 17, pixel tail, residual */
    CHECK(all_paths(9, 11, 8, 33, 3, 2, 1, 0, 131, 0, 0));   /* stride 2, zero point 131 */
    CHECK(all_paths(1, 70, 20, 6, 1, 1, 0, 0, 77, 0, 0));    /* one row past a 64 tile, 6 outputs (RPN) */
    CHECK(all_paths(5, 6, 16, 16, 1, 2, 0, 1, 0, 0, 0));     /* 1×1 stride 2 + residual */
    CHECK(all_paths(6, 9, 16, 24, 1, 1, 0, 2, 70, 0, 0));    /* FPN lateral: + the coarser level ×2 */
    CHECK(all_paths(9, 8, 16, 24, 1, 1, 0, 2, 60, 0, 1));    /* the same on a band of rows */
    CHECK(all_paths(3, 7, 36, 48, 3, 1, 1, 1, 5, 0, 0));     /* 48 = 32 + 16 */
    CHECK(all_paths(2, 13, 40, 64, 1, 1, 1, 0, 255, 0, 0));  /* 13 = 8 + 5 = 6 + 6 + 1, z = 255 */
    CHECK(all_paths(14, 14, 24, 40, 3, 1, 1, 0, 9, 3, 0));   /* the mask head: a batch of 14×14 maps */
    CHECK(all_paths(9, 8, 16, 24, 3, 1, 0, 0, 60, 0, 1));    /* a band of output rows (FPN P2) */
    CHECK(all_paths(1, 5, 1568, 36, 1, 1, 1, 0, 128, 0, 0)); /* the 7×7 box-head FC as a long 1×1 */
    CHECK(all_paths(1, 3, 300, 2, 1, 1, 0, 0, 3, 0, 0));     /* dense: long cin, 2 outputs */
}

/* Rows of 16 and more pixels with whole 64-input chunks: the AMX row loads its input tiles
   straight from the map there (evenly spaced pixels: stride 1, stride 2, 1×1 flat batches) and
   stages the rest (the map's edges, row tails, the chunk past the last whole 64 inputs). */
TEST(int8_wide_rows_equal_twin) {
    CHECK(all_paths(5, 37, 64, 48, 3, 1, 1, 1, 7, 0, 0));    /* 32 + 5 pixels, edges, 48 = 32 + 16 */
    CHECK(all_paths(3, 48, 64, 32, 3, 1, 1, 0, 90, 0, 0));   /* 32 + 16: whole blocks touching both edges */
    CHECK(all_paths(4, 64, 128, 40, 3, 2, 1, 1, 11, 0, 0));  /* stride 2: one whole block, both edges */
    CHECK(all_paths(6, 40, 96, 32, 3, 2, 1, 0, 200, 0, 0));  /* stride 2; 96 = 64 + a 32-input chunk */
    CHECK(all_paths(4, 70, 128, 64, 1, 1, 0, 2, 33, 0, 1));  /* 1×1 on a band, + the coarser level ×2 */
    CHECK(all_paths(2, 35, 64, 8, 1, 2, 1, 1, 0, 0, 0));     /* 1×1 stride 2, 8 outputs */
    CHECK(all_paths(1, 48, 1600, 40, 1, 1, 1, 0, 128, 0, 0)); /* a long 1×1: 25 chunks */
    CHECK(paths(14, 14, 64, 40, 1, 1, 1, 0, 3, 3, 0, 1));    /* flat 1×1: pixels contiguous across rows and maps */
    CHECK(paths(14, 14, 64, 64, 3, 1, 1, 0, 9, 2, 0, 1));    /* flat 3×3: blocks straddle rows */
}

/* Row tails: the pixel blocks of a row (fpf__qblock_px) by hand, and every row width from 1 to 40
   (and past a 96-pixel tile) through whichever block kernels the row splits into. */
TEST(int8_row_blocks_by_hand) {
    struct fpf__qkernels K;
    int n, x, ok = 1;
    static const int w14[] = {8, 6}, w17[] = {8, 9}, w32[] = {12, 8, 12}, w25[] = {12, 8, 5};
    memset(&K, 0, sizeof K);
    K.px = 12; K.px_small = 8;
    CHECK(fpf__qblock_px(&K, 5) == 5 && fpf__qblock_px(&K, 8) == 8 && fpf__qblock_px(&K, 9) == 9 && fpf__qblock_px(&K, 12) == 12);
    for (n = 14, x = 0; n > 0; n -= fpf__qblock_px(&K, n)) ok &= fpf__qblock_px(&K, n) == w14[x++];
    for (n = 17, x = 0; n > 0; n -= fpf__qblock_px(&K, n)) ok &= fpf__qblock_px(&K, n) == w17[x++];
    for (n = 32, x = 0; n > 0; n -= fpf__qblock_px(&K, n)) ok &= fpf__qblock_px(&K, n) == w32[x++];
    for (n = 25, x = 0; n > 0; n -= fpf__qblock_px(&K, n)) ok &= fpf__qblock_px(&K, n) == w25[x++];
    CHECK(ok);
    K.px = 6; K.px_small = 0; /* a row without a small kernel: blocks of px */
    CHECK(fpf__qblock_px(&K, 14) == 6 && fpf__qblock_px(&K, 2) == 2);
    for (n = 1, ok = 1; n <= 40; n++) ok &= all_paths(2, n, 8, 40, n % 2 ? 3 : 1, 1, n % 3 == 0, n % 4 == 1, n % 5 ? 0 : 200, 0, 0);
    ok &= all_paths(3, 203, 12, 32, 3, 1, 1, 1, 17, 0, 0); /* 96 + 96 + 11 */
    CHECK(ok);
}

/* The vector rows start their sums at −z_x·Σq_w: the largest sums an int8 layer may have
   (kh·kw·cin = 32768, z = 255, every weight −128, inputs 0 or 255) stay exact. */
TEST(int8_largest_sums_stay_exact) {
    int isa, ok = 1, v;
    for (v = 0; v < 2; v++) {
        int h = 1, w = 13, cin = 32768, cout = 32, zero = v ? 0 : 255;
        size_t ni = (size_t)h * w * cin, no = (size_t)h * w * cout, j;
        float *in = (float *)malloc(ni * 4), *o1 = (float *)malloc(no * 4), *o2 = (float *)malloc(no * 4);
        uint32_t seed = 3;
        qlayer L;
        qlayer_make(&L, 1, cin, cout, 1.0f, zero, 0, &seed);
        for (j = 0; j < (size_t)cin * cout; j++) L.w[j] = (int8_t)(j % 7 == 3 ? 127 : -128);
        fpf__qinit(&L.q, &L.k, 0, (void *)(((uintptr_t)L.mem + 63) & ~(uintptr_t)63));
        for (j = 0; j < ni; j++) in[j] = (j / cin) % 2 ? 255.0f - (float)zero : -(float)zero; /* q_x = 255 or 0 */
        for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
            const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
            fpf__conv_args a;
            fpf__runner r;
            if (!K) continue;
            memset(&a, 0, sizeof a);
            a.k = &L.k; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(o1, h, w, cout); a.stride = 1;
            memset(&r, 0, sizeof r);
            r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
            fpf__conv2d(&r, &a);
            a.out.d = o2;
            fpf__qu8s8_conv__ref(&a);
            if (memcmp(o1, o2, no * 4) != 0) { printf("  %s differs on the largest sums (z %d)\n", fpf_qisa_name(K->isa), zero); ok = 0; }
        }
        qlayer_free(&L);
        free(in); free(o1); free(o2);
    }
    CHECK(ok);
}

/* The mask head's flat batches: the batch's pixels as one axis, blocks running on across rows and
   maps (each map zero-padded on its own); every row against the twin, map by map. */
TEST(int8_flat_batches_equal_twin) {
    CHECK(paths(14, 14, 24, 40, 3, 1, 1, 0, 9, 3, 0, 1));   /* the mask head: 3 maps of 14×14, 40 = 32 + 8 */
    CHECK(paths(5, 7, 12, 17, 3, 1, 0, 0, 131, 4, 0, 1));   /* odd maps: blocks straddle rows and maps */
    CHECK(paths(3, 3, 8, 16, 3, 1, 1, 0, 0, 7, 0, 1));      /* maps smaller than a block */
    CHECK(paths(14, 14, 16, 32, 1, 1, 1, 0, 200, 2, 0, 1)); /* a deconv tap: 1×1 */
    CHECK(paths(1, 1, 4, 3, 3, 1, 0, 0, 5, 0, 0, 1));       /* one pixel, no batch */
}

/* An int8 chain link (fpf__stage): u8 input (qin) and u8 output (qout, quantized in the epilogue
   with the next layer's (s, z)); keep: also the floats, with a residual add (a block's 2c). On every
   row: the bytes of the twin with qin/qout, and the bytes that quantizing the float output of the
   requantizing path gives (producer and consumer agree), and with keep the same floats. */
static int chain_matches(const struct fpf__qkernels *K, int h, int w, int cin, int cout, int k, int stride, int relu,
                         int zin, int zout, int keep) {
    int pad = (k - 1) / 2, oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1, ok;
    size_t ni = (size_t)h * w * cin, no = (size_t)oh * ow * cout, j;
    float *in = (float *)malloc(ni * 4), *of = (float *)malloc(no * 4), *o1 = (float *)malloc(no * 4), *o2 = (float *)malloc(no * 4);
    float *res = (float *)malloc(no * 4);
    uint8_t *qi = (uint8_t *)malloc(ni), *q1 = (uint8_t *)malloc(no), *q2 = (uint8_t *)malloc(no), *q3 = (uint8_t *)malloc(no);
    uint32_t seed = (uint32_t)(h * 31 + w * 7 + cin * 3 + cout + k + zin);
    float s = 0.02f + 0.01f * (frand(&seed) + 1.0f), so = 0.05f + 0.05f * (frand(&seed) + 1.0f);
    qlayer L;
    fpf__conv_args a;
    fpf__runner r;
    fpf__map rm = fpf__mk(res, oh, ow, cout);
    qlayer_make(&L, k, cin, cout, s, zin, 0, &seed);
    for (j = 0; j < ni; j++) in[j] = qinput(&seed, s, zin);
    for (j = 0; j < no; j++) { res[j] = frand(&seed); o1[j] = o2[j] = frand(&seed); }
    if (ni > 3) { in[0] = 0.0f / 0.0f; in[1] = -1e30f; in[2] = 1e30f; }
    for (j = 0; j < ni; j++) qi[j] = fpf__quant(in[j], s, zin);
    memset(q1, 1, no); memset(q2, 2, no);
    memset(&a, 0, sizeof a);
    a.k = &L.k; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(of, oh, ow, cout);
    a.stride = stride; a.pad = pad; a.flags = (relu ? FPF__RELU : FPF__LINEAR) | (keep ? FPF__RESIDUAL : 0);
    a.res = keep ? &rm : NULL;
    memset(&r, 0, sizeof r);
    r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
    fpf__conv2d(&r, &a);                                   /* the requantizing path: floats */
    for (j = 0; j < no; j++) q3[j] = fpf__quant(of[j], so, zout);
    a.qin = qi; a.qout = q1; a.qout_s = so; a.qout_z = zout; a.qkeep = keep; a.out.d = o1;
    fpf__conv2d(&r, &a);                                   /* the chain on this row */
    a.qout = q2; a.out.d = o2;
    fpf__qu8s8_conv__ref(&a);                              /* the chain's twin */
    ok = memcmp(q1, q2, no) == 0 && memcmp(q1, q3, no) == 0 && memcmp(o1, o2, no * 4) == 0;
    ok &= keep ? memcmp(o1, of, no * 4) == 0 : 1;          /* kept floats: the requantizing path's */
    if (!ok) printf("  %s chain differs at %dx%d cin %d cout %d k %d s %d z %d -> %d\n", fpf_qisa_name(K->isa), h, w, cin, cout, k, stride, zin, zout);
    qlayer_free(&L);
    free(in); free(of); free(o1); free(o2); free(res); free(qi); free(q1); free(q2); free(q3);
    return ok;
}

TEST(int8_chain_links_equal_twin_and_requantizing_path) {
    int isa, ok = 1;
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        ok &= chain_matches(K, 7, 9, 16, 64, 1, 1, 1, 0, 0, 0);    /* 2a: 1×1, ReLU, whole vectors */
        ok &= chain_matches(K, 8, 10, 16, 32, 1, 2, 1, 3, 7, 0);   /* 2a of a first block: stride 2 */
        ok &= chain_matches(K, 6, 13, 32, 48, 3, 1, 1, 131, 0, 0); /* 2b: 3×3, z_x in the padding, 48 = 32 + 16 */
        ok &= chain_matches(K, 5, 7, 12, 17, 3, 1, 0, 9, 255, 0);  /* channel tail, no ReLU, z = 255 */
        ok &= chain_matches(K, 1, 70, 20, 8, 1, 1, 1, 77, 40, 0);  /* 8 channels, one row past a 64 tile */
        ok &= chain_matches(K, 7, 9, 16, 64, 1, 1, 1, 5, 3, 1);    /* 2c: + shortcut, ReLU, floats kept */
        ok &= chain_matches(K, 3, 11, 20, 40, 1, 1, 1, 0, 99, 1);  /* the same with a channel tail */
    }
    CHECK(ok);
}

/* A flat batch inside an int8 chain (the mask head's convs 1..4): u8 in, u8 out, no floats kept;
   every row against the twin map by map. */
static int flat_chain_matches(const struct fpf__qkernels *K, int h, int w, int cin, int cout, int k, int nb, int zin, int zout) {
    int pad = (k - 1) / 2, i, ok;
    size_t ni = (size_t)h * w * cin, no = (size_t)h * w * cout, j;
    float *in = (float *)malloc(ni * nb * 4), *of = (float *)malloc(no * nb * 4);
    uint8_t *qi = (uint8_t *)malloc(ni * nb), *q1 = (uint8_t *)malloc(no * nb), *q2 = (uint8_t *)malloc(no * nb);
    uint32_t seed = (uint32_t)(h * 7 + w + cin * 5 + cout + nb + zin);
    float s = 0.03f, so = 0.07f;
    qlayer L;
    fpf__conv_args a;
    fpf__runner r;
    qlayer_make(&L, k, cin, cout, s, zin, 0, &seed);
    for (j = 0; j < ni * nb; j++) qi[j] = fpf__quant(qinput(&seed, s, zin), s, zin);
    memset(q1, 1, no * nb); memset(q2, 2, no * nb);
    memset(&a, 0, sizeof a);
    a.k = &L.k; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(of, h, w, cout); a.stride = 1; a.pad = pad; a.flags = FPF__RELU;
    a.batch = nb; a.in_bs = ni; a.out_bs = no; a.flat = 1;
    a.qin = qi; a.qout = q1; a.qout_s = so; a.qout_z = zout;
    memset(&r, 0, sizeof r);
    r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
    fpf__conv2d(&r, &a);
    for (i = 0; i < nb; i++) {
        fpf__conv_args one = a;
        one.batch = 0; one.flat = 0; one.qin = qi + (size_t)i * ni; one.qout = q2 + (size_t)i * no;
        one.in.d = in + (size_t)i * ni; one.out.d = of + (size_t)i * no;
        fpf__qu8s8_conv__ref(&one);
    }
    ok = memcmp(q1, q2, no * nb) == 0;
    if (!ok) printf("  %s flat chain differs at %dx%d cin %d cout %d k %d batch %d\n", fpf_qisa_name(K->isa), h, w, cin, cout, k, nb);
    qlayer_free(&L);
    free(in); free(of); free(qi); free(q1); free(q2);
    return ok;
}

TEST(int8_flat_chain_equals_twin) {
    int isa, ok = 1;
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        ok &= flat_chain_matches(K, 14, 14, 32, 64, 3, 3, 0, 0);   /* conv2..4: 3×3, ReLU, whole vectors */
        ok &= flat_chain_matches(K, 6, 5, 16, 48, 3, 5, 120, 7);   /* odd maps, 48 = 32 + 16 */
        ok &= flat_chain_matches(K, 14, 14, 16, 40, 1, 2, 3, 250); /* 1×1 with a channel tail */
    }
    CHECK(ok);
}

/* The 2×2 transposed conv by its twin: each tap a 1×1 conv (fpf__qu8s8_conv__ref, ReLU), written interleaved
   into out (2h × 2w × cout). tmp: h × w × cout. */
static void qdeconv_twin(const qlayer *L, float *in, int h, int w, int cin, int cout, float *tmp, float *out) {
    int ab, y, x, o;
    for (ab = 0; ab < 4; ab++) {
        fpf__conv tap = L->k;
        fpf__qconv qt;
        fpf__conv_args a;
        tap.kh = tap.kw = 1;
        tap.q = fpf__qtap(&L->q, ab, cin, cout, &qt);
        memset(&a, 0, sizeof a);
        a.k = &tap; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(tmp, h, w, cout); a.stride = 1; a.flags = FPF__RELU;
        fpf__qu8s8_conv__ref(&a);
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                for (o = 0; o < cout; o++)
                    out[((size_t)(2 * y + ab / 2) * 2 * w + 2 * x + ab % 2) * cout + o] = tmp[((size_t)y * w + x) * cout + o];
    }
}

TEST(int8_deconv_equals_twin) { /* the 2×2 transposed conv: four 1×1 taps with their own sums */
    int h = 3, w = 5, cin = 12, cout = 9, isa, ok = 1;
    float in[3 * 5 * 12], o1[6 * 10 * 9], o2[6 * 10 * 9], tmp[3 * 5 * 9];
    uint32_t seed = 5;
    qlayer L;
    size_t i;
    qlayer_make(&L, 2, cin, cout, 0.03f, 20, 1, &seed);
    for (i = 0; i < sizeof in / 4; i++) in[i] = qinput(&seed, 0.03f, 20);
    qdeconv_twin(&L, in, h, w, cin, cout, tmp, o2); /* the reference: the twin on each tap, interleaved */
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        fpf__runner r;
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        memset(&r, 0, sizeof r);
        r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
        fpf__deconv2x2(&r, &L.k, fpf__mk(in, h, w, cin), NULL, fpf__mk(o1, 2 * h, 2 * w, cout), tmp, NULL, NULL, NULL);
        if (memcmp(o1, o2, sizeof o1) != 0) { printf("  %s deconv differs\n", fpf_qisa_name(K->isa)); ok = 0; }
    }
    CHECK(ok);
    qlayer_free(&L);
}

/* The mask head's end with an int8 deconv fed by a chain (u8 input) and an int8 mrcnn_mask (a file
   may quantize it; fpf_quantize keeps it fp32): the taps straight into the head's logits and the
   sigmoid, against the twin's deconv output, the head's twin on it, and the sigmoid. */
TEST(int8_mask_upsample_equals_twin) {
    enum { H = 4, W = 3, CIN = 16, C = 20, KC = 2 };
    float in[H * W * CIN], up[4 * H * W * C], tmp[H * W * C], m1[4 * H * W * KC], m2[4 * H * W * KC], lg[H * W * KC];
    uint8_t qi[H * W * CIN];
    uint32_t seed = 8;
    qlayer L, O;
    int isa, ok = 1;
    size_t i;
    fpf__conv_args a;
    qlayer_make(&L, 2, CIN, C, 0.03f, 20, 1, &seed);
    qlayer_make(&O, 1, C, KC, 0.05f, 0, 0, &seed);
    for (i = 0; i < sizeof in / 4; i++) { in[i] = qinput(&seed, 0.03f, 20); qi[i] = fpf__quant(in[i], 0.03f, 20); }
    qdeconv_twin(&L, in, H, W, CIN, C, tmp, up); /* the twins: each tap, interleaved; then the head on the 2H×2W map */
    memset(&a, 0, sizeof a);
    a.k = &O.k; a.in = fpf__mk(up, 2 * H, 2 * W, C); a.out = fpf__mk(m2, 2 * H, 2 * W, KC); a.stride = 1;
    fpf__qu8s8_conv__ref(&a);
    for (i = 0; i < sizeof m2 / 4; i++) m2[i] = fpf__sigmoidf(m2[i]);
    for (isa = FPF_QISA_SCALAR; isa <= FPF_QISA_AMX; isa++) {
        fpf__runner r;
        const struct fpf__qkernels *K = fpf__qkernels_for((fpf_qisa)isa, FPF_ISA_AUTO);
        if (!K) continue;
        memset(&r, 0, sizeof r);
        r.qkern = K; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
        memset(m1, 0, sizeof m1);
        fpf__deconv2x2(&r, &L.k, fpf__mk(in, H, W, CIN), qi, fpf__mk(m1, 2 * H, 2 * W, KC), tmp, &O.k, NULL, lg);
        if (memcmp(m1, m2, sizeof m1) != 0) { printf("  %s int8 mask upsample differs\n", fpf_qisa_name(K->isa)); ok = 0; }
    }
    CHECK(ok);
    qlayer_free(&L); qlayer_free(&O);
}

TEST(int8_pack_layout_by_hand) { /* 1×1, cin 4, cout 17: rows of [16 channels][4 inputs], a zero panel past the last */
    int8_t w[4 * 17];
    float sc[17], b[17];
    fpf__conv k;
    fpf__qconv q;
    static unsigned char mem[8192] __attribute__((aligned(64)));
    int i;
    for (i = 0; i < 68; i++) w[i] = (int8_t)i;          /* w[ci][co] = 17·ci + co */
    for (i = 0; i < 17; i++) { sc[i] = 1.0f; b[i] = 0.0f; }
    memset(&k, 0, sizeof k); memset(&q, 0, sizeof q);
    k.kh = k.kw = 1; k.cin = 4; k.cout = 17; k.b = b; k.q = &q;
    q.w = w; q.scale = sc; q.in_scale = 2.0f; q.in_zero = 0;
    fpf__qinit(&q, &k, 0, mem);
    CHECK(q.pstride == 64);
    CHECK(q.wp[0] == 0 && q.wp[1] == 17 && q.wp[2] == 34 && q.wp[3] == 51); /* channel 0, inputs 0..3 */
    CHECK(q.wp[4] == 1 && q.wp[63] == 15 + 51);                             /* channel 1; channel 15 input 3 */
    CHECK(q.wp[64] == 16 && q.wp[65] == 33 && q.wp[68] == 0);               /* panel 1: channel 16, then zeros */
    CHECK(q.wp[128] == 0 && q.wp[191] == 0);                                /* the zero panel */
    CHECK(q.wsum[0] == 0 + 17 + 34 + 51 && q.wsum[16] == 16 + 33 + 50 + 67 && q.wsum[17] == 0);
    CHECK(q.mul[3] == 2.0f);
}

int main(void) {
    RUN(int8_paths_this_cpu_runs);
    RUN(quantize_by_hand);
    RUN(quantize_rows_equal_scalar);
    RUN(int8_conv_by_hand);
    RUN(int8_pack_layout_by_hand);
    RUN(int8_conv_paths_equal_twin_on_odd_shapes);
    RUN(int8_wide_rows_equal_twin);
    RUN(int8_row_blocks_by_hand);
    RUN(int8_largest_sums_stay_exact);
    RUN(int8_flat_batches_equal_twin);
    RUN(int8_chain_links_equal_twin_and_requantizing_path);
    RUN(int8_flat_chain_equals_twin);
    RUN(int8_deconv_equals_twin);
    RUN(int8_mask_upsample_equals_twin);
#if defined(__aarch64__)
    return harness_summary("int8 kernels aarch64-qemu");
#else
    return harness_summary("int8 kernels");
#endif
}
