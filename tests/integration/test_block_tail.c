/*
 * test_block_tail.c - the block policy keeps what a connection received
 * before it ended, however it ended.
 *
 * Under the block policy a full delivery queue stops the reads: the bytes the
 * server wrote wait in the client's socket buffer (and, framed or not, in the
 * connector).  Found by the chaos soak (tests/soak): the heartbeat ping the
 * connector sent while its reads were held made a server that had just
 * dropped the connection answer with a TCP reset, which discarded what the
 * server still had to send and what waited on the client's side.
 *
 * Each test streams numbered trades to a connector whose consumer is slower
 * than the stream and whose queue is tiny, ends the connection while the
 * reads are held, and requires every trade once, in order, before the
 * connection's DISCONNECTED event.
 */
#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY "tail-key-0123456789"
#define DROP_TRADES 20000   /* trades the mock streams before its drop (~3 MB: more than socket buffers) */

/* What the application saw: trades of symbol TAIL in order, and where the first
 * DISCONNECTED came. */
typedef struct seen {
    pthread_mutex_t mu;       /* guards everything below */
    int64_t last_q;           /* q of the last TAIL trade, 0 before the first */
    uint64_t trades;          /* TAIL trades delivered */
    uint64_t out_of_order;    /* TAIL trades whose q is not above last_q */
    uint64_t trades_at_disconnect; /* trades delivered before the first DISCONNECTED */
    bool disconnected;        /* the first DISCONNECTED came */
    int disconnect_err;       /* its error */
    int slow_us;              /* consumer delay per event */
} seen;

static void on_event(const pws_event *ev, void *user)
{
    seen *s = user;
    pthread_mutex_lock(&s->mu);
    if (ev->type == PWS_EV_TRADE && !strcmp(ev->u.trade.sym, "TAIL")) {
        s->out_of_order += ev->u.trade.q <= s->last_q;
        s->last_q = ev->u.trade.q;
        s->trades++;
    } else if (ev->type == PWS_EV_CONNECTION && ev->u.conn.state == PWS_CONN_DISCONNECTED &&
               !s->disconnected) {
        s->disconnected = true;
        s->disconnect_err = ev->u.conn.err;
        s->trades_at_disconnect = s->trades;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->slow_us)
        usleep((useconds_t)s->slow_us);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the first DISCONNECTED was delivered or timeout_ms passed. */
static bool wait_disconnected(seen *s, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool d = s->disconnected;
        pthread_mutex_unlock(&s->mu);
        if (d || mono_ms() > end)
            return d;
        usleep(5000);
    }
}

/* A connector with a 16-event queue, the block policy and a slow consumer. */
static pws_connector *slow_connector(const char *url, seen *s, uint32_t ping_ms)
{
    pws_options o = {0};
    o.url = url;
    o.api_key = KEY;
    o.on_event = on_event;
    o.user = s;
    o.overflow = PWS_OVERFLOW_BLOCK;
    o.queue_capacity = 16;
    o.ping_interval_ms = ping_ms;
    o.pong_timeout_ms = 60000; /* the heartbeat must not end the connection itself */
    o.backoff.base_ms = 5000;  /* no second connection during the test */
    o.log_level = PWS_LOG_ERROR;
    pws_connector *c = NULL;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &c, NULL, 0), PWS_OK);
    pws_subscribe(c, "T.TAIL");
    CU_ASSERT_EQUAL_FATAL(pws_start(c), PWS_OK);
    return c;
}

/* ------------------------------------------------ the mock drops the connection */

/* The mock streams DROP_TRADES trades as fast as the socket takes them, then drops the
 * connection (FIN, no close frame).  The connector pings every 20 ms; a ping sent while its
 * reads are held would reach a socket the server closed and make it answer with a reset,
 * which throws away what the server had not sent yet.  Every trade must arrive. */
static void test_drop_while_reads_held(void)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "description: a stream larger than the socket buffers, then a drop\n"
             "connections:\n  1:\n    - handshake\n"
             "    - stream: {types: [T], symbols: [TAIL], count: %d, rate: max, batch: 2}\n    - drop\n",
             DROP_TRADES);
    char err[256];
    pwss_scenario *sc = pwss_load_mem(yaml, strlen(yaml), "drop.yaml", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    pwsm_options mo = {0};
    mo.scenario = sc;
    mo.keys[0] = KEY;
    pwsm_server *srv = pwsm_start(&mo, err, sizeof err);
    pwss_free(sc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsm_url(srv));

    seen s = {.slow_us = 50};
    pthread_mutex_init(&s.mu, NULL);
    pws_connector *c = slow_connector(url, &s, 20);
    CU_ASSERT_TRUE(wait_disconnected(&s, 60000));
    pws_stop(c);
    pws_wait(c);
    /* the generator's q grows by 1..2000 per trade: count and order by the journal instead */
    size_t n = pwsm_journal_count(srv);
    uint64_t written = 0;
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = pwsm_journal_get(srv, i);
        if (e->dir == 's' && !strcmp(e->kind, "text"))
            for (const char *p = e->data; (p = strstr(p, "\"sym\":\"TAIL\"")); p++)
                written++;
    }
    if (s.trades != written)
        fprintf(stderr, "drop: %llu of %llu trades delivered\n", (unsigned long long)s.trades,
                (unsigned long long)written);
    CU_ASSERT_EQUAL(written, DROP_TRADES);
    CU_ASSERT_EQUAL(s.trades, DROP_TRADES);
    CU_ASSERT_EQUAL(s.trades_at_disconnect, DROP_TRADES);
    CU_ASSERT_EQUAL(s.out_of_order, 0);
    CU_ASSERT_EQUAL(s.disconnect_err, PWS_ERR_CLOSED);
    pws_destroy(c);
    pwsm_stop(srv);
    pthread_mutex_destroy(&s.mu);
}

int main(void)
{
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("block_tail", NULL, NULL);
    CU_add_test(s, "a drop while reads are held: no ping provokes a reset", test_drop_while_reads_held);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
