/* tests/test_semantics.c - each fpf.h pitfall of the spec (§14) with hand-worked values: padding,
 * molding, BN folding, anchors, rounding, crop_and_resize, NMS and top-k ties, softmax forms,
 * mask pasting, padded proposals. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "harness.h"
#include "fpf_test_util.h"

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

/* Top-k with its partition budget spent after 0, 1, 2, ... rounds (the fallback that bounds the
   time of adversarial scores) gives the same k, in the same order, as sorting everything. */
TEST(topk_fallback_is_the_same_selection) {
    enum { N = 300 };
    static fpf__cand c[N], ref[N];
    int pattern, rounds, k, i, same;
    for (pattern = 0; pattern < 3; pattern++)
        for (rounds = 0; rounds <= 6; rounds++)
            for (k = 1; k <= N; k += 37) {
                for (i = 0; i < N; i++) {
                    c[i].idx = i;
                    c[i].score = pattern == 0 ? (float)((i * 7919) % 101) / 7.0f   /* many ties */
                               : pattern == 1 ? (float)(i % 2 ? i : N - i)          /* sawtooth */
                                              : 1.0f;                              /* all equal */
                }
                memcpy(ref, c, sizeof c);
                qsort(ref, N, sizeof *ref, fpf__cand_cmp);
                fpf__topk_rounds(c, N, k, rounds);
                for (i = 0, same = 1; i < k; i++) same &= c[i].idx == ref[i].idx;
                CHECK_MSG(same, "pattern %d, rounds %d, k %d", pattern, rounds, k);
            }
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
    RUN(topk_fallback_is_the_same_selection);
    RUN(two_softmax_forms);
    RUN(mask_paste_edge_attenuation_and_clip);
    RUN(padded_proposals_flagged);
    return harness_summary("semantics");
}
