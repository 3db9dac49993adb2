/*
 * transport.c - WebSocket over an lws raw socket, on the network thread: the
 * upgrade request and its checks, frames in (wsproto.c's reader) and out
 * (masked), ping/pong, the close handshake both ways, protocol errors (close
 * 1002), TLS through link.c, reads held and resumed, and the lws callback
 * that drives it all.  See transport.h.
 */
#include "transport.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void read_on(pws__transport *t);
static void end_tail(pws__transport *t);

/* Tells the layer above why the connection ends; returns -1 for callbacks
 * that close at once. */
static int ending(pws__transport *t, int err, const char *fmt, ...) PWS__PRINTF(3, 4);

static int ending(pws__transport *t, int err, const char *fmt, ...)
{
    char reason[PWS_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    t->ev->ending(t->user, err, 0, false, reason);
    return -1;
}

/* Like ending(), for a failure that retrying cannot change: the connector gives up. */
static int ending_for_good(pws__transport *t, int err, const char *fmt, ...) PWS__PRINTF(3, 4);

static int ending_for_good(pws__transport *t, int err, const char *fmt, ...)
{
    char reason[PWS_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    t->ev->ending(t->user, err, 0, true, reason);
    return -1;
}

/* The connection is gone: reported once, after which there is none. */
static void gone(pws__transport *t, const char *fallback_reason)
{
    t->wsi = NULL;
    t->attempt_open = false;
    t->ev->gone(t->user, fallback_reason);
}

/* A fresh masking key for one client frame (RFC 6455 5.3). */
static void new_mask(unsigned char mask[4])
{
    if (RAND_bytes(mask, 4) != 1) {
        uint32_t m = (uint32_t)pws__mono_us() * 2654435761u;
        memcpy(mask, &m, 4);
    }
}

/* Queues a frame from us (masked, as every client frame must be). */
static int send_frame(pws__transport *t, int opcode, const void *data, size_t len)
{
    unsigned char mask[4];
    new_mask(mask);
    pws__link_compact(&t->link);
    int rc = pws__ws_frame(&t->link.out, opcode, true, mask, data, len);
    if (t->wsi)
        lws_callback_on_writable(t->wsi);
    return rc;
}

/* Starts the close handshake from our side: the close frame goes after what
 * is queued, then the server has PWS__CLOSE_GRACE_S to answer (reads go on,
 * discarded, so that its close frame is seen and our socket is not reset with
 * unread data in it). */
static void begin_close(pws__transport *t, int code, const char *reason)
{
    if (t->close_sent)
        return;
    if (!t->wsi) {
        t->close_sent = t->tail; /* a gone socket's tail: nothing more of it is delivered */
        return;
    }
    t->close_sent = true;
    unsigned char mask[4];
    new_mask(mask);
    pws__link_compact(&t->link);
    if (pws__ws_close_frame(&t->link.out, code, reason, mask))
        t->link.close_when_flushed = true; /* no memory for it: just close */
    lws_callback_on_writable(t->wsi);
    lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    /* Reads held: read on to see the answer.  Held bytes are framed
     * first (data messages are dropped from now on).  Inside the frame reader
     * feed_frames does this when the reader returns. */
    if (!t->in_reader && (t->rx_paused || t->stash.len))
        read_on(t);
}

void pws__transport_reset(pws__transport *t)
{
    if (t->wipe_out && t->scratch)
        OPENSSL_cleanse(t->scratch, LWS_PRE + PWS__CLIENT_WRITE);
    t->link.wsi = NULL;
    pws__link_free(&t->link); /* link.out.wipe: wiped before it is freed */
    memset(&t->link, 0, sizeof t->link);
    t->link.out.wipe = true; /* it may hold a secret frame (auth) */
    t->link.chunk = PWS__CLIENT_WRITE;
    pws__ws_reader_free(&t->rd);
    pws__buf_free(&t->head);
    pws__buf_free(&t->stash);
    t->upgrade_sent = t->upgraded = t->close_sent = t->close_got = t->wipe_out = false;
    t->ping_due = false;
    t->tail = false;
    t->tail_reason = NULL;
}

/* RFC 6455 7.4: the close codes a peer may send. */
static bool close_code_valid(int code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

/* The server's close frame: answer it (echoing a valid code) and close once
 * the answer is written. */
static void on_server_close(pws__transport *t, const unsigned char *p, size_t len)
{
    t->close_got = true;
    int code = len >= 2 ? (p[0] << 8) | p[1] : 1005;
    int answer = len >= 2 ? code : 0; /* no code: answer with none */
    const char *bad = NULL;
    if (len == 1) {
        bad = "close frame with a 1-byte payload";
        answer = 1002;
    } else if (len >= 2 && !close_code_valid(code)) {
        bad = "close frame with an invalid code";
        answer = 1002;
    } else if (len > 2 && !pws_utf8_valid((const char *)p + 2, len - 2)) {
        bad = "close reason not valid UTF-8";
        answer = 1007;
    }
    size_t rl = len > 2 ? len - 2 : 0;
    char reason[128] = "";
    for (size_t i = 0; i < rl && i < sizeof reason - 1; i++)
        reason[i] = (p[2 + i] >= 0x20 && p[2 + i] < 0x7f) ? (char)p[2 + i] : '?';
    char why[PWS_MESSAGE_MAX];
    snprintf(why, sizeof why, "server closed the connection (code %d%s%s%s%s)", code, rl ? ": " : "", reason,
             bad ? "; protocol error: " : "", bad ? bad : "");
    t->ev->ending(t->user, PWS_ERR_CLOSED, code, false, why);
    if (bad)
        pws__log(t->lg, PWS_LOG_WARN, "protocol error from the server: %s (code %d): answering %d", bad, code,
                 answer);
    if (!t->close_sent) {
        t->close_sent = true;
        pws__link_compact(&t->link);
        unsigned char mask[4];
        new_mask(mask);
        pws__ws_close_frame(&t->link.out, answer, bad ? "protocol error" : NULL, mask);
    }
    t->link.close_when_flushed = true;
    if (t->wsi) {
        lws_callback_on_writable(t->wsi);
        lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    }
}

/* The frame reader's callback: one whole message or control frame. */
static void on_ws_message(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                          uint64_t total)
{
    pws__transport *t = user;
    if (t->close_got)
        return; /* nothing counts after the server's close frame */
    switch (opcode) {
    case PWS__OP_TEXT:
    case PWS__OP_BINARY:
        if (t->close_sent)
            return; /* closing: only the server's close frame matters */
        /* RFC 6455 8.1: a text message that is not UTF-8 fails the connection (close 1007).  An
         * ASCII fast path makes this a small fraction of the parse; an oversized message is
         * not all here and goes to the parse-error path instead. */
        if (opcode == PWS__OP_TEXT && !too_big && !pws_utf8_valid(data, len)) {
            ending(t, PWS_ERR_CLOSED, "protocol error from the server: a text message of %zu bytes is "
                   "not valid UTF-8", len);
            pws__log(t->lg, PWS_LOG_WARN, "protocol error from the server: a text message is not valid "
                     "UTF-8: closing with 1007");
            begin_close(t, 1007, "invalid UTF-8");
            return;
        }
        if (t->ev->message(t->user, data, len, too_big, total, opcode == PWS__OP_BINARY)) {
            begin_close(t, 1000, "bye");
        } else if (t->rx_paused) {
            t->rd.pause = true; /* reads held: not one more message until they resume */
        }
        break;
    case PWS__OP_PING:
        if (!t->close_sent)
            send_frame(t, PWS__OP_PONG, data, len);
        break;
    case PWS__OP_PONG:
        break; /* any bytes prove the link alive (ev->received) */
    case PWS__OP_CLOSE:
        on_server_close(t, data, len);
        break;
    default:
        break;
    }
}

/* A protocol violation by the server: fail the connection with 1002. */
static void protocol_error(pws__transport *t, const char *what)
{
    ending(t, PWS_ERR_CLOSED, "protocol error from the server: %.200s", what);
    pws__log(t->lg, PWS_LOG_WARN, "protocol error from the server: %s: closing with 1002", what);
    begin_close(t, 1002, "protocol error");
}

/* Frames bytes of the stream; while reads are held they wait in stash.
 * Returns 0, or 1 when the reader paused (stop reading). */
static int feed_frames(pws__transport *t, const unsigned char *data, size_t len)
{
    if (t->stash.len || (t->rx_paused && !t->close_sent)) {
        if (pws__buf_put(&t->stash, data, len))
            protocol_error(t, "out of memory holding bytes while the delivery queue is full");
        return 1;
    }
    if (t->rd.dead || t->close_got)
        return 0; /* waiting for the end: discard */
    size_t used = 0;
    char err[200];
    t->in_reader = true;
    int rc = pws__ws_feed_some(&t->rd, data, len, on_ws_message, t, &used, err, sizeof err);
    t->in_reader = false;
    if (rc) {
        protocol_error(t, err);
        return 0;
    }
    if (t->close_sent && t->link.rx_paused)
        pws__link_set_rx(&t->link, true); /* closing: the server's answer is wanted */
    if (t->rd.pause) {
        t->rd.pause = false;
        if (used < len && pws__buf_put(&t->stash, data + used, len - used))
            protocol_error(t, "out of memory holding bytes while the delivery queue is full");
        return 1;
    }
    return 0;
}

/* An HTTP status at the upgrade that retrying cannot change: a bad request, a key or plan
 * refused (401, 403), a path that is not there (404, 410).  429 and 5xx are passing. */
static bool upgrade_status_permanent(int status)
{
    return status == 400 || status == 401 || status == 403 || status == 404 || status == 410;
}

/* Checks the server's answer to the upgrade (RFC 6455 4.1). */
static int check_upgrade(pws__transport *t, size_t headlen)
{
    pws__http_head *h = malloc(sizeof *h);
    if (!h)
        return ending(t, PWS_ERR_NOMEM, "out of memory reading the upgrade response");
    char err[160], expect[32];
    int rc = 0;
    if (pws__http_parse(t->head.p, headlen, false, h, err, sizeof err)) {
        rc = ending(t, PWS_ERR_CONNECT, "bad upgrade response from %.100s: %s", t->ep.host_header, err);
    } else if (h->status != 101) {
        /* The path without its query string, which may carry a secret; the parts are cut so
         * that the status survives in PWS_MESSAGE_MAX bytes. */
        int pathlen = (int)strcspn(t->ep.path, "?");
        bool permanent = upgrade_status_permanent(h->status);
        char why[PWS_MESSAGE_MAX];
        snprintf(why, sizeof why, "%.64s refused the WebSocket upgrade: HTTP %d %.40s for path %.*s%s",
                 t->ep.host_header, h->status, h->reason, pathlen > 60 ? 60 : pathlen, t->ep.path,
                 permanent ? " (permanent: not retrying)" : "");
        t->ev->ending(t->user, permanent ? PWS_ERR_REFUSED : PWS_ERR_CONNECT, 0, permanent, why);
        rc = -1;
    } else if (!pws__http_has_token(pws__http_get(h, "Upgrade"), "websocket") ||
               !pws__http_has_token(pws__http_get(h, "Connection"), "upgrade")) {
        rc = ending(t, PWS_ERR_CONNECT, "upgrade response lacks Upgrade: websocket / Connection: Upgrade");
    } else {
        pws__ws_accept(t->ws_key, expect);
        const char *acc = pws__http_get(h, "Sec-WebSocket-Accept");
        const char *ext = pws__http_get(h, "Sec-WebSocket-Extensions");
        const char *proto = pws__http_get(h, "Sec-WebSocket-Protocol");
        if (!acc || strcmp(acc, expect))
            rc = ending(t, PWS_ERR_CONNECT, "upgrade response has a wrong Sec-WebSocket-Accept");
        else if (ext && *ext)
            rc = ending(t, PWS_ERR_CONNECT, "server chose extension \"%.80s\", which we did not offer", ext);
        else if (proto && *proto)
            rc = ending(t, PWS_ERR_CONNECT, "server chose subprotocol \"%.80s\", which we did not offer",
                        proto);
    }
    free(h);
    return rc;
}

/* Plain bytes from the socket (after TLS): the upgrade response, then frames.
 * Returns 0, 1 when reading paused, -1 to close at once. */
static int on_plain(void *user, const unsigned char *data, size_t len)
{
    pws__transport *t = user;
    if (t->upgraded)
        return feed_frames(t, data, len);
    if (pws__buf_put(&t->head, data, len))
        return ending(t, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
    size_t hl = pws__http_head_len(t->head.p, t->head.len);
    if (!hl) {
        if (t->head.len > PWS__MAX_HEAD)
            return ending(t, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
        return 0;
    }
    if (check_upgrade(t, hl))
        return -1;
    t->upgraded = true;
    t->ev->established(t->user);
    /* frames that came with the head */
    pws__buf rest = t->head;
    memset(&t->head, 0, sizeof t->head);
    int rc = rest.len > hl ? feed_frames(t, (const unsigned char *)rest.p + hl, rest.len - hl) : 0;
    pws__buf_free(&rest);
    return rc;
}

/* Frames what waited while reads were paused, then reads the socket again
 * (unless the reader paused once more); for a gone socket's tail, reports the
 * connection gone once all of it is framed.  Never called inside the reader. */
static void read_on(pws__transport *t)
{
    if (!t->wsi && !t->tail)
        return;
    if (t->stash.len) {
        pws__buf held = t->stash;
        memset(&t->stash, 0, sizeof t->stash);
        int rc = feed_frames(t, (const unsigned char *)held.p, held.len);
        pws__buf_free(&held);
        if (rc)
            return; /* paused again */
    }
    if (t->link.ssl) {
        /* plaintext may wait inside the TLS session with no socket event to come */
        char err[200] = "";
        int rc = pws__link_rx(&t->link, NULL, 0, on_plain, t, NULL, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0) {
            ending(t, PWS_ERR_CLOSED, "%s", err);
            if (t->wsi)
                lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            else
                end_tail(t);
            return;
        }
    }
    if (t->tail) {
        end_tail(t); /* everything the socket received is framed */
        return;
    }
    pws__link_set_rx(&t->link, true);
}

/* A tail with bytes still to frame: in the stash, or (wss) inside the TLS session. */
static bool tail_left(const pws__transport *t)
{
    return t->stash.len ||
           (t->link.ssl && (SSL_pending(t->link.ssl) > 0 || BIO_ctrl_pending(t->link.rbio) > 0));
}

/* lws is closing the socket of an open WebSocket that the server ended.  If
 * the block policy holds the reads, lws closes on a reset (POLLHUP) without
 * reading, so the bytes the kernel received before the end (readable after a
 * reset too) would go with the socket, and those read but not framed yet
 * with the connection; they must be delivered.  The descriptor stays open
 * until the close callback returns: read what it holds now, through TLS like
 * any read (framed at once if the reads are not held, else into the stash),
 * and frame the rest as the queue makes room (read_on); `gone` comes when all
 * of it is framed.  Returns true if there is such a tail (then the connection
 * is not gone yet).  Found by the soak (tests/soak). */
static bool keep_tail(pws__transport *t, struct lws *wsi, const char *reason)
{
    if (t->destroying || !t->upgraded || t->close_sent || t->close_got || t->rd.dead)
        return false;
    /* the wsi is being freed: no lws call may reach it from here on */
    t->wsi = NULL;
    t->link.wsi = NULL;
    t->tail = true;
    t->tail_reason = reason;
    int fd = lws_get_socket_fd(wsi);
    unsigned char buf[16384];
    size_t total = 0;
    while (fd >= 0 && total < PWS__MAX_TAIL) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0)
            break; /* empty, the end, or the reset once all data was read */
        total += (size_t)n;
        char err[200] = "";
        if (pws__link_rx(&t->link, buf, (size_t)n, on_plain, t, NULL, err, sizeof err) < 0) {
            ending(t, PWS_ERR_CLOSED, "%s", err);
            break;
        }
    }
    if (total)
        pws__log(t->lg, PWS_LOG_DEBUG, "connection lost with reads held: %zu more bytes read from it", total);
    if (t->rd.dead || t->close_got || t->close_sent || !tail_left(t)) {
        t->tail = false;
        return false;
    }
    return true;
}

/* The tail of a gone socket is framed, or given up: the connection is gone now. */
static void end_tail(pws__transport *t)
{
    if (!t->tail)
        return;
    t->tail = false;
    gone(t, t->tail_reason);
}

void pws__transport_hold_reads(pws__transport *t)
{
    t->rx_paused = true;
    pws__link_set_rx(&t->link, false);
}

void pws__transport_resume_reads(pws__transport *t)
{
    t->rx_paused = false;
    read_on(t);
}

/* Sends the upgrade request (after TLS, if any, is up). */
static int send_upgrade(pws__transport *t)
{
    char req[PWS__MAX_URL + 512];
    pws__ws_new_key(t->ws_key);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: polyws/%s\r\n\r\n",
                     t->ep.path, t->ep.host_header, t->ws_key, PWS_VERSION_STRING);
    t->upgrade_sent = true;
    if (n < 0 || (size_t)n >= sizeof req || pws__link_send(&t->link, req, (size_t)n))
        return ending(t, PWS_ERR_CONNECT, "cannot build the upgrade request");
    return 0;
}

void pws__transport_want_write(pws__transport *t)
{
    if (t->wsi)
        lws_callback_on_writable(t->wsi);
}

void pws__transport_ping(pws__transport *t)
{
    t->ping_due = true;
    pws__transport_want_write(t);
}

int pws__transport_send_text(pws__transport *t, const void *data, size_t len, bool secret)
{
    if (send_frame(t, PWS__OP_TEXT, data, len))
        return -1;
    if (secret)
        t->wipe_out = true;
    return 0;
}

/* WRITEABLE: heartbeat ping, what the layer above queues, then one chunk out. */
static int on_writeable(pws__transport *t)
{
    if (!t->close_sent && t->upgraded) {
        if (t->ping_due && !t->rx_paused) { /* not while reads are held: see sul_tick_cb */
            t->ping_due = false;
            send_frame(t, PWS__OP_PING, NULL, 0);
        }
        if (t->ev->writeable(t->user))
            return -1;
    }
    int rc = pws__link_writeable(&t->link, t->scratch);
    if (t->wipe_out && !pws__link_pending(&t->link)) {
        /* the secret (auth) frame is out: no copy of it stays (scratch held one for lws_write) */
        OPENSSL_cleanse(t->link.out.p, t->link.out.cap);
        OPENSSL_cleanse(t->scratch, LWS_PRE + PWS__CLIENT_WRITE);
        t->wipe_out = false;
    }
    return rc;
}

void pws__transport_end(pws__transport *t, bool graceful, int close_code)
{
    if (!t->wsi) {
        end_tail(t); /* the socket is gone: what it received is not wanted any more */
        return;
    }
    if (graceful && t->upgraded) {
        begin_close(t, close_code, "bye");
    } else {
        /* Only called from timers (never inside this wsi's callback), so
         * closing at once is allowed; the async kill waits for lws' next
         * timeout sweep, which for a wsi still in its handshake came 30 s late. */
        lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
}

void pws__transport_connect(pws__transport *t)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = t->ctx;
    ci.address = t->ep.host;
    ci.port = t->ep.port;
    ci.path = t->ep.path;
    ci.host = t->ep.host_header;
    ci.method = "RAW"; /* a plain socket: the WebSocket protocol and TLS are ours */
    ci.local_protocol_name = "polyws";
    ci.pwsi = &t->lws_slot;
    pws__transport_reset(t);
    pws__ws_reader_init(&t->rd, false, t->max_message);
    t->rd.reject_rsv = true; /* we offer no extension */
    t->attempt_open = true;
    struct lws *w = lws_client_connect_via_info(&ci);
    /* lws may already have reported CLIENT_CONNECTION_ERROR (gone) */
    if (w && t->attempt_open)
        t->wsi = w;
    if (!w && t->attempt_open) {
        t->wsi = NULL;
        ending(t, PWS_ERR_CONNECT, "cannot connect to %.120s:%d", t->ep.host, t->ep.port);
        gone(t, "connect failed");
    }
}

static int callback_polyws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pws__transport *t = ctx ? lws_context_user(ctx) : NULL;
    if (!t)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi != t->wsi && t->wsi)
            break;
        ending(t, PWS_ERR_CONNECT, "cannot connect to %.60s:%d: %.*s", t->ep.host, t->ep.port,
               in ? (int)(len < 150 ? len : 150) : 0, in ? (const char *)in : "");
        gone(t, "connect failed");
        break;

    case LWS_CALLBACK_RAW_CONNECTED: {
        if (wsi != t->wsi && t->wsi)
            return -1;
        t->wsi = t->link.wsi = wsi;
        if (t->ev->connected(t->user))
            return -1;
        char err[200];
        if (t->ep.tls) {
            if (pws__link_tls_start(&t->link, t->ssl_ctx, t->ep.host, err, sizeof err))
                return ending(t, PWS_ERR_TLS, "%s", err);
        } else if (send_upgrade(t)) {
            return -1;
        }
        break;
    }

    case LWS_CALLBACK_RAW_RX: {
        if (wsi != t->wsi)
            return -1;
        t->ev->received(t->user);
        char err[PWS_MESSAGE_MAX] = "";
        bool tls_up = false;
        int rc = pws__link_rx(&t->link, in, len, on_plain, t, &tls_up, err, sizeof err);
        if (rc < 0) {
            /* on_plain gave its reason already; otherwise it is TLS */
            if (t->upgraded) {
                ending(t, PWS_ERR_CLOSED, "%s", err);
            } else if (pws__link_cert_refused(&t->link)) {
                /* Untrusted, expired, another host's: the same certificate comes back
                 * on every try, so this is the user's to fix (as curl and browsers
                 * treat it), and a retry loop would only hide it. */
                ending_for_good(t, PWS_ERR_TLS, "%s, connecting to %.80s (permanent: not retrying)", err,
                                t->ep.host_header);
            } else {
                ending(t, PWS_ERR_TLS, "%s (connecting to %s)", err, t->ep.host_header);
            }
            return -1;
        }
        if (tls_up && !t->upgrade_sent && send_upgrade(t))
            return -1;
        t->ev->read_done(t->user);
        break;
    }

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (wsi != t->wsi)
            return -1;
        return on_writeable(t);

    case LWS_CALLBACK_RAW_CLOSE:
        if (wsi == t->wsi) {
            const char *why = t->upgraded ? "connection lost: closed without a close frame"
                                          : "connection lost during the upgrade";
            if (!keep_tail(t, wsi, why))
                gone(t, why);
        }
        break;

    case LWS_CALLBACK_WSI_DESTROY:
        /* a raw wsi killed before it connected (our connect timeout) may get
         * no CLIENT_CONNECTION_ERROR: this is the last word on it */
        if (wsi == t->wsi)
            gone(t, t->upgraded ? "connection lost" : "connect failed");
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        t->ev->woken(t->user);
        break;

    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"polyws", callback_polyws, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

int pws__transport_setup(pws__transport *t, const char *ca_file, bool insecure, char *err, size_t cap)
{
    /* Our TLS (wss:) runs on this SSL_CTX (link.c); lws never sees it (see
     * pws__transport_context). */
    SSL_CTX *ssl_ctx = NULL;
    if (t->ep.tls && !(ssl_ctx = pws__client_ssl_ctx(ca_file, insecure, err, cap)))
        return PWS_ERR_TLS;
    t->scratch = malloc(LWS_PRE + PWS__CLIENT_WRITE);
    if (!t->scratch) {
        snprintf(err, cap, "out of memory");
        SSL_CTX_free(ssl_ctx);
        return PWS_ERR_NOMEM;
    }
    t->ssl_ctx = ssl_ctx;
    return PWS_OK;
}

struct lws_context *pws__transport_context(pws__transport *t, unsigned timeout_secs)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = t;
    /* No LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT: the socket is raw and TLS is ours.  With
     * it, lws 4.1 registered two OpenSSL ex-data indexes per context, which OpenSSL keeps
     * until the process ends (about 200 bytes per connector ever run, found by the soak),
     * and built a client SSL_CTX of its own unless handed one. */
    info.options = 0;
    info.fd_limit_per_thread = 8; /* one connection plus lws' own pipes */
    info.timeout_secs = timeout_secs;
    info.pt_serv_buf_size = PWS__READ_BUF;
    t->ctx = lws_create_context(&info);
    return t->ctx;
}

void pws__transport_teardown(pws__transport *t)
{
    t->destroying = true;
    if (t->ctx)
        lws_context_destroy(t->ctx);
    t->destroying = false;
    t->ctx = NULL;
    pws__transport_reset(t);
    SSL_CTX_free(t->ssl_ctx);
    t->ssl_ctx = NULL;
    free(t->scratch);
    t->scratch = NULL;
}
