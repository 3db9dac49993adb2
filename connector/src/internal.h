/*
 * internal.h - declarations shared inside libpolyws (not installed).
 */
#ifndef POLYWS_INTERNAL_H
#define POLYWS_INTERNAL_H

#include <polyws/polyws.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#define PWS__BUF_MAX (96u << 20) /* bytes one pws__buf may hold */

/* A growable byte buffer: zero-initialize, free with pws__buf_free.  Kept
 * NUL-terminated when not empty; never grows beyond PWS__BUF_MAX. */
typedef struct pws__buf {
    char *p;     /* bytes */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
    bool wipe;   /* may hold a secret: memory is wiped before it is freed (growth included) */
} pws__buf;

/* Growable byte arrays in general (pws__buf, the tape buffers): make room
 * for n more bytes plus a NUL, never beyond max; append keeps the NUL.  0, or
 * -1 without memory or over max. */
int pws__grow(char **p, size_t len, size_t *cap, size_t n, size_t max);
int pws__append(char **p, size_t *len, size_t *cap, const void *s, size_t n, size_t max);

void pws__buf_free(pws__buf *b);
/* Makes room for n more bytes; 0, or -1 (no memory, or over PWS__BUF_MAX). */
int pws__buf_reserve(pws__buf *b, size_t n);
/* Appends n bytes and keeps a NUL after them; 0 or -1. */
int pws__buf_put(pws__buf *b, const void *s, size_t n);

/* The value of a hex digit (either case), or -1. */
int pws__hexval(char c);
/* Standard base64 with padding of s[0..n) into out, which has room for
 * (n + 2) / 3 * 4 bytes; returns that count.  No NUL is added. */
size_t pws__base64_encode(const void *s, size_t n, char *out);
/* Decodes base64 (padding optional, base64url's '-' and '_' accepted, no
 * whitespace) into out (room for n / 4 * 3 + 3 bytes); returns the decoded
 * length, or (size_t)-1 on a bad character. */
size_t pws__base64_decode(const char *in, size_t n, unsigned char *out);

/* snprintf that always NUL-terminates and never fails on a NULL buffer. */
void pws__strlcpy(char *dst, const char *src, size_t cap);

#endif
