/*
 * transport.c - WebSocket over an lws raw socket, on the network thread: the
 * upgrade request and its checks, frames in (wsproto.c's reader) and out
 * (masked), ping/pong, the close handshake both ways, protocol errors (close
 * 1002), TLS through link.c, reads paused and resumed for the block policy,
 * and the lws callback that drives it all.  See session.h.
 */
#include "session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_on(pws_connector *c);

/* A fresh masking key for one client frame (RFC 6455 5.3). */
static void new_mask(unsigned char mask[4])
{
    if (RAND_bytes(mask, 4) != 1) {
        uint32_t m = (uint32_t)pws__mono_us() * 2654435761u;
        memcpy(mask, &m, 4);
    }
}

/* Queues a frame from us (masked, as every client frame must be). */
static int send_frame(pws_connector *c, int opcode, const void *data, size_t len)
{
    unsigned char mask[4];
    new_mask(mask);
    pws__link_compact(&c->link);
    int rc = pws__ws_frame(&c->link.out, opcode, true, mask, data, len);
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    return rc;
}

/* Starts the close handshake from our side: the close frame goes after what
 * is queued, then the server has PWS__CLOSE_GRACE_S to answer (reads go on,
 * discarded, so that its close frame is seen and our socket is not reset with
 * unread data in it). */
void pws__begin_close(pws_connector *c, int code, const char *reason)
{
    if (c->close_sent || !c->wsi)
        return;
    c->close_sent = true;
    unsigned char mask[4];
    new_mask(mask);
    pws__link_compact(&c->link);
    if (pws__ws_close_frame(&c->link.out, code, reason, mask))
        c->link.close_when_flushed = true; /* no memory for it: just close */
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    /* Paused for delivery: read on to see the answer.  Held bytes are framed
     * first (data messages are dropped from now on).  Inside the frame reader
     * feed_frames does this when the reader returns. */
    if (!c->in_reader && (c->rx_paused || c->stash.len))
        read_on(c);
}

/* Forgets the transport state of the connection that just ended. */
void pws__transport_reset(pws_connector *c)
{
    if (c->wipe_out && c->scratch)
        OPENSSL_cleanse(c->scratch, LWS_PRE + PWS__CLIENT_WRITE);
    c->link.wsi = NULL;
    pws__link_free(&c->link); /* link.out.wipe: wiped before it is freed */
    memset(&c->link, 0, sizeof c->link);
    c->link.out.wipe = true; /* it will hold the auth frame */
    c->link.chunk = PWS__CLIENT_WRITE;
    pws__ws_reader_free(&c->rd);
    pws__buf_free(&c->head);
    pws__buf_free(&c->stash);
    c->upgrade_sent = c->upgraded = c->close_sent = c->close_got = c->wipe_out = false;
    c->ping_due = false;
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
static void on_server_close(pws_connector *c, const unsigned char *p, size_t len)
{
    c->close_got = true;
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
    c->end_close_code = code;
    size_t rl = len > 2 ? len - 2 : 0;
    char reason[128] = "";
    for (size_t i = 0; i < rl && i < sizeof reason - 1; i++)
        reason[i] = (p[2 + i] >= 0x20 && p[2 + i] < 0x7f) ? (char)p[2 + i] : '?';
    pws__ending(c, PWS_ERR_CLOSED, "server closed the connection (code %d%s%s%s%s)", code, rl ? ": " : "", reason,
                bad ? "; protocol error: " : "", bad ? bad : "");
    if (bad)
        pws__log(&c->lg, PWS_LOG_WARN, "protocol error from the server: %s (code %d): answering %d", bad, code,
                 answer);
    if (!c->close_sent) {
        c->close_sent = true;
        pws__link_compact(&c->link);
        unsigned char mask[4];
        new_mask(mask);
        pws__ws_close_frame(&c->link.out, answer, bad ? "protocol error" : NULL, mask);
    }
    c->link.close_when_flushed = true;
    if (c->wsi) {
        lws_callback_on_writable(c->wsi);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWS__CLOSE_GRACE_S);
    }
}

/* The frame reader's callback: one whole message or control frame. */
static void on_ws_message(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                          uint64_t total)
{
    pws_connector *c = user;
    if (c->close_got)
        return; /* nothing counts after the server's close frame */
    switch (opcode) {
    case PWS__OP_TEXT:
    case PWS__OP_BINARY:
        if (c->close_sent)
            return; /* closing: only the server's close frame matters */
        /* RFC 6455 8.1: a text message that is not UTF-8 fails the connection (close 1007).  An
         * ASCII fast path makes this a small fraction of the parse; an oversized message is
         * not all here and goes to the parse-error path instead. */
        if (opcode == PWS__OP_TEXT && !too_big && !pws_utf8_valid(data, len)) {
            pws__ending(c, PWS_ERR_CLOSED, "protocol error from the server: a text message of %zu bytes is "
                        "not valid UTF-8", len);
            pws__log(&c->lg, PWS_LOG_WARN, "protocol error from the server: a text message is not valid "
                     "UTF-8: closing with 1007");
            pws__begin_close(c, 1007, "invalid UTF-8");
            return;
        }
        pws__on_message(c, data, len, too_big, total, opcode == PWS__OP_BINARY);
        if (c->close_after_frame) {
            c->close_after_frame = false;
            pws__begin_close(c, 1000, "bye");
        } else if (c->rx_paused) {
            c->rd.pause = true; /* block policy: not one more message until the queue has room */
        }
        break;
    case PWS__OP_PING:
        if (!c->close_sent)
            send_frame(c, PWS__OP_PONG, data, len);
        break;
    case PWS__OP_PONG:
        break; /* any frame proves the link alive (last_rx_us) */
    case PWS__OP_CLOSE:
        on_server_close(c, data, len);
        break;
    default:
        break;
    }
}

/* A protocol violation by the server: fail the connection with 1002. */
static void protocol_error(pws_connector *c, const char *what)
{
    pws__ending(c, PWS_ERR_CLOSED, "protocol error from the server: %.200s", what);
    pws__log(&c->lg, PWS_LOG_WARN, "protocol error from the server: %s: closing with 1002", what);
    pws__begin_close(c, 1002, "protocol error");
}

/* Frames bytes of the stream; while reads are paused they wait in stash.
 * Returns 0, or 1 when the reader paused (stop reading). */
static int feed_frames(pws_connector *c, const unsigned char *data, size_t len)
{
    if (c->stash.len || (c->rx_paused && !c->close_sent)) {
        if (pws__buf_put(&c->stash, data, len))
            protocol_error(c, "out of memory holding bytes while the delivery queue is full");
        return 1;
    }
    if (c->rd.dead || c->close_got)
        return 0; /* waiting for the end: discard */
    size_t used = 0;
    char err[200];
    c->in_reader = true;
    int rc = pws__ws_feed_some(&c->rd, data, len, on_ws_message, c, &used, err, sizeof err);
    c->in_reader = false;
    if (rc) {
        protocol_error(c, err);
        return 0;
    }
    if (c->close_sent && c->link.rx_paused)
        pws__link_set_rx(&c->link, true); /* closing: the server's answer is wanted */
    if (c->rd.pause) {
        c->rd.pause = false;
        if (used < len && pws__buf_put(&c->stash, data + used, len - used))
            protocol_error(c, "out of memory holding bytes while the delivery queue is full");
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
static int check_upgrade(pws_connector *c, size_t headlen)
{
    pws__http_head *h = malloc(sizeof *h);
    if (!h)
        return pws__ending(c, PWS_ERR_NOMEM, "out of memory reading the upgrade response");
    char err[160], expect[32];
    int rc = 0;
    if (pws__http_parse(c->head.p, headlen, false, h, err, sizeof err)) {
        rc = pws__ending(c, PWS_ERR_CONNECT, "bad upgrade response from %.100s: %s", c->host_header, err);
    } else if (h->status != 101) {
        /* The path without its query string, which may carry a secret; the parts are cut so
         * that the status survives in PWS_MESSAGE_MAX bytes. */
        int pathlen = (int)strcspn(c->path, "?");
        bool permanent = upgrade_status_permanent(h->status);
        c->end_fatal = permanent;
        rc = pws__ending(c, permanent ? PWS_ERR_REFUSED : PWS_ERR_CONNECT,
                         "%.64s refused the WebSocket upgrade: HTTP %d %.40s for path %.*s%s", c->host_header,
                         h->status, h->reason, pathlen > 60 ? 60 : pathlen, c->path,
                         permanent ? " (permanent: not retrying)" : "");
    } else if (!pws__http_has_token(pws__http_get(h, "Upgrade"), "websocket") ||
               !pws__http_has_token(pws__http_get(h, "Connection"), "upgrade")) {
        rc = pws__ending(c, PWS_ERR_CONNECT, "upgrade response lacks Upgrade: websocket / Connection: Upgrade");
    } else {
        pws__ws_accept(c->ws_key, expect);
        const char *acc = pws__http_get(h, "Sec-WebSocket-Accept");
        const char *ext = pws__http_get(h, "Sec-WebSocket-Extensions");
        const char *proto = pws__http_get(h, "Sec-WebSocket-Protocol");
        if (!acc || strcmp(acc, expect))
            rc = pws__ending(c, PWS_ERR_CONNECT, "upgrade response has a wrong Sec-WebSocket-Accept");
        else if (ext && *ext)
            rc = pws__ending(c, PWS_ERR_CONNECT, "server chose extension \"%.80s\", which we did not offer", ext);
        else if (proto && *proto)
            rc = pws__ending(c, PWS_ERR_CONNECT, "server chose subprotocol \"%.80s\", which we did not offer",
                                proto);
    }
    free(h);
    return rc;
}

/* Plain bytes from the socket (after TLS): the upgrade response, then frames.
 * Returns 0, 1 when reading paused, -1 to close at once. */
static int on_plain(void *user, const unsigned char *data, size_t len)
{
    pws_connector *c = user;
    if (c->upgraded)
        return feed_frames(c, data, len);
    if (pws__buf_put(&c->head, data, len))
        return pws__ending(c, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
    size_t hl = pws__http_head_len(c->head.p, c->head.len);
    if (!hl) {
        if (c->head.len > PWS__MAX_HEAD)
            return pws__ending(c, PWS_ERR_CONNECT, "upgrade response over %u bytes", PWS__MAX_HEAD);
        return 0;
    }
    if (check_upgrade(c, hl))
        return -1;
    lws_sul_cancel(&c->sul_timeout);
    pws__on_established(c);
    /* frames that came with the head */
    pws__buf rest = c->head;
    memset(&c->head, 0, sizeof c->head);
    int rc = rest.len > hl ? feed_frames(c, (const unsigned char *)rest.p + hl, rest.len - hl) : 0;
    pws__buf_free(&rest);
    return rc;
}

/* Frames what waited while reads were paused, then reads the socket again
 * (unless the reader paused once more).  Never called inside the reader. */
static void read_on(pws_connector *c)
{
    if (!c->wsi)
        return;
    if (c->stash.len) {
        pws__buf held = c->stash;
        memset(&c->stash, 0, sizeof c->stash);
        int rc = feed_frames(c, (const unsigned char *)held.p, held.len);
        pws__buf_free(&held);
        if (rc)
            return; /* paused again */
    }
    if (c->link.ssl) {
        /* plaintext may wait inside the TLS session with no socket event to come */
        char err[200] = "";
        int rc = pws__link_rx(&c->link, NULL, 0, on_plain, c, NULL, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0) {
            pws__ending(c, PWS_ERR_CLOSED, "%s", err);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return;
        }
    }
    pws__link_set_rx(&c->link, true);
}

/* Block policy: the queue has room again. */
void pws__resume_reading(pws_connector *c)
{
    read_on(c);
    pws__drain_commands(c);
}

/* Sends the upgrade request (after TLS, if any, is up). */
static int send_upgrade(pws_connector *c)
{
    char req[PWS__MAX_URL + 512];
    pws__ws_new_key(c->ws_key);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: polyws/%s\r\n\r\n",
                     c->path, c->host_header, c->ws_key, PWS_VERSION_STRING);
    c->upgrade_sent = true;
    if (n < 0 || (size_t)n >= sizeof req || pws__link_send(&c->link, req, (size_t)n))
        return pws__ending(c, PWS_ERR_CONNECT, "cannot build the upgrade request");
    return 0;
}

/* WRITEABLE: heartbeat ping, rate-limited actions, then one chunk out. */
static int on_writeable(pws_connector *c)
{
    if (!c->close_sent && c->upgraded) {
        if (c->ping_due) {
            c->ping_due = false;
            send_frame(c, PWS__OP_PING, NULL, 0);
        }
        int64_t now = pws__mono_us();
        while (c->outq) {
            out_msg *m = c->outq;
            if (!pws__bucket_take(&c->bucket, now)) {
                int64_t wait = pws__bucket_wait_us(&c->bucket, now);
                lws_sul_schedule(c->ctx, 0, &c->sul_write, pws__sul_write_cb, wait > 0 ? wait : 1000);
                break;
            }
            if (c->lg.level >= PWS_LOG_DEBUG) {
                char red[1024];
                if (!m->is_auth) {
                    pws__log(&c->lg, PWS_LOG_DEBUG, "send %.*s", (int)(m->len > 800 ? 800 : m->len),
                             (const char *)m->buf);
                } else if (c->ad->redact) {
                    c->ad->redact(c->o.adapter_self, (const char *)m->buf, m->len, red, sizeof red);
                    pws__log(&c->lg, PWS_LOG_DEBUG, "send %s", red);
                }
            }
            if (send_frame(c, PWS__OP_TEXT, m->buf, m->len))
                return -1;
            STAT_ADD(c, actions_sent, 1);
            c->outq = m->next;
            if (!c->outq)
                c->outq_tail = NULL;
            c->outq_len--;
            if (m->is_auth) {
                c->wipe_out = true;
                OPENSSL_cleanse(m->buf, m->len);
            }
            free(m);
        }
    }
    int rc = pws__link_writeable(&c->link, c->scratch);
    if (c->wipe_out && !pws__link_pending(&c->link)) {
        /* the auth frame is out: no copy of it stays (scratch held one for lws_write) */
        OPENSSL_cleanse(c->link.out.p, c->link.out.cap);
        OPENSSL_cleanse(c->scratch, LWS_PRE + PWS__CLIENT_WRITE);
        c->wipe_out = false;
    }
    return rc;
}

static int callback_polyws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pws_connector *c = ctx ? lws_context_user(ctx) : NULL;
    if (!c)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi != c->wsi && c->wsi)
            break;
        pws__ending(c, PWS_ERR_CONNECT, "cannot connect to %.60s:%d: %.*s", c->host, c->port,
                    in ? (int)(len < 150 ? len : 150) : 0, in ? (const char *)in : "");
        pws__connection_gone(c, "connect failed");
        break;

    case LWS_CALLBACK_RAW_CONNECTED: {
        if (wsi != c->wsi && c->wsi)
            return -1;
        c->wsi = c->link.wsi = wsi;
        if (c->st != NET_CONNECTING)
            return -1;
        char err[200];
        if (c->tls) {
            if (pws__link_tls_start(&c->link, c->ssl_ctx, c->host, err, sizeof err))
                return pws__ending(c, PWS_ERR_TLS, "%s", err);
        } else if (send_upgrade(c)) {
            return -1;
        }
        break;
    }

    case LWS_CALLBACK_RAW_RX: {
        if (wsi != c->wsi)
            return -1;
        c->last_rx_us = pws__mono_us();
        char err[200] = "";
        bool tls_up = false;
        int rc = pws__link_rx(&c->link, in, len, on_plain, c, &tls_up, err, sizeof err);
        if (rc < 0) {
            /* on_plain gave its reason already; otherwise it is TLS */
            if (c->upgraded)
                pws__ending(c, PWS_ERR_CLOSED, "%s", err);
            else
                pws__ending(c, PWS_ERR_TLS, "%s (connecting to %s)", err, c->host_header);
            return -1;
        }
        if (tls_up && !c->upgrade_sent && send_upgrade(c))
            return -1;
        pws__drain_commands(c);
        break;
    }

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (wsi != c->wsi)
            return -1;
        return on_writeable(c);

    case LWS_CALLBACK_RAW_CLOSE:
        if (wsi == c->wsi)
            pws__connection_gone(c, c->upgraded ? "connection lost: closed without a close frame"
                                           : "connection lost during the upgrade");
        break;

    case LWS_CALLBACK_WSI_DESTROY:
        /* a raw wsi killed before it connected (our connect timeout) may get
         * no CLIENT_CONNECTION_ERROR: this is the last word on it */
        if (wsi == c->wsi)
            pws__connection_gone(c, c->st == NET_CONNECTING ? "connect failed" : "connection lost");
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stop_requested;
        bool space = c->space_ready;
        c->space_ready = false;
        pthread_mutex_unlock(&c->mu);
        if (space && c->pend_len > c->pend_off)
            pws__push_pending(c);
        if (stop && !c->stopping) {
            c->stopping = true;
            if (c->wsi) {
                /* a reason already given (auth_failed, a server close) stays */
                pws__end_connection(c, PWS_OK, true, 1000, "stopped by the application");
            } else {
                pws__finish(c, PWS_OK);
            }
        } else {
            pws__drain_commands(c);
        }
        break;
    }

    default:
        break;
    }
    return 0;
}

const struct lws_protocols pws__protocols[] = {
    {"polyws", callback_polyws, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};
