/*
 * client.c - the connector: one client connection at a time, its state
 * machine (connect, upgrade, greeting, auth, subscribe, stream), timers
 * (connect/auth timeouts, heartbeat, reconnect backoff, action rate limit),
 * and the two threads around it (network loop, delivery).
 *
 * Transport.  libwebsockets runs the event loop, the timers and the TCP
 * connect (a raw socket); the WebSocket protocol itself (upgrade, frames,
 * ping/pong, the close handshake) and TLS (OpenSSL over memory BIOs) are ours,
 * in wsproto.c and link.c.  lws 4.1's client frame parser costs a
 * state-machine step per payload byte, more than half of the whole receive
 * path; wsproto.c copies payloads in bulk.  Owning the protocol also lets the
 * client fail a connection with close 1002 on a protocol violation (RSV bits,
 * masked server frames, bad close codes) where lws just dropped the TCP link.
 *
 * Threading model.  Everything named "net" below runs on the network thread,
 * inside lws_service(); it owns the lws context, the wsi and all timers.
 * Other threads talk to it only through `mu`-protected fields followed by
 * lws_cancel_service() (the one lws call that is safe across threads), which
 * makes lws deliver LWS_CALLBACK_EVENT_WAIT_CANCELLED on the network thread.
 * The delivery thread only pops the queue and runs user callbacks.
 */
#include "backoff.h"
#include "internal.h"
#include "link.h"
#include "queue.h"
#include "ratelimit.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PWS__EVENT_BATCH 256u         /* events parsed before one queue push */
#define PWS__MAX_OUTQ 4096u           /* queued outgoing messages per connection */
#define PWS__CLOSE_GRACE_S 2         /* seconds the server has to answer our close frame */
#define PWS__READ_BUF (128u << 10)    /* bytes lws reads from the socket at once */
#define PWS__RETRY_PENDING_US 20000   /* re-check interval while blocked events wait */
#define PWS__MAX_URL 2048u            /* bytes of a URL */

/* Connection state, network thread only. */
typedef enum net_state {
    NET_IDLE = 0,     /* no connection and none scheduled */
    NET_CONNECTING,   /* TCP connect, TLS and WebSocket upgrade in progress */
    NET_GREETING,     /* open, waiting for the server's greeting */
    NET_AUTHING,      /* auth sent, waiting for auth_success */
    NET_LIVE,         /* authenticated: subscriptions flow, events stream */
    NET_WAIT_RETRY,   /* disconnected, reconnect timer running */
    NET_DONE          /* finished: the loop exits */
} net_state;

/* One outgoing message, framed when the rate limit lets it go. */
typedef struct out_msg {
    struct out_msg *next; /* FIFO link */
    size_t len;           /* payload bytes */
    bool is_auth;         /* holds the key: never logged unredacted, wiped on free */
    unsigned char buf[];  /* the payload, NUL-terminated */
} out_msg;

/* A subscription change requested by pws_subscribe/pws_unsubscribe. */
typedef struct chan_cmd {
    struct chan_cmd *next; /* FIFO link */
    bool subscribe;        /* true: subscribe, false: unsubscribe */
    char name[];           /* channel, NUL-terminated */
} chan_cmd;

struct pws_connector {
    pws_options o;              /* options with defaults filled in; strings point at copies below */
    char *url;                  /* owned copy of o.url */
    char *ca_file;              /* owned copy of o.ca_file, or NULL */
    char key[PWS_MAX_KEY_LEN + 1]; /* the API key; wiped in pws_destroy */
    const pws_adapter *ad;      /* protocol adapter */
    pws__logger lg;             /* logger that scrubs the key */

    bool tls;                   /* wss:// */
    char host[256];             /* host from the URL (no brackets for IPv6) */
    char host_header[300];      /* host[:port] for the Host header */
    char path[1024];            /* path and query, starting with '/' */
    int port;                   /* port from the URL or the scheme default */

    /* --- network thread only --- */
    struct lws_context *ctx;    /* set/cleared under mu too, for pws_stop() */
    struct lws *wsi;            /* the current connection (ours: cleared only by connection_gone) */
    SSL_CTX *ssl_ctx;           /* for wss:, and handed to lws so that it builds (and leaks) none */
    unsigned char *scratch;     /* LWS_PRE + PWS__WRITE_CHUNK bytes for lws_write */
    pws__link link;             /* the socket's output queue and TLS session */
    pws__wsreader rd;           /* frames from the server */
    pws__buf head;              /* the upgrade response while it arrives */
    pws__buf stash;             /* received bytes not yet framed while reads are paused */
    char ws_key[32];            /* the Sec-WebSocket-Key we sent */
    bool upgrade_sent;          /* the upgrade request is queued */
    bool upgraded;              /* 101 verified: frames follow */
    bool close_sent;            /* our close frame is queued: only the server's answer matters now */
    bool close_got;             /* the server's close frame arrived */
    bool wipe_out;              /* the output buffer held the auth message: wipe it once written */
    bool in_reader;             /* inside pws__ws_feed_some (its callbacks must not feed it) */
    struct lws *lws_slot;       /* lws' own pointer to it (ci.pwsi): lws NULLs it on free */
    net_state st;               /* state machine */
    uint32_t conn_seq;          /* ordinal of the current/last connection (1-based) */
    lws_sorted_usec_list_t sul_retry;   /* reconnect timer */
    lws_sorted_usec_list_t sul_timeout; /* connect or auth deadline */
    lws_sorted_usec_list_t sul_tick;    /* heartbeat tick */
    lws_sorted_usec_list_t sul_write;   /* rate-limit wake-up / blocked-events retry */
    pws__backoff bo;            /* reconnect delays */
    pws__bucket bucket;         /* outgoing action rate limit */
    out_msg *outq, *outq_tail;  /* messages waiting for WRITEABLE */
    size_t outq_len;            /* entries in outq */
    bool ping_due;              /* send a ping at the next WRITEABLE */
    int64_t last_rx_us;         /* monotonic time of the last frame or pong */
    int64_t last_ping_us;       /* monotonic time of the last ping sent */
    int64_t auth_at_us;         /* monotonic time of auth_success, or 0 */
    /* why the current connection is ending (first reason wins) */
    int end_err;                /* pws_err */
    int end_close_code;         /* close code received from the server, or 0 */
    bool end_max_conn;          /* ended by max_connections: long delay */
    bool end_fatal;             /* do not reconnect */
    char end_reason[PWS_MESSAGE_MAX]; /* human-readable */
    bool stopping;              /* pws_stop() seen by the network thread */
    int result;                 /* what pws_run()/pws_wait() return */

    pws_event batch[PWS__EVENT_BATCH]; /* events parsed, not yet pushed */
    uint64_t frame_events[PWS_EV__COUNT]; /* market events counted in this frame, not yet in stats */
    size_t batch_len;           /* entries in batch */
    pws_event *pend;            /* block policy: events the queue refused */
    size_t pend_len, pend_cap, pend_off; /* used / allocated / next to push */
    bool rx_paused;             /* block policy: reading stopped until the queue has room */
    bool close_after_frame;     /* a status asked to end the connection */
    int64_t frame_recv_us;      /* wall time stamped on this frame's events */

    /* --- shared, guarded by mu --- */
    pthread_mutex_t mu;
    char **channels;            /* desired channel set */
    size_t nchannels, channels_cap;
    chan_cmd *cmds, *cmds_tail; /* changes not yet seen by the network thread */
    bool stop_requested;        /* pws_stop() called */
    bool space_ready;           /* the queue has room again (block policy) */
    char last_error[256];       /* message of the last failure */

    /* --- threads --- */
    pws__queue q;               /* network -> delivery */
    pws_table *table;           /* keyed table, delivery thread only */
    pthread_t net_thread;       /* after pws_start() */
    pthread_t deliver_thread;   /* while running */
    bool started;               /* pws_start() or pws_run() was called */
    bool net_thread_running;    /* pws_start() thread to join */
    bool finished;              /* the loop ended (pws_wait returns at once) */

    /* --- statistics (atomics: written by one thread, read by any) --- */
    pws_stats st_counters;      /* counters; queue fields filled on read */
    int64_t last_frame_wall_us; /* monotonic time of the last frame, 0 if none */
};

#define STAT_ADD(c, field, n) __atomic_fetch_add(&(c)->st_counters.field, (n), __ATOMIC_RELAXED)

static void set_last_error(pws_connector *c, const char *fmt, ...) PWS__PRINTF(2, 3);

static void set_last_error(pws_connector *c, const char *fmt, ...)
{
    char raw[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->mu);
    pws_redact(raw, strlen(raw), c->key, c->last_error, sizeof c->last_error);
    pthread_mutex_unlock(&c->mu);
}

/* Records why the current connection ends; the first reason wins (a stop
 * by the application records its reason with PWS_OK). */
static void end_reason_v(pws_connector *c, int err, const char *fmt, va_list ap)
{
    if (c->end_err || c->end_reason[0])
        return;
    c->end_err = err;
    vsnprintf(c->end_reason, sizeof c->end_reason, fmt, ap);
}

/* end_reason_v; returns -1 for callbacks that close at once. */
static int ending(pws_connector *c, int err, const char *fmt, ...) PWS__PRINTF(3, 4);

static int ending(pws_connector *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end_reason_v(c, err, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------ URL parsing */

/* Splits ws[s]://host[:port][/path] into parts.  Writes a reason to err. */
static int parse_url(pws_connector *c, const char *url, char *err, size_t errcap)
{
    const char *p;
    if (strncmp(url, "wss://", 6) == 0) {
        c->tls = true;
        p = url + 6;
        c->port = 443;
    } else if (strncmp(url, "ws://", 5) == 0) {
        c->tls = false;
        p = url + 5;
        c->port = 80;
    } else {
        snprintf(err, errcap, "URL must start with ws:// or wss://: %.200s", url);
        return PWS_ERR_URL;
    }
    const char *host_end;
    const char *host_start = p;
    if (*p == '[') { /* IPv6 literal */
        host_start = p + 1;
        host_end = strchr(p, ']');
        if (!host_end) {
            snprintf(err, errcap, "URL has an unterminated IPv6 address: %.200s", url);
            return PWS_ERR_URL;
        }
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - host_start);
    if (hl == 0 || hl >= sizeof c->host) {
        snprintf(err, errcap, "URL has %s host: %.200s", hl ? "a too long" : "no", url);
        return PWS_ERR_URL;
    }
    memcpy(c->host, host_start, hl);
    c->host[hl] = '\0';
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/' && *end != '?')) {
            snprintf(err, errcap, "URL has an invalid port: %.200s", url);
            return PWS_ERR_URL;
        }
        c->port = (int)port;
        p = end;
    }
    if (*p == '#' || (*p && *p != '/' && *p != '?')) {
        snprintf(err, errcap, "URL is malformed after the host: %.200s", url);
        return PWS_ERR_URL;
    }
    int n = snprintf(c->path, sizeof c->path, "%s%s", *p == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= sizeof c->path) {
        snprintf(err, errcap, "URL path is longer than %zu bytes", sizeof c->path - 1);
        return PWS_ERR_URL;
    }
    bool default_port = c->port == (c->tls ? 443 : 80);
    bool v6 = strchr(c->host, ':') != NULL;
    if (default_port)
        snprintf(c->host_header, sizeof c->host_header, v6 ? "[%s]" : "%s", c->host);
    else
        snprintf(c->host_header, sizeof c->host_header, v6 ? "[%s]:%d" : "%s:%d", c->host, c->port);
    return PWS_OK;
}

/* ----------------------------------------------------------- channel names */

/* Channel names go into JSON strings verbatim and are joined with commas. */
static bool channel_ok(const char *s, size_t n)
{
    if (n == 0 || n > PWS_MAX_CHANNEL_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == ',' || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

/* Linear search: O(n) per change, fine for the thousands of channels a
 * connection carries; PWS_MAX_CHANNELS bounds the worst case. */
static ssize_t channel_find(pws_connector *c, const char *name)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (strcmp(c->channels[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Applies a comma-separated list to the desired set and queues commands.
 * Validates everything before changing anything. */
static int channels_change(pws_connector *c, const char *list, bool subscribe)
{
    if (!c || !list)
        return PWS_ERR_INVALID;
    /* validate first: a bad name rejects the whole call */
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (!channel_ok(p, n)) {
            set_last_error(c, "invalid channel name \"%.*s\" (1-%u printable bytes, no spaces, quotes or commas)",
                           (int)(n > 80 ? 80 : n), p, PWS_MAX_CHANNEL_LEN);
            return PWS_ERR_INVALID;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    int rc = PWS_OK;
    pthread_mutex_lock(&c->mu);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        char name[PWS_MAX_CHANNEL_LEN + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        if (*p == ',')
            p++;
        ssize_t at = channel_find(c, name);
        if (subscribe && at >= 0)
            continue;
        if (!subscribe && at < 0)
            continue;
        if (subscribe) {
            if (c->nchannels >= PWS_MAX_CHANNELS) {
                rc = PWS_ERR_LIMIT;
                break;
            }
            if (c->nchannels == c->channels_cap) {
                size_t cap = c->channels_cap ? c->channels_cap * 2 : 16;
                char **nc = realloc(c->channels, cap * sizeof *nc);
                if (!nc) {
                    rc = PWS_ERR_NOMEM;
                    break;
                }
                c->channels = nc;
                c->channels_cap = cap;
            }
            char *dup = strdup(name);
            if (!dup) {
                rc = PWS_ERR_NOMEM;
                break;
            }
            c->channels[c->nchannels++] = dup;
        } else {
            free(c->channels[at]);
            c->channels[at] = c->channels[--c->nchannels];
        }
        chan_cmd *cmd = malloc(sizeof *cmd + n + 1);
        if (!cmd) {
            rc = PWS_ERR_NOMEM;
            break;
        }
        cmd->next = NULL;
        cmd->subscribe = subscribe;
        memcpy(cmd->name, name, n + 1);
        if (c->cmds_tail)
            c->cmds_tail->next = cmd;
        else
            c->cmds = cmd;
        c->cmds_tail = cmd;
    }
    __atomic_store_n(&c->st_counters.channels, (uint32_t)c->nchannels, __ATOMIC_RELAXED);
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
    if (rc == PWS_ERR_LIMIT)
        set_last_error(c, "more than %u channels", PWS_MAX_CHANNELS);
    return rc;
}

int pws_subscribe(pws_connector *c, const char *channels)
{
    return channels_change(c, channels, true);
}

int pws_unsubscribe(pws_connector *c, const char *channels)
{
    return channels_change(c, channels, false);
}

/* ------------------------------------------------------------ event output */

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
    if (c->wsi && !c->rx_paused) {
        /* the frame reader stops after this message (on_ws_message) and the
         * socket is not read until push_pending() empties pend */
        c->rx_paused = true;
        __atomic_store_n(&c->st_counters.rx_paused, true, __ATOMIC_RELAXED);
        pws__link_set_rx(&c->link, false);
        pws__log(&c->lg, PWS_LOG_DEBUG, "delivery queue full: pausing reads");
    }
}

static void resume_reading(pws_connector *c);

/* Block policy: pushes held events once the consumer made room.  Returns
 * true when nothing is held any more. */
static bool push_pending(pws_connector *c)
{
    if (!pend_push(c))
        return false;
    if (c->rx_paused) {
        c->rx_paused = false;
        __atomic_store_n(&c->st_counters.rx_paused, false, __ATOMIC_RELAXED);
        pws__log(&c->lg, PWS_LOG_DEBUG, "delivery queue has room: resuming reads");
        resume_reading(c);
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

static void emit_conn(pws_connector *c, pws_conn_state state, int err, int close_code,
                      uint32_t attempt, uint32_t delay_ms, const char *reason)
{
    pws_event ev;
    init_event(c, &ev, PWS_EV_CONNECTION);
    ev.u.conn.state = state;
    ev.u.conn.err = err;
    ev.u.conn.close_code = close_code;
    ev.u.conn.attempt = attempt;
    ev.u.conn.delay_ms = delay_ms;
    if (reason)
        pws_redact(reason, strlen(reason), c->key, ev.u.conn.reason, sizeof ev.u.conn.reason);
    push_control(c, &ev);
}

/* ------------------------------------------------------- outgoing messages */

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
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
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

/* ------------------------------------------------------- connection state */

static void net_connect(pws_connector *c);

/* Queues a frame from us (masked, as every client frame must be). */
static int send_frame(pws_connector *c, int opcode, const void *data, size_t len)
{
    unsigned char mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1) {
        uint32_t m = (uint32_t)pws__mono_us() * 2654435761u;
        memcpy(mask, &m, sizeof mask);
    }
    pws__link_compact(&c->link);
    int rc = pws__ws_frame(&c->link.out, opcode, true, mask, data, len);
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    return rc;
}

static void read_on(pws_connector *c);

/* Starts the close handshake from our side: the close frame goes after what
 * is queued, then the server has PWS__CLOSE_GRACE_S to answer (reads go on,
 * discarded, so that its close frame is seen and our socket is not reset with
 * unread data in it). */
static void begin_close(pws_connector *c, int code, const char *reason)
{
    if (c->close_sent || !c->wsi)
        return;
    c->close_sent = true;
    unsigned char mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1)
        memset(mask, 0x5a, sizeof mask);
    pws__link_compact(&c->link);
    if (pws__ws_close_frame(&c->link.out, code, reason, mask))
        c->link.close_when_flushed = true; /* no memory for it: just close */
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    /* Paused for delivery: read on to see the answer.  Held bytes are framed
     * first (data messages are dropped from now on).  Inside the frame reader
     * feed_frames does this when the reader returns. */
    if (!c->in_reader && (c->rx_paused || c->stash.len))
        read_on(c);
}

/* Ends the connection from our side.  Graceful (close frame) when the link
 * works, asynchronous kill when it is dead. */
static void end_connection(pws_connector *c, int err, bool graceful, int close_code,
                           const char *fmt, ...) PWS__PRINTF(5, 6);

static void end_connection(pws_connector *c, int err, bool graceful, int close_code,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end_reason_v(c, err, fmt, ap);
    va_end(ap);
    if (!c->wsi)
        return;
    if (graceful && c->upgraded) {
        begin_close(c, close_code, "bye");
    } else {
        /* Only called from our timers (never inside this wsi's callback), so
         * closing at once is allowed; the async kill waits for lws' next
         * timeout sweep, which for a wsi still in its handshake came 30 s late. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
}

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

/* Forgets the transport state of the connection that just ended. */
static void transport_reset(pws_connector *c)
{
    if (c->wipe_out && c->scratch)
        OPENSSL_cleanse(c->scratch, LWS_PRE + PWS__WRITE_CHUNK);
    c->link.wsi = NULL;
    pws__link_free(&c->link); /* link.out.wipe: wiped before it is freed */
    memset(&c->link, 0, sizeof c->link);
    c->link.out.wipe = true; /* it will hold the auth frame */
    pws__ws_reader_free(&c->rd);
    pws__buf_free(&c->head);
    pws__buf_free(&c->stash);
    c->upgrade_sent = c->upgraded = c->close_sent = c->close_got = c->wipe_out = false;
    c->ping_due = false;
}

/* Called once per connection when it is gone (closed, dropped, failed). */
static void connection_gone(pws_connector *c, const char *fallback_reason)
{
    if (c->st == NET_DONE) { /* lws_context_destroy() closing what is left */
        c->wsi = NULL;
        return;
    }
    lws_sul_cancel(&c->sul_timeout);
    lws_sul_cancel(&c->sul_tick);
    lws_sul_cancel(&c->sul_write);
    c->wsi = NULL;
    outq_clear(c);
    flush_batch(c);
    transport_reset(c);
    if (!c->end_err && !(c->stopping && c->end_reason[0])) {
        c->end_err = c->stopping ? PWS_OK : PWS_ERR_CLOSED;
        pws__strlcpy(c->end_reason, fallback_reason, sizeof c->end_reason);
    }
    int64_t now_ms = pws__mono_us() / 1000;
    int64_t healthy_until_ms = c->last_rx_us / 1000;
    emit_conn(c, PWS_CONN_DISCONNECTED, c->end_err, c->end_close_code, 0, 0, c->end_reason);
    pws__log(&c->lg, c->stopping ? PWS_LOG_INFO : PWS_LOG_WARN, "connection %u ended: %s",
             c->conn_seq, c->end_reason);
    set_last_error(c, "%s", c->end_reason);

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
        set_last_error(c, "%s", why);
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
    if (!c->wsi || c->st < NET_GREETING || c->st > NET_LIVE)
        return;
    int64_t now = pws__mono_us();
    if (c->rx_paused) {
        /* we stopped reading on purpose: silence is ours, not the server's */
        c->last_rx_us = now;
    } else if (now - c->last_rx_us >= (int64_t)c->o.pong_timeout_ms * 1000) {
        end_connection(c, PWS_ERR_TIMEOUT, false, 0,
                       "heartbeat timeout: no pong or data for %u ms", c->o.pong_timeout_ms);
        return;
    }
    if (now - c->last_ping_us >= (int64_t)c->o.ping_interval_ms * 1000) {
        c->ping_due = true;
        c->last_ping_us = now;
        lws_callback_on_writable(c->wsi);
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
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static void net_connect(pws_connector *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->ctx;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host_header;
    ci.method = "RAW"; /* a plain socket: the WebSocket protocol and TLS are ours */
    ci.local_protocol_name = "polyws";
    ci.pwsi = &c->lws_slot;
    transport_reset(c);
    pws__ws_reader_init(&c->rd, false, c->o.limits.max_frame_bytes);
    c->rd.reject_rsv = true; /* we offer no extension */
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
    struct lws *w = lws_client_connect_via_info(&ci);
    if (w && c->st == NET_CONNECTING)
        c->wsi = w;
    if (!w) {
        /* lws may already have reported CLIENT_CONNECTION_ERROR and moved us on */
        if (c->st == NET_CONNECTING) {
            c->wsi = NULL;
            ending(c, PWS_ERR_CONNECT, "cannot connect to %.120s:%d", c->host, c->port);
            connection_gone(c, "connect failed");
        }
    }
}

/* ----------------------------------------------------------- status logic */

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
 * the queue in order. */
static int parse_sink(const pws_event *ev, void *user)
{
    pws_connector *c = user;
    if (ev->type == PWS_EV_STATUS) {
        pws_event copy = *ev;
        copy.conn = c->conn_seq;
        copy.recv_us = c->frame_recv_us;
        push_control(c, &copy);
        on_status(c, &ev->u.status);
        return 0;
    }
    if (ev->type == PWS_EV_PARSE_ERROR) {
        pws_event copy = *ev;
        copy.conn = c->conn_seq;
        copy.recv_us = c->frame_recv_us;
        pws__log(&c->lg, PWS_LOG_WARN, "parse error at byte %zu of a %zu-byte frame: %s near \"%s\"",
                 ev->u.error.offset, ev->u.error.frame_len, ev->u.error.reason, ev->u.error.excerpt);
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

/* A complete data message arrived (data valid during the call). */
static void on_message(pws_connector *c, const unsigned char *data, size_t len, bool too_big, uint64_t total,
                       bool binary)
{
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
}

/* RFC 6455 7.4: the close codes a peer may send. */
static bool close_code_valid(int code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

/* The server's close frame: answer it (echoing a valid code) and close once
 * the answer is written. */
static void on_server_close(pws_connector *c, const unsigned char *p, size_t len)
{
    c->close_got = true;
    int code = len >= 2 ? (p[0] << 8) | p[1] : 1005;
    int answer = len >= 2 ? code : 0; /* no code: answer with none */
    const char *bad = NULL;
    if (len == 1) {
        bad = "close frame with a 1-byte payload";
        answer = 1002;
    } else if (len >= 2 && !close_code_valid(code)) {
        bad = "close frame with an invalid code";
        answer = 1002;
    } else if (len > 2 && !pws_utf8_valid((const char *)p + 2, len - 2)) {
        bad = "close reason not valid UTF-8";
        answer = 1007;
    }
    c->end_close_code = code;
    size_t rl = len > 2 ? len - 2 : 0;
    char reason[128] = "";
    for (size_t i = 0; i < rl && i < sizeof reason - 1; i++)
        reason[i] = (p[2 + i] >= 0x20 && p[2 + i] < 0x7f) ? (char)p[2 + i] : '?';
    ending(c, PWS_ERR_CLOSED, "server closed the connection (code %d%s%s%s%s)", code, rl ? ": " : "", reason,
           bad ? "; protocol error: " : "", bad ? bad : "");
    if (bad)
        pws__log(&c->lg, PWS_LOG_WARN, "protocol error from the server: %s (code %d): answering %d", bad, code,
                 answer);
    if (!c->close_sent) {
        c->close_sent = true;
        pws__link_compact(&c->link);
        unsigned char mask[4];
        if (RAND_bytes(mask, sizeof mask) != 1)
            memset(mask, 0x5a, sizeof mask);
        pws__ws_close_frame(&c->link.out, answer, bad ? "protocol error" : NULL, mask);
    }
    c->link.close_when_flushed = true;
    if (c->wsi) {
        lws_callback_on_writable(c->wsi);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    }
}

/* The frame reader's callback: one whole message or control frame. */
static void on_ws_message(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                          uint64_t total)
{
    pws_connector *c = user;
    if (c->close_got)
        return; /* nothing counts after the server's close frame */
    switch (opcode) {
    case PWS__OP_TEXT:
    case PWS__OP_BINARY:
        if (c->close_sent)
            return; /* closing: only the server's close frame matters */
        on_message(c, data, len, too_big, total, opcode == PWS__OP_BINARY);
        if (c->close_after_frame) {
            c->close_after_frame = false;
            begin_close(c, 1000, "bye");
        } else if (c->rx_paused) {
            c->rd.pause = true; /* block policy: not one more message until the queue has room */
        }
        break;
    case PWS__OP_PING:
        if (!c->close_sent)
            send_frame(c, PWS__OP_PONG, data, len);
        break;
    case PWS__OP_PONG:
        break; /* any frame proves the link alive (last_rx_us) */
    case PWS__OP_CLOSE:
        on_server_close(c, data, len);
        break;
    default:
        break;
    }
}

/* A protocol violation by the server: fail the connection with 1002. */
static void protocol_error(pws_connector *c, const char *what)
{
    ending(c, PWS_ERR_CLOSED, "protocol error from the server: %.200s", what);
    pws__log(&c->lg, PWS_LOG_WARN, "protocol error from the server: %s: closing with 1002", what);
    begin_close(c, 1002, "protocol error");
}

/* Frames bytes of the stream; while reads are paused they wait in stash.
 * Returns 0, or 1 when the reader paused (stop reading). */
static int feed_frames(pws_connector *c, const unsigned char *data, size_t len)
{
    if (c->stash.len || (c->rx_paused && !c->close_sent)) {
        if (pws__buf_put(&c->stash, data, len))
            protocol_error(c, "out of memory holding bytes while the delivery queue is full");
        return 1;
    }
    if (c->rd.dead || c->close_got)
        return 0; /* waiting for the end: discard */
    size_t used = 0;
    char err[200];
    c->in_reader = true;
    int rc = pws__ws_feed_some(&c->rd, data, len, on_ws_message, c, &used, err, sizeof err);
    c->in_reader = false;
    if (rc) {
        protocol_error(c, err);
        return 0;
    }
    if (c->close_sent && c->link.rx_paused)
        pws__link_set_rx(&c->link, true); /* closing: the server's answer is wanted */
    if (c->rd.pause) {
        c->rd.pause = false;
        if (used < len && pws__buf_put(&c->stash, data + used, len - used))
            protocol_error(c, "out of memory holding bytes while the delivery queue is full");
        return 1;
    }
    return 0;
}

/* The connection is a WebSocket now. */
static void on_established(pws_connector *c)
{
    c->upgraded = true;
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
    if (c->pend_len > c->pend_off && !c->rx_paused) {
        c->rx_paused = true; /* the last connection's blocked events still wait */
        pws__link_set_rx(&c->link, false);
    }
}

/* Checks the server's answer to the upgrade (RFC 6455 4.1). */
static int check_upgrade(pws_connector *c, size_t headlen)
{
    pws__http_head *h = malloc(sizeof *h);
    if (!h)
        return ending(c, PWS_ERR_NOMEM, "out of memory reading the upgrade response");
    char err[160], expect[32];
    int rc = 0;
    if (pws__http_parse(c->head.p, headlen, false, h, err, sizeof err)) {
        rc = ending(c, PWS_ERR_CONNECT, "bad upgrade response from %.100s: %s", c->host_header, err);
    } else if (h->status != 101) {
        rc = ending(c, PWS_ERR_CONNECT, "%.100s refused the WebSocket upgrade: HTTP %d %.80s",
                            c->host_header, h->status, h->reason);
    } else if (!pws__http_has_token(pws__http_get(h, "Upgrade"), "websocket") ||
               !pws__http_has_token(pws__http_get(h, "Connection"), "upgrade")) {
        rc = ending(c, PWS_ERR_CONNECT, "upgrade response lacks Upgrade: websocket / Connection: Upgrade");
    } else {
        pws__ws_accept(c->ws_key, expect);
        const char *acc = pws__http_get(h, "Sec-WebSocket-Accept");
        const char *ext = pws__http_get(h, "Sec-WebSocket-Extensions");
        const char *proto = pws__http_get(h, "Sec-WebSocket-Protocol");
        if (!acc || strcmp(acc, expect))
            rc = ending(c, PWS_ERR_CONNECT, "upgrade response has a wrong Sec-WebSocket-Accept");
        else if (ext && *ext)
            rc = ending(c, PWS_ERR_CONNECT, "server chose extension \"%.80s\", which we did not offer", ext);
        else if (proto && *proto)
            rc = ending(c, PWS_ERR_CONNECT, "server chose subprotocol \"%.80s\", which we did not offer",
                                proto);
    }
    free(h);
    return rc;
}

/* Plain bytes from the socket (after TLS): the upgrade response, then frames.
 * Returns 0, 1 when reading paused, -1 to close at once. */
static int on_plain(void *user, const unsigned char *data, size_t len)
{
    pws_connector *c = user;
    if (c->upgraded)
        return feed_frames(c, data, len);
    if (pws__buf_put(&c->head, data, len))
        return ending(c, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
    size_t hl = pws__http_head_len(c->head.p, c->head.len);
    if (!hl) {
        if (c->head.len > PWS__MAX_HEAD)
            return ending(c, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
        return 0;
    }
    if (check_upgrade(c, hl))
        return -1;
    lws_sul_cancel(&c->sul_timeout);
    on_established(c);
    /* frames that came with the head */
    pws__buf rest = c->head;
    memset(&c->head, 0, sizeof c->head);
    int rc = rest.len > hl ? feed_frames(c, (const unsigned char *)rest.p + hl, rest.len - hl) : 0;
    pws__buf_free(&rest);
    return rc;
}

/* Frames what waited while reads were paused, then reads the socket again
 * (unless the reader paused once more).  Never called inside the reader. */
static void read_on(pws_connector *c)
{
    if (!c->wsi)
        return;
    if (c->stash.len) {
        pws__buf held = c->stash;
        memset(&c->stash, 0, sizeof c->stash);
        int rc = feed_frames(c, (const unsigned char *)held.p, held.len);
        pws__buf_free(&held);
        if (rc)
            return; /* paused again */
    }
    if (c->link.ssl) {
        /* plaintext may wait inside the TLS session with no socket event to come */
        char err[200] = "";
        int rc = pws__link_rx(&c->link, NULL, 0, on_plain, c, NULL, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0) {
            ending(c, PWS_ERR_CLOSED, "%s", err);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return;
        }
    }
    pws__link_set_rx(&c->link, true);
}

/* Block policy: the queue has room again. */
static void resume_reading(pws_connector *c)
{
    read_on(c);
    drain_commands(c);
}

/* Sends the upgrade request (after TLS, if any, is up). */
static int send_upgrade(pws_connector *c)
{
    char req[PWS__MAX_URL + 512];
    pws__ws_new_key(c->ws_key);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: polyws/%s\r\n\r\n",
                     c->path, c->host_header, c->ws_key, PWS_VERSION_STRING);
    c->upgrade_sent = true;
    if (n < 0 || (size_t)n >= sizeof req || pws__link_send(&c->link, req, (size_t)n))
        return ending(c, PWS_ERR_CONNECT, "cannot build the upgrade request");
    return 0;
}

/* WRITEABLE: heartbeat ping, rate-limited actions, then one chunk out. */
static int on_writeable(pws_connector *c)
{
    if (!c->close_sent && c->upgraded) {
        if (c->ping_due) {
            c->ping_due = false;
            send_frame(c, PWS__OP_PING, NULL, 0);
        }
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
            if (send_frame(c, PWS__OP_TEXT, m->buf, m->len))
                return -1;
            STAT_ADD(c, actions_sent, 1);
            c->outq = m->next;
            if (!c->outq)
                c->outq_tail = NULL;
            c->outq_len--;
            if (m->is_auth) {
                c->wipe_out = true;
                OPENSSL_cleanse(m->buf, m->len);
            }
            free(m);
        }
    }
    int rc = pws__link_writeable(&c->link, c->scratch);
    if (c->wipe_out && !pws__link_pending(&c->link)) {
        /* the auth frame is out: no copy of it stays (scratch held one for lws_write) */
        OPENSSL_cleanse(c->link.out.p, c->link.out.cap);
        OPENSSL_cleanse(c->scratch, LWS_PRE + PWS__WRITE_CHUNK);
        c->wipe_out = false;
    }
    return rc;
}

/* ------------------------------------------------------- lws callback */

static int callback_polyws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pws_connector *c = ctx ? lws_context_user(ctx) : NULL;
    if (!c)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi != c->wsi && c->wsi)
            break;
        ending(c, PWS_ERR_CONNECT, "cannot connect to %.60s:%d: %.*s", c->host, c->port,
               in ? (int)(len < 150 ? len : 150) : 0, in ? (const char *)in : "");
        connection_gone(c, "connect failed");
        break;

    case LWS_CALLBACK_RAW_CONNECTED: {
        if (wsi != c->wsi && c->wsi)
            return -1;
        c->wsi = c->link.wsi = wsi;
        if (c->st != NET_CONNECTING)
            return -1;
        char err[200];
        if (c->tls) {
            if (pws__link_tls_start(&c->link, c->ssl_ctx, c->host, err, sizeof err))
                return ending(c, PWS_ERR_TLS, "%s", err);
        } else if (send_upgrade(c)) {
            return -1;
        }
        break;
    }

    case LWS_CALLBACK_RAW_RX: {
        if (wsi != c->wsi)
            return -1;
        c->last_rx_us = pws__mono_us();
        char err[200] = "";
        bool tls_up = false;
        int rc = pws__link_rx(&c->link, in, len, on_plain, c, &tls_up, err, sizeof err);
        if (rc < 0) {
            /* on_plain gave its reason already; otherwise it is TLS */
            if (c->upgraded)
                ending(c, PWS_ERR_CLOSED, "%s", err);
            else
                ending(c, PWS_ERR_TLS, "%s (connecting to %s)", err, c->host_header);
            return -1;
        }
        if (tls_up && !c->upgrade_sent && send_upgrade(c))
            return -1;
        drain_commands(c);
        break;
    }

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (wsi != c->wsi)
            return -1;
        return on_writeable(c);

    case LWS_CALLBACK_RAW_CLOSE:
        if (wsi == c->wsi)
            connection_gone(c, c->upgraded ? "connection lost: closed without a close frame"
                                           : "connection lost during the upgrade");
        break;

    case LWS_CALLBACK_WSI_DESTROY:
        /* a raw wsi killed before it connected (our connect timeout) may get
         * no CLIENT_CONNECTION_ERROR: this is the last word on it */
        if (wsi == c->wsi)
            connection_gone(c, c->st == NET_CONNECTING ? "connect failed" : "connection lost");
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stop_requested;
        bool space = c->space_ready;
        c->space_ready = false;
        pthread_mutex_unlock(&c->mu);
        if (space && c->pend_len > c->pend_off)
            push_pending(c);
        if (stop && !c->stopping) {
            c->stopping = true;
            if (c->wsi) {
                /* a reason already given (auth_failed, a server close) stays */
                end_connection(c, PWS_OK, true, 1000, "stopped by the application");
            } else {
                finish(c, PWS_OK);
            }
        } else {
            drain_commands(c);
        }
        break;
    }

    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"polyws", callback_polyws, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ------------------------------------------------------------- threads */

/* Queue callback (delivery thread): room again after a refusal. */
static void on_queue_space(void *user)
{
    pws_connector *c = user;
    pthread_mutex_lock(&c->mu);
    c->space_ready = true;
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
}

static void *deliver_main(void *arg)
{
    pws_connector *c = arg;
    size_t max = c->o.batch_max;
    pws_event one;
    pws_event *buf = malloc(max * sizeof *buf);
    if (!buf) {
        pws__log(&c->lg, PWS_LOG_ERROR, "out of memory for the delivery buffer: one event at a time");
        max = 1;
        buf = &one;
    }
    for (;;) {
        size_t n = pws__queue_pop(&c->q, buf, max, -1);
        if (n == 0)
            break;
        if (c->o.on_batch)
            c->o.on_batch(buf, n, c->o.user);
        else if (c->o.on_event)
            for (size_t i = 0; i < n; i++)
                c->o.on_event(&buf[i], c->o.user);
        if (c->table)
            for (size_t i = 0; i < n; i++)
                if (pws_table_apply(c->table, &buf[i]) == PWS_ERR_LIMIT)
                    pws__log(&c->lg, PWS_LOG_WARN, "keyed table full (%zu rows): %s not kept",
                             c->o.table_max_rows, pws_event_symbol(&buf[i]));
        STAT_ADD(c, delivered, n);
    }
    if (buf != &one)
        free(buf);
    return NULL;
}

/* Runs the network loop to the end; then the queue is closed. */
static void net_main(pws_connector *c)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = c;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.fd_limit_per_thread = 8; /* one connection plus lws' own pipes */
    info.timeout_secs = c->o.connect_timeout_ms / 1000 + 5;
    info.pt_serv_buf_size = PWS__READ_BUF;
    /* Our TLS runs on this SSL_CTX (link.c).  lws 4.1 would also build a
     * client SSL_CTX of its own for every context, load the whole trust store
     * into it and leak it at destroy; handed ours, it builds none. */
    char err[300];
    SSL_CTX *ssl_ctx = c->tls ? pws__client_ssl_ctx(c->ca_file, c->o.tls_insecure, err, sizeof err)
                              : SSL_CTX_new(TLS_client_method());
    c->scratch = malloc(LWS_PRE + PWS__WRITE_CHUNK);
    if (!ssl_ctx || !c->scratch) {
        if (ssl_ctx)
            snprintf(err, sizeof err, "out of memory");
        else if (!c->tls)
            snprintf(err, sizeof err, "tls: SSL_CTX_new failed");
        pws__log(&c->lg, PWS_LOG_ERROR, "%s", err);
        set_last_error(c, "%s", err);
        c->result = ssl_ctx ? PWS_ERR_NOMEM : PWS_ERR_TLS;
        SSL_CTX_free(ssl_ctx);
        free(c->scratch);
        c->scratch = NULL;
        emit_conn(c, PWS_CONN_FATAL, c->result, 0, 0, 0, c->last_error);
        emit_conn(c, PWS_CONN_STOPPED, c->result, 0, 0, 0, pws_strerror(c->result));
        pws__queue_close(&c->q);
        return;
    }
    c->ssl_ctx = ssl_ctx;
    info.provided_client_ssl_ctx = ssl_ctx;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        pws__log(&c->lg, PWS_LOG_ERROR, "cannot create the libwebsockets context%s",
                 c->ca_file ? " (is the CA file valid PEM?)" : "");
        set_last_error(c, "cannot create the libwebsockets context%s",
                       c->ca_file ? " (is the CA file valid PEM?)" : "");
        c->result = c->ca_file ? PWS_ERR_TLS : PWS_ERR_SYSTEM;
        emit_conn(c, PWS_CONN_FATAL, c->result, 0, 0, 0, c->last_error);
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
        lws_context_destroy(ctx);
    }
    transport_reset(c);
    c->ssl_ctx = NULL;
    SSL_CTX_free(ssl_ctx);
    free(c->scratch);
    c->scratch = NULL;
    emit_conn(c, PWS_CONN_STOPPED, c->result, 0, 0, 0,
              c->result ? pws_strerror(c->result) : "stopped");
    pws__queue_close(&c->q);
}

static int start_delivery(pws_connector *c)
{
    if (pthread_create(&c->deliver_thread, NULL, deliver_main, c) != 0) {
        set_last_error(c, "cannot start the delivery thread");
        return PWS_ERR_SYSTEM;
    }
    return PWS_OK;
}

int pws_run(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    pthread_mutex_lock(&c->mu);
    bool was = c->started;
    c->started = true;
    pthread_mutex_unlock(&c->mu);
    if (was)
        return PWS_ERR_STATE;
    int rc = start_delivery(c);
    if (rc)
        return rc;
    net_main(c);
    pthread_join(c->deliver_thread, NULL);
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_mutex_unlock(&c->mu);
    return c->result;
}

static void *net_thread_main(void *arg)
{
    pws_connector *c = arg;
    net_main(c);
    pthread_join(c->deliver_thread, NULL);
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

bool pws_finished(pws_connector *c)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    bool f = c->finished;
    pthread_mutex_unlock(&c->mu);
    return f;
}

int pws_start(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    pthread_mutex_lock(&c->mu);
    bool was = c->started;
    c->started = true;
    pthread_mutex_unlock(&c->mu);
    if (was)
        return PWS_ERR_STATE;
    int rc = start_delivery(c);
    if (rc)
        return rc;
    if (pthread_create(&c->net_thread, NULL, net_thread_main, c) != 0) {
        pws__queue_close(&c->q);
        pthread_join(c->deliver_thread, NULL);
        set_last_error(c, "cannot start the network thread");
        return PWS_ERR_SYSTEM;
    }
    c->net_thread_running = true;
    return PWS_OK;
}

int pws_stop(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    pthread_mutex_lock(&c->mu);
    c->stop_requested = true;
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
    return PWS_OK;
}

int pws_wait(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    if (!c->net_thread_running)
        return pws_finished(c) ? c->result : PWS_ERR_STATE;
    pthread_join(c->net_thread, NULL);
    c->net_thread_running = false;
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_mutex_unlock(&c->mu);
    return c->result;
}

/* ------------------------------------------------------ create / destroy */

static int fail(char *errbuf, size_t errcap, int rc, const char *fmt, ...) PWS__PRINTF(4, 5);

static int fail(char *errbuf, size_t errcap, int rc, const char *fmt, ...)
{
    if (errbuf && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int pws_create(const pws_options *opts, pws_connector **out, char *errbuf, size_t errcap)
{
    if (out)
        *out = NULL;
    if (!opts || !out)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "options and output pointer are required");
    if (!opts->url || !*opts->url)
        return fail(errbuf, errcap, PWS_ERR_URL, "no URL given");
    if (strlen(opts->url) > PWS__MAX_URL)
        return fail(errbuf, errcap, PWS_ERR_URL, "URL longer than %u bytes", PWS__MAX_URL);
    if (opts->on_event && opts->on_batch)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "set on_event or on_batch, not both");
    if ((unsigned)opts->overflow > PWS_OVERFLOW_DISCONNECT)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "unknown overflow policy %d", (int)opts->overflow);

    pws_connector *c = calloc(1, sizeof *c);
    if (!c)
        return fail(errbuf, errcap, PWS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    c->o = *opts;
    char err[512] = "";
    int rc = parse_url(c, opts->url, err, sizeof err);
    if (rc)
        goto bad;
    c->url = strdup(opts->url);
    if (!c->url) {
        rc = PWS_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto bad;
    }
    c->o.url = c->url;

    /* the key */
    if (opts->api_key) {
        size_t n = strlen(opts->api_key);
        if (n == 0 || n > PWS_MAX_KEY_LEN) {
            rc = PWS_ERR_KEY;
            snprintf(err, sizeof err, "API key is %s", n ? "longer than 256 bytes" : "empty");
            goto bad;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)opts->api_key[i];
            if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
                rc = PWS_ERR_KEY;
                snprintf(err, sizeof err, "API key holds characters a key cannot have");
                goto bad;
            }
        }
        memcpy(c->key, opts->api_key, n + 1);
    } else {
        rc = pws_load_key(opts->api_key_env, opts->api_key_file, c->key, sizeof c->key, err,
                          sizeof err);
        if (rc)
            goto bad;
    }
    c->o.api_key = NULL; /* never keep the caller's pointer */

    if (opts->ca_file) {
        FILE *f = fopen(opts->ca_file, "r");
        if (!f) {
            rc = PWS_ERR_TLS;
            snprintf(err, sizeof err, "cannot read CA file %.400s", opts->ca_file);
            goto bad;
        }
        fclose(f);
        c->ca_file = strdup(opts->ca_file);
        if (!c->ca_file) {
            rc = PWS_ERR_NOMEM;
            goto bad;
        }
        c->o.ca_file = c->ca_file;
    }

    c->ad = opts->adapter ? opts->adapter : pws_polygon_adapter();
    if (!c->ad->build_auth || !c->ad->build_subscription || !c->ad->parse) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "adapter %s lacks a required hook", c->ad->name ? c->ad->name : "?");
        goto bad;
    }
    c->o.adapter = c->ad;

    /* defaults */
    pws_options *o = &c->o;
    if (!o->connect_timeout_ms) o->connect_timeout_ms = 10000;
    if (!o->auth_timeout_ms) o->auth_timeout_ms = 10000;
    if (!o->ping_interval_ms) o->ping_interval_ms = 20000;
    if (!o->pong_timeout_ms) o->pong_timeout_ms = 20000;
    if (o->actions_per_sec < 0 || o->actions_per_sec > 1e6) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "actions_per_sec must be in 0..1000000");
        goto bad;
    }
    if (o->actions_per_sec == 0) o->actions_per_sec = 5;
    if (!o->action_burst) o->action_burst = 10;
    if (!o->max_action_bytes) o->max_action_bytes = PWS_DEFAULT_MAX_ACTION_BYTES;
    if (o->max_action_bytes < 64 || o->max_action_bytes > 1048576) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "max_action_bytes must be in 64..1048576");
        goto bad;
    }
    if (!o->queue_capacity) o->queue_capacity = PWS_DEFAULT_QUEUE_CAPACITY;
    if (o->queue_capacity > PWS__QUEUE_MAX_CAPACITY) {
        rc = PWS_ERR_LIMIT;
        snprintf(err, sizeof err, "queue_capacity %zu is above the limit of %u events",
                 o->queue_capacity, (unsigned)PWS__QUEUE_MAX_CAPACITY);
        goto bad;
    }
    if (!o->batch_max) o->batch_max = PWS_DEFAULT_BATCH_MAX;
    if (o->batch_max > 65536) o->batch_max = 65536;
    if (!o->limits.max_frame_bytes) o->limits.max_frame_bytes = PWS_DEFAULT_MAX_FRAME_BYTES;
    if (o->limits.max_frame_bytes > PWS__WS_MAX_MESSAGE) {
        rc = PWS_ERR_LIMIT;
        snprintf(err, sizeof err, "limits.max_frame_bytes %zu is above the limit of %u bytes (64 MiB)",
                 o->limits.max_frame_bytes, PWS__WS_MAX_MESSAGE);
        goto bad;
    }
    if (!o->limits.max_depth) o->limits.max_depth = PWS_DEFAULT_MAX_DEPTH;
    if (!o->table_max_rows) o->table_max_rows = PWS_DEFAULT_TABLE_MAX_ROWS;
    if (o->log_level == PWS_LOG_DEFAULT) o->log_level = PWS_LOG_WARN;
    if (pws__backoff_resolve(&o->backoff) != PWS_OK) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "invalid backoff options (factor >= 1, jitter <= 1, base <= cap)");
        goto bad;
    }
    pws__backoff_init(&c->bo, &o->backoff, (uint64_t)pws_now_us() ^ (uint64_t)(uintptr_t)c);

    c->lg.fn = o->log_fn;
    c->lg.user = o->log_user;
    c->lg.level = o->log_level;
    c->lg.secret = c->key;

    if (o->on_change) {
        pws_table_options to = {.key = o->table_key, .max_rows = o->table_max_rows,
                                .on_change = o->on_change, .user = o->table_user};
        rc = pws_table_create(&to, &c->table);
        if (rc) {
            snprintf(err, sizeof err, "cannot create the keyed table");
            goto bad;
        }
    }
    rc = pws__queue_init(&c->q, o->queue_capacity, o->overflow, on_queue_space, c);
    if (rc) {
        snprintf(err, sizeof err, "cannot create the delivery queue (%zu events): %s",
                 o->queue_capacity, pws_strerror(rc));
        pws_table_destroy(c->table);
        c->table = NULL;
        goto bad;
    }
    c->st_counters.last_message_age_ms = -1;
    if (c->tls && o->tls_insecure)
        pws__log(&c->lg, PWS_LOG_WARN,
                 "TLS certificate verification is OFF for %s: anyone on the path can read and "
                 "change the stream", c->url);
    *out = c;
    return PWS_OK;
bad:
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c->url);
    free(c->ca_file);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return fail(errbuf, errcap, rc, "%s", err[0] ? err : pws_strerror(rc));
}

void pws_destroy(pws_connector *c)
{
    if (!c)
        return;
    if (c->net_thread_running) {
        pws_stop(c);
        pws_wait(c);
    }
    pws__queue_free(&c->q);
    pws_table_destroy(c->table);
    outq_clear(c);
    while (c->cmds) {
        chan_cmd *n = c->cmds->next;
        free(c->cmds);
        c->cmds = n;
    }
    for (size_t i = 0; i < c->nchannels; i++)
        free(c->channels[i]);
    free(c->channels);
    if (c->pend)
        pend_release(c, c->pend_off, c->pend_len);
    free(c->pend);
    free(c->url);
    free(c->ca_file);
    OPENSSL_cleanse(c->key, sizeof c->key);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

#define LOAD(f) out->f = __atomic_load_n(&c->st_counters.f, __ATOMIC_RELAXED)

void pws_get_stats(pws_connector *c, pws_stats *out)
{
    if (!c || !out)
        return;
    memset(out, 0, sizeof *out);
    LOAD(frames);
    LOAD(bytes);
    for (int i = 0; i < PWS_EV__COUNT; i++)
        out->events[i] = __atomic_load_n(&c->st_counters.events[i], __ATOMIC_RELAXED);
    LOAD(parse_errors);
    LOAD(connects);
    LOAD(reconnects);
    LOAD(delivered);
    LOAD(actions_sent);
    LOAD(channels);
    LOAD(rx_paused);
    uint64_t own_drops = __atomic_load_n(&c->st_counters.dropped, __ATOMIC_RELAXED);
    uint64_t q_drops = 0;
    pws__queue_stats(&c->q, &out->queue_len, &out->queue_high_water, &q_drops);
    out->dropped = own_drops + q_drops;
    int64_t last = __atomic_load_n(&c->last_frame_wall_us, __ATOMIC_RELAXED);
    out->last_message_age_ms = last ? (pws__mono_us() - last) / 1000 : -1;
}

const char *pws_last_error(pws_connector *c)
{
    /* the buffer never moves; a concurrent writer can at worst give a torn
     * but NUL-terminated message, which the header allows */
    return c ? c->last_error : "";
}
