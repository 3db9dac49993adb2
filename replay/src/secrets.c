/*
 * secrets.c - the literal secrets (API keys) a proxy or a replayer knows: the
 * ones it was given and the ones it saw in auth messages.  Both scrub them
 * from whatever they write (tape lines, deviation reports, logs) through
 * wire's one redactor (wire/secrets.h), which keeps the newest
 * PWS__SECRETS_MAX and wipes the ones it drops; this adds the count of every
 * distinct key ever learned (the tape header's "secrets").
 */
#include "internal.h"

bool pwsr__secrets_add(pwsr__secrets *s, const char *key)
{
    if (pws__secrets_add(&s->set, key) != 1)
        return false; /* known, shorter than 4 bytes (scrubbing those would garble text), or no memory */
    s->learned++;
    return true;
}

void pwsr__secrets_free(pwsr__secrets *s)
{
    pws__secrets_free(&s->set);
}
