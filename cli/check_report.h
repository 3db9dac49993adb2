/*
 * check_report.h - the HTML report of `polyws check --report FILE.html` (not installed).
 *
 * One self-contained page: a summary (passed, failed, total time, date), a
 * table of contents (failed scenarios first), then one section per scenario
 * with its PASS/FAIL badge, description, first failure, verdicts, how the
 * client ended, its output tails in <details>, and a sequence diagram of what
 * went over the wire, drawn from the mock's journal as inline SVG.  No
 * scripts, no external fonts or images: the file reads the same offline, in
 * any browser, years later.
 *
 * The diagram is made while the journal exists (before pwsm_stop), the page
 * at the end of the run, from copies: nothing here points into the jobs of
 * check_run.h.
 *
 * Size: a diagram is bounded whatever the journal holds (runs of similar
 * frames become one arrow, rows per connection, connections and rows per
 * diagram are capped, see the CHK_REPORT_* limits), so a 100 000-event
 * stream costs a few KB and the worst journal about 400 KB per scenario.
 *
 * Threading: no global state; every function may be called from any thread.
 */
#ifndef POLYWS_CLI_CHECK_REPORT_H
#define POLYWS_CLI_CHECK_REPORT_H

#include <polyws/mock.h>

#include <stddef.h>

#define CHK_REPORT_COLLAPSE_MIN 3      /* a run of this many similar frames becomes one arrow ... */
#define CHK_REPORT_COLLAPSE_STATUS 6   /* ... this many if they are status frames or client actions */
#define CHK_REPORT_HEAD_ROWS 60        /* rows drawn at the start of a connection ... */
#define CHK_REPORT_TAIL_ROWS 30        /* ... and at its end; between them only "… N more" ... */
#define CHK_REPORT_KEPT_ROWS 20        /* ... and up to this many drops, faults and failed steps */
#define CHK_REPORT_FIRST_CONNS 20      /* connections drawn from the start of the journal ... */
#define CHK_REPORT_LAST_CONNS 5        /* ... and from its end; the others are one summary row */
#define CHK_REPORT_MAX_ROWS 1000       /* rows per diagram; later connections get a summary row */
#define CHK_REPORT_LABEL_CHARS 60      /* characters of payload in an arrow's label */
#define CHK_REPORT_TIP_CHARS 200       /* characters of payload in an arrow's tooltip */
#define CHK_REPORT_SCRUB_WINDOW (1u << 20) /* bytes of a payload scrubbed and looked at */
#define CHK_REPORT_PARSE_MAX (256u << 10)  /* payloads up to this size are parsed for a summary */
#define CHK_REPORT_MAX_DIAGRAMS (256u << 20) /* bytes of diagrams in one page; later ones are left out
                                                (with a note), failed scenarios' first */

/* One verdict line of a scenario. */
typedef struct chk_report_verdict {
    const char *message; /* one line, UTF-8, already scrubbed of secrets */
    int state;           /* 0 pass, 1 fail, 2 skipped */
} chk_report_verdict;

/* One scenario of the run.  Every string is UTF-8 (invalid bytes are shown as U+FFFD), already
 * scrubbed of secrets, and may be NULL unless said otherwise; the writer only reads them. */
typedef struct chk_report_case {
    const char *name;        /* scenario name (not NULL) */
    const char *path;        /* the scenario file */
    const char *description; /* the scenario's description */
    int pass;                /* nonzero if every verdict passed */
    double seconds;          /* wall time of the run */
    const char *headline;    /* the first failure */
    const chk_report_verdict *verdicts; /* every verdict, in the judge's order (may be NULL if none) */
    size_t nverdicts;        /* entries in verdicts */
    const char *details;     /* the judge's failure details (lines separated by '\n') */
    const char *client_line; /* "client: exited with 0 after 0.3 s" */
    const char *out_tail;    /* the tail of the client's stdout */
    const char *err_tail;    /* the tail of the client's stderr */
    char *diagram;           /* from chk_report_diagram(): owned by the case (the caller frees it) */
} chk_report_case;

/* The journal as an inline SVG sequence diagram (<svg class="seq" data-scenario="NAME"
 * data-connections="N">), a malloc'd string the caller frees; NULL if out of memory.
 * scenario: its name (for data-scenario).  journal/n: the mock's journal in order (pwsm_journal);
 * only read during the call.  secrets: NULL-terminated strings (NULL = none) replaced by "***"
 * in every payload before anything of it is cut or shown; secrets shorter than
 * CHECK_SECRET_MIN bytes are left alone, like everywhere in polyws check.
 *
 * Elements tests and readers can find: per connection <g class="conn" data-conn="K">; arrows
 * <g class="msg c2s"> / <g class="msg s2c"> (plus "run" for a collapsed run, with data-frames
 * and data-events; plus "raw" for a fault's raw bytes); connection events <g class="open">,
 * "closed", "drop", "fault", "step", "step_failed", "truncated"; rows left out <g class="more">. */
char *chk_report_diagram(const char *scenario, const pwsm_entry *journal, size_t n, const char *const *secrets);

/* Writes the report to path through path.tmp and rename(2), so a reader never sees half a file.
 * title: the page title (NULL = "polyws check").  cases: in the order they ran (the page shows
 * failed ones first, otherwise in this order).  total_s: wall time of the whole run.
 * Returns 0, or -1 with a one-line message in err (errcap bytes; err may be NULL). */
int chk_report_write(const char *path, const char *title, const chk_report_case *cases, size_t ncases,
                     double total_s, char *err, size_t errcap);

#endif
