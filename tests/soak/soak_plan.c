/*
 * soak_plan.c - the random plan of one soak epoch and the scenario that
 * plays it (see soak.h).
 *
 * Every trade a connection must deliver carries a symbol of its own step
 * ("E3C2S1": epoch 3, connection 2, stream step 1; "E3C2T1" for trades
 * written by hand) and a sequence number q that grows along that symbol, so
 * the client's side tells a lost trade from a duplicated one.  Payloads that
 * must not be delivered (malformed frames, faults a client must reject) use
 * the symbol BAD or a trade the oracle never expects.
 */
#include "soak.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const soak_mid_names[SOAK_MID__COUNT] = {
    [SOAK_MID_NONE] = "stream_again",          [SOAK_MID_TRICKLE] = "slow_trickle_jitter",
    [SOAK_MID_FRAGMENTED] = "fault_fragmented", [SOAK_MID_CONTROL_IN_FRAG] = "fault_control_in_fragment",
    [SOAK_MID_UNSOLICITED_PONG] = "fault_unsolicited_pong", [SOAK_MID_BAD_FRAME] = "malformed_frame",
    [SOAK_MID_BAD_ELEMENT] = "malformed_element", [SOAK_MID_UNKNOWN_EVENT] = "unknown_event_types",
    [SOAK_MID_BINARY] = "binary_frame",         [SOAK_MID_SHORT_STALL] = "short_stall",
    [SOAK_MID_SERVER_PING] = "server_ping",
};

const char *const soak_end_names[SOAK_END__COUNT] = {
    [SOAK_END_DROP] = "tcp_drop_midstream",     [SOAK_END_CLOSE] = "close_midstream",
    [SOAK_END_FORCE_DISCONNECT] = "force_disconnect", [SOAK_END_SLOW_CONSUMER] = "slow_consumer",
    [SOAK_END_MAX_CONNECTIONS] = "max_connections", [SOAK_END_STALL] = "half_open_server",
    [SOAK_END_PROTOCOL] = "protocol_fault",     [SOAK_END_INVALID_UTF8] = "invalid_utf8",
};

/* The close codes of SOAK_END_CLOSE (close_1000/1001/1008/1011_midstream and an application code). */
static const int close_codes[] = {1000, 1001, 1008, 1011, 4000};
#define NCLOSE_CODES (sizeof close_codes / sizeof close_codes[0])

/* The faults of SOAK_END_PROTOCOL: the library's fault_* scenarios a client must reject. */
static const char *const reject_faults[] = {"reserved_bits", "reserved_opcode", "oversized_control",
                                             "invalid_close_code", "fragmented_control",
                                             "unexpected_continuation", "masked_frame"};
#define NREJECT_FAULTS (sizeof reject_faults / sizeof reject_faults[0])

/* Frames that do not parse at all (one frame-level parse error each): the library's
 * invalid_json, truncated_json, top_level_not_array, nan_infinity.  deeply_nested is built
 * with a payload repetition in soak_plan_yaml. */
static const char *const bad_frames[] = {
    "[{\"ev\":\"T\",,\"sym\":BAD}]",
    "[{\"ev\":\"T\",\"sym\":\"BAD\",\"x\":4,\"p\":190.5",
    "{\"ev\":\"T\",\"sym\":\"BAD\",\"x\":4,\"p\":190.5}",
    "[{\"ev\":\"T\",\"sym\":\"BAD\",\"p\":NaN,\"s\":100}]",
};
#define NBAD_FRAMES (sizeof bad_frames / sizeof bad_frames[0])
#define BAD_FRAME_VARIANTS (NBAD_FRAMES + 1) /* + deeply_nested */
#define NESTING 100                          /* levels of deeply_nested, over PWS_DEFAULT_MAX_DEPTH */

/* Elements that are JSON but not a trade (wrong_types, missing_fields): one element error each. */
static const char *const bad_elements[] = {
    "{\"ev\":\"T\",\"sym\":\"BAD\",\"x\":4,\"p\":\"190.5\",\"s\":100}",
    "{\"ev\":\"T\",\"x\":4,\"p\":190.5,\"s\":100}",
};
#define NBAD_ELEMENTS (sizeof bad_elements / sizeof bad_elements[0])

uint64_t soak_rand(soak_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint32_t soak_range(soak_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(soak_rand(r) % ((uint64_t)hi - lo + 1));
}

/* A weighted draw: index i with weight w[i]. */
static uint32_t pick(soak_rng *r, const uint32_t *w, uint32_t n)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    uint32_t x = soak_range(r, 0, total - 1);
    for (uint32_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

void soak_symbol(char *buf, size_t cap, uint32_t epoch, uint32_t conn, bool hand, uint32_t step)
{
    snprintf(buf, cap, "E%uC%u%c%u", epoch, conn, hand ? 'T' : 'S', step);
}

/* Reads decimal digits at *p into *v; false if there are none or too many. */
static bool digits(const char **p, uint32_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9' && s - *p < 9)
        x = x * 10 + (uint64_t)(*s++ - '0');
    if (s == *p || (*s >= '0' && *s <= '9'))
        return false;
    *v = (uint32_t)x;
    *p = s;
    return true;
}

bool soak_tag(const char *sym, uint32_t epoch, uint32_t *tag, bool *other_epoch)
{
    *other_epoch = false;
    const char *p = sym;
    uint32_t e, c, step;
    if (*p++ != 'E' || !digits(&p, &e) || *p++ != 'C' || !digits(&p, &c))
        return false;
    char kind = *p++;
    if ((kind != 'S' && kind != 'T') || !digits(&p, &step) || *p)
        return false;
    if (e != epoch || c == 0 || c > 0x7fff || step > 0x7fff) {
        *other_epoch = true;
        return false;
    }
    *tag = c << 16 | (kind == 'T' ? 1u << 15 : 0) | step;
    return true;
}

/* A stream step's size: mostly small, sometimes a burst that fills any queue. */
static void draw_stream(soak_rng *r, soak_stream *s, uint64_t *budget)
{
    static const uint32_t batches[] = {1, 10, 100, 1000};
    bool burst = soak_range(r, 0, 9) == 0;
    s->count = burst ? soak_range(r, 5000, 40000) : soak_range(r, 1, 2000);
    s->rate = soak_range(r, 0, 1) ? 0 : soak_range(r, 500, 20000);
    s->batch = soak_range(r, 1, batches[soak_range(r, 0, 3)]);
    if (s->rate && s->count > s->rate / 2)
        s->count = s->rate / 2; /* at most half a second per paced stream */
    if (s->count > *budget)
        s->count = *budget ? (uint32_t)*budget : 1;
    *budget -= s->count < *budget ? s->count : *budget;
}

/* Appends a raw fault to c (how many fit is bounded by construction: one per segment plus
 * the ending one, SOAK_MAX_SEGS + 1 <= SOAK_MAX_RAW). */
static void add_raw(soak_conn *c, bool delivers, uint32_t tag, int64_t q)
{
    soak_raw *x = &c->raw[c->nraw++];
    x->delivers = delivers;
    x->tag = delivers ? tag : 0;
    x->q = q;
}

static void draw_conn(soak_rng *r, soak_conn *c, uint32_t ordinal, uint64_t *budget)
{
    static const uint32_t mid_weights[SOAK_MID__COUNT] = {
        [SOAK_MID_NONE] = 2, [SOAK_MID_TRICKLE] = 2, [SOAK_MID_FRAGMENTED] = 2,
        [SOAK_MID_CONTROL_IN_FRAG] = 2, [SOAK_MID_UNSOLICITED_PONG] = 1, [SOAK_MID_BAD_FRAME] = 3,
        [SOAK_MID_BAD_ELEMENT] = 2, [SOAK_MID_UNKNOWN_EVENT] = 2, [SOAK_MID_BINARY] = 1,
        [SOAK_MID_SHORT_STALL] = 1, [SOAK_MID_SERVER_PING] = 1,
    };
    /* a stall costs the heartbeat's timeout, the others a backoff of ~20 ms */
    static const uint32_t end_weights[SOAK_END__COUNT] = {
        [SOAK_END_DROP] = 4, [SOAK_END_CLOSE] = 4, [SOAK_END_FORCE_DISCONNECT] = 1,
        [SOAK_END_SLOW_CONSUMER] = 1, [SOAK_END_MAX_CONNECTIONS] = 1, [SOAK_END_STALL] = 1,
        [SOAK_END_PROTOCOL] = 4, [SOAK_END_INVALID_UTF8] = 1,
    };
    memset(c, 0, sizeof *c);
    c->nsegs = soak_range(r, 0, SOAK_MAX_SEGS);
    for (uint32_t i = 0; i < c->nsegs; i++) {
        draw_stream(r, &c->seg_stream[i], budget);
        soak_mid m = (soak_mid)pick(r, mid_weights, SOAK_MID__COUNT);
        c->seg_mid[i] = m;
        uint32_t hand = ordinal << 16 | 1u << 15 | i; /* the tag of this segment's hand-written trades */
        switch (m) {
        case SOAK_MID_TRICKLE:
            c->seg_variant[i] = soak_range(r, 1, SOAK_MAX_TRICKLE);
            break;
        case SOAK_MID_FRAGMENTED:
            c->seg_variant[i] = soak_range(r, 2, 8); /* fragments */
            add_raw(c, true, hand, 1);
            break;
        case SOAK_MID_CONTROL_IN_FRAG:
            add_raw(c, true, hand, 1);
            break;
        case SOAK_MID_UNSOLICITED_PONG:
            add_raw(c, false, 0, 0);
            break;
        case SOAK_MID_BAD_FRAME:
            c->seg_variant[i] = soak_range(r, 0, BAD_FRAME_VARIANTS - 1);
            c->parse_errors++;
            break;
        case SOAK_MID_BAD_ELEMENT:
            c->seg_variant[i] = soak_range(r, 0, NBAD_ELEMENTS - 1);
            c->parse_errors++;
            break;
        case SOAK_MID_UNKNOWN_EVENT:
            c->others++;
            break;
        case SOAK_MID_BINARY:
            c->parse_errors++;
            break;
        default:
            break;
        }
    }
    draw_stream(r, &c->last, budget);
    c->end = (soak_end)pick(r, end_weights, SOAK_END__COUNT);
    switch (c->end) {
    case SOAK_END_DROP:
        c->expect_err = PWS_ERR_CLOSED;
        break;
    case SOAK_END_CLOSE:
        c->end_variant = soak_range(r, 0, NCLOSE_CODES - 1);
        c->expect_err = PWS_ERR_CLOSED;
        c->expect_close_code = close_codes[c->end_variant];
        break;
    case SOAK_END_FORCE_DISCONNECT:
    case SOAK_END_SLOW_CONSUMER:
    case SOAK_END_MAX_CONNECTIONS:
        c->expect_err = PWS_ERR_SERVER;
        break;
    case SOAK_END_STALL:
        c->expect_err = PWS_ERR_TIMEOUT;
        break;
    case SOAK_END_PROTOCOL:
        c->end_variant = soak_range(r, 0, NREJECT_FAULTS - 1);
        c->expect_err = PWS_ERR_CLOSED;
        add_raw(c, false, 0, 0);
        break;
    case SOAK_END_INVALID_UTF8:
        c->expect_err = PWS_ERR_CLOSED;
        break;
    case SOAK_END__COUNT:
        break;
    }
}

void soak_plan_make(soak_plan *p, uint32_t epoch, soak_rng *r, bool tls_allowed)
{
    static const size_t capacities[] = {16, 64, 256, 1024, 8192, 65536};
    static const size_t batches[] = {0, 0, 1, 16, 256};
    static const uint32_t consumer_ns[] = {0, 0, 2000, 10000, 30000};
    memset(p, 0, sizeof *p);
    p->epoch = epoch;
    p->seed = soak_rand(r) | 1;
    /* the first epoch goes over wss, so that OpenSSL's one-time set-up falls in the warm-up */
    p->tls = tls_allowed && (soak_range(r, 0, 3) == 0 || epoch == 1);
    p->queue_capacity = capacities[soak_range(r, 0, 5)];
    p->batch_max = batches[soak_range(r, 0, 4)];
    p->consumer_ns = consumer_ns[soak_range(r, 0, 4)];
    p->nconns = soak_range(r, 3, 12);
    uint64_t budget = SOAK_MAX_EPOCH_EVENTS;
    for (uint32_t i = 0; i < p->nconns; i++)
        draw_conn(r, &p->conns[i], i + 1, &budget);
    p->planned_events = SOAK_MAX_EPOCH_EVENTS - budget;
}

/* ---------------------------------------------------------------- the scenario text */

/* A growing text; `oom` sticks once an allocation failed. */
typedef struct text {
    char *p;     /* the text, NUL-terminated */
    size_t len;  /* its length */
    size_t cap;  /* allocated bytes */
    bool oom;    /* an append failed */
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->oom = true;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

/* One trade as Polygon writes it, with a soak symbol. */
static void trade_json(char *buf, size_t cap, const char *sym, int64_t q)
{
    snprintf(buf, cap,
             "{\"ev\":\"T\",\"sym\":\"%s\",\"x\":4,\"i\":\"soak\",\"z\":3,\"p\":190.5,\"s\":100,"
             "\"t\":1704205800000,\"q\":%lld}",
             sym, (long long)q);
}

static void put_stream(text *t, const soak_plan *p, uint32_t ordinal, uint32_t step, const soak_stream *s)
{
    char sym[32];
    soak_symbol(sym, sizeof sym, p->epoch, ordinal, false, step);
    put(t, "    - stream: {types: [T], symbols: [%s], count: %u, rate: ", sym, s->count);
    if (s->rate)
        put(t, "%u", s->rate);
    else
        put(t, "max");
    put(t, ", batch: %u}\n", s->batch);
}

static void put_mid(text *t, const soak_plan *p, uint32_t ordinal, uint32_t seg, soak_mid m, uint32_t variant,
                    soak_rng *jitter)
{
    char sym[32], a[192], b[192];
    soak_symbol(sym, sizeof sym, p->epoch, ordinal, true, seg);
    switch (m) {
    case SOAK_MID_NONE:
        break;
    case SOAK_MID_TRICKLE:
        for (uint32_t k = 1; k <= variant; k++) {
            trade_json(a, sizeof a, sym, k);
            put(t, "    - send_raw: '[%s]'\n    - sleep: %ums\n", a, soak_range(jitter, 10, 150));
        }
        break;
    case SOAK_MID_FRAGMENTED:
        trade_json(a, sizeof a, sym, 1);
        put(t, "    - fault: {kind: fragmented, frames: %u, payload: '[%s]'}\n", variant, a);
        break;
    case SOAK_MID_CONTROL_IN_FRAG:
        trade_json(a, sizeof a, sym, 1);
        put(t, "    - fault: {kind: control_in_fragment, payload: '[%s]'}\n", a);
        break;
    case SOAK_MID_UNSOLICITED_PONG:
        put(t, "    - fault: unsolicited_pong\n");
        break;
    case SOAK_MID_BAD_FRAME:
        if (variant < NBAD_FRAMES)
            put(t, "    - send_raw: '%s'\n", bad_frames[variant]);
        else
            put(t, "    - send_raw: {parts: ['[{\"ev\":\"T\",\"sym\":\"BAD\",\"c\":', {text: \"[\", times: %d}, "
                   "{text: \"]\", times: %d}, '}]']}\n", NESTING, NESTING);
        break;
    case SOAK_MID_BAD_ELEMENT:
        trade_json(a, sizeof a, sym, 1);
        trade_json(b, sizeof b, sym, 2);
        put(t, "    - send_raw: '[%s,%s,%s]'\n", a, bad_elements[variant], b);
        break;
    case SOAK_MID_UNKNOWN_EVENT:
        trade_json(a, sizeof a, sym, 1);
        put(t, "    - send_raw: '[{\"ev\":\"LULD\",\"T\":\"BAD\",\"h\":190.5,\"l\":180.25,\"t\":1704205800000},%s]'\n",
            a);
        break;
    case SOAK_MID_BINARY:
        put(t, "    - send_binary: {hex: \"5b 7b 7d 5d\"}\n");
        break;
    case SOAK_MID_SHORT_STALL:
        put(t, "    - stall: 200ms\n");
        break;
    case SOAK_MID_SERVER_PING:
        put(t, "    - ping: soak\n");
        break;
    case SOAK_MID__COUNT:
        break;
    }
}

static void put_end(text *t, const soak_plan *p, uint32_t ordinal, const soak_conn *c)
{
    char sym[32], a[192];
    switch (c->end) {
    case SOAK_END_DROP:
        put(t, "    - drop\n");
        break;
    case SOAK_END_CLOSE:
        put(t, "    - close: {code: %d, reason: soak}\n", close_codes[c->end_variant]);
        break;
    case SOAK_END_FORCE_DISCONNECT:
        put(t, "    - status: force_disconnect\n    - close: {code: 1008, reason: force_disconnect}\n");
        break;
    case SOAK_END_SLOW_CONSUMER:
        put(t, "    - status: slow_consumer\n    - close: {code: 1008, reason: slow_consumer}\n");
        break;
    case SOAK_END_MAX_CONNECTIONS:
        put(t, "    - status: max_connections\n    - close: {code: 1008, reason: max connections}\n");
        break;
    case SOAK_END_STALL:
        put(t, "    - stall\n");
        break;
    case SOAK_END_PROTOCOL: {
        /* the trade inside the rejected frame has a soak symbol the oracle never expects */
        soak_symbol(sym, sizeof sym, p->epoch, ordinal, true, SOAK_MAX_SEGS);
        trade_json(a, sizeof a, sym, 1);
        const char *kind = reject_faults[c->end_variant];
        if (!strcmp(kind, "oversized_control"))
            put(t, "    - fault: {kind: oversized_control, size: 200}\n");
        else if (!strcmp(kind, "invalid_close_code"))
            put(t, "    - fault: {kind: invalid_close_code, code: 1005}\n");
        else if (!strcmp(kind, "fragmented_control"))
            put(t, "    - fault: fragmented_control\n");
        else
            put(t, "    - fault: {kind: %s, payload: '[%s]'}\n", kind, a);
        break;
    }
    case SOAK_END_INVALID_UTF8:
        put(t, "    - send_invalid_utf8\n");
        break;
    case SOAK_END__COUNT:
        break;
    }
}

char *soak_plan_yaml(const soak_plan *p, size_t *len)
{
    text t = {0};
    soak_rng jitter = {p->seed}; /* trickle gaps: part of the plan, drawn apart from it */
    put(&t, "description: 'Soak epoch %u: %u connections, each streams sequence-numbered trades with "
            "faults between them and ends with a fault.'\n", p->epoch, p->nconns);
    put(&t, "name: soak-epoch-%u\nserver:\n  seed: %llu\n%s", p->epoch, (unsigned long long)p->seed,
        p->tls ? "  tls: true\n" : "");
    put(&t, "connections:\n");
    for (uint32_t i = 0; i < p->nconns; i++) {
        const soak_conn *c = &p->conns[i];
        uint32_t ordinal = i + 1;
        put(&t, "  %u:\n    - handshake\n", ordinal);
        for (uint32_t s = 0; s < c->nsegs; s++) {
            put_stream(&t, p, ordinal, s, &c->seg_stream[s]);
            put_mid(&t, p, ordinal, s, c->seg_mid[s], c->seg_variant[s], &jitter);
        }
        put_stream(&t, p, ordinal, c->nsegs, &c->last);
        put_end(&t, p, ordinal, c);
    }
    /* the connection after the last fault only shakes hands: the epoch ends there */
    put(&t, "  default:\n    - handshake\n");
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
