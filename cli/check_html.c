/*
 * check_html.c - the text of `polyws check --report` (see check_html.h): a
 * growable buffer (over wire's pws__append), and appends made safe for HTML and SVG.
 */
#include "check_html.h"
#include "check_common.h"

#include "wire/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void chk_rb_put(rbuf *b, const char *s, size_t n)
{
    if (!b->oom && pws__append(&b->p, &b->len, &b->cap, s, n, CHK_TEXT_MAX))
        b->oom = true;
}

void chk_rb_printf(rbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!b->oom && pws__vappendf(&b->p, &b->len, &b->cap, CHK_TEXT_MAX, fmt, ap))
        b->oom = true;
    va_end(ap);
}

/* Appends n bytes of s made safe for XML character data (&<> escaped) or, with CHK_CLEAN_ATTR,
 * attribute values ("' too): invalid UTF-8 as U+FFFD, control characters as their Unicode
 * pictures (U+2400 + c, U+2421), except '\n' and '\t' with CHK_CLEAN_LINES.  At most max_chars
 * characters (0 = all); a cut is marked with "…".  Output goes through a small chunk, so
 * appends stay few. */
void chk_put_clean(rbuf *t, const char *s, size_t n, size_t max_chars, int flags)
{
    const unsigned char *u = (const unsigned char *)s;
    char chunk[512];
    size_t o = 0, chars = 0;
    for (size_t i = 0; i < n;) {
        if (o > sizeof chunk - 16) {
            chk_rb_put(t, chunk, o);
            o = 0;
        }
        if (max_chars && chars == max_chars) {
            memcpy(chunk + o, "\xE2\x80\xA6", 3);
            o += 3;
            break;
        }
        chars++;
        size_t seq = chk_utf8_len(u + i, n - i);
        unsigned char c = u[i];
        if (seq > 1) {
            memcpy(chunk + o, u + i, seq);
            o += seq;
            i += seq;
            continue;
        }
        i++;
        const char *rep = NULL;
        if (seq == 0)
            rep = "\xEF\xBF\xBD";
        else if (c == '&')
            rep = "&amp;";
        else if (c == '<')
            rep = "&lt;";
        else if (c == '>')
            rep = "&gt;";
        else if (c == '"' && (flags & CHK_CLEAN_ATTR))
            rep = "&quot;";
        else if (c == '\'' && (flags & CHK_CLEAN_ATTR))
            rep = "&#39;";
        else if (c == 0x7f)
            rep = "\xE2\x90\xA1";
        if (rep) {
            size_t k = strlen(rep);
            memcpy(chunk + o, rep, k);
            o += k;
        } else if (c < 0x20 && !((flags & CHK_CLEAN_LINES) && (c == '\n' || c == '\t'))) {
            chunk[o++] = (char)0xE2;
            chunk[o++] = (char)0x90;
            chunk[o++] = (char)(0x80 + c);
        } else {
            chunk[o++] = (char)c;
        }
    }
    chk_rb_put(t, chunk, o);
}

void chk_put_cstr(rbuf *t, const char *s, size_t max_chars)
{
    if (s)
        chk_put_clean(t, s, strlen(s), max_chars, 0);
}

void chk_put_attr(rbuf *t, const char *s)
{
    if (s)
        chk_put_clean(t, s, strlen(s), 0, CHK_CLEAN_ATTR);
}

/* n with thousands separators ("100,000"). */
const char *chk_fmt_count(uint64_t n, char buf[32])
{
    char digits[24];
    int k = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        if (i && (k - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}
