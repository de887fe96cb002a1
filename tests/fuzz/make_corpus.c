/* tests/fuzz/make_corpus.c - writes the generated seed corpora of the fuzz harnesses (make fuzz
 * runs it; nothing of it is committed): build/fuzz/corpus/<target>/.
 *   model     the micro model of fuzz_model.c whole (mode 0), and patch lists (mode 1)
 *   inflate   zlib and raw streams of varied data (fpfi_zlib_compress), PNG IDAT and Deflate strips
 *   lzw, packbits   the strips of the LZW and PackBits TIFFs of tests/fixtures/image
 * The image, COCO, RLE and label corpora are files copied by tests/fuzz/make_corpus.sh. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include "fpf_seeded.h"
#include <stdio.h>

static const char *g_out;
static int g_n;

static void put(const char *target, unsigned char prefix, int use_prefix, const unsigned char *d, size_t n) {
    char p[512];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s/gen_%04d", g_out, target, g_n++);
    if (!(f = fopen(p, "wb"))) { perror(p); exit(1); }
    if (use_prefix) fputc(prefix, f);
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

/* The strips/tiles of every page of a TIFF, by compression. */
static void tiff_strips(const char *path) {
    unsigned char *d;
    size_t n;
    char err[256];
    fpfi__tiff t;
    uint64_t first;
    int page;
    if (fpfi_load_file(path, &d, &n, err, sizeof err)) return;
    t.d = d; t.n = n;
    if (fpfi__tiff_header(&t, &first, err, sizeof err) == 0)
        for (page = 0; page < 8; page++) {
            fpfi__tpage p;
            uint64_t i;
            if (fpfi__tiff_walk(&t, first, page, &p, NULL, err, sizeof err) < 0) break;
            for (i = 0; i < p.offsets.count && i < 4 && p.have_counts; i++) {
                uint64_t off = fpfi__tval(&t, &p.offsets, i), cnt = fpfi__tval(&t, &p.counts, i);
                unsigned char cap[2] = {0xFF, 0xFF};
                unsigned char *buf;
                if (off > n || cnt > n - off) continue;
                buf = (unsigned char *)malloc(cnt + 2);
                memcpy(buf, cap, 2); memcpy(buf + 2, d + off, cnt);
                if (p.compression == 5) put("lzw", 0, 0, buf, cnt + 2);
                if (p.compression == 32773) put("packbits", 0, 0, buf, cnt + 2);
                if (p.compression == 8 || p.compression == 32946) put("inflate", 0x1 | 0x10, 1, d + off, cnt);
                free(buf);
            }
        }
    free(d);
}

int main(int argc, char **argv) {
    int i, k;
    if (argc < 2) { fprintf(stderr, "usage: make_corpus OUTDIR [TIFF...]\n"); return 2; }
    g_out = argv[1];
    for (i = 2; i < argc; i++) tiff_strips(argv[i]);
    {   /* inflate: zlib (prefix odd) and raw (even) streams of text, runs, noise, gradients */
        static unsigned char buf[20000];
        for (k = 0; k < 6; k++) {
            unsigned char *z = NULL;
            size_t zn = 0, n = k == 0 ? 0 : (size_t)(137 << k);
            for (i = 0; i < (int)n; i++)
                buf[i] = (unsigned char)(k == 1 ? (unsigned char)"the quick brown fox "[i % 20] : k == 2 ? (i / 50) & 0xFF
                                          : k == 3 ? (i * 2654435761u) >> 24 : k == 4 ? i & 0xFF : 0);
            if (fpfi_zlib_compress(buf, n, &z, &zn) == 0) {
                put("inflate", (unsigned char)(0x1 | (k << 1)), 1, z, zn);
                if (zn > 6) put("inflate", (unsigned char)(k << 1), 1, z + 2, zn - 6); /* raw: no header, no Adler */
                free(z);
            }
        }
    }
    {   /* model: the micro model of fuzz_model.c (keep the two in step), and patch lists */
        fpf_config c;
        size_t n = 0;
        unsigned char *f, patch[1 + 6 * 4];
        fpf_config_paper(&c, FPF_VARIANT_CORES);
        c.stem_width = 8;
        for (i = 0; i < 4; i++) { c.blocks[i] = 1; c.bottleneck[i] = 4; c.stage_out[i] = 16; }
        c.fpn_width = 8; c.rpn_width = 16; c.fc_width = 16; c.mask_width = 8;
        c.pre_nms_limit = 300; c.post_nms_rois = 40; c.det_max_instances = 20; c.det_min_confidence = 0.3f;
        f = (unsigned char *)fpf_seeded_file(&c, 1, 7, &n);
        put("model", 0, 1, f, n);
        for (k = 0; k < 8; k++) {
            uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
            patch[0] = 1;
            for (i = 1; i < (int)sizeof patch; i++) { s ^= s >> 12; s ^= s << 25; s ^= s >> 27; patch[i] = (unsigned char)(s * 0x2545F4914F6CDD1Dull >> 56); }
            /* aim two of the patches at the config block (offsets 64..319), the rest anywhere */
            patch[1] = (unsigned char)(64 + 4 * k); patch[2] = 0;
            patch[7] = (unsigned char)(64 + 4 * (40 + k % 16)); patch[8] = 0;
            put("model", 0, 0, patch, sizeof patch);
        }
        free(f);
    }
    printf("make_corpus: %d generated seeds in %s\n", g_n, g_out);
    return 0;
}
