/*
 * conn_queue.c - a connection's queue of control frames (see conn_internal.h).
 *
 * Statuses, pings, a script's frames and raw bytes wait here, in order, and go
 * first at WRITEABLE (conn_write.c); the queue holds at most PWSM_MAX_OUT_QUEUE
 * payload bytes, past which the connection is closed 1011 (overflow).  Stream
 * frames are not queued: they are generated at write time (conn_stream.c).
 * Also the close frames and the periodic server ping.  Below it only the
 * journal (conn_journal.c).
 */
#include "conn_internal.h"

#include "wire/codec.h" /* pws__utf8_prefix */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_PAYLOAD "pwsmock"

bool pwsm__outqueue_push(outqueue *q, enum lws_write_protocol type, const void *data, size_t len)
{
    outframe *f = malloc(sizeof *f + LWS_PRE + len + 1);
    if (!f)
        return false;
    f->next = NULL;
    f->len = len;
    f->type = type;
    memcpy(f->buf + LWS_PRE, data, len);
    f->buf[LWS_PRE + len] = '\0';
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->bytes += len;
    return true;
}

outframe *pwsm__outqueue_pop(outqueue *q)
{
    outframe *f = q->head;
    if (!f)
        return NULL;
    q->head = f->next;
    if (!q->head)
        q->tail = NULL;
    q->bytes -= f->len;
    return f;
}

void pwsm__outqueue_free(outqueue *q)
{
    while (q->head) {
        outframe *f = q->head;
        q->head = f->next;
        free(f);
    }
    q->tail = NULL;
    q->bytes = 0;
}

void pwsm__enqueue(conn *c, enum lws_write_protocol type, const char *data, size_t len)
{
    if (c->overflow)
        return;
    /* data == NULL: out of memory upstream */
    if (!data || c->q.bytes + len > PWSM_MAX_OUT_QUEUE || !pwsm__outqueue_push(&c->q, type, data, len))
        c->overflow = true;
}

void pwsm__enqueue_status(conn *c, const char *status, const char *message)
{
    size_t len = 0;
    char *frame = pwsm__status_frame(status, message ? message : pwsm__status_text(status), &len);
    pwsm__enqueue(c, LWS_WRITE_TEXT, frame, len);
    free(frame);
}

bool pwsm__conn_open(const conn *c)
{
    return !c->close_pending && !c->sent_close && !c->kicked && !c->dropped && !c->overflow;
}

/* Arranges a close once the queued frames went out. */
void pwsm__close_after_queue(conn *c, int code, const char *reason)
{
    if (c->close_pending)
        return;
    c->close_pending = true;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
    lws_callback_on_writable(c->wsi);
}

/* Sends the close frame now; the caller returns -1 from the callback. */
int pwsm__close_now(conn *c, int code, const char *reason)
{
    if (c->sent_close)
        return -1; /* once: lws may ask for WRITEABLE again while it sends ours */
    /* the scenario loader refuses longer reasons; the cut is for the others, and keeps the
     * reason UTF-8 (a reason cut inside a character fails the client's connection) */
    size_t rlen = reason ? pws__utf8_prefix(reason, strlen(reason), CLOSE_REASON_MAX) : 0;
    char r[CLOSE_REASON_MAX + 1];
    memcpy(r, reason ? reason : "", rlen);
    r[rlen] = '\0';
    pwsm__journal_add(&c->srv->journal, c->ordinal, 's', "close", NULL, 0, code, r);
    lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)r, rlen);
    c->sent_close = true;
    return -1;
}

static void ping_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, ping_sul);
    if (c->stalled || c->close_pending || c->sent_close)
        return;
    pwsm__enqueue(c, LWS_WRITE_PING, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
    lws_callback_on_writable(c->wsi);
    pwsm__ping_arm(c);
}

void pwsm__ping_arm(conn *c)
{
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->ping_sul, ping_timer_cb,
                     (lws_usec_t)c->srv->o.ping_interval_ms * 1000);
}

void pwsm__conn_send(conn *c, pwsm__out type, const void *data, size_t len)
{
    static const enum lws_write_protocol types[] = {
        [PWSM__OUT_TEXT] = LWS_WRITE_TEXT, [PWSM__OUT_BINARY] = LWS_WRITE_BINARY,
        [PWSM__OUT_PING] = LWS_WRITE_PING, [PWSM__OUT_PONG] = LWS_WRITE_PONG,
        [PWSM__OUT_RAW] = LWS_WRITE_RAW,
    };
    pwsm__enqueue(c, types[type], data ? data : "", data ? len : 0);
    lws_callback_on_writable(c->wsi);
}

void pwsm__conn_status(conn *c, const char *status)
{
    pwsm__enqueue_status(c, status, NULL);
    lws_callback_on_writable(c->wsi);
}

size_t pwsm__conn_queued(const conn *c)
{
    return c->q.bytes;
}
