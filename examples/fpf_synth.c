/* examples/fpf_synth.c - deterministic synthetic macrophage images with ground truth.
 *
 *   build/fpf_synth --seed S --out DIR                 one image (default 1280 x 1024)
 *   build/fpf_synth --set test --out DIR               the 18-image test set (seeds 1000..1017)
 *   build/fpf_synth --set train --count N --out DIR    training set (seeds 100000..)
 *   build/fpf_synth --set clustered --out DIR          78 crops of 256 x 256 with touching cells
 *   build/fpf_synth --compare build/compare_synth.png  synthetic beside a real image (../shared/data)
 * Options: --width W --height H (smaller fields for fast training/tests), --seed S (for a
 * set: first seed), --overlay (PNG overlay per image), --png-layout (authors' layout:
 * images/<name>/0.png nucleus, 1.png cell, gt/<name>/0_<k>.png nuclei, 1_<k>.png cells),
 * --rle string|counts (COCO RLE form, default string), --quiet, --reporter (a third channel
 * with bacteria in about 30 % of the cells: <name>_reporter.tif, truth in <name>_infected.csv).
 *
 * Per image <name> (test_000, train_00000, clustered_000, synth_<seed>) it writes
 *   <name>_nucleus.tif, <name>_cell.tif                 16-bit channels (12-bit values)
 *   <name>_nucleus_labels.tif, <name>_cell_labels.tif   16-bit instance labels
 *   <name>_nucleus_to_cell.csv                           nucleus_label,cell_label
 * and per run cells_coco.json, nuclei_coco.json and manifest.txt (version, seeds, command).
 * The same command line gives byte-identical files. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf_synth.h"
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#define FPF_COCO_IMPLEMENTATION
#include "fpf_coco.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEST_SEED 1000ull
#define TRAIN_SEED 100000ull
#define CLUSTER_EXTRA_SEED 3000ull
#define TEST_COUNT 18
#define CLUSTER_COUNT 78
#define CROP 256

typedef struct coco {
    fpfc_buf images, cells, nuclei;
    int nimages, ncell_ann, nnuc_ann;
} coco;

typedef struct opts {
    const char *out, *set, *compare, *real_nuc, *real_cell, *rle;
    int width, height, count, overlay, png_layout, quiet, have_seed;
    int reporter; /* issue #14 */
    unsigned long long seed;
} opts;

static void die(const char *msg, const char *detail) {
    fprintf(stderr, "fpf_synth: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void mkdirs(const char *path) {
    char tmp[4096];
    size_t i, n = strlen(path);
    if (n >= sizeof tmp) die("path too long", path);
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++)
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) die("cannot create directory", tmp);
            tmp[i] = c;
        }
}

static void write_u16(const char *path, const uint16_t *px, int w, int h, int png) {
    fpfi_image img;
    char err[512];
    img.w = w;
    img.h = h;
    img.type = FPFI_U16;
    img.pixels = (void *)px;
    if ((png ? fpfi_write_png : fpfi_write_tiff)(path, &img, err, sizeof err)) die("write failed", err);
}

/* One COCO annotation per label value present (ascending), with the RLE, box and area of its
   pixels (fpf_eval.h's labels-to-instances: the one RLE encoder). */
static void coco_add(fpfc_buf *b, int *nann, int image_id, const uint16_t *lab, int w, int h,
                     const int *parent, int string_rle) {
    fpf_eval_labels L;
    size_t i;
    if (fpf_eval_labels_from_image(&L, lab, 2, w, h, NULL) != FPF_EVAL_OK) die("out of memory", NULL);
    for (i = 0; i < L.n; i++) {
        const fpf_eval_instance *in = &L.inst[i];
        int k = (int)L.values[i];
        fpfc_printf(b, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": 1, \"label\": %d, ", *nann ? ",\n" : "",
                    *nann + 1, image_id, k);
        if (parent) fpfc_printf(b, "\"cell_label\": %d, ", parent[k - 1]);
        fpfc_printf(b, "\"segmentation\": ");
        fpfc_write_rle(b, &in->mask, string_rle);
        fpfc_printf(b, ", \"area\": %llu, \"bbox\": [%d, %d, %d, %d], \"iscrowd\": 0}",
                    (unsigned long long)fpf_eval_rle_area(&in->mask), (int)in->box[0], (int)in->box[1],
                    (int)in->box[2], (int)in->box[3]);
        (*nann)++;
    }
    fpf_eval_labels_free(&L, NULL);
    if (b->failed) die("out of memory", NULL);
}

/* The authors' layout: images/NAME/{0,1}.png and gt/NAME/<channel>_<label>.png, one binary 8-bit
   mask per object. */
static void write_png_layout(const opts *o, const fpfs_scene *s, const char *name) {
    char path[4096];
    size_t n = (size_t)s->w * s->h;
    int k;
    unsigned char *mask = (unsigned char *)malloc(n);
    int ch;
    if (!mask) die("out of memory", NULL);
    snprintf(path, sizeof path, "%s/images/%s", o->out, name);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/gt/%s", o->out, name);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/images/%s/0.png", o->out, name);
    write_u16(path, s->nucleus, s->w, s->h, 1);
    snprintf(path, sizeof path, "%s/images/%s/1.png", o->out, name);
    write_u16(path, s->cell, s->w, s->h, 1);
    for (ch = 0; ch < 2; ch++) {
        const uint16_t *lab = ch ? s->cell_labels : s->nuc_labels;
        int nl = ch ? s->ncells : s->nnuclei;
        for (k = 1; k <= nl; k++) {
            fpfi_image img;
            char err[512];
            size_t i;
            for (i = 0; i < n; i++) mask[i] = lab[i] == k ? 255 : 0;
            img.w = s->w;
            img.h = s->h;
            img.type = FPFI_U8;
            img.pixels = mask;
            snprintf(path, sizeof path, "%s/gt/%s/%d_%d.png", o->out, name, ch, k);
            if (fpfi_write_png(path, &img, err, sizeof err)) die("write failed", err);
        }
    }
    free(mask);
}

/* --reporter: <name>_reporter.tif and the truth <name>_infected.csv (cell_label,infected). */
static void write_reporter(const opts *o, const fpfs_scene *s, const char *name, unsigned long long seed) {
    char path[4096];
    uint16_t *rep;
    int *inf, k;
    FILE *f;
    if (fpfs_reporter(s, seed, 0.3, &rep, &inf)) die("out of memory", NULL);
    snprintf(path, sizeof path, "%s/%s_reporter.tif", o->out, name);
    write_u16(path, rep, s->w, s->h, 0);
    snprintf(path, sizeof path, "%s/%s_infected.csv", o->out, name);
    if (!(f = fopen(path, "w"))) die("cannot write", path);
    fprintf(f, "cell_label,infected\n");
    for (k = 0; k < s->ncells; k++) fprintf(f, "%d,%d\n", k + 1, inf[k]);
    if (fclose(f) != 0) die("write failed", path);
    free(rep); free(inf);
}

static void write_scene(const opts *o, coco *cc, const fpfs_scene *s, const char *name, unsigned long long seed) {
    char path[4096];
    FILE *f;
    int k;
    size_t n = (size_t)s->w * s->h;
    snprintf(path, sizeof path, "%s/%s_nucleus.tif", o->out, name);
    write_u16(path, s->nucleus, s->w, s->h, 0);
    snprintf(path, sizeof path, "%s/%s_cell.tif", o->out, name);
    write_u16(path, s->cell, s->w, s->h, 0);
    snprintf(path, sizeof path, "%s/%s_nucleus_labels.tif", o->out, name);
    write_u16(path, s->nuc_labels, s->w, s->h, 0);
    snprintf(path, sizeof path, "%s/%s_cell_labels.tif", o->out, name);
    write_u16(path, s->cell_labels, s->w, s->h, 0);
    snprintf(path, sizeof path, "%s/%s_nucleus_to_cell.csv", o->out, name);
    f = fopen(path, "w");
    if (!f) die("cannot write", path);
    fprintf(f, "nucleus_label,cell_label\n");
    for (k = 0; k < s->nnuclei; k++) fprintf(f, "%d,%d\n", k + 1, s->nuc_to_cell[k]);
    if (fclose(f) != 0) die("write failed", path);
    if (o->reporter) write_reporter(o, s, name, seed * 1000003ull + (unsigned long long)cc->nimages);
    if (o->overlay) {
        unsigned char *rgb = (unsigned char *)malloc(n * 3);
        char err[512];
        if (!rgb) die("out of memory", NULL);
        fpfs_overlay(s, rgb, 1);
        snprintf(path, sizeof path, "%s/%s_overlay.png", o->out, name);
        if (fpfi_write_png_rgb(path, s->w, s->h, rgb, err, sizeof err)) die("write failed", err);
        free(rgb);
    }
    if (o->png_layout) write_png_layout(o, s, name);
    cc->nimages++;
    fpfc_printf(&cc->images,
              "%s{\"id\": %d, \"file_name\": \"%s_cell.tif\", \"nucleus_file\": \"%s_nucleus.tif\", \"width\": %d, "
              "\"height\": %d, \"seed\": %llu}",
              cc->nimages > 1 ? ",\n" : "", cc->nimages, name, name, s->w, s->h, seed);
    coco_add(&cc->cells, &cc->ncell_ann, cc->nimages, s->cell_labels, s->w, s->h, NULL, strcmp(o->rle, "string") == 0);
    coco_add(&cc->nuclei, &cc->nnuc_ann, cc->nimages, s->nuc_labels, s->w, s->h, s->nuc_to_cell,
             strcmp(o->rle, "string") == 0);
    if (!o->quiet) printf("%s: seed %llu, %d cells, %d nuclei\n", name, seed, s->ncells, s->nnuclei);
}

static void write_coco(const opts *o, const coco *cc, const char *file, const char *category, const fpfc_buf *ann) {
    char path[4096], err[512];
    fpfc_buf b;
    memset(&b, 0, sizeof b);
    fpfc_printf(&b, "{\"info\": {\"description\": \"fpf_synth %s synthetic THP-1 macrophages (%s)\", \"version\": \"%s\"},\n",
                FPFS_VERSION, category, FPFS_VERSION);
    fpfc_printf(&b, "\"images\": [\n%s],\n\"annotations\": [\n%s],\n", cc->images.p ? cc->images.p : "",
                ann->p ? ann->p : "");
    fpfc_printf(&b, "\"categories\": [{\"id\": 1, \"name\": \"%s\"}]}\n", category);
    if (b.failed || cc->images.failed || ann->failed) die("out of memory", NULL);
    snprintf(path, sizeof path, "%s/%s", o->out, file);
    if (fpfi_write_file_atomic(path, b.p, b.len, err, sizeof err)) die("write failed", err);
    free(b.p);
}

/* Do two different cells share an edge inside the crop? Needs each >= minpx inside. */
static int crop_has_cluster(const fpfs_scene *c, int minpx) {
    int x, y, found = 0;
    long *cnt = (long *)calloc((size_t)c->ncells + 1, sizeof(long));
    if (!cnt) return 0;
    for (y = 0; y < c->h * c->w; y++) cnt[c->cell_labels[y]]++;
    for (y = 0; y < c->h && !found; y++)
        for (x = 0; x < c->w && !found; x++) {
            size_t q = (size_t)y * c->w + x;
            int a = c->cell_labels[q], b1 = x + 1 < c->w ? c->cell_labels[q + 1] : 0,
                b2 = y + 1 < c->h ? c->cell_labels[q + c->w] : 0;
            if (a && b1 && a != b1 && cnt[a] >= minpx && cnt[b1] >= minpx) found = 1;
            if (a && b2 && a != b2 && cnt[a] >= minpx && cnt[b2] >= minpx) found = 1;
        }
    free(cnt);
    return found;
}

/* Crops around touching pairs of cells: centre on the shared border, skip crops that
 * overlap an earlier crop of the same scene by more than a quarter. */
static int clustered_from_scene(const opts *o, coco *cc, const fpfs_scene *s, unsigned long long seed, int have,
                                int want) {
    int x, y, made = 0, cx[64], cy[64], ncrop = 0;
    for (y = 1; y < s->h && have + made < want; y += 8)
        for (x = 1; x < s->w && have + made < want; x += 8) {
            size_t q = (size_t)y * s->w + x;
            int a = s->cell_labels[q], b = s->cell_labels[q - 1], k, ok = 1, x0, y0;
            fpfs_scene crop;
            if (!a || !b || a == b) continue;
            x0 = x - CROP / 2;
            y0 = y - CROP / 2;
            if (x0 < 0) x0 = 0;
            if (y0 < 0) y0 = 0;
            if (x0 + CROP > s->w) x0 = s->w - CROP;
            if (y0 + CROP > s->h) y0 = s->h - CROP;
            for (k = 0; k < ncrop && ok; k++) {
                int ox = CROP - abs(cx[k] - x0), oy = CROP - abs(cy[k] - y0);
                if (ox > 0 && oy > 0 && (long)ox * oy > CROP * CROP / 4) ok = 0;
            }
            if (!ok || ncrop >= 64) continue;
            if (fpfs_crop(s, x0, y0, CROP, CROP, &crop)) die("out of memory", NULL);
            if (crop_has_cluster(&crop, 400)) {
                char name[64];
                snprintf(name, sizeof name, "clustered_%03d", have + made);
                write_scene(o, cc, &crop, name, seed);
                cx[ncrop] = x0;
                cy[ncrop] = y0;
                ncrop++;
                made++;
            }
            fpfs_free(&crop);
        }
    return made;
}

/* Synthetic field beside a real one, same display mapping, into one PNG. */
static void compare(const opts *o) {
    fpfi_image rn, rc;
    char err[512];
    fpfs_scene real, syn;
    fpfs_params p;
    unsigned char *a, *b, *out;
    int w, h, gap = 8, x, y;
    size_t i, n;
    if (fpfi_read(o->real_nuc, 0, 0, &rn, err, sizeof err) || fpfi_read(o->real_cell, 0, 0, &rc, err, sizeof err))
        die("cannot read real image", err);
    if (rn.w != rc.w || rn.h != rc.h) die("real channels differ in size", NULL);
    w = rn.w;
    h = rn.h;
    n = (size_t)w * h;
    memset(&real, 0, sizeof real);
    real.w = w;
    real.h = h;
    real.nucleus = (uint16_t *)malloc(n * 2);
    real.cell = (uint16_t *)malloc(n * 2);
    if (!real.nucleus || !real.cell) die("out of memory", NULL);
    for (i = 0; i < n; i++) { /* any type -> 0..4095 for the shared display mapping */
        double vn = fpfi_get(&rn, i), vc = fpfi_get(&rc, i);
        real.nucleus[i] = (uint16_t)(vn < 0 ? 0 : vn > 4095 ? 4095 : vn);
        real.cell[i] = (uint16_t)(vc < 0 ? 0 : vc > 4095 ? 4095 : vc);
    }
    fpfs_default_params(&p);
    p.width = w;
    p.height = h;
    p.seed = o->have_seed ? o->seed : TEST_SEED;
    if (fpfs_generate(&p, &syn)) die("generation failed", NULL);
    a = (unsigned char *)malloc(n * 3);
    b = (unsigned char *)malloc(n * 3);
    out = (unsigned char *)calloc((size_t)(2 * w + gap) * h * 3, 1);
    if (!a || !b || !out) die("out of memory", NULL);
    fpfs_overlay(&syn, a, 0);
    fpfs_overlay(&real, b, 0);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            memcpy(out + ((size_t)y * (2 * w + gap) + x) * 3, a + ((size_t)y * w + x) * 3, 3);
            memcpy(out + ((size_t)y * (2 * w + gap) + w + gap + x) * 3, b + ((size_t)y * w + x) * 3, 3);
        }
    for (y = 0; y < h; y++)
        for (x = w; x < w + gap; x++) memset(out + ((size_t)y * (2 * w + gap) + x) * 3, 255, 3);
    if (fpfi_write_png_rgb(o->compare, 2 * w + gap, h, out, err, sizeof err)) die("write failed", err);
    printf("%s: synthetic (left, seed %llu, %dx%d) | real (right: %s + %s)\n", o->compare,
           (unsigned long long)p.seed, w, h, o->real_nuc, o->real_cell);
    free(a); free(b); free(out); free(real.nucleus); free(real.cell);
    fpfs_free(&syn);
    fpfi_free(&rn);
    fpfi_free(&rc);
}

static void usage(void) {
    fprintf(stderr,
            "usage: fpf_synth --out DIR [--seed S] [--width W] [--height H] [--overlay] [--png-layout]\n"
            "       fpf_synth --set test|train|clustered --out DIR [--count N] [--seed FIRST] ...\n"
            "       fpf_synth --compare OUT.png [--real-nucleus TIF --real-cell TIF] [--seed S]\n"
            "  --rle string|counts   COCO RLE form (default string)   --quiet   no per-image lines\n"
            "  defaults: test = 18 images, seeds %llu..; train = --count (default 100), seeds %llu..;\n"
            "  clustered = %d crops of %dx%d from the test scenes (then seeds %llu..). version %s\n",
            TEST_SEED, TRAIN_SEED, CLUSTER_COUNT, CROP, CROP, CLUSTER_EXTRA_SEED, FPFS_VERSION);
    exit(2);
}

static void parse_args(opts *o, int argc, char **argv) {
    int i;
    memset(o, 0, sizeof *o);
    o->rle = "string";
    o->real_nuc = "../shared/data/cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d0.tif";
    o->real_cell = "../shared/data/cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d2.tif";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--out")) o->out = v;
        else if (ARG("--set")) o->set = v;
        else if (ARG("--count")) o->count = atoi(v);
        else if (ARG("--seed")) o->seed = strtoull(v, NULL, 10), o->have_seed = 1;
        else if (ARG("--width")) o->width = atoi(v);
        else if (ARG("--height")) o->height = atoi(v);
        else if (ARG("--rle")) o->rle = v;
        else if (ARG("--compare")) o->compare = v;
        else if (ARG("--real-nucleus")) o->real_nuc = v;
        else if (ARG("--real-cell")) o->real_cell = v;
        else if (strcmp(a, "--overlay") == 0) o->overlay = 1;
        else if (strcmp(a, "--png-layout") == 0) o->png_layout = 1;
        else if (strcmp(a, "--quiet") == 0) o->quiet = 1;
        else if (strcmp(a, "--reporter") == 0) o->reporter = 1;
        else usage();
#undef ARG
    }
}

/* One scene of seed p->seed, written under name. */
static void one_scene(const opts *o, coco *cc, const fpfs_params *p, const char *name) {
    fpfs_scene s;
    if (fpfs_generate(p, &s)) die("generation failed", NULL);
    write_scene(o, cc, &s, name, p->seed);
    fpfs_free(&s);
}

/* --set test|train: consecutive seeds from the set's first (or --seed). */
static void numbered_set(const opts *o, coco *cc, fpfs_params *p) {
    int train = strcmp(o->set, "train") == 0, n = o->count ? o->count : train ? 100 : TEST_COUNT, k;
    unsigned long long base = o->have_seed ? o->seed : train ? TRAIN_SEED : TEST_SEED;
    for (k = 0; k < n; k++) {
        char name[64];
        p->seed = base + (unsigned long long)k;
        snprintf(name, sizeof name, train ? "train_%05d" : "test_%03d", k);
        one_scene(o, cc, p, name);
    }
}

/* --set clustered: crops with touching cells, from the test scenes first, then fresh scenes. */
static void clustered_set(const opts *o, coco *cc, fpfs_params *p) {
    int want = o->count ? o->count : CLUSTER_COUNT, have = 0, k;
    unsigned long long base = o->have_seed ? o->seed : TEST_SEED;
    if (p->width < CROP || p->height < CROP) die("clustered crops need fields of at least 256 x 256", NULL);
    for (k = 0; have < want && k < 10000; k++) {
        fpfs_scene s;
        p->seed = k < TEST_COUNT ? base + (unsigned long long)k : CLUSTER_EXTRA_SEED + (unsigned long long)(k - TEST_COUNT);
        if (fpfs_generate(p, &s)) die("generation failed", NULL);
        have += clustered_from_scene(o, cc, &s, p->seed, have, want);
        fpfs_free(&s);
    }
    if (!o->quiet) printf("%d crops, %d cells\n", have, cc->ncell_ann);
}

/* manifest.txt: the generator, the command (output folder left out so runs compare equal), counts. */
static void write_manifest(const opts *o, const coco *cc, const fpfs_params *p, int argc, char **argv) {
    char path[4096];
    FILE *f;
    int i;
    snprintf(path, sizeof path, "%s/manifest.txt", o->out);
    if (!(f = fopen(path, "w"))) die("cannot write", path);
    fprintf(f, "generator: fpf_synth %s\ncommand:", FPFS_VERSION);
    for (i = 1; i < argc; i++) fprintf(f, " %s", i > 1 && strcmp(argv[i - 1], "--out") == 0 ? "DIR" : argv[i]);
    if (o->set && strcmp(o->set, "clustered") == 0)
        fprintf(f, "\nimages: %d (%d x %d crops of %d x %d fields)", cc->nimages, CROP, CROP, p->width, p->height);
    else
        fprintf(f, "\nimages: %d (%d x %d fields)", cc->nimages, p->width, p->height);
    fprintf(f, "\ncell annotations: %d\nnucleus annotations: %d\n", cc->ncell_ann, cc->nnuc_ann);
    if (fclose(f) != 0) die("write failed", path);
}

int main(int argc, char **argv) {
    opts o;
    coco cc;
    fpfs_params p;
    memset(&cc, 0, sizeof cc);
    parse_args(&o, argc, argv);
    if (o.compare) { compare(&o); return 0; }
    if (!o.out || (strcmp(o.rle, "string") != 0 && strcmp(o.rle, "counts") != 0)) usage();
    if (o.set && strcmp(o.set, "test") != 0 && strcmp(o.set, "train") != 0 && strcmp(o.set, "clustered") != 0) usage();
    mkdirs(o.out);
    fpfs_default_params(&p);
    if (o.width) p.width = o.width;
    if (o.height) p.height = o.height;
    if (p.width < 16 || p.height < 16 || p.width > 16384 || p.height > 16384) die("bad --width/--height", NULL);
    if (!o.set) {
        char name[64];
        p.seed = o.have_seed ? o.seed : 1;
        snprintf(name, sizeof name, "synth_%llu", (unsigned long long)p.seed);
        one_scene(&o, &cc, &p, name);
    } else if (strcmp(o.set, "clustered") != 0) {
        numbered_set(&o, &cc, &p);
    } else {
        clustered_set(&o, &cc, &p);
    }
    write_coco(&o, &cc, "cells_coco.json", "cell", &cc.cells);
    write_coco(&o, &cc, "nuclei_coco.json", "nucleus", &cc.nuclei);
    write_manifest(&o, &cc, &p, argc, argv);
    free(cc.images.p);
    free(cc.cells.p);
    free(cc.nuclei.p);
    return 0;
}
