/* examples/fpf_imageinfo.c - list every page and sample of a TIFF, PNG or PGM file.
 *
 *   build/fpf_imageinfo FILE [--json]
 *
 * Text mode prints one line per page and one per sample: width, height, samples per
 * pixel, bits, sample format, minimum, maximum and the sum of values. --json prints one
 * object: {"pages": [{"width": W, "height": H, "samples": S, "bits": B,
 * "format": "uint"|"int"|"float", "min": x, "max": x, "sum": x,
 * "channels": [{"min": x, "max": x, "sum": x}, ...]}]}
 * where min/max/sum of a page cover all its samples. Integer sums are exact (64-bit);
 * float sums are compensated (Neumaier) double sums. Exit status 0 on success, 1 on a
 * bad file, 2 on bad usage. */
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stats {
    int is_float, is_signed;
    double fmin, fmax, fsum, fcomp; /* float: Neumaier-compensated sum */
    int64_t imin, imax, isum;       /* signed integers */
    uint64_t umin, umax, usum;      /* unsigned integers */
    int empty;
} stats;

static void stats_init(stats *s, fpfi_type t) {
    memset(s, 0, sizeof *s);
    s->is_float = t == FPFI_F32;
    s->is_signed = t == FPFI_S8 || t == FPFI_S16 || t == FPFI_S32;
    s->empty = 1;
}

/* Neumaier's compensated summation: fcomp collects the low-order bits lost in fsum. */
static void neumaier(stats *s, double v) {
    double t = s->fsum + v;
    s->fcomp += (s->fsum >= v || s->fsum <= -v) ? (s->fsum - t) + v : (v - t) + s->fsum;
    s->fsum = t;
}

static void stats_add_float(stats *s, double v) {
    if (s->empty || v < s->fmin) s->fmin = v;
    if (s->empty || v > s->fmax) s->fmax = v;
    neumaier(s, v);
    s->empty = 0;
}

static void stats_add_image(stats *s, const fpfi_image *img) {
    size_t i, n = (size_t)img->w * img->h;
    for (i = 0; i < n; i++) {
        double v = fpfi_get(img, i); /* exact for every integer type up to 32 bits */
        if (s->is_float) {
            stats_add_float(s, v);
        } else if (s->is_signed) {
            int64_t x = (int64_t)v;
            if (s->empty || x < s->imin) s->imin = x;
            if (s->empty || x > s->imax) s->imax = x;
            s->isum += x;
            s->empty = 0;
        } else {
            uint64_t x = (uint64_t)v;
            if (s->empty || x < s->umin) s->umin = x;
            if (s->empty || x > s->umax) s->umax = x;
            s->usum += x;
            s->empty = 0;
        }
    }
}

static void stats_merge(stats *into, const stats *s) {
    if (s->empty) return;
    if (into->is_float) {
        if (into->empty || s->fmin < into->fmin) into->fmin = s->fmin;
        if (into->empty || s->fmax > into->fmax) into->fmax = s->fmax;
        neumaier(into, s->fsum);
        neumaier(into, s->fcomp);
    } else if (into->is_signed) {
        if (into->empty || s->imin < into->imin) into->imin = s->imin;
        if (into->empty || s->imax > into->imax) into->imax = s->imax;
        into->isum += s->isum;
    } else {
        if (into->empty || s->umin < into->umin) into->umin = s->umin;
        if (into->empty || s->umax > into->umax) into->umax = s->umax;
        into->usum += s->usum;
    }
    into->empty = 0;
}

/* "min": x, "max": x, "sum": x with the separator given. */
static void stats_print(const stats *s, const char *sep, int json) {
    const char *q = json ? "\"" : "";
    const char *c = json ? ": " : "=";
    if (s->is_float)
        printf("%smin%s%s%.9g%s%smax%s%s%.9g%s%ssum%s%s%.17g", q, q, c, s->fmin, sep, q, q, c, s->fmax, sep, q, q, c,
               s->fsum + s->fcomp);
    else if (s->is_signed)
        printf("%smin%s%s%lld%s%smax%s%s%lld%s%ssum%s%s%lld", q, q, c, (long long)s->imin, sep, q, q, c,
               (long long)s->imax, sep, q, q, c, (long long)s->isum);
    else
        printf("%smin%s%s%llu%s%smax%s%s%llu%s%ssum%s%s%llu", q, q, c, (unsigned long long)s->umin, sep, q, q, c,
               (unsigned long long)s->umax, sep, q, q, c, (unsigned long long)s->usum);
}

static const char *compression_name(int c) {
    switch (c) {
    case 1: return "none";
    case 5: return "LZW";
    case 8: case 32946: return "deflate";
    case 32773: return "PackBits";
    default: return "?";
    }
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int json = 0, i, p, rc = 0;
    unsigned char *data;
    size_t size;
    fpfi_info info;
    char err[512];
    stats *per = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) path = NULL, i = argc;
        else if (!path) path = argv[i];
        else { path = NULL; break; }
    }
    if (!path) {
        fprintf(stderr, "usage: fpf_imageinfo FILE [--json]\n"
                        "  lists every page and sample of a TIFF, PNG or PGM file\n");
        return 2;
    }
    if (fpfi_load_file(path, &data, &size, err, sizeof err)) {
        fprintf(stderr, "fpf_imageinfo: %s: %s\n", path, err);
        return 1;
    }
    if (fpfi_info_memory(data, size, &info, err, sizeof err)) {
        fprintf(stderr, "fpf_imageinfo: %s: %s\n", path, err);
        free(data);
        return 1;
    }
    if (json) printf("{\"pages\": [");
    else printf("%s: %s%s, %s-endian, %d page%s\n", path,
                info.format == FPFI_FORMAT_TIFF ? "TIFF" : info.format == FPFI_FORMAT_PNG ? "PNG" : "PGM",
                info.bigtiff ? " (BigTIFF)" : "", info.big_endian ? "big" : "little", info.npages,
                info.npages == 1 ? "" : "s");
    for (p = 0; p < info.npages; p++) {
        const fpfi_page_info *pg = &info.pages[p];
        stats all;
        int s;
        stats *grown = (stats *)realloc(per, (size_t)pg->samples * sizeof *per);
        if (!grown) { fprintf(stderr, "fpf_imageinfo: out of memory\n"); rc = 1; break; }
        per = grown;
        stats_init(&all, pg->type);
        for (s = 0; s < pg->samples; s++) {
            fpfi_image img;
            if (fpfi_read_memory(data, size, p, s, &img, err, sizeof err)) {
                fprintf(stderr, "fpf_imageinfo: %s: page %d sample %d: %s\n", path, p, s, err);
                rc = 1;
                break;
            }
            stats_init(&per[s], pg->type);
            stats_add_image(&per[s], &img);
            stats_merge(&all, &per[s]);
            fpfi_free(&img);
        }
        if (rc) break;
        if (json) {
            printf("%s{\"width\": %d, \"height\": %d, \"samples\": %d, \"bits\": %d, \"format\": \"%s\", ",
                   p ? ", " : "", pg->width, pg->height, pg->samples, pg->bits, fpfi_type_format(pg->type));
            stats_print(&all, ", ", 1);
            printf(", \"channels\": [");
            for (s = 0; s < pg->samples; s++) {
                printf("%s{", s ? ", " : "");
                stats_print(&per[s], ", ", 1);
                printf("}");
            }
            printf("]}");
        } else {
            printf("page %d: %d x %d, %d sample%s, %d-bit %s (%s), %s%s%s%s\n", p, pg->width, pg->height, pg->samples,
                   pg->samples == 1 ? "" : "s", pg->bits, fpfi_type_format(pg->type), fpfi_type_name(pg->type),
                   compression_name(pg->compression), pg->tiled ? ", tiled" : "",
                   pg->samples > 1 ? (pg->planar == 2 ? ", planar" : ", contiguous") : "",
                   pg->palette ? ", palette" : "");
            for (s = 0; s < pg->samples; s++) {
                printf("  sample %d: ", s);
                stats_print(&per[s], " ", 0);
                printf("\n");
            }
        }
    }
    if (json) printf("]}\n");
    free(per);
    free(data);
    fpfi_info_free(&info);
    return rc;
}
