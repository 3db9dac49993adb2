/*
 * test_ratelimit.c - the token bucket (libpolyws, ratelimit.c), driven by
 * a fake microsecond clock.
 */
#include "ratelimit.h"

#include <CUnit/Basic.h>
#include <math.h>

#define T0 1000000000000LL /* an arbitrary fake-clock origin, in us */

static void test_burst_then_rate(void)
{
    pws__bucket b;
    int64_t now = T0;

    /* The connector's defaults: 5 per second, burst 10. */
    pws__bucket_init(&b, 5.0, 10.0, now);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    CU_ASSERT_FALSE(pws__bucket_take(&b, now));
    CU_ASSERT_FALSE(pws__bucket_take(&b, now + 199999));
    CU_ASSERT_TRUE(pws__bucket_take(&b, now + 200000));
    CU_ASSERT_FALSE(pws__bucket_take(&b, now + 200000));

    /* Steady state: taking as soon as allowed gives exactly 5 per second. */
    int taken = 0;
    for (int64_t t = now + 201000; t <= now + 200000 + 10000000; t += 1000)
        taken += pws__bucket_take(&b, t);
    CU_ASSERT_EQUAL(taken, 50);

    /* A long idle time refills to the burst, not beyond. */
    now += 1000LL * 1000000;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    CU_ASSERT_FALSE(pws__bucket_take(&b, now));
}

static void test_wait_us(void)
{
    pws__bucket b;
    int64_t now = T0;

    pws__bucket_init(&b, 5.0, 2.0, now);
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now), 0);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now), 0);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    /* Empty: one token per 200 ms. */
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now), 200000);
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now + 50000), 150000);
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now + 199999), 1);
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now + 200000), 0);
    /* wait_us does not consume. */
    CU_ASSERT_TRUE(pws__bucket_take(&b, now + 200000));
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now + 200000), 200000);
}

static void test_wait_then_take_never_fails(void)
{
    /* For awkward rates (not exact in binary), sleeping exactly wait_us and
     * taking must succeed, and wait_us must not overshoot by more than 1 us. */
    const double rates[] = {3.0, 7.0, 0.3, 1.0 / 3.0, 13.7, 1000.0, 123456.0};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        pws__bucket b;
        int64_t now = T0;
        int failures = 0, overshoot = 0;
        double ideal = 1e6 / rates[r];

        pws__bucket_init(&b, rates[r], 1.0, now);
        CU_ASSERT_TRUE(pws__bucket_take(&b, now));
        for (int i = 0; i < 2000; i++) {
            int64_t w = pws__bucket_wait_us(&b, now);
            if (w > (int64_t)ceil(ideal) + 1)
                overshoot++;
            now += w;
            if (!pws__bucket_take(&b, now))
                failures++;
        }
        CU_ASSERT_EQUAL(failures, 0);
        CU_ASSERT_EQUAL(overshoot, 0);
        /* Over 2000 tokens the long-run rate is right to within 1 us each. */
        double elapsed = (double)(now - T0);
        CU_ASSERT(fabs(elapsed - 2000 * ideal) <= 2000.0);
    }
}

static void test_clock_backwards_and_clamps(void)
{
    pws__bucket b;
    int64_t now = T0;

    pws__bucket_init(&b, 10.0, 1.0, now);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    /* A clock going backwards neither refills nor breaks later refills. */
    CU_ASSERT_FALSE(pws__bucket_take(&b, now - 5000000));
    CU_ASSERT_EQUAL(pws__bucket_wait_us(&b, now - 5000000), 100000);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now + 100000));

    /* Out-of-contract arguments are clamped, never infinite waits. */
    pws__bucket_init(&b, 0.0, 0.0, now);
    CU_ASSERT(b.rate > 0);
    CU_ASSERT(b.burst >= 1.0);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now));
    int64_t w = pws__bucket_wait_us(&b, now);
    CU_ASSERT(w > 0 && w <= 1000000000LL);
    pws__bucket_init(&b, NAN, NAN, now);
    CU_ASSERT(b.rate > 0);
    CU_ASSERT(b.burst >= 1.0);

    /* A fractional burst below 1 would never allow a take: it is raised. */
    pws__bucket_init(&b, 1.0, 0.5, now);
    CU_ASSERT_TRUE(pws__bucket_take(&b, now));
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("ratelimit", NULL, NULL);
    if (suite == NULL ||
        !CU_add_test(suite, "burst then rate", test_burst_then_rate) ||
        !CU_add_test(suite, "wait_us with a fake clock", test_wait_us) ||
        !CU_add_test(suite, "wait then take never fails", test_wait_then_take_never_fails) ||
        !CU_add_test(suite, "clock backwards and clamps", test_clock_backwards_and_clamps)) {
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
