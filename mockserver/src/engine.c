/*
 * engine.c - the step sequencer of scenario playback (see engine.h).
 *
 * A stack of levels walks the steps: level 0 holds the script, each running
 * REPEAT pushes its body.  Steps that only queue frames end at once, and the
 * engine goes on to the next in the same callback, up to PWSM__ENGINE_BURST
 * steps or PWSM__ENGINE_HIGH_WATER queued bytes; then it waits for the queue
 * to drain, so a REPEAT of a million sends never holds more than that in
 * memory and never keeps lws from serving other connections.
 */
#include "engine.h"

#include "wire/clock.h"

#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#define FAIL_MAX 1024 /* bytes of one step_failed message (the judge quotes 400) */

/** One level of the step stack: the top-level steps, or a REPEAT body. */
typedef struct pwsm__engine_level {
    const pwss_step *steps;  /* the steps of this level */
    size_t n;                /* their number */
    size_t next;             /* index of the next step to start (the running one is next - 1) */
    uint32_t iteration;      /* 1-based iteration of a REPEAT body (1 for the top level) */
    uint32_t times;          /* iterations to run (1 for the top level) */
} pwsm__engine_level;

/** Where a running step is in its work. */
typedef enum pwsm__phase {
    PWSM__PH_NONE = 0,       /* nothing to wait for: the step ends when its frames are queued */
    PWSM__PH_BARRIER,        /* waiting for the queue to drain before acting */
    PWSM__PH_TIMER,          /* waiting for the engine timer (SLEEP, STALL, SERVE) */
    PWSM__PH_AUTH,           /* waiting for an auth action (AUTH, HANDSHAKE) */
    PWSM__PH_CONFIRM,        /* waiting for a subscribe action (CONFIRM, HANDSHAKE) */
    PWSM__PH_EXPECT,         /* waiting for a matching client message */
    PWSM__PH_STREAM,         /* a STREAM step is streaming */
    PWSM__PH_FOREVER,        /* STALL 0 / SERVE 0 / CLOSE / DROP: runs until the connection ends */
} pwsm__phase;

/** A connection's engine, allocated zeroed by pwsm__engine_attach and freed when the connection ends. */
typedef struct pwsm__engine {
    pwsm__conn *conn;                /* the connection it drives */
    const pwss_conn_script *script;  /* the steps; NULL: no script */
    pwsm__engine_level stack[PWSS_MAX_DEPTH + 1]; /* top level, then nested REPEAT bodies */
    unsigned depth;                  /* levels in use */
    const pwss_step *step;           /* the running step, or NULL between steps */
    pwsm__phase phase;               /* what it waits for */
    uint32_t wait_ms;                /* the running wait's timeout (for messages) */
    int64_t step_started_ms;         /* monotonic ms when the running step started */
    bool finished;                   /* every step ran: the connection serves */
    bool in_advance;                 /* advance() is on the stack: do not re-enter */
    bool resume;                     /* paused for the queue to drain (a burst of steps) */
    void *pattern;                   /* EXPECT: the parsed JSON pattern (cJSON *) */
    regex_t re;                      /* EXPECT: the compiled regex ... */
    bool re_ready;                   /* ... if this is set */
    char last_rx[PWSM__LAST_RX_MAX + 1]; /* excerpt of the last client message (redacted) */
    size_t last_rx_len;              /* its length */
    bool have_rx;                    /* a client message was received */
    uint32_t streams_run;            /* STREAM steps started (mixed into their default seed) */
} pwsm__engine;

static void advance(pwsm__engine *e);

/* ---------------------------------------------------------------- failure messages */

/* The running step's position: "3", or "3.2" for step 2 of the REPEAT body at step 3. */
static void step_path(const pwsm__engine *e, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned l = 0; l < e->depth && o < cap; l++) {
        int n = snprintf(out + o, cap - o, "%s%zu", l ? "." : "", e->stack[l].next);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* What the running wait expected, e.g. "expected an auth action within 5000 ms". */
static void describe_wait(const pwsm__engine *e, char *out, size_t cap)
{
    const pwss_step *s = e->step;
    switch (e->phase) {
    case PWSM__PH_AUTH:
        snprintf(out, cap, "expected an auth action within %" PRIu32 " ms", e->wait_ms);
        break;
    case PWSM__PH_CONFIRM:
        snprintf(out, cap, "expected a subscribe action within %" PRIu32 " ms", e->wait_ms);
        break;
    case PWSM__PH_EXPECT: {
        char pat[PWSM__PATTERN_SHOWN * 4 + 8];
        pwsm__excerpt(pat, sizeof pat, s->data, s->len, PWSM__PATTERN_SHOWN);
        snprintf(out, cap, "expected a client text message matching %s %s within %" PRIu32 " ms",
                 s->regex ? "regex" : "JSON subset", pat, e->wait_ms);
        break;
    }
    default:
        snprintf(out, cap, "expected the step to complete");
        break;
    }
}

/* Journals "step N (LINE:COLUMN) KIND: <what>, received last: <message>". */
static void fail(pwsm__engine *e, const char *what)
{
    const pwss_step *s = e->step;
    char path[PWSS_MAX_DEPTH * 12 + 12], iter[64] = "", msg[FAIL_MAX];
    step_path(e, path, sizeof path);
    if (e->depth > 1)
        snprintf(iter, sizeof iter, " (repeat iteration %" PRIu32 " of %" PRIu32 ")",
                 e->stack[e->depth - 1].iteration, e->stack[e->depth - 1].times);
    if (e->have_rx)
        snprintf(msg, sizeof msg, "step %s (%d:%d) %s: %s%s, received last: \"%s\"", path, s->line, s->column,
                 pwsm__step_name(s->kind), what, iter, e->last_rx);
    else
        snprintf(msg, sizeof msg, "step %s (%d:%d) %s: %s%s, received last: nothing", path, s->line,
                 s->column, pwsm__step_name(s->kind), what, iter);
    pwsm__conn_journal(e->conn, "step_failed", msg);
}

/* ---------------------------------------------------------------- steps */

static void expect_clear(pwsm__engine *e)
{
    cJSON_Delete(e->pattern);
    e->pattern = NULL;
    if (e->re_ready)
        regfree(&e->re);
    e->re_ready = false;
}

/* The running step is over: go on with the next (unless advance() is already doing so). */
static void step_end(pwsm__engine *e)
{
    expect_clear(e);
    e->step = NULL;
    e->phase = PWSM__PH_NONE;
    if (!e->in_advance)
        advance(e);
}

static void wait_for(pwsm__engine *e, pwsm__phase phase, uint32_t ms)
{
    e->phase = phase;
    e->wait_ms = ms;
    pwsm__conn_timer(e->conn, ms);
}

static uint32_t auth_wait_ms(const pwsm__engine *e, const pwss_step *s)
{
    return s->ms ? s->ms : pwsm__conn_auth_timeout_ms(e->conn);
}

static uint32_t step_wait_ms(const pwss_step *s)
{
    return s->ms ? s->ms : PWSM__STEP_TIMEOUT_MS;
}

/* Parses or compiles the EXPECT pattern (already checked by pwsm__scripts_copy, so only
 * memory can run out here).  NULL, or why not. */
static const char *expect_prepare(pwsm__engine *e, const pwss_step *s)
{
    if (s->regex) {
        if (regcomp(&e->re, s->data, REG_EXTENDED | REG_NOSUB) != 0)
            return "could not compile the regex";
        e->re_ready = true;
        return NULL;
    }
    e->pattern = cJSON_ParseWithLength(s->data, s->len);
    return e->pattern ? NULL : "could not parse the JSON pattern";
}

/* text is NUL-terminated (a NUL inside ends what the regex sees). */
static bool expect_matches(const pwsm__engine *e, const char *text, size_t len)
{
    if (e->re_ready)
        return regexec(&e->re, text, 0, NULL, 0) == 0;
    cJSON *v = cJSON_ParseWithLength(text, len);
    bool ok = v && pwsm__json_subset(e->pattern, v);
    cJSON_Delete(v);
    return ok;
}

static void send_payload(pwsm__engine *e, pwsm__out type, const pwss_step *s)
{
    pwsm__conn_send(e->conn, type, s->data ? s->data : "", s->data ? s->len : 0);
}

static void start_step(pwsm__engine *e, const pwss_step *s)
{
    pwsm__conn *c = e->conn;
    e->step = s;
    e->phase = PWSM__PH_NONE;
    e->step_started_ms = pws__mono_ms();
    char note[64];
    snprintf(note, sizeof note, "%s %d:%d", pwsm__step_name(s->kind), s->line, s->column);
    pwsm__conn_journal(c, "step", note);

    switch (s->kind) {
    case PWSS_STEP_GREET:
        pwsm__conn_status(c, "connected");
        break;
    case PWSS_STEP_HANDSHAKE:
        pwsm__conn_status(c, "connected");
        wait_for(e, PWSM__PH_AUTH, auth_wait_ms(e, s));
        return;
    case PWSS_STEP_AUTH:
        wait_for(e, PWSM__PH_AUTH, auth_wait_ms(e, s));
        return;
    case PWSS_STEP_CONFIRM:
        wait_for(e, PWSM__PH_CONFIRM, step_wait_ms(s));
        return;
    case PWSS_STEP_SEND_TEXT:
        send_payload(e, PWSM__OUT_TEXT, s);
        break;
    case PWSS_STEP_SEND_BINARY:
        send_payload(e, PWSM__OUT_BINARY, s);
        break;
    case PWSS_STEP_PING:
        send_payload(e, PWSM__OUT_PING, s);
        break;
    case PWSS_STEP_PONG:
        send_payload(e, PWSM__OUT_PONG, s);
        break;
    case PWSS_STEP_RAW:
        if (s->len)
            send_payload(e, PWSM__OUT_RAW, s);
        break;
    case PWSS_STEP_SLEEP:
    case PWSS_STEP_STALL:
    case PWSS_STEP_CLOSE:
    case PWSS_STEP_DROP:
        e->phase = PWSM__PH_BARRIER;
        pwsm__conn_barrier(c);
        return;
    case PWSS_STEP_STREAM: {
        const char *why = pwsm__conn_stream(c, &s->stream, e->streams_run++);
        if (why) {
            fail(e, why);
            break;
        }
        e->phase = PWSM__PH_STREAM;
        return;
    }
    case PWSS_STEP_SERVE:
        pwsm__conn_serve(c, true);
        if (s->ms) {
            e->phase = PWSM__PH_TIMER;
            pwsm__conn_timer(c, s->ms);
        } else {
            e->phase = PWSM__PH_FOREVER;
        }
        return;
    case PWSS_STEP_EXPECT: {
        const char *why = expect_prepare(e, s);
        if (why) {
            fail(e, why);
            break;
        }
        wait_for(e, PWSM__PH_EXPECT, step_wait_ms(s));
        return;
    }
    case PWSS_STEP_REPEAT:
        /* Checked: depth < PWSS_MAX_DEPTH + 1 here. */
        if (s->times && s->nbody && e->depth < sizeof e->stack / sizeof e->stack[0])
            e->stack[e->depth++] = (pwsm__engine_level){s->body, s->nbody, 0, 1, s->times};
        break;
    }
    step_end(e);
}

/* The next step to start, walking into and out of REPEAT bodies; NULL at the end. */
static const pwss_step *next_step(pwsm__engine *e)
{
    while (e->depth > 0) {
        pwsm__engine_level *l = &e->stack[e->depth - 1];
        if (l->next < l->n)
            return &l->steps[l->next++];
        if (l->iteration < l->times) {
            l->iteration++;
            l->next = 0;
            continue;
        }
        e->depth--;
    }
    return NULL;
}

/* Starts steps until one has to wait. */
static void advance(pwsm__engine *e)
{
    if (e->in_advance)
        return;
    e->in_advance = true;
    unsigned burst = 0;
    while (!e->step && !e->finished && pwsm__conn_open(e->conn)) {
        if (burst++ >= PWSM__ENGINE_BURST || pwsm__conn_queued(e->conn) > PWSM__ENGINE_HIGH_WATER) {
            e->resume = true;
            pwsm__conn_barrier(e->conn);
            break;
        }
        const pwss_step *s = next_step(e);
        if (!s) {
            e->finished = true;
            pwsm__conn_serve(e->conn, true);
            break;
        }
        start_step(e, s);
    }
    e->in_advance = false;
}

/* ---------------------------------------------------------------- the driver callbacks (conn.h) */

/* ESTABLISHED: starts the first steps. */
static void engine_start(void *self)
{
    pwsm__engine *e = self;
    if (!e->script)
        return;
    e->stack[0] = (pwsm__engine_level){e->script->steps, e->script->nsteps, 0, 1, 1};
    e->depth = 1;
    advance(e);
}

/* Remembers a client message (already redacted) for failure messages. */
static void engine_received(void *self, bool binary, const char *redacted, size_t len)
{
    pwsm__engine *e = self;
    size_t o = 0;
    if (binary)
        o = (size_t)snprintf(e->last_rx, sizeof e->last_rx, "(binary) ");
    pwsm__excerpt(e->last_rx + o, sizeof e->last_rx - o, redacted, len, PWSM__LAST_RX_MAX);
    e->last_rx_len = strlen(e->last_rx);
    e->have_rx = true;
}

/* Offers a client text message to the running step.  Returns true if the step took it
 * (no real-service answer must follow), false if the real service should answer it. */
static bool engine_message(void *self, const pwsm__msg *m, const char *text, size_t len)
{
    pwsm__engine *e = self;
    if (!e->step)
        return false;
    switch (e->phase) {
    case PWSM__PH_AUTH:
        if (m->action == PWSM__ACT_AUTH) {
            pwsm__conn_timer_cancel(e->conn);
            bool ok = pwsm__conn_auth(e->conn, m->params);
            if (ok && e->step->kind == PWSS_STEP_HANDSHAKE)
                wait_for(e, PWSM__PH_CONFIRM, step_wait_ms(e->step));
            else
                step_end(e);
        }
        return true; /* while waiting, other messages get no answer */
    case PWSM__PH_CONFIRM:
        if (m->action == PWSM__ACT_SUBSCRIBE) {
            pwsm__conn_timer_cancel(e->conn);
            pwsm__conn_subscribe(e->conn, m->params, true, true);
            step_end(e);
        }
        return true;
    case PWSM__PH_EXPECT:
        if (expect_matches(e, text, len)) {
            pwsm__conn_timer_cancel(e->conn);
            step_end(e);
        }
        return true;
    default:
        return false;
    }
}

/* The engine timer fired. */
static void engine_timer(void *self)
{
    pwsm__engine *e = self;
    if (!e->step)
        return;
    char what[PWSM__PATTERN_SHOWN * 4 + 128];
    switch (e->phase) {
    case PWSM__PH_AUTH:
        describe_wait(e, what, sizeof what);
        fail(e, what);
        pwsm__conn_auth_timeout(e->conn); /* like the real service (if not authenticated) */
        step_end(e);
        return;
    case PWSM__PH_CONFIRM:
    case PWSM__PH_EXPECT:
        if (e->phase == PWSM__PH_CONFIRM && e->step->optional) {
            step_end(e); /* an auth-only client: go on without a subscription */
            return;
        }
        describe_wait(e, what, sizeof what);
        fail(e, what);
        step_end(e);
        return;
    case PWSM__PH_TIMER:
        if (e->step->kind == PWSS_STEP_STALL)
            pwsm__conn_stall(e->conn, false);
        else if (e->step->kind == PWSS_STEP_SERVE)
            pwsm__conn_serve(e->conn, false);
        step_end(e);
        return;
    default:
        return;
    }
}

/* The queue drained after pwsm__conn_barrier.  Returns what the WRITEABLE callback must
 * return (-1 after a close or a drop). */
static int engine_drained(void *self)
{
    pwsm__engine *e = self;
    if (e->resume) {
        e->resume = false;
        advance(e);
        return 0;
    }
    if (!e->step || e->phase != PWSM__PH_BARRIER)
        return 0;
    const pwss_step *s = e->step;
    e->step_started_ms = pws__mono_ms(); /* timing steps measure from here */
    switch (s->kind) {
    case PWSS_STEP_SLEEP:
        if (!s->ms) {
            step_end(e);
            return 0;
        }
        e->phase = PWSM__PH_TIMER;
        pwsm__conn_timer(e->conn, s->ms);
        return 0;
    case PWSS_STEP_STALL:
        pwsm__conn_stall(e->conn, true);
        if (s->ms) {
            e->phase = PWSM__PH_TIMER;
            pwsm__conn_timer(e->conn, s->ms);
        } else {
            e->phase = PWSM__PH_FOREVER;
        }
        return 0;
    case PWSS_STEP_CLOSE:
        e->phase = PWSM__PH_FOREVER;
        return pwsm__conn_close(e->conn, s->code, s->reason);
    case PWSS_STEP_DROP:
        e->phase = PWSM__PH_FOREVER;
        return pwsm__conn_drop(e->conn);
    default:
        return 0;
    }
}

/* The running STREAM step ended: why is NULL, or why it ended early (a step failure). */
static void engine_stream_done(void *self, const char *why)
{
    pwsm__engine *e = self;
    if (!e->step || e->phase != PWSM__PH_STREAM)
        return;
    if (why)
        fail(e, why);
    step_end(e);
}

/* The connection ended: journals a wait it interrupted as a failed step, frees. */
static void engine_ended(void *self)
{
    pwsm__engine *e = self;
    if (e->step && (e->phase == PWSM__PH_AUTH || e->phase == PWSM__PH_EXPECT ||
                    (e->phase == PWSM__PH_CONFIRM && !e->step->optional))) {
        char wait[PWSM__PATTERN_SHOWN * 4 + 128], what[sizeof wait + 64];
        describe_wait(e, wait, sizeof wait);
        snprintf(what, sizeof what, "%s, but the connection ended after %" PRId64 " ms", wait,
                 pws__mono_ms() - e->step_started_ms);
        fail(e, what);
    }
    expect_clear(e);
    free(e);
}

static const pwsm__conn_driver engine_driver = {
    .start = engine_start,
    .received = engine_received,
    .message = engine_message,
    .timer = engine_timer,
    .drained = engine_drained,
    .stream_done = engine_stream_done,
    .ended = engine_ended,
};

int pwsm__engine_attach(void *user, pwsm__conn *c, uint32_t ordinal)
{
    /* Our copy keeps the scripts sorted by ordinal, as pwss_script_for needs. */
    const pwss_conn_script *play = pwss_script_for(user, ordinal);
    if (!play || play->nsteps == 0)
        return 0; /* no steps: the real service, greeting included */
    pwsm__engine *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->conn = c;
    e->script = play;
    pwsm__conn_drive(c, &engine_driver, e);
    return 0;
}
