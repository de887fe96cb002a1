/* tests/fuzz/fuzz_model.c - the .fpf loader, and a session run on whatever it accepts.
 *
 * First byte even: the rest is a whole file image (fpf_model_load_memory, and load_inplace on
 * an aligned copy). First byte odd: the rest is a list of 6-byte patches (u16 offset into the
 * header, config block and tensor table of a real micro model, u32 value) applied to that model;
 * the checksum is then recomputed, so the patches reach the config and table checks instead of
 * stopping at the checksum. Every accepted model runs once on a 64×64 image. */
#define FPF_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "fuzz.h"

static unsigned char *g_model; /* the micro model, built on first use */
static size_t g_size;

static void micro_config(fpf_config *c) {
    int i;
    fpf_config_paper(c, FPF_VARIANT_CORES);
    c->stem_width = 8;
    for (i = 0; i < 4; i++) { c->blocks[i] = 1; c->bottleneck[i] = 4; c->stage_out[i] = 16; }
    c->fpn_width = 8; c->rpn_width = 16; c->fc_width = 16; c->mask_width = 8;
    c->pre_nms_limit = 300; c->post_nms_rois = 40; c->det_max_instances = 20; c->det_min_confidence = 0.3f;
}

static void run_model(const fpf_model *m) {
    static uint8_t img[64 * 64 * 2];
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    int i;
    for (i = 0; i < 64 * 64 * 2; i++) img[i] = (uint8_t)((i * 37) ^ (i >> 6));
    if (fpf_session_init(m, NULL, 64, 64, NULL, &s) != FPF_OK) return;
    memset(&in, 0, sizeof in);
    in.cell = fpf_image_u8(img, 64, 64, 64);
    in.nucleus = fpf_image_u8(img + 64 * 64, 64, 64, 64);
    if (fpf_session_run(s, &in, &out) == FPF_OK)
        for (i = 0; i < out->n_cells; i++) {
            const fpf_instance *d = &out->cells[i];
            FUZZ_ASSERT(d->y1 >= 0 && d->x1 >= 0 && d->y2 <= 64 && d->x2 <= 64 && d->y1 < d->y2 && d->x1 < d->x2);
            FUZZ_ASSERT(d->score >= 0.0f && d->score <= 1.0f);
        }
    fpf_session_free(s);
}

static void try_load(const unsigned char *d, size_t n) {
    fpf_model *m = NULL;
    char msg[256];
    void *al = NULL;
    if (fpf_model_load_memory(d, n, NULL, &m, msg, sizeof msg) == FPF_OK) {
        run_model(m);
        fpf_model_free(m);
    } else {
        FUZZ_ASSERT(m == NULL && msg[0] != 0);
    }
    if (n && posix_memalign(&al, 64, n) == 0) {
        memcpy(al, d, n);
        m = NULL;
        if (fpf_model_load_inplace(al, n, NULL, &m, msg, sizeof msg) == FPF_OK) fpf_model_free(m);
        FUZZ_ASSERT(memcmp(al, d, n) == 0); /* in place never writes the caller's bytes */
        free(al);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!(data[0] & 1)) { try_load(data + 1, size - 1); return 0; }
    if (!g_model) {
        fpf_config c;
        micro_config(&c);
        g_model = (unsigned char *)fpf_seeded_file(&c, 1, 7, &g_size);
        if (!g_model) abort();
    }
    {
        unsigned char *f = (unsigned char *)malloc(g_size);
        size_t region = 320 + 128 * (size_t)(g_model[12] | g_model[13] << 8), k;
        memcpy(f, g_model, g_size);
        for (k = 1; k + 6 <= size && k < 1 + 6 * 16; k += 6) {
            size_t off = ((size_t)data[k] | (size_t)data[k + 1] << 8) % region;
            if (off == 24) continue; /* the checksum itself */
            if (off + 4 > g_size) continue;
            memcpy(f + (off & ~(size_t)3), data + k + 2, 4);
        }
        fpf_seeded_w64(f + 24, fpf_checksum(f, g_size));
        try_load(f, g_size);
        free(f);
    }
    return 0;
}
