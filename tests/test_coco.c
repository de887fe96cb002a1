/* tests/test_coco.c - examples/fpf_coco.h, the COCO JSON of the CLIs: string escapes, RLE in and
 * out of JSON, the integer rule, and parse errors with their place. make test also runs it under
 * ASan + UBSan (a cast of 1e300 to an integer is undefined: repro #3). */
#define FPF_EVAL_IMPLEMENTATION
#include "fpf_eval.h"
#define FPF_COCO_IMPLEMENTATION
#include "fpf_coco.h"
#include "harness.h"
#include <stdlib.h>
#include <string.h>

/* examples/fpf_coco.h: the compressed counts alphabet includes '\\' (48 + 44), which JSON must
   escape (repro #12: fpf_synth wrote it bare, and its own COCO files were invalid JSON). */
TEST(coco_json_escapes_and_round_trips) {
    uint32_t counts[200];
    fpf_eval_rle r, back;
    fpfc_buf b;
    fpfc_json root;
    char err[512], *str;
    size_t len = 0, i;
    uint32_t seed = 7, total = 0;
    memset(&b, 0, sizeof b);
    fpfc_json_string(&b, "a\"b\\c\n\x01");
    CHECK(b.p && !strcmp(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\""));
    free(b.p);
    for (i = 0; i < 200; i++) { /* large and small runs, rising and falling */
        seed = seed * 1664525u + 1013904223u;
        counts[i] = i % 7 == 0 ? (seed >> 18) : (seed >> 26);
    }
    counts[1] = 0;
    for (i = 0; i < 200; i++) total += counts[i];
    CHECK(fpf_eval_rle_from_counts(&r, counts, 200, 1, (int)total, NULL) == FPF_EVAL_OK); /* one row */
    fpf_eval_rle_to_string(&r, NULL, 0, &len);
    str = (char *)malloc(len + 1);
    CHECK(str && fpf_eval_rle_to_string(&r, str, len + 1, &len) == FPF_EVAL_OK);
    CHECK_MSG(str && strchr(str, '\\'), "test counts should produce a backslash: %s", str ? str : "");
    free(str);
    memset(&b, 0, sizeof b);
    fpfc_printf(&b, "{\"segmentation\": ");
    fpfc_write_rle(&b, &r, 1);
    fpfc_printf(&b, "}");
    CHECK(!b.failed);
    CHECK_MSG(fpfc_json_parse(b.p, b.len, "rle", &root, err, sizeof err) == 0, "%s", err);
    CHECK(fpfc_read_rle(fpfc_json_get(&root, "segmentation"), &back, "rle", err, sizeof err) == 0);
    CHECK(back.m == r.m && back.w == r.w && back.h == r.h && !memcmp(back.counts, r.counts, r.m * 4));
    fpf_eval_rle_free(&back, NULL);
    fpfc_json_free(&root);
    free(b.p);
    /* and the list form */
    memset(&b, 0, sizeof b);
    fpfc_write_rle(&b, &r, 0);
    CHECK(fpfc_json_parse(b.p, b.len, "rle", &root, err, sizeof err) == 0);
    CHECK(fpfc_read_rle(&root, &back, "rle", err, sizeof err) == 0 && back.m == r.m && !memcmp(back.counts, r.counts, r.m * 4));
    fpf_eval_rle_free(&back, NULL);
    fpfc_json_free(&root);
    free(b.p);
    fpf_eval_rle_free(&r, NULL);
}

/* Integers are numbers without a fraction within +-2^53; anything else is refused, not cast. */
TEST(json_integers_in_range_only) {
    static const char *bad[] = {"1e300", "-1e300", "1e19", "-9.3e18", "4.5", "9007199254740994", "\"7\"", "null"};
    static const char *good[] = {"0", "-3", "42", "1e3", "9007199254740992", "-9007199254740992"};
    static const long long want[] = {0, -3, 42, 1000, 9007199254740992LL, -9007199254740992LL};
    fpfc_json v;
    char err[256];
    long long x;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(fpfc_json_parse(bad[i], strlen(bad[i]), "t", &v, err, sizeof err) == 0);
        CHECK_MSG(fpfc_json_int(&v, &x) != 0, "%s accepted as an integer", bad[i]);
        fpfc_json_free(&v);
    }
    for (i = 0; i < sizeof good / sizeof *good; i++) {
        x = 99;
        CHECK(fpfc_json_parse(good[i], strlen(good[i]), "t", &v, err, sizeof err) == 0);
        CHECK_MSG(fpfc_json_int(&v, &x) == 0 && x == want[i], "%s -> %lld", good[i], x);
        fpfc_json_free(&v);
    }
}

TEST(parse_errors_say_where) {
    static const char *text = "{\"a\": [1, 2,\n  ]}";
    fpfc_json v;
    char err[256];
    CHECK(fpfc_json_parse(text, strlen(text), "f.json", &v, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "f.json: malformed JSON") && strstr(err, "line 2, column 3"), "%s", err);
    CHECK(fpfc_json_parse("[1] x", 5, "g", &v, err, sizeof err) != 0 && strstr(err, "trailing"));
    CHECK(fpfc_json_parse("\"a\\qb\"", 6, "g", &v, err, sizeof err) != 0 && strstr(err, "bad escape"));
    CHECK(fpfc_json_parse("\"\\u00e9\"", 8, "g", &v, err, sizeof err) == 0 && v.t == FPFC_STR &&
          !strcmp(v.str, "\xc3\xa9"));
    fpfc_json_free(&v);
    CHECK(fpfc_json_parse("[[1],{\"k\":true}]", 16, "g", &v, err, sizeof err) == 0 && v.n == 2 &&
          fpfc_json_get(&v.items[1], "k") && fpfc_json_get(&v.items[1], "k")->t == FPFC_BOOL &&
          !fpfc_json_get(&v.items[1], "x"));
    fpfc_json_free(&v);
}

TEST(rle_fields_checked) {
    static const char *cases[][2] = {
        {"[[1, 2, 3, 4]]", "polygon"},
        {"{\"size\": [2, 2], \"counts\": [1, 2]}", "bad RLE"},
        {"{\"size\": [2, 2], \"counts\": [1, -3, 6]}", "non-negative"},
        {"{\"size\": [2], \"counts\": [4]}", "{size, counts}"}};
    fpfc_json v;
    fpf_eval_rle r;
    char err[256];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(fpfc_json_parse(cases[i][0], strlen(cases[i][0]), "t", &v, err, sizeof err) == 0);
        err[0] = 0;
        CHECK_MSG(fpfc_read_rle(&v, &r, "ann 0", err, sizeof err) != 0 && strstr(err, cases[i][1]), "%s: %s",
                  cases[i][0], err);
        fpfc_json_free(&v);
    }
}

int main(void) {
    RUN(coco_json_escapes_and_round_trips);
    RUN(json_integers_in_range_only);
    RUN(parse_errors_say_where);
    RUN(rle_fields_checked);
    return harness_summary("coco");
}
