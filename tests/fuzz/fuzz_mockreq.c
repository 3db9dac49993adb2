/*
 * fuzz_mockreq.c - libFuzzer target for the mock server's request path: what
 * libpwsmock does with the bytes its clients send.
 *
 * Each input is a short session of up to three clients against the mock's
 * real connection code (conn*.c, protocol.c, engine*.c, the journal), served
 * by lws as pwsm_start serves it (the same protocol callback and per-session
 * data, UTF-8 validation on) but on an lws context of the target's own, with
 * no listener and no service thread: a client is one end of a socketpair whose
 * other end the context adopts (lws_adopt_socket_vhost, the call lws makes for
 * a socket its listener accepted), and the target runs lws_service itself,
 * never waiting.  lws parses the HTTP upgrade and the frames (its own code,
 * not instrumented, so libFuzzer gets no coverage from it); the mock sees what
 * real bytes produce: the market path (HTTP_CONFIRM_UPGRADE), max_connections,
 * ESTABLISHED, messages reassembled from fragments up to max_message, pongs,
 * the client's close, CLOSED, and its answers go back over the socket.
 * Timers never fire within a session (nothing waits), so the auth timeout,
 * paced streams, SLEEP and timed STALL steps are not covered.
 *
 * Input: byte 0 picks the server settings: 0 the real service with two keys, a
 * plan, a rate limit and max_message 4096; 1 the real service with any key,
 * kick_newer, a closing rate limit, per-ordinal fault scripts, max_connections 2;
 * 2 and up one of the scenarios in scenarios/ (their scripts played by the
 * engine; made cheap: payloads cut to 16 KiB, STREAM steps to 60 events, REPEAT to
 * 4 iterations).  Then records, each  OP LEN_LO LEN_HI PAYLOAD[LEN]  (LEN cut to what
 * is left), OP's low two bits picking the client (3 is client 0) and the rest
 * the kind (enum kind).  A client's first record that is neither OPEN nor RAW
 * is preceded by an upgrade request for /stocks.  After each record lws runs
 * until nothing happens (bounded: the stream may not end); at the end each
 * client shuts its writing side down, then closes, and lws runs until every
 * socket it adopted is gone.
 *
 * Checks:
 *  - every socket the context adopted is destroyed once its client is gone
 *    (no connection outlives its client, none hangs);
 *  - the journal: each connection ordinal has one "open" first and one
 *    "closed" or "drop" last; as many ordinals as clients answered 101;
 *  - no accepted key appears in any journal entry (client messages, pongs,
 *    close reasons, server frames), and a journaled auth message has its
 *    params replaced by "***";
 *  - with the real service (settings 0 and 1), what follows the 101 are
 *    well-formed server frames (unmasked, no RSV bits, control frames of at
 *    most 125 bytes) whose text frames are UTF-8 JSON arrays.
 *
 * Not covered: lws' own HTTP and frame parsing as such (it runs, but is not
 * instrumented and not checked here), TLS, timers, and the connector.
 * FUZZ_VERBOSE=1 prints each session's journal and answers on stderr.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus through the
 * same checks under any compiler (fuzz_mockreq_corpus).  tests/fuzz/seeds.py
 * writes the seeds (corpus_mockreq/) from the repository's scenarios and tapes.
 */
#include "server.h" /* mockserver/src: pwsm__server_init, the connection protocol (conn.h) */

#include "wire/buf.h"
#include "wire/codec.h"   /* pws__utf8_valid */
#include "wire/wsproto.h" /* pws__ws_frame, the reader of the mock's answers */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h> /* SIOCOUTQ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mockreq: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#ifndef POLYWS_SCENARIOS_DIR
#define POLYWS_SCENARIOS_DIR "scenarios"
#endif

#define NCLIENTS 3               /* clients per session */
#define MAX_SCENARIOS 128        /* scenario files loaded */
#define RESP_KEEP (64u << 10)    /* bytes of the mock's answer kept per client for the checks */
#define BIG_MAX (20u << 10)      /* bytes of one BIG message: past every max_message set below */
#define ROUNDS_PER_RECORD 16     /* lws_service rounds after a record, at most ... */
#define ROUNDS_PER_INPUT 96      /* ... and for all the records of an input (a stream need not end) */
#define ROUNDS_AT_END 512        /* ... after the clients shut down, and again after they close */
#define WRITE_TRIES 64           /* rounds a blocked client write waits for the mock to read */
#define SCENARIO_DATA_MAX 16384  /* bytes of a scenario step's payload kept */
#define SCENARIO_STREAM_MAX 60   /* events of a STREAM step kept ... */
#define SCENARIO_BATCH_MAX 10    /* ... in frames of at most this many */
#define SCENARIO_REPEAT_MAX 4    /* iterations of a REPEAT kept */

/* The accepted keys of setting 0; they must never appear in the journal. */
static const char *const keys0[] = {"FUZZKEY-4f3c2a1b9d", "FUZZKEY-second-key", NULL};

/* Record kinds (OP >> 2, modulo K_COUNT). */
enum kind {
    K_OPEN = 0,     /* upgrade request: PAYLOAD[0] picks the path, the rest goes in as header lines */
    K_TEXT,         /* a text message in one frame */
    K_BINARY,       /* a binary message in one frame */
    K_TEXT_FIRST,   /* the first fragment of a text message */
    K_BINARY_FIRST, /* the first fragment of a binary message */
    K_CONT,         /* a continuation, not final */
    K_CONT_LAST,    /* the final continuation */
    K_PING,         /* a ping with PAYLOAD (any length: over 125 is a protocol error) */
    K_PONG,         /* an unsolicited pong */
    K_CLOSE,        /* a close frame, PAYLOAD as it is (code, reason) */
    K_RAW,          /* PAYLOAD written as it is */
    K_BIG,          /* a text message: PAYLOAD[2..] repeated to PAYLOAD[0..1] * 16 bytes */
    K_SHUT,         /* the client stops writing (shutdown SHUT_WR) */
    K_COUNT
};

/* Paths of an OPEN record: the five markets, variants, and paths with no market. */
static const char *const paths[] = {"/stocks", "/options", "/forex",  "/crypto", "/indices", "/stocks/",
                                    "/",       "/nope",    "/stocks?apiKey=FUZZKEY-4f3c2a1b9d"};

/* One client: our end of its socketpair and what the mock sent it. */
typedef struct client {
    int fd;              /* our end, -1 before the first record for it and after the end */
    bool shut;           /* we stopped writing */
    bool eof;            /* the mock's end is closed (or failed) */
    bool used;           /* it connected in this session */
    pws__buf got;        /* the first RESP_KEEP bytes the mock sent */
} client;

static struct lws_context *g_ctx;  /* the context serving the mock's protocol, kept across inputs */
static struct lws_vhost *g_vhost;  /* its vhost, which listens nowhere */
static struct lws_protocols g_protocols[2];
static pwsm_server g_srv;          /* the context's user: set up afresh for each input */
static unsigned long g_callbacks;  /* protocol callbacks so far: lws did something */
static long g_live;                /* sockets lws created and has not destroyed yet */
static pwss_scenario *g_scen[MAX_SCENARIOS];
static size_t g_nscen;
static client g_cl[NCLIENTS];
static unsigned g_rounds_left;     /* of ROUNDS_PER_INPUT */

/* The mock's callback, counting what lws does. */
static int count_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    g_callbacks++;
    if (reason == LWS_CALLBACK_WSI_CREATE)
        g_live++;
    else if (reason == LWS_CALLBACK_WSI_DESTROY)
        g_live--;
    return pwsm__conn_callback(wsi, reason, user, in, len);
}

/* Cuts what makes a scenario's session costly (a 4 MB frame, a STREAM of 100000 events, a
 * REPEAT of thousands) so that every input stays cheap: the same steps, smaller.  The data is
 * cut where it is; pwss_free still frees it. */
static void make_cheap(pwss_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pwss_step *st = &steps[i];
        if (st->data && st->len > SCENARIO_DATA_MAX) {
            st->len = SCENARIO_DATA_MAX;
            st->data[st->len] = '\0';
        }
        if (st->kind == PWSS_STEP_STREAM) {
            if (st->stream.count > SCENARIO_STREAM_MAX)
                st->stream.count = SCENARIO_STREAM_MAX;
            if (st->stream.batch > SCENARIO_BATCH_MAX)
                st->stream.batch = SCENARIO_BATCH_MAX;
        }
        if (st->kind == PWSS_STEP_REPEAT) {
            if (st->times > SCENARIO_REPEAT_MAX)
                st->times = SCENARIO_REPEAT_MAX;
            make_cheap(st->body, st->nbody);
        }
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scenarios of scenarios/ in name order (byte order, as tests/fuzz/seeds.py lists them); one
 * that does not load keeps its place, as the real service. */
static void load_scenarios(void)
{
    DIR *d = opendir(POLYWS_SCENARIOS_DIR);
    char *names[MAX_SCENARIOS];
    size_t n = 0;
    struct dirent *de;
    while (d && n < MAX_SCENARIOS && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0)
            names[n++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", POLYWS_SCENARIOS_DIR, names[i]);
        pwss_scenario *sc = names[i] ? pwss_load(path, err, sizeof err) : NULL; /* NULL: the real service */
        for (size_t k = 0; sc && k < sc->nscripts; k++)
            make_cheap(sc->scripts[k].steps, sc->scripts[k].nsteps);
        if (sc)
            make_cheap(sc->default_script.steps, sc->default_script.nsteps);
        g_scen[g_nscen++] = sc;
        free(names[i]);
    }
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(0, NULL);
    load_scenarios();
    /* As server_start.c and wire/server.c set them up, with the counting callback. */
    g_protocols[0] = (struct lws_protocols){
        .name = "polyws-mock",
        .callback = count_cb,
        .per_session_data_size = pwsm__conn_size,
        .tx_packet_size = PWS__SERVER_TX_PACKET,
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    info.user = &g_srv;
    info.count_threads = 1;
    info.fd_limit_per_thread = 64;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = g_protocols;
    info.vhost_name = "pwsmock";
    g_ctx = lws_create_context(&info);
    FUZZ_CHECK(g_ctx != NULL);
    g_vhost = lws_create_vhost(g_ctx, &info);
    FUZZ_CHECK(g_vhost != NULL);
}

/* The server settings byte 0 picks. */
static void settings(uint8_t pick, pwsm_options *o, bool *real_service)
{
    memset(o, 0, sizeof *o);
    o->events_per_sec = -1; /* streamed as fast as the client reads: no timer needed */
    o->stream_limit = 12;   /* ... and not for long */
    o->batch_max = 4;
    o->auth_timeout_ms = 600000;
    o->journal_max_entries = 1u << 16;
    o->journal_max_bytes = 16u << 20;
    *real_service = pick < 2 || g_nscen == 0 || !g_scen[(pick - 2) % g_nscen];
    if (*real_service && pick % 2 == 0) {
        for (int i = 0; keys0[i]; i++)
            o->keys[i] = keys0[i];
        o->max_message = 4096;
        o->plan_markets = "stocks,options,crypto";
        o->plan_types = "T,Q,A,AM,XT,XQ";
        o->rate_actions = 12;
        o->rate_window_ms = 600000;
        o->max_repeated_auth = 3;
        o->max_per_key = 2;
    } else if (*real_service) {
        o->kick_newer = true;
        o->rate_actions = 6;
        o->rate_window_ms = 600000;
        o->rate_close = true;
        o->max_connections = 2;
        o->policy_close_code = 4008;
        o->nscripts = 3;
        o->scripts[0] = (pwsm_script){.no_greeting = true, .ignore_auth = true};
        o->scripts[1] = (pwsm_script){.reject_auth = true};
        o->scripts[2] = (pwsm_script){.fault = PWSM_FAULT_CLOSE, .close_code = 4000, .close_reason = "fault"};
        o->default_script = (pwsm_script){
            .after_events = 5,
            .fault = PWSM_FAULT_STATUS_CLOSE,
            .raw_frames = {"[{\"ev\":\"status\",\"status\":\"raw\"}]"},
        };
    } else {
        o->max_message = 8192;
        o->scenario = g_scen[(pick - 2) % g_nscen];
    }
}

/* Reads what the mock sent each client; returns the bytes read. */
static size_t drain(void)
{
    static char buf[65536];
    size_t total = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        client *c = &g_cl[i];
        while (c->fd >= 0 && !c->eof) {
            ssize_t n = read(c->fd, buf, sizeof buf);
            if (n > 0) {
                size_t keep = c->got.len < RESP_KEEP ? RESP_KEEP - c->got.len : 0;
                FUZZ_CHECK(pws__buf_put(&c->got, buf, (size_t)n < keep ? (size_t)n : keep) == 0);
                total += (size_t)n;
                if ((size_t)n < sizeof buf)
                    break; /* all there was, most likely: the next round reads the rest */
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->eof = true;
            } else if (errno == EAGAIN) {
                break;
            }
        }
    }
    return total;
}

/* Bytes our clients wrote that the mock has not read yet. */
static int unread(void)
{
    int total = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        int q = 0;
        if (g_cl[i].fd >= 0 && !g_cl[i].eof && ioctl(g_cl[i].fd, SIOCOUTQ, &q) == 0)
            total += q;
    }
    return total;
}

/* Runs lws until a round in which nothing happened, at most rounds rounds (at least one, and
 * more only while the input's budget lasts). */
static void pump(unsigned rounds)
{
    for (unsigned r = 0; r < rounds && (r == 0 || g_rounds_left > 0); r++) {
        if (g_rounds_left)
            g_rounds_left--;
        unsigned long before = g_callbacks;
        lws_service(g_ctx, -1); /* negative: poll without waiting */
        size_t got = drain();
        if (g_callbacks == before && !got && !unread())
            break;
    }
}

/* Connects client i: a socketpair whose other end the context adopts. */
static bool connect_client(int i)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return false;
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    if (!lws_adopt_socket_vhost(g_vhost, sv[0])) {
        /* lws closed sv[0] when it could not adopt it */
        close(sv[1]);
        return false;
    }
    g_cl[i].fd = sv[1];
    g_cl[i].used = true;
    return true;
}

/* Writes bytes to client i's socket, letting the mock read while its buffer is full. */
static void send_bytes(int i, const void *p, size_t len)
{
    client *c = &g_cl[i];
    const char *b = p;
    unsigned tries = 0;
    while (len && c->fd >= 0 && !c->shut && !c->eof) {
        ssize_t n = write(c->fd, b, len);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN && tries++ < WRITE_TRIES) {
            pump(4);
        } else {
            break; /* the mock is gone, or does not read (a STALL) */
        }
    }
}

static void send_head(int i, const uint8_t *pay, size_t n)
{
    pws__buf h = {0};
    const char *path = n ? paths[pay[0] % (sizeof paths / sizeof paths[0])] : paths[0];
    bool ok = pws__buf_str(&h, "GET ") == 0 && pws__buf_str(&h, path) == 0 &&
              pws__buf_str(&h, " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n") == 0 &&
              (n < 2 || pws__buf_put(&h, pay + 1, n - 1) == 0) && pws__buf_str(&h, "\r\n") == 0;
    FUZZ_CHECK(ok);
    send_bytes(i, h.p, h.len);
    pws__buf_free(&h);
}

/* Sends one masked client frame. */
static void send_frame(int i, int opcode, bool fin, const void *p, size_t n)
{
    static const unsigned char mask[4] = {0x5a, 0x13, 0xc7, 0x80};
    pws__buf f = {0};
    FUZZ_CHECK(pws__ws_frame(&f, opcode, fin, mask, p, n) == 0);
    send_bytes(i, f.p, f.len);
    pws__buf_free(&f);
}

/* Plays one record. */
static void play(int i, enum kind k, const uint8_t *pay, size_t n)
{
    client *c = &g_cl[i];
    if (c->fd < 0) {
        if (!connect_client(i))
            return;
        if (k != K_OPEN && k != K_RAW)
            send_head(i, NULL, 0);
    }
    switch (k) {
    case K_OPEN:
        send_head(i, pay, n);
        break;
    case K_TEXT:
        send_frame(i, PWS__OP_TEXT, true, pay, n);
        break;
    case K_BINARY:
        send_frame(i, PWS__OP_BINARY, true, pay, n);
        break;
    case K_TEXT_FIRST:
        send_frame(i, PWS__OP_TEXT, false, pay, n);
        break;
    case K_BINARY_FIRST:
        send_frame(i, PWS__OP_BINARY, false, pay, n);
        break;
    case K_CONT:
        send_frame(i, PWS__OP_CONT, false, pay, n);
        break;
    case K_CONT_LAST:
        send_frame(i, PWS__OP_CONT, true, pay, n);
        break;
    case K_PING:
        send_frame(i, PWS__OP_PING, true, pay, n);
        break;
    case K_PONG:
        send_frame(i, PWS__OP_PONG, true, pay, n);
        break;
    case K_CLOSE:
        send_frame(i, PWS__OP_CLOSE, true, pay, n);
        break;
    case K_RAW:
        send_bytes(i, pay, n);
        break;
    case K_BIG: {
        size_t want = n >= 2 ? (size_t)(pay[0] | pay[1] << 8) * 16 : 0;
        const uint8_t *unit = n > 2 ? pay + 2 : (const uint8_t *)"x";
        size_t ulen = n > 2 ? n - 2 : 1;
        if (want > BIG_MAX)
            want = BIG_MAX;
        char *big = malloc(want + ulen);
        FUZZ_CHECK(big != NULL);
        memcpy(big, unit, ulen);
        for (size_t have = ulen; have < want; have *= 2)
            memcpy(big + have, big, have < want - have ? have : want - have);
        send_frame(i, PWS__OP_TEXT, true, big, want);
        free(big);
        break;
    }
    case K_SHUT:
        if (!c->shut)
            shutdown(c->fd, SHUT_WR);
        c->shut = true;
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- checks */

static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    return n && len >= n && memmem(hay, len, needle, n) != NULL;
}

/* A journaled client text message that is an auth action has "***" as its params. */
static void check_auth_redacted(const pwsm_entry *e)
{
    cJSON *v = cJSON_ParseWithLength(e->data, e->len);
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(v, "action");
    if (cJSON_IsObject(v) && cJSON_IsString(action) && strcmp(action->valuestring, "auth") == 0 &&
        cJSON_HasObjectItem(v, "params")) {
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(v, "params");
        FUZZ_CHECK(cJSON_IsString(params) && strcmp(params->valuestring, "***") == 0);
    }
    cJSON_Delete(v);
}

/* With FUZZ_VERBOSE set: the journal and the answers on stderr, to see what an input does. */
static void dump(void)
{
    size_t n = pwsm__journal_count(&g_srv.journal);
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = pwsm__journal_get(&g_srv.journal, i);
        fprintf(stderr, "journal %u %c %-10s %4d %.*s%s%s\n", e->conn, e->dir, e->kind, e->close_code,
                (int)(e->len > 200 ? 200 : e->len), e->data, *e->reason ? " reason: " : "", e->reason);
    }
    for (int i = 0; i < NCLIENTS; i++)
        if (g_cl[i].got.len)
            fprintf(stderr, "client %d got %zu bytes: %.*s\n", i, g_cl[i].got.len,
                    (int)(g_cl[i].got.len > 300 ? 300 : g_cl[i].got.len), g_cl[i].got.p);
}

/* answered_101: clients whose first answer was 101; connected: clients that connected (one that
 * first got a 404 may upgrade on its next request). */
static void check_journal(size_t answered_101, size_t connected)
{
    size_t n = pwsm__journal_count(&g_srv.journal);
    uint32_t ordinals = atomic_load(&g_srv.accepted);
    FUZZ_CHECK(ordinals >= answered_101 && ordinals <= connected);
    for (uint32_t o = 1; o <= ordinals; o++) {
        size_t opens = 0, ends = 0, entries = 0;
        const pwsm_entry *first = NULL, *last = NULL;
        for (size_t i = 0; i < n; i++) {
            const pwsm_entry *e = pwsm__journal_get(&g_srv.journal, i);
            if (e->conn != o)
                continue;
            if (!first)
                first = e;
            last = e;
            entries++;
            opens += strcmp(e->kind, "open") == 0;
            ends += strcmp(e->kind, "closed") == 0 || strcmp(e->kind, "drop") == 0;
        }
        FUZZ_CHECK(entries >= 2 && opens == 1 && ends == 1);
        FUZZ_CHECK(strcmp(first->kind, "open") == 0);
        FUZZ_CHECK(strcmp(last->kind, "closed") == 0 || strcmp(last->kind, "drop") == 0);
    }
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = pwsm__journal_get(&g_srv.journal, i);
        FUZZ_CHECK(e->conn >= 1 && e->conn <= ordinals);
        FUZZ_CHECK(e->dir == 'c' || e->dir == 's' || e->dir == '-');
        for (int k = 0; k < PWSM_MAX_KEYS && g_srv.o.keys[k]; k++) {
            if (strlen(g_srv.o.keys[k]) < PWS__SECRET_MIN)
                continue;
            if (contains(e->data, e->len, g_srv.o.keys[k]) || contains(e->reason, strlen(e->reason), g_srv.o.keys[k])) {
                fprintf(stderr, "fuzz_mockreq: key in journal entry %zu (%c %s)\n", i, e->dir, e->kind);
                FUZZ_CHECK(!"an accepted key is in the journal");
            }
        }
        if (e->dir == 'c' && strcmp(e->kind, "text") == 0)
            check_auth_redacted(e);
    }
}

/* A frame of the real service. */
static void on_server_frame(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                            uint64_t total)
{
    (void)user;
    (void)total;
    FUZZ_CHECK(!too_big);
    if (opcode == PWS__OP_TEXT) {
        FUZZ_CHECK(pws__utf8_valid(data, len));
        cJSON *v = cJSON_ParseWithLength((const char *)data, len);
        FUZZ_CHECK(cJSON_IsArray(v));
        cJSON_Delete(v);
    }
}

/* Returns true if the mock answered client c with 101; checks its frames if real_service. */
static bool check_answer(const client *c, bool real_service)
{
    if (!c->got.len)
        return false;
    FUZZ_CHECK(c->got.len >= 9 && memcmp(c->got.p, "HTTP/1.", 7) == 0); /* lws answers bad requests with HTTP/1.0 */
    size_t hl = pws__http_head_len(c->got.p, c->got.len);
    if (!hl || c->got.len < 13 || memcmp(c->got.p, "HTTP/1.1 101 ", 13) != 0)
        return false;
    if (real_service) {
        pws__wsreader rd;
        char err[200];
        pws__ws_reader_init(&rd, false, 0);
        rd.reject_rsv = true;
        int rc = pws__ws_feed(&rd, (const unsigned char *)c->got.p + hl, c->got.len - hl, on_server_frame, NULL,
                              err, sizeof err);
        if (rc)
            fprintf(stderr, "fuzz_mockreq: the mock sent a bad frame: %s\n", err);
        FUZZ_CHECK(rc == 0);
        pws__ws_reader_free(&rd);
    }
    return true;
}

/* ---------------------------------------------------------------- one input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static bool verbose; /* FUZZ_VERBOSE set: dump() */
    if (!ready) {
        setup();
        verbose = getenv("FUZZ_VERBOSE") != NULL;
        ready = true;
    }
    if (size < 1)
        return 0;
    pwsm_options o;
    bool real_service;
    char err[512];
    settings(data[0], &o, &real_service);
    if (pwsm__server_init(&g_srv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_mockreq: %s\n", err);
        FUZZ_CHECK(!"the server settings are refused");
    }
    for (int i = 0; i < NCLIENTS; i++)
        g_cl[i] = (client){.fd = -1};
    g_rounds_left = ROUNDS_PER_INPUT;

    for (size_t at = 1; at + 3 <= size;) {
        uint8_t op = data[at];
        size_t n = (size_t)(data[at + 1] | data[at + 2] << 8);
        at += 3;
        if (n > size - at)
            n = size - at;
        int who = (op & 3) % NCLIENTS;
        play(who, (enum kind)((op >> 2) % K_COUNT), data + at, n);
        at += n;
        pump(ROUNDS_PER_RECORD);
    }

    /* The end: the clients stop writing, then leave. */
    for (int i = 0; i < NCLIENTS; i++)
        if (g_cl[i].fd >= 0 && !g_cl[i].shut) {
            shutdown(g_cl[i].fd, SHUT_WR);
            g_cl[i].shut = true;
        }
    for (unsigned r = 0; r < ROUNDS_AT_END && g_live > 0; r++)
        pump(1);
    drain();
    for (int i = 0; i < NCLIENTS; i++)
        if (g_cl[i].fd >= 0) {
            close(g_cl[i].fd);
            g_cl[i].fd = -1;
        }
    for (unsigned r = 0; r < ROUNDS_AT_END && g_live > 0; r++)
        lws_service(g_ctx, -1);
    if (g_live != 0)
        fprintf(stderr, "fuzz_mockreq: %ld socket(s) still open after their clients left\n", g_live);
    FUZZ_CHECK(g_live == 0);
    FUZZ_CHECK(g_srv.live == 0 && g_srv.conns == NULL);

    if (verbose)
        dump();
    size_t answered_101 = 0, connected = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        answered_101 += check_answer(&g_cl[i], real_service);
        connected += g_cl[i].used;
        pws__buf_free(&g_cl[i].got);
    }
    check_journal(answered_101, connected);
    pwsm__server_fini(&g_srv);
    return 0;
}
