/*
 * session.h - the connector object and its network loop (not installed).
 * Three layers, each calling only the ones below it:
 *
 *   client.c     the public API: options, channels, statistics, and the two
 *                threads (network loop, delivery);
 *   session.c    the network loop and one connection's life in it: the state
 *                machine (connect, greeting, auth, subscribe, stream),
 *                statuses, timers (connect/auth timeouts, heartbeat,
 *                reconnect backoff, action rate limit), outgoing actions,
 *                and events into the queue;
 *   transport.c  WebSocket over an lws raw socket (transport.h), which
 *                reports to the session through pws__transport_events.
 *
 * Threading model.  Everything named "net" runs on the network thread, inside
 * lws_service(); it owns the lws context, the transport and all timers.  Other
 * threads talk to it only through `mu`-protected fields followed by
 * lws_cancel_service() (the one lws call that is safe across threads), which
 * makes lws deliver LWS_CALLBACK_EVENT_WAIT_CANCELLED on the network thread
 * (the transport's `woken`).  The delivery thread only pops the queue and runs
 * user callbacks.
 */
#ifndef POLYWS_SESSION_H
#define POLYWS_SESSION_H

#include "backoff.h"
#include "internal.h"
#include "last_error.h"
#include "queue.h"
#include "ratelimit.h"
#include "transport.h"

#include <libwebsockets.h>
#include <pthread.h>

#define PWS__EVENT_BATCH 256u         /* events parsed before one queue push */
#define PWS__MAX_OUTQ 4096u           /* queued outgoing messages per connection */
#define PWS__RETRY_PENDING_US 20000   /* re-check interval while blocked events wait */

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
    pws__secrets secrets;       /* the key, every way it is scrubbed from logs, events and errors */
    const pws_adapter *ad;      /* protocol adapter */
    pws__logger lg;             /* logger that scrubs the key */

    /* --- network thread only --- */
    pws__transport tr;          /* the WebSocket connection; tr.ep is filled by pws_create */
    struct lws_context *ctx;    /* set/cleared under mu too, for pws_stop() */
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
    bool close_after_frame;     /* a status asked to end the connection */
    int64_t frame_recv_us;      /* wall time stamped on this frame's events */

    /* --- shared, guarded by mu --- */
    pthread_mutex_t mu;
    char **channels;            /* desired channel set */
    size_t nchannels, channels_cap;
    chan_cmd *cmds, *cmds_tail; /* changes not yet seen by the network thread */
    bool stop_requested;        /* pws_stop() called */
    bool space_ready;           /* the queue has room again (block policy) */

    /* --- any thread, with its own lock --- */
    pws__last_error err;        /* message of the last failure (pws_last_error) */

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

/* Runs the network loop to its end on the calling thread (the network
 * thread): the transport set up, connections made and remade until stopped or
 * given up; then c->result is final and the last event queued is
 * PWS_CONN_STOPPED.  The caller closes the queue. */
void pws__session_run(pws_connector *c);
/* Frees what the session still holds (outgoing messages, held events). */
void pws__session_free(pws_connector *c);

#endif
