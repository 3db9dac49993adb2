/*
 * handshakes.h - the proxy's and the replayer's handshake settings and
 * counters: their public options and pwsr_handshake_stats (polyws/replay.h)
 * over wire's handshake guard (wire/handshake.h).  Names are pwsr__.
 */
#ifndef PWSR_HANDSHAKES_H
#define PWSR_HANDSHAKES_H

#include <polyws/replay.h>

#include "wire/handshake.h"

/* The guard's limits from a server's options (0 fields: the defaults).  0, or -1 with
 * "WHO: handshake_timeout_ms N out of range (...)" (or max_pending, max_per_address) in err. */
int pwsr__hs_limits(const char *who, uint32_t timeout_ms, uint32_t max_pending, uint32_t max_per_address,
                    pws__hs_limits *out, char *err, size_t errcap);

/* The guard's counters as the public struct (zeros for a NULL guard).  Any thread. */
void pwsr__hs_stats(const pws__hs_guard *g, pwsr_handshake_stats *out);

#endif
