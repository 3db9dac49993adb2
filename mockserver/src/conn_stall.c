/*
 * conn_stall.c - STALL: a connection that stops reading and writing (see
 * conn_internal.h).
 *
 * Stalled, lws reads nothing, so the client's pings go unanswered, nothing is
 * streamed and no timer of the real service fires.  The client's frames that
 * pile up in the kernel's socket buffer are still journaled, by peeking at it
 * (plain ws only), and not journaled twice when lws delivers them after the
 * stall.  Used by the STALL step (pwsm__conn_stall) and the STALL fault.
 */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#define STALL_PEEK_US 20000      /* how often a stalled connection's unread bytes are looked at */
#define STALL_PEEK_MAX 65536     /* how many of them (frames beyond are not journaled) */

/* STALL keeps the client's frames unread in the kernel buffer (that is what makes its pings
 * go unanswered).  To still journal them, peek at that buffer without consuming it and
 * record the frames past the ones recorded before.  lws had processed everything it read
 * when the stall began (it starts from WRITEABLE), so the buffer starts at a frame. */
static void stall_peek_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, peek_sul);
    unsigned char *buf = malloc(STALL_PEEK_MAX);
    ssize_t n = buf ? recv(lws_get_socket_fd(c->wsi), buf, STALL_PEEK_MAX, MSG_PEEK | MSG_DONTWAIT) : -1;
    size_t off = 0;
    pwsm__wsframe f;
    while (n > 0 && off < (size_t)n &&
           pwsm__ws_client_frame(buf + off, (size_t)n - off, STALL_PEEK_MAX, &f) == 1) {
        unsigned char *p = buf + off + f.header;
        if (off >= c->peek_done) {
            for (size_t i = 0; i < f.payload; i++)
                p[i] ^= f.mask[i % 4];
            if (f.opcode == 1 || f.opcode == 2 || f.opcode == 0) {
                pwsm__record_received(c, f.opcode == 2, (const char *)p, f.payload);
                if (f.fin)
                    c->peeked_msgs++;
            } else if (f.opcode == 8) {
                char r[CLOSE_REASON_MAX + 1] = "";
                if (f.payload > 2)
                    snprintf(r, sizeof r, "%.*s", (int)(f.payload - 2), (const char *)p + 2);
                pwsm__record_close(c, 'c', f.payload >= 2 ? (p[0] << 8 | p[1]) : 0, r);
                c->peeked_close = true;
            } else {
                pwsm__record_scrubbed(c, 'c', f.opcode == 9 ? "ping" : "pong", p, f.payload);
                if (f.opcode == 10)
                    c->peeked_pongs++;
            }
        }
        off += f.header + f.payload;
    }
    if (off > c->peek_done)
        c->peek_done = off;
    free(buf);
    if (n != 0) /* 0: the client is gone, nothing more will come */
        lws_sul_schedule(lws_get_context(c->wsi), 0, &c->peek_sul, stall_peek_cb, STALL_PEEK_US);
}

/* Stops (on) or resumes reading and writing.  Stalled, lws reads nothing, so client pings go
 * unanswered; on plain ws the frames piling up are journaled by peeking at the socket, and
 * after a resume the same frames, now delivered by lws, are not journaled twice (lws
 * answers the pings then, late, without telling us). */
void pwsm__conn_stall(conn *c, bool on)
{
    if (on == c->stalled)
        return;
    c->stalled = on;
    if (on) {
        pwsm__stream_pause(c);
        lws_sul_cancel(&c->ping_sul);
        lws_sul_cancel(&c->auth_sul);
        lws_rx_flow_control(c->wsi, 0);
        c->peek_done = 0;
        c->peeked_msgs = c->peeked_pongs = 0;
        c->peeked_close = false;
        if (!lws_is_ssl(c->wsi))
            lws_sul_schedule(lws_get_context(c->wsi), 0, &c->peek_sul, stall_peek_cb, STALL_PEEK_US);
        return;
    }
    lws_sul_cancel(&c->peek_sul);
    c->skip_msgs = c->peeked_msgs;
    c->skip_pongs = c->peeked_pongs;
    c->skip_close = c->peeked_close;
    lws_rx_flow_control(c->wsi, 1);
    if (c->srv->o.ping_interval_ms)
        pwsm__ping_arm(c);
    if (c->sstream)
        c->batch_due = true;
    else
        pwsm__stream_kick(c);
    lws_callback_on_writable(c->wsi);
}
