/*
 * progress.h - the progress meter of the long commands (record, replay and the
 * tape tools): one line on stderr, redrawn in place with '\r' at most every
 * PWS_CLI_METER_MS (like curl's meter), ended with a newline.  Off unless
 * stderr is a terminal, with -q, and when the command's own output goes to the
 * same terminal.
 *
 * The line holds counts, sizes, rates and times only (never a path, a URL or
 * a payload), so no key can appear in it.  A meter is used from one thread;
 * pws_cli_meter_erase may be called from any (it reads only `on`).
 */
#ifndef POLYWS_CLI_PROGRESS_H
#define POLYWS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PWS_CLI_METER_MS 250      /* at most 4 redraws a second */
#define PWS_CLI_METER_LINE 256    /* bytes of one line (cut to the terminal's width) */
#define PWS_CLI_METER_NOTE 64     /* bytes of the caller's note ("2 clients") */
#define PWS_CLI_METER_COLUMNS 80  /* the width when the terminal does not say */

typedef struct pws_cli_meter {
    bool on;                 /* drawing at all (fixed at start) */
    bool shown;              /* a line of this meter is on the screen, not yet ended */
    const char *label;       /* what is going on: "recording", "from-har: reading" (static) */
    const char *unit;        /* what the items are: "frames", "lines", "messages" (static) */
    uint64_t items;          /* items so far in this phase */
    uint64_t items_total;    /* items the phase will have, 0: unknown */
    uint64_t bytes;          /* bytes so far in this phase */
    uint64_t bytes_total;    /* bytes the phase will have, 0: unknown */
    char note[PWS_CLI_METER_NOTE]; /* shown last, "" for none (counts only) */
    int64_t start_us;        /* when the meter started (monotonic), for the elapsed time */
    int64_t phase_us;        /* when the phase started, for its rates and the ETA */
    int64_t phase_end_us;    /* when it ended (pws_cli_meter_phase_done), 0: still going */
    int64_t drawn_us;        /* the last redraw, 0: none yet */
    unsigned columns;        /* the terminal's width at start */
    bool no_bytes;           /* the items have no size (explore's runs): no byte figures; set after start */
} pws_cli_meter;

/* True if a meter should draw: stderr is a terminal and not quiet, and the command's data
 * does not go to that terminal too (data_fd: the descriptor it writes its output to, or -1). */
bool pws_cli_meter_wanted(bool quiet, int data_fd);

/* Starts a meter (drawing only if on) with its first phase. */
void pws_cli_meter_start(pws_cli_meter *m, bool on, const char *label, const char *unit);

/* A new phase: ends the current line (if one was drawn) as pws_cli_meter_end(m, true) does,
 * then counts from zero with this label, unit and totals (0: unknown). */
void pws_cli_meter_phase(pws_cli_meter *m, const char *label, const char *unit, uint64_t items_total,
                         uint64_t bytes_total);

/* The counts so far; redraws if PWS_CLI_METER_MS passed since the last redraw.  Reads the
 * clock once: callers call it from a timed loop or every so many items, not per item. */
void pws_cli_meter_update(pws_cli_meter *m, uint64_t items, uint64_t bytes);

/* The phase's final counts: its rates stop at this moment (the command may still write its
 * output before pws_cli_meter_end).  Does not draw. */
void pws_cli_meter_phase_done(pws_cli_meter *m, uint64_t items, uint64_t bytes);

/* The end: keep draws the final counts and ends the line with '\n'; else the line is erased
 * (before an error message).  Nothing if the meter is off. */
void pws_cli_meter_end(pws_cli_meter *m, bool keep);

/* What to print before a log line so that it does not land in the middle of the meter's
 * line: "\r\033[K" if the meter is on, else "".  The next update draws the line again. */
const char *pws_cli_meter_erase(const pws_cli_meter *m);

/* Human units (SI, like the rest of polyws): "850 B", "12.3 kB", "4.5 MB", "1.20 GB". */
void pws_cli_human_bytes(uint64_t bytes, char *buf, unsigned cap);
/* A duration: "12.3s", "4m05s", "2h10m". */
void pws_cli_human_seconds(double s, char *buf, unsigned cap);

#endif
