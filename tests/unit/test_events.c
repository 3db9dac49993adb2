/*
 * test_events.c - normalized event JSON (libpolyws, event_json.c).
 *
 * Fixed expectations for every event type, the snprintf-like return value
 * with small buffers, escaping, shortest round-trip numbers, and a property
 * test: random market-data events written as JSON and parsed back give the
 * same struct, bit for bit, and the same line again.
 */
#include <polyws/parse.h>

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[4096];

static const char *to_json(const pws_event *ev)
{
    size_t n = pws_event_to_json(ev, line, sizeof line);
    CU_ASSERT(n < sizeof line);
    CU_ASSERT_EQUAL(strlen(line), n);
    return line;
}

#define EXPECT_JSON(ev, expected)                                                                  \
    do {                                                                                           \
        const char *got_ = to_json(ev);                                                            \
        if (strcmp(got_, expected) != 0)                                                           \
            fprintf(stderr, "\n  got      %s\n  expected %s", got_, expected);                     \
        CU_ASSERT_STRING_EQUAL(got_, expected);                                                    \
    } while (0)

static pws_event blank(pws_event_type type)
{
    pws_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.conn = 3;               /* never printed */
    ev.recv_us = 1700000000123; /* never printed */
    return ev;
}

static void test_agg(void)
{
    pws_event ev = blank(PWS_EV_AGG);
    pws_agg *a = &ev.u.agg;
    strcpy(a->sym, "SPCE");
    EXPECT_JSON(&ev, "{\"ev\":\"A\",\"sym\":\"SPCE\"}");
    a->minute = true;
    a->present = 0x1FFF;
    a->v = 200;
    a->av = 8642007;
    a->op = 25.66;
    a->vw = 25.3981;
    a->o = 25.39;
    a->c = 25.4;
    a->h = 100;
    a->l = -0.0;
    a->a = 1e21;
    a->z = 50;
    a->s = 1610144868000;
    a->e = INT64_MIN;
    a->otc = false;
    EXPECT_JSON(&ev, "{\"ev\":\"AM\",\"sym\":\"SPCE\",\"v\":200,\"av\":8642007,\"op\":25.66,\"vw\":25.3981,"
                     "\"o\":25.39,\"c\":25.4,\"h\":100,\"l\":-0,\"a\":1e+21,\"z\":50,\"s\":1610144868000,"
                     "\"e\":-9223372036854775808,\"otc\":false}");
    a->present = PWS_AGG_H | PWS_AGG_OTC;
    a->otc = true;
    EXPECT_JSON(&ev, "{\"ev\":\"AM\",\"sym\":\"SPCE\",\"h\":100,\"otc\":true}");
}

static void test_trade(void)
{
    pws_event ev = blank(PWS_EV_TRADE);
    pws_trade *t = &ev.u.trade;
    strcpy(t->sym, "MSFT");
    strcpy(t->i, "12345");
    t->present = 0x3FF;
    t->x = 4;
    t->z = 3;
    t->p = 114.125;
    t->s = 100;
    t->nc = 2;
    t->c[0] = 0;
    t->c[1] = 12;
    t->t = 1536036818784;
    t->q = 3681328;
    t->trfi = 202;
    t->trft = 1536036818780;
    EXPECT_JSON(&ev, "{\"ev\":\"T\",\"sym\":\"MSFT\",\"x\":4,\"i\":\"12345\",\"z\":3,\"p\":114.125,\"s\":100,"
                     "\"c\":[0,12],\"t\":1536036818784,\"q\":3681328,\"trfi\":202,\"trft\":1536036818780}");
    t->present = PWS_TRADE_C;
    t->nc = 0;
    EXPECT_JSON(&ev, "{\"ev\":\"T\",\"sym\":\"MSFT\",\"c\":[]}");
    t->nc = 1000; /* a corrupt count is clamped, never read past the array */
    to_json(&ev);
}

static void test_quote(void)
{
    pws_event ev = blank(PWS_EV_QUOTE);
    pws_quote *q = &ev.u.quote;
    strcpy(q->sym, "MSFT");
    q->present = 0x7FF;
    q->bx = 4;
    q->bp = 114.125;
    q->bs = 100;
    q->ax = 7;
    q->ap = 114.128;
    q->as = 160;
    q->c = 1;
    q->ni = 1;
    q->i[0] = 604;
    q->t = 1536036818784;
    q->q = 50385480;
    q->z = 3;
    EXPECT_JSON(&ev, "{\"ev\":\"Q\",\"sym\":\"MSFT\",\"bx\":4,\"bp\":114.125,\"bs\":100,\"ax\":7,\"ap\":114.128,"
                     "\"as\":160,\"c\":1,\"i\":[604],\"t\":1536036818784,\"q\":50385480,\"z\":3}");
}

static void test_status(void)
{
    pws_event ev = blank(PWS_EV_STATUS);
    ev.u.status.kind = PWS_STATUS_AUTH_SUCCESS;
    strcpy(ev.u.status.status, "auth_success");
    strcpy(ev.u.status.message, "authenticated");
    EXPECT_JSON(&ev, "{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}");
    ev.u.status.truncated = true;
    strcpy(ev.u.status.message, "say \"hi\"\\\n\t\x01\x1f\x7f \xc3\xa9");
    EXPECT_JSON(&ev, "{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"say \\\"hi\\\"\\\\\\n\\t"
                     "\\u0001\\u001f\x7f \xc3\xa9\",\"truncated\":true}");
    /* a buffer without a NUL is bounded by its size */
    memset(ev.u.status.status, 'w', sizeof ev.u.status.status);
    ev.u.status.truncated = false;
    strcpy(ev.u.status.message, "");
    EXPECT_JSON(&ev, "{\"ev\":\"status\",\"status\":\"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\",\"message\":\"\"}");
}

static void test_other(void)
{
    pws_event ev = blank(PWS_EV_OTHER);
    const char raw[] = " \n{\"ev\":\"LULD\",\"T\":\"MSFT\", \"h\" : 218.96}\r\n\t ";
    strcpy(ev.u.other.ev, "LULD");
    ev.u.other.json = raw;
    ev.u.other.json_len = strlen(raw);
    EXPECT_JSON(&ev, "{\"ev\":\"LULD\",\"T\":\"MSFT\", \"h\" : 218.96}");
    ev.u.other.json = NULL;
    ev.u.other.json_len = 0;
    EXPECT_JSON(&ev, "{\"ev\":\"LULD\"}");
}

static void test_parse_error(void)
{
    pws_event ev = blank(PWS_EV_PARSE_ERROR);
    ev.u.error.offset = 25;
    ev.u.error.frame_len = 40;
    ev.u.error.reason = "expected a number";
    strcpy(ev.u.error.excerpt, "\"p\":\"abc\"}]");
    EXPECT_JSON(&ev, "{\"ev\":\"parse_error\",\"offset\":25,\"reason\":\"expected a number\","
                     "\"excerpt\":\"\\\"p\\\":\\\"abc\\\"}]\"}");
    ev.u.error.reason = NULL;
    ev.u.error.excerpt[0] = '\0';
    EXPECT_JSON(&ev, "{\"ev\":\"parse_error\",\"offset\":25,\"reason\":\"\",\"excerpt\":\"\"}");
}

static void test_connection(void)
{
    static const char *const states[] = { "connecting", "open",  "authenticated", "disconnected",
                                          "reconnect_wait", "fatal", "stopped" };
    char expected[512];
    pws_event ev = blank(PWS_EV_CONNECTION);
    for (int s = 0; s < 7; s++) {
        ev.u.conn.state = (pws_conn_state)s;
        ev.u.conn.err = s == 3 ? -9 : 0;
        ev.u.conn.close_code = s == 3 ? 1008 : 0;
        ev.u.conn.attempt = (uint32_t)s;
        ev.u.conn.delay_ms = s == 4 ? 4000000000u : 0;
        snprintf(ev.u.conn.reason, sizeof ev.u.conn.reason, "reason %d", s);
        snprintf(expected, sizeof expected,
                 "{\"ev\":\"connection\",\"state\":\"%s\",\"err\":%d,\"close_code\":%d,\"attempt\":%d,"
                 "\"delay_ms\":%s,\"reason\":\"reason %d\"}",
                 states[s], s == 3 ? -9 : 0, s == 3 ? 1008 : 0, s, s == 4 ? "4000000000" : "0", s);
        EXPECT_JSON(&ev, expected);
    }
}

static void test_unknown_and_null(void)
{
    pws_event ev = blank((pws_event_type)77);
    EXPECT_JSON(&ev, "{\"ev\":\"unknown\"}");
    char buf[8] = "xxxxxxx";
    CU_ASSERT_EQUAL(pws_event_to_json(NULL, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
}

static void test_small_buffers(void)
{
    pws_event ev = blank(PWS_EV_TRADE);
    strcpy(ev.u.trade.sym, "MSFT");
    ev.u.trade.present = PWS_TRADE_P;
    ev.u.trade.p = 1.5;
    const char *full = "{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.5}";
    size_t need = strlen(full);
    char buf[64];
    CU_ASSERT_EQUAL(pws_event_to_json(&ev, NULL, 0), need);
    for (size_t cap = 1; cap <= need + 1; cap++) {
        memset(buf, '#', sizeof buf);
        CU_ASSERT_EQUAL(pws_event_to_json(&ev, buf, cap), need);
        CU_ASSERT_EQUAL(strlen(buf), cap - 1 < need ? cap - 1 : need);
        CU_ASSERT_EQUAL(strncmp(buf, full, cap - 1), 0);
        CU_ASSERT_EQUAL(buf[cap], '#'); /* nothing written past cap */
    }
}

static void test_shortest_numbers(void)
{
    static const struct {
        double v;          /* value */
        const char *text;  /* expected text */
    } cases[] = {
        { 0.1, "0.1" },
        { 0.3, "0.3" },
        { 0.1 + 0.2, "0.30000000000000004" },
        { 1.0 / 3.0, "0.3333333333333333" },
        { 2.0 / 3.0, "0.6666666666666666" },
        { 100, "100" },
        { 123456789012345678.0, "1.2345678901234568e+17" },
        { 1e21, "1e+21" },
        { 1e-7, "1e-07" },
        { 5e-324, "4.94065645841247e-324" }, /* any nearby literal reads back as the smallest subnormal */
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { -0.0, "-0" },
        { 0.0, "0" },
        { 114.125, "114.125" },
        { 25.3981, "25.3981" },
    };
    pws_event ev = blank(PWS_EV_TRADE);
    char expected[128];
    strcpy(ev.u.trade.sym, "S");
    ev.u.trade.present = PWS_TRADE_P;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ev.u.trade.p = cases[i].v;
        snprintf(expected, sizeof expected, "{\"ev\":\"T\",\"sym\":\"S\",\"p\":%s}", cases[i].text);
        EXPECT_JSON(&ev, expected);
    }
    /* non-finite values (never produced by the parser) become null */
    ev.u.trade.p = NAN;
    EXPECT_JSON(&ev, "{\"ev\":\"T\",\"sym\":\"S\",\"p\":null}");
    ev.u.trade.p = -INFINITY;
    EXPECT_JSON(&ev, "{\"ev\":\"T\",\"sym\":\"S\",\"p\":null}");
}

/* ---------------------------------------------------------- round trip */

static uint64_t rng = 0xC0FFEE;

static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double random_double(void)
{
    for (;;) {
        uint64_t bits = next_u64();
        double d;
        if (bits & 1) /* half feed-like prices, half any finite double */
            return (double)(int64_t)(next_u64() % 100000000) / 10000.0;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            return d;
    }
}

static int64_t random_i64(void)
{
    return (int64_t)(next_u64() >> (next_u64() % 64)) * ((next_u64() & 1) ? -1 : 1);
}

static void random_string(char *out, size_t cap)
{
    static const char *const pieces[] = { "A", "z", "9", ".", "\"", "\\", "\n", "\x01", "\xc3\xa9", "\xe2\x82\xac",
                                          "\xf0\x9f\x98\x80", " ", "/" };
    size_t n = 0, want = next_u64() % cap;
    out[0] = '\0';
    while (n < want) {
        const char *p = pieces[next_u64() % (sizeof pieces / sizeof pieces[0])];
        size_t k = strlen(p);
        if (n + k >= cap)
            break;
        memcpy(out + n, p, k + 1);
        n += k;
    }
}

static pws_event random_event(void)
{
    pws_event ev;
    memset(&ev, 0, sizeof ev);
    switch (next_u64() % 3) {
    case 0: {
        pws_agg *a = &ev.u.agg;
        ev.type = PWS_EV_AGG;
        random_string(a->sym, sizeof a->sym);
        a->minute = next_u64() & 1;
        a->present = (uint32_t)(next_u64() & 0x1FFF);
        a->v = (a->present & PWS_AGG_V) ? random_i64() : 0;
        a->av = (a->present & PWS_AGG_AV) ? random_i64() : 0;
        a->op = (a->present & PWS_AGG_OP) ? random_double() : 0;
        a->vw = (a->present & PWS_AGG_VW) ? random_double() : 0;
        a->o = (a->present & PWS_AGG_O) ? random_double() : 0;
        a->c = (a->present & PWS_AGG_C) ? random_double() : 0;
        a->h = (a->present & PWS_AGG_H) ? random_double() : 0;
        a->l = (a->present & PWS_AGG_L) ? random_double() : 0;
        a->a = (a->present & PWS_AGG_A) ? random_double() : 0;
        a->z = (a->present & PWS_AGG_Z) ? random_i64() : 0;
        a->s = (a->present & PWS_AGG_S) ? random_i64() : 0;
        a->e = (a->present & PWS_AGG_E) ? random_i64() : 0;
        a->otc = (a->present & PWS_AGG_OTC) ? (next_u64() & 1) : 0;
        break;
    }
    case 1: {
        pws_trade *t = &ev.u.trade;
        ev.type = PWS_EV_TRADE;
        random_string(t->sym, sizeof t->sym);
        t->present = (uint32_t)(next_u64() & 0x3FF);
        if (t->present & PWS_TRADE_I)
            random_string(t->i, sizeof t->i);
        t->x = (t->present & PWS_TRADE_X) ? (int32_t)random_i64() : 0;
        t->z = (t->present & PWS_TRADE_Z) ? (int32_t)random_i64() : 0;
        t->p = (t->present & PWS_TRADE_P) ? random_double() : 0;
        t->s = (t->present & PWS_TRADE_S) ? random_i64() : 0;
        if (t->present & PWS_TRADE_C) {
            t->nc = (uint32_t)(next_u64() % (PWS_MAX_CONDITIONS + 1));
            for (uint32_t k = 0; k < t->nc; k++)
                t->c[k] = (int32_t)random_i64();
        }
        t->t = (t->present & PWS_TRADE_T) ? random_i64() : 0;
        t->q = (t->present & PWS_TRADE_Q) ? random_i64() : 0;
        t->trfi = (t->present & PWS_TRADE_TRFI) ? (int32_t)random_i64() : 0;
        t->trft = (t->present & PWS_TRADE_TRFT) ? random_i64() : 0;
        break;
    }
    default: {
        pws_quote *q = &ev.u.quote;
        ev.type = PWS_EV_QUOTE;
        random_string(q->sym, sizeof q->sym);
        q->present = (uint32_t)(next_u64() & 0x7FF);
        q->bx = (q->present & PWS_QUOTE_BX) ? (int32_t)random_i64() : 0;
        q->bp = (q->present & PWS_QUOTE_BP) ? random_double() : 0;
        q->bs = (q->present & PWS_QUOTE_BS) ? random_i64() : 0;
        q->ax = (q->present & PWS_QUOTE_AX) ? (int32_t)random_i64() : 0;
        q->ap = (q->present & PWS_QUOTE_AP) ? random_double() : 0;
        q->as = (q->present & PWS_QUOTE_AS) ? random_i64() : 0;
        q->c = (q->present & PWS_QUOTE_C) ? (int32_t)random_i64() : 0;
        if (q->present & PWS_QUOTE_I) {
            q->ni = (uint32_t)(next_u64() % (PWS_MAX_CONDITIONS + 1));
            for (uint32_t k = 0; k < q->ni; k++)
                q->i[k] = (int32_t)random_i64();
        }
        q->t = (q->present & PWS_QUOTE_T) ? random_i64() : 0;
        q->q = (q->present & PWS_QUOTE_Q) ? random_i64() : 0;
        q->z = (q->present & PWS_QUOTE_Z) ? (int32_t)random_i64() : 0;
        break;
    }
    }
    return ev;
}

/* What the parser gave back. */
static struct {
    pws_event ev; /* the single event */
    int count;    /* events received */
} back;

static int keep(const pws_event *ev, void *user)
{
    (void)user;
    back.ev = *ev;
    back.count++;
    return 0;
}

static void test_round_trip(void)
{
    char frame[sizeof line + 2], again[sizeof line];
    int failures = 0;
    for (int i = 0; i < 100000; i++) {
        pws_event ev = random_event();
        size_t n = pws_event_to_json(&ev, line, sizeof line);
        CU_ASSERT_FATAL(n < sizeof line);
        frame[0] = '[';
        memcpy(frame + 1, line, n);
        frame[n + 1] = ']';
        memset(&back, 0, sizeof back);
        pws_parse_frame(frame, n + 2, NULL, keep, NULL);
        bool same = back.count == 1 && memcmp(&back.ev.u, &ev.u, sizeof ev.u) == 0 && back.ev.type == ev.type;
        pws_event_to_json(&back.ev, again, sizeof again);
        same = same && strcmp(again, line) == 0;
        if (!same && failures++ < 5)
            fprintf(stderr, "\n  round trip failed:\n  %s\n  %s", line, again);
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* The same event always gives the same bytes, whatever the locale. */
static void test_stable_and_locale(void)
{
    static const char *const locales[] = { "de_DE.UTF-8", "de_DE", "fr_FR.UTF-8", "ru_RU.UTF-8" };
    char first[sizeof line];
    pws_event ev = blank(PWS_EV_AGG);
    strcpy(ev.u.agg.sym, "X");
    ev.u.agg.present = PWS_AGG_O | PWS_AGG_VW;
    ev.u.agg.o = 25.39;
    ev.u.agg.vw = 1.0 / 3.0;
    snprintf(first, sizeof first, "%s", to_json(&ev));
    CU_ASSERT_STRING_EQUAL(first, "{\"ev\":\"A\",\"sym\":\"X\",\"vw\":0.3333333333333333,\"o\":25.39}");
    ev.conn = 99;
    ev.recv_us = 42;
    CU_ASSERT_STRING_EQUAL(to_json(&ev), first);
    char *saved = strdup(setlocale(LC_NUMERIC, NULL));
    bool switched = false;
    for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !switched; i++)
        switched = setlocale(LC_NUMERIC, locales[i]) != NULL;
    CU_ASSERT_STRING_EQUAL(to_json(&ev), first);
    setlocale(LC_NUMERIC, saved);
    free(saved);
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("events", NULL, NULL);
    if (suite == NULL || !CU_add_test(suite, "aggregate", test_agg) || !CU_add_test(suite, "trade", test_trade) ||
        !CU_add_test(suite, "quote", test_quote) || !CU_add_test(suite, "status", test_status) ||
        !CU_add_test(suite, "other", test_other) || !CU_add_test(suite, "parse error", test_parse_error) ||
        !CU_add_test(suite, "connection", test_connection) ||
        !CU_add_test(suite, "unknown type and NULL", test_unknown_and_null) ||
        !CU_add_test(suite, "small buffers", test_small_buffers) ||
        !CU_add_test(suite, "shortest numbers", test_shortest_numbers) ||
        !CU_add_test(suite, "round trip through the parser", test_round_trip) ||
        !CU_add_test(suite, "stable bytes, any locale", test_stable_and_locale)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
