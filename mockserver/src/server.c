/*
 * server.c - the mock Polygon server: connections over the lws context and service
 * thread that wire/server.h starts.
 *
 * All connection state is touched only by the lws service thread (and by the
 * owner while it destroys the context after joining that thread).  The only
 * cross-thread traffic is the journal (its own mutex), two atomics, and
 * lws_cancel_service() from pwsm_stop().
 *
 * Writes follow the lws 4.1 rule: one lws_write per SERVER_WRITEABLE.  Each
 * connection has a bounded queue of control frames (statuses, raw frames,
 * pings) that goes first; stream frames are generated at write time, so a
 * slow client holds back the generator instead of growing a buffer.  With
 * slow_consumer_bytes the real-service stream is generated on the server's
 * clock instead, into a per-connection backlog bounded by that limit: past it
 * the client gets slow_consumer and is closed.
 *
 * A connection that plays a scenario script has an engine (engine.c) that
 * sequences its steps; this file implements the pwsm__conn_* functions the
 * engine acts through.  Without a script a connection serves like the real
 * service from the start; with one it serves during SERVE steps and after
 * the last step.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libwebsockets.h>

#include <polyws/mock.h>

#include "wire/clock.h"
#include "wire/server.h"

#include "engine.h"
#include "gen.h"
#include "journal.h"
#include "protocol.h"
#include "selfsigned.h"

#define DEFAULT_AUTH_TIMEOUT_MS 10000
#define DEFAULT_EVENTS_PER_SEC 100.0
#define DEFAULT_BATCH_MAX 10
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_MAX_MESSAGE 65536
#define DEFAULT_POLICY_CLOSE 1008
#define DEFAULT_JOURNAL_ENTRIES ((size_t)4 << 20)
#define DEFAULT_JOURNAL_BYTES ((size_t)256 << 20)
#define MAX_SECRETS 64           /* keys remembered for scrubbing the journal */
#define MAX_KEY_LEN 1024         /* longest key kept per connection for max_per_key accounting */
#define CLOSE_REASON_MAX 123     /* a close frame payload is at most 125 bytes, 2 for the code */
#define PING_PAYLOAD "pwsmock"
#define STALL_PEEK_US 20000      /* how often a stalled connection's unread bytes are looked at */
#define STALL_PEEK_MAX 65536     /* how many of them (frames beyond are not journaled) */
#define MAX_CHANNELS 4096        /* subscriptions remembered per connection (more are confirmed, not kept) */
#define CLOSE_ACK_SECS 5         /* after a code-less close frame, wait this long for the client's */
#define SC_WRITE_CHUNK (256u << 10) /* slow-consumer mode: backlog bytes written at once at most */
#define WS_HEADER_MAX 10            /* an unmasked server frame header: 2 + 8 length bytes */
/* Default texts that are ours (Polygon's are undocumented); see pwsm_texts. */
#define TEXT_UNKNOWN_ACTION "unknown action"
#define TEXT_NOT_JSON "invalid message: expected a JSON object with an action"
#define TEXT_INVALID_CHANNEL "invalid channel"
#define TEXT_RATE_LIMIT "rate limit exceeded"
/* Polygon's text for a channel outside the plan (seen in fixtures). */
#define TEXT_NOT_AUTHORIZED "not authorized"
/* The body of the 404 for a path that is no market. */
#define MARKET_404_BODY "no market at this path: use /stocks, /options, /forex, /crypto or /indices"

/* One queued control frame, with LWS_PRE headroom before the payload. */
typedef struct outframe {
    struct outframe *next;          /* FIFO link */
    size_t len;                     /* payload length */
    enum lws_write_protocol type;   /* LWS_WRITE_TEXT, _BINARY, _PING, _PONG or _RAW */
    unsigned char buf[];            /* LWS_PRE bytes, then the payload */
} outframe;

/* Per-connection state: lws allocates it zeroed as the protocol's per-session data. */
typedef struct pwsm__conn conn;
struct pwsm__conn {
    struct pwsm__conn *prev, *next; /* the server's list of live connections */
    pwsm_server *srv;               /* owner; NULL until ESTABLISHED completed */
    struct lws *wsi;                /* this connection */
    uint32_t ordinal;               /* 1-based, in handshake order */
    const pwsm_script *script;      /* scripts[ordinal-1] or the default script */
    lws_sorted_usec_list_t auth_sul;   /* auth_timeout */
    lws_sorted_usec_list_t stream_sul; /* next batch at events_per_sec */
    lws_sorted_usec_list_t ping_sul;   /* next server ping */
    lws_sorted_usec_list_t peek_sul;   /* STALL: journal client frames left unread in the socket */
    size_t peek_done;               /* STALL: bytes of the socket buffer already journaled */
    outframe *q_head, *q_tail;      /* control frames to send, in order */
    size_t q_bytes;                 /* their payload bytes, at most PWSM_MAX_OUT_QUEUE */
    unsigned char *rx;              /* message being reassembled from fragments */
    size_t rx_len, rx_cap;          /* its length and allocation, at most max_message */
    char *key;                      /* authenticated key (malloc'd), or NULL */
    bool authed;                    /* auth_success was sent */
    bool kicked;                    /* lost to a newer connection with the same key */
    bool raw_sent;                  /* script raw frames were queued */
    bool stream_on;                 /* a subscribe was processed: the stream may run */
    bool batch_due;                 /* the rate timer allows the next batch */
    bool timer_armed;               /* stream_sul is scheduled */
    bool stalled;                   /* STALL fault: no more reads or writes */
    bool fault_done;                /* the script fault fired */
    bool overflow;                  /* the control queue overflowed: close 1011 */
    bool close_pending;             /* close with close_code once the queue drained */
    bool sent_close, peer_closed;   /* a close frame went out / came in */
    bool dropped;                   /* DROP fault */
    int close_code;                 /* for close_pending */
    char close_reason[CLOSE_REASON_MAX + 1]; /* for close_pending */
    uint64_t events_sent;           /* streamed events */
    pwsm__gen gen;                  /* this connection's stream */
    unsigned char *frame;           /* LWS_PRE + one stream frame, grown to the largest batch */
    size_t frame_cap;               /* allocated bytes of frame after LWS_PRE */
    /* --- scenario playback and the newer server features --- */
    pwsm__engine engine;            /* plays the connection's script (if scripted) */
    bool scripted;                  /* a script with steps drives this connection */
    bool serving;                   /* real-service streaming and auth timeout (always without a script) */
    bool barrier;                   /* call pwsm__engine_drained once the queue is empty */
    bool raw_close;                 /* a code-less close frame went out raw: the client's close ends it */
    lws_sorted_usec_list_t engine_sul; /* the engine's timer */
    bool sstream;                   /* a STREAM step is streaming ... */
    pwsm__gen *sgen;                /* ... from this generator (&gen or &xgen) ... */
    uint64_t sstream_left;          /* ... this many more events ... */
    uint32_t sstream_batch;         /* ... in frames of this many ... */
    double sstream_rate;            /* ... at this many events/s (<= 0: as fast as the client reads) */
    pwsm__gen xgen;                 /* generator of a STREAM step with its own channels or seed */
    bool xgen_ready;                /* xgen is initialized (free it) */
    char **subs;                    /* subscribed channels (malloc'd strings), at most MAX_CHANNELS */
    size_t nsubs, capsubs;
    int64_t *rate_ring;             /* times (ms) of the last rate_actions accepted actions, a ring */
    uint32_t rate_head, rate_n;     /* index of the oldest, and how many are held */
    uint32_t peeked_msgs, peeked_pongs; /* STALL: client frames journaled from the socket buffer ... */
    bool peeked_close;
    uint32_t skip_msgs, skip_pongs; /* ... and, after the stall, not journaled again when lws delivers them */
    bool skip_close;
    /* --- markets and slow consumers --- */
    pwsm__market market;            /* from the request path: which channels a subscribe accepts */
    outframe *b_head, *b_tail;      /* slow-consumer mode: generated stream frames not yet written */
    size_t b_bytes;                 /* their payload bytes, at most slow_consumer_bytes + one tick */
    size_t lws_held;                /* bytes of the last write lws kept to send later (counted whole) */
    bool sc_tripped;                /* slow_consumer was sent: no more stream */
    unsigned char *wbuf;            /* LWS_PRE + SC_WRITE_CHUNK: backlog frames framed for one write */
};

struct pwsm_server {
    pwsm_options o;                 /* options with defaults applied; strings point into owned */
    char **owned;                   /* copies of the caller's strings, freed at stop */
    size_t nowned, capowned;
    struct lws_protocols protocols[2]; /* ours, then the terminator */
    pws__server sv;                 /* lws context, vhost, port, URL and the service thread */
    atomic_uint accepted;           /* highest ordinal handed out */
    const char *ca_file;            /* generated cert or cert_file, NULL without tls */
    pwsm__selfsigned ss;            /* generated cert files (ss.dir empty if none) */
    pwsm__journal journal;
    bool journal_ready;
    conn *conns;                    /* live connections, newest first (service thread) */
    uint32_t live;                  /* their number */
    pwss_scenario scenario;         /* our copy of the scripts of o.scenario (scripts only) */
    bool has_scenario;              /* o.scenario was given */
    char *secrets[MAX_SECRETS];     /* strings scrubbed from client frames in the journal */
    size_t nsecrets;
    pwsm__plan plan;                /* markets and event types the keys may use (o.plan_*) */
};

/* ---------------------------------------------------------------- options */

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

static int apply_options(pwsm_server *s, const pwsm_options *in, char *err, size_t errcap)
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
    if (!o->max_per_key)
        o->max_per_key = 1;
    if (!o->seed)
        o->seed = 1;
    if (o->events_per_sec != o->events_per_sec) {
        snprintf(err, errcap, "events_per_sec is NaN");
        return -1;
    }
    if (o->events_per_sec == 0)
        o->events_per_sec = DEFAULT_EVENTS_PER_SEC;
    if (!o->batch_max)
        o->batch_max = DEFAULT_BATCH_MAX;
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
        ok = keep(s, &o->keys[i]);
        if (ok && s->nsecrets < MAX_SECRETS)
            s->secrets[s->nsecrets++] = (char *)o->keys[i];
    }
    for (uint32_t i = 0; ok && i < o->nscripts; i++)
        ok = keep_script(s, &o->scripts[i]);
    if (!ok) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

static bool key_accepted(const pwsm_server *s, const char *key)
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
static void remember_secret(pwsm_server *s, const char *key)
{
    if (!key || strlen(key) < PWSM__SECRET_MIN || s->nsecrets >= MAX_SECRETS)
        return;
    for (size_t i = 0; i < s->nsecrets; i++)
        if (strcmp(s->secrets[i], key) == 0)
            return;
    if (keep(s, &key))
        s->secrets[s->nsecrets++] = (char *)key;
}

/* ---------------------------------------------------------------- journal helpers */

static void record(conn *c, char dir, const char *kind, const void *data, size_t len)
{
    pwsm__journal_add(&c->srv->journal, c->ordinal, dir, kind, data, len, 0, NULL);
}

/* Records a frame the server sends, scrubbed of secrets: a channel named after a key is
 * echoed in confirmations and even streamed as a symbol. */
static void record_sent(conn *c, const char *kind, const void *data, size_t len)
{
    pwsm_server *s = c->srv;
    char *clean = NULL;
    size_t clen = 0;
    int rc = pwsm__scrub(data, len, s->secrets, s->nsecrets, &clean, &clen);
    if (rc == 0)
        record(c, 's', kind, data, len);
    else if (rc > 0)
        record(c, 's', kind, clean, clen);
    else
        record(c, 's', kind, "*** (out of memory while redacting)", 35);
    free(clean);
}

static void record_str(conn *c, char dir, const char *kind, const char *text)
{
    record(c, dir, kind, text, strlen(text));
}

/* Records a frame written raw as lowercase hex (kind "raw"): the bytes are a whole WebSocket
 * frame, header included, and need not be text of any kind. */
static void record_raw(conn *c, const unsigned char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc(2 * len + 1);
    if (!hex) {
        record_str(c, 's', "raw", "*** (out of memory)");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[data[i] >> 4];
        hex[2 * i + 1] = digits[data[i] & 15];
    }
    hex[2 * len] = '\0';
    record(c, 's', "raw", hex, 2 * len);
    free(hex);
}

/* The journal kind of a frame we queue. */
static const char *frame_kind(enum lws_write_protocol type)
{
    switch (type) {
    case LWS_WRITE_BINARY:
        return "binary";
    case LWS_WRITE_PING:
        return "ping";
    case LWS_WRITE_PONG:
        return "pong";
    default:
        return "text";
    }
}

/* Records a data frame from the client, redacted (see pwsm__redact). */
static void record_received(conn *c, bool binary, const char *data, size_t len)
{
    pwsm_server *s = c->srv;
    size_t jlen = 0;
    char *redacted = pwsm__redact(data, len, binary, s->secrets, s->nsecrets, &jlen);
    if (redacted)
        record(c, 'c', binary ? "binary" : "text", redacted, jlen);
    else
        record_str(c, 'c', binary ? "binary" : "text", "*** (out of memory while redacting)");
    free(redacted);
}

/* ---------------------------------------------------------------- output queue */

static void enqueue(conn *c, enum lws_write_protocol type, const char *data, size_t len)
{
    if (c->overflow)
        return;
    if (!data || c->q_bytes + len > PWSM_MAX_OUT_QUEUE) {
        c->overflow = true; /* also on OOM upstream (data == NULL) */
        return;
    }
    outframe *f = malloc(sizeof *f + LWS_PRE + len + 1);
    if (!f) {
        c->overflow = true;
        return;
    }
    f->next = NULL;
    f->len = len;
    f->type = type;
    memcpy(f->buf + LWS_PRE, data, len);
    f->buf[LWS_PRE + len] = '\0';
    if (c->q_tail)
        c->q_tail->next = f;
    else
        c->q_head = f;
    c->q_tail = f;
    c->q_bytes += len;
}

static void enqueue_status(conn *c, const char *status, const char *message)
{
    size_t len = 0;
    char *frame = pwsm__status_frame(status, message ? message : pwsm__status_text(status), &len);
    enqueue(c, LWS_WRITE_TEXT, frame, len);
    free(frame);
}

static void queue_free(conn *c)
{
    while (c->q_head) {
        outframe *f = c->q_head;
        c->q_head = f->next;
        free(f);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
}

/* Arranges a close once the queued frames went out. */
static void close_after_queue(conn *c, int code, const char *reason)
{
    if (c->close_pending)
        return;
    c->close_pending = true;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
    lws_callback_on_writable(c->wsi);
}

/* Sends the close frame now; the caller returns -1 from the callback. */
static int close_now(conn *c, int code, const char *reason)
{
    if (c->sent_close)
        return -1; /* once: lws may ask for WRITEABLE again while it sends ours */
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > CLOSE_REASON_MAX)
        rlen = CLOSE_REASON_MAX;
    char r[CLOSE_REASON_MAX + 1];
    memcpy(r, reason ? reason : "", rlen);
    r[rlen] = '\0';
    pwsm__journal_add(&c->srv->journal, c->ordinal, 's', "close", NULL, 0, code, r);
    lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)r, rlen);
    c->sent_close = true;
    return -1;
}

/* ---------------------------------------------------------------- stream pacing */

static void sc_generate(conn *c);

/* Slow-consumer mode: the real-service stream is generated on the server's clock. */
static bool sc_mode(const conn *c)
{
    return c->srv->o.slow_consumer_bytes != 0;
}

static void stream_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, stream_sul);
    c->timer_armed = false;
    if (sc_mode(c) && !c->sstream) {
        sc_generate(c);
        return;
    }
    c->batch_due = true;
    lws_callback_on_writable(c->wsi);
}

/* The next batch after events / rate seconds (rate > 0; rate < 0: at the next loop turn). */
static void stream_arm(conn *c, uint32_t events, double rate)
{
    double us = rate < 0 ? 1 : (double)events * 1e6 / rate;
    if (us < 1)
        us = 1;
    if (us > 3600e6)
        us = 3600e6;
    c->timer_armed = true;
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->stream_sul, stream_timer_cb, (lws_usec_t)us);
}

/* Called when the subscription set may have changed: (re)starts the stream. */
static void stream_kick(conn *c)
{
    if (!c->stream_on || c->stalled || !c->serving || c->sstream || c->sc_tripped)
        return;
    if (sc_mode(c)) {
        /* the generator runs on its timer, whether or not the client reads */
        if (!c->timer_armed)
            stream_arm(c, 1, c->srv->o.events_per_sec);
        return;
    }
    if (c->srv->o.events_per_sec < 0)
        c->batch_due = true;
    else if (!c->batch_due && !c->timer_armed)
        stream_arm(c, 1, c->srv->o.events_per_sec);
    lws_callback_on_writable(c->wsi);
}

/* Stops the pacing of whichever stream ran. */
static void stream_pause(conn *c)
{
    lws_sul_cancel(&c->stream_sul);
    c->timer_armed = false;
    c->batch_due = false;
}

static void ping_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, ping_sul);
    if (c->stalled || c->close_pending || c->sent_close)
        return;
    enqueue(c, LWS_WRITE_PING, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
    lws_callback_on_writable(c->wsi);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->ping_sul, ping_timer_cb,
                     (lws_usec_t)c->srv->o.ping_interval_ms * 1000);
}

static void auth_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, auth_sul);
    if (c->authed || c->close_pending || c->stalled)
        return;
    enqueue_status(c, "auth_timeout", NULL);
    close_after_queue(c, c->srv->o.policy_close_code, NULL);
}

static void auth_timer_arm(conn *c)
{
    lws_sul_cancel(&c->auth_sul);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->auth_sul, auth_timer_cb,
                     (lws_usec_t)c->srv->o.auth_timeout_ms * 1000);
}

static void engine_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, engine_sul);
    pwsm__engine_timer(&c->engine);
}

/* ---------------------------------------------------------------- client messages */

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
    enqueue_status(c, "max_connections", NULL);
    close_after_queue(c, c->srv->o.policy_close_code, NULL);
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
        /* Undocumented upstream: we simply confirm again and keep the first key. */
        enqueue_status(c, "auth_success", s->o.texts.repeated_auth);
        return true;
    }
    if (c->script->reject_auth || !key_accepted(s, key)) {
        enqueue_status(c, "auth_failed", NULL);
        close_after_queue(c, s->o.policy_close_code, NULL);
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
    enqueue_status(c, "auth_success", NULL);
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
    if (!on || c->nsubs >= MAX_CHANNELS)
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
        enqueue_status(c, "auth_required", t->auth_required);
        return;
    }
    const char *cursor = params ? params : "", *ch;
    size_t n;
    while ((n = pwsm__next_channel(&cursor, &ch)) > 0) {
        pwsm__chan kind = force ? PWSM__CHAN_OK : pwsm__plan_check(&c->srv->plan, c->market, ch, n);
        if (kind != PWSM__CHAN_OK) {
            enqueue_status(c, "error", kind == PWSM__CHAN_MALFORMED ? t->invalid_channel : t->not_authorized);
            continue;
        }
        pwsm__gen_channel(&c->gen, ch, n, on);
        subs_update(c, ch, n, on);
        size_t len = 0;
        char *frame = pwsm__status_frame2("success", on ? "subscribed to: " : "unsubscribed to: ", ch, n,
                                          &len);
        enqueue(c, LWS_WRITE_TEXT, frame, len);
        free(frame);
        if (on && !c->raw_sent) {
            c->raw_sent = true;
            for (int i = 0; i < PWSM_MAX_RAW_FRAMES && c->script->raw_frames[i]; i++)
                enqueue(c, LWS_WRITE_TEXT, c->script->raw_frames[i], strlen(c->script->raw_frames[i]));
        }
        if (on)
            c->stream_on = true;
    }
    stream_kick(c);
}

/* The action rate limit: true if one more action fits, i.e. fewer than rate_actions accepted
 * ones lie in the last rate_window_ms (a sliding window over a ring of their times, O(1)
 * per action, rate_actions * 8 bytes per connection, allocated on the first action).
 * Refused actions are not counted. */
static bool rate_allows(conn *c)
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
static void serve_message(conn *c, const pwsm__msg *m)
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
        enqueue_status(c, "error", c->srv->o.texts.unknown_action);
        break;
    case PWSM__ACT_INVALID:
        enqueue_status(c, "error", c->srv->o.texts.not_json);
        break;
    }
}

static bool conn_open(const conn *c)
{
    return !c->close_pending && !c->sent_close && !c->kicked && !c->dropped && !c->overflow;
}

static void handle_message(conn *c, bool binary)
{
    pwsm_server *s = c->srv;
    const char *text = (const char *)c->rx;
    pwsm__msg m = {PWSM__ACT_INVALID, NULL};
    if (!binary) {
        m = pwsm__msg_parse(text, c->rx_len);
        if (m.action == PWSM__ACT_AUTH)
            remember_secret(s, m.params);
    }
    size_t jlen = 0;
    char *redacted = pwsm__redact(text, c->rx_len, binary, s->secrets, s->nsecrets, &jlen);
    if (c->skip_msgs)
        c->skip_msgs--; /* journaled from the socket buffer during a STALL */
    else if (redacted)
        record(c, 'c', binary ? "binary" : "text", redacted, jlen);
    else
        record_str(c, 'c', binary ? "binary" : "text", "*** (out of memory while redacting)");
    if (c->scripted && redacted)
        pwsm__engine_note_rx(&c->engine, binary, redacted, jlen);
    free(redacted);

    if (binary || !conn_open(c) || c->stalled) {
        pwsm__msg_free(&m);
        return; /* binary frames are journaled and otherwise ignored */
    }
    if (!rate_allows(c)) {
        enqueue_status(c, "error", s->o.texts.rate_limit);
        if (s->o.rate_close)
            close_after_queue(c, s->o.policy_close_code, NULL);
    } else if (!(c->scripted && pwsm__engine_message(&c->engine, &m, text, c->rx_len))) {
        serve_message(c, &m);
    }
    pwsm__msg_free(&m);
    lws_callback_on_writable(c->wsi);
}

static int on_receive(conn *c, const void *in, size_t len)
{
    pwsm_server *s = c->srv;
    if (lws_is_first_fragment(c->wsi))
        c->rx_len = 0;
    if (c->rx_len + len > s->o.max_message)
        return close_now(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
    if (c->rx_len + len + 1 > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 1024;
        while (cap < c->rx_len + len + 1)
            cap *= 2;
        if (cap > (size_t)s->o.max_message + 1)
            cap = (size_t)s->o.max_message + 1;
        unsigned char *p = realloc(c->rx, cap);
        if (!p)
            return close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        c->rx = p;
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    c->rx[c->rx_len] = '\0';
    if (lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0) {
        handle_message(c, lws_frame_is_binary(c->wsi) != 0);
        c->rx_len = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- faults and writes */

/* STALL keeps the client's frames unread in the kernel buffer (that is what makes its pings
 * go unanswered).  To still journal them, peek at that buffer without consuming it and
 * record the frames past the ones recorded before.  lws had processed everything it read
 * when the stall began (it starts from WRITEABLE), so the buffer starts at a frame. */
static void stall_peek_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, peek_sul);
    unsigned char *buf = malloc(STALL_PEEK_MAX);
    ssize_t n = buf ? recv(lws_get_socket_fd(c->wsi), buf, STALL_PEEK_MAX, MSG_PEEK | MSG_DONTWAIT) : -1;
    size_t off = 0;
    pwsm__wsframe f;
    while (n > 0 && off < (size_t)n &&
           pwsm__ws_client_frame(buf + off, (size_t)n - off, STALL_PEEK_MAX, &f) == 1) {
        unsigned char *p = buf + off + f.header;
        if (off >= c->peek_done) {
            for (size_t i = 0; i < f.payload; i++)
                p[i] ^= f.mask[i % 4];
            if (f.opcode == 1 || f.opcode == 2 || f.opcode == 0) {
                record_received(c, f.opcode == 2, (const char *)p, f.payload);
                if (f.fin)
                    c->peeked_msgs++;
            } else if (f.opcode == 8) {
                char r[CLOSE_REASON_MAX + 1] = "";
                if (f.payload > 2)
                    snprintf(r, sizeof r, "%.*s", (int)(f.payload - 2), (const char *)p + 2);
                pwsm__journal_add(&c->srv->journal, c->ordinal, 'c', "close", NULL, 0,
                                  f.payload >= 2 ? (p[0] << 8 | p[1]) : 0, r);
                c->peeked_close = true;
            } else {
                record(c, 'c', f.opcode == 9 ? "ping" : "pong", p, f.payload);
                if (f.opcode == 10)
                    c->peeked_pongs++;
            }
        }
        off += f.header + f.payload;
    }
    if (off > c->peek_done)
        c->peek_done = off;
    free(buf);
    if (n != 0) /* 0: the client is gone, nothing more will come */
        lws_sul_schedule(lws_get_context(c->wsi), 0, &c->peek_sul, stall_peek_cb, STALL_PEEK_US);
}

/* Stops (on) or resumes reading and writing.  Stalled, lws reads nothing, so client pings go
 * unanswered; on plain ws the frames piling up are journaled by peeking at the socket, and
 * after a resume the same frames, now delivered by lws, are not journaled twice (lws
 * answers the pings then, late, without telling us). */
static void stall_set(conn *c, bool on)
{
    if (on == c->stalled)
        return;
    c->stalled = on;
    if (on) {
        stream_pause(c);
        lws_sul_cancel(&c->ping_sul);
        lws_sul_cancel(&c->auth_sul);
        lws_rx_flow_control(c->wsi, 0);
        c->peek_done = 0;
        c->peeked_msgs = c->peeked_pongs = 0;
        c->peeked_close = false;
        if (!lws_is_ssl(c->wsi))
            lws_sul_schedule(lws_get_context(c->wsi), 0, &c->peek_sul, stall_peek_cb, STALL_PEEK_US);
        return;
    }
    lws_sul_cancel(&c->peek_sul);
    c->skip_msgs = c->peeked_msgs;
    c->skip_pongs = c->peeked_pongs;
    c->skip_close = c->peeked_close;
    lws_rx_flow_control(c->wsi, 1);
    if (c->srv->o.ping_interval_ms)
        lws_sul_schedule(lws_get_context(c->wsi), 0, &c->ping_sul, ping_timer_cb,
                         (lws_usec_t)c->srv->o.ping_interval_ms * 1000);
    if (c->sstream)
        c->batch_due = true;
    else
        stream_kick(c);
    lws_callback_on_writable(c->wsi);
}

static int run_fault(conn *c)
{
    const pwsm_script *sc = c->script;
    c->fault_done = true;
    switch (sc->fault) {
    case PWSM_FAULT_DROP:
        record_str(c, '-', "fault", "drop");
        c->dropped = true;
        /* No close frame: the FIN goes out now, and lws' own close frame (sent as we
         * return -1) hits the shut-down socket and is lost. */
        shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
        return -1;
    case PWSM_FAULT_CLOSE:
        record_str(c, '-', "fault", "close");
        return close_now(c, sc->close_code ? sc->close_code : LWS_CLOSE_STATUS_NORMAL, sc->close_reason);
    case PWSM_FAULT_STALL:
        record_str(c, '-', "fault", "stall");
        stall_set(c, true);
        return 0;
    case PWSM_FAULT_STATUS_CLOSE: {
        const char *status = sc->status ? sc->status : "force_disconnect";
        record_str(c, '-', "fault", "status_close");
        enqueue_status(c, status, sc->status_message);
        close_after_queue(c, c->srv->o.policy_close_code, NULL);
        return 0;
    }
    case PWSM_FAULT_NONE:
        break;
    }
    return 0;
}

static bool fault_due(const conn *c)
{
    return c->script->fault != PWSM_FAULT_NONE && !c->fault_done &&
           c->events_sent >= c->script->after_events;
}

/* Room for a frame of n events after LWS_PRE; false on OOM. */
static bool frame_reserve(conn *c, uint32_t n)
{
    size_t need = (size_t)n * (PWSM__EVENT_MAX + 1) + 3;
    if (c->frame && c->frame_cap >= need)
        return true;
    unsigned char *p = realloc(c->frame, LWS_PRE + need);
    if (!p)
        return false;
    c->frame = p;
    c->frame_cap = need;
    return true;
}

/* A STREAM step ended (why: NULL, or why early). */
static void sstream_end(conn *c, const char *why)
{
    c->sstream = false;
    stream_pause(c);
    lws_callback_on_writable(c->wsi);
    pwsm__engine_stream_done(&c->engine, why);
}

/* One batch of a STREAM step: exactly its batch size (the last one may be smaller). */
static int write_sstream(conn *c)
{
    if (!c->batch_due)
        return 0;
    if (pwsm__gen_active(c->sgen) == 0) {
        sstream_end(c, "nothing left to stream: the subscriptions it streamed were dropped");
        return 0;
    }
    uint32_t n = c->sstream_left < c->sstream_batch ? (uint32_t)c->sstream_left : c->sstream_batch;
    if (!frame_reserve(c, n))
        return close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    size_t len = pwsm__gen_frame(c->sgen, n, (char *)c->frame + LWS_PRE, c->frame_cap);
    if (!len)
        return 0;
    record_sent(c, "text", c->frame + LWS_PRE, len);
    if (lws_write(c->wsi, c->frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    c->events_sent += n;
    c->sstream_left -= n;
    c->batch_due = false;
    if (!c->sstream_left) {
        sstream_end(c, NULL);
    } else if (c->sstream_rate <= 0) {
        c->batch_due = true;
        lws_callback_on_writable(c->wsi);
    } else {
        stream_arm(c, n, c->sstream_rate);
    }
    return 0;
}

/* Draws the size of the next real-service batch, 1..batch_max events cut to stream_limit
 * and to a script fault's after_events. */
static uint32_t stream_next_n(conn *c)
{
    pwsm_server *s = c->srv;
    uint32_t n = pwsm__gen_batch_size(&c->gen, s->o.batch_max);
    if (s->o.stream_limit && c->events_sent + n > s->o.stream_limit)
        n = (uint32_t)(s->o.stream_limit - c->events_sent);
    if (c->script->fault != PWSM_FAULT_NONE && !c->fault_done &&
        c->events_sent + n > c->script->after_events)
        n = (uint32_t)(c->script->after_events - c->events_sent);
    return n;
}

/* What lws keeps of a write it could not send at once (it calls WRITEABLE again only once
 * it sent that): the whole write, an upper bound. */
static void note_written(conn *c, size_t len)
{
    c->lws_held = lws_partial_buffered(c->wsi) ? len : 0;
}

/* One batch of the real-service stream: 1..batch_max events. */
static int write_stream(conn *c)
{
    pwsm_server *s = c->srv;
    if (s->o.stream_limit && c->events_sent >= s->o.stream_limit)
        return 0;
    if (!c->batch_due || pwsm__gen_active(&c->gen) == 0)
        return 0; /* a timer or a subscribe will ask again */
    uint32_t n = stream_next_n(c);
    if (!frame_reserve(c, s->o.batch_max))
        return close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    size_t len = pwsm__gen_frame(&c->gen, n, (char *)c->frame + LWS_PRE, c->frame_cap);
    if (!len)
        return 0;
    record_sent(c, "text", c->frame + LWS_PRE, len);
    if (lws_write(c->wsi, c->frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    c->events_sent += n;
    c->batch_due = false;
    if (fault_due(c)) {
        lws_callback_on_writable(c->wsi);
    } else if (s->o.stream_limit && c->events_sent >= s->o.stream_limit) {
        /* done streaming */
    } else if (s->o.events_per_sec < 0) {
        c->batch_due = true;
        lws_callback_on_writable(c->wsi);
    } else {
        stream_arm(c, n, s->o.events_per_sec);
    }
    return 0;
}

/* ---------------------------------------------------------------- slow consumers */

static void backlog_free(conn *c)
{
    while (c->b_head) {
        outframe *f = c->b_head;
        c->b_head = f->next;
        free(f);
    }
    c->b_tail = NULL;
    c->b_bytes = 0;
}

/* The unread backlog: generated stream frames not written yet, queued control frames and
 * what lws holds of the last write.  The kernel's socket buffers are not seen. */
static uint64_t sc_backlog(const conn *c)
{
    return (uint64_t)c->b_bytes + c->q_bytes + c->lws_held;
}

/* Over the limit: the backlog is dropped, slow_consumer goes out next and the connection is
 * closed once the client has read up to it, or dropped if it reads nothing more. */
static void slow_consumer_trip(conn *c)
{
    c->sc_tripped = true;
    stream_pause(c);
    backlog_free(c);
    record_str(c, '-', "fault", "slow_consumer");
    enqueue_status(c, "slow_consumer", c->srv->o.texts.slow_consumer);
    close_after_queue(c, c->srv->o.policy_close_code, NULL);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWSM_SLOW_CONSUMER_GRACE_S);
}

/* The stream timer in slow-consumer mode: checks the unread backlog, then generates the batch
 * that is due into it, whether or not the client reads (at rate max: one batch per service-loop
 * turn).  The frame just made does not count against the limit until the next turn. */
static void sc_generate(conn *c)
{
    pwsm_server *s = c->srv;
    if (!conn_open(c) || c->sc_tripped || c->stalled || !c->serving || !c->stream_on)
        return;
    if (sc_backlog(c) > s->o.slow_consumer_bytes) {
        slow_consumer_trip(c);
        lws_callback_on_writable(c->wsi);
        return;
    }
    lws_callback_on_writable(c->wsi);
    if ((s->o.stream_limit && c->events_sent >= s->o.stream_limit) || pwsm__gen_active(&c->gen) == 0 ||
        fault_due(c))
        return; /* a subscribe (stream_kick) or the fault's end starts it again */
    uint32_t n = stream_next_n(c);
    if (!frame_reserve(c, s->o.batch_max)) {
        c->overflow = true; /* out of memory: closed 1011 from WRITEABLE */
        return;
    }
    size_t len = pwsm__gen_frame(&c->gen, n, (char *)c->frame + LWS_PRE, c->frame_cap);
    if (!len)
        return;
    outframe *f = malloc(sizeof *f + LWS_PRE + len + 1);
    if (!f) {
        c->overflow = true;
        return;
    }
    f->next = NULL;
    f->len = len;
    f->type = LWS_WRITE_TEXT;
    memcpy(f->buf + LWS_PRE, c->frame + LWS_PRE, len);
    if (c->b_tail)
        c->b_tail->next = f;
    else
        c->b_head = f;
    c->b_tail = f;
    c->b_bytes += len;
    c->events_sent += n;
    stream_arm(c, n, s->o.events_per_sec);
}

/* Writes an unmasked text frame header for a payload of len bytes; returns its size. */
static size_t ws_text_header(unsigned char *p, size_t len)
{
    p[0] = 0x81; /* FIN | text */
    if (len < 126) {
        p[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        p[1] = 126;
        p[2] = (unsigned char)(len >> 8);
        p[3] = (unsigned char)len;
        return 4;
    }
    p[1] = 127;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* Slow-consumer mode: writes the oldest backlog frames, several in one write (framed here and
 * written as LWS_WRITE_RAW) up to SC_WRITE_CHUNK bytes, so a client that reads drains the
 * backlog faster than even rate max fills it. */
static int write_backlog(conn *c)
{
    outframe *f = c->b_head;
    if (!f->next || f->len + WS_HEADER_MAX > SC_WRITE_CHUNK) {
        c->b_head = f->next;
        if (!c->b_head)
            c->b_tail = NULL;
        c->b_bytes -= f->len;
        record_sent(c, "text", f->buf + LWS_PRE, f->len);
        int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        size_t len = f->len;
        free(f);
        if (n < (int)len)
            return -1;
        note_written(c, len);
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (!c->wbuf && !(c->wbuf = malloc(LWS_PRE + SC_WRITE_CHUNK)))
        return close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    unsigned char *out = c->wbuf + LWS_PRE;
    size_t total = 0;
    while ((f = c->b_head) && total + WS_HEADER_MAX + f->len <= SC_WRITE_CHUNK) {
        total += ws_text_header(out + total, f->len);
        memcpy(out + total, f->buf + LWS_PRE, f->len);
        total += f->len;
        record_sent(c, "text", f->buf + LWS_PRE, f->len);
        c->b_head = f->next;
        if (!c->b_head)
            c->b_tail = NULL;
        c->b_bytes -= f->len;
        free(f);
    }
    if (lws_write(c->wsi, out, total, LWS_WRITE_RAW) < (int)total)
        return -1;
    note_written(c, total);
    lws_callback_on_writable(c->wsi);
    return 0;
}

static int on_writeable(conn *c)
{
    c->lws_held = 0; /* lws sent what it kept before it calls us */
    if (c->sent_close)
        /* lws asks once more after it sent our close frame.  A policy close (close_after_queue)
         * then ends the connection without waiting for the client's answering close, as it
         * always did; after a CLOSE step lws waits for that answer (CLOSE_ACK_SECS). */
        return c->close_pending ? -1 : 0;
    if (c->stalled || c->raw_close)
        return 0;
    if (c->overflow)
        return close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "output queue full");
    outframe *f = c->q_head;
    if (f) {
        c->q_head = f->next;
        if (!c->q_head)
            c->q_tail = NULL;
        c->q_bytes -= f->len;
        if (f->type == LWS_WRITE_RAW)
            record_raw(c, f->buf + LWS_PRE, f->len);
        else
            record_sent(c, frame_kind(f->type), f->buf + LWS_PRE, f->len);
        /* LWS_WRITE_RAW (= LWS_WRITE_HTTP) makes lws 4.1 write the bytes as they are, through
         * TLS on wss, and buffer what the socket does not take like any other write. */
        int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, f->type);
        size_t len = f->len;
        free(f);
        if (n < (int)len)
            return -1;
        note_written(c, len);
        lws_callback_on_writable(c->wsi); /* more queued, a close, or the stream may follow */
        return 0;
    }
    if (c->close_pending)
        return close_now(c, c->close_code, c->close_reason);
    if (c->b_head)
        return write_backlog(c);
    if (c->barrier) {
        c->barrier = false;
        int rc = pwsm__engine_drained(&c->engine);
        if (rc == 0)
            lws_callback_on_writable(c->wsi); /* what the engine queued or started */
        return rc;
    }
    if (c->authed && fault_due(c))
        return run_fault(c);
    if (c->sstream)
        return write_sstream(c);
    if (!c->stream_on || !c->serving || sc_mode(c))
        return 0; /* slow-consumer mode: the stream timer generates, write_backlog writes */
    return write_stream(c);
}

/* ---------------------------------------------------------------- connection lifecycle */

static const pwsm_script *script_for(const pwsm_server *s, uint32_t ordinal)
{
    if (ordinal >= 1 && ordinal <= s->o.nscripts)
        return &s->o.scripts[ordinal - 1];
    return &s->o.default_script;
}

/* What a scripted connection's pwsm_script is: nothing (its steps say everything). */
static const pwsm_script no_script;

static int on_established(pwsm_server *s, conn *c, struct lws *wsi)
{
    uint32_t ordinal = atomic_load(&s->accepted) + 1;
    if (pwsm__gen_init(&c->gen, s->o.seed, ordinal) != 0)
        return -1;
    atomic_store(&s->accepted, ordinal);
    c->srv = s;
    c->wsi = wsi;
    c->ordinal = ordinal;
    /* Our copy keeps the scripts sorted by ordinal, as pwss_script_for needs. */
    const pwss_conn_script *play = s->has_scenario ? pwss_script_for(&s->scenario, ordinal) : NULL;
    if (play && play->nsteps == 0)
        play = NULL; /* no steps: the real service, greeting included */
    c->script = play ? &no_script : script_for(s, ordinal);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->live++;

    char path[256] = "";
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
        path[0] = '\0';
    record_str(c, '-', "open", path);
    int market = pwsm__market_from_path(path); /* HTTP_CONFIRM_UPGRADE refused any other path */
    c->market = market < 0 ? PWSM__MARKET_STOCKS : (pwsm__market)market;

    struct lws_context *ctx = lws_get_context(wsi);
    if (play) {
        c->scripted = true;
        pwsm__engine_init(&c->engine, c, play);
    } else {
        c->serving = true;
        if (!c->script->no_greeting)
            enqueue_status(c, "connected", NULL);
        lws_sul_schedule(ctx, 0, &c->auth_sul, auth_timer_cb, (lws_usec_t)s->o.auth_timeout_ms * 1000);
    }
    if (s->o.ping_interval_ms)
        lws_sul_schedule(ctx, 0, &c->ping_sul, ping_timer_cb, (lws_usec_t)s->o.ping_interval_ms * 1000);
    if (play)
        pwsm__engine_start(&c->engine);
    lws_callback_on_writable(wsi);
    return 0;
}

static void on_closed(pwsm_server *s, conn *c)
{
    if (!c->srv)
        return;
    /* The sul live inside this per-session data, which lws frees after we return. */
    lws_sul_cancel(&c->auth_sul);
    lws_sul_cancel(&c->stream_sul);
    lws_sul_cancel(&c->ping_sul);
    lws_sul_cancel(&c->peek_sul);
    lws_sul_cancel(&c->engine_sul);
    if (c->scripted)
        pwsm__engine_end(&c->engine); /* journals a wait it cut short */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->live--;
    bool clean = (c->sent_close || c->peer_closed) && !c->dropped;
    record(c, '-', clean ? "closed" : "drop", NULL, 0);
    queue_free(c);
    backlog_free(c);
    free(c->wbuf);
    free(c->rx);
    free(c->key);
    free(c->frame);
    pwsm__gen_free(&c->gen);
    if (c->xgen_ready)
        pwsm__gen_free(&c->xgen);
    for (size_t i = 0; i < c->nsubs; i++)
        free(c->subs[i]);
    free(c->subs);
    free(c->rate_ring);
    c->srv = NULL;
}

/* ---------------------------------------------------------------- what the engine acts through */

void pwsm__conn_send(conn *c, pwsm__out type, const void *data, size_t len)
{
    static const enum lws_write_protocol types[] = {
        [PWSM__OUT_TEXT] = LWS_WRITE_TEXT, [PWSM__OUT_BINARY] = LWS_WRITE_BINARY,
        [PWSM__OUT_PING] = LWS_WRITE_PING, [PWSM__OUT_PONG] = LWS_WRITE_PONG,
        [PWSM__OUT_RAW] = LWS_WRITE_RAW,
    };
    enqueue(c, types[type], data ? data : "", data ? len : 0);
    lws_callback_on_writable(c->wsi);
}

void pwsm__conn_status(conn *c, const char *status)
{
    enqueue_status(c, status, NULL);
    lws_callback_on_writable(c->wsi);
}

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
    if (c->authed || !conn_open(c))
        return false;
    lws_sul_cancel(&c->auth_sul);
    enqueue_status(c, "auth_timeout", NULL);
    close_after_queue(c, c->srv->o.policy_close_code, NULL);
    return true;
}

uint32_t pwsm__conn_auth_timeout_ms(const conn *c)
{
    return c->srv->o.auth_timeout_ms;
}

size_t pwsm__conn_queued(const conn *c)
{
    return c->q_bytes;
}

bool pwsm__conn_open(const conn *c)
{
    return conn_open(c);
}

void pwsm__conn_barrier(conn *c)
{
    c->barrier = true;
    lws_callback_on_writable(c->wsi);
}

void pwsm__conn_timer(conn *c, uint32_t ms)
{
    lws_sul_cancel(&c->engine_sul);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->engine_sul, engine_timer_cb, (lws_usec_t)ms * 1000);
}

void pwsm__conn_timer_cancel(conn *c)
{
    lws_sul_cancel(&c->engine_sul);
}

int pwsm__conn_close(conn *c, int code, const char *reason)
{
    stream_pause(c);
    if (code != 0)
        return close_now(c, code, reason); /* lws 4.1 sends any code as given */
    /* No status code at all: lws_close_reason always writes one, so the frame goes out raw,
     * and the client's answering close ends the connection (PEER_INITIATED_CLOSE returns -1
     * so lws does not echo it), or CLOSE_ACK_SECS without one. */
    unsigned char buf[LWS_PRE + 2];
    buf[LWS_PRE] = 0x88; /* FIN | close */
    buf[LWS_PRE + 1] = 0x00;
    pwsm__journal_add(&c->srv->journal, c->ordinal, 's', "close", NULL, 0, 0, "");
    c->sent_close = true;
    c->raw_close = true;
    if (lws_write(c->wsi, buf + LWS_PRE, 2, LWS_WRITE_RAW) < 2)
        return -1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, CLOSE_ACK_SECS);
    return 0;
}

int pwsm__conn_drop(conn *c)
{
    c->dropped = true;
    /* As the DROP fault: the FIN goes out now; lws' own close frame hits the shut socket. */
    shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
    return -1;
}

void pwsm__conn_stall(conn *c, bool on)
{
    stall_set(c, on);
}

/* The default seed of the nth STREAM step with its own channels: the server seed mixed
 * with n (and, by pwsm__gen_init, with the ordinal). */
static uint64_t stream_seed(uint64_t seed, uint32_t nth)
{
    return seed ^ ((uint64_t)nth + 1) * UINT64_C(0x9E3779B97F4A7C15);
}

/* Applies type x symbol channels to g; NULL lists mean "those subscribed". */
static void apply_cross(conn *c, pwsm__gen *g, const pwss_stream *st)
{
    size_t ntypes = st->ntypes ? st->ntypes : c->nsubs;
    size_t nsyms = st->nsymbols ? st->nsymbols : c->nsubs;
    for (size_t t = 0; t < ntypes; t++) {
        const char *type = st->ntypes ? st->types[t] : c->subs[t];
        size_t tlen = st->ntypes ? strlen(type) : strcspn(type, ".");
        for (size_t y = 0; y < nsyms; y++) {
            const char *sym = st->nsymbols ? st->symbols[y] : c->subs[y];
            if (!st->nsymbols) {
                const char *dot = strchr(sym, '.');
                if (!dot)
                    continue;
                sym = dot + 1;
            }
            char ch[PWSM__SYMBOL_MAX + 16];
            int n = snprintf(ch, sizeof ch, "%.*s.%s", (int)tlen, type, sym);
            if (n > 0 && (size_t)n < sizeof ch)
                pwsm__gen_channel(g, ch, (size_t)n, true);
        }
    }
}

const char *pwsm__conn_stream(conn *c, const pwss_stream *st, uint32_t nth)
{
    pwsm_server *s = c->srv;
    pwsm__gen *g = &c->gen;
    if (st->ntypes || st->nsymbols || st->seed) {
        if (c->xgen_ready)
            pwsm__gen_free(&c->xgen);
        c->xgen_ready = false;
        /* An explicit seed is not mixed with the ordinal: every connection gets the same. */
        int rc = st->seed ? pwsm__gen_init(&c->xgen, st->seed, 0)
                          : pwsm__gen_init(&c->xgen, stream_seed(s->o.seed, nth), c->ordinal);
        if (rc != 0)
            return "out of memory";
        c->xgen_ready = true;
        g = &c->xgen;
        if (!st->ntypes && !st->nsymbols) {
            for (size_t i = 0; i < c->nsubs; i++)
                pwsm__gen_channel(g, c->subs[i], strlen(c->subs[i]), true);
        } else {
            apply_cross(c, g, st);
        }
    }
    if (pwsm__gen_active(g) == 0)
        return "nothing to stream: no subscribed channel (or given type and symbol) of A, AM, T, Q "
               "with a valid symbol";
    stream_pause(c);
    c->sgen = g;
    c->sstream = true;
    c->sstream_left = st->count;
    c->sstream_batch = st->batch ? st->batch : DEFAULT_BATCH_MAX;
    c->sstream_rate = st->rate;
    c->batch_due = true; /* the first batch goes out at once */
    lws_callback_on_writable(c->wsi);
    return NULL;
}

void pwsm__conn_serve(conn *c, bool on)
{
    if (on == c->serving)
        return;
    c->serving = on;
    if (on) {
        if (!c->authed && conn_open(c))
            auth_timer_arm(c);
        stream_kick(c);
    } else {
        lws_sul_cancel(&c->auth_sul);
        stream_pause(c);
    }
}

void pwsm__conn_journal(conn *c, const char *kind, const char *text)
{
    record_str(c, '-', kind, text);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pwsm_server *s = lws_context_user(lws_get_context(wsi));
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* The path picks the market; any other path gets a 404 and no WebSocket. */
        char path[256] = "";
        if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) >= 0 && pwsm__market_from_path(path) >= 0)
            return 0;
        return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, MARKET_404_BODY) ? -1 : 1;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* Refuse the upgrade beyond max_connections (the client sees the handshake fail). */
        return s->live >= s->o.max_connections ? 1 : 0;
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(s, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return c && c->srv ? on_receive(c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && c->srv ? on_writeable(c) : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->srv) {
            if (c->skip_pongs)
                c->skip_pongs--; /* journaled from the socket buffer during a STALL */
            else
                record(c, 'c', "pong", in, len);
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && c->srv) {
            const unsigned char *p = in;
            int code = len >= 2 ? (p[0] << 8 | p[1]) : 0;
            char reason_text[CLOSE_REASON_MAX + 1] = "";
            if (len > 2) {
                size_t rl = len - 2 > CLOSE_REASON_MAX ? CLOSE_REASON_MAX : len - 2;
                memcpy(reason_text, p + 2, rl);
                reason_text[rl] = '\0';
            }
            if (c->skip_close)
                c->skip_close = false; /* journaled from the socket buffer during a STALL */
            else
                pwsm__journal_add(&s->journal, c->ordinal, 'c', "close", NULL, 0, code, reason_text);
            c->peer_closed = true;
            /* After our raw code-less close frame, the client's close is the answer: end now
             * (non-zero here makes lws close without echoing it). */
            if (c->raw_close)
                return -1;
            /* lws answers with the same payload; an answer to our own close needs none. */
            if (!c->sent_close)
                pwsm__journal_add(&s->journal, c->ordinal, 's', "close", NULL, 0, code, reason_text);
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c)
            on_closed(s, c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---------------------------------------------------------------- thread and API */

static void server_free(pwsm_server *s)
{
    pws__server_stop(&s->sv); /* destroying the context runs CLOSED for live connections, which journal */
    pwsm__selfsigned_remove(&s->ss);
    if (s->journal_ready)
        pwsm__journal_free(&s->journal);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    if (s->has_scenario)
        pwsm__scripts_free(&s->scenario);
    free(s);
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
    pwsm_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errbuf, errcap, "out of memory");
        return NULL;
    }
    atomic_init(&s->accepted, 0);
    if (apply_options(s, opts, errbuf, errcap) != 0)
        goto fail;
    if (pwsm__journal_init(&s->journal, s->o.journal_path, s->o.journal_max_entries,
                           s->o.journal_max_bytes, errbuf, errcap) != 0)
        goto fail;
    s->journal_ready = true;

    if (s->o.tls) {
        if (!s->o.cert_file) {
            if (pwsm__selfsigned_create(&s->ss, errbuf, errcap) != 0)
                goto fail;
            s->o.cert_file = s->ss.cert;
            s->o.key_file = s->ss.key;
        }
        s->ca_file = s->o.cert_file;
    }

    s->protocols[0] = (struct lws_protocols){
        .name = "polyws-mock",
        .callback = callback,
        .per_session_data_size = sizeof(conn),
        .rx_buffer_size = 0,
    };

    pws__server_options so = {.name = "pwsmock", .host = s->o.host, .port = s->o.port, .protocols = s->protocols,
                              .user = s, .fd_limit = s->o.max_connections + 64, .validate_utf8 = true};
    if (s->o.tls) {
        so.cert_file = s->o.cert_file;
        so.key_file = s->o.key_file;
    }
    if (pws__server_start(&s->sv, &so, errbuf, errcap) != 0)
        goto fail;
    return s;
fail:
    server_free(s);
    return NULL;
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
    if (s)
        server_free(s);
}
