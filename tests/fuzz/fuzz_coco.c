/* tests/fuzz/fuzz_coco.c - fpf_eval's COCO reader: JSON parser, GT images/annotations, results,
 * RLE (lists and compressed strings), then scoring. The input is split at its first NUL into a
 * GT and a DT file; without a NUL the same bytes are both (as `fpf_eval --gt X --dt X`).
 * examples/fpf_eval.c is compiled into this harness with its main() renamed. */
#define main fpf_eval_cli_main
#include "../../examples/fpf_eval.c"
#undef main
#include "fuzz.h"
#include <unistd.h>

static void write_all(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char gt[64], dt[64];
    const uint8_t *nul = (const uint8_t *)memchr(data, 0, size);
    cli_set set;
    cli_opts o;
    cli_result res;
    if (!gt[0]) {
        snprintf(gt, sizeof gt, "/tmp/fpf_fuzz_coco_%ld_gt.json", (long)getpid());
        snprintf(dt, sizeof dt, "/tmp/fpf_fuzz_coco_%ld_dt.json", (long)getpid());
    }
    if (nul) { write_all(gt, data, (size_t)(nul - data)); write_all(dt, nul + 1, size - (size_t)(nul - data) - 1); }
    else { write_all(gt, data, size); write_all(dt, data, size); }
    memset(&set, 0, sizeof set);
    memset(&o, 0, sizeof o);
    memset(&res, 0, sizeof res);
    o.tpfp_iou = 0.75; o.floor = FPF_EVAL_NO_FLOOR;
    if (load_coco(&set, gt, dt) == 0 && score_set(&set, &o, &res) == 0) {
        int t;
        for (t = 0; t < 2; t++) {
            FUZZ_ASSERT(res.sum[t].map_50_95 <= 1.0 && (res.sum[t].map_50_95 >= 0.0 || res.sum[t].map_50_95 == -1.0));
            FUZZ_ASSERT(res.tpfp[t].tp + res.tpfp[t].fn == res.sum[t].n_gt);
        }
    }
    free(res.per_image[0]); free(res.per_image[1]);
    set_free(&set);
    return 0;
}
