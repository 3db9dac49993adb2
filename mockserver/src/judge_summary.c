/*
 * judge_summary.c - the journal summarized per connection (see judge_internal.h).
 *
 * One pass over the journal builds a summary per connection ordinal (when it
 * opened and ended, when the client sent auth, when the server sent
 * auth_success, what the client subscribed to, which close frames went
 * each way), so every assertion on connections is judged in O(connections).
 * Client frames are parsed with cJSON only when they are text; server frames
 * only when they mention "auth_success", so a journal full of stream batches
 * costs little.
 */
#include "judge_internal.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static int chanset_add(chanset *s, const char *ch, size_t n)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == n && memcmp(s->v[i], ch, n) == 0)
            return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strndup(ch, n);
    if (!copy)
        return -1;
    s->v[s->n++] = copy;
    return 0;
}

bool pwsj__chanset_has(const chanset *s, const char *ch)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], ch) == 0)
            return true;
    return false;
}

static void chanset_free(chanset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (chanset){0};
}

/* Adds the comma-separated channels of params (blanks around each trimmed). */
static int chanset_add_list(chanset *s, const char *params)
{
    const char *p = params;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > start && chanset_add(s, start, (size_t)(end - start)) != 0)
            return -1;
    }
    return 0;
}

/* The action and params of a client text frame; *action is NULL if it is not a JSON object
 * with a string action.  The strings live in *root (free with cJSON_Delete). */
static void parse_action(const pwsm_entry *e, cJSON **root, const char **action, const char **params)
{
    *action = *params = NULL;
    *root = cJSON_ParseWithLength(e->data, e->len);
    if (!cJSON_IsObject(*root))
        return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(*root, "action");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(*root, "params");
    if (cJSON_IsString(a))
        *action = a->valuestring;
    if (cJSON_IsString(p))
        *params = p->valuestring;
}

/* True if a server text frame carries the auth_success status. */
static bool is_auth_success(const pwsm_entry *e)
{
    if (!e->len || !memmem(e->data, e->len, "auth_success", 12))
        return false;
    cJSON *root = cJSON_ParseWithLength(e->data, e->len);
    bool found = false;
    const cJSON *item;
    if (cJSON_IsArray(root)) {
        cJSON_ArrayForEach(item, root) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(item, "status");
            if (cJSON_IsString(st) && strcmp(st->valuestring, "auth_success") == 0)
                found = true;
        }
    } else if (cJSON_IsObject(root)) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
        found = cJSON_IsString(st) && strcmp(st->valuestring, "auth_success") == 0;
    }
    cJSON_Delete(root);
    return found;
}

void pwsj__summary_free(summary *s)
{
    if (s->c)
        for (uint32_t i = 0; i <= s->nconn; i++)
            chanset_free(&s->c[i].subs);
    free(s->c);
    *s = (summary){0};
}

int pwsj__summarize(const pwsm_entry *j, size_t n, summary *s)
{
    *s = (summary){0};
    /* Ordinals are dense (1, 2, ...) and each has an "open" entry, so none can exceed n;
     * larger ones (not from the mock) are ignored rather than trusted for an allocation. */
    for (size_t i = 0; i < n; i++)
        if (j[i].conn > s->nconn && j[i].conn <= n)
            s->nconn = j[i].conn;
    s->c = calloc((size_t)s->nconn + 1, sizeof *s->c);
    if (!s->c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = &j[i];
        if (e->t_us > s->last_us)
            s->last_us = e->t_us;
        if (pwsj__is_kind(e, "truncated"))
            s->truncated = true;
        if (e->conn == 0 || e->conn > s->nconn)
            continue;
        conn_info *c = &s->c[e->conn];
        if (e->dir == '-') {
            if (pwsj__is_kind(e, "open") && !c->opened) {
                c->opened = true;
                c->open_us = e->t_us;
                s->opened++;
            } else if ((pwsj__is_kind(e, "closed") || pwsj__is_kind(e, "drop")) && !c->ended) {
                c->ended = true;
                c->end_us = e->t_us;
                c->end_clean = pwsj__is_kind(e, "closed");
            }
        } else if (e->dir == 's') {
            if (pwsj__is_kind(e, "close")) {
                c->server_closed = true;
            } else if (pwsj__is_kind(e, "text") && !c->authed && is_auth_success(e)) {
                c->authed = true;
                c->authed_us = e->t_us;
            }
        } else if (e->dir == 'c') {
            if (pwsj__is_kind(e, "close")) {
                if (!c->client_closes++) {
                    c->client_close_code = e->close_code;
                    c->server_close_first = c->server_closed;
                }
            } else if (pwsj__is_kind(e, "text")) {
                cJSON *root;
                const char *action, *params;
                parse_action(e, &root, &action, &params);
                int rc = 0;
                if (action && strcmp(action, "auth") == 0 && !c->auth_sent) {
                    c->auth_sent = true;
                    c->auth_us = e->t_us;
                } else if (action && strcmp(action, "subscribe") == 0) {
                    if (!c->authed && !c->early_sub) {
                        c->early_sub = true;
                        c->early_sub_us = e->t_us;
                        c->early_sub_idx = i;
                    } else if (c->authed) {
                        c->subscribes++;
                        if (params)
                            rc = chanset_add_list(&c->subs, params);
                    }
                }
                cJSON_Delete(root);
                if (rc) {
                    pwsj__summary_free(s);
                    return -1;
                }
            }
        }
    }
    return 0;
}
