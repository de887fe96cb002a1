/* tests/fuzz/fuzz_labels.c - the label-folder path of fpf_eval (--gt-labels/--dt-labels): one
 * label image (TIFF, PNG or PGM bytes) is decoded, turned into instances, and scored against
 * itself with descending scores. Every instance then matches itself: AP must be 1 (or -1 with no
 * instances) and there must be no false positives. File-name pairing is left to the CLI tests. */
#define FPFI_MAX_DECODED ((size_t)16 << 20)
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#include "fuzz_image_common.h"
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fpfi_image im;
    fpf_eval_labels L;
    fpf_eval *ev = NULL;
    fpf_eval_instance *dt;
    fpf_eval_summary sum;
    fpf_eval_counts c;
    char err[256];
    size_t i, bytes;
    if (fpfi_read_memory(data, size, 0, 0, &im, err, sizeof err) != 0) return 0;
    bytes = fpfi_type_size(im.type);
    if ((im.type != FPFI_U8 && im.type != FPFI_U16 && im.type != FPFI_U32) ||
        fpf_eval_labels_from_image(&L, im.pixels, (int)bytes, im.w, im.h, NULL) != FPF_EVAL_OK) {
        fpfi_free(&im);
        return 0;
    }
    dt = (fpf_eval_instance *)malloc((L.n + 1) * sizeof *dt);
    for (i = 0; i < L.n; i++) { dt[i] = L.inst[i]; dt[i].score = 1.0 - (double)i / (double)(L.n + 1); }
    if (fpf_eval_create(&ev, NULL) == FPF_EVAL_OK && fpf_eval_add_image(ev, L.inst, L.n, dt, L.n) == FPF_EVAL_OK &&
        fpf_eval_summarize(ev, FPF_EVAL_SEGM, &sum) == FPF_EVAL_OK &&
        fpf_eval_tpfp(ev, FPF_EVAL_SEGM, 0.75, FPF_EVAL_NO_FLOOR, &c, NULL) == FPF_EVAL_OK) {
        if (L.n <= FPF_EVAL_MAX_DETS) {
            /* pycocotools' precision is tp / (tp + fp + eps): a perfect AP is 1 - 1.1e-16 */
            FUZZ_ASSERT(L.n == 0 ? sum.ap50 == -1.0 : fabs(sum.ap50 - 1.0) < 1e-12);
            FUZZ_ASSERT(c.fp == 0 && c.fn == 0 && c.tp == L.n);
        }
    }
    fpf_eval_destroy(ev);
    free(dt);
    fpf_eval_labels_free(&L, NULL);
    fpfi_free(&im);
    return 0;
}
