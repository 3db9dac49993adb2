/*
 * log.c - leveled logging with secret scrubbing, and the lws log bridge.
 */
#include "internal.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PWS__LOG_LINE_MAX 1024 /* bytes of one formatted message */

static const char *const level_names[] = {"default", "error", "warn", "info", "debug"};

static void log_to_stderr(pws_log_level level, const char *msg)
{
    fprintf(stderr, "polyws %s: %s\n", level_names[level <= PWS_LOG_DEBUG ? level : 0], msg);
}

void pws__log(const pws__logger *lg, pws_log_level level, const char *fmt, ...)
{
    if (!lg || level > lg->level)
        return;
    char raw[PWS__LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof raw)
        memcpy(raw + sizeof raw - 4, "...", 4);
    const char *msg = raw;
    pws__secrets_scrub_str(lg->secrets, raw); /* the cut above left no piece of 8 bytes: scrubbed too */
    if (lg->fn)
        lg->fn(level, msg, lg->user);
    else
        log_to_stderr(level, msg);
}

/*
 * libwebsockets has one process-wide log hook, without a user pointer, and
 * logs to stderr until someone sets it.  Two ways to take its lines:
 *
 *  - the application calls pws_set_lws_log(): every lws line of the process,
 *    whichever thread logs it, goes to that sink at that level;
 *  - otherwise each connector's network thread names its own logger here, and
 *    the lines lws logs on that thread go through it (the connector's log_fn
 *    and log_level, scrubbed like the connector's own lines).  Lines logged on
 *    a thread that is no connector's are dropped: nobody asked for them.
 *
 * The lws level mask only grows: it is the most verbose level any connector
 * has asked for (each logger filters again).  Writing it is serialised here;
 * lws reads it unlocked, a plain int whose worst race is one line more or less.
 */
static pthread_mutex_t lws_log_mu = PTHREAD_MUTEX_INITIALIZER;
static bool lws_log_explicit;        /* pws_set_lws_log() was called: its sink and level rule */
static pws_log_fn lws_bridge_fn;     /* that sink; NULL: stderr */
static void *lws_bridge_user;        /* passed to lws_bridge_fn */
static int lws_auto_mask = -1;       /* mask set for the connectors; -1: never set */
static _Thread_local const pws__logger *lws_thread_logger; /* this network thread's connector */

/* The lws levels that carry the lines of pws level `level` and more severe. */
static int lws_mask_for(pws_log_level level)
{
    int mask = 0;
    if (level >= PWS_LOG_ERROR)
        mask |= LLL_ERR;
    if (level >= PWS_LOG_WARN)
        mask |= LLL_WARN;
    if (level >= PWS_LOG_INFO)
        mask |= LLL_NOTICE; /* the version banner and connection notices */
    if (level >= PWS_LOG_DEBUG)
        mask |= LLL_INFO;
    return mask;
}

static void lws_emit(int lws_level, const char *line)
{
    pws_log_level level = lws_level & LLL_ERR      ? PWS_LOG_ERROR
                          : lws_level & LLL_WARN   ? PWS_LOG_WARN
                          : lws_level & LLL_NOTICE ? PWS_LOG_INFO
                                                   : PWS_LOG_DEBUG;
    char msg[PWS__LOG_LINE_MAX];
    pws__strlcpy(msg, line, sizeof msg);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    if (lws_log_explicit) {
        if (lws_bridge_fn)
            lws_bridge_fn(level, msg, lws_bridge_user);
        else
            fprintf(stderr, "lws: %s\n", msg);
    } else if (lws_thread_logger) {
        pws__log(lws_thread_logger, level, "lws: %s", msg);
    }
}

void pws_set_lws_log(pws_log_level level, pws_log_fn fn, void *user)
{
    if (level == PWS_LOG_DEFAULT)
        level = PWS_LOG_WARN;
    pthread_mutex_lock(&lws_log_mu);
    lws_log_explicit = true;
    lws_bridge_fn = fn;
    lws_bridge_user = user;
    lws_set_log_level(lws_mask_for(level), lws_emit);
    pthread_mutex_unlock(&lws_log_mu);
}

void pws__log_lws_thread(const pws__logger *lg)
{
    lws_thread_logger = lg;
    if (!lg)
        return;
    pthread_mutex_lock(&lws_log_mu);
    if (!lws_log_explicit) {
        int mask = (lws_auto_mask < 0 ? 0 : lws_auto_mask) | lws_mask_for(lg->level);
        if (mask != lws_auto_mask) /* also the first time: lws' own default writes to stderr */
            lws_set_log_level(mask, lws_emit);
        lws_auto_mask = mask;
    }
    pthread_mutex_unlock(&lws_log_mu);
}

int64_t pws_now_us(void)
{
    return pws__wall_us();
}

void pws__strlcpy(char *dst, const char *src, size_t cap)
{
    if (!dst || cap == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}
