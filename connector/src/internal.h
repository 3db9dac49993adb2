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
#include "wire/secrets.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PWS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PWS__PRINTF(f, a)
#endif

/* A log destination with a level filter and the secrets to scrub. */
typedef struct pws__logger {
    pws_log_fn fn;                /* sink; NULL means stderr */
    void *user;                   /* passed to fn */
    pws_log_level level;          /* most verbose level emitted; PWS_LOG_DEFAULT (0): none */
    const pws__secrets *secrets;  /* scrubbed from every message (the API key); NULL: none */
} pws__logger;

/* Formats and emits one message if level passes the filter.  The formatted
 * text is scrubbed of lg->secrets (wire/secrets.h: every encoding, pieces of
 * 8 bytes or more) before it reaches the sink.  Messages longer than 1 KiB
 * are cut and end in "...". */
void pws__log(const pws__logger *lg, pws_log_level level, const char *fmt, ...) PWS__PRINTF(3, 4);

/* Names the logger that receives libwebsockets' lines logged on the calling
 * thread (a connector's network thread), and widens lws' process-wide level to
 * what lg asks for, unless the application called pws_set_lws_log().  NULL
 * when the thread is done with lws.  See log.c. */
void pws__log_lws_thread(const pws__logger *lg);

/* snprintf that always NUL-terminates and never fails on a NULL buffer. */
void pws__strlcpy(char *dst, const char *src, size_t cap);

#endif
