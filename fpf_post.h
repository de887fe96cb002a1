/* fpf_post.h - v0.1 - label images and per-instance measurements for fpf.h
   SPDX-License-Identifier: MIT            (full text at the end of this file)

   Do this:
       #define FPF_POST_IMPLEMENTATION      (or FPF_ALL_IMPLEMENTATION)
       #include "fpf_post.h"
   in one C/C++ file. Needs fpf.h (for fpf_instance); the fpf.h implementation can live elsewhere.

   The network returns instances whose masks may overlap (the original code resolves nothing,
   spec §10.2). Users of label images (Fiji, CellProfiler, napari) need one label per pixel, so
   fpf_label_image() applies one documented rule:

     label of instance i = i + 1, in the order fpf returns them (descending score);
     a pixel covered by several instances takes the **highest-scoring** one (the lowest label).

   fpf_measure() then measures each label on the label image: area, bounding box, centroid,
   and the mean intensity of an optional image. fpf_assign_nuclei() maps every nucleus label to
   the cell label it overlaps most (0 when it lies outside every cell), the usual CellProfiler
   "parent" relation.

   Nothing here allocates; every function works on caller buffers and never reads or writes
   outside them. Results are fpf.h's fpf_result codes (FPF_OK, FPF_ERR_INVALID_ARG).

   Config macros
       FPF_POST_IMPLEMENTATION   emit the implementation in this translation unit
       FPF_ALL_IMPLEMENTATION    the same for fpf.h, fpf_post.h and fpf_eval.h at once
       FPF_STATIC, FPF_DEF       as in fpf.h (fpf_post.h uses fpf.h's FPF_DEF)
*/
#ifndef FPF_POST_H_INCLUDED
#define FPF_POST_H_INCLUDED
#include "fpf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpf_measurement {
    int label;
    long area;               /* pixels carrying this label (after overlap resolution) */
    int y1, x1, y2, x2;      /* bounding box of those pixels, y2/x2 exclusive; zeros if area 0 */
    double cy, cx;           /* centroid (row, column) */
    double mean_intensity;   /* of the optional image, else 0 */
} fpf_measurement;

/* Paints n instances into labels[h][w] (row stride `stride` elements; cleared first).
   Labels above 65535 are refused: n must be <= 65535. Returns FPF_OK or FPF_ERR_INVALID_ARG. */
FPF_DEF fpf_result fpf_label_image(const fpf_instance *inst, int n, int h, int w, uint16_t *labels, size_t stride);

/* Measures labels 1..n. image may be NULL (8- or 16-bit, same size). out has n entries. */
FPF_DEF fpf_result fpf_measure(const uint16_t *labels, size_t stride, int h, int w, int n,
                               const fpf_image *image, fpf_measurement *out);

/* The median equivalent diameter 2·sqrt(area/π) of n detections, in input pixels; 0 when n is 0.
   Each area is the box area times the share of the instance's mask28 at or above its threshold (the
   pasted mask's area up to resampling, without pasting). scratch holds n floats. For an automatic
   object size (fpf_segment --object-diameter auto): scale = model diameter / this, then run again. */
FPF_DEF float fpf_median_diameter(const fpf_instance *inst, int n, float *scratch);

/* parent[k] = the cell label that nucleus label k+1 overlaps most (ties: the lower label),
   0 if none. overlap_scratch needs n_nuclei · (n_cells + 1) longs (one pass over the images). */
FPF_DEF fpf_result fpf_assign_nuclei(const uint16_t *nuclei, const uint16_t *cells, size_t stride, int h,
                                     int w, int n_nuclei, int n_cells, int *parent, long *overlap_scratch);

/* ======================================================================================
   THE PAPER'S POST-PROCESSING, MEASUREMENTS AND THE REPORTER READOUT

   Everything below works on label images (uint16, 0 = background, row stride in elements)
   and caller buffers; nothing allocates. fpf_post_scratch_size() gives the scratch bytes.

   Building blocks (each tested on its own):
     fpf_threshold()    a threshold t of an 8/16-bit image; foreground is value > t.
                        FPF_THRESHOLD_OTSU: the t that maximises the between-class variance
                          w0·w1·(m0 − m1)² over the exact histogram (class 0 = values <= t);
                          on equal variance the lowest t wins. A constant image gives t = its value.
                        FPF_THRESHOLD_FIXED: t = param.
                        FPF_THRESHOLD_ROBUST: t = median + param · 1.4826 · MAD, where the
                          median is the lowest value v with at least ceil(N/2) pixels <= v and
                          MAD is the same median of |value − median|. Unlike Otsu it stays
                          above the noise on an image with no positive pixels.
     fpf_components()   connected components of a 0/1 mask, 4- or 8-connected, numbered
                        1..n in raster order of each component's first pixel.
     fpf_erode(), fpf_dilate()  binary erosion/dilation by a (2r+1)x(2r+1) square; pixels
                        outside the image are ignored (neither fore- nor background).

   fpf_postprocess(): the three steps of Korfhage et al. 2020 ("Post-processing"), in this
   order, each switchable in fpf_post_options (fpf_post_defaults() gives the values below):

     1. Shared nuclei (merge_shared_nuclei = 1). For each nucleus label k = 1, 2, ...: the
        cells that cover at least shared_min_fraction (0.5) of nucleus k's pixels are merged
        into one cell. Merges chain (union-find); a merged cell keeps the lowest label of
        its group and the highest score.
     2. Missed cell regions (missed_regions = 1). Foreground = cell image > threshold
        (missed_threshold, default ROBUST with k = 3), minus every pixel already in a cell; opened
        (erosion then dilation) with radius open_radius (1); split into connectivity (8)
        components; components with fewer than min_region_area (40) pixels are dropped.
        The cells a region "connects to" are the labels found within distance
        open_radius + 1 (a (2r+3)x(2r+3) window) of any of its pixels, i.e. across the
        strip the opening removed. Then, in component order:
          exactly one cell   -> the region's pixels join that cell;
          several cells      -> the region is discarded;
          none               -> the region becomes a new cell with score new_cell_score,
                                unless it is larger than new_region_max_ratio (1.0) times the
                                largest cell before step 2 (then it is most likely several
                                cells and is discarded; 0 = no limit, the paper's rule).
        Neighbours are looked up in the label image as it was before step 2, so the
        outcome does not depend on the order of the regions.
     3. Uncovered nuclei (uncovered_nuclei = 1). For each nucleus k = 1, 2, ... with pixels
        outside every cell: if some cell overlaps it, the cell with the largest overlap
        (ties: the lowest label) takes its uncovered pixels; otherwise the nucleus becomes a
        new cell of the nucleus's shape (score new_cell_score).
   Finally labels are made consecutive again: the cells that still have pixels (merged-away
   and empty labels are dropped) keep their relative order,
   new cells follow in the order they were made. scores[] is rewritten to match.
   Errors: FPF_ERR_INVALID_ARG (NULL, sizes, options); FPF_ERR_OUT_OF_MEMORY (scratch
   smaller than fpf_post_scratch_size(), or more new cells than max_cells allows).

   fpf_measure_objects(): per label 1..n, CellProfiler's MeasureObjectSizeShape and
   MeasureObjectIntensity quantities (pixel units; multiply by the pixel size for µm):
     area            pixel count A
     perimeter       scikit-image's regionprops perimeter (4-neighbourhood): the border
                     pixels (a pixel of the object with a 4-neighbour outside it or outside
                     the image) are each given the code 1 + 2·(border 4-neighbours of the same
                     object) + 10·(border diagonal neighbours of the same object); codes 5, 7,
                     15, 17, 25, 27 count 1, codes 21, 33 count √2, codes 13, 23 count
                     (1 + √2)/2, any other code 0. (A 3x3 square: 8; a 1x5 bar: 3,
                     as in scikit-image: the end pixels of a line count 0.)
     cx, cy          centroid: mean column, mean row
     x1, y1, x2, y2  bounding box, x2/y2 exclusive (CellProfiler's BoundingBoxMaximum)
     major, minor    4·√λ1, 4·√λ2, λ1 >= λ2 the eigenvalues of the covariance
                     [[μxx, μxy], [μxy, μyy]] of the pixel coordinates (μxx = Σ(x − cx)²/A ...)
     eccentricity    √(1 − λ2/λ1) (0 when λ1 = 0)
     orientation     degrees between the x axis and the major axis, counter-clockwise as seen
                     on screen (rows grow downward), in (−90, 90]:
                     0.5 · atan2(−2μxy, μxx − μyy)
     solidity        A / the area of the convex hull of the object's pixel squares (their
                     corner points, hull by Andrew's monotone chain, area by the shoelace
                     formula). scikit-image counts the pixel centres inside that hull
                     instead, so small objects can differ slightly from CellProfiler.
     edge            1 when the object has a pixel in the first/last row or column
     per channel c   mean[c], integrated[c] (sum), min[c], max[c] of the raw values
   Objects with area 0 get zeros.

   fpf_reporter_readout(): reporter-positive pixels are reporter > threshold (method and
   parameter in fpf_reporter_options, default ROBUST with 5: median + 5·1.4826·MAD of the
   whole image); per cell positive_area = its positive pixels, and
     infected = positive_area >= min_positive_area (default 4 pixels).
   ====================================================================================== */

typedef enum fpf_threshold_method {
    FPF_THRESHOLD_OTSU = 0,
    FPF_THRESHOLD_FIXED = 1,
    FPF_THRESHOLD_ROBUST = 2
} fpf_threshold_method;

typedef struct fpf_post_options {
    int merge_shared_nuclei;            /* step 1 on (1) / off (0); default 1 */
    int missed_regions;                 /* step 2; default 1 */
    int uncovered_nuclei;               /* step 3; default 1 */
    double shared_min_fraction;         /* step 1: a cell shares nucleus k when it covers >= this of it; 0.5 */
    fpf_threshold_method missed_threshold; /* step 2: cell-channel threshold; ROBUST */
    double missed_threshold_param;      /* FIXED: the threshold; ROBUST: k (3); unused for OTSU */
    int open_radius;                    /* step 2: opening radius (square 2r+1); 1 */
    int connectivity;                   /* step 2: 4 or 8; 8 */
    long min_region_area;               /* step 2: smallest region kept, pixels; 40 */
    float new_cell_score;               /* score of cells made by steps 2 and 3; 0.5 */
    double new_region_max_ratio;        /* step 2: a new cell may be at most this x the largest cell; 1; 0 = any */
} fpf_post_options;

typedef struct fpf_post_stats {
    int merged;        /* step 1: cells merged away */
    int attached;      /* step 2: regions added to a cell */
    int discarded;     /* step 2: regions touching several cells, or new ones too large */
    int new_regions;   /* step 2: regions made new cells */
    int enlarged;      /* step 3: nuclei whose uncovered pixels enlarged a cell */
    int new_nuclei;    /* step 3: nuclei made new cells */
    double threshold;  /* step 2: the cell-channel threshold used */
} fpf_post_stats;

typedef struct fpf_object {
    int label;
    long area;
    double perimeter;
    double cx, cy;
    int x1, y1, x2, y2;
    double major, minor, eccentricity, orientation, solidity;
    int edge;
    double mean[3], integrated[3], min[3], max[3];
} fpf_object;

typedef struct fpf_reporter_options {
    fpf_threshold_method method;  /* default FPF_THRESHOLD_ROBUST */
    double param;                 /* ROBUST: k (5); FIXED: the threshold */
    long min_positive_area;       /* infected when positive pixels >= this; 4 */
} fpf_reporter_options;

FPF_DEF void fpf_post_defaults(fpf_post_options *o);
FPF_DEF void fpf_reporter_defaults(fpf_reporter_options *o);

/* Scratch bytes for fpf_postprocess (max_cells: the label capacity, <= 65535; n_nuclei: the
   nucleus labels), fpf_measure_objects (max_cells = n, n_nuclei = 0) and
   fpf_reporter_readout / fpf_threshold (any arguments). */
FPF_DEF size_t fpf_post_scratch_size(int h, int w, int max_cells, int n_nuclei);

/* t such that foreground is value > t. hist: 65536 uint32 of scratch. */
FPF_DEF fpf_result fpf_threshold(const fpf_image *im, fpf_threshold_method method, double param,
                                 uint32_t *hist, double *t);
/* Returns the number of components (>= 0) or a negative fpf_result; labels[h*w] (contiguous). */
FPF_DEF long fpf_components(const uint8_t *mask, int h, int w, int connectivity, uint32_t *labels);
/* mask[h*w] in place; tmp: h*w bytes. */
FPF_DEF fpf_result fpf_erode(uint8_t *mask, int h, int w, int r, uint8_t *tmp);
FPF_DEF fpf_result fpf_dilate(uint8_t *mask, int h, int w, int r, uint8_t *tmp);

/* cells: label image with *n_cells labels, rewritten in place; scores[max_cells] (scores[i] of
   label i+1). nuclei (same size and stride as cells) may be NULL: steps 1 and 3 then do nothing;
   cell_image may be NULL: step 2 then does nothing. stats may be NULL. */
FPF_DEF fpf_result fpf_postprocess(uint16_t *cells, size_t stride, int h, int w, int *n_cells, int max_cells,
                                   float *scores, const uint16_t *nuclei, int n_nuclei,
                                   const fpf_image *cell_image, const fpf_post_options *opt,
                                   void *scratch, size_t scratch_size, fpf_post_stats *stats);

/* Measures labels 1..n with up to 3 intensity channels (entries may be NULL or have NULL pixels:
   their columns stay 0). out has n entries. */
FPF_DEF fpf_result fpf_measure_objects(const uint16_t *labels, size_t stride, int h, int w, int n,
                                       const fpf_image *const *channels, int n_channels, fpf_object *out,
                                       void *scratch, size_t scratch_size);

/* children[c-1] = number of nuclei whose parent (from fpf_assign_nuclei) is cell c. */
FPF_DEF void fpf_count_children(const int *parent, int n_nuclei, int n_cells, int *children);

/* positive_area[n_cells], infected[n_cells]; *threshold gets the reporter threshold. */
FPF_DEF fpf_result fpf_reporter_readout(const uint16_t *cells, size_t stride, int h, int w, int n_cells,
                                        const fpf_image *reporter, const fpf_reporter_options *opt,
                                        void *scratch, size_t scratch_size, double *threshold,
                                        long *positive_area, int *infected);

#ifdef __cplusplus
}
#endif
#endif /* FPF_POST_H_INCLUDED */

#if defined(FPF_POST_IMPLEMENTATION) || defined(FPF_ALL_IMPLEMENTATION)
#ifndef FPF_POST_IMPLEMENTATION_INCLUDED
#define FPF_POST_IMPLEMENTATION_INCLUDED
#include <math.h>
#include <stdlib.h>
#include <string.h>

FPF_DEF fpf_result fpf_label_image(const fpf_instance *inst, int n, int h, int w, uint16_t *labels, size_t stride) {
    int i, y, x;
    if ((!inst && n > 0) || !labels || n < 0 || n > 65535 || h < 1 || w < 1 || stride < (size_t)w)
        return FPF_ERR_INVALID_ARG;
    for (y = 0; y < h; y++) memset(labels + (size_t)y * stride, 0, (size_t)w * sizeof(uint16_t));
    for (i = 0; i < n; i++) { /* in descending score: a pixel keeps the first label it gets */
        const fpf_instance *c = &inst[i];
        int y0 = c->y1 > 0 ? c->y1 : 0, y1 = c->y2 < h ? c->y2 : h;
        int x0 = c->x1 > 0 ? c->x1 : 0, x1 = c->x2 < w ? c->x2 : w;
        if (!c->mask28) continue;
        for (y = y0; y < y1; y++)
            for (x = x0; x < x1; x++) {
                uint16_t *p = labels + (size_t)y * stride + x;
                if (*p == 0 && fpf_instance_mask_pixel(c, y - c->y1, x - c->x1)) *p = (uint16_t)(i + 1);
            }
    }
    return FPF_OK;
}

static double fpf_post__pixel(const fpf_image *im, int y, int x) {
    const uint8_t *row = (const uint8_t *)im->pixels + (size_t)y * im->stride;
    return im->bits == 16 ? (double)((const uint16_t *)(const void *)row)[x] : (double)row[x];
}

FPF_DEF fpf_result fpf_measure(const uint16_t *labels, size_t stride, int h, int w, int n,
                               const fpf_image *image, fpf_measurement *out) {
    int k, y, x;
    if (!labels || !out || n < 0 || h < 1 || w < 1 || stride < (size_t)w) return FPF_ERR_INVALID_ARG;
    if (image && (!image->pixels || image->width != w || image->height != h || (image->bits != 8 && image->bits != 16)))
        return FPF_ERR_INVALID_ARG;
    for (k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].label = k + 1;
        out[k].y1 = h; out[k].x1 = w;
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int l = labels[(size_t)y * stride + x];
            fpf_measurement *m;
            if (l == 0 || l > n) continue;
            m = &out[l - 1];
            m->area++;
            m->cy += y; m->cx += x;
            if (image) m->mean_intensity += fpf_post__pixel(image, y, x);
            if (y < m->y1) m->y1 = y;
            if (x < m->x1) m->x1 = x;
            if (y + 1 > m->y2) m->y2 = y + 1;
            if (x + 1 > m->x2) m->x2 = x + 1;
        }
    for (k = 0; k < n; k++) {
        fpf_measurement *m = &out[k];
        if (m->area == 0) { m->y1 = m->x1 = 0; continue; }
        m->cy /= (double)m->area; m->cx /= (double)m->area; m->mean_intensity /= (double)m->area;
    }
    return FPF_OK;
}

static int fpf_post__cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float fpf_post__diameter(const fpf_instance *d) {
    int i, on = 0, mm = d->mask_size * d->mask_size;
    double area;
    for (i = 0; i < mm; i++) on += d->mask28[i] >= d->threshold;
    area = (double)on / mm * (double)(d->y2 - d->y1) * (double)(d->x2 - d->x1);
    return (float)(2.0 * sqrt(area / 3.14159265358979323846));
}

FPF_DEF float fpf_median_diameter(const fpf_instance *inst, int n, float *scratch) {
    int k;
    if (!inst || !scratch || n < 1) return 0.0f;
    for (k = 0; k < n; k++) scratch[k] = inst[k].mask28 && inst[k].mask_size > 0 ? fpf_post__diameter(&inst[k]) : 0.0f;
    qsort(scratch, (size_t)n, sizeof *scratch, fpf_post__cmp_float);
    return n % 2 ? scratch[n / 2] : 0.5f * (scratch[n / 2 - 1] + scratch[n / 2]);
}

FPF_DEF fpf_result fpf_assign_nuclei(const uint16_t *nuclei, const uint16_t *cells, size_t stride, int h,
                                     int w, int n_nuclei, int n_cells, int *parent, long *ov) {
    int k, y, x, c;
    if (!nuclei || !cells || !parent || !ov || n_nuclei < 0 || n_cells < 0 || h < 1 || w < 1 || stride < (size_t)w)
        return FPF_ERR_INVALID_ARG;
    memset(ov, 0, (size_t)n_nuclei * ((size_t)n_cells + 1) * sizeof(long));
    for (y = 0; y < h; y++)                    /* ov[k][c]: pixels of nucleus k+1 in cell c */
        for (x = 0; x < w; x++) {
            size_t i = (size_t)y * stride + x;
            if (nuclei[i] >= 1 && nuclei[i] <= n_nuclei && cells[i] >= 1 && cells[i] <= n_cells)
                ov[(size_t)(nuclei[i] - 1) * ((size_t)n_cells + 1) + cells[i]]++;
        }
    for (k = 0; k < n_nuclei; k++) {
        const long *row = ov + (size_t)k * ((size_t)n_cells + 1);
        parent[k] = 0;
        for (c = 1; c <= n_cells; c++)
            if (row[c] > row[parent[k]]) parent[k] = c;
    }
    return FPF_OK;
}


/* ---------------------------------------------------------------- post-processing */

FPF_DEF void fpf_post_defaults(fpf_post_options *o) {
    memset(o, 0, sizeof *o);
    o->merge_shared_nuclei = o->missed_regions = o->uncovered_nuclei = 1;
    o->shared_min_fraction = 0.5;
    o->missed_threshold = FPF_THRESHOLD_ROBUST;
    o->missed_threshold_param = 3;
    o->open_radius = 1;
    o->connectivity = 8;
    o->min_region_area = 40;
    o->new_cell_score = 0.5f;
    o->new_region_max_ratio = 1.0;
}

FPF_DEF void fpf_reporter_defaults(fpf_reporter_options *o) {
    o->method = FPF_THRESHOLD_ROBUST;
    o->param = 5.0;
    o->min_positive_area = 4;
}

#define FPF_POST__ALIGN(n) (((n) + 63) & ~(size_t)63)

FPF_DEF size_t fpf_post_scratch_size(int h, int w, int max_cells, int n_nuclei) {
    size_t hw = (size_t)(h > 0 ? h : 0) * (size_t)(w > 0 ? w : 0), m = (size_t)(max_cells > 0 ? max_cells : 0) + 1;
    size_t nn = (size_t)(n_nuclei > 0 ? n_nuclei : 0) + 1, hh = (size_t)(h > 0 ? h : 0) + 2;
    return FPF_POST__ALIGN(65536 * 4) + 2 * FPF_POST__ALIGN(hw) + 3 * FPF_POST__ALIGN((hw + 1) * 4) +
           4 * FPF_POST__ALIGN(m * 8) + FPF_POST__ALIGN(m * 3 * sizeof(double)) + FPF_POST__ALIGN(nn * m * 4) +
           FPF_POST__ALIGN(nn * 4) + FPF_POST__ALIGN(hh * 8 * sizeof(long)) + 64;
}

/* Carves aligned pieces off the caller's scratch; NULL when it runs out. */
typedef struct fpf_post__arena { unsigned char *p; size_t left; } fpf_post__arena;
static void *fpf_post__take(fpf_post__arena *a, size_t bytes) {
    size_t pad = (size_t)(-(uintptr_t)a->p & 63), need = pad + FPF_POST__ALIGN(bytes);
    void *r;
    if (!a->p || need > a->left) { a->p = NULL; return NULL; }
    r = a->p + pad;
    a->p += need; a->left -= need;
    return r;
}

static int fpf_post__image_ok(const fpf_image *im, int h, int w) {
    return im && im->pixels && im->width == w && im->height == h && (im->bits == 8 || im->bits == 16);
}

FPF_DEF fpf_result fpf_threshold(const fpf_image *im, fpf_threshold_method method, double param, uint32_t *hist,
                                 double *t) {
    int y, x, maxv, k;
    double n, total = 0;
    if (!im || !im->pixels || (im->bits != 8 && im->bits != 16) || im->width < 1 || im->height < 1 || !hist || !t)
        return FPF_ERR_INVALID_ARG;
    if (method == FPF_THRESHOLD_FIXED) { *t = param; return FPF_OK; }
    if (method != FPF_THRESHOLD_OTSU && method != FPF_THRESHOLD_ROBUST) return FPF_ERR_INVALID_ARG;
    maxv = im->bits == 16 ? 65535 : 255;
    memset(hist, 0, 65536 * sizeof *hist);
    for (y = 0; y < im->height; y++)
        for (x = 0; x < im->width; x++) hist[(int)fpf_post__pixel(im, y, x)]++;
    n = (double)im->height * im->width;
    if (method == FPF_THRESHOLD_OTSU) {
        double w0 = 0, s0 = 0, best = -1;
        int top = 0;
        for (k = 0; k <= maxv; k++) { total += (double)k * hist[k]; if (hist[k]) top = k; }
        *t = top; /* a constant image: nothing above it */
        for (k = 0; k < top; k++) {
            double w1, m0, m1, v;
            w0 += hist[k]; s0 += (double)k * hist[k];
            if (w0 == 0) continue;
            w1 = n - w0; m0 = s0 / w0; m1 = (total - s0) / w1;
            v = w0 * w1 * (m0 - m1) * (m0 - m1);
            if (v > best) { best = v; *t = k; }
        }
        return FPF_OK;
    } else { /* median + param · 1.4826 · MAD, both from the cumulative histogram */
        double half = ceil(n / 2);
        int med = 0, d;
        for (k = 1; k <= maxv; k++) hist[k] += hist[k - 1];
        while ((double)hist[med] < half) med++;
        for (d = 0; d < maxv; d++) {
            int hi = med + d > maxv ? maxv : med + d, lo = med - d - 1;
            if ((double)hist[hi] - (lo >= 0 ? (double)hist[lo] : 0.0) >= half) break;
        }
        *t = med + param * 1.4826 * d;
        return FPF_OK;
    }
}

static uint32_t fpf_post__find(uint32_t *par, uint32_t i) { /* par holds index + 1 */
    while (par[i] - 1 != i) { par[i] = par[par[i] - 1]; i = par[i] - 1; }
    return i;
}

static void fpf_post__union(uint32_t *par, uint32_t a, uint32_t b) {
    uint32_t ra = fpf_post__find(par, a), rb = fpf_post__find(par, b);
    if (ra < rb) par[rb] = ra + 1;
    else if (rb < ra) par[ra] = rb + 1;
}

FPF_DEF long fpf_components(const uint8_t *mask, int h, int w, int connectivity, uint32_t *lab) {
    size_t i, n = (size_t)h * w;
    int y, x;
    long count = 0;
    if (!mask || !lab || h < 1 || w < 1 || (connectivity != 4 && connectivity != 8) || n >= 0xFFFFFFFFu)
        return FPF_ERR_INVALID_ARG;
    for (y = 0; y < h; y++) /* union-find over pixel indices; a root is its component's first pixel */
        for (x = 0; x < w; x++) {
            uint32_t q = (uint32_t)((size_t)y * w + x);
            lab[q] = mask[q] ? q + 1 : 0;
            if (!mask[q]) continue;
            if (x > 0 && mask[q - 1]) fpf_post__union(lab, q, q - 1);
            if (y > 0 && mask[q - w]) fpf_post__union(lab, q, q - (uint32_t)w);
            if (connectivity == 8 && y > 0 && x > 0 && mask[q - w - 1]) fpf_post__union(lab, q, q - (uint32_t)w - 1);
            if (connectivity == 8 && y > 0 && x < w - 1 && mask[q - w + 1]) fpf_post__union(lab, q, q - (uint32_t)w + 1);
        }
    for (i = 0; i < n; i++) { /* parents point to lower indices, which already hold final numbers */
        if (!lab[i]) continue;
        if (lab[i] - 1 == i) lab[i] = (uint32_t)++count;
        else lab[i] = lab[lab[i] - 1];
    }
    return count;
}

/* One pass of a 1-D window of radius r along rows (dy = 0) or columns: erode keeps a pixel
   when all in-image pixels of its window are set, dilate sets it when any is. */
static void fpf_post__morph1(const uint8_t *src, uint8_t *dst, int h, int w, int r, int along_rows, int erode) {
    int y, x, k;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int v = erode ? 1 : 0;
            for (k = -r; k <= r; k++) {
                int yy = along_rows ? y : y + k, xx = along_rows ? x + k : x;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                if (erode && !src[(size_t)yy * w + xx]) { v = 0; break; }
                if (!erode && src[(size_t)yy * w + xx]) { v = 1; break; }
            }
            dst[(size_t)y * w + x] = (uint8_t)v;
        }
}

static fpf_result fpf_post__morph(uint8_t *mask, int h, int w, int r, uint8_t *tmp, int erode) {
    if (!mask || !tmp || h < 1 || w < 1 || r < 0) return FPF_ERR_INVALID_ARG;
    if (r == 0) return FPF_OK;
    fpf_post__morph1(mask, tmp, h, w, r, 1, erode);
    fpf_post__morph1(tmp, mask, h, w, r, 0, erode);
    return FPF_OK;
}
FPF_DEF fpf_result fpf_erode(uint8_t *mask, int h, int w, int r, uint8_t *tmp) { return fpf_post__morph(mask, h, w, r, tmp, 1); }
FPF_DEF fpf_result fpf_dilate(uint8_t *mask, int h, int w, int r, uint8_t *tmp) { return fpf_post__morph(mask, h, w, r, tmp, 0); }

/* ov[k * (m + 1) + c]: pixels of nucleus k+1 in cell c (c = 0: in no cell); area[k] its size. */
static void fpf_post__overlap(const uint16_t *cells, const uint16_t *nuclei, size_t stride, int h, int w,
                              int n_nuclei, int m, uint32_t *ov, uint32_t *area) {
    int y, x;
    memset(ov, 0, (size_t)n_nuclei * ((size_t)m + 1) * sizeof *ov);
    memset(area, 0, (size_t)n_nuclei * sizeof *area);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t i = (size_t)y * stride + x;
            int k = nuclei[i], c = cells[i];
            if (k < 1 || k > n_nuclei || c > m) continue;
            ov[(size_t)(k - 1) * ((size_t)m + 1) + c]++;
            area[k - 1]++;
        }
}

/* Step 1: union-find over cell labels (root = lowest label), then relabel every pixel. */
static int fpf_post__merge(uint16_t *cells, size_t stride, int h, int w, int n, float *scores, const uint16_t *nuclei,
                           int n_nuclei, double frac, uint32_t *ov, uint32_t *area, uint32_t *root) {
    int k, c, y, x, merged = 0;
    fpf_post__overlap(cells, nuclei, stride, h, w, n_nuclei, n, ov, area);
    for (c = 0; c <= n; c++) root[c] = (uint32_t)c + 1; /* par = index + 1, as fpf_post__find wants */
    for (k = 0; k < n_nuclei; k++) {
        const uint32_t *row = ov + (size_t)k * ((size_t)n + 1);
        int first = 0;
        for (c = 1; c <= n; c++) {
            if (!row[c] || (double)row[c] < frac * (double)area[k]) continue;
            if (!first) first = c;
            else fpf_post__union(root, (uint32_t)first, (uint32_t)c);
        }
    }
    for (c = 1; c <= n; c++) {
        uint32_t r = fpf_post__find(root, (uint32_t)c);
        if (r != (uint32_t)c) {
            merged++;
            if (scores[c - 1] > scores[r - 1]) scores[r - 1] = scores[c - 1];
        }
    }
    for (c = 1; c <= n; c++) root[c] = fpf_post__find(root, (uint32_t)c) + 1; /* still a valid parent array */
    if (merged)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                uint16_t *p = cells + (size_t)y * stride + x;
                if (*p && *p <= n) *p = (uint16_t)(root[*p] - 1);
            }
    return merged;
}

/* The working buffers of fpf_postprocess, carved from the caller's scratch. */
typedef struct fpf_post__ws {
    uint32_t *hist;           /* 65536: threshold histogram */
    uint8_t *mask, *tmp;      /* h*w: step 2 foreground, morphology */
    uint32_t *comp;           /* h*w: step 2 components */
    uint32_t *carea, *ctouch; /* per component: area; the touched cell (0 none, ~0 several), then its new label */
    uint32_t *root, *newlab;  /* per cell label: step 1 union-find / the final numbering; cell areas */
    uint32_t *ov, *narea;     /* nucleus x cell overlaps; per nucleus: area, then step 3's target cell */
} fpf_post__ws;

static int fpf_post__carve(fpf_post__ws *ws, void *scratch, size_t size, int h, int w, int max_cells, int n_nuclei) {
    fpf_post__arena a;
    size_t hw = (size_t)h * w;
    a.p = (unsigned char *)scratch; a.left = size;
    ws->hist = (uint32_t *)fpf_post__take(&a, 65536 * 4);
    ws->mask = (uint8_t *)fpf_post__take(&a, hw);
    ws->tmp = (uint8_t *)fpf_post__take(&a, hw);
    ws->comp = (uint32_t *)fpf_post__take(&a, (hw + 1) * 4);
    ws->carea = (uint32_t *)fpf_post__take(&a, (hw + 1) * 4);
    ws->ctouch = (uint32_t *)fpf_post__take(&a, (hw + 1) * 4);
    ws->root = (uint32_t *)fpf_post__take(&a, ((size_t)max_cells + 1) * 8);
    ws->newlab = (uint32_t *)fpf_post__take(&a, ((size_t)max_cells + 1) * 8);
    ws->ov = (uint32_t *)fpf_post__take(&a, ((size_t)n_nuclei + 1) * ((size_t)max_cells + 1) * 4);
    ws->narea = (uint32_t *)fpf_post__take(&a, ((size_t)n_nuclei + 1) * 4);
    return ws->narea != NULL;
}

/* Step 2, after the threshold: foreground outside the cells, opened, in components; for each
   component its area and the cells within reach (decided against the labels before step 2). */
static long fpf_post__regions(const uint16_t *cells, size_t stride, int h, int w, const fpf_image *im, double t,
                              const fpf_post_options *opt, fpf_post__ws *ws) {
    int y, x, yy, xx, reach = opt->open_radius + 1;
    long nc;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            ws->mask[(size_t)y * w + x] = (uint8_t)(!cells[(size_t)y * stride + x] && fpf_post__pixel(im, y, x) > t);
    fpf_erode(ws->mask, h, w, opt->open_radius, ws->tmp);
    fpf_dilate(ws->mask, h, w, opt->open_radius, ws->tmp);
    nc = fpf_components(ws->mask, h, w, opt->connectivity, ws->comp);
    if (nc < 0) return nc;
    memset(ws->carea, 0, ((size_t)nc + 1) * 4);
    memset(ws->ctouch, 0, ((size_t)nc + 1) * 4);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            uint32_t q = ws->comp[(size_t)y * w + x], *touch = &ws->ctouch[q];
            if (!q) continue;
            ws->carea[q]++;
            for (yy = y - reach; yy <= y + reach && *touch != 0xFFFFFFFFu; yy++)
                for (xx = x - reach; xx <= x + reach; xx++) {
                    uint32_t l;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    l = cells[(size_t)yy * stride + xx];
                    if (l && l != *touch) *touch = *touch ? 0xFFFFFFFFu : l;
                }
        }
    return nc;
}

/* Step 2: the rules of the header comment, in component order. Returns the new cells, or < 0. */
static long fpf_post__missed(uint16_t *cells, size_t stride, int h, int w, int n, int max_cells, float *scores,
                             const fpf_image *im, const fpf_post_options *opt, fpf_post__ws *ws, fpf_post_stats *st) {
    long nc, j, largest = 0, added = 0;
    int y, x, c;
    fpf_result e = fpf_threshold(im, opt->missed_threshold, opt->missed_threshold_param, ws->hist, &st->threshold);
    if (e != FPF_OK) return e;
    if ((nc = fpf_post__regions(cells, stride, h, w, im, st->threshold, opt, ws)) < 0) return nc;
    memset(ws->newlab, 0, ((size_t)n + 1) * 4); /* cell areas, for the largest cell */
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) ws->newlab[cells[(size_t)y * stride + x]]++;
    for (c = 1; c <= n; c++) if ((long)ws->newlab[c] > largest) largest = (long)ws->newlab[c];
    for (j = 1; j <= nc; j++) { /* ctouch becomes the region's new label (0: dropped) */
        uint32_t *t = &ws->ctouch[j];
        if ((long)ws->carea[j] < opt->min_region_area) *t = 0;
        else if (*t == 0xFFFFFFFFu) { *t = 0; st->discarded++; }
        else if (*t) st->attached++;
        else if (opt->new_region_max_ratio > 0 && (double)ws->carea[j] > opt->new_region_max_ratio * (double)largest) {
            st->discarded++;
        } else {
            if (n + added + 1 > max_cells) return FPF_ERR_OUT_OF_MEMORY;
            *t = (uint32_t)(n + ++added);
            scores[*t - 1] = opt->new_cell_score;
            st->new_regions++;
        }
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            uint32_t q = ws->comp[(size_t)y * w + x];
            if (q && ws->ctouch[q]) cells[(size_t)y * stride + x] = (uint16_t)ws->ctouch[q];
        }
    return added;
}

/* Step 3. Returns the new cells, or < 0. */
static long fpf_post__uncovered(uint16_t *cells, size_t stride, int h, int w, int n, int max_cells, float *scores,
                                const uint16_t *nuclei, int n_nuclei, const fpf_post_options *opt, fpf_post__ws *ws,
                                fpf_post_stats *st) {
    long added = 0;
    int k, c, y, x;
    fpf_post__overlap(cells, nuclei, stride, h, w, n_nuclei, n, ws->ov, ws->narea);
    for (k = 0; k < n_nuclei; k++) { /* narea[k] becomes the cell that takes nucleus k+1's uncovered pixels */
        const uint32_t *row = ws->ov + (size_t)k * ((size_t)n + 1);
        uint32_t most = 0, best = 0;
        ws->narea[k] = 0;
        if (!row[0]) continue; /* covered completely */
        for (c = 1; c <= n; c++) if (row[c] > most) { most = row[c]; best = (uint32_t)c; }
        if (best) { ws->narea[k] = best; st->enlarged++; continue; }
        if (n + added + 1 > max_cells) return FPF_ERR_OUT_OF_MEMORY;
        ws->narea[k] = (uint32_t)(n + ++added);
        scores[ws->narea[k] - 1] = opt->new_cell_score;
        st->new_nuclei++;
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t i = (size_t)y * stride + x;
            if (!cells[i] && nuclei[i]) cells[i] = (uint16_t)ws->narea[nuclei[i] - 1];
        }
    return added;
}

/* Consecutive labels again: the labels that still have pixels keep their order. Returns their count. */
static int fpf_post__compact(uint16_t *cells, size_t stride, int h, int w, int n, float *scores, fpf_post__ws *ws) {
    int y, x, c, k = 0;
    memset(ws->root, 0, ((size_t)n + 1) * 4);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) ws->root[cells[(size_t)y * stride + x]] = 1;
    ws->newlab[0] = 0; /* background stays background, whatever the scratch held */
    for (c = 1; c <= n; c++) {
        ws->newlab[c] = ws->root[c] ? (uint32_t)++k : 0;
        if (ws->root[c]) scores[k - 1] = scores[c - 1];
    }
    if (k != n)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                uint16_t *p = cells + (size_t)y * stride + x;
                *p = (uint16_t)ws->newlab[*p];
            }
    return k;
}

FPF_DEF fpf_result fpf_postprocess(uint16_t *cells, size_t stride, int h, int w, int *n_cells, int max_cells,
                                   float *scores, const uint16_t *nuclei, int n_nuclei,
                                   const fpf_image *cell_image, const fpf_post_options *opt,
                                   void *scratch, size_t scratch_size, fpf_post_stats *stats) {
    fpf_post__ws ws;
    fpf_post_stats st;
    long added;
    int n, y, x;
    memset(&st, 0, sizeof st);
    if (!cells || !n_cells || !scores || !opt || h < 1 || w < 1 || stride < (size_t)w || *n_cells < 0 ||
        max_cells < *n_cells || max_cells > 65535 || n_nuclei < 0 || (n_nuclei > 0 && !nuclei) ||
        (opt->connectivity != 4 && opt->connectivity != 8) || opt->open_radius < 0 || opt->open_radius > 64 ||
        !(opt->new_region_max_ratio >= 0) || !(opt->shared_min_fraction >= 0 && opt->shared_min_fraction <= 1))
        return FPF_ERR_INVALID_ARG;
    if (cell_image && cell_image->pixels && !fpf_post__image_ok(cell_image, h, w)) return FPF_ERR_INVALID_ARG;
    if (!scratch || scratch_size < fpf_post_scratch_size(h, w, max_cells, n_nuclei) ||
        !fpf_post__carve(&ws, scratch, scratch_size, h, w, max_cells, n_nuclei))
        return FPF_ERR_OUT_OF_MEMORY;
    n = *n_cells;
    for (y = 0; y < h; y++) /* labels above n do not exist: refuse them */
        for (x = 0; x < w; x++)
            if (cells[(size_t)y * stride + x] > n || (nuclei && nuclei[(size_t)y * stride + x] > n_nuclei))
                return FPF_ERR_INVALID_ARG;
    if (opt->merge_shared_nuclei && n_nuclei > 0) /* 1. shared nuclei */
        st.merged = fpf_post__merge(cells, stride, h, w, n, scores, nuclei, n_nuclei, opt->shared_min_fraction, ws.ov,
                                    ws.narea, ws.root);
    if (opt->missed_regions && cell_image && cell_image->pixels) { /* 2. missed cell regions */
        if ((added = fpf_post__missed(cells, stride, h, w, n, max_cells, scores, cell_image, opt, &ws, &st)) < 0)
            return (fpf_result)added;
        n += (int)added;
    }
    if (opt->uncovered_nuclei && n_nuclei > 0) { /* 3. uncovered nuclei */
        if ((added = fpf_post__uncovered(cells, stride, h, w, n, max_cells, scores, nuclei, n_nuclei, opt, &ws, &st)) < 0)
            return (fpf_result)added;
        n += (int)added;
    }
    *n_cells = fpf_post__compact(cells, stride, h, w, n, scores, &ws);
    if (stats) *stats = st;
    return FPF_OK;
}

/* ---------------------------------------------------------------- measurements */

static long long fpf_post__cross(const int *o, const int *a, const int *b) {
    return (long long)(a[0] - o[0]) * (b[1] - o[1]) - (long long)(a[1] - o[1]) * (b[0] - o[0]);
}

/* Area of the convex hull of the pixel squares of label l inside its box. pts: 2·(rows+1)
   points, hull: 2·that; both int[2] each. */
static double fpf_post__hull_area(const uint16_t *lab, size_t stride, int l, int y1, int x1, int y2, int x2,
                                  int (*pts)[2], int (*hull)[2]) {
    int y, x, np = 0, k = 0, i, t, pl = -1, pr = -1; /* pl/pr: previous row's extent (-1: none) */
    double area = 0;
    for (y = y1; y <= y2; y++) { /* corner level y: bottom corners of row y-1, top corners of row y */
        int lo = -1, hi = -1, a = pl, b = pr;
        if (y < y2)
            for (x = x1; x < x2; x++)
                if (lab[(size_t)y * stride + x] == l) { if (lo < 0) lo = x; hi = x + 1; }
        if (lo >= 0) { if (a < 0 || lo < a) a = lo; if (hi > b) b = hi; }
        if (a >= 0) { pts[np][0] = a; pts[np][1] = y; np++; pts[np][0] = b; pts[np][1] = y; np++; }
        pl = lo; pr = hi;
    }
    /* Andrew's monotone chain; points are already sorted by (y, x) */
    for (i = 0; i < np; i++) {
        while (k >= 2 && fpf_post__cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) k--;
        hull[k][0] = pts[i][0]; hull[k][1] = pts[i][1]; k++;
    }
    for (i = np - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && fpf_post__cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) k--;
        hull[k][0] = pts[i][0]; hull[k][1] = pts[i][1]; k++;
    }
    for (i = 0; i + 1 < k; i++) area += (double)hull[i][0] * hull[i + 1][1] - (double)hull[i + 1][0] * hull[i][1];
    return fabs(area) / 2;
}

FPF_DEF fpf_result fpf_measure_objects(const uint16_t *labels, size_t stride, int h, int w, int n,
                                       const fpf_image *const *channels, int n_channels, fpf_object *out,
                                       void *scratch, size_t scratch_size) {
    static const double pw[50] = {0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1.2071067811865475, 0, 1, 0, 1, 0, 0, 0,
                                  1.4142135623730951, 0, 1.2071067811865475, 0, 1, 0, 1, 0, 0, 0, 0, 0,
                                  1.4142135623730951};
    fpf_post__arena a;
    uint8_t *border;
    double *mom; /* Σx², Σy², Σxy per object */
    int (*pts)[2], (*hull)[2];
    int k, y, x, c;
    if (!labels || !out || n < 0 || n > 65535 || h < 1 || w < 1 || stride < (size_t)w || n_channels < 0 ||
        n_channels > 3 || (n_channels > 0 && !channels))
        return FPF_ERR_INVALID_ARG;
    for (c = 0; c < n_channels; c++)
        if (channels[c] && channels[c]->pixels && !fpf_post__image_ok(channels[c], h, w)) return FPF_ERR_INVALID_ARG;
    if (!scratch || scratch_size < fpf_post_scratch_size(h, w, n, 0)) return FPF_ERR_OUT_OF_MEMORY;
    a.p = (unsigned char *)scratch; a.left = scratch_size;
    border = (uint8_t *)fpf_post__take(&a, (size_t)h * w);
    mom = (double *)fpf_post__take(&a, ((size_t)n + 1) * 3 * sizeof(double));
    pts = (int (*)[2])fpf_post__take(&a, ((size_t)h + 2) * 2 * sizeof *pts);
    hull = (int (*)[2])fpf_post__take(&a, ((size_t)h + 2) * 4 * sizeof *hull);
    if (!hull) return FPF_ERR_OUT_OF_MEMORY;
    memset(mom, 0, ((size_t)n + 1) * 3 * sizeof(double));
    for (k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].label = k + 1;
        out[k].y1 = h; out[k].x1 = w;
        for (c = 0; c < 3; c++) { out[k].min[c] = 1e300; out[k].max[c] = -1e300; }
    }
    for (y = 0; y < h; y++) /* border pixels: a 4-neighbour outside the object or the image */
        for (x = 0; x < w; x++) {
            const uint16_t *p = labels + (size_t)y * stride + x;
            int l = *p;
            border[(size_t)y * w + x] = (uint8_t)(l && (y == 0 || y == h - 1 || x == 0 || x == w - 1 || p[-1] != l ||
                                                        p[1] != l || p[-(long)stride] != l || p[stride] != l));
        }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int l = labels[(size_t)y * stride + x], dy, dx, code = 1;
            fpf_object *o;
            if (l == 0 || l > n) continue;
            o = &out[l - 1];
            o->area++;
            o->cx += x; o->cy += y;
            mom[(l - 1) * 3] += (double)x * x; mom[(l - 1) * 3 + 1] += (double)y * y; mom[(l - 1) * 3 + 2] += (double)x * y;
            if (y < o->y1) o->y1 = y;
            if (x < o->x1) o->x1 = x;
            if (y + 1 > o->y2) o->y2 = y + 1;
            if (x + 1 > o->x2) o->x2 = x + 1;
            if (y == 0 || x == 0 || y == h - 1 || x == w - 1) o->edge = 1;
            for (c = 0; c < n_channels; c++) {
                double v;
                if (!channels[c] || !channels[c]->pixels) continue;
                v = fpf_post__pixel(channels[c], y, x);
                o->integrated[c] += v;
                if (v < o->min[c]) o->min[c] = v;
                if (v > o->max[c]) o->max[c] = v;
            }
            if (!border[(size_t)y * w + x]) continue;
            for (dy = -1; dy <= 1; dy++) /* scikit-image's perimeter code of this border pixel */
                for (dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if ((!dy && !dx) || yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    if (labels[(size_t)yy * stride + xx] == l && border[(size_t)yy * w + xx]) code += dy && dx ? 10 : 2;
                }
            o->perimeter += code < 50 ? pw[code] : 0;
        }
    for (k = 0; k < n; k++) {
        fpf_object *o = &out[k];
        double A = (double)o->area, mxx, myy, mxy, tr, det, disc, l1, l2;
        if (o->area == 0) { memset(o, 0, sizeof *o); o->label = k + 1; continue; }
        o->cx /= A; o->cy /= A;
        mxx = mom[k * 3] / A - o->cx * o->cx;
        myy = mom[k * 3 + 1] / A - o->cy * o->cy;
        mxy = mom[k * 3 + 2] / A - o->cx * o->cy;
        tr = mxx + myy; det = mxx * myy - mxy * mxy;
        disc = sqrt(fmax(tr * tr / 4 - det, 0));
        l1 = fmax(tr / 2 + disc, 0); l2 = fmax(tr / 2 - disc, 0);
        o->major = 4 * sqrt(l1); o->minor = 4 * sqrt(l2);
        o->eccentricity = l1 > 0 ? sqrt(fmax(1 - l2 / l1, 0)) : 0;
        o->orientation = 0.5 * atan2(-2 * mxy, mxx - myy) * (180.0 / 3.14159265358979323846);
        if (o->orientation <= -90) o->orientation += 180;
        o->solidity = A / fpf_post__hull_area(labels, stride, k + 1, o->y1, o->x1, o->y2, o->x2, pts, hull);
        for (c = 0; c < 3; c++) {
            if (c >= n_channels || !channels[c] || !channels[c]->pixels) { o->min[c] = o->max[c] = 0; continue; }
            o->mean[c] = o->integrated[c] / A;
        }
    }
    return FPF_OK;
}

FPF_DEF void fpf_count_children(const int *parent, int n_nuclei, int n_cells, int *children) {
    int k;
    for (k = 0; k < n_cells; k++) children[k] = 0;
    for (k = 0; k < n_nuclei; k++)
        if (parent[k] >= 1 && parent[k] <= n_cells) children[parent[k] - 1]++;
}

FPF_DEF fpf_result fpf_reporter_readout(const uint16_t *cells, size_t stride, int h, int w, int n_cells,
                                        const fpf_image *reporter, const fpf_reporter_options *opt,
                                        void *scratch, size_t scratch_size, double *threshold,
                                        long *positive_area, int *infected) {
    fpf_result e;
    double t;
    int y, x, k;
    if (!cells || !opt || !threshold || !positive_area || !infected || n_cells < 0 || stride < (size_t)w ||
        !fpf_post__image_ok(reporter, h, w))
        return FPF_ERR_INVALID_ARG;
    if (!scratch || scratch_size < 65536 * 4) return FPF_ERR_OUT_OF_MEMORY;
    if ((e = fpf_threshold(reporter, opt->method, opt->param, (uint32_t *)scratch, &t)) != FPF_OK) return e;
    for (k = 0; k < n_cells; k++) positive_area[k] = 0;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int l = cells[(size_t)y * stride + x];
            if (l >= 1 && l <= n_cells && fpf_post__pixel(reporter, y, x) > t) positive_area[l - 1]++;
        }
    for (k = 0; k < n_cells; k++) infected[k] = positive_area[k] >= opt->min_positive_area;
    *threshold = t;
    return FPF_OK;
}

#endif /* FPF_POST_IMPLEMENTATION_INCLUDED */
#endif /* FPF_POST_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the fpf authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
