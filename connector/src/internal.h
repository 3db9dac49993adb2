/*
 * internal.h - declarations shared inside libpolyws (not installed).  What
 * the connector shares with the mock and the tapes (buffers, codecs, JSON
 * strings, the clock, WebSocket framing, the raw-socket link) is wire's:
 * the headers in wire/include/wire, included here for the files that need it.
 */
#ifndef POLYWS_INTERNAL_H
#define POLYWS_INTERNAL_H

#include <polyws/polyws.h>

#include "wire/buf.h"
#include "wire/clock.h"
#include "wire/codec.h"
#include "wire/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PWS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PWS__PRINTF(f, a)
#endif

/* A log destination with a level filter and an optional secret to scrub. */
typedef struct pws__logger {
    pws_log_fn fn;          /* sink; NULL means stderr */
    void *user;             /* passed to fn */
    pws_log_level level;    /* most verbose level emitted */
    const char *secret;     /* scrubbed from every message if set (>= 4 bytes) */
} pws__logger;

/* Formats and emits one message if level passes the filter.  The formatted
 * text is scrubbed of lg->secret before it reaches the sink.  Messages longer
 * than 1 KiB are cut and end in "...". */
void pws__log(const pws__logger *lg, pws_log_level level, const char *fmt, ...) PWS__PRINTF(3, 4);

/* Masks the API key in a NUL-terminated text the server sent (a status
 * message, a close reason, an error excerpt), in place: every whole
 * occurrence, a prefix of 8+ bytes of it ending the text and a suffix of 8+
 * bytes starting it (what a cut leaves) become "***".  The text never grows.
 * A key shorter than 4 bytes is not looked for.  Returns the new length. */
size_t pws__mask_echoed_key(char *text, const char *key);

/* snprintf that always NUL-terminates and never fails on a NULL buffer. */
void pws__strlcpy(char *dst, const char *src, size_t cap);

#endif
