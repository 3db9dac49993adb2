/*
 * engine.h - plays the steps of a scenario script on one mock connection (private).
 *
 * The engine is the step sequencer: which step runs, when it ends, what a
 * failed step says.  It never calls lws.  It acts through its connection
 * (server.c), which implements the pwsm__conn_* functions below: queue a
 * frame, arm the engine timer, close, drop, stall, stream, serve.  server.c in
 * turn calls the pwsm__engine_* entry points from its lws callbacks:
 *
 *   ESTABLISHED            pwsm__engine_start
 *   RECEIVE (a message)    pwsm__engine_note_rx, then pwsm__engine_message
 *   the engine timer       pwsm__engine_timer
 *   SERVER_WRITEABLE       pwsm__engine_drained (queue empty, barrier asked)
 *   a STREAM step's end    pwsm__engine_stream_done
 *   CLOSED                 pwsm__engine_end
 *
 * so everything runs on the lws service thread and frames only leave from
 * WRITEABLE (one lws_write each).
 *
 * Step semantics (documented for users in polyws/mock.h):
 *  - steps that only queue frames (GREET, SEND_TEXT, SEND_BINARY, PING, PONG,
 *    RAW, REPEAT) end at once; the queue keeps the order on the wire;
 *  - SLEEP, STALL, CLOSE and DROP first wait until everything queued was
 *    written (the "barrier"), so a sleep measures from the last frame sent and
 *    a drop loses nothing queued before it;
 *  - AUTH, CONFIRM, EXPECT (and HANDSHAKE's auth and confirm parts) wait for a
 *    client message; while they wait, other client messages get no answer;
 *    outside them, client actions get the real service's answers;
 *  - a failed step is journaled ("step_failed") and the script goes on with the
 *    next step, except an AUTH that timed out: like the real service, it sends
 *    auth_timeout and closes;
 *  - after the last step the connection serves like the real service.
 */
#ifndef PWSM_ENGINE_H
#define PWSM_ENGINE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <polyws/scenario.h>

#include "protocol.h"

/* ---------------------------------------------------------------- limits */

#define PWSM__STEP_TIMEOUT_MS 10000u   /* CONFIRM / EXPECT wait when the step gives 0 ms */
#define PWSM__ENGINE_HIGH_WATER 65536u /* queued bytes above which the engine waits for the
                                          queue to drain before starting the next step */
#define PWSM__ENGINE_BURST 64u         /* steps started per callback before yielding to lws */
#define PWSM__LAST_RX_MAX 120u         /* bytes of the last client message quoted on failure */
#define PWSM__PATTERN_SHOWN 100u       /* bytes of an EXPECT pattern quoted on failure */

/* ---------------------------------------------------------------- the connection, seen by the engine */

/** server.c's connection; the engine only holds a pointer. */
typedef struct pwsm__conn pwsm__conn;

/** Frame types the engine can queue. */
typedef enum pwsm__out {
    PWSM__OUT_TEXT = 0,  /* text frame, payload verbatim (may be invalid UTF-8) */
    PWSM__OUT_BINARY,    /* binary frame */
    PWSM__OUT_PING,      /* ping, payload <= 125 bytes */
    PWSM__OUT_PONG,      /* unsolicited pong, payload <= 125 bytes */
    PWSM__OUT_RAW        /* bytes written to the connection as they are (a hand-made frame) */
} pwsm__out;

/* Implemented by server.c.  All queue-and-return: none of them writes to the socket,
 * except pwsm__conn_close and pwsm__conn_drop, which may only be called from
 * pwsm__engine_drained (that is, from SERVER_WRITEABLE). */

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
/** False once the connection is closing, closed, kicked or dropped: the engine stops. */
bool pwsm__conn_open(const pwsm__conn *c);
/** Asks for one pwsm__engine_drained call once every queued frame was written. */
void pwsm__conn_barrier(pwsm__conn *c);
/** Arms the engine timer (re-arming replaces it): pwsm__engine_timer runs after ms. */
void pwsm__conn_timer(pwsm__conn *c, uint32_t ms);
/** Cancels the engine timer. */
void pwsm__conn_timer_cancel(pwsm__conn *c);
/** Sends a close frame with code and reason as given (any code; 0 = a close frame with no
 * payload at all) and waits for the client's.  Returns the WRITEABLE callback's result. */
int pwsm__conn_close(pwsm__conn *c, int code, const char *reason);
/** Drops the TCP connection without a close frame.  Returns the callback's result (-1). */
int pwsm__conn_drop(pwsm__conn *c);
/** Stops (on) or resumes reading and writing; while stalled pings go unanswered. */
void pwsm__conn_stall(pwsm__conn *c, bool on);
/** Starts streaming what st describes; pwsm__engine_stream_done follows when it ends.
 * nth counts the STREAM steps run on this connection before (for seeds).  Returns NULL,
 * or why nothing can be streamed (then pwsm__engine_stream_done is not called). */
const char *pwsm__conn_stream(pwsm__conn *c, const pwss_stream *st, uint32_t nth);
/** Turns real-service serving on or off: streaming to the subscriptions at the server's
 * rate, and the auth timeout (armed afresh when serving starts unauthenticated). */
void pwsm__conn_serve(pwsm__conn *c, bool on);
/** Journals a connection event (dir '-'); kind must be a string literal. */
void pwsm__conn_journal(pwsm__conn *c, const char *kind, const char *text);

/* ---------------------------------------------------------------- the engine */

/** One level of the step stack: the top-level steps, or a REPEAT body. */
typedef struct pwsm__engine_level {
    const pwss_step *steps;  /* the steps of this level */
    size_t n;                /* their number */
    size_t next;             /* index of the next step to start (the running one is next - 1) */
    uint32_t iteration;      /* 1-based iteration of a REPEAT body (1 for the top level) */
    uint32_t times;          /* iterations to run (1 for the top level) */
} pwsm__engine_level;

/** Where a running step is in its work. */
typedef enum pwsm__phase {
    PWSM__PH_NONE = 0,       /* nothing to wait for: the step ends when its frames are queued */
    PWSM__PH_BARRIER,        /* waiting for the queue to drain before acting */
    PWSM__PH_TIMER,          /* waiting for the engine timer (SLEEP, STALL, SERVE) */
    PWSM__PH_AUTH,           /* waiting for an auth action (AUTH, HANDSHAKE) */
    PWSM__PH_CONFIRM,        /* waiting for a subscribe action (CONFIRM, HANDSHAKE) */
    PWSM__PH_EXPECT,         /* waiting for a matching client message */
    PWSM__PH_STREAM,         /* a STREAM step is streaming */
    PWSM__PH_FOREVER,        /* STALL 0 / SERVE 0 / CLOSE / DROP: runs until the connection ends */
} pwsm__phase;

/** A connection's engine: embed it in the connection, zeroed. */
typedef struct pwsm__engine {
    pwsm__conn *conn;                /* the connection it drives */
    const pwss_conn_script *script;  /* the steps; NULL: no script */
    pwsm__engine_level stack[PWSS_MAX_DEPTH + 1]; /* top level, then nested REPEAT bodies */
    unsigned depth;                  /* levels in use */
    const pwss_step *step;           /* the running step, or NULL between steps */
    pwsm__phase phase;               /* what it waits for */
    uint32_t wait_ms;                /* the running wait's timeout (for messages) */
    int64_t step_started_ms;         /* monotonic ms when the running step started */
    bool finished;                   /* every step ran: the connection serves */
    bool in_advance;                 /* advance() is on the stack: do not re-enter */
    bool resume;                     /* paused for the queue to drain (a burst of steps) */
    void *pattern;                   /* EXPECT: the parsed JSON pattern (cJSON *) */
    regex_t re;                      /* EXPECT: the compiled regex ... */
    bool re_ready;                   /* ... if this is set */
    char last_rx[PWSM__LAST_RX_MAX + 1]; /* excerpt of the last client message (redacted) */
    size_t last_rx_len;              /* its length */
    bool have_rx;                    /* a client message was received */
    uint32_t streams_run;            /* STREAM steps started (mixed into their default seed) */
} pwsm__engine;

/** Prepares e for connection c playing script (nsteps > 0). */
void pwsm__engine_init(pwsm__engine *e, pwsm__conn *c, const pwss_conn_script *script);
/** Starts the first steps (at ESTABLISHED). */
void pwsm__engine_start(pwsm__engine *e);
/** True while the script plays (false before start and once finished). */
bool pwsm__engine_playing(const pwsm__engine *e);
/** Remembers a client message (already redacted) for failure messages. */
void pwsm__engine_note_rx(pwsm__engine *e, bool binary, const char *redacted, size_t len);
/** Offers a client text message to the running step.  Returns true if the step took it
 * (no real-service answer must follow), false if the real service should answer it. */
bool pwsm__engine_message(pwsm__engine *e, const pwsm__msg *m, const char *text, size_t len);
/** The engine timer fired. */
void pwsm__engine_timer(pwsm__engine *e);
/** The queue drained after pwsm__conn_barrier.  Returns what the WRITEABLE callback must
 * return (-1 after a close or a drop). */
int pwsm__engine_drained(pwsm__engine *e);
/** The running STREAM step ended: why is NULL, or why it ended early (a step failure). */
void pwsm__engine_stream_done(pwsm__engine *e, const char *why);
/** The connection ended: journals a wait it interrupted as a failed step, frees. */
void pwsm__engine_end(pwsm__engine *e);

/* ---------------------------------------------------------------- matching (engine_match.c) */

struct cJSON;
/** True if pattern is a subset of value: objects - every key of the pattern is in the value
 * with a matching value; arrays - the value has at least as many elements and element i
 * matches pattern element i; strings, numbers, booleans, null - equal. */
bool pwsm__json_subset(const struct cJSON *pattern, const struct cJSON *value);
/** Prints at most max bytes of data for a one-line message: printable ASCII as is, other
 * bytes as \xNN, "..." if cut.  Always NUL-terminates (cap >= 1); returns the length. */
size_t pwsm__excerpt(char *out, size_t cap, const char *data, size_t len, size_t max);

/* ---------------------------------------------------------------- scripts (engine_script.c) */

/** Deep-copies the connection scripts of src (scripts, default_script, has_default; nothing
 * else) into dst, checking them: scripts sorted by ordinal (pwss_script_for needs it), step
 * kinds, REPEAT nesting (PWSS_MAX_DEPTH) and counts (PWSS_MAX_REPEAT), PWSS_MAX_STEPS,
 * STREAM count / batch / types, control payloads, close codes and reasons, EXPECT patterns.
 * Returns 0, or -1 with a message in err (dst is then empty). */
int pwsm__scripts_copy(pwss_scenario *dst, const pwss_scenario *src, char *err, size_t errcap);
/** Frees what pwsm__scripts_copy put in dst. */
void pwsm__scripts_free(pwss_scenario *dst);
/** The name of a step kind as journaled, e.g. "SEND_TEXT". */
const char *pwsm__step_name(pwss_step_kind kind);

#endif
