/*
 * server.c - a listening server's start-up and shutdown (wire/server.h).
 */
#include "wire/server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* lws 4.1's own timeout for network round trips, used unless the handshake timeout is longer. */
#define LWS_DEFAULT_TIMEOUT_S 5u

/* The process's descriptor limit, as lws reads it (sysconf); "unlimited" counts as huge. */
static size_t process_fd_limit(void)
{
    long l = sysconf(_SC_OPEN_MAX);
    return l < 0 ? (size_t)-1 : (size_t)l;
}

static bool is_ipv4_literal(const char *host)
{
    int a, b, c, d;
    char end;
    return sscanf(host, "%d.%d.%d.%d%c", &a, &b, &c, &d, &end) == 4;
}

static void *service_main(void *arg)
{
    pws__server *sv = arg;
    while (!atomic_load(&sv->stopping))
        if (lws_service(sv->ctx, 0) < 0)
            break;
    return NULL;
}

/* The URL a local client uses: the address itself, loopback for "any" and
 * for names (an interface name is no host name). */
static void local_url(pws__server *sv, const char *host, bool tls)
{
    const char *scheme = tls ? "wss" : "ws";
    if (strchr(host, ':'))
        snprintf(sv->url, sizeof sv->url, "%s://[%s]:%d", scheme, strcmp(host, "::") ? host : "::1", sv->port);
    else
        snprintf(sv->url, sizeof sv->url, "%s://%s:%d", scheme,
                 !strcmp(host, "0.0.0.0") || !is_ipv4_literal(host) ? "127.0.0.1" : host, sv->port);
}

int pws__server_start(pws__server *sv, const pws__server_options *o, char *err, size_t errcap)
{
    const char *pre = o->err_prefix ? o->err_prefix : "";
    const char *host = o->host ? o->host : "127.0.0.1";
    bool tls = o->cert_file && o->key_file;
    memset(sv, 0, sizeof *sv);
    atomic_init(&sv->stopping, false);
    if (pws__hs_check(&o->handshake, err, errcap)) {
        char why[160];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errcap, "%s%s", pre, why);
        return -1;
    }
    pws__hs_limits hs = pws__hs_effective(&o->handshake);
    unsigned hs_timeout_s = (hs.timeout_ms + 999) / 1000;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (o->validate_utf8)
        info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (o->raw_protocol) {
        info.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
        info.listen_accept_role = "raw-skt";
        info.listen_accept_protocol = o->raw_protocol;
    }
    if (is_ipv4_literal(host))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.ssl_cert_filepath = o->cert_file;
        info.ssl_private_key_filepath = o->key_file;
    }
    /* lws 4.1 builds a client SSL_CTX for every vhost (loading the system trust
     * store) and leaks it at destroy, though these vhosts never act as TLS
     * clients through lws; a small one of ours, freed by us, avoids both. */
    sv->client_ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!sv->client_ssl_ctx) {
        snprintf(err, errcap, "%sSSL_CTX_new failed", pre);
        return -1;
    }
    info.provided_client_ssl_ctx = sv->client_ssl_ctx;
    info.user = o->user;
    info.count_threads = 1;
    /* lws' table: the process's limit if it is small enough to scan per accept and close,
     * else the owner's bound (see wire/server.h) */
    size_t process_max = process_fd_limit();
    if (process_max <= PWS__SERVER_FAST_FDS || !o->fd_limit) {
        sv->fd_max = process_max <= PWS__SERVER_FAST_FDS ? process_max : PWS__SERVER_FAST_FDS;
        info.fd_limit_per_thread = process_max <= PWS__SERVER_FAST_FDS ? 0 : PWS__SERVER_FAST_FDS;
    } else {
        sv->fd_max = o->fd_limit;
        info.fd_limit_per_thread = o->fd_limit;
    }
    /* The ws role's own clocks on an unfinished request run out after the guard's, so that
     * the guard closes and counts it: the idle header buffer's always, the TLS accept's (lws'
     * general round-trip timeout, which also bounds close handshakes) only when the handshake
     * timeout is longer than it, to leave the rest of lws' timing as it was. */
    info.timeout_secs_ah_idle = hs_timeout_s + 1;
    if (!o->raw_protocol && hs_timeout_s > LWS_DEFAULT_TIMEOUT_S)
        info.timeout_secs = hs_timeout_s + 1;
    info.pt_serv_buf_size = o->serv_buf_size;
    info.port = o->port;
    info.iface = host;
    info.protocols = o->protocols;
    info.vhost_name = o->name;
    sv->ctx = lws_create_context(&info);
    if (!sv->ctx) {
        snprintf(err, errcap, "%slws_create_context failed", pre);
        goto fail;
    }
    sv->vhost = lws_create_vhost(sv->ctx, &info);
    if (!sv->vhost) {
        snprintf(err, errcap, "%scannot listen on %s:%d%s", pre, host, o->port,
                 tls ? " (or the TLS certificate/key did not load)" : "");
        goto fail;
    }
    sv->port = lws_get_vhost_listen_port(sv->vhost);
    if (sv->port <= 0) {
        snprintf(err, errcap, "%sno listening port", pre);
        goto fail;
    }
    local_url(sv, host, tls);
    size_t budget = sv->fd_max > 2 * PWS__SERVER_FD_RESERVE ? sv->fd_max - PWS__SERVER_FD_RESERVE : sv->fd_max / 2;
    sv->guard = pws__hs_new(sv->ctx, &hs, budget, o->fds_per_open);
    sv->linger = pws__linger_new(sv->ctx);
    if (!sv->guard || !sv->linger) {
        snprintf(err, errcap, "%sout of memory", pre);
        goto fail;
    }
    int rc = pthread_create(&sv->thread, NULL, service_main, sv);
    if (rc) {
        snprintf(err, errcap, "%spthread_create: %s", pre, strerror(rc));
        goto fail;
    }
    sv->thread_started = true;
    return 0;
fail:
    pws__server_stop(sv);
    return -1;
}

bool pws__server_stopping(pws__server *sv)
{
    return atomic_load(&sv->stopping);
}

void pws__server_stop(pws__server *sv)
{
    atomic_store(&sv->stopping, true);
    if (sv->thread_started) {
        lws_cancel_service(sv->ctx); /* the one lws call allowed from another thread */
        pthread_join(sv->thread, NULL);
        sv->thread_started = false;
    }
    pws__hs_quiesce(sv->guard); /* its timers live in the context's lists */
    pws__linger_quiesce(sv->linger);
    if (sv->ctx)
        lws_context_destroy(sv->ctx);
    sv->ctx = NULL;
    pws__hs_free(sv->guard); /* after the close callbacks that reported to it */
    sv->guard = NULL;
    pws__linger_free(sv->linger); /* closes what still lingers */
    sv->linger = NULL;
    sv->vhost = NULL;
    if (sv->client_ssl_ctx)
        SSL_CTX_free(sv->client_ssl_ctx);
    sv->client_ssl_ctx = NULL;
}
