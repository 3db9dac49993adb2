/*
 * test_secrets.c - the one redactor (wire/src/secrets.c): a key in every
 * encoding it takes on the way (raw, pieces of 8 bytes or more, JSON-escaped
 * in any mix, percent-encoded, base64 and base64url at every alignment,
 * nested), in place and into buffers, and text without a key left alone.
 *
 * The leak check (tests/support/leakcheck.c) is a second, independent
 * implementation: it decodes the output every way (JSON escapes, percent,
 * base64 at each of the four character offsets) and looks for any 8-byte run
 * of the key by brute force, rather than spelling the key as secrets.c does.
 */
#include "leakcheck.h"
#include "wire/codec.h"
#include "wire/secrets.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEY[] = "Zq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u"; /* 32 bytes, like a Polygon key */

static char *scrub(const pws__secrets *s, const char *text, size_t *found)
{
    pws__buf out = {0};
    CU_ASSERT_EQUAL_FATAL(pws__secrets_scrub_buf(s, text, strlen(text), &out, found), 0);
    if (!out.p)
        return strdup("");
    return out.p;
}

/* Scrubs text, checks no leak is left and that it was changed; returns the result (free it). */
static char *scrub_clean(const pws__secrets *s, const char *text)
{
    CU_ASSERT_TRUE(pws_test_leaks(text, strlen(text), KEY)); /* the case really holds the key */
    size_t found = 0;
    char *out = scrub(s, text, &found);
    CU_ASSERT_TRUE(found > 0);
    if (pws_test_leaks(out, strlen(out), KEY))
        fprintf(stderr, "\n  leak: [%s] -> [%s]\n", text, out);
    CU_ASSERT_FALSE(pws_test_leaks(out, strlen(out), KEY));
    /* the in-place form agrees */
    char *copy = strdup(text);
    size_t n = pws__secrets_scrub_str(s, copy);
    CU_ASSERT_EQUAL(n, strlen(out));
    CU_ASSERT_STRING_EQUAL(copy, out);
    free(copy);
    return out;
}

static void test_raw_and_pieces(void)
{
    pws__secrets s = {0};
    CU_ASSERT_EQUAL(pws__secrets_add(&s, KEY), 1);
    CU_ASSERT_EQUAL(pws__secrets_add(&s, KEY), 0); /* already there */
    CU_ASSERT_EQUAL(pws__secrets_add(&s, "abc"), 0); /* too short to look for */
    char *o = scrub_clean(&s, "{\"action\":\"auth\",\"params\":\"Zq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u\"}");
    CU_ASSERT_STRING_EQUAL(o, "{\"action\":\"auth\",\"params\":\"***\"}");
    free(o);
    o = scrub_clean(&s, "key Zq7PmW2xLk9TnR4v"); /* a long prefix, cut */
    CU_ASSERT_STRING_EQUAL(o, "key ***");
    free(o);
    o = scrub_clean(&s, "3sGd6FaE1u is the tail"); /* a suffix */
    CU_ASSERT_STRING_EQUAL(o, "*** is the tail");
    free(o);
    o = scrub_clean(&s, "mid Lk9TnR4v mid"); /* exactly 8 bytes from inside */
    CU_ASSERT_STRING_EQUAL(o, "mid *** mid");
    free(o);
    o = scrub_clean(&s, "Zq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1uZq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u"); /* twice, adjacent: one mark */
    CU_ASSERT_STRING_EQUAL(o, "***");
    free(o);
    /* 7 bytes of the key and ordinary text are left alone */
    size_t found = 9;
    o = scrub(&s, "Zq7PmW2 {\"ev\":\"T\",\"sym\":\"AAPL\",\"p\":189.5,\"q\":42}", &found);
    CU_ASSERT_EQUAL(found, 0);
    CU_ASSERT_STRING_EQUAL(o, "Zq7PmW2 {\"ev\":\"T\",\"sym\":\"AAPL\",\"p\":189.5,\"q\":42}");
    free(o);
    pws__secrets_free(&s);
}

static void test_json_escaped(void)
{
    pws__secrets s = {0};
    pws__secrets_add(&s, KEY);
    char *o = scrub_clean(&s, "{\"params\":\"\\u005aq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u\"}");
    CU_ASSERT_STRING_EQUAL(o, "{\"params\":\"***\"}");
    free(o);
    /* every byte escaped */
    char esc[400] = "x=";
    for (const char *k = KEY; *k; k++)
        snprintf(esc + strlen(esc), sizeof esc - strlen(esc), "\\u%04X", (unsigned char)*k);
    o = scrub_clean(&s, esc);
    CU_ASSERT_STRING_EQUAL(o, "x=***");
    free(o);
    /* mixed, lower-case hex, and escaped twice (JSON text inside a JSON string) */
    o = scrub_clean(&s, "\"Zq\\u0037PmW2x\\\\u004ck9TnR4vBc8YhJ3sGd6FaE1u\"");
    CU_ASSERT_STRING_EQUAL(o, "\"***\"");
    free(o);
    pws__secrets_free(&s);
}

static void test_percent(void)
{
    pws__secrets s = {0};
    pws__secrets_add(&s, KEY);
    char *o = scrub_clean(&s, "GET /stocks?apiKey=%5Aq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u&x=1");
    CU_ASSERT_STRING_EQUAL(o, "GET /stocks?apiKey=***&x=1");
    free(o);
    char enc[400] = "";
    for (const char *k = KEY; *k; k++)
        snprintf(enc + strlen(enc), sizeof enc - strlen(enc), (k - KEY) % 2 ? "%%%02x" : "%%%02X",
                 (unsigned char)*k);
    o = scrub_clean(&s, enc);
    CU_ASSERT_STRING_EQUAL(o, "***");
    free(o);
    o = scrub_clean(&s, "k=%255Aq7%2550mW2xLk9TnR4vBc8YhJ3sGd6FaE1u"); /* encoded twice */
    CU_ASSERT_STRING_EQUAL(o, "k=***");
    free(o);
    /* an escape whose '%' and digits come from two levels: "%%3HL" is "%HL" once decoded, the
     * character twice (a fuzzer's find: "z%7AK%65y%312%3%33" holds "zzKey123" two levels down) */
    char nest[600] = "k=", nest3[900] = "k=";
    for (const char *k = KEY; *k; k++) {
        unsigned char c = (unsigned char)*k;
        snprintf(nest + strlen(nest), sizeof nest - strlen(nest), "%%%%3%X%X", c >> 4, c & 15);
        /* three levels: JSON-escaped '%' signs in front of that */
        snprintf(nest3 + strlen(nest3), sizeof nest3 - strlen(nest3), "\\u0025\\u00253%X%X", c >> 4, c & 15);
    }
    o = scrub_clean(&s, nest);
    CU_ASSERT_STRING_EQUAL(o, "k=***");
    free(o);
    o = scrub_clean(&s, nest3);
    CU_ASSERT_STRING_EQUAL(o, "k=***");
    free(o);
    /* escapes read two ways (a review's finds): "%25Bc" is "%Bc" to one percent-decoding, and
     * "\\n" a backslash and an 'n' to a URL decoder; each hides 8 bytes of the key one level down */
    static const char *const ambiguous[] = {
        "%25Bc%38%59%68%4A%33%73",
        "C:\\n%52%34%76%42%63%38%59",
        "\\\\%25Bc%38%59%68%4A%33%73",
    };
    for (size_t i = 0; i < sizeof ambiguous / sizeof *ambiguous; i++) {
        o = scrub_clean(&s, ambiguous[i]);
        free(o);
    }
    /* a '%' that is not an escape stays */
    size_t found;
    o = scrub(&s, "100% done, %zz", &found);
    CU_ASSERT_STRING_EQUAL(o, "100% done, %zz");
    free(o);
    pws__secrets_free(&s);
}

static void test_base64(void)
{
    pws__secrets s = {0};
    pws__secrets_add(&s, KEY);
    /* the key inside a longer text, at each alignment, base64 and base64url encoded */
    for (size_t pre = 0; pre < 6; pre++) {
        char plain[128], enc[200], text[260];
        snprintf(plain, sizeof plain, "%.*s{\"k\":\"%s\"}\xfb\xff", (int)pre, "?.>>?>", KEY);
        size_t n = pws__base64_encode(plain, strlen(plain), enc);
        enc[n] = '\0';
        snprintf(text, sizeof text, "Authorization: Basic %s", enc);
        free(scrub_clean(&s, text));
        for (char *c = enc; *c; c++)
            *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        snprintf(text, sizeof text, "token=%s", enc);
        free(scrub_clean(&s, text));
        /* and base64 that went through JSON (\/) and percent (%2B %2F) encoding */
        n = pws__base64_encode(plain, strlen(plain), enc);
        enc[n] = '\0';
        char esc[400] = "", pct[400] = "";
        for (char *c = enc; *c; c++) {
            snprintf(esc + strlen(esc), sizeof esc - strlen(esc), *c == '/' ? "\\/" : "%c", *c);
            snprintf(pct + strlen(pct), sizeof pct - strlen(pct), *c == '/' ? "%%2F" : *c == '+' ? "%%2b" : "%c",
                     *c);
        }
        free(scrub_clean(&s, esc));
        free(scrub_clean(&s, pct));
    }
    pws__secrets_free(&s);
}

static void test_sets(void)
{
    pws__secrets s = {0};
    /* a short key is matched whole only */
    CU_ASSERT_EQUAL(pws__secrets_add(&s, "k3y9"), 1);
    size_t found;
    char *o = scrub(&s, "a k3y9 b k3y", &found);
    CU_ASSERT_STRING_EQUAL(o, "a *** b k3y");
    CU_ASSERT_EQUAL(found, 1);
    free(o);
    /* too long: refused, the set unchanged */
    char big[PWS__SECRET_MAX_LEN + 2];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(pws__secrets_add(&s, big), -1);
    CU_ASSERT_EQUAL(s.nkeys, 1);
    /* a full set drops its oldest */
    char key[32];
    for (unsigned i = 0; i < PWS__SECRETS_MAX; i++) {
        snprintf(key, sizeof key, "secret-number-%04u", i);
        CU_ASSERT_EQUAL(pws__secrets_add(&s, key), 1);
    }
    CU_ASSERT_EQUAL(s.nkeys, PWS__SECRETS_MAX);
    CU_ASSERT_FALSE(pws__secrets_has(&s, "k3y9"));
    CU_ASSERT_TRUE(pws__secrets_has(&s, "secret-number-0000"));
    o = scrub(&s, "x secret-number-0063 y", &found);
    CU_ASSERT_STRING_EQUAL(o, "x *** y");
    free(o);
    /* an empty set and a NULL set leave text alone, in place too */
    pws__secrets none = {0};
    char t[] = "Zq7PmW2xLk9TnR4v";
    CU_ASSERT_EQUAL(pws__secrets_scrub_inplace(&none, t, strlen(t)), strlen(t));
    CU_ASSERT_EQUAL(pws__secrets_scrub_inplace(NULL, t, strlen(t)), strlen(t));
    CU_ASSERT_STRING_EQUAL(t, "Zq7PmW2xLk9TnR4v");
    /* list form */
    const char *list[] = {KEY, "another-secret-key", NULL};
    pws__secrets two = {0};
    CU_ASSERT_EQUAL(pws__secrets_add_list(&two, list, (size_t)-1), 0);
    o = scrub(&two, "another-secret-key / Zq7PmW2xLk9TnR4vBc8YhJ3sGd6FaE1u", &found);
    CU_ASSERT_STRING_EQUAL(o, "*** / ***");
    CU_ASSERT_EQUAL(found, 2);
    free(o);
    pws__secrets_free(&two);
    pws__secrets_free(&s);
    pws__secrets_free(&s); /* twice is fine */
}

/* Random texts with the key spliced in at random places and encodings: never a leak. */
static void test_random_property(void)
{
    pws__secrets s = {0};
    pws__secrets_add(&s, KEY);
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char text[2048] = "";
        size_t len = 0;
        int parts = 1 + (int)(rand_r(&seed) % 5);
        for (int p = 0; p < parts; p++) {
            /* filler */
            int fill = (int)(rand_r(&seed) % 20);
            for (int i = 0; i < fill; i++)
                text[len++] = " {}\":,abcXYZ0123%\\/+="[rand_r(&seed) % 22];
            /* a piece of the key of 8 bytes or more */
            size_t a = rand_r(&seed) % 25, b = a + 8 + rand_r(&seed) % (32 - a - 7);
            if (b > 32)
                b = 32;
            char piece[40];
            memcpy(piece, KEY + a, b - a);
            piece[b - a] = '\0';
            switch (rand_r(&seed) % 4) {
            case 0:
                len += (size_t)snprintf(text + len, sizeof text - len, "%s", piece);
                break;
            case 1:
                for (char *c = piece; *c; c++)
                    len += (size_t)snprintf(text + len, sizeof text - len, rand_r(&seed) % 2 ? "\\u%04x" : "%c",
                                            (unsigned char)*c);
                break;
            case 2:
                for (char *c = piece; *c; c++)
                    len += (size_t)snprintf(text + len, sizeof text - len, rand_r(&seed) % 2 ? "%%%02X" : "%c",
                                            (unsigned char)*c);
                break;
            default: {
                char plain[80], enc[120];
                int pre = (int)(rand_r(&seed) % 3);
                snprintf(plain, sizeof plain, "%.*s%s", pre, "\x01\x02", KEY);
                size_t n = pws__base64_encode(plain, strlen(plain), enc);
                enc[n] = '\0';
                len += (size_t)snprintf(text + len, sizeof text - len, "%s", enc);
            }
            }
        }
        text[len] = '\0';
        char *o = scrub(&s, text, NULL);
        if (pws_test_leaks(o, strlen(o), KEY)) {
            fprintf(stderr, "\n  leak: [%s] -> [%s]\n", text, o);
            CU_FAIL("a trace of the key was left");
            free(o);
            break;
        }
        free(o);
    }
    pws__secrets_free(&s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("secrets", NULL, NULL);
    CU_add_test(s, "raw keys, prefixes, suffixes and inner pieces; other text left alone", test_raw_and_pieces);
    CU_add_test(s, "JSON-escaped in any mix, and escaped twice", test_json_escaped);
    CU_add_test(s, "percent-encoded in any mix, and twice", test_percent);
    CU_add_test(s, "base64 and base64url at every alignment, through JSON and percent", test_base64);
    CU_add_test(s, "short keys, limits, a full set, lists", test_sets);
    CU_add_test(s, "random splices in random encodings: no trace left", test_random_property);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
