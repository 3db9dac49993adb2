/*
 * fuzz_tape.c - libFuzzer target for the tape reader and the tape line codec
 * (replay/src/tape.c: pws_tape_reader_open_mem, pws_tape_next,
 * pws_tape_decode_frame, pws_tape_encode_frame).
 *
 * Each input is read as a whole tape (header or none) until the end or the
 * first error, and each of its lines is decoded on its own.  Checks:
 *   - an error leaves a NUL-terminated, non-empty message;
 *   - every frame read keeps the documented ranges: dir c/s/-, a kind and its
 *     name, payload bytes NUL-terminated, t_us within +-PWS_TAPE_MAX_TIME_US (a close reason longer than
 *     PWS_TAPE_MAX_REASON is read and written as it is: not checked);
 *   - every frame read encodes again (pws_tape_encode_frame) and that line
 *     decodes to the same frame: time, connection, direction, kind, the
 *     payload (of any kind but a close), the code and reason of a close (a
 *     reason that is not UTF-8 is written as "(not UTF-8)"), the
 *     request headers of an open (a line may carry these members with other
 *     kinds; the reader keeps them, the writer does not write them).
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus (corpus_tape/)
 * through the same checks under any compiler (fuzz_tape_corpus).
 */
#include "wire/codec.h"

#include <polyws/polyws.h>
#include <polyws/tape.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_tape: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_FRAMES 10000 /* frames read from one input, so that a run stays fast */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void check_frame(const pws_tape_frame *f)
{
    FUZZ_CHECK(f->dir == 'c' || f->dir == 's' || f->dir == '-');
    FUZZ_CHECK(f->kind >= PWS_TAPE_TEXT && f->kind <= PWS_TAPE_OTHER);
    FUZZ_CHECK(f->kind_name != NULL && f->kind_name[0] != '\0');
    FUZZ_CHECK(f->t_us >= -PWS_TAPE_MAX_TIME_US && f->t_us <= PWS_TAPE_MAX_TIME_US);
    FUZZ_CHECK(f->len <= PWS_TAPE_MAX_PAYLOAD);
    if (f->data)
        FUZZ_CHECK(f->data[f->len] == '\0');
    else
        FUZZ_CHECK(f->len == 0);
    /* not checked: a reason longer than PWS_TAPE_MAX_REASON is read (and written) as it is */
}

/* Encodes f, decodes the line, and compares. */
static void check_round_trip(const pws_tape_frame *f)
{
    static pws_tape_buf line, scratch;
    pws_tape_frame g;
    char err[256];

    int rc = pws_tape_encode_frame(f, &line);
    if (rc != PWS_OK)
        fprintf(stderr, "fuzz_tape: encode of line %zu: %s\n", f->line, pws_strerror(rc));
    FUZZ_CHECK(rc == PWS_OK);
    FUZZ_CHECK(line.len > 0 && line.p[line.len - 1] == '\n');
    rc = pws_tape_decode_frame(line.p, line.len - 1, &g, &scratch, err, sizeof err);
    if (rc != PWS_OK)
        fprintf(stderr, "fuzz_tape: decode of %.*s: %s\n", (int)line.len - 1, line.p, err);
    FUZZ_CHECK(rc == PWS_OK);
    if (f->kind != PWS_TAPE_CLOSE && (g.len != f->len || (f->len && memcmp(g.data, f->data, f->len) != 0)))
        fprintf(stderr, "fuzz_tape: line %zu (%s, %zu bytes) written as %.*s", f->line, f->kind_name, f->len,
                (int)(line.len < 500 ? line.len : 500), line.p);
    FUZZ_CHECK(g.t_us == f->t_us);
    FUZZ_CHECK(g.conn == f->conn);
    FUZZ_CHECK(g.dir == f->dir);
    FUZZ_CHECK(g.kind == f->kind);
    FUZZ_CHECK(strcmp(g.kind_name, f->kind_name) == 0);
    if (f->kind == PWS_TAPE_CLOSE) { /* code and reason mean something only there, data not */
        FUZZ_CHECK(g.code == f->code);
        const char *reason = or_empty(f->reason);
        /* a reason that is not UTF-8 is written as this text, on purpose (wire/src/tapeline.c) */
        if (!pws__utf8_valid(reason, strlen(reason)))
            reason = "(not UTF-8)";
        FUZZ_CHECK(strcmp(or_empty(g.reason), reason) == 0);
    } else {
        FUZZ_CHECK(g.len == f->len);
        FUZZ_CHECK(f->len == 0 || memcmp(g.data, f->data, f->len) == 0);
    }
    if (f->kind == PWS_TAPE_OPEN) { /* and the headers only here */
        FUZZ_CHECK((g.headers_json == NULL) == (f->headers_json == NULL));
        FUZZ_CHECK(!f->headers_json || strcmp(g.headers_json, f->headers_json) == 0);
    }
}

static void read_tape(const char *text, size_t size)
{
    pws_tape_reader *r = NULL;
    pws_tape_frame f;
    char err[256];
    int rc;

    memset(err, 'x', sizeof err);
    if (pws_tape_reader_open_mem(text, size, &r, err, sizeof err) != PWS_OK) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        return;
    }
    const pws_tape_header *h = pws_tape_reader_header(r);
    if (h) {
        FUZZ_CHECK(h->start_us >= -PWS_TAPE_MAX_TIME_US && h->start_us <= PWS_TAPE_MAX_TIME_US);
        FUZZ_CHECK(h->redacted.nfields <= PWS_TAPE_MAX_REDACT);
        FUZZ_CHECK(h->redacted.nheaders <= PWS_TAPE_MAX_REDACT);
    }
    for (int n = 0; n < MAX_FRAMES && (rc = pws_tape_next(r, &f)) == 1; n++) {
        check_frame(&f);
        FUZZ_CHECK(f.line >= 1 && f.line <= pws_tape_reader_lines(r));
        check_round_trip(&f);
    }
    if (rc < 0)
        FUZZ_CHECK(pws_tape_reader_error(r)[0] != '\0');
    pws_tape_reader_close(r);
}

/* Each line decoded alone, as the replayer's tools do. */
static void decode_lines(const char *text, size_t size)
{
    static pws_tape_buf scratch;
    pws_tape_frame f;
    char err[256];
    size_t at = 0;

    while (at < size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : size - at;
        memset(err, 'x', sizeof err);
        int rc = pws_tape_decode_frame(text + at, len, &f, &scratch, err, sizeof err);
        if (rc == PWS_OK) {
            f.line = 1;
            check_frame(&f);
            check_round_trip(&f);
        } else {
            FUZZ_CHECK(rc < 0);
            FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        }
        at += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_tape((const char *)data, size);
    decode_lines((const char *)data, size);
    return 0;
}
