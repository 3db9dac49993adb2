/*
 * scenario_json.c - bounded buffer, YAML scalar typing, YAML -> compact JSON,
 * hex and base64.
 *
 * Typing follows the YAML 1.2 core schema, narrowed to JSON: a plain scalar
 * that is exactly a JSON number is written verbatim (so 1.50 stays 1.50 and
 * 12345678901234567890 keeps every digit); a plain scalar YAML would read as a
 * number but JSON cannot hold as written (+1, .5, 0x1F, 007, .inf, .nan) is an
 * error rather than a guess; quoting always makes a string.
 */
#include "scenario_json.h"
#include "wire/buf.h"   /* pws__append: the bytes grow through it */
#include "wire/codec.h" /* pws__hexval */
#include "wire/json.h"  /* pws__json_quote: the one JSON string escaper */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer */

int pwss__buf_put(pwss__buf *b, const void *p, size_t n)
{
    size_t max = b->max ? b->max : SIZE_MAX / 2;
    if (n > max || b->len > max - n) {
        b->too_big = true;
        return -1;
    }
    /* within max, so wire's append fails only without memory */
    if (pws__append(&b->data, &b->len, &b->cap, p, n, max)) {
        b->oom = true;
        return -1;
    }
    return 0;
}

int pwss__buf_puts(pwss__buf *b, const char *s)
{
    return pwss__buf_put(b, s, strlen(s));
}

int pwss__buf_putc(pwss__buf *b, char c)
{
    return pwss__buf_put(b, &c, 1);
}

char *pwss__buf_take(pwss__buf *b, size_t *len)
{
    char *d = b->data;
    if (!d) {
        d = calloc(1, 1);
        if (!d)
            b->oom = true;
    }
    if (len)
        *len = d ? b->len : 0;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void pwss__buf_free(pwss__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- scalar typing */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t n, const char *set)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]) || !s[i])
            return false;
    return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i == n;
}

/* YAML 1.2 core schema ints and floats (section 10.3.2). */
static bool is_yaml_number(const char *s, size_t n)
{
    if (n > 2 && s[0] == '0' && s[1] == 'o')
        return all_digits(s + 2, n - 2, "01234567");
    if (n > 2 && s[0] == '0' && s[1] == 'x')
        return all_digits(s + 2, n - 2, "0123456789abcdefABCDEF");
    if (n == 4 && (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4)))
        return true;
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (n - i == 4 && (!memcmp(s + i, ".inf", 4) || !memcmp(s + i, ".Inf", 4) || !memcmp(s + i, ".INF", 4)))
        return true;
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    size_t digits = 0;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < n && is_digit(s[i]))
            i++, frac++;
        if (!digits && !frac)
            return false;
    } else if (!digits) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i == n;
}

static bool is_one_of(const char *s, size_t n, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == n && !memcmp(s, words[i], n))
            return true;
    return false;
}

pwss__sclass pwss__scalar_class(const pwss__ynode *n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (n->kind != PWSS__Y_SCALAR || !n->plain || n->str_tag)
        return PWSS__S_STRING;
    if (!n->len || is_one_of(n->text, n->len, nulls))
        return PWSS__S_NULL;
    if (is_one_of(n->text, n->len, trues))
        return PWSS__S_TRUE;
    if (is_one_of(n->text, n->len, falses))
        return PWSS__S_FALSE;
    if (is_json_number(n->text, n->len))
        return PWSS__S_NUMBER;
    if (is_yaml_number(n->text, n->len))
        return PWSS__S_BAD_NUMBER;
    return PWSS__S_STRING;
}

/* ---- JSON */

static int buf_put_cb(void *ctx, const char *s, size_t n)
{
    return pwss__buf_put(ctx, s, n);
}

int pwss__json_string(pwss__buf *out, const char *s, size_t len)
{
    return pws__json_quote(buf_put_cb, out, s, len) ? -1 : 0;
}

static int jerr(pwss__json_error *e, const pwss__ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int jerr(pwss__json_error *e, const pwss__ynode *at, const char *fmt, ...)
{
    e->at = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Running out of room is about the whole value: reported at its node (at = NULL). */
static int out_err(pwss__buf *out, pwss__json_error *e, const pwss__ynode *at)
{
    (void)at;
    if (out->oom)
        return jerr(e, NULL, "out of memory");
    return jerr(e, NULL, "JSON text larger than %zu bytes", out->max);
}

static int encode(const pwss__ynode *n, pwss__buf *out, size_t *budget, unsigned depth, pwss__json_error *e)
{
    /* these two are about the whole value (aliases make the inner node's place
     * misleading): at = NULL, replaced by the value's own node below */
    if (!*budget)
        return jerr(e, NULL, "value expands to too many nodes (aliases repeated too often)");
    (*budget)--;
    if (n->kind == PWSS__Y_SCALAR) {
        switch (pwss__scalar_class(n)) {
        case PWSS__S_NUMBER:
            if (pwss__buf_put(out, n->text, n->len))
                return out_err(out, e, n);
            return 0;
        case PWSS__S_TRUE: return pwss__buf_puts(out, "true") ? out_err(out, e, n) : 0;
        case PWSS__S_FALSE: return pwss__buf_puts(out, "false") ? out_err(out, e, n) : 0;
        case PWSS__S_NULL: return pwss__buf_puts(out, "null") ? out_err(out, e, n) : 0;
        case PWSS__S_BAD_NUMBER:
            return jerr(e, n,
                        "'%.40s' is a YAML number that JSON cannot hold as written: write a JSON "
                        "number (e.g. 0.5, 31, 1e9), quote it for a string, or use send_raw for "
                        "NaN/Infinity",
                        n->text);
        case PWSS__S_STRING: return pwss__json_string(out, n->text, n->len) ? out_err(out, e, n) : 0;
        }
        return jerr(e, n, "internal error: unknown scalar class");
    }
    if (depth >= PWSS__JSON_MAX_DEPTH)
        return jerr(e, NULL, "JSON nesting deeper than %u levels", PWSS__JSON_MAX_DEPTH);
    bool map = n->kind == PWSS__Y_MAP;
    if (pwss__buf_putc(out, map ? '{' : '['))
        return out_err(out, e, n);
    size_t step = map ? 2 : 1;
    for (size_t i = 0; i < n->nkids; i += step) {
        if (i && pwss__buf_putc(out, ','))
            return out_err(out, e, n);
        if (map) {
            const pwss__ynode *k = n->kids[i];
            if (k->kind != PWSS__Y_SCALAR)
                return jerr(e, k, "a JSON object key must be a scalar, not a %s",
                            k->kind == PWSS__Y_SEQ ? "sequence" : "mapping");
            if (!*budget)
                return jerr(e, NULL, "value expands to too many nodes (aliases repeated too often)");
            (*budget)--;
            if (pwss__json_string(out, k->text, k->len) || pwss__buf_putc(out, ':'))
                return out_err(out, e, k);
            if (encode(n->kids[i + 1], out, budget, depth + 1, e))
                return -1;
        } else if (encode(n->kids[i], out, budget, depth + 1, e)) {
            return -1;
        }
    }
    if (pwss__buf_putc(out, map ? '}' : ']'))
        return out_err(out, e, n);
    return 0;
}

int pwss__json_encode(const pwss__ynode *n, pwss__buf *out, size_t *budget, pwss__json_error *err)
{
    err->at = NULL;
    err->msg[0] = '\0';
    if (!encode(n, out, budget, 0, err))
        return 0;
    if (!err->at)
        err->at = n;
    return -1;
}

/* ---- hex and base64 */

static int emsg(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int emsg(char *msg, size_t cap, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int pwss__hex_decode(const char *s, size_t len, pwss__buf *out, char *msg, size_t msgcap)
{
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (is_space(c) || c == ':' || c == '-') {
            if (hi >= 0)
                return emsg(msg, msgcap, "hex: separator inside a byte at character %zu", i + 1);
            continue;
        }
        int v = pws__hexval(c);
        if (v < 0)
            return emsg(msg, msgcap, "hex: '%c' at character %zu is not a hex digit",
                        (c >= 0x20 && c < 0x7f) ? c : '?', i + 1);
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (pwss__buf_putc(out, (char)(hi << 4 | v)))
            return out->oom ? emsg(msg, msgcap, "out of memory")
                            : emsg(msg, msgcap, "hex: more than %zu bytes", out->max);
        hi = -1;
    }
    if (hi >= 0)
        return emsg(msg, msgcap, "hex: odd number of digits");
    return 0;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int pwss__base64_decode(const char *s, size_t len, pwss__buf *out, char *msg, size_t msgcap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0, quad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (is_space(c))
            continue;
        if (c == '=') {
            pad++;
            quad++;
            continue;
        }
        if (pad)
            return emsg(msg, msgcap, "base64: data after '=' padding at character %zu", i + 1);
        int v = b64_value(c);
        if (v < 0)
            return emsg(msg, msgcap, "base64: '%c' at character %zu is not in the base64 alphabet",
                        (c >= 0x20 && c < 0x7f) ? c : '?', i + 1);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        quad++;
        if (bits >= 8) {
            bits -= 8;
            if (pwss__buf_putc(out, (char)((acc >> bits) & 0xFF)))
                return out->oom ? emsg(msg, msgcap, "out of memory")
                                : emsg(msg, msgcap, "base64: more than %zu bytes", out->max);
        }
    }
    if (pad > 2 || (quad % 4 == 1) || (pad && quad % 4))
        return emsg(msg, msgcap, "base64: bad length or padding");
    if (bits >= 6 || (acc & ((1u << bits) - 1)))
        return emsg(msg, msgcap, "base64: bad length or padding");
    return 0;
}
