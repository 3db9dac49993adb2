/*
 * log.c - leveled logging with secret scrubbing, and the lws log bridge.
 */
#include "internal.h"

#include <libwebsockets.h>
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

/* lws has one process-wide emit hook without a user pointer, hence globals. */
static pws_log_fn lws_bridge_fn;
static void *lws_bridge_user;

static void lws_emit(int lws_level, const char *line)
{
    pws_log_level level = lws_level & LLL_ERR    ? PWS_LOG_ERROR
                          : lws_level & LLL_WARN ? PWS_LOG_WARN
                          : lws_level & (LLL_NOTICE | LLL_INFO) ? PWS_LOG_INFO
                                                                : PWS_LOG_DEBUG;
    char msg[PWS__LOG_LINE_MAX];
    pws__strlcpy(msg, line, sizeof msg);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* lws prefixes its lines with a timestamp; keep them as they are. */
    if (lws_bridge_fn)
        lws_bridge_fn(level, msg, lws_bridge_user);
    else
        fprintf(stderr, "lws: %s\n", msg);
}

void pws_set_lws_log(pws_log_level level, pws_log_fn fn, void *user)
{
    int mask = 0;
    if (level == PWS_LOG_DEFAULT)
        level = PWS_LOG_WARN;
    if (level >= PWS_LOG_ERROR)
        mask |= LLL_ERR;
    if (level >= PWS_LOG_WARN)
        mask |= LLL_WARN;
    if (level >= PWS_LOG_INFO)
        mask |= LLL_NOTICE;
    if (level >= PWS_LOG_DEBUG)
        mask |= LLL_INFO;
    lws_bridge_fn = fn;
    lws_bridge_user = user;
    lws_set_log_level(mask, lws_emit);
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
