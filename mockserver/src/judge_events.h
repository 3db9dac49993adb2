/*
 * judge_events.h - the judge's view of market-data events (internal to libpwsmock).
 *
 * The client contract (docs/client-contract.md) asks a client to print each
 * market-data event it received as one JSON object per line, with Polygon's
 * field names, in any spacing.  This module reads both sides of that promise
 * into one comparable form:
 *
 *   - the events the server sent, from the journal (text frames, binary
 *     frames and the hand-made frames of RAW steps, reassembled);
 *   - the events the client printed, from its captured stdout;
 *
 * and compares them: nothing invented or altered, nothing lost of a printed
 * type on a connection the client kept reading, order kept per symbol.
 * Values compare by value (1.50 == 1.5; spacing and key order never matter).
 *
 * An event is held as its top-level fields, each key with a canonical text
 * of its value, sorted by key, so a comparison is a merge of two sorted lists.
 * Pure functions: no sockets, no clock; reads only the stdout file.
 */
#ifndef POLYWS_MOCK_JUDGE_EVENTS_H
#define POLYWS_MOCK_JUDGE_EVENTS_H

#include <polyws/mock.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWSJ__MAX_EVENTS 4000000u   /* events read per side; more are not compared (said in the verdict) */
#define PWSJ__MAX_LINE (4u << 20)   /* bytes of one printed line that are parsed; longer lines are ignored */

/** One event: its top-level fields as (key, canonical value) pairs sorted by key. */
typedef struct pwsj__event {
    char *buf;              /**< the keys and values, NUL-separated (owned) */
    const char **kv;        /**< 2 * npairs pointers into buf: key, value, key, value, ... (owned array) */
    uint32_t npairs;        /**< pairs in kv */
    const char *ev;         /**< the "ev" value (canonical: a leading '"' then the text) */
    const char *group;      /**< the symbol ("sym", else "T", else "pair"/"ticker") canonical value, or "" */
    int64_t t_us;           /**< sent: journal time of its frame; printed: 0 */
    uint32_t conn;          /**< sent: connection ordinal; printed: 0 */
    size_t line;            /**< printed: 1-based stdout line; sent: journal index */
    bool optional;          /**< sent: may be dropped by a correct client (breaks Polygon's schema, has
                                 duplicate keys, came in a binary or hand-made frame, or a bare object) */
    bool matched;           /**< paired with an event on the other side */
} pwsj__event;

/** A list of events. */
typedef struct pwsj__events {
    pwsj__event *v;         /**< the events, in order */
    size_t n;               /**< entries in v */
    size_t cap;             /**< allocated entries */
    size_t lines;           /**< printed: lines read; sent: frames looked at */
    bool capped;            /**< PWSJ__MAX_EVENTS was reached: the rest was not read */
} pwsj__events;

/** Reads the events the client printed (lines that are JSON objects with a string "ev" other than
 * "status" and "parse_error").  A missing or unreadable file gives an empty list.  0, or -1 on OOM. */
int pwsj__events_printed(const char *path, pwsj__events *out);
/** Reads the events the server sent, from the journal.  0, or -1 on OOM. */
int pwsj__events_sent(const pwsm_entry *j, size_t n, pwsj__events *out);
/** Frees a list (the struct itself is the caller's). */
void pwsj__events_free(pwsj__events *e);

/** Parses a JSON object pattern into a pseudo-event (for pwsj__event_has).  0, or -1 (not an object
 * or OOM). */
int pwsj__event_from_json(const char *json, size_t len, pwsj__event *out);
/** Frees one event's storage. */
void pwsj__event_free(pwsj__event *e);
/** True if every field of pattern is in e with an equal value. */
bool pwsj__event_has(const pwsj__event *e, const pwsj__event *pattern);

/** The outcome of comparing printed with sent. */
typedef struct pwsj__events_verdict {
    bool pass;              /**< nothing invented, altered, reordered or lost */
    char *message;          /**< one line (malloc'd): what went wrong first, or a summary when passed */
    int64_t t_us;           /**< when it went wrong on the server's clock, -1 if unknown */
    uint32_t conn;          /**< the connection concerned, 0 if none */
} pwsj__events_verdict;

/** Compares the lists (marks `matched` on both).  Fills *v; 0, or -1 on OOM. */
int pwsj__events_compare(pwsj__events *sent, pwsj__events *printed, pwsj__events_verdict *v);

#endif
