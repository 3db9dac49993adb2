/*
 * handshakes.c - the proxy's and the replayer's handshake settings and
 * counters (handshakes.h).
 */
#include "handshakes.h"

#include <stdio.h>

/* The public limits are wire's, spelled in polyws/replay.h. */
_Static_assert(PWSR_DEFAULT_HANDSHAKE_TIMEOUT_MS == PWS__HS_DEFAULT_TIMEOUT_MS &&
                   PWSR_MAX_HANDSHAKE_TIMEOUT_MS == PWS__HS_MAX_TIMEOUT_MS &&
                   PWSR_DEFAULT_MAX_PENDING == PWS__HS_DEFAULT_MAX_PENDING && PWSR_MAX_PENDING == PWS__HS_MAX_PENDING &&
                   PWSR_MAX_PER_ADDRESS == PWS__HS_MAX_PER_ADDRESS,
               "polyws/replay.h and wire/handshake.h disagree");

int pwsr__hs_limits(const char *who, uint32_t timeout_ms, uint32_t max_pending, uint32_t max_per_address,
                    pws__hs_limits *out, char *err, size_t errcap)
{
    if (timeout_ms > PWSR_MAX_HANDSHAKE_TIMEOUT_MS) {
        snprintf(err, errcap, "%s: handshake_timeout_ms %u out of range (0 = default, 1..%u)", who, timeout_ms,
                 PWSR_MAX_HANDSHAKE_TIMEOUT_MS);
        return -1;
    }
    if (max_pending > PWSR_MAX_PENDING) {
        snprintf(err, errcap, "%s: max_pending %u out of range (0 = default, 1..%u)", who, max_pending,
                 PWSR_MAX_PENDING);
        return -1;
    }
    if (max_per_address > PWSR_MAX_PER_ADDRESS) {
        snprintf(err, errcap, "%s: max_per_address %u out of range (0 = no cap, 1..%u)", who, max_per_address,
                 PWSR_MAX_PER_ADDRESS);
        return -1;
    }
    *out = (pws__hs_limits){.timeout_ms = timeout_ms, .max_pending = max_pending, .max_per_address = max_per_address};
    return 0;
}

void pwsr__hs_stats(const pws__hs_guard *g, pwsr_handshake_stats *out)
{
    pws__hs_stats st;
    pws__hs_get_stats(g, &st);
    *out = (pwsr_handshake_stats){.accepted = st.accepted, .upgraded = st.upgraded, .timed_out = st.timed_out,
                                  .evicted = st.evicted, .refused_full = st.refused_full,
                                  .refused_address = st.refused_address, .pending = st.pending,
                                  .pending_peak = st.pending_peak};
}
