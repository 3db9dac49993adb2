/*
 * backoff.h - reconnect delays: exponential with jitter, capped, with a reset
 * only after a healthy connection.  Pure logic over a caller-supplied clock
 * (milliseconds), so tests drive it with a fake clock.  Library-internal.
 */
#ifndef POLYWS_BACKOFF_H
#define POLYWS_BACKOFF_H

#include <polyws/polyws.h>

typedef struct pws__backoff {
    pws_backoff_options o;   /* resolved options (defaults filled in) */
    uint32_t attempt;        /* consecutive failed attempts so far */
    int64_t healthy_since;   /* ms when the current connection became healthy, or -1 */
    uint64_t rng;            /* xorshift64* state for jitter; never 0 */
} pws__backoff;

/* Fills zero fields of o with the documented defaults; returns PWS_ERR_INVALID
 * (and leaves o as is) if a set field is out of range (factor < 1, jitter > 1,
 * base_ms > cap_ms). */
int pws__backoff_resolve(pws_backoff_options *o);
/* Initializes b from resolved options; seed 0 picks a fixed non-zero seed. */
void pws__backoff_init(pws__backoff *b, const pws_backoff_options *resolved, uint64_t seed);
/* The connection became healthy (authenticated and receiving) at now_ms. */
void pws__backoff_mark_healthy(pws__backoff *b, int64_t now_ms);
/* A connection attempt failed or a connection ended at now_ms.  If it had been
 * healthy for at least healthy_ms the attempt counter is reset first.  Then it
 * counts one more attempt and returns the delay in ms before the next one, or
 * -1 if max_attempts is exceeded.  max_connections raises the delay to at
 * least max_connections_delay_ms. */
int64_t pws__backoff_next_delay_ms(pws__backoff *b, int64_t now_ms, bool max_connections);

#endif
