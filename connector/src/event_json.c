/*
 * event_json.c - one event as one normalized JSON line.
 *
 * Used by the CLI's output, by the tape/replay golden files and by tests, so
 * the bytes must depend on the event alone: keys in a fixed order (the order
 * of the struct fields), only fields whose presence bit is set, no receive
 * time and no connection ordinal, numbers in the shortest "%.{15,16,17}g" text
 * that reads back to the very same double.  Formatting runs under the "C"
 * numeric locale (uselocale() is per thread), so a program that sets a locale
 * with a decimal comma still gets JSON.
 *
 * The writer counts every byte it would write and stores only what fits, so
 * the return value is the full length, like snprintf(); nothing is allocated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* uselocale */
#endif

#include "internal.h"
#include "numparse.h"

#include <polyws/events.h>
#include <polyws/parse.h>

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* An output cursor over a caller's buffer. */
typedef struct writer {
    char *buf;  /* caller's buffer; may be NULL when cap is 0 */
    size_t cap; /* its size in bytes */
    size_t len; /* bytes the full output needs so far (may exceed cap) */
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void put_str(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_char(writer *w, char c)
{
    put(w, &c, 1);
}

static int writer_put(void *ctx, const char *s, size_t n)
{
    put(ctx, s, n);
    return 0;
}

/* A JSON string literal of s[0..n). */
static void put_quoted(writer *w, const char *s, size_t n)
{
    pws__json_quote(writer_put, w, s, n);
}

/* A NUL-terminated string held in a fixed buffer of cap bytes (bounded even
 * if a hand-built event forgot the NUL). */
static void put_fixed(writer *w, const char *s, size_t cap)
{
    put_quoted(w, s, strnlen(s, cap));
}

static void put_key(writer *w, const char *key)
{
    put_char(w, ',');
    put_char(w, '"');
    put_str(w, key);
    put_char(w, '"');
    put_char(w, ':');
}

static void put_i64(writer *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    put(w, tmp, (size_t)n);
}

/* The shortest of %.15g, %.16g, %.17g that reads back to the same bits
 * (%.17g always does).  Non-finite values, which the parser never produces,
 * become null. */
static void put_double(writer *w, double v)
{
    char tmp[40];
    int n = 0;

    if (!isfinite(v)) {
        put_str(w, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        double back;
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || (pws_parse_double(tmp, (size_t)n, &back) == 0 && memcmp(&back, &v, sizeof v) == 0))
            break;
    }
    put(w, tmp, (size_t)n);
}

static void put_i32_list(writer *w, const int32_t *list, uint32_t n)
{
    if (n > PWS_MAX_CONDITIONS)
        n = PWS_MAX_CONDITIONS;
    put_char(w, '[');
    for (uint32_t k = 0; k < n; k++) {
        if (k > 0)
            put_char(w, ',');
        put_i64(w, list[k]);
    }
    put_char(w, ']');
}

static void write_agg(writer *w, const pws_agg *a)
{
    uint32_t p = a->present;

    put_str(w, a->minute ? "{\"ev\":\"AM\"" : "{\"ev\":\"A\"");
    put_key(w, "sym");
    put_fixed(w, a->sym, sizeof a->sym);
    if (p & PWS_AGG_V) { put_key(w, "v"); put_i64(w, a->v); }
    if (p & PWS_AGG_AV) { put_key(w, "av"); put_i64(w, a->av); }
    if (p & PWS_AGG_OP) { put_key(w, "op"); put_double(w, a->op); }
    if (p & PWS_AGG_VW) { put_key(w, "vw"); put_double(w, a->vw); }
    if (p & PWS_AGG_O) { put_key(w, "o"); put_double(w, a->o); }
    if (p & PWS_AGG_C) { put_key(w, "c"); put_double(w, a->c); }
    if (p & PWS_AGG_H) { put_key(w, "h"); put_double(w, a->h); }
    if (p & PWS_AGG_L) { put_key(w, "l"); put_double(w, a->l); }
    if (p & PWS_AGG_A) { put_key(w, "a"); put_double(w, a->a); }
    if (p & PWS_AGG_Z) { put_key(w, "z"); put_i64(w, a->z); }
    if (p & PWS_AGG_S) { put_key(w, "s"); put_i64(w, a->s); }
    if (p & PWS_AGG_E) { put_key(w, "e"); put_i64(w, a->e); }
    if (p & PWS_AGG_OTC) { put_key(w, "otc"); put_str(w, a->otc ? "true" : "false"); }
    put_char(w, '}');
}

static void write_trade(writer *w, const pws_trade *t)
{
    uint32_t p = t->present;

    put_str(w, "{\"ev\":\"T\"");
    put_key(w, "sym");
    put_fixed(w, t->sym, sizeof t->sym);
    if (p & PWS_TRADE_X) { put_key(w, "x"); put_i64(w, t->x); }
    if (p & PWS_TRADE_I) { put_key(w, "i"); put_fixed(w, t->i, sizeof t->i); }
    if (p & PWS_TRADE_Z) { put_key(w, "z"); put_i64(w, t->z); }
    if (p & PWS_TRADE_P) { put_key(w, "p"); put_double(w, t->p); }
    if (p & PWS_TRADE_S) { put_key(w, "s"); put_i64(w, t->s); }
    if (p & PWS_TRADE_C) { put_key(w, "c"); put_i32_list(w, t->c, t->nc); }
    if (p & PWS_TRADE_T) { put_key(w, "t"); put_i64(w, t->t); }
    if (p & PWS_TRADE_Q) { put_key(w, "q"); put_i64(w, t->q); }
    if (p & PWS_TRADE_TRFI) { put_key(w, "trfi"); put_i64(w, t->trfi); }
    if (p & PWS_TRADE_TRFT) { put_key(w, "trft"); put_i64(w, t->trft); }
    put_char(w, '}');
}

static void write_quote(writer *w, const pws_quote *q)
{
    uint32_t p = q->present;

    put_str(w, "{\"ev\":\"Q\"");
    put_key(w, "sym");
    put_fixed(w, q->sym, sizeof q->sym);
    if (p & PWS_QUOTE_BX) { put_key(w, "bx"); put_i64(w, q->bx); }
    if (p & PWS_QUOTE_BP) { put_key(w, "bp"); put_double(w, q->bp); }
    if (p & PWS_QUOTE_BS) { put_key(w, "bs"); put_i64(w, q->bs); }
    if (p & PWS_QUOTE_AX) { put_key(w, "ax"); put_i64(w, q->ax); }
    if (p & PWS_QUOTE_AP) { put_key(w, "ap"); put_double(w, q->ap); }
    if (p & PWS_QUOTE_AS) { put_key(w, "as"); put_i64(w, q->as); }
    if (p & PWS_QUOTE_C) { put_key(w, "c"); put_i64(w, q->c); }
    if (p & PWS_QUOTE_I) { put_key(w, "i"); put_i32_list(w, q->i, q->ni); }
    if (p & PWS_QUOTE_T) { put_key(w, "t"); put_i64(w, q->t); }
    if (p & PWS_QUOTE_Q) { put_key(w, "q"); put_i64(w, q->q); }
    if (p & PWS_QUOTE_Z) { put_key(w, "z"); put_i64(w, q->z); }
    put_char(w, '}');
}

static void write_status(writer *w, const pws_status *s)
{
    put_str(w, "{\"ev\":\"status\"");
    put_key(w, "status");
    put_fixed(w, s->status, sizeof s->status);
    put_key(w, "message");
    put_fixed(w, s->message, sizeof s->message);
    if (s->truncated)
        put_str(w, ",\"truncated\":true");
    put_char(w, '}');
}

/* The raw object, re-emitted byte for byte minus surrounding whitespace. */
static void write_other(writer *w, const pws_other *o)
{
    const char *s = o->json;
    size_t n = o->json_len;

    if (s == NULL || n == 0) {
        put_str(w, "{\"ev\":");
        put_fixed(w, o->ev, sizeof o->ev);
        put_char(w, '}');
        return;
    }
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    put(w, s, n);
}

static void write_error(writer *w, const pws_parse_error *e)
{
    char offset[24];
    int n = snprintf(offset, sizeof offset, "%zu", e->offset);

    put_str(w, "{\"ev\":\"parse_error\",\"offset\":");
    put(w, offset, (size_t)n);
    put_key(w, "reason");
    put_quoted(w, e->reason ? e->reason : "", e->reason ? strlen(e->reason) : 0);
    put_key(w, "excerpt");
    put_fixed(w, e->excerpt, sizeof e->excerpt);
    put_char(w, '}');
}

static void write_conn(writer *w, const pws_conn_event *c)
{
    put_str(w, "{\"ev\":\"connection\",\"state\":");
    put_str(w, "\"");
    put_str(w, pws_conn_state_name(c->state));
    put_str(w, "\"");
    put_key(w, "err");
    put_i64(w, c->err);
    put_key(w, "close_code");
    put_i64(w, c->close_code);
    put_key(w, "attempt");
    put_i64(w, c->attempt);
    put_key(w, "delay_ms");
    put_i64(w, c->delay_ms);
    put_key(w, "reason");
    put_fixed(w, c->reason, sizeof c->reason);
    put_char(w, '}');
}

size_t pws_event_to_json(const pws_event *ev, char *buf, size_t cap)
{
    writer w = { buf, buf ? cap : 0, 0 };
    locale_t c_locale = pws__c_locale();
    locale_t saved = c_locale ? uselocale(c_locale) : (locale_t)0;

    if (ev != NULL) {
        switch (ev->type) {
        case PWS_EV_AGG: write_agg(&w, &ev->u.agg); break;
        case PWS_EV_TRADE: write_trade(&w, &ev->u.trade); break;
        case PWS_EV_QUOTE: write_quote(&w, &ev->u.quote); break;
        case PWS_EV_STATUS: write_status(&w, &ev->u.status); break;
        case PWS_EV_OTHER: write_other(&w, &ev->u.other); break;
        case PWS_EV_PARSE_ERROR: write_error(&w, &ev->u.error); break;
        case PWS_EV_CONNECTION: write_conn(&w, &ev->u.conn); break;
        default:
            put_str(&w, "{\"ev\":\"unknown\"}");
            break;
        }
    }
    if (saved != (locale_t)0)
        uselocale(saved);
    if (w.cap > 0)
        w.buf[w.len < w.cap ? w.len : w.cap - 1] = '\0';
    return w.len;
}
