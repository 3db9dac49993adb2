/*
 * test_scenario.c - the scenario loader (mockserver/src/scenario*.c): every
 * step and assertion form, every error class with its exact
 * FILE:LINE:COLUMN, the raw frame bytes of every protocol fault, YAML -> JSON,
 * the limits, and every file of scenarios/.
 */
#include <polyws/mock.h>
#include <polyws/scenario.h>

#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SCENARIO_DIR
#error "SCENARIO_DIR must name the scenarios/ directory"
#endif

static char tmpdir[64];
static char path[128];

/* Writes text to DIR/t.yaml (the path all error messages start with). */
static void write_text(const char *text, size_t len)
{
    snprintf(path, sizeof path, "%s/t.yaml", tmpdir);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(text, 1, len, f) == len);
    fclose(f);
}

static pwss_scenario *load(const char *text, char *err, size_t cap)
{
    write_text(text, strlen(text));
    return pwss_load(path, err, cap);
}

/* Loads text and checks the error is exactly "PATH:" + want. */
static void check_error_n(const char *text, size_t len, const char *want, int line)
{
    char err[1024], exp[1024];
    write_text(text, len);
    pwss_scenario *sc = pwss_load(path, err, sizeof err);
    snprintf(exp, sizeof exp, "%s:%s", path, want);
    if (sc || strcmp(err, exp)) {
        fprintf(stderr, "\n  test line %d:\n    got:  %s\n    want: %s\n", line, sc ? "(loaded)" : err, exp);
        CU_FAIL("wrong error");
    }
    pwss_free(sc);
}

#define check_error(text, want) check_error_n(text, strlen(text), want, __LINE__)

/* The steps of connection 1 of a scenario that has only a script for it. */
static pwss_scenario *load_steps(const char *steps_yaml, const pwss_step **steps, size_t *n)
{
    char text[8192], err[1024];
    snprintf(text, sizeof text, "description: steps\nconnections:\n  1:\n%s", steps_yaml);
    pwss_scenario *sc = load(text, err, sizeof err);
    if (!sc) {
        fprintf(stderr, "\n  unexpected error: %s\n", err);
        CU_FAIL_FATAL("load failed");
    }
    const pwss_conn_script *s = pwss_script_for(sc, 1);
    CU_ASSERT_FATAL(s != NULL);
    *steps = s->steps;
    *n = s->nsteps;
    return sc;
}

static bool data_is(const pwss_step *s, const void *bytes, size_t len)
{
    return s->data && s->len == len && !memcmp(s->data, bytes, len) && s->data[len] == '\0';
}

#define DATA_IS(step, lit) CU_ASSERT(data_is(step, lit, sizeof lit - 1))

/* ---------------------------------------------------------------- top level, server, client */

static void test_full_header(void)
{
    char err[512];
    pwss_scenario *sc = load("name: my-name\n"
                             "description: what it proves\n"
                             "server:\n"
                             "  keys: [k1, k2]\n"
                             "  auth_timeout: 1.5s\n"
                             "  max_connections_per_key: 2\n"
                             "  kick: newer\n"
                             "  rate_limit: {actions: 5, window: 1s, on_exceed: close}\n"
                             "  tls: true\n"
                             "  seed: 18446744073709551615\n"
                             "  rate: 250.5\n"
                             "  batch: 20\n"
                             "  policy_close_code: 4000\n"
                             "  handshake_timeout: 2.5s\n"
                             "client:\n"
                             "  subscribe: [A.AAPL, T.MSFT, 'Q.*']\n"
                             "  timeout: 1m\n"
                             "  killed_ok: true\n"
                             "  count: 100\n"
                             "  duration: 2500ms\n"
                             "  heartbeat: 1500ms\n",
                             err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_STRING_EQUAL(sc->name, "my-name");
    CU_ASSERT_STRING_EQUAL(sc->description, "what it proves");
    CU_ASSERT_STRING_EQUAL(sc->path, path);
    const pwss_server *s = &sc->server;
    CU_ASSERT_EQUAL(s->nkeys, 2);
    CU_ASSERT_STRING_EQUAL(s->keys[0], "k1");
    CU_ASSERT_STRING_EQUAL(s->keys[1], "k2");
    CU_ASSERT_PTR_NULL(s->keys[2]);
    CU_ASSERT_EQUAL(s->auth_timeout_ms, 1500);
    CU_ASSERT_EQUAL(s->handshake_timeout_ms, 2500);
    CU_ASSERT_EQUAL(s->max_per_key, 2);
    CU_ASSERT(s->kick_newer);
    CU_ASSERT_EQUAL(s->rate_actions, 5);
    CU_ASSERT_EQUAL(s->rate_window_ms, 1000);
    CU_ASSERT(s->rate_close);
    CU_ASSERT(s->tls);
    CU_ASSERT(s->seed == UINT64_MAX);
    CU_ASSERT_DOUBLE_EQUAL(s->events_per_sec, 250.5, 1e-9);
    CU_ASSERT_EQUAL(s->batch_max, 20);
    CU_ASSERT_EQUAL(s->policy_close_code, 4000);
    CU_ASSERT_STRING_EQUAL(sc->client.subscribe, "A.AAPL,T.MSFT,Q.*");
    CU_ASSERT_EQUAL(sc->client.timeout_ms, 60000);
    CU_ASSERT(sc->client.killed_ok);
    CU_ASSERT_EQUAL(sc->client.count, 100);
    CU_ASSERT_DOUBLE_EQUAL(sc->client.duration_s, 2.5, 1e-9);
    CU_ASSERT_EQUAL(sc->client.heartbeat_ms, 1500);
    CU_ASSERT_EQUAL(sc->nscripts, 0);
    CU_ASSERT(!sc->has_default);
    CU_ASSERT_PTR_NULL(pwss_script_for(sc, 1));
    pwss_free(sc);
}

static void test_defaults(void)
{
    char err[512];
    pwss_scenario *sc = load("description: minimal\nserver: {keys: only, rate: max}\n", err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_STRING_EQUAL(sc->name, "t"); /* the file's base name */
    CU_ASSERT_STRING_EQUAL(sc->client.subscribe, "A.AAPL");
    CU_ASSERT_EQUAL(sc->client.timeout_ms, 30000);
    CU_ASSERT_EQUAL(sc->client.heartbeat_ms, 0);
    CU_ASSERT_EQUAL(sc->server.nkeys, 1);
    CU_ASSERT_STRING_EQUAL(sc->server.keys[0], "only");
    CU_ASSERT(sc->server.events_per_sec < 0); /* max: as fast as the client reads */
    CU_ASSERT(!sc->server.kick_newer && !sc->server.rate_close && !sc->server.tls);
    CU_ASSERT_EQUAL(sc->server.auth_timeout_ms, 0);
    CU_ASSERT_EQUAL(sc->nassertions, 0);
    pwss_free(sc);
    pwss_free(NULL);
    CU_ASSERT_PTR_NULL(pwss_script_for(NULL, 1));
}

static void test_connections(void)
{
    char err[512];
    pwss_scenario *sc = load("description: scripts\n"
                             "connections:\n"
                             "  3: [drop]\n"
                             "  1: &s [greet, drop]\n"
                             "  default: *s\n"
                             "  2:\n",
                             err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_EQUAL_FATAL(sc->nscripts, 3);
    CU_ASSERT_EQUAL(sc->scripts[0].ordinal, 1); /* sorted */
    CU_ASSERT_EQUAL(sc->scripts[1].ordinal, 2);
    CU_ASSERT_EQUAL(sc->scripts[2].ordinal, 3);
    CU_ASSERT(sc->has_default);
    CU_ASSERT_EQUAL(pwss_script_for(sc, 1)->nsteps, 2);
    CU_ASSERT_EQUAL(pwss_script_for(sc, 2)->nsteps, 0); /* written empty: the real service */
    CU_ASSERT_EQUAL(pwss_script_for(sc, 3)->nsteps, 1);
    CU_ASSERT_PTR_EQUAL(pwss_script_for(sc, 4), &sc->default_script);
    CU_ASSERT_EQUAL(sc->default_script.nsteps, 2); /* the alias is compiled again */
    CU_ASSERT_EQUAL(sc->default_script.steps[1].kind, PWSS_STEP_DROP);
    CU_ASSERT_PTR_NOT_EQUAL(sc->default_script.steps, sc->scripts[0].steps);
    CU_ASSERT_EQUAL(sc->scripts[0].steps[0].line, 4);
    CU_ASSERT_EQUAL(sc->scripts[0].steps[0].column, 10);
    pwss_free(sc);
}

/* ---------------------------------------------------------------- steps */

static void test_steps_plain(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - greet\n"                    /* 4 */
                                   "    - auth\n"                     /* 5 */
                                   "    - auth: {timeout: 2s}\n"      /* 6 */
                                   "    - confirm: 3s\n"              /* 7 */
                                   "    - handshake\n"                /* 8 */
                                   "    - handshake: 250ms\n"         /* 9 */
                                   "    - sleep: 250ms\n"             /* 10 */
                                   "    - sleep: 100\n"               /* 11 */
                                   "    - sleep: 1.5s\n"              /* 12 */
                                   "    - sleep: 1m\n"                /* 13 */
                                   "    - drop\n"                     /* 14 */
                                   "    - stall\n"                    /* 15 */
                                   "    - stall: 3s\n"                /* 16 */
                                   "    - serve\n"                    /* 17 */
                                   "    - serve: 2s\n"                /* 18 */
                                   "    - close\n"                    /* 19 */
                                   "    - close: 1001\n"              /* 20 */
                                   "    - close: {code: 4001, reason: bye now}\n" /* 21 */
                                   "    - close: {code: none}\n"      /* 22 */
                                   "    - close: 999\n"               /* 23 */
                                   "    - greet:\n",                  /* 24 */
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 21);
    pwss_step_kind kinds[] = {PWSS_STEP_GREET, PWSS_STEP_AUTH,      PWSS_STEP_AUTH,  PWSS_STEP_CONFIRM,
                              PWSS_STEP_HANDSHAKE, PWSS_STEP_HANDSHAKE, PWSS_STEP_SLEEP, PWSS_STEP_SLEEP,
                              PWSS_STEP_SLEEP, PWSS_STEP_SLEEP,     PWSS_STEP_DROP,  PWSS_STEP_STALL,
                              PWSS_STEP_STALL, PWSS_STEP_SERVE,     PWSS_STEP_SERVE, PWSS_STEP_CLOSE,
                              PWSS_STEP_CLOSE, PWSS_STEP_CLOSE,     PWSS_STEP_CLOSE, PWSS_STEP_CLOSE,
                              PWSS_STEP_GREET};
    uint32_t ms[] = {0, 0, 2000, 3000, 0, 250, 250, 100, 1500, 60000, 0, 0, 3000, 0, 2000, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(s[i].kind, kinds[i]);
        CU_ASSERT_EQUAL(s[i].ms, ms[i]);
        CU_ASSERT_EQUAL(s[i].line, (int)i + 4);
        CU_ASSERT_EQUAL(s[i].column, 7);
    }
    CU_ASSERT_EQUAL(s[15].code, 1000);
    CU_ASSERT_PTR_NULL(s[15].reason);
    CU_ASSERT_EQUAL(s[16].code, 1001);
    CU_ASSERT_EQUAL(s[17].code, 4001);
    CU_ASSERT_STRING_EQUAL(s[17].reason, "bye now");
    CU_ASSERT_EQUAL(s[18].code, 0); /* no payload at all */
    CU_ASSERT_EQUAL(s[19].code, 999); /* invalid codes are sent as given */
    pwss_free(sc);
}

static void test_steps_send(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - send: [{ev: status, status: info, n: 1.5, q: \"1.5\", big: 12345678901234567890}]\n"
                                   "    - send: {b: true, c: false, d: null, e: ~, f: '', g: -0.5e-3, h: 0}\n"
                                   "    - send: 42\n"
                                   "    - send: \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\x01\"\n"
                                   "    - send: {z: 1, a: 2, m: [1, [2, {}], []]}\n"
                                   "    - send: {1: one, true: yes, 2024-01-02: date, 1.2.3: v, 12:30: t}\n"
                                   "    - send: !!str 123\n"
                                   "    - send: |\n"
                                   "        two\n"
                                   "        lines\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 8);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(s[i].kind, PWSS_STEP_SEND_TEXT);
    DATA_IS(&s[0], "[{\"ev\":\"status\",\"status\":\"info\",\"n\":1.5,\"q\":\"1.5\",\"big\":12345678901234567890}]");
    DATA_IS(&s[1], "{\"b\":true,\"c\":false,\"d\":null,\"e\":null,\"f\":\"\",\"g\":-0.5e-3,\"h\":0}");
    DATA_IS(&s[2], "42");
    DATA_IS(&s[3], "\"tab\\there \\\"q\\\" \\\\ \xc3\xa9 \\u0001\"");
    DATA_IS(&s[4], "{\"z\":1,\"a\":2,\"m\":[1,[2,{}],[]]}");
    DATA_IS(&s[5], "{\"1\":\"one\",\"true\":\"yes\",\"2024-01-02\":\"date\",\"1.2.3\":\"v\",\"12:30\":\"t\"}");
    DATA_IS(&s[6], "\"123\"");
    DATA_IS(&s[7], "\"two\\nlines\\n\"");
    pwss_free(sc);
}

static void test_steps_helpers(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - status: auth_timeout\n"
                                   "    - status: {status: custom, message: \"hi \\\"you\\\"\"}\n"
                                   "    - status: {status: unknown_word}\n"
                                   "    - events: [{ev: T, sym: MSFT, p: 1.5, c: [0, 12]}, {ev: Q, sym: AAPL}]\n"
                                   "    - events: {ev: A, sym: AAPL}\n"
                                   "    - send_invalid_utf8\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 6);
    DATA_IS(&s[0], "[{\"ev\":\"status\",\"status\":\"auth_timeout\",\"message\":\"No authentication request received.\"}]");
    DATA_IS(&s[1], "[{\"ev\":\"status\",\"status\":\"custom\",\"message\":\"hi \\\"you\\\"\"}]");
    DATA_IS(&s[2], "[{\"ev\":\"status\",\"status\":\"unknown_word\"}]");
    DATA_IS(&s[3], "[{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.5,\"c\":[0,12]},{\"ev\":\"Q\",\"sym\":\"AAPL\"}]");
    DATA_IS(&s[4], "[{\"ev\":\"A\",\"sym\":\"AAPL\"}]");
    CU_ASSERT_EQUAL(s[5].kind, PWSS_STEP_SEND_TEXT);
    CU_ASSERT(s[5].data && memmem(s[5].data, s[5].len, "\xC3\x28", 2) != NULL);
    CU_ASSERT(s[5].data && s[5].data[0] == '[' && s[5].data[s[5].len - 1] == ']');
    pwss_free(sc);
}

static void test_steps_payloads(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - send_raw: '[{\"ev\":'\n"
                                   "    - send_raw: {text: ab, times: 3}\n"
                                   "    - send_raw: ['[', {text: '1,', times: 2}, '1]']\n"
                                   "    - send_raw: {parts: [{hex: 41}, {base64: Qg==}, {json: {a: [1]}}], times: 2}\n"
                                   "    - send_binary: {hex: \"00 ff:10-20\"}\n"
                                   "    - send_binary: {base64: \"AAEC/w==\"}\n"
                                   "    - send_binary: {base64: \"AAEC/w\"}\n"
                                   "    - send_raw: {hex: c328}\n"
                                   "    - ping\n"
                                   "    - ping: hello\n"
                                   "    - pong: {hex: 0102}\n"
                                   "    - send_raw: \"\"\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 12);
    CU_ASSERT_EQUAL(s[0].kind, PWSS_STEP_SEND_TEXT);
    DATA_IS(&s[0], "[{\"ev\":");
    DATA_IS(&s[1], "ababab");
    DATA_IS(&s[2], "[1,1,1]");
    DATA_IS(&s[3], "AB{\"a\":[1]}AB{\"a\":[1]}");
    CU_ASSERT_EQUAL(s[4].kind, PWSS_STEP_SEND_BINARY);
    DATA_IS(&s[4], "\x00\xff\x10\x20");
    DATA_IS(&s[5], "\x00\x01\x02\xff");
    DATA_IS(&s[6], "\x00\x01\x02\xff");
    DATA_IS(&s[7], "\xc3\x28");
    CU_ASSERT_EQUAL(s[8].kind, PWSS_STEP_PING);
    CU_ASSERT(data_is(&s[8], "", 0));
    DATA_IS(&s[9], "hello");
    CU_ASSERT_EQUAL(s[10].kind, PWSS_STEP_PONG);
    DATA_IS(&s[10], "\x01\x02");
    CU_ASSERT(data_is(&s[11], "", 0));
    pwss_free(sc);
}

static void test_steps_stream_expect(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - stream: {count: 100}\n"
                                   "    - stream: {count: 5, rate: 12.5, batch: 1000, seed: 7, types: [A, AM, T, Q],"
                                   " symbols: [AAPL, BRK.B, 'X:BTCUSD']}\n"
                                   "    - stream: {count: 1, rate: max, types: 'T, Q', symbols: MSFT}\n"
                                   "    - expect: {json: {action: subscribe, params: 'A.*'}, timeout: 2s}\n"
                                   "    - expect: {regex: '\"action\":\"auth\"'}\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 5);
    CU_ASSERT_EQUAL(s[0].kind, PWSS_STEP_STREAM);
    CU_ASSERT_EQUAL(s[0].stream.count, 100);
    CU_ASSERT_EQUAL(s[0].stream.rate, 0);
    CU_ASSERT_EQUAL(s[0].stream.batch, 10);
    CU_ASSERT_EQUAL(s[0].stream.seed, 0);
    CU_ASSERT_EQUAL(s[0].stream.ntypes, 0);
    CU_ASSERT_PTR_NULL(s[0].stream.symbols);
    CU_ASSERT_EQUAL(s[1].stream.count, 5);
    CU_ASSERT_DOUBLE_EQUAL(s[1].stream.rate, 12.5, 1e-9);
    CU_ASSERT_EQUAL(s[1].stream.batch, 1000);
    CU_ASSERT_EQUAL(s[1].stream.seed, 7);
    CU_ASSERT_EQUAL_FATAL(s[1].stream.ntypes, 4);
    CU_ASSERT_STRING_EQUAL(s[1].stream.types[1], "AM");
    CU_ASSERT_EQUAL_FATAL(s[1].stream.nsymbols, 3);
    CU_ASSERT_STRING_EQUAL(s[1].stream.symbols[1], "BRK.B");
    CU_ASSERT_STRING_EQUAL(s[1].stream.symbols[2], "X:BTCUSD");
    CU_ASSERT_EQUAL(s[2].stream.rate, 0);
    CU_ASSERT_EQUAL_FATAL(s[2].stream.ntypes, 2);
    CU_ASSERT_STRING_EQUAL(s[2].stream.types[0], "T");
    CU_ASSERT_STRING_EQUAL(s[2].stream.types[1], "Q");
    CU_ASSERT_EQUAL_FATAL(s[2].stream.nsymbols, 1);
    CU_ASSERT_STRING_EQUAL(s[2].stream.symbols[0], "MSFT");
    CU_ASSERT_EQUAL(s[3].kind, PWSS_STEP_EXPECT);
    CU_ASSERT(!s[3].regex);
    CU_ASSERT_EQUAL(s[3].ms, 2000);
    DATA_IS(&s[3], "{\"action\":\"subscribe\",\"params\":\"A.*\"}");
    CU_ASSERT(s[4].regex);
    CU_ASSERT_EQUAL(s[4].ms, 0);
    DATA_IS(&s[4], "\"action\":\"auth\"");
    pwss_free(sc);
}

static void test_steps_repeat(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - repeat:\n"
                                   "        times: 3\n"
                                   "        steps:\n"
                                   "          - events: [{ev: T}]\n"
                                   "          - repeat: {times: 2, steps: [sleep: 10ms, drop]}\n"
                                   "    - drop\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(s[0].kind, PWSS_STEP_REPEAT);
    CU_ASSERT_EQUAL(s[0].times, 3);
    CU_ASSERT_EQUAL_FATAL(s[0].nbody, 2);
    CU_ASSERT_EQUAL(s[0].body[0].kind, PWSS_STEP_SEND_TEXT);
    CU_ASSERT_EQUAL(s[0].body[0].line, 7);
    CU_ASSERT_EQUAL(s[0].body[0].column, 13);
    const pwss_step *inner = &s[0].body[1];
    CU_ASSERT_EQUAL(inner->kind, PWSS_STEP_REPEAT);
    CU_ASSERT_EQUAL(inner->times, 2);
    CU_ASSERT_EQUAL_FATAL(inner->nbody, 2);
    CU_ASSERT_EQUAL(inner->body[0].kind, PWSS_STEP_SLEEP);
    CU_ASSERT_EQUAL(inner->body[0].ms, 10);
    CU_ASSERT_EQUAL(inner->body[1].kind, PWSS_STEP_DROP);
    CU_ASSERT_EQUAL(s[1].kind, PWSS_STEP_DROP);
    pwss_free(sc);
}

/* Nested repeats: depth levels of `repeat`, innermost holding one drop. */
static char *nested_repeats(unsigned depth, unsigned times)
{
    size_t cap = 64 + depth * 48;
    char *t = malloc(cap);
    size_t k = (size_t)snprintf(t, cap, "description: deep\nconnections:\n  1:\n    - ");
    for (unsigned i = 0; i < depth; i++)
        k += (size_t)snprintf(t + k, cap - k, "{repeat: {times: %u, steps: [", times);
    k += (size_t)snprintf(t + k, cap - k, "drop");
    for (unsigned i = 0; i < depth; i++)
        k += (size_t)snprintf(t + k, cap - k, "]}}");
    snprintf(t + k, cap - k, "\n");
    return t;
}

static void test_repeat_limits(void)
{
    char err[1024];
    char *t = nested_repeats(PWSS_MAX_DEPTH, 2);
    pwss_scenario *sc = load(t, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(sc);
    pwss_free(sc);
    free(t);
    t = nested_repeats(PWSS_MAX_DEPTH + 1, 2);
    /* the ninth repeat is the step at 4:79: 7 + 9 per "{repeat: " ... counted below */
    sc = load(t, err, sizeof err);
    CU_ASSERT_PTR_NULL(sc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "repeat: nested deeper than 8 levels"));
    free(t);
    pwss_free(sc);

    check_error("description: x\nconnections:\n  1:\n    - repeat: {times: 1000000, steps: [sleep: 0]}\n"
                "    - repeat: {times: 1000001, steps: [drop]}\n",
                "5:23: repeat.times: 1000001 is out of range (allowed 1..1000000)");
    check_error("description: x\nclient: {heartbeat: 50ms}\n",
                "2:21: client.heartbeat: 50ms is out of range (allowed 100 ms..600000 ms)");
    check_error("description: x\nconnections:\n  1:\n    - repeat: {times: 0, steps: [drop]}\n",
                "4:23: repeat.times: 0 is out of range (allowed 1..1000000)");
    check_error("description: x\nconnections:\n  1:\n    - repeat: {times: 2, steps: []}\n",
                "4:33: repeat.steps: expected a non-empty list of steps");
    check_error("description: x\nconnections:\n  1:\n    - repeat: {steps: [drop]}\n",
                "4:15: repeat: missing required key 'times'");
    /* 1000 x 1000 x 1000 steps unrolled is over PWSS__MAX_UNROLLED_STEPS (10 000 000) */
    check_error("description: x\nconnections:\n  1:\n"
                "    - repeat: {times: 1000, steps: [{repeat: {times: 1000, steps: [{repeat: {times: 1000, steps: "
                "[drop]}}]}}]}\n",
                "4:7: the steps run 1000000000 times in all with repeats unrolled (limit 10000000)");
    /* 10 000 000 exactly is fine */
    sc = load("description: x\nconnections:\n  1:\n"
              "    - repeat: {times: 10000, steps: [{repeat: {times: 1000, steps: [drop]}}]}\n",
              err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(sc);
    pwss_free(sc);

    /* PWSS_MAX_STEPS written steps in all scripts, the 4097th refused */
    size_t cap = 32 + 12 * (PWSS_MAX_STEPS + 1);
    char *big = malloc(cap);
    size_t k = (size_t)snprintf(big, cap, "description: x\nconnections:\n  1:\n");
    for (unsigned i = 0; i < PWSS_MAX_STEPS; i++)
        k += (size_t)snprintf(big + k, cap - k, "    - drop\n");
    sc = load(big, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(sc);
    if (sc)
        CU_ASSERT_EQUAL(sc->scripts[0].nsteps, PWSS_MAX_STEPS);
    pwss_free(sc);
    snprintf(big + k, cap - k, "    - drop\n");
    char want[128];
    snprintf(want, sizeof want, "%u:7: more than 4096 steps in the scenario (PWSS_MAX_STEPS)", PWSS_MAX_STEPS + 4);
    check_error(big, want);
    free(big);
}

/* ---------------------------------------------------------------- frames and faults */

static void test_frames(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - frame: {opcode: text, fin: false, payload: '[{'}\n"
                                   "    - frame: [{opcode: 0, rsv1: true, payload: x}, {opcode: pong, mask: '01020304',"
                                   " payload: abcd}]\n"
                                   "    - frame: {opcode: 15, rsv2: true, rsv3: true}\n"
                                   "    - frame: {opcode: binary, payload: {text: y, times: 126}}\n"
                                   "    - frame: {opcode: binary, payload: {text: z, times: 65536}}\n"
                                   "    - frame: {opcode: close, payload: {hex: 03e8}, mask: true}\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 6);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(s[i].kind, PWSS_STEP_RAW);
    DATA_IS(&s[0], "\x01\x02[{");
    /* c0 = FIN|RSV1|continuation; 8a = FIN|pong; 84 = MASK|4; payload 'a'^1 'b'^2 'c'^3 'd'^4 */
    DATA_IS(&s[1], "\xc0\x01x\x8a\x84\x01\x02\x03\x04\x60\x60\x60\x60");
    DATA_IS(&s[2], "\xbf\x00");
    /* 126 bytes: the 16-bit length form */
    CU_ASSERT_EQUAL_FATAL(s[3].len, 4 + 126);
    CU_ASSERT(!memcmp(s[3].data, "\x82\x7e\x00\x7e", 4));
    CU_ASSERT(s[3].data[4] == 'y' && s[3].data[129] == 'y');
    /* 65536 bytes: the 64-bit length form, most significant byte first */
    CU_ASSERT_EQUAL_FATAL(s[4].len, 10 + 65536);
    CU_ASSERT(!memcmp(s[4].data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
    /* mask: true uses RFC 6455's example key 37 fa 21 3d */
    DATA_IS(&s[5], "\x88\x82\x37\xfa\x21\x3d\x34\x12");
    pwss_free(sc);
}

/* The default payload of the data-carrying faults: one trade whose id names the fault. */
static void default_trade(char *buf, size_t cap, const char *name, int q)
{
    snprintf(buf, cap,
             "[{\"ev\":\"T\",\"sym\":\"AAPL\",\"x\":4,\"i\":\"%s\",\"z\":3,\"p\":190.5,\"s\":100,"
             "\"t\":1704205800000,\"q\":%d}]",
             name, q);
}

static void test_faults(void)
{
    const pwss_step *s;
    size_t n;
    pwss_scenario *sc = load_steps("    - fault: reserved_bits\n"
                                   "    - fault: reserved_opcode\n"
                                   "    - fault: {kind: reserved_opcode, opcode: 11, payload: x}\n"
                                   "    - fault: fragmented\n"
                                   "    - fault: {kind: fragmented, frames: 2, payload: '[1]'}\n"
                                   "    - fault: control_in_fragment\n"
                                   "    - fault: oversized_control\n"
                                   "    - fault: unsolicited_pong\n"
                                   "    - fault: invalid_close_code\n"
                                   "    - fault: {kind: invalid_close_code, code: 999}\n"
                                   "    - fault: fragmented_control\n"
                                   "    - fault: unexpected_continuation\n"
                                   "    - fault: {kind: masked_frame, payload: abcd}\n"
                                   "    - fault: {kind: oversized_control, size: 300}\n",
                                   &s, &n);
    CU_ASSERT_EQUAL_FATAL(n, 14);
    char t[256], exp[512];
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(s[i].kind, PWSS_STEP_RAW);

    /* reserved_bits: FIN|RSV1|RSV2|RSV3|text = 0xf1, then the 7-bit length */
    default_trade(t, sizeof t, "reserved_bits", 1001);
    size_t tl = strlen(t);
    CU_ASSERT_EQUAL_FATAL(s[0].len, 2 + tl);
    CU_ASSERT((unsigned char)s[0].data[0] == 0xf1 && (unsigned char)s[0].data[1] == tl);
    CU_ASSERT(!memcmp(s[0].data + 2, t, tl));

    /* reserved_opcode: FIN|3 */
    default_trade(t, sizeof t, "reserved_opcode", 1002);
    tl = strlen(t);
    CU_ASSERT_EQUAL_FATAL(s[1].len, 2 + tl);
    CU_ASSERT((unsigned char)s[1].data[0] == 0x83 && (unsigned char)s[1].data[1] == tl);
    DATA_IS(&s[2], "\x8b\x01x");

    /* fragmented: text FIN=0 | continuation FIN=0 | continuation FIN=1, thirds of the trade */
    default_trade(t, sizeof t, "fragmented", 1003);
    tl = strlen(t);
    size_t third = tl / 3, last = tl - 2 * third;
    size_t k = 0;
    exp[k++] = 0x01;
    exp[k++] = (char)third;
    memcpy(exp + k, t, third), k += third;
    exp[k++] = 0x00;
    exp[k++] = (char)third;
    memcpy(exp + k, t + third, third), k += third;
    exp[k++] = (char)0x80;
    exp[k++] = (char)last;
    memcpy(exp + k, t + 2 * third, last), k += last;
    CU_ASSERT(data_is(&s[3], exp, k));
    DATA_IS(&s[4], "\x01\x01[\x80\x02" "1]");

    /* control_in_fragment: first half, a ping, the second half */
    default_trade(t, sizeof t, "control_in_fragment", 1004);
    tl = strlen(t);
    size_t half = tl / 2;
    k = 0;
    exp[k++] = 0x01;
    exp[k++] = (char)half;
    memcpy(exp + k, t, half), k += half;
    memcpy(exp + k, "\x89\x11" "between fragments", 19), k += 19;
    exp[k++] = (char)0x80;
    exp[k++] = (char)(tl - half);
    memcpy(exp + k, t + half, tl - half), k += tl - half;
    CU_ASSERT(data_is(&s[5], exp, k));

    /* oversized_control: a ping of 126 bytes needs the 16-bit length form */
    CU_ASSERT_EQUAL_FATAL(s[6].len, 4 + 126);
    CU_ASSERT(!memcmp(s[6].data, "\x89\x7e\x00\x7e", 4));
    for (size_t i = 4; i < s[6].len; i++)
        CU_ASSERT_EQUAL(s[6].data[i], 'x');

    DATA_IS(&s[7], "\x8a\x0bunsolicited");
    DATA_IS(&s[8], "\x88\x14\x03\xedinvalid close code"); /* 1005 = 0x03ed */
    DATA_IS(&s[9], "\x88\x14\x03\xe7invalid close code"); /* 999 */
    DATA_IS(&s[10], "\x09\x0b" "fragmented \x80\x04ping");

    default_trade(t, sizeof t, "unexpected_continuation", 1009);
    tl = strlen(t);
    CU_ASSERT_EQUAL_FATAL(s[11].len, 2 + tl);
    CU_ASSERT((unsigned char)s[11].data[0] == 0x80 && (unsigned char)s[11].data[1] == tl);
    CU_ASSERT(!memcmp(s[11].data + 2, t, tl));

    DATA_IS(&s[12], "\x81\x84\x37\xfa\x21\x3d\x56\x98\x42\x59"); /* 'a'^37 'b'^fa 'c'^21 'd'^3d */
    CU_ASSERT_EQUAL_FATAL(s[13].len, 4 + 300);
    CU_ASSERT(!memcmp(s[13].data, "\x89\x7e\x01\x2c", 4));
    pwss_free(sc);
}

/* ---------------------------------------------------------------- assertions */

static void test_assertions(void)
{
    char err[512];
    pwss_scenario *sc = load("description: all assertions\n"          /* 1 */
                             "assert:\n"                                /* 2 */
                             "  - auth_within: 2s\n"                    /* 3 */
                             "  - no_subscribe_before_auth\n"           /* 4 */
                             "  - resubscribed: true\n"                 /* 5 */
                             "  - reconnect_delay: 400ms\n"             /* 6 */
                             "  - reconnect_delay: {min: 400ms, growing: true, cap: 10s}\n"
                             "  - max_connects: {count: 5, window: 10s}\n"
                             "  - min_connects: 2\n"                    /* 9 */
                             "  - client_closed_with: 1002\n"           /* 10 */
                             "  - client_closed_with: {code: 1000, connection: 2}\n"
                             "  - client_exit: 0\n"                     /* 12 */
                             "  - client_exit: nonzero\n"               /* 13 */
                             "  - output_equals: expected/x.jsonl\n"    /* 14 */
                             "  - output_equals: /abs/y.jsonl\n"        /* 15 */
                             "  - output_matches: 'AAPL'\n"             /* 16 */
                             "  - output_matches: {stderr: 'auth.*failed'}\n"
                             "  - output_matches: {stdout: '^x$'}\n"    /* 18 */
                             "  - no_reconnect\n",                      /* 19 */
                             err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_EQUAL_FATAL(sc->nassertions, 17);
    const pwss_assertion *a = sc->assertions;
    pwss_assert_kind kinds[] = {PWSS_ASSERT_AUTH_WITHIN,       PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH,
                                PWSS_ASSERT_RESUBSCRIBED,      PWSS_ASSERT_RECONNECT_DELAY,
                                PWSS_ASSERT_RECONNECT_DELAY,   PWSS_ASSERT_MAX_CONNECTS,
                                PWSS_ASSERT_MIN_CONNECTS,      PWSS_ASSERT_CLIENT_CLOSED_WITH,
                                PWSS_ASSERT_CLIENT_CLOSED_WITH, PWSS_ASSERT_CLIENT_EXIT,
                                PWSS_ASSERT_CLIENT_EXIT,       PWSS_ASSERT_OUTPUT_EQUALS,
                                PWSS_ASSERT_OUTPUT_EQUALS,     PWSS_ASSERT_OUTPUT_MATCHES,
                                PWSS_ASSERT_OUTPUT_MATCHES,    PWSS_ASSERT_OUTPUT_MATCHES,
                                PWSS_ASSERT_NO_RECONNECT};
    for (size_t i = 0; i < sc->nassertions; i++) {
        CU_ASSERT_EQUAL(a[i].kind, kinds[i]);
        CU_ASSERT_EQUAL(a[i].line, (int)i + 3);
        CU_ASSERT_EQUAL(a[i].column, 5);
    }
    CU_ASSERT_EQUAL(a[0].ms, 2000);
    CU_ASSERT_EQUAL(a[3].ms, 400);
    CU_ASSERT(!a[3].growing);
    CU_ASSERT_EQUAL(a[4].ms, 400);
    CU_ASSERT(a[4].growing);
    CU_ASSERT_EQUAL(a[4].cap_ms, 10000);
    CU_ASSERT_EQUAL(a[5].count, 5);
    CU_ASSERT_EQUAL(a[5].ms, 10000);
    CU_ASSERT_EQUAL(a[6].count, 2);
    CU_ASSERT_EQUAL(a[7].code, 1002);
    CU_ASSERT_EQUAL(a[7].ordinal, 0);
    CU_ASSERT_EQUAL(a[8].code, 1000);
    CU_ASSERT_EQUAL(a[8].ordinal, 2);
    CU_ASSERT_EQUAL(a[9].code, 0);
    CU_ASSERT_EQUAL(a[10].code, -1);
    char rel[160];
    snprintf(rel, sizeof rel, "%s/expected/x.jsonl", tmpdir);
    CU_ASSERT_STRING_EQUAL(a[11].path, rel);
    CU_ASSERT_STRING_EQUAL(a[12].path, "/abs/y.jsonl");
    CU_ASSERT_EQUAL(a[13].stream, 1);
    CU_ASSERT_STRING_EQUAL(a[13].text, "AAPL");
    CU_ASSERT_EQUAL(a[14].stream, 2);
    CU_ASSERT_STRING_EQUAL(a[14].text, "auth.*failed");
    CU_ASSERT_EQUAL(a[15].stream, 1);
    pwss_free(sc);
}

/* ---------------------------------------------------------------- errors */

static void test_errors_syntax_and_file(void)
{
    char err[512];
    /* YAML syntax errors carry libyaml's marks */
    check_error("description: x\nconnections:\n  1:\n    - sleep: 1s\n   - drop\n",
                "5:4: YAML syntax error: did not find expected key while parsing a block mapping (from 3:3)");
    check_error("description: [unclosed\n",
                "2:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence (from 1:14)");
    check_error("\tdescription: x\n", "1:1: YAML syntax error: found character that cannot start any token while "
                                      "scanning for the next token (from 1:1)");
    check_error_n("description: x\n\xff\n", 17, "2:1: YAML syntax error: invalid leading UTF-8 octet (byte 0xFF at offset 15)",
                  __LINE__);
    check_error_n("description: x\nfoo: a\0b\n", 24, "2:7: YAML syntax error: control characters are not allowed "
                                                    "(byte 0x00 at offset 21)", __LINE__);
    check_error("description: x\n---\ndescription: y\n",
                "2:1: only one YAML document per scenario file (found a second '---')");
    check_error("description: x\ndescription: y\n", "2:1: duplicate key 'description' (first written at 1:1)");
    check_error("description: x\nserver: {tls: true, tls: false}\n",
                "2:21: duplicate key 'tls' (first written at 2:10)");
    check_error("description: x\nfoo: !!int 5\n",
                "2:6: unsupported tag 'tag:yaml.org,2002:int' (scenarios use plain YAML; only !!str is understood)");
    check_error("description: x\na: &a [*a]\n", "2:8: alias *a refers to a node that contains it");
    check_error("description: x\nconnections:\n  1:\n    - sleep: *nope\n",
                "4:14: unknown anchor *nope (define it with &nope before use)");
    check_error("", "1:1: empty scenario: expected a mapping with at least 'description:'");
    check_error("# only a comment\n", "1:1: empty scenario: expected a mapping with at least 'description:'");
    check_error("- a\n- b\n", "1:1: the scenario: expected a mapping (key: value lines), got a sequence");

    /* file-level errors say 1:1 */
    CU_ASSERT_PTR_NULL(pwss_load("/nonexistent/dir/x.yaml", err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/dir/x.yaml:1:1: cannot open: No such file or directory");
    CU_ASSERT_PTR_NULL(pwss_load(tmpdir, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want, "%s:1:1: cannot read: Is a directory", tmpdir);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_PTR_NULL(pwss_load(NULL, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "(null):1:1: no scenario file given");
    CU_ASSERT_PTR_NULL(pwss_load("/nonexistent", NULL, 0)); /* no buffer: still no crash */

    /* one byte over PWSS_MAX_FILE_BYTES (comments only, so the size is the only problem) */
    size_t big = PWSS_MAX_FILE_BYTES + 1;
    char *text = malloc(big);
    memset(text, '#', big);
    text[0] = 'd';
    memcpy(text, "description: x\n", 15);
    write_text(text, PWSS_MAX_FILE_BYTES); /* exactly the limit: loads */
    pwss_scenario *sc = pwss_load(path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(sc);
    pwss_free(sc);
    check_error_n(text, big, "1:1: file is larger than 1048576 bytes (PWSS_MAX_FILE_BYTES)", __LINE__);
    free(text);

    /* a tiny error buffer is cut, never overrun */
    char small[8];
    memset(small, 'Z', sizeof small);
    CU_ASSERT_PTR_NULL(load("description: x\nx: 1\n", small, 5));
    CU_ASSERT_EQUAL(strlen(small), 4);
    CU_ASSERT_EQUAL(small[5], 'Z');
}

static void test_errors_keys_and_types(void)
{
    /* unknown keys name the allowed ones (and a near miss) */
    check_error("description: x\nserver:\n  tlss: true\n",
                "3:3: unknown key 'tlss' in server (allowed: keys, auth_timeout, max_connections_per_key, kick, "
                "rate_limit, tls, seed, rate, batch, policy_close_code, slow_consumer_bytes, texts, plan, "
                "handshake_timeout); did you mean 'tls'?");
    check_error("description: x\nclient: {subscribe: A.AAPL, colour: red}\n",
                "2:29: unknown key 'colour' in client (allowed: subscribe, timeout, killed_ok, count, duration, heartbeat)");
    check_error("description: x\nassert: []\nasserts: []\n",
                "3:1: unknown key 'asserts' in the scenario (allowed: name, description, server, client, "
                "connections, assert); did you mean 'assert'?");
    check_error("description: x\nconnections:\n  1:\n    - stream: {count: 5, speed: 3}\n",
                "4:26: unknown key 'speed' in stream (allowed: count, rate, batch, seed, types, symbols); did you mean 'seed'?");
    check_error("description: x\nconnections:\n  1:\n    - fault: {kind: reserved_bits, opcode: 3}\n",
                "4:36: unknown key 'opcode' in fault reserved_bits (allowed: kind, payload)");
    /* missing required fields point at the mapping */
    check_error("server:\n  tls: true\n", "1:1: the scenario: missing required key 'description'");
    check_error("description: x\nconnections:\n  1:\n    - stream: {rate: 5}\n",
                "4:15: stream: missing required key 'count'");
    check_error("description: x\nserver:\n  rate_limit: {actions: 5}\n",
                "3:15: server.rate_limit: missing required key 'window'");
    check_error("description: x\nassert:\n  - max_connects: {count: 3}\n",
                "3:19: max_connects: missing required key 'window'");
    check_error("description: x\nconnections:\n  1:\n    - expect: {timeout: 1s}\n",
                "4:15: expect: missing required key 'json' or 'regex'");
    /* wrong types */
    check_error("description: x\nserver:\n  tls: yes\n", "3:8: server.tls: expected true or false, got the string \"yes\"");
    check_error("description: x\nserver:\n  seed: \"42\"\n",
                "3:9: server.seed: expected a whole number, got the string \"42\"");
    check_error("description: x\nserver:\n  batch: 2.5\n", "3:10: server.batch: expected a whole number, got the number 2.5");
    check_error("description: [a, b]\n", "1:14: description: expected a string, got a sequence");
    check_error("description: x\nserver: [tls]\n",
                "2:9: server: expected a mapping (key: value lines), got a sequence");
    check_error("description: x\nconnections:\n  1: {greet: 1}\n",
                "3:6: connections.1: expected a list of steps, got a mapping");
    check_error("description: x\nconnections:\n  first: [drop]\n",
                "3:3: connections: a key is a connection ordinal (1, 2, ...) or 'default', not the string \"first\"");
    check_error("description: x\nconnections:\n  1:\n    - stream: {count: 5, types: [A, X]}\n",
                "4:37: stream.types: 'X' is not a type the mock generates (A, AM, T, Q)");
    check_error("description: x\nconnections:\n  1:\n    - stream: {count: 5, symbols: [AAPL, AAPL]}\n",
                "4:42: stream.symbols: 'AAPL' given twice");
    check_error("description: x\nconnections:\n  1:\n    - stream: {count: 5, symbols: 'A B'}\n",
                "4:35: stream.symbols: 'A B' has a character outside [A-Za-z0-9.:/_-]");
    check_error("description: \"two\\nlines\"\n", "1:14: description: must be one line");
    check_error("description: >\n  one\n\n  two\n", "1:14: description: must be one line");
    char err[256];
    pwss_scenario *sc = load("description: >\n  a long line\n  folded\n", err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_STRING_EQUAL(sc->description, "a long line folded"); /* the final line break is dropped */
    pwss_free(sc);
    check_error("description: x\nserver:\n  kick: youngest\n",
                "3:9: server.kick: expected older or newer (which connection max_connections disconnects)");
    check_error("description: x\nclient:\n  subscribe: ['A.AAPL,T.MSFT']\n",
                "3:15: client.subscribe: one channel per list item (no commas or spaces)");
    /* JSON values */
    check_error("description: x\nconnections:\n  1:\n    - send: {p: .5}\n",
                "4:17: send: '.5' is a YAML number that JSON cannot hold as written: write a JSON number "
                "(e.g. 0.5, 31, 1e9), quote it for a string, or use send_raw for NaN/Infinity");
    check_error("description: x\nconnections:\n  1:\n    - send: [+1]\n",
                "4:14: send: '+1' is a YAML number that JSON cannot hold as written: write a JSON number "
                "(e.g. 0.5, 31, 1e9), quote it for a string, or use send_raw for NaN/Infinity");
    check_error("description: x\nconnections:\n  1:\n    - events: [{p: .nan}]\n",
                "4:20: events: '.nan' is a YAML number that JSON cannot hold as written: write a JSON number "
                "(e.g. 0.5, 31, 1e9), quote it for a string, or use send_raw for NaN/Infinity");
    check_error("description: x\nconnections:\n  1:\n    - send: {[a]: 1}\n",
                "4:14: send: a JSON object key must be a scalar, not a sequence");
    check_error("description: x\nconnections:\n  1:\n    - send: {a: 1, a: 2}\n",
                "4:20: duplicate key 'a' (first written at 4:14)");
    check_error("description: x\nconnections:\n  1:\n    - events: nope\n",
                "4:15: events: expected a list of events (mappings) or one event, got the string \"nope\"");
    check_error("description: x\nconnections:\n  1:\n    - send_binary: {hex: \"0g\"}\n",
                "4:26: send_binary: hex: 'g' at character 2 is not a hex digit");
    check_error("description: x\nconnections:\n  1:\n    - send_binary: {hex: \"abc\"}\n",
                "4:26: send_binary: hex: odd number of digits");
    check_error("description: x\nconnections:\n  1:\n    - send_binary: {base64: \"A\"}\n",
                "4:29: send_binary: base64: bad length or padding");
    check_error("description: x\nconnections:\n  1:\n    - send_raw: {text: a, hex: 41}\n",
                "4:32: send_raw: give one of text, hex, base64, json or parts, not both text and hex");
}

static void test_errors_values_and_steps(void)
{
    /* durations */
    check_error("description: x\nconnections:\n  1:\n    - sleep: 5x\n",
                "4:14: sleep: bad duration '5x' (write 250ms, 2s, 1.5s, 1m or plain milliseconds)");
    check_error("description: x\nconnections:\n  1:\n    - sleep: -5ms\n",
                "4:14: sleep: bad duration '-5ms' (write 250ms, 2s, 1.5s, 1m or plain milliseconds)");
    check_error("description: x\nconnections:\n  1:\n    - sleep: 1.5ms\n",
                "4:14: sleep: '1.5ms' is not a whole number of milliseconds");
    check_error("description: x\nconnections:\n  1:\n    - sleep: 61m\n",
                "4:14: sleep: 61m is out of range (allowed 0 ms..3600000 ms)");
    check_error("description: x\nconnections:\n  1:\n    - sleep: [1]\n",
                "4:14: sleep: expected a duration (250ms, 2s, 1.5s, 1m or milliseconds), got a sequence");
    check_error("description: x\nserver: {auth_timeout: 0}\n",
                "2:24: server.auth_timeout: 0 is out of range (allowed 1 ms..3600000 ms)");
    check_error("description: x\nserver: {handshake_timeout: 61m}\n",
                "2:29: server.handshake_timeout: 61m is out of range (allowed 1 ms..3600000 ms)");
    /* out of range */
    check_error("description: x\nserver:\n  batch: 5000\n", "3:10: server.batch: 5000 is out of range (allowed 1..1000)");
    check_error("description: x\nserver:\n  seed: 18446744073709551616\n",
                "3:9: server.seed: 18446744073709551616 is out of range (allowed 0..18446744073709551615)");
    check_error("description: x\nserver:\n  rate_limit: {actions: 65537, window: 1s}\n",
                "3:25: server.rate_limit.actions: 65537 is out of range (allowed 1..65536)");
    check_error("description: x\nserver:\n  policy_close_code: 1005\n",
                "3:22: server.policy_close_code: 1005 may not be sent in a close frame (valid: 1000-1003, "
                "1007-1014, 3000-4999)");
    check_error("description: x\nconnections:\n  0: [drop]\n", "3:3: connections: 0 is out of range (allowed 1..1000000)");
    check_error("description: x\nconnections:\n  1:\n    - close: 70000\n",
                "4:14: close.code: 70000 is out of range (allowed 0..65535)");
    check_error("description: x\nconnections:\n  1:\n    - stream: {count: 0}\n",
                "4:23: stream.count: 0 is out of range (allowed 1..1000000000)");
    check_error("description: x\nassert:\n  - client_exit: 256\n", "3:18: client_exit: 256 is out of range (allowed 0..255)");
    check_error("description: x\nconnections:\n  1:\n    - ping: {text: x, times: 126}\n",
                "4:13: ping: a control frame carries at most 125 bytes (for more, use fault: oversized_control)");
    char xs[125], text[256], err[256];
    memset(xs, 'x', 124);
    xs[124] = '\0';
    snprintf(text, sizeof text, "description: x\nconnections:\n  1:\n    - close: {code: 1000, reason: %s}\n", xs);
    check_error(text, "4:35: close.reason: 124 bytes is too long (limit 123)");
    snprintf(text, sizeof text, "description: x\nconnections:\n  1:\n    - close: {code: 1000, reason: %s}\n", xs + 1);
    pwss_scenario *sc = load(text, err, sizeof err); /* 123 bytes: fine */
    CU_ASSERT_PTR_NOT_NULL(sc);
    pwss_free(sc);
    check_error("description: x\nconnections:\n  1:\n    - fault: {kind: invalid_close_code, code: 1000}\n",
                "4:47: fault.code: 1000 is a valid close code (use the close step to send it); invalid are 1-999, "
                "1004-1006, 1015-2999, 5000-65535");
    check_error("description: x\nconnections:\n  1:\n    - fault: {kind: reserved_opcode, opcode: 8}\n",
                "4:46: fault.opcode: 8 is not reserved (reserved: 3-7, 11-15)");
    check_error("description: x\nconnections:\n  1:\n    - fault: {kind: fragmented, frames: 5, payload: abc}\n",
                "4:14: fault fragmented: a payload of 3 bytes cannot be split into 5 frames");
    check_error("description: x\nconnections:\n  1:\n    - send_raw: {text: 0123456789abcdef, times: 300000}\n",
                "4:49: send_raw: 16 bytes x 300000 is more than 4194304 bytes (limit of one step's data)");
    /* unknown steps, assertions, faults */
    check_error("description: x\nconnections:\n  1:\n    - sleeep: 1s\n",
                "4:7: unknown step 'sleeep' (steps: greet, auth, confirm, handshake, send, status, events, "
                "send_raw, send_binary, send_invalid_utf8, stream, sleep, expect, close, drop, stall, ping, pong, "
                "frame, fault, serve, repeat); did you mean 'sleep'?");
    check_error("description: x\nassert:\n  - resubscribe\n",
                "3:5: unknown assertion 'resubscribe' (assertions: auth_within, no_subscribe_before_auth, "
                "resubscribed, reconnect_delay, max_connects, min_connects, client_closed_with, client_exit, "
                "output_equals, output_matches, no_reconnect, printed, not_printed, fails_connection); did you mean "
                "'resubscribed'?");
    check_error("description: x\nconnections:\n  1:\n    - fault: reserved_bit\n",
                "4:14: unknown fault 'reserved_bit' (faults: reserved_bits, reserved_opcode, fragmented, "
                "control_in_fragment, oversized_control, unsolicited_pong, invalid_close_code, "
                "fragmented_control, unexpected_continuation, masked_frame); did you mean 'reserved_bits'?");
    /* step shapes */
    check_error("description: x\nconnections:\n  1:\n    - sleep: 1s\n      drop:\n",
                "5:7: a step is one key: 'sleep' and 'drop' are two steps, write each as its own list item");
    check_error("description: x\nconnections:\n  1:\n    - drop: now\n", "4:13: drop takes no value (write '- drop')");
    check_error("description: x\nconnections:\n  1:\n    - sleep\n",
                "4:7: sleep needs a value, e.g. '- sleep: 250ms'");
    check_error("description: x\nconnections:\n  1:\n    - 42\n",
                "4:7: expected a step ('- drop' or '- sleep: 250ms'), got the number 42");
    check_error("description: x\nassert:\n  - auth_within\n", "3:5: auth_within needs a value, e.g. '- auth_within: 2s'");
    check_error("description: x\nassert:\n  - no_reconnect: 3\n", "3:19: no_reconnect takes no value (write '- no_reconnect')");
    check_error("description: x\nassert:\n  - reconnect_delay: {min: 1s, cap: 2s}\n",
                "3:37: reconnect_delay.cap: only meaningful with growing: true");
    check_error("description: x\nassert:\n  - output_matches: {stdout: a, stderr: b}\n",
                "3:21: output_matches: give one of stdout or stderr");
    check_error("description: x\nconnections:\n  1:\n    - expect: {regex: \"a(b\"}\n",
                "4:23: expect.regex: bad regular expression: Unmatched ( or \\(");
    /* regcomp copies the operand of + and {n}: patterns that would take it exponential time are refused */
    check_error("description: x\nassert:\n  - output_matches: 'a++++++++++++++++++++++++++++++'\n",
                "3:21: output_matches: regular expression too complex (repetitions such as +, {n} or nested "
                "groups expand to more than 20000 nodes)");
    check_error("description: x\nassert:\n  - output_matches: {stderr: '((x{100}){100}){100}'}\n",
                "3:30: output_matches.stderr: regular expression too complex (repetitions such as +, {n} or nested "
                "groups expand to more than 20000 nodes)");
    check_error("description: x\nassert:\n  - output_matches: '(a)\\1'\n",
                "3:21: output_matches: back-references (\\1 ... \\9) are not supported: matching with them can "
                "take exponential time");
    {
        pwss_scenario *ok = load("description: x\nassert:\n  - output_matches: '[]a]+[[:digit:]]{1,3}(x|y+)*\\.'\n"
                                 "  - output_matches: '(a{20}){20}'\n",
                                 err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL(ok);
        pwss_free(ok);
    }
    check_error("description: x\nconnections:\n  1:\n    - expect: {json: {a: 1}, regex: a}\n",
                "4:37: expect: give json or regex, not both");
    check_error("description: x\nconnections:\n  1:\n    - frame: {payload: x}\n",
                "4:14: frame: missing required key 'opcode'");
    check_error("description: x\nconnections:\n  1:\n    - frame: {opcode: 16}\n",
                "4:23: frame.opcode: 16 is out of range (allowed 0..15)");
    check_error("description: x\nconnections:\n  1:\n    - frame: {opcode: txt}\n",
                "4:23: frame.opcode: expected 0..15 or continuation, text, binary, close, ping, pong; got 'txt'");
    check_error("description: x\nconnections:\n  1:\n    - frame: {opcode: text, mask: '0102'}\n",
                "4:35: frame.mask: expected true, false or a 4-byte key in hex (\"37fa213d\")");
}

/* server.plan: markets and event types, a name or a list, stored as the comma lists the mock
 * takes (in the mock's order, duplicates once); errors point at the name at fault. */
static void test_server_plan(void)
{
    char err[512] = "";
    pwss_scenario *sc = load("description: x\n"
                             "server:\n"
                             "  plan:\n"
                             "    markets: [crypto, stocks, crypto]\n"
                             "    types: [AM, A, XT]\n",
                             err, sizeof err);
    if (!sc)
        fprintf(stderr, "  %s\n", err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_STRING_EQUAL(sc->server.plan_markets, "stocks,crypto");
    CU_ASSERT_STRING_EQUAL(sc->server.plan_types, "A,AM,XT");
    pwss_free(sc);
    sc = load("description: x\nserver: {plan: {types: AM}}\n", err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_PTR_NULL(sc->server.plan_markets); /* unset: every market */
    CU_ASSERT_STRING_EQUAL(sc->server.plan_types, "AM");
    pwss_free(sc);
    sc = load("description: x\n", err, sizeof err);
    CU_ASSERT_FATAL(sc != NULL);
    CU_ASSERT_PTR_NULL(sc->server.plan_markets);
    CU_ASSERT_PTR_NULL(sc->server.plan_types);
    pwss_free(sc);

    check_error("description: x\nserver:\n  plan:\n    markets: [stocks, stock]\n",
                "4:23: server.plan.markets: unknown market 'stock' (markets: stocks, options, forex, crypto, "
                "indices); did you mean 'stocks'?");
    check_error("description: x\nserver:\n  plan: {markets: [stocks], types: [A, am]}\n",
                "3:40: server.plan.types: unknown event type 'am' (event types: T, Q, A, AM, LULD, NOI, FMV, C, "
                "CA, CAS, XT, XQ, XA, XAS, XL2, V); did you mean 'AM'?");
    check_error("description: x\nserver:\n  plan: {markets: []}\n",
                "3:19: server.plan.markets: expected a list of markets (or a single one)");
    check_error("description: x\nserver:\n  plan: {types: {A: 1}}\n",
                "3:17: server.plan.types: expected a list of event types (or a single one)");
    check_error("description: x\nserver:\n  plan: {market: [stocks]}\n",
                "3:10: unknown key 'market' in server.plan (allowed: markets, types); did you mean 'markets'?");
    check_error("description: x\nserver:\n  plan: {types: [A, 5]}\n",
                "3:21: server.plan.types: unknown event type '5' (event types: T, Q, A, AM, LULD, NOI, FMV, C, CA, "
                "CAS, XT, XQ, XA, XAS, XL2, V)");
}

static void test_errors_limits(void)
{
    char err[512];
    /* assertions: PWSS_MAX_ASSERTIONS, the 65th refused at its own line */
    char *t = malloc(64 + 24 * (PWSS_MAX_ASSERTIONS + 1));
    size_t k = (size_t)sprintf(t, "description: x\nassert:\n");
    for (unsigned i = 0; i <= PWSS_MAX_ASSERTIONS; i++)
        k += (size_t)sprintf(t + k, "  - no_reconnect\n");
    check_error(t, "67:5: assert: more than 64 assertions");
    free(t);
    /* scripts by ordinal: PWSS_MAX_CONN_SCRIPTS */
    t = malloc(64 + 24 * (PWSS_MAX_CONN_SCRIPTS + 1));
    k = (size_t)sprintf(t, "description: x\nconnections:\n");
    for (unsigned i = 1; i <= PWSS_MAX_CONN_SCRIPTS + 1; i++)
        k += (size_t)sprintf(t + k, "  %u: [drop]\n", i);
    check_error(t, "3:3: connections: more than 64 scripts by ordinal");
    free(t);
    /* keys */
    check_error("description: x\nserver:\n  keys: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n",
                "3:58: server.keys: more than 16 keys");
    /* nesting of the YAML itself */
    char deep[400];
    k = (size_t)sprintf(deep, "description: x\nfoo: ");
    for (int i = 0; i < 70; i++)
        deep[k++] = '[';
    for (int i = 0; i < 70; i++)
        deep[k++] = ']';
    deep[k++] = '\n';
    deep[k] = '\0';
    check_error(deep, "2:69: nesting deeper than 64 levels");
    /* JSON nesting through aliases (each level only 2 deep in the text) */
    t = malloc(8192);
    k = (size_t)sprintf(t, "description: x\nconnections:\n  1:\n    - send: &a0 [1]\n");
    for (int i = 1; i <= 40; i++)
        k += (size_t)sprintf(t + k, "    - send: &a%d [[*a%d]]\n", i, i - 1);
    pwss_scenario *sc = load(t, err, sizeof err);
    CU_ASSERT_PTR_NULL(sc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":36:13: send: JSON nesting deeper than 64 levels"));
    pwss_free(sc);
    /* a billion laughs: aliases that expand exponentially stop at the size limit of one step */
    k = (size_t)sprintf(t, "description: x\nconnections:\n  1:\n"
                           "    - send: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i <= 9; i++)
        k += (size_t)sprintf(t + k, "    - send: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
                             i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    sc = load(t, err, sizeof err);
    CU_ASSERT_PTR_NULL(sc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":9:13: send: JSON text larger than 4194304 bytes"));
    pwss_free(sc);
    free(t);
}

/* ---------------------------------------------------------------- the library */

static int is_yaml(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && !strcmp(d->d_name + n - 5, ".yaml");
}

static void test_library_loads(void)
{
    struct dirent **list;
    int n = scandir(SCENARIO_DIR, &list, is_yaml, alphasort);
    CU_ASSERT_FATAL(n >= 33); /* at least 32 scenarios plus demo.yaml */
    bool demo = false;
    for (int i = 0; i < n; i++) {
        char p[512], err[1024];
        snprintf(p, sizeof p, "%s/%s", SCENARIO_DIR, list[i]->d_name);
        pwss_scenario *sc = pwss_load(p, err, sizeof err);
        if (!sc) {
            fprintf(stderr, "\n  %s\n", err);
            CU_FAIL("a scenario of the library does not load");
        } else {
            CU_ASSERT(strlen(sc->description) > 20); /* says what it proves */
            CU_ASSERT(sc->nassertions > 0);          /* and checks something */
            if (!strcmp(list[i]->d_name, "demo.yaml"))
                demo = true;
        }
        pwss_free(sc);
        free(list[i]);
    }
    free(list);
    CU_ASSERT(demo);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_scenario.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("scenario", NULL, NULL);
    CU_add_test(s, "server and client settings", test_full_header);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "connections by ordinal and default", test_connections);
    CU_add_test(s, "plain steps", test_steps_plain);
    CU_add_test(s, "send: YAML values as JSON", test_steps_send);
    CU_add_test(s, "status, events, send_invalid_utf8", test_steps_helpers);
    CU_add_test(s, "payloads: text, hex, base64, json, parts, times", test_steps_payloads);
    CU_add_test(s, "stream and expect", test_steps_stream_expect);
    CU_add_test(s, "repeat", test_steps_repeat);
    CU_add_test(s, "repeat and step limits", test_repeat_limits);
    CU_add_test(s, "frame: wire format", test_frames);
    CU_add_test(s, "fault: bytes of every fault", test_faults);
    CU_add_test(s, "assertions", test_assertions);
    CU_add_test(s, "errors: YAML syntax and file", test_errors_syntax_and_file);
    CU_add_test(s, "errors: keys and types", test_errors_keys_and_types);
    CU_add_test(s, "errors: values and steps", test_errors_values_and_steps);
    CU_add_test(s, "errors: limits", test_errors_limits);
    CU_add_test(s, "server.plan", test_server_plan);
    CU_add_test(s, "every file of scenarios/ loads", test_library_loads);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    remove(path);
    rmdir(tmpdir);
    return failed ? 1 : 0;
}
