/*
 * judge.c - verdicts from the journal and the client's result (see polyws/judge.h).
 *
 * The driver: it summarizes the journal (judge_summary.c), adds the
 * scenario-level verdicts (the client's run, failed steps, a truncated
 * journal, the events verdict), judges each assertion in the order written
 * (judge_conn.c, judge_output.c), picks the failure that came first and
 * builds the report's details with the last frames of the connections
 * concerned.  The files below it are listed in judge_internal.h.
 */
#include <polyws/judge.h>

#include "judge_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offset just after the '(' of a "(LINE:COLUMN)" location near the start of a step_failed
 * text, or 0 if there is none. */
static size_t location_at(const char *d, size_t len)
{
    const char *open = memchr(d, '(', len < 40 ? len : 40);
    if (!open)
        return 0;
    const char *p = open + 1, *end = d + len;
    size_t digits = 0;
    while (p < end && *p >= '0' && *p <= '9')
        p++, digits++;
    if (!digits || p >= end || *p++ != ':')
        return 0;
    digits = 0;
    while (p < end && *p >= '0' && *p <= '9')
        p++, digits++;
    if (!digits || p >= end || *p != ')')
        return 0;
    return (size_t)(open + 1 - d);
}

/* Scenario-level verdicts: the client's run, failed steps, a truncated journal. */
static void judge_run(judge *g)
{
    const pwsj_client *cl = g->cl;
    const pwss_scenario *sc = g->sc;
    if (cl && !cl->started) {
        sbuf b = {0};
        pwsj__sb_printf(&b, "client: could not be started: %s", cl->start_error ? cl->start_error : "unknown error");
        pwsj__add_verdict(g, -1, false, 0, &b);
        pwsj__at_time(g, 0);
    } else if (cl) {
        bool expects_code = false;
        for (size_t i = 0; i < sc->nassertions; i++)
            if (sc->assertions[i].kind == PWSS_ASSERT_CLIENT_EXIT && cl->exited &&
                sc->assertions[i].code == cl->exit_code)
                expects_code = true;
        if (cl->interrupted) {
            sbuf b = {0};
            pwsj__sb_str(&b, "client: stopped because the run was interrupted");
            pwsj__add_verdict(g, -1, false, 0, &b);
            pwsj__run_end(g);
        } else if (cl->timed_out && !sc->client.killed_ok && !cl->completed) {
            sbuf b = {0};
            pwsj__sb_printf(&b, "client: still running after the %.1f s timeout, stopped by the runner",
                            cl->timeout_ms / 1000.0);
            /* A hint only where it is true. */
            if (!sc->client.count && sc->client.duration_s <= 0)
                pwsj__sb_str(&b, " (the scenario sets neither client.count nor client.duration: if it is meant to end "
                                 "by time, set client.killed_ok)");
            else if (sc->client.count && g->have_events)
                pwsj__sb_printf(&b, " (it printed %zu of the %llu market-data events the scenario expects, "
                                    "client.count)",
                                g->printed.n, (unsigned long long)sc->client.count);
            pwsj__add_verdict(g, -1, false, 0, &b);
            pwsj__run_end(g);
        } else if (!cl->exited && !cl->timed_out && !(cl->completed && cl->term_signal == SIGTERM)) {
            sbuf b = {0};
            pwsj__sb_str(&b, "client: died from ");
            pwsj__sb_signal(&b, cl->term_signal);
            pwsj__add_verdict(g, -1, false, 0, &b);
        } else if (cl->exited && !cl->timed_out && (cl->exit_code == 126 || cl->exit_code == 127) &&
                   !expects_code) {
            sbuf b = {0};
            pwsj__sb_printf(&b, "client: the shell exited with %d: the command was %s", cl->exit_code,
                            cl->exit_code == 127 ? "not found" : "not executable");
            pwsj__add_verdict(g, -1, false, 0, &b);
            pwsj__at_time(g, 0);
        } else if (cl->exited && !cl->timed_out && !cl->completed && cl->exit_code != 0 && !expects_code &&
                   g->s.nconn == 0) {
            /* It never reached the mock: nothing the scenario did can be the cause (a runtime
             * that does not start, a missing module, a bad argument), so this is the first one,
             * not the assertions about connections that follow from it. */
            sbuf b = {0};
            pwsj__sb_printf(&b, "client: exited with %d before opening any connection (see its stderr)",
                            cl->exit_code);
            pwsj__add_verdict(g, -1, false, 0, &b);
            pwsj__at_time(g, 0);
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (!pwsj__is_kind(e, "step_failed"))
            continue;
        sbuf b = {0};
        if (e->conn)
            pwsj__sb_printf(&b, "step failed on connection %u at +%.3f s: ", e->conn, e->t_us / 1e6);
        else
            pwsj__sb_printf(&b, "step failed at +%.3f s: ", e->t_us / 1e6);
        /* The mock writes "step N (LINE:COLUMN) KIND: why"; name the file in the location. */
        size_t at = location_at(e->data, e->len);
        if (at && sc->path) {
            pwsj__sb_excerpt(&b, e->data, at, PWSJ_EXCERPT_MAX, g->secrets);
            pwsj__sb_excerpt(&b, sc->path, strlen(sc->path), PWSJ_EXCERPT_MAX, NULL);
            pwsj__sb_str(&b, ":");
        }
        pwsj__sb_excerpt(&b, e->data + at, e->len - at, 2 * PWSJ_EXCERPT_MAX, g->secrets);
        pwsj__add_verdict(g, -1, false, e->conn, &b);
        pwsj__at_time(g, e->t_us);
    }
    if (g->s.truncated) {
        sbuf b = {0};
        pwsj__sb_str(&b, "journal: the mock's in-memory journal hit its cap, verdicts would be unreliable");
        pwsj__add_verdict(g, -1, false, 0, &b);
        pwsj__run_end(g);
    }
}

int pwsj_last_frames(const pwsm_entry *j, size_t n, uint32_t conn, size_t per_dir, int indent,
                     const char *const *secrets, char **buf, size_t *len)
{
    /* Walk back to find the first of the last per_dir entries each way, then print forward. */
    size_t from = n, seen_c = 0, seen_s = 0;
    for (size_t i = n; i-- > 0 && (seen_c < per_dir || seen_s < per_dir);) {
        const pwsm_entry *e = &j[i];
        if (e->conn != conn)
            continue;
        if (e->dir == 'c' && seen_c < per_dir)
            seen_c++, from = i;
        else if (e->dir == 's' && seen_s < per_dir)
            seen_s++, from = i;
    }
    sbuf b = {*buf, *len, *buf ? *len + 1 : 0, false};
    size_t kept_c = 0, kept_s = 0;
    /* Count per direction from `from` so the older surplus of the busier direction is skipped. */
    size_t total_c = 0, total_s = 0;
    for (size_t i = from; i < n; i++)
        if (j[i].conn == conn)
            total_c += j[i].dir == 'c', total_s += j[i].dir == 's';
    for (size_t i = from; i < n; i++) {
        const pwsm_entry *e = &j[i];
        if (e->conn != conn || (e->dir != 'c' && e->dir != 's'))
            continue;
        if (e->dir == 'c' && total_c - kept_c++ > per_dir)
            continue;
        if (e->dir == 's' && total_s - kept_s++ > per_dir)
            continue;
        pwsj__sb_printf(&b, "%*s+%.3f s %s %s", indent, "", e->t_us / 1e6, e->dir == 'c' ? "client>" : "server>",
                        e->kind ? e->kind : "?");
        if (pwsj__is_kind(e, "close")) {
            pwsj__sb_printf(&b, " %d", e->close_code);
            if (e->reason && *e->reason) {
                pwsj__sb_str(&b, " \"");
                pwsj__sb_excerpt(&b, e->reason, strlen(e->reason), PWSJ_EXCERPT_MAX, secrets);
                pwsj__sb_str(&b, "\"");
            }
        } else if (e->len) {
            pwsj__sb_str(&b, " ");
            pwsj__sb_excerpt(&b, e->data, e->len, PWSJ_EXCERPT_MAX, secrets);
        }
        pwsj__sb_str(&b, "\n");
    }
    if (!seen_c && !seen_s)
        pwsj__sb_printf(&b, "%*s(no frames)\n", indent, "");
    /* The connection's own events: how it ended. */
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = &j[i];
        if (e->conn == conn && e->dir == '-' && (pwsj__is_kind(e, "closed") || pwsj__is_kind(e, "drop")))
            pwsj__sb_printf(&b, "%*s+%.3f s connection %s\n", indent, "", e->t_us / 1e6,
                            pwsj__is_kind(e, "closed") ? "closed" : "dropped (no close frame)");
    }
    if (b.oom) {
        *buf = b.p;
        *len = b.p ? strlen(b.p) : 0;
        return -1;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

/* Does failure a come before failure b?  Rank first (behaviours before how the run ended), then
 * time (unknown times last within a rank), then the order the verdicts were made. */
static bool comes_before(const pwsj_verdict *a, const pwsj_verdict *b)
{
    if (a->rank != b->rank)
        return a->rank < b->rank;
    if (a->t_us != b->t_us) {
        if (a->t_us < 0 || b->t_us < 0)
            return b->t_us < 0;
        return a->t_us < b->t_us;
    }
    return a < b;
}

/* The report's details: each failure, then the last frames of the connections concerned. */
static void build_details(judge *g)
{
    pwsj_report *r = g->r;
    if (r->pass) {
        r->details = strdup("");
        if (!r->details)
            g->oom = true;
        return;
    }
    sbuf b = {0};
    uint32_t conns[PWSJ_MAX_DETAIL_CONNS];
    size_t nconns = 0;
    /* Failures first cause first: a selection sort over the (few) verdicts. */
    const pwsj_verdict *prev = NULL;
    for (size_t n = 0; n < r->nfailed; n++) {
        const pwsj_verdict *v = NULL;
        for (size_t i = 0; i < r->nverdicts; i++) {
            const pwsj_verdict *w = &r->verdicts[i];
            if (!w->pass && (!prev || comes_before(prev, w)) && (!v || comes_before(w, v)))
                v = w;
        }
        if (!v)
            break;
        prev = v;
        pwsj__sb_printf(&b, "%s%s", b.len ? "\n" : "", v->message);
        bool dup = false;
        for (size_t k = 0; k < nconns; k++)
            dup |= conns[k] == v->conn;
        if (v->conn && !dup && nconns < PWSJ_MAX_DETAIL_CONNS)
            conns[nconns++] = v->conn;
    }
    if (!nconns && g->s.nconn)
        conns[nconns++] = g->s.nconn;
    if (!g->s.nconn)
        pwsj__sb_str(&b, "\nno connection was opened: the journal is empty");
    for (size_t k = 0; k < nconns; k++) {
        pwsj__sb_printf(&b, "\nlast frames on connection %u (oldest first, up to %u each way):\n", conns[k],
                        PWSJ_FRAMES_EACH_WAY);
        if (b.oom)
            break;
        if (pwsj_last_frames(g->j, g->n, conns[k], PWSJ_FRAMES_EACH_WAY, 2, g->secrets, &b.p, &b.len) != 0)
            b.oom = true;
        b.cap = b.p ? b.len + 1 : 0; /* pwsj_last_frames may have reallocated */
        if (b.len && b.p[b.len - 1] == '\n')
            b.p[--b.len] = '\0';
    }
    r->details = pwsj__sb_take(&b);
    if (!r->details)
        g->oom = true;
}

int pwsj_judge(const pwss_scenario *sc, const pwsm_entry *journal, size_t njournal, const pwsj_client *client,
               pwsj_report *out)
{
    *out = (pwsj_report){0};
    judge g = {.sc = sc, .j = journal, .n = journal ? njournal : 0, .cl = client, .r = out};
    g.secrets = client ? client->secrets : NULL;
    if (pwsj__summarize(g.j, g.n, &g.s) != 0)
        return -1;
    if (client && client->output == PWSJ_OUTPUT_EVENTS)
        pwsj__load_events(&g); /* before judge_run: the timeout message counts the printed events */
    judge_run(&g);
    pwsj__judge_events(&g);
    for (size_t i = 0; i < sc->nassertions && !g.oom; i++) {
        const pwss_assertion *a = &sc->assertions[i];
        int idx = (int)i;
        switch (a->kind) {
        case PWSS_ASSERT_AUTH_WITHIN: pwsj__judge_auth_within(&g, idx, a); break;
        case PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH: pwsj__judge_no_sub_before_auth(&g, idx, a); break;
        case PWSS_ASSERT_RESUBSCRIBED: pwsj__judge_resubscribed(&g, idx, a); break;
        case PWSS_ASSERT_RECONNECT_DELAY: pwsj__judge_reconnect_delay(&g, idx, a); break;
        case PWSS_ASSERT_MAX_CONNECTS: pwsj__judge_max_connects(&g, idx, a); break;
        case PWSS_ASSERT_MIN_CONNECTS: pwsj__judge_min_connects(&g, idx, a); break;
        case PWSS_ASSERT_CLIENT_CLOSED_WITH: pwsj__judge_client_closed_with(&g, idx, a); break;
        case PWSS_ASSERT_CLIENT_EXIT: pwsj__judge_client_exit(&g, idx, a); break;
        case PWSS_ASSERT_OUTPUT_EQUALS: pwsj__judge_output_equals(&g, idx, a); break;
        case PWSS_ASSERT_OUTPUT_MATCHES: pwsj__judge_output_matches(&g, idx, a); break;
        case PWSS_ASSERT_NO_RECONNECT: pwsj__judge_no_reconnect(&g, idx, a); break;
        case PWSS_ASSERT_PRINTED:
        case PWSS_ASSERT_NOT_PRINTED: pwsj__judge_printed(&g, idx, a); break;
        case PWSS_ASSERT_FAILS_CONNECTION: pwsj__judge_fails_connection(&g, idx, a); break;
        default: {
            sbuf b = {0};
            pwsj__sb_printf(&b, "unknown assertion kind %d", (int)a->kind);
            pwsj__where(&g, &b, a);
            pwsj__add_verdict(&g, idx, false, 0, &b);
        }
        }
    }
    out->pass = out->nfailed == 0;
    const pwsj_verdict *head = NULL;
    for (size_t i = 0; i < out->nverdicts; i++)
        if (!out->verdicts[i].pass && (!head || comes_before(&out->verdicts[i], head)))
            head = &out->verdicts[i];
    out->first_failure = head ? head->message : NULL;
    if (!g.oom)
        build_details(&g);
    pwsj__summary_free(&g.s);
    pwsj__events_free(&g.sent);
    pwsj__events_free(&g.printed);
    if (g.oom) {
        pwsj_report_free(out);
        return -1;
    }
    return 0;
}

void pwsj_report_free(pwsj_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nverdicts; i++)
        free(r->verdicts[i].message);
    free(r->verdicts);
    free(r->details);
    *r = (pwsj_report){0};
}
