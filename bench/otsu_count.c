/* bench/otsu_count.c - the plain baseline count of weights/RESULTS.md ("Real images"): objects of one
 * channel found by a global Otsu threshold and connected components, nothing else (no smoothing, no
 * splitting of touching objects). It is what a first CellProfiler pipeline with default settings gives,
 * and it is the number the models' counts are compared with on the unlabelled real images.
 *
 *   cc -O2 -std=c99 -I. -Iexamples bench/otsu_count.c -o build/otsu_count -lm
 *   build/otsu_count IMAGE [--page P] [--min-area A]      prints: count threshold foreground_fraction
 *
 * Foreground is value > t (fpf_threshold, FPF_THRESHOLD_OTSU on the 8- or 16-bit values), components are
 * 8-connected (fpf_components), and components under A pixels (default 20) are not counted. */
#define FPF_IMPLEMENTATION
#include "fpf.h"
#define FPF_POST_IMPLEMENTATION
#include "fpf_post.h"
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: otsu_count IMAGE [--page P] [--min-area A]\n");
    return 2;
}

int main(int argc, char **argv) {
    fpfi_image im;
    fpf_image view;
    char err[256];
    int page = 0, min_area = 20, i;
    long n, k, count = 0, fg = 0, px;
    double t;
    uint32_t *hist, *lab;
    long *area;
    uint8_t *mask;
    if (argc < 2) return usage();
    for (i = 2; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--page")) page = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--min-area")) min_area = atoi(argv[++i]);
        else return usage();
    }
    if (fpfi_read(argv[1], page, 0, &im, err, sizeof err)) { fprintf(stderr, "otsu_count: %s\n", err); return 1; }
    if (im.type != FPFI_U8 && im.type != FPFI_U16) {
        fprintf(stderr, "otsu_count: %s: need an 8- or 16-bit image\n", argv[1]);
        return 1;
    }
    px = (long)im.w * im.h;
    view = im.type == FPFI_U8 ? fpf_image_u8((const uint8_t *)im.pixels, im.w, im.h, (size_t)im.w)
                              : fpf_image_u16((const uint16_t *)im.pixels, im.w, im.h, (size_t)im.w * 2);
    hist = (uint32_t *)malloc(65536 * sizeof *hist);
    lab = (uint32_t *)malloc((size_t)px * sizeof *lab);
    mask = (uint8_t *)malloc((size_t)px);
    if (!hist || !lab || !mask) { fprintf(stderr, "otsu_count: out of memory\n"); return 1; }
    if (fpf_threshold(&view, FPF_THRESHOLD_OTSU, 0, hist, &t) != FPF_OK) {
        fprintf(stderr, "otsu_count: %s: no threshold\n", argv[1]);
        return 1;
    }
    for (k = 0; k < px; k++) {
        double v = im.type == FPFI_U8 ? ((uint8_t *)im.pixels)[k] : ((uint16_t *)im.pixels)[k];
        mask[k] = v > t;
        fg += mask[k];
    }
    n = fpf_components(mask, im.h, im.w, 8, lab);
    if (n < 0) { fprintf(stderr, "otsu_count: components failed\n"); return 1; }
    area = (long *)calloc((size_t)n + 1, sizeof *area);
    if (!area) { fprintf(stderr, "otsu_count: out of memory\n"); return 1; }
    for (k = 0; k < px; k++) area[lab[k]]++;
    for (k = 1; k <= n; k++) count += area[k] >= min_area;
    printf("%ld %g %.4f\n", count, t, (double)fg / (double)px);
    free(area); free(mask); free(lab); free(hist);
    fpfi_free(&im);
    return 0;
}
