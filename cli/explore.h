/*
 * explore.h - what the files of `polyws explore` share (not installed):
 *
 *   explore_gen.c        the seeded generator: a random scenario as a model (connections of
 *                        steps), the YAML text it renders to (the scenario language itself,
 *                        loaded by pwss_load_mem like any file), and the assertions every
 *                        correct connector passes on it, derived from its steps;
 *   explore_invariant.c  the invariants: their names, and which one a failed run broke, read
 *                        from the judge's first-cause headline;
 *   explore_shrink.c     the smaller variants of a failing model, tried by explore.c;
 *   explore.c            the command: options, running the scenarios through `polyws check`'s
 *                        runner (check_run.h: mock, client, judge), shrinking, writing files.
 *
 * Layers: explore.c calls down into the three others; they call nothing of explore.c.
 * Threading: the model functions are pure (no globals); explore.c runs scenarios on --jobs
 * threads, each with its own model and its own chk_job slot.
 */
#ifndef POLYWS_CLI_EXPLORE_H
#define POLYWS_CLI_EXPLORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_MAX_CONNS 5          /* scripted connections a generated scenario has at most */
#define XP_MAX_STEPS 12         /* steps of one scripted connection at most */
#define XP_MAX_MIDS 4           /* steps between the handshake and the ending, at most */
#define XP_HANDSHAKE_TIMEOUT_MS 2000 /* handshake/auth waits: a client that needs longer is wrong */
#define XP_MIN_GAP_MS 50        /* reconnect_delay min: a reconnect sooner than this is a storm */
#define XP_GROW_CAP_MS 5000     /* reconnect_delay cap for growing (flapping scenarios) */
#define XP_HEARTBEAT_MS 1000    /* client.heartbeat hint, so a stalled server is noticed in ~2 s */
#define XP_SLACK_MS 2000        /* added to client.duration: start-up and the last reconnect */
#define XP_FIGHT_WINDOW_MS 1500 /* after max_connections / auth_failed, the run goes on this long */
#define XP_TIMEOUT_EXTRA_MS 10000 /* client.timeout = duration + this: past it, the client hangs */
#define XP_YAML_MAX (64u * 1024u) /* bytes of one rendered scenario (far below PWSS_MAX_FILE_BYTES) */

/* What one step of a generated connection does (each renders to exactly one YAML step). */
typedef enum xp_kind {
    XP_HANDSHAKE = 0, /* handshake: 2s (greeting, auth, subscription confirmed) */
    XP_GREET,         /* greet (a handshake cut short: greet[, auth], then an ending) */
    XP_AUTH,          /* auth: 2s */
    XP_EXPECT_AUTH,   /* expect the auth action without answering it (before auth_failed) */
    XP_STREAM,        /* stream: generated trades or aggregates (a burst, a stream or a trickle) */
    XP_BIG,           /* send_raw: one large frame of trades (legal WebSocket, must be accepted) */
    XP_BAD_JSON,      /* send_raw: a frame that is not JSON, or not an array */
    XP_BINARY,        /* send_binary: a binary frame (Polygon sends text) */
    XP_PING,          /* ping: a server ping */
    XP_ACCEPT_FAULT,  /* fault: one a client must accept (fragmented, control_in_fragment, unsolicited_pong) */
    XP_STALL_SHORT,   /* stall: a short half-open moment */
    XP_SLEEP,         /* sleep */
    XP_RATE_ERROR,    /* status: error "rate limit exceeded" (the connection stays) */
    XP_STATUS_END,    /* status: force_disconnect | slow_consumer | max_connections | auth_failed */
    XP_CLOSE,         /* close: {code} */
    XP_DROP,          /* drop (no close frame) */
    XP_STALL_END,     /* stall until the end: the client must notice (heartbeat) and reconnect */
    XP_REJECT_FAULT,  /* fault: one a client must fail the connection for (close 1002) */
    XP_INVALID_UTF8,  /* send_invalid_utf8 (fail with close 1007) */
    XP_KIND__COUNT
} xp_kind;

/* The statuses of XP_STATUS_END. */
typedef enum xp_status {
    XP_ST_FORCE_DISCONNECT = 0,
    XP_ST_SLOW_CONSUMER,
    XP_ST_MAX_CONNECTIONS,
    XP_ST_AUTH_FAILED,
    XP_ST__COUNT
} xp_status;

/* One step; which fields matter depends on kind. */
typedef struct xp_step {
    xp_kind kind;     /* what it does */
    uint32_t count;   /* STREAM: events; BIG: trades in the frame */
    uint32_t rate;    /* STREAM: events per second, 0 = as fast as the client reads */
    uint32_t batch;   /* STREAM: events per frame */
    uint32_t ms;      /* STALL_SHORT, SLEEP: duration */
    uint32_t variant; /* STREAM: channel; BAD_JSON, ACCEPT_FAULT, REJECT_FAULT: which; STATUS_END: xp_status;
                         CLOSE: the code */
} xp_step;

/* One scripted connection. */
typedef struct xp_conn {
    xp_step step[XP_MAX_STEPS]; /* in order */
    uint32_t nsteps;            /* entries in step */
} xp_conn;

/* A generated scenario: connections 1..nconns are scripted, later ones are the real service. */
typedef struct xp_model {
    uint64_t seed;                /* the run's seed (names the scenario) */
    uint64_t server_seed;         /* server.seed: the generated stream's content */
    uint32_t subscribe;           /* bit i: channel i of xp_channels is in client.subscribe */
    xp_conn conn[XP_MAX_CONNS];   /* the scripts */
    uint32_t nconns;              /* entries in conn, 1..XP_MAX_CONNS */
} xp_model;

/* ---- explore_gen.c */

/* Draws run `seed`'s scenario (the same seed gives the same model). */
void xp_generate(uint64_t seed, xp_model *m);
/* The model as a scenario file (malloc'd, NUL-terminated, *len its length), with `comment` (may be
 * NULL; lines are prefixed with "# ") at the top and `description` (may be NULL: a default) as its
 * one-line description; NULL if out of memory or longer than XP_YAML_MAX. */
char *xp_render(const xp_model *m, const char *name, const char *description, const char *comment, size_t *len);
/* Steps the rendered scenario has (every script, the derived trap included). */
uint32_t xp_size(const xp_model *m);
/* Events its streams and large frames send: a secondary size, for shrinking stream counts. */
uint64_t xp_weight(const xp_model *m);
/* client.duration of the rendered scenario, in ms. */
uint32_t xp_duration_ms(const xp_model *m);
/* Drops the scripted connections the story never reaches (after one that does not end, or
 * after max_connections / auth_failed). */
void xp_normalize(xp_model *m);

/* ---- explore_invariant.c */

/* The invariants a correct connector keeps (docs/explore.md). */
typedef enum xp_invariant {
    XP_INV_NONE = 0,      /* the run passed */
    XP_INV_AUTH,          /* authenticates promptly on every connection (auth_within, a failed handshake) */
    XP_INV_AUTH_FIRST,    /* never subscribes before auth_success (no_subscribe_before_auth) */
    XP_INV_RESUBSCRIBE,   /* subscribes the same channels after every reconnect (resubscribed) */
    XP_INV_RECONNECT,     /* reconnects after every connection the server ended (min_connects) */
    XP_INV_BACKOFF,       /* no reconnect storm; in flapping scenarios delays grow (reconnect_delay) */
    XP_INV_NO_KEY_FIGHT,  /* after max_connections, no connection within the run (the trap connection) */
    XP_INV_FAILS_ON_VIOLATION, /* fails the connection on a protocol violation (fails_connection) */
    XP_INV_DELIVERY,      /* every well-formed event once, in order, on a connection it kept (events) */
    XP_INV_EXIT,          /* exits as the contract says: non-zero after auth_failed, never retrying */
    XP_INV_NO_CRASH,      /* not killed by a signal it did not get from the runner */
    XP_INV_NO_HANG,       /* not still running at client.timeout */
    XP_INV_SCRIPT,        /* another failed step of the script (the judge's step_failed) */
    XP_INV_OTHER,         /* any other failure (the judge's headline did not map) */
    XP_INV_CLIENT_START,  /* the client could not be run at all: a usage problem, not explored */
    XP_INV__COUNT
} xp_invariant;

/* Its name ("resubscribe"), and one line saying what it requires. */
const char *xp_invariant_name(xp_invariant inv);
const char *xp_invariant_rule(xp_invariant inv);
/* The trap connection's ordinal (explore_gen.c renders it after a max_connections or auth_failed
 * ending), 0 if none; *refused says which. */
uint32_t xp_trap_ordinal(const xp_model *m, bool *refused);
/* Which invariant a failed run of m broke, from the judge's headline (first cause). */
xp_invariant xp_classify(const xp_model *m, const char *headline);

/* ---- explore_shrink.c */

#define XP_MAX_CANDIDATES 256 /* variants one shrink round tries at most */

/* The smaller variants of m, most promising first (fewer connections, fewer steps, then smaller
 * streams, then simpler endings), each strictly smaller than m by (xp_size, xp_weight) or
 * simpler; returns how many were written to out (at most cap). */
size_t xp_candidates(const xp_model *m, xp_model *out, size_t cap);

#endif
