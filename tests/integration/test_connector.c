/*
 * test_connector.c - libpolyws against the real mock server over loopback.
 *
 * Each test starts a pwsmock server on 127.0.0.1 with an ephemeral port,
 * runs a real connector against it, and judges both sides: the events the
 * application received and the frames the server journaled.
 */
#include <polyws/mock.h>
#include <polyws/scenario.h>
#include <polyws/polyws.h>

#include <CUnit/Basic.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY "test-key-SECRET-9876"
#define MAX_EVENTS 200000

/* ---------------------------------------------------------------- harness */

typedef struct rec_event {
    pws_event ev;  /* copy (OTHER json not kept) */
} rec_event;

typedef struct harness {
    pthread_mutex_t mu;
    rec_event *evs;          /* received events */
    size_t n;                /* count */
    uint64_t market;         /* agg+trade+quote */
    int slow_us;             /* consumer delay per event */
    uint64_t other_ok;       /* OTHER events whose JSON checked out (xt_json_ok) */
    uint64_t other_bad;      /* ... and those whose JSON did not */
    char logs[16384];        /* captured log text */
    pws_connector *c;
    pwsm_server *s;
    char url[128];           /* the mock's URL with the stocks path (the mock refuses other paths) */
} harness;

/* An XT event as the backpressure scenario sends it: {"ev":"XT","i":N,"pad":"xx...x"}. */
static bool xt_json_ok(const char *j, size_t n)
{
    static const char head[] = "{\"ev\":\"XT\",\"i\":";
    if (!j || n < sizeof head + 10 || memcmp(j, head, sizeof head - 1) || memcmp(j + n - 2, "\"}", 2))
        return false;
    const char *pad = memmem(j, n, "\"pad\":\"", 7);
    if (!pad)
        return false;
    for (const char *p = pad + 7; p < j + n - 2; p++)
        if (*p != 'x')
            return false;
    return true;
}

static void h_on_event(const pws_event *ev, void *user)
{
    harness *h = user;
    if (ev->type == PWS_EV_OTHER) {
        bool ok = xt_json_ok(ev->u.other.json, ev->u.other.json_len);
        pthread_mutex_lock(&h->mu);
        h->other_ok += ok;
        h->other_bad += !ok;
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_lock(&h->mu);
    if (h->n < MAX_EVENTS) {
        h->evs[h->n].ev = *ev;
        if (ev->type == PWS_EV_OTHER)
            h->evs[h->n].ev.u.other.json = NULL;
        h->n++;
    }
    if (ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE)
        h->market++;
    pthread_mutex_unlock(&h->mu);
    if (h->slow_us)
        usleep((useconds_t)h->slow_us);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void h_log(pws_log_level level, const char *msg, void *user)
{
    harness *h = user;
    pthread_mutex_lock(&h->mu);
    if (getenv("PWS_TEST_LOGTIME")) {
        char ts[32];
        snprintf(ts, sizeof ts, "[%lld] ", (long long)(mono_ms() % 100000));
        strncat(h->logs, ts, sizeof h->logs - strlen(h->logs) - 2);
    }
    strncat(h->logs, msg, sizeof h->logs - strlen(h->logs) - 2);
    strcat(h->logs, "\n");
    pthread_mutex_unlock(&h->mu);
}

static void h_init(harness *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->evs = calloc(MAX_EVENTS, sizeof *h->evs);
}

static void h_free(harness *h)
{
    if (h->c)
        pws_destroy(h->c);
    if (h->s)
        pwsm_stop(h->s);
    free(h->evs);
    pthread_mutex_destroy(&h->mu);
}

/* Starts a mock with the given options (keys default to KEY). */
static pwsm_server *h_mock(harness *h, pwsm_options *mo)
{
    char err[256];
    if (!mo->keys[0])
        mo->keys[0] = KEY;
    h->s = pwsm_start(mo, err, sizeof err);
    if (!h->s)
        fprintf(stderr, "mock: %s\n", err);
    return h->s;
}

/* Options for a fast test connector aimed at url. */
static void h_opts_url(harness *h, pws_options *o, const char *url)
{
    memset(o, 0, sizeof *o);
    o->url = url;
    o->api_key = KEY;
    o->on_event = h_on_event;
    o->user = h;
    o->log_fn = h_log;
    o->log_user = h;
    o->log_level = PWS_LOG_DEBUG;
    o->backoff.base_ms = 50;
    o->backoff.cap_ms = 400;
    o->backoff.jitter = -1;
    o->actions_per_sec = 1000;
    o->action_burst = 100;
}

/* ... aimed at the harness' mock, on its stocks market. */
static void h_opts(harness *h, pws_options *o)
{
    snprintf(h->url, sizeof h->url, "%s/stocks", pwsm_url(h->s));
    h_opts_url(h, o, h->url);
}

/* A listening TCP socket on 127.0.0.1 with an ephemeral port, and its ws:// URL. */
static int listen_loopback(const char *path, char *url, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(listen(fd, 8) == 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    snprintf(url, cap, "ws://127.0.0.1:%d%s", ntohs(sa.sin_port), path);
    return fd;
}


/* Counts events matching a filter. */
typedef bool (*ev_pred)(const pws_event *ev, const void *arg);

static size_t h_count(harness *h, ev_pred p, const void *arg)
{
    size_t k = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        if (p(&h->evs[i].ev, arg))
            k++;
    pthread_mutex_unlock(&h->mu);
    return k;
}

static bool h_wait(harness *h, ev_pred p, const void *arg, size_t atleast, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    while (mono_ms() < end) {
        if (h_count(h, p, arg) >= atleast)
            return true;
        usleep(5000);
    }
    return h_count(h, p, arg) >= atleast;
}

static bool is_market(const pws_event *ev, const void *arg)
{
    (void)arg;
    return ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE;
}

static bool is_state(const pws_event *ev, const void *arg)
{
    return ev->type == PWS_EV_CONNECTION && ev->u.conn.state == *(const pws_conn_state *)arg;
}

static bool is_market_conn2(const pws_event *ev, const void *arg)
{
    (void)arg;
    return is_market(ev, NULL) && ev->conn >= 2;
}

static bool is_parse_error(const pws_event *ev, const void *arg)
{
    (void)arg;
    return ev->type == PWS_EV_PARSE_ERROR;
}

static const pws_event *h_find_state(harness *h, pws_conn_state st, size_t nth)
{
    const pws_event *found = NULL;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        if (is_state(&h->evs[i].ev, &st) && nth-- == 0) {
            found = &h->evs[i].ev;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    return found;
}

/* Journal helpers. */
static size_t journal_client_texts(pwsm_server *s, uint32_t conn, const char *needle,
                                   int64_t *first_t_us)
{
    const pwsm_entry *e;
    size_t n = pwsm_journal(s, &e), k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].dir == 'c' && !strcmp(e[i].kind, "text") && (conn == 0 || e[i].conn == conn) &&
            strstr(e[i].data, needle)) {
            if (k == 0 && first_t_us)
                *first_t_us = e[i].t_us;
            k++;
        }
    return k;
}

static int64_t journal_first(pwsm_server *s, uint32_t conn, char dir, const char *needle)
{
    const pwsm_entry *e;
    size_t n = pwsm_journal(s, &e);
    for (size_t i = 0; i < n; i++)
        if (e[i].dir == dir && e[i].conn == conn && strstr(e[i].data, needle))
            return e[i].t_us;
    return -1;
}

/* ------------------------------------------------------------------ tests */

static void test_handshake_and_stream(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 2000;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    CU_ASSERT_EQUAL(pws_subscribe(h.c, "A.AAPL,T.MSFT,Q.MSFT"), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, 200, 5000));
    /* a later unsubscribe reaches the server */
    CU_ASSERT_EQUAL(pws_unsubscribe(h.c, "Q.MSFT"), PWS_OK);
    usleep(200000);
    pws_stop(h.c);
    CU_ASSERT_EQUAL(pws_wait(h.c), PWS_OK);

    /* server side: auth before any subscription, which came after auth_success */
    int64_t t_auth = journal_first(h.s, 1, 'c', "\"auth\"");
    int64_t t_ok = journal_first(h.s, 1, 's', "auth_success");
    int64_t t_sub = journal_first(h.s, 1, 'c', "\"subscribe\"");
    CU_ASSERT(t_auth >= 0 && t_ok > t_auth && t_sub > t_ok);
    CU_ASSERT_EQUAL(journal_client_texts(h.s, 1, "A.AAPL,T.MSFT,Q.MSFT", NULL), 1); /* one batched action */
    CU_ASSERT_EQUAL(journal_client_texts(h.s, 1, "unsubscribe", NULL), 1);
    /* the journal never holds the key (redacted), and neither do our logs */
    const pwsm_entry *e;
    size_t n = pwsm_journal(h.s, &e);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_PTR_NULL(strstr(e[i].data, KEY));
    CU_ASSERT_PTR_NULL(strstr(h.logs, KEY));
    CU_ASSERT_PTR_NOT_NULL(strstr(h.logs, "\"params\":\"***\"")); /* debug log shows the redacted auth */

    /* client side: lifecycle order, only subscribed symbols, typed fields */
    pthread_mutex_lock(&h.mu);
    CU_ASSERT(h.n > 3);
    CU_ASSERT_EQUAL(h.evs[0].ev.type, PWS_EV_CONNECTION);
    CU_ASSERT_EQUAL(h.evs[0].ev.u.conn.state, PWS_CONN_CONNECTING);
    CU_ASSERT_EQUAL(h.evs[1].ev.u.conn.state, PWS_CONN_OPEN);
    size_t bad = 0, aggs = 0, trades = 0;
    for (size_t i = 0; i < h.n; i++) {
        const pws_event *ev = &h.evs[i].ev;
        const char *sym = pws_event_symbol(ev);
        if (ev->type == PWS_EV_AGG) {
            aggs++;
            bad += strcmp(sym, "AAPL") != 0 || ev->u.agg.minute || !(ev->u.agg.present & PWS_AGG_C) ||
                   ev->u.agg.h < ev->u.agg.l || ev->u.agg.e <= ev->u.agg.s;
        } else if (ev->type == PWS_EV_TRADE) {
            trades++;
            bad += strcmp(sym, "MSFT") != 0 || !(ev->u.trade.present & PWS_TRADE_P) ||
                   ev->u.trade.p <= 0 || ev->conn != 1;
        } else if (ev->type == PWS_EV_QUOTE) {
            bad += strcmp(sym, "MSFT") != 0;
        }
    }
    pthread_mutex_unlock(&h.mu);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(aggs > 0);
    CU_ASSERT(trades > 0);
    pws_stats st;
    pws_get_stats(h.c, &st);
    CU_ASSERT_EQUAL(st.connects, 1);
    CU_ASSERT_EQUAL(st.parse_errors, 0);
    CU_ASSERT(st.frames > 0 && st.bytes > st.frames);
    CU_ASSERT_EQUAL(st.delivered, h.n);
    h_free(&h);
}

static void test_auth_failed_is_fatal(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.keys[0] = "the-right-key";
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o); /* sends KEY, which is wrong */
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    int64_t t0 = mono_ms();
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_AUTH);
    CU_ASSERT(mono_ms() - t0 < 5000);
    CU_ASSERT_EQUAL(pwsm_connections(h.s), 1); /* never retried */
    const pws_event *fatal = h_find_state(&h, PWS_CONN_FATAL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fatal);
    CU_ASSERT_EQUAL(fatal->u.conn.err, PWS_ERR_AUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(fatal->u.conn.reason, "authentication failed"));
    CU_ASSERT_EQUAL(journal_client_texts(h.s, 0, "\"subscribe\"", NULL), 0); /* never before auth_success */
    CU_ASSERT_PTR_NULL(strstr(h.logs, KEY));
    CU_ASSERT_PTR_NULL(strstr(pws_last_error(h.c), KEY));
    h_free(&h);
}

static void test_resubscribe_after_drop(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 2000;
    mo.nscripts = 1;
    mo.scripts[0].fault = PWSM_FAULT_DROP;
    mo.scripts[0].after_events = 50;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL,T.MSFT");
    pws_subscribe(h.c, "Q.NVDA");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market_conn2, NULL, 20, 8000));
    pws_stop(h.c);
    pws_wait(h.c);
    CU_ASSERT(pwsm_connections(h.s) >= 2);
    /* connection 2 re-subscribed every channel */
    const pwsm_entry *e;
    size_t n = pwsm_journal(h.s, &e);
    char subs2[1024] = "";
    for (size_t i = 0; i < n; i++)
        if (e[i].conn == 2 && e[i].dir == 'c' && strstr(e[i].data, "\"subscribe\""))
            strncat(subs2, e[i].data, sizeof subs2 - strlen(subs2) - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(subs2, "A.AAPL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(subs2, "T.MSFT"));
    CU_ASSERT_PTR_NOT_NULL(strstr(subs2, "Q.NVDA"));
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_CLOSED);
    const pws_event *wait = h_find_state(&h, PWS_CONN_RECONNECT_WAIT, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wait);
    CU_ASSERT_EQUAL(wait->u.conn.delay_ms, 50); /* base delay, jitter off */
    h_free(&h);
}

static void test_heartbeat_timeout(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 1000;
    mo.nscripts = 1;
    mo.scripts[0].fault = PWSM_FAULT_STALL;
    mo.scripts[0].after_events = 20;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.ping_interval_ms = 100;
    o.pong_timeout_ms = 500;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "T.MSFT");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    int64_t t0 = mono_ms();
    CU_ASSERT_TRUE(h_wait(&h, is_market_conn2, NULL, 5, 8000));
    int64_t took = mono_ms() - t0;
    pws_stop(h.c);
    pws_wait(h.c);
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, "heartbeat"));
    CU_ASSERT(took >= 500); /* not before the timeout */
    /* pings were sent on the stalled connection */
    const pwsm_entry *e;
    size_t n = pwsm_journal(h.s, &e), pings = 0;
    for (size_t i = 0; i < n; i++)
        pings += e[i].conn == 1 && e[i].dir == 'c' && !strcmp(e[i].kind, "ping");
    CU_ASSERT(pings >= 1);
    h_free(&h);
}

static void run_backpressure_on(pws_overflow policy, harness *h, uint64_t total, bool tls)
{
    pwsm_options mo = {0};
    mo.tls = tls;
    mo.events_per_sec = -1; /* as fast as we read */
    mo.batch_max = 50;
    mo.stream_limit = total;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(h, &mo));
    pws_options o;
    h_opts(h, &o);
    o.log_level = PWS_LOG_WARN;
    o.queue_capacity = 256;
    o.overflow = policy;
    o.pong_timeout_ms = 60000;
    if (tls)
        o.ca_file = pwsm_ca_file(h->s);
    h->slow_us = 20; /* a consumer slower than loopback */
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h->c, NULL, 0), PWS_OK);
    pws_subscribe(h->c, "T.MSFT,Q.MSFT");
    CU_ASSERT_EQUAL_FATAL(pws_start(h->c), PWS_OK);
}

static void run_backpressure(pws_overflow policy, harness *h, uint64_t total)
{
    run_backpressure_on(policy, h, total, false);
}

/* Block policy: reads pause mid-stream (bytes already read wait, framed or
 * not; with TLS, plaintext waits inside the TLS session) and resume. */
static void check_block_loses_nothing(bool tls)
{
    harness h;
    h_init(&h);
    const uint64_t total = 20000;
    run_backpressure_on(PWS_OVERFLOW_BLOCK, &h, total, tls);
    bool paused_seen = false;
    int64_t end = mono_ms() + 30000;
    while (mono_ms() < end) {
        pws_stats st;
        pws_get_stats(h.c, &st);
        paused_seen |= st.rx_paused;
        if (h_count(&h, is_market, NULL) >= total)
            break;
        usleep(1000);
    }
    pws_stop(h.c);
    pws_wait(h.c);
    pws_stats st;
    pws_get_stats(h.c, &st);
    CU_ASSERT_EQUAL(h_count(&h, is_market, NULL), total); /* nothing lost */
    CU_ASSERT_EQUAL(st.dropped, 0);
    CU_ASSERT_TRUE(paused_seen); /* reading was paused at least once */
    CU_ASSERT(st.queue_high_water <= 256 + 1024); /* capacity (+ control reserve) */
    CU_ASSERT_EQUAL(st.connects, 1); /* no reconnect needed */
    /* trade sequence numbers per symbol arrive in server order */
    pthread_mutex_lock(&h.mu);
    int64_t last_q = -1;
    size_t out_of_order = 0;
    for (size_t i = 0; i < h.n; i++)
        if (h.evs[i].ev.type == PWS_EV_TRADE) {
            out_of_order += h.evs[i].ev.u.trade.q <= last_q;
            last_q = h.evs[i].ev.u.trade.q;
        }
    pthread_mutex_unlock(&h.mu);
    CU_ASSERT_EQUAL(out_of_order, 0);
    h_free(&h);
}

static void test_backpressure_block(void)
{
    check_block_loses_nothing(false);
}

static void test_backpressure_block_tls(void)
{
    check_block_loses_nothing(true);
}

static void test_backpressure_drop_oldest(void)
{
    harness h;
    h_init(&h);
    const uint64_t total = 20000;
    run_backpressure(PWS_OVERFLOW_DROP_OLDEST, &h, total);
    int64_t end = mono_ms() + 30000;
    pws_stats st;
    for (;;) {
        pws_get_stats(h.c, &st);
        uint64_t got = h_count(&h, is_market, NULL);
        if (got + st.dropped >= total || mono_ms() > end)
            break;
        usleep(2000);
    }
    usleep(100000);
    pws_stop(h.c);
    pws_wait(h.c);
    pws_get_stats(h.c, &st);
    uint64_t got = h_count(&h, is_market, NULL);
    CU_ASSERT(st.dropped > 0);
    CU_ASSERT_EQUAL(got + st.dropped, total); /* every event delivered or counted as dropped */
    CU_ASSERT_EQUAL(st.connects, 1);
    h_free(&h);
}

static void test_backpressure_disconnect(void)
{
    harness h;
    h_init(&h);
    run_backpressure(PWS_OVERFLOW_DISCONNECT, &h, 20000);
    pws_conn_state st_disc = PWS_CONN_DISCONNECTED;
    CU_ASSERT_TRUE(h_wait(&h, is_state, &st_disc, 1, 15000));
    pws_stop(h.c);
    pws_wait(h.c);
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_OVERFLOW);
    h_free(&h);
}

/* Runs a connector against a mock with mo until data flows on connection 2;
 * returns the first DISCONNECTED event (NULL if none). */
static const pws_event *run_to_second_connection(harness *h, pwsm_options *mo)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(h, mo));
    pws_options o;
    h_opts(h, &o);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h->c, NULL, 0), PWS_OK);
    pws_subscribe(h->c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h->c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(h, is_market_conn2, NULL, 3, 8000));
    pws_stop(h->c);
    pws_wait(h->c);
    return h_find_state(h, PWS_CONN_DISCONNECTED, 0);
}

static void test_close_code_reconnects(void)
{
    static const int codes[] = {1000, 1001, 1008, 1011};
    for (size_t k = 0; k < 4; k++) {
        harness h;
        h_init(&h);
        pwsm_options mo = {0};
        mo.events_per_sec = 2000;
        mo.nscripts = 1;
        mo.scripts[0].fault = PWSM_FAULT_CLOSE;
        mo.scripts[0].after_events = 10;
        mo.scripts[0].close_code = codes[k];
        mo.scripts[0].close_reason = "test close";
        const pws_event *disc = run_to_second_connection(&h, &mo);
        CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
        CU_ASSERT_EQUAL(disc->u.conn.close_code, codes[k]);
        CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, "test close"));
        h_free(&h);
    }
}

static void test_status_disconnects(void)
{
    static const char *statuses[] = {"force_disconnect", "slow_consumer"};
    for (size_t k = 0; k < 2; k++) {
        harness h;
        h_init(&h);
        pwsm_options mo = {0};
        mo.events_per_sec = 2000;
        mo.nscripts = 1;
        mo.scripts[0].fault = PWSM_FAULT_STATUS_CLOSE;
        mo.scripts[0].after_events = 10;
        mo.scripts[0].status = statuses[k];
        const pws_event *disc = run_to_second_connection(&h, &mo);
        CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
        CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_SERVER);
        CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, statuses[k]));
        h_free(&h);
    }
}

static void test_max_connections(void)
{
    harness h1, h2;
    h_init(&h1);
    h_init(&h2);
    pwsm_options mo = {0};
    mo.events_per_sec = 200;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h1, &mo));
    pws_options o;
    h_opts(&h1, &o);
    o.backoff.max_connections_delay_ms = 1500;
    o.backoff.max_attempts = 1;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h1.c, NULL, 0), PWS_OK);
    pws_subscribe(h1.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h1.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h1, is_market, NULL, 1, 5000));
    /* a second process with the same key */
    h2.s = NULL;
    h_opts(&h1, &o);
    o.on_event = h_on_event;
    o.user = &h2;
    o.log_fn = h_log;
    o.log_user = &h2;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h2.c, NULL, 0), PWS_OK);
    pws_subscribe(h2.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h2.c), PWS_OK);
    pws_conn_state wait_st = PWS_CONN_RECONNECT_WAIT;
    CU_ASSERT_TRUE(h_wait(&h1, is_state, &wait_st, 1, 5000));
    const pws_event *w = h_find_state(&h1, PWS_CONN_RECONNECT_WAIT, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT(w->u.conn.delay_ms >= 1500); /* the long minimum delay */
    CU_ASSERT_PTR_NOT_NULL(strstr(w->u.conn.reason, "max_connections"));
    pthread_mutex_lock(&h1.mu);
    CU_ASSERT_PTR_NOT_NULL(strstr(h1.logs, "another connection is using the same API key"));
    pthread_mutex_unlock(&h1.mu);
    pws_stop(h1.c);
    pws_stop(h2.c);
    pws_wait(h1.c);
    pws_wait(h2.c);
    pws_destroy(h2.c);
    h2.c = NULL;
    h_free(&h2);
    h_free(&h1);
}

static void test_flapping_server_backoff_grows(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 1000;
    mo.default_script.fault = PWSM_FAULT_DROP; /* every connection: accept, auth, drop at once */
    mo.default_script.after_events = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.backoff.base_ms = 40;
    o.backoff.cap_ms = 10000;
    o.backoff.max_attempts = 5;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    int64_t t0 = mono_ms();
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_ATTEMPTS);
    int64_t took = mono_ms() - t0;
    uint32_t expect[] = {40, 80, 160, 320, 640};
    for (size_t i = 0; i < 5; i++) {
        const pws_event *w = h_find_state(&h, PWS_CONN_RECONNECT_WAIT, i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w);
        CU_ASSERT_EQUAL(w->u.conn.delay_ms, expect[i]);
    }
    CU_ASSERT(took >= 40 + 80 + 160 + 320 + 640);
    CU_ASSERT_EQUAL(pwsm_connections(h.s), 6); /* first + 5 retries, no storm */
    const pws_event *fatal = h_find_state(&h, PWS_CONN_FATAL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fatal);
    CU_ASSERT_EQUAL(fatal->u.conn.err, PWS_ERR_ATTEMPTS);
    h_free(&h);
}

static void test_auth_timeout_client_side(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.nscripts = 1;
    mo.scripts[0].ignore_auth = true;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.auth_timeout_ms = 300;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market_conn2, NULL, 1, 8000));
    pws_stop(h.c);
    pws_wait(h.c);
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, "auth timeout"));
    CU_ASSERT_EQUAL(journal_client_texts(h.s, 1, "\"subscribe\"", NULL), 0);
    h_free(&h);
}

static void test_malformed_frames_stream_continues(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 1000;
    mo.nscripts = 1;
    mo.scripts[0].raw_frames[0] = "[{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.5,"; /* truncated */
    mo.scripts[0].raw_frames[1] = "{\"ev\":\"T\"}";                             /* not an array */
    mo.scripts[0].raw_frames[2] = "[{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":NaN}]"; /* NaN */
    mo.scripts[0].raw_frames[3] = "[{\"ev\":\"XT\",\"pair\":\"BTC-USD\",\"p\":1}]"; /* unknown type */
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.log_level = PWS_LOG_ERROR;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "T.MSFT");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, 50, 5000));
    pws_stop(h.c);
    pws_wait(h.c);
    CU_ASSERT_EQUAL(h_count(&h, is_parse_error, NULL), 3);
    pws_stats st;
    pws_get_stats(h.c, &st);
    CU_ASSERT_EQUAL(st.parse_errors, 3);
    CU_ASSERT_EQUAL(st.events[PWS_EV_OTHER], 1);
    CU_ASSERT_EQUAL(st.connects, 1); /* the stream went on */
    h_free(&h);
}

static void test_tls(void)
{
    /* verified against the mock's generated CA */
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.tls = true;
    mo.events_per_sec = 1000;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    CU_ASSERT_PTR_NOT_NULL_FATAL(pwsm_ca_file(h.s));
    CU_ASSERT_EQUAL(strncmp(pwsm_url(h.s), "wss://", 6), 0);
    pws_options o;
    h_opts(&h, &o);
    o.ca_file = pwsm_ca_file(h.s);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, 5, 8000));
    pws_stop(h.c);
    CU_ASSERT_EQUAL(pws_wait(h.c), PWS_OK);
    pws_destroy(h.c);
    h.c = NULL;

    /* no ca_file: the default verify paths, which $SSL_CERT_FILE replaces (here with the
     * mock's self-signed certificate, its own CA) */
    h.n = 0;
    h_opts(&h, &o);
    CU_ASSERT_EQUAL(setenv("SSL_CERT_FILE", pwsm_ca_file(h.s), 1), 0);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, 5, 8000));
    pws_stop(h.c);
    CU_ASSERT_EQUAL(pws_wait(h.c), PWS_OK);
    pws_destroy(h.c);
    h.c = NULL;
    unsetenv("SSL_CERT_FILE");

    /* without the CA the self-signed certificate is refused, once: retrying would meet the
     * same certificate (max_attempts 3 would allow three retries if it were retried) */
    h.n = 0;
    h_opts(&h, &o);
    o.backoff.max_attempts = 3;
    uint32_t tcp_before = pwsm_tcp_connections(h.s), ws_before = pwsm_connections(h.s);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_TLS);
    CU_ASSERT_EQUAL(h_count(&h, is_market, NULL), 0);
    const pws_event *refused = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(refused);
    CU_ASSERT_EQUAL(refused->u.conn.err, PWS_ERR_TLS);
    CU_ASSERT_PTR_NOT_NULL(strstr(refused->u.conn.reason, "certificate verify failed: self-signed certificate"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused->u.conn.reason, "CN=127.0.0.1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(refused->u.conn.reason, "not retrying"));
    const pws_event *fatal = h_find_state(&h, PWS_CONN_FATAL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fatal);
    CU_ASSERT_EQUAL(fatal->u.conn.err, PWS_ERR_TLS);
    CU_ASSERT_PTR_NULL(h_find_state(&h, PWS_CONN_RECONNECT_WAIT, 0));
    CU_ASSERT_PTR_NULL(h_find_state(&h, PWS_CONN_CONNECTING, 1));
    CU_ASSERT_PTR_NOT_NULL(strstr(pws_last_error(h.c), "self-signed certificate"));
    /* the server saw one TCP connection and no WebSocket */
    CU_ASSERT_EQUAL(pwsm_tcp_connections(h.s) - tcp_before, 1);
    CU_ASSERT_EQUAL(pwsm_connections(h.s) - ws_before, 0);
    pws_destroy(h.c);
    h.c = NULL;

    /* a CA file that is not PEM is a clear fatal TLS error, not a retry loop */
    char bad_ca[] = "/tmp/pws_bad_ca_XXXXXX";
    int fd = mkstemp(bad_ca);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(write(fd, "not a certificate\n", 18) == 18);
    close(fd);
    h.n = 0;
    h_opts(&h, &o);
    o.ca_file = bad_ca;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_TLS);
    CU_ASSERT_PTR_NOT_NULL(strstr(pws_last_error(h.c), bad_ca));
    pws_destroy(h.c);
    h.c = NULL;
    unlink(bad_ca);

    /* explicitly insecure works, with a warning */
    h.n = 0;
    h.logs[0] = '\0';
    h_opts(&h, &o);
    o.tls_insecure = true;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(h.logs, "verification is OFF"));
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, 5, 8000));
    pws_stop(h.c);
    pws_wait(h.c);
    h_free(&h);
}

/* One connector to its first trade and back, against the harness' mock. */
static void run_one_connector(harness *h, bool tls)
{
    pws_options o;
    h_opts(h, &o);
    if (tls)
        o.ca_file = pwsm_ca_file(h->s);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h->c, NULL, 0), PWS_OK);
    pws_subscribe(h->c, "T.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h->c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(h, is_market, NULL, 1, 8000));
    pws_destroy(h->c);
    h->c = NULL;
}

/* Each connector's lws context used to ask libwebsockets for its OpenSSL set-up, which
 * registers two ex-data indexes in OpenSSL's process-wide table that nothing frees: about
 * 200 bytes more for every connector a process ever ran (found by the soak's heap figures).
 * The connector does its TLS itself; OpenSSL hands out ex-data indexes in sequence, so a
 * connector run between two requests for one must leave them consecutive. */
static void test_no_openssl_index_per_connector(void)
{
    for (int tls = 0; tls <= 1; tls++) {
        harness h;
        h_init(&h);
        pwsm_options mo = {0};
        mo.tls = tls;
        mo.events_per_sec = 1000;
        CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo)); /* a wss mock registers its own, now */
        int before = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        int before_ssl = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        run_one_connector(&h, tls);
        run_one_connector(&h, tls);
        int after = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        int after_ssl = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        CU_ASSERT_EQUAL(after, before + 1);
        CU_ASSERT_EQUAL(after_ssl, before_ssl + 1);
        h_free(&h);
    }
}

static void test_rate_limited_actions(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 10;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.actions_per_sec = 20;
    o.action_burst = 2;
    o.max_action_bytes = 64; /* about two channels per action */
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    char list[2048] = "";
    for (int i = 0; i < 40; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "%sT.SYM%02d", i ? "," : "", i);
        strcat(list, ch);
    }
    pws_subscribe(h.c, list);
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    /* wait for all subscription actions */
    int64_t end = mono_ms() + 10000;
    size_t actions = 0;
    while (mono_ms() < end) {
        actions = journal_client_texts(h.s, 1, "\"subscribe\"", NULL);
        char last[16];
        snprintf(last, sizeof last, "T.SYM39");
        if (journal_client_texts(h.s, 1, last, NULL))
            break;
        usleep(10000);
    }
    pws_stop(h.c);
    pws_wait(h.c);
    actions = journal_client_texts(h.s, 1, "\"subscribe\"", NULL);
    CU_ASSERT(actions >= 10);
    /* first auth ... last subscribe spans at least (actions + 1 - burst) / rate */
    int64_t t_first = journal_first(h.s, 1, 'c', "\"auth\"");
    const pwsm_entry *e;
    size_t n = pwsm_journal(h.s, &e);
    int64_t t_last = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].conn == 1 && e[i].dir == 'c' && strstr(e[i].data, "\"subscribe\""))
            t_last = e[i].t_us;
    double span_s = (double)(t_last - t_first) / 1e6;
    double min_s = ((double)actions + 1 - 2 - 1) / 20.0;
    CU_ASSERT(span_s >= min_s * 0.9);
    h_free(&h);
}

/* ---------------------------------------------- batches and the keyed table */

typedef struct table_rec {
    pthread_mutex_t mu;
    size_t batches, batch_events, max_batch;
    size_t additions, retractions, bad_pairs, bad_time;
    char last_key[PWS_SYMBOL_MAX];
    pws_event last_added[16];   /* per symbol slot: last added row */
    char syms[16][PWS_SYMBOL_MAX];
    size_t nsyms;
    bool pending_retraction;    /* a retraction waits for its addition */
    int64_t retraction_time;
} table_rec;

static void tr_on_batch(const pws_event *evs, size_t n, void *user)
{
    table_rec *t = user;
    pthread_mutex_lock(&t->mu);
    t->batches++;
    t->batch_events += n;
    if (n > t->max_batch)
        t->max_batch = n;
    pthread_mutex_unlock(&t->mu);
}

static size_t tr_slot(table_rec *t, const char *key)
{
    for (size_t i = 0; i < t->nsyms; i++)
        if (!strcmp(t->syms[i], key))
            return i;
    snprintf(t->syms[t->nsyms], PWS_SYMBOL_MAX, "%s", key);
    return t->nsyms++;
}

static void tr_on_change(const char *key, const pws_event *row, int64_t time, bool is_addition,
                         void *user)
{
    table_rec *t = user;
    pthread_mutex_lock(&t->mu);
    size_t k = tr_slot(t, key);
    if (!is_addition) {
        t->retractions++;
        /* the retraction carries the row that was added before */
        if (memcmp(&t->last_added[k].u.agg, &row->u.agg, sizeof row->u.agg) != 0)
            t->bad_pairs++;
        t->pending_retraction = true;
        t->retraction_time = time;
    } else {
        t->additions++;
        if (t->pending_retraction && time != t->retraction_time)
            t->bad_time++;
        if (row->u.agg.e != time)
            t->bad_time++;
        t->pending_retraction = false;
        t->last_added[k] = *row;
    }
    pthread_mutex_unlock(&t->mu);
}

static void test_batches_and_keyed_table(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 3000;
    mo.batch_max = 40;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    table_rec t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    pws_options o;
    h_opts(&h, &o);
    o.on_event = NULL;
    o.on_batch = tr_on_batch;
    o.user = &t;
    o.batch_max = 16;
    o.on_change = tr_on_change;
    o.table_user = &t;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL,A.MSFT,T.MSFT");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    int64_t end = mono_ms() + 8000;
    for (;;) {
        pthread_mutex_lock(&t.mu);
        size_t adds = t.additions;
        pthread_mutex_unlock(&t.mu);
        if (adds >= 100 || mono_ms() > end)
            break;
        usleep(5000);
    }
    pws_stop(h.c);
    pws_wait(h.c);
    pws_stats st;
    pws_get_stats(h.c, &st);
    pthread_mutex_lock(&t.mu);
    CU_ASSERT(t.additions >= 100);
    CU_ASSERT(t.max_batch <= 16);
    CU_ASSERT(t.batches > 0);
    CU_ASSERT_EQUAL(t.batch_events, st.delivered); /* every event went through on_batch */
    CU_ASSERT_EQUAL(t.nsyms, 2);                  /* aggregates only, keyed by symbol */
    CU_ASSERT_EQUAL(t.retractions, t.additions - t.nsyms); /* every update = retraction + addition */
    CU_ASSERT_EQUAL(t.bad_pairs, 0);
    CU_ASSERT_EQUAL(t.bad_time, 0);
    pthread_mutex_unlock(&t.mu);
    pthread_mutex_destroy(&t.mu);
    h_free(&h);
}

static bool is_error_status(const pws_event *ev, const void *arg)
{
    (void)arg;
    return ev->type == PWS_EV_STATUS && ev->u.status.kind == PWS_STATUS_ERROR &&
           strstr(ev->u.status.message, "not authorized");
}

static void test_error_status_stream_continues(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.events_per_sec = 1000;
    mo.nscripts = 1;
    mo.scripts[0].raw_frames[0] = "[{\"ev\":\"status\",\"status\":\"error\",\"message\":\"not authorized\"}]";
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "T.MSFT");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    CU_ASSERT_TRUE(h_wait(&h, is_error_status, NULL, 1, 5000));
    size_t before = h_count(&h, is_market, NULL);
    CU_ASSERT_TRUE(h_wait(&h, is_market, NULL, before + 50, 5000)); /* the stream goes on */
    pws_stop(h.c);
    pws_wait(h.c);
    pws_stats st;
    pws_get_stats(h.c, &st);
    CU_ASSERT_EQUAL(st.connects, 1);
    pthread_mutex_lock(&h.mu);
    CU_ASSERT_PTR_NOT_NULL(strstr(h.logs, "not authorized")); /* reported in the log too */
    pthread_mutex_unlock(&h.mu);
    h_free(&h);
}

static void test_connect_timeout(void)
{
    /* a listener that never answers the WebSocket upgrade */
    char url[64];
    int fd = listen_loopback("/stocks", url, sizeof url);
    harness h;
    h_init(&h);
    pws_options o;
    h_opts_url(&h, &o, url);
    o.connect_timeout_ms = 300;
    o.backoff.max_attempts = 1;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    int64_t t0 = mono_ms();
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_ATTEMPTS);
    int64_t took = mono_ms() - t0;
    if (!(took >= 600 && took < 5000))
        fprintf(stderr, "connect timeout run took %lld ms; log:\n%s\n", (long long)took, h.logs);
    CU_ASSERT(took >= 600 && took < 5000); /* two attempts of 300 ms, one 50 ms pause */
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, PWS_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, "connect timeout"));
    close(fd);
    h_free(&h);
}

/* Block policy with OTHER events (their JSON points into the frame reader's
 * message until the queue copies it) and a stop while reads are paused:
 * every delivered OTHER event still has its own bytes (under ASan: no
 * use-after-free when the connection's reader goes away), and the bytes held
 * back while paused are framed on, not dropped (dropping them threw the
 * reader out of sync: a false protocol error). */
static void test_block_other_events_then_stop(void)
{
    char path[] = "/tmp/pws_xt_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "description: XT events under backpressure\nconnections:\n  default:\n    - handshake\n"
               "    - repeat: {times: 3000, steps: [{send: [");
    for (int i = 0; i < 20; i++) {
        char pad[1024];
        int n = 100 + 37 * i;
        memset(pad, 'x', (size_t)n);
        pad[n] = '\0';
        fprintf(f, "%s{ev: XT, i: %d, pad: %s}", i ? ", " : "", i, pad);
    }
    fprintf(f, "]}]}\n");
    fclose(f);
    char err[512];
    pwss_scenario *sc = pwss_load(path, err, sizeof err);
    unlink(path);
    if (!sc)
        fprintf(stderr, "scenario: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.scenario = sc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    o.log_level = PWS_LOG_WARN;
    o.queue_capacity = 256;
    o.overflow = PWS_OVERFLOW_BLOCK;
    h.slow_us = 50;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "XT.*");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    bool paused = false;
    int64_t end = mono_ms() + 20000;
    while (mono_ms() < end) {
        pws_stats st;
        pws_get_stats(h.c, &st);
        if (st.rx_paused && h.other_ok > 2000) {
            paused = true;
            break;
        }
        usleep(2000);
    }
    CU_ASSERT_TRUE(paused);
    pws_stop(h.c);
    CU_ASSERT_EQUAL(pws_wait(h.c), PWS_OK);
    pthread_mutex_lock(&h.mu);
    uint64_t ok = h.other_ok, bad = h.other_bad;
    pthread_mutex_unlock(&h.mu);
    CU_ASSERT(ok > 2000);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_PTR_NULL(strstr(h.logs, "protocol error"));
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    /* The close code is not asserted: the mock (an lws 4.1 server) drops the
     * connection without answering a close that arrives while its own output
     * is partly written, which a paused reader makes likely. */
    CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, "stopped by the application"));
    h_free(&h);
    pwss_free(sc);
}

/* A one-shot HTTP server: answers each of up to n connections with a canned
 * response to whatever request comes, then closes it; gives up waiting for the
 * next connection after idle_ms. */
typedef struct canned_server {
    int fd;            /* listening socket */
    int n;             /* connections to serve at most */
    int idle_ms;       /* wait this long for each connection */
    const char *resp;  /* the answer, sent whatever the request */
    int served;        /* connections answered */
    char last_req[2048];
} canned_server;

static void *canned_main(void *arg)
{
    canned_server *cs = arg;
    for (int i = 0; i < cs->n; i++) {
        struct pollfd pfd = {.fd = cs->fd, .events = POLLIN};
        if (poll(&pfd, 1, cs->idle_ms) != 1)
            break;
        int c = accept(cs->fd, NULL, NULL);
        if (c < 0)
            break;
        ssize_t got = 0, r;
        while (got < (ssize_t)sizeof cs->last_req - 1 &&
               (r = read(c, cs->last_req + got, sizeof cs->last_req - 1 - (size_t)got)) > 0) {
            got += r;
            cs->last_req[got] = '\0';
            if (strstr(cs->last_req, "\r\n\r\n"))
                break;
        }
        ssize_t w = write(c, cs->resp, strlen(cs->resp));
        (void)w;
        close(c);
        cs->served++;
    }
    return NULL;
}

/* The connector checks the server's answer to the upgrade: a bad answer is retried (two
 * connections with max_attempts 1, then PWS_ERR_ATTEMPTS), a permanent HTTP status is fatal
 * at once (one connection, PWS_ERR_REFUSED). */
static void check_upgrade_refused(const char *resp, const char *why, bool fatal)
{
    /* a retry comes after 50..400 ms of backoff: 1 s without one means there is none */
    canned_server cs = {.n = 2, .idle_ms = 1000, .resp = resp};
    char url[64];
    cs.fd = listen_loopback("/stocks?x=1", url, sizeof url);
    pthread_t th;
    harness h;
    h_init(&h);
    pws_options o;
    h_opts_url(&h, &o, url);
    o.backoff.max_attempts = 1; /* two connections in all, if it retries */
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_FATAL(pthread_create(&th, NULL, canned_main, &cs) == 0);
    int64_t t0 = mono_ms();
    int rc = pws_run(h.c);
    CU_ASSERT(mono_ms() - t0 < 3000);
    pthread_join(th, NULL);
    close(cs.fd);
    CU_ASSERT_EQUAL(rc, fatal ? PWS_ERR_REFUSED : PWS_ERR_ATTEMPTS);
    CU_ASSERT_EQUAL(cs.served, fatal ? 1 : 2);
    /* the request is a proper RFC 6455 upgrade for the URL's path */
    static const char line1[] = "GET /stocks?x=1 HTTP/1.1\r\n";
    CU_ASSERT_EQUAL(strncmp(cs.last_req, line1, sizeof line1 - 1), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(cs.last_req, "Upgrade: websocket\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cs.last_req, "Sec-WebSocket-Version: 13\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cs.last_req, "Sec-WebSocket-Key: "));
    CU_ASSERT_PTR_NULL(strstr(cs.last_req, KEY)); /* the key goes in the auth message only */
    const pws_event *disc = h_find_state(&h, PWS_CONN_DISCONNECTED, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(disc);
    CU_ASSERT_EQUAL(disc->u.conn.err, fatal ? PWS_ERR_REFUSED : PWS_ERR_CONNECT);
    if (!strstr(disc->u.conn.reason, why))
        fprintf(stderr, "reason: %s\n", disc->u.conn.reason);
    CU_ASSERT_PTR_NOT_NULL(strstr(disc->u.conn.reason, why));
    CU_ASSERT_EQUAL(h_find_state(&h, PWS_CONN_RECONNECT_WAIT, 0) != NULL, !fatal);
    const pws_event *fatal_ev = h_find_state(&h, PWS_CONN_FATAL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fatal_ev);
    CU_ASSERT_EQUAL(fatal_ev->u.conn.err, fatal ? PWS_ERR_REFUSED : PWS_ERR_ATTEMPTS);
    if (fatal) /* the reason names the status and the path, not the query string */
        CU_ASSERT_PTR_NOT_NULL(strstr(pws_last_error(h.c), "for path /stocks (permanent: not retrying)"));
    CU_ASSERT_EQUAL(h_count(&h, is_market, NULL), 0);
    h_free(&h);
}

static void test_upgrade_refused(void)
{
    /* permanent: fatal, never retried */
    check_upgrade_refused("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                          "refused the WebSocket upgrade: HTTP 404 Not Found for path /stocks", true);
    check_upgrade_refused("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
                          "refused the WebSocket upgrade: HTTP 403 Forbidden for path /stocks", true);
    check_upgrade_refused("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", "HTTP 401 Unauthorized",
                          true);
    /* passing: retried with backoff */
    check_upgrade_refused("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                          "refused the WebSocket upgrade: HTTP 503 Service Unavailable for path /stocks", false);
    check_upgrade_refused("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
                          "HTTP 429 Too Many Requests", false);
    check_upgrade_refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                          "wrong Sec-WebSocket-Accept", false);
    check_upgrade_refused("SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad upgrade response", false);
}

/* The mock answers a path that is no market with 404: fatal, and the mock saw no connection. */
static void test_mock_bad_path_is_fatal(void)
{
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    snprintf(h.url, sizeof h.url, "%s/nonexistent", pwsm_url(h.s));
    pws_options o;
    h_opts_url(&h, &o, h.url);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    int64_t t0 = mono_ms();
    CU_ASSERT_EQUAL(pws_run(h.c), PWS_ERR_REFUSED);
    CU_ASSERT(mono_ms() - t0 < 3000);
    usleep(500000); /* a retry would come within 400 ms */
    CU_ASSERT_EQUAL(pwsm_connections(h.s), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(pws_last_error(h.c), "HTTP 404 Not Found for path /nonexistent"));
    h_free(&h);
}

/* Whether text holds the key, or a piece of 8+ bytes of it (a prefix or a suffix, what a cut leaves). */
static bool has_key_piece(const char *text)
{
    size_t klen = strlen(KEY);
    for (size_t n = 8; n <= klen; n++) {
        char piece[sizeof KEY];
        memcpy(piece, KEY, n);
        piece[n] = '\0';
        if (strstr(text, piece) || strstr(text, &KEY[klen - n]))
            return true;
    }
    return false;
}

/* A server that echoes the key: in a status message, at the end of a status message the parser
 * cuts (leaving a prefix of the key), in a parse error's excerpt and in a close reason.  The key
 * reaches no event, log line or last error, whole or in part; "***" stands where it was. */
static void test_echoed_key_masked(void)
{
    char path[] = "/tmp/pws_echo_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    char pad[246];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    fprintf(f,
            "description: the server echoes the key\n"
            "connections:\n"
            "  1:\n"
            "    - handshake\n"
            "    - status: {status: error, message: \"key " KEY " is over its quota\"}\n"
            "    - status: {status: error, message: \"%s" KEY "\"}\n"
            "    - send_raw: '[{\"ev\":\"status\",\"status\":\"error\",\"message\":\"" KEY "'\n"
            "    - close: {code: 1008, reason: \"key " KEY " revoked\"}\n"
            "  default: [handshake, serve]\n",
            pad);
    fclose(f);
    char err[512];
    pwss_scenario *sc = pwss_load(path, err, sizeof err);
    unlink(path);
    if (!sc)
        fprintf(stderr, "scenario: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    harness h;
    h_init(&h);
    pwsm_options mo = {0};
    mo.scenario = sc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h_mock(&h, &mo));
    pws_options o;
    h_opts(&h, &o);
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &h.c, NULL, 0), PWS_OK);
    pws_subscribe(h.c, "A.AAPL");
    CU_ASSERT_EQUAL_FATAL(pws_start(h.c), PWS_OK);
    pws_conn_state authed = PWS_CONN_AUTHENTICATED;
    CU_ASSERT_TRUE(h_wait(&h, is_state, &authed, 2, 10000));
    pws_stop(h.c);
    CU_ASSERT_EQUAL(pws_wait(h.c), PWS_OK);

    size_t statuses = 0, errors = 0;
    bool quota = false, cut = false, excerpt = false, close_reason = false;
    pthread_mutex_lock(&h.mu);
    for (size_t i = 0; i < h.n; i++) {
        const pws_event *ev = &h.evs[i].ev;
        if (ev->type == PWS_EV_STATUS) {
            statuses++;
            CU_ASSERT_FALSE(has_key_piece(ev->u.status.message));
            CU_ASSERT_FALSE(has_key_piece(ev->u.status.status));
            quota |= strcmp(ev->u.status.message, "key *** is over its quota") == 0;
            if (ev->u.status.truncated) {
                size_t n = strlen(ev->u.status.message);
                cut |= n > 3 && strcmp(ev->u.status.message + n - 3, "***") == 0;
            }
        } else if (ev->type == PWS_EV_PARSE_ERROR) {
            errors++;
            CU_ASSERT_FALSE(has_key_piece(ev->u.error.excerpt));
            excerpt |= strstr(ev->u.error.excerpt, "***") != NULL;
        } else if (ev->type == PWS_EV_CONNECTION) {
            CU_ASSERT_FALSE(has_key_piece(ev->u.conn.reason));
            close_reason |= strstr(ev->u.conn.reason, "(code 1008: key *** revoked)") != NULL;
        }
    }
    bool log_clean = !has_key_piece(h.logs);
    bool log_masked = strstr(h.logs, "server error status: key *** is over its quota") != NULL;
    pthread_mutex_unlock(&h.mu);
    CU_ASSERT(statuses >= 2);
    CU_ASSERT_EQUAL(errors, 1);
    CU_ASSERT_TRUE(quota);
    CU_ASSERT_TRUE(cut);
    CU_ASSERT_TRUE(excerpt);
    CU_ASSERT_TRUE(close_reason);
    CU_ASSERT_TRUE(log_clean);
    CU_ASSERT_TRUE(log_masked);
    CU_ASSERT_FALSE(has_key_piece(pws_last_error(h.c)));
    if (has_key_piece(h.logs))
        fprintf(stderr, "logs:\n%s\n", h.logs);
    h_free(&h);
    pwss_free(sc);
}

int main(void)
{
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("connector_vs_mock", NULL, NULL);
    CU_add_test(s, "handshake, batched subscribe, typed stream, unsubscribe", test_handshake_and_stream);
    CU_add_test(s, "auth_failed is fatal and never retried", test_auth_failed_is_fatal);
    CU_add_test(s, "resubscribe every channel after a TCP drop", test_resubscribe_after_drop);
    CU_add_test(s, "heartbeat timeout against a stalled server", test_heartbeat_timeout);
    CU_add_test(s, "backpressure: block loses nothing", test_backpressure_block);
    CU_add_test(s, "backpressure: block loses nothing over wss", test_backpressure_block_tls);
    CU_add_test(s, "backpressure: OTHER events held while paused, then stop", test_block_other_events_then_stop);
    CU_add_test(s, "backpressure: drop_oldest counts drops", test_backpressure_drop_oldest);
    CU_add_test(s, "backpressure: disconnect policy", test_backpressure_disconnect);
    CU_add_test(s, "close codes 1000/1001/1008/1011 reconnect", test_close_code_reconnects);
    CU_add_test(s, "force_disconnect / slow_consumer reconnect", test_status_disconnects);
    CU_add_test(s, "max_connections: long delay and a warning", test_max_connections);
    CU_add_test(s, "flapping server: backoff grows, attempts bounded", test_flapping_server_backoff_grows);
    CU_add_test(s, "client-side auth timeout", test_auth_timeout_client_side);
    CU_add_test(s, "malformed frames: errors reported, stream continues", test_malformed_frames_stream_continues);
    CU_add_test(s, "wss: CA file, SSL_CERT_FILE, refused once without, insecure warns", test_tls);
    CU_add_test(s, "no OpenSSL ex-data index left behind per connector", test_no_openssl_index_per_connector);
    CU_add_test(s, "client-side action rate limit", test_rate_limited_actions);
    CU_add_test(s, "on_batch and the keyed table (retraction + addition)", test_batches_and_keyed_table);
    CU_add_test(s, "error status (not authorized): reported, stream continues", test_error_status_stream_continues);
    CU_add_test(s, "connect timeout against a silent listener", test_connect_timeout);
    CU_add_test(s, "upgrade: 400/401/403/404/410 fatal; 429, 5xx, wrong accept key, not HTTP retried",
                test_upgrade_refused);
    CU_add_test(s, "mock: a path that is no market (404) is fatal", test_mock_bad_path_is_fatal);
    CU_add_test(s, "a key the server echoes (status, cut status, excerpt, close reason) is masked",
                test_echoed_key_masked);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
