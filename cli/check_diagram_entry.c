/*
 * check_diagram_entry.c - one journal entry as the sequence diagram shows it
 * (see check_diagram.h): what a frame carries (its category and event count,
 * from a cheap scan), a short label and a longer tooltip, and the secrets
 * scrubbed from every payload.
 *
 * Every payload is scrubbed of the secrets in full (up to
 * CHK_REPORT_SCRUB_WINDOW bytes) before anything is cut from it; it is made
 * safe for XML when it is drawn (check_html.c).
 */
#include "check_diagram.h"
#include "check_common.h"
#include "check_report.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes scanned past a window's end: a trace of a secret that starts inside the window is
 * replaced whole up to here, and any piece of one is caught anyway (pieces of 8 bytes). */
#define SCRUB_MARGIN 64u

/* Copies the first `limit` bytes of s (n bytes), scrubbed of the secrets (wire/secrets.h),
 * NUL-terminated, into a malloc'd string of *outn bytes (never more than limit); NULL if out
 * of memory.  The scan reaches SCRUB_MARGIN bytes past limit, so a cut at limit never leaves
 * the start of a secret: it falls inside a mark or after it. */
static char *scrub_window(const diagram *d, const char *s, size_t n, size_t limit, size_t *outn)
{
    size_t w = limit + SCRUB_MARGIN < n ? limit + SCRUB_MARGIN : n;
    char *out = malloc(w + 1);
    if (!out)
        return NULL;
    memcpy(out, s, w);
    size_t m = pws__secrets_scrub_inplace(&d->set, out, w);
    if (m > limit)
        m = limit;
    out[m] = '\0';
    *outn = m;
    return out;
}

/* n bytes of s, scrubbed. */
char *chk_scrub_copy(const diagram *d, const char *s, size_t n, size_t *outn)
{
    return scrub_window(d, s, n, n, outn);
}

/* Scrubs t in place (through a copy). */
static void scrub_text(const diagram *d, rbuf *t)
{
    if (!t->p || !d->set.nkeys)
        return;
    size_t n;
    char *s = chk_scrub_copy(d, t->p, t->len, &n);
    if (!s) {
        t->oom = true;
        return;
    }
    free(t->p);
    t->cap = t->len + 1;
    t->p = s;
    t->len = n;
}

/* ---------------------------------------------------------------- frames */

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* What kind of text a frame carries, from its first bytes only (cheap for any size). */
int chk_frame_cat(const pwsm_entry *e)
{
    if (chk_kind_is(e, "binary"))
        return CAT_BINARY;
    const char *p = e->data ? e->data : "";
    size_t n = e->data ? e->len : 0, i = skip_ws(p, n, 0);
    if (i < n && p[i] == '{')
        return CAT_OBJECT;
    if (i >= n || p[i] != '[')
        return CAT_OTHER;
    i = skip_ws(p, n, i + 1);
    if (i >= n || p[i] != '{')
        return CAT_EVENTS;
    i = skip_ws(p, n, i + 1);
    if (n - i < 4 || memcmp(p + i, "\"ev\"", 4) != 0)
        return CAT_EVENTS;
    i = skip_ws(p, n, i + 4);
    if (i >= n || p[i] != ':')
        return CAT_EVENTS;
    i = skip_ws(p, n, i + 1);
    return n - i >= 8 && memcmp(p + i, "\"status\"", 8) == 0 ? CAT_STATUS : CAT_EVENTS;
}

/* Elements of a text frame's top-level JSON array (0 if it is not one): a scan that only
 * tracks strings and nesting, linear in the payload. */
uint64_t chk_count_events(const pwsm_entry *e)
{
    if (!chk_kind_is(e, "text") || !e->data)
        return 0;
    const char *p = e->data;
    size_t n = e->len, i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '[')
        return 0;
    int depth = 1;
    bool in_str = false, any = false;
    uint64_t commas = 0;
    for (i++; i < n && depth > 0; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"': in_str = true; any = true; break;
        case '[':
        case '{': depth++; any = true; break;
        case ']':
        case '}': depth--; break;
        case ',': commas += depth == 1; break;
        case ' ':
        case '\t':
        case '\n':
        case '\r': break;
        default: any = true;
        }
    }
    return any ? commas + 1 : 0;
}

/* A short summary of a JSON text frame: "auth ***", "subscribe A.AAPL", "status connected:
 * Connected Successfully", "5 events: 3×A 2×T · AAPL MSFT…".  false if it is none of these. */
static bool summarize_json(const char *s, size_t n, rbuf *out)
{
    cJSON *root = cJSON_ParseWithLength(s, n);
    if (!root)
        return false;
    bool ok = false;
    if (cJSON_IsObject(root)) {
        const cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
        if (cJSON_IsString(action)) {
            chk_rb_printf(out, "%s", action->valuestring);
            if (cJSON_IsString(params))
                chk_rb_printf(out, " %s", params->valuestring);
            ok = true;
        }
    } else if (cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0) {
        enum { MAX_TYPES = 6, MAX_SYMS = 3 };
        const char *types[MAX_TYPES], *syms[MAX_SYMS];
        size_t tcount[MAX_TYPES] = {0}, ntypes = 0, nsyms = 0, total = 0, statuses = 0;
        bool more_types = false, more_syms = false, all_ev = true;
        const cJSON *el, *first_status = NULL;
        cJSON_ArrayForEach(el, root)
        {
            total++;
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(el, "ev");
            if (!cJSON_IsObject(el) || !cJSON_IsString(ev)) {
                all_ev = false;
                break;
            }
            if (!strcmp(ev->valuestring, "status")) {
                statuses++;
                if (!first_status)
                    first_status = el;
            }
            size_t k = 0;
            while (k < ntypes && strcmp(types[k], ev->valuestring))
                k++;
            if (k == ntypes && ntypes < MAX_TYPES)
                types[ntypes++] = ev->valuestring;
            if (k < ntypes)
                tcount[k]++;
            else
                more_types = true;
            const cJSON *sym = cJSON_GetObjectItemCaseSensitive(el, "sym");
            if (cJSON_IsString(sym)) {
                size_t m = 0;
                while (m < nsyms && strcmp(syms[m], sym->valuestring))
                    m++;
                if (m == nsyms && nsyms < MAX_SYMS)
                    syms[nsyms++] = sym->valuestring;
                else if (m == nsyms)
                    more_syms = true;
            }
        }
        if (all_ev && statuses == total) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(first_status, "status");
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(first_status, "message");
            if (total > 1)
                chk_rb_printf(out, "%zu\xC3\x97 ", total);
            chk_rb_printf(out, "status %s", cJSON_IsString(st) ? st->valuestring : "?");
            if (cJSON_IsString(msg))
                chk_rb_printf(out, ": %s", msg->valuestring);
            ok = true;
        } else if (all_ev) {
            chk_rb_printf(out, "%zu event%s:", total, total == 1 ? "" : "s");
            for (size_t k = 0; k < ntypes; k++)
                chk_rb_printf(out, " %zu\xC3\x97%s", tcount[k], types[k]);
            if (more_types)
                chk_rb_printf(out, " \xE2\x80\xA6");
            for (size_t m = 0; m < nsyms; m++)
                chk_rb_printf(out, "%s%s", m ? " " : " \xC2\xB7 ", syms[m]);
            if (more_syms)
                chk_rb_printf(out, "\xE2\x80\xA6");
            ok = true;
        }
    }
    cJSON_Delete(root);
    return ok;
}

/* The payload of a frame entry, scrubbed: at most CHK_REPORT_SCRUB_WINDOW bytes of it (a raw
 * entry's hex decoded first; a secret that starts in the window is replaced whole).  Sets
 * *bytes to the payload's full size, *cut if the window left some of it out. */
static char *frame_payload(const diagram *d, const pwsm_entry *e, size_t *outn, size_t *bytes, bool *cut)
{
    const char *data = e->data ? e->data : "";
    size_t len = e->data ? e->len : 0;
    char *decoded = NULL;
    if (chk_kind_is(e, "raw") && len % 2 == 0) {
        /* the window, and enough after it to see a secret that starts inside */
        size_t win = CHK_REPORT_SCRUB_WINDOW + SCRUB_MARGIN;
        if (win > len / 2)
            win = len / 2;
        decoded = malloc(win + 1);
        if (!decoded)
            return NULL;
        static const char hex[] = "0123456789abcdef0123456789ABCDEF";
        size_t k = 0;
        for (; k < win; k++) {
            const char *hi = memchr(hex, data[2 * k], 32), *lo = memchr(hex, data[2 * k + 1], 32);
            if (!hi || !lo || !data[2 * k] || !data[2 * k + 1])
                break;
            decoded[k] = (char)(((hi - hex) % 16) << 4 | (lo - hex) % 16);
        }
        if (k == win) {
            data = decoded;
            *bytes = len / 2;
            len = win;
        } else {
            free(decoded);
            decoded = NULL;
        }
    }
    if (!decoded)
        *bytes = len;
    char *s = scrub_window(d, data, len, CHK_REPORT_SCRUB_WINDOW, outn);
    free(decoded);
    *cut = *bytes > CHK_REPORT_SCRUB_WINDOW;
    return s;
}

/* The label (short) and tooltip (longer) of one frame, plain UTF-8, scrubbed. */
void chk_describe(diagram *d, const pwsm_entry *e, rbuf *label, rbuf *tip)
{
    size_t n = 0, bytes = 0;
    bool cut = false;
    char *s = frame_payload(d, e, &n, &bytes, &cut);
    if (!s) {
        d->oom = true;
        chk_rb_printf(label, "%s (out of memory)", e->kind ? e->kind : "?");
        return;
    }
    char size[32];
    chk_fmt_count(bytes, size);
    if (chk_kind_is(e, "close")) {
        size_t rn = 0;
        char *reason = chk_scrub_copy(d, e->reason ? e->reason : "", e->reason ? strlen(e->reason) : 0, &rn);
        d->oom |= !reason;
        if (e->close_code)
            chk_rb_printf(label, "close %d%s%s", e->close_code, rn ? " " : "", reason ? reason : "");
        else
            chk_rb_printf(label, "close (no status code)");
        chk_rb_printf(tip, "%s", label->p ? label->p : "close");
        free(reason);
    } else if (chk_kind_is(e, "raw")) {
        chk_rb_printf(label, "raw %s B:", size);
        for (size_t i = 0; i < n && i < 10; i++)
            chk_rb_printf(label, " %02x", (unsigned char)s[i]);
        if (n > 10)
            chk_rb_printf(label, " \xE2\x80\xA6");
        chk_rb_printf(tip, "raw bytes written as they are (%s B):", size);
        for (size_t i = 0; i < n && i < 48; i++)
            chk_rb_printf(tip, "%s%02x", i % 16 ? " " : "\n", (unsigned char)s[i]);
        chk_rb_put(tip, "\n", 1);
        chk_rb_put(tip, s, n);
    } else if (chk_kind_is(e, "text") && !cut && n <= CHK_REPORT_PARSE_MAX && summarize_json(s, n, label)) {
        scrub_text(d, label); /* decoded JSON strings may spell a secret with escapes */
        chk_rb_printf(tip, "text, %s B:\n", size);
        chk_rb_put(tip, s, n);
    } else {
        if (chk_kind_is(e, "binary") || bytes > 4096) /* a big text that was not summarized: say how big */
            chk_rb_printf(label, "%s %s B: ", e->kind ? e->kind : "?", size);
        else if (!chk_kind_is(e, "text"))
            chk_rb_printf(label, "%s%s", e->kind ? e->kind : "?", n ? " " : "");
        chk_rb_put(label, s, n);
        chk_rb_printf(tip, "%s, %s B:\n", e->kind ? e->kind : "?", size);
        chk_rb_put(tip, s, n);
    }
    free(s);
}

int chk_secrets_init(diagram *d, const char *const *secrets)
{
    return pws__secrets_add_list(&d->set, secrets, (size_t)-1);
}

void chk_secrets_free(diagram *d)
{
    pws__secrets_free(&d->set);
}
