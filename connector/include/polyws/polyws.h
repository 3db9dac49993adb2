/*
 * polyws/polyws.h - libpolyws, a resilient real-time market-data WebSocket
 * connector (Polygon.io / Massive stream built in, other APIs via adapters).
 *
 * The shape of a program (the body of a main() with a handler
 * `void my_handler(const pws_event *ev, void *user)`; the header_example test
 * compiles exactly these lines):
 *
 *     pws_options o = {0};            // zero means "default" everywhere
 *     o.url = "wss://socket.polygon.io/stocks";
 *     o.api_key_env = "POLYGON_API_KEY";
 *     o.on_event = my_handler;        // called on the library's delivery thread
 *     pws_connector *c;
 *     char err[256];
 *     if (pws_create(&o, &c, err, sizeof err) != PWS_OK) {
 *         fprintf(stderr, "polyws: %s\n", err);
 *         return 1;
 *     }
 *     pws_subscribe(c, "A.AAPL,T.MSFT");
 *     int rc = pws_run(c);            // or pws_start(c) ... pws_stop(c)
 *     if (rc != PWS_OK)
 *         fprintf(stderr, "polyws: %s\n", pws_last_error(c));
 *     pws_destroy(c);
 *     return rc == PWS_OK ? 0 : 1;
 *
 * Threads.  The network loop runs in the thread that calls pws_run(), or in a
 * thread the library owns after pws_start().  Events pass through a bounded
 * queue to a delivery thread owned by the library, which calls on_event /
 * on_batch / the table's on_change, one call at a time and in order.  A slow
 * callback therefore never stalls the socket: what happens when the queue is
 * full is the overflow policy.  Each function says from which threads it may
 * be called.
 *
 * Errors.  Functions return a pws_err (PWS_OK = 0, failures < 0);
 * pws_strerror() names a code and pws_last_error() gives the human message of
 * the last failure on a connector.  If a call that takes a callback fails,
 * the callback never fires.
 *
 * Secrets.  The API key is read from an environment variable or a file (or
 * passed in memory); it never appears in logs, errors, stats or events.
 *
 * Logging.  The library writes nothing to stdout or stderr unless the
 * application asks: failures reach it as return codes, pws_last_error() and
 * PWS_EV_CONNECTION events.  Setting log_fn and/or log_level in pws_options
 * asks for the connector's log lines, libwebsockets' own lines included (see
 * pws_options.log_fn).
 */
#ifndef POLYWS_POLYWS_H
#define POLYWS_POLYWS_H

#include <polyws/events.h>
#include <polyws/parse.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWS_VERSION_MAJOR 0
#define PWS_VERSION_MINOR 1
#define PWS_VERSION_PATCH 0
#define PWS_VERSION_STRING "0.1.0"

/** The version of the libpolyws the program runs with ("0.1.0").  It may
 * differ from PWS_VERSION_STRING, the header compiled against, when a program
 * runs with another libpolyws.so of the same SONAME.  Never NULL; any thread. */
PWS_API const char *pws_version(void);

/** Error codes.  PWS_OK is 0, every failure is negative. */
typedef enum pws_err {
    PWS_OK = 0,
    PWS_ERR_INVALID = -1,     /**< invalid argument or option */
    PWS_ERR_NOMEM = -2,       /**< out of memory */
    PWS_ERR_URL = -3,         /**< URL not ws:// or wss://, or malformed */
    PWS_ERR_KEY = -4,         /**< API key missing or unreadable */
    PWS_ERR_TLS = -5,         /**< TLS setup or certificate failure */
    PWS_ERR_CONNECT = -6,     /**< could not connect (refused, DNS, handshake) */
    PWS_ERR_AUTH = -7,        /**< authentication failed (fatal) */
    PWS_ERR_TIMEOUT = -8,     /**< connect, handshake, auth or heartbeat timeout */
    PWS_ERR_CLOSED = -9,      /**< the server closed or dropped the connection */
    PWS_ERR_STATE = -10,      /**< call not allowed in the current state */
    PWS_ERR_LIMIT = -11,      /**< a documented limit was exceeded */
    PWS_ERR_ATTEMPTS = -12,   /**< max reconnect attempts reached (fatal) */
    PWS_ERR_OVERFLOW = -13,   /**< local queue full under the "disconnect" policy */
    PWS_ERR_SYSTEM = -14,     /**< an OS or libwebsockets call failed */
    PWS_ERR_SERVER = -15,     /**< the server sent a disconnect status */
    PWS_ERR_REFUSED = -16     /**< the server refused the WebSocket upgrade with a permanent HTTP
                                   status: 400, 401, 403, 404 or 410 (fatal, never retried) */
} pws_err;

/** Short description of an error code.  Never NULL; thread-safe. */
PWS_API const char *pws_strerror(int err);

/* ---------------------------------------------------------------- logging */

/** Log levels, most severe first. */
typedef enum pws_log_level {
    PWS_LOG_DEFAULT = 0, /**< in options: PWS_LOG_WARN if log_fn is set, else nothing is logged */
    PWS_LOG_ERROR = 1,
    PWS_LOG_WARN = 2,
    PWS_LOG_INFO = 3,
    PWS_LOG_DEBUG = 4
} pws_log_level;

/** A log sink.  `msg` has no trailing newline and never contains the API key.
 * Called from the network thread (and, for libwebsockets' own messages, from
 * whichever thread lws logs in); it must be thread-safe. */
typedef void (*pws_log_fn)(pws_log_level level, const char *msg, void *user);

/** Routes libwebsockets' process-wide log into `fn` (NULL: stderr) at
 * `level` and more severe (PWS_LOG_DEFAULT: PWS_LOG_WARN), whichever thread
 * logs it, instead of into each connector's log_fn.  Only for programs that
 * use lws for more than the connector (their own lws contexts); lws has one
 * global log hook, so this is process-wide and lasts for the process.  Call
 * it before creating connectors.  Not thread-safe against concurrent calls of
 * itself. */
PWS_API void pws_set_lws_log(pws_log_level level, pws_log_fn fn, void *user);

/* --------------------------------------------------------------- adapters */

/** The protocol adapter: everything protocol-specific, as a small vtable.
 * The connector owns the socket, timers, queue and state machine; the adapter
 * only builds outgoing messages and turns incoming text frames into events.
 * All hooks are called on the network thread.  `self` is pws_options.adapter_self. */
typedef struct pws_adapter {
    const char *name; /**< e.g. "polygon" */
    /** True if the server greets first (Polygon's "connected" status) and the
     * connector must wait for PWS_STATUS_CONNECTED before authenticating. */
    bool wait_for_greeting;
    /** Writes the auth message for `key` into buf.  Returns its length, 0 if
     * no auth is needed (the connector then treats the link as authenticated),
     * or (size_t)-1 if cap is too small. */
    size_t (*build_auth)(void *self, const char *key, char *buf, size_t cap);
    /** Writes one subscribe (subscribe = true) or unsubscribe message for as
     * many of channels[0..n) as fit in cap; sets *used to how many it took
     * (at least 1, or the call fails).  Returns the length or (size_t)-1. */
    size_t (*build_subscription)(void *self, bool subscribe, const char *const *channels,
                                 size_t n, char *buf, size_t cap, size_t *used);
    /** Parses one text frame, calling sink per event (see pws_parse_frame). */
    long (*parse)(void *self, const char *frame, size_t len, const pws_parse_limits *limits,
                  pws_event_sink sink, void *user);
    /** Copies the auth message with its secret replaced by "***" for logs and
     * tapes; returns the length written (like build_auth).  May be NULL: then
     * auth messages are never logged. */
    size_t (*redact)(void *self, const char *msg, size_t len, char *buf, size_t cap);
} pws_adapter;

/** The built-in Polygon (Massive) adapter. */
PWS_API const pws_adapter *pws_polygon_adapter(void);

/* ------------------------------------------------------------ keyed table */

/** The keyed table: the latest row per key, Pathway-style.  Applying an
 * event whose key has no row calls on_change(key, row, time, true); one whose
 * key has a row calls on_change(key, old, time, false) and then
 * on_change(key, new, time, true) with the same time.  Rows are events. */
typedef struct pws_table pws_table;

/** Change callback.  `key` and `row` are valid only during the call; it must
 * not call pws_table_apply() or pws_table_destroy() on the same table. */
typedef void (*pws_change_fn)(const char *key, const pws_event *row, int64_t time,
                              bool is_addition, void *user);

/** Which events a table keeps and how they are keyed. */
typedef enum pws_table_key {
    PWS_TABLE_KEY_SYMBOL = 0,     /**< aggregates only, keyed by symbol (the default) */
    PWS_TABLE_KEY_TYPE_SYMBOL = 1 /**< aggregates, trades and quotes, keyed "A.AAPL", "T.AAPL" ... */
} pws_table_key;

#define PWS_DEFAULT_TABLE_MAX_ROWS 100000u /* rows; more keys are refused (PWS_ERR_LIMIT) */

/** Table options.  Zero-initialize; zero fields take the defaults. */
typedef struct pws_table_options {
    pws_table_key key;  /**< keying, default PWS_TABLE_KEY_SYMBOL */
    size_t max_rows;    /**< default PWS_DEFAULT_TABLE_MAX_ROWS */
    pws_change_fn on_change; /**< may be NULL */
    void *user;         /**< passed to on_change */
} pws_table_options;

/** Creates a table.  Returns PWS_OK and sets *out, or an error (nothing
 * allocated): PWS_ERR_INVALID, PWS_ERR_NOMEM, PWS_ERR_LIMIT (max_rows > 2^30). */
PWS_API int pws_table_create(const pws_table_options *opts, pws_table **out);
/** Frees a table and its rows.  NULL is fine. */
PWS_API void pws_table_destroy(pws_table *t);
/** Applies one event.  Events the table does not keep are ignored (returns
 * PWS_OK, no callback).  Time is the event's own timestamp (agg `e`, trade and
 * quote `t`).  Returns PWS_ERR_LIMIT if a new key would exceed max_rows,
 * PWS_ERR_INVALID for NULL arguments or a symbol without its NUL, PWS_ERR_NOMEM. */
PWS_API int pws_table_apply(pws_table *t, const pws_event *ev);
/** The current row for key, or NULL.  Valid until the next apply/destroy. */
PWS_API const pws_event *pws_table_get(const pws_table *t, const char *key);
/** Number of rows. */
PWS_API size_t pws_table_size(const pws_table *t);
/** Calls fn(key, row, user) for every row in unspecified order. */
PWS_API void pws_table_foreach(const pws_table *t,
                               void (*fn)(const char *key, const pws_event *row, void *user), void *user);
/* A pws_table is not thread-safe: use one from one thread at a time.  The
 * connector's own table lives on its delivery thread. */

/* -------------------------------------------------------------- connector */

/** What to do when the delivery queue is full. */
typedef enum pws_overflow {
    PWS_OVERFLOW_BLOCK = 0,       /**< stop reading the socket until there is room: nothing lost, memory bounded (default) */
    PWS_OVERFLOW_DROP_OLDEST = 1, /**< drop the oldest queued market-data events, counted in stats.dropped */
    PWS_OVERFLOW_DISCONNECT = 2   /**< close the connection and reconnect later (PWS_ERR_OVERFLOW) */
} pws_overflow;

/** Reconnect backoff.  Delay of retry n (n = 1, 2, ...) is
 * min(cap_ms, base_ms * factor^(n-1)), then a uniformly random jitter of
 * +-jitter (a fraction) is applied.  The attempt counter resets only after a
 * connection has been healthy (authenticated and receiving) for healthy_ms, so
 * a server that accepts and drops at once cannot cause a reconnect storm. */
typedef struct pws_backoff_options {
    uint32_t base_ms;        /**< first delay, default 500 */
    double factor;           /**< growth per attempt, default 2.0 (must be >= 1) */
    uint32_t cap_ms;         /**< maximum delay, default 30000 */
    double jitter;           /**< 0..1, default 0.2 (+-20 %); negative means none */
    uint32_t max_attempts;   /**< consecutive failed attempts before PWS_CONN_FATAL; 0 = no limit (default) */
    uint32_t healthy_ms;     /**< healthy time that resets the counter, default 10000 */
    uint32_t max_connections_delay_ms; /**< minimum delay after max_connections, default 60000 */
} pws_backoff_options;

#define PWS_DEFAULT_QUEUE_CAPACITY 65536u   /* events */
#define PWS_DEFAULT_BATCH_MAX 256u          /* events per on_batch call */
#define PWS_DEFAULT_MAX_ACTION_BYTES 8192u  /* bytes per subscribe/unsubscribe message */
#define PWS_MAX_CHANNELS 100000u            /* active channels per connector */
#define PWS_MAX_CHANNEL_LEN 64u             /* bytes of one channel name */

/** Connector options.  Zero-initialize; every zero field takes its default. */
typedef struct pws_options {
    const char *url;            /**< ws://host[:port]/path or wss://..., required */
    const char *api_key;        /**< the key itself (copied); or use api_key_env / api_key_file */
    const char *api_key_env;    /**< name of an environment variable holding the key */
    const char *api_key_file;   /**< path of a file whose first line is the key */
    const char *ca_file;        /**< PEM CA bundle for wss://, instead of the system store (default:
                                     the store, which $SSL_CERT_FILE / $SSL_CERT_DIR replace); a
                                     certificate refused is fatal (PWS_ERR_TLS), never retried */
    bool tls_insecure;          /**< skip certificate verification (logs a warning) */

    const pws_adapter *adapter; /**< default: pws_polygon_adapter() */
    void *adapter_self;         /**< passed to the adapter hooks */

    uint32_t connect_timeout_ms;   /**< TCP+TLS+WebSocket handshake, default 10000 */
    uint32_t auth_timeout_ms;      /**< open -> auth_success (greeting included), default 10000 */
    uint32_t ping_interval_ms;     /**< WebSocket ping period, default 20000 */
    uint32_t pong_timeout_ms;      /**< no pong and no traffic for this long = dead link, default 20000 */
    pws_backoff_options backoff;   /**< reconnect policy */

    double actions_per_sec;     /**< client-side token bucket rate for outgoing actions, default 5 */
    uint32_t action_burst;      /**< bucket size, default 10 */
    size_t max_action_bytes;    /**< default PWS_DEFAULT_MAX_ACTION_BYTES */

    size_t queue_capacity;      /**< events, default PWS_DEFAULT_QUEUE_CAPACITY, at most 4194304
                                     (each slot is ~312 bytes: ~20 MB at the default) */
    pws_overflow overflow;      /**< default PWS_OVERFLOW_BLOCK */
    pws_parse_limits limits;    /**< frame size / depth limits */

    /** Called for each event on the delivery thread, in order.  The event is
     * valid only during the call. */
    void (*on_event)(const pws_event *ev, void *user);
    /** Alternative to on_event: called with up to batch_max consecutive events. */
    void (*on_batch)(const pws_event *evs, size_t n, void *user);
    size_t batch_max;           /**< default PWS_DEFAULT_BATCH_MAX */
    void *user;                 /**< passed to on_event / on_batch */

    /** If set, the connector keeps a keyed table on the delivery thread and
     * calls this for each change (after on_event/on_batch for the same event). */
    pws_change_fn on_change;
    pws_table_key table_key;    /**< keying of that table */
    size_t table_max_rows;      /**< default PWS_DEFAULT_TABLE_MAX_ROWS */
    void *table_user;           /**< passed to on_change */

    /** Receives the connector's log lines, and the lines libwebsockets logs
     * on the connector's network thread (prefixed "lws: ", e.g. its version
     * banner at PWS_LOG_INFO), unless pws_set_lws_log() took those.  NULL:
     * stderr, but only if log_level is set.  With neither log_fn nor
     * log_level the connector logs nothing at all. */
    pws_log_fn log_fn;
    pws_log_level log_level;    /**< most verbose level logged; default PWS_LOG_WARN if log_fn is
                                     set, else none (nothing on stderr unless asked) */
    void *log_user;             /**< passed to log_fn */
} pws_options;

/** Statistics.  Counters since pws_create(). */
typedef struct pws_stats {
    uint64_t frames;                 /**< text frames received */
    uint64_t bytes;                  /**< payload bytes received */
    uint64_t events[PWS_EV__COUNT];  /**< events by type */
    uint64_t parse_errors;           /**< = events[PWS_EV_PARSE_ERROR] */
    uint64_t connects;               /**< successful WebSocket handshakes */
    uint64_t reconnects;             /**< attempts after the first */
    uint64_t dropped;                /**< events dropped by PWS_OVERFLOW_DROP_OLDEST */
    uint64_t delivered;              /**< events handed to callbacks */
    uint64_t actions_sent;           /**< auth/subscribe/unsubscribe messages sent */
    size_t queue_len;                /**< events queued now */
    size_t queue_high_water;         /**< most events ever queued at once */
    int64_t last_message_age_ms;     /**< ms since the last frame, -1 if none yet */
    uint32_t channels;               /**< active (desired) channels */
    bool rx_paused;                  /**< reading paused by the block policy now */
} pws_stats;

typedef struct pws_connector pws_connector;

/** Validates opts, reads the key, and creates a connector (no I/O yet).
 * Returns PWS_OK and sets *out, or an error; on error *out is NULL and, if
 * errbuf is not NULL, a message (without the key) is written there.
 * Any thread. */
PWS_API int pws_create(const pws_options *opts, pws_connector **out, char *errbuf, size_t errcap);

/** Adds channels ("A.AAPL,T.*", comma-separated) to the desired set.  Sent
 * once authenticated, in batches, rate-limited, and again after every
 * reconnect.  Duplicates are ignored.  Any thread. */
PWS_API int pws_subscribe(pws_connector *c, const char *channels);

/** Removes channels from the desired set and unsubscribes them if live.  Any thread. */
PWS_API int pws_unsubscribe(pws_connector *c, const char *channels);

/** Runs the network loop in the calling thread until pws_stop() or a fatal
 * error, then drains the queue (all callbacks have returned when it returns).
 * Returns PWS_OK after pws_stop(), or the fatal error (PWS_ERR_AUTH,
 * PWS_ERR_REFUSED, PWS_ERR_TLS for a server certificate that failed
 * verification, never retried; PWS_ERR_ATTEMPTS, ...).  Not with pws_start(). */
PWS_API int pws_run(pws_connector *c);

/** Starts the network loop in a library thread and returns.  Any thread, once. */
PWS_API int pws_start(pws_connector *c);

/** Asks the loop to stop: closes the connection (code 1000), delivers what is
 * queued, then PWS_CONN_STOPPED.  Any thread, including callbacks; returns at
 * once.  It takes a mutex, so it is not async-signal-safe: from a signal
 * handler set a flag and call it from a normal thread. */
PWS_API int pws_stop(pws_connector *c);

/** After pws_start(): waits until the loop has ended (after pws_stop() or a
 * fatal error); returns like pws_run().  Not from a callback. */
PWS_API int pws_wait(pws_connector *c);

/** True once the loop has ended (stopped or fatal); pws_wait() then returns
 * at once.  Any thread. */
PWS_API bool pws_finished(pws_connector *c);

/** Stops if needed, waits, frees everything.  Not from a callback.  NULL is fine. */
PWS_API void pws_destroy(pws_connector *c);

/** Copies a snapshot of the statistics.  Any thread. */
PWS_API void pws_get_stats(pws_connector *c, pws_stats *out);

/** The message of the last failure on this connector ("" if none).  The
 * pointer stays valid until pws_destroy(); any thread. */
PWS_API const char *pws_last_error(pws_connector *c);

/* ------------------------------------------------------------- utilities */

#define PWS_MAX_KEY_LEN 256u /* bytes of an API key */

/** Loads an API key: from the environment variable `env` if not NULL, else
 * the first line of `file` (trailing whitespace removed).  Writes it NUL-
 * terminated to out.  On error returns PWS_ERR_KEY and writes a message that
 * names the variable or file (never the key) to errbuf.  Any thread. */
PWS_API int pws_load_key(const char *env, const char *file, char *out, size_t cap, char *errbuf,
                         size_t errcap);

/** Replaces every trace of `secret` (if at least 4 bytes) in text[0..len) by
 * "***", writing to buf; returns the output length (like snprintf).  A trace
 * is the secret or any run of 8 bytes or more of it, raw, JSON-escaped
 * (\uXXXX, \/, any mix), percent-encoded or in base64/base64url (see
 * docs/tapes.md, "Secrets").  Without memory the output is "***" alone.  Any
 * thread. */
PWS_API size_t pws_redact(const char *text, size_t len, const char *secret, char *buf, size_t cap);

/** Current wall-clock time in Unix microseconds. */
PWS_API int64_t pws_now_us(void);

#ifdef __cplusplus
}
#endif
#endif /* POLYWS_POLYWS_H */
