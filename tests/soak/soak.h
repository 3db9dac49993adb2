/*
 * soak.h - the chaos soak's parts (tests/soak): the random plan of an epoch
 * and its scenario text (soak_plan.c), what the client saw (soak.c's
 * callbacks) and the oracle that compares it with the mock's journal
 * (soak_oracle.c).
 *
 * An epoch is one mock server (libpwsmock, in this process) playing one
 * generated scenario to one connector (libpolyws, block policy): connections
 * 1..nconns each stream sequence-numbered trades with faults between them and
 * end with a fault that ends the connection; connection nconns + 1 only shakes
 * hands, and once the connector is authenticated on it the epoch is over.
 * docs/soak.md explains the oracle.
 */
#ifndef POLYWS_SOAK_H
#define POLYWS_SOAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <polyws/mock.h>
#include <polyws/polyws.h>

#define SOAK_MAX_CONNS 16        /* scripted connections per epoch (the loader allows 64 by ordinal) */
#define SOAK_MAX_SEGS 4          /* stream-then-fault segments before a connection's ending fault */
#define SOAK_MAX_RAW 8           /* raw (hand-framed) faults per connection */
#define SOAK_MAX_TRICKLE 8       /* single-trade frames of one slow trickle */
/* An AddressSanitizer build (gcc says so with a macro, clang with __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif

#if SOAK_ASAN
#define SOAK_MAX_EPOCH_EVENTS 50000u  /* generated trades one epoch plans at most (the sanitizers
                                         run the stream ~10x slower) */
#else
#define SOAK_MAX_EPOCH_EVENTS 200000u /* generated trades one epoch plans at most */
#endif
#define SOAK_MAX_KEYS (1u << 19) /* trades kept per epoch and side (2.6x the plan: room for duplicates) */
#define SOAK_MAX_LIFE 512        /* connection lifecycle events kept per epoch */
#define SOAK_MAX_CONNECTION_DELAY_MS 300u /* the connector's wait after max_connections in the soak */

/* What comes after a stream inside a connection and does not end it (each mirrors a
 * scenario of the library, named in soak_mid_names). */
typedef enum soak_mid {
    SOAK_MID_NONE = 0,        /* another stream follows at once */
    SOAK_MID_TRICKLE,         /* slow_trickle_jitter: single trades with 10..150 ms gaps */
    SOAK_MID_FRAGMENTED,      /* fault_fragmented: a trade in 2..8 fragments (must be delivered) */
    SOAK_MID_CONTROL_IN_FRAG, /* fault_control_in_fragment: a ping between two fragments */
    SOAK_MID_UNSOLICITED_PONG,/* fault_unsolicited_pong: ignored */
    SOAK_MID_BAD_FRAME,       /* invalid_json, truncated_json, top_level_not_array, nan_infinity,
                                 deeply_nested: one frame-level parse error */
    SOAK_MID_BAD_ELEMENT,     /* wrong_types, missing_fields: an element error between two good trades */
    SOAK_MID_UNKNOWN_EVENT,   /* unknown_event_types: a LULD event (PWS_EV_OTHER) before a good trade */
    SOAK_MID_BINARY,          /* binary_frame: one parse error */
    SOAK_MID_SHORT_STALL,     /* half_open_server, briefly: 200 ms of silence, under the heartbeat */
    SOAK_MID_SERVER_PING,     /* server_ping: answered with a pong */
    SOAK_MID__COUNT
} soak_mid;

/* The fault that ends a connection (the connector must reconnect after each). */
typedef enum soak_end {
    SOAK_END_DROP = 0,        /* tcp_drop_midstream, flapping_server: TCP gone without a close frame */
    SOAK_END_CLOSE,           /* close_100x_midstream: a close frame with a code (1000, 1001, 1008, 1011, 4000) */
    SOAK_END_FORCE_DISCONNECT,/* force_disconnect: the status, then a close */
    SOAK_END_SLOW_CONSUMER,   /* slow_consumer: the status, then a close */
    SOAK_END_MAX_CONNECTIONS, /* max_connections: the status, then a close; the next connection
                                 waits at least SOAK_MAX_CONNECTION_DELAY_MS */
    SOAK_END_STALL,           /* half_open_server: silence until the heartbeat gives up */
    SOAK_END_PROTOCOL,        /* fault_*: a frame a client must reject (close 1002) */
    SOAK_END_INVALID_UTF8,    /* invalid_utf8: a text frame that is not UTF-8 (close 1007) */
    SOAK_END__COUNT
} soak_end;

extern const char *const soak_mid_names[SOAK_MID__COUNT];
extern const char *const soak_end_names[SOAK_END__COUNT];

/* One stream step: `count` trades of a symbol of its own at `rate` (0: as fast as the client reads). */
typedef struct soak_stream {
    uint32_t count;   /* trades */
    uint32_t rate;    /* events per second, 0 = max */
    uint32_t batch;   /* events per frame */
} soak_stream;

/* A hand-framed fault's place in the journal: its frames are one "raw" entry. */
typedef struct soak_raw {
    bool delivers;    /* its trade must come out exactly once (fragmented, control_in_fragment) */
    uint32_t tag;     /* the trade's tag (soak_tag) when it delivers; 0 otherwise */
    int64_t q;        /* the trade's q when it delivers */
} soak_raw;

/* One scripted connection of an epoch. */
typedef struct soak_conn {
    uint32_t nsegs;                    /* segments before the last stream */
    soak_stream seg_stream[SOAK_MAX_SEGS]; /* each segment's stream */
    soak_mid seg_mid[SOAK_MAX_SEGS];   /* and what follows it */
    uint32_t seg_variant[SOAK_MAX_SEGS]; /* which payload of the kind, or the trickle's length */
    soak_stream last;                  /* the stream before the ending fault */
    soak_end end;                      /* the ending fault */
    uint32_t end_variant;              /* close code index, protocol fault index */
    soak_raw raw[SOAK_MAX_RAW];        /* the raw faults in the order they are written */
    uint32_t nraw;                     /* entries of raw */
    uint32_t parse_errors;             /* PWS_EV_PARSE_ERROR events the connection must produce */
    uint32_t others;                   /* PWS_EV_OTHER events it must produce */
    int expect_err;                    /* the pws_err of its PWS_CONN_DISCONNECTED event */
    int expect_close_code;             /* the close code that event must carry, 0 = not checked */
} soak_conn;

/* One epoch: its connector's settings and its connections. */
typedef struct soak_plan {
    uint32_t epoch;                    /* 1-based; symbols carry it */
    uint64_t seed;                     /* the mock's seed */
    bool tls;                          /* wss:// with the mock's self-signed certificate */
    size_t queue_capacity;             /* the connector's queue (small ones make the block policy work) */
    size_t batch_max;                  /* on_batch size, 0 = on_event */
    uint32_t consumer_ns;              /* the consumer's time per event (slower than loopback fills the queue) */
    uint32_t nconns;                   /* scripted connections, 1..SOAK_MAX_CONNS */
    soak_conn conns[SOAK_MAX_CONNS];   /* connection ordinal i + 1 */
    uint64_t planned_events;           /* trades the plan streams (an upper bound on what is expected) */
} soak_plan;

/* A small seeded PRNG (splitmix64): the plan of a seed is the same on every run. */
typedef struct soak_rng {
    uint64_t s; /* state */
} soak_rng;

uint64_t soak_rand(soak_rng *r);
/* Uniform integer in [lo, hi]. */
uint32_t soak_range(soak_rng *r, uint32_t lo, uint32_t hi);

/* A trade's identity: which connection and which step of the epoch sent it (its symbol,
 * "E<epoch>C<conn>S<seg>" for a stream step, "E<epoch>C<conn>T<n>" for a hand-written
 * trade) and its sequence number q, unique per symbol. */
typedef struct soak_key {
    uint32_t tag;  /* conn << 16 | hand-written << 15 | step */
    int64_t q;     /* the trade's q */
} soak_key;

/* The tag of a symbol of this epoch; false for any other symbol (then *other_epoch says
 * whether it looked like a soak symbol of another epoch). */
bool soak_tag(const char *sym, uint32_t epoch, uint32_t *tag, bool *other_epoch);
/* Writes the symbol of (epoch, conn, hand-written, step) into buf (>= 32 bytes). */
void soak_symbol(char *buf, size_t cap, uint32_t epoch, uint32_t conn, bool hand, uint32_t step);

/* Draws the plan of epoch `epoch`. */
void soak_plan_make(soak_plan *p, uint32_t epoch, soak_rng *r, bool tls_allowed);
/* The plan as a scenario (docs/scenarios.md); malloc'd NUL-terminated text, NULL without memory. */
char *soak_plan_yaml(const soak_plan *p, size_t *len);

/* One PWS_EV_CONNECTION event as the client saw it. */
typedef struct soak_life {
    pws_conn_state state; /* what happened */
    uint32_t conn;        /* the connector's connection ordinal */
    int err;              /* its pws_err */
    int close_code;       /* its close code */
    uint32_t delay_ms;    /* RECONNECT_WAIT: the delay */
} soak_life;

/* What the client saw in one epoch (written by the delivery thread, read after pws_destroy). */
typedef struct soak_seen {
    soak_key *keys;          /* this epoch's trades in delivery order */
    size_t nkeys;            /* entries of keys */
    uint64_t keys_overflow;  /* trades past SOAK_MAX_KEYS (counted, not kept) */
    uint64_t stale;          /* soak trades of another epoch (must be 0) */
    uint64_t parse_errors;   /* PWS_EV_PARSE_ERROR events */
    uint64_t others;         /* PWS_EV_OTHER events */
    uint64_t delivered;      /* every event handed to the callbacks */
    soak_life life[SOAK_MAX_LIFE]; /* lifecycle events in order */
    size_t nlife;            /* entries of life */
    uint32_t opens;          /* PWS_CONN_OPEN events (also past SOAK_MAX_LIFE) */
    uint32_t authenticated;  /* PWS_CONN_AUTHENTICATED events */
} soak_seen;

/* The verdict on one epoch. */
typedef struct soak_result {
    uint64_t expected;       /* trades the server fully wrote in frames a client must deliver */
    uint64_t received;       /* trades of this epoch the client delivered */
    uint64_t lost;           /* expected, never delivered */
    uint64_t duplicated;     /* delivered more often than written */
    uint64_t unexpected;     /* delivered, never written in a deliverable frame (or of another epoch) */
    uint64_t out_of_order;   /* positions where the delivered sequence differs from the written one,
                                counted only when nothing was lost, duplicated or unexpected */
    uint32_t reconnects_expected; /* connections ended by a fault */
    uint32_t reconnects_seen;     /* of them, those that ended with the expected error and were
                                     followed by a new connection */
    uint32_t max_conn_waits;      /* max_connections faults ... */
    uint32_t max_conn_waits_ok;   /* ... after which the connector waited long enough */
    uint64_t parse_errors_expected; /* PWS_EV_PARSE_ERROR the plan causes ... */
    uint64_t others_expected;       /* ... and PWS_EV_OTHER */
    char first_problem[512];      /* the first thing that went wrong, "" if none */
} soak_result;

/* Compares what the client saw with the mock's journal for plan p.  The journal is read with
 * pwsm_journal_count / pwsm_journal_get (call before pwsm_stop).  `scratch` holds at least
 * SOAK_MAX_KEYS keys; seen->keys is sorted in place once compared in order.  Returns true
 * if the epoch passed. */
bool soak_judge(const soak_plan *p, pwsm_server *srv, soak_seen *seen, soak_key *scratch,
                soak_result *out);

#endif
