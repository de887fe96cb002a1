/* tests/fuzz/fuzz_image_common.h - the image decoder compiled for fuzzing: a 64 MiB decode
 * limit (libFuzzer's default RSS limit is 2 GB), implementation in this translation unit so the
 * harnesses reach the codecs' static functions (LZW, PackBits, the TIFF and PNG readers). */
#ifndef FPFI_MAX_DECODED
#define FPFI_MAX_DECODED ((size_t)64 << 20)
#endif
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf_image.h"
#include "fuzz.h"
