/*
 * wsclient.h - a tiny blocking WebSocket client on raw sockets (plus OpenSSL
 * for wss), for tests that must control and see every frame: a test can
 * choose not to read, send pings and watch for pongs, send fragments, read
 * the bytes the server wrote unparsed, and tell a close frame from a dropped
 * TCP connection.  Used by test_mock.c and test_engine.c against the mock
 * server on loopback.
 */
#ifndef POLYWS_TEST_WSCLIENT_H
#define POLYWS_TEST_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSC_RECV_MS 5000 /* generous: sanitizer and valgrind runs are slow */

/* wsc_recv results (and raw socket outcomes). */
enum { WSC_TIMEOUT = 0, WSC_FRAME = 1, WSC_EOF = -1, WSC_ERROR = -2 };
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

typedef struct wsc wsc;

typedef struct frame {
    int opcode;
    bool fin;
    unsigned rsv; /* the three reserved bits, 0..7 */
    char *data;   /* malloc'd, NUL-terminated */
    size_t len;
} frame;

/* CLOCK_MONOTONIC in milliseconds. */
int64_t now_ms(void);

/* Connects to 127.0.0.1:port, optionally with TLS verified against ca_file (the
 * certificate must name 127.0.0.1), and does the WebSocket handshake on path.
 * NULL on failure; *why (if why) says where. */
wsc *wsc_open(int port, bool tls, const char *ca_file, const char *path, const char **why);
/* wsc_open(port, false, NULL, "/stocks", NULL). */
wsc *wsc_connect(int port);
/* Closes the connection and frees c; NULL is fine. */
void wsc_free(wsc *c);

/* Sends one masked frame; 0 ok, -1 on a write error. */
int wsc_send_frame(wsc *c, bool fin, int opcode, const void *data, size_t len);
/* A whole (fin) frame. */
int wsc_send(wsc *c, int opcode, const void *data, size_t len);
/* A text frame formatted like printf (at most 4095 bytes). */
int wsc_send_text(wsc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A close frame with code and reason (at most 123 bytes). */
int wsc_send_close(wsc *c, int code, const char *reason);

/* One frame within timeout_ms: WSC_FRAME (f filled, free with frame_free),
 * WSC_TIMEOUT, WSC_EOF or WSC_ERROR.  f is zeroed first either way. */
int wsc_recv(wsc *c, int timeout_ms, frame *f);
/* Next frame that is not a ping (pings are answered, like any client would). */
int wsc_recv_data(wsc *c, int timeout_ms, frame *f);
void frame_free(frame *f);
/* A close frame's code (0 if none in it); copies its reason into reason (rcap
 * bytes, NUL-terminated) if reason and rcap. */
int frame_close_code(const frame *f, char *reason, size_t rcap);

/* Reads exactly n raw bytes (frames unparsed) into out; false on timeout or EOF. */
bool read_exact(wsc *c, unsigned char *out, size_t n, int timeout_ms);

/* Receives a close frame within WSC_RECV_MS (answering pings); returns its code
 * (0 if none in it) and copies its reason into reason (rcap bytes, NUL-terminated)
 * if given; -1 if something else came. */
int expect_close(wsc *c, char *reason, size_t rcap);

#endif
