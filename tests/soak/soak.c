/*
 * soak.c - the chaos soak: random faults from the scenario library against
 * libpolyws with the block policy, for minutes, checking that no trade is lost
 * or duplicated, that the connector reconnects as the faults imply, and that
 * its memory stays flat (docs/soak.md).
 *
 *   soak [--minutes M | --seconds S] [--seed N] [--warmup S] [--max-rss-growth PCT]
 *        [--no-tls] [--verbose]
 *
 * Each epoch starts the mock (libpwsmock) in this process with a generated
 * scenario (soak_plan.c), runs a connector against it until it is
 * authenticated on the connection after the last fault, stops both and
 * judges the epoch from the mock's journal (soak_oracle.c).  The resident set
 * is sampled after each epoch, once everything of it is freed.  Prints the
 * seed first and a summary last; exits 0 if every check passed, 1 if one
 * failed, 2 on a usage or setup error.
 */
#include "soak.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <polyws/scenario.h>

#define LOG_RING 32               /* last log lines kept to show with a failed epoch */
#define LOG_LINE 320              /* bytes of one kept log line */
#define EPOCH_BASE_TIMEOUT_S 60   /* an epoch's time limit: this plus three times its planned time */
#define WARMUP_SHARE 0.2          /* default warm-up: this share of the run ... */
#define WARMUP_MAX_S 120.0        /* ... at most this long */
#define WARMUP_MIN_EPOCHS 3       /* and never fewer epochs (the first one goes over wss: TLS set-up) */
#define SOAK_MALLOC_THRESHOLD (128 * 1024) /* glibc's mmap and trim thresholds, held at their start value */
#define SOAK_API_KEY "soak-key-0123456789" /* the mock accepts any non-empty key */
#define SOAK_PING_MS 250          /* the connector's heartbeat ping ... */
#define SOAK_PONG_TIMEOUT_MS 2000 /* ... and how long a silent connection lives: well over the 200 ms
                                     short stall and 150 ms trickle gaps, short for the stall faults */

/* Command-line settings. */
typedef struct settings {
    double seconds;         /* how long to start new epochs */
    uint64_t seed;          /* the plan's seed */
    double warmup_s;        /* RSS baseline taken at the first epoch end after this; < 0: default */
    double max_growth_pct;  /* allowed RSS growth from the baseline to the end */
    bool tls;               /* some epochs over wss:// */
    bool verbose;           /* one line per epoch and the connector's warnings */
    uint32_t only_epoch;    /* > 0: play only this epoch of the plan, --repeat times */
    uint32_t repeat;        /* with only_epoch: how many times (default 1) */
} settings;

/* The current epoch's client side: the delivery thread writes it, the main thread reads the
 * atomics while it runs and the rest after pws_destroy (which joins the thread). */
static soak_seen seen;              /* what the client saw in the current epoch */
static uint32_t seen_epoch;         /* the epoch whose symbols count */
static uint32_t consumer_ns;        /* the epoch's consumer time per event */
static uint64_t consumer_debt_ns;   /* consumer time owed, paid in sleeps of whole milliseconds */

/* Recent log lines of the connector and libwebsockets (any thread). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the four below */
static char log_ring[LOG_RING][LOG_LINE]; /* the last LOG_RING lines */
static unsigned log_next;           /* where the next line goes (mod LOG_RING) */
static bool log_echo;               /* --verbose: also to stderr */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static void log_sink(pws_log_level level, const char *msg, void *user)
{
    static const char *const names[] = {"", "error", "warn", "info", "debug"};
    pthread_mutex_lock(&log_mu);
    snprintf(log_ring[log_next % LOG_RING], LOG_LINE, "%s: %s", names[level <= 4 ? level : 0], msg);
    log_next++;
    if (log_echo)
        fprintf(stderr, "  log %s: %s\n", names[level <= 4 ? level : 0], msg);
    pthread_mutex_unlock(&log_mu);
}

/* Prints the kept log lines (with a failed epoch). */
static void log_dump(void)
{
    pthread_mutex_lock(&log_mu);
    unsigned n = log_next < LOG_RING ? log_next : LOG_RING;
    for (unsigned i = log_next - n; i != log_next; i++)
        fprintf(stderr, "    %s\n", log_ring[i % LOG_RING]);
    pthread_mutex_unlock(&log_mu);
}

/* One delivered event (delivery thread). */
static void record(const pws_event *ev)
{
    seen.delivered++;
    switch (ev->type) {
    case PWS_EV_TRADE: {
        uint32_t tag;
        bool other;
        if (soak_tag(ev->u.trade.sym, seen_epoch, &tag, &other)) {
            if (seen.nkeys < SOAK_MAX_KEYS)
                seen.keys[seen.nkeys++] = (soak_key){tag, ev->u.trade.q};
            else
                seen.keys_overflow++;
        } else if (other) {
            seen.stale++;
        }
        break;
    }
    case PWS_EV_PARSE_ERROR:
        seen.parse_errors++;
        break;
    case PWS_EV_OTHER:
        seen.others++;
        break;
    case PWS_EV_CONNECTION: {
        const pws_conn_event *c = &ev->u.conn;
        if (seen.nlife < SOAK_MAX_LIFE)
            seen.life[seen.nlife++] = (soak_life){c->state, ev->conn, c->err, c->close_code, c->delay_ms};
        if (c->state == PWS_CONN_OPEN)
            __atomic_add_fetch(&seen.opens, 1, __ATOMIC_RELEASE);
        if (c->state == PWS_CONN_AUTHENTICATED)
            __atomic_add_fetch(&seen.authenticated, 1, __ATOMIC_RELEASE);
        break;
    }
    default:
        break;
    }
}

/* A consumer slower than the stream in some epochs, so that the queue fills and the block
 * policy holds the reads: consumer_ns per event, slept a millisecond at a time. */
static void consume(size_t n)
{
    consumer_debt_ns += (uint64_t)n * consumer_ns;
    if (consumer_debt_ns >= 1000000) {
        sleep_ms((unsigned)(consumer_debt_ns / 1000000));
        consumer_debt_ns %= 1000000;
    }
}

static void on_event(const pws_event *ev, void *user)
{
    record(ev);
    consume(1);
}

static void on_batch(const pws_event *evs, size_t n, void *user)
{
    for (size_t i = 0; i < n; i++)
        record(&evs[i]);
    consume(n);
}

/* VmRSS of this process in KiB, 0 if unreadable. */
static unsigned long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Totals over the run (the soak_result fields summed, and counts of what was played). */
typedef struct totals {
    uint32_t epochs;              /* epochs judged */
    uint32_t failed_epochs;       /* of them, those with a problem */
    uint32_t connections;         /* connections played, the handshake-only ones included */
    uint32_t tls_epochs;          /* epochs over wss:// */
    uint32_t blocked_epochs;      /* epochs whose queue filled (the block policy held the reads) */
    uint64_t expected, received, lost, duplicated, unexpected, out_of_order; /* trades, see soak_result */
    uint64_t reconnects_expected, reconnects_seen; /* see soak_result */
    uint64_t max_conn_waits, max_conn_waits_ok;    /* see soak_result */
    uint64_t parse_errors_expected, parse_errors_seen; /* malformed frames and elements, and their errors */
    uint64_t others_expected, others_seen;          /* unknown-type events sent and delivered */
    uint64_t end_counts[SOAK_END__COUNT];  /* connections per ending fault */
    uint64_t mid_counts[SOAK_MID__COUNT];  /* segments per fault within a connection */
    size_t queue_high_water_max;  /* the largest queue high water of any epoch */
} totals;

/* The seconds an epoch may take: its paced streams, trickles, stalls and waits, three times
 * over (a loaded machine, a sanitizer build), plus EPOCH_BASE_TIMEOUT_S. */
static double epoch_limit_s(const soak_plan *p)
{
    double t = 0;
    for (uint32_t i = 0; i < p->nconns; i++) {
        const soak_conn *c = &p->conns[i];
        for (uint32_t s = 0; s <= c->nsegs; s++) {
            const soak_stream *st = s < c->nsegs ? &c->seg_stream[s] : &c->last;
            if (st->rate)
                t += (double)st->count / st->rate;
            if (s < c->nsegs && c->seg_mid[s] == SOAK_MID_TRICKLE)
                t += 0.15 * c->seg_variant[s];
        }
        t += c->end == SOAK_END_STALL ? 3.0 : 0.5;
    }
    t += (double)p->planned_events * p->consumer_ns / 1e9;
    return EPOCH_BASE_TIMEOUT_S + 3 * t;
}

/* Plays one epoch; returns false if it failed (the reason is printed). */
static bool run_epoch(const settings *set, soak_plan *p, soak_key *scratch, totals *tot)
{
    char err[512];
    size_t ylen = 0;
    char *yaml = soak_plan_yaml(p, &ylen);
    if (!yaml) {
        fprintf(stderr, "soak: epoch %u: out of memory writing its scenario\n", p->epoch);
        return false;
    }
    char name[64];
    snprintf(name, sizeof name, "soak-epoch-%u.yaml", p->epoch);
    pwss_scenario *sc = pwss_load_mem(yaml, ylen, name, err, sizeof err);
    if (!sc) {
        fprintf(stderr, "soak: epoch %u: the generated scenario does not load: %s\n", p->epoch, err);
        if (set->verbose)
            fprintf(stderr, "%s", yaml);
        free(yaml);
        return false;
    }
    pwsm_options mo = {0};
    mo.scenario = sc;
    mo.seed = p->seed;
    pwsm_server *srv = pwsm_start(&mo, err, sizeof err);
    pwss_free(sc);
    if (!srv) {
        fprintf(stderr, "soak: epoch %u: the mock does not start: %s\n", p->epoch, err);
        free(yaml);
        return false;
    }
    char url[256];
    snprintf(url, sizeof url, "%s/stocks", pwsm_url(srv));

    memset(&seen, 0, sizeof seen);
    seen.keys = scratch + SOAK_MAX_KEYS; /* the second half of the scratch block */
    seen_epoch = p->epoch;
    consumer_ns = p->consumer_ns;
    consumer_debt_ns = 0;

    pws_options o = {0};
    o.url = url;
    o.api_key = SOAK_API_KEY;
    o.ca_file = pwsm_ca_file(srv);
    o.overflow = PWS_OVERFLOW_BLOCK;
    o.queue_capacity = p->queue_capacity;
    if (p->batch_max) {
        o.on_batch = on_batch;
        o.batch_max = p->batch_max;
    } else {
        o.on_event = on_event;
    }
    o.connect_timeout_ms = 5000;
    o.auth_timeout_ms = 5000;
    o.ping_interval_ms = SOAK_PING_MS;
    o.pong_timeout_ms = SOAK_PONG_TIMEOUT_MS;
    o.backoff.base_ms = 20;
    o.backoff.cap_ms = 200;
    o.backoff.max_connections_delay_ms = SOAK_MAX_CONNECTION_DELAY_MS;
    o.log_fn = log_sink;
    o.log_level = PWS_LOG_WARN;
    pws_connector *c = NULL;
    int rc = pws_create(&o, &c, err, sizeof err);
    if (rc == PWS_OK)
        rc = pws_subscribe(c, "LULD.SOAK");
    if (rc == PWS_OK)
        rc = pws_start(c);
    if (rc != PWS_OK) {
        fprintf(stderr, "soak: epoch %u: the connector does not start: %s\n", p->epoch,
                c ? pws_last_error(c) : err);
        pws_destroy(c);
        pwsm_stop(srv);
        free(yaml);
        return false;
    }

    /* until the connector is authenticated on the connection after the last fault */
    uint32_t want = p->nconns + 1;
    double limit = epoch_limit_s(p), t0 = now_s();
    bool stuck = false;
    while (__atomic_load_n(&seen.opens, __ATOMIC_ACQUIRE) < want ||
           __atomic_load_n(&seen.authenticated, __ATOMIC_ACQUIRE) < want) {
        if (pws_finished(c))
            break;
        if (now_s() - t0 > limit) {
            stuck = true;
            break;
        }
        sleep_ms(5);
    }
    pws_stats st;
    pws_get_stats(c, &st);
    pws_destroy(c); /* stops, delivers what is queued, joins both threads */

    soak_result r;
    bool ok = soak_judge(p, srv, &seen, scratch, &r);
    pwsm_stop(srv);
    if (stuck && ok) {
        ok = false;
        snprintf(r.first_problem, sizeof r.first_problem,
                 "not authenticated on connection %u within %.0f s (%u opened, %u authenticated)", want, limit,
                 seen.opens, seen.authenticated);
    }

    tot->epochs++;
    tot->connections += p->nconns + 1;
    tot->tls_epochs += p->tls;
    tot->blocked_epochs += st.queue_high_water >= p->queue_capacity;
    if (st.queue_high_water > tot->queue_high_water_max)
        tot->queue_high_water_max = st.queue_high_water;
    tot->expected += r.expected;
    tot->received += r.received;
    tot->lost += r.lost;
    tot->duplicated += r.duplicated;
    tot->unexpected += r.unexpected;
    tot->out_of_order += r.out_of_order;
    tot->reconnects_expected += r.reconnects_expected;
    tot->reconnects_seen += r.reconnects_seen;
    tot->max_conn_waits += r.max_conn_waits;
    tot->max_conn_waits_ok += r.max_conn_waits_ok;
    tot->parse_errors_expected += r.parse_errors_expected;
    tot->parse_errors_seen += seen.parse_errors;
    tot->others_expected += r.others_expected;
    tot->others_seen += seen.others;
    for (uint32_t i = 0; i < p->nconns; i++) {
        tot->end_counts[p->conns[i].end]++;
        for (uint32_t s = 0; s < p->conns[i].nsegs; s++)
            tot->mid_counts[p->conns[i].seg_mid[s]]++;
    }
    char setup[160];
    snprintf(setup, sizeof setup, "%u connections, %s, queue %zu (high water %zu), %s, consumer %.0f us/event",
             p->nconns, p->tls ? "wss" : "ws", p->queue_capacity, st.queue_high_water,
             p->batch_max ? "on_batch" : "on_event", p->consumer_ns / 1000.0);
    if (!ok) {
        tot->failed_epochs++;
        fprintf(stderr, "soak: epoch %u FAILED: %s\n", p->epoch, r.first_problem);
        fprintf(stderr, "  (%s; expected %llu trades, received %llu, lost %llu, duplicated %llu, unexpected %llu);"
                " last log lines:\n", setup, (unsigned long long)r.expected, (unsigned long long)r.received,
                (unsigned long long)r.lost, (unsigned long long)r.duplicated, (unsigned long long)r.unexpected);
        log_dump();
        if (set->verbose)
            fprintf(stderr, "  its scenario:\n%s", yaml);
    } else if (set->verbose) {
        fprintf(stderr, "soak: epoch %u ok: %s, %llu trades, %.1f s\n", p->epoch, setup,
                (unsigned long long)r.expected, now_s() - t0);
    }
    free(yaml);
    return ok;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: soak [--minutes M | --seconds S] [--seed N] [--warmup S] [--max-rss-growth PCT]\n"
            "            [--no-tls] [--verbose]\n"
            "Plays random faults from the scenario library (drops, stalls, close codes, max_connections,\n"
            "malformed frames, slow trickles) on the mock against libpolyws with the block policy, epoch\n"
            "after epoch, and checks: no trade lost, duplicated or reordered; reconnects as the faults\n"
            "imply; resident memory growth after the warm-up under PCT %% (see docs/soak.md).\n"
            "  --minutes M, --seconds S  how long to start new epochs (default 10 minutes)\n"
            "  --seed N                  the plan's seed (default: from the clock; printed first)\n"
            "  --warmup S                RSS baseline at the end of the first epoch after S seconds\n"
            "                            and after at least 3 epochs\n"
            "                            (default 20 %% of the run, at most 120 s)\n"
            "  --max-rss-growth PCT      allowed growth from that baseline to the end (default 10)\n"
            "  --no-tls                  plain ws:// only (default: the first epoch and about one in four\n"
            "                            over wss://)\n"
            "  --verbose                 a line per epoch and the connector's warnings on stderr\n"
            "  --epoch N [--repeat R]    play only epoch N of the seed's plan (R times; default 1), to\n"
            "                            replay a failed epoch; RSS is not checked\n"
            "Exit status: 0 all checks passed, 1 a check failed, 2 usage or setup error.\n");
}

/* A positive number from argv; false (with a message) if it is not one. */
static bool number_arg(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e7) {
        fprintf(stderr, "soak: %s wants a positive number, not '%s'\n", opt, s);
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, settings *set)
{
    set->seconds = 600;
    set->seed = 0;
    set->warmup_s = -1;
    set->max_growth_pct = 10;
    set->tls = true;
    bool seeded = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--no-tls")) {
            set->tls = false;
        } else if (!strcmp(a, "--verbose")) {
            set->verbose = true;
        } else if (strcmp(a, "--minutes") && strcmp(a, "--seconds") && strcmp(a, "--warmup") &&
                   strcmp(a, "--max-rss-growth") && strcmp(a, "--seed") && strcmp(a, "--epoch") &&
                   strcmp(a, "--repeat")) {
            fprintf(stderr, "soak: unknown option %s\n", a);
            usage(stderr);
            return -1;
        } else if (!v) {
            fprintf(stderr, "soak: %s wants a value\n", a);
            return -1;
        } else if (!strcmp(a, "--minutes") || !strcmp(a, "--seconds")) {
            if (!number_arg(a, v, &x))
                return -1;
            set->seconds = a[2] == 'm' ? x * 60 : x;
            i++;
        } else if (!strcmp(a, "--warmup")) {
            if (!number_arg(a, v, &x))
                return -1;
            set->warmup_s = x;
            i++;
        } else if (!strcmp(a, "--max-rss-growth")) {
            if (!number_arg(a, v, &x))
                return -1;
            set->max_growth_pct = x;
            i++;
        } else if (!strcmp(a, "--epoch") || !strcmp(a, "--repeat")) {
            if (!number_arg(a, v, &x))
                return -1;
            if (x < 1 || x > 1e6 || x != (double)(uint32_t)x) {
                fprintf(stderr, "soak: %s wants a whole number from 1 to 1000000, not '%s'\n", a, v);
                return -1;
            }
            *(a[2] == 'e' ? &set->only_epoch : &set->repeat) = (uint32_t)x;
            i++;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-') {
                fprintf(stderr, "soak: --seed wants a whole number, not '%s'\n", v);
                return -1;
            }
            set->seed = s;
            seeded = true;
            i++;
        }
    }
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        set->seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    if (set->warmup_s < 0) {
        set->warmup_s = set->seconds * WARMUP_SHARE;
        if (set->warmup_s > WARMUP_MAX_S)
            set->warmup_s = WARMUP_MAX_S;
    }
    return 0;
}

/* One memory sample, taken between epochs once everything of the last one is freed. */
typedef struct mem_sample {
    unsigned long rss_kib;   /* VmRSS after malloc_trim(0) */
    size_t heap_in_use;      /* bytes malloc has handed out and not got back (mallinfo2) */
} mem_sample;

static mem_sample sample_memory(void)
{
    malloc_trim(0); /* free pages inside glibc's heaps go back first: see main() */
    struct mallinfo2 mi = mallinfo2();
    return (mem_sample){rss_kib(), mi.uordblks + mi.hblkhd};
}

int main(int argc, char **argv)
{
    settings set = {0};
    if (parse_args(argc, argv, &set))
        return 2;
    log_echo = set.verbose;
    /* glibc raises its mmap and trim thresholds to the largest block freed so far (up to 32
     * and 64 MiB) and from then on keeps that much freed memory resident in its heaps.  With
     * the soak's churn (a connector and a mock per epoch, queues of 16 to 65536 events) the
     * resident set then follows the largest epoch so far, not what is allocated: heap in use
     * stayed at 0.4 MB while RSS went from 11 to 38 MB in one minute.  Fixed thresholds (at
     * glibc's initial 128 KiB) and malloc_trim before each sample make RSS track the memory
     * in use, so that a leak or an unbounded structure shows (docs/soak.md). */
    mallopt(M_MMAP_THRESHOLD, SOAK_MALLOC_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, SOAK_MALLOC_THRESHOLD);
    printf("soak: seed %llu, %.1f minutes, warm-up %.0f s (at least %d epochs), RSS growth limit %.0f %%%s\n",
           (unsigned long long)set.seed, set.seconds / 60, set.warmup_s, WARMUP_MIN_EPOCHS, set.max_growth_pct,
           SOAK_ASAN ? " (AddressSanitizer build: RSS not checked)" : "");
    fflush(stdout);
    pws_set_lws_log(PWS_LOG_ERROR, log_sink, NULL);

    /* expected keys, then the client's: mapped apart and given back after every epoch, so
     * that the samples hold the library, the mock and the allocator, not the soak's keys */
    size_t scratch_bytes = 2 * (size_t)SOAK_MAX_KEYS * sizeof(soak_key);
    soak_key *scratch = mmap(NULL, scratch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (scratch == MAP_FAILED) {
        fprintf(stderr, "soak: cannot map %zu bytes for the keys: %s\n", scratch_bytes, strerror(errno));
        return 2;
    }

    soak_rng rng = {set.seed};
    totals tot = {0};
    double start = now_s();
    mem_sample base = {0}, last = {0};
    unsigned long rss_max = 0;
    double base_at = 0;
    bool have_base = false, setup_failed = false;
    if (set.only_epoch) {
        /* the plans before it are drawn, not played: the same seed gives the same epoch */
        uint32_t runs = set.repeat ? set.repeat : 1, failed = 0;
        soak_plan plan;
        for (uint32_t epoch = 1; epoch < set.only_epoch; epoch++)
            soak_plan_make(&plan, epoch, &rng, set.tls);
        soak_rng at = rng;
        for (uint32_t i = 0; i < runs; i++) {
            soak_rng r = at;
            soak_plan_make(&plan, set.only_epoch, &r, set.tls);
            if (set.verbose && i == 0) { /* the scenario it plays */
                size_t ylen = 0;
                char *yaml = soak_plan_yaml(&plan, &ylen);
                if (yaml)
                    fwrite(yaml, 1, ylen, stderr);
                free(yaml);
            }
            failed += !run_epoch(&set, &plan, scratch, &tot);
            madvise(scratch, scratch_bytes, MADV_DONTNEED);
        }
        munmap(scratch, scratch_bytes);
        printf("soak: epoch %u of seed %llu played %u times, failed %u\nresult: %s\n", set.only_epoch,
               (unsigned long long)set.seed, runs, failed, failed ? "FAIL" : "PASS");
        return failed ? 1 : 0;
    }
    for (uint32_t epoch = 1; now_s() - start < set.seconds; epoch++) {
        soak_plan plan;
        soak_plan_make(&plan, epoch, &rng, set.tls);
        if (!run_epoch(&set, &plan, scratch, &tot) && tot.epochs < epoch) {
            setup_failed = true; /* it did not even run */
            break;
        }
        madvise(scratch, scratch_bytes, MADV_DONTNEED);
        last = sample_memory();
        if (last.rss_kib > rss_max)
            rss_max = last.rss_kib;
        if (set.verbose)
            fprintf(stderr, "soak: after epoch %u: RSS %.1f MB, heap in use %.0f KB\n", epoch,
                    last.rss_kib / 1024.0, last.heap_in_use / 1024.0);
        if (!have_base && epoch >= WARMUP_MIN_EPOCHS && now_s() - start >= set.warmup_s) {
            base = last;
            base_at = now_s() - start;
            have_base = true;
        }
    }
    double elapsed = now_s() - start;
    munmap(scratch, scratch_bytes);

    double growth = have_base ? 100.0 * ((double)last.rss_kib - (double)base.rss_kib) / (double)base.rss_kib : 0;
    bool rss_checked = !SOAK_ASAN && have_base;
    bool rss_ok = !rss_checked || growth < set.max_growth_pct;
    bool events_ok = !tot.lost && !tot.duplicated && !tot.unexpected && !tot.out_of_order;
    bool reconnects_ok = tot.reconnects_seen == tot.reconnects_expected &&
                         tot.max_conn_waits_ok == tot.max_conn_waits;
    bool pass = !setup_failed && tot.epochs > 0 && !tot.failed_epochs && events_ok && reconnects_ok && rss_ok;

    printf("soak: %.1f minutes, seed %llu, %u scenarios played (epochs, %u over wss), %u connections\n", elapsed / 60,
           (unsigned long long)set.seed, tot.epochs, tot.tls_epochs, tot.connections);
    printf("faults that end a connection:");
    for (int i = 0; i < SOAK_END__COUNT; i++)
        printf(" %s %llu%s", soak_end_names[i], (unsigned long long)tot.end_counts[i],
               i + 1 < SOAK_END__COUNT ? "," : "\n");
    printf("faults within a connection:");
    for (int i = 0; i < SOAK_MID__COUNT; i++)
        printf(" %s %llu%s", soak_mid_names[i], (unsigned long long)tot.mid_counts[i],
               i + 1 < SOAK_MID__COUNT ? "," : "\n");
    printf("events: expected %llu, received %llu, lost %llu, duplicated %llu, unexpected %llu, "
           "out of order %llu\n",
           (unsigned long long)tot.expected, (unsigned long long)tot.received, (unsigned long long)tot.lost,
           (unsigned long long)tot.duplicated, (unsigned long long)tot.unexpected,
           (unsigned long long)tot.out_of_order);
    printf("parse errors: expected %llu, seen %llu; unknown-type events: expected %llu, seen %llu\n",
           (unsigned long long)tot.parse_errors_expected, (unsigned long long)tot.parse_errors_seen,
           (unsigned long long)tot.others_expected, (unsigned long long)tot.others_seen);
    printf("reconnects: expected %llu, seen %llu (after max_connections waited >= %u ms: %llu of %llu)\n",
           (unsigned long long)tot.reconnects_expected, (unsigned long long)tot.reconnects_seen,
           SOAK_MAX_CONNECTION_DELAY_MS, (unsigned long long)tot.max_conn_waits_ok,
           (unsigned long long)tot.max_conn_waits);
    printf("block policy: the queue filled in %u of %u epochs (largest high water %zu events)\n",
           tot.blocked_epochs, tot.epochs, tot.queue_high_water_max);
    if (rss_checked)
        printf("RSS: %.1f MB at the end of warm-up (%.0f s), %.1f MB at the end, growth %+.1f %% (limit %.0f %%), "
               "max %.1f MB; heap in use %.0f KB, then %.0f KB\n", base.rss_kib / 1024.0, base_at,
               last.rss_kib / 1024.0, growth, set.max_growth_pct, rss_max / 1024.0, base.heap_in_use / 1024.0,
               last.heap_in_use / 1024.0);
    else if (SOAK_ASAN) /* its allocator keeps freed memory in quarantine and has no mallinfo2 */
        printf("RSS: not checked (AddressSanitizer build); %.1f MB at the end\n", last.rss_kib / 1024.0);
    else
        printf("RSS: not checked (the run ended within the warm-up); %.1f MB at the end, max %.1f MB; "
               "heap in use %.0f KB\n", last.rss_kib / 1024.0, rss_max / 1024.0, last.heap_in_use / 1024.0);
    printf("epochs failed: %u\nresult: %s\n", tot.failed_epochs, pass ? "PASS" : "FAIL");
    return setup_failed ? 2 : pass ? 0 : 1;
}
