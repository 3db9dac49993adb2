/*
 * e2e_bench.c - end-to-end events/s over loopback: the mock streams as fast
 * as the client reads, our connector counts the events.
 *
 * The mock server (libpwsmock) runs in a child process forked before any
 * thread exists (mockchild.c), so server and client are separate processes
 * competing for the cores as they would in production.  The mock streams
 * `--events` events per connection (its stream_limit) with events_per_sec < 0
 * (the next frame is generated as soon as the socket takes the previous one)
 * and `--batch` as batch_max (frames hold 1..batch_max events, ~batch/2 on
 * average).  Several clients read the same kind of stream, so the report shows
 * where time goes:
 *
 *   gen        the mock's generator alone, in this process, no I/O: the
 *              ceiling of the server side on one core;
 *   socket     a plain blocking socket with our own minimal WebSocket
 *              deframing, counting '{' (one per event): the transport bound
 *              (mock + kernel loopback), without libwebsockets on the client;
 *   parse      the same socket client calling pws_parse_frame() on each frame:
 *              our parser without lws, queue or threads;
 *   lws        a minimal libwebsockets 4.1 client counting '{': what any lws
 *              client pays before doing anything with the data;
 *   connector  libpolyws (pws_create/pws_start, on_batch counting market-data
 *              events): the number the issue asks for.
 *
 * The clients run in turn for --reps repetitions, each on a new connection (so
 * a new stream: the mock seeds it with the connection ordinal).  A run's rate
 * is measured from the first delivery (first data frame; first on_batch for the
 * connector) to the last event, without the events of that first delivery.
 * Per run it prints events/s, frames/s, payload MB/s and the CPU time used per
 * event by the mock process and by this process (per thread for the connector),
 * and how busy each was (cores = CPU seconds / wall seconds).  CPU per event is
 * the robust number on a shared machine: the rate depends on what else runs.
 * The summary gives the best and median rate per client, the median CPU costs,
 * and the rate those costs would allow on otherwise idle cores.  The last line
 * is "e2e: N events/s", the connector's best repetition.
 *
 *   e2e_bench [--events N] [--batch B] [--reps R] [--channels LIST] [--seed S]
 *             [--only gen,socket,parse,lws,connector] [--journal] [--timeout SEC]
 *
 * --journal keeps the mock's in-memory journal at its defaults (the first
 * 256 MiB of frames are copied); by default it is capped at once: a load
 * generator needs no record (the per-frame secret scrub still runs).
 *
 * Exit status: 0 on success; 1 if the mock cannot start, a client fails, times
 * out or sees other than exactly N events, or the connector reports parse
 * errors or drops.  No timing threshold: machines are noisy.
 */
#include <polyws/mock.h>
#include <polyws/polyws.h>

#include "gen.h"       /* the mock's private generator, for the "gen" line */
#include "mockchild.h" /* the forked mock, clock, raw-socket sends */

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_EVENTS 5000000u
#define DEFAULT_BATCH 1000u
#define DEFAULT_REPS 3u
#define MAX_REPS 50u
#define DEFAULT_CHANNELS "T.*,Q.*,A.*,AM.*"
#define BENCH_KEY "e2e-bench-key" /* the mock accepts any non-empty key by default */
#define MAX_CHANNELS_LEN 4096     /* bytes of --channels */
#define MAX_ACTION_LEN (MAX_CHANNELS_LEN + 64) /* bytes of one auth or subscribe message */
#define STATUS_HEAD_MAX 1024      /* bytes of a message kept to recognise statuses */
#define SOCKET_BUF (1u << 20)     /* socket client's read buffer: holds any frame of <= 1000 events */
#define CHILD_EXIT_MS 5000        /* how long it may take to stop before SIGKILL */

_Static_assert(MAX_ACTION_LEN <= BENCH_WS_TEXT_MAX, "bench_ws_send_text must take any action");

/* ------------------------------------------------------------ utilities */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("e2e_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1); /* the atexit handler stops the mock child */
}

/* CPU seconds (user + system) from a /proc/.../stat file, or -1.  Clock-tick
 * resolution (10 ms): fine over runs of seconds. */
static double stat_cpu_s(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of a whole process (all its threads). */
static double pid_cpu_s(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return stat_cpu_s(path);
}

/* The mock's process: the forked child, or --mock-pid (0: not measured). */
static pid_t g_mock_pid;

/* CPU seconds of one of our threads. */
static double tid_cpu_s(pid_t tid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    return stat_cpu_s(path);
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double s[MAX_REPS];
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double best(const double *v, size_t n)
{
    double b = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > b)
            b = v[i];
    return b;
}

/* Counts '{' bytes: each generated event is one flat JSON object. */
static uint64_t count_braces(const void *buf, size_t n)
{
    uint64_t k = 0;
    const char *p = buf, *end = p + n;
    while ((p = memchr(p, '{', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* ------------------------------------------------------------ options */

typedef struct bench_opts {
    uint64_t events;        /* events per run (the mock's stream_limit) */
    uint32_t batch;         /* the mock's batch_max */
    uint32_t reps;          /* repetitions of every client */
    const char *channels;   /* subscription */
    uint64_t seed;          /* the mock's seed */
    const char *only;       /* comma-separated names to run, or NULL for all */
    bool journal;           /* keep the mock's journal at its defaults */
    double timeout_s;       /* per run */
    const char *url;        /* --url: an external mock (e.g. `polyws mock`) instead of the child */
    pid_t mock_pid;         /* --mock-pid: its process, for its CPU time (0: not measured) */
    bool result_lines;      /* --result: a RESULT JSON line per run, for bench/run_bench.py */
    char subscribe_msg[MAX_ACTION_LEN]; /* {"action":"subscribe","params":channels} */
} bench_opts;

static const char *const run_names[] = {"gen", "socket", "parse", "lws", "connector"};

static void usage(void)
{
    fprintf(stderr, "usage: e2e_bench [--events N] [--batch B] [--reps R] [--channels LIST] [--seed S]\n"
                    "                 [--only gen,socket,parse,lws,connector] [--journal] [--timeout SEC]\n"
                    "                 [--url ws://HOST:PORT/stocks [--mock-pid PID]] [--result]\n");
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

/* True if `name` is one of the comma-separated words of `list`. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !memcmp(p, name, n))
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static bool want(const bench_opts *o, const char *name)
{
    return !o->only || in_list(o->only, name);
}

static void parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->events = DEFAULT_EVENTS;
    o->batch = DEFAULT_BATCH;
    o->reps = DEFAULT_REPS;
    o->channels = DEFAULT_CHANNELS;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--events") && has)
            o->events = parse_u64(argv[++i], 1, UINT64_C(1) << 40);
        else if (!strcmp(a, "--batch") && has)
            o->batch = (uint32_t)parse_u64(argv[++i], 1, PWSM_MAX_BATCH);
        else if (!strcmp(a, "--reps") && has)
            o->reps = (uint32_t)parse_u64(argv[++i], 1, MAX_REPS);
        else if (!strcmp(a, "--channels") && has)
            o->channels = argv[++i];
        else if (!strcmp(a, "--seed") && has)
            o->seed = parse_u64(argv[++i], 1, UINT64_MAX);
        else if (!strcmp(a, "--only") && has)
            o->only = argv[++i];
        else if (!strcmp(a, "--journal"))
            o->journal = true;
        else if (!strcmp(a, "--timeout") && has)
            o->timeout_s = (double)parse_u64(argv[++i], 1, 86400);
        else if (!strcmp(a, "--url") && has)
            o->url = argv[++i];
        else if (!strcmp(a, "--mock-pid") && has)
            o->mock_pid = (pid_t)parse_u64(argv[++i], 1, INT32_MAX);
        else if (!strcmp(a, "--result"))
            o->result_lines = true;
        else
            usage();
    }
    if (o->only) {
        bool any = false;
        for (size_t i = 0; i < sizeof run_names / sizeof run_names[0]; i++)
            any |= in_list(o->only, run_names[i]);
        if (!any)
            usage();
    }
    if (!o->channels[0] || strlen(o->channels) >= MAX_CHANNELS_LEN || strchr(o->channels, '"') ||
        strchr(o->channels, '\\'))
        usage();
    if (o->timeout_s == 0) /* generous: 20k events/s would be a broken build, not a slow one */
        o->timeout_s = 30 + (double)o->events / 20000;
    snprintf(o->subscribe_msg, sizeof o->subscribe_msg, "{\"action\":\"subscribe\",\"params\":\"%s\"}",
             o->channels);
}

/* ------------------------------------------------------------ the generator alone */

static void run_gen(const bench_opts *o)
{
    pwsm__gen g;
    if (pwsm__gen_init(&g, o->seed, 1) != 0)
        die("gen: out of memory");
    char list[MAX_CHANNELS_LEN];
    snprintf(list, sizeof list, "%s", o->channels);
    for (char *save = NULL, *ch = strtok_r(list, ",", &save); ch; ch = strtok_r(NULL, ",", &save))
        pwsm__gen_channel(&g, ch, strlen(ch), true);
    if (pwsm__gen_active(&g) == 0)
        die("gen: the channels '%s' stream nothing", o->channels);
    size_t cap = (size_t)o->batch * (PWSM__EVENT_MAX + 1) + 3;
    char *buf = malloc(cap);
    if (!buf)
        die("gen: out of memory");
    uint64_t events = 0, bytes = 0, frames = 0;
    double t0 = bench_now_s();
    while (events < o->events) {
        uint32_t n = pwsm__gen_batch_size(&g, o->batch);
        if (n > o->events - events)
            n = (uint32_t)(o->events - events);
        bytes += pwsm__gen_frame(&g, n, buf, cap);
        events += n;
        frames++;
    }
    double dt = bench_now_s() - t0;
    free(buf);
    pwsm__gen_free(&g);
    printf("gen          : %5.2fM events/s %6.0f frames/s %6.1f MB/s | CPU us/event: %.2f "
           "(the mock's generator alone, %.0f bytes/event)\n",
           (double)events / dt / 1e6, (double)frames / dt, (double)bytes / dt / 1e6,
           dt * 1e6 / (double)events, (double)bytes / (double)events);
    fflush(stdout);
}

/* ------------------------------------------------------------ the mock child */

/* Forks the mock (mockchild.c); returns its port. */
static int start_child(const bench_opts *o)
{
    pwsm_options mo;
    memset(&mo, 0, sizeof mo);
    mo.host = "127.0.0.1";
    mo.events_per_sec = -1; /* as fast as the client reads */
    mo.batch_max = o->batch;
    mo.stream_limit = o->events;
    mo.seed = o->seed;
    mo.max_per_key = 1000; /* every run reconnects with the same key: never kick */
    if (!o->journal) {
        mo.journal_max_entries = 2; /* the smallest journal: truncated at the first entry */
        mo.journal_max_bytes = 1;
    }
    return mockchild_start(&mo, "e2e_bench", CHILD_EXIT_MS);
}

/* ------------------------------------------------------------ one run's result */

typedef struct run_result {
    double events_per_s;    /* over the measured window */
    double frames_per_s;
    double mb_per_s;        /* payload bytes */
    double wall_s;          /* whole run, connect to last event */
    double mock_cpu_s;      /* mock process CPU over the run */
    double client_cpu_s;    /* this process's CPU over the run */
    double net_cpu_s;       /* connector network thread (-1 for the others) */
    double deliver_cpu_s;   /* connector delivery thread (-1 for the others) */
} run_result;

/* What a reference client measured; turned into a run_result. */
typedef struct counts {
    uint64_t events, bytes, frames;    /* data frames so far */
    uint64_t events0, bytes0, frames0; /* at the end of the first data frame */
    double t0, t_last;                 /* end of the first data frame, last event */
} counts;

static void counts_frame(counts *k, uint64_t events, uint64_t bytes)
{
    k->events += events;
    k->bytes += bytes;
    k->frames++;
    if (k->frames == 1) {
        k->t0 = bench_now_s();
        k->events0 = k->events;
        k->bytes0 = k->bytes;
        k->frames0 = k->frames;
    }
}

static void counts_result(const counts *k, run_result *res)
{
    double dt = k->t_last - k->t0;
    if (dt <= 0)
        dt = 1e-9; /* one frame held everything: the rate is meaningless but finite */
    res->events_per_s = (double)(k->events - k->events0) / dt;
    res->frames_per_s = (double)(k->frames - k->frames0) / dt;
    res->mb_per_s = (double)(k->bytes - k->bytes0) / dt / 1e6;
    res->net_cpu_s = res->deliver_cpu_s = -1;
}

/* CPU microseconds per event (over the whole run, so including the connection
 * set-up: negligible against millions of events). */
static double us_per_event(double cpu_s, uint64_t events)
{
    return cpu_s * 1e6 / (double)events;
}

static void print_run(const char *name, unsigned rep, const run_result *r, uint64_t events)
{
    printf("%-9s #%-2u: %5.2fM events/s %6.0f frames/s %6.1f MB/s | CPU us/event: mock %.2f, client %.2f",
           name, rep, r->events_per_s / 1e6, r->frames_per_s, r->mb_per_s,
           us_per_event(r->mock_cpu_s, events), us_per_event(r->client_cpu_s, events));
    if (r->net_cpu_s >= 0)
        printf(" (network %.2f, delivery %.2f)", us_per_event(r->net_cpu_s, events),
               us_per_event(r->deliver_cpu_s, events));
    printf(" | cores busy: mock %.2f, client %.2f\n", r->mock_cpu_s / r->wall_s, r->client_cpu_s / r->wall_s);
    fflush(stdout);
}

/* The mock's statuses during the handshake. */
typedef enum status_step {
    STEP_DATA,    /* not a status: market data */
    STEP_AUTH,    /* "connected": send auth */
    STEP_SUB,     /* "auth_success": send the subscription */
    STEP_NONE,    /* "success" (subscription confirmed): nothing to do */
    STEP_BAD      /* anything else: fail */
} status_step;

/* head[0..len) is the start of a message, not NUL-terminated. */
static bool has(const char *head, size_t len, const char *needle)
{
    return memmem(head, len, needle, strlen(needle)) != NULL;
}

static status_step classify(const char *head, size_t len)
{
    if (len < 15 || memcmp(head, "[{\"ev\":\"status\"", 15) != 0)
        return STEP_DATA;
    if (has(head, len, "\"status\":\"connected\""))
        return STEP_AUTH;
    if (has(head, len, "\"status\":\"auth_success\""))
        return STEP_SUB;
    if (has(head, len, "\"status\":\"success\""))
        return STEP_NONE;
    return STEP_BAD;
}

/* ------------------------------------------------------------ reference: plain socket */

/* A blocking loopback WebSocket client with just enough protocol for the mock:
 * the upgrade, masked text frames out, unmasked single-frame messages in. */
typedef struct sock_client {
    int fd;
    unsigned char *buf;     /* SOCKET_BUF bytes: complete frames are parsed in place */
    size_t off, len;        /* unread bytes are buf[off..len) */
    bool parse;             /* call pws_parse_frame (else count '{') */
    uint64_t parsed;        /* market-data events seen by the parse sink */
    uint64_t parse_errors;
} sock_client;

/* Connects and upgrades; bytes after the 101 response stay in the buffer. */
static bool sock_open(sock_client *sc, int port, char *why, size_t whycap)
{
    sc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sc->fd < 0) {
        snprintf(why, whycap, "socket: %s", strerror(errno));
        return false;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    struct timeval tv = {1, 0}; /* recv wakes up every second to check the deadline */
    setsockopt(sc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(sc->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(why, whycap, "connect: %s", strerror(errno));
        return false;
    }
    static const char req[] = "GET /stocks HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: ZTJlLWJlbmNoLW5vbmNlIQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    if (!bench_send_all(sc->fd, req, sizeof req - 1)) {
        snprintf(why, whycap, "send: %s", strerror(errno));
        return false;
    }
    for (;;) {
        unsigned char *end = memmem(sc->buf, sc->len, "\r\n\r\n", 4);
        if (end) {
            if (sc->len < 12 || memcmp(sc->buf, "HTTP/1.1 101", 12) != 0) {
                snprintf(why, whycap, "upgrade refused: %.40s", (const char *)sc->buf);
                return false;
            }
            sc->off = (size_t)(end + 4 - sc->buf);
            return true;
        }
        ssize_t k = sc->len < 8192 ? recv(sc->fd, sc->buf + sc->len, 8192 - sc->len, 0) : 0;
        if (k <= 0) {
            snprintf(why, whycap, "no upgrade response");
            return false;
        }
        sc->len += (size_t)k;
    }
}

/* Next complete frame: 1 (frame in *op, *payload, *plen), 0 the peer closed,
 * -1 error or deadline (message in why). */
static int sock_frame(sock_client *sc, double deadline, int *op, const unsigned char **payload, size_t *plen,
                      char *why, size_t whycap)
{
    for (;;) {
        size_t avail = sc->len - sc->off;
        const unsigned char *p = sc->buf + sc->off;
        if (avail >= 2) {
            if (p[1] & 0x80 || !(p[0] & 0x80)) {
                snprintf(why, whycap, "unexpected masked or fragmented frame");
                return -1;
            }
            size_t hdr = 2, n = p[1] & 0x7f;
            if (n == 126) {
                hdr = 4;
                n = avail >= 4 ? (size_t)p[2] << 8 | p[3] : 0;
            } else if (n == 127) {
                hdr = 10;
                n = 0;
                for (int i = 0; avail >= 10 && i < 8; i++)
                    n = n << 8 | p[2 + i];
            }
            if (avail >= hdr && n > SOCKET_BUF - hdr) {
                snprintf(why, whycap, "frame of %zu bytes over the %u-byte buffer", n, SOCKET_BUF);
                return -1;
            }
            if (avail >= hdr && avail - hdr >= n) {
                *op = p[0] & 0x0f;
                *payload = p + hdr;
                *plen = n;
                sc->off += hdr + n;
                return 1;
            }
        }
        if (sc->off) { /* keep the partial frame, make room behind it */
            memmove(sc->buf, sc->buf + sc->off, avail);
            sc->len = avail;
            sc->off = 0;
        }
        ssize_t k = recv(sc->fd, sc->buf + sc->len, SOCKET_BUF - sc->len, 0);
        if (k > 0) {
            sc->len += (size_t)k;
        } else if (k == 0) {
            return 0;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(why, whycap, "recv: %s", strerror(errno));
            return -1;
        } else if (bench_now_s() > deadline) {
            snprintf(why, whycap, "timed out");
            return -1;
        }
    }
}

static int parse_sink(const pws_event *ev, void *user)
{
    sock_client *sc = user;
    if (ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE)
        sc->parsed++;
    else if (ev->type == PWS_EV_PARSE_ERROR)
        sc->parse_errors++;
    return 0;
}

static bool run_socket_mode(const bench_opts *o, int port, bool parse, run_result *res)
{
    sock_client sc;
    memset(&sc, 0, sizeof sc);
    sc.parse = parse;
    sc.buf = malloc(SOCKET_BUF);
    if (!sc.buf)
        die("out of memory");
    counts k;
    memset(&k, 0, sizeof k);
    char why[160] = "";
    double cpu0 = self_cpu_s(), mock0 = pid_cpu_s(g_mock_pid), t_start = bench_now_s();
    double deadline = t_start + o->timeout_s;
    bool ok = sock_open(&sc, port, why, sizeof why);
    while (ok && k.events < o->events) {
        if (bench_now_s() > deadline) { /* also when frames keep coming but no data */
            snprintf(why, sizeof why, "timed out");
            ok = false;
            break;
        }
        int op = 0;
        const unsigned char *pl;
        size_t n;
        int r = sock_frame(&sc, deadline, &op, &pl, &n, why, sizeof why);
        if (r <= 0) {
            if (r == 0)
                snprintf(why, sizeof why, "the mock closed the connection");
            ok = false;
            break;
        }
        if (op != 1)
            continue; /* the mock sends no pings unless asked; ignore anything else */
        switch (classify((const char *)pl, n < STATUS_HEAD_MAX ? n : STATUS_HEAD_MAX)) {
        case STEP_AUTH:
            ok = bench_ws_send_text(sc.fd, "{\"action\":\"auth\",\"params\":\"" BENCH_KEY "\"}");
            break;
        case STEP_SUB:
            ok = bench_ws_send_text(sc.fd, o->subscribe_msg);
            break;
        case STEP_NONE:
            break;
        case STEP_BAD:
            snprintf(why, sizeof why, "unexpected status %.*s", (int)(n < 100 ? n : 100), (const char *)pl);
            ok = false;
            break;
        case STEP_DATA:
            if (parse) {
                uint64_t before = sc.parsed;
                pws_parse_frame((const char *)pl, n, NULL, parse_sink, &sc);
                counts_frame(&k, sc.parsed - before, n);
            } else {
                counts_frame(&k, count_braces(pl, n), n);
            }
            break;
        }
    }
    k.t_last = bench_now_s();
    double cpu1 = self_cpu_s(), mock1 = pid_cpu_s(g_mock_pid);
    if (sc.fd >= 0) {
        static const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}; /* 1000, zero mask */
        bench_send_all(sc.fd, close_frame, sizeof close_frame);
        close(sc.fd);
    }
    free(sc.buf);
    const char *name = parse ? "parse" : "socket";
    if (!ok) {
        fprintf(stderr, "e2e_bench: %s client: %s (%" PRIu64 " of %" PRIu64 " events)\n", name, why,
                k.events, o->events);
        return false;
    }
    if (k.events != o->events || sc.parse_errors) {
        fprintf(stderr, "e2e_bench: %s client: %" PRIu64 " events (expected %" PRIu64 "), %" PRIu64
                " parse errors\n", name, k.events, o->events, sc.parse_errors);
        return false;
    }
    counts_result(&k, res);
    res->wall_s = k.t_last - t_start;
    res->client_cpu_s = cpu1 - cpu0;
    res->mock_cpu_s = mock1 - mock0;
    return true;
}

static bool run_socket(const bench_opts *o, int port, const char *url, run_result *res)
{
    (void)url;
    return run_socket_mode(o, port, false, res);
}

static bool run_parse(const bench_opts *o, int port, const char *url, run_result *res)
{
    (void)url;
    return run_socket_mode(o, port, true, res);
}

/* ------------------------------------------------------------ reference: libwebsockets client */

typedef struct lws_ref {
    const bench_opts *o;
    bool failed, closed, done;     /* connection failed / ended / all events seen */
    char why[160];                 /* failure message */
    const char *pending[2];        /* messages to send, in order */
    size_t npending;
    char head[STATUS_HEAD_MAX + 1]; /* start of the current message */
    size_t head_len;
    uint64_t msg_events, msg_bytes; /* '{' and bytes in the current message */
    counts k;
    lws_sorted_usec_list_t tick;   /* wakes the loop to check the deadline */
    struct lws_context *ctx;
} lws_ref;

static void lws_ref_tick(lws_sorted_usec_list_t *sul)
{
    lws_ref *rc = lws_container_of(sul, lws_ref, tick);
    lws_sul_schedule(rc->ctx, 0, &rc->tick, lws_ref_tick, 100 * LWS_US_PER_MS);
}

static void lws_ref_send(lws_ref *rc, struct lws *wsi, const char *msg)
{
    if (rc->npending < 2)
        rc->pending[rc->npending++] = msg;
    lws_callback_on_writable(wsi);
}

/* A complete message: a status drives the handshake, anything else is data. */
static int lws_ref_message(lws_ref *rc, struct lws *wsi)
{
    rc->head[rc->head_len] = '\0';
    switch (classify(rc->head, rc->head_len)) {
    case STEP_AUTH:
        lws_ref_send(rc, wsi, "{\"action\":\"auth\",\"params\":\"" BENCH_KEY "\"}");
        return 0;
    case STEP_SUB:
        lws_ref_send(rc, wsi, rc->o->subscribe_msg);
        return 0;
    case STEP_NONE:
        return 0;
    case STEP_BAD:
        snprintf(rc->why, sizeof rc->why, "unexpected status %.100s", rc->head);
        rc->failed = true;
        return -1;
    case STEP_DATA:
        break;
    }
    counts_frame(&rc->k, rc->msg_events, rc->msg_bytes);
    if (rc->k.events >= rc->o->events) {
        rc->k.t_last = bench_now_s();
        rc->done = true;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int lws_ref_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    lws_ref *rc = ctx ? lws_context_user(ctx) : NULL;
    if (!rc)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(rc->why, sizeof rc->why, "connect failed: %.100s", in ? (const char *)in : "");
        rc->failed = rc->closed = true;
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi)) {
            rc->head_len = 0;
            rc->msg_events = rc->msg_bytes = 0;
        }
        if (rc->head_len < STATUS_HEAD_MAX) {
            size_t k = len < STATUS_HEAD_MAX - rc->head_len ? len : STATUS_HEAD_MAX - rc->head_len;
            memcpy(rc->head + rc->head_len, in, k);
            rc->head_len += k;
        }
        rc->msg_events += count_braces(in, len);
        rc->msg_bytes += len;
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
            return lws_ref_message(rc, wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!rc->npending)
            return 0;
        const char *msg = rc->pending[0];
        rc->pending[0] = rc->pending[1];
        rc->npending--;
        size_t n = strlen(msg);
        unsigned char buf[LWS_PRE + MAX_ACTION_LEN];
        memcpy(buf + LWS_PRE, msg, n);
        if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
            return -1;
        if (rc->npending)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        rc->closed = true;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols lws_ref_protocols[] = {
    {"e2e-lws", lws_ref_callback, 0, 65536, 0, NULL, 0}, /* 64 KiB rx buffer, like the connector */
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static bool run_lws(const bench_opts *o, int port, const char *url, run_result *res)
{
    (void)url;
    lws_ref rc;
    memset(&rc, 0, sizeof rc);
    rc.o = o;
    /* lws 4.1 builds (and leaks) a client SSL_CTX for every context unless given one. */
    SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());
    if (!ssl)
        die("lws: SSL_CTX_new failed");
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = lws_ref_protocols;
    info.user = &rc;
    info.fd_limit_per_thread = 8;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.provided_client_ssl_ctx = ssl;
    double cpu0 = self_cpu_s(), mock0 = pid_cpu_s(g_mock_pid), t_start = bench_now_s();
    rc.ctx = lws_create_context(&info);
    if (!rc.ctx)
        die("lws: lws_create_context failed");
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = rc.ctx;
    ci.address = "127.0.0.1";
    ci.port = port;
    ci.path = "/stocks";
    ci.host = "127.0.0.1";
    ci.origin = "127.0.0.1";
    ci.local_protocol_name = lws_ref_protocols[0].name;
    ci.ietf_version_or_minus_one = -1;
    if (!lws_client_connect_via_info(&ci)) {
        snprintf(rc.why, sizeof rc.why, "lws_client_connect_via_info failed");
        rc.failed = rc.closed = true;
    }
    lws_ref_tick(&rc.tick);
    double deadline = bench_now_s() + o->timeout_s;
    while (!rc.closed && bench_now_s() < deadline)
        if (lws_service(rc.ctx, 0) < 0)
            break;
    double cpu1 = self_cpu_s(), mock1 = pid_cpu_s(g_mock_pid);
    lws_sul_cancel(&rc.tick);
    lws_context_destroy(rc.ctx);
    SSL_CTX_free(ssl);
    if (!rc.done) {
        fprintf(stderr, "e2e_bench: lws client: %s (%" PRIu64 " of %" PRIu64 " events)\n",
                rc.why[0] ? rc.why : (rc.closed ? "connection closed early" : "timed out"), rc.k.events,
                o->events);
        return false;
    }
    if (rc.k.events != o->events) {
        fprintf(stderr, "e2e_bench: lws client counted %" PRIu64 " events, expected %" PRIu64 "\n",
                rc.k.events, o->events);
        return false;
    }
    counts_result(&rc.k, res);
    res->wall_s = rc.k.t_last - t_start;
    res->client_cpu_s = cpu1 - cpu0;
    res->mock_cpu_s = mock1 - mock0;
    return true;
}

/* ------------------------------------------------------------ the connector */

typedef struct conn_run {
    pthread_mutex_t mu;          /* guards done, with cv */
    pthread_cond_t cv;           /* signalled when done */
    bool done;                   /* all events delivered */
    pws_connector *c;
    uint64_t target;             /* events expected */
    /* delivery thread only; main reads them once done is set: */
    uint64_t events;             /* market-data events delivered */
    uint64_t events0;            /* in the first batch that had any */
    pws_stats s0, s1;            /* stats at the first batch and at the last event */
    double t0, t_last;           /* times of both */
    pid_t deliver_tid;           /* the delivery thread, for its CPU time */
} conn_run;

static void on_batch(const pws_event *evs, size_t n, void *user)
{
    conn_run *r = user;
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += evs[i].type == PWS_EV_AGG || evs[i].type == PWS_EV_TRADE || evs[i].type == PWS_EV_QUOTE;
    if (!m)
        return;
    if (r->events == 0) {
        r->t0 = bench_now_s();
        r->events0 = m;
        r->deliver_tid = gettid();
        pws_get_stats(r->c, &r->s0);
    }
    r->events += m;
    if (r->events >= r->target && r->t_last == 0) {
        r->t_last = bench_now_s();
        pws_get_stats(r->c, &r->s1);
        pthread_mutex_lock(&r->mu);
        r->done = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

/* CPU seconds of this process's threads other than a and b: with the main and
 * delivery threads excluded, the connector's network thread. */
static double other_threads_cpu_s(pid_t a, pid_t b)
{
    double sum = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && tid != a && tid != b) {
            double s = tid_cpu_s(tid);
            if (s > 0)
                sum += s;
        }
    }
    closedir(d);
    return sum;
}

static bool run_connector(const bench_opts *o, int port, const char *url, run_result *res)
{
    (void)port;
    conn_run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    r.target = o->events;
    pws_options po;
    memset(&po, 0, sizeof po);
    po.url = url;
    po.api_key = BENCH_KEY;
    po.on_batch = on_batch;
    po.user = &r;
    po.log_level = PWS_LOG_ERROR;
    char err[256] = "";
    double cpu0 = self_cpu_s(), mock0 = pid_cpu_s(g_mock_pid), t_start = bench_now_s();
    if (pws_create(&po, &r.c, err, sizeof err) != PWS_OK)
        die("pws_create: %s", err);
    if (pws_subscribe(r.c, o->channels) != PWS_OK || pws_start(r.c) != PWS_OK)
        die("connector: %s", pws_last_error(r.c));
    double deadline = bench_now_s() + o->timeout_s;
    bool ended = false; /* the connector stopped by itself (fatal error) */
    pthread_mutex_lock(&r.mu);
    while (!r.done && !ended && bench_now_s() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r.cv, &r.mu, &ts);
        pthread_mutex_unlock(&r.mu);
        ended = pws_finished(r.c);
        pthread_mutex_lock(&r.mu);
    }
    bool done = r.done;
    pthread_mutex_unlock(&r.mu);
    double cpu1 = self_cpu_s(), mock1 = pid_cpu_s(g_mock_pid);
    double deliver = done ? tid_cpu_s(r.deliver_tid) : -1;
    double net = done ? other_threads_cpu_s(getpid(), r.deliver_tid) : -1;
    pws_stop(r.c);
    int rc = pws_wait(r.c);
    pws_stats end;
    pws_get_stats(r.c, &end);
    bool ok = done;
    if (!done)
        fprintf(stderr, "e2e_bench: connector: %s after %" PRIu64 " of %" PRIu64 " events (%s)\n",
                ended ? "stopped" : "timed out", r.events, o->events,
                rc ? pws_strerror(rc) : pws_last_error(r.c));
    if (ok && (r.events != o->events || end.parse_errors || end.dropped)) {
        fprintf(stderr,
                "e2e_bench: connector: %" PRIu64 " events (expected %" PRIu64 "), %" PRIu64
                " parse errors, %" PRIu64 " dropped\n",
                r.events, o->events, end.parse_errors, end.dropped);
        ok = false;
    }
    pws_destroy(r.c);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    if (!ok)
        return false;
    double dt = r.t_last - r.t0;
    if (dt <= 0)
        dt = 1e-9;
    res->events_per_s = (double)(r.events - r.events0) / dt;
    res->frames_per_s = (double)(r.s1.frames - r.s0.frames) / dt;
    res->mb_per_s = (double)(r.s1.bytes - r.s0.bytes) / dt / 1e6;
    res->wall_s = r.t_last - t_start;
    res->client_cpu_s = cpu1 - cpu0;
    res->mock_cpu_s = mock1 - mock0;
    res->deliver_cpu_s = deliver;
    res->net_cpu_s = net;
    return true;
}

/* ------------------------------------------------------------ summary */

/* Median CPU costs of a client's runs, in microseconds per event. */
typedef struct cost {
    double mock, client, net, deliver; /* net and deliver < 0 but for the connector */
} cost;

static cost median_cost(const run_result *runs, size_t n, uint64_t events)
{
    double m[MAX_REPS], c[MAX_REPS], t[MAX_REPS], d[MAX_REPS];
    for (size_t i = 0; i < n; i++) {
        m[i] = us_per_event(runs[i].mock_cpu_s, events);
        c[i] = us_per_event(runs[i].client_cpu_s, events);
        t[i] = runs[i].net_cpu_s < 0 ? -1 : us_per_event(runs[i].net_cpu_s, events);
        d[i] = runs[i].deliver_cpu_s < 0 ? -1 : us_per_event(runs[i].deliver_cpu_s, events);
    }
    return (cost){median(m, n), median(c, n), median(t, n), median(d, n)};
}

/* The rate these CPU costs would allow on `cpus` otherwise idle cores: each busy
 * thread is a pipeline stage, so the busiest one bounds the rate, and so does the
 * total over the cores.  An estimate: the costs were measured under whatever
 * contention the machine had (less contention usually means smaller reads and more
 * wake-ups, so it is an upper bound). */
static double ceiling(const cost *k, long cpus)
{
    double busiest = k->mock, sum = k->mock + k->client;
    if (k->net >= 0) {
        busiest = k->net > busiest ? k->net : busiest;
        busiest = k->deliver > busiest ? k->deliver : busiest;
    } else {
        busiest = k->client > busiest ? k->client : busiest;
    }
    double by_thread = 1e6 / busiest, by_cores = (double)cpus * 1e6 / sum;
    return by_thread < by_cores ? by_thread : by_cores;
}

static void summary(const char *name, const double *rates, const run_result *runs, size_t n,
                    uint64_t events, long cpus)
{
    cost k = median_cost(runs, n, events);
    printf("  %-9s best %5.2fM median %5.2fM events/s | CPU us/event: mock %.2f, client %.2f", name,
           best(rates, n) / 1e6, median(rates, n) / 1e6, k.mock, k.client);
    if (k.net >= 0)
        printf(" (network %.2f, delivery %.2f)", k.net, k.deliver);
    printf(" | ~%.2fM on %ld idle cores\n", ceiling(&k, cpus) / 1e6, cpus);
}

/* ------------------------------------------------------------ main */

typedef bool (*client_fn)(const bench_opts *o, int port, const char *url, run_result *res);

static const struct client {
    const char *name;  /* for --only and the report */
    client_fn run;
} clients[] = {
    {"socket", run_socket},
    {"parse", run_parse},
    {"lws", run_lws},
    {"connector", run_connector},
};
#define NCLIENTS (sizeof clients / sizeof clients[0])

int main(int argc, char **argv)
{
    static bench_opts o; /* static: holds the subscribe message */
    parse_args(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    lws_set_log_level(LLL_ERR, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    printf("e2e_bench: %" PRIu64 " events per run, batch_max %u (~%u events/frame), channels %s, "
           "%u reps, %ld online CPUs, mock journal %s\n",
           o.events, o.batch, (o.batch + 1) / 2, o.channels, o.reps, cpus, o.journal ? "on" : "capped");
    if (want(&o, "gen"))
        run_gen(&o);
    bool any = false;
    for (size_t c = 0; c < NCLIENTS; c++)
        any |= want(&o, clients[c].name);
    if (!any)
        return 0;

    int port;
    char url[256];
    if (o.url) {
        /* an external mock: ws://127.0.0.1:PORT/PATH (the raw-socket clients speak to loopback) */
        const char *colon = strrchr(o.url, ':');
        if (strncmp(o.url, "ws://127.0.0.1:", 15) != 0 || !colon || (port = atoi(colon + 1)) <= 0 ||
            strlen(o.url) >= sizeof url)
            die("--url must be ws://127.0.0.1:PORT/MARKET, not %s", o.url);
        snprintf(url, sizeof url, "%s", o.url);
        g_mock_pid = o.mock_pid;
    } else {
        /* Fork first: the mock process must not inherit threads (there are none yet). */
        port = start_child(&o);
        snprintf(url, sizeof url, "%s/stocks", mockchild_url());
        g_mock_pid = mockchild_pid();
    }
    printf("mock         : pid %d, %s\n", (int)g_mock_pid, url);
    fflush(stdout);

    static run_result runs[NCLIENTS][MAX_REPS];
    static double rates[NCLIENTS][MAX_REPS];
    size_t nruns[NCLIENTS] = {0};
    for (unsigned rep = 1; rep <= o.reps; rep++) {
        for (size_t c = 0; c < NCLIENTS; c++) {
            if (!want(&o, clients[c].name))
                continue;
            run_result *r = &runs[c][nruns[c]];
            memset(r, 0, sizeof *r);
            if (!clients[c].run(&o, port, url, r))
                die("%s run %u failed", clients[c].name, rep);
            print_run(clients[c].name, rep, r, o.events);
            if (o.result_lines)
                printf("RESULT {\"client\":\"%s\",\"events\":%" PRIu64 ",\"events_per_s\":%.0f,"
                       "\"mb_per_s\":%.1f,\"client_cpu_s\":%.4f,\"mock_cpu_s\":%.4f}\n",
                       clients[c].name, o.events, r->events_per_s, r->mb_per_s, r->client_cpu_s, r->mock_cpu_s);
            rates[c][nruns[c]++] = r->events_per_s;
        }
    }
    mockchild_stop();

    printf("summary over %u reps (CPU costs: medians; last column: the rate those costs allow):\n", o.reps);
    for (size_t c = 0; c < NCLIENTS; c++)
        if (nruns[c])
            summary(clients[c].name, rates[c], runs[c], nruns[c], o.events, cpus);
    size_t con = NCLIENTS - 1;
    if (nruns[con])
        printf("e2e: %.0f events/s\n", best(rates[con], nruns[con]));
    return 0;
}
