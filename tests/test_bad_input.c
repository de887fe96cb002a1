/* tests/test_bad_input.c - every bad-input path of fpf.h: corrupt, truncated and misaligned
 * model files, files on disk, bad images and sizes, and session-init failures with their message. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "harness.h"
#include "fpf_test_util.h"

/* ---------------------------------------------------------------- bad model files */

static void *file_copy(const void *f, size_t n) { void *p = malloc(n); memcpy(p, f, n); return p; }
static void reseal(unsigned char *f, size_t n) { fpf_seeded_w64(f + 24, fpf_checksum(f, n)); }

static fpf_result load_err(const void *f, size_t n, char *msg, size_t mn) {
    fpf_model *m = NULL;
    fpf_result r = fpf_model_load_memory(f, n, NULL, &m, msg, mn);
    if (r == FPF_OK) fpf_model_free(m);
    return r;
}

TEST(bad_model_files) {
    fpf_config c;
    size_t n;
    unsigned char *f, *g;
    char msg[256];
    int bias_entry = 320 + 128 * 1; /* conv1/bias */
    fpf_seeded_config(&c, "tiny", FPF_VARIANT_FPF_ADD);
    f = (unsigned char *)fpf_seeded_file(&c, 1, 7, &n);
    CHECK(load_err(f, n, msg, sizeof msg) == FPF_OK);
    CHECK(load_err(f, n - 1, msg, sizeof msg) == FPF_ERR_BAD_MODEL);       /* truncated */
    CHECK(strstr(msg, "truncated") != NULL);
    CHECK(load_err(f, 100, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);     /* far too short */
    CHECK(load_err(f, 0, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);
    g = (unsigned char *)file_copy(f, n); g[0] = 'X';
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);       /* magic */
    memcpy(g, f, n); g[8] = 2; reseal(g, n);
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);       /* version */
    memcpy(g, f, n); g[n - 100] ^= 1;
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_CHECKSUM);            /* one flipped bit */
    memcpy(g, f, n); fpf_seeded_w32(g + 64 + 4 * 16, 0); reseal(g, n);   /* fpn_width = 0 */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w32(g + bias_entry + 88, 17); fpf_seeded_w64(g + bias_entry + 112, 68); reseal(g, n);
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);           /* shape vs config */
    CHECK(strstr(msg, "conv1/bias") != NULL);
    memcpy(g, f, n); g[bias_entry] = 'z'; reseal(g, n);                    /* renamed: missing */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK(strstr(msg, "missing tensor conv1/bias") != NULL);
    memcpy(g, f, n); memcpy(g + bias_entry, g + 320, 80); reseal(g, n);    /* duplicate name */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w64(g + bias_entry + 104, n); reseal(g, n); /* offset outside */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    CHECK(strstr(msg, "outside") != NULL);
    memcpy(g, f, n); fpf_seeded_w64(g + bias_entry + 104, 65); reseal(g, n); /* misaligned */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    memcpy(g, f, n); fpf_seeded_w32(g + 12, 100000); reseal(g, n);          /* huge table */
    CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_MODEL);
    {   /* NaN and Inf in weights */
        size_t off = (size_t)f[320 + 104] | (size_t)f[320 + 105] << 8 | (size_t)f[320 + 106] << 16 | (size_t)f[320 + 107] << 24;
        float nan = NAN, inf = INFINITY;
        memcpy(g, f, n); memcpy(g + off + 8, &nan, 4); reseal(g, n);
        CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_WEIGHTS);
        CHECK(strstr(msg, "conv1/kernel") != NULL);
        memcpy(g, f, n); memcpy(g + off, &inf, 4); reseal(g, n);
        CHECK(load_err(g, n, msg, sizeof msg) == FPF_ERR_BAD_WEIGHTS);
    }
    {   /* in place needs 64-byte alignment */
        fpf_model *m = NULL;
        /* al is 1..64 bytes past raw and the copy moves 4 bytes on: room for n + 68 (repro #1) */
        size_t cap = n + 64 + 4;
        unsigned char *raw = (unsigned char *)malloc(cap), *al = raw + (64 - ((uintptr_t)raw & 63));
        CHECK(al + 4 + n <= raw + cap);
        memcpy(al, f, n);
        CHECK(fpf_model_load_inplace(al, n, NULL, &m, msg, sizeof msg) == FPF_OK);
        {   /* zero-copy: the model's tensors point into the caller's buffer */
            const float *t = fpf_model_tensor(m, "conv1_core/kernel", NULL, NULL);
            CHECK(t && (const unsigned char *)t > al && (const unsigned char *)t < al + n);
        }
        fpf_model_free(m);
        memmove(al + 4, al, n);
        CHECK(fpf_model_load_inplace(al + 4, n, NULL, &m, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
        free(raw);
    }
    CHECK(load_err(NULL, n, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_model_load_memory(f, n, NULL, NULL, msg, sizeof msg) == FPF_ERR_INVALID_ARG);
    free(g); free(f);
}

TEST(bad_files_on_disk) {
    fpf_model *m = NULL;
    char msg[256];
    CHECK(fpf_model_load_file("tests/fixtures/does-not-exist.fpf", NULL, &m, msg, sizeof msg) == FPF_ERR_IO);
    CHECK(strstr(msg, "cannot open") != NULL);
    CHECK(fpf_model_load_file("Makefile", NULL, &m, msg, sizeof msg) == FPF_ERR_MODEL_VERSION);
    CHECK(m == NULL);
}

/* ---------------------------------------------------------------- bad inputs and sizes */

TEST(bad_images_and_sizes) {
    fpf_model *m = tiny_model(FPF_VARIANT_FPF_CONCAT, 1, 7), *w = tiny_model(FPF_VARIANT_WITHOUT_NUCLEUS, 1, 7);
    static uint8_t img[64 * 80];
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    size_t need;
    CHECK(fpf_session_init(m, NULL, 0, 10, NULL, &s) == FPF_ERR_IMAGE_SIZE);
    CHECK(fpf_session_init(m, NULL, 10, FPF_MAX_IMAGE_DIM + 1, NULL, &s) == FPF_ERR_IMAGE_SIZE);
    CHECK(fpf_session_workspace_size(m, NULL, FPF_MAX_IMAGE_DIM / 4, FPF_MAX_IMAGE_DIM / 4, NULL, &need) == FPF_OK);
    CHECK(need > (size_t)FPF_MAX_IMAGE_DIM / 4 * (FPF_MAX_IMAGE_DIM / 4)); /* large but no overflow */
    CHECK(need <= FPF_MAX_WORKSPACE_BYTES);
    /* the largest side needs more than FPF_MAX_WORKSPACE_BYTES: refused, not overflowed */
    CHECK(fpf_session_workspace_size(m, NULL, FPF_MAX_IMAGE_DIM, FPF_MAX_IMAGE_DIM, NULL, &need) == FPF_ERR_OUT_OF_MEMORY);
    CHECK(need == 0);
    CHECK(fpf_session_init(m, w, 64, 80, NULL, &s) == FPF_ERR_MODEL_PAIR); /* not a cores model */
    CHECK(fpf_session_init(NULL, NULL, 64, 80, NULL, &s) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_init(m, NULL, 64, 80, NULL, &s) == FPF_OK);
    memset(&in, 0, sizeof in);
    in.cell = fpf_image_u8(img, 80, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);          /* FPF needs the nucleus */
    CHECK(strstr(fpf_session_message(s), "nucleus") != NULL);
    in.nucleus = fpf_image_u8(img, 79, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* sizes differ */
    in.nucleus = fpf_image_u8(img, 80, 64, 80);
    in.cell = fpf_image_u8(img, 81, 64, 81);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* wider than the session */
    in.cell = fpf_image_u8(img, 80, 64, 79);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);          /* stride < row */
    in.cell = fpf_image_u8(img, 0, 64, 80);
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_IMAGE_SIZE);           /* empty */
    in.cell = fpf_image_u8(img, 80, 64, 80); in.cell.bits = 12;
    CHECK(fpf_session_run(s, &in, &out) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_run(s, NULL, &out) == FPF_ERR_INVALID_ARG);
    CHECK(fpf_session_run(NULL, &in, &out) == FPF_ERR_INVALID_ARG);
    in.cell.bits = 8;
    CHECK(fpf_session_run(s, &in, &out) == FPF_OK);                       /* still usable after errors */
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(w);
}

/* A failed init has no session to ask: it says why in fpf_options.init_msg. */
TEST(session_init_failures_say_why) {
    fpf_model *m = tiny_model(FPF_VARIANT_CORES, 7, 7), *w = tiny_model(FPF_VARIANT_WITHOUT_NUCLEUS, 1, 7);
    fpf_options o;
    fpf_session *s = NULL;
    char msg[200], buf[256];
    int missing = FPF_ISA_AUTO, isa;
    for (isa = FPF_ISA_SCALAR; isa <= FPF_ISA_NEON; isa++) if (!fpf_isa_supported((fpf_isa)isa)) missing = isa;
    memset(&o, 0, sizeof o);
    o.init_msg = msg; o.init_msg_size = sizeof msg;
    if (missing != FPF_ISA_AUTO) { /* x86-64 lacks NEON, aarch64 lacks AVX2 */
        o.isa = missing; msg[0] = 0;
        CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_ERR_UNSUPPORTED_ISA && s == NULL);
        CHECK_MSG(strstr(msg, fpf_isa_name((fpf_isa)missing)) != NULL, "%s", msg);
        CHECK(strcmp(fpf_result_string(FPF_ERR_UNSUPPORTED_ISA), "unknown error") != 0);
    }
    o.isa = 99; msg[0] = 0;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_ERR_INVALID_ARG && strstr(msg, "isa"));
    o.isa = FPF_ISA_AUTO; msg[0] = 0;
    CHECK(fpf_session_init(w, w, 64, 64, &o, &s) == FPF_ERR_MODEL_PAIR && strstr(msg, "cores"));
    msg[0] = 0;
    CHECK(fpf_session_init(m, NULL, 0, 64, &o, &s) == FPF_ERR_IMAGE_SIZE && strstr(msg, "FPF_MAX_IMAGE_DIM"));
    msg[0] = 0;
    CHECK(fpf_session_init_preallocated(m, NULL, 64, 64, &o, buf, sizeof buf, &s) == FPF_ERR_OUT_OF_MEMORY);
    CHECK_MSG(strstr(msg, "256-byte buffer; the session needs ") != NULL, "%s", msg);
    msg[0] = 0; o.init_msg_size = 8;  /* truncated, terminated */
    CHECK(fpf_session_init(NULL, NULL, 64, 64, &o, &s) == FPF_ERR_INVALID_ARG && !strcmp(msg, "no mode"));
    o.init_msg_size = sizeof msg;
    CHECK(fpf_session_init(m, NULL, 64, 64, &o, &s) == FPF_OK);
    fpf_session_free(s);
    fpf_model_free(m); fpf_model_free(w);
}

int main(void) {
    RUN(bad_model_files);
    RUN(bad_files_on_disk);
    RUN(bad_images_and_sizes);
    RUN(session_init_failures_say_why);
    return harness_summary("bad input");
}
