/*
 * check_html.h - the text of `polyws check --report` (not installed): a growable
 * buffer the page and its diagrams are built in, and appends made safe for
 * HTML and SVG (character data and attribute values).
 *
 * Used by check_report.c (the page) and check_diagram*.c (the diagrams).
 * No global state; every function may be called from any thread.
 */
#ifndef POLYWS_CLI_CHECK_HTML_H
#define POLYWS_CLI_CHECK_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable text buffer with a capacity, so appending is amortized O(1) (a diagram or a page is
 * built from many thousands of small appends); grown by wire's pws__grow, at most CHK_TEXT_MAX
 * bytes (check_common.h).  Zero-initialize; an allocation failure marks it and later appends do
 * nothing. */
typedef struct rbuf {
    char *p;    /* NUL-terminated, or NULL while empty */
    size_t len; /* bytes */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed */
} rbuf;

/* Appends n bytes of s as they are. */
void chk_rb_put(rbuf *b, const char *s, size_t n);
/* Appends formatted text as it is. */
void chk_rb_printf(rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CHK_CLEAN_LINES 1 /* chk_put_clean: keep '\n' and '\t' */
#define CHK_CLEAN_ATTR 2  /* chk_put_clean: for an attribute value (quotes escaped too) */

/* Appends n bytes of s made safe for XML character data (&<> escaped) or, with CHK_CLEAN_ATTR,
 * attribute values ("' too): invalid UTF-8 as U+FFFD, control characters as their Unicode
 * pictures (U+2400 + c, U+2421), except '\n' and '\t' with CHK_CLEAN_LINES.  At most max_chars
 * characters (0 = all); a cut is marked with "…". */
void chk_put_clean(rbuf *t, const char *s, size_t n, size_t max_chars, int flags);
/* A C string (NULL: nothing) as character data, at most max_chars characters (0 = all). */
void chk_put_cstr(rbuf *t, const char *s, size_t max_chars);
/* A C string (NULL: nothing) as an attribute value. */
void chk_put_attr(rbuf *t, const char *s);
/* n with thousands separators ("100,000") in buf; returns buf. */
const char *chk_fmt_count(uint64_t n, char buf[32]);

#endif
