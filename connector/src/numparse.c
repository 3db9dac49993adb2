/*
 * numparse.c - exact JSON number conversion.
 *
 * Why not just strtod()?  Three reasons.  It follows the process locale (a
 * program that called setlocale(LC_ALL, "de_DE") would read "1.5" as 1), it
 * accepts far more than JSON ("+1", ".5", "0x10", "inf", leading spaces), and
 * it needs a NUL-terminated string while our frames are not.  strtod() is also
 * slow-ish for the short prices and sizes that make up almost every number in
 * a market-data feed.
 *
 * So the scanner checks the JSON grammar and gathers up to 19 significant
 * digits and a decimal exponent in one pass.  When the digits fit in 2^53 and
 * the exponent is within +-22, both the digits and the power of ten are exact
 * doubles and one IEEE multiply or divide gives the correctly rounded result
 * (Clinger, "How to read floating point numbers accurately", 1990).  This
 * needs FLT_EVAL_METHOD == 0 (no x87 extended precision, which would round
 * twice); elsewhere the fast path is compiled out.  Everything else (long
 * mantissas, large exponents, subnormals, overflow) is handed to strtod_l() in
 * a "C" locale created once, on a NUL-terminated copy in a stack buffer.
 *
 * The 8-bytes-at-a-time scanner for common literals and the Clinger fast path
 * are static inline in numparse.h; this file holds the general byte-at-a-time
 * scanner (the reference for the grammar and its error reasons), the locale
 * and the strtod_l() fallback.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif

#include "numparse.h"

#include <polyws/parse.h>

#include <float.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Clamp for the decimal exponent.  Any |exponent| above ~350 already means
 * zero or infinity, so clamping changes no result and keeps the arithmetic
 * far away from int32 overflow however long the literal is. */
#define EXP10_CLAMP 100000000

static const char *const reason_eof = "unexpected end of input";

static inline bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') <= 9u;
}

/* The exactly representable powers of ten, shared with the inline fast path. */
const double pws__exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

const char *pws__scan_number_slow(const char *p, const char *end, pws__number *num, const char **err_at,
                                  const char **reason)
{
    uint64_t digits = 0; /* significant digits kept so far */
    int nd = 0;          /* how many of them (<= 19) */
    int64_t exp10 = 0;   /* decimal exponent applying to `digits` */
    bool inexact = false;
    bool long_digits = false; /* more than 19 significant digits */
    bool negative = false;
    bool integer = true;

    if (*p == '-') {
        negative = true;
        if (++p == end) {
            *err_at = p;
            *reason = reason_eof;
            return NULL;
        }
    }
    unsigned char c = (unsigned char)*p;
    if (c == '0') {
        /* A lone zero: "01" is not JSON (it would be octal to some readers). */
        if (++p < end && is_digit((unsigned char)*p)) {
            *err_at = p;
            *reason = "leading zeros not allowed";
            return NULL;
        }
    } else if (c >= '1' && c <= '9') {
        /* Integer part.  Every digit here is significant (no leading zeros);
         * digits past the 19th only raise the exponent. */
        do {
            if (nd < PWS__NUMBER_MAX_DIGITS) {
                digits = digits * 10u + (uint64_t)(c - '0');
                nd++;
            } else {
                exp10++;
                long_digits = true;
                inexact |= c != '0';
            }
            if (++p == end)
                break;
            c = (unsigned char)*p;
        } while (is_digit(c));
    } else {
        *err_at = p;
        if (c == 'I' || c == 'i' || c == 'N' || c == 'n')
            *reason = "NaN or Infinity not allowed";
        else
            *reason = negative ? "digit expected after '-'" : "invalid number";
        return NULL;
    }

    if (p < end && *p == '.') {
        integer = false;
        if (++p == end) {
            *err_at = p;
            *reason = reason_eof;
            return NULL;
        }
        c = (unsigned char)*p;
        if (!is_digit(c)) {
            *err_at = p;
            *reason = "digit expected after '.'";
            return NULL;
        }
        do {
            if (nd == 0 && c == '0') {
                exp10--; /* a zero before the first significant digit only scales */
            } else if (nd < PWS__NUMBER_MAX_DIGITS) {
                digits = digits * 10u + (uint64_t)(c - '0');
                nd++;
                exp10--;
            } else {
                long_digits = true;
                inexact |= c != '0';
            }
            if (++p == end)
                break;
            c = (unsigned char)*p;
        } while (is_digit(c));
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        bool exp_negative = false;
        int64_t e = 0;
        integer = false;
        if (++p < end && (*p == '+' || *p == '-'))
            exp_negative = *p++ == '-';
        if (p == end) {
            *err_at = p;
            *reason = reason_eof;
            return NULL;
        }
        c = (unsigned char)*p;
        if (!is_digit(c)) {
            *err_at = p;
            *reason = "digit expected in exponent";
            return NULL;
        }
        do {
            if (e < EXP10_CLAMP)
                e = e * 10 + (c - '0');
            if (++p == end)
                break;
            c = (unsigned char)*p;
        } while (is_digit(c));
        exp10 += exp_negative ? -e : e;
    }

    if (exp10 > EXP10_CLAMP)
        exp10 = EXP10_CLAMP;
    else if (exp10 < -EXP10_CLAMP)
        exp10 = -EXP10_CLAMP;
    num->digits = digits;
    num->exp10 = (int32_t)exp10;
    num->flags = (uint8_t)((negative ? PWS__NUM_NEGATIVE : 0) | (integer ? PWS__NUM_INTEGER : 0) |
                           (inexact ? PWS__NUM_INEXACT : 0) | (long_digits ? PWS__NUM_LONG : 0));
    return p;
}

/* ------------------------------------------------------------- C locale */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale; /* written once under c_locale_once, then read-only */

static void c_locale_create(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

locale_t pws__c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_create);
    return c_locale;
}

/* ------------------------------------------------------------ conversion */

/* The slow path: strtod_l() on a NUL-terminated copy. */
int pws__strtod_c(const char *text, size_t len, double *out)
{
    char copy[PWS__NUMBER_MAX_LEN + 1];
    locale_t loc = pws__c_locale();
    char *stop;

    if (len > PWS__NUMBER_MAX_LEN || loc == (locale_t)0)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    /* errno (ERANGE on overflow or underflow) is deliberately ignored: the
     * value strtod returns is the contract. */
    *out = strtod_l(copy, &stop, loc);
    return stop == copy + len ? 0 : -1;
}

int pws__parse_int64(const char *s, size_t len, int64_t *out)
{
    pws__number num;
    const char *err_at, *reason;
    const char *stop;

    if (s == NULL || len == 0)
        return PWS__INT_NOT_INTEGER;
    stop = pws__scan_number(s, s + len, &num, &err_at, &reason);
    if (stop != s + len)
        return PWS__INT_NOT_INTEGER;
    return pws__number_to_int64(&num, out);
}

int pws_parse_double(const char *s, size_t len, double *out)
{
    pws__number num;
    const char *err_at, *reason;
    const char *stop;

    if (s == NULL || out == NULL || len == 0)
        return -1;
    stop = pws__scan_number(s, s + len, &num, &err_at, &reason);
    if (stop != s + len)
        return -1;
    return pws__number_to_double(&num, s, len, out);
}
