/*
 * test_parse.c - the frame parser (libpolyws, parse.c).
 *
 * Every frame is copied into a heap buffer of exactly its length before it is
 * parsed, so a read past `len` is caught when the suite runs under ASan.
 * Most checks compare the normalized JSON lines of the events
 * (pws_event_to_json), which pins down every field and presence bit at once;
 * a few look at the structs directly.
 *
 * The whole suite runs once per kernel setting (parse_kernels.h), named by
 * the first argument: "all" (the default: schema fast path and SIMD),
 * "swar" (the fast path with the portable 8-byte string scan) and "general"
 * (no fast path: every element on the general path).  ctest runs all three.
 */
#include "parse_kernels.h"

#include <polyws/parse.h>

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ collector */

#define MAX_EVENTS 256
#define OUT_MAX 65536

/* What a parse produced. */
typedef struct collected {
    pws_event ev[MAX_EVENTS]; /* events, copied (OTHER json pointers are cleared) */
    size_t other_off[MAX_EVENTS]; /* OTHER: offset of json in the frame */
    size_t n;                 /* events received */
    long rc;                  /* return value of pws_parse_frame */
    const char *frame;        /* the heap copy being parsed */
    char lines[OUT_MAX];      /* JSON lines of all events, '\n'-separated */
    size_t used;              /* bytes in lines */
    int stop_after;           /* return non-zero after this many events (0 = never) */
} collected;

static int collect(const pws_event *ev, void *user)
{
    collected *c = user;
    if (c->n < MAX_EVENTS) {
        c->ev[c->n] = *ev;
        if (ev->type == PWS_EV_OTHER) {
            /* json must point into the frame */
            CU_ASSERT(ev->u.other.json >= c->frame);
            c->other_off[c->n] = (size_t)(ev->u.other.json - c->frame);
            c->ev[c->n].u.other.json = NULL;
        }
    }
    if (c->used < OUT_MAX - 1) {
        size_t need = pws_event_to_json(ev, c->lines + c->used, OUT_MAX - c->used);
        c->used += need < OUT_MAX - c->used ? need : OUT_MAX - 1 - c->used;
        if (c->used < OUT_MAX - 1)
            c->lines[c->used++] = '\n';
        c->lines[c->used] = '\0';
    }
    c->n++;
    return c->stop_after > 0 && c->n >= (size_t)c->stop_after;
}

static collected result; /* one at a time; big, so not on the stack */

/* Parses frame[0..len) from an exact-size heap copy. */
static collected *parse_n(const char *frame, size_t len, const pws_parse_limits *limits)
{
    char *copy = malloc(len ? len : 1);
    memset(&result, 0, sizeof result);
    memcpy(copy, frame, len);
    result.frame = copy;
    result.rc = pws_parse_frame(copy, len, limits, collect, &result);
    free(copy);
    result.frame = NULL;
    CU_ASSERT_EQUAL(result.rc, (long)result.n);
    return &result;
}

static collected *parse(const char *frame)
{
    return parse_n(frame, strlen(frame), NULL);
}

/* Asserts the JSON lines of a frame's events. */
#define EXPECT_LINES(frame, expected)                                                              \
    do {                                                                                           \
        collected *c_ = parse(frame);                                                              \
        if (strcmp(c_->lines, expected) != 0)                                                      \
            fprintf(stderr, "\n  frame:    %s\n  got:      %s  expected: %s", frame, c_->lines,    \
                    expected);                                                                     \
        CU_ASSERT_STRING_EQUAL(c_->lines, expected);                                               \
    } while (0)

/* The last event must be a parse error with this reason at this offset. */
static void expect_last_error(const collected *c, const char *reason, size_t offset)
{
    CU_ASSERT_TRUE_FATAL(c->n > 0);
    const pws_event *ev = &c->ev[c->n - 1];
    CU_ASSERT_EQUAL_FATAL(ev->type, PWS_EV_PARSE_ERROR);
    if (strcmp(ev->u.error.reason, reason) != 0 || ev->u.error.offset != offset)
        fprintf(stderr, "\n  got \"%s\" at %zu, expected \"%s\" at %zu (excerpt \"%s\")", ev->u.error.reason,
                ev->u.error.offset, reason, offset, ev->u.error.excerpt);
    CU_ASSERT_STRING_EQUAL(ev->u.error.reason, reason);
    CU_ASSERT_EQUAL(ev->u.error.offset, offset);
}

/* Offset of the first occurrence of needle in frame. */
static size_t off(const char *frame, const char *needle)
{
    const char *at = strstr(frame, needle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    return (size_t)(at - frame);
}

/* Syntax error: `before` good events, then the error, and nothing else. */
static void expect_syntax_error(const char *frame, size_t before, const char *reason, size_t offset)
{
    collected *c = parse(frame);
    if (c->n != before + 1)
        fprintf(stderr, "\n  frame %s: %zu events, expected %zu\n%s", frame, c->n, before + 1, c->lines);
    CU_ASSERT_EQUAL(c->n, before + 1);
    for (size_t i = 0; i < before && i < c->n; i++)
        CU_ASSERT_NOT_EQUAL(c->ev[i].type, PWS_EV_PARSE_ERROR);
    expect_last_error(c, reason, offset);
    CU_ASSERT_EQUAL(c->ev[c->n - 1].u.error.frame_len, strlen(frame));
}

static const char TRADE[] = "{\"ev\":\"T\",\"sym\":\"MSFT\",\"x\":4,\"i\":\"12345\",\"z\":3,\"p\":114.125,\"s\":100,"
                            "\"c\":[0,12],\"t\":1536036818784,\"q\":3681328}";

/* ------------------------------------------------------------ event types */

static void test_agg_all_fields(void)
{
    const char *frame = "[{\"ev\":\"A\",\"sym\":\"SPCE\",\"v\":200,\"av\":8642007,\"op\":25.66,\"vw\":25.3981,"
                        "\"o\":25.39,\"c\":25.4,\"h\":25.41,\"l\":25.38,\"a\":25.3714,\"z\":50,\"s\":1610144868000,"
                        "\"e\":1610144869000,\"otc\":true},"
                        "{\"ev\":\"AM\",\"sym\":\"X\",\"otc\":false}]";
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 2);
    const pws_agg *a = &c->ev[0].u.agg;
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_AGG);
    CU_ASSERT_EQUAL(c->ev[0].recv_us, 0);
    CU_ASSERT_STRING_EQUAL(a->sym, "SPCE");
    CU_ASSERT_FALSE(a->minute);
    CU_ASSERT_TRUE(a->otc);
    CU_ASSERT_EQUAL(a->present, 0x1FFFu);
    CU_ASSERT_EQUAL(a->v, 200);
    CU_ASSERT_EQUAL(a->av, 8642007);
    CU_ASSERT_EQUAL(a->op, 25.66);
    CU_ASSERT_EQUAL(a->vw, 25.3981);
    CU_ASSERT_EQUAL(a->o, 25.39);
    CU_ASSERT_EQUAL(a->c, 25.4);
    CU_ASSERT_EQUAL(a->h, 25.41);
    CU_ASSERT_EQUAL(a->l, 25.38);
    CU_ASSERT_EQUAL(a->a, 25.3714);
    CU_ASSERT_EQUAL(a->z, 50);
    CU_ASSERT_EQUAL(a->s, 1610144868000);
    CU_ASSERT_EQUAL(a->e, 1610144869000);
    const pws_agg *am = &c->ev[1].u.agg;
    CU_ASSERT_TRUE(am->minute);
    CU_ASSERT_FALSE(am->otc);
    CU_ASSERT_EQUAL(am->present, PWS_AGG_OTC);
    CU_ASSERT_STRING_EQUAL(pws_event_symbol(&c->ev[1]), "X");
    CU_ASSERT_STRING_EQUAL(c->lines,
                           "{\"ev\":\"A\",\"sym\":\"SPCE\",\"v\":200,\"av\":8642007,\"op\":25.66,\"vw\":25.3981,"
                           "\"o\":25.39,\"c\":25.4,\"h\":25.41,\"l\":25.38,\"a\":25.3714,\"z\":50,"
                           "\"s\":1610144868000,\"e\":1610144869000,\"otc\":true}\n"
                           "{\"ev\":\"AM\",\"sym\":\"X\",\"otc\":false}\n");
}

static void test_trade_all_fields(void)
{
    const char *frame = "[{\"ev\":\"T\",\"sym\":\"MSFT\",\"x\":4,\"i\":\"12345\",\"z\":3,\"p\":114.125,\"s\":100,"
                        "\"c\":[0,12,-7,2147483647],\"t\":1536036818784,\"q\":3681328,\"trfi\":202,"
                        "\"trft\":1536036818780}]";
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 1);
    const pws_trade *t = &c->ev[0].u.trade;
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    CU_ASSERT_STRING_EQUAL(t->sym, "MSFT");
    CU_ASSERT_STRING_EQUAL(t->i, "12345");
    CU_ASSERT_EQUAL(t->present, 0x3FFu);
    CU_ASSERT_EQUAL(t->x, 4);
    CU_ASSERT_EQUAL(t->z, 3);
    CU_ASSERT_EQUAL(t->p, 114.125);
    CU_ASSERT_EQUAL(t->s, 100);
    CU_ASSERT_EQUAL(t->nc, 4);
    CU_ASSERT_EQUAL(t->c[0], 0);
    CU_ASSERT_EQUAL(t->c[1], 12);
    CU_ASSERT_EQUAL(t->c[2], -7);
    CU_ASSERT_EQUAL(t->c[3], 2147483647);
    CU_ASSERT_EQUAL(t->c[4], 0);
    CU_ASSERT_EQUAL(t->t, 1536036818784);
    CU_ASSERT_EQUAL(t->q, 3681328);
    CU_ASSERT_EQUAL(t->trfi, 202);
    CU_ASSERT_EQUAL(t->trft, 1536036818780);
    /* only some fields: presence bits follow */
    c = parse("[{\"ev\":\"T\",\"sym\":\"A\",\"p\":1}]");
    CU_ASSERT_EQUAL(c->ev[0].u.trade.present, PWS_TRADE_P);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.nc, 0);
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"c\":[]}]", "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[]}\n");
}

static void test_quote_all_fields(void)
{
    const char *frame = "[{\"ev\":\"Q\",\"sym\":\"MSFT\",\"bx\":4,\"bp\":114.125,\"bs\":100,\"ax\":7,\"ap\":114.128,"
                        "\"as\":160,\"c\":1,\"i\":[604,605],\"t\":1536036818784,\"q\":50385480,\"z\":3}]";
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 1);
    const pws_quote *q = &c->ev[0].u.quote;
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_QUOTE);
    CU_ASSERT_STRING_EQUAL(q->sym, "MSFT");
    CU_ASSERT_EQUAL(q->present, 0x7FFu);
    CU_ASSERT_EQUAL(q->bx, 4);
    CU_ASSERT_EQUAL(q->bp, 114.125);
    CU_ASSERT_EQUAL(q->bs, 100);
    CU_ASSERT_EQUAL(q->ax, 7);
    CU_ASSERT_EQUAL(q->ap, 114.128);
    CU_ASSERT_EQUAL(q->as, 160);
    CU_ASSERT_EQUAL(q->c, 1);
    CU_ASSERT_EQUAL(q->ni, 2);
    CU_ASSERT_EQUAL(q->i[0], 604);
    CU_ASSERT_EQUAL(q->i[1], 605);
    CU_ASSERT_EQUAL(q->t, 1536036818784);
    CU_ASSERT_EQUAL(q->q, 50385480);
    CU_ASSERT_EQUAL(q->z, 3);
    CU_ASSERT_STRING_EQUAL(c->lines,
                           "{\"ev\":\"Q\",\"sym\":\"MSFT\",\"bx\":4,\"bp\":114.125,\"bs\":100,\"ax\":7,"
                           "\"ap\":114.128,\"as\":160,\"c\":1,\"i\":[604,605],\"t\":1536036818784,"
                           "\"q\":50385480,\"z\":3}\n");
}

static void test_status(void)
{
    static const struct {
        const char *word;     /* status word */
        pws_status_kind kind; /* expected kind */
    } words[] = {
        { "connected", PWS_STATUS_CONNECTED },       { "auth_success", PWS_STATUS_AUTH_SUCCESS },
        { "auth_failed", PWS_STATUS_AUTH_FAILED },   { "auth_timeout", PWS_STATUS_AUTH_TIMEOUT },
        { "auth_required", PWS_STATUS_AUTH_REQUIRED }, { "success", PWS_STATUS_SUCCESS },
        { "error", PWS_STATUS_ERROR },               { "max_connections", PWS_STATUS_MAX_CONNECTIONS },
        { "force_disconnect", PWS_STATUS_FORCE_DISCONNECT }, { "slow_consumer", PWS_STATUS_SLOW_CONSUMER },
        { "something_new", PWS_STATUS_UNKNOWN },     { "", PWS_STATUS_UNKNOWN },
    };
    char frame[256];
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        snprintf(frame, sizeof frame, "[{\"ev\":\"status\",\"status\":\"%s\",\"message\":\"m %zu\"}]", words[i].word, i);
        collected *c = parse(frame);
        CU_ASSERT_EQUAL_FATAL(c->n, 1);
        CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_STATUS);
        CU_ASSERT_EQUAL(c->ev[0].u.status.kind, words[i].kind);
        CU_ASSERT_STRING_EQUAL(c->ev[0].u.status.status, words[i].word);
        CU_ASSERT_FALSE(c->ev[0].u.status.truncated);
        CU_ASSERT_EQUAL(pws_status_kind_from_word(words[i].word, strlen(words[i].word)), words[i].kind);
        if (words[i].kind != PWS_STATUS_UNKNOWN)
            CU_ASSERT_STRING_EQUAL(pws_status_kind_name(words[i].kind), words[i].word);
    }
    EXPECT_LINES("[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]",
                 "{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}\n");
    /* message after status or before, escapes decoded, missing fields empty */
    EXPECT_LINES("[{\"message\":\"a\\\"b\\\\c\\u00e9\",\"ev\":\"status\"}]",
                 "{\"ev\":\"status\",\"status\":\"\",\"message\":\"a\\\"b\\\\c\xc3\xa9\"}\n");
    CU_ASSERT_EQUAL(pws_status_kind_from_word("auth_success_x", 14), PWS_STATUS_UNKNOWN);
    CU_ASSERT_EQUAL(pws_status_kind_from_word("auth_success", 4), PWS_STATUS_UNKNOWN);
    CU_ASSERT_EQUAL(pws_status_kind_from_word(NULL, 0), PWS_STATUS_UNKNOWN);
}

static void test_status_truncated(void)
{
    char frame[1024], msg[400];
    /* a message of 300 bytes of 2-byte UTF-8 characters is cut at a code
     * point boundary below PWS_MESSAGE_MAX */
    size_t n = 0;
    while (n + 2 < sizeof msg - 1 && n < 300) {
        msg[n++] = '\xc3';
        msg[n++] = '\xa9';
    }
    msg[n] = '\0';
    snprintf(frame, sizeof frame, "[{\"ev\":\"status\",\"status\":\"a_very_long_status_word_beyond_32\",\"message\":\"%s\"}]",
             msg);
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 1);
    const pws_status *st = &c->ev[0].u.status;
    CU_ASSERT_TRUE(st->truncated);
    CU_ASSERT_EQUAL(st->kind, PWS_STATUS_UNKNOWN);
    CU_ASSERT_EQUAL(strlen(st->status), PWS_STATUS_MAX - 1);
    CU_ASSERT_EQUAL(strlen(st->message), PWS_MESSAGE_MAX - 2); /* 254: 127 whole characters */
    CU_ASSERT_EQUAL((unsigned char)st->message[strlen(st->message) - 1], 0xa9);
    /* a known word cut short is not mistaken for the word */
    c = parse("[{\"ev\":\"status\",\"status\":\"auth_failed_and_then_some_more_text\"}]");
    CU_ASSERT_EQUAL(c->ev[0].u.status.kind, PWS_STATUS_UNKNOWN);
    CU_ASSERT_TRUE(c->ev[0].u.status.truncated);
    /* a message of exactly 255 bytes fits */
    memset(msg, 'm', 255);
    msg[255] = '\0';
    snprintf(frame, sizeof frame, "[{\"ev\":\"status\",\"message\":\"%s\"}]", msg);
    c = parse(frame);
    CU_ASSERT_FALSE(c->ev[0].u.status.truncated);
    CU_ASSERT_STRING_EQUAL(c->ev[0].u.status.message, msg);
}

static void test_other_passthrough(void)
{
    const char *frame = "[ {\"ev\":\"LULD\",\"T\":\"MSFT\",\"h\":218.96,\"l\":198.11,\"i\":[21],\"z\":3,\"t\":1601316752683746,"
                        "\"q\":290317}, {\"sym\":\"X\",\"ev\":\"XT\",\"nested\":{\"a\":[1,{\"b\":null}]}} ,"
                        "{\"ev\":\"ThisIsAVeryLongEventName\",\"x\":1}, {\"ev\":\"\"}, {\"ev\":\"\\u0054\",\"sym\":\"E\"} ]";
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 5);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_OTHER);
    CU_ASSERT_STRING_EQUAL(c->ev[0].u.other.ev, "LULD");
    CU_ASSERT_EQUAL(c->other_off[0], off(frame, "{\"ev\":\"LULD\""));
    CU_ASSERT_EQUAL(c->ev[0].u.other.json_len, strlen("{\"ev\":\"LULD\",\"T\":\"MSFT\",\"h\":218.96,\"l\":198.11,"
                                                      "\"i\":[21],\"z\":3,\"t\":1601316752683746,\"q\":290317}"));
    CU_ASSERT_STRING_EQUAL(c->ev[1].u.other.ev, "XT");
    CU_ASSERT_EQUAL(c->other_off[1], off(frame, "{\"sym\":\"X\""));
    CU_ASSERT_STRING_EQUAL(c->ev[2].u.other.ev, "ThisIsAVeryLong"); /* 15 bytes + NUL */
    CU_ASSERT_EQUAL(c->ev[2].u.other.json_len, strlen("{\"ev\":\"ThisIsAVeryLongEventName\",\"x\":1}"));
    CU_ASSERT_STRING_EQUAL(c->ev[3].u.other.ev, "");
    CU_ASSERT_EQUAL(c->ev[4].type, PWS_EV_TRADE); /* "\u0054" is "T" */
    CU_ASSERT_STRING_EQUAL(c->lines,
                           "{\"ev\":\"LULD\",\"T\":\"MSFT\",\"h\":218.96,\"l\":198.11,\"i\":[21],\"z\":3,"
                           "\"t\":1601316752683746,\"q\":290317}\n"
                           "{\"sym\":\"X\",\"ev\":\"XT\",\"nested\":{\"a\":[1,{\"b\":null}]}}\n"
                           "{\"ev\":\"ThisIsAVeryLongEventName\",\"x\":1}\n"
                           "{\"ev\":\"\"}\n"
                           "{\"ev\":\"T\",\"sym\":\"E\"}\n");
}

/* ------------------------------------------------------------ syntax forms */

/* Shuffles the members of the flat object `obj` (keys and values without
 * commas inside values except inside [...]) into out. */
static void shuffle_members(const char *obj, char *out, unsigned seed)
{
    const char *members[32];
    size_t lens[32], n = 0;
    const char *p = obj + 1;
    while (*p != '}' && n < 32) {
        const char *start = p;
        int depth = 0;
        bool in_str = false;
        for (; *p; p++) {
            if (in_str) {
                if (*p == '\\')
                    p++;
                else if (*p == '"')
                    in_str = false;
            } else if (*p == '"') {
                in_str = true;
            } else if (*p == '[' || *p == '{') {
                depth++;
            } else if (*p == ']' || (*p == '}' && depth > 0)) {
                depth--;
            } else if ((*p == ',' || *p == '}') && depth == 0) {
                break;
            }
        }
        members[n] = start;
        lens[n++] = (size_t)(p - start);
        if (*p == ',')
            p++;
    }
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates with a tiny LCG */
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % i;
        const char *tm = members[i - 1];
        size_t tl = lens[i - 1];
        members[i - 1] = members[j];
        lens[i - 1] = lens[j];
        members[j] = tm;
        lens[j] = tl;
    }
    char *w = out;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        memcpy(w, members[i], lens[i]);
        w += lens[i];
    }
    *w++ = '}';
    *w = '\0';
}

static void test_key_orders(void)
{
    static const char *const objects[] = {
        TRADE,
        "{\"ev\":\"T\",\"sym\":\"AAPL\",\"x\":12,\"i\":\"9\",\"z\":1,\"p\":0.5,\"s\":1,\"t\":1,\"q\":2,\"trfi\":201,\"trft\":3}",
        "{\"ev\":\"Q\",\"sym\":\"MSFT\",\"bx\":4,\"bp\":114.125,\"bs\":100,\"ax\":7,\"ap\":114.128,\"as\":160,\"c\":1,"
        "\"i\":[604],\"t\":1536036818784,\"q\":50385480,\"z\":3}",
        "{\"ev\":\"AM\",\"sym\":\"SPCE\",\"v\":200,\"av\":8642007,\"op\":25.66,\"vw\":25.3981,\"o\":25.39,\"c\":25.39,"
        "\"h\":25.39,\"l\":25.39,\"a\":25.3714,\"z\":50,\"s\":1610144868000,\"e\":1610144869000,\"otc\":true}",
        "{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: T.MSFT\"}",
    };
    static char canonical[OUT_MAX];
    char frame[1100], shuffled[1024];
    for (size_t k = 0; k < sizeof objects / sizeof objects[0]; k++) {
        snprintf(frame, sizeof frame, "[%s]", objects[k]);
        collected *c = parse(frame);
        CU_ASSERT_EQUAL(c->n, 1);
        CU_ASSERT_NOT_EQUAL(c->ev[0].type, PWS_EV_PARSE_ERROR);
        memcpy(canonical, c->lines, sizeof canonical);
        for (unsigned seed = 1; seed <= 200; seed++) {
            shuffle_members(objects[k], shuffled, seed);
            snprintf(frame, sizeof frame, "[%s]", shuffled);
            c = parse(frame);
            if (strcmp(c->lines, canonical) != 0)
                fprintf(stderr, "\n  order %s\n  gave %s", frame, c->lines);
            CU_ASSERT_STRING_EQUAL(c->lines, canonical);
        }
    }
}

static void test_unknown_fields(void)
{
    /* unknown keys of every JSON type, before, between and after known ones */
    EXPECT_LINES("[{\"zz\":{\"a\":[1,2,{\"b\":[[],{}]}],\"c\":\"}\"},\"ev\":\"T\",\"dv\":\"12.5\",\"sym\":\"A\","
                 "\"n\":null,\"b\":true,\"f\":false,\"e1\":-1.5e-3,\"arr\":[\"x\",[1]],\"p\":2,\"longkeyname\":1,"
                 "\"\":0,\"trfx\":1,\"ds\":\"1\"}]",
                 "{\"ev\":\"T\",\"sym\":\"A\",\"p\":2}\n");
    /* a key a type does not use ("bp" in a trade) is ignored */
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"bp\":\"not a number\",\"status\":5,\"otc\":\"x\"}]",
                 "{\"ev\":\"T\",\"sym\":\"A\"}\n");
}

static void test_whitespace(void)
{
    EXPECT_LINES(" \t\r\n[ \n {\r\n \"ev\" \t: \"T\" ,\n\"sym\"  :\"A\" , \"c\" : [ 1 , 2 ] , \"p\" : 1.25 \n} ,\n"
                 " { \"ev\":\"Q\" , \"sym\":\"B\" }\t]\r\n ",
                 "{\"ev\":\"T\",\"sym\":\"A\",\"p\":1.25,\"c\":[1,2]}\n{\"ev\":\"Q\",\"sym\":\"B\"}\n");
    EXPECT_LINES("[]", "");
    EXPECT_LINES("  [ \n ]  ", "");
    EXPECT_LINES("[{}]", "{\"ev\":\"parse_error\",\"offset\":1,\"reason\":\"missing \\\"ev\\\"\",\"excerpt\":\"[{}]\"}\n");
}

static void test_escapes(void)
{
    /* \uXXXX, a surrogate pair, the short escapes, raw UTF-8 */
    collected *c = parse("[{\"ev\":\"T\",\"sym\":\"\\u0041\\u00e9\\ud83d\\ude00\\/\\\\\",\"i\":\"\\\"\\b\\f\\n\\r\\t\xe2\x82\xac\"}]");
    CU_ASSERT_EQUAL_FATAL(c->n, 1);
    CU_ASSERT_STRING_EQUAL(c->ev[0].u.trade.sym, "A\xc3\xa9\xf0\x9f\x98\x80/\\");
    CU_ASSERT_STRING_EQUAL(c->ev[0].u.trade.i, "\"\b\f\n\r\t\xe2\x82\xac");
    /* escaped keys are decoded before matching */
    EXPECT_LINES("[{\"\\u0065v\":\"T\",\"s\\u0079m\":\"A\",\"\\u0070\":1}]", "{\"ev\":\"T\",\"sym\":\"A\",\"p\":1}\n");
    /* uppercase hex digits */
    c = parse("[{\"ev\":\"T\",\"sym\":\"\\u00C9\\uD83D\\uDE00\"}]");
    CU_ASSERT_STRING_EQUAL(c->ev[0].u.trade.sym, "\xc3\x89\xf0\x9f\x98\x80");
    /* a symbol of 31 bytes with escapes fits; 32 does not */
    c = parse("[{\"ev\":\"T\",\"sym\":\"\\u0041AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]");
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    CU_ASSERT_EQUAL(strlen(c->ev[0].u.trade.sym), 31);
    c = parse("[{\"ev\":\"T\",\"sym\":\"\\u0041AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]");
    expect_last_error(c, "string too long", 17);
}

static void test_nested_arrays(void)
{
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"c\":[0,12]},{\"ev\":\"Q\",\"sym\":\"A\",\"i\":[1,2,3]}]",
                 "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[0,12]}\n{\"ev\":\"Q\",\"sym\":\"A\",\"i\":[1,2,3]}\n");
    /* exactly PWS_MAX_CONDITIONS entries */
    char frame[512] = "[{\"ev\":\"T\",\"sym\":\"A\",\"c\":[";
    for (int i = 0; i < PWS_MAX_CONDITIONS; i++)
        snprintf(frame + strlen(frame), sizeof frame - strlen(frame), "%s%d", i ? "," : "", i);
    strcat(frame, "]}]");
    collected *c = parse(frame);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.nc, PWS_MAX_CONDITIONS);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.c[31], 31);
    /* one more is an element error at the 33rd entry */
    frame[strlen(frame) - 3] = '\0';
    strcat(frame, ",99]}]");
    c = parse(frame);
    expect_last_error(c, "too many conditions", off(frame, ",99]") + 1);
}

static void test_duplicate_keys(void)
{
    /* last one wins, on both the direct and the record path */
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"p\":1,\"p\":2,\"sym\":\"B\"}]", "{\"ev\":\"T\",\"sym\":\"B\",\"p\":2}\n");
    EXPECT_LINES("[{\"sym\":\"A\",\"p\":1,\"ev\":\"T\",\"p\":2,\"sym\":\"B\"}]", "{\"ev\":\"T\",\"sym\":\"B\",\"p\":2}\n");
    /* a bad value replaced by a good one is no error; the reverse is */
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"p\":\"x\",\"p\":2}]", "{\"ev\":\"T\",\"sym\":\"A\",\"p\":2}\n");
    const char *bad_last = "[{\"ev\":\"T\",\"sym\":\"A\",\"p\":2,\"p\":\"x\"}]";
    expect_last_error(parse(bad_last), "expected a number", off(bad_last, "\"x\""));
    /* a second "ev" changes the type */
    EXPECT_LINES("[{\"ev\":\"Q\",\"sym\":\"A\",\"bp\":1,\"ev\":\"T\",\"p\":2}]", "{\"ev\":\"T\",\"sym\":\"A\",\"p\":2}\n");
    EXPECT_LINES("[{\"ev\":\"T\",\"sym\":\"A\",\"ev\":\"LULD\"}]", "{\"ev\":\"T\",\"sym\":\"A\",\"ev\":\"LULD\"}\n");
    /* a shorter duplicate list or string leaves no stale bytes behind */
    collected *c = parse("[{\"ev\":\"T\",\"sym\":\"A\",\"c\":[1,2,3],\"i\":\"abcdef\",\"c\":[4],\"i\":\"x\"}]");
    CU_ASSERT_EQUAL(c->ev[0].u.trade.nc, 1);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.c[0], 4);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.c[1], 0);
    CU_ASSERT_EQUAL(c->ev[0].u.trade.c[2], 0);
    CU_ASSERT_EQUAL(memcmp(c->ev[0].u.trade.i, "x\0\0\0\0\0\0", 7), 0);
}

/* -------------------------------------------------------------- errors */

static void test_syntax_errors(void)
{
    const char *f;
    expect_syntax_error("", 0, "unexpected end of input", 0);
    expect_syntax_error("   ", 0, "unexpected end of input", 3);
    expect_syntax_error("{\"ev\":\"T\",\"sym\":\"A\"}", 0, "top level is not an array", 0);
    expect_syntax_error("  5", 0, "top level is not an array", 2);
    expect_syntax_error("[", 0, "unexpected end of input", 1);
    f = "[{\"ev\":\"T\",\"sym\":\"A\"},{\"ev\":\"T\",\"sym\":\"B\"";
    expect_syntax_error(f, 1, "unexpected end of input", strlen(f));
    f = "[{\"ev\":\"T\",\"sym\":\"A\"}] x";
    expect_syntax_error(f, 1, "trailing characters after array", strlen(f) - 1);
    f = "[{\"ev\":\"T\",\"sym\":\"A\"}][]";
    expect_syntax_error(f, 1, "trailing characters after array", strlen(f) - 2);
    f = "[{\"ev\":\"T\",\"sym\":\"A\"},]";
    expect_syntax_error(f, 1, "expected a value", strlen(f) - 1);
    expect_syntax_error("[{\"ev\":\"T\",}]", 0, "expected a string key", 11);
    expect_syntax_error("[{\"ev\" \"T\"}]", 0, "expected ':'", 7);
    expect_syntax_error("[{\"ev\":\"T\" \"sym\":\"A\"}]", 0, "expected ',' or '}'", 11);
    expect_syntax_error("[{\"ev\":\"X\"} {}]", 1, "expected ',' or ']'", 12);
    expect_syntax_error("[{ev:1}]", 0, "expected a string key", 2);
    expect_syntax_error("[{'ev':1}]", 0, "expected a string key", 2);
    expect_syntax_error("[{\"a\":tru}]", 0, "invalid literal", 6);
    expect_syntax_error("[{\"a\":nul", 0, "unexpected end of input", 9);
    expect_syntax_error("[{\"a\":True}]", 0, "expected a value", 6);
    expect_syntax_error("[{\"p\":NaN}]", 0, "NaN or Infinity not allowed", 6);
    expect_syntax_error("[{\"p\":nan}]", 0, "NaN or Infinity not allowed", 6);
    expect_syntax_error("[{\"p\":Infinity}]", 0, "NaN or Infinity not allowed", 6);
    expect_syntax_error("[{\"p\":-Infinity}]", 0, "NaN or Infinity not allowed", 7);
    expect_syntax_error("[{\"x\":[1,NaN]}]", 0, "NaN or Infinity not allowed", 9);
    expect_syntax_error("[{\"p\":01}]", 0, "leading zeros not allowed", 7);
    expect_syntax_error("[{\"p\":1.}]", 0, "digit expected after '.'", 8);
    expect_syntax_error("[{\"p\":.5}]", 0, "expected a value", 6);
    expect_syntax_error("[{\"p\":+1}]", 0, "expected a value", 6);
    expect_syntax_error("[{\"p\":1e}]", 0, "digit expected in exponent", 8);
    expect_syntax_error("[{\"p\":-}]", 0, "digit expected after '-'", 7);
    expect_syntax_error("[{\"p\":0x1F}]", 0, "expected ',' or '}'", 7);
    expect_syntax_error("[{\"p\":1.5.5}]", 0, "expected ',' or '}'", 9);
    expect_syntax_error("[{\"s\":\"a\nb\"}]", 0, "control character in string", 8);
    expect_syntax_error("[{\"s\":\"a\\xb\"}]", 0, "invalid escape", 8);
    expect_syntax_error("[{\"s\":\"\\u12G4\"}]", 0, "invalid \\u escape", 7);
    expect_syntax_error("[{\"s\":\"\\ud800x\"}]", 0, "invalid surrogate pair", 7);
    expect_syntax_error("[{\"s\":\"\\ud800\\u0041\"}]", 0, "invalid surrogate pair", 7);
    expect_syntax_error("[{\"s\":\"\\udc00\"}]", 0, "invalid surrogate pair", 7);
    expect_syntax_error("[{\"s\":\"\\u12", 0, "unexpected end of input", 11);
    expect_syntax_error("[{\"s\":\"abc", 0, "unexpected end of input", 10);
    expect_syntax_error("[{\"s\":\"abc\\", 0, "unexpected end of input", 11);
}

static void test_utf8_errors(void)
{
    /* each bad sequence is reported at its first byte, in values, in keys of
     * unknown fields, and deep inside skipped values */
    static const char *const bad[] = {
        "\xff", "\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf0\x80\x80\x80",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82\"", "\xc3z",
    };
    char frame[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(frame, sizeof frame, "[{\"ev\":\"T\",\"sym\":\"ab%s\"}]", bad[i]);
        expect_syntax_error(frame, 0, "invalid UTF-8", 20);
        snprintf(frame, sizeof frame, "[{\"k%s\":1}]", bad[i]);
        expect_syntax_error(frame, 0, "invalid UTF-8", 4);
        snprintf(frame, sizeof frame, "[{\"x\":[{\"y\":[\"%s\"]}]}]", bad[i]);
        expect_syntax_error(frame, 0, "invalid UTF-8", 14);
    }
    /* a multi-byte character cut by the end of the frame is truncation */
    expect_syntax_error("[{\"s\":\"\xe2\x82", 0, "unexpected end of input", 9);
    /* valid 2, 3 and 4 byte forms, including the extremes, are accepted */
    collected *c = parse("[{\"ev\":\"T\",\"sym\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}]");
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    /* non-ASCII outside strings */
    expect_syntax_error("[\xc3\xa9]", 0, "expected a value", 1);
}

/* "[{"x":" + brackets '[' + brackets ']' + ","ev":"T","sym":"A"}]" */
static size_t nested_frame(char *out, int brackets)
{
    size_t n = (size_t)sprintf(out, "[{\"zz\":");
    memset(out + n, '[', (size_t)brackets);
    n += (size_t)brackets;
    memset(out + n, ']', (size_t)brackets);
    n += (size_t)brackets;
    n += (size_t)sprintf(out + n, ",\"ev\":\"T\",\"sym\":\"A\"}]");
    return n;
}

static void test_depth_limit(void)
{
    char frame[4096];
    pws_parse_limits lim = { 0, 3 };
    /* depth: array 1, object 2, "a" array 3, inner array 4 */
    collected *c = parse_n("[{\"a\":[1]}]", 11, &lim);
    CU_ASSERT_EQUAL(c->n, 1);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_PARSE_ERROR); /* missing ev: parsed fine */
    c = parse_n("[{\"a\":[[1]]}]", 13, &lim);
    expect_last_error(c, "nesting too deep", 7);
    lim.max_depth = 1;
    c = parse_n("[{}]", 4, &lim);
    expect_last_error(c, "nesting too deep", 1);
    c = parse_n("[[]]", 4, &lim);
    expect_last_error(c, "nesting too deep", 1);
    /* the default limit, 32: 30 brackets inside the element reach depth 32 */
    size_t n = nested_frame(frame, 30);
    c = parse_n(frame, n, NULL);
    CU_ASSERT_EQUAL(c->n, 1);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    n = nested_frame(frame, 31);
    c = parse_n(frame, n, NULL);
    expect_last_error(c, "nesting too deep", 7 + 30);
    /* a huge requested limit is clamped: 2000 levels still fail, without recursion */
    lim.max_depth = 100000;
    static char deep[5000];
    n = (size_t)sprintf(deep, "[{\"zz\":");
    memset(deep + n, '[', 2000);
    n += 2000;
    c = parse_n(deep, n, &lim);
    expect_last_error(c, "nesting too deep", 7 + PWS_PARSE_MAX_DEPTH_CAP - 2);
}

static void test_frame_limit(void)
{
    pws_parse_limits lim = { 10, 0 };
    collected *c = parse_n("[{\"ev\":\"T\",\"sym\":\"A\"}]", 21, &lim);
    CU_ASSERT_EQUAL(c->n, 1);
    expect_last_error(c, "frame too large", 10);
    lim.max_frame_bytes = 21;
    c = parse_n("[{\"ev\":\"T\",\"sym\":\"A\"}]", 21, &lim);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
}

static void test_element_errors(void)
{
    static const struct {
        const char *element; /* one element object */
        const char *reason;  /* expected reason */
        const char *at;      /* substring whose offset is expected ("{" = the object) */
    } cases[] = {
        { "{\"ev\":\"T\",\"sym\":\"A\",\"p\":\"abc\"}", "expected a number", "\"abc\"" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"p\":null}", "expected a number", "null" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"p\":[1]}", "expected a number", "[1]" },
        { "{\"ev\":\"T\",\"sym\":5}", "expected a string", "5}" },
        { "{\"ev\":\"T\",\"p\":1}", "missing \"sym\"", "{" },
        { "{\"sym\":\"A\",\"p\":1}", "missing \"ev\"", "{" },
        { "{\"ev\":5,\"sym\":\"A\"}", "\"ev\" is not a string", "5," },
        { "{\"ev\":[\"T\"],\"sym\":\"A\"}", "\"ev\" is not a string", "[" },
        { "{\"ev\":\"T\",\"sym\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\"}", "string too long", "\"ABC" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"i\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
          "string too long", "\"0123" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"x\":2147483648}", "integer out of range", "2147483648" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"x\":-2147483649}", "integer out of range", "-2147483649" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"s\":9223372036854775808}", "integer out of range", "9223372036854775808" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"t\":123456789012345678901}", "integer out of range", "1234" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"s\":1.5}", "expected an integer", "1.5" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"s\":1e3}", "expected an integer", "1e3" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"s\":\"100\"}", "expected an integer", "\"100\"" },
        { "{\"ev\":\"A\",\"sym\":\"A\",\"otc\":1}", "expected a boolean", "1}" },
        { "{\"ev\":\"A\",\"sym\":\"A\",\"otc\":\"true\"}", "expected a boolean", "\"true\"" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[1,\"a\"]}", "expected an array of integers", "\"a\"" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[1,2.5]}", "expected an array of integers", "2.5" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[[1]]}", "expected an array of integers", "[1]" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"c\":[1,3000000000]}", "integer out of range", "3000000000" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"c\":5}", "expected an array of integers", "5}" },
        { "{\"ev\":\"Q\",\"sym\":\"A\",\"c\":[5]}", "expected an integer", "[5]" },
        { "{\"ev\":\"Q\",\"sym\":\"A\",\"i\":\"x\"}", "expected an array of integers", "\"x\"" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"p\":1e400}", "number out of range", "1e400" },
        { "{\"ev\":\"T\",\"sym\":\"A\",\"p\":-1e400}", "number out of range", "-1e400" },
        { "{\"ev\":\"T\",\"sym\":\"A\\u0000\"}", "NUL character in string", "\"A" },
        { "{\"ev\":\"status\",\"status\":7}", "expected a string", "7}" },
        { "{\"ev\":\"status\",\"message\":{}}", "expected a string", "{}" },
        /* the first bad field in struct order is reported, whatever the key order */
        { "{\"ev\":\"T\",\"sym\":\"A\",\"q\":\"x\",\"p\":\"y\"}", "expected a number", "\"y\"" },
        { "{\"p\":\"y\",\"ev\":\"T\",\"sym\":1}", "expected a string", "1}" },
    };
    char frame[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the bad element between two good ones: the stream continues */
        int n = snprintf(frame, sizeof frame, "[%s,%s,%s]", TRADE, cases[i].element, TRADE);
        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof frame);
        collected *c = parse(frame);
        CU_ASSERT_EQUAL(c->n, 3);
        if (c->n != 3)
            continue;
        CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
        CU_ASSERT_EQUAL(c->ev[2].type, PWS_EV_TRADE);
        const char *elem = frame + 1 + strlen(TRADE) + 1;
        const char *at = strstr(elem, cases[i].at);
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        const pws_event *e = &c->ev[1];
        CU_ASSERT_EQUAL(e->type, PWS_EV_PARSE_ERROR);
        if (e->type != PWS_EV_PARSE_ERROR)
            continue;
        if (strcmp(e->u.error.reason, cases[i].reason) != 0 || e->u.error.offset != (size_t)(at - frame))
            fprintf(stderr, "\n  %s: got \"%s\" at %zu, expected \"%s\" at %zu", cases[i].element, e->u.error.reason,
                    e->u.error.offset, cases[i].reason, (size_t)(at - frame));
        CU_ASSERT_STRING_EQUAL(e->u.error.reason, cases[i].reason);
        CU_ASSERT_EQUAL(e->u.error.offset, (size_t)(at - frame));
        CU_ASSERT_EQUAL(e->u.error.frame_len, strlen(frame));
    }
}

static void test_non_object_elements(void)
{
    const char *f = "[1, \"x\", [1,[2]], null, true, {\"ev\":\"T\",\"sym\":\"A\"}, -2.5e3, {}]";
    collected *c = parse(f);
    CU_ASSERT_EQUAL_FATAL(c->n, 8);
    const char *at[] = { "1,", "\"x\"", "[1,[2]]", "null", "true", NULL, "-2.5e3", "{}" };
    for (size_t i = 0; i < 8; i++) {
        if (at[i] == NULL) {
            CU_ASSERT_EQUAL(c->ev[i].type, PWS_EV_TRADE);
            continue;
        }
        CU_ASSERT_EQUAL(c->ev[i].type, PWS_EV_PARSE_ERROR);
        CU_ASSERT_STRING_EQUAL(c->ev[i].u.error.reason, i == 7 ? "missing \"ev\"" : "element is not an object");
        CU_ASSERT_EQUAL(c->ev[i].u.error.offset, off(f, at[i]));
    }
}

static void test_events_before_error_kept(void)
{
    /* two good events, an element error, a good one, then the frame breaks */
    char frame[1024];
    snprintf(frame, sizeof frame, "[%s,%s,{\"ev\":\"T\"},%s,{\"ev\":\"Q\",\"sym\":\"B\",\"bp\":1.", TRADE, TRADE, TRADE);
    collected *c = parse(frame);
    CU_ASSERT_EQUAL_FATAL(c->n, 5);
    CU_ASSERT_EQUAL(c->ev[0].type, PWS_EV_TRADE);
    CU_ASSERT_EQUAL(c->ev[1].type, PWS_EV_TRADE);
    CU_ASSERT_EQUAL(c->ev[2].type, PWS_EV_PARSE_ERROR);
    CU_ASSERT_STRING_EQUAL(c->ev[2].u.error.reason, "missing \"sym\"");
    CU_ASSERT_EQUAL(c->ev[3].type, PWS_EV_TRADE);
    expect_last_error(c, "unexpected end of input", strlen(frame));
    /* an element that has both a bad field and broken syntax: only the syntax error */
    c = parse("[{\"ev\":\"T\",\"sym\":\"A\",\"p\":\"x\",}]");
    CU_ASSERT_EQUAL(c->n, 1);
    expect_last_error(c, "expected a string key", 29);
}

static void test_sink_stop_and_args(void)
{
    char frame[1024];
    snprintf(frame, sizeof frame, "[%s,%s,%s]", TRADE, TRADE, TRADE);
    memset(&result, 0, sizeof result);
    result.stop_after = 2;
    result.frame = frame;
    CU_ASSERT_EQUAL(pws_parse_frame(frame, strlen(frame), NULL, collect, &result), 2);
    CU_ASSERT_EQUAL(result.n, 2);
    /* stopping at an error event ends the parse too */
    memset(&result, 0, sizeof result);
    result.stop_after = 1;
    result.frame = "[1,2]";
    CU_ASSERT_EQUAL(pws_parse_frame("[1,2]", 5, NULL, collect, &result), 1);
    CU_ASSERT_EQUAL(pws_parse_frame("[]", 2, NULL, NULL, NULL), -1);
    CU_ASSERT_EQUAL(pws_parse_frame(NULL, 3, NULL, collect, &result), -1);
    memset(&result, 0, sizeof result);
    CU_ASSERT_EQUAL(pws_parse_frame(NULL, 0, NULL, collect, &result), 1);
    expect_last_error(&result, "unexpected end of input", 0);
}

static void test_excerpt(void)
{
    const char *f = "[{\"ev\":\"T\",\"sym\":\"A\",\"p\":\"\xc3\xa9x\\n\",\"padding\":\"0123456789012345678901234567890123456789\"}]";
    collected *c = parse(f);
    CU_ASSERT_EQUAL_FATAL(c->n, 1);
    const pws_parse_error *e = &c->ev[0].u.error;
    CU_ASSERT_EQUAL(e->offset, off(f, "\"\xc3"));
    CU_ASSERT_EQUAL(strlen(e->excerpt), PWS_EXCERPT_MAX - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e->excerpt, "\"p\":\"..x\\n\""));
    for (const char *p = e->excerpt; *p; p++)
        CU_ASSERT(*p >= 0x20 && *p < 0x7f);
}

/* Every prefix of a valid frame, and every single-byte change of it, parses
 * without crashing (ASan/UBSan runs catch overreads) and ends in at most one
 * syntax error. */
static void test_truncations_and_mutations(void)
{
    char frame[2048];
    static const char repl[] = { '"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', 'e', '.', ' ', 'u', '\0', '\x80', '\xff' };
    snprintf(frame, sizeof frame, "[%s,{\"ev\":\"Q\",\"sym\":\"\\u00e9\",\"bp\":1.5e-3,\"i\":[1]},"
             "{\"ev\":\"status\",\"status\":\"success\",\"message\":\"m\"},{\"ev\":\"X\",\"a\":[true,false,null]}]", TRADE);
    size_t len = strlen(frame);
    for (size_t cut = 0; cut < len; cut++) {
        collected *c = parse_n(frame, cut, NULL);
        CU_ASSERT_TRUE(c->n >= 1);
        CU_ASSERT_EQUAL(c->ev[c->n - 1].type, PWS_EV_PARSE_ERROR);
        size_t errors = 0;
        for (size_t i = 0; i < c->n; i++)
            errors += c->ev[i].type == PWS_EV_PARSE_ERROR;
        CU_ASSERT_TRUE(errors <= 2);
    }
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t r = 0; r < sizeof repl; r++) {
            char saved = frame[pos];
            frame[pos] = repl[r];
            collected *c = parse_n(frame, len, NULL);
            CU_ASSERT_TRUE(c->n >= 1);
            frame[pos] = saved;
        }
    }
}

/* The events of frame[0..len) under one kernel setting, as bytes. */
static size_t events_under(unsigned kernels, const char *frame, size_t len, pws_event *out, size_t cap)
{
    unsigned saved = pws__parse_kernels;
    collected *c;
    pws__parse_kernels = kernels;
    c = parse_n(frame, len, NULL);
    pws__parse_kernels = saved;
    memcpy(out, c->ev, (c->n < cap ? c->n : cap) * sizeof *out);
    return c->n;
}

/* The schema fast path and the SIMD scan change speed, never results: the
 * feed's element shapes, cut at every byte and with every byte replaced,
 * give byte-identical events under every kernel setting. */
static void test_kernels_agree(void)
{
    static const char *const shapes[] = {
        "{\"ev\":\"T\",\"sym\":\"MSFT\",\"x\":4,\"i\":\"12345\",\"z\":3,\"p\":114.125,\"s\":100,\"c\":[0,12],"
        "\"t\":1536036818784,\"q\":3681328,\"trfi\":202,\"trft\":1536036818780}",
        "{\"ev\":\"Q\",\"sym\":\"BRK.B\",\"bx\":1,\"bp\":185.64,\"bs\":3,\"ax\":12,\"ap\":185.7,\"as\":2,\"c\":0,"
        "\"i\":[604],\"t\":1610144868001,\"q\":99,\"z\":1}",
        "{\"ev\":\"AM\",\"sym\":\"SPCE\",\"v\":200,\"av\":8642007,\"op\":25.66,\"vw\":25.3981,\"o\":25.39,"
        "\"c\":25.39,\"h\":25.39,\"l\":25.39,\"a\":25.3714,\"z\":50,\"s\":1610144868000,\"e\":1610144869000,"
        "\"otc\":true}",
    };
    static const char repl[] = { '"', '\\', '}', ']', ',', ':', '0', '9', '-', 'e', '.', ' ', 'M', 'x', '\0', '\x80' };
    static pws_event a[8], b[8], g[8];
    char frame[512];
    int mismatches = 0;

    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int len = snprintf(frame, sizeof frame, "[%s,%s]", shapes[k], shapes[k]);
        CU_ASSERT_FATAL(len > 0 && (size_t)len < sizeof frame);
        for (size_t pos = 0; pos <= (size_t)len; pos++) {
            for (size_t r = 0; r <= sizeof repl; r++) {
                char saved = frame[pos];
                size_t n = pos < (size_t)len ? (size_t)len : pos; /* pos == len: the whole frame */
                if (r == sizeof repl)
                    n = pos; /* a cut instead of a replacement */
                else if (pos < (size_t)len)
                    frame[pos] = repl[r];
                size_t na = events_under(PWS__PARSE_ALL, frame, n, a, 8);
                size_t nb = events_under(PWS__PARSE_FAST, frame, n, b, 8);
                size_t ng = events_under(0, frame, n, g, 8);
                if (na != ng || nb != ng || memcmp(a, g, (ng < 8 ? ng : 8) * sizeof a[0]) != 0 ||
                    memcmp(b, g, (ng < 8 ? ng : 8) * sizeof b[0]) != 0) {
                    if (mismatches++ < 3)
                        fprintf(stderr, "\n  kernels disagree on: %.*s\n", (int)n, frame);
                }
                if (pos < (size_t)len)
                    frame[pos] = saved;
            }
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(pws_event_type_name(PWS_EV_TRADE), "trade");
    CU_ASSERT_STRING_EQUAL(pws_event_type_name(PWS_EV_PARSE_ERROR), "parse_error");
    CU_ASSERT_STRING_EQUAL(pws_event_type_name((pws_event_type)99), "unknown");
    CU_ASSERT_STRING_EQUAL(pws_status_kind_name(PWS_STATUS_SLOW_CONSUMER), "slow_consumer");
    CU_ASSERT_STRING_EQUAL(pws_status_kind_name((pws_status_kind)-1), "unknown");
    CU_ASSERT_STRING_EQUAL(pws_conn_state_name(PWS_CONN_RECONNECT_WAIT), "reconnect_wait");
    CU_ASSERT_STRING_EQUAL(pws_conn_state_name((pws_conn_state)42), "unknown");
    for (int t = 0; t < PWS_EV__COUNT; t++)
        CU_ASSERT_STRING_NOT_EQUAL(pws_event_type_name((pws_event_type)t), "unknown");
    pws_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = PWS_EV_STATUS;
    CU_ASSERT_PTR_NULL(pws_event_symbol(&ev));
    CU_ASSERT_PTR_NULL(pws_event_symbol(NULL));
    ev.type = PWS_EV_QUOTE;
    strcpy(ev.u.quote.sym, "Q1");
    CU_ASSERT_STRING_EQUAL(pws_event_symbol(&ev), "Q1");
}

int main(int argc, char **argv)
{
    CU_pSuite suite;
    unsigned failures;
    const char *kernels = argc > 1 ? argv[1] : "all";

    if (strcmp(kernels, "all") == 0) {
        pws__parse_kernels = PWS__PARSE_ALL;
    } else if (strcmp(kernels, "swar") == 0) {
        pws__parse_kernels = PWS__PARSE_FAST;
    } else if (strcmp(kernels, "general") == 0) {
        pws__parse_kernels = 0;
    } else {
        fprintf(stderr, "usage: %s [all|swar|general]\n", argv[0]);
        return 2;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite(kernels, NULL, NULL);
    if (suite == NULL || !CU_add_test(suite, "aggregates, all fields", test_agg_all_fields) ||
        !CU_add_test(suite, "trade, all fields", test_trade_all_fields) ||
        !CU_add_test(suite, "quote, all fields", test_quote_all_fields) ||
        !CU_add_test(suite, "status words", test_status) ||
        !CU_add_test(suite, "status truncated", test_status_truncated) ||
        !CU_add_test(suite, "other types pass through", test_other_passthrough) ||
        !CU_add_test(suite, "key orders", test_key_orders) ||
        !CU_add_test(suite, "unknown fields", test_unknown_fields) ||
        !CU_add_test(suite, "whitespace", test_whitespace) ||
        !CU_add_test(suite, "escapes", test_escapes) ||
        !CU_add_test(suite, "nested arrays", test_nested_arrays) ||
        !CU_add_test(suite, "duplicate keys", test_duplicate_keys) ||
        !CU_add_test(suite, "syntax errors", test_syntax_errors) ||
        !CU_add_test(suite, "invalid UTF-8", test_utf8_errors) ||
        !CU_add_test(suite, "depth limit", test_depth_limit) ||
        !CU_add_test(suite, "frame limit", test_frame_limit) ||
        !CU_add_test(suite, "element errors, stream continues", test_element_errors) ||
        !CU_add_test(suite, "non-object elements", test_non_object_elements) ||
        !CU_add_test(suite, "events before the error are kept", test_events_before_error_kept) ||
        !CU_add_test(suite, "sink stop and arguments", test_sink_stop_and_args) ||
        !CU_add_test(suite, "excerpt", test_excerpt) ||
        !CU_add_test(suite, "truncations and mutations", test_truncations_and_mutations) ||
        !CU_add_test(suite, "kernels agree", test_kernels_agree) ||
        !CU_add_test(suite, "names", test_names)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
