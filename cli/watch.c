/*
 * watch.c - `polyws watch`: connect, subscribe, print events.
 *
 * Output is either JSON lines (stable, normalized: two runs over the same
 * input give identical bytes) or a live table of the latest aggregate per
 * symbol that redraws in place on a terminal.  Connection lifecycle goes to
 * stderr as plain sentences, so stdout stays data only.
 */
#include "commands.h"
#include "wire/clock.h"

#include <polyws/polyws.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MAX_ROWS 5000        /* symbols shown in the table view */
#define WATCH_REDRAW_MS 100        /* table redraw period on a terminal */
#define WATCH_LINE_MAX 65536       /* bytes of one JSON output line */

typedef enum out_format { FMT_AUTO = 0, FMT_TABLE, FMT_JSONL } out_format;

/* One row of the table view. */
typedef struct view_row {
    char sym[PWS_SYMBOL_MAX]; /* symbol */
    pws_agg agg;              /* latest aggregate */
    uint64_t updates;         /* aggregates seen for this symbol */
} view_row;

typedef struct watch {
    out_format fmt;            /* output format */
    uint64_t count;            /* stop after this many market-data events, 0 = no limit */
    double duration;           /* stop after this many seconds, 0 = no limit */
    bool quiet;                /* no lifecycle lines on stderr */
    bool tty;                  /* stdout is a terminal */
    pws_connector *c;          /* the connector */

    pthread_mutex_t mu;        /* guards the fields below (delivery vs main thread) */
    uint64_t seen;             /* market-data events seen */
    view_row rows[WATCH_MAX_ROWS]; /* table view rows, unsorted */
    size_t nrows;              /* rows used */
    bool dirty;                /* table changed since the last draw */
    char state[64];            /* connection state for the status line */
    uint32_t conn;             /* connection ordinal */
    char fatal[PWS_MESSAGE_MAX]; /* the fatal reason, if any */
    char unreachable[PWS_MESSAGE_MAX + 640]; /* set when --max-retries gave up: why (URL and reason) */
    bool opened;               /* a connection's WebSocket handshake succeeded once */
    uint32_t max_retries;      /* reconnects before the first connection opens, at most */
    const char *url;           /* the URL, for the error line */
    int out_errno;             /* errno of a failed JSON line write (delivery thread only; read
                                  after pws_wait), 0 if none */
    int table_errno;           /* errno of a failed table draw (main thread only), 0 if none */
    char note[PWS_MESSAGE_MAX + 64]; /* last connection event, shown in the table header */
    char *line;                /* JSON line buffer (delivery thread) */
} watch;

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void watch_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws watch [URL] --subscribe CHANNELS [options]\n"
            "\n"
            "Connects to a Polygon-compatible WebSocket stream, authenticates, subscribes\n"
            "and prints events until --count/--duration is reached, a fatal error occurs,\n"
            "or it is interrupted.  Reconnects with backoff through drops.  Until a first\n"
            "connection opens it tries --max-retries more times, then gives up: a URL that\n"
            "never answers ends the run with \"cannot reach URL\".\n"
            "\n"
            "  URL                    ws:// or wss:// URL (default: $POLYWS_URL)\n"
            "  -s, --subscribe LIST   channels, e.g. A.AAPL,T.MSFT,Q.* (repeatable;\n"
            "                         default: $POLYWS_SUBSCRIBE)\n"
            "      --key-env VAR      read the API key from $VAR (default: POLYWS_API_KEY)\n"
            "      --key-file FILE    read the API key from the first line of FILE\n"
            "      --ca FILE          PEM CA bundle for wss://, trusted instead of the system\n"
            "                         store (default: $POLYWS_CA_FILE, else the system store,\n"
            "                         which $SSL_CERT_FILE and $SSL_CERT_DIR replace)\n"
            "      --insecure         do not verify the server certificate (warns unless -q)\n"
            "  -f, --format FMT       table (live table of the latest aggregate per symbol)\n"
            "                         or jsonl (one normalized JSON object per event);\n"
            "                         default: table on a terminal, jsonl otherwise\n"
            "  -n, --count N          stop after N market-data events\n"
            "  -d, --duration S       stop after S seconds (decimals allowed)\n"
            "      --overflow POLICY  block (default), drop_oldest or disconnect\n"
            "      --queue N          delivery queue capacity in events (default 65536)\n"
            "      --max-retries N    before the first connection opens: give up after N\n"
            "                         failed reconnects (default 5, about 15 s of backoff;\n"
            "                         0 = at the first failure).  Once a connection opened,\n"
            "                         drops are retried without end (see --max-attempts)\n"
            "      --max-attempts N   give up after N failed reconnects in a row, also after\n"
            "                         a connection opened (default 0 = never)\n"
            "      --backoff-ms MS    first reconnect delay (default 500)\n"
            "      --heartbeat MS     a connection silent this long (no data, no pong) is\n"
            "                         dead; pings go out every MS/2 (default: dead after\n"
            "                         20000 ms, a ping every 20000 ms)\n"
            "  -q, --quiet            no connection messages on stderr\n"
            "  -v, --verbose          log the library's info lines, libwebsockets' included\n"
            "                         (repeat for debug)\n"
            "  -h, --help             this help\n"
            "      --version          print the version and exit\n"
            "\n"
            "POLYWS_COUNT, POLYWS_DURATION, POLYWS_BACKOFF_MS and POLYWS_HEARTBEAT_MS (set\n"
            "by `polyws check`) are defaults for --count, --duration, --backoff-ms and\n"
            "--heartbeat.\n"
            "\n"
            "wss:// checks the server's certificate and its host name (or IP address).  A\n"
            "certificate refused (untrusted or self-signed, expired or not yet valid, for\n"
            "another host) ends the run at the first attempt, with no retry: the same\n"
            "certificate would come back.  The line on stderr names the reason, e.g.\n"
            "\"tls: certificate verify failed: hostname mismatch (CN=other.example, valid\n"
            "for DNS:other.example), connecting to localhost:8443 (permanent: not\n"
            "retrying)\".  Other TLS failures (a reset mid-handshake) are retried.\n"
            "The API key is never printed.\n"
            "\n"
            "When the reader of stdout goes away (`polyws watch ... | head -n 1`) watch\n"
            "stops at once, quietly, with status 0.\n"
            "\n"
            "Exit status:\n"
            "  0  stopped by --count, --duration or a signal, or the reader of stdout went\n"
            "     away\n"
            "  1  a fatal error, with one line on stderr: the URL cannot be reached\n"
            "     (--max-retries used up before a first connection), authentication failed,\n"
            "     the server's certificate refused, the upgrade refused with HTTP 400, 401,\n"
            "     403, 404 or 410, --max-attempts used up, stdout cannot be written\n"
            "  2  bad usage\n");
}

/* Library log lines go to stderr; --quiet leaves only the final fatal line. */
static void watch_log(pws_log_level level, const char *msg, void *user)
{
    const watch *w = user;
    if (w->quiet)
        return;
    static const char *const names[] = {"", "error", "warning", "info", "debug"};
    fprintf(stderr, "polyws: %s: %s\n", names[level <= PWS_LOG_DEBUG ? level : 0], msg);
}

static void lifecycle_line(watch *w, const pws_event *ev)
{
    const pws_conn_event *ce = &ev->u.conn;
    pthread_mutex_lock(&w->mu);
    snprintf(w->state, sizeof w->state, "%s", pws_conn_state_name(ce->state));
    w->conn = ev->conn;
    if (ce->state == PWS_CONN_FATAL)
        snprintf(w->fatal, sizeof w->fatal, "%s", ce->reason);
    w->dirty = true;
    pthread_mutex_unlock(&w->mu);
    char note[sizeof w->note] = "";
    if (ce->state == PWS_CONN_OPEN)
        w->opened = true;
    if (ce->state == PWS_CONN_RECONNECT_WAIT && !w->opened && ce->attempt > w->max_retries) {
        /* attempt is the failures so far: none opened, so none was healthy to reset the count */
        char url[512];
        pws_cli_url_shown(w->url, url, sizeof url);
        pthread_mutex_lock(&w->mu);
        snprintf(w->unreachable, sizeof w->unreachable, "cannot reach %s: %s (gave up after %u attempt%s; --max-retries)",
                 url, ce->reason, ce->attempt, ce->attempt == 1 ? "" : "s");
        pthread_mutex_unlock(&w->mu);
        pws_stop(w->c);
        return;
    }
    switch (ce->state) {
    case PWS_CONN_DISCONNECTED:
        if (ce->err != PWS_OK)
            snprintf(note, sizeof note, "disconnected: %s", ce->reason);
        break;
    case PWS_CONN_RECONNECT_WAIT:
        snprintf(note, sizeof note, "reconnecting in %u ms (attempt %u)", ce->delay_ms, ce->attempt);
        break;
    case PWS_CONN_AUTHENTICATED:
        snprintf(note, sizeof note, "authenticated (connection %u)", ev->conn);
        break;
    default:
        break;
    }
    if (note[0]) {
        pthread_mutex_lock(&w->mu);
        memcpy(w->note, note, sizeof note);
        pthread_mutex_unlock(&w->mu);
    }
    /* on a terminal the table shows the note; lines would be wiped by redraws */
    if (w->quiet || (w->fmt == FMT_TABLE && w->tty))
        return;
    switch (ce->state) {
    case PWS_CONN_CONNECTING:
        fprintf(stderr, "polyws: connecting (connection %u)\n", ev->conn);
        break;
    case PWS_CONN_AUTHENTICATED:
        fprintf(stderr, "polyws: authenticated (connection %u)\n", ev->conn);
        break;
    case PWS_CONN_DISCONNECTED:
        if (ce->err != PWS_OK)
            fprintf(stderr, "polyws: disconnected: %s\n", ce->reason);
        if (strstr(ce->reason, "max_connections"))
            fprintf(stderr, "polyws: warning: another connection is using the same API key\n");
        break;
    case PWS_CONN_RECONNECT_WAIT:
        fprintf(stderr, "polyws: reconnecting in %u ms (attempt %u)\n", ce->delay_ms, ce->attempt);
        break;
    default:
        break;
    }
}

static void view_update(watch *w, const pws_agg *a)
{
    pthread_mutex_lock(&w->mu);
    size_t i;
    for (i = 0; i < w->nrows; i++)
        if (!strcmp(w->rows[i].sym, a->sym))
            break;
    if (i == w->nrows && w->nrows < WATCH_MAX_ROWS) {
        memset(&w->rows[i], 0, sizeof w->rows[i]);
        snprintf(w->rows[i].sym, sizeof w->rows[i].sym, "%s", a->sym);
        w->nrows++;
    }
    if (i < w->nrows) {
        w->rows[i].agg = *a;
        w->rows[i].updates++;
        w->dirty = true;
    }
    pthread_mutex_unlock(&w->mu);
}

/* Delivery thread: one call per event, in order. */
static void on_event(const pws_event *ev, void *user)
{
    watch *w = user;
    if (ev->type == PWS_EV_CONNECTION) {
        lifecycle_line(w, ev);
        return;
    }
    if (w->out_errno || !pws_cli_count(ev, &w->mu, w->count, &w->seen, w->c))
        return;
    if (w->fmt == FMT_JSONL) {
        size_t n = pws_event_to_json(ev, w->line, WATCH_LINE_MAX);
        if (n < WATCH_LINE_MAX) {
            int e = pws_cli_put_line(stdout, w->line, n);
            if (e) {
                /* the reader went away (EPIPE) or the disk is full: stop; finish() tells which */
                w->out_errno = e;
                pws_stop(w->c);
            }
        } else {
            fprintf(stderr, "polyws: event of %zu bytes not printed (limit %d)\n", n, WATCH_LINE_MAX);
        }
        return;
    }
    if (ev->type == PWS_EV_AGG)
        view_update(w, &ev->u.agg);
    else if (ev->type == PWS_EV_PARSE_ERROR && !w->quiet)
        fprintf(stderr, "polyws: parse error at byte %zu: %s\n", ev->u.error.offset,
                ev->u.error.reason);
}

static int row_cmp(const void *a, const void *b)
{
    return strcmp(((const view_row *)a)->sym, ((const view_row *)b)->sym);
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (!ms) {
        snprintf(buf, cap, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, cap, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Draws the table; on a terminal it redraws in place (cursor home, clear).  0, or the errno of
 * a failed write. */
static int draw_table(watch *w, bool final)
{
    static view_row snap[WATCH_MAX_ROWS];
    pthread_mutex_lock(&w->mu);
    size_t n = w->nrows;
    memcpy(snap, w->rows, n * sizeof *snap);
    char state[64];
    snprintf(state, sizeof state, "%s", w->state[0] ? w->state : "starting");
    uint32_t conn = w->conn;
    char note[sizeof w->note];
    memcpy(note, w->note, sizeof note);
    w->dirty = false;
    pthread_mutex_unlock(&w->mu);
    qsort(snap, n, sizeof *snap, row_cmp);
    pws_stats st;
    pws_get_stats(w->c, &st);

    FILE *o = stdout;
    if (w->tty && !final)
        fputs("\033[H\033[2J", o);
    fprintf(o, "polyws watch  state: %s  connection: %u  events: %llu  reconnects: %llu  "
               "parse errors: %llu\n",
            state, conn, (unsigned long long)(st.events[PWS_EV_AGG] + st.events[PWS_EV_TRADE] +
                                              st.events[PWS_EV_QUOTE]),
            (unsigned long long)st.reconnects, (unsigned long long)st.parse_errors);
    if (w->tty && !final)
        fprintf(o, "last: %s\n", note[0] ? note : "-");
    fprintf(o, "%-10s %10s %10s %10s %10s %12s %10s %9s %8s\n", "SYMBOL", "OPEN", "HIGH", "LOW",
            "CLOSE", "VOLUME", "VWAP", "END(UTC)", "UPDATES");
    for (size_t i = 0; i < n; i++) {
        const pws_agg *a = &snap[i].agg;
        char t[16];
        fmt_time(a->e, t, sizeof t);
        fprintf(o, "%-10s %10.4f %10.4f %10.4f %10.4f %12lld %10.4f %9s %8llu\n", snap[i].sym, a->o,
                a->h, a->l, a->c, (long long)a->v, a->vw, t, (unsigned long long)snap[i].updates);
    }
    errno = 0;
    if (fflush(o) == EOF || ferror(o))
        return errno ? errno : EIO;
    return 0;
}

/* Everything the command line and the environment decide, besides w. */
typedef struct watch_args {
    pws_options o;           /* the connector's options */
    const char *key_env;     /* --key-env */
    const char *key_file;    /* --key-file */
    char subs[8192];         /* channels */
    int verbose;             /* -v count */
    uint64_t heartbeat;      /* --heartbeat ms, 0 = the library's default */
} watch_args;

/* Exit status of a step, or WATCH_GO_ON to continue. */
#define WATCH_GO_ON (-1)

/* One option from getopt_long. */
static int parse_option(int ch, const char *arg, watch_args *a, watch *w)
{
    pws_options *o = &a->o;
    uint64_t u;
    switch (ch) {
    case 's':
        if (strlen(a->subs) + strlen(arg) + 2 > sizeof a->subs) {
            fprintf(stderr, "polyws watch: --subscribe lists exceed %zu bytes\n", sizeof a->subs);
            return 2;
        }
        if (a->subs[0])
            strcat(a->subs, ",");
        strcat(a->subs, arg);
        break;
    case 'K': a->key_env = arg; break;
    case 'F': a->key_file = arg; break;
    case 'C': o->ca_file = arg; break;
    case 'I': o->tls_insecure = true; break;
    case 'f':
        if (!strcmp(arg, "table"))
            w->fmt = FMT_TABLE;
        else if (!strcmp(arg, "jsonl") || !strcmp(arg, "json"))
            w->fmt = FMT_JSONL;
        else {
            fprintf(stderr, "polyws watch: --format must be table or jsonl, not '%s'\n", arg);
            return 2;
        }
        break;
    case 'n':
        if (pws_cli_uint(arg, 1, UINT64_MAX, &w->count)) {
            fprintf(stderr, "polyws watch: --count needs a positive integer, not '%s'\n", arg);
            return 2;
        }
        break;
    case 'd': {
        char *end;
        w->duration = strtod(arg, &end);
        if (end == arg || *end || !(w->duration > 0) || w->duration > 1e7) {
            fprintf(stderr, "polyws watch: --duration needs positive seconds, not '%s'\n", arg);
            return 2;
        }
        break;
    }
    case 'O':
        if (!strcmp(arg, "block"))
            o->overflow = PWS_OVERFLOW_BLOCK;
        else if (!strcmp(arg, "drop_oldest"))
            o->overflow = PWS_OVERFLOW_DROP_OLDEST;
        else if (!strcmp(arg, "disconnect"))
            o->overflow = PWS_OVERFLOW_DISCONNECT;
        else {
            fprintf(stderr, "polyws watch: --overflow must be block, drop_oldest or disconnect\n");
            return 2;
        }
        break;
    case 'Q':
        if (pws_cli_uint(arg, 1, 4194304, &u)) {
            fprintf(stderr, "polyws watch: --queue needs 1..4194304, not '%s'\n", arg);
            return 2;
        }
        o->queue_capacity = (size_t)u;
        break;
    case 'R': return pws_cli_max_retries("watch", arg, &w->max_retries) ? 2 : WATCH_GO_ON;
    case 'M':
        if (pws_cli_uint(arg, 0, 1000000, &u)) {
            fprintf(stderr, "polyws watch: --max-attempts needs 0..1000000, not '%s'\n", arg);
            return 2;
        }
        o->backoff.max_attempts = (uint32_t)u;
        break;
    case 'B':
        if (pws_cli_uint(arg, 1, 3600000, &u)) {
            fprintf(stderr, "polyws watch: --backoff-ms needs 1..3600000, not '%s'\n", arg);
            return 2;
        }
        o->backoff.base_ms = (uint32_t)u;
        break;
    case 'H':
        if (pws_cli_uint(arg, 100, 3600000, &a->heartbeat)) {
            fprintf(stderr, "polyws watch: --heartbeat needs 100..3600000 ms, not '%s'\n", arg);
            return 2;
        }
        break;
    case 'q': w->quiet = true; break;
    case 'v': a->verbose++; break;
    case 'h': watch_usage(stdout); return pws_cli_stdout_done("watch", 0);
    case PWS_CLI_OPT_VERSION: return pws_cli_version();
    default: watch_usage(stderr); return 2;
    }
    return WATCH_GO_ON;
}

/* Options, then at most one URL argument (left at argv[optind]). */
static int parse_options(int argc, char **argv, watch_args *a, watch *w)
{
    static const struct option longopts[] = {
        {"subscribe", required_argument, NULL, 's'}, {"key-env", required_argument, NULL, 'K'},
        {"key-file", required_argument, NULL, 'F'},  {"ca", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'I'},        {"format", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},     {"duration", required_argument, NULL, 'd'},
        {"overflow", required_argument, NULL, 'O'},  {"queue", required_argument, NULL, 'Q'},
        {"max-attempts", required_argument, NULL, 'M'}, {"backoff-ms", required_argument, NULL, 'B'},
        {"heartbeat", required_argument, NULL, 'H'}, {"max-retries", required_argument, NULL, 'R'},
        PWS_CLI_VERSION_LONGOPT,
        {"quiet", no_argument, NULL, 'q'},           {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:f:n:d:qvh", longopts, NULL)) != -1) {
        int rc = parse_option(ch, optarg, a, w);
        if (rc != WATCH_GO_ON)
            return rc;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "polyws watch: one URL expected, got '%s' and '%s'\n", argv[optind],
                argv[optind + 1]);
        return 2;
    }
    return WATCH_GO_ON;
}

/* The URL (argument or $POLYWS_URL) and the channels ($POLYWS_SUBSCRIBE). */
static int resolve_target(int argc, char **argv, watch_args *a, watch *w)
{
    a->o.url = optind < argc ? argv[optind] : getenv("POLYWS_URL");
    w->url = a->o.url;
    if (!a->o.url || !*a->o.url) {
        fprintf(stderr, "polyws watch: no URL (give one, or set POLYWS_URL); see --help\n");
        return 2;
    }
    if (!a->subs[0] && getenv("POLYWS_SUBSCRIBE"))
        snprintf(a->subs, sizeof a->subs, "%s", getenv("POLYWS_SUBSCRIBE"));
    if (!a->subs[0]) {
        fprintf(stderr, "polyws watch: nothing to subscribe (use --subscribe A.AAPL,T.MSFT or set "
                        "POLYWS_SUBSCRIBE); see --help\n");
        return 2;
    }
    return WATCH_GO_ON;
}

/* The `polyws check` client contract: env values serve as defaults. */
static int apply_env_defaults(watch_args *a, watch *w)
{
    pws_options *o = &a->o;
    uint64_t u;
    if (!w->count && getenv("POLYWS_COUNT") && *getenv("POLYWS_COUNT") &&
        (pws_cli_uint(getenv("POLYWS_COUNT"), 1, UINT64_MAX, &w->count))) {
        fprintf(stderr, "polyws watch: POLYWS_COUNT needs a positive integer\n");
        return 2;
    }
    if (w->duration <= 0 && getenv("POLYWS_DURATION") && *getenv("POLYWS_DURATION")) {
        char *end;
        w->duration = strtod(getenv("POLYWS_DURATION"), &end);
        if (*end || !(w->duration > 0) || w->duration > 1e7) {
            fprintf(stderr, "polyws watch: POLYWS_DURATION needs positive seconds\n");
            return 2;
        }
    }
    if (!o->backoff.base_ms && getenv("POLYWS_BACKOFF_MS") && *getenv("POLYWS_BACKOFF_MS")) {
        if (pws_cli_uint(getenv("POLYWS_BACKOFF_MS"), 1, 3600000, &u)) {
            fprintf(stderr, "polyws watch: POLYWS_BACKOFF_MS needs 1..3600000\n");
            return 2;
        }
        o->backoff.base_ms = (uint32_t)u;
    }
    if (!a->heartbeat && getenv("POLYWS_HEARTBEAT_MS") && *getenv("POLYWS_HEARTBEAT_MS") &&
        (pws_cli_uint(getenv("POLYWS_HEARTBEAT_MS"), 100, 3600000, &a->heartbeat))) {
        fprintf(stderr, "polyws watch: POLYWS_HEARTBEAT_MS needs 100..3600000\n");
        return 2;
    }
    if (a->heartbeat) {
        o->pong_timeout_ms = (uint32_t)a->heartbeat;
        o->ping_interval_ms = (uint32_t)a->heartbeat / 2;
    }
    return WATCH_GO_ON;
}

/* Where the API key comes from, and the CA bundle. */
static int resolve_key_and_ca(watch_args *a)
{
    pws_options *o = &a->o;
    if (a->key_env && a->key_file) {
        fprintf(stderr, "polyws watch: use --key-env or --key-file, not both\n");
        return 2;
    }
    if (!a->key_file)
        o->api_key_env = a->key_env ? a->key_env : "POLYWS_API_KEY";
    o->api_key_file = a->key_file;
    if (!o->ca_file && getenv("POLYWS_CA_FILE") && *getenv("POLYWS_CA_FILE"))
        o->ca_file = getenv("POLYWS_CA_FILE");
    return WATCH_GO_ON;
}

/* Output format, the JSON line buffer, event and log callbacks. */
static int prepare_output(watch_args *a, watch *w)
{
    pws_options *o = &a->o;
    w->tty = isatty(STDOUT_FILENO);
    if (w->fmt == FMT_AUTO)
        w->fmt = w->tty ? FMT_TABLE : FMT_JSONL;
    w->line = malloc(WATCH_LINE_MAX);
    if (!w->line) {
        fprintf(stderr, "polyws watch: out of memory\n");
        return 1;
    }
    o->on_event = on_event;
    o->user = w;
    o->log_fn = watch_log;
    o->log_user = w;
    /* lifecycle events already tell drops and reconnects: the library's own
     * log adds only errors unless -v.  libwebsockets' lines come through the
     * same callback at the same level ("lws: ..."; its banner at -v). */
    o->log_level = a->verbose >= 2 ? PWS_LOG_DEBUG : a->verbose ? PWS_LOG_INFO : PWS_LOG_ERROR;
    return WATCH_GO_ON;
}

/* Creates the connector and queues the subscription; releases all on failure. */
static int create_connector(watch_args *a, watch *w)
{
    char err[512];
    int rc = pws_create(&a->o, &w->c, err, sizeof err);
    if (rc) {
        fprintf(stderr, "polyws watch: %s\n", err);
        free(w->line);
        return rc == PWS_ERR_INVALID || rc == PWS_ERR_URL ? 2 : 1;
    }
    /* The library's own warning is at WARN, which watch passes only with -v. */
    if (a->o.tls_insecure && !w->quiet && !a->verbose && !strncasecmp(a->o.url, "wss://", 6))
        fprintf(stderr, "polyws watch: warning: --insecure: TLS certificate verification is OFF "
                        "(the server's certificate and host name are not checked): anyone on the path "
                        "can read and change the stream\n");
    rc = pws_subscribe(w->c, a->subs);
    if (rc) {
        fprintf(stderr, "polyws watch: %s\n", pws_last_error(w->c));
        pws_destroy(w->c);
        free(w->line);
        return 2;
    }
    return WATCH_GO_ON;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Starts the connector; releases all on failure. */
static int start_connector(watch *w)
{
    int rc = pws_start(w->c);
    if (rc) {
        fprintf(stderr, "polyws watch: %s\n", pws_last_error(w->c));
        pws_destroy(w->c);
        free(w->line);
        return 1;
    }
    return WATCH_GO_ON;
}

/* Main loop: asks the connector to stop on a signal or --duration, redraws
 * the table on a terminal, returns once the connector has finished. */
static void run_until_finished(watch *w)
{
    int64_t t0_us = pws__mono_us();
    bool stop_sent = false;
    for (;;) {
        struct timespec ts = {0, WATCH_REDRAW_MS * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&w->mu);
        bool fatal = w->fatal[0] != '\0';
        bool dirty = w->dirty;
        pthread_mutex_unlock(&w->mu);
        if (fatal || pws_finished(w->c))
            break;
        double el = (double)(pws__mono_us() - t0_us) / 1e6;
        if (!stop_sent && (got_signal || (w->duration > 0 && el >= w->duration))) {
            pws_stop(w->c);
            stop_sent = true;
        }
        if (w->fmt == FMT_TABLE && w->tty && dirty && !w->table_errno) {
            w->table_errno = draw_table(w, false);
            if (w->table_errno) { /* the terminal is gone: finish() tells how */
                pws_stop(w->c);
                stop_sent = true;
            }
        }
    }
}

/* Waits for the connector, draws the final table, reports a fatal error,
 * releases everything.  Returns the exit status. */
static int finish(watch *w)
{
    int rc = pws_wait(w->c);
    if (w->fmt == FMT_TABLE && !w->table_errno)
        w->table_errno = draw_table(w, true);
    int out_errno = w->out_errno ? w->out_errno : w->table_errno;
    int exit_code = pws_cli_stdout_done("watch", out_errno);
    if (w->unreachable[0]) {
        fprintf(stderr, "polyws watch: %s\n", w->unreachable);
        exit_code = 1;
    } else if (rc != PWS_OK && !out_errno) {
        fprintf(stderr, "polyws watch: %s\n", w->fatal[0] ? w->fatal : pws_strerror(rc));
        exit_code = 1;
    }
    pws_destroy(w->c);
    free(w->line);
    pthread_mutex_destroy(&w->mu);
    return exit_code;
}

int pws_cmd_watch(int argc, char **argv)
{
    static watch w; /* large (the table view); one per process */
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    watch_args a;
    memset(&a, 0, sizeof a);
    w.max_retries = PWS_CLI_DEFAULT_MAX_RETRIES;

    int rc = parse_options(argc, argv, &a, &w);
    if (rc == WATCH_GO_ON)
        rc = resolve_target(argc, argv, &a, &w);
    if (rc == WATCH_GO_ON)
        rc = apply_env_defaults(&a, &w);
    if (rc == WATCH_GO_ON)
        rc = resolve_key_and_ca(&a);
    if (rc == WATCH_GO_ON)
        rc = prepare_output(&a, &w);
    if (rc == WATCH_GO_ON)
        rc = create_connector(&a, &w);
    if (rc != WATCH_GO_ON)
        return rc;
    install_signals();
    rc = start_connector(&w);
    if (rc != WATCH_GO_ON)
        return rc;
    run_until_finished(&w);
    return finish(&w);
}
