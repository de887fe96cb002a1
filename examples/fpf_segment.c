/* fpf_segment - segment cells (and nuclei) in fluorescence images with .fpf models.
 *
 *   one image:  build/fpf_segment --model CELLS.fpf [--nucleus-model NUC.fpf] --nucleus N.tif --cell C.tif --out DIR
 *   a batch:    build/fpf_segment --model ... --batch MANIFEST.csv --out DIR [--resume]
 *               build/fpf_segment --model ... --nucleus 'plate/A*_w1.tif' --cell 'plate/A*_w2.tif' --out DIR
 *   every option with its default: build/fpf_segment --help
 *
 * Writes DIR/cells.tif (16-bit labels, ImageJ-readable), DIR/cells.csv, and with a nucleus model
 * DIR/nuclei.tif and DIR/nuclei.csv (with each nucleus's parent cell); --overlay adds
 * DIR/overlay.png; DIR/fpf_segment.txt records the run and marks the set complete. A batch
 * writes DIR/<id>/ per image, DIR/summary.csv (one row per image) and DIR/failed.csv.
 *
 * Images of any size run in tiles (fpf_tiler in fpf.h); --scale resamples them first.
 * The paper's three post-processing steps (fpf_post.h) then run on the stitched, full-size cell
 * labels (--post), every object is measured, and --reporter (or a manifest's reporter column)
 * adds a reporter channel with an infected call per cell; DIR/image.csv sums one image up, and
 * --coco adds cells_coco.json (and nuclei_coco.json). File formats: examples/fpf_results.h and
 * docs/post_processing_and_outputs.md.
 * Outputs are all or nothing: every file is written into a temporary folder inside DIR and
 * renamed into place only when all succeeded; files an earlier run left that this run does not
 * write are removed, with a notice. A failure leaves the earlier results as they were. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#define FPF_EVAL_IMPLEMENTATION
#define FPF_COCO_IMPLEMENTATION
#define FPF_RESULTS_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_image.h"
#include "fpf_eval.h"
#include "fpf_coco.h"
#include "fpf_results.h"
#include "fpf_manifest.h"
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN FPFM_PATH
#define MARKER "fpf_segment.txt"

/* ------------------------------------------------------------------ options */

typedef struct args {
    const char *model, *nucleus_model, *nucleus, *cell, *out, *batch;
    int threads, isa, int8_isa, conv3x3, cell_page, cell_sample, nuc_page, nuc_sample, overlay, drop_padding, quiet, resume;
    int cell_sample_set, nuc_sample_set;
    int max_det, max_props, tile, overlap, max_memory_mb;
    float min_score, scale, diameter, model_diameter;
    int diameter_auto;                     /* --object-diameter auto: measured per image, then a second pass */
    int norm16;
    float lo, hi;
    const char *reporter;                  /* post-processing, reporter, outputs (issue #14) */
    int rep_page, rep_sample, rep_sample_set;
    int post, coco, rep_method;
    long infected_min_area;
    double pixel_size, rep_param;
    fpf_post_options post_opt;
} args;

/* --post when not given: all three steps (7), because they raise every shipped cell model's
   mean AP on the synthetic test sets (weights/RESULTS.md, "Post-processing"); 0 = off. */
#ifndef FPF_SEGMENT_POST_DEFAULT
#define FPF_SEGMENT_POST_DEFAULT 7
#endif

typedef struct option { const char *name, *value, *dflt, *help; } option;
static const option options[] = {
    {"--model", "FILE", "required", "the .fpf model (any variant; a nucleus model writes nuclei.*)"},
    {"--nucleus-model", "FILE", "none", "a nucleus (\"cores\") model run beside --model"},
    {"--nucleus", "FILE|PATTERN", "none", "nucleus image; a pattern such as 'dir/*_w1.tif' runs a batch"},
    {"--cell", "FILE|PATTERN", "none", "cell image; with patterns, paired with --nucleus by the part '*' matched"},
    {"--out", "DIR", "required", "output folder, created like mkdir -p"},
    {"--batch", "CSV", "none", "manifest with a header naming id,nucleus,cell[,reporter]; paths relative to it"},
    {"--resume", NULL, "off", "batch: skip images whose outputs are complete"},
    {"--threads", "N", "all cores", "threads, 1..64"},
    {"--isa", "NAME", "auto", "kernels: auto, scalar, avx2, avx512 or neon"},
    {"--int8-isa", "NAME", "auto", "int8 layers' kernels: auto, scalar, avx2, avxvnni, avx512vnni, amx, neon or neondot"},
    {"--conv3x3", "MODE", "winograd", "fp32 3×3 convs: winograd (fast) or direct (the reference order of sums)"},
    {"--norm16", "MODE", "percentile", "16-bit mapping: percentile (0.1..99.9 %), none, or fixed:LO:HI"},
    {"--min-score", "S", "model's (0.7)", "keep detections scoring at least S, 0 < S <= 1"},
    {"--max-detections", "N", "model's (200)", "most detections per tile, 1..65535"},
    {"--max-proposals", "N", "model's (500)", "region proposals per tile, 1..65536 (more: denser fields, slower)"},
    {"--max-memory", "MB", "16384 (FPF_MAX_WORKSPACE_BYTES)", "largest network workspace in MiB, 1..16384; over it, an image fails (try a smaller --tile)"},
    {"--tile", "PX", "1024", "tile side in network pixels, 256..8192; 0 = the whole image in one piece"},
    {"--overlap", "PX", "256 (nuclei: 128)", "pixels shared by neighbouring tiles; objects larger than this may be lost"},
    {"--scale", "F", "1", "resample the images by F before the network, 0.05..20 (masks come back full size)"},
    {"--object-diameter", "PX|auto", "none", "typical object diameter in your images; sets --scale to model diameter / PX. "
     "auto: per image, a first pass at scale 1 measures the detections' median diameter D, and a second pass runs at "
     "model diameter / D (0.25..4) when that is more than 10 % off 1"},
    {"--model-diameter", "PX", "the model's, else 100 (nuclei: 30)", "the object diameter the model works best at (recorded in newer models; fpf_info shows it)"},
    {"--cell-page", "P", "0", "TIFF page of the cell image"},
    {"--cell-sample", "S", "0 if one", "sample (channel) of the cell image; required for RGB files"},
    {"--nucleus-page", "P", "0", "TIFF page of the nucleus image"},
    {"--nucleus-sample", "S", "0 if one", "sample (channel) of the nucleus image; required for RGB files"},
    {"--reporter", "FILE|PATTERN", "none", "reporter image: per-cell readout and infected call (a pattern with patterns)"},
    {"--reporter-page", "P", "0", "TIFF page of the reporter image"},
    {"--reporter-sample", "S", "0 if one", "sample (channel) of the reporter image; required for RGB files"},
    {"--reporter-threshold", "METHOD", "robust:5", "reporter positive pixels: robust:K (median + K MADs), otsu or fixed:T"},
    {"--infected-min-area", "N", "4", "positive reporter pixels that make a cell infected, 1.."},
    {"--post", "on|off|STEPS", "on", "the paper's post-processing of the cell labels; STEPS such as 13 runs steps 1 and 3"},
    {"--post-set", "NAME=VALUE", "fpf_post_defaults", "one field of fpf_post_options, e.g. min_region_area=60 (repeatable)"},
    {"--pixel-size", "UM", "the cell TIFF's", "pixel size in microns: calibrated columns, written into the label TIFFs"},
    {"--coco", NULL, "off", "also write cells_coco.json (and nuclei_coco.json): COCO results with RLE masks"},
    {"--overlay", NULL, "off", "also write overlay.png (cell outlines yellow, nucleus outlines cyan, infected cells magenta)"},
    {"--drop-padding", NULL, "off", "drop the original's 1x1 detections from zero-padded proposals (spec 6.3)"},
    {"--quiet", NULL, "off", "no progress, only warnings and errors"},
    {"--help", NULL, "", "this list"}};
#define N_OPTIONS (int)(sizeof options / sizeof options[0])


/* Appends to buf[cap] at len; returns the new length (clamped: the text is cut, never overrun). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
static size_t sapp(char *buf, size_t cap, size_t len, const char *fmt, ...) {
    va_list ap;
    int k;
    if (len + 1 >= cap) return len;
    va_start(ap, fmt); k = vsnprintf(buf + len, cap - len, fmt, ap); va_end(ap);
    if (k < 0) return len;
    return len + (size_t)k < cap ? len + (size_t)k : cap - 1;
}

static void die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fpf_segment: error: ");
    va_start(ap, fmt); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static void warn(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fpf_segment: warning: ");
    va_start(ap, fmt); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, "\n");
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void help(void) {
    int i;
    printf("usage: fpf_segment --model CELLS.fpf [--nucleus-model NUC.fpf] --nucleus N.tif --cell C.tif --out DIR [options]\n"
           "       fpf_segment --model ... --batch MANIFEST.csv --out DIR [--resume] [options]\n"
           "       fpf_segment --model ... --nucleus 'DIR/*_w1.tif' --cell 'DIR/*_w2.tif' --out DIR [options]\n\n");
    for (i = 0; i < N_OPTIONS; i++) {
        char lhs[64];
        fpfm_fmt(lhs, sizeof lhs, "%s%s%s", options[i].name, options[i].value ? " " : "", options[i].value ? options[i].value : "");
        if (!options[i].dflt[0]) printf("  %-30s %s\n", lhs, options[i].help);
        else if (!strcmp(options[i].dflt, "required")) printf("  %-30s %s [required]\n", lhs, options[i].help);
        else printf("  %-30s %s [default: %s]\n", lhs, options[i].help, options[i].dflt);
    }
    printf("\nExit status: 0 when every image succeeded, 1 on any error, 2 on a bad command line.\n");
    exit(0);
}

static void usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fpf_segment: error: ");
    va_start(ap, fmt); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, " (see fpf_segment --help)\n");
    exit(2);
}

static long parse_int(const char *flag, const char *v, long lo, long hi) {
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (!*v || *end || errno) usage_error("%s %s: not a whole number", flag, v);
    if (x < lo || x > hi) usage_error("%s %s: must be between %ld and %ld", flag, v, lo, hi);
    return x;
}

/* lo_open: the range excludes lo */
static float parse_float(const char *flag, const char *v, double lo, int lo_open, double hi) {
    char *end;
    double x;
    errno = 0;
    x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x)) usage_error("%s %s: not a number", flag, v);
    if (x < lo || (lo_open && x == lo) || x > hi)
        usage_error("%s %s: must be %s %g and at most %g", flag, v, lo_open ? "above" : "at least", lo, hi);
    return (float)x;
}

static const option *find_option(const char *k) {
    int i;
    for (i = 0; i < N_OPTIONS; i++) if (!strcmp(k, options[i].name)) return &options[i];
    return NULL;
}

/* --post-set NAME=VALUE: one field of fpf_post_options. */
static void parse_post_set(fpf_post_options *p, const char *v) {
    char *end;
    double x;
    const char *eq = strchr(v, '=');
    if (!eq) usage_error("--post-set %s: wants NAME=VALUE, for example min_region_area=60", v);
    if (!strcmp(v, "missed_threshold=otsu")) { p->missed_threshold = FPF_THRESHOLD_OTSU; return; }
    if (!strncmp(v, "missed_threshold=robust:", 24) || !strncmp(v, "missed_threshold=fixed:", 23)) {
        const char *num = strchr(eq + 1, ':') + 1;
        errno = 0;
        x = strtod(num, &end);
        if (!*num || *end || errno || !isfinite(x) || x < 0) usage_error("--post-set %s: not a number >= 0", v);
        p->missed_threshold = v[17] == 'r' ? FPF_THRESHOLD_ROBUST : FPF_THRESHOLD_FIXED;
        p->missed_threshold_param = x;
        return;
    }
    errno = 0;
    x = strtod(eq + 1, &end);
    if (!eq[1] || *end || errno || !isfinite(x)) usage_error("--post-set %s: the value is not a number", v);
    if (!strncmp(v, "shared_min_fraction=", 20) && x >= 0 && x <= 1) p->shared_min_fraction = x;
    else if (!strncmp(v, "open_radius=", 12) && x >= 0 && x <= 64 && x == floor(x)) p->open_radius = (int)x;
    else if (!strncmp(v, "connectivity=", 13) && (x == 4 || x == 8)) p->connectivity = (int)x;
    else if (!strncmp(v, "min_region_area=", 16) && x >= 0 && x <= 1e12 && x == floor(x)) p->min_region_area = (long)x;
    else if (!strncmp(v, "new_cell_score=", 15) && x >= 0 && x <= 1) p->new_cell_score = (float)x;
    else if (!strncmp(v, "new_region_max_ratio=", 21) && x >= 0) p->new_region_max_ratio = x;
    else usage_error("--post-set %s: unknown name or value out of range (names: shared_min_fraction, missed_threshold, "
                     "open_radius, connectivity, min_region_area, new_cell_score, new_region_max_ratio)", v);
}

static void parse(int argc, char **argv, args *a) {
    int i;
    fpf_reporter_options ro;
    memset(a, 0, sizeof *a);
    fpf_post_defaults(&a->post_opt);
    fpf_reporter_defaults(&ro);
    a->post = FPF_SEGMENT_POST_DEFAULT;
    a->rep_method = (int)ro.method; a->rep_param = ro.param; a->infected_min_area = ro.min_positive_area;
    a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = a->threads < 1 ? 1 : a->threads > 64 ? 64 : a->threads;
    a->tile = 1024; a->overlap = -1; a->max_det = 0; a->max_props = 0;
    for (i = 1; i < argc; i++) {
        const char *k = argv[i], *v;
        const option *o = find_option(k);
        if (!o) usage_error("unknown option '%s'", k);
        if (!strcmp(k, "--help")) help();
        v = NULL;
        if (o->value) {
            if (i + 1 >= argc) usage_error("%s needs a value (%s)", k, o->value);
            v = argv[++i];
            if (!strncmp(v, "--", 2)) usage_error("%s needs a value (%s), got the option '%s'", k, o->value, v);
            if (!*v) usage_error("%s: empty value", k);
        }
        if (!strcmp(k, "--model")) a->model = v;
        else if (!strcmp(k, "--nucleus-model")) a->nucleus_model = v;
        else if (!strcmp(k, "--nucleus")) a->nucleus = v;
        else if (!strcmp(k, "--cell")) a->cell = v;
        else if (!strcmp(k, "--out")) a->out = v;
        else if (!strcmp(k, "--batch")) a->batch = v;
        else if (!strcmp(k, "--resume")) a->resume = 1;
        else if (!strcmp(k, "--threads")) a->threads = (int)parse_int(k, v, 1, 64);
        else if (!strcmp(k, "--isa")) {
            for (a->isa = 0; a->isa <= FPF_ISA_NEON && strcmp(v, fpf_isa_name((fpf_isa)a->isa)); a->isa++) {}
            if (a->isa > FPF_ISA_NEON) usage_error("--isa %s: must be auto, scalar, avx2, avx512 or neon", v);
            if (!fpf_isa_supported((fpf_isa)a->isa) && a->isa) die("--isa %s: this CPU or build cannot run it", v);
        }
        else if (!strcmp(k, "--int8-isa")) {
            for (a->int8_isa = 0; a->int8_isa <= FPF_QISA_AMX && strcmp(v, fpf_qisa_name((fpf_qisa)a->int8_isa)); a->int8_isa++) {}
            if (a->int8_isa > FPF_QISA_AMX)
                usage_error("--int8-isa %s: must be auto, scalar, avx2, avxvnni, avx512vnni, amx, neon or neondot", v);
            if (!fpf_qisa_supported((fpf_qisa)a->int8_isa) && a->int8_isa) die("--int8-isa %s: this CPU or build cannot run it", v);
        }
        else if (!strcmp(k, "--conv3x3")) {
            if (strcmp(v, "winograd") && strcmp(v, "direct")) usage_error("--conv3x3 %s: must be winograd or direct", v);
            a->conv3x3 = !strcmp(v, "direct") ? FPF_CONV3X3_DIRECT : FPF_CONV3X3_WINOGRAD;
        }
        else if (!strcmp(k, "--min-score")) a->min_score = parse_float(k, v, 0.0, 1, 1.0);
        else if (!strcmp(k, "--max-detections")) a->max_det = (int)parse_int(k, v, 1, 65535);
        else if (!strcmp(k, "--max-proposals")) a->max_props = (int)parse_int(k, v, 1, 65536);
        else if (!strcmp(k, "--max-memory")) a->max_memory_mb = (int)parse_int(k, v, 1, (long)(FPF_MAX_WORKSPACE_BYTES >> 20));
        else if (!strcmp(k, "--tile")) {
            a->tile = (int)parse_int(k, v, 0, 8192);
            if (a->tile && a->tile < 256) usage_error("--tile %s: must be 0 (no tiling) or between 256 and 8192", v);
        }
        else if (!strcmp(k, "--overlap")) a->overlap = (int)parse_int(k, v, 0, 4096);
        else if (!strcmp(k, "--scale")) a->scale = parse_float(k, v, 0.05, 0, 20.0);
        else if (!strcmp(k, "--object-diameter") && !strcmp(v, "auto")) a->diameter_auto = 1;
        else if (!strcmp(k, "--object-diameter")) a->diameter = parse_float(k, v, 1.0, 0, 10000.0);
        else if (!strcmp(k, "--model-diameter")) a->model_diameter = parse_float(k, v, 1.0, 0, 10000.0);
        else if (!strcmp(k, "--cell-page")) a->cell_page = (int)parse_int(k, v, 0, 1000000);
        else if (!strcmp(k, "--cell-sample")) { a->cell_sample = (int)parse_int(k, v, 0, 255); a->cell_sample_set = 1; }
        else if (!strcmp(k, "--nucleus-page")) a->nuc_page = (int)parse_int(k, v, 0, 1000000);
        else if (!strcmp(k, "--nucleus-sample")) { a->nuc_sample = (int)parse_int(k, v, 0, 255); a->nuc_sample_set = 1; }
        else if (!strcmp(k, "--norm16")) {
            char extra;
            if (!strcmp(v, "percentile")) a->norm16 = FPF_NORM16_PERCENTILE;
            else if (!strcmp(v, "none")) a->norm16 = FPF_NORM16_NONE;
            else if (sscanf(v, "fixed:%f:%f%c", &a->lo, &a->hi, &extra) == 2 && isfinite(a->lo) && isfinite(a->hi) &&
                     a->hi > a->lo && a->lo >= 0 && a->hi <= 65535) a->norm16 = FPF_NORM16_FIXED;
            else usage_error("--norm16 %s: must be percentile, none or fixed:LO:HI with 0 <= LO < HI <= 65535", v);
        }
        else if (!strcmp(k, "--reporter")) a->reporter = v;
        else if (!strcmp(k, "--reporter-page")) a->rep_page = (int)parse_int(k, v, 0, 1000000);
        else if (!strcmp(k, "--reporter-sample")) { a->rep_sample = (int)parse_int(k, v, 0, 255); a->rep_sample_set = 1; }
        else if (!strcmp(k, "--reporter-threshold")) {
            char extra;
            if (!strcmp(v, "otsu")) a->rep_method = FPF_THRESHOLD_OTSU;
            else if (sscanf(v, "robust:%lf%c", &a->rep_param, &extra) == 1 && isfinite(a->rep_param) && a->rep_param >= 0)
                a->rep_method = FPF_THRESHOLD_ROBUST;
            else if (sscanf(v, "fixed:%lf%c", &a->rep_param, &extra) == 1 && isfinite(a->rep_param)) a->rep_method = FPF_THRESHOLD_FIXED;
            else usage_error("--reporter-threshold %s: must be robust:K (K >= 0), otsu or fixed:T", v);
        }
        else if (!strcmp(k, "--infected-min-area")) a->infected_min_area = parse_int(k, v, 1, LONG_MAX);
        else if (!strcmp(k, "--post")) {          /* on = all three steps; or the steps to run, e.g. 13 */
            const char *q;
            a->post = !strcmp(v, "on") ? 7 : 0;
            if (strcmp(v, "on") && strcmp(v, "off"))
                for (q = v; *q; q++) {
                    if (*q < '1' || *q > '3') usage_error("--post %s: must be on, off, or the steps to run (for example 13)", v);
                    a->post |= 1 << (*q - '1');
                }
        }
        else if (!strcmp(k, "--post-set")) parse_post_set(&a->post_opt, v);
        else if (!strcmp(k, "--pixel-size")) a->pixel_size = parse_float(k, v, 0.0, 1, 1e6);
        else if (!strcmp(k, "--coco")) a->coco = 1;
        else if (!strcmp(k, "--overlay")) a->overlay = 1;
        else if (!strcmp(k, "--drop-padding")) a->drop_padding = 1;
        else if (!strcmp(k, "--quiet")) a->quiet = 1;
    }
    if (!a->model) usage_error("--model is required");
    if (!a->out) usage_error("--out is required");
    if (a->scale && (a->diameter || a->diameter_auto)) usage_error("give --scale or --object-diameter, not both");
    if (a->batch && (a->nucleus || a->cell || a->reporter))
        usage_error("--batch takes the images from the manifest; drop --nucleus, --cell and --reporter");
    if (a->reporter && !strchr(a->reporter, '*') != !((a->nucleus && strchr(a->nucleus, '*')) || (a->cell && strchr(a->cell, '*'))))
        usage_error("--reporter is a pattern exactly when --nucleus/--cell are");
    if (a->resume && !a->batch && !(a->nucleus && strchr(a->nucleus, '*')) && !(a->cell && strchr(a->cell, '*')))
        usage_error("--resume applies to batches (--batch or image patterns)");
}

/* ------------------------------------------------------------------ the list of images */

typedef fpfm_job job;   /* the list of images: examples/fpf_manifest.h */
typedef fpfm_jobs jobs;

static job *add_job(jobs *js) {
    job *j = fpfm_add(js);
    if (!j && js->n >= FPFM_MAX_ROWS) die("more than %d images in one batch", FPFM_MAX_ROWS);
    if (!j) die("out of memory for the list of images");
    return j;
}

static void read_manifest(const char *path, jobs *js) {
    FILE *f = fopen(path, "r");
    char err[FPFM_LINE + 512];
    if (!f) die("%s: cannot open the manifest (%s)", path, strerror(errno));
    if (fpfm_read(f, path, js, warn, err, sizeof err)) die("%s", err);
    fclose(f);
}

/* The reporter of each image: rep_pattern with its '*' replaced by the image's id. */
static void reporter_jobs(const char *rep_pattern, jobs *js) {
    const char *star = strchr(rep_pattern, '*');
    int i;
    if (strchr(star + 1, '*') || strpbrk(rep_pattern, "?["))
        die("%s: a pattern needs exactly one '*' (the shared part of the paired file names) and no ? or [", rep_pattern);
    for (i = 0; i < js->n; i++)
        if (!fpfm_fmt(js->j[i].reporter, PATH_LEN, "%.*s%s%s", (int)(star - rep_pattern), rep_pattern, js->j[i].id, star + 1))
            fpfm_fmt(js->j[i].error, sizeof js->j[i].error, "the reporter path for '%s' is too long", js->j[i].id);
}

static void glob_jobs(const char *nuc_pattern, const char *cell_pattern, jobs *js) {
    const char *pats[2] = {nuc_pattern, cell_pattern};
    glob_t g[2];
    int k;
    size_t i, j;
    memset(g, 0, sizeof g);
    for (k = 0; k < 2; k++) {
        if (!pats[k]) continue;
        if (strchr(pats[k], '*') != strrchr(pats[k], '*') || !strchr(pats[k], '*') || strpbrk(pats[k], "?["))
            die("%s: a pattern needs exactly one '*' (the shared part of the paired file names) and no ? or [", pats[k]);
        if (glob(pats[k], 0, NULL, &g[k]) != 0 || !g[k].gl_pathc) die("%s: no file matches this pattern", pats[k]);
    }
    k = pats[0] ? 0 : 1;
    for (i = 0; i < g[k].gl_pathc; i++) {
        job *jb = add_job(js);
        char stem[PATH_LEN];
        fpfm_pattern_stem(pats[k], g[k].gl_pathv[i], stem, sizeof stem);
        fpfm_fmt(jb->id, sizeof jb->id, "%s", stem);
        fpfm_fmt(k ? jb->cell : jb->nucleus, PATH_LEN, "%s", g[k].gl_pathv[i]);
        if (!fpfm_safe_id(jb->id)) fpfm_fmt(jb->error, sizeof jb->error, "'%s' cannot name an output folder", jb->id);
        if (k == 0 && pats[1]) {
            for (j = 0; j < g[1].gl_pathc; j++) {
                char s2[PATH_LEN];
                if (fpfm_pattern_stem(pats[1], g[1].gl_pathv[j], s2, sizeof s2) && !strcmp(s2, stem)) {
                    fpfm_fmt(jb->cell, PATH_LEN, "%s", g[1].gl_pathv[j]);
                    break;
                }
            }
            if (!jb->cell[0]) fpfm_fmt(jb->error, sizeof jb->error, "no cell image matches %s for '%s'", pats[1], stem);
        }
    }
    if (pats[0] && pats[1])                              /* cell images without a nucleus image */
        for (j = 0; j < g[1].gl_pathc; j++) {
            char s2[PATH_LEN];
            int found = 0;
            fpfm_pattern_stem(pats[1], g[1].gl_pathv[j], s2, sizeof s2);
            for (i = 0; i < (size_t)js->n && !found; i++) found = !strcmp(js->j[i].id, s2);
            if (!found) {
                job *jb = add_job(js);
                fpfm_fmt(jb->id, sizeof jb->id, "%s", s2);
                fpfm_fmt(jb->cell, PATH_LEN, "%s", g[1].gl_pathv[j]);
                fpfm_fmt(jb->error, sizeof jb->error, "no nucleus image matches %s for '%s'", pats[0], s2);
            }
        }
    globfree(&g[0]); if (pats[1]) globfree(&g[1]);
}

/* ------------------------------------------------------------------ folders and the all-or-nothing commit */

/* mkdir -p; the folders it made are remembered (most 32) so that a failed run can take them away. */
typedef struct made_dirs { char path[32][PATH_LEN]; int n; } made_dirs;

static int mkdir_p(const char *dir, made_dirs *made, char *err, size_t n) {
    char p[PATH_LEN];
    size_t i, len;
    struct stat st;
    fpfm_fmt(p, sizeof p, "%s", dir);
    len = strlen(p);
    for (i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        p[i] = 0;
        if (stat(p, &st) != 0) {
            if (mkdir(p, 0777) != 0) { fpfm_fmt(err, n, "%s: cannot create folder (%s)", p, strerror(errno)); return -1; }
            if (made && made->n < 32) fpfm_fmt(made->path[made->n++], PATH_LEN, "%s", p);
        } else if (!S_ISDIR(st.st_mode)) {
            fpfm_fmt(err, n, "%s exists and is not a folder", p);
            return -1;
        }
        if (i < len) p[i] = '/';
    }
    return 0;
}

static void unmake_dirs(made_dirs *made) {
    while (made->n > 0) rmdir(made->path[--made->n]); /* only if empty */
}

/* The names fpf_segment may write into an image folder (stale ones are removed on success). */
static const char *known_outputs[] = {"cells.tif", "cells.csv", "nuclei.tif", "nuclei.csv", "image.csv", "cells_coco.json",
                                      "nuclei_coco.json", "overlay.png", MARKER};
#define N_KNOWN (int)(sizeof known_outputs / sizeof known_outputs[0])

typedef struct outset { char dir[PATH_LEN], tmp[PATH_LEN]; char name[16][64]; int n; } outset;

/* Removes the temporary folders a killed run left in dir. */
static void sweep_tmp(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, ".fpf_tmp.", 9)) {
            char p[PATH_LEN], q[PATH_LEN];
            DIR *d2;
            struct dirent *e2;
            fpfm_fmt(p, sizeof p, "%s/%s", dir, e->d_name);
            if ((d2 = opendir(p))) {
                while ((e2 = readdir(d2)))
                    if (e2->d_name[0] != '.') { fpfm_fmt(q, sizeof q, "%s/%s", p, e2->d_name); remove(q); }
                closedir(d2);
            }
            rmdir(p);
        }
    closedir(d);
}

static int outset_begin(outset *o, const char *dir, char *err, size_t n) {
    memset(o, 0, sizeof *o);
    fpfm_fmt(o->dir, sizeof o->dir, "%s", dir);
    sweep_tmp(dir);
    fpfm_fmt(o->tmp, sizeof o->tmp, "%s/.fpf_tmp.XXXXXX", dir);
    if (!mkdtemp(o->tmp)) { fpfm_fmt(err, n, "%s: cannot write here (%s)", dir, strerror(errno)); return -1; }
    return 0;
}

static int write_all(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* Writes one output into the temporary folder; the data is not kept. */
static int outset_add(outset *o, const char *name, const void *data, size_t size, char *err, size_t n) {
    char p[PATH_LEN];
    fpfm_fmt(p, sizeof p, "%s/%s", o->tmp, name);
    if (write_all(p, data, size) != 0) { fpfm_fmt(err, n, "%s/%s: cannot write (%s)", o->dir, name, strerror(errno)); return -1; }
    fpfm_fmt(o->name[o->n++], 64, "%s", name);
    return 0;
}

static void outset_abort(outset *o) {
    int i;
    char p[PATH_LEN];
    for (i = 0; i < o->n; i++) { fpfm_fmt(p, sizeof p, "%s/%s", o->tmp, o->name[i]); remove(p); }
    if (o->tmp[0]) rmdir(o->tmp);
    o->tmp[0] = 0;
}

static int in_set(const outset *o, const char *name) {
    int i;
    for (i = 0; i < o->n; i++) if (!strcmp(o->name[i], name)) return 1;
    return 0;
}

/* All or nothing. 1: every target must be absent or a plain file. 2: the earlier files (this
   set's names and stale outputs) move into the temporary folder. 3: the new files move into
   place, the marker last. Any failure undoes 2 and 3, so the folder holds the earlier run again. */
static int outset_commit(outset *o, int quiet, char *err, size_t n) {
    char from[PATH_LEN], to[PATH_LEN], stale[256] = "";
    int moved_old[N_KNOWN], placed = 0, i, k;
    struct stat st;
    for (k = 0; k < N_KNOWN; k++) {
        fpfm_fmt(to, sizeof to, "%s/%s", o->dir, known_outputs[k]);
        moved_old[k] = 0;
        if (lstat(to, &st) == 0 && !S_ISREG(st.st_mode)) {
            fpfm_fmt(err, n, "%s exists and is not a plain file; move it away and run again", to);
            outset_abort(o);
            return -1;
        }
    }
    for (k = 0; k < N_KNOWN; k++) {                         /* 2: earlier files aside */
        fpfm_fmt(to, sizeof to, "%s/%s", o->dir, known_outputs[k]);
        fpfm_fmt(from, sizeof from, "%s/old.%s", o->tmp, known_outputs[k]);
        if (lstat(to, &st) != 0) continue;
        if (rename(to, from) != 0) { fpfm_fmt(err, n, "%s: cannot replace (%s)", to, strerror(errno)); goto undo; }
        moved_old[k] = 1;
        if (!in_set(o, known_outputs[k]) && strlen(stale) + strlen(known_outputs[k]) + 3 < sizeof stale)
            fpfm_fmt(stale + strlen(stale), sizeof stale - strlen(stale), "%s%s", stale[0] ? ", " : "", known_outputs[k]);
    }
    for (placed = 0; placed < o->n; placed++) {             /* 3: the new set in (the marker is last) */
        fpfm_fmt(from, sizeof from, "%s/%s", o->tmp, o->name[placed]);
        fpfm_fmt(to, sizeof to, "%s/%s", o->dir, o->name[placed]);
        if (rename(from, to) != 0) { fpfm_fmt(err, n, "%s: cannot write (%s)", to, strerror(errno)); goto undo; }
    }
    for (k = 0; k < N_KNOWN; k++)
        if (moved_old[k]) { fpfm_fmt(from, sizeof from, "%s/old.%s", o->tmp, known_outputs[k]); remove(from); }
    rmdir(o->tmp);
    o->tmp[0] = 0;
    if (stale[0] && !quiet) fprintf(stderr, "fpf_segment: note: removed %s in %s, left by an earlier run and not written by this one\n", stale, o->dir);
    return 0;
undo:
    for (i = 0; i < placed; i++) { fpfm_fmt(to, sizeof to, "%s/%s", o->dir, o->name[i]); remove(to); }
    for (k = 0; k < N_KNOWN; k++)
        if (moved_old[k]) {
            fpfm_fmt(from, sizeof from, "%s/old.%s", o->tmp, known_outputs[k]);
            fpfm_fmt(to, sizeof to, "%s/%s", o->dir, known_outputs[k]);
            rename(from, to);
        }
    outset_abort(o);
    return -1;
}

/* ------------------------------------------------------------------ progress of one image's stages */

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
    struct stat st;
    fpf_result r;
    if (stat(path, &st) != 0) die("%s: cannot open the model (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) die("%s: is a folder, not a .fpf model file", path);
    r = fpf_model_load_file(path, NULL, &m, msg, sizeof msg);
    if (r != FPF_OK) die("%s: %s (%s)", path, msg[0] ? msg : fpf_result_string(r), fpf_result_string(r));
    return m;
}

/* Reads page/sample of path as an 8- or 16-bit image; an RGB file needs its sample named. */
static int load_image(const char *path, const char *which, int page, int sample, int sample_set, fpfi_image *keep,
                      fpf_image *out, char *err, size_t n) {
    char e[256];
    fpfi_info info;
    struct stat st;
    memset(keep, 0, sizeof *keep);
    if (stat(path, &st) != 0) { fpfm_fmt(err, n, "%s: cannot open the %s image (%s)", path, which, strerror(errno)); return -1; }
    if (S_ISDIR(st.st_mode)) { fpfm_fmt(err, n, "%s: is a folder, not a %s image", path, which); return -1; }
    if (fpfi_info_read(path, &info, e, sizeof e) != 0) { fpfm_fmt(err, n, "%s: %s", path, e); return -1; }
    if (page >= info.npages) {
        fpfm_fmt(err, n, "%s: has %d page(s); --%s-page %d does not exist", path, info.npages, which, page);
        fpfi_info_free(&info); return -1;
    }
    if (info.pages[page].samples > 1 && !sample_set) {
        fpfm_fmt(err, n, "%s: has %d samples per pixel (RGB or multichannel); choose one with --%s-sample 0..%d",
                 path, info.pages[page].samples, which, info.pages[page].samples - 1);
        fpfi_info_free(&info); return -1;
    }
    if (sample >= info.pages[page].samples) {
        fpfm_fmt(err, n, "%s: has %d sample(s) per pixel; --%s-sample %d does not exist", path, info.pages[page].samples, which, sample);
        fpfi_info_free(&info); return -1;
    }
    fpfi_info_free(&info);
    if (fpfi_read(path, page, sample, keep, e, sizeof e) != 0) { fpfm_fmt(err, n, "%s: %s", path, e); return -1; }
    if (keep->type == FPFI_U8) *out = fpf_image_u8((const uint8_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w);
    else if (keep->type == FPFI_U16) *out = fpf_image_u16((const uint16_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w * 2);
    else {
        fpfm_fmt(err, n, "%s: %s samples are not supported; convert to 8 or 16-bit unsigned", path, fpfi_type_name(keep->type));
        fpfi_free(keep); return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ outputs */

static double raw(const fpf_image *im, int y, int x) {
    const uint8_t *row = (const uint8_t *)im->pixels + (size_t)y * im->stride;
    return im->bits == 16 ? ((const uint16_t *)(const void *)row)[x] : row[x];
}

static unsigned char to8(const fpf_image *im, int y, int x, double lo, double k) {
    double v = (raw(im, y, x) - lo) * k;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

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

struct objects;
static void mark_infected(unsigned char *rgb, const uint16_t *cl, int h, int w, const struct objects *c);

/* overlay.png: cell outlines yellow, nucleus outlines cyan; infected cells (with a reporter) magenta with a +. */
static int add_overlay(outset *o, const fpf_image *cell, const fpf_image *nuc, const uint16_t *cl, const uint16_t *nl,
                       int h, int w, const struct objects *c, char *err, size_t n) {
    unsigned char *rgb = (unsigned char *)calloc((size_t)h * w * 3, 1), *png = NULL;
    double clo = 0, ck = 1, nlo = 0, nk = 1;
    size_t size = 0;
    char e[256];
    int y, x, rc;
    if (!rgb) { fpfm_fmt(err, n, "out of memory for overlay.png"); return -1; }
    if (cell) range(cell, &clo, &ck);
    if (nuc) range(nuc, &nlo, &nk);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            if (cell) p[0] = to8(cell, y, x, clo, ck);
            if (nuc) p[2] = to8(nuc, y, x, nlo, nk);
            if (cl && edge(cl, h, w, y, x)) { p[0] = 255; p[1] = 255; p[2] = 0; }
            if (nl && edge(nl, h, w, y, x)) { p[0] = 0; p[1] = 255; p[2] = 255; }
        }
    if (cl && c) mark_infected(rgb, cl, h, w, c);
    rc = fpfi_encode_png_rgb(w, h, rgb, &png, &size, e, sizeof e);
    free(rgb);
    if (rc != 0) { fpfm_fmt(err, n, "overlay.png: %s", e); return -1; }
    rc = outset_add(o, "overlay.png", png, size, err, n);
    free(png);
    return rc;
}

/* ------------------------------------------------------------------ one image */

typedef struct engine {
    const args *a;
    fpf_model *m, *nm;
    fpf_session *s;
    fpf_tiler *t;
    int sh, sw;          /* the session's size */
    float scale;         /* this image's; tscale: the tiler's */
    float tscale, model_diameter;
    int main_is_nuclei;
    double load_s;       /* seconds the models took to load */
    progress pr;
} engine;

/* How many layers of m are int8 (0 for an fp32 model). */
static int int8_layers(const fpf_model *m) {
    fpf_layer_info info[FPF_MAX_LAYERS];
    int i, n = m ? fpf_model_layers(m, info, FPF_MAX_LAYERS) : 0, n8 = 0;
    for (i = 0; i < n && i < FPF_MAX_LAYERS; i++) n8 += info[i].bits == 8;
    return n8;
}

typedef struct result {
    int n_main, n_nuclei, n_infected, over_main, over_nuclei, tiles;
    double seconds;
    float diameter;      /* --object-diameter auto: the first pass's median diameter (0 = not measured) */
} result;

/* ------------------------------------------------------------------ labels, post-processing, measurements */

typedef struct objects {
    const char *name;          /* "cells" or "nuclei" */
    uint16_t *labels;          /* [h][w], 0 = background */
    int n;
    float *score;              /* capacity + 1: post-processing adds cells */
    fpf_object *obj;
    int *parent, *children, *infected;
    long *positive;
} objects;

typedef struct image_sum {     /* image.csv beside the counts */
    fpf_post_stats st;
    double pixel_size, rep_threshold;
    int n_channels, n_infected, post;
} image_sum;

static void objects_free(objects *ob) {
    free(ob->labels); free(ob->score); free(ob->obj); free(ob->parent); free(ob->children); free(ob->infected);
    free(ob->positive);
    memset(ob, 0, sizeof *ob);
}

static int make_labels(objects *ob, const char *name, const fpf_instance *inst, int n, int h, int w, int capacity,
                       char *err, size_t en) {
    int i;
    ob->name = name;
    if (n > 65535) { fpfm_fmt(err, en, "%d %s do not fit a 16-bit label image (most 65535)", n, name); return -1; }
    ob->labels = (uint16_t *)calloc((size_t)h * w, sizeof(uint16_t));
    ob->score = (float *)calloc((size_t)capacity + 1, sizeof(float));
    if (!ob->labels || !ob->score) { fpfm_fmt(err, en, "out of memory for the %s label image", name); return -1; }
    if (fpf_label_image(inst, n, h, w, ob->labels, (size_t)w) != FPF_OK) { fpfm_fmt(err, en, "cannot build the %s label image", name); return -1; }
    ob->n = n;
    for (i = 0; i < n; i++) ob->score[i] = inst[i].score;
    return 0;
}

static int measure(objects *ob, int h, int w, const fpf_image *const *ch, int n_ch, char *err, size_t en) {
    size_t ss = fpf_post_scratch_size(h, w, ob->n, 0);
    void *scratch = malloc(ss ? ss : 1);
    int rc = -1;
    ob->obj = (fpf_object *)calloc((size_t)ob->n + 1, sizeof(fpf_object));
    if (!scratch || !ob->obj) fpfm_fmt(err, en, "out of memory measuring the %s", ob->name);
    else if (fpf_measure_objects(ob->labels, (size_t)w, h, w, ob->n, ch, n_ch, ob->obj, scratch, ss) != FPF_OK)
        fpfm_fmt(err, en, "cannot measure the %s", ob->name);
    else rc = 0;
    free(scratch);
    return rc;
}

/* The pixel size in µm: --pixel-size, else the cell (or nucleus) TIFF's tags, else 0 (unknown). */
static double pixel_size(const args *a, const job *j) {
    const char *path = j->cell[0] ? j->cell : j->nucleus;
    unsigned char *d = NULL;
    size_t n = 0;
    char e[256];
    double ps = 0;
    if (a->pixel_size > 0) return a->pixel_size;
    if (path[0] && fpfi_load_file(path, &d, &n, e, sizeof e) == 0) ps = fpfr_tiff_pixel_size(d, n);
    free(d);
    return ps;
}

/* The cells post-processed (--post), both object sets measured on the full-size (stitched) label
   images, nuclei linked to their cells, and the reporter read out per cell. */
static int build_results(engine *e, const job *j, const fpf_input *in, const fpf_image *rep, const fpf_output *out,
                         objects *c, objects *nu, image_sum *is, char *err, size_t n) {
    const args *a = e->a;
    int h = out->height, w = out->width, have_nuc = !e->main_is_nuclei && e->nm != NULL, i;
    long capacity = (long)out->n_cells + (have_nuc ? out->n_nuclei : 0) +
                    (long)h * w / (a->post_opt.min_region_area > 1 ? a->post_opt.min_region_area : 1);
    const fpf_image *ch[3];
    memset(c, 0, sizeof *c); memset(nu, 0, sizeof *nu); memset(is, 0, sizeof *is);
    if (capacity > 65535) capacity = 65535;          /* room for every cell post-processing can make */
    if (capacity < out->n_cells) capacity = out->n_cells;
    is->n_channels = rep ? 3 : 2;
    is->pixel_size = pixel_size(a, j);
    is->n_infected = -1;
    ch[0] = in->nucleus.pixels ? &in->nucleus : NULL; ch[1] = in->cell.pixels ? &in->cell : NULL; ch[2] = rep;
    if (make_labels(c, e->main_is_nuclei ? "nuclei" : "cells", out->cells, out->n_cells, h, w, (int)capacity, err, n)) return -1;
    if (have_nuc && make_labels(nu, "nuclei", out->nuclei, out->n_nuclei, h, w, out->n_nuclei, err, n)) return -1;
    if (a->post && !e->main_is_nuclei) {
        fpf_post_options po = a->post_opt;
        size_t ss = fpf_post_scratch_size(h, w, (int)capacity, nu->n);
        void *scratch = malloc(ss ? ss : 1);
        double t0 = now_s();
        fpf_result r;
        if (!scratch) { fpfm_fmt(err, n, "out of memory for post-processing"); return -1; }
        po.merge_shared_nuclei = a->post & 1; po.missed_regions = (a->post >> 1) & 1; po.uncovered_nuclei = (a->post >> 2) & 1;
        r = fpf_postprocess(c->labels, (size_t)w, h, w, &c->n, (int)capacity, c->score, have_nuc ? nu->labels : NULL, nu->n,
                            ch[1], &po, scratch, ss, &is->st);
        free(scratch);
        if (r != FPF_OK) { fpfm_fmt(err, n, "post-processing failed: %s", fpf_result_string(r)); return -1; }
        is->post = a->post;
        if (!e->pr.quiet)
            fprintf(stderr, "fpf_segment: post-processing in %.3f s: %d merged, %d regions added, %d discarded, %d new; "
                            "%d nuclei enlarged a cell, %d became cells -> %d cells\n", now_s() - t0, is->st.merged,
                    is->st.attached, is->st.discarded, is->st.new_regions, is->st.enlarged, is->st.new_nuclei, c->n);
    }
    if (measure(c, h, w, ch, is->n_channels, err, n)) return -1;
    if (have_nuc) {
        long *ov = (long *)calloc(((size_t)nu->n + 1) * ((size_t)c->n + 1), sizeof(long));
        nu->parent = (int *)calloc((size_t)nu->n + 1, sizeof(int));
        c->children = (int *)calloc((size_t)c->n + 1, sizeof(int));
        if (!ov || !nu->parent || !c->children) { free(ov); fpfm_fmt(err, n, "out of memory linking nuclei to cells"); return -1; }
        fpf_assign_nuclei(nu->labels, c->labels, (size_t)w, h, w, nu->n, c->n, nu->parent, ov);
        fpf_count_children(nu->parent, nu->n, c->n, c->children);
        free(ov);
        if (measure(nu, h, w, ch, is->n_channels, err, n)) return -1;
    }
    if (rep) {
        fpf_reporter_options ro;
        uint32_t *hist = (uint32_t *)calloc(65536, sizeof(uint32_t));
        ro.method = (fpf_threshold_method)a->rep_method; ro.param = a->rep_param; ro.min_positive_area = a->infected_min_area;
        c->positive = (long *)calloc((size_t)c->n + 1, sizeof(long));
        c->infected = (int *)calloc((size_t)c->n + 1, sizeof(int));
        if (!hist || !c->positive || !c->infected) { free(hist); fpfm_fmt(err, n, "out of memory for the reporter readout"); return -1; }
        if (fpf_reporter_readout(c->labels, (size_t)w, h, w, c->n, rep, &ro, hist, 65536 * sizeof(uint32_t), &is->rep_threshold,
                                 c->positive, c->infected) != FPF_OK) {
            free(hist); fpfm_fmt(err, n, "the reporter readout failed"); return -1;
        }
        free(hist);
        for (is->n_infected = 0, i = 0; i < c->n; i++) is->n_infected += c->infected[i];
    }
    return 0;
}

static void mark_infected(unsigned char *rgb, const uint16_t *cl, int h, int w, const struct objects *c) {
    if (c->infected) fpfr_mark_infected(rgb, cl, w, h, c->obj, c->infected, c->n);
}

static int add_buf(outset *o, const char *name, fpfr_buf *b, char *err, size_t n) {
    int rc = -1;
    if (b->oom) fpfm_fmt(err, n, "out of memory for %s", name);
    else rc = outset_add(o, name, b->p, b->len, err, n);
    free(b->p);
    memset(b, 0, sizeof *b);
    return rc;
}

/* NAME.tif (labels, ImageJ metadata, pixel size), NAME.csv and with --coco NAME_coco.json. */
static int add_objects(outset *o, const args *a, const objects *ob, int h, int w, int n_ch, double ps, char *err, size_t n) {
    fpfr_buf b;
    fpfr_table t;
    char file[64];
    uint32_t *l32 = (uint32_t *)malloc((size_t)h * w * sizeof(uint32_t));
    size_t i;
    memset(&b, 0, sizeof b);
    if (!l32) { fpfm_fmt(err, n, "out of memory for %s.tif", ob->name); return -1; }
    for (i = 0; i < (size_t)h * w; i++) l32[i] = ob->labels[i];
    if (fpfr_label_tiff(l32, w, h, ps, &b) != 0) b.oom = 1;
    free(l32);
    fpfm_fmt(file, sizeof file, "%s.tif", ob->name);
    if (add_buf(o, file, &b, err, n)) return -1;
    memset(&t, 0, sizeof t);
    t.obj = ob->obj; t.n = ob->n; t.score = ob->score; t.n_channels = n_ch; t.pixel_size = ps;
    t.children = ob->children; t.parent = ob->parent; t.positive = ob->positive; t.infected = ob->infected;
    fpfr_objects_csv(&b, &t);
    fpfm_fmt(file, sizeof file, "%s.csv", ob->name);
    if (add_buf(o, file, &b, err, n)) return -1;
    if (a->coco) {
        fpfm_fmt(file, sizeof file, "%s_coco.json", ob->name);
        if (fpfr_coco(&b, ob->labels, w, h, ob->score, ob->n, 1) != 0) {
            free(b.p); fpfm_fmt(err, n, "cannot encode %s", file); return -1;
        }
        if (add_buf(o, file, &b, err, n)) return -1;
    }
    return 0;
}

/* image.csv: one row for the image (columns: examples/fpf_results.h). */
static int add_image_csv(outset *o, const engine *e, const job *j, const objects *c, const objects *nu,
                         const image_sum *is, char *err, size_t n) {
    fpfr_buf b;
    const char *q;
    memset(&b, 0, sizeof b);
    fpfr_printf(&b, "Image,Count_Cells,Count_Nuclei,Count_InfectedCells,InfectionRate,Threshold_Reporter,PixelSize_um,"
                    "Post,Post_MergedCells,Post_AttachedRegions,Post_DiscardedRegions,Post_NewCellsFromRegions,"
                    "Post_EnlargedByNuclei,Post_NewCellsFromNuclei,Threshold_Cell\n\"");
    for (q = j->cell[0] ? j->cell : j->nucleus; *q; q++)         /* the input file, quoted ("" for a quote) */
        if (*q == '"') fpfr_printf(&b, "\"\""); else fpfr_printf(&b, "%c", *q);
    fpfr_printf(&b, "\",%d,%d,", e->main_is_nuclei ? 0 : c->n, e->main_is_nuclei ? c->n : nu->n);
    if (is->n_infected >= 0)
        fpfr_printf(&b, "%d,%.6f,%.6g,", is->n_infected, c->n ? (double)is->n_infected / c->n : 0.0, is->rep_threshold);
    else fpfr_printf(&b, ",,,");
    fpfr_printf(&b, "%.6g,%d,%d,%d,%d,%d,%d,%d,%.6g\n", is->pixel_size, is->post, is->st.merged, is->st.attached,
                is->st.discarded, is->st.new_regions, is->st.enlarged, is->st.new_nuclei, is->st.threshold);
    return add_buf(o, "image.csv", &b, err, n);
}

/* The tiler of the session at e->scale (a new one when the scale changes: --object-diameter auto). */
static int engine_tiler(engine *e, char *err, size_t n) {
    fpf_tile_options to;
    fpf_result r;
    fpf_tiler_free(e->t); e->t = NULL;
    memset(&to, 0, sizeof to);
    to.overlap = e->a->overlap;
    to.scale = e->scale;
    if ((r = fpf_tiler_init(e->s, &to, &e->t)) != FPF_OK) {
        fpfm_fmt(err, n, "cannot set up tiling: %s", fpf_session_message(e->s)[0] ? fpf_session_message(e->s) : fpf_result_string(r));
        return -1;
    }
    e->tscale = e->scale;
    return 0;
}

/* A session of min(tile, image) on each side; kept while the images keep that size. */
static int engine_ready(engine *e, int H, int W, char *err, size_t n) {
    const args *a = e->a;
    int Hs = (int)floor(H * (double)e->scale + 0.5), Ws = (int)floor(W * (double)e->scale + 0.5);
    int sh = a->tile && Hs > a->tile ? a->tile : Hs, sw = a->tile && Ws > a->tile ? a->tile : Ws;
    fpf_options opt;
    fpf_result r;
    char msg[256] = "";
    if (Hs > FPF_MAX_IMAGE_DIM || Ws > FPF_MAX_IMAGE_DIM) {
        fpfm_fmt(err, n, "%dx%d at scale %g is %dx%d, over the most this build takes (%d per side)", W, H, e->scale, Ws, Hs, FPF_MAX_IMAGE_DIM);
        return -1;
    }
    if (!a->tile && (Hs > 8192 || Ws > 8192))
        warn("%dx%d in one piece (--tile 0) needs a very large workspace; tiles bound the memory", Ws, Hs);
    if (e->s && e->sh == sh && e->sw == sw) return e->t && e->tscale == e->scale ? 0 : engine_tiler(e, err, n);
    fpf_tiler_free(e->t); fpf_session_free(e->s); e->t = NULL; e->s = NULL;
    memset(&opt, 0, sizeof opt);
    opt.n_threads = a->threads;
    opt.isa = a->isa; opt.int8_isa = a->int8_isa; opt.conv3x3 = a->conv3x3;
    opt.norm16 = a->norm16; opt.norm16_lo = a->lo; opt.norm16_hi = a->hi;
    opt.det_min_confidence = a->min_score; opt.drop_padding_detections = a->drop_padding;
    opt.det_max_instances = a->max_det; opt.max_proposals = a->max_props;
    e->pr.quiet = a->quiet || a->batch || (a->nucleus && strchr(a->nucleus, '*')) || (a->cell && strchr(a->cell, '*'));
    opt.stage = on_stage; opt.stage_user = &e->pr;
    opt.max_workspace_bytes = (size_t)a->max_memory_mb << 20;
    opt.init_msg = msg; opt.init_msg_size = sizeof msg;
    if ((r = fpf_session_init(e->m, e->nm, sh, sw, &opt, &e->s)) != FPF_OK) {
        if (r == FPF_ERR_OUT_OF_MEMORY)
            fpfm_fmt(err, n, "cannot set up the network for %dx%d pixels: %s (try a smaller --tile%s)", sw, sh,
                 msg[0] ? msg : "not enough memory", a->max_memory_mb ? " or a larger --max-memory" : "");
        else
            fpfm_fmt(err, n, "cannot set up the network for %dx%d pixels: %s", sw, sh, fpf_result_string(r));
        return -1;
    }
    e->sh = sh; e->sw = sw;
    return engine_tiler(e, err, n);
}

static void warn_cap(const char *id, const char *what, int over, int max, int tiles) {
    warn("%s%s%d %s over the maximum of %d detections per %s were dropped; raise --max-detections "
         "(and --max-proposals) or use a smaller --tile", id ? id : "", id ? ": " : "", over, what, max,
         tiles > 1 ? "tile" : "image");
}

static int write_outputs(engine *e, const job *j, const fpf_input *in, const fpf_image *rep, const fpf_output *out,
                         const char *dir, result *res, char *err, size_t n);

/* --object-diameter auto, after the first pass at scale 1: the median diameter D of its detections (at
   least AUTO_MIN_OBJECTS, else the image keeps scale 1) sets e->scale = model diameter / D, clamped to
   0.25..4 and to FPF_MAX_IMAGE_DIM per side, and readies the engine for the second pass when that is
   more than 10 % off 1. Returns 1 when a second pass is due, 0 when not, -1 on an error. */
#define AUTO_MIN_OBJECTS 3
static int auto_rescale(engine *e, const fpf_output *out, int H, int W, result *res, char *err, size_t n) {
    float *scratch, d, s;
    if (out->n_cells < AUTO_MIN_OBJECTS) return 0;
    if (!(scratch = (float *)malloc((size_t)out->n_cells * sizeof *scratch))) {
        fpfm_fmt(err, n, "out of memory");
        return -1;
    }
    d = fpf_median_diameter(out->cells, out->n_cells, scratch);
    free(scratch);
    if (!(d > 0)) return 0;
    res->diameter = d;
    s = e->model_diameter / d;
    s = s < 0.25f ? 0.25f : s > 4.0f ? 4.0f : s;
    if (s * (float)(H > W ? H : W) > (float)FPF_MAX_IMAGE_DIM) s = (float)FPF_MAX_IMAGE_DIM / (float)(H > W ? H : W);
    if (fabsf(logf(s)) <= logf(1.1f)) return 0;
    e->scale = s;
    if (!e->pr.quiet) fprintf(stderr, "fpf_segment: median object diameter %.1f px; second pass resampled by %.3g\n", d, s);
    return engine_ready(e, H, W, err, n) ? -1 : 1;
}

/* One pass of the network over the image's tiles. */
static int engine_run(engine *e, const fpf_input *in, const fpf_output **out, char *err, size_t n) {
    if (fpf_tiler_run(e->t, in, out) == FPF_OK) return 0;
    fpfm_fmt(err, n, "%s", fpf_session_message(e->s)[0] ? fpf_session_message(e->s) : "the network failed");
    return -1;
}

static int run_image(engine *e, const job *j, const char *dir, result *res, char *err, size_t n) {
    const args *a = e->a;
    fpfi_image ci, ni, ri;
    fpf_input in;
    fpf_image rep;
    const fpf_output *out;
    int rc = -1, H, W, need_cell, need_nuc, again = 0;
    double t0 = now_s();
    memset(&in, 0, sizeof in); memset(&ci, 0, sizeof ci); memset(&ni, 0, sizeof ni); memset(&ri, 0, sizeof ri);
    memset(&rep, 0, sizeof rep);
    memset(res, 0, sizeof *res);
    need_nuc = e->main_is_nuclei || e->nm || fpf_model_config(e->m)->variant >= FPF_VARIANT_WITH_NUCLEUS;
    need_cell = !e->main_is_nuclei;
    if (need_nuc && !j->nucleus[0]) { fpfm_fmt(err, n, "this model needs a nucleus image (--nucleus)"); return -1; }
    if (need_cell && !j->cell[0]) { fpfm_fmt(err, n, "this model needs a cell image (--cell)"); return -1; }
    if (j->cell[0] && need_cell && load_image(j->cell, "cell", a->cell_page, a->cell_sample, a->cell_sample_set, &ci, &in.cell, err, n)) goto done;
    if (j->nucleus[0] && need_nuc && load_image(j->nucleus, "nucleus", a->nuc_page, a->nuc_sample, a->nuc_sample_set, &ni, &in.nucleus, err, n)) goto done;
    if (in.cell.pixels && in.nucleus.pixels && (in.cell.width != in.nucleus.width || in.cell.height != in.nucleus.height)) {
        fpfm_fmt(err, n, "the nucleus image is %dx%d but the cell image is %dx%d; they must be the same size",
                 in.nucleus.width, in.nucleus.height, in.cell.width, in.cell.height);
        goto done;
    }
    H = in.cell.pixels ? in.cell.height : in.nucleus.height;
    W = in.cell.pixels ? in.cell.width : in.nucleus.width;
    if (j->reporter[0]) {
        if (e->main_is_nuclei) { fpfm_fmt(err, n, "a reporter is read per cell; this is a nucleus model"); goto done; }
        if (load_image(j->reporter, "reporter", a->rep_page, a->rep_sample, a->rep_sample_set, &ri, &rep, err, n)) goto done;
        if (rep.width != W || rep.height != H) {
            fpfm_fmt(err, n, "the reporter image is %dx%d but the other channels are %dx%d; they must be the same size",
                 rep.width, rep.height, W, H);
            goto done;
        }
    }
    if (a->diameter_auto) e->scale = 1.0f;
    if (engine_ready(e, H, W, err, n)) goto done;
    if (!e->pr.quiet) {
        char sc[48] = "", q8[48] = "";
        if (e->scale != 1.0f) fpfm_fmt(sc, sizeof sc, ", resampled by %g", e->scale);
        if (int8_layers(e->m) + int8_layers(e->nm))
            fpfm_fmt(q8, sizeof q8, " (int8 layers: %s)", fpf_qisa_name(fpf_session_qisa(e->s)));
        fprintf(stderr, "fpf_segment: %dx%d%s, %d thread(s), %s kernels%s, models loaded in %.2f s\n", W, H, sc,
                a->threads, fpf_isa_name(fpf_session_isa(e->s)), q8, e->load_s);
    }
    e->pr.t0 = now_s();
    if (engine_run(e, &in, &out, err, n)) goto done;
    if (a->diameter_auto && (again = auto_rescale(e, out, H, W, res, err, n)) < 0) goto done;
    if (again && engine_run(e, &in, &out, err, n)) goto done;
    res->n_main = out->n_cells; res->n_nuclei = out->n_nuclei;
    res->over_main = out->cells_over_max; res->over_nuclei = out->nuclei_over_max;
    res->tiles = fpf_tiler_tiles(e->t);
    if (res->over_main) warn_cap(a->batch ? j->id : NULL, e->main_is_nuclei ? "nuclei" : "cells", res->over_main, out->max_detections, res->tiles);
    if (res->over_nuclei) warn_cap(a->batch ? j->id : NULL, "nuclei", res->over_nuclei, out->max_detections, res->tiles);
    res->seconds = now_s() - t0;
    if (!a->batch) { fpf_session_free(e->s); e->s = NULL; } /* one image: its workspace is not needed for the
                                                                outputs (they live in the tiler) */
    rc = write_outputs(e, j, &in, rep.pixels ? &rep : NULL, out, dir, res, err, n);
done:
    fpfi_free(&ci); fpfi_free(&ni); fpfi_free(&ri);
    return rc;
}

/* Every output of one image, into dir, all or nothing (the marker names them and goes last). */
static int write_outputs(engine *e, const job *j, const fpf_input *in, const fpf_image *rep, const fpf_output *out,
                         const char *dir, result *res, char *err, size_t n) {
    const args *a = e->a;
    int h = out->height, w = out->width, rc = -1, i;
    char marker[4096];
    size_t len = 0;
    objects c, nu;
    outset o;
    made_dirs made;
    image_sum is;
    made.n = 0;
    memset(&o, 0, sizeof o);
    if (build_results(e, j, in, rep, out, &c, &nu, &is, err, n)) goto fail_early;
    res->n_main = c.n; res->n_nuclei = nu.labels ? nu.n : out->n_nuclei; res->n_infected = is.n_infected;
    if (mkdir_p(dir, &made, err, n)) goto fail_early;
    if (outset_begin(&o, dir, err, n)) { unmake_dirs(&made); goto fail_early; }
    if (add_objects(&o, a, &c, h, w, is.n_channels, is.pixel_size, err, n)) goto fail;
    if (nu.labels && add_objects(&o, a, &nu, h, w, is.n_channels, is.pixel_size, err, n)) goto fail;
    if (add_image_csv(&o, e, j, &c, &nu, &is, err, n)) goto fail;
    if (a->overlay && add_overlay(&o, in->cell.pixels ? &in->cell : NULL, in->nucleus.pixels ? &in->nucleus : NULL,
                                  e->main_is_nuclei ? NULL : c.labels, e->main_is_nuclei ? c.labels : nu.labels, h, w,
                                  &c, err, n)) goto fail;
    len = sapp(marker, sizeof marker, len, "fpf_segment %s\nmodel=%s\nnucleus_model=%s\nnucleus=%s\ncell=%s\nreporter=%s\n"
                            "scale=%g\ntiles=%d\npost=%d\ndetections=%d\n%s=%d\nnuclei_found=%d\n", fpf_version(), a->model,
                            a->nucleus_model ? a->nucleus_model : "", j->nucleus, j->cell, j->reporter, e->scale, res->tiles,
                            e->main_is_nuclei ? 0 : a->post, out->n_cells, e->main_is_nuclei ? "nuclei" : "cells", res->n_main,
                            res->n_nuclei);
    if (res->diameter) len = sapp(marker, sizeof marker, len, "measured_diameter=%g\n", res->diameter);
    if (rep) len = sapp(marker, sizeof marker, len, "infected=%d\n", res->n_infected);
    len = sapp(marker, sizeof marker, len, "over_max=%d\nfiles=", res->over_main + res->over_nuclei);
    for (i = 0; i < o.n; i++) len = sapp(marker, sizeof marker, len, "%s%s", i ? "," : "", o.name[i]);
    len = sapp(marker, sizeof marker, len, "\n");
    if (outset_add(&o, MARKER, marker, len, err, n)) goto fail;
    if (outset_commit(&o, a->quiet, err, n)) { unmake_dirs(&made); goto done; }
    rc = 0;
    goto done;
fail:
    outset_abort(&o);
    unmake_dirs(&made);
    goto done;
fail_early:
done:
    objects_free(&c); objects_free(&nu);
    return rc;
}

/* ------------------------------------------------------------------ a batch */

/* Complete: the marker exists and every file it names exists; res gets its counts. */
static int complete(const char *dir, char *summary, size_t n, result *res) {
    char p[PATH_LEN], line[2048];
    FILE *f;
    int ok = 0;
    fpfm_fmt(p, sizeof p, "%s/%s", dir, MARKER);
    if (!(f = fopen(p, "r"))) return 0;
    summary[0] = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        sscanf(line, "cells=%d", &res->n_main); sscanf(line, "nuclei=%d", &res->n_main);
        sscanf(line, "nuclei_found=%d", &res->n_nuclei); sscanf(line, "over_max=%d", &res->over_main);
        sscanf(line, "tiles=%d", &res->tiles); sscanf(line, "infected=%d", &res->n_infected);
        if (!strncmp(line, "infected=", 9) ||
            !strncmp(line, "cells=", 6) || !strncmp(line, "nuclei=", 7) || !strncmp(line, "nuclei_found=", 13) ||
            !strncmp(line, "over_max=", 9) || !strncmp(line, "tiles=", 6))
            fpfm_fmt(summary + strlen(summary), n - strlen(summary), "%s%s", summary[0] ? " " : "", line);
        if (!strncmp(line, "files=", 6)) {
            char *tok = line + 6, *next;
            ok = 1;
            for (; tok && *tok; tok = next) {
                struct stat st;
                next = strchr(tok, ',');
                if (next) *next++ = 0;
                fpfm_fmt(p, sizeof p, "%s/%s", dir, tok);
                if (stat(p, &st) != 0) ok = 0;
            }
        }
    }
    fclose(f);
    return ok;
}

static void csv_cell(char *dst, size_t n, const char *s) {
    size_t len = 0;
    if (len + 1 < n) dst[len++] = '"';
    for (; *s && len + 3 < n; s++) { if (*s == '"') dst[len++] = '"'; dst[len++] = *s; }
    dst[len++] = '"'; dst[len] = 0;
}

static void hms(double s, char *dst, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600) fpfm_fmt(dst, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else fpfm_fmt(dst, n, "%ld:%02ld", t / 60, t % 60);
}

/* summary.csv's infected column: the count, or empty without a reporter. */
static const char *infected_text(const result *res, char *dst, size_t n) {
    if (res->n_infected >= 0) fpfm_fmt(dst, n, "%d", res->n_infected); else dst[0] = 0;
    return dst;
}

static int run_batch(engine *e, jobs *js) {
    const args *a = e->a;
    size_t cap = 256 + (size_t)js->n * (3 * PATH_LEN + 640), slen = 0, flen = 0;
    char *summary = (char *)malloc(cap), *failed = (char *)malloc(cap), err[512], dir[PATH_LEN], q[3][PATH_LEN + 16];
    int i, n_failed = 0, n_done = 0, n_skipped = 0;
    double t0 = now_s();
    made_dirs made;
    made.n = 0;
    if (!summary || !failed) die("out of memory");
    if (mkdir_p(a->out, &made, err, sizeof err)) die("%s", err);
    slen = sapp(summary, cap, slen, "id,status,%s,nuclei,infected,over_max,tiles,seconds,error\n", e->main_is_nuclei ? "nuclei_main" : "cells");
    flen = sapp(failed, cap, flen, "id,nucleus,cell,error\n");
    for (i = 0; i < js->n; i++) {
        job *j = &js->j[i];
        result res;
        char prev[512], eta[32] = "", status[16];
        int rc;
        fpfm_fmt(dir, sizeof dir, "%s/%s", a->out, j->id);
        err[0] = 0;
        memset(&res, 0, sizeof res);
        res.n_infected = -1;
        if (j->error[0]) { fpfm_fmt(err, sizeof err, "%s", j->error); rc = -1; }
        else if (a->resume && complete(dir, prev, sizeof prev, &res)) {
            n_skipped++;
            if (!a->quiet) fprintf(stderr, "[%d/%d] %s: complete, skipped (%s)\n", i + 1, js->n, j->id, prev);
            csv_cell(q[0], sizeof q[0], j->id);
            slen = sapp(summary, cap, slen, "%s,skipped,%d,%d,%s,%d,%d,,\n", q[0], res.n_main, res.n_nuclei,
                        infected_text(&res, q[1], sizeof q[1]), res.over_main, res.tiles);
            continue;
        } else rc = run_image(e, j, dir, &res, err, sizeof err);
        fpfm_fmt(status, sizeof status, "%s", rc ? "failed" : "ok");
        csv_cell(q[0], sizeof q[0], j->id);
        if (rc) {
            n_failed++;
            fprintf(stderr, "fpf_segment: error: %s: %s (skipped; the batch goes on)\n", j->id, err);
            csv_cell(q[1], sizeof q[1], j->nucleus); csv_cell(q[2], sizeof q[2], j->cell);
            flen = sapp(failed, cap, flen, "%s,%s,%s,", q[0], q[1], q[2]);
            csv_cell(q[1], sizeof q[1], err);
            flen = sapp(failed, cap, flen, "%s\n", q[1]);
            slen = sapp(summary, cap, slen, "%s,failed,,,,,,,%s\n", q[0], q[1]);
        } else {
            n_done++;
            slen = sapp(summary, cap, slen, "%s,ok,%d,%d,%s,%d,%d,%.2f,\n", q[0], res.n_main, res.n_nuclei,
                        infected_text(&res, q[1], sizeof q[1]), res.over_main + res.over_nuclei, res.tiles, res.seconds);
        }
        if (!a->quiet) {
            double el = now_s() - t0, rate = (n_done + n_failed) / (el > 0 ? el : 1e-9);
            int left = js->n - i - 1;
            hms(left / (rate > 0 ? rate : 1e-9), eta, sizeof eta);
            if (rc) fprintf(stderr, "[%d/%d] %s: failed; %.2f images/s, ETA %s\n", i + 1, js->n, j->id, rate, eta);
            else {
                char nuc[32] = "";
                if (e->nm && !e->main_is_nuclei) fpfm_fmt(nuc, sizeof nuc, ", %d nuclei", res.n_nuclei);
                fprintf(stderr, "[%d/%d] %s: %d %s%s in %.2f s; %.2f images/s, ETA %s\n", i + 1, js->n, j->id, res.n_main,
                        e->main_is_nuclei ? "nuclei" : "cells", nuc, res.seconds, rate, eta);
            }
        }
    }
    fpfm_fmt(dir, sizeof dir, "%s/summary.csv", a->out);
    if (fpfi_write_file_atomic(dir, summary, slen, err, sizeof err)) die("%s: %s", dir, err);
    fpfm_fmt(dir, sizeof dir, "%s/failed.csv", a->out);
    if (fpfi_write_file_atomic(dir, failed, flen, err, sizeof err)) die("%s: %s", dir, err);
    if (!a->quiet || n_failed)
        fprintf(stderr, "fpf_segment: %d image(s) done, %d skipped as complete, %d failed%s; %s/summary.csv\n", n_done,
                n_skipped, n_failed, n_failed ? " (listed in failed.csv)" : "", a->out);
    free(summary); free(failed);
    return n_failed ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    args a;
    engine e;
    jobs js;
    int rc;
    double t0;
    parse(argc, argv, &a);
    t0 = now_s();
    memset(&e, 0, sizeof e); memset(&js, 0, sizeof js);
    e.a = &a;
    e.m = load_model(a.model);
    if (a.nucleus_model) e.nm = load_model(a.nucleus_model);
    if (e.nm && fpf_model_config(e.nm)->variant != FPF_VARIANT_CORES)
        die("%s: --nucleus-model must be a nucleus (\"cores\") model; this one is a cell model", a.nucleus_model);
    e.main_is_nuclei = fpf_model_config(e.m)->variant == FPF_VARIANT_CORES;
    if (e.main_is_nuclei && e.nm) die("%s is already a nucleus model; drop --nucleus-model", a.model);
    if (a.overlap < 0) a.overlap = e.main_is_nuclei ? 128 : 256;
    if (a.tile && 2 * a.overlap >= a.tile)
        usage_error("--overlap %d must be less than half of --tile %d (raise --tile or lower --overlap)", a.overlap, a.tile);
    e.scale = a.scale ? a.scale : 1.0f;
    e.model_diameter = a.model_diameter ? a.model_diameter : fpf_model_config(e.m)->object_diameter > 0
                     ? fpf_model_config(e.m)->object_diameter : e.main_is_nuclei ? 30.0f : 100.0f;
    if (a.diameter) {
        e.scale = e.model_diameter / a.diameter;
        if (!(e.scale >= 0.05f && e.scale <= 20.0f)) die("--object-diameter %g: gives scale %g, outside 0.05..20", a.diameter, e.scale);
    }
    e.load_s = now_s() - t0;
    if (a.batch || (a.nucleus && strchr(a.nucleus, '*')) || (a.cell && strchr(a.cell, '*'))) {
        if (a.batch) read_manifest(a.batch, &js);
        else {
            if (a.nucleus && a.cell && !strchr(a.nucleus, '*') != !strchr(a.cell, '*'))
                usage_error("give both --nucleus and --cell as patterns, or neither");
            glob_jobs(a.nucleus, a.cell, &js);
            if (a.reporter) reporter_jobs(a.reporter, &js);
            a.batch = "patterns";
        }
        rc = run_batch(&e, &js);
    } else {
        job j;
        result res;
        char err[1024];
        memset(&j, 0, sizeof j);
        if (a.nucleus) fpfm_fmt(j.nucleus, sizeof j.nucleus, "%s", a.nucleus);
        if (a.cell) fpfm_fmt(j.cell, sizeof j.cell, "%s", a.cell);
        if (a.reporter) fpfm_fmt(j.reporter, sizeof j.reporter, "%s", a.reporter);
        if (run_image(&e, &j, a.out, &res, err, sizeof err)) die("%s", err);
        if (!a.quiet) {
            if (e.nm && !e.main_is_nuclei) fprintf(stderr, "fpf_segment: %d cells, %d nuclei in %.2f s (%d tile%s)\n", res.n_main, res.n_nuclei, res.seconds, res.tiles, res.tiles > 1 ? "s" : "");
            else fprintf(stderr, "fpf_segment: %d %s in %.2f s (%d tile%s)\n", res.n_main, e.main_is_nuclei ? "nuclei" : "cells", res.seconds, res.tiles, res.tiles > 1 ? "s" : "");
            fprintf(stderr, "fpf_segment: wrote %s\n", a.out);
        }
        rc = 0;
    }
    free(js.j);
    fpf_tiler_free(e.t); fpf_session_free(e.s);
    fpf_model_free(e.m); fpf_model_free(e.nm);
    return rc;
}
