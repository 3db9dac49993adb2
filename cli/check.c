/*
 * check.c - `polyws check`: runs YAML scenarios against any client command.
 *
 * For each scenario: load it, start the mock server on an ephemeral loopback
 * port with the scenario's settings and script, run the client under test
 * with /bin/sh -c in its own process group (the env contract below tells it
 * where to connect), stop it at its timeout, let the server journal the
 * last close, judge (polyws/judge.h), stop the server.  One line per
 * scenario, then "N passed, M failed".  Scenarios run on --jobs worker
 * threads; each has its own mock and its own port, and results are printed
 * in the order the scenarios were given.
 *
 * The client's environment: everything inherited except POLYWS_* variables,
 * plus POLYWS_URL, POLYWS_API_KEY, POLYWS_SUBSCRIBE, POLYWS_CA_FILE (wss),
 * POLYWS_COUNT, POLYWS_DURATION and POLYWS_HEARTBEAT_MS (when the scenario
 * sets them) and POLYWS_BACKOFF_MS (a hint, see backoff_hint_ms).  The API key is a fresh
 * random one per scenario unless the scenario lists keys; it is scrubbed
 * from everything this command prints or writes.
 *
 * Tape mode (--tape) is in check_tape.c; the helpers and the client runner
 * both modes use are in check_common.c (see check_common.h).
 */
#include "check_common.h"
#include "check_report.h"
#include "commands.h"

#include <polyws/judge.h>
#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define CHECK_MAX_JOBS 16            /* --jobs cap */
#define CHECK_MAX_SCENARIOS 100000   /* scenario files in one run */
#define CHECK_DEFAULT_TIMEOUT_MS 30000u /* client timeout when the scenario sets none */
#define CHECK_SETTLE_MS 2000         /* wait this long at most for the server to journal the last close */
#define CHECK_TAIL_LINES 10          /* client stderr lines shown under a failure */
#define CHECK_TAIL_LINE_BYTES 200    /* bytes of each of them */
#define CHECK_JUNIT_TAIL_BYTES 16384 /* bytes of client stdout/stderr kept in JUnit */
#define CHECK_BASE_BACKOFF_MS 100u   /* default POLYWS_BACKOFF_MS hint */
#define CHECK_COMPLETE_GRACE_MS 1000 /* a client that printed client.count events gets this long to stop by
                                        itself before the runner stops it (the scenario is complete) */
#define CHECK_DURATION_GRACE_MS 2000 /* ... and one that outlives client.duration by this long */
#define CHECK_MAX_SHARDS 1000        /* --shard I/N: N at most */

/* SIGINT/SIGTERM: sets chk_interrupted. */
static void check_on_signal(int sig)
{
    chk_interrupted = sig;
}

/* One scenario of the run. */
typedef struct job {
    char *path;              /* scenario file as given or found */
    pwss_scenario *sc;       /* loaded scenario, NULL if it failed to load */
    char *name;              /* scenario name (file base name without .yaml if it failed to load) */
    char *journal_file;      /* --journal DIR/<name>.jsonl, or NULL */
    bool started;            /* taken by a worker */
    bool done;               /* finished and judged */
    bool printed;            /* its line was printed */
    bool pass;               /* every verdict passed */
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
} job;

/* The whole run. */
typedef struct check_run {
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
    job *job;                /* the scenarios, in order */
    size_t njob;             /* entries in job */
    pthread_mutex_t mu;      /* guards next, job[].done/printed and stdout */
    size_t next;             /* next job to start */
    size_t next_print;       /* next job to print */
    pthread_mutex_t mock_mu; /* serializes pwsm_start/pwsm_stop (lws context setup is not thread-safe) */
} check_run;

/* ---------------------------------------------------------------- usage */

static void check_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws check [options] SCENARIO.yaml|DIR...\n"
            "\n"
            "Runs each scenario against a client: starts the mock server with the\n"
            "scenario's script on a free loopback port, runs the client, judges the\n"
            "journal and the client's exit, prints PASS/FAIL per scenario and a last\n"
            "line \"N passed, M failed\".  A DIR means every *.yaml below it (sorted;\n"
            "directories named expected/ and hidden ones are skipped).\n"
            "\n"
            "      --client CMD   client under test, run as /bin/sh -c CMD (default: this\n"
            "                     polyws's `watch -q --format jsonl`)\n"
            "      --client-output events|none\n"
            "                     events (default): the client prints each market-data\n"
            "                     event it received as one JSON object per line; the judge\n"
            "                     compares them with what the server sent (by value, any\n"
            "                     spacing; other lines are ignored).  none: output is not\n"
            "                     judged, output assertions are reported as skipped\n"
            "      --junit FILE   also write a JUnit XML report\n"
            "      --report FILE  also write a self-contained HTML report with a sequence\n"
            "                     diagram of every scenario\n"
            "      --shard I/N    run only shard I of N (1 <= I <= N): a stable split of\n"
            "                     the scenarios by name, for a CI matrix\n"
            "      --jobs N       run N scenarios at once (1..%d, default 1)\n"
            "      --journal DIR  write each scenario's journal to DIR/<name>.jsonl\n"
            "      --timeout S    client timeout in seconds for every scenario\n"
            "                     (default: the scenario's client.timeout_ms, else 30)\n"
            "  -v, --verbose      every verdict, and the client's end, for passes too\n"
            "      --live         the client writes straight to this terminal (to watch\n"
            "                     it, e.g. a live table); its output is not captured, so\n"
            "                     output_equals/output_matches fail; implies --jobs 1\n"
            "  -h, --help         this help\n"
            "\n"
            "Tape mode: polyws check --tape TAPE --golden EXPECTED [--update-golden]\n"
            "replays a recorded session instead (see polyws check --tape X --help).\n"
            "\n"
            "The client gets POLYWS_URL, POLYWS_API_KEY, POLYWS_SUBSCRIBE, POLYWS_CA_FILE\n"
            "(wss) and the hints POLYWS_COUNT / POLYWS_DURATION / POLYWS_HEARTBEAT_MS (if\n"
            "the scenario sets them) and POLYWS_BACKOFF_MS; other POLYWS_* variables are\n"
            "removed.  A client that ignores the count or duration hint is stopped once\n"
            "the scenario is complete, which is not a failure.  The API key is never\n"
            "printed.  See docs/client-contract.md and docs/check.md.\n"
            "\n"
            "Exit status: 0 if every scenario passed, 1 if any failed (or could not be\n"
            "loaded or run), 2 on bad usage.\n",
            CHECK_MAX_JOBS);
}

/* ---------------------------------------------------------------- finding scenarios */

typedef struct pathlist {
    char **v;   /* paths (malloc'd) */
    size_t n;   /* entries */
    size_t cap; /* allocated */
} pathlist;

static int pathlist_add(pathlist *l, char *p)
{
    if (!p)
        return -1;
    if (l->n >= CHECK_MAX_SCENARIOS) {
        free(p);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(p);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Adds every *.yaml below dir (recursively, skipping expected/ and hidden directories). */
static int scan_dir(const char *dir, pathlist *out, int depth)
{
    if (depth > 16)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "polyws check: cannot read %s: %s\n", dir, strerror(errno));
        return -1;
    }
    pathlist local = {0};
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = chk_xasprintf("%s%s%s", dir, ends_with(dir, "/") ? "" : "/", de->d_name);
        if (!p) {
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(de->d_name, "expected") == 0)
                free(p);
            else
                rc = pathlist_add(&local, p);
        } else if (S_ISREG(st.st_mode) && ends_with(de->d_name, ".yaml")) {
            rc = pathlist_add(&local, p);
        } else {
            free(p);
        }
    }
    closedir(d);
    if (local.n)
        qsort(local.v, local.n, sizeof *local.v, cmp_path);
    for (size_t i = 0; i < local.n; i++) {
        struct stat st;
        if (rc == 0 && stat(local.v[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = scan_dir(local.v[i], out, depth + 1);
            free(local.v[i]);
        } else if (rc == 0) {
            rc = pathlist_add(out, local.v[i]);
        } else {
            free(local.v[i]);
        }
    }
    free(local.v);
    return rc;
}

/* ---------------------------------------------------------------- the client (the runner is in check_common.c) */

/* The smallest first reconnect delay with which a client whose delays double (jitter up to
 * +-20 %, like polyws watch) meets the scenario's reconnect_delay and max_connects assertions,
 * at least CHECK_BASE_BACKOFF_MS. */
static uint32_t backoff_hint_ms(const pwss_scenario *sc)
{
    double need = CHECK_BASE_BACKOFF_MS;
    for (size_t i = 0; i < sc->nassertions; i++) {
        const pwss_assertion *a = &sc->assertions[i];
        if (a->kind == PWSS_ASSERT_RECONNECT_DELAY && a->ms / 0.8 + 1 > need)
            need = a->ms / 0.8 + 1;
        /* count+1 opens with doubling delays span (2^count - 1) first delays. */
        if (a->kind == PWSS_ASSERT_MAX_CONNECTS && a->count >= 1 && a->count < 30) {
            double span = ldexp(1.0, (int)a->count) - 1;
            if (a->ms / (0.8 * span) + 1 > need)
                need = a->ms / (0.8 * span) + 1;
        }
    }
    return need > 3600000 ? 3600000u : (uint32_t)ceil(need);
}

/* Waits until every connection the server opened has ended (journaled "closed" or "drop"),
 * at most CHECK_SETTLE_MS. */
static bool any_entry(const pwsm_entry *e, void *u)
{
    (void)e;
    (void)u;
    return true;
}

static void settle(pwsm_server *srv)
{
    double deadline = chk_mono_s() + CHECK_SETTLE_MS / 1000.0;
    size_t seen = 0;
    long open = 0;
    for (;;) {
        size_t n = pwsm_journal_count(srv);
        for (; seen < n; seen++) {
            const pwsm_entry *e = pwsm_journal_get(srv, seen);
            if (e && e->dir == '-' && e->kind) {
                if (!strcmp(e->kind, "open"))
                    open++;
                else if (!strcmp(e->kind, "closed") || !strcmp(e->kind, "drop"))
                    open--;
            }
        }
        double left = deadline - chk_mono_s();
        if (open <= 0 || left <= 0)
            return;
        pwsm_wait_from(srv, seen, any_entry, NULL, (int)(left * 1000) + 1, NULL);
    }
}

/* ---------------------------------------------------------------- completion */

/* Watches a running client for the end of the story: client.count market-data events printed
 * (events mode), or client.duration passed.  POLYWS_COUNT and POLYWS_DURATION are hints a
 * client may ignore; one that does is stopped here once the scenario is complete, and that is
 * not a failure.  The count is a quick scan of new stdout lines (a JSON object whose "ev" is
 * not "status" or "parse_error"); the judge does the exact comparison afterwards. */
typedef struct completion {
    const char *out_path;    /* the client's stdout, NULL if not captured or not judged */
    uint64_t count;          /* client.count, 0 = none */
    double duration_s;       /* client.duration, 0 = none */
    double t0;               /* when the client started */
    FILE *f;                 /* stdout, opened on first look */
    char *line;              /* getline buffer */
    size_t cap;
    char partial[512];       /* the start of a line read before its end was written */
    size_t npartial;
    uint64_t seen;           /* market-data lines so far */
    double reached;          /* when the count was reached, 0 = not yet */
    bool fired;              /* the runner stopped the client because of this */
} completion;

/* A market-data line, by a quick look at its "ev" value. */
static bool quick_is_event(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '{')
        return false;
    const char *ev = strstr(s, "\"ev\"");
    if (!ev)
        return false;
    ev += 4;
    while (*ev == ' ' || *ev == '\t' || *ev == ':')
        ev++;
    if (*ev != '"')
        return false;
    ev++;
    return strncmp(ev, "status\"", 7) != 0 && strncmp(ev, "parse_error\"", 12) != 0;
}

static bool completion_check(void *arg)
{
    completion *c = arg;
    double now = chk_mono_s();
    if (c->duration_s > 0 && now - c->t0 >= c->duration_s + CHECK_DURATION_GRACE_MS / 1000.0)
        return c->fired = true;
    if (!c->count || !c->out_path)
        return false;
    if (!c->f && !(c->f = fopen(c->out_path, "rb")))
        return false;
    ssize_t n;
    clearerr(c->f);
    while (!c->reached && (n = getline(&c->line, &c->cap, c->f)) > 0) {
        if (c->line[n - 1] != '\n') { /* not finished yet: keep its start, read the rest later */
            size_t keep = (size_t)n < sizeof c->partial - 1 - c->npartial ? (size_t)n : sizeof c->partial - 1 - c->npartial;
            memcpy(c->partial + c->npartial, c->line, keep);
            c->npartial += keep;
            c->partial[c->npartial] = '\0';
            break;
        }
        const char *l = c->line;
        if (c->npartial) {
            size_t keep = (size_t)n < sizeof c->partial - 1 - c->npartial ? (size_t)n : sizeof c->partial - 1 - c->npartial;
            memcpy(c->partial + c->npartial, c->line, keep);
            c->partial[c->npartial + keep] = '\0';
            l = c->partial;
            c->npartial = 0;
        }
        if (quick_is_event(l) && ++c->seen >= c->count)
            c->reached = now;
    }
    if (c->reached && now - c->reached >= CHECK_COMPLETE_GRACE_MS / 1000.0)
        return c->fired = true;
    return false;
}

/* ---------------------------------------------------------------- one scenario */

static void job_fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_fail(job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = chk_vxasprintf(fmt, ap);
    va_end(ap);
    j->pass = false;
    free(j->first);
    j->first = s ? s : strdup("failed (and out of memory describing why)");
}

static void run_job(check_run *run, size_t idx)
{
    job *j = &run->job[idx];
    const pwss_scenario *sc = j->sc;
    double t0 = chk_mono_s();
    j->pass = false;
    if (!sc) {
        j->seconds = 0;
        return; /* load error: first was set at load time */
    }
    if (chk_interrupted) {
        job_fail(j, "not run: interrupted");
        return;
    }

    /* The key: the scenario's first, else a fresh random one. */
    char generated[64];
    chk_random_key(generated, sizeof generated);
    const char *key = sc->server.nkeys ? sc->server.keys[0] : generated;
    const char *secrets[PWSJ_MAX_SECRETS + 1] = {0};
    size_t nsec = 0;
    secrets[nsec++] = generated;
    for (uint32_t i = 0; i < sc->server.nkeys && nsec < PWSJ_MAX_SECRETS; i++)
        if (strlen(sc->server.keys[i]) >= CHECK_SECRET_MIN)
            secrets[nsec++] = sc->server.keys[i];

    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = 0;
    if (sc->server.nkeys)
        for (uint32_t i = 0; i < sc->server.nkeys && i < PWSM_MAX_KEYS; i++)
            o.keys[i] = sc->server.keys[i];
    else
        o.keys[0] = generated;
    o.auth_timeout_ms = sc->server.auth_timeout_ms;
    o.max_per_key = sc->server.max_per_key;
    o.seed = sc->server.seed;
    o.events_per_sec = sc->server.events_per_sec;
    o.batch_max = sc->server.batch_max;
    o.tls = sc->server.tls;
    o.policy_close_code = sc->server.policy_close_code;
    o.kick_newer = sc->server.kick_newer;
    o.rate_actions = sc->server.rate_actions;
    o.rate_window_ms = sc->server.rate_window_ms;
    o.rate_close = sc->server.rate_close;
    o.scenario = sc; /* its scripts; its non-zero server settings also override the fields above */
    o.journal_path = j->journal_file;

    char err[512] = "";
    pthread_mutex_lock(&run->mock_mu);
    pwsm_server *srv = pwsm_start(&o, err, sizeof err);
    pthread_mutex_unlock(&run->mock_mu);
    if (!srv) {
        job_fail(j, "mock server did not start: %s", err);
        j->seconds = chk_mono_s() - t0;
        return;
    }

    /* The client's environment and command. */
    const pwss_client *c = &sc->client;
    uint32_t backoff = backoff_hint_ms(sc);
    char count_s[32] = "", duration_s[64] = "";
    if (c->count)
        snprintf(count_s, sizeof count_s, "%llu", (unsigned long long)c->count);
    if (c->duration_s > 0)
        snprintf(duration_s, sizeof duration_s, "%g", c->duration_s);
    char *vars[10] = {0};
    size_t nv = 0;
    vars[nv++] = chk_xasprintf("POLYWS_URL=%s%s", pwsm_url(srv), CHECK_MARKET_PATH);
    vars[nv++] = chk_xasprintf("POLYWS_API_KEY=%s", key);
    vars[nv++] = chk_xasprintf("POLYWS_SUBSCRIBE=%s", c->subscribe && *c->subscribe ? c->subscribe : "A.AAPL");
    vars[nv++] = chk_xasprintf("POLYWS_BACKOFF_MS=%u", backoff);
    if (pwsm_ca_file(srv))
        vars[nv++] = chk_xasprintf("POLYWS_CA_FILE=%s", pwsm_ca_file(srv));
    if (count_s[0])
        vars[nv++] = chk_xasprintf("POLYWS_COUNT=%s", count_s);
    if (duration_s[0])
        vars[nv++] = chk_xasprintf("POLYWS_DURATION=%s", duration_s);
    if (c->heartbeat_ms)
        vars[nv++] = chk_xasprintf("POLYWS_HEARTBEAT_MS=%u", c->heartbeat_ms);
    bool oom = false;
    for (size_t i = 0; i < nv; i++)
        oom |= !vars[i];
    char **env = oom ? NULL : chk_client_env(vars);

    char *cmd = NULL;
    if (run->client_cmd) {
        cmd = strdup(run->client_cmd);
    } else {
        char *self = chk_shell_quote(run->self);
        if (self)
            cmd = chk_xasprintf("exec %s watch -q --format jsonl --backoff-ms %u%s%s%s%s", self, backoff,
                            count_s[0] ? " --count " : "", count_s, duration_s[0] ? " --duration " : "",
                            duration_s);
        free(self);
    }
    char *out_path = chk_xasprintf("%s/%zu.out", run->tmpdir, idx);
    char *err_path = chk_xasprintf("%s/%zu.err", run->tmpdir, idx);

    chk_client_run cr;
    memset(&cr, 0, sizeof cr);
    if (!env || !cmd || !out_path || !err_path) {
        job_fail(j, "out of memory");
    } else {
        uint32_t timeout_ms = run->timeout_s > 0 ? (uint32_t)(run->timeout_s * 1000)
                              : c->timeout_ms    ? c->timeout_ms
                                                 : CHECK_DEFAULT_TIMEOUT_MS;
        completion done = {.out_path = run->live || run->output == PWSJ_OUTPUT_NONE ? NULL : out_path,
                           .count = c->count, .duration_s = c->duration_s, .t0 = chk_mono_s()};
        chk_run_client(cmd, env, run->live ? NULL : out_path, run->live ? NULL : err_path, timeout_ms, &cr,
                       completion_check, &done);
        if (done.f)
            fclose(done.f);
        free(done.line);
        settle(srv);
        cr.r.completed = done.fired;
        cr.r.output = run->output;
        cr.r.stdout_path = run->live ? NULL : out_path;
        cr.r.stderr_path = run->live ? NULL : err_path;
        for (size_t i = 0; i < nsec; i++)
            cr.r.secrets[i] = secrets[i];

        const pwsm_entry *entries = NULL;
        size_t n = pwsm_journal(srv, &entries);
        pwsj_report rep;
        if (pwsj_judge(sc, entries, n, &cr.r, &rep) != 0) {
            job_fail(j, "out of memory while judging");
        } else {
            j->pass = rep.pass;
            if (!rep.pass)
                job_fail(j, "%s", rep.first_failure ? rep.first_failure : "failed");
            j->pass = rep.pass;
            chk_text v = {0};
            for (size_t i = 0; i < rep.nverdicts; i++)
                if (rep.verdicts[i].pass) /* failures are in the details */
                    chk_text_printf(&v, "%s%s: %s", v.len ? "\n" : "", rep.verdicts[i].skipped ? "skipped" : "ok",
                                    rep.verdicts[i].message);
            j->verdicts = v.oom ? (free(v.p), NULL) : v.p;
            j->rv = calloc(rep.nverdicts ? rep.nverdicts : 1, sizeof *j->rv);
            for (size_t i = 0; j->rv && i < rep.nverdicts; i++) {
                char *m = strdup(rep.verdicts[i].message);
                chk_scrub_inplace(m, secrets);
                j->rv[j->nrv++] = (chk_report_verdict){m, rep.verdicts[i].skipped ? 2 : rep.verdicts[i].pass ? 0 : 1};
            }
            if (run->report)
                j->diagram = chk_report_diagram(j->name, entries, n, secrets);
            chk_text d = {0};
            if (!rep.pass && rep.details && *rep.details)
                chk_text_printf(&d, "%s", rep.details);
            j->details = d.p;
            pwsj_report_free(&rep);
        }
        /* How the client ended, and its stderr tail for failures. */
        const char *stopped = cr.r.timed_out     ? " (stopped at the timeout)"
                              : cr.r.interrupted ? " (stopped: the run was interrupted)"
                              : cr.r.completed   ? " (stopped by the runner: the scenario was complete)"
                                                 : "";
        chk_text cl = {0};
        if (!cr.r.started)
            chk_text_printf(&cl, "client: not started: %s", cr.r.start_error);
        else if (cr.r.exited)
            chk_text_printf(&cl, "client: exited with %d after %.1f s%s", cr.r.exit_code, cr.seconds, stopped);
        else
            chk_text_printf(&cl, "client: killed by signal %d (SIG%s) after %.1f s%s", cr.r.term_signal,
                        sigabbrev_np(cr.r.term_signal) ? sigabbrev_np(cr.r.term_signal) : "?", cr.seconds,
                        stopped);
        j->client_line = cl.oom ? (free(cl.p), NULL) : cl.p;
        j->out_tail = chk_file_tail(out_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
        j->err_tail = chk_file_tail(err_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
    }
    chk_client_cleanup(out_path, err_path, cmd, env, vars, nv);
    pthread_mutex_lock(&run->mock_mu);
    pwsm_stop(srv);
    pthread_mutex_unlock(&run->mock_mu);
    /* Belt and braces: nothing this command prints may contain a key. */
    chk_scrub_inplace(j->first, secrets);
    chk_scrub_inplace(j->details, secrets);
    chk_scrub_inplace(j->verdicts, secrets);
    j->seconds = chk_mono_s() - t0;
}

/* ---------------------------------------------------------------- printing */

/* The last n lines of s (a pointer into s). */
static const char *last_lines(const char *s, int n)
{
    const char *p = s + strlen(s);
    int lines = 0;
    while (p > s) {
        if (p[-1] == '\n' && ++lines == n)
            break;
        p--;
    }
    return p;
}

/* The status line on a terminal: "[done/total] running NAME ... (P passed, F failed)". */
static void progress_clear(const check_run *run)
{
    if (run->progress)
        fputs("\r\033[K", stdout);
}

static void progress_show(const check_run *run)
{
    if (!run->progress)
        return;
    size_t done = run->npass + run->nfail;
    printf("\r\033[K[%zu/%zu] %zu passed, %zu failed", done, run->njob, run->npass, run->nfail);
    size_t shown = 0;
    for (size_t i = 0; i < run->njob && shown < 2; i++)
        if (run->job[i].started && !run->job[i].done)
            printf("%s%.40s", shown++ ? ", " : "; running ", run->job[i].name);
    if (run->running > shown)
        printf(" +%zu", run->running - shown);
    fflush(stdout);
}

static void print_job(const check_run *run, const job *j)
{
    progress_clear(run);
    printf("%s %s (%.1f s)%s%s\n", j->pass ? "PASS" : "FAIL", j->name, j->seconds, j->pass ? "" : ": ",
           j->pass ? "" : j->first ? j->first : "failed");
    if (run->verbose && j->verdicts)
        chk_print_indented(stdout, j->verdicts, 4);
    if (!j->pass && j->details)
        chk_print_indented(stdout, j->details, 4);
    if ((!j->pass || run->verbose) && j->client_line)
        chk_print_indented(stdout, j->client_line, 4);
    if ((!j->pass || run->verbose) && j->err_tail) {
        printf("    client stderr (last lines):\n");
        /* Each line cut to CHECK_TAIL_LINE_BYTES. */
        const char *s = last_lines(j->err_tail, CHECK_TAIL_LINES);
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            size_t shown = n > CHECK_TAIL_LINE_BYTES ? CHECK_TAIL_LINE_BYTES : n;
            while (shown < n && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
                shown--; /* do not cut a UTF-8 sequence */
            printf("      %.*s%s\n", (int)shown, s, shown < n ? "..." : "");
            s = nl ? nl + 1 : s + n;
        }
    }
    fflush(stdout);
}

/* Prints finished jobs in order; called with run->mu held. */
static void print_ready(check_run *run)
{
    while (run->next_print < run->njob && run->job[run->next_print].done) {
        job *j = &run->job[run->next_print++];
        print_job(run, j);
        j->printed = true;
    }
    progress_show(run);
}

static void *worker(void *arg)
{
    check_run *run = arg;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        size_t i = run->next < run->njob ? run->next++ : run->njob;
        if (i < run->njob) {
            run->job[i].started = true;
            run->running++;
            progress_show(run);
        }
        pthread_mutex_unlock(&run->mu);
        if (i >= run->njob)
            return NULL;
        run_job(run, i);
        pthread_mutex_lock(&run->mu);
        run->job[i].done = true;
        run->running--;
        run->job[i].pass ? run->npass++ : run->nfail++;
        print_ready(run);
        pthread_mutex_unlock(&run->mu);
    }
}

/* ---------------------------------------------------------------- JUnit */

/* Writes s XML-escaped; with `attr`, newlines and tabs as character references too.
 * Control bytes other than \t \n \r and invalid UTF-8 become '?', so the file stays
 * well-formed whatever a client printed. */
static void xml_put(FILE *f, const char *s, bool attr)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t seq = chk_utf8_len(u + i, n - i);
        if (seq > 1) {
            fwrite(u + i, 1, seq, f);
            i += seq;
            continue;
        }
        i++;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\n': fputs(attr ? "&#10;" : "\n", f); break;
        case '\r': fputs("&#13;", f); break;
        case '\t': fputs(attr ? "&#9;" : "\t", f); break;
        default: fputc(seq == 0 || c < 0x20 || c == 0x7f ? '?' : c, f);
        }
    }
}

static void xml_escaped(FILE *f, const char *s)
{
    xml_put(f, s, true);
}

static void xml_text(FILE *f, const char *s)
{
    xml_put(f, s, false);
}

static int write_junit(const check_run *run, double total_s, size_t failed)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", run->junit) >= sizeof tmp) {
        fprintf(stderr, "polyws check: --junit path too long\n");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "polyws check: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    /* One testcase per scenario; with --client-output none, one more per output assertion,
     * marked <skipped/>, so CI shows what was not judged. */
    size_t skipped = 0;
    for (size_t i = 0; i < run->njob; i++)
        for (size_t k = 0; k < run->job[i].nrv; k++)
            skipped += run->job[i].rv[k].state == 2;
    char suite[64] = "polyws.scenarios";
    if (run->nshards)
        snprintf(suite, sizeof suite, "polyws.scenarios.shard%uof%u", run->shard, run->nshards);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"polyws check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
               "time=\"%.3f\">\n",
            run->njob + skipped, failed, skipped, total_s);
    fprintf(f, "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
               "skipped=\"%zu\" time=\"%.3f\">\n",
            suite, run->njob + skipped, failed, skipped, total_s);
    for (size_t i = 0; i < run->njob; i++) {
        const job *j = &run->job[i];
        fprintf(f, "    <testcase classname=\"polyws.scenarios\" name=\"");
        xml_escaped(f, j->name);
        fprintf(f, "\" file=\"");
        xml_escaped(f, j->path);
        fprintf(f, "\" time=\"%.3f\">\n", j->seconds);
        if (!j->pass) {
            fprintf(f, "      <failure type=\"scenario\" message=\"");
            xml_escaped(f, j->first ? j->first : "failed");
            fprintf(f, "\">");
            xml_text(f, j->first ? j->first : "failed");
            if (j->details) {
                fputc('\n', f);
                xml_text(f, j->details);
            }
            if (j->client_line) {
                fputc('\n', f);
                xml_text(f, j->client_line);
            }
            fprintf(f, "</failure>\n");
        }
        fprintf(f, "      <system-out>");
        xml_text(f, j->out_tail ? j->out_tail : "(no output)");
        fprintf(f, "</system-out>\n");
        if (j->err_tail) {
            fprintf(f, "      <system-err>");
            xml_text(f, j->err_tail);
            fprintf(f, "</system-err>\n");
        }
        fprintf(f, "    </testcase>\n");
        for (size_t k = 0; k < j->nrv; k++) {
            if (j->rv[k].state != 2)
                continue;
            const char *m = j->rv[k].message ? j->rv[k].message : "output assertion";
            size_t name_len = strcspn(m, ":");
            fprintf(f, "    <testcase classname=\"polyws.scenarios.");
            xml_escaped(f, j->name);
            fprintf(f, "\" name=\"");
            fprintf(f, "%.*s #%zu", (int)name_len, m, k + 1);
            fprintf(f, "\" time=\"0\">\n      <skipped message=\"");
            xml_escaped(f, m);
            fprintf(f, "\"/>\n    </testcase>\n");
        }
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, run->junit) != 0) {
        fprintf(stderr, "polyws check: cannot write %s: %s\n", run->junit, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- setup */

/* A file-name-safe version of a scenario name. */
static char *safe_name(const char *name)
{
    char *s = strdup(name && *name ? name : "scenario");
    if (!s)
        return NULL;
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            *p = '_';
    if (s[0] == '.')
        s[0] = '_';
    return s;
}

/* The base name of path without ".yaml". */
static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (ends_with(b, ".yaml"))
        n -= 5;
    return strndup(b, n);
}

/* Loads every scenario (in this thread: cheap, and names are then known for --journal). */
static int load_all(check_run *run, pathlist *paths)
{
    run->job = calloc(paths->n ? paths->n : 1, sizeof *run->job);
    if (!run->job)
        return -1;
    run->njob = paths->n;
    for (size_t i = 0; i < paths->n; i++) {
        job *j = &run->job[i];
        j->path = paths->v[i];
        paths->v[i] = NULL;
        char err[1024] = "";
        j->sc = pwss_load(j->path, err, sizeof err);
        if (j->sc) {
            j->name = strdup(j->sc->name && *j->sc->name ? j->sc->name : "");
            if (j->name && !*j->name) {
                free(j->name);
                j->name = base_name(j->path);
            }
        } else {
            j->name = base_name(j->path);
            job_fail(j, "%s", err[0] ? err : "cannot load the scenario");
        }
        if (!j->name)
            return -1;
        if (run->journal_dir) {
            char *safe = safe_name(j->name);
            if (!safe)
                return -1;
            /* Two scenarios with the same name get distinct files: name.jsonl, name.2.jsonl ... */
            int dup = 1;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(run->job[k].name, j->name))
                    dup++;
            j->journal_file = dup > 1 ? chk_xasprintf("%s/%s.%d.jsonl", run->journal_dir, safe, dup)
                                      : chk_xasprintf("%s/%s.jsonl", run->journal_dir, safe);
            free(safe);
            if (!j->journal_file)
                return -1;
        }
    }
    return 0;
}

static void free_run(check_run *run)
{
    for (size_t i = 0; i < run->njob; i++) {
        job *j = &run->job[i];
        pwss_free(j->sc);
        free(j->path);
        free(j->name);
        free(j->journal_file);
        free(j->first);
        free(j->details);
        free(j->verdicts);
        free(j->client_line);
        free(j->out_tail);
        free(j->err_tail);
        for (size_t k = 0; k < j->nrv; k++)
            free((char *)j->rv[k].message);
        free(j->rv);
        free(j->diagram);
    }
    free(run->job);
    run->job = NULL;
    run->njob = 0;
}

/* FNV-1a of the scenario's name: which shard it falls in does not depend on the other scenarios,
 * so adding one never moves the rest between CI runners. */
static unsigned shard_of(const char *name, unsigned n)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (unsigned)(h % n) + 1;
}

/* Drops the scenarios of other shards (in place, order kept). */
static void keep_shard(check_run *run)
{
    size_t kept = 0;
    for (size_t i = 0; i < run->njob; i++) {
        job *j = &run->job[i];
        if (shard_of(j->name, run->nshards) == run->shard) {
            run->job[kept++] = *j;
            continue;
        }
        pwss_free(j->sc);
        free(j->path);
        free(j->name);
        free(j->journal_file);
        free(j->first);
    }
    run->njob = kept;
}

/* Writes --report. */
static int write_report(const check_run *run, double total_s)
{
    chk_report_case *cases = calloc(run->njob ? run->njob : 1, sizeof *cases);
    if (!cases) {
        fprintf(stderr, "polyws check: out of memory writing %s\n", run->report);
        return -1;
    }
    for (size_t i = 0; i < run->njob; i++) {
        const job *j = &run->job[i];
        cases[i] = (chk_report_case){.name = j->name, .path = j->path,
                                     .description = j->sc ? j->sc->description : NULL, .pass = j->pass,
                                     .seconds = j->seconds, .headline = j->pass ? NULL : j->first,
                                     .verdicts = j->rv, .nverdicts = j->nrv, .details = j->details,
                                     .client_line = j->client_line, .out_tail = j->out_tail,
                                     .err_tail = j->err_tail, .diagram = j->diagram};
    }
    char err[512] = "";
    int rc = chk_report_write(run->report, "polyws check", cases, run->njob, total_s, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "polyws check: %s\n", err[0] ? err : "cannot write the report");
    free(cases);
    return rc;
}

/* Silences libwebsockets (the mock's lws context) unless --verbose. */
static void lws_log_quiet(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    if (*(const bool *)user)
        fprintf(stderr, "polyws check: lws: %s\n", msg);
}

int pws_cmd_check(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tape") || !strncmp(argv[i], "--tape=", 7)) {
            char self[PATH_MAX];
            ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
            self[n > 0 ? n : 0] = '\0';
            static bool quiet_lws = false;
            pws_set_lws_log(PWS_LOG_ERROR, lws_log_quiet, &quiet_lws);
            return chk_tape_mode(argc, argv, self);
        }
    static const struct option longopts[] = {
        {"client", required_argument, NULL, 'c'}, {"junit", required_argument, NULL, 'J'},
        {"jobs", required_argument, NULL, 'j'},   {"journal", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"live", no_argument, NULL, 'V'},        {"client-output", required_argument, NULL, 'O'},
        {"report", required_argument, NULL, 'R'}, {"shard", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    static check_run run; /* static: the lws log hook keeps a pointer to run.verbose */
    memset(&run, 0, sizeof run);
    run.jobs = 1;
    optind = 1;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            if (!*optarg) {
                fprintf(stderr, "polyws check: --client needs a command\n");
                return 2;
            }
            run.client_cmd = optarg;
            break;
        case 'J': run.junit = optarg; break;
        case 'L': run.journal_dir = optarg; break;
        case 'j': {
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > 1000) {
                fprintf(stderr, "polyws check: --jobs needs 1..%d, not '%s'\n", CHECK_MAX_JOBS, optarg);
                return 2;
            }
            run.jobs = n > CHECK_MAX_JOBS ? CHECK_MAX_JOBS : (int)n;
            break;
        }
        case 't':
            run.timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(run.timeout_s > 0) || run.timeout_s > CHECK_MAX_TIMEOUT_S) {
                fprintf(stderr, "polyws check: --timeout needs positive seconds up to %.0f, not '%s'\n",
                        CHECK_MAX_TIMEOUT_S, optarg);
                return 2;
            }
            break;
        case 'v': run.verbose = true; break;
        case 'V': run.live = true; break;
        case 'O':
            if (!strcmp(optarg, "events"))
                run.output = PWSJ_OUTPUT_EVENTS;
            else if (!strcmp(optarg, "none"))
                run.output = PWSJ_OUTPUT_NONE;
            else {
                fprintf(stderr, "polyws check: --client-output needs events or none, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'R':
            if (!*optarg) {
                fprintf(stderr, "polyws check: --report needs a file name\n");
                return 2;
            }
            run.report = optarg;
            break;
        case 'S': {
            unsigned i = 0, n = 0;
            int used = 0;
            if (sscanf(optarg, "%u/%u%n", &i, &n, &used) != 2 || optarg[used] || n < 1 || n > CHECK_MAX_SHARDS ||
                i < 1 || i > n || optarg[0] == '-' || strchr(optarg, '-')) {
                fprintf(stderr, "polyws check: --shard needs I/N with 1 <= I <= N <= %d, not '%s'\n",
                        CHECK_MAX_SHARDS, optarg);
                return 2;
            }
            run.shard = i;
            run.nshards = n;
            break;
        }
        case 'h': check_usage(stdout); return 0;
        default: check_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "polyws check: no scenario given (files or directories); see --help\n");
        return 2;
    }
    if (run.journal_dir) {
        struct stat st;
        if (stat(run.journal_dir, &st) != 0 && mkdir(run.journal_dir, 0755) != 0) {
            fprintf(stderr, "polyws check: cannot create --journal directory %s: %s\n", run.journal_dir,
                    strerror(errno));
            return 2;
        }
        if (stat(run.journal_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "polyws check: --journal %s is not a directory\n", run.journal_dir);
            return 2;
        }
    }
    if (!run.client_cmd) {
        ssize_t n = readlink("/proc/self/exe", run.self, sizeof run.self - 1);
        if (n <= 0) {
            fprintf(stderr, "polyws check: cannot find this executable (/proc/self/exe): %s; use --client\n",
                    strerror(errno));
            return 1;
        }
        run.self[n] = '\0';
    }

    pathlist paths = {0};
    int rc = 0;
    for (int i = optind; i < argc && rc == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "polyws check: %s: %s\n", argv[i], strerror(errno));
            rc = 2;
        } else if (S_ISDIR(st.st_mode)) {
            size_t before = paths.n;
            if (scan_dir(argv[i], &paths, 0) != 0)
                rc = 1;
            else if (paths.n == before) {
                fprintf(stderr, "polyws check: no *.yaml scenario in %s\n", argv[i]);
                rc = 2;
            }
        } else if (pathlist_add(&paths, strdup(argv[i])) != 0) {
            fprintf(stderr, "polyws check: out of memory (or more than %d scenarios)\n", CHECK_MAX_SCENARIOS);
            rc = 1;
        }
    }
    if (rc == 0 && load_all(&run, &paths) != 0) {
        fprintf(stderr, "polyws check: out of memory\n");
        rc = 1;
    }
    if (rc == 0 && run.nshards)
        keep_shard(&run);
    for (size_t i = 0; i < paths.n; i++)
        free(paths.v[i]);
    free(paths.v);
    if (rc) {
        free_run(&run);
        return rc;
    }

    const char *tmp = getenv("TMPDIR");
    snprintf(run.tmpdir, sizeof run.tmpdir, "%s/polyws-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run.tmpdir)) {
        fprintf(stderr, "polyws check: cannot create a temporary directory: %s\n", strerror(errno));
        free_run(&run);
        return 1;
    }

    pws_set_lws_log(PWS_LOG_ERROR, lws_log_quiet, &run.verbose);
    struct sigaction sa, old_int, old_term, old_pipe;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = check_on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);

    pthread_mutex_init(&run.mu, NULL);
    pthread_mutex_init(&run.mock_mu, NULL);
    double t0 = chk_mono_s();
    if (run.live)
        run.jobs = 1; /* one client at a time on the terminal */
    run.progress = !run.live && isatty(STDOUT_FILENO);
    if (run.nshards && !run.njob) {
        printf("shard %u/%u holds none of the scenarios\n", run.shard, run.nshards);
    }
    int nthreads = run.jobs < (int)run.njob ? run.jobs : (int)run.njob;
    pthread_t threads[CHECK_MAX_JOBS];
    int started = 0;
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&threads[started], NULL, worker, &run) != 0)
            break;
        started++;
    }
    worker(&run); /* this thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    double total = chk_mono_s() - t0;

    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < run.njob; i++)
        run.job[i].pass ? passed++ : failed++;
    progress_clear(&run);
    if (chk_interrupted)
        printf("interrupted\n");
    printf("%zu passed, %zu failed\n", passed, failed);
    fflush(stdout);
    int exit_code = failed ? 1 : 0;
    if (run.junit && write_junit(&run, total, failed) != 0)
        exit_code = 1;
    if (run.report && write_report(&run, total) != 0)
        exit_code = 1;

    rmdir(run.tmpdir);
    pthread_mutex_destroy(&run.mu);
    pthread_mutex_destroy(&run.mock_mu);
    free_run(&run);
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return exit_code;
}
