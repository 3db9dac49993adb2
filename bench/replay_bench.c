/*
 * replay_bench.c - `polyws replay --speed max` throughput: a generated tape of
 * N events played to clients over loopback.
 *
 * The tape is one recorded session: greeting, auth, subscribe, confirmations,
 * then N market events (trades, quotes, per-second aggregates in a fixed mix)
 * in server text frames of --batch events, then the client's close.  The
 * replayer (libpwsreplay, its own thread, as in `polyws replay`) plays it at
 * max speed to three clients in turn, so the report shows where time goes:
 *
 *   decode     pws_tape_next() over the tape, no sockets: the replayer's
 *              source (tape reading and JSON-string decoding) bound;
 *   socket     a blocking socket with minimal WebSocket deframing that only
 *              counts frames: the replayer + loopback bound;
 *   connector  libpolyws (pws_create/pws_start, on_batch counting market-data
 *              events): the number the issue asks for.
 *
 * A run is timed from the client's connect to its last event; frames/s counts
 * the server frames of the tape.  Everything runs in this one process, so the
 * CPU time per event (all threads: replayer and client) is printed too: on a
 * shared machine it is the steadier number.  Each client runs --reps times against a
 * fresh replayer; the summary has the best and the median.  The last line is
 * "replay: N events/s", the connector's best run.
 *
 *   replay_bench [--events N] [--batch B] [--reps R] [--keep FILE]
 *
 * Exit status 0 on success; 1 if a run fails, times out or counts other than
 * exactly N events, or the replayer reports a deviation.  No timing threshold.
 */
#include <polyws/polyws.h>
#include <polyws/replay.h>
#include <polyws/tape.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 20
#define RUN_TIMEOUT_S 120
#define SUBSCRIBE "T.*,Q.*,A.*"

typedef struct opts {
    uint64_t events;   /* market events on the tape */
    unsigned batch;    /* events per frame */
    unsigned reps;     /* runs per client */
    const char *keep;  /* keep the tape here (else a temp file, removed) */
} opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this whole process (all threads: replayer, client, connector). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the tape */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const syms[] = {"AAPL", "MSFT", "AMZN", "GOOGL", "TSLA", "NVDA", "META", "SPY"};

/* One event as JSON (no trailing comma): 50 % trades, 40 % quotes, 10 % aggregates. */
static int event_json(char *buf, size_t cap, uint64_t i)
{
    const char *sym = syms[rng() % 8];
    uint64_t r = rng();
    int64_t t = 1704205800000 + (int64_t)(i / 50);
    double px = 100.0 + (double)(r % 100000) / 100.0;
    switch (r % 10) {
    case 0:
        return snprintf(buf, cap,
                        "{\"ev\":\"A\",\"sym\":\"%s\",\"v\":%u,\"av\":%u,\"op\":%.2f,\"vw\":%.4f,\"o\":%.2f,\"c\":%.2f,"
                        "\"h\":%.2f,\"l\":%.2f,\"a\":%.4f,\"z\":%u,\"s\":%lld,\"e\":%lld}",
                        sym, (unsigned)(r % 5000), (unsigned)(r % 9000000), px, px, px, px + 0.01, px + 0.02, px - 0.01,
                        px, (unsigned)(r % 300), (long long)(t / 1000 * 1000), (long long)(t / 1000 * 1000 + 1000));
    case 1: case 2: case 3: case 4:
        return snprintf(buf, cap,
                        "{\"ev\":\"T\",\"sym\":\"%s\",\"x\":%u,\"i\":\"%llu\",\"z\":3,\"p\":%.4f,\"s\":%u,\"c\":[12,37],"
                        "\"t\":%lld,\"q\":%llu}",
                        sym, (unsigned)(r % 20), (unsigned long long)(i + 10000), px, (unsigned)(r % 1000 + 1),
                        (long long)t, (unsigned long long)(i + 5000000));
    default:
        return snprintf(buf, cap,
                        "{\"ev\":\"Q\",\"sym\":\"%s\",\"bx\":%u,\"bp\":%.2f,\"bs\":%u,\"ax\":%u,\"ap\":%.2f,\"as\":%u,"
                        "\"c\":0,\"i\":[604],\"t\":%lld,\"q\":%llu,\"z\":3}",
                        sym, (unsigned)(r % 20), px, (unsigned)(r % 50 + 1), (unsigned)(r % 19), px + 0.01,
                        (unsigned)(r % 40 + 1), (long long)t, (unsigned long long)(i + 9000000));
    }
}

/* Writes the tape; returns the number of server frames on it, 0 on failure. */
static uint64_t make_tape(const opts *o, const char *path, double *secs, uint64_t *bytes)
{
    double t0 = now_s();
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .url = "ws://bench.invalid/stocks", .start_us = pws_now_us(),
                         .tool = "replay_bench", .mode = "bench"};
    h.redacted.auth_params = true;
    pws_tape_writer *w;
    char err[256];
    if (pws_tape_writer_open(path, &h, false, &w, err, sizeof err)) {
        fprintf(stderr, "replay_bench: %s\n", err);
        return 0;
    }
    uint64_t frames = 0;
    int64_t t = 0;
    bool ok = true;
#define PUT(dir_, kind_, s_, n_)                                                                                        \
    do {                                                                                                                \
        pws_tape_frame f_ = {.t_us = t += 10, .conn = 1, .dir = (dir_), .kind = (kind_),                               \
                             .data = (const unsigned char *)(s_), .len = (n_)};                                        \
        ok = ok && pws_tape_write(w, &f_) == PWS_OK;                                                                    \
        frames += (dir_) == 's';                                                                                        \
    } while (0)
#define PUTS(dir_, s_) PUT(dir_, PWS_TAPE_TEXT, s_, strlen(s_))
    PUT('-', PWS_TAPE_OPEN, "/stocks", 7);
    PUTS('s', "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]");
    PUTS('c', "{\"action\":\"auth\",\"params\":\"***\"}");
    PUTS('s', "[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]");
    PUTS('c', "{\"action\":\"subscribe\",\"params\":\"" SUBSCRIBE "\"}");
    PUTS('s', "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: T.*\"}]");
    PUTS('s', "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: Q.*\"}]");
    PUTS('s', "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: A.*\"}]");
    size_t cap = (size_t)o->batch * 400 + 16;
    char *frame = malloc(cap);
    for (uint64_t i = 0; i < o->events && ok && frame;) {
        size_t len = 0;
        frame[len++] = '[';
        for (unsigned k = 0; k < o->batch && i < o->events; k++, i++) {
            if (k)
                frame[len++] = ',';
            len += (size_t)event_json(frame + len, cap - len - 2, i);
        }
        frame[len++] = ']';
        PUT('s', PWS_TAPE_TEXT, frame, len);
    }
    free(frame);
    pws_tape_frame cl = {.t_us = t += 10, .conn = 1, .dir = 'c', .kind = PWS_TAPE_CLOSE, .code = 1000, .reason = "bye"};
    ok = ok && pws_tape_write(w, &cl) == PWS_OK;
    cl.dir = 's';
    cl.t_us = t += 10;
    ok = ok && pws_tape_write(w, &cl) == PWS_OK;
    PUT('-', PWS_TAPE_CLOSED, "client", 6);
    *bytes = pws_tape_writer_bytes(w);
    if (pws_tape_writer_close(w) || !ok) {
        fprintf(stderr, "replay_bench: cannot write the tape\n");
        return 0;
    }
    *secs = now_s() - t0;
    return frames + 1; /* the close */
#undef PUT
#undef PUTS
}

/* ---- decode: the tape alone */

static int run_decode(const char *path, uint64_t *frames_out, double *secs)
{
    double t0 = now_s();
    pws_tape_reader *r;
    char err[256];
    if (pws_tape_reader_open(path, &r, err, sizeof err)) {
        fprintf(stderr, "replay_bench: %s\n", err);
        return -1;
    }
    pws_tape_frame f;
    uint64_t n = 0;
    int rc;
    while ((rc = pws_tape_next(r, &f)) == 1)
        n += f.dir == 's';
    pws_tape_reader_close(r);
    *secs = now_s() - t0;
    *frames_out = n;
    return rc;
}

/* ---- socket: counts frames */

static int send_masked_text(int fd, const char *s)
{
    unsigned char buf[256];
    size_t n = strlen(s);
    if (n > 125)
        return -1;
    buf[0] = 0x81;
    buf[1] = (unsigned char)(0x80 | n);
    memcpy(buf + 2, "\x12\x34\x56\x78", 4);
    for (size_t i = 0; i < n; i++)
        buf[6 + i] = (unsigned char)s[i] ^ buf[2 + (i & 3)];
    return send(fd, buf, 6 + n, 0) == (ssize_t)(6 + n) ? 0 : -1;
}

static int run_socket(int port, uint64_t want_frames, double *secs, char *why, size_t whycap)
{
    double t0 = now_s();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {RUN_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        snprintf(why, whycap, "connect: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    const char *req = "GET /stocks HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd, req, strlen(req), 0) != (ssize_t)strlen(req) ||
        send_masked_text(fd, "{\"action\":\"auth\",\"params\":\"bench-key\"}") ||
        send_masked_text(fd, "{\"action\":\"subscribe\",\"params\":\"" SUBSCRIBE "\"}")) {
        snprintf(why, whycap, "send: %s", strerror(errno));
        close(fd);
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    bool head = true;
    uint64_t frames = 0;
    uint64_t skip = 0; /* payload bytes of the current frame still to skip */
    int rc = -1;
    while (frames < want_frames) {
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0) {
            snprintf(why, whycap, n == 0 ? "closed after %llu frames" : "recv: timed out after %llu frames",
                     (unsigned long long)frames);
            goto out;
        }
        len += (size_t)n;
        size_t at = 0;
        if (head) {
            unsigned char *e = memmem(buf, len, "\r\n\r\n", 4);
            if (!e)
                continue;
            if (memcmp(buf, "HTTP/1.1 101", 12)) {
                snprintf(why, whycap, "upgrade refused");
                goto out;
            }
            head = false;
            at = (size_t)(e - buf) + 4;
        }
        for (;;) {
            if (skip) {
                size_t take = len - at < skip ? len - at : (size_t)skip;
                skip -= take;
                at += take;
                if (skip)
                    break;
            }
            if (len - at < 2)
                break;
            uint64_t pl = buf[at + 1] & 0x7F;
            size_t hl = 2;
            if (pl == 126) {
                if (len - at < 4)
                    break;
                pl = (uint64_t)buf[at + 2] << 8 | buf[at + 3];
                hl = 4;
            } else if (pl == 127) {
                if (len - at < 10)
                    break;
                pl = 0;
                for (int k = 0; k < 8; k++)
                    pl = pl << 8 | buf[at + 2 + k];
                hl = 10;
            }
            at += hl;
            frames++;
            skip = pl;
            if (frames >= want_frames)
                break;
        }
        memmove(buf, buf + at, len - at);
        len -= at;
    }
    *secs = now_s() - t0;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* ---- connector: counts market events in on_batch */

typedef struct count {
    pws_connector *c;            /* the connector */
    uint64_t want;               /* events to see */
    uint64_t seen;               /* market events seen (delivery thread) */
    uint64_t errors;             /* parse errors */
    double done_at;              /* when the last one came */
    bool done;                   /* set once, read by the main thread */
} count;

static void on_batch(const pws_event *evs, size_t n, void *user)
{
    count *c = user;
    for (size_t i = 0; i < n; i++) {
        pws_event_type t = evs[i].type;
        if (t == PWS_EV_AGG || t == PWS_EV_TRADE || t == PWS_EV_QUOTE)
            c->seen++;
        else if (t == PWS_EV_PARSE_ERROR)
            c->errors++;
    }
    if (c->seen >= c->want && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
        c->done_at = now_s();
        __atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
        pws_stop(c->c);
    }
}

static int run_connector(const char *url, uint64_t want, double *secs, char *why, size_t whycap)
{
    count cnt = {.want = want};
    pws_options o = {0};
    o.url = url;
    o.api_key = "bench-key";
    o.on_batch = on_batch;
    o.user = &cnt;
    o.log_level = PWS_LOG_ERROR;
    o.backoff.max_attempts = 1;
    char err[256];
    if (pws_create(&o, &cnt.c, err, sizeof err) || pws_subscribe(cnt.c, SUBSCRIBE)) {
        snprintf(why, whycap, "%s", err);
        return -1;
    }
    double t0 = now_s();
    if (pws_start(cnt.c)) {
        snprintf(why, whycap, "%s", pws_last_error(cnt.c));
        pws_destroy(cnt.c);
        return -1;
    }
    while (!__atomic_load_n(&cnt.done, __ATOMIC_ACQUIRE) && !pws_finished(cnt.c) && now_s() - t0 < RUN_TIMEOUT_S)
        usleep(1000);
    pws_stop(cnt.c);
    pws_wait(cnt.c);
    pws_destroy(cnt.c);
    if (!cnt.done || cnt.seen != want || cnt.errors) {
        snprintf(why, whycap, "%llu of %llu events, %llu parse errors", (unsigned long long)cnt.seen,
                 (unsigned long long)want, (unsigned long long)cnt.errors);
        return -1;
    }
    *secs = cnt.done_at - t0;
    return 0;
}

/* The socket client leaves without the close the tape expects: its deviation report is noise. */
static void drop_log(pws_log_level level, const char *msg, void *user)
{
}

static pwsr_replayer *replayer(const char *tape, bool quiet)
{
    pwsr_replay_options ro = {.tape_path = tape, .speed = -1, .wait_ms = 30000};
    ro.log_level = PWS_LOG_ERROR;
    if (quiet)
        ro.log_fn = drop_log;
    char err[256];
    pwsr_replayer *rp = pwsr_replay_start(&ro, err, sizeof err);
    if (!rp)
        fprintf(stderr, "replay_bench: %s\n", err);
    return rp;
}

static bool replay_clean(pwsr_replayer *rp)
{
    pwsr_replay_wait(rp, 3000);
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    if (res.deviations)
        fprintf(stderr, "replay_bench: deviation: %s\n", res.report);
    return res.deviations == 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: replay_bench [--events N] [--batch B] [--reps R] [--keep FILE]\n");
}

int main(int argc, char **argv)
{
    opts o = {.events = 1000000, .batch = 50, .reps = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--events") && v) {
            o.events = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            o.batch = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            o.reps = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--keep") && v) {
            o.keep = v;
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (!o.events || !o.batch || o.batch > 1000 || !o.reps || o.reps > MAX_REPS) {
        usage();
        return 2;
    }
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    char tmp[] = "/tmp/replay_bench.XXXXXX";
    char path[300];
    if (o.keep) {
        snprintf(path, sizeof path, "%s", o.keep);
    } else {
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(path, sizeof path, "%s/bench.tape", tmp);
    }
    double gen_s = 0;
    uint64_t tape_bytes = 0;
    uint64_t frames = make_tape(&o, path, &gen_s, &tape_bytes);
    if (!frames)
        return 1;
    printf("tape         : %llu events in %llu server frames (batch %u), %.1f MB, written in %.2f s\n",
           (unsigned long long)o.events, (unsigned long long)frames, o.batch, (double)tape_bytes / 1e6, gen_s);
    int status = 0;
    double rate_dec[MAX_REPS], rate_sock[MAX_REPS], rate_conn[MAX_REPS];
    double cpu_dec[MAX_REPS], cpu_sock[MAX_REPS], cpu_conn[MAX_REPS];
    char url[128], why[256];
    for (unsigned rep = 0; rep < o.reps && !status; rep++) {
        uint64_t nf = 0;
        double s = 0, c0 = cpu_s();
        if (run_decode(path, &nf, &s) || nf != frames) {
            fprintf(stderr, "replay_bench: decode: %llu of %llu frames\n", (unsigned long long)nf,
                    (unsigned long long)frames);
            status = 1;
            break;
        }
        rate_dec[rep] = (double)o.events / s;
        cpu_dec[rep] = (cpu_s() - c0) / (double)o.events * 1e6;
        printf("decode    #%-2u: %5.2fM events/s %8.0f frames/s %6.1f MB/s | CPU us/event %.3f\n", rep + 1,
               rate_dec[rep] / 1e6, (double)frames / s, (double)tape_bytes / s / 1e6, cpu_dec[rep]);
        c0 = cpu_s();

        pwsr_replayer *rp = replayer(path, true);
        if (!rp || run_socket(pwsr_replay_port(rp), frames - 1, &s, why, sizeof why)) {
            fprintf(stderr, "replay_bench: socket client: %s\n", rp ? why : "no replayer");
            pwsr_replay_stop(rp);
            status = 1;
            break;
        }
        pwsr_replay_stop(rp);
        rate_sock[rep] = (double)o.events / s;
        cpu_sock[rep] = (cpu_s() - c0) / (double)o.events * 1e6;
        printf("socket    #%-2u: %5.2fM events/s %8.0f frames/s | CPU us/event %.3f (replayer + client)\n", rep + 1,
               rate_sock[rep] / 1e6, (double)frames / s, cpu_sock[rep]);
        c0 = cpu_s();

        rp = replayer(path, false);
        if (!rp) {
            status = 1;
            break;
        }
        snprintf(url, sizeof url, "%s/stocks", pwsr_replay_url(rp));
        if (run_connector(url, o.events, &s, why, sizeof why)) {
            fprintf(stderr, "replay_bench: connector: %s\n", why);
            pwsr_replay_stop(rp);
            status = 1;
            break;
        }
        bool clean = replay_clean(rp);
        pwsr_replay_stop(rp);
        if (!clean) {
            status = 1;
            break;
        }
        rate_conn[rep] = (double)o.events / s;
        cpu_conn[rep] = (cpu_s() - c0) / (double)o.events * 1e6;
        printf("connector #%-2u: %5.2fM events/s %8.0f frames/s | CPU us/event %.3f (replayer + connector)\n",
               rep + 1, rate_conn[rep] / 1e6, (double)frames / s, cpu_conn[rep]);
        fflush(stdout);
    }
    if (!o.keep) {
        remove(path);
        rmdir(tmp);
    }
    if (status)
        return status;
    const char *names[] = {"decode", "socket", "connector"};
    double *rates[] = {rate_dec, rate_sock, rate_conn}, *cpus[] = {cpu_dec, cpu_sock, cpu_conn};
    printf("summary over %u reps:\n", o.reps);
    for (int k = 0; k < 3; k++) {
        double sorted[MAX_REPS], csorted[MAX_REPS];
        memcpy(sorted, rates[k], o.reps * sizeof *sorted);
        memcpy(csorted, cpus[k], o.reps * sizeof *csorted);
        qsort(sorted, o.reps, sizeof *sorted, cmp_double);
        qsort(csorted, o.reps, sizeof *csorted, cmp_double);
        printf("  %-9s best %.2fM events/s (%.0f frames/s), median %.2fM events/s | CPU us/event median %.3f\n",
               names[k], sorted[o.reps - 1] / 1e6, sorted[o.reps - 1] / (double)o.batch, sorted[o.reps / 2] / 1e6,
               csorted[o.reps / 2]);
    }
    double best = rate_conn[0];
    for (unsigned i = 1; i < o.reps; i++)
        if (rate_conn[i] > best)
            best = rate_conn[i];
    printf("replay: %.0f events/s\n", best);
    return 0;
}
