/*
 * wire/clock.h - the one monotonic clock (and the wall clock) of the project.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h): timers, ages and rates in the connector, the mock (its
 * engine, rate limits, journal times) and the proxy and replayer all read
 * pws__mono_us or pws__mono_ms, so their numbers compare; the timed waits on
 * condition variables take their deadlines from pws__deadline_after_ms.  Names
 * are pws__; callable from any thread (a clock_gettime each, no state).
 */
#ifndef PWS_WIRE_CLOCK_H
#define PWS_WIRE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic clock (CLOCK_MONOTONIC): for timers and ages, not wall time. */
int64_t pws__mono_us(void);
int64_t pws__mono_ms(void);
/* Wall clock (CLOCK_REALTIME), Unix microseconds. */
int64_t pws__wall_us(void);

/* The absolute time ms milliseconds from now on clock, for pthread_cond_timedwait: pass the
 * clock the condition variable waits on (CLOCK_MONOTONIC if it was set up with
 * pthread_condattr_setclock, else CLOCK_REALTIME).  ms <= 0 gives now. */
struct timespec pws__deadline_after_ms(clockid_t clock, int64_t ms);

#endif
