/*
 * soak_oracle.c - the soak's judge of one epoch (see soak.h and docs/soak.md).
 *
 * What must come out of the library is read from the mock's journal, not from
 * the plan: the journal records every frame the server wrote, in order, on
 * each connection.  The expected trades are, connection after connection,
 * those of this epoch's symbols in every text frame that is a JSON array
 * (its well-formed elements; a frame that does not parse holds none of ours),
 * plus the trade of each raw fault a client must accept (fragmented,
 * control_in_fragment), whose bytes the journal keeps as hex and the plan
 * knows.  The client's delivered trades must be that sequence exactly: the
 * multiset difference counts lost, duplicated and unexpected trades, and an
 * equal multiset in another order counts positions out of order.
 */
#include "soak.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void problem(soak_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first problem of the epoch (the later ones are usually its consequences). */
static void problem(soak_result *out, const char *fmt, ...)
{
    if (out->first_problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->first_problem, sizeof out->first_problem, fmt, ap);
    va_end(ap);
}

static int key_cmp(const void *a, const void *b)
{
    const soak_key *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->q < y->q ? -1 : x->q > y->q;
}

/* The expected trades of one journaled text frame of connection `ordinal`. */
static void frame_trades(const soak_plan *p, uint32_t ordinal, const pwsm_entry *e, soak_key *exp,
                         size_t *n, soak_result *out)
{
    cJSON *root = cJSON_ParseWithLength(e->data, e->len);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return; /* not a frame of events: nothing in it is deliverable */
    }
    const cJSON *el;
    cJSON_ArrayForEach(el, root) {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(el, "ev");
        const cJSON *sym = cJSON_GetObjectItemCaseSensitive(el, "sym");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(el, "q");
        if (!cJSON_IsString(ev) || strcmp(ev->valuestring, "T") || !cJSON_IsString(sym))
            continue;
        uint32_t tag;
        bool other;
        if (!soak_tag(sym->valuestring, p->epoch, &tag, &other))
            continue;
        if (tag >> 16 != ordinal || !cJSON_IsNumber(q)) {
            problem(out, "connection %u: the server wrote trade %s (q %s) that the plan does not put there",
                    ordinal, sym->valuestring, cJSON_IsNumber(q) ? "set" : "missing");
            continue;
        }
        if (*n < SOAK_MAX_KEYS)
            exp[(*n)++] = (soak_key){tag, (int64_t)q->valuedouble};
        else
            problem(out, "more than %u expected trades in one epoch", SOAK_MAX_KEYS);
    }
    cJSON_Delete(root);
}

/* Builds the expected sequence from the journal; returns its length. */
static size_t expected_from_journal(const soak_plan *p, pwsm_server *srv, soak_key *exp, soak_result *out,
                                    uint32_t *opens)
{
    size_t count = pwsm_journal_count(srv), n = 0;
    *opens = 0;
    for (size_t i = 0; i < count; i++) {
        const pwsm_entry *e = pwsm_journal_get(srv, i);
        if (e && e->dir == '-' && !strcmp(e->kind, "open"))
            (*opens)++;
        if (e && !strcmp(e->kind, "truncated"))
            problem(out, "the mock's journal was cut (%s): the epoch cannot be judged", e->data);
    }
    /* connection by connection: a connection's frames all precede the next one's opening on the
     * client's side, whatever the journal's interleaving of their last entries */
    for (uint32_t ordinal = 1; ordinal <= p->nconns; ordinal++) {
        const soak_conn *c = &p->conns[ordinal - 1];
        uint32_t raw = 0;
        for (size_t i = 0; i < count; i++) {
            const pwsm_entry *e = pwsm_journal_get(srv, i);
            if (!e || e->conn != ordinal || e->dir != 's')
                continue;
            if (!strcmp(e->kind, "text")) {
                frame_trades(p, ordinal, e, exp, &n, out);
            } else if (!strcmp(e->kind, "raw")) {
                if (raw >= c->nraw) {
                    problem(out, "connection %u: more raw frames in the journal than the plan's %u", ordinal,
                            c->nraw);
                    continue;
                }
                const soak_raw *r = &c->raw[raw++];
                if (r->delivers && n < SOAK_MAX_KEYS)
                    exp[n++] = (soak_key){r->tag, r->q};
            }
        }
        if (raw != c->nraw)
            problem(out, "connection %u: %u of the plan's %u raw faults in the journal", ordinal, raw, c->nraw);
    }
    return n;
}

/* Counts lost, duplicated and unexpected trades from the sorted sequences. */
static void count_differences(soak_key *exp, size_t ne, soak_key *got, size_t ng, soak_result *out)
{
    qsort(exp, ne, sizeof *exp, key_cmp);
    qsort(got, ng, sizeof *got, key_cmp);
    size_t i = 0, j = 0;
    while (i < ne || j < ng) {
        const soak_key *k = i < ne && (j >= ng || key_cmp(&exp[i], &got[j]) <= 0) ? &exp[i] : &got[j];
        size_t e = 0, g = 0;
        while (i < ne && !key_cmp(&exp[i], k))
            i++, e++;
        while (j < ng && !key_cmp(&got[j], k))
            j++, g++;
        if (e > 1)
            problem(out, "the server wrote trade tag %#x q %lld %zu times (the plan makes each once)", k->tag,
                    (long long)k->q, e);
        if (e == 0) {
            out->unexpected += g;
            problem(out, "delivered %zu x a trade never written in a deliverable frame: connection %u, %s %u, q %lld",
                    g, k->tag >> 16, k->tag & 0x8000 ? "hand-written step" : "stream step", k->tag & 0x7fff,
                    (long long)k->q);
        } else if (g < e) {
            out->lost += e - g;
            problem(out, "lost a trade: connection %u, %s %u, q %lld", k->tag >> 16,
                    k->tag & 0x8000 ? "hand-written step" : "stream step", k->tag & 0x7fff, (long long)k->q);
        } else if (g > e) {
            out->duplicated += g - e;
            problem(out, "duplicated a trade (%zu times): connection %u, %s %u, q %lld", g, k->tag >> 16,
                    k->tag & 0x8000 ? "hand-written step" : "stream step", k->tag & 0x7fff, (long long)k->q);
        }
    }
}

/* The index in seen->life of the first event of `state` for connection `conn` at or after `from`,
 * or -1. */
static long find_life(const soak_seen *seen, size_t from, pws_conn_state state, uint32_t conn)
{
    for (size_t i = from; i < seen->nlife; i++)
        if (seen->life[i].state == state && seen->life[i].conn == conn)
            return (long)i;
    return -1;
}

/* Reconnects: each scripted connection ends with the error its fault implies and is followed by
 * the next; after max_connections the wait is long enough; nothing else ends or opens. */
static void judge_reconnects(const soak_plan *p, const soak_seen *seen, uint32_t journal_opens,
                             soak_result *out)
{
    out->reconnects_expected = p->nconns;
    if (seen->nlife >= SOAK_MAX_LIFE)
        problem(out, "more than %d connection events: the connector reconnected far more than planned",
                SOAK_MAX_LIFE);
    for (uint32_t k = 1; k <= p->nconns; k++) {
        const soak_conn *c = &p->conns[k - 1];
        long d = find_life(seen, 0, PWS_CONN_DISCONNECTED, k);
        if (d < 0) {
            problem(out, "connection %u (%s) never ended", k, soak_end_names[c->end]);
            continue;
        }
        const soak_life *l = &seen->life[d];
        bool ok = l->err == c->expect_err && (!c->expect_close_code || l->close_code == c->expect_close_code);
        if (!ok)
            problem(out, "connection %u (%s) ended with %s (close code %d), expected %s (close code %d)", k,
                    soak_end_names[c->end], pws_strerror(l->err), l->close_code, pws_strerror(c->expect_err),
                    c->expect_close_code);
        long w = find_life(seen, (size_t)d, PWS_CONN_RECONNECT_WAIT, k);
        if (c->end == SOAK_END_MAX_CONNECTIONS) {
            out->max_conn_waits++;
            if (w >= 0 && seen->life[w].delay_ms >= SOAK_MAX_CONNECTION_DELAY_MS)
                out->max_conn_waits_ok++;
            else
                problem(out, "connection %u: after max_connections the connector waited %d ms, not >= %u", k,
                        w >= 0 ? (int)seen->life[w].delay_ms : -1, SOAK_MAX_CONNECTION_DELAY_MS);
        }
        if (find_life(seen, (size_t)d, PWS_CONN_OPEN, k + 1) < 0) {
            problem(out, "connection %u (%s): no connection %u opened after it", k, soak_end_names[c->end], k + 1);
            continue;
        }
        if (ok)
            out->reconnects_seen++;
    }
    uint32_t disconnects = 0;
    bool fatal = false;
    for (size_t i = 0; i < seen->nlife; i++) {
        disconnects += seen->life[i].state == PWS_CONN_DISCONNECTED;
        fatal |= seen->life[i].state == PWS_CONN_FATAL;
    }
    if (fatal)
        problem(out, "the connector gave up (PWS_CONN_FATAL)");
    /* the last connection ends by pws_stop(), with PWS_OK */
    long last = find_life(seen, 0, PWS_CONN_DISCONNECTED, p->nconns + 1);
    if (last < 0 || seen->life[last].err != PWS_OK)
        problem(out, "the handshake-only connection %u %s", p->nconns + 1,
                last < 0 ? "never ended" : "ended with an error before pws_stop");
    if (disconnects != p->nconns + 1 || seen->opens != p->nconns + 1 || journal_opens != p->nconns + 1)
        problem(out, "%u connections opened (server: %u) and %u ended, expected %u: an unplanned reconnect",
                seen->opens, journal_opens, disconnects, p->nconns + 1);
}

bool soak_judge(const soak_plan *p, pwsm_server *srv, soak_seen *seen, soak_key *exp, soak_result *out)
{
    memset(out, 0, sizeof *out);
    uint32_t journal_opens = 0;
    size_t ne = expected_from_journal(p, srv, exp, out, &journal_opens);
    out->expected = ne;
    out->received = seen->nkeys + seen->keys_overflow;
    if (seen->keys_overflow)
        problem(out, "the client delivered more than %u trades of this epoch", SOAK_MAX_KEYS);
    if (seen->stale) {
        out->unexpected += seen->stale;
        problem(out, "%llu trades of an earlier epoch delivered", (unsigned long long)seen->stale);
    }
    /* in order first (the sort below loses the order), then as multisets */
    size_t diff = 0, ng = seen->nkeys;
    for (size_t i = 0; i < ne && i < ng; i++)
        diff += key_cmp(&exp[i], &seen->keys[i]) != 0;
    count_differences(exp, ne, seen->keys, ng, out);
    if (!out->lost && !out->duplicated && !out->unexpected && diff) {
        out->out_of_order = diff;
        problem(out, "%zu trades delivered out of the order the server wrote them", diff);
    }
    for (uint32_t k = 0; k < p->nconns; k++) {
        out->parse_errors_expected += p->conns[k].parse_errors;
        out->others_expected += p->conns[k].others;
    }
    if (seen->parse_errors != out->parse_errors_expected)
        problem(out, "%llu parse errors delivered, %llu malformed frames or elements sent",
                (unsigned long long)seen->parse_errors, (unsigned long long)out->parse_errors_expected);
    if (seen->others != out->others_expected)
        problem(out, "%llu unknown-type events delivered, %llu sent", (unsigned long long)seen->others,
                (unsigned long long)out->others_expected);
    judge_reconnects(p, seen, journal_opens, out);
    return out->first_problem[0] == '\0';
}
