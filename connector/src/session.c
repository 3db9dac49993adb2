/*
 * session.c - the network loop and one connection's life in it, on the
 * network thread: the state machine (connect, greeting, auth, subscribe,
 * stream), the server's statuses, timers (connect/auth timeouts, heartbeat,
 * reconnect backoff, action rate limit), outgoing actions, and events into
 * the delivery queue (with the block policy's held events).  It drives the
 * transport (transport.h) and implements its events.  See session.h.
 */
#include "session.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void net_connect(pws_connector *c);
static void drain_commands(pws_connector *c);

/* Records why the current connection ends; the first reason wins (a stop
 * by the application records its reason with PWS_OK).  The reason may quote
 * the server (a status message, a close reason) cut to fit: the key it may
 * echo is masked here, before events, logs and pws_last_error() copy it. */
static void end_reason_v(pws_connector *c, int err, const char *fmt, va_list ap)
{
    if (c->end_err || c->end_reason[0])
        return;
    c->end_err = err;
    vsnprintf(c->end_reason, sizeof c->end_reason, fmt, ap);
    pws__secrets_scrub_str(&c->secrets, c->end_reason);
}

static void ending(pws_connector *c, int err, const char *fmt, ...) PWS__PRINTF(3, 4);

static void ending(pws_connector *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end_reason_v(c, err, fmt, ap);
    va_end(ap);
}

static void init_event(pws_connector *c, pws_event *ev, pws_event_type type)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->conn = c->conn_seq;
    ev->recv_us = pws_now_us();
}

/* Held events outlive the frame reader's message (it moves on, or goes with
 * its connection), so the OTHER ones in pend[from..to) get their own copy of
 * their JSON; without memory, the queue reports the event as lost. */
static void pend_own(pws_connector *c, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        pws_other *o = &c->pend[i].u.other;
        if (c->pend[i].type != PWS_EV_OTHER || !o->json || !o->json_len)
            continue;
        char *copy = malloc(o->json_len);
        if (copy)
            memcpy(copy, o->json, o->json_len);
        o->json = copy;
    }
}

/* The queue copied pend[from..to): free their own copies. */
static void pend_release(pws_connector *c, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (c->pend[i].type == PWS_EV_OTHER && c->pend[i].u.other.json_len) {
            free((char *)c->pend[i].u.other.json);
            c->pend[i].u.other.json = NULL;
        }
}

/* Pushes what pend holds; returns false if the queue refused some. */
static bool pend_push(pws_connector *c)
{
    while (c->pend_off < c->pend_len) {
        size_t n = pws__queue_push_batch(&c->q, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (n == 0)
            return false;
        pend_release(c, c->pend_off, c->pend_off + n);
        c->pend_off += n;
    }
    c->pend_len = c->pend_off = 0;
    return true;
}

/* Moves the parsed batch into the queue, per the overflow policy. */
static void flush_batch(pws_connector *c)
{
    if (!c->batch_len)
        return;
    if (c->pend_len > c->pend_off) {
        /* already blocked: keep order, append behind the pending events */
        goto keep_rest;
    }
    size_t n = pws__queue_push_batch(&c->q, c->batch, c->batch_len);
    if (n == c->batch_len) {
        c->batch_len = 0;
        return;
    }
    memmove(c->batch, c->batch + n, (c->batch_len - n) * sizeof *c->batch);
    c->batch_len -= n;
    if (c->o.overflow == PWS_OVERFLOW_DISCONNECT) {
        STAT_ADD(c, dropped, c->batch_len);
        c->batch_len = 0;
        ending(c, PWS_ERR_OVERFLOW, "delivery queue full (%zu events): disconnecting (overflow policy)",
               c->o.queue_capacity);
        c->close_after_frame = true;
        return;
    }
keep_rest:
    /* PWS_OVERFLOW_BLOCK: keep the rest and stop reading the socket. */
    if (c->pend_len + c->batch_len > c->pend_cap) {
        size_t cap = c->pend_cap ? c->pend_cap : 1024;
        while (cap < c->pend_len + c->batch_len)
            cap *= 2;
        pws_event *np = realloc(c->pend, cap * sizeof *np);
        if (!np) {
            pws__log(&c->lg, PWS_LOG_ERROR, "out of memory holding %zu blocked events: dropping them",
                     c->batch_len);
            STAT_ADD(c, dropped, c->batch_len);
            c->batch_len = 0;
            return;
        }
        c->pend = np;
        c->pend_cap = cap;
    }
    memcpy(c->pend + c->pend_len, c->batch, c->batch_len * sizeof *c->batch);
    pend_own(c, c->pend_len, c->pend_len + c->batch_len);
    c->pend_len += c->batch_len;
    c->batch_len = 0;
    if (pws__transport_active(&c->tr) && !pws__transport_reads_held(&c->tr)) {
        /* the frame reader stops after this message and the socket is not
         * read until push_pending() empties pend */
        pws__transport_hold_reads(&c->tr);
        __atomic_store_n(&c->st_counters.rx_paused, true, __ATOMIC_RELAXED);
        pws__log(&c->lg, PWS_LOG_DEBUG, "delivery queue full: pausing reads");
    }
}

/* Block policy: pushes held events once the consumer made room.  Returns
 * true when nothing is held any more. */
static bool push_pending(pws_connector *c)
{
    if (!pend_push(c))
        return false;
    if (pws__transport_reads_held(&c->tr)) {
        __atomic_store_n(&c->st_counters.rx_paused, false, __ATOMIC_RELAXED);
        pws__log(&c->lg, PWS_LOG_DEBUG, "delivery queue has room: resuming reads");
        pws__transport_resume_reads(&c->tr);
        drain_commands(c);
    }
    return true;
}

/* Control events keep their place in the stream: flush market data first. */
static void push_control(pws_connector *c, const pws_event *ev)
{
    flush_batch(c);
    if (c->pend_len > c->pend_off) {
        /* blocked: control events wait in line too (bounded by one frame) */
        c->batch[0] = *ev;
        c->batch_len = 1;
        flush_batch(c);
        return;
    }
    if (pws__queue_push_control(&c->q, ev) != PWS_OK)
        pws__log(&c->lg, PWS_LOG_WARN, "control event dropped: delivery queue reserve full");
    STAT_ADD(c, events[ev->type], 1);
}

/* Emits a PWS_EV_CONNECTION event (the reason is scrubbed of the key). */
static void emit_conn(pws_connector *c, pws_conn_state state, int err, int close_code, uint32_t attempt,
                      uint32_t delay_ms, const char *reason)
{
    pws_event ev;
    init_event(c, &ev, PWS_EV_CONNECTION);
    ev.u.conn.state = state;
    ev.u.conn.err = err;
    ev.u.conn.close_code = close_code;
    ev.u.conn.attempt = attempt;
    ev.u.conn.delay_ms = delay_ms;
    if (reason) {
        pws__strlcpy(ev.u.conn.reason, reason, sizeof ev.u.conn.reason);
        pws__secrets_scrub_str(&c->secrets, ev.u.conn.reason); /* a cut leaves pieces: they go too */
    }
    push_control(c, &ev);
}

/* Drops the outgoing messages not yet framed (wiping the auth message). */
static void outq_clear(pws_connector *c)
{
    while (c->outq) {
        out_msg *m = c->outq;
        c->outq = m->next;
        if (m->is_auth)
            OPENSSL_cleanse(m->buf, m->len);
        free(m);
    }
    c->outq_tail = NULL;
    c->outq_len = 0;
}

static int outq_push(pws_connector *c, const char *data, size_t len, bool is_auth)
{
    if (c->outq_len >= PWS__MAX_OUTQ) {
        pws__log(&c->lg, PWS_LOG_ERROR, "more than %u outgoing messages queued", PWS__MAX_OUTQ);
        return PWS_ERR_LIMIT;
    }
    out_msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return PWS_ERR_NOMEM;
    m->next = NULL;
    m->len = len;
    m->is_auth = is_auth;
    memcpy(m->buf, data, len);
    m->buf[len] = '\0';
    if (c->outq_tail)
        c->outq_tail->next = m;
    else
        c->outq = m;
    c->outq_tail = m;
    c->outq_len++;
    pws__transport_want_write(&c->tr);
    return PWS_OK;
}

/* Builds subscribe/unsubscribe messages for names[0..n), split under
 * max_action_bytes, and queues them. */
static void queue_subscription(pws_connector *c, bool subscribe, const char *const *names, size_t n)
{
    char *buf = malloc(c->o.max_action_bytes + 1);
    if (!buf) {
        pws__log(&c->lg, PWS_LOG_ERROR, "out of memory building a subscription");
        return;
    }
    size_t i = 0;
    while (i < n) {
        size_t used = 0;
        size_t len = c->ad->build_subscription(c->o.adapter_self, subscribe, names + i, n - i, buf,
                                               c->o.max_action_bytes + 1, &used);
        if (len == (size_t)-1 || used == 0) {
            pws__log(&c->lg, PWS_LOG_ERROR, "channel %s does not fit in a %zu-byte action",
                     names[i], c->o.max_action_bytes);
            i++;
            continue;
        }
        pws__log(&c->lg, PWS_LOG_DEBUG, "queue %s of %zu channel(s)",
                 subscribe ? "subscribe" : "unsubscribe", used);
        outq_push(c, buf, len, false);
        i += used;
    }
    free(buf);
}

/* Sends the whole desired set (after auth_success). */
static void subscribe_all(pws_connector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nchannels;
    char **copy = n ? malloc(n * sizeof *copy) : NULL;
    size_t k = 0;
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = strdup(c->channels[i]);
        if (copy[i])
            k++;
        else
            break;
    }
    /* the set is sent whole; commands queued before now are covered by it */
    while (c->cmds) {
        chan_cmd *cmd = c->cmds;
        c->cmds = cmd->next;
        free(cmd);
    }
    c->cmds_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    if (n && k < n)
        pws__log(&c->lg, PWS_LOG_ERROR, "out of memory: resubscribing %zu of %zu channels", k, n);
    if (k)
        queue_subscription(c, true, (const char *const *)copy, k);
    for (size_t i = 0; i < k; i++)
        free(copy[i]);
    free(copy);
}

/* Turns queued subscribe/unsubscribe commands into messages when live. */
static void drain_commands(pws_connector *c)
{
    pthread_mutex_lock(&c->mu);
    chan_cmd *list = c->cmds;
    c->cmds = c->cmds_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    if (!list)
        return;
    if (c->st != NET_LIVE) {
        /* the desired set is sent whole after the next auth_success */
        while (list) {
            chan_cmd *n = list->next;
            free(list);
            list = n;
        }
        return;
    }
    /* group runs of the same kind, preserving order */
    const char *names[512];
    while (list) {
        bool sub = list->subscribe;
        size_t k = 0;
        chan_cmd *run = list;
        while (list && list->subscribe == sub && k < 512) {
            names[k++] = list->name;
            list = list->next;
        }
        queue_subscription(c, sub, names, k);
        while (run != list) {
            chan_cmd *n = run->next;
            free(run);
            run = n;
        }
    }
}

/* Ends the connection from our side (recording why): a close frame when
 * graceful and the link works, a kill otherwise.  A kill only from timers. */
static void end_connection(pws_connector *c, int err, bool graceful, int close_code, const char *fmt, ...)
    PWS__PRINTF(5, 6);

static void end_connection(pws_connector *c, int err, bool graceful, int close_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end_reason_v(c, err, fmt, ap);
    va_end(ap);
    pws__transport_end(&c->tr, graceful, close_code);
}

/* The loop ends with result. */
static void finish(pws_connector *c, int result)
{
    c->st = NET_DONE;
    c->result = result;
    lws_sul_cancel(&c->sul_retry);
    lws_sul_cancel(&c->sul_timeout);
    lws_sul_cancel(&c->sul_tick);
    lws_sul_cancel(&c->sul_write);
    /* finish() can run in a timer callback, before lws polls: wake that poll
     * (it would otherwise sleep up to 30 s with nothing left to wait for) */
    if (c->ctx)
        lws_cancel_service(c->ctx);
}

static void sul_retry_cb(lws_sorted_usec_list_t *sul)
{
    pws_connector *c = lws_container_of(sul, pws_connector, sul_retry);
    if (c->st != NET_WAIT_RETRY)
        return;
    if (c->pend_len > c->pend_off) {
        /* blocked events of the old connection go first */
        lws_sul_schedule(c->ctx, 0, &c->sul_retry, sul_retry_cb, PWS__RETRY_PENDING_US);
        return;
    }
    STAT_ADD(c, reconnects, 1);
    net_connect(c);
}

/* Transport event: the connection is gone (closed, dropped, failed); once
 * per connection. */
static void on_gone(void *user, const char *fallback_reason)
{
    pws_connector *c = user;
    if (c->st == NET_DONE) /* lws_context_destroy() closing what is left */
        return;
    lws_sul_cancel(&c->sul_timeout);
    lws_sul_cancel(&c->sul_tick);
    lws_sul_cancel(&c->sul_write);
    outq_clear(c);
    flush_batch(c);
    pws__transport_reset(&c->tr);
    if (!c->end_err && !(c->stopping && c->end_reason[0])) {
        c->end_err = c->stopping ? PWS_OK : PWS_ERR_CLOSED;
        pws__strlcpy(c->end_reason, fallback_reason, sizeof c->end_reason);
    }
    int64_t now_ms = pws__mono_us() / 1000;
    int64_t healthy_until_ms = c->last_rx_us / 1000;
    emit_conn(c, PWS_CONN_DISCONNECTED, c->end_err, c->end_close_code, 0, 0, c->end_reason);
    pws__log(&c->lg, c->stopping ? PWS_LOG_INFO : PWS_LOG_WARN, "connection %u ended: %s",
             c->conn_seq, c->end_reason);
    pws__last_error_set(&c->err, "%s", c->end_reason);

    if (c->stopping) {
        if (c->end_fatal) { /* e.g. auth_failed arrived before the stop took effect */
            emit_conn(c, PWS_CONN_FATAL, c->end_err, c->end_close_code, 0, 0, c->end_reason);
            finish(c, c->end_err);
        } else {
            finish(c, c->result);
        }
        return;
    }
    if (c->end_fatal) {
        emit_conn(c, PWS_CONN_FATAL, c->end_err, c->end_close_code, 0, 0, c->end_reason);
        pws__log(&c->lg, PWS_LOG_ERROR, "giving up: %s", c->end_reason);
        finish(c, c->end_err);
        return;
    }
    /* Health is judged by how long the link kept delivering after auth, so
     * a server that authenticates and then stalls does not reset the backoff. */
    int64_t delay = pws__backoff_next_delay_ms(&c->bo, c->auth_at_us ? healthy_until_ms : now_ms,
                                               c->end_max_conn);
    if (delay < 0) {
        char why[PWS_MESSAGE_MAX + 64];
        snprintf(why, sizeof why, "gave up after %u reconnect attempts; last: %s",
                 c->bo.o.max_attempts, c->end_reason);
        emit_conn(c, PWS_CONN_FATAL, PWS_ERR_ATTEMPTS, c->end_close_code, c->bo.attempt, 0, why);
        pws__log(&c->lg, PWS_LOG_ERROR, "%s", why);
        pws__last_error_set(&c->err, "%s", why);
        finish(c, PWS_ERR_ATTEMPTS);
        return;
    }
    if (c->end_max_conn)
        pws__log(&c->lg, PWS_LOG_WARN,
                 "max_connections: another connection is using the same API key; "
                 "retrying in %lld ms", (long long)delay);
    emit_conn(c, PWS_CONN_RECONNECT_WAIT, 0, 0, c->bo.attempt, (uint32_t)delay, c->end_reason);
    c->st = NET_WAIT_RETRY;
    lws_sul_schedule(c->ctx, 0, &c->sul_retry, sul_retry_cb, delay * LWS_US_PER_MS);
}

static void sul_timeout_cb(lws_sorted_usec_list_t *sul)
{
    pws_connector *c = lws_container_of(sul, pws_connector, sul_timeout);
    if (c->st == NET_CONNECTING)
        end_connection(c, PWS_ERR_TIMEOUT, false, 0, "connect timeout after %u ms",
                       c->o.connect_timeout_ms);
    else if (c->st == NET_GREETING || c->st == NET_AUTHING)
        end_connection(c, PWS_ERR_TIMEOUT, true, 1000, "auth timeout: no %s within %u ms",
                       c->st == NET_GREETING ? "greeting" : "auth_success", c->o.auth_timeout_ms);
}

/* Heartbeat: a ping every ping_interval; no frame and no pong for
 * pong_timeout means the link is dead (half-open servers answer nothing). */
static void sul_tick_cb(lws_sorted_usec_list_t *sul)
{
    pws_connector *c = lws_container_of(sul, pws_connector, sul_tick);
    if (!pws__transport_active(&c->tr) || c->st < NET_GREETING || c->st > NET_LIVE)
        return;
    int64_t now = pws__mono_us();
    bool held = pws__transport_reads_held(&c->tr);
    if (held) {
        /* we stopped reading on purpose: silence is ours, not the server's */
        c->last_rx_us = now;
    } else if (now - c->last_rx_us >= (int64_t)c->o.pong_timeout_ms * 1000) {
        end_connection(c, PWS_ERR_TIMEOUT, false, 0,
                       "heartbeat timeout: no pong or data for %u ms", c->o.pong_timeout_ms);
        return;
    }
    /* No ping while reads are held: its pong could not be read, and a ping that reaches a
     * server which has already closed its side makes that server's kernel answer with a
     * reset, which throws away what it had not sent yet (found by the soak). */
    if (!held && now - c->last_ping_us >= (int64_t)c->o.ping_interval_ms * 1000) {
        c->last_ping_us = now;
        pws__transport_ping(&c->tr);
    }
    uint32_t tick = (c->o.ping_interval_ms < c->o.pong_timeout_ms ? c->o.ping_interval_ms
                                                                   : c->o.pong_timeout_ms) / 4;
    if (tick < 10)
        tick = 10;
    if (tick > 1000)
        tick = 1000;
    lws_sul_schedule(c->ctx, 0, &c->sul_tick, sul_tick_cb, (lws_usec_t)tick * LWS_US_PER_MS);
}

static void sul_write_cb(lws_sorted_usec_list_t *sul)
{
    pws_connector *c = lws_container_of(sul, pws_connector, sul_write);
    pws__transport_want_write(&c->tr);
}

/* Starts the next connection. */
static void net_connect(pws_connector *c)
{
    c->conn_seq++;
    c->end_err = 0;
    c->end_close_code = 0;
    c->end_max_conn = false;
    c->end_fatal = false;
    c->end_reason[0] = '\0';
    c->auth_at_us = 0;
    c->st = NET_CONNECTING;
    emit_conn(c, PWS_CONN_CONNECTING, 0, 0, c->bo.attempt, 0, NULL);
    pws__log(&c->lg, PWS_LOG_INFO, "connecting to %s (connection %u)", c->url, c->conn_seq);
    lws_sul_schedule(c->ctx, 0, &c->sul_timeout, sul_timeout_cb,
                     (lws_usec_t)c->o.connect_timeout_ms * LWS_US_PER_MS);
    pws__transport_connect(&c->tr);
}

static void on_status(pws_connector *c, const pws_status *s)
{
    switch (s->kind) {
    case PWS_STATUS_CONNECTED:
    case PWS_STATUS_SUCCESS:
        if (c->st == NET_GREETING) {
            char buf[PWS_MAX_KEY_LEN + 128];
            size_t n = c->ad->build_auth(c->o.adapter_self, c->key, buf, sizeof buf);
            if (n == (size_t)-1) {
                c->end_fatal = true;
                end_connection(c, PWS_ERR_KEY, true, 1000, "auth message does not fit");
            } else if (n == 0) {
                /* the adapter's protocol has no auth step: live at once */
                OPENSSL_cleanse(buf, sizeof buf);
                c->st = NET_AUTHING;
                pws_status ok = {.kind = PWS_STATUS_AUTH_SUCCESS};
                on_status(c, &ok);
                break;
            } else {
                outq_push(c, buf, n, true);
                c->st = NET_AUTHING;
            }
            OPENSSL_cleanse(buf, sizeof buf);
        } else if (s->kind == PWS_STATUS_SUCCESS) {
            pws__log(&c->lg, PWS_LOG_INFO, "server: %s", s->message);
        }
        break;
    case PWS_STATUS_AUTH_SUCCESS:
        if (c->st == NET_AUTHING || c->st == NET_GREETING) {
            c->st = NET_LIVE;
            c->auth_at_us = c->last_rx_us = pws__mono_us();
            lws_sul_cancel(&c->sul_timeout);
            pws__backoff_mark_healthy(&c->bo, c->auth_at_us / 1000);
            emit_conn(c, PWS_CONN_AUTHENTICATED, 0, 0, 0, 0, s->message);
            pws__log(&c->lg, PWS_LOG_INFO, "authenticated (connection %u)", c->conn_seq);
            subscribe_all(c);
        }
        break;
    case PWS_STATUS_AUTH_FAILED:
        c->end_fatal = true;
        c->close_after_frame = true;
        ending(c, PWS_ERR_AUTH, "authentication failed (server: %.200s)", s->message);
        break;
    case PWS_STATUS_AUTH_TIMEOUT:
    case PWS_STATUS_AUTH_REQUIRED:
    case PWS_STATUS_FORCE_DISCONNECT:
    case PWS_STATUS_SLOW_CONSUMER:
    case PWS_STATUS_MAX_CONNECTIONS:
        c->close_after_frame = true;
        if (s->kind == PWS_STATUS_MAX_CONNECTIONS)
            c->end_max_conn = true;
        ending(c, PWS_ERR_SERVER, "server status %.31s: %.200s", s->status, s->message);
        break;
    case PWS_STATUS_ERROR:
        pws__log(&c->lg, PWS_LOG_WARN, "server error status: %s", s->message);
        break;
    case PWS_STATUS_UNKNOWN:
        pws__log(&c->lg, PWS_LOG_INFO, "unknown server status %s: %s", s->status, s->message);
        break;
    }
}

/* The parser's sink: statuses drive the state machine, everything goes to
 * the queue in order.  Status texts and error excerpts may echo the key:
 * it is masked in them before the event, the state machine or a log line
 * sees them (market data is not scanned). */
static int parse_sink(const pws_event *ev, void *user)
{
    pws_connector *c = user;
    if (ev->type == PWS_EV_STATUS) {
        pws_event copy = *ev;
        copy.conn = c->conn_seq;
        copy.recv_us = c->frame_recv_us;
        pws__secrets_scrub_str(&c->secrets, copy.u.status.status);
        pws__secrets_scrub_str(&c->secrets, copy.u.status.message);
        push_control(c, &copy);
        on_status(c, &copy.u.status);
        return 0;
    }
    if (ev->type == PWS_EV_PARSE_ERROR) {
        pws_event copy = *ev;
        copy.conn = c->conn_seq;
        copy.recv_us = c->frame_recv_us;
        pws__secrets_scrub_str(&c->secrets, copy.u.error.excerpt);
        pws__log(&c->lg, PWS_LOG_WARN, "parse error at byte %zu of a %zu-byte frame: %s near \"%s\"",
                 copy.u.error.offset, copy.u.error.frame_len, copy.u.error.reason, copy.u.error.excerpt);
        STAT_ADD(c, parse_errors, 1);
        push_control(c, &copy);
        return 0;
    }
    if (c->batch_len == PWS__EVENT_BATCH)
        flush_batch(c);
    pws_event *slot = &c->batch[c->batch_len++];
    *slot = *ev;
    slot->conn = c->conn_seq;
    slot->recv_us = c->frame_recv_us;
    c->frame_events[ev->type]++; /* published once per frame: no atomic per event */
    return 0;
}

/* Transport event: a complete data message arrived (data valid during the
 * call).  Returns non-zero when a status asked to end the connection. */
static int on_message(void *user, const unsigned char *data, size_t len, bool too_big, uint64_t total,
                      bool binary)
{
    pws_connector *c = user;
    c->frame_recv_us = pws_now_us();
    STAT_ADD(c, frames, 1);
    STAT_ADD(c, bytes, total);
    __atomic_store_n(&c->last_frame_wall_us, pws__mono_us(), __ATOMIC_RELAXED);
    if (too_big || binary) {
        pws_event ev;
        init_event(c, &ev, PWS_EV_PARSE_ERROR);
        ev.recv_us = c->frame_recv_us;
        ev.u.error.offset = too_big ? c->o.limits.max_frame_bytes : 0;
        ev.u.error.frame_len = (size_t)total;
        ev.u.error.reason = too_big ? "frame too large" : "binary frame (expected text)";
        size_t n = len < PWS_EXCERPT_MAX - 1 ? len : PWS_EXCERPT_MAX - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = data[i];
            ev.u.error.excerpt[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
        }
        parse_sink(&ev, c);
    } else {
        c->ad->parse(c->o.adapter_self, (const char *)data, len, &c->o.limits, parse_sink, c);
    }
    for (int t = 0; t < PWS_EV__COUNT; t++)
        if (c->frame_events[t]) {
            STAT_ADD(c, events[t], c->frame_events[t]);
            c->frame_events[t] = 0;
        }
    flush_batch(c);
    if (c->close_after_frame) {
        c->close_after_frame = false;
        return 1;
    }
    return 0;
}

/* Transport event: the connection is a WebSocket now. */
static void on_established(void *user)
{
    pws_connector *c = user;
    lws_sul_cancel(&c->sul_timeout);
    c->st = c->ad->wait_for_greeting ? NET_GREETING : NET_AUTHING;
    c->last_rx_us = c->last_ping_us = pws__mono_us();
    STAT_ADD(c, connects, 1);
    emit_conn(c, PWS_CONN_OPEN, 0, 0, 0, 0, NULL);
    pws__log(&c->lg, PWS_LOG_INFO, "connected (connection %u)", c->conn_seq);
    pws__bucket_init(&c->bucket, c->o.actions_per_sec, c->o.action_burst, pws__mono_us());
    lws_sul_schedule(c->ctx, 0, &c->sul_timeout, sul_timeout_cb, (lws_usec_t)c->o.auth_timeout_ms * LWS_US_PER_MS);
    sul_tick_cb(&c->sul_tick);
    if (!c->ad->wait_for_greeting) {
        pws_status greet = {.kind = PWS_STATUS_CONNECTED};
        c->st = NET_GREETING;
        on_status(c, &greet);
    }
    if (c->pend_len > c->pend_off && !pws__transport_reads_held(&c->tr))
        pws__transport_hold_reads(&c->tr); /* the last connection's blocked events still wait */
}

/* Transport event: TCP is up; a connection we no longer want is dropped. */
static int on_connected(void *user)
{
    pws_connector *c = user;
    return c->st == NET_CONNECTING ? 0 : -1;
}

/* Transport event: bytes arrived, the link lives (the heartbeat's clock). */
static void on_received(void *user)
{
    pws_connector *c = user;
    c->last_rx_us = pws__mono_us();
}

/* Transport event: one read handled; changes from other threads go out. */
static void on_read_done(void *user)
{
    drain_commands(user);
}

/* Transport event: why the connection ends (the first reason wins); a
 * permanent refusal is not retried. */
static void on_ending(void *user, int err, int close_code, bool permanent, const char *reason)
{
    pws_connector *c = user;
    if (close_code)
        c->end_close_code = close_code;
    if (permanent)
        c->end_fatal = true;
    ending(c, err, "%s", reason);
}

/* Transport event, WRITEABLE: rate-limited actions go out as frames. */
static int on_writeable(void *user)
{
    pws_connector *c = user;
    int64_t now = pws__mono_us();
    while (c->outq) {
        out_msg *m = c->outq;
        if (!pws__bucket_take(&c->bucket, now)) {
            int64_t wait = pws__bucket_wait_us(&c->bucket, now);
            lws_sul_schedule(c->ctx, 0, &c->sul_write, sul_write_cb, wait > 0 ? wait : 1000);
            break;
        }
        if (c->lg.level >= PWS_LOG_DEBUG) {
            char red[1024];
            if (!m->is_auth) {
                pws__log(&c->lg, PWS_LOG_DEBUG, "send %.*s", (int)(m->len > 800 ? 800 : m->len),
                         (const char *)m->buf);
            } else if (c->ad->redact) {
                c->ad->redact(c->o.adapter_self, (const char *)m->buf, m->len, red, sizeof red);
                pws__log(&c->lg, PWS_LOG_DEBUG, "send %s", red);
            }
        }
        if (pws__transport_send_text(&c->tr, m->buf, m->len, m->is_auth))
            return -1;
        STAT_ADD(c, actions_sent, 1);
        c->outq = m->next;
        if (!c->outq)
            c->outq_tail = NULL;
        c->outq_len--;
        if (m->is_auth)
            OPENSSL_cleanse(m->buf, m->len);
        free(m);
    }
    return 0;
}

/* Transport event: another thread asked for something (pws_stop, queue room,
 * channel changes). */
static void on_woken(void *user)
{
    pws_connector *c = user;
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop_requested;
    bool space = c->space_ready;
    c->space_ready = false;
    pthread_mutex_unlock(&c->mu);
    if (space && c->pend_len > c->pend_off)
        push_pending(c);
    if (stop && !c->stopping) {
        c->stopping = true;
        if (pws__transport_active(&c->tr)) {
            /* a reason already given (auth_failed, a server close) stays */
            end_connection(c, PWS_OK, true, 1000, "stopped by the application");
        } else {
            finish(c, PWS_OK);
        }
    } else {
        drain_commands(c);
    }
}

static const pws__transport_events session_events = {
    .connected = on_connected,
    .established = on_established,
    .received = on_received,
    .read_done = on_read_done,
    .message = on_message,
    .writeable = on_writeable,
    .ending = on_ending,
    .gone = on_gone,
    .woken = on_woken,
};

void pws__session_run(pws_connector *c)
{
    pws__transport *t = &c->tr;
    t->max_message = c->o.limits.max_frame_bytes;
    t->lg = &c->lg;
    t->ev = &session_events;
    t->user = c;
    pws__log_lws_thread(&c->lg); /* lws logs on this thread from here on: its lines are this connector's */
    char err[300];
    int rc = pws__transport_setup(t, c->ca_file, c->o.tls_insecure, err, sizeof err);
    if (rc) {
        pws__log(&c->lg, PWS_LOG_ERROR, "%s", err);
        pws__last_error_set(&c->err, "%s", err);
        c->result = rc;
        emit_conn(c, PWS_CONN_FATAL, c->result, 0, 0, 0, c->err.text);
        emit_conn(c, PWS_CONN_STOPPED, c->result, 0, 0, 0, pws_strerror(c->result));
        pws__log_lws_thread(NULL);
        return;
    }
    struct lws_context *ctx = pws__transport_context(t, c->o.connect_timeout_ms / 1000 + 5);
    if (!ctx) {
        pws__log(&c->lg, PWS_LOG_ERROR, "cannot create the libwebsockets context%s",
                 c->ca_file ? " (is the CA file valid PEM?)" : "");
        pws__last_error_set(&c->err, "cannot create the libwebsockets context%s",
                            c->ca_file ? " (is the CA file valid PEM?)" : "");
        c->result = c->ca_file ? PWS_ERR_TLS : PWS_ERR_SYSTEM;
        emit_conn(c, PWS_CONN_FATAL, c->result, 0, 0, 0, c->err.text);
    } else {
        pthread_mutex_lock(&c->mu);
        c->ctx = ctx;
        bool stop = c->stop_requested;
        pthread_mutex_unlock(&c->mu);
        if (stop) {
            c->stopping = true;
            finish(c, PWS_OK);
        } else {
            net_connect(c);
        }
        while (c->st != NET_DONE)
            if (lws_service(ctx, 0) < 0)
                break;
        /* block policy: what the queue refused is still ours to deliver */
        while (!pend_push(c)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&c->mu);
        c->ctx = NULL;
        pthread_mutex_unlock(&c->mu);
    }
    pws__transport_teardown(t);
    pws__log_lws_thread(NULL); /* the context is gone; the logger may be freed with the connector */
    emit_conn(c, PWS_CONN_STOPPED, c->result, 0, 0, 0, c->result ? pws_strerror(c->result) : "stopped");
}

void pws__session_free(pws_connector *c)
{
    outq_clear(c);
    if (c->pend)
        pend_release(c, c->pend_off, c->pend_len);
    free(c->pend);
    c->pend = NULL;
}
