/*
 * badclient.c - a small Polygon WebSocket client with deliberate mistakes, to
 * prove that `polyws check` catches them.
 *
 *   badclient MODE
 *
 *   good            does everything right (the control: it must pass)
 *   no-auth         never sends auth (and exits when the server closes)
 *   early-subscribe sends subscribe right after auth, without waiting for
 *                   auth_success (what the official Go client does)
 *   no-delay        reconnects at once after a drop, ignoring any backoff
 *   no-resubscribe  after a reconnect, authenticates but does not subscribe again
 *   no-reconnect    after the first connection ends, stays alive but never reconnects
 *
 * It follows the `polyws check` environment contract (docs/check.md):
 * POLYWS_URL (ws:// only; no TLS here), POLYWS_API_KEY, POLYWS_SUBSCRIBE,
 * POLYWS_COUNT, POLYWS_DURATION, POLYWS_BACKOFF_MS.  It prints every
 * non-status event object it receives on stdout, one line each, and what it
 * does on stderr.  It stops after POLYWS_COUNT events (close 1000, exit 0),
 * after POLYWS_DURATION seconds (exit 0), on auth_failed (exit 1), or after
 * MAX_CONNECTIONS connections (exit 3).
 *
 * Plain POSIX sockets and a hand-written RFC 6455 framing: no dependency, so
 * it runs wherever the project builds.  It is a test tool, not an example:
 * it reads whole frames into a fixed buffer and gives up on anything odd.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX (4u << 20) /* largest frame accepted */
#define MAX_CONNECTIONS 50   /* give up after this many connections */

typedef enum mode { GOOD, NO_AUTH, EARLY_SUBSCRIBE, NO_DELAY, NO_RESUBSCRIBE, NO_RECONNECT } mode;

typedef struct ws {
    int fd;                 /* socket, -1 when closed */
    unsigned char *buf;     /* received bytes not yet parsed */
    size_t len;             /* bytes in buf */
} ws;

static mode g_mode;
static double g_deadline;   /* monotonic seconds to stop at, 0 = none */
static uint64_t g_count;    /* events to stop after, 0 = none */
static uint64_t g_seen;     /* events seen */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "badclient: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int write_all(int fd, const void *p, size_t n, int flags)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL | flags);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one masked frame (clients must mask); with `more`, the kernel holds it back until the
 * next send (MSG_MORE), so two frames leave in one TCP segment. */
static int ws_send_ex(ws *c, int opcode, const void *data, size_t len, bool more)
{
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[hl++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(len >> 8);
        h[hl++] = (unsigned char)len;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(h + hl, mask, 4);
    hl += 4;
    /* Header and payload in one send: two small writes would meet Nagle and delayed ACKs. */
    unsigned char *m = malloc(hl + len + 1);
    if (!m)
        return -1;
    memcpy(m, h, hl);
    for (size_t i = 0; i < len; i++)
        m[hl + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    int rc = write_all(c->fd, m, hl + len, more ? MSG_MORE : 0);
    free(m);
    return rc;
}

static int ws_send(ws *c, int opcode, const void *data, size_t len)
{
    return ws_send_ex(c, opcode, data, len, false);
}

static int ws_text(ws *c, const char *s)
{
    return ws_send(c, 1, s, strlen(s));
}

static void ws_close(ws *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

/* Connects and upgrades.  url: ws://host:port/path. */
static int ws_connect(ws *c, const char *url)
{
    char host[256], port[16] = "80", path[1024] = "/";
    if (strncmp(url, "ws://", 5) != 0) {
        say("only ws:// URLs are supported, not %s", url);
        return -1;
    }
    const char *h = url + 5, *slash = strchr(h, '/'), *colon = strchr(h, ':');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (colon && (!slash || colon < slash)) {
        snprintf(port, sizeof port, "%.*s", (int)(hl - (size_t)(colon - h) - 1), colon + 1);
        hl = (size_t)(colon - h);
    }
    snprintf(host, sizeof host, "%.*s", (int)hl, h);
    if (slash)
        snprintf(path, sizeof path, "%s", slash);
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        freeaddrinfo(ai);
        ws_close(c);
        return -1;
    }
    freeaddrinfo(ai);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host, port);
    if (write_all(c->fd, req, (size_t)n, 0) != 0) {
        ws_close(c);
        return -1;
    }
    /* Read the response headers; anything after them is the first frame's bytes. */
    c->len = 0;
    for (;;) {
        if (c->len >= FRAME_MAX) {
            ws_close(c);
            return -1;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, FRAME_MAX - c->len, 0);
        if (r <= 0) {
            ws_close(c);
            return -1;
        }
        c->len += (size_t)r;
        unsigned char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            continue;
        if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
            say("upgrade refused: %.*s", (int)(c->len < 60 ? c->len : 60), c->buf);
            ws_close(c);
            return -1;
        }
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        return 0;
    }
}

/* Reads the next text message (answering pings) into *msg (NUL-terminated, inside c->buf
 * until the next call).  Returns 1 for a message, 0 on timeout, -1 when the connection
 * ended (close frame answered, or dropped). */
static int ws_recv(ws *c, char **msg, int timeout_ms)
{
    static unsigned char frame[FRAME_MAX + 1];
    double until = now_s() + timeout_ms / 1000.0;
    for (;;) {
        if (c->len >= 2) {
            size_t need = 2, plen = c->buf[1] & 0x7f;
            if (plen == 126) {
                need = 4;
                if (c->len >= 4)
                    plen = (size_t)c->buf[2] << 8 | c->buf[3];
            } else if (plen == 127) {
                need = 10;
                if (c->len >= 10) {
                    plen = 0;
                    for (int i = 2; i < 10; i++)
                        plen = plen << 8 | c->buf[i];
                }
            }
            if (plen > FRAME_MAX - 16) {
                say("frame of %zu bytes is too big", plen);
                ws_close(c);
                return -1;
            }
            if (c->len >= need && c->len >= need + plen) {
                int opcode = c->buf[0] & 0x0f;
                memcpy(frame, c->buf + need, plen);
                frame[plen] = '\0';
                memmove(c->buf, c->buf + need + plen, c->len - need - plen);
                c->len -= need + plen;
                if (opcode == 9) {
                    ws_send(c, 10, frame, plen);
                    continue;
                }
                if (opcode == 8) {
                    int code = plen >= 2 ? frame[0] << 8 | frame[1] : 1005;
                    say("server closed with %d", code);
                    ws_send(c, 8, frame, plen >= 2 ? 2 : 0);
                    ws_close(c);
                    return -1;
                }
                if (opcode == 1 || opcode == 0) {
                    *msg = (char *)frame;
                    return 1;
                }
                continue; /* binary, pong: ignored */
            }
        }
        int left = (int)((until - now_s()) * 1000);
        if (g_deadline > 0 && now_s() >= g_deadline)
            return 0;
        if (left <= 0)
            return 0;
        struct pollfd p = {c->fd, POLLIN, 0};
        int pr = poll(&p, 1, left > 50 ? 50 : left);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t r = recv(c->fd, c->buf + c->len, FRAME_MAX - c->len, 0);
        if (r <= 0) {
            say("connection dropped");
            ws_close(c);
            return -1;
        }
        c->len += (size_t)r;
    }
}

static bool has_status(const char *msg, const char *status)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"status\":\"%s\"", status);
    return strstr(msg, pat) != NULL;
}

/* Prints each event object of a message that is not a status, at most max (0 = all);
 * returns the count. */
static uint64_t print_events(const char *msg, uint64_t max)
{
    uint64_t n = 0;
    const char *p = msg;
    while ((!max || n < max) && (p = strstr(p, "{\"ev\":\"")) != NULL) {
        const char *end = strchr(p, '}');
        if (!end)
            break;
        if (strncmp(p, "{\"ev\":\"status\"", 14) != 0) {
            printf("%.*s\n", (int)(end - p + 1), p);
            n++;
        }
        p = end + 1;
    }
    fflush(stdout);
    return n;
}

/* Waits for a status; returns 1 if it came, 0 if not in time, -1 if the connection ended
 * and -2 on auth_failed. */
static int wait_status(ws *c, const char *status, int timeout_ms)
{
    double until = now_s() + timeout_ms / 1000.0;
    while (now_s() < until) {
        char *msg;
        int r = ws_recv(c, &msg, (int)((until - now_s()) * 1000) + 1);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        if (has_status(msg, "auth_failed"))
            return -2;
        if (has_status(msg, status))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: badclient good|no-auth|early-subscribe|no-delay|no-resubscribe|no-reconnect\n");
        return 2;
    }
    const char *m = argv[1];
    g_mode = !strcmp(m, "good")              ? GOOD
             : !strcmp(m, "no-auth")         ? NO_AUTH
             : !strcmp(m, "early-subscribe") ? EARLY_SUBSCRIBE
             : !strcmp(m, "no-delay")        ? NO_DELAY
             : !strcmp(m, "no-resubscribe")  ? NO_RESUBSCRIBE
             : !strcmp(m, "no-reconnect")    ? NO_RECONNECT
                                             : (mode)-1;
    if ((int)g_mode < 0) {
        fprintf(stderr, "badclient: unknown mode '%s'\n", m);
        return 2;
    }
    const char *url = getenv("POLYWS_URL"), *key = getenv("POLYWS_API_KEY"), *subs = getenv("POLYWS_SUBSCRIBE");
    if (!url || !key || !subs) {
        fprintf(stderr, "badclient: POLYWS_URL, POLYWS_API_KEY and POLYWS_SUBSCRIBE are required\n");
        return 2;
    }
    const char *e;
    if ((e = getenv("POLYWS_COUNT")) != NULL)
        g_count = strtoull(e, NULL, 10);
    if ((e = getenv("POLYWS_DURATION")) != NULL && atof(e) > 0)
        g_deadline = now_s() + atof(e);
    int backoff_ms = (e = getenv("POLYWS_BACKOFF_MS")) != NULL ? atoi(e) : 500;
    if (g_mode == NO_DELAY)
        backoff_ms = 0;
    signal(SIGPIPE, SIG_IGN);

    char auth[1024], sub[9000];
    snprintf(auth, sizeof auth, "{\"action\":\"auth\",\"params\":\"%s\"}", key);
    snprintf(sub, sizeof sub, "{\"action\":\"subscribe\",\"params\":\"%s\"}", subs);
    ws c = {-1, malloc(FRAME_MAX + 1), 0};
    if (!c.buf)
        return 1;
    int exit_code = 3;
    for (int conn = 1; conn <= MAX_CONNECTIONS; conn++) {
        if (g_deadline > 0 && now_s() >= g_deadline) {
            exit_code = 0;
            break;
        }
        if (conn > 1 && g_mode == NO_RECONNECT) {
            /* the mistake: stay alive but never come back (until the deadline or the runner) */
            say("connection lost; not reconnecting");
            while (g_deadline <= 0 || now_s() < g_deadline)
                sleep(1);
            exit_code = 0;
            break;
        }
        if (conn > 1 && backoff_ms > 0) {
            say("reconnecting in %d ms", backoff_ms);
            struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (ws_connect(&c, url) != 0) {
            say("connection %d failed", conn);
            continue;
        }
        say("connected (connection %d)", conn);
        int r = wait_status(&c, "connected", 5000);
        if (r < 0)
            continue;
        if (g_mode != NO_AUTH) {
            /* early-subscribe: auth and subscribe in one segment, so the server reads both
             * before it can answer the auth (the order on the wire is then certain). */
            ws_send_ex(&c, 1, auth, strlen(auth), g_mode == EARLY_SUBSCRIBE);
            if (g_mode == EARLY_SUBSCRIBE)
                ws_text(&c, sub);
            r = wait_status(&c, "auth_success", 5000);
            if (r == -2) {
                say("authentication failed");
                ws_close(&c);
                exit_code = 1;
                break;
            }
            if (r <= 0) {
                ws_close(&c);
                continue;
            }
            say("authenticated (connection %d)", conn);
            if (g_mode != EARLY_SUBSCRIBE && !(g_mode == NO_RESUBSCRIBE && conn > 1))
                ws_text(&c, sub);
        }
        /* Read until the connection ends, the count or the deadline. */
        for (;;) {
            char *msg;
            r = ws_recv(&c, &msg, 1000);
            if (r < 0 && g_mode == NO_AUTH) {
                free(c.buf);
                return 0; /* it never authenticates: no point in coming back */
            }
            if (r < 0)
                break;
            if (g_deadline > 0 && now_s() >= g_deadline) {
                ws_send(&c, 8, "\x03\xe8", 2);
                ws_close(&c);
                free(c.buf);
                return 0;
            }
            if (r == 0)
                continue;
            if (has_status(msg, "auth_timeout"))
                say("server says auth_timeout");
            g_seen += print_events(msg, g_count ? g_count - g_seen : 0);
            if (g_count && g_seen >= g_count) {
                say("got %llu events, closing", (unsigned long long)g_seen);
                ws_send(&c, 8, "\x03\xe8", 2);
                /* Wait briefly for the server's answer, then go. */
                wait_status(&c, "never", 500);
                ws_close(&c);
                free(c.buf);
                return 0;
            }
        }
    }
    ws_close(&c);
    free(c.buf);
    return exit_code;
}
