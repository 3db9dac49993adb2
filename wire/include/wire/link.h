/*
 * wire/link.h - one side of a connection over an lws raw socket: a bounded
 * output queue written from WRITEABLE (one lws_write per callback, with
 * LWS_PRE headroom), and optionally TLS run by OpenSSL over memory BIOs
 * (lws 4.1 cannot do TLS on raw client sockets: its raw TLS client start
 * fails), with certificate and host name verification.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h): the connector's client socket, both sides of the recording
 * proxy and the replayer's sockets.  Names are pws__.  Everything here runs
 * on the lws service thread.
 */
#ifndef PWS_WIRE_LINK_H
#define PWS_WIRE_LINK_H

#include "wire/buf.h"
#include "wire/certinfo.h"

#include <libwebsockets.h>
#include <openssl/ssl.h>

#define PWS__WRITE_CHUNK (256u << 10) /* bytes handed to one lws_write */

typedef struct pws__link {
    struct lws *wsi;          /* the socket, NULL once closed */
    pws__buf out;         /* plaintext waiting to be written (or encrypted) */
    size_t out_off;           /* first byte of out not yet taken */
    SSL *ssl;                 /* TLS session, or NULL for plain TCP */
    BIO *rbio, *wbio;         /* memory BIOs: ciphertext in / out */
    bool tls_ready;           /* handshake finished */
    bool close_when_flushed;  /* close the socket once everything queued went out */
    bool rx_paused;           /* lws_rx_flow_control(wsi, 0) in force */
    size_t chunk;             /* bytes per lws_write (the scratch's size after LWS_PRE); 0 = PWS__WRITE_CHUNK */
    int cert_error;           /* X509_V_ERR_* the peer's certificate was refused with; 0 = not refused */
    char cert_detail[PWS__CERT_DETAIL_MAX]; /* that certificate and the fact that failed it (certinfo.h) */
} pws__link;

/* Called with decrypted (or plain) bytes received. */
typedef int (*pws__link_rx_fn)(void *user, const unsigned char *data, size_t len);

/* Makes room at the end of out by dropping what was already written; call
 * before appending to out directly. */
void pws__link_compact(pws__link *l);
/* Queues bytes to send and asks for WRITEABLE.  0, or -1 without memory. */
int pws__link_send(pws__link *l, const void *data, size_t len);
/* Bytes queued and not yet written to the socket (TLS output included). */
size_t pws__link_pending(const pws__link *l);
/* The WRITEABLE callback: one lws_write of up to l->chunk bytes from scratch
 * (LWS_PRE + l->chunk bytes).  Returns -1 when the socket
 * should close (write error, or flushed with close_when_flushed), else 0. */
int pws__link_writeable(pws__link *l, unsigned char *scratch);
/* Starts TLS as a client: SNI and verification of host (a name or an IP
 * literal) against ctx's trust store.  0, or -1 with a message. */
int pws__link_tls_start(pws__link *l, SSL_CTX *ctx, const char *host, char *err, size_t cap);
/* The RAW_RX callback: with TLS, feeds the ciphertext, advances the handshake
 * (*ready_now set when it just finished) and hands plaintext to fn; without,
 * hands the bytes to fn.  Returns 0, -1 on a TLS error (message in err), or
 * what fn returned if it was not 0. */
int pws__link_rx(pws__link *l, const void *in, size_t len, pws__link_rx_fn fn, void *user, bool *ready_now,
                  char *err, size_t cap);
/* True once the handshake failed because the peer's certificate was refused
 * (untrusted, expired, another host's...): retrying cannot help, unlike a
 * reset or a handshake that failed otherwise.  pws__link_rx's message then
 * reads "tls: certificate verify failed: REASON (DETAIL)". */
bool pws__link_cert_refused(const pws__link *l);
/* Pauses (false) or resumes (true) reading, if not already so. */
void pws__link_set_rx(pws__link *l, bool on);
/* Frees the buffers and the TLS session (the socket is lws' business). */
void pws__link_free(pws__link *l);

/* A client SSL_CTX: TLS 1.2+, peer verification against ca_file (NULL: the
 * system store: OpenSSL's default paths, which $SSL_CERT_FILE and
 * $SSL_CERT_DIR replace) unless insecure; a refused certificate is recorded
 * in the link (cert_error, cert_detail).  NULL with a message on failure. */
SSL_CTX *pws__client_ssl_ctx(const char *ca_file, bool insecure, char *err, size_t cap);

#endif
