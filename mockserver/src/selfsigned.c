/*
 * selfsigned.c - generate a self-signed certificate with the OpenSSL 3 API.
 *
 * Costs a few milliseconds (EC P-256 rather than RSA, whose key generation
 * takes tens to hundreds of milliseconds), once per pwsm_start with tls.
 */
#include "selfsigned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define SAN "IP:127.0.0.1,IP:::1,DNS:localhost"

static void set_err(char *err, size_t errcap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errcap, "tls: %s%s%s", what, e ? ": " : "", buf);
    ERR_clear_error();
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    if (!x || !serial)
        goto fail;
    if (!X509_set_version(x, 2) || !BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
        goto fail;
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600) || !X509_set_pubkey(x, pkey))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"polyws mock", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
                                    -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    /* The certificate is its own CA (what `openssl req -x509` makes), so clients can load it
     * as the trust anchor; serverAuth and the SAN make it acceptable as the leaf too. */
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, &ctx, NID_subject_alt_name, SAN) ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto fail;
    BN_free(serial);
    return x;
fail:
    BN_free(serial);
    X509_free(x);
    return NULL;
}

/* Writes the key (if pkey) or the certificate as PEM to a new file with the given mode. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *pkey, X509 *x)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = pkey ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x);
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

int pwsm__selfsigned_create(pwsm__selfsigned *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int n = snprintf(out->dir, sizeof out->dir, "%s/pwsmock-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof out->dir) {
        snprintf(err, errcap, "tls: TMPDIR too long");
        return -1;
    }
    if (!mkdtemp(out->dir)) {
        snprintf(err, errcap, "tls: mkdtemp %s: %s", out->dir, strerror(errno));
        out->dir[0] = '\0';
        return -1;
    }
    snprintf(out->cert, sizeof out->cert, "%s/cert.pem", out->dir);
    snprintf(out->key, sizeof out->key, "%s/key.pem", out->dir);

    int rc = -1;
    X509 *x = NULL;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    if (!pkey) {
        set_err(err, errcap, "key generation failed");
        goto done;
    }
    x = make_cert(pkey);
    if (!x) {
        set_err(err, errcap, "certificate creation failed");
        goto done;
    }
    if (write_pem(out->key, 0600, pkey, NULL) != 0) {
        set_err(err, errcap, "cannot write the key file");
        goto done;
    }
    if (write_pem(out->cert, 0644, NULL, x) != 0) {
        set_err(err, errcap, "cannot write the certificate file");
        goto done;
    }
    rc = 0;
done:
    X509_free(x);
    EVP_PKEY_free(pkey);
    if (rc)
        pwsm__selfsigned_remove(out);
    return rc;
}

void pwsm__selfsigned_remove(pwsm__selfsigned *ss)
{
    if (!ss->dir[0])
        return;
    unlink(ss->cert);
    unlink(ss->key);
    rmdir(ss->dir);
    ss->dir[0] = '\0';
}
