/*
 * scenario.c - YAML scenario file -> pwss_scenario (polyws/scenario.h).
 *
 * pwss_load reads the file (at most PWSS_MAX_FILE_BYTES), builds a YAML tree
 * with marks (scenario_yaml.c) and compiles it: this file does the top level,
 * server, client, connections and assertions; scenario_steps.c does steps and
 * payloads; both read values with scenario_read.c.  Nothing here touches a socket.
 * The language is documented in docs/scenarios.md.
 *
 * Every error names the place it was written: "FILE:LINE:COLUMN: message"
 * (1-based; file-level errors such as an unreadable file say 1:1).
 */
#include "scenario_compile.h"

#include <polyws/mock.h>

#include "protocol.h"
#include "wire/buf.h" /* pws__grow: the file is read into it */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- server */

static bool compile_keys(pwss__ctx *c, const pwss__ynode *n, pwss_server *s)
{
    if (n->kind == PWSS__Y_SCALAR) {
        if (!pwss__read_string(c, n, "server.keys", PWSS__MAX_KEY, true, &s->keys[0]))
            return false;
        s->nkeys = 1;
        return true;
    }
    if (n->kind != PWSS__Y_SEQ || !n->nkids)
        return pwss__fail(c, n, "server.keys: expected a key or a list of 1..%zu keys",
                          sizeof s->keys / sizeof s->keys[0]);
    if (n->nkids > sizeof s->keys / sizeof s->keys[0])
        return pwss__fail(c, n->kids[sizeof s->keys / sizeof s->keys[0]], "server.keys: more than %zu keys",
                          sizeof s->keys / sizeof s->keys[0]);
    for (size_t i = 0; i < n->nkids; i++) {
        if (!pwss__read_string(c, n->kids[i], "server.keys", PWSS__MAX_KEY, true, &s->keys[i]))
            return false;
        s->nkeys = (uint32_t)i + 1;
    }
    return true;
}

/* server.texts: the status texts the mock sends on its own (polyws/mock.h pwsm_texts). */
static bool compile_texts(pwss__ctx *c, const pwss__ynode *n, pwss_texts *t)
{
    static const char *const keys[] = {"unknown_action", "not_json",      "repeated_auth", "not_authorized",
                                       "invalid_channel", "slow_consumer", "auth_required", "rate_limit",
                                       NULL};
    char **fields[] = {&t->unknown_action,  &t->not_json,      &t->repeated_auth, &t->not_authorized,
                       &t->invalid_channel, &t->slow_consumer, &t->auth_required, &t->rate_limit};
    if (!pwss__check_map(c, n, "server.texts", keys))
        return false;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const pwss__ynode *v = pwss__get(n, keys[i]);
        char what[64];
        snprintf(what, sizeof what, "server.texts.%s", keys[i]);
        if (v && !pwss__read_string(c, v, what, PWSS__MAX_MESSAGE, false, fields[i]))
            return false;
    }
    return true;
}

/* One list of server.plan: a name or a list of names, each one of names (index_of finds it);
 * stored joined with commas, in the order of names, as pwsm_options' plan_* take it. */
static bool compile_plan_list(pwss__ctx *c, const pwss__ynode *n, const char *what, const char *noun,
                              const char *const *names, int (*index_of)(const char *, size_t), char **out)
{
    size_t count = n->kind == PWSS__Y_SEQ ? n->nkids : 1;
    if ((n->kind != PWSS__Y_SCALAR && n->kind != PWSS__Y_SEQ) || !count)
        return pwss__fail(c, n, "%s: expected a list of %ss (or a single one)", what, noun);
    uint32_t bits = 0;
    for (size_t i = 0; i < count; i++) {
        const pwss__ynode *item = n->kind == PWSS__Y_SEQ ? n->kids[i] : n;
        char *word = NULL;
        if (!pwss__read_string(c, item, what, 64, true, &word))
            return false;
        int at = index_of(word, strlen(word));
        if (at < 0) {
            char all[160];
            pwsm__join_names(names, all, sizeof all);
            const char *hint = NULL; /* names are case-sensitive: "am" is a typo of "AM" */
            for (size_t k = 0; names[k] && !hint; k++)
                if (!strcasecmp(word, names[k]))
                    hint = names[k];
            if (!hint)
                hint = pwss__closest(word, names);
            pwss__fail(c, item, "%s: unknown %s '%s' (%ss: %s)%s%s%s", what, noun, word, noun, all,
                       hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
            free(word);
            return false;
        }
        free(word);
        bits |= 1u << at;
    }
    char joined[256] = "";
    for (size_t k = 0; names[k]; k++)
        if (bits & (1u << k))
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", joined[0] ? "," : "",
                     names[k]);
    char *copy = strdup(joined);
    if (!copy)
        return pwss__fail(c, n, "out of memory");
    free(*out);
    *out = copy;
    return true;
}

/* server.plan: the markets and event types the keys may use (polyws/mock.h "Plans"). */
static bool compile_plan(pwss__ctx *c, const pwss__ynode *n, pwss_server *s)
{
    static const char *const keys[] = {"markets", "types", NULL};
    if (!pwss__check_map(c, n, "server.plan", keys))
        return false;
    const pwss__ynode *v;
    if ((v = pwss__get(n, "markets")) &&
        !compile_plan_list(c, v, "server.plan.markets", "market", pwsm__market_names, pwsm__market_from_name,
                           &s->plan_markets))
        return false;
    if ((v = pwss__get(n, "types")) &&
        !compile_plan_list(c, v, "server.plan.types", "event type", pwsm__event_types, pwsm__event_type_index,
                           &s->plan_types))
        return false;
    return true;
}

static bool compile_server(pwss__ctx *c, const pwss__ynode *n, pwss_server *s)
{
    static const char *const keys[] = {
        "keys", "auth_timeout", "max_connections_per_key", "kick", "rate_limit", "tls", "seed",
        "rate", "batch",        "policy_close_code",       "slow_consumer_bytes", "texts", "plan",
        "handshake_timeout", NULL};
    if (!pwss__check_map(c, n, "server", keys))
        return false;
    const pwss__ynode *v;
    uint64_t u;
    if ((v = pwss__get(n, "keys")) && !compile_keys(c, v, s))
        return false;
    if ((v = pwss__get(n, "auth_timeout")) &&
        !pwss__read_duration(c, v, "server.auth_timeout", 1, PWSS__MAX_DURATION_MS, &s->auth_timeout_ms))
        return false;
    if ((v = pwss__get(n, "handshake_timeout")) &&
        !pwss__read_duration(c, v, "server.handshake_timeout", 1, PWSM_MAX_HANDSHAKE_TIMEOUT_MS,
                             &s->handshake_timeout_ms))
        return false;
    if ((v = pwss__get(n, "max_connections_per_key"))) {
        if (!pwss__read_uint(c, v, "server.max_connections_per_key", 1, 1000, &u))
            return false;
        s->max_per_key = (uint32_t)u;
    }
    if ((v = pwss__get(n, "kick"))) {
        char *w = NULL;
        if (!pwss__read_string(c, v, "server.kick", 16, true, &w))
            return false;
        bool older = !strcmp(w, "older"), newer = !strcmp(w, "newer");
        free(w);
        if (!older && !newer)
            return pwss__fail(c, v,
                              "server.kick: expected older or newer (which connection max_connections "
                              "disconnects)");
        s->kick_newer = newer;
    }
    if ((v = pwss__get(n, "rate_limit"))) {
        static const char *const rl[] = {"actions", "window", "on_exceed", NULL};
        const pwss__ynode *a, *w;
        if (!pwss__check_map(c, v, "server.rate_limit", rl) ||
            !pwss__need(c, v, "actions", "server.rate_limit", &a) ||
            !pwss__need(c, v, "window", "server.rate_limit", &w) ||
            !pwss__read_uint(c, a, "server.rate_limit.actions", 1, PWSM_MAX_RATE_ACTIONS, &u) ||
            !pwss__read_duration(c, w, "server.rate_limit.window", 1, PWSS__MAX_DURATION_MS,
                                 &s->rate_window_ms))
            return false;
        s->rate_actions = (uint32_t)u;
        const pwss__ynode *e = pwss__get(v, "on_exceed");
        if (e) {
            char *word = NULL;
            if (!pwss__read_string(c, e, "server.rate_limit.on_exceed", 16, true, &word))
                return false;
            bool err = !strcmp(word, "error"), cl = !strcmp(word, "close");
            free(word);
            if (!err && !cl)
                return pwss__fail(c, e,
                                  "server.rate_limit.on_exceed: expected error (answer an error status) "
                                  "or close (close with the policy code)");
            s->rate_close = cl;
        }
    }
    if ((v = pwss__get(n, "tls")) && !pwss__read_bool(c, v, "server.tls", &s->tls))
        return false;
    if ((v = pwss__get(n, "seed")) && !pwss__read_uint(c, v, "server.seed", 0, UINT64_MAX, &s->seed))
        return false;
    if ((v = pwss__get(n, "rate"))) {
        if (v->kind == PWSS__Y_SCALAR && !strcmp(v->text, "max")) {
            s->events_per_sec = -1; /* pwsm_options: < 0 = as fast as the client reads */
        } else if (!pwss__read_number(c, v, "server.rate", 0.001, PWSS__MAX_RATE, &s->events_per_sec)) {
            return false;
        }
    }
    if ((v = pwss__get(n, "batch"))) {
        if (!pwss__read_uint(c, v, "server.batch", 1, PWSM_MAX_BATCH, &u))
            return false;
        s->batch_max = (uint32_t)u;
    }
    if ((v = pwss__get(n, "policy_close_code"))) {
        if (!pwss__read_uint(c, v, "server.policy_close_code", 1000, 4999, &u))
            return false;
        if (!(u <= 1003 || (u >= 1007 && u <= 1014) || u >= 3000))
            return pwss__fail(c, v,
                              "server.policy_close_code: %llu may not be sent in a close frame "
                              "(valid: 1000-1003, 1007-1014, 3000-4999)",
                              (unsigned long long)u);
        s->policy_close_code = (int)u;
    }
    if ((v = pwss__get(n, "slow_consumer_bytes")) &&
        !pwss__read_uint(c, v, "server.slow_consumer_bytes", PWSM_MIN_SLOW_CONSUMER_BYTES,
                         PWSM_MAX_SLOW_CONSUMER_BYTES, &s->slow_consumer_bytes))
        return false;
    if ((v = pwss__get(n, "texts")) && !compile_texts(c, v, &s->texts))
        return false;
    if ((v = pwss__get(n, "plan")) && !compile_plan(c, v, s))
        return false;
    return true;
}

/* ---- client */

static bool compile_subscribe(pwss__ctx *c, const pwss__ynode *n, char **out)
{
    if (n->kind == PWSS__Y_SCALAR)
        return pwss__read_string(c, n, "client.subscribe", PWSS__MAX_SUBSCRIBE, true, out);
    if (n->kind != PWSS__Y_SEQ || !n->nkids)
        return pwss__fail(c, n, "client.subscribe: expected channels (\"A.AAPL,T.MSFT\" or a list)");
    pwss__buf b = {.max = PWSS__MAX_SUBSCRIBE};
    for (size_t i = 0; i < n->nkids; i++) {
        char *ch = NULL;
        if (!pwss__read_string(c, n->kids[i], "client.subscribe", PWSS__MAX_SUBSCRIBE, true, &ch)) {
            pwss__buf_free(&b);
            return false;
        }
        bool bad = strpbrk(ch, ", \t") != NULL;
        int rc = (i && pwss__buf_putc(&b, ',')) || pwss__buf_puts(&b, ch);
        free(ch);
        if (bad) {
            pwss__buf_free(&b);
            return pwss__fail(c, n->kids[i],
                              "client.subscribe: one channel per list item (no commas or spaces)");
        }
        if (rc) {
            pwss__buf_free(&b);
            return pwss__fail(c, n->kids[i], "client.subscribe: longer than %u bytes", PWSS__MAX_SUBSCRIBE);
        }
    }
    free(*out);
    *out = pwss__buf_take(&b, NULL);
    return *out ? true : pwss__fail(c, n, "out of memory");
}

static bool compile_client(pwss__ctx *c, const pwss__ynode *n, pwss_client *cl)
{
    static const char *const keys[] = {"subscribe", "timeout", "killed_ok", "count", "duration", "heartbeat", NULL};
    if (!pwss__check_map(c, n, "client", keys))
        return false;
    const pwss__ynode *v;
    if ((v = pwss__get(n, "subscribe")) && !compile_subscribe(c, v, &cl->subscribe))
        return false;
    if ((v = pwss__get(n, "timeout")) &&
        !pwss__read_duration(c, v, "client.timeout", 1, PWSS__MAX_DURATION_MS, &cl->timeout_ms))
        return false;
    if ((v = pwss__get(n, "killed_ok")) && !pwss__read_bool(c, v, "client.killed_ok", &cl->killed_ok))
        return false;
    if ((v = pwss__get(n, "count")) &&
        !pwss__read_uint(c, v, "client.count", 1, 1000000000000ull, &cl->count))
        return false;
    if ((v = pwss__get(n, "duration"))) {
        uint32_t ms;
        if (!pwss__read_duration(c, v, "client.duration", 1, PWSS__MAX_DURATION_MS, &ms))
            return false;
        cl->duration_s = ms / 1000.0;
    }
    if ((v = pwss__get(n, "heartbeat")) &&
        !pwss__read_duration(c, v, "client.heartbeat", 100, 600000, &cl->heartbeat_ms))
        return false;
    return true;
}

/* ---- connections */

static int script_cmp(const void *a, const void *b)
{
    uint32_t x = ((const pwss_conn_script *)a)->ordinal, y = ((const pwss_conn_script *)b)->ordinal;
    return x < y ? -1 : x > y;
}

static bool compile_script(pwss__ctx *c, const pwss__ynode *key, const pwss__ynode *v, pwss_conn_script *s)
{
    char d[96];
    if (pwss__is_null(v))
        return true; /* `default:` with nothing: the real service */
    if (v->kind != PWSS__Y_SEQ)
        return pwss__fail(c, v, "connections.%.20s: expected a list of steps, got %s", key->text,
                          pwss__describe(v, d, sizeof d));
    uint64_t unrolled = 0;
    return pwss__compile_steps(c, v, 0, &s->steps, &s->nsteps, &unrolled);
}

static bool compile_connections(pwss__ctx *c, const pwss__ynode *n, pwss_scenario *sc)
{
    char d[96];
    if (n->kind != PWSS__Y_MAP)
        return pwss__fail(c, n,
                          "connections: expected a mapping of connection ordinals (1, 2, ...) and "
                          "'default' to lists of steps, got %s",
                          pwss__describe(n, d, sizeof d));
    size_t pairs = pwss__ymap_pairs(n), byord = 0;
    for (size_t i = 0; i < pairs; i++)
        if (!(n->kids[2 * i]->kind == PWSS__Y_SCALAR && !strcmp(n->kids[2 * i]->text, "default")))
            byord++;
    if (byord > PWSS_MAX_CONN_SCRIPTS)
        return pwss__fail(c, n, "connections: more than %u scripts by ordinal", PWSS_MAX_CONN_SCRIPTS);
    if (byord) {
        sc->scripts = calloc(byord, sizeof *sc->scripts);
        if (!sc->scripts)
            return pwss__fail(c, n, "out of memory");
    }
    for (size_t i = 0; i < pairs; i++) {
        const pwss__ynode *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
        if (!pwss__visit(c, k))
            return false;
        if (k->kind == PWSS__Y_SCALAR && !strcmp(k->text, "default")) {
            sc->has_default = true;
            if (!compile_script(c, k, v, &sc->default_script))
                return false;
            continue;
        }
        uint64_t ord;
        if (k->kind != PWSS__Y_SCALAR || pwss__scalar_class(k) != PWSS__S_NUMBER ||
            strspn(k->text, "0123456789") != k->len)
            return pwss__fail(c, k,
                              "connections: a key is a connection ordinal (1, 2, ...) or 'default', not %s",
                              pwss__describe(k, d, sizeof d));
        if (!pwss__read_uint(c, k, "connections", 1, PWSS__MAX_ORDINAL, &ord))
            return false;
        pwss_conn_script *s = &sc->scripts[sc->nscripts++];
        s->ordinal = (uint32_t)ord;
        if (!compile_script(c, k, v, s))
            return false;
    }
    /* duplicates were refused by the YAML layer ("1" twice); "01" and "1" are
     * refused as numbers JSON cannot hold, so ordinals are unique */
    if (sc->nscripts)
        qsort(sc->scripts, sc->nscripts, sizeof *sc->scripts, script_cmp);
    return true;
}

/* ---- assertions */

static const char *const assertion_names[] = {"auth_within",        "no_subscribe_before_auth",
                                              "resubscribed",       "reconnect_delay",
                                              "max_connects",       "min_connects",
                                              "client_closed_with", "client_exit",
                                              "output_equals",      "output_matches",
                                              "no_reconnect",       "printed",
                                              "not_printed",        "fails_connection",
                                              NULL};

/* Resolves rel against the directory of the scenario file. */
static char *resolve_path(const char *scenario, const char *rel)
{
    const char *slash = strrchr(scenario, '/');
    if (rel[0] == '/' || !slash)
        return strdup(rel);
    size_t dl = (size_t)(slash - scenario) + 1, rl = strlen(rel);
    char *p = malloc(dl + rl + 1);
    if (!p)
        return NULL;
    memcpy(p, scenario, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

/* client_closed_with / fails_connection: CODE or {code: CODE, connection: N}. */
static bool compile_close_code(pwss__ctx *c, const pwss__ynode *v, const char *what, pwss_assertion *a)
{
    char key[64];
    uint64_t u;
    const pwss__ynode *code = v;
    if (v->kind == PWSS__Y_MAP) {
        static const char *const keys[] = {"code", "connection", NULL};
        const pwss__ynode *o;
        if (!pwss__check_map(c, v, what, keys) || !pwss__need(c, v, "code", what, &code))
            return false;
        if ((o = pwss__get(v, "connection"))) {
            snprintf(key, sizeof key, "%s.connection", what);
            if (!pwss__read_uint(c, o, key, 1, PWSS__MAX_ORDINAL, &u))
                return false;
            a->ordinal = (uint32_t)u;
        }
    }
    snprintf(key, sizeof key, "%s.code", what);
    if (!pwss__read_uint(c, code, key, 1000, 4999, &u))
        return false;
    a->code = (int)u;
    return true;
}

/* printed / not_printed: PATTERN, or (printed) {match: PATTERN, min: N, max: N}.  The pattern is
 * a YAML mapping compiled to compact JSON, matched as a subset of each printed event. */
static bool compile_printed(pwss__ctx *c, const pwss__ynode *v, pwss_assertion *a)
{
    const char *what = a->kind == PWSS_ASSERT_PRINTED ? "printed" : "not_printed";
    const pwss__ynode *pat = v;
    a->count = a->kind == PWSS_ASSERT_PRINTED ? 1 : 0;
    a->max = a->kind == PWSS_ASSERT_PRINTED ? UINT32_MAX : 0;
    const pwss__ynode *m = v->kind == PWSS__Y_MAP ? pwss__get(v, "match") : NULL;
    if (m && a->kind == PWSS_ASSERT_PRINTED) {
        static const char *const keys[] = {"match", "min", "max", NULL};
        const pwss__ynode *mn, *mx;
        uint64_t u;
        if (!pwss__check_map(c, v, "printed", keys))
            return false;
        pat = m;
        if ((mn = pwss__get(v, "min"))) {
            if (!pwss__read_uint(c, mn, "printed.min", 0, UINT32_MAX - 1, &u))
                return false;
            a->count = (uint32_t)u;
        }
        if ((mx = pwss__get(v, "max"))) {
            if (!pwss__read_uint(c, mx, "printed.max", 0, UINT32_MAX - 1, &u))
                return false;
            a->max = (uint32_t)u;
            if (a->max < a->count)
                return pwss__fail(c, mx, "printed.max: smaller than min");
        }
    }
    char d[96];
    if (pat->kind != PWSS__Y_MAP || !pat->nkids)
        return pwss__fail(c, pat, "%s: expected a mapping of event fields, e.g. {ev: T, i: after}, got %s", what,
                          pwss__describe(pat, d, sizeof d));
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    pwss__json_error je;
    if (pwss__json_encode(pat, &b, &c->budget, &je)) {
        pwss__buf_free(&b);
        return pwss__fail(c, je.at ? je.at : pat, "%s: %s", what, je.msg);
    }
    a->text = pwss__buf_take(&b, NULL);
    return a->text ? true : pwss__fail(c, pat, "out of memory");
}

static bool compile_assertion(pwss__ctx *c, const pwss__ynode *item, pwss_assertion *a)
{
    char d[96];
    const pwss__ynode *name, *v = NULL;
    a->line = item->line;
    a->column = item->column;
    if (item->kind == PWSS__Y_SCALAR && !pwss__is_null(item)) {
        name = item;
    } else if (item->kind == PWSS__Y_MAP && item->nkids == 2) {
        name = item->kids[0];
        v = item->kids[1];
        if (name->kind != PWSS__Y_SCALAR)
            return pwss__fail(c, name, "assert: an assertion name must be a word, not %s",
                              pwss__describe(name, d, sizeof d));
    } else {
        return pwss__fail(c, item,
                          "assert: each item is one assertion, e.g. '- resubscribed' or "
                          "'- auth_within: 2s', not %s%s",
                          pwss__describe(item, d, sizeof d),
                          item->kind == PWSS__Y_MAP ? " with several keys" : "");
    }
    if (!pwss__visit(c, name))
        return false;
    int kind = -1;
    for (int i = 0; assertion_names[i]; i++)
        if (!strcmp(name->text, assertion_names[i]))
            kind = i;
    if (kind < 0) {
        char list[512];
        pwsm__join_names(assertion_names, list, sizeof list);
        const char *hint = pwss__closest(name->text, assertion_names);
        return pwss__fail(c, name, "unknown assertion '%.64s' (assertions: %s)%s%s%s", name->text, list,
                          hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
    a->kind = (pwss_assert_kind)kind;
    bool flag = a->kind == PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH || a->kind == PWSS_ASSERT_RESUBSCRIBED ||
                a->kind == PWSS_ASSERT_NO_RECONNECT;
    if (flag) {
        if (v && !pwss__is_null(v) && !(v->kind == PWSS__Y_SCALAR && pwss__scalar_class(v) == PWSS__S_TRUE))
            return pwss__fail(c, v, "%s takes no value (write '- %s')", name->text, name->text);
        return true;
    }
    if (!v || pwss__is_null(v))
        return pwss__fail(
            c, item, "%s needs a value, e.g. %s", name->text,
            a->kind == PWSS_ASSERT_AUTH_WITHIN          ? "'- auth_within: 2s'"
            : a->kind == PWSS_ASSERT_RECONNECT_DELAY    ? "'- reconnect_delay: {min: 400ms, growing: true}'"
            : a->kind == PWSS_ASSERT_MAX_CONNECTS       ? "'- max_connects: {count: 5, window: 10s}'"
            : a->kind == PWSS_ASSERT_MIN_CONNECTS       ? "'- min_connects: 2'"
            : a->kind == PWSS_ASSERT_CLIENT_CLOSED_WITH ? "'- client_closed_with: 1002'"
            : a->kind == PWSS_ASSERT_CLIENT_EXIT        ? "'- client_exit: 0' or '- client_exit: nonzero'"
            : a->kind == PWSS_ASSERT_OUTPUT_EQUALS      ? "'- output_equals: expected/NAME.jsonl'"
            : a->kind == PWSS_ASSERT_PRINTED            ? "'- printed: {ev: T, i: after}'"
            : a->kind == PWSS_ASSERT_NOT_PRINTED        ? "'- not_printed: {ev: T, i: masked}'"
            : a->kind == PWSS_ASSERT_FAILS_CONNECTION   ? "'- fails_connection: {code: 1002, connection: 1}'"
                                                        : "'- output_matches: {stderr: \"regex\"}'");
    uint64_t u;
    switch (a->kind) {
    case PWSS_ASSERT_AUTH_WITHIN:
        return pwss__read_duration(c, v, "auth_within", 1, PWSS__MAX_DURATION_MS, &a->ms);
    case PWSS_ASSERT_RECONNECT_DELAY: {
        if (v->kind == PWSS__Y_SCALAR)
            return pwss__read_duration(c, v, "reconnect_delay", 0, PWSS__MAX_DURATION_MS, &a->ms);
        static const char *const keys[] = {"min", "growing", "cap", NULL};
        const pwss__ynode *m, *g, *cp;
        if (!pwss__check_map(c, v, "reconnect_delay", keys) ||
            !pwss__need(c, v, "min", "reconnect_delay", &m) ||
            !pwss__read_duration(c, m, "reconnect_delay.min", 0, PWSS__MAX_DURATION_MS, &a->ms))
            return false;
        if ((g = pwss__get(v, "growing")) && !pwss__read_bool(c, g, "reconnect_delay.growing", &a->growing))
            return false;
        if ((cp = pwss__get(v, "cap"))) {
            if (!pwss__read_duration(c, cp, "reconnect_delay.cap", 1, PWSS__MAX_DURATION_MS, &a->cap_ms))
                return false;
            if (!a->growing)
                return pwss__fail(c, cp, "reconnect_delay.cap: only meaningful with growing: true");
            if (a->cap_ms < a->ms)
                return pwss__fail(c, cp, "reconnect_delay.cap: smaller than min");
        }
        return true;
    }
    case PWSS_ASSERT_MAX_CONNECTS: {
        static const char *const keys[] = {"count", "window", NULL};
        const pwss__ynode *k, *w;
        if (!pwss__check_map(c, v, "max_connects", keys) || !pwss__need(c, v, "count", "max_connects", &k) ||
            !pwss__need(c, v, "window", "max_connects", &w) ||
            !pwss__read_uint(c, k, "max_connects.count", 1, 1000000, &u) ||
            !pwss__read_duration(c, w, "max_connects.window", 1, PWSS__MAX_DURATION_MS, &a->ms))
            return false;
        a->count = (uint32_t)u;
        return true;
    }
    case PWSS_ASSERT_MIN_CONNECTS:
        if (!pwss__read_uint(c, v, "min_connects", 1, 1000000, &u))
            return false;
        a->count = (uint32_t)u;
        return true;
    case PWSS_ASSERT_CLIENT_CLOSED_WITH:
        return compile_close_code(c, v, "client_closed_with", a);
    case PWSS_ASSERT_PRINTED:
    case PWSS_ASSERT_NOT_PRINTED:
        return compile_printed(c, v, a);
    case PWSS_ASSERT_FAILS_CONNECTION:
    case PWSS_ASSERT_CLIENT_EXIT:
        if (a->kind == PWSS_ASSERT_FAILS_CONNECTION)
            return compile_close_code(c, v, "fails_connection", a);
        if (v->kind == PWSS__Y_SCALAR && !strcmp(v->text, "nonzero")) {
            a->code = -1;
            return true;
        }
        if (!pwss__read_uint(c, v, "client_exit", 0, 255, &u))
            return false;
        a->code = (int)u;
        return true;
    case PWSS_ASSERT_OUTPUT_EQUALS: {
        char *rel = NULL;
        if (!pwss__read_string(c, v, "output_equals", PWSS__MAX_PATH, true, &rel))
            return false;
        a->path = resolve_path(c->path, rel);
        free(rel);
        return a->path ? true : pwss__fail(c, v, "out of memory");
    }
    case PWSS_ASSERT_OUTPUT_MATCHES: {
        if (v->kind == PWSS__Y_SCALAR) {
            a->stream = 1;
            return pwss__read_regex(c, v, "output_matches", &a->text);
        }
        static const char *const keys[] = {"stdout", "stderr", NULL};
        if (!pwss__check_map(c, v, "output_matches", keys))
            return false;
        if (v->nkids != 2)
            return pwss__fail(c, v, "output_matches: give one of stdout or stderr");
        a->stream = pwss__get(v, "stdout") ? 1 : 2;
        return pwss__read_regex(c, v->kids[1],
                                a->stream == 1 ? "output_matches.stdout" : "output_matches.stderr", &a->text);
    }
    default: return pwss__fail(c, item, "internal error: assertion kind %d", kind);
    }
}

static bool compile_assertions(pwss__ctx *c, const pwss__ynode *n, pwss_scenario *sc)
{
    char d[96];
    if (pwss__is_null(n))
        return true;
    if (n->kind != PWSS__Y_SEQ)
        return pwss__fail(c, n, "assert: expected a list of assertions, got %s",
                          pwss__describe(n, d, sizeof d));
    if (n->nkids > PWSS_MAX_ASSERTIONS)
        return pwss__fail(c, n->kids[PWSS_MAX_ASSERTIONS], "assert: more than %u assertions",
                          PWSS_MAX_ASSERTIONS);
    if (!n->nkids)
        return true;
    sc->assertions = calloc(n->nkids, sizeof *sc->assertions);
    if (!sc->assertions)
        return pwss__fail(c, n, "out of memory");
    for (size_t i = 0; i < n->nkids; i++) {
        sc->nassertions = i + 1;
        if (!pwss__visit(c, n->kids[i]) || !compile_assertion(c, n->kids[i], &sc->assertions[i]))
            return false;
    }
    return true;
}

/* ---- top level */

static char *default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml"))
        n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml"))
        n -= 4;
    return strndup(base, n);
}

static bool compile_top(pwss__ctx *c, const pwss__ynode *root, pwss_scenario *sc)
{
    static const char *const keys[] = {"name",        "description", "server", "client",
                                       "connections", "assert",      NULL};
    if (!root)
        return pwss__fail(c, NULL, "empty scenario: expected a mapping with at least 'description:'");
    if (!pwss__visit(c, root) || !pwss__check_map(c, root, "the scenario", keys))
        return false;
    const pwss__ynode *v;
    if (!pwss__need(c, root, "description", "the scenario", &v) ||
        !pwss__read_string(c, v, "description", PWSS__MAX_DESCRIPTION, true, &sc->description))
        return false;
    if ((v = pwss__get(root, "name")) && !pwss__read_string(c, v, "name", PWSS__MAX_NAME, true, &sc->name))
        return false;
    if ((v = pwss__get(root, "server")) && !compile_server(c, v, &sc->server))
        return false;
    if ((v = pwss__get(root, "client")) && !compile_client(c, v, &sc->client))
        return false;
    if ((v = pwss__get(root, "connections")) && !pwss__is_null(v) && !compile_connections(c, v, sc))
        return false;
    if ((v = pwss__get(root, "assert")) && !compile_assertions(c, v, sc))
        return false;
    if (!sc->name && !(sc->name = default_name(c->path)))
        return pwss__fail(c, root, "out of memory");
    if (!sc->client.subscribe && !(sc->client.subscribe = strdup(PWSS__DEFAULT_SUBSCRIBE)))
        return pwss__fail(c, root, "out of memory");
    if (!sc->client.timeout_ms)
        sc->client.timeout_ms = PWSS__DEFAULT_CLIENT_TIMEOUT_MS;
    return true;
}

#define READ_CHUNK (64u * 1024) /* bytes read from a scenario file at a time */

/* Reads the whole file, refusing more than PWSS_MAX_FILE_BYTES. */
static char *read_file(pwss__ctx *c, size_t *len)
{
    FILE *f = fopen(c->path, "rb");
    if (!f) {
        pwss__fail(c, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        /* room for one chunk past the limit, so that a larger file shows itself */
        if (pws__grow(&buf, n, &cap, READ_CHUNK, PWSS_MAX_FILE_BYTES + READ_CHUNK)) {
            free(buf);
            fclose(f);
            pwss__fail(c, NULL, "out of memory");
            return NULL;
        }
        size_t r = fread(buf + n, 1, READ_CHUNK, f);
        n += r;
        if (r == 0 || n > PWSS_MAX_FILE_BYTES)
            break;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        free(buf);
        pwss__fail(c, NULL, "cannot read: %s", strerror(read_errno));
        return NULL;
    }
    if (n > PWSS_MAX_FILE_BYTES) {
        free(buf);
        pwss__fail(c, NULL, "file is larger than %u bytes (PWSS_MAX_FILE_BYTES)", PWSS_MAX_FILE_BYTES);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parses and compiles text[0..len) as the scenario named path (for messages,
 * and the directory that relative paths in it are resolved against). */
static pwss_scenario *load_text(pwss__ctx *c, const char *text, size_t len)
{
    pwss__ydoc doc;
    int line = 1, column = 1;
    char msg[400];
    if (pwss__yaml_parse(text, len, &doc, &line, &column, msg, sizeof msg)) {
        pwss__ynode at = {.line = line, .column = column};
        pwss__fail(c, &at, "%s", msg);
        return NULL;
    }
    pwss_scenario *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->path = strdup(c->path))) {
        free(sc);
        pwss__yaml_free(&doc);
        pwss__fail(c, NULL, "out of memory");
        return NULL;
    }
    bool ok = compile_top(c, doc.root, sc);
    pwss__yaml_free(&doc);
    if (!ok) {
        pwss_free(sc);
        return NULL;
    }
    return sc;
}

pwss_scenario *pwss_load(const char *path, char *errbuf, size_t errcap)
{
    pwss__ctx c = {
        .path = path ? path : "(null)", .err = errbuf, .errcap = errcap, .budget = PWSS__MAX_EXPANDED_NODES};
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!path) {
        pwss__fail(&c, NULL, "no scenario file given");
        return NULL;
    }
    size_t len = 0;
    char *text = read_file(&c, &len);
    if (!text)
        return NULL;
    pwss_scenario *sc = load_text(&c, text, len);
    free(text);
    return sc;
}

pwss_scenario *pwss_load_mem(const char *text, size_t len, const char *name, char *errbuf, size_t errcap)
{
    pwss__ctx c = {
        .path = name ? name : "(memory)", .err = errbuf, .errcap = errcap, .budget = PWSS__MAX_EXPANDED_NODES};
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!text && len) {
        pwss__fail(&c, NULL, "no scenario text given");
        return NULL;
    }
    if (len > PWSS_MAX_FILE_BYTES) {
        pwss__fail(&c, NULL, "text is larger than %u bytes (PWSS_MAX_FILE_BYTES)", PWSS_MAX_FILE_BYTES);
        return NULL;
    }
    return load_text(&c, text ? text : "", len);
}

void pwss_free(pwss_scenario *sc)
{
    if (!sc)
        return;
    free(sc->path);
    free(sc->name);
    free(sc->description);
    for (size_t i = 0; i < sizeof sc->server.keys / sizeof sc->server.keys[0]; i++)
        free(sc->server.keys[i]);
    const pwss_texts *t = &sc->server.texts;
    free(t->unknown_action);
    free(t->not_json);
    free(t->repeated_auth);
    free(t->not_authorized);
    free(t->invalid_channel);
    free(t->slow_consumer);
    free(t->auth_required);
    free(t->rate_limit);
    free(sc->server.plan_markets);
    free(sc->server.plan_types);
    free(sc->client.subscribe);
    for (size_t i = 0; i < sc->nscripts; i++)
        pwss__free_steps(sc->scripts[i].steps, sc->scripts[i].nsteps);
    free(sc->scripts);
    pwss__free_steps(sc->default_script.steps, sc->default_script.nsteps);
    for (size_t i = 0; i < sc->nassertions; i++) {
        free(sc->assertions[i].path);
        free(sc->assertions[i].text);
    }
    free(sc->assertions);
    free(sc);
}

const pwss_conn_script *pwss_script_for(const pwss_scenario *sc, uint32_t ordinal)
{
    if (!sc)
        return NULL;
    size_t lo = 0, hi = sc->nscripts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t o = sc->scripts[mid].ordinal;
        if (o == ordinal)
            return &sc->scripts[mid];
        if (o < ordinal)
            lo = mid + 1;
        else
            hi = mid;
    }
    return sc->has_default ? &sc->default_script : NULL;
}
