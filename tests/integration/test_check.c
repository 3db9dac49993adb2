/*
 * test_check.c - the judge (polyws/judge.h) on hand-made journals, and on the
 * journal of a real mock server driven by a scenario built in C.
 *
 * The journals here are written the way the mock writes them: an "open"
 * event per connection, frames each way, then "closed" or "drop".  Every
 * assertion kind is judged passing and failing, and the messages are checked
 * word for word where the wording is part of the contract (CI logs are read
 * by people and grepped by scripts).  The last test plays a scenario built in
 * C on the real mock with our connector as the client, and judges that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include <polyws/judge.h>
#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

/* ------------------------------------------------------------------ journal builder */

#define MAXJ 256

typedef struct jb {
    pwsm_entry e[MAXJ];
    size_t n;
} jb;

static void add(jb *j, double t_ms, uint32_t conn, char dir, const char *kind, const char *data)
{
    CU_ASSERT_FATAL(j->n < MAXJ);
    j->e[j->n++] = (pwsm_entry){.t_us = (int64_t)(t_ms * 1000), .conn = conn, .dir = dir, .kind = kind,
                                .data = data ? data : "", .len = data ? strlen(data) : 0, .reason = ""};
}

static void add_close(jb *j, double t_ms, uint32_t conn, char dir, int code)
{
    add(j, t_ms, conn, dir, "close", NULL);
    j->e[j->n - 1].close_code = code;
}

#define GREET "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]"
#define AUTH "{\"action\":\"auth\",\"params\":\"***\"}"
#define AUTH_OK "[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]"
#define SUB_AAPL "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}"
#define SUB_BOTH "{\"action\":\"subscribe\",\"params\":\"A.AAPL, T.MSFT\"}"

/* A well-behaved session on connection c opened at t ms: greet, auth, subscribe, ended at end ms. */
static void session(jb *j, uint32_t c, double t, double end, const char *sub, const char *how)
{
    add(j, t, c, '-', "open", "/stocks");
    add(j, t + 0.1, c, 's', "text", GREET);
    add(j, t + 1, c, 'c', "text", AUTH);
    add(j, t + 1.2, c, 's', "text", AUTH_OK);
    if (sub)
        add(j, t + 2, c, 'c', "text", sub);
    add(j, end, c, '-', how ? how : "drop", NULL);
}

/* ------------------------------------------------------------------ scenario builder */

typedef struct sb {
    pwss_scenario sc;
    pwss_assertion a[16];
} sbld;

static void scen(sbld *s)
{
    memset(s, 0, sizeof *s);
    s->sc.path = "s.yaml";
    s->sc.name = "t";
    s->sc.assertions = s->a;
}

static pwss_assertion *assert_add(sbld *s, pwss_assert_kind kind, int line)
{
    pwss_assertion *a = &s->a[s->sc.nassertions++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->line = line;
    a->column = 5;
    return a;
}

static pwsj_client exited(int code)
{
    pwsj_client c;
    memset(&c, 0, sizeof c);
    c.started = true;
    c.exited = true;
    c.exit_code = code;
    c.timeout_ms = 30000;
    return c;
}

/* Judges and returns the message of verdict i (copied into a static buffer). */
static pwsj_report rep;

static void run_judge(sbld *s, jb *j, const pwsj_client *c)
{
    pwsj_report_free(&rep);
    CU_ASSERT_EQUAL_FATAL(pwsj_judge(&s->sc, j->e, j->n, c, &rep), 0);
}

static const pwsj_verdict *verdict_for(int assertion)
{
    for (size_t i = 0; i < rep.nverdicts; i++)
        if (rep.verdicts[i].assertion == assertion)
            return &rep.verdicts[i];
    return NULL;
}

#define EXPECT_MSG(idx, pass_, text)                                                                   \
    do {                                                                                               \
        const pwsj_verdict *v_ = verdict_for(idx);                                                     \
        CU_ASSERT_PTR_NOT_NULL_FATAL(v_);                                                              \
        CU_ASSERT_EQUAL(v_->pass, pass_);                                                              \
        if (strcmp(v_->message, text) != 0)                                                            \
            fprintf(stderr, "\n  got:      %s\n  expected: %s\n", v_->message, text);                 \
        CU_ASSERT_STRING_EQUAL(v_->message, text);                                                     \
    } while (0)

/* ------------------------------------------------------------------ tests */

static void test_auth_within(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_AUTH_WITHIN, 3)->ms = 500;
    jb j = {0};
    session(&j, 1, 0, 100, SUB_AAPL, "drop");
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    CU_ASSERT_TRUE(rep.pass);
    EXPECT_MSG(0, true, "auth_within: 1 connection(s) sent auth within 500 ms (slowest 1 ms) (s.yaml:3:5)");
    CU_ASSERT_STRING_EQUAL(rep.details, "");

    /* Connection 2 never authenticates and stays open 2 s; connection 3 is too short to judge. */
    add(&j, 300, 2, '-', "open", "/stocks");
    add(&j, 300.1, 2, 's', "text", GREET);
    add(&j, 2300, 2, '-', "drop", NULL);
    add(&j, 2400, 3, '-', "open", "/stocks");
    add(&j, 2500, 3, '-', "drop", NULL);
    run_judge(&s, &j, &c);
    CU_ASSERT_FALSE(rep.pass);
    EXPECT_MSG(0, false, "auth_within: connection 2 sent no auth within 500 ms (it was open for 2000 ms) "
                         "(s.yaml:3:5)");
    CU_ASSERT_EQUAL(verdict_for(0)->conn, 2);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, verdict_for(0)->message);
    CU_ASSERT_PTR_NOT_NULL(strstr(rep.details, "last frames on connection 2"));

    /* Late auth. */
    jb k = {0};
    add(&k, 0, 1, '-', "open", "/");
    add(&k, 734, 1, 'c', "text", AUTH);
    add(&k, 900, 1, '-', "closed", NULL);
    run_judge(&s, &k, &c);
    EXPECT_MSG(0, false, "auth_within: connection 1 sent auth 734 ms after opening, expected within 500 ms "
                         "(s.yaml:3:5)");

    /* No connection at all. */
    jb none = {0};
    run_judge(&s, &none, &c);
    EXPECT_MSG(0, false, "auth_within: no connection was opened (s.yaml:3:5)");
    CU_ASSERT_PTR_NOT_NULL(strstr(rep.details, "no connection was opened"));
}

static void test_no_subscribe_before_auth(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH, 7);
    jb j = {0};
    session(&j, 1, 0, 100, SUB_AAPL, "closed");
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "no_subscribe_before_auth: no subscribe before auth_success on 1 connection(s) (s.yaml:7:5)");

    jb k = {0};
    add(&k, 0, 1, '-', "open", "/");
    add(&k, 0.5, 1, 's', "text", GREET);
    add(&k, 1, 1, 'c', "text", AUTH);
    add(&k, 3, 1, 'c', "text", SUB_AAPL);
    add(&k, 4, 1, 's', "text", AUTH_OK);
    add(&k, 50, 1, '-', "drop", NULL);
    run_judge(&s, &k, &c);
    EXPECT_MSG(0, false, "no_subscribe_before_auth: connection 1 sent a subscribe 3 ms after opening, before "
                         "auth_success ({\"action\":\"subscribe\",\"params\":\"A.AAPL\"}) (s.yaml:7:5)");
}

static void test_resubscribed(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_RESUBSCRIBED, 9);
    jb j = {0};
    session(&j, 1, 0, 100, SUB_BOTH, "drop");
    session(&j, 2, 200, 300, "{\"action\":\"subscribe\",\"params\":\"T.MSFT,A.AAPL\"}", "drop");
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "resubscribed: 1 later authenticated connection(s) subscribed to {A.AAPL, T.MSFT} as "
                        "connection 1 did (s.yaml:9:5)");

    /* Dropped 99 ms after auth_success without a subscribe: no chance, not judged. */
    session(&j, 3, 400, 500, NULL, "drop");
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "resubscribed: 1 later authenticated connection(s) subscribed to {A.AAPL, T.MSFT} as "
                        "connection 1 did; 1 connection(s) ended within 1000 ms of auth_success, not judged "
                        "(s.yaml:9:5)");
    session(&j, 4, 600, 1700, NULL, "drop");
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "resubscribed: connection 4 subscribed to {} after auth_success, expected {A.AAPL, "
                         "T.MSFT} as on connection 1 (it sent no subscribe at all) (s.yaml:9:5)");
    CU_ASSERT_EQUAL(verdict_for(0)->conn, 4);

    jb k = {0};
    session(&k, 1, 0, 100, SUB_BOTH, "drop");
    session(&k, 2, 200, 300, SUB_AAPL, "drop");
    run_judge(&s, &k, &c);
    EXPECT_MSG(0, false, "resubscribed: connection 2 subscribed to {A.AAPL} after auth_success, expected "
                         "{A.AAPL, T.MSFT} as on connection 1 (s.yaml:9:5)");
}

static void test_reconnect_delay(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_RECONNECT_DELAY, 31)->ms = 400;
    jb j = {0};
    session(&j, 1, 0, 100, SUB_AAPL, "drop");
    session(&j, 2, 600, 700, SUB_AAPL, "drop");
    session(&j, 3, 712, 800, SUB_AAPL, "drop");
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "reconnect_delay: reconnected 12 ms after connection 2 ended, expected a gap >= 400 ms (connection 3) "
                         "(s.yaml:31:5)");
    CU_ASSERT_EQUAL(verdict_for(0)->conn, 3);

    /* Growing: 500 then 450 fails; with cap 400 it is fine. */
    sbld g;
    scen(&g);
    pwss_assertion *a = assert_add(&g, PWSS_ASSERT_RECONNECT_DELAY, 4);
    a->ms = 100;
    a->growing = true;
    jb k = {0};
    session(&k, 1, 0, 100, SUB_AAPL, "drop");
    session(&k, 2, 600, 700, SUB_AAPL, "drop");
    session(&k, 3, 1150, 1200, SUB_AAPL, "drop");
    run_judge(&g, &k, &c);
    EXPECT_MSG(0, false, "reconnect_delay: gap before connection 3 was 450 ms, shorter than the 500 ms before "
                         "connection 2 (expected growing gaps) (s.yaml:4:5)");
    a->cap_ms = 400;
    run_judge(&g, &k, &c);
    EXPECT_MSG(0, true, "reconnect_delay: 2 reconnect(s), shortest gap 450 ms >= 100 ms, growing (s.yaml:4:5)");

    /* Overlapping connections. */
    jb o = {0};
    add(&o, 0, 1, '-', "open", "/");
    add(&o, 10, 2, '-', "open", "/");
    add(&o, 20, 1, '-', "drop", NULL);
    add(&o, 30, 2, '-', "drop", NULL);
    run_judge(&s, &o, &c);
    EXPECT_MSG(0, false, "reconnect_delay: connection 2 opened while connection 1 was still open, expected a "
                         "gap >= 400 ms (s.yaml:31:5)");
}

static void test_connect_counts(void)
{
    sbld s;
    scen(&s);
    pwss_assertion *a = assert_add(&s, PWSS_ASSERT_MAX_CONNECTS, 1);
    a->count = 3;
    a->ms = 1000;
    assert_add(&s, PWSS_ASSERT_MIN_CONNECTS, 2)->count = 5;
    assert_add(&s, PWSS_ASSERT_NO_RECONNECT, 3);
    jb j = {0};
    for (uint32_t k = 1; k <= 4; k++)
        session(&j, k, (k - 1) * 300.0, (k - 1) * 300.0 + 5, SUB_AAPL, "drop");
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "max_connects: 4 connections opened within 900 ms (connections 1..4), expected at most "
                         "3 in any 1000 ms (s.yaml:1:5)");
    EXPECT_MSG(1, false, "min_connects: did not reconnect after connection 4 ended at +0.905 s (dropped without a close frame): "
                         "4 connection(s) opened, expected at least 5 (s.yaml:2:5)");
    EXPECT_MSG(2, false, "no_reconnect: 4 connections were opened, expected exactly 1 (connection 2 opened "
                         "295 ms after connection 1 ended) (s.yaml:3:5)");
    CU_ASSERT_EQUAL(rep.nfailed, 3);

    a->ms = 800; /* 4 opens need 900 ms: at most 3 in any 800 ms window */
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "max_connects: at most 3 connection(s) opened in any 800 ms (limit 3) (s.yaml:1:5)");

    jb one = {0};
    session(&one, 1, 0, 10, SUB_AAPL, "closed");
    run_judge(&s, &one, &c);
    EXPECT_MSG(2, true, "no_reconnect: exactly one connection was opened (s.yaml:3:5)");
}

static void test_client_closed_with(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_CLIENT_CLOSED_WITH, 5)->code = 1000;
    jb j = {0};
    add(&j, 0, 1, '-', "open", "/");
    add_close(&j, 10, 1, 's', 1001);
    add_close(&j, 11, 1, 'c', 1001);
    add(&j, 12, 1, '-', "closed", NULL);
    add(&j, 100, 2, '-', "open", "/");
    add(&j, 120, 2, '-', "drop", NULL);
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "client_closed_with: no client close frame with code 1000: connection 1: client sent "
                         "close 1001 (answering the server's close); connection 2: no client close frame, it "
                         "ended by a drop (s.yaml:5:5)");
    add(&j, 200, 3, '-', "open", "/");
    add_close(&j, 210, 3, 'c', 1000);
    add(&j, 211, 3, '-', "closed", NULL);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "client_closed_with: the client sent close 1000 on connection 3 (s.yaml:5:5)");
    s.a[0].ordinal = 2;
    run_judge(&s, &j, &c);
    CU_ASSERT_FALSE(verdict_for(0)->pass);
}

static void test_client_exit(void)
{
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_CLIENT_EXIT, 6)->code = 1;
    jb j = {0};
    session(&j, 1, 0, 10, NULL, "closed");
    pwsj_client c = exited(1);
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, true, "client_exit: the client exited with 1 (s.yaml:6:5)");
    c.exit_code = 0;
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "client_exit: the client exited with 0, expected exit 1 (s.yaml:6:5)");
    s.a[0].code = -1;
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "client_exit: the client exited with 0, expected a non-zero exit (s.yaml:6:5)");

    /* Killed by a signal of its own: a scenario-level failure comes first. */
    c.exited = false;
    c.term_signal = 11;
    run_judge(&s, &j, &c);
    CU_ASSERT_EQUAL(rep.verdicts[0].assertion, -1);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "client: died from signal 11 (SIGSEGV)");
    EXPECT_MSG(0, false, "client_exit: the client was ended by signal 11 (SIGSEGV), expected a non-zero exit "
                         "(s.yaml:6:5)");

    /* Still running at the timeout: a failure unless killed_ok. */
    c = exited(0);
    c.timed_out = true;
    c.timeout_ms = 5000;
    s.sc.nassertions = 0;
    run_judge(&s, &j, &c);
    CU_ASSERT_FALSE(rep.pass);
    CU_ASSERT_PTR_NOT_NULL(strstr(rep.first_failure, "still running after the 5.0 s timeout"));
    s.sc.client.killed_ok = true;
    run_judge(&s, &j, &c);
    CU_ASSERT_TRUE(rep.pass);

    /* Stopped because the whole run was interrupted. */
    c = exited(0);
    c.interrupted = true;
    run_judge(&s, &j, &c);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "client: stopped because the run was interrupted");
    s.sc.client.killed_ok = false;

    /* Command not found. */
    c = exited(127);
    run_judge(&s, &j, &c);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "client: the shell exited with 127: the command was not found");
    /* Not started at all. */
    c = (pwsj_client){0};
    c.start_error = "no /bin/sh";
    run_judge(&s, &j, &c);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "client: could not be started: no /bin/sh");
}

/* A client that exits with an error before the mock saw any connection: that is the first
 * cause, unless client_exit expects that status; once it has connected, only client_exit judges. */
static void test_exit_before_connecting(void)
{
    sbld s;
    scen(&s);
    jb j = {0};
    pwsj_client c = exited(1);
    run_judge(&s, &j, &c);
    CU_ASSERT_FALSE(rep.pass);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "client: exited with 1 before opening any connection (see its stderr)");
    c = exited(0); /* a clean exit without connecting is the scenario's business */
    run_judge(&s, &j, &c);
    CU_ASSERT_TRUE(rep.pass);
    c = exited(1);
    session(&j, 1, 0, 10, NULL, "closed"); /* it connected, then exited with 1 */
    run_judge(&s, &j, &c);
    CU_ASSERT_TRUE(rep.pass);
    jb empty = {0};
    assert_add(&s, PWSS_ASSERT_CLIENT_EXIT, 6)->code = 1; /* expected */
    run_judge(&s, &empty, &c);
    CU_ASSERT_TRUE(rep.pass);
    CU_ASSERT_PTR_NULL(rep.first_failure);
}

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/test_check.XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void test_output(void)
{
    const char *key = "pwscheck-SECRETKEY-0123";
    char *out = write_tmp("{\"ev\":\"A\",\"sym\":\"AAPL\"}\nline two pwscheck-SECRETKEY-0123 here\n");
    char *err = write_tmp("polyws: authenticated (connection 1)\n");
    char *exp_same = write_tmp("{\"ev\":\"A\",\"sym\":\"AAPL\"}\nline two pwscheck-SECRETKEY-0123 here\n");
    char *exp_diff = write_tmp("{\"ev\":\"A\",\"sym\":\"AAPL\"}\nline 2\n");
    sbld s;
    scen(&s);
    assert_add(&s, PWSS_ASSERT_OUTPUT_EQUALS, 1)->path = exp_same;
    pwss_assertion *m = assert_add(&s, PWSS_ASSERT_OUTPUT_MATCHES, 2);
    m->stream = 2;
    m->text = "^polyws: authenticated \\(connection [0-9]+\\)$";
    pwss_assertion *m2 = assert_add(&s, PWSS_ASSERT_OUTPUT_MATCHES, 3);
    m2->stream = 1;
    m2->text = "\"sym\":\"MSFT\"";
    pwss_assertion *bad = assert_add(&s, PWSS_ASSERT_OUTPUT_MATCHES, 4);
    bad->stream = 1;
    bad->text = "([unclosed";
    jb j = {0};
    session(&j, 1, 0, 10, NULL, "closed");
    pwsj_client c = exited(0);
    c.stdout_path = out;
    c.stderr_path = err;
    c.secrets[0] = key;
    run_judge(&s, &j, &c);
    char want[512];
    snprintf(want, sizeof want, "output_equals: stdout equals %s (2 line(s)) (s.yaml:1:5)", exp_same);
    EXPECT_MSG(0, true, want);
    EXPECT_MSG(1, true, "output_matches: line 1 of stderr matches /^polyws: authenticated \\(connection "
                        "[0-9]+\\)$/ (s.yaml:2:5)");
    EXPECT_MSG(2, false, "output_matches: no line of stdout matches /\"sym\":\"MSFT\"/ (2 line(s)) (s.yaml:3:5)");
    CU_ASSERT_PTR_NOT_NULL(strstr(verdict_for(3)->message, "output_matches: invalid regex /([unclosed/: "));

    s.a[0].path = exp_diff;
    run_judge(&s, &j, &c);
    snprintf(want, sizeof want,
             "output_equals: stdout differs from %s at line 2: got \"line two *** here\\n\", expected "
             "\"line 2\\n\" (s.yaml:1:5)",
             exp_diff);
    EXPECT_MSG(0, false, want);
    CU_ASSERT_PTR_NULL(strstr(rep.details, "SECRETKEY"));

    s.a[0].path = "/nonexistent/expected.jsonl";
    run_judge(&s, &j, &c);
    EXPECT_MSG(0, false, "output_equals: cannot read the expected output /nonexistent/expected.jsonl: No such "
                         "file or directory (s.yaml:1:5)");
    unlink(out);
    unlink(err);
    unlink(exp_same);
    unlink(exp_diff);
    free(out);
    free(err);
    free(exp_same);
    free(exp_diff);
}

static void test_step_failed_and_details(void)
{
    sbld s;
    scen(&s);
    jb j = {0};
    add(&j, 0, 1, '-', "open", "/stocks");
    /* More than 5 frames each way, one long one: only the last 5 each way, cut to 200 bytes. */
    static char longframe[1000];
    memset(longframe, 'x', sizeof longframe - 1);
    for (int i = 0; i < 8; i++) {
        add(&j, 1 + i, 1, 's', "text", i == 7 ? longframe : GREET);
        add(&j, 1.5 + i, 1, 'c', "text", i == 0 ? "first-client-frame" : SUB_AAPL);
    }
    add(&j, 20, 1, '-', "step_failed", "step 3 (12:7) EXPECT: a client message matching {\"action\":\"auth\"} "
                                       "within 2000 ms, received last: nothing");
    add(&j, 30, 1, '-', "drop", NULL);
    pwsj_client c = exited(0);
    run_judge(&s, &j, &c);
    CU_ASSERT_FALSE(rep.pass);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "step failed on connection 1 at +0.020 s: step 3 (s.yaml:12:7) "
                                              "EXPECT: a client message matching {\"action\":\"auth\"} within "
                                              "2000 ms, received last: nothing");
    const char *d = rep.details;
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "last frames on connection 1 (oldest first, up to 5 each way):"));
    CU_ASSERT_PTR_NULL(strstr(d, "first-client-frame"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "... (999 bytes)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "connection dropped (no close frame)"));
    int client_lines = 0, server_lines = 0;
    for (const char *p = d; (p = strstr(p, "client> ")) != NULL; p++)
        client_lines++;
    for (const char *p = d; (p = strstr(p, "server> ")) != NULL; p++)
        server_lines++;
    CU_ASSERT_EQUAL(client_lines, 5);
    CU_ASSERT_EQUAL(server_lines, 5);
    /* No line longer than the excerpt limit plus its prefix and the size note. */
    for (const char *p = d; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        CU_ASSERT(n < PWSJ_EXCERPT_MAX + 200);
        p = nl ? nl + 1 : p + n;
    }

    /* A step_failed text without a location is quoted as it is. */
    jb n = {0};
    add(&n, 0, 2, '-', "open", "/");
    add(&n, 5, 2, '-', "step_failed", "something (odd) happened");
    run_judge(&s, &n, &c);
    CU_ASSERT_STRING_EQUAL(rep.first_failure, "step failed on connection 2 at +0.005 s: something (odd) happened");

    /* A truncated journal fails. */
    jb t = {0};
    session(&t, 1, 0, 10, SUB_AAPL, "closed");
    add(&t, 11, 1, '-', "truncated", NULL);
    run_judge(&s, &t, &c);
    CU_ASSERT_FALSE(rep.pass);
    CU_ASSERT_PTR_NOT_NULL(strstr(rep.first_failure, "journal"));
}

static void test_last_frames_escaping(void)
{
    jb j = {0};
    add(&j, 0, 1, '-', "open", "/");
    add(&j, 1, 1, 'c', "text", "a\tb\nc\x01 key=SECRET-abc \xff \xc3\xa9");
    add_close(&j, 2, 1, 's', 1008);
    j.e[j.n - 1].reason = "policy";
    char *buf = NULL;
    size_t len = 0;
    const char *secrets[] = {"SECRET-abc", NULL};
    CU_ASSERT_EQUAL(pwsj_last_frames(j.e, j.n, 1, 5, 2, secrets, &buf, &len), 0);
    CU_ASSERT_STRING_EQUAL(buf, "  +0.001 s client> text a\\tb\\nc\\x01 key=*** \\xff \xc3\xa9\n"
                                "  +0.002 s server> close 1008 \"policy\"\n");
    CU_ASSERT_EQUAL(len, strlen(buf));
    free(buf);
}

/* ------------------------------------------------------------------ live: mock + scenario + connector */

static void ignore_event(const pws_event *ev, void *user)
{
    (void)ev;
    (void)user;
}

/* True once connection 2 subscribed (the resubscription the live test waits for). */
static bool conn2_subscribed(const pwsm_entry *e, void *u)
{
    (void)u;
    return e->conn == 2 && e->dir == 'c' && !strcmp(e->kind, "text") && strstr(e->data, "subscribe");
}

static void test_live_connector(void)
{
    /* Connection 1: handshake, 3 events, drop.  Later ones: the real service. */
    pwss_step steps[3];
    memset(steps, 0, sizeof steps);
    steps[0].kind = PWSS_STEP_HANDSHAKE;
    steps[0].line = 10, steps[0].column = 7;
    steps[1].kind = PWSS_STEP_STREAM;
    steps[1].line = 11, steps[1].column = 7;
    steps[1].stream.count = 3;
    steps[1].stream.rate = -1;
    steps[1].stream.batch = 1;
    steps[2].kind = PWSS_STEP_DROP;
    steps[2].line = 12, steps[2].column = 7;
    pwss_conn_script script = {.ordinal = 1, .steps = steps, .nsteps = 3};
    sbld s;
    scen(&s);
    s.sc.scripts = &script;
    s.sc.nscripts = 1;
    s.sc.client.subscribe = "A.AAPL,T.MSFT";
    assert_add(&s, PWSS_ASSERT_AUTH_WITHIN, 20)->ms = 2000;
    assert_add(&s, PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH, 21);
    assert_add(&s, PWSS_ASSERT_RESUBSCRIBED, 22);
    assert_add(&s, PWSS_ASSERT_RECONNECT_DELAY, 23)->ms = 50;
    assert_add(&s, PWSS_ASSERT_MIN_CONNECTS, 24)->count = 2;
    assert_add(&s, PWSS_ASSERT_NO_RECONNECT, 25); /* must fail: it reconnected */

    const char *key = "live-test-key-0123456789";
    pwsm_options mo;
    memset(&mo, 0, sizeof mo);
    mo.keys[0] = key;
    mo.scenario = &s.sc;
    char err[256] = "";
    pwsm_server *srv = pwsm_start(&mo, err, sizeof err);
    if (!srv)
        fprintf(stderr, "pwsm_start: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);

    pws_options o;
    memset(&o, 0, sizeof o);
    char url[128];
    snprintf(url, sizeof url, "%s/stocks", pwsm_url(srv));
    o.url = url;
    o.api_key = key;
    o.on_event = ignore_event;
    o.log_level = PWS_LOG_ERROR; /* the drop is expected */
    o.backoff.base_ms = 100; /* >= 50 ms even with -20 % jitter */
    pws_connector *c = NULL;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(pws_subscribe(c, "A.AAPL,T.MSFT"), 0);
    CU_ASSERT_EQUAL(pws_start(c), 0);
    CU_ASSERT_TRUE(pwsm_wait_for(srv, conn2_subscribed, NULL, 10000));
    pws_stop(c);
    pws_wait(c);
    pws_destroy(c);

    const pwsm_entry *entries = NULL;
    size_t n = pwsm_journal(srv, &entries);
    pwsj_client cl = exited(0);
    pwsj_report_free(&rep);
    CU_ASSERT_EQUAL_FATAL(pwsj_judge(&s.sc, entries, n, &cl, &rep), 0);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_TRUE(verdict_for(i)->pass);
        if (!verdict_for(i)->pass)
            fprintf(stderr, "\n  %s\n", verdict_for(i)->message);
    }
    CU_ASSERT_FALSE(verdict_for(5)->pass);
    CU_ASSERT_PTR_NOT_NULL(strstr(verdict_for(5)->message, "no_reconnect: 2 connections were opened, expected "
                                                            "exactly 1"));
    CU_ASSERT_EQUAL(rep.nfailed, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(rep.details, "last frames on connection 2"));
    CU_ASSERT_PTR_NULL(strstr(rep.details, key));
    pwsm_stop(srv);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(pwsj_assert_name(PWSS_ASSERT_AUTH_WITHIN), "auth_within");
    CU_ASSERT_STRING_EQUAL(pwsj_assert_name(PWSS_ASSERT_NO_RECONNECT), "no_reconnect");
    CU_ASSERT_STRING_EQUAL(pwsj_assert_name((pwss_assert_kind)99), "?");
}

int main(void)
{
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("judge", NULL, NULL);
    CU_add_test(s, "auth_within", test_auth_within);
    CU_add_test(s, "no_subscribe_before_auth", test_no_subscribe_before_auth);
    CU_add_test(s, "resubscribed", test_resubscribed);
    CU_add_test(s, "reconnect_delay", test_reconnect_delay);
    CU_add_test(s, "max/min connects, no_reconnect", test_connect_counts);
    CU_add_test(s, "client_closed_with", test_client_closed_with);
    CU_add_test(s, "client_exit and the client's end", test_client_exit);
    CU_add_test(s, "an error exit before any connection", test_exit_before_connecting);
    CU_add_test(s, "output_equals / output_matches", test_output);
    CU_add_test(s, "step_failed and failure details", test_step_failed_and_details);
    CU_add_test(s, "last frames: escaping and scrubbing", test_last_frames_escaping);
    CU_add_test(s, "names", test_names);
    CU_add_test(s, "live: mock + C scenario + connector, judged", test_live_connector);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    pwsj_report_free(&rep);
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
