/*
 * explore_invariant.c - the invariants of `polyws explore` and which one a failed run broke
 * (see explore.h and docs/explore.md).
 *
 * Every invariant is judged by `polyws check`'s own judge: a generated scenario asserts it
 * (explore_gen.c derives the assertions) and the judge's headline, the failure that came
 * first, names the assertion.  Here the headline is mapped back to the invariant, so that a
 * shrunk scenario is kept only if `polyws check` would headline it the same way.
 */
#include "explore.h"

#include <stdio.h>
#include <string.h>

static const char *const names[XP_INV__COUNT] = {
    [XP_INV_NONE] = "none",
    [XP_INV_AUTH] = "auth",
    [XP_INV_AUTH_FIRST] = "auth_first",
    [XP_INV_RESUBSCRIBE] = "resubscribe",
    [XP_INV_RECONNECT] = "reconnect",
    [XP_INV_BACKOFF] = "backoff",
    [XP_INV_NO_KEY_FIGHT] = "no_key_fight",
    [XP_INV_FAILS_ON_VIOLATION] = "fails_on_violation",
    [XP_INV_DELIVERY] = "delivery",
    [XP_INV_EXIT] = "exit",
    [XP_INV_NO_CRASH] = "no_crash",
    [XP_INV_NO_HANG] = "no_hang",
    [XP_INV_SCRIPT] = "script",
    [XP_INV_OTHER] = "other",
    [XP_INV_CLIENT_START] = "client_start",
};

static const char *const rules[XP_INV__COUNT] = {
    [XP_INV_NONE] = "every invariant held",
    [XP_INV_AUTH] = "authenticates within 2 s of every opening, and completes the handshake",
    [XP_INV_AUTH_FIRST] = "never subscribes before auth_success",
    [XP_INV_RESUBSCRIBE] = "subscribes to the same channels after every reconnect",
    [XP_INV_RECONNECT] = "reconnects after every connection the server (or a fault) ended",
    [XP_INV_BACKOFF] = "never reconnects sooner than 50 ms; against a flapping server the delays grow",
    [XP_INV_NO_KEY_FIGHT] = "after max_connections, does not come back within the run (no fight over the key)",
    [XP_INV_FAILS_ON_VIOLATION] = "fails the connection on a protocol violation (RFC 6455 7.1.7: close 1002, or 1007 for bad UTF-8)",
    [XP_INV_DELIVERY] = "delivers every well-formed event once, in order, on a connection it kept, and invents nothing",
    [XP_INV_EXIT] = "after auth_failed, exits non-zero and never retries",
    [XP_INV_NO_CRASH] = "is not killed by a signal it did not get from the runner",
    [XP_INV_NO_HANG] = "is not still running at client.timeout",
    [XP_INV_SCRIPT] = "keeps the scenario's script going (a step that waited for the client failed)",
    [XP_INV_OTHER] = "(a failure the judge headlined in a way explore does not map)",
    [XP_INV_CLIENT_START] = "can be started (the shell could run the command, and it connected before exiting)",
};

const char *xp_invariant_name(xp_invariant inv)
{
    return (unsigned)inv < XP_INV__COUNT ? names[inv] : "?";
}

const char *xp_invariant_rule(xp_invariant inv)
{
    return (unsigned)inv < XP_INV__COUNT ? rules[inv] : "?";
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

uint32_t xp_trap_ordinal(const xp_model *m, bool *refused)
{
    *refused = false;
    for (uint32_t k = 0; k < m->nconns; k++) {
        const xp_conn *c = &m->conn[k];
        bool kicked = false, refused_here = false, ends = false;
        for (uint32_t i = 0; i < c->nsteps && !ends; i++) {
            const xp_step *s = &c->step[i];
            if (s->kind == XP_STATUS_END && s->variant == XP_ST_MAX_CONNECTIONS)
                kicked = true;
            if (s->kind == XP_STATUS_END && s->variant == XP_ST_AUTH_FAILED)
                refused_here = true;
            ends = s->kind == XP_DROP || s->kind == XP_CLOSE || s->kind == XP_STALL_END ||
                   s->kind == XP_REJECT_FAULT || s->kind == XP_INVALID_UTF8;
        }
        if (!ends)
            return 0;
        if (kicked || refused_here) {
            *refused = refused_here;
            return k + 2;
        }
    }
    return 0;
}

xp_invariant xp_classify(const xp_model *m, const char *h)
{
    if (!h)
        return XP_INV_OTHER;
    static const struct {
        const char *prefix;
        xp_invariant inv;
    } by_assertion[] = {
        {"auth_within:", XP_INV_AUTH},
        {"no_subscribe_before_auth:", XP_INV_AUTH_FIRST},
        {"resubscribed:", XP_INV_RESUBSCRIBE},
        {"min_connects:", XP_INV_RECONNECT},
        {"reconnect_delay:", XP_INV_BACKOFF},
        {"fails_connection:", XP_INV_FAILS_ON_VIOLATION},
        {"events:", XP_INV_DELIVERY},
        {"client_exit:", XP_INV_EXIT},
        {"client: died from", XP_INV_NO_CRASH},
        {"client: still running after", XP_INV_NO_HANG},
        {"client: could not be started", XP_INV_CLIENT_START},
        {"client: the shell exited with", XP_INV_CLIENT_START},
        {"client: exited with", XP_INV_CLIENT_START}, /* "... before opening any connection" */
    };
    for (size_t i = 0; i < sizeof by_assertion / sizeof by_assertion[0]; i++)
        if (starts(h, by_assertion[i].prefix))
            return by_assertion[i].inv;
    unsigned conn = 0;
    if (sscanf(h, "step failed on connection %u", &conn) == 1) {
        bool refused;
        uint32_t trap = xp_trap_ordinal(m, &refused);
        if (trap && conn == trap)
            return refused ? XP_INV_EXIT : XP_INV_NO_KEY_FIGHT;
        /* "step N (FILE:L:C) KIND: ..." after the time */
        const char *k = strstr(h, ") ");
        if (k && (starts(k + 2, "handshake:") || starts(k + 2, "auth:") || starts(k + 2, "expect:")))
            return XP_INV_AUTH;
        return XP_INV_SCRIPT;
    }
    return XP_INV_OTHER;
}
