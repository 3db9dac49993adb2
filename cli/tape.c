/*
 * tape.c - `polyws tape`: look at and convert tapes.
 */
#include "commands.h"
#include "progress.h"

#include <polyws/polyws.h>
#include <polyws/tape.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void tape_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws tape stats TAPE [--json] [-q]\n"
            "       polyws tape to-scenario TAPE [-o FILE.yaml] [-q]\n"
            "       polyws tape to-har TAPE [-o FILE.har] [-q]\n"
            "       polyws tape from-har FILE.har -o TAPE [-q]\n"
            "\n"
            "  stats        counts by direction, kind and event type, durations and rates\n"
            "               (a cut last line is reported, not an error)\n"
            "  to-scenario  an editable YAML scenario that makes `polyws mock` play the same\n"
            "               session (see docs/scenarios.md)\n"
            "  to-har       a HAR 1.2 file with the frames in _webSocketMessages, as browser\n"
            "               DevTools write them (pings, pongs, closes and drops have no HAR form\n"
            "               and are left out; their count goes to stderr)\n"
            "  from-har     a tape from the WebSocket entries of a HAR file (auth keys and\n"
            "               Authorization/Cookie headers redacted)\n"
            "\n"
            "  -o, --output FILE  write there instead of stdout (from-har: required)\n"
            "      --json       stats as one JSON object\n"
            "  -q, --quiet      no progress line\n"
            "  -h, --help       this help\n"
            "      --version    print the version and exit\n"
            "\n"
            "TAPE may be a mock journal too.  Output goes to stdout unless -o is given; a\n"
            "reader of stdout that goes away (`polyws tape to-har T | head`) is not an error.\n"
            "A progress line (lines or HAR messages, bytes of the input with percent and ETA,\n"
            "rates, elapsed) is shown when stderr is a terminal, unless the output goes to\n"
            "that terminal too.\n"
            "\n"
            "Exit status:\n"
            "  0  success, or the reader of stdout went away\n"
            "  1  a failure: the input cannot be read or is not a tape (or HAR), the output\n"
            "     cannot be written\n"
            "  2  bad usage\n");
}

/* Opens -o FILE (or stdout); NULL with a message on failure. */
static FILE *open_out(const char *path)
{
    if (!path || !strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "polyws tape: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/* The errno of the write that failed on f, if one did: still errno right after the call that
 * wrote (closing the input does not change it), else EIO. */
static int write_errno(FILE *f)
{
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int close_out(FILE *f, const char *path, const char *cmd, int seen_errno)
{
    if (f == stdout)
        return pws_cli_stdout_done(cmd, seen_errno);
    if (fclose(f)) {
        fprintf(stderr, "polyws tape: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* The progress line of a subcommand: the library's progress calls drive the meter. */
typedef struct tape_meter {
    pws_cli_meter m;               /* the line */
    pws_tape_tool_options o;       /* progress -> on_progress */
    char reading[32], writing[32]; /* "SUB reading", "SUB writing" (the meter's labels) */
    bool har;                      /* from-har: the input's items are HAR messages */
} tape_meter;

/* Called by the library every PWS_TAPE_PROGRESS_ITEMS items (or bytes): counts only. */
static void on_progress(const pws_tape_progress *p, void *user)
{
    tape_meter *t = user;
    if (!strcmp(p->phase, "writing") && t->m.label != t->writing)
        pws_cli_meter_phase(&t->m, t->writing, "lines", p->items_total, 0);
    t->m.bytes_total = p->bytes_total;
    if (p->done)
        pws_cli_meter_phase_done(&t->m, p->items, p->bytes);
    else
        pws_cli_meter_update(&t->m, p->items, p->bytes);
}

/* Starts t's meter for subcommand sub; returns the options to pass to the library (NULL with
 * the meter off: no progress calls at all). */
static const pws_tape_tool_options *meter_start(tape_meter *t, const char *sub, bool on)
{
    memset(t, 0, sizeof *t);
    t->har = !strcmp(sub, "from-har");
    snprintf(t->reading, sizeof t->reading, "%.16s reading", sub);
    snprintf(t->writing, sizeof t->writing, "%.16s writing", sub);
    pws_cli_meter_start(&t->m, on, t->reading, t->har ? "messages" : "lines");
    t->o.progress = on_progress;
    t->o.progress_user = t;
    return on ? &t->o : NULL;
}

int pws_cmd_tape(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             PWS_CLI_VERSION_LONGOPT,
                                             {NULL, 0, NULL, 0}};
    if (argc < 2) {
        tape_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        tape_usage(stdout);
        return pws_cli_stdout_done("tape", 0);
    }
    if (!strcmp(sub, "--version"))
        return pws_cli_version();
    const char *out = NULL;
    bool json = false;
    bool quiet = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'j': json = true; break;
        case 'q': quiet = true; break;
        case 'h': tape_usage(stdout); return pws_cli_stdout_done("tape", 0);
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        default: tape_usage(stderr); return 2;
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (nargs != 1) {
        fprintf(stderr, "polyws tape %s: give exactly one input file; see polyws tape --help\n", sub);
        return 2;
    }
    if (json && strcmp(sub, "stats")) {
        fprintf(stderr, "polyws tape: --json is for stats\n");
        return 2;
    }
    char err[512];
    tape_meter tm;
    /* to-scenario and to-har may write to this terminal as they go; stats prints at the end */
    bool streams = !strcmp(sub, "to-scenario") || !strcmp(sub, "to-har");
    const pws_tape_tool_options *topts =
        meter_start(&tm, sub, pws_cli_meter_wanted(quiet, streams && (!out || !strcmp(out, "-")) ? STDOUT_FILENO : -1));
    if (!strcmp(sub, "stats")) {
        pws_tape_stats *s;
        if (pws_tape_stats_compute_opts(args[0], topts, &s, err, sizeof err)) {
            pws_cli_meter_end(&tm.m, false);
            fprintf(stderr, "polyws tape stats: %s\n", err);
            return 1;
        }
        pws_cli_meter_end(&tm.m, true);
        FILE *f = open_out(out);
        if (!f) {
            pws_tape_stats_free(s);
            return 1;
        }
        errno = 0;
        pws_tape_stats_print(s, json, f);
        int e = write_errno(f);
        pws_tape_stats_free(s);
        return close_out(f, out, "tape stats", e);
    }
    if (!strcmp(sub, "to-scenario") || !strcmp(sub, "to-har")) {
        FILE *f = open_out(out);
        if (!f)
            return 1;
        size_t skipped = 0;
        errno = 0;
        int rc = !strcmp(sub, "to-har") ? pws_tape_to_har_opts(args[0], f, topts, &skipped, err, sizeof err)
                                        : pws_tape_to_scenario_opts(args[0], f, topts, err, sizeof err);
        pws_cli_meter_end(&tm.m, rc == 0);
        int e = write_errno(f);
        /* stdout that failed (the reader gone, a full disk) is told by close_out, not as the
         * converter's "cannot write" */
        bool out_failed = f == stdout && e;
        int crc = close_out(f, out, !strcmp(sub, "to-har") ? "tape to-har" : "tape to-scenario", e);
        if (out_failed)
            return crc;
        if (rc) {
            fprintf(stderr, "polyws tape %s: %s\n", sub, err);
            if (out && strcmp(out, "-"))
                remove(out);
            return 1;
        }
        if (skipped)
            fprintf(stderr, "polyws tape to-har: %zu lines without a HAR form (pings, pongs, closes, events) left out\n",
                    skipped);
        return crc;
    }
    if (!strcmp(sub, "from-har")) {
        if (!out || !strcmp(out, "-")) {
            fprintf(stderr, "polyws tape from-har: give the tape to write with -o TAPE\n");
            return 2;
        }
        if (pws_tape_from_har_opts(args[0], out, topts, err, sizeof err)) {
            pws_cli_meter_end(&tm.m, false);
            fprintf(stderr, "polyws tape from-har: %s\n", err);
            return 1;
        }
        pws_cli_meter_end(&tm.m, true);
        return 0;
    }
    fprintf(stderr, "polyws tape: unknown subcommand '%s'\n", sub);
    tape_usage(stderr);
    return 2;
}
