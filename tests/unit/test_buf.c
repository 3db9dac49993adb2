/*
 * test_buf.c - wire's growable buffers (wire/src/buf.c): pws__grow and
 * pws__append at their maximum, pws__buf, and the two printf-style appenders
 * the CLI, the judge and the certificate words share: pws__vappendf (growable,
 * bounded by a maximum, never a silent cut) and pws__fixed_appendf (a fixed
 * line, cut and kept NUL-terminated).
 */
#include "wire/buf.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct grown {
    char *p;
    size_t len;
    size_t cap;
} grown;

static int appendf(grown *g, size_t max, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int appendf(grown *g, size_t max, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = pws__vappendf(&g->p, &g->len, &g->cap, max, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_grow_and_append_stop_at_max(void)
{
    grown g = {0};
    CU_ASSERT_EQUAL(pws__append(&g.p, &g.len, &g.cap, "abcd", 4, 8), 0);
    CU_ASSERT_EQUAL(pws__append(&g.p, &g.len, &g.cap, "efgh", 4, 8), 0);
    CU_ASSERT_STRING_EQUAL(g.p, "abcdefgh");
    /* one more byte is over the maximum: an error, and nothing changed */
    CU_ASSERT_EQUAL(pws__append(&g.p, &g.len, &g.cap, "i", 1, 8), -1);
    CU_ASSERT_EQUAL(g.len, 8);
    CU_ASSERT_STRING_EQUAL(g.p, "abcdefgh");
    /* a length that would wrap around SIZE_MAX */
    CU_ASSERT_EQUAL(pws__grow(&g.p, g.len, &g.cap, SIZE_MAX - 2, SIZE_MAX), -1);
    free(g.p);
}

static void test_vappendf_grows_and_formats(void)
{
    grown g = {0};
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL_FATAL(appendf(&g, SIZE_MAX / 2, "%d,", i), 0);
    CU_ASSERT(g.cap > g.len);
    CU_ASSERT_EQUAL(g.p[g.len], '\0');
    CU_ASSERT_EQUAL(strlen(g.p), g.len);
    CU_ASSERT_NSTRING_EQUAL(g.p, "0,1,2,", 6);
    CU_ASSERT_STRING_EQUAL(g.p + g.len - 4, "999,");
    /* one piece far longer than the first allocation */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    size_t before = g.len;
    CU_ASSERT_EQUAL(appendf(&g, SIZE_MAX / 2, "[%s]", big), 0);
    CU_ASSERT_EQUAL(g.len, before + sizeof big + 1);
    CU_ASSERT_EQUAL(g.p[g.len - 1], ']');
    free(g.p);
}

static void test_vappendf_over_max_appends_nothing(void)
{
    grown g = {0};
    CU_ASSERT_EQUAL(appendf(&g, 10, "%s", "0123456789"), 0);
    CU_ASSERT_EQUAL(appendf(&g, 10, "%c", 'x'), -1);
    CU_ASSERT_EQUAL(g.len, 10);
    CU_ASSERT_STRING_EQUAL(g.p, "0123456789");
    free(g.p);
    grown h = {0};
    CU_ASSERT_EQUAL(appendf(&h, 4, "%s", "too long"), -1);
    CU_ASSERT_EQUAL(h.len, 0);
    free(h.p);
}

static void test_fixed_appendf_cuts_and_terminates(void)
{
    char line[8];
    size_t len = 0;
    pws__fixed_appendf(line, sizeof line, &len, "%s", "ab");
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_STRING_EQUAL(line, "ab");
    pws__fixed_appendf(line, sizeof line, &len, "%d", 12345678);
    CU_ASSERT_EQUAL(len, 7); /* cap - 1: the rest is cut */
    CU_ASSERT_STRING_EQUAL(line, "ab12345");
    pws__fixed_appendf(line, sizeof line, &len, "%s", "more");
    CU_ASSERT_EQUAL(len, 7);
    CU_ASSERT_STRING_EQUAL(line, "ab12345");
    /* an empty piece changes nothing */
    char l2[4] = "";
    size_t n2 = 0;
    pws__fixed_appendf(l2, sizeof l2, &n2, "%s", "");
    CU_ASSERT_EQUAL(n2, 0);
    CU_ASSERT_STRING_EQUAL(l2, "");
}

static void test_buf_wiped_growth_keeps_bytes(void)
{
    pws__buf b = {.wipe = true};
    for (int i = 0; i < 300; i++)
        CU_ASSERT_EQUAL_FATAL(pws__buf_str(&b, "0123456789"), 0);
    CU_ASSERT_EQUAL(b.len, 3000);
    CU_ASSERT_NSTRING_EQUAL(b.p + 2990, "0123456789", 10);
    CU_ASSERT_EQUAL(b.p[b.len], '\0');
    pws__buf_free(&b);
    CU_ASSERT_PTR_NULL(b.p);
    CU_ASSERT_EQUAL(b.len, 0);
    pws__buf_free(NULL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("buf", NULL, NULL);
    CU_add_test(s, "grow and append stop at the maximum", test_grow_and_append_stop_at_max);
    CU_add_test(s, "vappendf grows and formats", test_vappendf_grows_and_formats);
    CU_add_test(s, "vappendf over the maximum appends nothing", test_vappendf_over_max_appends_nothing);
    CU_add_test(s, "fixed_appendf cuts and keeps the NUL", test_fixed_appendf_cuts_and_terminates);
    CU_add_test(s, "a wiped buffer keeps its bytes as it grows", test_buf_wiped_growth_keeps_bytes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
