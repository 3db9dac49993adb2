/*
 * redact.c - secrets out of messages before they touch the disk.
 *
 * JSON text is scanned, not re-serialized: the value of each redacted member
 * is cut out and "***" put in its place, every other byte stays as it was,
 * so a redacted tape still shows exactly what went over the wire.  Then the
 * literal secrets (the API keys seen so far) are scrubbed from whatever is
 * left, JSON or not.  Text that is not JSON but looks like an auth action is
 * redacted by the Polygon adapter's byte-level rule as a last resort.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_DEPTH 64       /* JSON nesting the scanner follows; deeper text is not redacted as JSON */
#define REDACT_MAX_SPANS 4096 /* values replaced in one message */
#define REDACT_MAX_PARAMS 8   /* "params" members of one object (a repeated name); more is not redacted as JSON */

typedef struct span {
    size_t start, end; /* the value's bytes [start, end) */
} span;

typedef struct rscan {
    const char *s;               /* the message */
    size_t n, i;                 /* length, cursor */
    const pws_redact_rules *r;   /* what to redact */
    span *spans;                 /* values to replace */
    size_t nspans, cap;          /* used, allocated */
    bool bad;                    /* not JSON (or too deep / too many spans / no memory) */
} rscan;

static void rws(rscan *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r' || p->s[p->i] == '\n'))
        p->i++;
}

static void add_span(rscan *p, size_t start, size_t end)
{
    if (p->nspans == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        span *ns = cap <= REDACT_MAX_SPANS ? realloc(p->spans, cap * sizeof *ns) : NULL;
        if (!ns) {
            p->bad = true;
            return;
        }
        p->spans = ns;
        p->cap = cap;
    }
    p->spans[p->nspans++] = (span){start, end};
}

/* Skips a string; true if it was well formed.  Sets *raw_eq_auth if its raw
 * contents are exactly `auth`. */
static bool rstring(rscan *p)
{
    if (p->i >= p->n || p->s[p->i] != '"')
        return false;
    p->i++;
    while (p->i < p->n) {
        char c = p->s[p->i++];
        if (c == '"')
            return true;
        if (c == '\\') {
            if (p->i >= p->n)
                return false;
            p->i++;
        } else if ((unsigned char)c < 0x20) {
            return false;
        }
    }
    return false;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The contents of a well-formed string token [start, end), escapes decoded,
 * compared with an ASCII name (any other value is never equal): "par\u0061ms"
 * is "params" to every JSON reader (the service's, pws_auth_key_of's), so it
 * must be to the redactor too. */
static bool token_is(const rscan *p, size_t start, size_t end, const char *name)
{
    size_t i = start + 1, last = end - 1, k = 0;
    if (end - start < 2 || p->s[start] != '"')
        return false; /* not a string */
    while (i < last) {
        char c = p->s[i++];
        if (c == '\\') {
            char e = p->s[i++];
            switch (e) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int v = 0;
                for (int d = 0; d < 4; d++) {
                    int h = i < last ? hex_digit(p->s[i++]) : -1;
                    if (h < 0)
                        return false;
                    v = v * 16 + h;
                }
                if (v == 0 || v >= 0x80)
                    return false; /* names here are ASCII without NUL */
                c = (char)v;
                break;
            }
            default: c = e; break; /* \" \\ \/ */
            }
        }
        if (name[k] == '\0' || name[k] != c)
            return false;
        k++;
    }
    return name[k] == '\0';
}

static bool rvalue(rscan *p, int depth, bool skip);

static bool robject(rscan *p, int depth)
{
    p->i++; /* '{' */
    span params[REDACT_MAX_PARAMS]; /* every "params" member: JSON readers differ on which one counts */
    size_t nparams = 0;
    bool is_auth = false;
    rws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return true;
    }
    for (;;) {
        rws(p);
        size_t ks = p->i;
        if (!rstring(p))
            return false;
        size_t ke = p->i;
        rws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return false;
        p->i++;
        rws(p);
        size_t vs = p->i;
        bool redact = false;
        for (size_t k = 0; k < p->r->nfields && !redact; k++)
            redact = token_is(p, ks, ke, p->r->fields[k]);
        /* a redacted value is not descended into: it goes away whole */
        if (!rvalue(p, depth + 1, redact))
            return false;
        size_t ve = p->i;
        if (redact)
            add_span(p, vs, ve);
        if (token_is(p, ks, ke, "params")) {
            if (nparams == REDACT_MAX_PARAMS) {
                p->bad = true;
                return false;
            }
            params[nparams++] = (span){vs, ve};
        } else if (token_is(p, ks, ke, "action") && token_is(p, vs, ve, "auth")) {
            is_auth = true;
        }
        rws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            break;
        }
        return false;
    }
    for (size_t k = 0; is_auth && p->r->auth_params && k < nparams; k++)
        add_span(p, params[k].start, params[k].end);
    return true;
}

static bool rvalue(rscan *p, int depth, bool skip)
{
    rws(p);
    if (p->i >= p->n)
        return false;
    char c = p->s[p->i];
    if (c == '"')
        return rstring(p);
    if (c == '{' || c == '[') {
        if (depth >= REDACT_DEPTH && !skip) {
            p->bad = true; /* too deep to follow: the byte rule takes over */
            return false;
        }
        if (skip) {
            /* a redacted value: skip it by bracket counting */
            int level = 0;
            while (p->i < p->n) {
                char d = p->s[p->i];
                if (d == '"') {
                    if (!rstring(p))
                        return false;
                    continue;
                }
                p->i++;
                if (d == '{' || d == '[')
                    level++;
                else if ((d == '}' || d == ']') && --level == 0)
                    return true;
            }
            return false;
        }
        if (c == '{')
            return robject(p, depth);
        p->i++;
        rws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return true;
        }
        for (;;) {
            if (!rvalue(p, depth + 1, false))
                return false;
            rws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
                return true;
            }
            return false;
        }
    }
    size_t start = p->i;
    while (p->i < p->n && strchr("+-.0123456789eEtruefalsn", p->s[p->i]) && p->s[p->i])
        p->i++;
    return p->i > start;
}

/* The byte rule for text the scanner could not follow: after every `"NAME"`
 * (a redacted field, or "params" when the text mentions auth; escapes in the
 * name decoded, as a JSON reader that stops at the first value would) followed by a
 * colon, the value up to its closing quote (a string, or to the end of the
 * text if it never closes) or up to the next , } ] or blank is replaced. */
static int redact_bytes(const pws_redact_rules *r, const char *s, size_t n, pws_tape_buf *out, bool *hit)
{
    const char *names[PWS_TAPE_MAX_REDACT + 1];
    size_t nn = 0;
    for (size_t k = 0; k < r->nfields && nn < PWS_TAPE_MAX_REDACT; k++)
        names[nn++] = r->fields[k];
    if (r->auth_params && (memmem(s, n, "auth", 4) || memmem(s, n, "\\u", 2)))
        names[nn++] = "params";
    size_t at = 0, i = 0;
    out->len = 0;
    while (i < n) {
        size_t vs = 0, ve = 0;
        rscan name = {.s = s, .n = n, .i = i};
        if (s[i] == '"' && rstring(&name)) {
            for (size_t k = 0; k < nn && !ve; k++) {
                if (!token_is(&name, i, name.i, names[k]))
                    continue;
                size_t j = name.i;
                /* any byte up to a blank is white space to cJSON (and so to pws_auth_key_of) */
                while (j < n && (unsigned char)s[j] <= ' ')
                    j++;
                if (j >= n || s[j] != ':')
                    continue;
                j++;
                while (j < n && (unsigned char)s[j] <= ' ')
                    j++;
                vs = j;
                if (j < n && s[j] == '"') {
                    j++;
                    while (j < n && s[j] != '"')
                        j += s[j] == '\\' ? 2 : 1;
                    ve = j < n ? j + 1 : n;
                } else {
                    while (j < n && !strchr(",}] \t\r\n", s[j]))
                        j++;
                    ve = j;
                }
                if (ve <= vs)
                    ve = 0;
            }
        }
        if (ve) {
            if (pwsr__buf_put(out, s + at, vs - at) || pwsr__buf_str(out, "\"" PWS_TAPE_PLACEHOLDER "\""))
                return -1;
            at = i = ve;
            *hit = true;
        } else {
            i++;
        }
    }
    return pwsr__buf_put(out, s + at, n - at);
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : x->end > y->end ? -1 : x->end < y->end;
}

char *pwsr__redact(const pws_redact_rules *r, const pws__secrets *set, const char *msg, size_t len, size_t *outlen,
                   bool *changed)
{
    static const pws_redact_rules none;
    if (!r)
        r = &none;
    if (changed)
        *changed = false;
    pws_tape_buf json = {0}, out = {0};
    const char *src = msg;
    size_t srclen = len;
    rscan p = {.s = msg, .n = len, .r = r};
    rws(&p);
    bool looks_json = p.i < p.n && (p.s[p.i] == '{' || p.s[p.i] == '[');
    /* most messages (market data) name no redacted member: skip the scan then.  A \u escape
     * may spell any name, so a message with one is always scanned (market data rarely has one) */
    bool candidate = (r->auth_params || r->nfields) && memmem(msg, len, "\\u", 2);
    candidate = candidate || (r->auth_params && memmem(msg, len, "auth", 4));
    for (size_t k = 0; k < r->nfields && !candidate; k++) {
        char q[PWS_TAPE_MAX_NAME + 3];
        int ql = snprintf(q, sizeof q, "\"%s\"", r->fields[k]);
        candidate = ql < 0 || (size_t)ql >= sizeof q || memmem(msg, len, q, (size_t)ql); /* too long: scan */
    }
    if (candidate) {
        /* text that does not start like JSON still gets the byte rule: cJSON (so the service,
         * and pws_auth_key_of) skips any leading control byte before a value, this scanner not */
        bool ok = looks_json && rvalue(&p, 0, false) && !p.bad;
        rws(&p);
        ok = ok && p.i == p.n;
        if (ok && p.nspans) {
            qsort(p.spans, p.nspans, sizeof *p.spans, span_cmp);
            size_t at = 0;
            for (size_t k = 0; k < p.nspans; k++) {
                if (p.spans[k].start < at)
                    continue; /* inside a value already replaced */
                if (pwsr__buf_put(&json, msg + at, p.spans[k].start - at) ||
                    pwsr__buf_str(&json, "\"" PWS_TAPE_PLACEHOLDER "\""))
                    goto oom;
                at = p.spans[k].end;
            }
            if (pwsr__buf_put(&json, msg + at, len - at))
                goto oom;
            src = json.p;
            srclen = json.len;
            if (changed)
                *changed = true;
        } else if (!ok) {
            /* broken or too deep JSON that may still carry a secret: the byte rule */
            bool hit = false;
            if (redact_bytes(r, msg, len, &json, &hit))
                goto oom;
            if (hit) {
                src = json.p;
                srclen = json.len;
                if (changed)
                    *changed = true;
            }
        }
    }
    if (pwsr__scrub(&out, src, srclen, set, changed) || pwsr__buf_reserve(&out, 1))
        goto oom;
    free(p.spans);
    pws_tape_buf_free(&json);
    out.p[out.len] = '\0';
    *outlen = out.len;
    return out.p;
oom:
    free(p.spans);
    pws_tape_buf_free(&json);
    pws_tape_buf_free(&out);
    return NULL;
}

char *pws_redact_message(const pws_redact_rules *r, const char *msg, size_t len, size_t *outlen, bool *changed)
{
    pws__secrets set = {0};
    if (r && pws__secrets_add_list(&set, r->secrets, r->nsecrets <= PWS_TAPE_MAX_REDACT ? r->nsecrets : PWS_TAPE_MAX_REDACT)) {
        pws__secrets_free(&set);
        return NULL; /* a secret that could not be kept: nothing is shown */
    }
    char *out = pwsr__redact(r, &set, msg, len, outlen, changed);
    pws__secrets_free(&set);
    return out;
}

size_t pws_auth_key_of(const char *msg, size_t len, char *out, size_t cap)
{
    if (!msg || !len || !cap || len > 65536 || (!memmem(msg, len, "auth", 4) && !memmem(msg, len, "\\u", 2)))
        return 0;
    cJSON *j = cJSON_ParseWithLength(msg, len);
    size_t n = 0;
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(j, "action");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    if (cJSON_IsObject(j) && cJSON_IsString(action) && !strcmp(action->valuestring, "auth") &&
        cJSON_IsString(params)) {
        n = strlen(params->valuestring);
        if (n >= cap)
            n = 0;
        else
            memcpy(out, params->valuestring, n + 1);
    }
    cJSON_Delete(j);
    return n;
}
