/* bench/conv_bench.c - one fp32 convolution timed alone, one thread, on each kernel row (a micro-benchmark
 * of the generic conv kernels; not a test).
 *
 *   build/bench/conv_bench [--h 64 --w 80 --cin 256 --cout 256 --k 3 --stride 1] [--reps 7] [--isa avx512] [--threads 1] [--batch 1]
 *                        [--winograd 1]
 *
 * --winograd 1: a 3×3 stride-1 conv as Winograd F(2×2, 3×3) (FLOP/s still count the direct conv's 9 multiply-adds).
 * --batch B: B images of h×w as one flat batch, as the mask head runs its 14×14 RoIs (--h 14 --w 14 --batch 200).
 * Random input and weights, packed (64-byte aligned) as the loader packs them; each rep runs the whole conv once through
 * fpf__conv2d on one thread (--threads N: on fpf's built-in pool of N threads). Also printed: the process's
 * CPU time divided by the threads (a figure that neighbours sharing the cores disturb less than wall time). Prints the median (min) time and GFLOP/s (2 FLOPs per multiply-add). */
#define _POSIX_C_SOURCE 200112L
#define FPF_IMPLEMENTATION
#define FPF_STATIC
#include "fpf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static double cpu_s(void) { /* CPU time of the whole process (every thread) */
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    int h = 64, w = 80, cin = 256, cout = 256, k = 3, stride = 1, reps = 7, i, isa = FPF_ISA_AUTO, threads = 1, batch = 1, wino = 0;
    for (i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--h")) h = atoi(v);
        else if (!strcmp(o, "--w")) w = atoi(v);
        else if (!strcmp(o, "--cin")) cin = atoi(v);
        else if (!strcmp(o, "--cout")) cout = atoi(v);
        else if (!strcmp(o, "--k")) k = atoi(v);
        else if (!strcmp(o, "--stride")) stride = atoi(v);
        else if (!strcmp(o, "--reps")) reps = atoi(v);
        else if (!strcmp(o, "--threads")) threads = atoi(v);
        else if (!strcmp(o, "--batch")) batch = atoi(v);
        else if (!strcmp(o, "--winograd")) wino = atoi(v);
        else if (!strcmp(o, "--isa")) {
            for (isa = 0; isa <= FPF_ISA_NEON && strcmp(fpf_isa_name((fpf_isa)isa), v); isa++) {}
            if (isa > FPF_ISA_NEON) { fprintf(stderr, "conv_bench: unknown isa %s\n", v); return 2; }
        } else { fprintf(stderr, "conv_bench: unknown option %s\n", o); return 2; }
    }
    if (h < 1 || w < 1 || cin < 1 || cout < 1 || k < 1 || stride < 1 || reps < 1 || reps > 1000 || threads < 1 || threads > 64 || batch < 1 || batch > 4096) {
        fprintf(stderr, "conv_bench: bad shape\n");
        return 2;
    }
    {
        int oh = (h + 2 * ((k - 1) / 2) - k) / stride + 1, ow = (w + 2 * ((k - 1) / 2) - k) / stride + 1;
        size_t ni = (size_t)batch * h * w * cin, no = (size_t)batch * oh * ow * cout, nw = (size_t)k * k * cin * cout, j;
        float *in = (float *)malloc(ni * 4), *wt = (float *)malloc(nw * 4), *b = (float *)malloc((size_t)cout * 4);
        float *out = (float *)malloc(no * 4), *packed;
        double *t = (double *)malloc((size_t)reps * sizeof(double)), *c = (double *)malloc((size_t)reps * sizeof(double)), flop = 2.0 * (double)no * k * k * cin, sum = 0;
        uint32_t s = 1;
        fpf__conv kk;
        fpf__conv_args a;
        fpf__runner r;
        fpf__pool pool;
        const fpf__kernels *K = fpf__kernels_for((fpf_isa)isa);
        if (!K) { fprintf(stderr, "conv_bench: isa %s does not run here\n", fpf_isa_name((fpf_isa)isa)); return 2; }
        memset(&kk, 0, sizeof kk);
        kk.b = b; kk.kh = kk.kw = k; kk.cin = cin; kk.cout = cout;
        if (posix_memalign((void **)&packed, 64, fpf__packed_floats(&kk) * 4)) return 2; /* 64-byte panels, as loaded */
        for (j = 0; j < ni; j++) { s = s * 1664525u + 1013904223u; in[j] = (float)(s >> 8) / 16777216.0f - 0.5f; }
        for (j = 0; j < nw; j++) { s = s * 1664525u + 1013904223u; wt[j] = (float)(s >> 8) / 16777216.0f - 0.5f; }
        for (j = 0; j < (size_t)cout; j++) b[j] = 0.01f * (float)j;
        fpf__pack(wt, fpf__rows(&kk), cout, packed);
        kk.wp = packed; kk.pstride = fpf__rows(&kk) * 16;
        memset(&a, 0, sizeof a);
        a.k = &kk; a.in = fpf__mk(in, h, w, cin); a.out = fpf__mk(out, oh, ow, cout);
        a.stride = stride; a.pad = (k - 1) / 2; a.flags = FPF__RELU;
        if (batch > 1) { a.flat = 1; a.batch = batch; a.in_bs = (size_t)h * w * cin; a.out_bs = (size_t)oh * ow * cout; }
        memset(&r, 0, sizeof r);
        r.kern = K;
        if (wino && k == 3 && stride == 1) { /* Winograd F(2×2, 3×3): U and the wave scratch, as a session has them */
            float *U;
            if (posix_memalign((void **)&U, 64, 16 * fpf__wino_stride(&kk) * 4) ||
                posix_memalign((void **)&r.wbuf, 64, FPF__WINO_WAVE * fpf__wino_slot(cin) * 4)) return 2;
            fpf__wino_pack(&kk, U);
            kk.wino = U; r.wino_cin = cin;
        }
        if (threads > 1) {
            if (!fpf__pool_start(&pool, threads)) { fprintf(stderr, "conv_bench: no thread pool\n"); return 2; }
            r.parallel_for = fpf__pool_run; r.pool = &pool;
        }
        fpf__conv2d(&r, &a); /* warm-up */
        for (i = 0; i < reps; i++) {
            double t0 = now_s(), c0 = cpu_s();
            fpf__conv2d(&r, &a);
            t[i] = now_s() - t0;
            c[i] = (cpu_s() - c0) / threads;
        }
        if (threads > 1) fpf__pool_stop(&pool);
        for (j = 0; j < no; j++) sum += out[j];
        qsort(t, (size_t)reps, sizeof *t, cmp_d);
        qsort(c, (size_t)reps, sizeof *c, cmp_d);
        printf("conv %d×%dx%d cin %d cout %d k %d s %d, %s, T=%d: %.2f ms (min %.2f), %.1f GFLOP/s (best %.1f); CPU time per thread %.2f ms (min %.2f), %.1f GFLOP/s a thread  [checksum %.6g]\n",
               batch, h, w, cin, cout, k, stride, fpf_isa_name(K->isa), threads, t[reps / 2] * 1e3, t[0] * 1e3,
               flop / t[reps / 2] * 1e-9, flop / t[0] * 1e-9, c[reps / 2] * 1e3, c[0] * 1e3,
               flop / threads / c[reps / 2] * 1e-9, sum);
        free(in); free(wt); free(b); free(out); free(packed); free(t); free(c);
    }
    return 0;
}
