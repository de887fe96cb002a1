/* bench/label_match.c - how a label image from fpf_segment compares with a ground-truth label image
 * (the tiling measurements in weights/RESULTS.md).
 *
 *   cc -O2 -I. -Iexamples bench/label_match.c -o build/label_match -lm
 *   build/label_match GT_labels.tif cells.tif cells.csv
 *
 * recall: ground-truth objects matched by a detected label at mask IoU >= 0.5; precision: detected
 * labels matched the same way; duplicates: pairs of detected labels whose bounding boxes overlap with
 * IoU > 0.5 (the same object found twice). The third argument (the CSV) is accepted and not read. */
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 16   /* most detected labels tracked per ground-truth object */

typedef struct hit { int d; long n; } hit;

int main(int argc, char **argv) {
    fpfi_image g, d;
    char err[256];
    long *ag, *ad, i;
    hit *h;
    int ng = 0, nd = 0, k, matched_g = 0, matched_d = 0, *dm, (*box)[4] = NULL, nb = 0, cap = 0, a, b, dup = 0;
    if (argc != 4) { fprintf(stderr, "usage: label_match GT.tif DT.tif DT.csv\n"); return 2; }
    if (fpfi_read(argv[1], 0, 0, &g, err, sizeof err) || fpfi_read(argv[2], 0, 0, &d, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    if (g.w != d.w || g.h != d.h || g.type != FPFI_U16 || d.type != FPFI_U16) { fprintf(stderr, "sizes or types differ\n"); return 1; }
    for (i = 0; i < (long)g.w * g.h; i++) {
        int x = ((uint16_t *)g.pixels)[i], y = ((uint16_t *)d.pixels)[i];
        ng = x > ng ? x : ng; nd = y > nd ? y : nd;
    }
    ag = (long *)calloc((size_t)ng + 1, sizeof *ag); ad = (long *)calloc((size_t)nd + 1, sizeof *ad);
    h = (hit *)calloc(((size_t)ng + 1) * K, sizeof *h); dm = (int *)calloc((size_t)nd + 1, sizeof *dm);
    for (i = 0; i < (long)g.w * g.h; i++) {
        int x = ((uint16_t *)g.pixels)[i], y = ((uint16_t *)d.pixels)[i];
        ag[x]++; ad[y]++;
        if (!x || !y) continue;
        for (k = 0; k < K && h[x * K + k].d && h[x * K + k].d != y; k++) {}
        if (k < K) { h[x * K + k].d = y; h[x * K + k].n++; }
    }
    for (a = 1; a <= ng; a++) {
        int got = 0;
        if (!ag[a]) continue;
        for (k = 0; k < K && h[a * K + k].d; k++) {
            int y = h[a * K + k].d;
            double inter = (double)h[a * K + k].n, iou = inter / ((double)ag[a] + ad[y] - inter);
            if (iou >= 0.5) { got = 1; dm[y] = 1; }
        }
        matched_g += got;
    }
    for (b = 1; b <= nd; b++) matched_d += dm[b];
    /* one box per detected label, from the label image (y2/x2 exclusive); the CSV is not read, so any
       column layout works */
    cap = nd + 1; box = (int (*)[4])malloc((size_t)cap * sizeof *box);
    for (b = 0; b <= nd; b++) { box[b][0] = g.h; box[b][1] = g.w; box[b][2] = 0; box[b][3] = 0; }
    for (i = 0; i < (long)g.w * g.h; i++) {
        int y = ((uint16_t *)d.pixels)[i], r = (int)(i / g.w), c = (int)(i % g.w);
        if (!y) continue;
        if (r < box[y][0]) box[y][0] = r;
        if (c < box[y][1]) box[y][1] = c;
        if (r + 1 > box[y][2]) box[y][2] = r + 1;
        if (c + 1 > box[y][3]) box[y][3] = c + 1;
    }
    for (b = 1; b <= nd; b++)               /* compact to the labels present */
        if (ad[b]) { memmove(box[nb], box[b], sizeof *box); nb++; }
    for (a = 0; a < nb; a++)
        for (b = a + 1; b < nb; b++) {
            double ih = (box[a][2] < box[b][2] ? box[a][2] : box[b][2]) - (box[a][0] > box[b][0] ? box[a][0] : box[b][0]);
            double iw = (box[a][3] < box[b][3] ? box[a][3] : box[b][3]) - (box[a][1] > box[b][1] ? box[a][1] : box[b][1]);
            double in, un;
            if (ih <= 0 || iw <= 0) continue;
            in = ih * iw;
            un = (double)(box[a][2] - box[a][0]) * (box[a][3] - box[a][1]) + (double)(box[b][2] - box[b][0]) * (box[b][3] - box[b][1]) - in;
            dup += in / un > 0.5;
        }
    {
        int present = 0;
        for (a = 1; a <= ng; a++) present += ag[a] > 0;
        printf("ground truth %d, detections %d, recall@0.5 %.3f, precision@0.5 %.3f, duplicates %d\n", present, nb,
               present ? (double)matched_g / present : 0.0, nd ? (double)matched_d / nb : 0.0, dup);
    }
    free(ag); free(ad); free(h); free(dm); free(box); fpfi_free(&g); fpfi_free(&d);
    return 0;
}
