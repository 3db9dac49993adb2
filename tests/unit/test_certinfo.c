/*
 * test_certinfo.c - the words for a refused certificate (wire/src/certinfo.c):
 * certificates built here in memory (OpenSSL API, a fresh P-256 key) with the
 * names, dates and hostile strings each case needs; the description is
 * checked whole, and for printable ASCII and its bound.
 */
#include "wire/certinfo.h"

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static EVP_PKEY *key;

/* A certificate for subject "CN=cn" (or the entries of dn, "O=a,OU=b" style,
 * when cn is NULL), issued by "CN=issuer", with san as subjectAltName (NULL:
 * none), valid from not_before to not_after (seconds since the epoch). */
static X509 *make_cert(const char *cn, const char *dn, const char *san, time_t not_before, time_t not_after)
{
    X509 *x = X509_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *subj = X509_get_subject_name(x);
    if (cn) {
        CU_ASSERT_EQUAL(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0), 1);
    } else {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", dn);
        for (char *part = strtok(copy, ","); part; part = strtok(NULL, ",")) {
            char *eq = strchr(part, '=');
            *eq = '\0';
            CU_ASSERT_EQUAL(X509_NAME_add_entry_by_txt(subj, part, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0), 1);
        }
    }
    X509_NAME *iss = X509_get_issuer_name(x);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC, (const unsigned char *)"Test Issuer", -1, -1, 0);
    ASN1_TIME_set(X509_getm_notBefore(x), not_before);
    ASN1_TIME_set(X509_getm_notAfter(x), not_after);
    X509_set_pubkey(x, key);
    if (san) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, NULL, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    CU_ASSERT(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* Every byte printable ASCII, and the text within cap. */
static void check_printable(const char *s, size_t cap)
{
    CU_ASSERT(strlen(s) < cap);
    for (const char *p = s; *p; p++)
        CU_ASSERT((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static void test_name_mismatch_lists_the_names(void)
{
    X509 *x = make_cert("other.example", NULL, "DNS:other.example, IP:192.0.2.7, IP:2001:db8::1", 0, 2000000000);
    char out[PWS__CERT_DETAIL_MAX];
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=other.example, valid for DNS:other.example, IP:192.0.2.7, IP:2001:db8::1");
    pws__cert_describe(x, X509_V_ERR_IP_ADDRESS_MISMATCH, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=other.example, valid for DNS:other.example, IP:192.0.2.7, IP:2001:db8::1");
    X509_free(x);

    /* more names than are shown: the rest is "..." */
    x = make_cert("a.example", NULL, "DNS:a.example, DNS:b.example, email:x@example.com, DNS:c.example, DNS:d.example",
                  0, 2000000000);
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=a.example, valid for DNS:a.example, DNS:b.example, DNS:c.example, ...");
    X509_free(x);

    x = make_cert("only-cn.example", NULL, NULL, 0, 2000000000);
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=only-cn.example, no subjectAltName");
    X509_free(x);
}

static void test_dates_and_issuer(void)
{
    X509 *x = make_cert("127.0.0.1", NULL, "IP:127.0.0.1", 1577836800 /* 2020-01-01 */, 1577923200 /* 01-02 */);
    char out[PWS__CERT_DETAIL_MAX];
    pws__cert_describe(x, X509_V_ERR_CERT_HAS_EXPIRED, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=127.0.0.1, expired Jan  2 00:00:00 2020 GMT");
    pws__cert_describe(x, X509_V_ERR_CERT_NOT_YET_VALID, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=127.0.0.1, valid from Jan  1 00:00:00 2020 GMT");
    pws__cert_describe(x, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=127.0.0.1, issued by CN=Test Issuer");
    pws__cert_describe(x, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "CN=127.0.0.1");
    X509_free(x);
}

static void test_hostile_strings_stay_printable(void)
{
    /* a terminal escape, a newline and UTF-8 in the subject and in a DNS name */
    X509 *x = make_cert("evil\x1b[31m\n\xc3\xa9.example", NULL, "DNS:evil\x01\x7f.example", 0, 2000000000);
    char out[PWS__CERT_DETAIL_MAX];
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    check_printable(out, sizeof out);
    CU_ASSERT_PTR_NULL(strchr(out, '\x1b'));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "CN=evil"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "valid for DNS:evil??.example"));
    X509_free(x);
}

static void test_long_text_is_cut(void)
{
    X509 *x = make_cert(NULL, "O=An Organization With A Long Name Incorporated,OU=A Department With A Long Name,"
                              "CN=server.example",
                        "DNS:a-very-long-host-name-that-goes-on-and-on-and-on.example, "
                        "DNS:another-very-long-host-name-that-goes-on.example, DNS:x.example",
                        0, 2000000000);
    char out[PWS__CERT_DETAIL_MAX];
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    check_printable(out, sizeof out);
    CU_ASSERT_EQUAL(strlen(out), sizeof out - 1); /* filled to the bound, not past it */
    CU_ASSERT_EQUAL(strncmp(out, "CN=server.example,OU=A Department", 33), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "...")); /* the subject was cut visibly */

    char tiny[8];
    pws__cert_describe(x, X509_V_ERR_HOSTNAME_MISMATCH, tiny, sizeof tiny);
    CU_ASSERT_STRING_EQUAL(tiny, "CN=serv");
    pws__cert_describe(NULL, X509_V_ERR_HOSTNAME_MISMATCH, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "");
    X509_free(x);
}

int main(void)
{
    key = EVP_EC_gen("P-256");
    if (!key) {
        fprintf(stderr, "test_certinfo: cannot make an EC key\n");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("certinfo", NULL, NULL);
    CU_add_test(s, "name mismatch lists the certificate's names", test_name_mismatch_lists_the_names);
    CU_add_test(s, "dates and issuer", test_dates_and_issuer);
    CU_add_test(s, "hostile strings stay printable ASCII", test_hostile_strings_stay_printable);
    CU_add_test(s, "long text is cut to the bound", test_long_text_is_cut);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    EVP_PKEY_free(key);
    return failed ? 1 : 0;
}
