/*
 * check_report.c - the HTML page of `polyws check --report` (see check_report.h):
 * a summary, a table of contents (failed scenarios first) and one section per
 * scenario around the diagram check_diagram.c drew for it, written through a
 * temporary file and rename(2).
 */
#include "check_report.h"
#include "check_common.h"
#include "check_html.h"

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
    chk_rb_printf(t, "<details%s><summary>%s</summary><pre>", open ? " open" : "", summary);
    chk_put_clean(t, text, strlen(text), 0, CHK_CLEAN_LINES);
    chk_rb_printf(t, "</pre></details>\n");
}

/* One scenario's section; its diagram only if `with_diagram` (else a note: the page is full). */
static void put_section(rbuf *t, const chk_report_case *c, const char *id, bool with_diagram)
{
    const char *state = c->pass ? "pass" : "fail";
    chk_rb_printf(t, "<section class=\"scenario %s\" id=\"", state);
    chk_put_attr(t, id);
    chk_rb_printf(t, "\" data-scenario=\"");
    chk_put_attr(t, c->name);
    chk_rb_printf(t, "\" data-state=\"%s\">\n<h2><span class=\"badge %s\">%s</span> ", state, state,
                  c->pass ? "PASS" : "FAIL");
    chk_put_cstr(t, c->name, 0);
    chk_rb_printf(t, "<span class=\"secs\">%.1f s</span></h2>\n", c->seconds);
    if (c->path) {
        chk_rb_printf(t, "<p class=\"path mono\">");
        chk_put_cstr(t, c->path, 0);
        chk_rb_printf(t, "</p>\n");
    }
    if (c->description && *c->description) {
        chk_rb_printf(t, "<p class=\"desc\">");
        chk_put_clean(t, c->description, strlen(c->description), 0, CHK_CLEAN_LINES);
        chk_rb_printf(t, "</p>\n");
    }
    if (c->headline && *c->headline) {
        chk_rb_printf(t, "<p class=\"headline mono\">");
        chk_put_cstr(t, c->headline, 0);
        chk_rb_printf(t, "</p>\n");
    }
    if (c->nverdicts && c->verdicts) {
        size_t failed = 0;
        for (size_t i = 0; i < c->nverdicts; i++)
            failed += c->verdicts[i].state == 1;
        chk_rb_printf(t, "<h3>Verdicts (%zu, %zu failed)</h3>\n<ul class=\"verdicts\">\n", c->nverdicts, failed);
        for (size_t i = 0; i < c->nverdicts; i++) {
            int st = c->verdicts[i].state;
            static const char *const cls[] = {"pass", "fail", "skip"};
            static const char *const mark[] = {"\xE2\x9C\x93", "\xE2\x9C\x97", "\xE2\x80\x93"};
            static const char *const word[] = {"pass", "fail", "skipped"};
            int k = st >= 0 && st <= 2 ? st : 1;
            chk_rb_printf(t, "<li class=\"%s\"><span class=\"mark\" title=\"%s\">%s</span>", cls[k], word[k],
                          mark[k]);
            chk_put_cstr(t, c->verdicts[i].message ? c->verdicts[i].message : "", 0);
            chk_rb_printf(t, "</li>\n");
        }
        chk_rb_printf(t, "</ul>\n");
    }
    put_details(t, "Failure details and the last frames", c->details, false);
    if (c->client_line) {
        chk_rb_printf(t, "<p class=\"client mono\">");
        chk_put_cstr(t, c->client_line, 0);
        chk_rb_printf(t, "</p>\n");
    }
    put_details(t, "client stdout (tail)", c->out_tail, false);
    put_details(t, "client stderr (tail)", c->err_tail, !c->pass);
    if (c->diagram && !with_diagram) {
        chk_rb_printf(t, "<p class=\"note\">Diagram left out: the report reached its size limit (%u MiB of "
                         "diagrams).</p>\n", CHK_REPORT_MAX_DIAGRAMS >> 20);
    } else if (c->diagram) {
        chk_rb_printf(t, "<figure class=\"diagram\"><figcaption>What went over the wire: client (left) and "
                         "mock server (right), seconds since the server started; hover for payloads"
                         "</figcaption><div class=\"scroll\">\n");
        chk_rb_put(t, c->diagram, strlen(c->diagram));
        chk_rb_printf(t, "\n</div></figure>\n");
    }
    chk_rb_printf(t, "</section>\n");
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
    chk_rb_printf(&t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<meta name=\"generator\" content=\"polyws check\">\n<title>");
    chk_put_cstr(&t, title, 0);
    chk_rb_printf(&t, ": %zu passed, %zu failed</title>\n<style>\n%s</style>\n</head>\n<body>\n<div class=\"wrap\">\n",
                  passed, failed, page_css);
    chk_rb_printf(&t, "<header class=\"summary\" data-passed=\"%zu\" data-failed=\"%zu\" data-total=\"%zu\">\n<h1>",
                  passed, failed, ncases);
    chk_put_cstr(&t, title, 0);
    chk_rb_printf(&t, "</h1>\n<p class=\"totals\"><span class=\"n-%s\">%zu failed</span>, "
                      "<span class=\"n-pass\">%zu passed</span>"
                      "<span class=\"meta\">%zu scenario%s in %.1f s \xC2\xB7 %s</span></p>\n",
                  failed ? "fail" : "none", failed, passed, ncases, ncases == 1 ? "" : "s", total_s, date);
    if (ncases)
        chk_rb_printf(&t, "<div class=\"bar\"><span class=\"f\" style=\"width:%.3f%%\"></span>"
                          "<span class=\"p\" style=\"width:%.3f%%\"></span></div>\n",
                      100.0 * (double)failed / (double)ncases, 100.0 * (double)passed / (double)ncases);
    chk_rb_printf(&t, "</header>\n<nav class=\"toc\"><h2>Scenarios</h2>\n<ol>\n");
    for (size_t i = 0; i < ncases; i++) {
        const chk_report_case *c = &cases[order[i]];
        chk_rb_printf(&t, "<li class=\"%s\"><span class=\"badge %s\">%s</span><a href=\"#", c->pass ? "pass" : "fail",
                      c->pass ? "pass" : "fail", c->pass ? "PASS" : "FAIL");
        chk_put_attr(&t, ids[order[i]]);
        chk_rb_printf(&t, "\">");
        chk_put_cstr(&t, c->name, 0);
        chk_rb_printf(&t, "</a><span class=\"toc-head\">");
        if (!c->pass && c->headline)
            chk_put_cstr(&t, c->headline, 140);
        chk_rb_printf(&t, "</span><span class=\"secs\">%.1f s</span></li>\n", c->seconds);
    }
    chk_rb_printf(&t, "</ol>\n</nav>\n<main>\n");
    size_t diagram_bytes = 0;
    for (size_t i = 0; i < ncases; i++) {
        const chk_report_case *c = &cases[order[i]];
        size_t dn = c->diagram ? strlen(c->diagram) : 0;
        bool fits = dn <= CHK_REPORT_MAX_DIAGRAMS - diagram_bytes;
        if (fits)
            diagram_bytes += dn;
        put_section(&t, c, ids[order[i]], fits);
    }
    chk_rb_printf(&t, "</main>\n<footer>Written by polyws check. Diagrams: one section per connection; runs of "
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
