/*
 * wire/linger.h - a server's lingering close: the end of a connection that
 * must reach the peer whole, FIN after the last byte (Apache's
 * lingering_close, RFC 7230 6.6).
 *
 * A socket closed while the peer's bytes sit unread in it (a ping, a pong,
 * a TLS record), or that gets bytes after it was closed, answers with a
 * reset, and a reset throws away what the kernel still holds to send: when
 * the peer reads slowly (a client whose queue is full holds its reads), that
 * is most of what was written before the end.  So a server that ends a
 * connection on purpose without a close handshake (the mock's `drop`)
 * hands its descriptor here before lws closes it: the lingerer keeps a
 * duplicate, shuts down its writing side (the FIN goes after the data), and
 * reads and discards what comes until the peer closes too, an error, or
 * PWS__LINGER_MAX_US; then closes it.  At most PWS__LINGER_MAX sockets linger
 * at once; one more is only shut down, then closed by lws.
 *
 * Threads: the service thread only; pws__linger_quiesce after it ended.
 */
#ifndef PWS_WIRE_LINGER_H
#define PWS_WIRE_LINGER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define PWS__LINGER_MAX 256u              /* sockets lingering at once */
#define PWS__LINGER_MAX_US (30 * 1000000) /* how long one lingers at most waiting for the peer's end */
#define PWS__LINGER_POLL_US (10 * 1000)   /* how often lingering sockets are read */

typedef struct pws__linger pws__linger;

/* A lingerer for the server of ctx; NULL without memory. */
pws__linger *pws__linger_new(struct lws_context *ctx);
/* Ends the connection on socket fd gracefully: writing is shut down now (a FIN after what was
 * written), the socket is read until the peer ends too, then closed.  The caller still closes
 * fd itself (lws does, as the connection closes); the lingerer holds its own duplicate.
 * Returns true if it lingers, false if it could not (no descriptor, PWS__LINGER_MAX reached):
 * writing is shut down either way. */
bool pws__linger_add(pws__linger *l, int fd);
/* Cancels the timer (the service thread has ended): call before the context is destroyed. */
void pws__linger_quiesce(pws__linger *l);
/* Closes what still lingers and frees l.  NULL is fine. */
void pws__linger_free(pws__linger *l);

#endif
