/*
 * wsproto.h - the WebSocket wire protocol, pure (RFC 6455): the HTTP upgrade
 * heads, accept keys, and an incremental frame reader and writer.
 *
 * The proxy and the replayer speak WebSocket themselves over lws raw sockets
 * instead of using lws' ws role, because lws 4.1 answers pings internally and
 * never shows them (a recorder must see and forward every frame, and a
 * replayer must send recorded close codes and reasons exactly).
 */
#ifndef PWSR_WSPROTO_H
#define PWSR_WSPROTO_H

#include "internal.h"

#define PWSR__MAX_HEAD 16384u     /* bytes of one HTTP request or response head */
#define PWSR__MAX_HEADERS 64u     /* header lines in one head */

enum {
    PWSR__OP_CONT = 0,
    PWSR__OP_TEXT = 1,
    PWSR__OP_BINARY = 2,
    PWSR__OP_CLOSE = 8,
    PWSR__OP_PING = 9,
    PWSR__OP_PONG = 10
};

/* A parsed HTTP head.  The strings point into buf. */
typedef struct pwsr__http_head {
    char buf[PWSR__MAX_HEAD + 1];     /* the head with NULs put in */
    const char *method;               /* request: "GET" */
    const char *target;               /* request: "/path?query" */
    int status;                       /* response: 101 ... */
    const char *reason;               /* response: "Switching Protocols" */
    size_t nheaders;                  /* header lines */
    const char *names[PWSR__MAX_HEADERS];  /* as written */
    const char *values[PWSR__MAX_HEADERS]; /* trimmed */
} pwsr__http_head;

/* Length of the head in buf[0..len) through its blank line, 0 if it is not
 * complete yet. */
size_t pwsr__http_head_len(const char *buf, size_t len);
/* Parses a complete head of headlen bytes; 0, or -1 with a message. */
int pwsr__http_parse(const char *buf, size_t headlen, bool request, pwsr__http_head *h, char *err, size_t cap);
/* The value of a header (case-insensitive name), or NULL. */
const char *pwsr__http_get(const pwsr__http_head *h, const char *name);
/* True if a comma-separated header value holds token (case-insensitive). */
bool pwsr__http_has_token(const char *value, const char *token);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void pwsr__ws_accept(const char *key, char out[32]);
/* A fresh random Sec-WebSocket-Key (24 chars + NUL). */
void pwsr__ws_new_key(char out[32]);

/* Appends one frame.  mask NULL: unmasked (server to client).  0 or -1. */
int pwsr__ws_frame(pws_tape_buf *out, int opcode, bool fin, const unsigned char *mask, const void *payload,
                   size_t len);
/* Appends a close frame: code 0 means no payload at all; reason is cut to 123 bytes. */
int pwsr__ws_close_frame(pws_tape_buf *out, int code, const char *reason, const unsigned char *mask);

/* What the frame reader hands over: a whole data message (fragments joined)
 * or a control frame.  data is valid during the call.  too_big: a data
 * message over max_message; data is then empty and total its size. */
typedef void (*pwsr__ws_msg_fn)(void *user, int opcode, const unsigned char *data, size_t len, bool too_big,
                                uint64_t total);

/* Incremental frame reader for one direction of one connection. */
typedef struct pwsr__wsreader {
    bool want_masked;            /* frames from a client must be masked, from a server must not */
    size_t max_message;          /* bytes of a data message kept; 0 = PWS_TAPE_MAX_PAYLOAD */
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
    pws_tape_buf msg;            /* its bytes */
    unsigned char ctl[125];      /* a control frame's payload */
    size_t ctl_len;              /* bytes in ctl */
    bool dead;                   /* a protocol error happened: the reader stops */
} pwsr__wsreader;

void pwsr__ws_reader_init(pwsr__wsreader *r, bool want_masked, size_t max_message);
void pwsr__ws_reader_free(pwsr__wsreader *r);
/* Feeds bytes; calls fn per message/control frame.  0, or -1 on a protocol
 * error (message in err; the reader is dead from then on). */
int pwsr__ws_feed(pwsr__wsreader *r, const unsigned char *in, size_t len, pwsr__ws_msg_fn fn, void *user,
                  char *err, size_t errcap);

/* A ws:// or wss:// URL split into parts. */
typedef struct pwsr__url {
    bool tls;                 /* wss:// */
    char host[256];           /* host name or IP literal (no brackets) */
    int port;                 /* port, or the scheme's default */
    char hostport[300];       /* the Host header: host[:port] as written */
    char path[2048];          /* path and query, starting with '/' ("/" if none) */
} pwsr__url;

/* 0, or -1 with a message. */
int pwsr__url_parse(const char *url, pwsr__url *u, char *err, size_t cap);

#endif
