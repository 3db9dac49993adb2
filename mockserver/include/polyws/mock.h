/*
 * polyws/mock.h - the mock Polygon server as a library (libpwsmock).
 *
 * A real libwebsockets server on loopback that behaves like Polygon's stream
 * (greeting, auth against accepted keys, one confirmation per channel,
 * wildcards, unsubscribe, auth_timeout, auth_required, max_connections, a
 * deterministic seeded stream of A/AM/T/Q events for the subscribed channels)
 * plus per-connection fault scripts chosen by connection ordinal (1st, 2nd,
 * ...).  It runs in its own thread; tests and `polyws mock` drive it.  Every
 * frame in both directions is journaled (JSON lines, the tape line format) so
 * a test can judge the client's behaviour.
 *
 * The YAML scenario language (issue 3) compiles down to these structures, and
 * to pwss_scenario (polyws/scenario.h), whose step scripts the server plays:
 * see "Scenario playback" below.
 *
 * Threading: pwsm_start() and pwsm_stop() are called by the owning thread.
 * Every other function may be called from any thread while the server runs;
 * the server thread keeps appending to the journal meanwhile.
 *
 * Markets: the request path picks the market (Polygon's "cluster"): /stocks, /options,
 * /forex, /crypto or /indices, each also with a trailing slash (the query string is
 * ignored; Polygon's delayed feed uses the same paths on another host, and the mock does
 * not look at the Host header).  Any other path, "/" included, gets HTTP 404 at the
 * upgrade and no WebSocket (nothing is journaled).  The market decides which channels a
 * subscribe accepts (see pwsm_texts): event types stocks T Q A AM LULD NOI FMV; options
 * T Q A AM FMV; forex C CA CAS FMV; crypto XT XQ XA XAS XL2 FMV; indices V A AM; any
 * symbol, "*" meaning all.  Every market streams from the same generator, which makes
 * only A, AM, T and Q (stock-like events, also for option tickers and indices); channels
 * of the other types are confirmed and never streamed.
 *
 * Plans (plan_markets, plan_types; NULL = no restriction): all accepted keys share one plan,
 * Polygon's subscription level.  On a market path outside plan_markets the connection opens
 * and authenticates as usual, and every channel of every subscribe or unsubscribe gets
 * [{"ev":"status","status":"error","message":texts.not_authorized}] (malformed ones too);
 * what Polygon does for a cluster outside the plan is undocumented (it may refuse the
 * connection or the auth instead): that answer is our choice, its text settable.  On a
 * market inside the plan, a channel the market serves whose event type is not in plan_types
 * gets the same error: Polygon's documented answer for a channel outside the plan.
 *
 * Wire behaviour where the real service is undocumented is our choice, listed here:
 *  - status texts: see pwsm_texts (each one can be set); force_disconnect "Connection
 *    closed by the server." (script status_message overrides);
 *  - close codes: policy_close_code (default 1008) after auth_failed, auth_timeout,
 *    max_connections, STATUS_CLOSE and slow_consumer; 1009 for a client message over
 *    max_message; 1011 if a connection's control queue overflows;
 *  - a subscribe or unsubscribe answers each channel in order: "success" with "subscribed
 *    to: CH" / "unsubscribed to: CH" for a channel of the market's event types (even one it
 *    cannot stream: another type than A/AM/T/Q, symbols with characters outside
 *    [A-Za-z0-9.:/_-] or over 32 bytes), else an "error" status (texts.not_authorized for
 *    an event type the market does not serve or outside the plan, texts.invalid_channel for
 *    no dot, an empty type or an empty symbol).  A script's CONFIRM step confirms every channel unchecked;
 *  - a second auth on an authenticated connection gets auth_success again (key unchanged,
 *    message texts.repeated_auth);
 *  - binary frames from the client are journaled and otherwise ignored.
 *
 * Slow consumers (slow_consumer_bytes, off by default): the real-service stream then runs
 * on the server's clock instead of waiting for the client, like a market does.  Each
 * connection's generated frames wait in a backlog until the socket takes them (written
 * several frames per write when they pile up).  When a batch is due and the connection's
 * unread backlog (that backlog, its queued control frames and what lws holds of the last
 * write) is over slow_consumer_bytes, the backlog is dropped, the journal gets a "fault"
 * entry "slow_consumer", and the server sends [{"ev":"status","status":"slow_consumer",
 * "message":texts.slow_consumer}] and closes with policy_close_code once the client has read
 * up to it; a client that reads nothing more is dropped after PWSM_SLOW_CONSUMER_GRACE_S.
 * Bytes in the kernel's socket buffers (a few MB on loopback) are not counted: a client is
 * that far behind before its backlog starts to grow.  At events_per_sec < 0 ("max") the
 * server generates one batch per turn of its service loop whether or not the client reads,
 * so a client that stops reading trips the limit within moments, while one that keeps
 * reading gets what it reads (the backlog goes out up to 256 KiB per write).  STREAM steps
 * still wait for the client and are not checked.
 *
 * Handshakes (handshake_timeout_ms, max_pending, max_per_address): a client that connects and
 * never completes its upgrade request (slowloris: half a request, then silence) is closed after
 * handshake_timeout_ms.  At most max_pending such connections are kept at once: a new one then
 * closes the OLDEST pending one (nginx and haproxy drop idle half-open connections the same
 * way), so stalled connections cannot lock a real client out, which completes its upgrade
 * within milliseconds; refusing the newcomer instead would.  A pending connection is only
 * evicted once the server has read from it (two turns of its service loop after its accept);
 * if none is that old, the newcomer is refused.  One client address holds at most half of
 * the pending slots (beyond that its own oldest is closed), so a flood from one address leaves
 * the other half to everyone else.  max_per_address (off by default: local clients all come
 * from 127.0.0.1) refuses connections beyond a count per address.  The server also keeps 64 of
 * the process's file descriptors free by evicting, so accept() never fails for want of one.
 * None of this is journaled (the connections never opened); pwsm_get_handshake_stats counts it.
 *
 * Stream: "EV.*" means the 8-symbol universe AAPL MSFT AMZN GOOGL TSLA NVDA META SPY;
 * explicit symbols are streamed too (up to PWSM_MAX_SYMBOLS per connection).  Events
 * come from a PRNG seeded by (seed, connection ordinal) with integer prices and a
 * simulated clock starting 2024-01-02 14:30:00 UTC, so the same seed and the same client
 * behaviour give the same bytes.  Batches hold 1..batch_max events; at events_per_sec
 * the next batch of n events follows n/events_per_sec seconds after the previous one.
 * About one explicit symbol in eight is an OTC symbol, chosen by (symbol, seed): its A, AM
 * and T events carry "otc":true (absent otherwise, as at Polygon); the universe never is.
 *
 * Scenario playback (pwsm_options.scenario): connection ordinal n plays the steps of
 * pwss_script_for(scenario, n); without a script (or with an empty one) it is the real
 * service as above (and the pwsm_script of that ordinal applies).  A scripted connection
 * sends nothing by itself: no greeting, no stream, no auth timeout until it serves (only
 * the pings of ping_interval_ms); its pwsm_script is not used.
 *  - Steps that only queue frames (GREET, SEND_TEXT, SEND_BINARY, PING, PONG, RAW) end at
 *    once; frames keep their order on the wire.  SLEEP, STALL, CLOSE and DROP first wait
 *    until everything queued was written (a sleep is measured from the last frame sent, a
 *    drop loses nothing queued before it).
 *  - AUTH, CONFIRM, EXPECT and HANDSHAKE's auth and confirm parts wait for a client
 *    message; meanwhile other client messages are journaled and get no answer.  Outside
 *    these waits client actions get the real service's answers (a client may subscribe at
 *    any time), but the generated stream only flows in STREAM and SERVE steps.
 *  - AUTH answers the first auth action like the real service (auth_success; or auth_failed,
 *    max_connections, then a close).  Its wait (ms, 0 = auth_timeout_ms) running out is a
 *    failed step, and the real auth_timeout follows (status, policy close) unless the
 *    connection is already authenticated.  CONFIRM confirms every channel of the first
 *    subscribe action, authenticated or not, and records them as the subscriptions; its
 *    wait (ms, 0 = 10 s) running out is a failed step.  EXPECT waits (ms, 0 = 10 s) for a
 *    client text message that matches: a JSON subset (every key of a pattern object must
 *    be in the message with a matching value, recursively; a pattern array matches an array
 *    with at least as many elements, element by element; strings, numbers, booleans and null
 *    must be equal) or, with `regex`, a POSIX extended regex searched in the message (which
 *    a NUL byte ends).  A matching message gets no other answer.  HANDSHAKE sends the
 *    greeting, then waits like AUTH and like CONFIRM, each with its own ms (0 = defaults).
 *  - A failed step is journaled ("step_failed") and the script goes on with the next step
 *    (except after an AUTH timeout, which closes).  A wait cut short by the connection's
 *    end is a failed step too.
 *  - SEND_TEXT sends the bytes as given, invalid UTF-8 included.  PING and PONG payloads are
 *    at most 125 bytes, a CLOSE reason at most 123 (pwsm_start refuses more: use RAW).
 *  - RAW writes its bytes to the connection as they are (through TLS on wss: lws 4.1 writes
 *    LWS_WRITE_RAW data unframed), journaled as kind "raw".
 *  - CLOSE sends a close frame with `code` and `reason` as given, invalid codes included
 *    (999, 1005, 1006, 5000 ...), then waits for the client's close (lws gives up after 5 s).
 *    code 0 sends a close frame with no payload at all (no code, no reason).
 *  - STALL stops reading and writing (pings go unanswered) for ms, 0 = until the end; then
 *    everything resumes (lws answers the pings that waited).  DROP shuts the TCP connection
 *    without a close frame.
 *  - STREAM sends exactly `count` events in frames of exactly `batch` (default 10; the last
 *    may be smaller) at `rate` events/s (<= 0: as fast as the client reads), and ends when
 *    the last frame is written.  Without types, symbols or seed it streams the subscribed
 *    channels from the connection's own generator (the market SERVE streams).  Otherwise
 *    it uses a fresh generator: channels are types x symbols, where a missing list stands
 *    for the subscribed ones (types only: the given types for each subscribed symbol, "*"
 *    meaning the universe; neither but a seed: the subscribed channels); a given seed is
 *    not mixed with the ordinal (the same events on every connection and every run), seed 0
 *    is the server seed mixed with the ordinal and the number of STREAM steps run before.
 *    Nothing to stream (at the start, or once its channels were all unsubscribed) is a
 *    failed step.
 *  - SERVE behaves like the real service (stream to the subscriptions at events_per_sec,
 *    auth timeout armed afresh if not authenticated) for ms, 0 = until the end.  After the
 *    last step a connection that is still open serves likewise.
 *  - REPEAT runs its body `times` times; nesting up to PWSS_MAX_DEPTH.  A long run of steps
 *    that end at once pauses after 64 steps or 64 KiB queued until the queue was written, so
 *    a REPEAT of a million sends holds little memory and does not starve other connections.
 *  - Journal: each step start is an entry ("step", data "KIND LINE:COLUMN", e.g.
 *    "EXPECT 12:5"); a failed step is one entry ("step_failed", data
 *    "step N (LINE:COLUMN) KIND: what was expected, received last: \"...\"", where N is the
 *    step's 1-based position, dotted inside REPEAT bodies ("3.2", with "(repeat iteration
 *    i of n)" after the expectation), and the last client message, whenever it came, is
 *    redacted, cut to at most 120 characters and quoted with non-printable bytes as \xNN;
 *    "received last: nothing" if none came).
 *
 * Also our choices, for the newer features:
 *  - kick_newer: the newer connection's auth is answered with max_connections (no
 *    auth_success) and it is closed with policy_close_code;
 *  - rate limit: every client text message counts as an action; one beyond rate_actions in
 *    a sliding window of rate_window_ms gets [{"ev":"status","status":"error","message":
 *    "rate limit exceeded"}] (Polygon's real text is undocumented) and is not acted on (nor
 *    counted, nor seen by a waiting step); with rate_close the connection is then closed
 *    with policy_close_code.
 */
#ifndef POLYWS_MOCK_H
#define POLYWS_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <polyws/scenario.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWSM_MAX_SCRIPTS 16        /* per-ordinal scripts */
#define PWSM_MAX_KEYS 16           /* accepted keys */
#define PWSM_MAX_RAW_FRAMES 8      /* raw frames per script */
#define PWSM_MAX_BATCH 1000        /* upper bound for batch_max */
#define PWSM_MAX_SYMBOLS 1024      /* distinct symbols one connection can stream */
#define PWSM_MAX_OUT_QUEUE (4u << 20) /* bytes of control frames queued per connection; beyond: close 1011 */
#define PWSM_MAX_RATE_ACTIONS 65536u  /* upper bound for rate_actions (8 bytes per action per connection) */
#define PWSM_MIN_SLOW_CONSUMER_BYTES ((uint64_t)1 << 20) /* lower bound for a non-zero slow_consumer_bytes */
#define PWSM_MAX_SLOW_CONSUMER_BYTES ((uint64_t)1 << 30) /* upper bound (memory held per connection) */
#define PWSM_SLOW_CONSUMER_GRACE_S 5  /* a slow consumer that reads nothing more is dropped after this */
#define PWSM_DEFAULT_HANDSHAKE_TIMEOUT_MS 5000u /* handshake_timeout_ms unless set */
#define PWSM_MAX_HANDSHAKE_TIMEOUT_MS 3600000u  /* upper bound for handshake_timeout_ms */
#define PWSM_DEFAULT_MAX_PENDING 1024u          /* max_pending unless set */
#define PWSM_MAX_PENDING 65536u                 /* upper bound for max_pending */
#define PWSM_MAX_PER_ADDRESS 1000000u           /* upper bound for max_per_address */

/** Fault injected on one connection once `after_events` events were streamed. */
typedef enum pwsm_fault {
    PWSM_FAULT_NONE = 0,      /**< keep streaming */
    PWSM_FAULT_DROP,          /**< shut the TCP connection down, no close frame */
    PWSM_FAULT_CLOSE,         /**< send a close frame with close_code / close_reason */
    PWSM_FAULT_STALL,         /**< stop writing and reading (lws_rx_flow_control: pings are not read, so
                                   never answered); TCP stays open.  Client frames that pile up unread
                                   are still journaled, peeked from the socket (plain ws only) */
    PWSM_FAULT_STATUS_CLOSE   /**< send status `status`, then close with policy_close_code */
} pwsm_fault;

/** What the server does on one connection.  Zero = behave like the real service. */
typedef struct pwsm_script {
    bool no_greeting;             /**< do not send the "connected" status on open */
    bool reject_auth;             /**< answer any auth with auth_failed (then close with policy_close_code) */
    bool ignore_auth;             /**< swallow auth messages unanswered, as if they never came (so the server's
                                       auth_timeout still fires after auth_timeout_ms) */
    uint32_t after_events;        /**< the fault fires once the connection is authenticated, this many
                                       events were streamed on it and the queued replies went out
                                       (0 = right after auth_success; >0 needs a subscription) */
    pwsm_fault fault;             /**< fault to inject */
    int close_code;               /**< for PWSM_FAULT_CLOSE, e.g. 1001 (sent as given; default 1000) */
    const char *close_reason;     /**< for PWSM_FAULT_CLOSE (may be NULL; cut to 123 bytes) */
    const char *status;           /**< for PWSM_FAULT_STATUS_CLOSE, e.g. "force_disconnect" (default) */
    const char *status_message;   /**< its "message" text; NULL = a built-in text for known statuses */
    const char *raw_frames[PWSM_MAX_RAW_FRAMES]; /**< text frames sent verbatim right after the first
                                       subscription confirmation (NULL-terminated) */
} pwsm_script;

/** Texts of the statuses the server sends on its own.  NULL = the default shown; where it is
 * Polygon's own text the comment says so, the others are ours (Polygon's are undocumented). */
typedef struct pwsm_texts {
    const char *unknown_action;   /**< "error" for a JSON object whose action is not auth, subscribe or
                                       unsubscribe; default "unknown action" (ours) */
    const char *not_json;         /**< "error" for a text message that is not a JSON object with a string
                                       "action"; default "invalid message: expected a JSON object with an
                                       action" (ours) */
    const char *repeated_auth;    /**< "auth_success" message for an auth on an authenticated connection;
                                       default "authenticated" (Polygon's auth_success text; that it answers
                                       a repeated auth so is our guess) */
    const char *not_authorized;   /**< "error" for a channel whose event type the market does not serve, or
                                       outside the plan (plan_markets, plan_types); default "not authorized"
                                       (Polygon's, for a channel outside the plan) */
    const char *invalid_channel;  /**< "error" for a malformed channel (no dot, empty type or symbol);
                                       default "invalid channel" (ours) */
    const char *slow_consumer;    /**< "slow_consumer" message; default "Connection closed: slow consumer."
                                       (ours) */
    const char *auth_required;    /**< "auth_required" message (subscribe before auth); default
                                       "authentication required" (ours) */
    const char *rate_limit;       /**< "error" for an action over the rate limit; default "rate limit
                                       exceeded" (ours) */
} pwsm_texts;

/** Server options.  Zero-initialize; zero fields take the defaults.  pwsm_start() copies
 * everything it needs: the strings may be freed once it returns. */
typedef struct pwsm_options {
    const char *host;             /**< bind address (IPv4 literal or interface), default "127.0.0.1" */
    int port;                     /**< 0 = pick a free port (default) */
    const char *keys[PWSM_MAX_KEYS]; /**< accepted keys (NULL-terminated); none = any non-empty key */
    uint32_t auth_timeout_ms;     /**< send auth_timeout and close if no auth, default 10000 */
    uint32_t max_per_key;         /**< connections per key, default 1; the older one gets max_connections */
    uint64_t seed;                /**< stream seed, default 1 */
    double events_per_sec;        /**< generated stream rate per connection, default 100; < 0 = as fast as the client reads */
    uint32_t batch_max;           /**< events per frame, 1..n, default 10, at most PWSM_MAX_BATCH */
    uint64_t stream_limit;        /**< events per connection then stop streaming; 0 = unlimited */
    bool tls;                     /**< serve wss:// with a self-signed cert generated at start (unless cert/key given) */
    const char *cert_file;        /**< PEM certificate (with tls) */
    const char *key_file;         /**< PEM private key (with tls) */
    pwsm_script default_script;   /**< for ordinals without a script */
    pwsm_script scripts[PWSM_MAX_SCRIPTS]; /**< scripts[i] applies to connection ordinal i+1 ... */
    uint32_t nscripts;            /**< ... for i < nscripts */
    const char *journal_path;     /**< if set, the journal is also written to this file (truncated at start),
                                       one JSON line per entry, flushed per line */
    /* --- added after the first draft; zero keeps the defaults --- */
    uint32_t max_connections;     /**< live connections; more are refused at the handshake; default 4096 */
    uint32_t max_message;         /**< largest client message in bytes; larger: close 1009; default 65536 */
    int policy_close_code;        /**< close code after auth_failed, auth_timeout, max_connections and
                                       STATUS_CLOSE (undocumented by Polygon; reports say 1008), default 1008 */
    uint32_t ping_interval_ms;    /**< send a ping every this often on each connection; 0 = never (default) */
    size_t journal_max_entries;   /**< in-memory journal cap, default 4194304 entries ... */
    size_t journal_max_bytes;     /**< ... and payload bytes, default 256 MiB; past either cap one "truncated"
                                       entry is kept and later entries go only to journal_path */
    /* --- scenario playback and the features it needs (usable without a scenario too) --- */
    const pwss_scenario *scenario; /**< if set, connection ordinal n plays pwss_script_for(scenario, n) (NULL or
                                       no steps: the real service); the non-zero settings of scenario->server
                                       (keys, auth_timeout_ms, max_per_key, kick_newer, rate limit, tls, seed,
                                       events_per_sec, batch_max, policy_close_code, slow_consumer_bytes,
                                       each text, plan_markets, plan_types) override the fields here.
                                       Only the scripts and those settings are used; pwsm_start checks and
                                       copies them (it fails on an invalid script): free it once it returns */
    bool kick_newer;              /**< max_per_key: the newer connection is kicked instead of the older ones */
    uint32_t rate_actions;        /**< action rate limit: at most this many client actions (text messages) ... */
    uint32_t rate_window_ms;      /**< ... in any rate_window_ms; 0 = no limit (default).  At most
                                       PWSM_MAX_RATE_ACTIONS; 0 actions with a window refuses every action */
    bool rate_close;              /**< over the limit: close with policy_close_code after the error status */
    /* --- fidelity: slow consumers and status texts --- */
    uint64_t slow_consumer_bytes; /**< unread backlog past which a connection gets slow_consumer and is closed
                                       ("Slow consumers" above); 0 = never (default), else
                                       PWSM_MIN_SLOW_CONSUMER_BYTES..PWSM_MAX_SLOW_CONSUMER_BYTES */
    pwsm_texts texts;             /**< status texts (NULL fields: the defaults) */
    /* --- the keys' plan (see Plans above) --- */
    const char *plan_markets;     /**< comma-separated markets the keys may use ("stocks,crypto"); NULL = all.
                                       pwsm_start fails on an unknown market or a list without one */
    const char *plan_types;       /**< comma-separated event types the plan includes ("A,AM"); NULL = all.
                                       pwsm_start fails on a type no market serves or an empty list */
    /* --- hostile clients and bounded artifacts --- */
    uint32_t max_repeated_auth;   /**< auth messages answered (auth_success again) on an authenticated
                                       connection; the next one closes it with policy_close_code, reason
                                       "too many auth messages"; default 16, at most PWSM_MAX_REPEATED_AUTH */
    uint64_t journal_file_max_bytes; /**< bytes journal_path may hold; the line that would pass the cap is
                                       replaced by one last "truncated" line naming the cap and nothing more
                                       is written; default 1 GiB, at least PWSM_MIN_JOURNAL_FILE_BYTES */
    /* --- clients that never finish their upgrade (slowloris); see "Handshakes" below --- */
    uint32_t handshake_timeout_ms; /**< a connection whose WebSocket upgrade request is not complete this
                                       long after its accept is closed (nothing journaled: it never
                                       opened); default 5000, at most PWSM_MAX_HANDSHAKE_TIMEOUT_MS */
    uint32_t max_pending;         /**< connections accepted whose upgrade is not complete yet, at once;
                                       at the cap the oldest of them is closed to make room; one client
                                       address holds at most half; default 1024, at most PWSM_MAX_PENDING */
    uint32_t max_per_address;     /**< connections (pending and open) from one client address; more are
                                       refused at accept; 0 = no cap (default: every local client shares
                                       127.0.0.1), at most PWSM_MAX_PER_ADDRESS */
} pwsm_options;

/** Handshake counters since pwsm_start (see "Handshakes" below). */
typedef struct pwsm_handshake_stats {
    uint64_t accepted;        /**< TCP connections accepted */
    uint64_t upgraded;        /**< of those, sent a complete upgrade request in time */
    uint64_t timed_out;       /**< closed: no complete upgrade request within handshake_timeout_ms */
    uint64_t evicted;         /**< closed: the oldest pending one when max_pending was reached */
    uint64_t refused_full;    /**< refused at accept: max_pending reached and every pending one too new
                                   to evict (not yet read once) */
    uint64_t refused_address; /**< refused at accept: max_per_address connections from that address */
    uint32_t pending;         /**< connections whose upgrade is not complete, now */
    uint32_t pending_peak;    /**< the most at once */
} pwsm_handshake_stats;

#define PWSM_MAX_REPEATED_AUTH 1000000u                  /**< largest max_repeated_auth */
#define PWSM_MIN_JOURNAL_FILE_BYTES ((uint64_t)4096)     /**< smallest journal_file_max_bytes */

typedef struct pwsm_server pwsm_server;

/** One journal entry (one frame or connection event).  Immutable once published. */
typedef struct pwsm_entry {
    int64_t t_us;      /**< microseconds since server start (monotonic clock) */
    uint32_t conn;     /**< connection ordinal, 1-based */
    char dir;          /**< 'c' client->server, 's' server->client, '-' connection event */
    const char *kind;  /**< frames: "text", "binary", "ping", "pong", "close" (client pings are only
                            visible during a STALL: lws 4.1 answers them without telling us),
                            "raw" (dir 's': bytes a RAW step wrote, data = them in lowercase hex);
                            events: "open" (data = request path), "fault" (data = "drop", "close",
                            "stall", "status_close" or "slow_consumer"), "drop" (ended without any close frame),
                            "closed" (ended after a close frame), "truncated" (journal cap hit),
                            "step" (a scenario step started, data = "KIND LINE:COLUMN"),
                            "step_failed" (data = "step N (LINE:COLUMN) KIND: what was expected,
                            received last: ..."; see Scenario playback above) */
    const char *data;  /**< payload (NUL-terminated; binary may contain NULs, see len), or "" */
    size_t len;        /**< payload length in bytes */
    int close_code;    /**< for "close": the code (0 if the frame had none) */
    const char *reason;/**< for "close": the reason text, or "" */
} pwsm_entry;

/** Starts the server in its own thread and returns once it listens.
 * Returns NULL and writes a message to errbuf (if non-NULL) on failure.
 * opts may be NULL (all defaults). */
pwsm_server *pwsm_start(const pwsm_options *opts, char *errbuf, size_t errcap);
/** The bound port. */
int pwsm_port(const pwsm_server *s);
/** "ws://127.0.0.1:PORT" or "wss://127.0.0.1:PORT", without a path: append the market's,
 * e.g. "/stocks" (other paths are refused, see Markets above); owned by the server, valid
 * until pwsm_stop. */
const char *pwsm_url(const pwsm_server *s);
/** Path of the CA (the self-signed certificate, or cert_file) for wss, or NULL without tls;
 * owned by the server, valid until pwsm_stop. */
const char *pwsm_ca_file(const pwsm_server *s);
/** WebSocket connections accepted so far (the highest ordinal handed out). */
uint32_t pwsm_connections(pwsm_server *s);
/** TCP connections accepted so far, counted before TLS and the upgrade: with pwsm_connections,
 * how many attempts never became a WebSocket (a client that refused the certificate, a refused
 * path).  Any thread. */
uint32_t pwsm_tcp_connections(pwsm_server *s);
/** Copies the journal: returns the number of entries and sets *out to a contiguous array
 * of them (NULL if none).  The copy is shallow and owned by the server: it and its strings
 * stay valid until pwsm_stop.  Costs one allocation of count * sizeof(pwsm_entry) per call,
 * kept until pwsm_stop; to poll, prefer pwsm_journal_count / pwsm_journal_get. */
size_t pwsm_journal(pwsm_server *s, const pwsm_entry **out);
/** Number of journal entries published so far. */
size_t pwsm_journal_count(pwsm_server *s);
/** Entry i (0-based) or NULL if i >= pwsm_journal_count().  Entries live in fixed chunks
 * that never move: the pointer and its strings stay valid until pwsm_stop, while the
 * server keeps appending. */
const pwsm_entry *pwsm_journal_get(pwsm_server *s, size_t i);
/** Waits until pred(entry) is true for some entry or timeout_ms passed; true if matched.
 * pred runs in the calling thread, without locks held. */
bool pwsm_wait_for(pwsm_server *s, bool (*pred)(const pwsm_entry *e, void *u), void *u, int timeout_ms);
/** Like pwsm_wait_for, but only looks at entries from index `from` on, and stores the index
 * of the matching entry in *match (if non-NULL) — to wait for "the next" something. */
bool pwsm_wait_from(pwsm_server *s, size_t from, bool (*pred)(const pwsm_entry *e, void *u), void *u,
                    int timeout_ms, size_t *match);
/** Copies the handshake counters.  Any thread while the server runs. */
void pwsm_get_handshake_stats(pwsm_server *s, pwsm_handshake_stats *out);
/** Stops the thread, closes connections, frees everything (removes generated cert files).
 * NULL is ignored. */
void pwsm_stop(pwsm_server *s);

#ifdef __cplusplus
}
#endif
#endif
