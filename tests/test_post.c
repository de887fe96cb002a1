/* tests/test_post.c - fpf_post.h: thresholds, components, morphology, the paper's three
 * post-processing steps, per-object measurements and the reporter readout, each on a small
 * hand-drawn scene with the expected labels or values worked out by hand in the comments.
 *
 * Scenes are strings, one row per line: '.' is 0, '1'..'9' labels 1..9, 'a'.. labels 10.. */
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "harness.h"
#include <stdlib.h>

#define MAXPX 400

/* Parses a scene into lab (row-major); *w = length of the first row; returns the row count. */
static int parse(const char *s, uint16_t *lab, int *w) {
    int h = 0, x = 0, i = 0;
    *w = 0;
    for (; *s; s++) {
        if (*s == '\n') { if (x) { *w = x; h++; } x = 0; continue; }
        lab[i++] = (uint16_t)(*s == '.' ? 0 : *s >= 'a' ? 10 + *s - 'a' : *s == '#' ? 200 : *s - '0');
        x++;
    }
    return h;
}

static int same(const uint16_t *a, const char *expect, int h, int w) {
    uint16_t e[MAXPX];
    int ew, eh = parse(expect, e, &ew), i, ok = 1;
    if (eh != h || ew != w) return 0;
    for (i = 0; i < h * w; i++) ok &= a[i] == e[i];
    if (!ok) {
        printf("  got:\n");
        for (i = 0; i < h * w; i++) printf("%c%s", a[i] ? (a[i] < 10 ? '0' + a[i] : 'a' + a[i] - 10) : '.', (i + 1) % w ? "" : "\n");
    }
    return ok;
}

static unsigned char g_scratch[1 << 22];

static fpf_post_options only(int step) {
    fpf_post_options o;
    fpf_post_defaults(&o);
    o.merge_shared_nuclei = step == 1; o.missed_regions = step == 2; o.uncovered_nuclei = step == 3;
    return o;
}

TEST(defaults_are_documented_values) {
    fpf_post_options o;
    fpf_reporter_options r;
    fpf_post_defaults(&o); fpf_reporter_defaults(&r);
    CHECK(o.merge_shared_nuclei && o.missed_regions && o.uncovered_nuclei);
    CHECK_NEAR(o.shared_min_fraction, 0.5, 0); CHECK(o.missed_threshold == FPF_THRESHOLD_ROBUST);
    CHECK_NEAR(o.missed_threshold_param, 3, 0);
    CHECK_EQ_INT(o.open_radius, 1); CHECK_EQ_INT(o.connectivity, 8); CHECK_EQ_INT(o.min_region_area, 40);
    CHECK_NEAR(o.new_region_max_ratio, 1, 0);
    CHECK_NEAR(o.new_cell_score, 0.5, 0);
    CHECK(r.method == FPF_THRESHOLD_ROBUST); CHECK_NEAR(r.param, 5, 0); CHECK_EQ_INT(r.min_positive_area, 4);
}

/* Otsu: {0,0,0,10,10,30}. t=0: w0=3 m0=0, w1=3 m1=50/3 -> 9·(50/3)² = 2500;
   t=10: w0=5 m0=4, w1=1 m1=30 -> 5·26² = 3380 (the maximum); so t = 10 (only 30 is above).
   {10,10,20,20}: t = 10..19 give the same variance; the lowest, 10, wins. */
TEST(threshold_otsu_robust_fixed) {
    uint8_t a[6] = {0, 0, 0, 10, 10, 30}, b[4] = {20, 10, 20, 10}, c[3] = {7, 7, 7};
    uint16_t d[5] = {1, 2, 3, 4, 100};
    double t;
    fpf_image im = fpf_image_u8(a, 6, 1, 6);
    uint32_t *hist = (uint32_t *)(void *)g_scratch;
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_OTSU, 0, hist, &t) == FPF_OK); CHECK_NEAR(t, 10, 0);
    im = fpf_image_u8(b, 2, 2, 2);
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_OTSU, 0, hist, &t) == FPF_OK); CHECK_NEAR(t, 10, 0);
    im = fpf_image_u8(c, 3, 1, 3);
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_OTSU, 0, hist, &t) == FPF_OK); CHECK_NEAR(t, 7, 0);
    /* robust: median of {1,2,3,4,100} = 3 (first value with >= 3 pixels at or below);
       |x - 3| = {2,1,0,1,97}, median 1; k = 2: 3 + 2·1.4826·1 = 5.9652 */
    im = fpf_image_u16(d, 5, 1, 10);
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_ROBUST, 2, hist, &t) == FPF_OK); CHECK_NEAR(t, 5.9652, 1e-12);
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_OTSU, 0, hist, &t) == FPF_OK); CHECK_NEAR(t, 4, 0);
    CHECK(fpf_threshold(&im, FPF_THRESHOLD_FIXED, 42.5, hist, &t) == FPF_OK); CHECK_NEAR(t, 42.5, 0);
    CHECK(fpf_threshold(&im, (fpf_threshold_method)9, 0, hist, &t) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_threshold(NULL, FPF_THRESHOLD_OTSU, 0, hist, &t) == FPF_ERR_INVALID_ARG);
}

/* Components are numbered in raster order of their first pixel; diagonal neighbours join only
   with connectivity 8. */
TEST(components_4_and_8) {
    uint16_t s[MAXPX];
    uint8_t m[MAXPX] = {0};
    uint32_t lab[MAXPX] = {0};
    uint16_t got[MAXPX] = {0};
    int w, h = parse("1..1\n"
                     ".1.1\n"
                     "..11\n"
                     "1...\n", s, &w), i;
    for (i = 0; i < h * w; i++) m[i] = s[i] != 0;
    CHECK_EQ_INT(fpf_components(m, h, w, 4, lab), 4);
    for (i = 0; i < h * w; i++) got[i] = (uint16_t)lab[i];
    CHECK(same(got, "1..2\n"
                    ".3.2\n"
                    "..22\n"
                    "4...\n", h, w));
    CHECK_EQ_INT(fpf_components(m, h, w, 8, lab), 2);
    for (i = 0; i < h * w; i++) got[i] = (uint16_t)lab[i];
    CHECK(same(got, "1..1\n"
                    ".1.1\n"
                    "..11\n"
                    "2...\n", h, w));
    CHECK(fpf_components(m, h, w, 6, lab) == FPF_ERR_INVALID_ARG);
}

/* Opening with r = 1 (3x3 square): the 1-pixel line goes, the 3x3 block stays. Pixels outside
   the image are ignored, so the 2x2 block in the corner survives too. */
TEST(erode_dilate_opening) {
    uint16_t s[MAXPX], got[MAXPX] = {0};
    uint8_t m[MAXPX] = {0}, tmp[MAXPX] = {0};
    int w, h = parse("........\n"
                     ".111....\n"
                     ".111....\n"
                     ".111....\n"
                     "......11\n"
                     "11111.11\n", s, &w), i;
    for (i = 0; i < h * w; i++) m[i] = s[i] != 0;
    CHECK(fpf_erode(m, h, w, 1, tmp) == FPF_OK);
    for (i = 0; i < h * w; i++) got[i] = m[i];
    CHECK(same(got, "........\n"
                    "........\n"
                    "..1.....\n"
                    "........\n"
                    "........\n"
                    ".......1\n", h, w));
    for (i = 0; i < h * w; i++) m[i] = s[i] != 0;
    fpf_erode(m, h, w, 1, tmp); fpf_dilate(m, h, w, 1, tmp);
    for (i = 0; i < h * w; i++) got[i] = m[i];
    CHECK(same(got, "........\n"
                    ".111....\n"
                    ".111....\n"
                    ".111....\n"
                    "......11\n"
                    "......11\n", h, w));
    CHECK(fpf_erode(m, h, w, -1, tmp) == FPF_ERR_INVALID_ARG);
}

/* An 8-bit image from a scene: '#' -> 200, '.' -> 0. */
static fpf_image bright(const char *s, uint8_t *px, int *h, int *w) {
    uint16_t v[MAXPX];
    int i;
    *h = parse(s, v, w);
    for (i = 0; i < *h * *w; i++) px[i] = (uint8_t)(v[i] == 200 ? 200 : 0);
    return fpf_image_u8(px, *w, *h, (size_t)*w);
}

/* Step 1 with shared_min_fraction 0.1. Nucleus 1 (4 px) lies half in cell 1, half in cell 2 -> merged. Nucleus 2 (13 px):
   9 px in cell 3, 3 px (23 %) in cell 5 -> merged; 1 px (7.7 % < 10 %) in cell 4 -> not.
   Nucleus 3 lies in cell 5 only. Roots are the lowest labels (1 and 3); then 1,3,4 -> 1,2,3.
   Scores: max of each group: {0.95, 0.85, 0.7}. */
TEST(step1_shared_nuclei_merge) {
    uint16_t c[MAXPX], nu[MAXPX];
    float sc[8] = {0.9f, 0.95f, 0.8f, 0.7f, 0.85f};
    fpf_post_options o = only(1);
    fpf_post_stats st;
    int w, h = parse("11113333\n"
                     "11113333\n"
                     "22224333\n"
                     "22225555\n"
                     "....5555\n"
                     "....5555\n", c, &w), n = 5;
    o.shared_min_fraction = 0.1;
    parse(".....222\n"
          ".11..222\n"
          ".11.2222\n"
          ".....222\n"
          "......33\n"
          "........\n", nu, &w);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 8, sc, nu, 3, NULL, &o, g_scratch, sizeof g_scratch, &st) == FPF_OK);
    CHECK_EQ_INT(n, 3); CHECK_EQ_INT(st.merged, 2);
    CHECK(same(c, "11112222\n"
                  "11112222\n"
                  "11113222\n"
                  "11112222\n"
                  "....2222\n"
                  "....2222\n", h, w));
    CHECK_NEAR(sc[0], 0.95f, 0); CHECK_NEAR(sc[1], 0.85f, 0); CHECK_NEAR(sc[2], 0.7f, 0);
}

/* Step 2 with a fixed threshold (100; '#' is 200), no opening, 4-connectivity, regions of >= 3 px:
   A (3 px, rows 0-1) touches only cell 1 -> joins it; B (row 3, 6 px) touches cells 1, 2, 3
   -> discarded; the 1-px region under cell 3 is too small; D (row 5, 3 px) touches no cell
   -> new cell 4 with score 0.5. */
TEST(step2_missed_regions_rules) {
    uint16_t c[MAXPX];
    uint8_t px[MAXPX];
    float sc[8] = {0.9f, 0.8f, 0.7f};
    fpf_post_options o = only(2);
    fpf_post_stats st;
    int w, h, n = 3;
    fpf_image im = bright("..##....\n"
                          "..#.....\n"
                          "........\n"
                          ".######.\n"
                          "........\n"
                          "#....###\n", px, &h, &w);
    parse("11....22\n"
          "11....22\n"
          "11....22\n"
          "........\n"
          "33......\n"
          "........\n", c, &w);
    o.missed_threshold = FPF_THRESHOLD_FIXED; o.missed_threshold_param = 100;
    o.open_radius = 0; o.connectivity = 4; o.min_region_area = 3;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 8, sc, NULL, 0, &im, &o, g_scratch, sizeof g_scratch, &st) == FPF_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(st.attached, 1); CHECK_EQ_INT(st.discarded, 1); CHECK_EQ_INT(st.new_regions, 1);
    CHECK_NEAR(st.threshold, 100, 0);
    CHECK(same(c, "1111..22\n"
                  "111...22\n"
                  "11....22\n"
                  "........\n"
                  "33......\n"
                  ".....444\n", h, w));
    CHECK_NEAR(sc[3], 0.5f, 0);
    /* new regions larger than 0.4 x the largest cell (6 px) are discarded: D (3 px > 2.4) goes */
    parse("11....22\n11....22\n11....22\n........\n33......\n........\n", c, &w);
    n = 3; o.new_region_max_ratio = 0.4;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 8, sc, NULL, 0, &im, &o, g_scratch, sizeof g_scratch, &st) == FPF_OK);
    CHECK_EQ_INT(n, 3); CHECK_EQ_INT(st.new_regions, 0); CHECK_EQ_INT(st.discarded, 2);
    CHECK(same(c, "1111..22\n"
                  "111...22\n"
                  "11....22\n"
                  "........\n"
                  "33......\n"
                  "........\n", h, w));
}

/* Step 2, opening radius 1 (defaults otherwise, min area 3). Erosion keeps (0,4), (1,4), (2,4)
   (the strip in row 3 lies under the blob, and row 4 is dark); dilation gives rows 0-3, cols 3-5;
   the strip's tail (3,6),(3,7) is gone. The region is 2 columns from cell 1 (reach = r + 1 = 2)
   -> it joins cell 1; the gap column 2 stays background. */
TEST(step2_opening_and_reach) {
    uint16_t c[MAXPX];
    uint8_t px[MAXPX];
    float sc[4] = {0.9f};
    fpf_post_options o = only(2);
    int w, h, n = 1;
    fpf_image im = bright("...###..\n"
                          "...###..\n"
                          "...###..\n"
                          "...#####\n"
                          "........\n", px, &h, &w);
    parse("11......\n"
          "11......\n"
          "11......\n"
          "........\n"
          "........\n", c, &w);
    o.missed_threshold = FPF_THRESHOLD_FIXED; o.missed_threshold_param = 100; o.min_region_area = 3;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, NULL, 0, &im, &o, g_scratch, sizeof g_scratch, NULL) == FPF_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(same(c, "11.111..\n"
                  "11.111..\n"
                  "11.111..\n"
                  "...111..\n"
                  "........\n", h, w));
    /* with a minimum area above the 12 px of the region, nothing changes */
    o.min_region_area = 13;
    parse("11......\n11......\n11......\n........\n........\n", c, &w);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, NULL, 0, &im, &o, g_scratch, sizeof g_scratch, NULL) == FPF_OK);
    CHECK(same(c, "11......\n11......\n11......\n........\n........\n", h, w));
}

/* Step 3. Nucleus 1 (8 px): 2 px in cell 1, 2 px in cell 2 (a tie -> the lower label, 1, takes its
   4 uncovered px). Nucleus 2 is in no cell -> new cell 3 of its shape. Nucleus 3 is covered. */
TEST(step3_uncovered_nuclei) {
    uint16_t c[MAXPX], nu[MAXPX];
    float sc[4] = {0.9f, 0.8f};
    fpf_post_options o = only(3);
    fpf_post_stats st;
    int w, h = parse("1111....\n"
                     "1111....\n"
                     "2222....\n"
                     "........\n"
                     "........\n", c, &w), n = 2;
    parse("33......\n"
          "..1111..\n"
          "..1111..\n"
          "........\n"
          "......22\n", nu, &w);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, nu, 3, NULL, &o, g_scratch, sizeof g_scratch, &st) == FPF_OK);
    CHECK_EQ_INT(n, 3); CHECK_EQ_INT(st.enlarged, 1); CHECK_EQ_INT(st.new_nuclei, 1);
    CHECK(same(c, "1111....\n"
                  "111111..\n"
                  "222211..\n"
                  "........\n"
                  "......33\n", h, w));
    CHECK_NEAR(sc[2], 0.5f, 0);
    /* no room for the new cell: max_cells == n */
    parse("1111....\n1111....\n2222....\n........\n........\n", c, &w); n = 2;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 2, sc, nu, 3, NULL, &o, g_scratch, sizeof g_scratch, &st) ==
          FPF_ERR_OUT_OF_MEMORY);
}

/* The order 1 -> 2 -> 3. Nucleus 1 spans cells 1 and 2 (1/3 each >= 0.3): step 1 merges them, so the
   bright region in column 2 touches one cell and joins it. With step 1 off, the region touches
   two cells and is discarded, and step 3 gives the nucleus's uncovered pixel to cell 1 (tie). */
TEST(steps_in_order) {
    uint16_t c[MAXPX], nu[MAXPX];
    uint8_t px[MAXPX];
    float sc[4] = {0.8f, 0.9f};
    fpf_post_options o;
    int w, h, n = 2;
    fpf_image im = bright("..#..\n"
                          "..#..\n"
                          ".....\n", px, &h, &w);
    fpf_post_defaults(&o);
    o.shared_min_fraction = 0.3;
    o.missed_threshold = FPF_THRESHOLD_FIXED; o.missed_threshold_param = 100; o.open_radius = 0; o.min_region_area = 2;
    parse("11.22\n11.22\n.....\n", c, &w);
    parse(".111.\n.....\n.....\n", nu, &w);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, nu, 1, &im, &o, g_scratch, sizeof g_scratch, NULL) == FPF_OK);
    CHECK_EQ_INT(n, 1); CHECK_NEAR(sc[0], 0.9f, 0);
    CHECK(same(c, "11111\n11111\n.....\n", h, w));
    o.merge_shared_nuclei = 0; n = 2;
    parse("11.22\n11.22\n.....\n", c, &w);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, nu, 1, &im, &o, g_scratch, sizeof g_scratch, NULL) == FPF_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(same(c, "11122\n11.22\n.....\n", h, w));
    /* everything off: unchanged, except that empty labels are dropped (label 2 of 3 is empty);
       the scratch is filled with garbage first: nothing may depend on its contents */
    o.merge_shared_nuclei = o.missed_regions = o.uncovered_nuclei = 0; n = 3;
    memset(g_scratch, 0xA5, sizeof g_scratch);
    parse("11.33\n11.33\n.....\n", c, &w);
    sc[2] = 0.7f;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, nu, 1, &im, &o, g_scratch, sizeof g_scratch, NULL) == FPF_OK);
    CHECK_EQ_INT(n, 2); CHECK_NEAR(sc[1], 0.7f, 0);
    CHECK(same(c, "11.22\n11.22\n.....\n", h, w));
}

TEST(postprocess_errors) {
    uint16_t c[MAXPX];
    float sc[4] = {0};
    fpf_post_options o;
    int w, h = parse("11.\n...\n", c, &w), n = 1;
    fpf_post_defaults(&o);
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, NULL, 0, NULL, &o, g_scratch, 100, NULL) == FPF_ERR_OUT_OF_MEMORY);
    n = 0; /* label 1 present but n = 0 */
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, NULL, 0, NULL, &o, g_scratch, sizeof g_scratch, NULL) == FPF_ERR_INVALID_ARG);
    n = 1; o.connectivity = 6;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 4, sc, NULL, 0, NULL, &o, g_scratch, sizeof g_scratch, NULL) == FPF_ERR_INVALID_ARG);
    o.connectivity = 8;
    CHECK(fpf_postprocess(c, (size_t)w, h, w, &n, 70000, sc, NULL, 0, NULL, &o, g_scratch, sizeof g_scratch, NULL) == FPF_ERR_INVALID_ARG);
}

/* Measurements, worked by hand (x = column, y = row):
   1: 3x3 square at the corner. A 9, centroid (1, 1), μxx = μyy = 2/3, μxy = 0 -> major = minor
      = 4·√(2/3); eccentricity 0; orientation 0.5·atan2(0, 0) = 0; hull = the square -> solidity 1;
      perimeter: 4 corners code 1+2+2 = 5 and 4 edge middles 1+2+2+10+10 = 25 -> 8; on the edge.
   2: vertical bar x = 6, y = 1..4. μyy = var{1,2,3,4} = 1.25 -> major 4·√1.25, minor 0,
      eccentricity 1, orientation 0.5·atan2(0, −1.25) = 90°; perimeter: ends code 3 (0), middles
      code 5 (1) -> 2; solidity 4/4; not on the edge.
   3: L of (0,4), (0,5), (1,5). centroid (1/3, 14/3); μxx = μyy = 2/9, μxy = 1/9 -> λ = 1/3, 1/9:
      major 4/√3, minor 4/3, eccentricity √(2/3), orientation 0.5·atan2(−2/9, 0) = −45°;
      perimeter: codes 13, 5, 13 -> 1 + 2·(1 + √2)/2 = 2 + √2; hull of the pixel squares is the
      2x2 square without the triangle (1,4)-(2,4)-(2,5): 3.5 -> solidity 3/3.5.
   Intensity channel 0 = x + 10y: square mean 11, sum 99, min 0, max 22; bar 16, 26, 36, 46. */
TEST(measure_objects_hand_worked) {
    uint16_t c[MAXPX];
    uint8_t px[MAXPX];
    fpf_object o[4];
    fpf_image im;
    const fpf_image *ch[2];
    int w, h = parse("111.....\n"
                     "111...2.\n"
                     "111...2.\n"
                     "......2.\n"
                     "3.....2.\n"
                     "33......\n", c, &w), i;
    for (i = 0; i < h * w; i++) px[i] = (uint8_t)(i % w + 10 * (i / w));
    im = fpf_image_u8(px, w, h, (size_t)w);
    ch[0] = &im; ch[1] = NULL;
    CHECK(fpf_measure_objects(c, (size_t)w, h, w, 4, ch, 2, o, g_scratch, sizeof g_scratch) == FPF_OK);
    CHECK_EQ_INT(o[0].area, 9); CHECK_NEAR(o[0].perimeter, 8, 1e-12);
    CHECK_NEAR(o[0].cx, 1, 1e-12); CHECK_NEAR(o[0].cy, 1, 1e-12);
    CHECK_EQ_INT(o[0].x1, 0); CHECK_EQ_INT(o[0].y1, 0); CHECK_EQ_INT(o[0].x2, 3); CHECK_EQ_INT(o[0].y2, 3);
    CHECK_NEAR(o[0].major, 4 * sqrt(2.0 / 3), 1e-12); CHECK_NEAR(o[0].minor, 4 * sqrt(2.0 / 3), 1e-6);
    CHECK_NEAR(o[0].eccentricity, 0, 1e-6); CHECK_NEAR(o[0].orientation, 0, 1e-9); CHECK_NEAR(o[0].solidity, 1, 1e-12);
    CHECK_EQ_INT(o[0].edge, 1);
    CHECK_NEAR(o[0].mean[0], 11, 1e-12); CHECK_NEAR(o[0].integrated[0], 99, 0);
    CHECK_NEAR(o[0].min[0], 0, 0); CHECK_NEAR(o[0].max[0], 22, 0);
    CHECK_NEAR(o[0].mean[1], 0, 0); CHECK_NEAR(o[0].max[1], 0, 0);
    CHECK_EQ_INT(o[1].area, 4); CHECK_NEAR(o[1].perimeter, 2, 1e-12);
    CHECK_NEAR(o[1].cx, 6, 1e-12); CHECK_NEAR(o[1].cy, 2.5, 1e-12);
    CHECK_EQ_INT(o[1].x1, 6); CHECK_EQ_INT(o[1].y1, 1); CHECK_EQ_INT(o[1].x2, 7); CHECK_EQ_INT(o[1].y2, 5);
    CHECK_NEAR(o[1].major, 4 * sqrt(1.25), 1e-12); CHECK_NEAR(o[1].minor, 0, 1e-6);
    CHECK_NEAR(o[1].eccentricity, 1, 1e-12); CHECK_NEAR(o[1].orientation, 90, 1e-9);
    CHECK_NEAR(o[1].solidity, 1, 1e-12); CHECK_EQ_INT(o[1].edge, 0);
    CHECK_NEAR(o[1].mean[0], 31, 1e-12); CHECK_NEAR(o[1].min[0], 16, 0); CHECK_NEAR(o[1].max[0], 46, 0);
    CHECK_EQ_INT(o[2].area, 3); CHECK_NEAR(o[2].perimeter, 2 + sqrt(2.0), 1e-12);
    CHECK_NEAR(o[2].cx, 1.0 / 3, 1e-12); CHECK_NEAR(o[2].cy, 14.0 / 3, 1e-12);
    CHECK_NEAR(o[2].major, 4 / sqrt(3.0), 1e-9); CHECK_NEAR(o[2].minor, 4.0 / 3, 1e-9);
    CHECK_NEAR(o[2].eccentricity, sqrt(2.0 / 3), 1e-9); CHECK_NEAR(o[2].orientation, -45, 1e-9);
    CHECK_NEAR(o[2].solidity, 3 / 3.5, 1e-12); CHECK_EQ_INT(o[2].edge, 1);
    CHECK_EQ_INT(o[3].area, 0); CHECK_EQ_INT(o[3].label, 4); CHECK_NEAR(o[3].perimeter, 0, 0);
    CHECK(fpf_measure_objects(c, (size_t)w, h, w, 4, ch, 2, o, g_scratch, 10) == FPF_ERR_OUT_OF_MEMORY);
    CHECK(fpf_measure_objects(c, (size_t)w, h, w, 4, ch, 4, o, g_scratch, sizeof g_scratch) == FPF_ERR_INVALID_ARG);
}

/* Anti-diagonal (0,2), (1,1), (2,0): rising to the right on screen -> +45°. */
TEST(orientation_sign) {
    uint16_t c[MAXPX];
    fpf_object o[1];
    int w, h = parse("..1\n.1.\n1..\n", c, &w);
    CHECK(fpf_measure_objects(c, (size_t)w, h, w, 1, NULL, 0, o, g_scratch, sizeof g_scratch) == FPF_OK);
    CHECK_NEAR(o[0].orientation, 45, 1e-9); CHECK_NEAR(o[0].eccentricity, 1, 1e-9);
}

/* Reporter: fixed threshold 100, infected at >= 2 positive px. Cell 1 holds 3 bright px,
   cell 2 one, and the bright px outside cells count for nobody. */
TEST(reporter_readout_and_children) {
    uint16_t c[MAXPX];
    uint8_t px[MAXPX];
    long pos[2];
    int inf[2], w, h, parent[3] = {1, 1, 0}, kids[2];
    double t;
    fpf_reporter_options ro;
    fpf_image im = bright("##...#\n"
                          "#..#..\n"
                          "......\n", px, &h, &w);
    parse("111222\n111222\n......\n", c, &w);
    fpf_reporter_defaults(&ro);
    ro.method = FPF_THRESHOLD_FIXED; ro.param = 100; ro.min_positive_area = 2;
    CHECK(fpf_reporter_readout(c, (size_t)w, h, w, 2, &im, &ro, g_scratch, sizeof g_scratch, &t, pos, inf) == FPF_OK);
    CHECK_EQ_INT(pos[0], 3); CHECK_EQ_INT(pos[1], 2); /* (0,5) and (1,3) are in cell 2 */
    CHECK_EQ_INT(inf[0], 1); CHECK_EQ_INT(inf[1], 1);
    ro.min_positive_area = 3;
    fpf_reporter_readout(c, (size_t)w, h, w, 2, &im, &ro, g_scratch, sizeof g_scratch, &t, pos, inf);
    CHECK_EQ_INT(inf[0], 1); CHECK_EQ_INT(inf[1], 0);
    /* robust default: median 0, MAD 0 -> t = 0, every bright px is positive */
    fpf_reporter_defaults(&ro);
    CHECK(fpf_reporter_readout(c, (size_t)w, h, w, 2, &im, &ro, g_scratch, sizeof g_scratch, &t, pos, inf) == FPF_OK);
    CHECK_NEAR(t, 0, 0);
    fpf_count_children(parent, 3, 2, kids);
    CHECK_EQ_INT(kids[0], 2); CHECK_EQ_INT(kids[1], 0);
}

/* fpf_median_diameter: area = box area × share of the mask cells >= threshold; d = 2·sqrt(area/π).
   A: 10×10 box, 4 of 4 cells on      -> area 100 -> d = 11.2838
   B: 20×10 box, 0.9 0.2 0.6 0.5 -> 3 on (0.5 counts) -> area 150 -> d = 13.8198
   C:  4×4 box, 0.49 at most        -> area 0   -> d = 0
   D:  8×8 box, all on               -> area 64  -> d = 9.0270
   median(A, B, C) = 11.2838; median(A, B, C, D) = (9.0270 + 11.2838) / 2 = 10.1554. */
TEST(median_diameter_hand_worked) {
    static const float ma[4] = {1, 1, 1, 1}, mb[4] = {0.9f, 0.2f, 0.6f, 0.5f}, mc[4] = {0, 0, 0, 0.49f};
    fpf_instance in[4];
    float scratch[4];
    memset(in, 0, sizeof in);
    in[0].y2 = 10; in[0].x2 = 10; in[0].mask28 = ma;
    in[1].y1 = 5; in[1].y2 = 25; in[1].x1 = 3; in[1].x2 = 13; in[1].mask28 = mb;
    in[2].y2 = 4; in[2].x2 = 4; in[2].mask28 = mc;
    in[3].y2 = 8; in[3].x2 = 8; in[3].mask28 = ma;
    for (int k = 0; k < 4; k++) { in[k].mask_size = 2; in[k].threshold = 0.5f; }
    CHECK_NEAR(fpf_median_diameter(in, 3, scratch), 11.2838, 1e-3);
    CHECK_NEAR(fpf_median_diameter(in, 4, scratch), 10.1554, 1e-3);
    CHECK_NEAR(fpf_median_diameter(in + 1, 1, scratch), 13.8198, 1e-3);
    CHECK(fpf_median_diameter(in, 0, scratch) == 0.0f);
    CHECK(fpf_median_diameter(NULL, 3, scratch) == 0.0f);
    CHECK(fpf_median_diameter(in, 3, NULL) == 0.0f);
}

int main(void) {
    RUN(defaults_are_documented_values);
    RUN(threshold_otsu_robust_fixed);
    RUN(components_4_and_8);
    RUN(erode_dilate_opening);
    RUN(step1_shared_nuclei_merge);
    RUN(step2_missed_regions_rules);
    RUN(step2_opening_and_reach);
    RUN(step3_uncovered_nuclei);
    RUN(steps_in_order);
    RUN(postprocess_errors);
    RUN(measure_objects_hand_worked);
    RUN(orientation_sign);
    RUN(reporter_readout_and_children);
    RUN(median_diameter_hand_worked);
    return harness_summary("post");
}
