/*
 * journal_match.c - see journal_match.h.
 */
#include "journal_match.h"

#include <string.h>

bool match_pred(const pwsm_entry *e, void *u)
{
    const match *m = u;
    return (!m->conn || e->conn == m->conn) && (!m->dir || e->dir == m->dir) &&
           (!m->kind || strcmp(e->kind, m->kind) == 0) && (!m->data || strstr(e->data, m->data));
}

bool wait_entry(pwsm_server *s, uint32_t conn, char dir, const char *kind, const char *data, int timeout_ms)
{
    match m = {conn, dir, kind, data};
    return pwsm_wait_for(s, match_pred, &m, timeout_ms);
}

size_t count_entries(pwsm_server *s, uint32_t conn, char dir, const char *kind, const char *data)
{
    match m = {conn, dir, kind, data};
    size_t n = 0, total = pwsm_journal_count(s);
    for (size_t i = 0; i < total; i++)
        n += match_pred(pwsm_journal_get(s, i), &m);
    return n;
}
