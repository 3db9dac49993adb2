/*
 * idle_bench.c - memory the mock server holds per idle, authenticated
 * WebSocket connection.
 *
 * The mock (libpwsmock) runs in a child process forked before any thread
 * exists (mockchild.c).  This process opens --connections plain loopback
 * sockets to it, does the WebSocket upgrade by hand, waits for the "connected"
 * greeting, sends an auth message and waits for auth_success on each,
 * subscribes to nothing, and keeps them open.  All connections use one key;
 * the mock's max_per_key is set to the connection count so none is kicked.
 *
 * The child's memory is read from /proc/PID/smaps_rollup (Rss, Pss and
 * Private_Dirty: the pages the process wrote itself, the honest measure of what
 * it allocated) and VmRSS from /proc/PID/status, at three points: with no
 * connection, after the first 10 % of the connections, and after all of them.
 * The per-connection figures are (all - none) / N, which includes one-time costs
 * such as the first chunks of malloc arenas and the journal, and the marginal
 * (all - 10 %) / (90 % of N), which is the cost of one more connection.  The last
 * line is "idle: N KB/connection" (Private_Dirty, all - none).
 *
 *   idle_bench [--connections N] [--settle-ms MS]
 *
 * Exit status: 0 on success; 1 if the mock cannot start, a connection or its
 * authentication fails, a connection is closed before the last reading, or
 * /proc cannot be read.  No memory threshold: it only reports.
 */
#include <polyws/mock.h>

#include "mockchild.h" /* the forked mock, clock, raw-socket sends */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_CONNECTIONS 1000u
#define MAX_CONNECTIONS 16000u      /* fds per process; the mock's max_connections follows */
#define DEFAULT_SETTLE_MS 300u      /* pause before each reading, for the server to finish its work */
#define BENCH_KEY "idle-bench-key"  /* the mock accepts any non-empty key by default */
#define IO_TIMEOUT_S 10             /* per socket operation during set-up */
#define SETUP_BUF 4096              /* bytes read at once during set-up */
#define CHILD_EXIT_MS 10000         /* how long it may take to stop before SIGKILL */
#define FD_HEADROOM 256u            /* descriptors beyond the connections (lws, stdio, pipes) */

/* ------------------------------------------------------------ utilities */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("idle_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1); /* the atexit handler stops the mock child */
}

static void usage(void)
{
    fprintf(stderr, "usage: idle_bench [--connections N (1..%u)] [--settle-ms MS]\n", MAX_CONNECTIONS);
    exit(2);
}

static uint64_t parse_u64(const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        usage();
    return v;
}

/* ------------------------------------------------------------ memory readings */

/* One reading of the child's memory, in KB. */
typedef struct mem_kb {
    long rss, pss, private_dirty; /* smaps_rollup */
    long vm_rss;                  /* status */
} mem_kb;

/* Value of "Key:   123 kB" in a /proc text file, or -1. */
static long proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t klen = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static mem_kb read_mem(pid_t pid)
{
    char rollup[64], status[64];
    snprintf(rollup, sizeof rollup, "/proc/%d/smaps_rollup", (int)pid);
    snprintf(status, sizeof status, "/proc/%d/status", (int)pid);
    mem_kb m = {proc_kb(rollup, "Rss"), proc_kb(rollup, "Pss"), proc_kb(rollup, "Private_Dirty"),
                proc_kb(status, "VmRSS")};
    if (m.rss < 0 || m.pss < 0 || m.private_dirty < 0 || m.vm_rss < 0)
        die("cannot read the memory of process %d from /proc (smaps_rollup needs Linux 4.14)", (int)pid);
    return m;
}

/* ------------------------------------------------------------ the mock child */

/* Forks the mock (mockchild.c); returns its port. */
static int start_child(uint32_t connections)
{
    pwsm_options mo;
    memset(&mo, 0, sizeof mo);
    mo.host = "127.0.0.1";
    mo.max_per_key = connections;          /* one key for all: none is kicked */
    mo.max_connections = connections + 16; /* the default (4096) would do up to 4080 */
    return mockchild_start(&mo, "idle_bench", CHILD_EXIT_MS);
}

/* ------------------------------------------------------------ one idle client */

/* Set-up state of one connection: bytes read but not yet consumed. */
typedef struct setup {
    int fd;
    unsigned char buf[SETUP_BUF];
    size_t off, len; /* unread bytes are buf[off..len) */
} setup;

/* Reads more bytes (after compacting); false on EOF, error or timeout. */
static bool setup_read(setup *s)
{
    if (s->off) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len == sizeof s->buf)
        return false; /* a frame this big is not a status */
    ssize_t k;
    do
        k = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return false;
    s->len += (size_t)k;
    return true;
}

/* Waits for a text frame containing `needle`; false on anything else. */
static bool expect_status(setup *s, const char *needle)
{
    for (;;) {
        size_t avail = s->len - s->off;
        const unsigned char *p = s->buf + s->off;
        if (avail >= 2) {
            size_t hdr = 2, n = p[1] & 0x7f;
            if (p[1] & 0x80 || n == 127)
                return false; /* masked, or far too long for a status */
            if (n == 126) {
                hdr = 4;
                n = avail >= 4 ? (size_t)p[2] << 8 | p[3] : 0;
            }
            if (avail >= hdr && avail - hdr >= n) {
                bool text = (p[0] & 0x0f) == 1;
                bool hit = text && memmem(p + hdr, n, needle, strlen(needle)) != NULL;
                s->off += hdr + n;
                if (hit)
                    return true;
                if (text)
                    return false; /* some other status (auth_failed, ...) */
                continue;         /* a control frame: skip */
            }
        }
        if (!setup_read(s))
            return false;
    }
}

/* Opens one connection: upgrade, greeting, auth.  Returns the fd or -1 (why set). */
static int open_idle(int port, char *why, size_t whycap)
{
    static setup s; /* 4 KiB: static, reused by every connection (one at a time) */
    memset(&s, 0, sizeof s);
    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
        snprintf(why, whycap, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static const char req[] = "GET /stocks HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: aWRsZS1iZW5jaC1ub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    const char *step = "connect";
    if (connect(s.fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    step = "upgrade request";
    if (!bench_send_all(s.fd, req, sizeof req - 1))
        goto fail;
    step = "upgrade response";
    for (;;) {
        unsigned char *end = memmem(s.buf, s.len, "\r\n\r\n", 4);
        if (end) {
            if (s.len < 12 || memcmp(s.buf, "HTTP/1.1 101", 12) != 0)
                goto fail;
            s.off = (size_t)(end + 4 - s.buf);
            break;
        }
        if (!setup_read(&s))
            goto fail;
    }
    step = "greeting";
    if (!expect_status(&s, "\"status\":\"connected\""))
        goto fail;
    step = "auth";
    if (!bench_ws_send_text(s.fd, "{\"action\":\"auth\",\"params\":\"" BENCH_KEY "\"}") ||
        !expect_status(&s, "\"status\":\"auth_success\""))
        goto fail;
    if (s.off != s.len) {
        step = "unexpected bytes after auth_success";
        errno = 0;
        goto fail;
    }
    return s.fd;
fail:
    snprintf(why, whycap, "%s failed%s%s", step, errno ? ": " : "", errno ? strerror(errno) : "");
    close(s.fd);
    return -1;
}

/* Number of connections the mock has closed (or sent anything on): idle ones stay silent. */
static size_t count_not_idle(const int *fds, size_t n)
{
    size_t bad = 0;
    struct pollfd pfd;
    for (size_t i = 0; i < n; i++) {
        pfd = (struct pollfd){.fd = fds[i], .events = POLLIN | POLLRDHUP};
        if (poll(&pfd, 1, 0) != 0)
            bad++;
    }
    return bad;
}

/* ------------------------------------------------------------ main */

static void print_mem(const char *label, const mem_kb *m)
{
    printf("  %-28s %9ld %9ld %13ld %9ld\n", label, m->rss, m->pss, m->private_dirty, m->vm_rss);
}

static double per_conn(long after, long before, size_t n)
{
    return (double)(after - before) / (double)n;
}

int main(int argc, char **argv)
{
    uint32_t connections = DEFAULT_CONNECTIONS;
    unsigned settle_ms = DEFAULT_SETTLE_MS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            connections = (uint32_t)parse_u64(argv[++i], 1, MAX_CONNECTIONS);
        else if (!strcmp(argv[i], "--settle-ms") && i + 1 < argc)
            settle_ms = (unsigned)parse_u64(argv[++i], 0, 60000);
        else
            usage();
    }
    signal(SIGPIPE, SIG_IGN);

    /* Both processes need a descriptor per connection: raise the soft limit (inherited). */
    struct rlimit rl;
    rlim_t need = (rlim_t)connections + FD_HEADROOM;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
            die("RLIMIT_NOFILE hard limit %llu < %llu needed for %u connections", (unsigned long long)rl.rlim_max,
                (unsigned long long)need, connections);
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            die("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)need, strerror(errno));
    }

    /* Fork first: the mock process must not inherit threads (there are none). */
    int port = start_child(connections);
    int *fds = malloc(connections * sizeof *fds);
    if (!fds)
        die("out of memory");
    size_t warm = connections >= 10 ? connections / 10 : 1;
    printf("idle_bench: %u idle authenticated connections (one key, no subscription) to the mock, "
           "pid %d, %s\n",
           connections, (int)mockchild_pid(), mockchild_url());
    printf("  mock process memory (KB)           Rss       Pss Private_Dirty     VmRSS\n");
    bench_sleep_ms(settle_ms);
    mem_kb m0 = read_mem(mockchild_pid()), mw = m0;
    print_mem("listening, no connection", &m0);

    double t0 = bench_now_s();
    char why[160];
    for (size_t i = 0; i < connections; i++) {
        fds[i] = open_idle(port, why, sizeof why);
        if (fds[i] < 0)
            die("connection %zu of %u: %s", i + 1, connections, why);
        if (i + 1 == warm && warm < connections) {
            bench_sleep_ms(settle_ms);
            mw = read_mem(mockchild_pid());
            char label[64];
            snprintf(label, sizeof label, "%zu connections", warm);
            print_mem(label, &mw);
        }
    }
    double setup_s = bench_now_s() - t0;
    bench_sleep_ms(settle_ms);
    mem_kb m1 = read_mem(mockchild_pid());
    char label[64];
    snprintf(label, sizeof label, "%u connections", connections);
    print_mem(label, &m1);
    size_t gone = count_not_idle(fds, connections);

    for (size_t i = 0; i < connections; i++)
        close(fds[i]);
    free(fds);
    mockchild_stop();
    if (gone)
        die("%zu of %u connections were closed or not idle at the last reading", gone, connections);

    printf("per connection (all - none) / %u: Private_Dirty %.1f KB, Rss %.1f KB, Pss %.1f KB, VmRSS %.1f KB\n",
           connections, per_conn(m1.private_dirty, m0.private_dirty, connections),
           per_conn(m1.rss, m0.rss, connections), per_conn(m1.pss, m0.pss, connections),
           per_conn(m1.vm_rss, m0.vm_rss, connections));
    if (warm < connections)
        printf("marginal (all - %zu) / %zu: Private_Dirty %.1f KB, Rss %.1f KB\n", warm, connections - warm,
               per_conn(m1.private_dirty, mw.private_dirty, connections - warm),
               per_conn(m1.rss, mw.rss, connections - warm));
    printf("set-up: %.2f s (%.0f connections/s); kernel socket buffers are not in these figures\n", setup_s,
           (double)connections / setup_s);
    printf("idle: %.1f KB/connection\n", per_conn(m1.private_dirty, m0.private_dirty, connections));
    return 0;
}
