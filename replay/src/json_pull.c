/*
 * json_pull.c - the incremental JSON reader (json_pull.h).
 *
 * The grammar and the string decoding follow cJSON 1.7's parse_value,
 * parse_string and parse_number step by step (see json_pull.h for what that
 * accepts), because HAR files were read with cJSON before and must convert to
 * the same tapes.  A string is read in cJSON's two passes: the first finds its
 * end (a backslash hides the byte after it) and keeps the raw bytes, the
 * second decodes them in place (decoding never writes ahead of what it read).
 * Positions: every error names the byte it is at; line and column are
 * counted from the newlines read, so nothing is read twice.
 */
#include "json_pull.h"

#include "wire/buf.h"   /* pws__grow */
#include "wire/codec.h" /* pws__hexval */

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What may come next. */
enum {
    S_VALUE,        /* a value: the root, after ':', after ',' in an array */
    S_ARRAY_FIRST,  /* after '[': a value or ']' */
    S_OBJECT_FIRST, /* after '{': a key or '}' */
    S_KEY,          /* after ',' in an object: a key */
    S_COLON,        /* after a key */
    S_AFTER,        /* after a value in an array or object: ',' or its end */
    S_DONE,         /* the root value is complete */
    S_FAILED,       /* an error was reported */
};

#define MIN_READ (PWSR__JP_READ_BUF / 2) /* room a read gets: unread bytes move to the front first */

int pwsr__jp_init(pwsr__jp *r, int fd, uint64_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->max_bytes = max_bytes;
    r->line = 1;
    r->tok_line = 1;
    r->state = S_VALUE;
    r->buf = malloc(PWSR__JP_READ_BUF);
    return r->buf ? 0 : -1;
}

void pwsr__jp_free(pwsr__jp *r)
{
    free(r->buf);
    free(r->str);
    r->buf = NULL;
    r->str = NULL;
    r->str_cap = r->str_len = 0;
}

void pwsr__jp_swap_str(pwsr__jp *r, char **buf, size_t *cap)
{
    char *p = r->str;
    size_t c = r->str_cap;
    r->str = *buf;
    r->str_cap = *cap;
    *buf = p;
    *cap = c;
}

void pwsr__jp_drop_str(pwsr__jp *r)
{
    free(r->str);
    r->str = NULL;
    r->str_cap = r->str_len = 0;
}

uint64_t pwsr__jp_bytes_read(const pwsr__jp *r)
{
    return r->base + r->end;
}

/* Counts the newlines of buf[counted..upto) into line. */
static void count_lines(pwsr__jp *r, size_t upto)
{
    const unsigned char *p = r->buf + r->counted, *e = r->buf + upto;
    while (p < e) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl)
            break;
        r->line++;
        r->prev_line_start = r->line_start;
        r->line_start = r->base + (uint64_t)(nl - r->buf) + 1;
        p = nl + 1;
    }
    r->counted = upto;
}

/* Stops with why at file offset at, which is in the buffer from the byte before
 * base + counted on (the byte before: the last byte, when the input ended). */
static pwsr__jp_tok fail_at(pwsr__jp *r, pwsr__jp_err why, uint64_t at)
{
    if (at >= r->base + r->counted) {
        count_lines(r, (size_t)(at - r->base));
        r->err_line = r->line;
        r->err_col = at - r->line_start + 1;
    } else if (r->line_start == at + 1 && r->line > 1) {
        /* at is the newline that ended the line before */
        r->err_line = r->line - 1;
        r->err_col = at - r->prev_line_start + 1;
    } else {
        r->err_line = r->line;
        r->err_col = at - r->line_start + 1;
    }
    r->err = why;
    r->err_pos = at;
    r->state = S_FAILED;
    return PWSR__JP_ERROR;
}

/* Stops with why k bytes into the current token (a string's raw bytes or a
 * number), after nl newlines in it, the last one at token offset last_nl. */
static pwsr__jp_tok fail_in_token(pwsr__jp *r, pwsr__jp_err why, uint64_t token_start, size_t k, uint64_t nl,
                                  size_t last_nl)
{
    r->err = why;
    r->err_pos = token_start + k;
    r->err_line = r->tok_line + nl;
    r->err_col = nl ? k - last_nl : r->err_pos - r->tok_line_start + 1;
    r->state = S_FAILED;
    return PWSR__JP_ERROR;
}

/* Stops without a position (read failure, too big, no memory). */
static pwsr__jp_tok fail_plain(pwsr__jp *r, pwsr__jp_err why)
{
    r->err = why;
    r->err_pos = pwsr__jp_bytes_read(r);
    r->err_line = r->err_col = 0;
    r->state = S_FAILED;
    return PWSR__JP_ERROR;
}

/* The input ended inside a value: the failure is at its last byte. */
static pwsr__jp_tok truncated(pwsr__jp *r)
{
    uint64_t n = pwsr__jp_bytes_read(r);
    return fail_at(r, PWSR__JP_TRUNCATED, n ? n - 1 : 0);
}

/* Makes n bytes available at pos unless the input ends first; 0, or -1 after
 * recording a failure. */
static int fill(pwsr__jp *r, size_t n)
{
    while (r->end - r->pos < n && !r->eof) {
        if (PWSR__JP_READ_BUF - r->end < MIN_READ) {
            count_lines(r, r->pos);
            memmove(r->buf, r->buf + r->pos, r->end - r->pos);
            r->base += r->pos;
            r->end -= r->pos;
            r->counted = 0;
            r->pos = 0;
        }
        ssize_t got = read(r->fd, r->buf + r->end, PWSR__JP_READ_BUF - r->end);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r->err_errno = errno;
            fail_plain(r, PWSR__JP_READ);
            return -1;
        }
        if (got == 0) {
            r->eof = true;
            break;
        }
        r->end += (size_t)got;
        if (pwsr__jp_bytes_read(r) > r->max_bytes) {
            fail_plain(r, PWSR__JP_TOO_BIG);
            return -1;
        }
    }
    return 0;
}

/* Skips whitespace: every byte up to 32, as cJSON.  1 with a byte at pos, 0 at
 * the end of the input, -1 on failure. */
static int skip_ws(pwsr__jp *r)
{
    for (;;) {
        while (r->pos < r->end && r->buf[r->pos] <= 32)
            r->pos++;
        if (r->pos < r->end)
            return 1;
        if (r->eof)
            return 0;
        if (fill(r, 1))
            return -1;
    }
}

/* Room in str for n more bytes, a closing quote and a NUL; 0 or -1 (failure recorded). */
static int str_room(pwsr__jp *r, size_t n)
{
    if (pws__grow(&r->str, r->str_len, &r->str_cap, n + 1, (size_t)r->max_bytes + 2)) {
        fail_plain(r, PWSR__JP_NOMEM);
        return -1;
    }
    return 0;
}

/* cJSON's parse_hex4: the value of four hex digits, or 0 if one is not a hex digit. */
static unsigned hex4(const unsigned char *s)
{
    unsigned h = 0;
    for (int i = 0; i < 4; i++) {
        int v = pws__hexval((char)s[i]);
        if (v < 0)
            return 0;
        h = h << 4 | (unsigned)v;
    }
    return h;
}

/* cJSON's utf16_literal_to_utf8 for the "\u" escape at in (the content ends at
 * end): its length in bytes (6 or 12) and its code point in *cp, or 0 if it is
 * not a valid escape. */
static size_t utf16_escape(const unsigned char *in, const unsigned char *end, unsigned long *cp)
{
    if (end - in < 6)
        return 0;
    unsigned first = hex4(in + 2);
    if (first >= 0xDC00 && first <= 0xDFFF)
        return 0;
    if (first < 0xD800 || first > 0xDBFF) {
        *cp = first;
        return 6;
    }
    const unsigned char *second = in + 6;
    if (end - second < 6 || second[0] != '\\' || second[1] != 'u')
        return 0;
    unsigned low = hex4(second + 2);
    if (low < 0xDC00 || low > 0xDFFF)
        return 0;
    *cp = 0x10000 + (((unsigned long)(first & 0x3FF) << 10) | (low & 0x3FF));
    return 12;
}

/* Writes cp as UTF-8 at *out (at most 4 bytes; cp <= 0x10FFFF). */
static void put_utf8(unsigned long cp, unsigned char **out)
{
    unsigned char *o = *out;
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | cp >> 6);
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | cp >> 12);
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | cp >> 18);
        *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *out = o;
}

/* cJSON's second pass over the raw content str[0..str_len) (a closing quote
 * after it, which a lone backslash at the end escapes, as in cJSON): decodes
 * in place.  0, or -1 at an escape cJSON refuses (failure recorded at its
 * backslash, content_start being the file offset of str[0]). */
static int decode_string(pwsr__jp *r, uint64_t content_start)
{
    unsigned char *s = (unsigned char *)r->str, *in = s, *end = s + r->str_len, *out = s;
    uint64_t nl = 0;     /* raw newlines before in, for the error's line */
    size_t last_nl = 0;  /* raw offset of the last of them */
    while (in < end) {
        if (*in != '\\') {
            if (*in == '\n') {
                nl++;
                last_nl = (size_t)(in - s);
            }
            *out++ = *in++;
            continue;
        }
        size_t seq = 2;
        unsigned long cp = 0;
        switch (in[1]) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case '"':
        case '\\':
        case '/': *out++ = in[1]; break;
        case 'u':
            seq = utf16_escape(in, end, &cp);
            if (!seq)
                break;
            /* the escape's bytes may hold raw newlines (bad hex digits): count them before
             * the output overwrites them */
            for (size_t i = 2; i < seq; i++)
                if (in[i] == '\n') {
                    nl++;
                    last_nl = (size_t)(in - s) + i;
                }
            put_utf8(cp, &out);
            break;
        default: seq = 0; break;
        }
        if (!seq) {
            fail_in_token(r, PWSR__JP_SYNTAX, content_start, (size_t)(in - s), nl, last_nl);
            return -1;
        }
        in += seq;
    }
    *out = '\0';
    r->str_len = (size_t)(out - s);
    return 0;
}

/* A string whose opening quote is at pos: raw bytes first (cJSON's first pass), then decoded. */
static int read_string(pwsr__jp *r)
{
    r->pos++;
    uint64_t content_start = r->base + r->pos;
    r->str_len = 0;
    for (;;) {
        if (r->pos == r->end) {
            if (fill(r, 1))
                return -1;
            if (r->pos == r->end) {
                truncated(r);
                return -1;
            }
        }
        const unsigned char *s = r->buf + r->pos, *e = r->buf + r->end, *p = s;
        while (p < e && *p != '"' && *p != '\\')
            p++;
        size_t n = (size_t)(p - s);
        if (n) {
            if (str_room(r, n))
                return -1;
            memcpy(r->str + r->str_len, s, n);
            r->str_len += n;
            r->pos += n;
        }
        if (p == e)
            continue;
        if (*p == '"') {
            r->pos++;
            break;
        }
        /* a backslash and the byte after it stay as they are until the second pass */
        if (r->end - r->pos < 2) {
            if (fill(r, 2))
                return -1;
            if (r->end - r->pos < 2) {
                truncated(r);
                return -1;
            }
        }
        if (str_room(r, 2))
            return -1;
        memcpy(r->str + r->str_len, r->buf + r->pos, 2);
        r->str_len += 2;
        r->pos += 2;
    }
    if (str_room(r, 0))
        return -1;
    r->str[r->str_len] = '"';
    return decode_string(r, content_start);
}

static bool number_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static void after_value(pwsr__jp *r)
{
    r->state = r->depth ? S_AFTER : S_DONE;
}

/* A number at pos: the longest run of number bytes, read with strtod (cJSON's
 * parse_number, '.' as the locale's decimal point).  What strtod leaves of the
 * run is an error inside an array or object, and not read after the root. */
static pwsr__jp_tok read_number(pwsr__jp *r)
{
    uint64_t start = r->base + r->pos;
    r->str_len = 0;
    for (;;) {
        size_t i = r->pos;
        while (i < r->end && number_byte(r->buf[i]))
            i++;
        if (i > r->pos) {
            if (str_room(r, i - r->pos))
                return PWSR__JP_ERROR;
            memcpy(r->str + r->str_len, r->buf + r->pos, i - r->pos);
            r->str_len += i - r->pos;
            r->pos = i;
        }
        if (i < r->end)
            break;
        if (fill(r, 1))
            return PWSR__JP_ERROR;
        if (r->pos == r->end)
            break;
    }
    if (str_room(r, 0))
        return PWSR__JP_ERROR;
    r->str[r->str_len] = '\0';
    char point = localeconv()->decimal_point[0];
    if (point != '.')
        for (size_t i = 0; i < r->str_len; i++)
            if (r->str[i] == '.')
                r->str[i] = point;
    char *stop = NULL;
    r->num = strtod(r->str, &stop);
    size_t used = (size_t)(stop - r->str);
    if (!used || (used < r->str_len && r->depth))
        return fail_in_token(r, PWSR__JP_SYNTAX, start, used, 0, 0);
    after_value(r);
    return PWSR__JP_NUMBER;
}

/* true, false or null at pos. */
static pwsr__jp_tok read_literal(pwsr__jp *r, const char *word, size_t n, pwsr__jp_tok tok)
{
    if (fill(r, n))
        return PWSR__JP_ERROR;
    size_t have = r->end - r->pos;
    if (have >= n && !memcmp(r->buf + r->pos, word, n)) {
        r->pos += n;
        after_value(r);
        return tok;
    }
    if (have < n && !memcmp(r->buf + r->pos, word, have))
        return truncated(r);
    return fail_at(r, PWSR__JP_SYNTAX, r->base + r->pos);
}

static pwsr__jp_tok close_container(pwsr__jp *r)
{
    unsigned char open = r->open[--r->depth];
    r->pos++;
    after_value(r);
    return open == '{' ? PWSR__JP_OBJECT_END : PWSR__JP_ARRAY_END;
}

static pwsr__jp_tok read_value(pwsr__jp *r, unsigned char c, uint64_t at)
{
    switch (c) {
    case '{':
    case '[':
        if (r->depth >= PWSR__JP_MAX_DEPTH)
            return fail_at(r, PWSR__JP_TOO_DEEP, at);
        r->open[r->depth++] = c;
        r->pos++;
        r->state = c == '{' ? S_OBJECT_FIRST : S_ARRAY_FIRST;
        return c == '{' ? PWSR__JP_OBJECT : PWSR__JP_ARRAY;
    case '"':
        if (read_string(r))
            return PWSR__JP_ERROR;
        after_value(r);
        return PWSR__JP_STRING;
    case 't': return read_literal(r, "true", 4, PWSR__JP_TRUE);
    case 'f': return read_literal(r, "false", 5, PWSR__JP_FALSE);
    case 'n': return read_literal(r, "null", 4, PWSR__JP_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return read_number(r);
        return fail_at(r, PWSR__JP_SYNTAX, at);
    }
}

pwsr__jp_tok pwsr__jp_next(pwsr__jp *r)
{
    if (r->state == S_FAILED)
        return PWSR__JP_ERROR;
    if (r->state == S_DONE)
        return PWSR__JP_END;
    if (!r->started) {
        /* cJSON skips a byte order mark only when at least 5 bytes follow its start */
        r->started = true;
        if (fill(r, 5))
            return PWSR__JP_ERROR;
        if (r->end - r->pos >= 5 && !memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3))
            r->pos += 3;
    }
    for (;;) {
        int w = skip_ws(r);
        if (w < 0)
            return PWSR__JP_ERROR;
        if (w == 0)
            return truncated(r);
        count_lines(r, r->pos);
        r->tok_line = r->line;
        r->tok_line_start = r->line_start;
        unsigned char c = r->buf[r->pos];
        uint64_t at = r->base + r->pos;
        switch (r->state) {
        case S_COLON:
            if (c != ':')
                return fail_at(r, PWSR__JP_SYNTAX, at);
            r->pos++;
            r->state = S_VALUE;
            continue;
        case S_AFTER: {
            unsigned char open = r->open[r->depth - 1];
            if (c == ',') {
                r->pos++;
                r->state = open == '{' ? S_KEY : S_VALUE;
                continue;
            }
            if ((c == '}' && open == '{') || (c == ']' && open == '['))
                return close_container(r);
            return fail_at(r, PWSR__JP_SYNTAX, at);
        }
        case S_OBJECT_FIRST:
            if (c == '}')
                return close_container(r);
            /* fall through */
        case S_KEY:
            if (c != '"')
                return fail_at(r, PWSR__JP_SYNTAX, at);
            if (read_string(r))
                return PWSR__JP_ERROR;
            r->state = S_COLON;
            return PWSR__JP_KEY;
        case S_ARRAY_FIRST:
            if (c == ']')
                return close_container(r);
            /* fall through */
        default:
            return read_value(r, c, at);
        }
    }
}

int pwsr__jp_skip(pwsr__jp *r, pwsr__jp_tok tok)
{
    if (tok == PWSR__JP_ERROR)
        return -1;
    if (tok != PWSR__JP_OBJECT && tok != PWSR__JP_ARRAY)
        return 0;
    size_t depth = 1;
    while (depth) {
        pwsr__jp_tok t = pwsr__jp_next(r);
        if (t == PWSR__JP_ERROR)
            return -1;
        if (t == PWSR__JP_OBJECT || t == PWSR__JP_ARRAY)
            depth++;
        else if (t == PWSR__JP_OBJECT_END || t == PWSR__JP_ARRAY_END)
            depth--;
    }
    return 0;
}
