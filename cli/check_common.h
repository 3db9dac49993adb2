/*
 * check_common.h - what the two modes of `polyws check` share (not installed):
 *
 *   check.c         scenario mode: YAML scenarios against the mock server, and
 *                   pws_cmd_check (which hands --tape over to check_tape.c);
 *                   check_run.c runs them on --jobs worker threads,
 *                   check_output.c prints them and writes JUnit and --report
 *                   (see check_run.h);
 *   check_tape.c    tape mode: a recorded session replayed to the client, its
 *                   output compared with a golden file;
 *   check_common.c  small helpers (formatting, growable text, scrubbing
 *                   secrets, shell quoting, file tails, a throwaway API key)
 *                   and the client runner.
 *
 * Everything here may be called from any thread: the only state is
 * chk_interrupted, which the signal handler sets and the runner reads.
 */
#ifndef POLYWS_CLI_CHECK_COMMON_H
#define POLYWS_CLI_CHECK_COMMON_H

#include <polyws/judge.h>

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHECK_MAX_TIMEOUT_S 86400.0  /* --timeout cap */
#define CHECK_SECRET_MIN 4           /* shorter scenario keys are not scrubbed (they would mangle text); = PWS__SECRET_MIN */
#define CHECK_MARKET_PATH "/stocks"  /* path appended to the mock's (or the replayer's) URL */

/* Set by SIGINT/SIGTERM: running clients are stopped, pending scenarios are not started. */
extern volatile sig_atomic_t chk_interrupted;

/* ---- check_common.c: small helpers */

#define CHK_TEXT_MAX (SIZE_MAX / 4) /* bytes a chk_text or rbuf may hold: as much as memory allows */

/* Growable text (grown by wire's pws__append); an allocation failure leaves it NULL-safe and
 * marks it. */
typedef struct chk_text {
    char *p;    /* NUL-terminated, or NULL while empty */
    size_t len; /* bytes */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed */
} chk_text;

/* Seconds on the monotonic clock. */
double chk_mono_s(void);
/* A malloc'd formatted string, NULL if out of memory. */
char *chk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *chk_vxasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Appends n bytes of s to t. */
void chk_text_put(chk_text *t, const char *s, size_t n);
/* Appends formatted text to t. */
void chk_text_printf(chk_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replaces every trace of each secret (NULL-terminated list, CHECK_SECRET_MIN bytes or more) in s by
 * "***": raw, JSON-escaped, percent-encoded, base64, any piece of 8 bytes (wire/secrets.h). */
void chk_scrub_inplace(char *s, const char *const *secrets);
/* s single-quoted for /bin/sh (malloc'd), NULL if out of memory. */
char *chk_shell_quote(const char *s);
/* Length of the valid UTF-8 sequence at s (n >= 1 bytes there): 1..4, 0 if invalid. */
size_t chk_utf8_len(const unsigned char *s, size_t n);
/* The scrubbed, terminal- and XML-safe tail of a file (malloc'd), NULL if empty or unreadable. */
char *chk_file_tail(const char *path, size_t max_bytes, int max_lines, const char *const *secrets);
/* A fresh random API key for one client run, "pwscheck-" and hex digits. */
void chk_random_key(char *buf, size_t cap);
/* Prints s with every line indented. */
void chk_print_indented(FILE *f, const char *s, int indent);

/* ---- check_common.c: the client */

/* How one client run ended. */
typedef struct chk_client_run {
    pwsj_client r;          /* for the judge */
    double seconds;         /* how long it ran */
    char start_error[256];  /* backing store for r.start_error */
} chk_client_run;

/* The client's environment: the inherited one without POLYWS_*, plus extra (malloc'd array
 * of borrowed strings), NULL if out of memory. */
char **chk_client_env(char *const *extra);
/* Runs cmd with /bin/sh -c in its own process group until it exits, the timeout passes,
 * chk_interrupted is set or stop_early(stop_arg) (may be NULL) says so; reaps it. */
void chk_run_client(const char *cmd, char **env, const char *out_path, const char *err_path,
                    uint32_t timeout_ms, chk_client_run *cr, bool (*stop_early)(void *), void *stop_arg);
/* Removes the client's output files (if any) and frees what running it took:
 * the paths, the command, the environment and its nv extra variables. */
void chk_client_cleanup(char *out_path, char *err_path, char *cmd, char **env, char **vars, size_t nv);

/* ---- check_tape.c */

/* Tape mode, `polyws check --tape T --golden F ...` (argv as pws_cmd_check got it; self is
 * this executable for the default client); returns the exit code. */
int chk_tape_mode(int argc, char **argv, const char *self);

#endif
