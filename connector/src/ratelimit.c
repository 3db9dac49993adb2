/*
 * ratelimit.c - token bucket for outgoing actions (see ratelimit.h).
 *
 * The bucket holds up to `burst` tokens and refills continuously at `rate`
 * tokens per second; each action takes one.  Refill is computed lazily from
 * the caller's clock, so the bucket needs no timer.  Fractional tokens are
 * kept in `tokens`, so no time is lost between refills; capping at burst
 * keeps the value small, so double rounding never accumulates.
 *
 * The clock must be monotonic.  A clock that goes backwards is ignored (no
 * refill, last_us kept) rather than trusted.
 */
#include "ratelimit.h"

#include <math.h>

/* Tolerance for "one whole token": the refill multiplies microseconds by a
 * rate that is rarely exact in binary, so a bucket that should hold exactly
 * one token may hold 0.9999999999.  take() accepts a deficit up to
 * BUCKET_EPS; wait_us() aims at half of it, so the time it promises always
 * lands inside what take() accepts, and a deficit of a few 1e-16 does not
 * round its answer up by a whole microsecond. */
#define BUCKET_EPS 1e-9
#define BUCKET_WAIT_EPS (BUCKET_EPS / 2)
/* Rates below this (one token per ~17 minutes) are raised to it, so wait_us
 * stays finite; rate <= 0 or NaN breaks the header's precondition. */
#define BUCKET_MIN_RATE 1e-3

void pws__bucket_init(pws__bucket *b, double rate, double burst, int64_t now_us)
{
    if (!(rate >= BUCKET_MIN_RATE))
        rate = BUCKET_MIN_RATE;
    if (!(burst >= 1.0))
        burst = 1.0;
    b->rate = rate;
    b->burst = burst;
    b->tokens = burst;
    b->last_us = now_us;
}

static void bucket_refill(pws__bucket *b, int64_t now_us)
{
    if (now_us <= b->last_us)
        return;
    b->tokens += (double)(now_us - b->last_us) * b->rate / 1e6;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->last_us = now_us;
}

bool pws__bucket_take(pws__bucket *b, int64_t now_us)
{
    bucket_refill(b, now_us);
    if (b->tokens < 1.0 - BUCKET_EPS)
        return false;
    b->tokens -= 1.0;
    if (b->tokens < 0.0)
        b->tokens = 0.0;
    return true;
}

int64_t pws__bucket_wait_us(pws__bucket *b, int64_t now_us)
{
    double need;

    bucket_refill(b, now_us);
    if (b->tokens >= 1.0 - BUCKET_EPS)
        return 0;
    need = (1.0 - BUCKET_WAIT_EPS - b->tokens) * 1e6 / b->rate;
    /* Rounded up: waiting a microsecond too long is harmless, too short
     * would make the caller's retry fail and spin. */
    return (int64_t)ceil(need);
}
