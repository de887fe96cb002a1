/* tests/test_fpf.c - focused tests of fpf.h: each spec §14 pitfall with hand-worked values,
 * kernels against their __ref twins, the API contract (allocation, workspace, threads), and
 * every bad-input path. Parity with the reference is in test_parity.c. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "harness.h"
#include <pthread.h>

/* ---------------------------------------------------------------- helpers */

static fpf_model *tiny_model(fpf_variant v, uint64_t seed, uint64_t nseed) {
    fpf_config c;
    size_t n;
    char msg[200];
    fpf_model *m = NULL;
    void *f;
    fpf_seeded_config(&c, "tiny", v);
    f = fpf_seeded_file(&c, seed, nseed, &n);
    if (fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) != FPF_OK) printf("  load: %s\n", msg);
    free(f);
    return m;
}

/* A synthetic pair: bright nuclei inside dimmer cells on a dark background. */
static void make_images(int h, int w, uint8_t *cell, uint8_t *nuc) {
    int y, x, k;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int c = 12 + (x * 7 + y * 13) % 9, n = 5 + (x * 3 + y * 5) % 7;
            for (k = 0; k < 4; k++) {
                int cy = 20 + 37 * k % (h - 20), cx = 25 + 53 * k % (w - 25);
                int d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                if (d2 < 300) c = 150 + k * 10;
                if (d2 < 60) n = 220;
            }
            cell[y * w + x] = (uint8_t)c;
            nuc[y * w + x] = (uint8_t)n;
        }
}

static fpf_input make_input(const uint8_t *cell, const uint8_t *nuc, int h, int w) {
    fpf_input in;
    memset(&in, 0, sizeof in);
    in.cell = fpf_image_u8(cell, w, h, (size_t)w);
    in.nucleus = fpf_image_u8(nuc, w, h, (size_t)w);
    return in;
}

static fpf__conv make_conv(float *w, float *b, int kh, int cin, int cout) {
    fpf__conv k;
    k.w = w; k.b = b; k.kh = k.kw = kh; k.cin = cin; k.cout = cout;
    k.wp = NULL; k.pstride = 0; /* not packed: fpf__conv2d runs the reference */
    return k;
}


/* ---------------------------------------------------------------- §14 pitfalls, hand-worked */

/* 2. Max-pool 3×3/2 "same" pads only bottom/right: out[i] covers rows {2i, 2i+1, 2i+2}. */
TEST(maxpool_same_pads_bottom_right) {
    float in[25], out[9];
    int i;
    for (i = 0; i < 25; i++) in[i] = (float)(24 - i); /* largest at the top-left */
    fpf__maxpool3s2(NULL, fpf__mk(in, 5, 5, 1), fpf__mk(out, 3, 3, 1)); /* NULL runner: serial */
    CHECK_NEAR(out[0], 24, 0); /* rows/cols {0,1,2}: in[0][0] */
    CHECK_NEAR(out[4], 12, 0); /* rows/cols {2,3,4}: in[2][2] = 24 − 12; PyTorch's {1,2,3} gives 18 */
    CHECK_NEAR(out[8], 0, 0);  /* rows/cols {4,5,6} ∩ [0,5) = {4}: in[4][4]; PyTorch's {3,4} gives 6 */
}

/* 2. conv1: ZeroPadding(3) + valid 7×7/2 = symmetric pad 3; the zeros are in the molded domain. */
TEST(conv1_zero_padding_is_symmetric) {
    float in[16 * 16], w[49], b[1] = {0}, out[8 * 8];
    fpf__conv k = make_conv(w, b, 7, 1, 1);
    int i;
    for (i = 0; i < 256; i++) in[i] = 0.5f;
    for (i = 0; i < 49; i++) w[i] = 1.0f;
    fpf__conv_run(NULL, &k, fpf__mk(in, 16, 16, 1), fpf__mk(out, 8, 8, 1), 2, FPF__LINEAR, NULL);
    CHECK_NEAR(out[0], 16 * 0.5, 0);      /* rows/cols −3..3: only 0..3 exist: 4·4 taps */
    CHECK_NEAR(out[1 * 8 + 1], 36 * 0.5, 0); /* rows −1..5: 6·6 taps */
    CHECK_NEAR(out[3 * 8 + 3], 49 * 0.5, 0);
    CHECK_NEAR(out[7 * 8 + 7], 25 * 0.5, 0); /* rows 11..17: 11..15 exist: 5·5 taps (TF "same" pads 2/3: 6·6) */
}

static void capture_mold(void *user, const char *name, const float *d, int nd, const int *dims, int ld) {
    float *dst = (float *)user;
    (void)nd; (void)ld;
    if (!strcmp(name, "mold")) { dst[0] = d[0]; dst[1] = d[(size_t)dims[1] * dims[0] - 1]; }
}

/* 7. Molding: (x − 112.5f)/255.0f, a true division; padding holds intensity 0. */
TEST(molding_and_padding_value) {
    fpf_model *m = tiny_model(FPF_VARIANT_WITHOUT_NUCLEUS, 1, 7);
    uint8_t img[10 * 10];
    float got[2] = {0, 0};
    fpf_options o;
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    memset(img, 255, sizeof img);
    memset(&o, 0, sizeof o);
    o.stage = capture_mold; o.stage_user = got;
    CHECK(fpf_session_init(m, NULL, 10, 10, &o, &s) == FPF_OK);
    in = make_input(img, img, 10, 10);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK(got[0] == (255.0f - 112.5f) / 255.0f);  /* 0.558823526 */
    CHECK(got[1] == (0.0f - 112.5f) / 255.0f);    /* the padded corner (63, 63): −0.441176474 */
    fpf_session_free(s);
    fpf_model_free(m);
}

/* 3. BN epsilon is 1e-3 (Keras), not PyTorch's 1e-5: check one folded channel by hand. */
TEST(bn_fold_uses_keras_epsilon) {
    fpf_layer_desc d;
    float k[1], b[1], raw_k[1], raw_b[1], g[1], be[1], mu[1], var[1];
    memset(&d, 0, sizeof d);
    strcpy(d.name, "res2a_branch2c"); strcpy(d.bn_name, "bn2a_branch2c");
    d.kind = 0; d.kh = d.kw = 1; d.cin = 1; d.cout = 1;
    fpf_seeded_layer(&d, 1, 7, k, b);
    fpf_seeded_fill("res2a_branch2c/kernel", 1, 7, -sqrt(3.0), sqrt(3.0), raw_k, 1);
    fpf_seeded_fill("res2a_branch2c/bias", 1, 7, -0.05, 0.05, raw_b, 1);
    fpf_seeded_fill("bn2a_branch2c/gamma", 1, 7, 0.8, 1.2, g, 1);
    fpf_seeded_fill("bn2a_branch2c/beta", 1, 7, -0.1, 0.1, be, 1);
    fpf_seeded_fill("bn2a_branch2c/moving_mean", 1, 7, -0.1, 0.1, mu, 1);
    fpf_seeded_fill("bn2a_branch2c/moving_variance", 1, 7, 0.5, 1.5, var, 1);
    {
        double inv3 = g[0] / sqrt(var[0] + 1e-3), inv5 = g[0] / sqrt(var[0] + 1e-5);
        CHECK_NEAR(k[0], raw_k[0] * inv3, 1e-6);
        CHECK_NEAR(b[0], (raw_b[0] - mu[0]) * inv3 + be[0], 1e-6);
        CHECK(fabs(k[0] - raw_k[0] * inv5) > 1e-5); /* ε = 1e-5 would be visibly different */
    }
}

/* 6. FPN: nearest upsampling ×2 is out[y][x] = in[y/2][x/2]; P6 = P5[::2, ::2]. */
TEST(upsample_nearest_and_p6_subsample) {
    float a[16], r[4] = {100, 200, 300, 400}, out[16], w[1] = {1}, b[1] = {0};
    fpf__conv k = make_conv(w, b, 1, 1, 1);
    fpf__map res = fpf__mk(r, 2, 2, 1);
    fpf__pyr p;
    float p5[16], p6[4];
    int i;
    for (i = 0; i < 16; i++) a[i] = (float)i;
    fpf__conv_run(NULL, &k, fpf__mk(a, 4, 4, 1), fpf__mk(out, 4, 4, 1), 1, FPF__RESIDUAL_UP2, &res);
    CHECK_NEAR(out[0], 100, 0); CHECK_NEAR(out[1], 101, 0); CHECK_NEAR(out[2], 202, 0);
    CHECK_NEAR(out[5], 105, 0); CHECK_NEAR(out[10], 410, 0); CHECK_NEAR(out[13], 313, 0);
    memset(&p, 0, sizeof p);
    for (i = 0; i < 16; i++) p5[i] = (float)i;
    p.d[3] = p5; p.d[4] = p6; p.h[3] = p.w[3] = 4; p.h[4] = p.w[4] = 2; p.ld = 1;
    fpf__p6(&p, 1);
    CHECK_NEAR(p6[0], 0, 0); CHECK_NEAR(p6[1], 2, 0); CHECK_NEAR(p6[2], 8, 0); CHECK_NEAR(p6[3], 10, 0);
}

/* 9. Anchors: float64, centres at y·stride (no +stride/2), normalized with H−1 and y2 − 1. */
TEST(anchors_float64_no_half_stride) {
    fpf_config c;
    float *a;
    int n;
    fpf_config_paper(&c, FPF_VARIANT_CORES);
    n = fpf__anchor_count(64, 64);
    CHECK_EQ_INT(n, 3 * (256 + 64 + 16 + 4 + 1));
    a = (float *)malloc((size_t)n * 4 * sizeof(float));
    fpf__anchors(&c, 64, 64, a);
    /* level 0, y = x = 0, ratio 0.5: h = 32/√0.5, w = 32·√0.5 around (0, 0) */
    CHECK(a[0] == -0.35916534f); CHECK(a[1] == -0.17958267f);
    CHECK(a[2] == 0.34329233f); CHECK(a[3] == 0.16370966f);
    /* level 0, y = 1, x = 2, ratio 2: centre (4, 8) */
    {
        const float *q = a + 4 * ((1 * 16 + 2) * 3 + 2);
        CHECK(q[0] == -0.11609061f); CHECK(q[1] == -0.23218122f);
        CHECK(q[2] == 0.22720172f); CHECK(q[3] == 0.47027647f);
    }
    free(a);
    /* the demo's 1024×1280: 327,360 anchors in −0.35390..1.29134 (spec §5, from the demo log) */
    n = fpf__anchor_count(1024, 1280);
    CHECK_EQ_INT(n, 327360);
    a = (float *)malloc((size_t)n * 4 * sizeof(float));
    fpf__anchors(&c, 1024, 1280, a);
    {
        float lo = 0, hi = 0;
        int i;
        for (i = 0; i < 4 * n; i++) { lo = a[i] < lo ? a[i] : lo; hi = a[i] > hi ? a[i] : hi; }
        CHECK_NEAR(lo, -0.35390, 5e-6); CHECK_NEAR(hi, 1.29134, 5e-6);
    }
    free(a);
}

/* 20. Pixel boxes: numpy float64 round-half-even of b·(H−1) (+1 for y2, x2). */
TEST(pixel_boxes_round_half_even) {
    float nb[4] = {0.625f, 0.875f, 0.5f, 0.25f};
    int px[4];
    fpf__to_pixels(nb, 5, 5, px);
    CHECK_EQ_INT(px[0], 2);  /* 2.5 -> 2 (roundf would say 3) */
    CHECK_EQ_INT(px[1], 4);  /* 3.5 -> 4 */
    CHECK_EQ_INT(px[2], 3);  /* 2 + 1 */
    CHECK_EQ_INT(px[3], 2);  /* 1 + 1 */
}

/* 16. crop_and_resize: align-corners grid incl. both edges, lerp form, rows outside -> 0. */
TEST(crop_and_resize_tf_semantics) {
    float f[9], out[9 * 2];
    float box1[4] = {0, 0, 1, 1}, box2[4] = {0.25f, 0.25f, 0.75f, 0.75f}, box3[4] = {0.5f, 0, 1.5f, 1};
    fpf__map m = fpf__mk(f, 3, 3, 1);
    int i;
    for (i = 0; i < 9; i++) f[i] = (float)(10 * (i / 3) + i % 3);
    fpf__crop_and_resize__ref(m, box1, 3, out);
    for (i = 0; i < 9; i++) CHECK_NEAR(out[i], f[i], 0);  /* samples exactly on the grid */
    fpf__crop_and_resize__ref(m, box2, 2, out);           /* samples at 0.5 and 1.5 */
    CHECK_NEAR(out[0], 5.5, 0); CHECK_NEAR(out[1], 6.5, 0); CHECK_NEAR(out[2], 15.5, 0); CHECK_NEAR(out[3], 16.5, 0);
    fpf__crop_and_resize__ref(m, box3, 3, out);           /* in_y = 1, 2, 3: the last row is outside */
    CHECK_NEAR(out[0], 10, 0); CHECK_NEAR(out[3], 20, 0); CHECK_NEAR(out[6], 0, 0); CHECK_NEAR(out[8], 0, 0);
}

/* 16. A box ending at y2 = 1.0 can land an ulp past Hk − 1 in float32: that row is zero. */
TEST(crop_and_resize_last_row_rounding) {
    static float f[16 * 16];
    float out[14 * 14], box[4];
    fpf__map m = fpf__mk(f, 16, 16, 1);
    int i;
    for (i = 0; i < 256; i++) f[i] = 1.0f;
    box[0] = 6.0f / 4096.0f; box[1] = 0.0f; box[2] = 1.0f; box[3] = 1.0f;
    /* in_y(13) = 0.0014648438·15 + 13·((1 − 0.0014648438)·15/13) = 15.000001f > 15 */
    fpf__crop_and_resize__ref(m, box, 14, out);
    CHECK_NEAR(out[12 * 14 + 5], 1.0, 0);
    CHECK_NEAR(out[13 * 14 + 5], 0.0, 0);
}

/* 15. ROI level: banker's rounding of log2, clamp [2, 5], zero-area boxes at level 2. */
TEST(roi_level_half_even_and_zero_area) {
    fpf_config c;
    float zero[4] = {0, 0, 0, 0}, canon[4];
    double side = 224.0 / sqrt(1024.0 * 1280.0);
    fpf_config_paper(&c, FPF_VARIANT_CORES);
    CHECK_EQ_INT(fpf__level_from_log2(4, 0.5f), 4);   /* round(0.5) = 0, not 1 */
    CHECK_EQ_INT(fpf__level_from_log2(4, -0.5f), 4);  /* round(−0.5) = −0, not −1 */
    CHECK_EQ_INT(fpf__level_from_log2(4, 1.5f), 5);   /* 2 -> 6, clamped */
    CHECK_EQ_INT(fpf__level_from_log2(4, -1.5f), 2);
    CHECK_EQ_INT(fpf__level_from_log2(4, -INFINITY), 2);
    CHECK_EQ_INT(fpf__roi_level(&c, zero, 1024.0f * 1280.0f), 2);
    canon[0] = 0.1f; canon[1] = 0.1f; canon[2] = (float)(0.1 + side); canon[3] = (float)(0.1 + side);
    CHECK_EQ_INT(fpf__roi_level(&c, canon, 1024.0f * 1280.0f), 4); /* a 224-px box: canonical level */
}

/* 13. TF NMS: suppress only on IoU > threshold (strict); equal scores leave the heap in the
   libstdc++ priority_queue order 0, 2, 4, 1, 3 (worked by hand in fpf__heap_pop's steps). */
TEST(nms_strict_threshold_and_heap_ties) {
    float boxes[5 * 4], scores[5] = {1, 1, 1, 1, 1};
    float two[8] = {0, 0, 1, 1, 0, 0, 1, 0.5f}, s2[2] = {0.9f, 0.8f};
    fpf__cand heap[5];
    int sel[5], i, n;
    n = fpf__nms(two, s2, 2, 10, 0.5f, 0, heap, sel);  /* IoU = 0.5 exactly: not > 0.5 */
    CHECK_EQ_INT(n, 2);
    n = fpf__nms(two, s2, 2, 10, 0.49f, 0, heap, sel);
    CHECK_EQ_INT(n, 1);
    for (i = 0; i < 5; i++) { boxes[4 * i] = (float)i; boxes[4 * i + 1] = 0; boxes[4 * i + 2] = i + 0.5f; boxes[4 * i + 3] = 1; }
    n = fpf__nms(boxes, scores, 5, 5, 0.7f, 0, heap, sel);
    CHECK_EQ_INT(n, 5);
    CHECK(sel[0] == 0 && sel[1] == 2 && sel[2] == 4 && sel[3] == 1 && sel[4] == 3);
    n = fpf__nms(boxes, scores, 5, 3, 0.7f, 0, heap, sel);
    CHECK(n == 3 && sel[0] == 0 && sel[1] == 2 && sel[2] == 4);
    n = fpf__nms(boxes, scores, 5, 5, 0.7f, 1, heap, sel); /* stable mode: index order */
    CHECK(n == 5 && sel[0] == 0 && sel[1] == 1 && sel[2] == 2 && sel[3] == 3 && sel[4] == 4);
}

/* 12 / 18. Top-k: descending score, ties to the lower index, whatever the input order. */
TEST(topk_ties_to_lower_index) {
    fpf__cand c[8];
    float sc[8] = {0.5f, 0.9f, 0.5f, 0.1f, 0.9f, 0.5f, 0.7f, 0.5f};
    int i;
    for (i = 0; i < 8; i++) { c[i].score = sc[7 - i]; c[i].idx = 7 - i; } /* reversed input */
    fpf__topk(c, 8, 5);
    CHECK(c[0].idx == 1 && c[1].idx == 4 && c[2].idx == 6 && c[3].idx == 0 && c[4].idx == 2);
}

/* 10. RPN softmax divides (e/Σe); the head softmax multiplies by 1/Σe. For logits (0, −5.601893)
   the two differ in the last bit, and each function must give its own form. */
TEST(two_softmax_forms) {
    float l[2] = {0.0f, -5.601893f}, pd[2], pr[2];
    float e = fpf__expf(-5.601893f), s = 1.0f + e;
    fpf__softmax_div(l, pd, 2);
    fpf__softmax_recip(l, pr, 2);
    CHECK(pd[1] == e / s);
    CHECK(pr[1] == e * (1.0f / s));
    CHECK(pd[1] != pr[1]);
}

/* 21. Mask paste: skimage 0.14 bilinear, half-pixel centres, zero outside the 28×28 grid, then
   resize(clip=True) clips to the mask's [min, max]. With a zero somewhere (min = 0) nothing is
   lifted and a 0.7 mask upsampled ×4 loses its outermost ring: 0.625·0.7 = 0.4375 < 0.5. With a
   uniform 0.7 mask (min = 0.7) the clip lifts that ring back to 0.7: the whole box is inside. */
static fpf_instance paste_inst(float *m, int y1, int x1, int h, int w) {
    fpf_instance in;
    int i;
    memset(&in, 0, sizeof in);
    in.y1 = y1; in.x1 = x1; in.y2 = y1 + h; in.x2 = x1 + w; in.mask28 = m; in.mask_size = 28; in.threshold = 0.5f;
    in.mask_min = in.mask_max = m[0];
    for (i = 0; i < 784; i++) { in.mask_min = m[i] < in.mask_min ? m[i] : in.mask_min; in.mask_max = m[i] > in.mask_max ? m[i] : in.mask_max; }
    return in;
}

TEST(mask_paste_edge_attenuation_and_clip) {
    float m[28 * 28];
    static uint8_t dst[112 * 112];
    fpf_instance in;
    int i;
    for (i = 0; i < 784; i++) m[i] = 0.7f;
    in = paste_inst(m, 10, 20, 112, 112);
    CHECK_EQ_INT(fpf_instance_paste(&in, dst, 112), 112 * 112);    /* clip lifts the edges to 0.7 */
    m[27 * 28 + 27] = 0.0f;                                         /* min 0: no lifting */
    in = paste_inst(m, 10, 20, 112, 112);
    fpf_instance_paste(&in, dst, 112);
    CHECK(dst[0 * 112 + 50] == 0 && dst[1 * 112 + 50] == 1);        /* row 0: 0.4375; row 1: 0.6125 */
    CHECK(dst[50 * 112 + 0] == 0 && dst[50 * 112 + 1] == 1 && dst[111 * 112 + 50] == 0);
    /* a 1×1 box samples (13.5, 13.5): the mean of the four central cells */
    for (i = 0; i < 784; i++) m[i] = 0.0f;
    m[13 * 28 + 13] = m[13 * 28 + 14] = 1.0f;
    in = paste_inst(m, 0, 0, 1, 1);
    CHECK_EQ_INT(fpf_instance_paste(&in, dst, 1), 1);   /* 0.5 >= 0.5 */
    m[13 * 28 + 14] = 0.99f;
    in = paste_inst(m, 0, 0, 1, 1);
    CHECK_EQ_INT(fpf_instance_paste(&in, dst, 1), 0);   /* 0.4975 */
}

/* 14. Zero-padded proposals are real rows: a padding detection becomes a 1×1 box at (0, 0);
   drop_padding_detections removes exactly those. */
TEST(padded_proposals_flagged) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 2, 7); /* seed 2 classifies the padding crop as a cell */
    static uint8_t blank[64 * 64];
    fpf_options o;
    fpf_session *s = NULL;
    fpf_input in = make_input(blank, blank, 64, 64);
    const fpf_output *out;
    int i, pads = 0, all;
    memset(&o, 0, sizeof o);
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    all = out->n_cells;
    for (i = 0; i < out->n_cells; i++)
        if (out->cells[i].from_padding) {
            pads++;
            CHECK(out->cells[i].y1 == 0 && out->cells[i].x1 == 0 && out->cells[i].y2 == 1 && out->cells[i].x2 == 1);
        }
    CHECK(pads > 0);
    fpf_session_free(s);
    o.drop_padding_detections = 1;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK_EQ_INT(out->n_cells, all - pads);
    for (i = 0; i < out->n_cells; i++) CHECK(!out->cells[i].from_padding);
    printf("  (blank 64×64: %d detections, %d from padded proposals)\n", all, pads);
    fpf_session_free(s);
    fpf_model_free(m);
}

/* ---------------------------------------------------------------- kernels vs __ref twins */

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

static int run_signature_opt(fpf_model *m, fpf_parallel_for_fn pf, int n_threads, int isa, double *sig) {
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
    o.parallel_for = pf; o.n_threads = n_threads; o.isa = isa;
    if (fpf_session_init(m, NULL, H, W, &o, &s) != FPF_OK || fpf_session_run(s, &in, &out) != FPF_OK) return -1;
    n = out->n_cells;
    for (i = 0; i < n; i++) {
        const fpf_instance *c = &out->cells[i];
        sig[i] = c->score * 1e6 + c->y1 * 1e4 + c->x1 * 100 + c->y2 + c->x2 * 1e-3 + c->mask28[200];
    }
    fpf_session_free(s);
    return n;
}
static int run_signature(fpf_model *m, fpf_parallel_for_fn pf, double *sig) { return run_signature_opt(m, pf, 0, 0, sig); }

TEST(same_bits_for_any_thread_count) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_CONCAT, 1, 7);
    static double a[256], b[256], c[256], d[256];
    int na = run_signature(m, NULL, a), nb = run_signature(m, reverse_parallel_for, b), nc = run_signature(m, pthread_parallel_for, c);
    int nd = run_signature_opt(m, NULL, 3, 0, d); /* the built-in pool, 3 threads */
    CHECK(na > 0);
    CHECK(na == nb && na == nc && na == nd);
    CHECK(na > 0 && memcmp(a, b, (size_t)na * sizeof(double)) == 0);
    CHECK(na > 0 && memcmp(a, c, (size_t)na * sizeof(double)) == 0);
    CHECK(na > 0 && memcmp(a, d, (size_t)na * sizeof(double)) == 0);
    fpf_model_free(m);
}

/* Each kernel path through a whole forward pass: the SIMD paths agree bit for bit (all fuse the
   same multiply-adds in the same order); scalar differs only by rounding. */
TEST(every_isa_runs_the_whole_network) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_ADD, 1, 7);
    static double ref[256], sig[256];
    int isa, nref = -1, nsimd = -1;
    static double simd[256];
    nref = run_signature_opt(m, NULL, 2, FPF_ISA_SCALAR, ref);
    CHECK(nref > 0);
    for (isa = FPF_ISA_AVX2; isa <= FPF_ISA_NEON; isa++) {
        int n, i, close = 1;
        if (!fpf_isa_supported((fpf_isa)isa)) { CHECK(run_signature_opt(m, NULL, 1, isa, sig) == -1); continue; }
        n = run_signature_opt(m, NULL, 2, isa, sig);
        CHECK(n == nref);
        for (i = 0; i < n && i < nref; i++) close &= fabs(sig[i] - ref[i]) <= 1e-3 * fabs(ref[i]) + 1.0;
        CHECK(close);
        if (nsimd < 0) { nsimd = n; memcpy(simd, sig, sizeof simd); }
        else CHECK(n == nsimd && memcmp(simd, sig, (size_t)n * sizeof(double)) == 0);
    }
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

/* ---------------------------------------------------------------- bad model files */

static void *file_copy(const void *f, size_t n) { void *p = malloc(n); memcpy(p, f, n); return p; }
static void reseal(unsigned char *f, size_t n) { fpf_seeded_w64(f + 24, fpf_checksum(f, n)); }

static fpf_result load_err(const void *f, size_t n, char *msg, size_t mn) {
    fpf_model *m = NULL;
    fpf_result r = fpf_model_load_memory(f, n, NULL, &m, msg, mn);
    if (r == FPF_OK) fpf_model_free(m);
    return r;
}

TEST(bad_model_files) {
    fpf_config c;
    size_t n;
    unsigned char *f, *g;
    char msg[256];
    int bias_entry = 320 + 128 * 1; /* conv1/bias */
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_FPF_ADD);
    f = (unsigned char *)fpf_seeded_file(&c, 1, 7, &n);
    CHECK(load_err(f, n, msg, sizeof msg) == FPF_OK);
    CHECK(load_err(f, n - 1, msg, sizeof msg) == FPF_ERR_BAD_MODEL);       /* truncated */
    CHECK(strstr(msg, "truncated") != NULL);
    CHECK(load_err(f, 100, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);     /* far too short */
    CHECK(load_err(f, 0, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);
    g = (unsigned char *)file_copy(f, n); g[0] = 'X';
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);       /* magic */
    memcpy(g, f, n); g[8] = 2; reseal(g, n);
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);       /* version */
    memcpy(g, f, n); g[n - 100] ^= 1;
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_CHECKSUM);            /* one flipped bit */
    memcpy(g, f, n); fpf_seeded_w32(g + 64 + 4 * 16, 0); reseal(g, n);   /* fpn_width = 0 */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w32(g + bias_entry + 88, 17); fpf_seeded_w64(g + bias_entry + 112, 68); reseal(g, n);
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);           /* shape vs config */
    CHECK(strstr(msg, "conv1/bias") != NULL);
    memcpy(g, f, n); g[bias_entry] = 'z'; reseal(g, n);                    /* renamed: missing */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK(strstr(msg, "missing tensor conv1/bias") != NULL);
    memcpy(g, f, n); memcpy(g + bias_entry, g + 320, 80); reseal(g, n);    /* duplicate name */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w64(g + bias_entry + 104, n); reseal(g, n); /* offset outside */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK(strstr(msg, "outside") != NULL);
    memcpy(g, f, n); fpf_seeded_w64(g + bias_entry + 104, 65); reseal(g, n); /* misaligned */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w32(g + 12, 100000); reseal(g, n);          /* huge table */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    {   /* NaN and Inf in weights */
        size_t off = (size_t)f[320 + 104] | (size_t)f[320 + 105] << 8 | (size_t)f[320 + 106] << 16 | (size_t)f[320 + 107] << 24;
        float nan = NAN, inf = INFINITY;
        memcpy(g, f, n); memcpy(g + off + 8, &nan, 4); reseal(g, n);
        CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_WEIGHTS);
        CHECK(strstr(msg, "conv1/kernel") != NULL);
        memcpy(g, f, n); memcpy(g + off, &inf, 4); reseal(g, n);
        CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_WEIGHTS);
    }
    {   /* in place needs 64-byte alignment */
        fpf_model *m = NULL;
        /* al is 1..64 bytes past raw and the copy moves 4 bytes on: room for n + 68 (repro #1) */
        size_t cap = n + 64 + 4;
        unsigned char *raw = (unsigned char *)malloc(cap), *al = raw + (64 - ((uintptr_t)raw & 63));
        CHECK(al + 4 + n <= raw + cap);
        memcpy(al, f, n);
        CHECK(fpf_model_load_inplace(al, n, NULL, &m, msg, sizeof msg) == FPF_OK);
        {   /* zero-copy: the model's tensors point into the caller's buffer */
            const float *t = fpf_model_tensor(m, "conv1_core/kernel", NULL, NULL);
            CHECK(t && (const unsigned char *)t > al && (const unsigned char *)t < al + n);
        }
        fpf_model_free(m);
        memmove(al + 4, al, n);
        CHECK(fpf_model_load_inplace(al + 4, n, NULL, &m, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
        free(raw);
    }
    CHECK(load_err(NULL, n, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_model_load_memory(f, n, NULL, NULL, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
    free(g); free(f);
}

TEST(bad_files_on_disk) {
    fpf_model *m = NULL;
    char msg[256];
    CHECK(fpf_model_load_file("tests/fixtures/does-not-exist.fpf", NULL, &m, msg, sizeof msg) == FPF_ERR_IO);
    CHECK(strstr(msg, "cannot open") != NULL);
    CHECK(fpf_model_load_file("Makefile", NULL, &m, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);
    CHECK(m == NULL);
}

/* ---------------------------------------------------------------- bad inputs and sizes */

TEST(bad_images_and_sizes) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_CONCAT, 1, 7), *w = tiny_model(FPF_VARIANT_WITHOUT_NUCLEUS, 1, 7);
    static uint8_t img[64 * 80];
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    size_t need;
    CHECK(fpf_session_init(m, NULL, 0, 10, NULL, &s) == FPF_ERR_IMAGE_SIZE);
    CHECK(fpf_session_init(m, NULL, 10, FPF_MAX_IMAGE_DIM + 1, NULL, &s) == FPF_ERR_IMAGE_SIZE);
    CHECK(fpf_session_workspace_size(m, NULL, FPF_MAX_IMAGE_DIM, FPF_MAX_IMAGE_DIM, NULL, &need) == FPF_OK);
    CHECK(need > (size_t)FPF_MAX_IMAGE_DIM * FPF_MAX_IMAGE_DIM); /* large but no overflow */
    CHECK(fpf_session_init(m, w, 64, 80, NULL, &s) == FPF_ERR_MODEL_PAIR); /* not a cores model */
    CHECK(fpf_session_init(NULL, NULL, 64, 80, NULL, &s) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_init(m, NULL, 64, 80, NULL, &s) == FPF_OK);
    memset(&in, 0, sizeof in);
    in.cell = fpf_image_u8(img, 80, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);          /* FPF needs the nucleus */
    CHECK(strstr(fpf_session_message(s), "nucleus") != NULL);
    in.nucleus = fpf_image_u8(img, 79, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* sizes differ */
    in.nucleus = fpf_image_u8(img, 80, 64, 80);
    in.cell = fpf_image_u8(img, 81, 64, 81);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* wider than the session */
    in.cell = fpf_image_u8(img, 80, 64, 79);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);          /* stride < row */
    in.cell = fpf_image_u8(img, 0, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* empty */
    in.cell = fpf_image_u8(img, 80, 64, 80); in.cell.bits = 12;
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_run(s, NULL, &out) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_run(NULL, &in, &out) == FPF_ERR_INVALID_ARG);
    in.cell.bits = 8;
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);                       /* still usable after errors */
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(w);
}

/* A failed init has no session to ask: it says why in fpf_options.init_msg. */
TEST(session_init_failures_say_why) {
    fpf_model *m = tiny_model(FPF_VARIANT_CORES, 7, 7), *w = tiny_model(FPF_VARIANT_WITHOUT_NUCLEUS, 1, 7);
    fpf_options o;
    fpf_session *s = NULL;
    char msg[200], buf[256];
    int missing = FPF_ISA_AUTO, isa;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) if (!fpf_isa_supported((fpf_isa)isa)) missing = isa;
    memset(&o, 0, sizeof o);
    o.init_msg = msg; o.init_msg_size = sizeof msg;
    if (missing != FPF_ISA_AUTO) { /* x86-64 lacks NEON, aarch64 lacks AVX2 */
        o.isa = missing; msg[0] = 0;
        CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_ERR_UNSUPPORTED_ISA && s == NULL);
        CHECK_MSG(strstr(msg, fpf_isa_name((fpf_isa)missing)) != NULL, "%s", msg);
        CHECK(strcmp(fpf_result_string(FPF_ERR_UNSUPPORTED_ISA), "unknown error") != 0);
    }
    o.isa = 99; msg[0] = 0;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_ERR_INVALID_ARG && strstr(msg, "isa"));
    o.isa = FPF_ISA_AUTO; msg[0] = 0;
    CHECK(fpf_session_init(w, w, 64, 64, &o, &s) == FPF_ERR_MODEL_PAIR && strstr(msg, "cores"));
    msg[0] = 0;
    CHECK(fpf_session_init(m, NULL, 0, 64, &o, &s) == FPF_ERR_IMAGE_SIZE && strstr(msg, "FPF_MAX_IMAGE_DIM"));
    msg[0] = 0;
    CHECK(fpf_session_init_preallocated(m, NULL, 64, 64, &o, buf, sizeof buf, &s) == FPF_ERR_OUT_OF_MEMORY);
    CHECK_MSG(strstr(msg, "256-byte buffer; the session needs ") != NULL, "%s", msg);
    msg[0] = 0; o.init_msg_size = 8;  /* truncated, terminated */
    CHECK(fpf_session_init(NULL, NULL, 64, 64, &o, &s) == FPF_ERR_INVALID_ARG && !strcmp(msg, "no mode"));
    o.init_msg_size = sizeof msg;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(w);
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
    RUN(maxpool_same_pads_bottom_right);
    RUN(conv1_zero_padding_is_symmetric);
    RUN(molding_and_padding_value);
    RUN(bn_fold_uses_keras_epsilon);
    RUN(upsample_nearest_and_p6_subsample);
    RUN(anchors_float64_no_half_stride);
    RUN(pixel_boxes_round_half_even);
    RUN(crop_and_resize_tf_semantics);
    RUN(crop_and_resize_last_row_rounding);
    RUN(roi_level_half_even_and_zero_area);
    RUN(nms_strict_threshold_and_heap_ties);
    RUN(topk_ties_to_lower_index);
    RUN(two_softmax_forms);
    RUN(mask_paste_edge_attenuation_and_clip);
    RUN(padded_proposals_flagged);
    RUN(same_bits_for_any_thread_count);
    RUN(every_isa_runs_the_whole_network);
    RUN(session_init_failures_say_why);
    RUN(allocation_hooks_and_no_allocation_in_run);
    RUN(preallocated_workspace_exact_size);
    RUN(shared_nucleus_pyramid);
    RUN(sixteen_bit_fixed_matches_eight_bit);
    RUN(odd_sizes_crop_back);
    RUN(bad_model_files);
    RUN(bad_files_on_disk);
    RUN(bad_images_and_sizes);
    RUN(abort_callback_stops);
    RUN(config_layers_and_words_round_trip);
    return harness_summary("fpf");
}
