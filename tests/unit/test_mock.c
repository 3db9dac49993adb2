/*
 * test_mock.c - drives the mock Polygon server (libpwsmock) over real loopback
 * sockets.
 *
 * The client side is a small blocking WebSocket client on raw sockets (plus
 * OpenSSL for wss; wsclient.h in tests/support, shared with test_engine.c),
 * so a test controls every frame: it can choose not to read, send pings and
 * watch for pongs, and tell a close frame from a dropped TCP connection.  One
 * TLS test also connects with an lws client, the way the connector will.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include <polyws/mock.h>

#include "journal_match.h"
#include "wsclient.h"

#define KEY "GOODKEY-0123456789abcdef"
#define RECV_MS WSC_RECV_MS

/* ------------------------------------------------------------------ protocol helpers (client: wsclient.h) */

/* Receives one text frame holding a single status; returns its message (malloc'd) if the
 * status matches, else NULL (and reports what came). */
static char *expect_status(wsc *c, const char *status)
{
    frame f;
    int r = wsc_recv_data(c, RECV_MS, &f);
    if (r != WSC_FRAME || f.opcode != OP_TEXT) {
        fprintf(stderr, "  expected status %s, got r=%d opcode=%d\n", status, r, f.opcode);
        frame_free(&f);
        return NULL;
    }
    char *msg = NULL;
    cJSON *arr = cJSON_Parse(f.data);
    cJSON *o = cJSON_GetArrayItem(arr, 0);
    const cJSON *ev = cJSON_GetObjectItem(o, "ev"), *st = cJSON_GetObjectItem(o, "status"),
                *m = cJSON_GetObjectItem(o, "message");
    if (cJSON_GetArraySize(arr) == 1 && cJSON_IsString(ev) && strcmp(ev->valuestring, "status") == 0 &&
        cJSON_IsString(st) && strcmp(st->valuestring, status) == 0 && cJSON_IsString(m))
        msg = strdup(m->valuestring);
    else
        fprintf(stderr, "  expected status %s, got %s\n", status, f.data);
    cJSON_Delete(arr);
    frame_free(&f);
    return msg;
}

static bool expect_status_msg(wsc *c, const char *status, const char *message)
{
    char *m = expect_status(c, status);
    bool ok = m && strcmp(m, message) == 0;
    if (m && !ok)
        fprintf(stderr, "  status %s: message \"%s\", expected \"%s\"\n", status, m, message);
    free(m);
    return ok;
}

/* Connects and authenticates (greeting, auth, auth_success). */
static wsc *connect_authed(int port, const char *key)
{
    wsc *c = wsc_connect(port);
    if (!c)
        return NULL;
    if (!expect_status_msg(c, "connected", "Connected Successfully") ||
        wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", key) != 0 ||
        !expect_status_msg(c, "auth_success", "authenticated")) {
        wsc_free(c);
        return NULL;
    }
    return c;
}

/* Subscribes and checks one confirmation per channel (channels separated by ','). */
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

static pwsm_server *start(pwsm_options *o)
{
    char err[256];
    pwsm_server *s = pwsm_start(o, err, sizeof err);
    if (!s)
        fprintf(stderr, "  pwsm_start: %s\n", err);
    return s;
}

static void base_options(pwsm_options *o)
{
    memset(o, 0, sizeof *o);
    o->keys[0] = KEY;
    o->keys[1] = "OTHERKEY-0123456789";
}

/* ------------------------------------------------------------------ stream helpers */

typedef struct stream_stats {
    size_t events, frames, max_batch;
    char *concat;            /* all stream frames, '\n'-separated (if keep) */
    size_t concat_len;
    bool bad;                /* an event failed validation */
    char badmsg[256];
} stream_stats;

static void stats_bad(stream_stats *st, const char *fmt, const char *detail)
{
    if (!st->bad)
        snprintf(st->badmsg, sizeof st->badmsg, fmt, detail);
    st->bad = true;
}

static bool is_int(const cJSON *j)
{
    return cJSON_IsNumber(j) && j->valuedouble == (double)(long long)j->valuedouble;
}

/* Field checks per event type (names and JSON types from the protocol doc). */
static void validate_event(stream_stats *st, const cJSON *e, const char *ev)
{
    const char *ints_agg[] = {"v", "av", "z", "s", "e"};
    const char *nums_agg[] = {"op", "vw", "o", "c", "h", "l", "a"};
    const char *ints_t[] = {"x", "z", "s", "t", "q"};
    const char *ints_q[] = {"bx", "bs", "ax", "as", "c", "t", "q", "z"};
    const char *nums_q[] = {"bp", "ap"};
    if (!cJSON_IsString(cJSON_GetObjectItem(e, "sym")))
        stats_bad(st, "no sym in %s", ev);
    /* "otc" is only ever true (absent when false), and only on A, AM and T. */
    const cJSON *otc = cJSON_GetObjectItem(e, "otc");
    if (otc && (!cJSON_IsTrue(otc) || !strcmp(ev, "Q")))
        stats_bad(st, "otc field on %s", ev);
    if (!strcmp(ev, "A") || !strcmp(ev, "AM")) {
        for (size_t i = 0; i < 5; i++)
            if (!is_int(cJSON_GetObjectItem(e, ints_agg[i])))
                stats_bad(st, "aggregate field %s", ints_agg[i]);
        for (size_t i = 0; i < 7; i++)
            if (!cJSON_IsNumber(cJSON_GetObjectItem(e, nums_agg[i])))
                stats_bad(st, "aggregate field %s", nums_agg[i]);
        double h = cJSON_GetObjectItem(e, "h")->valuedouble, l = cJSON_GetObjectItem(e, "l")->valuedouble;
        double s = cJSON_GetObjectItem(e, "s")->valuedouble, en = cJSON_GetObjectItem(e, "e")->valuedouble;
        if (h < l || en - s != (!strcmp(ev, "A") ? 1000 : 60000))
            stats_bad(st, "aggregate window/high-low %s", ev);
    } else if (!strcmp(ev, "T")) {
        for (size_t i = 0; i < 5; i++)
            if (!is_int(cJSON_GetObjectItem(e, ints_t[i])))
                stats_bad(st, "trade field %s", ints_t[i]);
        if (!cJSON_IsString(cJSON_GetObjectItem(e, "i")) || !cJSON_IsNumber(cJSON_GetObjectItem(e, "p")))
            stats_bad(st, "trade field %s", "i/p");
        const cJSON *c = cJSON_GetObjectItem(e, "c");
        if (c) {
            if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) < 1)
                stats_bad(st, "trade %s not an int array", "c");
            for (const cJSON *k = c ? c->child : NULL; k; k = k->next)
                if (!is_int(k))
                    stats_bad(st, "trade %s not an int array", "c");
        }
    } else if (!strcmp(ev, "Q")) {
        for (size_t i = 0; i < 8; i++)
            if (!is_int(cJSON_GetObjectItem(e, ints_q[i])))
                stats_bad(st, "quote field %s", ints_q[i]);
        for (size_t i = 0; i < 2; i++)
            if (!cJSON_IsNumber(cJSON_GetObjectItem(e, nums_q[i])))
                stats_bad(st, "quote field %s", nums_q[i]);
        if (cJSON_GetObjectItem(e, "bp")->valuedouble >= cJSON_GetObjectItem(e, "ap")->valuedouble)
            stats_bad(st, "quote %s", "crossed");
    } else {
        stats_bad(st, "unexpected ev %s", ev);
    }
}

/* Symbols seen per event type, and the last trade "q" per symbol. */
typedef struct seen {
    char key[64][48]; /* "EV.SYM" */
    double last_q[64];
    size_t n;
} seen;

static size_t seen_add(seen *s, const char *ev, const char *sym)
{
    char k[48];
    snprintf(k, sizeof k, "%s.%s", ev, sym);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], k))
            return i;
    if (s->n == 64)
        return 63;
    snprintf(s->key[s->n], sizeof s->key[0], "%s", k);
    s->last_q[s->n] = -1;
    return s->n++;
}

static bool seen_has(const seen *s, const char *k)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], k))
            return true;
    return false;
}

/* Reads stream frames until `events` events arrived (or timeout / close); validates them. */
static void read_stream(wsc *c, size_t events, stream_stats *st, seen *sn, bool keep)
{
    memset(st, 0, sizeof *st);
    while (st->events < events) {
        frame f;
        int r = wsc_recv_data(c, RECV_MS, &f);
        if (r != WSC_FRAME || f.opcode != OP_TEXT) {
            frame_free(&f);
            return;
        }
        cJSON *arr = cJSON_Parse(f.data);
        if (!cJSON_IsArray(arr)) {
            stats_bad(st, "frame not an array: %.100s", f.data);
        } else {
            size_t n = (size_t)cJSON_GetArraySize(arr);
            for (const cJSON *e = arr->child; e; e = e->next) {
                const cJSON *ev = cJSON_GetObjectItem(e, "ev");
                if (!cJSON_IsString(ev)) {
                    stats_bad(st, "event without ev: %.100s", f.data);
                    continue;
                }
                validate_event(st, e, ev->valuestring);
                const cJSON *sym = cJSON_GetObjectItem(e, "sym");
                if (sn && cJSON_IsString(sym)) {
                    size_t i = seen_add(sn, ev->valuestring, sym->valuestring);
                    if (!strcmp(ev->valuestring, "T")) {
                        double q = cJSON_GetObjectItem(e, "q")->valuedouble;
                        if (q <= sn->last_q[i])
                            stats_bad(st, "trade q not increasing for %s", sym->valuestring);
                        sn->last_q[i] = q;
                    }
                }
            }
            st->events += n;
            st->frames++;
            if (n > st->max_batch)
                st->max_batch = n;
            if (keep) {
                st->concat = realloc(st->concat, st->concat_len + f.len + 2);
                memcpy(st->concat + st->concat_len, f.data, f.len);
                st->concat_len += f.len;
                st->concat[st->concat_len++] = '\n';
                st->concat[st->concat_len] = '\0';
            }
        }
        cJSON_Delete(arr);
        frame_free(&f);
    }
}

/* ------------------------------------------------------------------ tests */

static void test_greeting_and_auth(void)
{
    pwsm_options o;
    base_options(&o);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(pwsm_port(s) > 0);
    char want[64];
    snprintf(want, sizeof want, "ws://127.0.0.1:%d", pwsm_port(s));
    CU_ASSERT_STRING_EQUAL(pwsm_url(s), want);
    CU_ASSERT(pwsm_ca_file(s) == NULL);

    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT(c != NULL);
    CU_ASSERT(pwsm_connections(s) == 1);
    CU_ASSERT(wait_entry(s, 1, '-', "open", "/stocks", 1000));
    CU_ASSERT(wait_entry(s, 1, 's', "text", "auth_success", 1000));
    /* A second auth is answered again (undocumented upstream). */
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_free(c);
    CU_ASSERT(wait_entry(s, 1, '-', "drop", NULL, 2000));
    pwsm_stop(s);
}

static void test_auth_failed(void)
{
    pwsm_options o;
    base_options(&o);
    o.nscripts = 2;
    o.scripts[1].reject_auth = true; /* ordinal 2 rejects even the good key */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    for (int i = 0; i < 2; i++) {
        wsc *c = wsc_connect(pwsm_port(s));
        CU_ASSERT_FATAL(c != NULL);
        CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
        wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", i == 0 ? "WRONG-KEY-42" : KEY);
        CU_ASSERT(expect_status_msg(c, "auth_failed", "authentication failed"));
        CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
        wsc_free(c);
    }
    /* Empty key fails as well. */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"\"}");
    CU_ASSERT(expect_status_msg(c, "auth_failed", "authentication failed"));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_auth_timeout(void)
{
    pwsm_options o;
    base_options(&o);
    o.auth_timeout_ms = 300;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    int64_t t0 = now_ms();
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    CU_ASSERT(expect_status_msg(c, "auth_timeout", "No authentication request received."));
    CU_ASSERT(now_ms() - t0 >= 250);
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    frame f;
    CU_ASSERT(wsc_recv(c, RECV_MS, &f) == WSC_EOF);
    frame_free(&f);
    wsc_free(c);
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 2000));
    pwsm_stop(s);
}

static void test_auth_required_and_invalid_json(void)
{
    pwsm_options o;
    base_options(&o);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}");
    char *m = expect_status(c, "auth_required");
    CU_ASSERT(m != NULL);
    free(m);
    wsc_send_text(c, "this is {not json");
    m = expect_status(c, "error");
    CU_ASSERT(m != NULL);
    free(m);
    wsc_send_text(c, "{\"action\":\"dance\"}");
    m = expect_status(c, "error");
    CU_ASSERT(m != NULL);
    free(m);
    /* The connection goes on. */
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_subscribe_confirmations(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 1; /* keep the stream out of the way */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL, T.MSFT,,Q.*\"}");
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: A.AAPL"));
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: T.MSFT"));
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: Q.*"));
    wsc_send_text(c, "{\"action\":\"unsubscribe\",\"params\":\"T.MSFT\"}");
    frame f;
    /* A stream frame may come first at 1 event/s; skip arrays of events. */
    for (;;) {
        CU_ASSERT_FATAL(wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME);
        if (strstr(f.data, "\"ev\":\"status\""))
            break;
        frame_free(&f);
    }
    CU_ASSERT_STRING_EQUAL(f.data,
                           "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"unsubscribed to: T.MSFT\"}]");
    frame_free(&f);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_stream_only_subscribed(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.batch_max = 10;
    o.stream_limit = 600;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.AAPL,Q.MSFT,AM.SPY,A.ZZZZ"));
    stream_stats st;
    seen sn = {0};
    read_stream(c, 600, &st, &sn, false);
    CU_ASSERT_EQUAL(st.events, 600);
    CU_ASSERT(st.max_batch >= 2 && st.max_batch <= 10);
    if (st.bad)
        fprintf(stderr, "  %s\n", st.badmsg);
    CU_ASSERT(!st.bad);
    CU_ASSERT_EQUAL(sn.n, 4);
    CU_ASSERT(seen_has(&sn, "T.AAPL") && seen_has(&sn, "Q.MSFT") && seen_has(&sn, "AM.SPY") &&
              seen_has(&sn, "A.ZZZZ"));
    /* The limit holds: nothing more comes. */
    frame f;
    CU_ASSERT(wsc_recv_data(c, 300, &f) == WSC_TIMEOUT);
    frame_free(&f);
    wsc_free(c);

    /* Wildcards cover the 8-symbol universe. */
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "A.*"));
    memset(&sn, 0, sizeof sn);
    read_stream(c, 600, &st, &sn, false);
    CU_ASSERT_EQUAL(st.events, 600);
    CU_ASSERT(!st.bad);
    CU_ASSERT_EQUAL(sn.n, 8);
    CU_ASSERT(seen_has(&sn, "A.AAPL") && seen_has(&sn, "A.SPY"));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_unsubscribe_stops_stream(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 500;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.AAPL"));
    stream_stats st;
    read_stream(c, 20, &st, NULL, false);
    CU_ASSERT(st.events >= 20);
    wsc_send_text(c, "{\"action\":\"unsubscribe\",\"params\":\"T.AAPL\"}");
    frame f;
    bool confirmed = false;
    while (!confirmed && wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME) {
        confirmed = strstr(f.data, "unsubscribed to: T.AAPL") != NULL;
        frame_free(&f);
    }
    CU_ASSERT(confirmed);
    CU_ASSERT(wsc_recv_data(c, 400, &f) == WSC_TIMEOUT);
    frame_free(&f);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_rate(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 200;
    o.batch_max = 1;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "Q.*"));
    int64_t t0 = now_ms();
    size_t events = 0;
    frame f;
    while (now_ms() - t0 < 1000 && wsc_recv_data(c, 1000, &f) == WSC_FRAME) {
        events++;
        frame_free(&f);
    }
    int64_t dt = now_ms() - t0;
    /* ~200 expected; wide bounds for loaded machines and valgrind. */
    fprintf(stderr, "  rate: %zu events in %lld ms\n", events, (long long)dt);
    CU_ASSERT(events >= 40 && events <= 260);
    wsc_free(c);
    pwsm_stop(s);
}

/* Runs one client script against a fresh server and returns the stream bytes. */
static char *stream_bytes(uint64_t seed, size_t events)
{
    pwsm_options o;
    base_options(&o);
    o.seed = seed;
    o.events_per_sec = -1;
    o.batch_max = 25;
    o.stream_limit = events;
    pwsm_server *s = start(&o);
    if (!s)
        return NULL;
    wsc *c = connect_authed(pwsm_port(s), KEY);
    char *out = NULL;
    if (c && subscribe(c, "A.*,AM.*,T.*,Q.*,T.XYZ")) {
        stream_stats st;
        seen sn = {0};
        read_stream(c, events, &st, &sn, true);
        if (st.events == events && !st.bad)
            out = st.concat;
        else
            free(st.concat);
    }
    wsc_free(c);
    pwsm_stop(s);
    return out;
}

static void test_determinism(void)
{
    char *a = stream_bytes(42, 2000), *b = stream_bytes(42, 2000), *d = stream_bytes(43, 2000);
    CU_ASSERT_FATAL(a && b && d);
    CU_ASSERT(strlen(a) > 100000);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT(strcmp(a, d) != 0);
    free(a);
    free(b);
    free(d);
}

static void test_max_connections(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 1;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c1 = connect_authed(pwsm_port(s), KEY);
    wsc *other = connect_authed(pwsm_port(s), "OTHERKEY-0123456789");
    CU_ASSERT_FATAL(c1 && other);
    wsc *c2 = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c2 != NULL);
    /* The older connection with the same key is kicked ... */
    CU_ASSERT(expect_status_msg(c1, "max_connections", "Maximum number of connections exceeded."));
    CU_ASSERT_EQUAL(expect_close(c1, NULL, 0), 1008);
    /* ... the newer one and the other key keep working. */
    CU_ASSERT(subscribe(c2, "T.AAPL"));
    CU_ASSERT(subscribe(other, "T.AAPL"));
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 2000));
    wsc_free(c1);
    wsc_free(c2);
    wsc_free(other);
    pwsm_stop(s);

    /* max_per_key = 2: the third one kicks the first only. */
    o.max_per_key = 2;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *k[3];
    for (int i = 0; i < 3; i++) {
        k[i] = connect_authed(pwsm_port(s), KEY);
        CU_ASSERT_FATAL(k[i] != NULL);
    }
    CU_ASSERT(expect_status_msg(k[0], "max_connections", "Maximum number of connections exceeded."));
    CU_ASSERT(subscribe(k[1], "Q.AAPL"));
    CU_ASSERT(subscribe(k[2], "Q.AAPL"));
    for (int i = 0; i < 3; i++)
        wsc_free(k[i]);
    pwsm_stop(s);
}

static void test_fault_drop(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.batch_max = 7;
    o.nscripts = 1;
    o.scripts[0].fault = PWSM_FAULT_DROP;
    o.scripts[0].after_events = 50;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.*"));
    stream_stats st;
    read_stream(c, 1000, &st, NULL, false);
    CU_ASSERT_EQUAL(st.events, 50);
    /* read_stream stopped at something that is not a text frame: must be EOF, no close frame. */
    frame f;
    int r = wsc_recv(c, 500, &f);
    CU_ASSERT(r == WSC_EOF || r == WSC_ERROR);
    frame_free(&f);
    CU_ASSERT(wait_entry(s, 1, '-', "fault", "drop", 2000));
    CU_ASSERT(wait_entry(s, 1, '-', "drop", NULL, 2000));
    CU_ASSERT(!wait_entry(s, 1, 's', "close", NULL, 0));
    wsc_free(c);
    /* Ordinal 2 has no script: it streams on. */
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.*"));
    read_stream(c, 200, &st, NULL, false);
    CU_ASSERT(st.events >= 200);
    wsc_free(c);
    pwsm_stop(s);
}

/* Reads frames until one is not a text frame; returns that frame's opcode (or -1) and
 * counts events. */
static int drain_events(wsc *c, size_t *events, char *reason, size_t rcap, int *code)
{
    for (;;) {
        frame f;
        int r = wsc_recv_data(c, RECV_MS, &f);
        if (r != WSC_FRAME)
            return -1;
        if (f.opcode != OP_TEXT) {
            int op = f.opcode;
            if (op == OP_CLOSE && code)
                *code = frame_close_code(&f, reason, rcap);
            frame_free(&f);
            return op;
        }
        if (strstr(f.data, "\"ev\":\"status\"")) {
            frame_free(&f);
            return 100; /* a status */
        }
        cJSON *arr = cJSON_Parse(f.data);
        *events += (size_t)cJSON_GetArraySize(arr);
        cJSON_Delete(arr);
        frame_free(&f);
    }
}

static void test_fault_drop_after_auth(void)
{
    pwsm_options o;
    base_options(&o);
    o.default_script.fault = PWSM_FAULT_DROP; /* after_events 0: right after auth_success */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    for (uint32_t k = 1; k <= 2; k++) {
        wsc *c = connect_authed(pwsm_port(s), KEY);
        CU_ASSERT_FATAL(c != NULL);
        frame f;
        int r = wsc_recv(c, RECV_MS, &f);
        CU_ASSERT(r == WSC_EOF || r == WSC_ERROR);
        frame_free(&f);
        CU_ASSERT(wait_entry(s, k, '-', "drop", NULL, 2000));
        wsc_free(c);
    }
    pwsm_stop(s);
}

static void test_fault_close(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.nscripts = 1;
    o.scripts[0].fault = PWSM_FAULT_CLOSE;
    o.scripts[0].after_events = 33;
    o.scripts[0].close_code = 1001;
    o.scripts[0].close_reason = "going away";
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "Q.*"));
    size_t events = 0;
    char reason[128] = "";
    int code = 0;
    CU_ASSERT_EQUAL(drain_events(c, &events, reason, sizeof reason, &code), OP_CLOSE);
    CU_ASSERT_EQUAL(events, 33);
    CU_ASSERT_EQUAL(code, 1001);
    CU_ASSERT_STRING_EQUAL(reason, "going away");
    wsc_send_close(c, 1001, "");
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 2000));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_fault_status_close(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.default_script.fault = PWSM_FAULT_STATUS_CLOSE;
    o.default_script.after_events = 12;
    o.default_script.status = "slow_consumer";
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "A.*"));
    size_t events = 0;
    CU_ASSERT_EQUAL(drain_events(c, &events, NULL, 0, NULL), 100);
    CU_ASSERT_EQUAL(events, 12);
    CU_ASSERT(wait_entry(s, 1, 's', "text", "\"status\":\"slow_consumer\"", 1000));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_fault_stall(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.batch_max = 1;
    o.default_script.fault = PWSM_FAULT_STALL;
    o.default_script.after_events = 5;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    /* Before the stall a ping is answered. */
    wsc_send(c, OP_PING, "hello", 5);
    frame f;
    CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT(f.opcode == OP_PONG && f.len == 5 && memcmp(f.data, "hello", 5) == 0);
    frame_free(&f);
    CU_ASSERT(subscribe(c, "T.AAPL"));
    stream_stats st;
    read_stream(c, 5, &st, NULL, false);
    CU_ASSERT_EQUAL(st.events, 5);
    CU_ASSERT(wait_entry(s, 1, '-', "fault", "stall", 2000));
    /* Stalled: no data, no pong, but the TCP connection stays open. */
    wsc_send(c, OP_PING, "again", 5);
    CU_ASSERT(wsc_recv(c, 1000, &f) == WSC_TIMEOUT);
    frame_free(&f);
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.*\"}");
    CU_ASSERT(wsc_recv(c, 300, &f) == WSC_TIMEOUT);
    frame_free(&f);
    CU_ASSERT(!wait_entry(s, 1, '-', "drop", NULL, 0));
    CU_ASSERT(!wait_entry(s, 1, '-', "closed", NULL, 0));
    /* The unread frames are journaled from the socket buffer, and stay unanswered. */
    CU_ASSERT(wait_entry(s, 1, 'c', "ping", "again", 2000));
    CU_ASSERT(wait_entry(s, 1, 'c', "text", "Q.*", 2000));
    CU_ASSERT(!wait_entry(s, 1, 's', "text", "subscribed to: Q.*", 0));
    const pwsm_entry *all = NULL;
    size_t n = pwsm_journal(s, &all), pings = 0;
    for (size_t i = 0; i < n; i++)
        pings += all[i].conn == 1 && all[i].dir == 'c' && !strcmp(all[i].kind, "ping");
    CU_ASSERT_EQUAL(pings, 1); /* "hello" was answered by lws unseen; "again" is peeked once */
    wsc_free(c);
    pwsm_stop(s); /* must not hang on the stalled connection */
}

static void test_scripts_by_ordinal(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 1;
    o.auth_timeout_ms = 800;
    o.nscripts = 3;
    o.scripts[0].no_greeting = true;
    o.scripts[1].raw_frames[0] = "this is not json";
    o.scripts[1].raw_frames[1] = "[{\"ev\":\"T\",\"sym\":";
    o.scripts[2].ignore_auth = true;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);

    /* 1: no greeting, auth works. */
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    frame f;
    CU_ASSERT(wsc_recv(c, 300, &f) == WSC_TIMEOUT);
    frame_free(&f);
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_free(c);

    /* 2: raw frames right after the first confirmation, verbatim. */
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"T.AAPL,Q.AAPL\"}");
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: T.AAPL"));
    CU_ASSERT_FATAL(wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT_STRING_EQUAL(f.data, "this is not json");
    frame_free(&f);
    CU_ASSERT_FATAL(wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME);
    CU_ASSERT_STRING_EQUAL(f.data, "[{\"ev\":\"T\",\"sym\":");
    frame_free(&f);
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: Q.AAPL"));
    wsc_free(c);

    /* 3: auth ignored; the server's auth_timeout still fires. */
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_timeout", "No authentication request received."));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_message_too_big(void)
{
    pwsm_options o;
    base_options(&o);
    o.max_message = 1024;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    char *big = malloc(4001);
    memset(big, 'x', 4000);
    big[4000] = '\0';
    wsc_send(c, OP_TEXT, big, 4000);
    free(big);
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1009);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_big_and_fragmented_messages(void)
{
    enum { NCH = 3000 };
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 1;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    /* ~27 KB in one frame: lws hands it over in pieces, the mock reassembles. */
    size_t cap = 64 + NCH * 12;
    char *msg = malloc(cap);
    size_t len = (size_t)snprintf(msg, cap, "{\"action\":\"subscribe\",\"params\":\"");
    for (int i = 0; i < NCH; i++)
        len += (size_t)snprintf(msg + len, cap - len, "%sT.S%05d", i ? "," : "", i);
    len += (size_t)snprintf(msg + len, cap - len, "\"}");
    CU_ASSERT(len > 25000);
    wsc_send(c, OP_TEXT, msg, len);
    size_t confirmations = 0;
    frame f;
    char last[64] = "";
    while (confirmations < NCH && wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME) {
        if (strstr(f.data, "subscribed to: ")) {
            confirmations++;
            snprintf(last, sizeof last, "%s", strstr(f.data, "subscribed to: "));
        }
        frame_free(&f);
    }
    CU_ASSERT_EQUAL(confirmations, NCH);
    CU_ASSERT_STRING_EQUAL(last, "subscribed to: T.S02999\"}]");
    /* One message in three frames (text + 2 continuations). */
    const char *part[] = {"{\"action\":\"unsub", "scribe\",\"params\"", ":\"T.S00007\"}"};
    wsc_send_frame(c, false, OP_TEXT, part[0], strlen(part[0]));
    wsc_send_frame(c, false, OP_CONT, part[1], strlen(part[1]));
    wsc_send_frame(c, true, OP_CONT, part[2], strlen(part[2]));
    bool ok = false;
    while (!ok && wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME) {
        ok = strstr(f.data, "unsubscribed to: T.S00007") != NULL;
        frame_free(&f);
    }
    CU_ASSERT(ok);
    CU_ASSERT(wait_entry(s, 1, 'c', "text", "{\"action\":\"unsubscribe\",\"params\":\"T.S00007\"}", 0));
    free(msg);
    wsc_free(c);
    pwsm_stop(s);
}

static void test_max_connections_limit(void)
{
    pwsm_options o;
    base_options(&o);
    o.max_connections = 2;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *a = wsc_connect(pwsm_port(s)), *b = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT(expect_status_msg(a, "connected", "Connected Successfully"));
    CU_ASSERT(expect_status_msg(b, "connected", "Connected Successfully"));
    const char *why = NULL;
    wsc *c = wsc_open(pwsm_port(s), false, NULL, "/stocks", &why);
    CU_ASSERT(c == NULL);
    wsc_free(c);
    wsc_free(a);
    CU_ASSERT(wait_entry(s, 1, '-', "drop", NULL, 2000));
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT(c != NULL);
    wsc_free(c);
    wsc_free(b);
    pwsm_stop(s);
}

static void test_many_connections(void)
{
    enum { N = 60 };
    pwsm_options o;
    base_options(&o);
    o.max_per_key = N;
    o.events_per_sec = 50;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c[N];
    for (int i = 0; i < N; i++) {
        c[i] = connect_authed(pwsm_port(s), KEY);
        CU_ASSERT_FATAL(c[i] != NULL);
    }
    CU_ASSERT_EQUAL(pwsm_connections(s), N);
    for (int i = 0; i < N; i++)
        CU_ASSERT(subscribe(c[i], "T.*"));
    for (int i = 0; i < N; i++) {
        stream_stats st;
        read_stream(c[i], 3, &st, NULL, false);
        CU_ASSERT(st.events >= 3);
    }
    /* Ordinals follow the accept order. */
    for (uint32_t k = 1; k <= N; k++)
        CU_ASSERT(wait_entry(s, k, '-', "open", NULL, 0));
    for (int i = 0; i < N; i++)
        wsc_free(c[i]);
    pwsm_stop(s);
}

static void test_ping_and_client_close(void)
{
    pwsm_options o;
    base_options(&o);
    o.ping_interval_ms = 100;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    frame f;
    bool pinged = false;
    for (int i = 0; i < 5 && !pinged; i++) {
        CU_ASSERT_FATAL(wsc_recv(c, RECV_MS, &f) == WSC_FRAME);
        if (f.opcode == OP_PING) {
            pinged = true;
            wsc_send(c, OP_PONG, f.data, f.len);
        }
        frame_free(&f);
    }
    CU_ASSERT(pinged);
    CU_ASSERT(wait_entry(s, 1, 's', "ping", NULL, 1000));
    CU_ASSERT(wait_entry(s, 1, 'c', "pong", "pwsmock", 2000));
    wsc_send_close(c, 1000, "bye");
    CU_ASSERT(expect_close(c, NULL, 0) == 1000);
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 2000));
    match m = {1, 'c', "close", NULL};
    size_t at = 0;
    CU_ASSERT_FATAL(pwsm_wait_from(s, 0, match_pred, &m, 0, &at));
    const pwsm_entry *e = pwsm_journal_get(s, at);
    CU_ASSERT(e && e->close_code == 1000 && strcmp(e->reason, "bye") == 0);
    wsc_free(c);
    pwsm_stop(s);
}

/* ---- TLS */

static void check_file_exists(const char *path, bool want)
{
    struct stat stt;
    CU_ASSERT((stat(path, &stt) == 0) == want);
}

typedef struct lws_client_state {
    bool done, error, closed;
    char first[256];
} lws_client_state;

static int lws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    lws_client_state *st = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        st->error = st->done = true;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!st->first[0])
            snprintf(st->first, sizeof st->first, "%.*s", (int)len, (const char *)in);
        st->done = true;
        return -1;
    case LWS_CALLBACK_CLIENT_CLOSED:
        st->closed = st->done = true;
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Connects with an lws client (as the connector does) and returns the first frame. */
static bool lws_client_first_frame(int port, const char *ca_file, char *out, size_t cap)
{
    static const struct lws_protocols protocols[] = {
        {"pwsm-test-client", lws_client_cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
    lws_client_state st = {0};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = ca_file;
    info.user = &st;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return false;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = "127.0.0.1";
    ci.port = port;
    ci.path = "/stocks";
    ci.host = "127.0.0.1";
    ci.origin = "127.0.0.1";
    ci.ssl_connection = LCCSCF_USE_SSL;
    if (!lws_client_connect_via_info(&ci))
        st.error = st.done = true;
    int64_t deadline = now_ms() + RECV_MS;
    while (!st.done && now_ms() < deadline)
        lws_service(ctx, 50);
    lws_context_destroy(ctx);
    snprintf(out, cap, "%s", st.first);
    return !st.error && st.first[0];
}

static void test_tls(void)
{
    pwsm_options o;
    base_options(&o);
    o.tls = true;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    const char *ca = pwsm_ca_file(s);
    CU_ASSERT_FATAL(ca != NULL);
    char ca_copy[512];
    snprintf(ca_copy, sizeof ca_copy, "%s", ca);
    check_file_exists(ca_copy, true);
    CU_ASSERT(strncmp(pwsm_url(s), "wss://127.0.0.1:", 16) == 0);

    /* OpenSSL client verifying the chain and the IP against the generated CA. */
    const char *why = NULL;
    wsc *c = wsc_open(pwsm_port(s), true, ca, "/stocks", &why);
    if (!c)
        fprintf(stderr, "  tls connect failed at %s\n", why);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    CU_ASSERT(subscribe(c, "T.AAPL"));
    wsc_free(c);

    /* Without trusting the CA verification fails. */
    c = wsc_open(pwsm_port(s), true, NULL, "/stocks", &why);
    CU_ASSERT(c == NULL);
    wsc_free(c);

    /* The lws client path, which checks the host name too. */
    char first[256];
    CU_ASSERT(lws_client_first_frame(pwsm_port(s), ca, first, sizeof first));
    CU_ASSERT_STRING_EQUAL(first, "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]");

    pwsm_stop(s);
    check_file_exists(ca_copy, false); /* removed at stop */
}

/* ---- journal */

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char *buf = NULL;
    size_t cap = 0;
    bool hit = false;
    while (getline(&buf, &cap, f) > 0 && !hit)
        hit = strstr(buf, needle) != NULL;
    free(buf);
    fclose(f);
    return hit;
}

static void test_journal_redaction_and_file(void)
{
    char dir[] = "/tmp/pwsm-test-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/tape.jsonl", dir);
    pwsm_options o;
    base_options(&o);
    o.journal_path = path;
    o.events_per_sec = -1;
    o.stream_limit = 30;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.*"));
    stream_stats st;
    read_stream(c, 30, &st, NULL, false);
    /* A key repeated elsewhere, a bad key, an unparseable auth, and a binary frame. */
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"T.%s\"}", KEY);
    free(expect_status(c, "success"));
    wsc_send(c, OP_BINARY, "\x00\x01\xff" KEY, 3 + strlen(KEY));
    wsc_send_close(c, 1000, "done");
    CU_ASSERT(expect_close(c, NULL, 0) == 1000);
    wsc_free(c);
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"WRONG-SECRET-777\"}");
    CU_ASSERT(expect_status_msg(c, "auth_failed", "authentication failed"));
    wsc_free(c);
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"UNPARSEABLE-SECRET-9\"");
    CU_ASSERT(wait_entry(s, 3, 'c', "text", NULL, 2000));
    wsc_free(c);
    CU_ASSERT(wait_entry(s, 3, '-', "drop", NULL, 2000));

    /* In memory: no key anywhere, auth messages carry "***". */
    size_t n = pwsm_journal_count(s);
    CU_ASSERT(n > 10);
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = pwsm_journal_get(s, i);
        CU_ASSERT_FATAL(e != NULL);
        CU_ASSERT(memmem(e->data, e->len, KEY, strlen(KEY)) == NULL);
        CU_ASSERT(strstr(e->data, "WRONG-SECRET-777") == NULL);
        CU_ASSERT(strstr(e->data, "UNPARSEABLE-SECRET-9") == NULL);
    }
    CU_ASSERT(pwsm_journal_get(s, n + 5) == NULL);
    CU_ASSERT(wait_entry(s, 1, 'c', "text", "{\"action\":\"auth\",\"params\":\"***\"}", 0));
    CU_ASSERT(wait_entry(s, 2, 'c', "text", "{\"action\":\"auth\",\"params\":\"***\"}", 0));
    CU_ASSERT(wait_entry(s, 1, 'c', "binary", NULL, 0));
    char url[128];
    snprintf(url, sizeof url, "%s", pwsm_url(s));
    pwsm_stop(s);

    /* On disk: same, a tape header first (the URL, a wall-clock start, mode "mock"), then every
     * line a JSON object of the tape format; "open" lines carry the Host the client sent. */
    CU_ASSERT(!file_contains(path, KEY));
    CU_ASSERT(!file_contains(path, "WRONG-SECRET-777"));
    CU_ASSERT(!file_contains(path, "UNPARSEABLE-SECRET-9"));
    CU_ASSERT(file_contains(path, "\"params\\\":\\\"***\\\""));
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    char *line = NULL;
    size_t cap = 0, lines = 0, closes = 0, b64 = 0, opens = 0, hosts = 0;
    CU_ASSERT_FATAL(getline(&line, &cap, f) > 0);
    cJSON *head = cJSON_Parse(line);
    CU_ASSERT(is_int(cJSON_GetObjectItem(head, "polyws_tape")));
    const cJSON *hurl = cJSON_GetObjectItem(head, "url"), *hmode = cJSON_GetObjectItem(head, "mode");
    CU_ASSERT(cJSON_IsString(hurl) && !strcmp(hurl->valuestring, url));
    CU_ASSERT(cJSON_IsString(hmode) && !strcmp(hmode->valuestring, "mock"));
    const cJSON *hstart = cJSON_GetObjectItem(head, "start_us");
    double start_off_s = cJSON_IsNumber(hstart) ? hstart->valuedouble / 1e6 - (double)time(NULL) : 1e9;
    CU_ASSERT(start_off_s > -60 && start_off_s < 60);
    cJSON_Delete(head);
    while (getline(&line, &cap, f) > 0) {
        lines++;
        cJSON *j = cJSON_Parse(line);
        CU_ASSERT(cJSON_IsObject(j));
        CU_ASSERT(is_int(cJSON_GetObjectItem(j, "t_us")));
        CU_ASSERT(is_int(cJSON_GetObjectItem(j, "conn")));
        const cJSON *dirj = cJSON_GetObjectItem(j, "dir"), *kind = cJSON_GetObjectItem(j, "kind");
        CU_ASSERT(cJSON_IsString(dirj) && cJSON_IsString(kind));
        if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "close")) {
            closes++;
            CU_ASSERT(is_int(cJSON_GetObjectItem(j, "code")));
            CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(j, "reason")));
        }
        if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "open")) {
            opens++;
            const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "headers"), 0);
            hosts += cJSON_IsString(cJSON_GetArrayItem(h, 0)) &&
                     !strcmp(cJSON_GetArrayItem(h, 0)->valuestring, "Host");
        }
        if (cJSON_GetObjectItem(j, "data_b64"))
            b64++;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    CU_ASSERT(lines > 10);
    CU_ASSERT(closes >= 2);
    CU_ASSERT(b64 == 1);
    CU_ASSERT(opens == 3);
    CU_ASSERT(hosts == 3);
    unlink(path);
    rmdir(dir);
}

/* Readers on another thread while the server appends fast. */
typedef struct reader_arg {
    pwsm_server *s;
    atomic_bool stop;
    size_t checked;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    while (!atomic_load(&a->stop)) {
        size_t n = pwsm_journal_count(a->s);
        for (size_t i = n > 2000 ? n - 2000 : 0; i < n; i++) {
            const pwsm_entry *e = pwsm_journal_get(a->s, i);
            if (e && e->kind && e->data && strlen(e->data) <= e->len + 1)
                a->checked++;
        }
    }
    return NULL;
}

static bool never(const pwsm_entry *e, void *u)
{
    (void)e;
    (void)u;
    return false;
}

static void test_journal_concurrent_readers(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.batch_max = 1;
    o.stream_limit = 20000;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    reader_arg a = {.s = s};
    atomic_init(&a.stop, false);
    pthread_t t;
    pthread_create(&t, NULL, reader_main, &a);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "Q.*"));
    stream_stats st;
    read_stream(c, 20000, &st, NULL, false);
    CU_ASSERT_EQUAL(st.events, 20000);
    CU_ASSERT(!pwsm_wait_for(s, never, NULL, 50));
    atomic_store(&a.stop, true);
    pthread_join(t, NULL);
    CU_ASSERT(a.checked > 0);
    CU_ASSERT(pwsm_journal_count(s) > 20000); /* chunks of 1024: many of them */
    wsc_free(c);
    pwsm_stop(s);
}

/* kick_newer: the newcomer with a key in use is refused; the older connections keep going. */
static void test_kick_newer(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 0.01;
    o.kick_newer = true;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c1 = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c1 != NULL);
    wsc *c2 = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c2 != NULL);
    CU_ASSERT(expect_status_msg(c2, "connected", "Connected Successfully"));
    CU_ASSERT(wsc_send_text(c2, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY) == 0);
    CU_ASSERT(expect_status_msg(c2, "max_connections", "Maximum number of connections exceeded."));
    CU_ASSERT_EQUAL(expect_close(c2, NULL, 0), 1008);
    CU_ASSERT(subscribe(c1, "T.AAPL"));
    /* Another key is not affected. */
    wsc *other = connect_authed(pwsm_port(s), "OTHERKEY-0123456789");
    CU_ASSERT(other != NULL);
    CU_ASSERT_EQUAL(pwsm_connections(s), 3);
    wsc_free(c1);
    wsc_free(c2);
    wsc_free(other);
    pwsm_stop(s);

    /* max_per_key = 2: the third is refused, the first two keep going. */
    o.max_per_key = 2;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *k[2];
    for (int i = 0; i < 2; i++) {
        k[i] = connect_authed(pwsm_port(s), KEY);
        CU_ASSERT_FATAL(k[i] != NULL);
    }
    wsc *third = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(third != NULL);
    CU_ASSERT(expect_status_msg(third, "connected", "Connected Successfully"));
    CU_ASSERT(wsc_send_text(third, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY) == 0);
    CU_ASSERT(expect_status_msg(third, "max_connections", "Maximum number of connections exceeded."));
    CU_ASSERT(subscribe(k[0], "Q.AAPL"));
    CU_ASSERT(subscribe(k[1], "Q.AAPL"));
    for (int i = 0; i < 2; i++)
        wsc_free(k[i]);
    wsc_free(third);
    pwsm_stop(s);
}

/* The action rate limit: an error status past rate_actions per window, then room again. */
static void test_rate_limit(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 0.01;
    o.rate_actions = 3;
    o.rate_window_ms = 2000; /* wide enough for a loaded machine */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);                          /* 1 */
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.AAPL"));                                   /* 2 */
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"dance\"}") == 0);          /* 3 */
    CU_ASSERT(expect_status_msg(c, "error", "unknown action"));
    int64_t t3 = now_ms();
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.AAPL\"}") == 0);
    CU_ASSERT(expect_status_msg(c, "error", "rate limit exceeded"));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.MSFT\"}") == 0);
    CU_ASSERT(expect_status_msg(c, "error", "rate limit exceeded"));
    CU_ASSERT(!wait_entry(s, 1, 's', "text", "subscribed to: Q.AAPL", 0)); /* refused: not acted on */
    /* Once the first action left the window there is room for one more. */
    int64_t left = 2100 - (now_ms() - t3);
    if (left > 0)
        usleep((useconds_t)left * 1000);
    CU_ASSERT(subscribe(c, "Q.AAPL"));
    wsc_free(c);
    pwsm_stop(s);

    /* rate_close: the error status, then the policy close. */
    o.rate_actions = 1;
    o.rate_close = true;
    o.policy_close_code = 4008;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"Q.AAPL\"}") == 0);
    CU_ASSERT(expect_status_msg(c, "error", "rate limit exceeded"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 4008);
    wsc_free(c);
    pwsm_stop(s);

    /* No actions at all with a window: even auth is refused. */
    o.rate_actions = 0;
    o.rate_close = false;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    CU_ASSERT(wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY) == 0);
    CU_ASSERT(expect_status_msg(c, "error", "rate limit exceeded"));
    wsc_free(c);
    pwsm_stop(s);

    /* Over PWSM_MAX_RATE_ACTIONS: refused at start. */
    o.rate_actions = PWSM_MAX_RATE_ACTIONS + 1;
    char err[256] = "";
    CU_ASSERT(pwsm_start(&o, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, "rate_actions") != NULL);
}

/* ------------------------------------------------------------------ fidelity: markets, texts, slow consumers, otc */

/* Sends a WebSocket upgrade request for path on a raw socket and returns the HTTP status of the
 * answer (0 if none came); its first bytes go to out (NUL-terminated). */
static int upgrade_status(int port, const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {RECV_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path);
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        /* until the answer's head (a 101) or its HTML body (an error) is complete, or EOF */
        while (len + 1 < cap && !strstr(out, "</html>") && !(strstr(out, " 101 ") && strstr(out, "\r\n\r\n"))) {
            ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            out[len] = '\0';
        }
    }
    close(fd);
    int code = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &code) != 1)
        code = 0;
    return code;
}

/* The request path picks the market; any other path gets a 404 and no WebSocket. */
static void test_market_paths(void)
{
    pwsm_options o;
    base_options(&o);
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    char head[2048];
    static const char *const refused[] = {"/", "/nope", "/STOCKS", "/stocks/x", "/stocksx", "/futures"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int code = upgrade_status(pwsm_port(s), refused[i], head, sizeof head);
        if (code != 404)
            fprintf(stderr, "  %s: %d %.80s\n", refused[i], code, head);
        CU_ASSERT_EQUAL(code, 404);
        CU_ASSERT(strstr(head, "/stocks, /options, /forex, /crypto or /indices") != NULL);
    }
    CU_ASSERT_EQUAL(pwsm_connections(s), 0); /* none became a connection ... */
    CU_ASSERT_EQUAL(pwsm_journal_count(s), 0); /* ... nor was journaled */
    static const char *const served[] = {"/stocks", "/options", "/forex", "/crypto", "/indices",
                                         "/stocks/", "/crypto/", "/forex?x=1"};
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
        CU_ASSERT_EQUAL(upgrade_status(pwsm_port(s), served[i], head, sizeof head), 101);
        const char *why = NULL;
        wsc *c = wsc_open(pwsm_port(s), false, NULL, served[i], &why);
        CU_ASSERT(c != NULL);
        if (c)
            CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
        wsc_free(c);
    }
    CU_ASSERT(wait_entry(s, 0, '-', "open", "/indices", 1000));
    pwsm_stop(s);
}

/* Subscribes to params on path and checks each answer in order: a "subscribed to: CH" success
 * for a channel given as "+CH", or an error status with the message given as "!TEXT". */
static void check_channels(pwsm_server *s, const char *path, const char *params, const char *const *want,
                           size_t nwant)
{
    wsc *c = wsc_open(pwsm_port(s), false, NULL, path, NULL);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"%s\"}", params);
    for (size_t i = 0; i < nwant; i++) {
        char msg[128];
        if (want[i][0] == '+') {
            snprintf(msg, sizeof msg, "subscribed to: %s", want[i] + 1);
            CU_ASSERT(expect_status_msg(c, "success", msg));
        } else {
            CU_ASSERT(expect_status_msg(c, "error", want[i] + 1));
        }
    }
    wsc_free(c);
}

static void test_channel_validation(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 0.01; /* keep the stream out of the way */
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    const char *stocks[] = {"+A.AAPL", "!not authorized", "!not authorized", "!invalid channel", "!invalid channel",
                            "!invalid channel", "+LULD.AAPL", "+T.*", "!not authorized", "+FMV.BRK.B"};
    check_channels(s, "/stocks", "A.AAPL,C.EURUSD,ZZ.AAPL,AAPL,T.,.X,LULD.AAPL,T.*,t.AAPL,FMV.BRK.B", stocks,
                   sizeof stocks / sizeof stocks[0]);
    const char *options[] = {"+T.O:SPY251219C00650000", "+Q.*", "!not authorized", "!not authorized"};
    check_channels(s, "/options", "T.O:SPY251219C00650000,Q.*,LULD.SPY,XT.X", options, 4);
    const char *forex[] = {"+C.EUR/USD", "+CA.*", "+CAS.C:EUR-USD", "!not authorized"};
    check_channels(s, "/forex", "C.EUR/USD,CA.*,CAS.C:EUR-USD,A.AAPL", forex, 4);
    const char *crypto[] = {"+XT.BTC-USD", "+XL2.*", "+FMV.X:BTCUSD", "!not authorized"};
    check_channels(s, "/crypto", "XT.BTC-USD,XL2.*,FMV.X:BTCUSD,T.AAPL", crypto, 4);
    const char *indices[] = {"+V.I:SPX", "+AM.I:NDX", "!not authorized"};
    check_channels(s, "/indices/", "V.I:SPX,AM.I:NDX,T.I:SPX", indices, 3);

    /* Unsubscribe is checked the same way; the stocks stream still works. */
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.AAPL"));
    wsc_send_text(c, "{\"action\":\"unsubscribe\",\"params\":\"XA.BTC-USD,T.AAPL\"}");
    CU_ASSERT(expect_status_msg(c, "error", "not authorized"));
    CU_ASSERT(expect_status_msg(c, "success", "unsubscribed to: T.AAPL"));
    wsc_free(c);
    pwsm_stop(s);

    /* Both error texts can be set. */
    o.texts.not_authorized = "channel not in your plan";
    o.texts.invalid_channel = "bad channel";
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    const char *custom[] = {"!channel not in your plan", "!bad channel", "+Q.MSFT"};
    check_channels(s, "/stocks", "XT.BTC-USD,MSFT,Q.MSFT", custom, 3);
    pwsm_stop(s);
}

/* The texts of unknown actions, non-JSON input, a repeated auth, auth_required and the rate
 * limit: the defaults, then each set through the options. */
static void texts_round(const pwsm_options *o, const char *unknown, const char *not_json, const char *again,
                        const char *required, const char *rate)
{
    pwsm_server *s = start((pwsm_options *)o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}");
    CU_ASSERT(expect_status_msg(c, "auth_required", required));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", again));
    wsc_send_text(c, "{\"action\":\"dance\"}");
    CU_ASSERT(expect_status_msg(c, "error", unknown));
    wsc_send_text(c, "[1,2]");
    CU_ASSERT(expect_status_msg(c, "error", not_json));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}"); /* the 6th action */
    CU_ASSERT(expect_status_msg(c, "error", rate));
    wsc_free(c);
    pwsm_stop(s);
}

static void test_status_texts(void)
{
    pwsm_options o;
    base_options(&o);
    o.rate_actions = 5;
    o.rate_window_ms = 60000;
    texts_round(&o, "unknown action", "invalid message: expected a JSON object with an action", "authenticated",
                "authentication required", "rate limit exceeded");
    o.texts.unknown_action = "unknown action: dance";
    o.texts.not_json = "not JSON";
    o.texts.repeated_auth = "already authenticated";
    o.texts.auth_required = "please authenticate first";
    o.texts.rate_limit = "slow down";
    texts_round(&o, "unknown action: dance", "not JSON", "already authenticated", "please authenticate first",
                "slow down");
}

/* Writes a scenario file into a fresh temp file and loads it; NULL (with err) if it does not load. */
static pwss_scenario *load_yaml(const char *yaml, char *err, size_t errcap)
{
    char path[] = "/tmp/pwsm_fid_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    fputs(yaml, f);
    fclose(f);
    pwss_scenario *sc = pwss_load(path, err, errcap);
    unlink(path);
    return sc;
}

/* Reads until a status frame (skipping arrays of events) and returns its text, malloc'd. */
static char *next_status_frame(wsc *c, size_t *events_before)
{
    frame f;
    *events_before = 0;
    while (wsc_recv_data(c, RECV_MS, &f) == WSC_FRAME && f.opcode == OP_TEXT) {
        if (strstr(f.data, "\"ev\":\"status\""))
            return f.data; /* owned by the caller now */
        (*events_before)++;
        frame_free(&f);
    }
    frame_free(&f);
    return NULL;
}

/* A client that stops reading while the server streams at rate max: once its unread backlog
 * passes slow_consumer_bytes it gets slow_consumer (after what the kernel buffered) and the
 * policy close, journaled once. */
static void test_slow_consumer(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.slow_consumer_bytes = PWSM_MIN_SLOW_CONSUMER_BYTES;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.*,Q.*"));
    /* ... and reads nothing more. */
    CU_ASSERT_FATAL(wait_entry(s, 1, '-', "fault", "slow_consumer", 10000));
    size_t frames = 0;
    char *st = next_status_frame(c, &frames);
    CU_ASSERT_STRING_EQUAL(st ? st : "(none)", "[{\"ev\":\"status\",\"status\":\"slow_consumer\",\"message\":"
                                               "\"Connection closed: slow consumer.\"}]");
    free(st);
    fprintf(stderr, "  slow consumer: %zu stream frames were in the socket before the status\n", frames);
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    wsc_free(c);
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 3000));
    CU_ASSERT_EQUAL(count_entries(s, 1, 's', "close", NULL), 1);
    CU_ASSERT_EQUAL(count_entries(s, 1, '-', "fault", NULL), 1);
    pwsm_stop(s);

    /* A client that keeps reading at a paced rate is left alone, with the same limit. */
    o.events_per_sec = 20000;
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(subscribe(c, "T.*,Q.*,A.*"));
    stream_stats sst;
    int64_t t0 = now_ms();
    size_t events = 0;
    while (now_ms() - t0 < 1500) {
        read_stream(c, 100, &sst, NULL, false);
        CU_ASSERT(!sst.bad);
        if (sst.events < 100)
            break;
        events += sst.events;
    }
    CU_ASSERT(events >= 3000);
    CU_ASSERT_EQUAL(count_entries(s, 1, '-', "fault", NULL), 0);
    wsc_free(c);
    pwsm_stop(s);

    /* Out of range: refused at start. */
    char err[256] = "";
    o.slow_consumer_bytes = PWSM_MIN_SLOW_CONSUMER_BYTES - 1;
    CU_ASSERT(pwsm_start(&o, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, "slow_consumer_bytes") != NULL);
}

/* The scenario's server keys: slow_consumer_bytes and texts (with rate and the close code). */
static void test_scenario_server_fidelity_keys(void)
{
    char err[512] = "";
    pwss_scenario *sc = load_yaml("description: fidelity keys\n"
                                  "server:\n"
                                  "  rate: max\n"
                                  "  policy_close_code: 4001\n"
                                  "  slow_consumer_bytes: 1048576\n"
                                  "  texts:\n"
                                  "    slow_consumer: you read too slowly\n"
                                  "    not_authorized: not in your plan\n"
                                  "    unknown_action: what?\n",
                                  err, sizeof err);
    if (!sc)
        fprintf(stderr, "  %s\n", err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_EQUAL(sc->server.slow_consumer_bytes, 1048576);
    CU_ASSERT_STRING_EQUAL(sc->server.texts.not_authorized, "not in your plan");
    CU_ASSERT(sc->server.texts.not_json == NULL);
    pwsm_options o;
    base_options(&o);
    o.scenario = sc;
    pwsm_server *s = start(&o);
    pwss_free(sc); /* pwsm_start copied what it needs */
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    wsc_send_text(c, "{\"action\":\"dance\"}");
    CU_ASSERT(expect_status_msg(c, "error", "what?"));
    wsc_send_text(c, "[]");
    CU_ASSERT(expect_status_msg(c, "error", "invalid message: expected a JSON object with an action"));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"XQ.*,Q.*\"}");
    CU_ASSERT(expect_status_msg(c, "error", "not in your plan"));
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: Q.*"));
    CU_ASSERT_FATAL(wait_entry(s, 1, '-', "fault", "slow_consumer", 10000));
    size_t frames = 0;
    char *st = next_status_frame(c, &frames);
    CU_ASSERT(st && strstr(st, "\"status\":\"slow_consumer\",\"message\":\"you read too slowly\""));
    free(st);
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 4001);
    wsc_free(c);
    pwsm_stop(s);

    /* Errors name the key. */
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"description: d\nserver: {slow_consumer_bytes: 1000}\n", "server.slow_consumer_bytes"},
        {"description: d\nserver: {slow_consumer_bytes: 2147483648}\n", "server.slow_consumer_bytes"},
        {"description: d\nserver: {texts: {unknown: x}}\n", "unknown key 'unknown' in server.texts"},
        {"description: d\nserver: {texts: {not_json: [a]}}\n", "server.texts.not_json: expected a string"},
        {"description: d\nserver: {texts: {rate_limit: \"\"}}\n", "server.texts.rate_limit: must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        sc = load_yaml(bad[i].yaml, err, sizeof err);
        CU_ASSERT(sc == NULL);
        if (!strstr(err, bad[i].want))
            fprintf(stderr, "  want \"%s\" in: %s\n", bad[i].want, err);
        CU_ASSERT(strstr(err, bad[i].want) != NULL);
        pwss_free(sc);
    }
}

/* The server's close is journaled once, after auth_timeout and after auth_failed. */
static void test_close_journaled_once(void)
{
    pwsm_options o;
    base_options(&o);
    o.auth_timeout_ms = 200;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = wsc_connect(pwsm_port(s)); /* never authenticates */
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    CU_ASSERT(expect_status_msg(c, "auth_timeout", "No authentication request received."));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    CU_ASSERT(wait_entry(s, 1, '-', "closed", NULL, 3000));
    wsc_free(c);
    c = wsc_connect(pwsm_port(s));
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"WRONG-KEY-42\"}");
    CU_ASSERT(expect_status_msg(c, "auth_failed", "authentication failed"));
    CU_ASSERT_EQUAL(expect_close(c, NULL, 0), 1008);
    CU_ASSERT(wait_entry(s, 2, '-', "closed", NULL, 3000));
    wsc_free(c);
    for (uint32_t k = 1; k <= 2; k++) {
        CU_ASSERT_EQUAL(count_entries(s, k, 's', "close", NULL), 1);
        CU_ASSERT_EQUAL(count_entries(s, k, '-', "closed", NULL), 1);
    }
    pwsm_stop(s);
}

/* About one explicit symbol in eight is OTC, fixed per (symbol, seed): its A, AM and T events
 * carry "otc":true, its Q events and every universe symbol's events never do. */
static void test_otc(void)
{
    enum { NSYM = 40 };
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = -1;
    o.batch_max = 50;
    o.stream_limit = 20000;
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    wsc *c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    char params[2048] = "A.*,T.*";
    for (int i = 0; i < NSYM; i++) {
        size_t len = strlen(params);
        snprintf(params + len, sizeof params - len, ",%s.X%02d", i % 4 == 0 ? "Q" : i % 4 == 1 ? "AM" : "T", i);
    }
    CU_ASSERT_FATAL(subscribe(c, params));
    int otc_seen[NSYM] = {0}; /* bit 1: an event without otc, bit 2: with */
    int otc_events = 0;
    bool bad = false;
    size_t events = 0;
    while (events < o.stream_limit) {
        frame f;
        if (wsc_recv_data(c, RECV_MS, &f) != WSC_FRAME)
            break;
        cJSON *arr = cJSON_Parse(f.data);
        for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, events++) {
            const char *ev = cJSON_GetObjectItem(e, "ev")->valuestring;
            const char *sym = cJSON_GetObjectItem(e, "sym")->valuestring;
            const cJSON *otc = cJSON_GetObjectItem(e, "otc");
            if (otc && (!cJSON_IsTrue(otc) || !strcmp(ev, "Q") || sym[0] != 'X'))
                bad = true; /* never false, never on Q, never on the universe */
            if (sym[0] == 'X' && strcmp(ev, "Q") != 0) {
                otc_seen[atoi(sym + 1)] |= otc ? 2 : 1;
                otc_events += otc != NULL;
            }
        }
        cJSON_Delete(arr);
        frame_free(&f);
    }
    CU_ASSERT_EQUAL(events, o.stream_limit);
    CU_ASSERT(!bad);
    int otc_syms = 0;
    for (int i = 0; i < NSYM; i++) {
        CU_ASSERT(otc_seen[i] != 3); /* a symbol is OTC or not, for every event */
        otc_syms += otc_seen[i] == 2;
    }
    fprintf(stderr, "  otc: %d of %d explicit symbols, %d events\n", otc_syms, NSYM, otc_events);
    CU_ASSERT(otc_syms >= 1 && otc_syms <= NSYM / 3);
    wsc_free(c);
    pwsm_stop(s);
}

/* The keys' plan: a market outside plan_markets answers every channel "not authorized" (and
 * keeps the connection); inside, a type outside plan_types is "not authorized" too. */
static void test_plans(void)
{
    pwsm_options o;
    base_options(&o);
    o.events_per_sec = 0.01; /* keep the stream out of the way */
    o.plan_markets = " stocks , crypto";
    o.plan_types = "A,AM,XT";
    pwsm_server *s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    const char *stocks[] = {"+A.AAPL", "+AM.*", "!not authorized", "!not authorized", "!invalid channel",
                            "!not authorized", "!not authorized"};
    check_channels(s, "/stocks", "A.AAPL,AM.*,T.AAPL,Q.MSFT,AAPL,C.EURUSD,LULD.AAPL", stocks, 7);
    const char *crypto[] = {"+XT.BTC-USD", "!not authorized", "!not authorized"};
    check_channels(s, "/crypto/", "XT.BTC-USD,XQ.BTC-USD,A.AAPL", crypto, 3);

    /* A market outside the plan: auth works, every channel (a malformed one too) is refused,
     * unsubscribes as well, and the connection stays open. */
    wsc *c = wsc_open(pwsm_port(s), false, NULL, "/forex", NULL);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(expect_status_msg(c, "connected", "Connected Successfully"));
    wsc_send_text(c, "{\"action\":\"auth\",\"params\":\"%s\"}", KEY);
    CU_ASSERT(expect_status_msg(c, "auth_success", "authenticated"));
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"C.EUR/USD,A.AAPL,EURUSD\"}");
    for (int i = 0; i < 3; i++)
        CU_ASSERT(expect_status_msg(c, "error", "not authorized"));
    wsc_send_text(c, "{\"action\":\"unsubscribe\",\"params\":\"CA.*\"}");
    CU_ASSERT(expect_status_msg(c, "error", "not authorized"));
    wsc_send_text(c, "{\"action\":\"dance\"}"); /* still served */
    CU_ASSERT(expect_status_msg(c, "error", "unknown action"));
    frame f;
    CU_ASSERT(wsc_recv_data(c, 300, &f) == WSC_TIMEOUT); /* no close, no stream */
    frame_free(&f);
    wsc_free(c);
    CU_ASSERT(wait_entry(s, 3, '-', "open", "/forex", 1000));
    CU_ASSERT_EQUAL(count_entries(s, 3, 's', "close", NULL), 0);
    pwsm_stop(s);

    /* Only the plan's channels stream; the text is texts.not_authorized. */
    o.events_per_sec = -1;
    o.stream_limit = 200;
    o.plan_markets = "stocks";
    o.plan_types = "AM";
    o.texts.not_authorized = "upgrade your plan";
    s = start(&o);
    CU_ASSERT_FATAL(s != NULL);
    c = connect_authed(pwsm_port(s), KEY);
    CU_ASSERT_FATAL(c != NULL);
    wsc_send_text(c, "{\"action\":\"subscribe\",\"params\":\"T.AAPL,AM.MSFT,A.MSFT\"}");
    CU_ASSERT(expect_status_msg(c, "error", "upgrade your plan"));
    CU_ASSERT(expect_status_msg(c, "success", "subscribed to: AM.MSFT"));
    CU_ASSERT(expect_status_msg(c, "error", "upgrade your plan"));
    stream_stats st;
    seen sn = {0};
    read_stream(c, 200, &st, &sn, false);
    CU_ASSERT_EQUAL(st.events, 200);
    CU_ASSERT(!st.bad);
    CU_ASSERT_EQUAL(sn.n, 1);
    CU_ASSERT(seen_has(&sn, "AM.MSFT"));
    wsc_free(c);
    pwsm_stop(s);

    /* Bad plans are refused at start, naming the list. */
    static const struct {
        const char *markets, *types, *want;
    } bad[] = {
        {"stocks,futures", NULL, "plan_markets: unknown market 'futures'"},
        {" , ", NULL, "plan_markets: an empty list"},
        {NULL, "A,am", "plan_types: unknown event type 'am'"},
        {NULL, "", "plan_types: an empty list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        base_options(&o);
        o.plan_markets = bad[i].markets;
        o.plan_types = bad[i].types;
        CU_ASSERT(pwsm_start(&o, err, sizeof err) == NULL);
        if (!strstr(err, bad[i].want))
            fprintf(stderr, "  want \"%s\" in: %s\n", bad[i].want, err);
        CU_ASSERT(strstr(err, bad[i].want) != NULL);
    }
}

/* server.plan in a scenario sets the plan (and overrides the options'). */
static void test_scenario_plan(void)
{
    char err[512] = "";
    pwss_scenario *sc = load_yaml("description: plan\n"
                                  "server:\n"
                                  "  rate: 0.01\n"
                                  "  plan: {markets: [stocks], types: [AM, A, AM]}\n",
                                  err, sizeof err);
    if (!sc)
        fprintf(stderr, "  %s\n", err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_STRING_EQUAL(sc->server.plan_markets, "stocks");
    CU_ASSERT_STRING_EQUAL(sc->server.plan_types, "A,AM");
    pwsm_options o;
    base_options(&o);
    o.plan_markets = "crypto"; /* the scenario's plan wins */
    o.scenario = sc;
    pwsm_server *s = start(&o);
    pwss_free(sc);
    CU_ASSERT_FATAL(s != NULL);
    const char *stocks[] = {"+A.AAPL", "!not authorized", "+AM.SPY"};
    check_channels(s, "/stocks", "A.AAPL,T.AAPL,AM.SPY", stocks, 3);
    const char *crypto[] = {"!not authorized"};
    check_channels(s, "/crypto", "XT.BTC-USD", crypto, 1);
    pwsm_stop(s);
}

static void test_start_errors(void)
{
    char err[256] = "";
    pwsm_options o;
    memset(&o, 0, sizeof o);
    o.batch_max = PWSM_MAX_BATCH + 1;
    CU_ASSERT(pwsm_start(&o, err, sizeof err) == NULL);
    CU_ASSERT(err[0] != '\0');
    /* A taken port. */
    pwsm_server *a = pwsm_start(NULL, err, sizeof err);
    CU_ASSERT_FATAL(a != NULL);
    memset(&o, 0, sizeof o);
    o.port = pwsm_port(a);
    err[0] = '\0';
    CU_ASSERT(pwsm_start(&o, err, sizeof err) == NULL);
    CU_ASSERT(err[0] != '\0');
    pwsm_stop(a);
    pwsm_stop(NULL);
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite suite = CU_add_suite("mock", NULL, NULL);
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"greeting and auth", test_greeting_and_auth},
        {"auth failed", test_auth_failed},
        {"auth timeout", test_auth_timeout},
        {"auth_required and invalid JSON", test_auth_required_and_invalid_json},
        {"subscribe confirmations", test_subscribe_confirmations},
        {"stream only subscribed channels", test_stream_only_subscribed},
        {"unsubscribe stops the stream", test_unsubscribe_stops_stream},
        {"rate", test_rate},
        {"determinism", test_determinism},
        {"max_connections per key", test_max_connections},
        {"fault drop", test_fault_drop},
        {"fault drop after auth", test_fault_drop_after_auth},
        {"fault close", test_fault_close},
        {"fault status close", test_fault_status_close},
        {"fault stall", test_fault_stall},
        {"scripts by ordinal", test_scripts_by_ordinal},
        {"message too big", test_message_too_big},
        {"big and fragmented messages", test_big_and_fragmented_messages},
        {"max_connections limit", test_max_connections_limit},
        {"many connections", test_many_connections},
        {"ping and client close", test_ping_and_client_close},
        {"tls", test_tls},
        {"journal redaction and file", test_journal_redaction_and_file},
        {"journal concurrent readers", test_journal_concurrent_readers},
        {"kick newer", test_kick_newer},
        {"rate limit", test_rate_limit},
        {"start errors", test_start_errors},
        {"market paths", test_market_paths},
        {"channel validation", test_channel_validation},
        {"status texts", test_status_texts},
        {"slow consumer", test_slow_consumer},
        {"scenario server fidelity keys", test_scenario_server_fidelity_keys},
        {"close journaled once", test_close_journaled_once},
        {"otc", test_otc},
        {"plans: markets and event types", test_plans},
        {"scenario server.plan", test_scenario_plan},
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
