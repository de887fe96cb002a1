/* tests/test_kernels.c - every convolution kernel path against its reference twin, bit for bit.
 *
 * Runs each kernel row this CPU supports (scalar; AVX2+FMA and AVX-512 on x86-64, chosen by cpuid;
 * NEON on aarch64). `make test` also cross-compiles this file for aarch64 and runs it under
 * qemu-user when gcc-aarch64-linux-gnu and qemu-user are installed (.ci/run installs them), so
 * the NEON path is checked on an x86 machine too. Odd shapes: channel and pixel tails, stride 2,
 * one channel, one row, the 7×7/2 stem, the AVX-512 16-channel tail, a dense-like long cin; the
 * stem kernels (conv1 + max-pool) against their twin and by hand; the Winograd F(2×2, 3×3) path
 * against its twin and by hand. */
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "harness.h"
#include <stdint.h>
#include <stdlib.h>

static fpf__conv make_conv(float *w, float *b, int kh, int cin, int cout) {
    fpf__conv k;
    memset(&k, 0, sizeof k);
    k.w = w; k.b = b; k.kh = k.kw = kh; k.cin = cin; k.cout = cout;
    return k;
}
static float frand(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return (float)(*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

/* A serial runner on kernel row isa; NULL (r untouched) where this build or CPU lacks the row. */
static const fpf__kernels *runner_for(int isa, fpf__runner *r) {
    const fpf__kernels *K = fpf__kernels_for((fpf_isa)isa);
    if (K) { memset(r, 0, sizeof *r); r->kern = K; }
    return K;
}

/* Every kernel row this CPU runs (scalar, AVX2, AVX-512, NEON) against its reference twin, bit
   for bit: the scalar kernel against fpf__f32_conv__ref, the FMA kernels against
   fpf__f32_conv__ref_fused. Weights are packed as the loader packs them. */
static int conv_matches_ref_isa(const fpf__kernels *K, int h, int w, int cin, int cout, int k, int stride,
                                int relu, int with_res, int accumulate) {
    int oh = (h + 2 * ((k - 1) / 2) - k) / stride + 1, ow = (w + 2 * ((k - 1) / 2) - k) / stride + 1, ok;
    size_t ni = (size_t)h * w * cin, no = (size_t)oh * ow * cout, nw = (size_t)k * k * cin * cout, i;
    float *in = (float *)malloc(ni * 4), *wt = (float *)malloc(nw * 4), *b = (float *)malloc((size_t)cout * 4);
    float *o1 = (float *)malloc(no * 4), *o2 = (float *)malloc(no * 4), *res = (float *)malloc(no * 4);
    uint32_t seed = (uint32_t)(h * 131 + w * 17 + cin * 7 + cout + k + stride);
    fpf__conv kk = make_conv(wt, b, k, cin, cout), kp;
    float *packed = (float *)malloc(fpf__packed_floats(&kk) * 4);
    fpf__conv_args a;
    fpf__runner r;
    fpf__map rm = with_res == 2 ? fpf__mk(res, (oh + 1) / 2, (ow + 1) / 2, cout) : fpf__mk(res, oh, ow, cout);
    for (i = 0; i < ni; i++) in[i] = frand(&seed);
    for (i = 0; i < nw; i++) wt[i] = frand(&seed);
    for (i = 0; i < (size_t)cout; i++) b[i] = frand(&seed);
    for (i = 0; i < no; i++) { res[i] = frand(&seed); o1[i] = o2[i] = frand(&seed); }
    fpf__pack(wt, fpf__rows(&kk), cout, packed);
    kp = kk; kp.w = NULL; kp.wp = packed; kp.pstride = fpf__rows(&kk) * 16;
    memset(&a, 0, sizeof a);
    a.in = fpf__mk(in, h, w, cin); a.stride = stride; a.pad = (k - 1) / 2;
    a.flags = (relu ? FPF__RELU : 0) | (accumulate ? FPF__ACCUMULATE : 0) |
              (with_res == 2 ? FPF__RESIDUAL_UP2 : with_res ? FPF__RESIDUAL : 0); /* 2: half-size residual */
    a.res = with_res ? &rm : NULL;
    memset(&r, 0, sizeof r);
    r.kern = K;
    a.k = &kp; a.out = fpf__mk(o1, oh, ow, cout);
    fpf__conv2d(&r, &a);
    a.k = &kk; a.out = fpf__mk(o2, oh, ow, cout);
    if (K->fused) fpf__f32_conv__ref_fused(&a); else fpf__f32_conv__ref(&a);
    ok = memcmp(o1, o2, no * 4) == 0;
    if (!ok) printf("  %s differs at %dx%d cin %d cout %d k %d s %d\n", fpf_isa_name(K->isa), h, w, cin, cout, k, stride);
    free(in); free(wt); free(b); free(o1); free(o2); free(res); free(packed);
    return ok;
}

static int conv_matches_ref(int h, int w, int cin, int cout, int k, int stride, int relu, int with_res) {
    int isa, ok = 1;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        const fpf__kernels *K = fpf__kernels_for((fpf_isa)isa);
        if (!K) continue;
        ok &= conv_matches_ref_isa(K, h, w, cin, cout, k, stride, relu, with_res, 0);
        ok &= conv_matches_ref_isa(K, h, w, cin, cout, k, stride, relu, with_res, 1);
    }
    return ok;
}

TEST(kernel_paths_this_cpu_runs) {
    int isa, n = 0;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++)
        if (fpf_isa_supported((fpf_isa)isa)) { printf("  kernels: %s\n", fpf_isa_name((fpf_isa)isa)); n++; }
    CHECK(n >= 1 && fpf_isa_supported(FPF_ISA_SCALAR));
    CHECK(fpf__kernels_for(FPF_ISA_AUTO) != NULL);
#if defined(__x86_64__) && !defined(FPF_NO_SIMD)
    CHECK(fpf_isa_supported(FPF_ISA_AVX2) == (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
    CHECK(!fpf_isa_supported(FPF_ISA_NEON));
#endif
}

TEST(conv_tiled_equals_ref_on_odd_shapes) {
    CHECK(conv_matches_ref(1, 1, 1, 1, 1, 1, 0, 0));     /* one pixel, one channel */
    CHECK(conv_matches_ref(7, 5, 3, 17, 3, 1, 1, 1));    /* channel tail 17 = 16 + 1, pixel tail */
    CHECK(conv_matches_ref(9, 11, 5, 33, 3, 2, 1, 0));   /* stride 2, odd sizes */
    CHECK(conv_matches_ref(12, 13, 2, 8, 7, 2, 1, 0));   /* the 7×7/2 stem shape */
    CHECK(conv_matches_ref(1, 70, 19, 6, 1, 1, 0, 0));   /* one row, width 70 */
    CHECK(conv_matches_ref(2, 333, 6, 40, 3, 1, 1, 1));  /* width past five 64 tiles; cin 6 = 4 + 2 (x86: 4 channels a step) */
    CHECK(conv_matches_ref(1, 321, 16400, 1, 1, 1, 0, 0)); /* > 1 MiB of packed weights: 320-pixel tiles, and one past */
    CHECK(conv_matches_ref(3, 9, 11, 32, 3, 1, 0, 0));   /* cin 11 = 4 + 4 + 3 */
    CHECK(conv_matches_ref(5, 6, 16, 16, 1, 2, 0, 1));   /* 1×1 stride 2 with residual */
    CHECK(conv_matches_ref(3, 7, 9, 48, 3, 1, 1, 1));    /* 48 = 32 + 16: the AVX-512 16-channel tail */
    CHECK(conv_matches_ref(2, 13, 40, 64, 1, 1, 1, 0));  /* full 32-channel blocks; 13 = 8 + 5 (AVX-512), 6 + 6 + 1 */
    CHECK(conv_matches_ref(3, 14, 24, 48, 3, 1, 1, 1));  /* a mask-head row: 14 = 8 + 6; the 16-channel tail at 6 px */
    CHECK(conv_matches_ref(2, 17, 5, 32, 3, 1, 1, 0));   /* 17 = 8 + 8 + 1 */
    CHECK(conv_matches_ref(1, 3, 300, 2, 1, 1, 0, 0));   /* dense-like: one row, long cin, 2 outputs */
    CHECK(conv_matches_ref(7, 9, 8, 40, 1, 1, 0, 2));    /* FPN lateral: + a half-size map upsampled ×2 */
}

TEST(deconv_equals_ref) { /* every kernel row; the reference multiply-adds match its fusion */
    int h = 3, w = 5, cin = 7, cout = 9, isa;
    float in[3 * 5 * 7], wt[4 * 7 * 9], b[9], o1[6 * 10 * 9], o2[6 * 10 * 9], tmp[3 * 5 * 9], packed[4 * 7 * 16];
    uint32_t seed = 5;
    fpf__conv k = make_conv(wt, b, 2, cin, cout), kp;
    size_t i;
    for (i = 0; i < sizeof in / 4; i++) in[i] = frand(&seed);
    for (i = 0; i < sizeof wt / 4; i++) wt[i] = frand(&seed);
    for (i = 0; i < 9; i++) b[i] = frand(&seed);
    fpf__pack(wt, fpf__rows(&k), cout, packed);
    kp = k; kp.wp = packed; kp.pstride = fpf__rows(&k) * 16;
    kp.w = NULL; /* as after in-place packing: the kernels must not touch w (repro #2: UBSan) */
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        if (!K) continue;
        fpf__deconv2x2(&r, &kp, fpf__mk(in, h, w, cin), NULL, fpf__mk(o1, 2 * h, 2 * w, cout), tmp, NULL, NULL, NULL);
        if (K->fused) { /* the reference with fused multiply-adds: the conv twin on each tap */
            int ab, y, x, o;
            for (ab = 0; ab < 4; ab++) {
                fpf__conv tap = k;
                fpf__conv_args a;
                tap.kh = tap.kw = 1; tap.w = wt + (size_t)ab * cin * cout;
                memset(&a, 0, sizeof a);
                a.k = &tap; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(tmp, h, w, cout); a.stride = 1; a.flags = FPF__RELU;
                fpf__f32_conv__ref_fused(&a);
                for (y = 0; y < h; y++)
                    for (x = 0; x < w; x++)
                        for (o = 0; o < cout; o++)
                            o2[((size_t)(2 * y + ab / 2) * 2 * w + 2 * x + ab % 2) * cout + o] = tmp[((size_t)y * w + x) * cout + o];
            }
        } else {
            fpf__deconv2x2__ref(&k, fpf__mk(in, h, w, cin), fpf__mk(o2, 2 * h, 2 * w, cout));
        }
        CHECK(memcmp(o1, o2, sizeof o1) == 0);
    }
}


/* The mask head's flat batches (fpf__conv_args.flat): nb maps as one axis of pixels, blocks running
   on across rows and maps, each map zero-padded on its own. Every row against the twin, map by map. */
static int flat_matches(int h, int w, int cin, int cout, int k, int nb) {
    size_t ni = (size_t)h * w * cin, no = (size_t)h * w * cout, nw = (size_t)k * k * cin * cout, i;
    float *in = (float *)malloc(ni * nb * 4), *wt = (float *)malloc(nw * 4), *b = (float *)malloc((size_t)cout * 4);
    float *o1 = (float *)malloc(no * nb * 4), *o2 = (float *)malloc(no * nb * 4);
    uint32_t seed = (uint32_t)(h * 3 + w * 5 + cin + cout * 7 + k + nb);
    fpf__conv kk = make_conv(wt, b, k, cin, cout), kp;
    float *packed = (float *)malloc(fpf__packed_floats(&kk) * 4);
    int isa, ok = 1, j;
    for (i = 0; i < ni * nb; i++) in[i] = frand(&seed);
    for (i = 0; i < nw; i++) wt[i] = frand(&seed);
    for (i = 0; i < (size_t)cout; i++) b[i] = frand(&seed);
    fpf__pack(wt, fpf__rows(&kk), cout, packed);
    kp = kk; kp.w = NULL; kp.wp = packed; kp.pstride = fpf__rows(&kk) * 16;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__conv_args a;
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        if (!K) continue;
        memset(&a, 0, sizeof a);
        a.k = &kp; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(o1, h, w, cout); a.stride = 1; a.pad = (k - 1) / 2;
        a.flags = FPF__RELU; a.batch = nb; a.in_bs = ni; a.out_bs = no; a.flat = 1;
        fpf__conv2d(&r, &a);
        for (j = 0; j < nb; j++) {
            fpf__conv_args one = a;
            one.k = &kk; one.batch = 0; one.flat = 0; one.in.d = in + (size_t)j * ni; one.out.d = o2 + (size_t)j * no;
            if (K->fused) fpf__f32_conv__ref_fused(&one); else fpf__f32_conv__ref(&one);
        }
        if (memcmp(o1, o2, no * nb * 4) != 0) { printf("  %s flat differs at %dx%d cin %d cout %d k %d batch %d\n", fpf_isa_name(K->isa), h, w, cin, cout, k, nb); ok = 0; }
    }
    free(in); free(wt); free(b); free(o1); free(o2); free(packed);
    return ok;
}

TEST(flat_batches_equal_ref) {
    CHECK(flat_matches(14, 14, 24, 64, 3, 3));  /* the mask head: 3 maps of 14×14 */
    CHECK(flat_matches(5, 7, 9, 48, 3, 4));     /* odd maps: blocks straddle rows and maps; the 16-channel tail */
    CHECK(flat_matches(3, 3, 5, 17, 3, 7));     /* maps smaller than a block, channel tail */
    CHECK(flat_matches(14, 14, 16, 32, 1, 2));  /* a deconv tap: 1×1 */
    CHECK(flat_matches(1, 1, 3, 2, 3, 1));      /* one pixel */
}

/* The narrow kernel (mrcnn_mask, 1×1 to K channels): 16 lanes over input channels, lane l takes
   ci ≡ l (mod 16) in order, then the lanes are added pairwise (+8, +4, +2, +1), then the bias. */
TEST(narrow_order_by_hand) {
    float x[32], wT[32], b[1] = {0.0f}, out[1];
    int i;
    for (i = 0; i < 32; i++) { x[i] = 1.0f; wT[i] = 0.0f; }
    wT[0] = 16777216.0f; wT[1] = 1.0f; wT[17] = 1.0f; /* lane 0: 2^24, lane 1: 1 + 1 = 2 */
    /* in order, 2^24 + 1 rounds back to 2^24 twice; by lanes, 2^24 + 2 is exact */
    fpf__f32_narrow__ref(x, 1, 32, 32, wT, 1, b, out, 0);
    CHECK(out[0] == 16777218.0f);
    fpf__f32_narrow__ref(x, 1, 32, 32, wT, 1, b, out, 1);
    CHECK(out[0] == 16777218.0f);
}

TEST(narrow_rows_equal_twin) {
    static const int cins[3] = {256, 48, 20}; /* 20: no SIMD kernel, every row runs the twin */
    float x[5 * 260], wT[3 * 256], b[3], o1[5 * 3], o2[5 * 3];
    uint32_t seed = 11;
    int isa, c, ok = 1;
    size_t i;
    for (i = 0; i < sizeof x / 4; i++) x[i] = frand(&seed);
    for (i = 0; i < sizeof wT / 4; i++) wT[i] = frand(&seed);
    for (i = 0; i < 3; i++) b[i] = frand(&seed);
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        const fpf__kernels *K = fpf__kernels_for((fpf_isa)isa);
        if (!K) continue;
        for (c = 0; c < 3; c++) {
            fpf__f32_narrow_fn fn = fpf__narrow_for(K, cins[c]);
            if (fn) fn(x, 5, 260, cins[c], wT, 3, b, o1); else fpf__f32_narrow__ref(x, 5, 260, cins[c], wT, 3, b, o1, K->fused);
            fpf__f32_narrow__ref(x, 5, 260, cins[c], wT, 3, b, o2, K->fused);
            if (memcmp(o1, o2, sizeof o1) != 0) { printf("  %s narrow differs at cin %d\n", fpf_isa_name(K->isa), cins[c]); ok = 0; }
            if ((fn != NULL) != (cins[c] % 16 == 0)) ok = 0;
        }
    }
    CHECK(ok);
}

/* The mask head's end: the deconv's taps straight into mrcnn_mask's sigmoid, against the deconv's
   28×28 output followed by the narrow twin and the sigmoid, pixel by pixel. */
TEST(mask_upsample_equals_deconv_then_narrow) {
    enum { H = 6, W = 3, CIN = 16, C = 32, KC = 2 }; /* H: two 3-row maps as one tall map */
    float in[H * W * CIN], wt[4 * CIN * C], b[C], wo[C * KC], bo[KC], wT[KC * C], up[4 * H * W * C], tmp[H * W * C];
    float m1[4 * H * W * KC], m2[4 * H * W * KC], lg[H * W * KC], packed[4 * CIN * 32], po[C * 16];
    uint32_t seed = 21;
    fpf__conv k = make_conv(wt, b, 2, CIN, C), kp, ko = make_conv(wo, bo, 1, C, KC), kop;
    int isa, ok = 1, p, o;
    size_t i;
    for (i = 0; i < sizeof in / 4; i++) in[i] = frand(&seed);
    for (i = 0; i < sizeof wt / 4; i++) wt[i] = frand(&seed);
    for (i = 0; i < C; i++) b[i] = frand(&seed);
    for (i = 0; i < C * KC; i++) wo[i] = frand(&seed);
    bo[0] = 0.25f; bo[1] = -0.5f;
    for (o = 0; o < KC; o++) for (p = 0; p < C; p++) wT[o * C + p] = wo[p * KC + o];
    fpf__pack(wt, fpf__rows(&k), C, packed);
    kp = k; kp.wp = packed; kp.pstride = fpf__rows(&k) * 16; kp.w = NULL;
    fpf__pack(wo, fpf__rows(&ko), KC, po);
    kop = ko; kop.wp = po; kop.pstride = fpf__rows(&ko) * 16; kop.w = NULL;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        if (!K) continue;
        fpf__deconv2x2(&r, &kp, fpf__mk(in, H, W, CIN), NULL, fpf__mk(m1, 2 * H, 2 * W, KC), tmp, &kop, wT, lg);
        fpf__deconv2x2(&r, &kp, fpf__mk(in, H, W, CIN), NULL, fpf__mk(up, 2 * H, 2 * W, C), tmp, NULL, NULL, NULL);
        fpf__f32_narrow__ref(up, 4 * H * W, C, C, wT, KC, bo, m2, K->fused);
        for (i = 0; i < 4 * H * W * KC; i++) m2[i] = fpf__sigmoidf(m2[i]);
        if (memcmp(m1, m2, sizeof m1) != 0) { printf("  %s mask upsample differs\n", fpf_isa_name(K->isa)); ok = 0; }
    }
    CHECK(ok);
}

/* The stem kernels (conv1 7×7/2 + bias + ReLU + the 3×3/2 max-pool, fpf__stem_band) against
   their twin fpf__f32_stem__ref, every row this CPU runs, bit for bit: cin 1 and 2, odd sizes,
   border and interior blocks, channel tails, C1 made in bands of `band` rows (0: one band) and its
   tasks run in reverse order (as another thread count might). */
static void reverse_for(void *pool, fpf_task_fn fn, void *ctx, int n) { (void)pool; while (n-- > 0) fn(ctx, n); }

static int stem_matches_ref(int h, int w, int cin, int cout, int band) {
    int h2 = (h + 1) / 2, w2 = (w + 1) / 2, h1 = (h2 + 1) / 2, w1 = (w2 + 1) / 2, isa, ok = 1, y0;
    size_t nw = (size_t)49 * cin * cout, no = (size_t)h1 * w1 * cout, i;
    float *in = (float *)malloc((size_t)h * w * cin * 4), *wt = (float *)malloc(nw * 4), *b = (float *)malloc((size_t)cout * 4);
    float *c1 = (float *)malloc((size_t)h2 * w2 * cout * 4), *o1 = (float *)malloc(no * 4), *o2 = (float *)malloc(no * 4);
    float *ring = (float *)malloc(fpf__stem_ring_floats(h1, w2, cout) * 4);
    uint32_t seed = (uint32_t)(h * 31 + w * 7 + cin + cout);
    fpf__conv k = make_conv(wt, b, 7, cin, cout), kp;
    float *packed = (float *)malloc(fpf__packed_floats(&k) * 4);
    for (i = 0; i < (size_t)h * w * cin; i++) in[i] = frand(&seed);
    for (i = 0; i < nw; i++) wt[i] = frand(&seed) * 0.3f;
    for (i = 0; i < (size_t)cout; i++) b[i] = frand(&seed);
    fpf__pack(wt, fpf__rows(&k), cout, packed);
    kp = k; kp.w = NULL; kp.wp = packed; kp.pstride = fpf__rows(&k) * 16;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        int same;
        if (!K) continue;
        r.parallel_for = reverse_for;
        for (i = 0; i < no; i++) o1[i] = -1.0f;
        for (y0 = 0; y0 < h1; y0 += band ? band : h1)
            fpf__stem_band(&r, &kp, fpf__mk(in, h, w, cin), fpf__mk(o1, h1, w1, cout), y0, band && y0 + band < h1 ? y0 + band : h1, ring,
                           NULL, NULL);
        fpf__f32_stem__ref(&k, fpf__mk(in, h, w, cin), c1, fpf__mk(o2, h1, w1, cout), K->fused);
        same = memcmp(o1, o2, no * 4) == 0;
        if (!same) printf("  stem %s differs at %dx%d cin %d cout %d band %d\n", fpf_isa_name(K->isa), h, w, cin, cout, band);
        ok &= same;
    }
    free(in); free(wt); free(b); free(c1); free(o1); free(o2); free(ring); free(packed);
    return ok;
}

TEST(stem_equals_ref) {
    CHECK(stem_matches_ref(1, 1, 1, 64, 0));    /* one pixel: every tap but the centre is padding */
    CHECK(stem_matches_ref(3, 1, 2, 17, 0));    /* one column, channel tail 17 = 16 + 1 */
    CHECK(stem_matches_ref(13, 17, 1, 64, 0));  /* odd sizes, one 64-channel block */
    CHECK(stem_matches_ref(11, 9, 2, 40, 0));   /* cin 2, 40 = 16 + 16 + 8 */
    CHECK(stem_matches_ref(70, 90, 1, 80, 0));  /* interior blocks; 80 = 64 + 16 (the AVX-512 16-channel tail) */
    CHECK(stem_matches_ref(45, 61, 2, 64, 3));  /* cin 2, interior blocks, C1 in bands of 3 rows */
    CHECK(stem_matches_ref(64, 64, 1, 64, 5));  /* even sizes as in a model; bands of 5 rows */
}

/* By hand: an 8×8 ramp in[i][j] = 1 + 8i + j, conv1 with the one tap (ky, kx) = (0, 0) of weight
   co + 1 and bias 0: conv1 (y, x) = (co + 1)·in[2y − 3][2x − 3], non-zero only at y, x in {2, 3}:
   (2,2) in[1][1] = 10, (2,3) in[1][3] = 12, (3,2) in[3][1] = 26, (3,3) in[3][3] = 28. C1 (2×2)
   pools conv1 rows/cols {0,1,2} and {2,3}: 10, 12 / 26, 28 (times co + 1). */
TEST(stem_by_hand) {
    float in[64], wt[49 * 2], b[2] = {0.0f, 0.0f}, packed[49 * 16], ring[3 * 4 * 2 * 3], out[2 * 2 * 2];
    const float want[4] = {10, 12, 26, 28};
    int isa, i;
    fpf__conv k = make_conv(wt, b, 7, 1, 2);
    for (i = 0; i < 64; i++) in[i] = (float)(1 + i);
    memset(wt, 0, sizeof wt);
    wt[0] = 1.0f; wt[1] = 2.0f;                       /* tap (0, 0), channels 0 and 1 */
    fpf__pack(wt, fpf__rows(&k), 2, packed);
    k.w = NULL; k.wp = packed; k.pstride = fpf__rows(&k) * 16;
    CHECK(fpf__stem_ring_floats(2, 4, 2) <= sizeof ring / sizeof ring[0]);
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        if (!K) continue;
        fpf__stem_band(&r, &k, fpf__mk(in, 8, 8, 1), fpf__mk(out, 2, 2, 2), 0, 2, ring, NULL, NULL);
        for (i = 0; i < 4; i++) CHECK(out[2 * i] == want[i] && out[2 * i + 1] == 2.0f * want[i]);
    }
}

/* Winograd F(2×2, 3×3) (fpf__wino_conv2d, section "Winograd"): every kernel row against the twin
   fpf__f32_wino__ref(_fused) bit for bit, with the tasks run in reverse order and in several waves;
   and against the direct conv within rounding. flags: the epilogue; nb: a flat batch of nb maps;
   band: output rows [3, h) from input rows [2, h) (the FPN's bands); ldx: out.ld = cout + ldx. */
static int wino_matches(int h, int w, int cin, int cout, int flags, int nb, int band, int ldx) {
    int y0 = band ? 3 : 0, r0 = band ? 2 : 0, oh = h - y0, ld = cout + ldx, isa, ok = 1, i;
    size_t ni = (size_t)h * w * cin, no = (size_t)oh * w * ld, nw = (size_t)9 * cin * cout, nr = (size_t)h * w * cout;
    float *in = (float *)malloc(ni * nb * 4), *wt = (float *)malloc(nw * 4), *b = (float *)malloc((size_t)cout * 4);
    float *o1 = (float *)malloc(no * nb * 4), *o2 = (float *)malloc(no * nb * 4), *o3 = (float *)malloc(no * nb * 4);
    float *res = (float *)malloc(nr * 4), *init = (float *)malloc(no * nb * 4);
    uint32_t seed = (uint32_t)(h * 7 + w * 3 + cin * 11 + cout + flags + nb + band);
    fpf__conv kk = make_conv(wt, b, 3, cin, cout), kp;
    float *packed = (float *)malloc(fpf__packed_floats(&kk) * 4), *U = (float *)malloc(16 * fpf__wino_stride(&kk) * 4);
    fpf__map rm = (flags & FPF__RESIDUAL_UP2) ? fpf__mk(res, (h + 1) / 2, (w + 1) / 2, cout) : fpf__mk(res, h, w, cout);
    double big = 0.0, err = 0.0;
    for (i = 0; i < (int)(ni * nb); i++) in[i] = frand(&seed);
    for (i = 0; i < (int)nw; i++) wt[i] = frand(&seed);
    for (i = 0; i < cout; i++) b[i] = frand(&seed);
    for (i = 0; i < (int)nr; i++) res[i] = frand(&seed);
    for (i = 0; i < (int)(no * nb); i++) init[i] = frand(&seed);
    fpf__pack(wt, fpf__rows(&kk), cout, packed);
    fpf__wino_pack(&kk, U);
    kp = kk; kp.w = NULL; kp.wp = packed; kp.pstride = fpf__rows(&kk) * 16; kp.wino = U;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__conv_args a;
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        size_t j;
        if (!K) continue;
        r.wbuf = (float *)malloc(FPF__WINO_WAVE * fpf__wino_slot(cin) * 4); r.wino_cin = cin; r.parallel_for = reverse_for;
        memset(&a, 0, sizeof a);
        a.k = &kp; a.in = fpf__mk(in + (size_t)r0 * w * cin, h - r0, w, cin); a.iy0 = r0; a.y0 = y0;
        a.out = fpf__mk(o1, oh, w, cout); a.out.ld = ld; a.stride = 1; a.pad = 1; a.flags = flags;
        a.res = (flags & (FPF__RESIDUAL | FPF__RESIDUAL_UP2)) ? &rm : NULL;
        if (nb > 1) { a.batch = nb; a.in_bs = ni; a.out_bs = no; a.flat = 1; }
        memcpy(o1, init, no * nb * 4); memcpy(o2, init, no * nb * 4); memcpy(o3, init, no * nb * 4);
        fpf__conv2d(&r, &a);                                                  /* the row, in waves of 8 */
        memcpy(o2, init, no * nb * 4);
        r.wave = 3; a.out.d = o2;
        fpf__conv2d(&r, &a);                                                  /* waves of 3: the same bits */
        if (memcmp(o1, o2, no * nb * 4) != 0) { printf("  %s: waves of 3 differ from 8\n", fpf_isa_name(K->isa)); ok = 0; }
        memcpy(o2, init, no * nb * 4);
        a.kern = K;
        if (K->fused) fpf__f32_wino__ref_fused(&a); else fpf__f32_wino__ref(&a);
        if (memcmp(o1, o2, no * nb * 4) != 0) { printf("  %s: Winograd differs from its twin at %dx%d cin %d cout %d\n", fpf_isa_name(K->isa), h, w, cin, cout); ok = 0; }
        for (j = 0; j < (size_t)(nb > 1 ? nb : 1); j++) {                       /* the direct conv */
            fpf__conv_args one = a;
            one.k = &kk; one.batch = 0; one.flat = 0; one.in.d += j * ni; one.out.d = o3 + j * no;
            fpf__f32_conv__ref_fused(&one);
        }
        for (j = 0; j < no * nb; j++) {
            double d = fabs((double)o1[j] - o3[j]);
            big = fabs(o3[j]) > big ? fabs(o3[j]) : big; err = d > err ? d : err;
        }
        free(r.wbuf);
    }
    if (!(err <= 4e-6 * (big + 1.0))) { printf("  Winograd vs direct: max |diff| %g, max |out| %g at %dx%d cin %d\n", err, big, h, w, cin); ok = 0; }
    free(in); free(wt); free(b); free(o1); free(o2); free(o3); free(res); free(init); free(packed); free(U);
    return ok;
}

TEST(winograd_equals_twin) {
    CHECK(wino_matches(7, 9, 5, 17, FPF__RELU, 1, 0, 0));           /* odd sizes: half tiles; cin 5, cout 17 = 16 + 1 */
    CHECK(wino_matches(40, 70, 8, 16, FPF__LINEAR, 1, 0, 0));       /* 700 tiles: 11 tasks, 2 waves */
    CHECK(wino_matches(14, 14, 24, 48, FPF__RELU, 3, 0, 0));        /* the mask head: a flat batch; 48 = 32 + 16 */
    CHECK(wino_matches(9, 11, 20, 32, FPF__RESIDUAL | FPF__RELU, 1, 1, 0)); /* a band of rows, residual */
    CHECK(wino_matches(8, 10, 16, 40, FPF__RESIDUAL_UP2, 1, 0, 0)); /* upsample-add */
    CHECK(wino_matches(6, 6, 16, 16, FPF__ACCUMULATE, 1, 0, 5));    /* FPF-add into a wider map */
    CHECK(wino_matches(1, 1, 3, 2, FPF__LINEAR, 1, 0, 0));          /* one pixel */
    CHECK(wino_matches(2, 333, 6, 40, FPF__RELU, 1, 0, 0));         /* wide, two rows */
}

/* By hand: one channel, a 2×2 image [[1, 2], [3, 4]], g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], bias
   0.5, zero padding. out(0,0) = 5·1 + 6·2 + 8·3 + 9·4 = 77, out(0,1) = 4·1 + 5·2 + 7·3 + 8·4 = 67,
   out(1,0) = 2·1 + 3·2 + 5·3 + 6·4 = 47, out(1,1) = 1·1 + 2·2 + 4·3 + 5·4 = 37; every value is a
   small integer or half of one, so the transforms are exact. U[ξ = 4·1 + 1] = (G g Gᵀ)[1][1] =
   Σg / 4 = 45 / 4, U[0] = g[0][0] = 1, U[15] = g[2][2] = 9, U[3] = (G g Gᵀ)[0][3] = g[0][2] = 3. */
TEST(winograd_by_hand) {
    float x[4] = {1, 2, 3, 4}, g[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b[1] = {0.5f}, o[4], U[16 * 16];
    static const float want[4] = {77.5f, 67.5f, 47.5f, 37.5f};
    fpf__conv k = make_conv(g, b, 3, 1, 1);
    int isa;
    fpf__wino_pack(&k, U);
    CHECK(fpf__wino_stride(&k) == 16);
    CHECK(U[5 * 16] == 11.25f && U[0] == 1.0f && U[15 * 16] == 9.0f && U[3 * 16] == 3.0f);
    k.wino = U; k.w = NULL; k.wp = fpf__zeros; k.pstride = 9 * 16; /* the direct panels are not read */
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        fpf__conv_args a;
        fpf__runner r;
        const fpf__kernels *K = runner_for(isa, &r);
        if (!K) continue;
        r.wbuf = (float *)malloc(FPF__WINO_WAVE * fpf__wino_slot(1) * 4); r.wino_cin = 1;
        memset(&a, 0, sizeof a);
        a.k = &k; a.in = fpf__mk(x, 2, 2, 1); a.out = fpf__mk(o, 2, 2, 1); a.stride = 1; a.pad = 1;
        fpf__conv2d(&r, &a);
        CHECK(memcmp(o, want, sizeof want) == 0);
        free(r.wbuf);
    }
}

TEST(pack_layout_by_hand) { /* 1×1, cin 2, cout 17: panel 0 = channels 0..15, panel 1 = 16 + zeros */
    float w[2 * 17], packed[2 * 2 * 16];
    int i;
    for (i = 0; i < 34; i++) w[i] = (float)i;          /* w[ci][co] = 17·ci + co */
    fpf__pack(w, 2, 17, packed);
    CHECK(packed[0] == 0.0f && packed[15] == 15.0f);   /* panel 0, row ci 0 */
    CHECK(packed[16] == 17.0f && packed[31] == 32.0f); /* panel 0, row ci 1 */
    CHECK(packed[32] == 16.0f && packed[33] == 0.0f);  /* panel 1, row ci 0: channel 16, then padding */
    CHECK(packed[48] == 33.0f && packed[63] == 0.0f);  /* panel 1, row ci 1 */
}

int main(void) {
    RUN(kernel_paths_this_cpu_runs);
    RUN(pack_layout_by_hand);
    RUN(conv_tiled_equals_ref_on_odd_shapes);
    RUN(deconv_equals_ref);
    RUN(flat_batches_equal_ref);
    RUN(narrow_order_by_hand);
    RUN(narrow_rows_equal_twin);
    RUN(mask_upsample_equals_deconv_then_narrow);
    RUN(stem_equals_ref);
    RUN(stem_by_hand);
    RUN(winograd_equals_twin);
    RUN(winograd_by_hand);
#if defined(__aarch64__)
    return harness_summary("kernels aarch64-qemu");
#else
    return harness_summary("kernels");
#endif
}
