/*
 * judge_verdict.c - the verdict list of one judged run (see judge_internal.h):
 * adding verdicts, marking their rank and time (which failure is the
 * headline), and the "name: ... (file:line:col)" frame of a message.
 */
#include "judge_internal.h"

#include <stdlib.h>

/* Adds a verdict; the message is the text of b (taken). */
void pwsj__add_verdict(judge *g, int assertion, bool pass, uint32_t conn, sbuf *b)
{
    char *msg = pwsj__sb_take(b);
    if (!msg) {
        g->oom = true;
        return;
    }
    pwsj_report *r = g->r;
    if (r->nverdicts == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        pwsj_verdict *v = realloc(r->verdicts, cap * sizeof *v);
        if (!v) {
            free(msg);
            g->oom = true;
            return;
        }
        r->verdicts = v;
        g->cap = cap;
    }
    r->verdicts[r->nverdicts++] = (pwsj_verdict){.assertion = assertion, .pass = pass, .rank = 1, .t_us = -1,
                                                  .conn = conn, .message = msg};
    if (!pass)
        r->nfailed++;
}

/* The verdict just added is a behaviour seen at t_us (rank 0): it may be the headline. */
void pwsj__at_time(judge *g, int64_t t_us)
{
    if (g->r->nverdicts && !g->oom) {
        g->r->verdicts[g->r->nverdicts - 1].rank = 0;
        g->r->verdicts[g->r->nverdicts - 1].t_us = t_us;
    }
}

/* The verdict just added is about how the run ended (rank 2): it comes after every behaviour. */
void pwsj__run_end(judge *g)
{
    if (g->r->nverdicts && !g->oom)
        g->r->verdicts[g->r->nverdicts - 1].rank = 2;
}

/* Starts a message for assertion a: "name: ". */
void pwsj__begin(sbuf *b, const pwss_assertion *a)
{
    pwsj__sb_str(b, pwsj_assert_name(a->kind));
    pwsj__sb_str(b, ": ");
}

/* Ends it with " (file:line:col)". */
void pwsj__where(judge *g, sbuf *b, const pwss_assertion *a)
{
    pwsj__sb_printf(b, " (%s:%d:%d)", g->sc->path ? g->sc->path : "?", a->line, a->column);
}

const char *pwsj_assert_name(pwss_assert_kind kind)
{
    switch (kind) {
    case PWSS_ASSERT_AUTH_WITHIN: return "auth_within";
    case PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH: return "no_subscribe_before_auth";
    case PWSS_ASSERT_RESUBSCRIBED: return "resubscribed";
    case PWSS_ASSERT_RECONNECT_DELAY: return "reconnect_delay";
    case PWSS_ASSERT_MAX_CONNECTS: return "max_connects";
    case PWSS_ASSERT_MIN_CONNECTS: return "min_connects";
    case PWSS_ASSERT_CLIENT_CLOSED_WITH: return "client_closed_with";
    case PWSS_ASSERT_CLIENT_EXIT: return "client_exit";
    case PWSS_ASSERT_OUTPUT_EQUALS: return "output_equals";
    case PWSS_ASSERT_OUTPUT_MATCHES: return "output_matches";
    case PWSS_ASSERT_NO_RECONNECT: return "no_reconnect";
    case PWSS_ASSERT_PRINTED: return "printed";
    case PWSS_ASSERT_NOT_PRINTED: return "not_printed";
    case PWSS_ASSERT_FAILS_CONNECTION: return "fails_connection";
    }
    return "?";
}
