/* tests/fuzz/fuzz_png.c - PNG: info, then each sample; the PNG signature is added when missing,
 * so every input reaches the chunk parser. */
#include "fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char *d = (unsigned char *)malloc(size + 8);
    size_t n = size;
    fpfi_info info;
    fpfi_image im;
    char err[256];
    int s;
    if (!d) return 0;
    if (size >= 8 && memcmp(data, sig, 8) == 0) memcpy(d, data, size);
    else { memcpy(d, sig, 8); memcpy(d + 8, data, size); n += 8; }
    memset(&info, 0, sizeof info);
    if (fpfi_info_memory(d, n, &info, err, sizeof err) == 0) {
        for (s = 0; s < info.pages[0].samples && s < 4; s++)
            if (fpfi_read_memory(d, n, 0, s, &im, err, sizeof err) == 0) {
                FUZZ_ASSERT(im.w == info.pages[0].width && im.h == info.pages[0].height);
                fpfi_free(&im);
            }
        fpfi_info_free(&info);
    }
    free(d);
    return 0;
}
