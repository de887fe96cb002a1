/* tests/fuzz/fuzz_manifest.c - fpf_segment's batch manifest reader (examples/fpf_manifest.h:
 * CSV fields, the header's columns, ids, relative paths, repeated ids) on the bytes as a file
 * (fmemopen), and the pattern '*' stem on the first two lines. Checks what a reader promises:
 * every row has an id (renamed "rowN" when empty), an id that cannot name a folder or repeats
 * an earlier one carries an error, rows are in file order, and a stem fits its pattern. */
#define _POSIX_C_SOURCE 200809L
#include "fpf_manifest.h"
#include "fuzz.h"

static void no_warn(const char *fmt, ...) { (void)fmt; }

static void check_stem(const uint8_t *data, size_t size) {
    char pat[256], path[256], stem[256];
    const uint8_t *nl = (const uint8_t *)memchr(data, '\n', size), *nl2;
    size_t a, b;
    if (!nl) return;
    a = (size_t)(nl - data);
    nl2 = (const uint8_t *)memchr(nl + 1, '\n', size - a - 1);
    b = nl2 ? (size_t)(nl2 - nl - 1) : size - a - 1;
    if (a >= sizeof pat || b >= sizeof path) return;
    memcpy(pat, data, a); pat[a] = 0;
    memcpy(path, nl + 1, b); path[b] = 0;
    if (fpfm_pattern_stem(pat, path, stem, sizeof stem)) {     /* pre + stem + suf == path */
        const char *star = strchr(pat, '*');
        char joined[800];
        FUZZ_ASSERT(star != NULL);
        snprintf(joined, sizeof joined, "%.*s%s%s", (int)(star - pat), pat, stem, star + 1);
        FUZZ_ASSERT(strcmp(joined, path) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fpfm_jobs js;
    char err[FPFM_LINE + 512];
    FILE *f;
    int i, k;
    check_stem(data, size);
    if (!size || !(f = fmemopen((void *)(uintptr_t)data, size, "r"))) return 0;
    memset(&js, 0, sizeof js);
    err[0] = 0;
    if (fpfm_read(f, "plate/manifest.csv", &js, no_warn, err, sizeof err) == 0) {
        FUZZ_ASSERT(js.n >= 1 && js.n <= FPFM_MAX_ROWS);
        for (i = 0; i < js.n; i++) {
            const fpfm_job *j = &js.j[i];
            FUZZ_ASSERT(j->id[0] != 0);
            FUZZ_ASSERT(j->row >= 2 && (i == 0 || j->row > js.j[i - 1].row));
            if (!fpfm_safe_id(j->id)) FUZZ_ASSERT(j->error[0] != 0);
            if (j->nucleus[0] && j->nucleus[0] != '/') FUZZ_ASSERT(strncmp(j->nucleus, "plate/", 6) == 0);
            for (k = i - 1; k >= 0 && k >= i - 64; k--)      /* a repeat of a near earlier id */
                if (!strcmp(js.j[k].id, j->id)) FUZZ_ASSERT(j->error[0] != 0);
        }
    } else {
        FUZZ_ASSERT(err[0] != 0);
    }
    fclose(f);
    free(js.j);
    return 0;
}
