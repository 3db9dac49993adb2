/*
 * wire/tapeline.h - the tape line codec: one JSON line per frame or
 * connection event,
 *   {"t_us":812,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":...}]"}
 * with "data" (UTF-8 text) or "data_b64" (anything else), "code" and
 * "reason" for a close, and "headers" (verbatim JSON) for an open.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h).  The mock's journal (libpwsmock) and tapes (libpwsreplay)
 * write these lines with pws__line_encode, so a journal is a tape without a
 * header and escaping, the text/base64 choice and the close-reason rule live
 * here only; tapes and journals are read back with pws__line_decode (a
 * hand-written scanner: a replay at full speed decodes hundreds of thousands
 * of lines a second).  docs/tapes.md describes the format.  Names are pws__;
 * pure functions on bytes, no state, callable from any thread.
 */
#ifndef PWS_WIRE_TAPELINE_H
#define PWS_WIRE_TAPELINE_H

#include "wire/buf.h"

#include <stddef.h>
#include <stdint.h>

#define PWS__LINE_MAX_PAYLOAD (64u << 20) /* bytes of one decoded payload (PWS_TAPE_MAX_PAYLOAD) */
#define PWS__LINE_MAX_REASON 123u         /* bytes of a close reason (the WebSocket limit) */

/* One line.  Encoding reads the caller's pointers; decoding points them into
 * the scratch buffer (or at static strings). */
typedef struct pws__line {
    int64_t t_us;              /* microseconds since the start of the recording */
    uint32_t conn;             /* connection ordinal, 1-based */
    char dir;                  /* 'c' client to server, 's' server to client, '-' event */
    const char *kind;          /* "text", "binary", "ping", "pong", "close", "open", "fault" ...; NUL-terminated */
    size_t kind_len;           /* decoded: strlen(kind) */
    const unsigned char *data; /* payload (decoded: NUL-terminated, may hold NULs) */
    size_t len;                /* payload bytes */
    int code;                  /* close: the code, 0 for none */
    const char *reason;        /* close: the reason; encoding: NULL means "" */
    const char *headers_json;  /* open: JSON array of [name, value] pairs written verbatim, or NULL */
} pws__line;

/* What pws__line_decode returns. */
enum { PWS__LINE_OK = 0, PWS__LINE_BAD = -1, PWS__LINE_NOMEM = -2 };

/* Appends l as one line ending in '\n'.  The payload of text that is valid
 * UTF-8 goes to "data"; of text that is not, and of binary, ping and pong, to
 * "data_b64"; of other kinds, "data" if UTF-8 else "data_b64", nothing if
 * empty.  A close carries "code" and "reason" (a reason that is not UTF-8 is
 * written as "(not UTF-8)": the line must stay valid JSON).  0, or -1 without
 * memory (or past PWS__BUF_MAX); b then holds a partial line. */
int pws__line_encode(const pws__line *l, pws__buf *b);

/* Decodes one line (without its '\n') into *l, its strings into scratch
 * (emptied first; the pointers stay valid until scratch changes).  Unknown
 * members are skipped (nested up to 32 deep), so newer lines stay readable.
 * Returns PWS__LINE_OK, PWS__LINE_BAD with "what at byte N" in err, or
 * PWS__LINE_NOMEM. */
int pws__line_decode(const char *line, size_t len, pws__line *l, pws__buf *scratch, char *err, size_t errcap);

#endif
