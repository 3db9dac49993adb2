/*
 * frame_sort.h - tape frames put in time order with bounded memory: an
 * external merge sort, for HAR files whose connections interleave in time.
 *
 * Frames are added in any order and come back ordered by t_us, then by seq
 * (the caller numbers them in the order it found them, so equal times keep
 * that order, as a stable sort would).  Up to a memory budget the frames are
 * held and sorted in memory; past it each full batch is sorted and written to
 * an unlinked temporary file as one run, and the runs are merged on the way
 * out.  Memory: the budget (or one frame, if a frame is bigger), then while
 * merging one small read buffer per run and the largest frame.  Disk: about
 * the frames' bytes.
 *
 * Not thread-safe: one sorter, one thread.  Names are pwsr__ (libpwsreplay
 * internal).
 */
#ifndef PWSR_FRAME_SORT_H
#define PWSR_FRAME_SORT_H

#include <polyws/tape.h>

#include <stddef.h>
#include <stdint.h>

#define PWSR__FRAME_SORT_MEMORY (8u << 20) /* default budget: bytes of frames held before a run is written */
#define PWSR__FRAME_SORT_RUN_BUF (16u << 10) /* read buffer per run while merging */

/* One frame as added (the pointers are the caller's, copied) and as returned
 * (the pointers are the sorter's, valid until its next call). */
typedef struct pwsr__sort_frame {
    int64_t t_us;            /* the sort key */
    uint64_t seq;            /* ties: smaller first */
    uint32_t conn;           /* connection ordinal */
    char dir;                /* 'c', 's' or '-' */
    pws_tape_kind kind;      /* what the line records */
    int code;                /* CLOSE: the close code */
    const char *data;        /* len bytes; NUL-terminated as returned */
    size_t len;              /* bytes of data */
    const char *headers;     /* OPEN: the headers JSON (NUL-terminated), or NULL */
} pwsr__sort_frame;

typedef struct pwsr__frame_sort pwsr__frame_sort;

/* A sorter holding at most budget bytes of frames (0: PWSR__FRAME_SORT_MEMORY)
 * before it writes a run to a temporary file in tmpdir (NULL: $TMPDIR, else
 * /tmp; made when first needed and unlinked at once).  PWS_OK and *out, or
 * PWS_ERR_NOMEM. */
int pwsr__frame_sort_open(size_t budget, const char *tmpdir, pwsr__frame_sort **out);

/* Adds a copy of f; PWS_OK, or PWS_ERR_NOMEM / PWS_ERR_SYSTEM (the temporary
 * file) with pwsr__frame_sort_error's message. */
int pwsr__frame_sort_add(pwsr__frame_sort *s, const pwsr__sort_frame *f);

/* The next frame in order (after the last add): 1, 0 at the end, or a
 * negative pws_err with pwsr__frame_sort_error's message. */
int pwsr__frame_sort_next(pwsr__frame_sort *s, pwsr__sort_frame *out);

/* The last failure, one line. */
const char *pwsr__frame_sort_error(const pwsr__frame_sort *s);

/* Runs written to the temporary file so far (0: everything in memory). */
size_t pwsr__frame_sort_runs(const pwsr__frame_sort *s);

/* Frees everything and closes (so removes) the temporary file; NULL is fine. */
void pwsr__frame_sort_close(pwsr__frame_sort *s);

#endif
