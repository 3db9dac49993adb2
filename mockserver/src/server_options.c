/*
 * server_options.c - the server's settings from pwsm_options (see server.h).
 *
 * Applies a scenario's server settings over the caller's options, fills in the
 * defaults, checks the limits and keeps private copies of every string (the
 * caller's may be freed once pwsm_start returns).  Also the lookups the
 * connections make in those settings: accepted keys, secrets to scrub, the
 * fault script of a connection ordinal.  A leaf: it calls no other part of the
 * server.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define DEFAULT_AUTH_TIMEOUT_MS 10000
#define DEFAULT_REPEATED_AUTH 16
#define DEFAULT_JOURNAL_FILE_BYTES ((uint64_t)1 << 30)
#define DEFAULT_EVENTS_PER_SEC 100.0
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_MAX_MESSAGE 65536
#define DEFAULT_POLICY_CLOSE 1008
#define DEFAULT_JOURNAL_ENTRIES ((size_t)4 << 20)
#define DEFAULT_JOURNAL_BYTES ((size_t)256 << 20)
/* Default texts that are ours (Polygon's are undocumented); see pwsm_texts. */
#define TEXT_UNKNOWN_ACTION "unknown action"
#define TEXT_NOT_JSON "invalid message: expected a JSON object with an action"
#define TEXT_INVALID_CHANNEL "invalid channel"
#define TEXT_RATE_LIMIT "rate limit exceeded"
/* Polygon's text for a channel outside the plan (seen in fixtures). */
#define TEXT_NOT_AUTHORIZED "not authorized"

/* Keeps a private copy of a caller string; false on OOM. */
static bool keep(pwsm_server *s, const char **field)
{
    if (!*field)
        return true;
    if (s->nowned == s->capowned) {
        size_t cap = s->capowned ? s->capowned * 2 : 16;
        char **p = realloc(s->owned, cap * sizeof *p);
        if (!p)
            return false;
        s->owned = p;
        s->capowned = cap;
    }
    char *copy = strdup(*field);
    if (!copy)
        return false;
    s->owned[s->nowned++] = copy;
    *field = copy;
    return true;
}

static bool keep_script(pwsm_server *s, pwsm_script *sc)
{
    bool ok = keep(s, &sc->close_reason) && keep(s, &sc->status) && keep(s, &sc->status_message);
    for (int i = 0; ok && i < PWSM_MAX_RAW_FRAMES && sc->raw_frames[i]; i++)
        ok = keep(s, &sc->raw_frames[i]);
    return ok;
}

/* A scenario's server settings override the options they name (zero / false: keep). */
static void apply_scenario_server(pwsm_options *o, const pwss_server *sv)
{
    if (sv->nkeys) {
        memset(o->keys, 0, sizeof o->keys);
        for (uint32_t i = 0; i < sv->nkeys && i < PWSM_MAX_KEYS; i++)
            o->keys[i] = sv->keys[i];
    }
    if (sv->auth_timeout_ms)
        o->auth_timeout_ms = sv->auth_timeout_ms;
    if (sv->max_per_key)
        o->max_per_key = sv->max_per_key;
    if (sv->handshake_timeout_ms)
        o->handshake_timeout_ms = sv->handshake_timeout_ms;
    if (sv->kick_newer)
        o->kick_newer = true;
    if (sv->rate_window_ms) {
        o->rate_actions = sv->rate_actions;
        o->rate_window_ms = sv->rate_window_ms;
    }
    if (sv->rate_close)
        o->rate_close = true;
    if (sv->tls)
        o->tls = true;
    if (sv->seed)
        o->seed = sv->seed;
    if (sv->events_per_sec != 0)
        o->events_per_sec = sv->events_per_sec;
    if (sv->batch_max)
        o->batch_max = sv->batch_max;
    if (sv->policy_close_code)
        o->policy_close_code = sv->policy_close_code;
    if (sv->slow_consumer_bytes)
        o->slow_consumer_bytes = sv->slow_consumer_bytes;
    if (sv->plan_markets)
        o->plan_markets = sv->plan_markets;
    if (sv->plan_types)
        o->plan_types = sv->plan_types;
    const pwss_texts *st = &sv->texts;
    pwsm_texts *ot = &o->texts;
    if (st->unknown_action)
        ot->unknown_action = st->unknown_action;
    if (st->not_json)
        ot->not_json = st->not_json;
    if (st->repeated_auth)
        ot->repeated_auth = st->repeated_auth;
    if (st->not_authorized)
        ot->not_authorized = st->not_authorized;
    if (st->invalid_channel)
        ot->invalid_channel = st->invalid_channel;
    if (st->slow_consumer)
        ot->slow_consumer = st->slow_consumer;
    if (st->auth_required)
        ot->auth_required = st->auth_required;
    if (st->rate_limit)
        ot->rate_limit = st->rate_limit;
}

/* Keeps copies of the caller's texts, then fills in the defaults of those not given. */
static bool keep_texts(pwsm_server *s, pwsm_texts *t)
{
    if (!keep(s, &t->unknown_action) || !keep(s, &t->not_json) || !keep(s, &t->repeated_auth) ||
        !keep(s, &t->not_authorized) || !keep(s, &t->invalid_channel) || !keep(s, &t->slow_consumer) ||
        !keep(s, &t->auth_required) || !keep(s, &t->rate_limit))
        return false;
    if (!t->unknown_action)
        t->unknown_action = TEXT_UNKNOWN_ACTION;
    if (!t->not_json)
        t->not_json = TEXT_NOT_JSON;
    if (!t->repeated_auth)
        t->repeated_auth = pwsm__status_text("auth_success");
    if (!t->not_authorized)
        t->not_authorized = TEXT_NOT_AUTHORIZED;
    if (!t->invalid_channel)
        t->invalid_channel = TEXT_INVALID_CHANNEL;
    if (!t->slow_consumer)
        t->slow_consumer = pwsm__status_text("slow_consumer");
    if (!t->auth_required)
        t->auth_required = pwsm__status_text("auth_required");
    if (!t->rate_limit)
        t->rate_limit = TEXT_RATE_LIMIT;
    return true;
}

int pwsm__options_apply(pwsm_server *s, const pwsm_options *in, char *err, size_t errcap)
{
    if (in)
        s->o = *in;
    pwsm_options *o = &s->o;
    if (o->scenario) {
        if (o->scenario->server.nkeys > PWSM_MAX_KEYS) {
            snprintf(err, errcap, "scenario: more than %d keys", PWSM_MAX_KEYS);
            return -1;
        }
        apply_scenario_server(o, &o->scenario->server);
        if (pwsm__scripts_copy(&s->scenario, o->scenario, err, errcap) != 0)
            return -1;
        s->has_scenario = true;
        o->scenario = NULL; /* the caller's may be freed; s->scenario is ours */
    }
    if (o->slow_consumer_bytes &&
        (o->slow_consumer_bytes < PWSM_MIN_SLOW_CONSUMER_BYTES || o->slow_consumer_bytes > PWSM_MAX_SLOW_CONSUMER_BYTES)) {
        snprintf(err, errcap, "slow_consumer_bytes %llu out of range (0 = off, or %llu..%llu)",
                 (unsigned long long)o->slow_consumer_bytes, (unsigned long long)PWSM_MIN_SLOW_CONSUMER_BYTES,
                 (unsigned long long)PWSM_MAX_SLOW_CONSUMER_BYTES);
        return -1;
    }
    if (pwsm__plan_init(&s->plan, o->plan_markets, o->plan_types, err, errcap) != 0)
        return -1;
    o->plan_markets = o->plan_types = NULL; /* compiled into s->plan; the caller's may be freed */
    if (o->rate_window_ms && o->rate_actions > PWSM_MAX_RATE_ACTIONS) {
        snprintf(err, errcap, "rate_actions %u > %u", o->rate_actions, PWSM_MAX_RATE_ACTIONS);
        return -1;
    }
    if (!o->host)
        o->host = "127.0.0.1";
    if (o->port < 0 || o->port > 65535) {
        snprintf(err, errcap, "port %d out of range", o->port);
        return -1;
    }
    if (!o->auth_timeout_ms)
        o->auth_timeout_ms = DEFAULT_AUTH_TIMEOUT_MS;
    if (!o->max_repeated_auth)
        o->max_repeated_auth = DEFAULT_REPEATED_AUTH;
    if (o->max_repeated_auth > PWSM_MAX_REPEATED_AUTH) {
        snprintf(err, errcap, "max_repeated_auth %u > %u", o->max_repeated_auth, PWSM_MAX_REPEATED_AUTH);
        return -1;
    }
    if (!o->journal_file_max_bytes)
        o->journal_file_max_bytes = DEFAULT_JOURNAL_FILE_BYTES;
    if (o->journal_file_max_bytes < PWSM_MIN_JOURNAL_FILE_BYTES) {
        snprintf(err, errcap, "journal_file_max_bytes %llu < %llu", (unsigned long long)o->journal_file_max_bytes,
                 (unsigned long long)PWSM_MIN_JOURNAL_FILE_BYTES);
        return -1;
    }
    if (!o->max_per_key)
        o->max_per_key = 1;
    /* the guard (wire/handshake.h) fills in the defaults; the public names are checked here */
    if (o->handshake_timeout_ms > PWSM_MAX_HANDSHAKE_TIMEOUT_MS || o->max_pending > PWSM_MAX_PENDING ||
        o->max_per_address > PWSM_MAX_PER_ADDRESS) {
        snprintf(err, errcap, "handshake_timeout_ms %u, max_pending %u or max_per_address %u out of range "
                 "(at most %u, %u, %u)", o->handshake_timeout_ms, o->max_pending, o->max_per_address,
                 PWSM_MAX_HANDSHAKE_TIMEOUT_MS, PWSM_MAX_PENDING, PWSM_MAX_PER_ADDRESS);
        return -1;
    }
    if (!o->handshake_timeout_ms)
        o->handshake_timeout_ms = PWSM_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (!o->max_pending)
        o->max_pending = PWSM_DEFAULT_MAX_PENDING;
    if (!o->seed)
        o->seed = 1;
    if (o->events_per_sec != o->events_per_sec) {
        snprintf(err, errcap, "events_per_sec is NaN");
        return -1;
    }
    if (o->events_per_sec == 0)
        o->events_per_sec = DEFAULT_EVENTS_PER_SEC;
    if (!o->batch_max)
        o->batch_max = PWSM__DEFAULT_BATCH_MAX;
    if (o->batch_max > PWSM_MAX_BATCH) {
        snprintf(err, errcap, "batch_max %u > %d", o->batch_max, PWSM_MAX_BATCH);
        return -1;
    }
    if (o->nscripts > PWSM_MAX_SCRIPTS) {
        snprintf(err, errcap, "nscripts %u > %d", o->nscripts, PWSM_MAX_SCRIPTS);
        return -1;
    }
    if (!o->max_connections)
        o->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (!o->max_message)
        o->max_message = DEFAULT_MAX_MESSAGE;
    if (!o->policy_close_code)
        o->policy_close_code = DEFAULT_POLICY_CLOSE;
    if (!o->journal_max_entries)
        o->journal_max_entries = DEFAULT_JOURNAL_ENTRIES;
    if (!o->journal_max_bytes)
        o->journal_max_bytes = DEFAULT_JOURNAL_BYTES;
    if (o->tls && (!o->cert_file) != (!o->key_file)) {
        snprintf(err, errcap, "tls: give both cert_file and key_file, or neither");
        return -1;
    }
    bool ok = keep(s, &o->host) && keep(s, &o->cert_file) && keep(s, &o->key_file) &&
              keep(s, &o->journal_path) && keep_script(s, &o->default_script) && keep_texts(s, &o->texts);
    for (int i = 0; ok && i < PWSM_MAX_KEYS && o->keys[i]; i++) {
        ok = keep(s, &o->keys[i]) && pws__secrets_add(&s->secrets, o->keys[i]) >= 0;
    }
    for (uint32_t i = 0; ok && i < o->nscripts; i++)
        ok = keep_script(s, &o->scripts[i]);
    if (!ok) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

void pwsm__options_free(pwsm_server *s)
{
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    if (s->has_scenario)
        pwsm__scripts_free(&s->scenario);
    pws__secrets_free(&s->secrets);
}

bool pwsm__key_accepted(const pwsm_server *s, const char *key)
{
    if (!key || !*key)
        return false;
    if (!s->o.keys[0])
        return true;
    for (int i = 0; i < PWSM_MAX_KEYS && s->o.keys[i]; i++)
        if (strcmp(s->o.keys[i], key) == 0)
            return true;
    return false;
}

/* Remembers a key seen in an auth message so later journal entries scrub it too. */
void pwsm__remember_secret(pwsm_server *s, const char *key)
{
    /* without memory the key is not kept: pwsm__redact still hides the auth message's params */
    (void)pws__secrets_add(&s->secrets, key);
}

const pwsm_script *pwsm__script_for(const pwsm_server *s, uint32_t ordinal)
{
    if (ordinal >= 1 && ordinal <= s->o.nscripts)
        return &s->o.scripts[ordinal - 1];
    return &s->o.default_script;
}
