/*
 * server.h - the mock server object and what its parts share (private).
 *
 * struct pwsm_server is the state of one running mock: its settings (options
 * with defaults applied), the listener, the journal and the live connections.
 * The parts of the server, top down:
 *
 *   server.c          pwsm_start / pwsm_stop (pwsm__server_init, then the listener),
 *                     the journal API
 *   server_start.c    the listener: TLS certificate, protocols table, and wire's
 *                     start-up (lws context, vhost, port, URL, service thread)
 *   engine*.c         scenario playback, attached to connections (attach below)
 *   conn*.c           the connections (conn.h): read the settings, journal, list
 *   server_options.c  options -> settings, accepted keys, secrets (a leaf)
 *
 * Threading: everything here is touched by the lws service thread only (and
 * by the owner while it starts the server, or destroys the lws context after
 * joining that thread), except the journal (its own mutex), the atomics, and
 * what wire/server.h does across threads to stop.
 */
#ifndef PWSM_SERVER_H
#define PWSM_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <polyws/mock.h>
#include <polyws/scenario.h>

#include "wire/secrets.h"
#include "wire/server.h"

#include "conn.h"
#include "journal.h"
#include "protocol.h"
#include "selfsigned.h"

#define PWSM__DEFAULT_BATCH_MAX 10 /* events per frame of the stream, and of a STREAM step */

struct pwsm_server {
    pwsm_options o;                 /* options with defaults applied; strings point into owned */
    char **owned;                   /* copies of the caller's strings, freed at stop */
    size_t nowned, capowned;
    struct lws_protocols protocols[2]; /* ours, then the terminator */
    pws__server sv;                 /* lws context, vhost, port, URL and the service thread (wire/server.h) */
    atomic_uint accepted;           /* highest ordinal handed out */
    atomic_uint tcp_accepted;       /* TCP connections accepted, before TLS and the upgrade */
    const char *ca_file;            /* generated cert or cert_file, NULL without tls */
    pwsm__selfsigned ss;            /* generated cert files (ss.dir empty if none) */
    pwsm__journal journal;
    bool journal_ready;
    pwsm__conn *conns;              /* live connections, newest first (service thread) */
    uint32_t live;                  /* their number */
    pwss_scenario scenario;         /* our copy of the scripts of o.scenario (scripts only) */
    bool has_scenario;              /* o.scenario was given */
    pws__secrets secrets;           /* accepted keys and keys seen in auth messages: scrubbed from the journal */
    pwsm__plan plan;                /* markets and event types the keys may use (o.plan_*) */
    pwsm__conn_attach_fn attach;    /* offered every new connection (NULL: none), see conn.h */
    void *attach_user;              /* its first argument */
};

/* ---------------------------------------------------------------- server.c */

/** Everything pwsm_start does but the listener, into s (overwritten): the settings
 * (pwsm__options_apply), the journal, and the scenario engine as attach hook.  Nothing serves
 * yet: pwsm_start then opens the listener (pwsm__server_listen); the fuzz target
 * tests/fuzz/fuzz_mockreq.c instead serves the connection protocol (conn.h) on an lws context
 * of its own whose user is s.  Returns 0, or -1 with a message in errbuf; either way
 * pwsm__server_fini undoes it. */
int pwsm__server_init(pwsm_server *s, const pwsm_options *opts, char *errbuf, size_t errcap);
/** Closes the listener if there is one (joining its thread: its connections close and journal),
 * then frees the journal and the settings.  s itself is the caller's. */
void pwsm__server_fini(pwsm_server *s);

/* ---------------------------------------------------------------- server_options.c */

/** Copies the caller's options (in may be NULL) into s->o with defaults applied, keeping
 * private copies of every string, and compiles the scenario's scripts into s->scenario and
 * the plan into s->plan.  Returns 0, or -1 with a message in err. */
int pwsm__options_apply(pwsm_server *s, const pwsm_options *in, char *err, size_t errcap);
/** Frees what pwsm__options_apply kept (the string copies, the scripts). */
void pwsm__options_free(pwsm_server *s);
/** True if key may authenticate: one of o.keys, or any non-empty key if none is set. */
bool pwsm__key_accepted(const pwsm_server *s, const char *key);
/** Remembers a key seen in an auth message so later journal entries scrub it too (the newest
 * PWS__SECRETS_MAX, each at least PWS__SECRET_MIN bytes; see wire/secrets.h). */
void pwsm__remember_secret(pwsm_server *s, const char *key);
/** The fault script (pwsm_script) of the connection with this ordinal. */
const pwsm_script *pwsm__script_for(const pwsm_server *s, uint32_t ordinal);

/* ---------------------------------------------------------------- server_start.c */

/** Opens the listener from s->o: the TLS certificate (generated if tls without cert_file),
 * then wire's start-up into s->sv (lws context, vhost with the connection protocol of
 * conn.h, port, URL) and, last, its service thread: the callbacks may run from then on.
 * Returns 0, or -1 with a message in errbuf (pwsm__server_close undoes what was done). */
int pwsm__server_listen(pwsm_server *s, char *errbuf, size_t errcap);
/** Joins the service thread, destroys the lws context (which runs CLOSED for the live
 * connections: they journal, so the journal must still be there) and removes the
 * generated certificate. */
void pwsm__server_close(pwsm_server *s);

#endif
