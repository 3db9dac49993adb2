/*
 * session.h - the connector object and what its three parts share (not
 * installed):
 *
 *   client.c     the public API: options, channels, statistics, and the two
 *                threads (network loop, delivery);
 *   session.c    one connection's life: the state machine (connect, greeting,
 *                auth, subscribe, stream), statuses, timers (connect/auth
 *                timeouts, heartbeat, reconnect backoff, action rate limit),
 *                outgoing actions, and events into the queue;
 *   transport.c  WebSocket over an lws raw socket: the upgrade, frames,
 *                ping/pong, the close handshake, TLS (link.c), and the lws
 *                callback.
 *
 * Transport.  libwebsockets runs the event loop, the timers and the TCP
 * connect (a raw socket); the WebSocket protocol itself and TLS (OpenSSL over
 * memory BIOs) are ours, in wsproto.c and link.c.  lws 4.1's client frame
 * parser costs a state-machine step per payload byte, more than half of the
 * whole receive path; wsproto.c copies payloads in bulk.  Owning the protocol
 * also lets the client fail a connection with close 1002 on a protocol
 * violation (RSV bits, masked server frames, bad close codes) where lws just
 * dropped the TCP link.
 *
 * Threading model.  Everything named "net" runs on the network thread, inside
 * lws_service(); it owns the lws context, the wsi and all timers.  Other
 * threads talk to it only through `mu`-protected fields followed by
 * lws_cancel_service() (the one lws call that is safe across threads), which
 * makes lws deliver LWS_CALLBACK_EVENT_WAIT_CANCELLED on the network thread.
 * The delivery thread only pops the queue and runs user callbacks.
 */
#ifndef POLYWS_SESSION_H
#define POLYWS_SESSION_H

#include "backoff.h"
#include "internal.h"
#include "queue.h"
#include "ratelimit.h"
#include "wire/link.h"
#include "wire/wsproto.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>

#define PWS__EVENT_BATCH 256u         /* events parsed before one queue push */
#define PWS__MAX_OUTQ 4096u           /* queued outgoing messages per connection */
#define PWS__CLOSE_GRACE_S 2         /* seconds the server has to answer our close frame */
#define PWS__READ_BUF (128u << 10)    /* bytes lws reads from the socket at once */
#define PWS__CLIENT_WRITE (16u << 10) /* bytes per lws_write: a client sends little */
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
    unsigned char *scratch;     /* LWS_PRE + PWS__CLIENT_WRITE bytes for lws_write */
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

/* ---- client.c */

/* Records the message pws_last_error() returns, scrubbed of the key. */
void pws__set_last_error(pws_connector *c, const char *fmt, ...) PWS__PRINTF(2, 3);

/* ---- session.c (network thread) */

/* Records why the current connection ends (the first reason wins); returns
 * -1 for callbacks that close at once. */
int pws__ending(pws_connector *c, int err, const char *fmt, ...) PWS__PRINTF(3, 4);
/* Emits a PWS_EV_CONNECTION event (the reason is scrubbed of the key). */
void pws__emit_conn(pws_connector *c, pws_conn_state state, int err, int close_code, uint32_t attempt,
                    uint32_t delay_ms, const char *reason);
/* Block policy: pushes the held events; false if the queue refused some. */
bool pws__pend_push(pws_connector *c);
/* ... and once the consumer made room, resumes reading when all went in. */
bool pws__push_pending(pws_connector *c);
/* Frees the JSON copies of held OTHER events pend[from..to). */
void pws__pend_release(pws_connector *c, size_t from, size_t to);
/* Drops the outgoing messages not yet framed (wiping the auth message). */
void pws__outq_clear(pws_connector *c);
/* Turns subscribe/unsubscribe calls into actions when live. */
void pws__drain_commands(pws_connector *c);
/* Ends the connection from our side: a close frame, or a kill. */
void pws__end_connection(pws_connector *c, int err, bool graceful, int close_code, const char *fmt, ...)
    PWS__PRINTF(5, 6);
/* The loop ends with result. */
void pws__finish(pws_connector *c, int result);
/* Once per connection when it is gone: events, then reconnect or finish. */
void pws__connection_gone(pws_connector *c, const char *fallback_reason);
/* Starts the next connection. */
void pws__net_connect(pws_connector *c);
/* The WebSocket is up (after a verified 101). */
void pws__on_established(pws_connector *c);
/* A whole data message (data valid during the call). */
void pws__on_message(pws_connector *c, const unsigned char *data, size_t len, bool too_big, uint64_t total,
                     bool binary);
/* Rate-limit wake-up: asks for WRITEABLE. */
void pws__sul_write_cb(lws_sorted_usec_list_t *sul);

/* ---- transport.c (network thread) */

/* Our close frame, then up to PWS__CLOSE_GRACE_S for the server's answer. */
void pws__begin_close(pws_connector *c, int code, const char *reason);
/* Forgets the transport state of the connection that just ended. */
void pws__transport_reset(pws_connector *c);
/* Block policy: the queue has room again; frame what waited, then read. */
void pws__resume_reading(pws_connector *c);
/* The lws protocol table: the connector's callback. */
extern const struct lws_protocols pws__protocols[];

#endif
