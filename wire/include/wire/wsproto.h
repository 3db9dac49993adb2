/*
 * wire/wsproto.h - the WebSocket wire protocol, pure (RFC 6455): the HTTP
 * upgrade heads, accept keys, and an incremental frame reader and writer.
 *
 * The connector, the recording proxy and the replayer speak WebSocket
 * themselves over lws raw sockets instead of using lws' ws role: lws 4.1
 * answers pings internally and never shows them (a recorder must see and
 * forward every frame, a replayer must send recorded close codes exactly),
 * and its client parser runs a state-machine step per payload byte, which
 * capped the connector near 1M events/s.  The reader here copies payload in
 * bulk and hands over whole messages.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h): the connector (libpolyws), the recording proxy and the
 * replayer (libpwsreplay) and the fuzz target feed the same reader.  Names
 * are pws__; no state outside the objects, one object per thread.
 */
#ifndef PWS_WIRE_WSPROTO_H
#define PWS_WIRE_WSPROTO_H

#include "wire/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWS__WS_MAX_MESSAGE (64u << 20) /* bytes of one data message kept at most */
#define PWS__MAX_HEAD 16384u     /* bytes of one HTTP request or response head */
#define PWS__MAX_HEADERS 64u     /* header lines in one head */

enum {
    PWS__OP_CONT = 0,
    PWS__OP_TEXT = 1,
    PWS__OP_BINARY = 2,
    PWS__OP_CLOSE = 8,
    PWS__OP_PING = 9,
    PWS__OP_PONG = 10
};

/* A parsed HTTP head.  The strings point into buf. */
typedef struct pws__http_head {
    char buf[PWS__MAX_HEAD + 1];     /* the head with NULs put in */
    const char *method;               /* request: "GET" */
    const char *target;               /* request: "/path?query" */
    int status;                       /* response: 101 ... */
    const char *reason;               /* response: "Switching Protocols" */
    size_t nheaders;                  /* header lines */
    const char *names[PWS__MAX_HEADERS];  /* as written */
    const char *values[PWS__MAX_HEADERS]; /* trimmed */
} pws__http_head;

/* Length of the head in buf[0..len) through its blank line, 0 if it is not
 * complete yet. */
size_t pws__http_head_len(const char *buf, size_t len);
/* Parses a complete head of headlen bytes; 0, or -1 with a message. */
int pws__http_parse(const char *buf, size_t headlen, bool request, pws__http_head *h, char *err, size_t cap);
/* The value of a header (case-insensitive name), or NULL. */
const char *pws__http_get(const pws__http_head *h, const char *name);
/* True if a comma-separated header value holds token (case-insensitive). */
bool pws__http_has_token(const char *value, const char *token);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void pws__ws_accept(const char *key, char out[32]);
/* A fresh random Sec-WebSocket-Key (24 chars + NUL). */
void pws__ws_new_key(char out[32]);

/* Appends one frame.  mask NULL: unmasked (server to client).  0 or -1. */
int pws__ws_frame(pws__buf *out, int opcode, bool fin, const unsigned char *mask, const void *payload,
                   size_t len);
#define PWS__WS_MAX_CLOSE_REASON 123u /* reason bytes: a control frame carries 125, the code takes 2 */

/* Appends a close frame: code 0 means no payload at all.  The reason is cut to its longest
 * valid UTF-8 prefix of at most PWS__WS_MAX_CLOSE_REASON bytes (RFC 6455 5.5 and 7.1.6: a
 * longer control frame, or a reason cut inside a character, fails the peer's connection). */
int pws__ws_close_frame(pws__buf *out, int code, const char *reason, const unsigned char *mask);

/* What the frame reader hands over: a whole data message (fragments joined)
 * or a control frame.  data is valid during the call.  too_big: a data
 * message over max_message; data is then empty and total its size. */
typedef void (*pws__ws_msg_fn)(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                                uint64_t total);

/* Incremental frame reader for one direction of one connection. */
typedef struct pws__wsreader {
    bool want_masked;            /* frames from a client must be masked, from a server must not */
    size_t max_message;          /* bytes of a data message kept; 0 = PWS__WS_MAX_MESSAGE */
    unsigned char hdr[14];       /* frame header being collected */
    size_t hdr_have;             /* bytes of it so far */
    bool in_payload;             /* header done, payload bytes follow */
    bool fin;                    /* current frame's FIN */
    int opcode;                  /* current frame's opcode */
    bool masked;                 /* current frame is masked */
    unsigned char mask[4];       /* its masking key */
    uint64_t remaining;          /* payload bytes still to come */
    uint64_t pos;                /* payload bytes seen (for the mask) */
    bool in_msg;                 /* a fragmented data message is open */
    int msg_opcode;              /* its opcode */
    uint64_t msg_total;          /* its size so far */
    bool msg_too_big;            /* it went over max_message */
    pws__buf msg;            /* its bytes */
    unsigned char ctl[125];      /* a control frame's payload */
    size_t ctl_len;              /* bytes in ctl */
    bool dead;                   /* a protocol error happened: the reader stops */
    bool reject_rsv;             /* RSV1-3 set is an error (no extension negotiated) */
    bool pause;                  /* set by the callback: feeding stops after this message */
    uint64_t offset;             /* stream bytes consumed so far */
    uint64_t frame_at;           /* stream offset of the current frame's first byte */
} pws__wsreader;

void pws__ws_reader_init(pws__wsreader *r, bool want_masked, size_t max_message);
void pws__ws_reader_free(pws__wsreader *r);
/* Feeds bytes; calls fn per message/control frame.  0, or -1 on a protocol
 * error (message in err, with the frame's stream offset; the reader is dead
 * from then on).  If fn sets r->pause, feeding stops right after that frame
 * and *used (if not NULL) tells how many bytes of in were consumed; the
 * message's bytes stay valid until the next feed.  The caller clears pause. */
int pws__ws_feed(pws__wsreader *r, const unsigned char *in, size_t len, pws__ws_msg_fn fn, void *user,
                  char *err, size_t errcap);
int pws__ws_feed_some(pws__wsreader *r, const unsigned char *in, size_t len, pws__ws_msg_fn fn, void *user,
                      size_t *used, char *err, size_t errcap);

/* A ws:// or wss:// URL split into parts. */
typedef struct pws__url {
    bool tls;                 /* wss:// */
    char host[256];           /* host name or IP literal (no brackets) */
    int port;                 /* port, or the scheme's default */
    char hostport[300];       /* the Host header: host[:port] as written */
    char path[2048];          /* path and query, starting with '/' ("/" if none) */
} pws__url;

/* 0, or -1 with a message (quoting the URL as pws__url_for_error does). */
int pws__url_parse(const char *url, pws__url *u, char *err, size_t cap);
/* url as an error message may quote it: any user:password@ before the host
 * and everything from the query or fragment on (either may carry an API key)
 * replaced by "***", at most 200 bytes of the rest. */
void pws__url_for_error(const char *url, char *out, size_t cap);
/* "WHAT: URL" into err, the URL quoted as pws__url_for_error does. */
void pws__url_error(char *err, size_t cap, const char *what, const char *url);

#endif
