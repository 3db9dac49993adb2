/*
 * arena.h - an append-only byte arena for the journal (private).
 *
 * The journal keeps a copy of every frame until the server stops: hundreds of
 * megabytes at --rate max, freed all at once.  malloc per frame made every copy
 * land on fresh 4 KiB pages, and a page fault per 4 KiB cost more than the
 * stream itself (the mock at 0.75 us/event with the journal, 0.23 without).
 * The arena takes memory in large blocks, asks for transparent huge pages on
 * them (one fault per 2 MiB where the kernel allows it; the first block is small,
 * for the many journals that stay small) and never frees a
 * single copy.  One writer; what it returned stays put until pwsm__arena_free.
 */
#ifndef PWSM_ARENA_H
#define PWSM_ARENA_H

#include <stddef.h>

typedef struct pwsm__arena {
    struct pwsm__arena_block *blocks; /* newest first */
    char *next;                       /* free space in the newest block */
    size_t left;                      /* bytes at next */
} pwsm__arena;

/* A NUL-terminated copy of p[0..n) that lives until pwsm__arena_free; NULL
 * without memory.  Zero-initialize the arena before the first call. */
char *pwsm__arena_copy(pwsm__arena *a, const void *p, size_t n);
/* Returns every block to the system and empties the arena. */
void pwsm__arena_free(pwsm__arena *a);

#endif
