/* tests/test_int8.c - int8 models end to end: fpf_quantize on a seeded tiny model (determinism,
 * refusals, no partial file), the int8 file (size, per-layer precision, loader refusals), the int8
 * forward pass (every int8 kernel row and thread count give the same bits; close to fp32), and
 * fpf_segment on an int8 model. Runs build/fpf_quantize and build/fpf_segment from the repo root.
 * Calibration images: synthetic scenes (examples/fpf_synth.h) at seeds no set uses. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include "fpf_synth.h"
#include "fpf_seeded.h"
#include "harness.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define W 128
#define H 128
static char g_dir[64];

static int run(const char *cmd, int *lines, char *first, size_t n) {
    char full[2048], path[128], buf[200];
    FILE *f;
    int rc;
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    snprintf(full, sizeof full, "%s 2>%s >/dev/null", cmd, path);
    rc = system(full);
    *lines = 0;
    if (first) first[0] = 0;
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof buf, f)) {
            if (*lines == 0 && first) snprintf(first, n, "%.199s", buf);
            (*lines)++;
        }
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }
static unsigned char *slurp(const char *p, size_t *n) {
    unsigned char *d = NULL;
    char err[128];
    if (fpfi_load_file(p, &d, n, err, sizeof err) != 0) return NULL;
    return d;
}

static fpfs_scene g_scene[3];

static void setup(void) {
    int i;
    fpf_config c;
    for (i = 0; i < 3; i++) { /* three calibration scenes, one test scene */
        fpfs_params p;
        char path[160], err[128];
        fpfi_image im;
        fpfs_default_params(&p);
        p.width = W; p.height = H; p.seed = 888100ULL + (unsigned long long)i; p.cells_per_field = 400.0;
        if (fpfs_generate(&p, &g_scene[i]) != 0) continue;
        im.w = W; im.h = H; im.type = FPFI_U16;
        im.pixels = g_scene[i].cell;
        snprintf(path, sizeof path, "%s/c%d.tif", g_dir, i); fpfi_write_tiff(path, &im, err, sizeof err);
        im.pixels = g_scene[i].nucleus;
        snprintf(path, sizeof path, "%s/n%d.tif", g_dir, i); fpfi_write_tiff(path, &im, err, sizeof err);
    }
    { /* a differently sized nucleus image, for the mismatched pair */
        fpfi_image im;
        char path[160], err[128];
        fpfi_alloc(&im, W / 2, H, FPFI_U16);
        snprintf(path, sizeof path, "%s/small.tif", g_dir); fpfi_write_tiff(path, &im, err, sizeof err);
        fpfi_free(&im);
    }
    {
        const char *names[2] = {"cores", "fpf_add"};
        for (i = 0; i < 2; i++) {
            fpf_variant v = FPF_VARIANT_CORES;
            size_t n = 0;
            void *f;
            char path[160], err[128];
            fpf_seeded_variant(names[i], &v);
            fpf_seeded_config(&c, "tiny", v);
            f = fpf_seeded_file(&c, 11, 7, &n);
            snprintf(path, sizeof path, "%s/%s.fpf", g_dir, names[i]);
            fpfi_write_file_atomic(path, f, n, err, sizeof err);
            free(f);
        }
    }
}

static int quantize(const char *model, const char *calib, const char *out, int *lines, char *first) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/%s --calib %s --out %s/%s", g_dir, model, calib, g_dir, out);
    return run(cmd, lines, first, 256);
}

TEST(quantize_is_deterministic_and_small) {
    char calib[512];
    int lines;
    size_t n1 = 0, n2 = 0, n0 = 0;
    unsigned char *a, *b, *f0;
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/n0.tif %s/c1.tif,%s/n1.tif", g_dir, g_dir, g_dir, g_dir);
    CHECK(quantize("fpf_add.fpf", calib, "add8.fpf", &lines, NULL) == 0);
    CHECK(quantize("fpf_add.fpf", calib, "add8b.fpf", &lines, NULL) == 0);
    { char p[160]; snprintf(p, sizeof p, "%s/add8.fpf", g_dir); a = slurp(p, &n1);
      snprintf(p, sizeof p, "%s/add8b.fpf", g_dir); b = slurp(p, &n2);
      snprintf(p, sizeof p, "%s/fpf_add.fpf", g_dir); f0 = slurp(p, &n0); }
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0); /* same inputs, same bytes */
    CHECK(a && n1 * 100 <= n0 * 30);                     /* at most 30 % of the fp32 file */
    snprintf(calib, sizeof calib, "%s/n0.tif %s/n1.tif", g_dir, g_dir);
    CHECK(quantize("cores.fpf", calib, "cores8.fpf", &lines, NULL) == 0);
    { /* the default is mse; min/max never clips, percentiles do */
        char cmd[1024], p[160];
        fpf_model *m1 = NULL, *m2 = NULL;
        fpf_layer_info i1[FPF_MAX_LAYERS], i2[FPF_MAX_LAYERS];
        int l, n, wider = 0, narrower = 0;
        size_t na = 0, nb = 0;
        unsigned char *x, *y;
        snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/cores.fpf --calib %s --out %s/cores8mm.fpf --method minmax", g_dir, calib, g_dir);
        CHECK(run(cmd, &lines, NULL, 0) == 0);
        snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/cores.fpf --calib %s --out %s/cores8pct.fpf --method percentile", g_dir, calib, g_dir);
        CHECK(run(cmd, &lines, NULL, 0) == 0);
        snprintf(p, sizeof p, "%s/cores8.fpf", g_dir); x = slurp(p, &na);
        snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/cores.fpf --calib %s --out %s/cores8mse.fpf --method mse", g_dir, calib, g_dir);
        CHECK(run(cmd, &lines, NULL, 0) == 0);
        snprintf(p, sizeof p, "%s/cores8mse.fpf", g_dir); y = slurp(p, &nb);
        CHECK(x && y && na == nb && memcmp(x, y, na) == 0); /* the default method is mse */
        free(x); free(y);
        snprintf(p, sizeof p, "%s/cores8pct.fpf", g_dir); fpf_model_load_file(p, NULL, &m1, NULL, 0);
        snprintf(p, sizeof p, "%s/cores8mm.fpf", g_dir); fpf_model_load_file(p, NULL, &m2, NULL, 0);
        CHECK(m1 && m2);
        if (m1 && m2) {
            n = fpf_model_layers(m1, i1, FPF_MAX_LAYERS);
            fpf_model_layers(m2, i2, FPF_MAX_LAYERS);
            for (l = 0; l < n; l++) { wider += i2[l].in_scale > i1[l].in_scale; narrower += i2[l].in_scale < i1[l].in_scale; }
            CHECK(wider > 0 && narrower == 0); /* percentiles clip; min/max never does */
        }
        fpf_model_free(m1); fpf_model_free(m2);
    }
    free(a); free(b); free(f0);
}

TEST(int8_file_records_precision_per_layer) {
    char p[160], msg[256];
    fpf_model *m = NULL;
    fpf_layer_info info[FPF_MAX_LAYERS];
    int n, l, n8 = 0, ok = 1;
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir);
    CHECK(fpf_model_load_file(p, NULL, &m, msg, sizeof msg) == FPF_OK);
    if (!m) return;
    n = fpf_model_layers(m, info, FPF_MAX_LAYERS);
    for (l = 0; l < n; l++) {
        const char *nm = info[l].desc.name;
        int out_layer = !strcmp(nm, "rpn_class_raw") || !strcmp(nm, "rpn_bbox_pred") || !strcmp(nm, "mrcnn_class_logits") ||
                        !strcmp(nm, "mrcnn_bbox_fc") || !strcmp(nm, "mrcnn_mask");
        if (!strncmp(nm, "conv1", 5) || out_layer) ok &= info[l].bits == 32;   /* stem and outputs stay fp32 */
        if (info[l].bits == 8) { n8++; ok &= info[l].in_scale > 0.0f && info[l].in_zero >= 0 && info[l].in_zero <= 255; }
        if (!strncmp(nm, "res2a_branch2b", 14)) ok &= info[l].bits == 8 && info[l].in_zero == 0; /* after a ReLU: z = 0 */
    }
    CHECK(ok);
    CHECK(n8 >= n - 7 - 20); /* all but the fp32 ones (mask layers may be fp32 when no detection ran) */
    fpf_model_free(m);
}

/* The corrupted int8 file: one field changed, checksum recomputed. */
static fpf_result load_changed(const char *name, const char *tensor, int field, uint64_t value, int is_data_f32_index) {
    char p[160], msg[256];
    size_t n;
    unsigned char *f;
    fpf_model *m = NULL;
    fpf_result r;
    uint32_t t, nt;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    if (!(f = slurp(p, &n))) return FPF_ERR_IO;
    nt = (uint32_t)f[12] | (uint32_t)f[13] << 8;
    for (t = 0; t < nt; t++) {
        unsigned char *e = f + 320 + 128 * t;
        if (strcmp((char *)e, tensor) != 0) continue;
        if (is_data_f32_index >= 0) { /* overwrite one float of the data */
            uint64_t off = fpf__rd64(e + 104);
            float v = (float)(double)value;
            memcpy(f + off + 4 * (size_t)is_data_f32_index, &v, 4);
        } else {
            memcpy(e + field, &value, 8);
        }
    }
    memset(f + 24, 0, 8);
    { uint64_t c = fpf_checksum(f, n); memcpy(f + 24, &c, 8); }
    r = fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg);
    fpf_model_free(m);
    free(f);
    return r;
}

TEST(loader_refuses_bad_int8_fields) {
    CHECK(load_changed("add8.fpf", "res2a_branch2b/input_q", 0, 300, 1) == FPF_ERR_BAD_WEIGHTS);  /* zero point 300 */
    CHECK(load_changed("add8.fpf", "res2a_branch2b/input_q", 0, 0, 0) == FPF_ERR_BAD_WEIGHTS);    /* scale 0 */
    CHECK(load_changed("add8.fpf", "res2a_branch2b/kernel", 120, 0, -1) == FPF_ERR_BAD_MODEL);     /* no scales */
    CHECK(load_changed("add8.fpf", "res2a_branch2b/kernel", 120, (uint64_t)1 << 40, -1) == FPF_ERR_BAD_MODEL); /* outside */
    CHECK(load_changed("add8.fpf", "no such tensor", 120, 0, -1) == FPF_OK);                       /* unchanged */
}

TEST(quantize_refusals_one_line_no_file) {
    char calib[512], first[256], p[160];
    int lines;
    snprintf(p, sizeof p, "%s/keep.fpf", g_dir);
    { FILE *f = fopen(p, "wb"); fputs("earlier run", f); fclose(f); }
    /* an int8 input model */
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/n0.tif", g_dir, g_dir);
    CHECK(quantize("add8.fpf", calib, "x1.fpf", &lines, first) == 1 && lines == 1 && strstr(first, "already an int8 model"));
    /* an empty calibration set */
    CHECK(quantize("fpf_add.fpf", "", "x2.fpf", &lines, first) == 1 && lines == 1 && strstr(first, "no calibration images"));
    /* single images for a two-input model, a pair for a one-input model, a pair of two sizes */
    snprintf(calib, sizeof calib, "%s/c0.tif", g_dir);
    CHECK(quantize("fpf_add.fpf", calib, "x3.fpf", &lines, first) == 1 && lines == 1 && strstr(first, "CELL,NUCLEUS pairs"));
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/n0.tif", g_dir, g_dir);
    CHECK(quantize("cores.fpf", calib, "x4.fpf", &lines, first) == 1 && lines == 1 && strstr(first, "not pairs"));
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/small.tif", g_dir, g_dir);
    CHECK(quantize("fpf_add.fpf", calib, "keep.fpf", &lines, first) == 1 && lines == 1 && strstr(first, "nucleus image 64x128"));
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/missing.tif", g_dir, g_dir);
    CHECK(quantize("fpf_add.fpf", calib, "keep.fpf", &lines, first) == 1 && lines == 1);
    snprintf(p, sizeof p, "%s/x1.fpf", g_dir); CHECK(!file_exists(p));
    snprintf(p, sizeof p, "%s/x2.fpf", g_dir); CHECK(!file_exists(p));
    snprintf(p, sizeof p, "%s/x3.fpf", g_dir); CHECK(!file_exists(p));
    snprintf(p, sizeof p, "%s/x4.fpf", g_dir); CHECK(!file_exists(p));
    { size_t n; unsigned char *d; snprintf(p, sizeof p, "%s/keep.fpf", g_dir); d = slurp(p, &n);
      CHECK(d && n == 11 && memcmp(d, "earlier run", 11) == 0); free(d); } /* an earlier file survives */
}

TEST(quantize_option_refusals_one_line_no_file) {
    static const char *bad[][2] = {
        {"--method bogus", "--method must be minmax, percentile or mse"},
        {"--percentile 40", "--percentile must be in (50, 100]"},
        {"--keep-worst -1", "--keep-worst must be an integer"},
        {"--keep-worst 2x", "--keep-worst must be an integer"},
        {"--bias-correct yes", "--bias-correct must be on or off"},
        {"--threads 0", "--threads must be an integer"},
        {"--compare x.fpf", "--compare checks a model and writes none"},
    };
    char cmd[1024], first[256], p[160];
    int i, lines;
    snprintf(p, sizeof p, "%s/opt.fpf", g_dir);
    for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/cores.fpf --calib %s/n0.tif --out %s %s", g_dir, g_dir, p, bad[i][0]);
        CHECK_MSG(run(cmd, &lines, first, sizeof first) == 1 && lines == 1 && strstr(first, bad[i][1]), "%s: %s", bad[i][0], first);
        CHECK(!file_exists(p));
    }
    /* --compare: models of two variants */
    snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/cores.fpf --compare %s/add8.fpf --calib %s/n0.tif", g_dir, g_dir, g_dir);
    CHECK(run(cmd, &lines, first, sizeof first) == 1 && lines == 1 && strstr(first, "different variants"));
}

/* The table entry of a tensor in a file image: data offset and bytes. */
static int find_tensor(const unsigned char *f, const char *name, uint64_t *off, uint64_t *nbytes) {
    uint32_t t, nt = (uint32_t)f[12] | (uint32_t)f[13] << 8;
    for (t = 0; t < nt; t++) {
        const unsigned char *e = f + 320 + 128 * t;
        if (strcmp((const char *)e, name) == 0) { memcpy(off, e + 104, 8); memcpy(nbytes, e + 112, 8); return 1; }
    }
    return 0;
}

/* The --report line of a layer: precision ("int8"/"fp32"), SQNR (dB; -1 when not measured) and the
   largest bias shift. */
typedef struct report_row { char name[64], prec[8]; double sqnr, shift; } report_row;
static int read_report(const char *path, report_row *rows, int max) {
    FILE *f = fopen(path, "r");
    char line[256], sq[32], sh[32];
    int n = 0;
    long long samples;
    if (!f) return 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%63s %7s %31s %lld %31s", rows[n].name, rows[n].prec, sq, &samples, sh) != 5 || !strcmp(rows[n].name, "layer")) continue;
        rows[n].sqnr = sq[0] == '-' ? -1.0 : atof(sq);
        rows[n].shift = sh[0] == '-' ? 0.0 : atof(sh);
        n++;
    }
    fclose(f);
    return n;
}

/* --bias-correct on changes the biases of int8 layers and nothing else; each layer's largest change
   is the largest mean error that --report prints for it. */
TEST(quantize_bias_correction_changes_only_int8_biases) {
    char cmd[1024], p[160];
    int lines, l, n, nr, changed = 0, ok = 1, ok_report = 1;
    size_t na = 0, nb = 0, i;
    unsigned char *a, *b, *mask;
    fpf_model *m0 = NULL, *m1 = NULL;
    fpf_layer_info info[FPF_MAX_LAYERS];
    report_row rows[FPF_MAX_LAYERS];
    snprintf(cmd, sizeof cmd, "(build/fpf_quantize --model %s/fpf_add.fpf --calib %s/c0.tif,%s/n0.tif %s/c1.tif,%s/n1.tif "
             "--out %s/add8bc.fpf --bias-correct on --report > %s/report_bc.txt)", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir); a = slurp(p, &na);
    snprintf(p, sizeof p, "%s/add8bc.fpf", g_dir); b = slurp(p, &nb);
    CHECK(a && b && na == nb);
    if (!a || !b || na != nb) { free(a); free(b); return; }
    fpf_model_load_memory(a, na, NULL, &m0, NULL, 0);
    fpf_model_load_memory(b, nb, NULL, &m1, NULL, 0);
    CHECK(m0 && m1);
    mask = (unsigned char *)calloc(na, 1); /* 1: bytes allowed to differ */
    memset(mask + 24, 1, 8);               /* the checksum */
    snprintf(p, sizeof p, "%s/report_bc.txt", g_dir);
    nr = read_report(p, rows, FPF_MAX_LAYERS);
    n = m0 ? fpf_model_layers(m0, info, FPF_MAX_LAYERS) : 0;
    CHECK(nr == n && n > 0);
    for (l = 0; l < n && m1 && nr == n; l++) {
        char name[96];
        uint64_t off, nbytes;
        const float *b0, *b1;
        double mx = 0.0;
        int co;
        snprintf(name, sizeof name, "%.63s/bias", info[l].desc.name);
        b0 = fpf_model_tensor(m0, name, NULL, NULL); b1 = fpf_model_tensor(m1, name, NULL, NULL);
        if (!b0 || !b1 || !find_tensor(a, name, &off, &nbytes)) { ok = 0; continue; }
        for (co = 0; co < info[l].desc.cout; co++) mx = fabs((double)b1[co] - b0[co]) > mx ? fabs((double)b1[co] - b0[co]) : mx;
        if (info[l].bits == 8) {
            memset(mask + off, 1, (size_t)nbytes);
            changed += mx > 0.0;
            ok_report &= !strcmp(rows[l].name, info[l].desc.name) && fabs(mx - rows[l].shift) <= 1e-5 * rows[l].shift + 1e-6;
        } else {
            ok &= mx == 0.0;
        }
    }
    for (i = 0; i < na; i++) ok &= mask[i] || a[i] == b[i];
    CHECK(ok);          /* kernels, scales, input_q and fp32 layers: the same bytes */
    CHECK(ok_report);   /* the shift applied is the one reported */
    CHECK(changed > 0);
    fpf_model_free(m0); fpf_model_free(m1);
    free(mask); free(a); free(b);
}

/* --method mse (the default, add8.fpf) clips: no input range wider than min/max, some narrower; the
   same layers int8. */
TEST(quantize_mse_never_widens_ranges) {
    char cmd[1024], p[160];
    int lines, l, n, narrower = 0, ok = 1;
    fpf_model *m0 = NULL, *m1 = NULL;
    fpf_layer_info i0[FPF_MAX_LAYERS], i1[FPF_MAX_LAYERS];
    snprintf(cmd, sizeof cmd, "build/fpf_quantize --model %s/fpf_add.fpf --calib %s/c0.tif,%s/n0.tif %s/c1.tif,%s/n1.tif "
             "--out %s/add8mm.fpf --method minmax", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/add8mm.fpf", g_dir); fpf_model_load_file(p, NULL, &m0, NULL, 0);
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir); fpf_model_load_file(p, NULL, &m1, NULL, 0);
    CHECK(m0 && m1);
    if (!m0 || !m1) { fpf_model_free(m0); fpf_model_free(m1); return; }
    n = fpf_model_layers(m0, i0, FPF_MAX_LAYERS);
    fpf_model_layers(m1, i1, FPF_MAX_LAYERS);
    for (l = 0; l < n; l++) {
        ok &= i0[l].bits == i1[l].bits;
        if (i0[l].bits != 8) continue;
        ok &= i1[l].in_scale <= i0[l].in_scale * (1.0f + 1e-6f);
        narrower += i1[l].in_scale < i0[l].in_scale * 0.999f;
    }
    CHECK(ok);
    CHECK(narrower > 0);
    fpf_model_free(m0); fpf_model_free(m1);
}

/* --keep-worst K keeps exactly the K int8 layers of lowest SQNR (as --report prints them) fp32. */
TEST(quantize_keep_worst_keeps_lowest_sqnr) {
    char cmd[1024], p[160];
    int lines, l, n, nr, kept = 0, ok = 1;
    double worst_kept = -1.0, best_int8 = 1e300;
    fpf_model *m0 = NULL, *m1 = NULL;
    fpf_layer_info i0[FPF_MAX_LAYERS], i1[FPF_MAX_LAYERS];
    report_row rows[FPF_MAX_LAYERS];
    snprintf(cmd, sizeof cmd, "(build/fpf_quantize --model %s/fpf_add.fpf --calib %s/c0.tif,%s/n0.tif %s/c1.tif,%s/n1.tif "
             "--out %s/add8kw.fpf --keep-worst 3 --report > %s/report_kw.txt)", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir); fpf_model_load_file(p, NULL, &m0, NULL, 0);
    snprintf(p, sizeof p, "%s/add8kw.fpf", g_dir); fpf_model_load_file(p, NULL, &m1, NULL, 0);
    snprintf(p, sizeof p, "%s/report_kw.txt", g_dir);
    nr = read_report(p, rows, FPF_MAX_LAYERS);
    CHECK(m0 && m1);
    if (!m0 || !m1) { fpf_model_free(m0); fpf_model_free(m1); return; }
    n = fpf_model_layers(m0, i0, FPF_MAX_LAYERS);
    fpf_model_layers(m1, i1, FPF_MAX_LAYERS);
    CHECK(nr == n);
    for (l = 0; l < n && nr == n; l++) {
        ok &= !strcmp(rows[l].prec, i1[l].bits == 8 ? "int8" : "fp32");
        if (i0[l].bits == 8 && i1[l].bits == 32) { kept++; worst_kept = rows[l].sqnr > worst_kept ? rows[l].sqnr : worst_kept; }
        else if (i1[l].bits == 8) best_int8 = rows[l].sqnr < best_int8 ? rows[l].sqnr : best_int8;
        else ok &= i0[l].bits == 32; /* no layer goes int8 that the default keeps fp32 */
    }
    CHECK(ok);
    CHECK_EQ_INT(kept, 3);
    CHECK(worst_kept >= 0.0 && worst_kept <= best_int8);
    fpf_model_free(m0); fpf_model_free(m1);
}

/* --compare: a model against itself reproduces all of its detections; the int8 model some of them. */
static int compare_line(const char *a, const char *b, const char *calib, long *hit, long *total) {
    char cmd[1024], p[160], line[256];
    int lines, found = 0;
    FILE *f;
    snprintf(cmd, sizeof cmd, "(build/fpf_quantize --model %s/%s --compare %s/%s --calib %s > %s/compare.txt)", g_dir, a, g_dir, b, calib, g_dir);
    if (run(cmd, &lines, NULL, 0) != 0 || lines != 0) return -1;
    snprintf(p, sizeof p, "%s/compare.txt", g_dir);
    if (!(f = fopen(p, "r"))) return -1;
    while (fgets(line, sizeof line, f)) found += sscanf(line, "reproduced %ld of %ld", hit, total) == 2;
    fclose(f);
    return found == 1 ? 0 : -1;
}

TEST(compare_counts_reproduced_detections) {
    char calib[512];
    long hit = -1, total = -1, hit8 = -1, total8 = -1;
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/n0.tif %s/c1.tif,%s/n1.tif %s/c2.tif,%s/n2.tif", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    CHECK(compare_line("fpf_add.fpf", "fpf_add.fpf", calib, &hit, &total) == 0);
    CHECK(total > 0 && hit == total);
    CHECK(compare_line("fpf_add.fpf", "add8.fpf", calib, &hit8, &total8) == 0);
    CHECK(total8 == total && hit8 >= 0 && hit8 <= total8);
}

/* Runs model (+ nucleus) on scene 2 and keeps the pyramid F2 (stage dump) and the detections. */
typedef struct capture { float *f2; size_t n; double csum, msum, rsum; } capture; /* msum: the masks (mrcnn_mask), rsum: the RPN's scores and deltas, bit-weighted */
static void grab(void *user, const char *name, const float *d, int ndim, const int *dims, int ld) {
    capture *c = (capture *)user;
    size_t i, px, ch;
    if ((strcmp(name, "rpn_class") == 0 || strcmp(name, "rpn_bbox") == 0) && ndim == 2) {
        uint32_t u;
        for (px = 0; px < (size_t)dims[0]; px++)
            for (ch = 0; ch < (size_t)dims[1]; ch++) { memcpy(&u, d + px * ld + ch, 4); c->rsum += (double)u * (double)((px * dims[1] + ch) % 997 + 1); }
    }
    if (strlen(name) >= 10 && strcmp(name + strlen(name) - 10, "mrcnn_mask") == 0 && ndim == 4) {
        size_t n = (size_t)dims[0] * dims[1] * dims[2] * dims[3];
        uint32_t u;
        for (i = 0; i < n; i++) { memcpy(&u, d + i, 4); c->msum += (double)u * (double)(i % 991 + 1); }
    }
    if (ndim == 3 && name[0] && strchr(name, '.') && strchr(name, '.')[1] == 'C') { /* "<tower>.C2".."C5": a bit-weighted sum */
        size_t n = (size_t)dims[0] * dims[1] * dims[2];
        uint32_t u;
        for (i = 0; i < n; i++) { memcpy(&u, d + i, 4); c->csum += (double)u * (double)(i % 977 + 1); }
    }
    if (ndim == 3 && name[0] == 'F' && name[1] >= '3' && name[1] <= '6' && !name[2]) { /* F3..F6 (the FPN's u8 links) */
        size_t np = (size_t)dims[0] * dims[1], nc = (size_t)dims[2];
        uint32_t u;
        for (px = 0; px < np; px++)
            for (ch = 0; ch < nc; ch++) { memcpy(&u, d + px * ld + ch, 4); c->csum += (double)u * (double)((px * nc + ch) % 983 + 1); }
    }
    if (strcmp(name, "F2") != 0 || ndim != 3) return;
    px = (size_t)dims[0] * dims[1]; ch = (size_t)dims[2];
    free(c->f2);
    c->f2 = (float *)malloc(px * ch * sizeof(float)); c->n = px * ch;
    for (i = 0; i < px; i++) memcpy(c->f2 + i * ch, d + i * ld, ch * sizeof(float));
}

static int g_requant; /* fpf_options.int8_requantize of run_model */
static int g_plain_rpn; /* run_model: the RPN on its plain path (fpf__rpn_band__ref), not fused */
static int g_rows;    /* fpf_options.block_rows of run_model */
static int g_tall;    /* run_model on the three scenes stacked (H·3 × W) instead of scene 2 */
static uint16_t g_tall_px[2][3 * H * W];
static int run_model(const char *name, int isa, int qisa, int threads, capture *cap, float *boxes, int *ndet) {
    char p[160], msg[256];
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    fpf_input in;
    const fpf_output *out;
    int i, rc = 0;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    if (fpf_model_load_file(p, NULL, &m, msg, sizeof msg) != FPF_OK) return -1;
    if (g_plain_rpn) m->heads.rpn_head.cout = 0;
    memset(&o, 0, sizeof o);
    o.isa = isa; o.int8_isa = qisa; o.n_threads = threads; o.stage = grab; o.stage_user = cap;
    o.int8_requantize = g_requant; o.block_rows = g_rows;
    cap->csum = 0; cap->msum = 0; cap->rsum = 0;
    if (fpf_session_init(m, NULL, g_tall ? 3 * H : H, W, &o, &s) != FPF_OK) { fpf_model_free(m); return -1; }
    in.cell = fpf_image_u16(g_scene[2].cell, W, H, W * 2);
    in.nucleus = fpf_image_u16(g_scene[2].nucleus, W, H, W * 2);
    if (g_tall) {
        for (i = 0; i < 3; i++) {
            memcpy(g_tall_px[0] + (size_t)i * H * W, g_scene[i].cell, (size_t)H * W * 2);
            memcpy(g_tall_px[1] + (size_t)i * H * W, g_scene[i].nucleus, (size_t)H * W * 2);
        }
        in.cell = fpf_image_u16(g_tall_px[0], W, 3 * H, W * 2);
        in.nucleus = fpf_image_u16(g_tall_px[1], W, 3 * H, W * 2);
    }
    if (fpf_session_run(s, &in, &out) != FPF_OK) rc = -1;
    else {
        *ndet = out->n_cells;
        for (i = 0; i < out->n_cells && i < 64; i++) {
            boxes[5 * i] = (float)out->cells[i].y1; boxes[5 * i + 1] = (float)out->cells[i].x1;
            boxes[5 * i + 2] = (float)out->cells[i].y2; boxes[5 * i + 3] = (float)out->cells[i].x2;
            boxes[5 * i + 4] = out->cells[i].score;
        }
    }
    fpf_session_free(s);
    fpf_model_free(m);
    return rc;
}

TEST(int8_forward_same_bits_on_every_path_and_thread_count) {
    capture c0 = {NULL, 0, 0, 0, 0}, c1 = {NULL, 0, 0, 0, 0};
    float b0[320], b1[320];
    int n0 = 0, n1 = 0, q, fisa = FPF_ISA_AUTO, ok = 1;
    CHECK(run_model("add8.fpf", fisa, FPF_QISA_SCALAR, 1, &c0, b0, &n0) == 0);
    for (q = FPF_QISA_AVX2; q <= FPF_QISA_AMX; q++) {
        if (!fpf_qisa_supported((fpf_qisa)q)) continue;
        memset(b1, 0, sizeof b1);
        ok &= run_model("add8.fpf", fisa, q, q % 2 ? 2 : 1, &c1, b1, &n1) == 0;
        ok &= c0.f2 && c1.f2 && c0.n == c1.n && memcmp(c0.f2, c1.f2, c0.n * 4) == 0;
        ok &= n0 == n1 && memcmp(b0, b1, (size_t)n0 * 5 * 4) == 0 && c0.msum != 0 && c0.msum == c1.msum;
        if (!ok) printf("  int8 path %s differs from scalar\n", fpf_qisa_name((fpf_qisa)q));
    }
    CHECK(run_model("add8.fpf", fisa, 0, 2, &c1, b1, &n1) == 0); /* AUTO, 2 threads */
    ok &= c0.n == c1.n && memcmp(c0.f2, c1.f2, c0.n * 4) == 0 && c0.msum == c1.msum;
    CHECK(ok);
    free(c0.f2); free(c1.f2);
}

/* Banded bottleneck blocks (fpf_options.block_rows) against whole maps (block_rows < 0): the same
   bits in C2..C5, F2..F6, the masks and the detections, in fp32 (every kernel row) and int8 (every
   int8 row, u8 chains and the requantizing twin), on 1 and 2 threads, for bands of 1 row, of 3 and
   5 rows in every stage (the maps are 32, 16, 8, 4 rows high: no multiple of them) and the default
   (8 rows in res2 and res3, whole maps in res4 and res5: the u8 of C3 passes from a banded stage to
   a whole-map one); g_tall: the default again on a 384-row image (res2 96 rows, 12 bands). */
static int bands_match(const char *model, int isa, int q, int requant) {
    static const int rows[4] = {1, 3, 5, 0};
    capture c0 = {NULL, 0, 0, 0, 0}, c1 = {NULL, 0, 0, 0, 0};
    float b0[320], b1[320];
    int n0 = 0, n1 = 0, ok, i, t;
    memset(b0, 0, sizeof b0);
    g_requant = requant; g_rows = -1;
    ok = run_model(model, isa, q, 1, &c0, b0, &n0) == 0 && c0.csum != 0 && c0.f2;
    for (i = 0; i < 4; i++)
        for (t = 1; t <= 2; t++) {
            int same;
            memset(b1, 0, sizeof b1);
            g_rows = rows[i];
            same = run_model(model, isa, q, t, &c1, b1, &n1) == 0 && c0.csum == c1.csum && n0 == n1 &&
                   memcmp(b0, b1, sizeof b0) == 0 && c0.msum == c1.msum && c1.f2 && c0.n == c1.n &&
                   memcmp(c0.f2, c1.f2, c0.n * 4) == 0;
            if (!same) printf("  %s, row %d/%d, requantize %d, %d rows, %d threads: bands differ from whole maps\n",
                              model, isa, q, requant, rows[i], t);
            ok &= same;
        }
    g_requant = 0; g_rows = 0;
    free(c0.f2); free(c1.f2);
    return ok;
}

/* The bottlenecks' int8 chains pass u8 maps, quantized in the writer's epilogue; the reference
   twin (int8_requantize = 1) passes floats that each reader quantizes. Same bits in C2..C5,
   F2..F6, the masks and the detections, on every int8 row and thread count, for the
   cell-and-nucleus model and the nucleus model. */
/* Two runs of run_model, the first with *flag = 1, the second with *flag = 0 (then left 0). */
typedef struct run_pair { capture c0, c1; float b0[320], b1[320]; int n0, n1; } run_pair;
static int run_twice(const char *model, int q, int threads, int *flag, run_pair *p) {
    int ok;
    memset(p, 0, sizeof *p);
    *flag = 1;
    ok = run_model(model, 0, q, threads, &p->c0, p->b0, &p->n0) == 0;
    *flag = 0;
    ok &= run_model(model, 0, q, threads, &p->c1, p->b1, &p->n1) == 0;
    return ok;
}

static int chains_match(const char *model, int q, int threads) {
    run_pair p;
    int ok = run_twice(model, q, threads, &g_requant, &p);
    ok &= p.c0.csum != 0 && p.c0.csum == p.c1.csum && p.n0 == p.n1 && memcmp(p.b0, p.b1, sizeof p.b0) == 0;
    ok &= p.c0.msum == p.c1.msum && (p.n0 == 0 || p.c0.msum != 0);  /* the mask head's chains too */
    ok &= (p.c0.f2 == NULL && p.c1.f2 == NULL) ||
          (p.c0.f2 && p.c1.f2 && p.c0.n == p.c1.n && memcmp(p.c0.f2, p.c1.f2, p.c0.n * 4) == 0);
    if (!ok) printf("  %s, int8 row %s, %d threads: the u8 chains differ from the requantizing twin\n", model, fpf_qisa_name((fpf_qisa)q), threads);
    free(p.c0.f2); free(p.c1.f2);
    return ok;
}

TEST(int8_u8_chains_same_bits_as_requantizing_twin) {
    int q, t, ok = 1;
    for (q = FPF_QISA_SCALAR; q <= FPF_QISA_AMX; q++)
        for (t = 1; t <= 2 && fpf_qisa_supported((fpf_qisa)q); t++) {
            ok &= chains_match("add8.fpf", q, t);
            ok &= chains_match("cores8.fpf", q, t);
        }
    CHECK(ok);
}

/* The RPN of an int8 model (an int8 rpn_conv_shared, fp32 output convs) fused (fpf__rpn_fused)
   and plain: the same scores and deltas, on every int8 row and thread count (tests/test_rpn.c:
   the same on odd level shapes). */
static int rpn_fused_matches(const char *model, int q, int threads) {
    run_pair p;
    int ok = run_twice(model, q, threads, &g_plain_rpn, &p);
    ok &= p.c0.rsum != 0 && p.c0.rsum == p.c1.rsum && p.n0 == p.n1 && memcmp(p.b0, p.b1, sizeof p.b0) == 0;
    if (!ok) printf("  %s, int8 row %s, %d threads: the fused RPN differs from the plain one\n", model, fpf_qisa_name((fpf_qisa)q), threads);
    free(p.c0.f2); free(p.c1.f2);
    return ok;
}

TEST(int8_rpn_fused_same_bits_as_plain) {
    int q, t, ok = 1;
    for (q = FPF_QISA_SCALAR; q <= FPF_QISA_AMX; q++)
        for (t = 1; t <= 2 && fpf_qisa_supported((fpf_qisa)q); t++) ok &= rpn_fused_matches("add8.fpf", q, t);
    CHECK(ok);
}

/* The same at the paper configuration (bottlenecks 64..512 wide: whole vector epilogues in every
   row), its seeded FPF-add weights calibrated on one pair; 128 MB on disk while the test runs. */
TEST(int8_u8_chains_same_bits_at_paper_config) {
    char p[160], err[128], calib[512];
    int q, t, ok = 1, lines;
    fpf_config c;
    fpf_variant v = FPF_VARIANT_CORES;
    size_t n = 0;
    void *f;
    fpf_seeded_variant("fpf_add", &v);
    fpf_seeded_config(&c, "paper", v);
    f = fpf_seeded_file(&c, 11, 7, &n);
    snprintf(p, sizeof p, "%s/paper.fpf", g_dir);
    CHECK(f && fpfi_write_file_atomic(p, f, n, err, sizeof err) == 0);
    free(f);
    snprintf(calib, sizeof calib, "%s/c0.tif,%s/n0.tif", g_dir, g_dir);
    CHECK(quantize("paper.fpf", calib, "paper8.fpf", &lines, NULL) == 0);
    CHECK(bands_match("paper.fpf", 0, 0, 0));  /* banded blocks at these widths too, fp32 and int8 */
    CHECK(bands_match("paper8.fpf", 0, 0, 0));
    remove(p);
    for (q = FPF_QISA_SCALAR; q <= FPF_QISA_AMX; q++)
        for (t = 1; t <= 2 && fpf_qisa_supported((fpf_qisa)q); t++) ok &= chains_match("paper8.fpf", q, t);
    CHECK(ok);
    CHECK(rpn_fused_matches("paper8.fpf", 0, 1) && rpn_fused_matches("paper8.fpf", 0, 2)); /* the RPN fused and plain */
    snprintf(p, sizeof p, "%s/paper8.fpf", g_dir); remove(p);
}

TEST(banded_blocks_same_bits_as_whole_maps) {
    int isa, q, ok = 1;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++)
        if (fpf_isa_supported((fpf_isa)isa)) ok &= bands_match("fpf_add.fpf", isa, 0, 0);
    for (q = FPF_QISA_SCALAR; q <= FPF_QISA_AMX; q++)
        if (fpf_qisa_supported((fpf_qisa)q)) {
            ok &= bands_match("add8.fpf", 0, q, 0) && bands_match("add8.fpf", 0, q, 1);
            ok &= bands_match("cores8.fpf", 0, q, 0);
        }
    g_tall = 1;
    ok &= bands_match("fpf_add.fpf", 0, 0, 0) && bands_match("add8.fpf", 0, 0, 0) && bands_match("add8.fpf", 0, 0, 1);
    g_tall = 0;
    CHECK(ok);
}

TEST(int8_forward_close_to_fp32) { /* the fused pyramid F2 of the seeded model: int8 within a few % */
    capture c8 = {NULL, 0, 0, 0, 0}, c32 = {NULL, 0, 0, 0, 0};
    float b[320];
    int n, i;
    double num = 0, den = 0;
    CHECK(run_model("add8.fpf", 0, 0, 1, &c8, b, &n) == 0);
    CHECK(run_model("fpf_add.fpf", 0, 0, 1, &c32, b, &n) == 0);
    if (!c8.f2 || !c32.f2 || c8.n != c32.n) { CHECK(0); return; }
    for (i = 0; i < (int)c8.n; i++) { num += fabs((double)c8.f2[i] - c32.f2[i]); den += fabs((double)c32.f2[i]); }
    printf("  F2 mean |int8 - fp32| / mean |fp32| = %.4f\n", num / den);
    CHECK(den > 0 && num / den < 0.05);
    CHECK(num > 0); /* it did run int8 */
    free(c8.f2); free(c32.f2);
}

TEST(segment_runs_an_int8_model) {
    char cmd[1024], p[300];
    int lines;
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add8.fpf --nucleus-model %s/cores8.fpf --nucleus %s/n2.tif "
             "--cell %s/c2.tif --out %s/seg --quiet", g_dir, g_dir, g_dir, g_dir, g_dir);
    { fpfi_image im; char err[64]; im.w = W; im.h = H; im.type = FPFI_U16;
      im.pixels = g_scene[2].cell; snprintf(p, sizeof p, "%s/c2.tif", g_dir); fpfi_write_tiff(p, &im, err, sizeof err);
      im.pixels = g_scene[2].nucleus; snprintf(p, sizeof p, "%s/n2.tif", g_dir); fpfi_write_tiff(p, &im, err, sizeof err); }
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/seg/cells.csv", g_dir); CHECK(file_exists(p));
    snprintf(p, sizeof p, "%s/seg/nuclei.csv", g_dir); CHECK(file_exists(p));
}

/* The CLI's tiling and batches take an int8 model as they take fp32: three scenes side by side
   (384 × 128) in 2 tiles of 256, the same labels from every int8 kernel row, and a manifest of
   two images of different sizes. */
static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *da = slurp(a, &na), *db = slurp(b, &nb);
    int same = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da); free(db);
    return same;
}

TEST(segment_tiles_and_batches_an_int8_model) {
    char cmd[1024], p[300], q[300], err[64], marker[512];
    int lines, i, y;
    size_t n;
    unsigned char *d;
    fpfi_image im;
    FILE *f;
    fpfi_alloc(&im, 3 * W, H, FPFI_U16);
    for (i = 0; i < 2; i++) {
        for (y = 0; y < 3 * H * W; y++) /* row y / (3W), third (y % (3W)) / W */
            ((uint16_t *)im.pixels)[y] = (i ? g_scene[(y % (3 * W)) / W].nucleus : g_scene[(y % (3 * W)) / W].cell)
                                         [(y / (3 * W)) * W + y % W];
        snprintf(p, sizeof p, "%s/wide_%s.tif", g_dir, i ? "n" : "c");
        CHECK(fpfi_write_tiff(p, &im, err, sizeof err) == 0);
    }
    fpfi_free(&im);
    for (i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add8.fpf --nucleus-model %s/cores8.fpf --nucleus %s/wide_n.tif "
                 "--cell %s/wide_c.tif --out %s/tiled%d --tile 256 --overlap 64 --threads 2 --int8-isa %s --quiet",
                 g_dir, g_dir, g_dir, g_dir, g_dir, i, i ? "scalar" : "auto");
        CHECK(run(cmd, &lines, NULL, 0) == 0);
    }
    snprintf(p, sizeof p, "%s/tiled0/fpf_segment.txt", g_dir);
    if ((d = slurp(p, &n))) { memcpy(marker, d, n < sizeof marker - 1 ? n : sizeof marker - 1); marker[n < sizeof marker - 1 ? n : sizeof marker - 1] = 0; free(d); }
    else marker[0] = 0;
    CHECK_MSG(strstr(marker, "tiles=2\n") != NULL, "%s", marker);
    snprintf(p, sizeof p, "%s/tiled0/cells.tif", g_dir); snprintf(q, sizeof q, "%s/tiled1/cells.tif", g_dir);
    CHECK(same_bytes(p, q));
    CHECK(fpfi_read(p, 0, 0, &im, err, sizeof err) == 0 && im.w == 3 * W && im.h == H);
    fpfi_free(&im);
    snprintf(p, sizeof p, "%s/m.csv", g_dir);
    if ((f = fopen(p, "w"))) { fputs("id,nucleus,cell\nsmall,n2.tif,c2.tif\nwide,wide_n.tif,wide_c.tif\n", f); fclose(f); }
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s/add8.fpf --nucleus-model %s/cores8.fpf --batch %s/m.csv "
             "--out %s/batch --tile 256 --overlap 64 --threads 2 --quiet", g_dir, g_dir, g_dir, g_dir);
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/batch/wide/cells.tif", g_dir); snprintf(q, sizeof q, "%s/tiled0/cells.tif", g_dir);
    CHECK(same_bytes(p, q)); /* a batch image is the single run's */
    snprintf(p, sizeof p, "%s/batch/small/cells.csv", g_dir); CHECK(file_exists(p));
}

/* An int8 row this CPU or build cannot run: FPF_ERR_UNSUPPORTED_ISA with a message, no session. */
TEST(unsupported_int8_row_is_refused_with_message) {
    char p[160], msg[256], init_msg[200] = "";
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    int q = FPF_QISA_SCALAR;
    while (q <= FPF_QISA_AMX && fpf_qisa_supported((fpf_qisa)q)) q++;
    if (q > FPF_QISA_AMX) SKIP("every int8 row runs here");
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir);
    if (fpf_model_load_file(p, NULL, &m, msg, sizeof msg) != FPF_OK) { CHECK(0); return; }
    memset(&o, 0, sizeof o);
    o.int8_isa = q; o.init_msg = init_msg; o.init_msg_size = sizeof init_msg;
    CHECK_EQ_INT(fpf_session_init(m, NULL, H, W, &o, &s), FPF_ERR_UNSUPPORTED_ISA);
    CHECK(s == NULL);
    CHECK_MSG(strstr(init_msg, fpf_qisa_name((fpf_qisa)q)) != NULL && strstr(init_msg, "int8") != NULL, "%s", init_msg);
    o.int8_isa = 99;
    CHECK_EQ_INT(fpf_session_init(m, NULL, H, W, &o, &s), FPF_ERR_INVALID_ARG);
    fpf_model_free(m);
}

TEST(info_prints_precision_and_checksum) {
    char cmd[512], p[160], line[256];
    FILE *f;
    int lines, int8_rows = 0, fp32_rows = 0, mismatch = 0;
    size_t n;
    unsigned char *d;
    snprintf(cmd, sizeof cmd, "(build/fpf_info %s/add8.fpf > %s/info.txt)", g_dir, g_dir);
    CHECK(run(cmd, &lines, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/info.txt", g_dir);
    if ((f = fopen(p, "r"))) {
        while (fgets(line, sizeof line, f)) { int8_rows += strstr(line, " int8  (input scale") != NULL; fp32_rows += strstr(line, "  fp32\n") != NULL; }
        fclose(f);
    }
    CHECK(int8_rows > 50 && fp32_rows >= 7);
    snprintf(p, sizeof p, "%s/add8.fpf", g_dir);
    d = slurp(p, &n);
    if (d) { /* one flipped bit: the checksum status says so, exit 1 */
        char q[160], err[64];
        d[n / 2] ^= 1;
        snprintf(q, sizeof q, "%s/bad.fpf", g_dir);
        fpfi_write_file_atomic(q, d, n, err, sizeof err);
        free(d);
        snprintf(cmd, sizeof cmd, "(build/fpf_info %s/bad.fpf > %s/info2.txt)", g_dir, g_dir);
        CHECK(run(cmd, &lines, NULL, 0) == 1);
        snprintf(p, sizeof p, "%s/info2.txt", g_dir);
        if ((f = fopen(p, "r"))) { while (fgets(line, sizeof line, f)) mismatch += strstr(line, "checksum    MISMATCH") != NULL; fclose(f); }
        CHECK(mismatch == 1);
    }
}

int main(void) {
    char cmd[256];
    int i;
    snprintf(g_dir, sizeof g_dir, "build/tests/int8_tmp");
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", g_dir, g_dir);
    if (system(cmd) != 0) return 1;
    setup();
    RUN(quantize_is_deterministic_and_small);
    RUN(int8_file_records_precision_per_layer);
    RUN(loader_refuses_bad_int8_fields);
    RUN(quantize_refusals_one_line_no_file);
    RUN(quantize_option_refusals_one_line_no_file);
    RUN(quantize_bias_correction_changes_only_int8_biases);
    RUN(quantize_mse_never_widens_ranges);
    RUN(quantize_keep_worst_keeps_lowest_sqnr);
    RUN(compare_counts_reproduced_detections);
    RUN(int8_forward_same_bits_on_every_path_and_thread_count);
    RUN(int8_u8_chains_same_bits_as_requantizing_twin);
    RUN(int8_rpn_fused_same_bits_as_plain);
    RUN(int8_u8_chains_same_bits_at_paper_config);
    RUN(banded_blocks_same_bits_as_whole_maps);
    RUN(int8_forward_close_to_fp32);
    RUN(segment_runs_an_int8_model);
    RUN(segment_tiles_and_batches_an_int8_model);
    RUN(unsupported_int8_row_is_refused_with_message);
    RUN(info_prints_precision_and_checksum);
    for (i = 0; i < 3; i++) fpfs_free(&g_scene[i]);
    return harness_summary("int8");
}
