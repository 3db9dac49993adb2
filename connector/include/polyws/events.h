/*
 * polyws/events.h - typed events produced by libpolyws.
 *
 * Every event the connector delivers is a `pws_event`: a tagged union of
 * fixed-size structs.  Market-data events (aggregates, trades, quotes) own
 * all their data inline, so the hot path needs no heap allocation.  Events
 * that carry variable-length text (`PWS_EV_OTHER`) point into memory owned by
 * the library that stays valid only for the duration of the callback that
 * receives the event; copy what you want to keep.
 *
 * This header is included by <polyws/polyws.h>; it may also be used alone
 * together with <polyws/parse.h> (for example by fuzzers and benchmarks).
 */
#ifndef POLYWS_EVENTS_H
#define POLYWS_EVENTS_H

#include <polyws/export.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of the inline buffers.  A value that does not fit is an element
 * error (PWS_EV_PARSE_ERROR), never a silent truncation. */
#define PWS_SYMBOL_MAX 32          /* bytes incl. NUL: "O:SPY251219C00650000" is 20 */
#define PWS_TRADE_ID_MAX 64        /* bytes incl. NUL for a trade id ("i") */
#define PWS_MAX_CONDITIONS 32      /* entries in trade "c" / quote "i" arrays */
#define PWS_EV_NAME_MAX 16         /* bytes incl. NUL for an unknown "ev" name */
#define PWS_STATUS_MAX 32          /* bytes incl. NUL for a status word */
#define PWS_MESSAGE_MAX 256        /* bytes incl. NUL for status/lifecycle text */
#define PWS_EXCERPT_MAX 64         /* bytes incl. NUL for a parse-error excerpt */

/** Kinds of events. */
typedef enum pws_event_type {
    PWS_EV_STATUS = 0,      /**< a server status message, `u.status` */
    PWS_EV_AGG = 1,         /**< aggregate `A` (per second) or `AM` (per minute), `u.agg` */
    PWS_EV_TRADE = 2,       /**< trade `T`, `u.trade` */
    PWS_EV_QUOTE = 3,       /**< quote `Q`, `u.quote` */
    PWS_EV_OTHER = 4,       /**< any other event type, raw JSON, `u.other` */
    PWS_EV_PARSE_ERROR = 5, /**< a malformed frame or element, `u.error` */
    PWS_EV_CONNECTION = 6,  /**< connection lifecycle, `u.conn` */
    PWS_EV__COUNT = 7
} pws_event_type;

/** Server status words, mapped by the protocol adapter. */
typedef enum pws_status_kind {
    PWS_STATUS_UNKNOWN = 0,      /**< a status word the adapter does not know */
    PWS_STATUS_CONNECTED,        /**< greeting ("connected", or "success" before auth) */
    PWS_STATUS_AUTH_SUCCESS,     /**< key accepted */
    PWS_STATUS_AUTH_FAILED,      /**< key rejected: fatal, the connector stops */
    PWS_STATUS_AUTH_TIMEOUT,     /**< no auth in time: reconnect */
    PWS_STATUS_AUTH_REQUIRED,    /**< action sent before auth: reconnect */
    PWS_STATUS_SUCCESS,          /**< e.g. "subscribed to: A.AAPL" */
    PWS_STATUS_ERROR,            /**< e.g. "not authorized": reported, stream continues */
    PWS_STATUS_MAX_CONNECTIONS,  /**< another connection uses the key: long delay, reconnect */
    PWS_STATUS_FORCE_DISCONNECT, /**< server kicked us: reconnect */
    PWS_STATUS_SLOW_CONSUMER     /**< server says we read too slowly: reconnect */
} pws_status_kind;

/** A status message: `[{"ev":"status","status":"...","message":"..."}]`. */
typedef struct pws_status {
    pws_status_kind kind;            /**< mapped status word */
    char status[PWS_STATUS_MAX];     /**< the status word as received (truncated if longer) */
    char message[PWS_MESSAGE_MAX];   /**< the human message as received (truncated if longer; an API key
                                          the server echoes, or a cut piece of it, reads "***") */
    bool truncated;                  /**< true if status or message did not fit */
} pws_status;

/* Presence bits: a field that was absent from the JSON object leaves its bit
 * clear and its value zero.  Unknown fields are ignored. */
#define PWS_AGG_V (1u << 0)
#define PWS_AGG_AV (1u << 1)
#define PWS_AGG_OP (1u << 2)
#define PWS_AGG_VW (1u << 3)
#define PWS_AGG_O (1u << 4)
#define PWS_AGG_C (1u << 5)
#define PWS_AGG_H (1u << 6)
#define PWS_AGG_L (1u << 7)
#define PWS_AGG_A (1u << 8)
#define PWS_AGG_Z (1u << 9)
#define PWS_AGG_S (1u << 10)
#define PWS_AGG_E (1u << 11)
#define PWS_AGG_OTC (1u << 12)

/** Aggregate, `A` (per second) or `AM` (per minute); same fields. */
typedef struct pws_agg {
    char sym[PWS_SYMBOL_MAX]; /**< ticker symbol ("sym"), required */
    bool minute;              /**< true for `AM`, false for `A` */
    bool otc;                 /**< "otc": true for OTC tickers (absent means false) */
    uint32_t present;         /**< PWS_AGG_* bits of the fields present */
    int64_t v;                /**< tick volume */
    int64_t av;               /**< accumulated volume for the day */
    double op;                /**< official opening price of the day */
    double vw;                /**< VWAP of this window */
    double o;                 /**< open of this window */
    double c;                 /**< close of this window */
    double h;                 /**< high of this window */
    double l;                 /**< low of this window */
    double a;                 /**< VWAP of the day */
    int64_t z;                /**< average trade size of this window */
    int64_t s;                /**< window start, Unix ms */
    int64_t e;                /**< window end, Unix ms */
} pws_agg;

#define PWS_TRADE_X (1u << 0)
#define PWS_TRADE_I (1u << 1)
#define PWS_TRADE_Z (1u << 2)
#define PWS_TRADE_P (1u << 3)
#define PWS_TRADE_S (1u << 4)
#define PWS_TRADE_C (1u << 5)
#define PWS_TRADE_T (1u << 6)
#define PWS_TRADE_Q (1u << 7)
#define PWS_TRADE_TRFI (1u << 8)
#define PWS_TRADE_TRFT (1u << 9)

/** Trade, `T`. */
typedef struct pws_trade {
    char sym[PWS_SYMBOL_MAX];          /**< ticker symbol, required */
    char i[PWS_TRADE_ID_MAX];          /**< trade id (a string) */
    uint32_t present;                  /**< PWS_TRADE_* bits of the fields present */
    int32_t x;                         /**< exchange id */
    int32_t z;                         /**< tape (1 = NYSE, 2 = AMEX, 3 = Nasdaq) */
    uint32_t nc;                       /**< number of entries in c[] */
    int32_t c[PWS_MAX_CONDITIONS];     /**< trade conditions */
    double p;                          /**< price */
    int64_t s;                         /**< size */
    int64_t t;                         /**< SIP timestamp, Unix ms */
    int64_t q;                         /**< sequence number (per symbol, may repeat or go back) */
    int32_t trfi;                      /**< trade reporting facility id */
    int64_t trft;                      /**< trade reporting facility timestamp, Unix ms */
} pws_trade;

#define PWS_QUOTE_BX (1u << 0)
#define PWS_QUOTE_BP (1u << 1)
#define PWS_QUOTE_BS (1u << 2)
#define PWS_QUOTE_AX (1u << 3)
#define PWS_QUOTE_AP (1u << 4)
#define PWS_QUOTE_AS (1u << 5)
#define PWS_QUOTE_C (1u << 6)
#define PWS_QUOTE_I (1u << 7)
#define PWS_QUOTE_T (1u << 8)
#define PWS_QUOTE_Q (1u << 9)
#define PWS_QUOTE_Z (1u << 10)

/** Quote, `Q`. */
typedef struct pws_quote {
    char sym[PWS_SYMBOL_MAX];          /**< ticker symbol, required */
    uint32_t present;                  /**< PWS_QUOTE_* bits of the fields present */
    int32_t bx;                        /**< bid exchange id */
    double bp;                         /**< bid price */
    int64_t bs;                        /**< bid size */
    int32_t ax;                        /**< ask exchange id */
    double ap;                         /**< ask price */
    int64_t as;                        /**< ask size */
    int32_t c;                         /**< condition */
    uint32_t ni;                       /**< number of entries in i[] */
    int32_t i[PWS_MAX_CONDITIONS];     /**< indicators */
    int64_t t;                         /**< SIP timestamp, Unix ms */
    int64_t q;                         /**< sequence number */
    int32_t z;                         /**< tape */
} pws_quote;

/** Any event type the parser has no struct for (`LULD`, `FMV`, `XT`, ...).
 * `json` points at the raw JSON object exactly as received; it is owned by the
 * library and valid only during the callback (or sink call) that receives it. */
typedef struct pws_other {
    char ev[PWS_EV_NAME_MAX]; /**< the "ev" value (truncated if longer; see `json`) */
    const char *json;         /**< the raw object text, not NUL-terminated */
    size_t json_len;          /**< its length in bytes */
} pws_other;

/** A malformed frame or element.  Parsing never stops the stream: a
 * syntactically broken frame yields the events completed before the error and
 * then this event; an element with a wrong type or missing field yields this
 * event and parsing goes on with the next element. */
typedef struct pws_parse_error {
    size_t offset;                 /**< byte offset of the error in the frame */
    size_t frame_len;              /**< length of the whole frame */
    const char *reason;            /**< static text, e.g. "invalid literal" */
    char excerpt[PWS_EXCERPT_MAX]; /**< printable excerpt around offset (non-ASCII as '.') */
} pws_parse_error;

/** Connection lifecycle states reported through PWS_EV_CONNECTION. */
typedef enum pws_conn_state {
    PWS_CONN_CONNECTING = 0,   /**< a connection attempt started */
    PWS_CONN_OPEN,             /**< WebSocket handshake done */
    PWS_CONN_AUTHENTICATED,    /**< auth_success received */
    PWS_CONN_DISCONNECTED,     /**< the connection ended; see reason/close_code */
    PWS_CONN_RECONNECT_WAIT,   /**< next attempt scheduled in delay_ms */
    PWS_CONN_FATAL,            /**< the connector gave up (auth failed, upgrade refused for good,
                                    attempts exhausted) */
    PWS_CONN_STOPPED           /**< pws_stop() finished; the last event delivered */
} pws_conn_state;

/** A connection lifecycle event. */
typedef struct pws_conn_event {
    pws_conn_state state;            /**< what happened */
    int err;                         /**< a pws_err code for DISCONNECTED/FATAL, else 0 */
    int close_code;                  /**< WebSocket close code, 0 if none was received */
    uint32_t attempt;                /**< reconnect attempt number (1 = first retry) */
    uint32_t delay_ms;               /**< for RECONNECT_WAIT: delay before the attempt */
    char reason[PWS_MESSAGE_MAX];    /**< human-readable reason (never contains the key) */
} pws_conn_event;

/** One event.  `type` selects the member of `u`. */
typedef struct pws_event {
    pws_event_type type;  /**< which member of u is valid */
    uint32_t conn;        /**< connection ordinal: 1 for the first connection, 2 after one reconnect, ... */
    int64_t recv_us;      /**< wall-clock receive time, Unix microseconds (0 from pws_parse_frame) */
    union {
        pws_status status;
        pws_agg agg;
        pws_trade trade;
        pws_quote quote;
        pws_other other;
        pws_parse_error error;
        pws_conn_event conn;
    } u;
} pws_event;

/** Name of an event type, e.g. "trade".  Never NULL. */
PWS_API const char *pws_event_type_name(pws_event_type type);

/** Name of a status kind, e.g. "auth_failed".  Never NULL. */
PWS_API const char *pws_status_kind_name(pws_status_kind kind);

/** Name of a connection state, e.g. "reconnect_wait".  Never NULL. */
PWS_API const char *pws_conn_state_name(pws_conn_state state);

/** The symbol of a market-data event (agg, trade, quote), or NULL. */
PWS_API const char *pws_event_symbol(const pws_event *ev);

/** Writes one event as a single normalized JSON line (no trailing newline)
 * into buf: fixed key order, only present fields, shortest round-trip number
 * formatting, no receive time.  Two runs over the same input give identical
 * bytes.  Returns the length that the full line needs (like snprintf); the
 * output is complete only if that is < cap.  Thread-safe, allocates nothing
 * (beyond one process-wide "C" locale object created at the first call).
 * Status events with `truncated` set get a trailing "truncated":true. */
PWS_API size_t pws_event_to_json(const pws_event *ev, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* POLYWS_EVENTS_H */
