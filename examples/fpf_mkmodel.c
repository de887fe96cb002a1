/* fpf_mkmodel - write a seeded random .fpf model (weights/reference/CONTRACT.md §1, §3).
 *
 *   build/fpf_mkmodel --config paper|tiny --variant cores|without_nucleus|with_nucleus|fpf_add|fpf_concat
 *                     [--seed S] [--nucleus-seed S] --out FILE.fpf
 *
 * For tests, benchmarks and trying the pipeline: the weights are random, so the "cells" it finds
 * mean nothing. Large models are generated in about a second instead of being committed. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_seeded.h"
#include "fpf_image.h"
#include <stdio.h>

int main(int argc, char **argv) {
    const char *cfgname = "paper", *vname = NULL, *out = NULL;
    unsigned long long seed = 1, nseed = 7;
    fpf_config c;
    fpf_variant v;
    size_t n;
    void *f;
    char err[256];
    int i;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--config")) cfgname = argv[i + 1];
        else if (!strcmp(argv[i], "--variant")) vname = argv[i + 1];
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--nucleus-seed")) nseed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else break;
    }
    if (i != argc || !vname || !out || !fpf_seeded_variant(vname, &v) || !fpf_seeded_config(&c, cfgname, v)) {
        fprintf(stderr, "usage: fpf_mkmodel --config paper|tiny --variant NAME [--seed S] [--nucleus-seed S] --out FILE.fpf\n");
        return 2;
    }
    f = fpf_seeded_file(&c, seed, nseed, &n);
    if (!f || fpfi_write_file_atomic(out, f, n, err, sizeof err) != 0) {
        fprintf(stderr, "fpf_mkmodel: error: %s: %s\n", out, f ? err : "cannot build the model");
        return 1;
    }
    free(f);
    return 0;
}
