/*
 * tapeline.c - the tape line codec (wire/tapeline.h).
 */
#include "wire/tapeline.h"

#include "wire/codec.h"
#include "wire/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SKIP_DEPTH 32 /* nesting of unknown values the decoder skips */

/* ------------------------------------------------------------ encoding */

static int put_quoted(pws__buf *b, const void *s, size_t n)
{
    if (pws__buf_reserve(b, n + 2))
        return -1;
    return pws__json_quote(pws__buf_put_cb, b, s, n) ? -1 : 0;
}

static int put_base64(pws__buf *b, const void *s, size_t n)
{
    if (n > PWS__BUF_MAX / 4 * 3 || pws__buf_reserve(b, (n + 2) / 3 * 4 + 2))
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    o += pws__base64_encode(s, n, o);
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    return 0;
}

int pws__line_encode(const pws__line *l, pws__buf *b)
{
    const unsigned char *d = l->len ? l->data : (const unsigned char *)"";
    const char *kind = l->kind;
    bool text = !strcmp(kind, "text");
    bool frame = text || !strcmp(kind, "binary") || !strcmp(kind, "ping") || !strcmp(kind, "pong");
    char num[96];
    snprintf(num, sizeof num, "{\"t_us\":%lld,\"conn\":%u,\"dir\":\"%c\",\"kind\":", (long long)l->t_us,
             (unsigned)l->conn, l->dir);
    int bad = pws__buf_str(b, num) || put_quoted(b, kind, strlen(kind));
    if (!bad && !strcmp(kind, "close")) {
        const char *reason = l->reason ? l->reason : "";
        size_t rl = strlen(reason);
        snprintf(num, sizeof num, ",\"code\":%d,\"reason\":", l->code);
        bad = pws__buf_str(b, num) ||
              (pws__utf8_valid(reason, rl) ? put_quoted(b, reason, rl) : put_quoted(b, "(not UTF-8)", 11));
    } else if (!bad && (frame || l->len)) {
        bool as_text = (text || !frame) && pws__utf8_valid(d, l->len);
        bad = as_text ? pws__buf_str(b, ",\"data\":") || put_quoted(b, d, l->len)
                      : pws__buf_str(b, ",\"data_b64\":") || put_base64(b, d, l->len);
    }
    if (!bad && l->headers_json && *l->headers_json)
        bad = pws__buf_str(b, ",\"headers\":") || pws__buf_str(b, l->headers_json);
    return bad || pws__buf_str(b, "}\n") ? -1 : 0;
}

/* ------------------------------------------------------------ decoding */

typedef struct scan {
    const char *s;  /* the line */
    size_t n;       /* its length */
    size_t i;       /* cursor */
    const char *why; /* first error */
} scan;

static void ws(scan *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r'))
        p->i++;
}

static bool fail(scan *p, const char *why)
{
    if (!p->why)
        p->why = why;
    return false;
}

static bool expect(scan *p, char c)
{
    ws(p);
    if (p->i >= p->n || p->s[p->i] != c)
        return fail(p, c == ':' ? "expected ':'" : c == '{' ? "expected '{'" : "unexpected character");
    p->i++;
    return true;
}

/* Decodes a JSON string at the cursor, appending its bytes to out (if not
 * NULL) and a NUL after them.  The decoded bytes never outnumber the encoded
 * ones, so room for the rest of the line is reserved once. */
static bool string_into(scan *p, pws__buf *out)
{
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '"')
        return fail(p, "expected a string");
    p->i++;
    size_t room = p->n - p->i + 1;
    if (out && pws__buf_reserve(out, room))
        return fail(p, "out of memory");
    pws__json_str r;
    bool ok = pws__json_unquote(p->s + p->i, p->n - p->i, out ? out->p + out->len : NULL, out ? room : 0, &r);
    p->i += r.used;
    if (!ok)
        return fail(p, r.why);
    if (out)
        out->len += r.len;
    return true;
}

static bool integer(scan *p, int64_t *out)
{
    ws(p);
    bool neg = false;
    if (p->i < p->n && p->s[p->i] == '-') {
        neg = true;
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return fail(p, "expected an integer");
    uint64_t v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return fail(p, "integer too large");
        v = v * 10 + (uint64_t)(p->s[p->i++] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return fail(p, "integer too large");
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Skips one JSON value of any kind (for members this version does not know). */
static bool skip_value(scan *p, int depth)
{
    ws(p);
    if (p->i >= p->n)
        return fail(p, "expected a value");
    char c = p->s[p->i];
    if (c == '"')
        return string_into(p, NULL);
    if (c == '{' || c == '[') {
        if (depth >= SKIP_DEPTH)
            return fail(p, "nested too deeply");
        char close = c == '{' ? '}' : ']';
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return true;
        }
        for (;;) {
            if (c == '{' && !(string_into(p, NULL) && expect(p, ':')))
                return false;
            if (!skip_value(p, depth + 1))
                return false;
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == close) {
                p->i++;
                return true;
            }
            return fail(p, "expected ',' or a closing bracket");
        }
    }
    size_t start = p->i;
    /* p->s[p->i] != 0: strchr finds the terminator too, and a NUL would cut a
     * headers value that is kept as a C string */
    while (p->i < p->n && p->s[p->i] && strchr("+-.0123456789eEtruefalsn", p->s[p->i]))
        p->i++;
    return p->i > start ? true : fail(p, "unexpected character");
}

int pws__line_decode(const char *line, size_t len, pws__line *f, pws__buf *scratch, char *err, size_t errcap)
{
    scan p = {.s = line, .n = len};
    memset(f, 0, sizeof *f);
    scratch->len = 0;
    size_t kind_off = 0, kind_len = 0, data_off = 0, data_len = 0, reason_off = 0, hdr_off = 0;
    bool have_t = false, have_conn = false, have_dir = false, have_kind = false, have_data = false,
         have_reason = false, have_headers = false;
    if (!expect(&p, '{'))
        goto bad;
    ws(&p);
    if (p.i < p.n && p.s[p.i] == '}') {
        p.i++;
    } else {
        for (;;) {
            char key[16];
            size_t kstart;
            ws(&p);
            kstart = p.i;
            /* member names are short ASCII: compare the raw bytes between the quotes */
            if (p.i < p.n && p.s[p.i] == '"') {
                size_t q = p.i + 1;
                while (q < p.n && p.s[q] != '"' && p.s[q] != '\\')
                    q++;
                if (q < p.n && p.s[q] == '"' && q - kstart - 1 < sizeof key) {
                    memcpy(key, p.s + kstart + 1, q - kstart - 1);
                    key[q - kstart - 1] = '\0';
                    p.i = q + 1;
                } else {
                    key[0] = '\0'; /* long or escaped: not one of ours */
                    if (!string_into(&p, NULL))
                        goto bad;
                }
            } else {
                fail(&p, "expected a member name");
                goto bad;
            }
            if (!expect(&p, ':'))
                goto bad;
            int64_t v;
            if (!strcmp(key, "t_us")) {
                if (!integer(&p, &f->t_us))
                    goto bad;
                have_t = true;
            } else if (!strcmp(key, "conn")) {
                if (!integer(&p, &v) || v < 0 || v > UINT32_MAX) {
                    fail(&p, "conn must be a 32-bit unsigned integer");
                    goto bad;
                }
                f->conn = (uint32_t)v;
                have_conn = true;
            } else if (!strcmp(key, "code")) {
                if (!integer(&p, &v) || v < INT32_MIN || v > INT32_MAX) {
                    fail(&p, "code out of range");
                    goto bad;
                }
                f->code = (int)v;
            } else if (!strcmp(key, "dir")) {
                size_t at = scratch->len;
                if (!string_into(&p, scratch))
                    goto bad;
                if (scratch->len - at != 1 || !strchr("cs-", scratch->p[at])) {
                    fail(&p, "dir must be \"c\", \"s\" or \"-\"");
                    goto bad;
                }
                f->dir = scratch->p[at];
                scratch->len = at;
                have_dir = true;
            } else if (!strcmp(key, "kind")) {
                kind_off = scratch->len;
                if (!string_into(&p, scratch) || pws__buf_put(scratch, "", 1))
                    goto bad;
                kind_len = scratch->len - kind_off - 1;
                if (kind_len == 0) { /* the writer refuses it too: a line must say what it is */
                    fail(&p, "kind must not be empty");
                    goto bad;
                }
                have_kind = true;
            } else if (!strcmp(key, "data") || !strcmp(key, "data_b64")) {
                if (have_data) {
                    fail(&p, "both data and data_b64");
                    goto bad;
                }
                data_off = scratch->len;
                if (!string_into(&p, scratch))
                    goto bad;
                data_len = scratch->len - data_off;
                if (key[4] == '_') {
                    /* decode in place: base64 shrinks */
                    size_t n = pws__base64_decode(scratch->p + data_off, data_len,
                                                   (unsigned char *)scratch->p + data_off);
                    if (n == (size_t)-1) {
                        fail(&p, "bad base64 in data_b64");
                        goto bad;
                    }
                    data_len = n;
                    scratch->len = data_off + n;
                }
                if (data_len > PWS__LINE_MAX_PAYLOAD) {
                    fail(&p, "payload over PWS_TAPE_MAX_PAYLOAD");
                    goto bad;
                }
                if (pws__buf_put(scratch, "", 1))
                    goto bad;
                have_data = true;
            } else if (!strcmp(key, "reason")) {
                reason_off = scratch->len;
                if (!string_into(&p, scratch) || pws__buf_put(scratch, "", 1))
                    goto bad;
                have_reason = true;
            } else if (!strcmp(key, "headers")) {
                ws(&p);
                size_t vs = p.i;
                if (!skip_value(&p, 0))
                    goto bad;
                hdr_off = scratch->len;
                if (pws__buf_put(scratch, p.s + vs, p.i - vs) || pws__buf_put(scratch, "", 1))
                    goto bad;
                have_headers = true;
            } else if (!skip_value(&p, 0)) {
                goto bad;
            }
            ws(&p);
            if (p.i < p.n && p.s[p.i] == ',') {
                p.i++;
                continue;
            }
            if (p.i < p.n && p.s[p.i] == '}') {
                p.i++;
                break;
            }
            fail(&p, "expected ',' or '}'");
            goto bad;
        }
    }
    ws(&p);
    if (p.i != p.n) {
        fail(&p, "text after the object");
        goto bad;
    }
    if (!have_t || !have_conn || !have_dir || !have_kind) {
        p.i = 0;
        fail(&p, !have_t ? "missing t_us" : !have_conn ? "missing conn" : !have_dir ? "missing dir" : "missing kind");
        goto bad;
    }
    /* pointers only now: scratch may have moved while it grew */
    if (pws__buf_reserve(scratch, 1))
        goto bad;
    f->kind = scratch->p + kind_off;
    f->kind_len = kind_len;
    f->data = have_data ? (const unsigned char *)scratch->p + data_off : (const unsigned char *)"";
    f->len = have_data ? data_len : 0;
    f->reason = have_reason ? scratch->p + reason_off : "";
    f->headers_json = have_headers ? scratch->p + hdr_off : NULL;
    return PWS__LINE_OK;
bad:
    if (err && errcap)
        snprintf(err, errcap, "%s at byte %zu", p.why ? p.why : "out of memory", p.i + 1);
    return p.why && strcmp(p.why, "out of memory") ? PWS__LINE_BAD : PWS__LINE_NOMEM;
}
