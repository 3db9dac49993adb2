/*
 * test_config.c - options validation, key loading and redaction.
 * The key must never leak: not in errors, logs, last_error or events.
 */
#include <polyws/polyws.h>

#include "internal.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "sk_live_TOPSECRET_4242"

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_key_from_env(void)
{
    char key[PWS_MAX_KEY_LEN + 1], err[256];
    setenv("PWS_TEST_KEY", SECRET "\n", 1);
    CU_ASSERT_EQUAL(pws_load_key("PWS_TEST_KEY", NULL, key, sizeof key, err, sizeof err), PWS_OK);
    CU_ASSERT_STRING_EQUAL(key, SECRET);
    unsetenv("PWS_TEST_KEY");
    CU_ASSERT_EQUAL(pws_load_key("PWS_TEST_KEY", NULL, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "PWS_TEST_KEY"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not set"));
    setenv("PWS_TEST_KEY", "", 1);
    CU_ASSERT_EQUAL(pws_load_key("PWS_TEST_KEY", NULL, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty"));
    setenv("PWS_TEST_KEY", "has space " SECRET, 1);
    CU_ASSERT_EQUAL(pws_load_key("PWS_TEST_KEY", NULL, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NULL(strstr(err, SECRET)); /* the error names the variable, never the value */
    unsetenv("PWS_TEST_KEY");
}

static void test_key_from_file(void)
{
    char key[PWS_MAX_KEY_LEN + 1], err[256], path[300];
    snprintf(path, sizeof path, "%s/key", tmpdir);
    write_file(path, SECRET "\r\nsecond line ignored\n");
    CU_ASSERT_EQUAL(pws_load_key(NULL, path, key, sizeof key, err, sizeof err), PWS_OK);
    CU_ASSERT_STRING_EQUAL(key, SECRET);
    write_file(path, "\n");
    CU_ASSERT_EQUAL(pws_load_key(NULL, path, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    char longkey[400];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    write_file(path, longkey);
    CU_ASSERT_EQUAL(pws_load_key(NULL, path, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "256-byte limit"));
    CU_ASSERT_EQUAL(pws_load_key(NULL, "/nonexistent/dir/key", key, sizeof key, err, sizeof err),
                    PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dir/key"));
    CU_ASSERT_EQUAL(pws_load_key(NULL, NULL, key, sizeof key, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key"));
}

static void test_redact(void)
{
    char out[128];
    const char *t = "{\"action\":\"auth\",\"params\":\"" SECRET "\"} and " SECRET;
    size_t n = pws_redact(t, strlen(t), SECRET, out, sizeof out);
    CU_ASSERT_EQUAL(n, strlen(out));
    CU_ASSERT_STRING_EQUAL(out, "{\"action\":\"auth\",\"params\":\"***\"} and ***");
    /* too small a buffer: truncated but terminated, needed length returned */
    char small[8];
    n = pws_redact(t, strlen(t), SECRET, small, sizeof small);
    CU_ASSERT_EQUAL(n, strlen(out));
    CU_ASSERT_EQUAL(strlen(small), 7);
    /* secrets shorter than 4 bytes are not scrubbed (they would match everywhere) */
    n = pws_redact("abc", 3, "ab", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "abc");
}

/* The key echoed by a server, whole, as the piece a cut leaves, or encoded: pws_redact
 * (wire/secrets.h behind it) replaces every run of 8 bytes or more of it. */
static void test_redact_traces(void)
{
    char t[256], out[256];
    snprintf(t, sizeof t, "key %s is over its quota; again %s.", SECRET, SECRET);
    CU_ASSERT_EQUAL(pws_redact(t, strlen(t), SECRET, out, sizeof out), strlen(out));
    CU_ASSERT_STRING_EQUAL(out, "key *** is over its quota; again ***.");
    /* a suffix starting the text, a prefix ending it, an 8-byte piece inside */
    snprintf(t, sizeof t, "%s quota for key sk_live_TOPS; sk_live_ inside", &SECRET[5]);
    pws_redact(t, strlen(t), SECRET, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "*** quota for key ***; *** inside");
    /* 7 bytes of it are ordinary text */
    snprintf(t, sizeof t, "ends sk_live");
    pws_redact(t, strlen(t), SECRET, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "ends sk_live");
    /* JSON-escaped, percent-encoded, base64 ("sk_live_TOPSECRET_4242" after "x:") */
    snprintf(t, sizeof t, "a \\u0073k_live_TOPSECRET_4242 b sk%%5Flive%%5FTOPSECRET c eDpza19saXZlX1RPUFNFQ1JFVF80MjQy");
    pws_redact(t, strlen(t), SECRET, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "a *** b *** c eDp***");
    /* no key, a short key, a text shorter than 8 bytes */
    CU_ASSERT_EQUAL(pws_redact("abc", 3, NULL, out, sizeof out), 3);
    CU_ASSERT_EQUAL(pws_redact("abc", 3, SECRET, out, sizeof out), 3);
    CU_ASSERT_STRING_EQUAL(out, "abc");
}

static char captured[8192];

static void capture_log(pws_log_level level, const char *msg, void *user)
{
    (void)level;
    (void)user;
    strncat(captured, msg, sizeof captured - strlen(captured) - 2);
    strcat(captured, "\n");
}

static void test_logger_scrubs(void)
{
    captured[0] = '\0';
    pws__secrets set = {0};
    CU_ASSERT_EQUAL(pws__secrets_add(&set, SECRET), 1);
    pws__logger lg = {.fn = capture_log, .level = PWS_LOG_DEBUG, .secrets = &set};
    pws__log(&lg, PWS_LOG_INFO, "sending {\"params\":\"%s\"}", SECRET);
    pws__log(&lg, PWS_LOG_DEBUG, "level %d", 4);
    lg.level = PWS_LOG_WARN;
    pws__log(&lg, PWS_LOG_INFO, "filtered out");
    CU_ASSERT_PTR_NULL(strstr(captured, SECRET));
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, "{\"params\":\"***\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, "level 4"));
    CU_ASSERT_PTR_NULL(strstr(captured, "filtered out"));
    pws__secrets_free(&set);
}

static int create_err(const pws_options *o, char *err, size_t cap)
{
    pws_connector *c = (pws_connector *)1;
    int rc = pws_create(o, &c, err, cap);
    if (rc == PWS_OK)
        pws_destroy(c);
    else
        CU_ASSERT_PTR_NULL(c);
    return rc;
}

static void test_options_validation(void)
{
    char err[512];
    pws_options o = {0};
    o.api_key = SECRET;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_URL);
    const char *bad_urls[] = {"http://x/", "ws://", "ws://:80/", "ws://host:0/", "ws://host:99999/",
                              "ws://host:12ab/", "ws://[::1/", "wss//host"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
        o.url = bad_urls[i];
        CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_URL);
        CU_ASSERT_PTR_NULL(strstr(err, SECRET));
    }
    o.url = "wss://socket.polygon.io/stocks";
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_OK);
    o.url = "ws://[::1]:8080/stocks?x=1";
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_OK);
    o.ca_file = "/nonexistent/ca.pem";
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_TLS);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ca.pem"));
    o.ca_file = NULL;
    o.backoff.factor = 0.5;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "backoff"));
    o.backoff.factor = 0;
    o.api_key = "bad\"key";
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_KEY);
    o.api_key = NULL;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_KEY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key"));
    o.api_key = SECRET;
    o.max_action_bytes = 10;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_INVALID);
    o.max_action_bytes = 0;
    o.overflow = (pws_overflow)7;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_INVALID);
    o.overflow = PWS_OVERFLOW_BLOCK;
    o.limits.max_frame_bytes = (64u << 20) + 1; /* over what the frame reader keeps */
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_frame_bytes"));
    o.limits.max_frame_bytes = 64u << 20;
    CU_ASSERT_EQUAL(create_err(&o, err, sizeof err), PWS_OK);
}

static void test_channels_validation(void)
{
    pws_options o = {0};
    o.url = "ws://127.0.0.1:9/";
    o.api_key = SECRET;
    pws_connector *c;
    CU_ASSERT_EQUAL_FATAL(pws_create(&o, &c, NULL, 0), PWS_OK);
    CU_ASSERT_EQUAL(pws_subscribe(c, "A.AAPL,T.MSFT,A.AAPL"), PWS_OK);
    pws_stats st;
    pws_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.channels, 2); /* duplicates ignored */
    CU_ASSERT_EQUAL(pws_subscribe(c, "A.OK,bad channel"), PWS_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(pws_last_error(c), "bad channel"));
    pws_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.channels, 2); /* the whole call was rejected */
    CU_ASSERT_EQUAL(pws_subscribe(c, "A.X,,A.Y"), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws_unsubscribe(c, "T.MSFT,Q.NOTTHERE"), PWS_OK);
    pws_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.channels, 1);
    CU_ASSERT_PTR_NULL(strstr(pws_last_error(c), SECRET));
    pws_destroy(c);
}

static void test_strerror(void)
{
    for (int e = 0; e >= -15; e--) {
        CU_ASSERT_PTR_NOT_NULL(pws_strerror(e));
        CU_ASSERT_STRING_NOT_EQUAL(pws_strerror(e), "unknown error");
    }
    CU_ASSERT_STRING_EQUAL(pws_strerror(-999), "unknown error");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pws_config_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "key from env", test_key_from_env);
    CU_add_test(s, "key from file", test_key_from_file);
    CU_add_test(s, "redact", test_redact);
    CU_add_test(s, "a key echoed by a server is masked in every encoding", test_redact_traces);
    CU_add_test(s, "logger scrubs the key", test_logger_scrubs);
    CU_add_test(s, "options validation", test_options_validation);
    CU_add_test(s, "channel validation", test_channels_validation);
    CU_add_test(s, "strerror", test_strerror);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return failed ? 1 : 0;
}
