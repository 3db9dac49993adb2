/*
 * check_run.c - running the scenarios of `polyws check` (see check_run.h).
 *
 * For each scenario: start the mock server on an ephemeral loopback port with
 * the scenario's settings and script, run the client under test with
 * /bin/sh -c in its own process group (the env contract below tells it where
 * to connect), stop it at its timeout or once the scenario is complete, let
 * the server journal the last close, judge (polyws/judge.h), stop the server.
 * Scenarios run on --jobs worker threads; each has its own mock and its own
 * port, and results are printed (check_output.c) in the order the scenarios
 * were given.
 *
 * The client's environment: everything inherited except POLYWS_* variables,
 * plus POLYWS_URL, POLYWS_API_KEY, POLYWS_SUBSCRIBE, POLYWS_CA_FILE (wss),
 * POLYWS_COUNT, POLYWS_DURATION and POLYWS_HEARTBEAT_MS (when the scenario
 * sets them) and POLYWS_BACKOFF_MS (a hint, see backoff_hint_ms).  The API key is a fresh
 * random one per scenario unless the scenario lists keys; it is scrubbed
 * from everything this command prints or writes.
 */
#include "check_run.h"

#include <polyws/judge.h>
#include <polyws/mock.h>
#include <polyws/scenario.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define CHECK_DEFAULT_TIMEOUT_MS 30000u /* client timeout when the scenario sets none */
#define CHECK_SETTLE_MS 2000         /* wait this long at most for the server to journal the last close */
#define CHECK_JUNIT_TAIL_BYTES 16384 /* bytes of client stdout/stderr kept in JUnit */
#define CHECK_BASE_BACKOFF_MS 100u   /* default POLYWS_BACKOFF_MS hint */
#define CHECK_COMPLETE_GRACE_MS 1000 /* a client that printed client.count events gets this long to stop by
                                        itself before the runner stops it (the scenario is complete) */
#define CHECK_DURATION_GRACE_MS 2000 /* ... and one that outlives client.duration by this long */

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

void chk_job_fail(chk_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = chk_vxasprintf(fmt, ap);
    va_end(ap);
    j->pass = false;
    free(j->first);
    j->first = s ? s : strdup("failed (and out of memory describing why)");
}

void chk_job_clear(chk_job *j)
{
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
    memset(j, 0, sizeof *j);
}

/* The key a scenario's client gets, and the secrets scrubbed from everything about its run. */
typedef struct run_keys {
    char generated[64];                        /* a fresh random key */
    const char *key;                           /* the client's: the scenario's first key, else generated */
    const char *secrets[PWSJ_MAX_SECRETS + 1]; /* generated and the scenario's keys, NULL-terminated */
    size_t nsec;                               /* entries in secrets */
} run_keys;

/* The client under test, ready to run. */
typedef struct client_setup {
    char *vars[10];  /* its POLYWS_* variables (malloc'd; NULL where out of memory) */
    size_t nv;       /* entries in vars */
    char **env;      /* its environment, NULL if out of memory */
    char *cmd;       /* its command, NULL if out of memory */
    char *out_path;  /* where its stdout goes, NULL if out of memory */
    char *err_path;  /* where its stderr goes, NULL if out of memory */
} client_setup;

/* The key: the scenario's first, else a fresh random one. */
static void pick_keys(const pwss_scenario *sc, run_keys *k)
{
    memset(k, 0, sizeof *k);
    chk_random_key(k->generated, sizeof k->generated);
    k->key = sc->server.nkeys ? sc->server.keys[0] : k->generated;
    k->secrets[k->nsec++] = k->generated;
    for (uint32_t i = 0; i < sc->server.nkeys && k->nsec < PWSJ_MAX_SECRETS; i++)
        if (strlen(sc->server.keys[i]) >= CHECK_SECRET_MIN)
            k->secrets[k->nsec++] = sc->server.keys[i];
}

/* Starts the mock with the scenario's settings and script on a free loopback port; NULL (and j
 * failed) if it did not start. */
static pwsm_server *start_mock(chk_run *run, chk_job *j, const run_keys *k)
{
    const pwss_scenario *sc = j->sc;
    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = 0;
    if (sc->server.nkeys)
        for (uint32_t i = 0; i < sc->server.nkeys && i < PWSM_MAX_KEYS; i++)
            o.keys[i] = sc->server.keys[i];
    else
        o.keys[0] = k->generated;
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
    if (!srv)
        chk_job_fail(j, "mock server did not start: %s", err);
    return srv;
}

static void stop_mock(chk_run *run, pwsm_server *srv)
{
    pthread_mutex_lock(&run->mock_mu);
    pwsm_stop(srv);
    pthread_mutex_unlock(&run->mock_mu);
}

/* The client's environment and command, and its output files. */
static void prepare_client(const chk_run *run, size_t idx, const pwss_scenario *sc, pwsm_server *srv,
                           const run_keys *k, client_setup *cs)
{
    memset(cs, 0, sizeof *cs);
    const pwss_client *c = &sc->client;
    uint32_t backoff = backoff_hint_ms(sc);
    char count_s[32] = "", duration_s[64] = "";
    if (c->count)
        snprintf(count_s, sizeof count_s, "%llu", (unsigned long long)c->count);
    if (c->duration_s > 0)
        snprintf(duration_s, sizeof duration_s, "%g", c->duration_s);
    char **vars = cs->vars;
    size_t nv = 0;
    vars[nv++] = chk_xasprintf("POLYWS_URL=%s%s", pwsm_url(srv), CHECK_MARKET_PATH);
    vars[nv++] = chk_xasprintf("POLYWS_API_KEY=%s", k->key);
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
    cs->nv = nv;
    bool oom = false;
    for (size_t i = 0; i < nv; i++)
        oom |= !vars[i];
    cs->env = oom ? NULL : chk_client_env(vars);

    if (run->client_cmd) {
        cs->cmd = strdup(run->client_cmd);
    } else {
        char *self = chk_shell_quote(run->self);
        if (self)
            cs->cmd = chk_xasprintf("exec %s watch -q --format jsonl --backoff-ms %u%s%s%s%s", self, backoff,
                                    count_s[0] ? " --count " : "", count_s, duration_s[0] ? " --duration " : "",
                                    duration_s);
        free(self);
    }
    cs->out_path = chk_xasprintf("%s/%zu.out", run->tmpdir, idx);
    cs->err_path = chk_xasprintf("%s/%zu.err", run->tmpdir, idx);
}

/* Runs the client until it exits, its timeout passes or the scenario is complete, then lets the
 * server journal the last close; fills cr for the judge. */
static void run_client(const chk_run *run, const pwss_scenario *sc, pwsm_server *srv, const client_setup *cs,
                       const run_keys *k, chk_client_run *cr)
{
    const pwss_client *c = &sc->client;
    uint32_t timeout_ms = run->timeout_s > 0 ? (uint32_t)(run->timeout_s * 1000)
                          : c->timeout_ms    ? c->timeout_ms
                                             : CHECK_DEFAULT_TIMEOUT_MS;
    completion done = {.out_path = run->live || run->output == PWSJ_OUTPUT_NONE ? NULL : cs->out_path,
                       .count = c->count, .duration_s = c->duration_s, .t0 = chk_mono_s()};
    chk_run_client(cs->cmd, cs->env, run->live ? NULL : cs->out_path, run->live ? NULL : cs->err_path, timeout_ms,
                   cr, completion_check, &done);
    if (done.f)
        fclose(done.f);
    free(done.line);
    settle(srv);
    cr->r.completed = done.fired;
    cr->r.output = run->output;
    cr->r.stdout_path = run->live ? NULL : cs->out_path;
    cr->r.stderr_path = run->live ? NULL : cs->err_path;
    for (size_t i = 0; i < k->nsec; i++)
        cr->r.secrets[i] = k->secrets[i];
}

/* Judges the run from the mock's journal; keeps the verdicts, the details and (--report) the
 * diagram in j. */
static void judge_job(const chk_run *run, chk_job *j, pwsm_server *srv, const chk_client_run *cr,
                      const char *const *secrets)
{
    const pwsm_entry *entries = NULL;
    size_t n = pwsm_journal(srv, &entries);
    pwsj_report rep;
    if (pwsj_judge(j->sc, entries, n, &cr->r, &rep) != 0) {
        chk_job_fail(j, "out of memory while judging");
        return;
    }
    j->pass = rep.pass;
    if (!rep.pass)
        chk_job_fail(j, "%s", rep.first_failure ? rep.first_failure : "failed");
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

/* How the client ended, and its output tails (for failures, JUnit and the report). */
static void record_client_end(chk_job *j, const chk_client_run *cr, const client_setup *cs,
                              const char *const *secrets)
{
    const char *stopped = cr->r.timed_out     ? " (stopped at the timeout)"
                          : cr->r.interrupted ? " (stopped: the run was interrupted)"
                          : cr->r.completed   ? " (stopped by the runner: the scenario was complete)"
                                              : "";
    chk_text cl = {0};
    if (!cr->r.started)
        chk_text_printf(&cl, "client: not started: %s", cr->r.start_error);
    else if (cr->r.exited)
        chk_text_printf(&cl, "client: exited with %d after %.1f s%s", cr->r.exit_code, cr->seconds, stopped);
    else
        chk_text_printf(&cl, "client: killed by signal %d (SIG%s) after %.1f s%s", cr->r.term_signal,
                        sigabbrev_np(cr->r.term_signal) ? sigabbrev_np(cr->r.term_signal) : "?", cr->seconds,
                        stopped);
    j->client_line = cl.oom ? (free(cl.p), NULL) : cl.p;
    j->out_tail = chk_file_tail(cs->out_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
    j->err_tail = chk_file_tail(cs->err_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
}

/* One scenario: the mock, the client, the judge, then everything kept for printing scrubbed. */
static void run_job(chk_run *run, size_t idx)
{
    chk_job *j = &run->job[idx];
    const pwss_scenario *sc = j->sc;
    double t0 = chk_mono_s();
    j->pass = false;
    if (!sc) {
        j->seconds = 0;
        return; /* load error: first was set at load time */
    }
    if (chk_interrupted) {
        chk_job_fail(j, "not run: interrupted");
        j->not_run = true;
        return;
    }
    run_keys k;
    pick_keys(sc, &k);
    pwsm_server *srv = start_mock(run, j, &k);
    if (!srv) {
        j->seconds = chk_mono_s() - t0;
        return;
    }
    client_setup cs;
    prepare_client(run, idx, sc, srv, &k, &cs);
    chk_client_run cr;
    memset(&cr, 0, sizeof cr);
    if (!cs.env || !cs.cmd || !cs.out_path || !cs.err_path) {
        chk_job_fail(j, "out of memory");
    } else {
        run_client(run, sc, srv, &cs, &k, &cr);
        judge_job(run, j, srv, &cr, k.secrets);
        record_client_end(j, &cr, &cs, k.secrets);
    }
    chk_client_cleanup(cs.out_path, cs.err_path, cs.cmd, cs.env, cs.vars, cs.nv);
    stop_mock(run, srv);
    /* Belt and braces: nothing this command prints may contain a key. */
    chk_scrub_inplace(j->first, k.secrets);
    chk_scrub_inplace(j->details, k.secrets);
    chk_scrub_inplace(j->verdicts, k.secrets);
    j->seconds = chk_mono_s() - t0;
}

void chk_run_job(chk_run *run, size_t idx)
{
    run_job(run, idx);
}

/* ---------------------------------------------------------------- worker threads */

static void *worker(void *arg)
{
    chk_run *run = arg;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        size_t i = run->next < run->njob ? run->next++ : run->njob;
        if (i < run->njob) {
            run->job[i].started = true;
            run->running++;
            chk_progress_show(run);
        }
        pthread_mutex_unlock(&run->mu);
        if (i >= run->njob)
            return NULL;
        run_job(run, i);
        pthread_mutex_lock(&run->mu);
        run->job[i].done = true;
        run->running--;
        run->job[i].pass ? run->npass++ : run->nfail++;
        chk_print_ready(run);
        pthread_mutex_unlock(&run->mu);
    }
}

void chk_run_all(chk_run *run)
{
    int nthreads = run->jobs < (int)run->njob ? run->jobs : (int)run->njob;
    pthread_t threads[CHECK_MAX_JOBS];
    int started = 0;
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&threads[started], NULL, worker, run) != 0)
            break;
        started++;
    }
    worker(run); /* this thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}
