/*
 * scenario_compile.h - shared by the parts of the scenario compiler (private):
 * scenario.c (file, top level, server, client, connections, assertions) calls
 * scenario_steps.c (steps and payloads); both call scenario_read.c (errors,
 * typed value readers), which calls neither:
 *
 *     scenario.c -> scenario_steps.c -> scenario_read.c
 *     scenario.c -------------------------> scenario_read.c
 *
 * Every reader reports the first error as "FILE:LINE:COLUMN: message" into the
 * context and returns false; callers just propagate false.
 */
#ifndef POLYWS_SCENARIO_COMPILE_H
#define POLYWS_SCENARIO_COMPILE_H

#include "scenario_json.h"
#include "scenario_yaml.h"

#include <polyws/mock.h>
#include <polyws/scenario.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits beyond those in polyws/scenario.h (docs/scenarios.md lists them all). */
#define PWSS__MAX_EXPANDED_NODES 4000000u   /* YAML nodes visited while compiling (aliases expand) */
#define PWSS__MAX_PAYLOAD_BYTES PWSM_MAX_OUT_QUEUE /* one step's data: the server's output queue (4 MiB) */
#define PWSS__MAX_TOTAL_BYTES (64u << 20)   /* bytes of all step data in one scenario (64 MiB) */
#define PWSS__MAX_PAYLOAD_TIMES (16u << 20) /* `times` of one payload piece */
#define PWSS__MAX_PAYLOAD_NESTING 8u        /* payload `parts` inside `parts` */
#define PWSS__MAX_DURATION_MS 3600000u      /* any duration: one hour */
#define PWSS__MAX_UNROLLED_STEPS 10000000u  /* steps one connection runs with repeats unrolled */
#define PWSS__MAX_ORDINAL 1000000u          /* connection ordinals that can have a script */
#define PWSS__MAX_STREAM_COUNT 1000000000u  /* events of one stream step */
#define PWSS__MAX_RATE 10000000.0           /* events per second of a stream */
#define PWSS__MAX_NAME 128u                 /* bytes of `name` */
#define PWSS__MAX_DESCRIPTION 300u          /* bytes of `description` */
#define PWSS__MAX_KEY 256u                  /* bytes of one accepted key */
#define PWSS__MAX_SUBSCRIBE 8192u           /* bytes of the client's subscribe list */
#define PWSS__MAX_STATUS 64u                /* bytes of a status word */
#define PWSS__MAX_MESSAGE 1024u             /* bytes of a status message */
#define PWSS__MAX_REGEX 4096u               /* bytes of a regular expression */
#define PWSS__MAX_REGEX_COST 20000u         /* estimated regcomp tree size of a regular expression */
#define PWSS__MAX_PATH 4096u                /* bytes of an output_equals path */
#define PWSS__MAX_SYMBOL 31u                /* bytes of a stream symbol */
#define PWSS__MAX_STREAM_SYMBOLS 1024u      /* symbols of one stream step (PWSM_MAX_SYMBOLS) */

#define PWSS__DEFAULT_CLIENT_TIMEOUT_MS 30000u /* client.timeout */
#define PWSS__DEFAULT_SUBSCRIBE "A.AAPL"       /* client.subscribe */
#define PWSS__DEFAULT_STREAM_BATCH 10u         /* stream.batch */

/** Compilation state. */
typedef struct pwss__ctx {
    const char *path; /* the file, for messages */
    char *err;        /* where the first error goes */
    size_t errcap;    /* its size */
    bool failed;      /* an error was reported */
    size_t budget;    /* YAML node visits left */
    size_t steps;     /* steps written so far, in all scripts */
    size_t bytes;     /* step data bytes so far */
} pwss__ctx;

/* ---- scenario_read.c: errors and typed value readers */

/** Reports "FILE:LINE:COLUMN: message" at node `at` (1:1 if NULL); returns false. */
bool pwss__fail(pwss__ctx *c, const pwss__ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Counts one node visit against the budget; false (reported) when it runs out. */
bool pwss__visit(pwss__ctx *c, const pwss__ynode *n);
/** "a mapping", "a sequence", "the string \"x\"", "the number 5", "null", "true"... for messages. */
const char *pwss__describe(const pwss__ynode *n, char *buf, size_t cap);
/** The closest of names (NULL-terminated) to word if it looks like a typo of it, else NULL. */
const char *pwss__closest(const char *word, const char *const *names);

/** True if n is a null scalar (see pwss__scalar_class). */
bool pwss__is_null(const pwss__ynode *n);

/** Checks that n is a mapping whose keys are all scalars among allowed (NULL-terminated). */
bool pwss__check_map(pwss__ctx *c, const pwss__ynode *n, const char *what, const char *const *allowed);
/** Value of key in mapping n, or NULL. */
const pwss__ynode *pwss__get(const pwss__ynode *map, const char *key);
/** Like pwss__get, but a missing key is reported ("missing required key"). */
bool pwss__need(pwss__ctx *c, const pwss__ynode *map, const char *key, const char *what,
                const pwss__ynode **out);

/** A string of 1..max bytes (any scalar but null; no NUL bytes; one_line: no line breaks). */
bool pwss__read_string(pwss__ctx *c, const pwss__ynode *n, const char *what, size_t max, bool one_line,
                       char **out);
/** A plain integer in min..max. */
bool pwss__read_uint(pwss__ctx *c, const pwss__ynode *n, const char *what, uint64_t min, uint64_t max,
                     uint64_t *out);
/** A plain true or false. */
bool pwss__read_bool(pwss__ctx *c, const pwss__ynode *n, const char *what, bool *out);
/** A duration: 250ms, 2s, 1.5s, 1m or plain milliseconds, in min..max ms. */
bool pwss__read_duration(pwss__ctx *c, const pwss__ynode *n, const char *what, uint32_t min, uint32_t max,
                         uint32_t *out);
/** A plain finite number in min..max. */
bool pwss__read_number(pwss__ctx *c, const pwss__ynode *n, const char *what, double min, double max,
                       double *out);
/** A POSIX extended regular expression that compiles. */
bool pwss__read_regex(pwss__ctx *c, const pwss__ynode *n, const char *what, char **out);

/* ---- scenario_steps.c */

/** Compiles a sequence of steps (n may be NULL: no steps).  depth is the repeat
 * nesting (0 at the top); *unrolled receives the steps it runs with repeats
 * unrolled (saturating). */
bool pwss__compile_steps(pwss__ctx *c, const pwss__ynode *n, unsigned depth, pwss_step **out, size_t *count,
                         uint64_t *unrolled);
/** Frees the contents of count steps and the array. */
void pwss__free_steps(pwss_step *steps, size_t count);

#endif
