/*
 * proxy.c - the recording proxy: clients connect to it as if it were the
 * service; each accepted client (the "down" side) gets its own upstream
 * connection (the "up" side).  After both WebSocket handshakes the bytes are
 * forwarded unchanged in both directions, and a frame reader per direction
 * taps them to record every frame on the tape (redacted first).
 *
 * One lws context, one thread.  The listening vhost hands accepted sockets
 * to the raw role ("pwsr-proxy-down"); upstream connections are raw client
 * sockets ("pwsr-proxy-up") with TLS run by link.c.  Backpressure: when more
 * than max_buffered bytes wait to be written toward one side, reading from
 * the other side stops (lws_rx_flow_control) until half of it went out, so
 * memory stays bounded whatever the speeds.  When one side ends, the other is
 * closed once what was queued toward it has been written.
 *
 * The upstream's bytes enter at up_rx (TLS, then up_plain: the upgrade
 * response, then the frames); a detached proxy (proxy_detached.h, for the
 * fuzz target) feeds that same path with no socket at all.
 */
#include "handshakes.h" /* the handshake guard's settings and counters */
#include "internal.h"   /* replay/src: libpwsreplay helpers */
#include "proxy_detached.h"

#include "wire/link.h"    /* raw-socket link with TLS over memory BIOs */
#include "wire/server.h"  /* the listening side's start-up */
#include "wire/wsproto.h" /* WebSocket framing and HTTP heads */

#include <polyws/replay.h>

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROXY_CLOSE_GRACE_S 5 /* seconds to flush toward a side after its peer ended */

typedef enum pair_state {
    P_REQUEST = 0,   /* reading the client's upgrade request */
    P_UP_CONNECT,    /* connecting upstream (TCP, then TLS) */
    P_UP_HANDSHAKE,  /* upgrade request sent upstream, reading the response */
    P_OPEN,          /* both handshakes done: forwarding */
    P_FAILED         /* handshake failed: answering the client with an HTTP error, then closing */
} pair_state;

typedef struct pair {
    struct pwsr_proxy *px;     /* owner */
    struct pair *next;         /* in px->pairs */
    uint32_t ordinal;          /* connection ordinal on the tape */
    pair_state st;             /* progress */
    pws__link down, up;       /* client side, upstream side */
    pws_tape_buf head;         /* the client's request head, then the upstream's response head */
    pws_tape_buf early;        /* client bytes that came before the upstream was open */
    char up_key[32];           /* our Sec-WebSocket-Key upstream */
    char down_accept[32];      /* the accept value the client expects */
    char *fwd_headers;         /* client headers forwarded upstream (CRLF lines) */
    pws__wsreader rd_c, rd_s; /* frame readers: client->server, server->client */
    bool saw_close;            /* a close frame went either way */
    bool c_closed, s_closed;   /* a close frame came from the client / from upstream */
    const char *first_gone;    /* the side whose socket ended first ("client", "upstream") */
    bool ended;                /* the end event is on the tape */
    bool up_failed;            /* the upstream connect failed (handled once) */
    bool up_counted;           /* counted in upstream_reached or upstream_failed */
    pws__hs_entry *hs;         /* the client socket in the handshake guard (wire/handshake.h) */
    bool counted;              /* its request was complete and admitted: counts against max_clients */
} pair;

struct pwsr_proxy {
    pwsr_proxy_options o;        /* options; strings point at copies in `owned` */
    char *owned[4 + 2 * PWS_TAPE_MAX_REDACT + 8]; /* copies of option strings */
    size_t nowned;
    pws__url up;                /* the parsed upstream URL */
    SSL_CTX *up_ctx;             /* our TLS client context for a wss upstream */
    pws__server sv;              /* the one context, its listening vhost and service thread */
    struct lws_protocols protocols[3];
    pws_tape_writer *tape;       /* the tape */
    pws_redact_rules rules;      /* redaction */
    pwsr__secrets secrets;       /* configured and learned keys, scrubbed from every tape line and log */
    const char *hdr_redact[PWS_TAPE_MAX_REDACT + 4]; /* header names redacted */
    size_t nhdr_redact;
    pwsr__logger lg;             /* log sink */
    int64_t t0;                  /* monotonic start */
    uint32_t next_ordinal;       /* last ordinal handed out */
    uint32_t live;               /* pairs alive */
    uint32_t clients;            /* of those, admitted after a complete request (max_clients) */
    pair *pairs;                 /* all pairs */
    unsigned char *scratch;      /* LWS_PRE + PWS__WRITE_CHUNK bytes for lws_write */
    /* statistics, written by the service thread, read by any */
    uint64_t st_frames, st_bytes, st_tape_bytes, st_pauses;
    uint32_t st_connections, st_active;
    bool st_tape_failed;
    uint32_t st_up_reached, st_up_failed, st_up_failed_in_a_row; /* client sessions that did or did not reach the upstream */
    pthread_mutex_t up_error_mu; /* guards up_error (service thread writes, any reads) */
    char up_error[256];          /* why the last session could not reach the upstream, redacted */
};

#define ST_SET(p, f, v) __atomic_store_n(&(p)->f, (v), __ATOMIC_RELAXED)
#define ST_GET(p, f) __atomic_load_n(&(p)->f, __ATOMIC_RELAXED)

/* ------------------------------------------------------------ recording */

static void rec(pwsr_proxy *px, pair *pr, char dir, pws_tape_kind kind, const void *data, size_t len, int code,
                const char *reason, const char *headers_json)
{
    if (!px->tape || ST_GET(px, st_tape_failed))
        return;
    pws_tape_frame f = {.t_us = pws__mono_us() - px->t0, .conn = pr->ordinal, .dir = dir, .kind = kind,
                        .data = data, .len = len, .code = code, .reason = reason, .headers_json = headers_json};
    int rc = pws_tape_write(px->tape, &f);
    if (rc == PWS_ERR_SYSTEM || rc == PWS_ERR_NOMEM || rc == PWS_ERR_STATE) {
        ST_SET(px, st_tape_failed, true);
        pwsr__log(&px->lg, PWS_LOG_ERROR, "recording stopped: %s", pws_tape_writer_error(px->tape));
        return;
    }
    if (rc) {
        pwsr__log(&px->lg, PWS_LOG_WARN, "connection %u: %s", pr->ordinal, pws_tape_writer_error(px->tape));
        return;
    }
    if (dir != '-') {
        ST_SET(px, st_frames, ST_GET(px, st_frames) + 1);
        ST_SET(px, st_bytes, ST_GET(px, st_bytes) + len);
    }
    ST_SET(px, st_tape_bytes, pws_tape_writer_bytes(px->tape));
}

static void rec_event(pwsr_proxy *px, pair *pr, pws_tape_kind kind, const char *text)
{
    rec(px, pr, '-', kind, text, text ? strlen(text) : 0, 0, NULL, NULL);
}

/* A message that may quote what a peer sent (a malformed header line, a status reason),
 * with the known secrets replaced, for the tape and the log: malloc'd, NULL without memory. */
static char *redact_text(pwsr_proxy *px, const char *text)
{
    size_t n;
    return pwsr__redact(&px->rules, &px->secrets.set, text, strlen(text), &n, NULL);
}

/* Adds a literal secret (a key given, or seen in an auth message) to the rules.  A new one
 * also goes into the tape header's count, rewritten in place (pws_tape_writer_set_secrets):
 * the header was written before any client came. */
static void learn_secret(pwsr_proxy *px, const char *key)
{
    if (!pwsr__secrets_add(&px->secrets, key))
        return;
    if (px->tape)
        pws_tape_writer_set_secrets(px->tape, px->secrets.learned);
}

static void close_side(pws__link *l);

/* A whole message or control frame seen on the wire: redact and record. */
static void on_frame(pair *pr, char dir, int opcode, const unsigned char *data, size_t len, bool too_big,
                     uint64_t total)
{
    pwsr_proxy *px = pr->px;
    if (too_big) {
        char m[160];
        snprintf(m, sizeof m, "%s %s message of %llu bytes not recorded (limit %zu)",
                 dir == 'c' ? "client" : "server", opcode == PWS__OP_TEXT ? "text" : "binary",
                 (unsigned long long)total, px->o.max_message);
        rec_event(px, pr, PWS_TAPE_ERROR, m);
        return;
    }
    if (opcode == PWS__OP_CLOSE) {
        pr->saw_close = true;
        if (dir == 'c')
            pr->c_closed = true;
        else
            pr->s_closed = true;
        int code = len >= 2 ? data[0] << 8 | data[1] : 0;
        char reason[PWS_TAPE_MAX_REASON + 1] = "";
        if (len > 2) {
            size_t rl = len - 2 > PWS_TAPE_MAX_REASON ? PWS_TAPE_MAX_REASON : len - 2;
            memcpy(reason, data + 2, rl);
            reason[rl] = '\0';
        }
        size_t rlen;
        char *r = pwsr__redact(&px->rules, &px->secrets.set, reason, strlen(reason), &rlen, NULL);
        rec(px, pr, dir, PWS_TAPE_CLOSE, NULL, 0, code, r ? r : "***", NULL);
        free(r);
        if (dir == 's' && !pr->down.wsi)
            close_side(&pr->up); /* the echo we kept the upstream open for */
        return;
    }
    pws_tape_kind kind = opcode == PWS__OP_TEXT     ? PWS_TAPE_TEXT
                         : opcode == PWS__OP_BINARY ? PWS_TAPE_BINARY
                         : opcode == PWS__OP_PING   ? PWS_TAPE_PING
                                                     : PWS_TAPE_PONG;
    if (dir == 'c' && kind == PWS_TAPE_TEXT) {
        char key[PWS_MAX_KEY_LEN + 1];
        if (pws_auth_key_of((const char *)data, len, key, sizeof key))
            learn_secret(px, key);
        OPENSSL_cleanse(key, sizeof key);
    }
    size_t rlen;
    char *r = pwsr__redact(&px->rules, &px->secrets.set, (const char *)data, len, &rlen, NULL);
    if (!r) {
        rec_event(px, pr, PWS_TAPE_ERROR, "out of memory while redacting: frame not recorded");
        return;
    }
    rec(px, pr, dir, kind, r, rlen, 0, NULL, NULL);
    free(r);
}

static void on_client_frame(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                            uint64_t total)
{
    on_frame(user, 'c', opcode, data, len, too_big, total);
}

static void on_server_frame(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                            uint64_t total)
{
    on_frame(user, 's', opcode, data, len, too_big, total);
}

static void tap(pair *pr, bool from_client, const unsigned char *data, size_t len)
{
    pws__wsreader *rd = from_client ? &pr->rd_c : &pr->rd_s;
    if (rd->dead)
        return;
    char err[160];
    if (pws__ws_feed(rd, data, len, from_client ? on_client_frame : on_server_frame, pr, err, sizeof err)) {
        char m[220];
        snprintf(m, sizeof m, "%s frames no longer recorded: %s", from_client ? "client" : "server", err);
        rec_event(pr->px, pr, PWS_TAPE_ERROR, m);
        pwsr__log(&pr->px->lg, PWS_LOG_WARN, "connection %u: %s", pr->ordinal, m);
    }
}

/* ------------------------------------------------------------ pairs */

static void pair_maybe_free(pair *pr)
{
    if (pr->down.wsi || pr->up.wsi)
        return;
    pwsr_proxy *px = pr->px;
    for (pair **pp = &px->pairs; *pp; pp = &(*pp)->next)
        if (*pp == pr) {
            *pp = pr->next;
            break;
        }
    px->live--;
    if (pr->counted)
        px->clients--;
    ST_SET(px, st_active, px->live);
    pws__link_free(&pr->down);
    pws__link_free(&pr->up);
    pws__ws_reader_free(&pr->rd_c);
    pws__ws_reader_free(&pr->rd_s);
    if (pr->head.p)
        OPENSSL_cleanse(pr->head.p, pr->head.cap);
    pws_tape_buf_free(&pr->head);
    pws_tape_buf_free(&pr->early);
    if (pr->fwd_headers) {
        OPENSSL_cleanse(pr->fwd_headers, strlen(pr->fwd_headers));
        free(pr->fwd_headers);
    }
    free(pr);
}

/* Closes a side once what is queued toward it was written (or after a grace period). */
static void close_side(pws__link *l)
{
    if (!l->wsi)
        return;
    l->close_when_flushed = true;
    pws__link_set_rx(l, true);
    lws_callback_on_writable(l->wsi);
    lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, PROXY_CLOSE_GRACE_S);
}

/* The session reached the upstream (TCP, and TLS for wss): counted once. */
static void upstream_reached(pair *pr)
{
    pwsr_proxy *px = pr->px;
    if (pr->up_counted)
        return;
    pr->up_counted = true;
    ST_SET(px, st_up_reached, ST_GET(px, st_up_reached) + 1);
    ST_SET(px, st_up_failed_in_a_row, 0);
}

/* The session could not reach the upstream (why: for pwsr_proxy_upstream_error): counted once;
 * not while the proxy stops, which closes upstream connections itself. */
static void upstream_unreachable(pair *pr, const char *why)
{
    pwsr_proxy *px = pr->px;
    if (pr->up_counted || pws__server_stopping(&px->sv))
        return;
    pr->up_counted = true;
    char *safe = redact_text(px, why);
    pthread_mutex_lock(&px->up_error_mu);
    snprintf(px->up_error, sizeof px->up_error, "%s", safe ? safe : "***");
    pthread_mutex_unlock(&px->up_error_mu);
    free(safe);
    ST_SET(px, st_up_failed, ST_GET(px, st_up_failed) + 1);
    ST_SET(px, st_up_failed_in_a_row, ST_GET(px, st_up_failed_in_a_row) + 1);
}

/* Handshake failed: the client gets an HTTP error and both sides close. */
static void fail_pair(pair *pr, int status, const char *status_text, const char *why)
{
    pwsr_proxy *px = pr->px;
    if (pr->st == P_FAILED)
        return;
    pr->st = P_FAILED;
    char *safe = redact_text(px, why); /* why may quote the peer's bytes */
    if (pr->ordinal) { /* a client that never made a WebSocket request is not on the tape */
        rec_event(px, pr, PWS_TAPE_ERROR, safe ? safe : "*** (out of memory while redacting)");
        pwsr__log(&px->lg, PWS_LOG_WARN, "connection %u: %s", pr->ordinal, safe ? safe : "***");
    } else {
        pwsr__log(&px->lg, PWS_LOG_WARN, "refusing a client: %s", safe ? safe : "***");
    }
    free(safe);
    if (pr->down.wsi) {
        char resp[512];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s\n",
                         status, status_text, strlen(why) + 1, why);
        pws__link_send(&pr->down, resp, n > 0 && (size_t)n < sizeof resp ? (size_t)n : 0);
        close_side(&pr->down);
    }
    close_side(&pr->up);
}

static bool header_redacted(pwsr_proxy *px, const char *name)
{
    for (size_t i = 0; i < px->nhdr_redact; i++)
        if (pwsr__ieq(px->hdr_redact[i], name))
            return true;
    return false;
}

/* Hop-by-hop and handshake headers we set ourselves upstream. */
static bool header_not_forwarded(const char *name)
{
    static const char *const skip[] = {"host", "upgrade", "connection", "sec-websocket-key",
                                       "sec-websocket-version", "sec-websocket-extensions",
                                       "sec-websocket-accept", "content-length", "transfer-encoding",
                                       "keep-alive", "proxy-connection", "te", "trailer", NULL};
    for (int i = 0; skip[i]; i++)
        if (pwsr__ieq(skip[i], name))
            return true;
    return false;
}

static void send_upgrade_request(pair *pr)
{
    pwsr_proxy *px = pr->px;
    pws_tape_buf req = {0};
    upstream_reached(pr);
    const char *path = pr->head.p; /* set by on_request: the path to use */
    pws__ws_new_key(pr->up_key);
    int bad = pwsr__buf_printf(&req,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                               path, px->up.hostport, pr->up_key) ||
              (pr->fwd_headers && pwsr__buf_str(&req, pr->fwd_headers)) || pwsr__buf_str(&req, "\r\n");
    if (bad || pws__link_send(&pr->up, req.p, req.len)) {
        fail_pair(pr, 502, "Bad Gateway", "out of memory");
    } else {
        pr->st = P_UP_HANDSHAKE;
        pr->head.len = 0; /* now collects the response */
    }
    if (req.p)
        OPENSSL_cleanse(req.p, req.cap);
    pws_tape_buf_free(&req);
}

static int connect_upstream(pair *pr);

/* The client's upgrade request is complete in pr->head (headlen bytes, the
 * rest are early frames). */
static void on_request(pair *pr, size_t headlen)
{
    pwsr_proxy *px = pr->px;
    /* The client's part of the handshake is done: it is no longer pending, and from here the
     * upstream connect and upgrade have PWSR_HANDSHAKE_TIMEOUT_S. */
    if (!pws__hs_upgraded(px->sv.guard, pr->hs))
        return; /* the guard is closing it (timed out or evicted) */
    if (pr->down.wsi) /* a detached proxy (proxy_detached.h) has no socket */
        lws_set_timeout(pr->down.wsi, PENDING_TIMEOUT_USER_OK, PWSR_HANDSHAKE_TIMEOUT_S);
    if (px->clients >= px->o.max_clients) {
        char why[120];
        snprintf(why, sizeof why, "%u clients connected (max_clients)", px->clients);
        fail_pair(pr, 503, "Service Unavailable", why);
        return;
    }
    pr->counted = true;
    px->clients++;
    pws__http_head *h = malloc(sizeof *h); /* 16 KiB, once per connection */
    char err[160];
    if (!h || (pr->head.len > headlen && pwsr__buf_put(&pr->early, pr->head.p + headlen, pr->head.len - headlen))) {
        free(h);
        fail_pair(pr, 500, "Internal Server Error", "out of memory");
        return;
    }
    if (pws__http_parse(pr->head.p, headlen, true, h, err, sizeof err)) {
        free(h);
        fail_pair(pr, 400, "Bad Request", err);
        return;
    }
    const char *key = pws__http_get(h, "Sec-WebSocket-Key");
    if (strcmp(h->method, "GET") || !pws__http_has_token(pws__http_get(h, "Upgrade"), "websocket") ||
        !pws__http_has_token(pws__http_get(h, "Connection"), "upgrade") || !key) {
        free(h);
        fail_pair(pr, 400, "Bad Request", "not a WebSocket upgrade request");
        return;
    }
    pws__ws_accept(key, pr->down_accept);
    /* the path: the upstream URL's, unless it has none */
    const char *path = strcmp(px->up.path, "/") ? px->up.path : h->target;
    /* headers: forwarded unredacted; recorded as JSON with secrets replaced */
    pws_tape_buf fwd = {0}, js = {0};
    int bad = pwsr__buf_str(&js, "[");
    for (size_t i = 0; i < h->nheaders && !bad; i++) {
        if (!header_not_forwarded(h->names[i]))
            bad = pwsr__buf_printf(&fwd, "%s: %s\r\n", h->names[i], h->values[i]);
        const char *v = header_redacted(px, h->names[i]) ? PWS_TAPE_PLACEHOLDER : h->values[i];
        size_t rl;
        char *rv = pwsr__redact(&px->rules, &px->secrets.set, v, strlen(v), &rl, NULL);
        bad = bad || !rv || (i && pwsr__buf_str(&js, ",")) || pwsr__buf_str(&js, "[") ||
              pwsr__buf_json_string(&js, h->names[i], strlen(h->names[i])) || pwsr__buf_str(&js, ",") ||
              pwsr__buf_json_string(&js, rv, rl) || pwsr__buf_str(&js, "]");
        free(rv);
    }
    bad = bad || pwsr__buf_str(&js, "]");
    size_t pl;
    char *qpath = bad ? NULL : pwsr__redact_query(path, px->rules.fields, px->rules.nfields);
    char *rpath = qpath ? pwsr__redact(&px->rules, &px->secrets.set, qpath, strlen(qpath), &pl, NULL) : NULL;
    free(qpath);
    /* keep the path for the upstream request in head (the request is parsed already) */
    pr->head.len = 0;
    bad = bad || !rpath || pwsr__buf_str(&pr->head, path);
    free(h);
    if (bad) {
        free(rpath);
        pws_tape_buf_free(&fwd);
        pws_tape_buf_free(&js);
        fail_pair(pr, 500, "Internal Server Error", "out of memory");
        return;
    }
    pr->ordinal = ++px->next_ordinal;
    ST_SET(px, st_connections, px->next_ordinal);
    rec(px, pr, '-', PWS_TAPE_OPEN, rpath, pl, 0, NULL, js.p);
    pwsr__log(&px->lg, PWS_LOG_INFO, "connection %u: client asked for %s", pr->ordinal, rpath);
    free(rpath);
    pws_tape_buf_free(&js);
    pr->fwd_headers = fwd.p; /* NULL if none */
    pr->st = P_UP_CONNECT;
    connect_upstream(pr);
}

static int connect_upstream(pair *pr)
{
    pwsr_proxy *px = pr->px;
    if (!px->sv.ctx)
        return 0; /* detached (proxy_detached.h): the caller plays the upstream */
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = px->sv.ctx;
    ci.vhost = px->sv.vhost;
    ci.address = px->up.host;
    ci.port = px->up.port;
    ci.path = "/";
    ci.host = px->up.host;
    ci.method = "RAW";
    ci.local_protocol_name = "pwsr-proxy-up";
    ci.opaque_user_data = pr;
    ci.pwsi = &pr->up.wsi;
    if (!lws_client_connect_via_info(&ci)) {
        pr->up.wsi = NULL;
        if (!pr->up_failed) {
            pr->up_failed = true;
            char m[400];
            snprintf(m, sizeof m, "cannot connect to the upstream %s:%d", px->up.host, px->up.port);
            upstream_unreachable(pr, m);
            fail_pair(pr, 502, "Bad Gateway", m);
        }
        return -1;
    }
    lws_set_timeout(pr->up.wsi, PENDING_TIMEOUT_USER_OK, PWSR_HANDSHAKE_TIMEOUT_S);
    return 0;
}

static void on_response_head(pair *pr, const pws__http_head *hp, size_t headlen, char *expect);

/* Upstream response head complete (headlen bytes; the rest are frames). */
static void on_response(pair *pr, size_t headlen)
{
    pws__http_head *hp = malloc(sizeof *hp);
    char err[160], expect[32];
    if (!hp) {
        fail_pair(pr, 502, "Bad Gateway", "out of memory");
        return;
    }
    if (pws__http_parse(pr->head.p, headlen, false, hp, err, sizeof err)) {
        char m[220];
        snprintf(m, sizeof m, "upstream answered the upgrade with %s", err);
        free(hp);
        fail_pair(pr, 502, "Bad Gateway", m);
        return;
    }
    on_response_head(pr, hp, headlen, expect);
    free(hp);
}

static void on_response_head(pair *pr, const pws__http_head *hp, size_t headlen, char *expect)
{
    pwsr_proxy *px = pr->px;
    if (hp->status != 101) {
        char m[300];
        snprintf(m, sizeof m, "upstream refused the WebSocket upgrade: %d %.120s", hp->status, hp->reason);
        char *safe = redact_text(px, m); /* the reason is the upstream's */
        rec_event(px, pr, PWS_TAPE_ERROR, safe ? safe : "*** (out of memory while redacting)");
        pwsr__log(&px->lg, PWS_LOG_WARN, "connection %u: %s", pr->ordinal, safe ? safe : "***");
        free(safe);
        pr->st = P_FAILED;
        char resp[300];
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 %03d %.120s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                         hp->status, hp->reason);
        pws__link_send(&pr->down, resp, (size_t)n);
        close_side(&pr->down);
        close_side(&pr->up);
        return;
    }
    pws__ws_accept(pr->up_key, expect);
    const char *acc = pws__http_get(hp, "Sec-WebSocket-Accept");
    if (!acc || strcmp(acc, expect)) {
        fail_pair(pr, 502, "Bad Gateway", "upstream sent a wrong Sec-WebSocket-Accept");
        return;
    }
    const char *proto = pws__http_get(hp, "Sec-WebSocket-Protocol");
    pws_tape_buf resp = {0};
    int bad = pwsr__buf_printf(&resp,
                               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n",
                               pr->down_accept) ||
              (proto && pwsr__buf_printf(&resp, "Sec-WebSocket-Protocol: %.200s\r\n", proto)) ||
              pwsr__buf_str(&resp, "\r\n") || pws__link_send(&pr->down, resp.p, resp.len);
    pws_tape_buf_free(&resp);
    if (bad) {
        fail_pair(pr, 502, "Bad Gateway", "out of memory");
        return;
    }
    pr->st = P_OPEN;
    if (pr->up.wsi)
        lws_set_timeout(pr->up.wsi, NO_PENDING_TIMEOUT, 0);
    if (pr->down.wsi)
        lws_set_timeout(pr->down.wsi, NO_PENDING_TIMEOUT, 0);
    /* frames that came with the heads */
    if (pr->early.len) {
        pws__link_send(&pr->up, pr->early.p, pr->early.len);
        tap(pr, true, (const unsigned char *)pr->early.p, pr->early.len);
        pws_tape_buf_free(&pr->early);
    }
    pws__link_set_rx(&pr->down, true); /* it may have paused while the early bytes piled up */
    if (pr->head.len > headlen) {
        pws__link_send(&pr->down, pr->head.p + headlen, pr->head.len - headlen);
        tap(pr, false, (const unsigned char *)pr->head.p + headlen, pr->head.len - headlen);
    }
    pws_tape_buf_free(&pr->head);
}

/* Bytes from one side while open: forward, tap, and apply backpressure. */
static void forward(pair *pr, bool from_client, const unsigned char *data, size_t len)
{
    pwsr_proxy *px = pr->px;
    pws__link *to = from_client ? &pr->up : &pr->down, *from = from_client ? &pr->down : &pr->up;
    if (!to->wsi || to->close_when_flushed) {
        tap(pr, from_client, data, len); /* nobody to forward to, but it is still on the wire */
        return;
    }
    if (pws__link_send(to, data, len)) {
        rec_event(px, pr, PWS_TAPE_ERROR, "out of memory forwarding: connection closed");
        close_side(to);
        close_side(from);
        return;
    }
    tap(pr, from_client, data, len);
    if (pws__link_pending(to) > px->o.max_buffered && !from->rx_paused) {
        pws__link_set_rx(from, false);
        ST_SET(px, st_pauses, ST_GET(px, st_pauses) + 1);
    }
}

/* Plaintext from upstream. */
static int up_plain(void *user, const unsigned char *data, size_t len)
{
    pair *pr = user;
    if (pr->st == P_OPEN) {
        forward(pr, false, data, len);
        return 0;
    }
    if (pr->st != P_UP_HANDSHAKE)
        return 0;
    /* the blank line can only end in the new bytes: scan from 3 bytes before them, not from the
     * start (an upstream sending its head a byte at a time cost O(n^2) scanning) */
    size_t from = pr->head.len > 3 ? pr->head.len - 3 : 0;
    if (pwsr__buf_put(&pr->head, data, len)) {
        fail_pair(pr, 502, "Bad Gateway", "out of memory");
        return 0;
    }
    size_t hl = pws__http_head_len(pr->head.p + from, pr->head.len - from);
    if (hl)
        on_response(pr, from + hl);
    else if (pr->head.len > PWS__MAX_HEAD)
        fail_pair(pr, 502, "Bad Gateway", "upstream response head too large");
    return 0;
}

/* Bytes from the upstream socket (RAW_RX): TLS, then up_plain.  Returns what the callback
 * returns: -1 closes the upstream socket (a TLS error once open). */
static int up_rx(pair *pr, const void *in, size_t len)
{
    char err[400];
    bool ready = false;
    int rc = pws__link_rx(&pr->up, in, len, up_plain, pr, &ready, err, sizeof err);
    if (rc) {
        if (pr->st < P_OPEN) {
            if (pr->st == P_UP_CONNECT)
                upstream_unreachable(pr, err); /* the TLS handshake failed */
            fail_pair(pr, 502, "Bad Gateway", err);
        } else {
            rec_event(pr->px, pr, PWS_TAPE_ERROR, err);
            return -1;
        }
        return 0;
    }
    if (ready && pr->st == P_UP_CONNECT)
        send_upgrade_request(pr);
    return 0;
}

/* ------------------------------------------------------------ callbacks */

/* Once both sockets are gone, the end goes on the tape, after every frame. */
static void pair_end(pair *pr)
{
    if (pr->down.wsi || pr->up.wsi || pr->ended || !pr->ordinal)
        return;
    pr->ended = true;
    rec_event(pr->px, pr, pr->saw_close ? PWS_TAPE_CLOSED : PWS_TAPE_DROP, pr->first_gone);
}

static void side_closed(pair *pr, bool down)
{
    pwsr_proxy *px = pr->px;
    pws__link *l = down ? &pr->down : &pr->up, *other = down ? &pr->up : &pr->down;
    l->wsi = NULL;
    bool stopping = pws__server_stopping(&px->sv);
    if (!pr->first_gone)
        pr->first_gone = stopping ? "proxy stopped" : down ? "client" : "upstream";
    if (other->wsi) {
        if (!down && pr->st < P_OPEN && pr->st != P_FAILED) {
            if (pr->st == P_UP_CONNECT)
                upstream_unreachable(pr, px->up.tls ? "the upstream closed during the TLS handshake (or timed out)"
                                                    : "the upstream connection timed out");
            fail_pair(pr, 502, "Bad Gateway", "upstream closed during the handshake");
        } else if (down && pr->st == P_OPEN && pr->c_closed && !pr->s_closed && !stopping) {
            /* the client closed and left at once: give the upstream a moment to answer
             * its close, so the tape has the whole close handshake */
            pws__link_set_rx(other, true);
            lws_set_timeout(other->wsi, PENDING_TIMEOUT_USER_OK, 1);
        } else {
            close_side(other);
        }
    }
    pair_end(pr);
    pair_maybe_free(pr);
}

static int cb_down(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pwsr_proxy *px = ctx ? lws_context_user(ctx) : NULL;
    pair *pr = lws_get_opaque_user_data(wsi);
    if (!px)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* Being accepted (wsi is the listener): the handshake guard may refuse it, or close
         * older pending clients right here (their RAW_CLOSE runs inside this call). */
        return pws__hs_filter(px->sv.guard, wsi, user);
    case LWS_CALLBACK_RAW_ADOPT: {
        if (pws__server_stopping(&px->sv))
            return -1;
        /* The guard times the client's request out from here. */
        pws__hs_entry *hs;
        if (pws__hs_accept(px->sv.guard, wsi, &hs))
            return -1;
        pr = calloc(1, sizeof *pr);
        if (!pr) {
            pws__hs_closed(px->sv.guard, hs);
            return -1;
        }
        pr->px = px;
        pr->hs = hs;
        pr->down.wsi = wsi; /* the ordinal comes with a valid WebSocket request */
        pws__ws_reader_init(&pr->rd_c, true, px->o.max_message);
        pws__ws_reader_init(&pr->rd_s, false, px->o.max_message);
        pr->next = px->pairs;
        px->pairs = pr;
        px->live++;
        ST_SET(px, st_active, px->live);
        lws_set_opaque_user_data(wsi, pr);
        return 0;
    }
    case LWS_CALLBACK_RAW_RX:
        if (!pr)
            return -1;
        if (pr->st == P_OPEN) {
            forward(pr, true, in, len);
        } else if (pr->st == P_REQUEST) {
            if (pwsr__buf_put(&pr->head, in, len)) {
                fail_pair(pr, 500, "Internal Server Error", "out of memory");
                return 0;
            }
            size_t hl = pws__http_head_len(pr->head.p, pr->head.len);
            if (hl)
                on_request(pr, hl);
            else if (pr->head.len > PWS__MAX_HEAD)
                fail_pair(pr, 431, "Request Header Fields Too Large", "client request head too large");
        } else if (pr->st != P_FAILED) {
            /* frames before the upstream is open: hold them, bounded */
            if (pwsr__buf_put(&pr->early, in, len) || pr->early.len > px->o.max_buffered)
                pws__link_set_rx(&pr->down, false);
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!pr)
            return -1;
        if (pws__link_writeable(&pr->down, px->scratch))
            return -1;
        if (pr->up.rx_paused && pws__link_pending(&pr->down) <= px->o.max_buffered / 2)
            pws__link_set_rx(&pr->up, true);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (pr) {
            lws_set_opaque_user_data(wsi, NULL);
            pws__hs_closed(px->sv.guard, pr->hs);
            pr->hs = NULL;
            side_closed(pr, true);
        }
        return 0;
    default:
        break;
    }
    return 0;
}

static int cb_up(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pwsr_proxy *px = ctx ? lws_context_user(ctx) : NULL;
    pair *pr = lws_get_opaque_user_data(wsi);
    if (!px)
        return 0;
    char err[400];
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (pr) {
            lws_set_opaque_user_data(wsi, NULL);
            pr->up.wsi = NULL;
            if (!pr->first_gone)
                pr->first_gone = "upstream";
            if (!pr->up_failed) {
                pr->up_failed = true;
                snprintf(err, sizeof err, "cannot connect to the upstream %.100s:%d: %.150s", px->up.host, px->up.port,
                         in ? (const char *)in : "connection failed");
                upstream_unreachable(pr, err);
                fail_pair(pr, 502, "Bad Gateway", err);
            }
            pair_end(pr);
            pair_maybe_free(pr);
        }
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        if (!pr)
            return -1;
        pr->up.wsi = wsi;
        if (pr->st != P_UP_CONNECT) /* the client left meanwhile */
            return -1;
        if (px->up.tls) {
            if (pws__link_tls_start(&pr->up, px->up_ctx, px->up.host, err, sizeof err)) {
                upstream_unreachable(pr, err);
                fail_pair(pr, 502, "Bad Gateway", err);
                return 0;
            }
        } else {
            send_upgrade_request(pr);
        }
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return pr ? up_rx(pr, in, len) : -1;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!pr)
            return -1;
        if (pws__link_writeable(&pr->up, px->scratch))
            return -1;
        if (pr->down.rx_paused && pws__link_pending(&pr->up) <= px->o.max_buffered / 2 && pr->st == P_OPEN)
            pws__link_set_rx(&pr->down, true);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (pr) {
            lws_set_opaque_user_data(wsi, NULL);
            side_closed(pr, false);
        }
        return 0;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------ thread, API */

static const char *own(pwsr_proxy *px, const char *s)
{
    if (!s)
        return NULL;
    if (px->nowned >= sizeof px->owned / sizeof px->owned[0])
        return NULL;
    char *d = strdup(s);
    if (d)
        px->owned[px->nowned++] = d;
    return d;
}

static void proxy_free(pwsr_proxy *px)
{
    pws__server_stop(&px->sv); /* closes every socket: RAW_CLOSE records their ends */
    while (px->pairs) {
        /* sockets lws never reported closed (none expected): free what is left */
        pair *pr = px->pairs;
        pr->down.wsi = pr->up.wsi = NULL;
        pair_maybe_free(pr);
    }
    if (px->tape)
        pws_tape_writer_close(px->tape);
    if (px->up_ctx)
        SSL_CTX_free(px->up_ctx);
    pwsr__secrets_free(&px->secrets);
    for (size_t i = 0; i < px->nowned; i++)
        free(px->owned[i]);
    free(px->scratch);
    pthread_mutex_destroy(&px->up_error_mu);
    free(px);
}

/* The proxy without its listener: options, redaction rules, the tape, the upstream TLS
 * context.  NULL with a message on failure. */
static pwsr_proxy *proxy_new(const pwsr_proxy_options *opts, char *errbuf, size_t errcap)
{
    char scratch_err[8];
    if (!errbuf) {
        errbuf = scratch_err;
        errcap = sizeof scratch_err;
    }
    if (!opts || !opts->upstream || !opts->tape_path) {
        snprintf(errbuf, errcap, "proxy: upstream and tape_path are required");
        return NULL;
    }
    if (opts->nredact_fields > PWS_TAPE_MAX_REDACT || opts->nredact_headers > PWS_TAPE_MAX_REDACT ||
        opts->nsecrets > sizeof opts->secrets / sizeof opts->secrets[0] || opts->max_clients > PWSR_MAX_CLIENTS) {
        snprintf(errbuf, errcap, "proxy: too many redact fields, headers, secrets or clients");
        return NULL;
    }
    pwsr_proxy *px = calloc(1, sizeof *px);
    if (!px || !(px->scratch = malloc(LWS_PRE + PWS__WRITE_CHUNK))) {
        free(px);
        snprintf(errbuf, errcap, "proxy: out of memory");
        return NULL;
    }
    pthread_mutex_init(&px->up_error_mu, NULL);
    px->o = *opts;
    px->o.upstream = own(px, opts->upstream);
    px->o.tape_path = own(px, opts->tape_path);
    px->o.host = own(px, opts->host ? opts->host : "127.0.0.1");
    px->o.ca_file = own(px, opts->ca_file);
    if (!px->o.max_buffered)
        px->o.max_buffered = PWSR_DEFAULT_MAX_BUFFERED;
    if (!px->o.max_message || px->o.max_message > PWS_TAPE_MAX_PAYLOAD)
        px->o.max_message = PWS_TAPE_MAX_PAYLOAD;
    if (!px->o.max_clients)
        px->o.max_clients = PWSR_DEFAULT_MAX_CLIENTS;
    px->lg = (pwsr__logger){opts->log_fn, opts->log_user, opts->log_level, &px->secrets.set};
    if (!px->o.upstream || !px->o.tape_path || !px->o.host) {
        snprintf(errbuf, errcap, "proxy: out of memory");
        goto fail;
    }
    if (pws__url_parse(px->o.upstream, &px->up, errbuf, errcap))
        goto fail;

    /* redaction rules */
    px->rules.auth_params = true;
    for (size_t i = 0; i < opts->nredact_fields; i++) {
        if (!opts->redact_fields[i] || !*opts->redact_fields[i] || strlen(opts->redact_fields[i]) > PWS_TAPE_MAX_NAME) {
            snprintf(errbuf, errcap, "proxy: empty or too long field name to redact");
            goto fail;
        }
        px->rules.fields[px->rules.nfields++] = own(px, opts->redact_fields[i]);
    }
    static const char *const always[] = {"authorization", "cookie", "x-api-key", "proxy-authorization"};
    for (size_t i = 0; i < 4; i++)
        px->hdr_redact[px->nhdr_redact++] = always[i];
    for (size_t i = 0; i < opts->nredact_headers; i++) {
        if (!opts->redact_headers[i] || !*opts->redact_headers[i] ||
            strlen(opts->redact_headers[i]) > PWS_TAPE_MAX_NAME) {
            snprintf(errbuf, errcap, "proxy: empty or too long header name to redact");
            goto fail;
        }
        px->hdr_redact[px->nhdr_redact++] = own(px, opts->redact_headers[i]);
    }
    for (size_t i = 0; i < opts->nsecrets; i++)
        if (opts->secrets[i])
            learn_secret(px, opts->secrets[i]);

    /* the tape, with a header that lists the redactions (and a URL without secrets) */
    pws_tape_header h = {.version = PWS_TAPE_VERSION, .start_us = pws__wall_us(),
                         .tool = "polyws " PWS_VERSION_STRING, .mode = opts->mode ? opts->mode : "proxy"};
    size_t ul;
    char *qurl = pwsr__redact_query(px->o.upstream, px->rules.fields, px->rules.nfields);
    char *url = qurl ? pwsr__redact(&px->rules, &px->secrets.set, qurl, strlen(qurl), &ul, NULL) : NULL;
    free(qurl);
    h.url = url ? url : "";
    h.redacted.auth_params = true;
    for (size_t i = 0; i < px->rules.nfields; i++)
        h.redacted.fields[h.redacted.nfields++] = px->rules.fields[i];
    for (size_t i = 0; i < px->nhdr_redact && h.redacted.nheaders < PWS_TAPE_MAX_REDACT; i++)
        h.redacted.headers[h.redacted.nheaders++] = px->hdr_redact[i];
    h.redacted.secrets = px->secrets.learned; /* the configured ones; learned ones are added in place */
    px->t0 = pws__mono_us();
    int rc = pws_tape_writer_open(px->o.tape_path, &h, opts->fsync_each, &px->tape, errbuf, errcap);
    free(url);
    if (rc)
        goto fail;

    if (px->up.tls) {
        px->up_ctx = pws__client_ssl_ctx(px->o.ca_file, opts->insecure, errbuf, errcap);
        if (!px->up_ctx)
            goto fail;
        if (opts->insecure)
            pwsr__log(&px->lg, PWS_LOG_WARN, "the upstream certificate is not verified (--insecure)");
    }
    return px;
fail:
    proxy_free(px);
    return NULL;
}

pwsr_proxy *pwsr_proxy_start(const pwsr_proxy_options *opts, char *errbuf, size_t errcap)
{
    char scratch_err[8];
    if (!errbuf) {
        errbuf = scratch_err;
        errcap = sizeof scratch_err;
    }
    pwsr_proxy *px = proxy_new(opts, errbuf, errcap);
    if (!px)
        return NULL;
    px->protocols[0] = (struct lws_protocols){.name = "pwsr-proxy-down", .callback = cb_down, .tx_packet_size = PWS__SERVER_TX_PACKET};
    px->protocols[1] = (struct lws_protocols){.name = "pwsr-proxy-up", .callback = cb_up, .tx_packet_size = PWS__SERVER_TX_PACKET};
    pws__server_options so = {.name = "pwsr-proxy", .err_prefix = "proxy: ", .host = px->o.host, .port = opts->port,
                              .protocols = px->protocols, .raw_protocol = "pwsr-proxy-down", .user = px,
                              .fds_per_open = 2, .serv_buf_size = 256 * 1024};
    /* two descriptors per client (its upstream), the pending ones, the reserve */
    so.fd_limit = 2 * px->o.max_clients + (opts->max_pending ? opts->max_pending : PWSR_DEFAULT_MAX_PENDING) +
                  PWS__SERVER_FD_RESERVE;
    if (pwsr__hs_limits("proxy", opts->handshake_timeout_ms, opts->max_pending, opts->max_per_address, &so.handshake,
                        errbuf, errcap))
        goto fail;
    if (pws__server_start(&px->sv, &so, errbuf, errcap))
        goto fail;
    return px;
fail:
    proxy_free(px);
    return NULL;
}

int pwsr_proxy_port(const pwsr_proxy *px)
{
    return px->sv.port;
}

const char *pwsr_proxy_url(const pwsr_proxy *px)
{
    return px->sv.url;
}

void pwsr_proxy_get_stats(pwsr_proxy *px, pwsr_proxy_stats *out)
{
    memset(out, 0, sizeof *out);
    out->frames = ST_GET(px, st_frames);
    out->bytes = ST_GET(px, st_bytes);
    out->tape_bytes = ST_GET(px, st_tape_bytes);
    out->connections = ST_GET(px, st_connections);
    out->active = ST_GET(px, st_active);
    out->pauses = ST_GET(px, st_pauses);
    out->tape_failed = ST_GET(px, st_tape_failed);
    out->upstream_reached = ST_GET(px, st_up_reached);
    out->upstream_failed = ST_GET(px, st_up_failed);
    out->upstream_failed_in_a_row = ST_GET(px, st_up_failed_in_a_row);
    pwsr__hs_stats(px->sv.guard, &out->handshakes);
}

void pwsr_proxy_upstream_error(pwsr_proxy *px, char *buf, size_t cap)
{
    if (!cap)
        return;
    pthread_mutex_lock(&px->up_error_mu);
    snprintf(buf, cap, "%s", px->up_error);
    pthread_mutex_unlock(&px->up_error_mu);
}

void pwsr_proxy_stop(pwsr_proxy *px)
{
    if (px)
        proxy_free(px);
}

/* ------------------------------------------------------------ without sockets (proxy_detached.h) */

pwsr_proxy *pwsr__proxy_detached(const pwsr_proxy_options *opts, char *errbuf, size_t errcap)
{
    return proxy_new(opts, errbuf, errcap);
}

int pwsr__proxy_detached_open(pwsr_proxy *px, const void *request, size_t len, char accept_up[32])
{
    if (px->sv.ctx || px->pairs)
        return -1; /* a listening proxy, or a pair already open */
    pair *pr = calloc(1, sizeof *pr);
    if (!pr)
        return -1;
    /* as RAW_ADOPT, with no socket */
    pr->px = px;
    pws__ws_reader_init(&pr->rd_c, true, px->o.max_message);
    pws__ws_reader_init(&pr->rd_s, false, px->o.max_message);
    pr->next = px->pairs;
    px->pairs = pr;
    px->live++;
    /* as RAW_RX before the upgrade, then RAW_CONNECTED on a ws:// upstream */
    size_t hl = 0;
    if (!pwsr__buf_put(&pr->head, request, len) && (hl = pws__http_head_len(pr->head.p, pr->head.len)) > 0)
        on_request(pr, hl);
    if (pr->st == P_UP_CONNECT)
        send_upgrade_request(pr);
    if (pr->st != P_UP_HANDSHAKE) {
        side_closed(pr, false); /* the tape gets the end of a pair that had an ordinal */
        return -1;
    }
    pws__ws_accept(pr->up_key, accept_up);
    return 0;
}

int pwsr__proxy_detached_upstream(pwsr_proxy *px, const void *data, size_t len)
{
    return px->pairs ? up_rx(px->pairs, data, len) : -1;
}

size_t pwsr__proxy_detached_to_client(pwsr_proxy *px, const char **data)
{
    pair *pr = px->pairs;
    size_t n = pr && pr->down.out.p ? pr->down.out.len - pr->down.out_off : 0;
    *data = n ? pr->down.out.p + pr->down.out_off : NULL;
    return n;
}

void pwsr__proxy_detached_close(pwsr_proxy *px)
{
    if (px->pairs)
        side_closed(px->pairs, false);
}
