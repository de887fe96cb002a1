/* tests/fuzz/fuzz_packbits.c - the TIFF PackBits decoder. First two bytes: output capacity. */
#include "fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static unsigned char out[65536];
    size_t cap, got = 0;
    if (size < 2) return 0;
    cap = 1 + (((size_t)data[0] | (size_t)data[1] << 8) & 0xFFFF);
    if (fpfi__packbits(data + 2, size - 2, out, cap, &got) == 0) FUZZ_ASSERT(got <= cap);
    return 0;
}
