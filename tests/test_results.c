/* tests/test_results.c - the files of issue #14: label TIFFs with ImageJ calibration read back
 * (values with fpf_image.h, tags with fpfr_tiff_pixel_size), COCO results RLE decoded back,
 * the reporter readout against fpf_synth's truth, and one fpf_segment run with the shipped
 * models whose COCO JSON and output folder fpf_eval reads (needs build/fpf_segment,
 * build/fpf_synth and build/fpf_eval; make test builds them first). */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#define FPF_EVAL_IMPLEMENTATION
#define FPF_COCO_IMPLEMENTATION
#define FPF_RESULTS_IMPLEMENTATION
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include "fpf_eval.h"
#include "fpf_coco.h"
#include "fpf_results.h"
#include "fpf_synth.h"
#include "harness.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static int contains(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle), i;
    for (i = 0; i + k <= n; i++) if (!memcmp(hay + i, needle, k)) return 1;
    return 0;
}

/* 16-bit labels with a 0.65 µm pixel: XResolution = 1000000 / 650000 px per micron, read back exactly. */
TEST(label_tiff_roundtrip_and_calibration) {
    uint32_t lab[12] = {0, 1, 1, 0, 2, 2, 0, 3, 3, 0, 0, 3};
    fpfr_buf b;
    fpfi_image im;
    char err[128];
    int i;
    memset(&b, 0, sizeof b);
    CHECK(fpfr_label_tiff(lab, 4, 3, 0.65, &b) == 0);
    CHECK(fpfi_read_memory(b.p, b.len, 0, 0, &im, err, sizeof err) == 0);
    CHECK(im.type == FPFI_U16 && im.w == 4 && im.h == 3);
    for (i = 0; i < 12; i++) CHECK_EQ_INT(((uint16_t *)im.pixels)[i], lab[i]);
    fpfi_free(&im);
    CHECK_NEAR(fpfr_tiff_pixel_size((const unsigned char *)b.p, b.len), 0.65, 1e-15);
    CHECK(contains(b.p, b.len, "ImageJ=1.11a\nimages=1\nunit=micron\nmin=0\nmax=3\n"));
    free(b.p);
    /* no pixel size: no resolution tags, no unit */
    memset(&b, 0, sizeof b);
    CHECK(fpfr_label_tiff(lab, 4, 3, 0, &b) == 0);
    CHECK_NEAR(fpfr_tiff_pixel_size((const unsigned char *)b.p, b.len), 0, 0);
    CHECK(!contains(b.p, b.len, "unit="));
    free(b.p);
    /* a label above 65535 makes the file 32-bit */
    lab[5] = 70000;
    memset(&b, 0, sizeof b);
    CHECK(fpfr_label_tiff(lab, 4, 3, 0, &b) == 0);
    CHECK(fpfi_read_memory(b.p, b.len, 0, 0, &im, err, sizeof err) == 0);
    CHECK(im.type == FPFI_U32 && ((uint32_t *)im.pixels)[5] == 70000);
    fpfi_free(&im);
    free(b.p);
}

/* A hand-built big-endian TIFF: XResolution 20000/1 per cm -> 0.5 µm; inch is ignored. */
TEST(pixel_size_from_centimetre_tags) {
    unsigned char t[64];
    memset(t, 0, sizeof t);
    memcpy(t, "MM\0\x2a\0\0\0\x08", 8);
    t[9] = 2;                                                  /* 2 entries */
    t[10] = 0x01; t[11] = 0x1A; t[13] = 5; t[17] = 1; t[21] = 40; /* 282 RATIONAL at 40 */
    t[22] = 0x01; t[23] = 0x28; t[25] = 3; t[29] = 1; t[31] = 3;  /* 296 = 3 (cm) */
    t[40] = 0; t[41] = 0; t[42] = 0x4E; t[43] = 0x20;             /* 20000 */
    t[47] = 1;                                                    /* / 1 */
    CHECK_NEAR(fpfr_tiff_pixel_size(t, sizeof t), 0.5, 1e-12);
    t[31] = 2; /* inch: a screen DPI, not a pixel size */
    CHECK_NEAR(fpfr_tiff_pixel_size(t, sizeof t), 0, 0);
    CHECK_NEAR(fpfr_tiff_pixel_size(t, 5), 0, 0);
}

/* COCO results: each label's RLE decodes back to (labels == k); boxes and scores as given. */
TEST(coco_results_decode_back) {
    uint16_t lab[20] = {0, 1, 1, 0, 0, 0, 1, 0, 2, 2, 0, 0, 0, 2, 0, 3, 3, 3, 3, 3};
    float sc[3] = {0.9f, 0.8f, 0.7f};
    fpfr_buf b;
    const char *p;
    int k = 0;
    memset(&b, 0, sizeof b);
    CHECK(fpfr_coco(&b, lab, 5, 4, sc, 3, 7) == 0);
    fpfr_printf(&b, "%c", 0);
    for (p = b.p; (p = strstr(p, "\"counts\": \"")) != NULL; k++) {
        const char *q = strchr(p + 11, '"');
        fpf_eval_rle r;
        unsigned char m[20];
        int i, ok = 1;
        char s[64];
        size_t n = 0;
        for (i = 0; p + 11 + i < q; i++) { /* undo the JSON escape of '\' */
            if (p[11 + i] == '\\') i++;
            s[n++] = p[11 + i];
        }
        CHECK(fpf_eval_rle_from_string(&r, s, n, 4, 5, NULL) == FPF_EVAL_OK);
        fpf_eval_rle_decode(&r, m, 1);
        for (i = 0; i < 20; i++) ok &= (m[i] != 0) == (lab[i] == k + 1);
        CHECK_MSG(ok, "label %d", k + 1);
        fpf_eval_rle_free(&r, NULL);
        p = q;
    }
    CHECK_EQ_INT(k, 3);
    CHECK(strstr(b.p, "\"image_id\": 7") && strstr(b.p, "\"score\": 0.800000012"));
    CHECK(strstr(b.p, "\"bbox\": [3, 1, 2, 2]")); /* label 2: columns 3-4, rows 1-2 */
    free(b.p);
}

/* fpf_synth's reporter truth against fpf_reporter_readout on the true cell labels with the
   default rule (robust threshold, >= 4 positive pixels), two 1024x1024 fields with half the cells
   infected: precision and recall >= 0.9. */
TEST(reporter_calls_match_synth_truth) {
    fpfs_params p;
    fpfs_scene s;
    uint16_t *rep;
    int *truth, *inf, c, tp = 0, fp = 0, fn = 0, seed;
    long *pos;
    double t;
    fpf_reporter_options ro;
    static uint32_t hist[65536];
    fpf_reporter_defaults(&ro);
    for (seed = 1; seed <= 2; seed++) {
        fpfs_default_params(&p);
        p.width = 1024; p.height = 1024; p.seed = (uint64_t)(500 + seed);
        if (fpfs_generate(&p, &s) || fpfs_reporter(&s, (uint64_t)seed, 0.5, &rep, &truth)) { CHECK(0); return; }
        {
            fpf_image im = fpf_image_u16(rep, s.w, s.h, (size_t)s.w * 2);
            pos = (long *)calloc((size_t)s.ncells + 1, sizeof *pos);
            inf = (int *)calloc((size_t)s.ncells + 1, sizeof *inf);
            CHECK(fpf_reporter_readout(s.cell_labels, (size_t)s.w, s.h, s.w, s.ncells, &im, &ro, hist, sizeof hist, &t,
                                       pos, inf) == FPF_OK);
        }
        for (c = 0; c < s.ncells; c++) {
            tp += inf[c] && truth[c]; fp += inf[c] && !truth[c]; fn += !inf[c] && truth[c];
        }
        free(pos); free(inf); free(rep); free(truth);
        fpfs_free(&s);
    }
    printf("  reporter on true labels: %d TP, %d FP, %d FN\n", tp, fp, fn);
    CHECK(tp >= 10);
    CHECK((double)tp / (tp + fp) >= 0.9);
    CHECK((double)tp / (tp + fn) >= 0.9);
}

/* The CSV writer: CellProfiler names, and calibrated columns = pixel values · p (lengths) or · p²
   (areas). Object: area 10, perimeter 12, centroid (2.5, 4), axes 6 and 2; p = 0.5 µm. */
TEST(csv_columns_and_calibration) {
    fpf_object o;
    fpfr_table t;
    fpfr_buf b;
    float sc = 0.75f;
    int kids = 2;
    long pos = 7;
    int inf = 1;
    memset(&o, 0, sizeof o);
    o.label = 1; o.area = 10; o.perimeter = 12; o.cx = 2.5; o.cy = 4; o.major = 6; o.minor = 2;
    o.x1 = 1; o.y1 = 2; o.x2 = 5; o.y2 = 6; o.edge = 1; o.mean[2] = 3; o.integrated[2] = 30;
    memset(&t, 0, sizeof t);
    t.obj = &o; t.n = 1; t.score = &sc; t.n_channels = 3; t.pixel_size = 0.5;
    t.children = &kids; t.positive = &pos; t.infected = &inf;
    memset(&b, 0, sizeof b);
    fpfr_objects_csv(&b, &t);
    fpfr_printf(&b, "%c", 0);
    CHECK(!strncmp(b.p, "ObjectNumber,Score,AreaShape_Area,AreaShape_Perimeter,AreaShape_Center_X,AreaShape_Center_Y,", 92));
    CHECK(strstr(b.p, ",Intensity_MeanIntensity_Reporter,Intensity_IntegratedIntensity_Reporter,") != NULL);
    CHECK(strstr(b.p, ",Children_Nuclei_Count,Reporter_PositiveArea,Reporter_Infected,AreaShape_Area_um2,") != NULL);
    /* row: ..., children 2, positive 7, infected 1, then 10·0.25, 12·0.5, 2.5·0.5, 4·0.5, 6·0.5, 2·0.5, 7·0.25 */
    CHECK(strstr(b.p, "\n1,0.750000,10,12.0000,2.5000,4.0000,1,2,5,6,6.0000,2.0000,") != NULL);
    CHECK(strstr(b.p, ",3.0000,30,0,0,2,7,1,2.5,6,1.25,2,3,1,1.75\n") != NULL);
    free(b.p);
}

/* Infected cells: magenta outline, a white + at the centroid; other cells untouched. */
TEST(overlay_marks_infected) {
    uint16_t cl[7 * 7] = {0};
    unsigned char rgb[7 * 7 * 3];
    fpf_object o[2];
    int inf[2] = {1, 0}, y, x;
    for (y = 1; y < 6; y++) for (x = 1; x < 6; x++) cl[y * 7 + x] = 1; /* a 5x5 cell, centroid (3, 3) */
    cl[0] = 2;
    memset(rgb, 10, sizeof rgb);
    memset(o, 0, sizeof o);
    o[0].area = 25; o[0].cx = 3; o[0].cy = 3; o[1].area = 1;
    fpfr_mark_infected(rgb, cl, 7, 7, o, inf, 2);
    CHECK(rgb[(1 * 7 + 2) * 3] == 255 && rgb[(1 * 7 + 2) * 3 + 1] == 0 && rgb[(1 * 7 + 2) * 3 + 2] == 255); /* edge */
    CHECK(rgb[(1 * 7 + 3) * 3 + 1] == 255); /* the + (rows 1-5, columns 1-5 through (3, 3)) is drawn over it */
    CHECK(rgb[(3 * 7 + 3) * 3 + 1] == 255 && rgb[(3 * 7 + 5) * 3 + 1] == 255); /* + arms reach 2 px */
    CHECK(rgb[(2 * 7 + 2) * 3] == 10);  /* inside, off the + */
    CHECK(rgb[0] == 10);                /* cell 2 is not infected */
}

static int sh(const char *cmd) { int rc = system(cmd); return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1; }

static long file_lines(const char *path) {
    FILE *f = fopen(path, "r");
    long n = 0;
    int ch;
    if (!f) return -1;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* A GT COCO file from a label image (counts as uncompressed lists). */
static int write_gt_coco(const char *path, const char *file_name, const uint16_t *lab, int w, int h) {
    fpf_eval_labels L;
    FILE *f = fopen(path, "w");
    size_t k, i;
    if (!f || fpf_eval_labels_from_image(&L, lab, 2, w, h, NULL) != FPF_EVAL_OK) { if (f) fclose(f); return -1; }
    fprintf(f, "{\"images\": [{\"id\": 1, \"file_name\": \"%s\", \"width\": %d, \"height\": %d}],\n\"annotations\": [",
            file_name, w, h);
    for (k = 0; k < L.n; k++) {
        const fpf_eval_instance *in = &L.inst[k];
        fprintf(f, "%s\n{\"id\": %zu, \"image_id\": 1, \"category_id\": 1, \"iscrowd\": 0, \"bbox\": [%g, %g, %g, %g], "
                   "\"segmentation\": {\"size\": [%d, %d], \"counts\": [", k ? "," : "", k + 1, in->box[0], in->box[1],
                in->box[2], in->box[3], h, w);
        for (i = 0; i < in->mask.m; i++) fprintf(f, "%s%u", i ? ", " : "", in->mask.counts[i]);
        fprintf(f, "]}}");
    }
    fprintf(f, "],\n\"categories\": [{\"id\": 1, \"name\": \"cell\"}]}\n");
    fpf_eval_labels_free(&L, NULL);
    return fclose(f) ? -1 : 0;
}

/* Reads the "mean AP 0.50-0.90  B  S" line of fpf_eval's table. */
static int mean_ap(const char *cmd, double *bbox, double *segm) {
    char buf[256];
    FILE *f = popen(cmd, "r");
    int got = 0;
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "mean AP 0.50-0.90 %lf %lf", bbox, segm) == 2) got = 1;
    return pclose(f) == 0 && got ? 0 : -1;
}

/* One fpf_segment run (shipped FPF-add + nucleus model, post-processing, reporter, pixel size,
   COCO, overlay): every file is there and reads back; fpf_eval reads the COCO JSON and the
   output folder as they are, and both give the same numbers. */
TEST(segment_outputs_read_back) {
    char cmd[2048], path[512], err[128], gtc[256], out[256];
    fpfi_image lab, png;
    unsigned char *d = NULL;
    size_t n = 0;
    double b1, s1, b2, s2, b3, s3;
    FILE *f;
    char line[1024];
    int n_cells = -1;
    if (access("weights/models/fpf_add.fpf", R_OK) || access("weights/models/cores.fpf", R_OK)) SKIP("no shipped models");
    snprintf(cmd, sizeof cmd, "build/fpf_synth --seed 1003 --width 320 --height 256 --reporter --out %s/syn --quiet", g_dir);
    CHECK(sh(cmd) == 0);
    snprintf(out, sizeof out, "%s/seg/synth_1003", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/seg && build/fpf_segment --model weights/models/fpf_add.fpf --nucleus-model "
             "weights/models/cores.fpf --nucleus %s/syn/synth_1003_nucleus.tif --cell %s/syn/synth_1003_cell.tif "
             "--reporter %s/syn/synth_1003_reporter.tif --pixel-size 0.5 --post on --coco --overlay --threads 1 --quiet "
             "--out %s", g_dir, g_dir, g_dir, g_dir, out);
    CHECK(sh(cmd) == 0);
    /* image.csv: one header and one row; Count_Cells = rows of cells.csv */
    snprintf(path, sizeof path, "%s/image.csv", out);
    CHECK_EQ_INT(file_lines(path), 2);
    if ((f = fopen(path, "r"))) {
        if (fgets(line, sizeof line, f) && fgets(line, sizeof line, f)) sscanf(strchr(line, ',') + 1, "%d", &n_cells);
        fclose(f);
    }
    CHECK(n_cells > 0);
    snprintf(path, sizeof path, "%s/cells.csv", out);
    CHECK_EQ_INT(file_lines(path), n_cells + 1);
    snprintf(path, sizeof path, "%s/nuclei.csv", out);
    CHECK(file_lines(path) >= 2);
    /* the label TIFF: 16-bit, the pixel size in its tags, labels 1..n_cells */
    snprintf(path, sizeof path, "%s/cells.tif", out);
    CHECK(fpfi_read(path, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.type == FPFI_U16 && lab.w == 320 && lab.h == 256);
    if (lab.pixels) {
        int i, mx = 0;
        for (i = 0; i < lab.w * lab.h; i++) if (((uint16_t *)lab.pixels)[i] > mx) mx = ((uint16_t *)lab.pixels)[i];
        CHECK_EQ_INT(mx, n_cells);
        snprintf(gtc, sizeof gtc, "%s/self.json", g_dir);
        CHECK(write_gt_coco(gtc, "synth_1003_cell.tif", (const uint16_t *)lab.pixels, lab.w, lab.h) == 0);
        fpfi_free(&lab);
    }
    CHECK(fpfi_load_file(path, &d, &n, err, sizeof err) == 0);
    CHECK_NEAR(fpfr_tiff_pixel_size(d, n), 0.5, 1e-9);
    free(d);
    snprintf(path, sizeof path, "%s/overlay.png", out);
    CHECK(fpfi_read(path, 0, 0, &png, err, sizeof err) == 0 && png.w == 320 && png.h == 256);
    fpfi_free(&png);
    /* fpf_eval reads cells_coco.json as it is: scored against the run's own labels it is perfect */
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s --dt %s/cells_coco.json", gtc, out);
    CHECK(mean_ap(cmd, &b1, &s1) == 0);
    CHECK_NEAR(b1, 1, 0); CHECK_NEAR(s1, 1, 0);
    /* against the synthetic truth: the COCO JSON, the output folder (by file_name) and a label
       folder give the same numbers */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/gtl && cp %s/syn/synth_1003_cell_labels.tif %s/gtl/synth_1003.tif", g_dir, g_dir, g_dir);
    CHECK(sh(cmd) == 0);
    snprintf(path, sizeof path, "%s/syn/synth_1003_cell_labels.tif", g_dir);
    CHECK(fpfi_read(path, 0, 0, &lab, err, sizeof err) == 0);
    snprintf(gtc, sizeof gtc, "%s/truth.json", g_dir);
    CHECK(write_gt_coco(gtc, "synth_1003_cell.tif", (const uint16_t *)lab.pixels, lab.w, lab.h) == 0);
    fpfi_free(&lab);
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s --dt %s/cells_coco.json", gtc, out);
    CHECK(mean_ap(cmd, &b1, &s1) == 0);
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s --dt-segment %s/seg", gtc, g_dir);
    CHECK(mean_ap(cmd, &b2, &s2) == 0);
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt-labels %s/gtl --dt-segment %s/seg", g_dir, g_dir);
    CHECK(mean_ap(cmd, &b3, &s3) == 0);
    CHECK(s1 > 0.3);
    CHECK_NEAR(b1, b2, 1e-12); CHECK_NEAR(s1, s2, 1e-12);
    CHECK_NEAR(b1, b3, 1e-12); CHECK_NEAR(s1, s3, 1e-12);
    /* the pixel size of an input TIFF (ImageJ calibration, 0.4 µm) reaches the label TIFF */
    {
        fpfi_image ci;
        fpfr_buf tb;
        uint32_t *px;
        int i;
        snprintf(path, sizeof path, "%s/syn/synth_1003_cell.tif", g_dir);
        CHECK(fpfi_read(path, 0, 0, &ci, err, sizeof err) == 0);
        px = (uint32_t *)calloc((size_t)ci.w * ci.h, sizeof *px);
        for (i = 0; px && i < ci.w * ci.h; i++) px[i] = ((uint16_t *)ci.pixels)[i];
        memset(&tb, 0, sizeof tb);
        CHECK(px && fpfr_label_tiff(px, ci.w, ci.h, 0.4, &tb) == 0);
        snprintf(path, sizeof path, "%s/calibrated.tif", g_dir);
        CHECK(fpfi_write_file_atomic(path, tb.p, tb.len, err, sizeof err) == 0);
        free(tb.p); free(px); fpfi_free(&ci);
        snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/without_nucleus.fpf --cell %s --post off "
                 "--threads 1 --quiet --out %s/cal", path, g_dir);
        CHECK(sh(cmd) == 0);
        snprintf(path, sizeof path, "%s/cal/cells.tif", g_dir);
        CHECK(fpfi_load_file(path, &d, &n, err, sizeof err) == 0);
        CHECK_NEAR(fpfr_tiff_pixel_size(d, n), 0.4, 1e-12);
        free(d);
    }
    /* fpf_synth's own COCO file (its RLE strings hold escaped '\\') as the GT, by file_name */
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s/syn/cells_coco.json --dt-segment %s/seg", g_dir, g_dir);
    CHECK(mean_ap(cmd, &b2, &s2) == 0);
    CHECK_NEAR(b1, b2, 1e-12); CHECK_NEAR(s1, s2, 1e-12);
    /* a folder without the image's output: one error line, exit 1 */
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt-labels %s/gtl --dt-segment %s/syn >/dev/null 2>%s/e.txt", g_dir, g_dir, g_dir);
    CHECK(sh(cmd) == 1);
    snprintf(path, sizeof path, "%s/e.txt", g_dir);
    CHECK_EQ_INT(file_lines(path), 1);
    /* a single output folder works when the GT holds one image */
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt-labels %s/gtl --dt-segment %s", g_dir, out);
    CHECK(mean_ap(cmd, &b2, &s2) == 0);
    CHECK_NEAR(s1, s2, 1e-12);
}

/* Bad option values: one error line, exit 2 (a bad command line), nothing written. */
TEST(segment_rejects_bad_options) {
    static const char *bad[] = {"--post maybe", "--post 14", "--pixel-size -1", "--reporter-threshold median",
                                "--infected-min-area 0", "--post-set open_radius=-1", "--post-set nothing=1"};
    char cmd[1024];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/fpf_add.fpf --cell x.tif --out %s/bad %s "
                 "2>/dev/null", g_dir, bad[i]);
        CHECK_MSG(sh(cmd) == 2, "%s", bad[i]);   /* a bad command line: exit 2 */
    }
}

int main(void) {
    char rm[96];
    snprintf(g_dir, sizeof g_dir, "/tmp/fpf_results_%ld", (long)getpid());
    mkdir(g_dir, 0777);
    RUN(label_tiff_roundtrip_and_calibration);
    RUN(pixel_size_from_centimetre_tags);
    RUN(coco_results_decode_back);
    RUN(reporter_calls_match_synth_truth);
    RUN(csv_columns_and_calibration);
    RUN(overlay_marks_infected);
    RUN(segment_outputs_read_back);
    RUN(segment_rejects_bad_options);
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0) printf("  could not remove %s\n", g_dir);
    return harness_summary("results");
}
