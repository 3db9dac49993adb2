/*
 * util.c - tape buffers, time stamps, scrubbing and logging for libpwsreplay
 * (the codecs and clocks under them are wire's).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void pws_tape_buf_free(pws_tape_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int pwsr__buf_reserve(pws_tape_buf *b, size_t n)
{
    return pws__grow(&b->p, b->len, &b->cap, n, PWS_TAPE_MAX_LINE);
}

int pwsr__buf_put(pws_tape_buf *b, const void *s, size_t n)
{
    return pws__append(&b->p, &b->len, &b->cap, s, n, PWS_TAPE_MAX_LINE);
}

int pwsr__buf_str(pws_tape_buf *b, const char *s)
{
    return pwsr__buf_put(b, s, strlen(s));
}

int pwsr__buf_printf(pws_tape_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return pwsr__buf_put(b, small, (size_t)n);
    if (pwsr__buf_reserve(b, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static int tape_put(void *ctx, const char *s, size_t n)
{
    return pwsr__buf_put(ctx, s, n);
}

int pwsr__buf_json_string(pws_tape_buf *b, const void *data, size_t n)
{
    if (pwsr__buf_reserve(b, n + 2))
        return -1;
    return pws__json_quote(tape_put, b, data, n) ? -1 : 0;
}

int pwsr__buf_base64(pws_tape_buf *b, const void *data, size_t n, bool quoted)
{
    if (n > PWS_TAPE_MAX_LINE / 4 * 3 || pwsr__buf_reserve(b, (n + 2) / 3 * 4 + 2))
        return -1;
    char *o = b->p + b->len;
    if (quoted)
        *o++ = '"';
    o += pws__base64_encode(data, n, o);
    if (quoted)
        *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    return 0;
}

bool pwsr__ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

void pwsr__iso_time(int64_t us, char *buf, size_t cap)
{
    time_t s = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        s--;
    }
    struct tm tm = {0};
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, cap, "(time out of range)");
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int put_tape_buf(void *ctx, const char *s, size_t n)
{
    return pwsr__buf_put(ctx, s, n);
}

int pwsr__scrub(pws_tape_buf *b, const char *s, size_t n, const pws__secrets *set, bool *changed)
{
    size_t found = 0;
    if (pws__secrets_scrub(set, s, n, put_tape_buf, b, &found))
        return -1;
    if (found && changed)
        *changed = true;
    return 0;
}

void pwsr__log(const pwsr__logger *lg, pws_log_level level, const char *fmt, ...)
{
    if (!lg || level > (lg->level ? lg->level : PWS_LOG_WARN))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pws__secrets_scrub_str(lg->secrets, msg); /* a line cut at 1 KB keeps no piece of a key either */
    if (lg->fn) {
        lg->fn(level, msg, lg->user);
    } else {
        static const char *const names[] = {"", "error", "warning", "info", "debug"};
        fprintf(stderr, "polyws: %s: %s\n", names[level <= PWS_LOG_DEBUG ? level : 0], msg);
    }
}

char *pwsr__redact_query(const char *url, const char *const *extra, size_t nextra)
{
    static const char *const names[] = {"apikey", "api_key", "apiKey", "key", "token", "access_token", NULL};
    pws_tape_buf b = {0};
    const char *q = strchr(url, '?');
    if (!q)
        return pwsr__buf_str(&b, url) || pwsr__buf_reserve(&b, 1) ? (pws_tape_buf_free(&b), NULL) : b.p;
    if (pwsr__buf_put(&b, url, (size_t)(q - url) + 1))
        return NULL;
    const char *p = q + 1;
    while (*p && *p != '#') {
        size_t pl = strcspn(p, "&#");
        const char *eq = memchr(p, '=', pl);
        size_t nl = eq ? (size_t)(eq - p) : pl;
        bool secret = false;
        for (int i = 0; names[i] && !secret; i++)
            secret = strlen(names[i]) == nl && !strncasecmp(names[i], p, nl);
        for (size_t i = 0; i < nextra && !secret; i++)
            secret = strlen(extra[i]) == nl && !strncmp(extra[i], p, nl);
        int bad = secret && eq ? pwsr__buf_put(&b, p, nl + 1) || pwsr__buf_str(&b, PWS_TAPE_PLACEHOLDER)
                               : pwsr__buf_put(&b, p, pl);
        if (bad) {
            pws_tape_buf_free(&b);
            return NULL;
        }
        p += pl;
        if (*p == '&') {
            if (pwsr__buf_put(&b, "&", 1)) {
                pws_tape_buf_free(&b);
                return NULL;
            }
            p++;
        }
    }
    if (pwsr__buf_str(&b, p) || pwsr__buf_reserve(&b, 1)) {
        pws_tape_buf_free(&b);
        return NULL;
    }
    return b.p;
}
