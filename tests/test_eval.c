/* tests/test_eval.c - fpf_eval.h and the fpf_eval CLI against hand-worked cases and
 * golden outputs of weights/tools/cocoeval_ref.py (a port of pycocotools COCOeval).
 * Run from the repository root; needs build/fpf_eval (make builds it first). */
#define _POSIX_C_SOURCE 200809L
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#include "harness.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIX "tests/fixtures/eval/"
#define CLI "build/fpf_eval"
#define TMP "build/tests/eval_tmp"

/* ---- helpers ---------------------------------------------------------------- */

static fpf_eval_instance box_inst(double x, double y, double w, double h, double score) {
    fpf_eval_instance in;
    memset(&in, 0, sizeof in);
    in.box[0] = x; in.box[1] = y; in.box[2] = w; in.box[3] = h;
    in.score = score;
    return in;
}

/* rectangle mask in an H x W image, box = its exact box */
static fpf_eval_instance rect_inst(int H, int W, int x, int y, int w, int h, double score) {
    unsigned char *m = (unsigned char *)calloc((size_t)H * W, 1);
    fpf_eval_instance in = box_inst(x, y, w, h, score);
    int i, j;
    for (i = y; i < y + h; i++)
        for (j = x; j < x + w; j++) m[i * W + j] = 1;
    fpf_eval_rle_encode(&in.mask, m, H, W, 1, NULL);
    free(m);
    return in;
}

static void free_insts(fpf_eval_instance *v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) fpf_eval_rle_free(&v[i].mask, NULL);
}

/* one-image bbox evaluation */
static fpf_eval_summary eval1(const fpf_eval_instance *gt, size_t ng, const fpf_eval_instance *dt,
                              size_t nd, fpf_eval_iou_type type) {
    fpf_eval *ev;
    fpf_eval_summary s;
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, gt, ng, dt, nd) == FPF_EVAL_OK);
    CHECK(fpf_eval_summarize(ev, type, &s) == FPF_EVAL_OK);
    fpf_eval_free(ev);
    return s;
}

static fpf_eval_counts tpfp1(const fpf_eval_instance *gt, size_t ng, const fpf_eval_instance *dt,
                             size_t nd, double t) {
    fpf_eval *ev;
    fpf_eval_counts c = {0, 0, 0};
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, gt, ng, dt, nd) == FPF_EVAL_OK);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, t, FPF_EVAL_NO_FLOOR, &c, NULL) == FPF_EVAL_OK);
    fpf_eval_free(ev);
    return c;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

/* run a shell command; stdout to out (if any); returns exit status */
static int sh(const char *cmd) {
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_lines(const char *path) {
    char *s = slurp(path), *p;
    int n = 0;
    if (!s) return -1;
    for (p = s; *p; p++) n += *p == '\n';
    free(s);
    return n;
}

/* numbers following "key": [ ... ] or "key": x inside the section of type */
static int json_numbers(const char *json, const char *type, const char *key, double *out, int n) {
    char pat[64];
    const char *p = strstr(json, type), *q;
    int i;
    if (!p) return 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    q = strstr(p, pat);
    if (!q) return 0;
    q += strlen(pat);
    if (*q == '[') q++;
    for (i = 0; i < n; i++) {
        char *end;
        out[i] = strtod(q, &end);
        if (end == q) return i;
        q = end;
        while (*q == ',' || *q == ' ') q++;
    }
    return n;
}

/* 16-bit binary PGM reader (tests only) */
static uint16_t *read_pgm16(const char *path, int *w, int *h) {
    char *s = slurp(path);
    int maxv, off = 0;
    uint16_t *px;
    size_t i;
    if (!s || sscanf(s, "P5 %d %d %d%n", w, h, &maxv, &off) != 3 || maxv != 65535) { free(s); return NULL; }
    off++;
    px = (uint16_t *)malloc((size_t)*w * *h * 2);
    for (i = 0; i < (size_t)*w * *h; i++)
        px[i] = (uint16_t)(((unsigned char)s[off + 2 * i] << 8) | (unsigned char)s[off + 2 * i + 1]);
    free(s);
    return px;
}

static void write_pgm16(const char *path, const uint16_t *px, int w, int h) {
    FILE *f = fopen(path, "wb");
    size_t i;
    fprintf(f, "P5\n%d %d\n65535\n", w, h);
    for (i = 0; i < (size_t)w * h; i++) { fputc(px[i] >> 8, f); fputc(px[i] & 255, f); }
    fclose(f);
}

/* ---- numeric rules ---------------------------------------------------------- */

TEST(iou_thresholds_are_numpy_linspace) {
    double t[FPF_EVAL_N_IOU];
    const double want[FPF_EVAL_N_IOU] = {0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
                                         0.8999999999999999, 0.95};
    int k;
    fpf_eval_iou_thresholds(t);
    for (k = 0; k < FPF_EVAL_N_IOU; k++) CHECK_MSG(t[k] == want[k], "k=%d %.17g", k, t[k]);
    CHECK(t[8] != 0.9);
    CHECK(t[5] == 0.75); /* summarize(iouThr=.75) finds it */
}

TEST(box_iou_without_plus_one) {
    const double a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 10, 10}, c[4] = {10, 0, 5, 5};
    const double d[4] = {0.3, 1.7, 3.1, 2.9}, g[4] = {1.1, 0.2, 2.7, 3.3};
    volatile double ga = g[2] * g[3], da = d[2] * d[3], w, h, i, u;
    CHECK(fpf_eval_box_iou(a, b) == 50.0 / 150.0);
    CHECK(fpf_eval_box_iou(a, c) == 0);  /* touching boxes: w = 0 */
    CHECK(fpf_eval_box_iou(a, a) == 1);
    /* bbIou's operation order, each product rounded on its own (no FMA) */
    w = (d[2] + d[0] < g[2] + g[0] ? d[2] + d[0] : g[2] + g[0]) - (d[0] > g[0] ? d[0] : g[0]);
    h = (d[3] + d[1] < g[3] + g[1] ? d[3] + d[1] : g[3] + g[1]) - (d[1] > g[1] ? d[1] : g[1]);
    i = w * h;
    u = da + ga;
    u = u - i;
    CHECK(fpf_eval_box_iou(d, g) == i / u);
}

TEST(mask_iou_from_pixel_counts) {
    fpf_eval_instance a = rect_inst(5, 6, 0, 0, 1, 1, 0), b = rect_inst(5, 6, 0, 0, 3, 1, 0);
    fpf_eval_instance c = rect_inst(5, 6, 5, 4, 1, 1, 0), d = rect_inst(4, 6, 0, 0, 1, 1, 0);
    double v = -2;
    CHECK(fpf_eval_mask_iou(&a.mask, &b.mask, &v) == FPF_EVAL_OK && v == 1.0 / 3.0);
    CHECK(fpf_eval_mask_iou(&a.mask, &c.mask, &v) == FPF_EVAL_OK && v == 0);
    CHECK(fpf_eval_mask_iou(&c.mask, &c.mask, &v) == FPF_EVAL_OK && v == 1);
    CHECK(fpf_eval_mask_iou(&a.mask, &d.mask, &v) == FPF_EVAL_ERR_SIZE);
    free_insts(&a, 1); free_insts(&b, 1); free_insts(&c, 1); free_insts(&d, 1);
}

TEST(perfect_detection_gets_eps_precision) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0), d = box_inst(0, 0, 10, 10, 0.9);
    fpf_eval_summary s = eval1(&g, 1, &d, 1, FPF_EVAL_BBOX);
    int k;
    CHECK(s.precision[0][0] == 1.0 / (1.0 + DBL_EPSILON)); /* tp/((fp+tp)+eps) */
    CHECK(s.ap[0] == 0.9999999999999999);                   /* np.mean of 101 of them */
    for (k = 0; k < FPF_EVAL_N_IOU; k++) CHECK(s.recall[k] == 1);
    /* pairwise sums: np.mean of 1010 / 909 such values (from numpy) */
    CHECK(s.map_50_95 == 0.99999999999999978 && s.map_50_90 == 0.99999999999999989);
    CHECK(s.mar_50_95 == 1 && s.ap50 == s.ap[0] && s.ap75 == s.ap[5]);
}

TEST(envelope_and_left_search) {
    /* 2 GT; ranks TP, FP, TP: recall [.5 .5 1], precision [1/(1+e) .5 2/(3+e)] -> envelope */
    fpf_eval_instance g[2] = {box_inst(0, 0, 10, 10, 0), box_inst(50, 0, 10, 10, 0)};
    fpf_eval_instance d[3] = {box_inst(0, 0, 10, 10, 0.9), box_inst(100, 0, 10, 10, 0.8),
                              box_inst(50, 0, 10, 10, 0.7)};
    fpf_eval_summary s = eval1(g, 2, d, 3, FPF_EVAL_BBOX);
    CHECK(s.precision[0][50] == 1.0 / (1.0 + DBL_EPSILON)); /* recall 0.5 >= 50*0.01: index 0 */
    CHECK(s.precision[0][51] == 2.0 / (3.0 + DBL_EPSILON)); /* enveloped index 1 -> 2 */
    CHECK(s.precision[0][100] == 2.0 / (3.0 + DBL_EPSILON));
    CHECK(s.ap[0] == 0.83498349834983498);                  /* golden from numpy */
}

TEST(recall_thresholds_are_k_times_001) {
    /* 20 GT, 7 TP, 1 FP, 13 TP: recall 7/20 = 0.35 < 35*0.01 = 0.35000000000000003,
       so recall threshold 35 lands after the FP, on the envelope of ranks 8.. */
    fpf_eval_instance g[20], d[21];
    fpf_eval_summary s;
    int k;
    for (k = 0; k < 20; k++) g[k] = box_inst(20.0 * k, 0, 10, 10, 0);
    for (k = 0; k < 21; k++) {
        int gi = k < 7 ? k : k - 1;
        d[k] = k == 7 ? box_inst(0, 100, 10, 10, 1 - k * 0.01) : box_inst(20.0 * gi, 0, 10, 10, 1 - k * 0.01);
    }
    s = eval1(g, 20, d, 21, FPF_EVAL_BBOX);
    CHECK(35 * 0.01 > 0.35);
    CHECK(s.precision[0][34] == 7.0 / (7.0 + DBL_EPSILON));
    CHECK(s.precision[0][35] == 20.0 / (21.0 + DBL_EPSILON));
}

TEST(no_gt_gives_minus_one) {
    fpf_eval_instance d = box_inst(0, 0, 10, 10, 0.9);
    fpf_eval_summary s = eval1(NULL, 0, &d, 1, FPF_EVAL_BBOX);
    fpf_eval_counts c = tpfp1(NULL, 0, &d, 1, 0.75);
    int k;
    for (k = 0; k < FPF_EVAL_N_IOU; k++) CHECK(s.ap[k] == -1 && s.recall[k] == -1);
    CHECK(s.map_50_95 == -1 && s.map_50_90 == -1 && s.ap50 == -1 && s.ap75 == -1 && s.mar_50_95 == -1);
    CHECK(s.precision[9][100] == -1);
    CHECK(c.tp == 0 && c.fp == 1 && c.fn == 0);
    s = eval1(NULL, 0, NULL, 0, FPF_EVAL_BBOX);
    CHECK(s.map_50_95 == -1);
}

TEST(no_detections_gives_zero) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0);
    fpf_eval_summary s = eval1(&g, 1, NULL, 0, FPF_EVAL_BBOX);
    fpf_eval_counts c = tpfp1(&g, 1, NULL, 0, 0.75);
    CHECK(s.ap[0] == 0 && s.recall[0] == 0 && s.map_50_95 == 0 && s.mar_50_95 == 0);
    CHECK(c.tp == 0 && c.fp == 0 && c.fn == 1);
}

TEST(equal_scores_keep_input_order_in_image) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0);
    fpf_eval_instance good = box_inst(0, 0, 10, 10, 0.5), bad = box_inst(0, 0, 10, 2, 0.5);
    fpf_eval_instance d1[2], d2[2];
    fpf_eval_summary s;
    d1[0] = good; d1[1] = bad; d2[0] = bad; d2[1] = good;
    s = eval1(&g, 1, d1, 2, FPF_EVAL_BBOX);
    CHECK(s.ap[0] == 0.9999999999999999);
    s = eval1(&g, 1, d2, 2, FPF_EVAL_BBOX);   /* FP ranks first: precision 1/(2+eps) = 0.5 */
    CHECK(s.ap[0] == 0.5);
}

TEST(equal_scores_across_images_go_to_first_image) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0);
    fpf_eval_instance fp = box_inst(50, 50, 10, 10, 0.5), tp = box_inst(0, 0, 10, 10, 0.5);
    fpf_eval_summary s;
    fpf_eval *ev;
    fpf_eval_init(NULL, &ev);
    fpf_eval_add_image(ev, NULL, 0, &fp, 1);  /* image 0: FP at 0.5 */
    fpf_eval_add_image(ev, &g, 1, &tp, 1);    /* image 1: TP at 0.5 */
    fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s);
    CHECK(s.ap[0] == 0.5);
    fpf_eval_free(ev);
    fpf_eval_init(NULL, &ev);
    fpf_eval_add_image(ev, &g, 1, &tp, 1);
    fpf_eval_add_image(ev, NULL, 0, &fp, 1);
    fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s);
    CHECK(s.ap[0] == 0.9999999999999999);
    CHECK(fpf_eval_image_count(ev) == 2);
    fpf_eval_free(ev);
}

TEST(only_top_100_per_image) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0), d[101];
    fpf_eval_summary s;
    fpf_eval_counts c;
    int k;
    for (k = 0; k < 100; k++) d[k] = box_inst(100 + 20.0 * k, 0, 10, 10, 0.9);
    d[100] = box_inst(0, 0, 10, 10, 0.1);     /* the only match, ranked 101st */
    s = eval1(&g, 1, d, 101, FPF_EVAL_BBOX);
    CHECK(s.ap[0] == 0 && s.recall[0] == 0 && s.n_dt == 100);
    c = tpfp1(&g, 1, d, 101, 0.5);
    CHECK(c.tp == 0 && c.fp == 100 && c.fn == 1);
    d[100].score = 0.9;                       /* tie with the others: input order, still 101st */
    s = eval1(&g, 1, d, 101, FPF_EVAL_BBOX);
    CHECK(s.recall[0] == 0);
    d[100].score = 0.95;                      /* now first */
    s = eval1(&g, 1, d, 101, FPF_EVAL_BBOX);
    CHECK(s.recall[0] == 1 && s.ap[0] == 0.9999999999999999);
}

TEST(greedy_matching_in_rank_order) {
    /* G0 [0..10], G1 [2..12]; A [1.2..]: IoU .786 G0, .852 G1; B [2.5..]: .6 G0, .905 G1 */
    fpf_eval_instance g[2] = {box_inst(0, 0, 10, 10, 0), box_inst(2, 0, 10, 10, 0)};
    fpf_eval_instance d[2] = {box_inst(1.2, 0, 10, 10, 0.9), box_inst(2.5, 0, 10, 10, 0.8)};
    fpf_eval_counts c = tpfp1(g, 2, d, 2, 0.75); /* A takes G1, B is left with G0 (.6) */
    CHECK(c.tp == 1 && c.fp == 1 && c.fn == 1);
    d[0].score = 0.7;                            /* B first: B->G1, A->G0 */
    c = tpfp1(g, 2, d, 2, 0.75);
    CHECK(c.tp == 2 && c.fp == 0 && c.fn == 0);
}

TEST(equal_iou_later_gt_wins) {
    /* A [1..11] has IoU 90/110 with both G0 and G1: it must take G1, so B (only good
       with G1) becomes a false positive at 0.75 */
    fpf_eval_instance g[2] = {box_inst(0, 0, 10, 10, 0), box_inst(2, 0, 10, 10, 0)};
    fpf_eval_instance d[2] = {box_inst(1, 0, 10, 10, 0.9), box_inst(2.5, 0, 10, 10, 0.8)};
    fpf_eval_counts c;
    CHECK(fpf_eval_box_iou(d[0].box, g[0].box) == fpf_eval_box_iou(d[0].box, g[1].box));
    c = tpfp1(g, 2, d, 2, 0.75);
    CHECK(c.tp == 1 && c.fp == 1 && c.fn == 1);
}

TEST(threshold_floor_and_equal_iou_matches) {
    fpf_eval_instance g = box_inst(0, 0, 2, 1, 0), half = box_inst(0, 0, 1, 1, 0.9);
    fpf_eval_instance same = box_inst(0, 0, 2, 1, 0.9);
    fpf_eval_counts c;
    c = tpfp1(&g, 1, &half, 1, 0.5);              /* IoU exactly 0.5 >= 0.5 */
    CHECK(c.tp == 1);
    c = tpfp1(&g, 1, &half, 1, 0.5000000000000001);
    CHECK(c.tp == 0 && c.fp == 1);
    c = tpfp1(&g, 1, &same, 1, 1.0);              /* min(1, 1-1e-10): IoU 1 matches */
    CHECK(c.tp == 1);
    c = tpfp1(&g, 1, &same, 1, 2.0);
    CHECK(c.tp == 1);
}

TEST(duplicates_are_false_positives) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0);
    fpf_eval_instance d[2] = {box_inst(0, 0, 10, 10, 0.9), box_inst(0, 0, 10, 10, 0.8)};
    fpf_eval_counts c = tpfp1(&g, 1, d, 2, 0.5);
    fpf_eval_summary s = eval1(&g, 1, d, 2, FPF_EVAL_BBOX);
    CHECK(c.tp == 1 && c.fp == 1 && c.fn == 0);
    CHECK(s.ap[0] == 0.9999999999999999); /* the FP ranks after recall reached 1 */
}

TEST(score_floor_and_per_image_counts) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0);
    fpf_eval_instance d[3] = {box_inst(0, 0, 10, 10, 0.9), box_inst(30, 0, 10, 10, 0.5),
                              box_inst(60, 0, 10, 10, 0.2)};
    fpf_eval *ev;
    fpf_eval_counts tot, per[2];
    fpf_eval_init(NULL, &ev);
    fpf_eval_add_image(ev, &g, 1, d, 3);
    fpf_eval_add_image(ev, &g, 1, d + 1, 2);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, 0.75, 0.5, &tot, per) == FPF_EVAL_OK);
    CHECK(per[0].tp == 1 && per[0].fp == 1 && per[0].fn == 0);
    CHECK(per[1].tp == 0 && per[1].fp == 1 && per[1].fn == 1);
    CHECK(tot.tp == 1 && tot.fp == 2 && tot.fn == 1);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, 0.75, FPF_EVAL_NO_FLOOR, &tot, NULL) == FPF_EVAL_OK);
    CHECK(tot.tp == 1 && tot.fp == 4 && tot.fn == 1);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_SEGM, 0.75, 0, &tot, NULL) == FPF_EVAL_ERR_NO_MASK);
    fpf_eval_free(ev);
}

TEST(segm_on_masks_and_errors) {
    fpf_eval_instance g[2], d[2], bad;
    fpf_eval_summary s;
    fpf_eval *ev;
    g[0] = rect_inst(8, 9, 0, 0, 1, 1, 0);  /* one pixel in the corner */
    g[1] = rect_inst(8, 9, 6, 3, 3, 5, 0);  /* on the right and bottom border */
    d[0] = rect_inst(8, 9, 0, 0, 1, 1, 0.3);
    d[1] = rect_inst(8, 9, 6, 4, 3, 4, 0.6); /* IoU 12/15 = 0.8 */
    s = eval1(g, 2, d, 2, FPF_EVAL_SEGM);
    CHECK(s.recall[0] == 1 && s.recall[6] == 1 && s.recall[7] == 0.5);
    bad = rect_inst(7, 9, 0, 0, 1, 1, 0.5);
    fpf_eval_init(NULL, &ev);
    CHECK(fpf_eval_add_image(ev, g, 2, &bad, 1) == FPF_EVAL_ERR_SIZE);
    bad.mask.counts[0] += 1;                /* counts no longer add up to h*w */
    CHECK(fpf_eval_add_image(ev, g, 2, &bad, 1) == FPF_EVAL_ERR_INVALID);
    bad.mask.counts[0] -= 1;
    bad.box[2] = -1;
    CHECK(fpf_eval_add_image(ev, NULL, 0, &bad, 1) == FPF_EVAL_ERR_INVALID);
    CHECK(fpf_eval_image_count(ev) == 0);
    CHECK(strcmp(fpf_eval_result_string(FPF_EVAL_ERR_SIZE), "mask sizes differ within an image") == 0);
    fpf_eval_free(ev);
    free_insts(g, 2); free_insts(d, 2); free_insts(&bad, 1);
}

/* ---- RLE ---------------------------------------------------------------------- */

TEST(rle_round_trips) {
    unsigned char m[7 * 5], back[7 * 5];
    fpf_eval_rle r, r2;
    char buf[256];
    size_t len, i;
    unsigned seed = 12345;
    int trial, rm;
    for (trial = 0; trial < 200; trial++) {
        rm = trial & 1;
        for (i = 0; i < sizeof m; i++) { seed = seed * 1103515245u + 12345u; m[i] = (seed >> 16) % (trial % 5 + 2) == 0; }
        CHECK(fpf_eval_rle_encode(&r, m, 7, 5, rm, NULL) == FPF_EVAL_OK);
        CHECK(fpf_eval_rle_check(&r) == FPF_EVAL_OK);
        CHECK(fpf_eval_rle_decode(&r, back, rm) == FPF_EVAL_OK);
        CHECK(memcmp(m, back, sizeof m) == 0);
        CHECK(fpf_eval_rle_to_string(&r, buf, sizeof buf, &len) == FPF_EVAL_OK && len == strlen(buf));
        CHECK(fpf_eval_rle_from_string(&r2, buf, len, 7, 5, NULL) == FPF_EVAL_OK);
        CHECK(r2.m == r.m && memcmp(r.counts, r2.counts, r.m * 4) == 0);
        fpf_eval_rle_free(&r, NULL); fpf_eval_rle_free(&r2, NULL);
    }
}

TEST(rle_string_matches_coco) {
    /* strings from maskApi rleToString (via cocoeval_ref.py): deltas from the 4th count on */
    const uint32_t c1[] = {0, 5, 3, 100000, 2, 7, 40}, c2[] = {7, 1, 2, 1, 30};
    fpf_eval_rle r;
    char buf[64];
    size_t len;
    r.h = 1; r.w = 100057; r.m = 7; r.counts = (uint32_t *)c1;
    CHECK(fpf_eval_rle_to_string(&r, buf, sizeof buf, &len) == FPF_EVAL_OK && !strcmp(buf, "053kdQ3OW[nLV1"));
    r.h = 41; r.w = 1; r.m = 5; r.counts = (uint32_t *)c2;
    CHECK(fpf_eval_rle_to_string(&r, buf, sizeof buf, &len) == FPF_EVAL_OK && !strcmp(buf, "7120l0"));
    CHECK(fpf_eval_rle_to_string(&r, NULL, 0, &len) == FPF_EVAL_ERR_BUFFER && len == 6);
    CHECK(fpf_eval_rle_from_string(&r, "053kdQ3OW[nLV1", 14, 1, 100057, NULL) == FPF_EVAL_OK);
    CHECK(r.m == 7 && r.counts[3] == 100000 && r.counts[6] == 40);
    fpf_eval_rle_free(&r, NULL);
    CHECK(fpf_eval_rle_from_string(&r, "053kdQ3OW[nLV1", 14, 1, 100, NULL) == FPF_EVAL_ERR_INVALID);
    CHECK(fpf_eval_rle_from_string(&r, "0~", 2, 1, 100, NULL) == FPF_EVAL_ERR_INVALID);
}

TEST(rle_box_and_area) {
    fpf_eval_instance a = rect_inst(6, 7, 2, 1, 3, 4, 0), b = rect_inst(6, 7, 6, 5, 1, 1, 0);
    double bb[4];
    fpf_eval_rle empty;
    unsigned char z[6] = {0};
    fpf_eval_rle_to_box(&a.mask, bb);
    CHECK(bb[0] == 2 && bb[1] == 1 && bb[2] == 3 && bb[3] == 4);
    CHECK(fpf_eval_rle_area(&a.mask) == 12);
    fpf_eval_rle_to_box(&b.mask, bb);
    CHECK(bb[0] == 6 && bb[1] == 5 && bb[2] == 1 && bb[3] == 1);
    fpf_eval_rle_encode(&empty, z, 2, 3, 1, NULL);
    fpf_eval_rle_to_box(&empty, bb);
    CHECK(empty.m == 1 && bb[2] == 0 && fpf_eval_rle_area(&empty) == 0);
    free_insts(&a, 1); free_insts(&b, 1); fpf_eval_rle_free(&empty, NULL);
}

/* ---- label images ------------------------------------------------------------- */

TEST(labels_to_instances) {
    /* 4 x 5 image: label 300 on the left border (column 0, rows 1-3), 65535 one pixel
       in the bottom-right corner, 7 a split region (two runs) */
    uint16_t px[4 * 5] = {0, 7, 0, 0, 0,
                          300, 7, 0, 7, 0,
                          300, 0, 0, 7, 0,
                          300, 0, 0, 0, 65535};
    uint32_t px32[4 * 5];
    unsigned char m[20];
    fpf_eval_labels L, L32;
    size_t i;
    int k;
    CHECK(fpf_eval_labels_from_image(&L, px, 2, 5, 4, NULL) == FPF_EVAL_OK);
    CHECK(L.n == 3 && L.values[0] == 7 && L.values[1] == 300 && L.values[2] == 65535);
    for (i = 0; i < L.n; i++) {
        CHECK(fpf_eval_rle_check(&L.inst[i].mask) == FPF_EVAL_OK);
        CHECK(fpf_eval_rle_decode(&L.inst[i].mask, m, 1) == FPF_EVAL_OK);
        for (k = 0; k < 20; k++) CHECK(m[k] == (px[k] == L.values[i]));
        CHECK(L.inst[i].score == 1);
    }
    CHECK(L.inst[0].box[0] == 1 && L.inst[0].box[1] == 0 && L.inst[0].box[2] == 3 && L.inst[0].box[3] == 3);
    CHECK(L.inst[1].box[0] == 0 && L.inst[1].box[1] == 1 && L.inst[1].box[2] == 1 && L.inst[1].box[3] == 3);
    CHECK(L.inst[2].box[0] == 4 && L.inst[2].box[1] == 3 && L.inst[2].box[2] == 1 && L.inst[2].box[3] == 1);
    CHECK(L.inst[2].mask.m == 2 && L.inst[2].mask.counts[0] == 19 && L.inst[2].mask.counts[1] == 1);
    for (k = 0; k < 20; k++) px32[k] = px[k] ? px[k] + 100000u : 0;
    CHECK(fpf_eval_labels_from_image(&L32, px32, 4, 5, 4, NULL) == FPF_EVAL_OK);
    CHECK(L32.n == 3 && L32.values[2] == 165535 && L32.inst[1].mask.m == L.inst[1].mask.m);
    fpf_eval_labels_free(&L, NULL); fpf_eval_labels_free(&L32, NULL);
    px32[0] = 1u << 24;
    CHECK(fpf_eval_labels_from_image(&L32, px32, 4, 5, 4, NULL) == FPF_EVAL_ERR_RANGE);
}

static size_t n_alloc, n_free;
static void *count_alloc(size_t size, size_t align, void *user) {
    (void)align; (void)user; n_alloc++; return malloc(size);
}
static void count_free(void *p, void *user) { (void)user; if (p) n_free++; free(p); }

TEST(custom_allocator_is_used_and_balanced) {
    fpf_eval_allocator a = {count_alloc, count_free, NULL}, zero;
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0), d = box_inst(1, 0, 10, 10, 0.5);
    fpf_eval *ev;
    fpf_eval_summary s;
    fpf_eval_counts c;
    memset(&zero, 0, sizeof zero);
    n_alloc = n_free = 0;
    CHECK(fpf_eval_init(&a, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, &g, 1, &d, 1) == FPF_EVAL_OK);
    CHECK(fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s) == FPF_EVAL_OK);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, 0.5, 0, &c, NULL) == FPF_EVAL_OK);
    fpf_eval_free(ev);
    CHECK(n_alloc > 0 && n_alloc == n_free);
    CHECK(fpf_eval_init(&zero, &ev) == FPF_EVAL_OK); /* zero struct: malloc/free */
    fpf_eval_free(ev);
    CHECK(fpf_eval_init(NULL, NULL) == FPF_EVAL_ERR_INVALID_ARG);
}

/* ---- goldens from cocoeval_ref.py ---------------------------------------------- */

static void check_cli_golden(const char *name, const char *extra, const char *expect) {
    char cmd[1024], *got, *want;
    snprintf(cmd, sizeof cmd, CLI " --gt " FIX "gt_%s.json --dt " FIX "dt_%s.json --json %s > " TMP "/out.json",
             name, name, extra);
    CHECK_MSG(sh(cmd) == 0, "%s", cmd);
    got = slurp(TMP "/out.json");
    want = slurp(expect);
    CHECK_MSG(got && want && strcmp(got, want) == 0, "%s\n got  %s\n want %s", name, got ? got : "(none)",
              want ? want : "(none)");
    free(got); free(want);
}

TEST(cli_matches_pycocotools_goldens) {
    const char *names[] = {"mixed", "many", "random", "nodt", "nogt", "labels"};
    char expect[256];
    size_t i;
    if (!exists(CLI)) SKIP("build/fpf_eval not built");
    for (i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(expect, sizeof expect, FIX "expect_%s.json", names[i]);
        check_cli_golden(names[i], "", expect);
        snprintf(expect, sizeof expect, FIX "expect_%s_iou50.json", names[i]);
        check_cli_golden(names[i], "--tpfp-iou 0.5", expect);
    }
}

TEST(cli_label_dirs_match_golden) {
    char *got, *want;
    if (!exists(CLI)) SKIP("build/fpf_eval not built");
    CHECK(sh(CLI " --gt-labels " FIX "labels_gt --dt-labels " FIX "labels_dt --dt-scores " FIX
             "labels_scores.csv --json > " TMP "/lab.json") == 0);
    got = slurp(TMP "/lab.json"); want = slurp(FIX "expect_labels.json");
    CHECK(got && want && strcmp(got, want) == 0);
    free(got); free(want);
    CHECK(sh(CLI " --gt-labels " FIX "labels_gt --dt-labels " FIX "labels_dt > " TMP "/tab.txt") == 0);
    got = slurp(TMP "/tab.txt");
    CHECK(got && strstr(got, "mean AP 0.50-0.90") && strstr(got, "AP @ IoU 0.95") && strstr(got, "TP @ IoU 0.75"));
    free(got);
}

/* the library on the label fixtures, compared with == against the golden numbers */
TEST(library_matches_golden_on_label_images) {
    const char *names[] = {"a", "b", "c"};
    char *want = slurp(FIX "expect_labels.json"), *csv = slurp(FIX "labels_scores.csv");
    fpf_eval *ev;
    size_t i, k;
    int t;
    CHECK(want && csv);
    if (!want || !csv) { free(want); free(csv); return; }
    fpf_eval_init(NULL, &ev);
    for (i = 0; i < 3; i++) {
        char path[256], key[64], *hit;
        int w, h, w2, h2;
        uint16_t *g, *d;
        fpf_eval_labels G, D;
        snprintf(path, sizeof path, FIX "labels_gt/%s.pgm", names[i]);
        g = read_pgm16(path, &w, &h);
        snprintf(path, sizeof path, FIX "labels_dt/%s.pgm", names[i]);
        d = read_pgm16(path, &w2, &h2);
        CHECK(g && d && w == w2 && h == h2);
        if (!g || !d) { free(g); free(d); break; }
        fpf_eval_labels_from_image(&G, g, 2, w, h, NULL);
        fpf_eval_labels_from_image(&D, d, 2, w, h, NULL);
        for (k = 0; k < D.n; k++) { /* scores from the CSV rows "<name>.pgm,<label>,<score>" */
            snprintf(key, sizeof key, "\n%s.pgm,%u,", names[i], (unsigned)D.values[k]);
            hit = strstr(csv, key);
            D.inst[k].score = hit ? strtod(hit + strlen(key), NULL) : 1.0;
        }
        CHECK(fpf_eval_add_image(ev, G.inst, G.n, D.inst, D.n) == FPF_EVAL_OK);
        fpf_eval_labels_free(&G, NULL); fpf_eval_labels_free(&D, NULL);
        free(g); free(d);
    }
    for (t = 0; t < 2; t++) {
        fpf_eval_summary s;
        fpf_eval_counts c;
        double ap[10], rec[10], x;
        const char *sec = t ? "\"segm\"" : "\"bbox\"";
        CHECK(fpf_eval_summarize(ev, (fpf_eval_iou_type)t, &s) == FPF_EVAL_OK);
        CHECK(json_numbers(want, sec, "ap", ap, 10) == 10 && json_numbers(want, sec, "recall", rec, 10) == 10);
        for (k = 0; k < 10; k++) CHECK_MSG(s.ap[k] == ap[k] && s.recall[k] == rec[k], "%s k=%zu", sec, k);
        CHECK(json_numbers(want, sec, "map_50_95", &x, 1) == 1 && s.map_50_95 == x);
        CHECK(json_numbers(want, sec, "map_50_90", &x, 1) == 1 && s.map_50_90 == x);
        CHECK(json_numbers(want, sec, "ap75", &x, 1) == 1 && s.ap75 == x);
        CHECK(json_numbers(want, sec, "mar_50_95", &x, 1) == 1 && s.mar_50_95 == x);
        CHECK(fpf_eval_tpfp(ev, (fpf_eval_iou_type)t, 0.75, FPF_EVAL_NO_FLOOR, &c, NULL) == FPF_EVAL_OK);
        CHECK(json_numbers(want, sec, "tp", &x, 1) == 1 && (double)c.tp == x);
        CHECK(json_numbers(want, sec, "fn", &x, 1) == 1 && (double)c.fn == x);
    }
    fpf_eval_free(ev);
    free(want); free(csv);
}

/* ---- CLI errors ---------------------------------------------------------------- */

static void check_cli_error(const char *args, const char *needle) {
    char cmd[1024], *err;
    snprintf(cmd, sizeof cmd, CLI " %s > " TMP "/o.txt 2> " TMP "/e.txt", args);
    CHECK_MSG(sh(cmd) != 0, "%s should fail", args);
    CHECK_MSG(count_lines(TMP "/e.txt") == 1, "%s: one line on stderr", args);
    err = slurp(TMP "/e.txt");
    CHECK_MSG(err && strstr(err, needle), "%s: stderr '%s' lacks '%s'", args, err ? err : "", needle);
    free(err);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

TEST(cli_errors_are_one_line) {
    uint16_t a[6] = {0, 1, 1, 0, 0, 2}, b[8] = {0};
    if (!exists(CLI)) SKIP("build/fpf_eval not built");
    write_text(TMP "/bad.json", "{\"images\": [{\"id\": 1, \"width\": 2,}]}");
    write_text(TMP "/gt_size.json",
               "{\"images\":[{\"id\":1,\"width\":3,\"height\":2}],\"categories\":[{\"id\":1}],"
               "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"iscrowd\":0,"
               "\"bbox\":[0,0,1,1],\"area\":1,\"segmentation\":{\"size\":[2,3],\"counts\":[0,1,5]}}]}");
    write_text(TMP "/dt_size.json",
               "[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1],"
               "\"segmentation\":{\"size\":[3,3],\"counts\":[0,1,8]}}]");
    write_text(TMP "/dt_ok.json",
               "[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1],"
               "\"segmentation\":{\"size\":[2,3],\"counts\":\"01\"}}]");
    check_cli_error("--gt " TMP "/bad.json --dt " FIX "dt_mixed.json", "malformed JSON");
    check_cli_error("--gt " FIX "gt_mixed.json --dt " TMP "/bad.json", "malformed JSON");
    check_cli_error("--gt " TMP "/missing.json --dt " FIX "dt_mixed.json", "cannot open");
    check_cli_error("--gt " TMP "/gt_size.json --dt " TMP "/dt_size.json", "mismatched image size");
    check_cli_error("--gt " TMP "/gt_size.json --dt " TMP "/dt_ok.json", "bad RLE");
    mkdir(TMP "/lg", 0755); mkdir(TMP "/ld", 0755);
    write_pgm16(TMP "/lg/x.pgm", a, 3, 2);
    write_pgm16(TMP "/ld/x.pgm", b, 4, 2);
    check_cli_error("--gt-labels " TMP "/lg --dt-labels " TMP "/ld", "mismatched image sizes");
    write_pgm16(TMP "/ld/x.pgm", a, 3, 2);
    CHECK(sh(CLI " --gt-labels " TMP "/lg --dt-labels " TMP "/ld --json > " TMP "/o.txt") == 0);
    write_text(TMP "/s.csv", "file,label\n");
    check_cli_error("--gt-labels " TMP "/lg --dt-labels " TMP "/ld --dt-scores " TMP "/s.csv", "header");
    CHECK(sh(CLI " --bogus > /dev/null 2>&1") == 2);
}

/* A one-image GT and a one-detection result, image ids given as JSON number text. */
static void write_id_pair(const char *gt_path, const char *gt_id, const char *dt_path, const char *dt_id) {
    char t[512];
    snprintf(t, sizeof t, "{\"images\": [{\"id\": %s, \"width\": 4, \"height\": 3}], \"annotations\": []}", gt_id);
    write_text(gt_path, t);
    snprintf(t, sizeof t, "[{\"image_id\": %s, \"category_id\": 1, \"score\": 0.9, \"segmentation\": "
             "{\"size\": [3, 4], \"counts\": [3, 2, 1, 2, 4]}, \"bbox\": [1, 0, 2, 2]}]", dt_id);
    write_text(dt_path, t);
}

/* Reliability probe findings, rebuilt here (the probe's eval_json reproducers). */
TEST(cli_refuses_out_of_range_numbers) {
    static const char *bad_iou[] = {"-1", "2", "nan"};
    char cmd[512], *e;
    size_t i;
    if (!exists(CLI)) SKIP("build/fpf_eval not built");
    /* #3: an image_id of 1e300 is no integer (the cast to long long was undefined) */
    write_id_pair(TMP "/gt_1e300.json", "1e300", TMP "/dt_ok3.json", "1");
    write_id_pair(TMP "/gt_ok3.json", "1", TMP "/dt_1e300.json", "1e300");
    check_cli_error("--gt " TMP "/gt_1e300.json --dt " TMP "/dt_ok3.json", "integer id");
    check_cli_error("--gt " TMP "/gt_ok3.json --dt " TMP "/dt_1e300.json", "integer image_id");
    CHECK(sh(CLI " --gt " TMP "/gt_ok3.json --dt " TMP "/dt_ok3.json > /dev/null 2>&1") == 0);
    /* --tpfp-iou outside [0, 1]: one clear line, exit 2 */
    for (i = 0; i < sizeof bad_iou / sizeof *bad_iou; i++) {
        snprintf(cmd, sizeof cmd, CLI " --gt " TMP "/gt_ok3.json --dt " TMP "/dt_ok3.json --tpfp-iou %s 2> " TMP "/e.txt",
                 bad_iou[i]);
        CHECK_MSG(sh(cmd) == 2 && count_lines(TMP "/e.txt") == 1, "--tpfp-iou %s", bad_iou[i]);
        e = slurp(TMP "/e.txt");
        CHECK(e && strstr(e, "between 0 and 1"));
        free(e);
    }
    CHECK(sh(CLI " --gt " TMP "/gt_ok3.json --dt " TMP "/dt_ok3.json --tpfp-iou 1 > /dev/null 2>&1") == 0);
    /* #4: empty label folders: one clear line (qsort was handed NULL) */
    mkdir(TMP "/empty_g", 0755); mkdir(TMP "/empty_d", 0755);
    check_cli_error("--gt-labels " TMP "/empty_g --dt-labels " TMP "/empty_d", "no .tif");
}

/* ---- dense fields: --max-dets and the StarDist matching (issue #12) --------- */

/* one image, three 10x10 GT; detections by score: hit G0, miss, hit G1, hit G2 */
static fpf_eval_summary eval_max_dets(size_t max_dets, fpf_eval_result *set_rc) {
    fpf_eval_instance g[3] = {box_inst(0, 0, 10, 10, 0), box_inst(20, 0, 10, 10, 0), box_inst(40, 0, 10, 10, 0)};
    fpf_eval_instance d[4] = {box_inst(0, 0, 10, 10, 0.9), box_inst(60, 0, 10, 10, 0.8),
                              box_inst(20, 0, 10, 10, 0.7), box_inst(40, 0, 10, 10, 0.6)};
    fpf_eval *ev;
    fpf_eval_summary s;
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    *set_rc = max_dets ? fpf_eval_set_max_dets(ev, max_dets) : FPF_EVAL_OK;
    CHECK(fpf_eval_add_image(ev, g, 3, d, 4) == FPF_EVAL_OK);
    CHECK(fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s) == FPF_EVAL_OK);
    fpf_eval_free(ev);
    return s;
}

TEST(max_dets_keeps_top_n) {
    fpf_eval_result rc;
    /* all 4 kept: TP FP TP TP, recall 1/3 1/3 2/3 1, precision 1 .5 .667 .75, envelope 1 .75 .75 .75:
       recall thresholds 0..0.33 read precision 1 (34 of them), 0.34..1.00 read .75 (67) */
    fpf_eval_summary s = eval_max_dets(0, &rc);
    CHECK(s.n_dt == 4);
    CHECK_NEAR(s.ap[0], (34 + 67 * 0.75) / 101, 1e-12);
    /* top 2 kept: TP FP, recall 1/3 1/3: 34 thresholds read 1, the rest 0 */
    s = eval_max_dets(2, &rc);
    CHECK(rc == FPF_EVAL_OK && s.n_dt == 2);
    CHECK_NEAR(s.ap[0], 34.0 / 101, 1e-12);
    CHECK_NEAR(s.recall[0], 1.0 / 3, 1e-15);
    s = eval_max_dets(1000, &rc);
    CHECK(rc == FPF_EVAL_OK && s.n_dt == 4);
    CHECK_NEAR(s.ap[0], (34 + 67 * 0.75) / 101, 1e-12);
}

TEST(max_dets_1000_keeps_more_than_100) {
    fpf_eval_instance g = box_inst(0, 0, 10, 10, 0), d[151];
    fpf_eval *ev;
    fpf_eval_summary s;
    fpf_eval_counts c;
    int k;
    for (k = 0; k < 150; k++) d[k] = box_inst(100 + 20.0 * k, 0, 10, 10, 0.9);
    d[150] = box_inst(0, 0, 10, 10, 0.1);     /* the only match, ranked 151st */
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_max_dets(ev) == 100);
    CHECK(fpf_eval_set_max_dets(ev, 0) == FPF_EVAL_ERR_INVALID_ARG);
    CHECK(fpf_eval_set_max_dets(ev, 1000) == FPF_EVAL_OK && fpf_eval_max_dets(ev) == 1000);
    CHECK(fpf_eval_add_image(ev, &g, 1, d, 151) == FPF_EVAL_OK);
    CHECK(fpf_eval_set_max_dets(ev, 100) == FPF_EVAL_ERR_INVALID_ARG); /* only before the first image */
    CHECK(fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s) == FPF_EVAL_OK);
    CHECK(s.n_dt == 151 && s.recall[0] == 1);
    /* one TP at rank 151: precision 1/151 for every recall threshold */
    CHECK_NEAR(s.ap[0], 1.0 / 151, 1e-12);
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, 0.5, FPF_EVAL_NO_FLOOR, &c, NULL) == FPF_EVAL_OK);
    CHECK(c.tp == 1 && c.fp == 150 && c.fn == 0);
    fpf_eval_free(ev);
    CHECK(fpf_eval_set_max_dets(NULL, 5) == FPF_EVAL_ERR_INVALID_ARG);
}

/* boxes one pixel high: IoU is the 1-D interval IoU. G1 [0,10) G2 [4,14);
   A [1,11) score .9: IoU 9/11 = .818 with G1, 7/13 = .538 with G2;
   B [0,9) score .8: IoU .9 with G1, 5/14 = .357 with G2. */
static fpf_eval *overlap_case(void) {
    fpf_eval_instance g[2] = {box_inst(0, 0, 10, 1, 0), box_inst(4, 0, 10, 1, 0)};
    fpf_eval_instance d[2] = {box_inst(1, 0, 10, 1, 0.9), box_inst(0, 0, 9, 1, 0.8)};
    fpf_eval *ev;
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, g, 2, d, 2) == FPF_EVAL_OK);
    return ev;
}

TEST(matching_is_maximum_not_greedy) {
    fpf_eval *ev = overlap_case();
    fpf_eval_match_stats m;
    fpf_eval_counts c;
    /* COCO greedy at 0.5: A takes G1 (.818 > .538), B finds only G2 at .357: 1 TP */
    CHECK(fpf_eval_tpfp(ev, FPF_EVAL_BBOX, 0.5, FPF_EVAL_NO_FLOOR, &c, NULL) == FPF_EVAL_OK);
    CHECK(c.tp == 1 && c.fp == 1 && c.fn == 1);
    /* StarDist at 0.5: A-G2 and B-G1 are both >= .5: 2 TP */
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.5, FPF_EVAL_NO_FLOOR, &m, NULL) == FPF_EVAL_OK);
    CHECK(m.tp == 2 && m.fp == 0 && m.fn == 0 && m.n_gt == 2 && m.n_dt == 2);
    CHECK(m.accuracy == 1 && m.f1 == 1 && m.precision == 1 && m.recall == 1 && m.iou_thr == 0.5);
    /* at 0.6 only A-G1 and B-G1 qualify: 1 TP, 1 FP, 1 FN */
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.6, FPF_EVAL_NO_FLOOR, &m, NULL) == FPF_EVAL_OK);
    CHECK(m.tp == 1 && m.fp == 1 && m.fn == 1);
    CHECK_NEAR(m.accuracy, 1.0 / 3, 1e-15);
    CHECK_NEAR(m.f1, 0.5, 1e-15);
    CHECK(m.precision == 0.5 && m.recall == 0.5);
    /* above every IoU: nothing matches, all ratios 0 (StarDist's tp == 0 rule) */
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.95, FPF_EVAL_NO_FLOOR, &m, NULL) == FPF_EVAL_OK);
    CHECK(m.tp == 0 && m.fp == 2 && m.fn == 2 && m.accuracy == 0 && m.f1 == 0 && m.precision == 0);
    CHECK(fpf_eval_matching(ev, FPF_EVAL_SEGM, 0.5, 0, &m, NULL) == FPF_EVAL_ERR_NO_MASK);
    fpf_eval_free(ev);
}

TEST(matching_threshold_is_inclusive) {
    /* G [0,10), D [0,5): IoU exactly 0.5, a TP at 0.5 (StarDist: iou >= thr) */
    fpf_eval_instance g = box_inst(0, 0, 10, 1, 0), d = box_inst(0, 0, 5, 1, 0.9);
    fpf_eval *ev;
    fpf_eval_match_stats m;
    volatile double zero = 0;
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, &g, 1, &d, 1) == FPF_EVAL_OK);
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.5, FPF_EVAL_NO_FLOOR, &m, NULL) == FPF_EVAL_OK);
    CHECK(m.tp == 1 && m.fp == 0 && m.fn == 0);
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.5000001, FPF_EVAL_NO_FLOOR, &m, NULL) == FPF_EVAL_OK);
    CHECK(m.tp == 0 && m.fp == 1 && m.fn == 1);
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, zero / zero, 0, &m, NULL) == FPF_EVAL_ERR_INVALID_ARG);
    CHECK(fpf_eval_matching(NULL, FPF_EVAL_BBOX, 0.5, 0, &m, NULL) == FPF_EVAL_ERR_INVALID_ARG);
    fpf_eval_free(ev);
}

TEST(matching_pools_images_and_honours_floor) {
    fpf_eval_instance g[2] = {box_inst(0, 0, 10, 1, 0), box_inst(4, 0, 10, 1, 0)};
    fpf_eval_instance d[2] = {box_inst(1, 0, 10, 1, 0.9), box_inst(0, 0, 9, 1, 0.8)};
    fpf_eval_instance g2[2] = {box_inst(0, 5, 10, 10, 0), box_inst(30, 5, 10, 10, 0)};
    fpf_eval *ev;
    fpf_eval_match_stats m;
    fpf_eval_counts per[3];
    CHECK(fpf_eval_init(NULL, &ev) == FPF_EVAL_OK);
    CHECK(fpf_eval_add_image(ev, g, 2, d, 2) == FPF_EVAL_OK);   /* 2 TP at 0.5 */
    CHECK(fpf_eval_add_image(ev, g2, 2, NULL, 0) == FPF_EVAL_OK); /* 2 FN */
    CHECK(fpf_eval_add_image(ev, NULL, 0, d, 1) == FPF_EVAL_OK);  /* 1 FP */
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.5, FPF_EVAL_NO_FLOOR, &m, per) == FPF_EVAL_OK);
    CHECK(m.tp == 2 && m.fp == 1 && m.fn == 2 && m.n_gt == 4 && m.n_dt == 3);
    CHECK(per[0].tp == 2 && per[1].fn == 2 && per[1].tp == 0 && per[2].fp == 1);
    /* pooled, not a mean of per-image ratios: 2/(2+1+2), 2*2/(4+1+2), 2/3, 2/4 */
    CHECK_NEAR(m.accuracy, 0.4, 1e-15);
    CHECK_NEAR(m.f1, 4.0 / 7, 1e-15);
    CHECK_NEAR(m.precision, 2.0 / 3, 1e-15);
    CHECK_NEAR(m.recall, 0.5, 1e-15);
    /* floor 0.85 drops B (0.8): image 1 keeps A, which matches one GT */
    CHECK(fpf_eval_matching(ev, FPF_EVAL_BBOX, 0.5, 0.85, &m, per) == FPF_EVAL_OK);
    CHECK(per[0].tp == 1 && per[0].fp == 0 && per[0].fn == 1);
    CHECK(m.tp == 1 && m.fp == 1 && m.fn == 3 && m.n_dt == 2);
    fpf_eval_free(ev);
}

TEST(matching_follows_augmenting_chains) {
    /* IoU rows A B C D (rank order) x columns G1 G2 G3. Greedy in row order would
       give A-G1 and then strand B; the maximum moves A to G2, then C to G3:
       A-G2, B-G1, C-G3, D (only G3) left over. */
    static const double iou[4 * 3] = {0.9, 0.6, 0.0,
                                      0.8, 0.0, 0.0,
                                      0.0, 0.7, 0.55,
                                      0.0, 0.0, 0.52};
    unsigned char use[4] = {1, 1, 1, 1};
    size_t w[4 * 4 + 2 * 3 + 3 + 12];
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.5, w) == 3);
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.56, w) == 2); /* G3 edges gone */
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.95, w) == 0);
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.0, w) == 3);  /* every pair, as StarDist at 0 */
    use[0] = 0;                                                  /* without A: B-G1, C-G2, D-G3 */
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.5, w) == 3);
    use[3] = 0;                                                  /* and without D: C takes one */
    CHECK(fpf_eval__max_matching(iou, use, 4, 3, 0.5, w) == 2);
}

/* brute force: the largest matching over subsets of GT columns (bitmask DP over rows) */
static size_t brute_matching(const double *iou, const unsigned char *use, size_t nd, size_t ng, double t) {
    size_t best[1 << 6], d, g, mask, out = 0;
    unsigned char seen[1 << 6];
    memset(seen, 0, sizeof seen);
    seen[0] = 1; best[0] = 0;
    for (d = 0; d < nd; d++)                   /* rows in order; each may take one free column */
        for (mask = (size_t)1 << ng; mask-- > 0;) {
            if (!seen[mask] || !use[d]) continue;
            for (g = 0; g < ng; g++)
                if (!(mask >> g & 1) && iou[d * ng + g] >= t) {
                    size_t m2 = mask | (size_t)1 << g;
                    if (!seen[m2] || best[m2] < best[mask] + 1) { seen[m2] = 1; best[m2] = best[mask] + 1; }
                }
        }
    for (mask = 0; mask < (size_t)1 << ng; mask++) if (seen[mask] && best[mask] > out) out = best[mask];
    return out;
}

TEST(matching_equals_brute_force_on_random_cases) {
    unsigned long long x = 12345;
    int trial, bad = 0;
    for (trial = 0; trial < 3000; trial++) {
        double iou[7 * 6];
        unsigned char use[7];
        size_t w[4 * 7 + 2 * 6 + 3 + 42], nd, ng, k;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        nd = (size_t)(x >> 33) % 8; ng = (size_t)(x >> 45) % 7;
        for (k = 0; k < nd * ng; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            iou[k] = (x >> 40) % 3 ? 0.0 : (double)((x >> 20) % 100) / 100;  /* sparse, dense ties */
        }
        for (k = 0; k < nd; k++) { x = x * 6364136223846793005ull + 1; use[k] = (x >> 50) % 5 != 0; }
        if (fpf_eval__max_matching(iou, use, nd, ng, 0.3, w) != brute_matching(iou, use, nd, ng, 0.3)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(cli_max_dets_and_match_iou) {
    uint16_t gt[8] = {1, 1, 0, 2, 1, 1, 0, 2}, dt[8] = {3, 3, 0, 0, 3, 3, 0, 0};
    char *out;
    if (!exists(CLI)) SKIP("build/fpf_eval not built");
    mkdir(TMP "/mg", 0755); mkdir(TMP "/md", 0755);
    write_pgm16(TMP "/mg/a.pgm", gt, 4, 2);
    write_pgm16(TMP "/md/a.pgm", dt, 4, 2);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --max-dets 1000 --match-iou 0.5,0.7 --json > "
             TMP "/m.txt") == 0);
    out = slurp(TMP "/m.txt");
    /* label 3 equals GT 1 (IoU 1), GT 2 is missed: TP 1, FP 0, FN 1, accuracy 1/2, F1 2/3 */
    CHECK(out && strstr(out, "\"matching\": [{\"iou\": 0.5, \"tp\": 1, \"fp\": 0, \"fn\": 1, \"precision\": 1, "
                             "\"recall\": 0.5, \"accuracy\": 0.5, \"f1\": 0.66666666666666663}"));
    CHECK(out && strstr(out, "{\"iou\": 0.69999999999999996, \"tp\": 1"));
    free(out);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --max-dets 1000 --match-iou 0.5 > " TMP "/m.txt") == 0);
    out = slurp(TMP "/m.txt");
    CHECK(out && strstr(out, "top 1000 per image") && strstr(out, "AR@1000 0.50:0.95"));
    CHECK(out && strstr(out, "accuracy @ IoU 0.50") && strstr(out, "TP/FP/FN @ IoU 0.50"));
    free(out);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --max-dets 0 > /dev/null 2>&1") == 2);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --max-dets 2.5 > /dev/null 2>&1") == 2);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --match-iou 0.5,1.5 > /dev/null 2>&1") == 2);
    CHECK(sh(CLI " --gt-labels " TMP "/mg --dt-labels " TMP "/md --match-iou , > /dev/null 2>&1") == 2);
}

int main(void) {
    mkdir("build", 0755); mkdir("build/tests", 0755); mkdir(TMP, 0755);
    RUN(iou_thresholds_are_numpy_linspace);
    RUN(box_iou_without_plus_one);
    RUN(mask_iou_from_pixel_counts);
    RUN(perfect_detection_gets_eps_precision);
    RUN(envelope_and_left_search);
    RUN(recall_thresholds_are_k_times_001);
    RUN(no_gt_gives_minus_one);
    RUN(no_detections_gives_zero);
    RUN(equal_scores_keep_input_order_in_image);
    RUN(equal_scores_across_images_go_to_first_image);
    RUN(only_top_100_per_image);
    RUN(greedy_matching_in_rank_order);
    RUN(equal_iou_later_gt_wins);
    RUN(threshold_floor_and_equal_iou_matches);
    RUN(duplicates_are_false_positives);
    RUN(score_floor_and_per_image_counts);
    RUN(segm_on_masks_and_errors);
    RUN(rle_round_trips);
    RUN(rle_string_matches_coco);
    RUN(rle_box_and_area);
    RUN(labels_to_instances);
    RUN(custom_allocator_is_used_and_balanced);
    RUN(cli_matches_pycocotools_goldens);
    RUN(cli_label_dirs_match_golden);
    RUN(library_matches_golden_on_label_images);
    RUN(cli_errors_are_one_line);
    RUN(cli_refuses_out_of_range_numbers);
    RUN(max_dets_keeps_top_n);
    RUN(max_dets_1000_keeps_more_than_100);
    RUN(matching_is_maximum_not_greedy);
    RUN(matching_threshold_is_inclusive);
    RUN(matching_pools_images_and_honours_floor);
    RUN(matching_follows_augmenting_chains);
    RUN(matching_equals_brute_force_on_random_cases);
    RUN(cli_max_dets_and_match_iou);
    return harness_summary("eval");
}
