/* tests/test_rpn.c - the fused RPN (fpf__rpn_fused) against its plain twin (fpf__rpn_band__ref).
 *
 * The fused path makes the shared 3×3 conv a tile at a time and runs rpn_class_raw and
 * rpn_bbox_pred as one 18-channel 1×1 conv (rpn_head) on each tile, then the softmax; the plain
 * path makes the band's 512-deep map whole and runs the two output convs over it. They must give
 * the same bits: on odd level sizes (bands, row and channel tails, narrow maps), on every fp32
 * and int8 kernel row this CPU runs, with 1 and 2 threads; and on whole seeded models, tiny and
 * paper, in the RPN's scores and deltas (the int8 models: tests/test_int8.c). Plus the fused
 * head's weights and panels by hand. */
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "harness.h"
#include <stdint.h>
#include <stdlib.h>

static uint32_t rnd(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }
static float frand(uint32_t *s) { return (float)rnd(s) / 16777216.0f * 2.0f - 1.0f; }

/* ---- layers by hand: fp32 convs packed as the loader packs them, an int8 3×3 as it binds one */

typedef struct layer {
    fpf__conv k;
    fpf__qconv q;
    float *w, *b, *wp, *scale, *U;
    int8_t *qw;
    void *qmem;
} layer;

static void layer_make(layer *L, int kh, int cin, int cout, int int8, uint32_t *seed) {
    size_t nw = (size_t)kh * kh * cin * cout, i;
    memset(L, 0, sizeof *L);
    L->k.kh = L->k.kw = kh; L->k.cin = cin; L->k.cout = cout;
    L->b = (float *)malloc((size_t)cout * 4);
    for (i = 0; i < (size_t)cout; i++) L->b[i] = 0.2f * frand(seed);
    L->k.b = L->b;
    if (int8) { /* s8 weights over the whole range, per-channel scales, z_x 3 */
        L->qw = (int8_t *)malloc(nw);
        L->scale = (float *)malloc((size_t)cout * 4);
        for (i = 0; i < nw; i++) L->qw[i] = (int8_t)(int)(rnd(seed) % 256 - 128);
        for (i = 0; i < (size_t)cout; i++) L->scale[i] = 0.0005f + 0.001f * (frand(seed) + 1.0f);
        L->q.w = L->qw; L->q.scale = L->scale; L->q.in_scale = 0.01f; L->q.in_zero = 3;
        L->qmem = malloc(fpf__qlayer_bytes(&L->k) + 64);
        L->k.q = &L->q;
        fpf__qinit(&L->q, &L->k, 0, (void *)(((uintptr_t)L->qmem + 63) & ~(uintptr_t)63));
        return;
    }
    L->w = (float *)malloc(nw * 4);
    for (i = 0; i < nw; i++) L->w[i] = frand(seed) / (float)sqrt((double)kh * kh * cin);
    L->wp = (float *)malloc(fpf__packed_floats(&L->k) * 4);
    fpf__pack(L->w, fpf__rows(&L->k), cout, L->wp);
    L->k.w = L->w; L->k.wp = L->wp; L->k.pstride = fpf__rows(&L->k) * 16;
    if (kh == 3) { /* Winograd's U, as the loader makes it; used where the runner has wbuf */
        L->U = (float *)malloc(16 * fpf__wino_stride(&L->k) * 4);
        fpf__wino_pack(&L->k, L->U);
        L->k.wino = L->U;
    }
}
static void layer_free(layer *L) { free(L->w); free(L->b); free(L->wp); free(L->scale); free(L->qw); free(L->qmem); free(L->U); }

/* ---- one level, fused and plain */

static uint8_t qbuf_mem[FPF__ZEROS + (1 << 20)];

typedef struct level_out { float *probs, *deltas; int fused; } level_out;

static void run_level(const fpf__heads *h, fpf__map in, const fpf__kernels *K, const struct fpf__qkernels *Q,
                      fpf__pool *pool, int plain, int wino, level_out *o) {
    size_t A = (size_t)in.h * in.w * FPF__A, nh = (size_t)FPF__BAND * in.w * 6 * FPF__A, i;
    float *mid = (float *)malloc((size_t)FPF__BAND * in.w * h->rpn_conv.cout * 4), *head = (float *)malloc(nh * 4);
    fpf__runner r;
    memset(&r, 0, sizeof r);
    r.kern = K; r.qkern = Q; r.qbuf = qbuf_mem; r.qcap = sizeof qbuf_mem - FPF__ZEROS;
    if (pool) { r.parallel_for = fpf__pool_run; r.pool = pool; }
    if (wino) { r.wino_cin = h->rpn_conv.cin; r.wbuf = (float *)malloc(FPF__WINO_WAVE * fpf__wino_slot(r.wino_cin) * 4); }
    o->probs = (float *)malloc(A * 2 * 4); o->deltas = (float *)malloc(A * 4 * 4);
    for (i = 0; i < nh; i++) head[i] = 0.0f / 0.0f; /* NaN: still there after a run = the plain path ran */
    fpf__rpn_level(&r, h, in, mid, head, o->probs, o->deltas, plain);
    o->fused = !(head[0] != head[0]);
    free(mid); free(head); free(r.wbuf);
}

/* Level h×w of depth D (row stride ld) into an RPN of width R; the 3×3 fp32 or int8, direct or (wino)
   Winograd. Fused and plain, 1 and 2 threads: the same bits, and the fused path ran. */
static int level_matches(const fpf__kernels *K, const struct fpf__qkernels *Q, fpf__pool *pool, int h, int w, int D,
                         int ld, int R, int int8, int wino) {
    uint32_t seed = (uint32_t)(h * 131 + w * 17 + D * 7 + R + int8);
    size_t n = (size_t)h * w * ld, A = (size_t)h * w * FPF__A, i;
    float *x = (float *)malloc(n * 4), *hmem;
    layer conv, cls, box;
    fpf__heads hd;
    level_out p1, f1, f2, p2;
    int ok;
    for (i = 0; i < n; i++) x[i] = frand(&seed) + 0.3f;
    layer_make(&conv, 3, D, R, int8, &seed);
    layer_make(&cls, 1, R, 2 * FPF__A, 0, &seed);
    layer_make(&box, 1, R, 4 * FPF__A, 0, &seed);
    memset(&hd, 0, sizeof hd);
    hd.rpn_conv = conv.k; hd.rpn_class = cls.k; hd.rpn_bbox = box.k;
    hd.rpn_conv.q = conv.k.q;
    hmem = (float *)malloc(fpf__rpn_head_floats(&cls.k, &box.k) * 4);
    ok = fpf__rpn_head_make(&hd.rpn_class, &hd.rpn_bbox, hmem, &hd.rpn_head);
    {
        fpf__map in = fpf__mk(x, h, w, D);
        in.ld = ld;
        run_level(&hd, in, K, Q, NULL, 1, wino, &p1);
        run_level(&hd, in, K, Q, NULL, 0, wino, &f1);
        run_level(&hd, in, K, Q, pool, 0, wino, &f2);
        run_level(&hd, in, K, Q, pool, 1, wino, &p2);
    }
    ok &= !p1.fused && f1.fused && f2.fused && !p2.fused;
    ok &= memcmp(p1.probs, f1.probs, A * 8) == 0 && memcmp(p1.deltas, f1.deltas, A * 16) == 0;
    ok &= memcmp(p1.probs, f2.probs, A * 8) == 0 && memcmp(p1.deltas, f2.deltas, A * 16) == 0;
    ok &= memcmp(p1.probs, p2.probs, A * 8) == 0 && memcmp(p1.deltas, p2.deltas, A * 16) == 0;
    ok &= p1.probs[0] + p1.probs[1] > 0.99f && p1.probs[0] + p1.probs[1] < 1.01f; /* a softmax */
    if (!ok)
        printf("  %s/%s %s%s: fused differs from plain at %dx%d D %d ld %d R %d\n", fpf_isa_name(K->isa),
               Q ? fpf_qisa_name(Q->isa) : "-", int8 ? "int8" : "fp32", wino ? " Winograd" : "", h, w, D, ld, R);
    free(p1.probs); free(p1.deltas); free(f1.probs); free(f1.deltas);
    free(f2.probs); free(f2.deltas); free(p2.probs); free(p2.deltas);
    layer_free(&conv); layer_free(&cls); layer_free(&box); free(hmem); free(x);
    return ok;
}

/* Level sizes: two bands with a 5-row tail and two column tiles (fp32 64, int8 96 wide), a
   narrow map (tasks of several rows), one pixel, a band exactly. */
static const int g_shapes[][4] = {{37, 101, 24, 40}, {5, 9, 16, 48}, {1, 1, 8, 16}, {32, 64, 20, 33}};

TEST(fused_head_by_hand) { /* cin 2: w[r][co] = class 100r + j, then bbox 1000 + 100r + j */
    float wc[2 * 6], wb[2 * 12], bc[6], bb[12], pc[16 * 2], pb[16 * 2], *mem;
    fpf__conv cls, box, head;
    int r, j;
    for (r = 0; r < 2; r++) {
        for (j = 0; j < 6; j++) wc[r * 6 + j] = (float)(100 * r + j);
        for (j = 0; j < 12; j++) wb[r * 12 + j] = (float)(1000 + 100 * r + j);
    }
    for (j = 0; j < 6; j++) bc[j] = (float)-j;
    for (j = 0; j < 12; j++) bb[j] = (float)(-10 - j);
    memset(&cls, 0, sizeof cls); memset(&box, 0, sizeof box);
    cls.kh = cls.kw = box.kh = box.kw = 1; cls.cin = box.cin = 2; cls.cout = 6; box.cout = 12;
    fpf__pack(wc, 2, 6, pc); fpf__pack(wb, 2, 12, pb);
    cls.wp = pc; cls.pstride = 32; cls.b = bc; box.wp = pb; box.pstride = 32; box.b = bb;
    CHECK(fpf__rpn_head_floats(&cls, &box) == 2 * 18 + 18 + 2 * 2 * 16);
    mem = (float *)malloc(fpf__rpn_head_floats(&cls, &box) * 4);
    CHECK(fpf__rpn_head_make(&cls, &box, mem, &head) == 1);
    CHECK(head.cout == 18 && head.cin == 2 && head.kh == 1 && head.pstride == 32 && head.q == NULL);
    CHECK(head.w[0] == 0.0f && head.w[5] == 5.0f && head.w[6] == 1000.0f && head.w[17] == 1011.0f);
    CHECK(head.w[18 + 0] == 100.0f && head.w[18 + 6] == 1100.0f && head.w[18 + 17] == 1111.0f);
    CHECK(head.b[0] == 0.0f && head.b[5] == -5.0f && head.b[6] == -10.0f && head.b[17] == -21.0f);
    /* panel 0: row r = channels 0..15 (6 class, 10 bbox); panel 1: channels 16, 17, then zeros */
    CHECK(head.wp[16 + 0] == 100.0f && head.wp[16 + 6] == 1100.0f && head.wp[16 + 15] == 1109.0f);
    CHECK(head.wp[32 + 0] == 1010.0f && head.wp[32 + 1] == 1011.0f && head.wp[32 + 2] == 0.0f);
    CHECK(head.wp[32 + 16 + 1] == 1111.0f && head.wp[32 + 16 + 15] == 0.0f);
    box.q = (const fpf__qconv *)&box; /* an int8 output conv: no fused head */
    CHECK(fpf__rpn_head_make(&cls, &box, mem, &head) == 0 && head.cout == 0);
    free(mem);
}

TEST(fused_equals_plain_fp32_every_row) {
    fpf__pool pool;
    int isa, i, ok = 1, started = fpf__pool_start(&pool, 2);
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) {
        if (!fpf_isa_supported((fpf_isa)isa)) continue;
        for (i = 0; i < 8; i++) /* direct, then Winograd */
            ok &= level_matches(fpf__kernels_for((fpf_isa)isa), NULL, started ? &pool : NULL, g_shapes[i % 4][0], g_shapes[i % 4][1],
                                g_shapes[i % 4][2], g_shapes[i % 4][2] + (i % 4 == 1 ? 3 : 0), g_shapes[i % 4][3], 0, i / 4);
    }
    if (started) fpf__pool_stop(&pool);
    CHECK(started);
    CHECK(ok);
}

TEST(fused_equals_plain_int8_every_row) {
    fpf__pool pool;
    int q, i, ok = 1, started = fpf__pool_start(&pool, 2);
    for (q = FPF_QISA_SCALAR; q <= FPF_QISA_AMX; q++) {
        const fpf__kernels *K = fpf__kernels_for(q == FPF_QISA_SCALAR ? FPF_ISA_SCALAR : FPF_ISA_AUTO);
        const struct fpf__qkernels *Q = fpf__qkernels_for((fpf_qisa)q, FPF_ISA_AUTO);
        if (!Q) continue;
        for (i = 0; i < 4; i++)
            ok &= level_matches(K, Q, started ? &pool : NULL, g_shapes[i][0], g_shapes[i][1], g_shapes[i][2],
                                g_shapes[i][2] + (i == 1 ? 3 : 0), g_shapes[i][3], 1, 0);
    }
    if (started) fpf__pool_stop(&pool);
    CHECK(ok);
}

/* ---- whole seeded models: the RPN's scores and deltas, fused against plain */

typedef struct rpn_capture { float *probs, *deltas; size_t A; } rpn_capture;
static void grab(void *user, const char *name, const float *d, int ndim, const int *dims, int ld) {
    rpn_capture *c = (rpn_capture *)user;
    size_t A = (size_t)dims[0], i;
    float **dst = strcmp(name, "rpn_class") == 0 ? &c->probs : strcmp(name, "rpn_bbox") == 0 ? &c->deltas : NULL;
    if (!dst || ndim != 2) return;
    free(*dst);
    *dst = (float *)malloc(A * dims[1] * 4);
    for (i = 0; i < A; i++) memcpy(*dst + i * dims[1], d + i * ld, (size_t)dims[1] * 4);
    c->A = A;
}

static int model_run(fpf_model *m, int isa, int threads, int plain, int h, int w, rpn_capture *c) {
    fpf_session *s = NULL;
    fpf_options o;
    fpf_input in;
    const fpf_output *out;
    uint16_t *px = (uint16_t *)malloc((size_t)h * w * 2);
    int i, rc = 0, keep = m->heads.rpn_head.cout;
    uint32_t seed = 99;
    for (i = 0; i < h * w; i++) px[i] = (uint16_t)(((i / w) * 37 + (i % w) * 11) % 700 + rnd(&seed) % 300);
    memset(&o, 0, sizeof o);
    o.isa = (fpf_isa)isa; o.n_threads = threads; o.stage = grab; o.stage_user = c;
    if (plain) m->heads.rpn_head.cout = 0; /* the plain path */
    if (fpf_session_init(m, NULL, h, w, &o, &s) != FPF_OK) rc = -1;
    else {
        in.cell = fpf_image_u16(px, w, h, (size_t)w * 2);
        in.nucleus = fpf_image_u16(px, w, h, (size_t)w * 2);
        if (fpf_session_run(s, &in, &out) != FPF_OK) rc = -1;
    }
    m->heads.rpn_head.cout = keep;
    fpf_session_free(s);
    free(px);
    return rc;
}

static int model_matches(const char *config, const char *variant, int all_rows, int h, int w) {
    fpf_config c;
    fpf_variant v = FPF_VARIANT_CORES;
    fpf_model *m = NULL;
    size_t n = 0;
    void *f;
    char msg[256];
    int ok = 1, isa, t;
    rpn_capture p = {NULL, NULL, 0}, q = {NULL, NULL, 0};
    fpf_seeded_variant(variant, &v);
    fpf_seeded_config(&c, config, v);
    f = fpf_seeded_file(&c, 11, 7, &n);
    if (!f || fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) != FPF_OK) { free(f); return 0; }
    free(f);
    ok &= m->heads.rpn_head.cout == 18;
    for (isa = all_rows ? FPF_ISA_SCALAR : FPF_ISA_AUTO; isa <= (all_rows ? FPF_ISA_NEON : FPF_ISA_AUTO); isa++)
        for (t = 1; t <= 2 && (isa == FPF_ISA_AUTO || fpf_isa_supported((fpf_isa)isa)); t++) {
            ok &= model_run(m, isa, t, 1, h, w, &p) == 0 && model_run(m, isa, t, 0, h, w, &q) == 0;
            ok &= p.A > 0 && p.A == q.A && p.probs && q.probs && p.deltas && q.deltas;
            ok &= ok && memcmp(p.probs, q.probs, p.A * 8) == 0 && memcmp(p.deltas, q.deltas, p.A * 16) == 0;
            if (!ok) { printf("  %s %s, fp32 row %s, %d threads: fused RPN differs\n", config, variant, fpf_isa_name((fpf_isa)isa), t); break; }
        }
    free(p.probs); free(p.deltas); free(q.probs); free(q.deltas);
    fpf_model_free(m);
    return ok;
}

TEST(tiny_models_same_rpn_outputs) {
    CHECK(model_matches("tiny", "fpf_add", 1, 128, 160));
    CHECK(model_matches("tiny", "fpf_concat", 0, 96, 128)); /* D = 2·FPN width */
}

TEST(paper_model_same_rpn_outputs) {
#ifdef HARNESS_SANITIZED
    SKIP("the 126 MB paper model is slow under the sanitizers; the plain build runs it");
#else
    CHECK(model_matches("paper", "fpf_add", 0, 128, 128));
#endif
}

int main(void) {
    RUN(fused_head_by_hand);
    RUN(fused_equals_plain_fp32_every_row);
    RUN(fused_equals_plain_int8_every_row);
    RUN(tiny_models_same_rpn_outputs);
    RUN(paper_model_same_rpn_outputs);
    return harness_summary("rpn");
}
