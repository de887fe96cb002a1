/* examples/fpf_manifest.h - fpf_segment's list of images: the batch manifest (--batch CSV) and
 * the '*' of image patterns. Split from fpf_segment.c so that tests/fuzz/fuzz_manifest.c runs
 * the same code. Static functions, no exits, no prints; include it in one .c file.
 *
 * The manifest: a header line naming the columns (id, nucleus, cell, reporter; other names are
 * passed to warn and ignored), then one image per line. Fields are CSV (double quotes, "" for a
 * quote). Relative paths are relative to the manifest's folder. A line is read in pieces of at
 * most FPFM_LINE - 1 bytes (a longer line continues as the next row). A row whose id cannot
 * name a folder, or repeats an earlier id, keeps an error message instead of failing the list.
 *
 * Bounds: at most FPFM_MAX_ROWS rows (about 3.4 KB each); the work is linear in the file,
 * plus an n log n sort for the repeated ids. */
#ifndef FPF_MANIFEST_H
#define FPF_MANIFEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FPFM_PATH 1024             /* bytes of a path, with its NUL */
#define FPFM_LINE (4 * FPFM_PATH)  /* bytes of a manifest line, with its NUL */
#ifndef FPFM_MAX_ROWS
#define FPFM_MAX_ROWS 1000000      /* images in one manifest */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FPFM_DEF static __attribute__((unused)) /* a program need not call every function */
#else
#define FPFM_DEF static
#endif

typedef struct fpfm_job {
    char id[128], nucleus[FPFM_PATH], cell[FPFM_PATH], reporter[FPFM_PATH], error[256];
    int row;                       /* manifest line (1 = the header); 0 for patterns */
} fpfm_job;
typedef struct fpfm_jobs { fpfm_job *j; int n, cap; } fpfm_jobs;
typedef void (*fpfm_warn_fn)(const char *fmt, ...);

/* snprintf that returns 1 when the text fit (fpf_segment uses it for every path it builds). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
FPFM_DEF int fpfm_fmt(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    int len;
    va_start(ap, fmt); len = vsnprintf(dst, n, fmt, ap); va_end(ap);
    return len >= 0 && (size_t)len < n;
}

/* A new zeroed job at the end of the list; NULL when out of memory or at FPFM_MAX_ROWS. */
FPFM_DEF fpfm_job *fpfm_add(fpfm_jobs *js) {
    if (js->n >= FPFM_MAX_ROWS) return NULL;
    if (js->n == js->cap) {
        int cap = js->cap ? (js->cap > FPFM_MAX_ROWS / 2 ? FPFM_MAX_ROWS : js->cap * 2) : 16;
        fpfm_job *j = (fpfm_job *)realloc(js->j, (size_t)cap * sizeof(fpfm_job));
        if (!j) return NULL;
        js->j = j; js->cap = cap;
    }
    memset(&js->j[js->n], 0, sizeof(fpfm_job));
    return &js->j[js->n++];
}

/* One CSV field (double quotes allowed) into dst[n] (cut to fit); advances *p past the comma. */
FPFM_DEF void fpfm_csv_field(const char **p, char *dst, size_t n) {
    const char *s = *p;
    size_t len = 0;
    int quoted = *s == '"';
    if (quoted) s++;
    while (*s && (quoted ? !(*s == '"' && s[1] != '"') : *s != ',')) {
        if (quoted && *s == '"') s++;
        if (len + 1 < n) dst[len++] = *s;
        s++;
    }
    if (quoted && *s == '"') s++;
    while (*s && *s != ',') s++;
    if (*s == ',') s++;
    dst[len] = 0;
    *p = s;
}

/* 1 when id can name an output folder: not empty, no '/', not starting with '.'. */
FPFM_DEF int fpfm_safe_id(const char *id) {
    return id[0] && strcmp(id, ".") && strcmp(id, "..") && !strchr(id, '/') && id[0] != '.';
}

FPFM_DEF void fpfm_join_path(char *dst, size_t n, const char *dir, const char *name) {
    if (!name[0] || name[0] == '/' || !dir[0]) fpfm_fmt(dst, n, "%s", name);
    else fpfm_fmt(dst, n, "%s/%s", dir, name);
}

/* The part of path that the single '*' of pattern matched; 0 if it does not fit. */
FPFM_DEF int fpfm_pattern_stem(const char *pattern, const char *path, char *stem, size_t n) {
    const char *star = strchr(pattern, '*');
    size_t pre, suf, len = strlen(path);
    if (!star) return 0;
    pre = (size_t)(star - pattern); suf = strlen(star + 1);
    if (len < pre + suf || strncmp(path, pattern, pre) || strcmp(path + len - suf, star + 1)) return 0;
    fpfm_fmt(stem, n, "%.*s", (int)(len - pre - suf), path + pre);
    return 1;
}

/* Ids in order, equal ids by position (pointers into one array). */
FPFM_DEF int fpfm__by_id(const void *a, const void *b) {
    const fpfm_job *x = *(const fpfm_job *const *)a, *y = *(const fpfm_job *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x < y ? -1 : x > y);
}

/* Marks every job whose id an earlier job has (unless it already has an error). 0, or -1 when
   out of memory. */
FPFM_DEF int fpfm__mark_repeats(fpfm_jobs *js) {
    fpfm_job **s;
    int i;
    if (js->n < 2) return 0;
    if (!(s = (fpfm_job **)malloc((size_t)js->n * sizeof *s))) return -1;
    for (i = 0; i < js->n; i++) s[i] = &js->j[i];
    qsort(s, (size_t)js->n, sizeof *s, fpfm__by_id);
    for (i = 1; i < js->n; i++)
        if (!strcmp(s[i]->id, s[i - 1]->id) && !s[i]->error[0])
            fpfm_fmt(s[i]->error, sizeof s[i]->error, "row %d: id '%s' appears twice", s[i]->row, s[i]->id);
    free(s);
    return 0;
}

/* Reads the manifest f (named path, for messages and the folder of relative paths) into js.
   0, or -1 with a one-line message in err. warn (may be NULL) gets the unused columns. */
FPFM_DEF int fpfm_read(FILE *f, const char *path, fpfm_jobs *js, fpfm_warn_fn warn, char *err, size_t err_n) {
    char line[FPFM_LINE], dir[FPFM_PATH], field[FPFM_PATH];
    int col[16], ncol = 0, row = 1, i, have_id = 0, have_img = 0;
    const char *slash = strrchr(path, '/');
    fpfm_fmt(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
    if (!fgets(line, sizeof line, f)) {
        fpfm_fmt(err, err_n, "%s: empty manifest; the first line must name the columns, e.g. id,nucleus,cell", path);
        return -1;
    }
    {
        const char *p = line;
        line[strcspn(line, "\r\n")] = 0;
        while (*p && ncol < 16) {
            fpfm_csv_field(&p, field, sizeof field);
            col[ncol] = !strcmp(field, "id") ? 0 : !strcmp(field, "nucleus") ? 1 : !strcmp(field, "cell") ? 2
                      : !strcmp(field, "reporter") ? 3 : -1;
            if (col[ncol] < 0 && warn) warn("%s: column '%s' is not used (known: id, nucleus, cell, reporter)", path, field);
            have_id |= col[ncol] == 0; have_img |= col[ncol] == 1 || col[ncol] == 2;
            ncol++;
        }
    }
    if (!have_id || !have_img) {
        fpfm_fmt(err, err_n, "%s: the header must name an id column and a nucleus and/or cell column (got '%s')", path, line);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        fpfm_job *j;
        row++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        if (!(j = fpfm_add(js))) {
            if (js->n >= FPFM_MAX_ROWS)
                fpfm_fmt(err, err_n, "%s: more than %d images; split the manifest", path, FPFM_MAX_ROWS);
            else fpfm_fmt(err, err_n, "out of memory for the list of images");
            return -1;
        }
        j->row = row;
        for (i = 0; i < ncol; i++) {
            fpfm_csv_field(&p, field, sizeof field);
            if (col[i] == 0) fpfm_fmt(j->id, sizeof j->id, "%s", field);
            else if (col[i] == 1 && field[0]) fpfm_join_path(j->nucleus, sizeof j->nucleus, dir, field);
            else if (col[i] == 2 && field[0]) fpfm_join_path(j->cell, sizeof j->cell, dir, field);
            else if (col[i] == 3 && field[0]) fpfm_join_path(j->reporter, sizeof j->reporter, dir, field);
        }
        if (!fpfm_safe_id(j->id)) {
            fpfm_fmt(j->error, sizeof j->error, "row %d: id '%s' cannot name a folder (empty, starts with '.', or has '/')", row, j->id);
            if (!j->id[0]) fpfm_fmt(j->id, sizeof j->id, "row%d", row);
        }
    }
    if (!js->n) { fpfm_fmt(err, err_n, "%s: no images listed under the header", path); return -1; }
    if (fpfm__mark_repeats(js)) { fpfm_fmt(err, err_n, "out of memory for the list of images"); return -1; }
    return 0;
}

#endif /* FPF_MANIFEST_H */
