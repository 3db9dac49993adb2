/*
 * server.c - the mock Polygon server object: pwsm_start / pwsm_stop and the
 * journal API of polyws/mock.h.
 *
 * pwsm_start applies the options (server_options.c), opens the journal,
 * offers every new connection to the scenario engine (engine.c) if there is a
 * scenario, and opens the listener (server_start.c), whose service thread
 * (wire/server.h) runs the connections (conn*.c, conn.h).  The only
 * cross-thread traffic is the journal (its own mutex), two atomics, and
 * wire's stop.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* The public limits are wire's (wire/handshake.h), spelled in polyws/mock.h. */
_Static_assert(PWSM_DEFAULT_HANDSHAKE_TIMEOUT_MS == PWS__HS_DEFAULT_TIMEOUT_MS &&
                   PWSM_MAX_HANDSHAKE_TIMEOUT_MS == PWS__HS_MAX_TIMEOUT_MS &&
                   PWSM_DEFAULT_MAX_PENDING == PWS__HS_DEFAULT_MAX_PENDING && PWSM_MAX_PENDING == PWS__HS_MAX_PENDING &&
                   PWSM_MAX_PER_ADDRESS == PWS__HS_MAX_PER_ADDRESS,
               "polyws/mock.h and wire/handshake.h disagree");

int pwsm__server_init(pwsm_server *s, const pwsm_options *opts, char *errbuf, size_t errcap)
{
    memset(s, 0, sizeof *s);
    atomic_init(&s->accepted, 0);
    atomic_init(&s->tcp_accepted, 0);
    if (pwsm__options_apply(s, opts, errbuf, errcap) != 0)
        return -1;
    if (pwsm__journal_init(&s->journal, s->o.journal_path, s->o.journal_max_entries,
                           s->o.journal_max_bytes, s->o.journal_file_max_bytes, errbuf, errcap) != 0)
        return -1;
    s->journal_ready = true;

    if (s->has_scenario) {
        s->attach = pwsm__engine_attach;
        s->attach_user = &s->scenario;
    }
    return 0;
}

void pwsm__server_fini(pwsm_server *s)
{
    pwsm__server_close(s); /* before the journal: closing connections journal */
    if (s->journal_ready)
        pwsm__journal_free(&s->journal);
    s->journal_ready = false;
    pwsm__options_free(s);
}

pwsm_server *pwsm_start(const pwsm_options *opts, char *errbuf, size_t errcap)
{
    char scratch[8];
    if (!errbuf) {
        errbuf = scratch;
        errcap = sizeof scratch;
    }
    if (errcap)
        errbuf[0] = '\0';
    pwsm_server *s = malloc(sizeof *s);
    if (!s) {
        snprintf(errbuf, errcap, "out of memory");
        return NULL;
    }
    if (pwsm__server_init(s, opts, errbuf, errcap) != 0 ||
        pwsm__server_listen(s, errbuf, errcap) != 0) { /* starts the service thread last */
        pwsm__server_fini(s);
        free(s);
        return NULL;
    }
    return s;
}

int pwsm_port(const pwsm_server *s)
{
    return s->sv.port;
}

const char *pwsm_url(const pwsm_server *s)
{
    return s->sv.url;
}

const char *pwsm_ca_file(const pwsm_server *s)
{
    return s->ca_file;
}

uint32_t pwsm_connections(pwsm_server *s)
{
    return atomic_load(&s->accepted);
}

uint32_t pwsm_tcp_connections(pwsm_server *s)
{
    return atomic_load(&s->tcp_accepted);
}

void pwsm_get_handshake_stats(pwsm_server *s, pwsm_handshake_stats *out)
{
    pws__hs_stats st;
    pws__hs_get_stats(s->sv.guard, &st);
    *out = (pwsm_handshake_stats){.accepted = st.accepted, .upgraded = st.upgraded, .timed_out = st.timed_out,
                                  .evicted = st.evicted, .refused_full = st.refused_full,
                                  .refused_address = st.refused_address, .pending = st.pending,
                                  .pending_peak = st.pending_peak};
}

size_t pwsm_journal(pwsm_server *s, const pwsm_entry **out)
{
    return pwsm__journal_snapshot(&s->journal, out);
}

size_t pwsm_journal_count(pwsm_server *s)
{
    return pwsm__journal_count(&s->journal);
}

const pwsm_entry *pwsm_journal_get(pwsm_server *s, size_t i)
{
    return pwsm__journal_get(&s->journal, i);
}

bool pwsm_wait_for(pwsm_server *s, bool (*pred)(const pwsm_entry *e, void *u), void *u, int timeout_ms)
{
    return pwsm__journal_wait(&s->journal, 0, pred, u, timeout_ms, NULL);
}

bool pwsm_wait_from(pwsm_server *s, size_t from, bool (*pred)(const pwsm_entry *e, void *u), void *u,
                    int timeout_ms, size_t *match)
{
    return pwsm__journal_wait(&s->journal, from, pred, u, timeout_ms, match);
}

void pwsm_stop(pwsm_server *s)
{
    if (!s)
        return;
    pwsm__server_fini(s); /* pws__server_stop joins the service thread first */
    free(s);
}
