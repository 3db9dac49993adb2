/*
 * test_engine.c - the mock server playing scenario step scripts, over real
 * loopback sockets.
 *
 * Scenarios are built here as C structs (pwss_scenario), independent of the
 * YAML loader.  The client is the small blocking WebSocket client on raw
 * sockets (plus OpenSSL for wss) that test_mock.c uses too (wsclient.h in
 * tests/support), so a test sees every byte the server writes: reserved bits,
 * bad opcodes and invalid close codes arrive as they were sent, and a close
 * frame is told from a dropped TCP connection.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtok_r, usleep */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include <polyws/mock.h>
#include <polyws/scenario.h>

#include "journal_match.h"
#include "wsclient.h"

#define KEY "GOODKEY-0123456789abcdef"
#define RECV_MS WSC_RECV_MS

/* ------------------------------------------------------------------ protocol helpers (client: wsclient.h) */

/* Receives a text frame and checks it is exactly want. */
static bool expect_text(wsc *c, const char *want)
{
    frame f;
    int r = wsc_recv_data(c, RECV_MS, &f);
    bool ok = r == WSC_FRAME && f.opcode == OP_TEXT && f.len == strlen(want) && memcmp(f.data, want, f.len) == 0;
    if (!ok)
        fprintf(stderr, "  expected text \"%s\", got r=%d opcode=%d \"%.200s\"\n", want, r, f.opcode,
                f.data ? f.data : "");
    frame_free(&f);
    return ok;
}

/* Receives one text frame holding a single status with this status and message. */
static bool expect_status_msg(wsc *c, const char *status, const char *message)
{
    frame f;
    int r = wsc_recv_data(c, RECV_MS, &f);
    if (r != WSC_FRAME || f.opcode != OP_TEXT) {
        fprintf(stderr, "  expected status %s, got r=%d opcode=%d\n", status, r, f.opcode);
        frame_free(&f);
        return false;
    }
    bool ok = false;
    cJSON *arr = cJSON_Parse(f.data);
    cJSON *o = cJSON_GetArrayItem(arr, 0);
    const cJSON *st = cJSON_GetObjectItem(o, "status"), *m = cJSON_GetObjectItem(o, "message");
    if (cJSON_GetArraySize(arr) == 1 && cJSON_IsString(st) && strcmp(st->valuestring, status) == 0 &&
        cJSON_IsString(m) && (!message || strcmp(m->valuestring, message) == 0))
        ok = true;
    else
        fprintf(stderr, "  expected status %s (%s), got %.300s\n", status, message ? message : "*", f.data);
    cJSON_Delete(arr);
    frame_free(&f);
    return ok;
}

static bool expect_status(wsc *c, const char *status)
{
    return expect_status_msg(c, status, NULL);
}

/* True if the server ends the TCP connection (EOF) within timeout_ms with no frame first. */
static bool expect_eof(wsc *c, int timeout_ms)
{
    frame f;
    int r = wsc_recv(c, timeout_ms, &f);
    if (r == WSC_FRAME)
        fprintf(stderr, "  expected EOF, got opcode %d: %.200s\n", f.opcode, f.data);
    frame_free(&f);
    return r == WSC_EOF;
}

/* Sends a subscribe and checks one confirmation per channel. */
static bool subscribe(wsc *c, const char *params)
{
    if (wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"%s\"}", params) != 0)
        return false;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", params);
    for (char *save = NULL, *ch = strtok_r(copy, ",", &save); ch; ch = strtok_r(NULL, ",", &save)) {
        char want[1100];
        snprintf(want, sizeof want, "subscribed to: %s", ch);
        if (!expect_status_msg(c, "success", want))
            return false;
    }
    return true;
}

static bool send_auth(wsc *c, const char *key)
{
    return wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", key) == 0;
}

/* ------------------------------------------------------------------ server and journal helpers */

static pwsm_server *start(pwsm_options *o)
{
    char err[256];
    pwsm_server *s = pwsm_start(o, err, sizeof err);
    if (!s)
        fprintf(stderr, "  pwsm_start: %s\n", err);
    return s;
}

static void base_options(pwsm_options *o, pwss_scenario *sc)
{
    memset(o, 0, sizeof *o);
    o->keys[0] = KEY;
    o->scenario = sc;
}

/* A scenario whose default script is steps[0..n). */
static void scenario_default(pwss_scenario *sc, pwss_step *steps, size_t n)
{
    memset(sc, 0, sizeof *sc);
    sc->default_script.steps = steps;
    sc->default_script.nsteps = n;
    sc->has_default = true;
}

/* Prints the step_failed entries (to see what a failing assertion was about). */
static void show_failures(pwsm_server *s)
{
    size_t total = pwsm_journal_count(s);
    for (size_t i = 0; i < total; i++) {
        const pwsm_entry *e = pwsm_journal_get(s, i);
        if (strcmp(e->kind, "step_failed") == 0)
            fprintf(stderr, "  [conn %u] %s\n", e->conn, e->data);
    }
}

#define TXT(s) .data = (char *)(s), .len = sizeof(s) - 1
#define AT(l, c) .line = (l), .column = (c)

/* ------------------------------------------------------------------ tests */

static void test_greet_auth_confirm_then_serve(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 3)},
        {.kind = PWSS_STEP_AUTH, AT(2, 3)},
        {.kind = PWSS_STEP_CONFIRM, AT(3, 3)},
        {.kind = PWSS_STEP_SEND_TEXT, AT(4, 3), TXT("done")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 4);
    pwsm_options o;
    base_options(&o, &sc);
    o.events_per_sec = 200;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    CU_ASSERT(subscribe(c, "A.AAPL,T.MSFT"));
    CU_ASSERT(expect_text(c, "done"));
    /* After the last step the connection serves: events for the subscriptions. */
    frame f;
    CU_ASSERT(wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_TEXT && f.data && strstr(f.data, "\"sym\":\"") &&
              (strstr(f.data, "\"ev\":\"A\"") || strstr(f.data, "\"ev\":\"T\"")));
    frame_free(&f);
    /* ... and answers actions like the real service. */
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"unsubscribe\",\"params\":\"T.MSFT\"}") == 0);
    bool confirmed = false;
    for (int i = 0; i < 50 && !confirmed; i++) {
        if (wsc_recv_data(c, RECV_MS, &f) != WSC_FRAME)
            break;
        confirmed = strstr(f.data, "unsubscribed to: T.MSFT") != NULL;
        frame_free(&f);
    }
    CU_ASSERT(confirmed);
    CU_ASSERT(wait_entry(s, 1, '-', "step", "GREET 1:3", 0));
    CU_ASSERT(wait_entry(s, 1, '-', "step", "AUTH 2:3", 0));
    CU_ASSERT(wait_entry(s, 1, '-', "step", "CONFIRM 3:3", 0));
    CU_ASSERT(wait_entry(s, 1, '-', "step", "SEND_TEXT 4:3", 0));
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 0);
    /* The key never reaches the journal. */
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, NULL, "GOODKEY"), 0);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_handshake_and_no_greeting(void)
{
    pwss_step one[] = {
        {.kind = PWSS_STEP_HANDSHAKE, AT(7, 5)},
        {.kind = PWSS_STEP_SEND_TEXT, AT(8, 5), TXT("after handshake")},
    };
    pwss_step two[] = {
        {.kind = PWSS_STEP_SLEEP, AT(12, 5), .ms = 300},
        {.kind = PWSS_STEP_SEND_TEXT, AT(13, 5), TXT("first words")},
    };
    pwss_conn_script scripts[] = {{.ordinal = 1, .steps = one, .nsteps = 2},
                                  {.ordinal = 2, .steps = two, .nsteps = 2}};
    pwss_scenario sc = {.scripts = scripts, .nscripts = 2};
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);

    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    /* Auth and subscribe sent back to back: the confirm part takes the subscribe. */
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.SPY\"}") == 0);
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: Q.SPY"));
    CU_ASSERT(expect_text(c, "after handshake"));
    wsc_free(c);

    /* A scripted connection sends nothing by itself: no greeting. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    int64_t t0 = now_ms();
    CU_ASSERT(expect_text(c, "first words"));
    CU_ASSERT(now_ms() - t0 >= 250);
    wsc_free(c);

    /* Ordinal 3 has no script and there is no default: the real service. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_free(c);
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 0);
    pwsm_stop(s);
}

static void test_auth_step_rejects_and_times_out(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 1)},
        {.kind = PWSS_STEP_AUTH, AT(5, 3), .ms = 1000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(6, 3), TXT("never")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 3);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);

    /* A wrong key: auth_failed, then the policy close; not a failed step. */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, "WRONGKEY-99"));
    CU_ASSERT(expect_status_msg(c, "auth_failed", "authentication failed"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    wsc_free(c);

    /* No auth in time: a failed step, then auth_timeout and the policy close. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"T.*\"}") == 0); /* unanswered */
    CU_ASSERT(expect_status(c, "auth_timeout"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    CU_ASSERT(wait_entry(s, 2, '-', "step_failed",
                         "step 2 (5:3) AUTH: expected an auth action within 1000 ms, received last: "
                         "\"{\"action\":\"subscribe\",\"params\":\"T.*\"}\"",
                         2000));
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 1);
    CU_ASSERT_EQUAL(count_entries(s, 0, 's', "text", "never"), 0);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_confirm_timeout(void)
{
    pwss_step one[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 1)},
        {.kind = PWSS_STEP_CONFIRM, AT(2, 5), .ms = 1000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 5), TXT("went on")},
    };
    pwss_step two[] = {
        {.kind = PWSS_STEP_HANDSHAKE, AT(6, 5), .ms = 1000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(7, 5), TXT("went on too")},
    };
    pwss_conn_script scripts[] = {{.ordinal = 1, .steps = one, .nsteps = 3},
                                  {.ordinal = 2, .steps = two, .nsteps = 2}};
    pwss_scenario sc = {.scripts = scripts, .nscripts = 2};
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY)); /* CONFIRM waits for a subscribe: the auth gets no answer */
    CU_ASSERT(expect_text(c, "went on"));
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed",
                         "step 2 (2:5) CONFIRM: expected a subscribe action within 1000 ms, received last: "
                         "\"{\"action\":\"auth\",\"params\":\"***\"}\"",
                         1000));
    wsc_free(c);
    /* HANDSHAKE: authenticated, then no subscribe in time. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(expect_text(c, "went on too"));
    CU_ASSERT(wait_entry(s, 2, '-', "step_failed",
                         "step 1 (6:5) HANDSHAKE: expected a subscribe action within 1000 ms", 1000));
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 2);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_send_text_and_binary_verbatim(void)
{
    static const char bad_utf8[] = "\xff\xfe not UTF-8 \xc3\x28";
    static const char bin[] = "\x00\x01\x02 binary \x00\xff";
    pwss_step steps[] = {
        {.kind = PWSS_STEP_SEND_TEXT, AT(1, 1), TXT(bad_utf8)},
        {.kind = PWSS_STEP_SEND_BINARY, AT(2, 1), TXT(bin)},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), .data = (char *)"", .len = 0},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 3);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    frame f;
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_TEXT && f.fin && f.len == sizeof bad_utf8 - 1 &&
              memcmp(f.data, bad_utf8, f.len) == 0);
    frame_free(&f);
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_BINARY && f.len == sizeof bin - 1 && memcmp(f.data, bin, f.len) == 0);
    frame_free(&f);
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_TEXT && f.len == 0);
    frame_free(&f);
    CU_ASSERT(wait_entry(s, 1, 's', "binary", NULL, 1000));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_expect_pass_and_fail(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 3)},
        {.kind = PWSS_STEP_EXPECT, AT(2, 3), TXT("{\"action\":\"auth\"}"), .ms = 3000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 3), TXT("ok1")},
        {.kind = PWSS_STEP_EXPECT, AT(4, 3), TXT("^\\{\"action\":\"subscribe\".*T\\.MSFT"), .regex = true,
         .ms = 3000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(5, 3), TXT("ok2")},
        {.kind = PWSS_STEP_EXPECT, AT(6, 3), TXT("{\"a\":{\"b\":[1,{\"c\":true}]},\"n\":null}"), .ms = 3000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(7, 3), TXT("ok3")},
        {.kind = PWSS_STEP_EXPECT, AT(9, 7), TXT("{\"action\":\"unsubscribe\"}"), .ms = 1500},
        {.kind = PWSS_STEP_SEND_TEXT, AT(10, 3), TXT("after")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 9);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    /* The awaited auth is taken by EXPECT: no auth_success, the script answers. */
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_text(c, "ok1"));
    /* Non-matching messages while waiting: journaled, unanswered. */
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}") == 0);
    CU_ASSERT(wsc_send_text(c, "not json at all") == 0);
    frame f;
    CU_ASSERT(wsc_recv(c, 300, &f) == WSC_TIMEOUT);
    frame_free(&f);
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL,T.MSFT\"}") == 0);
    CU_ASSERT(expect_text(c, "ok2"));
    /* JSON subset: wrong value, missing key, shorter array, then a superset that matches. */
    CU_ASSERT(wsc_send_text(c, "{\"a\":{\"b\":[1,{\"c\":false}]},\"n\":null}") == 0);
    CU_ASSERT(wsc_send_text(c, "{\"a\":{\"b\":[1,{\"c\":true}]}}") == 0);
    CU_ASSERT(wsc_send_text(c, "{\"a\":{\"b\":[1]},\"n\":null}") == 0);
    CU_ASSERT(wsc_send_text(c, "{\"a\":{\"b\":[2,{\"c\":true}]},\"n\":null}") == 0);
    CU_ASSERT(wsc_recv(c, 300, &f) == WSC_TIMEOUT);
    frame_free(&f);
    CU_ASSERT(wsc_send_text(c, "{\"z\":0,\"a\":{\"x\":1,\"b\":[1,{\"d\":2,\"c\":true},3]},\"n\":null}") == 0);
    CU_ASSERT(expect_text(c, "ok3"));
    /* The last EXPECT times out: a failed step, and the script goes on. */
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"nope\",\"bytes\":\"\x01\"}") == 0);
    CU_ASSERT(expect_text(c, "after"));
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed",
                         "step 8 (9:7) EXPECT: expected a client text message matching JSON subset "
                         "{\"action\":\"unsubscribe\"} within 1500 ms, received last: "
                         "\"{\"action\":\"nope\",\"bytes\":\"\\x01\"}\"",
                         2000));
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 1);
    /* The unanswered messages are journaled. */
    CU_ASSERT(wait_entry(s, 1, 'c', "text", "not json at all", 0));
    show_failures(s);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_expect_cut_short_and_redacted(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_EXPECT, AT(3, 9), TXT("x+y"), .regex = true, .ms = 10000},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 1);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(wait_entry(s, 1, 'c', "text", NULL, 2000));
    CU_ASSERT(wsc_send_close(c, 1000, "bye") == 0);
    CU_ASSERT(expect_close(c, NULL, 0) == 1000);
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed",
                         "step 1 (3:9) EXPECT: expected a client text message matching regex x+y within "
                         "10000 ms, but the connection ended after",
                         3000));
    /* The last message quoted is the redacted auth. */
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed", "received last: \"{\"action\":\"auth\",\"params\":\"***\"}\"", 0));
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, NULL, "GOODKEY"), 0);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_close_codes(void)
{
    pwss_step s1[] = {{.kind = PWSS_STEP_CLOSE, AT(1, 1), .code = 1011, .reason = (char *)"server error"}};
    pwss_step s2[] = {{.kind = PWSS_STEP_CLOSE, AT(2, 1), .code = 999, .reason = (char *)"odd"}};
    pwss_step s3[] = {{.kind = PWSS_STEP_CLOSE, AT(3, 1), .code = 1005}};
    pwss_step s4[] = {{.kind = PWSS_STEP_SEND_TEXT, AT(4, 1), TXT("first")},
                      {.kind = PWSS_STEP_CLOSE, AT(5, 1), .code = 0}};
    pwss_step s5[] = {{.kind = PWSS_STEP_CLOSE, AT(6, 1), .code = 5000, .reason = (char *)"x"}};
    pwss_step s6[] = {{.kind = PWSS_STEP_CLOSE, AT(7, 1), .code = 1006, .reason = (char *)"abnormal"}};
    pwss_step s7[] = {{.kind = PWSS_STEP_CLOSE, AT(8, 1), .code = 1015}};
    pwss_conn_script scripts[] = {
        {.ordinal = 1, .steps = s1, .nsteps = 1}, {.ordinal = 2, .steps = s2, .nsteps = 1},
        {.ordinal = 3, .steps = s3, .nsteps = 1}, {.ordinal = 4, .steps = s4, .nsteps = 2},
        {.ordinal = 5, .steps = s5, .nsteps = 1}, {.ordinal = 6, .steps = s6, .nsteps = 1},
        {.ordinal = 7, .steps = s7, .nsteps = 1},
    };
    pwss_scenario sc = {.scripts = scripts, .nscripts = 7};
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    static const struct {
        int code;
        const char *reason;
    } want[] = {{1011, "server error"}, {999, "odd"}, {1005, ""}};
    for (int i = 0; i < 3; i++) {
        wsc *c = wsc_connect(pwsm_port(s));
        CU_ASSERT_FATAL(c != NULL);
        char reason[128];
        CU_ASSERT_EQUAL(expect_close(c, reason, sizeof reason), want[i].code);
        CU_ASSERT_STRING_EQUAL(reason, want[i].reason);
        CU_ASSERT(wsc_send_close(c, 1000, "") == 0);
        CU_ASSERT(expect_eof(c, RECV_MS));
        CU_ASSERT(wait_entry(s, (uint32_t)i + 1, '-', "closed", NULL, 2000));
        wsc_free(c);
    }
    /* code 0: a close frame with no payload; our answer ends it, never echoed. */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_text(c, "first"));
    unsigned char raw[2];
    CU_ASSERT(read_exact(c, raw, 2, RECV_MS) && raw[0] == 0x88 && raw[1] == 0x00);
    CU_ASSERT(wsc_send_close(c, 1000, "") == 0);
    CU_ASSERT(expect_eof(c, RECV_MS));
    CU_ASSERT(wait_entry(s, 4, 'c', "close", NULL, 2000));
    CU_ASSERT(wait_entry(s, 4, '-', "closed", NULL, 2000));
    wsc_free(c);
    /* 5000 (no registered range), 1006 and 1015 (never to be sent) go out as given too. */
    static const struct {
        int code;
        const char *reason;
    } more[] = {{5000, "x"}, {1006, "abnormal"}, {1015, ""}};
    for (int i = 0; i < 3; i++) {
        c = wsc_connect(pwsm_port(s));
        CU_ASSERT_FATAL(c != NULL);
        char reason[128];
        CU_ASSERT_EQUAL(expect_close(c, reason, sizeof reason), more[i].code);
        CU_ASSERT_STRING_EQUAL(reason, more[i].reason);
        wsc_free(c);
    }
    /* The journal has each close as sent. */
    CU_ASSERT(wait_entry(s, 2, 's', "close", NULL, 0));
    const pwsm_entry *all = NULL;
    size_t n = pwsm_journal(s, &all);
    bool seen999 = false;
    for (size_t i = 0; i < n; i++)
        seen999 |= all[i].conn == 2 && all[i].dir == 's' && !strcmp(all[i].kind, "close") &&
                   all[i].close_code == 999 && !strcmp(all[i].reason, "odd");
    CU_ASSERT(seen999);
    pwsm_stop(s);
}

static void test_drop(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 1)},
        {.kind = PWSS_STEP_SEND_TEXT, AT(2, 1), TXT("last words")},
        {.kind = PWSS_STEP_DROP, AT(3, 1)},
        {.kind = PWSS_STEP_SEND_TEXT, AT(4, 1), TXT("never")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 4);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(expect_text(c, "last words")); /* queued before the drop: not lost */
    CU_ASSERT(expect_eof(c, RECV_MS));       /* no close frame */
    CU_ASSERT(wait_entry(s, 1, '-', "drop", NULL, 2000));
    CU_ASSERT_EQUAL(count_entries(s, 1, 's', "close", NULL), 0);
    wsc_free(c);
    pwsm_stop(s);
}

/* A drop while the client holds its reads must still deliver everything written before it:
 * most of it is in the server's socket buffer then.  The client's ping reaches the server
 * after the drop; a socket closed at once would answer it with a reset, which throws away what
 * the server's kernel has not sent yet (found by the soak, tests/soak, over wss: the client's
 * pong to a server ping, then the rest of the stream lost).  The mock lingers instead
 * (wire/linger.h). */
static void test_drop_slow_reader(void)
{
    enum { FRAMES = 32, FRAME_LEN = 60000 }; /* ~1.9 MB: far more than a fresh socket's window */
    char *big = malloc(FRAME_LEN);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, 'x', FRAME_LEN);
    pwss_step steps[FRAMES + 2];
    memset(steps, 0, sizeof steps);
    steps[0] = (pwss_step){.kind = PWSS_STEP_GREET, AT(1, 1)};
    for (int i = 0; i < FRAMES; i++)
        steps[1 + i] = (pwss_step){.kind = PWSS_STEP_SEND_TEXT, AT(2 + i, 1), .data = big, .len = FRAME_LEN};
    steps[FRAMES + 1] = (pwss_step){.kind = PWSS_STEP_DROP, AT(FRAMES + 2, 1)};
    pwss_scenario sc;
    scenario_default(&sc, steps, FRAMES + 2);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    /* read nothing until the drop is done: the mock wrote it all into its socket */
    int64_t t0 = now_ms();
    while (count_entries(s, 1, '-', "drop", NULL) == 0 && now_ms() - t0 < 5000) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    CU_ASSERT(count_entries(s, 1, '-', "drop", NULL) == 1);
    CU_ASSERT(wsc_send(c, OP_PING, "late", 4) == 0); /* reaches the server after its end */
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    int got = 0;
    for (frame f; got < FRAMES; got++) {
        int r = wsc_recv_data(c, RECV_MS, &f);
        bool ok = r == WSC_FRAME && f.opcode == OP_TEXT && f.len == FRAME_LEN;
        frame_free(&f);
        if (!ok) {
            fprintf(stderr, "  frame %d of %d: r=%d\n", got + 1, FRAMES, r);
            break;
        }
    }
    CU_ASSERT_EQUAL(got, FRAMES);
    CU_ASSERT(expect_eof(c, RECV_MS)); /* then the FIN, no close frame */
    wsc_free(c);
    pwsm_stop(s);
    free(big);
}

static void test_stall(void)
{
    pwss_step s1[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 1)},
        {.kind = PWSS_STEP_STALL, AT(2, 1), .ms = 3000},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), TXT("resumed")},
    };
    pwss_step s2[] = {
        {.kind = PWSS_STEP_GREET, AT(5, 1)},
        {.kind = PWSS_STEP_STALL, AT(6, 1), .ms = 0},
    };
    pwss_conn_script scripts[] = {{.ordinal = 1, .steps = s1, .nsteps = 3},
                                  {.ordinal = 2, .steps = s2, .nsteps = 2}};
    pwss_scenario sc = {.scripts = scripts, .nscripts = 2};
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);

    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(wait_entry(s, 1, '-', "step", "STALL 2:1", 2000));
    usleep(300 * 1000); /* the stall begins at the next WRITEABLE */
    CU_ASSERT(wsc_send(c, OP_PING, "p1", 2) == 0);
    CU_ASSERT(send_auth(c, KEY));
    frame f;
    CU_ASSERT(wsc_recv(c, 500, &f) == WSC_TIMEOUT); /* stalled: the ping is not answered */
    frame_free(&f);
    /* After the stall: the late pong, the auth answered, and the next step. */
    bool pong = false, authed = false, resumed = false;
    for (int i = 0; i < 3; i++) {
        if (wsc_recv(c, RECV_MS, &f) != WSC_FRAME)
            break;
        pong |= f.opcode == OP_PONG && f.len == 2 && memcmp(f.data, "p1", 2) == 0;
        authed |= f.opcode == OP_TEXT && strstr(f.data, "auth_success") != NULL;
        resumed |= f.opcode == OP_TEXT && strcmp(f.data, "resumed") == 0;
        frame_free(&f);
    }
    CU_ASSERT(pong && authed && resumed);
    /* The frames that waited were journaled once (peeked during the stall). */
    CU_ASSERT(wait_entry(s, 1, 'c', "ping", "p1", 0));
    CU_ASSERT_EQUAL(count_entries(s, 1, 'c', "text", "\"auth\""), 1);
    wsc_free(c);

    /* STALL 0: for good; the connection stays open. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(wait_entry(s, 2, '-', "step", "STALL 6:1", 2000));
    usleep(50 * 1000);
    CU_ASSERT(wsc_send(c, OP_PING, "p2", 2) == 0);
    CU_ASSERT(wsc_recv(c, 1200, &f) == WSC_TIMEOUT);
    frame_free(&f);
    CU_ASSERT(wait_entry(s, 2, 'c', "ping", "p2", 2000));
    CU_ASSERT(!wait_entry(s, 2, '-', "drop", NULL, 0));
    wsc_free(c);
    pwsm_stop(s); /* must not hang on the stalled connection */
}

static void test_ping_pong(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_PING, AT(1, 1), TXT("hi")},
        {.kind = PWSS_STEP_PONG, AT(2, 1), TXT("unsolicited")},
        {.kind = PWSS_STEP_PING, AT(3, 1), .len = 0},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 3);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    frame f;
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_PING && f.len == 2 && memcmp(f.data, "hi", 2) == 0);
    wsc_send(c, OP_PONG, f.data, f.len);
    frame_free(&f);
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_PONG && f.len == 11 && memcmp(f.data, "unsolicited", 11) == 0);
    frame_free(&f);
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_PING && f.len == 0);
    frame_free(&f);
    CU_ASSERT(wait_entry(s, 1, 's', "pong", NULL, 1000));
    CU_ASSERT(wait_entry(s, 1, 'c', "pong", "hi", 2000));
    wsc_free(c);
    pwsm_stop(s);
}

/* Hand-made frames: reserved bits, a reserved opcode, a 126-byte ping (too big for a control
 * frame), a text message in two fragments, then an ordinary text frame. */
static void raw_frames_case(bool tls)
{
    static const unsigned char rsv[] = {0xF1, 0x02, 'h', 'i'};    /* FIN, RSV1-3, text */
    static const unsigned char opc[] = {0x83, 0x01, 'z'};         /* FIN, opcode 3 */
    unsigned char bigping[4 + 126] = {0x89, 0x7E, 0x00, 0x7E};    /* FIN, ping, 16-bit length 126 */
    memset(bigping + 4, 'p', 126);
    static const unsigned char frag1[] = {0x01, 0x03, 'a', 'b', 'c'}; /* text, no FIN */
    static const unsigned char frag2[] = {0x80, 0x03, 'd', 'e', 'f'}; /* continuation, FIN */
    pwss_step steps[] = {
        {.kind = PWSS_STEP_RAW, AT(1, 1), .data = (char *)rsv, .len = sizeof rsv},
        {.kind = PWSS_STEP_RAW, AT(2, 1), .data = (char *)opc, .len = sizeof opc},
        {.kind = PWSS_STEP_RAW, AT(3, 1), .data = (char *)bigping, .len = sizeof bigping},
        {.kind = PWSS_STEP_RAW, AT(4, 1), .data = (char *)frag1, .len = sizeof frag1},
        {.kind = PWSS_STEP_RAW, AT(5, 1), .data = (char *)frag2, .len = sizeof frag2},
        {.kind = PWSS_STEP_SEND_TEXT, AT(6, 1), TXT("end")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 6);
    sc.server.tls = tls;
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(strncmp(pwsm_url(s), tls ? "wss://" : "ws://", tls ? 6 : 5) == 0);
    wsc *c = wsc_open(pwsm_port(s), tls, pwsm_ca_file(s), "/stocks", NULL);
    CU_ASSERT_FATAL(c != NULL);
    unsigned char want[sizeof rsv + sizeof opc + sizeof bigping + sizeof frag1 + sizeof frag2 + 5];
    size_t n = 0;
    memcpy(want + n, rsv, sizeof rsv), n += sizeof rsv;
    memcpy(want + n, opc, sizeof opc), n += sizeof opc;
    memcpy(want + n, bigping, sizeof bigping), n += sizeof bigping;
    memcpy(want + n, frag1, sizeof frag1), n += sizeof frag1;
    memcpy(want + n, frag2, sizeof frag2), n += sizeof frag2;
    memcpy(want + n, "\x81\x03" "end", 5), n += 5;
    unsigned char got[sizeof want];
    CU_ASSERT_FATAL(read_exact(c, got, n, RECV_MS));
    CU_ASSERT(memcmp(got, want, n) == 0);
    CU_ASSERT(wait_entry(s, 1, 's', "raw", "f1026869", 1000));
    CU_ASSERT(wait_entry(s, 1, 's', "raw", "897e007e7070", 0));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_raw_frames(void)
{
    raw_frames_case(false);
}

static void test_raw_frames_tls(void)
{
    raw_frames_case(true);
}

/* A 3 MB hand-made binary frame (64-bit length) to a client that does not read at first:
 * lws takes the bytes in several partial writes, and they still arrive exact and in order. */
static void raw_big_case(bool tls)
{
    size_t plen = 3u << 20, flen = 10 + plen;
    unsigned char *fr = malloc(flen);
    fr[0] = 0x82;
    fr[1] = 127;
    for (int i = 0; i < 8; i++)
        fr[2 + i] = (unsigned char)((uint64_t)plen >> (8 * (7 - i)));
    for (size_t i = 0; i < plen; i++)
        fr[10 + i] = (unsigned char)(i * 7 + (i >> 13));
    pwss_step steps[] = {
        {.kind = PWSS_STEP_RAW, AT(1, 1), .data = (char *)fr, .len = flen},
        {.kind = PWSS_STEP_SEND_TEXT, AT(2, 1), TXT("end")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 2);
    sc.server.tls = tls;
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_open(pwsm_port(s), tls, pwsm_ca_file(s), "/stocks", NULL);
    CU_ASSERT_FATAL(c != NULL);
    usleep(300 * 1000);
    unsigned char *got = malloc(flen + 5);
    CU_ASSERT_FATAL(read_exact(c, got, flen + 5, 3 * RECV_MS));
    CU_ASSERT(memcmp(got, fr, flen) == 0);
    CU_ASSERT(memcmp(got + flen, "\x81\x03" "end", 5) == 0);
    free(got);
    free(fr);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_raw_big(void)
{
    raw_big_case(false);
    raw_big_case(true);
}

/* Reads stream frames until n events came: checks each event's type and symbol are allowed
 * (allowed: space-separated "EV.SYM" pairs), the frame sizes (batch, the last may be smaller),
 * and optionally concatenates the frames. */
static size_t read_events(wsc *c, size_t n, uint32_t batch, const char *allowed, char **concat)
{
    size_t events = 0, clen = 0;
    if (concat)
        *concat = NULL;
    while (events < n) {
        frame f;
        if (wsc_recv_data(c, RECV_MS, &f) != WSC_FRAME || f.opcode != OP_TEXT) {
            frame_free(&f);
            break;
        }
        cJSON *arr = cJSON_Parse(f.data);
        int k = cJSON_GetArraySize(arr);
        if (batch && k != (int)batch && events + (size_t)k != n)
            fprintf(stderr, "  frame of %d events, batch %u\n", k, batch), k = -1000000;
        for (int i = 0; i < k && allowed; i++) {
            cJSON *e = cJSON_GetArrayItem(arr, i);
            const cJSON *ev = cJSON_GetObjectItem(e, "ev"), *sym = cJSON_GetObjectItem(e, "sym");
            char pair[64];
            snprintf(pair, sizeof pair, " %s.%s ", cJSON_IsString(ev) ? ev->valuestring : "?",
                     cJSON_IsString(sym) ? sym->valuestring : "?");
            char padded[512];
            snprintf(padded, sizeof padded, " %s ", allowed);
            if (!strstr(padded, pair)) {
                fprintf(stderr, "  unexpected event %s\n", pair);
                k = -1000000;
            }
        }
        if (concat) {
            *concat = realloc(*concat, clen + f.len + 2);
            memcpy(*concat + clen, f.data, f.len);
            clen += f.len;
            (*concat)[clen++] = '\n';
            (*concat)[clen] = '\0';
        }
        cJSON_Delete(arr);
        frame_free(&f);
        if (k < 0)
            return 0;
        events += (size_t)k;
    }
    return events;
}

static void test_stream(void)
{
    char *sym_list[] = {(char *)"ZZZ", (char *)"SPY"};
    pwss_step steps[] = {
        {.kind = PWSS_STEP_HANDSHAKE, AT(1, 1)},
        {.kind = PWSS_STEP_STREAM, AT(2, 1), .stream = {.count = 25, .batch = 10, .rate = 0}},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), TXT("s1")},
        {.kind = PWSS_STEP_STREAM, AT(4, 1),
         .stream = {.count = 6, .batch = 3, .types = {"A"}, .ntypes = 1, .symbols = sym_list, .nsymbols = 2}},
        {.kind = PWSS_STEP_SEND_TEXT, AT(5, 1), TXT("s2")},
        {.kind = PWSS_STEP_STREAM, AT(6, 1), .stream = {.count = 4, .batch = 1, .types = {"Q"}, .ntypes = 1}},
        {.kind = PWSS_STEP_SEND_TEXT, AT(7, 1), TXT("s3")},
        {.kind = PWSS_STEP_STREAM, AT(8, 1), .stream = {.count = 20, .batch = 2, .rate = 20}},
        {.kind = PWSS_STEP_SEND_TEXT, AT(9, 1), TXT("s4")},
        {.kind = PWSS_STEP_STREAM, AT(10, 1),
         .stream = {.count = 5, .types = {"T"}, .ntypes = 1, .symbols = sym_list, .nsymbols = 1}},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, sizeof steps / sizeof steps[0]);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(subscribe(c, "T.AAPL,Q.MSFT"));
    /* The subscribed channels, in frames of exactly 10 (the last 5). */
    CU_ASSERT_EQUAL(read_events(c, 25, 10, "T.AAPL Q.MSFT", NULL), 25);
    CU_ASSERT(expect_text(c, "s1"));
    /* Given types and symbols. */
    CU_ASSERT_EQUAL(read_events(c, 6, 3, "A.ZZZ A.SPY", NULL), 6);
    CU_ASSERT(expect_text(c, "s2"));
    /* Given types, subscribed symbols. */
    CU_ASSERT_EQUAL(read_events(c, 4, 1, "Q.AAPL Q.MSFT", NULL), 4);
    CU_ASSERT(expect_text(c, "s3"));
    /* At a rate: 10 frames of 2, 100 ms apart (the first at once). */
    int64_t t0 = now_ms();
    CU_ASSERT_EQUAL(read_events(c, 20, 2, "T.AAPL Q.MSFT", NULL), 20);
    CU_ASSERT(expect_text(c, "s4"));
    int64_t took = now_ms() - t0;
    CU_ASSERT(took >= 600 && took < 10000);
    /* The default batch is 10: 5 events in one frame. */
    CU_ASSERT_EQUAL(read_events(c, 5, 5, "T.ZZZ", NULL), 5);
    CU_ASSERT_EQUAL(count_entries(s, 0, 0, "step_failed", NULL), 0);
    show_failures(s);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_stream_nothing_to_stream(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_STREAM, AT(4, 2), .stream = {.count = 5}},
        {.kind = PWSS_STEP_SEND_TEXT, AT(5, 2), TXT("next")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 2);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_text(c, "next"));
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed", "step 1 (4:2) STREAM: nothing to stream", 1000));
    wsc_free(c);
    pwsm_stop(s);
}

/* The bytes of a STREAM step with these settings on connection `ordinal` of a fresh server. */
static char *stream_run(uint64_t server_seed, uint64_t step_seed, int ordinal)
{
    char *syms[] = {(char *)"AAPL", (char *)"NVDA"};
    pwss_step steps[] = {
        {.kind = PWSS_STEP_STREAM, AT(1, 1),
         .stream = {.count = 60, .batch = 6, .seed = step_seed, .types = {"T", "Q"}, .ntypes = 2,
                    .symbols = syms, .nsymbols = 2}},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 1);
    sc.server.seed = server_seed;
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    if (!s)
        return NULL;
    char *out = NULL;
    for (int i = 1; i <= ordinal; i++) {
        wsc *c = wsc_connect(pwsm_port(s));
        if (!c)
            break;
        free(out);
        out = NULL;
        if (read_events(c, 60, 6, "T.AAPL T.NVDA Q.AAPL Q.NVDA", &out) != 60) {
            free(out);
            out = NULL;
        }
        wsc_free(c);
    }
    pwsm_stop(s);
    return out;
}

static void test_stream_determinism(void)
{
    /* A given seed: the same bytes on any server seed and any connection. */
    char *a = stream_run(1, 42, 1), *b = stream_run(7, 42, 1), *c2 = stream_run(1, 42, 2);
    char *d = stream_run(1, 43, 1);
    CU_ASSERT_FATAL(a && b && c2 && d);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_STRING_EQUAL(a, c2);
    CU_ASSERT(strcmp(a, d) != 0);
    /* seed 0: the server seed mixed with the ordinal; the same again on a fresh server. */
    char *e1 = stream_run(5, 0, 1), *e1again = stream_run(5, 0, 1), *e2 = stream_run(5, 0, 2);
    CU_ASSERT_FATAL(e1 && e1again && e2);
    CU_ASSERT_STRING_EQUAL(e1, e1again);
    CU_ASSERT(strcmp(e1, e2) != 0);
    CU_ASSERT(strcmp(e1, a) != 0);
    free(a);
    free(b);
    free(c2);
    free(d);
    free(e1);
    free(e1again);
    free(e2);
}

static void test_sleep_and_real_answers(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_GREET, AT(1, 1)},
        {.kind = PWSS_STEP_SLEEP, AT(2, 1), .ms = 600},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), TXT("woke")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 3);
    pwsm_options o;
    base_options(&o, &sc);
    o.events_per_sec = 500;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    int64_t t0 = now_ms(); /* before the greeting went out, so before the sleep began */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    /* During a SLEEP, client actions get the real service's answers ... */
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(subscribe(c, "T.*"));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"dance\"}") == 0);
    CU_ASSERT(expect_status_msg(c, "error", "unknown action"));
    /* ... but no stream flows until the script ends. */
    CU_ASSERT(expect_text(c, "woke"));
    CU_ASSERT(now_ms() - t0 >= 600);
    frame f;
    CU_ASSERT(wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME && strstr(f.data, "\"ev\":\"T\""));
    frame_free(&f);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_serve_step(void)
{
    pwss_step steps[] = {
        {.kind = PWSS_STEP_HANDSHAKE, AT(1, 1)},
        {.kind = PWSS_STEP_SERVE, AT(2, 1), .ms = 500},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), TXT("served")},
        {.kind = PWSS_STEP_SLEEP, AT(4, 1), .ms = 400},
        {.kind = PWSS_STEP_SEND_TEXT, AT(5, 1), TXT("slept")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 5);
    pwsm_options o;
    base_options(&o, &sc);
    o.events_per_sec = 100;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(subscribe(c, "A.*"));
    size_t during = 0, while_sleeping = 0;
    frame f;
    bool served = false, slept = false;
    int r = WSC_FRAME;
    while (!slept && (r = wsc_recv_data(c, RECV_MS, &f)) == WSC_FRAME) {
        if (strcmp(f.data, "served") == 0)
            served = true;
        else if (strcmp(f.data, "slept") == 0)
            slept = true;
        else if (strstr(f.data, "\"ev\":\"A\""))
            (served ? &while_sleeping : &during)[0]++;
        frame_free(&f);
    }
    frame_free(&f);
    if (!slept)
        fprintf(stderr, "  serve: r=%d served=%d during=%zu after=%zu\n", r, served, during, while_sleeping);
    CU_ASSERT(served && slept);
    CU_ASSERT(during >= 3);
    CU_ASSERT_EQUAL(while_sleeping, 0);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_repeat(void)
{
    pwss_step inner[] = {{.kind = PWSS_STEP_SEND_TEXT, AT(4, 9), TXT("b")}};
    pwss_step outer[] = {
        {.kind = PWSS_STEP_SEND_TEXT, AT(2, 7), TXT("a")},
        {.kind = PWSS_STEP_REPEAT, AT(3, 7), .times = 2, .body = inner, .nbody = 1},
    };
    pwss_step expect_body[] = {
        {.kind = PWSS_STEP_SEND_TEXT, AT(8, 7), TXT("c")},
        {.kind = PWSS_STEP_EXPECT, AT(9, 7), TXT("{\"never\":1}"), .ms = 150},
    };
    pwss_step steps[] = {
        {.kind = PWSS_STEP_REPEAT, AT(1, 5), .times = 3, .body = outer, .nbody = 2},
        {.kind = PWSS_STEP_REPEAT, AT(5, 5), .times = 0, .body = inner, .nbody = 1},
        {.kind = PWSS_STEP_REPEAT, AT(7, 5), .times = 2, .body = expect_body, .nbody = 2},
        {.kind = PWSS_STEP_SEND_TEXT, AT(10, 5), TXT("end")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 4);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    const char *want[] = {"a", "b", "b", "a", "b", "b", "a", "b", "b", "c", "c", "end"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CU_ASSERT(expect_text(c, want[i]));
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed",
                         "step 3.2 (9:7) EXPECT: expected a client text message matching JSON subset "
                         "{\"never\":1} within 150 ms (repeat iteration 1 of 2), received last: nothing",
                         1000));
    CU_ASSERT(wait_entry(s, 1, '-', "step_failed", "(repeat iteration 2 of 2)", 1000));
    CU_ASSERT_EQUAL(count_entries(s, 1, '-', "step", "REPEAT 3:7"), 3);
    CU_ASSERT_EQUAL(count_entries(s, 1, '-', "step", "SEND_TEXT 4:9"), 6);
    CU_ASSERT_EQUAL(count_entries(s, 1, '-', "step", "REPEAT 5:5"), 1);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_repeat_backpressure(void)
{
    /* 6000 frames of 1000 bytes: more than PWSM_MAX_OUT_QUEUE if queued at once. */
    static char big[1000];
    memset(big, 'x', sizeof big);
    pwss_step body[] = {{.kind = PWSS_STEP_SEND_TEXT, AT(2, 3), .data = big, .len = sizeof big}};
    pwss_step steps[] = {
        {.kind = PWSS_STEP_REPEAT, AT(1, 1), .times = 6000, .body = body, .nbody = 1},
        {.kind = PWSS_STEP_SEND_TEXT, AT(3, 1), TXT("end")},
    };
    pwss_scenario sc;
    scenario_default(&sc, steps, 2);
    pwsm_options o;
    base_options(&o, &sc);
    o.journal_max_entries = 64; /* keep the journal small: 12000 step and frame entries */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    usleep(300 * 1000); /* let the queue fill while we do not read */
    size_t n = 0;
    frame f;
    for (;;) {
        if (wsc_recv(c, RECV_MS, &f) != WSC_FRAME)
            break;
        bool end = strcmp(f.data, "end") == 0;
        n += f.opcode == OP_TEXT && f.len == sizeof big;
        frame_free(&f);
        if (end)
            break;
    }
    frame_free(&f);
    CU_ASSERT_EQUAL(n, 6000);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_scripts_by_ordinal_and_default(void)
{
    pwss_step two[] = {{.kind = PWSS_STEP_SEND_TEXT, AT(1, 1), TXT("two")}};
    pwss_step dflt[] = {{.kind = PWSS_STEP_SEND_TEXT, AT(2, 1), TXT("default")}};
    pwss_conn_script scripts[] = {{.ordinal = 2, .steps = two, .nsteps = 1}};
    pwss_scenario sc = {.scripts = scripts, .nscripts = 1};
    sc.default_script.steps = dflt;
    sc.default_script.nsteps = 1;
    sc.has_default = true;
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    const char *want[] = {"default", "two", "default"};
    for (int i = 0; i < 3; i++) {
        wsc *c = wsc_connect(pwsm_port(s));
        CU_ASSERT_FATAL(c != NULL);
        CU_ASSERT(expect_text(c, want[i]));
        wsc_free(c);
    }
    pwsm_stop(s);

    /* An empty default script: the real service. */
    sc.default_script.nsteps = 0;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_free(c);
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_text(c, "two"));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_scenario_server_settings(void)
{
    pwss_scenario sc = {0};
    sc.server.keys[0] = (char *)"SCENARIO-KEY-1";
    sc.server.nkeys = 1;
    sc.server.policy_close_code = 4001;
    sc.server.auth_timeout_ms = 400;
    sc.server.kick_newer = true;
    pwsm_options o;
    base_options(&o, &sc); /* o.keys = KEY, overridden */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    /* keys and the policy close code */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_failed"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 4001);
    wsc_free(c);
    /* auth_timeout_ms */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    int64_t t0 = now_ms();
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(expect_status(c, "auth_timeout"));
    CU_ASSERT(now_ms() - t0 < 3000);
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 4001);
    wsc_free(c);
    /* kick_newer: the second connection with the key loses, the first keeps working. */
    wsc *first = wsc_connect(pwsm_port(s)), *second = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(first && second);
    CU_ASSERT(expect_status(first, "connected"));
    CU_ASSERT(expect_status(second, "connected"));
    CU_ASSERT(send_auth(first, "SCENARIO-KEY-1"));
    CU_ASSERT(expect_status(first, "auth_success"));
    CU_ASSERT(send_auth(second, "SCENARIO-KEY-1"));
    CU_ASSERT(expect_status_msg(second, "max_connections", "Maximum number of connections exceeded."));
    CU_ASSERT_EQUAL(expect_close(second, NULL, 0), 4001);
    CU_ASSERT(subscribe(first, "T.AAPL"));
    wsc_free(first);
    wsc_free(second);
    pwsm_stop(s);
}

static void test_rate_limit_from_scenario(void)
{
    pwss_step steps[] = {{.kind = PWSS_STEP_GREET, AT(1, 1)}, {.kind = PWSS_STEP_AUTH, AT(2, 1)}};
    pwss_scenario sc;
    scenario_default(&sc, steps, 2);
    sc.server.rate_actions = 2;
    sc.server.rate_window_ms = 60000;
    sc.server.rate_close = true;
    pwsm_options o;
    base_options(&o, &sc);
    o.events_per_sec = 0.01; /* served after the script: keep the stream out of the way */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status(c, "connected"));
    CU_ASSERT(send_auth(c, KEY));
    CU_ASSERT(expect_status(c, "auth_success"));
    CU_ASSERT(subscribe(c, "T.AAPL"));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.AAPL\"}") == 0);
    CU_ASSERT(expect_status_msg(c, "error", "rate limit exceeded"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_invalid_scenarios(void)
{
    static char ping126[126];
    char *sym_null[] = {NULL};
    /* PWSS_MAX_DEPTH + 1 nested REPEAT blocks around a GREET. */
    pwss_step deep[PWSS_MAX_DEPTH + 2];
    memset(deep, 0, sizeof deep);
    for (unsigned i = 0; i <= PWSS_MAX_DEPTH; i++)
        deep[i] = (pwss_step){.kind = PWSS_STEP_REPEAT, .line = (int)i + 1, .column = 1, .times = 2,
                              .body = &deep[i + 1], .nbody = 1};
    deep[PWSS_MAX_DEPTH + 1] = (pwss_step){.kind = PWSS_STEP_SEND_TEXT, .line = 99, .column = 1, TXT("deep")};
    struct {
        pwss_step step;
        const char *err;
    } cases[] = {
        {{.kind = PWSS_STEP_PING, AT(3, 4), .data = ping126, .len = 126}, "3:4 (PING): a control frame"},
        {{.kind = PWSS_STEP_CLOSE, AT(5, 6), .code = 70000}, "5:6 (CLOSE): close code"},
        {{.kind = PWSS_STEP_STREAM, AT(7, 8), .stream = {.count = 0}}, "7:8 (STREAM): count"},
        {{.kind = PWSS_STEP_STREAM, AT(7, 9), .stream = {.count = 1, .types = {"X"}, .ntypes = 1}},
         "types must be"},
        {{.kind = PWSS_STEP_STREAM, AT(7, 10), .stream = {.count = 1, .batch = PWSM_MAX_BATCH + 1}}, "batch"},
        {{.kind = PWSS_STEP_STREAM, AT(7, 11), .stream = {.count = 1, .symbols = sym_null, .nsymbols = 1}},
         "NULL symbol"},
        {{.kind = PWSS_STEP_EXPECT, AT(9, 1), TXT("(unclosed"), .regex = true}, "9:1 (EXPECT): invalid regex"},
        {{.kind = PWSS_STEP_EXPECT, AT(9, 2), TXT("{\"a\":")}, "9:2 (EXPECT): the pattern is not valid JSON"},
        {{.kind = PWSS_STEP_REPEAT, AT(11, 1), .times = PWSS_MAX_REPEAT + 1}, "times over"},
        {{.kind = (pwss_step_kind)99, AT(12, 1)}, "unknown kind 99"},
        {deep[0], "nested deeper"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pwss_scenario sc;
        scenario_default(&sc, &cases[i].step, 1);
        pwsm_options o;
        base_options(&o, &sc);
        char err[256] = "";
        pwsm_server *s = pwsm_start(&o, err, sizeof err);
        CU_ASSERT(s == NULL);
        if (!strstr(err, cases[i].err)) {
            fprintf(stderr, "  case %zu: error \"%s\", expected \"%s\"\n", i, err, cases[i].err);
            CU_FAIL("error message");
        }
        pwsm_stop(s);
    }
    /* PWSS_MAX_DEPTH blocks are fine: 2^PWSS_MAX_DEPTH sends. */
    pwss_scenario sc;
    scenario_default(&sc, &deep[1], 1);
    pwsm_options o;
    base_options(&o, &sc);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    unsigned n = 0;
    while (n < (1u << PWSS_MAX_DEPTH) && expect_text(c, "deep"))
        n++;
    CU_ASSERT_EQUAL(n, 1u << PWSS_MAX_DEPTH);
    wsc_free(c);
    pwsm_stop(s);
}

/* The caller's scenario may be freed once pwsm_start returned. */
static void test_scenario_copied(void)
{
    pwss_step *steps = calloc(2, sizeof *steps);
    steps[0] = (pwss_step){.kind = PWSS_STEP_SEND_TEXT, AT(1, 1), .data = strdup("copied"), .len = 6};
    steps[1] = (pwss_step){.kind = PWSS_STEP_CLOSE, AT(2, 1), .code = 1000, .reason = strdup("done")};
    pwss_scenario *sc = calloc(1, sizeof *sc);
    scenario_default(sc, steps, 2);
    pwsm_options o;
    base_options(&o, sc);
    pwsm_server *s = start(&o);
    free(steps[0].data);
    free(steps[1].reason);
    memset(steps, 0xA5, 2 * sizeof *steps);
    free(steps);
    free(sc);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_text(c, "copied"));
    char reason[32];
    CU_ASSERT_EQUAL(expect_close(c, reason, sizeof reason), 1000);
    CU_ASSERT_STRING_EQUAL(reason, "done");
    wsc_free(c);
    pwsm_stop(s);
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite suite = CU_add_suite("engine", NULL, NULL);
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"greet, auth, confirm, then serve", test_greet_auth_confirm_then_serve},
        {"handshake, no greeting, no script", test_handshake_and_no_greeting},
        {"auth step rejects and times out", test_auth_step_rejects_and_times_out},
        {"confirm times out", test_confirm_timeout},
        {"send text and binary verbatim", test_send_text_and_binary_verbatim},
        {"expect pass and fail", test_expect_pass_and_fail},
        {"expect cut short, redacted", test_expect_cut_short_and_redacted},
        {"close codes", test_close_codes},
        {"drop", test_drop},
        {"drop with the client's reads held", test_drop_slow_reader},
        {"stall", test_stall},
        {"ping and pong", test_ping_pong},
        {"raw frames", test_raw_frames},
        {"raw frames over tls", test_raw_frames_tls},
        {"raw frame of 3 MB, slow reader", test_raw_big},
        {"stream", test_stream},
        {"stream: nothing to stream", test_stream_nothing_to_stream},
        {"stream determinism", test_stream_determinism},
        {"sleep and real answers", test_sleep_and_real_answers},
        {"serve step", test_serve_step},
        {"repeat", test_repeat},
        {"repeat backpressure", test_repeat_backpressure},
        {"scripts by ordinal and default", test_scripts_by_ordinal_and_default},
        {"scenario server settings", test_scenario_server_settings},
        {"rate limit from the scenario", test_rate_limit_from_scenario},
        {"invalid scenarios", test_invalid_scenarios},
        {"scenario copied", test_scenario_copied},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
