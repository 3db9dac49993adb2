/*
 * judge_events.c - printed events against sent events (see judge_events.h).
 *
 * Cost: one cJSON parse per sent frame and per printed line, then one
 * canonical copy per event (about the size of its JSON).  Matching works per
 * symbol with a cursor that only moves forward, so it is linear in the number
 * of events plus one backward search at the first event that does not match.
 */
#include "judge_events.h"

#include "wire/buf.h"

#include <polyws/polyws.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- canonical form */

typedef struct cbuf {
    char *p;
    size_t len, cap;
    bool oom;
} cbuf;

static void cb_put(cbuf *b, const void *s, size_t n)
{
    if (!b->oom && pws__append(&b->p, &b->len, &b->cap, s, n, SIZE_MAX / 2))
        b->oom = true;
}

static void cb_str(cbuf *b, const char *s)
{
    cb_put(b, s, strlen(s));
}

/* A string inside a container: length-prefixed, so "a,b" and "a","b" never look alike. */
static void cb_lenstr(cbuf *b, const char *s)
{
    char n[24];
    snprintf(n, sizeof n, "%zu:", strlen(s));
    cb_str(b, n);
    cb_str(b, s);
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Writes v's canonical text: numbers by value, strings raw, containers recursively with
 * object keys sorted.  Depth is bounded by cJSON's nesting limit. */
static void canon(cbuf *b, const cJSON *v, bool nested)
{
    char num[40];
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble == 0 ? 0.0 : v->valuedouble; /* -0 == 0 */
        snprintf(num, sizeof num, "#%.17g", d);
        cb_str(b, num);
    } else if (cJSON_IsString(v)) {
        cb_str(b, "\"");
        if (nested)
            cb_lenstr(b, v->valuestring);
        else
            cb_str(b, v->valuestring);
    } else if (cJSON_IsTrue(v)) {
        cb_str(b, "t");
    } else if (cJSON_IsFalse(v)) {
        cb_str(b, "f");
    } else if (cJSON_IsNull(v)) {
        cb_str(b, "n");
    } else if (cJSON_IsArray(v)) {
        cb_str(b, "[");
        for (const cJSON *c = v->child; c; c = c->next) {
            canon(b, c, true);
            cb_str(b, ",");
        }
        cb_str(b, "]");
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        const cJSON **items = n ? malloc(n * sizeof *items) : NULL;
        if (n && !items) {
            b->oom = true;
            return;
        }
        n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            items[n++] = c;
        qsort(items, n, sizeof *items, cmp_items);
        cb_str(b, "{");
        for (size_t i = 0; i < n; i++) {
            cb_lenstr(b, items[i]->string);
            cb_str(b, "=");
            canon(b, items[i], true);
            cb_str(b, ",");
        }
        cb_str(b, "}");
        free(items);
    } else {
        cb_str(b, "?");
    }
}

typedef struct kvpos {
    size_t k, v; /* offsets into the buffer */
} kvpos;

static int cmp_kv(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(x[0], y[0]);
    if (c)
        return c;
    return strcmp(x[1], y[1]);
}

/* Fills e from a JSON object.  0, or -1 on OOM. */
static int event_from_object(const cJSON *obj, pwsj__event *e)
{
    *e = (pwsj__event){0};
    cbuf b = {0};
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    kvpos *pos = n ? malloc(n * sizeof *pos) : NULL;
    if (n && !pos)
        return -1;
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        pos[i].k = b.len;
        cb_put(&b, c->string, strlen(c->string) + 1);
        pos[i].v = b.len;
        canon(&b, c, false);
        cb_put(&b, "", 1);
    }
    if (b.oom || (n && !b.p)) {
        free(pos);
        free(b.p);
        return -1;
    }
    e->buf = b.p ? b.p : strdup("");
    e->kv = malloc((n ? 2 * n : 1) * sizeof *e->kv);
    if (!e->buf || !e->kv) {
        free(pos);
        free(e->buf);
        free(e->kv);
        *e = (pwsj__event){0};
        return -1;
    }
    for (i = 0; i < n; i++) {
        e->kv[2 * i] = e->buf + pos[i].k;
        e->kv[2 * i + 1] = e->buf + pos[i].v;
    }
    free(pos);
    e->npairs = (uint32_t)n;
    qsort(e->kv, n, 2 * sizeof *e->kv, cmp_kv);
    e->ev = "";
    e->group = "";
    static const char *const group_keys[] = {"sym", "T", "pair", NULL};
    for (i = 0; i < n; i++)
        if (!strcmp(e->kv[2 * i], "ev"))
            e->ev = e->kv[2 * i + 1];
    for (int g = 0; group_keys[g] && !*e->group; g++)
        for (i = 0; i < n; i++)
            if (!strcmp(e->kv[2 * i], group_keys[g]) && e->kv[2 * i + 1][0] == '"')
                e->group = e->kv[2 * i + 1];
    return 0;
}

void pwsj__event_free(pwsj__event *e)
{
    free(e->buf);
    free(e->kv);
    *e = (pwsj__event){0};
}

int pwsj__event_from_json(const char *json, size_t len, pwsj__event *out)
{
    *out = (pwsj__event){0};
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -1;
    }
    int rc = event_from_object(root, out);
    cJSON_Delete(root);
    return rc;
}

bool pwsj__event_has(const pwsj__event *e, const pwsj__event *pattern)
{
    for (uint32_t i = 0; i < pattern->npairs; i++) {
        const char *k = pattern->kv[2 * i], *v = pattern->kv[2 * i + 1];
        bool found = false;
        for (uint32_t j = 0; j < e->npairs && !found; j++)
            found = !strcmp(e->kv[2 * j], k) && !strcmp(e->kv[2 * j + 1], v);
        if (!found)
            return false;
    }
    return true;
}

/* The printed event p agrees with the sent event s: same "ev", and every field of p that s
 * has too holds a value s has for it (s may repeat a key: any of its values will do).  Fields
 * only one side has are ignored: a client may add fields or leave some out. */
static bool event_agrees(const pwsj__event *p, const pwsj__event *s)
{
    if (strcmp(p->ev, s->ev) != 0)
        return false;
    uint32_t j = 0;
    for (uint32_t i = 0; i < p->npairs; i++) {
        const char *k = p->kv[2 * i], *v = p->kv[2 * i + 1];
        while (j < s->npairs && strcmp(s->kv[2 * j], k) < 0)
            j++;
        if (j == s->npairs || strcmp(s->kv[2 * j], k) != 0)
            continue; /* s does not have it */
        bool any = false;
        for (uint32_t m = j; m < s->npairs && !strcmp(s->kv[2 * m], k) && !any; m++)
            any = !strcmp(s->kv[2 * m + 1], v);
        if (!any)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- lists */

static pwsj__event *events_push(pwsj__events *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        pwsj__event *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    return &l->v[l->n++];
}

void pwsj__events_free(pwsj__events *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        pwsj__event_free(&e->v[i]);
    free(e->v);
    *e = (pwsj__events){0};
}

/* A market-data event line: a JSON object whose "ev" is a string other than the statuses and
 * the parse-error lines a client may print for its own diagnostics. */
static bool is_market_event(const cJSON *o)
{
    const cJSON *ev = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "ev") : NULL;
    return cJSON_IsString(ev) && strcmp(ev->valuestring, "status") != 0 &&
           strcmp(ev->valuestring, "parse_error") != 0;
}

int pwsj__events_printed(const char *path, pwsj__events *out)
{
    *out = (pwsj__events){0};
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        out->lines++;
        const char *s = line;
        while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++, len--;
        if (len <= 0 || *s != '{' || (size_t)len > PWSJ__MAX_LINE)
            continue;
        cJSON *o = cJSON_ParseWithLength(s, (size_t)len);
        if (is_market_event(o)) {
            if (out->n >= PWSJ__MAX_EVENTS) {
                out->capped = true;
                cJSON_Delete(o);
                break;
            }
            pwsj__event *e = events_push(out);
            if (!e || event_from_object(o, e) != 0) {
                if (e)
                    out->n--;
                cJSON_Delete(o);
                rc = -1;
                break;
            }
            e->line = out->lines;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc)
        pwsj__events_free(out);
    return rc;
}

/* ---------------------------------------------------------------- what the server sent */

/* Polygon's schema for the four typed events: field -> JSON type ('n' number, 's' string,
 * 'b' bool, 'a' array of numbers).  An event that breaks it (or lacks its symbol) is optional: a
 * correct client may drop it, as polyws's own connector does. */
typedef struct field_type {
    const char *ev, *fields;
} field_type;

static const field_type schema[] = {
    {"A", "sym:s v:n av:n op:n vw:n o:n c:n h:n l:n a:n z:n s:n e:n otc:b "},
    {"AM", "sym:s v:n av:n op:n vw:n o:n c:n h:n l:n a:n z:n s:n e:n otc:b "},
    {"T", "sym:s x:n i:s z:n p:n s:n c:a t:n q:n trfi:n trft:n "},
    {"Q", "sym:s bx:n bp:n bs:n ax:n ap:n as:n c:n i:a t:n q:n z:n "},
};

/* Polygon's arrays (trade conditions, quote indicators) hold integer codes. */
static bool is_number_array(const cJSON *a)
{
    if (!cJSON_IsArray(a))
        return false;
    for (const cJSON *c = a->child; c; c = c->next)
        if (!cJSON_IsNumber(c))
            return false;
    return true;
}

static bool fits_schema(const cJSON *o)
{
    const char *ev = cJSON_GetObjectItemCaseSensitive(o, "ev")->valuestring;
    const field_type *ft = NULL;
    for (size_t i = 0; i < sizeof schema / sizeof *schema; i++)
        if (!strcmp(schema[i].ev, ev))
            ft = &schema[i];
    if (!ft)
        return true; /* other types pass through as they are */
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "sym")))
        return false;
    for (const cJSON *c = o->child; c; c = c->next) {
        /* find " name:" in the field list */
        char pat[64];
        if (snprintf(pat, sizeof pat, "%s:", c->string) >= (int)sizeof pat)
            continue;
        const char *at = ft->fields;
        while ((at = strstr(at, pat)) && at != ft->fields && at[-1] != ' ')
            at++;
        if (!at)
            continue; /* unknown fields are fine */
        char t = at[strlen(pat)];
        bool ok = (t == 'n' && cJSON_IsNumber(c)) || (t == 's' && cJSON_IsString(c)) ||
                  (t == 'b' && cJSON_IsBool(c)) || (t == 'a' && is_number_array(c));
        if (!ok)
            return false;
    }
    return true;
}

static bool has_duplicate_keys(const cJSON *o)
{
    for (const cJSON *a = o->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string))
                return true;
    return false;
}

/* Nesting depth of a JSON value (a scalar is 0, "[{}]" is 2); recursion is bounded by cJSON's
 * nesting limit. */
static unsigned json_depth(const cJSON *v)
{
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 0;
    unsigned d = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        unsigned k = json_depth(c);
        if (k > d)
            d = k;
    }
    return d + 1;
}

/* Adds the events of one JSON payload.  0, or -1 on OOM. */
static int add_payload(pwsj__events *out, const char *data, size_t len, const pwsm_entry *e, size_t idx,
                       bool optional)
{
    if (!len || !pws_utf8_valid(data, len))
        return 0; /* a client must fail the connection on invalid UTF-8 (RFC 6455 8.1) */
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root)
        return 0; /* not JSON: nothing in it can be printed as an event */
    const cJSON *item = cJSON_IsArray(root) ? root->child : root;
    bool bare = !cJSON_IsArray(root);
    /* The client contract's nesting limit (docs/client-contract.md): a client may refuse a frame
     * nested deeper, as libpolyws does; Polygon's events are 3 deep at most. */
    bool too_deep = json_depth(root) > PWS_DEFAULT_MAX_DEPTH;
    int rc = 0;
    for (; item; item = bare ? NULL : item->next) {
        if (!is_market_event(item))
            continue;
        if (out->n >= PWSJ__MAX_EVENTS) {
            out->capped = true;
            break;
        }
        pwsj__event *ev = events_push(out);
        if (!ev || event_from_object(item, ev) != 0) {
            if (ev)
                out->n--;
            rc = -1;
            break;
        }
        ev->t_us = e->t_us;
        ev->conn = e->conn;
        ev->line = idx;
        ev->optional = optional || bare || too_deep || !fits_schema(item) || has_duplicate_keys(item);
    }
    cJSON_Delete(root);
    return rc;
}

/* A RAW step's bytes (lowercase hex in the journal) hold hand-made frames: reassemble the data
 * messages they carry, unmasking where a (faulty) mask was set, so that a client which accepts
 * them legitimately (fragments, a ping between fragments) can be checked against them. */
static int add_raw(pwsj__events *out, const pwsm_entry *e, size_t idx)
{
    size_t n = e->len / 2;
    unsigned char *raw = malloc(n ? n : 1), *msg = malloc(n ? n : 1);
    if (!raw || !msg) {
        free(raw);
        free(msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = e->data[2 * i], lo = e->data[2 * i + 1];
        hi = hi <= '9' ? hi - '0' : (hi | 0x20) - 'a' + 10;
        lo = lo <= '9' ? lo - '0' : (lo | 0x20) - 'a' + 10;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    size_t p = 0, mlen = 0;
    int rc = 0;
    while (rc == 0 && p + 2 <= n) {
        unsigned op = raw[p] & 0x0f;
        bool fin = raw[p] & 0x80, masked = raw[p + 1] & 0x80;
        uint64_t plen = raw[p + 1] & 0x7f;
        p += 2;
        if (plen == 126) {
            if (p + 2 > n)
                break;
            plen = (uint64_t)raw[p] << 8 | raw[p + 1];
            p += 2;
        } else if (plen == 127) {
            if (p + 8 > n)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | raw[p + i];
            p += 8;
        }
        unsigned char key[4] = {0};
        if (masked) {
            if (p + 4 > n)
                break;
            memcpy(key, raw + p, 4);
            p += 4;
        }
        if (plen > n - p)
            break;
        if (op == 0 || op == 1 || op == 2) {
            for (uint64_t i = 0; i < plen; i++)
                msg[mlen++] = raw[p + i] ^ key[i & 3];
            if (fin) {
                rc = add_payload(out, (const char *)msg, mlen, e, idx, true);
                mlen = 0;
            }
        }
        p += plen;
    }
    if (rc == 0 && mlen) /* an unfinished message: its bytes may still have been taken as one */
        rc = add_payload(out, (const char *)msg, mlen, e, idx, true);
    free(raw);
    free(msg);
    return rc;
}

int pwsj__events_sent(const pwsm_entry *j, size_t n, pwsj__events *out)
{
    *out = (pwsj__events){0};
    for (size_t i = 0; i < n && !out->capped; i++) {
        const pwsm_entry *e = &j[i];
        if (e->dir != 's' || !e->kind)
            continue;
        int rc = 0;
        if (!strcmp(e->kind, "text")) {
            /* statuses are skipped cheaply: a frame without a market-data "ev" needs no parse */
            if (e->len > 12 && !memcmp(e->data, "[{\"ev\":\"status\"", 15 < e->len ? 15 : e->len) &&
                !memmem(e->data + 1, e->len - 1, "},{", 3))
                continue;
            out->lines++;
            rc = add_payload(out, e->data, e->len, e, i, false);
        } else if (!strcmp(e->kind, "binary")) {
            out->lines++;
            rc = add_payload(out, e->data, e->len, e, i, true);
        } else if (!strcmp(e->kind, "raw")) {
            out->lines++;
            rc = add_raw(out, e, i);
        }
        if (rc) {
            pwsj__events_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- comparing */

/* Sorts event indices by (group, position).  qsort_r: several judges run at once under
 * polyws check --jobs, so the list is passed, never kept in a static. */
static int cmp_by_group(const void *a, const void *b, void *arg)
{
    const pwsj__events *l = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(l->v[x].group, l->v[y].group);
    if (c)
        return c;
    return x < y ? -1 : x > y;
}

static size_t *group_order(const pwsj__events *l)
{
    size_t *ix = malloc((l->n ? l->n : 1) * sizeof *ix);
    if (!ix)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        ix[i] = i;
    qsort_r(ix, l->n, sizeof *ix, cmp_by_group, (void *)l);
    return ix;
}

/* A short description of an event for messages: its JSON-ish fields, cut. */
static void describe(char *out, size_t cap, const pwsj__event *e)
{
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < e->npairs && o + 8 < cap; i++) {
        const char *v = e->kv[2 * i + 1];
        int n = snprintf(out + o, cap - o, "%s%s=%s", i ? " " : "", e->kv[2 * i], v[0] == '"' || v[0] == '#' ? v + 1 : v);
        if (n < 0 || (size_t)n >= cap - o) {
            if (cap > 4)
                strcpy(out + cap - 4, "...");
            return;
        }
        o += (size_t)n;
    }
}

static char *msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msgf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static bool ev_in(const char *const *set, size_t n, const char *ev)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(set[i], ev))
            return true;
    return false;
}

int pwsj__events_compare(pwsj__events *sent, pwsj__events *printed, pwsj__events_verdict *v)
{
    *v = (pwsj__events_verdict){.pass = true, .t_us = -1};
    size_t *si = group_order(sent), *pi = group_order(printed);
    const char **types = malloc((printed->n ? printed->n : 1) * sizeof *types);
    if (!si || !pi || !types) {
        free(si);
        free(pi);
        free(types);
        return -1;
    }
    char d[160];
    /* Walk the groups of the printed list; each has its range in the sorted sent list. */
    size_t s0 = 0;
    for (size_t p = 0; p < printed->n && v->pass;) {
        const char *g = printed->v[pi[p]].group;
        while (s0 < sent->n && strcmp(sent->v[si[s0]].group, g) < 0)
            s0++;
        size_t s1 = s0;
        while (s1 < sent->n && !strcmp(sent->v[si[s1]].group, g))
            s1++;
        size_t cur = s0;
        for (; p < printed->n && !strcmp(printed->v[pi[p]].group, g); p++) {
            pwsj__event *pe = &printed->v[pi[p]];
            size_t k = cur;
            while (k < s1 && !event_agrees(pe, &sent->v[si[k]]))
                k++;
            if (k < s1) {
                sent->v[si[k]].matched = pe->matched = true;
                cur = k + 1;
                continue;
            }
            /* Not ahead: was it sent before (order broken, or printed twice), or never? */
            size_t back = s0;
            while (back < cur && !event_agrees(pe, &sent->v[si[back]]))
                back++;
            describe(d, sizeof d, pe);
            v->pass = false;
            if (back < cur) {
                const pwsj__event *se = &sent->v[si[back]];
                v->conn = se->conn;
                v->message = msgf("stdout line %zu printed {%s} out of order or twice: the server sent it once, "
                                  "on connection %u at +%.3f s, before the event printed just above it for "
                                  "this symbol (order per symbol must be kept)",
                                  pe->line, d, se->conn, se->t_us / 1e6);
            } else {
                v->message = msgf("stdout line %zu printed {%s}, which the server never sent (no sent event "
                                  "has these values: invented or altered)",
                                  pe->line, d);
            }
            break;
        }
        s0 = s1;
    }
    /* Lost: an event of a printed type on connection c, sent before the last event of c the client
     * printed, that it never printed. */
    size_t ntypes = 0;
    for (size_t i = 0; i < printed->n; i++)
        if (!ev_in(types, ntypes, printed->v[i].ev))
            types[ntypes++] = printed->v[i].ev;
    uint32_t maxconn = 0;
    for (size_t i = 0; i < sent->n; i++)
        if (sent->v[i].conn > maxconn)
            maxconn = sent->v[i].conn;
    size_t *last = calloc((size_t)maxconn + 1, sizeof *last); /* 1 + index of the last matched */
    if (!last) {
        free(si);
        free(pi);
        free(types);
        free(v->message);
        v->message = NULL;
        return -1;
    }
    for (size_t i = 0; i < sent->n; i++)
        if (sent->v[i].matched)
            last[sent->v[i].conn] = i + 1;
    size_t lost = 0;
    const pwsj__event *first_lost = NULL;
    for (size_t i = 0; i < sent->n; i++) {
        const pwsj__event *se = &sent->v[i];
        if (se->matched || se->optional || i + 1 >= last[se->conn] || !ev_in(types, ntypes, se->ev))
            continue;
        lost++;
        if (!first_lost)
            first_lost = se;
    }
    if (first_lost && v->pass) {
        describe(d, sizeof d, first_lost);
        v->pass = false;
        v->conn = first_lost->conn;
        v->t_us = first_lost->t_us;
        v->message = msgf("connection %u sent {%s} at +%.3f s and the client never printed it, although it "
                          "printed later events of that connection (%zu such event%s lost)",
                          first_lost->conn, d, first_lost->t_us / 1e6, lost, lost == 1 ? "" : "s");
    }
    if (v->pass) {
        size_t matched = 0;
        for (size_t i = 0; i < printed->n; i++)
            matched += printed->v[i].matched;
        char tl[128] = "";
        for (size_t i = 0, o = 0; i < ntypes && o + 16 < sizeof tl; i++)
            o += (size_t)snprintf(tl + o, sizeof tl - o, "%s%s", i ? ", " : "", types[i] + 1);
        v->message = msgf("%zu printed event%s (%s%s) all agree with the %zu the server sent, in order per "
                          "symbol, none lost%s",
                          matched, matched == 1 ? "" : "s", ntypes ? "types " : "no events", tl, sent->n,
                          sent->capped || printed->capped ? " (only the first 4000000 were compared)" : "");
    }
    free(last);
    free(si);
    free(pi);
    free(types);
    return v->message ? 0 : -1;
}
