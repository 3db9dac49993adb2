/*
 * test_block_tail.c - the block policy keeps what a connection received
 * before it ended, however it ended.
 *
 * Under the block policy a full delivery queue stops the reads: the bytes the
 * server wrote wait in the client's socket buffer (and, framed or not, in the
 * connector).  Found by the chaos soak (tests/soak):
 *  - a TCP reset from the server made libwebsockets close the socket at once
 *    (POLLHUP while reads were held), and everything that waited was lost;
 *  - the heartbeat ping the connector sent while its reads were held was what
 *    made a server that had just dropped the connection answer with that
 *    reset, and the reset also discarded what the server still had to send.
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
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY "tail-key-0123456789"
#define RESET_TRADES 3000   /* trades the resetting server writes (~230 KB) */
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
static pws_connector *slow_connector(const char *url, seen *s, uint32_t ping_ms, bool tls_insecure)
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
    o.tls_insecure = tls_insecure; /* the resetting server's certificate is made on the spot */
    pws_connector *c = NULL;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &c, NULL, 0), PWS_OK);
    pws_subscribe(c, "T.TAIL");
    CU_ASSERT_EQUAL_FATAL(pws_start(c), PWS_OK);
    return c;
}

/* ------------------------------------------------ a server that resets the connection */

/* Just enough of a Polygon server over WebSocket (plain, or TLS with a certificate made on
 * the spot): greeting, auth_success, then RESET_TRADES numbered trades, one per frame; once
 * the client's kernel has acknowledged every byte (SIOCOUTQ 0) the socket is closed with
 * SO_LINGER 0, which sends a reset. */
typedef struct reset_server {
    int fd;             /* listening socket */
    SSL_CTX *tls;       /* a TLS server context, or NULL for plain ws */
    bool all_acked;     /* every byte reached the client's kernel before the reset */
    bool ok;            /* the exchange went as planned */
} reset_server;

/* The server's end of the connection. */
typedef struct peer {
    int fd;    /* the accepted socket (blocking, 5 s receive timeout) */
    SSL *ssl;  /* its TLS session, or NULL */
} peer;

static bool peer_write(peer *p, const void *data, size_t n)
{
    const char *b = data;
    while (n) {
        int w = p->ssl ? SSL_write(p->ssl, b, (int)n) : (int)write(p->fd, b, n);
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

static int peer_read(peer *p, void *buf, size_t cap)
{
    return p->ssl ? SSL_read(p->ssl, buf, (int)cap) : (int)read(p->fd, buf, cap);
}

/* One unmasked text frame (payloads here are < 126 bytes). */
static bool write_text(peer *p, const char *text)
{
    unsigned char h[2] = {0x81, (unsigned char)strlen(text)};
    return strlen(text) < 126 && peer_write(p, h, 2) && peer_write(p, text, strlen(text));
}

/* A TLS server context with a throwaway P-256 key and a self-signed certificate (the
 * client runs with tls_insecure: the test is about the reset, not the trust). */
static SSL_CTX *server_tls(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!key || !x || !ctx)
        goto fail;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256()) || SSL_CTX_use_certificate(ctx, x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1)
        goto fail;
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    X509_free(x);
    EVP_PKEY_free(key);
    return NULL;
}

/* Reads the upgrade request and answers it with 101. */
static bool upgrade(peer *p)
{
    char req[4096];
    size_t got = 0;
    const char *k = NULL;
    while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        int r = peer_read(p, req + got, sizeof req - 1 - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
        req[got] = '\0';
    }
    if (!(k = strstr(req, "Sec-WebSocket-Key: ")))
        return false;
    /* Sec-WebSocket-Accept = base64(SHA-1(key + the RFC 6455 GUID)) */
    char material[128];
    snprintf(material, sizeof material, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
             (int)strcspn(k + 19, "\r"), k + 19);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)material, strlen(material), digest);
    unsigned char accept_b64[64];
    EVP_EncodeBlock(accept_b64, digest, sizeof digest);
    char resp[256];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n", accept_b64);
    return peer_write(p, resp, strlen(resp));
}

static void *reset_main(void *arg)
{
    reset_server *rs = arg;
    struct pollfd lp = {.fd = rs->fd, .events = POLLIN};
    if (poll(&lp, 1, 5000) != 1)
        return NULL;
    peer p = {.fd = accept(rs->fd, NULL, NULL)};
    if (p.fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    bool ok = true;
    if (rs->tls) {
        p.ssl = SSL_new(rs->tls);
        ok = p.ssl && SSL_set_fd(p.ssl, p.fd) == 1 && SSL_accept(p.ssl) == 1;
    }
    ok = ok && upgrade(&p) &&
         write_text(&p, "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]");
    /* the auth frame (masked: not decoded here); then auth_success */
    unsigned char frame[256];
    ok = ok && peer_read(&p, frame, sizeof frame) > 0 &&
         write_text(&p, "[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]");
    for (int q = 1; ok && q <= RESET_TRADES; q++) {
        char t[128];
        snprintf(t, sizeof t, "[{\"ev\":\"T\",\"sym\":\"TAIL\",\"x\":4,\"i\":\"%d\",\"z\":3,\"p\":1.5,\"s\":1,"
                 "\"t\":1704205800000,\"q\":%d}]", q, q);
        ok = write_text(&p, t);
    }
    /* the client reads slowly: wait until its kernel holds everything, then reset */
    int64_t end = mono_ms() + 20000;
    int outq = -1;
    while (ok && mono_ms() < end && (ioctl(p.fd, SIOCOUTQ, &outq) != 0 || outq > 0))
        usleep(2000);
    rs->all_acked = outq == 0;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(p.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(p.fd); /* no TLS close_notify: the reset is the end */
    SSL_free(p.ssl);
    rs->ok = ok;
    return NULL;
}

/* A reset that comes while reads are held: the trades in the socket buffer and those held
 * in the connector (unframed, or with TLS inside the TLS session) are all delivered before
 * the connection is reported gone. */
static void check_reset_while_reads_held(bool tls)
{
    reset_server rs = {0};
    if (tls)
        CU_ASSERT_PTR_NOT_NULL_FATAL(rs.tls = server_tls());
    rs.fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(rs.fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(rs.fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(listen(rs.fd, 4) == 0);
    socklen_t sl = sizeof sa;
    getsockname(rs.fd, (struct sockaddr *)&sa, &sl);
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/stocks", tls ? "wss" : "ws", ntohs(sa.sin_port));
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, reset_main, &rs) == 0);

    seen s = {.slow_us = 1000}; /* 3000 trades take 3 s to consume: the reset comes long before */
    pthread_mutex_init(&s.mu, NULL);
    pws_connector *c = slow_connector(url, &s, 20000, tls);
    CU_ASSERT_TRUE(wait_disconnected(&s, 30000));
    pthread_join(th, NULL);
    pws_stop(c);
    pws_wait(c);
    if (s.trades != RESET_TRADES)
        fprintf(stderr, "reset%s: %llu of %d trades delivered\n", tls ? " (wss)" : "",
                (unsigned long long)s.trades, RESET_TRADES);
    CU_ASSERT_TRUE(rs.ok);
    CU_ASSERT_TRUE(rs.all_acked);
    CU_ASSERT_EQUAL(s.trades, RESET_TRADES);
    CU_ASSERT_EQUAL(s.trades_at_disconnect, RESET_TRADES); /* all of them before the end is reported */
    CU_ASSERT_EQUAL(s.out_of_order, 0);
    CU_ASSERT_EQUAL(s.disconnect_err, PWS_ERR_CLOSED);
    pws_destroy(c);
    close(rs.fd);
    SSL_CTX_free(rs.tls);
    pthread_mutex_destroy(&s.mu);
}

static void test_reset_while_reads_held(void)
{
    check_reset_while_reads_held(false);
}

static void test_reset_while_reads_held_tls(void)
{
    check_reset_while_reads_held(true);
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
    pws_connector *c = slow_connector(url, &s, 20, false);
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
    CU_add_test(s, "a reset while reads are held: every received trade delivered", test_reset_while_reads_held);
    CU_add_test(s, "the same over wss: what waits inside TLS too", test_reset_while_reads_held_tls);
    CU_add_test(s, "a drop while reads are held: no ping provokes a reset", test_drop_while_reads_held);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
