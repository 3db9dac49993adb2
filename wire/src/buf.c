/*
 * buf.c - growable byte buffers (wire/buf.h).
 */
#include "wire/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pws__buf_free(pws__buf *b)
{
    if (!b)
        return;
    if (b->wipe && b->p)
        OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int pws__grow(char **p, size_t len, size_t *cap, size_t n, size_t max)
{
    if (n > max || len > max - n)
        return -1;
    if (len + n + 1 <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < len + n + 1)
        c *= 2;
    char *np = realloc(*p, c);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

int pws__append(char **p, size_t *len, size_t *cap, const void *s, size_t n, size_t max)
{
    if (pws__grow(p, *len, cap, n, max))
        return -1;
    if (n)
        memcpy(*p + *len, s, n);
    *len += n;
    (*p)[*len] = '\0';
    return 0;
}

int pws__vappendf(char **p, size_t *len, size_t *cap, size_t max, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0 || pws__grow(p, *len, cap, (size_t)n, max))
        return -1;
    vsnprintf(*p + *len, (size_t)n + 1, fmt, ap);
    *len += (size_t)n;
    return 0;
}

void pws__fixed_appendf(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

int pws__buf_reserve(pws__buf *b, size_t n)
{
    if (!b->wipe || !b->p || b->len + n + 1 <= b->cap)
        return pws__grow(&b->p, b->len, &b->cap, n, PWS__BUF_MAX);
    /* no realloc: it would free a copy without wiping it */
    pws__buf bigger = {NULL, 0, 0, true};
    if (pws__grow(&bigger.p, 0, &bigger.cap, b->len + n, PWS__BUF_MAX))
        return -1;
    memcpy(bigger.p, b->p, b->len);
    bigger.len = b->len;
    pws__buf_free(b);
    *b = bigger;
    return 0;
}

int pws__buf_put(pws__buf *b, const void *s, size_t n)
{
    return pws__append(&b->p, &b->len, &b->cap, s, n, PWS__BUF_MAX);
}

int pws__buf_str(pws__buf *b, const char *s)
{
    return pws__buf_put(b, s, strlen(s));
}

int pws__buf_put_cb(void *ctx, const char *s, size_t n)
{
    return pws__buf_put(ctx, s, n);
}
