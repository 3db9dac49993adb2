/*
 * explore_shrink.c - the smaller variants of a failing scenario (see explore.h).
 *
 * explore.c runs them, most promising first, and keeps the first one that still breaks the
 * same invariant, then asks again, until no variant breaks it: the scenario left is minimal
 * with respect to these moves.  Every variant is strictly smaller by (steps, events and
 * milliseconds, steps that are not a plain drop), so shrinking always ends.
 */
#include "explore.h"

#include <string.h>

/* Steps that are not a plain drop: the last tie-breaker of "smaller". */
static uint32_t complexity(const xp_model *m)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < m->nconns; k++)
        for (uint32_t i = 0; i < m->conn[k].nsteps; i++)
            n += m->conn[k].step[i].kind != XP_DROP;
    return n;
}

static bool smaller(const xp_model *a, const xp_model *b)
{
    uint32_t sa = xp_size(a), sb = xp_size(b);
    if (sa != sb)
        return sa < sb;
    uint64_t wa = xp_weight(a), wb = xp_weight(b);
    if (wa != wb)
        return wa < wb;
    return complexity(a) < complexity(b);
}

/* Appends c (normalized) to out if it is smaller than m. */
static void offer(const xp_model *m, xp_model *c, xp_model *out, size_t cap, size_t *n)
{
    xp_normalize(c);
    if (*n < cap && smaller(c, m))
        out[(*n)++] = *c;
}

static void remove_step(xp_conn *c, uint32_t i)
{
    memmove(&c->step[i], &c->step[i + 1], (c->nsteps - i - 1) * sizeof c->step[0]);
    c->nsteps--;
}

size_t xp_candidates(const xp_model *m, xp_model *out, size_t cap)
{
    size_t n = 0;
    xp_model c;
    /* Whole connections, the later ones first (they matter least to what came before). */
    for (uint32_t k = m->nconns; m->nconns > 1 && k-- > 0;) {
        c = *m;
        memmove(&c.conn[k], &c.conn[k + 1], (c.nconns - k - 1) * sizeof c.conn[0]);
        c.nconns--;
        memset(&c.conn[c.nconns], 0, sizeof c.conn[0]);
        offer(m, &c, out, cap, &n);
    }
    /* Every step between the handshake and the ending at once, then per connection. */
    c = *m;
    for (uint32_t k = 0; k < c.nconns; k++)
        while (c.conn[k].nsteps > 2)
            remove_step(&c.conn[k], 1);
    offer(m, &c, out, cap, &n);
    for (uint32_t k = 0; k < m->nconns; k++) {
        if (m->conn[k].nsteps <= 2)
            continue;
        c = *m;
        while (c.conn[k].nsteps > 2)
            remove_step(&c.conn[k], 1);
        offer(m, &c, out, cap, &n);
    }
    /* Single steps. */
    for (uint32_t k = 0; k < m->nconns; k++)
        for (uint32_t i = m->conn[k].nsteps; i-- > 0;) {
            c = *m;
            remove_step(&c.conn[k], i);
            offer(m, &c, out, cap, &n);
        }
    /* Smaller streams, frames and waits. */
    for (uint32_t k = 0; k < m->nconns; k++)
        for (uint32_t i = 0; i < m->conn[k].nsteps; i++) {
            const xp_step *s = &m->conn[k].step[i];
            c = *m;
            xp_step *t = &c.conn[k].step[i];
            if ((s->kind == XP_STREAM || s->kind == XP_BIG) && s->count > 1) {
                t->count = s->count / 2;
                if (t->batch > t->count)
                    t->batch = t->count;
                offer(m, &c, out, cap, &n);
            } else if ((s->kind == XP_SLEEP || s->kind == XP_STALL_SHORT) && s->ms > 10) {
                t->ms = s->ms / 2;
                offer(m, &c, out, cap, &n);
            }
        }
    /* Simpler endings: a plain drop. */
    for (uint32_t k = 0; k < m->nconns; k++)
        for (uint32_t i = 0; i < m->conn[k].nsteps; i++) {
            xp_kind kind = m->conn[k].step[i].kind;
            if (kind == XP_CLOSE || kind == XP_STALL_END || kind == XP_REJECT_FAULT || kind == XP_INVALID_UTF8) {
                c = *m;
                c.conn[k].step[i] = (xp_step){.kind = XP_DROP};
                offer(m, &c, out, cap, &n);
            }
        }
    return n;
}
