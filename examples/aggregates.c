/*
 * aggregates.c - the smallest useful libpolyws program.
 *
 * Connects, subscribes to per-second aggregates and prints every change of
 * the keyed table (latest aggregate per symbol): an update arrives as the
 * retraction of the old row followed by the addition of the new one.
 *
 *   POLYGON_API_KEY=... ./aggregates wss://socket.polygon.io/stocks A.AAPL,A.MSFT
 *
 * Uses only the public header.  Stops after 20 table additions or Ctrl-C.
 */
#include <polyws/polyws.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pws_connector *conn;
static int additions;

static void on_change(const char *key, const pws_event *row, int64_t time, bool is_addition,
                      void *user)
{
    const pws_agg *a = &row->u.agg;
    printf("%s %-6s t=%lld close=%.4f volume=%lld\n", is_addition ? "+" : "-", key,
           (long long)time, a->c, (long long)a->v);
    fflush(stdout);
    if (is_addition && ++additions == 20)
        pws_stop(conn); /* safe from a callback */
}

static void on_event(const pws_event *ev, void *user)
{
    if (ev->type == PWS_EV_CONNECTION && ev->u.conn.state == PWS_CONN_FATAL)
        fprintf(stderr, "fatal: %s\n", ev->u.conn.reason);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1; /* pws_stop() takes a lock: not for signal handlers */
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL CHANNELS   (API key in $POLYGON_API_KEY)\n", argv[0]);
        return 2;
    }
    pws_options o = {0};
    o.url = argv[1];
    o.api_key_env = "POLYGON_API_KEY";
    o.ca_file = getenv("POLYWS_CA_FILE"); /* NULL: the system store */
    o.on_event = on_event;
    o.on_change = on_change; /* keep a keyed table: latest aggregate per symbol */
    char err[256];
    if (pws_create(&o, &conn, err, sizeof err) != PWS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (pws_subscribe(conn, argv[2]) != PWS_OK) {
        fprintf(stderr, "%s\n", pws_last_error(conn));
        pws_destroy(conn);
        return 2;
    }
    signal(SIGINT, on_sigint);
    if (pws_start(conn) != PWS_OK) { /* network loop in a library thread */
        fprintf(stderr, "%s\n", pws_last_error(conn));
        pws_destroy(conn);
        return 1;
    }
    pws_stats st;
    do { /* wait for Ctrl-C, or for the loop to end by itself */
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        pws_get_stats(conn, &st);
    } while (!interrupted && !pws_finished(conn));
    pws_stop(conn);
    int rc = pws_wait(conn);
    pws_destroy(conn);
    return rc == PWS_OK ? 0 : 1;
}
