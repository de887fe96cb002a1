/* tests/test_hardening.c - regression tests for the findings of the outside reliability probe
 * (../shared/repro/README.md #6, #7, #8, #10, #11 and the silently accepted inputs), with the
 * bad inputs made here: a seeded model patched in memory and resealed, hand-made DEFLATE streams,
 * sparse files. Where ../shared/repro is present its reproducers are run too.
 *
 * The image decoder is compiled with a small FPFI_MAX_DECODED (4 MiB) and counting allocators,
 * so that "one read never holds more than the documented limit" is measured, not assumed. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_EVAL_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting allocators (image decoder and model loader) ------------------------------ */
static size_t g_live, g_peak, g_base; /* bytes held now, at most, and at mark() */
static void mark(void) { g_base = g_live; g_peak = g_live; }
static size_t peak(void) { return g_peak - g_base; }
static void *cnt_malloc(size_t n) {
    size_t *p = (size_t *)malloc(n + 16);
    if (!p) return NULL;
    p[0] = n; g_live += n; if (g_live > g_peak) g_peak = g_live;
    return (char *)p + 16;
}
static void cnt_free(void *q) {
    if (!q) return;
    q = (char *)q - 16;
    g_live -= ((size_t *)q)[0];
    free(q);
}
static void *cnt_calloc(size_t n, size_t k) {
    void *p = n && k > ((size_t)-1) / n ? NULL : cnt_malloc(n * k);
    if (p) memset(p, 0, n * k);
    return p;
}
static void *cnt_realloc(void *q, size_t n) {
    void *p;
    if (!q) return cnt_malloc(n);
    if (!(p = cnt_malloc(n))) return NULL;
    { size_t old = ((size_t *)(void *)((char *)q - 16))[0]; memcpy(p, q, old < n ? old : n); }
    cnt_free(q);
    return p;
}
#define FPFI_MALLOC(n) cnt_malloc(n)
#define FPFI_REALLOC(p, n) cnt_realloc(p, n)
#define FPFI_CALLOC(n, k) cnt_calloc(n, k)
#define FPFI_FREE(p) cnt_free(p)
#define FPFI_MAX_DECODED ((size_t)1 << 22)
#define FPFI_MAX_FILE ((size_t)1 << 24)

#include "fpf.h"
#include "fpf_eval.h"
#include "fpf_image.h"
#include "fpf_seeded.h"
#define FPFM_MAX_ROWS 8 /* the row limit, made small enough to reach */
#include "fpf_manifest.h"
#include "harness.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];

static void *hook_alloc(size_t size, size_t align, void *user) {
    (void)user;
    (void)align; /* cnt_malloc is 16-aligned; fpf asks 64: over-allocate and align by hand */
    {
        char *raw = (char *)cnt_malloc(size + 64 + sizeof(void *));
        uintptr_t a;
        if (!raw) return NULL;
        a = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
        ((void **)a)[-1] = raw;
        return (void *)a;
    }
}
static void hook_free(void *p, void *user) { (void)user; if (p) cnt_free(((void **)p)[-1]); }

/* ---- models: a seeded tiny model, patched and resealed ------------------------------- */

static unsigned char *seeded(fpf_config *c, size_t *n) { return (unsigned char *)fpf_seeded_file(c, 1, 7, n); }
static void reseal(unsigned char *f, size_t n) { fpf_seeded_w64(f + 24, fpf_checksum(f, n)); }
static unsigned char *entry_of(unsigned char *f, const char *name) {
    uint32_t t, T = (uint32_t)f[12] | (uint32_t)f[13] << 8;
    for (t = 0; t < T; t++)
        if (strcmp((const char *)f + 320 + 128 * (size_t)t, name) == 0) return f + 320 + 128 * (size_t)t;
    return NULL;
}
static fpf_result load(const void *f, size_t n, char *msg) {
    fpf_model *m = NULL;
    fpf_result r = fpf_model_load_memory(f, n, NULL, &m, msg, 256);
    fpf_model_free(m);
    return r;
}
/* Word index of a config field: set it to a marker in a config and find the marker. */
static int word_of(size_t field_offset) {
    fpf_config c;
    uint32_t w[64];
    int k;
    memset(&c, 0, sizeof c);
    *(int *)(void *)((char *)&c + field_offset) = 0x5A5A5A;
    fpf_config_to_words(&c, w);
    for (k = 0; k < 64; k++) if (w[k] == 0x5A5A5A) return k;
    return -1;
}

/* #7: tensor data over the header, the table, or another tensor. */
TEST(loader_rejects_overlapping_tensors) {
    fpf_config c;
    size_t n;
    unsigned char *f, *g, *e;
    char msg[256];
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    g = (unsigned char *)malloc(n);
    CHECK(load(f, n, msg) == FPF_OK);
    memcpy(g, f, n); e = entry_of(g, "res2a_branch2c/kernel");
    CHECK(e != NULL);
    fpf_seeded_w64(e + 104, 0); reseal(g, n);        /* the repro: offset 0 */
    CHECK(load(g, n, msg) == FPF_ERR_BAD_MODEL);
    CHECK_MSG(strstr(msg, "overlaps the header or tensor table") != NULL, "%s", msg);
    memcpy(g, f, n); e = entry_of(g, "res2a_branch2c/kernel");
    fpf_seeded_w64(e + 104, 320); reseal(g, n);      /* inside the table */
    CHECK(load(g, n, msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); e = entry_of(g, "res2a_branch2c/kernel");
    memcpy(e + 104, entry_of(g, "conv1/kernel") + 104, 8); reseal(g, n); /* on another tensor */
    CHECK(load(g, n, msg) == FPF_ERR_BAD_MODEL);
    CHECK_MSG(strstr(msg, "overlap") != NULL && strstr(msg, "conv1/kernel") != NULL, "%s", msg);
    {   /* in place, too (the model then never writes the buffer, but must not read header bytes as weights) */
        fpf_model *m = NULL;
        void *al = NULL;
        CHECK(posix_memalign(&al, 64, n) == 0);
        memcpy(al, g, n);
        CHECK(fpf_model_load_inplace(al, n, NULL, &m, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
        free(al);
    }
    free(g); free(f);
}

/* #8: every config field has a bound; the cost-driving ones follow from each other. */
TEST(config_bounds) {
    fpf_config p, c;
    int v;
    fpf_config_paper(&p, FPF_VARIANT_FPF_ADD);
    CHECK(fpf_config_check(&p) == FPF_OK);
#define BAD(stmt) do { c = p; stmt; CHECK_MSG(fpf_config_check(&c) == FPF_ERR_BAD_MODEL, "%s", #stmt); } while (0)
#define GOOD(stmt) do { c = p; stmt; CHECK_MSG(fpf_config_check(&c) == FPF_OK, "%s", #stmt); } while (0)
    GOOD(c.pre_nms_limit = FPF_MAX_PRE_NMS);
    BAD(c.pre_nms_limit = FPF_MAX_PRE_NMS + 1);
    BAD(c.pre_nms_limit = 1000000);
    GOOD(c.post_nms_rois = FPF_MAX_PROPOSALS);
    BAD(c.post_nms_rois = FPF_MAX_PROPOSALS + 1);
    BAD(c.post_nms_rois = 65536);
    BAD(c.pre_nms_limit = 400);                        /* fewer candidates than proposals (500) */
    GOOD(c.det_max_instances = 500);                   /* = post_nms_rois */
    BAD(c.det_max_instances = 501);
    BAD(c.det_max_instances = 65536);
    BAD(c.post_nms_rois = 0);
    BAD(c.det_max_instances = 0);
    GOOD(c.stem_width = 256); BAD(c.stem_width = 257);
    GOOD(c.bottleneck[3] = 1024); BAD(c.bottleneck[3] = 1025);
    GOOD(c.stage_out[3] = 4096); BAD(c.stage_out[3] = 4097);
    GOOD(c.fpn_width = 512); BAD(c.fpn_width = 513);
    GOOD(c.rpn_width = 1024); BAD(c.rpn_width = 1025);
    GOOD(c.fc_width = 2048); BAD(c.fc_width = 2049);
    GOOD(c.mask_width = 512); BAD(c.mask_width = 513);
    GOOD(c.pool_size = 14); BAD(c.pool_size = 15); BAD(c.pool_size = 1);
    GOOD(c.mask_pool_size = 28); BAD(c.mask_pool_size = 29);
    GOOD(c.blocks[2] = 8); BAD(c.blocks[2] = 9); BAD(c.blocks[0] = 0);
    BAD(c.anchor_scales[4] = 1e6f); BAD(c.anchor_scales[0] = NAN);
    BAD(c.anchor_ratios[1] = 0); BAD(c.mean_pixel = INFINITY); BAD(c.pixel_scale = 0);
    BAD(c.rpn_nms_threshold = 1.5f); BAD(c.det_min_confidence = -0.1f); BAD(c.det_nms_threshold = NAN);
    BAD(c.bbox_std[2] = 101); BAD(c.rpn_bbox_std[0] = -1); BAD(c.roi_canonical_level = 6);
    BAD(c.roi_canonical_size = 0); BAD(c.mask_threshold = 2); BAD(c.bn_epsilon = -1);
    GOOD(c.object_diameter = 24); BAD(c.object_diameter = 0.5f); BAD(c.object_diameter = -3); BAD(c.object_diameter = 20000);
    BAD(c.image_multiple = 32); BAD(c.anchor_stride = 2); BAD(c.backbone_strides[1] = 16);
    BAD(c.num_classes = 3); BAD(c.input_channels = 2); BAD(c.merge = 2); BAD(c.variant = 5);
#undef BAD
#undef GOOD
    /* through the loader: the repro's words, patched into a seeded model with a valid checksum */
    {
        static const struct { size_t off; int value; } w[] = {
            {offsetof(fpf_config, post_nms_rois), 65536}, {offsetof(fpf_config, det_max_instances), 65536},
            {offsetof(fpf_config, pre_nms_limit), 1000000}, {offsetof(fpf_config, post_nms_rois), 65535}};
        size_t n, i;
        unsigned char *f, *g;
        char msg[256];
        fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
        f = seeded(&c, &n);
        g = (unsigned char *)malloc(n);
        CHECK(word_of(offsetof(fpf_config, post_nms_rois)) == 42); /* the repro's numbering */
        for (i = 0; i < sizeof w / sizeof w[0]; i++) {
            memcpy(g, f, n);
            v = word_of(w[i].off);
            fpf_seeded_w32(g + 64 + 4 * v, (uint32_t)w[i].value); reseal(g, n);
            CHECK(load(g, n, msg) == FPF_ERR_BAD_MODEL);
            CHECK_MSG(strstr(msg, "config") != NULL, "%s", msg);
        }
        free(g); free(f);
    }
}

/* The largest legal values of the per-image cost fields run, on a tiny model and image: the
   limits are real, not only written down. Workspace stays modest even so. */
TEST(largest_legal_config_runs) {
    fpf_config c;
    size_t n, ws = 0, ws0 = 0;
    unsigned char *f;
    fpf_model *m = NULL, *m0 = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    static uint8_t img[128 * 128];
    fpf_input in;
    const fpf_output *out;
    char msg[256];
    int i;
    for (i = 0; i < 128 * 128; i++) img[i] = (uint8_t)((i * 7919) >> 5);
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    CHECK(fpf_model_load_memory(f, n, NULL, &m0, msg, sizeof msg) == FPF_OK);
    free(f);
    c.pre_nms_limit = FPF_MAX_PRE_NMS; c.post_nms_rois = FPF_MAX_PROPOSALS;
    c.det_max_instances = FPF_MAX_DETECTIONS; c.pool_size = 14; c.mask_pool_size = 28;
    c.blocks[0] = c.blocks[1] = c.blocks[2] = c.blocks[3] = 8;
    f = seeded(&c, &n);
    CHECK(fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) == FPF_OK);
    free(f);
    memset(&o, 0, sizeof o);
    CHECK(fpf_session_workspace_size(m0, NULL, 128, 128, NULL, &ws0) == FPF_OK);
    CHECK(fpf_session_workspace_size(m, NULL, 128, 128, NULL, &ws) == FPF_OK);
    printf("  workspace 128x128: paper limits %.1f MiB, largest legal %.1f MiB\n", ws0 / 1048576.0, ws / 1048576.0);
    CHECK(ws < (size_t)512 << 20);
    CHECK(fpf_session_init(m, NULL, 128, 128, &o, &s) == FPF_OK);
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u8(img, 128, 128, 128);
    CHECK(s && fpf_session_run(s, &in, &out) == FPF_OK);
    CHECK(s && out->n_cells <= FPF_MAX_DETECTIONS);
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(m0);
}

/* fpf_options.max_workspace_bytes: a limit of exactly the workspace size passes and allocates
   that once; one byte less is refused before anything is allocated, with the two sizes named.
   FPF_MAX_WORKSPACE_BYTES (16 GiB on 64-bit) holds whatever the caller's limit. */
static int g_allocs;
static size_t g_alloc_size;
static void *rec_alloc(size_t size, size_t align, void *user) { g_allocs++; g_alloc_size = size; return hook_alloc(size, align, user); }
TEST(workspace_limit_is_exact) {
    fpf_config c;
    size_t n, need = 0, got = 1;
    unsigned char *f;
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    char msg[256], want[256];
    void *buf;
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    CHECK(fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) == FPF_OK);
    free(f);
    memset(&o, 0, sizeof o);
    o.allocator.alloc = rec_alloc; o.allocator.free = hook_free;
    o.init_msg = msg; o.init_msg_size = sizeof msg;
    CHECK(fpf_session_workspace_size(m, NULL, 64, 64, &o, &need) == FPF_OK && need > 0);
    o.max_workspace_bytes = need;                          /* exactly enough */
    CHECK(fpf_session_workspace_size(m, NULL, 64, 64, &o, &got) == FPF_OK);
    CHECK_EQ_INT((long)got, (long)need);
    g_allocs = 0;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    CHECK_EQ_INT(g_allocs, 1);
    CHECK_EQ_INT((long)g_alloc_size, (long)need);
    fpf_session_free(s); s = NULL;
    o.max_workspace_bytes = need - 1;                      /* one byte short */
    snprintf(want, sizeof want, "the session workspace needs %lu bytes; the limit is %lu (fpf_options.max_workspace_bytes)",
             (unsigned long)need, (unsigned long)(need - 1));
    msg[0] = 0;
    CHECK(fpf_session_workspace_size(m, NULL, 64, 64, &o, &got) == FPF_ERR_OUT_OF_MEMORY);
    CHECK(got == 0);
    CHECK_MSG(!strcmp(msg, want), "%s", msg);
    g_allocs = 0; msg[0] = 0;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_ERR_OUT_OF_MEMORY && s == NULL);
    CHECK_EQ_INT(g_allocs, 0);
    CHECK_MSG(!strcmp(msg, want), "%s", msg);
    buf = malloc(need + 64);                               /* a big enough buffer does not lift it */
    CHECK(fpf_session_init_preallocated(m, NULL, 64, 64, &o, buf, need + 64, &s) == FPF_ERR_OUT_OF_MEMORY);
    free(buf);
    /* the build's limit: a 32768 x 32768 workspace is refused whatever the caller allows */
    o.max_workspace_bytes = (size_t)-1; msg[0] = 0;
    CHECK(fpf_session_workspace_size(m, NULL, FPF_MAX_IMAGE_DIM, FPF_MAX_IMAGE_DIM, &o, &got) == FPF_ERR_OUT_OF_MEMORY);
    CHECK_MSG(strstr(msg, "(FPF_MAX_WORKSPACE_BYTES)") != NULL, "%s", msg);
#if SIZE_MAX > 0xFFFFFFFFu
    CHECK_MSG(strstr(msg, "; the limit is 17179869184 (") != NULL, "%s", msg); /* 16 GiB */
#endif
    {   /* the need it names is the real one: larger than the image's pixels and the limit */
        const char *p = strstr(msg, "needs ");
        double named = p ? strtod(p + 6, NULL) : 0.0;
        CHECK(named > (double)FPF_MAX_WORKSPACE_BYTES && named > (double)FPF_MAX_IMAGE_DIM * FPF_MAX_IMAGE_DIM);
    }
    fpf_model_free(m);
}

/* Invalid options are refused at session set-up: the repro's --norm16 fixed:0:inf and friends. */
TEST(options_are_checked) {
    fpf_config c;
    size_t n;
    unsigned char *f;
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    char msg[256];
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    CHECK(fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) == FPF_OK);
    free(f);
#define OPT(stmt, want) do { memset(&o, 0, sizeof o); stmt; s = NULL; \
        CHECK_MSG(fpf_session_init(m, NULL, 64, 64, &o, &s) == (want), "%s", #stmt); fpf_session_free(s); } while (0)
    OPT((void)0, FPF_OK);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = 0, o.norm16_hi = 4095), FPF_OK);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = 0, o.norm16_hi = INFINITY), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = -INFINITY, o.norm16_hi = 10), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = NAN, o.norm16_hi = 10), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = 10, o.norm16_hi = 10), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_FIXED, o.norm16_lo = 0, o.norm16_hi = 0), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_PERCENTILE, o.norm16_lo = 1, o.norm16_hi = 99), FPF_OK);
    OPT((o.norm16 = FPF_NORM16_PERCENTILE, o.norm16_lo = 1, o.norm16_hi = 101), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_PERCENTILE, o.norm16_lo = 50, o.norm16_hi = 5), FPF_ERR_INVALID_ARG);
    OPT((o.norm16 = FPF_NORM16_NONE, o.norm16_lo = NAN), FPF_OK); /* unused there */
    OPT(o.norm16 = 3, FPF_ERR_INVALID_ARG);
    OPT(o.isa = 9, FPF_ERR_INVALID_ARG);
    OPT(o.det_min_confidence = INFINITY, FPF_ERR_INVALID_ARG);
    OPT(o.det_min_confidence = 1.5f, FPF_ERR_INVALID_ARG);
    OPT(o.det_max_instances = FPF_MAX_DETECTIONS, FPF_OK);
    OPT(o.det_max_instances = FPF_MAX_DETECTIONS + 1, FPF_ERR_INVALID_ARG);
    OPT(o.det_max_instances = -1, FPF_ERR_INVALID_ARG);
    OPT(o.n_threads = -1, FPF_ERR_INVALID_ARG);
#undef OPT
    fpf_model_free(m);
}

/* A sparse file of `size` bytes whose first `n` bytes are head. */
static int sparse_file(const char *path, const void *head, size_t n, off_t size) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(head, 1, n, f) == n;
    fclose(f);
    return ok && truncate(path, size) == 0;
}

/* #10: huge or sparse files are refused before they are read; a directory is an I/O error. */
TEST(huge_model_files_cost_nothing) {
    fpf_config c;
    size_t n;
    unsigned char *f;
    fpf_allocator a;
    fpf_model *m = NULL;
    char path[128], msg[256];
    a.alloc = hook_alloc; a.free = hook_free; a.user = NULL;
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    snprintf(path, sizeof path, "%s/sparse.fpf", g_dir);
    CHECK(sparse_file(path, "", 0, (off_t)2 << 30));                /* 2 GiB of zeros */
    mark();
    CHECK(fpf_model_load_file(path, &a, &m, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);
    CHECK_MSG(peak() < 65536, "peak %zu bytes", peak());
    fpf_seeded_w64(f + 16, (uint64_t)2 << 30);                        /* a real head, 2 GiB declared */
    CHECK(sparse_file(path, f, 320, (off_t)2 << 30));
    mark();
    CHECK(fpf_model_load_file(path, &a, &m, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK_MSG(strstr(msg, "config implies") != NULL, "%s", msg);
    CHECK_MSG(peak() < 65536, "peak %zu bytes", peak());
    fpf_seeded_w64(f + 16, (uint64_t)n);                              /* the right size, on disk */
    CHECK(sparse_file(path, f, n, (off_t)n));
    CHECK(fpf_model_load_file(path, &a, &m, msg, sizeof msg) == FPF_OK);
    fpf_model_free(m); m = NULL;
    CHECK(sparse_file(path, f, n, (off_t)n + 64));                     /* 64 bytes of slack */
    CHECK(fpf_model_load_file(path, &a, &m, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK(fpf_model_load_file(g_dir, &a, &m, msg, sizeof msg) == FPF_ERR_IO);  /* a directory */
    CHECK_MSG(strstr(msg, "directory") != NULL, "%s", msg);
    CHECK(g_live == 0);
    unlink(path);
    free(f);
}

/* ---- images ------------------------------------------------------------------------- */

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, v & 0xFFFF); put16(p + 2, v >> 16); }

/* A little-endian TIFF of one Deflate strip (the whole image), spp samples of 8 bits. */
static unsigned char *deflate_tiff(int w, int h, int spp, size_t *len) {
    size_t raw_n = (size_t)w * h * spp, zn = 0, i;
    unsigned char *raw = (unsigned char *)malloc(raw_n), *z = NULL, *t;
    static const unsigned short tags[9] = {256, 257, 258, 259, 262, 273, 277, 278, 279};
    uint32_t vals[9];
    for (i = 0; i < raw_n; i++) raw[i] = (unsigned char)(i % 251 < 3 ? i : 0);
    fpfi_zlib_compress(raw, raw_n, &z, &zn);
    free(raw);
    vals[0] = (uint32_t)w; vals[1] = (uint32_t)h; vals[2] = 8; vals[3] = 8; vals[4] = 1;
    vals[5] = 8 + 2 + 9 * 12 + 4; vals[6] = (uint32_t)spp; vals[7] = (uint32_t)h; vals[8] = (uint32_t)zn;
    *len = vals[5] + zn;
    t = (unsigned char *)calloc(1, *len);
    memcpy(t, "II*\0", 4); put32(t + 4, 8); put16(t + 8, 9);
    for (i = 0; i < 9; i++) {
        unsigned char *e = t + 10 + 12 * i;
        put16(e, tags[i]); put16(e + 2, tags[i] <= 262 || tags[i] == 277 ? 3 : 4); put32(e + 4, 1);
        if (tags[i] <= 262 || tags[i] == 277) put16(e + 8, vals[i]); else put32(e + 8, vals[i]);
    }
    memcpy(t + vals[5], z, zn);
    FPFI_FREE(z);
    return t;
}

/* #10: one read holds at most FPFI_MAX_DECODED bytes besides the file (here 4 MiB). */
TEST(decode_peak_stays_within_the_limit) {
    fpfi_image im;
    char err[256];
    size_t len, lim = FPFI_MAX_DECODED;
    unsigned char *t = deflate_tiff(2048, 2048, 1, &len);             /* exactly the limit */
    mark();
    CHECK_MSG(fpfi_read_memory(t, len, 0, 0, &im, err, sizeof err) == 0, "%s", err);
    printf("  2048x2048 deflate strip (%zu bytes): peak %zu bytes, limit %zu\n", len, peak(), lim);
    CHECK(peak() <= lim + 4096);                                       /* + row scratch */
    fpfi_free(&im);
    free(t);
    t = deflate_tiff(2048, 1024, 2, &len);                             /* strip 4 MiB + image 2 MiB */
    mark();
    CHECK(fpfi_read_memory(t, len, 0, 1, &im, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "too large") != NULL, "%s", err);
    CHECK(peak() < 65536);
    free(t);
    t = deflate_tiff(1024, 1024, 2, &len);                             /* 2 + 1 MiB: fine */
    mark();
    CHECK_MSG(fpfi_read_memory(t, len, 0, 1, &im, err, sizeof err) == 0, "%s", err);
    CHECK(peak() <= lim);
    fpfi_free(&im);
    free(t);
    {   /* PNG: the unfiltered stream and the image together */
        fpfi_image src;
        unsigned char *png = NULL;
        size_t pn = 0;
        fpfi_alloc(&src, 2048, 2048, FPFI_U8);                         /* 4 MiB + 4 MiB: refused */
        CHECK(fpfi_encode(FPFI_FORMAT_PNG, &src, &png, &pn, err, sizeof err) == 0);
        fpfi_free(&src);
        mark();
        CHECK(fpfi_read_memory(png, pn, 0, 0, &im, err, sizeof err) != 0);
        CHECK(peak() < 65536);
        FPFI_FREE(png);
        fpfi_alloc(&src, 1400, 1400, FPFI_U8);                          /* 1.9 + 1.9 MiB: read */
        CHECK(fpfi_encode(FPFI_FORMAT_PNG, &src, &png, &pn, err, sizeof err) == 0);
        fpfi_free(&src);
        mark();
        CHECK_MSG(fpfi_read_memory(png, pn, 0, 0, &im, err, sizeof err) == 0, "%s", err);
        CHECK(peak() <= lim);
        fpfi_free(&im);
        FPFI_FREE(png);
    }
}

TEST(huge_image_files_cost_nothing) {
    fpfi_image im;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/sparse.tif", g_dir);
    CHECK(sparse_file(path, "", 0, (off_t)2 << 30));                 /* zeros: no known format */
    mark();
    CHECK(fpfi_read(path, 0, 0, &im, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "unknown image format") != NULL, "%s", err);
    CHECK(peak() < 65536);
    CHECK(sparse_file(path, "II*\0\x08\0\0\0", 8, (off_t)2 << 30));  /* a TIFF head, then 2 GiB */
    mark();
    CHECK(fpfi_read(path, 0, 0, &im, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "too large") != NULL, "%s", err);
    CHECK(peak() < 65536);
    CHECK(fpfi_read(g_dir, 0, 0, &im, err, sizeof err) != 0);         /* a directory */
    CHECK(g_live == 0);
    unlink(path);
}

/* ---- inflate -------------------------------------------------------------------------- */

/* #6: a dynamic block whose literal/length code is one symbol of more than one bit is
   incomplete; zlib and puff reject it ("invalid literal/lengths set"). First byte: bit 0 set =
   zlib wrapper follows; the rest is the stream (the repro's format). */
static const unsigned char litlen_single[16] = {0x60, 0x1d, 0x4c, 0xcd, 0x05, 0x2c, 0x4b, 0xa3,
                                                0x60, 0x1d, 0x2f, 0xf9, 0x0f, 0xff, 0x00, 0x00};
static const unsigned char litlen_single_b[21] = {0x60, 0x1d, 0x4c, 0xcd, 0x05, 0x2c, 0x4b, 0xa3, 0x60, 0x1d, 0x2f,
                                                  0xf9, 0x0f, 0xff, 0xff, 0x00, 0xca, 0x24, 0x00, 0x00, 0x00};
static const unsigned char litlen_single_c[24] = {0xda, 0x1c, 0x4c, 0xcd, 0x05, 0x2c, 0x4b, 0xa3,
                                                  0x60, 0x1d, 0x78, 0xda, 0x0c, 0x00, 0x00, 0x60,
                                                  0xda, 0x1c, 0xff, 0xff, 0x37, 0x00, 0x00, 0x00};

static int inflate_case(const unsigned char *d, size_t n, char *err, size_t errlen) {
    static unsigned char out[1 << 16];
    size_t got;
    if (n < 1) return -1;
    return fpfi_inflate(d + 1, n - 1, d[0] & 1, out, sizeof out, &got, err, errlen);
}

/* Bits LSB-first into a byte buffer, for hand-made blocks. */
typedef struct bitw { unsigned char b[64]; int n; } bitw;
static void wb(bitw *w, unsigned v, int k) {
    int i;
    for (i = 0; i < k; i++, w->n++) if ((v >> i) & 1) w->b[w->n / 8] |= (unsigned char)(1 << (w->n % 8));
}

TEST(inflate_rejects_what_zlib_rejects) {
    char err[128];
    CHECK(inflate_case(litlen_single, sizeof litlen_single, err, sizeof err) < 0);
    CHECK_MSG(strstr(err, "literal/length code") != NULL, "%s", err);
    CHECK(inflate_case(litlen_single_b, sizeof litlen_single_b, err, sizeof err) < 0);
    CHECK(inflate_case(litlen_single_c, sizeof litlen_single_c, err, sizeof err) < 0);
    {   /* hand-made: dynamic block, HLIT 257, HDIST 1, code-length code {0: 1 bit, 1: 2, 2: 2};
           lit/len lengths all 0 but symbol 256 = 2 (single symbol of two bits: incomplete, rejected)
           vs. symbol 256 = 1 and distance symbol 0 = 1 (single one-bit codes: allowed) */
        int pass;
        for (pass = 0; pass < 2; pass++) {
            bitw w;
            unsigned char out[8];
            size_t got;
            int i, rc;
            static const int order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
            memset(&w, 0, sizeof w);
            wb(&w, 1, 1); wb(&w, 2, 2);                 /* BFINAL, dynamic */
            wb(&w, 0, 5); wb(&w, 0, 5); wb(&w, 14, 4);  /* HLIT 257, HDIST 1, HCLEN 18 */
            for (i = 0; i < 18; i++) wb(&w, order[i] == 0 ? 1 : order[i] == 1 || order[i] == 2 ? 2 : 0, 3);
            /* canonical codes, first bit first: length 0 -> "0", length 1 -> "10", length 2 -> "11" */
            for (i = 0; i < 256; i++) wb(&w, 0, 1);     /* symbols 0..255: length 0 */
            if (pass == 0) { wb(&w, 3, 2); wb(&w, 0, 1); }  /* 256: length 2; distance 0: length 0 */
            else { wb(&w, 1, 2); wb(&w, 1, 2); }           /* 256: length 1; distance 0: length 1 */
            wb(&w, 0, 1);                               /* the data: end of block, code "0" */
            rc = fpfi_inflate(w.b, (size_t)(w.n + 7) / 8, 0, out, sizeof out, &got, err, sizeof err);
            if (pass == 0) CHECK_MSG(rc < 0, "single 2-bit lit/len code accepted");
            else CHECK_MSG(rc == 0 && got == 0, "single 1-bit codes rejected: %s", err);
        }
    }
}

/* The probe's raw finds, when ../shared/repro is there. */
TEST(inflate_repro_files) {
    DIR *d = opendir("../shared/repro/inflate");
    struct dirent *e;
    int seen = 0;
    if (!d) SKIP("../shared/repro/inflate not present");
    while ((e = readdir(d))) {
        char p[512], err[128];
        unsigned char *data;
        size_t n;
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        snprintf(p, sizeof p, "../shared/repro/inflate/%s", e->d_name);
        if (fpfi_load_file(p, &data, &n, err, sizeof err)) continue;
        CHECK_MSG(inflate_case(data, n, err, sizeof err) < 0, "%s accepted", e->d_name);
        FPFI_FREE(data);
        seen++;
    }
    closedir(d);
    CHECK(seen >= 1);
}

TEST(repro_post_nms_model) {
    fpf_model *m = NULL;
    char msg[256];
    struct stat st;
    if (stat("../shared/repro/model/post_nms_65535_micro.fpf", &st) != 0) SKIP("../shared/repro/model not present");
    CHECK(fpf_model_load_file("../shared/repro/model/post_nms_65535_micro.fpf", NULL, &m, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    fpf_model_free(m);
}

/* ---- evaluation input --------------------------------------------------------------------- */

TEST(eval_rejects_infinite_scores) {
    fpf_eval *ev = NULL;
    fpf_eval_instance gt, dt;
    memset(&gt, 0, sizeof gt); memset(&dt, 0, sizeof dt);
    gt.box[2] = gt.box[3] = 4; dt.box[2] = dt.box[3] = 4;
    CHECK(fpf_eval_create(&ev, NULL) == FPF_EVAL_OK);
    dt.score = INFINITY;
    CHECK(fpf_eval_add_image(ev, &gt, 1, &dt, 1) == FPF_EVAL_ERR_INVALID);
    dt.score = -INFINITY;
    CHECK(fpf_eval_add_image(ev, &gt, 1, &dt, 1) == FPF_EVAL_ERR_INVALID);
    dt.score = 0.5;
    CHECK(fpf_eval_add_image(ev, &gt, 1, &dt, 1) == FPF_EVAL_OK);
    fpf_eval_destroy(ev);
}

/* ---- CLIs ------------------------------------------------------------------------------- */

static int run(const char *cmd, char *first, size_t n) {
    char full[1024], path[128];
    FILE *f;
    int rc, lines = 0;
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    snprintf(full, sizeof full, "%s 2>%s >/dev/null", cmd, path);
    rc = system(full);
    first[0] = 0;
    if ((f = fopen(path, "r"))) {
        char buf[512];
        while (fgets(buf, sizeof buf, f)) { if (!lines++) snprintf(first, n, "%s", buf); }
        fclose(f);
    }
    if (lines > 1) return -2; /* one clear line */
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
static void write_text(const char *name, const char *text) {
    char p[160];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    if ((f = fopen(p, "w"))) { fputs(text, f); fclose(f); }
}

TEST(eval_cli_rejects_huge_scores) {
    static const char *gt = "{\"images\": [{\"id\": 1, \"height\": 8, \"width\": 8}], \"categories\": [{\"id\": 1}],"
                            " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 3, 3],"
                            " \"area\": 9, \"iscrowd\": 0, \"segmentation\": {\"size\": [8, 8], \"counts\": [9, 3, 5, 3, 5, 3, 36]}}]}";
    char cmd[512], first[512];
    const char *scores[3] = {"1e400", "-1e400", "0.9"};
    int i;
    write_text("gt.json", gt);
    for (i = 0; i < 3; i++) {
        char dt[512];
        snprintf(dt, sizeof dt, "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 3, 3], \"score\": %s,"
                 " \"segmentation\": {\"size\": [8, 8], \"counts\": [9, 3, 5, 3, 5, 3, 36]}}]", scores[i]);
        write_text("dt.json", dt);
        snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s/gt.json --dt %s/dt.json", g_dir, g_dir);
        if (i < 2) {
            CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s: %s", scores[i], first);
            CHECK_MSG(strstr(first, "out of range") != NULL, "%s", first);
        } else {
            CHECK_MSG(run(cmd, first, sizeof first) == 0, "%s", first);
        }
    }
}

/* #10 for the CLIs: a 2 GiB sparse file as --gt, --model or an image is refused at once. */
TEST(cli_refuses_huge_files_at_once) {
    char cmd[768], first[512], big[160];
    snprintf(big, sizeof big, "%s/big.bin", g_dir);
    CHECK(sparse_file(big, "{", 1, (off_t)2 << 30));
    write_text("dt.json", "[]");
    snprintf(cmd, sizeof cmd, "build/fpf_eval --gt %s --dt %s/dt.json", big, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    CHECK_MSG(strstr(first, "too large") != NULL, "%s", first);
    snprintf(cmd, sizeof cmd, "build/fpf_imageinfo %s", big);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    CHECK_MSG(strstr(first, "too large") != NULL, "%s", first);
    snprintf(cmd, sizeof cmd, "build/fpf_segment --model %s --nucleus %s --out %s/seg", big, big, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    unlink(big);
}

/* #11: fpf_imageinfo frees everything on its error exits (LeakSanitizer sees it in make sanitize). */
TEST(imageinfo_error_exits) {
    char cmd[512], first[512], p[160];
    FILE *f;
    snprintf(p, sizeof p, "%s/trunc.tif", g_dir);
    if ((f = fopen(p, "wb"))) {  /* a valid head and IFD, strip data missing */
        size_t len;
        unsigned char *t = deflate_tiff(64, 64, 1, &len);
        fwrite(t, 1, len - 8, f);
        fclose(f);
        free(t);
    }
    snprintf(cmd, sizeof cmd, "build/fpf_imageinfo %s", p);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    snprintf(cmd, sizeof cmd, "build/fpf_imageinfo %s", g_dir);            /* a directory */
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    write_text("junk.tif", "II*\0junk");
    snprintf(cmd, sizeof cmd, "build/fpf_imageinfo %s/junk.tif", g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
}

/* fpf_segment --max-memory MB: strict parsing, and a limit below the workspace fails the image
   with one line naming the bytes. */
TEST(cli_max_memory) {
    fpf_config c;
    size_t n;
    unsigned char *f;
    char cmd[768], first[512], p[160];
    FILE *fp;
    int i;
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_CORES);
    f = seeded(&c, &n);
    snprintf(p, sizeof p, "%s/tiny.fpf", g_dir);
    if ((fp = fopen(p, "wb"))) { fwrite(f, 1, n, fp); fclose(fp); }
    free(f);
    snprintf(p, sizeof p, "%s/nuc.pgm", g_dir);
    if ((fp = fopen(p, "wb"))) {
        fprintf(fp, "P5\n64 64\n255\n");
        for (i = 0; i < 64 * 64; i++) fputc((i * 7919 >> 5) & 255, fp);
        fclose(fp);
    }
#define SEG "build/fpf_segment --model %s/tiny.fpf --nucleus %s/nuc.pgm --out %s/mm --quiet --threads 1 --tile 0"
    snprintf(cmd, sizeof cmd, SEG " --max-memory 0", g_dir, g_dir, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 2, "%s", first);
    snprintf(cmd, sizeof cmd, SEG " --max-memory 16385", g_dir, g_dir, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 2, "%s", first);
    snprintf(cmd, sizeof cmd, SEG " --max-memory 1.5", g_dir, g_dir, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 2, "%s", first);
    snprintf(cmd, sizeof cmd, SEG " --max-memory 1", g_dir, g_dir, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 1, "%s", first);
    CHECK_MSG(strstr(first, "; the limit is 1048576 (fpf_options.max_workspace_bytes)") != NULL, "%s", first);
    snprintf(cmd, sizeof cmd, SEG " --max-memory 16384", g_dir, g_dir, g_dir);
    CHECK_MSG(run(cmd, first, sizeof first) == 0, "%s", first);
#undef SEG
}

/* fpf_segment's manifest reader (examples/fpf_manifest.h): paths joined to the manifest's
   folder, empty lines skipped, bad and repeated ids kept as row errors (repeats found by a sort,
   so a long manifest costs n log n, not n^2), and at most FPFM_MAX_ROWS rows. */
static int g_warns;
static void count_warn(const char *fmt, ...) { (void)fmt; g_warns++; }
static int read_text_manifest(const char *text, fpfm_jobs *js, char *err, size_t n) {
    FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
    int r;
    if (!f) return -2;
    memset(js, 0, sizeof *js);
    r = fpfm_read(f, "plate/m.csv", js, count_warn, err, n);
    fclose(f);
    return r;
}
TEST(manifest_rows_and_limits) {
    fpfm_jobs js;
    char err[512];
    static const struct { const char *id, *nucleus, *cell, *error; int row; } want[] = {
        {"A01", "plate/n1.tif", "plate/c1.tif", "", 2},
        {"A02", "/abs/n2.tif", "", "", 4},
        {"A01", "plate/n3.tif", "plate/c3.tif", "row 5: id 'A01' appears twice", 5},
        {"row6", "plate/n4.tif", "plate/c4.tif", "row 6: id '' cannot name a folder (empty, starts with '.', or has '/')", 6},
        {"row6", "plate/n5.tif", "", "row 7: id 'row6' appears twice", 7},
        {"q,\"x", "plate/n6.tif", "", "", 8},
        {"A01", "plate/n7.tif", "", "row 9: id 'A01' appears twice", 9}};
    int i;
    g_warns = 0;
    CHECK(read_text_manifest("id,nucleus,cell,extra\nA01,n1.tif,c1.tif,x\n\nA02,/abs/n2.tif,,\nA01,n3.tif,c3.tif\n"
                             ",n4.tif,c4.tif\nrow6,n5.tif,\n\"q,\"\"x\",n6.tif,\nA01,n7.tif,\n", &js, err, sizeof err) == 0);
    CHECK_EQ_INT(g_warns, 1);                              /* the column 'extra' */
    CHECK_EQ_INT(js.n, 7);
    for (i = 0; i < 7 && i < js.n; i++) {
        CHECK_MSG(!strcmp(js.j[i].id, want[i].id), "row %d: id '%s'", i, js.j[i].id);
        CHECK_MSG(!strcmp(js.j[i].nucleus, want[i].nucleus), "row %d: nucleus '%s'", i, js.j[i].nucleus);
        CHECK_MSG(!strcmp(js.j[i].cell, want[i].cell), "row %d: cell '%s'", i, js.j[i].cell);
        CHECK_MSG(!strcmp(js.j[i].error, want[i].error), "row %d: error '%s'", i, js.j[i].error);
        CHECK_EQ_INT(js.j[i].row, want[i].row);
    }
    free(js.j);
    CHECK(read_text_manifest("id,cell\na,1\nb,2\nc,3\nd,4\ne,5\nf,6\ng,7\nh,8\ni,9\n", &js, err, sizeof err) == -1);
    CHECK_MSG(!strcmp(err, "plate/m.csv: more than 8 images; split the manifest"), "%s", err);
    free(js.j);
    CHECK(read_text_manifest("id,cell\na,1\nb,2\nc,3\nd,4\ne,5\nf,6\ng,7\nh,8\n", &js, err, sizeof err) == 0);
    CHECK_EQ_INT(js.n, 8);                                 /* exactly the limit */
    free(js.j);
    CHECK(read_text_manifest("id,reporter\na,r.tif\n", &js, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "must name an id column and a nucleus and/or cell column") != NULL, "%s", err);
    free(js.j);
    CHECK(read_text_manifest("id,cell\n\n\n", &js, err, sizeof err) == -1);
    CHECK_MSG(!strcmp(err, "plate/m.csv: no images listed under the header"), "%s", err);
    free(js.j);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/fpf_hardening_XXXXXX");
    if (!mkdtemp(g_dir)) { printf("hardening: 0 passed, 1 failed\n"); return 1; }
    RUN(loader_rejects_overlapping_tensors);
    RUN(config_bounds);
    RUN(largest_legal_config_runs);
    RUN(options_are_checked);
    RUN(workspace_limit_is_exact);
    RUN(huge_model_files_cost_nothing);
    RUN(decode_peak_stays_within_the_limit);
    RUN(huge_image_files_cost_nothing);
    RUN(inflate_rejects_what_zlib_rejects);
    RUN(inflate_repro_files);
    RUN(repro_post_nms_model);
    RUN(eval_rejects_infinite_scores);
    RUN(eval_cli_rejects_huge_scores);
    RUN(cli_refuses_huge_files_at_once);
    RUN(imageinfo_error_exits);
    RUN(cli_max_memory);
    RUN(manifest_rows_and_limits);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
        if (system(cmd) != 0) printf("  could not remove %s\n", g_dir);
    }
    return harness_summary("hardening");
}
