/*
 * checksum.h - the one checksum every parser of the parse benchmark folds its
 * events into (parse_bench.c's polyws and cJSON consumers, simdjson_peer.cpp;
 * json_parse_peer.js computes the same function in 32-bit halves).
 *
 * The hash is order-dependent and covers every field of every market-data
 * event, absent fields as zero, so two parsers that fill the same pws_event
 * structs from the same corpus print the same value.  Header-only and valid
 * C and C++, so the C++ peer needs no link with the benchmark.
 */
#ifndef POLYWS_BENCH_CHECKSUM_H
#define POLYWS_BENCH_CHECKSUM_H

#include <polyws/events.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* What each consumer accumulates. */
typedef struct bench_tally {
    uint64_t sum;  /* order-dependent hash of every field of every event */
    size_t events; /* events seen */
    size_t errors; /* events that are not market data (the corpus has none) */
} bench_tally;

static inline uint64_t bench_mix(uint64_t h, uint64_t x)
{
    h ^= x;
    h *= 0x100000001B3ull;
    return h ^ (h >> 32);
}

static inline uint64_t bench_dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline uint64_t bench_mix_str(uint64_t h, const char *s)
{
    while (*s)
        h = bench_mix(h, (unsigned char)*s++);
    return h;
}

/* Folds one event into t. */
static inline void bench_tally_event(bench_tally *t, const pws_event *ev)
{
    uint64_t h = bench_mix(t->sum, (uint64_t)ev->type);

    t->events++;
    switch (ev->type) {
    case PWS_EV_AGG: {
        const pws_agg *a = &ev->u.agg;
        h = bench_mix_str(h, a->sym);
        h = bench_mix(h, a->present | (uint64_t)a->minute << 40 | (uint64_t)a->otc << 41);
        h = bench_mix(h, (uint64_t)a->v);
        h = bench_mix(h, (uint64_t)a->av);
        h = bench_mix(h, bench_dbits(a->op));
        h = bench_mix(h, bench_dbits(a->vw));
        h = bench_mix(h, bench_dbits(a->o));
        h = bench_mix(h, bench_dbits(a->c));
        h = bench_mix(h, bench_dbits(a->h));
        h = bench_mix(h, bench_dbits(a->l));
        h = bench_mix(h, bench_dbits(a->a));
        h = bench_mix(h, (uint64_t)a->z);
        h = bench_mix(h, (uint64_t)a->s);
        h = bench_mix(h, (uint64_t)a->e);
        break;
    }
    case PWS_EV_TRADE: {
        const pws_trade *tr = &ev->u.trade;
        h = bench_mix_str(h, tr->sym);
        h = bench_mix_str(h, tr->i);
        h = bench_mix(h, tr->present);
        h = bench_mix(h, (uint64_t)tr->x);
        h = bench_mix(h, (uint64_t)tr->z);
        h = bench_mix(h, bench_dbits(tr->p));
        h = bench_mix(h, (uint64_t)tr->s);
        for (uint32_t k = 0; k < tr->nc; k++)
            h = bench_mix(h, (uint64_t)tr->c[k]);
        h = bench_mix(h, (uint64_t)tr->t);
        h = bench_mix(h, (uint64_t)tr->q);
        h = bench_mix(h, (uint64_t)tr->trfi);
        h = bench_mix(h, (uint64_t)tr->trft);
        break;
    }
    case PWS_EV_QUOTE: {
        const pws_quote *q = &ev->u.quote;
        h = bench_mix_str(h, q->sym);
        h = bench_mix(h, q->present);
        h = bench_mix(h, (uint64_t)q->bx);
        h = bench_mix(h, bench_dbits(q->bp));
        h = bench_mix(h, (uint64_t)q->bs);
        h = bench_mix(h, (uint64_t)q->ax);
        h = bench_mix(h, bench_dbits(q->ap));
        h = bench_mix(h, (uint64_t)q->as);
        h = bench_mix(h, (uint64_t)q->c);
        for (uint32_t k = 0; k < q->ni; k++)
            h = bench_mix(h, (uint64_t)q->i[k]);
        h = bench_mix(h, (uint64_t)q->t);
        h = bench_mix(h, (uint64_t)q->q);
        h = bench_mix(h, (uint64_t)q->z);
        break;
    }
    default:
        t->errors++;
        break;
    }
    t->sum = h;
}

/* Sorts times[0..n) in place (insertion sort: n is a repetition count). */
static inline void bench_sort_times(double *times, int n)
{
    for (int i = 1; i < n; i++) {
        double v = times[i];
        int j = i;
        for (; j > 0 && times[j - 1] > v; j--)
            times[j] = times[j - 1];
        times[j] = v;
    }
}

/* Prints the one machine-readable line the `./run bench` harness reads:
 *   RESULT {"parser":...,"events":N,"bytes":B,"reps":R,"best_s":X,"median_s":Y,"worst_s":Z,"checksum":"hex"}
 * times[0..reps) are the timed runs (sorted here); the median of an even
 * count is the mean of the middle two. */
static inline void bench_print_result(const char *parser, size_t events, size_t bytes, double *times, int reps,
                                      uint64_t checksum)
{
    double median;

    bench_sort_times(times, reps);
    median = reps % 2 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    printf("RESULT {\"parser\":\"%s\",\"events\":%zu,\"bytes\":%zu,\"reps\":%d,\"best_s\":%.6f,"
           "\"median_s\":%.6f,\"worst_s\":%.6f,\"checksum\":\"%016llx\"}\n",
           parser, events, bytes, reps, times[0], median, times[reps - 1], (unsigned long long)checksum);
    fflush(stdout);
}

#endif /* POLYWS_BENCH_CHECKSUM_H */
