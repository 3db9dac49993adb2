/*
 * parse_error.c - the parser's parse-error events: the reason texts and the
 * PWS_EV_PARSE_ERROR event with its offset and printable excerpt.  A leaf:
 * the driver (parse.c), the scanner and the event decoders all report
 * through it, and it calls nothing of theirs but emit() from
 * parse_internal.h.
 */
#include "parse_internal.h"

/* --------------------------------------------------------------- reasons */

#define PWS__PARSE_REASON_TEXT(name, text) [name] = text,
const char *const pws__parse_reason_text[R__COUNT] = { PWS__PARSE_REASONS(PWS__PARSE_REASON_TEXT) };
#undef PWS__PARSE_REASON_TEXT

/* ------------------------------------------------------ error reporting */

/* Printable bytes around offset; everything else becomes '.'. */
static void make_excerpt(const char *buf, size_t len, size_t offset, char out[PWS_EXCERPT_MAX])
{
    size_t start = offset > 20 ? offset - 20 : 0;
    size_t n = 0;

    if (start > len)
        start = len;
    for (size_t i = start; i < len && n < PWS_EXCERPT_MAX - 1; i++) {
        unsigned char c = (unsigned char)buf[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    out[n] = '\0';
}

void pws__parse_emit_error(parser *ps, size_t offset, const char *reason)
{
    size_t len = (size_t)(ps->end - ps->buf);
    pws_event *ev = &ps->ev;

    memset(ev, 0, sizeof *ev);
    ev->type = PWS_EV_PARSE_ERROR;
    ev->u.error.offset = offset;
    ev->u.error.frame_len = len;
    ev->u.error.reason = reason;
    make_excerpt(ps->buf, len, offset, ev->u.error.excerpt);
    emit(ps);
}

void pws__parse_element_error(parser *ps, const char *at, enum reason reason)
{
    pws__parse_emit_error(ps, (size_t)(at - ps->buf), pws__parse_reason_text[reason]);
}
