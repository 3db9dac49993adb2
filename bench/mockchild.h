/*
 * mockchild.h - the mock server (libpwsmock) in a forked child process, for
 * the benches that measure it from outside: e2e_bench and idle_bench.
 *
 * mockchild_start() forks; call it before any thread exists, so the child
 * inherits none.  The child asks for SIGKILL when the parent dies
 * (PR_SET_PDEATHSIG), keeps libwebsockets' log to errors, calls pwsm_start()
 * with the caller's options, reports "PORT URL" (or "E message") on a ready
 * pipe and serves until its control pipe closes; then it stops the server and
 * exits.  The parent waits for the report and registers mockchild_stop() with
 * atexit, so an exit() anywhere still stops the child.  One child per process.
 *
 * Also the few helpers both benches share: a monotonic clock, a sleep, and
 * sending on a raw client socket (whole buffers, masked text frames).
 */
#ifndef PWSB_MOCKCHILD_H
#define PWSB_MOCKCHILD_H

#include <polyws/mock.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BENCH_WS_TEXT_MAX 8192 /* longest message bench_ws_send_text() sends */

/* Forks the mock with `opts` and waits (up to 10 s) until it listens; returns
 * its port.  If it cannot, prints "`who`: why" on stderr and exits 1 (the
 * child, if any, is reaped at exit).  mockchild_stop() waits exit_ms for the
 * child to stop before it kills it, and says so after the same prefix.  Call
 * it once. */
int mockchild_start(const pwsm_options *opts, const char *who, int exit_ms);
/* The child's pid (for its /proc files), or -1 once it is reaped. */
pid_t mockchild_pid(void);
/* pwsm_url() of the child's server, "ws://127.0.0.1:PORT" (no path). */
const char *mockchild_url(void);
/* Closes the control pipe and reaps the child, killing it if it does not stop
 * in exit_ms.  Idempotent; also runs at exit. */
void mockchild_stop(void);

/* Monotonic clock, in seconds. */
double bench_now_s(void);
/* Sleeps ms milliseconds (resumed after signals). */
void bench_sleep_ms(unsigned ms);
/* Sends all n bytes (no SIGPIPE); false on error or timeout. */
bool bench_send_all(int fd, const void *p, size_t n);
/* Sends msg as one masked text frame (clients must mask, RFC 6455 5.3); false
 * if it is over BENCH_WS_TEXT_MAX bytes or the send fails. */
bool bench_ws_send_text(int fd, const char *msg);

#endif
