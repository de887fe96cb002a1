/* tests/bench_eval.c - time fpf_eval.h on a paper-sized set (not part of make test).
 * 18 label images of 1280 x 1024 (w x h), ~28 GT cells each (~500 in total), detections
 * = GT cells shifted by a few pixels plus some false positives. Timed: label image ->
 * RLE instances (GT and DT), fpf_eval_add_image, summarize bbox + segm, tp/fp/fn.
 *
 *   cc -std=c99 -O2 -Wall -Wextra -Wpedantic -ffp-contract=off -I. tests/bench_eval.c \
 *      -o build/bench_eval -lm && ./build/bench_eval */
#define _POSIX_C_SOURCE 200809L
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define W 1280
#define H 1024
#define N_IMG 18
#define N_CELL 28

static unsigned rng_state = 2024;
static double rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (double)(rng_state >> 8) / 16777216.0;
}

static void ellipse(uint16_t *img, double cx, double cy, double rx, double ry, uint16_t v) {
    int x, y;
    for (y = (int)(cy - ry) - 1; y <= (int)(cy + ry) + 1; y++)
        for (x = (int)(cx - rx) - 1; x <= (int)(cx + rx) + 1; x++) {
            double dx = (x - cx) / rx, dy = (y - cy) / ry;
            if (x >= 0 && y >= 0 && x < W && y < H && dx * dx + dy * dy <= 1) img[(size_t)y * W + x] = v;
        }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    uint16_t *gt = (uint16_t *)calloc((size_t)N_IMG * W * H, 2), *dt = (uint16_t *)calloc((size_t)N_IMG * W * H, 2);
    double t0, t1, best = 1e9;
    size_t n_gt = 0, n_dt = 0;
    int i, k, rep;
    fpf_eval_summary s[2];
    fpf_eval_counts c;
    for (i = 0; i < N_IMG; i++) {
        uint16_t *g = gt + (size_t)i * W * H, *d = dt + (size_t)i * W * H;
        for (k = 0; k < N_CELL; k++) {
            double cx = 60 + rnd() * (W - 120), cy = 60 + rnd() * (H - 120), rx = 15 + rnd() * 25, ry = 15 + rnd() * 25;
            ellipse(g, cx, cy, rx, ry, (uint16_t)(k + 1));
            if (rnd() < 0.9) ellipse(d, cx + rnd() * 6 - 3, cy + rnd() * 6 - 3, rx * (0.9 + 0.2 * rnd()), ry, (uint16_t)(300 + k));
        }
        for (k = 0; k < 4; k++) ellipse(d, rnd() * W, rnd() * H, 20, 20, (uint16_t)(1000 + k));
    }
    for (rep = 0; rep < 5; rep++) {
        fpf_eval *ev;
        t0 = now();
        fpf_eval_init(NULL, &ev);
        n_gt = n_dt = 0;
        for (i = 0; i < N_IMG; i++) {
            fpf_eval_labels G, D;
            size_t j;
            if (fpf_eval_labels_from_image(&G, gt + (size_t)i * W * H, 2, W, H, NULL) ||
                fpf_eval_labels_from_image(&D, dt + (size_t)i * W * H, 2, W, H, NULL)) return 1;
            for (j = 0; j < D.n; j++) D.inst[j].score = 0.5 + 0.5 * rnd();
            if (fpf_eval_add_image(ev, G.inst, G.n, D.inst, D.n)) return 1;
            n_gt += G.n; n_dt += D.n;
            fpf_eval_labels_free(&G, NULL); fpf_eval_labels_free(&D, NULL);
        }
        fpf_eval_summarize(ev, FPF_EVAL_BBOX, &s[0]);
        fpf_eval_summarize(ev, FPF_EVAL_SEGM, &s[1]);
        fpf_eval_tpfp(ev, FPF_EVAL_SEGM, 0.75, FPF_EVAL_NO_FLOOR, &c, NULL);
        fpf_eval_free(ev);
        t1 = now();
        if (t1 - t0 < best) best = t1 - t0;
    }
    printf("bench_eval: %d images %dx%d, %zu GT, %zu detections: best of 5 = %.1f ms "
           "(segm mAP %.4f, bbox mAP %.4f, TP@0.75 %zu)\n",
           N_IMG, W, H, n_gt, n_dt, best * 1e3, s[1].map_50_95, s[0].map_50_95, c.tp);
    free(gt); free(dt);
    return 0;
}
