/*
 * client.c - the connector's public API: options and pws_create, channels,
 * statistics, and the two threads (the network loop, which session.c runs,
 * and the delivery thread).  See session.h for how the parts fit.
 */
#include "session.h"

#include "wire/wsproto.h" /* pws__url_error */

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits ws[s]://host[:port][/path] into parts.  Writes a reason to err. */
static int parse_url(pws__endpoint *ep, const char *url, char *err, size_t errcap)
{
    const char *p;
    if (strncmp(url, "wss://", 6) == 0) {
        ep->tls = true;
        p = url + 6;
        ep->port = 443;
    } else if (strncmp(url, "ws://", 5) == 0) {
        ep->tls = false;
        p = url + 5;
        ep->port = 80;
    } else {
        pws__url_error(err, errcap, "URL must start with ws:// or wss://", url);
        return PWS_ERR_URL;
    }
    const char *host_end;
    const char *host_start = p;
    if (*p == '[') { /* IPv6 literal */
        host_start = p + 1;
        host_end = strchr(p, ']');
        if (!host_end) {
            pws__url_error(err, errcap, "URL has an unterminated IPv6 address", url);
            return PWS_ERR_URL;
        }
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - host_start);
    if (hl == 0 || hl >= sizeof ep->host) {
        pws__url_error(err, errcap, hl ? "URL has a too long host" : "URL has no host", url);
        return PWS_ERR_URL;
    }
    memcpy(ep->host, host_start, hl);
    ep->host[hl] = '\0';
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/' && *end != '?')) {
            pws__url_error(err, errcap, "URL has an invalid port", url);
            return PWS_ERR_URL;
        }
        ep->port = (int)port;
        p = end;
    }
    if (*p == '#' || (*p && *p != '/' && *p != '?')) {
        pws__url_error(err, errcap, "URL is malformed after the host", url);
        return PWS_ERR_URL;
    }
    int n = snprintf(ep->path, sizeof ep->path, "%s%s", *p == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= sizeof ep->path) {
        snprintf(err, errcap, "URL path is longer than %zu bytes", sizeof ep->path - 1);
        return PWS_ERR_URL;
    }
    bool default_port = ep->port == (ep->tls ? 443 : 80);
    bool v6 = strchr(ep->host, ':') != NULL;
    if (default_port)
        snprintf(ep->host_header, sizeof ep->host_header, v6 ? "[%s]" : "%s", ep->host);
    else
        snprintf(ep->host_header, sizeof ep->host_header, v6 ? "[%s]:%d" : "%s:%d", ep->host, ep->port);
    return PWS_OK;
}

/* Channel names go into JSON strings verbatim and are joined with commas. */
static bool channel_ok(const char *s, size_t n)
{
    if (n == 0 || n > PWS_MAX_CHANNEL_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == ',' || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

/* Linear search: O(n) per change, fine for the thousands of channels a
 * connection carries; PWS_MAX_CHANNELS bounds the worst case. */
static ssize_t channel_find(pws_connector *c, const char *name)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (strcmp(c->channels[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Applies a comma-separated list to the desired set and queues commands.
 * Validates everything before changing anything. */
static int channels_change(pws_connector *c, const char *list, bool subscribe)
{
    if (!c || !list)
        return PWS_ERR_INVALID;
    /* validate first: a bad name rejects the whole call */
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (!channel_ok(p, n)) {
            pws__last_error_set(&c->err, "invalid channel name \"%.*s\" (1-%u printable bytes, no spaces, quotes or commas)",
                                (int)(n > 80 ? 80 : n), p, PWS_MAX_CHANNEL_LEN);
            return PWS_ERR_INVALID;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    int rc = PWS_OK;
    pthread_mutex_lock(&c->mu);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        char name[PWS_MAX_CHANNEL_LEN + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        if (*p == ',')
            p++;
        ssize_t at = channel_find(c, name);
        if (subscribe && at >= 0)
            continue;
        if (!subscribe && at < 0)
            continue;
        if (subscribe) {
            if (c->nchannels >= PWS_MAX_CHANNELS) {
                rc = PWS_ERR_LIMIT;
                break;
            }
            if (c->nchannels == c->channels_cap) {
                size_t cap = c->channels_cap ? c->channels_cap * 2 : 16;
                char **nc = realloc(c->channels, cap * sizeof *nc);
                if (!nc) {
                    rc = PWS_ERR_NOMEM;
                    break;
                }
                c->channels = nc;
                c->channels_cap = cap;
            }
            char *dup = strdup(name);
            if (!dup) {
                rc = PWS_ERR_NOMEM;
                break;
            }
            c->channels[c->nchannels++] = dup;
        } else {
            free(c->channels[at]);
            c->channels[at] = c->channels[--c->nchannels];
        }
        chan_cmd *cmd = malloc(sizeof *cmd + n + 1);
        if (!cmd) {
            rc = PWS_ERR_NOMEM;
            break;
        }
        cmd->next = NULL;
        cmd->subscribe = subscribe;
        memcpy(cmd->name, name, n + 1);
        if (c->cmds_tail)
            c->cmds_tail->next = cmd;
        else
            c->cmds = cmd;
        c->cmds_tail = cmd;
    }
    __atomic_store_n(&c->st_counters.channels, (uint32_t)c->nchannels, __ATOMIC_RELAXED);
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
    if (rc == PWS_ERR_LIMIT)
        pws__last_error_set(&c->err, "more than %u channels", PWS_MAX_CHANNELS);
    return rc;
}

int pws_subscribe(pws_connector *c, const char *channels)
{
    return channels_change(c, channels, true);
}

int pws_unsubscribe(pws_connector *c, const char *channels)
{
    return channels_change(c, channels, false);
}

/* Queue callback (delivery thread): room again after a refusal. */
static void on_queue_space(void *user)
{
    pws_connector *c = user;
    pthread_mutex_lock(&c->mu);
    c->space_ready = true;
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
}

static void *deliver_main(void *arg)
{
    pws_connector *c = arg;
    size_t max = c->o.batch_max;
    pws_event one;
    pws_event *buf = malloc(max * sizeof *buf);
    if (!buf) {
        pws__log(&c->lg, PWS_LOG_ERROR, "out of memory for the delivery buffer: one event at a time");
        max = 1;
        buf = &one;
    }
    for (;;) {
        size_t n = pws__queue_pop(&c->q, buf, max, -1);
        if (n == 0)
            break;
        if (c->o.on_batch)
            c->o.on_batch(buf, n, c->o.user);
        else if (c->o.on_event)
            for (size_t i = 0; i < n; i++)
                c->o.on_event(&buf[i], c->o.user);
        if (c->table)
            for (size_t i = 0; i < n; i++)
                if (pws_table_apply(c->table, &buf[i]) == PWS_ERR_LIMIT)
                    pws__log(&c->lg, PWS_LOG_WARN, "keyed table full (%zu rows): %s not kept",
                             c->o.table_max_rows, pws_event_symbol(&buf[i]));
        STAT_ADD(c, delivered, n);
    }
    if (buf != &one)
        free(buf);
    return NULL;
}

/* Runs the network loop to the end; then the queue is closed. */
static void net_main(pws_connector *c)
{
    pws__session_run(c);
    pws__queue_close(&c->q);
}

/* Marks the connector started (once) and starts the delivery thread. */
static int begin(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    pthread_mutex_lock(&c->mu);
    bool was = c->started;
    c->started = true;
    pthread_mutex_unlock(&c->mu);
    if (was)
        return PWS_ERR_STATE;
    if (pthread_create(&c->deliver_thread, NULL, deliver_main, c) != 0) {
        pws__last_error_set(&c->err, "cannot start the delivery thread");
        return PWS_ERR_SYSTEM;
    }
    return PWS_OK;
}

/* The network loop to its end, then the delivery thread's. */
static void run_to_end(pws_connector *c)
{
    net_main(c);
    pthread_join(c->deliver_thread, NULL);
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_mutex_unlock(&c->mu);
}

int pws_run(pws_connector *c)
{
    int rc = begin(c);
    if (rc)
        return rc;
    run_to_end(c);
    return c->result;
}

static void *net_thread_main(void *arg)
{
    run_to_end(arg);
    return NULL;
}

bool pws_finished(pws_connector *c)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    bool f = c->finished;
    pthread_mutex_unlock(&c->mu);
    return f;
}

int pws_start(pws_connector *c)
{
    int rc = begin(c);
    if (rc)
        return rc;
    if (pthread_create(&c->net_thread, NULL, net_thread_main, c) != 0) {
        pws__queue_close(&c->q);
        pthread_join(c->deliver_thread, NULL);
        pws__last_error_set(&c->err, "cannot start the network thread");
        return PWS_ERR_SYSTEM;
    }
    c->net_thread_running = true;
    return PWS_OK;
}

int pws_stop(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    pthread_mutex_lock(&c->mu);
    c->stop_requested = true;
    if (c->ctx)
        lws_cancel_service(c->ctx);
    pthread_mutex_unlock(&c->mu);
    return PWS_OK;
}

int pws_wait(pws_connector *c)
{
    if (!c)
        return PWS_ERR_INVALID;
    if (!c->net_thread_running)
        return pws_finished(c) ? c->result : PWS_ERR_STATE;
    pthread_join(c->net_thread, NULL);
    c->net_thread_running = false;
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_mutex_unlock(&c->mu);
    return c->result;
}

static int fail(char *errbuf, size_t errcap, int rc, const char *fmt, ...) PWS__PRINTF(4, 5);

static int fail(char *errbuf, size_t errcap, int rc, const char *fmt, ...)
{
    if (errbuf && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int pws_create(const pws_options *opts, pws_connector **out, char *errbuf, size_t errcap)
{
    if (out)
        *out = NULL;
    if (!opts || !out)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "options and output pointer are required");
    if (!opts->url || !*opts->url)
        return fail(errbuf, errcap, PWS_ERR_URL, "no URL given");
    if (strlen(opts->url) > PWS__MAX_URL)
        return fail(errbuf, errcap, PWS_ERR_URL, "URL longer than %u bytes", PWS__MAX_URL);
    if (opts->on_event && opts->on_batch)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "set on_event or on_batch, not both");
    if ((unsigned)opts->overflow > PWS_OVERFLOW_DISCONNECT)
        return fail(errbuf, errcap, PWS_ERR_INVALID, "unknown overflow policy %d", (int)opts->overflow);

    pws_connector *c = calloc(1, sizeof *c);
    if (!c)
        return fail(errbuf, errcap, PWS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pws__last_error_init(&c->err, &c->secrets);
    c->o = *opts;
    char err[512] = "";
    int rc = parse_url(&c->tr.ep, opts->url, err, sizeof err);
    if (rc)
        goto bad;
    c->url = strdup(opts->url);
    if (!c->url) {
        rc = PWS_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto bad;
    }
    c->o.url = c->url;

    /* the key */
    if (opts->api_key) {
        size_t n = strlen(opts->api_key);
        if (n == 0 || n > PWS_MAX_KEY_LEN) {
            rc = PWS_ERR_KEY;
            snprintf(err, sizeof err, "API key is %s", n ? "longer than 256 bytes" : "empty");
            goto bad;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)opts->api_key[i];
            if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
                rc = PWS_ERR_KEY;
                snprintf(err, sizeof err, "API key holds characters a key cannot have");
                goto bad;
            }
        }
        memcpy(c->key, opts->api_key, n + 1);
    } else {
        rc = pws_load_key(opts->api_key_env, opts->api_key_file, c->key, sizeof c->key, err,
                          sizeof err);
        if (rc)
            goto bad;
    }
    c->o.api_key = NULL; /* never keep the caller's pointer */
    if (pws__secrets_add(&c->secrets, c->key) < 0) {
        rc = PWS_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto bad;
    }

    if (opts->ca_file) {
        FILE *f = fopen(opts->ca_file, "r");
        if (!f) {
            rc = PWS_ERR_TLS;
            snprintf(err, sizeof err, "cannot read CA file %.400s", opts->ca_file);
            goto bad;
        }
        fclose(f);
        c->ca_file = strdup(opts->ca_file);
        if (!c->ca_file) {
            rc = PWS_ERR_NOMEM;
            goto bad;
        }
        c->o.ca_file = c->ca_file;
    }

    c->ad = opts->adapter ? opts->adapter : pws_polygon_adapter();
    if (!c->ad->build_auth || !c->ad->build_subscription || !c->ad->parse) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "adapter %s lacks a required hook", c->ad->name ? c->ad->name : "?");
        goto bad;
    }
    c->o.adapter = c->ad;

    /* defaults */
    pws_options *o = &c->o;
    if (!o->connect_timeout_ms) o->connect_timeout_ms = 10000;
    if (!o->auth_timeout_ms) o->auth_timeout_ms = 10000;
    if (!o->ping_interval_ms) o->ping_interval_ms = 20000;
    if (!o->pong_timeout_ms) o->pong_timeout_ms = 20000;
    if (o->actions_per_sec < 0 || o->actions_per_sec > 1e6) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "actions_per_sec must be in 0..1000000");
        goto bad;
    }
    if (o->actions_per_sec == 0) o->actions_per_sec = 5;
    if (!o->action_burst) o->action_burst = 10;
    if (!o->max_action_bytes) o->max_action_bytes = PWS_DEFAULT_MAX_ACTION_BYTES;
    if (o->max_action_bytes < 64 || o->max_action_bytes > 1048576) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "max_action_bytes must be in 64..1048576");
        goto bad;
    }
    if (!o->queue_capacity) o->queue_capacity = PWS_DEFAULT_QUEUE_CAPACITY;
    if (o->queue_capacity > PWS__QUEUE_MAX_CAPACITY) {
        rc = PWS_ERR_LIMIT;
        snprintf(err, sizeof err, "queue_capacity %zu is above the limit of %u events",
                 o->queue_capacity, (unsigned)PWS__QUEUE_MAX_CAPACITY);
        goto bad;
    }
    if (!o->batch_max) o->batch_max = PWS_DEFAULT_BATCH_MAX;
    if (o->batch_max > 65536) o->batch_max = 65536;
    if (!o->limits.max_frame_bytes) o->limits.max_frame_bytes = PWS_DEFAULT_MAX_FRAME_BYTES;
    if (o->limits.max_frame_bytes > PWS__WS_MAX_MESSAGE) {
        rc = PWS_ERR_LIMIT;
        snprintf(err, sizeof err, "limits.max_frame_bytes %zu is above the limit of %u bytes (64 MiB)",
                 o->limits.max_frame_bytes, PWS__WS_MAX_MESSAGE);
        goto bad;
    }
    if (!o->limits.max_depth) o->limits.max_depth = PWS_DEFAULT_MAX_DEPTH;
    if (!o->table_max_rows) o->table_max_rows = PWS_DEFAULT_TABLE_MAX_ROWS;
    /* Quiet unless asked (polyws.h, "Logging"): with neither log_fn nor
     * log_level the level stays PWS_LOG_DEFAULT, which lets nothing through. */
    if (o->log_level == PWS_LOG_DEFAULT && o->log_fn) o->log_level = PWS_LOG_WARN;
    if (pws__backoff_resolve(&o->backoff) != PWS_OK) {
        rc = PWS_ERR_INVALID;
        snprintf(err, sizeof err, "invalid backoff options (factor >= 1, jitter <= 1, base <= cap)");
        goto bad;
    }
    pws__backoff_init(&c->bo, &o->backoff, (uint64_t)pws_now_us() ^ (uint64_t)(uintptr_t)c);

    c->lg.fn = o->log_fn;
    c->lg.user = o->log_user;
    c->lg.level = o->log_level;
    c->lg.secrets = &c->secrets;

    if (o->on_change) {
        pws_table_options to = {.key = o->table_key, .max_rows = o->table_max_rows,
                                .on_change = o->on_change, .user = o->table_user};
        rc = pws_table_create(&to, &c->table);
        if (rc) {
            snprintf(err, sizeof err, "cannot create the keyed table");
            goto bad;
        }
    }
    rc = pws__queue_init(&c->q, o->queue_capacity, o->overflow, on_queue_space, c);
    if (rc) {
        snprintf(err, sizeof err, "cannot create the delivery queue (%zu events): %s",
                 o->queue_capacity, pws_strerror(rc));
        pws_table_destroy(c->table);
        c->table = NULL;
        goto bad;
    }
    c->st_counters.last_message_age_ms = -1;
    if (c->tr.ep.tls && o->tls_insecure)
        pws__log(&c->lg, PWS_LOG_WARN,
                 "TLS certificate verification is OFF for %s: anyone on the path can read and "
                 "change the stream", c->url);
    *out = c;
    return PWS_OK;
bad:
    OPENSSL_cleanse(c->key, sizeof c->key);
    pws__secrets_free(&c->secrets);
    free(c->url);
    free(c->ca_file);
    pws__last_error_destroy(&c->err);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return fail(errbuf, errcap, rc, "%s", err[0] ? err : pws_strerror(rc));
}

void pws_destroy(pws_connector *c)
{
    if (!c)
        return;
    if (c->net_thread_running) {
        pws_stop(c);
        pws_wait(c);
    }
    pws__queue_free(&c->q);
    pws_table_destroy(c->table);
    pws__session_free(c);
    while (c->cmds) {
        chan_cmd *n = c->cmds->next;
        free(c->cmds);
        c->cmds = n;
    }
    for (size_t i = 0; i < c->nchannels; i++)
        free(c->channels[i]);
    free(c->channels);
    free(c->url);
    free(c->ca_file);
    OPENSSL_cleanse(c->key, sizeof c->key);
    pws__secrets_free(&c->secrets);
    pws__last_error_destroy(&c->err);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

#define LOAD(f) out->f = __atomic_load_n(&c->st_counters.f, __ATOMIC_RELAXED)

void pws_get_stats(pws_connector *c, pws_stats *out)
{
    if (!c || !out)
        return;
    memset(out, 0, sizeof *out);
    LOAD(frames);
    LOAD(bytes);
    for (int i = 0; i < PWS_EV__COUNT; i++)
        out->events[i] = __atomic_load_n(&c->st_counters.events[i], __ATOMIC_RELAXED);
    LOAD(parse_errors);
    LOAD(connects);
    LOAD(reconnects);
    LOAD(delivered);
    LOAD(actions_sent);
    LOAD(channels);
    LOAD(rx_paused);
    uint64_t own_drops = __atomic_load_n(&c->st_counters.dropped, __ATOMIC_RELAXED);
    uint64_t q_drops = 0;
    pws__queue_stats(&c->q, &out->queue_len, &out->queue_high_water, &q_drops);
    out->dropped = own_drops + q_drops;
    int64_t last = __atomic_load_n(&c->last_frame_wall_us, __ATOMIC_RELAXED);
    out->last_message_age_ms = last ? (pws__mono_us() - last) / 1000 : -1;
}

const char *pws_last_error(pws_connector *c)
{
    /* the buffer never moves; a concurrent writer can at worst give a torn
     * but NUL-terminated message, which the header allows */
    return c ? c->err.text : "";
}
