/*
 * check_output.c - what `polyws check` writes about the scenarios it ran (see
 * check_run.h): one line per scenario as it finishes, in the order given (with
 * the verdicts, failure details, the client's end and its stderr tail), the
 * status line on a terminal, the totals, the JUnit XML file and the cases of
 * the --report page.
 */
#include "check_run.h"
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_TAIL_LINES 10          /* client stderr lines shown under a failure */
#define CHECK_TAIL_LINE_BYTES 200    /* bytes of each of them */

/* ---------------------------------------------------------------- printing */

/* The last n lines of s (a pointer into s). */
static const char *last_lines(const char *s, int n)
{
    const char *p = s + strlen(s);
    int lines = 0;
    while (p > s) {
        if (p[-1] == '\n' && ++lines == n)
            break;
        p--;
    }
    return p;
}

/* The status line on a terminal: "[done/total] running NAME ... (P passed, F failed)". */
void chk_progress_clear(const chk_run *run)
{
    if (run->progress)
        fputs("\r\033[K", stdout);
}

void chk_progress_show(const chk_run *run)
{
    if (!run->progress)
        return;
    size_t done = run->npass + run->nfail;
    printf("\r\033[K[%zu/%zu] %zu passed, %zu failed", done, run->njob, run->npass, run->nfail);
    size_t shown = 0;
    for (size_t i = 0; i < run->njob && shown < 2; i++)
        if (run->job[i].started && !run->job[i].done)
            printf("%s%.40s", shown++ ? ", " : "; running ", run->job[i].name);
    if (run->running > shown)
        printf(" +%zu", run->running - shown);
    fflush(stdout);
}

/* 0, or the errno of a failed write. */
static int print_job(const chk_run *run, const chk_job *j)
{
    chk_progress_clear(run);
    printf("%s %s (%.1f s)%s%s\n", j->pass ? "PASS" : "FAIL", j->name, j->seconds, j->pass ? "" : ": ",
           j->pass ? "" : j->first ? j->first : "failed");
    if (run->verbose && j->verdicts)
        chk_print_indented(stdout, j->verdicts, 4);
    if (!j->pass && j->details)
        chk_print_indented(stdout, j->details, 4);
    if ((!j->pass || run->verbose) && j->client_line)
        chk_print_indented(stdout, j->client_line, 4);
    if ((!j->pass || run->verbose) && j->err_tail) {
        printf("    client stderr (last lines):\n");
        /* Each line cut to CHECK_TAIL_LINE_BYTES. */
        const char *s = last_lines(j->err_tail, CHECK_TAIL_LINES);
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            size_t shown = n > CHECK_TAIL_LINE_BYTES ? CHECK_TAIL_LINE_BYTES : n;
            while (shown < n && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
                shown--; /* do not cut a UTF-8 sequence */
            printf("      %.*s%s\n", (int)shown, s, shown < n ? "..." : "");
            s = nl ? nl + 1 : s + n;
        }
    }
    errno = 0;
    if (fflush(stdout) == EOF || ferror(stdout))
        return errno ? errno : EIO;
    return 0;
}

/* Prints finished jobs in order; called with run->mu held. */
void chk_print_ready(chk_run *run)
{
    while (run->next_print < run->njob && run->job[run->next_print].done) {
        chk_job *j = &run->job[run->next_print++];
        int e = print_job(run, j);
        j->printed = true;
        if (e && !run->out_errno) {
            /* nobody reads the verdicts any more (EPIPE), or they cannot be kept: the
             * scenarios left are not run */
            run->out_errno = e;
            chk_interrupted = SIGPIPE;
        }
    }
    chk_progress_show(run);
}

size_t chk_print_totals(const chk_run *run)
{
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < run->njob; i++)
        run->job[i].pass ? passed++ : failed++;
    chk_progress_clear(run);
    if (chk_interrupted)
        printf("interrupted\n");
    printf("%zu passed, %zu failed\n", passed, failed);
    fflush(stdout);
    return failed;
}

/* ---------------------------------------------------------------- JUnit */

/* Writes s XML-escaped; with `attr`, newlines and tabs as character references too.
 * Control bytes other than \t \n \r, invalid UTF-8 and the two code points XML 1.0
 * forbids (U+FFFE, U+FFFF) become '?', so the file stays well-formed whatever a client
 * printed. */
static void xml_put(FILE *f, const char *s, bool attr)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t seq = chk_utf8_len(u + i, n - i);
        /* U+FFFE and U+FFFF are valid UTF-8 but not XML 1.0 characters (EF BF BE, EF BF BF). */
        bool xml_char = !(seq == 3 && c == 0xEF && u[i + 1] == 0xBF && u[i + 2] >= 0xBE);
        if (seq > 1 && xml_char) {
            fwrite(u + i, 1, seq, f);
            i += seq;
            continue;
        }
        if (seq > 1) {
            fputc('?', f);
            i += seq;
            continue;
        }
        i++;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\n': fputs(attr ? "&#10;" : "\n", f); break;
        case '\r': fputs("&#13;", f); break;
        case '\t': fputs(attr ? "&#9;" : "\t", f); break;
        default: fputc(seq == 0 || c < 0x20 || c == 0x7f ? '?' : c, f);
        }
    }
}

void chk_xml_attr(FILE *f, const char *s)
{
    xml_put(f, s, true);
}

void chk_xml_text(FILE *f, const char *s)
{
    xml_put(f, s, false);
}

/* A case's <system-out>: the client's stdout tail, or when it printed nothing a short note
 * of what check saw ("(no output) client: exited with 0 after 2.0 s"), so every case has
 * one, failed ones included.  Every string here is already scrubbed of secrets. */
static void put_system_out(FILE *f, const chk_job *j)
{
    fprintf(f, "      <system-out>");
    if (j->out_tail) {
        chk_xml_text(f, j->out_tail);
    } else if (j->client_line) {
        fputs("(no output) ", f);
        chk_xml_text(f, j->client_line);
    } else {
        fputs(j->sc ? "(no output: the client was not run)"
                    : "(no output: the client was not run, the scenario did not load)", f);
    }
    fprintf(f, "</system-out>\n");
}

/* The file follows the Jenkins JUnit schema (junit-10.xsd of the xUnit plugin, kept in
 * tests/data/junit): <testcase> has no file attribute there, so each scenario's file is a
 * suite property "file:NAME", and <testsuites> carries no skipped count (<testsuite> does). */
int chk_write_junit(const chk_run *run, double total_s, size_t failed)
{
    char tmp[PATH_MAX];
    FILE *f = pws_cli_atomic_open("check", run->junit, "w", tmp, sizeof tmp);
    if (!f)
        return -1;
    /* One testcase per scenario; with --client-output none, one more per output assertion,
     * marked <skipped/>, so CI shows what was not judged. */
    size_t skipped = 0;
    for (size_t i = 0; i < run->njob; i++)
        for (size_t k = 0; k < run->job[i].nrv; k++)
            skipped += run->job[i].rv[k].state == 2;
    char suite[64] = "polyws.scenarios";
    if (run->nshards)
        snprintf(suite, sizeof suite, "polyws.scenarios.shard%uof%u", run->shard, run->nshards);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"polyws check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
            run->njob + skipped, failed, total_s);
    fprintf(f, "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
               "skipped=\"%zu\" time=\"%.3f\">\n",
            suite, run->njob + skipped, failed, skipped, total_s);
    if (run->njob) {
        fprintf(f, "    <properties>\n");
        for (size_t i = 0; i < run->njob; i++) {
            fprintf(f, "      <property name=\"file:");
            chk_xml_attr(f, run->job[i].name);
            fprintf(f, "\" value=\"");
            chk_xml_attr(f, run->job[i].path);
            fprintf(f, "\"/>\n");
        }
        fprintf(f, "    </properties>\n");
    }
    for (size_t i = 0; i < run->njob; i++) {
        const chk_job *j = &run->job[i];
        fprintf(f, "    <testcase classname=\"polyws.scenarios\" name=\"");
        chk_xml_attr(f, j->name);
        fprintf(f, "\" time=\"%.3f\">\n", j->seconds);
        if (!j->pass) {
            fprintf(f, "      <failure type=\"scenario\" message=\"");
            chk_xml_attr(f, j->first ? j->first : "failed");
            fprintf(f, "\">");
            chk_xml_text(f, j->first ? j->first : "failed");
            if (j->details) {
                fputc('\n', f);
                chk_xml_text(f, j->details);
            }
            if (j->client_line) {
                fputc('\n', f);
                chk_xml_text(f, j->client_line);
            }
            fputs("\nscenario file: ", f);
            chk_xml_text(f, j->path);
            fprintf(f, "</failure>\n");
        }
        put_system_out(f, j);
        if (j->err_tail) {
            fprintf(f, "      <system-err>");
            chk_xml_text(f, j->err_tail);
            fprintf(f, "</system-err>\n");
        }
        fprintf(f, "    </testcase>\n");
        for (size_t k = 0; k < j->nrv; k++) {
            if (j->rv[k].state != 2)
                continue;
            const char *m = j->rv[k].message ? j->rv[k].message : "output assertion";
            char *case_name = chk_xasprintf("%.*s #%zu", (int)strcspn(m, ":"), m, k + 1);
            fprintf(f, "    <testcase classname=\"polyws.scenarios.");
            chk_xml_attr(f, j->name);
            fprintf(f, "\" name=\"");
            chk_xml_attr(f, case_name ? case_name : "output assertion");
            fprintf(f, "\" time=\"0\">\n      <skipped message=\"");
            chk_xml_attr(f, m);
            fprintf(f, "\"/>\n      <system-out>(not judged: --client-output none)</system-out>\n"
                       "    </testcase>\n");
            free(case_name);
        }
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    return pws_cli_atomic_commit("check", f, tmp, run->junit, false);
}

/* ---------------------------------------------------------------- --report */

/* Writes --report. */
int chk_write_report(const chk_run *run, double total_s)
{
    chk_report_case *cases = calloc(run->njob ? run->njob : 1, sizeof *cases);
    if (!cases) {
        fprintf(stderr, "polyws check: out of memory writing %s\n", run->report);
        return -1;
    }
    for (size_t i = 0; i < run->njob; i++) {
        const chk_job *j = &run->job[i];
        cases[i] = (chk_report_case){.name = j->name, .path = j->path,
                                     .description = j->sc ? j->sc->description : NULL, .pass = j->pass,
                                     .seconds = j->seconds, .headline = j->pass ? NULL : j->first,
                                     .verdicts = j->rv, .nverdicts = j->nrv, .details = j->details,
                                     .client_line = j->client_line, .out_tail = j->out_tail,
                                     .err_tail = j->err_tail, .diagram = j->diagram};
    }
    char err[512] = "";
    int rc = chk_report_write(run->report, "polyws check", cases, run->njob, total_s, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "polyws check: %s\n", err[0] ? err : "cannot write the report");
    free(cases);
    return rc;
}
