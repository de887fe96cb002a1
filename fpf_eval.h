/* fpf_eval.h - v0.1.0 - COCO AP scoring, bit-identical to pycocotools COCOeval
   SPDX-License-Identifier: MIT            (full text at the end of this file)

   Do this:
       #define FPF_EVAL_IMPLEMENTATION      (or FPF_ALL_IMPLEMENTATION)
       #include "fpf_eval.h"
   in *one* C or C++ file. Other files include fpf_eval.h without the define.

   Scores instance masks and boxes from any model against ground truth with the
   numbers pycocotools' COCOeval gives for one category, area range "all" and
   maxDets 100 (or N: fpf_eval_set_max_dets), for iouType "bbox" and "segm",
   and the DSB/StarDist accuracy and F1 (fpf_eval_matching). No dependency
   on fpf.h.

   QUICK START (make test compiles and runs this block)
       #define FPF_EVAL_IMPLEMENTATION
       #include "fpf_eval.h"

       fpf_eval *ev = NULL;
       if (fpf_eval_init(NULL, &ev) != FPF_EVAL_OK) return 1; // NULL allocator = malloc/free
       // once per image, by ascending image id: masks + boxes (+ scores for dt)
       fpf_eval_add_image(ev, gt, n_gt, dt, n_dt);
       fpf_eval_summary s;
       fpf_eval_summarize(ev, FPF_EVAL_SEGM, &s);       // s.ap[10], s.map_50_95, s.ap75 ...
       fpf_eval_counts c;
       fpf_eval_tpfp(ev, FPF_EVAL_SEGM, 0.75, FPF_EVAL_NO_FLOOR, &c, NULL);
       printf("mAP %.3f, TP %zu FP %zu FN %zu\n", s.map_50_95, c.tp, c.fp, c.fn);
       fpf_eval_free(ev);

   An instance is an fpf_eval_instance: a COCO RLE mask (column-major run
   lengths, first run is background), a box [x, y, w, h] and, for detections, a
   score. fpf_eval_labels_from_image() turns a label image (instance = label
   value) into instances; fpf_eval_rle_encode/decode/to_string/from_string
   convert binary masks and COCO's compressed "counts" strings.

   MEMORY
   Every allocation goes through an fpf_eval_allocator {alloc(size, align,
   user), free(ptr, user), user}; a NULL pointer or a zero struct means
   malloc/free. fpf_eval_add_image() copies what it needs (scores and the
   detection x GT IoU matrices of the top 100 or max_dets detections), so
   callers may free their masks right after. Memory held: O(sum over images
   of max_dets x n_gt).

   ERRORS
   Functions return fpf_eval_result: 0 (FPF_EVAL_OK) or a negative code;
   fpf_eval_result_string() names it. The library never prints, aborts or
   exits, has no mutable globals and uses no stdio. Names follow fpf.h's:
   _init / _free, FPF_EVAL_ERR_INVALID_ARG, FPF_EVAL_ERR_OUT_OF_MEMORY.

   CONFIG MACROS
       FPF_EVAL_IMPLEMENTATION   emit the implementation in this translation unit
       FPF_ALL_IMPLEMENTATION    the same for fpf.h, fpf_post.h and fpf_eval.h at once
       FPF_EVAL_STATIC           make all functions static
       FPF_EVAL_DEF              the storage class of the functions (overrides the above)

   SEMANTICS (pycocotools/cocoeval.py and common/maskApi.c)
   - Per image (COCOeval.evaluateImg): detections are sorted by descending
     score with a stable sort (np.argsort(-score, kind='mergesort')), only the
     first 100 are kept. Greedy matching in that rank order: for each
     detection the running best starts at min(t, 1-1e-10); a GT already
     matched is skipped; a GT with IoU < best is skipped, otherwise it becomes
     the best (so on equal IoU the later GT wins).
   - Box IoU is maskApi bbIou: no +1, w = fmin(dx+dw, gx+gw) - fmax(dx, gx),
     same for h, i = w*h, u = (dw*dh + gw*gh) - i, iou = i/u, in exactly this
     double order with no FMA contraction.
   - Mask IoU is maskApi rleIou: integer intersection and union pixel counts,
     (double)i / (double)u, 0 when the masks do not intersect.
   - Accumulation (COCOeval.accumulate): the kept detections of all images
     are concatenated in image order and stable-sorted by descending score, so
     ties go to the image added first, then to input order. tp and fp are
     cumulated as doubles; recall = tp/n_gt; precision = tp/((fp+tp)+eps),
     eps = DBL_EPSILON (np.spacing(1)); precision gets the backward running max
     envelope; for each recall threshold k*0.01 (k = 0..100) the precision at
     the first index with recall >= threshold (np.searchsorted side='left') is
     taken, or 0 past the end. Max recall per threshold = last recall (0 with
     no detections).
   - IoU thresholds are np.linspace(.5, .95, 10): k*((0.95-0.5)/9) + 0.5, the
     last set to 0.95; the 9th is 0.8999999999999999.
   - Means (COCOeval.summarize) use numpy's pairwise summation order
     (np.mean): ap[t] over 101 precisions, map_50_95 over the 10x101
     precisions, map_50_90 over the first 9x101 (the paper's mean AP, same
     rule), mar_50_95 over the 10 recalls (AR@100). ap50 = ap[0],
     ap75 = ap[5], as summarize(iouThr=.5/.75) gives them.
   - No GT at all: every AP, recall and mean is -1.
   - Not modelled: iscrowd=1 GT, area ranges other than "all" (areas in
     [0, 1e10] are all "all"; boxes with negative w/h are rejected), several
     categories. maxDets other than 100: fpf_eval_set_max_dets() (below). A GT annotation id of 0, which
     pycocotools mis-scores, is a CLI concern (the CLI rejects it).
   - tp/fp/fn at any IoU threshold t (not part of pycocotools' summary; it is
     evaluateImg's matching at t): tp = matched kept detections with score >=
     floor, fp = unmatched ones, fn = n_gt - tp. Because matching is greedy in
     rank order, a floor equals dropping lower-scored detections beforehand.
*/
#ifndef FPF_EVAL_H_INCLUDED
#define FPF_EVAL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifndef FPF_EVAL_DEF
#if defined(FPF_EVAL_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define FPF_EVAL_DEF static __attribute__((unused))
#elif defined(FPF_EVAL_STATIC)
#define FPF_EVAL_DEF static
#else
#define FPF_EVAL_DEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FPF_EVAL_VERSION "0.1.0"
#define FPF_EVAL_N_IOU 10      /* IoU thresholds 0.50:0.05:0.95 */
#define FPF_EVAL_N_REC 101     /* recall thresholds 0:0.01:1 */
#define FPF_EVAL_MAX_DETS 100  /* detections kept per image */
#define FPF_EVAL_NO_FLOOR (-1.0e308) /* score floor that keeps everything */

typedef enum fpf_eval_result {
    FPF_EVAL_OK = 0,
    FPF_EVAL_ERR_INVALID_ARG = -1,     /* NULL pointer or bad argument */
    FPF_EVAL_ERR_OUT_OF_MEMORY = -2,   /* allocator returned NULL */
    FPF_EVAL_ERR_INVALID = -3,  /* malformed RLE, box or score (NaN, w<0...) */
    FPF_EVAL_ERR_SIZE = -4,     /* masks of one image differ in height/width */
    FPF_EVAL_ERR_BUFFER = -5,   /* output buffer too small */
    FPF_EVAL_ERR_NO_MASK = -6,  /* segm asked but an instance had no mask */
    FPF_EVAL_ERR_RANGE = -7     /* label value or size out of range */
} fpf_eval_result;

typedef enum fpf_eval_iou_type { FPF_EVAL_BBOX = 0, FPF_EVAL_SEGM = 1 } fpf_eval_iou_type;

typedef struct fpf_eval_allocator {
    void *(*alloc)(size_t size, size_t align, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} fpf_eval_allocator;

/* COCO RLE: h x w mask, column-major, counts alternate background/foreground
   runs starting with background (so counts[0] may be 0). m == 0 and counts ==
   NULL with h == w == 0 means "no mask" (box-only instance). */
typedef struct fpf_eval_rle {
    int h, w;
    size_t m;
    uint32_t *counts;
} fpf_eval_rle;

typedef struct fpf_eval_instance {
    fpf_eval_rle mask;
    double box[4]; /* x, y, w, h (pixels, COCO convention) */
    double score;  /* detections only */
} fpf_eval_instance;

typedef struct fpf_eval_summary {
    double iou_thr[FPF_EVAL_N_IOU];  /* 0.5 ... 0.95 as np.linspace */
    double ap[FPF_EVAL_N_IOU];       /* AP per threshold, -1 without GT */
    double recall[FPF_EVAL_N_IOU];   /* max recall per threshold */
    double map_50_95, map_50_90, ap50, ap75, mar_50_95;
    double precision[FPF_EVAL_N_IOU][FPF_EVAL_N_REC]; /* COCOeval eval['precision'] */
    size_t n_images, n_gt, n_dt;     /* n_dt counts kept detections */
} fpf_eval_summary;

typedef struct fpf_eval_counts { size_t tp, fp, fn; } fpf_eval_counts;

/* Instances built from a label image; owns all its memory. */
typedef struct fpf_eval_labels {
    size_t n;
    fpf_eval_instance *inst; /* ascending label value, score 1 */
    uint32_t *values;        /* label value of each instance */
    void *block_;
} fpf_eval_labels;

typedef struct fpf_eval fpf_eval;

FPF_EVAL_DEF const char *fpf_eval_result_string(fpf_eval_result r);

/* accumulator */
FPF_EVAL_DEF fpf_eval_result fpf_eval_init(const fpf_eval_allocator *a, fpf_eval **out);
FPF_EVAL_DEF void fpf_eval_free(fpf_eval *ev);
/* The names before fpf.h's conventions were adopted, for existing callers. */
#define fpf_eval_create(out, a) fpf_eval_init((a), (out))
#define fpf_eval_destroy(ev) fpf_eval_free(ev)
#define FPF_EVAL_ERR_INVALID_ARG FPF_EVAL_ERR_INVALID_ARG
#define FPF_EVAL_ERR_OUT_OF_MEMORY FPF_EVAL_ERR_OUT_OF_MEMORY
/* Add one image (images are numbered in call order; add them by ascending
   image id to reproduce pycocotools' tie order). */
FPF_EVAL_DEF fpf_eval_result fpf_eval_add_image(fpf_eval *ev, const fpf_eval_instance *gt,
                                                size_t n_gt, const fpf_eval_instance *dt,
                                                size_t n_dt);
FPF_EVAL_DEF size_t fpf_eval_image_count(const fpf_eval *ev);
FPF_EVAL_DEF fpf_eval_result fpf_eval_summarize(const fpf_eval *ev, fpf_eval_iou_type type,
                                                fpf_eval_summary *out);
/* tp/fp/fn at IoU threshold iou_thr over detections with score >= floor;
   per_image (optional) receives fpf_eval_image_count() entries. */
FPF_EVAL_DEF fpf_eval_result fpf_eval_tpfp(const fpf_eval *ev, fpf_eval_iou_type type,
                                           double iou_thr, double floor,
                                           fpf_eval_counts *total, fpf_eval_counts *per_image);
/* the 10 IoU thresholds, as np.linspace(.5, .95, 10) */
FPF_EVAL_DEF void fpf_eval_iou_thresholds(double out[FPF_EVAL_N_IOU]);

/* single IoU values, as pycocotools computes them */
FPF_EVAL_DEF double fpf_eval_box_iou(const double dt[4], const double gt[4]);
FPF_EVAL_DEF fpf_eval_result fpf_eval_mask_iou(const fpf_eval_rle *dt, const fpf_eval_rle *gt,
                                               double *iou);

/* RLE helpers. Binary masks are one byte per pixel (nonzero = inside); with
   row_major != 0 the mask is h rows of w bytes, otherwise column-major as COCO. */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_encode(fpf_eval_rle *out, const unsigned char *mask,
                                                 int h, int w, int row_major,
                                                 const fpf_eval_allocator *a);
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_decode(const fpf_eval_rle *r, unsigned char *mask,
                                                 int row_major);
FPF_EVAL_DEF void fpf_eval_rle_free(fpf_eval_rle *r, const fpf_eval_allocator *a);
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_check(const fpf_eval_rle *r); /* sum(counts)==h*w */
FPF_EVAL_DEF uint64_t fpf_eval_rle_area(const fpf_eval_rle *r);
FPF_EVAL_DEF void fpf_eval_rle_to_box(const fpf_eval_rle *r, double box[4]); /* maskApi rleToBbox */
/* COCO compressed counts string (maskApi rleToString). Writes at most cap
   bytes including the NUL; *len gets the length without NUL. buf may be NULL
   to ask for the length (then returns FPF_EVAL_ERR_BUFFER). */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_to_string(const fpf_eval_rle *r, char *buf, size_t cap,
                                                    size_t *len);
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_from_string(fpf_eval_rle *out, const char *s, size_t len,
                                                      int h, int w, const fpf_eval_allocator *a);
/* uncompressed counts array (copied) */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_from_counts(fpf_eval_rle *out, const uint32_t *counts,
                                                      size_t m, int h, int w,
                                                      const fpf_eval_allocator *a);

/* Label image -> instances: pixels is row-major w x h of unsigned 1, 2 or 4
   byte samples; 0 is background; each other value is one instance (mask,
   exact box as rleToBbox, score 1). Label values must be < 2^24. */
FPF_EVAL_DEF fpf_eval_result fpf_eval_labels_from_image(fpf_eval_labels *out, const void *pixels,
                                                        int bytes_per_sample, int w, int h,
                                                        const fpf_eval_allocator *a);
FPF_EVAL_DEF void fpf_eval_labels_free(fpf_eval_labels *l, const fpf_eval_allocator *a);

/* ---- dense fields: max detections, StarDist matching (issue #12) -----------

   fpf_eval_set_max_dets(ev, N): keep the top N detections per image instead
   of pycocotools' 100, as COCOeval with params.maxDets = [.., .., N] (its
   evaluateImg keeps maxDets[-1]). Call it before the first
   fpf_eval_add_image(); N >= 1. Memory held grows to O(sum of N x n_gt).

   fpf_eval_matching(): the DSB2018 / StarDist accuracy and F1, as
   stardist.matching.matching_dataset(by_image=False) computes them. Per
   image, a GT and a detection may match when IoU >= iou_thr (">=", as
   StarDist's `scores >= thr`); TP is the size of a MAXIMUM one-to-one
   matching of those pairs (StarDist solves scipy linear_sum_assignment on
   costs -(iou >= thr) - iou / (2 min(n_gt, n_dt)); the IoU term sums to less
   than 1/2, so it only breaks ties between matchings of the same size and
   the count is the maximum cardinality). This is NOT COCO's greedy
   score-order matching (fpf_eval_tpfp), which can match fewer where
   detections overlap. FP = detections - TP, FN = n_gt - TP. Totals are pooled
   over images; precision = TP/(TP+FP), recall = TP/(TP+FN), accuracy =
   TP/(TP+FP+FN), f1 = 2TP/(2TP+FP+FN), each 0 when TP == 0 (StarDist).
   Detections are the kept ones (top max_dets by score, see above) with score
   >= floor; with label-image detections set max_dets to at least the largest
   count per image to score every object as StarDist does. */
typedef struct fpf_eval_match_stats {
    double iou_thr;
    size_t tp, fp, fn, n_gt, n_dt;
    double precision, recall, accuracy, f1;
} fpf_eval_match_stats;

FPF_EVAL_DEF fpf_eval_result fpf_eval_set_max_dets(fpf_eval *ev, size_t max_dets);
FPF_EVAL_DEF size_t fpf_eval_max_dets(const fpf_eval *ev);
/* per_image (optional) receives fpf_eval_image_count() counts */
FPF_EVAL_DEF fpf_eval_result fpf_eval_matching(const fpf_eval *ev, fpf_eval_iou_type type,
                                               double iou_thr, double floor,
                                               fpf_eval_match_stats *total,
                                               fpf_eval_counts *per_image);

#ifdef __cplusplus
}
#endif
#endif /* FPF_EVAL_H_INCLUDED */

#if defined(FPF_ALL_IMPLEMENTATION) && !defined(FPF_EVAL_IMPLEMENTATION)
#define FPF_EVAL_IMPLEMENTATION
#endif

#if defined(FPF_EVAL_IMPLEMENTATION) && !defined(FPF_EVAL_IMPLEMENTATION_DONE)
#define FPF_EVAL_IMPLEMENTATION_DONE

#include <float.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- allocation ---------------------------------------------------------- */

static void *fpf_eval__malloc(size_t size, size_t align, void *user) {
    (void)align; (void)user;
    return malloc(size ? size : 1);
}
static void fpf_eval__mfree(void *p, void *user) { (void)user; free(p); }

static fpf_eval_allocator fpf_eval__alloc_of(const fpf_eval_allocator *a) {
    fpf_eval_allocator d;
    if (a && a->alloc && a->free) return *a;
    d.alloc = fpf_eval__malloc; d.free = fpf_eval__mfree; d.user = NULL;
    return d;
}
static void *fpf_eval__new(const fpf_eval_allocator *a, size_t n, size_t size) {
    if (size && n > (size_t)-1 / size) return NULL;
    n *= size;
    return a->alloc(n ? n : 1, 8, a->user);
}
static void fpf_eval__del(const fpf_eval_allocator *a, void *p) { if (p) a->free(p, a->user); }

FPF_EVAL_DEF const char *fpf_eval_result_string(fpf_eval_result r) {
    switch (r) {
    case FPF_EVAL_OK: return "ok";
    case FPF_EVAL_ERR_INVALID_ARG: return "invalid argument";
    case FPF_EVAL_ERR_OUT_OF_MEMORY: return "out of memory";
    case FPF_EVAL_ERR_INVALID: return "invalid RLE, box or score";
    case FPF_EVAL_ERR_SIZE: return "mask sizes differ within an image";
    case FPF_EVAL_ERR_BUFFER: return "output buffer too small";
    case FPF_EVAL_ERR_NO_MASK: return "segm evaluation needs a mask on every instance";
    case FPF_EVAL_ERR_RANGE: return "value out of range";
    }
    return "unknown error";
}

/* ---- numeric rules ------------------------------------------------------- */

/* np.linspace(.5, .95, 10): y = k*step + start, step = (stop-start)/9, last = stop.
   The volatile product keeps k*step + start from being fused into an FMA. */
FPF_EVAL_DEF void fpf_eval_iou_thresholds(double out[FPF_EVAL_N_IOU]) {
    const double step = (0.95 - 0.5) / 9.0;
    int k;
    for (k = 0; k < FPF_EVAL_N_IOU - 1; k++) {
        volatile double p = (double)k * step;
        out[k] = p + 0.5;
    }
    out[FPF_EVAL_N_IOU - 1] = 0.95;
}

/* np.linspace(0, 1, 101): k*0.01 (the last, 100*0.01, is exactly 1.0) */
static double fpf_eval__rec_thr(int k) { return (double)k * 0.01; }

/* numpy pairwise_sum (loops_utils.h): < 8 plain loop, <= 128 eight
   accumulators, else split at n/2 rounded down to a multiple of 8. np.mean
   adds this to the identity 0.0 and divides by n. */
static double fpf_eval__pairwise(const double *a, size_t n) {
    size_t i;
    if (n < 8) {
        double res = 0.;
        for (i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8], res;
        int j;
        for (j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (j = 0; j < 8; j++) r[j] += a[i + (size_t)j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    } else {
        size_t n2 = n / 2;
        n2 -= n2 % 8;
        return fpf_eval__pairwise(a, n2) + fpf_eval__pairwise(a + n2, n - n2);
    }
}
/* COCOeval.summarize: mean of the entries > -1, or -1 when there are none */
static double fpf_eval__mean(const double *a, size_t n) {
    if (n == 0 || a[0] <= -1) return -1;
    return (0.0 + fpf_eval__pairwise(a, n)) / (double)n;
}

/* maskApi bbIou, crowd = 0, operation order kept; products go through
   volatile so that no compiler can contract them into an FMA. */
FPF_EVAL_DEF double fpf_eval_box_iou(const double D[4], const double G[4]) {
    volatile double ga, da, iv;
    double w, h, u, a1, a2, b1, b2;
    ga = G[2] * G[3];
    da = D[2] * D[3];
    a1 = D[2] + D[0]; a2 = G[2] + G[0];
    b1 = D[0]; b2 = G[0];
    w = (a1 < a2 ? a1 : a2) - (b1 > b2 ? b1 : b2);
    if (w <= 0) return 0;
    a1 = D[3] + D[1]; a2 = G[3] + G[1];
    b1 = D[1]; b2 = G[1];
    h = (a1 < a2 ? a1 : a2) - (b1 > b2 ? b1 : b2);
    if (h <= 0) return 0;
    iv = w * h;
    u = da + ga;
    u = u - iv;
    return iv / u;
}

/* ---- RLE ----------------------------------------------------------------- */

static int fpf_eval__has_mask(const fpf_eval_rle *r) {
    return !(r->counts == NULL && r->m == 0 && r->h == 0 && r->w == 0);
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_check(const fpf_eval_rle *r) {
    uint64_t s = 0;
    size_t j;
    if (!r || r->h < 0 || r->w < 0 || (r->m && !r->counts)) return FPF_EVAL_ERR_INVALID_ARG;
    for (j = 0; j < r->m; j++) s += r->counts[j];
    return s == (uint64_t)r->h * (uint64_t)r->w ? FPF_EVAL_OK : FPF_EVAL_ERR_INVALID;
}

/* maskApi rleArea: sum of the odd (foreground) runs */
FPF_EVAL_DEF uint64_t fpf_eval_rle_area(const fpf_eval_rle *r) {
    uint64_t a = 0;
    size_t j;
    for (j = 1; j < r->m; j += 2) a += r->counts[j];
    return a;
}

/* maskApi rleToBbox: exact bounding box of the foreground, [0 0 0 0] if empty */
FPF_EVAL_DEF void fpf_eval_rle_to_box(const fpf_eval_rle *r, double bb[4]) {
    uint64_t h = (uint64_t)r->h, cc = 0, t, x, y, xs, ys, xe = 0, ye = 0, xp = 0;
    size_t j, m = (r->m / 2) * 2;
    xs = (uint64_t)r->w; ys = h;
    bb[0] = bb[1] = bb[2] = bb[3] = 0;
    if (m == 0 || h == 0) return;
    for (j = 0; j < m; j++) {
        cc += r->counts[j];
        t = cc - j % 2;
        y = t % h; x = (t - y) / h;
        if (j % 2 == 0) xp = x;
        else if (xp < x) { ys = 0; ye = h - 1; } /* run crosses a column */
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bb[0] = (double)xs; bb[2] = (double)(xe - xs + 1);
    bb[1] = (double)ys; bb[3] = (double)(ye - ys + 1);
}

/* maskApi rleIou (crowd = 0): walk both run lists, count intersection and
   union pixels; iou = (double)i/(double)u, 0 when i == 0. */
static double fpf_eval__rle_iou(const fpf_eval_rle *dt, const fpf_eval_rle *gt) {
    uint64_t ca, cb, c, ct = 1, i = 0, u = 0;
    size_t a = 1, b = 1, ka = dt->m, kb = gt->m;
    int va = 0, vb = 0;
    if (ka == 0 || kb == 0) return 0;
    ca = dt->counts[0]; cb = gt->counts[0];
    while (ct > 0) {
        c = ca < cb ? ca : cb;
        if (va || vb) { u += c; if (va && vb) i += c; }
        ct = 0;
        ca -= c; if (!ca && a < ka) { ca = dt->counts[a++]; va = !va; } ct += ca;
        cb -= c; if (!cb && b < kb) { cb = gt->counts[b++]; vb = !vb; } ct += cb;
    }
    if (i == 0) return 0;
    return (double)i / (double)u;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_mask_iou(const fpf_eval_rle *dt, const fpf_eval_rle *gt,
                                               double *iou) {
    fpf_eval_result r;
    if (!dt || !gt || !iou) return FPF_EVAL_ERR_INVALID_ARG;
    if ((r = fpf_eval_rle_check(dt)) != FPF_EVAL_OK) return r;
    if ((r = fpf_eval_rle_check(gt)) != FPF_EVAL_OK) return r;
    if (dt->h != gt->h || dt->w != gt->w) return FPF_EVAL_ERR_SIZE;
    *iou = fpf_eval__rle_iou(dt, gt);
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF void fpf_eval_rle_free(fpf_eval_rle *r, const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    if (!r) return;
    fpf_eval__del(&a, r->counts);
    r->counts = NULL; r->m = 0;
}

static fpf_eval_result fpf_eval__dims(int h, int w) {
    if (h < 0 || w < 0) return FPF_EVAL_ERR_INVALID_ARG;
    if ((uint64_t)h * (uint64_t)w > 0xFFFFFFFFu) return FPF_EVAL_ERR_RANGE;
    return FPF_EVAL_OK;
}

/* maskApi rleEncode: runs over the column-major pixel order, first run background */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_encode(fpf_eval_rle *out, const unsigned char *mask,
                                                 int h, int w, int row_major,
                                                 const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    size_t n = (size_t)h * (size_t)w, j, k = 0, x, y;
    uint32_t c = 0;
    int p = 0, v;
    fpf_eval_result r;
    if (!out || (!mask && h && w)) return FPF_EVAL_ERR_INVALID_ARG;
    if ((r = fpf_eval__dims(h, w)) != FPF_EVAL_OK) return r;
    out->h = h; out->w = w; out->m = 0;
    out->counts = (uint32_t *)fpf_eval__new(&a, n + 1, sizeof(uint32_t));
    if (!out->counts) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    for (j = 0; j < n; j++) {
        x = j / (size_t)(h ? h : 1); y = j - x * (size_t)h;
        v = (row_major ? mask[y * (size_t)w + x] : mask[j]) != 0;
        if (v != p) { out->counts[k++] = c; c = 0; p = v; }
        c++;
    }
    out->counts[k++] = c;
    out->m = k;
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_decode(const fpf_eval_rle *r, unsigned char *mask,
                                                 int row_major) {
    size_t j, k, pos = 0, h;
    unsigned char v = 0;
    fpf_eval_result e;
    if (!mask) return FPF_EVAL_ERR_INVALID_ARG;
    if ((e = fpf_eval_rle_check(r)) != FPF_EVAL_OK) return e;
    h = (size_t)r->h;
    for (j = 0; j < r->m; j++, v = (unsigned char)!v)
        for (k = 0; k < r->counts[j]; k++, pos++) {
            if (row_major) mask[(pos % h) * (size_t)r->w + pos / h] = v;
            else mask[pos] = v;
        }
    return FPF_EVAL_OK;
}

/* maskApi rleToString: LEB128-like, 5 bits per char + continuation bit, chars
   48..111; counts from the 4th on (i > 2) are stored as delta to counts[i-2]. */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_to_string(const fpf_eval_rle *r, char *buf, size_t cap,
                                                    size_t *len) {
    size_t i, p = 0;
    if (!r || (r->m && !r->counts)) return FPF_EVAL_ERR_INVALID_ARG;
    for (i = 0; i < r->m; i++) {
        long long x = (long long)r->counts[i];
        int more = 1;
        if (i > 2) x -= (long long)r->counts[i - 2];
        while (more) {
            int c = (int)(x & 0x1f);
            x = x < 0 ? ~(~x >> 5) : x >> 5; /* arithmetic shift by 5 */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            if (buf && p + 1 < cap) buf[p] = (char)(c + 48);
            p++;
        }
    }
    if (len) *len = p;
    if (!buf || p + 1 > cap) return FPF_EVAL_ERR_BUFFER;
    buf[p] = 0;
    return FPF_EVAL_OK;
}

/* maskApi rleFrString, with overflow and bounds checks */
FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_from_string(fpf_eval_rle *out, const char *s, size_t len,
                                                      int h, int w, const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    size_t p = 0, m = 0;
    fpf_eval_result r;
    if (!out || (!s && len)) return FPF_EVAL_ERR_INVALID_ARG;
    if ((r = fpf_eval__dims(h, w)) != FPF_EVAL_OK) return r;
    out->h = h; out->w = w; out->m = 0;
    out->counts = (uint32_t *)fpf_eval__new(&a, len + 1, sizeof(uint32_t));
    if (!out->counts) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    while (p < len) {
        long long x = 0;
        int k = 0, more = 1;
        while (more) {
            int c;
            if (p >= len || k > 7 || s[p] < 48 || s[p] > 111) goto bad;
            c = s[p] - 48;
            x |= (long long)(c & 0x1f) << (5 * k);
            more = c & 0x20; p++; k++;
            if (!more && (c & 0x10)) x |= (long long)-1 * ((long long)1 << (5 * k));
        }
        if (m > 2) x += (long long)out->counts[m - 2];
        if (x < 0 || x > 0xFFFFFFFFll) goto bad;
        out->counts[m++] = (uint32_t)x;
    }
    out->m = m;
    if (fpf_eval_rle_check(out) != FPF_EVAL_OK) goto bad;
    return FPF_EVAL_OK;
bad:
    fpf_eval_rle_free(out, &a);
    return FPF_EVAL_ERR_INVALID;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_rle_from_counts(fpf_eval_rle *out, const uint32_t *counts,
                                                      size_t m, int h, int w,
                                                      const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    fpf_eval_result r;
    if (!out || (m && !counts)) return FPF_EVAL_ERR_INVALID_ARG;
    if ((r = fpf_eval__dims(h, w)) != FPF_EVAL_OK) return r;
    out->h = h; out->w = w; out->m = m;
    out->counts = (uint32_t *)fpf_eval__new(&a, m, sizeof(uint32_t));
    if (!out->counts) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    if (m) memcpy(out->counts, counts, m * sizeof(uint32_t));
    if (fpf_eval_rle_check(out) != FPF_EVAL_OK) {
        fpf_eval_rle_free(out, &a);
        return FPF_EVAL_ERR_INVALID;
    }
    return FPF_EVAL_OK;
}

/* ---- label images -------------------------------------------------------- */

static uint32_t fpf_eval__px(const void *p, int bps, size_t i) {
    if (bps == 1) return ((const uint8_t *)p)[i];
    if (bps == 2) return ((const uint16_t *)p)[i];
    return ((const uint32_t *)p)[i];
}

typedef struct fpf_eval__lab {
    uint32_t idx;            /* instance index + 1, 0 = label absent */
    uint32_t xs, xe, ys, ye; /* box */
    size_t runs;             /* foreground runs in column-major order */
} fpf_eval__lab;

/* one sequential row-major pass: box of every label present */
static void fpf_eval__label_boxes(const void *px, int bps, int w, int h, fpf_eval__lab *L) {
    uint32_t x, y;
    size_t i = 0;
    for (y = 0; y < (uint32_t)h; y++)
        for (x = 0; x < (uint32_t)w; x++, i++) {
            uint32_t v = bps == 2 ? ((const uint16_t *)px)[i] : fpf_eval__px(px, bps, i);
            fpf_eval__lab *l;
            if (!v) continue;
            l = &L[v];
            if (!l->idx) { l->idx = 1; l->xs = l->xe = x; l->ys = l->ye = y; continue; }
            if (x < l->xs) l->xs = x;
            if (x > l->xe) l->xe = x;
            l->ye = y;
        }
}

/* rleEncode of (label == v) restricted to its box, column-major: with out ==
   NULL only counts the runs; otherwise writes gap, run, gap, run, ..., tail */
static size_t fpf_eval__label_rle(const void *px, int bps, int w, int h, uint32_t v,
                                  const fpf_eval__lab *l, uint32_t *out) {
    size_t end = 0, runs = 0, m = 0, x, y, npx = (size_t)w * (size_t)h;
    for (x = l->xs; x <= l->xe; x++)
        for (y = l->ys; y <= l->ye; y++) {
            size_t idx;
            if (fpf_eval__px(px, bps, y * (size_t)w + x) != v) continue;
            idx = x * (size_t)h + y;
            if (runs == 0 || end != idx) {
                runs++;
                if (out) { out[m++] = (uint32_t)(idx - end); out[m++] = 1; }
            } else if (out) {
                out[m - 1]++;
            }
            end = idx + 1;
        }
    if (out && end < npx) out[m++] = (uint32_t)(npx - end); /* trailing background */
    return out ? m : runs;
}

static void fpf_eval__label_fill(fpf_eval_labels *out, const void *px, int bps, int w, int h,
                                 fpf_eval__lab *L, uint32_t maxv, uint32_t *counts) {
    size_t n = 0, total = 0;
    uint32_t v;
    for (v = 1; v <= maxv; v++) {
        fpf_eval__lab *l = &L[v];
        fpf_eval_instance *in;
        if (!l->idx) continue;
        in = &out->inst[n];
        in->mask.h = h; in->mask.w = w;
        in->mask.counts = counts + total;
        in->mask.m = fpf_eval__label_rle(px, bps, w, h, v, l, in->mask.counts);
        in->box[0] = l->xs; in->box[1] = l->ys;
        in->box[2] = (double)(l->xe - l->xs + 1); in->box[3] = (double)(l->ye - l->ys + 1);
        in->score = 1.0;
        out->values[n++] = v;
        total += 2 * l->runs + 1;
    }
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_labels_from_image(fpf_eval_labels *out, const void *px,
                                                        int bps, int w, int h,
                                                        const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    size_t npx = (size_t)w * (size_t)h, i, n = 0, total = 0, off;
    uint32_t maxv = 0, v;
    fpf_eval__lab *L;
    char *blk;
    fpf_eval_result r;
    if (!out || (!px && npx) || (bps != 1 && bps != 2 && bps != 4)) return FPF_EVAL_ERR_INVALID_ARG;
    if ((r = fpf_eval__dims(h, w)) != FPF_EVAL_OK) return r;
    memset(out, 0, sizeof *out);
    if (bps == 1) maxv = 255;
    else if (bps == 2) maxv = 65535;
    else for (i = 0; i < npx; i++) { v = fpf_eval__px(px, bps, i); if (v > maxv) maxv = v; }
    if (maxv >= (1u << 24)) return FPF_EVAL_ERR_RANGE;
    L = (fpf_eval__lab *)fpf_eval__new(&a, (size_t)maxv + 1, sizeof(fpf_eval__lab));
    if (!L) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    memset(L, 0, ((size_t)maxv + 1) * sizeof *L);
    fpf_eval__label_boxes(px, bps, w, h, L);
    for (v = 1; v <= maxv; v++)
        if (L[v].idx) {
            L[v].runs = fpf_eval__label_rle(px, bps, w, h, v, &L[v], NULL);
            n++; total += 2 * L[v].runs + 1;
        }
    off = n * (sizeof(fpf_eval_instance) + sizeof(uint32_t));
    off = (off + 7) & ~(size_t)7;
    blk = (char *)fpf_eval__new(&a, off + total * sizeof(uint32_t), 1);
    if (!blk) { fpf_eval__del(&a, L); return FPF_EVAL_ERR_OUT_OF_MEMORY; }
    out->block_ = blk; out->n = n;
    out->inst = (fpf_eval_instance *)(void *)blk;
    out->values = (uint32_t *)(void *)(blk + n * sizeof(fpf_eval_instance));
    fpf_eval__label_fill(out, px, bps, w, h, L, maxv, (uint32_t *)(void *)(blk + off));
    fpf_eval__del(&a, L);
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF void fpf_eval_labels_free(fpf_eval_labels *l, const fpf_eval_allocator *a0) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    if (!l) return;
    fpf_eval__del(&a, l->block_);
    memset(l, 0, sizeof *l);
}

/* ---- accumulator --------------------------------------------------------- */

typedef struct fpf_eval__img {
    size_t ng, nd;    /* nd <= 100, rank order */
    double *score;    /* nd */
    double *iou[2];   /* [type][d * ng + g] */
} fpf_eval__img;

struct fpf_eval {
    fpf_eval_allocator a;
    fpf_eval__img *img;
    size_t n, cap;
    int no_mask;      /* some instance came without a mask */
    size_t max_dets;  /* 0 = FPF_EVAL_MAX_DETS (fpf_eval_set_max_dets) */
};

FPF_EVAL_DEF fpf_eval_result fpf_eval_init(const fpf_eval_allocator *a0, fpf_eval **out) {
    fpf_eval_allocator a = fpf_eval__alloc_of(a0);
    fpf_eval *ev;
    if (!out) return FPF_EVAL_ERR_INVALID_ARG;
    *out = NULL;
    ev = (fpf_eval *)fpf_eval__new(&a, 1, sizeof *ev);
    if (!ev) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    memset(ev, 0, sizeof *ev);
    ev->a = a;
    *out = ev;
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF void fpf_eval_free(fpf_eval *ev) {
    size_t i;
    if (!ev) return;
    for (i = 0; i < ev->n; i++) fpf_eval__del(&ev->a, ev->img[i].score);
    fpf_eval__del(&ev->a, ev->img);
    fpf_eval__del(&ev->a, ev);
}

FPF_EVAL_DEF size_t fpf_eval_image_count(const fpf_eval *ev) { return ev ? ev->n : 0; }

/* Stable merge sort of idx[0..n) by descending key (np.argsort(-key,
   kind='mergesort')): equal keys keep their order. */
static void fpf_eval__sort(size_t *idx, size_t *tmp, size_t n, const double *key) {
    size_t w, i;
    for (w = 1; w < n; w *= 2) {
        for (i = 0; i < n; i += 2 * w) {
            size_t lo = i, mid = i + w < n ? i + w : n, hi = i + 2 * w < n ? i + 2 * w : n;
            size_t p = lo, q = mid, o = lo;
            while (p < mid && q < hi) tmp[o++] = key[idx[q]] > key[idx[p]] ? idx[q++] : idx[p++];
            while (p < mid) tmp[o++] = idx[p++];
            while (q < hi) tmp[o++] = idx[q++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static fpf_eval_result fpf_eval__check_inst(const fpf_eval_instance *in, int is_dt, int *hw) {
    const double *b = in->box;
    int k;
    for (k = 0; k < 4; k++)
        if (!(b[k] == b[k]) || b[k] > DBL_MAX || b[k] < -DBL_MAX) return FPF_EVAL_ERR_INVALID;
    if (b[2] < 0 || b[3] < 0) return FPF_EVAL_ERR_INVALID;
    if (is_dt && !(in->score == in->score)) return FPF_EVAL_ERR_INVALID;
    if (!fpf_eval__has_mask(&in->mask)) { hw[2] = 1; return FPF_EVAL_OK; }
    if (fpf_eval_rle_check(&in->mask) != FPF_EVAL_OK) return FPF_EVAL_ERR_INVALID;
    if (hw[0] < 0) { hw[0] = in->mask.h; hw[1] = in->mask.w; }
    else if (hw[0] != in->mask.h || hw[1] != in->mask.w) return FPF_EVAL_ERR_SIZE;
    return FPF_EVAL_OK;
}

/* COCOeval.computeIoU for one image: rows = detections in rank order.
   Mask IoU is only computed where the mask boxes overlap (rleIou does the
   same via bbIou; disjoint boxes give 0 either way). */
static void fpf_eval__ious(fpf_eval__img *im, const fpf_eval_instance *gt,
                           const fpf_eval_instance *dt, const size_t *rank, int masks,
                           double *gbox) {
    size_t d, g;
    if (masks)
        for (g = 0; g < im->ng; g++) fpf_eval_rle_to_box(&gt[g].mask, gbox + 4 * g);
    for (d = 0; d < im->nd; d++) {
        const fpf_eval_instance *D = &dt[rank[d]];
        double dbox[4];
        if (masks) fpf_eval_rle_to_box(&D->mask, dbox);
        for (g = 0; g < im->ng; g++) {
            im->iou[0][d * im->ng + g] = fpf_eval_box_iou(D->box, gt[g].box);
            im->iou[1][d * im->ng + g] =
                masks && fpf_eval_box_iou(dbox, gbox + 4 * g) > 0
                    ? fpf_eval__rle_iou(&D->mask, &gt[g].mask) : 0;
        }
    }
}

static fpf_eval_result fpf_eval__grow(fpf_eval *ev) {
    fpf_eval__img *n;
    size_t cap;
    if (ev->n < ev->cap) return FPF_EVAL_OK;
    cap = ev->cap ? ev->cap * 2 : 16;
    n = (fpf_eval__img *)fpf_eval__new(&ev->a, cap, sizeof *n);
    if (!n) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    if (ev->n) memcpy(n, ev->img, ev->n * sizeof *n);
    fpf_eval__del(&ev->a, ev->img);
    ev->img = n; ev->cap = cap;
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_add_image(fpf_eval *ev, const fpf_eval_instance *gt,
                                                size_t n_gt, const fpf_eval_instance *dt,
                                                size_t n_dt) {
    int hw[3] = {-1, -1, 0};
    size_t i, *idx, *tmp, nd, ng = n_gt, cells;
    double *key, *blk, *gbox;
    fpf_eval__img *im;
    fpf_eval_result r;
    if (!ev || (n_gt && !gt) || (n_dt && !dt)) return FPF_EVAL_ERR_INVALID_ARG;
    for (i = 0; i < n_gt; i++)
        if ((r = fpf_eval__check_inst(&gt[i], 0, hw)) != FPF_EVAL_OK) return r;
    for (i = 0; i < n_dt; i++)
        if ((r = fpf_eval__check_inst(&dt[i], 1, hw)) != FPF_EVAL_OK) return r;
    if ((r = fpf_eval__grow(ev)) != FPF_EVAL_OK) return r;
    /* scratch: rank indices, merge buffer, scores, GT mask boxes */
    idx = (size_t *)fpf_eval__new(&ev->a, 2 * n_dt + 1, sizeof(size_t));
    key = (double *)fpf_eval__new(&ev->a, n_dt + 4 * ng + 1, sizeof(double));
    if (!idx || !key) { fpf_eval__del(&ev->a, idx); fpf_eval__del(&ev->a, key); return FPF_EVAL_ERR_OUT_OF_MEMORY; }
    tmp = idx + n_dt; gbox = key + n_dt;
    for (i = 0; i < n_dt; i++) { idx[i] = i; key[i] = dt[i].score; }
    fpf_eval__sort(idx, tmp, n_dt, key);                 /* evaluateImg: dtind */
    nd = ev->max_dets ? ev->max_dets : FPF_EVAL_MAX_DETS;
    nd = n_dt < nd ? n_dt : nd;                           /* dt[0:maxDet] */
    cells = nd * ng;
    blk = (double *)fpf_eval__new(&ev->a, nd + 2 * cells + 1, sizeof(double));
    if (!blk) { fpf_eval__del(&ev->a, idx); fpf_eval__del(&ev->a, key); return FPF_EVAL_ERR_OUT_OF_MEMORY; }
    im = &ev->img[ev->n];
    im->ng = ng; im->nd = nd; im->score = blk;
    im->iou[0] = blk + nd; im->iou[1] = blk + nd + cells;
    for (i = 0; i < nd; i++) im->score[i] = dt[idx[i]].score;
    fpf_eval__ious(im, gt, dt, idx, !hw[2], gbox);
    if (hw[2]) ev->no_mask = 1;
    ev->n++;
    fpf_eval__del(&ev->a, idx); fpf_eval__del(&ev->a, key);
    return FPF_EVAL_OK;
}

/* COCOeval.evaluateImg matching at threshold t: dtm[d] = 1 if detection d
   (rank order) matched. gtm is scratch of im->ng bytes. */
static void fpf_eval__match(const fpf_eval__img *im, const double *iou, double t,
                            unsigned char *dtm, unsigned char *gtm) {
    size_t d, g;
    const double cap = 1 - 1e-10;
    memset(dtm, 0, im->nd);
    if (im->ng == 0 || im->nd == 0) return;      /* ious == [] : nothing matches */
    memset(gtm, 0, im->ng);
    for (d = 0; d < im->nd; d++) {
        double best = t < cap ? t : cap;         /* iou = min([t, 1-1e-10]) */
        size_t m = (size_t)-1;
        for (g = 0; g < im->ng; g++) {
            const double v = iou[d * im->ng + g];
            if (gtm[g]) continue;                /* already matched, not crowd */
            if (v < best) continue;              /* equal IoU: later GT wins */
            best = v; m = g;
        }
        if (m == (size_t)-1) continue;
        dtm[d] = 1; gtm[m] = 1;
    }
}

/* first index i in rc[0..n) with rc[i] >= v (np.searchsorted side='left') */
static size_t fpf_eval__lower_bound(const double *rc, size_t n, double v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rc[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* COCOeval.accumulate for one threshold: precision row q[101] and max recall */
static void fpf_eval__pr(const unsigned char *tpflag, const size_t *order, size_t N, double npig,
                         double *rc, double *pr, double *q, double *recall) {
    double tp = 0, fp = 0;
    size_t i;
    int r;
    for (i = 0; i < N; i++) {                     /* cumsum(tps), cumsum(fps) */
        if (tpflag[order[i]]) tp += 1; else fp += 1;
        rc[i] = tp / npig;
        pr[i] = tp / ((fp + tp) + DBL_EPSILON);   /* np.spacing(1) */
    }
    *recall = N ? rc[N - 1] : 0;
    for (i = N; i-- > 1;)                         /* backward max envelope */
        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    for (r = 0; r < FPF_EVAL_N_REC; r++) {
        size_t pi = fpf_eval__lower_bound(rc, N, fpf_eval__rec_thr(r));
        q[r] = pi < N ? pr[pi] : 0;               /* IndexError leaves 0 */
    }
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_summarize(const fpf_eval *ev, fpf_eval_iou_type type,
                                                fpf_eval_summary *s) {
    size_t i, d, N = 0, G = 0, maxg = 1, off;
    size_t *order, *tmp;
    double *score, *rc, *pr;
    unsigned char *flag, *gtm;
    int t;
    if (!ev || !s || (type != FPF_EVAL_BBOX && type != FPF_EVAL_SEGM)) return FPF_EVAL_ERR_INVALID_ARG;
    if (type == FPF_EVAL_SEGM && ev->no_mask) return FPF_EVAL_ERR_NO_MASK;
    memset(s, 0, sizeof *s);
    fpf_eval_iou_thresholds(s->iou_thr);
    for (i = 0; i < ev->n; i++) {
        N += ev->img[i].nd; G += ev->img[i].ng;
        if (ev->img[i].ng > maxg) maxg = ev->img[i].ng;
    }
    s->n_images = ev->n; s->n_gt = G; s->n_dt = N;
    if (G == 0) {                                 /* npig == 0: all stay -1 */
        double *p = &s->precision[0][0];
        for (i = 0; i < (size_t)FPF_EVAL_N_IOU * FPF_EVAL_N_REC; i++) p[i] = -1;
        for (t = 0; t < FPF_EVAL_N_IOU; t++) s->ap[t] = s->recall[t] = -1;
        s->map_50_95 = s->map_50_90 = s->ap50 = s->ap75 = s->mar_50_95 = -1;
        return FPF_EVAL_OK;
    }
    order = (size_t *)fpf_eval__new(&ev->a, 2 * N + 1, sizeof(size_t));
    score = (double *)fpf_eval__new(&ev->a, 3 * N + 1, sizeof(double));
    flag = (unsigned char *)fpf_eval__new(&ev->a, N + maxg + 1, 1);
    if (!order || !score || !flag) {
        fpf_eval__del(&ev->a, order); fpf_eval__del(&ev->a, score); fpf_eval__del(&ev->a, flag);
        return FPF_EVAL_ERR_OUT_OF_MEMORY;
    }
    tmp = order + N; rc = score + N; pr = rc + N; gtm = flag + N;
    for (i = 0, off = 0; i < ev->n; i++)          /* np.concatenate(dtScores) */
        for (d = 0; d < ev->img[i].nd; d++, off++) { score[off] = ev->img[i].score[d]; order[off] = off; }
    fpf_eval__sort(order, tmp, N, score);         /* argsort(-dtScores, mergesort) */
    for (t = 0; t < FPF_EVAL_N_IOU; t++) {
        for (i = 0, off = 0; i < ev->n; i++) {
            fpf_eval__match(&ev->img[i], ev->img[i].iou[type], s->iou_thr[t], flag + off, gtm);
            off += ev->img[i].nd;
        }
        fpf_eval__pr(flag, order, N, (double)G, rc, pr, s->precision[t], &s->recall[t]);
        s->ap[t] = fpf_eval__mean(s->precision[t], FPF_EVAL_N_REC);
    }
    s->map_50_95 = fpf_eval__mean(&s->precision[0][0], (size_t)FPF_EVAL_N_IOU * FPF_EVAL_N_REC);
    s->map_50_90 = fpf_eval__mean(&s->precision[0][0], (size_t)(FPF_EVAL_N_IOU - 1) * FPF_EVAL_N_REC);
    s->ap50 = s->ap[0];
    s->ap75 = s->ap[5];
    s->mar_50_95 = fpf_eval__mean(s->recall, FPF_EVAL_N_IOU);
    fpf_eval__del(&ev->a, order); fpf_eval__del(&ev->a, score); fpf_eval__del(&ev->a, flag);
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_tpfp(const fpf_eval *ev, fpf_eval_iou_type type,
                                           double iou_thr, double floor,
                                           fpf_eval_counts *total, fpf_eval_counts *per_image) {
    size_t i, d, maxn = 1;
    unsigned char *buf;
    fpf_eval_counts sum = {0, 0, 0};
    if (!ev || (type != FPF_EVAL_BBOX && type != FPF_EVAL_SEGM) || !(iou_thr == iou_thr) ||
        !(floor == floor))
        return FPF_EVAL_ERR_INVALID_ARG;
    if (type == FPF_EVAL_SEGM && ev->no_mask) return FPF_EVAL_ERR_NO_MASK;
    for (i = 0; i < ev->n; i++) {
        if (ev->img[i].nd > maxn) maxn = ev->img[i].nd;
        if (ev->img[i].ng > maxn) maxn = ev->img[i].ng;
    }
    buf = (unsigned char *)fpf_eval__new(&ev->a, 2 * maxn, 1);
    if (!buf) return FPF_EVAL_ERR_OUT_OF_MEMORY;
    for (i = 0; i < ev->n; i++) {
        const fpf_eval__img *im = &ev->img[i];
        fpf_eval_counts c = {0, 0, 0};
        fpf_eval__match(im, im->iou[type], iou_thr, buf, buf + maxn);
        for (d = 0; d < im->nd; d++) {
            if (!(im->score[d] >= floor)) continue;
            if (buf[d]) c.tp++; else c.fp++;
        }
        c.fn = im->ng - c.tp;
        if (per_image) per_image[i] = c;
        sum.tp += c.tp; sum.fp += c.fp; sum.fn += c.fn;
    }
    if (total) *total = sum;
    fpf_eval__del(&ev->a, buf);
    return FPF_EVAL_OK;
}

/* ---- dense fields: max detections, StarDist matching (issue #12) ---------- */

FPF_EVAL_DEF fpf_eval_result fpf_eval_set_max_dets(fpf_eval *ev, size_t max_dets) {
    if (!ev || max_dets == 0 || ev->n) return FPF_EVAL_ERR_INVALID_ARG;
    ev->max_dets = max_dets;
    return FPF_EVAL_OK;
}

FPF_EVAL_DEF size_t fpf_eval_max_dets(const fpf_eval *ev) {
    return ev && ev->max_dets ? ev->max_dets : FPF_EVAL_MAX_DETS;
}

/* Maximum one-to-one matching (Kuhn's augmenting paths, iterative) between
   the nd detections (rows of iou, rank order; use[d] == 0 leaves one out) and
   the ng GT, over the pairs with iou[d * ng + g] >= t. Scratch w holds
   4 * nd + 2 * ng + 3 + nd * ng size_t. Returns the number of matched pairs. */
static size_t fpf_eval__max_matching(const double *iou, const unsigned char *use, size_t nd,
                                     size_t ng, double t, size_t *w) {
    const size_t NONE = (size_t)-1;
    size_t *mg = w, *seen = mg + ng, *stk = seen + ng, *via = stk + nd + 1, *pos = via + nd + 1;
    size_t *off = pos + nd, *adj = off + nd + 1; /* the pairs as lists per detection */
    size_t d, d0, g, k, e = 0, n = 0;
    for (d = 0; d < nd; d++) {
        off[d] = e;
        if (use[d])
            for (g = 0; g < ng; g++)
                if (iou[d * ng + g] >= t) adj[e++] = g;
    }
    off[nd] = e;
    for (g = 0; g < ng; g++) { mg[g] = NONE; seen[g] = NONE; }
    for (d0 = 0; d0 < nd; d0++) {
        size_t top = 0;
        if (off[d0] == off[d0 + 1]) continue;
        stk[0] = d0; pos[0] = off[d0];
        for (;;) {                               /* depth-first search from d0 */
            size_t found = NONE;
            d = stk[top];
            while (pos[top] < off[d + 1]) {
                g = adj[pos[top]++];
                if (seen[g] != d0) { found = g; break; }
            }
            if (found == NONE) {                 /* d exhausted: back up */
                if (top == 0) break;
                top--;
                continue;
            }
            seen[found] = d0;                    /* each GT is tried once per search */
            via[top] = found;
            if (mg[found] == NONE) {             /* free GT: flip the path d0 .. found */
                for (k = 0; k <= top; k++) mg[via[k]] = stk[k];
                n++;
                break;
            }
            stk[++top] = mg[found];              /* try to move found's partner */
            pos[top] = off[stk[top]];
        }
    }
    return n;
}

static double fpf_eval__ratio(size_t num, size_t den, size_t tp) {
    return tp ? (double)num / (double)den : 0.0;
}

FPF_EVAL_DEF fpf_eval_result fpf_eval_matching(const fpf_eval *ev, fpf_eval_iou_type type,
                                               double iou_thr, double floor,
                                               fpf_eval_match_stats *total,
                                               fpf_eval_counts *per_image) {
    size_t i, d, maxd = 1, maxg = 1, maxc = 1;
    size_t *w;
    unsigned char *use;
    fpf_eval_match_stats s;
    if (!ev || (type != FPF_EVAL_BBOX && type != FPF_EVAL_SEGM) || !(iou_thr == iou_thr) ||
        !(floor == floor))
        return FPF_EVAL_ERR_INVALID_ARG;
    if (type == FPF_EVAL_SEGM && ev->no_mask) return FPF_EVAL_ERR_NO_MASK;
    for (i = 0; i < ev->n; i++) {
        if (ev->img[i].nd > maxd) maxd = ev->img[i].nd;
        if (ev->img[i].ng > maxg) maxg = ev->img[i].ng;
        if (ev->img[i].nd * ev->img[i].ng > maxc) maxc = ev->img[i].nd * ev->img[i].ng;
    }
    w = (size_t *)fpf_eval__new(&ev->a, 4 * maxd + 2 * maxg + 3 + maxc, sizeof(size_t));
    use = (unsigned char *)fpf_eval__new(&ev->a, maxd, 1);
    if (!w || !use) { fpf_eval__del(&ev->a, w); fpf_eval__del(&ev->a, use); return FPF_EVAL_ERR_OUT_OF_MEMORY; }
    memset(&s, 0, sizeof s);
    s.iou_thr = iou_thr;
    for (i = 0; i < ev->n; i++) {
        const fpf_eval__img *im = &ev->img[i];
        fpf_eval_counts c = {0, 0, 0};
        size_t np = 0;
        for (d = 0; d < im->nd; d++) { use[d] = im->score[d] >= floor; np += use[d]; }
        c.tp = im->ng && np ? fpf_eval__max_matching(im->iou[type], use, im->nd, im->ng, iou_thr, w) : 0;
        c.fp = np - c.tp; c.fn = im->ng - c.tp;
        if (per_image) per_image[i] = c;
        s.tp += c.tp; s.fp += c.fp; s.fn += c.fn; s.n_gt += im->ng; s.n_dt += np;
    }
    s.precision = fpf_eval__ratio(s.tp, s.tp + s.fp, s.tp);
    s.recall = fpf_eval__ratio(s.tp, s.tp + s.fn, s.tp);
    s.accuracy = fpf_eval__ratio(s.tp, s.tp + s.fp + s.fn, s.tp);
    s.f1 = fpf_eval__ratio(2 * s.tp, 2 * s.tp + s.fp + s.fn, s.tp);
    if (total) *total = s;
    fpf_eval__del(&ev->a, w); fpf_eval__del(&ev->a, use);
    return FPF_EVAL_OK;
}

#ifdef __cplusplus
}
#endif
#endif /* FPF_EVAL_IMPLEMENTATION */

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
