/*
 * parse_scan.c - the frame parser's JSON tokenizer: validates and skips
 * strings (escapes, surrogate pairs, UTF-8 per RFC 3629), literals and whole
 * containers, with the nesting limit followed by an explicit bit stack
 * instead of recursion, so that a hostile frame cannot exhaust the C stack
 * whatever max_depth says.  The frame is not NUL-terminated: every read
 * checks ps->end first.  Numbers are scanned by numparse.h (scan_number()).
 *
 * Strings are examined 8 bytes at a time (special_bytes()) on little-endian
 * GCC/Clang targets, with a table-driven byte loop elsewhere and near the end
 * of the buffer.
 */
#include "parse_internal.h"

/* Bytes that end a run of plain string content: '"', '\\', controls, and
 * non-ASCII (which needs UTF-8 validation). */
static const uint8_t str_special[256] = {
    /* 0x00-0x1f: control characters */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x22 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x5c '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80-0xff: non-ASCII */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* The value of a hex digit (either case), or -1. */
static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at p.  Returns 1 and the code unit, 0 if
 * a digit is not hex, -1 if `end` cuts them short. */
static int read_hex4(const char *p, const char *end, unsigned *unit)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= end)
            return -1;
        int h = hex_value((unsigned char)p[i]);
        if (h < 0)
            return 0;
        u = (u << 4) | (unsigned)h;
    }
    *unit = u;
    return 1;
}

/* Validates one escape at p ('\\').  Returns the position after it. */
static const char *scan_escape(parser *ps, const char *p)
{
    const char *end = ps->end;
    unsigned unit, low;
    int rc;

    if (end - p < 2)
        return fail(ps, end, R_EOF);
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    case 'u':
        break;
    default:
        return fail(ps, p, R_ESCAPE);
    }
    rc = read_hex4(p + 2, end, &unit);
    if (rc <= 0)
        return fail(ps, rc < 0 ? end : p, rc < 0 ? R_EOF : R_UESCAPE);
    if (unit < 0xD800 || unit > 0xDFFF)
        return p + 6;
    if (unit >= 0xDC00) /* a low surrogate with no high one before it */
        return fail(ps, p, R_SURROGATE);
    /* A high surrogate must be followed at once by "\u" + a low surrogate. */
    if (end - p < 8)
        return fail(ps, end, R_EOF);
    if (p[6] != '\\' || p[7] != 'u')
        return fail(ps, p, R_SURROGATE);
    rc = read_hex4(p + 8, end, &low);
    if (rc <= 0)
        return fail(ps, rc < 0 ? end : p + 6, rc < 0 ? R_EOF : R_UESCAPE);
    if (low < 0xDC00 || low > 0xDFFF)
        return fail(ps, p, R_SURROGATE);
    return p + 12;
}

/* Validates one UTF-8 sequence at p (lead byte >= 0x80): shortest form only,
 * no surrogates, nothing above U+10FFFF (RFC 3629).  Returns the position
 * after it. */
static const char *scan_utf8(parser *ps, const char *p)
{
    const char *end = ps->end;
    unsigned char c = (unsigned char)p[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    int need;

    if (c < 0xC2) {
        return fail(ps, p, R_UTF8); /* stray continuation byte or overlong 2-byte form */
    } else if (c < 0xE0) {
        need = 1;
    } else if (c < 0xF0) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c < 0xF5) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return fail(ps, p, R_UTF8);
    }
    for (int i = 1; i <= need; i++) {
        if (p + i >= end)
            return fail(ps, end, R_EOF);
        unsigned char b = (unsigned char)p[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80)
            return fail(ps, p, R_UTF8);
    }
    return p + 1 + need;
}

const char *pws__parse_scan_string(parser *ps, const char *p, bool *escaped)
{
    const char *end = ps->end;
    bool esc = false;

    p++;
    for (;;) {
#if PWS__SWAR_DIGITS /* little-endian with __builtin_ctzll */
        if (end - p >= 8) {
            uint64_t special = special_bytes(p);
            if (special == 0) {
                p += 8;
                continue;
            }
            p += __builtin_ctzll(special) >> 3;
        } else
#endif
        {
            while (p < end && !str_special[(unsigned char)*p])
                p++;
            if (p == end)
                return fail(ps, end, R_EOF);
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *escaped = esc;
            return p + 1;
        }
        if (c == '\\') {
            esc = true;
            p = scan_escape(ps, p);
        } else if (c < 0x20) {
            return fail(ps, p, R_CONTROL);
        } else {
            p = scan_utf8(ps, p);
        }
        if (p == NULL)
            return NULL;
    }
}

/* Scans true / false / null at p.  Returns the position after it. */
static const char *scan_literal(parser *ps, const char *p, const char *word, size_t n)
{
    size_t avail = (size_t)(ps->end - p);
    if (avail >= n) {
        if (memcmp(p, word, n) == 0)
            return p + n;
        return fail(ps, p, R_LITERAL);
    }
    /* A cut-off prefix of the word is truncation, anything else is garbage. */
    if (memcmp(p, word, avail) == 0)
        return fail(ps, ps->end, R_EOF);
    return fail(ps, p, R_LITERAL);
}

/* The reason for a byte that cannot start a value. */
static enum reason bad_value_reason(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    bool second_n_or_a = end - p >= 2 && (p[1] == 'n' || p[1] == 'a' || p[1] == 'A');
    if (c == 'N' || c == 'I' || ((c == 'i' || c == 'n') && second_n_or_a)) /* NaN, Infinity, nan, inf */
        return R_NAN;
    return R_VALUE;
}

/* Skips one array or object at p ('[' or '{'), validating all of it, without
 * recursion.  `depth` is the nesting depth this container has (the
 * top-level array is 1).  Returns the position after it. */
static const char *skip_container(parser *ps, const char *p, unsigned depth)
{
    const char *end = ps->end;
    uint64_t is_object[DEPTH_CAP / 64]; /* bit per open container: 1 = object */
    unsigned level = 0;                 /* containers open in this call */
    pws__number scratch;
    bool esc;

open:
    /* p is at '[' or '{' */
    if (depth + level > ps->max_depth)
        return fail(ps, p, R_DEPTH);
    if (*p == '{')
        is_object[level / 64] |= (uint64_t)1 << (level % 64);
    else
        is_object[level / 64] &= ~((uint64_t)1 << (level % 64));
    level++;
    p = skip_ws(p + 1, end);
    if (p == end)
        return fail(ps, end, R_EOF);
    if (is_object[(level - 1) / 64] >> ((level - 1) % 64) & 1) {
        if (*p == '}')
            goto close;
        goto key;
    }
    if (*p == ']')
        goto close;
    goto value;

key:
    if (*p != '"')
        return fail(ps, p, R_KEY);
    if ((p = pws__parse_scan_string(ps, p, &esc)) == NULL)
        return NULL;
    p = skip_ws(p, end);
    if (p == end)
        return fail(ps, end, R_EOF);
    if (*p != ':')
        return fail(ps, p, R_COLON);
    p = skip_ws(p + 1, end);
    if (p == end)
        return fail(ps, end, R_EOF);

value:
    switch (*p) {
    case '{':
    case '[':
        goto open;
    case '"':
        p = pws__parse_scan_string(ps, p, &esc);
        break;
    case 't':
        p = scan_literal(ps, p, "true", 4);
        break;
    case 'f':
        p = scan_literal(ps, p, "false", 5);
        break;
    case 'n':
        if (end - p >= 2 && p[1] == 'a')
            return fail(ps, p, R_NAN);
        p = scan_literal(ps, p, "null", 4);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = scan_number(ps, p, &scratch);
        break;
    default:
        return fail(ps, p, bad_value_reason(p, end));
    }
    if (p == NULL)
        return NULL;

after_value:
    /* p is after a value (or a closed container) inside container number `level` */
    p = skip_ws(p, end);
    if (p == end)
        return fail(ps, end, R_EOF);
    if (is_object[(level - 1) / 64] >> ((level - 1) % 64) & 1) {
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (p == end)
                return fail(ps, end, R_EOF);
            goto key;
        }
        if (*p != '}')
            return fail(ps, p, R_OBJECT_SEP);
    } else {
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (p == end)
                return fail(ps, end, R_EOF);
            goto value;
        }
        if (*p != ']')
            return fail(ps, p, R_ARRAY_SEP);
    }

close:
    /* p is at the closing bracket of container number `level` */
    p++;
    if (--level == 0)
        return p;
    goto after_value;
}

const char *pws__parse_scan_value(parser *ps, const char *p, unsigned depth, uint8_t *kind_out,
                                  bool *escaped_out)
{
    pws__number scratch;
    bool esc = false;
    uint8_t kind;

    switch (*p) {
    case '"':
        p = pws__parse_scan_string(ps, p, &esc);
        kind = VK_STRING;
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = scan_number(ps, p, &scratch);
        kind = VK_NUMBER;
        break;
    case 't':
        p = scan_literal(ps, p, "true", 4);
        kind = VK_TRUE;
        break;
    case 'f':
        p = scan_literal(ps, p, "false", 5);
        kind = VK_FALSE;
        break;
    case 'n':
        if (ps->end - p >= 2 && p[1] == 'a')
            return fail(ps, p, R_NAN);
        p = scan_literal(ps, p, "null", 4);
        kind = VK_NULL;
        break;
    case '[':
        p = skip_container(ps, p, depth + 1);
        kind = VK_ARRAY;
        break;
    case '{':
        p = skip_container(ps, p, depth + 1);
        kind = VK_OBJECT;
        break;
    default:
        return fail(ps, p, bad_value_reason(p, ps->end));
    }
    if (kind_out != NULL) {
        *kind_out = kind;
        *escaped_out = esc;
    }
    return p;
}
