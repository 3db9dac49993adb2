/*
 * judge_output.c - the assertions on how the client ended and what it printed
 * (see judge_internal.h): client_exit, output_equals, output_matches, printed
 * and not_printed, and the scenario-level events verdict (what the client
 * printed agrees with what the server sent, compared by judge_events.c).
 *
 * The output assertions read the captured files in one streaming pass
 * (output_equals, output_matches) or the events read once per run (printed);
 * under PWSJ_OUTPUT_NONE they are reported as skipped.
 */
#include "judge_internal.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* An output assertion under PWSJ_OUTPUT_NONE: reported, not judged. */
static bool skip_output(judge *g, int idx, const pwss_assertion *a)
{
    if (!g->cl || g->cl->output != PWSJ_OUTPUT_NONE)
        return false;
    sbuf b = {0};
    pwsj__sb_str(&b, pwsj_assert_name(a->kind));
    pwsj__sb_str(&b, ": skipped: the client's output is not judged (--client-output none)");
    pwsj__sb_printf(&b, " (%s:%d:%d)", g->sc->path ? g->sc->path : "?", a->line, a->column);
    pwsj__add_verdict(g, idx, true, 0, &b);
    if (g->r->nverdicts && !g->oom) {
        g->r->verdicts[g->r->nverdicts - 1].skipped = true;
        g->r->nskipped++;
    }
    return true;
}

void pwsj__judge_client_exit(judge *g, int idx, const pwss_assertion *a)
{
    const pwsj_client *cl = g->cl;
    sbuf b = {0};
    pwsj__begin(&b, a);
    bool pass = false;
    char expect[48];
    if (a->code == -1)
        snprintf(expect, sizeof expect, "a non-zero exit");
    else
        snprintf(expect, sizeof expect, "exit %d", a->code);
    if (!cl || !cl->started) {
        pwsj__sb_printf(&b, "the client did not run, expected %s", expect);
    } else if (cl->exited) {
        pass = a->code == -1 ? cl->exit_code != 0 : cl->exit_code == a->code;
        pwsj__sb_printf(&b, "the client exited with %d%s%s%s", cl->exit_code,
                        cl->timed_out ? " when stopped at the timeout" : "", pass ? "" : ", expected ",
                        pass ? "" : expect);
    } else {
        pwsj__sb_str(&b, "the client was ended by ");
        pwsj__sb_signal(&b, cl->term_signal);
        if (cl->timed_out)
            pwsj__sb_printf(&b, " after the %u ms timeout", cl->timeout_ms);
        pwsj__sb_printf(&b, ", expected %s", expect);
    }
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, 0, &b);
    pwsj__run_end(g);
}

/* Reads one line (with its '\n') into *line; returns its length, or -1 at EOF. */
static ssize_t read_line(FILE *f, char **line, size_t *cap)
{
    return f ? getline(line, cap, f) : -1;
}

void pwsj__judge_output_equals(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    const pwsj_client *cl = g->cl;
    sbuf b = {0};
    pwsj__begin(&b, a);
    const char *path = a->path ? a->path : "";
    FILE *got = cl && cl->stdout_path ? fopen(cl->stdout_path, "rb") : NULL;
    FILE *exp = fopen(path, "rb");
    bool pass = false;
    if (!exp) {
        pwsj__sb_printf(&b, "cannot read the expected output %s: %s", path, strerror(errno));
    } else if (!got) {
        pwsj__sb_str(&b, "the client's stdout was not captured");
    } else {
        char *gl = NULL, *el = NULL;
        size_t gcap = 0, ecap = 0;
        for (unsigned long line = 1;; line++) {
            ssize_t gn = read_line(got, &gl, &gcap), en = read_line(exp, &el, &ecap);
            if (gn < 0 && en < 0) {
                pass = true;
                pwsj__sb_printf(&b, "stdout equals %s (%lu line(s))", path, line - 1);
                break;
            }
            if (gn >= 0 && en >= 0 && gn == en && memcmp(gl, el, (size_t)gn) == 0)
                continue;
            pwsj__sb_printf(&b, "stdout differs from %s at line %lu: got ", path, line);
            if (gn < 0)
                pwsj__sb_str(&b, "end of output");
            else {
                pwsj__sb_str(&b, "\"");
                pwsj__sb_excerpt(&b, gl, (size_t)gn, PWSJ_EXCERPT_MAX, g->secrets);
                pwsj__sb_str(&b, "\"");
            }
            pwsj__sb_str(&b, ", expected ");
            if (en < 0)
                pwsj__sb_str(&b, "end of file");
            else {
                pwsj__sb_str(&b, "\"");
                pwsj__sb_excerpt(&b, el, (size_t)en, PWSJ_EXCERPT_MAX, g->secrets);
                pwsj__sb_str(&b, "\"");
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
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, 0, &b);
}

void pwsj__judge_output_matches(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    const pwsj_client *cl = g->cl;
    const char *name = a->stream == 2 ? "stderr" : "stdout";
    const char *path = !cl ? NULL : a->stream == 2 ? cl->stderr_path : cl->stdout_path;
    const char *re_text = a->text ? a->text : "";
    sbuf b = {0};
    pwsj__begin(&b, a);
    bool pass = false;
    regex_t re;
    int rc = regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char err[256];
        regerror(rc, &re, err, sizeof err);
        pwsj__sb_str(&b, "invalid regex /");
        pwsj__sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
        pwsj__sb_printf(&b, "/: %s", err);
    } else {
        FILE *f = path ? fopen(path, "rb") : NULL;
        if (!f) {
            pwsj__sb_printf(&b, "the client's %s was not captured", name);
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
                    pwsj__sb_printf(&b, "line %lu of %s matches /", lines, name);
                    pwsj__sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
                    pwsj__sb_str(&b, "/");
                }
            }
            if (!pass) {
                pwsj__sb_printf(&b, "no line of %s matches /", name);
                pwsj__sb_excerpt(&b, re_text, strlen(re_text), PWSJ_EXCERPT_MAX, NULL);
                pwsj__sb_printf(&b, "/ (%lu line(s))", lines);
            }
            free(line);
            fclose(f);
        }
        regfree(&re);
    }
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, 0, &b);
}

/* Reads both sides once, when something needs them.  False if the output is not judged. */
bool pwsj__load_events(judge *g)
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
void pwsj__judge_events(judge *g)
{
    if (!g->cl || g->cl->output != PWSJ_OUTPUT_EVENTS)
        return;
    if (!pwsj__load_events(g))
        return; /* stdout not captured (--live): nothing to compare */
    pwsj__events_verdict v;
    if (pwsj__events_compare(&g->sent, &g->printed, &v) != 0) {
        g->oom = true;
        return;
    }
    sbuf b = {0};
    pwsj__sb_str(&b, "events: ");
    pwsj__sb_excerpt(&b, v.message, strlen(v.message), 4 * PWSJ_EXCERPT_MAX, g->secrets);
    free(v.message);
    pwsj__add_verdict(g, -1, v.pass, v.conn, &b);
    if (!v.pass && v.t_us >= 0)
        pwsj__at_time(g, v.t_us);
}

void pwsj__judge_printed(judge *g, int idx, const pwss_assertion *a)
{
    if (skip_output(g, idx, a))
        return;
    sbuf b = {0};
    pwsj__begin(&b, a);
    bool pass = false;
    pwsj__event pat;
    if (!pwsj__load_events(g)) {
        pwsj__sb_str(&b, "the client's stdout was not captured");
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
                pwsj__sb_printf(&b, "no printed event matches %s (%zu printed)", a->text, g->printed.n);
            else
                pwsj__sb_printf(&b, "stdout line %zu printed an event matching %s, which a correct client never "
                                    "delivers (%zu such)",
                                first, a->text, hits);
        } else {
            pass = hits >= a->count && hits <= a->max;
            if (hits < a->count && !hits)
                pwsj__sb_printf(&b, "no printed event matches %s (%zu market-data event(s) printed in %zu line(s))",
                                a->text, g->printed.n, g->printed.lines);
            else if (hits < a->count)
                pwsj__sb_printf(&b, "%zu printed event(s) match %s, expected at least %u", hits, a->text, a->count);
            else if (hits > a->max)
                pwsj__sb_printf(&b, "%zu printed events match %s, expected at most %u", hits, a->text, a->max);
            else
                pwsj__sb_printf(&b, "%zu printed event(s) match %s (first on stdout line %zu)", hits, a->text, first);
        }
    }
    pwsj__where(g, &b, a);
    pwsj__add_verdict(g, idx, pass, 0, &b);
}
