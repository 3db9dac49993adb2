/*
 * scenario_frame.h - hand-made WebSocket frames for PWSS_STEP_RAW steps
 * (private to the scenario loader): the wire format of RFC 6455 section 5.2
 * and the named protocol faults of the scenario language.
 */
#ifndef POLYWS_SCENARIO_FRAME_H
#define POLYWS_SCENARIO_FRAME_H

#include "scenario_json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWSS__WS_CONTINUATION 0x0
#define PWSS__WS_TEXT 0x1
#define PWSS__WS_BINARY 0x2
#define PWSS__WS_CLOSE 0x8
#define PWSS__WS_PING 0x9
#define PWSS__WS_PONG 0xA

#define PWSS__WS_RSV1 4u /* rsv argument bits: RSV1 (0x40 in the first byte) */
#define PWSS__WS_RSV2 2u /* RSV2 (0x20) */
#define PWSS__WS_RSV3 1u /* RSV3 (0x10) */

#define PWSS__CONTROL_MAX 125u      /* largest legal control frame payload (RFC 6455 5.5) */
#define PWSS__CLOSE_REASON_MAX 123u /* close reason bytes: 125 minus the 2-byte code */
#define PWSS__MAX_FRAGMENTS 64u     /* frames of fault: fragmented */
#define PWSS__MAX_OVERSIZED 65535u  /* payload bytes of fault: oversized_control */

/** Appends one frame: FIN, RSV bits (PWSS__WS_RSV*), opcode (0..15), the
 * payload masked with mask[4] if mask is non-NULL (servers never mask: that is
 * a fault), the length in its shortest form (7, 16 or 64 bits, network order).
 * Returns 0 or -1 (out reached its max or memory ran out). */
int pwss__frame_append(pwss__buf *out, bool fin, unsigned rsv, unsigned opcode, const uint8_t *mask,
                       const void *payload, size_t len);

/** The named protocol faults. */
typedef enum pwss__fault {
    PWSS__FAULT_RESERVED_BITS = 0,   /* text frame with RSV1, RSV2 and RSV3 set: fail */
    PWSS__FAULT_RESERVED_OPCODE,     /* frame with a reserved opcode (3-7, 11-15): fail */
    PWSS__FAULT_FRAGMENTED,          /* valid text message in N frames: reassemble */
    PWSS__FAULT_CONTROL_IN_FRAGMENT, /* valid: ping between the fragments of a message: answer, reassemble */
    PWSS__FAULT_OVERSIZED_CONTROL,   /* ping with a payload over 125 bytes: fail */
    PWSS__FAULT_UNSOLICITED_PONG,    /* pong nobody asked for: ignore */
    PWSS__FAULT_INVALID_CLOSE_CODE,  /* close frame with a code that must not be sent: fail (1002) */
    PWSS__FAULT_FRAGMENTED_CONTROL,  /* ping with FIN=0 and its continuation: fail */
    PWSS__FAULT_UNEXPECTED_CONTINUATION, /* continuation frame with no message started: fail */
    PWSS__FAULT_MASKED_FRAME,            /* text frame masked by the server: fail */
    PWSS__FAULT_COUNT
} pwss__fault;

/** What is known about a fault. */
typedef struct pwss__fault_info {
    const char *name;      /* as written after `fault:` */
    bool must_fail;        /* a correct client fails the connection (else it must carry on) */
    const char *params[3]; /* mapping keys it takes besides `kind`, NULL-terminated */
} pwss__fault_info;

/** Table indexed by pwss__fault. */
extern const pwss__fault_info pwss__faults[PWSS__FAULT_COUNT];

/** The fault named name, or -1. */
int pwss__fault_lookup(const char *name);

/** A fault and its parameters; zero fields take the defaults. */
typedef struct pwss__fault_spec {
    pwss__fault kind;    /* which fault */
    unsigned opcode;     /* RESERVED_OPCODE: 3-7 or 11-15 (default 3) */
    int close_code;      /* INVALID_CLOSE_CODE: an invalid code (default 1005) */
    unsigned frames;     /* FRAGMENTED: 2..PWSS__MAX_FRAGMENTS frames (default 3) */
    size_t size;         /* OVERSIZED_CONTROL: 126..PWSS__MAX_OVERSIZED payload bytes (default 126) */
    const char *payload; /* payload of the data-carrying faults; NULL = a one-trade array naming the fault */
    size_t len;          /* bytes in payload */
} pwss__fault_spec;

/** Appends the bytes of a fault to out.  Returns 0, or -1 with a message in msg
 * (bad parameter, payload too short to split, out too small). */
int pwss__fault_build(const pwss__fault_spec *spec, pwss__buf *out, char *msg, size_t msgcap);

/** True if code may be sent in a close frame (RFC 6455 7.4.1, 7.4.2 and the IANA
 * registry): 1000-1003, 1007-1014, 3000-4999. */
bool pwss__close_code_valid(int code);

#endif
