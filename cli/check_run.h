/*
 * check_run.h - what the files of `polyws check` scenario mode share (not installed):
 *
 *   check.c         options, finding and loading the scenarios, --shard, and
 *                   pws_cmd_check, which runs them and writes the results;
 *   check_run.c     running the scenarios on --jobs worker threads: for each,
 *                   the mock, the client with its environment, the completion
 *                   watcher and the judge;
 *   check_output.c  the lines printed as scenarios finish (and the status line
 *                   on a terminal), the totals, the JUnit file and --report.
 *
 * check.c calls down into check_run.c and check_output.c; check_run.c calls
 * check_output.c to print what finished; check_output.c calls neither.
 *
 * Threading: one chk_run per command; the workers share it under its mutexes
 * (see the fields), everything else runs on the main thread before or after.
 */
#ifndef POLYWS_CLI_CHECK_RUN_H
#define POLYWS_CLI_CHECK_RUN_H

#include "check_common.h"
#include "check_report.h"

#include <polyws/judge.h>
#include <polyws/scenario.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CHECK_MAX_JOBS 16            /* --jobs cap */

/* One scenario of the run. */
typedef struct chk_job {
    char *path;              /* scenario file as given or found */
    pwss_scenario *sc;       /* loaded scenario, NULL if it failed to load */
    char *name;              /* scenario name (file base name without .yaml if it failed to load) */
    char *journal_file;      /* --journal DIR/<name>.jsonl, or NULL */
    bool started;            /* taken by a worker */
    bool done;               /* finished and judged */
    bool printed;            /* its line was printed */
    bool pass;               /* every verdict passed */
    bool not_run;            /* interrupted (SIGINT, or the reader of stdout went away) before it ran */
    double seconds;          /* wall time of the run */
    char *first;             /* first failure (one line), or NULL */
    char *details;           /* failure details, lines separated by '\n', or NULL */
    char *verdicts;          /* passing verdicts, one per line (for --verbose), or NULL */
    char *client_line;       /* how the client ended, one line, or NULL */
    char *out_tail;          /* scrubbed tail of the client's stdout (JUnit), or NULL */
    char *err_tail;          /* scrubbed tail of the client's stderr (JUnit), or NULL */
    chk_report_verdict *rv;  /* every verdict (messages owned here), for the report and JUnit's skips */
    size_t nrv;              /* entries in rv */
    char *diagram;           /* --report: the journal as an SVG sequence diagram, or NULL */
} chk_job;

/* The whole run. */
typedef struct chk_run {
    const char *client_cmd;  /* --client, or NULL for our own watch */
    const char *junit;       /* --junit FILE */
    const char *journal_dir; /* --journal DIR */
    double timeout_s;        /* --timeout, 0 = per scenario */
    int jobs;                /* --jobs */
    bool verbose;            /* --verbose */
    bool live;               /* --live: the client writes to our terminal, nothing captured */
    pwsj_output output;      /* --client-output */
    const char *report;      /* --report FILE.html */
    unsigned shard, nshards; /* --shard I/N (1-based), 0/0 = all */
    bool progress;           /* stdout is a terminal: a running status line */
    size_t running;          /* scenarios being run (for the status line) */
    size_t npass, nfail;     /* finished so far (for the status line) */
    char self[PATH_MAX];     /* this executable, for the default client */
    char tmpdir[PATH_MAX];   /* client output files live here during the run */
    chk_job *job;            /* the scenarios, in order */
    size_t njob;             /* entries in job */
    pthread_mutex_t mu;      /* guards next, job[].done/printed and stdout */
    size_t next;             /* next job to start */
    size_t next_print;       /* next job to print */
    int out_errno;           /* errno of a failed write to stdout (under mu), 0 if none: the run
                                stops as if interrupted (EPIPE: its reader went away) */
    pthread_mutex_t mock_mu; /* serializes pwsm_start/pwsm_stop (lws context setup is not thread-safe) */
} chk_run;

/* ---- check_run.c */

/* Marks j failed with a formatted first failure (replacing any). */
void chk_job_fail(chk_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees everything j owns (every pointer field: add a new one here) and zeroes it. */
void chk_job_clear(chk_job *j);
/* Runs every job of run on min(run->jobs, run->njob) threads (this one included), printing each
 * as it finishes, in order; returns when all are done.  run->mu and run->mock_mu must be
 * initialized. */
void chk_run_all(chk_run *run);
/* Runs run->job[idx] alone on this thread (mock, client, judge), printing nothing; other threads
 * may run other indexes at once.  For `polyws explore`, which drives its own threads. */
void chk_run_job(chk_run *run, size_t idx);

/* ---- check_output.c */

/* The status line on a terminal (run->progress): clears it / redraws it. */
void chk_progress_clear(const chk_run *run);
void chk_progress_show(const chk_run *run);
/* Prints the finished jobs that are next in order, then the status line; called with run->mu held. */
void chk_print_ready(chk_run *run);
/* Prints the totals ("N passed, M failed", after "interrupted" if so); returns how many failed. */
size_t chk_print_totals(const chk_run *run);
/* A string written into JUnit XML: as an attribute value / as character data (markup escaped,
 * invalid UTF-8 and control characters as '?').  Also for `polyws explore --junit`. */
void chk_xml_attr(FILE *f, const char *s);
void chk_xml_text(FILE *f, const char *s);
/* Writes --junit (through FILE.tmp and rename(2)); 0, or -1 with a message on stderr. */
int chk_write_junit(const chk_run *run, double total_s, size_t failed);
/* Writes --report; 0, or -1 with a message on stderr. */
int chk_write_report(const chk_run *run, double total_s);

#endif
