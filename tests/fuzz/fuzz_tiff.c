/* tests/fuzz/fuzz_tiff.c - TIFF: page/sample enumeration, then every page and sample read. */
#include "fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fpfi_info info;
    fpfi_image im;
    char err[256];
    int p, s;
    memset(&info, 0, sizeof info);
    if (fpfi__tiff_read(data, size, 0, 0, &im, err, sizeof err) == 0) fpfi_free(&im);
    if (fpfi_info_memory(data, size, &info, err, sizeof err) != 0) return 0;
    for (p = 0; p < info.npages && p < 4; p++)
        for (s = 0; s < info.pages[p].samples && s < 4; s++)
            if (fpfi_read_memory(data, size, p, s, &im, err, sizeof err) == 0) {
                FUZZ_ASSERT(im.w == info.pages[p].width && im.h == info.pages[p].height);
                fpfi_free(&im);
            }
    fpfi_info_free(&info);
    return 0;
}
