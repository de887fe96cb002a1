/* tests/test_api.c - fpf.h's API contract: identical bits for any thread count, pool and kernel
 * row; allocation hooks and no allocation inside a run; the exact workspace; the shared nucleus
 * pyramid; 16-bit input; odd sizes; the abort callback; the stage callback switched between runs
 * (fpf_session_set_stage); config words and layer lists. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "harness.h"
#include "fpf_test_util.h"
#include <pthread.h>

/* ---------------------------------------------------------------- threads and determinism */

static void reverse_parallel_for(void *pool, fpf_task_fn fn, void *ctx, int n) {
    int i;
    (void)pool;
    for (i = n - 1; i >= 0; i--) fn(ctx, i); /* any order must give the same bits */
}

typedef struct pt_job { fpf_task_fn fn; void *ctx; int n, next; pthread_mutex_t mu; } pt_job;
static void *pt_worker(void *arg) {
    pt_job *j = (pt_job *)arg;
    for (;;) {
        int t;
        pthread_mutex_lock(&j->mu); t = j->next++; pthread_mutex_unlock(&j->mu);
        if (t >= j->n) return NULL;
        j->fn(j->ctx, t);
    }
}
static void pthread_parallel_for(void *pool, fpf_task_fn fn, void *ctx, int n) {
    pthread_t th[3];
    pt_job j;
    int i;
    (void)pool;
    j.fn = fn; j.ctx = ctx; j.n = n; j.next = 0;
    pthread_mutex_init(&j.mu, NULL);
    for (i = 0; i < 3; i++) pthread_create(&th[i], NULL, pt_worker, &j);
    for (i = 0; i < 3; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
}

static int run_signature_opt(fpf_model *m, fpf_parallel_for_fn pf, int n_threads, int isa, int conv3x3, double *sig) {
    enum { H = 100, W = 130 };
    static uint8_t cell[H * W], nuc[H * W];
    fpf_options o;
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    int i, n;
    make_images(H, W, cell, nuc);
    in = make_input(cell, nuc, H, W);
    memset(&o, 0, sizeof o);
    o.parallel_for = pf; o.n_threads = n_threads; o.isa = isa; o.conv3x3 = conv3x3;
    if (fpf_session_init(m, NULL, H, W, &o, &s) != FPF_OK || fpf_session_run(s, &in, &out) != FPF_OK) return -1;
    n = out->n_cells;
    for (i = 0; i < n; i++) {
        const fpf_instance *c = &out->cells[i];
        sig[i] = c->score * 1e6 + c->y1 * 1e4 + c->x1 * 100 + c->y2 + c->x2 * 1e-3 + c->mask28[200];
    }
    fpf_session_free(s);
    return n;
}
static int run_signature(fpf_model *m, fpf_parallel_for_fn pf, double *sig) { return run_signature_opt(m, pf, 0, 0, 0, sig); }

TEST(same_bits_for_any_thread_count) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_CONCAT, 1, 7);
    static double a[256], b[256], c[256], d[256];
    int na = run_signature(m, NULL, a), nb = run_signature(m, reverse_parallel_for, b), nc = run_signature(m, pthread_parallel_for, c);
    int nd = run_signature_opt(m, NULL, 3, 0, 0, d); /* the built-in pool, 3 threads */
    CHECK(na > 0);
    CHECK(na == nb && na == nc && na == nd);
    CHECK(na > 0 && memcmp(a, b, (size_t)na * sizeof(double)) == 0);
    CHECK(na > 0 && memcmp(a, c, (size_t)na * sizeof(double)) == 0);
    CHECK(na > 0 && memcmp(a, d, (size_t)na * sizeof(double)) == 0);
    fpf_model_free(m);
}

/* Each kernel path through a whole forward pass: the SIMD paths agree bit for bit (all fuse the
   same multiply-adds in the same order); scalar differs only by rounding. With the direct 3×3
   convs the scalar row finds the same instances; with Winograd (its sums are not fused on the
   scalar row, and the transforms carry that rounding to more outputs) one borderline instance of
   this random model may come or go, so there the rows' counts may differ by 2 at most. */
static void every_isa(int conv3x3) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 1, 7);
    static double ref[256], sig[256];
    int isa, nref = -1, nsimd = -1;
    static double simd[256];
    nref = run_signature_opt(m, NULL, 2, FPF_ISA_SCALAR, conv3x3, ref);
    CHECK(nref > 0);
    for (isa = FPF_ISA_AVX2; isa <= FPF_ISA_NEON; isa++) {
        int n, i, close = 1;
        if (!fpf_isa_supported((fpf_isa)isa)) { CHECK(run_signature_opt(m, NULL, 1, isa, conv3x3, sig) == -1); continue; }
        n = run_signature_opt(m, NULL, 2, isa, conv3x3, sig);
        if (conv3x3 == FPF_CONV3X3_DIRECT) {
            CHECK(n == nref);
            for (i = 0; i < n && i < nref; i++) close &= fabs(sig[i] - ref[i]) <= 1e-3 * fabs(ref[i]) + 1.0;
            CHECK(close);
        } else {
            CHECK(n > 0 && abs(n - nref) <= 2);
        }
        if (nsimd < 0) { nsimd = n; memcpy(simd, sig, sizeof simd); }
        else CHECK(n == nsimd && memcmp(simd, sig, (size_t)n * sizeof(double)) == 0);
    }
    fpf_model_free(m);
}
TEST(every_isa_runs_the_whole_network) { every_isa(FPF_CONV3X3_DIRECT); every_isa(FPF_CONV3X3_WINOGRAD); }

/* fpf_model_layers marks the layers that run as Winograd: the FPN's 3×3s of both towers, the RPN's
   shared conv and the mask head's four convs (13 in an FPF model), every one a 3×3 fp32 conv. */
TEST(winograd_layers_listed) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 1, 7);
    static fpf_layer_info info[FPF_MAX_LAYERS];
    int n = fpf_model_layers(m, info, FPF_MAX_LAYERS), i, nw = 0, bad = 0;
    for (i = 0; i < n; i++)
        if (info[i].winograd) {
            nw++;
            bad += info[i].desc.kh != 3 || info[i].bits != 32 ||
                   !(strstr(info[i].desc.name, "fpn_p") || strstr(info[i].desc.name, "rpn_conv_shared") ||
                     strstr(info[i].desc.name, "mrcnn_mask_conv"));
        }
    CHECK_EQ_INT(nw, 13);
    CHECK_EQ_INT(bad, 0);
    fpf_model_free(m);
}

/* ---------------------------------------------------------------- API: memory, models, inputs */

typedef struct counting { long allocs, frees; size_t bytes; int fail_after; } counting;
static void *count_alloc(size_t size, size_t align, void *user) {
    counting *c = (counting *)user;
    void *p = NULL;
    if (c->fail_after >= 0 && c->allocs >= c->fail_after) return NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0) return NULL;
    c->allocs++; c->bytes += size;
    return p;
}
static void count_free(void *p, void *user) { ((counting *)user)->frees++; free(p); }

TEST(allocation_hooks_and_no_allocation_in_run) {
    counting cnt = {0, 0, 0, -1};
    fpf_allocator al;
    fpf_options o;
    fpf_config c;
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    static uint8_t cell[80 * 90], nuc[80 * 90];
    fpf_input in;
    const fpf_output *out;
    size_t n;
    long before;
    void *f;
    al.alloc = count_alloc; al.free = count_free; al.user = &cnt;
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_FPF_ADD);
    f = fpf_seeded_file(&c, 1, 7, &n);
    CHECK(fpf_model_load_memory(f, n, &al, &m, NULL, 0) == FPF_OK);
    memset(&o, 0, sizeof o); o.allocator = al;
    CHECK(fpf_session_init(m, NULL, 80, 90, &o, &s) == FPF_OK);
    make_images(80, 90, cell, nuc);
    in = make_input(cell, nuc, 80, 90);
    before = cnt.allocs;
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK_EQ_INT(cnt.allocs, before);           /* nothing allocated by run() */
    fpf_session_free(s); fpf_model_free(m);
    CHECK_EQ_INT(cnt.allocs, cnt.frees);        /* and everything given back */
    cnt.fail_after = 1;                         /* the model struct succeeds, its copy fails */
    CHECK(fpf_model_load_memory(f, n, &al, &m, NULL, 0) == FPF_ERR_OUT_OF_MEMORY);
    CHECK_EQ_INT(cnt.allocs, cnt.frees);
    free(f);
}

TEST(preallocated_workspace_exact_size) {
    fpf_model *m = tiny_model(FPF_VARIANT_CORES, 7, 7);
    size_t need = 0;
    void *buf;
    fpf_session *s = NULL;
    static uint8_t img[70 * 70];
    fpf_input in;
    const fpf_output *out;
    CHECK(fpf_session_workspace_size(m, NULL, 70, 70, NULL, &need) == FPF_OK);
    CHECK(need > 0);
    buf = malloc(need);
    CHECK(fpf_session_init_preallocated(m, NULL, 70, 70, NULL, buf, need - 1, &s) == FPF_ERR_OUT_OF_MEMORY);
    CHECK(fpf_session_init_preallocated(m, NULL, 70, 70, NULL, buf, need, &s) == FPF_OK);
    make_images(70, 70, img, img);
    in = make_input(img, img, 70, 70);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    fpf_session_free(s); /* does not free the caller's buffer */
    free(buf);
    fpf_model_free(m);
}

/* An FPF model whose nucleus tower is the nucleus model's (same seed) shares the pyramid, and
   gives the same cells and nuclei as separate runs. */
TEST(shared_nucleus_pyramid) {
    fpf_model *fpf = tiny_model(FPF_VARIANT_FPF_CONCAT, 1, 7), *nuc = tiny_model(FPF_VARIANT_CORES, 7, 7);
    fpf_model *other = tiny_model(FPF_VARIANT_CORES, 8, 8);
    enum { H = 90, W = 100 };
    static uint8_t cell[H * W], nimg[H * W];
    fpf_session *s1 = NULL, *s2 = NULL, *s3 = NULL;
    fpf_input in;
    const fpf_output *both, *alone, *nalone;
    int i, same = 1;
    make_images(H, W, cell, nimg);
    in = make_input(cell, nimg, H, W);
    CHECK(fpf_session_init(fpf, nuc, H, W, NULL, &s1) == FPF_OK);
    CHECK(fpf_session_init(fpf, NULL, H, W, NULL, &s2) == FPF_OK);
    CHECK(fpf_session_init(nuc, NULL, H, W, NULL, &s3) == FPF_OK);
    CHECK(fpf_session_run(s1, &in, &both) == FPF_OK);
    CHECK(fpf_session_run(s2, &in, &alone) == FPF_OK);
    CHECK(fpf_session_run(s3, &in, &nalone) == FPF_OK);
    CHECK(both->shared_nucleus_pyramid == 1);
    CHECK(both->n_cells == alone->n_cells && both->n_nuclei == nalone->n_cells && both->n_cells > 0);
    for (i = 0; i < both->n_cells && i < alone->n_cells; i++)
        same &= both->cells[i].score == alone->cells[i].score && both->cells[i].y1 == alone->cells[i].y1 &&
                memcmp(both->cells[i].mask28, alone->cells[i].mask28, 784 * sizeof(float)) == 0;
    for (i = 0; i < both->n_nuclei && i < nalone->n_cells; i++)
        same &= both->nuclei[i].score == nalone->cells[i].score && both->nuclei[i].x2 == nalone->cells[i].x2;
    CHECK(same);
    fpf_session_free(s1);
    CHECK(fpf_session_init(fpf, other, H, W, NULL, &s1) == FPF_OK); /* different tower: no sharing */
    CHECK(fpf_session_run(s1, &in, &both) == FPF_OK);
    CHECK(both->shared_nucleus_pyramid == 0);
    CHECK(both->n_cells == alone->n_cells);
    fpf_session_free(s1); fpf_session_free(s2); fpf_session_free(s3);
    fpf_model_free(fpf); fpf_model_free(nuc); fpf_model_free(other);
}

/* 16-bit input under FIXED [0, 4080] equals the 8-bit image v = x / 16 exactly. */
TEST(sixteen_bit_fixed_matches_eight_bit) {
    fpf_model *m = tiny_model(FPF_VARIANT_WITH_NUCLEUS, 1, 7);
    enum { H = 70, W = 75 };
    static uint8_t c8[H * W], n8[H * W];
    static uint16_t c16[H * W], n16[H * W];
    fpf_options o;
    fpf_session *s8 = NULL, *s16 = NULL;
    fpf_input in8, in16;
    const fpf_output *a, *b;
    int i, same = 1;
    make_images(H, W, c8, n8);
    for (i = 0; i < H * W; i++) { c16[i] = (uint16_t)(c8[i] * 16); n16[i] = (uint16_t)(n8[i] * 16); }
    in8 = make_input(c8, n8, H, W);
    memset(&in16, 0, sizeof in16);
    in16.cell = fpf_image_u16(c16, W, H, W * 2); in16.nucleus = fpf_image_u16(n16, W, H, W * 2);
    memset(&o, 0, sizeof o);
    o.norm16 = FPF_NORM16_FIXED; o.norm16_lo = 0; o.norm16_hi = 4080;
    CHECK(fpf_session_init(m, NULL, H, W, NULL, &s8) == FPF_OK);
    CHECK(fpf_session_init(m, NULL, H, W, &o, &s16) == FPF_OK);
    CHECK(fpf_session_run(s8, &in8, &a) == FPF_OK);
    CHECK(fpf_session_run(s16, &in16, &b) == FPF_OK);
    CHECK(a->n_cells == b->n_cells);
    for (i = 0; i < a->n_cells && i < b->n_cells; i++) same &= a->cells[i].score == b->cells[i].score;
    CHECK(same);
    fpf_session_free(s16);
    o.norm16 = FPF_NORM16_PERCENTILE; o.norm16_lo = 0; o.norm16_hi = 0;  /* default percentiles */
    CHECK(fpf_session_init(m, NULL, H, W, &o, &s16) == FPF_OK);
    CHECK(fpf_session_run(s16, &in16, &b) == FPF_OK);
    fpf_session_free(s8); fpf_session_free(s16);
    fpf_model_free(m);
}

/* Any H×W: results lie inside the original image. */
TEST(odd_sizes_crop_back) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 1, 7);
    static uint8_t cell[131 * 67], nuc[131 * 67];
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    int i, inside = 1;
    make_images(67, 131, cell, nuc);
    in = make_input(cell, nuc, 67, 131);
    CHECK(fpf_session_init(m, NULL, 67, 131, NULL, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK(out->height == 67 && out->width == 131);
    for (i = 0; i < out->n_cells; i++) {
        const fpf_instance *c = &out->cells[i];
        inside &= c->y1 >= 0 && c->x1 >= 0 && c->y2 <= 67 && c->x2 <= 131 && c->y2 > c->y1 && c->x2 > c->x1;
    }
    CHECK(inside);
    fpf_session_free(s);
    fpf_model_free(m);
}

static int stop_now(void *u) { (void)u; return 1; }
TEST(abort_callback_stops) {
    fpf_model *m = tiny_model(FPF_VARIANT_CORES, 7, 7);
    static uint8_t img[64 * 64];
    fpf_options o;
    fpf_session *s = NULL;
    fpf_input in = make_input(img, img, 64, 64);
    const fpf_output *out;
    memset(&o, 0, sizeof o); o.abort_check = stop_now;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_ABORTED);
    fpf_session_free(s);
    fpf_model_free(m);
}

/* fpf_session_set_stage: the callback goes on and off between runs of one session; it sees what
   a session made with it sees, and the results do not change. The switched session runs on the
   built-in pool with 2 threads (one worker that polls, then sleeps), the other on 1 thread. */
typedef struct stage_count { int n; char last[64]; } stage_count;
static void count_stage(void *u, const char *name, const float *d, int ndim, const int *dims, int ld) {
    stage_count *c = (stage_count *)u;
    (void)d; (void)ndim; (void)dims; (void)ld;
    c->n++;
    snprintf(c->last, sizeof c->last, "%s", name);
}
static double cells_signature(const fpf_output *out) {
    double sig = out->n_cells;
    int i;
    for (i = 0; i < out->n_cells; i++) sig += out->cells[i].score * (i + 1) + out->cells[i].mask28[300] * 1e-3;
    return sig;
}
TEST(stage_callback_switches_between_runs) {
    enum { H = 96, W = 128 };
    static uint8_t cell[H * W], nuc[H * W];
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 1, 7);
    fpf_options o;
    fpf_session *s = NULL, *t = NULL;
    fpf_input in;
    const fpf_output *out;
    stage_count on, made, off;
    double sig_plain, sig_on, sig_off;
    make_images(H, W, cell, nuc);
    in = make_input(cell, nuc, H, W);
    memset(&on, 0, sizeof on); memset(&made, 0, sizeof made); memset(&off, 0, sizeof off);
    memset(&o, 0, sizeof o);
    o.n_threads = 2;
    CHECK(fpf_session_init(m, NULL, H, W, &o, &s) == FPF_OK);
    o.n_threads = 1; o.stage = count_stage; o.stage_user = &made;
    CHECK(fpf_session_init(m, NULL, H, W, &o, &t) == FPF_OK);
    if (!s || !t) { fpf_session_free(s); fpf_session_free(t); fpf_model_free(m); return; }
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    sig_plain = cells_signature(out);
    fpf_session_set_stage(s, count_stage, &on);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    sig_on = cells_signature(out);
    fpf_session_set_stage(s, NULL, &off); /* off: &off must stay untouched */
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    sig_off = cells_signature(out);
    CHECK(fpf_session_run(t, &in, &out) == FPF_OK);
    CHECK(on.n > 20);                     /* mold .. mrcnn_mask of both towers and the heads */
    CHECK_EQ_INT(on.n, made.n);
    CHECK(strcmp(on.last, made.last) == 0);
    CHECK_EQ_INT(off.n, 0);
    CHECK(sig_on == sig_plain && sig_off == sig_plain && cells_signature(out) == sig_plain);
    fpf_session_set_stage(NULL, count_stage, &on); /* no session: nothing happens */
    fpf_session_free(s);
    fpf_session_free(t);
    fpf_model_free(m);
}

TEST(config_layers_and_words_round_trip) {
    fpf_config c, d;
    uint32_t w[64];
    fpf_layer_desc desc[FPF_MAX_LAYERS];
    int v;
    for (v = 0; v < 5; v++) {
        int n;
        fpf_config_paper(&c, (fpf_variant)v);
        fpf_config_to_words(&c, w);
        fpf_config_from_words(&d, w);
        CHECK(memcmp(&c, &d, sizeof c) == 0);
        n = fpf_config_layers(&c, desc, FPF_MAX_LAYERS);
        CHECK_EQ_INT(n, v >= 3 ? 99 : 56);
    }
    /* §12.2: single models have 35 backbone convs + 8 FPN + 3 RPN + 4 box + 6 mask = 56 layers
       (the spec counts 95 groups because each BN is a group of its own); FPF adds 43 _core layers */
    fpf_config_paper(&c, FPF_VARIANT_FPF_CONCAT);
    CHECK_EQ_INT(fpf_config_layers(&c, desc, FPF_MAX_LAYERS), 99);
    CHECK(!strcmp(desc[0].name, "conv1") && !strcmp(desc[0].bn_name, "bn_conv1"));
    CHECK(!strcmp(desc[43].name, "conv1_core") && !strcmp(desc[43].bn_name, "bn_conv1_core"));
    CHECK(!strcmp(desc[1].name, "res2a_branch2a") && !strcmp(desc[1].bn_name, "bn2a_branch2a"));
    CHECK(desc[86].cin == 512 && !strcmp(desc[86].name, "rpn_conv_shared"));
    c.fpn_width = 0;
    CHECK(fpf_config_check(&c) == FPF_ERR_BAD_MODEL);
    CHECK_EQ_INT(fpf_config_layers(&c, desc, FPF_MAX_LAYERS), 0);
}

int main(void) {
    RUN(same_bits_for_any_thread_count);
    RUN(every_isa_runs_the_whole_network);
    RUN(winograd_layers_listed);
    RUN(allocation_hooks_and_no_allocation_in_run);
    RUN(preallocated_workspace_exact_size);
    RUN(shared_nucleus_pyramid);
    RUN(sixteen_bit_fixed_matches_eight_bit);
    RUN(odd_sizes_crop_back);
    RUN(abort_callback_stops);
    RUN(stage_callback_switches_between_runs);
    RUN(config_layers_and_words_round_trip);
    return harness_summary("api");
}
