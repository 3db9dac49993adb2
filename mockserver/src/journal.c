/*
 * journal.c - chunked, append-only journal with an optional JSON-lines copy.
 *
 * The line format is the tape format shared with the record/replay tool,
 *   {"t_us":123,"conn":1,"dir":"c","kind":"text","data":"..."}
 * written by wire's line codec (wire/tapeline.h), which tapes use too.
 */
#include "journal.h"

#include "wire/clock.h"
#include "wire/json.h"
#include "wire/tapeline.h" /* the line codec tapes share */

#include <polyws/polyws.h> /* PWS_VERSION_STRING */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOURNAL_CHUNK 1024 /* entries per chunk: 40 KiB, allocated as the journal grows */
#define JOURNAL_TAPE_VERSION 1 /* the tape format (docs/tapes.md, PWS_TAPE_VERSION) of the header line */

static const char empty[] = "";

/* One pwsm_journal() copy. */
struct pwsm__snapshot {
    struct pwsm__snapshot *next; /* older copies */
    pwsm_entry e[];              /* the entries */
};

int pwsm__journal_init(pwsm__journal *j, const char *path, size_t max_entries, size_t max_bytes,
                       uint64_t file_max, char *err, size_t errcap)
{
    memset(j, 0, sizeof *j);
    j->file_max = file_max;
    j->t0_us = pws__mono_us();
    j->t0_wall_us = pws__wall_us();
    if (max_entries < 2)
        max_entries = 2;
    j->max_entries = max_entries;
    j->max_bytes = max_bytes;
    j->nchunks = (max_entries + JOURNAL_CHUNK - 1) / JOURNAL_CHUNK;
    j->chunks = calloc(j->nchunks, sizeof *j->chunks);
    if (!j->chunks) {
        snprintf(err, errcap, "journal: out of memory");
        return -1;
    }
    if (path) {
        j->file = fopen(path, "w");
        if (!j->file) {
            snprintf(err, errcap, "journal: cannot open %s: %s", path, strerror(errno));
            free(j->chunks);
            j->chunks = NULL;
            return -1;
        }
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->grew, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&j->mu, NULL);
    return 0;
}

/* Appends the file's bytes, counted against file_max. */
static void file_put(pwsm__journal *j, const pws__buf *b)
{
    fwrite(b->p, 1, b->len, j->file);
    fflush(j->file);
    j->file_bytes += b->len;
}

/* The header line (a tape header, docs/tapes.md), with j->mu held: once, first. */
static void write_header(pwsm__journal *j, const char *url, unsigned secrets)
{
    if (!j->file || j->header_written)
        return;
    j->header_written = true;
    char iso[64] = "1970-01-01T00:00:00.000000Z";
    time_t sec = (time_t)(j->t0_wall_us / 1000000);
    struct tm tm;
    if (j->t0_wall_us >= 0 && gmtime_r(&sec, &tm)) {
        char day[32];
        strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(iso, sizeof iso, "%s.%06dZ", day, (int)(j->t0_wall_us % 1000000));
    }
    char tail[256];
    snprintf(tail, sizeof tail,
             ",\"start_us\":%" PRId64 ",\"start\":\"%s\",\"tool\":\"polyws %s\",\"mode\":\"mock\","
             "\"redacted\":{\"placeholder\":\"***\",\"auth_params\":true,\"fields\":[],\"headers\":[],"
             "\"secrets\":%u}}\n",
             j->t0_wall_us, iso, PWS_VERSION_STRING, secrets);
    pws__buf b = {0};
    char head[32];
    snprintf(head, sizeof head, "{\"polyws_tape\":%d,\"url\":", JOURNAL_TAPE_VERSION);
    if (pws__buf_str(&b, head) == 0 && pws__json_quote(pws__buf_put_cb, &b, url, strlen(url)) == 0 &&
        pws__buf_str(&b, tail) == 0)
        file_put(j, &b); /* far below file_max (PWSM_MIN_JOURNAL_FILE_BYTES) */
    pws__buf_free(&b);
}

/* The JSON-lines copy: wire's line codec (wire/tapeline.h) writes the very
 * bytes a tape holds.  Without memory the line is skipped.  The line that
 * would take the file past file_max is replaced by one last "truncated" line
 * naming the cap (a reader sees where and why it ends); nothing follows it. */
static void write_line(pwsm__journal *j, const pwsm_entry *e, const char *headers_json)
{
    if (j->file_full)
        return;
    write_header(j, "", 0); /* an entry before pwsm__journal_header: the URL is not known yet */
    pws__buf b = {0};
    pws__line l = {.t_us = e->t_us, .conn = e->conn, .dir = e->dir, .kind = e->kind,
                   .data = (const unsigned char *)e->data, .len = e->len, .code = e->close_code,
                   .reason = e->reason, .headers_json = headers_json};
    if (pws__line_encode(&l, &b) == 0) {
        if (j->file_bytes + b.len > j->file_max) {
            char note[160];
            int n = snprintf(note, sizeof note,
                             "the journal file reached its cap of %llu bytes (--journal-max); later entries are not written",
                             (unsigned long long)j->file_max);
            pws__line cut = {.t_us = e->t_us, .conn = 0, .dir = '-', .kind = "truncated",
                             .data = (const unsigned char *)note, .len = (size_t)n, .reason = ""};
            b.len = 0;
            if (pws__line_encode(&cut, &b) != 0)
                b.len = 0;
            j->file_full = true;
        }
        file_put(j, &b);
    }
    pws__buf_free(&b);
}

void pwsm__journal_header(pwsm__journal *j, const char *url, unsigned secrets)
{
    pthread_mutex_lock(&j->mu);
    write_header(j, url ? url : "", secrets);
    pthread_mutex_unlock(&j->mu);
}

/* A copy that lives as long as the journal (in its arena); "" for no bytes. */
static char *dup_bytes(pwsm__journal *j, const void *data, size_t len)
{
    return len ? pwsm__arena_copy(&j->bytes_held, data, len) : (char *)empty;
}

/* Slot for the next entry, allocating its chunk on first use; NULL on OOM. */
static pwsm_entry *next_slot(pwsm__journal *j)
{
    size_t c = j->count / JOURNAL_CHUNK;
    if (!j->chunks[c]) {
        j->chunks[c] = calloc(JOURNAL_CHUNK, sizeof(pwsm_entry));
        if (!j->chunks[c])
            return NULL;
    }
    return &j->chunks[c][j->count % JOURNAL_CHUNK];
}

bool pwsm__journal_wants(pwsm__journal *j)
{
    pthread_mutex_lock(&j->mu);
    bool wants = !j->truncated || (j->file && !j->file_full);
    pthread_mutex_unlock(&j->mu);
    return wants;
}

static void add_entry(pwsm__journal *j, uint32_t conn, char dir, const char *kind, const void *data, size_t len,
                      int close_code, const char *reason, const char *headers_json)
{
    if (!data)
        len = 0;
    if (!reason)
        reason = empty;
    pthread_mutex_lock(&j->mu);
    pwsm_entry e = {
        .t_us = pws__mono_us() - j->t0_us,
        .conn = conn,
        .dir = dir,
        .kind = kind,
        .data = len ? data : empty,
        .len = len,
        .close_code = close_code,
        .reason = reason,
    };
    if (j->file)
        write_line(j, &e, headers_json);
    if (!j->truncated) {
        bool full = j->count + 1 >= j->max_entries || j->bytes + len + strlen(reason) > j->max_bytes;
        pwsm_entry *slot = next_slot(j);
        if (slot && full) {
            /* Keep one marker so readers can tell the journal was cut here. */
            *slot = (pwsm_entry){.t_us = e.t_us, .conn = conn, .dir = '-', .kind = "truncated",
                                 .data = empty, .reason = empty};
            j->truncated = true;
            j->count++;
        } else if (slot) {
            char *d = dup_bytes(j, e.data, len);
            char *r = dup_bytes(j, reason, strlen(reason));
            if (d && r) { /* else the entry is lost from memory (its bytes stay in the arena) */
                e.data = d;
                e.reason = r;
                *slot = e;
                j->bytes += len + strlen(reason);
                j->count++;
            }
        }
    }
    pthread_cond_broadcast(&j->grew);
    pthread_mutex_unlock(&j->mu);
}

void pwsm__journal_add(pwsm__journal *j, uint32_t conn, char dir, const char *kind, const void *data,
                       size_t len, int close_code, const char *reason)
{
    add_entry(j, conn, dir, kind, data, len, close_code, reason, NULL);
}

void pwsm__journal_add_open(pwsm__journal *j, uint32_t conn, const char *path, const char *headers_json)
{
    add_entry(j, conn, '-', "open", path, path ? strlen(path) : 0, 0, NULL, headers_json);
}

size_t pwsm__journal_count(pwsm__journal *j)
{
    pthread_mutex_lock(&j->mu);
    size_t n = j->count;
    pthread_mutex_unlock(&j->mu);
    return n;
}

const pwsm_entry *pwsm__journal_get(pwsm__journal *j, size_t i)
{
    if (i >= pwsm__journal_count(j))
        return NULL;
    return &j->chunks[i / JOURNAL_CHUNK][i % JOURNAL_CHUNK];
}

size_t pwsm__journal_snapshot(pwsm__journal *j, const pwsm_entry **out)
{
    *out = NULL;
    pthread_mutex_lock(&j->mu);
    size_t n = j->count;
    struct pwsm__snapshot *snap = n ? malloc(sizeof *snap + n * sizeof(pwsm_entry)) : NULL;
    if (snap) {
        for (size_t i = 0; i < n; i++)
            snap->e[i] = j->chunks[i / JOURNAL_CHUNK][i % JOURNAL_CHUNK];
        snap->next = j->snapshots;
        j->snapshots = snap;
        *out = snap->e;
    }
    pthread_mutex_unlock(&j->mu);
    return snap ? n : 0;
}

bool pwsm__journal_wait(pwsm__journal *j, size_t from, bool (*pred)(const pwsm_entry *e, void *u),
                        void *u, int timeout_ms, size_t *match)
{
    struct timespec deadline = pws__deadline_after_ms(CLOCK_MONOTONIC, timeout_ms); /* < 0: now */
    size_t i = from;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        size_t n = j->count;
        pthread_mutex_unlock(&j->mu);
        /* Published entries are immutable: test them without holding the lock. */
        for (; i < n; i++) {
            if (pred(&j->chunks[i / JOURNAL_CHUNK][i % JOURNAL_CHUNK], u)) {
                if (match)
                    *match = i;
                return true;
            }
        }
        pthread_mutex_lock(&j->mu);
        if (j->count > n)
            continue;
        if (pthread_cond_timedwait(&j->grew, &j->mu, &deadline) == ETIMEDOUT && j->count == n)
            break;
    }
    pthread_mutex_unlock(&j->mu);
    return false;
}

void pwsm__journal_free(pwsm__journal *j)
{
    if (!j->chunks)
        return;
    pwsm__arena_free(&j->bytes_held);
    for (size_t c = 0; c < j->nchunks; c++)
        free(j->chunks[c]);
    free(j->chunks);
    j->chunks = NULL;
    while (j->snapshots) {
        struct pwsm__snapshot *next = j->snapshots->next;
        free(j->snapshots);
        j->snapshots = next;
    }
    if (j->file)
        fclose(j->file);
    j->file = NULL;
    pthread_cond_destroy(&j->grew);
    pthread_mutex_destroy(&j->mu);
}
