/* fpf_segment - segment cells (and nuclei) in a fluorescence image pair with an .fpf model.
 *
 *   build/fpf_segment --model CELLS.fpf [--nucleus-model NUC.fpf] --nucleus N.tif --cell C.tif --out DIR
 *                     [--threads N] [--isa auto|scalar|avx2|avx512|neon]
 *                     [--norm16 percentile|none|fixed:LO:HI] [--min-score S]
 *                     [--cell-page P] [--cell-sample S] [--nucleus-page P] [--nucleus-sample S]
 *                     [--overlay] [--drop-padding] [--quiet]
 *
 * Writes DIR/cells.tif (16-bit labels, ImageJ-readable), DIR/cells.csv, and with a nucleus model
 * DIR/nuclei.tif and DIR/nuclei.csv (with each nucleus's parent cell); --overlay adds
 * DIR/overlay.png (cytoplasm red, nuclei blue, cell outlines yellow, nucleus outlines cyan).
 * A "cores" model given as --model writes nuclei.* instead. Progress goes to stderr.
 * Every output is encoded in memory first and renamed into place at the end, so a failure
 * leaves no partial file behind. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct args {
    const char *model, *nucleus_model, *nucleus, *cell, *out;
    int threads, isa, cell_page, cell_sample, nuc_page, nuc_sample, overlay, drop_padding, quiet;
    float min_score;
    int norm16;
    float lo, hi;
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
                    "       [--cell-page P] [--cell-sample S] [--nucleus-page P] [--nucleus-sample S] [--drop-padding] [--quiet]\n");
    exit(2);
}

static void parse(int argc, char **argv, args *a) {
    int i;
    memset(a, 0, sizeof *a);
    a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int flag = !strcmp(k, "--overlay") || !strcmp(k, "--drop-padding") || !strcmp(k, "--quiet");
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
        else usage();
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
typedef struct outputs { staged f[8]; int n; } outputs;

static staged *stage_file(outputs *o, const char *dir, const char *name) {
    staged *s = &o->f[o->n++];
    snprintf(s->path, sizeof s->path, "%s/%s", dir, name);
    s->data = NULL; s->size = 0;
    return s;
}

static void stage_labels(outputs *o, const char *dir, const char *name, uint16_t *labels, int h, int w) {
    fpfi_image im;
    char err[256];
    staged *s = stage_file(o, dir, name);
    im.w = w; im.h = h; im.type = FPFI_U16; im.pixels = labels;
    if (fpfi_encode(FPFI_FORMAT_TIFF, &im, &s->data, &s->size, err, sizeof err) != 0) die("%s: %s", s->path, err);
}

static void stage_csv(outputs *o, const char *dir, const char *name, const fpf_instance *inst,
                      const fpf_measurement *m, int n, const int *parent) {
    staged *s = stage_file(o, dir, name);
    size_t cap = 256 + (size_t)n * 200, len = 0;
    int i;
    s->data = (unsigned char *)malloc(cap);
    len += (size_t)snprintf((char *)s->data + len, cap - len, "id,score,y1,x1,y2,x2,area,centroid_y,centroid_x,mean_intensity,padding%s\n",
                            parent ? ",parent_cell" : "");
    for (i = 0; i < n; i++) {
        len += (size_t)snprintf((char *)s->data + len, cap - len, "%d,%.6f,%d,%d,%d,%d,%ld,%.2f,%.2f,%.3f,%d", i + 1,
                                inst[i].score, inst[i].y1, inst[i].x1, inst[i].y2, inst[i].x2, m[i].area, m[i].cy,
                                m[i].cx, m[i].mean_intensity, inst[i].from_padding);
        if (parent) len += (size_t)snprintf((char *)s->data + len, cap - len, ",%d", parent[i]);
        len += (size_t)snprintf((char *)s->data + len, cap - len, "\n");
    }
    s->size = len;
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
                          const uint16_t *cl, const uint16_t *nl, int h, int w) {
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

static void results(outputs *o, const char *dir, const char *name, const fpf_instance *inst, int n, int h,
                    int w, const fpf_image *intensity, uint16_t *labels, const uint16_t *cells, int n_cells) {
    fpf_measurement *m = (fpf_measurement *)calloc((size_t)n + 1, sizeof *m);
    int *parent = NULL;
    char file[64];
    if (fpf_label_image(inst, n, h, w, labels, (size_t)w) != FPF_OK) die("cannot build the %s label image", name);
    fpf_measure(labels, (size_t)w, h, w, n, intensity, m);
    if (cells) {
        long *ov = (long *)malloc(((size_t)n + 1) * ((size_t)n_cells + 1) * sizeof(long));
        parent = (int *)calloc((size_t)n + 1, sizeof(int));
        fpf_assign_nuclei(labels, cells, (size_t)w, h, w, n, n_cells, parent, ov);
        free(ov);
    }
    snprintf(file, sizeof file, "%s.tif", name);
    stage_labels(o, dir, file, labels, h, w);
    snprintf(file, sizeof file, "%s.csv", name);
    stage_csv(o, dir, file, inst, m, n, parent);
    free(m); free(parent);
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
    uint16_t *cl = NULL, *nl = NULL;
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
    if (stat(a.out, &st) != 0 && mkdir(a.out, 0777) != 0) die("%s: cannot create directory (%s)", a.out, strerror(errno));
    h = in.cell.pixels ? in.cell.height : in.nucleus.height;
    w = in.cell.pixels ? in.cell.width : in.nucleus.width;
    if (!h || !w) die("no input image: give --cell and/or --nucleus as the model needs");
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
    cl = (uint16_t *)malloc((size_t)h * w * sizeof(uint16_t));
    results(&o, a.out, main_is_nuclei ? "nuclei" : "cells", out->cells, out->n_cells, h, w,
            main_is_nuclei ? &in.nucleus : (in.cell.pixels ? &in.cell : NULL), cl, NULL, 0);
    if (nm) {
        nl = (uint16_t *)malloc((size_t)h * w * sizeof(uint16_t));
        results(&o, a.out, "nuclei", out->nuclei, out->n_nuclei, h, w, &in.nucleus, nl,
                main_is_nuclei ? NULL : cl, main_is_nuclei ? 0 : out->n_cells);
    }
    if (a.overlay)
        stage_overlay(&o, a.out, in.cell.pixels ? &in.cell : NULL, in.nucleus.pixels ? &in.nucleus : NULL,
                      main_is_nuclei ? NULL : cl, main_is_nuclei ? cl : nl, h, w);
    commit(&o);
    if (!a.quiet) fprintf(stderr, "fpf_segment: wrote %d file(s) to %s\n", o.n, a.out);
    free(cl); free(nl);
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(nm);
    fpfi_free(&ci); fpfi_free(&ni);
    return 0;
}
