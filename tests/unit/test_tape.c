/*
 * test_tape.c - the tape format: line codec (round trips, the journal's exact
 * bytes), the writer and reader (cut last lines, a writer killed with SIGKILL
 * mid-stream), redaction, client-message matching, stats and HAR round trips.
 */
#include <polyws/polyws.h>
#include <polyws/tape.h>

#include "../../replay/src/internal.h"    /* pwsr__redact_query */

#include "scratch.h"

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int suite_init(void)
{
    return scratch_init("test_tape");
}

static int suite_clean(void)
{
    return scratch_clean();
}

static pws_tape_frame frame(int64_t t, uint32_t conn, char dir, pws_tape_kind kind, const void *data, size_t len)
{
    pws_tape_frame f = {.t_us = t, .conn = conn, .dir = dir, .kind = kind, .data = data, .len = len};
    return f;
}

static void encode_str(const pws_tape_frame *f, pws_tape_buf *b)
{
    CU_ASSERT_EQUAL_FATAL(pws_tape_encode_frame(f, b), PWS_OK);
}

/* ---- codec */

static void test_encode_journal_bytes(void)
{
    /* the exact lines mockserver/src/journal.c writes for the same entries */
    pws_tape_buf b = {0};
    const char *auth = "{\"action\":\"auth\",\"params\":\"***\"}";
    pws_tape_frame f = frame(123, 1, 'c', PWS_TAPE_TEXT, auth, strlen(auth));
    encode_str(&f, &b);
    CU_ASSERT_STRING_EQUAL(b.p, "{\"t_us\":123,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\",\"data\":"
                                "\"{\\\"action\\\":\\\"auth\\\",\\\"params\\\":\\\"***\\\"}\"}\n");
    f = frame(5, 2, 's', PWS_TAPE_PING, "pwsmock", 7);
    encode_str(&f, &b);
    CU_ASSERT_STRING_EQUAL(b.p, "{\"t_us\":5,\"conn\":2,\"dir\":\"s\",\"kind\":\"ping\",\"data_b64\":\"cHdzbW9jaw==\"}\n");
    f = frame(9, 1, 's', PWS_TAPE_CLOSE, NULL, 0);
    f.code = 1008;
    f.reason = "policy";
    encode_str(&f, &b);
    CU_ASSERT_STRING_EQUAL(b.p, "{\"t_us\":9,\"conn\":1,\"dir\":\"s\",\"kind\":\"close\",\"code\":1008,\"reason\":\"policy\"}\n");
    f = frame(10, 1, '-', PWS_TAPE_CLOSED, NULL, 0);
    encode_str(&f, &b);
    CU_ASSERT_STRING_EQUAL(b.p, "{\"t_us\":10,\"conn\":1,\"dir\":\"-\",\"kind\":\"closed\"}\n");
    f = frame(0, 1, '-', PWS_TAPE_OPEN, "/stocks", 7);
    encode_str(&f, &b);
    CU_ASSERT_STRING_EQUAL(b.p, "{\"t_us\":0,\"conn\":1,\"dir\":\"-\",\"kind\":\"open\",\"data\":\"/stocks\"}\n");
    /* text that is not UTF-8 goes to base64, control characters are escaped */
    f = frame(1, 1, 's', PWS_TAPE_TEXT, "\xff\xfe", 2);
    encode_str(&f, &b);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\"data_b64\":\"//4=\""));
    f = frame(1, 1, 's', PWS_TAPE_TEXT, "a\"\\\n\x01\b\f\t", 8);
    encode_str(&f, &b);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\"data\":\"a\\\"\\\\\\n\\u0001\\b\\f\\t\""));
    /* invalid frames are refused */
    f = frame(1, 1, 'x', PWS_TAPE_TEXT, "a", 1);
    CU_ASSERT_EQUAL(pws_tape_encode_frame(&f, &b), PWS_ERR_INVALID);
    f = frame(1, 1, '-', PWS_TAPE_OTHER, NULL, 0);
    CU_ASSERT_EQUAL(pws_tape_encode_frame(&f, &b), PWS_ERR_INVALID);
    pws_tape_buf_free(&b);
}

static void test_round_trip_all_kinds(void)
{
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    const char *utf = "caf\xc3\xa9 \xf0\x9f\x93\x88 \"q\" \\ \t";
    pws_tape_frame in[] = {
        frame(0, 1, '-', PWS_TAPE_OPEN, "/stocks?x=1", 11),
        frame(10, 1, 's', PWS_TAPE_TEXT, utf, strlen(utf)),
        frame(11, 1, 'c', PWS_TAPE_BINARY, bin, sizeof bin),
        frame(12, 1, 'c', PWS_TAPE_BINARY, "a\0b", 3),
        frame(13, 1, 's', PWS_TAPE_PING, "", 0),
        frame(14, 1, 'c', PWS_TAPE_PONG, "xyz", 3),
        frame(15, 1, 's', PWS_TAPE_CLOSE, NULL, 0),
        frame(16, 1, '-', PWS_TAPE_DROP, "upstream", 8),
        frame(17, 2, '-', PWS_TAPE_ERROR, "upstream refused: 401", 21),
        frame(4000000000000LL, 4000000000u, '-', PWS_TAPE_OTHER, "drop", 4),
    };
    in[6].code = 4999;
    in[6].reason = "r\xc3\xa9son";
    in[9].kind_name = "fault";
    pws_tape_buf line = {0}, scratch = {0};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        encode_str(&in[i], &line);
        CU_ASSERT_EQUAL(line.p[line.len - 1], '\n');
        CU_ASSERT_PTR_NULL(memchr(line.p, '\n', line.len - 1));
        pws_tape_frame out;
        char err[128];
        int rc = pws_tape_decode_frame(line.p, line.len - 1, &out, &scratch, err, sizeof err);
        CU_ASSERT_EQUAL_FATAL(rc, PWS_OK);
        CU_ASSERT_EQUAL(out.t_us, in[i].t_us);
        CU_ASSERT_EQUAL(out.conn, in[i].conn);
        CU_ASSERT_EQUAL(out.dir, in[i].dir);
        CU_ASSERT_EQUAL(out.kind, in[i].kind);
        CU_ASSERT_EQUAL(out.len, in[i].len);
        if (in[i].len)
            CU_ASSERT(memcmp(out.data, in[i].data, in[i].len) == 0);
        CU_ASSERT_EQUAL(out.data[out.len], '\0');
        if (in[i].kind == PWS_TAPE_CLOSE) {
            CU_ASSERT_EQUAL(out.code, 4999);
            CU_ASSERT_STRING_EQUAL(out.reason, in[i].reason);
        }
        if (in[i].kind == PWS_TAPE_OTHER)
            CU_ASSERT_STRING_EQUAL(out.kind_name, "fault");
    }
    pws_tape_buf_free(&line);
    pws_tape_buf_free(&scratch);
}

static void test_decode_errors(void)
{
    pws_tape_buf scratch = {0};
    pws_tape_frame f;
    char err[128];
    const char *bad[] = {
        "",
        "[]",
        "{\"t_us\":1,\"conn\":1,\"dir\":\"c\"}",                               /* no kind */
        "{\"t_us\":1,\"conn\":1,\"dir\":\"x\",\"kind\":\"text\"}",              /* bad dir */
        "{\"t_us\":1,\"conn\":-1,\"dir\":\"c\",\"kind\":\"text\"}",             /* bad conn */
        "{\"t_us\":1,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\",\"data\":\"ab}", /* cut */
        "{\"t_us\":1,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\",\"data_b64\":\"@@\"}",
        "{\"t_us\":1,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\"} x",
        "{\"t_us\":99999999999999999999,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(pws_tape_decode_frame(bad[i], strlen(bad[i]), &f, &scratch, err, sizeof err),
                        PWS_ERR_INVALID);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "at byte"));
    }
    /* unknown members (and nested values in them) are skipped; \u escapes and surrogates decode */
    const char *ok = "{\"x\":{\"a\":[1,2,{\"b\":null}]},\"t_us\":7,\"conn\":3,\"dir\":\"s\",\"kind\":\"text\","
                     "\"data\":\"\\u00e9\\ud83d\\udcc8\\/\",\"extra\":true}";
    CU_ASSERT_EQUAL_FATAL(pws_tape_decode_frame(ok, strlen(ok), &f, &scratch, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL(f.conn, 3);
    CU_ASSERT_STRING_EQUAL((const char *)f.data, "\xc3\xa9\xf0\x9f\x93\x88/");
    pws_tape_buf_free(&scratch);
}

/* ---- writer and reader */

static pws_tape_header header(void)
{
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .url = "wss://example.test/stocks", .start_us = 1700000000123456LL,
                         .tool = "polyws test", .mode = "proxy"};
    h.redacted.auth_params = true;
    h.redacted.fields[0] = "token";
    h.redacted.nfields = 1;
    h.redacted.headers[0] = "authorization";
    h.redacted.nheaders = 1;
    h.redacted.secrets = 1;
    return h;
}

static void test_writer_reader(void)
{
    char path[300], err[256];
    path_of(path, sizeof path, "wr.tape");
    pws_tape_header h = header();
    pws_tape_writer *w;
    CU_ASSERT_EQUAL_FATAL(pws_tape_writer_open(path, &h, false, &w, err, sizeof err), PWS_OK);
    for (int i = 0; i < 1000; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "[{\"ev\":\"T\",\"i\":\"%d\"}]", i);
        pws_tape_frame f = frame(i * 10, 1 + (uint32_t)(i % 3), i % 2 ? 's' : 'c', PWS_TAPE_TEXT, msg, (size_t)n);
        CU_ASSERT_EQUAL(pws_tape_write(w, &f), PWS_OK);
    }
    CU_ASSERT_EQUAL(pws_tape_writer_lines(w), 1001);
    CU_ASSERT_EQUAL(pws_tape_writer_close(w), PWS_OK);

    pws_tape_reader *r;
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open(path, &r, err, sizeof err), PWS_OK);
    const pws_tape_header *rh = pws_tape_reader_header(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rh);
    CU_ASSERT_EQUAL(rh->version, 1);
    CU_ASSERT_STRING_EQUAL(rh->url, "wss://example.test/stocks");
    CU_ASSERT_EQUAL(rh->start_us, 1700000000123456LL);
    CU_ASSERT_STRING_EQUAL(rh->mode, "proxy");
    CU_ASSERT_TRUE(rh->redacted.auth_params);
    CU_ASSERT_EQUAL(rh->redacted.nfields, 1);
    CU_ASSERT_STRING_EQUAL(rh->redacted.fields[0], "token");
    CU_ASSERT_STRING_EQUAL(rh->redacted.headers[0], "authorization");
    CU_ASSERT_EQUAL(rh->redacted.secrets, 1);
    pws_tape_frame f;
    int i = 0, rc;
    while ((rc = pws_tape_next(r, &f)) == 1) {
        char msg[64];
        snprintf(msg, sizeof msg, "[{\"ev\":\"T\",\"i\":\"%d\"}]", i);
        CU_ASSERT_STRING_EQUAL((const char *)f.data, msg);
        CU_ASSERT_EQUAL(f.t_us, i * 10);
        CU_ASSERT_EQUAL(f.line, (size_t)i + 2);
        i++;
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(i, 1000);
    CU_ASSERT_FALSE(pws_tape_reader_truncated(r, NULL));
    pws_tape_reader_close(r);

    /* the header line says when: an ISO time next to start_us */
    char *all = slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"start\":\"2023-11-14T22:13:20.123456Z\""));
    free(all);
}

static void test_truncated_last_line(void)
{
    const char *tape =
        "{\"polyws_tape\":1,\"url\":\"ws://x\",\"start_us\":0,\"tool\":\"t\",\"mode\":\"proxy\",\"redacted\":{}}\n"
        "{\"t_us\":1,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"one\"}\n"
        "{\"t_us\":2,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"two\"}\n"
        "{\"t_us\":3,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"da";
    char err[256];
    pws_tape_reader *r;
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(tape, strlen(tape), &r, err, sizeof err), PWS_OK);
    pws_tape_frame f;
    int n = 0;
    while (pws_tape_next(r, &f) == 1)
        n++;
    CU_ASSERT_EQUAL(n, 2);
    size_t cut = 0;
    CU_ASSERT_TRUE(pws_tape_reader_truncated(r, &cut));
    CU_ASSERT_EQUAL(cut, strlen("{\"t_us\":3,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"da"));
    pws_tape_reader_close(r);

    /* a complete last line that only lacks its newline is a frame, not a cut */
    const char *whole = "{\"t_us\":1,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"one\"}";
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(whole, strlen(whole), &r, err, sizeof err), PWS_OK);
    CU_ASSERT_PTR_NULL(pws_tape_reader_header(r)); /* a journal: no header */
    CU_ASSERT_EQUAL(pws_tape_next(r, &f), 1);
    CU_ASSERT_EQUAL(pws_tape_next(r, &f), 0);
    CU_ASSERT_FALSE(pws_tape_reader_truncated(r, NULL));
    pws_tape_reader_close(r);

    /* a broken line in the middle is an error that names the line */
    const char *mid = "{\"t_us\":1,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\"}\n{\"t_us\":oops}\n"
                      "{\"t_us\":2,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\"}\n";
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(mid, strlen(mid), &r, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL(pws_tape_next(r, &f), 1);
    CU_ASSERT(pws_tape_next(r, &f) < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(pws_tape_reader_error(r), "line 2"));
    pws_tape_reader_close(r);

    /* only a cut header: an empty tape, reported as cut */
    const char *cuthdr = "{\"polyws_tape\":1,\"url\":\"ws:";
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(cuthdr, strlen(cuthdr), &r, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL(pws_tape_next(r, &f), 0);
    CU_ASSERT_TRUE(pws_tape_reader_truncated(r, NULL));
    pws_tape_reader_close(r);
}

static void test_reads_mock_journal(void)
{
    /* lines as the mock's journal writes them (no header) */
    const char *j =
        "{\"t_us\":210,\"conn\":1,\"dir\":\"-\",\"kind\":\"open\",\"data\":\"/stocks\"}\n"
        "{\"t_us\":300,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"[{\\\"ev\\\":\\\"status\\\",\\\"status\\\":"
        "\\\"connected\\\",\\\"message\\\":\\\"Connected Successfully\\\"}]\"}\n"
        "{\"t_us\":900,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\",\"data\":\"{\\\"action\\\":\\\"auth\\\",\\\"params\\\":\\\"***\\\"}\"}\n"
        "{\"t_us\":950,\"conn\":1,\"dir\":\"-\",\"kind\":\"fault\",\"data\":\"drop\"}\n"
        "{\"t_us\":990,\"conn\":1,\"dir\":\"s\",\"kind\":\"ping\",\"data_b64\":\"cHdzbW9jaw==\"}\n"
        "{\"t_us\":1000,\"conn\":1,\"dir\":\"c\",\"kind\":\"close\",\"code\":1000,\"reason\":\"bye\"}\n"
        "{\"t_us\":1100,\"conn\":1,\"dir\":\"-\",\"kind\":\"drop\"}\n";
    char err[256];
    pws_tape_reader *r;
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(j, strlen(j), &r, err, sizeof err), PWS_OK);
    pws_tape_kind kinds[] = {PWS_TAPE_OPEN, PWS_TAPE_TEXT, PWS_TAPE_TEXT, PWS_TAPE_OTHER,
                             PWS_TAPE_PING, PWS_TAPE_CLOSE, PWS_TAPE_DROP};
    pws_tape_frame f;
    size_t n = 0;
    while (pws_tape_next(r, &f) == 1) {
        CU_ASSERT_EQUAL(f.kind, kinds[n]);
        if (f.kind == PWS_TAPE_PING)
            CU_ASSERT_STRING_EQUAL((const char *)f.data, "pwsmock");
        if (f.kind == PWS_TAPE_CLOSE)
            CU_ASSERT(f.code == 1000 && !strcmp(f.reason, "bye"));
        n++;
    }
    CU_ASSERT_EQUAL(n, 7);
    pws_tape_reader_close(r);
}

/* A child writes frames and reports each completed write on a pipe; the parent kills it with
 * SIGKILL mid-stream; the tape must then read cleanly and hold every reported frame, in order. */
static void test_kill_mid_stream(void)
{
    char path[300];
    path_of(path, sizeof path, "killed.tape");
    for (int round = 0; round < 5; round++) {
        int fds[2];
        CU_ASSERT_FATAL(pipe(fds) == 0);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            pws_tape_header h = header();
            pws_tape_writer *w;
            char err[256];
            if (pws_tape_writer_open(path, &h, false, &w, err, sizeof err))
                _exit(3);
            /* frames of varying sizes, some large, so a kill can land inside a write */
            static char big[200000];
            memset(big, 'x', sizeof big);
            for (uint32_t i = 0;; i++) {
                size_t len = (i % 7 == 0) ? sizeof big : 40;
                snprintf(big, 32, "%u:", i);
                pws_tape_frame f = frame(i, 1, 's', PWS_TAPE_TEXT, big, len);
                if (pws_tape_write(w, &f))
                    _exit(4);
                if (write(fds[1], &i, sizeof i) != sizeof i)
                    _exit(5);
            }
        }
        close(fds[1]);
        uint32_t last = 0, got;
        int reports = 0;
        int target = 200 + round * 137;
        while (reports < target && read(fds[0], &got, sizeof got) == sizeof got) {
            last = got;
            reports++;
        }
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        /* reports still in the pipe: frames the child finished before it died */
        while (read(fds[0], &got, sizeof got) == sizeof got)
            last = got;
        close(fds[0]);
        CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        CU_ASSERT_EQUAL(reports, target);

        pws_tape_reader *r;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open(path, &r, err, sizeof err), PWS_OK);
        CU_ASSERT_PTR_NOT_NULL(pws_tape_reader_header(r));
        pws_tape_frame f;
        uint32_t expect = 0;
        int rc;
        while ((rc = pws_tape_next(r, &f)) == 1) {
            char want[32];
            snprintf(want, sizeof want, "%u:", expect);
            CU_ASSERT(strncmp((const char *)f.data, want, strlen(want)) == 0);
            CU_ASSERT_EQUAL(f.len, expect % 7 == 0 ? 200000u : 40u);
            expect++;
        }
        CU_ASSERT_EQUAL(rc, 0);
        /* every frame reported as written is there (and maybe the one after it) */
        CU_ASSERT(expect >= last + 1);
        CU_ASSERT(expect <= last + 2);
        pws_tape_reader_close(r);
    }
}

/* ---- redaction */

static char *red(const pws_redact_rules *r, const char *msg, bool *changed)
{
    size_t n;
    char *out = pws_redact_message(r, msg, strlen(msg), &n, changed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(n, strlen(out));
    return out;
}

static void test_redaction(void)
{
    pws_redact_rules r = {.auth_params = true};
    bool ch;
    char *o = red(&r, "{\"action\":\"auth\",\"params\":\"SECRET-KEY-1\"}", &ch);
    CU_ASSERT_STRING_EQUAL(o, "{\"action\":\"auth\",\"params\":\"***\"}");
    CU_ASSERT_TRUE(ch);
    free(o);
    /* member order, spacing and escapes are kept byte for byte */
    o = red(&r, "{ \"params\" : \"K\\\"EY\" , \"action\":\"auth\", \"n\": 1.50 }", &ch);
    CU_ASSERT_STRING_EQUAL(o, "{ \"params\" : \"***\" , \"action\":\"auth\", \"n\": 1.50 }");
    free(o);
    /* other actions are untouched */
    o = red(&r, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}", &ch);
    CU_ASSERT_STRING_EQUAL(o, "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}");
    CU_ASSERT_FALSE(ch);
    free(o);
    /* fields at any depth, any value type */
    r.fields[0] = "token";
    r.fields[1] = "password";
    r.nfields = 2;
    o = red(&r, "[{\"a\":{\"token\":{\"x\":[1,\"token\"]}},\"password\":12345,\"b\":[{\"token\":\"t\"}]}]", &ch);
    CU_ASSERT_STRING_EQUAL(o, "[{\"a\":{\"token\":\"***\"},\"password\":\"***\",\"b\":[{\"token\":\"***\"}]}]");
    free(o);
    /* literal secrets anywhere, JSON or not */
    r.secrets[0] = "SECRET-KEY-1";
    r.nsecrets = 1;
    o = red(&r, "echo SECRET-KEY-1 and SECRET-KEY-1!", &ch);
    CU_ASSERT_STRING_EQUAL(o, "echo *** and ***!");
    CU_ASSERT_TRUE(ch);
    free(o);
    o = red(&r, "[{\"ev\":\"status\",\"message\":\"bad key SECRET-KEY-1\"}]", &ch);
    CU_ASSERT_STRING_EQUAL(o, "[{\"ev\":\"status\",\"message\":\"bad key ***\"}]");
    free(o);
    /* broken JSON still loses the key (byte rule) */
    r.nsecrets = 0;
    o = red(&r, "{\"action\":\"auth\",\"params\":\"OTHERKEY\"", &ch);
    CU_ASSERT_PTR_NULL(strstr(o, "OTHERKEY"));
    CU_ASSERT_TRUE(ch);
    free(o);
    o = red(&r, "{\"action\":\"auth\",\"params\":\"UNTERMINATED", &ch);
    CU_ASSERT_PTR_NULL(strstr(o, "UNTERMINATED"));
    free(o);
    o = red(&r, "{\"token\": 99, \"x\":", &ch);
    CU_ASSERT_STRING_EQUAL(o, "{\"token\": \"***\", \"x\":");
    free(o);
    /* too deep to follow: the byte rule still finds the field */
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    strcat(deep, "{\"token\":\"DEEPSECRET\"}");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    o = red(&r, deep, &ch);
    CU_ASSERT_PTR_NULL(strstr(o, "DEEPSECRET"));
    free(o);

    char key[64];
    const char *a1 = "{\"action\":\"auth\",\"params\":\"abc\\u0041\"}";
    const char *a2 = "{\"action\":\"subscribe\",\"params\":\"A.X\"}";
    CU_ASSERT_EQUAL(pws_auth_key_of(a1, strlen(a1), key, sizeof key), 4);
    CU_ASSERT_STRING_EQUAL(key, "abcA");
    CU_ASSERT_EQUAL(pws_auth_key_of(a2, strlen(a2), key, sizeof key), 0);
}

/* ---- matching */

static void test_match(void)
{
    char why[256];
#define M(w, g) pws_tape_match(w, strlen(w), g, strlen(g), false, why, sizeof why)
    CU_ASSERT_TRUE(M("{\"action\":\"auth\",\"params\":\"***\"}", "{\"action\":\"auth\",\"params\":\"REALKEY\"}"));
    CU_ASSERT_TRUE(M("{\"action\":\"auth\",\"params\":\"***\"}", "{ \"params\":\"K\", \"action\":\"auth\" }"));
    CU_ASSERT_TRUE(M("{\"action\":\"subscribe\",\"params\":\"A.AAPL,T.MSFT\"}",
                     "{\"action\":\"subscribe\",\"params\":\"T.MSFT, A.AAPL\"}"));
    CU_ASSERT_FALSE(M("{\"action\":\"subscribe\",\"params\":\"A.AAPL,T.MSFT\"}",
                      "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "T.MSFT missing"));
    CU_ASSERT_FALSE(M("{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}",
                      "{\"action\":\"subscribe\",\"params\":\"A.AAPL,Q.*\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "unexpected channel Q.*"));
    CU_ASSERT_FALSE(M("{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}",
                      "{\"action\":\"unsubscribe\",\"params\":\"A.AAPL\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "action"));
    CU_ASSERT_TRUE(M("{\"n\":1.0,\"a\":[1,2]}", "{\"a\":[1,2],\"n\":1}"));
    CU_ASSERT_FALSE(M("{\"a\":[1,2]}", "{\"a\":[1,2,3]}"));
    CU_ASSERT_FALSE(M("{\"a\":1}", "{\"a\":1,\"b\":2}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "unexpected member"));
    CU_ASSERT_FALSE(M("{\"a\":1}", "not json"));
    CU_ASSERT_TRUE(M("plain text", "plain text"));
    CU_ASSERT_FALSE(M("plain text", "plain texT"));
    CU_ASSERT_FALSE(pws_tape_match("ab", 2, "ac", 2, true, why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "byte 1"));
#undef M
}


/* ---- tools: stats, HAR, scenario */

static void write_sample(const char *path)
{
    pws_tape_header h = header();
    pws_tape_writer *w;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_writer_open(path, &h, false, &w, err, sizeof err), PWS_OK);
    const char *greet = "[{\"ev\":\"status\",\"status\":\"connected\",\"message\":\"Connected Successfully\"}]";
    const char *agg = "[{\"ev\":\"A\",\"sym\":\"AAPL\",\"v\":1,\"o\":1,\"c\":1,\"h\":1,\"l\":1,\"s\":1,\"e\":2},"
                      "{\"ev\":\"T\",\"sym\":\"MSFT\",\"p\":1.5,\"s\":1,\"t\":1,\"q\":1},{\"ev\":\"XQ\",\"x\":1}]";
    const char *quote = "[{\"ev\":\"Q\",\"sym\":\"O'NEIL\",\"bp\":1,\"ap\":2,\"t\":5}]";
    const char *uni = "caf\xc3\xa9 \xe2\x82\xac";
    const char *auth = "{\"action\":\"auth\",\"params\":\"***\"}";
    const char *sub = "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}";
    unsigned char bin[] = {0, 1, 2, 0xff};
    pws_tape_frame fr[] = {
        frame(0, 1, '-', PWS_TAPE_OPEN, "/stocks", 7),
        frame(1000, 1, 's', PWS_TAPE_TEXT, greet, strlen(greet)),
        frame(2000, 1, 'c', PWS_TAPE_TEXT, auth, strlen(auth)),
        frame(2500, 1, 'c', PWS_TAPE_TEXT, sub, strlen(sub)),
        frame(3000, 1, 's', PWS_TAPE_TEXT, agg, strlen(agg)),
        frame(3500, 1, 's', PWS_TAPE_PING, "hi", 2),
        frame(3600, 1, 'c', PWS_TAPE_PONG, "hi", 2),
        frame(250000, 1, 's', PWS_TAPE_TEXT, quote, strlen(quote)),
        frame(250100, 1, 's', PWS_TAPE_TEXT, "line\nbreak", 10),
        frame(250200, 1, 's', PWS_TAPE_BINARY, bin, sizeof bin),
        frame(260000, 1, 's', PWS_TAPE_CLOSE, NULL, 0),
        frame(260500, 1, 'c', PWS_TAPE_CLOSE, NULL, 0),
        frame(261000, 1, '-', PWS_TAPE_CLOSED, "upstream", 8),
        frame(300000, 2, '-', PWS_TAPE_OPEN, "/stocks", 7),
        frame(301000, 2, 's', PWS_TAPE_TEXT, uni, strlen(uni)),
        frame(302000, 2, 'c', PWS_TAPE_BINARY, bin, sizeof bin),
        frame(303000, 2, '-', PWS_TAPE_DROP, "upstream", 8),
    };
    fr[10].code = 4001;
    fr[10].reason = "it's over";
    fr[11].code = 4001;
    fr[11].reason = "it's over";
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++)
        CU_ASSERT_EQUAL(pws_tape_write(w, &fr[i]), PWS_OK);
    pws_tape_writer_close(w);
}

static char *capture(int (*fn)(const char *, FILE *, char *, size_t), const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[256];
    int rc = fn(path, f, err, sizeof err);
    fclose(f);
    CU_ASSERT_EQUAL(rc, PWS_OK);
    return buf;
}

static int stats_text(const char *path, FILE *f, char *err, size_t cap)
{
    pws_tape_stats *s;
    int rc = pws_tape_stats_compute(path, &s, err, cap);
    if (rc)
        return rc;
    pws_tape_stats_print(s, false, f);
    pws_tape_stats_free(s);
    return PWS_OK;
}

static int stats_json(const char *path, FILE *f, char *err, size_t cap)
{
    pws_tape_stats *s;
    int rc = pws_tape_stats_compute(path, &s, err, cap);
    if (rc)
        return rc;
    pws_tape_stats_print(s, true, f);
    pws_tape_stats_free(s);
    return PWS_OK;
}

static void test_stats(void)
{
    char path[300];
    path_of(path, sizeof path, "sample.tape");
    write_sample(path);
    char *js = capture(stats_json, path);
    cJSON *j = cJSON_Parse(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(j, "connections")->valueint, 2);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(j, "lines")->valueint, 17);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(j, "frames")->valueint, 13);
    cJSON *srv = cJSON_GetObjectItem(j, "server"), *cli = cJSON_GetObjectItem(j, "client");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(srv, "text")->valueint, 5);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(srv, "binary")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(srv, "ping")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(srv, "close")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(cli, "text")->valueint, 2);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(cli, "pong")->valueint, 1);
    cJSON *ev = cJSON_GetObjectItem(j, "events");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(ev, "status")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(ev, "A")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(ev, "T")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(ev, "Q")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(ev, "other")->valueint, 1);
    CU_ASSERT(cJSON_GetObjectItem(ev, "parse_errors")->valueint >= 1); /* "line\nbreak" and the euro text */
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(j, "duration_s")->valuedouble, 0.303, 1e-9);
    cJSON *pc = cJSON_GetObjectItem(j, "per_connection");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(pc), 2);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetArrayItem(pc, 1), "end")->valuestring, "drop (upstream)");
    cJSON_Delete(j);
    free(js);
    char *txt = capture(stats_text, path);
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "server->client"));
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "closed (upstream)"));
    CU_ASSERT_PTR_NULL(strstr(txt, "truncated"));
    free(txt);
    /* a cut last line is reported, not an error */
    FILE *f = fopen(path, "a");
    fputs("{\"t_us\":400000,\"conn\":2,\"dir\":\"s\",\"kind\":\"te", f);
    fclose(f);
    txt = capture(stats_text, path);
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "truncated:   last line cut (44 bytes), ignored"));
    free(txt);
}

static int to_har(const char *path, FILE *f, char *err, size_t cap)
{
    size_t skipped = 0;
    int rc = pws_tape_to_har(path, f, &skipped, err, cap);
    CU_ASSERT_EQUAL(skipped, 6); /* ping, pong, two closes, closed, drop */
    return rc;
}

static void test_har_round_trip(void)
{
    char tp[300], hp[300], tp2[300];
    path_of(tp, sizeof tp, "har.tape");
    path_of(hp, sizeof hp, "out.har");
    path_of(tp2, sizeof tp2, "back.tape");
    write_sample(tp);
    char *har = capture(to_har, tp);
    cJSON *j = cJSON_Parse(har);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "log"), "entries");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(entries), 2);
    cJSON *e0 = cJSON_GetArrayItem(entries, 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(e0, "_resourceType")->valuestring, "websocket");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(e0, "request"), "url")->valuestring,
                           "wss://example.test/stocks");
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(e0, "_webSocketMessages"), 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(m, "type")->valuestring, "receive");
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(m, "opcode")->valueint, 1);
    cJSON_Delete(j);
    FILE *f = fopen(hp, "w");
    fputs(har, f);
    fclose(f);
    free(har);
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_from_har(hp, tp2, err, sizeof err), PWS_OK);

    /* text and binary frames come back with their direction, connection, bytes and time */
    pws_tape_reader *a, *b;
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open(tp, &a, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open(tp2, &b, err, sizeof err), PWS_OK);
    CU_ASSERT_STRING_EQUAL(pws_tape_reader_header(b)->mode, "har");
    pws_tape_frame fa, fb;
    int64_t open_a = -1, open_b = -1;
    size_t compared = 0;
    for (;;) {
        int ra;
        while ((ra = pws_tape_next(a, &fa)) == 1 && !(fa.kind == PWS_TAPE_TEXT || fa.kind == PWS_TAPE_BINARY) &&
               fa.kind != PWS_TAPE_OPEN)
            ;
        int rb;
        while ((rb = pws_tape_next(b, &fb)) == 1 && !(fb.kind == PWS_TAPE_TEXT || fb.kind == PWS_TAPE_BINARY) &&
               fb.kind != PWS_TAPE_OPEN)
            ;
        CU_ASSERT_EQUAL(ra, rb);
        if (ra != 1 || rb != 1)
            break;
        CU_ASSERT_EQUAL(fa.kind, fb.kind);
        if (fa.kind != fb.kind)
            fprintf(stderr, "a: %s conn %u t %lld / b: %s conn %u t %lld\n", fa.kind_name, fa.conn, (long long)fa.t_us,
                    fb.kind_name, fb.conn, (long long)fb.t_us);
        CU_ASSERT_EQUAL(fa.conn, fb.conn);
        CU_ASSERT_EQUAL(fa.dir, fb.dir);
        CU_ASSERT(fa.len == fb.len && !memcmp(fa.data, fb.data, fa.len));
        if (fa.kind == PWS_TAPE_OPEN && fa.conn == 1) {
            open_a = fa.t_us;
            open_b = fb.t_us;
        }
        int64_t da = fa.t_us - open_a, db = fb.t_us - open_b;
        CU_ASSERT(da - db <= 1 && db - da <= 1);
        compared++;
    }
    CU_ASSERT_EQUAL(compared, 11);
    pws_tape_reader_close(a);
    pws_tape_reader_close(b);
}

static void test_from_har_redacts(void)
{
    char hp[300], tp[300];
    path_of(hp, sizeof hp, "chrome.har");
    path_of(tp, sizeof tp, "chrome.tape");
    const char *har =
        "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"WebInspector\",\"version\":\"537.36\"},\"entries\":["
        "{\"startedDateTime\":\"2024-01-02T14:30:00.000Z\",\"request\":{\"method\":\"GET\","
        "\"url\":\"wss://socket.polygon.io/stocks\",\"headers\":[{\"name\":\"Cookie\",\"value\":\"sid=HUSH\"}]},"
        "\"_resourceType\":\"websocket\",\"_webSocketMessages\":["
        "{\"type\":\"receive\",\"time\":1704205800.1,\"opcode\":1,\"data\":\"[{\\\"ev\\\":\\\"status\\\",\\\"status\\\":\\\"connected\\\"}]\"},"
        "{\"type\":\"send\",\"time\":1704205800.2,\"opcode\":1,\"data\":\"{\\\"action\\\":\\\"auth\\\",\\\"params\\\":\\\"REAL-KEY-123\\\"}\"},"
        "{\"type\":\"receive\",\"time\":1704205800.3,\"opcode\":1,\"data\":\"[{\\\"ev\\\":\\\"status\\\",\\\"message\\\":\\\"hello REAL-KEY-123\\\"}]\"},"
        "{\"type\":\"receive\",\"time\":1704205800.4,\"opcode\":2,\"data\":\"AAEC/w==\"}]},"
        "{\"request\":{\"url\":\"https://example.test/\"}}]}}";
    FILE *f = fopen(hp, "w");
    fputs(har, f);
    fclose(f);
    char err[256];
    CU_ASSERT_EQUAL_FATAL(pws_tape_from_har(hp, tp, err, sizeof err), PWS_OK);
    size_t n;
    char *all = slurp(tp, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    CU_ASSERT_PTR_NULL(strstr(all, "REAL-KEY-123"));
    CU_ASSERT_PTR_NULL(strstr(all, "HUSH"));
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"secrets\":1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"data_b64\":\"AAEC/w==\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"t_us\":300000,"));
    free(all);
    /* not a HAR, no WebSocket entry */
    f = fopen(hp, "w");
    fputs("{\"log\":{\"entries\":[{\"request\":{}}]}}", f);
    fclose(f);
    CU_ASSERT_EQUAL(pws_tape_from_har(hp, tp, err, sizeof err), PWS_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no WebSocket entry"));
}

static void test_to_scenario(void)
{
    char path[300];
    path_of(path, sizeof path, "scn.tape");
    write_sample(path);
    char *y = capture(pws_tape_to_scenario, path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "description: Plays the session recorded from wss://example.test/stocks"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "server:\n  tls: true\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "client:\n  subscribe: \"A.AAPL\"\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "  1:\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "  2:\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - expect: {json: {\"action\": \"auth\"}, timeout: 10000ms}\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - expect: {json: {\"action\": \"subscribe\", \"params\": \"A.AAPL\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "\"sym\":\"O''NEIL\""));                   /* quotes doubled */
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - send_raw: {base64: \"bGluZQpicmVhaw==\"}")); /* a newline: base64 */
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - send_binary: {base64: \"AAEC/w==\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - ping: 'hi'\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - sleep: 246ms\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - close: {code: 4001, reason: 'it''s over'}\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "    - drop\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "the client sent a binary message"));
    free(y);
}

/* What the progress callback saw. */
typedef struct prog_log {
    unsigned calls[2], done[2];     /* [reading, writing]: calls, and those with done */
    pws_tape_progress last[2];      /* the last call of each phase */
    bool backwards;                 /* a count went down within a phase */
    bool write_before_read_done;    /* "writing" came before reading was done */
} prog_log;

static void on_prog(const pws_tape_progress *p, void *user)
{
    prog_log *l = user;
    int w = !strcmp(p->phase, "writing");
    if (!w && strcmp(p->phase, "reading"))
        CU_FAIL("unknown phase");
    if (w && !l->done[0])
        l->write_before_read_done = true;
    if (l->calls[w] && (p->items < l->last[w].items || p->bytes < l->last[w].bytes))
        l->backwards = true;
    l->calls[w]++;
    l->done[w] += p->done;
    l->last[w] = *p;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* The tools' progress calls: one per PWS_TAPE_PROGRESS_ITEMS lines or so, never backwards, and one
 * with done and the real totals at the end of each phase: the file's bytes, its lines. */
static void test_progress(void)
{
    enum { N = 1000 };
    char tp[300], hp[300], tp2[300], err[256];
    path_of(tp, sizeof tp, "prog.tape");
    path_of(hp, sizeof hp, "prog.har");
    path_of(tp2, sizeof tp2, "prog2.tape");
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .url = "ws://example.test/stocks", .mode = "proxy"};
    pws_tape_writer *w;
    CU_ASSERT_EQUAL_FATAL(pws_tape_writer_open(tp, &h, false, &w, err, sizeof err), PWS_OK);
    pws_tape_frame open = {.t_us = 0, .conn = 1, .dir = '-', .kind = PWS_TAPE_OPEN,
                           .data = (const unsigned char *)"/stocks", .len = 7};
    CU_ASSERT_EQUAL(pws_tape_write(w, &open), PWS_OK);
    for (int i = 1; i < N; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "[{\"ev\":\"A\",\"sym\":\"AAPL\",\"n\":%d}]", i);
        pws_tape_frame f = {.t_us = i * 1000, .conn = 1, .dir = 's', .kind = PWS_TAPE_TEXT,
                            .data = (const unsigned char *)msg, .len = (size_t)n};
        CU_ASSERT_EQUAL(pws_tape_write(w, &f), PWS_OK);
    }
    CU_ASSERT_EQUAL(pws_tape_writer_close(w), PWS_OK);
    uint64_t tape_size = (uint64_t)file_size(tp);

    prog_log l;
    pws_tape_tool_options o = {.progress = on_prog, .progress_user = &l};
    /* stats */
    memset(&l, 0, sizeof l);
    pws_tape_stats *st;
    CU_ASSERT_EQUAL_FATAL(pws_tape_stats_compute_opts(tp, &o, &st, err, sizeof err), PWS_OK);
    pws_tape_stats_free(st);
    CU_ASSERT_EQUAL(l.done[0], 1);
    CU_ASSERT_EQUAL(l.calls[1], 0);
    CU_ASSERT(l.calls[0] >= N / PWS_TAPE_PROGRESS_ITEMS && l.calls[0] <= N / PWS_TAPE_PROGRESS_ITEMS + 2);
    CU_ASSERT(l.last[0].done);
    CU_ASSERT_EQUAL(l.last[0].items, N);
    CU_ASSERT_EQUAL(l.last[0].bytes, tape_size);
    CU_ASSERT_EQUAL(l.last[0].bytes_total, tape_size);
    CU_ASSERT_FALSE(l.backwards);
    /* to-scenario and to-har */
    memset(&l, 0, sizeof l);
    FILE *f = fopen("/dev/null", "w");
    CU_ASSERT_EQUAL(pws_tape_to_scenario_opts(tp, f, &o, err, sizeof err), PWS_OK);
    fclose(f);
    CU_ASSERT(l.done[0] == 1 && l.last[0].done && l.last[0].items == N && l.last[0].bytes == tape_size);
    memset(&l, 0, sizeof l);
    f = fopen(hp, "w");
    size_t skipped;
    CU_ASSERT_EQUAL(pws_tape_to_har_opts(tp, f, &o, &skipped, err, sizeof err), PWS_OK);
    fclose(f);
    CU_ASSERT(l.done[0] == 1 && l.last[0].done && l.last[0].items == N && l.last[0].bytes == tape_size);
    CU_ASSERT_FALSE(l.backwards);
    /* from-har: reading the HAR (its bytes, its N - 1 messages), then writing the tape (N lines) */
    memset(&l, 0, sizeof l);
    uint64_t har_size = (uint64_t)file_size(hp);
    CU_ASSERT_EQUAL_FATAL(pws_tape_from_har_opts(hp, tp2, &o, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL(l.done[0], 1);
    CU_ASSERT_EQUAL(l.done[1], 1);
    CU_ASSERT_FALSE(l.write_before_read_done);
    CU_ASSERT_FALSE(l.backwards);
    CU_ASSERT_EQUAL(l.last[0].items, N - 1);
    CU_ASSERT_EQUAL(l.last[0].bytes, har_size);
    CU_ASSERT_EQUAL(l.last[0].bytes_total, har_size);
    CU_ASSERT_EQUAL(l.last[1].items, N);
    CU_ASSERT_EQUAL(l.last[1].items_total, N);
    CU_ASSERT_EQUAL(l.last[1].bytes, (uint64_t)file_size(tp2));
    CU_ASSERT(l.calls[1] >= N / PWS_TAPE_PROGRESS_ITEMS && l.calls[1] <= N / PWS_TAPE_PROGRESS_ITEMS + 2);
    /* a failure: no done call */
    memset(&l, 0, sizeof l);
    f = fopen(hp, "w");
    fputs("{\"log\":{\"entries\":[{\"_webSocketMessages\":[", f);
    fclose(f);
    CU_ASSERT_NOT_EQUAL(pws_tape_from_har_opts(hp, tp2, &o, err, sizeof err), PWS_OK);
    CU_ASSERT_EQUAL(l.done[0] + l.done[1], 0);
    /* the reader's own counts, from memory */
    pws_tape_reader *r;
    const char mem[] = "{\"t_us\":0,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"x\"}\n\n";
    CU_ASSERT_EQUAL_FATAL(pws_tape_reader_open_mem(mem, sizeof mem - 1, &r, err, sizeof err), PWS_OK);
    pws_tape_frame fr;
    CU_ASSERT_EQUAL(pws_tape_reader_size(r), sizeof mem - 1);
    while (pws_tape_next(r, &fr) == 1)
        ;
    CU_ASSERT_EQUAL(pws_tape_reader_bytes(r), sizeof mem - 1);
    pws_tape_reader_close(r);
}

static void test_redact_query(void)
{
    char *q;
    /* secrets in query strings */
    const char *extra[] = {"sig"};
    q = pwsr__redact_query("wss://h/s?apiKey=K1&x=1&sig=S2&token=T3#f", extra, 1);
    CU_ASSERT_STRING_EQUAL(q, "wss://h/s?apiKey=***&x=1&sig=***&token=***#f");
    free(q);
    q = pwsr__redact_query("/stocks", NULL, 0);
    CU_ASSERT_STRING_EQUAL(q, "/stocks");
    free(q);
    q = pwsr__redact_query("/s?APIKEY=abc&keyless", NULL, 0);
    CU_ASSERT_STRING_EQUAL(q, "/s?APIKEY=***&keyless");
    free(q);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("tape", suite_init, suite_clean);
    CU_add_test(s, "frame lines have the journal's bytes", test_encode_journal_bytes);
    CU_add_test(s, "every kind round-trips", test_round_trip_all_kinds);
    CU_add_test(s, "decode errors name the byte; unknown members skipped", test_decode_errors);
    CU_add_test(s, "writer and reader, header", test_writer_reader);
    CU_add_test(s, "a cut last line is skipped and reported", test_truncated_last_line);
    CU_add_test(s, "mock journal lines read as a tape", test_reads_mock_journal);
    CU_add_test(s, "writer killed with SIGKILL mid-stream", test_kill_mid_stream);
    CU_add_test(s, "redaction", test_redaction);
    CU_add_test(s, "client message matching", test_match);
    CU_add_test(s, "stats", test_stats);
    CU_add_test(s, "HAR round trip", test_har_round_trip);
    CU_add_test(s, "from-har redacts keys and cookies", test_from_har_redacts);
    CU_add_test(s, "the tools' progress calls", test_progress);
    CU_add_test(s, "to-scenario", test_to_scenario);
    CU_add_test(s, "secrets in URL query strings", test_redact_query);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
