/*
 * wire/server.h - a listening WebSocket server's start-up and shutdown: the
 * lws context, the vhost with its protocols, TLS, the port, the URL a local
 * client uses, and the one service thread.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h).  Three servers start this way: the mock (libpwsmock, lws'
 * ws role, TLS optional), the recording proxy and the replayer (libpwsreplay,
 * accepted sockets handed to the raw role: they speak WebSocket themselves
 * through wire/wsproto.h).  What differs between them is in
 * pws__server_options; everything after the start is the owner's callbacks.
 * Names are pws__.
 *
 * Every server has a handshake guard (wire/handshake.h, sv->guard): its
 * callbacks report each accepted connection, its complete upgrade request
 * and its close, and the guard closes what never finishes its upgrade.
 *
 * Descriptors: lws 4.1 sizes a table by its descriptor limit.  Given a
 * limit below the process's (RLIMIT_NOFILE), it finds a socket's wsi by a
 * linear scan of that table on every event (wsi_from_fd's "slow fds
 * handling"); at the process's limit it indexes the table directly.  But
 * Debian's build also runs its debug checks, which scan the whole table on
 * every accept and every close (sanity_assert_no_sockfd_traces).  So lws
 * gets the process's limit when that is at most PWS__SERVER_FAST_FDS, and
 * the owner's fd_limit (a bounded table, scanned per event) above it: a
 * process limit of 1048576, common in containers, would cost an 8 MB scan
 * per accept and per close.  `polyws` sets its limit to 16384 (cli/).  The
 * guard keeps PWS__SERVER_FD_RESERVE descriptors of lws' limit free for what
 * is not a client connection.
 *
 * Threads: pws__server_start and pws__server_stop are called by the owner's
 * thread; the callbacks run on the service thread (and on the owner's thread
 * inside pws__server_stop, while the context is destroyed, after the service
 * thread ended).  The only lws call made across threads is
 * lws_cancel_service.
 */
#ifndef PWS_WIRE_SERVER_H
#define PWS_WIRE_SERVER_H

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "wire/handshake.h"
#include "wire/linger.h"

/* Bytes one send() of a server may take: every server protocol sets its
 * .tx_packet_size to this.  Left at 0, lws caps each send() at the read
 * buffer size (4096 by default), so a 40 KB frame went out as ten sends with
 * a poll() before each and woke the client per 4 KB; the kernel's socket
 * buffer is the real limit, and lws keeps what it does not take. */
#define PWS__SERVER_TX_PACKET ((size_t)1 << 20)

/* Descriptors of the process the handshake guard leaves to what is not a client
 * connection: listening sockets, lws' wake-up pipe, stdio, journal and tape
 * files, a test's own sockets. */
#define PWS__SERVER_FD_RESERVE 64u

/* The largest process descriptor limit lws is given as its own (see above). */
#define PWS__SERVER_FAST_FDS 65536u

/* How to start.  Zero-initialize; zero fields take the defaults. */
typedef struct pws__server_options {
    const char *name;                      /* vhost name ("pwsmock", "pwsr-proxy"); required */
    const char *err_prefix;                /* put before every error message ("proxy: "); NULL: none */
    const char *host;                      /* address (or interface) to listen on; NULL: "127.0.0.1" */
    int port;                              /* port to listen on; 0: an ephemeral one */
    const struct lws_protocols *protocols; /* the vhost's protocols, a zeroed entry last; kept, not copied */
    const char *raw_protocol;              /* set: accepted sockets go to the raw role with this protocol */
    void *user;                            /* lws_context_user() in the callbacks */
    unsigned fd_limit;                     /* descriptors the server may need at most (connections,
                                              pending ones, the reserve): lws' limit when the
                                              process's is above PWS__SERVER_FAST_FDS; 0: that one */
    pws__hs_limits handshake;              /* the handshake guard's limits (zero fields: defaults) */
    unsigned fds_per_open;                 /* descriptors one upgraded connection holds (the proxy's 2); 0: 1 */
    unsigned serv_buf_size;                /* bytes one socket read takes; 0: lws' default (4096) */
    bool validate_utf8;                    /* lws checks text messages itself (ws role only) */
    const char *cert_file;                 /* set (with key_file): TLS with this certificate (PEM) */
    const char *key_file;                  /* its private key (PEM) */
} pws__server_options;

/* A started server.  Zero-initialize; the fields are read-only for the owner. */
typedef struct pws__server {
    struct lws_context *ctx;     /* the context, NULL when not started */
    struct lws_vhost *vhost;     /* the listening vhost */
    SSL_CTX *client_ssl_ctx;     /* ours, handed to lws so it builds (and leaks) none of its own */
    pws__hs_guard *guard;        /* closes connections that never finish their upgrade (wire/handshake.h) */
    pws__linger *linger;         /* connections ended without a close handshake, read until the peer ends (wire/linger.h) */
    size_t fd_max;               /* descriptors lws may use (its table's size) */
    int port;                    /* the port bound */
    char url[96];                /* ws[s]://HOST:PORT for a local client: loopback for "any" */
    pthread_t thread;            /* runs lws_service until stopping */
    bool thread_started;         /* thread is running (join it) */
    atomic_bool stopping;        /* set by pws__server_stop before it wakes the thread */
} pws__server;

/* Creates the context and the vhost, binds, then starts the service thread
 * (the last step: the callbacks may run from then on).  0, or -1 with a
 * message in err (nothing left to stop; the callbacks never ran). */
int pws__server_start(pws__server *sv, const pws__server_options *o, char *err, size_t errcap);

/* True once pws__server_stop has begun (callbacks use it to tell a shutdown
 * from a peer that left).  Any thread. */
bool pws__server_stopping(pws__server *sv);

/* Stops and joins the service thread, then destroys the context on the
 * caller's thread (lws runs the close callbacks of live sockets there: the
 * guard is still there for pws__hs_closed) and frees what start made,
 * the guard last.  Safe on a zeroed or failed server, and twice. */
void pws__server_stop(pws__server *sv);

#endif
