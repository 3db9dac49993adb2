/*
 * ratelimit.h - token bucket for outgoing actions.  Pure logic over a
 * caller-supplied clock (microseconds).  Library-internal.
 */
#ifndef POLYWS_RATELIMIT_H
#define POLYWS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pws__bucket {
    double rate;       /* tokens per second, > 0 */
    double burst;      /* bucket size, >= 1 */
    double tokens;     /* tokens now */
    int64_t last_us;   /* time of the last refill */
} pws__bucket;

/* Starts full. */
void pws__bucket_init(pws__bucket *b, double rate, double burst, int64_t now_us);
/* Takes one token if available; true if taken. */
bool pws__bucket_take(pws__bucket *b, int64_t now_us);
/* Microseconds until a token is available (0 if one is now). */
int64_t pws__bucket_wait_us(pws__bucket *b, int64_t now_us);

#endif
