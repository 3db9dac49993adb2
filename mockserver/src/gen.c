/*
 * gen.c - deterministic A/AM/T/Q event generator for the mock server.
 *
 * Everything here is integer arithmetic on a seeded xoshiro256** stream, so a
 * frame's bytes depend only on (seed, ordinal, the calls made), never on the
 * platform's floating point, the wall clock or the scheduling of threads.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include <polyws/mock.h>

/* Simulated session start: 2024-01-02 14:30:00 UTC (the regular-hours open). */
#define SIM_START_MS INT64_C(1704205800000)
/* Prices are held in 1/10000 dollars. */
#define PX_ONE 10000

struct pwsm__symstate {
    char name[PWSM__SYMBOL_MAX + 1]; /* ticker, NUL-terminated */
    bool sub[PWSM__EV_COUNT];        /* explicitly subscribed per event type */
    int tape;                        /* SIP tape 1/2/3 */
    int64_t px;                      /* last price */
    int64_t day_open;                /* "op" */
    int64_t day_vwap;                /* "a", running volume-weighted average */
    int64_t day_vol;                 /* "av" */
    uint64_t trade_q;                /* last trade sequence number ("q" of T) */
    uint64_t quote_q;                /* last quote sequence number ("q" of Q) */
    uint64_t trade_id;               /* last trade id ("i" of T) */
    bool otc;                        /* an OTC symbol: A, AM and T carry "otc":true */
};

/* The wildcard universe, with a plausible early-2024 price (1/10000 $) and tape. */
static const struct {
    const char *name;
    int64_t px;
    int tape;
} universe[PWSM__UNIVERSE_SIZE] = {
    {"AAPL", 1856400, 3}, {"MSFT", 3708700, 3}, {"AMZN", 1499300, 3}, {"GOOGL", 1381700, 3},
    {"TSLA", 2484200, 3}, {"NVDA", 4816800, 3}, {"META", 3462900, 3}, {"SPY", 4726500, 2},
};

static const char *const ev_names[PWSM__EV_COUNT] = {"A", "AM", "T", "Q"};

/* Exchange ids seen on US equities trades and quotes (4 is the TRF / FINRA). */
static const int exchanges[] = {1, 2, 3, 4, 7, 8, 10, 11, 12, 15, 17, 19, 20, 21};
#define NEXCHANGES (sizeof exchanges / sizeof exchanges[0])

/* ---- PRNG: splitmix64 for seeding, xoshiro256** for the stream. */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(pwsm__gen *g)
{
    uint64_t *s = g->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform-enough integer in [0, n); the modulo bias is irrelevant for test data. */
static uint64_t rng_below(pwsm__gen *g, uint64_t n)
{
    return n ? (rng_next(g) >> 11) % n : 0;
}

/* Integer in [lo, hi]. */
static int64_t rng_range(pwsm__gen *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(g, (uint64_t)(hi - lo + 1));
}

/* FNV-1a: a stable hash of a symbol name for its starting state. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* ---- symbols */

static bool symbol_valid(const char *s, size_t len)
{
    if (len == 0 || len > PWSM__SYMBOL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == ':' || c == '/' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Starting state from the symbol name and the server seed, independent of the order in
 * which symbols are subscribed.  The universe (listed) is never OTC; another symbol is with
 * probability 1/8, drawn last so the other fields are those of before. */
static void symbol_setup(pwsm__gen *g, pwsm__symstate *st, const char *name, size_t len, int64_t px,
                         int tape, bool listed)
{
    memset(st, 0, sizeof *st);
    memcpy(st->name, name, len);
    st->name[len] = '\0';
    uint64_t x = fnv1a(st->name) ^ g->seed;
    if (px <= 0)
        px = 10 * PX_ONE + (int64_t)(splitmix64(&x) % (490u * PX_ONE / 100)) * 100;
    if (tape <= 0)
        tape = 1 + (int)(splitmix64(&x) % 3);
    st->tape = tape;
    st->px = px;
    st->day_open = px - px / 200 + (int64_t)(splitmix64(&x) % (uint64_t)(px / 100 + 1));
    st->day_open -= st->day_open % 100;
    st->day_vwap = (st->day_open + px) / 2;
    st->day_vol = 100000 + (int64_t)(splitmix64(&x) % 9900000);
    st->trade_q = 1000000 + splitmix64(&x) % 9000000;
    st->quote_q = st->trade_q * 4 + splitmix64(&x) % 1000;
    st->trade_id = 1000 + splitmix64(&x) % 90000;
    st->otc = !listed && splitmix64(&x) % 8 == 0;
}

static void rebuild_active(pwsm__gen *g)
{
    g->nactive = 0;
    for (int ev = 0; ev < PWSM__EV_COUNT; ev++)
        for (size_t i = 0; i < g->nsyms; i++)
            if ((g->wild[ev] && i < PWSM__UNIVERSE_SIZE) || g->syms[i].sub[ev])
                g->active[g->nactive++] = (uint32_t)ev << 16 | (uint32_t)i;
}

/* Index of the symbol, adding it if `add`; -1 if unknown or the table is full. */
static long symbol_find(pwsm__gen *g, const char *name, size_t len, bool add)
{
    for (size_t i = 0; i < g->nsyms; i++)
        if (strlen(g->syms[i].name) == len && memcmp(g->syms[i].name, name, len) == 0)
            return (long)i;
    if (!add)
        return -1;
    if (g->nsyms == g->capsyms) {
        if (g->capsyms >= PWSM_MAX_SYMBOLS)
            return -1;
        size_t cap = g->capsyms * 2;
        if (cap > PWSM_MAX_SYMBOLS)
            cap = PWSM_MAX_SYMBOLS;
        pwsm__symstate *syms = realloc(g->syms, cap * sizeof *syms);
        if (!syms)
            return -1;
        g->syms = syms;
        uint32_t *active = realloc(g->active, cap * PWSM__EV_COUNT * sizeof *active);
        if (!active)
            return -1;
        g->active = active;
        g->capsyms = cap;
    }
    symbol_setup(g, &g->syms[g->nsyms], name, len, 0, 0, false);
    return (long)g->nsyms++;
}

int pwsm__gen_init(pwsm__gen *g, uint64_t seed, uint32_t ordinal)
{
    memset(g, 0, sizeof *g);
    g->seed = seed;
    uint64_t x = seed ^ ((uint64_t)ordinal * UINT64_C(0xD1B54A32D192ED03));
    for (int i = 0; i < 4; i++)
        g->rng[i] = splitmix64(&x);
    g->sim_ms = SIM_START_MS;
    g->capsyms = 32;
    g->syms = calloc(g->capsyms, sizeof *g->syms);
    g->active = calloc(g->capsyms * PWSM__EV_COUNT, sizeof *g->active);
    if (!g->syms || !g->active) {
        pwsm__gen_free(g);
        return -1;
    }
    for (size_t i = 0; i < PWSM__UNIVERSE_SIZE; i++)
        symbol_setup(g, &g->syms[i], universe[i].name, strlen(universe[i].name), universe[i].px,
                     universe[i].tape, true);
    g->nsyms = PWSM__UNIVERSE_SIZE;
    return 0;
}

void pwsm__gen_free(pwsm__gen *g)
{
    free(g->syms);
    free(g->active);
    g->syms = NULL;
    g->active = NULL;
    g->nsyms = g->capsyms = g->nactive = 0;
}

bool pwsm__gen_channel(pwsm__gen *g, const char *channel, size_t len, bool on)
{
    const char *dot = memchr(channel, '.', len);
    if (!dot)
        return false;
    size_t evlen = (size_t)(dot - channel);
    int ev = -1;
    for (int i = 0; i < PWSM__EV_COUNT; i++)
        if (strlen(ev_names[i]) == evlen && memcmp(ev_names[i], channel, evlen) == 0)
            ev = i;
    if (ev < 0)
        return false;
    const char *sym = dot + 1;
    size_t symlen = len - evlen - 1;
    if (symlen == 1 && sym[0] == '*') {
        if (g->wild[ev] == on)
            return false;
        g->wild[ev] = on;
        rebuild_active(g);
        return true;
    }
    if (!symbol_valid(sym, symlen))
        return false;
    long i = symbol_find(g, sym, symlen, on);
    if (i < 0 || g->syms[i].sub[ev] == on)
        return false;
    g->syms[i].sub[ev] = on;
    rebuild_active(g);
    return true;
}

size_t pwsm__gen_active(const pwsm__gen *g)
{
    return g->nactive;
}

uint32_t pwsm__gen_batch_size(pwsm__gen *g, uint32_t batch_max)
{
    if (batch_max <= 1)
        return 1;
    return 1 + (uint32_t)rng_below(g, batch_max);
}

/* ---- printing
 *
 * Events are printed by hand rather than with snprintf: the formatting was ~90 % of the
 * generator's time (profiled with perf), which capped a mock streaming as fast as the
 * client reads at ~0.8M events/s on one core.  The bytes are exactly those the snprintf
 * version printed ("%d" / PRId64 / PRIu64 integers, prices as below); the RNG draws happen
 * in the same order, so a seed still gives the same stream as before. */

/* Upper bound of one event as printed here with any int64 values (a real event is at most
 * ~280 bytes, see PWSM__EVENT_MAX): the printers may write this much before their length is
 * checked against PWSM__EVENT_MAX. */
#define EVENT_WORST 512

static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                                  "34353637383940414243444546474849505152535455565758596061626364656667"
                                  "6869707172737475767778798081828384858687888990919293949596979899";

/* Appends the n bytes of s. */
static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Appends a string literal (its length is known at compile time). */
#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Powers of ten up to 10^19, to count the digits of a uint64_t. */
static const uint64_t pow10_u64[20] = {
    UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000), UINT64_C(100000),
    UINT64_C(1000000), UINT64_C(10000000), UINT64_C(100000000), UINT64_C(1000000000),
    UINT64_C(10000000000), UINT64_C(100000000000), UINT64_C(1000000000000),
    UINT64_C(10000000000000), UINT64_C(100000000000000), UINT64_C(1000000000000000),
    UINT64_C(10000000000000000), UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000)};

/* Appends v in decimal, like "%" PRIu64: at most 20 bytes.  Counts the digits first and
 * writes them backwards in pairs, so no temporary and no variable-length copy. */
static char *put_u64(char *p, uint64_t v)
{
    size_t n = 1;
    while (n < 20 && v >= pow10_u64[n])
        n++;
    char *end = p + n, *t = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        t -= 2;
        memcpy(t, digit_pairs + 2 * r, 2);
    }
    if (v >= 10)
        memcpy(t - 2, digit_pairs + 2 * v, 2);
    else
        t[-1] = (char)('0' + v);
    return end;
}

/* Appends v in decimal, like "%" PRId64 (and "%d"): at most 20 bytes. */
static char *put_i64(char *p, int64_t v)
{
    if (v >= 0)
        return put_u64(p, (uint64_t)v);
    *p++ = '-';
    return put_u64(p, (uint64_t)0 - (uint64_t)v);
}

/* Appends a price held in 1/10000 $ with trailing zeros trimmed: 25.39, 114.125, 25
 * (negative prints as 0).  At most 20 bytes. */
static char *put_px(char *p, int64_t v)
{
    if (v < 0)
        v = 0;
    int64_t whole = v / PX_ONE, frac = v % PX_ONE;
    p = put_u64(p, (uint64_t)whole);
    if (frac == 0)
        return p;
    char d[4] = {(char)('0' + frac / 1000), (char)('0' + frac / 100 % 10), (char)('0' + frac / 10 % 10),
                 (char)('0' + frac % 10)};
    size_t digits = 4;
    while (d[digits - 1] == '0')
        digits--;
    *p++ = '.';
    return put(p, d, digits);
}

/* One random-walk step of at most +-0.03 %, never below $1. */
static int64_t walk(pwsm__gen *g, int64_t px)
{
    px += rng_range(g, -30, 30) * px / 100000;
    return px < PX_ONE ? PX_ONE : px;
}

static int64_t to_cent(int64_t px)
{
    return (px + 50) / 100 * 100;
}

/* The printers write one event at out (room for EVENT_WORST bytes) and return its length. */

static size_t print_aggregate(pwsm__gen *g, pwsm__symstate *st, int ev, char *out)
{
    int64_t window = ev == PWSM__EV_A ? 1000 : 60000;
    int64_t start = g->sim_ms / window * window;
    int64_t o = to_cent(st->px), h = o, l = o, px = st->px;
    int steps = (int)rng_range(g, 1, 4);
    for (int i = 0; i < steps; i++) {
        px = walk(g, px);
        int64_t p = to_cent(px);
        if (p > h)
            h = p;
        if (p < l)
            l = p;
    }
    st->px = px;
    int64_t c = to_cent(px);
    int64_t v = ev == PWSM__EV_A ? rng_range(g, 1, 50) * 100 + rng_range(g, 0, 99)
                                 : rng_range(g, 50, 5000) * 100;
    int64_t vw = (o + h + l + c) / 4 + rng_range(g, -20, 20);
    if (vw < l)
        vw = l;
    if (vw > h)
        vw = h;
    st->day_vol += v;
    st->day_vwap += (vw - st->day_vwap) * v / st->day_vol;
    int64_t z = rng_range(g, 20, 300);
    char *p = out;
    p = ev == PWSM__EV_A ? PUT_LIT(p, "{\"ev\":\"A\",\"sym\":\"") : PUT_LIT(p, "{\"ev\":\"AM\",\"sym\":\"");
    p = put(p, st->name, strlen(st->name));
    p = PUT_LIT(p, "\",\"v\":");
    p = put_i64(p, v);
    p = PUT_LIT(p, ",\"av\":");
    p = put_i64(p, st->day_vol);
    p = PUT_LIT(p, ",\"op\":");
    p = put_px(p, st->day_open);
    p = PUT_LIT(p, ",\"vw\":");
    p = put_px(p, vw);
    p = PUT_LIT(p, ",\"o\":");
    p = put_px(p, o);
    p = PUT_LIT(p, ",\"c\":");
    p = put_px(p, c);
    p = PUT_LIT(p, ",\"h\":");
    p = put_px(p, h);
    p = PUT_LIT(p, ",\"l\":");
    p = put_px(p, l);
    p = PUT_LIT(p, ",\"a\":");
    p = put_px(p, st->day_vwap);
    p = PUT_LIT(p, ",\"z\":");
    p = put_i64(p, z);
    p = PUT_LIT(p, ",\"s\":");
    p = put_i64(p, start);
    p = PUT_LIT(p, ",\"e\":");
    p = put_i64(p, start + window);
    if (st->otc)
        p = PUT_LIT(p, ",\"otc\":true");
    *p++ = '}';
    return (size_t)(p - out);
}

static size_t print_trade(pwsm__gen *g, pwsm__symstate *st, char *out)
{
    st->px = walk(g, st->px);
    /* Mostly whole cents; one trade in ten prints at a sub-penny price. */
    int64_t px = rng_below(g, 10) ? to_cent(st->px) : st->px;
    int x = exchanges[rng_below(g, NEXCHANGES)];
    st->trade_id += (uint64_t)rng_range(g, 1, 50);
    int64_t size = rng_below(g, 10) < 7 ? rng_range(g, 1, 10) * 100 : rng_range(g, 1, 99);
    st->trade_q += (uint64_t)rng_range(g, 1, 2000);
    static const char *const cond_sets[] = {"", "", "", "[12]", "[37]", "[14,41]", "[12,37]", "[0,12]"};
    const char *cs = cond_sets[rng_below(g, sizeof cond_sets / sizeof cond_sets[0])];
    char *p = out;
    p = PUT_LIT(p, "{\"ev\":\"T\",\"sym\":\"");
    p = put(p, st->name, strlen(st->name));
    p = PUT_LIT(p, "\",\"x\":");
    p = put_i64(p, x);
    p = PUT_LIT(p, ",\"i\":\"");
    p = put_u64(p, st->trade_id);
    p = PUT_LIT(p, "\",\"z\":");
    p = put_i64(p, st->tape);
    p = PUT_LIT(p, ",\"p\":");
    p = put_px(p, px);
    p = PUT_LIT(p, ",\"s\":");
    p = put_i64(p, size);
    if (*cs) {
        p = PUT_LIT(p, ",\"c\":");
        p = put(p, cs, strlen(cs));
    }
    p = PUT_LIT(p, ",\"t\":");
    p = put_i64(p, g->sim_ms);
    p = PUT_LIT(p, ",\"q\":");
    p = put_u64(p, st->trade_q);
    if (x == 4) {
        /* The snprintf version drew these two as arguments of one call; gcc evaluated
         * them right to left, so the reporting time is drawn before the TRF id. */
        int64_t trft = g->sim_ms - rng_range(g, 0, 5);
        int trfi = 201 + (int)rng_below(g, 3);
        p = PUT_LIT(p, ",\"trfi\":");
        p = put_i64(p, trfi);
        p = PUT_LIT(p, ",\"trft\":");
        p = put_i64(p, trft);
    }
    if (st->otc)
        p = PUT_LIT(p, ",\"otc\":true");
    *p++ = '}';
    return (size_t)(p - out);
}

static size_t print_quote(pwsm__gen *g, pwsm__symstate *st, char *out)
{
    st->px = walk(g, st->px);
    int64_t mid = to_cent(st->px);
    int64_t spread = rng_range(g, 1, 5) * 100;
    int64_t bp = mid - spread / 200 * 100, ap = bp + spread;
    st->quote_q += (uint64_t)rng_range(g, 1, 500);
    bool indicators = rng_below(g, 2) != 0;
    /* Drawn right to left, as gcc evaluated the arguments of the former snprintf call. */
    int64_t as = rng_range(g, 1, 30);
    int ax = exchanges[rng_below(g, NEXCHANGES)];
    int64_t bs = rng_range(g, 1, 30);
    int bx = exchanges[rng_below(g, NEXCHANGES)];
    char *p = out;
    p = PUT_LIT(p, "{\"ev\":\"Q\",\"sym\":\"");
    p = put(p, st->name, strlen(st->name));
    p = PUT_LIT(p, "\",\"bx\":");
    p = put_i64(p, bx);
    p = PUT_LIT(p, ",\"bp\":");
    p = put_px(p, bp);
    p = PUT_LIT(p, ",\"bs\":");
    p = put_i64(p, bs);
    p = PUT_LIT(p, ",\"ax\":");
    p = put_i64(p, ax);
    p = PUT_LIT(p, ",\"ap\":");
    p = put_px(p, ap);
    p = PUT_LIT(p, ",\"as\":");
    p = put_i64(p, as);
    p = indicators ? PUT_LIT(p, ",\"c\":1,\"i\":[604],\"t\":") : PUT_LIT(p, ",\"c\":1,\"t\":");
    p = put_i64(p, g->sim_ms);
    p = PUT_LIT(p, ",\"q\":");
    p = put_u64(p, st->quote_q);
    p = PUT_LIT(p, ",\"z\":");
    p = put_i64(p, st->tape);
    *p++ = '}';
    return (size_t)(p - out);
}

size_t pwsm__gen_frame(pwsm__gen *g, uint32_t n, char *out, size_t cap)
{
    if (g->nactive == 0 || n == 0 || cap < 3)
        return 0;
    char scratch[EVENT_WORST]; /* for the last events of a buffer without EVENT_WORST of room */
    size_t len = 0;
    out[len++] = '[';
    for (uint32_t k = 0; k < n; k++) {
        if (cap - len < PWSM__EVENT_MAX + 2)
            break;
        if (k)
            out[len++] = ',';
        g->sim_ms += rng_range(g, 0, 25);
        uint32_t pair = g->active[rng_below(g, g->nactive)];
        int ev = (int)(pair >> 16);
        pwsm__symstate *st = &g->syms[pair & 0xffff];
        bool direct = cap - len >= EVENT_WORST + 2;
        char *dst = direct ? out + len : scratch;
        size_t w;
        if (ev == PWSM__EV_T)
            w = print_trade(g, st, dst);
        else if (ev == PWSM__EV_Q)
            w = print_quote(g, st, dst);
        else
            w = print_aggregate(g, st, ev, dst);
        /* An event of PWSM__EVENT_MAX bytes or more is left out (the snprintf version's
         * truncation rule); it cannot happen with the symbols and prices we generate. */
        if (w >= PWSM__EVENT_MAX)
            w = 0;
        else if (!direct)
            memcpy(out + len, scratch, w);
        len += w;
    }
    out[len++] = ']';
    out[len] = '\0';
    return len;
}
