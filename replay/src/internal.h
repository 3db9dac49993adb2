/*
 * internal.h - helpers shared inside libpwsreplay (not installed).
 * Internal names start with pwsr__.
 */
#ifndef PWSR_INTERNAL_H
#define PWSR_INTERNAL_H

#include <polyws/polyws.h>
#include <polyws/tape.h>

#include "wire/buf.h"   /* pws__grow, pws__append: the tape buffers grow through them */
#include "wire/clock.h" /* pws__mono_us, pws__wall_us, pws__deadline_after_ms */
#include "wire/codec.h" /* pws__hexval, pws__base64_*, pws__utf8_valid */
#include "wire/json.h"  /* pws__json_quote */
#include "wire/secrets.h" /* pws__secrets: the one redactor of literal secrets */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PWSR__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PWSR__PRINTF(f, a)
#endif

/* ---- growable buffers (pws_tape_buf), capped at PWS_TAPE_MAX_LINE */

/* Makes room for n more bytes; 0, or -1 (PWS_ERR_NOMEM / LIMIT in *why). */
int pwsr__buf_reserve(pws_tape_buf *b, size_t n);
/* Appends n bytes and keeps a NUL after them; 0 or -1. */
int pwsr__buf_put(pws_tape_buf *b, const void *s, size_t n);
int pwsr__buf_str(pws_tape_buf *b, const char *s);
int pwsr__buf_printf(pws_tape_buf *b, const char *fmt, ...) PWSR__PRINTF(2, 3);
/* Appends s[0..n) as a JSON string literal with quotes (the journal's escaping). */
int pwsr__buf_json_string(pws_tape_buf *b, const void *s, size_t n);
/* Appends standard base64 (with padding) with quotes. */
int pwsr__buf_base64(pws_tape_buf *b, const void *s, size_t n, bool quoted);

/* ---- codecs (hex digits, base64, UTF-8 and JSON strings are wire's) */

/* Case-insensitive ASCII comparison of two NUL-terminated strings. */
bool pwsr__ieq(const char *a, const char *b);

/* "2024-01-02T14:30:00.000000Z" for a Unix-microseconds time. */
void pwsr__iso_time(int64_t us, char *buf, size_t cap);

/* Appends s[0..n) to b with every trace of the set's secrets replaced by the
 * placeholder (wire/secrets.h: raw, pieces, escaped, percent, base64); sets
 * *changed (may be NULL) if one was.  0, or -1 without memory. */
int pwsr__scrub(pws_tape_buf *b, const char *s, size_t n, const pws__secrets *set, bool *changed);

/* A copy of url (malloc'd, NUL-terminated) with the value of every query
 * parameter named like a secret (apiKey, api_key, apikey, key, token,
 * access_token, or one of extra[0..nextra)) replaced by the placeholder.
 * NULL without memory. */
char *pwsr__redact_query(const char *url, const char *const *extra, size_t nextra);

/* ---- literal secrets (secrets.c): given, and learned from auth messages */

typedef struct pwsr__secrets {
    pws__secrets set;  /* the keys kept (the newest PWS__SECRETS_MAX), spelled every way they are looked for */
    uint32_t learned;  /* distinct keys ever added, also those dropped since */
} pwsr__secrets;

/* Adds key (at least 4 bytes) unless it is known; true if it was new.  Not
 * thread-safe: each owner uses its set from its own service thread. */
bool pwsr__secrets_add(pwsr__secrets *s, const char *key);
/* Wipes and frees the keys. */
void pwsr__secrets_free(pwsr__secrets *s);

/* pws_redact_message with the literal secrets taken from set (r->secrets
 * ignored): the proxy and the replayer keep theirs compiled. */
char *pwsr__redact(const pws_redact_rules *r, const pws__secrets *set, const char *msg, size_t len, size_t *outlen,
                   bool *changed);

/* ---- HAR import (har_import.c) */

/* pws_tape_from_har_opts with the frame sort's memory budget in bytes (0: the default,
 * PWSR__FRAME_SORT_MEMORY); a small one makes the sort use its temporary file, for tests. */
int pwsr__tape_from_har(const char *har_path, const char *tape_path, size_t sort_budget,
                        const pws_tape_tool_options *o, char *errbuf, size_t errcap);

/* ---- progress of the tools (progress.c) */

typedef struct pwsr__progress {
    pws_tape_progress_fn fn;  /* the caller's callback, NULL: none */
    void *user;               /* passed to fn */
    pws_tape_progress p;      /* the counts the tool keeps up to date */
    uint64_t next_items;      /* call fn once p.items reaches this ... */
    uint64_t next_bytes;      /* ... or p.bytes this */
} pwsr__progress;

/* Starts a phase (o may be NULL: no calls). */
void pwsr__progress_start(pwsr__progress *pr, const pws_tape_tool_options *o, const char *phase,
                          uint64_t items_total, uint64_t bytes_total);
/* Calls the callback now (done: the phase's totals). */
void pwsr__progress_call(pwsr__progress *pr, bool done);
/* After the tool moved p.items or p.bytes: calls the callback if one step passed; a compare
 * and a branch otherwise. */
static inline void pwsr__progress_step(pwsr__progress *pr)
{
    if (pr->fn && (pr->p.items >= pr->next_items || pr->p.bytes >= pr->next_bytes))
        pwsr__progress_call(pr, false);
}

/* Reading a tape with r: one more line read. */
static inline void pwsr__progress_line(pwsr__progress *pr, const pws_tape_reader *r)
{
    if (pr->fn) {
        pr->p.items++;
        pr->p.bytes = pws_tape_reader_bytes(r);
        pwsr__progress_step(pr);
    }
}
/* Reading a tape with r: the reading phase is over (pws_tape_next returned 0). */
void pwsr__progress_read_done(pwsr__progress *pr, const pws_tape_reader *r);

/* ---- logging used by the proxy and the replayer */

typedef struct pwsr__logger {
    pws_log_fn fn;            /* sink; NULL means stderr */
    void *user;               /* passed to fn */
    pws_log_level level;      /* most verbose level emitted */
    const pws__secrets *secrets; /* scrubbed from every line (the owner's keys); NULL: none */
} pwsr__logger;

void pwsr__log(const pwsr__logger *lg, pws_log_level level, const char *fmt, ...) PWSR__PRINTF(3, 4);

#endif
