/*
 * certinfo.c - a refused certificate described in words (wire/certinfo.h).
 */
#include "wire/certinfo.h"
#include "wire/buf.h" /* pws__fixed_appendf */

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NAME_TEXT_MAX 56   /* bytes of a subject or issuer shown, NUL included */
#define DATE_TEXT_MAX 32   /* "Jan  2 00:00:00 2020 GMT" and a NUL */
#define ALT_NAMES_SHOWN 3  /* subjectAltName entries listed for a name mismatch */

/* Copies s[0..n) into out as printable ASCII (the peer chose these bytes:
 * anything else becomes '?'), cut to cap with "..." at the end. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t keep = n < cap ? n : cap - 1;
    bool cut = keep < n;
    if (cut && keep >= 3)
        keep -= 3;
    for (size_t i = 0; i < keep; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[keep] = '\0';
    if (cut && cap >= 4)
        strcat(out, "...");
}

/* Text that OpenSSL prints into a memory BIO, made printable and cut to cap. */
static void bio_text(BIO *b, char *out, size_t cap)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    printable(p ? p : "", n > 0 ? (size_t)n : 0, out, cap);
}

/* A distinguished name as RFC 2253 text ("CN=127.0.0.1,O=Test"). */
static void name_text(const X509_NAME *nm, char *out, size_t cap)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (nm && X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0)
        bio_text(b, out, cap);
    BIO_free(b);
}

/* A certificate date as OpenSSL writes it ("Jan  2 00:00:00 2020 GMT"). */
static void date_text(const ASN1_TIME *t, char *out, size_t cap)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (t && ASN1_TIME_print(b, t))
        bio_text(b, out, cap);
    BIO_free(b);
}

/* The first ALT_NAMES_SHOWN DNS and IP entries of the subjectAltName: what a
 * host name was compared with. */
static void alt_names(X509 *x, char *out, size_t cap, size_t *len)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    if (n <= 0) {
        pws__fixed_appendf(out, cap, len, ", no subjectAltName");
        GENERAL_NAMES_free(gens);
        return;
    }
    pws__fixed_appendf(out, cap, len, ", valid for");
    int shown = 0;
    for (int i = 0; i < n && shown < ALT_NAMES_SHOWN; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char text[NAME_TEXT_MAX] = "";
        if (g->type == GEN_DNS) {
            const ASN1_IA5STRING *s = g->d.dNSName;
            printable((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), text, sizeof text);
            pws__fixed_appendf(out, cap, len, "%s DNS:%s", shown ? "," : "", text);
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *ip = g->d.iPAddress;
            int l = ASN1_STRING_length(ip);
            char addr[INET6_ADDRSTRLEN] = "?";
            if (l == 4 || l == 16)
                inet_ntop(l == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), addr, sizeof addr);
            pws__fixed_appendf(out, cap, len, "%s IP:%s", shown ? "," : "", addr);
        } else {
            continue;
        }
        shown++;
    }
    if (n > shown)
        pws__fixed_appendf(out, cap, len, ", ...");
    GENERAL_NAMES_free(gens);
}

void pws__cert_describe(X509 *x, int verify_err, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    if (!x)
        return;
    size_t len = 0;
    char subject[NAME_TEXT_MAX], issuer[NAME_TEXT_MAX], date[DATE_TEXT_MAX];
    name_text(X509_get_subject_name(x), subject, sizeof subject);
    pws__fixed_appendf(out, cap, &len, "%s", subject[0] ? subject : "empty subject");
    switch (verify_err) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        alt_names(x, out, cap, &len);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        date_text(X509_get0_notAfter(x), date, sizeof date);
        pws__fixed_appendf(out, cap, &len, ", expired %s", date);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        date_text(X509_get0_notBefore(x), date, sizeof date);
        pws__fixed_appendf(out, cap, &len, ", valid from %s", date);
        break;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        break; /* its own issuer: the reason says it all */
    default:
        name_text(X509_get_issuer_name(x), issuer, sizeof issuer);
        pws__fixed_appendf(out, cap, &len, ", issued by %s", issuer[0] ? issuer : "an empty name");
        break;
    }
}
