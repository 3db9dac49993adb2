/*
 * test_record.c - record and replay over real loopback sockets: the mock
 * server plays the live service, the recording proxy sits between it and our
 * connector, the replayer plays the tape back to the connector.
 *
 * Every server here binds 127.0.0.1 port 0 and is stopped by its test.
 */
#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/replay.h>
#include <polyws/tape.h>

#include "scratch.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY "test-record-secret-key-4242"

static int suite_init(void)
{
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    return scratch_init("test_record");
}

static int suite_clean(void)
{
    return scratch_clean();
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Collects log lines so a test can check that no key reaches a log. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];

static void collect_log(pws_log_level level, const char *msg, void *user)
{
    pthread_mutex_lock(&log_mu);
    size_t l = strlen(log_text);
    if (l + strlen(msg) + 2 < sizeof log_text) {
        strcat(log_text, msg);
        strcat(log_text, "\n");
    }
    pthread_mutex_unlock(&log_mu);
}

/* ---- a mock server */

static pwsm_server *mock(double rate, uint64_t seed, void (*tweak)(pwsm_options *))
{
    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.keys[0] = KEY;
    o.seed = seed;
    o.events_per_sec = rate;
    o.batch_max = 10;
    if (tweak)
        tweak(&o);
    char err[256];
    pwsm_server *s = pwsm_start(&o, err, sizeof err);
    if (!s)
        fprintf(stderr, "mock: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* ---- the connector: events as JSON lines */

typedef struct run {
    pthread_mutex_t mu;         /* guards everything below */
    char *out;                  /* JSON lines of non-connection events */
    size_t len, cap;
    uint64_t count, seen;       /* stop after count market events */
    pws_connector *c;
    int close_codes[16];        /* close codes of DISCONNECTED events */
    int ncodes;
    int drops;                  /* DISCONNECTED without a close code */
    uint32_t last_conn;         /* highest connection ordinal seen */
    uint32_t stop_at_conn;      /* stop after 5 market events on this connection (0 = off) */
    int late_events;            /* market events seen on it */
    int64_t event_ms[4];        /* receive times of the first market events */
    int nevent_ms;
    int slow_us;                /* sleep per event (backpressure test) */
} run;

static void run_event(const pws_event *ev, void *user)
{
    run *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->type == PWS_EV_CONNECTION) {
        if (ev->u.conn.state == PWS_CONN_DISCONNECTED) {
            if (ev->u.conn.close_code && r->ncodes < 16)
                r->close_codes[r->ncodes++] = ev->u.conn.close_code;
            else if (!ev->u.conn.close_code)
                r->drops++;
        }
        if (ev->conn > r->last_conn)
            r->last_conn = ev->conn;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    bool market = ev->type != PWS_EV_STATUS && ev->type != PWS_EV_PARSE_ERROR;
    if (market && r->count && r->seen >= r->count) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (market && r->stop_at_conn && ev->conn >= r->stop_at_conn && ++r->late_events == 5) {
        pthread_mutex_unlock(&r->mu);
        pws_stop(r->c);
        return;
    }
    if (market) {
        r->seen++;
        if (r->nevent_ms < 4)
            r->event_ms[r->nevent_ms++] = now_ms();
    }
    char line[4096];
    size_t n = pws_event_to_json(ev, line, sizeof line);
    if (n < sizeof line) {
        if (r->len + n + 2 > r->cap) {
            r->cap = (r->cap + n + 2) * 2;
            r->out = realloc(r->out, r->cap);
        }
        memcpy(r->out + r->len, line, n);
        r->len += n;
        r->out[r->len++] = '\n';
        r->out[r->len] = '\0';
    }
    bool reached = r->count && market && r->seen == r->count;
    pthread_mutex_unlock(&r->mu);
    if (reached)
        pws_stop(r->c);
    if (r->slow_us)
        usleep((useconds_t)r->slow_us);
}

/* Runs the connector against url until count events, stop_at_conn, or timeout_ms. */
static int run_connector(run *r, const char *url, const char *subs, const char *ca, int timeout_ms,
                         void (*tweak)(pws_options *))
{
    pthread_mutex_init(&r->mu, NULL);
    pws_options o = {0};
    o.url = url;
    o.api_key = KEY;
    o.ca_file = ca;
    o.on_event = run_event;
    o.user = r;
    o.backoff.base_ms = 50;
    o.backoff.jitter = -1;
    o.log_fn = collect_log;
    o.log_level = PWS_LOG_INFO;
    if (tweak)
        tweak(&o);
    char err[256];
    int rc = pws_create(&o, &r->c, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc, PWS_OK);
    CU_ASSERT_EQUAL(pws_subscribe(r->c, subs), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(pws_start(r->c), PWS_OK);
    int64_t end = now_ms() + timeout_ms;
    while (!pws_finished(r->c) && now_ms() < end)
        sleep_ms(10);
    pws_stop(r->c);
    rc = pws_wait(r->c);
    pws_destroy(r->c);
    r->c = NULL;
    return rc;
}

static void run_free(run *r)
{
    free(r->out);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}

/* ---- the proxy */

static pwsr_proxy *proxy(const char *upstream, const char *tape, const char *ca, void (*tweak)(pwsr_proxy_options *))
{
    pwsr_proxy_options o;
    memset(&o, 0, sizeof o);
    o.upstream = upstream;
    o.tape_path = tape;
    o.ca_file = ca;
    o.log_fn = collect_log;
    o.log_level = PWS_LOG_DEBUG;
    if (tweak)
        tweak(&o);
    char err[256];
    pwsr_proxy *p = pwsr_proxy_start(&o, err, sizeof err);
    if (!p)
        fprintf(stderr, "proxy: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* Waits until the proxy has no client left (it records the ends first). */
static void proxy_idle(pwsr_proxy *p)
{
    for (int i = 0; i < 300; i++) {
        pwsr_proxy_stats st;
        pwsr_proxy_get_stats(p, &st);
        if (!st.active)
            return;
        sleep_ms(10);
    }
}

static pwsr_replayer *replayer(const char *tape, double speed)
{
    pwsr_replay_options o;
    memset(&o, 0, sizeof o);
    o.tape_path = tape;
    o.speed = speed;
    o.wait_ms = 3000;
    o.log_fn = collect_log;
    o.log_level = PWS_LOG_INFO;
    char err[256];
    pwsr_replayer *rp = pwsr_replay_start(&o, err, sizeof err);
    if (!rp)
        fprintf(stderr, "replay: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rp);
    return rp;
}

/* ---- tape contents */

typedef struct tframe {
    char dir;
    pws_tape_kind kind;
    uint32_t conn;
    int code;
    char reason[128];
    char *data;
    size_t len;
} tframe;

typedef struct tape {
    tframe *f;
    size_t n;
    bool has_header;
    char mode[16];
    char url[128];      /* the header's URL */
    int64_t start_us;   /* the header's wall-clock start */
} tape;

static tape load(const char *path)
{
    tape t = {0};
    pws_tape_reader *r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open(path, &r, err, sizeof err), PWS_OK);
    const pws_tape_header *h = pws_tape_reader_header(r);
    t.has_header = h != NULL;
    if (h) {
        snprintf(t.mode, sizeof t.mode, "%s", h->mode);
        snprintf(t.url, sizeof t.url, "%s", h->url);
        t.start_us = h->start_us;
    }
    pws_tape_frame f;
    size_t cap = 0;
    while (pws_tape_next(r, &f) == 1) {
        if (t.n == cap) {
            cap = cap ? cap * 2 : 64;
            t.f = realloc(t.f, cap * sizeof *t.f);
        }
        tframe *x = &t.f[t.n++];
        x->dir = f.dir;
        x->kind = f.kind;
        x->conn = f.conn;
        x->code = f.code;
        snprintf(x->reason, sizeof x->reason, "%s", f.reason);
        x->len = f.len;
        x->data = malloc(f.len + 1);
        memcpy(x->data, f.data, f.len + 1);
    }
    pws_tape_reader_close(r);
    return t;
}

static void tape_free(tape *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->f[i].data);
    free(t->f);
    memset(t, 0, sizeof *t);
}

static size_t count_kind(const tape *t, char dir, pws_tape_kind kind, uint32_t conn)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->f[i].dir == dir && t->f[i].kind == kind && (!conn || t->f[i].conn == conn))
            n++;
    return n;
}

static void assert_no_key_in(const char *path)
{
    char *all = slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT_PTR_NULL(strstr(all, KEY));
    free(all);
}

/* ---- tests */

/* Direct run, recorded run and replayed run give the same connector output; the tape's frames are
 * the mock's journal; the key is nowhere. */
static void test_record_then_replay(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "session.tape");
    log_text[0] = '\0';

    pwsm_server *m1 = mock(5000, 7, NULL);
    run direct = {.count = 300};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsm_url(m1));
    CU_ASSERT_EQUAL(run_connector(&direct, url, "A.AAPL,T.MSFT,Q.SPY", NULL, 20000, NULL), PWS_OK);
    pwsm_stop(m1);
    CU_ASSERT_EQUAL(direct.seen, 300);

    pwsm_server *m2 = mock(5000, 7, NULL);
    pwsr_proxy *p = proxy(pwsm_url(m2), tp, NULL, NULL);
    run rec = {.count = 300};
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    CU_ASSERT_EQUAL(run_connector(&rec, url, "A.AAPL,T.MSFT,Q.SPY", NULL, 20000, NULL), PWS_OK);
    proxy_idle(p);
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.connections, 1);
    CU_ASSERT(st.frames > 10);
    pwsr_proxy_stop(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(direct.out);
    CU_ASSERT_STRING_EQUAL(rec.out, direct.out);

    /* the tape holds what the mock journaled, frame for frame */
    tape t = load(tp);
    CU_ASSERT_TRUE(t.has_header);
    CU_ASSERT_STRING_EQUAL(t.mode, "proxy");
    const pwsm_entry *je;
    size_t jn = pwsm_journal(m2, &je);
    size_t ti = 0, matched = 0;
    for (size_t k = 0; k < jn; k++) {
        if (je[k].dir == '-' || strcmp(je[k].kind, "text"))
            continue;
        while (ti < t.n && (t.f[ti].dir == '-' || t.f[ti].kind != PWS_TAPE_TEXT))
            ti++;
        if (ti >= t.n)
            break;
        CU_ASSERT_EQUAL(t.f[ti].dir, je[k].dir);
        CU_ASSERT(t.f[ti].len == je[k].len && !memcmp(t.f[ti].data, je[k].data, je[k].len));
        ti++;
        matched++;
    }
    CU_ASSERT(matched > 10);
    CU_ASSERT_EQUAL(t.f[0].kind, PWS_TAPE_OPEN);
    CU_ASSERT_STRING_EQUAL(t.f[0].data, "/stocks");
    CU_ASSERT_EQUAL(count_kind(&t, 'c', PWS_TAPE_CLOSE, 1), 1);
    CU_ASSERT_EQUAL(count_kind(&t, 's', PWS_TAPE_CLOSE, 1), 1); /* the echo, kept by the grace period */
    CU_ASSERT_EQUAL(t.f[t.n - 1].kind, PWS_TAPE_CLOSED);
    bool auth_redacted = false;
    for (size_t i = 0; i < t.n; i++)
        if (t.f[i].dir == 'c' && strstr(t.f[i].data, "\"action\":\"auth\""))
            auth_redacted = strstr(t.f[i].data, "\"params\":\"***\"") != NULL;
    CU_ASSERT_TRUE(auth_redacted);
    tape_free(&t);
    pwsm_stop(m2);
    assert_no_key_in(tp);

    /* replay at full speed: the same output, no deviation */
    pwsr_replayer *rp = replayer(tp, -1);
    run rep = {.count = 300};
    snprintf(url, sizeof url, "%s/stocks", pwsr_replay_url(rp));
    CU_ASSERT_EQUAL(run_connector(&rep, url, "T.MSFT,Q.SPY,A.AAPL", NULL, 20000, NULL), PWS_OK);
    CU_ASSERT_TRUE(pwsr_replay_wait(rp, 5000));
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    CU_ASSERT_EQUAL(res.deviations, 0);
    if (res.deviations)
        fprintf(stderr, "report: %s\n", res.report);
    CU_ASSERT_EQUAL(res.client_messages, 2);
    CU_ASSERT_TRUE(res.done);
    pwsr_replay_stop(rp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep.out);
    CU_ASSERT_STRING_EQUAL(rep.out, direct.out);
    CU_ASSERT_PTR_NULL(strstr(log_text, KEY));
    run_free(&direct);
    run_free(&rec);
    run_free(&rep);
}

/* A client that subscribes to something else gets a report: expected vs got. */
static void test_replay_mismatch(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "mismatch.tape");
    pwsm_server *m = mock(2000, 3, NULL);
    pwsr_proxy *p = proxy(pwsm_url(m), tp, NULL, NULL);
    run rec = {.count = 20};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    CU_ASSERT_EQUAL(run_connector(&rec, url, "A.AAPL,T.MSFT", NULL, 20000, NULL), PWS_OK);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    pwsm_stop(m);

    pwsr_replayer *rp = replayer(tp, -1);
    run rep = {0};
    snprintf(url, sizeof url, "%s/stocks", pwsr_replay_url(rp));
    run_connector(&rep, url, "A.AAPL,T.NVDA", NULL, 1500, NULL);
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    CU_ASSERT_EQUAL(res.deviations, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.report, "expected text {\"action\":\"subscribe\",\"params\":\"A.AAPL,T.MSFT\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.report, "got text {\"action\":\"subscribe\",\"params\":\"A.AAPL,T.NVDA\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.report, "channel T.MSFT missing"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.report, "line "));
    pwsr_replay_stop(rp);
    /* the connector saw the replayer's 1008 */
    bool saw_1008 = false;
    for (int i = 0; i < rep.ncodes; i++)
        saw_1008 = saw_1008 || rep.close_codes[i] == 1008;
    CU_ASSERT_TRUE(saw_1008);
    run_free(&rec);
    run_free(&rep);
}

static void tweak_close_4001(pwsm_options *o)
{
    o->ping_interval_ms = 30;
    o->nscripts = 2;
    o->scripts[0].fault = PWSM_FAULT_CLOSE;
    o->scripts[0].after_events = 60;
    o->scripts[0].close_code = 4001;
    o->scripts[0].close_reason = "bye now";
    o->scripts[1].fault = PWSM_FAULT_DROP;
    o->scripts[1].after_events = 30;
}

/* Pings, pongs, a close code and a TCP drop are recorded, and replayed at the same points. */
static void test_pings_closes_drops(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "faults.tape");
    pwsm_server *m = mock(400, 5, tweak_close_4001);
    pwsr_proxy *p = proxy(pwsm_url(m), tp, NULL, NULL);
    run rec = {.stop_at_conn = 3};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    CU_ASSERT_EQUAL(run_connector(&rec, url, "A.AAPL,T.MSFT", NULL, 20000, NULL), PWS_OK);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    pwsm_stop(m);
    CU_ASSERT_EQUAL(rec.last_conn, 3);
    CU_ASSERT(rec.ncodes >= 1 && rec.close_codes[0] == 4001);
    CU_ASSERT(rec.drops >= 1);

    tape t = load(tp);
    CU_ASSERT(count_kind(&t, 's', PWS_TAPE_PING, 1) >= 1);
    CU_ASSERT(count_kind(&t, 'c', PWS_TAPE_PONG, 1) >= 1);
    bool close_4001 = false, drop_2 = false;
    for (size_t i = 0; i < t.n; i++) {
        if (t.f[i].conn == 1 && t.f[i].dir == 's' && t.f[i].kind == PWS_TAPE_CLOSE)
            close_4001 = t.f[i].code == 4001 && !strcmp(t.f[i].reason, "bye now");
        if (t.f[i].conn == 2 && t.f[i].kind == PWS_TAPE_DROP)
            drop_2 = !strcmp(t.f[i].data, "upstream");
    }
    CU_ASSERT_TRUE(close_4001);
    CU_ASSERT_TRUE(drop_2);
    CU_ASSERT_EQUAL(count_kind(&t, '-', PWS_TAPE_OPEN, 0), 3);
    tape_free(&t);

    /* replayed: the connector sees the same close code and the same drop, and reconnects */
    pwsr_replayer *rp = replayer(tp, 4);
    run rep = {.stop_at_conn = 3};
    snprintf(url, sizeof url, "%s/stocks", pwsr_replay_url(rp));
    CU_ASSERT_EQUAL(run_connector(&rep, url, "A.AAPL,T.MSFT", NULL, 20000, NULL), PWS_OK);
    CU_ASSERT_EQUAL(rep.last_conn, 3);
    CU_ASSERT(rep.ncodes >= 1 && rep.close_codes[0] == 4001);
    CU_ASSERT(rep.drops >= 1);
    CU_ASSERT_TRUE(pwsr_replay_wait(rp, 5000));
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    CU_ASSERT_EQUAL(res.deviations, 0);
    if (res.deviations)
        fprintf(stderr, "report: %s\n", res.report);
    CU_ASSERT_EQUAL(res.tape_connections, 3);
    pwsr_replay_stop(rp);
    run_free(&rec);
    run_free(&rep);
}

static void tweak_tls(pwsm_options *o)
{
    o->tls = true;
}

/* wss upstream: verified with the mock's CA; without it the handshake fails with a clear error. */
static void test_tls_upstream(void)
{
    char tp[300], tp2[300];
    path_of(tp, sizeof tp, "tls.tape");
    path_of(tp2, sizeof tp2, "tls-bad.tape");
    pwsm_server *m = mock(2000, 9, tweak_tls);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pwsm_ca_file(m));
    pwsr_proxy *p = proxy(pwsm_url(m), tp, pwsm_ca_file(m), NULL);
    run rec = {.count = 50};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    CU_ASSERT_EQUAL(run_connector(&rec, url, "A.AAPL", NULL, 20000, NULL), PWS_OK);
    CU_ASSERT_EQUAL(rec.seen, 50);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    tape t = load(tp);
    CU_ASSERT(count_kind(&t, 's', PWS_TAPE_TEXT, 1) > 3);
    tape_free(&t);
    assert_no_key_in(tp);

    /* the system store does not know the mock's self-signed certificate */
    p = proxy(pwsm_url(m), tp2, NULL, NULL);
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    run bad = {0};
    run_connector(&bad, url, "A.AAPL", NULL, 700, NULL);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    char *all = slurp(tp2, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "certificate verify failed"));
    free(all);
    pwsm_stop(m);
    run_free(&rec);
    run_free(&bad);
}

static void tweak_two_per_key(pwsm_options *o)
{
    o->max_per_key = 4;
}

static void *second_client(void *arg)
{
    const char *url = arg;
    run r = {.count = 40};
    run_connector(&r, url, "T.MSFT", NULL, 20000, NULL);
    run_free(&r);
    return NULL;
}

/* Several clients at once: each gets its own upstream connection and ordinal. */
static void test_several_clients(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "multi.tape");
    pwsm_server *m = mock(1000, 11, tweak_two_per_key);
    pwsr_proxy *p = proxy(pwsm_url(m), tp, NULL, NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    pthread_t th;
    pthread_create(&th, NULL, second_client, url);
    run a = {.count = 40};
    run_connector(&a, url, "A.AAPL", NULL, 20000, NULL);
    pthread_join(th, NULL);
    proxy_idle(p);
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.connections, 2);
    pwsr_proxy_stop(p);
    pwsm_stop(m);
    tape t = load(tp);
    CU_ASSERT_EQUAL(count_kind(&t, '-', PWS_TAPE_OPEN, 1), 1);
    CU_ASSERT_EQUAL(count_kind(&t, '-', PWS_TAPE_OPEN, 2), 1);
    CU_ASSERT(count_kind(&t, 's', PWS_TAPE_TEXT, 1) > 3);
    CU_ASSERT(count_kind(&t, 's', PWS_TAPE_TEXT, 2) > 3);
    CU_ASSERT_EQUAL(count_kind(&t, '-', PWS_TAPE_CLOSED, 0), 2);
    tape_free(&t);
    run_free(&a);
}

static void tweak_fast(pwsm_options *o)
{
    o->batch_max = 100;
}

static void tweak_slow_reader(pws_options *o)
{
    o->queue_capacity = 256;
    o->batch_max = 1;
}

static void tweak_small_buffer(pwsr_proxy_options *o)
{
    o->max_buffered = 65536;
}

/* A slow client: the proxy stops reading upstream instead of buffering without bound. */
static void test_backpressure(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "slow.tape");
    pwsm_server *m = mock(-1, 13, tweak_fast);
    pwsr_proxy *p = proxy(pwsm_url(m), tp, NULL, tweak_small_buffer);
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    run r = {.slow_us = 200};
    run_connector(&r, url, "A.*,T.*,Q.*", NULL, 1500, tweak_slow_reader);
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(p, &st);
    CU_ASSERT(st.pauses > 0);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    pwsm_stop(m);
    run_free(&r);
}

/* Recorded timing is kept at speed 1, scaled at speed N, dropped at max. */
static void test_replay_timing(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "timing.tape");
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .url = "ws://x", .tool = "test", .mode = "test"};
    pws_tape_writer *w;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_writer_open(tp, &h, false, &w, err, sizeof err), PWS_OK);
    const char *greet = "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]";
    const char *ok = "[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]";
    const char *sub = "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: T.X\"}]";
    const char *t1 = "[{\"ev\":\"T\",\"sym\":\"X\",\"p\":1,\"s\":1,\"t\":1,\"q\":1}]";
    const char *t2 = "[{\"ev\":\"T\",\"sym\":\"X\",\"p\":2,\"s\":1,\"t\":2,\"q\":2}]";
    struct {
        int64_t t;
        char dir;
        pws_tape_kind k;
        const char *d;
    } fr[] = {
        {0, '-', PWS_TAPE_OPEN, "/"},
        {100, 's', PWS_TAPE_TEXT, greet},
        {200, 'c', PWS_TAPE_TEXT, "{\"action\":\"auth\",\"params\":\"***\"}"},
        {300, 's', PWS_TAPE_TEXT, ok},
        {400, 'c', PWS_TAPE_TEXT, "{\"action\":\"subscribe\",\"params\":\"T.X\"}"},
        {500, 's', PWS_TAPE_TEXT, sub},
        {600, 's', PWS_TAPE_TEXT, t1},
        {1000600, 's', PWS_TAPE_TEXT, t2},
    };
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) {
        pws_tape_frame f = {.t_us = fr[i].t, .conn = 1, .dir = fr[i].dir, .kind = fr[i].k,
                            .data = (const unsigned char *)fr[i].d, .len = strlen(fr[i].d)};
        CU_ASSERT_EQUAL(pws_tape_write(w, &f), PWS_OK);
    }
    pws_tape_writer_close(w);
    double speeds[] = {1, 4, -1};
    /* a 1 s gap: about 1000 ms, 250 ms and nothing, with room for a loaded machine */
    int64_t lo[] = {900, 200, 0}, hi[] = {2500, 700, 150};
    for (int k = 0; k < 3; k++) {
        pwsr_replayer *rp = replayer(tp, speeds[k]);
        run r = {.count = 2};
        char url[128];
        snprintf(url, sizeof url, "%s/", pwsr_replay_url(rp));
        CU_ASSERT_EQUAL(run_connector(&r, url, "T.X", NULL, 10000, NULL), PWS_OK);
        CU_ASSERT_EQUAL_FATAL(r.nevent_ms, 2);
        int64_t gap = r.event_ms[1] - r.event_ms[0];
        CU_ASSERT(gap >= lo[k] && gap <= hi[k]);
        if (gap < lo[k] || gap > hi[k])
            fprintf(stderr, "speed %g: gap %lld ms\n", speeds[k], (long long)gap);
        pwsr_replay_stop(rp);
        run_free(&r);
    }
}

static void tweak_journal(pwsm_options *o)
{
    static char jp[300];
    path_of(jp, sizeof jp, "mock.journal");
    o->journal_path = jp;
}

/* The mock's journal file reads as a tape, entry for entry, behind a header that names the
 * mock's URL and the wall-clock time it started. */
static void test_journal_is_a_tape(void)
{
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    pwsm_server *m = mock(2000, 17, tweak_journal);
    run r = {.count = 30};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsm_url(m));
    run_connector(&r, url, "A.AAPL", NULL, 10000, NULL);
    run_free(&r);
    sleep_ms(100);
    const pwsm_entry *je;
    size_t jn = pwsm_journal(m, &je);
    char jp[300];
    path_of(jp, sizeof jp, "mock.journal");
    tape t = load(jp);
    CU_ASSERT_TRUE(t.has_header);
    CU_ASSERT_STRING_EQUAL(t.mode, "mock");
    CU_ASSERT_STRING_EQUAL(t.url, pwsm_url(m));
    int64_t before_us = (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000;
    CU_ASSERT(t.start_us >= before_us - 1000000 && t.start_us <= before_us + 60000000);
    CU_ASSERT(t.n >= jn && jn > 5);
    for (size_t i = 0; i < jn && i < t.n; i++) {
        CU_ASSERT_EQUAL(t.f[i].dir, je[i].dir);
        if (t.f[i].kind != PWS_TAPE_OTHER)
            CU_ASSERT_STRING_EQUAL(pws_tape_kind_name(t.f[i].kind), je[i].kind);
        CU_ASSERT_EQUAL(t.f[i].len, je[i].len);
    }
    tape_free(&t);
    pwsm_stop(m);
}

/* A field named on the command line is redacted in both directions; so is the key when echoed. */
static void tweak_redact_token(pwsr_proxy_options *o)
{
    o->redact_fields[0] = "message";
    o->nredact_fields = 1;
}

static void test_redact_field(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "redact.tape");
    pwsm_server *m = mock(1000, 19, NULL);
    pwsr_proxy *p = proxy(pwsm_url(m), tp, NULL, tweak_redact_token);
    run r = {.count = 5};
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsr_proxy_url(p));
    run_connector(&r, url, "A.AAPL", NULL, 10000, NULL);
    proxy_idle(p);
    pwsr_proxy_stop(p);
    pwsm_stop(m);
    char *all = slurp(tp, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT_PTR_NULL(strstr(all, "Connected Successfully"));
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\\\"message\\\":\\\"***\\\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"fields\":[\"message\"]"));
    CU_ASSERT_PTR_NULL(strstr(all, KEY));
    free(all);
    run_free(&r);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("record", suite_init, suite_clean);
    CU_add_test(s, "record through the proxy, replay: same output as a direct run", test_record_then_replay);
    CU_add_test(s, "replay reports a deviating client", test_replay_mismatch);
    CU_add_test(s, "pings, close codes and drops recorded and replayed", test_pings_closes_drops);
    CU_add_test(s, "wss upstream verified with a CA", test_tls_upstream);
    CU_add_test(s, "several clients, one upstream each", test_several_clients);
    CU_add_test(s, "backpressure instead of unbounded buffering", test_backpressure);
    CU_add_test(s, "replay timing: original, scaled, max", test_replay_timing);
    CU_add_test(s, "a mock journal is a tape", test_journal_is_a_tape);
    CU_add_test(s, "--redact-field", test_redact_field);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
