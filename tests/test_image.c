/* tests/test_image.c - examples/fpf_image.h: round trips, fixtures, real data, bad files.
 * Runs from the repo root (fixtures in tests/fixtures/image, real data in ../shared/data). */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void make_tmpdir(void) {
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fpf_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) tmpdir[0] = 0;
}

static void tmpfile_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

/* A deterministic test pattern that exercises every bit of each type. */
static double pattern(fpfi_type t, int x, int y) {
    uint32_t h = (uint32_t)x * 2654435761u ^ (uint32_t)y * 40503u ^ (uint32_t)(x * y);
    switch (t) {
    case FPFI_U8: return (double)(h >> 24);
    case FPFI_U16: return (double)(h >> 16);
    case FPFI_U32: return (double)h;
    case FPFI_S8: return (double)(int8_t)(h >> 24);
    case FPFI_S16: return (double)(int16_t)(h >> 16);
    case FPFI_S32: return (double)(int32_t)h;
    default: return (double)(float)((double)(int32_t)h / 65536.0);
    }
}

static void fill(fpfi_image *img, int w, int h, fpfi_type t) {
    int x, y;
    CHECK(fpfi_alloc(img, w, h, t) == 0);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            double v = pattern(t, x, y);
            switch (t) {
            case FPFI_U8: ((uint8_t *)img->pixels)[i] = (uint8_t)v; break;
            case FPFI_U16: ((uint16_t *)img->pixels)[i] = (uint16_t)v; break;
            case FPFI_U32: ((uint32_t *)img->pixels)[i] = (uint32_t)v; break;
            case FPFI_S8: ((int8_t *)img->pixels)[i] = (int8_t)v; break;
            case FPFI_S16: ((int16_t *)img->pixels)[i] = (int16_t)v; break;
            case FPFI_S32: ((int32_t *)img->pixels)[i] = (int32_t)v; break;
            default: ((float *)img->pixels)[i] = (float)v; break;
            }
        }
}

static int same_image(const fpfi_image *a, const fpfi_image *b) {
    return a->w == b->w && a->h == b->h && a->type == b->type &&
           memcmp(a->pixels, b->pixels, (size_t)a->w * a->h * fpfi_type_size(a->type)) == 0;
}

/* ---- round trips ------------------------------------------------------------------- */

TEST(roundtrip_tiff_all_types) {
    int t, s;
    static const int sizes[3][2] = {{1, 1}, {37, 29}, {256, 320}};
    make_tmpdir();
    for (t = FPFI_U8; t <= FPFI_F32; t++)
        for (s = 0; s < 3; s++) {
            fpfi_image a, b;
            char err[256], path[512];
            fill(&a, sizes[s][0], sizes[s][1], (fpfi_type)t);
            snprintf(path, sizeof path, "%s/rt_%d_%d.tif", tmpdir, t, s);
            CHECK_MSG(fpfi_write_tiff(path, &a, err, sizeof err) == 0, "%s", err);
            CHECK_MSG(fpfi_read(path, 0, 0, &b, err, sizeof err) == 0, "%s", err);
            CHECK_MSG(same_image(&a, &b), "type %s size %d", fpfi_type_name((fpfi_type)t), s);
            fpfi_free(&a);
            fpfi_free(&b);
        }
}

TEST(roundtrip_png_pgm_8_16) {
    int t, f;
    make_tmpdir();
    for (t = FPFI_U8; t <= FPFI_U16; t++)
        for (f = 0; f < 2; f++) {
            fpfi_image a, b;
            char err[256], path[512];
            fill(&a, 61, 47, (fpfi_type)t);
            snprintf(path, sizeof path, "%s/rt_%d.%s", tmpdir, t, f ? "pgm" : "png");
            CHECK_MSG((f ? fpfi_write_pgm : fpfi_write_png)(path, &a, err, sizeof err) == 0, "%s", err);
            CHECK_MSG(fpfi_read(path, 0, 0, &b, err, sizeof err) == 0, "%s", err);
            CHECK(same_image(&a, &b));
            fpfi_free(&a);
            fpfi_free(&b);
        }
}

TEST(png_pgm_refuse_other_types) {
    fpfi_image a;
    unsigned char *buf;
    size_t n;
    char err[256];
    fill(&a, 4, 4, FPFI_F32);
    CHECK(fpfi_encode(FPFI_FORMAT_PNG, &a, &buf, &n, err, sizeof err) != 0);
    CHECK(strstr(err, "float32") != NULL);
    CHECK(fpfi_encode(FPFI_FORMAT_PGM, &a, &buf, &n, err, sizeof err) != 0);
    fpfi_free(&a);
}

TEST(roundtrip_png_rgb) {
    unsigned char rgb[50 * 30 * 3];
    int i, s, ok = 1;
    char err[256], path[512];
    make_tmpdir();
    for (i = 0; i < 50 * 30 * 3; i++) rgb[i] = (unsigned char)((i * 37) ^ (i >> 3));
    tmpfile_path(path, sizeof path, "rgb.png");
    CHECK_MSG(fpfi_write_png_rgb(path, 50, 30, rgb, err, sizeof err) == 0, "%s", err);
    for (s = 0; s < 3; s++) {
        fpfi_image b;
        CHECK_MSG(fpfi_read(path, 0, s, &b, err, sizeof err) == 0, "%s", err);
        CHECK(b.w == 50 && b.h == 30 && b.type == FPFI_U8);
        for (i = 0; i < 50 * 30 && b.pixels; i++) ok &= ((uint8_t *)b.pixels)[i] == rgb[i * 3 + s];
        fpfi_free(&b);
    }
    CHECK(ok);
    {
        fpfi_image c;
        CHECK(fpfi_read(path, 0, 3, &c, err, sizeof err) != 0);
    }
}

TEST(written_tiff_has_imagej_description) {
    fpfi_image a;
    unsigned char *buf;
    size_t n;
    char err[256];
    fill(&a, 8, 8, FPFI_U16);
    CHECK(fpfi_encode(FPFI_FORMAT_TIFF, &a, &buf, &n, err, sizeof err) == 0);
    CHECK(n > 8 && memcmp(buf, "II*\0", 4) == 0);
    {
        size_t i;
        int found = 0;
        for (i = 0; i + 7 < n; i++) found |= memcmp(buf + i, "ImageJ=", 7) == 0;
        CHECK(found);
    }
    free(buf);
    fpfi_free(&a);
}

TEST(deflate_roundtrip) {
    /* compressor output must inflate back exactly: runs, noise, empty input */
    size_t n = 200000, i, got;
    unsigned char *src = (unsigned char *)malloc(n), *dst = (unsigned char *)malloc(n), *z;
    size_t zlen;
    char err[256];
    uint32_t r = 12345;
    for (i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        src[i] = i < n / 2 ? (unsigned char)(i / 1000) : (unsigned char)(r >> 24);
    }
    CHECK(fpfi_zlib_compress(src, n, &z, &zlen) == 0);
    CHECK(zlen < n);
    CHECK_MSG(fpfi_inflate(z, zlen, 1, dst, n, &got, err, sizeof err) == 0, "%s", err);
    CHECK(got == n && memcmp(src, dst, n) == 0);
    free(z);
    CHECK(fpfi_zlib_compress(src, 0, &z, &zlen) == 0);
    CHECK(fpfi_inflate(z, zlen, 1, dst, n, &got, err, sizeof err) == 0 && got == 0);
    free(z);
    /* a stored block (RFC 1951 3.2.4) */
    {
        static const unsigned char stored[] = {0x01, 0x03, 0x00, 0xFC, 0xFF, 'a', 'b', 'c'};
        CHECK(fpfi_inflate(stored, sizeof stored, 0, dst, n, &got, err, sizeof err) == 0);
        CHECK(got == 3 && memcmp(dst, "abc", 3) == 0);
    }
    CHECK(fpfi_crc32(0, (const unsigned char *)"123456789", 9) == 0xCBF43926UL);
    CHECK(fpfi_adler32(1, (const unsigned char *)"Wikipedia", 9) == 0x11E60398UL);
    free(src);
    free(dst);
}

/* ---- fixtures made with libtiff / PIL (tests/fixtures/image/make_fixtures.sh) ---------- */

#define FX "tests/fixtures/image/"

static double fx_value(const char *kind, int x, int y, int s) {
    if (strcmp(kind, "u8") == 0) return (x * 7 + y * 13 + s * 50) % 256;
    if (strcmp(kind, "u16") == 0) return (x * 331 + y * 1009) % 65536;
    if (strcmp(kind, "s32") == 0) return (double)(int32_t)((int64_t)x * 100003 - (int64_t)y * 7777777);
    if (strcmp(kind, "f32") == 0) return (x - 2 * y) * 0.375;
    {
        uint32_t h = (uint32_t)((uint64_t)x * 2654435761u + (uint64_t)y * 40503u);
        return strcmp(kind, "n8") == 0 ? (double)(h >> 24) : (double)(h >> 16);
    }
}

static int check_fixture(const char *file, int page, int sample, const char *kind, fpfi_type type, int w, int h) {
    fpfi_image img;
    char err[256], path[512];
    int x, y, bad = 0;
    snprintf(path, sizeof path, FX "%s", file);
    if (fpfi_read(path, page, sample, &img, err, sizeof err)) {
        printf("  %s: %s\n", file, err);
        return 0;
    }
    if (img.w != w || img.h != h || img.type != type) {
        printf("  %s: got %dx%d %s\n", file, img.w, img.h, fpfi_type_name(img.type));
        fpfi_free(&img);
        return 0;
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            if (fpfi_get(&img, (size_t)y * w + x) != fx_value(kind, x, y, sample)) bad++;
    if (bad) printf("  %s page %d sample %d: %d wrong pixels\n", file, page, sample, bad);
    fpfi_free(&img);
    return bad == 0;
}

TEST(tiff_fixture_variants) {
    CHECK(check_fixture("tif_u8_lzw_pred2.tif", 0, 0, "u8", FPFI_U8, 37, 29));
    CHECK(check_fixture("tif_u16_lzw_pred2_be.tif", 0, 0, "u16", FPFI_U16, 37, 29));
    CHECK(check_fixture("tif_u16_zip_pred2_bigtiff.tif", 0, 0, "u16", FPFI_U16, 37, 29));
    CHECK(check_fixture("tif_u16_bigtiff_be.tif", 0, 0, "u16", FPFI_U16, 37, 29));
    CHECK(check_fixture("tif_u8_packbits_tiles.tif", 0, 0, "u8", FPFI_U8, 37, 29));
    CHECK(check_fixture("tif_s32_zip_tiles_be.tif", 0, 0, "s32", FPFI_S32, 37, 29));
    CHECK(check_fixture("tif_f32_zip_pred3.tif", 0, 0, "f32", FPFI_F32, 37, 29));
    CHECK(check_fixture("tif_f32_lzw_pred3.tif", 0, 0, "f32", FPFI_F32, 37, 29));
    CHECK(check_fixture("tif_noise8_lzw.tif", 0, 0, "n8", FPFI_U8, 256, 64));
    CHECK(check_fixture("tif_noise8_packbits.tif", 0, 0, "n8", FPFI_U8, 256, 64));
    CHECK(check_fixture("tif_noise16_zip.tif", 0, 0, "n16", FPFI_U16, 256, 64));
}

TEST(tiff_fixture_samples_and_pages) {
    int s;
    for (s = 0; s < 3; s++) {
        CHECK(check_fixture("tif_rgb_planar_lzw.tif", 0, s, "u8", FPFI_U8, 37, 29));
        CHECK(check_fixture("tif_rgb_tiles_zip_pred2.tif", 0, s, "u8", FPFI_U8, 37, 29));
    }
    CHECK(check_fixture("tif_stack3.tif", 0, 0, "u8", FPFI_U8, 37, 29));
    CHECK(check_fixture("tif_stack3.tif", 1, 0, "u16", FPFI_U16, 37, 29));
    CHECK(check_fixture("tif_stack3.tif", 2, 0, "f32", FPFI_F32, 37, 29));
    {
        fpfi_info info;
        char err[256];
        fpfi_image img;
        CHECK(fpfi_info_read(FX "tif_stack3.tif", &info, err, sizeof err) == 0);
        CHECK(info.npages == 3 && info.pages[2].type == FPFI_F32 && info.pages[1].bits == 16);
        fpfi_info_free(&info);
        CHECK(fpfi_info_read(FX "tif_rgb_planar_lzw.tif", &info, err, sizeof err) == 0);
        CHECK(info.npages == 1 && info.pages[0].samples == 3 && info.pages[0].planar == 2);
        fpfi_info_free(&info);
        CHECK(fpfi_read(FX "tif_stack3.tif", 3, 0, &img, err, sizeof err) != 0);
        CHECK(strstr(err, "page 3 out of range") != NULL);
        CHECK(fpfi_read(FX "tif_rgb_planar_lzw.tif", 0, 3, &img, err, sizeof err) != 0);
        CHECK(strstr(err, "sample 3 out of range") != NULL);
    }
}

TEST(png_fixture_variants) {
    int s;
    fpfi_image img;
    char err[256];
    CHECK(check_fixture("png_gray8.png", 0, 0, "u8", FPFI_U8, 37, 29));
    CHECK(check_fixture("png_gray16_noise.png", 0, 0, "n16", FPFI_U16, 256, 64));
    for (s = 0; s < 3; s++) {
        CHECK(check_fixture("png_rgb8.png", 0, s, "u8", FPFI_U8, 37, 29));
        CHECK(check_fixture("png_rgba8.png", 0, s, "u8", FPFI_U8, 37, 29));
    }
    CHECK(check_fixture("png_la8.png", 0, 0, "u8", FPFI_U8, 37, 29));
    /* alpha of LA is 255 - gray; palette4 holds u8 % 16 as coloured indices; gray1 a checkerboard */
    CHECK(fpfi_read(FX "png_la8.png", 0, 1, &img, err, sizeof err) == 0);
    CHECK(img.pixels && fpfi_get(&img, 5) == 255 - fx_value("u8", 5, 0, 0));
    fpfi_free(&img);
    CHECK(fpfi_read(FX "png_palette4.png", 0, 0, &img, err, sizeof err) == 0);
    CHECK(img.pixels && fpfi_get(&img, 40) == (int)fx_value("u8", 3, 1, 0) % 16);
    fpfi_free(&img);
    CHECK(fpfi_read(FX "png_gray1.png", 0, 0, &img, err, sizeof err) == 0);
    CHECK(img.pixels && fpfi_get(&img, 0) == 1 && fpfi_get(&img, 1) == 0 && fpfi_get(&img, 37) == 0);
    fpfi_free(&img);
}

/* ---- real data in ../shared/data (read in place, never copied) ----------------------- */

TEST(shared_data_tiffs) {
    static const struct {
        const char *path;
        int pages, w, h, min, max;
        fpfi_type type;
    } files[] = {
        {"stardist_dsb2018_nuclei/img2d_256.tif", 1, 256, 256, 10, 255, FPFI_U8},
        {"stardist_dsb2018_nuclei/img2d_512.tif", 1, 512, 512, 0, 235, FPFI_U16},
        {"stardist_dsb2018_nuclei/mask2d_256.tif", 1, 256, 256, 0, 65, FPFI_U16},
        {"stardist_dsb2018_nuclei/mask2d_512.tif", 1, 512, 512, 0, 183, FPFI_U16},
        {"cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d0.tif", 1, 512, 512, 7, 255, FPFI_U8},
        {"cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d1.tif", 1, 512, 512, 7, 245, FPFI_U8},
        {"cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d2.tif", 1, 512, 512, 2, 255, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS002_D.TIF", 1, 1000, 1006, 0, 211, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS002_F.TIF", 1, 1000, 1006, 2, 172, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS002_R.TIF", 1, 1000, 1006, 4, 254, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS076_D.TIF", 1, 1000, 1006, 1, 250, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS076_F.TIF", 1, 1000, 1006, 3, 108, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS076_R.TIF", 1, 1000, 1006, 5, 255, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS218_D.TIF", 1, 1000, 1006, 0, 215, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS218_F.TIF", 1, 1000, 1006, 2, 169, FPFI_U8},
        {"cellprofiler_examples/ExampleFly/01_POS218_R.TIF", 1, 1000, 1006, 5, 255, FPFI_U8},
        {"instanseg_fluorescence_example/Fluorescence_example.tif", 2, 450, 450, 1, 244, FPFI_U8},
    };
    size_t i;
    FILE *probe = fopen("../shared/data/stardist_dsb2018_nuclei/img2d_256.tif", "rb");
    if (!probe) SKIP("../shared/data is absent");
    fclose(probe);
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512], err[256];
        fpfi_info info;
        int p;
        double mn = 1e300, mx = -1e300;
        snprintf(path, sizeof path, "../shared/data/%s", files[i].path);
        CHECK_MSG(fpfi_info_read(path, &info, err, sizeof err) == 0, "%s", err);
        CHECK_EQ_INT(info.npages, files[i].pages);
        for (p = 0; p < info.npages; p++) {
            fpfi_image img;
            size_t k;
            CHECK_MSG(fpfi_read(path, p, 0, &img, err, sizeof err) == 0, "%s", err);
            if (!img.pixels) continue;
            CHECK(img.w == files[i].w && img.h == files[i].h && img.type == files[i].type);
            for (k = 0; k < (size_t)img.w * img.h; k++) {
                double v = fpfi_get(&img, k);
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            fpfi_free(&img);
        }
        CHECK_MSG(mn == files[i].min && mx == files[i].max, "%s: range %g..%g", files[i].path, mn, mx);
        fpfi_info_free(&info);
    }
}

/* ---- bad files ------------------------------------------------------------------------ */

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, uint32_t v) { le16(p, v & 0xFFFF); le16(p + 2, v >> 16); }

/* A minimal little-endian TIFF: 10 IFD entries at offset 8, one strip at offset 134. */
enum { TIFF_DATA = 134 };
static size_t mk_tiff(unsigned char *b, uint32_t w, uint32_t h, int bps, int comp, const unsigned char *strip,
                      uint32_t n) {
    static const int tags[10] = {256, 257, 258, 259, 262, 273, 277, 278, 279, 339};
    uint32_t vals[10];
    int i;
    vals[0] = w; vals[1] = h; vals[2] = (uint32_t)bps; vals[3] = (uint32_t)comp; vals[4] = 1;
    vals[5] = TIFF_DATA; vals[6] = 1; vals[7] = h; vals[8] = n; vals[9] = 1;
    memcpy(b, "II*\0", 4);
    le32(b + 4, 8);
    le16(b + 8, 10);
    for (i = 0; i < 10; i++) {
        unsigned char *e = b + 10 + i * 12;
        le16(e, (unsigned)tags[i]);
        le16(e + 2, 4); /* LONG */
        le32(e + 4, 1);
        le32(e + 8, vals[i]);
    }
    le32(b + 10 + 120, 0);
    memcpy(b + TIFF_DATA, strip, n);
    return TIFF_DATA + n;
}

static int read_fails_with(const unsigned char *buf, size_t n, const char *needle) {
    fpfi_image img;
    char err[256] = "";
    int rc = fpfi_read_memory(buf, n, 0, 0, &img, err, sizeof err);
    if (rc == 0) {
        fpfi_free(&img);
        printf("  expected failure '%s', read succeeded\n", needle);
        return 0;
    }
    if (!strstr(err, needle)) {
        printf("  expected '%s', got '%s'\n", needle, err);
        return 0;
    }
    return img.pixels == NULL;
}

TEST(bad_tiff_structure) {
    static unsigned char b[4096], px[64];
    size_t n;
    memset(px, 7, sizeof px);
    n = mk_tiff(b, 8, 8, 8, 1, px, 64);
    {
        fpfi_image img;
        char err[256];
        CHECK_MSG(fpfi_read_memory(b, n, 0, 0, &img, err, sizeof err) == 0, "%s", err); /* the template is valid */
        fpfi_free(&img);
    }
    CHECK(read_fails_with(b, 0, "unknown image format"));
    CHECK(read_fails_with(b, 5, "truncated TIFF header"));
    CHECK(read_fails_with(b, 60, "truncated IFD"));
    le32(b + 4, 100000); /* first IFD beyond the end */
    CHECK(read_fails_with(b, n, "IFD offset 100000 outside the file"));
    le32(b + 4, 8);
    le32(b + 10 + 5 * 12 + 8, 5000); /* StripOffsets beyond the end */
    CHECK(read_fails_with(b, n, "truncated strip data at offset 5000"));
    n = mk_tiff(b, 8, 8, 8, 1, px, 64);
    CHECK(read_fails_with(b, n - 10, "truncated strip data at offset 134")); /* file cut inside the strip */
    le32(b + 10 + 8 * 12 + 8, 40); /* StripByteCounts smaller than the image */
    CHECK(read_fails_with(b, n, "truncated strip data"));
    n = mk_tiff(b, 8, 8, 8, 1, px, 64);
    le32(b + 10 + 120, 8); /* next IFD = this IFD: a loop */
    {
        fpfi_info info;
        fpfi_image img;
        char err[256];
        CHECK(fpfi_info_memory(b, n, &info, err, sizeof err) != 0 && strstr(err, "loops") != NULL);
        CHECK(fpfi_read_memory(b, n, 1, 0, &img, err, sizeof err) != 0 && strstr(err, "loops") != NULL);
    }
    b[2] = 44; /* neither 42 nor 43 */
    CHECK(read_fails_with(b, n, "unsupported TIFF version 44"));
}

TEST(bad_tiff_values) {
    static unsigned char b[4096], px[64];
    size_t n;
    memset(px, 7, sizeof px);
    n = mk_tiff(b, 100000, 8, 8, 1, px, 64);
    CHECK(read_fails_with(b, n, "image too large (100000 x 8 exceeds limit)"));
    n = mk_tiff(b, 60000, 60000, 16, 1, px, 64);
    CHECK(read_fails_with(b, n, "image too large (60000 x 60000 exceeds limit)"));
    n = mk_tiff(b, 0, 8, 8, 1, px, 64);
    CHECK(read_fails_with(b, n, "zero size"));
    n = mk_tiff(b, 8, 8, 12, 1, px, 64);
    CHECK(read_fails_with(b, n, "unsupported BitsPerSample 12"));
    n = mk_tiff(b, 8, 8, 8, 7, px, 64);
    CHECK(read_fails_with(b, n, "unsupported TIFF compression 7"));
    n = mk_tiff(b, 8, 8, 8, 1, px, 64);
    le32(b + 10 + 9 * 12 + 8, 9); /* SampleFormat 9 */
    CHECK(read_fails_with(b, n, "unsupported SampleFormat 9"));
    n = mk_tiff(b, 8, 8, 64, 1, px, 64);
    CHECK(read_fails_with(b, n, "unsupported BitsPerSample 64"));
}

/* MSB-first 9-bit LZW codes. */
static size_t lzw_codes(unsigned char *out, const int *codes, int n) {
    uint32_t acc = 0;
    int bits = 0, i;
    size_t k = 0;
    for (i = 0; i < n; i++) {
        acc = (acc << 9) | (uint32_t)codes[i];
        bits += 9;
        while (bits >= 8) { out[k++] = (unsigned char)(acc >> (bits - 8)); bits -= 8; }
    }
    if (bits) out[k++] = (unsigned char)(acc << (8 - bits));
    return k;
}

TEST(bad_tiff_compressed_data) {
    static unsigned char b[4096], s[256];
    size_t n, k;
    static const int out_of_range[] = {256, 65, 300, 257};
    static const int short_stream[] = {256, 65, 66, 258};
    static const int good[] = {256, 65, 258, 259, 260, 261, 262, 263, 264, 265, 257};
    fpfi_image img;
    char err[256];
    /* a valid LZW strip first: 'A' then growing runs of 'A' (KwKwK codes) */
    k = lzw_codes(s, good, 11);
    n = mk_tiff(b, 8, 1, 8, 5, s, (uint32_t)k);
    CHECK_MSG(fpfi_read_memory(b, n, 0, 0, &img, err, sizeof err) == 0, "%s", err);
    CHECK(img.pixels && ((unsigned char *)img.pixels)[7] == 'A');
    fpfi_free(&img);
    k = lzw_codes(s, out_of_range, 4);
    n = mk_tiff(b, 8, 8, 8, 5, s, (uint32_t)k);
    CHECK(read_fails_with(b, n, "LZW code out of range"));
    k = lzw_codes(s, short_stream, 4);
    n = mk_tiff(b, 8, 8, 8, 5, s, (uint32_t)k);
    CHECK(read_fails_with(b, n, "truncated LZW data"));
    /* PackBits: a literal run of 100 bytes with only 3 present */
    s[0] = 99; s[1] = 1; s[2] = 2; s[3] = 3;
    n = mk_tiff(b, 8, 8, 8, 32773, s, 4);
    CHECK(read_fails_with(b, n, "PackBits"));
    /* PackBits that decodes to too few bytes */
    s[0] = (unsigned char)-9; s[1] = 5; /* 10 x 5 */
    n = mk_tiff(b, 8, 8, 8, 32773, s, 2);
    CHECK(read_fails_with(b, n, "decodes to 10 bytes, expected 64"));
    /* Deflate: bad zlib header, truncated stream, wrong checksum */
    s[0] = 0x12; s[1] = 0x34;
    n = mk_tiff(b, 8, 8, 8, 8, s, 8);
    CHECK(read_fails_with(b, n, "zlib"));
    {
        unsigned char px[64], *z;
        size_t zl;
        memset(px, 9, 64);
        CHECK(fpfi_zlib_compress(px, 64, &z, &zl) == 0);
        n = mk_tiff(b, 8, 8, 8, 8, z, (uint32_t)zl - 6);
        CHECK(read_fails_with(b, n, "truncated deflate data"));
        z[zl - 1] ^= 1;
        n = mk_tiff(b, 8, 8, 8, 8, z, (uint32_t)zl);
        CHECK(read_fails_with(b, n, "Adler-32"));
        free(z);
        /* more output than the strip needs is cut off, never written past the buffer */
        {
            unsigned char big[4096];
            memset(big, 3, sizeof big);
            CHECK(fpfi_zlib_compress(big, sizeof big, &z, &zl) == 0);
            n = mk_tiff(b, 8, 8, 8, 8, z, (uint32_t)zl);
            CHECK(fpfi_read_memory(b, n, 0, 0, &img, err, sizeof err) == 0);
            CHECK(img.pixels && ((unsigned char *)img.pixels)[63] == 3);
            fpfi_free(&img);
            free(z);
        }
    }
}

/* Build a PNG from raw (already filtered) scanlines. */
static size_t mk_png(unsigned char *out, uint32_t w, uint32_t h, int depth, int ctype, int interlace,
                     const unsigned char *raw, size_t rawlen) {
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char ihdr[13], *z;
    size_t zl, k = 0;
    memcpy(out, sig, 8);
    k = 8;
    ihdr[0] = (unsigned char)(w >> 24); ihdr[1] = (unsigned char)(w >> 16); ihdr[2] = (unsigned char)(w >> 8);
    ihdr[3] = (unsigned char)w;
    ihdr[4] = (unsigned char)(h >> 24); ihdr[5] = (unsigned char)(h >> 16); ihdr[6] = (unsigned char)(h >> 8);
    ihdr[7] = (unsigned char)h;
    ihdr[8] = (unsigned char)depth; ihdr[9] = (unsigned char)ctype;
    ihdr[10] = ihdr[11] = 0; ihdr[12] = (unsigned char)interlace;
#define CHUNK(type, data, len)                                                          \
    do {                                                                                \
        uint32_t L_ = (uint32_t)(len), c_;                                              \
        out[k] = (unsigned char)(L_ >> 24); out[k + 1] = (unsigned char)(L_ >> 16);     \
        out[k + 2] = (unsigned char)(L_ >> 8); out[k + 3] = (unsigned char)L_;          \
        memcpy(out + k + 4, type, 4);                                                   \
        if (L_) memcpy(out + k + 8, data, L_);                                          \
        c_ = (uint32_t)fpfi_crc32(0, out + k + 4, L_ + 4);                              \
        out[k + 8 + L_] = (unsigned char)(c_ >> 24); out[k + 9 + L_] = (unsigned char)(c_ >> 16); \
        out[k + 10 + L_] = (unsigned char)(c_ >> 8); out[k + 11 + L_] = (unsigned char)c_; \
        k += 12 + L_;                                                                   \
    } while (0)
    CHUNK("IHDR", ihdr, 13);
    if (raw) {
        fpfi_zlib_compress(raw, rawlen, &z, &zl);
        CHUNK("IDAT", z, zl);
        free(z);
    }
    CHUNK("IEND", "", 0);
#undef CHUNK
    return k;
}

TEST(bad_png) {
    static unsigned char b[1 << 16], raw[8 * 9];
    size_t n;
    fpfi_image img;
    char err[256];
    memset(raw, 0, sizeof raw);
    n = mk_png(b, 8, 8, 8, 0, 0, raw, 8 * 9);
    CHECK_MSG(fpfi_read_memory(b, n, 0, 0, &img, err, sizeof err) == 0, "%s", err);
    fpfi_free(&img);
    CHECK(read_fails_with(b, 6, "unknown image format"));
    CHECK(read_fails_with(b, 20, "truncated PNG chunk"));
    CHECK(read_fails_with(b, n - 12, "truncated PNG chunk")); /* IEND missing */
    b[20] ^= 1;
    CHECK(read_fails_with(b, n, "IHDR CRC mismatch"));
    b[20] ^= 1;
    n = mk_png(b, 8, 8, 8, 0, 1, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "interlaced"));
    n = mk_png(b, 8, 8, 12, 0, 0, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "unsupported PNG colour type 0 with bit depth 12"));
    n = mk_png(b, 8, 8, 8, 3, 0, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "without a valid PLTE"));
    n = mk_png(b, 8, 8, 8, 0, 0, NULL, 0);
    CHECK(read_fails_with(b, n, "no image data"));
    n = mk_png(b, 8, 8, 8, 0, 0, raw, 8 * 5);
    CHECK(read_fails_with(b, n, "truncated PNG image data"));
    raw[9] = 7; /* filter type 7 in row 1 */
    n = mk_png(b, 8, 8, 8, 0, 0, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "bad PNG filter type 7 in row 1"));
    n = mk_png(b, 70000, 8, 8, 0, 0, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "image too large (70000 x 8 exceeds limit)"));
    n = mk_png(b, 0, 8, 8, 0, 0, raw, 8 * 9);
    CHECK(read_fails_with(b, n, "zero size"));
}

TEST(png_decompression_bombs) {
    static unsigned char b[1 << 18];
    unsigned char *raw;
    size_t n, rawlen = (size_t)2000 * 2001;
    /* declared 20000 x 20000 with a few hundred bytes of data: refused before allocating */
    raw = (unsigned char *)calloc(rawlen, 1);
    n = mk_png(b, 20000, 20000, 8, 0, 0, raw, 1000);
    CHECK(read_fails_with(b, n, "decompression bomb"));
    /* 4 MB of zeros squeezed into ~25 KB, declared as 100 x 100: the inflater stops at
     * the declared size instead of producing all of it */
    n = mk_png(b, 100, 100, 8, 0, 0, raw, rawlen);
    CHECK(n < sizeof b);
    CHECK(read_fails_with(b, n, "larger than its size"));
    free(raw);
}

TEST(bad_pgm) {
    static unsigned char b[256];
    fpfi_image img;
    char err[256];
    int n = snprintf((char *)b, sizeof b, "P5\n# comment\n4 2\n255\n");
    memset(b + n, 5, 8);
    CHECK_MSG(fpfi_read_memory(b, (size_t)n + 8, 0, 0, &img, err, sizeof err) == 0, "%s", err);
    CHECK(img.w == 4 && img.h == 2 && img.type == FPFI_U8);
    fpfi_free(&img);
    CHECK(read_fails_with(b, (size_t)n + 7, "truncated PGM data"));
    CHECK(read_fails_with(b, 6, "PGM header"));
    n = snprintf((char *)b, sizeof b, "P5 4 2 70000\n");
    CHECK(read_fails_with(b, (size_t)n, "maxval 70000"));
    n = snprintf((char *)b, sizeof b, "P5 100000 2 255\n");
    CHECK(read_fails_with(b, (size_t)n, "image too large"));
    n = snprintf((char *)b, sizeof b, "P2 4 2 255\n1 2 3 4 5 6 7 8\n");
    CHECK(read_fails_with(b, (size_t)n, "unsupported Netpbm variant P2"));
    n = snprintf((char *)b, sizeof b, "P5 4 2 65535\n");
    memset(b + n, 0, 15);
    CHECK(read_fails_with(b, (size_t)n + 15, "truncated PGM data"));
}

/* Every prefix and many single-byte corruptions of valid files must fail cleanly or
 * decode; never crash or read out of bounds (run under -fsanitize=address to see). */
TEST(truncation_and_corruption_never_crash) {
    static const char *files[] = {FX "tif_u16_lzw_pred2_be.tif", FX "tif_u8_packbits_tiles.tif",
                                  FX "tif_u16_zip_pred2_bigtiff.tif", FX "tif_rgb_planar_lzw.tif",
                                  FX "tif_f32_zip_pred3.tif", FX "png_rgba8.png", FX "png_palette4.png"};
    size_t f;
    int failures = 0;
    for (f = 0; f < sizeof files / sizeof files[0]; f++) {
        unsigned char *d, *c;
        size_t n, cut, i;
        char err[256];
        uint32_t r = 99;
        CHECK(fpfi_load_file(files[f], &d, &n, err, sizeof err) == 0);
        if (!d) continue;
        for (cut = 0; cut < n; cut += 1 + cut / 16) {
            fpfi_image img;
            c = (unsigned char *)malloc(cut ? cut : 1); /* exact-size copy: ASan sees overreads */
            memcpy(c, d, cut);
            if (fpfi_read_memory(c, cut, 0, 0, &img, err, sizeof err) == 0) {
                fpfi_free(&img);
                failures++; /* a truncated file must not decode */
            }
            free(c);
        }
        c = (unsigned char *)malloc(n);
        for (i = 0; i < 400; i++) {
            fpfi_image img;
            fpfi_info info;
            memcpy(c, d, n);
            r = r * 1664525u + 1013904223u;
            c[(r >> 8) % n] ^= (unsigned char)(1u << (r % 8));
            r = r * 1664525u + 1013904223u;
            c[(r >> 8) % n] = (unsigned char)(r >> 24);
            if (fpfi_read_memory(c, n, 0, 0, &img, err, sizeof err) == 0) fpfi_free(&img);
            if (fpfi_info_memory(c, n, &info, err, sizeof err) == 0) fpfi_info_free(&info);
        }
        free(c);
        free(d);
    }
    CHECK_EQ_INT(failures, 0);
}

/* ---- atomic writes ------------------------------------------------------------------- */

static int count_files(const char *dir, const char *substr) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, substr) != NULL;
    closedir(d);
    return n;
}

TEST(atomic_write) {
    fpfi_image a, b;
    char err[256], path[512], sub[300];
    make_tmpdir();
    fill(&a, 20, 10, FPFI_U16);
    snprintf(sub, sizeof sub, "%s/atomic", tmpdir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(path, sizeof path, "%s/out.tif", sub);
    /* replaces an existing file completely */
    {
        FILE *f = fopen(path, "wb");
        fputs("old contents that are not an image", f);
        fclose(f);
    }
    CHECK(fpfi_write_tiff(path, &a, err, sizeof err) == 0);
    CHECK(fpfi_read(path, 0, 0, &b, err, sizeof err) == 0 && same_image(&a, &b));
    fpfi_free(&b);
    CHECK_EQ_INT(count_files(sub, ".tmp"), 0);
    /* a failing write (bad type for PNG, missing directory) leaves nothing behind */
    snprintf(path, sizeof path, "%s/out.png", sub);
    a.type = FPFI_S16;
    CHECK(fpfi_write_png(path, &a, err, sizeof err) != 0);
    a.type = FPFI_U16;
    CHECK(fopen(path, "rb") == NULL);
    snprintf(path, sizeof path, "%s/no/such/dir/out.png", sub);
    CHECK(fpfi_write_png(path, &a, err, sizeof err) != 0);
    CHECK(strstr(err, "cannot create") != NULL);
    CHECK_EQ_INT(count_files(sub, ".tmp"), 0);
    fpfi_free(&a);
}

/* ---- the inspection CLI -------------------------------------------------------------- */

TEST(imageinfo_cli_json) {
    FILE *p;
    char out[4096];
    size_t n;
    if (access("build/fpf_imageinfo", X_OK) != 0) SKIP("build/fpf_imageinfo not built");
    p = popen("build/fpf_imageinfo " FX "tif_stack3.tif --json", "r");
    CHECK(p != NULL);
    if (!p) return;
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CHECK(pclose(p) == 0);
    CHECK(strstr(out, "{\"pages\": [{\"width\": 37, \"height\": 29, \"samples\": 1, \"bits\": 8, \"format\": "
                      "\"uint\", \"min\": 0, \"max\": 255, \"sum\": 136436") != NULL);
    CHECK(strstr(out, "\"bits\": 16, \"format\": \"uint\", \"min\": 0, \"max\": 40168, \"sum\": 21550132") != NULL);
    CHECK(strstr(out, "\"format\": \"float\", \"min\": -21, \"max\": 13.5, \"sum\": -4023.75") != NULL);
    p = popen("build/fpf_imageinfo " FX "tif_rgb_planar_lzw.tif", "r");
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    pclose(p);
    CHECK(strstr(out, "sample 2: min=0 max=255 sum=136728") != NULL);
    p = popen("build/fpf_imageinfo /nonexistent.tif 2>/dev/null", "r");
    CHECK(pclose(p) != 0);
}

int main(void) {
    RUN(roundtrip_tiff_all_types);
    RUN(roundtrip_png_pgm_8_16);
    RUN(png_pgm_refuse_other_types);
    RUN(roundtrip_png_rgb);
    RUN(written_tiff_has_imagej_description);
    RUN(deflate_roundtrip);
    RUN(tiff_fixture_variants);
    RUN(tiff_fixture_samples_and_pages);
    RUN(png_fixture_variants);
    RUN(shared_data_tiffs);
    RUN(bad_tiff_structure);
    RUN(bad_tiff_values);
    RUN(bad_tiff_compressed_data);
    RUN(bad_png);
    RUN(png_decompression_bombs);
    RUN(bad_pgm);
    RUN(truncation_and_corruption_never_crash);
    RUN(atomic_write);
    RUN(imageinfo_cli_json);
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    }
    return harness_summary("image");
}
