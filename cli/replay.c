/*
 * replay.c - `polyws replay TAPE`: serve the recorded server side of a tape.
 */
#include "commands.h"
#include "progress.h"
#include "wire/clock.h"

#include <polyws/replay.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t replay_signal;

static void replay_on_signal(int sig)
{
    replay_signal = sig;
}

static void replay_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws replay TAPE [--listen HOST:PORT] [--speed 1|N|max] [options]\n"
            "\n"
            "Serves the server side of a tape (from polyws record, a mock journal or a HAR\n"
            "conversion) to new clients: client n plays tape connection n.  Server frames go\n"
            "out in the recorded order; where the tape has a client message the replay waits\n"
            "for the client's and compares them (JSON as values, redacted fields match\n"
            "anything, subscribe params as sets); recorded closes and drops happen at the\n"
            "same points.  A client that deviates gets a report: expected vs got.  Reports\n"
            "never show a key: auth params are shown as ***, and the key a client sent in\n"
            "them (and $POLYWS_API_KEY, if set) is replaced by *** wherever it appears.\n"
            "The first line on stdout is \"listening ws://HOST:PORT\".\n"
            "\n"
            "      --listen HOST:PORT  bind address (default 127.0.0.1:0, any free port)\n"
            "      --port-file FILE    also write the listening line to FILE\n"
            "      --speed S           1 = recorded timing (default), N = N times faster\n"
            "                          (0.5 = half speed), max = as fast as the client reads\n"
            "      --wait-ms MS        how long to wait for an expected client message\n"
            "                          (default 10000)\n"
            "      --loop              play the tape again for every new client; never ends\n"
            "                          by itself\n"
            "      --duration S        exit after S seconds\n"
            "%s"
            "  -q, --quiet             only deviations and errors on stderr (no progress line)\n"
            "  -v, --verbose           log each client\n"
            "  -h, --help              this help\n"
            "      --version           print the version and exit\n"
            "\n"
            "A progress line (frames sent, bytes, rate, elapsed, connections played) is shown\n"
            "when stderr is a terminal.\n"
            "A line \"polyws replay: handshakes: ...\" counts the clients closed or refused before\n"
            "their upgrade request was complete (timed out, evicted, refused), at most every\n"
            "10 s while it happens and once at exit.\n"
            "\n"
            "Exit status:\n"
            "  0  every tape connection was played without a deviation (with --loop: stopped\n"
            "     by a signal or --duration without a deviation)\n"
            "  1  a deviation, a failure (the tape cannot be read, the address cannot be\n"
            "     bound, stdout cannot be written), or stopped before the end\n"
            "  2  bad usage\n",
            pws_cli_hs_help);
}

static int replay_quiet;
static pws_cli_meter replay_meter; /* the progress line (on a terminal): log lines erase it first */

static void replay_log(pws_log_level level, const char *msg, void *user)
{
    if (replay_quiet && level > PWS_LOG_ERROR)
        return;
    static const char *const names[] = {"", "error", "warning", "info", "debug"};
    fprintf(stderr, "%spolyws replay: %s: %s\n", pws_cli_meter_erase(&replay_meter),
            names[level <= PWS_LOG_DEBUG ? level : 0], msg);
}

/* The progress line (if the meter is on) with the replayer's counts. */
static void progress(const pwsr_replay_result *res)
{
    snprintf(replay_meter.note, sizeof replay_meter.note, "%u/%u connection%s played", res->finished,
             res->tape_connections, res->tape_connections == 1 ? "" : "s");
    pws_cli_meter_update(&replay_meter, res->frames_sent, res->bytes_sent);
}

int pws_cmd_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'}, {"port-file", required_argument, NULL, 'P'},
        {"speed", required_argument, NULL, 'S'},  {"wait-ms", required_argument, NULL, 'W'},
        {"loop", no_argument, NULL, 'L'},         {"duration", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         PWS_CLI_HS_LONGOPTS, PWS_CLI_VERSION_LONGOPT,
        {NULL, 0, NULL, 0}};
    pws_cli_hs_opts hs = {0};
    pwsr_replay_options o;
    memset(&o, 0, sizeof o);
    char host[256] = "127.0.0.1";
    const char *port_file = NULL;
    double duration = 0;
    int verbose = 0;
    char *end;
    replay_quiet = 0;
    memset(&replay_meter, 0, sizeof replay_meter);
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "d:qvh", longopts, NULL)) != -1) {
        int hr = pws_cli_hs_option("replay", ch, optarg, &hs);
        if (hr >= 0) {
            if (hr)
                return hr;
            continue;
        }
        switch (ch) {
        case 'l': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof host) {
                fprintf(stderr, "polyws replay: --listen needs HOST:PORT, not '%s'\n", optarg);
                return 2;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            long port = strtol(colon + 1, &end, 10);
            if (*end || end == colon + 1 || port < 0 || port > 65535) {
                fprintf(stderr, "polyws replay: invalid port in --listen '%s'\n", optarg);
                return 2;
            }
            o.port = (int)port;
            break;
        }
        case 'P': port_file = optarg; break;
        case 'S':
            if (!strcmp(optarg, "max")) {
                o.speed = -1;
            } else {
                o.speed = strtod(optarg, &end);
                if (*end || end == optarg || !(o.speed > 0) || o.speed > 1e6) {
                    fprintf(stderr, "polyws replay: --speed needs a factor > 0 or 'max', not '%s'\n", optarg);
                    return 2;
                }
            }
            break;
        case 'W': {
            long ms = strtol(optarg, &end, 10);
            if (*end || end == optarg || ms < 1 || ms > 3600000) {
                fprintf(stderr, "polyws replay: --wait-ms needs 1..3600000, not '%s'\n", optarg);
                return 2;
            }
            o.wait_ms = (uint32_t)ms;
            break;
        }
        case 'L': o.loop = true; break;
        case 'd':
            duration = strtod(optarg, &end);
            if (*end || end == optarg || !(duration > 0) || duration > 1e7) {
                fprintf(stderr, "polyws replay: --duration needs positive seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'q': replay_quiet = 1; break;
        case 'v': verbose++; break;
        case 'h': replay_usage(stdout); return pws_cli_stdout_done("replay", 0);
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        default: replay_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "polyws replay: give exactly one tape; see --help\n");
        return 2;
    }
    o.tape_path = argv[optind];
    o.host = host;
    o.handshake_timeout_ms = hs.timeout_ms;
    o.max_pending = hs.max_pending;
    o.max_per_address = hs.max_per_address;
    pws_cli_set_fd_limit();
    /* the key a user's client is likely to send: hidden from reports even before its auth */
    const char *env_key = getenv("POLYWS_API_KEY");
    if (env_key && *env_key)
        o.secrets[o.nsecrets++] = env_key;
    o.log_fn = replay_log;
    o.log_level = verbose >= 2 ? PWS_LOG_DEBUG : verbose ? PWS_LOG_INFO : PWS_LOG_WARN;
    signal(SIGPIPE, SIG_IGN);
    pws_set_lws_log(PWS_LOG_ERROR, replay_log, NULL);
    char err[512];
    pwsr_replayer *rp = pwsr_replay_start(&o, err, sizeof err);
    if (!rp) {
        fprintf(stderr, "polyws replay: %s\n", err);
        return 1;
    }
    printf("listening %s\n", pwsr_replay_url(rp));
    fflush(stdout);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f) {
            fprintf(stderr, "polyws replay: cannot write %s: %s\n", port_file, strerror(errno));
            pwsr_replay_stop(rp);
            return 1;
        }
        fprintf(f, "listening %s\n", pwsr_replay_url(rp));
        fclose(f);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = replay_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t t0_us = pws__mono_us();
    pws_cli_meter_start(&replay_meter, pws_cli_meter_wanted(replay_quiet, -1), "replaying", "frames");
    bool done = false;
    pws_cli_hs_report report = {0};
    pwsr_replay_result res;
    while (!replay_signal) {
        if (pwsr_replay_wait(rp, 100)) {
            done = true;
            break;
        }
        pwsr_replay_get_result(rp, &res);
        pws_cli_hs_report_line(&report, "replay", replay_meter.on ? pws_cli_meter_erase(&replay_meter) : NULL,
                               &PWS_CLI_HS_COUNTS(res.handshakes), false);
        progress(&res); /* redraws at most every PWS_CLI_METER_MS */
        double el = (double)(pws__mono_us() - t0_us) / 1e6;
        if (duration > 0 && el >= duration)
            break;
    }
    pwsr_replay_get_result(rp, &res);
    progress(&res);
    pws_cli_meter_end(&replay_meter, true);
    pws_cli_hs_report_line(&report, "replay", NULL, &PWS_CLI_HS_COUNTS(res.handshakes), true);
    pwsr_replay_stop(rp);
    if (!replay_quiet || res.deviations)
        fprintf(stderr,
                "polyws replay: %u of %u tape connection%s played, %llu frames sent, %llu client messages "
                "matched, %u deviation%s\n",
                res.finished, res.tape_connections, res.tape_connections == 1 ? "" : "s",
                (unsigned long long)res.frames_sent, (unsigned long long)res.client_messages, res.deviations,
                res.deviations == 1 ? "" : "s");
    if (res.deviations) {
        fprintf(stderr, "polyws replay: first deviation: %s\n", res.report);
        return 1;
    }
    if (!done && !o.loop) {
        if (!replay_quiet)
            fprintf(stderr, "polyws replay: stopped before every tape connection was played\n");
        return 1;
    }
    return pws_cli_stdout_done("replay", 0);
}
