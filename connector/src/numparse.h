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
 */
#ifndef POLYWS_NUMPARSE_H
#define POLYWS_NUMPARSE_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest number literal, in bytes, that is converted to a value.  The slow
 * path copies the literal into a stack buffer of this size to NUL-terminate it
 * for strtod_l(); a longer literal is rejected ("number too long").  Real feeds
 * send at most ~25 bytes; 512 leaves room for every exact decimal a printer
 * might produce for a double except the longest subnormal expansions. */
#define PWS__NUMBER_MAX_LEN 512

/* Significant digits a pws__number holds exactly (10^19 < 2^64). */
#define PWS__NUMBER_MAX_DIGITS 19

/* A scanned JSON number literal, before conversion. */
typedef struct pws__number {
    uint64_t digits; /* the first (at most 19) significant digits, as an integer */
    int32_t exp10;   /* decimal exponent: value = digits * 10^exp10 (if !inexact), clamped to +-10^8 */
    bool negative;   /* the literal starts with '-' */
    bool integer;    /* no fraction and no exponent part: an integer literal */
    bool inexact;    /* more than 19 significant digits: `digits` holds only a prefix */
} pws__number;

/* Scans one JSON number literal at p (p < end), checking the JSON grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  (no '+', no leading zeros,
 * no ".5", no "1.", no hex, no NaN/Infinity).  Scanning stops at the first byte
 * that cannot continue the literal; the caller checks what follows.  Returns
 * the position one past the literal and fills *num, or returns NULL and sets
 * *err_at / *reason (a static string; "unexpected end of input" when the
 * literal is cut short by `end`).  Reads nothing at or past `end`. */
const char *pws__scan_number(const char *p, const char *end, pws__number *num, const char **err_at,
                             const char **reason);

/* Converts a scanned number to the correctly rounded double that strtod()
 * in the "C" locale returns for `text` (the literal's bytes, len of them),
 * including +-HUGE_VAL on overflow and 0 or a subnormal on underflow.  Returns
 * 0, or -1 if len > PWS__NUMBER_MAX_LEN or the "C" locale could not be created
 * (out of memory at the first slow-path call). */
int pws__number_to_double(const pws__number *num, const char *text, size_t len, double *out);

/* Result codes of the integer conversions. */
#define PWS__INT_OK 0            /* *out is set */
#define PWS__INT_NOT_INTEGER (-1) /* a fraction or an exponent part is present ("1.0", "1e3") */
#define PWS__INT_RANGE (-2)       /* the integer does not fit int64_t */

/* Converts a scanned integer literal exactly to int64_t, detecting overflow.
 * Returns one of the PWS__INT_* codes. */
int pws__number_to_int64(const pws__number *num, int64_t *out);

/* Parses a whole integer literal s[0..len) (JSON grammar, no fraction or
 * exponent).  Returns PWS__INT_OK, PWS__INT_NOT_INTEGER (also for text that is
 * not a JSON number at all) or PWS__INT_RANGE. */
int pws__parse_int64(const char *s, size_t len, int64_t *out);

/* The process-wide "C" LC_NUMERIC locale object (created once, thread-safe,
 * never freed), or (locale_t)0 if newlocale() failed. */
locale_t pws__c_locale(void);

#endif /* POLYWS_NUMPARSE_H */
