/*
 * transport.h - one WebSocket client connection at a time over an lws raw
 * socket (not installed): the TCP connect, TLS (link.c), the upgrade request
 * and its checks, frames in (wsproto.c's reader) and out (masked), ping/pong,
 * the close handshake both ways, protocol errors (close 1002, 1007), reads
 * held and resumed, and the lws callback that drives it all.
 *
 * libwebsockets runs the event loop, the timers and the TCP connect (a raw
 * socket); the WebSocket protocol itself and TLS (OpenSSL over memory BIOs)
 * are ours, in wire/ (wsproto.c and link.c).  lws 4.1's client frame parser
 * costs a state-machine step per payload byte, more than half of the whole
 * receive path; wsproto.c copies payloads in bulk.  Owning the protocol also lets the
 * client fail a connection with close 1002 on a protocol violation (RSV bits,
 * masked server frames, bad close codes) where lws just dropped the TCP link.
 *
 * The transport knows nothing of what the messages mean, of reconnects or of
 * timers: it reports upward through pws__transport_events, which the layer
 * above (session.c) implements, and that layer calls the functions below.
 *
 * Threading: everything here runs on the network thread, inside lws_service()
 * or the calls of the layer above; the lws context's user pointer is the
 * pws__transport.
 */
#ifndef POLYWS_TRANSPORT_H
#define POLYWS_TRANSPORT_H

#include "internal.h"
#include "wire/link.h"
#include "wire/wsproto.h"

#include <libwebsockets.h>

#define PWS__CLOSE_GRACE_S 2         /* seconds the server has to answer our close frame */
#define PWS__READ_BUF (128u << 10)    /* bytes lws reads from the socket at once */
#define PWS__CLIENT_WRITE (16u << 10) /* bytes per lws_write: a client sends little */
#define PWS__MAX_URL 2048u            /* bytes of a URL */
#define PWS__MAX_TAIL (64u << 20)     /* bytes read from a socket that is gone (its receive buffer,
                                         a few MB at most on Linux; the bound is a safety net) */

/* What the transport reports to the layer above, on the network thread.
 * `user` is pws__transport.user.  Every member is required. */
typedef struct pws__transport_events {
    /* TCP is up (TLS and the upgrade follow).  Non-zero drops the socket at once. */
    int (*connected)(void *user);
    /* The server's 101 is verified: the connection is a WebSocket now. */
    void (*established)(void *user);
    /* Bytes arrived from the socket, before any of them is handled: the link lives. */
    void (*received)(void *user);
    /* The bytes of one socket read were handled (messages included). */
    void (*read_done)(void *user);
    /* A whole data message; data is valid during the call.  too_big: it was over
     * max_message, data is empty and total its size.  Non-zero: close the connection
     * (1000) once this message is handled. */
    int (*message)(void *user, const unsigned char *data, size_t len, bool too_big, uint64_t total,
                   bool binary);
    /* The socket takes frames: queue them now (pws__transport_send_text).  Called only
     * while the WebSocket is open and not closing.  Non-zero drops the socket at once. */
    int (*writeable)(void *user);
    /* Why the connection is ending, as the transport sees it (the layer above keeps the
     * first reason it gets).  err: a pws_err; close_code: the server's close code, or 0;
     * permanent: retrying cannot help (the server refused the upgrade for good). */
    void (*ending)(void *user, int err, int close_code, bool permanent, const char *reason);
    /* The connection is gone (closed, dropped, or never made): once per connection.
     * fallback_reason tells what happened when no `ending` did. */
    void (*gone)(void *user, const char *fallback_reason);
    /* Another thread called lws_cancel_service() on the context. */
    void (*woken)(void *user);
} pws__transport_events;

/* Where the transport connects: filled once, before the first connect. */
typedef struct pws__endpoint {
    bool tls;              /* wss:// */
    char host[256];        /* host from the URL (no brackets for IPv6) */
    char host_header[300]; /* host[:port] for the Host header */
    char path[1024];       /* path and query, starting with '/' */
    int port;              /* port from the URL or the scheme default */
} pws__endpoint;

/* One client connection at a time.  Zero-initialize; fill the first block,
 * then pws__transport_setup(). */
typedef struct pws__transport {
    pws__endpoint ep;                  /* where to connect */
    size_t max_message;                /* bytes of a data message kept; 0 = PWS__WS_MAX_MESSAGE */
    const pws__logger *lg;             /* for the server's protocol errors */
    const pws__transport_events *ev;   /* the layer above */
    void *user;                        /* passed to ev */

    /* --- network thread only --- */
    struct lws_context *ctx;    /* from pws__transport_context() */
    SSL_CTX *ssl_ctx;           /* for wss: (NULL for ws:); lws never sees it */
    unsigned char *scratch;     /* LWS_PRE + PWS__CLIENT_WRITE bytes for lws_write */
    struct lws *wsi;            /* the current connection, NULL once it is gone */
    struct lws *lws_slot;       /* lws' own pointer to it (ci.pwsi): lws NULLs it on free */
    bool attempt_open;          /* a connect was started whose end was not reported yet */
    pws__link link;             /* the socket's output queue and TLS session */
    pws__wsreader rd;           /* frames from the server */
    pws__buf head;              /* the upgrade response while it arrives */
    pws__buf stash;             /* received bytes not yet framed while reads are held */
    char ws_key[32];            /* the Sec-WebSocket-Key we sent */
    bool upgrade_sent;          /* the upgrade request is queued */
    bool upgraded;              /* 101 verified: frames follow */
    bool close_sent;            /* our close frame is queued: only the server's answer matters now */
    bool close_got;             /* the server's close frame arrived */
    bool wipe_out;              /* the output buffer held a secret: wipe it once written */
    bool in_reader;             /* inside pws__ws_feed_some (its callbacks must not feed it) */
    bool ping_due;              /* send a ping at the next WRITEABLE */
    bool rx_paused;             /* reads held (pws__transport_hold_reads); kept across connections */
    bool tail;                  /* the socket is gone but what it received is still being framed
                                   (keep_tail in transport.c); `gone` comes after */
    const char *tail_reason;    /* the fallback reason `gone` will give then (a static string) */
    bool destroying;            /* the context is being destroyed: no tail is kept */
} pws__transport;

/* Creates the TLS context (wss: verified against ca_file, NULL for the
 * system store, unless insecure) and the write buffer.  PWS_OK, or
 * PWS_ERR_NOMEM / PWS_ERR_TLS with a message in err (nothing is kept then). */
int pws__transport_setup(pws__transport *t, const char *ca_file, bool insecure, char *err, size_t cap);
/* Creates the lws context that drives the transport (lws' own network
 * timeouts: timeout_secs).  NULL on failure. */
struct lws_context *pws__transport_context(pws__transport *t, unsigned timeout_secs);
/* Destroys the context (if any; connections still open are closed and
 * reported gone), then frees what setup made. */
void pws__transport_teardown(pws__transport *t);

/* Starts a connection to t->ep.  A failure is reported through ev (ending,
 * then gone), possibly before this returns. */
void pws__transport_connect(pws__transport *t);
/* Forgets the state of the connection that just ended (not rx_paused). */
void pws__transport_reset(pws__transport *t);
/* A connection exists (connecting, open or closing), or its socket is gone and the bytes it
 * received are still being framed as the queue makes room (its `gone` is still to come). */
static inline bool pws__transport_active(const pws__transport *t)
{
    return t->wsi != NULL || t->tail;
}
/* Ends the connection from our side: a close frame when graceful and the
 * WebSocket is open (then up to PWS__CLOSE_GRACE_S for the server's answer),
 * else a kill; a connection whose socket is already gone gives up the rest of
 * what it received and is reported gone.  Not from inside this connection's
 * own lws callback when not graceful. */
void pws__transport_end(pws__transport *t, bool graceful, int close_code);

/* Asks for a WRITEABLE (ev->writeable) when connected. */
void pws__transport_want_write(pws__transport *t);
/* Sends a ping at the next WRITEABLE. */
void pws__transport_ping(pws__transport *t);
/* Queues a text message (from ev->writeable).  secret: the output buffers
 * are wiped once it is written.  0, or -1 without memory. */
int pws__transport_send_text(pws__transport *t, const void *data, size_t len, bool secret);

/* Holds reads: no message after the current one is framed and the socket is
 * not read (bytes already read wait unframed) until resumed. */
void pws__transport_hold_reads(pws__transport *t);
static inline bool pws__transport_reads_held(const pws__transport *t)
{
    return t->rx_paused;
}
/* Frames what waited, then reads the socket again.  Not from ev->message. */
void pws__transport_resume_reads(pws__transport *t);

#endif
