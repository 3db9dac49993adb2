/*
 * stats.c - `polyws tape stats`: counts by connection, direction, kind and
 * event type, durations and rates.  One streaming pass over the tape; server
 * text frames go through the connector's parser to count events by type.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_MAX_CONNS 100000u /* connections listed one by one; more are only counted */
#define NKINDS (PWS_TAPE_OTHER + 1)

enum { EV_STATUS, EV_A, EV_AM, EV_T, EV_Q, EV_OTHER, EV_ERROR, EV__N };
static const char *const ev_names[EV__N] = {"status", "A", "AM", "T", "Q", "other", "parse_errors"};

typedef struct conn_stats {
    uint32_t conn;          /* ordinal */
    int64_t first_us, last_us; /* first and last line */
    uint64_t frames[2];     /* c, s */
    char end[24];           /* "closed (client)", "drop (upstream)", "" if none */
} conn_stats;

struct pws_tape_stats {
    char path[512];
    bool has_header;
    int version;
    char url[1024], tool[128], mode[32], start[40];
    bool truncated;
    size_t trunc_bytes;
    uint64_t lines;                 /* frame and event lines */
    uint64_t count[2][NKINDS];      /* [c/s][kind] */
    uint64_t bytes[2];              /* payload bytes by direction */
    uint64_t events[NKINDS];        /* '-' lines by kind */
    uint64_t ev[EV__N];             /* server events by type */
    int64_t first_us, last_us;      /* first and last line */
    bool any;                       /* at least one line */
    conn_stats *conns;              /* by first appearance */
    size_t nconns, cap;
    uint64_t conns_total;           /* distinct ordinals, also past STATS_MAX_CONNS */
};

static int count_event(const pws_event *ev, void *user)
{
    uint64_t *c = user;
    switch (ev->type) {
    case PWS_EV_STATUS: c[EV_STATUS]++; break;
    case PWS_EV_AGG: c[ev->u.agg.minute ? EV_AM : EV_A]++; break;
    case PWS_EV_TRADE: c[EV_T]++; break;
    case PWS_EV_QUOTE: c[EV_Q]++; break;
    case PWS_EV_PARSE_ERROR: c[EV_ERROR]++; break;
    default: c[EV_OTHER]++; break;
    }
    return 0;
}

static conn_stats *conn_of(pws_tape_stats *s, uint32_t conn, int64_t t)
{
    /* tapes interleave few connections at a time: look from the newest */
    for (size_t i = s->nconns; i-- > 0;)
        if (s->conns[i].conn == conn)
            return &s->conns[i];
    s->conns_total++;
    if (s->nconns >= STATS_MAX_CONNS)
        return NULL;
    if (s->nconns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        conn_stats *n = realloc(s->conns, cap * sizeof *n);
        if (!n)
            return NULL;
        s->conns = n;
        s->cap = cap;
    }
    conn_stats *c = &s->conns[s->nconns++];
    memset(c, 0, sizeof *c);
    c->conn = conn;
    c->first_us = c->last_us = t;
    return c;
}

int pws_tape_stats_compute(const char *path, pws_tape_stats **out, char *errbuf, size_t errcap)
{
    return pws_tape_stats_compute_opts(path, NULL, out, errbuf, errcap);
}

int pws_tape_stats_compute_opts(const char *path, const pws_tape_tool_options *o, pws_tape_stats **out,
                                char *errbuf, size_t errcap)
{
    *out = NULL;
    pws_tape_reader *r;
    int rc = pws_tape_reader_open(path, &r, errbuf, errcap);
    if (rc)
        return rc;
    pwsr__progress pr;
    pwsr__progress_start(&pr, o, "reading", 0, pws_tape_reader_size(r));
    pws_tape_stats *s = calloc(1, sizeof *s);
    if (!s) {
        pws_tape_reader_close(r);
        snprintf(errbuf, errcap, "out of memory");
        return PWS_ERR_NOMEM;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    const pws_tape_header *h = pws_tape_reader_header(r);
    if (h) {
        s->has_header = true;
        s->version = h->version;
        snprintf(s->url, sizeof s->url, "%s", h->url);
        snprintf(s->tool, sizeof s->tool, "%s", h->tool);
        snprintf(s->mode, sizeof s->mode, "%s", h->mode);
        pwsr__iso_time(h->start_us, s->start, sizeof s->start);
    }
    pws_tape_frame f;
    while ((rc = pws_tape_next(r, &f)) == 1) {
        pwsr__progress_line(&pr, r);
        s->lines++;
        if (!s->any || f.t_us < s->first_us)
            s->first_us = f.t_us;
        if (!s->any || f.t_us > s->last_us)
            s->last_us = f.t_us;
        s->any = true;
        conn_stats *c = conn_of(s, f.conn, f.t_us);
        if (c && f.t_us > c->last_us)
            c->last_us = f.t_us;
        if (f.dir == '-') {
            s->events[f.kind]++;
            if (c && (f.kind == PWS_TAPE_CLOSED || f.kind == PWS_TAPE_DROP))
                snprintf(c->end, sizeof c->end, "%s%s%.12s%s", f.kind == PWS_TAPE_CLOSED ? "closed" : "drop",
                         f.len ? " (" : "", f.len ? (const char *)f.data : "", f.len ? ")" : "");
            continue;
        }
        int d = f.dir == 's';
        s->count[d][f.kind]++;
        s->bytes[d] += f.len;
        if (c)
            c->frames[d]++;
        if (d && f.kind == PWS_TAPE_TEXT)
            pws_parse_frame((const char *)f.data, f.len, NULL, count_event, s->ev);
    }
    if (rc < 0) {
        snprintf(errbuf, errcap, "%s: %s", path, pws_tape_reader_error(r));
        pws_tape_reader_close(r);
        pws_tape_stats_free(s);
        return rc;
    }
    pwsr__progress_read_done(&pr, r);
    s->truncated = pws_tape_reader_truncated(r, &s->trunc_bytes);
    pws_tape_reader_close(r);
    *out = s;
    return PWS_OK;
}

void pws_tape_stats_free(pws_tape_stats *s)
{
    if (!s)
        return;
    free(s->conns);
    free(s);
}

static uint64_t sum(const uint64_t *v, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i];
    return t;
}

static void json_str(FILE *f, const char *s)
{
    pws_tape_buf b = {0};
    if (pwsr__buf_json_string(&b, s, strlen(s)) == 0)
        fputs(b.p, f);
    else
        fputs("\"\"", f);
    pws_tape_buf_free(&b);
}

void pws_tape_stats_print(const pws_tape_stats *s, bool json, FILE *f)
{
    static const pws_tape_kind fk[] = {PWS_TAPE_TEXT, PWS_TAPE_BINARY, PWS_TAPE_PING, PWS_TAPE_PONG, PWS_TAPE_CLOSE};
    double dur = s->any ? (double)(s->last_us - s->first_us) / 1e6 : 0;
    uint64_t frames = sum(s->count[0], NKINDS) + sum(s->count[1], NKINDS);
    uint64_t bytes = s->bytes[0] + s->bytes[1];
    uint64_t events = sum(s->ev, EV_ERROR);
    if (json) {
        fputs("{\"tape\":", f);
        json_str(f, s->path);
        fprintf(f, ",\"header\":%s", s->has_header ? "true" : "false");
        if (s->has_header) {
            fprintf(f, ",\"version\":%d,\"url\":", s->version);
            json_str(f, s->url);
            fputs(",\"mode\":", f);
            json_str(f, s->mode);
            fputs(",\"tool\":", f);
            json_str(f, s->tool);
            fprintf(f, ",\"start\":\"%s\"", s->start);
        }
        fprintf(f, ",\"truncated\":%s,\"truncated_bytes\":%zu,\"lines\":%llu,\"frames\":%llu,\"bytes\":%llu,"
                   "\"duration_s\":%.6f,\"connections\":%llu",
                s->truncated ? "true" : "false", s->trunc_bytes, (unsigned long long)s->lines,
                (unsigned long long)frames, (unsigned long long)bytes, dur, (unsigned long long)s->conns_total);
        for (int d = 0; d < 2; d++) {
            fprintf(f, ",\"%s\":{\"bytes\":%llu", d ? "server" : "client", (unsigned long long)s->bytes[d]);
            for (size_t k = 0; k < sizeof fk / sizeof fk[0]; k++)
                fprintf(f, ",\"%s\":%llu", pws_tape_kind_name(fk[k]), (unsigned long long)s->count[d][fk[k]]);
            fputs("}", f);
        }
        fprintf(f, ",\"conn_events\":{\"open\":%llu,\"closed\":%llu,\"drop\":%llu,\"error\":%llu,\"other\":%llu}",
                (unsigned long long)s->events[PWS_TAPE_OPEN], (unsigned long long)s->events[PWS_TAPE_CLOSED],
                (unsigned long long)s->events[PWS_TAPE_DROP], (unsigned long long)s->events[PWS_TAPE_ERROR],
                (unsigned long long)s->events[PWS_TAPE_OTHER]);
        fprintf(f, ",\"events\":{\"total\":%llu", (unsigned long long)events);
        for (int e = 0; e < EV__N; e++)
            fprintf(f, ",\"%s\":%llu", ev_names[e], (unsigned long long)s->ev[e]);
        fprintf(f, "},\"rates\":{\"frames_per_s\":%.1f,\"bytes_per_s\":%.1f,\"events_per_s\":%.1f}",
                dur > 0 ? (double)frames / dur : 0, dur > 0 ? (double)bytes / dur : 0,
                dur > 0 ? (double)events / dur : 0);
        fputs(",\"per_connection\":[", f);
        for (size_t i = 0; i < s->nconns; i++) {
            const conn_stats *c = &s->conns[i];
            fprintf(f, "%s{\"conn\":%u,\"duration_s\":%.6f,\"client_frames\":%llu,\"server_frames\":%llu,\"end\":",
                    i ? "," : "", c->conn, (double)(c->last_us - c->first_us) / 1e6,
                    (unsigned long long)c->frames[0], (unsigned long long)c->frames[1]);
            json_str(f, c->end);
            fputs("}", f);
        }
        fputs("]}\n", f);
        return;
    }
    fprintf(f, "tape         %s\n", s->path);
    if (s->has_header)
        fprintf(f, "header       polyws_tape %d, mode %s, written by %s\nurl          %s\nstarted      %s\n",
                s->version, s->mode[0] ? s->mode : "-", s->tool[0] ? s->tool : "-", s->url[0] ? s->url : "-",
                s->start);
    else
        fprintf(f, "header       none (a mock journal or a tape without a header)\n");
    if (s->truncated)
        fprintf(f, "truncated:   last line cut (%zu bytes), ignored\n", s->trunc_bytes);
    fprintf(f, "duration     %.3f s (first to last line)\n", dur);
    fprintf(f, "lines        %llu (%llu frames, %llu connection events)\n", (unsigned long long)s->lines,
            (unsigned long long)frames, (unsigned long long)(s->lines - frames));
    fprintf(f, "connections  %llu\n\n", (unsigned long long)s->conns_total);
    fprintf(f, "%-16s %9s %12s %9s %7s %7s %7s %6s\n", "direction", "frames", "bytes", "text", "binary", "ping",
            "pong", "close");
    for (int d = 0; d < 2; d++)
        fprintf(f, "%-16s %9llu %12llu %9llu %7llu %7llu %7llu %6llu\n", d ? "server->client" : "client->server",
                (unsigned long long)sum(s->count[d], NKINDS), (unsigned long long)s->bytes[d],
                (unsigned long long)s->count[d][PWS_TAPE_TEXT], (unsigned long long)s->count[d][PWS_TAPE_BINARY],
                (unsigned long long)s->count[d][PWS_TAPE_PING], (unsigned long long)s->count[d][PWS_TAPE_PONG],
                (unsigned long long)s->count[d][PWS_TAPE_CLOSE]);
    fprintf(f, "\nconnection events: open %llu, closed %llu, drop %llu, error %llu, other %llu\n",
            (unsigned long long)s->events[PWS_TAPE_OPEN], (unsigned long long)s->events[PWS_TAPE_CLOSED],
            (unsigned long long)s->events[PWS_TAPE_DROP], (unsigned long long)s->events[PWS_TAPE_ERROR],
            (unsigned long long)s->events[PWS_TAPE_OTHER]);
    fprintf(f, "server events: %llu (", (unsigned long long)events);
    for (int e = 0; e < EV__N; e++)
        fprintf(f, "%s%s %llu", e ? ", " : "", e == EV_ERROR ? "parse errors" : ev_names[e],
                (unsigned long long)s->ev[e]);
    fprintf(f, ")\n");
    if (dur > 0)
        fprintf(f, "rates: %.1f frames/s, %.1f kB/s, %.1f events/s\n", (double)frames / dur,
                (double)bytes / dur / 1e3, (double)events / dur);
    else
        fprintf(f, "rates: - (no time span)\n");
    if (s->nconns) {
        fprintf(f, "\n%-8s %12s %10s %10s  %s\n", "conn", "duration_s", "client", "server", "end");
        for (size_t i = 0; i < s->nconns; i++) {
            const conn_stats *c = &s->conns[i];
            fprintf(f, "%-8u %12.3f %10llu %10llu  %s\n", c->conn, (double)(c->last_us - c->first_us) / 1e6,
                    (unsigned long long)c->frames[0], (unsigned long long)c->frames[1], c->end[0] ? c->end : "-");
        }
        if (s->conns_total > s->nconns)
            fprintf(f, "(%llu more connections not listed)\n", (unsigned long long)(s->conns_total - s->nconns));
    }
}
