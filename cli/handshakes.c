/*
 * handshakes.c - what `polyws mock`, `record` and `replay` share about
 * clients that never finish their WebSocket upgrade: the three options
 * (--handshake-timeout, --max-pending, --max-per-address), the
 * "handshakes:" line on stderr, and the descriptor limit set at start.
 * The limits themselves are the libraries' (polyws/mock.h, polyws/replay.h).
 */
#include "commands.h"
#include "wire/clock.h"

#include <polyws/mock.h>
#include <polyws/replay.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

_Static_assert(PWSM_MAX_HANDSHAKE_TIMEOUT_MS == PWSR_MAX_HANDSHAKE_TIMEOUT_MS && PWSM_MAX_PENDING == PWSR_MAX_PENDING &&
                   PWSM_MAX_PER_ADDRESS == PWSR_MAX_PER_ADDRESS &&
                   PWSM_DEFAULT_HANDSHAKE_TIMEOUT_MS == PWSR_DEFAULT_HANDSHAKE_TIMEOUT_MS &&
                   PWSM_DEFAULT_MAX_PENDING == PWSR_DEFAULT_MAX_PENDING,
               "the mock and the replay library disagree on the handshake limits; one help text serves both");

const char pws_cli_hs_help[] =
    "      --handshake-timeout DURATION\n"
    "                          close a connection whose WebSocket upgrade request is not\n"
    "                          complete this long after it connected (default 5s; 250ms,\n"
    "                          2s, 1.5s, 1m or plain milliseconds; at most 1h)\n"
    "      --max-pending N     connections whose upgrade is not complete, at once (default\n"
    "                          1024, at most 65536): a new one then closes the oldest of\n"
    "                          them; one client address holds at most half\n"
    "      --max-per-address N connections from one client address, more are refused\n"
    "                          (default 0 = no cap: local clients all share 127.0.0.1)\n";

int pws_cli_duration_ms(const char *s, uint32_t min_ms, uint32_t max_ms, uint32_t *out_ms)
{
    /* digits, an optional fraction, then the unit: no sign, exponent or hex (strtod takes them) */
    size_t i = 0;
    while (s && s[i] >= '0' && s[i] <= '9')
        i++;
    if (!i || (s[i] == '.' && !(s[i + 1] >= '0' && s[i + 1] <= '9')))
        return -1;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            ;
    char *end;
    double v = strtod(s, &end);
    if (end != s + i)
        return -1;
    double factor = !strcmp(end, "ms") || !*end ? 1 : !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000 : 0;
    if (!factor || !isfinite(v))
        return -1;
    double ms = v * factor, whole = floor(ms + 0.5);
    if (fabs(ms - whole) > 1e-6 || whole < (double)min_ms || whole > (double)max_ms)
        return -1;
    *out_ms = (uint32_t)whole;
    return 0;
}

int pws_cli_hs_option(const char *cmd, int ch, const char *arg, pws_cli_hs_opts *o)
{
    uint64_t u;
    switch (ch) {
    case PWS_CLI_OPT_HS_TIMEOUT:
        if (pws_cli_duration_ms(arg, 1, PWSM_MAX_HANDSHAKE_TIMEOUT_MS, &o->timeout_ms) == 0)
            return 0;
        fprintf(stderr, "polyws %s: --handshake-timeout needs a duration of 1ms..1h (250ms, 2s, 1.5s, 1m or "
                        "milliseconds), not '%s'\n", cmd, arg);
        return 2;
    case PWS_CLI_OPT_MAX_PENDING:
        if (pws_cli_uint(arg, 1, PWSM_MAX_PENDING, &u) == 0) {
            o->max_pending = (uint32_t)u;
            return 0;
        }
        fprintf(stderr, "polyws %s: --max-pending needs 1..%u, not '%s'\n", cmd, PWSM_MAX_PENDING, arg);
        return 2;
    case PWS_CLI_OPT_MAX_PER_ADDRESS:
        if (pws_cli_uint(arg, 0, PWSM_MAX_PER_ADDRESS, &u) == 0) {
            o->max_per_address = (uint32_t)u;
            return 0;
        }
        fprintf(stderr, "polyws %s: --max-per-address needs 0..%u (0 = no cap), not '%s'\n", cmd,
                PWSM_MAX_PER_ADDRESS, arg);
        return 2;
    default:
        return -1;
    }
}

/* Connections the server closed or refused before their upgrade. */
static uint64_t turned_away(const pws_cli_hs_counts *c)
{
    return c->timed_out + c->evicted + c->refused_full + c->refused_address;
}

void pws_cli_hs_report_line(pws_cli_hs_report *r, const char *cmd, const char *prefix, const pws_cli_hs_counts *now,
                            bool final)
{
    int64_t ms = pws__mono_ms();
    bool moved = turned_away(now) != turned_away(&r->shown);
    if (final ? !turned_away(now) : !moved || (r->shown_ms && ms - r->shown_ms < PWS_CLI_HS_REPORT_MS))
        return;
    fprintf(stderr,
            "%spolyws %s: handshakes: %llu accepted, %llu upgraded, %llu timed out, %llu evicted (oldest pending), "
            "%llu refused (pending full), %llu refused (per address); %u pending, peak %u\n",
            prefix ? prefix : "", cmd, (unsigned long long)now->accepted, (unsigned long long)now->upgraded,
            (unsigned long long)now->timed_out, (unsigned long long)now->evicted,
            (unsigned long long)now->refused_full, (unsigned long long)now->refused_address, now->pending,
            now->pending_peak);
    fflush(stderr);
    r->shown = *now;
    r->shown_ms = ms ? ms : 1;
}

void pws_cli_set_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > PWS_CLI_FDS ? PWS_CLI_FDS : rl.rlim_max;
    if (rl.rlim_cur == want)
        return;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}
