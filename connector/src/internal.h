/*
 * internal.h - declarations shared inside libpolyws (not installed).
 */
#ifndef POLYWS_INTERNAL_H
#define POLYWS_INTERNAL_H

#include <polyws/polyws.h>

#if defined(__GNUC__)
#define PWS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PWS__PRINTF(f, a)
#endif

/* A log destination with a level filter and an optional secret to scrub. */
typedef struct pws__logger {
    pws_log_fn fn;          /* sink; NULL means stderr */
    void *user;             /* passed to fn */
    pws_log_level level;    /* most verbose level emitted */
    const char *secret;     /* scrubbed from every message if set (>= 4 bytes) */
} pws__logger;

/* Formats and emits one message if level passes the filter.  The formatted
 * text is scrubbed of lg->secret before it reaches the sink.  Messages longer
 * than 1 KiB are cut and end in "...". */
void pws__log(const pws__logger *lg, pws_log_level level, const char *fmt, ...) PWS__PRINTF(3, 4);

/* Monotonic clock in microseconds (for timers and ages; not wall time). */
int64_t pws__mono_us(void);

/* A byte sink: appends s[0..n); a non-zero return stops the writer using it. */
typedef int (*pws__put_fn)(void *ctx, const char *s, size_t n);

/* Writes s[0..n) as a JSON string literal, quotes included, through put:
 * '"', '\\' and control characters escaped (\b \f \n \r \t, the others as
 * \u00XX), every other byte (UTF-8 included) as it is.  The one escaper
 * behind event lines, the mock journal and tapes (whose lines must be the
 * journal's bytes).  Returns 0, or put's first non-zero return. */
int pws__json_quote(pws__put_fn put, void *ctx, const void *s, size_t n);

/* snprintf that always NUL-terminates and never fails on a NULL buffer. */
void pws__strlcpy(char *dst, const char *src, size_t cap);

#endif
