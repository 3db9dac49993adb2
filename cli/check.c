/*
 * check.c - `polyws check`: runs YAML scenarios against any client command.
 *
 * This file is the command: its options, finding the scenario files (a DIR
 * means every *.yaml below it), loading them, keeping one --shard, then
 * running them (check_run.c) and writing the results (check_output.c): one
 * line per scenario, then "N passed, M failed", and the JUnit and HTML
 * reports if asked.
 *
 * Tape mode (--tape) is in check_tape.c; the helpers and the client runner
 * both modes use are in check_common.c (see check_common.h).
 */
#include "check_common.h"
#include "check_run.h"
#include "commands.h"

#include <polyws/judge.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define CHECK_MAX_SCENARIOS 100000   /* scenario files in one run */
#define CHECK_MAX_SHARDS 1000        /* --shard I/N: N at most */

/* SIGINT/SIGTERM: sets chk_interrupted. */
static void check_on_signal(int sig)
{
    chk_interrupted = sig;
}

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
            "                     (default: the scenario's client.timeout, else 30)\n"
            "  -v, --verbose      every verdict, and the client's end, for passes too\n"
            "      --live         the client writes straight to this terminal (to watch\n"
            "                     it, e.g. a live table); its output is not captured, so\n"
            "                     output_equals/output_matches fail; implies --jobs 1\n"
            "  -h, --help         this help\n"
            "      --version      print the version and exit\n"
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
            "A reader of stdout that goes away (`polyws check DIR | head -n 3`) stops the\n"
            "run: the scenarios left are not run, and the status is that of those run.\n"
            "\n"
            "Exit status:\n"
            "  0  every scenario run passed (all of them, unless the reader of stdout went away)\n"
            "  1  a scenario failed, or could not be loaded or run; --junit or --report\n"
            "     could not be written; stdout could not be written\n"
            "  2  bad usage (an unknown option, a bad value, no scenario, a missing file)\n",
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
static int load_all(chk_run *run, pathlist *paths)
{
    run->job = calloc(paths->n ? paths->n : 1, sizeof *run->job);
    if (!run->job)
        return -1;
    run->njob = paths->n;
    for (size_t i = 0; i < paths->n; i++) {
        chk_job *j = &run->job[i];
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
            chk_job_fail(j, "%s", err[0] ? err : "cannot load the scenario");
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

static void free_run(chk_run *run)
{
    for (size_t i = 0; i < run->njob; i++)
        chk_job_clear(&run->job[i]);
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
static void keep_shard(chk_run *run)
{
    size_t kept = 0;
    for (size_t i = 0; i < run->njob; i++) {
        chk_job *j = &run->job[i];
        if (shard_of(j->name, run->nshards) == run->shard) {
            run->job[kept++] = *j;
            continue;
        }
        chk_job_clear(j);
    }
    run->njob = kept;
}

/* Silences libwebsockets (the mock's lws context) unless --verbose. */
static void lws_log_quiet(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    if (*(const bool *)user)
        fprintf(stderr, "polyws check: lws: %s\n", msg);
}

/* ---------------------------------------------------------------- the command */

/* True if --tape is anywhere on the command line: tape mode (check_tape.c). */
static bool tape_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tape") || !strncmp(argv[i], "--tape=", 7))
            return true;
    return false;
}

static int run_tape_mode(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    static bool quiet_lws = false;
    pws_set_lws_log(PWS_LOG_ERROR, lws_log_quiet, &quiet_lws);
    return chk_tape_mode(argc, argv, self);
}

/* Reads the options into run (the scenarios start at argv[optind]); -1 to go on, else the exit
 * code (0 after --help, 2 on bad usage). */
static int parse_options(int argc, char **argv, chk_run *run)
{
    static const struct option longopts[] = {
        {"client", required_argument, NULL, 'c'}, {"junit", required_argument, NULL, 'J'},
        {"jobs", required_argument, NULL, 'j'},   {"journal", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"live", no_argument, NULL, 'V'},        {"client-output", required_argument, NULL, 'O'},
        {"report", required_argument, NULL, 'R'}, {"shard", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         PWS_CLI_VERSION_LONGOPT,
        {NULL, 0, NULL, 0}};
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
            run->client_cmd = optarg;
            break;
        case 'J': run->junit = optarg; break;
        case 'L': run->journal_dir = optarg; break;
        case 'j': {
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > 1000) {
                fprintf(stderr, "polyws check: --jobs needs 1..%d, not '%s'\n", CHECK_MAX_JOBS, optarg);
                return 2;
            }
            run->jobs = n > CHECK_MAX_JOBS ? CHECK_MAX_JOBS : (int)n;
            break;
        }
        case 't':
            run->timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(run->timeout_s > 0) || run->timeout_s > CHECK_MAX_TIMEOUT_S) {
                fprintf(stderr, "polyws check: --timeout needs positive seconds up to %.0f, not '%s'\n",
                        CHECK_MAX_TIMEOUT_S, optarg);
                return 2;
            }
            break;
        case 'v': run->verbose = true; break;
        case 'V': run->live = true; break;
        case 'O':
            if (!strcmp(optarg, "events"))
                run->output = PWSJ_OUTPUT_EVENTS;
            else if (!strcmp(optarg, "none"))
                run->output = PWSJ_OUTPUT_NONE;
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
            run->report = optarg;
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
            run->shard = i;
            run->nshards = n;
            break;
        }
        case 'h': check_usage(stdout); return pws_cli_stdout_done("check", 0);
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        default: check_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "polyws check: no scenario given (files or directories); see --help\n");
        return 2;
    }
    return -1;
}

/* --journal DIR: created if missing, and a directory.  0, or the exit code. */
static int prepare_journal_dir(const chk_run *run)
{
    if (!run->journal_dir)
        return 0;
    struct stat st;
    if (stat(run->journal_dir, &st) != 0 && mkdir(run->journal_dir, 0755) != 0) {
        fprintf(stderr, "polyws check: cannot create --journal directory %s: %s\n", run->journal_dir,
                strerror(errno));
        return 2;
    }
    if (stat(run->journal_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "polyws check: --journal %s is not a directory\n", run->journal_dir);
        return 2;
    }
    return 0;
}

/* This executable, for the default client (without --client).  0, or the exit code. */
static int find_self(chk_run *run)
{
    if (run->client_cmd)
        return 0;
    ssize_t n = readlink("/proc/self/exe", run->self, sizeof run->self - 1);
    if (n <= 0) {
        fprintf(stderr, "polyws check: cannot find this executable (/proc/self/exe): %s; use --client\n",
                strerror(errno));
        return 1;
    }
    run->self[n] = '\0';
    return 0;
}

/* The scenarios named by argv[first..argc-1] (files, or directories scanned for *.yaml), loaded
 * into run->job and cut to --shard.  0, or the exit code (run->job is then freed). */
static int load_scenarios(chk_run *run, int argc, char **argv, int first)
{
    pathlist paths = {0};
    int rc = 0;
    for (int i = first; i < argc && rc == 0; i++) {
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
    if (rc == 0 && load_all(run, &paths) != 0) {
        fprintf(stderr, "polyws check: out of memory\n");
        rc = 1;
    }
    if (rc == 0 && run->nshards)
        keep_shard(run);
    for (size_t i = 0; i < paths.n; i++)
        free(paths.v[i]);
    free(paths.v);
    if (rc)
        free_run(run);
    return rc;
}

/* The directory the clients' output files live in during the run.  0, or the exit code. */
static int make_tmpdir(chk_run *run)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(run->tmpdir, sizeof run->tmpdir, "%s/polyws-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run->tmpdir)) {
        fprintf(stderr, "polyws check: cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

/* SIGINT and SIGTERM stop the run (check_on_signal), SIGPIPE is ignored; old[] keeps what was
 * there for restore_signals. */
static void catch_signals(struct sigaction old[3])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = check_on_signal;
    sigaction(SIGINT, &sa, &old[0]);
    sigaction(SIGTERM, &sa, &old[1]);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old[2]);
}

static void restore_signals(const struct sigaction old[3])
{
    sigaction(SIGINT, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
    sigaction(SIGPIPE, &old[2], NULL);
}

int pws_cmd_check(int argc, char **argv)
{
    if (tape_asked(argc, argv))
        return run_tape_mode(argc, argv);
    static chk_run run; /* static: the lws log hook keeps a pointer to run.verbose */
    memset(&run, 0, sizeof run);
    run.jobs = 1;
    int rc = parse_options(argc, argv, &run);
    if (rc >= 0)
        return rc;
    if ((rc = prepare_journal_dir(&run)) != 0 || (rc = find_self(&run)) != 0)
        return rc;
    if ((rc = load_scenarios(&run, argc, argv, optind)) != 0)
        return rc;
    if ((rc = make_tmpdir(&run)) != 0) {
        free_run(&run);
        return rc;
    }

    pws_set_lws_log(PWS_LOG_ERROR, lws_log_quiet, &run.verbose);
    struct sigaction old_signals[3];
    catch_signals(old_signals);
    pthread_mutex_init(&run.mu, NULL);
    pthread_mutex_init(&run.mock_mu, NULL);
    double t0 = chk_mono_s();
    if (run.live)
        run.jobs = 1; /* one client at a time on the terminal */
    run.progress = !run.live && isatty(STDOUT_FILENO);
    if (run.nshards && !run.njob) {
        printf("shard %u/%u holds none of the scenarios\n", run.shard, run.nshards);
    }
    chk_run_all(&run);
    double total = chk_mono_s() - t0;

    size_t failed = chk_print_totals(&run);
    bool files_failed = false; /* --junit or --report could not be written */
    if (run.junit && chk_write_junit(&run, total, failed) != 0)
        files_failed = true;
    if (run.report && chk_write_report(&run, total) != 0)
        files_failed = true;
    int exit_code = failed || files_failed ? 1 : 0;
    /* stdout that cannot be written is 1; its reader going away (like git and curl) is no error,
     * but the verdict of the scenarios run stands: a failure is never hidden behind a pipe */
    if (pws_cli_stdout_done("check", run.out_errno)) {
        exit_code = 1;
    } else if (run.out_errno || ferror(stdout)) {
        size_t failed_run = 0; /* the reader went away: the scenarios left are not failures */
        for (size_t i = 0; i < run.njob; i++)
            failed_run += !run.job[i].pass && !run.job[i].not_run;
        exit_code = failed_run || files_failed ? 1 : 0;
    }

    rmdir(run.tmpdir);
    pthread_mutex_destroy(&run.mu);
    pthread_mutex_destroy(&run.mock_mu);
    free_run(&run);
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    restore_signals(old_signals);
    return exit_code;
}
