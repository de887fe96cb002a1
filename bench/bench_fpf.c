/* bench/bench_fpf.c - time fpf's forward pass, stage by stage, against the machine's FMA peak.
 *
 *   build/bench/bench_fpf [--model FILE.fpf | --config paper|tiny --variant fpf_add [--seed 1] [--nucleus-seed 7]]
 *                         [--nucleus-model CORES.fpf] [--height 1024] [--width 1280]
 *                         [--cell CELL.u8 --nucleus NUC.u8]     raw 8-bit H×W images (else a built-in pattern)
 *                         [--threads 1,2] [--warmup 1] [--runs 5] [--stage-runs 5]
 *                         [--pool builtin|openmp] [--isa auto|scalar|avx2|avx512|neon] [--block-rows N]
 *                         [--conv3x3 winograd|direct]
 *                         [--int8-isa auto|avx512vnni|amx|...]
 *                         [--peak-json PEAK.json | --peak 1:94,2:188 | --no-peak] [--json OUT.json] [--quiet]
 *                         [--split-stem]   the stem (conv1 + max-pool) and res2 in stage rows of their own
 *   build/bench/bench_fpf --dump DIR [--model FILE.fpf ...] [--cell C.u8 --nucleus N.u8] [--threads 2]
 *                         one untimed run; F2..F5, rpn_class and rpn_bbox as DIR/<name>.f32 (raw
 *                         float32, HWC / [A, k]) for bench/peers/qdq_onnx.py's output check
 *
 * What it does, in order:
 *   1. load time: fpf_model_load_file (or _memory for a model built in memory) timed 3 times, each
 *      copy freed before the next (so peak RSS holds one model), then the kept load;
 *   2. the fp32 FMA peak on each thread count, in this process (bench/peak.c), unless given;
 *   3. per thread count, on ONE session: fpf_session_init (timed), --warmup untimed runs, one
 *      untimed run that reads the counts, then --runs timed runs WITHOUT the stage callback (the
 *      whole-forward figure; each followed by mask pasting of every instance, fpf_instance_paste,
 *      timed apart: the reference pastes full masks) alternating with --stage-runs runs WITH a
 *      stage callback that only records a timestamp per stage name (per-stage figures), switched
 *      by fpf_session_set_stage. Both kinds so share the workspace, the pool and the time span;
 *   4. per stage: median/min/max ms, MACs computed from the config (conv: Ho·Wo·kh·kw·cin·cout;
 *      the box head on the rows fpf computes, the mask head on the N0 detections), GMAC/s and
 *      % of the measured peak (2 FLOP per MAC);
 *   5. peak RSS (getrusage ru_maxrss), and the foreign load (/proc/stat minus own CPU) of every run.
 * The JSON (--json) carries everything for bench/run.py. --macs-only prints the MAC model (spec §13).
 *
 * Thread setup lives in bench_threads_setup() below, the one place that knows how fpf is told
 * about threads. */
#define _GNU_SOURCE
#define FPF_IMPLEMENTATION
#if defined(_OPENMP)
#include <omp.h>
#endif
#include "fpf.h"
#include "fpf_seeded.h"
#define BENCH_PEAK_NO_MAIN
#include "bench/peak.c"
#include <stdarg.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
   Threads: the only code that knows how fpf gets its threads. Adjust here when fpf.h's options
   change. Default: fpf's built-in pool (fpf_options.n_threads); --pool openmp hands the tasks to
   the caller's pool through fpf_options.parallel_for instead: here OpenMP's (bench.mk builds this
   file with -fopenmp), the way an application plugs in the pool it already has. */
static int use_caller_pool;

/* fpf_options.parallel_for: run fn(ctx, i) for every i in [0, n) on the caller's threads, and
   return when all are done. Any pool will do; results do not depend on which or on the order. */
static void bench_omp_parallel_for(void *pool, fpf_task_fn fn, void *ctx, int n) {
    int i;
    (void)pool;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (i = 0; i < n; i++) fn(ctx, i);
}

static int bench_threads_setup(fpf_options *opt, int n) {
    opt->parallel_for = NULL;
    opt->pool = NULL;
    opt->n_threads = n;                 /* built-in pool: n − 1 workers + the caller */
    if (!use_caller_pool || n <= 1) return 0;
#if defined(_OPENMP)
    omp_set_num_threads(n);
    opt->n_threads = 0;
    opt->parallel_for = bench_omp_parallel_for;
    return 0;
#else
    return -1;                          /* built without -fopenmp */
#endif
}

/* --------------------------------------------------------------------------------------------- */
static int quiet;
static void say(const char *fmt, ...) {
    va_list ap;
    if (quiet) return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}
static void die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "bench_fpf: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

/* Foreign load: busy CPU seconds of the whole machine (/proc/stat) minus this process's own CPU time
   (all its threads), over the wall time, in cores. */
typedef struct foreign { double busy, own, t; } foreign;
static double busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    double hz = (double)sysconf(_SC_CLK_TCK);
    int n;
    if (!f) return 0;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return 0;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
}
static double own_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}
static void foreign_start(foreign *f) { f->busy = busy_s(); f->own = own_s(); f->t = bench_now(); }
static double foreign_stop(const foreign *f) {
    double dt = bench_now() - f->t, v;
    if (dt <= 0) return 0;
    v = ((busy_s() - f->busy) - (own_s() - f->own)) / dt;
    return v < 0 ? 0 : v;
}

typedef struct stat3 { double med, min, max; } stat3;
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static stat3 stats(const double *v, int n) {
    double s[256];
    stat3 r = {0, 0, 0};
    if (n <= 0) return r;
    if (n > 256) n = 256;
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_d);
    r.min = s[0]; r.max = s[n - 1];
    r.med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    return r;
}

/* ---------------------------------------------------------------------------------------------
   MACs from the config (spec §13). All convs: Ho·Wo·kh·kw·cin·cout. */
typedef struct macs_model {
    const fpf_config *c;
    int Hp, Wp;
} macs_model;

static int depth_of(const fpf_config *c) { return c->merge == 2 ? 2 * c->fpn_width : c->fpn_width; }

/* part 0: conv1 + res2, 1..3: res3..res5; 4: conv1 (the stem) alone, 5: res2 alone */
static double macs_tower_part(const fpf_config *c, int Hp, int Wp, int cin, int part) {
    double m = 0;
    int s0 = part % 4, s1 = part == 4 ? 0 : s0 + 1, s, b;
    if (part == 0 || part == 4) m += (double)(Hp / 2) * (Wp / 2) * 49.0 * cin * c->stem_width;
    for (s = s0; s < s1; s++) {
        double hw = (double)(Hp >> (s + 2)) * (double)(Wp >> (s + 2));
        int f1 = c->bottleneck[s], f3 = c->stage_out[s];
        for (b = 0; b < c->blocks[s]; b++) {
            int in = b > 0 ? f3 : s == 0 ? c->stem_width : c->stage_out[s - 1];
            m += hw * ((double)in * f1 + 9.0 * f1 * f1 + (double)f1 * f3);
            if (b == 0) m += hw * (double)in * f3;
        }
    }
    return m;
}
static double macs_fpn(const fpf_config *c, int Hp, int Wp) {
    double m = 0;
    int s, F = c->fpn_width;
    for (s = 0; s < 4; s++) {
        double hw = (double)(Hp >> (s + 2)) * (double)(Wp >> (s + 2));
        m += hw * ((double)c->stage_out[s] * F + 9.0 * F * F);
    }
    return m;
}
static double macs_rpn(const fpf_config *c, int Hp, int Wp) {
    double m = 0;
    int l, D = depth_of(c), R = c->rpn_width;
    for (l = 0; l < 5; l++) {
        double hw = (double)(Hp >> (l + 2)) * (double)(Wp >> (l + 2));
        m += hw * (9.0 * D * R + (double)R * 6 + (double)R * 12);
    }
    return m;
}
static double macs_box(const fpf_config *c, int rows) {
    double P = c->pool_size, fc = c->fc_width, K = c->num_classes;
    return rows * (P * P * depth_of(c) * fc + fc * fc + fc * K + fc * 4 * K);
}
static double macs_mask(const fpf_config *c, int n0) {
    double P = c->mask_pool_size, m = c->mask_width, D = depth_of(c), K = c->num_classes;
    double per = P * P * 9.0 * D * m + 3.0 * P * P * 9.0 * m * m /* 4 convs */
               + P * P * 4.0 * m * m                                /* 2×2/2 deconv */
               + 4.0 * P * P * m * K;                               /* 1×1 to K */
    return n0 * per;
}

/* ---------------------------------------------------------------------------------------------
   Stage events. The callback stores (name, time) and, for two stages, a count read from the
   tensor: real proposals (rows of rpn_rois before the zero padding) and N0 (detections). */
#define MAX_EV 160
typedef struct ev { char name[48]; double t; } ev;
typedef struct recorder {
    ev e[MAX_EV];
    int n;
    int n_props[2], n0[2]; /* [0] main model, [1] nucleus model ("nuclei:" prefix) */
    double rpn_bbox_sum;   /* main model: sum of the RPN deltas (float64), to check peers against */
    int counting;          /* read counts from tensors */
} recorder;

static void on_stage(void *user, const char *name, const float *data, int ndim, const int *dims, int ld) {
    recorder *r = (recorder *)user;
    double t = bench_now();
    int nuc = strncmp(name, "nuclei:", 7) == 0;
    const char *base = nuc ? name + 7 : name;
    if (r->n < MAX_EV) {
        snprintf(r->e[r->n].name, sizeof r->e[r->n].name, "%s", name);
        r->e[r->n].t = t;
        r->n++;
    }
    if (!r->counting || ndim != 2) return;
    if (!nuc && !strcmp(base, "rpn_bbox")) {
        size_t i, n = (size_t)dims[0];
        int k;
        double sum = 0;
        for (i = 0; i < n; i++)
            for (k = 0; k < dims[1]; k++) sum += data[i * (size_t)ld + k];
        r->rpn_bbox_sum = sum;
    } else if (!strcmp(base, "rpn_rois")) { /* zero rows at the end are padding */
        int n = dims[0], k;
        while (n > 0) {
            const float *row = data + (size_t)(n - 1) * ld;
            for (k = 0; k < 4 && row[k] == 0.0f; k++) {}
            if (k < 4) break;
            n--;
        }
        r->n_props[nuc] = n;
    } else if (!strcmp(base, "detections")) { /* N0: the first row with class id 0 */
        int n = 0;
        while (n < dims[0] && data[(size_t)n * ld + 4] != 0.0f) n++;
        r->n0[nuc] = n;
    }
}

/* Groups: each event closes the group it names; consecutive events of one group merge. */
typedef struct group {
    char name[64];
    int nuc;        /* belongs to the nucleus model pass */
    int kind;       /* see group_of */
    int part;       /* tower part 0..3, or -1 */
    int tower;      /* 0 cell / single, 1 nucleus tower of an FPF model */
    int dense;      /* counts into the "dense trunk" */
    double t[256];  /* per stage run */
    double macs;
} group;

enum { G_OTHER, G_MOLD, G_TOWER, G_FPN, G_FUSE_CELLFPN, G_FUSE_ONLY, G_ANCHORS, G_RPN, G_PROPOSALS,
       G_ROI7, G_BOX, G_DETECT, G_ROI14, G_MASK, G_UNMOLD };

static int g_split_stem; /* --split-stem: the stem (conv1 + max-pool) and res2 in rows of their own */

/* Classifies event `name` given the previous event's group kind; fills g (name, kind...). */
static void group_of(const char *name, int prev_kind, group *g) {
    int nuc = strncmp(name, "nuclei:", 7) == 0;
    const char *b = nuc ? name + 7 : name, *dot = strchr(b, '.');
    const char *pre = nuc ? "nuclei: " : "";
    memset(g, 0, sizeof *g);
    g->nuc = nuc; g->part = -1; g->kind = G_OTHER;
    if (!strcmp(b, "mold") || !strcmp(b, "mold_nucleus")) {
        g->kind = G_MOLD;
        snprintf(g->name, sizeof g->name, "%s%s", pre, !strcmp(b, "mold") ? "mold (input)" : "mold nucleus");
    } else if (dot && ((dot[1] == 'C' && dot[2] >= '1' && dot[2] <= '5') || (dot[1] == 'P' && dot[2] >= '2' && dot[2] <= '6')) && !dot[3]) {
        int k = dot[2] - '0', tl = (int)(dot - b);
        g->tower = !strncmp(b, "nucleus", (size_t)tl) && tl == 7;
        g->dense = 1;
        if (dot[1] == 'C') {   /* C1 (the stem) and C2 close one group: conv1+res2 (--split-stem: two) */
            g->kind = G_TOWER; g->part = k < 2 ? (g_split_stem ? 4 : 0) : k == 2 && g_split_stem ? 5 : k - 2;
            snprintf(g->name, sizeof g->name, "%s%.*s %s", pre, tl, b,
                     k < 2 && g_split_stem ? "conv1 (stem)" : k == 2 && g_split_stem ? "res2" : k <= 2 ? "conv1+res2"
                     : k == 3 ? "res3" : k == 4 ? "res4" : "res5");
        } else {
            g->kind = G_FPN;
            snprintf(g->name, sizeof g->name, "%s%.*s FPN", pre, tl, b);
        }
    } else if (b[0] == 'F' && b[1] >= '2' && b[1] <= '6' && !b[2]) {
        g->dense = 1;
        if (prev_kind == G_TOWER || prev_kind == G_FUSE_CELLFPN) { /* FPF-add: the cell FPN accumulates into the fused maps */
            g->kind = G_FUSE_CELLFPN; g->tower = 0;
            snprintf(g->name, sizeof g->name, "%scell FPN + fusion + P6", pre);
        } else {
            g->kind = G_FUSE_ONLY;
            snprintf(g->name, sizeof g->name, "%sfusion + P6", pre);
        }
    } else if (!strcmp(b, "anchors")) {
        g->kind = G_ANCHORS; snprintf(g->name, sizeof g->name, "%sanchors", pre);
    } else if (!strcmp(b, "rpn_class") || !strcmp(b, "rpn_bbox")) {
        g->kind = G_RPN; g->dense = 1; snprintf(g->name, sizeof g->name, "%sRPN (convs, softmax)", pre);
    } else if (!strcmp(b, "rpn_rois")) {
        g->kind = G_PROPOSALS; snprintf(g->name, sizeof g->name, "%sproposals (top-k, NMS)", pre);
    } else if (!strcmp(b, "roi_feat")) {
        g->kind = G_ROI7; snprintf(g->name, sizeof g->name, "%sRoIAlign 7x7", pre);
    } else if (!strcmp(b, "mrcnn_class") || !strcmp(b, "mrcnn_bbox")) {
        g->kind = G_BOX; snprintf(g->name, sizeof g->name, "%sbox head", pre);
    } else if (!strcmp(b, "detections")) {
        g->kind = G_DETECT; snprintf(g->name, sizeof g->name, "%sdetection (refine, NMS)", pre);
    } else if (!strcmp(b, "mask_feat")) {
        g->kind = G_ROI14; snprintf(g->name, sizeof g->name, "%sRoIAlign 14x14", pre);
    } else if (!strcmp(b, "mrcnn_mask")) {
        g->kind = G_MASK; snprintf(g->name, sizeof g->name, "%smask head", pre);
    } else {
        snprintf(g->name, sizeof g->name, "%s(until %s)", pre, b);
    }
}

/* ---------------------------------------------------------------------------------------------
   Inputs */
static uint8_t *read_u8(const char *path, int h, int w) {
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;
    if (!f) die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n != (long)h * w) die("%s: %ld bytes, expected %d x %d = %ld (raw 8-bit)", path, n, h, w, (long)h * w);
    p = (uint8_t *)malloc((size_t)n);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) die("cannot read %s", path);
    fclose(f);
    return p;
}

/* Built-in pattern: bright blobs on a dim background (deterministic). */
static uint8_t *make_pattern(int h, int w, int seed, int radius) {
    uint8_t *p = (uint8_t *)malloc((size_t)h * w);
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(seed + 1);
    int y, x, k, nb = (int)((double)h * w / (12.0 * radius * radius)) + 1;
    float *acc = (float *)calloc((size_t)h * w, sizeof(float));
    for (k = 0; k < nb; k++) {
        int cy, cx, r2 = radius * radius, y0, y1, x0, x1;
        s ^= s << 13; s ^= s >> 7; s ^= s << 17; cy = (int)(s % (uint64_t)h);
        s ^= s << 13; s ^= s >> 7; s ^= s << 17; cx = (int)(s % (uint64_t)w);
        y0 = cy - 3 * radius < 0 ? 0 : cy - 3 * radius; y1 = cy + 3 * radius > h ? h : cy + 3 * radius;
        x0 = cx - 3 * radius < 0 ? 0 : cx - 3 * radius; x1 = cx + 3 * radius > w ? w : cx + 3 * radius;
        for (y = y0; y < y1; y++)
            for (x = x0; x < x1; x++) {
                float d2 = (float)((y - cy) * (y - cy) + (x - cx) * (x - cx));
                acc[(size_t)y * w + x] += 160.0f * expf(-d2 / (float)(2 * r2));
            }
    }
    for (k = 0; k < h * w; k++) {
        float v = 20.0f + acc[k];
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        v += (float)(s % 9) - 4.0f;
        p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(acc);
    return p;
}

/* ---------------------------------------------------------------------------------------------
   One thread count */
typedef struct tc_result {
    int threads;
    double peak;               /* GFLOP/s, 0 if none */
    double session_init_ms;
    double fwd[256]; int nfwd; /* whole forward, no callback */
    double fwd_cb[256];        /* whole forward in the stage runs */
    double fl[256], fl_cb[256]; /* foreign load (cores) during each run */
    double paste[256];
    int nstage;
    group g[48]; int ng;
    int n_props, n0, n_cells, n_nuclei;
    int n_props_nuc, n0_nuc;
    double rpn_bbox_sum;
    const char *isa;         /* the kernels the session ran (fpf_session_isa) */
    const char *qisa;        /* its int8 kernels (fpf_session_qisa) */
} tc_result;

typedef struct bench {
    int isa;                 /* fpf_isa requested (0 = AUTO) */
    int block_rows;          /* fpf_options.block_rows (0 = the default bands, -1 = whole maps) */
    int conv3x3;             /* fpf_options.conv3x3 (--conv3x3 winograd|direct) */
    int int8_isa;            /* fpf_qisa requested (0 = AUTO) */
    const fpf_model *m, *nm;
    const fpf_config *c, *nc;
    int H, W, Hp, Wp;
    fpf_input in;
    int warmup, runs, stage_runs;
} bench;

static double group_macs(const bench *B, const group *g, const tc_result *r) {
    const fpf_config *c = g->nuc ? B->nc : B->c;
    int Hp = B->Hp, Wp = B->Wp, props = g->nuc ? r->n_props_nuc : r->n_props, n0 = g->nuc ? r->n0_nuc : r->n0;
    int rows = props < c->post_nms_rois ? props + 1 : c->post_nms_rois; /* padded rows: computed once */
    int cin = g->tower ? 1 : c->input_channels;
    switch (g->kind) {
    case G_TOWER: return macs_tower_part(c, Hp, Wp, cin, g->part);
    case G_FPN: return macs_fpn(c, Hp, Wp);
    case G_FUSE_CELLFPN: return macs_fpn(c, Hp, Wp);
    case G_RPN: return macs_rpn(c, Hp, Wp);
    case G_BOX: return macs_box(c, rows);
    case G_MASK: return macs_mask(c, n0);
    default: return 0;
    }
}

/* One timed run without the stage callback: the whole-forward figure, then mask pasting apart. */
static void plain_run(const bench *B, fpf_session *s, int threads, tc_result *r, uint8_t *pbuf, int i) {
    const fpf_output *out = NULL;
    foreign fm;
    fpf_result e;
    double t0;
    int k;
    fpf_session_set_stage(s, NULL, NULL);
    foreign_start(&fm);
    t0 = bench_now();
    e = fpf_session_run(s, &B->in, &out);
    r->fwd[i] = (bench_now() - t0) * 1e3;
    r->fl[i] = foreign_stop(&fm);
    if (e != FPF_OK) die("fpf_session_run: %s", fpf_result_string(e));
    t0 = bench_now();
    for (k = 0; k < out->n_cells; k++) fpf_instance_paste(&out->cells[k], pbuf, (size_t)B->W);
    for (k = 0; k < out->n_nuclei; k++) fpf_instance_paste(&out->nuclei[k], pbuf, (size_t)B->W);
    r->paste[i] = (bench_now() - t0) * 1e3;
    r->n_cells = out->n_cells; r->n_nuclei = out->n_nuclei;
    say("  threads=%d run %d/%d: %.1f ms (+ paste %d masks %.2f ms), foreign load %.2f cores\n", threads, i + 1, B->runs,
        r->fwd[i], out->n_cells + out->n_nuclei, r->paste[i], r->fl[i]);
}

/* One timed run with the recording callback; its events become the stage groups' times of run i. */
static void stage_run(const bench *B, fpf_session *s, int threads, tc_result *r, recorder *rec, int i) {
    const fpf_output *out = NULL;
    int gi = 0, prev_kind = G_OTHER, j;
    double start, end, last;
    foreign fm;
    fpf_result e;
    fpf_session_set_stage(s, on_stage, rec);
    rec->n = 0;
    foreign_start(&fm);
    start = bench_now();
    e = fpf_session_run(s, &B->in, &out);
    end = bench_now();
    last = start;
    r->fl_cb[i] = foreign_stop(&fm);
    if (e != FPF_OK) die("fpf_session_run: %s", fpf_result_string(e));
    r->fwd_cb[i] = (end - start) * 1e3;
    /* walk events; append a final "unmold" group closing at `end` */
    for (j = 0; j <= rec->n; j++) {
        group g;
        double t = j < rec->n ? rec->e[j].t : end;
        if (j < rec->n) group_of(rec->e[j].name, prev_kind, &g);
        else {
            memset(&g, 0, sizeof g);
            g.kind = G_UNMOLD; g.part = -1;
            g.nuc = 0;
            snprintf(g.name, sizeof g.name, "unmold (boxes, results)");
        }
        if (gi > 0 && !strcmp(r->g[gi - 1].name, g.name) && prev_kind == g.kind) {
            r->g[gi - 1].t[i] += (t - last) * 1e3; /* same group continues */
        } else {
            if (i == 0) {
                if (gi >= 48) die("too many stage groups");
                r->g[gi] = g;
                r->ng = gi + 1;
            } else if (gi >= r->ng || strcmp(r->g[gi].name, g.name)) {
                die("stage sequence differs between runs (%s)", g.name);
            }
            r->g[gi].t[i] = (t - last) * 1e3;
            gi++;
        }
        last = t;
        prev_kind = g.kind;
    }
    say("  threads=%d stage run %d/%d: %.1f ms, foreign load %.2f cores\n", threads, i + 1, B->stage_runs, r->fwd_cb[i], r->fl_cb[i]);
}

/* One session for both kinds of run: after the warm-up and one untimed run that reads the counts,
   plain and stage runs alternate (plain first), so both see the same workspace, the same pool
   and the same stretch of the machine's time; only the callback differs. */
static void run_threads(const bench *B, int threads, tc_result *r) {
    fpf_options opt;
    fpf_session *s = NULL;
    const fpf_output *out = NULL;
    recorder *rec = (recorder *)calloc(1, sizeof *rec);
    uint8_t *pbuf = (uint8_t *)malloc((size_t)B->H * B->W);
    double t0;
    int i, np, ns;
    fpf_result e;
    memset(&opt, 0, sizeof opt);
    opt.isa = B->isa; opt.block_rows = B->block_rows; opt.int8_isa = B->int8_isa; opt.conv3x3 = B->conv3x3;
    r->threads = threads;
    if (bench_threads_setup(&opt, threads) != 0) die("--pool openmp: bench_fpf was built without -fopenmp");
    t0 = bench_now();
    e = fpf_session_init(B->m, B->nm, B->H, B->W, &opt, &s);
    r->session_init_ms = (bench_now() - t0) * 1e3;
    if (e != FPF_OK) die("fpf_session_init: %s", fpf_result_string(e));
    r->isa = fpf_isa_name(fpf_session_isa(s));
    r->qisa = fpf_qisa_name(fpf_session_qisa(s));
    for (i = 0; i < B->warmup; i++) {
        say("  threads=%d warm-up %d/%d ...", threads, i + 1, B->warmup);
        t0 = bench_now();
        if ((e = fpf_session_run(s, &B->in, &out)) != FPF_OK) die("fpf_session_run: %s (%s)", fpf_result_string(e), fpf_session_message(s));
        say(" %.1f ms\n", (bench_now() - t0) * 1e3);
    }
    /* one untimed run with the callback reads the counts (proposals, N0) the MAC model needs */
    fpf_session_set_stage(s, on_stage, rec);
    rec->n = 0;
    rec->counting = 1;
    if ((e = fpf_session_run(s, &B->in, &out)) != FPF_OK) die("fpf_session_run: %s", fpf_result_string(e));
    r->n_props = rec->n_props[0]; r->n0 = rec->n0[0]; r->n_props_nuc = rec->n_props[1]; r->n0_nuc = rec->n0[1];
    r->rpn_bbox_sum = rec->rpn_bbox_sum;
    rec->counting = 0;
    r->ng = 0;
    np = B->runs < 256 ? B->runs : 256;
    ns = B->stage_runs < 256 ? B->stage_runs : 256;
    for (i = 0; i < np || i < ns; i++) {
        if (i < np) plain_run(B, s, threads, r, pbuf, i);
        if (i < ns) stage_run(B, s, threads, r, rec, i);
    }
    r->nfwd = np;
    r->nstage = ns;
    for (i = 0; i < r->ng; i++) r->g[i].macs = group_macs(B, &r->g[i], r);
    fpf_session_free(s);
    free(rec);
    free(pbuf);
}

static void print_tc(FILE *f, const bench *B, const tc_result *r, int json) {
    stat3 fw = stats(r->fwd, r->nfwd), fc = stats(r->fwd_cb, r->nstage), pa = stats(r->paste, r->nfwd);
    double total_macs = 0, trunk_macs = 0, trunk_t[256];
    int k, i;
    (void)B;
    for (i = 0; i < 256; i++) trunk_t[i] = 0;
    for (k = 0; k < r->ng; k++) {
        total_macs += r->g[k].macs;
        if (r->g[k].dense) {
            trunk_macs += r->g[k].macs;
            for (i = 0; i < r->nstage; i++) trunk_t[i] += r->g[k].t[i];
        }
    }
    if (!json) {
        stat3 tt = stats(trunk_t, r->nstage);
        fprintf(f, "\n== threads=%d  kernels %s, int8 %s  (peak %.1f GFLOP/s)  proposals %d, detections N0 %d, cells %d\n", r->threads,
                r->isa, r->qisa, r->peak, r->n_props, r->n0, r->n_cells);
        fprintf(f, "%-34s %10s %10s %10s %9s %9s %7s\n", "stage", "median ms", "min", "max", "GMAC", "GMAC/s", "%peak");
        for (k = 0; k < r->ng; k++) {
            stat3 s = stats(r->g[k].t, r->nstage);
            double gm = r->g[k].macs / 1e9, rate = s.med > 0 ? gm / (s.med * 1e-3) : 0;
            fprintf(f, "%-34s %10.2f %10.2f %10.2f %9.2f", r->g[k].name, s.med, s.min, s.max, gm);
            if (gm > 0) fprintf(f, " %9.1f %6.1f%%\n", rate, r->peak > 0 ? 200.0 * rate / r->peak : 0.0);
            else fprintf(f, "\n");
        }
        fprintf(f, "%-34s %10.2f %10.2f %10.2f %9.2f %9.1f %6.1f%%\n", "dense trunk (towers+FPN+RPN)", tt.med, tt.min, tt.max,
                trunk_macs / 1e9, trunk_macs / 1e9 / (tt.med * 1e-3), r->peak > 0 ? 200.0 * trunk_macs / 1e9 / (tt.med * 1e-3) / r->peak : 0.0);
        fprintf(f, "%-34s %10.2f %10.2f %10.2f %9.2f %9.1f %6.1f%%\n", "whole forward (with callback)", fc.med, fc.min, fc.max,
                total_macs / 1e9, total_macs / 1e9 / (fc.med * 1e-3), r->peak > 0 ? 200.0 * total_macs / 1e9 / (fc.med * 1e-3) / r->peak : 0.0);
        fprintf(f, "%-34s %10.2f %10.2f %10.2f %9.2f %9.1f %6.1f%%\n", "WHOLE FORWARD (fpf_session_run)", fw.med, fw.min, fw.max,
                total_macs / 1e9, total_macs / 1e9 / (fw.med * 1e-3), r->peak > 0 ? 200.0 * total_macs / 1e9 / (fw.med * 1e-3) / r->peak : 0.0);
        fprintf(f, "%-34s %10.2f %10.2f %10.2f\n", "paste all masks", pa.med, pa.min, pa.max);
        fprintf(f, "session init %.1f ms\n", r->session_init_ms);
        return;
    }
    fprintf(f, "{\"threads\": %d, \"isa\": \"%s\", \"int8_isa\": \"%s\", \"pool\": \"%s\", \"peak_gflops\": %.3f, \"session_init_ms\": %.3f, \"n_props\": %d, \"n0\": %d, "
               "\"n_cells\": %d, \"n_nuclei\": %d, \"total_macs\": %.0f, \"trunk_macs\": %.0f, \"rpn_bbox_sum\": %.6f,\n",
            r->threads, r->isa, r->qisa, use_caller_pool ? "openmp" : "built-in", r->peak, r->session_init_ms, r->n_props,
            r->n0, r->n_cells, r->n_nuclei, total_macs, trunk_macs,
            r->rpn_bbox_sum);
    fprintf(f, "   \"forward_ms\": [");
    for (i = 0; i < r->nfwd; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->fwd[i]);
    fprintf(f, "], \"forward_cb_ms\": [");
    for (i = 0; i < r->nstage; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->fwd_cb[i]);
    fprintf(f, "], \"foreign\": [");
    for (i = 0; i < r->nfwd; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->fl[i]);
    fprintf(f, "], \"foreign_cb\": [");
    for (i = 0; i < r->nstage; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->fl_cb[i]);
    fprintf(f, "], \"paste_ms\": [");
    for (i = 0; i < r->nfwd; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->paste[i]);
    fprintf(f, "], \"trunk_ms\": [");
    for (i = 0; i < r->nstage; i++) fprintf(f, "%s%.3f", i ? ", " : "", trunk_t[i]);
    fprintf(f, "],\n   \"stages\": [");
    for (k = 0; k < r->ng; k++) {
        fprintf(f, "%s\n     {\"name\": \"%s\", \"dense\": %d, \"macs\": %.0f, \"ms\": [", k ? "," : "", r->g[k].name,
                r->g[k].dense, r->g[k].macs);
        for (i = 0; i < r->nstage; i++) fprintf(f, "%s%.3f", i ? ", " : "", r->g[k].t[i]);
        fprintf(f, "]}");
    }
    fprintf(f, "]}");
}

/* --macs-only: the MAC model for H×W with the Keras graph's fixed counts (500 box-head rows, 200
   mask-head RoIs), to compare with spec §13; nothing is run. */
static void print_macs(const fpf_config *c, int H, int W) {
    int Hp = (H + 63) / 64 * 64, Wp = (W + 63) / 64 * 64, p, fpf = c->merge != 0;
    double tw = 0, tot = 0, x;
    const char *part[4] = {"conv1+res2", "res3", "res4", "res5"};
    printf("MACs for %dx%d (padded %dx%d), variant %d, Keras counts (500 RoIs, 200 detections):\n", H, W, Hp, Wp, c->variant);
    for (p = 0; p < 4; p++) {
        x = macs_tower_part(c, Hp, Wp, c->input_channels, p);
        printf("  backbone %-10s %8.2f G%s\n", part[p], x / 1e9, fpf ? " (x2 towers)" : "");
        tw += x;
    }
    printf("  backbone total       %8.2f G per tower\n", tw / 1e9);
    x = macs_fpn(c, Hp, Wp);
    printf("  FPN                  %8.2f G per tower\n", x / 1e9);
    tot = (tw + x) * (fpf ? 2 : 1);
    printf("  RPN                  %8.2f G\n", macs_rpn(c, Hp, Wp) / 1e9);
    printf("  box head x500        %8.2f G\n", macs_box(c, 500) / 1e9);
    printf("  mask head x200       %8.2f G\n", macs_mask(c, 200) / 1e9);
    tot += macs_rpn(c, Hp, Wp) + macs_box(c, 500) + macs_mask(c, 200);
    printf("  total                %8.2f G\n", tot / 1e9);
}

/* --dump DIR: one untimed run whose trunk outputs (F2..F5, rpn_class, rpn_bbox of the main
   model) are written as DIR/<name>.f32, raw float32, rows packed (the tensor's ld dropped), HWC for
   the maps. bench/peers/qdq_onnx.py compares them with ONNX Runtime's. Each file goes through a
   temporary name, so a failed run leaves no partial file. */
typedef struct dumper { const char *dir; int failed; } dumper;

static void on_dump(void *user, const char *name, const float *data, int ndim, const int *dims, int ld) {
    static const char *keep[6] = {"F2", "F3", "F4", "F5", "rpn_class", "rpn_bbox"};
    dumper *d = (dumper *)user;
    char path[1024], tmp[1040];
    size_t rows = 1, cols = (size_t)dims[ndim - 1], r;
    int k;
    FILE *f;
    for (k = 0; k < 6 && strcmp(name, keep[k]); k++) {}
    if (k == 6) return;
    for (k = 0; k < ndim - 1; k++) rows *= (size_t)dims[k];
    snprintf(path, sizeof path, "%s/%s.f32", d->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) { d->failed = 1; return; }
    for (r = 0; r < rows; r++)
        if (fwrite(data + r * (size_t)ld, sizeof(float), cols, f) != cols) d->failed = 1;
    if (fclose(f) != 0 || d->failed || rename(tmp, path) != 0) { d->failed = 1; remove(tmp); }
}

static void dump_run(const bench *B, int threads, const char *dir) {
    fpf_options opt;
    fpf_session *s = NULL;
    const fpf_output *out = NULL;
    dumper d;
    fpf_result e;
    memset(&opt, 0, sizeof opt);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) die("cannot create %s", dir);
    d.dir = dir;
    d.failed = 0;
    opt.isa = B->isa; opt.block_rows = B->block_rows; opt.int8_isa = B->int8_isa; opt.conv3x3 = B->conv3x3;
    opt.stage = on_dump;
    opt.stage_user = &d;
    if (bench_threads_setup(&opt, threads) != 0) die("--pool openmp: bench_fpf was built without -fopenmp");
    if ((e = fpf_session_init(B->m, B->nm, B->H, B->W, &opt, &s)) != FPF_OK) die("fpf_session_init: %s", fpf_result_string(e));
    if ((e = fpf_session_run(s, &B->in, &out)) != FPF_OK) die("fpf_session_run: %s (%s)", fpf_result_string(e), fpf_session_message(s));
    fpf_session_free(s);
    if (d.failed) die("cannot write the dumps into %s", dir);
    printf("fpf dump: F2..F5, rpn_class, rpn_bbox written to %s (threads=%d)\n", dir, threads);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_fpf [--model FILE.fpf | --config paper|tiny --variant NAME [--seed S] [--nucleus-seed S]]\n"
            "                 [--nucleus-model CORES.fpf] [--height H] [--width W] [--cell C.u8 --nucleus N.u8]\n"
            "                 [--threads 1,2] [--warmup N] [--runs N] [--stage-runs N] [--pool builtin|openmp]\n"
            "                 [--isa auto|scalar|avx2|avx512|neon] [--block-rows N (0 = default bands, -1 = whole maps)]\n"
            "                 [--conv3x3 winograd|direct]\n"
            "                 [--int8-isa auto|scalar|avx2|avxvnni|avx512vnni|amx|neon|neondot]\n"
            "                 [--peak-json FILE | --peak T:GFLOPS,... | --no-peak] [--json OUT] [--quiet] [--split-stem]\n"
            "       bench_fpf --dump DIR [--model FILE.fpf ...] [--cell C.u8 --nucleus N.u8] [--threads T]  (one untimed run)\n"
            "       bench_fpf --macs-only [--config C --variant V] [--height H --width W]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *model = NULL, *nmodel = NULL, *cfgname = "paper", *vname = "fpf_add", *cellf = NULL, *nucf = NULL;
    const char *json = NULL, *peak_json = NULL, *peak_str = NULL, *dump_dir = NULL;
    unsigned long long seed = 1, nseed = 7;
    int threads[8] = {1, 2}, nt = 2, no_peak = 0, macs_only = 0, i;
    double load_ms[3], load_first = 0, model_bytes = 0;
    bench B;
    fpf_model *m = NULL, *nm = NULL;
    fpf_result e;
    char msg[256], cpu[256];
    bench_peak_result peak;
    tc_result *res;
    struct rusage ru;
    uint8_t *cell_px, *nuc_px;

    memset(&B, 0, sizeof B);
    B.H = 1024; B.W = 1280; B.warmup = 1; B.runs = 5; B.stage_runs = -1;
    for (i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--no-peak")) { no_peak = 1; continue; }
        if (!strcmp(k, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(k, "--split-stem")) { g_split_stem = 1; continue; }
        if (!strcmp(k, "--macs-only")) { macs_only = 1; continue; }
        if (!strcmp(k, "--pool")) {
            if (!v || (strcmp(v, "builtin") && strcmp(v, "openmp"))) usage();
            use_caller_pool = !strcmp(v, "openmp");
            i++;
            continue;
        }
        if (!strcmp(k, "--int8-isa")) { /* fpf_qisa_name's names */
            int j;
            if (!v) usage();
            for (j = 0; j <= FPF_QISA_AMX && strcmp(v, fpf_qisa_name((fpf_qisa)j)); j++) {}
            if (j > FPF_QISA_AMX) usage();
            B.int8_isa = j;
            i++;
            continue;
        }
        if (!strcmp(k, "--isa")) {
            static const char *names[5] = {"auto", "scalar", "avx2", "avx512", "neon"};
            int j;
            if (!v) usage();
            for (j = 0; j < 5 && strcmp(v, names[j]); j++) {}
            if (j == 5) usage();
            B.isa = j;
            i++;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(k, "--model")) model = v;
        else if (!strcmp(k, "--nucleus-model")) nmodel = v;
        else if (!strcmp(k, "--block-rows")) B.block_rows = atoi(v);
        else if (!strcmp(k, "--conv3x3")) {
            if (strcmp(v, "winograd") && strcmp(v, "direct")) usage();
            B.conv3x3 = !strcmp(v, "direct") ? FPF_CONV3X3_DIRECT : FPF_CONV3X3_WINOGRAD;
        }
        else if (!strcmp(k, "--config")) cfgname = v;
        else if (!strcmp(k, "--variant")) vname = v;
        else if (!strcmp(k, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--nucleus-seed")) nseed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--height")) B.H = atoi(v);
        else if (!strcmp(k, "--width")) B.W = atoi(v);
        else if (!strcmp(k, "--cell")) cellf = v;
        else if (!strcmp(k, "--nucleus")) nucf = v;
        else if (!strcmp(k, "--threads")) { if (!(nt = bench_parse_list(v, threads, 8))) usage(); }
        else if (!strcmp(k, "--warmup")) B.warmup = atoi(v);
        else if (!strcmp(k, "--runs")) B.runs = atoi(v);
        else if (!strcmp(k, "--stage-runs")) B.stage_runs = atoi(v);
        else if (!strcmp(k, "--peak-json")) peak_json = v;
        else if (!strcmp(k, "--peak")) peak_str = v;
        else if (!strcmp(k, "--json")) json = v;
        else if (!strcmp(k, "--dump")) dump_dir = v;
        else usage();
    }
    if (B.stage_runs < 0) B.stage_runs = B.runs;
    if (B.H < 1 || B.W < 1 || B.runs < 1 || B.runs > 256 || B.stage_runs > 256 || B.warmup < 0) usage();
    bench_cpu_model(cpu, sizeof cpu);
    if (macs_only) {
        fpf_config c;
        fpf_variant v;
        if (!fpf_seeded_variant(vname, &v) || !fpf_seeded_config(&c, cfgname, v)) die("unknown config/variant %s/%s", cfgname, vname);
        print_macs(&c, B.H, B.W);
        return 0;
    }

    /* 1. load */
    if (model) {
        FILE *f = fopen(model, "rb");
        if (!f) die("cannot open %s", model);
        fseek(f, 0, SEEK_END);
        model_bytes = (double)ftell(f);
        fclose(f);
        for (i = 0; i < 4; i++) {
            double t0 = bench_now();
            e = fpf_model_load_file(model, NULL, &m, msg, sizeof msg);
            if (e != FPF_OK) die("%s: %s", model, msg);
            if (i == 0) load_first = (bench_now() - t0) * 1e3;
            else load_ms[i - 1] = (bench_now() - t0) * 1e3;
            if (i < 3) { fpf_model_free(m); m = NULL; }
        }
    } else {
        fpf_config c;
        fpf_variant v;
        size_t n;
        void *file;
        double t0;
        if (!fpf_seeded_variant(vname, &v) || !fpf_seeded_config(&c, cfgname, v)) die("unknown config/variant %s/%s", cfgname, vname);
        t0 = bench_now();
        file = fpf_seeded_file(&c, seed, nseed, &n);
        if (!file) die("cannot build the seeded model");
        say("built seeded %s %s model in memory (%.1f MB) in %.0f ms\n", cfgname, vname, n / 1e6, (bench_now() - t0) * 1e3);
        model_bytes = (double)n;
        for (i = 0; i < 4; i++) {
            t0 = bench_now();
            e = fpf_model_load_memory(file, n, NULL, &m, msg, sizeof msg);
            if (e != FPF_OK) die("seeded model: %s", msg);
            if (i == 0) load_first = (bench_now() - t0) * 1e3;
            else load_ms[i - 1] = (bench_now() - t0) * 1e3;
            if (i < 3) { fpf_model_free(m); m = NULL; }
        }
        free(file);
    }
    if (nmodel && (e = fpf_model_load_file(nmodel, NULL, &nm, msg, sizeof msg)) != FPF_OK) die("%s: %s", nmodel, msg);
    B.m = m; B.nm = nm;
    B.c = fpf_model_config(m);
    B.nc = nm ? fpf_model_config(nm) : B.c;
    B.Hp = (B.H + 63) / 64 * 64; B.Wp = (B.W + 63) / 64 * 64;
    {
        stat3 ls = stats(load_ms, 3);
        say("cpu: %s\nmodel: %s (%.1f MB, weights %.1f MB), image %dx%d (padded %dx%d)\n", cpu, model ? model : "(seeded, in memory)",
            model_bytes / 1e6, fpf_model_weight_bytes(m) / 1e6, B.H, B.W, B.Hp, B.Wp);
        say("load: first %.1f ms, then median %.1f ms (%.1f-%.1f)\n", load_first, ls.med, ls.min, ls.max);
    }

    /* inputs */
    cell_px = cellf ? read_u8(cellf, B.H, B.W) : make_pattern(B.H, B.W, 1, 14);
    nuc_px = nucf ? read_u8(nucf, B.H, B.W) : make_pattern(B.H, B.W, 2, 6);
    B.in.cell = fpf_image_u8(cell_px, B.W, B.H, (size_t)B.W);
    B.in.nucleus = fpf_image_u8(nuc_px, B.W, B.H, (size_t)B.W);

    if (dump_dir) {
        dump_run(&B, threads[0], dump_dir);
        free(cell_px);
        free(nuc_px);
        fpf_model_free(m);
        fpf_model_free(nm);
        return 0;
    }

    /* 2. peak */
    memset(&peak, 0, sizeof peak);
    if (peak_json) { /* {"threads": [{"threads": 1, "peak_gflops": X ...}, ...]} */
        FILE *f = fopen(peak_json, "r");
        static char buf[1 << 16];
        size_t n;
        const char *p;
        if (!f) die("cannot open %s", peak_json);
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        peak.nt = 0;
        for (p = buf; (p = strstr(p, "{\"threads\": ")) && peak.nt < 8;) {
            int t = atoi(p + 12);
            const char *q = strstr(p, "\"peak_gflops\": ");
            if (!q) break;
            peak.threads[peak.nt] = t;
            peak.peak[peak.nt++] = atof(q + 15);
            p = q;
        }
        peak.peak_isa = "from file";
    } else if (peak_str) {
        const char *p = peak_str;
        while (*p && peak.nt < 8) {
            char *end;
            peak.threads[peak.nt] = (int)strtol(p, &end, 10);
            if (*end != ':') usage();
            peak.peak[peak.nt++] = strtod(end + 1, &end);
            p = *end == ',' ? end + 1 : end;
        }
        peak.peak_isa = "given";
    } else if (!no_peak) {
        say("measuring the fp32 FMA peak ...\n");
        bench_peak_all(&peak, threads, nt, 5, 200);
        if (!quiet) bench_peak_print(stdout, &peak);
    }

    /* 3. runs */
    res = (tc_result *)calloc((size_t)nt, sizeof *res);
    for (i = 0; i < nt; i++) {
        int k;
        for (k = 0; k < peak.nt; k++)
            if (peak.threads[k] == threads[i]) res[i].peak = peak.peak[k];
        say("threads=%d\n", threads[i]);
        run_threads(&B, threads[i], &res[i]);
        if (!quiet) print_tc(stdout, &B, &res[i], 0);
        else {
            stat3 fw = stats(res[i].fwd, res[i].nfwd), fc = stats(res[i].fwd_cb, res[i].nstage);
            printf("fpf threads=%d (%s): median %.1f ms (min %.1f, max %.1f); stage runs %.1f ms; peak %.1f GFLOP/s; "
                   "proposals %d, N0 %d\n", threads[i], res[i].isa, fw.med, fw.min, fw.max, fc.med, res[i].peak, res[i].n_props,
                   res[i].n0);
        }
    }
    getrusage(RUSAGE_SELF, &ru);
    say("\npeak RSS %.1f MB (ru_maxrss); model file %.1f MB\n", ru.ru_maxrss / 1024.0, model_bytes / 1e6);

    if (json) {
        FILE *f = fopen(json, "w");
        size_t ws = 0;
        stat3 ls = stats(load_ms, 3);
        if (!f) die("cannot write %s", json);
        { fpf_options wo; memset(&wo, 0, sizeof wo); wo.block_rows = B.block_rows; wo.conv3x3 = B.conv3x3;
          fpf_session_workspace_size(m, nm, B.H, B.W, &wo, &ws); }
        fprintf(f, "{\"cpu\": \"%s\", \"fpf_version\": \"%s\", \"model\": \"%s\", \"config\": \"%s\", \"variant\": %d, "
                   "\"model_bytes\": %.0f, \"weight_bytes\": %.0f, \"height\": %d, \"width\": %d, \"padded\": [%d, %d],\n"
                   " \"load_first_ms\": %.3f, \"load_ms\": [%.3f, %.3f, %.3f], \"load_median_ms\": %.3f, \"workspace_bytes\": %.0f,\n"
                   " \"warmup\": %d, \"runs\": %d, \"stage_runs\": %d, \"maxrss_kb\": %ld,\n \"peak\": ",
                cpu, fpf_version(), model ? model : "(seeded)", model ? "" : cfgname, B.c->variant, model_bytes,
                (double)fpf_model_weight_bytes(m), B.H, B.W, B.Hp, B.Wp, load_first, load_ms[0], load_ms[1], load_ms[2],
                ls.med, (double)ws, B.warmup, B.runs, B.stage_runs, (long)ru.ru_maxrss);
        if (!peak_json && !peak_str && !no_peak) bench_peak_json(f, &peak);
        else {
            int k;
            fprintf(f, "{\"peak_isa\": \"%s\", \"threads\": [", peak.peak_isa ? peak.peak_isa : "none");
            for (k = 0; k < peak.nt; k++) fprintf(f, "%s{\"threads\": %d, \"peak_gflops\": %.3f}", k ? ", " : "", peak.threads[k], peak.peak[k]);
            fprintf(f, "]}\n");
        }
        fprintf(f, " ,\"results\": [");
        for (i = 0; i < nt; i++) {
            fprintf(f, "%s\n  ", i ? "," : "");
            print_tc(f, &B, &res[i], 1);
        }
        fprintf(f, "]}\n");
        fclose(f);
    }
    free(res);
    free(cell_px);
    free(nuc_px);
    fpf_model_free(m);
    fpf_model_free(nm);
    return 0;
}
