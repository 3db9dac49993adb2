/*
 * test_adapter.c - the Polygon adapter: auth, batched subscriptions under a
 * size limit, redaction of auth messages.
 */
#include <polyws/polyws.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void test_auth(void)
{
    const pws_adapter *ad = pws_polygon_adapter();
    char buf[128];
    size_t n = ad->build_auth(NULL, "KEY123", buf, sizeof buf);
    CU_ASSERT_EQUAL(n, strlen(buf));
    CU_ASSERT_STRING_EQUAL(buf, "{\"action\":\"auth\",\"params\":\"KEY123\"}");
    CU_ASSERT_EQUAL(ad->build_auth(NULL, "KEY123", buf, 10), (size_t)-1);
    CU_ASSERT_TRUE(ad->wait_for_greeting);
}

static void test_subscription_batches(void)
{
    const pws_adapter *ad = pws_polygon_adapter();
    const char *ch[300];
    char names[300][16];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "T.SYM%03d", i);
        ch[i] = names[i];
    }
    char buf[256];
    size_t at = 0, msgs = 0;
    while (at < 300) {
        size_t used = 0;
        size_t n = ad->build_subscription(NULL, true, ch + at, 300 - at, buf, sizeof buf, &used);
        CU_ASSERT_FATAL(n != (size_t)-1);
        CU_ASSERT(n < sizeof buf);
        CU_ASSERT(used >= 1);
        cJSON *j = cJSON_Parse(buf);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "action")->valuestring, "subscribe");
        const char *params = cJSON_GetObjectItem(j, "params")->valuestring;
        /* the params list is exactly the next `used` channels, in order */
        char expect[256] = "";
        for (size_t k = 0; k < used; k++) {
            if (k)
                strcat(expect, ",");
            strcat(expect, ch[at + k]);
        }
        CU_ASSERT_STRING_EQUAL(params, expect);
        cJSON_Delete(j);
        at += used;
        msgs++;
    }
    CU_ASSERT(msgs > 1 && msgs < 300); /* many channels per action, split by size */
    size_t used = 0;
    size_t n = ad->build_subscription(NULL, false, ch, 1, buf, sizeof buf, &used);
    CU_ASSERT_STRING_EQUAL(buf, "{\"action\":\"unsubscribe\",\"params\":\"T.SYM000\"}");
    CU_ASSERT_EQUAL(n, strlen(buf));
    /* a channel that cannot fit at all fails */
    CU_ASSERT_EQUAL(ad->build_subscription(NULL, true, ch, 1, buf, 20, &used), (size_t)-1);
}

static void test_redact(void)
{
    const pws_adapter *ad = pws_polygon_adapter();
    char out[128];
    const char *m = "{\"action\":\"auth\",\"params\":\"SECRETKEY\"}";
    ad->redact(NULL, m, strlen(m), out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "{\"action\":\"auth\",\"params\":\"***\"}");
    const char *s = "{\"action\":\"subscribe\",\"params\":\"A.AAPL\"}";
    ad->redact(NULL, s, strlen(s), out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("adapter", NULL, NULL);
    CU_add_test(s, "auth message", test_auth);
    CU_add_test(s, "subscriptions batched under the size limit", test_subscription_batches);
    CU_add_test(s, "auth redaction", test_redact);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
