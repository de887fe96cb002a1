/* tests/test_walkthrough.c - build/fpf_walkthrough on the shipped models and example field: every
 * tensor it prints has the shape the model's config implies, in forward-pass order, and --draw
 * writes the pictures. The expected shapes are worked out here from fpf_config alone
 * (docs/ARCHITECTURE.md §13), not taken from the walkthrough or from fpf.h's internals.
 * Runs from the repo root (make test builds build/fpf_walkthrough first). */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include "harness.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CELL "weights/models/example/synth_1003_cell.tif"
#define MAXT 64

static char g_dir[64];

typedef struct tensor { char name[32]; int nd, dims[4]; } tensor;
typedef struct plan { tensor t[MAXT]; int n; } plan;

static void add(plan *p, const char *name, int nd, int d0, int d1, int d2, int d3) {
    tensor *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->nd = nd; t->dims[0] = d0; t->dims[1] = d1; t->dims[2] = d2; t->dims[3] = d3;
}

/* One tower: C1 (the stem's pooled output, stride 4), C2..C5 at strides 4..32 with the stage widths;
   P2..P5 at the FPN width (not shown for the FPF-add cell tower, which adds its pyramid onto the
   nucleus one). */
static void add_tower(plan *p, const fpf_config *c, const char *who, int Hp, int Wp, int with_p) {
    char name[32];
    int k;
    snprintf(name, sizeof name, "%s.C1", who);                      /* the stem: conv1 and the max-pool */
    add(p, name, 3, Hp >> 2, Wp >> 2, c->stem_width, 0);
    for (k = 2; k <= 5; k++) {
        snprintf(name, sizeof name, "%s.C%d", who, k);
        add(p, name, 3, Hp >> k, Wp >> k, c->stage_out[k - 2], 0);
    }
    for (k = 2; k <= 5 && with_p; k++) {
        snprintf(name, sizeof name, "%s.P%d", who, k);
        add(p, name, 3, Hp >> k, Wp >> k, c->fpn_width, 0);
    }
}

/* The tensors of one forward pass, in order, for an Hp×Wp (padded) image; mask rows n0 = -1
   (any count, checked apart). */
static void expected(plan *p, const fpf_config *c, int Hp, int Wp) {
    int D = c->merge == 2 ? 2 * c->fpn_width : c->fpn_width, A = 0, k, P = c->pool_size, M = c->mask_pool_size;
    char name[8];
    p->n = 0;
    if (c->merge) {
        add(p, "mold_nucleus", 3, Hp, Wp, 1, 0);
        add_tower(p, c, "nucleus", Hp, Wp, 1);
    }
    add(p, "mold", 3, Hp, Wp, c->input_channels, 0);
    add_tower(p, c, "cell", Hp, Wp, c->merge != 1);
    for (k = 2; k <= 6; k++) {
        snprintf(name, sizeof name, "F%d", k);
        add(p, name, 3, Hp >> k, Wp >> k, D, 0);
        A += 3 * (Hp >> k) * (Wp >> k);    /* 3 anchors (ratios) per position of every level */
    }
    add(p, "anchors", 2, A, 4, 0, 0);
    add(p, "rpn_class", 2, A, 2, 0, 0);
    add(p, "rpn_bbox", 2, A, 4, 0, 0);
    add(p, "rpn_rois", 2, c->post_nms_rois, 4, 0, 0);
    add(p, "roi_feat", 4, c->post_nms_rois, P, P, D);
    add(p, "mrcnn_class", 2, c->post_nms_rois, c->num_classes, 0, 0);
    add(p, "mrcnn_bbox", 3, c->post_nms_rois, c->num_classes, 4, 0);
    add(p, "detections", 2, c->det_max_instances, 6, 0, 0);
    add(p, "mask_feat", 4, -1, M, M, D);
    add(p, "mrcnn_mask", 4, -1, 2 * M, 2 * M, c->num_classes);
}

/* Parses "NxNxN" into dims; returns the count, 0 if it is not a shape. */
static int parse_shape(const char *s, int dims[4]) {
    int n = 0;
    char *end;
    while (n < 4) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 0) return 0;
        dims[n++] = (int)v;
        if (*end == 0) return n;
        if (*end != 'x') return 0;
        s = end + 1;
    }
    return 0;
}

/* Runs the walkthrough with args; checks every printed tensor against the plan of model. */
static void check_run(const char *model, const char *args, int draw) {
    char cmd[512], out[128], line[512], name[64], shape[64], err[256];
    fpf_model *m = NULL;
    fpfi_image img;
    plan p;
    FILE *f;
    int rc, i = 0, n0 = -2, instances = -1, Hp, Wp, d, k;
    CHECK(fpf_model_load_file(model, NULL, &m, err, sizeof err) == FPF_OK);
    CHECK(fpfi_read(CELL, 0, 0, &img, err, sizeof err) == 0);
    if (!m || !img.pixels) return;
    Hp = (img.h + 63) / 64 * 64; Wp = (img.w + 63) / 64 * 64;
    expected(&p, fpf_model_config(m), Hp, Wp);
    snprintf(out, sizeof out, "%s/out.txt", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_walkthrough --model %s %s > %s 2>&1", model, args, out);
    rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s", cmd);
    f = fopen(out, "r");
    CHECK(f != NULL);
    while (f && fgets(line, sizeof line, f)) {
        int dims[4], nd;
        double lo, hi, ms;
        if (sscanf(line, "%63s %63s", name, shape) != 2) continue;
        if (!strcmp(name, "instances")) { instances = atoi(shape); continue; }
        if (!(nd = parse_shape(shape, dims)) || strchr(shape, 'x') == NULL) continue;   /* not a tensor line */
        CHECK_MSG(i < p.n, "%s: unexpected tensor %s", model, name);
        if (i >= p.n) break;
        CHECK_MSG(!strcmp(name, p.t[i].name), "%s: tensor %d is %s, expected %s", model, i, name, p.t[i].name);
        CHECK_MSG(nd == p.t[i].nd, "%s: %s has %d dims, expected %d", model, name, nd, p.t[i].nd);
        for (d = 0; d < nd && d < p.t[i].nd; d++) {
            if (p.t[i].dims[d] == -1) { /* mask rows: the same N0 for both, at most det_max */
                if (n0 == -2) n0 = dims[0];
                CHECK_EQ_INT(dims[0], n0);
                CHECK(n0 >= 0 && n0 <= fpf_model_config(m)->det_max_instances);
                continue;
            }
            CHECK_MSG(dims[d] == p.t[i].dims[d], "%s: %s dim %d is %d, expected %d", model, name, d, dims[d], p.t[i].dims[d]);
        }
        CHECK_MSG(sscanf(line, "%*s %*s %lf %lf %lf", &lo, &hi, &ms) == 3 && lo <= hi && ms >= 0,
                  "%s: no range and time in: %s", model, line);
        i++;
    }
    if (f) fclose(f);
    CHECK_MSG(i == p.n, "%s: %d of %d tensors printed", model, i, p.n);
    CHECK_MSG(instances >= 0 && instances <= n0, "%s: %d instances of %d detections", model, instances, n0);
    if (draw) {
        static const char *always[] = {"mold", "rpn_objectness_P2", "rpn_objectness_P6", "rpn_rois_top50",
                                       "detections", "masks", "cell.C2", "cell.C5", "F2", "F6"};
        struct stat st;
        char path[256];
        fpfi_image png;
        for (k = 0; k < (int)(sizeof always / sizeof always[0]); k++) {
            snprintf(path, sizeof path, "%s/draw/%s.png", g_dir, always[k]);
            CHECK_MSG(stat(path, &st) == 0 && st.st_size > 0, "%s missing", path);
        }
        snprintf(path, sizeof path, "%s/draw/masks.png", g_dir);
        CHECK(fpfi_read(path, 0, 0, &png, err, sizeof err) == 0 && png.w == img.w && png.h == img.h);
        if (png.pixels) fpfi_free(&png);
        snprintf(path, sizeof path, "%s/draw/rpn_objectness_P6.png", g_dir);
        CHECK(fpfi_read(path, 0, 0, &png, err, sizeof err) == 0 && png.w * (Hp >> 6) == png.h * (Wp >> 6));
        if (png.pixels) fpfi_free(&png);
    }
    printf("  %s: %d tensors, %d detections, %d instances\n", model, i, n0, instances);
    fpfi_free(&img);
    fpf_model_free(m);
}

TEST(concat_default_run_shapes) { check_run("weights/models/fpf_concat.fpf", "", 0); }

TEST(add_run_shapes_and_pictures) {
    char args[128];
    snprintf(args, sizeof args, "--draw %s/draw --threads 2", g_dir);
    check_run("weights/models/fpf_add.fpf", args, 1);
}

TEST(with_nucleus_and_cores_shapes) {
    check_run("weights/models/with_nucleus.fpf", "", 0);
    check_run("weights/models/cores.fpf", "", 0);
}

TEST(bad_model_is_one_line_and_exit_1) {
    char cmd[256], path[128], buf[256];
    int rc, lines = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/err.txt", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_walkthrough --model %s/missing.fpf >/dev/null 2>%s", g_dir, path);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof buf, f)) {
            if (lines == 0) CHECK(strncmp(buf, "fpf_walkthrough: error: ", 24) == 0);
            lines++;
        }
        fclose(f);
    }
    CHECK_EQ_INT(lines, 1);
}

int main(void) {
    char cmd[128];
    struct stat st;
    snprintf(g_dir, sizeof g_dir, "/tmp/fpf_walk_%d", (int)getpid());
    mkdir(g_dir, 0777);
    if (stat("build/fpf_walkthrough", &st) != 0 || stat(CELL, &st) != 0) {
        printf("error: build/fpf_walkthrough or %s is missing (run from the repo root after make)\n", CELL);
        harness_failed++;
    } else {
        RUN(concat_default_run_shapes);
        RUN(add_run_shapes_and_pictures);
        RUN(with_nucleus_and_cores_shapes);
        RUN(bad_model_is_one_line_and_exit_1);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", g_dir);
    return harness_summary("walkthrough");
}
