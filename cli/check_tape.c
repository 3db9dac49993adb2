/*
 * check_tape.c - `polyws check --tape TAPE --golden EXPECTED`: a deterministic
 * regression run.  The replayer (polyws/replay.h) plays the server side of a
 * recorded session on a loopback port, the client under test runs against it
 * (check_common.c's runner), and the client's stdout must equal EXPECTED byte
 * for byte; --update-golden writes it there instead.  A client that deviates
 * from the recorded messages is stopped at once and fails with expected vs
 * got.  One line for the tape, then "N passed, M failed".
 *
 * The client's environment: everything inherited except POLYWS_* variables,
 * plus POLYWS_URL, POLYWS_API_KEY (a fresh throwaway: tapes hold no key, and
 * it is scrubbed from what this prints), POLYWS_SUBSCRIBE (--subscribe, else
 * what the tape's first connection subscribed, else A.AAPL), POLYWS_COUNT (the
 * market-data events on the tape) and POLYWS_BACKOFF_MS=100.
 */
#include "check_common.h"
#include "commands.h"
#include "wire/buf.h"

#include <polyws/polyws.h>
#include <polyws/replay.h>
#include <polyws/tape.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the client needs to know about a tape: the channels connection 1
 * subscribed (as recorded, comma-separated) and how many market-data events
 * the server side carries (so a client can stop by count). */
typedef struct tape_facts {
    char subscribe[4096];    /* first subscribe params on connection 1, "" if none */
    uint64_t events;         /* A/AM/T/Q/other events in server text frames */
    uint32_t connections;    /* highest connection ordinal */
} tape_facts;

static int count_market(const pws_event *ev, void *user)
{
    uint64_t *n = user;
    if (ev->type == PWS_EV_AGG || ev->type == PWS_EV_TRADE || ev->type == PWS_EV_QUOTE ||
        ev->type == PWS_EV_OTHER)
        (*n)++;
    return 0;
}

static int tape_scan(const char *path, tape_facts *tf, char *err, size_t errcap)
{
    memset(tf, 0, sizeof *tf);
    pws_tape_reader *r;
    if (pws_tape_reader_open(path, &r, err, errcap) != 0)
        return -1;
    pws_tape_frame f;
    int rc;
    while ((rc = pws_tape_next(r, &f)) == 1) {
        if (f.conn > tf->connections)
            tf->connections = f.conn;
        if (f.kind != PWS_TAPE_TEXT)
            continue;
        if (f.dir == 's') {
            pws_parse_frame((const char *)f.data, f.len, NULL, count_market, &tf->events);
        } else if (f.dir == 'c' && f.conn == 1 && !tf->subscribe[0]) {
            cJSON *j = cJSON_ParseWithLength((const char *)f.data, f.len);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "action");
            const cJSON *prm = cJSON_GetObjectItemCaseSensitive(j, "params");
            if (cJSON_IsString(a) && !strcmp(a->valuestring, "subscribe") && cJSON_IsString(prm))
                snprintf(tf->subscribe, sizeof tf->subscribe, "%s", prm->valuestring);
            cJSON_Delete(j);
        }
    }
    if (rc < 0)
        snprintf(err, errcap, "%s", pws_tape_reader_error(r));
    pws_tape_reader_close(r);
    return rc < 0 ? -1 : 0;
}

#define SLURP_CHUNK 65536 /* bytes read at a time */

/* Reads a whole file (at most max bytes); NULL if unreadable or larger. */
static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        /* room for one chunk more than max, so that a larger file shows itself */
        if (n > max || pws__grow(&buf, n, &cap, SLURP_CHUNK, max + SLURP_CHUNK)) {
            free(buf);
            fclose(f);
            return NULL;
        }
        size_t got = fread(buf + n, 1, SLURP_CHUNK, f);
        n += got;
        if (got < SLURP_CHUNK)
            break;
    }
    fclose(f);
    if (n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* First differing line of two texts: its 1-based number, and both lines. */
static size_t first_diff_line(const char *a, size_t alen, const char *b, size_t blen,
                              const char **la, size_t *lla, const char **lb, size_t *llb)
{
    size_t line = 1, i = 0, sa = 0, sb = 0;
    while (i < alen && i < blen && a[i] == b[i]) {
        if (a[i] == '\n') {
            line++;
            sa = sb = i + 1;
        }
        i++;
    }
    const char *ea = memchr(a + sa, '\n', alen - sa), *eb = memchr(b + sb, '\n', blen - sb);
    *la = a + sa;
    *lla = (ea ? (size_t)(ea - a) : alen) - sa;
    *lb = b + sb;
    *llb = (eb ? (size_t)(eb - b) : blen) - sb;
    return line;
}

static void tape_usage(FILE *f)
{
    fprintf(f,
            "usage: polyws check --tape TAPE --golden EXPECTED.jsonl [options]\n"
            "\n"
            "Deterministic regression run: replays the server side of TAPE (polyws record)\n"
            "to the client and compares the client's stdout with EXPECTED byte for byte.\n"
            "\n"
            "      --client CMD       client under test (default: this polyws's\n"
            "                         `watch -q --format jsonl`)\n"
            "      --update-golden    write the client's output to EXPECTED instead\n"
            "      --speed X          replay speed: max (default), 1 = recorded timing, N\n"
            "      --subscribe LIST   POLYWS_SUBSCRIBE (default: what the tape's first\n"
            "                         connection subscribed)\n"
            "      --timeout S        client timeout in seconds (default 60)\n"
            "  -h, --help             this help\n"
            "      --version          print the version and exit\n"
            "\n"
            "The client gets POLYWS_URL, POLYWS_API_KEY (a throwaway: tapes hold no key),\n"
            "POLYWS_SUBSCRIBE and POLYWS_COUNT (the market-data events on the tape).  A\n"
            "client that deviates from the recorded messages fails with expected vs got.\n"
            "Last line: \"N passed, M failed\".\n"
            "\n"
            "Exit status:\n"
            "  0  the client's output matched EXPECTED (or --update-golden wrote it), also\n"
            "     when the reader of stdout went away\n"
            "  1  a mismatch, a deviation from the tape, the client failed, the tape or\n"
            "     EXPECTED cannot be read or written, stdout cannot be written\n"
            "  2  bad usage\n");
}

static void replay_log_silent(pws_log_level level, const char *msg, void *user)
{
    (void)level, (void)msg, (void)user;
}

/* A client that deviated from the tape will not get further: stop it at once. */
static bool replay_deviated(void *arg)
{
    pwsr_replay_result res;
    pwsr_replay_get_result(arg, &res);
    return res.deviations > 0;
}

int chk_tape_mode(int argc, char **argv, const char *self)
{
    static const struct option longopts[] = {
        {"tape", required_argument, NULL, 'T'},   {"golden", required_argument, NULL, 'G'},
        {"update-golden", no_argument, NULL, 'U'}, {"client", required_argument, NULL, 'c'},
        {"speed", required_argument, NULL, 'S'},  {"subscribe", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        PWS_CLI_VERSION_LONGOPT,                  {NULL, 0, NULL, 0}};
    const char *tape = NULL, *golden = NULL, *client_cmd = NULL, *subscribe = NULL;
    bool update = false;
    double speed = -1, timeout_s = 60;
    char *end;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'T': tape = optarg; break;
        case 'G': golden = optarg; break;
        case 'U': update = true; break;
        case 'c': client_cmd = optarg; break;
        case 's': subscribe = optarg; break;
        case 'S':
            if (!strcmp(optarg, "max")) {
                speed = -1;
            } else {
                speed = strtod(optarg, &end);
                if (*end || !(speed > 0) || speed > 1e6) {
                    fprintf(stderr, "polyws check: --speed needs max or a positive factor, not '%s'\n", optarg);
                    return 2;
                }
            }
            break;
        case 't':
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0) || timeout_s > CHECK_MAX_TIMEOUT_S) {
                fprintf(stderr, "polyws check: --timeout needs positive seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': tape_usage(stdout); return pws_cli_stdout_done("check", 0);
        case PWS_CLI_OPT_VERSION: return pws_cli_version();
        default: tape_usage(stderr); return 2;
        }
    }
    if (!tape || !golden || optind < argc) {
        fprintf(stderr, "polyws check: --tape needs --golden FILE and no scenario arguments; see "
                        "`polyws check --tape X --help`\n");
        return 2;
    }
    double t0 = chk_mono_s();
    char err[512] = "";
    tape_facts tf;
    if (tape_scan(tape, &tf, err, sizeof err) != 0) {
        printf("FAIL %s (0.0 s): cannot read the tape: %s\n0 passed, 1 failed\n", tape, err);
        return 1;
    }
    char key[64];
    chk_random_key(key, sizeof key);
    pwsr_replay_options ro;
    memset(&ro, 0, sizeof ro);
    ro.tape_path = tape;
    ro.secrets[ro.nsecrets++] = key; /* the replayer's report never holds it either */
    ro.speed = speed;
    ro.log_fn = replay_log_silent; /* deviations are reported in the verdict below */
    ro.log_level = PWS_LOG_ERROR;
    pwsr_replayer *rp = pwsr_replay_start(&ro, err, sizeof err);
    if (!rp) {
        printf("FAIL %s (0.0 s): replay did not start: %s\n0 passed, 1 failed\n", tape, err);
        return 1;
    }
    char *vars[6] = {0};
    size_t nv = 0;
    vars[nv++] = chk_xasprintf("POLYWS_URL=%s%s", pwsr_replay_url(rp), CHECK_MARKET_PATH);
    vars[nv++] = chk_xasprintf("POLYWS_API_KEY=%s", key);
    vars[nv++] =
        chk_xasprintf("POLYWS_SUBSCRIBE=%s", subscribe ? subscribe : tf.subscribe[0] ? tf.subscribe : "A.AAPL");
    vars[nv++] = chk_xasprintf("POLYWS_COUNT=%llu", (unsigned long long)(tf.events ? tf.events : 1));
    vars[nv++] = chk_xasprintf("POLYWS_BACKOFF_MS=100");
    char **env = chk_client_env(vars);
    char *cmd = NULL;
    if (client_cmd) {
        cmd = strdup(client_cmd);
    } else {
        char *q = chk_shell_quote(self);
        cmd = q ? chk_xasprintf("exec %s watch -q --format jsonl", q) : NULL;
        free(q);
    }
    char dir[] = "/tmp/polyws-tape.XXXXXX";
    bool have_dir = mkdtemp(dir) != NULL;
    char *out_path = have_dir ? chk_xasprintf("%s/out", dir) : NULL;
    char *err_path = have_dir ? chk_xasprintf("%s/err", dir) : NULL;
    int exit_code = 1;
    const char *name = tape;
    if (!env || !cmd || !out_path || !err_path) {
        printf("FAIL %s (0.0 s): out of memory or no temporary directory\n0 passed, 1 failed\n", name);
        goto done;
    }
    chk_client_run cr;
    memset(&cr, 0, sizeof cr);
    chk_run_client(cmd, env, out_path, err_path, (uint32_t)(timeout_s * 1000), &cr, replay_deviated, rp);
    pwsr_replay_wait(rp, 2000);
    pwsr_replay_result res;
    pwsr_replay_get_result(rp, &res);
    double secs = chk_mono_s() - t0;
    const char *secrets[2] = {key, NULL};
    char *err_tail = chk_file_tail(err_path, 2048, 10, secrets);

    chk_text why = {0};
    if (!cr.r.started)
        chk_text_printf(&why, "client not started: %s", cr.r.start_error);
    else if (res.deviations)
        chk_text_printf(&why, "client deviated from the tape: %s", res.report);
    else if (cr.r.timed_out)
        chk_text_printf(&why, "client still running after %.0f s (stopped)", timeout_s);
    else if (!cr.r.exited)
        chk_text_printf(&why, "client killed by signal %d", cr.r.term_signal);
    else if (cr.r.exit_code != 0)
        chk_text_printf(&why, "client exited with %d", cr.r.exit_code);
    size_t olen = 0;
    char *out = why.p ? NULL : slurp(out_path, 1u << 30, &olen);
    if (!why.p && !out)
        chk_text_printf(&why, "cannot read the client's output");
    if (!why.p && update) {
        FILE *g = fopen(golden, "wb");
        if (!g || fwrite(out, 1, olen, g) != olen || fclose(g) != 0) {
            chk_text_printf(&why, "cannot write %s: %s", golden, strerror(errno));
        } else {
            size_t lines = 0;
            for (size_t i = 0; i < olen; i++)
                lines += out[i] == '\n';
            printf("golden updated: %s (%zu lines)\n", golden, lines);
        }
    } else if (!why.p) {
        size_t glen = 0;
        char *gold = slurp(golden, 1u << 30, &glen);
        if (!gold) {
            chk_text_printf(&why, "cannot read the golden file %s (use --update-golden to create it)", golden);
        } else if (glen != olen || memcmp(gold, out, olen) != 0) {
            const char *la, *lb;
            size_t lla, llb;
            size_t line = first_diff_line(gold, glen, out, olen, &la, &lla, &lb, &llb);
            chk_text_printf(&why, "output differs from %s at line %zu\n    expected: %.*s\n    got:      %.*s",
                        golden, line, (int)(lla > 200 ? 200 : lla), la, (int)(llb > 200 ? 200 : llb), lb);
        }
        free(gold);
    }
    free(out);
    if (why.p) {
        chk_scrub_inplace(why.p, secrets);
        printf("FAIL %s (%.1f s): %s\n", name, secs, why.p);
        if (err_tail && *err_tail) {
            printf("    client stderr (last lines):\n");
            chk_print_indented(stdout, err_tail, 6);
        }
        printf("0 passed, 1 failed\n");
    } else {
        printf("PASS %s (%.1f s): %llu events, %u connection(s) replayed\n1 passed, 0 failed\n", name,
               secs, (unsigned long long)tf.events, res.finished);
        exit_code = 0;
    }
    free(why.p);
    free(err_tail);
done:
    chk_client_cleanup(out_path, err_path, cmd, env, vars, nv);
    if (have_dir)
        rmdir(dir);
    pwsr_replay_stop(rp);
    /* stdout that failed: its reader went away (the verdict stands, like git and curl), or 1 */
    if (ferror(stdout) || fflush(stdout) == EOF) {
        int rc = pws_cli_stdout_done("check", 0);
        return rc ? rc : exit_code; /* a mismatch is never hidden behind a pipe */
    }
    return exit_code;
}

