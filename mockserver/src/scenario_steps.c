/*
 * scenario_steps.c - the steps of a connection script and their payloads.
 *
 * A step is written either as a bare word (`- drop`) or as a one-key mapping
 * (`- sleep: 250ms`).  Each compiles to one pwss_step; the JSON helpers
 * (send, status, events, send_invalid_utf8) become SEND_TEXT with the bytes
 * ready, and frame/fault become RAW with the frame bytes ready, so the server
 * only writes what it finds.
 */
#include "scenario_compile.h"
#include "scenario_frame.h"

#include <polyws/mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- payloads: bytes written as text, hex, base64, JSON or parts */

static bool payload_into(pwss__ctx *c, const pwss__ynode *n, const char *what, pwss__buf *out,
                         unsigned depth);

static bool buf_fail(pwss__ctx *c, const pwss__ynode *at, const char *what, const pwss__buf *b)
{
    if (b->oom)
        return pwss__fail(c, at, "out of memory");
    return pwss__fail(c, at, "%s: more than %zu bytes (limit of one step's data)", what, b->max);
}

/* One piece (everything but `times`) into out. */
static bool piece_into(pwss__ctx *c, const pwss__ynode *n, const char *what, pwss__buf *out, unsigned depth)
{
    char m[200];
    if (n->kind == PWSS__Y_SCALAR) {
        if (pwss__buf_put(out, n->text, n->len))
            return buf_fail(c, n, what, out);
        return true;
    }
    if (n->kind == PWSS__Y_SEQ) {
        if (depth >= PWSS__MAX_PAYLOAD_NESTING)
            return pwss__fail(c, n, "%s: parts nested deeper than %u levels", what,
                              PWSS__MAX_PAYLOAD_NESTING);
        for (size_t i = 0; i < n->nkids; i++)
            if (!payload_into(c, n->kids[i], what, out, depth + 1))
                return false;
        return true;
    }
    static const char *const forms[] = {"text", "hex", "base64", "json", "parts", NULL};
    const pwss__ynode *v = NULL;
    int form = -1;
    for (int i = 0; forms[i]; i++) {
        const pwss__ynode *x = pwss__get(n, forms[i]);
        if (!x)
            continue;
        if (v)
            return pwss__fail(c, x, "%s: give one of text, hex, base64, json or parts, not both %s and %s",
                              what, forms[form], forms[i]);
        v = x;
        form = i;
    }
    if (!v)
        return pwss__fail(c, n, "%s: give one of text, hex, base64, json or parts", what);
    if (form == 3) {
        pwss__json_error je;
        if (pwss__json_encode(v, out, &c->budget, &je))
            return pwss__fail(c, je.at ? je.at : v, "%s: %s", what, je.msg);
        return true;
    }
    if (form == 4) {
        if (v->kind != PWSS__Y_SEQ)
            return pwss__fail(c, v, "%s.parts: expected a list of payloads", what);
        return piece_into(c, v, what, out, depth);
    }
    if (v->kind != PWSS__Y_SCALAR)
        return pwss__fail(c, v, "%s.%s: expected a string", what, forms[form]);
    if (!pwss__visit(c, v))
        return false;
    if (form == 0) {
        if (pwss__buf_put(out, v->text, v->len))
            return buf_fail(c, v, what, out);
        return true;
    }
    int rc = form == 1 ? pwss__hex_decode(v->text, v->len, out, m, sizeof m)
                       : pwss__base64_decode(v->text, v->len, out, m, sizeof m);
    if (rc)
        return pwss__fail(c, v, "%s: %s", what, m);
    return true;
}

/* A payload: a scalar (its text), a list (parts), or a mapping with one form
 * and an optional `times`. */
static bool payload_into(pwss__ctx *c, const pwss__ynode *n, const char *what, pwss__buf *out, unsigned depth)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    if (n->kind == PWSS__Y_SCALAR && pwss__scalar_class(n) == PWSS__S_NULL && n->plain && n->len == 0)
        return pwss__fail(c, n,
                          "%s: expected a payload (a string, {hex: ...}, {base64: ...}, {json: ...}, "
                          "{parts: [...]}), got %s",
                          what, pwss__describe(n, d, sizeof d));
    if (n->kind != PWSS__Y_MAP)
        return piece_into(c, n, what, out, depth);
    static const char *const keys[] = {"text", "hex", "base64", "json", "parts", "times", NULL};
    if (!pwss__check_map(c, n, what, keys))
        return false;
    uint64_t times = 1;
    const pwss__ynode *t = pwss__get(n, "times");
    if (t && !pwss__read_uint(c, t, "times", 1, PWSS__MAX_PAYLOAD_TIMES, &times))
        return false;
    size_t start = out->len;
    if (!piece_into(c, n, what, out, depth))
        return false;
    size_t piece = out->len - start;
    if (times > 1 && piece) {
        if ((uint64_t)piece * times > out->max - start) /* checked before looping */
            return pwss__fail(c, t, "%s: %zu bytes x %llu is more than %zu bytes (limit of one step's data)",
                              what, piece, (unsigned long long)times, out->max);
        char *copy = malloc(piece); /* appending may move out->data */
        if (!copy)
            return pwss__fail(c, t, "out of memory");
        memcpy(copy, out->data + start, piece);
        for (uint64_t i = 1; i < times; i++)
            if (pwss__buf_put(out, copy, piece)) {
                free(copy);
                return buf_fail(c, t, what, out);
            }
        free(copy);
    }
    return true;
}

/* Finishes a payload into the step's data, counting it against the scenario total. */
static bool take_data(pwss__ctx *c, const pwss__ynode *at, pwss__buf *b, pwss_step *st)
{
    if (b->len > PWSS__MAX_TOTAL_BYTES - c->bytes) {
        pwss__buf_free(b);
        return pwss__fail(c, at, "step data of the scenario adds up to more than %u bytes",
                          PWSS__MAX_TOTAL_BYTES);
    }
    c->bytes += b->len;
    st->data = pwss__buf_take(b, &st->len);
    return st->data ? true : pwss__fail(c, at, "out of memory");
}

static bool read_payload(pwss__ctx *c, const pwss__ynode *n, const char *what, size_t max, pwss_step *st)
{
    pwss__buf b = {.max = max};
    if (!payload_into(c, n, what, &b, 0)) {
        pwss__buf_free(&b);
        return false;
    }
    return take_data(c, n, &b, st);
}

/* ---- step compilers: arg is the value (NULL for the bare form), at the step */

typedef bool (*step_fn)(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs);

static bool step_plain(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                       unsigned depth, uint64_t *runs)
{
    return true;
}

/* auth, confirm, handshake: `auth`, `auth: 3s` or `auth: {timeout: 3s}`; without a
 * timeout ms stays 0: the server's default (auth: server.auth_timeout; confirm: 10 s) */
static bool step_wait(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                      unsigned depth, uint64_t *runs)
{
    if (!arg)
        return true;
    if (arg->kind == PWSS__Y_MAP) {
        static const char *const keys[] = {"timeout", NULL};
        static const char *const confirm_keys[] = {"timeout", "optional", NULL};
        const char *what = st->kind == PWSS_STEP_AUTH      ? "auth"
                           : st->kind == PWSS_STEP_CONFIRM ? "confirm"
                                                           : "handshake";
        const pwss__ynode *t, *o;
        if (!pwss__check_map(c, arg, what, st->kind == PWSS_STEP_CONFIRM ? confirm_keys : keys))
            return false;
        if ((o = pwss__get(arg, "optional")) && !pwss__read_bool(c, o, "confirm.optional", &st->optional))
            return false;
        if (!(t = pwss__get(arg, "timeout"))) {
            if (o)
                return true; /* the default wait */
            return pwss__need(c, arg, "timeout", what, &t);
        }
        arg = t;
    }
    return pwss__read_duration(c, arg, "timeout", 1, PWSS__MAX_DURATION_MS, &st->ms);
}

static bool step_send(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                      unsigned depth, uint64_t *runs)
{
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    pwss__json_error je;
    if (pwss__json_encode(arg, &b, &c->budget, &je)) {
        pwss__buf_free(&b);
        return pwss__fail(c, je.at ? je.at : arg, "send: %s", je.msg);
    }
    return take_data(c, arg, &b, st);
}

/* The texts seen from Polygon, or the mock's own (polyws/mock.h). */
static const char *status_text(const char *status)
{
    static const char *const texts[][2] = {
        {"connected", "Connected Successfully"},
        {"auth_success", "authenticated"},
        {"auth_failed", "authentication failed"},
        {"auth_timeout", "No authentication request received."},
        {"auth_required", "authentication required"},
        {"max_connections", "Maximum number of connections exceeded."},
        {"force_disconnect", "Connection closed by the server."},
        {"slow_consumer", "Connection closed: slow consumer."},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!strcmp(texts[i][0], status))
            return texts[i][1];
    return NULL;
}

static bool step_status(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs)
{
    char *status = NULL, *message = NULL;
    const pwss__ynode *sv = arg, *mv = NULL;
    if (arg->kind == PWSS__Y_MAP) {
        static const char *const keys[] = {"status", "message", NULL};
        if (!pwss__check_map(c, arg, "status", keys) || !pwss__need(c, arg, "status", "status", &sv))
            return false;
        mv = pwss__get(arg, "message");
    }
    bool ok = pwss__read_string(c, sv, "status", PWSS__MAX_STATUS, true, &status) &&
              (!mv || pwss__read_string(c, mv, "status.message", PWSS__MAX_MESSAGE, false, &message));
    if (ok) {
        const char *msg = message ? message : status_text(status);
        pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
        int rc = pwss__buf_puts(&b, "[{\"ev\":\"status\",\"status\":") ||
                 pwss__json_string(&b, status, strlen(status)) ||
                 (msg && (pwss__buf_puts(&b, ",\"message\":") || pwss__json_string(&b, msg, strlen(msg)))) ||
                 pwss__buf_puts(&b, "}]");
        if (rc) {
            pwss__buf_free(&b);
            ok = pwss__fail(c, arg, "out of memory");
        } else {
            ok = take_data(c, arg, &b, st);
        }
    }
    free(status);
    free(message);
    return ok;
}

static bool step_events(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs)
{
    char d[96];
    if (arg->kind == PWSS__Y_SCALAR)
        return pwss__fail(c, arg, "events: expected a list of events (mappings) or one event, got %s",
                          pwss__describe(arg, d, sizeof d));
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    pwss__json_error je = {.at = NULL};
    bool wrap = arg->kind == PWSS__Y_MAP;
    if ((wrap && pwss__buf_putc(&b, '[')) || pwss__json_encode(arg, &b, &c->budget, &je) ||
        (wrap && pwss__buf_putc(&b, ']'))) {
        pwss__buf_free(&b);
        if (!je.msg[0])
            return pwss__fail(c, arg, "events: too large");
        return pwss__fail(c, je.at ? je.at : arg, "events: %s", je.msg);
    }
    return take_data(c, arg, &b, st);
}

static bool step_send_raw(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                          unsigned depth, uint64_t *runs)
{
    return read_payload(c, arg, st->kind == PWSS_STEP_SEND_BINARY ? "send_binary" : "send_raw",
                        PWSS__MAX_PAYLOAD_BYTES, st);
}

/* A trade whose id holds 0xC3 0x28: a 2-byte lead followed by a non-continuation byte. */
static bool step_invalid_utf8(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                              unsigned depth, uint64_t *runs)
{
    static const char text[] = "[{\"ev\":\"T\",\"sym\":\"AAPL\",\"x\":4,\"i\":\"bad-\xC3\x28-utf8\",\"z\":3,"
                               "\"p\":190.5,\"s\":100,\"t\":1704205800000,\"q\":1100}]";
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    if (pwss__buf_put(&b, text, sizeof text - 1)) {
        pwss__buf_free(&b);
        return pwss__fail(c, at, "out of memory");
    }
    return take_data(c, at, &b, st);
}

/* A word list written as a YAML list or one comma-separated string; calls
 * fn(item node, word) for each word. */
typedef bool (*word_fn)(pwss__ctx *c, const pwss__ynode *at, const char *word, size_t len, pwss_stream *s);

static bool each_word(pwss__ctx *c, const pwss__ynode *n, const char *what, word_fn fn, pwss_stream *s)
{
    char d[96];
    if (n->kind == PWSS__Y_SEQ) {
        if (!n->nkids)
            return pwss__fail(c, n, "%s: empty list (leave the key out to use what the client subscribed)",
                              what);
        for (size_t i = 0; i < n->nkids; i++) {
            const pwss__ynode *k = n->kids[i];
            if (!pwss__visit(c, k))
                return false;
            if (k->kind != PWSS__Y_SCALAR || pwss__scalar_class(k) == PWSS__S_NULL)
                return pwss__fail(c, k, "%s: expected a word, got %s", what, pwss__describe(k, d, sizeof d));
            if (!fn(c, k, k->text, k->len, s))
                return false;
        }
        return true;
    }
    if (n->kind != PWSS__Y_SCALAR || pwss__scalar_class(n) == PWSS__S_NULL)
        return pwss__fail(c, n, "%s: expected a list or a comma-separated string, got %s", what,
                          pwss__describe(n, d, sizeof d));
    const char *p = n->text, *end = n->text + n->len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *a = p, *b = stop;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b)
            return pwss__fail(c, n, "%s: empty item in '%.64s'", what, n->text);
        if (!fn(c, n, a, (size_t)(b - a), s))
            return false;
        if (!comma)
            break;
        p = comma + 1;
    }
    return true;
}

static bool add_type(pwss__ctx *c, const pwss__ynode *at, const char *w, size_t len, pwss_stream *s)
{
    static const char *const types[] = {"A", "AM", "T", "Q", NULL};
    bool known = false;
    for (size_t i = 0; types[i] && !known; i++)
        known = strlen(types[i]) == len && !memcmp(types[i], w, len);
    if (!known)
        return pwss__fail(c, at, "stream.types: '%.*s' is not a type the mock generates (A, AM, T, Q)",
                          (int)(len > 16 ? 16 : len), w);
    for (uint32_t i = 0; i < s->ntypes; i++)
        if (strlen(s->types[i]) == len && !memcmp(s->types[i], w, len))
            return pwss__fail(c, at, "stream.types: '%.*s' given twice", (int)len, w);
    if (s->ntypes >= sizeof s->types / sizeof s->types[0])
        return pwss__fail(c, at, "stream.types: too many types");
    memcpy(s->types[s->ntypes], w, len);
    s->types[s->ntypes][len] = '\0';
    s->ntypes++;
    return true;
}

static bool add_symbol(pwss__ctx *c, const pwss__ynode *at, const char *w, size_t len, pwss_stream *s)
{
    if (len > PWSS__MAX_SYMBOL)
        return pwss__fail(c, at, "stream.symbols: '%.40s' is longer than %u bytes", w, PWSS__MAX_SYMBOL);
    for (size_t i = 0; i < len; i++) {
        char ch = w[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  strchr(".:/_-", ch);
        if (!ok || !ch)
            return pwss__fail(c, at, "stream.symbols: '%.*s' has a character outside [A-Za-z0-9.:/_-]",
                              (int)len, w);
    }
    if (s->nsymbols >= PWSS__MAX_STREAM_SYMBOLS)
        return pwss__fail(c, at, "stream.symbols: more than %u symbols", PWSS__MAX_STREAM_SYMBOLS);
    if (!s->symbols) {
        s->symbols = calloc(PWSS__MAX_STREAM_SYMBOLS, sizeof *s->symbols);
        if (!s->symbols)
            return pwss__fail(c, at, "out of memory");
    }
    for (uint32_t i = 0; i < s->nsymbols; i++)
        if (strlen(s->symbols[i]) == len && !memcmp(s->symbols[i], w, len))
            return pwss__fail(c, at, "stream.symbols: '%.*s' given twice", (int)len, w);
    if (!(s->symbols[s->nsymbols] = strndup(w, len)))
        return pwss__fail(c, at, "out of memory");
    s->nsymbols++;
    return true;
}

static bool step_stream(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs)
{
    static const char *const keys[] = {"count", "rate", "batch", "seed", "types", "symbols", NULL};
    pwss_stream *s = &st->stream;
    const pwss__ynode *v;
    uint64_t u;
    if (!pwss__check_map(c, arg, "stream", keys) || !pwss__need(c, arg, "count", "stream", &v) ||
        !pwss__read_uint(c, v, "stream.count", 1, PWSS__MAX_STREAM_COUNT, &s->count))
        return false;
    s->batch = PWSS__DEFAULT_STREAM_BATCH;
    if ((v = pwss__get(arg, "rate"))) {
        if (v->kind == PWSS__Y_SCALAR && !strcmp(v->text, "max"))
            s->rate = 0;
        else if (!pwss__read_number(c, v, "stream.rate", 0, PWSS__MAX_RATE, &s->rate))
            return false;
    }
    if ((v = pwss__get(arg, "batch"))) {
        if (!pwss__read_uint(c, v, "stream.batch", 1, PWSM_MAX_BATCH, &u))
            return false;
        s->batch = (uint32_t)u;
    }
    if ((v = pwss__get(arg, "seed")) && !pwss__read_uint(c, v, "stream.seed", 0, UINT64_MAX, &s->seed))
        return false;
    if ((v = pwss__get(arg, "types")) && !each_word(c, v, "stream.types", add_type, s))
        return false;
    if ((v = pwss__get(arg, "symbols")) && !each_word(c, v, "stream.symbols", add_symbol, s))
        return false;
    if (s->symbols && s->nsymbols < PWSS__MAX_STREAM_SYMBOLS) { /* give back the unused tail */
        char **shrunk = realloc(s->symbols, s->nsymbols * sizeof *s->symbols);
        if (shrunk)
            s->symbols = shrunk;
    }
    return true;
}

static bool step_sleep(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                       unsigned depth, uint64_t *runs)
{
    return pwss__read_duration(c, arg, "sleep", 0, PWSS__MAX_DURATION_MS, &st->ms);
}

/* stall and serve: bare = until the connection ends (0) */
static bool step_for(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                     unsigned depth, uint64_t *runs)
{
    if (!arg)
        return true;
    return pwss__read_duration(c, arg, st->kind == PWSS_STEP_STALL ? "stall" : "serve", 1,
                               PWSS__MAX_DURATION_MS, &st->ms);
}

static bool step_expect(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs)
{
    static const char *const keys[] = {"json", "regex", "timeout", NULL};
    if (!pwss__check_map(c, arg, "expect", keys))
        return false;
    const pwss__ynode *j = pwss__get(arg, "json"), *r = pwss__get(arg, "regex"),
                      *t = pwss__get(arg, "timeout");
    if (j && r)
        return pwss__fail(c, r, "expect: give json or regex, not both");
    if (!j && !r)
        return pwss__fail(c, arg, "expect: missing required key 'json' or 'regex'");
    /* without a timeout ms stays 0: the server's default (10 s) */
    if (t && !pwss__read_duration(c, t, "expect.timeout", 1, PWSS__MAX_DURATION_MS, &st->ms))
        return false;
    if (r) {
        st->regex = true;
        if (!pwss__read_regex(c, r, "expect.regex", &st->data))
            return false;
        st->len = strlen(st->data);
        return true;
    }
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    pwss__json_error je;
    if (pwss__json_encode(j, &b, &c->budget, &je)) {
        pwss__buf_free(&b);
        return pwss__fail(c, je.at ? je.at : j, "expect.json: %s", je.msg);
    }
    return take_data(c, j, &b, st);
}

static bool step_close(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                       unsigned depth, uint64_t *runs)
{
    st->code = 1000;
    if (!arg)
        return true;
    const pwss__ynode *code = arg, *reason = NULL;
    if (arg->kind == PWSS__Y_MAP) {
        static const char *const keys[] = {"code", "reason", NULL};
        if (!pwss__check_map(c, arg, "close", keys))
            return false;
        code = pwss__get(arg, "code");
        reason = pwss__get(arg, "reason");
    }
    uint64_t u;
    if (code && code->kind == PWSS__Y_SCALAR && !strcmp(code->text, "none")) {
        st->code = 0; /* a close frame with no payload at all */
    } else if (code) {
        if (!pwss__read_uint(c, code, "close.code", 0, 65535, &u))
            return false;
        st->code = (int)u;
    }
    if (!st->code && reason)
        return pwss__fail(c, reason, "close.reason: a close frame without a code carries no reason");
    if (reason && !pwss__read_string(c, reason, "close.reason", PWSS__CLOSE_REASON_MAX, false, &st->reason))
        return false;
    return true;
}

/* ping and pong: bare = empty payload */
static bool step_control(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                         unsigned depth, uint64_t *runs)
{
    const char *what = st->kind == PWSS_STEP_PING ? "ping" : "pong";
    if (!arg) {
        st->data = calloc(1, 1);
        return st->data ? true : pwss__fail(c, at, "out of memory");
    }
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    if (!payload_into(c, arg, what, &b, 0)) {
        pwss__buf_free(&b);
        return false;
    }
    if (b.len > PWSS__CONTROL_MAX) {
        pwss__buf_free(&b);
        return pwss__fail(c, arg,
                          "%s: a control frame carries at most %u bytes (for more, use fault: "
                          "oversized_control)",
                          what, PWSS__CONTROL_MAX);
    }
    return take_data(c, arg, &b, st);
}

/* One `frame:` mapping appended to out. */
static bool frame_into(pwss__ctx *c, const pwss__ynode *n, pwss__buf *out)
{
    static const char *const keys[] = {"fin", "rsv1", "rsv2", "rsv3", "opcode", "mask", "payload", NULL};
    if (!pwss__check_map(c, n, "frame", keys))
        return false;
    bool fin = true, r1 = false, r2 = false, r3 = false;
    const pwss__ynode *v;
    if ((v = pwss__get(n, "fin")) && !pwss__read_bool(c, v, "frame.fin", &fin))
        return false;
    if ((v = pwss__get(n, "rsv1")) && !pwss__read_bool(c, v, "frame.rsv1", &r1))
        return false;
    if ((v = pwss__get(n, "rsv2")) && !pwss__read_bool(c, v, "frame.rsv2", &r2))
        return false;
    if ((v = pwss__get(n, "rsv3")) && !pwss__read_bool(c, v, "frame.rsv3", &r3))
        return false;
    if (!pwss__need(c, n, "opcode", "frame", &v))
        return false;
    static const char *const ops[] = {"continuation", "text", "binary", NULL,   NULL,  NULL,
                                      NULL,           NULL,   "close",  "ping", "pong"};
    uint64_t op = 16;
    if (v->kind == PWSS__Y_SCALAR && pwss__scalar_class(v) == PWSS__S_STRING) {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (ops[i] && !strcmp(ops[i], v->text))
                op = i;
        if (op == 16)
            return pwss__fail(c, v,
                              "frame.opcode: expected 0..15 or continuation, text, binary, close, ping, "
                              "pong; got '%.32s'",
                              v->text);
    } else if (!pwss__read_uint(c, v, "frame.opcode", 0, 15, &op)) {
        return false;
    }
    uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    bool masked = false;
    if ((v = pwss__get(n, "mask"))) {
        if (v->kind == PWSS__Y_SCALAR &&
            (pwss__scalar_class(v) == PWSS__S_TRUE || pwss__scalar_class(v) == PWSS__S_FALSE)) {
            masked = pwss__scalar_class(v) == PWSS__S_TRUE;
        } else if (v->kind == PWSS__Y_SCALAR) {
            char m[160];
            pwss__buf kb = {.max = 4};
            if (pwss__hex_decode(v->text, v->len, &kb, m, sizeof m) || kb.len != 4) {
                pwss__buf_free(&kb);
                return pwss__fail(c, v,
                                  "frame.mask: expected true, false or a 4-byte key in hex (\"37fa213d\")");
            }
            memcpy(key, kb.data, 4);
            pwss__buf_free(&kb);
            masked = true;
        } else {
            return pwss__fail(c, v, "frame.mask: expected true, false or a 4-byte key in hex");
        }
    }
    pwss__buf pl = {.max = PWSS__MAX_PAYLOAD_BYTES};
    if ((v = pwss__get(n, "payload")) && !payload_into(c, v, "frame.payload", &pl, 0)) {
        pwss__buf_free(&pl);
        return false;
    }
    unsigned rsv = (r1 ? PWSS__WS_RSV1 : 0) | (r2 ? PWSS__WS_RSV2 : 0) | (r3 ? PWSS__WS_RSV3 : 0);
    int rc =
        pwss__frame_append(out, fin, rsv, (unsigned)op, masked ? key : NULL, pl.data ? pl.data : "", pl.len);
    pwss__buf_free(&pl);
    if (rc)
        return buf_fail(c, n, "frame", out);
    return true;
}

static bool step_frame(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                       unsigned depth, uint64_t *runs)
{
    char d[96];
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    bool ok = true;
    if (arg->kind == PWSS__Y_SEQ) {
        if (!arg->nkids)
            ok = pwss__fail(c, arg, "frame: empty list of frames");
        for (size_t i = 0; ok && i < arg->nkids; i++)
            ok = pwss__visit(c, arg->kids[i]) && frame_into(c, arg->kids[i], &b);
    } else if (arg->kind == PWSS__Y_MAP) {
        ok = frame_into(c, arg, &b);
    } else {
        ok = pwss__fail(c, arg,
                        "frame: expected a frame {opcode: ..., payload: ...} or a list of them, got %s",
                        pwss__describe(arg, d, sizeof d));
    }
    if (!ok) {
        pwss__buf_free(&b);
        return false;
    }
    return take_data(c, arg, &b, st);
}

static bool step_fault(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                       unsigned depth, uint64_t *runs)
{
    char d[96], names[400];
    names[0] = '\0';
    const char *list[PWSS__FAULT_COUNT + 1];
    for (int i = 0; i < PWSS__FAULT_COUNT; i++) {
        list[i] = pwss__faults[i].name;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", list[i]);
    }
    list[PWSS__FAULT_COUNT] = NULL;
    const pwss__ynode *kn = arg;
    if (arg->kind == PWSS__Y_MAP && !pwss__need(c, arg, "kind", "fault", &kn))
        return false;
    if (kn->kind != PWSS__Y_SCALAR || pwss__scalar_class(kn) != PWSS__S_STRING)
        return pwss__fail(c, kn, "fault: expected a fault name (%s), got %s", names,
                          pwss__describe(kn, d, sizeof d));
    int kind = pwss__fault_lookup(kn->text);
    if (kind < 0) {
        const char *hint = pwss__closest(kn->text, list);
        return pwss__fail(c, kn, "unknown fault '%.64s' (faults: %s)%s%s%s", kn->text, names,
                          hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
    pwss__fault_spec spec = {.kind = (pwss__fault)kind};
    pwss__buf pl = {.max = PWSS__MAX_PAYLOAD_BYTES};
    if (arg->kind == PWSS__Y_MAP) {
        const char *keys[5] = {"kind"};
        size_t nk = 1;
        for (size_t i = 0; pwss__faults[kind].params[i]; i++)
            keys[nk++] = pwss__faults[kind].params[i];
        keys[nk] = NULL;
        char what[48];
        snprintf(what, sizeof what, "fault %s", pwss__faults[kind].name);
        if (!pwss__check_map(c, arg, what, keys))
            return false;
        const pwss__ynode *v;
        uint64_t u;
        if ((v = pwss__get(arg, "opcode"))) {
            if (!pwss__read_uint(c, v, "fault.opcode", 0, 15, &u))
                return false;
            if (!((u >= 3 && u <= 7) || (u >= 11 && u <= 15)))
                return pwss__fail(c, v, "fault.opcode: %llu is not reserved (reserved: 3-7, 11-15)",
                                  (unsigned long long)u);
            spec.opcode = (unsigned)u;
        }
        if ((v = pwss__get(arg, "code"))) {
            if (!pwss__read_uint(c, v, "fault.code", 1, 65535, &u))
                return false;
            if (pwss__close_code_valid((int)u))
                return pwss__fail(c, v,
                                  "fault.code: %llu is a valid close code (use the close step to send it); "
                                  "invalid are 1-999, 1004-1006, 1015-2999, 5000-65535",
                                  (unsigned long long)u);
            spec.close_code = (int)u;
        }
        if ((v = pwss__get(arg, "frames"))) {
            if (!pwss__read_uint(c, v, "fault.frames", 2, PWSS__MAX_FRAGMENTS, &u))
                return false;
            spec.frames = (unsigned)u;
        }
        if ((v = pwss__get(arg, "size"))) {
            if (!pwss__read_uint(c, v, "fault.size", PWSS__CONTROL_MAX + 1, PWSS__MAX_OVERSIZED, &u))
                return false;
            spec.size = (size_t)u;
        }
        if ((v = pwss__get(arg, "payload"))) {
            if (!payload_into(c, v, "fault.payload", &pl, 0)) {
                pwss__buf_free(&pl);
                return false;
            }
            spec.payload = pl.data ? pl.data : "";
            spec.len = pl.len;
        }
    }
    char m[200];
    pwss__buf b = {.max = PWSS__MAX_PAYLOAD_BYTES};
    int rc = pwss__fault_build(&spec, &b, m, sizeof m);
    pwss__buf_free(&pl);
    if (rc) {
        pwss__buf_free(&b);
        return pwss__fail(c, arg, "fault %s: %s", pwss__faults[kind].name, m);
    }
    return take_data(c, arg, &b, st);
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static bool step_repeat(pwss__ctx *c, const pwss__ynode *arg, const pwss__ynode *at, pwss_step *st,
                        unsigned depth, uint64_t *runs)
{
    static const char *const keys[] = {"times", "steps", NULL};
    const pwss__ynode *t, *s;
    uint64_t u;
    if (!pwss__check_map(c, arg, "repeat", keys) || !pwss__need(c, arg, "times", "repeat", &t) ||
        !pwss__need(c, arg, "steps", "repeat", &s) ||
        !pwss__read_uint(c, t, "repeat.times", 1, PWSS_MAX_REPEAT, &u))
        return false;
    st->times = (uint32_t)u;
    if (depth + 1 > PWSS_MAX_DEPTH)
        return pwss__fail(c, at, "repeat: nested deeper than %u levels", PWSS_MAX_DEPTH);
    if (s->kind != PWSS__Y_SEQ || !s->nkids)
        return pwss__fail(c, s, "repeat.steps: expected a non-empty list of steps");
    uint64_t body = 0;
    if (!pwss__compile_steps(c, s, depth + 1, &st->body, &st->nbody, &body))
        return false;
    *runs = sat_mul(st->times, body);
    return true;
}

/* ---- the step table */

typedef enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED } arg_rule;

typedef struct step_def {
    const char *name;    /* as written */
    pwss_step_kind kind; /* what it compiles to */
    arg_rule arg;        /* whether it takes a value */
    step_fn fn;          /* compiler */
    const char *example; /* for "needs a value" messages */
} step_def;

static const step_def steps[] = {
    {"greet", PWSS_STEP_GREET, ARG_NONE, step_plain, NULL},
    {"auth", PWSS_STEP_AUTH, ARG_OPTIONAL, step_wait, NULL},
    {"confirm", PWSS_STEP_CONFIRM, ARG_OPTIONAL, step_wait, NULL},
    {"handshake", PWSS_STEP_HANDSHAKE, ARG_OPTIONAL, step_wait, NULL},
    {"send", PWSS_STEP_SEND_TEXT, ARG_REQUIRED, step_send, "send: [{ev: status, status: info}]"},
    {"status", PWSS_STEP_SEND_TEXT, ARG_REQUIRED, step_status,
     "status: {status: force_disconnect, message: bye}"},
    {"events", PWSS_STEP_SEND_TEXT, ARG_REQUIRED, step_events, "events: [{ev: T, sym: MSFT, p: 1.5}]"},
    {"send_raw", PWSS_STEP_SEND_TEXT, ARG_REQUIRED, step_send_raw, "send_raw: '[{\"ev\":'"},
    {"send_binary", PWSS_STEP_SEND_BINARY, ARG_REQUIRED, step_send_raw, "send_binary: {hex: 00ff}"},
    {"send_invalid_utf8", PWSS_STEP_SEND_TEXT, ARG_NONE, step_invalid_utf8, NULL},
    {"stream", PWSS_STEP_STREAM, ARG_REQUIRED, step_stream, "stream: {count: 100, rate: 50}"},
    {"sleep", PWSS_STEP_SLEEP, ARG_REQUIRED, step_sleep, "sleep: 250ms"},
    {"expect", PWSS_STEP_EXPECT, ARG_REQUIRED, step_expect,
     "expect: {json: {action: subscribe}, timeout: 2s}"},
    {"close", PWSS_STEP_CLOSE, ARG_OPTIONAL, step_close, NULL},
    {"drop", PWSS_STEP_DROP, ARG_NONE, step_plain, NULL},
    {"stall", PWSS_STEP_STALL, ARG_OPTIONAL, step_for, NULL},
    {"ping", PWSS_STEP_PING, ARG_OPTIONAL, step_control, NULL},
    {"pong", PWSS_STEP_PONG, ARG_OPTIONAL, step_control, NULL},
    {"frame", PWSS_STEP_RAW, ARG_REQUIRED, step_frame, "frame: {opcode: text, fin: false, payload: '[{'}"},
    {"fault", PWSS_STEP_RAW, ARG_REQUIRED, step_fault, "fault: reserved_bits"},
    {"serve", PWSS_STEP_SERVE, ARG_OPTIONAL, step_for, NULL},
    {"repeat", PWSS_STEP_REPEAT, ARG_REQUIRED, step_repeat, "repeat: {times: 3, steps: [sleep: 1s]}"},
};

#define NSTEP_DEFS (sizeof steps / sizeof steps[0])

static bool compile_step(pwss__ctx *c, const pwss__ynode *item, unsigned depth, pwss_step *st,
                         uint64_t *unrolled)
{
    char d[96];
    const pwss__ynode *name, *arg = NULL;
    st->line = item->line;
    st->column = item->column;
    if (item->kind == PWSS__Y_SCALAR && pwss__scalar_class(item) == PWSS__S_STRING) {
        name = item;
    } else if (item->kind == PWSS__Y_MAP && item->nkids == 2 && item->kids[0]->kind == PWSS__Y_SCALAR) {
        name = item->kids[0];
        arg = item->kids[1];
        if (arg->kind == PWSS__Y_SCALAR && arg->plain && !arg->len)
            arg = NULL; /* `greet:` with nothing after it: the bare form */
    } else if (item->kind == PWSS__Y_MAP && item->nkids > 2) {
        return pwss__fail(c, item->kids[2],
                          "a step is one key: '%.32s' and '%.32s' are two steps, write each as "
                          "its own list item",
                          item->kids[0]->kind == PWSS__Y_SCALAR ? item->kids[0]->text : "?",
                          item->kids[2]->kind == PWSS__Y_SCALAR ? item->kids[2]->text : "?");
    } else {
        return pwss__fail(c, item, "expected a step ('- drop' or '- sleep: 250ms'), got %s",
                          pwss__describe(item, d, sizeof d));
    }
    if (!pwss__visit(c, name))
        return false;
    const step_def *def = NULL;
    for (size_t i = 0; i < NSTEP_DEFS && !def; i++)
        if (!strcmp(steps[i].name, name->text))
            def = &steps[i];
    if (!def) {
        const char *names[NSTEP_DEFS + 1];
        char list[400] = "";
        for (size_t i = 0; i < NSTEP_DEFS; i++) {
            names[i] = steps[i].name;
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", steps[i].name);
        }
        names[NSTEP_DEFS] = NULL;
        const char *hint = pwss__closest(name->text, names);
        return pwss__fail(c, name, "unknown step '%.64s' (steps: %s)%s%s%s", name->text, list,
                          hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
    if (++c->steps > PWSS_MAX_STEPS)
        return pwss__fail(c, item, "more than %u steps in the scenario (PWSS_MAX_STEPS)", PWSS_MAX_STEPS);
    if (def->arg == ARG_NONE && arg)
        return pwss__fail(c, arg, "%s takes no value (write '- %s')", def->name, def->name);
    if (def->arg == ARG_REQUIRED && !arg)
        return pwss__fail(c, item, "%s needs a value, e.g. '- %s'", def->name, def->example);
    st->kind = def->kind;
    if (arg && !pwss__visit(c, arg))
        return false;
    uint64_t runs = 1; /* steps this one runs: times x body for a repeat */
    if (!def->fn(c, arg, item, st, depth, &runs))
        return false;
    *unrolled = *unrolled + runs < *unrolled ? UINT64_MAX : *unrolled + runs;
    return true;
}

bool pwss__compile_steps(pwss__ctx *c, const pwss__ynode *n, unsigned depth, pwss_step **out, size_t *count,
                         uint64_t *unrolled)
{
    *out = NULL;
    *count = 0;
    *unrolled = 0;
    if (!n || !n->nkids)
        return true;
    pwss_step *arr = calloc(n->nkids, sizeof *arr);
    if (!arr)
        return pwss__fail(c, n, "out of memory");
    *out = arr;
    for (size_t i = 0; i < n->nkids; i++) {
        *count = i + 1;
        if (!pwss__visit(c, n->kids[i]) || !compile_step(c, n->kids[i], depth, &arr[i], unrolled))
            return false;
        if (*unrolled > PWSS__MAX_UNROLLED_STEPS)
            return pwss__fail(c, n->kids[i],
                              "the steps run %s%llu times in all with repeats unrolled (limit %u)",
                              *unrolled == UINT64_MAX ? "more than " : "", (unsigned long long)*unrolled,
                              PWSS__MAX_UNROLLED_STEPS);
    }
    return true;
}

void pwss__free_steps(pwss_step *steps_, size_t count)
{
    if (!steps_)
        return;
    for (size_t i = 0; i < count; i++) {
        pwss_step *s = &steps_[i];
        free(s->data);
        free(s->reason);
        for (uint32_t j = 0; j < s->stream.nsymbols; j++)
            free(s->stream.symbols[j]);
        free(s->stream.symbols);
        pwss__free_steps(s->body, s->nbody);
    }
    free(steps_);
}
