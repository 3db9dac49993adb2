/*
 * explore.c - `polyws explore`: random scenarios against a client, judged by invariants every
 * correct connector keeps, and the first failure shrunk to a minimal scenario file.
 *
 * Each run draws a scenario from its seed (explore_gen.c), renders it in the scenario language
 * and loads it with pwss_load_mem like any file, then runs it through `polyws check`'s own
 * runner (check_run.h: the mock on a free loopback port, the client with the contract's
 * environment, the judge).  The judge's headline (the failure that came first) names the
 * broken invariant (explore_invariant.c).  The first failing run is shrunk: its smaller
 * variants (explore_shrink.c) are run, and one is kept only if it breaks the same invariant,
 * until none does; the result is written to --out as a normal scenario file that
 * `polyws check --client CMD FILE` reproduces.
 *
 * Runs (and the variants of one shrink round) go --jobs at a time, each on its own thread with
 * its own chk_job slot, mock and port; results are printed in seed order.
 */
#include "check_common.h"
#include "check_run.h"
#include "commands.h"
#include "explore.h"
#include "progress.h"

#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XP_DEFAULT_RUNS 20       /* --runs without the option */
#define XP_MAX_RUNS 1000000      /* --runs cap */
#define XP_DEFAULT_MAX_SHRINK 300 /* --max-shrink-runs without the option: variants tried at most */
#define XP_MAX_BUDGET_MS (24u * 3600u * 1000u) /* --time-budget cap: a day */
#define XP_DEFAULT_OUT "explore-out"
#define XP_WINDOW 64             /* runs started ahead of the first one not yet printed, at most (the ring) */
#define XP_TICK_MS 100           /* the main thread's wait between progress line updates */

/* One scenario to run and what came of it. */
typedef struct xp_task {
    xp_model m;           /* the scenario */
    bool pass;            /* every verdict passed */
    xp_invariant inv;     /* what a failure broke */
    char *headline;       /* the judge's first cause (malloc'd), NULL if passed */
    char *details;        /* the judge's details (malloc'd), NULL if passed */
    double seconds;       /* how long it ran */
    uint8_t state[XP_INV__COUNT]; /* --junit: XP_J_* per invariant, what the run judged */
    char *fails;          /* --junit: "NAME\tmessage\n" per broken invariant (malloc'd), NULL if none */
    const char *yaml;     /* run this text (named file) instead of rendering m: the written case */
    size_t yaml_len;      /* its length */
    const char *file;     /* its path, for the judge's locations */
    chk_job *keep;        /* if set, the finished job is moved here (verdicts, diagram) instead of freed */
} xp_task;

enum { XP_J_NONE = 0, XP_J_PASS, XP_J_FAIL }; /* xp_task.state: not judged, held, broken */

/* One run, as --junit reports it. */
typedef struct xp_record {
    uint64_t seed;                /* the run's seed */
    double seconds;               /* how long it ran */
    uint8_t state[XP_INV__COUNT]; /* XP_J_* per invariant */
    char *fails;                  /* as xp_task.fails */
} xp_record;

/* The command. */
typedef struct explorer {
    chk_run run;           /* `polyws check`'s runner: one chk_job slot per --jobs thread */
    uint64_t runs;         /* --runs */
    uint64_t seed;         /* --seed: run i uses seed + i */
    uint32_t budget_ms;    /* --time-budget, 0 = none */
    uint64_t max_shrink;   /* --max-shrink-runs */
    const char *out;       /* --out */
    bool verbose;          /* --verbose */
    bool print_only;       /* --print: write the scenarios, run nothing */
    bool keep_going;       /* --keep-going: run every run; still only the first failure is shrunk */
    bool quiet;            /* -q: no progress line */
    const char *junit;     /* --junit FILE */
    const char *html;      /* --html FILE */
    xp_record *rec;        /* --junit: the runs taken, in order */
    size_t nrec, caprec;   /* entries in rec; allocated */
    double t0;             /* start (monotonic s) */
    pws_cli_meter meter;   /* the progress line (stderr on a terminal); main thread only */
    /* The exploring runs, a continuous pool: run i's task lives in ring[i % XP_WINDOW]. */
    xp_task ring[XP_WINDOW];
    bool ring_done[XP_WINDOW]; /* run finished, not yet taken by the main thread */
    uint64_t next;         /* next run to start */
    uint64_t taken;        /* runs taken (printed) by the main thread, in order */
    uint64_t stop_at;      /* no run at or past this index starts (the runs, the first failure + 1,
                              or where the budget or a signal stopped starting) */
    uint64_t finished, failed_now; /* finished so far in any order (the progress line) */
    /* A shrink round's batch. */
    xp_task *tasks;        /* the batch being run */
    size_t ntasks, next_task, finished_tasks; /* its size; next to start; finished */
    pthread_mutex_t mu;    /* guards everything above from `ring` on */
    pthread_cond_t cv;     /* broadcast on every finish, take and stop */
} explorer;

static void explore_on_signal(int sig)
{
    chk_interrupted = sig;
}

static void explore_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws explore [--client CMD] [--runs N] [--seed S] [--time-budget DURATION]\n"
            "                      [--out DIR] [--jobs N] [--max-shrink-runs N] [--keep-going]\n"
            "                      [--junit FILE] [--html FILE] [--verbose] [--print] [-q]\n"
            "\n"
            "Draws random scenarios (1-5 scripted connections of handshakes, streams,\n"
            "bursts, trickles, malformed frames, protocol faults, pings, stalls, closes,\n"
            "drops and Polygon statuses) from a seed, runs each against the client the\n"
            "way `polyws check` does, and judges the invariants every correct connector\n"
            "keeps (docs/explore.md).  The first run that breaks one is shrunk to a\n"
            "minimal scenario that still breaks the same invariant, written to DIR as a\n"
            "scenario file that `polyws check --client CMD FILE` reproduces.  Each run's\n"
            "seed is printed; run i uses seed S+i, so --seed S+i --runs 1 replays it.\n"
            "\n"
            "      --client CMD   client under test, run as /bin/sh -c CMD (default: this\n"
            "                     polyws's `watch -q --format jsonl`)\n"
            "      --runs N       scenarios to draw (1..%d, default %d)\n"
            "      --seed S       first seed (0..2^64-1; default: drawn from the clock)\n"
            "      --time-budget DURATION\n"
            "                     start no run (and no shrink run) after this long\n"
            "                     (250ms, 2s, 1.5s, 1m or plain milliseconds; up to 24 h)\n"
            "      --out DIR      where the shrunk scenario goes (default %s/)\n"
            "      --jobs N       run N scenarios at once (1..%d, default 1); shrink\n"
            "                     rounds try N variants at once\n"
            "      --max-shrink-runs N\n"
            "                     variants to try at most while shrinking (default %d)\n"
            "  -v, --verbose      the judge's details under a failure\n"
            "      --keep-going   go on after a failure (every run is made; only the first\n"
            "                     failure is shrunk)\n"
            "      --print        print each run's scenario (YAML) and run nothing\n"
            "      --junit FILE   JUnit XML: a testcase per invariant each run judged, and\n"
            "                     one per failure found (the shrunk scenario)\n"
            "      --html FILE    `polyws check --report`'s page for the shrunk scenario\n"
            "                     (verdicts, client output, sequence diagram)\n"
            "  -q, --quiet        no progress line\n"
            "  -h, --help         this help\n"
            "      --version      print the version and exit\n"
            "\n"
            "Runs go --jobs at a time, each with its own mock on its own port; lines are\n"
            "printed in seed order, and the runs, verdicts and shrunk scenario are those\n"
            "of --jobs 1.  A progress line (runs, failures found, shrink steps) is shown\n"
            "when stderr is a terminal (not with -q).\n"
            "\n"
            "Exit status:\n"
            "  0  no run broke an invariant\n"
            "  1  a run broke one (or the run was interrupted, or the shrunk scenario,\n"
            "     --junit or --html could not be written)\n"
            "  2  bad usage, or a client that cannot be started\n",
            XP_MAX_RUNS, XP_DEFAULT_RUNS, XP_DEFAULT_OUT, CHECK_MAX_JOBS, XP_DEFAULT_MAX_SHRINK);
}

/* Silences libwebsockets (the mock's lws context) unless --verbose. */
static void lws_log_quiet(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    if (*(const bool *)user)
        fprintf(stderr, "polyws explore: lws: %s\n", msg);
}

static double elapsed_s(const explorer *x)
{
    return chk_mono_s() - x->t0;
}

static bool over_budget(const explorer *x)
{
    return chk_interrupted || (x->budget_ms && elapsed_s(x) * 1000 >= x->budget_ms);
}

/* ---------------------------------------------------------------- running scenarios */

/* The scenario file's name in messages (the judge's "(FILE:LINE:COLUMN)" locations). */
static void scenario_name(const xp_model *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "explore-%" PRIu64, m->seed);
}

/* Which invariants the run judged and how (for --junit): each verdict names its assertion, the
 * headline the first cause; no_crash and no_hang are judged on every run, no_key_fight where
 * there is a trap connection after max_connections. */
static void judged(const xp_model *m, const chk_job *j, xp_task *t)
{
    chk_text fl = {0};
    if (!t->pass && t->inv != XP_INV_NONE && t->inv != XP_INV_CLIENT_START) {
        t->state[t->inv] = XP_J_FAIL;
        chk_text_printf(&fl, "%s\t%s\n", xp_invariant_name(t->inv), t->headline ? t->headline : "failed");
    }
    for (size_t k = 0; k < j->nrv; k++) {
        const char *msg = j->rv[k].message;
        if (j->rv[k].state == 2 || !msg)
            continue;
        xp_invariant inv = xp_classify(m, msg);
        if (inv == XP_INV_NONE || inv == XP_INV_OTHER || inv == XP_INV_CLIENT_START)
            continue;
        if (j->rv[k].state == 1 && t->state[inv] != XP_J_FAIL) {
            t->state[inv] = XP_J_FAIL;
            chk_text_printf(&fl, "%s\t%s\n", xp_invariant_name(inv), msg);
        } else if (t->state[inv] == XP_J_NONE) {
            t->state[inv] = XP_J_PASS;
        }
    }
    bool refused;
    if (xp_trap_ordinal(m, &refused) && !refused && t->state[XP_INV_NO_KEY_FIGHT] == XP_J_NONE)
        t->state[XP_INV_NO_KEY_FIGHT] = XP_J_PASS;
    if (t->state[XP_INV_NO_CRASH] == XP_J_NONE)
        t->state[XP_INV_NO_CRASH] = XP_J_PASS;
    if (t->state[XP_INV_NO_HANG] == XP_J_NONE)
        t->state[XP_INV_NO_HANG] = XP_J_PASS;
    t->fails = fl.oom ? (free(fl.p), NULL) : fl.p;
}

/* Runs one task on chk_job slot `slot`. */
static void run_task(explorer *x, size_t slot, xp_task *t)
{
    chk_job *j = &x->run.job[slot];
    char name[64], file[80], err[1024] = "";
    scenario_name(&t->m, name, sizeof name);
    snprintf(file, sizeof file, "%s.yaml", name);
    size_t len = t->yaml_len;
    char *yaml = t->yaml ? NULL : xp_render(&t->m, name, NULL, NULL, &len);
    const char *text = t->yaml ? t->yaml : yaml;
    const char *path = t->yaml ? t->file : file;
    double t0 = chk_mono_s();
    memset(j, 0, sizeof *j);
    j->sc = text ? pwss_load_mem(text, len, path, err, sizeof err) : NULL;
    free(yaml);
    j->name = strdup(j->sc && j->sc->name ? j->sc->name : name);
    j->path = strdup(path);
    if (!j->sc) {
        /* A generator bug, never the client's: said as such. */
        t->pass = false;
        t->inv = XP_INV_OTHER;
        t->headline = chk_xasprintf("explore's own scenario did not load: %s", text ? err : "out of memory");
    } else {
        chk_run_job(&x->run, slot);
        t->pass = j->pass;
        t->inv = j->pass ? XP_INV_NONE : xp_classify(&t->m, j->first);
        t->headline = j->pass ? NULL : strdup(j->first ? j->first : "failed");
        t->details = j->pass || !j->details ? NULL : strdup(j->details);
        if (!j->pass && j->client_line && t->details) {
            char *d = chk_xasprintf("%s\n%s", t->details, j->client_line);
            free(t->details);
            t->details = d;
        }
        if (t->inv == XP_INV_CLIENT_START && t->details && j->err_tail && *j->err_tail) {
            /* why it could not run is in what it printed */
            char *d = chk_xasprintf("%s\nclient stderr (its end):\n%s", t->details, j->err_tail);
            free(t->details);
            t->details = d;
        }
    }
    t->seconds = chk_mono_s() - t0;
    if (x->junit)
        judged(&t->m, j, t);
    if (t->keep) {
        *t->keep = *j;
        memset(j, 0, sizeof *j);
    }
    chk_job_clear(j); /* the slot is reused for the next scenario */
}

typedef struct worker_arg {
    explorer *x; /* the command */
    size_t slot; /* this thread's chk_job */
} worker_arg;

/* Starts nthreads workers running fn (slots 0..nthreads-1); returns how many started. */
static size_t start_workers(explorer *x, void *(*fn)(void *), size_t nthreads, pthread_t *th, worker_arg *args)
{
    size_t started = 0;
    for (size_t i = 0; i < nthreads; i++) {
        args[i] = (worker_arg){x, i};
        if (pthread_create(&th[i], NULL, fn, &args[i]) != 0)
            break;
        started++;
    }
    return started;
}

/* Waits on x->cv (x->mu held) at most XP_TICK_MS. */
static void tick_wait(explorer *x)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += XP_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&x->cv, &x->mu, &ts);
}

/* Before a line on stdout: erases the progress line if both share the terminal (the next
 * update draws it again). */
static void before_stdout(const explorer *x)
{
    if (x->meter.on && isatty(STDOUT_FILENO))
        fputs(pws_cli_meter_erase(&x->meter), stderr);
}

/* ---- a shrink round's batch: tasks[0..n) on up to --jobs threads */

static void *batch_worker(void *arg)
{
    worker_arg *w = arg;
    explorer *x = w->x;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        size_t i = x->next_task < x->ntasks ? x->next_task++ : x->ntasks;
        pthread_mutex_unlock(&x->mu);
        if (i >= x->ntasks)
            return NULL;
        run_task(x, w->slot, &x->tasks[i]);
        pthread_mutex_lock(&x->mu);
        x->finished_tasks++;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
    }
}

/* Runs tasks[0..n) on up to --jobs threads; the main thread keeps the progress line going
 * (items: base + the finished tasks); returns when all are done. */
static void run_tasks(explorer *x, xp_task *tasks, size_t n, uint64_t base)
{
    pthread_mutex_lock(&x->mu);
    x->tasks = tasks;
    x->ntasks = n;
    x->next_task = x->finished_tasks = 0;
    pthread_mutex_unlock(&x->mu);
    size_t nthreads = (size_t)x->run.jobs < n ? (size_t)x->run.jobs : n;
    pthread_t th[CHECK_MAX_JOBS];
    worker_arg args[CHECK_MAX_JOBS];
    size_t started = start_workers(x, batch_worker, nthreads, th, args);
    if (!started) {
        worker_arg self = {x, 0};
        batch_worker(&self);
    }
    pthread_mutex_lock(&x->mu);
    while (x->finished_tasks < n) {
        tick_wait(x);
        pws_cli_meter_update(&x->meter, base + x->finished_tasks, 0);
    }
    pthread_mutex_unlock(&x->mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/* ---- the exploring runs: a continuous pool, results taken in seed order */

static void *pool_worker(void *arg)
{
    worker_arg *w = arg;
    explorer *x = w->x;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (x->next >= x->stop_at)
            break;
        if (x->next >= x->taken + XP_WINDOW) { /* the ring is full of runs not taken yet */
            pthread_cond_wait(&x->cv, &x->mu);
            continue;
        }
        uint64_t i = x->next++;
        xp_task *t = &x->ring[i % XP_WINDOW];
        pthread_mutex_unlock(&x->mu);
        memset(t, 0, sizeof *t);
        xp_generate(x->seed + i, &t->m);
        run_task(x, w->slot, t);
        pthread_mutex_lock(&x->mu);
        x->ring_done[i % XP_WINDOW] = true;
        x->finished++;
        if (!t->pass && !chk_interrupted) {
            x->failed_now++;
            /* Without --keep-going nothing after the first failure (in seed order) starts; runs
             * under way finish, and only those before it are taken: the same runs as --jobs 1. */
            if ((!x->keep_going || t->inv == XP_INV_CLIENT_START) && i + 1 < x->stop_at)
                x->stop_at = i + 1;
        }
        pthread_cond_broadcast(&x->cv);
    }
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* The progress line while exploring. */
static void explore_tick(explorer *x)
{
    if (!x->meter.on)
        return;
    snprintf(x->meter.note, sizeof x->meter.note, "%" PRIu64 " failure%s found", x->failed_now,
             x->failed_now == 1 ? "" : "s");
    pws_cli_meter_update(&x->meter, x->finished, 0);
}

static void free_task(xp_task *t)
{
    free(t->headline);
    free(t->details);
    free(t->fails);
    t->headline = t->details = t->fails = NULL;
}

/* --junit: keeps what the run judged (takes t->fails). */
static void record_run(explorer *x, xp_task *t)
{
    if (!x->junit)
        return;
    if (x->nrec == x->caprec) {
        size_t cap = x->caprec ? x->caprec * 2 : 64;
        xp_record *r = realloc(x->rec, cap * sizeof *r);
        if (!r)
            return; /* the file will miss this run; said when it is written */
        x->rec = r;
        x->caprec = cap;
    }
    xp_record *r = &x->rec[x->nrec++];
    r->seed = t->m.seed;
    r->seconds = t->seconds;
    memcpy(r->state, t->state, sizeof r->state);
    r->fails = t->fails;
    t->fails = NULL;
}

/* ---------------------------------------------------------------- shrinking */

typedef struct shrink_result {
    xp_model best;          /* the smallest scenario that still breaks the invariant */
    char *headline;         /* its headline (malloc'd) */
    uint64_t tried;         /* variants run */
    uint64_t accepted;      /* variants kept (shrink steps) */
    bool cut_short;         /* the time budget or --max-shrink-runs ended it */
    bool confirmed;         /* the final scenario broke the invariant again on a re-run */
} shrink_result;

static void shrink(explorer *x, const xp_task *fail, shrink_result *r)
{
    memset(r, 0, sizeof *r);
    r->best = fail->m;
    r->headline = strdup(fail->headline ? fail->headline : "");
    static xp_model cands[XP_MAX_CANDIDATES];
    xp_task batch[CHECK_MAX_JOBS];
    /* Each round starts where the last one found its variant (the same kind of move is likely
     * to work again, and the moves before it just failed), wrapping around: a round that tries
     * every variant without finding one ends shrinking. */
    size_t start = 0;
    for (;;) {
        size_t n = xp_candidates(&r->best, cands, XP_MAX_CANDIDATES);
        if (n && start >= n)
            start = 0;
        bool found = false;
        size_t found_at = 0;
        for (size_t i = 0; i < n && !found; i += (size_t)x->run.jobs) {
            if (over_budget(x) || r->tried >= x->max_shrink) {
                r->cut_short = true;
                break;
            }
            size_t nb = n - i < (size_t)x->run.jobs ? n - i : (size_t)x->run.jobs;
            if (nb > x->max_shrink - r->tried)
                nb = (size_t)(x->max_shrink - r->tried);
            memset(batch, 0, sizeof batch);
            for (size_t k = 0; k < nb; k++)
                batch[k].m = cands[(start + i + k) % n];
            run_tasks(x, batch, nb, r->tried);
            r->tried += nb;
            for (size_t k = 0; k < nb; k++) {
                if (!found && !batch[k].pass && batch[k].inv == fail->inv) {
                    found = true;
                    found_at = (start + i + k) % n;
                    r->best = batch[k].m;
                    free(r->headline);
                    r->headline = strdup(batch[k].headline ? batch[k].headline : "");
                    r->accepted++;
                    snprintf(x->meter.note, sizeof x->meter.note, "%" PRIu64 " shrink step%s, %u steps",
                             r->accepted, r->accepted == 1 ? "" : "s", xp_size(&r->best));
                    before_stdout(x);
                    printf("  shrink step %" PRIu64 ": %u steps, %u connection(s) (%" PRIu64 " variants tried)\n",
                           r->accepted, xp_size(&r->best), r->best.nconns, r->tried);
                    fflush(stdout);
                }
                free_task(&batch[k]);
            }
        }
        if (!found || r->cut_short)
            break;
        start = found_at;
    }
}

/* Runs the written file once more (a timing accident must not pass for a minimal case); keeps
 * its job in *keep (verdicts, and the diagram with --html). */
static void confirm(explorer *x, const xp_task *fail, shrink_result *r, const char *yaml, size_t len,
                    const char *path, chk_job *keep)
{
    xp_task again = {.m = r->best, .yaml = yaml, .yaml_len = len, .file = path, .keep = keep};
    const char *report = x->run.report;
    x->run.report = x->html; /* the diagram is drawn from the journal while it exists */
    run_tasks(x, &again, 1, r->tried);
    x->run.report = report;
    r->confirmed = !again.pass && again.inv == fail->inv;
    free_task(&again);
}

/* ---------------------------------------------------------------- the file */

/* Writes the shrunk scenario to --out; prints where.  0, or -1 with a message on stderr. */
static int write_case(explorer *x, const xp_task *fail, const shrink_result *r, uint32_t from_steps, char *path,
                      size_t cap, char **yaml_out, size_t *len_out, char **desc_out)
{
    if (mkdir(x->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "polyws explore: cannot create %s: %s\n", x->out, strerror(errno));
        return -1;
    }
    const char *inv = xp_invariant_name(fail->inv);
    char name[128], desc[400];
    snprintf(name, sizeof name, "explore-%" PRIu64 "-%s", r->best.seed, inv);
    snprintf(path, cap, "%s/%s.yaml", x->out, name);
    snprintf(desc, sizeof desc, "polyws explore seed %" PRIu64 " breaks invariant %s (%s); shrunk to %u steps.",
             r->best.seed, inv, xp_invariant_rule(fail->inv), xp_size(&r->best));
    if (strlen(desc) > 300)
        desc[300] = '\0';
    /* The headline's "(explore-SEED.yaml:LINE:COLUMN)" counts lines without this header: cut it. */
    char *headline = strdup(r->headline ? r->headline : "");
    char *loc = headline ? strstr(headline, " (explore-") : NULL;
    if (loc && strchr(loc, ')') && !strchr(loc, ')')[1])
        *loc = '\0';
    char *client = chk_shell_quote(x->run.client_cmd ? x->run.client_cmd : "polyws watch (the default client)");
    char *comment = chk_xasprintf(
        "Written by polyws explore --seed %" PRIu64 " --runs 1%s%s\n"
        "Invariant broken: %s: %s.\n"
        "The judge's first cause when shrinking ended:\n  %s\n"
        "Shrunk from %u to %u steps in %" PRIu64 " shrink steps (%" PRIu64 " variants run)%s.\n"
        "Reproduce: polyws check%s%s %s",
        r->best.seed, x->run.client_cmd ? " --client " : "", x->run.client_cmd && client ? client : "", inv,
        xp_invariant_rule(fail->inv), headline ? headline : "", from_steps, xp_size(&r->best), r->accepted,
        r->tried, r->cut_short ? ", cut short by the time budget or --max-shrink-runs" : "",
        x->run.client_cmd ? " --client " : "", x->run.client_cmd && client ? client : "", path);
    free(client);
    free(headline);
    size_t len = 0;
    char *yaml = comment ? xp_render(&r->best, name, desc, comment, &len) : NULL;
    free(comment);
    if (!yaml) {
        fprintf(stderr, "polyws explore: out of memory writing %s\n", path);
        return -1;
    }
    /* The file must load as it is (it is what `polyws check` will read). */
    char err[1024] = "";
    pwss_scenario *sc = pwss_load_mem(yaml, len, path, err, sizeof err);
    pwss_free(sc);
    if (!sc) {
        fprintf(stderr, "polyws explore: the shrunk scenario does not load (a bug in explore): %s\n", err);
        free(yaml);
        return -1;
    }
    char tmp[PATH_MAX + 8];
    FILE *f = pws_cli_atomic_open("explore", path, "wb", tmp, sizeof tmp);
    if (!f || pws_cli_atomic_commit("explore", f, tmp, path, fwrite(yaml, 1, len, f) != len) != 0) {
        free(yaml);
        return -1;
    }
    *yaml_out = yaml;
    *len_out = len;
    *desc_out = strdup(desc);
    return 0;
}

/* ---------------------------------------------------------------- --junit and --html */

/* The judge's message for an invariant a run broke, from its "NAME\tmessage\n" lines (malloc'd). */
static char *fail_message(const char *fails, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = fails; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len > n && !strncmp(l, name, n) && l[n] == '\t')
            return strndup(l + n + 1, len - n - 1);
        l = end ? end + 1 : l + len;
    }
    return strdup("broken");
}

/* --junit: one testcase per invariant each run judged (classname polyws.explore.seed-S, name
 * the invariant), and one per failure found (the shrunk scenario, classname
 * polyws.explore.shrunk).  Jenkins JUnit schema, as `polyws check --junit`; written through
 * FILE.tmp and rename(2).  0, or -1 with a message on stderr. */
static int write_junit(const explorer *x, double total_s, const xp_task *fail, const shrink_result *sr,
                       const char *case_path, const char *case_yaml)
{
    char tmp[PATH_MAX];
    FILE *f = pws_cli_atomic_open("explore", x->junit, "w", tmp, sizeof tmp);
    if (!f)
        return -1;
    size_t tests = 0, failures = 0;
    for (size_t i = 0; i < x->nrec; i++)
        for (int k = 1; k < XP_INV__COUNT; k++) {
            tests += x->rec[i].state[k] != XP_J_NONE;
            failures += x->rec[i].state[k] == XP_J_FAIL;
        }
    if (fail) {
        tests++;
        failures++;
    }
    const char *client = x->run.client_cmd ? x->run.client_cmd : "polyws watch (the default client)";
    char *quoted = x->run.client_cmd ? chk_shell_quote(x->run.client_cmd) : NULL;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"polyws explore\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
            tests, failures, total_s);
    fprintf(f, "  <testsuite name=\"polyws.explore\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" "
               "time=\"%.3f\">\n",
            tests, failures, total_s);
    fprintf(f, "    <properties>\n      <property name=\"seed\" value=\"%" PRIu64 "\"/>\n"
               "      <property name=\"runs\" value=\"%zu\"/>\n      <property name=\"client\" value=\"",
            x->seed, x->nrec);
    chk_xml_attr(f, client);
    fprintf(f, "\"/>\n    </properties>\n");
    for (size_t i = 0; i < x->nrec; i++) {
        const xp_record *r = &x->rec[i];
        size_t ncases = 0;
        for (int k = 1; k < XP_INV__COUNT; k++)
            ncases += r->state[k] != XP_J_NONE;
        for (int k = 1; k < XP_INV__COUNT; k++) {
            if (r->state[k] == XP_J_NONE)
                continue;
            const char *name = xp_invariant_name((xp_invariant)k);
            fprintf(f, "    <testcase classname=\"polyws.explore.seed-%" PRIu64 "\" name=\"%s\" time=\"%.3f\">\n",
                    r->seed, name, ncases ? r->seconds / (double)ncases : 0.0);
            if (r->state[k] == XP_J_FAIL) {
                char *msg = fail_message(r->fails, name);
                fprintf(f, "      <failure type=\"invariant\" message=\"");
                chk_xml_attr(f, msg ? msg : "broken");
                fprintf(f, "\">");
                chk_xml_text(f, msg ? msg : "broken");
                fprintf(f, "\ninvariant %s: %s\nreproduce: polyws explore --seed %" PRIu64 " --runs 1%s", name,
                        xp_invariant_rule((xp_invariant)k), r->seed, quoted ? " --client " : "");
                chk_xml_text(f, quoted ? quoted : "");
                fprintf(f, "</failure>\n");
                free(msg);
            }
            fprintf(f, "      <system-out>run %zu, seed %" PRIu64 ": invariant %s (", i + 1, r->seed, name);
            chk_xml_text(f, xp_invariant_rule((xp_invariant)k));
            fprintf(f, "): %s</system-out>\n    </testcase>\n", r->state[k] == XP_J_FAIL ? "broken" : "held");
        }
    }
    if (fail) {
        const char *inv = xp_invariant_name(fail->inv);
        fprintf(f, "    <testcase classname=\"polyws.explore.shrunk\" name=\"explore-%" PRIu64 "-%s\" time=\"0\">\n"
                   "      <failure type=\"shrunk\" message=\"",
                sr->best.seed, inv);
        chk_xml_attr(f, sr->headline && *sr->headline ? sr->headline : fail->headline ? fail->headline : "failed");
        fprintf(f, "\">invariant %s: %s\nseed %" PRIu64 ", shrunk from %u to %u steps (%s on a re-run)\n", inv,
                xp_invariant_rule(fail->inv), fail->m.seed, xp_size(&fail->m), xp_size(&sr->best),
                sr->confirmed ? "reproduced" : "not reproduced");
        if (case_path) {
            fprintf(f, "scenario file: ");
            chk_xml_text(f, case_path);
            fprintf(f, "\nreproduce: polyws check%s", quoted ? " --client " : "");
            chk_xml_text(f, quoted ? quoted : "");
            fputc(' ', f);
            chk_xml_text(f, case_path);
        } else {
            fprintf(f, "(the scenario file could not be written)");
        }
        fprintf(f, "</failure>\n      <system-out>");
        chk_xml_text(f, case_yaml ? case_yaml : "(no scenario file)");
        fprintf(f, "</system-out>\n    </testcase>\n");
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    free(quoted);
    return pws_cli_atomic_commit("explore", f, tmp, x->junit, false);
}

/* --html: `polyws check --report`'s page for the written case (its confirming run: verdicts,
 * client output, sequence diagram); a page with no scenario when no run failed.  0, or -1 with
 * a message on stderr. */
static int write_html(const explorer *x, double total_s, const chk_job *j)
{
    chk_report_case c = {0};
    size_t n = 0;
    if (j && j->name) {
        c = (chk_report_case){.name = j->name, .path = j->path, .description = j->sc ? j->sc->description : NULL,
                              .pass = j->pass, .seconds = j->seconds, .headline = j->pass ? NULL : j->first,
                              .verdicts = j->rv, .nverdicts = j->nrv, .details = j->details,
                              .client_line = j->client_line, .out_tail = j->out_tail, .err_tail = j->err_tail,
                              .diagram = j->diagram};
        n = 1;
    }
    char err[512] = "";
    if (chk_report_write(x->html, "polyws explore", &c, n, total_s, err, sizeof err) != 0) {
        fprintf(stderr, "polyws explore: %s\n", err[0] ? err : "cannot write the report");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- options */

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, explorer *x)
{
    static const struct option longopts[] = {
        {"client", required_argument, NULL, 'c'},  {"runs", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},    {"time-budget", required_argument, NULL, 'b'},
        {"out", required_argument, NULL, 'o'},     {"jobs", required_argument, NULL, 'j'},
        {"max-shrink-runs", required_argument, NULL, 'm'}, {"verbose", no_argument, NULL, 'v'},
        {"print", no_argument, NULL, 'p'},         {"keep-going", no_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {"junit", required_argument, NULL, 'J'},   {"html", required_argument, NULL, 'H'},
        PWS_CLI_VERSION_LONGOPT,                   {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    uint64_t v;
    bool seeded = false;
    while ((ch = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            if (!*optarg) {
                fprintf(stderr, "polyws explore: --client needs a command\n");
                return 2;
            }
            x->run.client_cmd = optarg;
            break;
        case 'n':
            if (pws_cli_uint(optarg, 1, XP_MAX_RUNS, &v) != 0) {
                fprintf(stderr, "polyws explore: --runs needs 1..%d, not '%s'\n", XP_MAX_RUNS, optarg);
                return 2;
            }
            x->runs = v;
            break;
        case 's':
            if (parse_u64(optarg, &v) != 0) {
                fprintf(stderr, "polyws explore: --seed needs an integer 0..18446744073709551615, not '%s'\n", optarg);
                return 2;
            }
            x->seed = v;
            seeded = true;
            break;
        case 'b':
            if (pws_cli_duration_ms(optarg, 1, XP_MAX_BUDGET_MS, &x->budget_ms) != 0) {
                fprintf(stderr, "polyws explore: --time-budget needs a duration up to 24 h (250ms, 2s, 1.5s, 1m), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "polyws explore: --out needs a directory\n");
                return 2;
            }
            x->out = optarg;
            break;
        case 'j':
            if (pws_cli_uint(optarg, 1, 1000, &v) != 0) {
                fprintf(stderr, "polyws explore: --jobs needs 1..%d, not '%s'\n", CHECK_MAX_JOBS, optarg);
                return 2;
            }
            x->run.jobs = v > CHECK_MAX_JOBS ? CHECK_MAX_JOBS : (int)v;
            break;
        case 'm':
            if (pws_cli_uint(optarg, 0, 100000, &v) != 0) {
                fprintf(stderr, "polyws explore: --max-shrink-runs needs 0..100000, not '%s'\n", optarg);
                return 2;
            }
            x->max_shrink = v;
            break;
        case 'v': x->verbose = true; break;
        case 'p': x->print_only = true; break;
        case 'k': x->keep_going = true; break;
        case 'q': x->quiet = true; break;
        case 'J':
        case 'H':
            if (!*optarg) {
                fprintf(stderr, "polyws explore: --%s needs a file\n", ch == 'J' ? "junit" : "html");
                return 2;
            }
            *(ch == 'J' ? &x->junit : &x->html) = optarg;
            break;
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        case 'h': explore_usage(stdout); return 0;
        default: explore_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "polyws explore: unexpected argument '%s' (the scenarios are generated); see --help\n",
                argv[optind]);
        return 2;
    }
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x->seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) % 1000000000000u;
    }
    return -1;
}

/* ---------------------------------------------------------------- the command */

static int setup_run(explorer *x)
{
    chk_run *run = &x->run;
    if (!run->client_cmd) {
        ssize_t n = readlink("/proc/self/exe", run->self, sizeof run->self - 1);
        if (n <= 0) {
            fprintf(stderr, "polyws explore: cannot find this executable (/proc/self/exe): %s; use --client\n",
                    strerror(errno));
            return 1;
        }
        run->self[n] = '\0';
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(run->tmpdir, sizeof run->tmpdir, "%s/polyws-explore.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run->tmpdir)) {
        fprintf(stderr, "polyws explore: cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    run->job = calloc((size_t)run->jobs, sizeof *run->job);
    if (!run->job) {
        rmdir(run->tmpdir);
        fprintf(stderr, "polyws explore: out of memory\n");
        return 1;
    }
    run->njob = (size_t)run->jobs;
    run->output = PWSJ_OUTPUT_EVENTS;
    pthread_mutex_init(&run->mu, NULL);
    pthread_mutex_init(&run->mock_mu, NULL);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    return 0;
}

static void print_run(const explorer *x, uint64_t i, const xp_task *t)
{
    printf("run %" PRIu64 "/%" PRIu64 " seed %" PRIu64 ": %s (%.1f s, %u connection(s), %u steps)", i + 1, x->runs,
           t->m.seed, t->pass ? "pass" : "FAIL", t->seconds, t->m.nconns, xp_size(&t->m));
    if (!t->pass)
        printf(": invariant %s: %s", xp_invariant_name(t->inv), t->headline ? t->headline : "");
    printf("\n");
    if (!t->pass && x->verbose && t->details)
        chk_print_indented(stdout, t->details, 4);
    fflush(stdout);
}

/* --print: each run's scenario as the runs would load it. */
static int print_scenarios(const explorer *x)
{
    for (uint64_t i = 0; i < x->runs; i++) {
        xp_model m;
        xp_generate(x->seed + i, &m);
        char name[64], comment[128];
        scenario_name(&m, name, sizeof name);
        snprintf(comment, sizeof comment, "run %" PRIu64 "/%" PRIu64 ", seed %" PRIu64 ", %u steps", i + 1, x->runs,
                 m.seed, xp_size(&m));
        size_t len = 0;
        char *yaml = xp_render(&m, name, NULL, comment, &len);
        if (!yaml) {
            fprintf(stderr, "polyws explore: out of memory\n");
            return 1;
        }
        printf("%s%s", i ? "\n" : "", yaml);
        free(yaml);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int pws_cmd_explore(int argc, char **argv)
{
    static explorer x; /* static: the lws log hook keeps a pointer to x.verbose */
    memset(&x, 0, sizeof x);
    x.runs = XP_DEFAULT_RUNS;
    x.max_shrink = XP_DEFAULT_MAX_SHRINK;
    x.out = XP_DEFAULT_OUT;
    x.run.jobs = 1;
    int rc = parse_options(argc, argv, &x);
    if (rc >= 0)
        return rc;
    if (x.print_only)
        return print_scenarios(&x);
    if ((rc = setup_run(&x)) != 0)
        return rc;
    pws_set_lws_log(PWS_LOG_ERROR, lws_log_quiet, &x.verbose);
    struct sigaction sa, old[3];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = explore_on_signal;
    sigaction(SIGINT, &sa, &old[0]);
    sigaction(SIGTERM, &sa, &old[1]);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old[2]);

    printf("explore: seed %" PRIu64 ", %" PRIu64 " run(s) (seeds %" PRIu64 "..%" PRIu64 "), %d at a time, client: %s\n",
           x.seed, x.runs, x.seed, x.seed + x.runs - 1, x.run.jobs,
           x.run.client_cmd ? x.run.client_cmd : "polyws watch");
    fflush(stdout);
    x.t0 = chk_mono_s();
    xp_task fail = {0};
    bool failed = false, client_broken = false;
    uint64_t done = 0, failures = 0;
    pws_cli_meter_start(&x.meter, pws_cli_meter_wanted(x.quiet, -1), "exploring", "runs");
    x.meter.no_bytes = true;
    x.meter.items_total = x.runs;
    x.stop_at = x.runs;
    size_t nthreads = (uint64_t)x.run.jobs < x.runs ? (size_t)x.run.jobs : (size_t)x.runs;
    pthread_t th[CHECK_MAX_JOBS];
    worker_arg args[CHECK_MAX_JOBS];
    size_t started = start_workers(&x, pool_worker, nthreads, th, args);
    if (!started) {
        fprintf(stderr, "polyws explore: cannot start a thread\n");
        x.stop_at = 0;
    }
    /* Take the runs in seed order as they finish; the workers start new ones meanwhile. */
    pthread_mutex_lock(&x.mu);
    while (x.taken < x.stop_at && (x.taken < x.next || x.next < x.stop_at)) {
        if (over_budget(&x) && x.next < x.stop_at) {
            x.stop_at = x.next; /* start nothing more; the runs under way finish */
            pthread_cond_broadcast(&x.cv);
            continue;
        }
        size_t r = (size_t)(x.taken % XP_WINDOW);
        if (!x.ring_done[r]) {
            tick_wait(&x);
            explore_tick(&x);
            continue;
        }
        xp_task t = x.ring[r];
        x.ring_done[r] = false;
        x.taken++;
        pthread_cond_broadcast(&x.cv);
        pthread_mutex_unlock(&x.mu);
        if (chk_interrupted && !t.pass) {
            free_task(&t); /* "not run: interrupted" is not the client's failure */
            pthread_mutex_lock(&x.mu);
            x.stop_at = x.taken - 1;
            continue;
        }
        before_stdout(&x);
        print_run(&x, done, &t);
        record_run(&x, &t);
        done++;
        if (!t.pass) {
            failures++;
            if (!failed) {
                failed = true;
                fail = t;
                t.headline = t.details = t.fails = NULL; /* fail owns them now */
                client_broken = fail.inv == XP_INV_CLIENT_START;
            }
        }
        free_task(&t);
        pthread_mutex_lock(&x.mu);
        explore_tick(&x); /* reads the workers' counts: under x.mu */
    }
    x.stop_at = x.next < x.stop_at ? x.next : x.stop_at;
    pthread_cond_broadcast(&x.cv);
    pthread_mutex_unlock(&x.mu);
    for (size_t k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    /* Runs past the first failure that were under way when it was found: not counted. */
    for (size_t k = 0; k < XP_WINDOW; k++)
        if (x.ring_done[k])
            free_task(&x.ring[k]);
    pws_cli_meter_end(&x.meter, false);
    double explore_s = elapsed_s(&x);
    int exit_code = failed ? 1 : 0;
    shrink_result sr = {0};
    char path[PATH_MAX] = "";
    bool wrote = false;
    char *case_yaml = NULL, *case_desc = NULL;
    size_t case_len = 0;
    chk_job case_job = {0}; /* the written case's confirming run (verdicts, diagram) */
    if (client_broken) {
        fprintf(stderr, "polyws explore: the client could not be run: %s\n", fail.headline ? fail.headline : "");
        if (fail.details && !x.verbose) /* what it printed says why; -v showed it already */
            chk_print_indented(stderr, fail.details, 4);
        exit_code = 2;
    } else if (failed && !chk_interrupted) {
        uint32_t from = xp_size(&fail.m);
        printf("shrinking run seed %" PRIu64 " (%u steps), invariant %s: %s\n", fail.m.seed, from,
               xp_invariant_name(fail.inv), xp_invariant_rule(fail.inv));
        fflush(stdout);
        pws_cli_meter_start(&x.meter, x.meter.on, "shrinking", "variants");
        x.meter.no_bytes = true;
        x.meter.items_total = x.max_shrink;
        shrink(&x, &fail, &sr);
        if (!chk_interrupted) {
            if (write_case(&x, &fail, &sr, from, path, sizeof path, &case_yaml, &case_len, &case_desc) == 0) {
                wrote = true;
                confirm(&x, &fail, &sr, case_yaml, case_len, path, &case_job);
            } else {
                exit_code = 1;
            }
        }
        pws_cli_meter_end(&x.meter, false);
    }
    double total_s = elapsed_s(&x);
    if (chk_interrupted)
        printf("interrupted\n");
    printf("explore: %" PRIu64 " run(s) in %.1f s (%.1f runs/minute), %" PRIu64 " failure(s)", done, explore_s,
           explore_s > 0 ? done * 60.0 / explore_s : 0.0, failures);
    if (done < x.runs && (!failed || x.keep_going) && !chk_interrupted && !client_broken)
        printf(", stopped by the time budget");
    printf("\n");
    if (failed && !client_broken && !chk_interrupted) {
        printf("shrink: %" PRIu64 " shrink step(s), %" PRIu64 " variant(s) run, %u -> %u steps, %u connection(s)%s; "
               "%s on a re-run of the file; %.1f s in all\n",
               sr.accepted, sr.tried, xp_size(&fail.m), xp_size(&sr.best), sr.best.nconns,
               sr.cut_short ? " (cut short)" : "",
               !wrote ? "not re-run" : sr.confirmed ? "reproduced" : "NOT reproduced", total_s);
        if (wrote)
            printf("wrote %s: invariant %s; polyws check%s %s reproduces it (the command is in its header)\n", path,
                   xp_invariant_name(fail.inv), x.run.client_cmd ? " --client CMD" : "", path);
    }
    fflush(stdout);
    if (chk_interrupted && exit_code == 0)
        exit_code = 1;
    if (!client_broken && x.junit &&
        write_junit(&x, total_s, failed && !chk_interrupted ? &fail : NULL, &sr, wrote ? path : NULL, case_yaml) != 0 &&
        exit_code == 0)
        exit_code = 1;
    if (!client_broken && x.html && write_html(&x, total_s, wrote ? &case_job : NULL) != 0 && exit_code == 0)
        exit_code = 1;

    for (size_t i = 0; i < x.nrec; i++)
        free(x.rec[i].fails);
    free(x.rec);
    free(case_yaml);
    free(case_desc);
    chk_job_clear(&case_job);
    free(sr.headline);
    free_task(&fail);
    rmdir(x.run.tmpdir);
    free(x.run.job);
    pthread_mutex_destroy(&x.run.mu);
    pthread_mutex_destroy(&x.run.mock_mu);
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.cv);
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    sigaction(SIGINT, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
    sigaction(SIGPIPE, &old[2], NULL);
    return exit_code;
}
