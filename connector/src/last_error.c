/*
 * last_error.c - the message of a connector's last failure.  See
 * last_error.h.
 */
#include "last_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pws__last_error_init(pws__last_error *e, const pws__secrets *secrets)
{
    pthread_mutex_init(&e->mu, NULL);
    e->secrets = secrets;
    e->text[0] = '\0';
}

void pws__last_error_destroy(pws__last_error *e)
{
    pthread_mutex_destroy(&e->mu);
}

void pws__last_error_set(pws__last_error *e, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    pws__secrets_scrub_str(e->secrets, raw);
    pthread_mutex_lock(&e->mu);
    pws__strlcpy(e->text, raw, sizeof e->text);
    pthread_mutex_unlock(&e->mu);
}
