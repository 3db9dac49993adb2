/*
 * test_har.c - the streaming HAR import: the incremental JSON reader
 * (replay/src/json_pull.c) against cJSON, its error positions and buffer
 * boundaries; the external frame sort (replay/src/frame_sort.c) against
 * qsort; and pws_tape_from_har's tapes with a sort budget that forces the
 * temporary file, its member lookup and its error precedence.
 */
#include <polyws/polyws.h>
#include <polyws/tape.h>

#include "../../replay/src/frame_sort.h"
#include "../../replay/src/internal.h" /* pwsr__tape_from_har */
#include "../../replay/src/json_pull.h"

#include "scratch.h"

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int suite_init(void)
{
    return scratch_init("test_har");
}

static int suite_clean(void)
{
    return scratch_clean();
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A reader over a scratch file holding data[0..len); the descriptor is returned in *fd. */
static void open_doc(pwsr__jp *jp, int *fd, const void *data, size_t len)
{
    char path[300];
    path_of(path, sizeof path, "doc.json");
    write_file(path, data, len);
    *fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(*fd >= 0);
    CU_ASSERT_EQUAL_FATAL(pwsr__jp_init(jp, *fd, 1u << 30), 0);
}

static void close_doc(pwsr__jp *jp, int fd)
{
    pwsr__jp_free(jp);
    close(fd);
}

/* Reads the whole document: PWSR__JP_END or PWSR__JP_ERROR. */
static pwsr__jp_tok read_all(pwsr__jp *jp)
{
    pwsr__jp_tok t;
    while ((t = pwsr__jp_next(jp)) > 0)
        ;
    return t;
}

/* ---- the reader */

static void test_tokens_across_buffers(void)
{
    /* a string of 200 000 bytes with an escape every 7 bytes: some escapes straddle the 64 KiB
     * read buffer's refills; numbers and literals follow it */
    size_t n = 200000;
    char *doc = malloc(n * 2 + 200), *want = malloc(n + 1);
    size_t d = 0, w = 0;
    d += (size_t)sprintf(doc + d, "{\"a\" :\t[1, -2.5e3 ,true,false,null,\"x\"],\r\n\"long\":\"");
    static const char *const esc[] = {"\\n", "\\u00e9", "\\ud83d\\ude00", "\\\"", "\\/"};
    static const char *const dec[] = {"\n", "\xc3\xa9", "\xf0\x9f\x98\x80", "\"", "/"};
    for (size_t i = 0; w < n; i++) {
        if (i % 7 == 6) {
            size_t k = i / 7 % 5;
            d += (size_t)sprintf(doc + d, "%s", esc[k]);
            w += (size_t)sprintf(want + w, "%s", dec[k]);
        } else {
            doc[d++] = (char)('a' + i % 26);
            want[w++] = (char)('a' + i % 26);
        }
    }
    d += (size_t)sprintf(doc + d, "\",\"n\":{},\"z\":123456789012}");
    pwsr__jp jp;
    int fd;
    open_doc(&jp, &fd, doc, d);
    static const pwsr__jp_tok expect[] = {
        PWSR__JP_OBJECT, PWSR__JP_KEY,   PWSR__JP_ARRAY,  PWSR__JP_NUMBER,     PWSR__JP_NUMBER, PWSR__JP_TRUE,
        PWSR__JP_FALSE,  PWSR__JP_NULL,  PWSR__JP_STRING, PWSR__JP_ARRAY_END,  PWSR__JP_KEY,    PWSR__JP_STRING,
        PWSR__JP_KEY,    PWSR__JP_OBJECT, PWSR__JP_OBJECT_END, PWSR__JP_KEY,   PWSR__JP_NUMBER, PWSR__JP_OBJECT_END,
        PWSR__JP_END};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        pwsr__jp_tok t = pwsr__jp_next(&jp);
        CU_ASSERT_EQUAL(t, expect[i]);
        if (t != expect[i]) {
            fprintf(stderr, "token %zu: %d, want %d (err %d at %llu)\n", i, t, expect[i], jp.err,
                    (unsigned long long)jp.err_pos);
            break;
        }
        if (i == 4)
            CU_ASSERT_DOUBLE_EQUAL(jp.num, -2500.0, 0);
        if (i == 10)
            CU_ASSERT_STRING_EQUAL(jp.str, "long");
        if (i == 11) {
            CU_ASSERT_EQUAL(jp.str_len, w);
            CU_ASSERT(jp.str_len == w && !memcmp(jp.str, want, w));
        }
        if (i == 16)
            CU_ASSERT_DOUBLE_EQUAL(jp.num, 123456789012.0, 0);
    }
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_END); /* and stays there */
    close_doc(&jp, fd);
    free(doc);
    free(want);
}

/* Parses "[" lit "]" with cJSON and with the reader: both refuse it, or both accept it with the
 * same value (strings compared as C strings, the way the HAR import uses them). */
static void same_as_cjson(const char *lit)
{
    char doc[512];
    size_t n = (size_t)snprintf(doc, sizeof doc, "[%s]", lit);
    cJSON *c = cJSON_ParseWithLength(doc, n);
    pwsr__jp jp;
    int fd;
    open_doc(&jp, &fd, doc, n);
    pwsr__jp_tok t0 = pwsr__jp_next(&jp), t1 = pwsr__jp_next(&jp);
    pwsr__jp_tok t2 = t1 > 0 ? pwsr__jp_next(&jp) : t1;
    bool ours = t0 == PWSR__JP_ARRAY && t1 > 0 && t2 == PWSR__JP_ARRAY_END && pwsr__jp_next(&jp) == PWSR__JP_END;
    CU_ASSERT_EQUAL(ours, c != NULL);
    if (ours != (c != NULL))
        fprintf(stderr, "%s: cJSON %s, the reader %s\n", doc, c ? "accepts" : "refuses", ours ? "accepts" : "refuses");
    const cJSON *v = c ? cJSON_GetArrayItem(c, 0) : NULL;
    if (ours && cJSON_IsString(v)) {
        CU_ASSERT_EQUAL(t1, PWSR__JP_STRING);
        CU_ASSERT_STRING_EQUAL(jp.str, v->valuestring);
    } else if (ours && cJSON_IsNumber(v)) {
        CU_ASSERT_EQUAL(t1, PWSR__JP_NUMBER);
        CU_ASSERT(jp.num == v->valuedouble || (jp.num != jp.num && v->valuedouble != v->valuedouble));
    }
    close_doc(&jp, fd);
    cJSON_Delete(c);
}

static void test_same_as_cjson(void)
{
    static const char *const cases[] = {
        /* strings, including what cJSON lets through */
        "\"plain\"", "\"\"", "\"tab\there\"", "\"raw\nnewline\"", "\"\\u0041\\u00e9\\u20ac\"",
        "\"\\ud83d\\ude00\"", "\"\\uZZZZafter\"", "\"a\\u0000b\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"\\u12\"", "\"\\u12\\\"ab\"", "\"\\u1\\\\\"",
        "\"\\uABC\\\\\"", "\"\\q\"", "\"\\\\\"", "\"\\/\\b\\f\\n\\r\\t\"", "\"\xff\xfe\"",
        /* numbers: the longest run of [0-9+-.eE], then strtod */
        "0", "-0", "1.5e3", "1E+2", "1e999", "-1e999", "01", "1.", "-.5", "1.2.3", "1-2", "-", "--1",
        "1e", "1e+", "0x10", "123456789012345678901234567890123456789012345678901234567890123456789",
        /* literals */
        "true", "false", "null", "nul", "tru", "nulll", "True",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        same_as_cjson(cases[i]);
}

/* The document's first error: kind, 1-based byte, line and column. */
static void expect_error(const char *doc, size_t len, pwsr__jp_err err, unsigned long long byte,
                         unsigned long long line, unsigned long long col)
{
    pwsr__jp jp;
    int fd;
    open_doc(&jp, &fd, doc, len);
    CU_ASSERT_EQUAL(read_all(&jp), PWSR__JP_ERROR);
    CU_ASSERT_EQUAL(jp.err, err);
    CU_ASSERT_EQUAL(jp.err_pos + 1, byte);
    CU_ASSERT_EQUAL(jp.err_line, line);
    CU_ASSERT_EQUAL(jp.err_col, col);
    if (jp.err != err || jp.err_pos + 1 != byte || jp.err_line != line || jp.err_col != col)
        fprintf(stderr, "%.40s: error %d at byte %llu line %llu column %llu, want %d at %llu %llu:%llu\n", doc,
                jp.err, (unsigned long long)jp.err_pos + 1, (unsigned long long)jp.err_line,
                (unsigned long long)jp.err_col, err, byte, line, col);
    close_doc(&jp, fd);
}

static void test_error_positions(void)
{
    const char *s = "{\n  \"a\": [1,\n  2 x]\n}";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 18, 3, 5);
    s = "{\"a\":1,x}";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 8, 1, 8);
    s = "[1,]";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 4, 1, 4);
    s = "[1.2.3]";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 5, 1, 5);
    s = "[-]";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 2, 1, 2);
    s = "{\"a\"\n 1}";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 7, 2, 2);
    s = "[\"a\\qb\"]";
    expect_error(s, strlen(s), PWSR__JP_SYNTAX, 4, 1, 4);
    /* the input ends inside a value: the last byte, whatever the value */
    s = "{\"log\":{\"entries\":[{\"x\":\"abcdef";
    expect_error(s, strlen(s), PWSR__JP_TRUNCATED, strlen(s), 1, strlen(s));
    s = "{\"a\":\n tr";
    expect_error(s, strlen(s), PWSR__JP_TRUNCATED, 9, 2, 3);
    s = "{\"a\":[1,\n";
    expect_error(s, strlen(s), PWSR__JP_TRUNCATED, 9, 1, 9);
    s = "   \n ";
    expect_error(s, strlen(s), PWSR__JP_TRUNCATED, 5, 2, 1);
    expect_error("", 0, PWSR__JP_TRUNCATED, 1, 1, 1);
    /* a bad escape far into a long string with raw newlines, read through many refills: the
     * line counts the newlines inside the string */
    size_t lines = 30000;
    char *big = malloc(lines * 4 + 64);
    size_t n = (size_t)sprintf(big, "{\n\"k\":\"");
    for (size_t i = 0; i < lines; i++)
        n += (size_t)sprintf(big + n, "ab\n");
    size_t at = n;
    n += (size_t)sprintf(big + n, "xy\\q\"}");
    expect_error(big, n, PWSR__JP_SYNTAX, at + 3, 2 + lines, 3);
    /* the same cut off inside the string */
    expect_error(big, at + 1, PWSR__JP_TRUNCATED, at + 1, 2 + lines, 1);
    free(big);
    /* 1000 arrays nest; the 1001st does not (cJSON's limit) */
    char deep[2100];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    pwsr__jp jp;
    int fd;
    open_doc(&jp, &fd, deep, 2000);
    CU_ASSERT_EQUAL(read_all(&jp), PWSR__JP_END);
    close_doc(&jp, fd);
    memset(deep, '[', 1001);
    expect_error(deep, 1001, PWSR__JP_TOO_DEEP, 1001, 1, 1001);
}

static void test_document_edges(void)
{
    pwsr__jp jp;
    int fd;
    /* a byte order mark is skipped in a document of 5 bytes or more, as cJSON does */
    open_doc(&jp, &fd, "\xEF\xBB\xBF{}", 5);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_OBJECT);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_OBJECT_END);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_END);
    close_doc(&jp, fd);
    expect_error("\xEF\xBB\xBF" "1", 4, PWSR__JP_SYNTAX, 1, 1, 1);
    /* every byte up to 32 is whitespace, NUL included; nothing after the root is read */
    open_doc(&jp, &fd, "\0\x01{\x1f}\x7f garbage [", 13);
    CU_ASSERT_EQUAL(read_all(&jp), PWSR__JP_END);
    close_doc(&jp, fd);
    /* at the root, what strtod leaves of a number is after the root */
    open_doc(&jp, &fd, "1-2", 3);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_NUMBER);
    CU_ASSERT_DOUBLE_EQUAL(jp.num, 1.0, 0);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_END);
    close_doc(&jp, fd);
    /* skip reads past a whole value */
    const char *s = "{\"a\":[{\"b\":[1,{\"c\":\"d\"}]},2],\"e\":true}";
    open_doc(&jp, &fd, s, strlen(s));
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_OBJECT);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_KEY);
    CU_ASSERT_EQUAL(pwsr__jp_skip(&jp, pwsr__jp_next(&jp)), 0);
    CU_ASSERT_EQUAL(pwsr__jp_next(&jp), PWSR__JP_KEY);
    CU_ASSERT_STRING_EQUAL(jp.str, "e");
    close_doc(&jp, fd);
    /* a pipe reads like a file */
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL(write(p[1], "[\"x\", 2]", 8), 8);
    close(p[1]);
    CU_ASSERT_EQUAL_FATAL(pwsr__jp_init(&jp, p[0], 100), 0);
    CU_ASSERT_EQUAL(read_all(&jp), PWSR__JP_END);
    CU_ASSERT_EQUAL(pwsr__jp_bytes_read(&jp), 8);
    close_doc(&jp, p[0]);
    /* more input than allowed */
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL(write(p[1], "[1,2,3,4,5,6,7,8,9]", 19), 19);
    close(p[1]);
    CU_ASSERT_EQUAL_FATAL(pwsr__jp_init(&jp, p[0], 10), 0);
    CU_ASSERT_EQUAL(read_all(&jp), PWSR__JP_ERROR);
    CU_ASSERT_EQUAL(jp.err, PWSR__JP_TOO_BIG);
    close_doc(&jp, p[0]);
}

/* ---- the sort */

typedef struct test_frame {
    pwsr__sort_frame f;  /* as added */
    char data[400];      /* its bytes */
    char headers[40];    /* its headers, if f.headers */
} test_frame;

static int test_frame_cmp(const void *a, const void *b)
{
    const test_frame *x = a, *y = b;
    if (x->f.t_us != y->f.t_us)
        return x->f.t_us < y->f.t_us ? -1 : 1;
    return x->f.seq < y->f.seq ? -1 : x->f.seq > y->f.seq;
}

/* n frames with many equal times, sorted with the given budget: in the order qsort gives. */
static void sort_and_compare(size_t n, size_t budget, bool want_runs)
{
    test_frame *tf = calloc(n, sizeof *tf);
    unsigned seed = 12345;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        test_frame *t = &tf[i];
        size_t len = seed >> 16 & 0xff;
        for (size_t k = 0; k < len; k++)
            t->data[k] = (char)(k * 7 + i);
        t->f = (pwsr__sort_frame){.t_us = (int64_t)(seed % 97) - 40, .seq = i, .conn = (uint32_t)(i % 5 + 1),
                                  .dir = "cs-"[i % 3], .kind = (pws_tape_kind)(i % 6), .code = (int)(i % 3000),
                                  .data = t->data, .len = len};
        if (i % 4 == 0) {
            snprintf(t->headers, sizeof t->headers, "[[\"h\",\"%zu\"]]", i);
            t->f.headers = t->headers;
        }
    }
    pwsr__frame_sort *s;
    CU_ASSERT_EQUAL_FATAL(pwsr__frame_sort_open(budget, scratch_dir(), &s), PWS_OK);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(pwsr__frame_sort_add(s, &tf[i].f), PWS_OK);
    qsort(tf, n, sizeof *tf, test_frame_cmp);
    pwsr__sort_frame o;
    size_t i = 0;
    int rc;
    while ((rc = pwsr__frame_sort_next(s, &o)) == 1 && i < n) {
        const pwsr__sort_frame *w = &tf[i].f; /* qsort moved it: its pointers are stale */
        bool same = o.t_us == w->t_us && o.seq == w->seq && o.conn == w->conn && o.dir == w->dir &&
                    o.kind == w->kind && o.code == w->code && o.len == w->len &&
                    !memcmp(o.data, tf[i].data, o.len) && o.data[o.len] == '\0' && !o.headers == !w->headers &&
                    (!o.headers || !strcmp(o.headers, tf[i].headers));
        CU_ASSERT(same);
        if (!same) {
            fprintf(stderr, "frame %zu: t %lld seq %llu, want t %lld seq %llu\n", i, (long long)o.t_us,
                    (unsigned long long)o.seq, (long long)w->t_us, (unsigned long long)w->seq);
            break;
        }
        i++;
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(i, n);
    CU_ASSERT_EQUAL(pwsr__frame_sort_runs(s) > 1, want_runs);
    pwsr__frame_sort_close(s);
    free(tf);
}

static void test_sort_in_memory_and_spilled(void)
{
    sort_and_compare(3000, 0, false);        /* the default budget: all in memory */
    sort_and_compare(3000, 4096, true);      /* about 200 runs */
    sort_and_compare(3000, 1, true);         /* one frame per run */
    sort_and_compare(0, 1, false);           /* nothing at all */
    /* the temporary file was unlinked at once: nothing is left in the directory */
    DIR *d = opendir(scratch_dir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)))
        files += strncmp(de->d_name, "polyws-sort-", 12) == 0;
    closedir(d);
    CU_ASSERT_EQUAL(files, 0);
}

static void test_sort_frame_bigger_than_budget(void)
{
    pwsr__frame_sort *s;
    CU_ASSERT_EQUAL_FATAL(pwsr__frame_sort_open(4096, scratch_dir(), &s), PWS_OK);
    size_t big = 300000;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 13);
    pwsr__sort_frame a = {.t_us = 5, .seq = 1, .data = "small", .len = 5};
    pwsr__sort_frame b = {.t_us = 2, .seq = 2, .data = data, .len = big, .headers = "[]"};
    pwsr__sort_frame c = {.t_us = 5, .seq = 0, .data = "", .len = 0};
    CU_ASSERT_EQUAL(pwsr__frame_sort_add(s, &a), PWS_OK);
    CU_ASSERT_EQUAL(pwsr__frame_sort_add(s, &b), PWS_OK);
    CU_ASSERT_EQUAL(pwsr__frame_sort_add(s, &c), PWS_OK);
    pwsr__sort_frame o;
    CU_ASSERT_EQUAL_FATAL(pwsr__frame_sort_next(s, &o), 1);
    CU_ASSERT(o.seq == 2 && o.len == big && !memcmp(o.data, data, big) && !strcmp(o.headers, "[]"));
    CU_ASSERT_EQUAL_FATAL(pwsr__frame_sort_next(s, &o), 1);
    CU_ASSERT(o.seq == 0 && o.len == 0 && o.headers == NULL);
    CU_ASSERT_EQUAL_FATAL(pwsr__frame_sort_next(s, &o), 1);
    CU_ASSERT(o.seq == 1 && o.len == 5 && !strcmp(o.data, "small"));
    CU_ASSERT_EQUAL(pwsr__frame_sort_next(s, &o), 0);
    CU_ASSERT(pwsr__frame_sort_runs(s) >= 2);
    pwsr__frame_sort_close(s);
    free(data);
}

/* ---- from-har */

/* Three connections whose frames interleave, entries with their members in different orders,
 * duplicate members (the first counts), headers given as an object, a request after the
 * messages, elements that are not messages, and an auth key that appears after a line that
 * quotes it. */
static const char *const interleaved_har =
    "{\"log\":{\"version\":\"1.2\",\"log\":7,\"entries\":["
    "{\"startedDateTime\":\"2023-11-14T22:13:20.000Z\","
    " \"request\":{\"url\":\"wss://socket.polygon.io/stocks?apiKey=K3Y-ABCD\",\"url\":\"ws://ignored/\","
    "  \"headers\":[{\"name\":\"Authorization\",\"value\":\"Bearer K3Y-ABCD\"},{\"name\":\"Host\",\"value\":\"h\"},"
    "   {\"value\":\"no name\"},7]},"
    " \"_webSocketMessages\":["
    "  {\"type\":\"receive\",\"time\":1700000000.010,\"opcode\":1,\"data\":\"hello K3Y-ABCD\"},"
    "  {\"type\":\"receive\",\"time\":1700000000.030,\"opcode\":1,\"data\":\"first\",\"data\":\"second\"},"
    "  {\"type\":\"send\",\"time\":1700000000.050,\"opcode\":1.9,\"data\":\"{\\\"action\\\":\\\"auth\\\",\\\"params\\\":\\\"K3Y-ABCD\\\"}\"},"
    "  null, [1,2], \"str\", {\"type\":\"send\",\"time\":\"1\",\"opcode\":1},"
    "  {\"type\":\"receive\",\"time\":1700000000.050,\"opcode\":8,\"data\":\"A+hieWU=\"}]},"
    "{\"_webSocketMessages\":["
    "  {\"time\":1700000000.020,\"type\":\"receive\",\"data\":\"AAEC\",\"opcode\":2},"
    "  {\"time\":1700000000.005,\"type\":\"receive\",\"opcode\":9,\"data\":\"cGluZw==\"},"
    "  {\"time\":1700000000.040,\"type\":5,\"opcode\":1,\"data\":\"no type\"}],"
    " \"_webSocketMessages\":[{\"time\":1,\"type\":\"send\",\"opcode\":1,\"data\":\"second array\"}],"
    " \"request\":{\"headers\":{\"a\":{\"name\":\"Cookie\",\"value\":\"sid=1\"},\"b\":{\"name\":\"X\",\"value\":\"y\"}},"
    "  \"url\":\"wss://socket.polygon.io/crypto\"},"
    " \"startedDateTime\":\"2023-11-14T22:13:20.015+00:00\"},"
    "{\"request\":{\"url\":\"https://example.test/\"}},"
    "{\"_webSocketMessages\":\"not an array\",\"request\":{\"url\":\"ws://x/\"}},"
    "{\"startedDateTime\":\"\",\"_webSocketMessages\":["
    "  {\"type\":\"send\",\"time\":1700000000.030,\"opcode\":1,\"data\":\"tie: after conn 1's frame at .030\"}]}"
    "]}} trailing bytes are not read";

static void convert(const char *har, size_t len, size_t budget, char *tape_out, size_t cap, int *rc, char *err,
                    size_t errcap)
{
    char hp[300];
    path_of(hp, sizeof hp, "in.har");
    path_of(tape_out, cap, budget ? "small.tape" : "default.tape");
    write_file(hp, har, len);
    unlink(tape_out);
    *rc = pwsr__tape_from_har(hp, tape_out, budget, NULL, err, errcap);
}

static void test_from_har_interleaved(void)
{
    char t1[300], t2[300], err[512];
    int rc1, rc2;
    convert(interleaved_har, strlen(interleaved_har), 0, t1, sizeof t1, &rc1, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc1, PWS_OK);
    convert(interleaved_har, strlen(interleaved_har), 1, t2, sizeof t2, &rc2, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc2, PWS_OK);
    size_t n1, n2;
    char *a = slurp(t1, &n1), *b = slurp(t2, &n2);
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT(n1 == n2 && !memcmp(a, b, n1));
    CU_ASSERT_PTR_NULL(strstr(a, "K3Y-ABCD"));
    CU_ASSERT_PTR_NULL(strstr(a, "sid=1"));
    CU_ASSERT_PTR_NULL(strstr(a, "second"));
    CU_ASSERT_PTR_NULL(strstr(a, "no type"));
    free(b);
    /* the lines, in time order across connections, ties in file order */
    static const char *const want[] = {
        "\"url\":\"wss://socket.polygon.io/stocks?apiKey=***\"",
        "{\"t_us\":0,\"conn\":1,\"dir\":\"-\",\"kind\":\"open\",\"data\":\"/stocks?apiKey=***\","
        "\"headers\":[[\"Authorization\",\"***\"],[\"Host\",\"h\"]]}",
        "{\"t_us\":5000,\"conn\":2,\"dir\":\"s\",\"kind\":\"ping\",\"data_b64\":\"cGluZw==\"}",
        "{\"t_us\":10000,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"hello ***\"}",
        "{\"t_us\":15000,\"conn\":2,\"dir\":\"-\",\"kind\":\"open\",\"data\":\"/crypto\","
        "\"headers\":[[\"Cookie\",\"***\"],[\"X\",\"y\"]]}",
        "{\"t_us\":20000,\"conn\":2,\"dir\":\"s\",\"kind\":\"binary\",\"data_b64\":\"AAEC\"}",
        "{\"t_us\":30000,\"conn\":1,\"dir\":\"s\",\"kind\":\"text\",\"data\":\"first\"}",
        "{\"t_us\":30000,\"conn\":3,\"dir\":\"-\",\"kind\":\"open\",\"data\":\"/\",\"headers\":[]}",
        "{\"t_us\":30000,\"conn\":3,\"dir\":\"c\",\"kind\":\"text\",\"data\":\"tie: after conn 1's frame at .030\"}",
        "{\"t_us\":50000,\"conn\":1,\"dir\":\"c\",\"kind\":\"text\",\"data\":\"{\\\"action\\\":\\\"auth\\\","
        "\\\"params\\\":\\\"***\\\"}\"}",
        "{\"t_us\":50000,\"conn\":1,\"dir\":\"s\",\"kind\":\"close\",\"code\":1000,\"reason\":\"bye\"}",
    };
    char *line = a;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *nl = strchr(line, '\n');
        CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
        *nl = '\0';
        bool ok = i == 0 ? strstr(line, want[0]) != NULL : !strcmp(line, want[i]);
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "line %zu:\n  %s\nwant\n  %s\n", i + 1, line, want[i]);
        line = nl + 1;
    }
    CU_ASSERT_STRING_EQUAL(line, "");
    free(a);
}

static void expect_har_error(const char *har, int want_rc, const char *want_msg)
{
    char tp[300], err[512];
    int rc;
    convert(har, strlen(har), 1, tp, sizeof tp, &rc, err, sizeof err);
    CU_ASSERT_EQUAL(rc, want_rc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want_msg));
    if (rc != want_rc || !strstr(err, want_msg))
        fprintf(stderr, "%.60s: rc %d \"%s\", want %d \"%s\"\n", har, rc, err, want_rc, want_msg);
    CU_ASSERT_EQUAL(access(tp, F_OK), -1); /* no tape */
}

static void test_from_har_errors(void)
{
    expect_har_error("[]", PWS_ERR_INVALID, "not a HAR file (no log.entries)");
    expect_har_error("{\"log\":{\"entries\":{}}}", PWS_ERR_INVALID, "not a HAR file (no log.entries)");
    expect_har_error("{\"log\":{\"entries\":7,\"entries\":[]}}", PWS_ERR_INVALID, "no log.entries");
    expect_har_error("{\"log\":{\"entries\":[{\"request\":{}}]}}", PWS_ERR_INVALID, "no WebSocket entry");
    /* the entry's failures in order: startedDateTime (even when it comes after the messages),
     * then the messages' times */
    expect_har_error("{\"log\":{\"entries\":[{\"_webSocketMessages\":[{\"type\":\"send\",\"time\":1e300,\"opcode\":1}],"
                     "\"startedDateTime\":\"yesterday\"}]}}",
                     PWS_ERR_INVALID, "log.entries[0].startedDateTime \"yesterday\" is not a date and time");
    expect_har_error("{\"log\":{\"entries\":[{},{\"_webSocketMessages\":[1,{\"type\":\"send\",\"time\":1,\"opcode\":1},"
                     "{\"type\":\"send\",\"time\":-1e300,\"opcode\":1},{\"type\":\"send\",\"time\":1e300,\"opcode\":1}]}]}}",
                     PWS_ERR_INVALID, "log.entries[1]._webSocketMessages[2].time -1e+300 is not a time");
    /* a JSON error anywhere wins over an entry's failure before it */
    expect_har_error("{\"log\":{\"entries\":[{\"_webSocketMessages\":[],\"startedDateTime\":\"bad\"},{]}}",
                     PWS_ERR_INVALID, "invalid JSON at byte 71 (line 1, column 71), not a HAR");
    expect_har_error("{\"log\":{\"entries\":[{\"_webSocketMessages\":[{\"type\":\"send\",\"time\":1,\"opcode\":1,"
                     "\"data\":\"cut here",
                     PWS_ERR_INVALID, "truncated: the JSON ends inside a value at byte 93 (line 1, column 93)");
    expect_har_error("", PWS_ERR_INVALID, "empty file, not a HAR");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("har", suite_init, suite_clean);
    CU_add_test(s, "reader: tokens across read-buffer refills", test_tokens_across_buffers);
    CU_add_test(s, "reader: accepts and decodes what cJSON does", test_same_as_cjson);
    CU_add_test(s, "reader: errors name byte, line and column", test_error_positions);
    CU_add_test(s, "reader: BOM, whitespace, trailing bytes, skip, pipes, size limit", test_document_edges);
    CU_add_test(s, "sort: in memory and through runs, as qsort", test_sort_in_memory_and_spilled);
    CU_add_test(s, "sort: a frame bigger than the budget", test_sort_frame_bigger_than_budget);
    CU_add_test(s, "from-har: interleaved connections, first members count, same tape spilled",
                test_from_har_interleaved);
    CU_add_test(s, "from-har: errors and their precedence", test_from_har_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
