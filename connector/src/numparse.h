/*
 * numparse.h - exact JSON number scanning and conversion (library-internal).
 *
 * The frame parser scans a number once with pws__scan_number(), which checks
 * the JSON grammar and gathers the significant digits and the decimal
 * exponent on the way, then converts the result with pws__number_to_double()
 * or pws__number_to_int64() depending on the field's type.  Doubles are
 * correctly rounded (bit-identical to strtod() in the "C" locale): literals
 * with at most 19 significant digits that fit Clinger's fast path are
 * converted with one exact double multiply or divide; the rest go to
 * strtod_l() with a "C" locale created once per process.
 *
 * The common cases are static inline here on purpose: a market-data event
 * carries about ten numbers, and a call into another translation unit for
 * each one was a measurable share of the parse time.  The rare cases live
 * out of line in numparse.c.
 */
#ifndef POLYWS_NUMPARSE_H
#define POLYWS_NUMPARSE_H

#include <float.h>
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest number literal, in bytes, that is converted to a value.  The slow
 * path copies the literal into a stack buffer of this size to NUL-terminate it
 * for strtod_l(); a longer literal is rejected ("number too long").  Real feeds
 * send at most ~25 bytes; %.17g of any double needs at most 24. */
#define PWS__NUMBER_MAX_LEN 512

/* Significant digits a pws__number holds exactly (10^19 < 2^64). */
#define PWS__NUMBER_MAX_DIGITS 19

/* Flags of a pws__number.  One byte on purpose: the conversions test
 * several flags at once, and a single-byte field is read back exactly as it
 * was written (separate bools next to exp10 got merged by the compiler into
 * one wide load of several narrow stores, which stalls store forwarding). */
#define PWS__NUM_NEGATIVE 0x01u /* the literal starts with '-' */
#define PWS__NUM_INTEGER 0x02u  /* no fraction and no exponent part: an integer literal */
#define PWS__NUM_INEXACT 0x04u  /* a non-zero digit after the 19th: `digits` holds only a prefix */
#define PWS__NUM_LONG 0x08u     /* more than 19 significant digits (exact or not) */

/* A scanned JSON number literal, before conversion. */
typedef struct pws__number {
    uint64_t digits; /* the first (at most 19) significant digits, as an integer */
    int32_t exp10;   /* decimal exponent: value = digits * 10^exp10 (unless INEXACT), clamped to +-10^8 */
    uint8_t flags;   /* PWS__NUM_* */
} pws__number;

/* The general scanner (numparse.c): same contract as pws__scan_number(). */
const char *pws__scan_number_slow(const char *p, const char *end, pws__number *num, const char **err_at,
                                  const char **reason);

/* strtod_l() in the "C" locale on text[0..len) (copied to a NUL-terminated
 * stack buffer).  Returns 0, or -1 if len > PWS__NUMBER_MAX_LEN, strtod stops
 * early, or the locale could not be created (out of memory). */
int pws__strtod_c(const char *text, size_t len, double *out);

/* 10^0 .. 10^22: the powers of ten that are exact doubles (5^22 < 2^53). */
extern const double pws__exact_pow10[23];

/* The process-wide "C" LC_NUMERIC locale object (created once, thread-safe,
 * never freed), or (locale_t)0 if newlocale() failed. */
locale_t pws__c_locale(void);

/* ------------------------------------------------------ inline fast paths */

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PWS__SWAR_DIGITS 1 /* 8-byte loads read as little-endian words, __builtin_ctzll */
#else
#define PWS__SWAR_DIGITS 0
#endif

#if defined(__GNUC__)
#define PWS__HOT_INLINE static inline __attribute__((always_inline))
#else
#define PWS__HOT_INLINE static inline
#endif

#if PWS__SWAR_DIGITS
/* Number of leading ASCII digits (0..8) among the 8 bytes in v (first byte
 * lowest).  Xor with '0' maps digits to 0..9 and everything else to >= 10;
 * adding 0x76 to the low 7 bits sets bit 7 exactly for 10..127 without a
 * carry between bytes, and or-ing the byte itself catches 128..255. */
static inline unsigned pws__leading_digits(uint64_t v)
{
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full, highs = 0x8080808080808080ull;
    uint64_t t = v ^ 0x3030303030303030ull;
    uint64_t non_digit = (((t & low7) + 0x7676767676767676ull) | t) & highs;
    return non_digit ? (unsigned)__builtin_ctzll(non_digit) >> 3 : 8u;
}

/* Value of the first n (1..8) bytes of v, all ASCII digits.  Subtracting '0'
 * cannot borrow out of a digit byte, so the bytes past n (shifted out) cannot
 * disturb it.  Shifting puts the n digits last, behind zero digits; then
 * neighbouring digits are paired (10*a+b), and the four pairs combined with
 * two multiplies that each place two pairs at once in the high 32 bits. */
static inline uint64_t pws__parse_digits(uint64_t v, unsigned n)
{
    v -= 0x3030303030303030ull;
    if (n < 8)
        v <<= 8 * (8 - n);
    v = v * 10 + (v >> 8); /* byte 2k = pair k (0..99); odd bytes are ignored */
    return (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
            (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
}

static inline uint64_t pws__load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
#endif

/* Scans one JSON number literal at p (p < end), checking the JSON grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  (no '+', no leading zeros,
 * no ".5", no "1.", no hex, no NaN/Infinity).  Scanning stops at the first byte
 * that cannot continue the literal; the caller checks what follows.  Returns
 * the position one past the literal and fills *num, or returns NULL and sets
 * *err_at / *reason (a static string; "unexpected end of input" when the
 * literal is cut short by `end`).  Reads nothing at or past `end`.
 *
 * Fast path: "-?ddd(.ddd)?" with at most 15 integer and 7 fraction digits (19
 * in all) and 8 readable bytes at each digit run, which is nearly every price,
 * size and timestamp in a feed, is read 8 bytes at a time without a branch per
 * digit.  Anything else (exponents, long or odd literals, errors, the end of
 * the buffer) goes to the general byte-at-a-time scanner. */
PWS__HOT_INLINE const char *pws__scan_number(const char *p, const char *end, pws__number *num,
                                             const char **err_at, const char **reason)
{
#if PWS__SWAR_DIGITS
    static const uint64_t pow10_u64[9] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };
    const char *q = p + (*p == '-');
    uint64_t v, whole;
    unsigned n_int, n_frac;

    if (end - q < 8)
        goto general;
    v = pws__load8(q);
    n_int = pws__leading_digits(v);
    if (n_int == 0 || (n_int > 1 && *q == '0'))
        goto general; /* not a number, or a leading zero: the general scanner words the error */
    if (n_int < 8) {
        whole = pws__parse_digits(v, n_int);
        q += n_int;
    } else {
        unsigned more;
        whole = pws__parse_digits(v, 8);
        q += 8;
        if (end - q < 8)
            goto general;
        v = pws__load8(q);
        more = pws__leading_digits(v);
        if (more > 7)
            goto general; /* 16+ integer digits */
        if (more > 0)
            whole = whole * pow10_u64[more] + pws__parse_digits(v, more);
        q += more;
        n_int += more;
    }
    /* q is inside a loaded chunk here, at the byte that ended the digits. */
    if (*q == '.') {
        q++;
        if (end - q < 8)
            goto general;
        v = pws__load8(q);
        n_frac = pws__leading_digits(v);
        if (n_frac == 0 || n_frac == 8 || n_int + n_frac > PWS__NUMBER_MAX_DIGITS)
            goto general;
        q += n_frac;
        num->digits = whole * pow10_u64[n_frac] + pws__parse_digits(v, n_frac);
        num->exp10 = -(int32_t)n_frac;
        num->flags = (uint8_t)(*p == '-' ? PWS__NUM_NEGATIVE : 0);
    } else {
        num->digits = whole;
        num->exp10 = 0;
        num->flags = (uint8_t)(PWS__NUM_INTEGER | (*p == '-' ? PWS__NUM_NEGATIVE : 0));
    }
    if (*q == 'e' || *q == 'E')
        goto general;
    return q;
general:
#endif
    {
        /* Through a copy, so that the caller's *num does not escape and can
         * stay in registers on the fast path. */
        pws__number slow = { 0, 0, 0 };
        const char *stop = pws__scan_number_slow(p, end, &slow, err_at, reason);
        num->digits = slow.digits; /* field by field: a struct copy would force *num into memory */
        num->exp10 = slow.exp10;
        num->flags = slow.flags;
        return stop;
    }
}

/* Converts a scanned number to the correctly rounded double that strtod()
 * in the "C" locale returns for `text` (the literal's bytes, len of them),
 * including +-HUGE_VAL on overflow and 0 or a subnormal on underflow.  Returns
 * 0, or -1 if len > PWS__NUMBER_MAX_LEN or the "C" locale could not be created
 * (out of memory at the first slow-path call). */
PWS__HOT_INLINE int pws__number_to_double(const pws__number *num, const char *text, size_t len, double *out)
{
    const uint64_t two_pow_53 = (uint64_t)1 << 53;

    if (len > PWS__NUMBER_MAX_LEN)
        return -1;
    if (num->digits == 0) {
        /* All digits zero (inexact needs a non-zero leading digit): any
         * exponent gives zero, with the literal's sign. */
        *out = (num->flags & PWS__NUM_NEGATIVE) ? -0.0 : 0.0;
        return 0;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    /* Clinger: digits and 10^|e| are both exact doubles, so one IEEE multiply
     * or divide rounds once, correctly.  (With x87 extended precision,
     * FLT_EVAL_METHOD != 0, it would round twice; the fast path is off.) */
    if (!(num->flags & PWS__NUM_INEXACT) && num->digits <= two_pow_53) {
        int e = num->exp10;
        double v;
        if (e >= 0 && e <= 22) {
            v = (double)num->digits * pws__exact_pow10[e];
        } else if (e < 0 && e >= -22) {
            v = (double)num->digits / pws__exact_pow10[-e];
        } else if (e > 22 && e <= 22 + 15) {
            /* "12e30": move the excess of the exponent into the digits while
             * they stay an exact integer up to 2^53, then one multiply. */
            uint64_t d = num->digits;
            for (; e > 22; e--) {
                if (d > two_pow_53 / 10)
                    return pws__strtod_c(text, len, out);
                d *= 10u;
            }
            v = (double)d * pws__exact_pow10[22];
        } else {
            return pws__strtod_c(text, len, out);
        }
        *out = (num->flags & PWS__NUM_NEGATIVE) ? -v : v;
        return 0;
    }
#endif
    return pws__strtod_c(text, len, out);
}

/* Result codes of the integer conversions. */
#define PWS__INT_OK 0             /* *out is set */
#define PWS__INT_NOT_INTEGER (-1) /* a fraction or an exponent part is present ("1.0", "1e3") */
#define PWS__INT_RANGE (-2)       /* the integer does not fit int64_t */

/* Converts a scanned integer literal exactly to int64_t, detecting overflow.
 * Returns one of the PWS__INT_* codes. */
static inline int pws__number_to_int64(const pws__number *num, int64_t *out)
{
    if (!(num->flags & PWS__NUM_INTEGER))
        return PWS__INT_NOT_INTEGER;
    /* Every integer of 20 or more digits exceeds INT64_MAX. */
    if (num->flags & PWS__NUM_LONG)
        return PWS__INT_RANGE;
    if (num->flags & PWS__NUM_NEGATIVE) {
        if (num->digits > (uint64_t)INT64_MAX + 1u)
            return PWS__INT_RANGE;
        *out = num->digits == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)num->digits;
    } else {
        if (num->digits > (uint64_t)INT64_MAX)
            return PWS__INT_RANGE;
        *out = (int64_t)num->digits;
    }
    return PWS__INT_OK;
}

/* Parses a whole integer literal s[0..len) (JSON grammar, no fraction or
 * exponent).  Returns PWS__INT_OK, PWS__INT_NOT_INTEGER (also for text that is
 * not a JSON number at all) or PWS__INT_RANGE. */
int pws__parse_int64(const char *s, size_t len, int64_t *out);

#endif /* POLYWS_NUMPARSE_H */
