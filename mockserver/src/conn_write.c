/*
 * conn_write.c - what a connection writes at SERVER_WRITEABLE (see
 * conn_internal.h).
 *
 * The lws 4.1 rule: one lws_write per WRITEABLE.  In order of precedence: the
 * queued control frames (conn_queue.c), a pending close, the slow-consumer
 * backlog (several frames framed here into one write), the driver's barrier,
 * a due fault of the connection's pwsm_script, and the stream (conn_stream.c).
 * Also the close frame without a status code and the drop without one, which
 * a driver asks for from its drained() callback.
 */
#include "conn_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CLOSE_ACK_SECS 5         /* after a code-less close frame, wait this long for the client's */
#define SC_WRITE_CHUNK (256u << 10) /* slow-consumer mode: backlog bytes written at once at most */
#define WS_HEADER_MAX 10            /* an unmasked server frame header: 2 + 8 length bytes */

/* The journal kind of a frame we queue. */
static const char *frame_kind(enum lws_write_protocol type)
{
    switch (type) {
    case LWS_WRITE_BINARY:
        return "binary";
    case LWS_WRITE_PING:
        return "ping";
    case LWS_WRITE_PONG:
        return "pong";
    default:
        return "text";
    }
}

/* What lws keeps of a write it could not send at once (it calls WRITEABLE again only once
 * it sent that): the whole write, an upper bound. */
static void note_written(conn *c, size_t len)
{
    c->lws_held = lws_partial_buffered(c->wsi) ? len : 0;
}

/* Journals and writes one frame taken off a queue, and frees it. */
static int write_frame(conn *c, outframe *f)
{
    if (f->type == LWS_WRITE_RAW)
        pwsm__record_raw(c, f->buf + LWS_PRE, f->len);
    else
        pwsm__record_sent(c, frame_kind(f->type), f->buf + LWS_PRE, f->len);
    /* LWS_WRITE_RAW (= LWS_WRITE_HTTP) makes lws 4.1 write the bytes as they are, through
     * TLS on wss, and buffer what the socket does not take like any other write. */
    int n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, f->type);
    size_t len = f->len;
    free(f);
    if (n < (int)len)
        return -1;
    note_written(c, len);
    lws_callback_on_writable(c->wsi); /* more queued, a close, or the stream may follow */
    return 0;
}

/* Slow-consumer mode: writes the oldest backlog frames, several in one write (framed here and
 * written as LWS_WRITE_RAW) up to SC_WRITE_CHUNK bytes, so a client that reads drains the
 * backlog faster than even rate max fills it. */
static int write_backlog(conn *c)
{
    outframe *f = c->backlog.head;
    if (!f->next || f->len + WS_HEADER_MAX > SC_WRITE_CHUNK)
        return write_frame(c, pwsm__outqueue_pop(&c->backlog)); /* a text frame */
    if (!c->wbuf && !(c->wbuf = malloc(LWS_PRE + SC_WRITE_CHUNK)))
        return pwsm__close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    unsigned char *out = c->wbuf + LWS_PRE;
    size_t total = 0;
    while ((f = c->backlog.head) && total + WS_HEADER_MAX + f->len <= SC_WRITE_CHUNK) {
        total += pwsm__ws_text_header(out + total, f->len);
        memcpy(out + total, f->buf + LWS_PRE, f->len);
        total += f->len;
        pwsm__record_sent(c, "text", f->buf + LWS_PRE, f->len);
        free(pwsm__outqueue_pop(&c->backlog));
    }
    if (lws_write(c->wsi, out, total, LWS_WRITE_RAW) < (int)total)
        return -1;
    note_written(c, total);
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Runs the fault of the connection's pwsm_script, which is due (pwsm__fault_due). */
static int run_fault(conn *c)
{
    const pwsm_script *sc = c->script;
    c->fault_done = true;
    switch (sc->fault) {
    case PWSM_FAULT_DROP:
        pwsm__record_str(c, '-', "fault", "drop");
        return pwsm__conn_drop(c);
    case PWSM_FAULT_CLOSE:
        pwsm__record_str(c, '-', "fault", "close");
        return pwsm__close_now(c, sc->close_code ? sc->close_code : LWS_CLOSE_STATUS_NORMAL, sc->close_reason);
    case PWSM_FAULT_STALL:
        pwsm__record_str(c, '-', "fault", "stall");
        pwsm__conn_stall(c, true);
        return 0;
    case PWSM_FAULT_STATUS_CLOSE: {
        const char *status = sc->status ? sc->status : "force_disconnect";
        pwsm__record_str(c, '-', "fault", "status_close");
        pwsm__enqueue_status(c, status, sc->status_message);
        pwsm__close_after_queue(c, c->srv->o.policy_close_code, NULL);
        return 0;
    }
    case PWSM_FAULT_NONE:
        break;
    }
    return 0;
}

int pwsm__on_writeable(conn *c)
{
    c->lws_held = 0; /* lws sent what it kept before it calls us */
    if (c->sent_close)
        /* lws asks once more after it sent our close frame.  A policy close (close_after_queue)
         * then ends the connection without waiting for the client's answering close, as it
         * always did; after a CLOSE step lws waits for that answer (CLOSE_ACK_SECS). */
        return c->close_pending ? -1 : 0;
    if (c->stalled || c->raw_close)
        return 0;
    if (c->overflow)
        return pwsm__close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "output queue full");
    if (c->q.head)
        return write_frame(c, pwsm__outqueue_pop(&c->q));
    if (c->close_pending)
        return pwsm__close_now(c, c->close_code, c->close_reason);
    if (c->backlog.head)
        return write_backlog(c);
    if (c->barrier) {
        c->barrier = false;
        int rc = c->driver->drained(c->driver_self);
        if (rc == 0)
            lws_callback_on_writable(c->wsi); /* what the driver queued or started */
        return rc;
    }
    if (c->authed && pwsm__fault_due(c))
        return run_fault(c);
    if (c->sstream)
        return pwsm__write_sstream(c);
    if (!c->stream_on || !c->serving || pwsm__sc_mode(c))
        return 0; /* slow-consumer mode: the stream timer generates, write_backlog writes */
    return pwsm__write_stream(c);
}

/* ---------------------------------------------------------------- operations (conn.h) */

void pwsm__conn_barrier(conn *c)
{
    c->barrier = true;
    lws_callback_on_writable(c->wsi);
}

int pwsm__conn_close(conn *c, int code, const char *reason)
{
    pwsm__stream_pause(c);
    if (code != 0)
        return pwsm__close_now(c, code, reason); /* lws 4.1 sends any code as given */
    /* No status code at all: lws_close_reason always writes one, so the frame goes out raw,
     * and the client's answering close ends the connection (PEER_INITIATED_CLOSE returns -1
     * so lws does not echo it), or CLOSE_ACK_SECS without one. */
    unsigned char buf[LWS_PRE + 2];
    buf[LWS_PRE] = 0x88; /* FIN | close */
    buf[LWS_PRE + 1] = 0x00;
    pwsm__journal_add(&c->srv->journal, c->ordinal, 's', "close", NULL, 0, 0, "");
    c->sent_close = true;
    c->raw_close = true;
    if (lws_write(c->wsi, buf + LWS_PRE, 2, LWS_WRITE_RAW) < 2)
        return -1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, CLOSE_ACK_SECS);
    return 0;
}

int pwsm__conn_drop(conn *c)
{
    c->dropped = true;
    /* No close frame: the FIN goes out after what was written, and lws' own close frame (sent
     * as we return -1) hits the shut-down socket and is lost.  The socket lingers (read until
     * the client ends too): closed with the client's bytes unread, or getting its pings or
     * pongs once closed, it would answer with a reset, and a reset discards what the kernel has
     * not sent yet, which a client holding its reads has not read: the end of the stream. */
    pws__linger_add(c->srv ? c->srv->sv.linger : NULL, lws_get_socket_fd(c->wsi));
    return -1;
}
