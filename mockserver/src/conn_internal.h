/*
 * conn_internal.h - what the files of the connection layer share (private to
 * conn*.c; the layers above use conn.h).
 *
 * The connection is split by concept; each file calls only the ones below it
 * (the driver, the layer above, only through its pwsm__conn_driver callbacks):
 *
 *   conn.c          the lws callback: accept (market path, max_connections),
 *                   ESTABLISHED and CLOSED, receive, the client's close, the driver
 *   conn_write.c    SERVER_WRITEABLE: queued frames, the backlog, barriers, faults,
 *                   close and drop
 *   conn_service.c  the real service's protocol: auth, (un)subscribe, rate limit,
 *                   max_connections kicks, auth timeout, serving
 *   conn_stall.c    STALL: no reads or writes, unread client frames peeked and journaled
 *   conn_stream.c   the stream's pacing: real-service batches, STREAM steps, the
 *                   slow-consumer backlog
 *   conn_queue.c    the queue of control frames, statuses, close frames, pings
 *   conn_journal.c  the journal entries of one connection (scrubbed, redacted)
 *
 * Each may also use the server's settings (server.h; server_options.c).
 * Everything runs on the lws service thread.
 */
#ifndef PWSM_CONN_INTERNAL_H
#define PWSM_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "conn.h"
#include "gen.h"
#include "protocol.h"
#include "server.h"

#define CLOSE_REASON_MAX 123     /* a close frame payload is at most 125 bytes, 2 for the code */
#define PWSM__MAX_CHANNELS 4096  /* subscriptions remembered per connection (more are confirmed, not kept) */

/* One queued control frame, with LWS_PRE headroom before the payload. */
typedef struct outframe {
    struct outframe *next;          /* FIFO link */
    size_t len;                     /* payload length */
    enum lws_write_protocol type;   /* LWS_WRITE_TEXT, _BINARY, _PING, _PONG or _RAW */
    unsigned char buf[];            /* LWS_PRE bytes, then the payload */
} outframe;

/* A FIFO of outframes. */
typedef struct outqueue {
    outframe *head, *tail;          /* oldest first */
    size_t bytes;                   /* their payload bytes */
} outqueue;

/* Per-connection state: lws allocates it zeroed as the protocol's per-session data. */
typedef pwsm__conn conn;
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
    outqueue q;                     /* control frames to send, in order, at most PWSM_MAX_OUT_QUEUE bytes */
    char *rx;                       /* message being reassembled from fragments (wire's pws__append) */
    size_t rx_len, rx_cap;          /* its length and allocation; at most max_message bytes */
    char *key;                      /* authenticated key (malloc'd), or NULL */
    bool authed;                    /* auth_success was sent */
    uint32_t repeated_auths;        /* auth messages after that (answered up to max_repeated_auth) */
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
    const pwsm__conn_driver *driver; /* plays the connection's script (conn.h), or NULL */
    void *driver_self;              /* the driver's own pointer, passed to its callbacks */
    bool serving;                   /* real-service streaming and auth timeout (always without a driver) */
    bool barrier;                   /* call the driver's drained() once the queue is empty */
    bool raw_close;                 /* a code-less close frame went out raw: the client's close ends it */
    lws_sorted_usec_list_t driver_sul; /* the driver's timer */
    bool sstream;                   /* a STREAM step is streaming ... */
    pwsm__gen *sgen;                /* ... from this generator (&gen or &xgen) ... */
    uint64_t sstream_left;          /* ... this many more events ... */
    uint32_t sstream_batch;         /* ... in frames of this many ... */
    double sstream_rate;            /* ... at this many events/s (<= 0: as fast as the client reads) */
    pwsm__gen xgen;                 /* generator of a STREAM step with its own channels or seed */
    bool xgen_ready;                /* xgen is initialized (free it) */
    char **subs;                    /* subscribed channels (malloc'd strings), at most PWSM__MAX_CHANNELS */
    size_t nsubs, capsubs;
    int64_t *rate_ring;             /* times (ms) of the last rate_actions accepted actions, a ring */
    uint32_t rate_head, rate_n;     /* index of the oldest, and how many are held */
    uint32_t peeked_msgs, peeked_pongs; /* STALL: client frames journaled from the socket buffer ... */
    bool peeked_close;
    uint32_t skip_msgs, skip_pongs; /* ... and, after the stall, not journaled again when lws delivers them */
    bool skip_close;
    /* --- markets and slow consumers --- */
    pwsm__market market;            /* from the request path: which channels a subscribe accepts */
    outqueue backlog;               /* slow-consumer mode: generated stream frames not yet written,
                                       at most slow_consumer_bytes + one tick */
    size_t lws_held;                /* bytes of the last write lws kept to send later (counted whole) */
    bool sc_tripped;                /* slow_consumer was sent: no more stream */
    unsigned char *wbuf;            /* LWS_PRE + SC_WRITE_CHUNK: backlog frames framed for one write */
};

/* ---------------------------------------------------------------- conn_journal.c */

/** Journals one entry of this connection; kind must be a string literal. */
void pwsm__record(conn *c, char dir, const char *kind, const void *data, size_t len);
/** The same with a NUL-terminated text. */
void pwsm__record_str(conn *c, char dir, const char *kind, const char *text);
#define PWSM__OPEN_HEADERS 3 /* request headers an "open" entry keeps in the journal file */
/** The connection's "open" entry: the request path, and in the journal file the request headers
 * names[i]: values[i] (n at most PWSM__OPEN_HEADERS; a NULL value is left out), path and values
 * scrubbed of secrets. */
void pwsm__record_open(conn *c, const char *path, const char *const *names, const char *const *values, size_t n);
/** Journals a frame the server sends, scrubbed of secrets. */
void pwsm__record_sent(conn *c, const char *kind, const void *data, size_t len);
/** Journals bytes with every secret (accepted keys, keys seen in auth messages) replaced by
 * "***": a client's ping or pong payload (dir 'c'), a server frame (dir 's'). */
void pwsm__record_scrubbed(conn *c, char dir, const char *kind, const void *data, size_t len);
/** Journals a close frame, its reason (NUL-terminated) scrubbed of secrets: the client's
 * (dir 'c'), or lws' echo of it (dir 's'). */
void pwsm__record_close(conn *c, char dir, int code, const char *reason);
/** Journals bytes written raw, as lowercase hex (kind "raw"). */
void pwsm__record_raw(conn *c, const unsigned char *data, size_t len);
/** Journals a data frame from the client, redacted (see pwsm__redact). */
void pwsm__record_received(conn *c, bool binary, const char *data, size_t len);

/* ---------------------------------------------------------------- conn_queue.c */

/** Appends a copy of len bytes at data (NUL-terminated after them) as a frame of type to q;
 * false if out of memory. */
bool pwsm__outqueue_push(outqueue *q, enum lws_write_protocol type, const void *data, size_t len);
/** Takes the oldest frame off q (the caller frees it), or NULL if q is empty. */
outframe *pwsm__outqueue_pop(outqueue *q);
/** Frees every frame of q. */
void pwsm__outqueue_free(outqueue *q);
/** Queues a control frame (copied; data NULL = out of memory upstream).  Past
 * PWSM_MAX_OUT_QUEUE bytes the connection overflows: closed 1011 from WRITEABLE. */
void pwsm__enqueue(conn *c, enum lws_write_protocol type, const char *data, size_t len);
/** Queues a status frame; message NULL = the built-in text of status. */
void pwsm__enqueue_status(conn *c, const char *status, const char *message);
/** Arranges a close with code and reason once the queued frames went out. */
void pwsm__close_after_queue(conn *c, int code, const char *reason);
/** Sends the close frame now (once); returns -1, which the callback returns. */
int pwsm__close_now(conn *c, int code, const char *reason);
/** Schedules the next server ping after ping_interval_ms (which must be set). */
void pwsm__ping_arm(conn *c);

/* ---------------------------------------------------------------- conn_stream.c */

/** True in slow-consumer mode: the real-service stream is generated on the server's clock. */
bool pwsm__sc_mode(const conn *c);
/** Called when the subscription set or serving may have changed: (re)starts the stream. */
void pwsm__stream_kick(conn *c);
/** Stops the pacing of whichever stream ran. */
void pwsm__stream_pause(conn *c);
/** True once the script fault (pwsm_script) is due: enough events were streamed. */
bool pwsm__fault_due(const conn *c);
/** WRITEABLE: one batch of the real-service stream, if one is due. */
int pwsm__write_stream(conn *c);
/** WRITEABLE: one batch of a STREAM step, if one is due. */
int pwsm__write_sstream(conn *c);

/* ---------------------------------------------------------------- conn_service.c */

/** The action rate limit: true if one more client action fits in the window (and counts it). */
bool pwsm__rate_allows(conn *c);
/** The real service's answer to one client message. */
void pwsm__serve_message(conn *c, const pwsm__msg *m);
/** (Re)arms the auth timeout: auth_timeout and a close unless authenticated in time. */
void pwsm__auth_timer_arm(conn *c);

/* ---------------------------------------------------------------- conn_write.c */

/** SERVER_WRITEABLE: writes one thing (see conn_write.c); returns the callback's result. */
int pwsm__on_writeable(conn *c);

#endif
