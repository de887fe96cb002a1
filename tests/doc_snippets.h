/* tests/doc_snippets.h - what the documented C snippets leave to the reader, for
 * tests/doc_snippets.sh: the shipped example images (cell_pixels, nuc_pixels, width, height),
 * a few fpf_eval instances (gt, n_gt, dt, n_dt) and a label image (labels). Included after the
 * snippet's own #define/#include lines; the implementations it does not define itself are
 * added at the end of the generated file. */
#ifndef FPF_DOC_SNIPPETS_H
#define FPF_DOC_SNIPPETS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fpf.h"
#include "fpf_eval.h"
#include "fpf_image.h"

static uint16_t *cell_pixels, *nuc_pixels;
static int width, height;
static fpf_eval_instance gt[2], dt[2];
static size_t n_gt = 2, n_dt = 2;
static fpfi_image labels;

static uint16_t *doc_read16(const char *path) {
    fpfi_image im;
    char err[256];
    if (fpfi_read(path, 0, 0, &im, err, sizeof err) || im.type != FPFI_U16) {
        printf("doc_snippets: %s\n", err);
        exit(1);
    }
    width = im.w; height = im.h;
    return (uint16_t *)im.pixels; /* kept to the end of the run */
}

/* Two ground-truth squares on a 16×16 image, one detection on each: one exact, one shifted. */
static void doc_setup(void) {
    static unsigned char m[4][16 * 16];
    static uint16_t lab[16 * 16];
    int i, y, x;
    (void)n_gt; (void)n_dt;
    cell_pixels = doc_read16("example_cell.tif");
    nuc_pixels = doc_read16("example_nucleus.tif");
    for (i = 0; i < 4; i++)
        for (y = 0; y < 16; y++)
            for (x = 0; x < 16; x++) {
                int y0 = i % 2 ? 8 : 1, x0 = (i % 2 ? 8 : 1) + (i == 3);
                m[i][y * 16 + x] = y >= y0 && y < y0 + 5 && x >= x0 && x < x0 + 5;
            }
    for (i = 0; i < 2; i++) {
        fpf_eval_rle_encode(&gt[i].mask, m[i], 16, 16, 1, NULL);
        fpf_eval_rle_to_box(&gt[i].mask, gt[i].box);
        fpf_eval_rle_encode(&dt[i].mask, m[2 + i], 16, 16, 1, NULL);
        fpf_eval_rle_to_box(&dt[i].mask, dt[i].box);
        dt[i].score = 0.9 - 0.1 * i;
    }
    for (i = 0; i < 16 * 16; i++) lab[i] = m[0][i] ? 1 : m[1][i] ? 2 : 0;
    labels.w = labels.h = 16; labels.type = FPFI_U16; labels.pixels = lab;
}
#endif
