/*
 * conn_stream.c - the pacing of a connection's stream (see conn_internal.h).
 *
 * The generator (gen.c) prints the events; this file decides when a batch goes
 * out.  Three ways:
 *  - the real service, by default: a batch of 1..batch_max events when the rate
 *    timer (events_per_sec) allows and the client can take it, generated at
 *    write time, so a slow client holds back the generator instead of growing
 *    a buffer;
 *  - the real service with slow_consumer_bytes: generated on the server's clock
 *    into a per-connection backlog bounded by that limit; past it the client
 *    gets slow_consumer and is closed (conn_write.c writes the backlog);
 *  - a STREAM step of a script (pwsm__conn_stream): a count of events in fixed
 *    batches at its own rate, from its own generator if it names channels or a
 *    seed; its end is told to the driver (stream_done).
 * Below it: the queue (conn_queue.c) and the journal.
 */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sc_generate(conn *c);

/* Slow-consumer mode: the real-service stream is generated on the server's clock. */
bool pwsm__sc_mode(const conn *c)
{
    return c->srv->o.slow_consumer_bytes != 0;
}

static void stream_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, stream_sul);
    c->timer_armed = false;
    if (pwsm__sc_mode(c) && !c->sstream) {
        sc_generate(c);
        return;
    }
    c->batch_due = true;
    lws_callback_on_writable(c->wsi);
}

/* The next batch after events / rate seconds (rate > 0; rate < 0: at the next loop turn). */
static void stream_arm(conn *c, uint32_t events, double rate)
{
    double us = rate < 0 ? 1 : (double)events * 1e6 / rate;
    if (us < 1)
        us = 1;
    if (us > 3600e6)
        us = 3600e6;
    c->timer_armed = true;
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->stream_sul, stream_timer_cb, (lws_usec_t)us);
}

/* Called when the subscription set may have changed: (re)starts the stream. */
void pwsm__stream_kick(conn *c)
{
    if (!c->stream_on || c->stalled || !c->serving || c->sstream || c->sc_tripped)
        return;
    if (pwsm__sc_mode(c)) {
        /* the generator runs on its timer, whether or not the client reads */
        if (!c->timer_armed)
            stream_arm(c, 1, c->srv->o.events_per_sec);
        return;
    }
    if (c->srv->o.events_per_sec < 0)
        c->batch_due = true;
    else if (!c->batch_due && !c->timer_armed)
        stream_arm(c, 1, c->srv->o.events_per_sec);
    lws_callback_on_writable(c->wsi);
}

/* Stops the pacing of whichever stream ran. */
void pwsm__stream_pause(conn *c)
{
    lws_sul_cancel(&c->stream_sul);
    c->timer_armed = false;
    c->batch_due = false;
}

bool pwsm__fault_due(const conn *c)
{
    return c->script->fault != PWSM_FAULT_NONE && !c->fault_done &&
           c->events_sent >= c->script->after_events;
}

/* Room for a frame of n events after LWS_PRE; false on OOM.  Not wire's pws__grow: the room
 * sits after LWS_PRE bytes of headroom, is sized exactly, and each batch overwrites it. */
static bool frame_reserve(conn *c, uint32_t n)
{
    size_t need = (size_t)n * (PWSM__EVENT_MAX + 1) + 3;
    if (c->frame && c->frame_cap >= need)
        return true;
    unsigned char *p = realloc(c->frame, LWS_PRE + need);
    if (!p)
        return false;
    c->frame = p;
    c->frame_cap = need;
    return true;
}

/* Generates n events of g into the connection's frame buffer (grown to room for reserve
 * events) and writes them as one text frame: 1 once written, 0 if nothing was generated, or
 * -1 (the callback's result) on failure. */
static int write_batch(conn *c, pwsm__gen *g, uint32_t n, uint32_t reserve)
{
    if (!frame_reserve(c, reserve))
        return pwsm__close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    size_t len = pwsm__gen_frame(g, n, (char *)c->frame + LWS_PRE, c->frame_cap);
    if (!len)
        return 0;
    pwsm__record_sent(c, "text", c->frame + LWS_PRE, len);
    if (lws_write(c->wsi, c->frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    c->events_sent += n;
    return 1;
}

/* A STREAM step ended (why: NULL, or why early). */
static void sstream_end(conn *c, const char *why)
{
    c->sstream = false;
    pwsm__stream_pause(c);
    lws_callback_on_writable(c->wsi);
    c->driver->stream_done(c->driver_self, why);
}

/* One batch of a STREAM step: exactly its batch size (the last one may be smaller). */
int pwsm__write_sstream(conn *c)
{
    if (!c->batch_due)
        return 0;
    if (pwsm__gen_active(c->sgen) == 0) {
        sstream_end(c, "nothing left to stream: the subscriptions it streamed were dropped");
        return 0;
    }
    uint32_t n = c->sstream_left < c->sstream_batch ? (uint32_t)c->sstream_left : c->sstream_batch;
    int rc = write_batch(c, c->sgen, n, n);
    if (rc <= 0)
        return rc;
    c->sstream_left -= n;
    c->batch_due = false;
    if (!c->sstream_left) {
        sstream_end(c, NULL);
    } else if (c->sstream_rate <= 0) {
        c->batch_due = true;
        lws_callback_on_writable(c->wsi);
    } else {
        stream_arm(c, n, c->sstream_rate);
    }
    return 0;
}

/* Draws the size of the next real-service batch, 1..batch_max events cut to stream_limit
 * and to a script fault's after_events. */
static uint32_t stream_next_n(conn *c)
{
    pwsm_server *s = c->srv;
    uint32_t n = pwsm__gen_batch_size(&c->gen, s->o.batch_max);
    if (s->o.stream_limit && c->events_sent + n > s->o.stream_limit)
        n = (uint32_t)(s->o.stream_limit - c->events_sent);
    if (c->script->fault != PWSM_FAULT_NONE && !c->fault_done &&
        c->events_sent + n > c->script->after_events)
        n = (uint32_t)(c->script->after_events - c->events_sent);
    return n;
}

/* One batch of the real-service stream: 1..batch_max events. */
int pwsm__write_stream(conn *c)
{
    pwsm_server *s = c->srv;
    if (s->o.stream_limit && c->events_sent >= s->o.stream_limit)
        return 0;
    if (!c->batch_due || pwsm__gen_active(&c->gen) == 0)
        return 0; /* a timer or a subscribe will ask again */
    uint32_t n = stream_next_n(c);
    int rc = write_batch(c, &c->gen, n, s->o.batch_max);
    if (rc <= 0)
        return rc;
    c->batch_due = false;
    if (pwsm__fault_due(c)) {
        lws_callback_on_writable(c->wsi);
    } else if (s->o.stream_limit && c->events_sent >= s->o.stream_limit) {
        /* done streaming */
    } else if (s->o.events_per_sec < 0) {
        c->batch_due = true;
        lws_callback_on_writable(c->wsi);
    } else {
        stream_arm(c, n, s->o.events_per_sec);
    }
    return 0;
}

/* ---------------------------------------------------------------- slow consumers */

/* The unread backlog: generated stream frames not written yet, queued control frames and
 * what lws holds of the last write.  The kernel's socket buffers are not seen. */
static uint64_t sc_backlog(const conn *c)
{
    return (uint64_t)c->backlog.bytes + c->q.bytes + c->lws_held;
}

/* Over the limit: the backlog is dropped, slow_consumer goes out next and the connection is
 * closed once the client has read up to it, or dropped if it reads nothing more. */
static void slow_consumer_trip(conn *c)
{
    c->sc_tripped = true;
    pwsm__stream_pause(c);
    pwsm__outqueue_free(&c->backlog);
    pwsm__record_str(c, '-', "fault", "slow_consumer");
    pwsm__enqueue_status(c, "slow_consumer", c->srv->o.texts.slow_consumer);
    pwsm__close_after_queue(c, c->srv->o.policy_close_code, NULL);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, PWSM_SLOW_CONSUMER_GRACE_S);
}

/* The stream timer in slow-consumer mode: checks the unread backlog, then generates the batch
 * that is due into it, whether or not the client reads (at rate max: one batch per service-loop
 * turn).  The frame just made does not count against the limit until the next turn. */
static void sc_generate(conn *c)
{
    pwsm_server *s = c->srv;
    if (!pwsm__conn_open(c) || c->sc_tripped || c->stalled || !c->serving || !c->stream_on)
        return;
    if (sc_backlog(c) > s->o.slow_consumer_bytes) {
        slow_consumer_trip(c);
        lws_callback_on_writable(c->wsi);
        return;
    }
    lws_callback_on_writable(c->wsi);
    if ((s->o.stream_limit && c->events_sent >= s->o.stream_limit) || pwsm__gen_active(&c->gen) == 0 ||
        pwsm__fault_due(c))
        return; /* a subscribe (stream_kick) or the fault's end starts it again */
    uint32_t n = stream_next_n(c);
    if (!frame_reserve(c, s->o.batch_max)) {
        c->overflow = true; /* out of memory: closed 1011 from WRITEABLE */
        return;
    }
    size_t len = pwsm__gen_frame(&c->gen, n, (char *)c->frame + LWS_PRE, c->frame_cap);
    if (!len)
        return;
    if (!pwsm__outqueue_push(&c->backlog, LWS_WRITE_TEXT, c->frame + LWS_PRE, len)) {
        c->overflow = true;
        return;
    }
    c->events_sent += n;
    stream_arm(c, n, s->o.events_per_sec);
}

/* ---------------------------------------------------------------- STREAM steps */

/* The default seed of the nth STREAM step with its own channels: the server seed mixed
 * with n (and, by pwsm__gen_init, with the ordinal). */
static uint64_t stream_seed(uint64_t seed, uint32_t nth)
{
    return seed ^ ((uint64_t)nth + 1) * UINT64_C(0x9E3779B97F4A7C15);
}

/* Applies type x symbol channels to g; NULL lists mean "those subscribed". */
static void apply_cross(conn *c, pwsm__gen *g, const pwss_stream *st)
{
    size_t ntypes = st->ntypes ? st->ntypes : c->nsubs;
    size_t nsyms = st->nsymbols ? st->nsymbols : c->nsubs;
    for (size_t t = 0; t < ntypes; t++) {
        const char *type = st->ntypes ? st->types[t] : c->subs[t];
        size_t tlen = st->ntypes ? strlen(type) : strcspn(type, ".");
        for (size_t y = 0; y < nsyms; y++) {
            const char *sym = st->nsymbols ? st->symbols[y] : c->subs[y];
            if (!st->nsymbols) {
                const char *dot = strchr(sym, '.');
                if (!dot)
                    continue;
                sym = dot + 1;
            }
            char ch[PWSM__SYMBOL_MAX + 16];
            int n = snprintf(ch, sizeof ch, "%.*s.%s", (int)tlen, type, sym);
            if (n > 0 && (size_t)n < sizeof ch)
                pwsm__gen_channel(g, ch, (size_t)n, true);
        }
    }
}

const char *pwsm__conn_stream(conn *c, const pwss_stream *st, uint32_t nth)
{
    pwsm_server *s = c->srv;
    pwsm__gen *g = &c->gen;
    if (st->ntypes || st->nsymbols || st->seed) {
        if (c->xgen_ready)
            pwsm__gen_free(&c->xgen);
        c->xgen_ready = false;
        /* An explicit seed is not mixed with the ordinal: every connection gets the same. */
        int rc = st->seed ? pwsm__gen_init(&c->xgen, st->seed, 0)
                          : pwsm__gen_init(&c->xgen, stream_seed(s->o.seed, nth), c->ordinal);
        if (rc != 0)
            return "out of memory";
        c->xgen_ready = true;
        g = &c->xgen;
        if (!st->ntypes && !st->nsymbols) {
            for (size_t i = 0; i < c->nsubs; i++)
                pwsm__gen_channel(g, c->subs[i], strlen(c->subs[i]), true);
        } else {
            apply_cross(c, g, st);
        }
    }
    if (pwsm__gen_active(g) == 0)
        return "nothing to stream: no subscribed channel (or given type and symbol) of A, AM, T, Q "
               "with a valid symbol";
    pwsm__stream_pause(c);
    c->sgen = g;
    c->sstream = true;
    c->sstream_left = st->count;
    c->sstream_batch = st->batch ? st->batch : PWSM__DEFAULT_BATCH_MAX;
    c->sstream_rate = st->rate;
    c->batch_due = true; /* the first batch goes out at once */
    lws_callback_on_writable(c->wsi);
    return NULL;
}
