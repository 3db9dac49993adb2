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
 * The YAML scenario language (issue 3) compiles down to these structures.
 */
#ifndef POLYWS_MOCK_H
#define POLYWS_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWSM_MAX_SCRIPTS 16 /* per-ordinal scripts */
#define PWSM_MAX_KEYS 16    /* accepted keys */

/** What the server does on one connection.  Zero = behave like the real service. */
typedef struct pwsm_script {
    bool no_greeting;             /**< do not send the "connected" status on open */
    bool reject_auth;             /**< answer any auth with auth_failed (then close) */
    bool ignore_auth;             /**< never answer auth (the client's auth timeout must fire) */
    uint32_t after_events;        /**< the fault below happens after this many events were sent on this connection */
    enum {
        PWSM_FAULT_NONE = 0,      /**< keep streaming */
        PWSM_FAULT_DROP,          /**< drop the TCP connection, no close frame */
        PWSM_FAULT_CLOSE,         /**< send a close frame with close_code / close_reason */
        PWSM_FAULT_STALL,         /**< stop reading and writing, ignore pings (half-open) */
        PWSM_FAULT_STATUS_CLOSE   /**< send status `status` (e.g. "force_disconnect"), then close 1008 */
    } fault;                      /**< fault to inject */
    int close_code;               /**< for PWSM_FAULT_CLOSE, e.g. 1001 */
    const char *close_reason;     /**< for PWSM_FAULT_CLOSE (may be NULL) */
    const char *status;           /**< for PWSM_FAULT_STATUS_CLOSE */
    const char *raw_frames[8];    /**< text frames sent verbatim right after the first subscription confirmation (NULL-terminated) */
} pwsm_script;

/** Server options.  Zero-initialize; zero fields take the defaults. */
typedef struct pwsm_options {
    const char *host;             /**< bind address, default "127.0.0.1" */
    int port;                     /**< 0 = pick a free port (default) */
    const char *keys[PWSM_MAX_KEYS]; /**< accepted keys (NULL-terminated); none = any non-empty key */
    uint32_t auth_timeout_ms;     /**< send auth_timeout and close if no auth, default 10000 */
    uint32_t max_per_key;         /**< connections per key, default 1; the older one gets max_connections */
    uint64_t seed;                /**< stream seed, default 1 */
    double events_per_sec;        /**< generated stream rate per connection, default 100; < 0 = as fast as the client reads */
    uint32_t batch_max;           /**< events per frame, 1..n, default 10 */
    uint64_t stream_limit;        /**< events per connection then stop streaming; 0 = unlimited */
    bool tls;                     /**< serve wss:// with a self-signed cert generated at start (unless cert/key given) */
    const char *cert_file;        /**< PEM certificate (with tls) */
    const char *key_file;         /**< PEM private key (with tls) */
    pwsm_script default_script;   /**< for ordinals without a script */
    pwsm_script scripts[PWSM_MAX_SCRIPTS]; /**< scripts[i] applies to connection ordinal i+1 ... */
    uint32_t nscripts;            /**< ... for i < nscripts */
    const char *journal_path;     /**< if set, also append the journal to this file */
} pwsm_options;

typedef struct pwsm_server pwsm_server;

/** One journal entry (one frame or connection event). */
typedef struct pwsm_entry {
    int64_t t_us;      /**< microseconds since server start */
    uint32_t conn;     /**< connection ordinal, 1-based */
    char dir;          /**< 'c' client->server, 's' server->client, '-' connection event */
    const char *kind;  /**< "text", "binary", "ping", "pong", "close", "open", "drop", "closed" */
    const char *data;  /**< text payload (NUL-terminated), or "" */
    int close_code;    /**< for "close" */
} pwsm_entry;

/** Starts the server in its own thread; returns NULL and writes errbuf on failure. */
pwsm_server *pwsm_start(const pwsm_options *opts, char *errbuf, size_t errcap);
/** The bound port. */
int pwsm_port(const pwsm_server *s);
/** "ws://127.0.0.1:PORT" or "wss://..."; valid until pwsm_stop. */
const char *pwsm_url(const pwsm_server *s);
/** Path of the CA (the self-signed certificate) for wss, or NULL. */
const char *pwsm_ca_file(const pwsm_server *s);
/** Connections accepted so far. */
uint32_t pwsm_connections(pwsm_server *s);
/** Copies the journal (entries and their strings stay valid until pwsm_stop):
 * returns the number of entries, sets *out to an array the server owns. */
size_t pwsm_journal(pwsm_server *s, const pwsm_entry **out);
/** Waits until pred(entry) matched some entry or timeout_ms passed; true if matched. */
bool pwsm_wait_for(pwsm_server *s, bool (*pred)(const pwsm_entry *e, void *u), void *u, int timeout_ms);
/** Stops the thread, closes connections, frees everything (removes generated cert files). */
void pwsm_stop(pwsm_server *s);

#ifdef __cplusplus
}
#endif
#endif
