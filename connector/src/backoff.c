/*
 * backoff.c - reconnect delays (see backoff.h and pws_backoff_options).
 *
 * Delay of retry n = min(cap_ms, base_ms * factor^(n-1)), times a uniform
 * random factor in [1 - jitter, 1 + jitter), then raised to at least
 * max_connections_delay_ms after a max_connections status.
 *
 * Why delays still grow with jitter.  Retry n draws from
 * [d(1-j), d(1+j)) and retry n+1 from [f*d(1-j), f*d(1+j)) with d the
 * un-jittered delay and f the factor.  The ranges cannot overlap while
 * f(1-j) >= 1+j, i.e. f >= (1+j)/(1-j): with the defaults f = 2, j = 0.2 that
 * bound is 1.5, so until the cap every retry waits strictly longer than the
 * one before (the smallest next draw, 1.6d, is above the largest current,
 * 1.2d).  Jitter spreads many clients apart without undoing the growth.  At
 * the cap the delays hover in [0.8, 1.2) * cap_ms.  A jitter above 1/3 with
 * factor 2 can make two successive delays decrease, which is allowed.
 *
 * The attempt counter resets only when the connection that just ended had
 * been healthy for healthy_ms: a server that accepts and drops at once never
 * marks it healthy long enough, so its delays keep growing instead of
 * restarting at base_ms (the reconnect storm of clients that reset on open).
 */
#include "backoff.h"

#include <math.h>

#define BACKOFF_DEFAULT_BASE_MS 500u
#define BACKOFF_DEFAULT_FACTOR 2.0
#define BACKOFF_DEFAULT_CAP_MS 30000u
#define BACKOFF_DEFAULT_JITTER 0.2
#define BACKOFF_DEFAULT_HEALTHY_MS 10000u
#define BACKOFF_DEFAULT_MAX_CONN_DELAY_MS 60000u
/* Used for seed 0: any non-zero value works for xorshift. */
#define BACKOFF_DEFAULT_SEED 0x9e3779b97f4a7c15ULL

int pws__backoff_resolve(pws_backoff_options *o)
{
    pws_backoff_options r;

    if (o == NULL)
        return PWS_ERR_INVALID;
    r = *o;
    if (r.base_ms == 0)
        r.base_ms = BACKOFF_DEFAULT_BASE_MS;
    if (r.factor == 0.0)
        r.factor = BACKOFF_DEFAULT_FACTOR;
    if (r.cap_ms == 0)
        r.cap_ms = BACKOFF_DEFAULT_CAP_MS;
    if (r.jitter == 0.0)
        r.jitter = BACKOFF_DEFAULT_JITTER;
    if (r.healthy_ms == 0)
        r.healthy_ms = BACKOFF_DEFAULT_HEALTHY_MS;
    if (r.max_connections_delay_ms == 0)
        r.max_connections_delay_ms = BACKOFF_DEFAULT_MAX_CONN_DELAY_MS;
    /* max_attempts: 0 already means "no limit". */

    /* The negated comparisons also reject NaN. */
    if (!(r.factor >= 1.0) || isinf(r.factor))
        return PWS_ERR_INVALID;
    if (isnan(r.jitter) || r.jitter > 1.0)
        return PWS_ERR_INVALID;
    if (r.base_ms > r.cap_ms)
        return PWS_ERR_INVALID;
    /* Negative jitter means none; store 0 would read as "default" again if
     * resolved twice, so keep it negative. */
    *o = r;
    return PWS_OK;
}

void pws__backoff_init(pws__backoff *b, const pws_backoff_options *resolved, uint64_t seed)
{
    b->o = *resolved;
    b->attempt = 0;
    b->healthy_since = -1;
    b->rng = seed != 0 ? seed : BACKOFF_DEFAULT_SEED;
}

void pws__backoff_mark_healthy(pws__backoff *b, int64_t now_ms)
{
    /* Keep the first mark of this connection: being told twice must not
     * postpone the reset. */
    if (b->healthy_since < 0)
        b->healthy_since = now_ms;
}

/* xorshift64* (Vigna): fast, tiny state, plenty for spreading reconnects.
 * Not for anything secret. */
static uint64_t backoff_rand(pws__backoff *b)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [-1, 1): the top 53 bits give a double in [0, 1). */
static double backoff_rand_sym(pws__backoff *b)
{
    double u = (double)(backoff_rand(b) >> 11) * (1.0 / 9007199254740992.0);
    return 2.0 * u - 1.0;
}

int64_t pws__backoff_next_delay_ms(pws__backoff *b, int64_t now_ms, bool max_connections)
{
    double d;
    int64_t delay;

    if (b->healthy_since >= 0 && now_ms - b->healthy_since >= (int64_t)b->o.healthy_ms)
        b->attempt = 0;
    /* This connection is over; the next one must earn its own mark. */
    b->healthy_since = -1;

    if (b->attempt < UINT32_MAX)
        b->attempt++;
    if (b->o.max_attempts != 0 && b->attempt > b->o.max_attempts)
        return -1;

    /* pow() overflows to +inf for huge attempts, which the cap absorbs. */
    d = (double)b->o.base_ms * pow(b->o.factor, (double)(b->attempt - 1));
    if (d > (double)b->o.cap_ms)
        d = (double)b->o.cap_ms;
    if (b->o.jitter > 0.0)
        d *= 1.0 + b->o.jitter * backoff_rand_sym(b);
    if (d < 0.0)
        d = 0.0;
    /* At most 2 * cap_ms, so it fits. */
    delay = (int64_t)llround(d);
    if (max_connections && delay < (int64_t)b->o.max_connections_delay_ms)
        delay = (int64_t)b->o.max_connections_delay_ms;
    return delay;
}
