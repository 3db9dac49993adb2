/*
 * buf.c - growable byte buffers (pws__buf, and the generic pws__grow /
 * pws__append the mock's and the tapes' buffers use too), and the small
 * codecs the mock journal and tapes share (hex digits, base64).
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
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

int pws__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char b64tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pws__base64_encode(const void *data, size_t n, char *out)
{
    const char *tbl = b64tbl;
    const unsigned char *s = data;
    char *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    return (size_t)(o - out);
}

size_t pws__base64_decode(const char *in, size_t n, unsigned char *out)
{
    static signed char rev[256];
    static bool ready; /* benign race: every thread writes the same table */
    if (!ready) {
        memset(rev, -1, sizeof rev);
        for (int i = 0; i < 64; i++)
            rev[(unsigned char)b64tbl[i]] = (signed char)i;
        rev['-'] = 62; /* base64url, as some tools write */
        rev['_'] = 63;
        __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    }
    while (n && in[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = rev[(unsigned char)in[i]];
        if (v < 0)
            return (size_t)-1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}
