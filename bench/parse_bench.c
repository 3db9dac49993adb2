/*
 * parse_bench.c - pws_parse_frame() against a cJSON tree parse.
 *
 * Generates a deterministic corpus of Polygon stocks frames (by default 1M
 * events: 20% aggregates A/AM, 45% trades, 35% quotes, batched 1..100 events
 * per array as the real feed does), then parses the whole corpus several times
 * with (a) pws_parse_frame() and (b) cJSON_ParseWithLength() followed by
 * reading the same fields into the same pws_event structs.  Both consumers
 * fold every field into the same checksum (checksum.h), which must match.
 * After one untimed warm pass each, the parsers take turns for --reps rounds
 * and the best time of each is reported; the last line is "ratio: N.Nx"
 * (polyws throughput over cJSON's).
 *
 *   parse_bench [--events N] [--reps R] [--seed S] [--min-ratio X] [--only polyws|cjson]
 *               [--write-corpus FILE | --corpus FILE] [--kernels all|swar|general]
 *
 * --only runs just one parser (for profiling, and for the `./run bench`
 * table); no checksum comparison then.  --write-corpus writes the generated
 * corpus to FILE, one frame per line, and exits; --corpus reads the frames
 * from such a file instead of generating them.  The other parsers of the
 * table (simdjson_peer.cpp, json_parse_peer.js) read the same file.
 * --kernels selects the parser's kernels (parse_kernels.h) to measure each
 * step: "all" (default: the schema fast path first, SSE2 string scan), "swar"
 * (the fast path with the portable 8-byte string scan) or "general" (no fast
 * path).
 *
 * Machine-readable output: each parser run prints one line
 *   RESULT {"parser":"polyws","events":N,"bytes":B,"reps":R,"best_s":X,
 *           "median_s":Y,"worst_s":Z,"checksum":"hex"}
 * (on one line).  With --only it is the last line; without, the polyws and
 * cjson lines come just before "ratio:".
 *
 * Exit status: 0 on success, 1 if the checksums or event counts differ, if
 * any parse error occurred, or if --min-ratio is given and not reached.
 */
#include "checksum.h"
#include "parse_kernels.h" /* --kernels: libpolyws-internal, through polyws_internals */

#include <polyws/parse.h>

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ utilities */

static uint64_t rng_state; /* splitmix64 state: the corpus depends on the seed only */

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A growable text buffer for the corpus. */
typedef struct textbuf {
    char *data;  /* bytes, not NUL-terminated as a whole */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
} textbuf;

static void tb_printf(textbuf *tb, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        size_t room = tb->cap - tb->len;
        va_start(ap, fmt);
        int n = vsnprintf(tb->data + tb->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("vsnprintf failed");
        if ((size_t)n < room) {
            tb->len += (size_t)n;
            return;
        }
        tb->cap = tb->cap ? tb->cap * 2 : 1 << 20;
        if ((tb->data = realloc(tb->data, tb->cap)) == NULL)
            die("out of memory");
    }
}

/* ---------------------------------------------------------------- corpus */

static const char *const tickers[] = {
    "AAPL", "MSFT", "AMZN", "NVDA", "GOOGL", "META", "TSLA", "BRK.B", "JPM",  "V",
    "UNH",  "XOM",  "JNJ",  "WMT",  "MA",    "PG",   "AVGO", "HD",    "CVX",  "MRK",
    "ABBV", "LLY",  "PEP",  "KO",   "COST",  "BAC",  "TMO",  "MCD",   "CSCO", "CRM",
    "ACN",  "ABT",  "ADBE", "DHR",  "AMD",   "NFLX", "DIS",  "INTC",  "CMCSA", "VZ",
    "NKE",  "TXN",  "PM",   "NEE",  "WFC",   "UPS",  "RTX",  "QCOM",  "BMY",  "SPY",
    "QQQ",  "IWM",  "SPCE", "GME",  "AMC",   "PLTR", "SOFI", "F",     "T",    "SNAP",
    "UBER", "LYFT", "RIVN", "LCID",
};
#define NTICKERS (sizeof tickers / sizeof tickers[0])

/* Per-symbol market state, so prices walk and sequence numbers increase. */
typedef struct sym_state {
    int64_t price;   /* last price in 1/10000 dollars */
    int64_t seq;     /* last sequence number */
    int64_t day_vol; /* accumulated day volume */
} sym_state;

static sym_state states[NTICKERS];
static int64_t clock_ms = 1610144868000; /* SIP time, advances with the corpus */

/* Prints 1/10000-dollar ticks as a decimal without trailing zeros ("114.125"). */
static void put_price(textbuf *tb, int64_t ticks)
{
    int64_t whole = ticks / 10000, frac = ticks % 10000;
    if (frac == 0) {
        tb_printf(tb, "%" PRId64, whole);
        return;
    }
    int digits = 4;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    tb_printf(tb, "%" PRId64 ".%0*" PRId64, whole, digits, frac);
}

/* A random walk step; 85% of prices are whole cents, the rest sub-penny. */
static int64_t step_price(sym_state *st)
{
    st->price += rng_range(-50, 50) * 100;
    if (st->price < 10000)
        st->price = 10000 + rng_range(0, 100) * 100;
    if (rng_range(0, 99) < 15)
        return st->price + rng_range(1, 99);
    return st->price;
}

static void gen_agg(textbuf *tb, size_t k, bool minute)
{
    sym_state *st = &states[k];
    int64_t o = step_price(st), c = step_price(st);
    int64_t h = (o > c ? o : c) + rng_range(0, 20) * 100, l = (o < c ? o : c) - rng_range(0, 20) * 100;
    int64_t v = rng_range(1, 500) * 100;
    int64_t start = clock_ms / 1000 * 1000;
    st->day_vol += v;
    tb_printf(tb, "{\"ev\":\"%s\",\"sym\":\"%s\",\"v\":%" PRId64 ",\"av\":%" PRId64 ",\"op\":", minute ? "AM" : "A",
              tickers[k], v, st->day_vol);
    put_price(tb, st->price - 1234);
    tb_printf(tb, ",\"vw\":");
    put_price(tb, (o + c) / 2 + rng_range(0, 99));
    tb_printf(tb, ",\"o\":");
    put_price(tb, o);
    tb_printf(tb, ",\"c\":");
    put_price(tb, c);
    tb_printf(tb, ",\"h\":");
    put_price(tb, h);
    tb_printf(tb, ",\"l\":");
    put_price(tb, l < 100 ? 100 : l);
    tb_printf(tb, ",\"a\":");
    put_price(tb, st->price + rng_range(-999, 999));
    tb_printf(tb, ",\"z\":%" PRId64 ",\"s\":%" PRId64 ",\"e\":%" PRId64 "%s}", rng_range(1, 300), start,
              start + (minute ? 60000 : 1000), rng_range(0, 49) == 0 ? ",\"otc\":true" : "");
}

static const int trade_conditions[] = { 0, 12, 14, 37, 41, 53, 2, 10, 22 };

static void gen_trade(textbuf *tb, size_t k)
{
    sym_state *st = &states[k];
    st->seq += rng_range(1, 40);
    tb_printf(tb, "{\"ev\":\"T\",\"sym\":\"%s\",\"x\":%d,\"i\":\"%" PRId64 "\",\"z\":%d,\"p\":", tickers[k],
              (int)rng_range(1, 21), rng_range(1, 99999999999999), (int)rng_range(1, 3));
    put_price(tb, step_price(st));
    tb_printf(tb, ",\"s\":%" PRId64, rng_range(0, 9) < 7 ? rng_range(1, 10) * 100 : rng_range(1, 99));
    if (rng_range(0, 9) < 6) {
        int n = (int)rng_range(1, 3);
        tb_printf(tb, ",\"c\":[");
        for (int i = 0; i < n; i++)
            tb_printf(tb, "%s%d", i ? "," : "", trade_conditions[rng_range(0, 8)]);
        tb_printf(tb, "]");
    }
    tb_printf(tb, ",\"t\":%" PRId64 ",\"q\":%" PRId64, clock_ms, st->seq);
    if (rng_range(0, 99) < 15)
        tb_printf(tb, ",\"trfi\":%d,\"trft\":%" PRId64, (int)rng_range(201, 203), clock_ms - rng_range(0, 50));
    tb_printf(tb, "}");
}

static void gen_quote(textbuf *tb, size_t k)
{
    sym_state *st = &states[k];
    int64_t bid = step_price(st) / 100 * 100;
    st->seq += rng_range(1, 40);
    tb_printf(tb, "{\"ev\":\"Q\",\"sym\":\"%s\",\"bx\":%d,\"bp\":", tickers[k], (int)rng_range(1, 21));
    put_price(tb, bid);
    tb_printf(tb, ",\"bs\":%d,\"ax\":%d,\"ap\":", (int)rng_range(1, 50), (int)rng_range(1, 21));
    put_price(tb, bid + rng_range(1, 5) * 100);
    tb_printf(tb, ",\"as\":%d,\"c\":%d", (int)rng_range(1, 50), (int)rng_range(0, 1));
    if (rng_range(0, 4) == 0)
        tb_printf(tb, ",\"i\":[%d]", (int)rng_range(600, 610));
    tb_printf(tb, ",\"t\":%" PRId64 ",\"q\":%" PRId64 ",\"z\":%d}", clock_ms, st->seq, (int)rng_range(1, 3));
}

/* The corpus: frames back to back in one buffer. */
typedef struct corpus {
    textbuf text;      /* all frames, concatenated */
    size_t *offsets;   /* frame k is text[offsets[k] .. offsets[k+1]) */
    size_t nframes;    /* number of frames */
    size_t nevents;    /* number of events in all frames */
} corpus;

static void corpus_build(corpus *cp, size_t events, uint64_t seed)
{
    size_t cap = 1024;

    rng_state = seed;
    for (size_t k = 0; k < NTICKERS; k++) {
        states[k].price = rng_range(5, 500) * 10000 + rng_range(0, 99) * 100;
        states[k].seq = rng_range(1000, 5000000);
        states[k].day_vol = rng_range(0, 10000000);
    }
    memset(cp, 0, sizeof *cp);
    cp->offsets = malloc(cap * sizeof *cp->offsets);
    if (cp->offsets == NULL)
        die("out of memory");
    while (cp->nevents < events) {
        /* Half the frames are small (1..10 events), half are busy (10..100). */
        size_t batch = (size_t)(rng_range(0, 1) ? rng_range(1, 10) : rng_range(10, 100));
        if (batch > events - cp->nevents)
            batch = events - cp->nevents;
        if (cp->nframes + 2 > cap) {
            cap *= 2;
            if ((cp->offsets = realloc(cp->offsets, cap * sizeof *cp->offsets)) == NULL)
                die("out of memory");
        }
        cp->offsets[cp->nframes++] = cp->text.len;
        tb_printf(&cp->text, "[");
        for (size_t i = 0; i < batch; i++) {
            size_t k = (size_t)rng_range(0, NTICKERS - 1);
            int64_t kind = rng_range(0, 99);
            if (i > 0)
                tb_printf(&cp->text, ",");
            if (kind < 15)
                gen_agg(&cp->text, k, false);
            else if (kind < 20)
                gen_agg(&cp->text, k, true);
            else if (kind < 65)
                gen_trade(&cp->text, k);
            else
                gen_quote(&cp->text, k);
            clock_ms += rng_range(0, 3);
        }
        tb_printf(&cp->text, "]");
        cp->nevents += batch;
    }
    cp->offsets[cp->nframes] = cp->text.len;
}

/* Writes the corpus to path, one frame per line (the frames hold no newline),
 * for the peers (simdjson_peer, json_parse_peer.js) to read the same bytes. */
static void corpus_write(const corpus *cp, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        die("%s: cannot create", path);
    for (size_t k = 0; k < cp->nframes; k++) {
        size_t len = cp->offsets[k + 1] - cp->offsets[k];
        if (fwrite(cp->text.data + cp->offsets[k], 1, len, f) != len || fputc('\n', f) == EOF)
            die("%s: write failed", path);
    }
    if (fclose(f) != 0)
        die("%s: write failed", path);
}

/* Reads a corpus written by corpus_write(): each non-empty line is a frame.
 * The newlines are dropped, so the frames lie back to back as corpus_build()
 * leaves them.  The event count is not known until a parser has run. */
static void corpus_read(corpus *cp, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1024, n = 0, w = 0, line = 0;

    if (f == NULL)
        die("%s: cannot open", path);
    memset(cp, 0, sizeof *cp);
    if (fseek(f, 0, SEEK_END) != 0 || (long)(n = (size_t)ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        die("%s: cannot size", path);
    if ((cp->text.data = malloc(n + 1)) == NULL || (cp->offsets = malloc(cap * sizeof *cp->offsets)) == NULL)
        die("out of memory");
    if (fread(cp->text.data, 1, n, f) != n)
        die("%s: read failed", path);
    fclose(f);
    for (size_t r = 0; r <= n; r++) {
        if (r < n && cp->text.data[r] != '\n')
            continue;
        if (r > line) {
            if (cp->nframes + 2 > cap) {
                cap *= 2;
                if ((cp->offsets = realloc(cp->offsets, cap * sizeof *cp->offsets)) == NULL)
                    die("out of memory");
            }
            cp->offsets[cp->nframes++] = w;
            memmove(cp->text.data + w, cp->text.data + line, r - line);
            w += r - line;
        }
        line = r + 1;
    }
    if (cp->nframes == 0)
        die("%s: no frames", path);
    cp->offsets[cp->nframes] = w;
    cp->text.len = w;
    cp->text.cap = n + 1;
}

/* -------------------------------------------------------------- checksum */

/* Both consumers fold every event into the same checksum (checksum.h, shared
 * with the simdjson and Node peers). */
typedef bench_tally tally;

static void tally_event(tally *t, const pws_event *ev)
{
    bench_tally_event(t, ev);
}

/* ---------------------------------------------------------- (a) polyws */

static int polyws_sink(const pws_event *ev, void *user)
{
    tally_event(user, ev);
    return 0;
}

static void run_polyws(const corpus *cp, tally *t)
{
    for (size_t k = 0; k < cp->nframes; k++) {
        const char *frame = cp->text.data + cp->offsets[k];
        size_t len = cp->offsets[k + 1] - cp->offsets[k];
        pws_parse_frame(frame, len, NULL, polyws_sink, t);
    }
}

/* ----------------------------------------------------------- (b) cJSON */

/* Reads a cJSON tree into the same structs, with the same type checks a
 * careful consumer would make.  Children are walked once (no repeated
 * cJSON_GetObjectItem lookups), which is the fast way to use cJSON. */

static bool cj_int(const cJSON *c, int64_t *out)
{
    if (!cJSON_IsNumber(c))
        return false;
    *out = (int64_t)c->valuedouble;
    return true;
}

static bool cj_sym(const cJSON *c, char *out, size_t cap)
{
    if (!cJSON_IsString(c) || strlen(c->valuestring) >= cap)
        return false;
    strcpy(out, c->valuestring);
    return true;
}

static bool cj_list(const cJSON *c, int32_t *list, uint32_t *n)
{
    uint32_t k = 0;
    if (!cJSON_IsArray(c))
        return false;
    for (const cJSON *it = c->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || k == PWS_MAX_CONDITIONS)
            return false;
        list[k++] = (int32_t)it->valuedouble;
    }
    *n = k;
    return true;
}

static bool cj_agg(const cJSON *obj, pws_agg *a)
{
    bool ok = true, sym = false;
    for (const cJSON *c = obj->child; c && ok; c = c->next) {
        const char *k = c->string;
        int64_t iv = 0;
        if (strcmp(k, "ev") == 0)
            continue;
        if (strcmp(k, "sym") == 0) {
            ok = sym = cj_sym(c, a->sym, sizeof a->sym);
        } else if (strcmp(k, "otc") == 0) {
            ok = cJSON_IsBool(c);
            a->otc = cJSON_IsTrue(c);
            a->present |= PWS_AGG_OTC;
        } else if (strcmp(k, "v") == 0 && (ok = cj_int(c, &iv))) {
            a->v = iv, a->present |= PWS_AGG_V;
        } else if (strcmp(k, "av") == 0 && (ok = cj_int(c, &iv))) {
            a->av = iv, a->present |= PWS_AGG_AV;
        } else if (strcmp(k, "z") == 0 && (ok = cj_int(c, &iv))) {
            a->z = iv, a->present |= PWS_AGG_Z;
        } else if (strcmp(k, "s") == 0 && (ok = cj_int(c, &iv))) {
            a->s = iv, a->present |= PWS_AGG_S;
        } else if (strcmp(k, "e") == 0 && (ok = cj_int(c, &iv))) {
            a->e = iv, a->present |= PWS_AGG_E;
        } else if (cJSON_IsNumber(c)) {
            double d = c->valuedouble;
            if (strcmp(k, "op") == 0)
                a->op = d, a->present |= PWS_AGG_OP;
            else if (strcmp(k, "vw") == 0)
                a->vw = d, a->present |= PWS_AGG_VW;
            else if (strcmp(k, "o") == 0)
                a->o = d, a->present |= PWS_AGG_O;
            else if (strcmp(k, "c") == 0)
                a->c = d, a->present |= PWS_AGG_C;
            else if (strcmp(k, "h") == 0)
                a->h = d, a->present |= PWS_AGG_H;
            else if (strcmp(k, "l") == 0)
                a->l = d, a->present |= PWS_AGG_L;
            else if (strcmp(k, "a") == 0)
                a->a = d, a->present |= PWS_AGG_A;
        }
    }
    return ok && sym;
}

static bool cj_trade(const cJSON *obj, pws_trade *t)
{
    bool ok = true, sym = false;
    for (const cJSON *c = obj->child; c && ok; c = c->next) {
        const char *k = c->string;
        int64_t iv = 0;
        if (strcmp(k, "ev") == 0)
            continue;
        if (strcmp(k, "sym") == 0) {
            ok = sym = cj_sym(c, t->sym, sizeof t->sym);
        } else if (strcmp(k, "i") == 0) {
            ok = cj_sym(c, t->i, sizeof t->i);
            t->present |= PWS_TRADE_I;
        } else if (strcmp(k, "c") == 0) {
            ok = cj_list(c, t->c, &t->nc);
            t->present |= PWS_TRADE_C;
        } else if (strcmp(k, "p") == 0) {
            ok = cJSON_IsNumber(c);
            t->p = c->valuedouble;
            t->present |= PWS_TRADE_P;
        } else if (strcmp(k, "x") == 0) {
            ok = cj_int(c, &iv), t->x = (int32_t)iv, t->present |= PWS_TRADE_X;
        } else if (strcmp(k, "z") == 0) {
            ok = cj_int(c, &iv), t->z = (int32_t)iv, t->present |= PWS_TRADE_Z;
        } else if (strcmp(k, "s") == 0) {
            ok = cj_int(c, &iv), t->s = iv, t->present |= PWS_TRADE_S;
        } else if (strcmp(k, "t") == 0) {
            ok = cj_int(c, &iv), t->t = iv, t->present |= PWS_TRADE_T;
        } else if (strcmp(k, "q") == 0) {
            ok = cj_int(c, &iv), t->q = iv, t->present |= PWS_TRADE_Q;
        } else if (strcmp(k, "trfi") == 0) {
            ok = cj_int(c, &iv), t->trfi = (int32_t)iv, t->present |= PWS_TRADE_TRFI;
        } else if (strcmp(k, "trft") == 0) {
            ok = cj_int(c, &iv), t->trft = iv, t->present |= PWS_TRADE_TRFT;
        }
    }
    return ok && sym;
}

static bool cj_quote(const cJSON *obj, pws_quote *q)
{
    bool ok = true, sym = false;
    for (const cJSON *c = obj->child; c && ok; c = c->next) {
        const char *k = c->string;
        int64_t iv = 0;
        if (strcmp(k, "ev") == 0)
            continue;
        if (strcmp(k, "sym") == 0) {
            ok = sym = cj_sym(c, q->sym, sizeof q->sym);
        } else if (strcmp(k, "i") == 0) {
            ok = cj_list(c, q->i, &q->ni);
            q->present |= PWS_QUOTE_I;
        } else if (strcmp(k, "bp") == 0) {
            ok = cJSON_IsNumber(c);
            q->bp = c->valuedouble, q->present |= PWS_QUOTE_BP;
        } else if (strcmp(k, "ap") == 0) {
            ok = cJSON_IsNumber(c);
            q->ap = c->valuedouble, q->present |= PWS_QUOTE_AP;
        } else if (strcmp(k, "bx") == 0) {
            ok = cj_int(c, &iv), q->bx = (int32_t)iv, q->present |= PWS_QUOTE_BX;
        } else if (strcmp(k, "bs") == 0) {
            ok = cj_int(c, &iv), q->bs = iv, q->present |= PWS_QUOTE_BS;
        } else if (strcmp(k, "ax") == 0) {
            ok = cj_int(c, &iv), q->ax = (int32_t)iv, q->present |= PWS_QUOTE_AX;
        } else if (strcmp(k, "as") == 0) {
            ok = cj_int(c, &iv), q->as = iv, q->present |= PWS_QUOTE_AS;
        } else if (strcmp(k, "c") == 0) {
            ok = cj_int(c, &iv), q->c = (int32_t)iv, q->present |= PWS_QUOTE_C;
        } else if (strcmp(k, "t") == 0) {
            ok = cj_int(c, &iv), q->t = iv, q->present |= PWS_QUOTE_T;
        } else if (strcmp(k, "q") == 0) {
            ok = cj_int(c, &iv), q->q = iv, q->present |= PWS_QUOTE_Q;
        } else if (strcmp(k, "z") == 0) {
            ok = cj_int(c, &iv), q->z = (int32_t)iv, q->present |= PWS_QUOTE_Z;
        }
    }
    return ok && sym;
}

static void run_cjson(const corpus *cp, tally *t)
{
    pws_event ev;

    for (size_t k = 0; k < cp->nframes; k++) {
        const char *frame = cp->text.data + cp->offsets[k];
        size_t len = cp->offsets[k + 1] - cp->offsets[k];
        cJSON *root = cJSON_ParseWithLength(frame, len);
        if (!cJSON_IsArray(root)) {
            t->errors++;
            cJSON_Delete(root);
            continue;
        }
        for (const cJSON *obj = root->child; obj; obj = obj->next) {
            const cJSON *evname = cJSON_GetObjectItemCaseSensitive(obj, "ev");
            bool ok = false;
            memset(&ev, 0, sizeof ev);
            if (cJSON_IsString(evname)) {
                const char *s = evname->valuestring;
                if (strcmp(s, "T") == 0) {
                    ev.type = PWS_EV_TRADE;
                    ok = cj_trade(obj, &ev.u.trade);
                } else if (strcmp(s, "Q") == 0) {
                    ev.type = PWS_EV_QUOTE;
                    ok = cj_quote(obj, &ev.u.quote);
                } else if (strcmp(s, "A") == 0 || strcmp(s, "AM") == 0) {
                    ev.type = PWS_EV_AGG;
                    ev.u.agg.minute = s[1] == 'M';
                    ok = cj_agg(obj, &ev.u.agg);
                }
            }
            if (!ok) {
                memset(&ev, 0, sizeof ev);
                ev.type = PWS_EV_PARSE_ERROR;
            }
            tally_event(t, &ev);
        }
        cJSON_Delete(root);
    }
}

/* ------------------------------------------------------------------ main */

typedef void (*runner)(const corpus *, tally *);

/* Runs one parser once; returns the wall time and fills *t. */
static double timed_run(runner run, const corpus *cp, tally *t)
{
    double t0;
    memset(t, 0, sizeof *t);
    t0 = now_s();
    run(cp, t);
    return now_s() - t0;
}

/* Largest --reps (the times are kept for the median). */
#define MAX_REPS 1000

/* The human line of one parser: best time, events/s, MB/s, checksum. */
static void print_human(const char *name, int reps, const double *times, const tally *t, double mb)
{
    double best = times[0];
    for (int r = 1; r < reps; r++)
        best = times[r] < best ? times[r] : best;
    printf("%s best of %d %.3f s  %.0f events/s  %.1f MB/s  checksum %016" PRIx64 "\n", name, reps, best,
           (double)t->events / best, mb / best, t->sum);
}

int main(int argc, char **argv)
{
    size_t events = 1000000;
    int reps = 5;
    uint64_t seed = 20240601;
    double min_ratio = 0;
    const char *only = NULL, *write_path = NULL, *read_path = NULL;
    static double times_a[MAX_REPS], times_b[MAX_REPS];
    corpus cp;
    tally a, b;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--min-ratio") == 0 && i + 1 < argc)
            min_ratio = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--write-corpus") == 0 && i + 1 < argc)
            write_path = argv[++i];
        else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
            read_path = argv[++i];
        else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc && strcmp(argv[i + 1], "all") == 0)
            pws__parse_kernels = PWS__PARSE_ALL, i++;
        else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc && strcmp(argv[i + 1], "swar") == 0)
            pws__parse_kernels = PWS__PARSE_FAST, i++;
        else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc && strcmp(argv[i + 1], "general") == 0)
            pws__parse_kernels = 0, i++;
        else
            die("usage: %s [--events N] [--reps R] [--seed S] [--min-ratio X] [--only polyws|cjson]\n"
                "       [--write-corpus FILE | --corpus FILE] [--kernels all|swar|general]",
                argv[0]);
    }
    if (events == 0 || reps < 1 || reps > MAX_REPS)
        die("--events must be positive and --reps within 1..%d", MAX_REPS);
    if (only != NULL && strcmp(only, "polyws") != 0 && strcmp(only, "cjson") != 0)
        die("--only takes polyws or cjson");

    if (read_path != NULL) {
        corpus_read(&cp, read_path);
        printf("corpus: %s, %zu frames, %.1f MB\n", read_path, cp.nframes, (double)cp.text.len / 1e6);
    } else {
        corpus_build(&cp, events, seed);
        printf("corpus: %zu events in %zu frames, %.1f MB, seed %" PRIu64 "\n", cp.nevents, cp.nframes,
               (double)cp.text.len / 1e6, seed);
    }
    if (write_path != NULL) {
        corpus_write(&cp, write_path);
        printf("wrote %s\n", write_path);
        free(cp.text.data);
        free(cp.offsets);
        return 0;
    }
    double mb = (double)cp.text.len / 1e6;

    if (only != NULL) {
        runner run = strcmp(only, "polyws") == 0 ? run_polyws : run_cjson;
        timed_run(run, &cp, &a); /* warm pass, untimed: page faults, caches, branch predictors */
        for (int r = 0; r < reps; r++)
            times_a[r] = timed_run(run, &cp, &a);
        print_human(run == run_polyws ? "polyws:" : "cjson:", reps, times_a, &a, mb);
        bench_print_result(only, a.events, cp.text.len, times_a, reps, a.sum);
        free(cp.text.data);
        free(cp.offsets);
        return a.errors || (cp.nevents != 0 && a.events != cp.nevents) ? 1 : 0;
    }
    /* The two parsers take turns, so that a machine busy with other work
     * slows both alike; each keeps its best time. */
    timed_run(run_polyws, &cp, &a);
    timed_run(run_cjson, &cp, &b);
    for (int r = 0; r < reps; r++) {
        times_a[r] = timed_run(run_polyws, &cp, &a);
        times_b[r] = timed_run(run_cjson, &cp, &b);
    }
    print_human("polyws:", reps, times_a, &a, mb);
    print_human("cjson: ", reps, times_b, &b, mb);

    int rc = 0;
    size_t expect = cp.nevents != 0 ? cp.nevents : a.events; /* a read corpus: polyws' count */
    if (a.events != expect || b.events != expect || a.errors || b.errors) {
        fprintf(stderr, "event counts differ or errors: polyws %zu (%zu errors), cjson %zu (%zu errors), corpus %zu\n",
                a.events, a.errors, b.events, b.errors, expect);
        rc = 1;
    }
    if (a.sum != b.sum) {
        fprintf(stderr, "checksums differ\n");
        rc = 1;
    }
    bench_print_result("polyws", a.events, cp.text.len, times_a, reps, a.sum);
    bench_print_result("cjson", b.events, cp.text.len, times_b, reps, b.sum);
    double ratio = times_b[0] / times_a[0]; /* sorted by bench_print_result: [0] is the best */
    if (min_ratio > 0 && ratio < min_ratio) {
        fprintf(stderr, "ratio %.2f below --min-ratio %.2f\n", ratio, min_ratio);
        rc = 1;
    }
    printf("ratio: %.1fx\n", ratio);
    free(cp.text.data);
    free(cp.offsets);
    return rc;
}
