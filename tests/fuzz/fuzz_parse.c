/*
 * fuzz_parse.c - libFuzzer target for pws_parse_frame(), pws_event_to_json()
 * and pws_parse_double().
 *
 * Each input is parsed as a frame twice (default limits, then a tight depth
 * and size limit taken from the first byte), and every event is checked:
 *   - parse errors carry a static reason, an offset within the frame (or the
 *     size limit), and a NUL-terminated printable excerpt;
 *   - OTHER events point at a '{'..'}' span inside the input;
 *   - market-data events, written with pws_event_to_json() and parsed again,
 *     give back one event that writes the very same line (round trip);
 *   - pws_event_to_json() returns the same length with a too-small buffer.
 * Each input is also parsed under every kernel setting of parse_kernels.h
 * (schema fast path and SIMD, fast path with the portable string scan,
 * general path alone): the events must be identical byte for byte.
 * Inputs up to 600 bytes are also given to pws_parse_double(): whenever it
 * accepts one, the value must equal strtod_l() in the "C" locale bit for bit.
 *
 * Built with -fsanitize=fuzzer (clang) this is a libFuzzer target; linked with
 * replay_main.c it replays the seed corpus through the same checks under any
 * compiler (fuzz_parse_corpus).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif

#include "parse_kernels.h"

#include <polyws/parse.h>

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message; libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_parse: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* State of one pass over an input. */
typedef struct pass {
    const char *frame;  /* the input */
    size_t len;         /* its length */
    size_t max_frame;   /* the frame limit in force */
    long events;        /* events seen */
} pass;

static char out_a[8192];
static char out_b[8192];

/* Sink of the inner (round-trip) parse: keeps the line of the single event. */
static int reparse_sink(const pws_event *ev, void *user)
{
    int *count = user;
    if ((*count)++ == 0)
        pws_event_to_json(ev, out_b, sizeof out_b);
    return 0;
}

static void check_string(const char *s, size_t cap)
{
    FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

static int sink(const pws_event *ev, void *user)
{
    pass *ps = user;
    char small[7];
    size_t n = pws_event_to_json(ev, out_a, sizeof out_a);

    ps->events++;
    FUZZ_CHECK(n < sizeof out_a);
    FUZZ_CHECK(strlen(out_a) == n);
    FUZZ_CHECK(pws_event_to_json(ev, small, sizeof small) == n);
    FUZZ_CHECK(strlen(small) == (n < sizeof small ? n : sizeof small - 1));
    FUZZ_CHECK(ev->recv_us == 0);

    switch (ev->type) {
    case PWS_EV_PARSE_ERROR:
        FUZZ_CHECK(ev->u.error.reason != NULL && ev->u.error.reason[0] != '\0');
        FUZZ_CHECK(ev->u.error.frame_len == ps->len);
        FUZZ_CHECK(ev->u.error.offset <= ps->len || ev->u.error.offset == ps->max_frame);
        check_string(ev->u.error.excerpt, sizeof ev->u.error.excerpt);
        for (const char *p = ev->u.error.excerpt; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
        break;
    case PWS_EV_OTHER:
        check_string(ev->u.other.ev, sizeof ev->u.other.ev);
        FUZZ_CHECK(ev->u.other.json >= ps->frame);
        FUZZ_CHECK(ev->u.other.json_len >= 2);
        FUZZ_CHECK(ev->u.other.json + ev->u.other.json_len <= ps->frame + ps->len);
        FUZZ_CHECK(ev->u.other.json[0] == '{' && ev->u.other.json[ev->u.other.json_len - 1] == '}');
        break;
    case PWS_EV_STATUS:
        check_string(ev->u.status.status, sizeof ev->u.status.status);
        check_string(ev->u.status.message, sizeof ev->u.status.message);
        break;
    case PWS_EV_AGG:
    case PWS_EV_TRADE:
    case PWS_EV_QUOTE: {
        /* the normalized line parses back to an event with the same line */
        char *frame = malloc(n + 2);
        int count = 0;
        FUZZ_CHECK(frame != NULL);
        check_string(pws_event_symbol(ev), PWS_SYMBOL_MAX);
        if (ev->type == PWS_EV_TRADE) {
            FUZZ_CHECK(ev->u.trade.nc <= PWS_MAX_CONDITIONS);
            check_string(ev->u.trade.i, sizeof ev->u.trade.i);
        }
        if (ev->type == PWS_EV_QUOTE)
            FUZZ_CHECK(ev->u.quote.ni <= PWS_MAX_CONDITIONS);
        frame[0] = '[';
        memcpy(frame + 1, out_a, n);
        frame[n + 1] = ']';
        FUZZ_CHECK(pws_parse_frame(frame, n + 2, NULL, reparse_sink, &count) == 1);
        FUZZ_CHECK(count == 1);
        if (strcmp(out_a, out_b) != 0) {
            fprintf(stderr, "fuzz_parse: round trip differs:\n  %s\n  %s\n", out_a, out_b);
            abort();
        }
        free(frame);
        break;
    }
    default:
        FUZZ_CHECK(!"unexpected event type");
    }
    return 0;
}

/* Sink of the kernel comparison: folds every byte of every event (events are
 * zero-filled before they are built, so padding is deterministic). */
static int digest_sink(const pws_event *ev, void *user)
{
    uint64_t *h = user;
    const unsigned char *b = (const unsigned char *)ev;
    for (size_t i = 0; i < sizeof *ev; i++)
        *h = (*h ^ b[i]) * 0x100000001B3ull;
    return 0;
}

/* The events of text[0..size) under each kernel setting must be the same. */
static void check_kernels_agree(const char *text, size_t size)
{
    static const unsigned settings[] = { PWS__PARSE_ALL, PWS__PARSE_FAST, 0 };
    uint64_t digest[3];

    for (int k = 0; k < 3; k++) {
        pws__parse_kernels = settings[k];
        digest[k] = 0xcbf29ce484222325ull;
        pws_parse_frame(text, size, NULL, digest_sink, &digest[k]);
    }
    pws__parse_kernels = PWS__PARSE_ALL;
    FUZZ_CHECK(digest[0] == digest[1]);
    FUZZ_CHECK(digest[0] == digest[2]);
}

static locale_t c_locale(void)
{
    static locale_t loc;
    if (loc == (locale_t)0)
        loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return loc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    pws_parse_limits tight = { 0, 0 };
    pass ps = { text, size, PWS_DEFAULT_MAX_FRAME_BYTES, 0 };

    FUZZ_CHECK(pws_parse_frame(text, size, NULL, sink, &ps) == ps.events);
    FUZZ_CHECK(ps.events >= 0);
    check_kernels_agree(text, size);
    if (size > 0) {
        /* tight limits: depth 1..8, frame limit up to the whole input */
        tight.max_depth = 1u + (data[0] & 7u);
        tight.max_frame_bytes = 1u + (size_t)(data[0] >> 3) * (size / 32u + 1u);
        ps.max_frame = tight.max_frame_bytes;
        ps.events = 0;
        FUZZ_CHECK(pws_parse_frame(text, size, &tight, sink, &ps) == ps.events);
    }

    if (size > 0 && size <= 600) {
        char copy[601];
        double mine, ref;
        char *stop;
        memcpy(copy, text, size);
        copy[size] = '\0';
        if (pws_parse_double(text, size, &mine) == 0) {
            ref = strtod_l(copy, &stop, c_locale());
            FUZZ_CHECK(stop == copy + size);
            FUZZ_CHECK(memcmp(&mine, &ref, sizeof mine) == 0);
        }
    }
    return 0;
}
