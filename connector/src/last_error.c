/*
 * last_error.c - the message of a connector's last failure.  See
 * last_error.h.
 */
#include "last_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pws__last_error_init(pws__last_error *e, const char *secret)
{
    pthread_mutex_init(&e->mu, NULL);
    e->secret = secret;
    e->text[0] = '\0';
}

void pws__last_error_destroy(pws__last_error *e)
{
    pthread_mutex_destroy(&e->mu);
}

void pws__last_error_set(pws__last_error *e, const char *fmt, ...)
{
    char raw[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&e->mu);
    pws_redact(raw, strlen(raw), e->secret, e->text, sizeof e->text);
    pws__mask_echoed_key(e->text, e->secret); /* what the cut to 255 bytes left of it */
    pthread_mutex_unlock(&e->mu);
}
