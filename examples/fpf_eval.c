/* examples/fpf_eval.c - score instance segmentations against ground truth, COCO style.
 * SPDX-License-Identifier: MIT
 *
 *   fpf_eval --gt GT.json --dt DT.json [--json] [--tpfp-iou T] [--score-floor S] [--per-image]
 *            [--max-dets N] [--match-iou T1,T2,...]
 *   fpf_eval --gt-labels DIR --dt-labels DIR [--dt-scores CSV] [same options]
 *   fpf_eval --gt-labels DIR | --gt GT.json  --dt-segment OUT [--objects cells|nuclei]
 *
 * GT.json: a COCO instances file (images, annotations with RLE segmentation,
 * counts as a list or as COCO's compressed string, bbox, iscrowd 0, one
 * category). DT.json: a COCO results list (image_id, category_id,
 * segmentation, bbox, score). Results of other categories are skipped, as
 * pycocotools does.
 *
 * Label mode: 8/16/32-bit label images (TIFF, PNG or PGM; instance = label
 * value, 0 = background) paired by file name without extension. Boxes come
 * from the masks. --dt-scores names a CSV with the header line
 * "file,label,score" and one row per detection: the DT file name (with or
 * without extension), the label value and its score. Detections without a
 * row score 1. Images are numbered in file name order (strcmp).
 *
 * Segment mode scores fpf_segment output folders as they are: OUT/<name>/cells.tif with the
 * scores of OUT/<name>/cells.csv (columns ObjectNumber,Score first), where <name> is the GT
 * label file's name without extension, or the COCO image's file_name without extension (or
 * without a trailing "_cell" as well, for fpf_synth's test sets). OUT may also be a single
 * fpf_segment output folder when the GT holds one image. --objects nuclei reads nuclei.*.
 *
 * Output: a table of AP per IoU threshold, the paper's mean AP 0.50-0.90,
 * mAP 0.50:0.95, AR@100 and TP/FP/FN at --tpfp-iou (default 0.75), or with
 * --json exactly one JSON object {"bbox": R, "segm": R}. --max-dets N keeps the
 * top N detections per image (default 100, pycocotools' maxDets; dense nucleus
 * fields need 1000). --match-iou adds, per threshold, the DSB/StarDist counts
 * and accuracy TP/(TP+FP+FN), F1, precision and recall (maximum one-to-one
 * matching at IoU >= T, fpf_eval.h fpf_eval_matching; R gets "matching": [..]).
 * Every error prints one line on stderr and exits non-zero (1; 2 for usage). */
#define _POSIX_C_SOURCE 200809L
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#define FPF_COCO_IMPLEMENTATION
#include "fpf_coco.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- errors ---------------------------------------------------------------- */

static char cli_err[1024];
static int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cli_err, sizeof cli_err, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the evaluation set ---------------------------------------------------- */

typedef struct cli_inst_list { fpf_eval_instance *v; size_t n, cap; } cli_inst_list;
typedef struct cli_image {
    long long id;
    int w, h;
    char name[256];
    cli_inst_list gt, dt;
} cli_image;
typedef struct cli_set { cli_image *img; size_t n; size_t n_dt_in; } cli_set;

static int list_push(cli_inst_list *l, const fpf_eval_instance *in) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        fpf_eval_instance *nv = (fpf_eval_instance *)realloc(l->v, nc * sizeof *nv);
        if (!nv) return cli_fail("out of memory");
        l->v = nv; l->cap = nc;
    }
    l->v[l->n++] = *in;
    return 0;
}

static void set_free(cli_set *s) {
    size_t i, k;
    for (i = 0; i < s->n; i++) {
        for (k = 0; k < s->img[i].gt.n; k++) fpf_eval_rle_free(&s->img[i].gt.v[k].mask, NULL);
        for (k = 0; k < s->img[i].dt.n; k++) fpf_eval_rle_free(&s->img[i].dt.v[k].mask, NULL);
        free(s->img[i].gt.v); free(s->img[i].dt.v);
    }
    free(s->img);
    memset(s, 0, sizeof *s);
}

static int cmp_image_id(const void *a, const void *b) {
    long long x = ((const cli_image *)a)->id, y = ((const cli_image *)b)->id;
    return x < y ? -1 : x > y;
}

static cli_image *find_image(cli_set *s, long long id) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->img[mid].id < id) lo = mid + 1; else hi = mid;
    }
    return lo < s->n && s->img[lo].id == id ? &s->img[lo] : NULL;
}

static int parse_box(const fpfc_json *bb, double box[4], const char *what) {
    size_t k;
    if (!bb || bb->t != FPFC_ARR || bb->n != 4) return cli_fail("%s: bbox must be [x, y, w, h]", what);
    for (k = 0; k < 4; k++) {
        if (bb->items[k].t != FPFC_NUM) return cli_fail("%s: bbox must be [x, y, w, h]", what);
        box[k] = bb->items[k].num;
    }
    if (box[2] < 0 || box[3] < 0) return cli_fail("%s: bbox has a negative width or height", what);
    return 0;
}

/* one GT annotation or one result -> instance of its image */
static int parse_instance(cli_set *s, const fpfc_json *a, int is_dt, long long cat, size_t index) {
    char what[96];
    const fpfc_json *bb = fpfc_json_get(a, "bbox"), *seg = fpfc_json_get(a, "segmentation");
    long long img_id, cat_id, v;
    cli_image *im;
    fpf_eval_instance in;
    memset(&in, 0, sizeof in);
    snprintf(what, sizeof what, "%s %zu", is_dt ? "detection" : "annotation", index);
    if (!a || a->t != FPFC_OBJ) return cli_fail("%s is not an object", what);
    if (fpfc_json_int(fpfc_json_get(a, "image_id"), &img_id)) return cli_fail("%s: missing integer image_id", what);
    if (fpfc_json_int(fpfc_json_get(a, "category_id"), &cat_id)) return cli_fail("%s: missing integer category_id", what);
    if (cat_id != cat) {
        if (!is_dt) return cli_fail("%s: category %lld, but the GT has one category %lld", what, cat_id, cat);
        return 0; /* pycocotools only evaluates the GT categories */
    }
    im = find_image(s, img_id);
    if (!im) return cli_fail("%s: image_id %lld is not in the GT images", what, img_id);
    if (!is_dt) {
        const fpfc_json *crowd = fpfc_json_get(a, "iscrowd"), *area = fpfc_json_get(a, "area");
        if (fpfc_json_int(fpfc_json_get(a, "id"), &v)) return cli_fail("%s: missing integer id", what);
        if (v == 0) return cli_fail("%s: annotation id 0 (pycocotools counts matches to it as false positives; renumber from 1)", what);
        if (crowd && crowd->t == FPFC_NUM && crowd->num != 0) return cli_fail("%s: iscrowd=1 is not supported", what);
        if (area && area->t == FPFC_NUM && (area->num < 0 || area->num > 1e10))
            return cli_fail("%s: area outside the 'all' range [0, 1e10]", what);
    } else {
        const fpfc_json *sc = fpfc_json_get(a, "score");
        if (!sc || sc->t != FPFC_NUM) return cli_fail("%s: missing numeric score", what);
        in.score = sc->num;
    }
    if (!seg) return cli_fail("%s: missing segmentation", what);
    if (fpfc_read_rle(seg, &in.mask, what, cli_err, sizeof cli_err)) return -1;
    if (in.mask.h != im->h || in.mask.w != im->w) {
        int h = in.mask.h, w = in.mask.w;
        fpf_eval_rle_free(&in.mask, NULL);
        return cli_fail("%s: mismatched image size: mask is %dx%d (w x h), image %lld is %dx%d",
                        what, w, h, img_id, im->w, im->h);
    }
    if (bb) { if (parse_box(bb, in.box, what)) { fpf_eval_rle_free(&in.mask, NULL); return -1; } }
    else fpf_eval_rle_to_box(&in.mask, in.box); /* loadRes: toBbox(segmentation) */
    if (list_push(is_dt ? &im->dt : &im->gt, &in)) { fpf_eval_rle_free(&in.mask, NULL); return -1; }
    return 0;
}

static int load_gt_images(cli_set *s, const fpfc_json *gt, const char *path, long long *cat) {
    const fpfc_json *images = fpfc_json_get(gt, "images"), *anns = fpfc_json_get(gt, "annotations");
    const fpfc_json *cats = fpfc_json_get(gt, "categories");
    size_t i;
    if (!gt || gt->t != FPFC_OBJ || !images || images->t != FPFC_ARR || !anns || anns->t != FPFC_ARR)
        return cli_fail("%s: not a COCO instances file (needs \"images\" and \"annotations\")", path);
    if (cats && cats->t == FPFC_ARR && cats->n > 1)
        return cli_fail("%s: %zu categories; fpf_eval scores one category", path, cats->n);
    if (cats && cats->t == FPFC_ARR && cats->n == 1) {
        if (fpfc_json_int(fpfc_json_get(&cats->items[0], "id"), cat)) return cli_fail("%s: category without integer id", path);
    } else if (anns->n > 0) {
        if (fpfc_json_int(fpfc_json_get(&anns->items[0], "category_id"), cat))
            return cli_fail("%s: annotation 0: missing integer category_id", path);
    } else {
        *cat = 1;
    }
    s->img = (cli_image *)calloc(images->n + 1, sizeof *s->img);
    if (!s->img) return cli_fail("out of memory");
    for (i = 0; i < images->n; i++) {
        const fpfc_json *im = &images->items[i];
        long long w, h;
        cli_image *ci = &s->img[s->n];
        if (fpfc_json_int(fpfc_json_get(im, "id"), &ci->id) || fpfc_json_int(fpfc_json_get(im, "width"), &w) ||
            fpfc_json_int(fpfc_json_get(im, "height"), &h) || w < 0 || h < 0 || w > 1 << 30 || h > 1 << 30)
            return cli_fail("%s: image %zu needs integer id, width and height", path, i);
        ci->w = (int)w; ci->h = (int)h;
        s->n++;
    }
    qsort(s->img, s->n, sizeof *s->img, cmp_image_id); /* params.imgIds = sorted ids */
    for (i = 1; i < s->n; i++)
        if (s->img[i].id == s->img[i - 1].id) return cli_fail("%s: duplicate image id %lld", path, s->img[i].id);
    return 0;
}

static int load_coco(cli_set *s, const char *gt_path, const char *dt_path) {
    fpfc_json gt, dt;
    long long cat = 0;
    size_t i;
    int rc = -1;
    memset(s, 0, sizeof *s);
    if (fpfc_json_parse_file(gt_path, &gt, cli_err, sizeof cli_err)) return -1;
    if (fpfc_json_parse_file(dt_path, &dt, cli_err, sizeof cli_err)) { fpfc_json_free(&gt); return -1; }
    if (load_gt_images(s, &gt, gt_path, &cat)) goto done;
    for (i = 0; i < fpfc_json_get(&gt, "annotations")->n; i++)
        if (parse_instance(s, &fpfc_json_get(&gt, "annotations")->items[i], 0, cat, i)) goto done;
    if (dt.t != FPFC_ARR) { cli_fail("%s: a COCO results file is a JSON list", dt_path); goto done; }
    for (i = 0; i < dt.n; i++)
        if (parse_instance(s, &dt.items[i], 1, cat, i)) goto done;
    s->n_dt_in = dt.n;
    rc = 0;
done:
    fpfc_json_free(&gt); fpfc_json_free(&dt);
    return rc;
}

/* ---- label directories ----------------------------------------------------- */

typedef struct cli_score { char *file; uint32_t label; double score; } cli_score;
typedef struct cli_scores { cli_score *v; size_t n; } cli_scores;

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    const char *ext[] = {".tif", ".tiff", ".pgm", ".png", ".TIF", ".TIFF", ".PGM", ".PNG"};
    size_t k;
    if (!dot) return 0;
    for (k = 0; k < sizeof ext / sizeof *ext; k++) if (!strcmp(dot, ext[k])) return 1;
    return 0;
}

static size_t stem_len(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void names_free(char **v, size_t n) { size_t i; for (i = 0; i < n; i++) free(v[i]); free(v); }

static int list_dir(const char *dir, char ***out, size_t *n) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    char **v = NULL;
    *n = 0;
    if (!d) return cli_fail("%s: cannot open directory: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        if (*n == cap) {
            char **nv = (char **)realloc(v, (cap = cap ? cap * 2 : 32) * sizeof *nv);
            if (!nv) { closedir(d); names_free(v, *n); return cli_fail("out of memory"); }
            v = nv;
        }
        if (!(v[*n] = (char *)malloc(strlen(e->d_name) + 1))) {
            closedir(d); names_free(v, *n); return cli_fail("out of memory");
        }
        strcpy(v[(*n)++], e->d_name);
    }
    closedir(d);
    if (*n > 1) qsort(v, *n, sizeof *v, cmp_str); /* v is NULL for an empty folder */
    *out = v;
    return 0;
}

static int load_scores(const char *path, cli_scores *sc) {
    char *data, *line, *next;
    size_t size, cap = 0, lineno = 0;
    memset(sc, 0, sizeof *sc);
    if (!path) return 0;
    if (fpfc_read_text(path, &data, &size, cli_err, sizeof cli_err)) return -1;
    for (line = data; line && *line; line = next) {
        char *c1, *c2, *endp, *cr;
        unsigned long lab;
        double s;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if ((cr = strchr(line, '\r')) != NULL) *cr = 0;
        lineno++;
        if (!*line) continue;
        if (lineno == 1) {
            if (strcmp(line, "file,label,score")) { free(data); return cli_fail("%s: line 1 must be the header file,label,score", path); }
            continue;
        }
        c1 = strchr(line, ','); c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2) { free(data); return cli_fail("%s: line %zu: expected file,label,score", path, lineno); }
        *c1 = *c2 = 0;
        errno = 0;
        lab = strtoul(c1 + 1, &endp, 10);
        if (endp == c1 + 1 || *endp || errno || lab > 0xFFFFFFFFul) { free(data); return cli_fail("%s: line %zu: bad label", path, lineno); }
        s = strtod(c2 + 1, &endp);
        if (endp == c2 + 1 || *endp || !(s <= DBL_MAX && s >= -DBL_MAX)) { free(data); return cli_fail("%s: line %zu: bad score (not a finite number)", path, lineno); }
        if (sc->n == cap) {
            cli_score *nv = (cli_score *)realloc(sc->v, (cap = cap ? cap * 2 : 64) * sizeof *nv);
            if (!nv) { free(data); return cli_fail("out of memory"); }
            sc->v = nv;
        }
        sc->v[sc->n].file = (char *)malloc(strlen(line) + 1);
        if (!sc->v[sc->n].file) { free(data); return cli_fail("out of memory"); }
        strcpy(sc->v[sc->n].file, line);
        sc->v[sc->n].label = (uint32_t)lab;
        sc->v[sc->n].score = s;
        sc->n++;
    }
    free(data);
    return 0;
}

static double lookup_score(const cli_scores *sc, const char *file, uint32_t label) {
    size_t i, sl = stem_len(file);
    for (i = 0; i < sc->n; i++)
        if (sc->v[i].label == label &&
            (!strcmp(sc->v[i].file, file) || (strlen(sc->v[i].file) == sl && !strncmp(sc->v[i].file, file, sl))))
            return sc->v[i].score;
    return 1.0;
}

static int read_labels(const char *dir, const char *name, fpfi_image *img) {
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (fpfi_read(path, 0, 0, img, err, sizeof err)) return cli_fail("%s: %s", path, err);
    if (img->type != FPFI_U8 && img->type != FPFI_U16 && img->type != FPFI_U32) {
        fpfi_free(img);
        return cli_fail("%s: label images must be unsigned 8, 16 or 32-bit integers", path);
    }
    return 0;
}

static int labels_to_list(const fpfi_image *img, cli_inst_list *l, const cli_scores *sc,
                          const char *file, const char *path) {
    fpf_eval_labels L;
    size_t k;
    int bps = img->type == FPFI_U8 ? 1 : img->type == FPFI_U16 ? 2 : 4;
    fpf_eval_result r = fpf_eval_labels_from_image(&L, img->pixels, bps, img->w, img->h, NULL);
    if (r != FPF_EVAL_OK) return cli_fail("%s: %s", path, fpf_eval_result_string(r));
    for (k = 0; k < L.n; k++) {
        fpf_eval_instance in = L.inst[k]; /* box and mask; the mask is copied out of L */
        in.score = sc ? lookup_score(sc, file, L.values[k]) : 0;
        if (fpf_eval_rle_from_counts(&in.mask, L.inst[k].mask.counts, L.inst[k].mask.m, img->h,
                                     img->w, NULL)) {
            fpf_eval_labels_free(&L, NULL);
            return cli_fail("out of memory");
        }
        if (list_push(l, &in)) {
            fpf_eval_rle_free(&in.mask, NULL);
            fpf_eval_labels_free(&L, NULL);
            return -1;
        }
    }
    fpf_eval_labels_free(&L, NULL);
    return 0;
}

static int find_pair(char **dn, size_t nd, const char *gname, const char *ddir, size_t *out) {
    size_t k, sl = stem_len(gname), found = (size_t)-1;
    for (k = 0; k < nd; k++)
        if (stem_len(dn[k]) == sl && !strncmp(dn[k], gname, sl)) {
            if (found != (size_t)-1) return cli_fail("%s: two files match %.*s", ddir, (int)sl, gname);
            found = k;
        }
    if (found == (size_t)-1) return cli_fail("%s: no label image matches GT file %s", ddir, gname);
    *out = found;
    return 0;
}

static int load_labels(cli_set *s, const char *gdir, const char *ddir, const char *csv) {
    char **gn = NULL, **dn = NULL, path[4096];
    size_t ngn = 0, ndn = 0, i, k;
    cli_scores sc;
    int rc = -1;
    memset(s, 0, sizeof *s);
    if (load_scores(csv, &sc)) return -1;
    if (list_dir(gdir, &gn, &ngn) || list_dir(ddir, &dn, &ndn)) goto done;
    if (ngn == 0) { cli_fail("%s: no .tif/.tiff/.png/.pgm label images", gdir); goto done; }
    for (k = 0; k < ndn; k++) { /* results for images without GT: pycocotools refuses them */
        size_t j, sl = stem_len(dn[k]);
        for (j = 0; j < ngn; j++) if (stem_len(gn[j]) == sl && !strncmp(gn[j], dn[k], sl)) break;
        if (j == ngn) { cli_fail("%s: %s has no GT label image in %s", ddir, dn[k], gdir); goto done; }
    }
    s->img = (cli_image *)calloc(ngn, sizeof *s->img);
    if (!s->img) { cli_fail("out of memory"); goto done; }
    for (i = 0; i < ngn; i++) {
        fpfi_image gi, di;
        cli_image *im = &s->img[s->n++];
        if (find_pair(dn, ndn, gn[i], ddir, &k)) goto done;
        im->id = (long long)i;
        snprintf(im->name, sizeof im->name, "%s", gn[i]);
        if (read_labels(gdir, gn[i], &gi)) goto done;
        if (read_labels(ddir, dn[k], &di)) { fpfi_free(&gi); goto done; }
        if (gi.w != di.w || gi.h != di.h) {
            cli_fail("mismatched image sizes: GT %s/%s is %dx%d, DT %s/%s is %dx%d", gdir, gn[i], gi.w, gi.h,
                     ddir, dn[k], di.w, di.h);
            fpfi_free(&gi); fpfi_free(&di);
            goto done;
        }
        im->w = gi.w; im->h = gi.h;
        snprintf(path, sizeof path, "%s/%s", gdir, gn[i]);
        if (labels_to_list(&gi, &im->gt, NULL, gn[i], path)) { fpfi_free(&gi); fpfi_free(&di); goto done; }
        snprintf(path, sizeof path, "%s/%s", ddir, dn[k]);
        if (labels_to_list(&di, &im->dt, &sc, dn[k], path)) { fpfi_free(&gi); fpfi_free(&di); goto done; }
        s->n_dt_in += im->dt.n;
        fpfi_free(&gi); fpfi_free(&di);
    }
    rc = 0;
done:
    names_free(gn, ngn); names_free(dn, ndn);
    for (k = 0; k < sc.n; k++) free(sc.v[k].file);
    free(sc.v);
    return rc;
}

/* ---- fpf_segment output folders ------------------------------------------- */

/* scores[label - 1] from an fpf_segment CSV (header line, then ObjectNumber,Score,...). */
static int segment_scores(const char *path, double **scores, size_t *n) {
    char *data, *line, *next;
    size_t size, cap = 0;
    *scores = NULL; *n = 0;
    if (fpfc_read_text(path, &data, &size, cli_err, sizeof cli_err)) return -1;
    for (line = strchr(data, '\n'); line && *++line; line = next) {
        char *end;
        unsigned long lab = strtoul(line, &end, 10);
        double sc;
        next = strchr(line, '\n');
        if (end == line || *end != ',' || lab == 0 || lab > 0xFFFFFF) { free(data); free(*scores); return cli_fail("%s: bad row", path); }
        sc = strtod(end + 1, &end);
        if (*end != ',' && *end != '\n' && *end != '\r' && *end) { free(data); free(*scores); return cli_fail("%s: bad score", path); }
        if (lab > cap) {
            size_t nc = lab * 2, k;
            double *nv = (double *)realloc(*scores, nc * sizeof *nv);
            if (!nv) { free(data); free(*scores); return cli_fail("out of memory"); }
            for (k = cap; k < nc; k++) nv[k] = 1.0;
            *scores = nv; cap = nc;
        }
        (*scores)[lab - 1] = sc;
        if (lab > *n) *n = lab;
    }
    free(data);
    return 0;
}

/* The folder of one image: OUT/<stem>, OUT/<stem without "_cell">, or OUT itself (single image). */
static int segment_dir(const char *out, const char *name, size_t n_images, const char *objects, char *dir, size_t cap) {
    char probe[8448], stem[512];
    struct stat st;
    size_t sl = stem_len(name);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    sl -= (size_t)(base - name);
    snprintf(stem, sizeof stem, "%.*s", (int)sl, base);
    snprintf(dir, cap, "%s/%s", out, stem);
    snprintf(probe, sizeof probe, "%s/%s.tif", dir, objects);
    if (stat(probe, &st) == 0) return 0;
    if (sl > 5 && !strcmp(stem + sl - 5, "_cell")) {
        snprintf(dir, cap, "%s/%.*s", out, (int)sl - 5, stem);
        snprintf(probe, sizeof probe, "%s/%s.tif", dir, objects);
        if (stat(probe, &st) == 0) return 0;
    }
    snprintf(probe, sizeof probe, "%s/%s.tif", out, objects);
    if (n_images == 1 && stat(probe, &st) == 0) { snprintf(dir, cap, "%s", out); return 0; }
    return cli_fail("%s: no fpf_segment output for %s (looked for %s/%s/%s.tif)", out, name, out, stem, objects);
}

static int segment_to_list(cli_image *im, const char *dir, const char *objects) {
    char path[8448];
    fpfi_image di;
    double *sc;
    size_t nsc, k;
    fpf_eval_labels L;
    fpf_eval_result r;
    int bps;
    snprintf(path, sizeof path, "%s/%s.csv", dir, objects);
    if (segment_scores(path, &sc, &nsc)) return -1;
    snprintf(path, sizeof path, "%s.tif", objects);
    if (read_labels(dir, path, &di)) { free(sc); return -1; }
    snprintf(path, sizeof path, "%s/%s.tif", dir, objects);
    if (di.w != im->w || di.h != im->h) {
        cli_fail("mismatched image sizes: GT %s is %dx%d, %s is %dx%d", im->name, im->w, im->h, path, di.w, di.h);
        fpfi_free(&di); free(sc);
        return -1;
    }
    bps = di.type == FPFI_U8 ? 1 : di.type == FPFI_U16 ? 2 : 4;
    r = fpf_eval_labels_from_image(&L, di.pixels, bps, di.w, di.h, NULL);
    fpfi_free(&di);
    if (r != FPF_EVAL_OK) { free(sc); return cli_fail("%s: %s", path, fpf_eval_result_string(r)); }
    for (k = 0; k < L.n; k++) {
        fpf_eval_instance in = L.inst[k];
        in.score = L.values[k] <= nsc ? sc[L.values[k] - 1] : 1.0;
        if (fpf_eval_rle_from_counts(&in.mask, L.inst[k].mask.counts, L.inst[k].mask.m, im->h, im->w, NULL) ||
            list_push(&im->dt, &in)) {
            fpf_eval_labels_free(&L, NULL); free(sc);
            return cli_fail("out of memory");
        }
    }
    fpf_eval_labels_free(&L, NULL);
    free(sc);
    return 0;
}

/* GT from a label folder or a COCO file; DT from fpf_segment output folders. */
static int load_segment(cli_set *s, const char *gdir, const char *gt_json, const char *out, const char *objects) {
    char dir[4096], path[4096];
    size_t i;
    memset(s, 0, sizeof *s);
    if (gdir) {
        char **gn = NULL;
        size_t ngn = 0;
        if (list_dir(gdir, &gn, &ngn)) return -1;
        if (ngn == 0) { names_free(gn, ngn); return cli_fail("%s: no .tif/.tiff/.png/.pgm label images", gdir); }
        if (!(s->img = (cli_image *)calloc(ngn, sizeof *s->img))) { names_free(gn, ngn); return cli_fail("out of memory"); }
        for (i = 0; i < ngn; i++) {
            fpfi_image gi;
            cli_image *im = &s->img[s->n++];
            im->id = (long long)i;
            snprintf(im->name, sizeof im->name, "%s", gn[i]);
            if (read_labels(gdir, gn[i], &gi)) { names_free(gn, ngn); return -1; }
            im->w = gi.w; im->h = gi.h;
            snprintf(path, sizeof path, "%s/%s", gdir, gn[i]);
            if (labels_to_list(&gi, &im->gt, NULL, gn[i], path)) { fpfi_free(&gi); names_free(gn, ngn); return -1; }
            fpfi_free(&gi);
        }
        names_free(gn, ngn);
    } else {
        fpfc_json gt;
        long long cat = 0;
        const fpfc_json *images;
        if (fpfc_json_parse_file(gt_json, &gt, cli_err, sizeof cli_err)) return -1;
        if (load_gt_images(s, &gt, gt_json, &cat)) { fpfc_json_free(&gt); return -1; }
        images = fpfc_json_get(&gt, "images");
        for (i = 0; i < images->n; i++) { /* file names, for the folder names */
            long long id;
            const fpfc_json *fn = fpfc_json_get(&images->items[i], "file_name");
            cli_image *im;
            if (fpfc_json_int(fpfc_json_get(&images->items[i], "id"), &id) || !(im = find_image(s, id))) continue;
            if (!fn || fn->t != FPFC_STR) { fpfc_json_free(&gt); return cli_fail("%s: image %lld has no file_name", gt_json, id); }
            snprintf(im->name, sizeof im->name, "%s", fn->str);
        }
        for (i = 0; i < fpfc_json_get(&gt, "annotations")->n; i++)
            if (parse_instance(s, &fpfc_json_get(&gt, "annotations")->items[i], 0, cat, i)) { fpfc_json_free(&gt); return -1; }
        fpfc_json_free(&gt);
    }
    for (i = 0; i < s->n; i++) {
        if (segment_dir(out, s->img[i].name, s->n, objects, dir, sizeof dir)) return -1;
        if (segment_to_list(&s->img[i], dir, objects)) return -1;
        s->n_dt_in += s->img[i].dt.n;
    }
    return 0;
}

/* ---- scoring and output ---------------------------------------------------- */

typedef struct cli_opts {
    const char *gt, *dt, *gt_labels, *dt_labels, *scores, *dt_segment, *objects;
    int json, per_image;
    double tpfp_iou, floor;
    size_t max_dets, n_match;      /* 0 = 100; --match-iou thresholds */
    double match_iou[16];
} cli_opts;

typedef struct cli_result {
    fpf_eval_summary sum[2];
    fpf_eval_counts tpfp[2];
    fpf_eval_counts *per_image[2];
    fpf_eval_match_stats match[2][16];
} cli_result;

static int score_set(const cli_set *s, const cli_opts *o, cli_result *res) {
    fpf_eval *ev;
    size_t i;
    int t;
    size_t k;
    fpf_eval_result r = fpf_eval_init(NULL, &ev);
    if (r) return cli_fail("%s", fpf_eval_result_string(r));
    if (o->max_dets) r = fpf_eval_set_max_dets(ev, o->max_dets);
    for (i = 0; i < s->n && !r; i++)
        r = fpf_eval_add_image(ev, s->img[i].gt.v, s->img[i].gt.n, s->img[i].dt.v, s->img[i].dt.n);
    if (r) {
        fpf_eval_free(ev);
        if (r == FPF_EVAL_ERR_SIZE) return cli_fail("image %lld: mismatched mask sizes", s->img[i - 1].id);
        return cli_fail("image %lld: %s", s->img[i - 1].id, fpf_eval_result_string(r));
    }
    for (t = 0; t < 2 && !r; t++) {
        res->per_image[t] = (fpf_eval_counts *)calloc(s->n + 1, sizeof(fpf_eval_counts));
        if (!res->per_image[t]) { fpf_eval_free(ev); return cli_fail("out of memory"); }
        r = fpf_eval_summarize(ev, (fpf_eval_iou_type)t, &res->sum[t]);
        if (!r) r = fpf_eval_tpfp(ev, (fpf_eval_iou_type)t, o->tpfp_iou, o->floor, &res->tpfp[t], res->per_image[t]);
        for (k = 0; k < o->n_match && !r; k++)
            r = fpf_eval_matching(ev, (fpf_eval_iou_type)t, o->match_iou[k], o->floor, &res->match[t][k], NULL);
    }
    fpf_eval_free(ev);
    if (r) return cli_fail("%s", fpf_eval_result_string(r));
    return 0;
}

static void print_json_match(const fpf_eval_match_stats *m, size_t n) {
    size_t k;
    if (!n) return;
    printf(", \"matching\": [");
    for (k = 0; k < n; k++, m++)
        printf("%s{\"iou\": %.17g, \"tp\": %zu, \"fp\": %zu, \"fn\": %zu, \"precision\": %.17g, "
               "\"recall\": %.17g, \"accuracy\": %.17g, \"f1\": %.17g}", k ? ", " : "", m->iou_thr,
               m->tp, m->fp, m->fn, m->precision, m->recall, m->accuracy, m->f1);
    printf("]");
}

static void print_json_r(const fpf_eval_summary *s, const fpf_eval_counts *c, double iou) {
    int k;
    printf("{\"ap\": [");
    for (k = 0; k < FPF_EVAL_N_IOU; k++) printf("%s%.17g", k ? ", " : "", s->ap[k]);
    printf("], \"map_50_95\": %.17g, \"map_50_90\": %.17g, \"ap50\": %.17g, \"ap75\": %.17g, \"recall\": [",
           s->map_50_95, s->map_50_90, s->ap50, s->ap75);
    for (k = 0; k < FPF_EVAL_N_IOU; k++) printf("%s%.17g", k ? ", " : "", s->recall[k]);
    printf("], \"mar_50_95\": %.17g, \"tpfp\": {\"iou\": %.17g, \"tp\": %zu, \"fp\": %zu, \"fn\": %zu}",
           s->mar_50_95, iou, c->tp, c->fp, c->fn);
}

/* DSB/StarDist rows: one-to-one maximum matching at IoU >= T */
static void print_match_table(const cli_opts *o, const cli_result *r) {
    size_t k;
    for (k = 0; k < o->n_match; k++) {
        const fpf_eval_match_stats *b = &r->match[0][k], *m = &r->match[1][k];
        char lab[48], cb[72], cm[72];
        printf("accuracy @ IoU %-7.2f %10.4f %10.4f\n", b->iou_thr, b->accuracy, m->accuracy);
        printf("F1 @ IoU %-13.2f %10.4f %10.4f\n", b->iou_thr, b->f1, m->f1);
        printf("precision @ IoU %-6.2f %10.4f %10.4f\n", b->iou_thr, b->precision, m->precision);
        printf("recall @ IoU %-9.2f %10.4f %10.4f\n", b->iou_thr, b->recall, m->recall);
        snprintf(lab, sizeof lab, "TP/FP/FN @ IoU %.2f", b->iou_thr);
        snprintf(cb, sizeof cb, "%zu/%zu/%zu", b->tp, b->fp, b->fn);
        snprintf(cm, sizeof cm, "%zu/%zu/%zu", m->tp, m->fp, m->fn);
        printf("%-22s %10s %10s\n", lab, cb, cm);
    }
}

static void print_table(const cli_set *set, const cli_opts *o, const cli_result *r) {
    const fpf_eval_summary *b = &r->sum[0], *m = &r->sum[1];
    int k;
    size_t i;
    size_t md = o->max_dets ? o->max_dets : FPF_EVAL_MAX_DETS;
    char ar[48];
    printf("fpf_eval: %zu images, %zu GT instances, %zu detections (%zu kept: top %zu per image)\n",
           set->n, b->n_gt, set->n_dt_in, b->n_dt, md);
    snprintf(ar, sizeof ar, "AR@%zu 0.50:0.95", md);
    printf("%-22s %10s %10s\n", "", "bbox", "segm");
    for (k = 0; k < FPF_EVAL_N_IOU; k++)
        printf("AP @ IoU %-13.2f %10.4f %10.4f\n", b->iou_thr[k], b->ap[k], m->ap[k]);
    printf("%-22s %10.4f %10.4f\n", "mean AP 0.50-0.90", b->map_50_90, m->map_50_90);
    printf("%-22s %10.4f %10.4f\n", "mAP 0.50:0.95", b->map_50_95, m->map_50_95);
    printf("%-22s %10.4f %10.4f\n", ar, b->mar_50_95, m->mar_50_95);
    printf("TP @ IoU %-13.2f %10zu %10zu\n", o->tpfp_iou, r->tpfp[0].tp, r->tpfp[1].tp);
    printf("FP @ IoU %-13.2f %10zu %10zu\n", o->tpfp_iou, r->tpfp[0].fp, r->tpfp[1].fp);
    printf("FN @ IoU %-13.2f %10zu %10zu\n", o->tpfp_iou, r->tpfp[0].fn, r->tpfp[1].fn);
    print_match_table(o, r);
    if (!o->per_image) return;
    printf("\nper image at IoU %.2f   bbox TP/FP/FN     segm TP/FP/FN\n", o->tpfp_iou);
    for (i = 0; i < set->n; i++) {
        const fpf_eval_counts *pb = &r->per_image[0][i], *pm = &r->per_image[1][i];
        char id[300];
        if (set->img[i].name[0]) snprintf(id, sizeof id, "%s", set->img[i].name);
        else snprintf(id, sizeof id, "image %lld", set->img[i].id);
        printf("%-22s %5zu %5zu %5zu   %5zu %5zu %5zu\n", id, pb->tp, pb->fp, pb->fn, pm->tp, pm->fp, pm->fn);
    }
}

static int usage(void) {
    fprintf(stderr,
            "usage: fpf_eval --gt GT.json --dt DT.json [options]\n"
            "       fpf_eval --gt-labels DIR --dt-labels DIR [--dt-scores CSV] [options]\n"
            "       fpf_eval --gt-labels DIR | --gt GT.json  --dt-segment OUT [--objects cells|nuclei] [options]\n"
            "options: --json  --tpfp-iou T (default 0.75)  --score-floor S  --per-image\n"
            "         --max-dets N (default 100)  --match-iou T1,T2,... (StarDist accuracy, F1)\n"
            "CSV: header file,label,score; detections without a row score 1\n");
    return 2;
}

static int parse_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end == s || *end || *out != *out;
}

/* "0.5,0.7" -> {0.5, 0.7}: 1 to cap values, each in [0, 1] */
static int parse_list(const char *s, double *out, size_t cap, size_t *n) {
    char buf[512], *tok, *save = NULL;
    *n = 0;
    if (strlen(s) >= sizeof buf) return 1;
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == cap || parse_double(tok, &out[*n]) || out[*n] < 0 || out[*n] > 1) return 1;
        (*n)++;
    }
    return *n == 0;
}

int fpf_eval_cli(int argc, char **argv);
int fpf_eval_cli(int argc, char **argv) {
    cli_opts o;
    cli_set set;
    cli_result res;
    int i, rc;
    memset(&o, 0, sizeof o);
    memset(&res, 0, sizeof res);
    o.tpfp_iou = 0.75; o.floor = FPF_EVAL_NO_FLOOR;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { o.json = 1; continue; }
        if (!strcmp(a, "--per-image")) { o.per_image = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--gt")) o.gt = v;
        else if (!strcmp(a, "--dt")) o.dt = v;
        else if (!strcmp(a, "--gt-labels")) o.gt_labels = v;
        else if (!strcmp(a, "--dt-labels")) o.dt_labels = v;
        else if (!strcmp(a, "--dt-scores")) o.scores = v;
        else if (!strcmp(a, "--dt-segment")) o.dt_segment = v;
        else if (!strcmp(a, "--objects")) {
            if (strcmp(v, "cells") && strcmp(v, "nuclei")) { fprintf(stderr, "fpf_eval: error: --objects must be cells or nuclei\n"); return 2; }
            o.objects = v;
        }
        else if (!strcmp(a, "--tpfp-iou")) {
            if (parse_double(v, &o.tpfp_iou) || o.tpfp_iou < 0.0 || o.tpfp_iou > 1.0) {
                fprintf(stderr, "fpf_eval: error: --tpfp-iou %s: must be an IoU between 0 and 1\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--max-dets")) {
            double md;
            if (parse_double(v, &md) || !(md >= 1 && md <= 1e7) || md != (double)(size_t)md) {
                fprintf(stderr, "fpf_eval: error: bad --max-dets %s (an integer >= 1)\n", v); return 2; }
            o.max_dets = (size_t)md;
        } else if (!strcmp(a, "--match-iou")) {
            if (parse_list(v, o.match_iou, 16, &o.n_match)) {
                fprintf(stderr, "fpf_eval: error: bad --match-iou %s (1 to 16 values in [0, 1], comma-separated)\n", v); return 2; }
        } else if (!strcmp(a, "--score-floor")) {
            if (parse_double(v, &o.floor)) { fprintf(stderr, "fpf_eval: error: bad --score-floor %s\n", v); return 2; }
        } else return usage();
    }
    if (o.dt_segment && !o.dt && !o.dt_labels && !o.scores && (!o.gt != !o.gt_labels))
        rc = load_segment(&set, o.gt_labels, o.gt, o.dt_segment, o.objects ? o.objects : "cells");
    else if (o.gt && o.dt && !o.gt_labels && !o.dt_labels && !o.scores) rc = load_coco(&set, o.gt, o.dt);
    else if (o.gt_labels && o.dt_labels && !o.gt && !o.dt) rc = load_labels(&set, o.gt_labels, o.dt_labels, o.scores);
    else return usage();
    if (!rc) rc = score_set(&set, &o, &res);
    if (rc) fprintf(stderr, "fpf_eval: error: %s\n", cli_err);
    else if (o.json) {
        printf("{\"bbox\": ");
        print_json_r(&res.sum[0], &res.tpfp[0], o.tpfp_iou);
        print_json_match(res.match[0], o.n_match);
        printf("}, \"segm\": ");
        print_json_r(&res.sum[1], &res.tpfp[1], o.tpfp_iou);
        print_json_match(res.match[1], o.n_match);
        printf("}}\n");
    } else {
        print_table(&set, &o, &res);
    }
    free(res.per_image[0]); free(res.per_image[1]);
    set_free(&set);
    return rc ? 1 : 0;
}

#ifndef FPF_EVAL_CLI_NO_MAIN
int main(int argc, char **argv) { return fpf_eval_cli(argc, argv); }
#endif
