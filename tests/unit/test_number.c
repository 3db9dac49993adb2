/*
 * test_number.c - exact number conversion (libpolyws, numparse.c).
 *
 * The differential test compares pws_parse_double() bit for bit with
 * strtod_l() in the "C" locale over more than 5 million literals from a fixed
 * seed: random doubles printed with %.17g, %.{1..16}g and %.{0..20}e, price-like
 * decimals, random digit strings (mantissas of 1..40 digits, exponents up to
 * +-400), exact halfway points between neighbouring doubles and their
 * neighbours, subnormals, and the edges (zero, the largest and smallest
 * doubles, overflow to infinity, underflow to zero).  Each literal is also
 * scanned inside a buffer with trailing bytes, as in a frame, to exercise the
 * 8-bytes-at-a-time path.  POLYWS_TEST_NUMBER_COUNT scales the random part
 * (default 1000000 rounds of about 5.5 literals each).
 *
 * Overflow: like strtod, a literal beyond the double range gives +-infinity
 * and pws_parse_double() still returns 0 (the frame parser turns it into an
 * element error); underflow gives the same subnormal or zero as strtod.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "numparse.h"

#include <polyws/parse.h>

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static uint64_t rng = 0x5EED5EED12345678ull; /* fixed seed: every run checks the same literals */

static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(next_u64() % n);
}

static locale_t c_loc;

static double ref_strtod(const char *s)
{
    return strtod_l(s, NULL, c_loc);
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* What the differential run found. */
static struct {
    unsigned long compared;   /* literals compared with strtod_l */
    unsigned long mismatches; /* literals that differed (the first few are printed) */
} diff;

/* Compares one literal both ways: standalone through pws_parse_double() and
 * embedded in a frame-like buffer through the scanner. */
static void check_literal(const char *lit)
{
    size_t len = strlen(lit);
    double want = ref_strtod(lit), got = 0, got2 = 0;
    char framed[PWS__NUMBER_MAX_LEN + 32];
    pws__number num;
    const char *err_at = NULL, *reason = NULL, *stop;
    bool ok;

    diff.compared++;
    ok = pws_parse_double(lit, len, &got) == 0 && same_bits(got, want);
    if (ok && len <= PWS__NUMBER_MAX_LEN) {
        memcpy(framed, lit, len);
        memcpy(framed + len, "}]0123456789abcdef", 18);
        stop = pws__scan_number(framed, framed + len + 18, &num, &err_at, &reason);
        ok = stop == framed + len && pws__number_to_double(&num, framed, len, &got2) == 0 &&
             same_bits(got2, want);
    }
    if (!ok && diff.mismatches++ < 10)
        fprintf(stderr, "\n  mismatch: \"%s\": strtod %a, polyws %a / %a\n", lit, want, got, got2);
}

static double random_finite_double(void)
{
    for (;;) {
        uint64_t bits = next_u64();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            return d;
    }
}

/* Random digits: the first non-zero. */
static void put_digits(char **w, unsigned n, bool first_nonzero)
{
    for (unsigned i = 0; i < n; i++)
        *(*w)++ = (char)('0' + ((i == 0 && first_nonzero) ? 1 + below(9) : below(10)));
}

/* A random JSON literal: mantissa of 1..40 digits, maybe a fraction, maybe
 * an exponent in -400..400. */
static void random_digit_string(char *out)
{
    char *w = out;
    if (below(2))
        *w++ = '-';
    if (below(5) == 0) {
        *w++ = '0';
    } else {
        put_digits(&w, 1 + below(below(2) ? 20 : 40), true);
    }
    if (below(3) != 0) {
        *w++ = '.';
        put_digits(&w, 1 + below(below(2) ? 10 : 40), false);
    }
    if (below(2)) {
        *w++ = below(2) ? 'e' : 'E';
        unsigned sign = below(3);
        if (sign == 1)
            *w++ = '-';
        else if (sign == 2)
            *w++ = '+';
        w += sprintf(w, "%u", below(2) ? below(30) : below(401));
    }
    *w = '\0';
}

/* A price or size the way feeds print them: up to 19 digits with the point
 * anywhere, including "0.000ddd" forms (mostly the fast path). */
static void random_decimal(char *out)
{
    uint64_t m = (next_u64() % 10000000000000000000ull) >> below(64); /* all magnitudes, mostly small */
    char digits[32];
    int n = sprintf(digits, "%" PRIu64, m);
    int point = (int)below((unsigned)n + 4); /* digits after the point */
    const char *sign = below(4) == 0 ? "-" : "";

    if (point == 0)
        sprintf(out, "%s%s", sign, digits);
    else if (point < n)
        sprintf(out, "%s%.*s.%s", sign, n - point, digits, digits + n - point);
    else
        sprintf(out, "%s0.%.*s%s", sign, point - n, "000", digits); /* 0..3 leading zeros */
}

/* The exact decimal value of the midpoint between d > 0 and the next double
 * up, then the same plus a tiny bit, minus a tiny bit (last digit changed).
 * x86 long double holds the 54-bit midpoint exactly and glibc prints it
 * exactly when asked for enough digits. */
static void halfway_cases(double d)
{
    char buf[400];
    long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
    int n = snprintf(buf, sizeof buf, "%.160Le", mid);
    char *e = strchr(buf, 'e');
    char *z;
    char tail[16];

    if (n <= 0 || e == NULL || !isfinite(nextafter(d, INFINITY)))
        return;
    snprintf(tail, sizeof tail, "%s", e);
    z = e;
    while (z[-1] == '0')
        z--;
    if (z[-1] == '.')
        z--;
    strcpy(z, tail); /* exact midpoint, trailing zeros dropped */
    check_literal(buf);
    /* just above: one more digit */
    e = strchr(buf, 'e');
    if (strchr(buf, '.') != NULL) {
        memmove(e + 1, e, strlen(e) + 1);
        *e = '1';
        check_literal(buf);
        /* just below: the last mantissa digit minus one, if it is not zero */
        e = strchr(buf, 'e');
        memmove(e - 1, e, strlen(e) + 1); /* drop the added '1' */
        e = strchr(buf, 'e');
        if (e[-1] > '0' && e[-1] <= '9') {
            e[-1]--;
            check_literal(buf);
        }
    }
}

/* ---------------------------------------------------------------- tests */

static void test_grammar_accepts(void)
{
    static const char *const good[] = {
        "0", "-0", "0.0", "-0.0", "1", "-1", "10", "1.5", "0.5", "123.456", "1e5", "1E5", "1e+5", "1e-5",
        "1.5e10", "-1.5E-10", "0e0", "0.000001", "12345678901234567890", "1e0001", "9.99e-00",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double got;
        int rc = pws_parse_double(good[i], strlen(good[i]), &got);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc == 0)
            CU_ASSERT(same_bits(got, ref_strtod(good[i])));
    }
}

static void test_grammar_rejects(void)
{
    static const char *const bad[] = {
        "",    "+1",     "01",   "-01",  "00",  ".5",  "-.5",     "1.",   "1.e5", "1e",     "1e+",  "1e-",
        "-",   "0x10",   "0X1F", "inf",  "-inf", "nan", "NaN",    "Infinity", "-Infinity", " 1", "1 ",
        "1.5.5", "--1",  "1e5.5", "1ee5", "e5",  "1,5", "\xd9\xa1",       "1_000", "0.1f", "\t1", "1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double got = 42;
        int rc = pws_parse_double(bad[i], strlen(bad[i]), &got);
        if (rc != -1)
            fprintf(stderr, "\n  accepted \"%s\"\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
    }
    CU_ASSERT_EQUAL(pws_parse_double(NULL, 1, NULL), -1);
}

/* The scanner's reasons and positions, as the frame parser reports them. */
static void test_scan_reasons(void)
{
    static const struct {
        const char *text;   /* literal (followed by nothing) */
        size_t err_offset;  /* expected error position */
        const char *reason; /* expected reason */
    } cases[] = {
        { "01", 1, "leading zeros not allowed" },
        { "-", 1, "unexpected end of input" },
        { "-x", 1, "digit expected after '-'" },
        { "-Infinity", 1, "NaN or Infinity not allowed" },
        { "1.", 2, "unexpected end of input" },
        { "1.x", 2, "digit expected after '.'" },
        { "1e", 2, "unexpected end of input" },
        { "1e+x", 3, "digit expected in exponent" },
        { "x", 0, "invalid number" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].text;
        pws__number num;
        const char *err_at = NULL, *reason = NULL;
        const char *stop = pws__scan_number(s, s + strlen(s), &num, &err_at, &reason);
        CU_ASSERT_PTR_NULL(stop);
        CU_ASSERT_PTR_NOT_NULL_FATAL(reason);
        CU_ASSERT_STRING_EQUAL(reason, cases[i].reason);
        CU_ASSERT_EQUAL((size_t)(err_at - s), cases[i].err_offset);
    }
}

static void test_length_limit(void)
{
    char buf[PWS__NUMBER_MAX_LEN + 2];
    double got;

    /* 512 bytes: "0." then 509 zeros then "1" -> converted. */
    memset(buf, '0', sizeof buf);
    buf[1] = '.';
    buf[PWS__NUMBER_MAX_LEN - 1] = '1';
    buf[PWS__NUMBER_MAX_LEN] = '\0';
    CU_ASSERT_EQUAL(pws_parse_double(buf, PWS__NUMBER_MAX_LEN, &got), 0);
    CU_ASSERT(same_bits(got, ref_strtod(buf)));
    /* 513 bytes: rejected even though it is a valid JSON number. */
    buf[PWS__NUMBER_MAX_LEN - 1] = '0';
    buf[PWS__NUMBER_MAX_LEN] = '1';
    buf[PWS__NUMBER_MAX_LEN + 1] = '\0';
    CU_ASSERT_EQUAL(pws_parse_double(buf, PWS__NUMBER_MAX_LEN + 1, &got), -1);
}

static void test_edges(void)
{
    static const char *const edges[] = {
        "0", "-0", "0e-999999", "-0e999999", "0.0000000000000000000000000000000000000000001e-400",
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "-1.7976931348623157e308",
        "1e308", "1e309", "-1e309", "1e999999999999", "-1e99999999999999999999999",
        "2.2250738585072014e-308", "2.2250738585072011e-308", "2.2250738585072012e-308",
        "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
        "2.47032822920623272e-324", "1e-323", "1e-324", "1e-400", "-1e-400", "1e-99999999999",
        "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995",
        "18014398509481985", "18014398509481986", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
        "1e22", "1e23", "9e22", "1e37", "12e30", "9007199254740991e22", "9007199254740992e15",
        "8.98846567431158e307", "0.1", "0.2", "0.3", "3.14159265358979323846264338327950288",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "7.2057594037927933e16", "1448997445238699", "5e-324", "114.125", "25.3981",
        "1536036818784", "0.000000000000000000001", "100000000000000000000000",
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_literal(edges[i]);
    CU_ASSERT_EQUAL(diff.mismatches, 0);
}

static void test_int64(void)
{
    static const struct {
        const char *text; /* literal */
        int rc;           /* PWS__INT_* */
        int64_t value;    /* expected value when rc is OK */
    } cases[] = {
        { "0", PWS__INT_OK, 0 },
        { "-0", PWS__INT_OK, 0 },
        { "7", PWS__INT_OK, 7 },
        { "-7", PWS__INT_OK, -7 },
        { "1536036818784", PWS__INT_OK, 1536036818784 },
        { "9223372036854775807", PWS__INT_OK, INT64_MAX },
        { "-9223372036854775808", PWS__INT_OK, INT64_MIN },
        { "9223372036854775808", PWS__INT_RANGE, 0 },
        { "-9223372036854775809", PWS__INT_RANGE, 0 },
        { "9999999999999999999", PWS__INT_RANGE, 0 },
        { "10000000000000000000", PWS__INT_RANGE, 0 },
        { "100000000000000000000000", PWS__INT_RANGE, 0 },
        { "1.0", PWS__INT_NOT_INTEGER, 0 },
        { "1e3", PWS__INT_NOT_INTEGER, 0 },
        { "01", PWS__INT_NOT_INTEGER, 0 },
        { "+1", PWS__INT_NOT_INTEGER, 0 },
        { "", PWS__INT_NOT_INTEGER, 0 },
        { "1x", PWS__INT_NOT_INTEGER, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        int rc = pws__parse_int64(cases[i].text, strlen(cases[i].text), &v);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (rc == PWS__INT_OK)
            CU_ASSERT_EQUAL(v, cases[i].value);
    }
    /* random integers against strtoll */
    for (int i = 0; i < 200000; i++) {
        char buf[32];
        int64_t want = (int64_t)(next_u64() >> below(64)) * (below(2) ? -1 : 1), got = 0;
        int n = snprintf(buf, sizeof buf, "%" PRId64, want);
        CU_ASSERT_EQUAL_FATAL(pws__parse_int64(buf, (size_t)n, &got), PWS__INT_OK);
        CU_ASSERT_EQUAL_FATAL(got, want);
    }
}

/* A program that set a decimal-comma locale still parses "1.5" as 1.5. */
static void test_locale_independent(void)
{
    static const char *const locales[] = { "de_DE.UTF-8", "de_DE", "fr_FR.UTF-8", "ru_RU.UTF-8" };
    char *saved = strdup(setlocale(LC_NUMERIC, NULL));
    bool switched = false;
    double got;

    for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !switched; i++)
        switched = setlocale(LC_NUMERIC, locales[i]) != NULL;
    if (!switched)
        fprintf(stderr, "\n  (no decimal-comma locale installed; checking in the current one) ");
    /* 1.5 takes the fast path, the long literal the strtod_l fallback */
    CU_ASSERT_EQUAL(pws_parse_double("1.5", 3, &got), 0);
    CU_ASSERT_EQUAL(got, 1.5);
    CU_ASSERT_EQUAL(pws_parse_double("1.50000000000000000000000001", 28, &got), 0);
    CU_ASSERT_EQUAL(got, 1.5);
    setlocale(LC_NUMERIC, saved);
    free(saved);
}

static void test_differential(void)
{
    const char *env = getenv("POLYWS_TEST_NUMBER_COUNT");
    unsigned long rounds = env ? strtoul(env, NULL, 10) : 1000000;
    char buf[512];

    for (unsigned long r = 0; r < rounds; r++) {
        double d = random_finite_double();
        snprintf(buf, sizeof buf, "%.17g", d);
        check_literal(buf);
        snprintf(buf, sizeof buf, "%.*g", 1 + (int)below(16), d);
        check_literal(buf);
        snprintf(buf, sizeof buf, "%.*e", (int)below(21), d);
        check_literal(buf);
        random_decimal(buf);
        check_literal(buf);
        random_digit_string(buf);
        check_literal(buf);
        if (r % 4 == 0) {
            /* a subnormal */
            uint64_t bits = next_u64() & 0x800FFFFFFFFFFFFFull;
            memcpy(&d, &bits, sizeof d);
            snprintf(buf, sizeof buf, "%.*g", 1 + (int)below(17), d);
            check_literal(buf);
        }
        if (r % 8 == 0) {
            /* halfway points around doubles of feed-like magnitudes */
            double m = ldexp(1.0 + (double)(next_u64() >> 12) / 4503599627370496.0, (int)below(140) - 70);
            halfway_cases(m);
        }
    }
    printf("\n  number differential: %lu literals compared bit for bit with strtod_l (C locale), "
           "%lu mismatches\n",
           diff.compared, diff.mismatches);
    CU_ASSERT_EQUAL(diff.mismatches, 0);
    if (env == NULL)
        CU_ASSERT(diff.compared >= 5000000);
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c_loc == (locale_t)0 || CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("number", NULL, NULL);
    if (suite == NULL || !CU_add_test(suite, "grammar accepts", test_grammar_accepts) ||
        !CU_add_test(suite, "grammar rejects", test_grammar_rejects) ||
        !CU_add_test(suite, "scanner reasons and offsets", test_scan_reasons) ||
        !CU_add_test(suite, "length limit", test_length_limit) ||
        !CU_add_test(suite, "edge values", test_edges) ||
        !CU_add_test(suite, "int64", test_int64) ||
        !CU_add_test(suite, "locale independent", test_locale_independent) ||
        !CU_add_test(suite, "differential vs strtod_l", test_differential)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    freelocale(c_loc);
    return failures == 0 ? 0 : 1;
}
