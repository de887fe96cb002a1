/* fpf_segment - segment cells (and nuclei) in a fluorescence image pair with an .fpf model.
 *
 *   build/fpf_segment --model CELLS.fpf [--nucleus-model NUC.fpf] --nucleus N.tif --cell C.tif --out DIR
 *                     [--threads N] [--isa auto|scalar|avx2|avx512|neon]
 *                     [--norm16 percentile|none|fixed:LO:HI] [--min-score S]
 *                     [--cell-page P] [--cell-sample S] [--nucleus-page P] [--nucleus-sample S]
 *                     [--overlay] [--drop-padding] [--quiet]
 *                     [--post on|off|STEPS] [--reporter R.tif] [--reporter-threshold robust:K|otsu|fixed:T]
 *                     [--infected-min-area N] [--pixel-size UM] [--coco] [--post-set NAME=VALUE]
 *
 * Writes DIR/cells.tif (16-bit labels, ImageJ-readable), DIR/cells.csv, and with a nucleus model
 * DIR/nuclei.tif and DIR/nuclei.csv (with each nucleus's parent cell); --overlay adds
 * DIR/overlay.png (cytoplasm red, nuclei blue, cell outlines yellow, nucleus outlines cyan).
 * A "cores" model given as --model writes nuclei.* instead. Progress goes to stderr.
 * The paper's three post-processing steps (fpf_post.h) run on the cell labels by default;
 * --post off turns them off, --post 13 runs steps 1 and 3 only, --post-set NAME=VALUE sets
 * a field of fpf_post_options (shared_min_fraction, missed_threshold=otsu|robust:K|fixed:T,
 * open_radius, connectivity, min_region_area, new_cell_score, new_region_max_ratio).
 * --reporter adds a reporter channel: per-cell intensity, positive area and an infected call
 * (fpf_reporter_readout); image.csv is the per-image summary; --coco adds cells_coco.json
 * (and nuclei_coco.json), COCO results with RLE masks. The pixel size (--pixel-size, or the
 * cell TIFF's resolution tags) adds calibrated columns and goes into the label TIFFs.
 * File formats: examples/fpf_results.h.
 * Every output is encoded in memory first and renamed into place at the end, so a failure
 * leaves no partial file behind. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#define FPF_EVAL_IMPLEMENTATION
#define FPF_RESULTS_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include "fpf_eval.h"
#include "fpf_results.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --post when not given: all three steps (7), because they raise every shipped cell model's
   mean AP on the synthetic test sets (weights/RESULTS.md, "Post-processing"); 0 = off. */
#ifndef FPF_SEGMENT_POST_DEFAULT
#define FPF_SEGMENT_POST_DEFAULT 7
#endif

typedef struct args {
    const char *model, *nucleus_model, *nucleus, *cell, *out;
    int threads, isa, cell_page, cell_sample, nuc_page, nuc_sample, overlay, drop_padding, quiet;
    float min_score;
    int norm16;
    float lo, hi;
    const char *reporter;                  /* issue #14: post-processing, reporter, outputs */
    int post, coco, rep_method;
    long infected_min_area;
    double pixel_size, rep_param;
    fpf_post_options post_opt;
} args;

static void die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fpf_segment: error: ");
    va_start(ap, fmt); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: fpf_segment --model CELLS.fpf [--nucleus-model NUC.fpf] --nucleus N.tif --cell C.tif --out DIR\n"
                    "       [--threads N] [--isa auto|scalar|avx2|avx512|neon]\n"
                    "       [--norm16 percentile|none|fixed:LO:HI] [--min-score S] [--overlay]\n"
                    "       [--cell-page P] [--cell-sample S] [--nucleus-page P] [--nucleus-sample S] [--drop-padding] [--quiet]\n"
                    "       [--post on|off|STEPS] [--reporter R.tif] [--reporter-threshold robust:K|otsu|fixed:T]\n"
                    "       [--infected-min-area N] [--pixel-size UM] [--coco] [--post-set NAME=VALUE]\n");
    exit(2);
}

/* ------------------------------------------------------------------ issue #14 options */

static void results_defaults(args *a) {
    fpf_reporter_options r;
    fpf_reporter_defaults(&r);
    a->post = FPF_SEGMENT_POST_DEFAULT;
    fpf_post_defaults(&a->post_opt);
    a->rep_method = (int)r.method; a->rep_param = r.param; a->infected_min_area = r.min_positive_area;
}

/* 1 when k (with value v) is one of the post-processing / reporter / output options. */
static int parse_results_arg(args *a, const char *k, const char *v) {
    char *end;
    if (!strcmp(k, "--reporter")) a->reporter = v;
    else if (!strcmp(k, "--post-set")) { /* NAME=VALUE of fpf_post_options */
        fpf_post_options *p = &a->post_opt;
        double x = 0;
        const char *eq = strchr(v, '=');
        if (!eq || (sscanf(eq + 1, "%lf", &x) != 1 && strncmp(v, "missed_threshold=", 17)))
            die("--post-set wants NAME=VALUE, for example min_region_area=60");
        if (!strncmp(v, "shared_min_fraction=", 20) && x >= 0 && x <= 1) p->shared_min_fraction = x;
        else if (!strncmp(v, "open_radius=", 12) && x >= 0 && x <= 64) p->open_radius = (int)x;
        else if (!strncmp(v, "connectivity=", 13) && (x == 4 || x == 8)) p->connectivity = (int)x;
        else if (!strncmp(v, "min_region_area=", 16) && x >= 0) p->min_region_area = (long)x;
        else if (!strncmp(v, "new_cell_score=", 15) && x >= 0 && x <= 1) p->new_cell_score = (float)x;
        else if (!strncmp(v, "new_region_max_ratio=", 21) && x >= 0) p->new_region_max_ratio = x;
        else if (!strcmp(v, "missed_threshold=otsu")) p->missed_threshold = FPF_THRESHOLD_OTSU;
        else if (sscanf(v, "missed_threshold=robust:%lf", &p->missed_threshold_param) == 1) p->missed_threshold = FPF_THRESHOLD_ROBUST;
        else if (sscanf(v, "missed_threshold=fixed:%lf", &p->missed_threshold_param) == 1) p->missed_threshold = FPF_THRESHOLD_FIXED;
        else die("--post-set %s: unknown name or value out of range", v);
    }
    else if (!strcmp(k, "--post")) { /* on = all three steps; or the steps to run, e.g. 13 */
        const char *q;
        a->post = !strcmp(v, "on") ? 7 : 0;
        if (strcmp(v, "on") && strcmp(v, "off"))
            for (q = v; *q; q++) {
                if (*q < '1' || *q > '3') die("--post must be on, off, or the steps to run (for example 13)");
                a->post |= 1 << (*q - '1');
            }
    } else if (!strcmp(k, "--pixel-size")) {
        a->pixel_size = strtod(v, &end);
        if (end == v || *end || !(a->pixel_size > 0 && a->pixel_size < 1e6)) die("--pixel-size must be a positive number of microns");
    } else if (!strcmp(k, "--infected-min-area")) {
        a->infected_min_area = strtol(v, &end, 10);
        if (end == v || *end || a->infected_min_area < 1) die("--infected-min-area must be a positive pixel count");
    } else if (!strcmp(k, "--reporter-threshold")) {
        if (!strcmp(v, "otsu")) a->rep_method = FPF_THRESHOLD_OTSU;
        else if (sscanf(v, "robust:%lf", &a->rep_param) == 1 && a->rep_param >= 0) a->rep_method = FPF_THRESHOLD_ROBUST;
        else if (sscanf(v, "fixed:%lf", &a->rep_param) == 1) a->rep_method = FPF_THRESHOLD_FIXED;
        else die("--reporter-threshold must be otsu, robust:K or fixed:T");
    } else return 0;
    return 1;
}

static void parse(int argc, char **argv, args *a) {
    int i;
    memset(a, 0, sizeof *a);
    a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    results_defaults(a);
    for (i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int flag = !strcmp(k, "--overlay") || !strcmp(k, "--drop-padding") || !strcmp(k, "--quiet") || !strcmp(k, "--coco");
        if (!flag && !v) usage();
        if (!strcmp(k, "--model")) a->model = v;
        else if (!strcmp(k, "--nucleus-model")) a->nucleus_model = v;
        else if (!strcmp(k, "--nucleus")) a->nucleus = v;
        else if (!strcmp(k, "--cell")) a->cell = v;
        else if (!strcmp(k, "--out")) a->out = v;
        else if (!strcmp(k, "--threads")) a->threads = atoi(v);
        else if (!strcmp(k, "--isa")) {
            for (a->isa = 0; a->isa <= FPF_ISA_NEON && strcmp(v, fpf_isa_name((fpf_isa)a->isa)); a->isa++) {}
            if (a->isa > FPF_ISA_NEON) die("--isa must be auto, scalar, avx2, avx512 or neon");
            if (!fpf_isa_supported((fpf_isa)a->isa) && a->isa) die("--isa %s: this CPU or build cannot run it", v);
        }
        else if (!strcmp(k, "--min-score")) a->min_score = (float)atof(v);
        else if (!strcmp(k, "--cell-page")) a->cell_page = atoi(v);
        else if (!strcmp(k, "--cell-sample")) a->cell_sample = atoi(v);
        else if (!strcmp(k, "--nucleus-page")) a->nuc_page = atoi(v);
        else if (!strcmp(k, "--nucleus-sample")) a->nuc_sample = atoi(v);
        else if (!strcmp(k, "--norm16")) {
            if (!strcmp(v, "percentile")) a->norm16 = FPF_NORM16_PERCENTILE;
            else if (!strcmp(v, "none")) a->norm16 = FPF_NORM16_NONE;
            else if (sscanf(v, "fixed:%f:%f", &a->lo, &a->hi) == 2 && a->hi > a->lo) a->norm16 = FPF_NORM16_FIXED;
            else die("--norm16 must be percentile, none or fixed:LO:HI with HI > LO");
        } else if (!strcmp(k, "--overlay")) { a->overlay = 1; continue; }
        else if (!strcmp(k, "--drop-padding")) { a->drop_padding = 1; continue; }
        else if (!strcmp(k, "--quiet")) { a->quiet = 1; continue; }
        else if (!strcmp(k, "--coco")) { a->coco = 1; continue; }
        else if (!parse_results_arg(a, k, v)) usage();
        i++;
    }
    if (!a->model || !a->out) usage();
    if (a->threads < 1) a->threads = 1;
}

/* ------------------------------------------------------------------ progress */

typedef struct progress { double t0; int quiet; } progress;

static void on_stage(void *user, const char *name, const float *d, int nd, const int *dims, int ld) {
    static const char *marks[][2] = {
        {"nucleus.C5", "nucleus backbone"}, {"cell.C5", "backbone"}, {"F6", "FPN + fusion"},
        {"rpn_rois", "RPN + proposals"}, {"detections", "box head + detection"}, {"mrcnn_mask", "mask head"}};
    progress *p = (progress *)user;
    const char *base = strchr(name, ':') ? strchr(name, ':') + 1 : name;
    size_t i;
    (void)d; (void)nd; (void)dims; (void)ld;
    if (p->quiet) return;
    for (i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (!strcmp(base, marks[i][0]))
            fprintf(stderr, "  %7.2f s  %s%s\n", now_s() - p->t0, base == name ? "" : "[nucleus model] ", marks[i][1]);
}

/* ------------------------------------------------------------------ inputs */

static fpf_model *load_model(const char *path) {
    fpf_model *m = NULL;
    char msg[256];
    fpf_result r = fpf_model_load_file(path, NULL, &m, msg, sizeof msg);
    if (r != FPF_OK) die("%s: %s (%s)", path, msg[0] ? msg : fpf_result_string(r), fpf_result_string(r));
    return m;
}

static fpf_image load_image(const char *path, int page, int sample, fpfi_image *keep) {
    char err[256];
    if (fpfi_read(path, page, sample, keep, err, sizeof err) != 0) die("%s: %s", path, err);
    if (keep->type == FPFI_U8) return fpf_image_u8((const uint8_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w);
    if (keep->type == FPFI_U16) return fpf_image_u16((const uint16_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w * 2);
    die("%s: %s samples are not supported; convert to 8 or 16-bit unsigned", path, fpfi_type_name(keep->type));
    return fpf_image_u8(NULL, 0, 0, 0);
}

/* ------------------------------------------------------------------ outputs, staged in memory */

typedef struct staged { char path[1024]; unsigned char *data; size_t size; } staged;
typedef struct outputs { staged f[12]; int n; } outputs;

static staged *stage_file(outputs *o, const char *dir, const char *name) {
    staged *s = &o->f[o->n++];
    snprintf(s->path, sizeof s->path, "%s/%s", dir, name);
    s->data = NULL; s->size = 0;
    return s;
}

static double raw(const fpf_image *im, int y, int x) {
    const uint8_t *row = (const uint8_t *)im->pixels + (size_t)y * im->stride;
    return im->bits == 16 ? ((const uint16_t *)(const void *)row)[x] : row[x];
}

static unsigned char to8(const fpf_image *im, int y, int x, double lo, double k) {
    double v = (raw(im, y, x) - lo) * k;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* display range: min..max of the image */
static void range(const fpf_image *im, double *lo, double *k) {
    double mn = 1e30, mx = -1e30;
    int y, x;
    for (y = 0; y < im->height; y++)
        for (x = 0; x < im->width; x++) {
            double v = raw(im, y, x);
            mn = v < mn ? v : mn; mx = v > mx ? v : mx;
        }
    *lo = mn; *k = mx > mn ? 255.0 / (mx - mn) : 1.0;
}

static int edge(const uint16_t *l, int h, int w, int y, int x) {
    int v = l[(size_t)y * w + x];
    if (!v) return 0;
    return (y == 0 || l[(size_t)(y - 1) * w + x] != v) || (y == h - 1 || l[(size_t)(y + 1) * w + x] != v) ||
           (x == 0 || l[(size_t)y * w + x - 1] != v) || (x == w - 1 || l[(size_t)y * w + x + 1] != v);
}

static void stage_overlay(outputs *o, const char *dir, const fpf_image *cell, const fpf_image *nuc,
                          const uint16_t *cl, const uint16_t *nl, int h, int w,
                          const fpf_object *cobj, const int *infected, int n_cells) {
    staged *s = stage_file(o, dir, "overlay.png");
    unsigned char *rgb = (unsigned char *)calloc((size_t)h * w * 3, 1);
    double clo = 0, ck = 1, nlo = 0, nk = 1;
    char err[256];
    int y, x;
    if (cell && cell->pixels) range(cell, &clo, &ck);
    if (nuc && nuc->pixels) range(nuc, &nlo, &nk);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            if (cell && cell->pixels) p[0] = to8(cell, y, x, clo, ck);
            if (nuc && nuc->pixels) p[2] = to8(nuc, y, x, nlo, nk);
            if (cl && edge(cl, h, w, y, x)) { p[0] = 255; p[1] = 255; p[2] = 0; }
            if (nl && edge(nl, h, w, y, x)) { p[0] = 0; p[1] = 255; p[2] = 255; }
        }
    if (cl && infected) fpfr_mark_infected(rgb, cl, w, h, cobj, infected, n_cells);
    if (fpfi_encode_png_rgb(w, h, rgb, &s->data, &s->size, err, sizeof err) != 0) die("%s: %s", s->path, err);
    free(rgb);
}

/* All or nothing: write each staged file atomically; on failure remove the ones already written. */
static void commit(outputs *o) {
    char err[256];
    int i, j;
    for (i = 0; i < o->n; i++)
        if (fpfi_write_file_atomic(o->f[i].path, o->f[i].data, o->f[i].size, err, sizeof err) != 0) {
            for (j = 0; j < i; j++) remove(o->f[j].path);
            die("%s: %s", o->f[i].path, err);
        }
    for (i = 0; i < o->n; i++) free(o->f[i].data);
}

/* ------------------------------------------------------------------ labels, post-processing, measurements */

typedef struct objects {
    const char *name;       /* "cells" or "nuclei" */
    uint16_t *labels;
    int n;
    float *score;
    fpf_object *obj;
    int *parent, *children, *infected;
    long *positive;
} objects;

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) die("out of memory");
    return p;
}

static void make_labels(objects *ob, const char *name, const fpf_instance *inst, int n, int h, int w, int capacity) {
    int i;
    ob->name = name;
    ob->labels = (uint16_t *)xcalloc((size_t)h * w, sizeof(uint16_t));
    if (fpf_label_image(inst, n, h, w, ob->labels, (size_t)w) != FPF_OK) die("cannot build the %s label image", name);
    ob->n = n;
    ob->score = (float *)xcalloc((size_t)capacity + 1, sizeof(float));
    for (i = 0; i < n; i++) ob->score[i] = inst[i].score;
}

static void measure(objects *ob, int h, int w, const fpf_image *const *ch, int n_ch) {
    size_t ss = fpf_post_scratch_size(h, w, ob->n, 0);
    void *scratch = xcalloc(ss, 1);
    ob->obj = (fpf_object *)xcalloc((size_t)ob->n + 1, sizeof(fpf_object));
    if (fpf_measure_objects(ob->labels, (size_t)w, h, w, ob->n, ch, n_ch, ob->obj, scratch, ss) != FPF_OK)
        die("cannot measure the %s", ob->name);
    free(scratch);
}

static void stage_buf(outputs *o, const char *dir, const char *name, fpfr_buf *b) {
    staged *s = stage_file(o, dir, name);
    if (b->oom) die("out of memory");
    s->data = (unsigned char *)b->p; s->size = b->len;
}

static void stage_objects(outputs *o, const args *a, const objects *ob, int h, int w, int n_ch, double ps) {
    fpfr_buf b;
    fpfr_table t;
    char file[64];
    uint32_t *l32 = (uint32_t *)xcalloc((size_t)h * w, sizeof(uint32_t));
    size_t i;
    for (i = 0; i < (size_t)h * w; i++) l32[i] = ob->labels[i];
    memset(&b, 0, sizeof b);
    if (fpfr_label_tiff(l32, w, h, ps, &b) != 0) die("out of memory");
    snprintf(file, sizeof file, "%s.tif", ob->name);
    stage_buf(o, a->out, file, &b);
    free(l32);
    memset(&b, 0, sizeof b);
    memset(&t, 0, sizeof t);
    t.obj = ob->obj; t.n = ob->n; t.score = ob->score; t.n_channels = n_ch; t.pixel_size = ps;
    t.children = ob->children; t.parent = ob->parent; t.positive = ob->positive; t.infected = ob->infected;
    fpfr_objects_csv(&b, &t);
    snprintf(file, sizeof file, "%s.csv", ob->name);
    stage_buf(o, a->out, file, &b);
    if (a->coco) {
        memset(&b, 0, sizeof b);
        if (fpfr_coco(&b, ob->labels, w, h, ob->score, ob->n, 1) != 0) die("cannot encode the %s as COCO JSON", ob->name);
        snprintf(file, sizeof file, "%s_coco.json", ob->name);
        stage_buf(o, a->out, file, &b);
    }
}

/* The pixel size in µm: --pixel-size, else the cell (or nucleus) TIFF's tags, else 0. */
static double pixel_size(const args *a) {
    const char *path = a->cell ? a->cell : a->nucleus;
    unsigned char *d = NULL;
    size_t n = 0;
    char err[256];
    double ps = 0;
    if (a->pixel_size > 0) return a->pixel_size;
    if (path && fpfi_load_file(path, &d, &n, err, sizeof err) == 0) ps = fpfr_tiff_pixel_size(d, n);
    free(d);
    return ps;
}

/* Every output of one image: labels (post-processed with --post on), measurements, parent links,
   the reporter readout, then label TIFFs, CSVs, image.csv, COCO JSON and the overlay, staged. */
static void stage_results(outputs *o, const args *a, const fpf_output *out, const fpf_input *in,
                          const fpf_image *rep, int h, int w, int main_is_nuclei) {
    objects c, nu;
    fpf_post_stats st;
    const fpf_image *ch[3];
    double ps = pixel_size(a), rep_t = 0;
    int n_ch = rep ? 3 : 2, have_nuc = !main_is_nuclei && out->n_nuclei >= 0 && a->nucleus_model, i, n_inf = 0;
    long capacity = (long)out->n_cells + out->n_nuclei + (long)h * w / (a->post_opt.min_region_area > 1 ? a->post_opt.min_region_area : 1);
    fpfr_buf b;
    memset(&c, 0, sizeof c); memset(&nu, 0, sizeof nu); memset(&st, 0, sizeof st);
    if (capacity > 65535) capacity = 65535; /* room for every cell post-processing can make */
    ch[0] = in->nucleus.pixels ? &in->nucleus : NULL; ch[1] = in->cell.pixels ? &in->cell : NULL; ch[2] = rep;
    make_labels(&c, main_is_nuclei ? "nuclei" : "cells", out->cells, out->n_cells, h, w, (int)capacity);
    if (have_nuc) make_labels(&nu, "nuclei", out->nuclei, out->n_nuclei, h, w, out->n_nuclei);
    if (a->post && !main_is_nuclei) {
        fpf_post_options po = a->post_opt;
        size_t ss = fpf_post_scratch_size(h, w, (int)capacity, nu.n);
        void *scratch = xcalloc(ss, 1);
        double t0 = now_s();
        fpf_result r;
        po.merge_shared_nuclei = a->post & 1; po.missed_regions = (a->post >> 1) & 1; po.uncovered_nuclei = (a->post >> 2) & 1;
        r = fpf_postprocess(c.labels, (size_t)w, h, w, &c.n, (int)capacity, c.score, have_nuc ? nu.labels : NULL, nu.n,
                            ch[1], &po, scratch, ss, &st);
        if (r != FPF_OK) die("post-processing failed: %s", fpf_result_string(r));
        free(scratch);
        if (!a->quiet)
            fprintf(stderr, "fpf_segment: post-processing in %.3f s: %d merged, %d regions added, %d discarded, %d new; "
                            "%d nuclei enlarged a cell, %d became cells -> %d cells\n", now_s() - t0, st.merged,
                    st.attached, st.discarded, st.new_regions, st.enlarged, st.new_nuclei, c.n);
    }
    measure(&c, h, w, ch, n_ch);
    if (have_nuc) {
        long *ov = (long *)xcalloc(((size_t)nu.n + 1) * ((size_t)c.n + 1), sizeof(long));
        measure(&nu, h, w, ch, n_ch);
        nu.parent = (int *)xcalloc((size_t)nu.n + 1, sizeof(int));
        c.children = (int *)xcalloc((size_t)c.n + 1, sizeof(int));
        fpf_assign_nuclei(nu.labels, c.labels, (size_t)w, h, w, nu.n, c.n, nu.parent, ov);
        fpf_count_children(nu.parent, nu.n, c.n, c.children);
        free(ov);
    }
    if (rep && !main_is_nuclei) {
        fpf_reporter_options ro;
        uint32_t *hist = (uint32_t *)xcalloc(65536, sizeof(uint32_t));
        ro.method = (fpf_threshold_method)a->rep_method; ro.param = a->rep_param; ro.min_positive_area = a->infected_min_area;
        c.positive = (long *)xcalloc((size_t)c.n + 1, sizeof(long));
        c.infected = (int *)xcalloc((size_t)c.n + 1, sizeof(int));
        if (fpf_reporter_readout(c.labels, (size_t)w, h, w, c.n, rep, &ro, hist, 65536 * 4, &rep_t, c.positive, c.infected) != FPF_OK)
            die("reporter readout failed");
        free(hist);
        for (i = 0; i < c.n; i++) n_inf += c.infected[i];
    }
    stage_objects(o, a, &c, h, w, n_ch, ps);
    if (have_nuc) stage_objects(o, a, &nu, h, w, n_ch, ps);
    memset(&b, 0, sizeof b);
    fpfr_printf(&b, "Image,Count_Cells,Count_Nuclei,Count_InfectedCells,InfectionRate,Threshold_Reporter,PixelSize_um,"
                    "Post,Post_MergedCells,Post_AttachedRegions,Post_DiscardedRegions,Post_NewCellsFromRegions,"
                    "Post_EnlargedByNuclei,Post_NewCellsFromNuclei,Threshold_Cell\n");
    { /* the input file, quoted as CSV wants ("" for a quote) */
        const char *q;
        fpfr_printf(&b, "\"");
        for (q = a->cell ? a->cell : a->nucleus; *q; q++)
            if (*q == '"') fpfr_printf(&b, "\"\""); else fpfr_printf(&b, "%c", *q);
        fpfr_printf(&b, "\",");
    }
    fpfr_printf(&b, "%d,%d,", main_is_nuclei ? 0 : c.n, main_is_nuclei ? c.n : nu.n);
    if (rep && !main_is_nuclei) fpfr_printf(&b, "%d,%.6f,%.6g,", n_inf, c.n ? (double)n_inf / c.n : 0.0, rep_t);
    else fpfr_printf(&b, ",,,");
    fpfr_printf(&b, "%.6g,%d,%d,%d,%d,%d,%d,%d,%.6g\n", ps, main_is_nuclei ? 0 : a->post, st.merged, st.attached,
                st.discarded, st.new_regions, st.enlarged, st.new_nuclei, st.threshold);
    stage_buf(o, a->out, "image.csv", &b);
    if (a->overlay)
        stage_overlay(o, a->out, ch[1], ch[0], main_is_nuclei ? NULL : c.labels, main_is_nuclei ? c.labels : nu.labels,
                      h, w, c.obj, c.infected, c.n);
    free(c.labels); free(c.score); free(c.obj); free(c.children); free(c.positive); free(c.infected);
    free(nu.labels); free(nu.score); free(nu.obj); free(nu.parent);
}

int main(int argc, char **argv) {
    args a;
    fpf_model *m, *nm = NULL;
    fpfi_image ci, ni;
    fpf_input in;
    fpf_options opt;
    fpf_session *s = NULL;
    const fpf_output *out;
    progress pr;
    outputs o;
    fpfi_image ri;
    fpf_image rep;
    fpf_result r;
    int h, w, main_is_nuclei;
    struct stat st;
    double t0 = now_s();
    parse(argc, argv, &a);
    memset(&in, 0, sizeof in); memset(&ci, 0, sizeof ci); memset(&ni, 0, sizeof ni);
    m = load_model(a.model);
    if (a.nucleus_model) nm = load_model(a.nucleus_model);
    main_is_nuclei = fpf_model_config(m)->variant == FPF_VARIANT_CORES;
    if (a.cell) in.cell = load_image(a.cell, a.cell_page, a.cell_sample, &ci);
    if (a.nucleus) in.nucleus = load_image(a.nucleus, a.nuc_page, a.nuc_sample, &ni);
    memset(&ri, 0, sizeof ri); memset(&rep, 0, sizeof rep);
    if (a.reporter) rep = load_image(a.reporter, 0, 0, &ri);
    if (stat(a.out, &st) != 0 && mkdir(a.out, 0777) != 0) die("%s: cannot create directory (%s)", a.out, strerror(errno));
    h = in.cell.pixels ? in.cell.height : in.nucleus.height;
    w = in.cell.pixels ? in.cell.width : in.nucleus.width;
    if (!h || !w) die("no input image: give --cell and/or --nucleus as the model needs");
    if (a.reporter && (rep.width != w || rep.height != h))
        die("%s: the reporter is %dx%d, the other channels %dx%d", a.reporter, rep.width, rep.height, w, h);
    memset(&opt, 0, sizeof opt);
    opt.n_threads = a.threads; /* the library's own pool */
    opt.isa = a.isa;
    opt.norm16 = a.norm16; opt.norm16_lo = a.lo; opt.norm16_hi = a.hi;
    opt.det_min_confidence = a.min_score; opt.drop_padding_detections = a.drop_padding;
    pr.quiet = a.quiet; opt.stage = on_stage; opt.stage_user = &pr;
    if ((r = fpf_session_init(m, nm, h, w, &opt, &s)) != FPF_OK)
        die("cannot set up a session for %dx%d: %s", w, h, fpf_result_string(r));
    if (!a.quiet) fprintf(stderr, "fpf_segment: %dx%d, %d thread(s), %s kernels, models loaded in %.2f s\n", w, h, a.threads,
                          fpf_isa_name(fpf_session_isa(s)), now_s() - t0);
    pr.t0 = now_s();
    if ((r = fpf_session_run(s, &in, &out)) != FPF_OK) die("%s", fpf_session_message(s)[0] ? fpf_session_message(s) : fpf_result_string(r));
    if (!a.quiet) fprintf(stderr, "fpf_segment: %d %s, %d nuclei in %.2f s%s\n", out->n_cells, main_is_nuclei ? "nuclei" : "cells",
                          out->n_nuclei, now_s() - pr.t0, out->shared_nucleus_pyramid ? " (nucleus pyramid shared)" : "");
    o.n = 0;
    stage_results(&o, &a, out, &in, a.reporter ? &rep : NULL, h, w, main_is_nuclei);
    commit(&o);
    if (!a.quiet) fprintf(stderr, "fpf_segment: wrote %d file(s) to %s\n", o.n, a.out);
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(nm);
    fpfi_free(&ci); fpfi_free(&ni); fpfi_free(&ri);
    return 0;
}
