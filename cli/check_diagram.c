/*
 * check_diagram.c - the mock's journal drawn as an SVG sequence diagram
 * (chk_report_diagram, see check_report.h).
 *
 * The diagram is streamed: each connection is one section (its entries read once,
 * in journal order), a run of similar frames in one direction becomes one arrow,
 * and rows past CHK_REPORT_HEAD_ROWS go through a ring of the last
 * CHK_REPORT_TAIL_ROWS, so memory and output stay bounded whatever the journal
 * holds.  What each entry says, scrubbed of secrets, comes from
 * check_diagram_entry.c; check_html.c makes it safe for XML.
 */
#include "check_diagram.h"
#include "check_report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---------------------------------------------------------------- drawing rows */

static void put_time(diagram *d, int64_t t_us, int y)
{
    chk_rb_printf(&d->rows, "<text class=\"t\" x=\"%d\" y=\"%d\">+%.3f s</text>", D_TIME_X, y,
                  (double)t_us / 1e6);
}

/* Opens a row's group: <g class="CLS"ATTRS><title>TIP</title>. */
static void open_row(diagram *d, const char *cls, const char *attrs, const rbuf *tip, size_t tip_chars)
{
    chk_rb_printf(&d->rows, "<g class=\"%s\"%s>", cls, attrs ? attrs : "");
    if (tip && tip->p) {
        chk_rb_put(&d->rows, "<title>", 7);
        chk_put_clean(&d->rows, tip->p, tip->len, tip_chars, CHK_CLEAN_LINES);
        chk_rb_put(&d->rows, "</title>", 8);
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
    chk_rb_printf(&d->rows, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y - 6);
    if (label->p)
        chk_put_clean(&d->rows, label->p, label->len, CHK_REPORT_LABEL_CHARS, 0);
    chk_rb_put(&d->rows, "</text>", 7);
    if (c2s)
        chk_rb_printf(&d->rows, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><path d=\"M%d %dl-%d -4.5v9z\"/>",
                      D_CLIENT_X, y, D_SERVER_X - D_ARROW, y, D_SERVER_X, y, D_ARROW);
    else
        chk_rb_printf(&d->rows, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><path d=\"M%d %dl%d -4.5v9z\"/>",
                      D_SERVER_X, y, D_CLIENT_X + D_ARROW, y, D_CLIENT_X, y, D_ARROW);
    chk_rb_put(&d->rows, "</g>\n", 5);
    d->y += 26;
    d->nrows++;
}

/* One frame entry as an arrow. */
static void draw_frame(diagram *d, const pwsm_entry *e)
{
    rbuf label = {0}, tip = {0};
    chk_describe(d, e, &label, &tip);
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
    chk_describe(d, a, &first, &firsttip);
    chk_describe(d, b, &last, &lasttip);
    char nf[32], ne[32];
    chk_fmt_count(r->frames, nf);
    chk_fmt_count(r->events, ne);
    char span[64];
    snprintf(span, sizeof span, "+%.3f..+%.3f s", (double)a->t_us / 1e6, (double)b->t_us / 1e6);
    if (r->events) {
        chk_rb_printf(&label, "%s frames (%s events) %s", nf, ne, span);
    } else {
        chk_rb_printf(&label, "%s %s frames %s \xC2\xB7 ", nf,
                      r->cat == CAT_STATUS ? "status" : a->kind ? a->kind : "?", span);
        if (first.p)
            chk_rb_put(&label, first.p, first.len);
    }
    chk_rb_printf(&tip, "%s %s frames%s%s%s, %s", nf, a->kind ? a->kind : "?", r->events ? " with " : "",
                  r->events ? ne : "", r->events ? " events" : "", span);
    if (r->steps)
        chk_rb_printf(&tip, " (%zu script steps in between)", r->steps);
    chk_rb_printf(&tip, "\nfirst: %s\nlast: %s", first.p ? first.p : "", last.p ? last.p : "");
    char cls[32], attrs[128];
    snprintf(cls, sizeof cls, "%s run", chk_kind_is(a, "binary") ? "binary" : "text");
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

/* A dot of radius r on the server's lifeline at y, labelled to its left with prefix and the
 * cleaned payload (script steps and faults are the server's doing). */
static void server_mark(diagram *d, int64_t t_us, int y, int r, const char *prefix, const char *s, size_t n)
{
    put_time(d, t_us, y + 4);
    chk_rb_printf(&d->rows, "<circle cx=\"%d\" cy=\"%d\" r=\"%d\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s",
                  D_SERVER_X, y, r, D_SERVER_X - 5 - r, y + 4, prefix);
    chk_put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
    chk_rb_put(&d->rows, "</text>", 7);
}

/* A connection event: a note on the server's lifeline (steps, faults), a red box (a failed
 * step), a cross (a drop), bars (closed), or a plain note. */
static void draw_event(diagram *d, const pwsm_entry *e)
{
    size_t n = 0;
    char *s = chk_scrub_copy(d, e->data ? e->data : "", e->data ? strlen(e->data) : 0, &n);
    if (!s) {
        d->oom = true;
        return;
    }
    rbuf tip = {0};
    chk_rb_printf(&tip, "+%.6f s  %s%s%s", (double)e->t_us / 1e6, e->kind ? e->kind : "?", n ? ": " : "", s);
    int y0 = d->y;
    char attrs[64];
    snprintf(attrs, sizeof attrs, " data-t=\"%.6f\"", (double)e->t_us / 1e6);
    if (chk_kind_is(e, "step")) {
        open_row(d, "step", attrs, NULL, 0);
        server_mark(d, e->t_us, y0 + 9, 3, "step ", s, n);
        d->y += 18;
    } else if (chk_kind_is(e, "step_failed")) {
        open_row(d, "step_failed", attrs, &tip, 1000);
        put_time(d, e->t_us, y0 + 19);
        chk_rb_printf(&d->rows,
                      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"24\" rx=\"4\"/><text x=\"%d\" y=\"%d\">",
                      D_CLIENT_X + 4, y0 + 3, D_SERVER_X - D_CLIENT_X - 8, D_CLIENT_X + 12, y0 + 19);
        chk_put_clean(&d->rows, s, n, D_NOTE_CHARS, 0);
        chk_rb_put(&d->rows, "</text>", 7);
        d->y += 30;
    } else if (chk_kind_is(e, "drop")) {
        open_row(d, "drop", attrs, &tip, 200);
        int y = y0 + 14;
        put_time(d, e->t_us, y + 4);
        chk_rb_printf(&d->rows, "<line class=\"cut\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", D_CLIENT_X, y,
                      D_SERVER_X, y);
        for (int k = 0; k < 2; k++) {
            int x = k ? D_SERVER_X : D_CLIENT_X;
            chk_rb_printf(&d->rows, "<path class=\"x\" d=\"M%d %dl14 14m0 -14l-14 14\"/>", x - 7, y - 7);
        }
        chk_rb_printf(&d->rows,
                      "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">dropped: TCP closed without a close frame</text>",
                      D_MID_X, y - 5);
        d->y += 28;
    } else if (chk_kind_is(e, "closed")) {
        open_row(d, "closed", attrs, &tip, 200);
        int y = y0 + 12;
        put_time(d, e->t_us, y + 4);
        chk_rb_printf(&d->rows,
                      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                      "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">closed</text>",
                      D_CLIENT_X - 12, y, D_CLIENT_X + 12, y, D_SERVER_X - 12, y, D_SERVER_X + 12, y, D_MID_X, y + 4);
        d->y += 24;
    } else if (chk_kind_is(e, "fault")) {
        open_row(d, "fault", attrs, &tip, 200);
        server_mark(d, e->t_us, y0 + 11, 5, "fault: ", s, n);
        d->y += 22;
    } else {
        char cls[32];
        snprintf(cls, sizeof cls, "%s", chk_kind_is(e, "truncated") ? "truncated" : "event");
        open_row(d, cls, attrs, &tip, 200);
        put_time(d, e->t_us, y0 + 15);
        chk_rb_printf(&d->rows, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y0 + 15);
        if (chk_kind_is(e, "truncated"))
            chk_rb_printf(&d->rows, "journal truncated here: its memory cap was hit, later entries are missing");
        else {
            chk_put_cstr(&d->rows, e->kind ? e->kind : "?", 24);
            if (n) {
                chk_rb_put(&d->rows, ": ", 2);
                chk_put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
            }
        }
        chk_rb_put(&d->rows, "</text>", 7);
        d->y += 22;
    }
    chk_rb_put(&d->rows, "</g>\n", 5);
    d->nrows++;
    d->oom |= tip.oom;
    free(tip.p);
    free(s);
}

/* A row standing for rows left out. */
static void draw_more(diagram *d, const char *cls, const char *text)
{
    int y0 = d->y;
    chk_rb_printf(&d->rows,
                  "<g class=\"%s\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"22\" rx=\"11\"/>"
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                  cls, D_CLIENT_X + 40, y0 + 3, D_SERVER_X - D_CLIENT_X - 80, D_MID_X, y0 + 18);
    chk_put_cstr(&d->rows, text, 0);
    chk_rb_put(&d->rows, "</text></g>\n", 12);
    d->y += 28;
    d->nrows++;
}

static void draw_row(diagram *d, const row *r)
{
    const pwsm_entry *e = &d->j[r->first];
    if (r->frames)
        draw_run(d, r);
    else if (chk_is_frame(e))
        draw_frame(d, e);
    else
        draw_event(d, e);
}

/* ---------------------------------------------------------------- a connection's rows */

static bool row_important(const diagram *d, const row *r)
{
    const pwsm_entry *e = &d->j[r->first];
    return !r->frames && (chk_kind_is(e, "step_failed") || chk_kind_is(e, "drop") || chk_kind_is(e, "fault") ||
                          chk_kind_is(e, "truncated") || chk_kind_is(e, "raw"));
}

static size_t row_frames(const diagram *d, const row *r)
{
    return r->frames ? r->frames : chk_is_frame(&d->j[r->first]);
}

static void lane_flush_skipped(lane *l)
{
    if (!l->skipped)
        return;
    char nr[32], nf[32], text[200];
    snprintf(text, sizeof text, "\xE2\x80\xA6 %s more rows (%s frames) +%.3f..+%.3f s not drawn",
             chk_fmt_count(l->skipped, nr), chk_fmt_count(l->skipped_frames, nf), (double)l->skip_from / 1e6,
             (double)l->skip_to / 1e6);
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
    if (chk_is_data_frame(e)) {
        int cat = chk_frame_cat(e);
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
            l->run.events += chk_count_events(e);
        if (l->nmembers < sizeof l->members / sizeof l->members[0])
            l->members[l->nmembers++] = i;
        return;
    }
    if (chk_kind_is(e, "step") && l->in_run && !l->step_pending) {
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
    chk_rb_printf(&d->rows,
                  "<g class=\"open\" data-conn=\"%u\"><rect class=\"band\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                  c->conn, y0, D_WIDTH, D_HEAD_H - 6);
    chk_rb_printf(&d->rows, "<text class=\"conntitle\" x=\"%d\" y=\"%d\">%s %u</text>", D_TIME_X, y0 + 21,
                  c->conn ? "connection" : "server", c->conn);
    for (int k = 0; k < 2; k++)
        chk_rb_printf(&d->rows,
                      "<rect class=\"actor\" x=\"%d\" y=\"%d\" width=\"72\" height=\"22\" rx=\"5\"/>"
                      "<text class=\"actor\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                      (k ? D_SERVER_X : D_CLIENT_X) - 36, y0 + 5, k ? D_SERVER_X : D_CLIENT_X, y0 + 20,
                      k ? "server" : "client");
    chk_rb_printf(&d->rows, "<text class=\"path\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", D_MID_X, y0 + 20);
    if (chk_kind_is(first, "open")) {
        size_t n = 0;
        char *s = chk_scrub_copy(d, first->data ? first->data : "", first->data ? strlen(first->data) : 0, &n);
        chk_rb_printf(&d->rows, "open ");
        if (s)
            chk_put_clean(&d->rows, s, n, CHK_REPORT_LABEL_CHARS, 0);
        else
            d->oom = true;
        free(s);
        chk_rb_printf(&d->rows, " at +%.3f s", (double)first->t_us / 1e6);
    } else {
        chk_rb_printf(&d->rows, "(no open entry) from +%.3f s", (double)first->t_us / 1e6);
    }
    const char *end = c->end == 2 ? "dropped" : c->end == 1 ? "closed" : "still open at the end";
    chk_rb_printf(&d->rows, " \xC2\xB7 %zu frames \xC2\xB7 %s</text></g>\n", c->frames, end);
    d->y += D_HEAD_H;
}

/* Appends the current rows to the body inside the connection's group, lifelines first. */
static void end_conn(diagram *d, const conn_info *c, int life_top)
{
    chk_rb_printf(&d->body, "<g class=\"conn\" data-conn=\"%u\" data-end=\"%s\">", c->conn,
                  c->end == 2 ? "drop" : c->end == 1 ? "closed" : "open");
    if (d->y > life_top)
        chk_rb_printf(&d->body,
                      "<line class=\"life\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                      "<line class=\"life\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
                      D_CLIENT_X, life_top, D_CLIENT_X, d->y, D_SERVER_X, life_top, D_SERVER_X, d->y);
    if (d->rows.p)
        chk_rb_put(&d->body, d->rows.p, d->rows.len);
    chk_rb_put(&d->body, "</g>\n", 5);
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
                 chk_fmt_count(c->frames, nf), CHK_REPORT_MAX_ROWS);
        draw_more(d, "more", text);
        end_conn(d, c, life_top);
        return;
    }
    lane l;
    memset(&l, 0, sizeof l);
    l.d = d;
    for (size_t i = c->first; i <= c->last; i++) {
        const pwsm_entry *e = &d->j[i];
        if (e->conn != c->conn || (i == c->first && chk_kind_is(e, "open")))
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
        if (chk_is_frame(&j[i]))
            ci->frames++;
        else if (chk_kind_is(&j[i], "drop"))
            ci->end = 2;
        else if (chk_kind_is(&j[i], "closed"))
            ci->end = 1;
    }
    free(ord);
    *nconns = u;
    return c;
}

char *chk_report_diagram(const char *scenario, const pwsm_entry *journal, size_t n, const char *const *secrets)
{
    diagram d;
    memset(&d, 0, sizeof d);
    d.j = journal;
    d.nj = journal ? n : 0;
    size_t nconns = 0;
    conn_info *conns = chk_secrets_init(&d, secrets) == 0 ? find_conns(d.j, d.nj, &nconns) : NULL;
    if (!conns) {
        chk_secrets_free(&d);
        return NULL;
    }
    d.y = 10;

    size_t real = 0; /* connections with an ordinal (0: entries of no connection) */
    for (size_t i = 0; i < nconns; i++)
        real += conns[i].conn != 0;
    if (!nconns) {
        draw_more(&d, "more empty", "no connection: the client never connected");
        chk_rb_put(&d.body, d.rows.p ? d.rows.p : "", d.rows.len);
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
                     "\xE2\x80\xA6 %s connections not drawn (%u to %u): %s frames, %zu dropped, %zu closed",
                     chk_fmt_count(hidden, a), conns[head].conn, conns[nconns - tail - 1].conn, chk_fmt_count(frames, b),
                     drops, closed);
            draw_more(&d, "more conns", text);
            chk_rb_put(&d.body, d.rows.p ? d.rows.p : "", d.rows.len);
            free(d.rows.p);
            d.rows = (rbuf){0};
            d.y += D_GAP;
            i = nconns - tail;
        }
        draw_conn(&d, &conns[i]);
    }
    free(conns);

    rbuf svg = {0};
    chk_rb_printf(&svg, "<svg class=\"seq\" xmlns=\"http://www.w3.org/2000/svg\" data-scenario=\"");
    chk_put_attr(&svg, scenario ? scenario : "");
    chk_rb_printf(&svg,
                  "\" data-connections=\"%zu\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"sequence diagram: client and mock server, %zu connection%s\">\n",
                  real, D_WIDTH, d.y, D_WIDTH, d.y, real, real == 1 ? "" : "s");
    if (d.body.p)
        chk_rb_put(&svg, d.body.p, d.body.len);
    chk_rb_put(&svg, "</svg>", 6);
    bool oom = d.oom || d.body.oom || d.rows.oom || svg.oom;
    free(d.body.p);
    free(d.rows.p);
    chk_secrets_free(&d);
    if (oom) {
        free(svg.p);
        return NULL;
    }
    return svg.p;
}
