/*
 * judge_internal.h - what the files of the judge share (internal to libpwsmock).
 *
 * The judge (polyws/judge.h) is layered; each file calls only the ones
 * below it:
 *
 *   judge.c          the driver: pwsj_judge, the scenario-level verdicts,
 *                    which failure came first, the report's details and
 *                    pwsj_last_frames;
 *   judge_conn.c     the connection and behaviour assertions (auth_within,
 *                    resubscribed, reconnect_delay, ...), read from the
 *                    per-connection summary;
 *   judge_output.c   the client's exit and output assertions and the events
 *                    verdict (judge_events.c compares the events);
 *   judge_summary.c  one pass over the journal: a summary per connection;
 *   judge_verdict.c  the verdict list: adding verdicts, their rank and time,
 *                    the "name: ... (file:line:col)" frame of a message;
 *   judge_text.c     the growable string the messages are built in, and
 *                    excerpts of frames and output made safe to quote.
 *
 * No global state; everything here works on one judge (one pwsj_judge call).
 */
#ifndef POLYWS_MOCK_JUDGE_INTERNAL_H
#define POLYWS_MOCK_JUDGE_INTERNAL_H

#include <polyws/judge.h>

#include "judge_events.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- judge_text.c */

/* A growable string.  Zero-initialize; an allocation failure marks it and later appends do
 * nothing. */
typedef struct sbuf {
    char *p;    /* NUL-terminated text, or NULL while empty */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed: the text is incomplete */
} sbuf;

/* Appends n bytes of s. */
void pwsj__sb_put(sbuf *b, const char *s, size_t n);
/* Appends a C string. */
void pwsj__sb_str(sbuf *b, const char *s);
/* Appends formatted text. */
void pwsj__sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the text out of b (an empty string if nothing was written); NULL on OOM. */
char *pwsj__sb_take(sbuf *b);
/* Appends an excerpt of s (n bytes): secrets (NULL-terminated, may be NULL) scrubbed, cut to max
 * bytes, control and invalid bytes escaped (valid UTF-8 kept), so it stays on one line and is
 * valid UTF-8. */
void pwsj__sb_excerpt(sbuf *b, const char *s, size_t n, size_t max, const char *const *secrets);
/* Appends "signal 15 (SIGTERM)". */
void pwsj__sb_signal(sbuf *b, int sig);

/* True if the entry is of this kind ("open", "text", ...). */
static inline bool pwsj__is_kind(const pwsm_entry *e, const char *kind)
{
    return e->kind && strcmp(e->kind, kind) == 0;
}

/* Microseconds as whole milliseconds, rounded. */
static inline long pwsj__ms_of(int64_t us)
{
    return (long)((us + 500) / 1000);
}

/* ---------------------------------------------------------------- judge_summary.c */

typedef struct chanset {
    char **v;   /* channels (malloc'd), unsorted, distinct */
    size_t n;   /* entries */
    size_t cap; /* allocated */
} chanset;

typedef struct conn_info {
    bool opened;              /* an "open" entry was seen */
    int64_t open_us;          /* its time */
    bool ended;               /* a "closed" or "drop" entry was seen */
    int64_t end_us;           /* its time */
    bool end_clean;           /* "closed" (after close frames) rather than "drop" */
    bool auth_sent;           /* the client sent an auth action */
    int64_t auth_us;          /* the first one's time */
    bool authed;              /* the server sent auth_success */
    int64_t authed_us;        /* its time */
    bool early_sub;           /* a subscribe arrived before auth_success */
    int64_t early_sub_us;     /* the first such one's time */
    size_t early_sub_idx;     /* its journal index */
    size_t subscribes;        /* subscribe actions after auth_success */
    chanset subs;             /* channels of those, in a set */
    size_t client_closes;     /* close frames from the client */
    int client_close_code;    /* the first one's code */
    bool server_close_first;  /* the server had sent a close before the client's first */
    bool server_closed;       /* the server sent a close frame */
} conn_info;

typedef struct summary {
    conn_info *c;             /* indexed by ordinal; c[0] unused */
    uint32_t nconn;           /* highest ordinal seen */
    uint32_t opened;          /* connections with an "open" entry */
    int64_t last_us;          /* time of the last entry (the end of the run as far as we know) */
    bool truncated;           /* the journal hit its memory cap */
} summary;

/* One pass over the journal (n entries) into *s (free with pwsj__summary_free).  0, or -1 on OOM
 * (then *s is empty). */
int pwsj__summarize(const pwsm_entry *j, size_t n, summary *s);
void pwsj__summary_free(summary *s);
/* True if the set holds the channel. */
bool pwsj__chanset_has(const chanset *s, const char *ch);

/* ---------------------------------------------------------------- judge_verdict.c */

/* One run being judged. */
typedef struct judge {
    const pwss_scenario *sc;
    const pwsm_entry *j;
    size_t n;
    const pwsj_client *cl;
    const char *const *secrets;
    summary s;
    pwsj_report *r;
    size_t cap;       /* allocated verdicts */
    bool oom;
    bool have_events; /* sent and printed were read */
    pwsj__events sent;    /* market-data events the server sent */
    pwsj__events printed; /* market-data events the client printed */
} judge;

/* Adds a verdict (rank 1, no time); the message is the text of b (taken). */
void pwsj__add_verdict(judge *g, int assertion, bool pass, uint32_t conn, sbuf *b);
/* The verdict just added is a behaviour seen at t_us (rank 0): it may be the headline. */
void pwsj__at_time(judge *g, int64_t t_us);
/* The verdict just added is about how the run ended (rank 2): it comes after every behaviour. */
void pwsj__run_end(judge *g);
/* Starts a message for assertion a: "name: ". */
void pwsj__begin(sbuf *b, const pwss_assertion *a);
/* Ends it with " (file:line:col)". */
void pwsj__where(judge *g, sbuf *b, const pwss_assertion *a);

/* ---------------------------------------------------------------- judge_conn.c */

/* Each adds the verdict on assertion a (sc->assertions[idx]) from g->s and the journal. */
void pwsj__judge_auth_within(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_no_sub_before_auth(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_resubscribed(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_reconnect_delay(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_max_connects(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_min_connects(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_no_reconnect(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_client_closed_with(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_fails_connection(judge *g, int idx, const pwss_assertion *a);

/* ---------------------------------------------------------------- judge_output.c */

/* Each adds the verdict on assertion a (sc->assertions[idx]) from how the client ended and what
 * it printed; the output ones are reported as skipped under PWSJ_OUTPUT_NONE. */
void pwsj__judge_client_exit(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_output_equals(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_output_matches(judge *g, int idx, const pwss_assertion *a);
void pwsj__judge_printed(judge *g, int idx, const pwss_assertion *a); /* printed and not_printed */
/* Reads the events sent and printed into g once, when something needs them.  False if the
 * output is not judged (or on OOM, which sets g->oom). */
bool pwsj__load_events(judge *g);
/* Scenario level, in events mode: what the client printed agrees with what the server sent. */
void pwsj__judge_events(judge *g);

#endif
