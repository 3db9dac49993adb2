/*
 * cliutil.c - small pieces the subcommands share: strict number options and
 * the --count bookkeeping of the commands that run our connector.
 */
#include "commands.h"

#include <errno.h>
#include <stdlib.h>

int pws_cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool pws_cli_count(const pws_event *ev, pthread_mutex_t *mu, uint64_t count, uint64_t *seen, pws_connector *c)
{
    bool market = ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE ||
                  ev->type == PWS_EV_OTHER;
    if (!market)
        return true;
    pthread_mutex_lock(mu);
    bool over = count && *seen >= count;
    if (!over)
        (*seen)++;
    bool reached = count && *seen == count;
    pthread_mutex_unlock(mu);
    if (reached)
        pws_stop(c);
    return !over;
}
