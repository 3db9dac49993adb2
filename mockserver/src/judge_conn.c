/*
 * judge_conn.c - the assertions on connections and the client's behaviour on them
 * (see judge_internal.h): auth_within, no_subscribe_before_auth, resubscribed,
 * reconnect_delay, max_connects, min_connects, no_reconnect, client_closed_with
 * and fails_connection.
 *
 * Each is judged from the per-connection summary (judge_summary.c) in
 * O(connections), except max_connects (two pointers over the opens) and the
 * two that look for close frames and faults in the journal itself.
 */
#include "judge_internal.h"

#include <stdlib.h>
#include <string.h>

/* A set as "{A.AAPL, T.MSFT}", sorted for stable messages. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sb_set(sbuf *b, chanset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
    pwsj__sb_str(b, "{");
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            pwsj__sb_str(b, ", ");
        pwsj__sb_excerpt(b, s->v[i], strlen(s->v[i]), PWSJ_EXCERPT_MAX, NULL);
    }
    pwsj__sb_str(b, "}");
}

static void no_connection(judge *g, int idx, const pwss_assertion *a)
{
    sbuf b = {0};
    pwsj__begin(&b, a);
    pwsj__sb_str(&b, "no connection was opened");
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, false, 0, &b);
}

/* Starts the message of an assertion about connections in *b, or fails it when no connection
 * was opened at all (false: nothing more to judge). */
static bool begin_judged(judge *g, int idx, const pwss_assertion *a, sbuf *b)
{
    if (!g->s.opened) {
        no_connection(g, idx, a);
        return false;
    }
    *b = (sbuf){0};
    pwsj__begin(b, a);
    return true;
}

void pwsj__judge_auth_within(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    int64_t limit = (int64_t)a->ms * 1000;
    uint32_t bad = 0, first_bad = 0, judged = 0;
    int64_t worst = 0;
    sbuf why = {0};
    for (uint32_t k = 1; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        int64_t end = c->ended ? c->end_us : s->last_us;
        if (c->auth_sent && c->auth_us - c->open_us <= limit) {
            judged++;
            if (c->auth_us - c->open_us > worst)
                worst = c->auth_us - c->open_us;
            continue;
        }
        if (!c->auth_sent && end - c->open_us < limit)
            continue; /* it ended before the deadline: no chance to judge */
        judged++;
        if (!bad++) {
            first_bad = k;
            if (c->auth_sent)
                pwsj__sb_printf(&why, "connection %u sent auth %ld ms after opening, expected within %u ms", k,
                                pwsj__ms_of(c->auth_us - c->open_us), a->ms);
            else
                pwsj__sb_printf(&why, "connection %u sent no auth within %u ms (it was open for %ld ms%s)", k,
                                a->ms, pwsj__ms_of(end - c->open_us), c->ended ? "" : " until the end of the run");
        }
    }
    sbuf b = {0};
    pwsj__begin(&b, a);
    if (bad) {
        pwsj__sb_put(&b, why.p, why.len);
        if (bad > 1)
            pwsj__sb_printf(&b, "; %u of %u connections late", bad, judged);
    } else if (judged) {
        pwsj__sb_printf(&b, "%u connection(s) sent auth within %u ms (slowest %ld ms)", judged, a->ms,
                        pwsj__ms_of(worst));
    } else {
        pwsj__sb_printf(&b, "every connection ended within %u ms without auth: nothing to judge", a->ms);
    }
    free(why.p);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, bad == 0, first_bad, &b);
    if (bad)
        pwsj__at_time(g, s->c[first_bad].open_us + limit);
}

void pwsj__judge_no_sub_before_auth(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b;
    if (!begin_judged(g, idx, a, &b))
        return;
    for (uint32_t k = 1; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k];
        if (!c->early_sub)
            continue;
        const pwsm_entry *e = &g->j[c->early_sub_idx];
        pwsj__sb_printf(&b, "connection %u sent a subscribe %ld ms after opening, before auth_success (",
                        k, pwsj__ms_of(c->early_sub_us - c->open_us));
        pwsj__sb_excerpt(&b, e->data, e->len, PWSJ_EXCERPT_MAX, g->secrets);
        pwsj__sb_str(&b, c->authed ? ")" : "; auth_success never came)");
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, k, &b);
        pwsj__at_time(g, c->early_sub_us);
        return;
    }
    pwsj__sb_printf(&b, "no subscribe before auth_success on %u connection(s)", s->opened);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, true, 0, &b);
}

void pwsj__judge_resubscribed(judge *g, int idx, const pwss_assertion *a)
{
    summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    uint32_t first = 0, later = 0;
    for (uint32_t k = 1; k <= s->nconn && !first; k++)
        if (s->c[k].authed)
            first = k;
    sbuf b = {0};
    pwsj__begin(&b, a);
    if (!first) {
        pwsj__sb_str(&b, "no connection was authenticated (no auth_success): nothing to compare");
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    chanset *ref = &s->c[first].subs;
    if (!ref->n) {
        pwsj__sb_printf(&b, "the first authenticated connection (%u) subscribed to nothing", first);
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, first, &b);
        return;
    }
    uint32_t skipped = 0;
    for (uint32_t k = first + 1; k <= s->nconn; k++) {
        conn_info *c = &s->c[k];
        if (!c->authed)
            continue;
        /* A connection that ended soon after auth_success without any subscribe had no fair
         * chance to resubscribe (e.g. the script dropped it): not judged. */
        int64_t end = c->ended ? c->end_us : s->last_us;
        if (!c->subscribes && end - c->authed_us < (int64_t)PWSJ_RESUBSCRIBE_GRACE_MS * 1000) {
            skipped++;
            continue;
        }
        later++;
        bool same = c->subs.n == ref->n;
        for (size_t i = 0; same && i < ref->n; i++)
            same = pwsj__chanset_has(&c->subs, ref->v[i]);
        if (same)
            continue;
        pwsj__sb_printf(&b, "connection %u subscribed to ", k);
        sb_set(&b, &c->subs);
        pwsj__sb_printf(&b, " after auth_success, expected ");
        sb_set(&b, ref);
        pwsj__sb_printf(&b, " as on connection %u", first);
        if (!c->subscribes)
            pwsj__sb_str(&b, " (it sent no subscribe at all)");
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, k, &b);
        pwsj__at_time(g, c->authed_us);
        return;
    }
    if (later) {
        pwsj__sb_printf(&b, "%u later authenticated connection(s) subscribed to ", later);
        sb_set(&b, ref);
        pwsj__sb_printf(&b, " as connection %u did", first);
    } else {
        pwsj__sb_printf(&b, "only connection %u was authenticated: no resubscription to judge", first);
    }
    if (skipped)
        pwsj__sb_printf(&b, "; %u connection(s) ended within %u ms of auth_success, not judged", skipped,
                        PWSJ_RESUBSCRIBE_GRACE_MS);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, true, 0, &b);
}

void pwsj__judge_reconnect_delay(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    pwsj__begin(&b, a);
    int64_t prev_gap = -1, min_gap = -1;
    uint32_t gaps = 0;
    for (uint32_t k = 2; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k], *p = &s->c[k - 1];
        if (!c->opened || !p->opened)
            continue;
        if (!p->ended || p->end_us > c->open_us) {
            pwsj__sb_printf(&b, "connection %u opened while connection %u was still open, expected a gap >= %u ms",
                            k, k - 1, a->ms);
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, false, k, &b);
            pwsj__at_time(g, c->open_us);
            return;
        }
        int64_t gap = c->open_us - p->end_us;
        gaps++;
        if (gap < (int64_t)a->ms * 1000) {
            pwsj__sb_printf(&b, "reconnected %ld ms after connection %u ended, expected a gap >= %u ms (connection %u)",
                            pwsj__ms_of(gap), k - 1, a->ms, k);
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, false, k, &b);
            pwsj__at_time(g, c->open_us);
            return;
        }
        if (a->growing && prev_gap >= 0 && gap < prev_gap &&
            !(a->cap_ms && prev_gap >= (int64_t)a->cap_ms * 1000)) {
            pwsj__sb_printf(&b, "gap before connection %u was %ld ms, shorter than the %ld ms before connection %u "
                                "(expected growing gaps",
                            k, pwsj__ms_of(gap), pwsj__ms_of(prev_gap), k - 1);
            if (a->cap_ms)
                pwsj__sb_printf(&b, " until %u ms", a->cap_ms);
            pwsj__sb_str(&b, ")");
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, false, k, &b);
            pwsj__at_time(g, c->open_us);
            return;
        }
        prev_gap = gap;
        if (min_gap < 0 || gap < min_gap)
            min_gap = gap;
    }
    if (gaps)
        pwsj__sb_printf(&b, "%u reconnect(s), shortest gap %ld ms >= %u ms%s", gaps, pwsj__ms_of(min_gap), a->ms,
                        a->growing ? ", growing" : "");
    else
        pwsj__sb_printf(&b, "%u connection(s), no reconnect to judge", s->opened);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, true, 0, &b);
}

void pwsj__judge_max_connects(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    pwsj__begin(&b, a);
    /* Opens in ordinal order are in time order; slide a window [lo, hi] of opens spanning < ms. */
    uint32_t lo = 1, in = 0, worst = 0, worst_lo = 0, worst_hi = 0;
    int64_t window = (int64_t)a->ms * 1000;
    for (uint32_t hi = 1; hi <= s->nconn; hi++) {
        if (!s->c[hi].opened)
            continue;
        in++; /* opens in [lo, hi] */
        while (lo < hi && (!s->c[lo].opened || s->c[hi].open_us - s->c[lo].open_us >= window))
            in -= s->c[lo++].opened;
        if (in > worst) {
            worst = in;
            worst_lo = lo;
            worst_hi = hi;
        }
        if (in > a->count)
            break;
    }
    bool pass = worst <= a->count;
    if (pass)
        pwsj__sb_printf(&b, "at most %u connection(s) opened in any %u ms (limit %u)", worst, a->ms, a->count);
    else
        pwsj__sb_printf(&b, "%u connections opened within %ld ms (connections %u..%u), expected at most %u in any %u ms",
                        worst, pwsj__ms_of(s->c[worst_hi].open_us - s->c[worst_lo].open_us), worst_lo, worst_hi,
                        a->count, a->ms);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, pass ? 0 : worst_hi, &b);
    if (!pass)
        pwsj__at_time(g, s->c[worst_hi].open_us);
}

void pwsj__judge_min_connects(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    pwsj__begin(&b, a);
    bool pass = s->opened >= a->count;
    const conn_info *last = s->nconn ? &s->c[s->nconn] : NULL;
    if (pass)
        pwsj__sb_printf(&b, "%u connection(s) opened, at least %u expected", s->opened, a->count);
    else if (last && last->ended)
        pwsj__sb_printf(&b, "did not reconnect after connection %u ended at +%.3f s (%s): %u connection(s) opened, "
                            "expected at least %u",
                        s->nconn, last->end_us / 1e6,
                        !last->end_clean               ? "dropped without a close frame"
                        : last->client_closes && !last->server_close_first ? "closed by the client"
                                                                           : "closed by the server",
                        s->opened, a->count);
    else
        pwsj__sb_printf(&b, "%u connection(s) opened, expected at least %u", s->opened, a->count);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, pass ? 0 : s->nconn, &b);
    if (!pass && last && last->ended)
        pwsj__at_time(g, last->end_us);
}

void pwsj__judge_no_reconnect(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b;
    if (!begin_judged(g, idx, a, &b))
        return;
    bool pass = s->opened == 1;
    if (pass) {
        pwsj__sb_str(&b, "exactly one connection was opened");
    } else {
        pwsj__sb_printf(&b, "%u connections were opened, expected exactly 1", s->opened);
        if (s->nconn >= 2 && s->c[1].ended && s->c[2].opened && s->c[2].open_us >= s->c[1].end_us)
            pwsj__sb_printf(&b, " (connection 2 opened %ld ms after connection 1 ended)",
                            pwsj__ms_of(s->c[2].open_us - s->c[1].end_us));
    }
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, pass ? 0 : 2, &b);
    if (!pass && s->nconn >= 2)
        pwsj__at_time(g, s->c[2].open_us);
}

void pwsj__judge_client_closed_with(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b;
    if (!begin_judged(g, idx, a, &b))
        return;
    if (a->ordinal && a->ordinal > s->nconn) {
        pwsj__sb_printf(&b, "connection %u was never opened (%u connection(s))", a->ordinal, s->opened);
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    /* Any close frame from the client counts, also one that echoes the server's close. */
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (e->dir == 'c' && pwsj__is_kind(e, "close") && e->close_code == a->code &&
            (!a->ordinal || e->conn == a->ordinal)) {
            pwsj__sb_printf(&b, "the client sent close %d on connection %u", a->code, e->conn);
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, true, 0, &b);
            return;
        }
    }
    pwsj__sb_printf(&b, "no client close frame with code %d", a->code);
    if (a->ordinal)
        pwsj__sb_printf(&b, " on connection %u", a->ordinal);
    pwsj__sb_str(&b, ":");
    uint32_t from = a->ordinal ? a->ordinal : 1, to = a->ordinal ? a->ordinal : s->nconn, shown = 0;
    for (uint32_t k = from; k <= to; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        if (shown++ == 3) {
            pwsj__sb_str(&b, " ...");
            break;
        }
        if (c->client_closes)
            pwsj__sb_printf(&b, " connection %u: client sent close %d%s;", k, c->client_close_code,
                            c->server_close_first ? " (answering the server's close)" : "");
        else
            pwsj__sb_printf(&b, " connection %u: no client close frame, it ended by %s;", k,
                            !c->ended ? "the end of the run" : c->end_clean ? "the server's close" : "a drop");
    }
    if (b.len && b.p[b.len - 1] == ';')
        b.p[--b.len] = '\0';
    pwsj__where(g, &b, a);
    uint32_t k = a->ordinal ? a->ordinal : s->nconn;
    pwsj__add_verdict(g, idx, false, k, &b);
    pwsj__at_time(g, s->c[k].ended ? s->c[k].end_us : s->last_us);
}

/* Did the server itself end connection k: a close frame, a drop or close fault, or a scripted
 * drop or close step? */
static bool starts(const pwsm_entry *e, const char *prefix)
{
    size_t n = strlen(prefix);
    return e->len >= n && memcmp(e->data, prefix, n) == 0;
}

static bool server_ended(const judge *g, uint32_t k)
{
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (e->conn != k)
            continue;
        if (e->dir == 's' && pwsj__is_kind(e, "close"))
            return true;
        if (e->dir == '-' && pwsj__is_kind(e, "fault") && !starts(e, "stall"))
            return true;
        if (e->dir == '-' && pwsj__is_kind(e, "step") && (starts(e, "drop") || starts(e, "close")))
            return true;
    }
    return false;
}

void pwsj__judge_fails_connection(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b;
    if (!begin_judged(g, idx, a, &b))
        return;
    uint32_t from = a->ordinal ? a->ordinal : 1, to = a->ordinal ? a->ordinal : s->nconn;
    if (a->ordinal && a->ordinal > s->nconn) {
        pwsj__sb_printf(&b, "connection %u was never opened (%u connection(s))", a->ordinal, s->opened);
        pwsj__where(g, &b, a);
        pwsj__add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    /* Pass on the first connection the client failed: a close with the code it started, or a TCP
     * close without any close frame that the server did not cause. */
    for (uint32_t k = from; k <= to; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        if (c->client_closes && !c->server_close_first && c->client_close_code == a->code) {
            pwsj__sb_printf(&b, "the client failed connection %u with close %d", k, a->code);
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, true, 0, &b);
            return;
        }
        if (c->ended && !c->end_clean && !c->client_closes && !server_ended(g, k)) {
            pwsj__sb_printf(&b, "the client failed connection %u by closing TCP without a close frame (RFC 6455 "
                                "7.1.7: it SHOULD send close %d first)",
                            k, a->code);
            pwsj__where(g, &b, a);
            pwsj__add_verdict(g, idx, true, 0, &b);
            return;
        }
    }
    uint32_t k = a->ordinal ? a->ordinal : 1;
    const conn_info *c = &s->c[k];
    int64_t fault_us = -1;
    for (size_t i = 0; i < g->n && fault_us < 0; i++)
        if (g->j[i].conn == k && g->j[i].dir == 's' && pwsj__is_kind(&g->j[i], "raw"))
            fault_us = g->j[i].t_us;
    pwsj__sb_printf(&b, "connection %u: ", k);
    if (c->client_closes && !c->server_close_first)
        pwsj__sb_printf(&b, "the client closed with %d, expected %d (failing the connection)", c->client_close_code,
                        a->code);
    else if (!c->ended)
        pwsj__sb_printf(&b, "the client carried on until the end of the run, expected it to fail the connection "
                            "with close %d",
                        a->code);
    else if (c->client_closes)
        pwsj__sb_printf(&b, "the client only answered the server's close (with %d), expected it to fail the "
                            "connection with close %d first",
                        c->client_close_code, a->code);
    else
        pwsj__sb_printf(&b, "the server ended the connection before the client failed it (expected close %d)", a->code);
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, false, k, &b);
    pwsj__at_time(g, fault_us >= 0 ? fault_us : c->ended ? c->end_us : s->last_us);
}
