/*
 * judge_text.c - the judge's text (see judge_internal.h): a growable string for
 * its messages, and excerpts of frames and client output made safe to quote
 * (secrets scrubbed, cut, one line, valid UTF-8).
 */
#include "judge_internal.h"

#include "wire/buf.h"     /* pws__append, pws__vappendf */
#include "wire/secrets.h" /* pws__secrets: the one redactor */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void pwsj__sb_put(sbuf *b, const char *s, size_t n)
{
    if (!b->oom && pws__append(&b->p, &b->len, &b->cap, s, n, SIZE_MAX / 2))
        b->oom = true;
}

void pwsj__sb_str(sbuf *b, const char *s)
{
    pwsj__sb_put(b, s, strlen(s));
}

void pwsj__sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!b->oom && pws__vappendf(&b->p, &b->len, &b->cap, SIZE_MAX / 2, fmt, ap))
        b->oom = true;
    va_end(ap);
}

/* Takes the text out of b (an empty string if nothing was written); NULL on OOM. */
char *pwsj__sb_take(sbuf *b)
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

static int sb_put_cb(void *ctx, const char *s, size_t n)
{
    sbuf *b = ctx;
    pwsj__sb_put(b, s, n);
    return b->oom ? -1 : 0;
}

/* Appends an excerpt of s (n bytes): secrets scrubbed, cut to max bytes, control and invalid
 * bytes escaped (valid UTF-8 kept), so it stays on one line and is valid UTF-8. */
void pwsj__sb_excerpt(sbuf *b, const char *s, size_t n, size_t max, const char *const *secrets)
{
    /* Scrub first (a cut must not leave half a key), on a copy, through wire's one redactor:
     * every encoding, pieces of 8 bytes or more.  A handful of excerpts per run: the set is
     * built per call. */
    sbuf c = {0};
    pws__secrets set = {0};
    size_t i;
    for (i = 0; secrets && i < PWSJ_MAX_SECRETS && secrets[i]; i++)
        if (pws__secrets_add(&set, secrets[i]) < 0)
            c.oom = true;
    if (c.oom || pws__secrets_scrub(&set, s, n, sb_put_cb, &c, NULL))
        c.oom = true; /* no excerpt rather than one that may hold a key */
    pws__secrets_free(&set);
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
            pwsj__sb_put(b, "\\n", 2), shown += 2, i++;
        } else if (ch == '\r') {
            pwsj__sb_put(b, "\\r", 2), shown += 2, i++;
        } else if (ch == '\t') {
            pwsj__sb_put(b, "\\t", 2), shown += 2, i++;
        } else if (ch >= 0x20 && ch < 0x7f) {
            pwsj__sb_put(b, (const char *)u + i, 1), shown++, i++;
        } else if (ch >= 0x80 && (seq = utf8_seq(u + i, len - i)) != 0) {
            pwsj__sb_put(b, (const char *)u + i, seq), shown += seq, i += seq;
        } else {
            pwsj__sb_printf(b, "\\x%02x", ch), shown += 4, i++;
        }
    }
    if (i < len)
        pwsj__sb_printf(b, "... (%zu bytes)", n);
    free(c.p);
}

void pwsj__sb_signal(sbuf *b, int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        pwsj__sb_printf(b, "signal %d (SIG%s)", sig, abbrev);
    else
        pwsj__sb_printf(b, "signal %d", sig);
}
