/* tests/fuzz/fuzz_rle.c - COCO RLE: compressed counts strings and count arrays. First 2 bytes:
 * mask height and width (1..64 each); byte 3 bit 0: the rest is a counts string, else u16 counts.
 * Whatever is accepted must round-trip (string -> RLE -> string, RLE -> mask -> RLE) and have an
 * area equal to the decoded mask's and, without zero-length runs, a box inside the mask. */
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fpf_eval_rle r, back;
    fpf_eval_result e;
    int h, w;
    if (size < 3) return 0;
    h = 1 + data[0] % 64;
    w = 1 + data[1] % 64;
    memset(&r, 0, sizeof r);
    if (data[2] & 1) {
        e = fpf_eval_rle_from_string(&r, (const char *)data + 3, size - 3, h, w, NULL);
    } else {
        uint32_t counts[512];
        size_t m = (size - 3) / 2, i;
        if (m > 512) m = 512;
        for (i = 0; i < m; i++) counts[i] = (uint32_t)data[3 + 2 * i] | (uint32_t)data[4 + 2 * i] << 8;
        e = fpf_eval_rle_from_counts(&r, counts, m, h, w, NULL);
    }
    if (e != FPF_EVAL_OK) return 0;
    if (fpf_eval_rle_check(&r) == FPF_EVAL_OK) {
        static unsigned char mask[64 * 64];
        char buf[8192];
        size_t len = 0, i;
        uint64_t area = 0;
        double box[4];
        FUZZ_ASSERT(fpf_eval_rle_decode(&r, mask, 0) == FPF_EVAL_OK); /* column-major, as COCO */
        for (i = 0; i < (size_t)h * w; i++) area += mask[i] != 0;
        FUZZ_ASSERT(area == fpf_eval_rle_area(&r));
        fpf_eval_rle_to_box(&r, box);
        for (i = 1; i < r.m && r.counts[i] > 0; i++) continue;
        if (i >= r.m) /* zero-length runs move maskApi's rleToBbox past the mask; the kit copies that */
            FUZZ_ASSERT(box[0] >= 0 && box[1] >= 0 && box[0] + box[2] <= w && box[1] + box[3] <= h);
        if (fpf_eval_rle_to_string(&r, buf, sizeof buf, &len) == FPF_EVAL_OK) {
            memset(&back, 0, sizeof back);
            FUZZ_ASSERT(fpf_eval_rle_from_string(&back, buf, len, h, w, NULL) == FPF_EVAL_OK);
            FUZZ_ASSERT(fpf_eval_rle_area(&back) == area);
            fpf_eval_rle_free(&back, NULL);
        }
        memset(&back, 0, sizeof back);
        FUZZ_ASSERT(fpf_eval_rle_encode(&back, mask, h, w, 0, NULL) == FPF_EVAL_OK);
        FUZZ_ASSERT(fpf_eval_rle_area(&back) == area);
        fpf_eval_rle_free(&back, NULL);
    }
    fpf_eval_rle_free(&r, NULL);
    return 0;
}
