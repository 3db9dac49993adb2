/*
 * arena.c - an append-only byte arena for the journal (arena.h).
 */
#include "arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define BLOCK_SIZE ((size_t)8 << 20) /* bytes per block: four huge pages */
#define FIRST_BLOCK ((size_t)64 << 10) /* bytes of an arena's first block: small pages only */

struct pwsm__arena_block {
    struct pwsm__arena_block *next; /* older blocks */
    size_t size;                    /* bytes mapped, this header included */
};

/* A block of at least `need` bytes after its header, or NULL.  An arena's first block is
 * small and gets no huge pages: a journal of a few entries (a standalone mock, most tests,
 * each fuzz input) then costs one 4 KiB page, not a 2 MiB huge page zeroed by the kernel;
 * a journal that grows past it gets the huge blocks. */
static struct pwsm__arena_block *block_new(size_t need, bool first)
{
    size_t size = BLOCK_SIZE;
    if (need > SIZE_MAX - sizeof(struct pwsm__arena_block) - HUGE_PAGE)
        return NULL;
    if (first && need + sizeof(struct pwsm__arena_block) <= FIRST_BLOCK) {
        struct pwsm__arena_block *b = mmap(NULL, FIRST_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED)
            return NULL;
        b->size = FIRST_BLOCK;
        return b;
    }
    if (need + sizeof(struct pwsm__arena_block) > size)
        size = (need + sizeof(struct pwsm__arena_block) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    /* Map a huge page more than needed and trim to a 2 MiB boundary, so the kernel
     * can back the block with huge pages from its first byte. */
    char *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    munmap(start + size, (size_t)(raw + HUGE_PAGE - start));
#ifdef MADV_HUGEPAGE
    madvise(start, size, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#endif
    struct pwsm__arena_block *b = (struct pwsm__arena_block *)start;
    b->size = size;
    return b;
}

char *pwsm__arena_copy(pwsm__arena *a, const void *p, size_t n)
{
    if (n >= SIZE_MAX - 16)
        return NULL;
    size_t need = (n + 1 + 15) & ~(size_t)15; /* keep copies 16-byte aligned */
    if (need > BLOCK_SIZE / 4) {
        /* a large copy gets a block of its own, behind the current one, which stays in use */
        struct pwsm__arena_block *b = block_new(need, false);
        if (!b)
            return NULL;
        if (a->blocks) {
            b->next = a->blocks->next;
            a->blocks->next = b;
        } else {
            b->next = NULL;
            a->blocks = b;
        }
        char *q = (char *)(b + 1);
        memcpy(q, p, n);
        q[n] = '\0';
        return q;
    }
    if (need > a->left) {
        struct pwsm__arena_block *b = block_new(need, a->blocks == NULL);
        if (!b)
            return NULL;
        b->next = a->blocks;
        a->blocks = b;
        a->next = (char *)(b + 1);
        a->left = b->size - sizeof *b;
    }
    char *q = a->next;
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    a->next += need;
    a->left -= need;
    return q;
}

void pwsm__arena_free(pwsm__arena *a)
{
    while (a->blocks) {
        struct pwsm__arena_block *next = a->blocks->next;
        munmap(a->blocks, a->blocks->size);
        a->blocks = next;
    }
    a->next = NULL;
    a->left = 0;
}
