/*
 * error.c - error names.
 */
#include <polyws/polyws.h>

const char *pws_strerror(int err)
{
    switch ((pws_err)err) {
    case PWS_OK: return "ok";
    case PWS_ERR_INVALID: return "invalid argument";
    case PWS_ERR_NOMEM: return "out of memory";
    case PWS_ERR_URL: return "invalid URL";
    case PWS_ERR_KEY: return "API key missing or unreadable";
    case PWS_ERR_TLS: return "TLS failure";
    case PWS_ERR_CONNECT: return "connection failed";
    case PWS_ERR_AUTH: return "authentication failed";
    case PWS_ERR_TIMEOUT: return "timed out";
    case PWS_ERR_CLOSED: return "connection closed";
    case PWS_ERR_STATE: return "not allowed in this state";
    case PWS_ERR_LIMIT: return "limit exceeded";
    case PWS_ERR_ATTEMPTS: return "too many reconnect attempts";
    case PWS_ERR_OVERFLOW: return "delivery queue overflow";
    case PWS_ERR_SYSTEM: return "system error";
    case PWS_ERR_SERVER: return "disconnected by server";
    case PWS_ERR_REFUSED: return "WebSocket upgrade refused for good";
    }
    return "unknown error";
}
