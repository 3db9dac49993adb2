/*
 * link.c - an lws raw socket with a bounded output queue and optional TLS
 * over memory BIOs (wire/link.h).
 */
#include "wire/link.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_READ_CHUNK 16384 /* plaintext bytes per SSL_read */

void pws__link_compact(pws__link *l)
{
    if (l->out_off && l->out_off == l->out.len) {
        l->out.len = l->out_off = 0;
    } else if (l->out_off >= (256u << 10) && l->out_off * 2 >= l->out.len) {
        /* the moved part is at most the written part: amortized O(1) per byte */
        memmove(l->out.p, l->out.p + l->out_off, l->out.len - l->out_off);
        l->out.len -= l->out_off;
        l->out_off = 0;
    }
}

int pws__link_send(pws__link *l, const void *data, size_t len)
{
    if (!len)
        return 0;
    pws__link_compact(l);
    if (pws__buf_put(&l->out, data, len))
        return -1;
    if (l->wsi)
        lws_callback_on_writable(l->wsi);
    return 0;
}

size_t pws__link_pending(const pws__link *l)
{
    size_t n = l->out.len - l->out_off;
    if (l->wbio)
        n += BIO_ctrl_pending(l->wbio);
    return n;
}

int pws__link_writeable(pws__link *l, unsigned char *scratch)
{
    if (!l->wsi)
        return 0;
    size_t chunk = l->chunk ? l->chunk : PWS__WRITE_CHUNK;
    size_t n = 0;
    if (l->ssl) {
        /* plaintext into TLS while its output stays small, then one chunk of ciphertext out */
        while (l->tls_ready && l->out_off < l->out.len && BIO_ctrl_pending(l->wbio) < chunk) {
            size_t take = l->out.len - l->out_off;
            if (take > chunk)
                take = chunk;
            int w = SSL_write(l->ssl, l->out.p + l->out_off, (int)take);
            if (w <= 0)
                return -1;
            l->out_off += (size_t)w;
        }
        int r = BIO_read(l->wbio, scratch + LWS_PRE, (int)chunk);
        n = r > 0 ? (size_t)r : 0;
    } else {
        n = l->out.len - l->out_off;
        if (n > chunk)
            n = chunk;
        if (n)
            memcpy(scratch + LWS_PRE, l->out.p + l->out_off, n);
        l->out_off += n;
    }
    if (l->out_off == l->out.len)
        l->out.len = l->out_off = 0;
    if (n && lws_write(l->wsi, scratch + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
        return -1;
    if (pws__link_pending(l))
        lws_callback_on_writable(l->wsi);
    else if (l->close_when_flushed)
        return -1;
    return 0;
}

/* OpenSSL's verify callback: the first refusal is kept in the link (the SSL's
 * app data) with a description of the certificate, which is gone by the time
 * the handshake reports its failure.  Verification stops there. */
static int on_verify(int ok, X509_STORE_CTX *xs)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    pws__link *l = ssl ? SSL_get_app_data(ssl) : NULL;
    if (l && !l->cert_error) {
        l->cert_error = X509_STORE_CTX_get_error(xs);
        pws__cert_describe(X509_STORE_CTX_get_current_cert(xs), l->cert_error, l->cert_detail,
                           sizeof l->cert_detail);
    }
    return 0;
}

SSL_CTX *pws__client_ssl_ctx(const char *ca_file, bool insecure, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, cap, "tls: SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!insecure) {
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            snprintf(err, cap, "tls: cannot load %s%s (is it PEM?)", ca_file ? "the CA file " : "the system trust store",
                     ca_file ? ca_file : "");
            SSL_CTX_free(ctx);
            ERR_clear_error();
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

int pws__link_tls_start(pws__link *l, SSL_CTX *ctx, const char *host, char *err, size_t cap)
{
    l->ssl = SSL_new(ctx);
    l->rbio = BIO_new(BIO_s_mem());
    l->wbio = BIO_new(BIO_s_mem());
    if (!l->ssl || !l->rbio || !l->wbio) {
        snprintf(err, cap, "tls: out of memory");
        return -1;
    }
    BIO_set_mem_eof_return(l->rbio, -1);
    SSL_set_bio(l->ssl, l->rbio, l->wbio); /* the SSL owns them now */
    SSL_set_app_data(l->ssl, l);           /* for on_verify; the link outlives its SSL */
    l->cert_error = 0;
    l->cert_detail[0] = '\0';
    SSL_set_connect_state(l->ssl);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(l->ssl, alpn, sizeof alpn - 1);
    X509_VERIFY_PARAM *vp = SSL_get0_param(l->ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
        /* a name, not an IP literal */
        SSL_set_tlsext_host_name(l->ssl, host);
        if (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1) {
            snprintf(err, cap, "tls: bad host name %.100s", host);
            return -1;
        }
    }
    ERR_clear_error();
    int r = SSL_do_handshake(l->ssl);
    if (r != 1 && SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ) {
        snprintf(err, cap, "tls: cannot start the handshake");
        return -1;
    }
    if (l->wsi)
        lws_callback_on_writable(l->wsi);
    return 0;
}

/* The X509_V_ERR_* the peer's certificate was refused with, or X509_V_OK.
 * Without verification (insecure) OpenSSL still records a result, which
 * refused nothing. */
static long refusal(const pws__link *l)
{
    if (l->cert_error)
        return l->cert_error;
    if (l->ssl && (SSL_get_verify_mode(l->ssl) & SSL_VERIFY_PEER))
        return SSL_get_verify_result(l->ssl);
    return X509_V_OK;
}

bool pws__link_cert_refused(const pws__link *l)
{
    return refusal(l) != X509_V_OK;
}

static void tls_error(pws__link *l, int r, char *err, size_t cap)
{
    long vr = refusal(l);
    if (vr != X509_V_OK) {
        snprintf(err, cap, "tls: certificate verify failed: %s%s%s%s", X509_verify_cert_error_string(vr),
                 l->cert_detail[0] ? " (" : "", l->cert_detail, l->cert_detail[0] ? ")" : "");
    } else {
        unsigned long e = ERR_peek_last_error();
        char buf[200] = "";
        if (e)
            ERR_error_string_n(e, buf, sizeof buf);
        snprintf(err, cap, "tls: %s (ssl error %d)", buf[0] ? buf : "handshake or read failed",
                 SSL_get_error(l->ssl, r));
    }
    ERR_clear_error();
}

int pws__link_rx(pws__link *l, const void *in, size_t len, pws__link_rx_fn fn, void *user, bool *ready_now,
                  char *err, size_t cap)
{
    if (ready_now)
        *ready_now = false;
    if (!l->ssl)
        return fn(user, in, len);
    if (len && BIO_write(l->rbio, in, (int)len) != (int)len) {
        snprintf(err, cap, "tls: out of memory");
        return -1;
    }
    if (!l->tls_ready) {
        ERR_clear_error();
        int r = SSL_do_handshake(l->ssl);
        if (r == 1) {
            l->tls_ready = true;
            if (ready_now)
                *ready_now = true;
        } else if (SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ) {
            tls_error(l, r, err, cap);
            return -1;
        }
        if (l->wsi && BIO_ctrl_pending(l->wbio))
            lws_callback_on_writable(l->wsi);
        if (!l->tls_ready)
            return 0;
    }
    unsigned char buf[TLS_READ_CHUNK];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(l->ssl, buf, sizeof buf);
        if (r > 0) {
            int rc = fn(user, buf, (size_t)r);
            if (rc) {
                /* what SSL_read produced to send (a KeyUpdate answer) still goes out */
                if (l->wsi && BIO_ctrl_pending(l->wbio))
                    lws_callback_on_writable(l->wsi);
                return rc;
            }
            continue;
        }
        int e = SSL_get_error(l->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            snprintf(err, cap, "tls: the peer closed the TLS session");
            return -1;
        }
        tls_error(l, r, err, cap);
        return -1;
    }
    if (l->wsi && BIO_ctrl_pending(l->wbio))
        lws_callback_on_writable(l->wsi);
    return 0;
}

void pws__link_set_rx(pws__link *l, bool on)
{
    if (!l->wsi || l->rx_paused == !on)
        return;
    l->rx_paused = !on;
    lws_rx_flow_control(l->wsi, on ? 1 : 0);
}

void pws__link_free(pws__link *l)
{
    if (l->ssl)
        SSL_free(l->ssl); /* frees the BIOs too */
    l->ssl = NULL;
    l->rbio = l->wbio = NULL;
    pws__buf_free(&l->out);
    l->out_off = 0;
}
