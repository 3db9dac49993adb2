/*
 * fuzz_match.c - libFuzzer target for the replayer's message matcher
 * (pws_tape_match in replay/src/match.c), which compares what a client sent
 * with what the tape holds.
 *
 * The first byte of an input says whether the messages are binary (bit 0);
 * the rest is the tape's message, a NUL byte, and the client's message (no
 * NUL: both are the same bytes).  Checks:
 *   - every message matches itself (byte-equal texts are equal values);
 *   - a mismatch writes a NUL-terminated, non-empty reason, also into a
 *     small buffer;
 *   - a binary message matches exactly when the bytes are equal.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus
 * (corpus_match/) through the same checks under any compiler
 * (fuzz_match_corpus).
 */
#include <polyws/tape.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_match: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_INPUT 65536u /* bytes of input used */

/* Copies p[0..n) to exactly n malloc'd bytes, so that ASan sees a read past the end. */
static char *copy(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    FUZZ_CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

static bool match(const char *want, size_t wl, const char *got, size_t gl, bool binary)
{
    char why[200], small[8];
    memset(why, 'x', sizeof why);
    bool ok = pws_tape_match(want, wl, got, gl, binary, why, sizeof why);
    if (!ok) {
        FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
        memset(small, 'x', sizeof small);
        FUZZ_CHECK(!pws_tape_match(want, wl, got, gl, binary, small, sizeof small));
        FUZZ_CHECK(memchr(small, '\0', sizeof small) != NULL);
    }
    FUZZ_CHECK(pws_tape_match(want, wl, got, gl, binary, NULL, 0) == ok);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT)
        return 0;
    bool binary = data[0] & 1;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nul = memchr(rest, '\0', n);
    size_t wl = nul ? (size_t)(nul - rest) : n;
    const uint8_t *g = nul ? nul + 1 : rest;
    size_t gl = nul ? n - wl - 1 : n;

    char *want = copy(rest, wl), *got = copy(g, gl);
    bool ok = match(want, wl, got, gl, binary);
    FUZZ_CHECK(match(want, wl, want, wl, binary));
    FUZZ_CHECK(match(got, gl, got, gl, binary));
    if (binary)
        FUZZ_CHECK(ok == (wl == gl && memcmp(want, got, wl) == 0));
    free(want);
    free(got);
    return 0;
}
