/*
 * event_names.c - the names of event types, connection states and status
 * words (pws_event_type_name(), pws_conn_state_name(),
 * pws_status_kind_name(), pws_status_kind_from_word()) and
 * pws_event_symbol(): small lookups over the public event types, shared by
 * the parser, the connector, the CLI and the tools.
 */
#include <polyws/parse.h>

#include <string.h>

static const char *const status_words[] = {
    [PWS_STATUS_UNKNOWN] = "unknown",
    [PWS_STATUS_CONNECTED] = "connected",
    [PWS_STATUS_AUTH_SUCCESS] = "auth_success",
    [PWS_STATUS_AUTH_FAILED] = "auth_failed",
    [PWS_STATUS_AUTH_TIMEOUT] = "auth_timeout",
    [PWS_STATUS_AUTH_REQUIRED] = "auth_required",
    [PWS_STATUS_SUCCESS] = "success",
    [PWS_STATUS_ERROR] = "error",
    [PWS_STATUS_MAX_CONNECTIONS] = "max_connections",
    [PWS_STATUS_FORCE_DISCONNECT] = "force_disconnect",
    [PWS_STATUS_SLOW_CONSUMER] = "slow_consumer",
};

#define NSTATUS (sizeof status_words / sizeof status_words[0])

pws_status_kind pws_status_kind_from_word(const char *word, size_t len)
{
    if (word == NULL)
        return PWS_STATUS_UNKNOWN;
    /* Linear over 10 short words: status messages are rare, no hash needed. */
    for (size_t k = PWS_STATUS_CONNECTED; k < NSTATUS; k++) {
        if (strlen(status_words[k]) == len && memcmp(status_words[k], word, len) == 0)
            return (pws_status_kind)k;
    }
    return PWS_STATUS_UNKNOWN;
}

const char *pws_status_kind_name(pws_status_kind kind)
{
    if ((unsigned)kind < NSTATUS)
        return status_words[kind];
    return "unknown";
}

const char *pws_event_type_name(pws_event_type type)
{
    static const char *const names[] = {
        [PWS_EV_STATUS] = "status",   [PWS_EV_AGG] = "agg",
        [PWS_EV_TRADE] = "trade",     [PWS_EV_QUOTE] = "quote",
        [PWS_EV_OTHER] = "other",     [PWS_EV_PARSE_ERROR] = "parse_error",
        [PWS_EV_CONNECTION] = "connection",
    };
    if ((unsigned)type < sizeof names / sizeof names[0])
        return names[type];
    return "unknown";
}

const char *pws_conn_state_name(pws_conn_state state)
{
    static const char *const names[] = {
        [PWS_CONN_CONNECTING] = "connecting",
        [PWS_CONN_OPEN] = "open",
        [PWS_CONN_AUTHENTICATED] = "authenticated",
        [PWS_CONN_DISCONNECTED] = "disconnected",
        [PWS_CONN_RECONNECT_WAIT] = "reconnect_wait",
        [PWS_CONN_FATAL] = "fatal",
        [PWS_CONN_STOPPED] = "stopped",
    };
    if ((unsigned)state < sizeof names / sizeof names[0])
        return names[state];
    return "unknown";
}

const char *pws_event_symbol(const pws_event *ev)
{
    if (ev == NULL)
        return NULL;
    switch (ev->type) {
    case PWS_EV_AGG: return ev->u.agg.sym;
    case PWS_EV_TRADE: return ev->u.trade.sym;
    case PWS_EV_QUOTE: return ev->u.quote.sym;
    default: return NULL;
    }
}
