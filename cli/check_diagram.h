/*
 * check_diagram.h - what the two files of the sequence diagram share (not installed):
 *
 *   check_diagram.c        draws the journal: a section per connection, runs of
 *                          similar frames as one arrow, the row and connection
 *                          budgets (chk_report_diagram, see check_report.h);
 *   check_diagram_entry.c  what one entry says: its category and event count,
 *                          its label and tooltip, and the secrets scrubbed from
 *                          every payload.
 *
 * Both work on one diagram at a time; no global state.
 */
#ifndef POLYWS_CLI_CHECK_DIAGRAM_H
#define POLYWS_CLI_CHECK_DIAGRAM_H

#include "check_html.h"

#include <polyws/mock.h>

#include "wire/secrets.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What a run of frames must share besides direction and kind. */
enum frame_cat { CAT_OTHER, CAT_STATUS, CAT_EVENTS, CAT_OBJECT, CAT_BINARY };

/* A diagram being drawn. */
typedef struct diagram {
    const pwsm_entry *j;   /* the journal */
    size_t nj;             /* its entries */
    pws__secrets set;      /* the secrets to scrub, every way they are spelled (wire/secrets.h) */
    rbuf body;         /* the connections drawn so far */
    rbuf rows;         /* the current connection's rows */
    int y;                 /* top of the next row */
    size_t nrows;          /* rows drawn in the whole diagram */
    bool oom;              /* an allocation failed */
} diagram;

/* True if the entry is of kind k. */
static inline bool chk_kind_is(const pwsm_entry *e, const char *k)
{
    return e->kind && !strcmp(e->kind, k);
}

/* A text or binary frame either way. */
static inline bool chk_is_data_frame(const pwsm_entry *e)
{
    return (e->dir == 'c' || e->dir == 's') && (chk_kind_is(e, "text") || chk_kind_is(e, "binary"));
}

/* Any frame either way (not a connection event). */
static inline bool chk_is_frame(const pwsm_entry *e)
{
    return e->dir == 'c' || e->dir == 's';
}

/* The secrets to scrub (each of PWS__SECRET_MIN bytes or more) into d->set: wire's one
 * redactor then finds them raw, JSON-escaped, percent-encoded, in base64, and any piece of 8
 * bytes or more.  0 or -1; free with chk_secrets_free either way. */
int chk_secrets_init(diagram *d, const char *const *secrets);
void chk_secrets_free(diagram *d);
/* n bytes of s, scrubbed (malloc'd, *outn bytes), NULL if out of memory. */
char *chk_scrub_copy(const diagram *d, const char *s, size_t n, size_t *outn);
/* What kind of text a frame carries (enum frame_cat), from its first bytes only. */
int chk_frame_cat(const pwsm_entry *e);
/* Elements of a text frame's top-level JSON array (0 if it is not one). */
uint64_t chk_count_events(const pwsm_entry *e);
/* The label (short) and tooltip (longer) of one frame, plain UTF-8, scrubbed. */
void chk_describe(diagram *d, const pwsm_entry *e, rbuf *label, rbuf *tip);

#endif
