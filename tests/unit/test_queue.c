/*
 * test_queue.c - the bounded SPSC event queue (libpolyws, queue.c).
 *
 * Single-threaded tests pin down each overflow policy, the control reserve,
 * the OTHER json copies, wraparound and close; a two-thread run pushes a few
 * million events through a small queue under the block policy, pausing on
 * refusals and resuming from on_space exactly as the network thread does, and
 * checks order and count.  Set POLYWS_TEST_QUEUE_EVENTS to change the size of
 * that run (default 3000000).
 */
#include "queue.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

/* A trade whose sequence number q carries the test's ordinal. */
static pws_event mk_trade(int64_t seq)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_TRADE;
    snprintf(ev.u.trade.sym, sizeof(ev.u.trade.sym), "SYM%lld", (long long)(seq % 1000));
    ev.u.trade.q = seq;
    ev.u.trade.t = 1700000000000 + seq;
    return ev;
}

/* A connection event whose attempt number carries the ordinal. */
static pws_event mk_control(uint32_t seq)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_CONNECTION;
    ev.u.conn.state = PWS_CONN_RECONNECT_WAIT;
    ev.u.conn.attempt = seq;
    return ev;
}

static pws_event mk_other(const char *json, size_t len)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_OTHER;
    snprintf(ev.u.other.ev, sizeof(ev.u.other.ev), "LULD");
    ev.u.other.json = json;
    ev.u.other.json_len = len;
    return ev;
}

/* Counts on_space calls and checks the queue lock is not held during them. */
typedef struct space_probe {
    pws__queue *q;       /* queue under test */
    int calls;           /* on_space calls so far */
    int lock_was_held;   /* calls during which q->mu was locked */
} space_probe;

static void probe_on_space(void *user)
{
    space_probe *p = user;
    p->calls++;
    /* Single-threaded tests: nobody else holds the lock, so trylock fails
     * only if on_space was called with it held. */
    if (pthread_mutex_trylock(&p->q->mu) != 0)
        p->lock_was_held++;
    else
        pthread_mutex_unlock(&p->q->mu);
}

/* The ordinal in an OTHER event's json `{"n":123}`, read within json_len
 * (the contract does not promise a NUL terminator), or -1. */
static long long other_ordinal(const pws_event *ev)
{
    char buf[64];
    long long v = -1;
    size_t len = ev->u.other.json_len;
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, ev->u.other.json, len);
    buf[len] = '\0';
    if (sscanf(buf, "{\"n\":%lld}", &v) != 1)
        return -1;
    return v;
}

static size_t push_trades(pws__queue *q, int64_t first, size_t n)
{
    pws_event evs[64];
    CU_ASSERT_FATAL(n <= 64);
    for (size_t i = 0; i < n; i++)
        evs[i] = mk_trade(first + (int64_t)i);
    return pws__queue_push_batch(q, evs, n);
}

static size_t qlen(pws__queue *q)
{
    size_t len = 0;
    pws__queue_stats(q, &len, NULL, NULL);
    return len;
}

/* -------------------------------------------------------------- tests */

static void test_init_limits(void)
{
    pws__queue q;
    CU_ASSERT_EQUAL(pws__queue_init(&q, 0, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws__queue_init(&q, 8, (pws_overflow)7, NULL, NULL), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws__queue_init(&q, PWS__QUEUE_MAX_CAPACITY + 1, PWS_OVERFLOW_BLOCK, NULL, NULL),
                    PWS_ERR_LIMIT);
    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 8, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    CU_ASSERT_EQUAL(q.nslots, 8 + PWS__QUEUE_CONTROL_RESERVE);
    pws__queue_free(&q);
    pws__queue_free(&q); /* a freed (zeroed) queue is fine to free again */
}

static void test_block_policy(void)
{
    pws__queue q;
    space_probe p = {&q, 0, 0};
    pws_event out[16];

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 8, PWS_OVERFLOW_BLOCK, probe_on_space, &p), PWS_OK);
    CU_ASSERT_FALSE(pws__queue_full(&q));
    CU_ASSERT_EQUAL(push_trades(&q, 0, 6), 6);
    /* Only the free capacity is taken: 2 of 5. */
    CU_ASSERT_EQUAL(push_trades(&q, 6, 5), 2);
    CU_ASSERT_TRUE(pws__queue_full(&q));
    /* Refused again within the same episode. */
    CU_ASSERT_EQUAL(push_trades(&q, 8, 3), 0);
    CU_ASSERT_EQUAL(qlen(&q), 8);

    /* 8 -> 5: still above capacity/2, no wake-up yet. */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 3, 0), 3);
    CU_ASSERT_EQUAL(p.calls, 0);
    CU_ASSERT_EQUAL(push_trades(&q, 8, 1), 1); /* room again, but still the same episode */
    CU_ASSERT_EQUAL(push_trades(&q, 9, 5), 2);
    CU_ASSERT_EQUAL(qlen(&q), 8);
    /* 8 -> 4 = capacity/2: exactly one call, lock not held. */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out + 3, 4, 0), 4);
    CU_ASSERT_EQUAL(p.calls, 1);
    CU_ASSERT_EQUAL(p.lock_was_held, 0);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out + 7, 9, 0), 4);
    CU_ASSERT_EQUAL(p.calls, 1); /* draining further does not call again */
    for (int i = 0; i < 11; i++)
        CU_ASSERT_EQUAL(out[i].u.trade.q, i);

    /* Accepted again, and a second episode gets its own single call. */
    CU_ASSERT_EQUAL(push_trades(&q, 11, 8), 8);
    CU_ASSERT_EQUAL(push_trades(&q, 19, 1), 0);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 8);
    CU_ASSERT_EQUAL(p.calls, 2);
    CU_ASSERT_EQUAL(p.lock_was_held, 0);

    /* Filling exactly to capacity without a refusal arms nothing. */
    CU_ASSERT_EQUAL(push_trades(&q, 19, 8), 8);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 8);
    CU_ASSERT_EQUAL(p.calls, 2);

    /* A producer that pauses because full() said so is woken too. */
    CU_ASSERT_EQUAL(push_trades(&q, 27, 8), 8);
    CU_ASSERT_TRUE(pws__queue_full(&q));
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 8);
    CU_ASSERT_EQUAL(p.calls, 3);

    size_t hw = 0;
    uint64_t dropped = 1;
    pws__queue_stats(&q, NULL, &hw, &dropped);
    CU_ASSERT_EQUAL(hw, 8);
    CU_ASSERT_EQUAL(dropped, 0);
    pws__queue_free(&q);
}

static void test_drop_oldest_policy(void)
{
    pws__queue q;
    space_probe p = {&q, 0, 0};
    pws_event out[16];
    uint64_t dropped = 0;
    size_t hw = 0;

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_DROP_OLDEST, probe_on_space, &p),
                          PWS_OK);
    CU_ASSERT_EQUAL(push_trades(&q, 0, 6), 6); /* all accepted, 0 and 1 dropped */
    pws__queue_stats(&q, NULL, &hw, &dropped);
    CU_ASSERT_EQUAL(dropped, 2);
    CU_ASSERT_EQUAL(hw, 4);
    CU_ASSERT_EQUAL(push_trades(&q, 6, 1), 1); /* drops 2 */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(out[i].u.trade.q, 3 + i);
    pws__queue_stats(&q, NULL, NULL, &dropped);
    CU_ASSERT_EQUAL(dropped, 3);
    CU_ASSERT_EQUAL(p.calls, 0); /* nothing was ever refused */

    /* Queued control events are never dropped and keep their place. */
    pws_event c = mk_control(77);
    CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_OK);
    CU_ASSERT_EQUAL(push_trades(&q, 10, 3), 3); /* len 4 = capacity */
    CU_ASSERT_EQUAL(push_trades(&q, 13, 2), 2); /* drops trades 10 and 11, not the control */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 4);
    CU_ASSERT_EQUAL(out[0].type, PWS_EV_CONNECTION);
    CU_ASSERT_EQUAL(out[0].u.conn.attempt, 77);
    CU_ASSERT_EQUAL(out[1].u.trade.q, 12);
    CU_ASSERT_EQUAL(out[2].u.trade.q, 13);
    CU_ASSERT_EQUAL(out[3].u.trade.q, 14);

    /* A queue holding only control events drops the incoming data instead. */
    for (uint32_t i = 0; i < 5; i++) {
        c = mk_control(i);
        CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_OK);
    }
    pws__queue_stats(&q, NULL, NULL, &dropped);
    uint64_t before = dropped;
    CU_ASSERT_EQUAL(push_trades(&q, 20, 2), 2);
    pws__queue_stats(&q, NULL, NULL, &dropped);
    CU_ASSERT_EQUAL(dropped, before + 2);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 5);
    for (uint32_t i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(out[i].u.conn.attempt, i);

    /* A batch larger than capacity keeps its newest events. */
    pws_event big[10];
    for (int i = 0; i < 10; i++)
        big[i] = mk_trade(100 + i);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, big, 10), 10);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 16, 0), 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(out[i].u.trade.q, 106 + i);
    pws__queue_free(&q);
}

static void test_drop_oldest_frees_blobs(void)
{
    pws__queue q;
    pws_event out[8];
    char json[64];

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 2, PWS_OVERFLOW_DROP_OLDEST, NULL, NULL), PWS_OK);
    for (int i = 0; i < 5; i++) {
        int n = snprintf(json, sizeof(json), "{\"ev\":\"LULD\",\"n\":%d}", i);
        pws_event ev = mk_other(json, (size_t)n);
        CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &ev, 1), 1);
    }
    /* Three blobs were freed by the drops (valgrind/ASan check the rest). */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 8, 0), 2);
    CU_ASSERT_EQUAL(out[0].u.other.json_len, strlen("{\"ev\":\"LULD\",\"n\":3}"));
    CU_ASSERT_EQUAL(memcmp(out[0].u.other.json, "{\"ev\":\"LULD\",\"n\":3}", out[0].u.other.json_len), 0);
    CU_ASSERT_EQUAL(memcmp(out[1].u.other.json, "{\"ev\":\"LULD\",\"n\":4}", out[1].u.other.json_len), 0);
    pws__queue_free(&q);
}

static void test_disconnect_policy(void)
{
    pws__queue q;
    space_probe p = {&q, 0, 0};
    pws_event out[8];
    uint64_t dropped = 1;

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_DISCONNECT, probe_on_space, &p),
                          PWS_OK);
    CU_ASSERT_EQUAL(push_trades(&q, 0, 6), 4);
    CU_ASSERT_EQUAL(push_trades(&q, 6, 1), 0);
    CU_ASSERT_TRUE(pws__queue_full(&q));
    pws__queue_stats(&q, NULL, NULL, &dropped);
    CU_ASSERT_EQUAL(dropped, 0); /* refused, not dropped: the caller decides */
    /* Control events still get in. */
    pws_event c = mk_control(1);
    CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_OK);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 8, 0), 5);
    CU_ASSERT_EQUAL(out[3].u.trade.q, 3);
    CU_ASSERT_EQUAL(out[4].type, PWS_EV_CONNECTION);
    CU_ASSERT_EQUAL(p.calls, 1);
    CU_ASSERT_EQUAL(p.lock_was_held, 0);
    CU_ASSERT_EQUAL(push_trades(&q, 6, 1), 1);
    pws__queue_free(&q);
}

static void test_control_reserve(void)
{
    pws__queue q;
    pws_event *out;
    size_t len = 0, hw = 0;
    uint64_t dropped = 0;
    const size_t total = 4 + PWS__QUEUE_CONTROL_RESERVE;

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    CU_ASSERT_EQUAL(push_trades(&q, 0, 4), 4);
    CU_ASSERT_EQUAL(push_trades(&q, 4, 1), 0);
    for (uint32_t i = 0; i < PWS__QUEUE_CONTROL_RESERVE; i++) {
        pws_event c = mk_control(i);
        CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_OK);
    }
    /* Past the reserve: dropped and counted, also inside a batch. */
    pws_event c = mk_control(99999);
    CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_ERR_LIMIT);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &c, 1), 1);
    pws__queue_stats(&q, &len, &hw, &dropped);
    CU_ASSERT_EQUAL(len, total);
    CU_ASSERT_EQUAL(hw, total);
    CU_ASSERT_EQUAL(dropped, 2);

    out = calloc(total, sizeof(*out));
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, total + 10, 0), total);
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(out[i].u.trade.q, (int64_t)i);
    for (size_t i = 4; i < total; i++) {
        CU_ASSERT_EQUAL(out[i].type, PWS_EV_CONNECTION);
        CU_ASSERT_EQUAL(out[i].u.conn.attempt, (uint32_t)(i - 4));
    }
    free(out);
    pws__queue_free(&q);
}

static void test_control_in_batch(void)
{
    pws__queue q;
    pws_event evs[6], out[8];

    /* A frame's events in one batch: the status is accepted beyond capacity,
     * the data after the first refusal is not. */
    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 3, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    evs[0] = mk_trade(0);
    evs[1] = mk_control(1);
    evs[1].type = PWS_EV_STATUS;
    evs[2] = mk_trade(2);
    evs[3] = mk_control(3); /* beyond capacity: still accepted */
    evs[4] = mk_trade(4);   /* refused: len 4 >= 3 */
    evs[5] = mk_control(5); /* after the refusal: left to the caller */
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, evs, 6), 4);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 8, 0), 4);
    CU_ASSERT_EQUAL(out[0].type, PWS_EV_TRADE);
    CU_ASSERT_EQUAL(out[1].type, PWS_EV_STATUS);
    CU_ASSERT_EQUAL(out[2].u.trade.q, 2);
    CU_ASSERT_EQUAL(out[3].type, PWS_EV_CONNECTION);
    pws__queue_free(&q);
}

static void test_other_json_copied(void)
{
    pws__queue q;
    pws_event out[4];
    char src1[] = "{\"ev\":\"LULD\",\"T\":\"AAPL\",\"h\":190.5}";
    char src2[] = "{\"ev\":\"FMV\",\"sym\":\"MSFT\",\"fmv\":410.25}";
    const size_t len1 = strlen(src1), len2 = strlen(src2);

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 8, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    pws_event evs[3] = {mk_other(src1, len1), mk_trade(1), mk_other(src2, len2)};
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, evs, 3), 3);
    /* The producer's frame buffer is reused at once. */
    memset(src1, 'x', len1);
    memset(src2, 'y', len2);

    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 2, 0), 2);
    CU_ASSERT_EQUAL(out[0].type, PWS_EV_OTHER);
    CU_ASSERT_STRING_EQUAL(out[0].u.other.ev, "LULD");
    CU_ASSERT_EQUAL(out[0].u.other.json_len, len1);
    CU_ASSERT_PTR_NOT_EQUAL(out[0].u.other.json, src1);
    CU_ASSERT_EQUAL(memcmp(out[0].u.other.json, "{\"ev\":\"LULD\",\"T\":\"AAPL\",\"h\":190.5}", len1), 0);
    CU_ASSERT_EQUAL(out[1].u.trade.q, 1);
    /* Still valid after more pushes, until the consumer's next pop. */
    pws_event more = mk_trade(2);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &more, 1), 1);
    CU_ASSERT_EQUAL(memcmp(out[0].u.other.json, "{\"ev\":\"LULD\"", 12), 0);

    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 1, 0), 1);
    CU_ASSERT_EQUAL(out[0].u.other.json_len, len2);
    CU_ASSERT_EQUAL(memcmp(out[0].u.other.json, "{\"ev\":\"FMV\",\"sym\":\"MSFT\",\"fmv\":410.25}", len2), 0);

    /* Empty json: never NULL. */
    pws_event empty = mk_other(NULL, 0);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &empty, 1), 1);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 4, 0), 2);
    CU_ASSERT_EQUAL(out[1].type, PWS_EV_OTHER);
    CU_ASSERT_PTR_NOT_NULL(out[1].u.other.json);
    CU_ASSERT_EQUAL(out[1].u.other.json_len, 0);

    /* A blob that cannot be copied becomes a parse error in its place. */
    char big[128];
    memset(big, 'z', sizeof(big));
    pws_event huge = mk_other(big, (size_t)PWS__QUEUE_MAX_BLOB_BYTES + 1);
    pws_event bad = mk_other(NULL, 5);
    pws_event two[2] = {huge, bad};
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, two, 2), 2);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 4, 0), 2);
    CU_ASSERT_EQUAL(out[0].type, PWS_EV_PARSE_ERROR);
    CU_ASSERT_EQUAL(out[0].u.error.frame_len, (size_t)PWS__QUEUE_MAX_BLOB_BYTES + 1);
    CU_ASSERT_PTR_NOT_NULL(out[0].u.error.reason);
    CU_ASSERT_EQUAL(strlen(out[0].u.error.excerpt), PWS_EXCERPT_MAX - 1);
    CU_ASSERT_EQUAL(out[1].type, PWS_EV_PARSE_ERROR);

    /* Blobs still queued at free time are freed by pws__queue_free. */
    pws_event again = mk_other("{\"ev\":\"XT\"}", 11);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &again, 1), 1);
    CU_ASSERT_EQUAL(pws__queue_push_batch(&q, &again, 1), 1);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 1, 0), 1); /* one released, one queued */
    pws__queue_free(&q);
}

/* Checks popped events continue both sequences: data ordinals (trade q or
 * the number in an OTHER's json) and control ordinals (conn attempt). */
static void check_fifo(const pws_event *out, size_t m, int64_t *next_data, uint32_t *next_ctl)
{
    for (size_t i = 0; i < m; i++) {
        if (out[i].type == PWS_EV_CONNECTION) {
            CU_ASSERT_EQUAL(out[i].u.conn.attempt, *next_ctl);
            (*next_ctl)++;
        } else if (out[i].type == PWS_EV_OTHER) {
            long long v = other_ordinal(&out[i]);
            CU_ASSERT_EQUAL(v, *next_data);
            CU_ASSERT_EQUAL(v % 5, 0);
            (*next_data)++;
        } else {
            CU_ASSERT_EQUAL(out[i].type, PWS_EV_TRADE);
            CU_ASSERT_EQUAL(out[i].u.trade.q, *next_data);
            (*next_data)++;
        }
    }
}

static void test_fifo_wraparound(void)
{
    pws__queue q;
    pws_event evs[64], out[64];
    int64_t next_push = 0, next_pop = 0;
    uint32_t ctl_push = 0, ctl_pop = 0;
    char json[48];
    unsigned rng = 12345;

    /* nslots = 7 + 1024: 60000 events wrap the ring ~58 times. */
    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 7, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    while (next_pop < 60000) {
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % 9;
        for (size_t i = 0; i < n; i++) {
            evs[i] = mk_trade(next_push + (int64_t)i);
            if ((next_push + (int64_t)i) % 5 == 0) {
                /* every fifth as OTHER, its ordinal in the text */
                int len = snprintf(json, sizeof(json), "{\"n\":%lld}", (long long)(next_push + (int64_t)i));
                pws_event o = mk_other(json, (size_t)len);
                o.u.other.json = strdup(json);
                evs[i] = o;
            }
        }
        size_t k = pws__queue_push_batch(&q, evs, n);
        for (size_t i = 0; i < n; i++)
            if (evs[i].type == PWS_EV_OTHER)
                free((char *)evs[i].u.other.json);
        next_push += (int64_t)k;
        /* control events interleaved, sometimes pushing len past capacity */
        if (rng % 3 == 0) {
            pws_event c = mk_control(ctl_push++);
            CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_OK);
        }
        size_t m = pws__queue_pop(&q, out, 1 + (rng >> 8) % 10, 0);
        check_fifo(out, m, &next_pop, &ctl_pop);
    }
    /* drain the rest */
    size_t m;
    while ((m = pws__queue_pop(&q, out, 64, 0)) > 0)
        check_fifo(out, m, &next_pop, &ctl_pop);
    CU_ASSERT_EQUAL(next_pop, next_push);
    CU_ASSERT_EQUAL(ctl_pop, ctl_push);
    pws__queue_free(&q);
}

static void test_close_semantics(void)
{
    pws__queue q;
    pws_event out[8];

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    CU_ASSERT_EQUAL(push_trades(&q, 0, 2), 2);
    pws__queue_close(&q);
    CU_ASSERT_EQUAL(push_trades(&q, 2, 1), 0);
    pws_event c = mk_control(1);
    CU_ASSERT_EQUAL(pws__queue_push_control(&q, &c), PWS_ERR_STATE);
    /* Queued events are still delivered, then 0 at once even with -1. */
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 1, -1), 1);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 8, -1), 1);
    CU_ASSERT_EQUAL(out[0].u.trade.q, 1);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 8, -1), 0);
    pws__queue_free(&q);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_pop_timeout(void)
{
    pws__queue q;
    pws_event out[2];

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 2, 0), 0);
    int64_t t0 = mono_ms();
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 2, 60), 0);
    int64_t dt = mono_ms() - t0;
    CU_ASSERT(dt >= 59);
    CU_ASSERT(dt < 2000);
    CU_ASSERT_FALSE(q.consumer_waiting);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 0, -1), 0); /* max 0 never waits */
    pws__queue_free(&q);
}

/* ---------------------------------------------------------- threaded */

static void *closer_thread(void *arg)
{
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    pws__queue_close(arg);
    return NULL;
}

static void test_close_wakes_consumer(void)
{
    pws__queue q;
    pthread_t th;
    pws_event out[2];

    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&q, 4, PWS_OVERFLOW_BLOCK, NULL, NULL), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, closer_thread, &q), 0);
    CU_ASSERT_EQUAL(pws__queue_pop(&q, out, 2, -1), 0); /* would hang if not woken */
    pthread_join(th, NULL);
    pws__queue_free(&q);
}

/* Shared state of the producer/consumer run; the producer pauses like the
 * network thread under the block policy and on_space resumes it. */
typedef struct stress {
    pws__queue q;             /* queue under test (capacity 1024) */
    int64_t total;            /* data events to push */
    pthread_mutex_t mu;       /* guards resume and refusals/wakes */
    pthread_cond_t cv;        /* signalled by on_space */
    bool resume;              /* set by on_space, consumed by the producer */
    uint64_t refusals;        /* pushes that returned short (producer) */
    uint64_t spaces;          /* on_space calls (consumer) */
    uint64_t consumer_errors; /* order violations seen by the consumer */
    int64_t received;         /* data events received */
    uint32_t controls_pushed; /* control events pushed */
    uint32_t controls_seen;   /* control events received */
} stress;

static void stress_on_space(void *user)
{
    stress *s = user;
    pthread_mutex_lock(&s->mu);
    s->spaces++;
    s->resume = true;
    pthread_mutex_unlock(&s->mu);
    pthread_cond_signal(&s->cv);
}

static void *stress_producer(void *arg)
{
    stress *s = arg;
    pws_event evs[256];
    char json[48];
    int64_t next = 0;
    unsigned rng = 987654321u;

    while (next < s->total) {
        rng = rng * 1664525u + 1013904223u;
        size_t n = 1 + (rng >> 8) % 256;
        if ((int64_t)n > s->total - next)
            n = (size_t)(s->total - next);
        for (size_t i = 0; i < n; i++) {
            int64_t seq = next + (int64_t)i;
            if (seq % 1000 == 0) {
                /* the json lives in this stack buffer, reused at once */
                int len = snprintf(json, sizeof(json), "{\"n\":%lld}", (long long)seq);
                evs[i] = mk_other(json, (size_t)len);
                /* one buffer per batch is enough: copy now */
                evs[i].u.other.json = strdup(json);
            } else {
                evs[i] = mk_trade(seq);
            }
        }
        size_t off = 0;
        while (off < n) {
            size_t k = pws__queue_push_batch(&s->q, evs + off, n - off);
            off += k;
            if (off < n) {
                /* Paused: wait for on_space, exactly one per refusal. */
                pthread_mutex_lock(&s->mu);
                s->refusals++;
                while (!s->resume)
                    pthread_cond_wait(&s->cv, &s->mu);
                s->resume = false;
                pthread_mutex_unlock(&s->mu);
            }
        }
        for (size_t i = 0; i < n; i++)
            if (evs[i].type == PWS_EV_OTHER)
                free((char *)evs[i].u.other.json);
        next += (int64_t)n;
        if (rng % 64 == 0) {
            pws_event c = mk_control(s->controls_pushed);
            if (pws__queue_push_control(&s->q, &c) == PWS_OK)
                s->controls_pushed++;
        }
    }
    pws__queue_close(&s->q);
    return NULL;
}

static void *stress_consumer(void *arg)
{
    stress *s = arg;
    pws_event out[256];
    size_t m;
    unsigned rng = 42;
    unsigned pops = 0;

    while ((m = pws__queue_pop(&s->q, out, 1 + (rng >> 4) % 128, -1)) > 0) {
        rng = rng * 1103515245u + 12345u;
        /* A consumer that stalls now and then, like a slow callback, so the
         * producer really fills the queue and pauses many times. */
        if (++pops % 64 == 0) {
            struct timespec ts = {0, 100 * 1000L};
            nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < m; i++) {
            const pws_event *ev = &out[i];
            if (ev->type == PWS_EV_CONNECTION) {
                if (ev->u.conn.attempt != s->controls_seen)
                    s->consumer_errors++;
                s->controls_seen++;
            } else if (ev->type == PWS_EV_OTHER) {
                if (other_ordinal(ev) != s->received)
                    s->consumer_errors++;
                s->received++;
            } else {
                if (ev->type != PWS_EV_TRADE || ev->u.trade.q != s->received)
                    s->consumer_errors++;
                s->received++;
            }
        }
    }
    return NULL;
}

static void test_threaded_block_no_loss(void)
{
    stress *s = calloc(1, sizeof(*s));
    pthread_t prod, cons;
    const char *env = getenv("POLYWS_TEST_QUEUE_EVENTS");
    uint64_t dropped = 1;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->total = env != NULL ? atoll(env) : 3000000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    CU_ASSERT_EQUAL_FATAL(pws__queue_init(&s->q, 1024, PWS_OVERFLOW_BLOCK, stress_on_space, s),
                          PWS_OK);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&cons, NULL, stress_consumer, s), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&prod, NULL, stress_producer, s), 0);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);

    CU_ASSERT_EQUAL(s->consumer_errors, 0);
    CU_ASSERT_EQUAL(s->received, s->total);
    CU_ASSERT_EQUAL(s->controls_seen, s->controls_pushed);
    CU_ASSERT(s->refusals > 0); /* the block path was exercised */
    CU_ASSERT_EQUAL(s->spaces, s->refusals);
    pws__queue_stats(&s->q, NULL, NULL, &dropped);
    CU_ASSERT_EQUAL(dropped, 0);
    fprintf(stderr, "\n    [%lld events, %u control, %llu pauses] ", (long long)s->received,
            s->controls_seen, (unsigned long long)s->refusals);

    pws__queue_free(&s->q);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("queue", NULL, NULL);
    if (suite == NULL ||
        !CU_add_test(suite, "init limits", test_init_limits) ||
        !CU_add_test(suite, "block policy and on_space", test_block_policy) ||
        !CU_add_test(suite, "drop_oldest policy", test_drop_oldest_policy) ||
        !CU_add_test(suite, "drop_oldest frees blobs", test_drop_oldest_frees_blobs) ||
        !CU_add_test(suite, "disconnect policy", test_disconnect_policy) ||
        !CU_add_test(suite, "control reserve", test_control_reserve) ||
        !CU_add_test(suite, "control events in a batch", test_control_in_batch) ||
        !CU_add_test(suite, "other json copied", test_other_json_copied) ||
        !CU_add_test(suite, "fifo across wraparound", test_fifo_wraparound) ||
        !CU_add_test(suite, "close semantics", test_close_semantics) ||
        !CU_add_test(suite, "pop timeout", test_pop_timeout) ||
        !CU_add_test(suite, "close wakes consumer", test_close_wakes_consumer) ||
        !CU_add_test(suite, "two threads, block, no loss", test_threaded_block_no_loss)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
