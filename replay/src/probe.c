/*
 * probe.c - pwsr_probe_upstream: can the upstream be reached at all?  One TCP
 * connection (each address the host name resolves to, in turn), then for
 * wss:// the TLS handshake with the same verification as the proxy's upstream
 * connections (wire/link.h's TLS over memory BIOs, driven here by blocking
 * socket calls with a deadline instead of lws).  Nothing is sent after the
 * handshake; the connection is closed.  `polyws record --upstream` runs it
 * before it opens the tape, so a dead upstream is an error at start-up rather
 * than an HTTP 502 for every client.
 */
#include "internal.h"

#include "wire/link.h"    /* TLS client context and handshake */
#include "wire/wsproto.h" /* pws__url */

#include <polyws/replay.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_IO_CHUNK 16384 /* bytes of one TLS record read or written */

/* Milliseconds left until deadline_ms (monotonic), at least 0. */
static int left_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - pws__mono_us() / 1000;
    return left > 0 ? (int)left : 0;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left_ms(deadline_ms));
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

/* A connected socket to ai, or -1 with the reason in why. */
static int connect_one(const struct addrinfo *ai, const pws__url *up, uint32_t timeout_ms, int64_t deadline_ms,
                       char *why, size_t cap)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(why, cap, "socket: %s", strerror(errno));
        return -1;
    }
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            int n = wait_fd(fd, POLLOUT, deadline_ms);
            socklen_t len = sizeof err;
            if (n == 0) {
                snprintf(why, cap, "no answer from %s:%d within %u ms", up->host, up->port, timeout_ms);
                close(fd);
                return -1;
            }
            err = n < 0 ? errno : getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) ? errno : err;
        }
    }
    if (err) {
        snprintf(why, cap, "connecting to %s:%d: %s", up->host, up->port, strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}

/* The plaintext after the handshake is not read: there is none before the upgrade. */
static int discard(void *user, const unsigned char *data, size_t len)
{
    (void)user, (void)data, (void)len;
    return 0;
}

/* Sends what TLS wrote to its memory BIO.  0, or -1 with a message. */
static int flush_tls(pws__link *l, int fd, int64_t deadline_ms, char *err, size_t cap)
{
    unsigned char buf[PROBE_IO_CHUNK];
    int n;
    while ((n = BIO_read(l->wbio, buf, sizeof buf)) > 0) {
        for (int off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(fd, POLLOUT, deadline_ms) <= 0) {
                    snprintf(err, cap, "tls: the handshake did not finish in time");
                    return -1;
                }
                continue;
            }
            if (w < 0) {
                snprintf(err, cap, "tls: sending the handshake: %s", strerror(errno));
                return -1;
            }
            off += (int)w;
        }
    }
    return 0;
}

/* The TLS handshake on fd.  0, or -1 with a message. */
static int tls_handshake(int fd, SSL_CTX *ctx, const char *host, uint32_t timeout_ms, int64_t deadline_ms, char *err,
                         size_t cap)
{
    pws__link l;
    memset(&l, 0, sizeof l);
    int rc = pws__link_tls_start(&l, ctx, host, err, cap);
    while (!rc && !l.tls_ready) {
        if ((rc = flush_tls(&l, fd, deadline_ms, err, cap)) != 0)
            break;
        int n = wait_fd(fd, POLLIN, deadline_ms);
        if (n <= 0) {
            snprintf(err, cap, "tls: no handshake answer within %u ms", timeout_ms);
            rc = -1;
            break;
        }
        unsigned char buf[PROBE_IO_CHUNK];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            snprintf(err, cap, "tls: the server closed the connection during the handshake%s%s",
                     r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
            rc = -1;
            break;
        }
        rc = pws__link_rx(&l, buf, (size_t)r, discard, NULL, NULL, err, cap);
    }
    if (!rc)
        flush_tls(&l, fd, deadline_ms, err, cap); /* our Finished: a polite end, failure or not */
    pws__link_free(&l);
    return rc;
}

int pwsr_probe_upstream(const char *url, const char *ca_file, bool insecure, uint32_t timeout_ms, char *errbuf,
                        size_t errcap)
{
    char scratch[8];
    if (!errbuf) {
        errbuf = scratch;
        errcap = sizeof scratch;
    }
    if (!url) {
        snprintf(errbuf, errcap, "no URL");
        return PWS_ERR_URL;
    }
    if (!timeout_ms)
        timeout_ms = PWSR_DEFAULT_PROBE_TIMEOUT_MS;
    static pws__url up; /* 2.6 KB; the probe is not reentrant (one per process start-up) */
    if (pws__url_parse(url, &up, errbuf, errcap))
        return PWS_ERR_URL;
    int64_t deadline_ms = pws__mono_us() / 1000 + timeout_ms;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", up.port);
    int g = getaddrinfo(up.host, port, &hints, &res);
    if (g) {
        snprintf(errbuf, errcap, "cannot resolve %s: %s", up.host, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return PWS_ERR_CONNECT;
    }
    int fd = -1;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, &up, timeout_ms, deadline_ms, errbuf, errcap);
    freeaddrinfo(res);
    if (fd < 0)
        return PWS_ERR_CONNECT;
    int rc = PWS_OK;
    if (up.tls) {
        SSL_CTX *ctx = pws__client_ssl_ctx(ca_file, insecure, errbuf, errcap);
        rc = ctx && !tls_handshake(fd, ctx, up.host, timeout_ms, deadline_ms, errbuf, errcap) ? PWS_OK : PWS_ERR_TLS;
        if (ctx)
            SSL_CTX_free(ctx);
    }
    close(fd);
    return rc;
}
