/*
 * wire/handshake.h - the handshake guard: bounds what clients that never
 * finish their WebSocket upgrade (slowloris: half a request, then silence)
 * can hold of a server.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h).  Every server started through wire/server.h has one (its
 * `guard`): the mock (lws' ws role) and the proxy and the replayer (raw
 * role, HTTP parsed by wire/wsproto.h) tell it when a connection is being
 * accepted (pws__hs_filter, which decides), when lws adopted it
 * (pws__hs_accept), when its upgrade request is complete, and when it
 * closed.  It then enforces:
 *
 *   - a handshake timeout: a connection whose upgrade is not complete
 *     timeout_ms after it was accepted is closed;
 *   - a cap on pending handshakes (accepted, upgrade not complete): at the
 *     cap the OLDEST pending connection is closed to make room for the new
 *     one (nginx and haproxy drop idle half-open connections the same way).
 *     A cap that refused the newcomer instead would let stalled connections
 *     lock every real client out; evicting the oldest lets a real client,
 *     which completes its upgrade within milliseconds, through even while
 *     thousands of stalled ones keep arriving from the same address;
 *   - one client address may hold at most half of the pending slots (beyond
 *     that its own oldest is closed), so a flood from one address leaves the
 *     other half to everyone else;
 *   - optionally a cap on connections (pending and upgraded) per client
 *     address; beyond it new connections are refused at accept.  Off by
 *     default: every local client of these loopback servers shares
 *     127.0.0.1, so such a cap would lock the real client out with the
 *     stalled ones;
 *   - the process's descriptors: when the tracked connections would leave
 *     fewer than the server's reserve of descriptors free (fd_budget,
 *     wire/server.h), the oldest pending one is closed as for the pending cap (so accept() never fails with
 *     EMFILE, on which lws 4.1 spins and accepts nobody).
 *
 * A pending connection is never closed to make room before it has been
 * polled for input at least once (two service rounds after its accept): a
 * burst of accepts cannot evict a real client whose request waits, unread,
 * in its socket.  When no pending connection is that old, the NEW one is
 * refused instead.
 *
 * At most PWS__HS_ACCEPTS_PER_ROUND connections are accepted per round of
 * the service loop: then the listener is paused until the next round.  lws
 * 4.1 accepts in a loop for as long as the listen queue is not empty, and
 * clients that reconnect as soon as they are closed keep it from ever
 * emptying: the loop never returned, so no timer ran and no other socket
 * was read.  Refusals are decided here, before lws adopts the socket, for
 * the same reason: a socket refused after adoption makes lws 4.1 serve the
 * listener again at once, in the same loop.
 *
 * Threads: every function but pws__hs_get_stats runs on the server's
 * service thread (its callbacks), or on the owner's thread while the lws
 * context is destroyed; pws__hs_get_stats from any thread.  Costs: O(1) per
 * accept, upgrade and close (a hash of client addresses), one timer.
 */
#ifndef PWS_WIRE_HANDSHAKE_H
#define PWS_WIRE_HANDSHAKE_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWS__HS_DEFAULT_TIMEOUT_MS 5000u    /* handshake timeout unless set */
#define PWS__HS_MAX_TIMEOUT_MS 3600000u     /* largest handshake timeout (1 h) */
#define PWS__HS_DEFAULT_MAX_PENDING 1024u   /* pending handshakes at once unless set */
#define PWS__HS_MAX_PENDING 65536u          /* largest pending cap */
#define PWS__HS_MAX_PER_ADDRESS 1000000u    /* largest per-address cap */
#define PWS__HS_ACCEPTS_PER_ROUND 64u       /* accepts per service round before the listener pauses */

/* What the owner asks for.  Zero fields take the defaults. */
typedef struct pws__hs_limits {
    uint32_t timeout_ms;      /* upgrade must be complete this long after accept; 0: PWS__HS_DEFAULT_TIMEOUT_MS */
    uint32_t max_pending;     /* pending handshakes at once; 0: PWS__HS_DEFAULT_MAX_PENDING */
    uint32_t max_per_address; /* connections (pending and upgraded) per client address; 0: no cap */
} pws__hs_limits;

/* Counters since the start, and the state now. */
typedef struct pws__hs_stats {
    uint64_t accepted;        /* connections accepted by lws and offered to the guard */
    uint64_t upgraded;        /* of those, completed their upgrade request in time */
    uint64_t timed_out;       /* closed: no complete upgrade within the timeout */
    uint64_t evicted;         /* closed: the oldest pending one, to make room for a newer connection */
    uint64_t refused_full;    /* refused at accept: pending cap (or descriptors) full and none old enough to evict */
    uint64_t refused_address; /* refused at accept: max_per_address connections from that address */
    uint32_t pending;         /* pending handshakes now */
    uint32_t pending_peak;    /* the most at once */
} pws__hs_stats;

typedef struct pws__hs_guard pws__hs_guard; /* handshake.c */
typedef struct pws__hs_entry pws__hs_entry; /* one tracked connection (handshake.c) */

/* Checks limits (0 fields are fine): 0, or -1 with a message in err ("what: value out of range"). */
int pws__hs_check(const pws__hs_limits *l, char *err, size_t errcap);

/* The limits with the defaults filled in (l checked by pws__hs_check). */
pws__hs_limits pws__hs_effective(const pws__hs_limits *l);

/* A guard for the server on ctx.  fd_budget: descriptors the tracked connections may hold;
 * fds_per_open: descriptors one upgraded connection holds (2 for the proxy: its upstream).
 * NULL without memory. */
pws__hs_guard *pws__hs_new(struct lws_context *ctx, const pws__hs_limits *l, size_t fd_budget,
                           unsigned fds_per_open);

/* Cancels the guard's timers: call after the service thread ended and before the lws context
 * is destroyed (its timer lists go with it).  NULL is fine. */
void pws__hs_quiesce(pws__hs_guard *g);

/* Frees the guard and every entry still tracked: after the lws context was destroyed (the
 * close callbacks that run meanwhile still call pws__hs_closed).  NULL is fine. */
void pws__hs_free(pws__hs_guard *g);

/* A connection is being accepted: LWS_CALLBACK_FILTER_NETWORK_CONNECTION, which lws 4.1 sends
 * to protocols[0] with the listener as wsi and a struct lws_filter_network_conn_args as user.
 * 0: admit it (lws then adopts it: call pws__hs_accept); non-zero: refuse it (return that from
 * the callback: lws closes the socket).  To make room it may close older pending connections
 * at once (their close callbacks, and pws__hs_closed, run inside this call), and it may pause
 * the listener until the next service round.  A NULL guard admits everything. */
int pws__hs_filter(pws__hs_guard *g, struct lws *listener, const struct lws_filter_network_conn_args *args);

/* The admitted connection was adopted (lws' adopt callback: RAW_ADOPT or
 * SERVER_NEW_CLIENT_INSTANTIATED): tracks it.  0, *out its entry (keep it for
 * pws__hs_upgraded and pws__hs_closed); -1 only without memory (refuse it).  A NULL guard:
 * 0 with *out NULL. */
int pws__hs_accept(pws__hs_guard *g, struct lws *wsi, pws__hs_entry **out);

/* The connection's upgrade request is complete: it is no longer pending.  False if the guard
 * already closed it (timed out or evicted, closing now): refuse the upgrade.  NULL e: true. */
bool pws__hs_upgraded(pws__hs_guard *g, pws__hs_entry *e);

/* The connection closed, in any state: forgets and frees e.  NULL e is fine. */
void pws__hs_closed(pws__hs_guard *g, pws__hs_entry *e);

/* Copies the counters (zeros for a NULL guard).  Any thread. */
void pws__hs_get_stats(const pws__hs_guard *g, pws__hs_stats *out);

#endif
