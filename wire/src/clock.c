/*
 * clock.c - monotonic and wall clocks, and deadlines for timed waits (wire/clock.h).
 */
#include "wire/clock.h"

#include <time.h>

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pws__mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

int64_t pws__mono_ms(void)
{
    return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t pws__wall_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

struct timespec pws__deadline_after_ms(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    if (ms > 0) {
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    return ts;
}
