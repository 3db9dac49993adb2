/*
 * wsclient.c - the tiny blocking WebSocket client of wsclient.h: raw sockets
 * plus OpenSSL for wss, every frame built and parsed here, so a test sees
 * exactly what the server wrote.  Used by test_mock.c and test_engine.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "wsclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct wsc {
    int fd;
    SSL_CTX *sslctx;
    SSL *ssl;
    unsigned char *buf; /* received, not yet parsed */
    size_t len, cap;
};

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_write(wsc *c, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, b, (int)n) : send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (!c->ssl && w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into the buffer: 1 ok, 0 timeout, WSC_EOF, WSC_ERROR. */
static int raw_fill(wsc *c, int64_t deadline)
{
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, cap);
        c->cap = cap;
    }
    if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
        int64_t left = deadline - now_ms();
        if (left < 0)
            left = 0;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EINTR ? 0 : WSC_ERROR;
    }
    if (c->ssl) {
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
        if (n > 0) {
            c->len += (size_t)n;
            return 1;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            return 1;
        ERR_clear_error();
        return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? WSC_EOF : WSC_ERROR;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0) {
        c->len += (size_t)n;
        return 1;
    }
    if (n == 0)
        return WSC_EOF;
    return errno == ECONNRESET ? WSC_EOF : WSC_ERROR;
}


void wsc_free(wsc *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->sslctx)
        SSL_CTX_free(c->sslctx);
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

/* Connects to 127.0.0.1:port, optionally with TLS verified against ca_file, and does the
 * WebSocket handshake on path.  NULL on failure (*why says where). */
wsc *wsc_open(int port, bool tls, const char *ca_file, const char *path, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    wsc *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        *why = "connect";
        goto fail;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tls) {
        c->sslctx = SSL_CTX_new(TLS_client_method());
        if (ca_file && SSL_CTX_load_verify_locations(c->sslctx, ca_file, NULL) != 1) {
            *why = "load CA";
            goto fail;
        }
        SSL_CTX_set_verify(c->sslctx, SSL_VERIFY_PEER, NULL);
        c->ssl = SSL_new(c->sslctx);
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
        SSL_set_fd(c->ssl, c->fd);
        if (SSL_connect(c->ssl) != 1 || SSL_get_verify_result(c->ssl) != X509_V_OK) {
            ERR_clear_error();
            *why = "TLS handshake/verification";
            goto fail;
        }
    }
    char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path, port);
    if (raw_write(c, req, strlen(req)) != 0) {
        *why = "send handshake";
        goto fail;
    }
    int64_t deadline = now_ms() + WSC_RECV_MS;
    for (;;) {
        unsigned char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hlen = (size_t)(end - c->buf) + 4;
            if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
                *why = "handshake status";
                goto fail;
            }
            memmove(c->buf, c->buf + hlen, c->len - hlen);
            c->len -= hlen;
            return c;
        }
        if (raw_fill(c, deadline) <= 0) {
            *why = "handshake response";
            goto fail;
        }
    }
fail:
    wsc_free(c);
    return NULL;
}

wsc *wsc_connect(int port)
{
    return wsc_open(port, false, NULL, "/stocks", NULL);
}

int wsc_send_frame(wsc *c, bool fin, int opcode, const void *data, size_t len)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, mask, 4);
    h += 4;
    unsigned char *msg = malloc(h + len + 1);
    memcpy(msg, hdr, h);
    for (size_t i = 0; i < len; i++)
        msg[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    int rc = raw_write(c, msg, h + len);
    free(msg);
    return rc;
}

int wsc_send(wsc *c, int opcode, const void *data, size_t len)
{
    return wsc_send_frame(c, true, opcode, data, len);
}

int wsc_send_text(wsc *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return wsc_send(c, OP_TEXT, buf, strlen(buf));
}

int wsc_send_close(wsc *c, int code, const char *reason)
{
    unsigned char p[125];
    size_t rl = strlen(reason);
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, reason, rl);
    return wsc_send(c, OP_CLOSE, p, 2 + rl);
}

/* One frame within timeout_ms: WSC_FRAME, WSC_TIMEOUT, WSC_EOF or WSC_ERROR. */
int wsc_recv(wsc *c, int timeout_ms, frame *f)
{
    memset(f, 0, sizeof *f);
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (c->len >= 2) {
            unsigned char *b = c->buf;
            size_t hdr = 2;
            uint64_t plen = b[1] & 0x7f;
            bool ok = true;
            if (plen == 126) {
                ok = c->len >= 4;
                if (ok)
                    plen = (uint64_t)b[2] << 8 | b[3];
                hdr = 4;
            } else if (plen == 127) {
                ok = c->len >= 10;
                if (ok) {
                    plen = 0;
                    for (int i = 0; i < 8; i++)
                        plen = plen << 8 | b[2 + i];
                }
                hdr = 10;
            }
            if (ok && c->len >= hdr + plen) {
                f->opcode = b[0] & 0x0f;
                f->fin = (b[0] & 0x80) != 0;
                f->rsv = (b[0] >> 4) & 7;
                f->len = (size_t)plen;
                f->data = malloc(f->len + 1);
                memcpy(f->data, b + hdr, f->len);
                f->data[f->len] = '\0';
                memmove(c->buf, c->buf + hdr + plen, c->len - hdr - plen);
                c->len -= hdr + plen;
                return WSC_FRAME;
            }
        }
        int r = raw_fill(c, deadline);
        if (r == 0)
            return WSC_TIMEOUT;
        if (r < 0)
            return r;
    }
}

void frame_free(frame *f)
{
    free(f->data);
    f->data = NULL;
}

/* Next frame that is not a ping (pings are answered, like any client would). */
int wsc_recv_data(wsc *c, int timeout_ms, frame *f)
{
    for (;;) {
        int r = wsc_recv(c, timeout_ms, f);
        if (r != WSC_FRAME || f->opcode != OP_PING)
            return r;
        wsc_send(c, OP_PONG, f->data, f->len);
        frame_free(f);
    }
}

/* A close frame's code (0 if none in it); its reason into reason if reason and rcap. */
int frame_close_code(const frame *f, char *reason, size_t rcap)
{
    if (reason && rcap) {
        size_t rl = f->len > 2 ? f->len - 2 : 0;
        if (rl >= rcap)
            rl = rcap - 1;
        memcpy(reason, f->data + 2, rl);
        reason[rl] = '\0';
    }
    return f->len >= 2 ? ((unsigned char)f->data[0] << 8 | (unsigned char)f->data[1]) : 0;
}

/* Reads exactly n raw bytes (frames unparsed) into out; false on timeout or EOF. */
bool read_exact(wsc *c, unsigned char *out, size_t n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (c->len < n)
        if (raw_fill(c, deadline) <= 0)
            return false;
    memcpy(out, c->buf, n);
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return true;
}

/* Receives a close frame; returns its code (0 if none), -1 if something else came. */
int expect_close(wsc *c, char *reason, size_t rcap)
{
    frame f;
    int r = wsc_recv_data(c, WSC_RECV_MS, &f);
    if (r != WSC_FRAME || f.opcode != OP_CLOSE) {
        fprintf(stderr, "  expected close, got r=%d opcode %d: %.200s\n", r, f.opcode, f.data ? f.data : "");
        frame_free(&f);
        return -1;
    }
    int code = frame_close_code(&f, reason, rcap);
    frame_free(&f);
    return code;
}

