/*
 * test_backoff.c - reconnect delays (libpolyws, backoff.c), driven by a
 * fake millisecond clock.
 */
#include "backoff.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <string.h>

/* Resolved options with jitter disabled, for exact sequences. */
static pws_backoff_options exact_options(void)
{
    pws_backoff_options o;
    memset(&o, 0, sizeof(o));
    o.jitter = -1;
    CU_ASSERT_EQUAL(pws__backoff_resolve(&o), PWS_OK);
    return o;
}

static void test_resolve_defaults(void)
{
    pws_backoff_options o;
    memset(&o, 0, sizeof(o));
    CU_ASSERT_EQUAL(pws__backoff_resolve(&o), PWS_OK);
    CU_ASSERT_EQUAL(o.base_ms, 500);
    CU_ASSERT_DOUBLE_EQUAL(o.factor, 2.0, 0.0);
    CU_ASSERT_EQUAL(o.cap_ms, 30000);
    CU_ASSERT_DOUBLE_EQUAL(o.jitter, 0.2, 0.0);
    CU_ASSERT_EQUAL(o.max_attempts, 0);
    CU_ASSERT_EQUAL(o.healthy_ms, 10000);
    CU_ASSERT_EQUAL(o.max_connections_delay_ms, 60000);
    /* Resolving twice changes nothing, also with jitter disabled. */
    pws_backoff_options again = o;
    CU_ASSERT_EQUAL(pws__backoff_resolve(&again), PWS_OK);
    CU_ASSERT_EQUAL(memcmp(&again, &o, sizeof(o)), 0);
    pws_backoff_options none = exact_options();
    CU_ASSERT(none.jitter < 0);
    again = none;
    CU_ASSERT_EQUAL(pws__backoff_resolve(&again), PWS_OK);
    CU_ASSERT(again.jitter < 0);
    /* Set fields are kept. */
    memset(&o, 0, sizeof(o));
    o.base_ms = 100;
    o.factor = 1.5;
    o.cap_ms = 100;
    o.jitter = 1.0;
    o.max_attempts = 7;
    o.healthy_ms = 1;
    o.max_connections_delay_ms = 5;
    CU_ASSERT_EQUAL(pws__backoff_resolve(&o), PWS_OK);
    CU_ASSERT_EQUAL(o.base_ms, 100);
    CU_ASSERT_DOUBLE_EQUAL(o.factor, 1.5, 0.0);
    CU_ASSERT_EQUAL(o.cap_ms, 100);
    CU_ASSERT_DOUBLE_EQUAL(o.jitter, 1.0, 0.0);
    CU_ASSERT_EQUAL(o.max_attempts, 7);
    CU_ASSERT_EQUAL(o.healthy_ms, 1);
    CU_ASSERT_EQUAL(o.max_connections_delay_ms, 5);
}

static void expect_invalid(pws_backoff_options o)
{
    pws_backoff_options before = o;
    CU_ASSERT_EQUAL(pws__backoff_resolve(&o), PWS_ERR_INVALID);
    /* left as is */
    CU_ASSERT_EQUAL(memcmp(&before, &o, sizeof(o)), 0);
}

static void test_resolve_validation(void)
{
    pws_backoff_options o;

    CU_ASSERT_EQUAL(pws__backoff_resolve(NULL), PWS_ERR_INVALID);
    memset(&o, 0, sizeof(o));
    o.factor = 0.5;
    expect_invalid(o);
    o.factor = -2;
    expect_invalid(o);
    o.factor = NAN;
    expect_invalid(o);
    o.factor = INFINITY;
    expect_invalid(o);
    memset(&o, 0, sizeof(o));
    o.jitter = 1.01;
    expect_invalid(o);
    o.jitter = NAN;
    expect_invalid(o);
    memset(&o, 0, sizeof(o));
    o.base_ms = 40000; /* above the default cap */
    expect_invalid(o);
    memset(&o, 0, sizeof(o));
    o.cap_ms = 100; /* below the default base */
    expect_invalid(o);
    memset(&o, 0, sizeof(o));
    o.factor = 1.0; /* constant delays are fine */
    CU_ASSERT_EQUAL(pws__backoff_resolve(&o), PWS_OK);
}

static void test_exact_sequence(void)
{
    pws_backoff_options o = exact_options();
    pws__backoff b;
    const int64_t expect[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};

    pws__backoff_init(&b, &o, 1);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, (int64_t)i * 100000, false), expect[i]);
        CU_ASSERT_EQUAL(b.attempt, i + 1);
    }
    /* Thousands of attempts stay at the cap (pow overflows to inf, capped). */
    for (int i = 0; i < 5000; i++)
        CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 30000);

    /* Another factor and base. */
    pws_backoff_options o2;
    memset(&o2, 0, sizeof(o2));
    o2.base_ms = 100;
    o2.factor = 1.5;
    o2.cap_ms = 1000;
    o2.jitter = -1;
    CU_ASSERT_EQUAL_FATAL(pws__backoff_resolve(&o2), PWS_OK);
    pws__backoff_init(&b, &o2, 0);
    const int64_t expect2[] = {100, 150, 225, 338, 506, 759, 1000, 1000};
    for (size_t i = 0; i < sizeof(expect2) / sizeof(expect2[0]); i++)
        CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), expect2[i]);
}

static void test_jitter_bounds(void)
{
    pws_backoff_options o;
    pws__backoff b;
    int64_t lo = INT64_MAX, hi = 0;
    double sum = 0;
    const int draws = 20000;
    int below = 0, above = 0;

    memset(&o, 0, sizeof(o));
    CU_ASSERT_EQUAL_FATAL(pws__backoff_resolve(&o), PWS_OK);
    pws__backoff_init(&b, &o, 12345);
    /* First retry over and over: the healthy reset brings attempt back to 1. */
    for (int i = 0; i < draws; i++) {
        int64_t now = (int64_t)i * 100000;
        pws__backoff_mark_healthy(&b, now);
        int64_t d = pws__backoff_next_delay_ms(&b, now + 10000, false);
        CU_ASSERT(d >= 400 && d <= 600);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += (double)d;
        below += d < 450;
        above += d > 550;
    }
    /* Uniform over +-20 %: the extremes are reached and the mean is central. */
    CU_ASSERT(lo <= 402);
    CU_ASSERT(hi >= 598);
    CU_ASSERT(fabs(sum / draws - 500.0) < 3.0);
    CU_ASSERT(below > draws / 5 && above > draws / 5); /* ~25 % each */

    /* At the cap: within [0.8, 1.2] * cap. */
    for (int i = 0; i < 2000; i++) {
        int64_t d = pws__backoff_next_delay_ms(&b, 0, false);
        if (b.attempt >= 8)
            CU_ASSERT(d >= 24000 && d <= 36000);
    }

    /* Same seed, same delays; different seeds differ. */
    pws__backoff x, y, z;
    pws__backoff_init(&x, &o, 99);
    pws__backoff_init(&y, &o, 99);
    pws__backoff_init(&z, &o, 100);
    int same = 0, differ = 0;
    for (int i = 0; i < 20; i++) {
        int64_t dx = pws__backoff_next_delay_ms(&x, 0, false);
        same += dx == pws__backoff_next_delay_ms(&y, 0, false);
        differ += dx != pws__backoff_next_delay_ms(&z, 0, false);
    }
    CU_ASSERT_EQUAL(same, 20);
    CU_ASSERT(differ > 0);

    /* Seed 0 picks a working seed (xorshift must never have state 0). */
    pws__backoff_init(&x, &o, 0);
    CU_ASSERT_NOT_EQUAL(x.rng, 0);
}

static void test_default_jitter_still_grows(void)
{
    /* The documented property: with factor 2 and jitter 0.2 every delay
     * before the cap is longer than the one before, whatever the draws. */
    pws_backoff_options o;
    memset(&o, 0, sizeof(o));
    CU_ASSERT_EQUAL_FATAL(pws__backoff_resolve(&o), PWS_OK);
    int violations = 0;
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        pws__backoff b;
        pws__backoff_init(&b, &o, seed);
        int64_t prev = pws__backoff_next_delay_ms(&b, 0, false);
        for (int i = 2; i <= 7; i++) { /* 500 * 2^6 = 32000 > cap: 7th is capped */
            int64_t d = pws__backoff_next_delay_ms(&b, 0, false);
            if (i < 7 && d <= prev)
                violations++;
            prev = d;
        }
    }
    CU_ASSERT_EQUAL(violations, 0);
}

static void test_max_attempts(void)
{
    pws_backoff_options o = exact_options();
    pws__backoff b;

    o.max_attempts = 3;
    pws__backoff_init(&b, &o, 1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 1000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 2000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), -1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), -1);

    /* A healthy connection in between resets the count. */
    pws__backoff_init(&b, &o, 1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 1000);
    pws__backoff_mark_healthy(&b, 1000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 11000, false), 500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 11000, false), 1000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 11000, false), 2000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 11000, false), -1);

    /* 0 means no limit. */
    o.max_attempts = 0;
    pws__backoff_init(&b, &o, 1);
    for (int i = 0; i < 1000; i++)
        CU_ASSERT(pws__backoff_next_delay_ms(&b, 0, false) > 0);
}

static void test_healthy_reset(void)
{
    pws_backoff_options o = exact_options();
    pws__backoff b;
    int64_t now = 1000000;

    pws__backoff_init(&b, &o, 1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now, false), 500);

    /* A flapping server: accepts, authenticates, drops at once, forever.
     * The delays keep growing to the cap instead of restarting at 500. */
    const int64_t expect[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        now += 5000;
        pws__backoff_mark_healthy(&b, now);
        now += 50; /* healthy for 50 ms only */
        CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now, false), expect[i]);
    }

    /* Healthy for one ms less than healthy_ms: still no reset. */
    pws__backoff_mark_healthy(&b, now);
    now += 9999;
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now, false), 30000);

    /* Healthy for exactly healthy_ms: reset, then counting starts over. */
    pws__backoff_mark_healthy(&b, now);
    now += 10000;
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now, false), 500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now, false), 1000);

    /* The health mark belongs to one connection: a failed attempt long
     * after an old mark does not reset. */
    pws__backoff_mark_healthy(&b, now);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now + 1, false), 2000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now + 1000000, false), 4000);

    /* Marking twice keeps the first mark. */
    pws__backoff_mark_healthy(&b, now);
    pws__backoff_mark_healthy(&b, now + 9000);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, now + 10000, false), 500);
}

static void test_max_connections(void)
{
    pws_backoff_options o = exact_options();
    pws__backoff b;

    pws__backoff_init(&b, &o, 1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, true), 60000);
    /* The attempt still counts. */
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, false), 1000);
    CU_ASSERT_EQUAL(b.attempt, 2);

    /* With jitter the minimum still holds. */
    pws_backoff_options oj;
    memset(&oj, 0, sizeof(oj));
    CU_ASSERT_EQUAL_FATAL(pws__backoff_resolve(&oj), PWS_OK);
    pws__backoff_init(&b, &oj, 7);
    for (int i = 0; i < 100; i++)
        CU_ASSERT(pws__backoff_next_delay_ms(&b, 0, true) >= 60000);

    /* A longer regular delay is not shortened. */
    o.max_connections_delay_ms = 1500;
    pws__backoff_init(&b, &o, 1);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, true), 1500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, true), 1500);
    CU_ASSERT_EQUAL(pws__backoff_next_delay_ms(&b, 0, true), 2000);
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("backoff", NULL, NULL);
    if (suite == NULL ||
        !CU_add_test(suite, "resolve defaults", test_resolve_defaults) ||
        !CU_add_test(suite, "resolve validation", test_resolve_validation) ||
        !CU_add_test(suite, "exact sequence without jitter", test_exact_sequence) ||
        !CU_add_test(suite, "jitter bounds", test_jitter_bounds) ||
        !CU_add_test(suite, "default jitter still grows", test_default_jitter_still_grows) ||
        !CU_add_test(suite, "max_attempts", test_max_attempts) ||
        !CU_add_test(suite, "reset only after healthy_ms", test_healthy_reset) ||
        !CU_add_test(suite, "max_connections minimum delay", test_max_connections)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
