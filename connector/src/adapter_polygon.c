/*
 * adapter_polygon.c - the built-in Polygon (Massive) protocol adapter.
 *
 * Polygon greets with a "connected" status, takes
 * {"action":"auth","params":"KEY"} and comma-separated channel lists in
 * {"action":"subscribe","params":"A.AAPL,T.MSFT"}.  The maximum message size
 * the service accepts is not documented, so the connector splits long
 * channel lists under pws_options.max_action_bytes.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static size_t polygon_build_auth(void *self, const char *key, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"action\":\"auth\",\"params\":\"%s\"}", key);
    if (n < 0 || (size_t)n >= cap)
        return (size_t)-1;
    return (size_t)n;
}

static size_t polygon_build_subscription(void *self, bool subscribe, const char *const *channels,
                                         size_t n, char *buf, size_t cap, size_t *used)
{
    const char *head = subscribe ? "{\"action\":\"subscribe\",\"params\":\""
                                 : "{\"action\":\"unsubscribe\",\"params\":\"";
    const char *tail = "\"}";
    size_t hl = strlen(head), tl = strlen(tail);
    if (cap < hl + tl + 1)
        return (size_t)-1;
    memcpy(buf, head, hl);
    size_t len = hl, taken = 0;
    for (size_t i = 0; i < n; i++) {
        size_t cl = strlen(channels[i]);
        size_t need = cl + (taken ? 1 : 0);
        if (len + need + tl + 1 > cap)
            break;
        if (taken)
            buf[len++] = ',';
        memcpy(buf + len, channels[i], cl);
        len += cl;
        taken++;
    }
    if (!taken)
        return (size_t)-1;
    memcpy(buf + len, tail, tl + 1);
    *used = taken;
    return len + tl;
}

static long polygon_parse(void *self, const char *frame, size_t len, const pws_parse_limits *limits,
                          pws_event_sink sink, void *user)
{
    return pws_parse_frame(frame, len, limits, sink, user);
}

/* Replaces the params value of an auth action by "***".  Anything that does
 * not look like one of our auth messages is copied unchanged. */
static size_t polygon_redact(void *self, const char *msg, size_t len, char *buf, size_t cap)
{
    static const char marker[] = "\"params\":\"";
    const char *p = NULL;
    if (len < 4096 && memmem(msg, len, "\"action\":\"auth\"", 15))
        p = memmem(msg, len, marker, sizeof marker - 1);
    if (!p) {
        size_t n = len < cap ? len : (cap ? cap - 1 : 0);
        if (cap) {
            memcpy(buf, msg, n);
            buf[n] = '\0';
        }
        return len;
    }
    size_t pre = (size_t)(p - msg) + sizeof marker - 1;
    const char *end = memchr(msg + pre, '"', len - pre);
    size_t post = end ? (size_t)(msg + len - end) : 0;
    return (size_t)snprintf(buf, cap, "%.*s***%.*s", (int)pre, msg, (int)post, end ? end : "");
}

static const pws_adapter polygon_adapter = {
    .name = "polygon",
    .wait_for_greeting = true,
    .build_auth = polygon_build_auth,
    .build_subscription = polygon_build_subscription,
    .parse = polygon_parse,
    .redact = polygon_redact,
};

const pws_adapter *pws_polygon_adapter(void)
{
    return &polygon_adapter;
}
