/* tests/test_synth.c - examples/fpf_synth.h and build/fpf_synth: determinism and ground truth. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf_synth.h"
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#define FPF_COCO_IMPLEMENTATION
#include "fpf_coco.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void make_tmpdir(void) {
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fpf_test_synth_XXXXXX");
    if (!mkdtemp(tmpdir)) tmpdir[0] = 0;
}

static int gen(fpfs_scene *s, unsigned long long seed, int w, int h) {
    fpfs_params p;
    fpfs_default_params(&p);
    p.seed = seed;
    p.width = w;
    p.height = h;
    return fpfs_generate(&p, s);
}

static int same_scene(const fpfs_scene *a, const fpfs_scene *b) {
    size_t n = (size_t)a->w * a->h * 2;
    return a->w == b->w && a->h == b->h && a->ncells == b->ncells && a->nnuclei == b->nnuclei &&
           memcmp(a->nucleus, b->nucleus, n) == 0 && memcmp(a->cell, b->cell, n) == 0 &&
           memcmp(a->cell_labels, b->cell_labels, n) == 0 && memcmp(a->nuc_labels, b->nuc_labels, n) == 0 &&
           memcmp(a->nuc_to_cell, b->nuc_to_cell, sizeof(int) * (size_t)a->nnuclei) == 0;
}

TEST(same_seed_same_scene) {
    fpfs_scene a, b, c;
    CHECK(gen(&a, 5, 320, 256) == 0);
    CHECK(gen(&b, 5, 320, 256) == 0);
    CHECK(gen(&c, 6, 320, 256) == 0);
    CHECK(same_scene(&a, &b));
    CHECK(!same_scene(&a, &c));
    fpfs_free(&a);
    fpfs_free(&b);
    fpfs_free(&c);
}

/* Labels: every nucleus maps to an existing cell and lies entirely inside it; every
 * label value in 1..n is used; channel values fit a 12-bit camera. */
static int check_gt(const fpfs_scene *s) {
    size_t n = (size_t)s->w * s->h, i;
    long *ccount = (long *)calloc((size_t)s->ncells + 1, sizeof(long));
    long *ncount = (long *)calloc((size_t)s->nnuclei + 1, sizeof(long));
    int k, ok = 1;
    for (k = 0; k < s->nnuclei; k++)
        if (s->nuc_to_cell[k] < 1 || s->nuc_to_cell[k] > s->ncells) { printf("  nucleus %d unmapped\n", k + 1); ok = 0; }
    for (i = 0; i < n && ok; i++) {
        int c = s->cell_labels[i], nu = s->nuc_labels[i];
        if (c > s->ncells || nu > s->nnuclei) { printf("  label out of range\n"); ok = 0; break; }
        if (s->nucleus[i] > 4095 || s->cell[i] > 4095) { printf("  value above 12 bits\n"); ok = 0; }
        ccount[c]++;
        ncount[nu]++;
        if (nu && c != s->nuc_to_cell[nu - 1]) { printf("  nucleus %d pixel outside its cell\n", nu); ok = 0; }
    }
    for (k = 1; k <= s->ncells && ok; k++) if (!ccount[k]) { printf("  cell %d empty\n", k); ok = 0; }
    for (k = 1; k <= s->nnuclei && ok; k++) if (!ncount[k]) { printf("  nucleus %d empty\n", k); ok = 0; }
    free(ccount);
    free(ncount);
    return ok;
}

TEST(ground_truth_consistent) {
    unsigned long long seed;
    for (seed = 1; seed <= 6; seed++) {
        fpfs_scene s;
        CHECK(gen(&s, seed, 320, 256) == 0);
        CHECK_MSG(check_gt(&s), "seed %llu", seed);
        fpfs_free(&s);
    }
}

/* A full-size field looks like the paper's: ~32 cells, clusters of touching cells, cells
 * cut by the border, round and mitotic (two-nucleus) cells among the test seeds. */
TEST(full_field_statistics) {
    fpfs_scene s;
    int seed, touching = 0, border = 0, mitotic = 0, round = 0, total = 0, x, y, k, j;
    for (seed = 1000; seed < 1002; seed++) {
        CHECK(gen(&s, (unsigned long long)seed, 1280, 1024) == 0);
        CHECK(check_gt(&s));
        CHECK_MSG(s.ncells >= 20 && s.ncells <= 48, "%d cells", s.ncells);
        total += s.ncells;
        for (y = 0; y < s.h; y++)
            for (x = 0; x + 1 < s.w; x++) {
                int a = s.cell_labels[(size_t)y * s.w + x], b = s.cell_labels[(size_t)y * s.w + x + 1];
                touching += a && b && a != b;
            }
        for (x = 0; x < s.w; x++) border += s.cell_labels[x] != 0;
        for (k = 0; k < s.ncells; k++) round += s.cell_kind[k] == 1;
        for (k = 0; k < s.nnuclei; k++)
            for (j = k + 1; j < s.nnuclei; j++) mitotic += s.nuc_to_cell[k] == s.nuc_to_cell[j];
        fpfs_free(&s);
    }
    CHECK(touching > 100);
    CHECK(border > 0);
    CHECK(round > 0);
    CHECK_MSG(mitotic > 0, "no cell with two nuclei in seeds 1000..1001");
    CHECK(total > 40);
}

/* ---- the CLI ------------------------------------------------------------------------- */

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) printf("  command failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

static int files_equal(const char *a, const char *b) {
    unsigned char *da, *db;
    size_t na, nb;
    char err[256];
    int eq;
    if (fpfi_load_file(a, &da, &na, err, sizeof err)) return 0;
    if (fpfi_load_file(b, &db, &nb, err, sizeof err)) { free(da); return 0; }
    eq = na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

TEST(cli_same_seed_identical_files) {
    static const char *files[] = {"synth_7_nucleus.tif",        "synth_7_cell.tif", "synth_7_nucleus_labels.tif",
                                  "synth_7_cell_labels.tif",    "synth_7_nucleus_to_cell.csv",
                                  "synth_7_overlay.png",        "cells_coco.json",  "nuclei_coco.json",
                                  "manifest.txt",               "images/synth_7/0.png", "images/synth_7/1.png",
                                  "gt/synth_7/1_1.png",         "gt/synth_7/0_1.png"};
    char cmd[1024], a[600], b[600];
    size_t i;
    if (access("build/fpf_synth", X_OK) != 0) SKIP("build/fpf_synth not built");
    make_tmpdir();
    for (i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "build/fpf_synth --seed 7 --width 320 --height 256 --overlay --png-layout --quiet --out %s/run%d",
                 tmpdir, (int)i);
        CHECK(run(cmd));
    }
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/run0/%s", tmpdir, files[i]);
        snprintf(b, sizeof b, "%s/run1/%s", tmpdir, files[i]);
        CHECK_MSG(files_equal(a, b), "%s differs or is missing", files[i]);
    }
}

/* One annotation of our own COCO output, read with examples/fpf_coco.h (a strict JSON reader). */
typedef struct ann { int label, cell_label, bbox[4]; long area; fpf_eval_rle rle; } ann;

static int read_ann(const fpfc_json *o, ann *a) {
    const fpfc_json *bb = fpfc_json_get(o, "bbox");
    long long v;
    char err[256];
    int k;
    memset(a, 0, sizeof *a);
    if (fpfc_json_int(fpfc_json_get(o, "label"), &v)) return -1;
    a->label = (int)v;
    if (!fpfc_json_int(fpfc_json_get(o, "cell_label"), &v)) a->cell_label = (int)v;
    if (fpfc_json_int(fpfc_json_get(o, "area"), &v)) return -1;
    a->area = (long)v;
    if (!bb || bb->t != FPFC_ARR || bb->n != 4) return -1;
    for (k = 0; k < 4; k++) {
        if (fpfc_json_int(&bb->items[k], &v)) return -1;
        a->bbox[k] = (int)v;
    }
    if (fpfc_read_rle(fpfc_json_get(o, "segmentation"), &a->rle, "annotation", err, sizeof err)) {
        printf("  %s\n", err);
        return -1;
    }
    return 0;
}

/* Decode each annotation and compare it with the label image pixel by pixel. */
static int coco_matches(const char *json_path, const char *labels_path, const char *map_csv, int *nann) {
    char err[1024];
    fpfi_image lab;
    fpfc_json root;
    const fpfc_json *anns;
    ann a;
    int ok = 1;
    long covered = 0, nonzero = 0;
    size_t i, j;
    *nann = 0;
    if (fpfc_json_parse_file(json_path, &root, err, sizeof err)) { printf("  %s\n", err); return 0; }
    if (fpfi_read(labels_path, 0, 0, &lab, err, sizeof err)) { printf("  %s\n", err); fpfc_json_free(&root); return 0; }
    anns = fpfc_json_get(&root, "annotations");
    if (!anns || anns->t != FPFC_ARR) ok = 0;
    for (j = 0; ok && j < anns->n; j++) {
        long run, k, pos = 0, area = 0;
        int x0 = lab.w, y0 = lab.h, x1 = -1, y1 = -1;
        if (read_ann(&anns->items[j], &a)) { printf("  annotation %zu unreadable\n", j); ok = 0; break; }
        for (run = 0; run < (long)a.rle.m && ok; run++)
            for (k = 0; k < (long)a.rle.counts[run]; k++, pos++) {
                int x = (int)(pos / lab.h), y = (int)(pos % lab.h); /* column-major */
                int in = run % 2 == 1, v = ((uint16_t *)lab.pixels)[(size_t)y * lab.w + x];
                if (pos >= (long)lab.w * lab.h || in != (v == a.label)) { ok = 0; break; }
                if (in) {
                    area++;
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
            }
        if (pos != (long)lab.w * lab.h) ok = 0;
        if (area != a.area || x0 != a.bbox[0] || y0 != a.bbox[1] || x1 - x0 + 1 != a.bbox[2] || y1 - y0 + 1 != a.bbox[3])
            ok = 0;
        if (!ok) printf("  annotation label %d disagrees with %s\n", a.label, labels_path);
        if (map_csv && ok) { /* nuclei: cell_label must match the CSV line */
            FILE *f = fopen(map_csv, "r");
            char line[64];
            int nl, cl, found = 0;
            while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "%d,%d", &nl, &cl) == 2 && nl == a.label) found = cl == a.cell_label;
            if (f) fclose(f);
            if (!found) { printf("  nucleus %d: cell_label disagrees with CSV\n", a.label); ok = 0; }
        }
        covered += area;
        fpf_eval_rle_free(&a.rle, NULL);
        (*nann)++;
    }
    for (i = 0; i < (size_t)lab.w * lab.h; i++) nonzero += ((uint16_t *)lab.pixels)[i] != 0;
    if (covered != nonzero) { printf("  masks cover %ld pixels, labels %ld\n", covered, nonzero); ok = 0; }
    fpfi_free(&lab);
    fpfc_json_free(&root);
    return ok;
}

TEST(cli_coco_agrees_with_labels) {
    char cmd[1024], j[600], l[600], m[600];
    int form, nann, ncsv = 0;
    if (access("build/fpf_synth", X_OK) != 0) SKIP("build/fpf_synth not built");
    make_tmpdir();
    for (form = 0; form < 2; form++) {
        snprintf(cmd, sizeof cmd, "build/fpf_synth --seed 11 --width 320 --height 256 --rle %s --quiet --out %s/coco%d",
                 form ? "counts" : "string", tmpdir, form);
        CHECK(run(cmd));
        snprintf(j, sizeof j, "%s/coco%d/cells_coco.json", tmpdir, form);
        snprintf(l, sizeof l, "%s/coco%d/synth_11_cell_labels.tif", tmpdir, form);
        CHECK(coco_matches(j, l, NULL, &nann));
        CHECK(nann > 0);
        snprintf(j, sizeof j, "%s/coco%d/nuclei_coco.json", tmpdir, form);
        snprintf(l, sizeof l, "%s/coco%d/synth_11_nucleus_labels.tif", tmpdir, form);
        snprintf(m, sizeof m, "%s/coco%d/synth_11_nucleus_to_cell.csv", tmpdir, form);
        CHECK(coco_matches(j, l, m, &nann));
        CHECK(nann > 0);
    }
    {
        FILE *f = fopen(m, "r");
        char line[64];
        while (f && fgets(line, sizeof line, f)) ncsv++;
        if (f) fclose(f);
        CHECK_EQ_INT(ncsv - 1, nann); /* header + one line per nucleus */
    }
    if (access("build/fpf_eval", X_OK) == 0) { /* repro #12: fpf_eval reads fpf_synth's ground truth */
        FILE *f;
        snprintf(j, sizeof j, "%s/empty.json", tmpdir);
        if ((f = fopen(j, "w"))) { fputs("[]\n", f); fclose(f); }
        snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s/coco0/cells_coco.json --dt %s --json > /dev/null", tmpdir, j);
        CHECK(run(cmd));
    }
}

TEST(cli_clustered_crops_touch) {
    char cmd[1024], path[600];
    int k;
    if (access("build/fpf_synth", X_OK) != 0) SKIP("build/fpf_synth not built");
    make_tmpdir();
    snprintf(cmd, sizeof cmd, "build/fpf_synth --set clustered --count 3 --width 640 --height 512 --quiet --out %s/cl",
             tmpdir);
    CHECK(run(cmd));
    for (k = 0; k < 3; k++) {
        fpfi_image lab;
        char err[256];
        int x, y, touch = 0;
        snprintf(path, sizeof path, "%s/cl/clustered_%03d_cell_labels.tif", tmpdir, k);
        CHECK_MSG(fpfi_read(path, 0, 0, &lab, err, sizeof err) == 0, "%s", err);
        if (!lab.pixels) continue;
        CHECK(lab.w == 256 && lab.h == 256);
        for (y = 0; y < lab.h; y++)
            for (x = 0; x + 1 < lab.w; x++) {
                int a = ((uint16_t *)lab.pixels)[y * lab.w + x], b = ((uint16_t *)lab.pixels)[y * lab.w + x + 1];
                touch += a && b && a != b;
            }
        CHECK_MSG(touch > 0, "crop %d has no touching cells", k);
        fpfi_free(&lab);
    }
}

int main(void) {
    RUN(same_seed_same_scene);
    RUN(ground_truth_consistent);
    RUN(full_field_statistics);
    RUN(cli_same_seed_identical_files);
    RUN(cli_coco_agrees_with_labels);
    RUN(cli_clustered_crops_touch);
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    }
    return harness_summary("synth");
}
