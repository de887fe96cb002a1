/* weights/reference/int8_dump.c - the C kit's intermediate maps of one model on one image pair (the
 * backbone's C2..C5 and each tower's P2..P5, the fused F2..F6, the RPN's scores and deltas, the heads'
 * pooled inputs and outputs), as raw float32 files for weights/reference/int8_ref.py (int8 parity, #11).
 *
 *   cc -std=c99 -O2 -ffp-contract=off -I. -Iexamples weights/reference/int8_dump.c -o build/int8_dump -lm -lpthread
 *   build/int8_dump MODEL.fpf CELL.tif NUCLEUS.tif OUTDIR     ->  OUTDIR/<name>.f32 + <name>.shape
 */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_out;

static const char *g_keep[] = {"F2", "F3", "F4", "F5", "F6", "rpn_class", "rpn_bbox", "roi_feat",
                               "mrcnn_class", "mrcnn_bbox", "mask_feat", "mrcnn_mask", NULL};

static int wanted(const char *name, int ndim) {
    int i;
    if (ndim == 3 && (strstr(name, ".C") || strstr(name, ".P"))) return 1;   /* cell.C2, nucleus.P3, ... */
    for (i = 0; g_keep[i]; i++)
        if (!strcmp(name, g_keep[i])) return 1;
    return 0;
}

/* Rows of the last dimension, each `ld` floats apart (3-D maps may be views of a wider pyramid). */
static void dump(void *user, const char *name, const float *d, int ndim, const int *dims, int ld) {
    char p[512];
    FILE *f;
    int i;
    size_t rows = 1, c, k;
    (void)user;
    if (!wanted(name, ndim)) return;
    for (i = 0; i + 1 < ndim; i++) rows *= (size_t)dims[i];
    c = (size_t)dims[ndim - 1];
    snprintf(p, sizeof p, "%s/%s.f32", g_out, name);
    if (!(f = fopen(p, "wb"))) return;
    for (k = 0; k < rows; k++) fwrite(d + k * ld, sizeof(float), c, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/%s.shape", g_out, name);
    if (!(f = fopen(p, "w"))) return;
    for (i = 0; i < ndim; i++) fprintf(f, "%d%s", dims[i], i + 1 < ndim ? " " : "\n");
    fclose(f);
}

static fpf_image as_fpf(const fpfi_image *im) {
    if (im->type == FPFI_U8) return fpf_image_u8((const uint8_t *)im->pixels, im->w, im->h, (size_t)im->w);
    return fpf_image_u16((const uint16_t *)im->pixels, im->w, im->h, (size_t)im->w * 2);
}

int main(int argc, char **argv) {
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options o;
    fpfi_image c, n;
    fpf_input in;
    const fpf_output *out;
    char err[256];
    if (argc != 5) { fprintf(stderr, "usage: int8_dump MODEL.fpf CELL NUCLEUS OUTDIR\n"); return 2; }
    g_out = argv[4];
    if (fpf_model_load_file(argv[1], NULL, &m, err, sizeof err) != FPF_OK) { fprintf(stderr, "%s\n", err); return 1; }
    if (fpfi_read(argv[2], 0, 0, &c, err, sizeof err) || fpfi_read(argv[3], 0, 0, &n, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    memset(&o, 0, sizeof o);
    o.stage = dump;
    if (fpf_session_init(m, NULL, c.h, c.w, &o, &s) != FPF_OK) return 1;
    in.cell = as_fpf(&c); in.nucleus = as_fpf(&n);
    if (fpf_session_run(s, &in, &out) != FPF_OK) { fprintf(stderr, "%s\n", fpf_session_message(s)); return 1; }
    fpf_session_free(s); fpf_model_free(m); fpfi_free(&c); fpfi_free(&n);
    return 0;
}
