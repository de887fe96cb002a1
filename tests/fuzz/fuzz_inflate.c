/* tests/fuzz/fuzz_inflate.c - fpfi_inflate. First byte: bit 0 = zlib wrapper, bits 1..7 pick
 * the output capacity; the rest is the stream. With -DFUZZ_ZLIB (make fuzz does this when zlib.h
 * is there) each input is also decoded by zlib and the two must agree: the same bytes when both
 * finish, and an error from one exactly when the other errs (within the output capacity). */
#include "fuzz_image_common.h"
#ifdef FUZZ_ZLIB
#include <zlib.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static unsigned char out[1 << 17], ref[(1 << 17) + 1];
    size_t got = 0, cap;
    char err[128];
    int zl, rc;
    if (size < 1) return 0;
    zl = data[0] & 1;
    cap = (size_t)1 << (7 + (data[0] >> 1) % 11); /* 128 B .. 128 KiB */
    rc = fpfi_inflate(data + 1, size - 1, zl, out, cap, &got, err, sizeof err);
    FUZZ_ASSERT(got <= cap);
    FUZZ_ASSERT(rc == 0 || rc == FPFI_INFLATE_FULL || rc == -1);
#ifdef FUZZ_ZLIB
    {
        z_stream z;
        int zr, zok;
        size_t zgot;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, zl ? 15 : -15) != Z_OK) return 0;
        z.next_in = (Bytef *)(uintptr_t)(data + 1);
        z.avail_in = (uInt)(size - 1);
        z.next_out = ref;
        z.avail_out = (uInt)cap + 1; /* one more byte: zlib tells "more than cap" apart */
        zr = inflate(&z, Z_FINISH);
        zgot = (size_t)z.total_out;
        inflateEnd(&z);
        zok = zr == Z_STREAM_END;
        if (rc == 0) {   /* we finished: zlib must too, with the same bytes */
            FUZZ_ASSERT(zok && zgot == got && memcmp(out, ref, got) == 0);
        } else if (zok) { /* zlib finished: we must, unless the output did not fit */
            FUZZ_ASSERT(zgot > cap && rc == FPFI_INFLATE_FULL);
        }
        if (rc == FPFI_INFLATE_FULL) FUZZ_ASSERT(memcmp(out, ref, got < zgot ? got : zgot) == 0);
    }
#endif
    return 0;
}
