/*
 * test_wsproto.c - the WebSocket wire code shared by the connector, the
 * recording proxy and the replayer (wire/src/wsproto.c): frames of every
 * length, fed whole and byte by byte; protocol errors with their stream
 * offsets; pausing mid-input; upgrade heads, accept keys and URLs; close
 * reasons cut to 123 bytes on a UTF-8 character boundary.
 */
#include "wire/wsproto.h"

#include "wire/codec.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct got_frames {
    int op[16];
    size_t len[16];
    char data[16][256];
    bool too_big[16];
    uint64_t total[16];
    int n;
} got_frames;

static void collect(void *user, int opcode, const unsigned char *data, size_t len, bool too_big, uint64_t total)
{
    got_frames *g = user;
    if (g->n >= 16)
        return;
    g->op[g->n] = opcode;
    g->len[g->n] = len;
    memcpy(g->data[g->n], data, len < 255 ? len : 255);
    g->data[g->n][len < 255 ? len : 255] = '\0';
    g->too_big[g->n] = too_big;
    g->total[g->n] = total;
    g->n++;
}

static void test_ws_frames(void)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    pws__buf wire = {0};
    /* a text message in two fragments with a ping between them, masked (client to server) */
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_TEXT, false, mask, "Hel", 3), 0);
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_PING, true, mask, "p!", 2), 0);
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_CONT, true, mask, "lo", 2), 0);
    /* 16-bit and 64-bit lengths */
    static char big[70000];
    memset(big, 'b', sizeof big);
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_BINARY, true, mask, big, 300), 0);
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_BINARY, true, mask, big, sizeof big), 0);
    CU_ASSERT_EQUAL(pws__ws_close_frame(&wire, 4001, "bye", mask), 0);
    CU_ASSERT_EQUAL(pws__ws_close_frame(&wire, 0, NULL, mask), 0);
    /* fed whole, and fed one byte at a time: the same messages */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        pws__wsreader r;
        pws__ws_reader_init(&r, true, 1000);
        got_frames g = {0};
        char err[128];
        if (bytewise) {
            int rc = 0;
            for (size_t i = 0; i < wire.len; i++)
                rc |= pws__ws_feed(&r, (unsigned char *)wire.p + i, 1, collect, &g, err, sizeof err);
            CU_ASSERT_EQUAL_FATAL(rc, 0);
        } else {
            CU_ASSERT_EQUAL_FATAL(pws__ws_feed(&r, (unsigned char *)wire.p, wire.len, collect, &g, err, sizeof err), 0);
        }
        CU_ASSERT_EQUAL_FATAL(g.n, 6);
        CU_ASSERT(g.op[0] == PWS__OP_PING && !strcmp(g.data[0], "p!"));
        CU_ASSERT(g.op[1] == PWS__OP_TEXT && !strcmp(g.data[1], "Hello"));
        CU_ASSERT(g.op[2] == PWS__OP_BINARY && g.len[2] == 300 && !g.too_big[2]);
        CU_ASSERT(g.op[3] == PWS__OP_BINARY && g.too_big[3] && g.total[3] == sizeof big); /* over max_message */
        CU_ASSERT(g.op[4] == PWS__OP_CLOSE && g.len[4] == 5 && !memcmp(g.data[4], "\x0f\xa1" "bye", 5));
        CU_ASSERT(g.op[5] == PWS__OP_CLOSE && g.len[5] == 0);
        pws__ws_reader_free(&r);
    }
    /* protocol errors stop the reader */
    struct {
        const char *bytes;
        size_t n;
        bool masked;
        const char *why;
    } bad[] = {
        {"\x81\x02hi", 4, true, "client frame not masked (frame at byte 0 of the stream)"},
        {"\x81\x82\x00\x00\x00\x00hi", 8, false, "server frame masked (frame at byte 0 of the stream)"},
        {"\x09\x00", 2, false, "fragmented control frame (frame at byte 0 of the stream)"},
        {"\x89\x7e\x00\x7e", 4, false, "control frame over 125 bytes (frame at byte 0 of the stream)"},
        {"\x80\x00", 2, false, "continuation frame without a message (frame at byte 0 of the stream)"},
        {"\x83\x00", 2, false, "reserved data opcode (frame at byte 0 of the stream)"},
        {"\x01\x01" "a\x81\x01" "b", 6, false, "new message inside a fragmented one (frame at byte 3 of the stream)"},
        {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, false,
         "frame length with the top bit set (frame at byte 0 of the stream)"},
        {"\x81\x01" "a\xc1\x01" "b", 6, false,
         "reserved bits (RSV1-3) set with no extension negotiated (frame at byte 3 of the stream)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pws__wsreader r;
        pws__ws_reader_init(&r, bad[i].masked, 0);
        r.reject_rsv = true;
        got_frames g = {0};
        char err[160] = "";
        CU_ASSERT_EQUAL(pws__ws_feed(&r, (const unsigned char *)bad[i].bytes, bad[i].n, collect, &g, err, sizeof err), -1);
        CU_ASSERT_STRING_EQUAL(err, bad[i].why);
        CU_ASSERT_EQUAL(pws__ws_feed(&r, (const unsigned char *)"\x81\x00", 2, collect, &g, err, sizeof err), -1);
        pws__ws_reader_free(&r);
    }
    pws__buf_free(&wire);
}

static void test_ws_handshake(void)
{
    char acc[32];
    pws__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
    CU_ASSERT_STRING_EQUAL(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *req = "GET /stocks?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: k==\r\nX-Empty:\r\n\r\n[frames]";
    size_t hl = pws__http_head_len(req, strlen(req));
    CU_ASSERT_EQUAL(hl, strlen(req) - strlen("[frames]"));
    CU_ASSERT_EQUAL(pws__http_head_len(req, hl - 1), 0);
    static pws__http_head h;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(pws__http_parse(req, hl, true, &h, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(h.method, "GET");
    CU_ASSERT_STRING_EQUAL(h.target, "/stocks?x=1");
    CU_ASSERT_STRING_EQUAL(pws__http_get(&h, "sec-websocket-key"), "k==");
    CU_ASSERT_STRING_EQUAL(pws__http_get(&h, "x-empty"), "");
    CU_ASSERT_TRUE(pws__http_has_token(pws__http_get(&h, "Connection"), "upgrade"));
    CU_ASSERT_TRUE(pws__http_has_token(pws__http_get(&h, "Upgrade"), "websocket"));
    CU_ASSERT_FALSE(pws__http_has_token("keep-alive", "upgrade"));
    const char *resp = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    CU_ASSERT_EQUAL_FATAL(pws__http_parse(resp, strlen(resp), false, &h, err, sizeof err), 0);
    CU_ASSERT_EQUAL(h.status, 401);
    CU_ASSERT_STRING_EQUAL(h.reason, "Unauthorized");
    CU_ASSERT_EQUAL(pws__http_parse("HELLO\r\n\r\n", 9, true, &h, err, sizeof err), -1);
    pws__url u;
    CU_ASSERT_EQUAL_FATAL(pws__url_parse("wss://socket.polygon.io/stocks?a=b#frag", &u, err, sizeof err), 0);
    CU_ASSERT(u.tls && u.port == 443 && !strcmp(u.host, "socket.polygon.io") && !strcmp(u.path, "/stocks?a=b"));
    CU_ASSERT_EQUAL_FATAL(pws__url_parse("ws://[::1]:8080", &u, err, sizeof err), 0);
    CU_ASSERT(!u.tls && u.port == 8080 && !strcmp(u.host, "::1") && !strcmp(u.path, "/") &&
              !strcmp(u.hostport, "[::1]:8080"));
    CU_ASSERT_EQUAL(pws__url_parse("http://x", &u, err, sizeof err), -1);
    CU_ASSERT_EQUAL(pws__url_parse("ws://x:99999/", &u, err, sizeof err), -1);
}

/* RSV bits pass unless the reader is told no extension was negotiated. */
static void test_ws_rsv_allowed_by_default(void)
{
    pws__wsreader r;
    pws__ws_reader_init(&r, false, 0);
    got_frames g = {0};
    char err[160] = "";
    CU_ASSERT_EQUAL(pws__ws_feed(&r, (const unsigned char *)"\xc1\x01" "a", 3, collect, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(g.n, 1);
    pws__ws_reader_free(&r);
}

/* A callback that pauses after the second message. */
typedef struct pauser {
    got_frames g;
    pws__wsreader *r;
    int pause_at;
} pauser;

static void collect_and_pause(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                              uint64_t total)
{
    pauser *p = user;
    collect(&p->g, opcode, data, len, too_big, total);
    if (p->g.n == p->pause_at)
        p->r->pause = true;
}

/* Pausing stops right after the message, reports the bytes used, keeps the
 * message's bytes, and feeding the rest later yields the remaining messages. */
static void test_ws_pause(void)
{
    pws__buf wire = {0};
    for (int i = 0; i < 4; i++) {
        char m[8];
        int n = snprintf(m, sizeof m, "m%d", i);
        CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_TEXT, true, NULL, m, (size_t)n), 0);
    }
    /* a fragmented fifth message spans the pause point too */
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_TEXT, false, NULL, "fr", 2), 0);
    CU_ASSERT_EQUAL(pws__ws_frame(&wire, PWS__OP_CONT, true, NULL, "ag", 2), 0);
    pws__wsreader r;
    pws__ws_reader_init(&r, false, 0);
    pauser p = {.r = &r, .pause_at = 2};
    char err[160];
    size_t used = 0;
    CU_ASSERT_EQUAL_FATAL(pws__ws_feed_some(&r, (unsigned char *)wire.p, wire.len, collect_and_pause, &p, &used, err,
                                            sizeof err), 0);
    CU_ASSERT_EQUAL(p.g.n, 2);
    CU_ASSERT_EQUAL(used, 8); /* two 4-byte frames */
    CU_ASSERT_EQUAL(r.offset, 8);
    CU_ASSERT(r.msg.p && !memcmp(r.msg.p, "m1", 2)); /* the bytes stay while paused */
    r.pause = false;
    p.pause_at = -1;
    CU_ASSERT_EQUAL_FATAL(pws__ws_feed_some(&r, (unsigned char *)wire.p + used, wire.len - used, collect_and_pause, &p,
                                            &used, err, sizeof err), 0);
    CU_ASSERT_EQUAL(used, wire.len - 8);
    CU_ASSERT_EQUAL_FATAL(p.g.n, 5);
    CU_ASSERT_STRING_EQUAL(p.g.data[2], "m2");
    CU_ASSERT_STRING_EQUAL(p.g.data[3], "m3");
    CU_ASSERT_STRING_EQUAL(p.g.data[4], "frag");
    pws__ws_reader_free(&r);
    pws__buf_free(&wire);
}

/* The close frame for reason, unmasked: its reason's length and bytes (after the 2-byte code). */
static size_t close_reason_of(const char *reason, char out[256])
{
    pws__buf wire = {0};
    CU_ASSERT_EQUAL_FATAL(pws__ws_close_frame(&wire, 4000, reason, NULL), 0);
    unsigned char *f = (unsigned char *)wire.p;
    CU_ASSERT_EQUAL(f[0], 0x88);
    size_t payload = f[1] & 0x7f;
    CU_ASSERT(payload <= 125); /* a control frame, with a one-byte length */
    CU_ASSERT_EQUAL(wire.len, 2 + payload);
    CU_ASSERT(payload >= 2 && f[2] == 4000 >> 8 && f[3] == (4000 & 0xff));
    size_t rl = payload >= 2 ? payload - 2 : 0;
    memcpy(out, f + 4, rl);
    out[rl] = '\0';
    pws__buf_free(&wire);
    return rl;
}

static void test_close_reason_cut(void)
{
    char big[600], got[256];
    /* ASCII: 123 bytes of 200 */
    memset(big, 'a', 200);
    big[200] = '\0';
    CU_ASSERT_EQUAL(close_reason_of(big, got), 123);
    CU_ASSERT(strspn(got, "a") == 123);
    /* "x" then 3-byte characters: byte 123 falls inside the 41st, which goes */
    strcpy(big, "x");
    for (int i = 0; i < 60; i++)
        strcat(big, "\xe2\x82\xac"); /* EURO SIGN */
    CU_ASSERT_EQUAL(close_reason_of(big, got), 1 + 40 * 3);
    CU_ASSERT(pws__utf8_valid(got, strlen(got)));
    CU_ASSERT_EQUAL(memcmp(got, big, 121), 0);
    /* 4-byte characters: 30 of them are 120 bytes, the 31st would end at 124 */
    big[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(big, "\xf0\x9f\x98\x80");
    CU_ASSERT_EQUAL(close_reason_of(big, got), 120);
    CU_ASSERT(pws__utf8_valid(got, strlen(got)));
    /* exactly 123 bytes of 3-byte characters stay whole */
    big[0] = '\0';
    for (int i = 0; i < 41; i++)
        strcat(big, "\xe2\x82\xac");
    CU_ASSERT_EQUAL(close_reason_of(big, got), 123);
    CU_ASSERT_STRING_EQUAL(got, big);
    /* short reasons are untouched; bytes that are not UTF-8 end the reason */
    CU_ASSERT_EQUAL(close_reason_of("bye", got), 3);
    CU_ASSERT_STRING_EQUAL(got, "bye");
    CU_ASSERT_EQUAL(close_reason_of("ok\xff rest", got), 2);
    CU_ASSERT_EQUAL(close_reason_of("half \xe2\x82", got), 5);
    CU_ASSERT_EQUAL(close_reason_of("", got), 0);
    /* the cut itself */
    CU_ASSERT_EQUAL(pws__utf8_prefix("abc", 3, 0), 0);
    CU_ASSERT_EQUAL(pws__utf8_prefix("\xc3\xa9\xc3\xa9", 4, 3), 2);
    CU_ASSERT_EQUAL(pws__utf8_prefix("\xed\xa0\x80", 3, 10), 0); /* a surrogate */
    CU_ASSERT_EQUAL(pws__utf8_prefix("\xc0\x80", 2, 10), 0);      /* not the shortest form */
    CU_ASSERT_EQUAL(pws__utf8_prefix("a\xf4\x90\x80\x80", 5, 10), 1); /* above U+10FFFF */
}

/* A URL quoted in an error never carries a key from its query, fragment or user:password@. */
static void test_url_errors_hide_the_key(void)
{
    static const char *bad[] = {
        "ws://h:99999/stocks?apiKey=SECRETKEY0123456",
        "ws://user:SECRETKEY0123456@h:99999/stocks",
        "http://h/stocks?apiKey=SECRETKEY0123456",
        "ws://[::1/x?apiKey=SECRETKEY0123456",
        "ws://:1/x#SECRETKEY0123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pws__url u;
        char err[512] = "";
        CU_ASSERT_EQUAL(pws__url_parse(bad[i], &u, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "URL"));
        CU_ASSERT_PTR_NULL(strstr(err, "SECRETKEY"));
    }
    char out[256];
    pws__url_for_error("wss://u:p@host:1/path?apiKey=K#f", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "wss://***@host:1/path?***");
    pws__url_for_error("ws://host/path", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "ws://host/path");
    pws__url_for_error("no scheme?k=1", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "no scheme?***");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("wsproto", NULL, NULL);
    CU_add_test(s, "frames: fragments, lengths, limits, errors with offsets", test_ws_frames);
    CU_add_test(s, "RSV bits pass unless rejected", test_ws_rsv_allowed_by_default);
    CU_add_test(s, "pausing mid-input", test_ws_pause);
    CU_add_test(s, "upgrade heads, accept key, URLs", test_ws_handshake);
    CU_add_test(s, "close reasons: at most 123 bytes, cut on a UTF-8 boundary", test_close_reason_cut);
    CU_add_test(s, "URL errors hide a key", test_url_errors_hide_the_key);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
