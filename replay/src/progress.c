/*
 * progress.c - the tools' progress calls (pws_tape_tool_options.progress):
 * one call per PWS_TAPE_PROGRESS_ITEMS items or PWS_TAPE_PROGRESS_BYTES bytes,
 * so a tool's loop pays a comparison per item and the callback (a meter that
 * may read the clock) runs rarely.
 */
#include "internal.h"

#include <string.h>

void pwsr__progress_start(pwsr__progress *pr, const pws_tape_tool_options *o, const char *phase,
                          uint64_t items_total, uint64_t bytes_total)
{
    memset(pr, 0, sizeof *pr);
    pr->fn = o ? o->progress : NULL;
    pr->user = o ? o->progress_user : NULL;
    pr->p.phase = phase;
    pr->p.items_total = items_total;
    pr->p.bytes_total = bytes_total;
    pr->next_items = PWS_TAPE_PROGRESS_ITEMS;
    pr->next_bytes = PWS_TAPE_PROGRESS_BYTES;
}

void pwsr__progress_call(pwsr__progress *pr, bool done)
{
    if (!pr->fn)
        return;
    pr->p.done = done;
    pr->fn(&pr->p, pr->user);
    pr->next_items = pr->p.items + PWS_TAPE_PROGRESS_ITEMS;
    pr->next_bytes = pr->p.bytes + PWS_TAPE_PROGRESS_BYTES;
}

void pwsr__progress_read_done(pwsr__progress *pr, const pws_tape_reader *r)
{
    pr->p.bytes = pws_tape_reader_bytes(r);
    pwsr__progress_call(pr, true);
}
