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

/* parent[k] = the cell label that nucleus label k+1 overlaps most (ties: the lower label),
   0 if none. overlap_scratch needs n_nuclei · (n_cells + 1) longs (one pass over the images). */
FPF_DEF fpf_result fpf_assign_nuclei(const uint16_t *nuclei, const uint16_t *cells, size_t stride, int h,
                                     int w, int n_nuclei, int n_cells, int *parent, long *overlap_scratch);

#ifdef __cplusplus
}
#endif
#endif /* FPF_POST_H_INCLUDED */

#if defined(FPF_POST_IMPLEMENTATION) || defined(FPF_ALL_IMPLEMENTATION)
#ifndef FPF_POST_IMPLEMENTATION_INCLUDED
#define FPF_POST_IMPLEMENTATION_INCLUDED
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
