/*
 * progress.c - the progress meter (progress.h): formatting and drawing.
 *
 * Cost: an update reads the monotonic clock (clock_gettime through the vDSO,
 * no system call) and draws at most every PWS_CLI_METER_MS with one fputs and
 * one fflush; callers update from a 100 ms loop (record, replay) or from the
 * library's progress calls, one per PWS_TAPE_PROGRESS_ITEMS items (tape).
 */
#include "progress.h"

#include "wire/buf.h"   /* pws__fixed_appendf */
#include "wire/clock.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

bool pws_cli_meter_wanted(bool quiet, int data_fd)
{
    if (quiet || !isatty(STDERR_FILENO))
        return false;
    if (data_fd >= 0 && isatty(data_fd)) {
        /* the same terminal: the data would be cut by the redraws */
        struct stat a, b;
        if (fstat(data_fd, &a) || fstat(STDERR_FILENO, &b) || a.st_rdev == b.st_rdev)
            return false;
    }
    return true;
}

void pws_cli_meter_start(pws_cli_meter *m, bool on, const char *label, const char *unit)
{
    memset(m, 0, sizeof *m);
    m->on = on;
    m->label = label;
    m->unit = unit;
    m->start_us = m->phase_us = pws__mono_us();
    m->columns = PWS_CLI_METER_COLUMNS;
    struct winsize ws;
    if (on && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        m->columns = ws.ws_col;
}

void pws_cli_human_bytes(uint64_t b, char *buf, unsigned cap)
{
    if (b < 1000)
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
    else if (b < 1000000)
        snprintf(buf, cap, "%.1f kB", (double)b / 1e3);
    else if (b < 1000000000)
        snprintf(buf, cap, "%.1f MB", (double)b / 1e6);
    else
        snprintf(buf, cap, "%.2f GB", (double)b / 1e9);
}

void pws_cli_human_seconds(double s, char *buf, unsigned cap)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else if (s < 1e7)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, cap, "> 2700h");
}

/* "850", "45.6k", "1.2M": a rate without its unit. */
static void human_rate(double r, char *buf, unsigned cap)
{
    if (r < 10)
        snprintf(buf, cap, "%.1f", r); /* "0.4 runs/s" rather than "0" */
    else if (r < 1000)
        snprintf(buf, cap, "%.0f", r);
    else if (r < 1e6)
        snprintf(buf, cap, "%.1fk", r / 1e3);
    else
        snprintf(buf, cap, "%.1fM", r / 1e6);
}

/* "12.3/79.4 MB": a part of a total in the total's unit. */
static void human_part(uint64_t part, uint64_t total, char *buf, unsigned cap)
{
    static const char *const units[] = {"B", "kB", "MB", "GB"};
    unsigned u = 0;
    double scale = 1;
    while (u < 3 && (double)total >= scale * 1000) {
        scale *= 1000;
        u++;
    }
    if (!u)
        snprintf(buf, cap, "%llu/%llu B", (unsigned long long)part, (unsigned long long)total);
    else
        snprintf(buf, cap, "%.*f/%.*f %s", u == 3 ? 2 : 1, (double)part / scale, u == 3 ? 2 : 1,
                 (double)total / scale, units[u]);
}

/* The line for the counts now.  Three shapes, each about 80 columns at most:
 *   LABEL: P% BYTES/TOTAL, N UNIT, BYTES/s, ELAPSED[, ETA T]        the input's size is known
 *   LABEL: P% N/TOTAL UNIT, BYTES, N UNIT/s, ELAPSED[, ETA T]       the item total is known
 *   LABEL: N UNIT, BYTES, N UNIT/s, ELAPSED[, NOTE]                 neither
 * (no BYTES with no_bytes).
 * Rates are over the phase and shown once it ran PWS_CLI_METER_MS (before, they mean little). */
static void format_line(const pws_cli_meter *m, int64_t now_us, bool final, char *line, size_t cap)
{
    double elapsed = (double)(now_us - m->start_us) / 1e6;
    double phase_s = (double)((m->phase_end_us ? m->phase_end_us : now_us) - m->phase_us) / 1e6;
    bool rates = phase_s * 1000 >= PWS_CLI_METER_MS;
    char bytes[40], el[24], rate[24];
    pws_cli_human_seconds(elapsed, el, sizeof el);
    double frac = -1; /* the share done: by bytes if their total is known, else by items */
    if (m->bytes_total)
        frac = (double)m->bytes / (double)m->bytes_total;
    else if (m->items_total)
        frac = (double)m->items / (double)m->items_total;
    if (frac > 1)
        frac = 1;
    size_t len = 0;
    pws__fixed_appendf(line, cap, &len, "\r%s: ", m->label);
    if (frac >= 0)
        pws__fixed_appendf(line, cap, &len, "%d%% ", (int)(frac * 100));
    if (m->bytes_total) {
        human_part(m->bytes, m->bytes_total, bytes, sizeof bytes);
        pws__fixed_appendf(line, cap, &len, "%s, %llu %s", bytes, (unsigned long long)m->items, m->unit);
        if (rates) {
            pws_cli_human_bytes((uint64_t)((double)m->bytes / phase_s), rate, sizeof rate);
            pws__fixed_appendf(line, cap, &len, ", %s/s", rate);
        }
    } else {
        pws_cli_human_bytes(m->bytes, bytes, sizeof bytes);
        pws__fixed_appendf(line, cap, &len, "%llu", (unsigned long long)m->items);
        if (m->items_total)
            pws__fixed_appendf(line, cap, &len, "/%llu", (unsigned long long)m->items_total);
        pws__fixed_appendf(line, cap, &len, " %s", m->unit);
        if (!m->no_bytes)
            pws__fixed_appendf(line, cap, &len, ", %s", bytes);
        if (rates) {
            human_rate((double)m->items / phase_s, rate, sizeof rate);
            pws__fixed_appendf(line, cap, &len, ", %s %s/s", rate, m->unit);
        }
    }
    pws__fixed_appendf(line, cap, &len, ", %s", el);
    if (!final && rates && frac > 0 && frac < 1) {
        char eta[24];
        pws_cli_human_seconds(phase_s * (1 - frac) / frac, eta, sizeof eta);
        pws__fixed_appendf(line, cap, &len, ", ETA %s", eta);
    }
    if (m->note[0])
        pws__fixed_appendf(line, cap, &len, ", %s", m->note);
}

static void draw(pws_cli_meter *m, int64_t now_us, bool final)
{
    char line[PWS_CLI_METER_LINE];
    /* one column short of the width: a full line would wrap on some terminals */
    size_t cap = m->columns < sizeof line - 8 ? m->columns : sizeof line - 8;
    format_line(m, now_us, final, line, cap + 1 /* the '\r' */);
    fputs(line, stderr);
    fputs(final ? "\033[K\n" : "\033[K", stderr);
    fflush(stderr);
    m->drawn_us = now_us;
    m->shown = !final;
}

void pws_cli_meter_update(pws_cli_meter *m, uint64_t items, uint64_t bytes)
{
    m->items = items;
    m->bytes = bytes;
    if (!m->on)
        return;
    int64_t now = pws__mono_us();
    if (!m->drawn_us || now - m->drawn_us >= PWS_CLI_METER_MS * 1000)
        draw(m, now, false);
}

void pws_cli_meter_phase_done(pws_cli_meter *m, uint64_t items, uint64_t bytes)
{
    m->items = items;
    m->bytes = bytes;
    m->phase_end_us = pws__mono_us();
}

void pws_cli_meter_end(pws_cli_meter *m, bool keep)
{
    if (!m->on)
        return;
    if (keep) {
        draw(m, pws__mono_us(), true);
    } else if (m->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        m->shown = false;
    }
}

void pws_cli_meter_phase(pws_cli_meter *m, const char *label, const char *unit, uint64_t items_total,
                         uint64_t bytes_total)
{
    if (m->drawn_us)
        pws_cli_meter_end(m, true);
    m->label = label;
    m->unit = unit;
    m->items = m->bytes = 0;
    m->items_total = items_total;
    m->bytes_total = bytes_total;
    m->phase_us = pws__mono_us();
    m->phase_end_us = 0;
    m->drawn_us = 0;
}

const char *pws_cli_meter_erase(const pws_cli_meter *m)
{
    return m && m->on ? "\r\033[K" : "";
}
