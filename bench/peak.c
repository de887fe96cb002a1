/* bench/peak.c - the machine's fp32 FMA peak (GFLOP/s) and int8 VNNI and AMX peaks (GOP/s) on 1 and 2 threads, in one run.
 *
 *   build/bench/peak [--threads 1,2] [--reps 5] [--ms 250] [--json FILE]
 *
 * Kernels: 12 independent accumulator chains of vfmadd (acc = acc * a + b), enough to cover
 * FMA latency (4-5 cycles) times 2 pipes on Zen 3/4/5 and recent Intel cores.
 *   - ymm (AVX2 + FMA): always, when cpuid says avx2 and fma;
 *   - zmm (AVX-512F):   only when cpuid (and the OS) say avx512f.
 * int8: 12 chains of vpdpbusd zmm (AVX-512 VNNI), and Intel AMX-INT8 tdpbusd on four 16×16 int32
 * tiles (when cpuid says amx-tile and amx-int8 and Linux grants the tile state, arch_prctl).
 * Both are compiled with __attribute__((target(...))), never -march=native, so the binary runs
 * anywhere and picks what the CPU has at run time. Each thread runs the same kernel for about
 * --ms milliseconds; every figure is the median (min-max) of --reps repetitions. Threads are
 * pinned to distinct CPUs of the process's affinity set when possible.
 *
 * "peak" below = the best ISA's median: zmm when present, else ymm. Also reported: the clock
 * estimated from a dependent integer add chain (1 add/cycle), and a scalar fallback.
 *
 * bench_fpf.c includes this file with BENCH_PEAK_NO_MAIN defined to measure the peak in the
 * same process. */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define BENCH_PEAK_X86 1
#include <immintrin.h>
#endif
#if defined(BENCH_PEAK_X86) && defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define BENCH_PEAK_AMX 1 /* as fpf.h's FPF__AMX */
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- kernels: each runs n iterations of 12 FMAs per vector and returns the FLOPs done ---- */
typedef double (*bench_peak_kernel)(long n, float seed);

#define BENCH_PEAK_CHAINS(FMA, T, a, b, acc)                                               \
    acc##0 = FMA(acc##0, a, b); acc##1 = FMA(acc##1, a, b); acc##2 = FMA(acc##2, a, b);    \
    acc##3 = FMA(acc##3, a, b); acc##4 = FMA(acc##4, a, b); acc##5 = FMA(acc##5, a, b);    \
    acc##6 = FMA(acc##6, a, b); acc##7 = FMA(acc##7, a, b); acc##8 = FMA(acc##8, a, b);    \
    acc##9 = FMA(acc##9, a, b); acc##10 = FMA(acc##10, a, b); acc##11 = FMA(acc##11, a, b);

static volatile float bench_peak_sink;

#ifdef BENCH_PEAK_X86
__attribute__((target("avx2,fma"))) static double bench_peak_ymm(long n, float seed) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(seed * 1e-6f);
    __m256 v0 = _mm256_set1_ps(seed), v1 = _mm256_set1_ps(seed + 1), v2 = _mm256_set1_ps(seed + 2),
           v3 = _mm256_set1_ps(seed + 3), v4 = _mm256_set1_ps(seed + 4), v5 = _mm256_set1_ps(seed + 5),
           v6 = _mm256_set1_ps(seed + 6), v7 = _mm256_set1_ps(seed + 7), v8 = _mm256_set1_ps(seed + 8),
           v9 = _mm256_set1_ps(seed + 9), v10 = _mm256_set1_ps(seed + 10), v11 = _mm256_set1_ps(seed + 11);
    long i;
    float out[8];
    for (i = 0; i < n; i++) { BENCH_PEAK_CHAINS(_mm256_fmadd_ps, __m256, a, b, v) }
    v0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3)),
                       _mm256_add_ps(_mm256_add_ps(v4, v5), _mm256_add_ps(v6, v7)));
    v0 = _mm256_add_ps(v0, _mm256_add_ps(_mm256_add_ps(v8, v9), _mm256_add_ps(v10, v11)));
    _mm256_storeu_ps(out, v0);
    bench_peak_sink = out[0] + out[7];
    return (double)n * 12.0 * 8.0 * 2.0;
}

__attribute__((target("avx512f"))) static double bench_peak_zmm(long n, float seed) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(seed * 1e-6f);
    __m512 v0 = _mm512_set1_ps(seed), v1 = _mm512_set1_ps(seed + 1), v2 = _mm512_set1_ps(seed + 2),
           v3 = _mm512_set1_ps(seed + 3), v4 = _mm512_set1_ps(seed + 4), v5 = _mm512_set1_ps(seed + 5),
           v6 = _mm512_set1_ps(seed + 6), v7 = _mm512_set1_ps(seed + 7), v8 = _mm512_set1_ps(seed + 8),
           v9 = _mm512_set1_ps(seed + 9), v10 = _mm512_set1_ps(seed + 10), v11 = _mm512_set1_ps(seed + 11);
    long i;
    float out[16];
    for (i = 0; i < n; i++) { BENCH_PEAK_CHAINS(_mm512_fmadd_ps, __m512, a, b, v) }
    v0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v0, v1), _mm512_add_ps(v2, v3)),
                       _mm512_add_ps(_mm512_add_ps(v4, v5), _mm512_add_ps(v6, v7)));
    v0 = _mm512_add_ps(v0, _mm512_add_ps(_mm512_add_ps(v8, v9), _mm512_add_ps(v10, v11)));
    _mm512_storeu_ps(out, v0);
    bench_peak_sink = out[0] + out[15];
    return (double)n * 12.0 * 16.0 * 2.0;
}

/* int8 peak: 12 independent chains of vpdpbusd zmm (64 u8·s8 multiply-adds each = 128 ops). */
#define BENCH_PEAK_DP(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double bench_peak_vnni(long n, float seed) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8((char)(seed + 1));
    __m512i v0 = _mm512_set1_epi32((int)seed), v1 = _mm512_set1_epi32(1), v2 = _mm512_set1_epi32(2),
            v3 = _mm512_set1_epi32(3), v4 = _mm512_set1_epi32(4), v5 = _mm512_set1_epi32(5),
            v6 = _mm512_set1_epi32(6), v7 = _mm512_set1_epi32(7), v8 = _mm512_set1_epi32(8),
            v9 = _mm512_set1_epi32(9), v10 = _mm512_set1_epi32(10), v11 = _mm512_set1_epi32(11);
    long i;
    int out[16];
    for (i = 0; i < n; i++) { BENCH_PEAK_CHAINS(BENCH_PEAK_DP, __m512i, a, b, v) }
    v0 = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(v0, v1), _mm512_add_epi32(v2, v3)),
                          _mm512_add_epi32(_mm512_add_epi32(v4, v5), _mm512_add_epi32(v6, v7)));
    v0 = _mm512_add_epi32(v0, _mm512_add_epi32(_mm512_add_epi32(v8, v9), _mm512_add_epi32(v10, v11)));
    _mm512_storeu_si512((void *)out, v0);
    bench_peak_sink = (float)(out[0] + out[15]);
    return (double)n * 12.0 * 64.0 * 2.0;
}

#ifdef BENCH_PEAK_AMX
/* AMX int8 peak: tdpbusd into four 16×16 int32 tiles (0, 3, 6, 7) from two input tiles (1, 4) and
   two weight tiles (2, 5), each 16 rows × 64 bytes: 4 × 16·16·64 MACs = 131072 ops an iteration. */
static const unsigned char bench_peak_amx_palette[64] = {
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0};
__attribute__((target("amx-tile,amx-int8"))) static double bench_peak_amx(long n, float seed) {
    static const unsigned char a[1024] = {3};
    int out[256];
    long i;
    _tile_loadconfig(bench_peak_amx_palette);
    _tile_loadd(1, a, 64); _tile_loadd(4, a, 64); _tile_loadd(2, a, 64); _tile_loadd(5, a, 64);
    _tile_zero(0); _tile_zero(3); _tile_zero(6); _tile_zero(7);
    for (i = 0; i < n; i++) {
        _tile_dpbusd(0, 1, 2); _tile_dpbusd(3, 1, 5); _tile_dpbusd(6, 4, 2); _tile_dpbusd(7, 4, 5);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    __asm__ volatile("" : : "r"(out) : "memory");
    bench_peak_sink = (float)out[0] + seed;
    return (double)n * 4.0 * 16.0 * 16.0 * 64.0 * 2.0;
}

/* cpuid amx-tile and amx-int8, and Linux's permission for the tile state (kernel 5.16+). */
static int bench_peak_has_amx(void) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 24) & 1) || !((d >> 25) & 1)) return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}
#endif

/* Clock estimate: a dependent chain of integer adds retires at 1 per cycle. Returns "cycles". */
static double bench_peak_clock(long n, float seed) {
    long i, x = (long)seed;
    for (i = 0; i < n; i++) {
        __asm__ volatile("add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\t"
                         "add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0" : "+r"(x));
    }
    bench_peak_sink = (float)x;
    return (double)n * 8.0;
}
#endif

/* ---- threads ---- */
typedef struct bench_peak_job {
    bench_peak_kernel k;
    long n;
    int cpu;         /* -1: do not pin */
    double work, secs;
    pthread_barrier_t *bar;
} bench_peak_job;

static void *bench_peak_thread(void *arg) {
    bench_peak_job *j = (bench_peak_job *)arg;
    double t;
#ifdef __linux__
    if (j->cpu >= 0) {
        cpu_set_t s;
        CPU_ZERO(&s);
        CPU_SET(j->cpu, &s);
        pthread_setaffinity_np(pthread_self(), sizeof s, &s); /* best effort */
    }
#endif
    pthread_barrier_wait(j->bar);
    t = bench_now();
    j->work = j->k(j->n, 1.0f + (float)(j->cpu & 7));
    j->secs = bench_now() - t;
    return NULL;
}

/* The i-th CPU of the process's affinity set as it was at the first call, or -1. The calling
   thread itself is never pinned (all kernels run on new threads), so a later thread pool that
   the bench creates is not confined by it. */
static int bench_peak_cpu(int i) {
#ifdef __linux__
    static cpu_set_t s;
    static int have = -1;
    int c, k = 0;
    if (have < 0) have = sched_getaffinity(0, sizeof s, &s) == 0;
    if (!have) return -1;
    for (c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &s) && k++ == i) return c;
#else
    (void)i;
#endif
    return -1;
}

/* Runs kernel k on nth threads (n iterations each); returns total work / slowest thread's time. */
static double bench_peak_run(bench_peak_kernel k, int nth, long n) {
    bench_peak_job j[64];
    pthread_t t[64];
    pthread_barrier_t bar;
    double work = 0, secs = 0;
    int i;
    if (nth < 1) nth = 1;
    if (nth > 64) nth = 64;
    pthread_barrier_init(&bar, NULL, (unsigned)nth);
    for (i = 0; i < nth; i++) {
        j[i].k = k; j[i].n = n; j[i].cpu = bench_peak_cpu(i); j[i].bar = &bar;
        pthread_create(&t[i], NULL, bench_peak_thread, &j[i]);
    }
    for (i = 0; i < nth; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    for (i = 0; i < nth; i++) {
        work += j[i].work;
        if (j[i].secs > secs) secs = j[i].secs;
    }
    return work / secs;
}

static int bench_peak_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench_peak_stat { double med, min, max; } bench_peak_stat;

/* Calibrates n to about ms milliseconds on one thread, then reps repetitions on nth threads.
   Result in G(unit)/s. */
static bench_peak_stat bench_peak_measure(bench_peak_kernel k, int nth, int reps, double ms) {
    bench_peak_stat st;
    double r[64], rate;
    long n = 1 << 16;
    int i;
    if (reps > 64) reps = 64;
    if (reps < 1) reps = 1;
    rate = bench_peak_run(k, 1, n); /* warm-up + calibration: work units per second */
    rate = bench_peak_run(k, 1, n);
    {
        double per_iter = k(1, 1.0f); /* work per iteration */
        n = (long)(rate * ms * 1e-3 / per_iter);
        if (n < 1000) n = 1000;
    }
    for (i = 0; i < reps; i++) r[i] = bench_peak_run(k, nth, n) / 1e9;
    qsort(r, (size_t)reps, sizeof r[0], bench_peak_cmp);
    st.med = r[reps / 2]; st.min = r[0]; st.max = r[reps - 1];
    if (reps % 2 == 0) st.med = 0.5 * (r[reps / 2 - 1] + r[reps / 2]);
    return st;
}

static int bench_peak_has_avx2_fma(void) {
#ifdef BENCH_PEAK_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
static int bench_peak_has_avx512f(void) {
#ifdef BENCH_PEAK_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* The CPU model string from /proc/cpuinfo (or "unknown"). */
static void bench_cpu_model(char *dst, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(dst, n, "unknown");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                size_t L;
                p++;
                while (*p == ' ' || *p == '\t') p++;
                L = strlen(p);
                while (L && (p[L - 1] == '\n' || p[L - 1] == ' ')) p[--L] = 0;
                snprintf(dst, n, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/* Results for thread counts th[0..nt). */
typedef struct bench_peak_result {
    int nt, threads[8];
    int has_ymm, has_zmm, has_vnni, has_amx;
    bench_peak_stat ymm[8], zmm[8], clock_ghz[8], vnni[8], amx[8]; /* vnni, amx: int8 GOP/s (1 MAC = 2 ops) */
    double peak[8];          /* best ISA's median GFLOP/s */
    const char *peak_isa;    /* "zmm (AVX-512F)", "ymm (AVX2+FMA)" or "none" */
} bench_peak_result;

static void bench_peak_all(bench_peak_result *r, const int *threads, int nt, int reps, double ms) {
    int i;
    memset(r, 0, sizeof *r);
    if (nt > 8) nt = 8;
    r->nt = nt;
    r->has_ymm = bench_peak_has_avx2_fma();
    r->has_zmm = bench_peak_has_avx512f();
#ifdef BENCH_PEAK_X86
    r->has_vnni = r->has_zmm && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#endif
#ifdef BENCH_PEAK_AMX
    r->has_amx = bench_peak_has_amx();
#endif
    r->peak_isa = r->has_zmm ? "zmm (AVX-512F)" : r->has_ymm ? "ymm (AVX2+FMA)" : "none";
    for (i = 0; i < nt; i++) {
        r->threads[i] = threads[i];
#ifdef BENCH_PEAK_X86
        r->clock_ghz[i] = bench_peak_measure(bench_peak_clock, threads[i], reps, ms * 0.4);
        r->clock_ghz[i].med /= threads[i]; /* per core */
        r->clock_ghz[i].min /= threads[i];
        r->clock_ghz[i].max /= threads[i];
        if (r->has_ymm) r->ymm[i] = bench_peak_measure(bench_peak_ymm, threads[i], reps, ms);
        if (r->has_zmm) r->zmm[i] = bench_peak_measure(bench_peak_zmm, threads[i], reps, ms);
        if (r->has_vnni) r->vnni[i] = bench_peak_measure(bench_peak_vnni, threads[i], reps, ms);
#endif
#ifdef BENCH_PEAK_AMX
        if (r->has_amx) r->amx[i] = bench_peak_measure(bench_peak_amx, threads[i], reps, ms);
#endif
        r->peak[i] = r->has_zmm ? r->zmm[i].med : r->ymm[i].med;
    }
}

static void bench_peak_print(FILE *f, const bench_peak_result *r) {
    int i;
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    fprintf(f, "cpu: %s; avx2+fma %s, avx512f %s; peak ISA %s\n", cpu, r->has_ymm ? "yes" : "no",
            r->has_zmm ? "yes" : "no", r->peak_isa);
    for (i = 0; i < r->nt; i++) {
        fprintf(f, "peak threads=%d: clock %.2f GHz (%.2f-%.2f)", r->threads[i], r->clock_ghz[i].med,
                r->clock_ghz[i].min, r->clock_ghz[i].max);
        if (r->has_ymm) fprintf(f, "  fp32 FMA ymm %.1f GFLOP/s (%.1f-%.1f)", r->ymm[i].med, r->ymm[i].min, r->ymm[i].max);
        if (r->has_zmm) fprintf(f, "  zmm %.1f GFLOP/s (%.1f-%.1f)", r->zmm[i].med, r->zmm[i].min, r->zmm[i].max);
        if (r->has_vnni) fprintf(f, "  int8 VNNI zmm %.1f GOP/s (%.1f-%.1f)", r->vnni[i].med, r->vnni[i].min, r->vnni[i].max);
        if (r->has_amx) fprintf(f, "  int8 AMX %.1f GOP/s (%.1f-%.1f)", r->amx[i].med, r->amx[i].min, r->amx[i].max);
        fprintf(f, "\n");
    }
}

static void bench_peak_json(FILE *f, const bench_peak_result *r) {
    int i;
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    fprintf(f, "{\"cpu\": \"%s\", \"avx2_fma\": %d, \"avx512f\": %d, \"peak_isa\": \"%s\", \"threads\": [",
            cpu, r->has_ymm, r->has_zmm, r->peak_isa);
    for (i = 0; i < r->nt; i++) {
        fprintf(f, "%s{\"threads\": %d, \"peak_gflops\": %.3f, \"clock_ghz\": [%.3f, %.3f, %.3f], "
                   "\"ymm_gflops\": [%.3f, %.3f, %.3f], \"zmm_gflops\": [%.3f, %.3f, %.3f], "
                   "\"int8_vnni_gops\": [%.3f, %.3f, %.3f], \"int8_amx_gops\": [%.3f, %.3f, %.3f]}",
                i ? ", " : "", r->threads[i], r->peak[i], r->clock_ghz[i].med, r->clock_ghz[i].min,
                r->clock_ghz[i].max, r->ymm[i].med, r->ymm[i].min, r->ymm[i].max, r->zmm[i].med,
                r->zmm[i].min, r->zmm[i].max, r->vnni[i].med, r->vnni[i].min, r->vnni[i].max,
                r->amx[i].med, r->amx[i].min, r->amx[i].max);
    }
    fprintf(f, "]}\n");
}

/* "1,2" -> {1, 2}; returns the count. */
static int bench_parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64) return 0;
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return n;
}

#ifndef BENCH_PEAK_NO_MAIN
int main(int argc, char **argv) {
    int threads[8] = {1, 2}, nt = 2, reps = 5, i;
    double ms = 250;
    const char *json = NULL;
    bench_peak_result r;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) nt = bench_parse_list(argv[++i], threads, 8);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else nt = 0;
        if (nt == 0) break;
    }
    if (nt == 0 || reps < 1 || ms <= 0) {
        fprintf(stderr, "usage: peak [--threads 1,2] [--reps 5] [--ms 250] [--json FILE]\n");
        return 2;
    }
    bench_peak_all(&r, threads, nt, reps, ms);
    bench_peak_print(stdout, &r);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) { perror(json); return 1; }
        bench_peak_json(f, &r);
        fclose(f);
    }
    return 0;
}
#endif
