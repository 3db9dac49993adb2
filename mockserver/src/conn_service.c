/*
 * conn_service.c - the real service's protocol on one connection (see
 * conn_internal.h).
 *
 * What Polygon answers to a client's actions: auth against the accepted keys
 * (auth_success, auth_failed, max_per_key and kick_newer answered with
 * max_connections), subscribe and unsubscribe with each channel checked
 * against the market and the plan, errors for unknown or invalid messages, the
 * action rate limit, and the auth timeout.  The messages' bytes are protocol.c's;
 * this file keeps the connection's state (key, subscriptions, rate window) and
 * starts the stream when there is something to stream (conn_stream.c).
 */
#include "conn_internal.h"

#include "wire/clock.h"

#include <stdlib.h>
#include <string.h>

#define MAX_KEY_LEN 1024         /* longest key kept per connection for max_per_key accounting */

static void auth_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, auth_sul);
    if (c->authed || c->close_pending || c->stalled)
        return;
    pwsm__enqueue_status(c, "auth_timeout", NULL);
    pwsm__close_after_queue(c, c->srv->o.policy_close_code, NULL);
}

void pwsm__auth_timer_arm(conn *c)
{
    lws_sul_cancel(&c->auth_sul);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->auth_sul, auth_timer_cb,
                     (lws_usec_t)c->srv->o.auth_timeout_ms * 1000);
}

/* Live authenticated connections other than c with c's key. */
static uint32_t same_key_count(const conn *c, const char *key)
{
    uint32_t count = 0;
    for (const conn *o = c->srv->conns; o; o = o->next)
        if (o != c && o->authed && !o->kicked && !o->close_pending && strcmp(o->key, key) == 0)
            count++;
    return count;
}

/* Answers max_connections and closes with the policy code. */
static void kick(conn *c)
{
    c->kicked = true;
    pwsm__enqueue_status(c, "max_connections", NULL);
    pwsm__close_after_queue(c, c->srv->o.policy_close_code, NULL);
}

/* max_per_key: the oldest live connections with this key lose their place. */
static void enforce_max_per_key(conn *c)
{
    pwsm_server *s = c->srv;
    for (;;) {
        uint32_t count = 0;
        conn *oldest = NULL;
        for (conn *o = s->conns; o; o = o->next) {
            if (o == c || !o->authed || o->kicked || o->close_pending || strcmp(o->key, c->key) != 0)
                continue;
            count++;
            if (!oldest || o->ordinal < oldest->ordinal)
                oldest = o;
        }
        if (count < s->o.max_per_key || !oldest)
            return;
        kick(oldest);
    }
}

/* Returns true if the connection is authenticated afterwards. */
static bool handle_auth(conn *c, const char *key)
{
    pwsm_server *s = c->srv;
    if (c->script->ignore_auth)
        return false;
    if (c->authed) {
        /* Undocumented upstream: we confirm again and keep the first key, a bounded number of
         * times; a client that keeps authenticating is closed rather than answered forever. */
        if (++c->repeated_auths > s->o.max_repeated_auth) {
            pwsm__close_after_queue(c, s->o.policy_close_code, "too many auth messages");
            return true;
        }
        pwsm__enqueue_status(c, "auth_success", s->o.texts.repeated_auth);
        return true;
    }
    if (c->script->reject_auth || !pwsm__key_accepted(s, key)) {
        pwsm__enqueue_status(c, "auth_failed", NULL);
        pwsm__close_after_queue(c, s->o.policy_close_code, NULL);
        return false;
    }
    if (s->o.kick_newer && same_key_count(c, key) >= s->o.max_per_key) {
        /* Our choice for kick_newer: the newcomer's auth is answered with max_connections
         * (no auth_success first) and it is closed; the older connections keep going. */
        lws_sul_cancel(&c->auth_sul);
        kick(c);
        return false;
    }
    c->key = strndup(key, MAX_KEY_LEN);
    if (!c->key) {
        c->overflow = true;
        return false;
    }
    c->authed = true;
    lws_sul_cancel(&c->auth_sul);
    enforce_max_per_key(c);
    pwsm__enqueue_status(c, "auth_success", NULL);
    return true;
}

/* Keeps the subscription list (used by STREAM steps) in step with the generator's set. */
static void subs_update(conn *c, const char *ch, size_t n, bool on)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (strlen(c->subs[i]) == n && memcmp(c->subs[i], ch, n) == 0) {
            if (!on) {
                free(c->subs[i]);
                c->subs[i] = c->subs[--c->nsubs];
            }
            return;
        }
    }
    if (!on || c->nsubs >= PWSM__MAX_CHANNELS)
        return;
    if (c->nsubs == c->capsubs) {
        size_t cap = c->capsubs ? c->capsubs * 2 : 8;
        char **p = realloc(c->subs, cap * sizeof *p);
        if (!p)
            return; /* not remembered: only a STREAM step's default channels miss it */
        c->subs = p;
        c->capsubs = cap;
    }
    char *copy = strndup(ch, n);
    if (copy)
        c->subs[c->nsubs++] = copy;
}

/* force: confirm every channel, without authentication or checks (a script's CONFIRM step). */
static void handle_subscription(conn *c, const char *params, bool on, bool force)
{
    const pwsm_texts *t = &c->srv->o.texts;
    if (!c->authed && !force) {
        pwsm__enqueue_status(c, "auth_required", t->auth_required);
        return;
    }
    const char *cursor = params ? params : "", *ch;
    size_t n;
    while ((n = pwsm__next_channel(&cursor, &ch)) > 0) {
        pwsm__chan kind = force ? PWSM__CHAN_OK : pwsm__plan_check(&c->srv->plan, c->market, ch, n);
        if (kind != PWSM__CHAN_OK) {
            pwsm__enqueue_status(c, "error", kind == PWSM__CHAN_MALFORMED ? t->invalid_channel : t->not_authorized);
            continue;
        }
        pwsm__gen_channel(&c->gen, ch, n, on);
        subs_update(c, ch, n, on);
        size_t len = 0;
        char *frame = pwsm__status_frame2("success", on ? "subscribed to: " : "unsubscribed to: ", ch, n,
                                          &len);
        pwsm__enqueue(c, LWS_WRITE_TEXT, frame, len);
        free(frame);
        if (on && !c->raw_sent) {
            c->raw_sent = true;
            for (int i = 0; i < PWSM_MAX_RAW_FRAMES && c->script->raw_frames[i]; i++)
                pwsm__enqueue(c, LWS_WRITE_TEXT, c->script->raw_frames[i], strlen(c->script->raw_frames[i]));
        }
        if (on)
            c->stream_on = true;
    }
    pwsm__stream_kick(c);
}

/* The action rate limit: true if one more action fits, i.e. fewer than rate_actions accepted
 * ones lie in the last rate_window_ms (a sliding window over a ring of their times, O(1)
 * per action, rate_actions * 8 bytes per connection, allocated on the first action).
 * Refused actions are not counted. */
bool pwsm__rate_allows(conn *c)
{
    const pwsm_options *o = &c->srv->o;
    if (!o->rate_window_ms)
        return true;
    if (!o->rate_actions)
        return false;
    if (!c->rate_ring) {
        c->rate_ring = calloc(o->rate_actions, sizeof *c->rate_ring);
        if (!c->rate_ring)
            return true; /* out of memory: do not limit */
    }
    int64_t now = pws__mono_ms();
    if (c->rate_n == o->rate_actions) {
        if (now - c->rate_ring[c->rate_head] < (int64_t)o->rate_window_ms)
            return false;
        c->rate_ring[c->rate_head] = now;
        c->rate_head = (c->rate_head + 1) % o->rate_actions;
        return true;
    }
    c->rate_ring[(c->rate_head + c->rate_n) % o->rate_actions] = now;
    c->rate_n++;
    return true;
}

/* The real service's answer to one client message. */
void pwsm__serve_message(conn *c, const pwsm__msg *m)
{
    switch (m->action) {
    case PWSM__ACT_AUTH:
        handle_auth(c, m->params);
        break;
    case PWSM__ACT_SUBSCRIBE:
    case PWSM__ACT_UNSUBSCRIBE:
        handle_subscription(c, m->params, m->action == PWSM__ACT_SUBSCRIBE, false);
        break;
    case PWSM__ACT_UNKNOWN:
        pwsm__enqueue_status(c, "error", c->srv->o.texts.unknown_action);
        break;
    case PWSM__ACT_INVALID:
        pwsm__enqueue_status(c, "error", c->srv->o.texts.not_json);
        break;
    }
}

/* ---------------------------------------------------------------- operations (conn.h) */

bool pwsm__conn_auth(conn *c, const char *key)
{
    bool ok = handle_auth(c, key);
    lws_callback_on_writable(c->wsi);
    return ok;
}

void pwsm__conn_subscribe(conn *c, const char *params, bool on, bool force)
{
    handle_subscription(c, params, on, force);
    lws_callback_on_writable(c->wsi);
}

bool pwsm__conn_auth_timeout(conn *c)
{
    if (c->authed || !pwsm__conn_open(c))
        return false;
    lws_sul_cancel(&c->auth_sul);
    pwsm__enqueue_status(c, "auth_timeout", NULL);
    pwsm__close_after_queue(c, c->srv->o.policy_close_code, NULL);
    return true;
}

uint32_t pwsm__conn_auth_timeout_ms(const conn *c)
{
    return c->srv->o.auth_timeout_ms;
}

void pwsm__conn_serve(conn *c, bool on)
{
    if (on == c->serving)
        return;
    c->serving = on;
    if (on) {
        if (!c->authed && pwsm__conn_open(c))
            pwsm__auth_timer_arm(c);
        pwsm__stream_kick(c);
    } else {
        lws_sul_cancel(&c->auth_sul);
        pwsm__stream_pause(c);
    }
}
