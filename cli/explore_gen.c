/*
 * explore_gen.c - the random scenarios of `polyws explore` (see explore.h).
 *
 * A run's seed drives a splitmix64 generator of its own, so the same seed draws the same
 * scenario on every machine.  A scenario is 1..XP_MAX_CONNS scripted connections; each is a
 * handshake (sometimes cut short), a few steps of what real streams do (streams, bursts,
 * trickles, malformed frames, faults a client must accept, pings, short stalls, error
 * statuses) and an ending (a drop, a close, a status and a close, a stall, a fault a client
 * must reject).  Later connections are the mock's real service.
 *
 * The assertions are not drawn: they are derived from the steps each time the model is
 * rendered, so a shrunk model still asserts exactly what every correct connector does on it
 * (how many connections must open, which connection must be failed with which code, whether
 * delays must grow, where a connection would be a fight over the key).
 */
#include "explore.h"

#include <polyws/parse.h>

#include "wire/buf.h" /* pws__vappendf */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The channels a scenario subscribes among, and what its streams send (type, symbol). */
static const char *const channel_type[] = {"T", "A", "Q", "AM", "T"};
static const char *const channel_sym[] = {"AAPL", "AAPL", "MSFT", "NVDA", "MSFT"};
#define XP_NCHANNELS (sizeof channel_type / sizeof channel_type[0])

/* Frames that do not parse (the library's invalid_json, truncated_json, top_level_not_array,
 * nan_infinity); the last variant is a trade nested exactly as deep as the client contract allows
 * (docs/client-contract.md: PWS_DEFAULT_MAX_DEPTH), built with a repetition: well-formed, so a
 * correct client delivers it.  Deeper frames may be refused (libpolyws does, as a guard; the
 * judge does not require their events), so explore never draws them. */
static const char *const bad_frames[] = {
    "[{\"ev\":\"T\",,\"sym\":BAD}]",
    "[{\"ev\":\"T\",\"sym\":\"BAD\",\"x\":4,\"p\":190.5",
    "{\"ev\":\"T\",\"sym\":\"BAD\",\"x\":4,\"p\":190.5}",
    "[{\"ev\":\"T\",\"sym\":\"BAD\",\"p\":NaN,\"s\":100}]",
};
#define XP_NBAD (sizeof bad_frames / sizeof bad_frames[0])
#define XP_NESTING (PWS_DEFAULT_MAX_DEPTH - 2) /* arrays in the nested trade's field "xn" (a field
                                                Polygon does not send: kept as it is; "c" must
                                                hold integers): with the top-level array and
                                                the object, the contract's limit */

static const char *const accept_faults[] = {"fragmented", "control_in_fragment", "unsolicited_pong"};
#define XP_NACCEPT (sizeof accept_faults / sizeof accept_faults[0])
static const char *const reject_faults[] = {"reserved_bits",      "reserved_opcode",         "oversized_control",
                                             "invalid_close_code", "fragmented_control",      "unexpected_continuation",
                                             "masked_frame"};
#define XP_NREJECT (sizeof reject_faults / sizeof reject_faults[0])
static const char *const status_words[XP_ST__COUNT] = {"force_disconnect", "slow_consumer", "max_connections",
                                                        "auth_failed"};
static const int close_codes[] = {1000, 1001, 1008, 1011, 4000};
#define XP_NCLOSE (sizeof close_codes / sizeof close_codes[0])

/* ---------------------------------------------------------------- the generator */

typedef struct rng {
    uint64_t s; /* splitmix64 state */
} rng;

static uint64_t next(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint32_t range(rng *r, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(next(r) % ((uint64_t)hi - lo + 1));
}

/* Index i with weight w[i]. */
static uint32_t pick(rng *r, const uint32_t *w, uint32_t n)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    uint32_t x = range(r, 0, total - 1);
    for (uint32_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

static void add(xp_conn *c, xp_step s)
{
    if (c->nsteps < XP_MAX_STEPS)
        c->step[c->nsteps++] = s;
}

/* A channel the client subscribes to. */
static uint32_t subscribed_channel(rng *r, uint32_t subscribe)
{
    for (;;) {
        uint32_t ch = range(r, 0, XP_NCHANNELS - 1);
        if (subscribe & (1u << ch))
            return ch;
    }
}

/* A stream: mostly a short paced stream, sometimes a burst (as fast as the client reads) or a
 * trickle (one event at a time, slowly). */
static xp_step draw_stream(rng *r, uint32_t subscribe)
{
    static const uint32_t w[] = {6, 2, 2}; /* stream, burst, trickle */
    xp_step s = {.kind = XP_STREAM, .variant = subscribed_channel(r, subscribe)};
    switch (pick(r, w, 3)) {
    case 0:
        s.count = range(r, 5, 200);
        s.rate = range(r, 200, 2000);
        s.batch = range(r, 1, 10);
        break;
    case 1:
        s.count = range(r, 500, 5000);
        s.rate = 0;
        s.batch = range(r, 10, 500);
        break;
    default:
        s.count = range(r, 2, 6);
        s.rate = range(r, 5, 20);
        s.batch = 1;
        break;
    }
    return s;
}

/* A step between the handshake and the ending; flapping scenarios carry no data. */
static xp_step draw_mid(rng *r, uint32_t subscribe, bool flap)
{
    enum { M_STREAM, M_BIG, M_BAD, M_BINARY, M_PING, M_ACCEPT, M_STALL, M_SLEEP, M_RATE, M__N };
    static const uint32_t w[M__N] = {[M_STREAM] = 10, [M_BIG] = 1, [M_BAD] = 3,   [M_BINARY] = 1, [M_PING] = 2,
                                     [M_ACCEPT] = 2,  [M_STALL] = 1, [M_SLEEP] = 1, [M_RATE] = 1};
    static const uint32_t wflap[M__N] = {[M_PING] = 2, [M_SLEEP] = 2, [M_STALL] = 1, [M_RATE] = 1};
    switch (pick(r, flap ? wflap : w, M__N)) {
    case M_STREAM: return draw_stream(r, subscribe);
    case M_BIG: return (xp_step){.kind = XP_BIG, .count = range(r, 2000, 30000)};
    case M_BAD: return (xp_step){.kind = XP_BAD_JSON, .variant = range(r, 0, XP_NBAD)};
    case M_BINARY: return (xp_step){.kind = XP_BINARY};
    case M_PING: return (xp_step){.kind = XP_PING};
    case M_ACCEPT: return (xp_step){.kind = XP_ACCEPT_FAULT, .variant = range(r, 0, XP_NACCEPT - 1)};
    case M_STALL: return (xp_step){.kind = XP_STALL_SHORT, .ms = range(r, 50, 300)};
    case M_SLEEP: return (xp_step){.kind = XP_SLEEP, .ms = range(r, 10, 200)};
    default: return (xp_step){.kind = XP_RATE_ERROR};
    }
}

void xp_generate(uint64_t seed, xp_model *m)
{
    static const uint32_t nconn_w[XP_MAX_CONNS] = {2, 3, 3, 2, 2}; /* 1..5 scripted connections */
    rng r = {seed ^ UINT64_C(0x6578706c6f726521)};                /* "explore!" */
    memset(m, 0, sizeof *m);
    m->seed = seed;
    m->server_seed = next(&r) % 1000000 + 1;
    do
        m->subscribe = (uint32_t)(next(&r) & ((1u << XP_NCHANNELS) - 1));
    while (!m->subscribe);
    uint32_t n = pick(&r, nconn_w, XP_MAX_CONNS) + 1;
    bool flap = range(&r, 0, 3) == 0; /* a server that accepts and ends every connection, no data */
    for (uint32_t k = 0; k < n; k++) {
        xp_conn *c = &m->conn[k];
        m->nconns = k + 1;
        bool last = k + 1 == n;
        uint32_t opening = range(&r, 0, 99);
        if (opening < 4) { /* the key is refused: the story ends here */
            add(c, (xp_step){.kind = XP_GREET});
            add(c, (xp_step){.kind = XP_EXPECT_AUTH});
            add(c, (xp_step){.kind = XP_STATUS_END, .variant = XP_ST_AUTH_FAILED});
            add(c, (xp_step){.kind = XP_CLOSE, .variant = 1008});
            return;
        }
        if (opening < 16) { /* dropped in the middle of the handshake */
            if (opening >= 8) {
                add(c, (xp_step){.kind = XP_GREET});
                if (opening >= 12)
                    add(c, (xp_step){.kind = XP_AUTH});
            }
            add(c, (xp_step){.kind = XP_DROP});
            continue;
        }
        add(c, (xp_step){.kind = XP_HANDSHAKE});
        uint32_t nmid = range(&r, 0, flap ? 1 : XP_MAX_MIDS);
        for (uint32_t i = 0; i < nmid; i++)
            add(c, draw_mid(&r, m->subscribe, flap));
        if (last && range(&r, 0, 2) == 0)
            return; /* the last connection stays: the run ends by time */
        enum { E_DROP, E_CLOSE, E_STATUS, E_STALL, E_REJECT, E_UTF8, E__N };
        static const uint32_t w[E__N] = {[E_DROP] = 5,  [E_CLOSE] = 4,  [E_STATUS] = 3,
                                         [E_STALL] = 1, [E_REJECT] = 4, [E_UTF8] = 1};
        switch (pick(&r, w, E__N)) {
        case E_DROP: add(c, (xp_step){.kind = XP_DROP}); break;
        case E_CLOSE:
            add(c, (xp_step){.kind = XP_CLOSE, .variant = (uint32_t)close_codes[range(&r, 0, XP_NCLOSE - 1)]});
            break;
        case E_STATUS: {
            uint32_t st = range(&r, XP_ST_FORCE_DISCONNECT, XP_ST_MAX_CONNECTIONS);
            add(c, (xp_step){.kind = XP_STATUS_END, .variant = st});
            add(c, (xp_step){.kind = XP_CLOSE, .variant = 1008});
            if (st == XP_ST_MAX_CONNECTIONS)
                return; /* another process holds the key: a correct client does not come back soon */
            break;
        }
        case E_STALL: add(c, (xp_step){.kind = XP_STALL_END}); break;
        case E_REJECT: add(c, (xp_step){.kind = XP_REJECT_FAULT, .variant = range(&r, 0, XP_NREJECT - 1)}); break;
        default: add(c, (xp_step){.kind = XP_INVALID_UTF8}); break;
        }
    }
}

/* ---------------------------------------------------------------- what the steps imply */

static bool is_ending(xp_kind k)
{
    return k == XP_DROP || k == XP_CLOSE || k == XP_STALL_END || k == XP_REJECT_FAULT || k == XP_INVALID_UTF8;
}

static bool carries_data(xp_kind k)
{
    return k == XP_STREAM || k == XP_BIG || k == XP_ACCEPT_FAULT;
}

/* How a connection ends. */
typedef struct conn_fate {
    bool ends;        /* the server (or a fault) ends it */
    bool kicked;      /* max_connections before its end */
    bool refused;     /* auth_failed before its end */
    int fail_code;    /* the code a correct client fails it with (1002, 1007), 0 if none */
} conn_fate;

static conn_fate fate(const xp_conn *c)
{
    conn_fate f = {0};
    for (uint32_t i = 0; i < c->nsteps; i++) {
        const xp_step *s = &c->step[i];
        if (s->kind == XP_STATUS_END && s->variant == XP_ST_MAX_CONNECTIONS)
            f.kicked = true;
        if (s->kind == XP_STATUS_END && s->variant == XP_ST_AUTH_FAILED)
            f.refused = true;
        if (s->kind == XP_REJECT_FAULT)
            f.fail_code = 1002;
        if (s->kind == XP_INVALID_UTF8)
            f.fail_code = 1007;
        if (is_ending(s->kind)) {
            f.ends = true;
            break;
        }
    }
    if (!f.ends)
        f.kicked = f.refused = false; /* a status without the close leaves the connection open */
    return f;
}

/* The story: how many scripted connections are reached (the rest of m is never played),
 * whether a trap connection follows (after max_connections / auth_failed), and how many
 * connections a correct client opens at least. */
typedef struct story {
    uint32_t reached;   /* scripted connections played, 1..nconns */
    bool trap;          /* connection reached+1 must never open */
    bool refused;       /* the last one ended with auth_failed: the client exits non-zero */
    uint32_t opens;     /* connections a correct client opens */
    bool flap;          /* no scripted connection carries data */
    bool stalled;       /* a connection ends in a stall: the server reads nothing, so it sees the
                           client's close late and the next connection overlaps it (no gap to judge) */
    bool greeted;       /* every connection greets first (or ends at once): auth_within is fair (a client
                           waits for the greeting before it authenticates) */
    int first_auth;     /* how the first connection that authenticates does: 0 none does, 1 a handshake
                           (or the real service) confirms its subscription, 2 an `auth` step and then
                           the ending, before the client could subscribe */
} story;

static story tell(const xp_model *m)
{
    story s = {.flap = true, .greeted = true};
    for (uint32_t k = 0; k < m->nconns; k++) {
        const xp_conn *c = &m->conn[k];
        if (c->nsteps && c->step[0].kind != XP_HANDSHAKE && c->step[0].kind != XP_GREET &&
            !(c->nsteps == 1 && is_ending(c->step[0].kind)))
            s.greeted = false;
        for (uint32_t i = 0; i < c->nsteps; i++) {
            if (!s.first_auth && c->step[i].kind == XP_HANDSHAKE)
                s.first_auth = 1;
            if (!s.first_auth && c->step[i].kind == XP_AUTH)
                s.first_auth = 2;
            if (carries_data(c->step[i].kind))
                s.flap = false;
            if (c->step[i].kind == XP_STALL_END)
                s.stalled = true;
        }
        conn_fate f = fate(c);
        s.reached = k + 1;
        if (!f.ends) {
            s.opens = k + 1;
            return s;
        }
        if (f.kicked || f.refused) {
            s.trap = true;
            s.refused = f.refused;
            s.opens = k + 1;
            return s;
        }
    }
    s.opens = m->nconns + 1; /* the real service after the last scripted one */
    if (!s.first_auth)
        s.first_auth = 1;
    return s;
}

void xp_normalize(xp_model *m)
{
    story st = tell(m);
    for (uint32_t k = st.reached; k < m->nconns; k++)
        m->conn[k].nsteps = 0;
    m->nconns = st.reached ? st.reached : 1;
}

uint32_t xp_size(const xp_model *m)
{
    story st = tell(m);
    uint32_t n = st.trap ? 1 : 0;
    for (uint32_t k = 0; k < st.reached; k++)
        n += m->conn[k].nsteps;
    return n;
}

uint64_t xp_weight(const xp_model *m)
{
    uint64_t w = 0;
    for (uint32_t k = 0; k < m->nconns; k++)
        for (uint32_t i = 0; i < m->conn[k].nsteps; i++) {
            const xp_step *s = &m->conn[k].step[i];
            if (s->kind == XP_STREAM || s->kind == XP_BIG)
                w += s->count;
            w += s->ms;
        }
    return w;
}

uint32_t xp_duration_ms(const xp_model *m)
{
    story st = tell(m);
    double ms = XP_SLACK_MS;
    for (uint32_t k = 0; k < st.reached; k++) {
        const xp_conn *c = &m->conn[k];
        ms += 60;                                  /* connect, handshake */
        if (k > 0)
            ms += 120.0 * (double)(1u << (k - 1)); /* the backoff before it, doubling, +20 % jitter */
        for (uint32_t i = 0; i < c->nsteps; i++) {
            const xp_step *s = &c->step[i];
            switch (s->kind) {
            case XP_STREAM: ms += s->rate ? 1000.0 * s->count / s->rate : s->count / 20.0; break;
            case XP_BIG: ms += 300; break;
            case XP_STALL_SHORT:
            case XP_SLEEP: ms += s->ms; break;
            case XP_STALL_END: ms += 3 * XP_HEARTBEAT_MS; break;
            case XP_EXPECT_AUTH:
            case XP_CLOSE: ms += 100; break;
            default: ms += 10; break;
            }
        }
    }
    if (st.opens > st.reached) /* the real service's connection */
        ms += 120.0 * (double)(1u << (st.reached - 1)) + 300;
    if (st.trap)
        ms += XP_FIGHT_WINDOW_MS;
    uint32_t r = (uint32_t)ms;
    return (r + 99) / 100 * 100;
}

/* ---------------------------------------------------------------- the YAML */

typedef struct text {
    char *p;     /* NUL-terminated */
    size_t len;  /* its length */
    size_t cap;  /* allocated */
    bool bad;    /* out of memory, or past XP_YAML_MAX */
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!t->bad && pws__vappendf(&t->p, &t->len, &t->cap, XP_YAML_MAX - 1, fmt, ap))
        t->bad = true;
    va_end(ap);
}

/* s as a YAML single-quoted scalar (one line: line breaks become spaces). */
static void put_quoted(text *t, const char *s)
{
    put(t, "'");
    for (; *s; s++) {
        if (*s == '\'')
            put(t, "''");
        else if (*s == '\n' || *s == '\r')
            put(t, " ");
        else
            put(t, "%c", *s);
    }
    put(t, "'");
}

/* A trade nobody else sends: its symbol names the connection and step, so the events check
 * can tell it apart. */
static void trade(char *buf, size_t cap, uint32_t conn, uint32_t step, const char *id)
{
    snprintf(buf, cap,
             "{\"ev\":\"T\",\"sym\":\"XC%uS%u\",\"x\":4,\"i\":\"%s\",\"z\":3,\"p\":190.5,\"s\":100,"
             "\"t\":1704205800000,\"q\":1}",
             conn, step, id);
}

static void put_step(text *t, const xp_step *s, uint32_t conn, uint32_t idx)
{
    char a[256];
    switch (s->kind) {
    case XP_HANDSHAKE: put(t, "    - handshake: %ums\n", XP_HANDSHAKE_TIMEOUT_MS); break;
    case XP_GREET: put(t, "    - greet\n"); break;
    case XP_AUTH: put(t, "    - auth: %ums\n", XP_HANDSHAKE_TIMEOUT_MS); break;
    case XP_EXPECT_AUTH:
        put(t, "    - expect: {json: {action: auth}, timeout: %ums}\n", XP_HANDSHAKE_TIMEOUT_MS);
        break;
    case XP_STREAM:
        put(t, "    - stream: {types: [%s], symbols: [%s], count: %u, rate: ", channel_type[s->variant % XP_NCHANNELS],
            channel_sym[s->variant % XP_NCHANNELS], s->count);
        if (s->rate)
            put(t, "%u", s->rate);
        else
            put(t, "max");
        put(t, ", batch: %u}\n", s->batch ? s->batch : 1);
        break;
    case XP_BIG:
        trade(a, sizeof a, conn, idx, "big");
        put(t, "    - send_raw: {parts: ['[', {text: '%s,', times: %u}, '", a, s->count ? s->count : 1);
        trade(a, sizeof a, conn, idx, "big-last");
        put(t, "%s]']}\n", a);
        break;
    case XP_BAD_JSON:
        if (s->variant < XP_NBAD)
            put(t, "    - send_raw: '%s'\n", bad_frames[s->variant]);
        else {
            /* A complete trade of its own symbol and id (an event without them could be taken
             * for another one, e.g. a refused bare object's), plus the nested field. */
            trade(a, sizeof a, conn, idx, "nested");
            a[strlen(a) - 1] = '\0'; /* the closing brace comes after "xn" */
            put(t, "    - send_raw: {parts: ['[%s,\"xn\":', {text: \"[\", times: %d}, {text: \"]\", times: %d}, '}]']}\n",
                a, (int)XP_NESTING, (int)XP_NESTING);
        }
        break;
    case XP_BINARY: put(t, "    - send_binary: {hex: \"5b 7b 7d 5d\"}\n"); break;
    case XP_PING: put(t, "    - ping: explore\n"); break;
    case XP_ACCEPT_FAULT: {
        const char *kind = accept_faults[s->variant % XP_NACCEPT];
        if (!strcmp(kind, "unsolicited_pong")) {
            put(t, "    - fault: unsolicited_pong\n");
        } else {
            trade(a, sizeof a, conn, idx, kind);
            put(t, "    - fault: {kind: %s, payload: '[%s]'}\n", kind, a);
        }
        break;
    }
    case XP_STALL_SHORT: put(t, "    - stall: %ums\n", s->ms); break;
    case XP_SLEEP: put(t, "    - sleep: %ums\n", s->ms); break;
    case XP_RATE_ERROR: put(t, "    - status: {status: error, message: rate limit exceeded}\n"); break;
    case XP_STATUS_END: put(t, "    - status: %s\n", status_words[s->variant % XP_ST__COUNT]); break;
    case XP_CLOSE: put(t, "    - close: {code: %u, reason: explore}\n", s->variant); break;
    case XP_DROP: put(t, "    - drop\n"); break;
    case XP_STALL_END: put(t, "    - stall\n"); break;
    case XP_REJECT_FAULT: {
        const char *kind = reject_faults[s->variant % XP_NREJECT];
        if (!strcmp(kind, "oversized_control"))
            put(t, "    - fault: {kind: oversized_control, size: 200}\n");
        else if (!strcmp(kind, "invalid_close_code"))
            put(t, "    - fault: {kind: invalid_close_code, code: 1005}\n");
        else if (!strcmp(kind, "fragmented_control"))
            put(t, "    - fault: fragmented_control\n");
        else {
            trade(a, sizeof a, conn, idx, kind);
            put(t, "    - fault: {kind: %s, payload: '[%s]'}\n", kind, a);
        }
        break;
    }
    case XP_INVALID_UTF8: put(t, "    - send_invalid_utf8\n"); break;
    case XP_KIND__COUNT: break;
    }
}

char *xp_render(const xp_model *m, const char *name, const char *description, const char *comment, size_t *len)
{
    text t = {0};
    story st = tell(m);
    if (comment) {
        const char *p = comment;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            put(&t, "# %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
    put(&t, "description: ");
    if (description) {
        put_quoted(&t, description);
    } else {
        char d[256];
        snprintf(d, sizeof d, "polyws explore seed %llu: %u scripted connection(s), then the real service%s.",
                 (unsigned long long)m->seed, st.reached, st.trap ? " is never reached" : "");
        put_quoted(&t, d);
    }
    put(&t, "\n");
    if (name)
        put(&t, "name: %s\n", name);
    put(&t, "server:\n  seed: %llu\n", (unsigned long long)m->server_seed);
    put(&t, "client:\n  subscribe: [");
    bool first = true;
    for (uint32_t i = 0; i < XP_NCHANNELS; i++) {
        if (!(m->subscribe & (1u << i)))
            continue;
        bool dup = false; /* the channel list repeats a channel for weighting streams */
        for (uint32_t j = 0; j < i; j++)
            dup |= (m->subscribe & (1u << j)) && !strcmp(channel_type[i], channel_type[j]) &&
                   !strcmp(channel_sym[i], channel_sym[j]);
        if (dup)
            continue;
        put(&t, "%s%s.%s", first ? "" : ", ", channel_type[i], channel_sym[i]);
        first = false;
    }
    uint32_t duration = xp_duration_ms(m);
    put(&t, "]\n  duration: %ums\n  timeout: %ums\n  heartbeat: %ums\n", duration, duration + XP_TIMEOUT_EXTRA_MS,
        XP_HEARTBEAT_MS);
    put(&t, "connections:\n");
    for (uint32_t k = 0; k < st.reached; k++) {
        const xp_conn *c = &m->conn[k];
        put(&t, "  %u:\n", k + 1);
        for (uint32_t i = 0; i < c->nsteps; i++)
            put_step(&t, &c->step[i], k + 1, i + 1);
    }
    if (st.trap)
        put(&t, "  %u:   # must never open: after %s a correct client does not come back within the run\n"
                "    - expect: {regex: '^explore trap: this connection must not exist$', timeout: 1ms}\n",
            st.reached + 1, st.refused ? "auth_failed" : "max_connections");
    put(&t, "assert:\n");
    if (st.greeted)
        put(&t, "  - auth_within: %ums\n", XP_HANDSHAKE_TIMEOUT_MS);
    put(&t, "  - no_subscribe_before_auth\n");
    /* The judge compares every later connection with the first authenticated one: only fair when
     * that one had the time to subscribe (a handshake confirmed it). */
    if (st.first_auth == 1)
        put(&t, "  - resubscribed\n");
    if (st.opens >= 2)
        put(&t, "  - min_connects: %u\n", st.opens);
    if (st.stalled)
        ; /* the gaps are not the client's (see story.stalled): backoff is not judged */
    else if (st.flap && st.opens >= 3)
        put(&t, "  - reconnect_delay: {min: %ums, growing: true, cap: %ums}\n", XP_MIN_GAP_MS, XP_GROW_CAP_MS);
    else
        put(&t, "  - reconnect_delay: %ums\n", XP_MIN_GAP_MS);
    for (uint32_t k = 0; k < st.reached; k++) {
        conn_fate f = fate(&m->conn[k]);
        if (f.fail_code)
            put(&t, "  - fails_connection: {code: %d, connection: %u}\n", f.fail_code, k + 1);
    }
    if (st.refused)
        put(&t, "  - client_exit: nonzero\n");
    if (t.bad) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
