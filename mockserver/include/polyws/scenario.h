/*
 * polyws/scenario.h - the scenario model: what a YAML scenario compiles to.
 *
 * A scenario is the story of one client session against the mock server:
 * server settings, a script of steps per connection ordinal (1st, 2nd, ...,
 * with a default), what the check runner gives the client, and assertions on
 * the client's behaviour that the server judges from its journal.
 *
 *   scenario.c   YAML file -> pwss_scenario (errors as file:line:column)
 *   engine.c     plays the steps of each connection (pwsm_options.scenario)
 *   judge.c      journal + client result -> verdict per assertion
 *   cli/check.c  `polyws check`: runs scenarios against any client command
 *
 * Everything here is plain data owned by the pwss_scenario (freed by
 * pwss_free).  The language itself is documented in docs/scenarios.md.
 */
#ifndef POLYWS_SCENARIO_H
#define POLYWS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWSS_MAX_FILE_BYTES (1u << 20)   /* scenario file size limit */
#define PWSS_MAX_STEPS 4096u             /* steps in one scenario, repeats unrolled not counted */
#define PWSS_MAX_REPEAT 1000000u         /* repeat count limit */
#define PWSS_MAX_DEPTH 8u                /* nesting of repeat blocks */
#define PWSS_MAX_CONN_SCRIPTS 64u        /* scripts by ordinal */
#define PWSS_MAX_ASSERTIONS 64u          /* assertions per scenario */

/** Step kinds.  Each step runs to completion before the next starts. */
typedef enum pwss_step_kind {
    PWSS_STEP_GREET = 0,     /**< send the "connected" status */
    PWSS_STEP_AUTH,          /**< wait for an auth action (timeout_ms); answer auth_success if the key
                                  is accepted, else auth_failed and close with the policy code */
    PWSS_STEP_CONFIRM,       /**< wait for a subscribe action (timeout_ms); confirm each channel */
    PWSS_STEP_HANDSHAKE,     /**< GREET + AUTH + CONFIRM */
    PWSS_STEP_SEND_TEXT,     /**< send data/len as one text frame, verbatim (may be invalid UTF-8) */
    PWSS_STEP_SEND_BINARY,   /**< send data/len as one binary frame */
    PWSS_STEP_STREAM,        /**< generate events (see pwss_stream) */
    PWSS_STEP_SLEEP,         /**< wait ms */
    PWSS_STEP_EXPECT,        /**< wait up to timeout_ms for a client text message matching the
                                  pattern (JSON subset in data, or a POSIX extended regex if
                                  `regex`); no match in time fails the scenario at this step */
    PWSS_STEP_CLOSE,         /**< send a close frame (code, reason), then wait for the client's */
    PWSS_STEP_DROP,          /**< drop the TCP connection without a close frame */
    PWSS_STEP_STALL,         /**< stop reading and writing, ignore pings, for ms (0 = until the end) */
    PWSS_STEP_PING,          /**< send a ping with data/len as payload */
    PWSS_STEP_PONG,          /**< send an unsolicited pong with data/len */
    PWSS_STEP_RAW,           /**< write data/len straight to the socket: a hand-made WebSocket frame
                                  (protocol faults: reserved bits, reserved opcodes, fragments,
                                  control frames in fragments, >125-byte control frames, bad close
                                  codes).  The loader builds the bytes from the YAML `frame:` or
                                  `fault:` forms. */
    PWSS_STEP_SERVE,         /**< behave like the real service (answer actions, stream to the
                                  subscriptions) for ms, 0 = until the connection ends */
    PWSS_STEP_REPEAT         /**< run body[0..nbody) `times` times */
} pwss_step_kind;

/** What a STREAM step generates. */
typedef struct pwss_stream {
    uint64_t count;          /**< events to send (required, > 0) */
    double rate;             /**< events per second; <= 0 = as fast as the client reads */
    uint32_t batch;          /**< events per frame, 1..PWSM_MAX_BATCH (default 10) */
    uint64_t seed;           /**< 0 = the scenario seed mixed with the connection ordinal */
    char types[8][4];        /**< event types among "A", "AM", "T", "Q"; none = those subscribed */
    uint32_t ntypes;         /**< entries in types */
    char **symbols;          /**< symbols to stream; NULL = those subscribed (wildcards: the universe) */
    uint32_t nsymbols;       /**< entries in symbols */
} pwss_stream;

/** One step.  Which fields matter depends on kind. */
typedef struct pwss_step {
    pwss_step_kind kind;     /**< what to do */
    int line, column;        /**< where it was written (1-based), for messages */
    char *data;              /**< payload, pattern or raw bytes (NUL-terminated for convenience) */
    size_t len;              /**< bytes in data */
    bool regex;              /**< EXPECT: data is a regex, else a JSON subset pattern */
    bool optional;           /**< CONFIRM: no subscribe within ms is fine (the step just ends), for
                                  scenarios that serve data to clients that only authenticate */
    uint32_t ms;             /**< SLEEP/STALL/SERVE duration, AUTH/CONFIRM/EXPECT timeout */
    int code;                /**< CLOSE code (sent as given, even if invalid) */
    char *reason;            /**< CLOSE reason, or NULL */
    pwss_stream stream;      /**< STREAM */
    uint32_t times;          /**< REPEAT count */
    struct pwss_step *body;  /**< REPEAT body */
    size_t nbody;            /**< steps in body */
} pwss_step;

/** The steps of one connection.  When they end without a close or drop, the
 * connection goes on as SERVE (like the real service). */
typedef struct pwss_conn_script {
    uint32_t ordinal;        /**< 1-based connection ordinal; 0 for the default script */
    pwss_step *steps;        /**< steps in order */
    size_t nsteps;           /**< entries in steps */
} pwss_conn_script;

/** Assertion kinds, judged after the run from the journal and the client's result. */
typedef enum pwss_assert_kind {
    PWSS_ASSERT_AUTH_WITHIN = 0,     /**< every connection sends auth within ms of opening */
    PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH, /**< no subscribe before auth_success on any connection */
    PWSS_ASSERT_RESUBSCRIBED,        /**< each later authenticated connection subscribes the same
                                          channel set as the first one did */
    PWSS_ASSERT_RECONNECT_DELAY,     /**< gap between a connection's end and the next open >= ms;
                                          with `growing`, each gap >= the previous one (until cap_ms) */
    PWSS_ASSERT_MAX_CONNECTS,        /**< at most `count` connection opens in any `ms` window */
    PWSS_ASSERT_MIN_CONNECTS,        /**< at least `count` connections were opened */
    PWSS_ASSERT_CLIENT_CLOSED_WITH,  /**< the client sent a close frame with `code` (on `ordinal`, 0 = any) */
    PWSS_ASSERT_CLIENT_EXIT,         /**< the client exited with `code` (-1 = any non-zero) */
    PWSS_ASSERT_OUTPUT_EQUALS,       /**< the client's stdout equals the file `path` byte for byte */
    PWSS_ASSERT_OUTPUT_MATCHES,      /**< some line of stdout (stream = 1) or stderr (2) matches regex `text` */
    PWSS_ASSERT_NO_RECONNECT,        /**< exactly one connection was opened (e.g. after auth_failed) */
    /* Output assertions under the client contract (docs/client-contract.md): they look at the
     * market-data events the client printed, one JSON object per line, compared by value. */
    PWSS_ASSERT_PRINTED,             /**< at least `count` (and at most `max`) printed events match the JSON
                                          subset pattern `text` */
    PWSS_ASSERT_NOT_PRINTED,         /**< no printed event matches the JSON subset pattern `text` */
    PWSS_ASSERT_FAILS_CONNECTION     /**< the client failed connection `ordinal` (0 = any) as RFC 6455 7.1.7
                                          says: a close frame with `code`, or (since the close frame is
                                          only a SHOULD) closing TCP without one; never by carrying on */
} pwss_assert_kind;

typedef struct pwss_assertion {
    pwss_assert_kind kind;   /**< what is asserted */
    int line, column;        /**< where it was written */
    uint32_t ms;             /**< AUTH_WITHIN, RECONNECT_DELAY (min gap), MAX_CONNECTS (window) */
    uint32_t cap_ms;         /**< RECONNECT_DELAY: growth stops being required at this gap (0 = none) */
    bool growing;            /**< RECONNECT_DELAY */
    uint32_t count;          /**< MAX_CONNECTS, MIN_CONNECTS; PRINTED: at least this many (default 1) */
    uint32_t max;            /**< PRINTED: at most this many (UINT32_MAX = no limit) */
    int code;                /**< CLIENT_CLOSED_WITH, FAILS_CONNECTION, CLIENT_EXIT */
    uint32_t ordinal;        /**< CLIENT_CLOSED_WITH, FAILS_CONNECTION */
    int stream;              /**< OUTPUT_MATCHES: 1 stdout, 2 stderr */
    char *path;              /**< OUTPUT_EQUALS: path, resolved relative to the scenario file */
    char *text;              /**< OUTPUT_MATCHES: regex; PRINTED, NOT_PRINTED: the pattern as compact JSON */
} pwss_assertion;

/** Status texts of `server.texts` (see pwsm_texts in polyws/mock.h); NULL = the mock's default. */
typedef struct pwss_texts {
    char *unknown_action;    /**< error for an unknown action */
    char *not_json;          /**< error for a message that is not a JSON object with an action */
    char *repeated_auth;     /**< auth_success message for an auth on an authenticated connection */
    char *not_authorized;    /**< error for a channel whose event type the market does not serve */
    char *invalid_channel;   /**< error for a malformed channel */
    char *slow_consumer;     /**< slow_consumer message */
    char *auth_required;     /**< auth_required message */
    char *rate_limit;        /**< error for an action over the rate limit */
} pwss_texts;

/** Server settings of a scenario (compiled into pwsm_options by the runner). */
typedef struct pwss_server {
    char *keys[16];          /**< accepted keys; none = the runner's generated key */
    uint32_t nkeys;          /**< entries in keys */
    uint32_t auth_timeout_ms;/**< 0 = mock default */
    uint32_t max_per_key;    /**< 0 = mock default (1) */
    bool kick_newer;         /**< max_connections kicks the newer connection instead of the older */
    uint32_t rate_actions;   /**< action rate limit: at most this many client actions ... */
    uint32_t rate_window_ms; /**< ... per window; 0 = no limit */
    bool rate_close;         /**< exceeding it closes (policy code) instead of an error status */
    bool tls;                /**< serve wss:// */
    uint64_t seed;           /**< stream seed, 0 = 1 */
    double events_per_sec;   /**< default SERVE stream rate, 0 = mock default */
    uint32_t batch_max;      /**< default SERVE batch, 0 = mock default */
    int policy_close_code;   /**< 0 = mock default (1008) */
    uint64_t slow_consumer_bytes; /**< unread backlog that makes a slow consumer; 0 = mock default (off) */
    pwss_texts texts;        /**< status texts */
    char *plan_markets;      /**< plan.markets joined with commas ("stocks,crypto"); NULL = every market */
    char *plan_types;        /**< plan.types joined with commas ("A,AM"); NULL = every event type */
    uint32_t handshake_timeout_ms; /**< `handshake_timeout`: a connection must complete its upgrade
                                  request this soon after its accept; 0 = mock default (5 s) */
} pwss_server;

/** How `polyws check` runs the client for this scenario. */
typedef struct pwss_client {
    char *subscribe;         /**< POLYWS_SUBSCRIBE given to the client (default "A.AAPL") */
    uint32_t timeout_ms;     /**< the client is killed after this (default 30000); being killed
                                  is a failure unless `killed_ok` */
    bool killed_ok;          /**< a client still running at the timeout is stopped with SIGTERM and
                                  that is fine (for scenarios that end by time) */
    uint64_t count;          /**< POLYWS_COUNT: events after which the client should stop, 0 = none */
    double duration_s;       /**< POLYWS_DURATION: seconds after which the client should stop, 0 = none */
    uint32_t heartbeat_ms;   /**< POLYWS_HEARTBEAT_MS: a hint to treat a connection silent this long
                                  (no data, no pong) as dead, 0 = not set */
} pwss_client;

/** A whole scenario. */
typedef struct pwss_scenario {
    char *path;              /**< the file it came from */
    char *name;              /**< `name:`, default the file's base name */
    char *description;       /**< `description:` - one line: what it proves (required) */
    pwss_server server;      /**< server settings */
    pwss_client client;      /**< client run settings */
    pwss_conn_script *scripts; /**< per-ordinal scripts, sorted by ordinal */
    size_t nscripts;         /**< entries in scripts */
    pwss_conn_script default_script; /**< for ordinals without a script (nsteps 0 = real service) */
    bool has_default;        /**< default_script was written */
    pwss_assertion *assertions; /**< judged after the run */
    size_t nassertions;      /**< entries in assertions */
} pwss_scenario;

/** Loads and validates a scenario.  On error returns NULL and writes one line
 * "FILE:LINE:COLUMN: message" to errbuf. */
pwss_scenario *pwss_load(const char *path, char *errbuf, size_t errcap);
/** Loads and validates a scenario held in memory: text[0..len) (not NUL-terminated,
 * at most PWSS_MAX_FILE_BYTES) under the name `name` (NULL: "(memory)"), which
 * messages start with and relative paths in it (output_equals) resolve against,
 * as if it were the file's path.  The text is not kept.  Errors as pwss_load. */
pwss_scenario *pwss_load_mem(const char *text, size_t len, const char *name, char *errbuf,
                             size_t errcap);
/** Frees a scenario; NULL is fine. */
void pwss_free(pwss_scenario *sc);
/** The script for a connection ordinal: its own, else the default, else NULL (real service). */
const pwss_conn_script *pwss_script_for(const pwss_scenario *sc, uint32_t ordinal);

#ifdef __cplusplus
}
#endif
#endif
