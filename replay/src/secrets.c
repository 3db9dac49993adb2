/*
 * secrets.c - the literal secrets (API keys) a proxy or a replayer knows: the
 * ones it was given and the ones it saw in auth messages.  Both scrub them
 * from whatever they write (tape lines, deviation reports, logs), so both
 * keep them the same way: owned copies, at most PWSR__MAX_SECRETS, the oldest
 * wiped and dropped first, and a count of every distinct key ever learned
 * (the tape header's "secrets").
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(PWSR__MAX_SECRETS <= PWS_TAPE_MAX_REDACT, "pws_redact_rules.secrets holds every key kept");

bool pwsr__secrets_add(pwsr__secrets *s, const char *key)
{
    size_t len = key ? strlen(key) : 0;
    if (len < 4)
        return false; /* shorter strings are everywhere: scrubbing them would garble text */
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i], key))
            return false;
    char *copy = strdup(key);
    if (!copy)
        return false;
    if (s->n >= PWSR__MAX_SECRETS) {
        /* keep the newest: the oldest key is least likely to appear again */
        explicit_bzero(s->keys[0], strlen(s->keys[0]));
        free(s->keys[0]);
        memmove(s->keys, s->keys + 1, (PWSR__MAX_SECRETS - 1) * sizeof *s->keys);
        s->n--;
    }
    s->keys[s->n++] = copy;
    s->learned++;
    return true;
}

void pwsr__secrets_apply(const pwsr__secrets *s, pws_redact_rules *rules)
{
    for (size_t i = 0; i < s->n; i++)
        rules->secrets[i] = s->keys[i];
    rules->nsecrets = s->n;
}

void pwsr__secrets_free(pwsr__secrets *s)
{
    for (size_t i = 0; i < s->n; i++) {
        explicit_bzero(s->keys[i], strlen(s->keys[i]));
        free(s->keys[i]);
    }
    s->n = 0;
}
