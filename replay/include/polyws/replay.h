/*
 * polyws/replay.h - the recording proxy and the replayer (libpwsreplay).
 *
 * Both are WebSocket servers on loopback that run in a thread of their own,
 * like the mock server: start returns once they listen, stop joins the
 * thread and frees everything.  They speak WebSocket themselves over lws raw
 * sockets, so every frame is visible to them: pings and pongs, close codes
 * and reasons, fragments, TCP drops.
 *
 *   proxy     clients connect to it as if it were the service; each accepted
 *             client gets its own upstream connection; every frame in both
 *             directions is forwarded unchanged and recorded on a tape
 *   replayer  plays the server side of a tape to new clients, waiting for the
 *             client's messages where the tape has them
 *
 * Threading: *_start and *_stop from the owning thread; the other functions
 * from any thread while the server runs.  Errors: NULL from start with a
 * message in errbuf; nothing else fails.
 */
#ifndef POLYWS_REPLAY_H
#define POLYWS_REPLAY_H

#include <polyws/polyws.h>
#include <polyws/tape.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWSR_DEFAULT_MAX_BUFFERED (4u << 20) /* bytes queued toward one side before the other is paused */
#define PWSR_DEFAULT_MAX_CLIENTS 64u         /* concurrent client connections */
#define PWSR_MAX_CLIENTS 4096u               /* upper bound for max_clients */
#define PWSR_HANDSHAKE_TIMEOUT_S 20          /* proxy: upstream connect + TLS + upgrade, once the client's
                                                request is complete */
#define PWSR_DEFAULT_HANDSHAKE_TIMEOUT_MS 5000u /* a client's upgrade request must be complete this soon */
#define PWSR_MAX_HANDSHAKE_TIMEOUT_MS 3600000u  /* upper bound for handshake_timeout_ms */
#define PWSR_DEFAULT_MAX_PENDING 1024u          /* clients whose upgrade request is not complete, at once */
#define PWSR_MAX_PENDING 65536u                 /* upper bound for max_pending */
#define PWSR_MAX_PER_ADDRESS 1000000u           /* upper bound for max_per_address */
#define PWSR_DEFAULT_PROBE_TIMEOUT_MS 10000u    /* pwsr_probe_upstream: TCP connect + TLS handshake */

/* ------------------------------------------------------------ handshakes */

/* Both servers bound clients that connect and never complete their upgrade request
 * (slowloris: half a request, then silence), with the same three options in their option
 * structs:
 *   handshake_timeout_ms  the request must be complete this long after the accept, else the
 *                         socket is closed (default PWSR_DEFAULT_HANDSHAKE_TIMEOUT_MS);
 *   max_pending           such clients at once (default PWSR_DEFAULT_MAX_PENDING): a new one
 *                         then closes the OLDEST pending one, so stalled connections cannot lock
 *                         a real client out (it completes its request within milliseconds);
 *                         one only read from once is spared, and if none is that old the
 *                         newcomer is refused; one client address holds at most half of them;
 *   max_per_address       connections (pending and open) from one address; more are refused at
 *                         accept; 0 = no cap (default: local clients all share 127.0.0.1).
 * They also keep 64 of the process's file descriptors free by evicting pending clients.  A
 * pending client is not on the tape and does not count against the proxy's max_clients. */

/** Handshake counters since start. */
typedef struct pwsr_handshake_stats {
    uint64_t accepted;        /**< TCP connections accepted */
    uint64_t upgraded;        /**< of those, sent a complete upgrade request in time */
    uint64_t timed_out;       /**< closed: no complete request within handshake_timeout_ms */
    uint64_t evicted;         /**< closed: the oldest pending one when max_pending was reached */
    uint64_t refused_full;    /**< refused at accept: max_pending reached, none old enough to evict */
    uint64_t refused_address; /**< refused at accept: max_per_address connections from that address */
    uint32_t pending;         /**< clients whose request is not complete, now */
    uint32_t pending_peak;    /**< the most at once */
} pwsr_handshake_stats;

/* ------------------------------------------------------------------ proxy */

/** Proxy options.  Zero-initialize; zero fields take the defaults.  Strings
 * are copied by pwsr_proxy_start. */
typedef struct pwsr_proxy_options {
    const char *upstream;     /**< ws:// or wss:// URL of the service, required.  Its path, if not
                                   empty or "/", replaces the client's request path */
    const char *host;         /**< listen address, default "127.0.0.1" */
    int port;                 /**< listen port, 0 = any free port (default) */
    const char *ca_file;      /**< PEM CA bundle for a wss upstream (default: the system store) */
    bool insecure;            /**< do not verify the upstream certificate (logged as a warning) */
    const char *tape_path;    /**< the tape to write (created or truncated), required */
    bool fsync_each;          /**< fsync the tape after every line */
    const char *mode;         /**< "proxy" (default) or "direct", written to the header */
    /** Redaction: auth params always; plus these JSON member names, header
     * names (Authorization, Cookie, X-Api-Key always), and literal secrets
     * (at least 4 bytes; keys the proxy learns from auth messages are added). */
    const char *redact_fields[PWS_TAPE_MAX_REDACT];
    size_t nredact_fields;
    const char *redact_headers[PWS_TAPE_MAX_REDACT];
    size_t nredact_headers;
    const char *secrets[8];
    size_t nsecrets;
    size_t max_buffered;      /**< per direction, default PWSR_DEFAULT_MAX_BUFFERED: beyond it the
                                   sending side is paused (lws_rx_flow_control) until half drained */
    size_t max_message;       /**< bytes of one recorded message, default PWS_TAPE_MAX_PAYLOAD
                                   (larger ones are forwarded, and recorded as an error line) */
    uint32_t max_clients;     /**< concurrent clients whose upgrade request is complete, default
                                   PWSR_DEFAULT_MAX_CLIENTS; more get HTTP 503 and are closed, nothing
                                   recorded.  Clients still sending their request do not count (see
                                   max_pending) */
    pws_log_fn log_fn;        /**< default: stderr; never sees a secret */
    void *log_user;           /**< passed to log_fn */
    pws_log_level log_level;  /**< default PWS_LOG_WARN */
    uint32_t handshake_timeout_ms; /**< see "handshakes" above; 0 = default */
    uint32_t max_pending;     /**< see "handshakes" above; 0 = default */
    uint32_t max_per_address; /**< see "handshakes" above; 0 = no cap */
} pwsr_proxy_options;

/** Counters since start.  Frames = recorded lines of c/s frames. */
typedef struct pwsr_proxy_stats {
    uint64_t frames;          /**< frames recorded (both directions) */
    uint64_t bytes;           /**< payload bytes recorded */
    uint64_t tape_bytes;      /**< bytes written to the tape */
    uint32_t connections;     /**< clients accepted */
    uint32_t active;          /**< clients connected now */
    uint64_t pauses;          /**< times reading one side was paused because max_buffered bytes
                                   waited toward the other (backpressure) */
    bool tape_failed;         /**< a tape write failed (recording stopped; see the log) */
    pwsr_handshake_stats handshakes; /**< clients that did or did not complete their upgrade request */
    uint32_t upstream_reached; /**< client sessions whose upstream connection succeeded (TCP, and TLS
                                    for wss://; what the upstream then answers does not matter) */
    uint32_t upstream_failed;  /**< client sessions that could not reach the upstream (its TCP connect
                                    or TLS handshake failed, or it closed during them); each got 502 */
    uint32_t upstream_failed_in_a_row; /**< of those, the ones since the last session that reached it */
} pwsr_proxy_stats;

typedef struct pwsr_proxy pwsr_proxy;

/** Opens the tape, listens and starts the proxy thread.  Returns NULL and writes a message to
 * errbuf (if non-NULL) on failure. */
pwsr_proxy *pwsr_proxy_start(const pwsr_proxy_options *opts, char *errbuf, size_t errcap);
/** The bound port / "ws://HOST:PORT" (owned by the proxy). */
int pwsr_proxy_port(const pwsr_proxy *p);
const char *pwsr_proxy_url(const pwsr_proxy *p);
/** Copies a snapshot of the statistics.  Any thread. */
void pwsr_proxy_get_stats(pwsr_proxy *p, pwsr_proxy_stats *out);
/** Why the last client session could not reach the upstream (stats.upstream_failed), e.g.
 * "cannot connect to the upstream 127.0.0.1:9: Unable to connect", known secrets replaced;
 * "" if none failed.  Copied into buf (cap bytes, cut if longer).  Any thread. */
void pwsr_proxy_upstream_error(pwsr_proxy *p, char *buf, size_t cap);

/** Tries once whether a ws:// or wss:// URL can be reached, from the calling thread: a TCP
 * connection (to each address its host resolves to in turn), then for wss:// the TLS handshake,
 * verified like the proxy's upstream connections (ca_file, or the system store; none if
 * insecure).  Nothing is sent after the handshake.  timeout_ms bounds the whole (0:
 * PWSR_DEFAULT_PROBE_TIMEOUT_MS).  PWS_OK; PWS_ERR_URL for a malformed URL; PWS_ERR_TLS when
 * the TLS context cannot be made or the handshake fails ("tls: certificate verify failed:
 * ..."); PWS_ERR_CONNECT otherwise ("connecting to 127.0.0.1:9: Connection refused", "cannot
 * resolve HOST: ...", "no answer from HOST:PORT within N ms").  The reason is in errbuf.  Not
 * reentrant (one probe at a time). */
int pwsr_probe_upstream(const char *url, const char *ca_file, bool insecure, uint32_t timeout_ms, char *errbuf,
                        size_t errcap);
/** Stops: open connections are dropped (recorded as "drop" with data
 * "proxy stopped"), the tape is closed.  NULL is fine. */
void pwsr_proxy_stop(pwsr_proxy *p);

/* --------------------------------------------------------------- replayer */

/** Replayer options.  Zero-initialize. */
typedef struct pwsr_replay_options {
    const char *tape_path;    /**< the tape to play, required */
    const char *host;         /**< listen address, default "127.0.0.1" */
    int port;                 /**< 0 = any free port (default) */
    double speed;             /**< 1 = recorded timing (default when 0), N = N times faster,
                                   < 0 = as fast as possible ("max") */
    uint32_t wait_ms;         /**< how long to wait for an expected client message, default 10000 */
    bool loop;                /**< every client plays connection 1, 2, ... again from the start
                                   (default: client n plays tape connection n, once) */
    size_t max_buffered;      /**< bytes queued to a client before the replayer waits, default
                                   PWSR_DEFAULT_MAX_BUFFERED */
    pws_log_fn log_fn;        /**< deviations are logged at PWS_LOG_ERROR; default stderr */
    void *log_user;
    pws_log_level log_level;  /**< default PWS_LOG_WARN */
    /** Literal secrets (API keys, >= 4 bytes; copied) hidden from every report and log line.
     * Besides these, the params of a client's {"action":"auth"} are always shown as "***",
     * and the key in them is hidden from then on wherever it appears. */
    const char *secrets[8];
    size_t nsecrets;
    uint32_t handshake_timeout_ms; /**< see "handshakes" above; 0 = default */
    uint32_t max_pending;     /**< see "handshakes" above; 0 = default */
    uint32_t max_per_address; /**< see "handshakes" above; 0 = no cap */
} pwsr_replay_options;

#define PWSR_REPORT_MAX 1024 /* bytes of the first deviation's report */

/** Where a replay stands. */
typedef struct pwsr_replay_result {
    uint32_t tape_connections;  /**< connections on the tape */
    uint32_t served;            /**< client connections accepted */
    uint32_t finished;          /**< connections played to their end */
    uint64_t frames_sent;       /**< server frames sent */
    uint64_t bytes_sent;        /**< payload bytes of those frames */
    uint64_t client_messages;   /**< client messages matched */
    uint32_t deviations;        /**< client deviations (mismatch, missing or unexpected message) */
    bool done;                  /**< every tape connection was played (or, with loop, never) */
    char report[PWSR_REPORT_MAX]; /**< the first deviation: expected vs got, "" if none */
    pwsr_handshake_stats handshakes; /**< clients that did or did not complete their upgrade request */
} pwsr_replay_result;

typedef struct pwsr_replayer pwsr_replayer;

/** Reads the tape once to check it and count its connections, listens and
 * starts the replayer thread.  Returns NULL and writes a message to errbuf (if
 * non-NULL) on failure. */
pwsr_replayer *pwsr_replay_start(const pwsr_replay_options *opts, char *errbuf, size_t errcap);
/** The bound port / "ws://HOST:PORT" (owned by the replayer). */
int pwsr_replay_port(const pwsr_replayer *r);
const char *pwsr_replay_url(const pwsr_replayer *r);
/** Copies where the replay stands.  Any thread. */
void pwsr_replay_get_result(pwsr_replayer *r, pwsr_replay_result *out);
/** Waits until result.done or timeout_ms (< 0: forever); true if done. */
bool pwsr_replay_wait(pwsr_replayer *r, int timeout_ms);
/** Stops the thread, closes connections, frees everything.  NULL is fine. */
void pwsr_replay_stop(pwsr_replayer *r);

#ifdef __cplusplus
}
#endif
#endif /* POLYWS_REPLAY_H */
