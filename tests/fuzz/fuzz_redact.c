/*
 * fuzz_redact.c - libFuzzer target for the redactor (pws_redact_message and
 * pws_auth_key_of in replay/src/redact.c), which keeps API keys off tapes.
 *
 * The message is the input with every byte 0x01..0x05 replaced by a fixed
 * key, FUZZ_KEY, in one of the encodings a key takes on its way (0x01 raw,
 * 0x02 JSON-escaped with \uXXXX for every other byte, 0x03 percent-encoded
 * for every other byte, 0x04 base64 of it after one byte, 0x05 base64url of
 * it after two), so that the fuzzer can put the key anywhere in a message,
 * auth action or not, and next to anything.  Like the recording proxy, the target learns the key of an
 * auth action with pws_auth_key_of and adds it to the literal secrets.  What
 * polyws/tape.h promises, and so what is checked:
 *   - literal secrets "become *** anywhere, in any encoding": the output holds
 *     no trace of FUZZ_KEY as tests/support/leakcheck.c (an independent
 *     decoder) finds them: 8 bytes of it raw, JSON-escaped, percent-encoded,
 *     in base64 or base64url; nor the learned key (when it is at least 4
 *     bytes, the redactor's minimum, and holds no '*', which could meet a
 *     placeholder), raw and whole;
 *   - the params of an {"action":"auth"} object are redacted: if the input
 *     is an auth action with a key (as pws_auth_key_of reads it), the output
 *     is not, or its params are "***" (unless the message holds a NUL byte:
 *     pws_auth_key_of reads names with cJSON, as C strings, so it takes
 *     "params\0x" for "params"; raw control bytes are not JSON, and the
 *     redactor rightly does not; the same for a key shorter than the
 *     redactor's 4-byte minimum in a message with a \u escape that cJSON
 *     decodes to NUL: see has_nul_escape);
 *   - the output differs from the input only if *changed says so;
 *     zero rules change nothing; the output is NUL-terminated at *outlen.
 * Not covered, because the redactor does not claim them: a key in another
 * letter case, in hex, or split across two messages.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus
 * (corpus_redact/) through the same checks under any compiler
 * (fuzz_redact_corpus).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <polyws/tape.h>

#include "leakcheck.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_MIN 4 /* the redactor's shortest secret (PWS__SECRET_MIN): shorter keys are not scrubbed */

/* True if msg holds a \u escape that cJSON decodes to a NUL: \u0000, or \u not followed by four hex
 * digits (cJSON takes the bad digits for 0 where the redactor, rightly, sees no JSON).  Through it
 * pws_auth_key_of reads "auth\uauth" as "auth", like a raw NUL byte above. */
static bool has_nul_escape(const char *msg, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (msg[i] != '\\' || msg[i + 1] != 'u')
            continue;
        bool hex = i + 6 <= len, zero = hex;
        for (size_t j = i + 2; hex && j < i + 6; j++) {
            hex = isxdigit((unsigned char)msg[j]) != 0;
            zero = zero && msg[j] == '0';
        }
        if (!hex || zero)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_redact: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_KEY "pwsFuzzKey1234"
#define KEY_MARK_MAX 0x05 /* input bytes 0x01..0x05 stand for FUZZ_KEY in an encoding */
#define KEY_ROOM 64u      /* bytes the longest encoding takes */
#define MAX_INPUT 65536u  /* bytes of input used */

/* FUZZ_KEY in encoding mark (1..KEY_MARK_MAX) into out (KEY_ROOM bytes); its length. */
static size_t encode_key(int mark, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *k = FUZZ_KEY;
    size_t kl = sizeof FUZZ_KEY - 1, n = 0;
    if (mark == 1) {
        memcpy(out, k, kl);
        return kl;
    }
    if (mark == 2 || mark == 3) {
        for (size_t i = 0; i < kl; i++)
            n += (size_t)(i % 2 ? snprintf(out + n, KEY_ROOM - n, "%c", k[i])
                                : snprintf(out + n, KEY_ROOM - n, mark == 2 ? "\\u%04x" : "%%%02X", (unsigned char)k[i]));
        return n;
    }
    /* base64 (mark 4, after one byte) or base64url (mark 5, after two) */
    unsigned char in[sizeof FUZZ_KEY + 4] = {'x', 'y'};
    size_t pre = mark == 4 ? 1 : 2, len = pre + kl;
    memcpy(in + pre, k, kl);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? in[i + 1] : 0u) << 8 | (i + 2 < len ? in[i + 2] : 0u);
        size_t chars = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
        for (size_t c = 0; c < chars; c++) {
            char ch = b64[v >> (18 - 6 * c) & 63];
            out[n++] = mark == 5 && ch == '+' ? '-' : mark == 5 && ch == '/' ? '_' : ch;
        }
    }
    return n;
}

static char *expand(const uint8_t *data, size_t size, size_t *len)
{
    size_t marks = 0, n = 0;
    for (size_t i = 0; i < size; i++)
        marks += data[i] >= 1 && data[i] <= KEY_MARK_MAX;
    char *msg = malloc(size + marks * KEY_ROOM + 1);
    FUZZ_CHECK(msg != NULL);
    for (size_t i = 0; i < size; i++) {
        if (data[i] >= 1 && data[i] <= KEY_MARK_MAX)
            n += encode_key(data[i], msg + n);
        else
            msg[n++] = (char)data[i];
    }
    msg[n] = '\0';
    *len = n;
    return msg;
}

static void leak(const char *what, const char *key, const char *out, size_t outlen)
{
    fprintf(stderr, "fuzz_redact: %s '%s' left in the output: %.*s\n", what, key, (int)(outlen < 2000 ? outlen : 2000), out);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pws_redact_rules none;
    pws_redact_rules rules = {.auth_params = true, .fields = {"token", "apiKey"}, .nfields = 2,
                              .secrets = {FUZZ_KEY}, .nsecrets = 1};
    char learned[1024], after[1024];
    size_t len, outlen = 0;
    bool changed = true;

    if (size > MAX_INPUT)
        return 0;
    char *msg = expand(data, size, &len);

    /* zero rules: the very same bytes */
    char *out = pws_redact_message(&none, msg, len, &outlen, &changed);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(!changed && outlen == len && memcmp(out, msg, len) == 0 && out[outlen] == '\0');
    free(out);

    size_t kl = pws_auth_key_of(msg, len, learned, sizeof learned);
    FUZZ_CHECK(kl < sizeof learned);
    if (kl) {
        FUZZ_CHECK(learned[kl] == '\0');
        if (kl >= REDACT_MIN)
            rules.secrets[rules.nsecrets++] = learned;
    }

    out = pws_redact_message(&rules, msg, len, &outlen, &changed);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(out[outlen] == '\0');
    if (!changed) /* a value that was "***" already may be replaced by "***": changed, same bytes */
        FUZZ_CHECK(outlen == len && memcmp(out, msg, len) == 0);
    if (pws_test_leaks(out, outlen, FUZZ_KEY))
        leak("a trace of the secret", FUZZ_KEY, out, outlen);
    if (kl >= REDACT_MIN && strlen(learned) == kl && !strchr(learned, '*') && memmem(out, outlen, learned, kl))
        leak("the learned key", learned, out, outlen);
    if (kl && !memchr(msg, '\0', len) && !(kl < REDACT_MIN && has_nul_escape(msg, len)) &&
        pws_auth_key_of(out, outlen, after, sizeof after) && strcmp(after, PWS_TAPE_PLACEHOLDER) != 0)
        leak("the auth params", after, out, outlen);
    free(out);
    free(msg);
    return 0;
}
