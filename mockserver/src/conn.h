/*
 * conn.h - one mock connection, as the layers above it see it (private).
 *
 * The connection layer (conn*.c) is the mock's real service on one lws
 * connection: greeting, auth, subscriptions, the stream, pings, faults, the
 * journal of every frame.  Above it, two users:
 *
 *  - the server start-up (server_start.c) puts pwsm__conn_callback and
 *    pwsm__conn_size in its lws protocols table;
 *  - a driver that plays a scenario script (engine.c) acts through the
 *    pwsm__conn_* operations below, and hears back only through the
 *    pwsm__conn_driver callbacks it registers with pwsm__conn_drive.
 *
 * The connection never calls its driver by name, so it can be read (and
 * tested) without the engine; the engine never touches lws.  Everything runs
 * on the lws service thread, and frames only leave from WRITEABLE (one
 * lws_write each).
 */
#ifndef PWSM_CONN_H
#define PWSM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <polyws/scenario.h>

#include "protocol.h"

/** A connection; lws allocates it (zeroed) as the protocol's per-session data. */
typedef struct pwsm__conn pwsm__conn;

/* ---------------------------------------------------------------- for the lws protocols table */

/** The lws protocol callback of a mock connection.  The context's user must be the
 * pwsm_server (server.h). */
int pwsm__conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/** The per-session data size of that protocol: sizeof (pwsm__conn). */
extern const size_t pwsm__conn_size;

/* ---------------------------------------------------------------- a driver (the layer above) */

/** What a connection tells the driver that took it over (pwsm__conn_drive).  self is the
 * pointer given there.  All are called on the service thread, from lws callbacks. */
typedef struct pwsm__conn_driver {
    /** ESTABLISHED finished (greeting and timers are the driver's business): start. */
    void (*start)(void *self);
    /** A client data message arrived; redacted is how the journal shows it (not
     * NUL-terminated).  Called for every message, before message(). */
    void (*received)(void *self, bool binary, const char *redacted, size_t len);
    /** A client text message the connection may answer (open, not stalled, within the rate
     * limit): true if the driver took it (no real-service answer follows), false if the real
     * service should answer it.  text is NUL-terminated. */
    bool (*message)(void *self, const pwsm__msg *m, const char *text, size_t len);
    /** The timer armed with pwsm__conn_timer fired. */
    void (*timer)(void *self);
    /** The queue drained after pwsm__conn_barrier (from SERVER_WRITEABLE).  Returns what the
     * WRITEABLE callback must return (-1 after pwsm__conn_close or pwsm__conn_drop). */
    int (*drained)(void *self);
    /** The stream started with pwsm__conn_stream ended: why is NULL, or why it ended early. */
    void (*stream_done)(void *self, const char *why);
    /** The connection ended (CLOSED): the last call; the driver frees self. */
    void (*ended)(void *self);
} pwsm__conn_driver;

/** Offered each new connection at ESTABLISHED, before anything is queued or journaled
 * (server.h holds the one the server uses): user is the hook's own pointer, ordinal the
 * connection's (1-based, in handshake order).  It may hand the connection to a driver with
 * pwsm__conn_drive and then must not call anything else on c yet.  Returns 0 (taken or
 * not), or -1 to refuse the connection (out of memory; c is then left untouched). */
typedef int (*pwsm__conn_attach_fn)(void *user, pwsm__conn *c, uint32_t ordinal);

/** Hands c to a driver (from a pwsm__conn_attach_fn only): no greeting and no auth timeout
 * of its own, the driver's callbacks from now on.  driver must outlive the connection. */
void pwsm__conn_drive(pwsm__conn *c, const pwsm__conn_driver *driver, void *self);

/* ---------------------------------------------------------------- operations, for the driver */

/** Frame types a driver can queue. */
typedef enum pwsm__out {
    PWSM__OUT_TEXT = 0,  /* text frame, payload verbatim (may be invalid UTF-8) */
    PWSM__OUT_BINARY,    /* binary frame */
    PWSM__OUT_PING,      /* ping, payload <= 125 bytes */
    PWSM__OUT_PONG,      /* unsolicited pong, payload <= 125 bytes */
    PWSM__OUT_RAW        /* bytes written to the connection as they are (a hand-made frame) */
} pwsm__out;

/* All queue-and-return: none of them writes to the socket, except pwsm__conn_close and
 * pwsm__conn_drop, which may only be called from the driver's drained() (that is, from
 * SERVER_WRITEABLE). */

/** Queues one frame (the data is copied) and asks for WRITEABLE. */
void pwsm__conn_send(pwsm__conn *c, pwsm__out type, const void *data, size_t len);
/** Queues a status frame with the built-in text for status (e.g. "connected"). */
void pwsm__conn_status(pwsm__conn *c, const char *status);
/** Real-service handling of an auth action with this key (auth_success, or auth_failed /
 * max_connections and a close).  Returns true if the connection is now authenticated. */
bool pwsm__conn_auth(pwsm__conn *c, const char *key);
/** Real-service (un)subscribe of comma-separated channels: confirms each one and updates the
 * subscriptions.  force: confirm even on a connection that is not authenticated. */
void pwsm__conn_subscribe(pwsm__conn *c, const char *params, bool on, bool force);
/** The real auth_timeout: status, then close with the policy code.  Does nothing (returns
 * false) if the connection is authenticated or already closing. */
bool pwsm__conn_auth_timeout(pwsm__conn *c);
/** The server's auth_timeout_ms (AUTH's default wait). */
uint32_t pwsm__conn_auth_timeout_ms(const pwsm__conn *c);
/** Payload bytes queued and not yet written. */
size_t pwsm__conn_queued(const pwsm__conn *c);
/** False once the connection is closing, closed, kicked or dropped: the driver stops. */
bool pwsm__conn_open(const pwsm__conn *c);
/** Asks for one drained() call once every queued frame was written. */
void pwsm__conn_barrier(pwsm__conn *c);
/** Arms the driver's timer (re-arming replaces it): timer() runs after ms. */
void pwsm__conn_timer(pwsm__conn *c, uint32_t ms);
/** Cancels the driver's timer. */
void pwsm__conn_timer_cancel(pwsm__conn *c);
/** Sends a close frame with code and reason as given (any code; 0 = a close frame with no
 * payload at all) and waits for the client's.  Returns the WRITEABLE callback's result. */
int pwsm__conn_close(pwsm__conn *c, int code, const char *reason);
/** Drops the TCP connection without a close frame.  Returns the callback's result (-1). */
int pwsm__conn_drop(pwsm__conn *c);
/** Stops (on) or resumes reading and writing; while stalled pings go unanswered. */
void pwsm__conn_stall(pwsm__conn *c, bool on);
/** Starts streaming what st describes; stream_done() follows when it ends.  nth counts the
 * STREAM steps run on this connection before (for seeds).  Returns NULL, or why nothing can
 * be streamed (then stream_done() is not called). */
const char *pwsm__conn_stream(pwsm__conn *c, const pwss_stream *st, uint32_t nth);
/** Turns real-service serving on or off: streaming to the subscriptions at the server's
 * rate, and the auth timeout (armed afresh when serving starts unauthenticated). */
void pwsm__conn_serve(pwsm__conn *c, bool on);
/** Journals a connection event (dir '-'); kind must be a string literal. */
void pwsm__conn_journal(pwsm__conn *c, const char *kind, const char *text);

#endif
