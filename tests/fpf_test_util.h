/* tests/fpf_test_util.h - what the fpf.h tests share: tiny seeded models, a synthetic image pair,
 * and a bare conv for the kernel-level checks. Include after fpf.h (with its implementation),
 * fpf_seeded.h and harness.h. */
#ifndef FPF_TEST_UTIL_H
#define FPF_TEST_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "tiny" config model of variant v from the seeds, loaded from memory (packed in its copy). */
static inline fpf_model *tiny_model(fpf_variant v, uint64_t seed, uint64_t nseed) {
    fpf_config c;
    size_t n = 0;
    char msg[200];
    fpf_model *m = NULL;
    void *f;
    fpf_seeded_config(&c, "tiny", v);
    f = fpf_seeded_file(&c, seed, nseed, &n);
    if (fpf_model_load_memory(f, n, NULL, &m, msg, sizeof msg) != FPF_OK) printf("  load: %s\n", msg);
    free(f);
    return m;
}

/* A synthetic pair: bright nuclei inside dimmer cells on a dark background. */
static inline void make_images(int h, int w, uint8_t *cell, uint8_t *nuc) {
    int y, x, k;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int c = 12 + (x * 7 + y * 13) % 9, n = 5 + (x * 3 + y * 5) % 7;
            for (k = 0; k < 4; k++) {
                int cy = 20 + 37 * k % (h - 20), cx = 25 + 53 * k % (w - 25);
                int d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                if (d2 < 300) c = 150 + k * 10;
                if (d2 < 60) n = 220;
            }
            cell[y * w + x] = (uint8_t)c;
            nuc[y * w + x] = (uint8_t)n;
        }
}

static inline fpf_input make_input(const uint8_t *cell, const uint8_t *nuc, int h, int w) {
    fpf_input in;
    memset(&in, 0, sizeof in);
    in.cell = fpf_image_u8(cell, w, h, (size_t)w);
    in.nucleus = fpf_image_u8(nuc, w, h, (size_t)w);
    return in;
}

static inline fpf__conv make_conv(float *w, float *b, int kh, int cin, int cout) {
    fpf__conv k;
    memset(&k, 0, sizeof k); /* q = NULL (not int8), wp = NULL (not packed): the f32 reference */
    k.w = w; k.b = b; k.kh = k.kw = kh; k.cin = cin; k.cout = cout;
    return k;
}

#endif
