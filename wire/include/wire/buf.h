/*
 * wire/buf.h - growable byte buffers: pws__buf, and the generic pws__grow /
 * pws__append for buffers kept as (pointer, length, capacity) in other
 * structs (the tape buffers, the mock journal's and judge's).
 *
 * Part of wire, the internal component the libraries share (libpolyws,
 * libpwsmock, libpwsreplay), like libuv's uv-common: not installed as headers,
 * linked PRIVATE.  Names are pws__ (library-internal); nothing here is API.
 * Every buffer has a maximum (curl's dynbuf "toobig"): growing past it is an
 * error, never a silent cut.  Not thread-safe: one buffer, one thread.
 */
#ifndef PWS_WIRE_BUF_H
#define PWS_WIRE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define PWS__BUF_MAX (96u << 20) /* bytes one pws__buf may hold */

/* A growable byte buffer: zero-initialize, free with pws__buf_free.  Kept
 * NUL-terminated when not empty; never grows beyond PWS__BUF_MAX. */
typedef struct pws__buf {
    char *p;     /* bytes */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
    bool wipe;   /* may hold a secret: memory is wiped before it is freed (growth included) */
} pws__buf;

/* A byte sink: appends s[0..n); a non-zero return stops the writer using it. */
typedef int (*pws__put_fn)(void *ctx, const char *s, size_t n);

/* Growable byte arrays in general (pws__buf, the tape buffers): make room
 * for n more bytes plus a NUL, never beyond max; append keeps the NUL.  0, or
 * -1 without memory or over max.  Capacity doubles from 256 bytes. */
int pws__grow(char **p, size_t len, size_t *cap, size_t n, size_t max);
int pws__append(char **p, size_t *len, size_t *cap, const void *s, size_t n, size_t max);
/* vprintf-style text appended as by pws__append (for the printf-style
 * appenders of the buffers above): 0, or -1 without memory, over max, or when
 * the format fails (nothing appended then).  ap is left for the caller to end. */
int pws__vappendf(char **p, size_t *len, size_t *cap, size_t max, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/* printf-style text appended to a fixed array out[cap] at *len: what does not
 * fit is cut, *len never passes cap - 1 and out stays NUL-terminated.  For
 * lines of a known size (a progress meter, a certificate's description). */
void pws__fixed_appendf(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Frees the bytes (wiped first if b->wipe) and empties b; NULL is fine. */
void pws__buf_free(pws__buf *b);
/* Makes room for n more bytes; 0, or -1 (no memory, or over PWS__BUF_MAX). */
int pws__buf_reserve(pws__buf *b, size_t n);
/* Appends n bytes and keeps a NUL after them; 0 or -1. */
int pws__buf_put(pws__buf *b, const void *s, size_t n);
/* Appends a NUL-terminated string; 0 or -1. */
int pws__buf_str(pws__buf *b, const char *s);
/* A pws__put_fn that appends to the pws__buf ctx. */
int pws__buf_put_cb(void *ctx, const char *s, size_t n);

#endif
