/* tests/test_cli.c - fpf_segment end to end and its error paths, and fpf_post.h's label rule.
 * Runs build/fpf_segment and build/fpf_mkmodel from the repo root (make test builds them first). */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include "harness.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

/* Runs cmd with stderr captured; returns the exit status and the number of stderr lines. */
static int run(const char *cmd, int *lines, char *first, size_t n) {
    char full[1024], path[128], buf[512];
    FILE *f;
    int rc;
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    snprintf(full, sizeof full, "%s 2>%s >/dev/null", cmd, path);
    rc = system(full);
    *lines = 0;
    if (first) first[0] = 0;
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof buf, f)) {
            if (*lines == 0 && first) snprintf(first, n, "%s", buf);
            (*lines)++;
        }
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int exists(const char *dir, const char *name) {
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static void write_images(void) {
    fpfi_image im;
    char p[128], err[128];
    int y, x;
    fpfi_alloc(&im, 90, 70, FPFI_U16);
    for (y = 0; y < 70; y++)
        for (x = 0; x < 90; x++)
            ((uint16_t *)im.pixels)[y * 90 + x] = (uint16_t)(((x - 40) * (x - 40) + (y - 30) * (y - 30) < 300 ? 3000 : 200) + x);
    snprintf(p, sizeof p, "%s/img16.tif", g_dir);
    fpfi_write_tiff(p, &im, err, sizeof err);
    fpfi_free(&im);
    snprintf(p, sizeof p, "%s/garbage.tif", g_dir);
    { FILE *f = fopen(p, "wb"); fputs("II*\0garbage", f); fclose(f); }
}

TEST(segment_writes_labels_and_csv) {
    char cmd[512], out[128], p[160], err[128];
    int lines, n_rows = 0;
    fpfi_image lab;
    FILE *f;
    char buf[512];
    snprintf(cmd, sizeof cmd, "build/fpf_mkmodel --config tiny --variant fpf_add --out %s/add.fpf && "
             "build/fpf_mkmodel --config tiny --variant cores --seed 7 --out %s/cores.fpf", g_dir, g_dir);
    CHECK(system(cmd) == 0);
    snprintf(out, sizeof out, "%s/ok", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/img16.tif "
             "--cell %s/img16.tif --out %s --overlay --threads 2", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(exists(out, "cells.tif") && exists(out, "cells.csv") && exists(out, "nuclei.tif") &&
          exists(out, "nuclei.csv") && exists(out, "overlay.png"));
    snprintf(p, sizeof p, "%s/cells.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 90 && lab.h == 70 && lab.type == FPFI_U16);
    fpfi_free(&lab);
    snprintf(p, sizeof p, "%s/nuclei.csv", out);
    if ((f = fopen(p, "r"))) {
        while (fgets(buf, sizeof buf, f)) n_rows++;
        fclose(f);
    }
    CHECK(n_rows >= 1); /* header + one row per nucleus */
}

/* Each failure: exit 1, exactly one "fpf_segment: error: ..." line, and no output file. */
TEST(segment_errors_are_one_line_and_leave_nothing) {
    static const char *cases[][2] = {
        {"--model %s/missing.fpf --nucleus %s/img16.tif --cell %s/img16.tif --out %s/e1", "cannot open"},
        {"--model %s/garbage.tif --nucleus %s/img16.tif --cell %s/img16.tif --out %s/e2", "not an .fpf model"},
        {"--model %s/add.fpf --nucleus %s/garbage.tif --cell %s/img16.tif --out %s/e3", "garbage.tif"},
        {"--model %s/add.fpf --nucleus %s/img16.tif --cell %s/nothere.tif --out %s/e4", "nothere.tif"},
        {"--model %s/add.fpf --cell %s/img16.tif --out %s/e5 --threads 1 --quiet %s", "nucleus"}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[512], cmd[600], first[512], out[80];
        int lines, rc;
        snprintf(args, sizeof args, cases[i][0], g_dir, g_dir, g_dir, i == 4 ? "" : g_dir);
        snprintf(cmd, sizeof cmd, "build/fpf_segment %s", args);
        rc = run(cmd, &lines, first, sizeof first);
        CHECK_MSG(rc == 1, "case %zu exit %d", i, rc);
        CHECK_MSG(lines == 1 && !strncmp(first, "fpf_segment: error: ", 20), "case %zu: %d lines: %s", i, lines, first);
        CHECK_MSG(strstr(first, cases[i][1]) != NULL, "case %zu: %s", i, first);
        snprintf(out, sizeof out, "%s/e%zu", g_dir, i + 1);
        CHECK(!exists(out, "cells.tif") && !exists(out, "cells.csv"));
    }
}

/* fpf_post.h: overlapping instances; the higher-scoring (lower label) one keeps the pixels. */
TEST(label_image_overlap_rule) {
    float ones[784];
    fpf_instance in[2];
    uint16_t lab[10 * 12];
    fpf_measurement m[2];
    int i;
    for (i = 0; i < 784; i++) ones[i] = 1.0f;
    memset(in, 0, sizeof in);
    for (i = 0; i < 2; i++) { in[i].mask28 = ones; in[i].mask_size = 28; in[i].threshold = 0.5f; in[i].mask_min = in[i].mask_max = 1.0f; }
    in[0].y1 = 2; in[0].x1 = 2; in[0].y2 = 6; in[0].x2 = 6; in[0].score = 0.9f;   /* rows 2..5, cols 2..5 */
    in[1].y1 = 4; in[1].x1 = 4; in[1].y2 = 8; in[1].x2 = 10; in[1].score = 0.8f;  /* overlaps rows 4,5 cols 4,5 */
    CHECK(fpf_label_image(in, 2, 10, 12, lab, 12) == FPF_OK);
    CHECK_EQ_INT(lab[4 * 12 + 4], 1); CHECK_EQ_INT(lab[5 * 12 + 5], 1);   /* overlap -> label 1 */
    CHECK_EQ_INT(lab[6 * 12 + 4], 2); CHECK_EQ_INT(lab[0], 0);
    CHECK(fpf_measure(lab, 12, 10, 12, 2, NULL, m) == FPF_OK);
    CHECK_EQ_INT(m[0].area, 16); CHECK_EQ_INT(m[1].area, 24 - 4);
    CHECK_EQ_INT(m[1].y1, 4); CHECK_EQ_INT(m[1].x2, 10);
    CHECK(fpf_label_image(in, 2, 10, 12, lab, 11) == FPF_ERR_INVALID_ARG);
}

int main(void) {
    char rm[96];
    snprintf(g_dir, sizeof g_dir, "/tmp/fpf_cli_%ld", (long)getpid());
    mkdir(g_dir, 0777);
    write_images();
    RUN(segment_writes_labels_and_csv);
    RUN(segment_errors_are_one_line_and_leave_nothing);
    RUN(label_image_overlap_rule);
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0) printf("  could not remove %s\n", g_dir);
    return harness_summary("cli");
}
