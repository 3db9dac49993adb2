/*
 * test_report.c - the HTML report of `polyws check --report` (cli/check_report.c) on
 * hand-made journals: the SVG's structure (one <svg class="seq"> per diagram, arrows each
 * way, drops, faults, failed steps, balanced tags), secrets never shown (not even cut in
 * half, nor spelled with JSON escapes), escaping of markup and control bytes, long runs of
 * frames collapsed and the output bounded, the page (failed scenarios first, unique ids),
 * and writing through FILE.tmp + rename, with errors for unwritable paths.
 */
#include "check_report.h"
#include "wire/secrets.h" /* PWS__SECRET_MAX_LEN */

#include <CUnit/Basic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "pwscheck-0123456789abcdef0123456789abcdef"

static const char *const secrets[] = {SECRET, NULL};

/* ---- helpers */

/* A growable journal whose strings the test owns (freed by journal_free). */
typedef struct journal {
    pwsm_entry *e; /* entries */
    size_t n;      /* used */
    size_t cap;    /* allocated */
    char **owned;  /* strings to free */
    size_t nowned; /* used */
    size_t ocap;   /* allocated */
} journal;

static const char *own(journal *j, char *s)
{
    if (j->nowned == j->ocap) {
        j->ocap = j->ocap ? j->ocap * 2 : 64;
        j->owned = realloc(j->owned, j->ocap * sizeof *j->owned);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j->owned);
    }
    j->owned[j->nowned++] = s;
    return s;
}

static pwsm_entry *add(journal *j, int64_t t_us, uint32_t conn, char dir, const char *kind, const char *data,
                       size_t len)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 64;
        j->e = realloc(j->e, j->cap * sizeof *j->e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j->e);
    }
    pwsm_entry *e = &j->e[j->n++];
    memset(e, 0, sizeof *e);
    e->t_us = t_us;
    e->conn = conn;
    e->dir = dir;
    e->kind = kind;
    e->data = data ? data : "";
    e->len = data ? len : 0;
    e->reason = "";
    return e;
}

static pwsm_entry *add_str(journal *j, int64_t t_us, uint32_t conn, char dir, const char *kind, const char *data)
{
    return add(j, t_us, conn, dir, kind, data, data ? strlen(data) : 0);
}

static pwsm_entry *add_close(journal *j, int64_t t_us, uint32_t conn, char dir, int code, const char *reason)
{
    pwsm_entry *e = add(j, t_us, conn, dir, "close", NULL, 0);
    e->close_code = code;
    e->reason = reason;
    return e;
}

/* A raw entry: bytes as lowercase hex, like the mock journals them. */
static void add_raw(journal *j, int64_t t_us, uint32_t conn, const void *bytes, size_t n)
{
    char *hex = malloc(2 * n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hex);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)bytes)[i]);
    add(j, t_us, conn, 's', "raw", own(j, hex), 2 * n);
}

static void journal_free(journal *j)
{
    for (size_t i = 0; i < j->nowned; i++)
        free(j->owned[i]);
    free(j->owned);
    free(j->e);
    memset(j, 0, sizeof *j);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
        n++;
    return n;
}

/* Valid UTF-8, and no control bytes but '\n' and '\t'. */
static bool clean_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        if (*u < 0x80) {
            if ((*u < 0x20 && *u != '\n' && *u != '\t') || *u == 0x7f)
                return false;
            u++;
            continue;
        }
        size_t seq = (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3 : (*u & 0xF8) == 0xF0 ? 4 : 0;
        if (!seq)
            return false;
        for (size_t k = 1; k < seq; k++)
            if ((u[k] & 0xC0) != 0x80)
                return false;
        u += seq;
    }
    return true;
}

/* Every opening tag of these elements has its closing tag, and the svg is one element. */
static void assert_balanced(const char *svg)
{
    CU_ASSERT_EQUAL(strncmp(svg, "<svg class=\"seq\"", 16), 0);
    CU_ASSERT_EQUAL(count(svg, "<svg"), 1);
    CU_ASSERT_EQUAL(count(svg, "</svg>"), 1);
    size_t n = strlen(svg);
    CU_ASSERT(n >= 6 && strcmp(svg + n - 6, "</svg>") == 0);
    CU_ASSERT_EQUAL(count(svg, "<g "), count(svg, "</g>"));
    CU_ASSERT_EQUAL(count(svg, "<text "), count(svg, "</text>"));
    CU_ASSERT_EQUAL(count(svg, "<title>"), count(svg, "</title>"));
    CU_ASSERT(clean_utf8(svg));
}

/* No trace of SECRET: not whole, not its first 8+ characters. */
static void assert_no_secret(const char *s)
{
    CU_ASSERT_PTR_NULL(strstr(s, SECRET));
    char prefix[9];
    memcpy(prefix, SECRET, 8);
    prefix[8] = '\0';
    CU_ASSERT_PTR_NULL(strstr(s, prefix));
    CU_ASSERT_PTR_NULL(strstr(s, &SECRET[9])); /* the hex part alone */
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* The typical story on two connections: handshake, auth (with the key in it), events, raw
 * fault bytes, close; then a failed step, a fault and a drop. */
static void build_story(journal *j)
{
    add_str(j, 1000, 1, '-', "open", "/stocks");
    add_str(j, 1100, 1, '-', "step", "HANDSHAKE 10:7");
    add_str(j, 1200, 1, 's', "text", "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]");
    add_str(j, 1300, 1, 'c', "text", "{\"action\":\"auth\",\"params\":\"" SECRET "\"}");
    add_str(j, 1400, 1, 's', "text", "[{\"ev\":\"status\",\"status\":\"auth_success\",\"message\":\"authenticated\"}]");
    add_str(j, 1500, 1, 'c', "text", "{\"action\":\"subscribe\",\"params\":\"A.AAPL,T.MSFT\"}");
    add_str(j, 1600, 1, 's', "text",
            "[{\"ev\":\"A\",\"sym\":\"AAPL\",\"v\":1},{\"ev\":\"A\",\"sym\":\"AAPL\",\"v\":2},"
            "{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.5}]");
    add_str(j, 1700, 1, 's', "text", "[{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.6}]");
    static const char raw[] = "\x81\x7e<&\"" SECRET "\x01";
    add_raw(j, 1800, 1, raw, sizeof raw - 1);
    add_close(j, 1900, 1, 'c', 1000, "bye <&>");
    add_close(j, 1950, 1, 's', 1000, "bye <&>");
    add_str(j, 2000, 1, '-', "closed", NULL);

    add_str(j, 500000, 2, '-', "open", "/stocks?apiKey=" SECRET);
    add_str(j, 500100, 2, 's', "text",
            "[{\"ev\":\"status\",\"status\":\"error\",\"message\":\"<b>&\\\"quote\\\" " SECRET "\"}]");
    add_str(j, 500200, 2, '-', "step_failed",
            "step 3 (12:7) EXPECT: a message matching {\"action\":\"subscribe\"}, received last: \"<&" SECRET "\"");
    add_str(j, 500300, 2, '-', "fault", "drop");
    add_str(j, 500400, 2, '-', "drop", NULL);
}

/* ---- diagram */

static void test_diagram_structure(void)
{
    journal j = {0};
    build_story(&j);
    char *svg = chk_report_diagram("story <&\"1\">", j.e, j.n, secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-scenario=\"story &lt;&amp;&quot;1&quot;&gt;\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-connections=\"2\""));
    CU_ASSERT_EQUAL(count(svg, "<g class=\"conn\""), 2);
    /* client: auth, subscribe, close; server: connected, auth_success, 2 event frames (too few to
     * collapse), raw, close, then the error status on connection 2 */
    CU_ASSERT_EQUAL(count(svg, "class=\"msg c2s "), 3);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg s2c "), 7);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg s2c raw\""), 1);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg c2s close\""), 1);
    CU_ASSERT_EQUAL(count(svg, " run\""), 0);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"drop\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"fault\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"step_failed\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"step\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"closed\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"open\""), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-end=\"drop\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-end=\"closed\""));
    /* labels: status word, action, events by type, close code and reason, time */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "status connected: Connected Successfully"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "auth ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "subscribe A.AAPL,T.MSFT"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "3 events: 2\xC3\x97" "A 1\xC3\x97T \xC2\xB7 AAPL MSFT"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "close 1000 bye &lt;&amp;&gt;"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "+0.500 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "raw 47 B: 81 7e 3c 26 22 2a 2a 2a 01"));
    /* payload markup is escaped, never markup */
    CU_ASSERT_PTR_NULL(strstr(svg, "<b>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "&lt;b&gt;&amp;\"quote\" ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "received last: \"&lt;&amp;***\""));
    assert_no_secret(svg);
    free(svg);
    journal_free(&j);
}

static void test_diagram_secrets(void)
{
    journal j = {0};
    add_str(&j, 0, 1, '-', "open", "/stocks");
    /* the key right where a 60-character excerpt would cut it in half */
    add_str(&j, 10, 1, 'c', "text", "0123456789012345678901234567890123456789012345678901234 " SECRET " tail");
    /* in binary, ping, close reason and failed-step text */
    add_str(&j, 30, 1, 'c', "binary", "\x00\x01" SECRET);
    j.e[j.n - 1].len = 2 + strlen(SECRET);
    add_str(&j, 40, 1, 's', "ping", SECRET);
    add_close(&j, 50, 1, 'c', 4000, SECRET);
    add_str(&j, 60, 1, '-', "step_failed", "step 1 (1:1) EXPECT: ... received last: \"" SECRET "\"");
    add_str(&j, 70, 1, '-', "closed", NULL);
    char *svg = chk_report_diagram("secrets", j.e, j.n, secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    assert_no_secret(svg);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "close 4000 ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "binary 43 B: \xE2\x90\x80\xE2\x90\x81***"));
    free(svg);
    journal_free(&j);

    /* A key with characters JSON escapes, written escaped (both ways for '/'); and a plain key
     * spelled with a \u escape, which only the decoded summary spells out. */
    static const char *const odd_secrets[] = {"k\"ey/with\\slash", SECRET, NULL};
    add_str(&j, 0, 1, '-', "open", "/stocks");
    add_str(&j, 10, 1, 'c', "text", "{\"action\":\"x\",\"params\":\"k\\\"ey/with\\\\slash\"}");
    add_str(&j, 20, 1, 'c', "text", "{\"action\":\"y\",\"params\":\"k\\\"ey\\/with\\\\slash\"}");
    add_str(&j, 30, 1, 'c', "text", "{\"action\":\"z\",\"params\":\"\\u0070wscheck-0123456789abcdef0123456789abcdef\"}");
    add_str(&j, 40, 1, 'c', "text", "not json: k\"ey/with\\slash");
    svg = chk_report_diagram("escaped", j.e, j.n, odd_secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_PTR_NULL(strstr(svg, "ey/with"));
    CU_ASSERT_PTR_NULL(strstr(svg, "ey\\/with"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "x ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "y ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "z ***"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "not json: ***"));
    CU_ASSERT_PTR_NULL(strstr(svg, SECRET));
    CU_ASSERT_PTR_NULL(strstr(svg, "pwscheck"));
    free(svg);
    journal_free(&j);

    /* A secret cut by the scrub window: the longest key the redactor takes (4 KB) at the start
     * (the label shows its mark), then two more, the first starting 2 KB before the window's
     * end.  The window holds that one's start: it must not show, nor anything of the last. */
    size_t klen = PWS__SECRET_MAX_LEN, pad = CHK_REPORT_SCRUB_WINDOW - 2048 - klen, flen = pad + 3 * klen;
    char *key = malloc(klen + 1), *frame = malloc(flen + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(frame);
    for (size_t i = 0; i < klen; i++)
        key[i] = "KEYkey0123456789"[i % 16];
    key[klen] = '\0';
    memcpy(frame, key, klen);
    memset(frame + klen, 'z', pad);
    memcpy(frame + klen + pad, key, klen);
    memcpy(frame + 2 * klen + pad, key, klen);
    frame[flen] = '\0';
    journal big = {0};
    add_str(&big, 0, 1, '-', "open", "/");
    add(&big, 1, 1, 's', "text", frame, flen);
    const char *const long_secrets[] = {key, NULL};
    svg = chk_report_diagram("window", big.e, big.n, long_secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    CU_ASSERT_PTR_NULL(strstr(svg, "KEYkey01"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "***"));
    free(svg);
    journal_free(&big);
    free(key);
    free(frame);
}

static void test_diagram_escaping(void)
{
    journal j = {0};
    add_str(&j, 0, 1, '-', "open", "/p<&>\"'");
    add_str(&j, 10, 1, 's', "text", "not json <script>alert(1)</script> & \"q\" 'a'");
    add(&j, 20, 1, 's', "text", "ctl \x01\x1b[31m\n\t\x7f bad \xff\xfe \xc3\x28 ok \xc3\xa9", 29);
    add(&j, 30, 1, 's', "binary", "\0\0\0", 3);
    add_str(&j, 40, 1, '-', "closed", NULL);
    char *svg = chk_report_diagram("esc", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_PTR_NULL(strstr(svg, "<script"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "not json &lt;script&gt;alert(1)&lt;/script&gt; &amp; \"q\" 'a'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "open /p&lt;&amp;&gt;\"'"));
    /* control bytes as control pictures, invalid UTF-8 as U+FFFD, valid UTF-8 kept */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "ctl \xE2\x90\x81\xE2\x90\x9B[31m\xE2\x90\x8A\xE2\x90\x89\xE2\x90\xA1 bad "
                                       "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD( ok \xC3\xA9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "binary 3 B: \xE2\x90\x80\xE2\x90\x80\xE2\x90\x80"));
    free(svg);
    journal_free(&j);
}

static void test_diagram_collapse(void)
{
    /* 10 000 event frames of 10 events each: one arrow */
    journal j = {0};
    add_str(&j, 0, 1, '-', "open", "/stocks");
    add_str(&j, 5, 1, 'c', "text", "{\"action\":\"subscribe\",\"params\":\"A.*\"}");
    add_str(&j, 6, 1, '-', "step", "STREAM 4:7");
    static const char ten[] =
        "[{\"ev\":\"A\",\"sym\":\"AAPL\"},{\"ev\":\"A\",\"sym\":\"MSFT\"},{\"ev\":\"A\",\"sym\":\"AAPL\"},"
        "{\"ev\":\"A\",\"sym\":\"AAPL\"},{\"ev\":\"A\",\"sym\":\"AAPL\"},{\"ev\":\"A\",\"sym\":\"AAPL\"},"
        "{\"ev\":\"A\",\"sym\":\"AAPL\"},{\"ev\":\"A\",\"sym\":\"AAPL\"},{\"ev\":\"A\",\"sym\":\"AAPL\"},"
        "{\"ev\":\"A\",\"sym\":\"AAPL\",\"x\":[1,2,{\"y\":\"],\"}]}]";
    for (int i = 0; i < 10000; i++)
        add_str(&j, 10 + i, 1, 's', "text", ten);
    add_close(&j, 20000, 1, 'c', 1000, "");
    add_str(&j, 20001, 1, '-', "closed", NULL);
    char *svg = chk_report_diagram("collapse", j.e, j.n, secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg s2c text run\""), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-frames=\"10000\" data-events=\"100000\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "10,000 frames (100,000 events) +0.000..+0.010 s"));
    CU_ASSERT_EQUAL(count(svg, "class=\"msg "), 3);
    CU_ASSERT(strlen(svg) < 20000);
    free(svg);
    journal_free(&j);

    /* a REPEAT of sends journals a step before each frame: still one arrow */
    add_str(&j, 0, 1, '-', "open", "/stocks");
    for (int i = 0; i < 1000; i++) {
        add_str(&j, 10 + 2 * i, 1, '-', "step", "SEND_TEXT 5:9");
        add_str(&j, 11 + 2 * i, 1, 's', "text", "[{\"ev\":\"T\",\"sym\":\"X\"}]");
    }
    svg = chk_report_diagram("repeat", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg "), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"step\""), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-frames=\"1000\""));
    free(svg);
    journal_free(&j);

    /* two or three status frames are drawn one by one */
    add_str(&j, 0, 1, '-', "open", "/stocks");
    for (int i = 0; i < 3; i++)
        add_str(&j, 10 + i, 1, 's', "text", "[{\"ev\":\"status\",\"status\":\"success\",\"message\":\"subscribed to: A.X\"}]");
    svg = chk_report_diagram("statuses", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    CU_ASSERT_EQUAL(count(svg, "class=\"msg s2c text\""), 3);
    free(svg);
    journal_free(&j);
}

static void test_diagram_bounded(void)
{
    /* 10 000 frames each way, alternating (nothing to collapse), with a failed step in the
     * middle: rows are capped, the middle is one "more" row, the failed step and the end stay */
    journal j = {0};
    add_str(&j, 0, 1, '-', "open", "/stocks");
    for (int i = 0; i < 20000; i++) {
        add_str(&j, 10 + i, 1, i % 2 ? 's' : 'c', "text", i % 2 ? "[{\"ev\":\"status\",\"status\":\"pong\"}]" : "{\"action\":\"ping\"}");
        if (i == 10000)
            add_str(&j, 10 + i, 1, '-', "step_failed", "step 9 (9:9) EXPECT: in the middle");
    }
    add_str(&j, 30000, 1, '-', "drop", NULL);
    char *svg = chk_report_diagram("bounded", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    size_t arrows = count(svg, "class=\"msg ");
    CU_ASSERT(arrows >= CHK_REPORT_HEAD_ROWS && arrows <= CHK_REPORT_HEAD_ROWS + CHK_REPORT_TAIL_ROWS);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"more\""), 2); /* before and after the failed step */
    CU_ASSERT_EQUAL(count(svg, "<g class=\"step_failed\""), 1);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"drop\""), 1);
    CU_ASSERT(strlen(svg) < 200000);
    free(svg);
    journal_free(&j);

    /* 100 connections: the first 20 and the last 5 drawn, one row for the others */
    for (uint32_t c = 1; c <= 100; c++) {
        add_str(&j, c * 1000, c, '-', "open", "/stocks");
        add_str(&j, c * 1000 + 1, c, 's', "text", "[{\"ev\":\"status\",\"status\":\"connected\"}]");
        add_str(&j, c * 1000 + 2, c, '-', c % 2 ? "drop" : "closed", NULL);
    }
    svg = chk_report_diagram("many", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-connections=\"100\""));
    CU_ASSERT_EQUAL(count(svg, "<g class=\"conn\""), CHK_REPORT_FIRST_CONNS + CHK_REPORT_LAST_CONNS);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"more conns\""), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "75 connections not drawn (21 to 95): 75 frames, 38 dropped, 37 closed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-conn=\"100\""));
    CU_ASSERT_PTR_NULL(strstr(svg, "data-conn=\"50\""));
    free(svg);
    journal_free(&j);

    /* 25 long connections: the diagram's row budget runs out, later ones get one row each */
    for (uint32_t c = 1; c <= 25; c++) {
        add_str(&j, c * 100000, c, '-', "open", "/stocks");
        for (int i = 0; i < 200; i++)
            add_str(&j, c * 100000 + 1 + i, c, i % 2 ? 's' : 'c', "text", i % 2 ? "[{\"ev\":\"T\"}]" : "{\"action\":\"x\"}");
        add_str(&j, c * 100000 + 999, c, '-', "closed", NULL);
    }
    svg = chk_report_diagram("budget", j.e, j.n, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_EQUAL(count(svg, "<g class=\"conn\""), 25);
    CU_ASSERT(count(svg, "row budget") >= 10);
    CU_ASSERT(count(svg, "class=\"msg ") <= CHK_REPORT_MAX_ROWS);
    CU_ASSERT(strlen(svg) < 500000);
    free(svg);
    journal_free(&j);

    /* no journal at all */
    svg = chk_report_diagram("empty", NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svg);
    assert_balanced(svg);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-connections=\"0\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "never connected"));
    free(svg);
}

/* ---- the page */

static char tmpdir[] = "/tmp/test_report.XXXXXX";

static void test_write_page(void)
{
    journal j = {0};
    build_story(&j);
    static const chk_report_verdict v1[] = {{"auth_within: auth after 1 ms (s.yaml:3:5)", 0},
                                            {"max_connects: 3 <&> \"2\" (s.yaml:4:5)", 1},
                                            {"output_equals: skipped", 2}};
    chk_report_case cases[3];
    memset(cases, 0, sizeof cases);
    cases[0] = (chk_report_case){.name = "dup", .path = "a/dup.yaml", .pass = 1, .seconds = 0.25,
                                 .verdicts = v1, .nverdicts = 1, .client_line = "client: exited with 0 after 0.2 s"};
    cases[0].diagram = chk_report_diagram("dup", j.e, j.n, secrets);
    cases[1] = (chk_report_case){.name = "dup", .path = "b/dup.yaml", .description = "line 1\nline <2>",
                                 .pass = 0, .seconds = 1.5, .headline = v1[1].message, .verdicts = v1,
                                 .nverdicts = 3, .details = "max_connects ...\n  last frames", .client_line = "client: x",
                                 .out_tail = "out <tail>", .err_tail = "err\x01tail"};
    cases[1].diagram = chk_report_diagram("dup", j.e, j.n, secrets);
    cases[2] = (chk_report_case){.name = "odd name/with spaces", .pass = 1};
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/report.html", tmpdir);
    CU_ASSERT_EQUAL_FATAL(chk_report_write(path, "Run <1>", cases, 3, 12.5, err, sizeof err), 0);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0); /* renamed away */
    char *html = read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(html);
    CU_ASSERT(clean_utf8(html));
    CU_ASSERT_EQUAL(strncmp(html, "<!DOCTYPE html>", 15), 0);
    CU_ASSERT_PTR_NULL(strstr(html, "<script"));
    CU_ASSERT_PTR_NULL(strstr(html, "src="));
    CU_ASSERT_PTR_NULL(strstr(html, "href=\"http"));
    CU_ASSERT_PTR_NULL(strstr(html, "url("));
    CU_ASSERT_PTR_NULL(strstr(html, "@import"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>Run &lt;1&gt;: 2 passed, 1 failed</title>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "data-passed=\"2\" data-failed=\"1\""));
    CU_ASSERT_EQUAL(count(html, "<section class=\"scenario "), 3);
    CU_ASSERT_EQUAL(count(html, "<svg class=\"seq\""), 2);
    CU_ASSERT_EQUAL(count(html, "</svg>"), 2);
    /* failed first, in the contents and in the sections; unique ids in the order of the run */
    const char *fail = strstr(html, "<section class=\"scenario fail\" id=\"dup~2\"");
    const char *pass = strstr(html, "<section class=\"scenario pass\" id=\"dup\"");
    const char *odd = strstr(html, "<section class=\"scenario pass\" id=\"odd_name_with_spaces\"");
    CU_ASSERT_PTR_NOT_NULL(fail);
    CU_ASSERT_PTR_NOT_NULL(pass);
    CU_ASSERT_PTR_NOT_NULL(odd);
    CU_ASSERT(fail && pass && odd && fail < pass && pass < odd);
    const char *toc_fail = strstr(html, "<a href=\"#dup~2\">"), *toc_pass = strstr(html, "<a href=\"#dup\">");
    CU_ASSERT(toc_fail && toc_pass && toc_fail < toc_pass && toc_pass < fail);
    /* escaped text, verdict states, details */
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "max_connects: 3 &lt;&amp;&gt; \"2\" (s.yaml:4:5)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "line 1\nline &lt;2&gt;"));
    CU_ASSERT_EQUAL(count(html, "<li class=\"pass\"><span class=\"mark\""), 2);
    CU_ASSERT_EQUAL(count(html, "<li class=\"fail\"><span class=\"mark\""), 1);
    CU_ASSERT_EQUAL(count(html, "<li class=\"skip\"><span class=\"mark\""), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<pre>out &lt;tail&gt;</pre>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<pre>err\xE2\x90\x81tail</pre>"));
    CU_ASSERT_EQUAL(count(html, "<details"), 3);
    assert_no_secret(html);
    free(html);
    for (size_t i = 0; i < 3; i++)
        free(cases[i].diagram);
    unlink(path);
    journal_free(&j);

    /* zero scenarios is a page too */
    CU_ASSERT_EQUAL(chk_report_write(path, NULL, NULL, 0, 0, err, sizeof err), 0);
    html = read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(html);
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "0 failed"));
    free(html);
    unlink(path);
}

static void test_write_errors(void)
{
    chk_report_case c = {.name = "x", .pass = 1};
    char err[256] = "";
    CU_ASSERT_EQUAL(chk_report_write("/nonexistent-dir-polyws/r.html", NULL, &c, 1, 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir-polyws/r.html"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file or directory"));
    /* the target is a directory: the rename fails and the temporary file goes away */
    char dir[256], tmp[300];
    snprintf(dir, sizeof dir, "%s/adir", tmpdir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    err[0] = '\0';
    CU_ASSERT_EQUAL(chk_report_write(dir, NULL, &c, 1, 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot write"));
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    rmdir(dir);
    /* err may be NULL */
    CU_ASSERT_EQUAL(chk_report_write("/nonexistent-dir-polyws/r.html", NULL, &c, 1, 1, NULL, 0), -1);
    CU_ASSERT_EQUAL(chk_report_write(NULL, NULL, &c, 1, 1, err, sizeof err), -1);
}

static void test_write_large(void)
{
    /* a 100 000-event stream in 10 000 frames plus a chatty second connection: the file
     * stays small */
    journal j = {0};
    add_str(&j, 0, 1, '-', "open", "/stocks");
    static const char ten[] = "[{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},"
                              "{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},"
                              "{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},{\"ev\":\"Q\",\"sym\":\"SPY\"},"
                              "{\"ev\":\"Q\",\"sym\":\"SPY\"}]";
    for (int i = 0; i < 10000; i++)
        add_str(&j, 1 + i, 1, 's', "text", ten);
    add_str(&j, 20000, 1, '-', "drop", NULL);
    add_str(&j, 30000, 2, '-', "open", "/stocks");
    for (int i = 0; i < 10000; i++)
        add_str(&j, 30001 + i, 2, i % 2 ? 's' : 'c', "text", i % 2 ? "[{\"ev\":\"status\",\"status\":\"x\"}]" : "{\"action\":\"y\"}");
    chk_report_case c = {.name = "big", .pass = 0, .headline = "failed"};
    c.diagram = chk_report_diagram("big", j.e, j.n, secrets);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.diagram);
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/big.html", tmpdir);
    CU_ASSERT_EQUAL(chk_report_write(path, NULL, &c, 1, 3, err, sizeof err), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT(st.st_size > 1000 && st.st_size < 200000);
    unlink(path);
    free(c.diagram);
    journal_free(&j);
}

static int suite_init(void)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int suite_clean(void)
{
    return rmdir(tmpdir);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("report", suite_init, suite_clean);
    CU_add_test(s, "diagram: arrows, marks, labels, escaping", test_diagram_structure);
    CU_add_test(s, "diagram: secrets scrubbed before any cut", test_diagram_secrets);
    CU_add_test(s, "diagram: markup, control bytes, invalid UTF-8", test_diagram_escaping);
    CU_add_test(s, "diagram: runs of frames collapse", test_diagram_collapse);
    CU_add_test(s, "diagram: rows and connections are capped", test_diagram_bounded);
    CU_add_test(s, "page: order, ids, escaping, tmp + rename", test_write_page);
    CU_add_test(s, "page: unwritable paths", test_write_errors);
    CU_add_test(s, "page: a 100 000-event run stays small", test_write_large);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
