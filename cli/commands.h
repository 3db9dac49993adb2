/*
 * commands.h - the polyws subcommands.  Each takes argc/argv starting at the
 * subcommand name and returns the process exit code: 0 success, 1 failure
 * of the job itself, 2 usage error.
 */
#ifndef POLYWS_CLI_COMMANDS_H
#define POLYWS_CLI_COMMANDS_H

#include <polyws/polyws.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

int pws_cmd_watch(int argc, char **argv);
int pws_cmd_mock(int argc, char **argv);
int pws_cmd_check(int argc, char **argv);
int pws_cmd_record(int argc, char **argv);
int pws_cmd_replay(int argc, char **argv);
int pws_cmd_tape(int argc, char **argv);
int pws_cmd_explore(int argc, char **argv);

/* Reads s as a plain decimal integer in [min, max] (no sign, no spaces, no
 * suffix) into *out; 0, or -1 and *out untouched. */
int pws_cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* --count on the delivery thread: counts a market-data event (under mu) and
 * stops c when the count is reached.  False if the event comes after the
 * count and must not be shown; true for every other event. */
bool pws_cli_count(const pws_event *ev, pthread_mutex_t *mu, uint64_t count, uint64_t *seen, pws_connector *c);

/* ---- habits every command shares (cliutil.c), modelled on git and curl */

/* getopt_long code of --version (outside any short option's range), and its entry. */
#define PWS_CLI_OPT_VERSION 1004
#define PWS_CLI_VERSION_LONGOPT {"version", no_argument, NULL, PWS_CLI_OPT_VERSION}

/* --version: prints "polyws VERSION" on stdout (the library's, pws_version()); returns the exit
 * status, 0 (or what pws_cli_stdout_done says if stdout cannot be written). */
int pws_cli_version(void);

/* Writes n bytes of s and a newline to f.  0, or the errno of the failed write. */
int pws_cli_put_line(FILE *f, const char *s, size_t n);

/* The end of a command's standard output: flushes it and returns the exit status its writes
 * decide.  0 if everything went out, and 0 too if the reader went away (EPIPE: `polyws watch |
 * head -n 1`; SIGPIPE is ignored because of the sockets); 1 after "polyws CMD: cannot write to
 * standard output: REASON" on stderr for any other failure (ENOSPC, EIO...).  seen_errno is
 * the errno of an earlier failed write (pws_cli_put_line), 0 if none; cmd NULL: "polyws: ...". */
int pws_cli_stdout_done(const char *cmd, int seen_errno);

/* Reconnects before the first connection opens, at most (the --max-retries default of watch and
 * record): with the connector's default backoff, 0.5 + 1 + 2 + 4 + 8 s, about 15 s. */
#define PWS_CLI_DEFAULT_MAX_RETRIES 5u
#define PWS_CLI_MAX_RETRIES 1000000u /* --max-retries N: N at most */

/* --max-retries N of watch and record into *out: 0, or 2 (the usage exit status) after
 * "polyws CMD: --max-retries needs 0..MAX, not 'ARG'" on stderr. */
int pws_cli_max_retries(const char *cmd, const char *arg, uint32_t *out);

/* A file written whole or not at all: pws_cli_atomic_open opens PATH.tmp (its name in tmp, cap
 * bytes) with fopen mode; pws_cli_atomic_commit closes f and renames PATH.tmp to path, or
 * removes PATH.tmp when anything failed (bad: a write the caller saw fail).  Each returns NULL
 * or -1 after "polyws CMD: cannot write ...: REASON" (or "path too long") on stderr. */
FILE *pws_cli_atomic_open(const char *cmd, const char *path, const char *mode, char *tmp, size_t cap);
int pws_cli_atomic_commit(const char *cmd, FILE *f, const char *tmp, const char *path, bool bad);

/* URL without its query (where a key may sit) into out, for an error line. */
void pws_cli_url_shown(const char *url, char *out, size_t cap);

/* ---- the servers' handshake options and counters (handshakes.c): mock, record and replay */

#define PWS_CLI_HS_REPORT_MS 10000 /* at most one "handshakes:" line this often while running */
#define PWS_CLI_FDS 16384u         /* the servers' descriptor limit: enough for any of their options */

/* getopt_long codes of the three options (outside any short option's range). */
#define PWS_CLI_OPT_HS_TIMEOUT 1001
#define PWS_CLI_OPT_MAX_PENDING 1002
#define PWS_CLI_OPT_MAX_PER_ADDRESS 1003
/* Their struct option entries, for a longopts table. */
#define PWS_CLI_HS_LONGOPTS                                                     \
    {"handshake-timeout", required_argument, NULL, PWS_CLI_OPT_HS_TIMEOUT},     \
        {"max-pending", required_argument, NULL, PWS_CLI_OPT_MAX_PENDING},      \
        {"max-per-address", required_argument, NULL, PWS_CLI_OPT_MAX_PER_ADDRESS}

/* What the three options asked for (0: the library's default). */
typedef struct pws_cli_hs_opts {
    uint32_t timeout_ms;      /* --handshake-timeout */
    uint32_t max_pending;     /* --max-pending */
    uint32_t max_per_address; /* --max-per-address (0: no cap) */
} pws_cli_hs_opts;

/* The lines --help shows for them, the same in the three commands. */
extern const char pws_cli_hs_help[];

/* If ch is one of the three options, reads arg into o: 0, or 2 after printing
 * "polyws CMD: --OPTION needs ..., not 'ARG'" on stderr.  -1: ch is not one of them. */
int pws_cli_hs_option(const char *cmd, int ch, const char *arg, pws_cli_hs_opts *o);

/* The counters the libraries report (pwsm_handshake_stats, pwsr_handshake_stats). */
typedef struct pws_cli_hs_counts {
    uint64_t accepted, upgraded;   /* connections accepted; of those, upgraded in time */
    uint64_t timed_out, evicted;   /* closed for want of a complete upgrade; closed to make room */
    uint64_t refused_full;         /* refused: pending slots full, none old enough to evict */
    uint64_t refused_address;      /* refused: --max-per-address */
    uint32_t pending, pending_peak; /* pending now; the most at once */
} pws_cli_hs_counts;
/* The counters of a library's struct, whose fields have the same names. */
#define PWS_CLI_HS_COUNTS(st)                                                                         \
    ((pws_cli_hs_counts){.accepted = (st).accepted, .upgraded = (st).upgraded,                       \
                         .timed_out = (st).timed_out, .evicted = (st).evicted,                       \
                         .refused_full = (st).refused_full, .refused_address = (st).refused_address, \
                         .pending = (st).pending, .pending_peak = (st).pending_peak})

/* What a command last printed. Zero-initialize. */
typedef struct pws_cli_hs_report {
    pws_cli_hs_counts shown; /* the counters of the last line */
    int64_t shown_ms;        /* when it was printed (monotonic), 0: never */
} pws_cli_hs_report;

/* Prints "polyws CMD: handshakes: ..." on stderr (after prefix, e.g. a terminal's line
 * clear) while running: when a connection was timed out, evicted or refused since the last
 * line and PWS_CLI_HS_REPORT_MS passed; final: once more if any of those is not zero. */
void pws_cli_hs_report_line(pws_cli_hs_report *r, const char *cmd, const char *prefix, const pws_cli_hs_counts *now,
                            bool final);

/* Sets the soft limit on open descriptors to PWS_CLI_FDS (or the hard limit if lower), so
 * that a server's connections are not cut at the usual 1,024, and a far higher limit (1048576
 * is common) does not make lws scan a table that large on every accept and close (see
 * wire/server.h).  The defaults fit with room to spare (the mock's 4096 connections and 1024
 * pending ones; the proxy's 2 x 4096 at most); beyond it the handshake guard keeps
 * descriptors free by closing pending connections.  Quietly keeps the limit it cannot set. */
void pws_cli_set_fd_limit(void);

/* Reads a duration: 250ms, 2s, 1.5s, 1m or plain milliseconds, within [min_ms, max_ms], into
 * *out_ms; 0, or -1 and *out_ms untouched. */
int pws_cli_duration_ms(const char *s, uint32_t min_ms, uint32_t max_ms, uint32_t *out_ms);

#endif
