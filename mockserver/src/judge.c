/*
 * judge.c - verdicts from the journal and the client's result (see polyws/judge.h).
 *
 * One pass over the journal builds a summary per connection ordinal (when it
 * opened and ended, when the client sent auth, when the server sent
 * auth_success, what the client subscribed to, which close frames went
 * each way); every assertion is then judged from those summaries in
 * O(connections), except max_connects (two pointers over the opens) and the
 * output assertions (one streaming pass over the files).  Client frames are
 * parsed with cJSON only when they are text; server frames only when they
 * mention "auth_success", so a journal full of stream batches costs little.
 */
#include <polyws/judge.h>

#include "internal.h" /* connector/src: pws__append */
#include "judge_events.h"

#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define SCRUB_MIN 1 /* secrets shorter than this are not scrubbed (the runner passes long ones) */

/* ---------------------------------------------------------------- growable string */

typedef struct sbuf {
    char *p;    /* NUL-terminated text, or NULL while empty */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed: the text is incomplete */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (!b->oom && pws__append(&b->p, &b->len, &b->cap, s, n, SIZE_MAX / 2))
        b->oom = true;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

/* Takes the text out of b (an empty string if nothing was written); NULL on OOM. */
static char *sb_take(sbuf *b)
{
    if (b->oom) {
        free(b->p);
        *b = (sbuf){0};
        return NULL;
    }
    char *p = b->p ? b->p : strdup("");
    *b = (sbuf){0};
    return p;
}

/* Length of the valid UTF-8 sequence of 2..4 bytes at s (n available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t need;
    uint32_t cp, min;
    if ((s[0] & 0xE0) == 0xC0)
        need = 2, cp = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        need = 3, cp = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        need = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t k = 1; k < need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

/* Appends an excerpt of s (n bytes): secrets scrubbed, cut to max bytes, control and invalid
 * bytes escaped (valid UTF-8 kept), so it stays on one line and is valid UTF-8. */
static void sb_excerpt(sbuf *b, const char *s, size_t n, size_t max, const char *const *secrets)
{
    /* Scrub first (a cut must not leave half a key), on a copy. */
    sbuf c = {0};
    size_t i = 0;
    while (i < n) {
        size_t hit = 0;
        for (size_t k = 0; secrets && k < PWSJ_MAX_SECRETS && secrets[k]; k++) {
            size_t sl = strlen(secrets[k]);
            if (sl >= SCRUB_MIN && sl <= n - i && memcmp(s + i, secrets[k], sl) == 0 && sl > hit)
                hit = sl;
        }
        if (hit) {
            sb_put(&c, "***", 3);
            i += hit;
        } else {
            sb_put(&c, s + i, 1);
            i++;
        }
    }
    if (c.oom) {
        free(c.p);
        b->oom = true;
        return;
    }
    const unsigned char *u = (const unsigned char *)c.p;
    size_t len = c.len, shown = 0;
    for (i = 0; i < len && shown < max;) {
        unsigned char ch = u[i];
        size_t seq;
        if (ch == '\n') {
            sb_put(b, "\\n", 2), shown += 2, i++;
        } else if (ch == '\r') {
            sb_put(b, "\\r", 2), shown += 2, i++;
        } else if (ch == '\t') {
            sb_put(b, "\\t", 2), shown += 2, i++;
        } else if (ch >= 0x20 && ch < 0x7f) {
            sb_put(b, (const char *)u + i, 1), shown++, i++;
        } else if (ch >= 0x80 && (seq = utf8_seq(u + i, len - i)) != 0) {
            sb_put(b, (const char *)u + i, seq), shown += seq, i += seq;
        } else {
            sb_printf(b, "\\x%02x", ch), shown += 4, i++;
        }
    }
    if (i < len)
        sb_printf(b, "... (%zu bytes)", n);
    free(c.p);
}

/* ---------------------------------------------------------------- per-connection summary */

typedef struct chanset {
    char **v;   /* channels (malloc'd), unsorted, distinct */
    size_t n;   /* entries */
    size_t cap; /* allocated */
} chanset;

typedef struct conn_info {
    bool opened;              /* an "open" entry was seen */
    int64_t open_us;          /* its time */
    bool ended;               /* a "closed" or "drop" entry was seen */
    int64_t end_us;           /* its time */
    bool end_clean;           /* "closed" (after close frames) rather than "drop" */
    bool auth_sent;           /* the client sent an auth action */
    int64_t auth_us;          /* the first one's time */
    bool authed;              /* the server sent auth_success */
    int64_t authed_us;        /* its time */
    bool early_sub;           /* a subscribe arrived before auth_success */
    int64_t early_sub_us;     /* the first such one's time */
    size_t early_sub_idx;     /* its journal index */
    size_t subscribes;        /* subscribe actions after auth_success */
    chanset subs;             /* channels of those, in a set */
    size_t client_closes;     /* close frames from the client */
    int client_close_code;    /* the first one's code */
    bool server_close_first;  /* the server had sent a close before the client's first */
    bool server_closed;       /* the server sent a close frame */
} conn_info;

typedef struct summary {
    conn_info *c;             /* indexed by ordinal; c[0] unused */
    uint32_t nconn;           /* highest ordinal seen */
    uint32_t opened;          /* connections with an "open" entry */
    int64_t last_us;          /* time of the last entry (the end of the run as far as we know) */
    bool truncated;           /* the journal hit its memory cap */
} summary;

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

static bool chanset_has(const chanset *s, const char *ch)
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

static bool is_kind(const pwsm_entry *e, const char *kind)
{
    return e->kind && strcmp(e->kind, kind) == 0;
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

static void summary_free(summary *s)
{
    if (s->c)
        for (uint32_t i = 0; i <= s->nconn; i++)
            chanset_free(&s->c[i].subs);
    free(s->c);
    *s = (summary){0};
}

static int summarize(const pwsm_entry *j, size_t n, summary *s)
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
        if (is_kind(e, "truncated"))
            s->truncated = true;
        if (e->conn == 0 || e->conn > s->nconn)
            continue;
        conn_info *c = &s->c[e->conn];
        if (e->dir == '-') {
            if (is_kind(e, "open") && !c->opened) {
                c->opened = true;
                c->open_us = e->t_us;
                s->opened++;
            } else if ((is_kind(e, "closed") || is_kind(e, "drop")) && !c->ended) {
                c->ended = true;
                c->end_us = e->t_us;
                c->end_clean = is_kind(e, "closed");
            }
        } else if (e->dir == 's') {
            if (is_kind(e, "close")) {
                c->server_closed = true;
            } else if (is_kind(e, "text") && !c->authed && is_auth_success(e)) {
                c->authed = true;
                c->authed_us = e->t_us;
            }
        } else if (e->dir == 'c') {
            if (is_kind(e, "close")) {
                if (!c->client_closes++) {
                    c->client_close_code = e->close_code;
                    c->server_close_first = c->server_closed;
                }
            } else if (is_kind(e, "text")) {
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
                    summary_free(s);
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* A set as "{A.AAPL, T.MSFT}", sorted for stable messages. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sb_set(sbuf *b, chanset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
    sb_str(b, "{");
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            sb_str(b, ", ");
        sb_excerpt(b, s->v[i], strlen(s->v[i]), PWSJ_EXCERPT_MAX, NULL);
    }
    sb_str(b, "}");
}

static long ms_of(int64_t us)
{
    return (long)((us + 500) / 1000);
}

/* ---------------------------------------------------------------- the report */

typedef struct judge {
    const pwss_scenario *sc;
    const pwsm_entry *j;
    size_t n;
    const pwsj_client *cl;
    const char *const *secrets;
    summary s;
    pwsj_report *r;
    size_t cap;       /* allocated verdicts */
    bool oom;
    bool have_events; /* sent and printed were read */
    pwsj__events sent;    /* market-data events the server sent */
    pwsj__events printed; /* market-data events the client printed */
} judge;

/* Adds a verdict; the message is the text of b (taken). */
static void add_verdict(judge *g, int assertion, bool pass, uint32_t conn, sbuf *b)
{
    char *msg = sb_take(b);
    if (!msg) {
        g->oom = true;
        return;
    }
    pwsj_report *r = g->r;
    if (r->nverdicts == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        pwsj_verdict *v = realloc(r->verdicts, cap * sizeof *v);
        if (!v) {
            free(msg);
            g->oom = true;
            return;
        }
        r->verdicts = v;
        g->cap = cap;
    }
    r->verdicts[r->nverdicts++] = (pwsj_verdict){.assertion = assertion, .pass = pass, .rank = 1, .t_us = -1,
                                                  .conn = conn, .message = msg};
    if (!pass)
        r->nfailed++;
}

/* The verdict just added is a behaviour seen at t_us (rank 0): it may be the headline. */
static void at_time(judge *g, int64_t t_us)
{
    if (g->r->nverdicts && !g->oom) {
        g->r->verdicts[g->r->nverdicts - 1].rank = 0;
        g->r->verdicts[g->r->nverdicts - 1].t_us = t_us;
    }
}

/* The verdict just added is about how the run ended (rank 2): it comes after every behaviour. */
static void run_end(judge *g)
{
    if (g->r->nverdicts && !g->oom)
        g->r->verdicts[g->r->nverdicts - 1].rank = 2;
}

/* An output assertion under PWSJ_OUTPUT_NONE: reported, not judged. */
static bool skip_output(judge *g, int idx, const pwss_assertion *a)
{
    if (!g->cl || g->cl->output != PWSJ_OUTPUT_NONE)
        return false;
    sbuf b = {0};
    sb_str(&b, pwsj_assert_name(a->kind));
    sb_str(&b, ": skipped: the client's output is not judged (--client-output none)");
    sb_printf(&b, " (%s:%d:%d)", g->sc->path ? g->sc->path : "?", a->line, a->column);
    add_verdict(g, idx, true, 0, &b);
    if (g->r->nverdicts && !g->oom) {
        g->r->verdicts[g->r->nverdicts - 1].skipped = true;
        g->r->nskipped++;
    }
    return true;
}

/* Starts a message for assertion a: "name: ". */
static void begin(sbuf *b, const pwss_assertion *a)
{
    sb_str(b, pwsj_assert_name(a->kind));
    sb_str(b, ": ");
}

/* Ends it with " (file:line:col)". */
static void where(judge *g, sbuf *b, const pwss_assertion *a)
{
    sb_printf(b, " (%s:%d:%d)", g->sc->path ? g->sc->path : "?", a->line, a->column);
}

static void no_connection(judge *g, int idx, const pwss_assertion *a)
{
    sbuf b = {0};
    begin(&b, a);
    sb_str(&b, "no connection was opened");
    where(g, &b, a);
    add_verdict(g, idx, false, 0, &b);
}

static void judge_auth_within(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    int64_t limit = (int64_t)a->ms * 1000;
    uint32_t bad = 0, first_bad = 0, judged = 0;
    int64_t worst = 0;
    sbuf why = {0};
    for (uint32_t k = 1; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        int64_t end = c->ended ? c->end_us : s->last_us;
        if (c->auth_sent && c->auth_us - c->open_us <= limit) {
            judged++;
            if (c->auth_us - c->open_us > worst)
                worst = c->auth_us - c->open_us;
            continue;
        }
        if (!c->auth_sent && end - c->open_us < limit)
            continue; /* it ended before the deadline: no chance to judge */
        judged++;
        if (!bad++) {
            first_bad = k;
            if (c->auth_sent)
                sb_printf(&why, "connection %u sent auth %ld ms after opening, expected within %u ms", k,
                          ms_of(c->auth_us - c->open_us), a->ms);
            else
                sb_printf(&why, "connection %u sent no auth within %u ms (it was open for %ld ms%s)", k,
                          a->ms, ms_of(end - c->open_us), c->ended ? "" : " until the end of the run");
        }
    }
    sbuf b = {0};
    begin(&b, a);
    if (bad) {
        sb_put(&b, why.p, why.len);
        if (bad > 1)
            sb_printf(&b, "; %u of %u connections late", bad, judged);
    } else if (judged) {
        sb_printf(&b, "%u connection(s) sent auth within %u ms (slowest %ld ms)", judged, a->ms,
                  ms_of(worst));
    } else {
        sb_printf(&b, "every connection ended within %u ms without auth: nothing to judge", a->ms);
    }
    free(why.p);
    where(g, &b, a);
    add_verdict(g, idx, bad == 0, first_bad, &b);
    if (bad)
        at_time(g, s->c[first_bad].open_us + limit);
}

static void judge_no_sub_before_auth(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    sbuf b = {0};
    begin(&b, a);
    for (uint32_t k = 1; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k];
        if (!c->early_sub)
            continue;
        const pwsm_entry *e = &g->j[c->early_sub_idx];
        sb_printf(&b, "connection %u sent a subscribe %ld ms after opening, before auth_success (",
                  k, ms_of(c->early_sub_us - c->open_us));
        sb_excerpt(&b, e->data, e->len, PWSJ_EXCERPT_MAX, g->secrets);
        sb_str(&b, c->authed ? ")" : "; auth_success never came)");
        where(g, &b, a);
        add_verdict(g, idx, false, k, &b);
        at_time(g, c->early_sub_us);
        return;
    }
    sb_printf(&b, "no subscribe before auth_success on %u connection(s)", s->opened);
    where(g, &b, a);
    add_verdict(g, idx, true, 0, &b);
}

static void judge_resubscribed(judge *g, int idx, const pwss_assertion *a)
{
    summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    uint32_t first = 0, later = 0;
    for (uint32_t k = 1; k <= s->nconn && !first; k++)
        if (s->c[k].authed)
            first = k;
    sbuf b = {0};
    begin(&b, a);
    if (!first) {
        sb_str(&b, "no connection was authenticated (no auth_success): nothing to compare");
        where(g, &b, a);
        add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    chanset *ref = &s->c[first].subs;
    if (!ref->n) {
        sb_printf(&b, "the first authenticated connection (%u) subscribed to nothing", first);
        where(g, &b, a);
        add_verdict(g, idx, false, first, &b);
        return;
    }
    uint32_t skipped = 0;
    for (uint32_t k = first + 1; k <= s->nconn; k++) {
        conn_info *c = &s->c[k];
        if (!c->authed)
            continue;
        /* A connection that ended soon after auth_success without any subscribe had no fair
         * chance to resubscribe (e.g. the script dropped it): not judged. */
        int64_t end = c->ended ? c->end_us : s->last_us;
        if (!c->subscribes && end - c->authed_us < (int64_t)PWSJ_RESUBSCRIBE_GRACE_MS * 1000) {
            skipped++;
            continue;
        }
        later++;
        bool same = c->subs.n == ref->n;
        for (size_t i = 0; same && i < ref->n; i++)
            same = chanset_has(&c->subs, ref->v[i]);
        if (same)
            continue;
        sb_printf(&b, "connection %u subscribed to ", k);
        sb_set(&b, &c->subs);
        sb_printf(&b, " after auth_success, expected ");
        sb_set(&b, ref);
        sb_printf(&b, " as on connection %u", first);
        if (!c->subscribes)
            sb_str(&b, " (it sent no subscribe at all)");
        where(g, &b, a);
        add_verdict(g, idx, false, k, &b);
        at_time(g, c->authed_us);
        return;
    }
    if (later) {
        sb_printf(&b, "%u later authenticated connection(s) subscribed to ", later);
        sb_set(&b, ref);
        sb_printf(&b, " as connection %u did", first);
    } else {
        sb_printf(&b, "only connection %u was authenticated: no resubscription to judge", first);
    }
    if (skipped)
        sb_printf(&b, "; %u connection(s) ended within %u ms of auth_success, not judged", skipped,
                  PWSJ_RESUBSCRIBE_GRACE_MS);
    where(g, &b, a);
    add_verdict(g, idx, true, 0, &b);
}

static void judge_reconnect_delay(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    begin(&b, a);
    int64_t prev_gap = -1, min_gap = -1;
    uint32_t gaps = 0;
    for (uint32_t k = 2; k <= s->nconn; k++) {
        const conn_info *c = &s->c[k], *p = &s->c[k - 1];
        if (!c->opened || !p->opened)
            continue;
        if (!p->ended || p->end_us > c->open_us) {
            sb_printf(&b, "connection %u opened while connection %u was still open, expected a gap >= %u ms",
                      k, k - 1, a->ms);
            where(g, &b, a);
            add_verdict(g, idx, false, k, &b);
            at_time(g, c->open_us);
            return;
        }
        int64_t gap = c->open_us - p->end_us;
        gaps++;
        if (gap < (int64_t)a->ms * 1000) {
            sb_printf(&b, "reconnected %ld ms after connection %u ended, expected a gap >= %u ms (connection %u)",
                      ms_of(gap), k - 1, a->ms, k);
            where(g, &b, a);
            add_verdict(g, idx, false, k, &b);
            at_time(g, c->open_us);
            return;
        }
        if (a->growing && prev_gap >= 0 && gap < prev_gap &&
            !(a->cap_ms && prev_gap >= (int64_t)a->cap_ms * 1000)) {
            sb_printf(&b, "gap before connection %u was %ld ms, shorter than the %ld ms before connection %u "
                          "(expected growing gaps",
                      k, ms_of(gap), ms_of(prev_gap), k - 1);
            if (a->cap_ms)
                sb_printf(&b, " until %u ms", a->cap_ms);
            sb_str(&b, ")");
            where(g, &b, a);
            add_verdict(g, idx, false, k, &b);
            at_time(g, c->open_us);
            return;
        }
        prev_gap = gap;
        if (min_gap < 0 || gap < min_gap)
            min_gap = gap;
    }
    if (gaps)
        sb_printf(&b, "%u reconnect(s), shortest gap %ld ms >= %u ms%s", gaps, ms_of(min_gap), a->ms,
                  a->growing ? ", growing" : "");
    else
        sb_printf(&b, "%u connection(s), no reconnect to judge", s->opened);
    where(g, &b, a);
    add_verdict(g, idx, true, 0, &b);
}

static void judge_max_connects(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    begin(&b, a);
    /* Opens in ordinal order are in time order; slide a window [lo, hi] of opens spanning < ms. */
    uint32_t lo = 1, in = 0, worst = 0, worst_lo = 0, worst_hi = 0;
    int64_t window = (int64_t)a->ms * 1000;
    for (uint32_t hi = 1; hi <= s->nconn; hi++) {
        if (!s->c[hi].opened)
            continue;
        in++; /* opens in [lo, hi] */
        while (lo < hi && (!s->c[lo].opened || s->c[hi].open_us - s->c[lo].open_us >= window))
            in -= s->c[lo++].opened;
        if (in > worst) {
            worst = in;
            worst_lo = lo;
            worst_hi = hi;
        }
        if (in > a->count)
            break;
    }
    bool pass = worst <= a->count;
    if (pass)
        sb_printf(&b, "at most %u connection(s) opened in any %u ms (limit %u)", worst, a->ms, a->count);
    else
        sb_printf(&b, "%u connections opened within %ld ms (connections %u..%u), expected at most %u in any %u ms",
                  worst, ms_of(s->c[worst_hi].open_us - s->c[worst_lo].open_us), worst_lo, worst_hi,
                  a->count, a->ms);
    where(g, &b, a);
    add_verdict(g, idx, pass, pass ? 0 : worst_hi, &b);
    if (!pass)
        at_time(g, s->c[worst_hi].open_us);
}

static void judge_min_connects(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    sbuf b = {0};
    begin(&b, a);
    bool pass = s->opened >= a->count;
    const conn_info *last = s->nconn ? &s->c[s->nconn] : NULL;
    if (pass)
        sb_printf(&b, "%u connection(s) opened, at least %u expected", s->opened, a->count);
    else if (last && last->ended)
        sb_printf(&b, "did not reconnect after connection %u ended at +%.3f s (%s): %u connection(s) opened, "
                      "expected at least %u",
                  s->nconn, last->end_us / 1e6,
                  !last->end_clean               ? "dropped without a close frame"
                  : last->client_closes && !last->server_close_first ? "closed by the client"
                                                                     : "closed by the server",
                  s->opened, a->count);
    else
        sb_printf(&b, "%u connection(s) opened, expected at least %u", s->opened, a->count);
    where(g, &b, a);
    add_verdict(g, idx, pass, pass ? 0 : s->nconn, &b);
    if (!pass && last && last->ended)
        at_time(g, last->end_us);
}

static void judge_no_reconnect(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    sbuf b = {0};
    begin(&b, a);
    bool pass = s->opened == 1;
    if (pass) {
        sb_str(&b, "exactly one connection was opened");
    } else {
        sb_printf(&b, "%u connections were opened, expected exactly 1", s->opened);
        if (s->nconn >= 2 && s->c[1].ended && s->c[2].opened && s->c[2].open_us >= s->c[1].end_us)
            sb_printf(&b, " (connection 2 opened %ld ms after connection 1 ended)",
                      ms_of(s->c[2].open_us - s->c[1].end_us));
    }
    where(g, &b, a);
    add_verdict(g, idx, pass, pass ? 0 : 2, &b);
    if (!pass && s->nconn >= 2)
        at_time(g, s->c[2].open_us);
}

static void judge_client_closed_with(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    sbuf b = {0};
    begin(&b, a);
    if (a->ordinal && a->ordinal > s->nconn) {
        sb_printf(&b, "connection %u was never opened (%u connection(s))", a->ordinal, s->opened);
        where(g, &b, a);
        add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    /* Any close frame from the client counts, also one that echoes the server's close. */
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (e->dir == 'c' && is_kind(e, "close") && e->close_code == a->code &&
            (!a->ordinal || e->conn == a->ordinal)) {
            sb_printf(&b, "the client sent close %d on connection %u", a->code, e->conn);
            where(g, &b, a);
            add_verdict(g, idx, true, 0, &b);
            return;
        }
    }
    sb_printf(&b, "no client close frame with code %d", a->code);
    if (a->ordinal)
        sb_printf(&b, " on connection %u", a->ordinal);
    sb_str(&b, ":");
    uint32_t from = a->ordinal ? a->ordinal : 1, to = a->ordinal ? a->ordinal : s->nconn, shown = 0;
    for (uint32_t k = from; k <= to; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        if (shown++ == 3) {
            sb_str(&b, " ...");
            break;
        }
        if (c->client_closes)
            sb_printf(&b, " connection %u: client sent close %d%s;", k, c->client_close_code,
                      c->server_close_first ? " (answering the server's close)" : "");
        else
            sb_printf(&b, " connection %u: no client close frame, it ended by %s;", k,
                      !c->ended ? "the end of the run" : c->end_clean ? "the server's close" : "a drop");
    }
    if (b.len && b.p[b.len - 1] == ';')
        b.p[--b.len] = '\0';
    where(g, &b, a);
    uint32_t k = a->ordinal ? a->ordinal : s->nconn;
    add_verdict(g, idx, false, k, &b);
    at_time(g, s->c[k].ended ? s->c[k].end_us : s->last_us);
}

static void sb_signal(sbuf *b, int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        sb_printf(b, "signal %d (SIG%s)", sig, abbrev);
    else
        sb_printf(b, "signal %d", sig);
}

static void judge_client_exit(judge *g, int idx, const pwss_assertion *a)
{
    const pwsj_client *cl = g->cl;
    sbuf b = {0};
    begin(&b, a);
    bool pass = false;
    char expect[48];
    if (a->code == -1)
        snprintf(expect, sizeof expect, "a non-zero exit");
    else
        snprintf(expect, sizeof expect, "exit %d", a->code);
    if (!cl || !cl->started) {
        sb_printf(&b, "the client did not run, expected %s", expect);
    } else if (cl->exited) {
        pass = a->code == -1 ? cl->exit_code != 0 : cl->exit_code == a->code;
        sb_printf(&b, "the client exited with %d%s%s%s", cl->exit_code,
                  cl->timed_out ? " when stopped at the timeout" : "", pass ? "" : ", expected ",
                  pass ? "" : expect);
    } else {
        sb_str(&b, "the client was ended by ");
        sb_signal(&b, cl->term_signal);
        if (cl->timed_out)
            sb_printf(&b, " after the %u ms timeout", cl->timeout_ms);
        sb_printf(&b, ", expected %s", expect);
    }
    where(g, &b, a);
    add_verdict(g, idx, pass, 0, &b);
    run_end(g);
}

/* Reads one line (with its '\n') into *line; returns its length, or -1 at EOF. */
static ssize_t read_line(FILE *f, char **line, size_t *cap)
{
    return f ? getline(line, cap, f) : -1;
}

static void judge_output_equals(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    const pwsj_client *cl = g->cl;
    sbuf b = {0};
    begin(&b, a);
    const char *path = a->path ? a->path : "";
    FILE *got = cl && cl->stdout_path ? fopen(cl->stdout_path, "rb") : NULL;
    FILE *exp = fopen(path, "rb");
    bool pass = false;
    if (!exp) {
        sb_printf(&b, "cannot read the expected output %s: %s", path, strerror(errno));
    } else if (!got) {
        sb_str(&b, "the client's stdout was not captured");
    } else {
        char *gl = NULL, *el = NULL;
        size_t gcap = 0, ecap = 0;
        for (unsigned long line = 1;; line++) {
            ssize_t gn = read_line(got, &gl, &gcap), en = read_line(exp, &el, &ecap);
            if (gn < 0 && en < 0) {
                pass = true;
                sb_printf(&b, "stdout equals %s (%lu line(s))", path, line - 1);
                break;
            }
            if (gn >= 0 && en >= 0 && gn == en && memcmp(gl, el, (size_t)gn) == 0)
                continue;
            sb_printf(&b, "stdout differs from %s at line %lu: got ", path, line);
            if (gn < 0)
                sb_str(&b, "end of output");
            else {
                sb_str(&b, "\"");
                sb_excerpt(&b, gl, (size_t)gn, PWSJ_EXCERPT_MAX, g->secrets);
                sb_str(&b, "\"");
            }
            sb_str(&b, ", expected ");
            if (en < 0)
                sb_str(&b, "end of file");
            else {
                sb_str(&b, "\"");
                sb_excerpt(&b, el, (size_t)en, PWSJ_EXCERPT_MAX, g->secrets);
                sb_str(&b, "\"");
            }
            break;
        }
        free(gl);
        free(el);
    }
    if (got)
        fclose(got);
    if (exp)
        fclose(exp);
    where(g, &b, a);
    add_verdict(g, idx, pass, 0, &b);
}

static void judge_output_matches(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    const pwsj_client *cl = g->cl;
    const char *name = a->stream == 2 ? "stderr" : "stdout";
    const char *path = !cl ? NULL : a->stream == 2 ? cl->stderr_path : cl->stdout_path;
    const char *re_text = a->text ? a->text : "";
    sbuf b = {0};
    begin(&b, a);
    bool pass = false;
    regex_t re;
    int rc = regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char err[256];
        regerror(rc, &re, err, sizeof err);
        sb_str(&b, "invalid regex /");
        sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
        sb_printf(&b, "/: %s", err);
    } else {
        FILE *f = path ? fopen(path, "rb") : NULL;
        if (!f) {
            sb_printf(&b, "the client's %s was not captured", name);
        } else {
            char *line = NULL;
            size_t cap = 0;
            unsigned long lines = 0;
            ssize_t len;
            while (!pass && (len = getline(&line, &cap, f)) >= 0) {
                lines++;
                if (len && line[len - 1] == '\n')
                    line[--len] = '\0';
                /* An embedded NUL ends the line for regexec: the rest of it is not matched. */
                if (regexec(&re, line, 0, NULL, 0) == 0) {
                    pass = true;
                    sb_printf(&b, "line %lu of %s matches /", lines, name);
                    sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
                    sb_str(&b, "/");
                }
            }
            if (!pass) {
                sb_printf(&b, "no line of %s matches /", name);
                sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
                sb_printf(&b, "/ (%lu line(s))", lines);
            }
            free(line);
            fclose(f);
        }
        regfree(&re);
    }
    where(g, &b, a);
    add_verdict(g, idx, pass, 0, &b);
}

/* Offset just after the '(' of a "(LINE:COLUMN)" location near the start of a step_failed
 * text, or 0 if there is none. */
static size_t location_at(const char *d, size_t len)
{
    const char *open = memchr(d, '(', len < 40 ? len : 40);
    if (!open)
        return 0;
    const char *p = open + 1, *end = d + len;
    size_t digits = 0;
    while (p < end && *p >= '0' && *p <= '9')
        p++, digits++;
    if (!digits || p >= end || *p++ != ':')
        return 0;
    digits = 0;
    while (p < end && *p >= '0' && *p <= '9')
        p++, digits++;
    if (!digits || p >= end || *p != ')')
        return 0;
    return (size_t)(open + 1 - d);
}

/* Scenario-level verdicts: the client's run, failed steps, a truncated journal. */
static void judge_run(judge *g)
{
    const pwsj_client *cl = g->cl;
    const pwss_scenario *sc = g->sc;
    if (cl && !cl->started) {
        sbuf b = {0};
        sb_printf(&b, "client: could not be started: %s", cl->start_error ? cl->start_error : "unknown error");
        add_verdict(g, -1, false, 0, &b);
        at_time(g, 0);
    } else if (cl) {
        bool expects_code = false;
        for (size_t i = 0; i < sc->nassertions; i++)
            if (sc->assertions[i].kind == PWSS_ASSERT_CLIENT_EXIT && cl->exited &&
                sc->assertions[i].code == cl->exit_code)
                expects_code = true;
        if (cl->interrupted) {
            sbuf b = {0};
            sb_str(&b, "client: stopped because the run was interrupted");
            add_verdict(g, -1, false, 0, &b);
            run_end(g);
        } else if (cl->timed_out && !sc->client.killed_ok && !cl->completed) {
            sbuf b = {0};
            sb_printf(&b, "client: still running after the %.1f s timeout, stopped by the runner",
                      cl->timeout_ms / 1000.0);
            /* A hint only where it is true. */
            if (!sc->client.count && sc->client.duration_s <= 0)
                sb_str(&b, " (the scenario sets neither client.count nor client.duration: if it is meant to end "
                           "by time, set client.killed_ok)");
            else if (sc->client.count && g->have_events)
                sb_printf(&b, " (it printed %zu of the %llu market-data events the scenario expects, "
                              "client.count)",
                          g->printed.n, (unsigned long long)sc->client.count);
            add_verdict(g, -1, false, 0, &b);
            run_end(g);
        } else if (!cl->exited && !cl->timed_out && !(cl->completed && cl->term_signal == SIGTERM)) {
            sbuf b = {0};
            sb_str(&b, "client: died from ");
            sb_signal(&b, cl->term_signal);
            add_verdict(g, -1, false, 0, &b);
        } else if (cl->exited && !cl->timed_out && (cl->exit_code == 126 || cl->exit_code == 127) &&
                   !expects_code) {
            sbuf b = {0};
            sb_printf(&b, "client: the shell exited with %d: the command was %s", cl->exit_code,
                      cl->exit_code == 127 ? "not found" : "not executable");
            add_verdict(g, -1, false, 0, &b);
            at_time(g, 0);
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (!is_kind(e, "step_failed"))
            continue;
        sbuf b = {0};
        if (e->conn)
            sb_printf(&b, "step failed on connection %u at +%.3f s: ", e->conn, e->t_us / 1e6);
        else
            sb_printf(&b, "step failed at +%.3f s: ", e->t_us / 1e6);
        /* The mock writes "step N (LINE:COLUMN) KIND: why"; name the file in the location. */
        size_t at = location_at(e->data, e->len);
        if (at && sc->path) {
            sb_excerpt(&b, e->data, at, PWSJ_EXCERPT_MAX, g->secrets);
            sb_excerpt(&b, sc->path, strlen(sc->path), PWSJ_EXCERPT_MAX, NULL);
            sb_str(&b, ":");
        }
        sb_excerpt(&b, e->data + at, e->len - at, 2 * PWSJ_EXCERPT_MAX, g->secrets);
        add_verdict(g, -1, false, e->conn, &b);
        at_time(g, e->t_us);
    }
    if (g->s.truncated) {
        sbuf b = {0};
        sb_str(&b, "journal: the mock's in-memory journal hit its cap, verdicts would be unreliable");
        add_verdict(g, -1, false, 0, &b);
        run_end(g);
    }
}

/* ---------------------------------------------------------------- the output contract */

/* Reads both sides once, when something needs them.  False if the output is not judged. */
static bool load_events(judge *g)
{
    if (g->have_events)
        return true;
    if (!g->cl || g->cl->output == PWSJ_OUTPUT_NONE || !g->cl->stdout_path)
        return false;
    if (pwsj__events_sent(g->j, g->n, &g->sent) != 0 ||
        pwsj__events_printed(g->cl->stdout_path, &g->printed) != 0) {
        g->oom = true;
        return false;
    }
    g->have_events = true;
    return true;
}

/* Scenario level, in events mode: what the client printed agrees with what the server sent. */
static void judge_events(judge *g)
{
    if (!g->cl || g->cl->output != PWSJ_OUTPUT_EVENTS)
        return;
    if (!load_events(g))
        return; /* stdout not captured (--live): nothing to compare */
    pwsj__events_verdict v;
    if (pwsj__events_compare(&g->sent, &g->printed, &v) != 0) {
        g->oom = true;
        return;
    }
    sbuf b = {0};
    sb_str(&b, "events: ");
    sb_excerpt(&b, v.message, strlen(v.message), 4 * PWSJ_EXCERPT_MAX, g->secrets);
    free(v.message);
    add_verdict(g, -1, v.pass, v.conn, &b);
    if (!v.pass && v.t_us >= 0)
        at_time(g, v.t_us);
}

static void judge_printed(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    sbuf b = {0};
    begin(&b, a);
    bool pass = false;
    pwsj__event pat;
    if (!load_events(g)) {
        sb_str(&b, "the client's stdout was not captured");
    } else if (pwsj__event_from_json(a->text, strlen(a->text), &pat) != 0) {
        g->oom = true;
        return;
    } else {
        size_t hits = 0, first = 0;
        for (size_t i = 0; i < g->printed.n; i++)
            if (pwsj__event_has(&g->printed.v[i], &pat) && !hits++)
                first = g->printed.v[i].line;
        pwsj__event_free(&pat);
        if (a->kind == PWSS_ASSERT_NOT_PRINTED) {
            pass = hits == 0;
            if (pass)
                sb_printf(&b, "no printed event matches %s (%zu printed)", a->text, g->printed.n);
            else
                sb_printf(&b, "stdout line %zu printed an event matching %s, which a correct client never "
                              "delivers (%zu such)",
                          first, a->text, hits);
        } else {
            pass = hits >= a->count && hits <= a->max;
            if (hits < a->count && !hits)
                sb_printf(&b, "no printed event matches %s (%zu market-data event(s) printed in %zu line(s))",
                          a->text, g->printed.n, g->printed.lines);
            else if (hits < a->count)
                sb_printf(&b, "%zu printed event(s) match %s, expected at least %u", hits, a->text, a->count);
            else if (hits > a->max)
                sb_printf(&b, "%zu printed events match %s, expected at most %u", hits, a->text, a->max);
            else
                sb_printf(&b, "%zu printed event(s) match %s (first on stdout line %zu)", hits, a->text, first);
        }
    }
    where(g, &b, a);
    add_verdict(g, idx, pass, 0, &b);
}

/* Did the server itself end connection k: a close frame, a drop or close fault, or a scripted
 * drop or close step? */
static bool starts(const pwsm_entry *e, const char *prefix)
{
    size_t n = strlen(prefix);
    return e->len >= n && memcmp(e->data, prefix, n) == 0;
}

static bool server_ended(const judge *g, uint32_t k)
{
    for (size_t i = 0; i < g->n; i++) {
        const pwsm_entry *e = &g->j[i];
        if (e->conn != k)
            continue;
        if (e->dir == 's' && is_kind(e, "close"))
            return true;
        if (e->dir == '-' && is_kind(e, "fault") && !starts(e, "stall"))
            return true;
        if (e->dir == '-' && is_kind(e, "step") && (starts(e, "drop") || starts(e, "close")))
            return true;
    }
    return false;
}

static void judge_fails_connection(judge *g, int idx, const pwss_assertion *a)
{
    const summary *s = &g->s;
    if (!s->opened) {
        no_connection(g, idx, a);
        return;
    }
    sbuf b = {0};
    begin(&b, a);
    uint32_t from = a->ordinal ? a->ordinal : 1, to = a->ordinal ? a->ordinal : s->nconn;
    if (a->ordinal && a->ordinal > s->nconn) {
        sb_printf(&b, "connection %u was never opened (%u connection(s))", a->ordinal, s->opened);
        where(g, &b, a);
        add_verdict(g, idx, false, s->nconn, &b);
        return;
    }
    /* Pass on the first connection the client failed: a close with the code it started, or a TCP
     * close without any close frame that the server did not cause. */
    for (uint32_t k = from; k <= to; k++) {
        const conn_info *c = &s->c[k];
        if (!c->opened)
            continue;
        if (c->client_closes && !c->server_close_first && c->client_close_code == a->code) {
            sb_printf(&b, "the client failed connection %u with close %d", k, a->code);
            where(g, &b, a);
            add_verdict(g, idx, true, 0, &b);
            return;
        }
        if (c->ended && !c->end_clean && !c->client_closes && !server_ended(g, k)) {
            sb_printf(&b, "the client failed connection %u by closing TCP without a close frame (RFC 6455 "
                          "7.1.7: it SHOULD send close %d first)",
                      k, a->code);
            where(g, &b, a);
            add_verdict(g, idx, true, 0, &b);
            return;
        }
    }
    uint32_t k = a->ordinal ? a->ordinal : 1;
    const conn_info *c = &s->c[k];
    int64_t fault_us = -1;
    for (size_t i = 0; i < g->n && fault_us < 0; i++)
        if (g->j[i].conn == k && g->j[i].dir == 's' && is_kind(&g->j[i], "raw"))
            fault_us = g->j[i].t_us;
    sb_printf(&b, "connection %u: ", k);
    if (c->client_closes && !c->server_close_first)
        sb_printf(&b, "the client closed with %d, expected %d (failing the connection)", c->client_close_code,
                  a->code);
    else if (!c->ended)
        sb_printf(&b, "the client carried on until the end of the run, expected it to fail the connection "
                      "with close %d",
                  a->code);
    else if (c->client_closes)
        sb_printf(&b, "the client only answered the server's close (with %d), expected it to fail the "
                      "connection with close %d first",
                  c->client_close_code, a->code);
    else
        sb_printf(&b, "the server ended the connection before the client failed it (expected close %d)", a->code);
    where(g, &b, a);
    add_verdict(g, idx, false, k, &b);
    at_time(g, fault_us >= 0 ? fault_us : c->ended ? c->end_us : s->last_us);
}

const char *pwsj_assert_name(pwss_assert_kind kind)
{
    switch (kind) {
    case PWSS_ASSERT_AUTH_WITHIN: return "auth_within";
    case PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH: return "no_subscribe_before_auth";
    case PWSS_ASSERT_RESUBSCRIBED: return "resubscribed";
    case PWSS_ASSERT_RECONNECT_DELAY: return "reconnect_delay";
    case PWSS_ASSERT_MAX_CONNECTS: return "max_connects";
    case PWSS_ASSERT_MIN_CONNECTS: return "min_connects";
    case PWSS_ASSERT_CLIENT_CLOSED_WITH: return "client_closed_with";
    case PWSS_ASSERT_CLIENT_EXIT: return "client_exit";
    case PWSS_ASSERT_OUTPUT_EQUALS: return "output_equals";
    case PWSS_ASSERT_OUTPUT_MATCHES: return "output_matches";
    case PWSS_ASSERT_NO_RECONNECT: return "no_reconnect";
    case PWSS_ASSERT_PRINTED: return "printed";
    case PWSS_ASSERT_NOT_PRINTED: return "not_printed";
    case PWSS_ASSERT_FAILS_CONNECTION: return "fails_connection";
    }
    return "?";
}

int pwsj_last_frames(const pwsm_entry *j, size_t n, uint32_t conn, size_t per_dir, int indent,
                     const char *const *secrets, char **buf, size_t *len)
{
    /* Walk back to find the first of the last per_dir entries each way, then print forward. */
    size_t from = n, seen_c = 0, seen_s = 0;
    for (size_t i = n; i-- > 0 && (seen_c < per_dir || seen_s < per_dir);) {
        const pwsm_entry *e = &j[i];
        if (e->conn != conn)
            continue;
        if (e->dir == 'c' && seen_c < per_dir)
            seen_c++, from = i;
        else if (e->dir == 's' && seen_s < per_dir)
            seen_s++, from = i;
    }
    sbuf b = {*buf, *len, *buf ? *len + 1 : 0, false};
    size_t kept_c = 0, kept_s = 0;
    /* Count per direction from `from` so the older surplus of the busier direction is skipped. */
    size_t total_c = 0, total_s = 0;
    for (size_t i = from; i < n; i++)
        if (j[i].conn == conn)
            total_c += j[i].dir == 'c', total_s += j[i].dir == 's';
    for (size_t i = from; i < n; i++) {
        const pwsm_entry *e = &j[i];
        if (e->conn != conn || (e->dir != 'c' && e->dir != 's'))
            continue;
        if (e->dir == 'c' && total_c - kept_c++ > per_dir)
            continue;
        if (e->dir == 's' && total_s - kept_s++ > per_dir)
            continue;
        sb_printf(&b, "%*s+%.3f s %s %s", indent, "", e->t_us / 1e6, e->dir == 'c' ? "client>" : "server>",
                  e->kind ? e->kind : "?");
        if (is_kind(e, "close")) {
            sb_printf(&b, " %d", e->close_code);
            if (e->reason && *e->reason) {
                sb_str(&b, " \"");
                sb_excerpt(&b, e->reason, strlen(e->reason), PWSJ_EXCERPT_MAX, secrets);
                sb_str(&b, "\"");
            }
        } else if (e->len) {
            sb_str(&b, " ");
            sb_excerpt(&b, e->data, e->len, PWSJ_EXCERPT_MAX, secrets);
        }
        sb_str(&b, "\n");
    }
    if (!seen_c && !seen_s)
        sb_printf(&b, "%*s(no frames)\n", indent, "");
    /* The connection's own events: how it ended. */
    for (size_t i = 0; i < n; i++) {
        const pwsm_entry *e = &j[i];
        if (e->conn == conn && e->dir == '-' && (is_kind(e, "closed") || is_kind(e, "drop")))
            sb_printf(&b, "%*s+%.3f s connection %s\n", indent, "", e->t_us / 1e6,
                      is_kind(e, "closed") ? "closed" : "dropped (no close frame)");
    }
    if (b.oom) {
        *buf = b.p;
        *len = b.p ? strlen(b.p) : 0;
        return -1;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

/* Does failure a come before failure b?  Rank first (behaviours before how the run ended), then
 * time (unknown times last within a rank), then the order the verdicts were made. */
static bool comes_before(const pwsj_verdict *a, const pwsj_verdict *b)
{
    if (a->rank != b->rank)
        return a->rank < b->rank;
    if (a->t_us != b->t_us) {
        if (a->t_us < 0 || b->t_us < 0)
            return b->t_us < 0;
        return a->t_us < b->t_us;
    }
    return a < b;
}

/* The report's details: each failure, then the last frames of the connections concerned. */
static void build_details(judge *g)
{
    pwsj_report *r = g->r;
    if (r->pass) {
        r->details = strdup("");
        if (!r->details)
            g->oom = true;
        return;
    }
    sbuf b = {0};
    uint32_t conns[PWSJ_MAX_DETAIL_CONNS];
    size_t nconns = 0;
    /* Failures first cause first: a selection sort over the (few) verdicts. */
    const pwsj_verdict *prev = NULL;
    for (size_t n = 0; n < r->nfailed; n++) {
        const pwsj_verdict *v = NULL;
        for (size_t i = 0; i < r->nverdicts; i++) {
            const pwsj_verdict *w = &r->verdicts[i];
            if (!w->pass && (!prev || comes_before(prev, w)) && (!v || comes_before(w, v)))
                v = w;
        }
        if (!v)
            break;
        prev = v;
        sb_printf(&b, "%s%s", b.len ? "\n" : "", v->message);
        bool dup = false;
        for (size_t k = 0; k < nconns; k++)
            dup |= conns[k] == v->conn;
        if (v->conn && !dup && nconns < PWSJ_MAX_DETAIL_CONNS)
            conns[nconns++] = v->conn;
    }
    if (!nconns && g->s.nconn)
        conns[nconns++] = g->s.nconn;
    if (!g->s.nconn)
        sb_str(&b, "\nno connection was opened: the journal is empty");
    for (size_t k = 0; k < nconns; k++) {
        sb_printf(&b, "\nlast frames on connection %u (oldest first, up to %u each way):\n", conns[k],
                  PWSJ_FRAMES_EACH_WAY);
        if (b.oom)
            break;
        if (pwsj_last_frames(g->j, g->n, conns[k], PWSJ_FRAMES_EACH_WAY, 2, g->secrets, &b.p, &b.len) != 0)
            b.oom = true;
        b.cap = b.p ? b.len + 1 : 0; /* pwsj_last_frames may have reallocated */
        if (b.len && b.p[b.len - 1] == '\n')
            b.p[--b.len] = '\0';
    }
    r->details = sb_take(&b);
    if (!r->details)
        g->oom = true;
}

int pwsj_judge(const pwss_scenario *sc, const pwsm_entry *journal, size_t njournal, const pwsj_client *client,
               pwsj_report *out)
{
    *out = (pwsj_report){0};
    judge g = {.sc = sc, .j = journal, .n = journal ? njournal : 0, .cl = client, .r = out};
    g.secrets = client ? client->secrets : NULL;
    if (summarize(g.j, g.n, &g.s) != 0)
        return -1;
    if (client && client->output == PWSJ_OUTPUT_EVENTS)
        load_events(&g); /* before judge_run: the timeout message counts the printed events */
    judge_run(&g);
    judge_events(&g);
    for (size_t i = 0; i < sc->nassertions && !g.oom; i++) {
        const pwss_assertion *a = &sc->assertions[i];
        int idx = (int)i;
        switch (a->kind) {
        case PWSS_ASSERT_AUTH_WITHIN: judge_auth_within(&g, idx, a); break;
        case PWSS_ASSERT_NO_SUBSCRIBE_BEFORE_AUTH: judge_no_sub_before_auth(&g, idx, a); break;
        case PWSS_ASSERT_RESUBSCRIBED: judge_resubscribed(&g, idx, a); break;
        case PWSS_ASSERT_RECONNECT_DELAY: judge_reconnect_delay(&g, idx, a); break;
        case PWSS_ASSERT_MAX_CONNECTS: judge_max_connects(&g, idx, a); break;
        case PWSS_ASSERT_MIN_CONNECTS: judge_min_connects(&g, idx, a); break;
        case PWSS_ASSERT_CLIENT_CLOSED_WITH: judge_client_closed_with(&g, idx, a); break;
        case PWSS_ASSERT_CLIENT_EXIT: judge_client_exit(&g, idx, a); break;
        case PWSS_ASSERT_OUTPUT_EQUALS: judge_output_equals(&g, idx, a); break;
        case PWSS_ASSERT_OUTPUT_MATCHES: judge_output_matches(&g, idx, a); break;
        case PWSS_ASSERT_NO_RECONNECT: judge_no_reconnect(&g, idx, a); break;
        case PWSS_ASSERT_PRINTED:
        case PWSS_ASSERT_NOT_PRINTED: judge_printed(&g, idx, a); break;
        case PWSS_ASSERT_FAILS_CONNECTION: judge_fails_connection(&g, idx, a); break;
        default: {
            sbuf b = {0};
            sb_printf(&b, "unknown assertion kind %d", (int)a->kind);
            where(&g, &b, a);
            add_verdict(&g, idx, false, 0, &b);
        }
        }
    }
    out->pass = out->nfailed == 0;
    const pwsj_verdict *head = NULL;
    for (size_t i = 0; i < out->nverdicts; i++)
        if (!out->verdicts[i].pass && (!head || comes_before(&out->verdicts[i], head)))
            head = &out->verdicts[i];
    out->first_failure = head ? head->message : NULL;
    if (!g.oom)
        build_details(&g);
    summary_free(&g.s);
    pwsj__events_free(&g.sent);
    pwsj__events_free(&g.printed);
    if (g.oom) {
        pwsj_report_free(out);
        return -1;
    }
    return 0;
}

void pwsj_report_free(pwsj_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nverdicts; i++)
        free(r->verdicts[i].message);
    free(r->verdicts);
    free(r->details);
    *r = (pwsj_report){0};
}
