/*
 * check_report.c - the HTML report of `polyws check --report` (see check_report.h):
 * the mock's journal drawn as an SVG sequence diagram, and the page around the
 * diagrams.
 *
 * The diagram is streamed: each connection is one section (its entries read once,
 * in journal order), a run of similar frames in one direction becomes one arrow,
 * and rows past CHK_REPORT_HEAD_ROWS go through a ring of the last
 * CHK_REPORT_TAIL_ROWS, so memory and output stay bounded whatever the journal
 * holds.  Every payload is scrubbed of the secrets in full (up to
 * CHK_REPORT_SCRUB_WINDOW bytes) before anything is cut from it, then made safe
 * for XML: control characters become their Unicode pictures, invalid UTF-8 U+FFFD.
 */
#include "check_report.h"
#include "check_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Geometry of a diagram, in SVG user units (CSS pixels at 100 %). */
#define D_WIDTH 960      /* the whole diagram */
#define D_TIME_X 8       /* left edge of the time column */
#define D_CLIENT_X 150   /* the client's lifeline */
#define D_SERVER_X 900   /* the server's lifeline */
#define D_MID_X ((D_CLIENT_X + D_SERVER_X) / 2)
#define D_HEAD_H 38      /* a connection's header */
#define D_GAP 18         /* space after a connection */
#define D_ARROW 9        /* arrowhead length */
#define D_NOTE_CHARS 92  /* characters of a failed step's message in its box */

/* A growable text buffer with a capacity, so appending is amortized O(1) (a diagram or a page is
 * built from many thousands of small appends).  Zero-initialize; an allocation failure marks
 * it and later appends do nothing. */
typedef struct rbuf {
    char *p;    /* NUL-terminated, or NULL while empty */
    size_t len; /* bytes */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed */
} rbuf;

static bool rb_reserve(rbuf *b, size_t n)
{
    if (!b->oom && n < SIZE_MAX / 4 - b->len && b->len + n + 1 <= b->cap)
        return true;
    char *p = NULL;
    size_t cap = b->cap ? b->cap : 256;
    if (!b->oom && n < SIZE_MAX / 4 - b->len) {
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
    }
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void rb_put(rbuf *b, const char *s, size_t n)
{
    if (!rb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void rb_printf(rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rb_printf(rbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !rb_reserve(b, (size_t)n)) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* What a run of frames must share besides direction and kind. */
enum frame_cat { CAT_OTHER, CAT_STATUS, CAT_EVENTS, CAT_OBJECT, CAT_BINARY };

/* One row of a connection: one journal entry, or a run of frames drawn as one arrow. */
typedef struct row {
    size_t first;    /* journal index of the entry, or of the run's first frame */
    size_t last;     /* the run's last frame (= first for one entry) */
    size_t frames;   /* frames in the run; 0 for one entry */
    uint64_t events; /* events in the run's frames (elements of their top-level arrays) */
    size_t steps;    /* step entries inside the run, drawn as part of it */
    int cat;         /* the run's frame_cat */
} row;

/* One connection of the journal. */
typedef struct conn_info {
    uint32_t conn;   /* ordinal */
    size_t first;    /* index of its first entry */
    size_t last;     /* index of its last entry */
    size_t frames;   /* frames either way */
    int end;         /* 0 still open, 1 closed, 2 dropped */
} conn_info;

/* A diagram being drawn. */
typedef struct diagram {
    const pwsm_entry *j;   /* the journal */
    size_t nj;             /* its entries */
    const char **sec;      /* secrets to scrub (CHECK_SECRET_MIN bytes or more), each as given and
                              as it would be written inside a JSON string */
    size_t *seclen;        /* their lengths */
    size_t nsec;           /* how many */
    char **owned;          /* the JSON-escaped forms (malloc'd) */
    size_t nowned;         /* how many */
    size_t max_secret;     /* the longest one's length */
    rbuf body;         /* the connections drawn so far */
    rbuf rows;         /* the current connection's rows */
    int y;                 /* top of the next row */
    size_t nrows;          /* rows drawn in the whole diagram */
    bool oom;              /* an allocation failed */
} diagram;

/* The rows of one connection as they are decided: the first CHK_REPORT_HEAD_ROWS are drawn at
 * once, later ones wait in a ring of the last CHK_REPORT_TAIL_ROWS; what falls out of the ring is
 * counted in one "… N more" row, except drops, faults, raw bytes and failed steps (up to
 * CHK_REPORT_KEPT_ROWS).  The run under construction lives here too. */
typedef struct lane {
    diagram *d;                        /* where rows go */
    size_t drawn;                      /* rows drawn so far */
    row ring[CHK_REPORT_TAIL_ROWS];    /* rows waiting to be drawn, oldest at ring_head */
    size_t ring_head, ring_n;          /* ring position and fill */
    size_t kept;                       /* important rows drawn from the middle */
    size_t skipped, skipped_frames;    /* rows (and frames in them) left out since the last drawn one */
    int64_t skip_from, skip_to;        /* their time span */
    bool in_run;                       /* a run is being collected */
    row run;                           /* it */
    char run_dir;                      /* its direction */
    const char *run_kind;              /* its kind ("text" or "binary") */
    size_t members[2 * CHK_REPORT_COLLAPSE_STATUS]; /* its entries while it may be too short to collapse */
    size_t nmembers;                   /* entries in members */
    bool step_pending;                 /* a step came after the run's last frame ... */
    size_t pending;                    /* ... this one: part of the run if another frame follows */
} lane;

/* ---------------------------------------------------------------- text */

#define CLEAN_LINES 1 /* put_clean: keep '\n' and '\t' */
#define CLEAN_ATTR 2  /* put_clean: for an attribute value (quotes escaped too) */

/* Appends n bytes of s made safe for XML character data (&<> escaped) or, with CLEAN_ATTR,
 * attribute values ("' too): invalid UTF-8 as U+FFFD, control characters as their Unicode
 * pictures (U+2400 + c, U+2421), except '\n' and '\t' with CLEAN_LINES.  At most max_chars
 * characters (0 = all); a cut is marked with "…".  Output goes through a small chunk, so
 * appends stay few. */
static void put_clean(rbuf *t, const char *s, size_t n, size_t max_chars, int flags)
{
    const unsigned char *u = (const unsigned char *)s;
    char chunk[512];
    size_t o = 0, chars = 0;
    for (size_t i = 0; i < n;) {
        if (o > sizeof chunk - 16) {
            rb_put(t, chunk, o);
            o = 0;
        }
        if (max_chars && chars == max_chars) {
            memcpy(chunk + o, "\xE2\x80\xA6", 3);
            o += 3;
            break;
        }
        chars++;
        size_t seq = chk_utf8_len(u + i, n - i);
        unsigned char c = u[i];
        if (seq > 1) {
            memcpy(chunk + o, u + i, seq);
            o += seq;
            i += seq;
            continue;
        }
        i++;
        const char *rep = NULL;
        if (seq == 0)
            rep = "\xEF\xBF\xBD";
        else if (c == '&')
            rep = "&amp;";
        else if (c == '<')
            rep = "&lt;";
        else if (c == '>')
            rep = "&gt;";
        else if (c == '"' && (flags & CLEAN_ATTR))
            rep = "&quot;";
        else if (c == '\'' && (flags & CLEAN_ATTR))
            rep = "&#39;";
        else if (c == 0x7f)
            rep = "\xE2\x90\xA1";
        if (rep) {
            size_t k = strlen(rep);
            memcpy(chunk + o, rep, k);
            o += k;
        } else if (c < 0x20 && !((flags & CLEAN_LINES) && (c == '\n' || c == '\t'))) {
            chunk[o++] = (char)0xE2;
            chunk[o++] = (char)0x90;
            chunk[o++] = (char)(0x80 + c);
        } else {
            chunk[o++] = (char)c;
        }
    }
    rb_put(t, chunk, o);
}

static void put_cstr(rbuf *t, const char *s, size_t max_chars)
{
    if (s)
        put_clean(t, s, strlen(s), max_chars, 0);
}

static void put_attr(rbuf *t, const char *s)
{
    if (s)
        put_clean(t, s, strlen(s), 0, CLEAN_ATTR);
}

/* n with thousands separators ("100,000"). */
static const char *fmt_count(uint64_t n, char buf[32])
{
    char digits[24];
    int k = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        if (i && (k - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Copies the first `limit` bytes of s (n bytes) with each secret replaced by "***" (the longest
 * one that matches at a position), NUL-terminated, into a malloc'd string of *outn bytes; NULL
 * if out of memory.  A secret that starts before `limit` is replaced whole even if it ends
 * after it, so a cut never leaves the start of a secret.  Linear in limit for a handful of
 * secrets; never longer than limit (secrets are longer than "***"). */
static char *scrub_window(const diagram *d, const char *s, size_t n, size_t limit, size_t *outn)
{
    if (limit > n)
        limit = n;
    char *out = malloc(limit + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < limit;) {
        size_t best = 0;
        for (size_t k = 0; k < d->nsec; k++)
            if (d->seclen[k] > best && d->seclen[k] <= n - i && s[i] == d->sec[k][0] &&
                memcmp(s + i, d->sec[k], d->seclen[k]) == 0)
                best = d->seclen[k];
        if (best) {
            memcpy(out + o, "***", 3);
            o += 3;
            i += best;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    *outn = o;
    return out;
}

/* n bytes of s, scrubbed. */
static char *scrub_copy(const diagram *d, const char *s, size_t n, size_t *outn)
{
    return scrub_window(d, s, n, n, outn);
}

/* Scrubs t in place (through a copy). */
static void scrub_text(const diagram *d, rbuf *t)
{
    if (!t->p || !d->nsec)
        return;
    size_t n;
    char *s = scrub_copy(d, t->p, t->len, &n);
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

static bool kind_is(const pwsm_entry *e, const char *k)
{
    return e->kind && !strcmp(e->kind, k);
}

static bool is_data_frame(const pwsm_entry *e)
{
    return (e->dir == 'c' || e->dir == 's') && (kind_is(e, "text") || kind_is(e, "binary"));
}

static bool is_frame(const pwsm_entry *e)
{
    return e->dir == 'c' || e->dir == 's';
}

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* What kind of text a frame carries, from its first bytes only (cheap for any size). */
static int frame_cat(const pwsm_entry *e)
{
    if (kind_is(e, "binary"))
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
static uint64_t count_events(const pwsm_entry *e)
{
    if (!kind_is(e, "text") || !e->data)
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
            rb_printf(out, "%s", action->valuestring);
            if (cJSON_IsString(params))
                rb_printf(out, " %s", params->valuestring);
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
                rb_printf(out, "%zu\xC3\x97 ", total);
            rb_printf(out, "status %s", cJSON_IsString(st) ? st->valuestring : "?");
            if (cJSON_IsString(msg))
                rb_printf(out, ": %s", msg->valuestring);
            ok = true;
        } else if (all_ev) {
            rb_printf(out, "%zu event%s:", total, total == 1 ? "" : "s");
            for (size_t k = 0; k < ntypes; k++)
                rb_printf(out, " %zu\xC3\x97%s", tcount[k], types[k]);
            if (more_types)
                rb_printf(out, " \xE2\x80\xA6");
            for (size_t m = 0; m < nsyms; m++)
                rb_printf(out, "%s%s", m ? " " : " \xC2\xB7 ", syms[m]);
            if (more_syms)
                rb_printf(out, "\xE2\x80\xA6");
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
    if (kind_is(e, "raw") && len % 2 == 0) {
        /* the window, and enough after it to see a secret that starts inside */
        size_t win = CHK_REPORT_SCRUB_WINDOW + d->max_secret;
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
static void describe(diagram *d, const pwsm_entry *e, rbuf *label, rbuf *tip)
{
    size_t n = 0, bytes = 0;
    bool cut = false;
    char *s = frame_payload(d, e, &n, &bytes, &cut);
    if (!s) {
        d->oom = true;
        rb_printf(label, "%s (out of memory)", e->kind ? e->kind : "?");
        return;
    }
    char size[32];
    fmt_count(bytes, size);
    if (kind_is(e, "close")) {
        size_t rn = 0;
        char *reason = scrub_copy(d, e->reason ? e->reason : "", e->reason ? strlen(e->reason) : 0, &rn);
        d->oom |= !reason;
        if (e->close_code)
            rb_printf(label, "close %d%s%s", e->close_code, rn ? " " : "", reason ? reason : "");
        else
            rb_printf(label, "close (no status code)");
        rb_printf(tip, "%s", label->p ? label->p : "close");
        free(reason);
    } else if (kind_is(e, "raw")) {
        rb_printf(label, "raw %s B:", size);
        for (size_t i = 0; i < n && i < 10; i++)
            rb_printf(label, " %02x", (unsigned char)s[i]);
        if (n > 10)
            rb_printf(label, " \xE2\x80\xA6");
        rb_printf(tip, "raw bytes written as they are (%s B):", size);
        for (size_t i = 0; i < n && i < 48; i++)
            rb_printf(tip, "%s%02x", i % 16 ? " " : "\n", (unsigned char)s[i]);
        rb_put(tip, "\n", 1);
        rb_put(tip, s, n);
    } else if (kind_is(e, "text") && !cut && n <= CHK_REPORT_PARSE_MAX && summarize_json(s, n, label)) {
        scrub_text(d, label); /* decoded JSON strings may spell a secret with escapes */
        rb_printf(tip, "text, %s B:\n", size);
        rb_put(tip, s, n);
    } else {
        if (kind_is(e, "binary") || bytes > 4096) /* a big text that was not summarized: say how big */
            rb_printf(label, "%s %s B: ", e->kind ? e->kind : "?", size);
        else if (!kind_is(e, "text"))
            rb_printf(label, "%s%s", e->kind ? e->kind : "?", n ? " " : "");
        rb_put(label, s, n);
        rb_printf(tip, "%s, %s B:\n", e->kind ? e->kind : "?", size);
        rb_put(tip, s, n);
    }
    free(s);
}

/* ---------------------------------------------------------------- drawing rows */

static void put_time(diagram *d, int64_t t_us, int y)
{
    rb_printf(&d->rows, "<text class=\"t\" x=\"%d\" y=\"%d\">+%.3f s</text>", D_TIME_X, y,
                    (double)t_us / 1e6);
}

/* Opens a row's group: <g class="CLS"ATTRS><title>TIP</title>. */
static void open_row(diagram *d, const char *cls, const char *attrs, const rbuf *tip, size_t tip_chars)
{
    rb_printf(&d->rows, "<g class=\"%s\"%s>", cls, attrs ? attrs : "");
    if (tip && tip->p) {
        rb_put(&d->rows, "<title>", 7);
        put_clean(&d->rows, tip->p, tip->len, tip_chars, CLEAN_LINES);
        rb_put(&d->rows, "</title>", 8);
    }
}

/* An arrow between the lifelines with its label above it. */
static void draw_arrow(diagram *d, char dir, const char *cls, const char *attrs, int64_t t_us,
                       const rbuf *label, const rbuf *tip)
{
    int y = d->y + 18;
    bool c2s = dir == 'c';
    char full[96];
    snprintf(full, sizeof full, "msg %s %s", c2s ? "c2s" : "s2c", cls);
    open_row(d, full, attrs, tip, CHK_REPORT_TIP_CHARS);
    put_time(d, t_us, y + 4);
    rb_printf(&d->rows, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y - 6);
    if (label->p)
        put_clean(&d->rows, label->p, label->len, CHK_REPORT_LABEL_CHARS, 0);
    rb_put(&d->rows, "</text>", 7);
    if (c2s)
        rb_printf(&d->rows, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><path d=\"M%d %dl-%d -4.5v9z\"/>",
                        D_CLIENT_X, y, D_SERVER_X - D_ARROW, y, D_SERVER_X, y, D_ARROW);
    else
        rb_printf(&d->rows, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><path d=\"M%d %dl%d -4.5v9z\"/>",
                        D_SERVER_X, y, D_CLIENT_X + D_ARROW, y, D_CLIENT_X, y, D_ARROW);
    rb_put(&d->rows, "</g>\n", 5);
    d->y += 26;
    d->nrows++;
}

/* One frame entry as an arrow. */
static void draw_frame(diagram *d, const pwsm_entry *e)
{
    rbuf label = {0}, tip = {0};
    describe(d, e, &label, &tip);
    char cls[32];
    snprintf(cls, sizeof cls, "%s", e->kind && strlen(e->kind) < 16 ? e->kind : "other");
    for (char *p = cls; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            *p = '_';
    char attrs[64];
    snprintf(attrs, sizeof attrs, " data-t=\"%.6f\"", (double)e->t_us / 1e6);
    draw_arrow(d, e->dir, cls, attrs, e->t_us, &label, &tip);
    d->oom |= label.oom || tip.oom;
    free(label.p);
    free(tip.p);
}

/* A run of frames as one thick arrow: "N frames (M events) +t1..+t2 s". */
static void draw_run(diagram *d, const row *r)
{
    const pwsm_entry *a = &d->j[r->first], *b = &d->j[r->last];
    rbuf label = {0}, tip = {0}, first = {0}, firsttip = {0}, last = {0}, lasttip = {0};
    describe(d, a, &first, &firsttip);
    describe(d, b, &last, &lasttip);
    char nf[32], ne[32];
    fmt_count(r->frames, nf);
    fmt_count(r->events, ne);
    char span[64];
    snprintf(span, sizeof span, "+%.3f..+%.3f s", (double)a->t_us / 1e6, (double)b->t_us / 1e6);
    if (r->events) {
        rb_printf(&label, "%s frames (%s events) %s", nf, ne, span);
    } else {
        rb_printf(&label, "%s %s frames %s \xC2\xB7 ", nf,
                        r->cat == CAT_STATUS ? "status" : a->kind ? a->kind : "?", span);
        if (first.p)
            rb_put(&label, first.p, first.len);
    }
    rb_printf(&tip, "%s %s frames%s%s%s, %s", nf, a->kind ? a->kind : "?", r->events ? " with " : "",
                    r->events ? ne : "", r->events ? " events" : "", span);
    if (r->steps)
        rb_printf(&tip, " (%zu script steps in between)", r->steps);
    rb_printf(&tip, "\nfirst: %s\nlast: %s", first.p ? first.p : "", last.p ? last.p : "");
    char cls[32], attrs[128];
    snprintf(cls, sizeof cls, "%s run", kind_is(a, "binary") ? "binary" : "text");
    snprintf(attrs, sizeof attrs, " data-t=\"%.6f\" data-frames=\"%zu\" data-events=\"%llu\"",
             (double)a->t_us / 1e6, r->frames, (unsigned long long)r->events);
    draw_arrow(d, a->dir, cls, attrs, a->t_us, &label, &tip);
    d->oom |= label.oom || tip.oom || first.oom || last.oom;
    free(label.p);
    free(tip.p);
    free(first.p);
    free(firsttip.p);
    free(last.p);
    free(lasttip.p);
}

/* A connection event: a note on the server's lifeline (steps, faults), a red box (a failed
 * step), a cross (a drop), bars (closed), or a plain note. */
static void draw_event(diagram *d, const pwsm_entry *e)
{
    size_t n = 0;
    char *s = scrub_copy(d, e->data ? e->data : "", e->data ? strlen(e->data) : 0, &n);
    if (!s) {
        d->oom = true;
        return;
    }
    rbuf tip = {0};
    rb_printf(&tip, "+%.6f s  %s%s%s", (double)e->t_us / 1e6, e->kind ? e->kind : "?", n ? ": " : "", s);
    int y0 = d->y;
    char attrs[64];
    snprintf(attrs, sizeof attrs, " data-t=\"%.6f\"", (double)e->t_us / 1e6);
    if (kind_is(e, "step")) {
        open_row(d, "step", attrs, NULL, 0);
        put_time(d, e->t_us, y0 + 13);
        rb_printf(&d->rows, "<circle cx=\"%d\" cy=\"%d\" r=\"3\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">step ",
                        D_SERVER_X, y0 + 9, D_SERVER_X - 10, y0 + 13);
        put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
        rb_put(&d->rows, "</text>", 7);
        d->y += 18;
    } else if (kind_is(e, "step_failed")) {
        open_row(d, "step_failed", attrs, &tip, 1000);
        put_time(d, e->t_us, y0 + 19);
        rb_printf(&d->rows,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"24\" rx=\"4\"/><text x=\"%d\" y=\"%d\">",
                        D_CLIENT_X + 4, y0 + 3, D_SERVER_X - D_CLIENT_X - 8, D_CLIENT_X + 12, y0 + 19);
        put_clean(&d->rows, s, n, D_NOTE_CHARS, 0);
        rb_put(&d->rows, "</text>", 7);
        d->y += 30;
    } else if (kind_is(e, "drop")) {
        open_row(d, "drop", attrs, &tip, 200);
        int y = y0 + 14;
        put_time(d, e->t_us, y + 4);
        rb_printf(&d->rows, "<line class=\"cut\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", D_CLIENT_X, y,
                        D_SERVER_X, y);
        for (int k = 0; k < 2; k++) {
            int x = k ? D_SERVER_X : D_CLIENT_X;
            rb_printf(&d->rows, "<path class=\"x\" d=\"M%d %dl14 14m0 -14l-14 14\"/>", x - 7, y - 7);
        }
        rb_printf(&d->rows, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">dropped: TCP closed without a close frame</text>",
                        D_MID_X, y - 5);
        d->y += 28;
    } else if (kind_is(e, "closed")) {
        open_row(d, "closed", attrs, &tip, 200);
        int y = y0 + 12;
        put_time(d, e->t_us, y + 4);
        rb_printf(&d->rows,
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">closed</text>",
                        D_CLIENT_X - 12, y, D_CLIENT_X + 12, y, D_SERVER_X - 12, y, D_SERVER_X + 12, y, D_MID_X, y + 4);
        d->y += 24;
    } else if (kind_is(e, "fault")) {
        open_row(d, "fault", attrs, &tip, 200);
        put_time(d, e->t_us, y0 + 15);
        rb_printf(&d->rows, "<circle cx=\"%d\" cy=\"%d\" r=\"5\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">fault: ",
                        D_SERVER_X, y0 + 11, D_SERVER_X - 12, y0 + 15);
        put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
        rb_put(&d->rows, "</text>", 7);
        d->y += 22;
    } else {
        char cls[32];
        snprintf(cls, sizeof cls, "%s", kind_is(e, "truncated") ? "truncated" : "event");
        open_row(d, cls, attrs, &tip, 200);
        put_time(d, e->t_us, y0 + 15);
        rb_printf(&d->rows, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y0 + 15);
        if (kind_is(e, "truncated"))
            rb_printf(&d->rows, "journal truncated here: its memory cap was hit, later entries are missing");
        else {
            put_cstr(&d->rows, e->kind ? e->kind : "?", 24);
            if (n) {
                rb_put(&d->rows, ": ", 2);
                put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
            }
        }
        rb_put(&d->rows, "</text>", 7);
        d->y += 22;
    }
    rb_put(&d->rows, "</g>\n", 5);
    d->nrows++;
    d->oom |= tip.oom;
    free(tip.p);
    free(s);
}

/* A row standing for rows left out. */
static void draw_more(diagram *d, const char *cls, const char *text)
{
    int y0 = d->y;
    rb_printf(&d->rows,
                    "<g class=\"%s\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"22\" rx=\"11\"/>"
                    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                    cls, D_CLIENT_X + 40, y0 + 3, D_SERVER_X - D_CLIENT_X - 80, D_MID_X, y0 + 18);
    put_cstr(&d->rows, text, 0);
    rb_put(&d->rows, "</text></g>\n", 12);
    d->y += 28;
    d->nrows++;
}

static void draw_row(diagram *d, const row *r)
{
    const pwsm_entry *e = &d->j[r->first];
    if (r->frames)
        draw_run(d, r);
    else if (is_frame(e))
        draw_frame(d, e);
    else
        draw_event(d, e);
}

/* ---------------------------------------------------------------- a connection's rows */

static bool row_important(const diagram *d, const row *r)
{
    const pwsm_entry *e = &d->j[r->first];
    return !r->frames && (kind_is(e, "step_failed") || kind_is(e, "drop") || kind_is(e, "fault") ||
                          kind_is(e, "truncated") || kind_is(e, "raw"));
}

static size_t row_frames(const diagram *d, const row *r)
{
    return r->frames ? r->frames : is_frame(&d->j[r->first]);
}

static void lane_flush_skipped(lane *l)
{
    if (!l->skipped)
        return;
    char nr[32], nf[32], text[200];
    snprintf(text, sizeof text, "\xE2\x80\xA6 %s more rows (%s frames) +%.3f..+%.3f s not drawn", fmt_count(l->skipped, nr),
             fmt_count(l->skipped_frames, nf), (double)l->skip_from / 1e6, (double)l->skip_to / 1e6);
    draw_more(l->d, "more", text);
    l->skipped = l->skipped_frames = 0;
}

/* A decided row: drawn, or kept for the tail, or counted as left out. */
static void lane_push(lane *l, const row *r)
{
    diagram *d = l->d;
    if (l->drawn < CHK_REPORT_HEAD_ROWS) {
        draw_row(d, r);
        l->drawn++;
        return;
    }
    if (l->ring_n == CHK_REPORT_TAIL_ROWS) {
        row *old = &l->ring[l->ring_head];
        if (row_important(d, old) && l->kept < CHK_REPORT_KEPT_ROWS) {
            lane_flush_skipped(l);
            draw_row(d, old);
            l->kept++;
        } else {
            if (!l->skipped)
                l->skip_from = d->j[old->first].t_us;
            l->skip_to = d->j[old->last].t_us;
            l->skipped++;
            l->skipped_frames += row_frames(d, old);
        }
        l->ring_head = (l->ring_head + 1) % CHK_REPORT_TAIL_ROWS;
        l->ring_n--;
    }
    l->ring[(l->ring_head + l->ring_n) % CHK_REPORT_TAIL_ROWS] = *r;
    l->ring_n++;
}

static void lane_push_entry(lane *l, size_t i)
{
    row r = {.first = i, .last = i};
    lane_push(l, &r);
}

/* Ends the run being collected: one arrow if long enough, else its entries one by one; then
 * a step that came after it. */
static void lane_end_run(lane *l)
{
    if (!l->in_run)
        return;
    bool talk = l->run.cat == CAT_STATUS || l->run.cat == CAT_OBJECT;
    if (l->run.frames >= (talk ? CHK_REPORT_COLLAPSE_STATUS : CHK_REPORT_COLLAPSE_MIN))
        lane_push(l, &l->run);
    else
        for (size_t k = 0; k < l->nmembers; k++)
            lane_push_entry(l, l->members[k]);
    if (l->step_pending)
        lane_push_entry(l, l->pending);
    l->in_run = l->step_pending = false;
    l->nmembers = 0;
}

static void lane_entry(lane *l, size_t i)
{
    const pwsm_entry *e = &l->d->j[i];
    if (is_data_frame(e)) {
        int cat = frame_cat(e);
        if (l->in_run && e->dir == l->run_dir && !strcmp(e->kind, l->run_kind) && cat == l->run.cat) {
            if (l->step_pending) {
                l->run.steps++;
                if (l->nmembers < sizeof l->members / sizeof l->members[0])
                    l->members[l->nmembers++] = l->pending;
                l->step_pending = false;
            }
        } else {
            lane_end_run(l);
            l->in_run = true;
            l->run = (row){.first = i, .cat = cat};
            l->run_dir = e->dir;
            l->run_kind = e->kind;
        }
        l->run.last = i;
        l->run.frames++;
        if (cat == CAT_EVENTS)
            l->run.events += count_events(e);
        if (l->nmembers < sizeof l->members / sizeof l->members[0])
            l->members[l->nmembers++] = i;
        return;
    }
    if (kind_is(e, "step") && l->in_run && !l->step_pending) {
        l->step_pending = true;
        l->pending = i;
        return;
    }
    lane_end_run(l);
    lane_push_entry(l, i);
}

static void lane_end(lane *l)
{
    lane_end_run(l);
    lane_flush_skipped(l);
    for (size_t k = 0; k < l->ring_n; k++)
        draw_row(l->d, &l->ring[(l->ring_head + k) % CHK_REPORT_TAIL_ROWS]);
    l->ring_n = 0;
}

/* ---------------------------------------------------------------- connections */

/* The header of a connection: its number, path and opening time, the two actors. */
static void draw_conn_head(diagram *d, const conn_info *c)
{
    const pwsm_entry *first = &d->j[c->first];
    int y0 = d->y;
    rb_printf(&d->rows, "<g class=\"open\" data-conn=\"%u\"><rect class=\"band\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                    c->conn, y0, D_WIDTH, D_HEAD_H - 6);
    rb_printf(&d->rows, "<text class=\"conntitle\" x=\"%d\" y=\"%d\">%s %u</text>", D_TIME_X, y0 + 21,
                    c->conn ? "connection" : "server", c->conn);
    for (int k = 0; k < 2; k++)
        rb_printf(&d->rows,
                        "<rect class=\"actor\" x=\"%d\" y=\"%d\" width=\"72\" height=\"22\" rx=\"5\"/>"
                        "<text class=\"actor\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                        (k ? D_SERVER_X : D_CLIENT_X) - 36, y0 + 5, k ? D_SERVER_X : D_CLIENT_X, y0 + 20,
                        k ? "server" : "client");
    rb_printf(&d->rows, "<text class=\"path\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y0 + 20);
    if (kind_is(first, "open")) {
        size_t n = 0;
        char *s = scrub_copy(d, first->data ? first->data : "", first->data ? strlen(first->data) : 0, &n);
        rb_printf(&d->rows, "open ");
        if (s)
            put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
        else
            d->oom = true;
        free(s);
        rb_printf(&d->rows, " at +%.3f s", (double)first->t_us / 1e6);
    } else {
        rb_printf(&d->rows, "(no open entry) from +%.3f s", (double)first->t_us / 1e6);
    }
    const char *end = c->end == 2 ? "dropped" : c->end == 1 ? "closed" : "still open at the end";
    rb_printf(&d->rows, " \xC2\xB7 %zu frames \xC2\xB7 %s</text></g>\n", c->frames, end);
    d->y += D_HEAD_H;
}

/* Appends the current rows to the body inside the connection's group, lifelines first. */
static void end_conn(diagram *d, const conn_info *c, int life_top)
{
    rb_printf(&d->body, "<g class=\"conn\" data-conn=\"%u\" data-end=\"%s\">", c->conn,
                    c->end == 2 ? "drop" : c->end == 1 ? "closed" : "open");
    if (d->y > life_top)
        rb_printf(&d->body,
                        "<line class=\"life\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                        "<line class=\"life\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
                        D_CLIENT_X, life_top, D_CLIENT_X, d->y, D_SERVER_X, life_top, D_SERVER_X, d->y);
    if (d->rows.p)
        rb_put(&d->body, d->rows.p, d->rows.len);
    rb_put(&d->body, "</g>\n", 5);
    d->oom |= d->rows.oom;
    free(d->rows.p);
    d->rows = (rbuf){0};
    d->y += D_GAP;
}

static void draw_conn(diagram *d, const conn_info *c)
{
    draw_conn_head(d, c);
    int life_top = d->y - 4;
    if (d->nrows + CHK_REPORT_HEAD_ROWS + CHK_REPORT_TAIL_ROWS + CHK_REPORT_KEPT_ROWS + 4 > CHK_REPORT_MAX_ROWS) {
        char nf[32], text[200];
        snprintf(text, sizeof text, "\xE2\x80\xA6 %s frames not drawn: the diagram's row budget (%d rows) is spent",
                 fmt_count(c->frames, nf), CHK_REPORT_MAX_ROWS);
        draw_more(d, "more", text);
        end_conn(d, c, life_top);
        return;
    }
    lane l;
    memset(&l, 0, sizeof l);
    l.d = d;
    for (size_t i = c->first; i <= c->last; i++) {
        const pwsm_entry *e = &d->j[i];
        if (e->conn != c->conn || (i == c->first && kind_is(e, "open")))
            continue;
        lane_entry(&l, i);
    }
    lane_end(&l);
    end_conn(d, c, life_top);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct connections of the journal, sorted by ordinal, with their extents. */
static conn_info *find_conns(const pwsm_entry *j, size_t n, size_t *nconns)
{
    /* Distinct ordinals: drop repeats of the previous entry's first (journals are long runs). */
    uint32_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || ord[k - 1] != j[i].conn)
            ord[k++] = j[i].conn;
    qsort(ord, k, sizeof *ord, cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || ord[u - 1] != ord[i])
            ord[u++] = ord[i];
    conn_info *c = calloc(u ? u : 1, sizeof *c);
    if (!c) {
        free(ord);
        return NULL;
    }
    for (size_t i = 0; i < u; i++)
        c[i] = (conn_info){.conn = ord[i], .first = SIZE_MAX};
    size_t at = 0; /* the previous entry's connection: most lookups hit it */
    for (size_t i = 0; i < n; i++) {
        if (c[at].conn != j[i].conn) {
            size_t lo = 0, hi = u;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c[mid].conn < j[i].conn)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            at = lo;
        }
        conn_info *ci = &c[at];
        if (ci->first == SIZE_MAX)
            ci->first = i;
        ci->last = i;
        if (is_frame(&j[i]))
            ci->frames++;
        else if (kind_is(&j[i], "drop"))
            ci->end = 2;
        else if (kind_is(&j[i], "closed"))
            ci->end = 1;
    }
    free(ord);
    *nconns = u;
    return c;
}

/* s as written inside a JSON string: '"' and '\\' escaped, control characters as \b \f \n \r \t
 * or \u00xx, and with `slash` '/' as "\/" too.  malloc'd, NULL if out of memory. */
static char *json_escaped(const char *s, bool slash)
{
    rbuf t = {0};
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '/' && slash ? "\\/" : NULL;
        if (esc)
            rb_put(&t, esc, 2);
        else if (c < 0x20)
            rb_printf(&t, "\\u%04x", c);
        else
            rb_put(&t, s, 1);
    }
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p ? t.p : strdup("");
}

/* The secrets to scrub: each one of CHECK_SECRET_MIN bytes or more, plus its JSON-escaped
 * forms where they differ (a key with a quote, a backslash or a slash in it).  0 or -1. */
static int secrets_init(diagram *d, const char *const *secrets)
{
    size_t ns = 0;
    while (secrets && secrets[ns])
        ns++;
    d->sec = calloc(3 * ns + 1, sizeof *d->sec);
    d->seclen = calloc(3 * ns + 1, sizeof *d->seclen);
    d->owned = calloc(2 * ns + 1, sizeof *d->owned);
    if (!d->sec || !d->seclen || !d->owned)
        return -1;
    for (size_t i = 0; i < ns; i++) {
        if (strlen(secrets[i]) < CHECK_SECRET_MIN)
            continue;
        d->sec[d->nsec++] = secrets[i];
        for (int slash = 0; slash < 2; slash++) {
            char *esc = json_escaped(secrets[i], slash);
            if (!esc)
                return -1;
            d->owned[d->nowned++] = esc;
            bool seen = false;
            for (size_t k = 0; k < d->nsec && !seen; k++)
                seen = !strcmp(d->sec[k], esc);
            if (!seen)
                d->sec[d->nsec++] = esc;
        }
    }
    for (size_t k = 0; k < d->nsec; k++) {
        d->seclen[k] = strlen(d->sec[k]);
        if (d->seclen[k] > d->max_secret)
            d->max_secret = d->seclen[k];
    }
    return 0;
}

static void secrets_free(diagram *d)
{
    for (size_t i = 0; i < d->nowned; i++)
        free(d->owned[i]);
    free(d->owned);
    free(d->sec);
    free(d->seclen);
}

char *chk_report_diagram(const char *scenario, const pwsm_entry *journal, size_t n, const char *const *secrets)
{
    diagram d;
    memset(&d, 0, sizeof d);
    d.j = journal;
    d.nj = journal ? n : 0;
    size_t nconns = 0;
    conn_info *conns = secrets_init(&d, secrets) == 0 ? find_conns(d.j, d.nj, &nconns) : NULL;
    if (!conns) {
        secrets_free(&d);
        return NULL;
    }
    d.y = 10;

    size_t real = 0; /* connections with an ordinal (0: entries of no connection) */
    for (size_t i = 0; i < nconns; i++)
        real += conns[i].conn != 0;
    if (!nconns) {
        draw_more(&d, "more empty", "no connection: the client never connected");
        rb_put(&d.body, d.rows.p ? d.rows.p : "", d.rows.len);
        free(d.rows.p);
        d.rows = (rbuf){0};
        d.y += D_GAP;
    }
    size_t head = CHK_REPORT_FIRST_CONNS, tail = CHK_REPORT_LAST_CONNS;
    for (size_t i = 0; i < nconns; i++) {
        if (nconns > head + tail && i == head) {
            /* One row for the connections in the middle. */
            size_t hidden = nconns - head - tail, frames = 0, drops = 0, closed = 0;
            for (size_t k = head; k < nconns - tail; k++) {
                frames += conns[k].frames;
                drops += conns[k].end == 2;
                closed += conns[k].end == 1;
            }
            char a[32], b[32], text[300];
            snprintf(text, sizeof text,
                     "\xE2\x80\xA6 %s connections not drawn (%u to %u): %s frames, %zu dropped, %zu closed", fmt_count(hidden, a),
                     conns[head].conn, conns[nconns - tail - 1].conn, fmt_count(frames, b), drops, closed);
            draw_more(&d, "more conns", text);
            rb_put(&d.body, d.rows.p ? d.rows.p : "", d.rows.len);
            free(d.rows.p);
            d.rows = (rbuf){0};
            d.y += D_GAP;
            i = nconns - tail;
        }
        draw_conn(&d, &conns[i]);
    }
    free(conns);

    rbuf svg = {0};
    rb_printf(&svg, "<svg class=\"seq\" xmlns=\"http://www.w3.org/2000/svg\" data-scenario=\"");
    put_attr(&svg, scenario ? scenario : "");
    rb_printf(&svg,
                    "\" data-connections=\"%zu\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                    "aria-label=\"sequence diagram: client and mock server, %zu connection%s\">\n",
                    real, D_WIDTH, d.y, D_WIDTH, d.y, real, real == 1 ? "" : "s");
    if (d.body.p)
        rb_put(&svg, d.body.p, d.body.len);
    rb_put(&svg, "</svg>", 6);
    bool oom = d.oom || d.body.oom || d.rows.oom || svg.oom;
    free(d.body.p);
    free(d.rows.p);
    secrets_free(&d);
    if (oom) {
        free(svg.p);
        return NULL;
    }
    return svg.p;
}

/* ---------------------------------------------------------------- the page */

static const char page_css[] =
    ":root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;"
    "--pass:#1a7f37;--fail:#cf222e;--skip:#9a6700}\n"
    "*{box-sizing:border-box}\n"
    "html{background:#fff}\n"
    "body{margin:0;color:var(--fg);font:15px/1.55 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\","
    "\"Helvetica Neue\",Arial,\"DejaVu Sans\",sans-serif}\n"
    ".wrap{max-width:1080px;margin:0 auto;padding:28px 28px 72px}\n"
    "code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,\"DejaVu Sans Mono\","
    "\"Liberation Mono\",monospace}\n"
    "h1{font-size:28px;line-height:1.2;margin:0 0 6px;letter-spacing:-.01em}\n"
    "h2{font-size:20px;line-height:1.3;margin:0}\n"
    "h3{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:18px 0 6px}\n"
    "a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\n"
    ".totals{margin:0;font-size:17px}\n"
    ".totals .n-fail{color:var(--fail);font-weight:650}.totals .n-pass{color:var(--pass);font-weight:650}\n"
    ".totals .meta{color:var(--muted);font-size:14px;margin-left:6px}\n"
    ".bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--panel);margin:12px 0 4px}\n"
    ".bar .f{background:var(--fail)}.bar .p{background:var(--pass)}\n"
    ".badge{display:inline-block;min-width:46px;text-align:center;padding:1px 8px;border-radius:999px;"
    "font-size:12px;font-weight:700;letter-spacing:.05em;color:#fff;vertical-align:2px}\n"
    ".badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}\n"
    "nav.toc{margin:26px 0 8px;padding:14px 18px;background:var(--panel);border:1px solid var(--line);"
    "border-radius:10px}\n"
    "nav.toc ol{margin:6px 0 0;padding:0;list-style:none}\n"
    "nav.toc li{padding:3px 0;display:flex;gap:10px;align-items:baseline}\n"
    "nav.toc .toc-head{color:var(--muted);font-size:13px;overflow:hidden;text-overflow:ellipsis;"
    "white-space:nowrap;min-width:0;flex:1}\n"
    "nav.toc .secs{color:var(--muted);font-size:13px;font-variant-numeric:tabular-nums}\n"
    "section.scenario{margin:26px 0;padding:18px 22px 20px;border:1px solid var(--line);"
    "border-left:6px solid var(--pass);border-radius:10px}\n"
    "section.scenario.fail{border-left-color:var(--fail);box-shadow:0 1px 0 rgba(207,34,46,.08)}\n"
    "section.scenario h2 .secs{color:var(--muted);font-size:14px;font-weight:400;margin-left:6px}\n"
    ".path{color:var(--muted);font-size:13px;margin:4px 0 0}\n"
    ".desc{margin:10px 0 0;white-space:pre-line}\n"
    ".headline{margin:12px 0 0;padding:9px 12px;background:#ffebe9;border:1px solid #ffcecb;"
    "border-radius:6px;color:#82071e;font-size:14px;overflow-wrap:anywhere}\n"
    "ul.verdicts{list-style:none;margin:0;padding:0}\n"
    "ul.verdicts li{padding:3px 0 3px 26px;position:relative;font-size:14px;overflow-wrap:anywhere}\n"
    "ul.verdicts li .mark{position:absolute;left:2px;font-weight:700}\n"
    "ul.verdicts li.pass .mark{color:var(--pass)}ul.verdicts li.fail .mark{color:var(--fail)}\n"
    "ul.verdicts li.skip .mark{color:var(--skip)}ul.verdicts li.skip{color:var(--muted)}\n"
    "ul.verdicts li.fail{color:#82071e}\n"
    ".client{margin:14px 0 0;font-size:14px}\n"
    "details{margin:8px 0 0;border:1px solid var(--line);border-radius:6px;background:#fff}\n"
    "details>summary{cursor:pointer;padding:6px 10px;font-size:14px;color:var(--muted)}\n"
    "details[open]>summary{border-bottom:1px solid var(--line)}\n"
    "pre{margin:0;padding:10px 12px;background:var(--panel);font-size:12.5px;line-height:1.45;"
    "overflow:auto;max-height:440px;white-space:pre-wrap;overflow-wrap:anywhere}\n"
    "figure.diagram{margin:18px 0 0}\n"
    "figure.diagram figcaption{font-size:13px;color:var(--muted);margin:0 0 6px}\n"
    ".scroll{overflow-x:auto;border:1px solid var(--line);border-radius:8px;background:#fff}\n"
    "svg.seq{display:block;max-width:100%;height:auto}\n"
    "svg.seq text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,\"DejaVu Sans Mono\","
    "\"Liberation Mono\",monospace;font-size:12px;fill:#1f2328}\n"
    "svg.seq .t{fill:#818b98;font-size:11px}\n"
    "svg.seq .life{stroke:#afb8c1;stroke-width:1.5;stroke-dasharray:5 4}\n"
    "svg.seq .band{fill:#f6f8fa}\n"
    "svg.seq .conntitle{font-weight:700;font-size:13px}\n"
    "svg.seq rect.actor{fill:#fff;stroke:#8c959f}\n"
    "svg.seq text.actor{font-weight:700}\n"
    "svg.seq .path{fill:#59636e;font-size:11.5px}\n"
    "svg.seq .msg line{stroke-width:1.6}\n"
    "svg.seq .c2s line{stroke:#0969da}svg.seq .c2s path{fill:#0969da}svg.seq .c2s .lbl{fill:#0a3069}\n"
    "svg.seq .s2c line{stroke:#1a7f37}svg.seq .s2c path{fill:#1a7f37}svg.seq .s2c .lbl{fill:#0f4d25}\n"
    "svg.seq .close line,svg.seq .ping line,svg.seq .pong line{stroke:#8250df;stroke-dasharray:7 3}\n"
    "svg.seq .close path,svg.seq .ping path,svg.seq .pong path{fill:#8250df}\n"
    "svg.seq .close .lbl,svg.seq .ping .lbl,svg.seq .pong .lbl{fill:#512a97}\n"
    "svg.seq .raw line{stroke:#bc4c00;stroke-width:2;stroke-dasharray:3 3}svg.seq .raw path{fill:#bc4c00}\n"
    "svg.seq .raw .lbl{fill:#953800;font-weight:700}\n"
    "svg.seq .run line{stroke-width:4;stroke-opacity:.75}svg.seq .run .lbl{font-weight:700}\n"
    "svg.seq .step text{fill:#818b98;font-style:italic;font-size:11px}svg.seq .step circle{fill:#afb8c1}\n"
    "svg.seq .step_failed rect{fill:#ffebe9;stroke:#cf222e;stroke-width:1.5}\n"
    "svg.seq .step_failed text{fill:#a40e26;font-weight:700}svg.seq .step_failed text.t{font-weight:400}\n"
    "svg.seq .drop .cut{stroke:#cf222e;stroke-width:2;stroke-dasharray:2 4}\n"
    "svg.seq .drop .x{stroke:#cf222e;stroke-width:3.5;stroke-linecap:round;fill:none}\n"
    "svg.seq .drop text{fill:#cf222e;font-weight:700}svg.seq .drop text.t{font-weight:400;fill:#818b98}\n"
    "svg.seq .fault circle{fill:#bc4c00}svg.seq .fault text{fill:#953800;font-weight:700}\n"
    "svg.seq .closed line{stroke:#59636e;stroke-width:3}svg.seq .closed text{fill:#59636e}\n"
    "svg.seq .more rect{fill:#f6f8fa;stroke:#d1d9e0}svg.seq .more text{fill:#59636e;font-style:italic}\n"
    "svg.seq .truncated text,svg.seq .event text{fill:#9a6700}\n"
    "svg.seq text.t{font-style:normal;font-weight:400;fill:#818b98}\n"
    ".note{color:var(--muted);font-style:italic;font-size:14px}\n"
    "footer{margin-top:40px;color:var(--muted);font-size:13px}\n"
    "@media print{section.scenario{break-inside:avoid-page}.scroll{overflow:visible}}\n";

/* An id for a scenario's section: the name with characters outside [A-Za-z0-9_.-] as '_'. */
static char *section_id(const char *name)
{
    const char *s = name && *name ? name : "scenario";
    char *id = malloc(strlen(s) + 1);
    if (!id)
        return NULL;
    size_t o = 0;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.';
        id[o++] = ok ? c : '_';
    }
    id[o] = '\0';
    return id;
}

typedef struct id_slot {
    char *id;     /* sanitized name */
    size_t index; /* case index */
} id_slot;

static int cmp_slot(const void *a, const void *b)
{
    const id_slot *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Unique section ids: the sanitized name, "~2", "~3" ... for repeats ('~' is never in a
 * sanitized name, so these cannot collide).  ids[i] for cases[i]; NULL if out of memory. */
static char **unique_ids(const chk_report_case *cases, size_t n)
{
    id_slot *slots = calloc(n ? n : 1, sizeof *slots);
    char **ids = calloc(n ? n : 1, sizeof *ids);
    bool oom = !slots || !ids;
    for (size_t i = 0; i < n && !oom; i++) {
        slots[i] = (id_slot){section_id(cases[i].name), i};
        oom = !slots[i].id;
    }
    if (!oom) {
        qsort(slots, n, sizeof *slots, cmp_slot);
        for (size_t i = 0, rep = 1; i < n && !oom; i++) {
            rep = i && !strcmp(slots[i].id, slots[i - 1].id) ? rep + 1 : 1;
            ids[slots[i].index] = rep > 1 ? chk_xasprintf("%s~%zu", slots[i].id, rep) : strdup(slots[i].id);
            oom = !ids[slots[i].index];
        }
    }
    for (size_t i = 0; slots && i < n; i++)
        free(slots[i].id);
    free(slots);
    if (oom && ids) {
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        return NULL;
    }
    return ids;
}

/* A <details> with a <pre> inside, if text is not NULL. */
static void put_details(rbuf *t, const char *summary, const char *text, bool open)
{
    if (!text || !*text)
        return;
    rb_printf(t, "<details%s><summary>%s</summary><pre>", open ? " open" : "", summary);
    put_clean(t, text, strlen(text), 0, CLEAN_LINES);
    rb_printf(t, "</pre></details>\n");
}

/* One scenario's section; its diagram only if `with_diagram` (else a note: the page is full). */
static void put_section(rbuf *t, const chk_report_case *c, const char *id, bool with_diagram)
{
    const char *state = c->pass ? "pass" : "fail";
    rb_printf(t, "<section class=\"scenario %s\" id=\"", state);
    put_attr(t, id);
    rb_printf(t, "\" data-scenario=\"");
    put_attr(t, c->name);
    rb_printf(t, "\" data-state=\"%s\">\n<h2><span class=\"badge %s\">%s</span> ", state, state,
                    c->pass ? "PASS" : "FAIL");
    put_cstr(t, c->name, 0);
    rb_printf(t, "<span class=\"secs\">%.1f s</span></h2>\n", c->seconds);
    if (c->path) {
        rb_printf(t, "<p class=\"path mono\">");
        put_cstr(t, c->path, 0);
        rb_printf(t, "</p>\n");
    }
    if (c->description && *c->description) {
        rb_printf(t, "<p class=\"desc\">");
        put_clean(t, c->description, strlen(c->description), 0, CLEAN_LINES);
        rb_printf(t, "</p>\n");
    }
    if (c->headline && *c->headline) {
        rb_printf(t, "<p class=\"headline mono\">");
        put_cstr(t, c->headline, 0);
        rb_printf(t, "</p>\n");
    }
    if (c->nverdicts && c->verdicts) {
        size_t failed = 0;
        for (size_t i = 0; i < c->nverdicts; i++)
            failed += c->verdicts[i].state == 1;
        rb_printf(t, "<h3>Verdicts (%zu, %zu failed)</h3>\n<ul class=\"verdicts\">\n", c->nverdicts, failed);
        for (size_t i = 0; i < c->nverdicts; i++) {
            int st = c->verdicts[i].state;
            static const char *const cls[] = {"pass", "fail", "skip"};
            static const char *const mark[] = {"\xE2\x9C\x93", "\xE2\x9C\x97", "\xE2\x80\x93"};
            static const char *const word[] = {"pass", "fail", "skipped"};
            int k = st >= 0 && st <= 2 ? st : 1;
            rb_printf(t, "<li class=\"%s\"><span class=\"mark\" title=\"%s\">%s</span>", cls[k], word[k],
                            mark[k]);
            put_cstr(t, c->verdicts[i].message ? c->verdicts[i].message : "", 0);
            rb_printf(t, "</li>\n");
        }
        rb_printf(t, "</ul>\n");
    }
    put_details(t, "Failure details and the last frames", c->details, false);
    if (c->client_line) {
        rb_printf(t, "<p class=\"client mono\">");
        put_cstr(t, c->client_line, 0);
        rb_printf(t, "</p>\n");
    }
    put_details(t, "client stdout (tail)", c->out_tail, false);
    put_details(t, "client stderr (tail)", c->err_tail, !c->pass);
    if (c->diagram && !with_diagram) {
        rb_printf(t, "<p class=\"note\">Diagram left out: the report reached its size limit (%u MiB of "
                     "diagrams).</p>\n", CHK_REPORT_MAX_DIAGRAMS >> 20);
    } else if (c->diagram) {
        rb_printf(t, "<figure class=\"diagram\"><figcaption>What went over the wire: client (left) and "
                           "mock server (right), seconds since the server started; hover for payloads"
                           "</figcaption><div class=\"scroll\">\n");
        rb_put(t, c->diagram, strlen(c->diagram));
        rb_printf(t, "\n</div></figure>\n");
    }
    rb_printf(t, "</section>\n");
}

static void set_err(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

int chk_report_write(const char *path, const char *title, const chk_report_case *cases, size_t ncases,
                     double total_s, char *err, size_t errcap)
{
    if (!path || !*path || (ncases && !cases)) {
        set_err(err, errcap, "report: no file name");
        return -1;
    }
    if (!title)
        title = "polyws check";
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        set_err(err, errcap, "report path too long: %s", path);
        return -1;
    }
    char **ids = unique_ids(cases, ncases);
    size_t *order = malloc((ncases ? ncases : 1) * sizeof *order);
    if (!ids || !order) {
        free(order);
        for (size_t i = 0; ids && i < ncases; i++)
            free(ids[i]);
        free(ids);
        set_err(err, errcap, "out of memory writing the report");
        return -1;
    }
    size_t passed = 0, failed = 0, k = 0;
    for (size_t i = 0; i < ncases; i++)
        cases[i].pass ? passed++ : failed++;
    for (int want = 0; want < 2; want++) /* failed first, otherwise in the order they ran */
        for (size_t i = 0; i < ncases; i++)
            if (!!cases[i].pass == want)
                order[k++] = i;

    char date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);

    rbuf t = {0};
    rb_printf(&t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta name=\"generator\" content=\"polyws check\">\n<title>");
    put_cstr(&t, title, 0);
    rb_printf(&t, ": %zu passed, %zu failed</title>\n<style>\n%s</style>\n</head>\n<body>\n<div class=\"wrap\">\n",
                    passed, failed, page_css);
    rb_printf(&t, "<header class=\"summary\" data-passed=\"%zu\" data-failed=\"%zu\" data-total=\"%zu\">\n<h1>",
                    passed, failed, ncases);
    put_cstr(&t, title, 0);
    rb_printf(&t, "</h1>\n<p class=\"totals\"><span class=\"n-%s\">%zu failed</span>, "
                        "<span class=\"n-pass\">%zu passed</span>"
                        "<span class=\"meta\">%zu scenario%s in %.1f s \xC2\xB7 %s</span></p>\n",
                    failed ? "fail" : "none", failed, passed, ncases, ncases == 1 ? "" : "s", total_s, date);
    if (ncases)
        rb_printf(&t, "<div class=\"bar\"><span class=\"f\" style=\"width:%.3f%%\"></span>"
                            "<span class=\"p\" style=\"width:%.3f%%\"></span></div>\n",
                        100.0 * (double)failed / (double)ncases, 100.0 * (double)passed / (double)ncases);
    rb_printf(&t, "</header>\n<nav class=\"toc\"><h2>Scenarios</h2>\n<ol>\n");
    for (size_t i = 0; i < ncases; i++) {
        const chk_report_case *c = &cases[order[i]];
        rb_printf(&t, "<li class=\"%s\"><span class=\"badge %s\">%s</span><a href=\"#", c->pass ? "pass" : "fail",
                        c->pass ? "pass" : "fail", c->pass ? "PASS" : "FAIL");
        put_attr(&t, ids[order[i]]);
        rb_printf(&t, "\">");
        put_cstr(&t, c->name, 0);
        rb_printf(&t, "</a><span class=\"toc-head\">");
        if (!c->pass && c->headline)
            put_cstr(&t, c->headline, 140);
        rb_printf(&t, "</span><span class=\"secs\">%.1f s</span></li>\n", c->seconds);
    }
    rb_printf(&t, "</ol>\n</nav>\n<main>\n");
    size_t diagram_bytes = 0;
    for (size_t i = 0; i < ncases; i++) {
        const chk_report_case *c = &cases[order[i]];
        size_t dn = c->diagram ? strlen(c->diagram) : 0;
        bool fits = dn <= CHK_REPORT_MAX_DIAGRAMS - diagram_bytes;
        if (fits)
            diagram_bytes += dn;
        put_section(&t, c, ids[order[i]], fits);
    }
    rb_printf(&t, "</main>\n<footer>Written by polyws check. Diagrams: one section per connection; runs of "
                        "similar frames are drawn as one thick arrow; long connections show their start and end. "
                        "Secrets are shown as ***.</footer>\n</div>\n</body>\n</html>\n");
    for (size_t i = 0; i < ncases; i++)
        free(ids[i]);
    free(ids);
    free(order);
    if (t.oom) {
        free(t.p);
        set_err(err, errcap, "out of memory writing the report");
        return -1;
    }

    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
        free(t.p);
        return -1;
    }
    size_t wrote = fwrite(t.p, 1, t.len, f);
    int werr = ferror(f) || wrote != t.len ? (errno ? errno : EIO) : 0;
    free(t.p);
    if (fclose(f) != 0 && !werr)
        werr = errno ? errno : EIO;
    if (werr || rename(tmp, path) != 0) {
        set_err(err, errcap, "cannot write %s: %s", path, strerror(werr ? werr : errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
