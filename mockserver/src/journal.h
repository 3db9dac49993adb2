/*
 * journal.h - the mock's record of every frame and connection event (private).
 *
 * One writer (the server thread, or the owner while it destroys the lws
 * context after the join), any number of readers on other threads.  Entries
 * live in fixed chunks of JOURNAL_CHUNK entries behind a chunk table sized at
 * init, so nothing ever moves: a reader takes the published count under the
 * mutex and may then read entries below it without a lock (they are
 * immutable once published; the mutex orders their writes before the count).
 *
 * The file copy starts with a tape header line (docs/tapes.md, mode "mock"):
 * the server's URL and the wall-clock time of t0, so the file is a tape that
 * says where and when it was made (`polyws tape to-har` gives its entries the
 * real URL and dates).  "open" lines carry the request headers the server
 * keeps (see pwsm__journal_add_open); the in-memory entries have no headers.
 */
#ifndef PWSM_JOURNAL_H
#define PWSM_JOURNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <polyws/mock.h>

#include "arena.h"

typedef struct pwsm__journal {
    pthread_mutex_t mu;        /* guards count, bytes, truncated and file */
    pthread_cond_t grew;       /* broadcast after each append (CLOCK_MONOTONIC) */
    int64_t t0_us;             /* server start, pws__mono_us */
    int64_t t0_wall_us;        /* the same moment on the wall clock (Unix us): the header's start */
    bool header_written;       /* the file's header line is written (the first line, always) */
    pwsm_entry **chunks;       /* table of max_entries / JOURNAL_CHUNK chunk pointers, never resized */
    size_t nchunks;            /* length of the chunk table */
    size_t max_entries;        /* in-memory entry cap */
    size_t max_bytes;          /* in-memory payload cap */
    size_t count;              /* published entries */
    size_t bytes;              /* payload bytes held */
    bool truncated;            /* a cap was hit: later entries only go to the file */
    FILE *file;                /* JSON-lines copy, or NULL */
    uint64_t file_max;         /* bytes the file may hold */
    uint64_t file_bytes;       /* bytes written to it */
    bool file_full;            /* its "truncated" line is written: nothing more goes there */
    struct pwsm__snapshot *snapshots; /* copies handed out by pwsm_journal(), freed at the end */
    pwsm__arena bytes_held;    /* the entries' data and reasons, freed at the end */
} pwsm__journal;

/** 0, or -1 with a message in err (cannot open path, out of memory). */
int pwsm__journal_init(pwsm__journal *j, const char *path, size_t max_entries, size_t max_bytes,
                       uint64_t file_max, char *err, size_t errcap);
/** True if an entry added now would be kept anywhere (in memory, or in the file): a writer
 * may skip the work of preparing one (scrubbing a frame) when not.  Only the service thread
 * adds entries, so the answer holds until it adds one. */
bool pwsm__journal_wants(pwsm__journal *j);
/** Appends one entry.  kind must be a string literal; data (len bytes) and reason are copied.
 * Never fails: without memory the entry is lost from memory but still written to the file. */
void pwsm__journal_add(pwsm__journal *j, uint32_t conn, char dir, const char *kind, const void *data,
                       size_t len, int close_code, const char *reason);
/** The "open" entry of a connection: path as data; in the file also "headers", a JSON array of
 * [name, value] pairs written verbatim (NULL: none), already scrubbed by the caller. */
void pwsm__journal_add_open(pwsm__journal *j, uint32_t conn, const char *path, const char *headers_json);
/** Writes the file's header line (nothing without a file, or if it is written already): the
 * URL clients reach the server at, the wall-clock start and how many keys the server scrubs.
 * Call it once the URL is known, before clients learn it; an entry added before writes the
 * header first with an empty URL, so the header is always the file's first line. */
void pwsm__journal_header(pwsm__journal *j, const char *url, unsigned secrets);
size_t pwsm__journal_count(pwsm__journal *j);
const pwsm_entry *pwsm__journal_get(pwsm__journal *j, size_t i);
/** A contiguous copy of the entries published so far (shallow: the strings are shared),
 * kept until pwsm__journal_free.  Returns the count; *out = NULL if 0 or out of memory. */
size_t pwsm__journal_snapshot(pwsm__journal *j, const pwsm_entry **out);
bool pwsm__journal_wait(pwsm__journal *j, size_t from, bool (*pred)(const pwsm_entry *e, void *u),
                        void *u, int timeout_ms, size_t *match);
/** Frees every entry and closes the file. */
void pwsm__journal_free(pwsm__journal *j);


#endif
