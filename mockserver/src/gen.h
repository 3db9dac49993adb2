/*
 * gen.h - the deterministic market-data generator of the mock (private).
 *
 * Pure code: no sockets, no clocks, no globals.  A generator belongs to one
 * connection; it holds the subscription set, a per-symbol market state and a
 * PRNG seeded from (seed, ordinal), and prints frames of A/AM/T/Q events as
 * Polygon JSON.  The same seed, ordinal and sequence of calls give the same
 * bytes on every run: prices are integers in 1/10000 dollars and times come
 * from a simulated clock, never from the wall clock.
 */
#ifndef PWSM_GEN_H
#define PWSM_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Event types the generator can stream. */
enum pwsm__ev { PWSM__EV_A = 0, PWSM__EV_AM, PWSM__EV_T, PWSM__EV_Q, PWSM__EV_COUNT };

/** Symbols behind a wildcard channel such as "T.*". */
#define PWSM__UNIVERSE_SIZE 8
/** Longest symbol the generator streams (longer ones are confirmed but never streamed);
 * option tickers such as "O:SPY251219C00650000" fit. */
#define PWSM__SYMBOL_MAX 32
/** Upper bound of one printed event (the longest, an OTC "A" with a 32-char symbol, is ~290 bytes). */
#define PWSM__EVENT_MAX 384

typedef struct pwsm__symstate pwsm__symstate;

/** One connection's generator.  Zero it, then pwsm__gen_init. */
typedef struct pwsm__gen {
    uint64_t rng[4];            /* xoshiro256** state */
    int64_t sim_ms;             /* simulated SIP clock, Unix ms */
    pwsm__symstate *syms;       /* known symbols: the universe first, then explicit ones */
    size_t nsyms;               /* used entries of syms */
    size_t capsyms;             /* allocated entries of syms, at most PWSM_MAX_SYMBOLS */
    bool wild[PWSM__EV_COUNT];  /* "EV.*" subscribed */
    uint32_t *active;           /* (ev << 16 | sym) pairs currently streamed, rebuilt on change */
    size_t nactive;             /* used entries of active */
    uint64_t seed;              /* the server seed, for per-symbol starting prices */
} pwsm__gen;

/** Sets up the generator for one connection; 0 or -1 (out of memory). */
int pwsm__gen_init(pwsm__gen *g, uint64_t seed, uint32_t ordinal);
/** Frees what the generator owns. */
void pwsm__gen_free(pwsm__gen *g);
/** Applies one channel of a subscribe (on = true) or unsubscribe.  Channels the generator
 * cannot stream (unknown event type, bad symbol, symbol table full) are ignored: the
 * caller confirms them anyway, like the real service.  Returns true if the set changed. */
bool pwsm__gen_channel(pwsm__gen *g, const char *channel, size_t len, bool on);
/** Number of (event type, symbol) pairs currently streamed. */
size_t pwsm__gen_active(const pwsm__gen *g);
/** Draws the size of the next batch, 1..batch_max. */
uint32_t pwsm__gen_batch_size(pwsm__gen *g, uint32_t batch_max);
/** Prints a JSON array of n generated events for the active channels into out
 * (cap >= n * (PWSM__EVENT_MAX + 1) + 2).  Returns the length, or 0 if nothing is
 * active.  Advances the market and the simulated clock. */
size_t pwsm__gen_frame(pwsm__gen *g, uint32_t n, char *out, size_t cap);

#endif
