/*
 * last_error.h - the message of a connector's last failure (hiredis'
 * errstr), behind pws_last_error() (not installed).  Any layer that fails
 * writes it: the public API on a bad call, the session when a connection
 * ends or the loop gives up.
 *
 * Threading: any thread may write (writers take the lock); readers take the
 * text without it, so a concurrent write can at worst tear the message, which
 * stays NUL-terminated (the public header allows this).
 */
#ifndef POLYWS_LAST_ERROR_H
#define POLYWS_LAST_ERROR_H

#include "internal.h"

#include <pthread.h>

typedef struct pws__last_error {
    pthread_mutex_t mu; /* guards text against concurrent writers */
    const pws__secrets *secrets; /* scrubbed from every message (the API key); NULL for none */
    char text[256];     /* the message, NUL-terminated; "" until the first failure */
} pws__last_error;

/* secrets must outlive e (it is read on every write). */
void pws__last_error_init(pws__last_error *e, const pws__secrets *secrets);
void pws__last_error_destroy(pws__last_error *e);
/* Formats the message, scrubs it of the secrets (wire/secrets.h), then
 * stores it cut to 255 bytes: a cut never leaves a piece of a key. */
void pws__last_error_set(pws__last_error *e, const char *fmt, ...) PWS__PRINTF(2, 3);

#endif
