/*
 * scenario_frame.c - WebSocket frames by hand (RFC 6455 5.2) and the named
 * protocol faults.
 *
 *   byte 0: FIN(0x80) RSV1(0x40) RSV2(0x20) RSV3(0x10) opcode(0x0F)
 *   byte 1: MASK(0x80) length: 0-125, 126 = 16-bit length follows,
 *           127 = 64-bit length follows (most significant bit 0)
 *   then the masking key (4 bytes) if MASK, then the payload.
 *
 * Server frames are unmasked; a masked one is itself a fault (RFC 6455 5.1).
 */
#include "scenario_frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const pwss__fault_info pwss__faults[PWSS__FAULT_COUNT] = {
    [PWSS__FAULT_RESERVED_BITS] = {"reserved_bits", true, {"payload", NULL}},
    [PWSS__FAULT_RESERVED_OPCODE] = {"reserved_opcode", true, {"opcode", "payload", NULL}},
    [PWSS__FAULT_FRAGMENTED] = {"fragmented", false, {"frames", "payload", NULL}},
    [PWSS__FAULT_CONTROL_IN_FRAGMENT] = {"control_in_fragment", false, {"payload", NULL}},
    [PWSS__FAULT_OVERSIZED_CONTROL] = {"oversized_control", true, {"size", NULL}},
    [PWSS__FAULT_UNSOLICITED_PONG] = {"unsolicited_pong", false, {"payload", NULL}},
    [PWSS__FAULT_INVALID_CLOSE_CODE] = {"invalid_close_code", true, {"code", NULL}},
    [PWSS__FAULT_FRAGMENTED_CONTROL] = {"fragmented_control", true, {NULL}},
    [PWSS__FAULT_UNEXPECTED_CONTINUATION] = {"unexpected_continuation", true, {"payload", NULL}},
    [PWSS__FAULT_MASKED_FRAME] = {"masked_frame", true, {"payload", NULL}},
};

int pwss__fault_lookup(const char *name)
{
    for (int i = 0; i < PWSS__FAULT_COUNT; i++)
        if (!strcmp(pwss__faults[i].name, name))
            return i;
    return -1;
}

bool pwss__close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

int pwss__frame_append(pwss__buf *out, bool fin, unsigned rsv, unsigned opcode, const uint8_t *mask,
                       const void *payload, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80u : 0u) | ((rsv & 7u) << 4) | (opcode & 0x0Fu));
    uint8_t m = mask ? 0x80 : 0;
    if (len <= 125) {
        h[n++] = (uint8_t)(m | len);
    } else if (len <= 0xFFFF) {
        h[n++] = (uint8_t)(m | 126);
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = (uint8_t)(m | 127);
        uint64_t l = (uint64_t)len;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)(l >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    size_t start = out->len;
    if (pwss__buf_put(out, h, n) || pwss__buf_put(out, payload, len)) {
        out->len = start; /* leave no half frame behind */
        if (out->data)
            out->data[start] = '\0';
        return -1;
    }
    if (mask) {
        uint8_t *p = (uint8_t *)out->data + start + n;
        for (size_t i = 0; i < len; i++)
            p[i] ^= mask[i & 3];
    }
    return 0;
}

static int ferr(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int ferr(char *msg, size_t cap, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int full(const pwss__buf *out, char *msg, size_t cap)
{
    if (out->oom)
        return ferr(msg, cap, "out of memory");
    return ferr(msg, cap, "frames larger than %zu bytes", out->max);
}

int pwss__fault_build(const pwss__fault_spec *spec, pwss__buf *out, char *msg, size_t msgcap)
{
    /* The default payload is one trade whose id names the fault, so a client's
     * output shows which message got through. */
    char dflt[192];
    const char *pl = spec->payload;
    size_t len = spec->len;
    if (!pl) {
        int k = snprintf(dflt, sizeof dflt,
                         "[{\"ev\":\"T\",\"sym\":\"AAPL\",\"x\":4,\"i\":\"%s\",\"z\":3,\"p\":190.5,"
                         "\"s\":100,\"t\":1704205800000,\"q\":%d}]",
                         (unsigned)spec->kind < PWSS__FAULT_COUNT ? pwss__faults[spec->kind].name : "?",
                         1001 + (int)spec->kind);
        pl = dflt;
        len = (size_t)k;
    }
    static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7's example key */
    switch (spec->kind) {
    case PWSS__FAULT_RESERVED_BITS:
        if (pwss__frame_append(out, true, PWSS__WS_RSV1 | PWSS__WS_RSV2 | PWSS__WS_RSV3, PWSS__WS_TEXT, NULL,
                               pl, len))
            return full(out, msg, msgcap);
        return 0;
    case PWSS__FAULT_RESERVED_OPCODE: {
        unsigned op = spec->opcode ? spec->opcode : 3;
        if (!((op >= 3 && op <= 7) || (op >= 11 && op <= 15)))
            return ferr(msg, msgcap, "opcode %u is not reserved (reserved: 3-7, 11-15)", op);
        /* reserved control opcodes (11-15) keep within the control frame size limit */
        if (op >= 11 && len > PWSS__CONTROL_MAX)
            len = PWSS__CONTROL_MAX;
        if (pwss__frame_append(out, true, 0, op, NULL, pl, len))
            return full(out, msg, msgcap);
        return 0;
    }
    case PWSS__FAULT_FRAGMENTED: {
        unsigned nf = spec->frames ? spec->frames : 3;
        if (nf < 2 || nf > PWSS__MAX_FRAGMENTS)
            return ferr(msg, msgcap, "frames must be 2..%u, not %u", PWSS__MAX_FRAGMENTS, nf);
        if (len < nf)
            return ferr(msg, msgcap, "a payload of %zu bytes cannot be split into %u frames", len, nf);
        size_t part = len / nf, off = 0;
        for (unsigned i = 0; i < nf; i++) {
            size_t n = i + 1 == nf ? len - off : part;
            if (pwss__frame_append(out, i + 1 == nf, 0, i ? PWSS__WS_CONTINUATION : PWSS__WS_TEXT, NULL,
                                   pl + off, n))
                return full(out, msg, msgcap);
            off += n;
        }
        return 0;
    }
    case PWSS__FAULT_CONTROL_IN_FRAGMENT: {
        if (len < 2)
            return ferr(msg, msgcap, "a payload of %zu bytes cannot be split into 2 frames", len);
        size_t half = len / 2;
        static const char ping[] = "between fragments";
        if (pwss__frame_append(out, false, 0, PWSS__WS_TEXT, NULL, pl, half) ||
            pwss__frame_append(out, true, 0, PWSS__WS_PING, NULL, ping, sizeof ping - 1) ||
            pwss__frame_append(out, true, 0, PWSS__WS_CONTINUATION, NULL, pl + half, len - half))
            return full(out, msg, msgcap);
        return 0;
    }
    case PWSS__FAULT_OVERSIZED_CONTROL: {
        size_t size = spec->size ? spec->size : PWSS__CONTROL_MAX + 1;
        if (size <= PWSS__CONTROL_MAX || size > PWSS__MAX_OVERSIZED)
            return ferr(msg, msgcap, "size must be %u..%u bytes, not %zu", PWSS__CONTROL_MAX + 1,
                        PWSS__MAX_OVERSIZED, size);
        char *x = malloc(size);
        if (!x)
            return ferr(msg, msgcap, "out of memory");
        memset(x, 'x', size);
        int rc = pwss__frame_append(out, true, 0, PWSS__WS_PING, NULL, x, size);
        free(x);
        return rc ? full(out, msg, msgcap) : 0;
    }
    case PWSS__FAULT_UNSOLICITED_PONG: {
        const char *p = spec->payload ? spec->payload : "unsolicited";
        size_t n = spec->payload ? spec->len : strlen(p);
        if (n > PWSS__CONTROL_MAX)
            return ferr(msg, msgcap, "a pong payload is at most %u bytes, not %zu", PWSS__CONTROL_MAX, n);
        if (pwss__frame_append(out, true, 0, PWSS__WS_PONG, NULL, p, n))
            return full(out, msg, msgcap);
        return 0;
    }
    case PWSS__FAULT_INVALID_CLOSE_CODE: {
        int code = spec->close_code ? spec->close_code : 1005;
        if (code < 0 || code > 65535)
            return ferr(msg, msgcap, "close code must fit in 16 bits, not %d", code);
        if (pwss__close_code_valid(code))
            return ferr(msg, msgcap, "close code %d is valid: use the close step to send it", code);
        static const char reason[] = "invalid close code";
        uint8_t body[2 + sizeof reason - 1];
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        memcpy(body + 2, reason, sizeof reason - 1);
        if (pwss__frame_append(out, true, 0, PWSS__WS_CLOSE, NULL, body, sizeof body))
            return full(out, msg, msgcap);
        return 0;
    }
    case PWSS__FAULT_FRAGMENTED_CONTROL: {
        static const char a[] = "fragmented ", b[] = "ping";
        if (pwss__frame_append(out, false, 0, PWSS__WS_PING, NULL, a, sizeof a - 1) ||
            pwss__frame_append(out, true, 0, PWSS__WS_CONTINUATION, NULL, b, sizeof b - 1))
            return full(out, msg, msgcap);
        return 0;
    }
    case PWSS__FAULT_UNEXPECTED_CONTINUATION:
        if (pwss__frame_append(out, true, 0, PWSS__WS_CONTINUATION, NULL, pl, len))
            return full(out, msg, msgcap);
        return 0;
    case PWSS__FAULT_MASKED_FRAME:
        if (pwss__frame_append(out, true, 0, PWSS__WS_TEXT, rfc_mask, pl, len))
            return full(out, msg, msgcap);
        return 0;
    case PWSS__FAULT_COUNT: break;
    }
    return ferr(msg, msgcap, "unknown fault");
}
