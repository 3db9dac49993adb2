/*
 * conn.c - a mock connection's lws callback and lifecycle (see conn.h).
 *
 * The entry of the connection layer: lws calls pwsm__conn_callback for every
 * event of the "polyws-mock" protocol.  Here a connection is accepted (the
 * request path must name a market, max_connections is enforced), opened
 * (ordinal, market, greeting and timers, or a driver that takes it over),
 * receives client messages (reassembled, journaled, then offered to the driver
 * or answered by the real service, conn_service.c), hears the client's close,
 * and is closed and freed.  Writing is conn_write.c's.
 *
 * A connection that plays a scenario script has a driver (the engine, engine.c)
 * that sequences its steps; the connection calls it only through the
 * pwsm__conn_driver callbacks.  Without a driver a connection serves like the
 * real service from the start; with one it serves during SERVE steps and after
 * the last step.
 */
#include "conn_internal.h"
#include "wire/buf.h" /* pws__append: the message is reassembled in it */

#include <stdlib.h>
#include <string.h>

/* The body of the 404 for a path that is no market. */
#define MARKET_404_BODY "no market at this path: use /stocks, /options, /forex, /crypto or /indices"

const size_t pwsm__conn_size = sizeof(conn);

static void handle_message(conn *c, bool binary)
{
    pwsm_server *s = c->srv;
    const char *text = c->rx;
    pwsm__msg m = {PWSM__ACT_INVALID, NULL};
    if (!binary) {
        m = pwsm__msg_parse(text, c->rx_len);
        if (m.action == PWSM__ACT_AUTH)
            pwsm__remember_secret(s, m.params);
    }
    size_t jlen = 0;
    char *redacted = pwsm__redact(text, c->rx_len, binary, &s->secrets, &jlen);
    if (c->skip_msgs)
        c->skip_msgs--; /* journaled from the socket buffer during a STALL */
    else if (redacted)
        pwsm__record(c, 'c', binary ? "binary" : "text", redacted, jlen);
    else
        pwsm__record_str(c, 'c', binary ? "binary" : "text", "*** (out of memory while redacting)");
    if (c->driver && redacted)
        c->driver->received(c->driver_self, binary, redacted, jlen);
    free(redacted);

    if (binary || !pwsm__conn_open(c) || c->stalled) {
        pwsm__msg_free(&m);
        return; /* binary frames are journaled and otherwise ignored */
    }
    if (!pwsm__rate_allows(c)) {
        pwsm__enqueue_status(c, "error", s->o.texts.rate_limit);
        if (s->o.rate_close)
            pwsm__close_after_queue(c, s->o.policy_close_code, NULL);
    } else if (!(c->driver && c->driver->message(c->driver_self, &m, text, c->rx_len))) {
        pwsm__serve_message(c, &m);
    }
    pwsm__msg_free(&m);
    lws_callback_on_writable(c->wsi);
}

static int on_receive(conn *c, const void *in, size_t len)
{
    pwsm_server *s = c->srv;
    if (lws_is_first_fragment(c->wsi))
        c->rx_len = 0;
    if (c->rx_len + len > s->o.max_message)
        return pwsm__close_now(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
    /* within max_message, so the append fails only without memory */
    if (pws__append(&c->rx, &c->rx_len, &c->rx_cap, in, len, s->o.max_message))
        return pwsm__close_now(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    if (lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0) {
        handle_message(c, lws_frame_is_binary(c->wsi) != 0);
        c->rx_len = 0;
    }
    return 0;
}

/* What a connection with a driver has as its pwsm_script: nothing (its steps say everything). */
static const pwsm_script no_script;

static int on_established(pwsm_server *s, conn *c, struct lws *wsi)
{
    uint32_t ordinal = atomic_load(&s->accepted) + 1;
    if (pwsm__gen_init(&c->gen, s->o.seed, ordinal) != 0)
        return -1;
    /* A driver (the scenario engine) may take the connection over before it starts. */
    if (s->attach && s->attach(s->attach_user, c, ordinal) != 0) {
        pwsm__gen_free(&c->gen);
        return -1;
    }
    atomic_store(&s->accepted, ordinal);
    c->srv = s;
    c->wsi = wsi;
    c->ordinal = ordinal;
    c->script = c->driver ? &no_script : pwsm__script_for(s, ordinal);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->live++;

    char path[256] = "";
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
        path[0] = '\0';
    /* The request headers the journal file keeps (for a HAR made from it): none that carries
     * credentials.  Values over 255 bytes are left out. */
    static const char *const hname[PWSM__OPEN_HEADERS] = {"Host", "Origin", "User-Agent"};
    static const enum lws_token_indexes htok[PWSM__OPEN_HEADERS] = {WSI_TOKEN_HOST, WSI_TOKEN_ORIGIN,
                                                                    WSI_TOKEN_HTTP_USER_AGENT};
    char hval[PWSM__OPEN_HEADERS][256];
    const char *hv[PWSM__OPEN_HEADERS];
    for (size_t i = 0; i < PWSM__OPEN_HEADERS; i++)
        hv[i] = lws_hdr_total_length(wsi, htok[i]) > 0 && lws_hdr_copy(wsi, hval[i], sizeof hval[i], htok[i]) >= 0
                    ? hval[i]
                    : NULL;
    pwsm__record_open(c, path, hname, hv, PWSM__OPEN_HEADERS);
    int market = pwsm__market_from_path(path); /* HTTP_CONFIRM_UPGRADE refused any other path */
    c->market = market < 0 ? PWSM__MARKET_STOCKS : (pwsm__market)market;

    if (!c->driver) {
        c->serving = true;
        if (!c->script->no_greeting)
            pwsm__enqueue_status(c, "connected", NULL);
        pwsm__auth_timer_arm(c);
    }
    if (s->o.ping_interval_ms)
        pwsm__ping_arm(c);
    if (c->driver)
        c->driver->start(c->driver_self);
    lws_callback_on_writable(wsi);
    return 0;
}

static void on_closed(pwsm_server *s, conn *c)
{
    if (!c->srv)
        return;
    /* The sul live inside this per-session data, which lws frees after we return. */
    lws_sul_cancel(&c->auth_sul);
    lws_sul_cancel(&c->stream_sul);
    lws_sul_cancel(&c->ping_sul);
    lws_sul_cancel(&c->peek_sul);
    lws_sul_cancel(&c->driver_sul);
    if (c->driver)
        c->driver->ended(c->driver_self); /* the engine journals a wait it cut short */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->live--;
    bool clean = (c->sent_close || c->peer_closed) && !c->dropped;
    pwsm__record(c, '-', clean ? "closed" : "drop", NULL, 0);
    pwsm__outqueue_free(&c->q);
    pwsm__outqueue_free(&c->backlog);
    free(c->wbuf);
    free(c->rx);
    free(c->key);
    free(c->frame);
    pwsm__gen_free(&c->gen);
    if (c->xgen_ready)
        pwsm__gen_free(&c->xgen);
    for (size_t i = 0; i < c->nsubs; i++)
        free(c->subs[i]);
    free(c->subs);
    free(c->rate_ring);
    c->srv = NULL;
}

/* ---------------------------------------------------------------- the driver (conn.h) */

void pwsm__conn_drive(conn *c, const pwsm__conn_driver *driver, void *self)
{
    c->driver = driver;
    c->driver_self = self;
}

static void driver_timer_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, driver_sul);
    c->driver->timer(c->driver_self);
}

void pwsm__conn_timer(conn *c, uint32_t ms)
{
    lws_sul_cancel(&c->driver_sul);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->driver_sul, driver_timer_cb, (lws_usec_t)ms * 1000);
}

void pwsm__conn_timer_cancel(conn *c)
{
    lws_sul_cancel(&c->driver_sul);
}

/* ---------------------------------------------------------------- the lws callback */

int pwsm__conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pwsm_server *s = lws_context_user(lws_get_context(wsi));
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* The path picks the market; any other path gets a 404 and no WebSocket. */
        char path[256] = "";
        if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) >= 0 && pwsm__market_from_path(path) >= 0)
            return 0;
        return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, MARKET_404_BODY) ? -1 : 1;
    }
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* Being accepted (wsi is the listener), before TLS: every TCP attempt is counted here
         * (those that never reach the upgrade, a client refusing our certificate, only here);
         * then the handshake guard (wire/handshake.h) may refuse it, or close older connections
         * that never finished their upgrade. */
        atomic_fetch_add(&s->tcp_accepted, 1);
        return pws__hs_filter(s->sv.guard, wsi, user);
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: {
        /* Accepted: the guard times it out until it upgrades. */
        pws__hs_entry *e;
        if (pws__hs_accept(s->sv.guard, wsi, &e))
            return -1;
        lws_set_opaque_user_data(wsi, e);
        return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* Refuse the upgrade beyond max_connections (the client sees the handshake fail), or
         * if the guard closes it already (its handshake timed out or was evicted). */
        if (s->live >= s->o.max_connections)
            return 1;
        return pws__hs_upgraded(s->sv.guard, lws_get_opaque_user_data(wsi)) ? 0 : 1;
    case LWS_CALLBACK_WSI_DESTROY:
        /* Every accepted socket ends here, upgraded or not (the listener has no entry). */
        pws__hs_closed(s->sv.guard, lws_get_opaque_user_data(wsi));
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(s, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return c && c->srv ? on_receive(c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && c->srv ? pwsm__on_writeable(c) : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->srv) {
            if (c->skip_pongs)
                c->skip_pongs--; /* journaled from the socket buffer during a STALL */
            else
                pwsm__record_scrubbed(c, 'c', "pong", in, len);
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && c->srv) {
            const unsigned char *p = in;
            int code = len >= 2 ? (p[0] << 8 | p[1]) : 0;
            char reason_text[CLOSE_REASON_MAX + 1] = "";
            if (len > 2) {
                size_t rl = len - 2 > CLOSE_REASON_MAX ? CLOSE_REASON_MAX : len - 2;
                memcpy(reason_text, p + 2, rl);
                reason_text[rl] = '\0';
            }
            if (c->skip_close)
                c->skip_close = false; /* journaled from the socket buffer during a STALL */
            else
                pwsm__record_close(c, 'c', code, reason_text);
            c->peer_closed = true;
            /* After our raw code-less close frame, the client's close is the answer: end now
             * (non-zero here makes lws close without echoing it). */
            if (c->raw_close)
                return -1;
            /* lws answers with the same payload; an answer to our own close needs none. */
            if (!c->sent_close)
                pwsm__record_close(c, 's', code, reason_text);
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c)
            on_closed(s, c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
