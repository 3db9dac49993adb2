/*
 * replayer.c - plays the server side of a tape to new clients.
 *
 * Client n (in the order their WebSocket requests arrive) plays tape
 * connection n.  Its frames are read from the tape as the play goes (one
 * reader per connection, streaming), and:
 *   - server frames (text, binary, ping, close) are sent in the recorded
 *     order, at the recorded time scaled by the speed, or at once at "max";
 *   - at a client text or binary message the play waits for the client's next
 *     message and compares them (pws_tape_match); the timing is re-anchored
 *     there, because the server's next frames answered it;
 *   - a recorded close is sent with its code and reason as recorded (a reason
 *     over 123 bytes cut after its last whole UTF-8 character, in
 *     pws__ws_close_frame, as a control frame must be); a
 *     recorded TCP drop by the upstream is a TCP drop here, at the same point;
 *   - recorded server pongs are skipped and client pings are answered at once
 *     (pongs answer pings; the client's pings come when it wants them).
 * A client that deviates (a different message, a message where the tape has
 * none, no message in wait_ms, an early end) gets a report, expected vs got,
 * and a close with 1008.
 *
 * Frames are coalesced: a play step encodes frames into the connection's
 * output queue until max_buffered bytes wait, and each WRITEABLE writes up to
 * PWS__WRITE_CHUNK bytes with one lws_write.
 */
#include "handshakes.h" /* the handshake guard's settings and counters */
#include "internal.h"   /* replay/src: libpwsreplay helpers */

#include "wire/link.h"    /* raw-socket link: output queue, one lws_write per WRITEABLE */
#include "wire/server.h"  /* the listening side's start-up */
#include "wire/wsproto.h" /* WebSocket framing and HTTP heads */

#include <polyws/replay.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLAY_MAX_TAPE_CONNS 100000u /* connections one tape may hold */
#define REPLAY_INBOX_MAX 256u         /* client messages held ahead of the tape */
#define REPLAY_EXCERPT 160            /* bytes of a message quoted in a report */
#define REPLAY_CLOSE_GRACE_S 5        /* seconds to flush before a close is forced */

typedef enum rstate {
    R_REQUEST = 0, /* reading the client's upgrade request */
    R_PLAY,        /* playing the tape */
    R_CLOSING,     /* everything decided: flush and close */
} rstate;

typedef struct inmsg {
    struct inmsg *next;     /* FIFO */
    int opcode;             /* PWS__OP_TEXT or _BINARY */
    size_t len;             /* bytes */
    char data[];            /* payload, NUL-terminated */
} inmsg;

typedef struct rconn {
    struct pwsr_replayer *rp;  /* owner */
    struct rconn *next;        /* in rp->conns */
    pws__link link;           /* the socket and its output queue */
    rstate st;                 /* progress */
    uint32_t client_no;        /* 1-based order of arrival */
    uint32_t tape_conn;        /* the tape connection it plays */
    pws_tape_buf head;         /* request head */
    pws__wsreader wr;         /* client frames */
    pws_tape_reader *rd;       /* the tape, streaming */
    pws_tape_frame cur;        /* the current tape frame (valid while have_cur) */
    bool have_cur;             /* cur holds an unplayed frame */
    bool tape_end;             /* no more frames for this connection */
    bool anchored;             /* anchor set */
    int64_t anchor_tape_us;    /* tape time of the anchor */
    int64_t anchor_wall_us;    /* monotonic time of the anchor */
    int64_t wait_deadline_us;  /* waiting for a client message until then, 0 = not waiting */
    inmsg *inbox, *inbox_tail; /* client messages not matched yet */
    size_t inbox_len;          /* entries */
    bool client_closed;        /* the client sent a close frame */
    int client_code;           /* its code (0 = none) */
    char client_reason[PWS_TAPE_MAX_REASON + 1]; /* its reason */
    bool sent_close;           /* we sent a close frame */
    bool dropping;             /* a recorded TCP drop: the socket lingers once flushed (wire/linger.h) */
    bool finished;             /* counted in result.finished */
    bool deviated;             /* a deviation was reported */
    uint64_t skipped;          /* server frames not sent because the client closed first */
    lws_sorted_usec_list_t sul; /* the next due frame or a wait deadline */
    bool in_advance;           /* re-entrancy guard */
    pws__hs_entry *hs;         /* the socket in the handshake guard (wire/handshake.h) */
} rconn;

struct pwsr_replayer {
    pwsr_replay_options o;     /* options; strings copied */
    char *tape_path, *host;    /* owned copies */
    uint32_t *tape_ids;        /* tape connection ordinals in order of first appearance */
    uint32_t ntape;            /* entries */
    pws__server sv;            /* the context, its listening vhost and service thread */
    struct lws_protocols protocols[2]; /* ours, then the terminator */
    pwsr__logger lg;
    unsigned char *scratch;    /* LWS_PRE + PWS__WRITE_CHUNK */
    rconn *conns;              /* live connections */
    uint32_t next_client;      /* clients that made a request */
    pwsr__secrets secrets;     /* keys given and seen in clients' auth messages (service thread) */
    pws_redact_rules rules;    /* what a report hides: auth params and those keys */
    pthread_mutex_t mu;        /* guards res */
    pthread_cond_t changed;    /* res.done changed */
    pwsr_replay_result res;    /* the result */
};

/* ------------------------------------------------------------ results */

static void res_add(pwsr_replayer *rp, uint64_t frames, uint64_t bytes, uint64_t matched)
{
    pthread_mutex_lock(&rp->mu);
    rp->res.frames_sent += frames;
    rp->res.bytes_sent += bytes;
    rp->res.client_messages += matched;
    pthread_mutex_unlock(&rp->mu);
}

static void conn_finished(rconn *c)
{
    if (c->finished)
        return;
    c->finished = true;
    pwsr_replayer *rp = c->rp;
    pthread_mutex_lock(&rp->mu);
    rp->res.finished++;
    if (!rp->o.loop && rp->res.finished >= rp->ntape)
        rp->res.done = true;
    pthread_cond_broadcast(&rp->changed);
    pthread_mutex_unlock(&rp->mu);
}

/* Quotes up to REPLAY_EXCERPT bytes, non-printable bytes as \xNN. */
static void excerpt(char *out, size_t cap, const char *s, size_t n, bool binary)
{
    size_t o = 0;
    if (binary) {
        o += (size_t)snprintf(out, cap, "binary %zu bytes: ", n);
        for (size_t i = 0; i < n && i < 32 && o + 3 < cap; i++)
            o += (size_t)snprintf(out + o, cap - o, "%02x", (unsigned char)s[i]);
        if (n > 32 && o + 4 < cap)
            o += (size_t)snprintf(out + o, cap - o, "...");
        return;
    }
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= REPLAY_EXCERPT) {
            snprintf(out + o, cap - o, "...");
            return;
        }
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* A message quoted in a report goes through the recorder's redaction first (auth params,
 * the keys known so far; escaped forms included, as the JSON is scanned): the report goes to
 * stderr and logs, and a quote cut at REPLAY_EXCERPT could keep part of a key. */
static void excerpt_redacted(const pwsr_replayer *rp, char *out, size_t cap, const char *s, size_t n, bool binary)
{
    size_t rl;
    char *r = pwsr__redact(&rp->rules, &rp->secrets.set, s, n, &rl, NULL);
    if (!r) {
        snprintf(out, cap, "(a message of %zu bytes, out of memory while redacting it)", n);
        return;
    }
    excerpt(out, cap, r, rl, binary);
    free(r);
}

static void describe_frame(const pwsr_replayer *rp, char *out, size_t cap, const pws_tape_frame *f)
{
    char ex[REPLAY_EXCERPT * 4 + 64];
    if (f->kind == PWS_TAPE_TEXT || f->kind == PWS_TAPE_BINARY) {
        excerpt_redacted(rp, ex, sizeof ex, (const char *)f->data, f->len, f->kind == PWS_TAPE_BINARY);
        snprintf(out, cap, "%s %s", f->kind == PWS_TAPE_TEXT ? "text" : "a", ex);
    } else if (f->kind == PWS_TAPE_CLOSE) {
        snprintf(out, cap, "close %d \"%.60s\"", f->code, f->reason);
    } else {
        snprintf(out, cap, "%s", f->kind_name);
    }
}

static void start_close(rconn *c, int code, const char *reason);

/* A deviation: report it (the first one goes into the result), close with 1008. */
static void deviation(rconn *c, const char *expected, const char *got, const char *why)
{
    pwsr_replayer *rp = c->rp;
    char msg[PWSR_REPORT_MAX];
    size_t line = c->have_cur ? c->cur.line : 0;
    snprintf(msg, sizeof msg, "connection %u (tape connection %u, line %zu): expected %s; got %s%s%s%s",
             c->client_no, c->tape_conn, line, expected, got, why && *why ? " (" : "", why ? why : "",
             why && *why ? ")" : "");
    /* the quotes are redacted already; a reason or a close reason may still hold a key */
    pws_tape_buf clean = {0};
    if (rp->secrets.set.nkeys && !pwsr__scrub(&clean, msg, strlen(msg), &rp->secrets.set, NULL) &&
        !pwsr__buf_reserve(&clean, 1)) {
        clean.p[clean.len] = '\0';
        snprintf(msg, sizeof msg, "%s", clean.p);
    }
    pws_tape_buf_free(&clean);
    pwsr__log(&rp->lg, PWS_LOG_ERROR, "replay deviation: %s", msg);
    pthread_mutex_lock(&rp->mu);
    if (!rp->res.deviations)
        snprintf(rp->res.report, sizeof rp->res.report, "%s", msg);
    rp->res.deviations++;
    pthread_mutex_unlock(&rp->mu);
    c->deviated = true;
    start_close(c, 1008, "replay: client deviated from the tape");
}

/* ------------------------------------------------------------ sending */

static void queue_frame(rconn *c, int opcode, const void *data, size_t len)
{
    pws__buf *b = &c->link.out;
    pws__link_compact(&c->link);
    if (pws__ws_frame(b, opcode, true, NULL, data, len)) {
        pwsr__log(&c->rp->lg, PWS_LOG_ERROR, "connection %u: out of memory queueing a frame", c->client_no);
        c->link.close_when_flushed = true;
    }
    if (c->link.wsi)
        lws_callback_on_writable(c->link.wsi);
}

/* Writes the bytes of a "raw" entry (lowercase hex, as the mock journals
 * its fault frames) to the socket unchanged. */
static void queue_raw(rconn *c, const void *hex, size_t len)
{
    const char *h = hex;
    unsigned char *bytes = len % 2 == 0 ? malloc(len / 2 + 1) : NULL;
    bool ok = bytes != NULL;
    for (size_t i = 0; ok && i < len / 2; i++) {
        int hi = pws__hexval(h[2 * i]), lo = pws__hexval(h[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!ok) {
        pwsr__log(&c->rp->lg, PWS_LOG_WARN, "connection %u: a raw entry that is not hex bytes: skipped",
                  c->client_no);
    } else {
        pws__link_compact(&c->link);
        if (pws__link_send(&c->link, bytes, len / 2)) {
            pwsr__log(&c->rp->lg, PWS_LOG_ERROR, "connection %u: out of memory queueing raw bytes", c->client_no);
            c->link.close_when_flushed = true;
        }
    }
    free(bytes);
}

static void start_close(rconn *c, int code, const char *reason)
{
    if (c->st == R_CLOSING)
        return;
    c->st = R_CLOSING;
    lws_sul_cancel(&c->sul);
    if (!c->sent_close && c->link.wsi) {
        pws__link_compact(&c->link);
        if (pws__ws_close_frame(&c->link.out, code, reason, NULL) == 0)
            c->sent_close = true;
    }
    c->link.close_when_flushed = true;
    if (c->link.wsi) {
        lws_callback_on_writable(c->link.wsi);
        lws_set_timeout(c->link.wsi, PENDING_TIMEOUT_USER_OK, REPLAY_CLOSE_GRACE_S);
    }
}

/* Ends the connection without a close frame (a recorded TCP drop). */
static void start_drop(rconn *c)
{
    c->st = R_CLOSING;
    c->dropping = true;
    lws_sul_cancel(&c->sul);
    c->link.close_when_flushed = true;
    if (c->link.wsi) {
        lws_callback_on_writable(c->link.wsi);
        lws_set_timeout(c->link.wsi, PENDING_TIMEOUT_USER_OK, REPLAY_CLOSE_GRACE_S);
    }
}

/* ------------------------------------------------------------ playing */

/* The next frame of this connection into c->cur; false at the end. */
static bool fetch(rconn *c)
{
    if (c->have_cur)
        return true;
    if (c->tape_end)
        return false;
    for (;;) {
        int r = pws_tape_next(c->rd, &c->cur);
        if (r < 0) {
            pwsr__log(&c->rp->lg, PWS_LOG_ERROR, "connection %u: tape: %s", c->client_no,
                      pws_tape_reader_error(c->rd));
            c->tape_end = true;
            return false;
        }
        if (r == 0) {
            c->tape_end = true;
            return false;
        }
        if (c->cur.conn == c->tape_conn) {
            c->have_cur = true;
            return true;
        }
    }
}

static void sul_cb(lws_sorted_usec_list_t *sul);

static void schedule_at(rconn *c, int64_t when_us)
{
    int64_t d = when_us - pws__mono_us();
    lws_sul_schedule(lws_get_context(c->link.wsi), 0, &c->sul, sul_cb, d > 0 ? d : 1);
}

static inmsg *inbox_pop(rconn *c)
{
    inmsg *m = c->inbox;
    if (m) {
        c->inbox = m->next;
        if (!c->inbox)
            c->inbox_tail = NULL;
        c->inbox_len--;
    }
    return m;
}

/* Advances the play as far as it can go now. */
static void advance(rconn *c)
{
    pwsr_replayer *rp = c->rp;
    if (c->in_advance || c->st != R_PLAY || !c->link.wsi)
        return;
    c->in_advance = true;
    uint64_t frames = 0, bytes = 0, matched = 0;
    while (c->st == R_PLAY) {
        if (!fetch(c)) {
            /* the tape ends here without a recorded end: wait for the client to leave */
            if (c->inbox) {
                inmsg *m = inbox_pop(c);
                char got[REPLAY_EXCERPT * 4 + 64];
                excerpt_redacted(rp, got, sizeof got, m->data, m->len, m->opcode == PWS__OP_BINARY);
                free(m);
                deviation(c, "no more client messages (the tape connection ends)", got, NULL);
            } else if (c->client_closed) {
                start_close(c, c->client_code ? c->client_code : 1000, c->client_reason);
            }
            break;
        }
        pws_tape_frame *f = &c->cur;
        int64_t now = pws__mono_us();
        if (!c->anchored) {
            c->anchored = true;
            c->anchor_tape_us = f->t_us;
            c->anchor_wall_us = now;
        }
        if (f->dir == '-') {
            c->have_cur = false;
            if (f->kind == PWS_TAPE_CLOSED || f->kind == PWS_TAPE_DROP) {
                bool by_client = f->len == 6 && !memcmp(f->data, "client", 6);
                if (by_client && !c->client_closed) {
                    /* the client ended it on the tape: let this client do the same */
                    c->have_cur = true;
                    if (!c->wait_deadline_us) {
                        c->wait_deadline_us = now + (int64_t)rp->o.wait_ms * 1000;
                        schedule_at(c, c->wait_deadline_us);
                    } else if (now >= c->wait_deadline_us) {
                        c->wait_deadline_us = 0;
                        deviation(c, "the client to end the connection", "nothing", "it stayed open");
                    }
                    break;
                }
                if (f->kind == PWS_TAPE_DROP && !c->client_closed)
                    start_drop(c);
                else
                    start_close(c, c->client_closed ? (c->client_code ? c->client_code : 1000) : 1000,
                                c->client_reason);
                break;
            }
            continue; /* open, error and other events */
        }
        if (f->dir == 's') {
            /* the mock journal's hand-made fault frames ("raw", bytes in hex) are replayed as written */
            bool raw = f->kind == PWS_TAPE_OTHER && f->kind_name && !strcmp(f->kind_name, "raw");
            if (f->kind == PWS_TAPE_PONG || (f->kind == PWS_TAPE_OTHER && !raw)) {
                c->have_cur = false;
                continue;
            }
            if (c->client_closed && f->kind != PWS_TAPE_CLOSE) {
                /* the client closed before the recording did: the rest of the server data is moot */
                c->skipped++;
                c->have_cur = false;
                continue;
            }
            if (rp->o.speed > 0) {
                /* tape times are within +-PWS_TAPE_MAX_TIME_US, so the difference fits; a tiny
                 * speed can still scale it past any integer: clamp the double before converting */
                double gap = (double)(f->t_us - c->anchor_tape_us) / rp->o.speed;
                if (!(gap < (double)PWS_TAPE_MAX_TIME_US))
                    gap = (double)PWS_TAPE_MAX_TIME_US;
                else if (gap < -(double)PWS_TAPE_MAX_TIME_US)
                    gap = -(double)PWS_TAPE_MAX_TIME_US;
                int64_t due = c->anchor_wall_us + (int64_t)gap;
                if (due > now + 200) {
                    schedule_at(c, due);
                    break;
                }
            }
            if (pws__link_pending(&c->link) > rp->o.max_buffered)
                break; /* WRITEABLE calls again once some went out */
            if (raw) {
                queue_raw(c, f->data, f->len);
            } else if (f->kind == PWS_TAPE_CLOSE) {
                pws__link_compact(&c->link);
                if (!c->sent_close && !pws__ws_close_frame(&c->link.out, f->code, f->reason, NULL))
                    c->sent_close = true;
                lws_callback_on_writable(c->link.wsi);
                if (c->client_closed) {
                    c->have_cur = false;
                    start_close(c, 1000, "");
                    break;
                }
            } else {
                int op = f->kind == PWS_TAPE_TEXT     ? PWS__OP_TEXT
                         : f->kind == PWS_TAPE_BINARY ? PWS__OP_BINARY
                                                      : PWS__OP_PING;
                queue_frame(c, op, f->data, f->len);
            }
            frames++;
            bytes += f->len;
            c->have_cur = false;
            continue;
        }
        /* dir 'c' */
        if (f->kind == PWS_TAPE_PING || f->kind == PWS_TAPE_PONG || f->kind == PWS_TAPE_OTHER) {
            c->have_cur = false;
            continue;
        }
        char want[REPLAY_EXCERPT * 4 + 100];
        if (c->inbox) {
            inmsg *m = inbox_pop(c);
            bool binary = m->opcode == PWS__OP_BINARY;
            char why[256] = "";
            bool same_kind = f->kind != PWS_TAPE_CLOSE && (f->kind == PWS_TAPE_BINARY) == binary;
            bool ok = same_kind && pws_tape_match((const char *)f->data, f->len, m->data, m->len, binary, NULL, 0);
            if (!ok) {
                /* the reason quotes values: take it from the redacted message, never the raw one */
                size_t rl;
                char *red = same_kind ? pwsr__redact(&rp->rules, &rp->secrets.set, m->data, m->len, &rl, NULL) : NULL;
                if (red && pws_tape_match((const char *)f->data, f->len, red, rl, binary, why, sizeof why))
                    snprintf(why, sizeof why, "it differs where a secret was redacted");
                free(red);
                char got[REPLAY_EXCERPT * 4 + 64];
                describe_frame(rp, want, sizeof want, f);
                excerpt_redacted(rp, got, sizeof got, m->data, m->len, binary);
                char gotd[sizeof got + 16];
                snprintf(gotd, sizeof gotd, "%s%s", binary ? "" : "text ", got);
                free(m);
                deviation(c, want, gotd, why);
                break;
            }
            free(m);
            matched++;
            c->have_cur = false;
            c->wait_deadline_us = 0;
            c->anchor_tape_us = f->t_us; /* the server's next frames answered this message */
            c->anchor_wall_us = now;
            continue;
        }
        if (c->client_closed) {
            describe_frame(rp, want, sizeof want, f);
            if (f->kind == PWS_TAPE_CLOSE) {
                c->have_cur = false;
                if (f->code != c->client_code) {
                    char got[160];
                    snprintf(got, sizeof got, "close %d \"%.60s\"", c->client_code, c->client_reason);
                    deviation(c, want, got, "a different close code");
                    break;
                }
                continue; /* what follows decides: the server's close or the end */
            }
            char got[160];
            snprintf(got, sizeof got, "close %d \"%.60s\"", c->client_code, c->client_reason);
            deviation(c, want, got, "the client closed first");
            break;
        }
        /* wait for the client, within wait_ms */
        if (!c->wait_deadline_us) {
            c->wait_deadline_us = now + (int64_t)rp->o.wait_ms * 1000;
            schedule_at(c, c->wait_deadline_us);
        } else if (now >= c->wait_deadline_us) {
            describe_frame(rp, want, sizeof want, f);
            char got[64];
            snprintf(got, sizeof got, "nothing within %u ms", rp->o.wait_ms);
            c->wait_deadline_us = 0;
            deviation(c, want, got, NULL);
        }
        break;
    }
    c->in_advance = false;
    if (frames || matched)
        res_add(rp, frames, bytes, matched);
}

static void sul_cb(lws_sorted_usec_list_t *sul)
{
    rconn *c = lws_container_of(sul, rconn, sul);
    advance(c);
}

/* A client message or control frame. */
static void on_client_frame(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                            uint64_t total)
{
    rconn *c = user;
    if (c->st != R_PLAY)
        return;
    if (opcode == PWS__OP_PING) {
        queue_frame(c, PWS__OP_PONG, data, len);
        return;
    }
    if (opcode == PWS__OP_PONG)
        return;
    if (opcode == PWS__OP_CLOSE) {
        c->client_closed = true;
        c->client_code = len >= 2 ? data[0] << 8 | data[1] : 0;
        size_t rl = len > 2 ? len - 2 : 0;
        if (rl > PWS_TAPE_MAX_REASON)
            rl = PWS_TAPE_MAX_REASON;
        memcpy(c->client_reason, data + 2 * (len >= 2), rl);
        c->client_reason[rl] = '\0';
        if (c->sent_close) {
            /* the answer to our close: the exchange is complete */
            c->have_cur = false;
            start_close(c, 1000, "");
            return;
        }
        advance(c);
        return;
    }
    if (opcode == PWS__OP_TEXT && !too_big) {
        /* a key the client authenticates with is hidden from every report from now on */
        char key[PWS_MAX_KEY_LEN + 1];
        if (pws_auth_key_of((const char *)data, len, key, sizeof key))
            pwsr__secrets_add(&c->rp->secrets, key);
        explicit_bzero(key, sizeof key);
    }
    if (too_big) {
        char got[80];
        snprintf(got, sizeof got, "a message of %llu bytes", (unsigned long long)total);
        deviation(c, "a client message", got, "over the size limit");
        return;
    }
    if (c->inbox_len >= REPLAY_INBOX_MAX) {
        deviation(c, "the client to wait for the server", "more than 256 messages ahead of the tape", NULL);
        return;
    }
    inmsg *m = malloc(sizeof *m + len + 1);
    if (!m) {
        deviation(c, "a client message", "out of memory", NULL);
        return;
    }
    m->next = NULL;
    m->opcode = opcode;
    m->len = len;
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    if (c->inbox_tail)
        c->inbox_tail->next = m;
    else
        c->inbox = m;
    c->inbox_tail = m;
    c->inbox_len++;
    advance(c);
}

/* The client's socket ended: judge what the tape still expected. */
static void on_client_gone(rconn *c)
{
    if (!c->finished && !c->deviated && c->st == R_PLAY) {
        /* anything the client still had to send? */
        while (fetch(c)) {
            pws_tape_frame *f = &c->cur;
            if (f->dir == 'c' && (f->kind == PWS_TAPE_TEXT || f->kind == PWS_TAPE_BINARY ||
                                  (f->kind == PWS_TAPE_CLOSE && !c->client_closed))) {
                char want[REPLAY_EXCERPT * 4 + 100];
                describe_frame(c->rp, want, sizeof want, f);
                deviation(c, want, "the connection ended", NULL);
                break;
            }
            c->have_cur = false;
        }
    }
    conn_finished(c);
}

static void conn_free(rconn *c)
{
    pwsr_replayer *rp = c->rp;
    lws_sul_cancel(&c->sul);
    for (rconn **pp = &rp->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    while (c->inbox)
        free(inbox_pop(c));
    pws_tape_reader_close(c->rd);
    pws__ws_reader_free(&c->wr);
    pws__link_free(&c->link);
    pws_tape_buf_free(&c->head);
    free(c);
}

static void refuse(rconn *c, int status, const char *text, const char *why)
{
    char resp[400];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                     status, text, strlen(why) + 1, why);
    pws__link_send(&c->link, resp, (size_t)n);
    c->st = R_CLOSING;
    c->link.close_when_flushed = true;
    if (c->link.wsi) /* a client that does not read its answer still goes */
        lws_set_timeout(c->link.wsi, PENDING_TIMEOUT_USER_OK, REPLAY_CLOSE_GRACE_S);
    pwsr__log(&c->rp->lg, PWS_LOG_WARN, "refused a client: %s", why);
}

static void on_request(rconn *c, size_t headlen)
{
    pwsr_replayer *rp = c->rp;
    if (!pws__hs_upgraded(rp->sv.guard, c->hs))
        return; /* the guard is closing it (timed out or evicted) */
    pws__http_head *h = malloc(sizeof *h);
    char err[160];
    if (!h) {
        refuse(c, 500, "Internal Server Error", "out of memory");
        return;
    }
    if (pws__http_parse(c->head.p, headlen, true, h, err, sizeof err)) {
        refuse(c, 400, "Bad Request", err);
        free(h);
        return;
    }
    const char *key = pws__http_get(h, "Sec-WebSocket-Key");
    if (strcmp(h->method, "GET") || !pws__http_has_token(pws__http_get(h, "Upgrade"), "websocket") || !key) {
        refuse(c, 400, "Bad Request", "not a WebSocket upgrade request");
        free(h);
        return;
    }
    char accept[32];
    pws__ws_accept(key, accept);
    free(h);
    uint32_t n = ++rp->next_client;
    if (!rp->o.loop && n > rp->ntape) {
        char why[120];
        snprintf(why, sizeof why, "the tape has %u connection%s and all were played", rp->ntape,
                 rp->ntape == 1 ? "" : "s");
        refuse(c, 503, "Service Unavailable", why);
        return;
    }
    c->client_no = n;
    c->tape_conn = rp->tape_ids[(n - 1) % rp->ntape];
    char terr[300];
    if (pws_tape_reader_open(rp->tape_path, &c->rd, terr, sizeof terr)) {
        refuse(c, 500, "Internal Server Error", terr);
        return;
    }
    pthread_mutex_lock(&rp->mu);
    rp->res.served++;
    pthread_mutex_unlock(&rp->mu);
    char resp[200];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n\r\n",
                       accept);
    pws__link_send(&c->link, resp, (size_t)len);
    lws_set_timeout(c->link.wsi, NO_PENDING_TIMEOUT, 0);
    c->st = R_PLAY;
    pwsr__log(&rp->lg, PWS_LOG_INFO, "client %u plays tape connection %u", n, c->tape_conn);
    /* frames that came with the request */
    size_t extra = c->head.len - headlen;
    if (extra) {
        char ferr[160];
        if (pws__ws_feed(&c->wr, (const unsigned char *)c->head.p + headlen, extra, on_client_frame, c, ferr,
                          sizeof ferr))
            deviation(c, "WebSocket frames", ferr, NULL);
    }
    pws_tape_buf_free(&c->head);
    advance(c);
}

static int cb_replay(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    pwsr_replayer *rp = ctx ? lws_context_user(ctx) : NULL;
    rconn *c = lws_get_opaque_user_data(wsi);
    if (!rp)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* Being accepted (wsi is the listener): the handshake guard may refuse it, or close
         * older pending clients right here (their RAW_CLOSE runs inside this call). */
        return pws__hs_filter(rp->sv.guard, wsi, user);
    case LWS_CALLBACK_RAW_ADOPT: {
        if (pws__server_stopping(&rp->sv))
            return -1;
        /* The guard times the client's request out from here. */
        pws__hs_entry *hs;
        if (pws__hs_accept(rp->sv.guard, wsi, &hs))
            return -1;
        c = calloc(1, sizeof *c);
        if (!c) {
            pws__hs_closed(rp->sv.guard, hs);
            return -1;
        }
        c->rp = rp;
        c->hs = hs;
        c->link.wsi = wsi;
        pws__ws_reader_init(&c->wr, true, 0);
        c->next = rp->conns;
        rp->conns = c;
        lws_set_opaque_user_data(wsi, c);
        return 0;
    }
    case LWS_CALLBACK_RAW_RX:
        if (!c)
            return -1;
        if (c->st == R_REQUEST) {
            if (pwsr__buf_put(&c->head, in, len)) {
                refuse(c, 500, "Internal Server Error", "out of memory");
                return 0;
            }
            size_t hl = pws__http_head_len(c->head.p, c->head.len);
            if (hl)
                on_request(c, hl);
            else if (c->head.len > PWS__MAX_HEAD)
                refuse(c, 431, "Request Header Fields Too Large", "request head too large");
        } else if (c->st == R_PLAY) {
            char ferr[160];
            if (pws__ws_feed(&c->wr, in, len, on_client_frame, c, ferr, sizeof ferr) && c->st == R_PLAY)
                deviation(c, "WebSocket frames", ferr, NULL);
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!c)
            return -1;
        if (pws__link_writeable(&c->link, rp->scratch)) {
            if (c->dropping) /* FIN after the data, even if the client's bytes keep coming */
                pws__linger_add(rp->sv.linger, lws_get_socket_fd(wsi));
            return -1;
        }
        if (c->st == R_PLAY && pws__link_pending(&c->link) <= rp->o.max_buffered / 2)
            advance(c);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            pws__hs_closed(rp->sv.guard, c->hs);
            c->hs = NULL;
            c->link.wsi = NULL;
            if (c->client_no) {
                on_client_gone(c);
                if (c->skipped)
                    pwsr__log(&rp->lg, PWS_LOG_INFO, "client %u closed first: %llu server frames not sent",
                              c->client_no, (unsigned long long)c->skipped);
            }
            conn_free(c);
        }
        return 0;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------ API */

/* Reads the whole tape once: checks it and lists its connections. */
static int scan_tape(pwsr_replayer *rp, char *err, size_t cap)
{
    pws_tape_reader *r;
    if (pws_tape_reader_open(rp->tape_path, &r, err, cap))
        return -1;
    size_t idcap = 16;
    rp->tape_ids = malloc(idcap * sizeof *rp->tape_ids);
    pws_tape_frame f;
    int rc;
    uint32_t last = 0;
    while (rp->tape_ids && (rc = pws_tape_next(r, &f)) == 1) {
        if (f.conn == last)
            continue;
        last = f.conn;
        bool seen = false;
        for (uint32_t i = rp->ntape; i-- > 0 && !seen;)
            seen = rp->tape_ids[i] == f.conn;
        if (seen)
            continue;
        if (rp->ntape >= REPLAY_MAX_TAPE_CONNS) {
            snprintf(err, cap, "the tape has more than %u connections", REPLAY_MAX_TAPE_CONNS);
            pws_tape_reader_close(r);
            return -1;
        }
        if (rp->ntape == idcap) {
            uint32_t *n = realloc(rp->tape_ids, 2 * idcap * sizeof *n);
            if (!n)
                break;
            rp->tape_ids = n;
            idcap *= 2;
        }
        rp->tape_ids[rp->ntape++] = f.conn;
    }
    if (!rp->tape_ids) {
        snprintf(err, cap, "out of memory");
        pws_tape_reader_close(r);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, cap, "%s: %s", rp->tape_path, pws_tape_reader_error(r));
        pws_tape_reader_close(r);
        return -1;
    }
    size_t cut;
    if (pws_tape_reader_truncated(r, &cut))
        pwsr__log(&rp->lg, PWS_LOG_WARN, "%s: the last line is cut (%zu bytes): ignored", rp->tape_path, cut);
    pws_tape_reader_close(r);
    if (!rp->ntape) {
        snprintf(err, cap, "%s holds no connection", rp->tape_path);
        return -1;
    }
    return 0;
}

static void replayer_free(pwsr_replayer *rp)
{
    pws__server_stop(&rp->sv);
    while (rp->conns)
        conn_free(rp->conns);
    free(rp->tape_ids);
    free(rp->tape_path);
    free(rp->host);
    free(rp->scratch);
    pwsr__secrets_free(&rp->secrets);
    pthread_cond_destroy(&rp->changed);
    pthread_mutex_destroy(&rp->mu);
    free(rp);
}

pwsr_replayer *pwsr_replay_start(const pwsr_replay_options *opts, char *errbuf, size_t errcap)
{
    char scratch_err[8];
    if (!errbuf) {
        errbuf = scratch_err;
        errcap = sizeof scratch_err;
    }
    if (!opts || !opts->tape_path) {
        snprintf(errbuf, errcap, "replay: tape_path is required");
        return NULL;
    }
    pwsr_replayer *rp = calloc(1, sizeof *rp);
    if (!rp) {
        snprintf(errbuf, errcap, "replay: out of memory");
        return NULL;
    }
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->changed, NULL);
    rp->o = *opts;
    rp->tape_path = strdup(opts->tape_path);
    rp->host = strdup(opts->host ? opts->host : "127.0.0.1");
    rp->scratch = malloc(LWS_PRE + PWS__WRITE_CHUNK);
    if (!rp->tape_path || !rp->host || !rp->scratch) {
        snprintf(errbuf, errcap, "replay: out of memory");
        goto fail;
    }
    rp->o.tape_path = rp->tape_path;
    rp->o.host = rp->host;
    if (rp->o.speed == 0)
        rp->o.speed = 1;
    if (!rp->o.wait_ms)
        rp->o.wait_ms = 10000;
    if (!rp->o.max_buffered)
        rp->o.max_buffered = PWSR_DEFAULT_MAX_BUFFERED;
    rp->lg = (pwsr__logger){opts->log_fn, opts->log_user, opts->log_level, &rp->secrets.set};
    if (opts->nsecrets > sizeof opts->secrets / sizeof opts->secrets[0]) {
        snprintf(errbuf, errcap, "replay: more than %zu secrets", sizeof opts->secrets / sizeof opts->secrets[0]);
        goto fail;
    }
    rp->rules.auth_params = true;
    for (size_t i = 0; i < opts->nsecrets; i++)
        pwsr__secrets_add(&rp->secrets, opts->secrets[i]);
    if (scan_tape(rp, errbuf, errcap))
        goto fail;
    rp->res.tape_connections = rp->ntape;

    rp->protocols[0] = (struct lws_protocols){.name = "pwsr-replay", .callback = cb_replay, .tx_packet_size = PWS__SERVER_TX_PACKET};
    pws__server_options so = {.name = "pwsr-replay", .err_prefix = "replay: ", .host = rp->host, .port = opts->port,
                              .protocols = rp->protocols, .raw_protocol = "pwsr-replay", .user = rp,
                              .serv_buf_size = 256 * 1024};
    /* the replayer has no client cap: as many clients as the proxy may record at most */
    so.fd_limit = PWSR_MAX_CLIENTS + (opts->max_pending ? opts->max_pending : PWSR_DEFAULT_MAX_PENDING) +
                  PWS__SERVER_FD_RESERVE;
    if (pwsr__hs_limits("replay", opts->handshake_timeout_ms, opts->max_pending, opts->max_per_address,
                        &so.handshake, errbuf, errcap))
        goto fail;
    if (pws__server_start(&rp->sv, &so, errbuf, errcap))
        goto fail;
    return rp;
fail:
    replayer_free(rp);
    return NULL;
}

int pwsr_replay_port(const pwsr_replayer *rp)
{
    return rp->sv.port;
}

const char *pwsr_replay_url(const pwsr_replayer *rp)
{
    return rp->sv.url;
}

void pwsr_replay_get_result(pwsr_replayer *rp, pwsr_replay_result *out)
{
    pthread_mutex_lock(&rp->mu);
    *out = rp->res;
    pthread_mutex_unlock(&rp->mu);
    pwsr__hs_stats(rp->sv.guard, &out->handshakes);
}

bool pwsr_replay_wait(pwsr_replayer *rp, int timeout_ms)
{
    /* rp->changed waits on the default clock, CLOCK_REALTIME */
    struct timespec deadline = pws__deadline_after_ms(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&rp->mu);
    while (!rp->res.done) {
        if (timeout_ms < 0)
            pthread_cond_wait(&rp->changed, &rp->mu);
        else if (pthread_cond_timedwait(&rp->changed, &rp->mu, &deadline) == ETIMEDOUT)
            break;
    }
    bool done = rp->res.done;
    pthread_mutex_unlock(&rp->mu);
    return done;
}

void pwsr_replay_stop(pwsr_replayer *rp)
{
    if (rp)
        replayer_free(rp);
}
