/* examples/fpf_results.h - the files fpf_segment writes, encoded in memory: label TIFFs with
 * ImageJ metadata and the pixel size, CellProfiler-style CSVs, COCO results JSON (RLE), and the
 * infected-cell marks of the overlay. Also reads the pixel size of an input TIFF.
 *
 *   #define FPF_RESULTS_IMPLEMENTATION   (in one .c file, after fpf_post.h, fpf_eval.h and fpf_coco.h)
 *   #include "fpf_results.h"
 *
 * Label TIFF (fpfr_label_tiff): little-endian baseline TIFF, one uncompressed strip, 16-bit
 * labels (32-bit when a label exceeds 65535), ImageDescription "ImageJ=1.11a images=1 min=0
 * max=<largest label>" (plus "unit=micron" with a pixel size), so Fiji opens it as is; with a
 * pixel size p µm also XResolution = YResolution = 1/p pixels per unit, ResolutionUnit 1 (none),
 * which is how ImageJ stores a micron calibration (tifffile and napari read it the same way).
 *
 * Pixel size of an input TIFF (fpfr_tiff_pixel_size), first page of a classic TIFF:
 *   ResolutionUnit 3 (cm): 10000 / XResolution µm;
 *   an ImageJ description with unit=micron|um|µm (nm, mm scaled): 1 / XResolution;
 *   anything else (no tags, ResolutionUnit 2 inch: a screen DPI, not a pixel size): unknown (0).
 *
 * CSV columns (one row per object; ObjectNumber is the label in the TIFF):
 *   ObjectNumber, Score, AreaShape_Area, AreaShape_Perimeter, AreaShape_Center_X, _Center_Y,
 *   AreaShape_BoundingBoxMinimum_X, _Minimum_Y, _Maximum_X, _Maximum_Y (exclusive),
 *   AreaShape_MajorAxisLength, _MinorAxisLength, _Eccentricity, _Orientation (degrees),
 *   AreaShape_Solidity, TouchesImageEdge, then per channel C (Nucleus, Cell[, Reporter])
 *   Intensity_MeanIntensity_C, _IntegratedIntensity_C, _MinIntensity_C, _MaxIntensity_C;
 *   cells: Children_Nuclei_Count[, Reporter_PositiveArea, Reporter_Infected];
 *   nuclei: Parent_Cells (0: in no cell);
 *   with a pixel size: AreaShape_Area_um2, AreaShape_Perimeter_um, AreaShape_Center_X_um,
 *   AreaShape_Center_Y_um, AreaShape_MajorAxisLength_um, AreaShape_MinorAxisLength_um
 *   [, Reporter_PositiveArea_um2]. Formulas: fpf_post.h, fpf_measure_objects().
 *
 * image.csv (fpf_segment, one row per image): Image (the input file, quoted), Count_Cells,
 *   Count_Nuclei, Count_InfectedCells, InfectionRate, Threshold_Reporter (empty without a
 *   reporter), PixelSize_um (0 = unknown), Post (the steps run: bit 0 step 1, bit 1 step 2,
 *   bit 2 step 3), Post_MergedCells, Post_AttachedRegions, Post_DiscardedRegions,
 *   Post_NewCellsFromRegions, Post_EnlargedByNuclei, Post_NewCellsFromNuclei, Threshold_Cell
 *   (fpf_post_stats).
 *
 * COCO results (fpfr_coco): a JSON list, one entry per non-empty label, in label order:
 *   {"image_id": I, "category_id": 1, "segmentation": {"size": [h, w], "counts": "<COCO
 *   compressed RLE>"}, "bbox": [x, y, w, h], "score": s}
 * as pycocotools' loadRes and fpf_eval --dt read it. RLE and boxes come from fpf_eval.h, the
 * segmentation JSON from fpf_coco.h. */
#ifndef FPF_RESULTS_H
#define FPF_RESULTS_H
#include <stddef.h>
#include <stdint.h>

typedef struct fpfr_buf { char *p; size_t len, cap; int oom; } fpfr_buf; /* free(p) when done */

typedef struct fpfr_table {
    const fpf_object *obj;  /* n measured objects */
    int n;
    const float *score;     /* n, or NULL (then 1) */
    int n_channels;         /* 2 or 3 (Nucleus, Cell, Reporter) */
    double pixel_size;      /* µm; 0 = unknown */
    const int *children;    /* cells: nuclei per cell, or NULL */
    const int *parent;      /* nuclei: parent cell, or NULL */
    const long *positive;   /* cells with a reporter: positive area, or NULL */
    const int *infected;
} fpfr_table;

#ifdef __cplusplus
extern "C" {
#endif
void fpfr_printf(fpfr_buf *b, const char *fmt, ...);
/* labels: uint32 values (any size); written as 16-bit when all <= 65535. 0 or -1 (out of memory). */
int fpfr_label_tiff(const uint32_t *labels, int w, int h, double pixel_size_um, fpfr_buf *out);
double fpfr_tiff_pixel_size(const unsigned char *d, size_t n);
void fpfr_objects_csv(fpfr_buf *b, const fpfr_table *t);
/* 0, or -1 on a bad label image / out of memory. */
int fpfr_coco(fpfr_buf *b, const uint16_t *labels, int w, int h, const float *scores, int n, long long image_id);
/* Recolours the outline of every infected cell magenta and draws a white + (5 px) at its centroid. */
void fpfr_mark_infected(unsigned char *rgb, const uint16_t *cells, int w, int h, const fpf_object *obj,
                        const int *infected, int n);
#ifdef __cplusplus
}
#endif
#endif /* FPF_RESULTS_H */

#ifdef FPF_RESULTS_IMPLEMENTATION
#ifndef FPF_RESULTS_IMPLEMENTATION_DONE
#define FPF_RESULTS_IMPLEMENTATION_DONE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fpfr_printf(fpfr_buf *b, const char *fmt, ...) {
    va_list ap;
    int n;
    if (b->oom) return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *q;
        while (b->len + (size_t)n + 1 > cap) cap *= 2;
        if (!(q = (char *)realloc(b->p, cap))) { b->oom = 1; return; }
        b->p = q; b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void fpfr__put(fpfr_buf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *q;
        while (b->len + n > cap) cap *= 2;
        if (!(q = (char *)realloc(b->p, cap))) { b->oom = 1; return; }
        b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void fpfr__le(fpfr_buf *b, uint32_t v, int bytes) {
    unsigned char t[4];
    int i;
    for (i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    fpfr__put(b, t, (size_t)bytes);
}

static void fpfr__tag(fpfr_buf *b, int tag, int type, uint32_t count, uint32_t value) {
    fpfr__le(b, (uint32_t)tag, 2); fpfr__le(b, (uint32_t)type, 2); fpfr__le(b, count, 4);
    if (type == 3 && count == 1) { fpfr__le(b, value, 2); fpfr__le(b, 0, 2); }
    else fpfr__le(b, value, 4);
}

int fpfr_label_tiff(const uint32_t *labels, int w, int h, double ps, fpfr_buf *b) {
    size_t npix = (size_t)w * h, i, desc_off, res_off, data_off, bytes;
    uint32_t mx = 0, den, num;
    int ntags, calibrated = ps > 0;
    char desc[200];
    if (!labels || w < 1 || h < 1) return -1;
    for (i = 0; i < npix; i++) if (labels[i] > mx) mx = labels[i];
    bytes = mx > 65535 ? 4 : 2;
    if (npix * bytes > 0xFFFFFF00u - 4096) return -1;
    snprintf(desc, sizeof desc, "ImageJ=1.11a\nimages=1\n%smin=0\nmax=%lu\n", calibrated ? "unit=micron\n" : "",
             (unsigned long)mx);
    ntags = calibrated ? 14 : 11;
    desc_off = 8 + 2 + (size_t)ntags * 12 + 4;
    res_off = desc_off + strlen(desc) + 1;
    data_off = (res_off + 16 + 15) & ~(size_t)15;
    /* 1/p pixels per micron as num/den = 1000000 / round(p · 1000000): p itself reads back exactly */
    num = 1000000;
    den = calibrated ? (uint32_t)(ps * 1e6 + 0.5 > 1 ? (ps * 1e6 + 0.5 < 4e9 ? ps * 1e6 + 0.5 : 4e9) : 1) : 1;
    fpfr__put(b, "II", 2); fpfr__le(b, 42, 2); fpfr__le(b, 8, 4);
    fpfr__le(b, (uint32_t)ntags, 2);
    fpfr__tag(b, 256, 4, 1, (uint32_t)w);                    /* ImageWidth */
    fpfr__tag(b, 257, 4, 1, (uint32_t)h);                    /* ImageLength */
    fpfr__tag(b, 258, 3, 1, (uint32_t)bytes * 8);            /* BitsPerSample */
    fpfr__tag(b, 259, 3, 1, 1);                              /* Compression: none */
    fpfr__tag(b, 262, 3, 1, 1);                              /* BlackIsZero */
    fpfr__tag(b, 270, 2, (uint32_t)(strlen(desc) + 1), (uint32_t)desc_off); /* ImageDescription */
    fpfr__tag(b, 273, 4, 1, (uint32_t)data_off);             /* StripOffsets */
    fpfr__tag(b, 277, 3, 1, 1);                              /* SamplesPerPixel */
    fpfr__tag(b, 278, 4, 1, (uint32_t)h);                    /* RowsPerStrip */
    fpfr__tag(b, 279, 4, 1, (uint32_t)(npix * bytes));       /* StripByteCounts */
    if (calibrated) {
        fpfr__tag(b, 282, 5, 1, (uint32_t)res_off);          /* XResolution: pixels per micron */
        fpfr__tag(b, 283, 5, 1, (uint32_t)res_off + 8);      /* YResolution */
    }
    fpfr__tag(b, 284, 3, 1, 1);                              /* PlanarConfiguration */
    if (calibrated) fpfr__tag(b, 296, 3, 1, 1);              /* ResolutionUnit: none (ImageJ) */
    fpfr__le(b, 0, 4);                                       /* no next IFD */
    fpfr__put(b, desc, strlen(desc) + 1);
    fpfr__le(b, num, 4); fpfr__le(b, den, 4); fpfr__le(b, num, 4); fpfr__le(b, den, 4); /* X and Y */
    while (!b->oom && b->len < data_off) fpfr__put(b, "", 1);
    for (i = 0; i < npix; i++) fpfr__le(b, labels[i], (int)bytes);
    return b->oom ? -1 : 0;
}

/* ---- the pixel size of an input TIFF ---------------------------------------------------- */

static uint32_t fpfr__rd(const unsigned char *d, int be, int bytes) {
    uint32_t v = 0;
    int i;
    for (i = 0; i < bytes; i++) v = (v << 8) | d[be ? i : bytes - 1 - i];
    return v;
}

double fpfr_tiff_pixel_size(const unsigned char *d, size_t n) {
    int be, unit = 2, k, cnt;
    size_t ifd;
    double xres = 0, scale = 0;
    if (n < 8 || d[0] != d[1] || (d[0] != 'I' && d[0] != 'M')) return 0;
    be = d[0] == 'M';
    if (fpfr__rd(d + 2, be, 2) != 42) return 0; /* BigTIFF: not read here */
    ifd = fpfr__rd(d + 4, be, 4);
    if (ifd + 2 > n) return 0;
    cnt = (int)fpfr__rd(d + ifd, be, 2);
    if (ifd + 2 + (size_t)cnt * 12 > n) return 0;
    for (k = 0; k < cnt; k++) {
        const unsigned char *e = d + ifd + 2 + (size_t)k * 12;
        int tag = (int)fpfr__rd(e, be, 2), type = (int)fpfr__rd(e + 2, be, 2);
        uint32_t count = fpfr__rd(e + 4, be, 4), off = fpfr__rd(e + 8, be, 4);
        if (tag == 282 && type == 5 && (size_t)off + 8 <= n) {
            uint32_t num = fpfr__rd(d + off, be, 4), den = fpfr__rd(d + off + 4, be, 4);
            if (num && den) xres = (double)num / den;
        } else if (tag == 296 && type == 3) {
            unit = (int)fpfr__rd(e + 8, be, 2);
        } else if (tag == 270 && type == 2 && count > 4 && (size_t)off + count <= n) {
            const char *s = (const char *)d + off, *u = NULL;
            size_t i;
            for (i = 0; i + 5 < count; i++)
                if (!memcmp(s + i, "unit=", 5) && (i == 0 || s[i - 1] == '\n')) { u = s + i + 5; break; }
            if (u && strncmp(s, "ImageJ=", 7) == 0) {
                size_t left = count - (size_t)(u - s);
                if ((left >= 6 && !strncmp(u, "micron", 6)) || (left >= 2 && !strncmp(u, "um", 2)) ||
                    (left >= 3 && !strncmp(u, "\xC2\xB5m", 3)) || (left >= 6 && !strncmp(u, "\\u00B5m", 7)))
                    scale = 1;
                else if (left >= 2 && !strncmp(u, "nm", 2)) scale = 1e-3;
                else if (left >= 2 && !strncmp(u, "mm", 2)) scale = 1e3;
            }
        }
    }
    if (xres <= 0) return 0;
    if (unit == 3) return 1e4 / xres;
    if (scale > 0 && unit == 1) return scale / xres;
    return 0;
}

/* ---- CSV ----------------------------------------------------------------------------------- */

void fpfr_objects_csv(fpfr_buf *b, const fpfr_table *t) {
    static const char *ch[3] = {"Nucleus", "Cell", "Reporter"};
    int i, c;
    double p = t->pixel_size;
    fpfr_printf(b, "ObjectNumber,Score,AreaShape_Area,AreaShape_Perimeter,AreaShape_Center_X,AreaShape_Center_Y,"
                   "AreaShape_BoundingBoxMinimum_X,AreaShape_BoundingBoxMinimum_Y,AreaShape_BoundingBoxMaximum_X,"
                   "AreaShape_BoundingBoxMaximum_Y,AreaShape_MajorAxisLength,AreaShape_MinorAxisLength,"
                   "AreaShape_Eccentricity,AreaShape_Orientation,AreaShape_Solidity,TouchesImageEdge");
    for (c = 0; c < t->n_channels; c++)
        fpfr_printf(b, ",Intensity_MeanIntensity_%s,Intensity_IntegratedIntensity_%s,Intensity_MinIntensity_%s,"
                       "Intensity_MaxIntensity_%s", ch[c], ch[c], ch[c], ch[c]);
    if (t->children) fpfr_printf(b, ",Children_Nuclei_Count");
    if (t->positive) fpfr_printf(b, ",Reporter_PositiveArea,Reporter_Infected");
    if (t->parent) fpfr_printf(b, ",Parent_Cells");
    if (p > 0) {
        fpfr_printf(b, ",AreaShape_Area_um2,AreaShape_Perimeter_um,AreaShape_Center_X_um,AreaShape_Center_Y_um,"
                       "AreaShape_MajorAxisLength_um,AreaShape_MinorAxisLength_um");
        if (t->positive) fpfr_printf(b, ",Reporter_PositiveArea_um2");
    }
    fpfr_printf(b, "\n");
    for (i = 0; i < t->n; i++) {
        const fpf_object *o = &t->obj[i];
        fpfr_printf(b, "%d,%.6f,%ld,%.4f,%.4f,%.4f,%d,%d,%d,%d,%.4f,%.4f,%.6f,%.4f,%.6f,%d", o->label,
                    t->score ? t->score[i] : 1.0f, o->area, o->perimeter, o->cx, o->cy, o->x1, o->y1, o->x2, o->y2,
                    o->major, o->minor, o->eccentricity, o->orientation, o->solidity, o->edge);
        for (c = 0; c < t->n_channels; c++)
            fpfr_printf(b, ",%.4f,%.0f,%.0f,%.0f", o->mean[c], o->integrated[c], o->min[c], o->max[c]);
        if (t->children) fpfr_printf(b, ",%d", t->children[i]);
        if (t->positive) fpfr_printf(b, ",%ld,%d", t->positive[i], t->infected[i]);
        if (t->parent) fpfr_printf(b, ",%d", t->parent[i]);
        if (p > 0) {
            fpfr_printf(b, ",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", o->area * p * p, o->perimeter * p, o->cx * p, o->cy * p,
                        o->major * p, o->minor * p);
            if (t->positive) fpfr_printf(b, ",%.6g", t->positive[i] * p * p);
        }
        fpfr_printf(b, "\n");
    }
}

/* ---- COCO results ---------------------------------------------------------------------------- */

int fpfr_coco(fpfr_buf *b, const uint16_t *labels, int w, int h, const float *scores, int n, long long image_id) {
    fpf_eval_labels L;
    size_t k;
    int ok = 1;
    if (fpf_eval_labels_from_image(&L, labels, 2, w, h, NULL) != FPF_EVAL_OK) return -1;
    fpfr_printf(b, "[");
    for (k = 0; k < L.n && ok; k++) {
        const fpf_eval_instance *in = &L.inst[k];
        uint32_t v = L.values[k];
        fpfc_buf seg; /* fpf_coco.h writes the RLE, escapes included */
        memset(&seg, 0, sizeof seg);
        fpfc_write_rle(&seg, &in->mask, 1);
        ok = !seg.failed;
        fpfr_printf(b, "%s\n{\"image_id\": %lld, \"category_id\": 1, \"segmentation\": ", k ? "," : "", image_id);
        if (ok) fpfr__put(b, seg.p, seg.len);
        fpfr_printf(b, ", \"bbox\": [%.17g, %.17g, %.17g, %.17g], \"score\": %.9g}", in->box[0], in->box[1],
                    in->box[2], in->box[3], scores && v >= 1 && (int)v <= n ? scores[v - 1] : 1.0f);
        free(seg.p);
    }
    fpf_eval_labels_free(&L, NULL);
    if (!ok) return -1;
    fpfr_printf(b, "\n]\n");
    return b->oom ? -1 : 0;
}

/* ---- overlay marks ----------------------------------------------------------------------------- */

void fpfr_mark_infected(unsigned char *rgb, const uint16_t *cl, int w, int h, const fpf_object *obj,
                        const int *infected, int n) {
    int y, x, i, d;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int v = cl[(size_t)y * w + x];
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            if (!v || v > n || !infected[v - 1]) continue;
            if (y == 0 || y == h - 1 || x == 0 || x == w - 1 || cl[(size_t)(y - 1) * w + x] != v ||
                cl[(size_t)(y + 1) * w + x] != v || cl[(size_t)y * w + x - 1] != v || cl[(size_t)y * w + x + 1] != v) {
                p[0] = 255; p[1] = 0; p[2] = 255;
            }
        }
    for (i = 0; i < n; i++) {
        int cx = (int)floor(obj[i].cx + 0.5), cy = (int)floor(obj[i].cy + 0.5);
        if (!infected[i] || obj[i].area == 0) continue;
        for (d = -2; d <= 2; d++) {
            if (cx + d >= 0 && cx + d < w && cy >= 0 && cy < h) memset(rgb + ((size_t)cy * w + cx + d) * 3, 255, 3);
            if (cy + d >= 0 && cy + d < h && cx >= 0 && cx < w) memset(rgb + ((size_t)(cy + d) * w + cx) * 3, 255, 3);
        }
    }
}
#endif
#endif
