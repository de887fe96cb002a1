/* tests/fuzz/fuzz.h - shared by the libFuzzer harnesses in tests/fuzz/ (make fuzz).
 *
 * Each harness defines LLVMFuzzerTestOneInput(). Built with -fsanitize=fuzzer it runs under
 * libFuzzer; built with -DFUZZ_REPLAY (any compiler) it gets the main() below, which runs the
 * files named on the command line once each: a crash file or a corpus replays without clang. */
#ifndef FPF_FUZZ_H
#define FPF_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding that is not a memory error (a wrong answer): stop so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                                 \
    do { if (!(cond)) { fprintf(stderr, "fuzz assertion failed: %s (%s:%d)\n", #cond,      \
                                __FILE__, __LINE__); abort(); } } while (0)

#ifdef FUZZ_REPLAY
int main(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long n;
        if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { perror(argv[i]); return 2; }
        buf = (unsigned char *)malloc((size_t)n + 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(argv[i]); return 2; }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
    }
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}
#endif
#endif
