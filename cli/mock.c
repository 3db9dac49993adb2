/*
 * mock.c - `polyws mock`: the mock Polygon server on loopback.
 *
 * Without a scenario it behaves like the real service (greeting, auth,
 * subscriptions, a deterministic generated stream); with one (a YAML file,
 * docs/scenarios.md) each connection plays its script.  The first line on
 * stdout is machine-readable: "listening ws://127.0.0.1:PORT".
 * `--validate FILE...` only loads scenario files and reports on each.
 */
#include "commands.h"

#include <polyws/mock.h>
#include <polyws/polyws.h>
#include <polyws/scenario.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t mock_signal;

static void mock_on_signal(int sig)
{
    mock_signal = sig;
}

static void mock_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws mock [options] [SCENARIO.yaml]\n"
            "       polyws mock --validate SCENARIO.yaml...\n"
            "\n"
            "Runs a mock Polygon WebSocket server until interrupted.  The first line on\n"
            "stdout is \"listening ws://HOST:PORT\" (or wss://).  Clients connect to\n"
            "that URL with a market's path: /stocks, /options, /forex, /crypto or /indices\n"
            "(it decides which channels a subscribe accepts); any other path gets HTTP 404.\n"
            "On exit (SIGINT, SIGTERM, --duration) the last line on stdout is\n"
            "\"connections N tcp M websocket\": the TCP connections accepted (counted before\n"
            "TLS) and how many of them became WebSocket connections.\n"
            "With a scenario file (docs/scenarios.md) each connection plays its script and\n"
            "the scenario's server settings override the options below.\n"
            "\n"
            "      --validate          load each scenario file without running anything:\n"
            "                          \"FILE: ok (...)\" on stdout, or FILE:LINE:COLUMN: error\n"
            "                          on stderr; exit 1 if any file is broken\n"
            "      --listen HOST:PORT  bind address (default 127.0.0.1:0; port 0 = any free port;\n"
            "                          IPv6 as [::1]:0)\n"
            "      --port-file FILE    also write the listening line to FILE\n"
            "      --accept-key-env V  accept only the key in $V (default: any non-empty key)\n"
            "      --seed N            stream seed (default 1): same seed, same frames\n"
            "      --rate N            events per second per connection (default 100;\n"
            "                          'max' = as fast as the client reads)\n"
            "      --batch N           events per frame at most (default 10)\n"
            "      --limit N           events per connection, then stop streaming (0 = no limit)\n"
            "      --auth-timeout-ms N close unauthenticated connections after N ms (default 10000)\n"
            "      --drop-after N      drop the TCP connection of connection 1 after N events\n"
            "      --slow-consumer-bytes N\n"
            "                          stream on the server's clock and disconnect a client\n"
            "                          whose unread backlog passes N bytes with a\n"
            "                          slow_consumer status and close 1008 (1048576..\n"
            "                          1073741824; default off: the stream waits for the\n"
            "                          client).  With --rate max the server then generates\n"
            "                          as fast as it can\n"
            "      --plan-markets LIST the keys' plan: markets they may use, e.g. stocks,crypto\n"
            "                          (default all); a subscribe on another market's path\n"
            "                          gets a \"not authorized\" error for every channel\n"
            "      --plan-types LIST   the event types the plan includes, e.g. A,AM (default\n"
            "                          all); a channel of another type gets \"not authorized\"\n"
            "      --tls               serve wss:// with a generated self-signed certificate\n"
            "                          (its path is printed: pass it to clients as the CA)\n"
            "      --cert FILE --key FILE  use this certificate and key with --tls\n"
            "      --journal FILE      append every frame as a JSON line (keys redacted)\n"
            "      --journal-max BYTES the journal file's cap (default 1073741824): the line that\n"
            "                          would pass it becomes one last \"truncated\" line\n"
            "      --max-repeated-auth N  auth messages answered again on an authenticated\n"
            "                          connection (default 16); the next closes it (1008)\n"
            "%s"
            "      --duration S        exit after S seconds\n"
            "  -h, --help              this help\n"
            "      --version           print the version and exit\n"
            "\n"
            "A line \"polyws mock: handshakes: ...\" on stderr counts the connections closed or\n"
            "refused before their upgrade (timed out, evicted, refused), at most every 10 s\n"
            "while it happens and once at exit.\n"
            "\n"
            "Exit status:\n"
            "  0  stopped by SIGINT, SIGTERM or --duration; --validate: every file loaded\n"
            "  1  the server could not start (the address, the scenario, the certificate),\n"
            "     stdout could not be written (a reader that went away is not an error);\n"
            "     --validate: a file is broken\n"
            "  2  bad usage\n",
            pws_cli_hs_help);
}

/* A number option out of its range: one clear line, exit status 2. */
static int mock_bad_number(const char *opt, const char *value, const char *range)
{
    fprintf(stderr, "polyws mock: %s needs %s, not '%s'; see --help\n", opt, range, value);
    return 2;
}

/* --validate: loads each file, one line per file; 0 if all load, 1 otherwise. */
static int mock_validate(int n, char **files)
{
    if (n < 1) {
        fprintf(stderr, "polyws mock: --validate needs at least one scenario file; see --help\n");
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char err[1024];
        pwss_scenario *sc = pwss_load(files[i], err, sizeof err);
        if (!sc) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
            continue;
        }
        size_t conns = sc->nscripts + (sc->has_default ? 1 : 0);
        printf("%s: ok (%zu connection%s scripted, %zu assertion%s)\n", files[i], conns, conns == 1 ? "" : "s",
               sc->nassertions, sc->nassertions == 1 ? "" : "s");
        pwss_free(sc);
    }
    return pws_cli_stdout_done("mock", 0) ? 1 : rc;
}

int pws_cmd_mock(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},    {"port-file", required_argument, NULL, 'P'},
        {"accept-key-env", required_argument, NULL, 'A'}, {"seed", required_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},      {"batch", required_argument, NULL, 'b'},
        {"limit", required_argument, NULL, 'L'},     {"auth-timeout-ms", required_argument, NULL, 'T'},
        {"drop-after", required_argument, NULL, 'D'}, {"tls", no_argument, NULL, 't'},
        {"cert", required_argument, NULL, 'c'},      {"key", required_argument, NULL, 'k'},
        {"journal", required_argument, NULL, 'j'},   {"duration", required_argument, NULL, 'd'},
        {"validate", no_argument, NULL, 'V'},        {"help", no_argument, NULL, 'h'},
        {"slow-consumer-bytes", required_argument, NULL, 'C'},
        {"plan-markets", required_argument, NULL, 'M'}, {"plan-types", required_argument, NULL, 'Y'},
        {"journal-max", required_argument, NULL, 'J'}, {"max-repeated-auth", required_argument, NULL, 'R'},
        PWS_CLI_HS_LONGOPTS,                         PWS_CLI_VERSION_LONGOPT,
        {NULL, 0, NULL, 0}};
    pws_cli_hs_opts hs = {0};
    pwsm_options o;
    memset(&o, 0, sizeof o);
    const char *port_file = NULL;
    char host[256] = "127.0.0.1";
    double duration = 0;
    bool validate = false;
    optind = 1;
    int ch;
    char *end;
    uint64_t u;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int hr = pws_cli_hs_option("mock", ch, optarg, &hs);
        if (hr >= 0) {
            if (hr)
                return hr;
            continue;
        }
        switch (ch) {
        case 'l': {
            /* HOST:PORT; an IPv6 address as [ADDR]:PORT (or bare, split at the last colon) */
            const char *colon = strrchr(optarg, ':');
            const char *h = optarg;
            size_t hl = colon ? (size_t)(colon - optarg) : 0;
            if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
            }
            if (!colon || hl == 0 || hl >= sizeof host) {
                fprintf(stderr, "polyws mock: --listen needs HOST:PORT or [IPV6]:PORT, not '%s'\n", optarg);
                return 2;
            }
            memcpy(host, h, hl);
            host[hl] = '\0';
            long port = strtol(colon + 1, &end, 10);
            if (*end || end == colon + 1 || port < 0 || port > 65535) {
                fprintf(stderr, "polyws mock: invalid port in --listen '%s'\n", optarg);
                return 2;
            }
            o.port = (int)port;
            break;
        }
        case 'P': port_file = optarg; break;
        case 'A': {
            const char *k = getenv(optarg);
            if (!k || !*k) {
                fprintf(stderr, "polyws mock: environment variable %s is not set\n", optarg);
                return 2;
            }
            o.keys[0] = k;
            break;
        }
        case 'S':
            if (pws_cli_uint(optarg, 0, UINT64_MAX, &o.seed))
                return mock_bad_number("--seed", optarg, "0..18446744073709551615");
            break;
        case 'r':
            if (!strcmp(optarg, "max")) {
                o.events_per_sec = -1;
            } else {
                o.events_per_sec = strtod(optarg, &end);
                if (*end || !(o.events_per_sec > 0))
                    goto bad_num;
            }
            break;
        case 'b':
            if (pws_cli_uint(optarg, 1, PWSM_MAX_BATCH, &u))
                return mock_bad_number("--batch", optarg, "1..1000");
            o.batch_max = (uint32_t)u;
            break;
        case 'L':
            if (pws_cli_uint(optarg, 0, UINT64_MAX, &o.stream_limit))
                return mock_bad_number("--limit", optarg, "0 or more events");
            break;
        case 'T':
            if (pws_cli_uint(optarg, 1, 3600000, &u))
                return mock_bad_number("--auth-timeout-ms", optarg, "1..3600000");
            o.auth_timeout_ms = (uint32_t)u;
            break;
        case 'D':
            if (pws_cli_uint(optarg, 0, UINT32_MAX, &u))
                return mock_bad_number("--drop-after", optarg, "0..4294967295 events");
            o.scripts[0].after_events = (uint32_t)u;
            o.scripts[0].fault = PWSM_FAULT_DROP;
            o.nscripts = 1;
            break;
        case 'C':
            if (pws_cli_uint(optarg, PWSM_MIN_SLOW_CONSUMER_BYTES, PWSM_MAX_SLOW_CONSUMER_BYTES,
                             &o.slow_consumer_bytes))
                return mock_bad_number("--slow-consumer-bytes", optarg, "1048576..1073741824 bytes");
            break;
        case 'J':
            if (pws_cli_uint(optarg, PWSM_MIN_JOURNAL_FILE_BYTES, UINT64_MAX / 2, &o.journal_file_max_bytes))
                return mock_bad_number("--journal-max", optarg, "4096 bytes or more");
            break;
        case 'R':
            if (pws_cli_uint(optarg, 1, PWSM_MAX_REPEATED_AUTH, &u))
                return mock_bad_number("--max-repeated-auth", optarg, "1..1000000");
            o.max_repeated_auth = (uint32_t)u;
            break;
        case 'M': o.plan_markets = optarg; break;
        case 'Y': o.plan_types = optarg; break;
        case 't': o.tls = true; break;
        case 'c': o.cert_file = optarg; break;
        case 'k': o.key_file = optarg; break;
        case 'j': o.journal_path = optarg; break;
        case 'd': duration = strtod(optarg, &end); if (*end || duration <= 0) goto bad_num; break;
        case 'V': validate = true; break;
        case 'h': mock_usage(stdout); return pws_cli_stdout_done("mock", 0);
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        default: mock_usage(stderr); return 2;
        }
        continue;
    bad_num:
        fprintf(stderr, "polyws mock: invalid number '%s'; see --help\n", optarg);
        return 2;
    }
    if (validate)
        return mock_validate(argc - optind, argv + optind);
    if (optind < argc - 1) {
        fprintf(stderr, "polyws mock: one scenario file expected, got '%s' and '%s' (--validate takes "
                        "several)\n", argv[optind], argv[optind + 1]);
        return 2;
    }
    pwss_scenario *sc = NULL;
    if (optind < argc) {
        char lerr[1024];
        sc = pwss_load(argv[optind], lerr, sizeof lerr);
        if (!sc) {
            fprintf(stderr, "%s\n", lerr);
            return 1;
        }
        o.scenario = sc;
    }
    o.host = host;
    o.handshake_timeout_ms = hs.timeout_ms;
    o.max_pending = hs.max_pending;
    o.max_per_address = hs.max_per_address;
    pws_cli_set_fd_limit();
    /* Nothing reads a standalone mock's in-memory journal (polyws check judges from its own):
     * the smallest one, so a long --rate max run neither grows to 256 MiB nor pays a copy and
     * fresh pages per frame.  --journal FILE still gets every line. */
    o.journal_max_entries = 2;
    o.journal_max_bytes = 1;
    char err[512];
    pws_set_lws_log(PWS_LOG_ERROR, NULL, NULL); /* libwebsockets notices are noise here */
    pwsm_server *s = pwsm_start(&o, err, sizeof err);
    if (s && sc)
        fprintf(stderr, "polyws mock: playing scenario %s: %s\n", sc->name, sc->description);
    pwss_free(sc); /* pwsm_start copied what it needs */
    if (!s) {
        fprintf(stderr, "polyws mock: %s\n", err);
        return 1;
    }
    /* before anyone learns the URL: a harness may stop the mock as soon as it listens, and
     * still gets the connections line */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mock_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("listening %s\n", pwsm_url(s));
    if (pwsm_ca_file(s))
        printf("ca-file %s\n", pwsm_ca_file(s));
    fflush(stdout);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f) {
            fprintf(stderr, "polyws mock: cannot write %s: %s\n", port_file, strerror(errno));
            pwsm_stop(s);
            return 1;
        }
        fprintf(f, "listening %s\n", pwsm_url(s));
        fclose(f);
    }
    double waited = 0;
    pws_cli_hs_report report = {0};
    pwsm_handshake_stats hst;
    while (!mock_signal && (duration <= 0 || waited < duration)) {
        usleep(50000);
        waited += 0.05;
        pwsm_get_handshake_stats(s, &hst);
        pws_cli_hs_report_line(&report, "mock", NULL, &PWS_CLI_HS_COUNTS(hst), false);
    }
    pwsm_get_handshake_stats(s, &hst);
    pws_cli_hs_report_line(&report, "mock", NULL, &PWS_CLI_HS_COUNTS(hst), true);
    /* what a test of a client's retries counts: TCP attempts, and those that became WebSockets */
    printf("connections %u tcp %u websocket\n", pwsm_tcp_connections(s), pwsm_connections(s));
    pwsm_stop(s);
    return pws_cli_stdout_done("mock", 0);
}
