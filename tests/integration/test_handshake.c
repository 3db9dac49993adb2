/*
 * test_handshake.c - clients that never finish their WebSocket upgrade
 * (slowloris: half a request, then silence) against the real mock, proxy and
 * replayer on loopback: the handshake timeout closes them, the pending cap
 * closes the oldest to make room (a real client still gets through), the
 * per-address cap refuses, the proxy's max_clients counts only clients past
 * their request, and every case shows in the handshake counters.
 *
 * Stalled clients are raw sockets that send "GET /stocks HTTP/1.1" and a
 * Host header, never the blank line; real clients are tests/support's wsc.
 * Waits are polls of a condition with a generous deadline (sanitizer runs are
 * slow), never a check of how long something took.
 */
#include <polyws/mock.h>
#include <polyws/replay.h>
#include <polyws/tape.h>

#include "scratch.h"
#include "wsclient.h"

#include <CUnit/Basic.h>
#include <libwebsockets.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 10000  /* deadline of every wait for the server */
#define SETTLE_MS 300  /* lets the server's loop turn a few times (pending ones become evictable) */

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* A stalled client: connected, half an upgrade request sent.  The socket or -1. */
static int staller(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char half[] = "GET /stocks HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        send(fd, half, sizeof half - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof half - 1)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* True once the server closed fd (EOF or reset) within timeout_ms; bytes it sent (an HTTP
 * answer) are read and skipped. */
static bool closed_by_server(int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char b[512];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

/* True if the server has neither closed fd nor written to it. */
static bool still_open(int fd)
{
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static pwsm_server *mock_with(uint32_t timeout_ms, uint32_t max_pending, uint32_t max_per_address)
{
    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.handshake_timeout_ms = timeout_ms;
    o.max_pending = max_pending;
    o.max_per_address = max_per_address;
    o.events_per_sec = 50;
    char err[256];
    pwsm_server *s = pwsm_start(&o, err, sizeof err);
    if (!s)
        fprintf(stderr, "  pwsm_start: %s\n", err);
    return s;
}

/* Waits until the mock's pending count is want. */
static bool mock_pending_is(pwsm_server *s, uint32_t want)
{
    pwsm_handshake_stats st;
    for (int64_t deadline = now_ms() + WAIT_MS; now_ms() < deadline; sleep_ms(10)) {
        pwsm_get_handshake_stats(s, &st);
        if (st.pending == want)
            return true;
    }
    fprintf(stderr, "  pending %u, expected %u\n", st.pending, want);
    return false;
}

/* A real client: upgrade, greeting, auth answered. */
static bool real_session(int port)
{
    wsc *c = wsc_connect(port);
    if (!c)
        return false;
    frame f;
    bool ok = wsc_recv_data(c, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"connected\"");
    frame_free(&f);
    ok = ok && wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"k\"}") == 0;
    ok = ok && wsc_recv_data(c, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"auth_success\"");
    frame_free(&f); /* NULL after the first free: safe either way */
    wsc_free(c);
    return ok;
}

/* ------------------------------------------------------------------ the mock */

/* A connection without a complete upgrade is closed after the timeout and counted; an
 * upgraded one is not, however long it stays. */
static void test_mock_timeout(void)
{
    pwsm_server *s = mock_with(300, 0, 0);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    int fd = staller(pwsm_port(s));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(closed_by_server(fd, WAIT_MS));
    close(fd);
    pwsm_handshake_stats st;
    pwsm_get_handshake_stats(s, &st);
    CU_ASSERT_EQUAL(st.timed_out, 1);
    CU_ASSERT_EQUAL(st.upgraded, 1);
    CU_ASSERT_EQUAL(st.evicted + st.refused_full + st.refused_address, 0);
    CU_ASSERT_EQUAL(st.pending, 0);
    /* the upgraded connection outlived the timeout and still works */
    frame f;
    CU_ASSERT(wsc_recv_data(c, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"connected\""));
    frame_free(&f);
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"k\"}") == 0);
    CU_ASSERT(wsc_recv_data(c, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"auth_success\""));
    frame_free(&f);
    wsc_free(c);
    pwsm_stop(s);
}

/* At the cap (max_pending 4: one address holds 2) a new connection closes the oldest pending
 * one; a real client gets through and completes its session. */
static void test_mock_evicts_oldest(void)
{
    pwsm_server *s = mock_with(60000, 4, 0);
    CU_ASSERT_FATAL(s != NULL);
    int port = pwsm_port(s);
    int a = staller(port), b = staller(port);
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    CU_ASSERT(mock_pending_is(s, 2));
    sleep_ms(SETTLE_MS);
    int c = staller(port);
    CU_ASSERT_FATAL(c >= 0);
    CU_ASSERT(closed_by_server(a, WAIT_MS)); /* the oldest */
    CU_ASSERT(mock_pending_is(s, 2));
    CU_ASSERT(still_open(b));
    sleep_ms(SETTLE_MS);
    CU_ASSERT(real_session(port)); /* makes room by closing b */
    CU_ASSERT(closed_by_server(b, WAIT_MS));
    CU_ASSERT(still_open(c));
    pwsm_handshake_stats st;
    pwsm_get_handshake_stats(s, &st);
    CU_ASSERT_EQUAL(st.evicted, 2);
    CU_ASSERT_EQUAL(st.upgraded, 1);
    CU_ASSERT_EQUAL(st.timed_out + st.refused_full + st.refused_address, 0);
    CU_ASSERT_EQUAL(st.pending_peak, 2);
    close(a);
    close(b);
    close(c);
    pwsm_stop(s);
}

/* Hundreds of stalled connections from the same address: a real client still completes its
 * session, and the pending ones stay within the cap. */
static void test_mock_flood(void)
{
    enum { STALLERS = 300 };
    pwsm_server *s = mock_with(60000, 16, 0);
    CU_ASSERT_FATAL(s != NULL);
    int fds[STALLERS];
    for (int i = 0; i < STALLERS; i++)
        fds[i] = staller(pwsm_port(s));
    sleep_ms(SETTLE_MS);
    CU_ASSERT(real_session(pwsm_port(s)));
    pwsm_handshake_stats st;
    pwsm_get_handshake_stats(s, &st);
    CU_ASSERT(st.pending_peak <= 8); /* half of 16: one address */
    CU_ASSERT_EQUAL(st.upgraded, 1);
    CU_ASSERT(st.evicted + st.refused_full >= STALLERS - 8);
    CU_ASSERT_EQUAL(st.accepted, STALLERS + 1);
    for (int i = 0; i < STALLERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pwsm_stop(s);
}

/* max_per_address refuses connections beyond it, upgraded ones included; the refused
 * connection never upgrades. */
static void test_mock_per_address(void)
{
    pwsm_server *s = mock_with(60000, 0, 2);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    int a = staller(pwsm_port(s));
    CU_ASSERT(mock_pending_is(s, 1));
    const char *why = NULL;
    wsc *third = wsc_open(pwsm_port(s), false, NULL, "/stocks", &why);
    CU_ASSERT_PTR_NULL(third);
    wsc_free(third);
    pwsm_handshake_stats st;
    pwsm_get_handshake_stats(s, &st);
    CU_ASSERT_EQUAL(st.refused_address, 1);
    CU_ASSERT_EQUAL(st.upgraded, 1);
    close(a);
    wsc_free(c);
    /* both gone: the address may connect again */
    CU_ASSERT(mock_pending_is(s, 0));
    sleep_ms(SETTLE_MS);
    CU_ASSERT(real_session(pwsm_port(s)));
    pwsm_stop(s);
}

/* Out-of-range options are refused at start with the option's name. */
static void test_bad_options(void)
{
    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.max_pending = PWSM_MAX_PENDING + 1;
    char err[256] = "";
    CU_ASSERT_PTR_NULL(pwsm_start(&o, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_pending 65537"));
    char tape[300];
    path_of(tape, sizeof tape, "bad.tape");
    pwsr_proxy_options po = {.upstream = "ws://127.0.0.1:1", .tape_path = tape,
                             .handshake_timeout_ms = PWSR_MAX_HANDSHAKE_TIMEOUT_MS + 1};
    CU_ASSERT_PTR_NULL(pwsr_proxy_start(&po, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "proxy: handshake_timeout_ms 3600001 out of range"));
}

/* ------------------------------------------------------------------ the proxy */

static void quiet_log(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    (void)msg;
    (void)user;
}

static pwsr_proxy *proxy_to(pwsm_server *m, const char *tape_name, uint32_t timeout_ms, uint32_t max_clients)
{
    static char tape[300];
    path_of(tape, sizeof tape, tape_name);
    char up[128];
    snprintf(up, sizeof up, "%s", pwsm_url(m));
    pwsr_proxy_options o = {.upstream = up, .tape_path = tape, .max_clients = max_clients,
                            .handshake_timeout_ms = timeout_ms, .log_fn = quiet_log};
    char err[256];
    pwsr_proxy *p = pwsr_proxy_start(&o, err, sizeof err);
    if (!p)
        fprintf(stderr, "  pwsr_proxy_start: %s\n", err);
    return p;
}

static bool proxy_pending_is(pwsr_proxy *p, uint32_t want)
{
    pwsr_proxy_stats st;
    for (int64_t deadline = now_ms() + WAIT_MS; now_ms() < deadline; sleep_ms(10)) {
        pwsr_proxy_get_stats(p, &st);
        if (st.handshakes.pending == want)
            return true;
    }
    fprintf(stderr, "  proxy pending %u, expected %u\n", st.handshakes.pending, want);
    return false;
}

/* 70 stalled clients (more than the default max_clients of 64) do not count against
 * max_clients: real clients up to max_clients get through, one more gets HTTP 503. */
static void test_proxy_pending_not_counted(void)
{
    enum { STALLERS = 70 };
    pwsm_server *m = mock_with(0, 0, 0);
    CU_ASSERT_FATAL(m != NULL);
    pwsr_proxy *p = proxy_to(m, "pending.tape", 60000, 2);
    CU_ASSERT_FATAL(p != NULL);
    int port = pwsr_proxy_port(p);
    int fds[STALLERS];
    for (int i = 0; i < STALLERS; i++)
        fds[i] = staller(port);
    CU_ASSERT(proxy_pending_is(p, STALLERS));
    wsc *c1 = wsc_connect(port), *c2 = wsc_connect(port);
    CU_ASSERT(c1 != NULL && c2 != NULL);
    frame f;
    CU_ASSERT(c1 && wsc_recv_data(c1, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"connected\""));
    frame_free(&f);
    const char *why = NULL;
    wsc *c3 = wsc_open(port, false, NULL, "/stocks", &why);
    CU_ASSERT_PTR_NULL(c3);
    CU_ASSERT(why && !strcmp(why, "handshake status")); /* an HTTP answer that is not 101: the 503 */
    wsc_free(c3);
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.handshakes.pending, STALLERS);
    CU_ASSERT_EQUAL(st.handshakes.upgraded, 3);
    CU_ASSERT_EQUAL(st.connections, 2); /* the refused one is not on the tape */
    wsc_free(c1);
    wsc_free(c2);
    for (int i = 0; i < STALLERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pwsr_proxy_stop(p);
    pwsm_stop(m);
}

/* The proxy closes a client whose request is not complete in time, and counts it. */
static void test_proxy_timeout(void)
{
    pwsm_server *m = mock_with(0, 0, 0);
    CU_ASSERT_FATAL(m != NULL);
    pwsr_proxy *p = proxy_to(m, "timeout.tape", 300, 0);
    CU_ASSERT_FATAL(p != NULL);
    int fd = staller(pwsr_proxy_port(p));
    CU_ASSERT(closed_by_server(fd, WAIT_MS));
    close(fd);
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(p, &st);
    CU_ASSERT_EQUAL(st.handshakes.timed_out, 1);
    CU_ASSERT_EQUAL(st.handshakes.pending, 0);
    CU_ASSERT(real_session(pwsr_proxy_port(p)));
    pwsr_proxy_stop(p);
    pwsm_stop(m);
}

/* ------------------------------------------------------------------ the replayer */

/* The replayer times a stalled client out and still plays the tape to a real one. */
static void test_replayer_timeout(void)
{
    char tp[300];
    path_of(tp, sizeof tp, "replay.tape");
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .url = "ws://x", .tool = "test", .mode = "test"};
    pws_tape_writer *w;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_writer_open(tp, &h, false, &w, err, sizeof err), PWS_OK);
    const char *greet = "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]";
    pws_tape_frame fr[] = {
        {.t_us = 0, .conn = 1, .dir = '-', .kind = PWS_TAPE_OPEN, .data = (const unsigned char *)"/stocks", .len = 7},
        {.t_us = 10, .conn = 1, .dir = 's', .kind = PWS_TAPE_TEXT, .data = (const unsigned char *)greet,
         .len = strlen(greet)},
    };
    for (size_t i = 0; i < 2; i++)
        CU_ASSERT_EQUAL(pws_tape_write(w, &fr[i]), PWS_OK);
    pws_tape_writer_close(w);
    pwsr_replay_options o = {.tape_path = tp, .speed = -1, .handshake_timeout_ms = 300, .log_fn = quiet_log};
    pwsr_replayer *rp = pwsr_replay_start(&o, err, sizeof err);
    CU_ASSERT_FATAL(rp != NULL);
    int fd = staller(pwsr_replay_port(rp));
    CU_ASSERT(closed_by_server(fd, WAIT_MS));
    close(fd);
    wsc *c = wsc_connect(pwsr_replay_port(rp));
    CU_ASSERT_FATAL(c != NULL);
    frame f;
    CU_ASSERT(wsc_recv_data(c, WSC_RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"connected\""));
    frame_free(&f);
    wsc_free(c);
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    CU_ASSERT_EQUAL(res.handshakes.timed_out, 1);
    CU_ASSERT_EQUAL(res.handshakes.upgraded, 1);
    CU_ASSERT_EQUAL(res.served, 1); /* the stalled client played nothing */
    pwsr_replay_stop(rp);
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite("handshake", NULL, NULL);
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"mock: handshake timeout", test_mock_timeout},
        {"mock: the oldest pending is evicted", test_mock_evicts_oldest},
        {"mock: a real client through a flood", test_mock_flood},
        {"mock: max_per_address", test_mock_per_address},
        {"bad options", test_bad_options},
        {"proxy: pending clients do not count against max_clients", test_proxy_pending_not_counted},
        {"proxy: handshake timeout", test_proxy_timeout},
        {"replayer: handshake timeout", test_replayer_timeout},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            return 1;
    if (scratch_init("test_handshake") != 0)
        return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    scratch_clean();
    return failed ? 1 : 0;
}
