/*
 * record.c - `polyws record`: record WebSocket sessions on a tape.
 *
 * Proxy mode (--upstream): clients connect to us as if we were the service;
 * every frame both ways is forwarded and recorded.  Direct mode (--url): our
 * own connector records its session, through the same proxy started
 * internally on loopback, so both modes write the same kind of tape.
 */
#include "commands.h"
#include "progress.h"
#include "wire/clock.h"

#include <polyws/polyws.h>
#include <polyws/replay.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_LINE_MAX 65536   /* bytes of one --jsonl line */
#define RECORD_TICK_MS 100      /* main loop period */
#define RECORD_DRAIN_MS 3000    /* direct mode: wait for the close handshake to be recorded */

static volatile sig_atomic_t record_signal;
static pws_cli_meter record_meter; /* the progress line (on a terminal): log lines erase it first */
static pws_cli_hs_report record_hs_report; /* the last "handshakes:" line */

static void record_on_signal(int sig)
{
    record_signal = sig;
}

static void record_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws record --upstream URL [--listen HOST:PORT] -o TAPE [options]   (proxy)\n"
            "       polyws record --url URL --subscribe LIST -o TAPE [options]           (direct)\n"
            "\n"
            "Records WebSocket sessions on a tape (JSON Lines; see docs/tapes.md).  API keys\n"
            "are redacted before anything touches the disk.\n"
            "\n"
            "Proxy mode: clients connect to --listen as if it were the service; each gets its\n"
            "own upstream connection; every frame both ways (pings and closes included) is\n"
            "forwarded and recorded.  The first line on stdout is \"listening ws://HOST:PORT\".\n"
            "Before it listens the recorder connects to the upstream once (TCP, and the TLS\n"
            "handshake for wss://, within 10 s): an upstream it cannot reach is an error at\n"
            "start-up, and so is one that --max-retries + 1 client sessions in a row cannot\n"
            "reach later (each of them got HTTP 502).\n"
            "      --upstream URL       ws:// or wss:// URL of the service\n"
            "      --listen HOST:PORT   where clients connect (default 127.0.0.1:0, any free port)\n"
            "      --port-file FILE     also write the listening line to FILE\n"
            "      --max-clients N      concurrent clients past their upgrade request (default 64;\n"
            "                           one more gets HTTP 503); clients still sending it do not\n"
            "                           count: see --max-pending\n"
            "%s"
            "\n"
            "Direct mode: our own connector connects, authenticates, subscribes and is recorded.\n"
            "      --url URL            ws:// or wss:// URL (default: $POLYWS_URL)\n"
            "  -s, --subscribe LIST     channels, e.g. A.AAPL,T.MSFT (repeatable; default: $POLYWS_SUBSCRIBE)\n"
            "      --key-env VAR        read the API key from $VAR (default: POLYWS_API_KEY)\n"
            "      --key-file FILE      read the API key from the first line of FILE\n"
            "  -n, --count N            stop after N market-data events\n"
            "      --jsonl FILE         also write the connector's events as normalized JSON lines\n"
            "                           (like watch --format jsonl); - for stdout: a reader\n"
            "                           that goes away stops the recording (status 0)\n"
            "\n"
            "Both:\n"
            "  -o, --output TAPE        the tape to write (created or truncated), required\n"
            "  -d, --duration S         stop after S seconds\n"
            "      --max-retries N      an upstream that cannot be reached ends the recording with\n"
            "                           \"cannot reach URL\": direct mode, after N reconnects before\n"
            "                           a first connection (once one opened, drops are retried\n"
            "                           without end); proxy mode, after N + 1 client sessions in a\n"
            "                           row (default 5; 0 = at the first failure)\n"
            "      --ca FILE            PEM CA bundle for a wss upstream (default: $POLYWS_CA_FILE,\n"
            "                           else the system store)\n"
            "      --insecure           do not verify the upstream certificate (warns)\n"
            "      --redact-field NAME  also redact this JSON member at any depth (repeatable)\n"
            "      --redact-header NAME also redact this request header (repeatable; Authorization,\n"
            "                           Cookie and X-Api-Key always are)\n"
            "      --max-buffer BYTES   bytes queued toward one side before the other is paused\n"
            "                           (default 4194304)\n"
            "      --fsync              sync every line to disk (slow; for power loss only)\n"
            "  -q, --quiet              errors only, no progress line\n"
            "  -v, --verbose            log connections (repeat for more)\n"
            "  -h, --help               this help\n"
            "      --version            print the version and exit\n"
            "\n"
            "A progress line (frames, bytes, rate, elapsed, clients) is shown when stderr is a\n"
            "terminal (not with -q, nor when --jsonl - writes to that terminal).\n"
            "Stops on SIGINT/SIGTERM, --duration or --count.  A recorder killed any other way\n"
            "(even SIGKILL) leaves a valid tape of everything recorded before.\n"
            "A line \"polyws record: handshakes: ...\" counts the clients closed or refused before\n"
            "their upgrade request was complete (timed out, evicted, refused), at most every\n"
            "10 s while it happens and once at exit.\n"
            "\n"
            "Exit status:\n"
            "  0  stopped by a signal, --duration or --count, or the reader of --jsonl -\n"
            "     went away\n"
            "  1  a failure, with a line on stderr: the upstream cannot be reached (at start-up,\n"
            "     or --max-retries used up), the connector's fatal error (direct mode), the\n"
            "     tape or --jsonl cannot be written, the address cannot be bound\n"
            "  2  bad usage\n",
            pws_cli_hs_help);
}

typedef struct recorder {
    bool quiet;              /* errors only */
    int verbose;             /* -v count */
    uint64_t count;          /* direct: stop after this many market-data events */
    FILE *jsonl;             /* direct: events as JSON lines, or NULL */
    char *line;              /* JSON line buffer (delivery thread) */
    pws_connector *c;        /* direct: the connector */
    pthread_mutex_t mu;      /* guards seen and fatal */
    uint64_t seen;           /* market-data events seen */
    char fatal[PWS_MESSAGE_MAX]; /* the connector's fatal reason */
    int jsonl_errno;         /* errno of a failed --jsonl write (delivery thread; read after
                                pws_wait), 0 if none: the recording stops */
} recorder;

static void record_log(pws_log_level level, const char *msg, void *user)
{
    const recorder *r = user;
    if (r->quiet && level > PWS_LOG_ERROR)
        return;
    static const char *const names[] = {"", "error", "warning", "info", "debug"};
    fprintf(stderr, "%spolyws record: %s: %s\n", pws_cli_meter_erase(&record_meter),
            names[level <= PWS_LOG_DEBUG ? level : 0], msg);
}

/* Delivery thread (direct mode): count, print, stop at --count. */
static void record_on_event(const pws_event *ev, void *user)
{
    recorder *r = user;
    if (ev->type == PWS_EV_CONNECTION) {
        if (ev->u.conn.state == PWS_CONN_FATAL) {
            pthread_mutex_lock(&r->mu);
            snprintf(r->fatal, sizeof r->fatal, "%s", ev->u.conn.reason);
            pthread_mutex_unlock(&r->mu);
        }
        return;
    }
    if (!pws_cli_count(ev, &r->mu, r->count, &r->seen, r->c))
        return;
    if (r->jsonl && !r->jsonl_errno) {
        size_t n = pws_event_to_json(ev, r->line, RECORD_LINE_MAX);
        if (n < RECORD_LINE_MAX && (r->jsonl_errno = pws_cli_put_line(r->jsonl, r->line, n)) != 0)
            pws_stop(r->c); /* the reader went away (EPIPE) or the disk is full: finish_direct tells */
    }
}

/* The progress line (if the meter is on) with the proxy's counts now. */
static void progress(pwsr_proxy *px, bool final)
{
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(px, &st);
    snprintf(record_meter.note, sizeof record_meter.note, "%u client%s", st.active, st.active == 1 ? "" : "s");
    pws_cli_meter_update(&record_meter, st.frames, st.bytes);
    if (final)
        pws_cli_meter_end(&record_meter, true);
}

/* Seconds since t0_us on the monotonic clock. */
static double since(int64_t t0_us)
{
    return (double)(pws__mono_us() - t0_us) / 1e6;
}

/* Everything the command line and the environment decide. */
typedef struct record_args {
    pwsr_proxy_options po;   /* the proxy's options (points into this struct) */
    const char *url;         /* direct: --url or $POLYWS_URL */
    const char *key_env;     /* direct: --key-env */
    const char *key_file;    /* direct: --key-file */
    const char *port_file;   /* proxy: --port-file */
    const char *jsonl_path;  /* direct: --jsonl */
    char host[256];          /* --listen host */
    char subs[8192];         /* direct: channels */
    double duration;         /* --duration, 0 = no limit */
    bool direct;             /* direct mode, else proxy mode */
    pws_cli_hs_opts hs;      /* proxy: --handshake-timeout, --max-pending, --max-per-address */
    uint32_t max_retries;    /* --max-retries */
    char key[PWS_MAX_KEY_LEN + 1]; /* direct: the API key, wiped once handed over */
} record_args;

/* Exit status of a step, or RECORD_GO_ON to continue. */
#define RECORD_GO_ON (-1)

/* --listen HOST:PORT into a->host and a->po.port. */
static int parse_listen(record_args *a, const char *arg)
{
    char *end;
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof a->host) {
        fprintf(stderr, "polyws record: --listen needs HOST:PORT, not '%s'\n", arg);
        return 2;
    }
    memcpy(a->host, arg, (size_t)(colon - arg));
    a->host[colon - arg] = '\0';
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) {
        fprintf(stderr, "polyws record: invalid port in --listen '%s'\n", arg);
        return 2;
    }
    a->po.port = (int)port;
    return RECORD_GO_ON;
}

/* One option from getopt_long. */
static int parse_option(int ch, const char *arg, record_args *a, recorder *r)
{
    pwsr_proxy_options *po = &a->po;
    uint64_t u;
    char *end;
    int hr = pws_cli_hs_option("record", ch, arg, &a->hs);
    if (hr >= 0)
        return hr ? hr : RECORD_GO_ON;
    switch (ch) {
    case 'U': po->upstream = arg; break;
    case 'l': return parse_listen(a, arg);
    case 'P': a->port_file = arg; break;
    case 'M':
        if (pws_cli_uint(arg, 1, PWSR_MAX_CLIENTS, &u)) {
            fprintf(stderr, "polyws record: --max-clients needs 1..%u\n", PWSR_MAX_CLIENTS);
            return 2;
        }
        po->max_clients = (uint32_t)u;
        break;
    case 'u': a->url = arg; break;
    case 's':
        if (strlen(a->subs) + strlen(arg) + 2 > sizeof a->subs) {
            fprintf(stderr, "polyws record: --subscribe lists exceed %zu bytes\n", sizeof a->subs);
            return 2;
        }
        if (a->subs[0])
            strcat(a->subs, ",");
        strcat(a->subs, arg);
        break;
    case 'K': a->key_env = arg; break;
    case 'F': a->key_file = arg; break;
    case 'n':
        if (pws_cli_uint(arg, 1, UINT64_MAX, &r->count)) {
            fprintf(stderr, "polyws record: --count needs a positive integer, not '%s'\n", arg);
            return 2;
        }
        break;
    case 'J': a->jsonl_path = arg; break;
    case 'o': po->tape_path = arg; break;
    case 'd':
        a->duration = strtod(arg, &end);
        if (end == arg || *end || !(a->duration > 0) || a->duration > 1e7) {
            fprintf(stderr, "polyws record: --duration needs positive seconds, not '%s'\n", arg);
            return 2;
        }
        break;
    case 'C': po->ca_file = arg; break;
    case 'I': po->insecure = true; break;
    case 'R':
        if (po->nredact_fields >= PWS_TAPE_MAX_REDACT || !*arg || strlen(arg) > PWS_TAPE_MAX_NAME) {
            fprintf(stderr, "polyws record: --redact-field: at most %u names of 1..%u bytes\n",
                    PWS_TAPE_MAX_REDACT, PWS_TAPE_MAX_NAME);
            return 2;
        }
        po->redact_fields[po->nredact_fields++] = arg;
        break;
    case 'H':
        if (po->nredact_headers >= PWS_TAPE_MAX_REDACT - 4 || !*arg || strlen(arg) > PWS_TAPE_MAX_NAME) {
            fprintf(stderr, "polyws record: --redact-header: at most %u names of 1..%u bytes\n",
                    PWS_TAPE_MAX_REDACT - 4, PWS_TAPE_MAX_NAME);
            return 2;
        }
        po->redact_headers[po->nredact_headers++] = arg;
        break;
    case 'B':
        if (pws_cli_uint(arg, 65536, 1ull << 32, &u)) {
            fprintf(stderr, "polyws record: --max-buffer needs 65536..4294967296 bytes\n");
            return 2;
        }
        po->max_buffered = (size_t)u;
        break;
    case 'S': po->fsync_each = true; break;
    case 'r': return pws_cli_max_retries("record", arg, &a->max_retries) ? 2 : RECORD_GO_ON;
    case PWS_CLI_OPT_VERSION: return pws_cli_version();
    case 'q': r->quiet = true; break;
    case 'v': r->verbose++; break;
    case 'h': record_usage(stdout); return pws_cli_stdout_done("record", 0);
    default: record_usage(stderr); return 2;
    }
    return RECORD_GO_ON;
}

static int parse_options(int argc, char **argv, record_args *a, recorder *r)
{
    static const struct option longopts[] = {
        {"upstream", required_argument, NULL, 'U'},  {"listen", required_argument, NULL, 'l'},
        {"port-file", required_argument, NULL, 'P'}, {"max-clients", required_argument, NULL, 'M'},
        {"url", required_argument, NULL, 'u'},       {"subscribe", required_argument, NULL, 's'},
        {"key-env", required_argument, NULL, 'K'},   {"key-file", required_argument, NULL, 'F'},
        {"count", required_argument, NULL, 'n'},     {"jsonl", required_argument, NULL, 'J'},
        {"output", required_argument, NULL, 'o'},    {"duration", required_argument, NULL, 'd'},
        {"ca", required_argument, NULL, 'C'},        {"insecure", no_argument, NULL, 'I'},
        {"redact-field", required_argument, NULL, 'R'}, {"redact-header", required_argument, NULL, 'H'},
        {"max-buffer", required_argument, NULL, 'B'}, {"fsync", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},           {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},            PWS_CLI_HS_LONGOPTS,
        {"max-retries", required_argument, NULL, 'r'}, PWS_CLI_VERSION_LONGOPT,
        {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:n:o:d:qvh", longopts, NULL)) != -1) {
        int rc = parse_option(ch, optarg, a, r);
        if (rc != RECORD_GO_ON)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "polyws record: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    return RECORD_GO_ON;
}

/* Proxy or direct mode, and the options that go with each. */
static int choose_mode(record_args *a, const recorder *r)
{
    pwsr_proxy_options *po = &a->po;
    a->direct = a->url != NULL || (!po->upstream && (a->subs[0] || getenv("POLYWS_URL")));
    if (po->upstream && a->direct) {
        fprintf(stderr, "polyws record: give --upstream (proxy) or --url (direct), not both\n");
        return 2;
    }
    if (!po->upstream && !a->direct) {
        fprintf(stderr, "polyws record: give --upstream URL (proxy mode) or --url URL (direct mode); see --help\n");
        return 2;
    }
    if (!po->tape_path) {
        fprintf(stderr, "polyws record: no tape: give -o TAPE\n");
        return 2;
    }
    if (!po->ca_file && getenv("POLYWS_CA_FILE") && *getenv("POLYWS_CA_FILE"))
        po->ca_file = getenv("POLYWS_CA_FILE");
    if (!a->direct && (r->count || a->jsonl_path || a->subs[0] || a->key_env || a->key_file)) {
        fprintf(stderr, "polyws record: --subscribe, --count, --jsonl and the key options are for direct mode\n");
        return 2;
    }
    return RECORD_GO_ON;
}

/* Direct mode: URL, channels and key from the environment; the internal
 * proxy listens on a free loopback port and scrubs the key. */
static int prepare_direct(record_args *a)
{
    pwsr_proxy_options *po = &a->po;
    if (!a->url)
        a->url = getenv("POLYWS_URL");
    po->upstream = a->url;
    if (!a->subs[0] && getenv("POLYWS_SUBSCRIBE"))
        snprintf(a->subs, sizeof a->subs, "%s", getenv("POLYWS_SUBSCRIBE"));
    if (!a->subs[0]) {
        fprintf(stderr, "polyws record: nothing to subscribe (use --subscribe or POLYWS_SUBSCRIBE)\n");
        return 2;
    }
    if (a->key_env && a->key_file) {
        fprintf(stderr, "polyws record: use --key-env or --key-file, not both\n");
        return 2;
    }
    char kerr[256];
    if (pws_load_key(a->key_file ? NULL : a->key_env ? a->key_env : "POLYWS_API_KEY", a->key_file, a->key,
                     sizeof a->key, kerr, sizeof kerr)) {
        fprintf(stderr, "polyws record: %s\n", kerr);
        return 1;
    }
    po->secrets[0] = a->key; /* scrubbed wherever it appears, also before the first auth */
    po->nsecrets = 1;
    po->mode = "direct";
    po->port = 0;
    snprintf(a->host, sizeof a->host, "127.0.0.1");
    return RECORD_GO_ON;
}

/* Logging for us, the proxy and libwebsockets; process-wide settings. */
static void setup_process(record_args *a, recorder *r)
{
    pwsr_proxy_options *po = &a->po;
    po->host = a->host;
    bool jsonl_stdout = a->direct && a->jsonl_path && !strcmp(a->jsonl_path, "-");
    pws_cli_meter_start(&record_meter, pws_cli_meter_wanted(r->quiet, jsonl_stdout ? STDOUT_FILENO : -1), "recording",
                        "frames");
    pws_set_lws_log(PWS_LOG_ERROR, record_log, r);
    po->log_fn = record_log;
    po->log_user = r;
    po->log_level = r->verbose >= 2 ? PWS_LOG_DEBUG : r->verbose ? PWS_LOG_INFO : PWS_LOG_WARN;
    pthread_mutex_init(&r->mu, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Proxy mode: tell where clients connect, on stdout and in --port-file. */
static int announce_listening(pwsr_proxy *px, const char *port_file)
{
    printf("listening %s\n", pwsr_proxy_url(px));
    fflush(stdout);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f) {
            fprintf(stderr, "polyws record: cannot write %s: %s\n", port_file, strerror(errno));
            pwsr_proxy_stop(px);
            return 1;
        }
        fprintf(f, "listening %s\n", pwsr_proxy_url(px));
        fclose(f);
    }
    return RECORD_GO_ON;
}

/* Direct mode: open --jsonl, then connect our connector through the proxy.
 * The key is wiped here; on a failure everything is released. */
static int start_direct(record_args *a, recorder *r, pwsr_proxy *px, char *err, size_t errcap)
{
    if (a->jsonl_path) {
        r->jsonl = strcmp(a->jsonl_path, "-") ? fopen(a->jsonl_path, "w") : stdout;
        r->line = malloc(RECORD_LINE_MAX);
        if (!r->jsonl || !r->line) {
            fprintf(stderr, "polyws record: cannot write %s: %s\n", a->jsonl_path, strerror(errno));
            pwsr_proxy_stop(px);
            free(r->line);
            memset(a->key, 0, sizeof a->key);
            return 1;
        }
    }
    char curl[2400];
    const char *path = strchr(a->url + (strncmp(a->url, "wss://", 6) ? 5 : 6), '/');
    snprintf(curl, sizeof curl, "%s%s", pwsr_proxy_url(px), path ? path : "/");
    pws_options o = {0};
    o.url = curl;
    o.api_key = a->key;
    o.on_event = record_on_event;
    o.user = r;
    o.log_fn = record_log;
    o.log_user = r;
    o.log_level = r->verbose >= 2 ? PWS_LOG_DEBUG : r->verbose ? PWS_LOG_INFO : PWS_LOG_ERROR;
    int rc = pws_create(&o, &r->c, err, errcap);
    if (!rc)
        rc = pws_subscribe(r->c, a->subs);
    if (!rc)
        rc = pws_start(r->c);
    memset(a->key, 0, sizeof a->key);
    if (rc) {
        fprintf(stderr, "polyws record: %s\n", r->c ? pws_last_error(r->c) : err);
        pws_destroy(r->c);
        pwsr_proxy_stop(px);
        if (r->jsonl && r->jsonl != stdout)
            fclose(r->jsonl);
        free(r->line);
        return 1;
    }
    return RECORD_GO_ON;
}

/* Proxy mode: the upstream must be reachable before clients are told where to connect (and
 * before the tape is created). */
static int probe_upstream(const record_args *a)
{
    char err[512];
    int rc = pwsr_probe_upstream(a->po.upstream, a->po.ca_file, a->po.insecure, 0, err, sizeof err);
    if (rc == PWS_ERR_URL) {
        fprintf(stderr, "polyws record: %s\n", err);
        return 2;
    }
    if (rc) {
        char url[512];
        pws_cli_url_shown(a->po.upstream, url, sizeof url);
        fprintf(stderr, "polyws record: cannot reach %s: %s\n", url, err);
        return 1;
    }
    return RECORD_GO_ON;
}

/* True (after the error line) when the upstream is given up on: direct mode, --max-retries + 1
 * failed sessions and none ever reached it; proxy mode, --max-retries + 1 in a row. */
static bool upstream_gone(pwsr_proxy *px, const record_args *a, const pwsr_proxy_stats *st)
{
    bool gone = a->direct ? !st->upstream_reached && st->upstream_failed > a->max_retries
                          : st->upstream_failed_in_a_row > a->max_retries;
    if (!gone)
        return false;
    char url[512], why[256];
    pws_cli_url_shown(a->po.upstream, url, sizeof url);
    pwsr_proxy_upstream_error(px, why, sizeof why);
    /* the limit that was crossed, not the count seen by this poll: a fast client can start
     * another failing session between two ticks, and the message should not depend on that */
    uint32_t n = a->max_retries + 1;
    fprintf(stderr, "%spolyws record: cannot reach %s: %s (gave up after %u %s%s%s; --max-retries)\n",
            pws_cli_meter_erase(&record_meter), url, why, n, a->direct ? "attempt" : "client session", n == 1 ? "" : "s",
            a->direct ? "" : " in a row");
    return true;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Main loop: until a signal, --duration, the connector finishing (direct) or
 * a tape failure; draws the progress line.  Returns the exit status so far. */
static int record_until_stopped(pwsr_proxy *px, const record_args *a, const recorder *r,
                                int64_t t0_us)
{
    pws_cli_hs_report *report = &record_hs_report;
    for (;;) {
        struct timespec ts = {0, RECORD_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
        double el = since(t0_us);
        pwsr_proxy_stats st;
        pwsr_proxy_get_stats(px, &st);
        pws_cli_hs_report_line(report, "record", record_meter.on ? pws_cli_meter_erase(&record_meter) : NULL,
                               &PWS_CLI_HS_COUNTS(st.handshakes), false);
        if (st.tape_failed || upstream_gone(px, a, &st))
            return 1;
        if (record_signal || (a->duration > 0 && el >= a->duration))
            return 0;
        if (a->direct && pws_finished(r->c))
            return 0;
        progress(px, false); /* redraws at most every PWS_CLI_METER_MS */
    }
}

/* Direct mode: stop the connector, let the proxy record the close, close
 * --jsonl (jsonl_path).  Returns 1 if the connector ended in a failure or --jsonl could not
 * be written (a reader of stdout that went away is no failure), else 0. */
static int finish_direct(pwsr_proxy *px, recorder *r, const char *jsonl_path)
{
    int failed = 0;
    pws_stop(r->c);
    int rc = pws_wait(r->c);
    if (rc != PWS_OK) {
        pthread_mutex_lock(&r->mu);
        fprintf(stderr, "%spolyws record: %s\n", pws_cli_meter_erase(&record_meter),
                r->fatal[0] ? r->fatal : pws_strerror(rc));
        pthread_mutex_unlock(&r->mu);
        failed = 1;
    }
    pws_destroy(r->c);
    /* let the proxy record the close handshake it is forwarding */
    for (int waited = 0; waited < RECORD_DRAIN_MS; waited += 20) {
        pwsr_proxy_stats st;
        pwsr_proxy_get_stats(px, &st);
        if (!st.active)
            break;
        usleep(20000);
    }
    if (r->jsonl == stdout) {
        if (pws_cli_stdout_done("record", r->jsonl_errno))
            failed = 1;
    } else if (r->jsonl) {
        int e = r->jsonl_errno;
        errno = 0;
        if (fclose(r->jsonl) == EOF && !e)
            e = errno ? errno : EIO;
        if (e) {
            fprintf(stderr, "%spolyws record: cannot write %s: %s\n", pws_cli_meter_erase(&record_meter), jsonl_path,
                    strerror(e));
            failed = 1;
        }
    }
    free(r->line);
    return failed;
}

/* The final progress line on a terminal, else one line with -v. */
static void print_summary(pwsr_proxy *px, const recorder *r, int64_t t0_us)
{
    double el = since(t0_us);
    if (record_meter.on)
        progress(px, true);
    else if (r->verbose) {
        pwsr_proxy_stats st;
        pwsr_proxy_get_stats(px, &st);
        fprintf(stderr, "polyws record: %llu frames, %llu payload bytes, %u connections in %.1f s\n",
                (unsigned long long)st.frames, (unsigned long long)st.bytes, st.connections, el);
    }
}

/* Stops the proxy; returns 1 if the tape is incomplete, else 0. */
static int stop_proxy(pwsr_proxy *px)
{
    pwsr_proxy_stats st;
    pwsr_proxy_get_stats(px, &st);
    pws_cli_hs_report_line(&record_hs_report, "record", NULL, &PWS_CLI_HS_COUNTS(st.handshakes), true);
    pwsr_proxy_stop(px);
    if (st.tape_failed) {
        fprintf(stderr, "polyws record: the tape could not be written completely (see above)\n");
        return 1;
    }
    return 0;
}

int pws_cmd_record(int argc, char **argv)
{
    static recorder r;
    memset(&r, 0, sizeof r);
    record_args a;
    memset(&a, 0, sizeof a);
    snprintf(a.host, sizeof a.host, "127.0.0.1");
    a.max_retries = PWS_CLI_DEFAULT_MAX_RETRIES;

    int rc = parse_options(argc, argv, &a, &r);
    if (rc == RECORD_GO_ON)
        rc = choose_mode(&a, &r);
    if (rc == RECORD_GO_ON && a.direct)
        rc = prepare_direct(&a);
    if (rc != RECORD_GO_ON)
        return rc;
    setup_process(&a, &r);
    a.po.handshake_timeout_ms = a.hs.timeout_ms;
    a.po.max_pending = a.hs.max_pending;
    a.po.max_per_address = a.hs.max_per_address;
    pws_cli_set_fd_limit();
    memset(&record_hs_report, 0, sizeof record_hs_report);

    char err[512];
    if (!a.direct && (rc = probe_upstream(&a)) != RECORD_GO_ON)
        return rc;
    pwsr_proxy *px = pwsr_proxy_start(&a.po, err, sizeof err);
    if (!px) {
        fprintf(stderr, "polyws record: %s\n", err);
        memset(a.key, 0, sizeof a.key);
        return strstr(err, "URL") ? 2 : 1;
    }
    rc = a.direct ? start_direct(&a, &r, px, err, sizeof err) : announce_listening(px, a.port_file);
    if (rc != RECORD_GO_ON)
        return rc;
    install_signals();

    int64_t t0_us = pws__mono_us();
    int exit_code = record_until_stopped(px, &a, &r, t0_us);
    if (a.direct && finish_direct(px, &r, a.jsonl_path))
        exit_code = 1;
    print_summary(px, &r, t0_us);
    if (stop_proxy(px))
        exit_code = 1;
    pthread_mutex_destroy(&r.mu);
    /* the listening line (proxy mode): a reader that went away is no failure */
    if (r.jsonl != stdout && pws_cli_stdout_done("record", 0))
        exit_code = 1;
    return exit_code;
}
