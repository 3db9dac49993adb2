/*
 * mockchild.c - the mock server (libpwsmock) in a forked child process, and
 * the small helpers e2e_bench and idle_bench share.
 *
 * Two pipes join the processes, both O_CLOEXEC: the child writes one line on
 * the ready pipe, "PORT URL\n" once pwsm_start() returned or "E message\n" if
 * it failed, and then reads the control pipe until EOF.  The parent never
 * writes to the control pipe: closing its end is the stop request, so an exit
 * of the parent (or PR_SET_PDEATHSIG, if it is killed) stops the child too.
 * See mockchild.h.
 */
#include "mockchild.h"

#include <libwebsockets.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_READY_MS 10000 /* how long the mock child may take to listen */
#define REPORT_MAX 300       /* bytes of the child's report line */

/* ------------------------------------------------------------ shared helpers */

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool bench_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

bool bench_ws_send_text(int fd, const char *msg)
{
    size_t n = strlen(msg), h = 0;
    unsigned char frame[BENCH_WS_TEXT_MAX + 8];
    if (n > BENCH_WS_TEXT_MAX)
        return false;
    frame[h++] = 0x81;
    if (n < 126) {
        frame[h++] = (unsigned char)(0x80 | n);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (unsigned char)(n >> 8);
        frame[h++] = (unsigned char)n;
    }
    static const unsigned char mask[4] = {0x5a, 0x17, 0xc3, 0x8e};
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        frame[h + i] = (unsigned char)msg[i] ^ mask[i % 4];
    return bench_send_all(fd, frame, h + n);
}

/* ------------------------------------------------------------ the mock child */

static pid_t child_pid = -1;   /* the mock process, -1 once reaped */
static int child_ctl = -1;     /* write end of its control pipe: closing it stops the mock */
static int child_exit_ms;      /* how long mockchild_stop waits before SIGKILL */
static const char *child_who;  /* prefix of mockchild_stop's message */
static char child_url[REPORT_MAX];

/* "who: message" on stderr and exit(1); the atexit handler reaps the child. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", child_who);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Body of the mock process: start, report the port and URL on `ready`, serve
 * until the control pipe closes (or the parent dies: PR_SET_PDEATHSIG), stop. */
static void mock_child(const pwsm_options *opts, int ready, int ctl, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    lws_set_log_level(LLL_ERR, NULL);
    char err[256] = "";
    pwsm_server *s = pwsm_start(opts, err, sizeof err);
    char msg[REPORT_MAX];
    int len = s ? snprintf(msg, sizeof msg, "%d %s\n", pwsm_port(s), pwsm_url(s))
                : snprintf(msg, sizeof msg, "E %s\n", err);
    if (len < 0 || len >= (int)sizeof msg || write(ready, msg, (size_t)len) != len)
        _exit(1);
    close(ready);
    char c;
    ssize_t n;
    while ((n = read(ctl, &c, 1)) > 0 || (n < 0 && errno == EINTR))
        ;
    pwsm_stop(s);
    _exit(s ? 0 : 1);
}

void mockchild_stop(void)
{
    if (child_pid <= 0)
        return;
    if (child_ctl >= 0)
        close(child_ctl);
    child_ctl = -1;
    int status = 0;
    double end = bench_now_s() + child_exit_ms / 1000.0;
    pid_t r;
    while ((r = waitpid(child_pid, &status, WNOHANG)) == 0 && bench_now_s() < end)
        bench_sleep_ms(10);
    if (r == 0) {
        fprintf(stderr, "%s: the mock did not stop in %d ms: killing it\n", child_who, child_exit_ms);
        kill(child_pid, SIGKILL);
        waitpid(child_pid, &status, 0);
    }
    child_pid = -1;
}

/* Reads the child's report line into line[0..cap), without its newline. */
static void read_report(int fd, char *line, size_t cap)
{
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    double end = bench_now_s() + CHILD_READY_MS / 1000.0;
    while (len < cap - 1 && !memchr(line, '\n', len)) {
        int left = (int)((end - bench_now_s()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            fail("the mock did not start in %d ms", CHILD_READY_MS);
        ssize_t n = read(fd, line + len, cap - 1 - len);
        if (n <= 0)
            fail("the mock process exited before listening");
        len += (size_t)n;
    }
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
}

int mockchild_start(const pwsm_options *opts, const char *who, int exit_ms)
{
    child_who = who;
    child_exit_ms = exit_ms;
    int ready[2], ctl[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(ctl, O_CLOEXEC) != 0)
        fail("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        close(ready[0]);
        close(ctl[1]);
        mock_child(opts, ready[1], ctl[0], parent);
    }
    child_pid = pid;
    child_ctl = ctl[1];
    close(ready[1]);
    close(ctl[0]);
    atexit(mockchild_stop);
    char line[REPORT_MAX];
    read_report(ready[0], line, sizeof line);
    close(ready[0]);
    if (line[0] == 'E')
        fail("the mock did not start: %s", line + 2);
    char *sp = strchr(line, ' ');
    int port = atoi(line);
    if (!sp || !sp[1] || port <= 0 || port > 65535)
        fail("the mock's report is not \"PORT URL\": %.100s", line);
    snprintf(child_url, sizeof child_url, "%s", sp + 1);
    return port;
}

pid_t mockchild_pid(void)
{
    return child_pid;
}

const char *mockchild_url(void)
{
    return child_url;
}
