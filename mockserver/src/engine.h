/*
 * engine.h - plays the steps of a scenario script on one mock connection (private).
 *
 * The engine is the step sequencer: which step runs, when it ends, what a
 * failed step says.  It never calls lws.  It is a layer above the connection:
 * it acts through the connection's operations (conn.h: queue a frame, arm a
 * timer, close, drop, stall, stream, serve), and the connection calls it back
 * only through the pwsm__conn_driver callbacks the engine registers when it
 * attaches (pwsm__engine_attach, the server's pwsm__conn_attach_fn):
 *
 *   ESTABLISHED            start
 *   RECEIVE (a message)    received, then message
 *   the driver's timer     timer
 *   SERVER_WRITEABLE       drained (queue empty, barrier asked)
 *   a STREAM step's end    stream_done
 *   CLOSED                 ended
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <polyws/scenario.h>

#include "conn.h"

/* ---------------------------------------------------------------- limits */

#define PWSM__STEP_TIMEOUT_MS 10000u   /* CONFIRM / EXPECT wait when the step gives 0 ms */
#define PWSM__ENGINE_HIGH_WATER 65536u /* queued bytes above which the engine waits for the
                                          queue to drain before starting the next step */
#define PWSM__ENGINE_BURST 64u         /* steps started per callback before yielding to lws */
#define PWSM__LAST_RX_MAX 120u         /* bytes of the last client message quoted on failure */
#define PWSM__PATTERN_SHOWN 100u       /* bytes of an EXPECT pattern quoted on failure */

/* ---------------------------------------------------------------- the engine (engine.c) */

/** A pwsm__conn_attach_fn (conn.h); user is the server's pwss_scenario, whose scripts are
 * sorted by ordinal (pwsm__scripts_copy keeps them so).  If the script for ordinal has
 * steps, plays it on c: allocates an engine, which the connection frees when it ends
 * (the driver's ended()).  Returns 0 (played or not), or -1 out of memory. */
int pwsm__engine_attach(void *user, pwsm__conn *c, uint32_t ordinal);

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
