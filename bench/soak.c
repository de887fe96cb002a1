/* bench/soak.c - make soak: many images through one session in one process; RSS must stay flat.
 *
 *   build/soak [--runs N] [--height H] [--width W] [--threads T] [--mixed]
 *
 * Loads the shipped FPF-add model and the nucleus model once, makes one session for H x W
 * (default 512 x 640), then runs N (default 1000) synthetic two-channel fields (fpf_synth.h, 8
 * scenes made up front, cycled) and builds each run's cell label image (fpf_post.h). Every 100
 * runs it prints the resident set size (/proc/self/statm), its peak (getrusage) and the median
 * time per image. --mixed gives every run a different size, from 64 x 64 up to H x W (a window
 * of a scene, same session). A benchmark, not a test: nothing here fails on a number. */
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double rss_mb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) { if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0; fclose(f); }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}
static double peak_mb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int runs = 1000, H = 512, W = 640, threads = 1, mixed = 0, i, k;
    fpf_model *cells = NULL, *nuc = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    fpfs_scene sc[8];
    uint16_t *labels;
    double *ms, rss0 = 0, rss_first = 0;
    char msg[256];
    uint64_t rng = 88172645463325252ull;
    long cells_total = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--height") && i + 1 < argc) H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) W = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mixed")) mixed = 1;
        else { fprintf(stderr, "usage: soak [--runs N] [--height H] [--width W] [--threads T] [--mixed]\n"); return 2; }
    }
    if (runs < 1 || H < 64 || W < 64) { fprintf(stderr, "soak: bad sizes\n"); return 2; }
    if (fpf_model_load_file("weights/models/fpf_add.fpf", NULL, &cells, msg, sizeof msg) ||
        fpf_model_load_file("weights/models/cores.fpf", NULL, &nuc, msg, sizeof msg)) {
        fprintf(stderr, "soak: %s (run from the repository root)\n", msg);
        return 1;
    }
    for (k = 0; k < 8; k++) {
        fpfs_params p;
        fpfs_default_params(&p);
        p.width = W; p.height = H; p.seed = 9000 + (uint64_t)k;
        if (fpfs_generate(&p, &sc[k])) { fprintf(stderr, "soak: out of memory\n"); return 1; }
    }
    memset(&o, 0, sizeof o);
    o.n_threads = threads;
    if (fpf_session_init(cells, nuc, H, W, &o, &s) != FPF_OK) { fprintf(stderr, "soak: session\n"); return 1; }
    labels = (uint16_t *)malloc((size_t)H * W * sizeof *labels);
    ms = (double *)malloc((size_t)runs * sizeof *ms);
    rss0 = rss_mb();
    printf("soak: %d runs, %s %dx%d max, %d thread(s), one session; RSS after set-up %.1f MB\n", runs,
           mixed ? "mixed sizes up to" : "fixed", H, W, threads, rss0);
    printf("%6s %9s %9s %12s %8s\n", "run", "RSS MB", "peak MB", "median ms", "cells");
    for (i = 0; i < runs; i++) {
        const fpfs_scene *z = &sc[i % 8];
        int h = H, w = W, y0 = 0, x0 = 0;
        fpf_input in;
        const fpf_output *out;
        double t0;
        if (mixed) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            h = 64 + (int)(rng % (uint64_t)(H - 63)); w = 64 + (int)((rng >> 20) % (uint64_t)(W - 63));
            y0 = (int)((rng >> 40) % (uint64_t)(H - h + 1)); x0 = (int)((rng >> 50) % (uint64_t)(W - w + 1));
        }
        memset(&in, 0, sizeof in);
        in.cell = fpf_image_u16(z->cell + (size_t)y0 * W + x0, w, h, (size_t)W * 2);
        in.nucleus = fpf_image_u16(z->nucleus + (size_t)y0 * W + x0, w, h, (size_t)W * 2);
        t0 = now();
        if (fpf_session_run(s, &in, &out) != FPF_OK) { fprintf(stderr, "soak: %s\n", fpf_session_message(s)); return 1; }
        fpf_label_image(out->cells, out->n_cells, h, w, labels, (size_t)w); /* stride in elements */
        ms[i] = 1000.0 * (now() - t0);
        cells_total += out->n_cells;
        if (i == 0) rss_first = rss_mb();
        if ((i + 1) % 100 == 0 || i + 1 == runs) {
            double *tmp = (double *)malloc((size_t)(i + 1) * sizeof *tmp);
            memcpy(tmp, ms, (size_t)(i + 1) * sizeof *tmp);
            qsort(tmp, (size_t)(i + 1), sizeof *tmp, cmp_d);
            printf("%6d %9.1f %9.1f %12.1f %8ld\n", i + 1, rss_mb(), peak_mb(), tmp[i / 2], cells_total);
            fflush(stdout);
            free(tmp);
        }
    }
    printf("soak: RSS after run 1 %.1f MB, after run %d %.1f MB (growth %+.1f MB)\n", rss_first, runs, rss_mb(),
           rss_mb() - rss_first);
    free(ms); free(labels);
    fpf_session_free(s);
    for (k = 0; k < 8; k++) fpfs_free(&sc[k]);
    fpf_model_free(cells); fpf_model_free(nuc);
    return 0;
}
