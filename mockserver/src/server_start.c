/*
 * server_start.c - the mock's listener: lws context, vhost, protocols table, TLS
 * certificate, port and URL (see server.h).
 *
 * The certificate and the protocols table are the mock's; the context, vhost,
 * port, URL and service thread come from the start-up the mock shares with the
 * proxy and the replayer (wire/server.h), into s->sv.  The protocol it serves
 * is the connection's (conn.h); the context's user is the server.
 */
#include "server.h"

#include <stdio.h>
#include <string.h>

int pwsm__server_listen(pwsm_server *s, char *errbuf, size_t errcap)
{
    if (s->o.tls) {
        if (!s->o.cert_file) {
            if (pwsm__selfsigned_create(&s->ss, errbuf, errcap) != 0)
                return -1;
            s->o.cert_file = s->ss.cert;
            s->o.key_file = s->ss.key;
        }
        s->ca_file = s->o.cert_file;
    }

    s->protocols[0] = (struct lws_protocols){
        .name = "polyws-mock",
        .callback = pwsm__conn_callback,
        .per_session_data_size = pwsm__conn_size,
        .rx_buffer_size = 0,
        .tx_packet_size = PWS__SERVER_TX_PACKET,
    };

    pws__server_options so = {.name = "pwsmock", .host = s->o.host, .port = s->o.port, .protocols = s->protocols,
                              .user = s, .validate_utf8 = true,
                              .fd_limit = s->o.max_connections + s->o.max_pending + PWS__SERVER_FD_RESERVE,
                              .handshake = {.timeout_ms = s->o.handshake_timeout_ms,
                                            .max_pending = s->o.max_pending,
                                            .max_per_address = s->o.max_per_address}};
    if (s->o.tls) {
        so.cert_file = s->o.cert_file;
        so.key_file = s->o.key_file;
    }
    /* the context, the vhost, the port, the URL, and the service thread (callbacks may run now) */
    if (pws__server_start(&s->sv, &so, errbuf, errcap) != 0)
        return -1;
    /* the journal file's header: where clients reach us and since when (before anyone learns the URL) */
    pwsm__journal_header(&s->journal, s->sv.url, (unsigned)s->secrets.nkeys);
    return 0;
}

void pwsm__server_close(pwsm_server *s)
{
    pws__server_stop(&s->sv); /* joins the service thread; destroying the context journals live closes */
    pwsm__selfsigned_remove(&s->ss);
}
