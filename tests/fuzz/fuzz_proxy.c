/*
 * fuzz_proxy.c - libFuzzer target for the recording proxy's upstream path
 * (replay/src/proxy.c): what the proxy does with the bytes the upstream
 * server sends.
 *
 * Each input is one recorded session on a detached proxy
 * (replay/src/proxy_detached.h): the proxy's own code with its options,
 * redaction rules and tape, but no sockets.  The client's upgrade request
 * (and, if byte 0 says so, an early auth frame right after it) opens the
 * pair, as it would on a real client socket; the proxy's upgrade request goes
 * "upstream", and the rest of the input is what the upstream answers: fed in
 * chunks through the upstream socket's receive path (up_rx), so the response
 * head is collected, parsed and checked (status, Sec-WebSocket-Accept), the
 * early client frames are tapped, and every frame after the head is read
 * (wire/wsproto.h), redacted and written to the tape.  Then the upstream
 * socket ends.  Every "{{ACCEPT}}" in the input becomes the accept value the
 * proxy expects (its key is random), so inputs can pass the handshake.
 * Forwarding to the client and TLS are not covered (no sockets).
 *
 * Byte 0: bits 0-2 the chunk size (whole, 1, 2, 3, 7, 64, 509, 4096 bytes;
 * chunks under 4096 bytes for the first 512 bytes only, 4 KiB chunks after);
 * bit 3 the client sends an early auth frame with a key the proxy learns;
 * bit 4 max_message 300 instead of the default; bit 5 the client's path has
 * a query with a redacted field; bit 6 the upstream URL has a path (it
 * replaces the client's).
 *
 * Checks:
 *  - the tape reads back to its end: a header, one open, only connection 1,
 *    and its end (closed or drop) last;
 *  - neither the configured secret nor the learned key appears anywhere in
 *    the tape file, nor does the query field's value;
 *  - every message and control frame the upstream sent after a valid 101 is
 *    on the tape once, in order, with its kind (and a close's code): a second
 *    reader over the same bytes must see the same sequence (a message over
 *    max_message is an error line instead, and a protocol error stops both);
 *  - the client is answered 101 with the accept of its own key only if the
 *    upstream answered 101 with the right accept, and is told the upstream's
 *    status if it refused.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus through the
 * same checks under any compiler (fuzz_proxy_corpus).  tests/fuzz/seeds.py
 * writes the seeds (corpus_proxy/) from what the mock sends for each
 * scenario in scenarios/ and from the tapes in tests/.
 */
#include "proxy_detached.h" /* replay/src */

#include "wire/buf.h"
#include "wire/wsproto.h"

#include <polyws/polyws.h>
#include <polyws/replay.h>
#include <polyws/tape.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proxy: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MARKER "{{ACCEPT}}"
#define SECRET "PROXYSECRET-7c1d2e3f"      /* a configured secret */
#define LEARNED "LEARNEDKEY-a9b8c7d6e5"    /* the key of the early auth frame */
#define QUERY_SECRET "QUERYTOKEN-5f4e3d2c" /* the value of a redacted query field */
#define CLIENT_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define MAX_SEEN 4096                      /* messages compared per session */
#define SMALL_SPAN 512                     /* bytes fed in the small chunks byte 0 asks for */

static const size_t chunks[] = {0, 1, 2, 3, 7, 64, 509, 4096};

/* What one reader of the upstream's frames saw, in order. */
typedef struct seen {
    size_t n;                 /* entries */
    bool failed;              /* the reader stopped at a protocol error */
    int kind[MAX_SEEN];       /* pws_tape_kind, or -1 for a too-big message (an error line) */
    int code[MAX_SEEN];       /* a close's code */
} seen;

static void add_seen(seen *s, int kind, int code)
{
    if (s->n < MAX_SEEN) {
        s->kind[s->n] = kind;
        s->code[s->n] = code;
    }
    s->n++;
}

static void on_ref_frame(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                         uint64_t total)
{
    (void)total;
    if (too_big) {
        add_seen(user, -1, 0);
        return;
    }
    int kind = opcode == PWS__OP_TEXT     ? PWS_TAPE_TEXT
               : opcode == PWS__OP_BINARY ? PWS_TAPE_BINARY
               : opcode == PWS__OP_PING   ? PWS_TAPE_PING
               : opcode == PWS__OP_PONG   ? PWS_TAPE_PONG
                                          : PWS_TAPE_CLOSE;
    add_seen(user, kind, kind == PWS_TAPE_CLOSE && len >= 2 ? data[0] << 8 | data[1] : 0);
}

/* The input with every MARKER replaced by accept. */
static void substitute(pws__buf *out, const uint8_t *in, size_t len, const char *accept)
{
    size_t ml = strlen(MARKER);
    for (size_t i = 0; i < len;) {
        const uint8_t *m = memmem(in + i, len - i, MARKER, ml);
        size_t run = m ? (size_t)(m - (in + i)) : len - i;
        FUZZ_CHECK(pws__buf_put(out, in + i, run) == 0);
        i += run;
        if (m) {
            FUZZ_CHECK(pws__buf_str(out, accept) == 0);
            i += ml;
        }
    }
}

static bool file_contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}


static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    pws__buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        FUZZ_CHECK(pws__buf_put(&b, tmp, n) == 0);
    fclose(f);
    *len = b.len;
    return b.p ? b.p : calloc(1, 1);
}

/* Reads the tape back and checks it against what the reference reader saw.  learned: the
 * proxy learned the early frame's key before the upstream's first frame (a 101 it took). */
static void check_tape(const char *path, bool opened, bool learned, const seen *ref)
{
    size_t flen;
    char *file = slurp(path, &flen);
    FUZZ_CHECK(!file_contains(file, flen, SECRET));
    if (learned)
        FUZZ_CHECK(!file_contains(file, flen, LEARNED));
    /* the query value is secret in the request path only (the header line and the open line,
     * written before any upstream byte): elsewhere the proxy cannot know it */
    const char *nl = memchr(file, '\n', flen);
    nl = nl ? memchr(nl + 1, '\n', flen - (size_t)(nl + 1 - file)) : NULL;
    FUZZ_CHECK(!file_contains(file, nl ? (size_t)(nl - file) : flen, QUERY_SECRET));

    pws_tape_reader *r;
    char err[256];
    FUZZ_CHECK(pws_tape_reader_open_mem(file, flen, &r, err, sizeof err) == PWS_OK);
    FUZZ_CHECK(pws_tape_reader_header(r) != NULL);
    pws_tape_frame f;
    int rc;
    size_t opens = 0, lines = 0, ends = 0;
    bool reader_failed = false;
    seen tape = {0};
    while ((rc = pws_tape_next(r, &f)) == 1) {
        lines++;
        FUZZ_CHECK(f.conn == 1);
        FUZZ_CHECK(ends == 0); /* nothing after the end */
        if (f.kind == PWS_TAPE_OPEN) {
            FUZZ_CHECK(f.dir == '-' && lines == 1);
            opens++;
        } else if (f.kind == PWS_TAPE_CLOSED || f.kind == PWS_TAPE_DROP) {
            FUZZ_CHECK(f.dir == '-');
            ends++;
        } else if (f.kind == PWS_TAPE_ERROR) {
            FUZZ_CHECK(f.dir == '-');
            if (f.len > 20 && memcmp(f.data, "server frames no lon", 20) == 0)
                reader_failed = true;
            else if (f.len > 7 && memcmp(f.data, "server ", 7) == 0 && memmem(f.data, f.len, "not recorded", 12))
                add_seen(&tape, -1, 0);
        } else if (f.dir == 's') {
            FUZZ_CHECK(f.kind <= PWS_TAPE_CLOSE);
            add_seen(&tape, (int)f.kind, f.kind == PWS_TAPE_CLOSE ? f.code : 0);
        } else {
            FUZZ_CHECK(f.dir == 'c' && f.kind <= PWS_TAPE_CLOSE); /* the early frame */
        }
    }
    if (rc != 0)
        fprintf(stderr, "fuzz_proxy: the tape does not read back: %s\n", pws_tape_reader_error(r));
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(!pws_tape_reader_truncated(r, NULL));
    pws_tape_reader_close(r);
    free(file);
    FUZZ_CHECK(opens == (opened ? 1u : 0u));
    FUZZ_CHECK(ends == opens);

    if (tape.n != ref->n)
        fprintf(stderr, "fuzz_proxy: %zu upstream frames on the tape, %zu sent\n", tape.n, ref->n);
    FUZZ_CHECK(tape.n == ref->n);
    for (size_t i = 0; i < tape.n && i < MAX_SEEN; i++)
        FUZZ_CHECK(tape.kind[i] == ref->kind[i] && tape.code[i] == ref->code[i]);
    FUZZ_CHECK(reader_failed == ref->failed);
}

/* The client's upgrade request, and an early auth frame after it if asked. */
static void client_request(pws__buf *req, uint8_t flags)
{
    bool ok = pws__buf_str(req, flags & 0x20 ? "GET /stocks?token=" QUERY_SECRET "&x=1 HTTP/1.1\r\n"
                                             : "GET /stocks HTTP/1.1\r\n") == 0 &&
              pws__buf_str(req, "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: " CLIENT_KEY "\r\nSec-WebSocket-Version: 13\r\n"
                                "Authorization: Bearer " SECRET "\r\nUser-Agent: fuzz\r\n\r\n") == 0;
    FUZZ_CHECK(ok);
    if (flags & 0x08) {
        static const unsigned char mask[4] = {1, 2, 3, 4};
        const char *auth = "{\"action\":\"auth\",\"params\":\"" LEARNED "\"}";
        FUZZ_CHECK(pws__ws_frame(req, PWS__OP_TEXT, true, mask, auth, strlen(auth)) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char tape_path[256];
    if (!tape_path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tape_path, sizeof tape_path, "%s/fuzz_proxy.%ld.tape", dir, (long)getpid());
    }
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t chunk = chunks[flags & 7];

    pwsr_proxy_options o;
    memset(&o, 0, sizeof o);
    o.upstream = flags & 0x40 ? "ws://upstream.invalid/stocks?apiKey=" SECRET : "ws://upstream.invalid";
    o.tape_path = tape_path;
    o.redact_fields[0] = "token";
    o.nredact_fields = 1;
    o.secrets[0] = SECRET;
    o.nsecrets = 1;
    o.max_message = flags & 0x10 ? 300 : 0;
    o.log_level = PWS_LOG_ERROR;
    char err[512];
    pwsr_proxy *px = pwsr__proxy_detached(&o, err, sizeof err);
    if (!px)
        fprintf(stderr, "fuzz_proxy: %s\n", err);
    FUZZ_CHECK(px != NULL);

    pws__buf req = {0}, up = {0};
    client_request(&req, flags);
    char accept_up[32];
    bool opened = pwsr__proxy_detached_open(px, req.p, req.len, accept_up) == 0;
    FUZZ_CHECK(opened); /* our request is a good one */
    substitute(&up, data + 1, size - 1, accept_up);

    /* the reference reader: the frames after a 101 with the right accept */
    seen ref = {0};
    bool up_ok = false;
    int up_status = 0;
    size_t hl = pws__http_head_len(up.p ? up.p : "", up.len);
    if (hl) {
        pws__http_head *h = malloc(sizeof *h);
        FUZZ_CHECK(h != NULL);
        if (pws__http_parse(up.p, hl, false, h, err, sizeof err) == 0) {
            const char *acc = pws__http_get(h, "Sec-WebSocket-Accept");
            up_status = h->status;
            up_ok = h->status == 101 && acc && strcmp(acc, accept_up) == 0;
        }
        free(h);
    }
    if (up_ok) {
        pws__wsreader rd;
        pws__ws_reader_init(&rd, false, o.max_message ? o.max_message : PWS_TAPE_MAX_PAYLOAD);
        ref.failed = pws__ws_feed(&rd, (const unsigned char *)up.p + hl, up.len - hl, on_ref_frame, &ref, err,
                                  sizeof err) != 0;
        pws__ws_reader_free(&rd);
    }

    /* the upstream's bytes, in chunks, as its socket would deliver them: small chunks only
     * over the first SMALL_SPAN bytes (the head and the first frames split anywhere), then
     * 4 KiB, so an input costs O(its size) calls of the proxy, not one per byte */
    size_t step = chunk ? chunk : (up.len ? up.len : 1);
    bool to_client_checked = false;
    for (size_t at = 0; at < up.len; at += step) {
        if (at >= SMALL_SPAN && step < 4096)
            step = 4096;
        size_t n = up.len - at < step ? up.len - at : step;
        if (pwsr__proxy_detached_upstream(px, up.p + at, n) != 0)
            break;
    }
    /* the answer queued for the client */
    const char *ans;
    size_t alen = pwsr__proxy_detached_to_client(px, &ans);
    if (alen) {
        FUZZ_CHECK(alen >= 12 && memcmp(ans, "HTTP/1.1 ", 9) == 0);
        if (alen >= 13 && memcmp(ans, "HTTP/1.1 101 ", 13) == 0) {
            char acc[32];
            pws__ws_accept(CLIENT_KEY, acc);
            FUZZ_CHECK(up_ok);
            FUZZ_CHECK(memmem(ans, alen, acc, strlen(acc)) != NULL);
        } else {
            char st[16];
            snprintf(st, sizeof st, " %03d ", up_status);
            FUZZ_CHECK(up_status != 101 && memcmp(ans + 8, st, strlen(st)) == 0);
        }
        to_client_checked = true;
    }
    FUZZ_CHECK(!up_ok || to_client_checked);
    pwsr__proxy_detached_close(px);
    pwsr_proxy_stop(px);
    pws__buf_free(&req);
    pws__buf_free(&up);

    check_tape(tape_path, opened, up_ok && (flags & 0x08), &ref);
    return 0;
}
