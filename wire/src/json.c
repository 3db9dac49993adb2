/*
 * json.c - JSON string quoting and decoding (wire/json.h).
 */
#include "wire/json.h"

#include "wire/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The two-character escapes: ESC_CHARS[i] is written as '\\' ESC_LETTERS[i]. */
static const char ESC_CHARS[] = "\"\\/\b\f\n\r\t";
static const char ESC_LETTERS[] = "\"\\/bfnrt";

int pws__json_quote(pws__put_fn put_fn, void *ctx, const void *data, size_t n)
{
    const char *s = data;
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    int rc = put_fn(ctx, "\"", 1);
    for (size_t k = 0; k < n && !rc; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = put_fn(ctx, s + run, k - run);
        run = k + 1;
        const char *e = memchr(ESC_CHARS, c, sizeof ESC_CHARS - 1); /* c is never '/' here */
        char esc[8] = {'\\', e ? ESC_LETTERS[e - ESC_CHARS] : 0};
        size_t elen = e ? 2 : (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        if (!rc)
            rc = put_fn(ctx, esc, elen);
    }
    if (!rc)
        rc = put_fn(ctx, s + run, n - run);
    if (!rc)
        rc = put_fn(ctx, "\"", 1);
    return rc;
}

/* True if any of the 8 bytes in w is '"', '\\' or a control character (< 0x20). */
static inline bool special8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ 0x2222222222222222ull, b = w ^ 0x5C5C5C5C5C5C5C5Cull;
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - 0x2020202020202020ull) & ~w)) & highs;
}

static inline bool special1(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

/* The 4 hex digits at s (n bytes left) into *out; NULL, or what is wrong. */
static const char *hex4(const char *s, size_t n, uint32_t *out)
{
    if (n < 4)
        return "short \\u escape";
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = pws__hexval(s[k]);
        if (h < 0)
            return "bad \\u escape";
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return NULL;
}

/* Code point cp as UTF-8 into u; returns the byte count. */
static size_t utf8_put(uint32_t cp, unsigned char u[4])
{
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Appends k bytes at *o if they fit before lim; true if they did.  If not,
 * a run of text (whole false) leaves its longest prefix that ends at a
 * code-point boundary, a decoded escape (whole true) leaves nothing. */
static bool put(char **o, const char *lim, const char *s, size_t k, bool whole)
{
    size_t room = (size_t)(lim - *o);
    if (k <= room) {
        memcpy(*o, s, k);
        *o += k;
        return true;
    }
    if (!whole) {
        while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80)
            room--;
        memcpy(*o, s, room);
        *o += room;
    }
    return false;
}

bool pws__json_unquote(const char *in, size_t n, char *out, size_t cap, pws__json_str *r)
{
    bool writing = out && cap;
    char *o = out;
    const char *lim = writing ? out + cap - 1 : out;
    const char *why = NULL;
    size_t i = 0;
    r->truncated = r->nul = false;
    for (;;) {
        size_t start = i;
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, in + i, 8);
            if (special8(w))
                break;
            i += 8;
        }
        while (i < n && !special1((unsigned char)in[i]))
            i++;
        if (writing && !put(&o, lim, in + start, i - start, false))
            writing = false, r->truncated = true;
        if (i >= n) {
            why = "unterminated string";
            break;
        }
        char c = in[i++];
        if (c == '"')
            break;
        if (c != '\\') {
            why = "control character in a string", i--;
            break;
        }
        if (i >= n) {
            why = "unterminated escape";
            break;
        }
        char u[4];
        size_t k = 1;
        uint32_t cp = 1, lo;
        const char *e = memchr(ESC_LETTERS, in[i], sizeof ESC_LETTERS - 1);
        if (e) {
            u[0] = ESC_CHARS[e - ESC_LETTERS];
            i++;
        } else if (in[i] != 'u') {
            why = "bad escape";
            break;
        } else if ((why = hex4(in + i + 1, n - i - 1, &cp)) != NULL) {
            i++;
            break;
        } else {
            i += 5;
            /* a high surrogate followed by a low one is one code point; alone, it stays as it is */
            if (cp >= 0xD800 && cp <= 0xDBFF && n - i >= 6 && in[i] == '\\' && in[i + 1] == 'u' &&
                !hex4(in + i + 2, 4, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            k = utf8_put(cp, (unsigned char *)u);
        }
        if (writing && put(&o, lim, u, k, true))
            r->nul |= cp == 0;
        else if (writing)
            writing = false, r->truncated = true;
    }
    if (out && cap)
        *o = '\0';
    r->len = out ? (size_t)(o - out) : 0;
    r->used = i;
    r->why = why;
    return why == NULL;
}
