/*
 * selfsigned.h - a throwaway certificate for the mock's wss:// listener (private).
 */
#ifndef PWSM_SELFSIGNED_H
#define PWSM_SELFSIGNED_H

#include <stddef.h>

/** Paths of a generated certificate; all three are NUL-terminated. */
typedef struct pwsm__selfsigned {
    char dir[256];       /* mkdtemp directory holding both files */
    char cert[272];      /* dir/cert.pem: the certificate, also the CA a client trusts */
    char key[272];       /* dir/key.pem: the private key, mode 0600 */
} pwsm__selfsigned;

/** Generates an EC P-256 key and a self-signed certificate, valid from an hour ago for 7
 * days, for CN=127.0.0.1 with subjectAltName IP:127.0.0.1 and DNS:localhost (lws 4.1
 * clients check an IP literal against the IP entry), written as PEM into a new mkdtemp
 * directory under $TMPDIR or /tmp.
 * Returns 0, or -1 with a message in err (nothing is left on disk then). */
int pwsm__selfsigned_create(pwsm__selfsigned *out, char *err, size_t errcap);
/** Removes the files and the directory. */
void pwsm__selfsigned_remove(pwsm__selfsigned *ss);

#endif
