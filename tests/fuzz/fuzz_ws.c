/*
 * fuzz_ws.c - libFuzzer target for the WebSocket wire code the connector,
 * the recording proxy and the replayer share (wire/src/wsproto.c).
 *
 * The first byte of an input picks the reader's settings (masked or not,
 * RSV bits rejected or not, a message limit of 16..527 bytes) and a chunk
 * size; the rest is a byte stream from the peer.  The stream is fed three
 * ways: whole, in chunks, and whole again with the callback pausing after
 * every message and the rest fed on.  All three must give the very same
 * messages (opcode, bytes, too_big, total) and the very same error (message
 * and stream offset), and each message must keep the RFC's limits (control
 * frames of at most 125 bytes; a too-big message with no bytes and a total
 * over the limit).  The stream is also parsed as an HTTP head, as a request
 * and as a response: any pointer it returns stays inside the head, and a
 * response's status is three digits.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus through the
 * same checks under any compiler (fuzz_ws_corpus).
 */
#include "wire/wsproto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_ws: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_MSGS 4096

/* What one way of feeding saw. */
typedef struct trace {
    size_t n;                      /* messages */
    int op[MAX_MSGS];              /* opcodes */
    uint64_t hash[MAX_MSGS];       /* FNV-1a of the bytes */
    size_t len[MAX_MSGS];          /* byte counts */
    uint64_t total[MAX_MSGS];      /* totals */
    int too_big[MAX_MSGS];         /* too_big flags */
    int failed;                    /* the reader reported an error */
    char err[200];                 /* its message */
    size_t max_message;            /* the limit in force */
    pws__wsreader *r;              /* for pausing */
    int pause_every;               /* pause after each message (1) or never (0) */
} trace;

static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void on_msg(void *user, int opcode, const unsigned char *data, size_t len, bool too_big, uint64_t total)
{
    trace *t = user;
    FUZZ_CHECK(data != NULL);
    if (opcode & 0x08) {
        FUZZ_CHECK(len <= 125 && !too_big && total == len);
    } else {
        FUZZ_CHECK(opcode == PWS__OP_TEXT || opcode == PWS__OP_BINARY);
        if (too_big)
            FUZZ_CHECK(len == 0 && total > t->max_message);
        else
            FUZZ_CHECK(len == total && len <= t->max_message);
    }
    if (t->n < MAX_MSGS) {
        t->op[t->n] = opcode;
        t->hash[t->n] = fnv(data, len);
        t->len[t->n] = len;
        t->total[t->n] = total;
        t->too_big[t->n] = too_big;
    }
    t->n++;
    if (t->pause_every)
        t->r->pause = true;
}

/* Feeds data[0..size) in chunks of `chunk` bytes (0: whole), resuming after
 * every pause. */
static void run(trace *t, const uint8_t *data, size_t size, uint8_t cfg, size_t chunk, int pause)
{
    pws__wsreader r;
    memset(t, 0, sizeof *t);
    pws__ws_reader_init(&r, cfg & 1, 16 + (size_t)(cfg >> 3) * 16);
    r.reject_rsv = cfg & 2;
    t->max_message = r.max_message;
    t->r = &r;
    t->pause_every = pause;
    size_t off = 0;
    while (off < size && !t->failed) {
        size_t n = chunk && size - off > chunk ? chunk : size - off;
        size_t used = 0;
        if (pws__ws_feed_some(&r, data + off, n, on_msg, t, &used, t->err, sizeof t->err)) {
            t->failed = 1;
            break;
        }
        FUZZ_CHECK(used <= n);
        if (r.pause) {
            r.pause = false;
            FUZZ_CHECK(used > 0 || n == 0);
        } else {
            FUZZ_CHECK(used == n);
        }
        off += used;
    }
    if (!t->failed)
        FUZZ_CHECK(r.offset == size);
    pws__ws_reader_free(&r);
}

static void same(const trace *a, const trace *b)
{
    FUZZ_CHECK(a->n == b->n);
    FUZZ_CHECK(a->failed == b->failed);
    FUZZ_CHECK(strcmp(a->err, b->err) == 0);
    size_t n = a->n < MAX_MSGS ? a->n : MAX_MSGS;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(a->op[i] == b->op[i]);
        FUZZ_CHECK(a->hash[i] == b->hash[i]);
        FUZZ_CHECK(a->len[i] == b->len[i]);
        FUZZ_CHECK(a->total[i] == b->total[i]);
        FUZZ_CHECK(a->too_big[i] == b->too_big[i]);
    }
}

static void check_head(const uint8_t *data, size_t size)
{
    static pws__http_head h;
    char err[160];
    size_t hl = pws__http_head_len((const char *)data, size);
    FUZZ_CHECK(hl <= size);
    if (!hl || hl > PWS__MAX_HEAD)
        return;
    for (int request = 0; request < 2; request++) {
        if (pws__http_parse((const char *)data, hl, request, &h, err, sizeof err)) {
            FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
            continue;
        }
        const char *lo = h.buf, *hi = h.buf + hl;
        FUZZ_CHECK(h.nheaders <= PWS__MAX_HEADERS);
        for (size_t i = 0; i < h.nheaders; i++) {
            FUZZ_CHECK(h.names[i] >= lo && h.names[i] <= hi);
            FUZZ_CHECK(h.values[i] >= lo && h.values[i] <= hi);
        }
        if (request)
            FUZZ_CHECK(h.method >= lo && h.method <= hi && h.target >= lo && h.target <= hi);
        else
            FUZZ_CHECK((h.reason[0] == '\0' || (h.reason >= lo && h.reason < hi)) && h.status >= 0 &&
                       h.status <= 999); /* three digits, as written: the proxy passes it on */
        (void)pws__http_has_token(pws__http_get(&h, "Connection"), "upgrade");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static trace whole, chunked, paused;
    if (size < 1)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *stream = data + 1;
    size_t n = size - 1;
    size_t chunk = cfg & 4 ? 1 : 2 + (size_t)(cfg >> 3) % 6; /* 1..7 bytes */
    run(&whole, stream, n, cfg, 0, 0);
    run(&chunked, stream, n, cfg, chunk, 0);
    run(&paused, stream, n, cfg, 0, 1);
    same(&whole, &chunked);
    same(&whole, &paused);
    check_head(stream, n);
    return 0;
}
