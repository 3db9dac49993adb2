/*
 * check_common.c - what both modes of `polyws check` use (see check_common.h):
 * small helpers (formatting, growable text, scrubbing secrets, shell quoting,
 * the scrubbed tail of a client's output, a throwaway API key) and the client
 * runner, which starts the client under test in its own process group with
 * the environment the mode built, and stops it at its timeout.
 */
#include "check_common.h"

#include "wire/buf.h"
#include "wire/clock.h"
#include "wire/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK_KILL_GRACE_MS 2000     /* SIGTERM, then SIGKILL after this */
#define CHECK_POLL_MS 10             /* client exit polling period */

extern char **environ;

volatile sig_atomic_t chk_interrupted; /* set by check.c's SIGINT/SIGTERM handler */

/* ---------------------------------------------------------------- small helpers */

double chk_mono_s(void)
{
    return (double)pws__mono_us() / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *chk_vxasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    return s;
}

char *chk_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = chk_vxasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void chk_client_cleanup(char *out_path, char *err_path, char *cmd, char **env, char **vars, size_t nv)
{
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
}

void chk_text_put(chk_text *t, const char *s, size_t n)
{
    if (!t->oom && pws__append(&t->p, &t->len, &t->cap, s, n, CHK_TEXT_MAX))
        t->oom = true;
}

void chk_text_printf(chk_text *t, const char *fmt, ...)
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
    chk_text_put(t, s, (size_t)n);
    free(s);
}

/* Replaces every trace of each secret (NULL-terminated list) in s, in place, through wire's
 * one redactor (wire/secrets.h: raw, escaped, percent, base64, pieces of 8 bytes or more); a
 * trace is never shorter than its "***".  Without memory, s becomes "***" (fail closed). */
void chk_scrub_inplace(char *s, const char *const *secrets)
{
    if (!s)
        return;
    pws__secrets set = {0};
    if (pws__secrets_add_list(&set, secrets, (size_t)-1) == 0)
        pws__secrets_scrub_str(&set, s);
    else if (*s)
        snprintf(s, strlen(s) + 1, "%s", PWS__SECRET_MARK);
    pws__secrets_free(&set);
}

/* Single-quotes s for /bin/sh. */
char *chk_shell_quote(const char *s)
{
    chk_text t = {0};
    chk_text_put(&t, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            chk_text_put(&t, "'\\''", 4);
        else
            chk_text_put(&t, s, 1);
    }
    chk_text_put(&t, "'", 1);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* Length of the valid UTF-8 sequence at s (n bytes available, n >= 1): 1 for ASCII, 2..4,
 * or 0 if the bytes there are not valid UTF-8. */
size_t chk_utf8_len(const unsigned char *s, size_t n)
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
char *chk_file_tail(const char *path, size_t max_bytes, int max_lines, const char *const *secrets)
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
    chk_scrub_inplace(buf, secrets);
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
        size_t seq = chk_utf8_len(u + i, n - i);
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

/* A fresh random API key, "pwscheck-" and 32 hex digits (from the clock and the pid if
 * getrandom fails). */
void chk_random_key(char *buf, size_t cap)
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
        uint64_t x = (uint64_t)pws__wall_us() ^ (uint64_t)getpid() << 40;
        for (size_t i = 0; i < sizeof r; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            r[i] = (unsigned char)(x >> 56);
    }
    size_t o = (size_t)snprintf(buf, cap, "pwscheck-");
    for (size_t i = 0; i < sizeof r && o + 2 < cap; i++, o += 2)
        snprintf(buf + o, cap - o, "%02x", r[i]);
}

/* Prints text with every line indented. */
void chk_print_indented(FILE *f, const char *s, int indent)
{
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, s);
        s = nl ? nl + 1 : s + n;
    }
}

/* ---------------------------------------------------------------- the client */

/* Builds the client's environment: the inherited one without POLYWS_*, plus extra. */
char **chk_client_env(char *const *extra)
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

/* Runs cmd with /bin/sh -c in its own process group until it exits or the timeout passes
 * (then SIGTERM, SIGKILL after the grace period).  Whatever it leaves in its process group
 * is killed too.  Never returns before the process was reaped. */
void chk_run_client(const char *cmd, char **env, const char *out_path, const char *err_path,
                    uint32_t timeout_ms, chk_client_run *cr, bool (*stop_early)(void *), void *stop_arg)
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
    double t0 = chk_mono_s();
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
        double now = chk_mono_s();
        bool early = !termed && stop_early && stop_early(stop_arg);
        if (!termed && (now >= deadline || chk_interrupted || early)) {
            cr->r.timed_out = !chk_interrupted && !early;
            cr->r.interrupted = chk_interrupted != 0;
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
    cr->seconds = chk_mono_s() - t0;
    if (WIFEXITED(status)) {
        cr->r.exited = true;
        cr->r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        cr->r.term_signal = WTERMSIG(status);
    }
}
