/* tests/harness.h - a tiny test harness shared by every tests/test_*.c program.
 *
 *   TEST(name) { ... CHECK(cond); CHECK_NEAR(a, b, tol); ... }
 *   int main(void) { RUN(name); ...; return harness_summary("area"); }
 *
 * Each CHECK failure prints file:line and the expression. A test passes when
 * none of its checks failed. harness_summary() prints "area: N passed, N failed"
 * (plus ", N skipped") and returns non-zero on any failure. A test calls
 * SKIP("why") to mark itself skipped (for example when ../shared is absent). */
#ifndef FPF_TEST_HARNESS_H
#define FPF_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed, harness_skipped;
static int harness_cur_failed, harness_cur_skipped;

#define TEST(name) static void name(void)
#define RUN(name)                                                            \
    do {                                                                     \
        harness_cur_failed = 0; harness_cur_skipped = 0;                     \
        name();                                                              \
        if (harness_cur_skipped) { harness_skipped++; }                      \
        else if (harness_cur_failed) { harness_failed++;                     \
            printf("FAIL %s\n", #name); }                                    \
        else { harness_passed++; printf("ok   %s\n", #name); }               \
        fflush(stdout);                                                      \
    } while (0)
#define CHECK(cond)                                                          \
    do { if (!(cond)) { harness_cur_failed++;                                \
        printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); }  \
    } while (0)
#define CHECK_MSG(cond, ...)                                                 \
    do { if (!(cond)) { harness_cur_failed++;                                \
        printf("  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);    \
        printf(__VA_ARGS__); printf("\n"); } } while (0)
#define CHECK_EQ_INT(a, b)                                                   \
    do { long long a_ = (long long)(a), b_ = (long long)(b);                 \
        if (a_ != b_) { harness_cur_failed++;                                \
        printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__,       \
               __LINE__, #a, a_, #b, b_); } } while (0)
#define CHECK_NEAR(a, b, tol)                                                \
    do { double a_ = (double)(a), b_ = (double)(b);                          \
        if (!(fabs(a_ - b_) <= (tol))) { harness_cur_failed++;               \
        printf("  %s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__,     \
               __LINE__, #a, a_, b_, (double)(tol)); } } while (0)
#define SKIP(why)                                                            \
    do { harness_cur_skipped = 1; printf("skip %s: %s\n", __func__, why);    \
        return; } while (0)

static int harness_summary(const char *area) {
#ifdef HARNESS_SANITIZED /* the sanitized builds of make test: "<area> asan-ubsan: ..." */
    printf("%s asan-ubsan: %d passed, %d failed", area, harness_passed, harness_failed);
#else
    printf("%s: %d passed, %d failed", area, harness_passed, harness_failed);
#endif
    if (harness_skipped) printf(", %d skipped", harness_skipped);
    printf("\n");
    return harness_failed ? 1 : 0;
}
#endif
