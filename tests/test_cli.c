/* tests/test_cli.c - fpf_segment end to end: every item of its command-line contract (issue #13),
 * the all-or-nothing outputs (repro finding #9), batches with failures and a resume after a kill,
 * and fpf_post.h's label rule. Runs build/fpf_segment and build/fpf_mkmodel from the repo root
 * (make test builds them first). The cap warning uses the shipped nucleus model and skips without it. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include "harness.h"
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_dir[64];
static char g_err[16384];   /* stderr of the last run */
static char g_out[16384];   /* stdout of the last run */

static void slurp(const char *path, char *dst, size_t n) {
    FILE *f = fopen(path, "r");
    size_t len = 0;
    dst[0] = 0;
    if (!f) return;
    len = fread(dst, 1, n - 1, f);
    dst[len] = 0;
    fclose(f);
}

/* Runs cmd; returns the exit status and the number of stderr lines (first one in first). */
static int run(const char *cmd, int *lines, char *first, size_t n) {
    char full[2048], ep[128], op[128];
    const char *p;
    int rc;
    snprintf(ep, sizeof ep, "%s/stderr.txt", g_dir);
    snprintf(op, sizeof op, "%s/stdout.txt", g_dir);
    snprintf(full, sizeof full, "%s 2>%s >%s", cmd, ep, op);
    rc = system(full);
    slurp(ep, g_err, sizeof g_err);
    slurp(op, g_out, sizeof g_out);
    *lines = 0;
    for (p = g_err; *p; p++) *lines += *p == '\n';
    if (first) { snprintf(first, n, "%.*s", (int)strcspn(g_err, "\n"), g_err); }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* "fpf_segment: error:" lines in the last run's stderr */
static int errors(void) {
    const char *p;
    int n = 0;
    for (p = g_err; (p = strstr(p, "fpf_segment: error: ")); p++) n++;
    return n;
}

static int exists(const char *dir, const char *name) {
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static int count_lines(const char *path) {
    char buf[4096];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f)) n++;
    fclose(f);
    return n;
}

static int same_file(const char *a, const char *b) {
    unsigned char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    char err[128];
    int same = fpfi_load_file(a, &x, &nx, err, sizeof err) == 0 && fpfi_load_file(b, &y, &ny, err, sizeof err) == 0 &&
               nx == ny && memcmp(x, y, nx) == 0;
    free(x); free(y);
    return same;
}

/* Leftover temporary folders of the all-or-nothing commit. */
static int tmp_left(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d))) n += !strncmp(e->d_name, ".fpf_tmp.", 9);
    closedir(d);
    return n;
}

static void write_u16(const char *name, int w, int h, int cy, int cx, int base) {
    fpfi_image im;
    char p[128], err[128];
    int y, x;
    fpfi_alloc(&im, w, h, FPFI_U16);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            ((uint16_t *)im.pixels)[y * w + x] = (uint16_t)(((x - cx) * (x - cx) + (y - cy) * (y - cy) < 300 ? 3000 : base) + x + y);
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    fpfi_write_tiff(p, &im, err, sizeof err);
    fpfi_free(&im);
}

static void write_images(void) {
    char p[128], err[128];
    unsigned char rgb[90 * 70 * 3];
    int i;
    write_u16("img16.tif", 90, 70, 30, 40, 200);
    write_u16("other16.tif", 90, 70, 40, 50, 300);
    write_u16("wide16.tif", 100, 70, 30, 40, 200);
    write_u16("big16.tif", 640, 512, 200, 300, 200);
    for (i = 0; i < 90 * 70 * 3; i++) rgb[i] = (unsigned char)(i * 7);
    snprintf(p, sizeof p, "%s/rgb.png", g_dir);
    fpfi_write_png_rgb(p, 90, 70, rgb, err, sizeof err);
    snprintf(p, sizeof p, "%s/garbage.tif", g_dir);
    { FILE *f = fopen(p, "wb"); fputs("II*\0garbage", f); fclose(f); }
    snprintf(p, sizeof p, "%s/modeldir", g_dir);
    mkdir(p, 0777);
}

/* "build/fpf_segment --model add.fpf --nucleus-model cores.fpf --nucleus img16 --cell img16" + more */
static void seg(char *cmd, size_t n, const char *more) {
    snprintf(cmd, n, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/img16.tif "
             "--cell %s/img16.tif --threads 2 %s", g_dir, g_dir, g_dir, g_dir, more);
}

TEST(segment_writes_labels_and_csv) {
    char cmd[1024], out[128], p[160], err[128], more[256];
    int lines;
    fpfi_image lab;
    snprintf(cmd, sizeof cmd, "build/fpf_mkmodel --config tiny --variant fpf_add --out %s/add.fpf && "
             "build/fpf_mkmodel --config tiny --variant cores --seed 7 --out %s/cores.fpf", g_dir, g_dir);
    CHECK(system(cmd) == 0);
    snprintf(out, sizeof out, "%s/ok", g_dir);
    snprintf(more, sizeof more, "--out %s --overlay --threads 3", out);
    seg(cmd, sizeof cmd, more);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(exists(out, "cells.tif") && exists(out, "cells.csv") && exists(out, "nuclei.tif") &&
          exists(out, "nuclei.csv") && exists(out, "overlay.png") && exists(out, "fpf_segment.txt"));
    CHECK_MSG(strstr(g_err, "3 thread(s)") != NULL, "%s", g_err);   /* the log says what runs */
    snprintf(p, sizeof p, "%s/cells.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 90 && lab.h == 70 && lab.type == FPFI_U16);
    fpfi_free(&lab);
    snprintf(p, sizeof p, "%s/nuclei.csv", out);
    CHECK(count_lines(p) >= 1); /* header + one row per nucleus */
    CHECK_EQ_INT(tmp_left(out), 0);
}

/* --help: exit 0, every option with its default, on stdout. */
TEST(help_lists_every_option_with_default) {
    static const char *names[] = {"--model", "--nucleus-model", "--nucleus", "--cell", "--out", "--batch", "--resume",
                                  "--threads", "--isa", "--conv3x3", "--norm16", "--min-score", "--max-detections", "--max-proposals",
                                  "--tile", "--overlap", "--scale", "--object-diameter", "--model-diameter", "--cell-page",
                                  "--cell-sample", "--nucleus-page", "--nucleus-sample", "--overlay", "--drop-padding", "--quiet",
                                  "--reporter", "--reporter-page", "--reporter-sample", "--reporter-threshold",
                                  "--infected-min-area", "--post", "--post-set", "--pixel-size", "--coco"};
    size_t i;
    int lines, defaults = 0;
    const char *p;
    CHECK_EQ_INT(run("build/fpf_segment --help", &lines, NULL, 0), 0);
    CHECK_EQ_INT(lines, 0);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[48];
        snprintf(key, sizeof key, "  %s ", names[i]);
        CHECK_MSG(strstr(g_out, key) != NULL, "--help does not list %s", names[i]);
    }
    for (p = g_out; (p = strstr(p, "[default: ")); p++) defaults++;
    CHECK_MSG(defaults >= 20, "%d defaults listed", defaults);
}

/* A bad command line: exit 2, one error line naming the flag and value, nothing created. */
TEST(bad_command_lines_name_the_flag) {
    static const char *cases[][2] = {
        {"--bogus", "unknown option '--bogus'"},
        {"--threads abc", "--threads abc: not a whole number"},
        {"--threads 100000", "--threads 100000: must be between 1 and 64"},
        {"--threads 0", "--threads 0: must be between 1 and 64"},
        {"--threads 2x", "--threads 2x: not a whole number"},
        {"--min-score abc", "--min-score abc: not a number"},
        {"--min-score 0", "--min-score 0: must be above 0"},
        {"--min-score -1", "--min-score -1: must be above 0"},
        {"--min-score 1.5", "--min-score 1.5: must be above 0 and at most 1"},
        {"--min-score nan", "--min-score nan: not a number"},
        {"--max-detections 0", "--max-detections 0: must be between 1 and 65535"},
        {"--max-proposals 70000", "--max-proposals 70000: must be between 1 and 65536"},
        {"--tile 100", "--tile 100: must be 0 (no tiling) or between 256 and 8192"},
        {"--tile 512 --overlap 300", "--overlap 300 must be less than half of --tile 512"},
        {"--scale 0", "--scale 0: must be at least 0.05"},
        {"--scale 1e400", "--scale 1e400: not a number"},
        {"--object-diameter -3", "--object-diameter -3: must be at least 1"},
        {"--scale 2 --object-diameter 10", "give --scale or --object-diameter, not both"},
        {"--scale 2 --object-diameter auto", "give --scale or --object-diameter, not both"},
        {"--norm16 fixed:0:inf", "--norm16 fixed:0:inf: must be percentile, none or fixed:LO:HI"},
        {"--norm16 fixed:5:2", "--norm16 fixed:5:2"},
        {"--cell-page -1", "--cell-page -1: must be between 0"},
        {"--nucleus-sample x", "--nucleus-sample x: not a whole number"},
        {"--isa mmx", "--isa mmx: must be auto"},
        {"--conv3x3 fast", "--conv3x3 fast: must be winograd or direct"},
        {"--resume", "--resume applies to batches"},
        {"--out", "--out needs a value (DIR)"},
        {"--quiet --out --quiet", "--out needs a value (DIR), got the option '--quiet'"}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024], more[256], first[512];
        int lines, rc;
        snprintf(more, sizeof more, "--out %s/bad%zu %s", g_dir, i, cases[i][0]);
        if (!strncmp(cases[i][0], "--out", 5) || !strncmp(cases[i][0], "--quiet --out", 13)) snprintf(more, sizeof more, "%s", cases[i][0]);
        seg(cmd, sizeof cmd, more);
        rc = run(cmd, &lines, first, sizeof first);
        CHECK_MSG(rc == 2, "case '%s': exit %d", cases[i][0], rc);
        CHECK_MSG(lines == 1 && !strncmp(first, "fpf_segment: error: ", 20), "case '%s': %d lines: %s", cases[i][0], lines, g_err);
        CHECK_MSG(strstr(first, cases[i][1]) != NULL, "case '%s': %s", cases[i][0], first);
        snprintf(more, sizeof more, "bad%zu", i);
        CHECK(!exists(g_dir, more));
    }
    CHECK(!exists(".", "--quiet"));
    /* no --model, no --out */
    {
        char cmd[512], first[512];
        int lines;
        snprintf(cmd, sizeof cmd, "build/fpf_segment --nucleus %s/img16.tif --out %s/bad_m", g_dir, g_dir);
        CHECK_EQ_INT(run(cmd, &lines, first, sizeof first), 2);
        CHECK(strstr(first, "--model is required") != NULL);
        snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/cores.fpf --nucleus %s/img16.tif", g_dir, g_dir);
        CHECK_EQ_INT(run(cmd, &lines, first, sizeof first), 2);
        CHECK(strstr(first, "--out is required") != NULL);
    }
}

/* Each failure: exit 1, exactly one "fpf_segment: error: ..." line in the user's terms, and no
   output folder (not even its missing parents). */
TEST(failures_are_one_line_and_leave_nothing) {
    static const char *cases[][2] = {
        {"--model %s/missing.fpf --nucleus %s/img16.tif --cell %s/img16.tif", "cannot open the model"},
        {"--model %s/garbage.tif --nucleus %s/img16.tif --cell %s/img16.tif", "not an .fpf model"},
        {"--model %s/modeldir --nucleus %s/img16.tif --cell %s/img16.tif", "is a folder, not a .fpf model file"},
        {"--model %s/add.fpf --nucleus %s/garbage.tif --cell %s/img16.tif", "garbage.tif"},
        {"--model %s/add.fpf --nucleus %s/img16.tif --cell %s/nothere.tif", "nothere.tif: cannot open the cell image"},
        {"--model %s/add.fpf --cell %s/img16.tif --threads 1%s", "this model needs a nucleus image (--nucleus)"},
        {"--model %s/add.fpf --nucleus %s/img16.tif --cell %s/wide16.tif", "the nucleus image is 90x70 but the cell image is 100x70; they must be the same size"},
        {"--model %s/add.fpf --nucleus %s/img16.tif --cell %s/rgb.png", "has 3 samples per pixel (RGB or multichannel); choose one with --cell-sample 0..2"},
        {"--model %s/add.fpf --nucleus %s/img16.tif --cell %s/img16.tif --cell-page 3", "has 1 page(s); --cell-page 3 does not exist"},
        {"--model %s/cores.fpf --nucleus-model %s/cores.fpf --nucleus %s/img16.tif", "already a nucleus model"},
        {"--model %s/cores.fpf --nucleus-model %s/add.fpf --nucleus %s/img16.tif", "must be a nucleus (\"cores\") model"}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[512], cmd[800], first[512], out[96];
        int lines, rc;
        snprintf(args, sizeof args, cases[i][0], g_dir, g_dir, strstr(cases[i][0], "1%s") ? "" : g_dir);
        snprintf(out, sizeof out, "%s/e%zu/a/b", g_dir, i);
        snprintf(cmd, sizeof cmd, "build/fpf_segment %s --out %s", args, out);
        rc = run(cmd, &lines, first, sizeof first);
        CHECK_MSG(rc == 1, "case %zu exit %d", i, rc);
        CHECK_MSG(lines == 1 && !strncmp(first, "fpf_segment: error: ", 20), "case %zu: %d lines: %s", i, lines, g_err);
        CHECK_MSG(strstr(first, cases[i][1]) != NULL, "case %zu: %s", i, first);
        snprintf(out, sizeof out, "e%zu", i);
        CHECK_MSG(!exists(g_dir, out), "case %zu left %s", i, out);
    }
}

/* --out a/b/c with a missing: made like mkdir -p. An RGB file with an explicit sample works. */
TEST(out_parents_made_and_rgb_with_sample) {
    char cmd[1024], more[256], out[128];
    int lines;
    snprintf(out, sizeof out, "%s/deep/er/out", g_dir);
    snprintf(more, sizeof more, "--out %s", out);
    seg(cmd, sizeof cmd, more);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(exists(out, "cells.tif") && exists(out, "nuclei.csv"));
    snprintf(out, sizeof out, "%s/rgb_out", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus %s/rgb.png --nucleus-sample 2 --cell %s/rgb.png "
             "--cell-sample 1 --out %s --quiet", g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK_EQ_INT(lines, 0);                                    /* --quiet: nothing on stderr */
    CHECK(exists(out, "cells.tif"));
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus %s/rgb.png --nucleus-sample 3 --cell %s/rgb.png "
             "--cell-sample 1 --out %s --quiet", g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(strstr(g_err, "--nucleus-sample 3 does not exist") != NULL);
}

/* Stale outputs: a rerun into a used folder removes what it no longer writes, with a notice. */
TEST(stale_outputs_removed_with_notice) {
    char cmd[1024], out[128];
    int lines;
    snprintf(out, sizeof out, "%s/stale", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/img16.tif "
             "--cell %s/img16.tif --out %s --overlay --quiet", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(exists(out, "nuclei.tif") && exists(out, "overlay.png"));
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus %s/img16.tif --cell %s/img16.tif --out %s",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(exists(out, "cells.tif") && exists(out, "cells.csv"));
    CHECK(!exists(out, "nuclei.tif") && !exists(out, "nuclei.csv") && !exists(out, "overlay.png"));
    CHECK_MSG(strstr(g_err, "note: removed nuclei.tif, nuclei.csv, overlay.png") != NULL, "%s", g_err);
}

/* Repro finding #9: a write that fails part-way (nuclei.tif is a non-empty folder) must leave the
   previous run's files exactly as they were, and no temporary folder. */
TEST(failed_run_keeps_previous_results) {
    char cmd[1024], out[128], p[512], q[512], first[512];
    static const char *files[] = {"cells.tif", "cells.csv", "nuclei.csv", "fpf_segment.txt"};
    size_t i;
    int lines;
    snprintf(out, sizeof out, "%s/keep", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/img16.tif "
             "--cell %s/img16.tif --out %s --quiet", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "cp %s/%s %s/saved_%s", out, files[i], g_dir, files[i]);
        CHECK(system(p) == 0);
    }
    snprintf(p, sizeof p, "rm %s/nuclei.tif && mkdir -p %s/nuclei.tif/x", out, out);
    CHECK(system(p) == 0);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/other16.tif "
             "--cell %s/other16.tif --out %s --quiet", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, first, sizeof first), 1);       /* (random models: cap warnings too) */
    CHECK_EQ_INT(errors(), 1);
    CHECK_MSG(strstr(g_err, "fpf_segment: error: ") && strstr(g_err, "nuclei.tif exists and is not a plain file"), "%s", g_err);
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        snprintf(q, sizeof q, "%s/saved_%s", g_dir, files[i]);
        CHECK_MSG(same_file(p, q), "%s changed", files[i]);
    }
    CHECK(exists(out, "nuclei.tif/x"));
    CHECK_EQ_INT(tmp_left(out), 0);
    /* a folder in the way of a file this run no longer writes is refused the same way */
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus %s/other16.tif --cell %s/other16.tif --out %s --quiet",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, first, sizeof first), 1);
    snprintf(p, sizeof p, "%s/cells.csv", out);
    snprintf(q, sizeof q, "%s/saved_cells.csv", g_dir);
    CHECK(same_file(p, q));
}

/* The cap: a warning with the count and what to do (shipped nucleus model, 8 nuclei in the example). */
TEST(cap_warning_names_count_and_remedy) {
    char cmd[1024], out[128], p[160];
    int lines;
    FILE *f = fopen("weights/models/cores.fpf", "rb");
    if (!f) SKIP("weights/models/cores.fpf not shipped");
    fclose(f);
    snprintf(out, sizeof out, "%s/cap", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/cores.fpf --nucleus weights/models/example/synth_1003_nucleus.tif "
             "--out %s", out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK(strstr(g_err, "warning") == NULL);
    CHECK_MSG(strstr(g_err, "fpf_segment: 8 nuclei in") != NULL, "%s", g_err);   /* not "8 nuclei, 0 nuclei" */
    CHECK(strstr(g_err, "0 nuclei") == NULL);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/cores.fpf --nucleus weights/models/example/synth_1003_nucleus.tif "
             "--out %s --max-detections 3 --quiet", out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK_EQ_INT(lines, 1);
    CHECK_MSG(strstr(g_err, "warning: 5 nuclei over the maximum of 3 detections per image were dropped; raise --max-detections") != NULL, "%s", g_err);
    snprintf(p, sizeof p, "%s/nuclei.csv", out);
    CHECK_EQ_INT(count_lines(p), 4);
}

/* Tiles through the CLI: 640 x 512 in tiles of 256 sharing 64 px is 3 x 3 tiles; labels full size. */
TEST(tiles_through_the_cli) {
    char cmd[1024], out[128], p[160], err[128], marker[512];
    int lines;
    fpfi_image lab;
    snprintf(out, sizeof out, "%s/tiled", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/big16.tif "
             "--cell %s/big16.tif --out %s --tile 256 --overlap 64", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK_MSG(strstr(g_err, "(9 tiles)") != NULL, "%s", g_err);
    snprintf(p, sizeof p, "%s/fpf_segment.txt", out);
    slurp(p, marker, sizeof marker);
    CHECK(strstr(marker, "tiles=9\n") != NULL);
    snprintf(p, sizeof p, "%s/cells.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 640 && lab.h == 512);
    fpfi_free(&lab);
}

/* --scale: the network sees a resampled image; labels come back at the input's full size. */
TEST(scale_gives_full_resolution_labels) {
    char cmd[1024], out[128], p[160], err[128];
    int lines;
    fpfi_image lab;
    snprintf(out, sizeof out, "%s/scaled", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/cores.fpf --nucleus %s/img16.tif --out %s --object-diameter 15",
             g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK_MSG(strstr(g_err, "resampled by 2") != NULL, "%s", g_err);   /* 30 px model / 15 px objects */
    snprintf(p, sizeof p, "%s/nuclei.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 90 && lab.h == 70);
    fpfi_free(&lab);
}

/* --object-diameter auto on the shipped nucleus model and example field (nuclei about 29 px across):
   the first pass measures the median diameter; with the model's 30 px it stays at scale 1 (within 10 %),
   with --model-diameter 60 the second pass runs at 60 / D, about 2, and labels come back full size. */
TEST(object_diameter_auto) {
    char cmd[1024], out[128], p[160], err[128], marker[1024];
    const char *img = "weights/models/example/synth_1003_nucleus.tif";
    double d = 0, sc = 0;
    int lines;
    fpfi_image lab;
    snprintf(out, sizeof out, "%s/auto30", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/cores.fpf --nucleus %s --out %s --object-diameter auto", img, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    snprintf(p, sizeof p, "%s/fpf_segment.txt", out);
    slurp(p, marker, sizeof marker);
    CHECK_MSG(strstr(marker, "scale=1\n") != NULL && strstr(marker, "measured_diameter=") != NULL, "%s", marker);
    if (strstr(marker, "measured_diameter=")) d = atof(strstr(marker, "measured_diameter=") + 18);
    CHECK_MSG(d > 27.3 && d < 33.0, "%g", d);            /* |ln(30 / d)| <= ln 1.1: one pass */
    snprintf(out, sizeof out, "%s/auto60", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model weights/models/cores.fpf --nucleus %s --out %s --object-diameter auto "
             "--model-diameter 60", img, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    CHECK_MSG(strstr(g_err, "second pass resampled by") != NULL, "%s", g_err);
    snprintf(p, sizeof p, "%s/fpf_segment.txt", out);
    slurp(p, marker, sizeof marker);
    if (strstr(marker, "scale=")) sc = atof(strstr(marker, "scale=") + 6);
    CHECK_MSG(fabs(sc - 60.0 / d) < 1e-3 * sc, "scale %g, diameter %g", sc, d);
    snprintf(p, sizeof p, "%s/nuclei.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 640 && lab.h == 512);
    fpfi_free(&lab);
}

/* Post-processing and the reporter on a tiled run: they see the stitched, full-size labels
   (cells.csv rows = image.csv's Count_Cells = the largest label of cells.tif), and every output,
   image.csv included, is in the marker's file list. */
TEST(post_and_reporter_on_tiled_run) {
    char cmd[1024], out[128], p[160], err[128], marker[1024], csv[2048];
    int lines, n_cells = -1, post = -1, n_inf = -1, mx = 0;
    size_t i;
    fpfi_image lab;
    snprintf(out, sizeof out, "%s/tiled_post", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --nucleus %s/big16.tif "
             "--cell %s/big16.tif --reporter %s/big16.tif --post on --coco --overlay --out %s --tile 256 --overlap 64 --quiet",
             g_dir, g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    snprintf(p, sizeof p, "%s/fpf_segment.txt", out);
    slurp(p, marker, sizeof marker);
    CHECK(strstr(marker, "tiles=9\n") != NULL && strstr(marker, "post=7\n") != NULL && strstr(marker, "infected=") != NULL);
    CHECK_MSG(strstr(marker, "files=cells.tif,cells.csv,cells_coco.json,nuclei.tif,nuclei.csv,nuclei_coco.json,image.csv,overlay.png") != NULL,
              "%s", marker);
    snprintf(p, sizeof p, "%s/image.csv", out);
    slurp(p, csv, sizeof csv);
    {
        const char *row = strchr(csv, '\n'), *q;
        CHECK(row != NULL);
        if (row && (q = strstr(row, "\",")))
            CHECK(sscanf(q + 2, "%d,%*d,%d,%*[^,],%*[^,],%*[^,],%d", &n_cells, &n_inf, &post) == 3);
    }
    CHECK_EQ_INT(post, 7);
    CHECK(n_cells >= 0 && n_inf >= 0 && n_inf <= n_cells);
    snprintf(p, sizeof p, "%s/cells.csv", out);
    CHECK_EQ_INT(count_lines(p), n_cells + 1);
    snprintf(p, sizeof p, "%s/cells.tif", out);
    CHECK(fpfi_read(p, 0, 0, &lab, err, sizeof err) == 0);
    CHECK(lab.w == 640 && lab.h == 512);
    for (i = 0; lab.pixels && i < (size_t)lab.w * lab.h; i++)
        if (((uint16_t *)lab.pixels)[i] > mx) mx = ((uint16_t *)lab.pixels)[i];
    CHECK_EQ_INT(mx, n_cells);
    fpfi_free(&lab);
    CHECK_EQ_INT(tmp_left(out), 0);
}

static void write_text(const char *name, const char *text) {
    char p[256];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    f = fopen(p, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* A manifest of good and bad images: the bad ones are reported and skipped, the batch goes on,
   exit 1 at the end, failed.csv lists them, summary.csv has a row per image, progress has an ETA. */
TEST(batch_manifest_with_bad_images) {
    char cmd[1024], out[128], p[256];
    int lines;
    write_text("manifest.csv", "id,nucleus,cell\n"
                               "good1,img16.tif,img16.tif\n"
                               "bad,garbage.tif,img16.tif\n"
                               "good2,other16.tif,other16.tif\n"
                               "missing,nothere.tif,img16.tif\n"
                               "good1,img16.tif,img16.tif\n"
                               "../up,img16.tif,img16.tif\n"
                               "mismatch,img16.tif,wide16.tif\n"
                               "\"quoted, id\",img16.tif,img16.tif\n"
                               "size2,big16.tif,big16.tif\n"
                               "size1,img16.tif,img16.tif\n");
    snprintf(out, sizeof out, "%s/batch", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --batch %s/manifest.csv --out %s",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(exists(out, "good1/cells.tif") && exists(out, "good2/nuclei.csv") && exists(out, "quoted, id/fpf_segment.txt"));
    CHECK(exists(out, "size2/cells.tif") && exists(out, "size1/cells.tif"));     /* sizes change: a new session */
    CHECK(!exists(out, "bad") && !exists(out, "missing") && !exists(out, "mismatch"));
    snprintf(p, sizeof p, "%s/failed.csv", out);
    CHECK_EQ_INT(count_lines(p), 1 + 5);
    snprintf(p, sizeof p, "%s/summary.csv", out);
    CHECK_EQ_INT(count_lines(p), 1 + 10);
    CHECK(strstr(g_err, "[10/10]") != NULL && strstr(g_err, "ETA") != NULL && strstr(g_err, "images/s") != NULL);
    CHECK(strstr(g_err, "appears twice") != NULL && strstr(g_err, "cannot name a folder") != NULL);
    CHECK_MSG(strstr(g_err, "5 image(s) done, 0 skipped as complete, 5 failed (listed in failed.csv)") != NULL, "%s", g_err);
    write_text("empty.csv", "");
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --batch %s/empty.csv --out %s/b2", g_dir, g_dir, g_dir);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(strstr(g_err, "empty manifest") != NULL && lines == 1);
    write_text("nohead.csv", "a.tif,b.tif\n");
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --batch %s/nohead.csv --out %s/b2", g_dir, g_dir, g_dir);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(strstr(g_err, "the header must name an id column") != NULL);
    CHECK(!exists(g_dir, "b2"));
}

/* Folder patterns pair images by the part '*' matched; an unpaired image is a failure. */
TEST(batch_patterns_pair_by_stem) {
    char cmd[1024], out[128], p[1024];
    int lines;
    snprintf(p, sizeof p, "mkdir -p %s/plate && cp %s/img16.tif %s/plate/A01_w1.tif && cp %s/img16.tif %s/plate/A01_w2.tif && "
             "cp %s/other16.tif %s/plate/A02_w1.tif && cp %s/other16.tif %s/plate/A02_w2.tif && cp %s/img16.tif %s/plate/A03_w1.tif",
             g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(system(p) == 0);
    snprintf(out, sizeof out, "%s/pat", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus '%s/plate/A*_w1.tif' --cell '%s/plate/A*_w2.tif' --out %s",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(exists(out, "01/cells.tif") && exists(out, "02/cells.tif") && !exists(out, "03"));
    CHECK_MSG(strstr(g_err, "no cell image matches") != NULL, "%s", g_err);
    snprintf(p, sizeof p, "%s/failed.csv", out);
    CHECK_EQ_INT(count_lines(p), 2);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus '%s/plate/Z*_w1.tif' --cell '%s/plate/Z*_w2.tif' --out %s",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(strstr(g_err, "no file matches this pattern") != NULL);
}

/* The manifest's reporter column: used per image (image.csv and summary.csv's infected column);
   a row without a reporter gets none, a missing reporter file fails that image only, and a
   reporter pattern pairs by the part '*' matched. */
TEST(batch_reporter_column) {
    char cmd[1024], out[128], p[1024], sum[2048], csv[2048];
    int lines;
    write_text("rep_manifest.csv", "id,nucleus,cell,reporter\n"
                                   "with,img16.tif,img16.tif,other16.tif\n"
                                   "without,img16.tif,img16.tif,\n"
                                   "lost,img16.tif,img16.tif,nothere.tif\n");
    snprintf(out, sizeof out, "%s/rep_batch", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --batch %s/rep_manifest.csv --out %s",
             g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 1);
    CHECK(strstr(g_err, "reporter column") == NULL);               /* no "not used" warning any more */
    CHECK_MSG(strstr(g_err, "nothere.tif: cannot open the reporter image") != NULL, "%s", g_err);
    CHECK(exists(out, "with/image.csv") && exists(out, "without/image.csv") && !exists(out, "lost"));
    snprintf(p, sizeof p, "%s/summary.csv", out);
    slurp(p, sum, sizeof sum);
    CHECK_MSG(strstr(sum, "id,status,cells,nuclei,infected,over_max,tiles,seconds,error\n") != NULL, "%s", sum);
    {
        int c, n, inf = -1;
        const char *w = strstr(sum, "\"with\",ok,"), *wo = strstr(sum, "\"without\",ok,");
        CHECK(w && sscanf(w + 10, "%d,%d,%d,", &c, &n, &inf) == 3 && inf >= 0 && inf <= c);
        CHECK(wo && sscanf(wo + 13, "%d,%d,,", &c, &n) == 2 && strstr(wo, ",,") != NULL);
    }
    snprintf(p, sizeof p, "%s/with/image.csv", out);
    slurp(p, csv, sizeof csv);
    CHECK(strstr(csv, "other16") == NULL && strstr(csv, "img16.tif\",") != NULL);
    snprintf(p, sizeof p, "%s/with/fpf_segment.txt", out);
    slurp(p, csv, sizeof csv);
    CHECK(strstr(csv, "reporter=") && strstr(csv, "other16.tif\n") != NULL && strstr(csv, "infected=") != NULL);
    snprintf(p, sizeof p, "%s/without/fpf_segment.txt", out);
    slurp(p, csv, sizeof csv);
    CHECK(strstr(csv, "reporter=\n") != NULL && strstr(csv, "infected=") == NULL);
    /* patterns: --reporter 'plate/A*_w3.tif' */
    snprintf(p, sizeof p, "mkdir -p %s/rplate && cp %s/img16.tif %s/rplate/A01_w1.tif && cp %s/img16.tif %s/rplate/A01_w2.tif && "
             "cp %s/other16.tif %s/rplate/A01_w3.tif", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(system(p) == 0);
    snprintf(out, sizeof out, "%s/rep_pat", g_dir);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus '%s/rplate/A*_w1.tif' --cell '%s/rplate/A*_w2.tif' "
             "--reporter '%s/rplate/A*_w3.tif' --out %s --quiet", g_dir, g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    snprintf(p, sizeof p, "%s/01/fpf_segment.txt", out);
    slurp(p, csv, sizeof csv);
    CHECK_MSG(strstr(csv, "rplate/A01_w3.tif\n") != NULL, "%s", csv);
    /* a reporter pattern with single images is a bad command line */
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus %s/img16.tif --cell %s/img16.tif "
             "--reporter '%s/rplate/A*_w3.tif' --out %s/x", g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 2);
}

/* A batch killed in the middle, then --resume: images already complete are skipped, not redone;
   nothing is half-written; the rest are done. */
TEST(batch_resume_after_kill) {
    char cmd[2048], out[128], p[256], manifest[2048];
    int i, lines, done_before = 0, skipped = 0, waited;
    const char *q;
    pid_t pid;
    size_t len = 0;
    len += (size_t)snprintf(manifest + len, sizeof manifest - len, "id,nucleus,cell\n");
    for (i = 0; i < 12; i++) len += (size_t)snprintf(manifest + len, sizeof manifest - len, "w%02d,big16.tif,big16.tif\n", i);
    write_text("resume.csv", manifest);
    snprintf(out, sizeof out, "%s/resume", g_dir);
    pid = fork();
    if (pid == 0) {
        char mp[128], mo[128], mn[128];
        snprintf(mp, sizeof mp, "%s/add.fpf", g_dir);
        snprintf(mo, sizeof mo, "%s/resume.csv", g_dir);
        snprintf(mn, sizeof mn, "%s/cores.fpf", g_dir);
        if (!freopen("/dev/null", "w", stderr)) _exit(127);
        execl("build/fpf_segment", "fpf_segment", "--model", mp, "--nucleus-model", mn, "--batch", mo, "--out", out,
              "--threads", "1", "--overlay", (char *)NULL);
        _exit(127);
    }
    for (waited = 0; waited < 6000; waited++) {               /* until the first image is complete */
        struct timespec ts = {0, 5000000};
        if (exists(out, "w00/fpf_segment.txt")) break;
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    for (i = 0; i < 12; i++) {                                /* complete = the marker, written last */
        char id[32];
        snprintf(id, sizeof id, "w%02d/fpf_segment.txt", i);
        done_before += exists(out, id);
    }
    printf("  killed after %d of 12 images\n", done_before);
    CHECK(done_before >= 1);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add.fpf --nucleus-model %s/cores.fpf --batch %s/resume.csv --out %s "
             "--threads 2 --overlay --resume", g_dir, g_dir, g_dir, out);
    CHECK_EQ_INT(run(cmd, &lines, NULL, 0), 0);
    for (q = g_err; (q = strstr(q, "complete, skipped")); q++) skipped++;
    CHECK_EQ_INT(skipped, done_before);
    for (i = 0; i < 12; i++) {
        char id[32], dir[160];
        snprintf(id, sizeof id, "w%02d/fpf_segment.txt", i);
        CHECK(exists(out, id));
        snprintf(id, sizeof id, "w%02d/overlay.png", i);
        CHECK(exists(out, id));
        snprintf(dir, sizeof dir, "%s/w%02d", out, i);
        CHECK_EQ_INT(tmp_left(dir), 0);
    }
    snprintf(p, sizeof p, "%s/summary.csv", out);
    CHECK_EQ_INT(count_lines(p), 13);
    snprintf(p, sizeof p, "%s/failed.csv", out);
    CHECK_EQ_INT(count_lines(p), 1);
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
    RUN(help_lists_every_option_with_default);
    RUN(bad_command_lines_name_the_flag);
    RUN(failures_are_one_line_and_leave_nothing);
    RUN(out_parents_made_and_rgb_with_sample);
    RUN(stale_outputs_removed_with_notice);
    RUN(failed_run_keeps_previous_results);
    RUN(cap_warning_names_count_and_remedy);
    RUN(scale_gives_full_resolution_labels);
    RUN(object_diameter_auto);
    RUN(tiles_through_the_cli);
    RUN(post_and_reporter_on_tiled_run);
    RUN(batch_manifest_with_bad_images);
    RUN(batch_patterns_pair_by_stem);
    RUN(batch_reporter_column);
    RUN(batch_resume_after_kill);
    RUN(label_image_overlap_rule);
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0) printf("  could not remove %s\n", g_dir);
    return harness_summary("cli");
}
