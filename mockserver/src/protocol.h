/*
 * protocol.h - the Polygon client/server messages as the mock speaks them (private).
 *
 * Pure functions over bytes: parse what a client sends, print the status
 * frames the server answers with, and redact secrets before journaling.
 */
#ifndef PWSM_PROTOCOL_H
#define PWSM_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/secrets.h"

/** What a client message asks for. */
typedef enum pwsm__action {
    PWSM__ACT_INVALID = 0,   /* not JSON, or not an object with a string "action" */
    PWSM__ACT_UNKNOWN,       /* an object with an action we do not know */
    PWSM__ACT_AUTH,          /* {"action":"auth","params":"KEY"} */
    PWSM__ACT_SUBSCRIBE,     /* {"action":"subscribe","params":"A.AAPL,T.*"} */
    PWSM__ACT_UNSUBSCRIBE,   /* {"action":"unsubscribe","params":"..."} */
} pwsm__action;

/** A parsed client message. */
typedef struct pwsm__msg {
    pwsm__action action;     /* what it asks for */
    char *params;            /* "params" if it was a string (malloc'd), else NULL */
} pwsm__msg;

/** Parses one text message (len bytes, need not be NUL-terminated). Never fails; on
 * OOM the message counts as invalid.  Free with pwsm__msg_free. */
pwsm__msg pwsm__msg_parse(const char *text, size_t len);
void pwsm__msg_free(pwsm__msg *m);

/** Splits comma-separated channels: returns the next non-empty channel (surrounding
 * blanks trimmed) at *start with its length, advancing *cursor; 0 at the end. */
size_t pwsm__next_channel(const char **cursor, const char **start);

/** The market (Polygon "cluster") a connection serves, from its request path. */
typedef enum pwsm__market {
    PWSM__MARKET_STOCKS = 0,
    PWSM__MARKET_OPTIONS,
    PWSM__MARKET_FOREX,
    PWSM__MARKET_CRYPTO,
    PWSM__MARKET_INDICES,
} pwsm__market;

/** The markets' names, indexed by pwsm__market, NULL-terminated. */
extern const char *const pwsm__market_names[];
/** Every event type some market serves, NULL-terminated: T Q A AM LULD NOI FMV C CA CAS XT XQ
 * XA XAS XL2 V (at most 32: a plan keeps them as bits). */
extern const char *const pwsm__event_types[];

/** Joins a NULL-terminated list of names with ", " into buf (cut at cap, always terminated). */
void pwsm__join_names(const char *const *names, char *buf, size_t cap);

/** The market named by len bytes at name ("stocks", case-sensitive), or -1. */
int pwsm__market_from_name(const char *name, size_t len);
/** The market of a request path ("/stocks", "/options", "/forex", "/crypto", "/indices", each
 * also with a trailing slash; the query string is not part of it), or -1 for any other path. */
int pwsm__market_from_path(const char *path);
/** The index in pwsm__event_types of the len bytes at ev ("AM", case-sensitive), or -1. */
int pwsm__event_type_index(const char *ev, size_t len);

/** What a subscribe or unsubscribe channel is, on a market. */
typedef enum pwsm__chan {
    PWSM__CHAN_OK = 0,       /* EV.SYMBOL with an event type the market serves (SYMBOL may be "*") */
    PWSM__CHAN_MALFORMED,    /* no dot, empty event type or empty symbol */
    PWSM__CHAN_NOT_SERVED,   /* well formed, but the market has no such event type */
    PWSM__CHAN_NOT_IN_PLAN,  /* the market or the event type is outside the keys' plan */
} pwsm__chan;

/** What the accepted keys may use (Polygon's "plan"): bit i of markets is pwsm__market i,
 * bit i of types is pwsm__event_types[i]; UINT32_MAX = no restriction. */
typedef struct pwsm__plan {
    uint32_t markets;        /* markets (clusters) the keys may subscribe on */
    uint32_t types;          /* event types the plan includes */
} pwsm__plan;

/** Compiles a plan from comma-separated lists (blanks around names are fine), NULL = every
 * market / every event type.  -1 with a message in err for an unknown name or a list without
 * any name. */
int pwsm__plan_init(pwsm__plan *p, const char *markets, const char *types, char *err, size_t errcap);

/** Classifies one channel (len bytes, as pwsm__next_channel returns it) on market m.  Event
 * types per market: stocks T Q A AM LULD NOI FMV; options T Q A AM FMV; forex C CA CAS FMV;
 * crypto XT XQ XA XAS XL2 FMV; indices V A AM (case-sensitive). */
pwsm__chan pwsm__channel_check(pwsm__market m, const char *ch, size_t len);
/** The same under plan p: on a market outside the plan every channel is NOT_IN_PLAN (malformed
 * ones too: the cluster refuses before it looks); on one inside, a channel the market serves
 * is NOT_IN_PLAN if its event type is outside the plan's types. */
pwsm__chan pwsm__plan_check(const pwsm__plan *p, pwsm__market m, const char *ch, size_t len);

/** Prints [{"ev":"status","status":STATUS,"message":MESSAGE}] (both JSON-escaped) into a
 * malloc'd NUL-terminated string, or NULL on OOM.  *len gets its length. */
char *pwsm__status_frame(const char *status, const char *message, size_t *len);
/** The same with message = PREFIX followed by len bytes of SUFFIX ("subscribed to: A.AAPL"). */
char *pwsm__status_frame2(const char *status, const char *prefix, const char *suffix, size_t suffix_len,
                          size_t *len);
/** The built-in message text for a status the server sends on its own, e.g.
 * "max_connections" -> "Maximum number of connections exceeded."; unknown -> the status. */
const char *pwsm__status_text(const char *status);

/** Returns a malloc'd copy of a client message fit for the journal (*outlen = its length;
 * NULL on OOM):
 *  - a JSON auth message is re-printed compactly with "params" replaced by "***";
 *  - a text message that is not JSON but contains "auth" becomes "***" entirely, since its key
 *    cannot be located reliably;
 *  - then every trace of each secret (the accepted keys and every key seen in an auth
 *    message) is replaced by "***": wire/secrets.h, every encoding, pieces of 8 bytes. */
char *pwsm__redact(const char *data, size_t len, bool binary, const pws__secrets *secrets, size_t *outlen);

/** Scrubs secrets (as above) from any frame, e.g. a server frame echoing a channel name.
 * Returns 0 if none occurs (*out = NULL), 1 with a malloc'd scrubbed copy in *out / *outlen,
 * or -1 on OOM. */
int pwsm__scrub(const char *data, size_t len, const pws__secrets *secrets, char **out, size_t *outlen);

/** One WebSocket frame as a client sends it (masked), found in raw socket bytes. */
typedef struct pwsm__wsframe {
    int opcode;                 /* 1 text, 2 binary, 8 close, 9 ping, 10 pong, 0 continuation */
    bool fin;                   /* final fragment */
    size_t header;              /* header bytes, mask included */
    size_t payload;             /* payload bytes */
    unsigned char mask[4];      /* masking key */
} pwsm__wsframe;

/** Parses the frame header at buf: 1 if the whole frame is in buf, 0 if more bytes are
 * needed, -1 if this is not a well-formed masked client frame (at most max_payload bytes). */
int pwsm__ws_client_frame(const unsigned char *buf, size_t len, size_t max_payload, pwsm__wsframe *f);

/** Writes the header of an unmasked server text frame (FIN set) for a payload of len bytes
 * at p (room for 10 bytes); returns its size: 2, 4 or 10. */
size_t pwsm__ws_text_header(unsigned char *p, size_t len);

#endif
