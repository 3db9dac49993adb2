/*
 * codec.c - hex digits, base64 and UTF-8 validation (wire/codec.h).
 */
#include "wire/codec.h"

#include <stdint.h>
#include <string.h>

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

/* The length of the valid UTF-8 character at s[0] (n > 0 bytes there): 1 to 4, or 0 if it is
 * not one (RFC 3629: shortest form, no surrogates, nothing above U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        k = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        k = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        k = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n - 1 < k)
        return 0;
    for (size_t i = 1; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k + 1;
}

bool pws__utf8_valid(const void *buf, size_t len)
{
    const unsigned char *s = buf;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        size_t n = utf8_char(s + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

size_t pws__utf8_prefix(const void *buf, size_t len, size_t max)
{
    const unsigned char *s = buf;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_char(s + i, len - i);
        if (!n || n > max - i)
            break;
        i += n;
    }
    return i;
}
