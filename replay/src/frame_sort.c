/*
 * frame_sort.c - the external merge sort of tape frames (frame_sort.h).
 *
 * A frame is kept as one record: a fixed head, the data and a NUL, then the
 * headers JSON and a NUL if there are headers.  Records go to an arena, their
 * keys (time, seq, arena offset) to an array that qsort orders; a full arena
 * is written to the temporary file in key order as a run.  Merging keeps one
 * record head per run in a binary heap and reads a record's bytes only when it
 * is returned, so the largest frame is held once, not once per run.
 */
#include "frame_sort.h"

#include <polyws/polyws.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_BUF (64u << 10)      /* bytes gathered before a write(2) to the temporary file */
#define MIN_ARENA (64u << 10)      /* first arena allocation */

/* The fixed part of a record, in the arena and in the file. */
typedef struct rec_head {
    int64_t t_us;   /* sort key */
    uint64_t seq;   /* ties */
    uint64_t len;   /* data bytes (a NUL follows them) */
    uint64_t hlen;  /* headers bytes with their NUL, 0: no headers */
    uint32_t conn;  /* connection ordinal */
    int32_t code;   /* CLOSE code */
    int32_t kind;   /* pws_tape_kind */
    char dir;       /* 'c', 's', '-' */
} rec_head;

/* A record in the arena, as qsort moves it. */
typedef struct sort_key {
    int64_t t_us;   /* the record's time */
    uint64_t seq;   /* and seq */
    size_t off;     /* where its head is in the arena */
} sort_key;

/* A run in the temporary file. */
typedef struct run {
    uint64_t off;   /* first byte */
    uint64_t end;   /* one past the last */
} run;

/* Reading one run while merging. */
typedef struct run_cursor {
    uint64_t off;        /* file offset of the next byte not yet in buf */
    uint64_t end;        /* end of the run */
    unsigned char *buf;  /* PWSR__FRAME_SORT_RUN_BUF bytes */
    size_t pos;          /* next unread byte in buf */
    size_t fill;         /* bytes in buf */
    rec_head head;       /* the head of the record that is next from this run */
} run_cursor;

struct pwsr__frame_sort {
    size_t budget;            /* bytes of records and keys held before a run is written */
    char *tmpdir;             /* where the temporary file goes (owned), NULL: $TMPDIR or /tmp */
    unsigned char *arena;     /* records of the batch in memory */
    size_t arena_len;         /* bytes used */
    size_t arena_cap;         /* bytes allocated */
    sort_key *keys;           /* one per record in the arena */
    size_t nkeys;             /* used */
    size_t keys_cap;          /* allocated */
    int fd;                   /* the temporary file (unlinked), -1 until the first run */
    uint64_t file_len;        /* bytes written to it */
    unsigned char *wbuf;      /* WRITE_BUF bytes gathered for it */
    size_t wlen;              /* bytes in wbuf */
    run *runs;                /* runs written */
    size_t nruns;             /* used */
    size_t runs_cap;          /* allocated */
    bool reading;             /* next was called: no more adds */
    size_t next_key;          /* in-memory mode: the next key to return */
    run_cursor *cur;          /* merge mode: one per run */
    size_t *heap;             /* indexes into cur, smallest head first */
    size_t nheap;             /* entries in heap */
    bool advance_top;         /* the record at the heap's top was returned: move past it first */
    char *out;                /* merge mode: the record returned */
    size_t out_cap;           /* bytes allocated for out */
    char err[320];            /* last failure */
};

static int key_cmp(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool head_less(const rec_head *x, const rec_head *y)
{
    return x->t_us != y->t_us ? x->t_us < y->t_us : x->seq < y->seq;
}

static const char *tmp_dir(const pwsr__frame_sort *s)
{
    const char *d = s->tmpdir ? s->tmpdir : getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

static int fail(pwsr__frame_sort *s, int rc, const char *what)
{
    if (rc == PWS_ERR_NOMEM)
        snprintf(s->err, sizeof s->err, "out of memory sorting the frames");
    else
        snprintf(s->err, sizeof s->err, "%s the temporary file in %s: %s", what, tmp_dir(s), strerror(errno));
    return rc;
}

int pwsr__frame_sort_open(size_t budget, const char *tmpdir, pwsr__frame_sort **out)
{
    *out = NULL;
    pwsr__frame_sort *s = calloc(1, sizeof *s);
    if (!s)
        return PWS_ERR_NOMEM;
    s->budget = budget ? budget : PWSR__FRAME_SORT_MEMORY;
    s->fd = -1;
    if (tmpdir && !(s->tmpdir = strdup(tmpdir))) {
        free(s);
        return PWS_ERR_NOMEM;
    }
    *out = s;
    return PWS_OK;
}

const char *pwsr__frame_sort_error(const pwsr__frame_sort *s)
{
    return s->err;
}

size_t pwsr__frame_sort_runs(const pwsr__frame_sort *s)
{
    return s->nruns;
}

static int write_all(pwsr__frame_sort *s, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(s->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return fail(s, PWS_ERR_SYSTEM, "cannot write");
        }
        c += w;
        n -= (size_t)w;
        s->file_len += (uint64_t)w;
    }
    return PWS_OK;
}

static int flush_wbuf(pwsr__frame_sort *s)
{
    int rc = write_all(s, s->wbuf, s->wlen);
    s->wlen = 0;
    return rc;
}

static int put(pwsr__frame_sort *s, const void *p, size_t n)
{
    if (s->wlen + n > WRITE_BUF) {
        int rc = flush_wbuf(s);
        if (rc)
            return rc;
        if (n >= WRITE_BUF)
            return write_all(s, p, n);
    }
    memcpy(s->wbuf + s->wlen, p, n);
    s->wlen += n;
    return PWS_OK;
}

static int open_file(pwsr__frame_sort *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/polyws-sort-XXXXXX", tmp_dir(s));
    s->fd = mkstemp(path);
    if (s->fd < 0)
        return fail(s, PWS_ERR_SYSTEM, "cannot make");
    unlink(path);
    s->wbuf = malloc(WRITE_BUF);
    return s->wbuf ? PWS_OK : fail(s, PWS_ERR_NOMEM, NULL);
}

static size_t record_size(const rec_head *h)
{
    return sizeof *h + (size_t)h->len + 1 + (size_t)h->hlen;
}

/* Sorts the batch in memory and writes it as a run. */
static int spill(pwsr__frame_sort *s)
{
    int rc = s->fd < 0 ? open_file(s) : PWS_OK;
    if (rc)
        return rc;
    if (s->nruns == s->runs_cap) {
        size_t cap = s->runs_cap ? s->runs_cap * 2 : 16;
        run *n = realloc(s->runs, cap * sizeof *n);
        if (!n)
            return fail(s, PWS_ERR_NOMEM, NULL);
        s->runs = n;
        s->runs_cap = cap;
    }
    qsort(s->keys, s->nkeys, sizeof *s->keys, key_cmp);
    uint64_t start = s->file_len + s->wlen;
    for (size_t i = 0; i < s->nkeys && !rc; i++) {
        rec_head h;
        memcpy(&h, s->arena + s->keys[i].off, sizeof h);
        rc = put(s, s->arena + s->keys[i].off, record_size(&h));
    }
    if (!rc)
        rc = flush_wbuf(s);
    if (rc)
        return rc;
    s->runs[s->nruns++] = (run){.off = start, .end = s->file_len};
    s->arena_len = 0;
    s->nkeys = 0;
    if (s->arena_cap > s->budget) {
        /* it grew for one big frame: give that back */
        free(s->arena);
        s->arena = NULL;
        s->arena_cap = 0;
    }
    return PWS_OK;
}

int pwsr__frame_sort_add(pwsr__frame_sort *s, const pwsr__sort_frame *f)
{
    if (s->reading || f->len > SIZE_MAX / 4)
        return fail(s, PWS_ERR_NOMEM, NULL);
    size_t hl = f->headers ? strlen(f->headers) + 1 : 0;
    rec_head h;
    memset(&h, 0, sizeof h); /* the padding goes to the file too */
    h.t_us = f->t_us;
    h.seq = f->seq;
    h.len = f->len;
    h.hlen = hl;
    h.conn = f->conn;
    h.code = f->code;
    h.kind = (int32_t)f->kind;
    h.dir = f->dir;
    size_t rec = record_size(&h);
    if (s->nkeys && s->arena_len + rec + (s->nkeys + 1) * sizeof *s->keys > s->budget) {
        int rc = spill(s);
        if (rc)
            return rc;
    }
    if (s->arena_len + rec > s->arena_cap) {
        /* doubling, but not past the budget unless one record needs it */
        size_t cap = s->arena_cap ? s->arena_cap * 2 : MIN_ARENA;
        if (cap > s->budget)
            cap = s->budget;
        if (cap < s->arena_len + rec)
            cap = s->arena_len + rec;
        unsigned char *n = realloc(s->arena, cap);
        if (!n)
            return fail(s, PWS_ERR_NOMEM, NULL);
        s->arena = n;
        s->arena_cap = cap;
    }
    if (s->nkeys == s->keys_cap) {
        size_t cap = s->keys_cap ? s->keys_cap * 2 : 1024;
        sort_key *n = realloc(s->keys, cap * sizeof *n);
        if (!n)
            return fail(s, PWS_ERR_NOMEM, NULL);
        s->keys = n;
        s->keys_cap = cap;
    }
    unsigned char *p = s->arena + s->arena_len;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    if (f->len)
        memcpy(p, f->data, f->len);
    p[f->len] = '\0';
    if (hl)
        memcpy(p + f->len + 1, f->headers, hl);
    s->keys[s->nkeys++] = (sort_key){.t_us = f->t_us, .seq = f->seq, .off = s->arena_len};
    s->arena_len += rec;
    return PWS_OK;
}

/* Reads n bytes of c's run into dst. */
static int cursor_read(pwsr__frame_sort *s, run_cursor *c, void *dst, size_t n)
{
    unsigned char *d = dst;
    while (n) {
        if (c->pos == c->fill) {
            bool direct = n >= PWSR__FRAME_SORT_RUN_BUF;
            size_t want = direct ? n : PWSR__FRAME_SORT_RUN_BUF;
            if (want > c->end - c->off)
                want = (size_t)(c->end - c->off);
            if (want == 0 || (direct && want < n)) {
                snprintf(s->err, sizeof s->err, "the temporary file in %s ended early", tmp_dir(s));
                return PWS_ERR_SYSTEM;
            }
            unsigned char *into = direct ? d : c->buf;
            size_t got = 0;
            while (got < want) {
                ssize_t r = pread(s->fd, into + got, want - got, (off_t)(c->off + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    if (r == 0)
                        errno = EIO;
                    return fail(s, PWS_ERR_SYSTEM, "cannot read");
                }
                got += (size_t)r;
            }
            c->off += want;
            if (direct)
                return PWS_OK;
            c->pos = 0;
            c->fill = want;
        }
        size_t k = c->fill - c->pos < n ? c->fill - c->pos : n;
        memcpy(d, c->buf + c->pos, k);
        c->pos += k;
        d += k;
        n -= k;
    }
    return PWS_OK;
}

static bool cursor_more(const run_cursor *c)
{
    return c->pos < c->fill || c->off < c->end;
}

static void heap_down(pwsr__frame_sort *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < s->nheap && head_less(&s->cur[s->heap[l]].head, &s->cur[s->heap[m]].head))
            m = l;
        if (l + 1 < s->nheap && head_less(&s->cur[s->heap[l + 1]].head, &s->cur[s->heap[m]].head))
            m = l + 1;
        if (m == i)
            return;
        size_t t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

/* After the last add: in memory, sorts the batch; else writes it as the last
 * run, frees the batch and reads the first head of every run. */
static int start_reading(pwsr__frame_sort *s)
{
    s->reading = true;
    if (!s->nruns) {
        if (s->nkeys) /* keys is NULL when nothing was added */
            qsort(s->keys, s->nkeys, sizeof *s->keys, key_cmp);
        return PWS_OK;
    }
    int rc = s->nkeys ? spill(s) : PWS_OK;
    if (rc)
        return rc;
    free(s->arena);
    free(s->keys);
    free(s->wbuf);
    s->arena = NULL;
    s->keys = NULL;
    s->wbuf = NULL;
    s->arena_cap = s->keys_cap = 0;
    s->cur = calloc(s->nruns, sizeof *s->cur);
    s->heap = calloc(s->nruns, sizeof *s->heap);
    if (!s->cur || !s->heap)
        return fail(s, PWS_ERR_NOMEM, NULL);
    for (size_t i = 0; i < s->nruns; i++) {
        run_cursor *c = &s->cur[i];
        c->off = s->runs[i].off;
        c->end = s->runs[i].end;
        if (!(c->buf = malloc(PWSR__FRAME_SORT_RUN_BUF)))
            return fail(s, PWS_ERR_NOMEM, NULL);
        if (!cursor_more(c))
            continue;
        if ((rc = cursor_read(s, c, &c->head, sizeof c->head)))
            return rc;
        s->heap[s->nheap++] = i;
    }
    for (size_t i = s->nheap / 2; i-- > 0;)
        heap_down(s, i);
    return PWS_OK;
}

static void fill_out(pwsr__sort_frame *out, const rec_head *h, const char *body)
{
    *out = (pwsr__sort_frame){.t_us = h->t_us, .seq = h->seq, .conn = h->conn, .dir = h->dir,
                              .kind = (pws_tape_kind)h->kind, .code = h->code, .data = body,
                              .len = (size_t)h->len, .headers = h->hlen ? body + h->len + 1 : NULL};
}

int pwsr__frame_sort_next(pwsr__frame_sort *s, pwsr__sort_frame *out)
{
    int rc;
    if (!s->reading && (rc = start_reading(s)))
        return rc;
    if (!s->nruns) {
        if (s->next_key == s->nkeys)
            return 0;
        const unsigned char *p = s->arena + s->keys[s->next_key++].off;
        rec_head h;
        memcpy(&h, p, sizeof h);
        fill_out(out, &h, (const char *)p + sizeof h);
        return 1;
    }
    if (s->advance_top) {
        s->advance_top = false;
        run_cursor *c = &s->cur[s->heap[0]];
        if (cursor_more(c)) {
            if ((rc = cursor_read(s, c, &c->head, sizeof c->head)))
                return rc;
        } else {
            s->heap[0] = s->heap[--s->nheap];
        }
        heap_down(s, 0);
    }
    if (!s->nheap)
        return 0;
    run_cursor *c = &s->cur[s->heap[0]];
    size_t body = (size_t)c->head.len + 1 + (size_t)c->head.hlen;
    if (body > s->out_cap) {
        char *n = realloc(s->out, body);
        if (!n)
            return fail(s, PWS_ERR_NOMEM, NULL);
        s->out = n;
        s->out_cap = body;
    }
    if ((rc = cursor_read(s, c, s->out, body)))
        return rc;
    s->advance_top = true;
    fill_out(out, &c->head, s->out);
    return 1;
}

void pwsr__frame_sort_close(pwsr__frame_sort *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->cur)
        for (size_t i = 0; i < s->nruns; i++)
            free(s->cur[i].buf);
    free(s->cur);
    free(s->heap);
    free(s->runs);
    free(s->arena);
    free(s->keys);
    free(s->wbuf);
    free(s->out);
    free(s->tmpdir);
    free(s);
}
