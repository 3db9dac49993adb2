/*
 * proxy_detached.h - the recording proxy's upstream path without sockets
 * (proxy.c), for the fuzz target tests/fuzz/fuzz_proxy.c; not installed.
 *
 * A detached proxy is what pwsr_proxy_start builds (options, redaction rules,
 * the tape with its header, learned secrets) but never listens: it has no lws
 * context and no thread, and holds at most one connection pair, whose client
 * and upstream sides have no socket.  The caller plays the upstream: the bytes
 * it feeds go through the same code as the upstream socket's RAW_RX (TLS
 * aside: the upstream must be ws://): the upgrade response head is collected
 * and checked, then every frame is read, redacted and written to the tape,
 * as the proxy records a real session.  With no client socket nothing is
 * forwarded to the client, apart from the answer to its upgrade, which stays
 * queued (pwsr__proxy_detached_to_client).  Free with pwsr_proxy_stop, which
 * closes the tape.  One thread.
 */
#ifndef PWSR_PROXY_DETACHED_H
#define PWSR_PROXY_DETACHED_H

#include <polyws/replay.h>

#include <stddef.h>

/** A proxy built from opts that listens nowhere (upstream must be ws://).  NULL with a
 * message on failure, as pwsr_proxy_start. */
pwsr_proxy *pwsr__proxy_detached(const pwsr_proxy_options *opts, char *errbuf, size_t errcap);
/** Opens the pair as a client's upgrade request would (request: its head, then any early
 * frames): the open event goes on the tape and the proxy's own upgrade request goes
 * "upstream", where accept_up gets the Sec-WebSocket-Accept it expects back.  0, or -1 if
 * the request was refused (its error is on the tape if it had an ordinal) or a pair is
 * open already. */
int pwsr__proxy_detached_open(pwsr_proxy *px, const void *request, size_t len, char accept_up[32]);
/** Feeds bytes as the upstream socket received them.  Returns what the socket's callback
 * returns: 0, or -1 where the proxy would close the upstream socket (-1 also without a
 * pair). */
int pwsr__proxy_detached_upstream(pwsr_proxy *px, const void *data, size_t len);
/** The bytes queued toward the client (the answer to its upgrade request) while the pair is
 * open, *data pointing at them until the next call; 0 if none. */
size_t pwsr__proxy_detached_to_client(pwsr_proxy *px, const char **data);
/** The upstream socket ends: the pair's end goes on the tape and the pair is freed. */
void pwsr__proxy_detached_close(pwsr_proxy *px);

#endif
