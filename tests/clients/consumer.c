/*
 * consumer.c - a program built outside the tree against an installed libpolyws
 * (tests/integration/install_test.sh builds it with pkg-config, with the
 * static archive and with find_package), using only the public headers.
 *
 *   consumer URL CHANNELS COUNT      (the API key in $CONSUMER_API_KEY)
 *
 * It checks that the library it runs with is the one its header describes
 * (pws_version() against PWS_VERSION_STRING) and that pws_strerror() answers,
 * then connects to URL, subscribes, stops after COUNT market-data events and
 * destroys the connector.  On success it prints, on stdout only:
 *
 *   version 0.1.0
 *   strerror PWS_ERR_AUTH: authentication failed
 *   events COUNT
 *
 * and exits 0.  It sets no log callback and no log level: the library must
 * then write nothing on stderr (the test checks the file is empty), and this
 * program writes there only when something fails, with exit 1 (2: usage).
 */
#include <polyws/polyws.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the event callback shares with main(). */
typedef struct consumer {
    pws_connector *c;       /* stopped from the callback once `want` events came */
    atomic_long seen;       /* market-data events delivered */
    long want;              /* COUNT */
} consumer;

static void on_event(const pws_event *ev, void *user)
{
    consumer *k = user;
    if (ev->type != PWS_EV_AGG && ev->type != PWS_EV_TRADE && ev->type != PWS_EV_QUOTE)
        return;
    if (atomic_fetch_add(&k->seen, 1) + 1 == k->want)
        pws_stop(k->c); /* allowed from a callback; returns at once */
}

int main(int argc, char **argv)
{
    if (argc != 4 || atol(argv[3]) <= 0) {
        fprintf(stderr, "usage: consumer URL CHANNELS COUNT   (key in $CONSUMER_API_KEY)\n");
        return 2;
    }
    if (strcmp(pws_version(), PWS_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: built with polyws.h %s, runs with libpolyws %s\n",
                PWS_VERSION_STRING, pws_version());
        return 1;
    }
    printf("version %s\n", pws_version());
    printf("strerror PWS_ERR_AUTH: %s\n", pws_strerror(PWS_ERR_AUTH));

    consumer k = {.want = atol(argv[3])};
    atomic_init(&k.seen, 0);
    pws_options o = {0};
    o.url = argv[1];
    o.api_key_env = "CONSUMER_API_KEY";
    o.on_event = on_event;
    o.user = &k;
    o.backoff.max_attempts = 3; /* a mock that is gone is a failure, not a wait */
    char err[256];
    if (pws_create(&o, &k.c, err, sizeof err) != PWS_OK) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    int rc = pws_subscribe(k.c, argv[2]);
    if (rc == PWS_OK)
        rc = pws_run(k.c); /* until the callback's pws_stop(), or a fatal error */
    if (rc != PWS_OK)
        fprintf(stderr, "consumer: %s: %s\n", pws_strerror(rc), pws_last_error(k.c));
    pws_destroy(k.c);
    long seen = atomic_load(&k.seen);
    if (rc == PWS_OK && seen < k.want) {
        fprintf(stderr, "consumer: stopped after %ld of %ld events\n", seen, k.want);
        rc = PWS_ERR_STATE;
    }
    if (rc == PWS_OK)
        printf("events %ld\n", k.want);
    return rc == PWS_OK ? 0 : 1;
}
