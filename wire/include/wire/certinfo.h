/*
 * wire/certinfo.h - why a peer's certificate was refused, in words: the
 * certificate's subject and the fact that failed it (the names it holds for a
 * host name mismatch, its dates when expired or not yet valid, its issuer when
 * that is not trusted).  Used by link.c's verify callback, so that an error
 * says "hostname mismatch (CN=other.example, valid for DNS:other.example)"
 * rather than only "certificate verify failed".
 *
 * Part of wire (see wire/buf.h).  Names are pws__.  A pure function of the
 * certificate: no I/O, any thread.
 */
#ifndef PWS_WIRE_CERTINFO_H
#define PWS_WIRE_CERTINFO_H

#include <stddef.h>

#include <openssl/x509.h>

/* Bytes of a description, NUL included: it goes into a message of at most
 * PWS_MESSAGE_MAX (256) bytes together with the verify error and the host. */
#define PWS__CERT_DETAIL_MAX 120

/* Writes into out (cap bytes, NUL-terminated, printable ASCII only: the
 * certificate's strings come from the peer and are escaped) a description of
 * certificate x, which failed verification with X509_V_ERR_* code verify_err,
 * e.g. "CN=127.0.0.1, expired Jan  2 00:00:00 2020 GMT".  x NULL
 * writes "". */
void pws__cert_describe(X509 *x, int verify_err, char *out, size_t cap);

#endif
