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
 */
#include "commands.h"

#include <polyws/judge.h>
#include <polyws/replay.h>
#include <polyws/tape.h>
#include <cjson/cJSON.h>
#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK_MAX_JOBS 16            /* --jobs cap */
#define CHECK_MAX_SCENARIOS 100000   /* scenario files in one run */
#define CHECK_DEFAULT_TIMEOUT_MS 30000u /* client timeout when the scenario sets none */
#define CHECK_MAX_TIMEOUT_S 86400.0  /* --timeout cap */
#define CHECK_KILL_GRACE_MS 2000     /* SIGTERM, then SIGKILL after this */
#define CHECK_SETTLE_MS 2000         /* wait this long at most for the server to journal the last close */
#define CHECK_POLL_MS 10             /* client exit polling period */
#define CHECK_TAIL_LINES 10          /* client stderr lines shown under a failure */
#define CHECK_TAIL_LINE_BYTES 200    /* bytes of each of them */
#define CHECK_JUNIT_TAIL_BYTES 16384 /* bytes of client stdout/stderr kept in JUnit */
#define CHECK_BASE_BACKOFF_MS 100u   /* default POLYWS_BACKOFF_MS hint */
#define CHECK_SECRET_MIN 4           /* shorter scenario keys are not scrubbed (they would mangle text) */
#define CHECK_MARKET_PATH "/stocks"  /* path appended to the mock's URL */

extern char **environ;

/* Set by SIGINT/SIGTERM: running clients are stopped, pending scenarios are not started. */
static volatile sig_atomic_t check_interrupted;

static void check_on_signal(int sig)
{
    check_interrupted = sig;
}

/* One scenario of the run. */
typedef struct job {
    char *path;              /* scenario file as given or found */
    pwss_scenario *sc;       /* loaded scenario, NULL if it failed to load */
    char *name;              /* scenario name (file base name without .yaml if it failed to load) */
    char *journal_file;      /* --journal DIR/<name>.jsonl, or NULL */
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
    char self[PATH_MAX];     /* this executable, for the default client */
    char tmpdir[PATH_MAX];   /* client output files live here during the run */
    job *job;                /* the scenarios, in order */
    size_t njob;             /* entries in job */
    pthread_mutex_t mu;      /* guards next, job[].done/printed and stdout */
    size_t next;             /* next job to start */
    size_t next_print;       /* next job to print */
    pthread_mutex_t mock_mu; /* serializes pwsm_start/pwsm_stop (lws context setup is not thread-safe) */
} check_run;

/* ---------------------------------------------------------------- small helpers */

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
            "      --junit FILE   also write a JUnit XML report\n"
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
            "(wss), POLYWS_COUNT / POLYWS_DURATION / POLYWS_HEARTBEAT_MS (if the scenario\n"
            "sets them) and POLYWS_BACKOFF_MS (a hint); other POLYWS_* variables are\n"
            "removed.  The API key is never printed.  See docs/check.md.\n"
            "\n"
            "Exit status: 0 if every scenario passed, 1 if any failed (or could not be\n"
            "loaded or run), 2 on bad usage.\n",
            CHECK_MAX_JOBS);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Growable text; an allocation failure leaves it NULL-safe and marks it. */
typedef struct text {
    char *p;    /* NUL-terminated, or NULL while empty */
    size_t len; /* bytes */
    bool oom;   /* an append failed */
} text;

static void text_put(text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    char *p = realloc(t->p, t->len + n + 1);
    if (!p) {
        t->oom = true;
        return;
    }
    memcpy(p + t->len, s, n);
    t->len += n;
    p[t->len] = '\0';
    t->p = p;
}

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->oom = true;
        return;
    }
    text_put(t, s, (size_t)n);
    free(s);
}

/* Replaces every occurrence of each secret (NULL-terminated list) in s, in place
 * (the replacement "***" is never longer than a secret of CHECK_SECRET_MIN bytes). */
static void scrub_inplace(char *s, const char *const *secrets)
{
    if (!s)
        return;
    for (size_t k = 0; secrets[k]; k++) {
        size_t n = strlen(secrets[k]);
        if (n < CHECK_SECRET_MIN)
            continue;
        char *hit;
        while ((hit = strstr(s, secrets[k])) != NULL) {
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + n, strlen(hit + n) + 1);
        }
    }
}

/* Single-quotes s for /bin/sh. */
static char *shell_quote(const char *s)
{
    text t = {0};
    text_put(&t, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            text_put(&t, "'\\''", 4);
        else
            text_put(&t, s, 1);
    }
    text_put(&t, "'", 1);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* Length of the valid UTF-8 sequence at s (n bytes available, n >= 1): 1 for ASCII, 2..4,
 * or 0 if the bytes there are not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t seq = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!seq || seq > n)
        return 0;
    uint32_t cp = seq == 2 ? s[0] & 0x1F : seq == 3 ? s[0] & 0x0F : s[0] & 0x07;
    for (size_t k = 1; k < seq; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[seq] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return seq;
}

/* The last max_lines lines (at most max_bytes from the end) of a file, NULL if it is empty
 * or unreadable.  The text is scrubbed of secrets; control bytes other than '\n' and '\t'
 * and invalid UTF-8 become '?' so it is safe for a terminal and for XML. */
static char *file_tail(const char *path, size_t max_bytes, int max_lines, const char *const *secrets)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    /* Read a little more than max_bytes so a secret cut at the window start is still found. */
    size_t window = max_bytes + 4096;
    if (fseeko(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    off_t size = ftello(f);
    off_t start = size > (off_t)window ? size - (off_t)window : 0;
    if (size <= 0 || fseeko(f, start, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)(size - start);
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, n, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '?'; /* so strstr-based scrubbing sees the whole text */
    scrub_inplace(buf, secrets);
    n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    /* Keep the last max_lines lines and at most max_bytes. */
    size_t from = n > max_bytes ? n - max_bytes : 0;
    int lines = 0;
    for (size_t i = n; i > from; i--) {
        if (buf[i - 1] == '\n' && ++lines == max_lines) {
            from = i;
            break;
        }
    }
    /* Do not start in the middle of a UTF-8 sequence. */
    while (from < n && ((unsigned char)buf[from] & 0xC0) == 0x80)
        from++;
    char *out = malloc(n - from + 1);
    if (!out) {
        free(buf);
        return NULL;
    }
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)buf;
    for (size_t i = from; i < n;) {
        unsigned char c = u[i];
        size_t seq = utf8_len(u + i, n - i);
        bool ok = seq > 1 || (seq == 1 && (c >= 0x20 || c == '\n' || c == '\t') && c != 0x7f);
        if (!ok)
            seq = 1;
        if (ok) {
            memcpy(out + o, u + i, seq);
            o += seq;
        } else {
            out[o++] = '?';
        }
        i += seq;
    }
    out[o] = '\0';
    free(buf);
    if (!o) {
        free(out);
        return NULL;
    }
    return out;
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
        char *p = xasprintf("%s%s%s", dir, ends_with(dir, "/") ? "" : "/", de->d_name);
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

/* ---------------------------------------------------------------- the client */

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

/* Builds the client's environment: the inherited one without POLYWS_*, plus extra. */
static char **client_env(char *const *extra)
{
    size_t n = 0, k = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (char *const *x = extra; *x; x++)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env)
        return NULL;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "POLYWS_", 7) != 0)
            env[k++] = *e;
    for (char *const *x = extra; *x; x++)
        env[k++] = *x;
    env[k] = NULL;
    return env;
}

typedef struct client_run {
    pwsj_client r;          /* for the judge */
    double seconds;         /* how long it ran */
    char start_error[256];  /* backing store for r.start_error */
} client_run;

/* Runs cmd with /bin/sh -c in its own process group until it exits or the timeout passes
 * (then SIGTERM, SIGKILL after the grace period).  Whatever it leaves in its process group
 * is killed too.  Never returns before the process was reaped. */
static void run_client(const char *cmd, char **env, const char *out_path, const char *err_path,
                       uint32_t timeout_ms, client_run *cr, bool (*stop_early)(void *), void *stop_arg)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_path) /* NULL (--live): the client inherits our stdout and stderr */
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err_path)
        posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    int defsigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD};
    for (size_t i = 0; i < sizeof defsigs / sizeof defsigs[0]; i++)
        sigaddset(&defaults, defsigs[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    double t0 = mono_s();
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    cr->r.timeout_ms = timeout_ms;
    if (rc != 0) {
        snprintf(cr->start_error, sizeof cr->start_error, "/bin/sh: %s", strerror(rc));
        cr->r.start_error = cr->start_error;
        return;
    }
    cr->r.started = true;
    double deadline = t0 + timeout_ms / 1000.0, kill_at = 0;
    bool termed = false;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* WNOWAIT: the exited leader stays a zombie, so its pid (= the group id) cannot be
         * reused before the group is killed below. */
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            break;
        double now = mono_s();
        bool early = !termed && stop_early && stop_early(stop_arg);
        if (!termed && (now >= deadline || check_interrupted || early)) {
            cr->r.timed_out = !check_interrupted && !early;
            cr->r.interrupted = check_interrupted != 0;
            kill(-pid, SIGTERM);
            termed = true;
            kill_at = now + CHECK_KILL_GRACE_MS / 1000.0;
        } else if (termed && kill_at && now >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = 0;
        }
        sleep_ms(CHECK_POLL_MS);
    }
    kill(-pid, SIGKILL); /* anything it left behind in its group */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    cr->seconds = mono_s() - t0;
    if (WIFEXITED(status)) {
        cr->r.exited = true;
        cr->r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        cr->r.term_signal = WTERMSIG(status);
    }
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
    double deadline = mono_s() + CHECK_SETTLE_MS / 1000.0;
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
        double left = deadline - mono_s();
        if (open <= 0 || left <= 0)
            return;
        pwsm_wait_from(srv, seen, any_entry, NULL, (int)(left * 1000) + 1, NULL);
    }
}

/* ---------------------------------------------------------------- one scenario */

static void job_fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_fail(job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    j->pass = false;
    free(j->first);
    j->first = s ? s : strdup("failed (and out of memory describing why)");
}

static void random_key(char *buf, size_t cap)
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof r) {
        /* No entropy source: still unique enough per run for a loopback test key. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40;
        for (size_t i = 0; i < sizeof r; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            r[i] = (unsigned char)(x >> 56);
    }
    size_t o = (size_t)snprintf(buf, cap, "pwscheck-");
    for (size_t i = 0; i < sizeof r && o + 2 < cap; i++, o += 2)
        snprintf(buf + o, cap - o, "%02x", r[i]);
}

static void run_job(check_run *run, size_t idx)
{
    job *j = &run->job[idx];
    const pwss_scenario *sc = j->sc;
    double t0 = mono_s();
    j->pass = false;
    if (!sc) {
        j->seconds = 0;
        return; /* load error: first was set at load time */
    }
    if (check_interrupted) {
        job_fail(j, "not run: interrupted");
        return;
    }

    /* The key: the scenario's first, else a fresh random one. */
    char generated[64];
    random_key(generated, sizeof generated);
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
        j->seconds = mono_s() - t0;
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
    vars[nv++] = xasprintf("POLYWS_URL=%s%s", pwsm_url(srv), CHECK_MARKET_PATH);
    vars[nv++] = xasprintf("POLYWS_API_KEY=%s", key);
    vars[nv++] = xasprintf("POLYWS_SUBSCRIBE=%s", c->subscribe && *c->subscribe ? c->subscribe : "A.AAPL");
    vars[nv++] = xasprintf("POLYWS_BACKOFF_MS=%u", backoff);
    if (pwsm_ca_file(srv))
        vars[nv++] = xasprintf("POLYWS_CA_FILE=%s", pwsm_ca_file(srv));
    if (count_s[0])
        vars[nv++] = xasprintf("POLYWS_COUNT=%s", count_s);
    if (duration_s[0])
        vars[nv++] = xasprintf("POLYWS_DURATION=%s", duration_s);
    if (c->heartbeat_ms)
        vars[nv++] = xasprintf("POLYWS_HEARTBEAT_MS=%u", c->heartbeat_ms);
    bool oom = false;
    for (size_t i = 0; i < nv; i++)
        oom |= !vars[i];
    char **env = oom ? NULL : client_env(vars);

    char *cmd = NULL;
    if (run->client_cmd) {
        cmd = strdup(run->client_cmd);
    } else {
        char *self = shell_quote(run->self);
        if (self)
            cmd = xasprintf("exec %s watch -q --format jsonl --backoff-ms %u%s%s%s%s", self, backoff,
                            count_s[0] ? " --count " : "", count_s, duration_s[0] ? " --duration " : "",
                            duration_s);
        free(self);
    }
    char *out_path = xasprintf("%s/%zu.out", run->tmpdir, idx);
    char *err_path = xasprintf("%s/%zu.err", run->tmpdir, idx);

    client_run cr;
    memset(&cr, 0, sizeof cr);
    if (!env || !cmd || !out_path || !err_path) {
        job_fail(j, "out of memory");
    } else {
        uint32_t timeout_ms = run->timeout_s > 0 ? (uint32_t)(run->timeout_s * 1000)
                              : c->timeout_ms    ? c->timeout_ms
                                                 : CHECK_DEFAULT_TIMEOUT_MS;
        run_client(cmd, env, run->live ? NULL : out_path, run->live ? NULL : err_path, timeout_ms, &cr,
                   NULL, NULL);
        settle(srv);
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
            text v = {0};
            for (size_t i = 0; i < rep.nverdicts; i++)
                if (rep.verdicts[i].pass) /* failures are in the details */
                    text_printf(&v, "%sok: %s", v.len ? "\n" : "", rep.verdicts[i].message);
            j->verdicts = v.oom ? (free(v.p), NULL) : v.p;
            text d = {0};
            if (!rep.pass && rep.details && *rep.details)
                text_printf(&d, "%s", rep.details);
            j->details = d.p;
            pwsj_report_free(&rep);
        }
        /* How the client ended, and its stderr tail for failures. */
        const char *stopped = cr.r.timed_out     ? " (stopped at the timeout)"
                              : cr.r.interrupted ? " (stopped: the run was interrupted)"
                                                 : "";
        text cl = {0};
        if (!cr.r.started)
            text_printf(&cl, "client: not started: %s", cr.r.start_error);
        else if (cr.r.exited)
            text_printf(&cl, "client: exited with %d after %.1f s%s", cr.r.exit_code, cr.seconds, stopped);
        else
            text_printf(&cl, "client: killed by signal %d (SIG%s) after %.1f s%s", cr.r.term_signal,
                        sigabbrev_np(cr.r.term_signal) ? sigabbrev_np(cr.r.term_signal) : "?", cr.seconds,
                        stopped);
        j->client_line = cl.oom ? (free(cl.p), NULL) : cl.p;
        j->out_tail = file_tail(out_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
        j->err_tail = file_tail(err_path, CHECK_JUNIT_TAIL_BYTES, 1 << 30, secrets);
    }
    if (out_path)
        unlink(out_path);
    if (err_path)
        unlink(err_path);
    free(out_path);
    free(err_path);
    free(cmd);
    free(env);
    for (size_t i = 0; i < nv; i++)
        free(vars[i]);
    pthread_mutex_lock(&run->mock_mu);
    pwsm_stop(srv);
    pthread_mutex_unlock(&run->mock_mu);
    /* Belt and braces: nothing this command prints may contain a key. */
    scrub_inplace(j->first, secrets);
    scrub_inplace(j->details, secrets);
    scrub_inplace(j->verdicts, secrets);
    j->seconds = mono_s() - t0;
}

/* ---------------------------------------------------------------- printing */

/* Prints text with every line indented. */
static void print_indented(FILE *f, const char *s, int indent)
{
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, s);
        s = nl ? nl + 1 : s + n;
    }
}

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

static void print_job(const check_run *run, const job *j)
{
    printf("%s %s (%.1f s)%s%s\n", j->pass ? "PASS" : "FAIL", j->name, j->seconds, j->pass ? "" : ": ",
           j->pass ? "" : j->first ? j->first : "failed");
    if (run->verbose && j->verdicts)
        print_indented(stdout, j->verdicts, 4);
    if (!j->pass && j->details)
        print_indented(stdout, j->details, 4);
    if ((!j->pass || run->verbose) && j->client_line)
        print_indented(stdout, j->client_line, 4);
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
}

static void *worker(void *arg)
{
    check_run *run = arg;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        size_t i = run->next < run->njob ? run->next++ : run->njob;
        pthread_mutex_unlock(&run->mu);
        if (i >= run->njob)
            return NULL;
        run_job(run, i);
        pthread_mutex_lock(&run->mu);
        run->job[i].done = true;
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
        size_t seq = utf8_len(u + i, n - i);
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
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"polyws check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
            run->njob, failed, total_s);
    fprintf(f, "  <testsuite name=\"polyws.scenarios\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
               "skipped=\"0\" time=\"%.3f\">\n",
            run->njob, failed, total_s);
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
        if (j->out_tail) {
            fprintf(f, "      <system-out>");
            xml_text(f, j->out_tail);
            fprintf(f, "</system-out>\n");
        }
        if (j->err_tail) {
            fprintf(f, "      <system-err>");
            xml_text(f, j->err_tail);
            fprintf(f, "</system-err>\n");
        }
        fprintf(f, "    </testcase>\n");
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
            j->journal_file = dup > 1 ? xasprintf("%s/%s.%d.jsonl", run->journal_dir, safe, dup)
                                      : xasprintf("%s/%s.jsonl", run->journal_dir, safe);
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
    }
    free(run->job);
    run->job = NULL;
    run->njob = 0;
}

/* Silences libwebsockets (the mock's lws context) unless --verbose. */
static void lws_log_quiet(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    if (*(const bool *)user)
        fprintf(stderr, "polyws check: lws: %s\n", msg);
}

/* ------------------------------------------------------------- tape mode */

/* What the client needs to know about a tape: the channels connection 1
 * subscribed (as recorded, comma-separated) and how many market-data events
 * the server side carries (so a client can stop by count). */
typedef struct tape_facts {
    char subscribe[4096];    /* first subscribe params on connection 1, "" if none */
    uint64_t events;         /* A/AM/T/Q/other events in server text frames */
    uint32_t connections;    /* highest connection ordinal */
} tape_facts;

static int count_market(const pws_event *ev, void *user)
{
    uint64_t *n = user;
    if (ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE ||
        ev->type == PWS_EV_OTHER)
        (*n)++;
    return 0;
}

static int tape_scan(const char *path, tape_facts *tf, char *err, size_t errcap)
{
    memset(tf, 0, sizeof *tf);
    pws_tape_reader *r;
    if (pws_tape_reader_open(path, &r, err, errcap) != 0)
        return -1;
    pws_tape_frame f;
    int rc;
    while ((rc = pws_tape_next(r, &f)) == 1) {
        if (f.conn > tf->connections)
            tf->connections = f.conn;
        if (f.kind != PWS_TAPE_TEXT)
            continue;
        if (f.dir == 's') {
            pws_parse_frame((const char *)f.data, f.len, NULL, count_market, &tf->events);
        } else if (f.dir == 'c' && f.conn == 1 && !tf->subscribe[0]) {
            cJSON *j = cJSON_ParseWithLength((const char *)f.data, f.len);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "action");
            const cJSON *prm = cJSON_GetObjectItemCaseSensitive(j, "params");
            if (cJSON_IsString(a) && !strcmp(a->valuestring, "subscribe") && cJSON_IsString(prm))
                snprintf(tf->subscribe, sizeof tf->subscribe, "%s", prm->valuestring);
            cJSON_Delete(j);
        }
    }
    if (rc < 0)
        snprintf(err, errcap, "%s", pws_tape_reader_error(r));
    pws_tape_reader_close(r);
    return rc < 0 ? -1 : 0;
}

/* Reads a whole file (at most max bytes); NULL if unreadable or larger. */
static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *nb = cap > max + 65537 ? NULL : realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* First differing line of two texts: its 1-based number, and both lines. */
static size_t first_diff_line(const char *a, size_t alen, const char *b, size_t blen,
                              const char **la, size_t *lla, const char **lb, size_t *llb)
{
    size_t line = 1, i = 0, sa = 0, sb = 0;
    while (i < alen && i < blen && a[i] == b[i]) {
        if (a[i] == '\n') {
            line++;
            sa = sb = i + 1;
        }
        i++;
    }
    const char *ea = memchr(a + sa, '\n', alen - sa), *eb = memchr(b + sb, '\n', blen - sb);
    *la = a + sa;
    *lla = (ea ? (size_t)(ea - a) : alen) - sa;
    *lb = b + sb;
    *llb = (eb ? (size_t)(eb - b) : blen) - sb;
    return line;
}

static void tape_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws check --tape TAPE --golden EXPECTED.jsonl [options]\n"
            "\n"
            "Deterministic regression run: replays the server side of TAPE (polyws record)\n"
            "to the client and compares the client's stdout with EXPECTED byte for byte.\n"
            "\n"
            "      --client CMD       client under test (default: this polyws's\n"
            "                         `watch -q --format jsonl`)\n"
            "      --update-golden    write the client's output to EXPECTED instead\n"
            "      --speed X          replay speed: max (default), 1 = recorded timing, N\n"
            "      --subscribe LIST   POLYWS_SUBSCRIBE (default: what the tape's first\n"
            "                         connection subscribed)\n"
            "      --timeout S        client timeout in seconds (default 60)\n"
            "\n"
            "The client gets POLYWS_URL, POLYWS_API_KEY (a throwaway: tapes hold no key),\n"
            "POLYWS_SUBSCRIBE and POLYWS_COUNT (the market-data events on the tape).  A\n"
            "client that deviates from the recorded messages fails with expected vs got.\n"
            "Last line: \"N passed, M failed\".  Exit 0 on a match, 1 otherwise, 2 on usage.\n");
}

static void replay_log_silent(pws_log_level level, const char *msg, void *user)
{
    (void)level, (void)msg, (void)user;
}

/* A client that deviated from the tape will not get further: stop it at once. */
static bool replay_deviated(void *arg)
{
    pwsr_replay_result res;
    pwsr_replay_get_result(arg, &res);
    return res.deviations > 0;
}

static int check_tape(int argc, char **argv, const char *self)
{
    static const struct option longopts[] = {
        {"tape", required_argument, NULL, 'T'},   {"golden", required_argument, NULL, 'G'},
        {"update-golden", no_argument, NULL, 'U'}, {"client", required_argument, NULL, 'c'},
        {"speed", required_argument, NULL, 'S'},  {"subscribe", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *tape = NULL, *golden = NULL, *client_cmd = NULL, *subscribe = NULL;
    bool update = false;
    double speed = -1, timeout_s = 60;
    char *end;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'T': tape = optarg; break;
        case 'G': golden = optarg; break;
        case 'U': update = true; break;
        case 'c': client_cmd = optarg; break;
        case 's': subscribe = optarg; break;
        case 'S':
            if (!strcmp(optarg, "max")) {
                speed = -1;
            } else {
                speed = strtod(optarg, &end);
                if (*end || !(speed > 0) || speed > 1e6) {
                    fprintf(stderr, "polyws check: --speed needs max or a positive factor, not '%s'\n", optarg);
                    return 2;
                }
            }
            break;
        case 't':
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0) || timeout_s > CHECK_MAX_TIMEOUT_S) {
                fprintf(stderr, "polyws check: --timeout needs positive seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': tape_usage(stdout); return 0;
        default: tape_usage(stderr); return 2;
        }
    }
    if (!tape || !golden || optind < argc) {
        fprintf(stderr, "polyws check: --tape needs --golden FILE and no scenario arguments; see "
                        "`polyws check --tape X --help`\n");
        return 2;
    }
    double t0 = mono_s();
    char err[512] = "";
    tape_facts tf;
    if (tape_scan(tape, &tf, err, sizeof err) != 0) {
        printf("FAIL %s (0.0 s): cannot read the tape: %s\n0 passed, 1 failed\n", tape, err);
        return 1;
    }
    pwsr_replay_options ro;
    memset(&ro, 0, sizeof ro);
    ro.tape_path = tape;
    ro.speed = speed;
    ro.log_fn = replay_log_silent; /* deviations are reported in the verdict below */
    ro.log_level = PWS_LOG_ERROR;
    pwsr_replayer *rp = pwsr_replay_start(&ro, err, sizeof err);
    if (!rp) {
        printf("FAIL %s (0.0 s): replay did not start: %s\n0 passed, 1 failed\n", tape, err);
        return 1;
    }
    char key[64];
    random_key(key, sizeof key);
    char *vars[6] = {0};
    size_t nv = 0;
    vars[nv++] = xasprintf("POLYWS_URL=%s%s", pwsr_replay_url(rp), CHECK_MARKET_PATH);
    vars[nv++] = xasprintf("POLYWS_API_KEY=%s", key);
    vars[nv++] = xasprintf("POLYWS_SUBSCRIBE=%s", subscribe ? subscribe : tf.subscribe[0] ? tf.subscribe : "A.AAPL");
    vars[nv++] = xasprintf("POLYWS_COUNT=%llu", (unsigned long long)(tf.events ? tf.events : 1));
    vars[nv++] = xasprintf("POLYWS_BACKOFF_MS=100");
    char **env = client_env(vars);
    char *cmd = NULL;
    if (client_cmd) {
        cmd = strdup(client_cmd);
    } else {
        char *q = shell_quote(self);
        cmd = q ? xasprintf("exec %s watch -q --format jsonl", q) : NULL;
        free(q);
    }
    char dir[] = "/tmp/polyws-tape.XXXXXX";
    bool have_dir = mkdtemp(dir) != NULL;
    char *out_path = have_dir ? xasprintf("%s/out", dir) : NULL;
    char *err_path = have_dir ? xasprintf("%s/err", dir) : NULL;
    int exit_code = 1;
    const char *name = tape;
    if (!env || !cmd || !out_path || !err_path) {
        printf("FAIL %s (0.0 s): out of memory or no temporary directory\n0 passed, 1 failed\n", name);
        goto done;
    }
    client_run cr;
    memset(&cr, 0, sizeof cr);
    run_client(cmd, env, out_path, err_path, (uint32_t)(timeout_s * 1000), &cr, replay_deviated, rp);
    pwsr_replay_wait(rp, 2000);
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    double secs = mono_s() - t0;
    const char *secrets[2] = {key, NULL};
    char *err_tail = file_tail(err_path, 2048, 10, secrets);

    text why = {0};
    if (!cr.r.started)
        text_printf(&why, "client not started: %s", cr.r.start_error);
    else if (res.deviations)
        text_printf(&why, "client deviated from the tape: %s", res.report);
    else if (cr.r.timed_out)
        text_printf(&why, "client still running after %.0f s (stopped)", timeout_s);
    else if (!cr.r.exited)
        text_printf(&why, "client killed by signal %d", cr.r.term_signal);
    else if (cr.r.exit_code != 0)
        text_printf(&why, "client exited with %d", cr.r.exit_code);
    size_t olen = 0;
    char *out = why.p ? NULL : slurp(out_path, 1u << 30, &olen);
    if (!why.p && !out)
        text_printf(&why, "cannot read the client's output");
    if (!why.p && update) {
        FILE *g = fopen(golden, "wb");
        if (!g || fwrite(out, 1, olen, g) != olen || fclose(g) != 0) {
            text_printf(&why, "cannot write %s: %s", golden, strerror(errno));
        } else {
            size_t lines = 0;
            for (size_t i = 0; i < olen; i++)
                lines += out[i] == '\n';
            printf("golden updated: %s (%zu lines)\n", golden, lines);
        }
    } else if (!why.p) {
        size_t glen = 0;
        char *gold = slurp(golden, 1u << 30, &glen);
        if (!gold) {
            text_printf(&why, "cannot read the golden file %s (use --update-golden to create it)", golden);
        } else if (glen != olen || memcmp(gold, out, olen) != 0) {
            const char *la, *lb;
            size_t lla, llb;
            size_t line = first_diff_line(gold, glen, out, olen, &la, &lla, &lb, &llb);
            text_printf(&why, "output differs from %s at line %zu\n    expected: %.*s\n    got:      %.*s",
                        golden, line, (int)(lla > 200 ? 200 : lla), la, (int)(llb > 200 ? 200 : llb), lb);
        }
        free(gold);
    }
    free(out);
    if (why.p) {
        scrub_inplace(why.p, secrets);
        printf("FAIL %s (%.1f s): %s\n", name, secs, why.p);
        if (err_tail && *err_tail) {
            printf("    client stderr (last lines):\n");
            print_indented(stdout, err_tail, 6);
        }
        printf("0 passed, 1 failed\n");
    } else {
        printf("PASS %s (%.1f s): %llu events, %u connection(s) replayed\n1 passed, 0 failed\n", name,
               secs, (unsigned long long)tf.events, res.finished);
        exit_code = 0;
    }
    free(why.p);
    free(err_tail);
done:
    if (out_path)
        unlink(out_path);
    if (err_path)
        unlink(err_path);
    if (have_dir)
        rmdir(dir);
    free(out_path);
    free(err_path);
    free(cmd);
    free(env);
    for (size_t i = 0; i < nv; i++)
        free(vars[i]);
    pwsr_replay_stop(rp);
    return exit_code;
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
            return check_tape(argc, argv, self);
        }
    static const struct option longopts[] = {
        {"client", required_argument, NULL, 'c'}, {"junit", required_argument, NULL, 'J'},
        {"jobs", required_argument, NULL, 'j'},   {"journal", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"live", no_argument, NULL, 'V'},
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
    double t0 = mono_s();
    if (run.live)
        run.jobs = 1; /* one client at a time on the terminal */
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
    double total = mono_s() - t0;

    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < run.njob; i++)
        run.job[i].pass ? passed++ : failed++;
    if (check_interrupted)
        printf("interrupted\n");
    printf("%zu passed, %zu failed\n", passed, failed);
    fflush(stdout);
    int exit_code = failed ? 1 : 0;
    if (run.junit && write_junit(&run, total, failed) != 0)
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
