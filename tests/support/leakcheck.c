/*
 * leakcheck.c - does a text still hold a key, in any encoding?  See
 * leakcheck.h.  Written apart from the redactor on purpose: it decodes
 * instead of spelling the key, and searches by brute force.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "leakcheck.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes n base64 characters (all valid) into out; returns the bytes written. */
static size_t b64_decode(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t m = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 6 | (unsigned)b64val(in[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[m++] = (unsigned char)(acc >> bits);
        }
    }
    return m;
}

/* True if any 8-byte run of key occurs in s[0..n) (a whole key shorter than 8: the key). */
static bool has_piece(const unsigned char *s, size_t n, const char *key)
{
    size_t kl = strlen(key), piece = kl < 8 ? kl : 8;
    for (size_t o = 0; o + piece <= kl; o++)
        if (memmem(s, n, key + o, piece))
            return true;
    return false;
}

/* s with one level of JSON escapes and percent escapes decoded (either may be nested). */
static size_t decode_all(const char *s, size_t n, unsigned char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\\') {
            size_t q = i;
            while (q < n && s[q] == '\\')
                q++;
            if (q + 4 < n && s[q] == 'u') {
                char hex[5] = {s[q + 1], s[q + 2], s[q + 3], s[q + 4], 0};
                char *end;
                long v = strtol(hex, &end, 16);
                if (!*end) {
                    out[m++] = v < 128 ? (unsigned char)v : '?';
                    i = q + 5;
                    continue;
                }
            }
            if (q < n && (s[q] == '/' || s[q] == '"')) {
                out[m++] = (unsigned char)s[q];
                i = q + 1;
                continue;
            }
        }
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[m++] = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 3;
            continue;
        }
        out[m++] = (unsigned char)s[i++];
    }
    return m;
}

static bool is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '-' || c == '_';
}

bool pws_test_leaks(const char *s, size_t n, const char *key)
{
    unsigned char *a = malloc(n + 1), *b = malloc(n + 1), *d = malloc(n + 8);
    bool leak = has_piece((const unsigned char *)s, n, key);
    /* decoded up to three times (escapes nest) */
    size_t m = decode_all(s, n, a);
    for (int round = 0; round < 3 && !leak; round++) {
        leak = has_piece(a, m, key);
        /* every run of base64 characters, decoded from each of its first four offsets */
        for (size_t i = 0; i < m && !leak;) {
            if (!is_b64(a[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < m && is_b64(a[j]))
                j++;
            for (size_t off = 0; off < 4 && i + off < j && !leak; off++) {
                size_t dn = b64_decode(a + i + off, j - i - off, d);
                leak = has_piece(d, dn, key);
            }
            i = j;
        }
        size_t m2 = decode_all((const char *)a, m, b);
        memcpy(a, b, m2);
        m = m2;
    }
    free(a);
    free(b);
    free(d);
    return leak;
}

