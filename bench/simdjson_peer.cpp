/*
 * simdjson_peer.cpp - simdjson On Demand on the parse benchmark's corpus, as
 * the yardstick for pws_parse_frame().
 *
 * Reads a corpus written by `parse_bench --write-corpus FILE` (one frame per
 * line), and for every frame iterates the array with simdjson's On Demand
 * API, filling the same pws_event structs with the same fields and type
 * checks as parse_bench's consumers, and folds each event into the same
 * checksum (checksum.h).  The checksum must equal parse_bench's.
 *
 *   simdjson_peer --corpus FILE [--reps R]
 *
 * Fair use of simdjson: the file is read once into one buffer with
 * SIMDJSON_PADDING spare bytes at its end, and each frame is parsed in place
 * (the bytes after a frame, the next frames, serve as its padding: simdjson
 * reads but never interprets them), with one reused parser.  Keys are matched
 * on their raw bytes (no unescaping: the feed's keys have no escapes), fields
 * are taken in document order, as On Demand is fastest.  Stage 1 (the SIMD
 * structural index) is dispatched at run time by libsimdjson; the value
 * parsing is the header's inline code, compiled with this target's flags
 * (-O3, no -march).
 *
 * After one untimed warm pass it times --reps passes (default 5) and ends with
 * the line parse_bench prints too:
 *   RESULT {"parser":"simdjson","events":N,...,"checksum":"hex"}
 * Exit status 1 if any element failed to parse or a usage error.
 */
#include "checksum.h"

#include <polyws/parse.h>

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

using namespace simdjson;

namespace {

/* The frames of a corpus file, parsed in place. */
struct corpus {
    std::vector<char> text;     /* the whole file plus SIMDJSON_PADDING bytes */
    std::vector<size_t> starts; /* frame k starts at text[starts[k]] */
    std::vector<size_t> lens;   /* and has lens[k] bytes (the newline excluded) */
    size_t bytes = 0;           /* sum of lens */
};

[[noreturn]] void die(const char *what, const char *path)
{
    std::fprintf(stderr, "simdjson_peer: %s: %s\n", path, what);
    std::exit(1);
}

void corpus_read(corpus &cp, const char *path)
{
    FILE *f = std::fopen(path, "rb");
    long n;

    if (f == nullptr)
        die("cannot open", path);
    if (std::fseek(f, 0, SEEK_END) != 0 || (n = std::ftell(f)) < 0 || std::fseek(f, 0, SEEK_SET) != 0)
        die("cannot size", path);
    cp.text.assign((size_t)n + SIMDJSON_PADDING, '\0');
    if (std::fread(cp.text.data(), 1, (size_t)n, f) != (size_t)n)
        die("read failed", path);
    std::fclose(f);
    size_t line = 0;
    for (size_t r = 0; r <= (size_t)n; r++) {
        if (r < (size_t)n && cp.text[r] != '\n')
            continue;
        if (r > line) {
            cp.starts.push_back(line);
            cp.lens.push_back(r - line);
            cp.bytes += r - line;
        }
        line = r + 1;
    }
    if (cp.starts.empty())
        die("no frames", path);
}

/* key (raw, unescaped bytes after the opening quote) is exactly `word`: the
 * word's bytes and then the closing quote.  Reading up to strlen(word) + 1
 * bytes is safe: a key is always followed by its quote and more. */
template <size_t N> inline bool key_is(const char *key, const char (&word)[N])
{
    return std::memcmp(key, word, N - 1) == 0 && key[N - 1] == '"';
}

inline bool get_i64(ondemand::value &v, int64_t &out)
{
    return v.get_int64().get(out) == SUCCESS;
}

inline bool get_i32(ondemand::value &v, int32_t &out)
{
    int64_t x;
    if (v.get_int64().get(x) != SUCCESS || x < INT32_MIN || x > INT32_MAX)
        return false;
    out = (int32_t)x;
    return true;
}

inline bool get_f64(ondemand::value &v, double &out)
{
    return v.get_double().get(out) == SUCCESS;
}

inline bool get_str(ondemand::value &v, char *out, size_t cap)
{
    std::string_view s;
    if (v.get_string().get(s) != SUCCESS || s.size() >= cap || s.find('\0') != std::string_view::npos)
        return false;
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
    return true;
}

inline bool get_list(ondemand::value &v, int32_t *list, uint32_t *count)
{
    ondemand::array arr;
    uint32_t n = 0;
    if (v.get_array().get(arr) != SUCCESS)
        return false;
    for (auto item : arr) {
        int64_t x;
        if (item.get_int64().get(x) != SUCCESS || x < INT32_MIN || x > INT32_MAX || n == PWS_MAX_CONDITIONS)
            return false;
        list[n++] = (int32_t)x;
    }
    *count = n;
    return true;
}

/* One field of pws_agg (key: raw bytes after the opening quote).  False if its value
 * does not fit its type; *sym is set when "sym" was read. */
bool agg_field(const char *k, ondemand::value &v, pws_agg *a, bool *sym)
{
    bool ok = true;
    switch (k[0]) {
    case 'e':
        if (key_is(k, "ev"))
            return true;
        if (key_is(k, "e"))
            ok = get_i64(v, a->e), a->present |= PWS_AGG_E;
        break;
    case 's':
        if (key_is(k, "sym"))
            ok = *sym = get_str(v, a->sym, sizeof a->sym);
        else if (key_is(k, "s"))
            ok = get_i64(v, a->s), a->present |= PWS_AGG_S;
        break;
    case 'v':
        if (key_is(k, "v"))
            ok = get_i64(v, a->v), a->present |= PWS_AGG_V;
        else if (key_is(k, "vw"))
            ok = get_f64(v, a->vw), a->present |= PWS_AGG_VW;
        break;
    case 'a':
        if (key_is(k, "av"))
            ok = get_i64(v, a->av), a->present |= PWS_AGG_AV;
        else if (key_is(k, "a"))
            ok = get_f64(v, a->a), a->present |= PWS_AGG_A;
        break;
    case 'o':
        if (key_is(k, "op"))
            ok = get_f64(v, a->op), a->present |= PWS_AGG_OP;
        else if (key_is(k, "o"))
            ok = get_f64(v, a->o), a->present |= PWS_AGG_O;
        else if (key_is(k, "otc"))
            ok = v.get_bool().get(a->otc) == SUCCESS, a->present |= PWS_AGG_OTC;
        break;
    case 'c':
        if (key_is(k, "c"))
            ok = get_f64(v, a->c), a->present |= PWS_AGG_C;
        break;
    case 'h':
        if (key_is(k, "h"))
            ok = get_f64(v, a->h), a->present |= PWS_AGG_H;
        break;
    case 'l':
        if (key_is(k, "l"))
            ok = get_f64(v, a->l), a->present |= PWS_AGG_L;
        break;
    case 'z':
        if (key_is(k, "z"))
            ok = get_i64(v, a->z), a->present |= PWS_AGG_Z;
        break;
    default:
        break;
    }
    return ok;
}

/* One field of pws_trade (key: raw bytes after the opening quote).  False if its value
 * does not fit its type; *sym is set when "sym" was read. */
bool trade_field(const char *k, ondemand::value &v, pws_trade *t, bool *sym)
{
    bool ok = true;
    switch (k[0]) {
    case 'e':
        if (key_is(k, "ev"))
            return true;
        break;
    case 's':
        if (key_is(k, "sym"))
            ok = *sym = get_str(v, t->sym, sizeof t->sym);
        else if (key_is(k, "s"))
            ok = get_i64(v, t->s), t->present |= PWS_TRADE_S;
        break;
    case 'x':
        if (key_is(k, "x"))
            ok = get_i32(v, t->x), t->present |= PWS_TRADE_X;
        break;
    case 'i':
        if (key_is(k, "i"))
            ok = get_str(v, t->i, sizeof t->i), t->present |= PWS_TRADE_I;
        break;
    case 'z':
        if (key_is(k, "z"))
            ok = get_i32(v, t->z), t->present |= PWS_TRADE_Z;
        break;
    case 'p':
        if (key_is(k, "p"))
            ok = get_f64(v, t->p), t->present |= PWS_TRADE_P;
        break;
    case 'c':
        if (key_is(k, "c"))
            ok = get_list(v, t->c, &t->nc), t->present |= PWS_TRADE_C;
        break;
    case 't':
        if (key_is(k, "t"))
            ok = get_i64(v, t->t), t->present |= PWS_TRADE_T;
        else if (key_is(k, "trfi"))
            ok = get_i32(v, t->trfi), t->present |= PWS_TRADE_TRFI;
        else if (key_is(k, "trft"))
            ok = get_i64(v, t->trft), t->present |= PWS_TRADE_TRFT;
        break;
    case 'q':
        if (key_is(k, "q"))
            ok = get_i64(v, t->q), t->present |= PWS_TRADE_Q;
        break;
    default:
        break;
    }
    return ok;
}

/* One field of pws_quote (key: raw bytes after the opening quote).  False if its value
 * does not fit its type; *sym is set when "sym" was read. */
bool quote_field(const char *k, ondemand::value &v, pws_quote *q, bool *sym)
{
    bool ok = true;
    switch (k[0]) {
    case 'e':
        if (key_is(k, "ev"))
            return true;
        break;
    case 's':
        if (key_is(k, "sym"))
            ok = *sym = get_str(v, q->sym, sizeof q->sym);
        break;
    case 'b':
        if (key_is(k, "bx"))
            ok = get_i32(v, q->bx), q->present |= PWS_QUOTE_BX;
        else if (key_is(k, "bp"))
            ok = get_f64(v, q->bp), q->present |= PWS_QUOTE_BP;
        else if (key_is(k, "bs"))
            ok = get_i64(v, q->bs), q->present |= PWS_QUOTE_BS;
        break;
    case 'a':
        if (key_is(k, "ax"))
            ok = get_i32(v, q->ax), q->present |= PWS_QUOTE_AX;
        else if (key_is(k, "ap"))
            ok = get_f64(v, q->ap), q->present |= PWS_QUOTE_AP;
        else if (key_is(k, "as"))
            ok = get_i64(v, q->as), q->present |= PWS_QUOTE_AS;
        break;
    case 'c':
        if (key_is(k, "c"))
            ok = get_i32(v, q->c), q->present |= PWS_QUOTE_C;
        break;
    case 'i':
        if (key_is(k, "i"))
            ok = get_list(v, q->i, &q->ni), q->present |= PWS_QUOTE_I;
        break;
    case 't':
        if (key_is(k, "t"))
            ok = get_i64(v, q->t), q->present |= PWS_QUOTE_T;
        break;
    case 'q':
        if (key_is(k, "q"))
            ok = get_i64(v, q->q), q->present |= PWS_QUOTE_Q;
        break;
    case 'z':
        if (key_is(k, "z"))
            ok = get_i32(v, q->z), q->present |= PWS_QUOTE_Z;
        break;
    default:
        break;
    }
    return ok;
}

/* The market-data types this peer fills. */
enum market { M_NONE, M_AGG, M_TRADE, M_QUOTE };

/* Starts ev for the "ev" value `name`; M_NONE for a type the feed does not
 * carry. */
market begin_event(std::string_view name, pws_event *ev)
{
    if (name == "T") {
        ev->type = PWS_EV_TRADE;
        return M_TRADE;
    }
    if (name == "Q") {
        ev->type = PWS_EV_QUOTE;
        return M_QUOTE;
    }
    if (name == "A" || name == "AM") {
        ev->type = PWS_EV_AGG;
        ev->u.agg.minute = name.size() == 2;
        return M_AGG;
    }
    return M_NONE;
}

/* One element, its fields in document order in one pass when "ev" comes first
 * (as the feed sends it).  Otherwise the object is rewound, "ev" looked up,
 * rewound again and read with the type known. */
bool fill_event(ondemand::object &obj, pws_event *ev)
{
    market m = M_NONE;
    bool sym = false, second_pass = false;

again:
    for (auto item : obj) {
        ondemand::field field;
        if (std::move(item).get(field) != SUCCESS)
            return false;
        const char *k = field.key().raw();
        ondemand::value &v = field.value();
        bool ok;
        switch (m) {
        case M_AGG: ok = agg_field(k, v, &ev->u.agg, &sym); break;
        case M_TRADE: ok = trade_field(k, v, &ev->u.trade, &sym); break;
        case M_QUOTE: ok = quote_field(k, v, &ev->u.quote, &sym); break;
        default: {
            std::string_view name;
            if (!key_is(k, "ev"))
                goto unordered;
            if (v.get_string().get(name) != SUCCESS || (m = begin_event(name, ev)) == M_NONE)
                return false;
            ok = true;
            break;
        }
        }
        if (!ok)
            return false;
    }
    return sym;

unordered: {
    std::string_view name;
    if (second_pass || obj.reset().error() != SUCCESS || obj.find_field_unordered("ev").get_string().get(name) ||
        (m = begin_event(name, ev)) == M_NONE || obj.reset().error() != SUCCESS)
        return false;
    second_pass = true;
    goto again;
}
}

void run_simdjson(ondemand::parser &parser, const corpus &cp, bench_tally &t)
{
    pws_event ev;
    const size_t total = cp.text.size();

    for (size_t k = 0; k < cp.starts.size(); k++) {
        const char *frame = cp.text.data() + cp.starts[k];
        ondemand::document doc;
        ondemand::array arr;
        bool frame_ok = parser.iterate(frame, cp.lens[k], total - cp.starts[k]).get(doc) == SUCCESS &&
                        doc.get_array().get(arr) == SUCCESS;
        if (!frame_ok) {
            t.errors++;
            continue;
        }
        for (auto item : arr) {
            ondemand::object obj;
            bool ok;
            std::memset(&ev, 0, sizeof ev);
            ok = item.get_object().get(obj) == SUCCESS && fill_event(obj, &ev);
            if (!ok) {
                std::memset(&ev, 0, sizeof ev);
                ev.type = PWS_EV_PARSE_ERROR;
                bench_tally_event(&t, &ev);
                break; /* the iterator may be unusable after an error */
            }
            bench_tally_event(&t, &ev);
        }
    }
}

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char **argv)
{
    const char *path = nullptr;
    int reps = 5;
    corpus cp;
    ondemand::parser parser;
    bench_tally t;

    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = std::atoi(argv[++i]);
        else
            path = nullptr, i = argc;
    }
    if (path == nullptr || reps < 1 || reps > 1000) {
        std::fprintf(stderr, "usage: %s --corpus FILE [--reps R (1..1000)]\n", argv[0]);
        return 1;
    }
    corpus_read(cp, path);
    std::printf("corpus: %s, %zu frames, %.1f MB; simdjson %d.%d.%d, implementation %s\n", path,
                cp.starts.size(), (double)cp.bytes / 1e6, SIMDJSON_VERSION_MAJOR, SIMDJSON_VERSION_MINOR,
                SIMDJSON_VERSION_REVISION, get_active_implementation()->name().c_str());

    std::vector<double> times((size_t)reps);
    t = bench_tally{};
    run_simdjson(parser, cp, t); /* warm pass, untimed */
    for (int r = 0; r < reps; r++) {
        t = bench_tally{};
        double t0 = now_s();
        run_simdjson(parser, cp, t);
        times[(size_t)r] = now_s() - t0;
    }
    double best = times[0];
    for (double x : times)
        best = x < best ? x : best;
    std::printf("simdjson: best of %d %.3f s  %.0f events/s  %.1f MB/s  checksum %016llx\n", reps, best,
                (double)t.events / best, (double)cp.bytes / 1e6 / best, (unsigned long long)t.sum);
    bench_print_result("simdjson", t.events, cp.bytes, times.data(), reps, t.sum);
    return t.errors ? 1 : 0;
}
