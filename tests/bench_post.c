/* tests/bench_post.c - time fpf_post.h on a paper-sized field (not part of make test).
 * An fpf_synth field of 1280 x 1024 (w x h, seed 1000, the first test image). "Predicted" cells
 * are the true cells eroded by 3 px (the shipped models' masks stop short of the cell edge the
 * same way), nuclei are the true nuclei. Timed, 1 warm-up + 7 runs, median: fpf_postprocess with
 * the defaults (all three steps), fpf_measure_objects of the cells with 2 channels, and
 * fpf_reporter_readout on fpf_synth's reporter channel.
 *
 *   make bench-post      (or: cc -std=c99 -O2 -I. -Iexamples tests/bench_post.c -o build/bench_post -lm) */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_POST_IMPLEMENTATION
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#include "fpf_synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Each cell label shrunk by r px (a pixel stays when its (2r+1)^2 window holds only its label). */
static void shrink(const uint16_t *in, uint16_t *out, int w, int h, int r) {
    int y, x, dy, dx;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int l = in[(size_t)y * w + x], keep = l != 0;
            for (dy = -r; dy <= r && keep; dy++)
                for (dx = -r; dx <= r && keep; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy >= 0 && yy < h && xx >= 0 && xx < w && in[(size_t)yy * w + xx] != l) keep = 0;
                }
            out[(size_t)y * w + x] = (uint16_t)(keep ? l : 0);
        }
}

int main(void) {
    fpfs_params p;
    fpfs_scene s;
    uint16_t *pred, *work, *rep;
    int *truth, k, n = 0, max_cells;
    double t[3][RUNS], thr;
    float *scores;
    void *scratch;
    size_t ss;
    fpf_post_options o;
    fpf_reporter_options ro;
    fpf_object *obj;
    long *pos;
    int *inf;
    fpf_image cell, nuc, repi;
    const fpf_image *ch[2];
    fpfs_default_params(&p);
    p.seed = 1000;
    if (fpfs_generate(&p, &s) || fpfs_reporter(&s, 1, 0.3, &rep, &truth)) { fprintf(stderr, "synth failed\n"); return 1; }
    pred = (uint16_t *)malloc((size_t)s.w * s.h * 2);
    work = (uint16_t *)malloc((size_t)s.w * s.h * 2);
    max_cells = s.ncells + s.nnuclei + s.w * s.h / 40;
    if (max_cells > 65535) max_cells = 65535;
    scores = (float *)calloc((size_t)max_cells, sizeof *scores);
    ss = fpf_post_scratch_size(s.h, s.w, max_cells, s.nnuclei);
    scratch = malloc(ss);
    obj = (fpf_object *)calloc((size_t)max_cells, sizeof *obj);
    pos = (long *)calloc((size_t)max_cells, sizeof *pos);
    inf = (int *)calloc((size_t)max_cells, sizeof *inf);
    if (!pred || !work || !scores || !scratch || !obj || !pos || !inf) { fprintf(stderr, "out of memory\n"); return 1; }
    shrink(s.cell_labels, pred, s.w, s.h, 3);
    cell = fpf_image_u16(s.cell, s.w, s.h, (size_t)s.w * 2);
    nuc = fpf_image_u16(s.nucleus, s.w, s.h, (size_t)s.w * 2);
    repi = fpf_image_u16(rep, s.w, s.h, (size_t)s.w * 2);
    ch[0] = &nuc; ch[1] = &cell;
    fpf_post_defaults(&o);
    fpf_reporter_defaults(&ro);
    for (k = -1; k < RUNS; k++) {
        double t0;
        int i;
        memcpy(work, pred, (size_t)s.w * s.h * 2);
        n = s.ncells;
        for (i = 0; i < n; i++) scores[i] = 0.9f;
        t0 = now();
        if (fpf_postprocess(work, (size_t)s.w, s.h, s.w, &n, max_cells, scores, s.nuc_labels, s.nnuclei, &cell, &o, scratch,
                            ss, NULL) != FPF_OK) { fprintf(stderr, "postprocess failed\n"); return 1; }
        if (k >= 0) t[0][k] = now() - t0;
        t0 = now();
        if (fpf_measure_objects(work, (size_t)s.w, s.h, s.w, n, ch, 2, obj, scratch, ss) != FPF_OK) return 1;
        if (k >= 0) t[1][k] = now() - t0;
        t0 = now();
        if (fpf_reporter_readout(work, (size_t)s.w, s.h, s.w, n, &repi, &ro, scratch, ss, &thr, pos, inf) != FPF_OK) return 1;
        if (k >= 0) t[2][k] = now() - t0;
    }
    for (k = 0; k < 3; k++) qsort(t[k], RUNS, sizeof(double), cmp);
    printf("fpf_post on a %dx%d field, %d true cells shrunk by 3 px -> %d cells after post-processing; "
           "median of %d runs (1 thread):\n", s.w, s.h, s.ncells, n, RUNS);
    printf("  fpf_postprocess (3 steps)   %8.2f ms\n", 1e3 * t[0][RUNS / 2]);
    printf("  fpf_measure_objects         %8.2f ms\n", 1e3 * t[1][RUNS / 2]);
    printf("  fpf_reporter_readout        %8.2f ms\n", 1e3 * t[2][RUNS / 2]);
    free(pred); free(work); free(scores); free(scratch); free(obj); free(pos); free(inf); free(rep); free(truth);
    fpfs_free(&s);
    return 0;
}
