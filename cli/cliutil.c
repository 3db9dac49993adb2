/*
 * cliutil.c - small pieces the subcommands share: strict number options, the
 * --count bookkeeping of the commands that run our connector, --version and
 * the end of standard output.
 */
#include "commands.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pws_cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool pws_cli_count(const pws_event *ev, pthread_mutex_t *mu, uint64_t count, uint64_t *seen, pws_connector *c)
{
    bool market = ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE ||
                  ev->type == PWS_EV_OTHER;
    if (!market)
        return true;
    pthread_mutex_lock(mu);
    bool over = count && *seen >= count;
    if (!over)
        (*seen)++;
    bool reached = count && *seen == count;
    pthread_mutex_unlock(mu);
    if (reached)
        pws_stop(c);
    return !over;
}

int pws_cli_version(void)
{
    printf("polyws %s\n", pws_version());
    return pws_cli_stdout_done(NULL, 0);
}

int pws_cli_put_line(FILE *f, const char *s, size_t n)
{
    errno = 0;
    if ((n && fwrite(s, 1, n, f) != n) || fputc('\n', f) == EOF || ferror(f))
        return errno ? errno : EIO;
    return 0;
}

/* A pipe whose reader closed polls POLLERR for its writer: how a failure that left no errno
 * behind (stdio reported it earlier) is told from the others. */
static bool reader_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int pws_cli_stdout_done(const char *cmd, int seen_errno)
{
    errno = 0;
    int e = seen_errno;
    if (fflush(stdout) == EOF && !e)
        e = errno;
    if (!e && ferror(stdout))
        e = reader_gone(STDOUT_FILENO) ? EPIPE : EIO;
    if (!e || e == EPIPE)
        return 0;
    fprintf(stderr, "polyws%s%s: cannot write to standard output: %s\n", cmd ? " " : "", cmd ? cmd : "",
            strerror(e));
    return 1;
}

void pws_cli_url_shown(const char *url, char *out, size_t cap)
{
    size_t n = strcspn(url, "?#");
    snprintf(out, cap, "%.*s", (int)n, url);
}

FILE *pws_cli_atomic_open(const char *cmd, const char *path, const char *mode, char *tmp, size_t cap)
{
    if ((size_t)snprintf(tmp, cap, "%s.tmp", path) >= cap) {
        fprintf(stderr, "polyws %s: path too long: %s\n", cmd, path);
        return NULL;
    }
    FILE *f = fopen(tmp, mode);
    if (!f)
        fprintf(stderr, "polyws %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
    return f;
}

int pws_cli_atomic_commit(const char *cmd, FILE *f, const char *tmp, const char *path, bool bad)
{
    bad = ferror(f) != 0 || bad;
    int saved = bad ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        if (!saved)
            saved = errno;
        fprintf(stderr, "polyws %s: cannot write %s: %s\n", cmd, path, strerror(saved));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int pws_cli_max_retries(const char *cmd, const char *arg, uint32_t *out)
{
    uint64_t u;
    if (pws_cli_uint(arg, 0, PWS_CLI_MAX_RETRIES, &u)) {
        fprintf(stderr, "polyws %s: --max-retries needs 0..%u, not '%s'\n", cmd, PWS_CLI_MAX_RETRIES, arg);
        return 2;
    }
    *out = (uint32_t)u;
    return 0;
}
