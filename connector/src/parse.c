/*
 * parse.c - the Polygon frame parser: one JSON array of event objects in,
 * typed events out, with no allocation.
 *
 * Strategy.  The "ev" key decides how every other key is read, but JSON does
 * not promise it comes first.  So each element object is scanned once from
 * '{' to '}': the scan validates everything (grammar, escapes, UTF-8, depth)
 * and, for the ~30 keys any supported event uses, records where the value is
 * and what JSON type it has in a small fixed table indexed by key (numbers are
 * also pre-scanned into digits and exponent there).  A later duplicate simply
 * overwrites the entry, which is "last one wins".  Unknown keys are skipped.
 * Only once the object is known to be well-formed is "ev" looked up and the
 * recorded values decoded into the typed struct; that second step touches
 * just the few recorded spans, so the frame is effectively read once.
 *
 * Errors.  A syntax error anywhere ends the frame: the events completed
 * before it have already gone to the sink, and one PWS_EV_PARSE_ERROR follows.
 * A well-formed element that does not fit its type (wrong JSON type, missing
 * "ev"/"sym", a value too long, an integer out of range) yields one
 * PWS_EV_PARSE_ERROR for that element and parsing goes on.  An element that
 * has both kinds of problem reports only the syntax error, since the frame is
 * broken anyway.
 *
 * Safety.  The frame is not NUL-terminated: every read checks `end` first.
 * Nesting is followed with an explicit bit stack instead of recursion, so a
 * hostile frame cannot exhaust the C stack whatever max_depth says.
 */
#include "numparse.h"

#include <polyws/parse.h>

#include <math.h>
#include <stddef.h>
#include <string.h>

/* --------------------------------------------------------------- reasons */

/* Every reason is a static string: events carry the pointer, never a copy. */
static const char R_EOF[] = "unexpected end of input";
static const char R_TOP[] = "top level is not an array";
static const char R_TRAILING[] = "trailing characters after array";
static const char R_VALUE[] = "expected a value";
static const char R_ARRAY_SEP[] = "expected ',' or ']'";
static const char R_OBJECT_SEP[] = "expected ',' or '}'";
static const char R_KEY[] = "expected a string key";
static const char R_COLON[] = "expected ':'";
static const char R_LITERAL[] = "invalid literal";
static const char R_NAN[] = "NaN or Infinity not allowed";
static const char R_CONTROL[] = "control character in string";
static const char R_ESCAPE[] = "invalid escape";
static const char R_UESCAPE[] = "invalid \\u escape";
static const char R_SURROGATE[] = "invalid surrogate pair";
static const char R_UTF8[] = "invalid UTF-8";
static const char R_DEPTH[] = "nesting too deep";
static const char R_FRAME[] = "frame too large";

static const char R_NOT_OBJECT[] = "element is not an object";
static const char R_NO_EV[] = "missing \"ev\"";
static const char R_EV_TYPE[] = "\"ev\" is not a string";
static const char R_NO_SYM[] = "missing \"sym\"";
static const char R_WANT_STRING[] = "expected a string";
static const char R_WANT_NUMBER[] = "expected a number";
static const char R_WANT_INT[] = "expected an integer";
static const char R_WANT_BOOL[] = "expected a boolean";
static const char R_WANT_INT_LIST[] = "expected an array of integers";
static const char R_INT_RANGE[] = "integer out of range";
static const char R_NUM_RANGE[] = "number out of range";
static const char R_NUM_LONG[] = "number too long";
static const char R_STR_LONG[] = "string too long";
static const char R_TOO_MANY[] = "too many conditions";
static const char R_NUL[] = "NUL character in string";

/* ------------------------------------------------------------- key slots */

/* Every key that some supported event type reads.  The parser records the
 * value of each in a fixed table; all other keys are skipped. */
enum slot {
    SLOT_EV, SLOT_SYM, SLOT_V, SLOT_AV, SLOT_OP, SLOT_VW, SLOT_O, SLOT_C, SLOT_H, SLOT_L,
    SLOT_A, SLOT_Z, SLOT_S, SLOT_E, SLOT_OTC, SLOT_X, SLOT_I, SLOT_P, SLOT_T, SLOT_Q,
    SLOT_TRFI, SLOT_TRFT, SLOT_BX, SLOT_BP, SLOT_BS, SLOT_AX, SLOT_AP, SLOT_AS,
    SLOT_STATUS, SLOT_MESSAGE,
    SLOT__COUNT
};

#define SLOT_BIT(s) (1u << (s))

/* Longest known key ("message"); longer keys are unknown without a look. */
#define KEY_MAX_LEN 7

/* Maps a key (decoded bytes) to its slot, or -1 for a key no event reads. */
static int classify_key(const char *k, size_t n)
{
    switch (n) {
    case 1:
        switch (k[0]) {
        case 'v': return SLOT_V;
        case 'o': return SLOT_O;
        case 'c': return SLOT_C;
        case 'h': return SLOT_H;
        case 'l': return SLOT_L;
        case 'a': return SLOT_A;
        case 'z': return SLOT_Z;
        case 's': return SLOT_S;
        case 'e': return SLOT_E;
        case 'x': return SLOT_X;
        case 'i': return SLOT_I;
        case 'p': return SLOT_P;
        case 't': return SLOT_T;
        case 'q': return SLOT_Q;
        default: return -1;
        }
    case 2:
        switch (k[0]) {
        case 'e': return k[1] == 'v' ? SLOT_EV : -1;
        case 'o': return k[1] == 'p' ? SLOT_OP : -1;
        case 'v': return k[1] == 'w' ? SLOT_VW : -1;
        case 'a':
            switch (k[1]) {
            case 'v': return SLOT_AV;
            case 'x': return SLOT_AX;
            case 'p': return SLOT_AP;
            case 's': return SLOT_AS;
            default: return -1;
            }
        case 'b':
            switch (k[1]) {
            case 'x': return SLOT_BX;
            case 'p': return SLOT_BP;
            case 's': return SLOT_BS;
            default: return -1;
            }
        default: return -1;
        }
    case 3:
        if (memcmp(k, "sym", 3) == 0)
            return SLOT_SYM;
        return memcmp(k, "otc", 3) == 0 ? SLOT_OTC : -1;
    case 4:
        if (memcmp(k, "trf", 3) != 0)
            return -1;
        return k[3] == 'i' ? SLOT_TRFI : k[3] == 't' ? SLOT_TRFT : -1;
    case 6: return memcmp(k, "status", 6) == 0 ? SLOT_STATUS : -1;
    case 7: return memcmp(k, "message", 7) == 0 ? SLOT_MESSAGE : -1;
    default: return -1;
    }
}

/* ---------------------------------------------------------- parser state */

/* JSON type of a recorded value. */
enum value_kind { VK_STRING, VK_NUMBER, VK_TRUE, VK_FALSE, VK_NULL, VK_ARRAY, VK_OBJECT };

/* Where a known key's value sits in the frame, recorded by the scan. */
typedef struct field_value {
    const char *start; /* first byte of the value (the quote of a string) */
    const char *end;   /* one past its last byte */
    uint8_t kind;      /* enum value_kind */
    bool escaped;      /* strings: at least one backslash escape inside */
    pws__number num;   /* numbers: digits and exponent, ready to convert */
} field_value;

/* Hard cap on max_depth: the container bit stack below has this many bits
 * (128 bytes of stack).  Larger requested limits are clamped to it. */
#define DEPTH_CAP PWS_PARSE_MAX_DEPTH_CAP

/* One parse of one frame.  Lives on the caller's stack (~1.8 KiB). */
typedef struct parser {
    const char *buf;        /* start of the frame, for offsets */
    const char *end;        /* one past its last byte; nothing at or past it is read */
    unsigned max_depth;     /* nesting limit, the top-level array being depth 1 */
    pws_event_sink sink;    /* where events go */
    void *user;             /* passed to sink */
    long count;             /* events passed to sink so far */
    bool stopped;           /* the sink asked to stop */
    const char *err_at;     /* syntax error position (first error wins) */
    const char *err_reason; /* syntax error reason, NULL while none */
    uint32_t seen;          /* SLOT_BIT()s recorded for the current object */
    field_value vals[SLOT__COUNT]; /* recorded values; only `seen` entries are valid */
    pws_event ev;           /* the event being built, reused for every element */
} parser;

/* Records a syntax error (the first one wins) and returns NULL so scanners can
 * `return fail(...)`. */
static const char *fail(parser *ps, const char *at, const char *reason)
{
    if (ps->err_reason == NULL) {
        ps->err_at = at;
        ps->err_reason = reason;
    }
    return NULL;
}

static void emit(parser *ps)
{
    ps->count++;
    if (ps->sink(&ps->ev, ps->user) != 0)
        ps->stopped = true;
}

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

static void emit_error(parser *ps, size_t offset, const char *reason)
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

static void element_error(parser *ps, const char *at, const char *reason)
{
    emit_error(ps, (size_t)(at - ps->buf), reason);
}

/* ------------------------------------------------------------- scanning */

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

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

/* True if none of the 8 bytes at p is special (SWAR: "has a zero byte" tests
 * on x ^ '"' and x ^ '\\', "has a byte < 0x20", and the high bits). */
static inline bool chunk_is_plain(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    uint64_t v, q, b, t;

    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v;
    return (t & highs) == 0;
}

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

/* Scans a string at p ('"'), validating escapes and UTF-8.  Returns the
 * position after the closing quote; *escaped tells whether a backslash
 * occurred (an escape-free string can be copied as is). */
static const char *scan_string(parser *ps, const char *p, bool *escaped)
{
    const char *end = ps->end;
    bool esc = false;

    p++;
    for (;;) {
        while (end - p >= 8 && chunk_is_plain(p))
            p += 8;
        while (p < end && !str_special[(unsigned char)*p])
            p++;
        if (p == end)
            return fail(ps, end, R_EOF);
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

static const char *scan_number(parser *ps, const char *p, pws__number *num)
{
    const char *err_at, *reason;
    const char *q = pws__scan_number(p, ps->end, num, &err_at, &reason);
    return q ? q : fail(ps, err_at, reason);
}

/* The reason for a byte that cannot start a value. */
static const char *bad_value_reason(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    if (c == 'N' || c == 'I' || c == 'i' || (c == 'n' && end - p >= 2 && (p[1] == 'a' || p[1] == 'A')))
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
    if ((p = scan_string(ps, p, &esc)) == NULL)
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
        p = scan_string(ps, p, &esc);
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

    /* after a value inside container number `level` */
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
    goto close;
}

/* Scans any value at p (p < end) inside a container of depth `depth`,
 * recording its kind (and number) into fv if fv is not NULL.  Returns the
 * position after it. */
static inline const char *scan_value(parser *ps, const char *p, unsigned depth, field_value *fv)
{
    pws__number scratch;
    bool esc = false;
    uint8_t kind;

    switch (*p) {
    case '"':
        p = scan_string(ps, p, &esc);
        kind = VK_STRING;
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = scan_number(ps, p, fv ? &fv->num : &scratch);
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
    if (fv != NULL) {
        fv->kind = kind;
        fv->escaped = esc;
    }
    return p;
}

/* ------------------------------------------------------------- decoding */

/* Appends code point cp as UTF-8 to out; returns the byte count. */
static size_t utf8_encode(unsigned cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned hex4(const char *p)
{
    return (unsigned)(hex_value((unsigned char)p[0]) << 12 | hex_value((unsigned char)p[1]) << 8 |
                      hex_value((unsigned char)p[2]) << 4 | hex_value((unsigned char)p[3]));
}

/* Decodes a validated string value (fv->start at its opening quote) into
 * out[cap] as NUL-terminated UTF-8.  If it does not fit, the output is cut at
 * a code-point boundary and *truncated is set; *nul is set if it contained
 * U+0000 (which a C string cannot hold).  Returns the decoded length. */
static size_t decode_string(const field_value *fv, char *out, size_t cap, bool *truncated, bool *nul)
{
    const char *s = fv->start + 1;
    const char *e = fv->end - 1;
    size_t n = 0;

    if (!fv->escaped) {
        size_t len = (size_t)(e - s);
        if (len >= cap) {
            *truncated = true;
            len = cap - 1;
            while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
                len--;
        }
        memcpy(out, s, len);
        out[len] = '\0';
        return len;
    }
    while (s < e) {
        char tmp[4];
        const char *src = tmp;
        size_t k;
        unsigned char c = (unsigned char)*s;
        if (c != '\\') {
            /* one whole UTF-8 sequence, copied as is (already validated) */
            k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            src = s;
            s += k;
        } else if (s[1] != 'u') {
            switch (s[1]) {
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            default: tmp[0] = s[1]; break; /* '"', '\\', '/' */
            }
            k = 1;
            s += 2;
        } else {
            unsigned cp = hex4(s + 2);
            s += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* validated: a low surrogate follows */
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s + 2) - 0xDC00);
                s += 6;
            }
            if (cp == 0)
                *nul = true;
            k = utf8_encode(cp, tmp);
        }
        if (n + k > cap - 1) {
            *truncated = true;
            break;
        }
        memcpy(out + n, src, k);
        n += k;
    }
    out[n] = '\0';
    return n;
}

/* Field types of the typed structs. */
enum field_type { FT_STR, FT_I64, FT_I32, FT_F64, FT_BOOL, FT_I32_LIST };

/* How one key is stored in one event struct. */
typedef struct field_spec {
    uint8_t slot;    /* enum slot of the key */
    uint8_t type;    /* enum field_type */
    uint16_t offset; /* offset of the value in the struct */
    uint16_t aux;    /* FT_STR: buffer size; FT_I32_LIST: offset of the uint32_t count */
    uint32_t bit;    /* presence bit */
} field_spec;

#define F(st, sl, ty, fld, ax, b) { sl, ty, (uint16_t)offsetof(st, fld), (uint16_t)(ax), b }

static const field_spec agg_fields[] = {
    F(pws_agg, SLOT_V, FT_I64, v, 0, PWS_AGG_V),
    F(pws_agg, SLOT_AV, FT_I64, av, 0, PWS_AGG_AV),
    F(pws_agg, SLOT_OP, FT_F64, op, 0, PWS_AGG_OP),
    F(pws_agg, SLOT_VW, FT_F64, vw, 0, PWS_AGG_VW),
    F(pws_agg, SLOT_O, FT_F64, o, 0, PWS_AGG_O),
    F(pws_agg, SLOT_C, FT_F64, c, 0, PWS_AGG_C),
    F(pws_agg, SLOT_H, FT_F64, h, 0, PWS_AGG_H),
    F(pws_agg, SLOT_L, FT_F64, l, 0, PWS_AGG_L),
    F(pws_agg, SLOT_A, FT_F64, a, 0, PWS_AGG_A),
    F(pws_agg, SLOT_Z, FT_I64, z, 0, PWS_AGG_Z),
    F(pws_agg, SLOT_S, FT_I64, s, 0, PWS_AGG_S),
    F(pws_agg, SLOT_E, FT_I64, e, 0, PWS_AGG_E),
    F(pws_agg, SLOT_OTC, FT_BOOL, otc, 0, PWS_AGG_OTC),
};

static const field_spec trade_fields[] = {
    F(pws_trade, SLOT_X, FT_I32, x, 0, PWS_TRADE_X),
    F(pws_trade, SLOT_I, FT_STR, i, PWS_TRADE_ID_MAX, PWS_TRADE_I),
    F(pws_trade, SLOT_Z, FT_I32, z, 0, PWS_TRADE_Z),
    F(pws_trade, SLOT_P, FT_F64, p, 0, PWS_TRADE_P),
    F(pws_trade, SLOT_S, FT_I64, s, 0, PWS_TRADE_S),
    F(pws_trade, SLOT_C, FT_I32_LIST, c, offsetof(pws_trade, nc), PWS_TRADE_C),
    F(pws_trade, SLOT_T, FT_I64, t, 0, PWS_TRADE_T),
    F(pws_trade, SLOT_Q, FT_I64, q, 0, PWS_TRADE_Q),
    F(pws_trade, SLOT_TRFI, FT_I32, trfi, 0, PWS_TRADE_TRFI),
    F(pws_trade, SLOT_TRFT, FT_I64, trft, 0, PWS_TRADE_TRFT),
};

static const field_spec quote_fields[] = {
    F(pws_quote, SLOT_BX, FT_I32, bx, 0, PWS_QUOTE_BX),
    F(pws_quote, SLOT_BP, FT_F64, bp, 0, PWS_QUOTE_BP),
    F(pws_quote, SLOT_BS, FT_I64, bs, 0, PWS_QUOTE_BS),
    F(pws_quote, SLOT_AX, FT_I32, ax, 0, PWS_QUOTE_AX),
    F(pws_quote, SLOT_AP, FT_F64, ap, 0, PWS_QUOTE_AP),
    F(pws_quote, SLOT_AS, FT_I64, as, 0, PWS_QUOTE_AS),
    F(pws_quote, SLOT_C, FT_I32, c, 0, PWS_QUOTE_C),
    F(pws_quote, SLOT_I, FT_I32_LIST, i, offsetof(pws_quote, ni), PWS_QUOTE_I),
    F(pws_quote, SLOT_T, FT_I64, t, 0, PWS_QUOTE_T),
    F(pws_quote, SLOT_Q, FT_I64, q, 0, PWS_QUOTE_Q),
    F(pws_quote, SLOT_Z, FT_I32, z, 0, PWS_QUOTE_Z),
};

#undef F

/* Converts a recorded number to an integer of the field's width. */
static const char *decode_int(const pws__number *num, bool narrow, int64_t *out)
{
    int rc = pws__number_to_int64(num, out);
    if (rc == PWS__INT_NOT_INTEGER)
        return R_WANT_INT;
    if (rc != PWS__INT_OK || (narrow && (*out < INT32_MIN || *out > INT32_MAX)))
        return R_INT_RANGE;
    return NULL;
}

/* Reads a validated array of integers (fv at '[') into list[PWS_MAX_CONDITIONS]. */
static const char *decode_int_list(parser *ps, const field_value *fv, int32_t *list, uint32_t *count,
                                   const char **err_at)
{
    const char *p = skip_ws(fv->start + 1, fv->end);
    const char *end = fv->end;
    uint32_t n = 0;

    while (*p != ']') {
        pws__number num;
        const char *item = p;
        int64_t v;
        const char *reason;
        if (*p != '-' && (*p < '0' || *p > '9')) {
            *err_at = item;
            return R_WANT_INT_LIST;
        }
        p = scan_number(ps, p, &num);
        if (p == NULL) { /* cannot happen: the scan validated it */
            *err_at = item;
            return R_WANT_INT_LIST;
        }
        if ((reason = decode_int(&num, true, &v)) != NULL) {
            *err_at = item;
            return reason == R_WANT_INT ? R_WANT_INT_LIST : reason;
        }
        if (n == PWS_MAX_CONDITIONS) {
            *err_at = item;
            return R_TOO_MANY;
        }
        list[n++] = (int32_t)v;
        p = skip_ws(p, end);
        if (*p == ',')
            p = skip_ws(p + 1, end);
    }
    *count = n;
    return NULL;
}

/* Decodes one recorded value into its struct field.  Returns NULL, or an
 * element-error reason with *err_at set. */
static const char *decode_field(parser *ps, const field_spec *f, const field_value *fv, char *base,
                                const char **err_at)
{
    const char *reason;
    int64_t iv;
    double dv;

    *err_at = fv->start;
    switch (f->type) {
    case FT_I64:
        if (fv->kind != VK_NUMBER)
            return R_WANT_INT;
        if ((reason = decode_int(&fv->num, false, &iv)) != NULL)
            return reason;
        memcpy(base + f->offset, &iv, sizeof iv);
        return NULL;
    case FT_I32: {
        int32_t narrow;
        if (fv->kind != VK_NUMBER)
            return R_WANT_INT;
        if ((reason = decode_int(&fv->num, true, &iv)) != NULL)
            return reason;
        narrow = (int32_t)iv;
        memcpy(base + f->offset, &narrow, sizeof narrow);
        return NULL;
    }
    case FT_F64:
        if (fv->kind != VK_NUMBER)
            return R_WANT_NUMBER;
        if (pws__number_to_double(&fv->num, fv->start, (size_t)(fv->end - fv->start), &dv) != 0)
            return R_NUM_LONG;
        if (isinf(dv))
            return R_NUM_RANGE;
        memcpy(base + f->offset, &dv, sizeof dv);
        return NULL;
    case FT_BOOL: {
        bool b = fv->kind == VK_TRUE;
        if (fv->kind != VK_TRUE && fv->kind != VK_FALSE)
            return R_WANT_BOOL;
        memcpy(base + f->offset, &b, sizeof b);
        return NULL;
    }
    case FT_STR: {
        bool truncated = false, nul = false;
        if (fv->kind != VK_STRING)
            return R_WANT_STRING;
        decode_string(fv, base + f->offset, f->aux, &truncated, &nul);
        if (truncated)
            return R_STR_LONG;
        return nul ? R_NUL : NULL;
    }
    case FT_I32_LIST: {
        uint32_t n = 0;
        int32_t list[PWS_MAX_CONDITIONS];
        if (fv->kind != VK_ARRAY)
            return R_WANT_INT_LIST;
        if ((reason = decode_int_list(ps, fv, list, &n, err_at)) != NULL)
            return reason;
        memcpy(base + f->offset, list, n * sizeof list[0]);
        memcpy(base + f->aux, &n, sizeof n);
        return NULL;
    }
    default:
        return R_WANT_STRING; /* unreachable: every table entry has a type */
    }
}

/* Decodes "sym" and the fields of one market-data struct.  Returns false
 * after emitting an element error. */
static bool decode_market(parser *ps, const char *obj, char *base, size_t sym_offset,
                          uint32_t *present, const field_spec *fields, size_t nfields)
{
    const field_value *fv = &ps->vals[SLOT_SYM];
    uint32_t seen = ps->seen;
    uint32_t bits = 0;
    bool truncated = false, nul = false;
    const char *reason, *err_at;

    if (!(seen & SLOT_BIT(SLOT_SYM))) {
        element_error(ps, obj, R_NO_SYM);
        return false;
    }
    if (fv->kind != VK_STRING) {
        element_error(ps, fv->start, R_WANT_STRING);
        return false;
    }
    decode_string(fv, base + sym_offset, PWS_SYMBOL_MAX, &truncated, &nul);
    if (truncated || nul) {
        element_error(ps, fv->start, truncated ? R_STR_LONG : R_NUL);
        return false;
    }
    for (size_t k = 0; k < nfields; k++) {
        const field_spec *f = &fields[k];
        if (!(seen & SLOT_BIT(f->slot)))
            continue;
        if ((reason = decode_field(ps, f, &ps->vals[f->slot], base, &err_at)) != NULL) {
            element_error(ps, err_at, reason);
            return false;
        }
        bits |= f->bit;
    }
    *present = bits;
    return true;
}

/* Decodes an optional status text; returns false after an element error. */
static bool decode_status_text(parser *ps, enum slot slot, char *out, size_t cap, bool *truncated)
{
    const field_value *fv = &ps->vals[slot];
    bool nul = false;

    if (!(ps->seen & SLOT_BIT(slot)))
        return true;
    if (fv->kind != VK_STRING) {
        element_error(ps, fv->start, R_WANT_STRING);
        return false;
    }
    decode_string(fv, out, cap, truncated, &nul);
    if (nul) {
        element_error(ps, fv->start, R_NUL);
        return false;
    }
    return true;
}

/* Turns the recorded values of one well-formed object obj..obj_end into an
 * event (or an element error) and hands it to the sink. */
static void decode_element(parser *ps, const char *obj, const char *obj_end)
{
    const field_value *evv = &ps->vals[SLOT_EV];
    pws_event *ev = &ps->ev;
    char name[PWS_EV_NAME_MAX];
    bool truncated = false, nul = false;
    size_t n;

    if (!(ps->seen & SLOT_BIT(SLOT_EV))) {
        element_error(ps, obj, R_NO_EV);
        return;
    }
    if (evv->kind != VK_STRING) {
        element_error(ps, evv->start, R_EV_TYPE);
        return;
    }
    n = decode_string(evv, name, sizeof name, &truncated, &nul);
    if (nul) {
        element_error(ps, evv->start, R_NUL);
        return;
    }

    memset(ev, 0, sizeof *ev);
    if (!truncated && (n == 1 || (n == 2 && name[0] == 'A' && name[1] == 'M'))) {
        switch (name[0]) {
        case 'A':
            ev->type = PWS_EV_AGG;
            ev->u.agg.minute = n == 2;
            if (!decode_market(ps, obj, (char *)&ev->u.agg, offsetof(pws_agg, sym), &ev->u.agg.present,
                               agg_fields, sizeof agg_fields / sizeof agg_fields[0]))
                return;
            emit(ps);
            return;
        case 'T':
            ev->type = PWS_EV_TRADE;
            if (!decode_market(ps, obj, (char *)&ev->u.trade, offsetof(pws_trade, sym),
                               &ev->u.trade.present, trade_fields,
                               sizeof trade_fields / sizeof trade_fields[0]))
                return;
            emit(ps);
            return;
        case 'Q':
            ev->type = PWS_EV_QUOTE;
            if (!decode_market(ps, obj, (char *)&ev->u.quote, offsetof(pws_quote, sym),
                               &ev->u.quote.present, quote_fields,
                               sizeof quote_fields / sizeof quote_fields[0]))
                return;
            emit(ps);
            return;
        default:
            break;
        }
    }
    if (!truncated && n == 6 && memcmp(name, "status", 6) == 0) {
        pws_status *st = &ev->u.status;
        bool cut_word = false, cut_message = false;
        ev->type = PWS_EV_STATUS;
        if (!decode_status_text(ps, SLOT_STATUS, st->status, sizeof st->status, &cut_word) ||
            !decode_status_text(ps, SLOT_MESSAGE, st->message, sizeof st->message, &cut_message))
            return;
        st->truncated = cut_word || cut_message;
        st->kind = cut_word ? PWS_STATUS_UNKNOWN : pws_status_kind_from_word(st->status, strlen(st->status));
        emit(ps);
        return;
    }
    ev->type = PWS_EV_OTHER;
    memcpy(ev->u.other.ev, name, n + 1);
    ev->u.other.json = obj;
    ev->u.other.json_len = (size_t)(obj_end - obj);
    emit(ps);
}

/* Parses one element object at p ('{'), records known keys, then decodes it.
 * Returns the position after the object, or NULL on a syntax error. */
static const char *parse_element(parser *ps, const char *p)
{
    const char *end = ps->end;
    const char *obj = p;
    uint32_t seen = 0;
    bool esc;

    if (ps->max_depth < 2)
        return fail(ps, p, R_DEPTH);
    p = skip_ws(p + 1, end);
    if (p == end)
        return fail(ps, end, R_EOF);
    if (*p != '}') {
        for (;;) {
            const char *key = p + 1;
            int slot;
            if (*p != '"')
                return fail(ps, p, R_KEY);
            if ((p = scan_string(ps, p, &esc)) == NULL)
                return NULL;
            if (!esc) {
                slot = classify_key(key, (size_t)(p - 1 - key));
            } else {
                /* Escaped key (rare): decode it first, "\u0065v" is "ev". */
                field_value kv = { .start = key - 1, .end = p, .kind = VK_STRING, .escaped = true };
                char decoded[KEY_MAX_LEN + 1];
                bool truncated = false, nul = false;
                size_t n = decode_string(&kv, decoded, sizeof decoded, &truncated, &nul);
                slot = (truncated || nul) ? -1 : classify_key(decoded, n);
            }
            p = skip_ws(p, end);
            if (p == end)
                return fail(ps, end, R_EOF);
            if (*p != ':')
                return fail(ps, p, R_COLON);
            p = skip_ws(p + 1, end);
            if (p == end)
                return fail(ps, end, R_EOF);
            if (slot >= 0) {
                field_value *fv = &ps->vals[slot];
                fv->start = p;
                if ((p = scan_value(ps, p, 2, fv)) == NULL)
                    return NULL;
                fv->end = p;
                seen |= SLOT_BIT(slot);
            } else if ((p = scan_value(ps, p, 2, NULL)) == NULL) {
                return NULL;
            }
            p = skip_ws(p, end);
            if (p == end)
                return fail(ps, end, R_EOF);
            if (*p == '}')
                break;
            if (*p != ',')
                return fail(ps, p, R_OBJECT_SEP);
            p = skip_ws(p + 1, end);
            if (p == end)
                return fail(ps, end, R_EOF);
        }
    }
    p++; /* the '}' */
    ps->seen = seen;
    decode_element(ps, obj, p);
    return p;
}

/* Parses the top-level array; stops early if the sink asks to. */
static void parse_array(parser *ps)
{
    const char *end = ps->end;
    const char *p = skip_ws(ps->buf, end);

    if (p == end) {
        fail(ps, end, R_EOF);
        return;
    }
    if (*p != '[') {
        fail(ps, p, R_TOP);
        return;
    }
    p = skip_ws(p + 1, end);
    if (p == end) {
        fail(ps, end, R_EOF);
        return;
    }
    if (*p != ']') {
        for (;;) {
            if (*p == '{') {
                p = parse_element(ps, p);
            } else {
                const char *item = p;
                if ((p = scan_value(ps, p, 1, NULL)) != NULL)
                    element_error(ps, item, R_NOT_OBJECT);
            }
            if (p == NULL || ps->stopped)
                return;
            p = skip_ws(p, end);
            if (p == end) {
                fail(ps, end, R_EOF);
                return;
            }
            if (*p == ']')
                break;
            if (*p != ',') {
                fail(ps, p, R_ARRAY_SEP);
                return;
            }
            p = skip_ws(p + 1, end);
            if (p == end) {
                fail(ps, end, R_EOF);
                return;
            }
        }
    }
    p = skip_ws(p + 1, end);
    if (p != end)
        fail(ps, p, R_TRAILING);
}

long pws_parse_frame(const char *buf, size_t len, const pws_parse_limits *limits, pws_event_sink sink,
                     void *user)
{
    parser ps;
    size_t max_frame = PWS_DEFAULT_MAX_FRAME_BYTES;
    unsigned max_depth = PWS_DEFAULT_MAX_DEPTH;

    if (sink == NULL || (buf == NULL && len > 0))
        return -1;
    if (limits != NULL) {
        if (limits->max_frame_bytes != 0)
            max_frame = limits->max_frame_bytes;
        if (limits->max_depth != 0)
            max_depth = limits->max_depth;
    }
    if (max_depth > DEPTH_CAP)
        max_depth = DEPTH_CAP;

    ps.buf = buf ? buf : "";
    ps.end = ps.buf + len;
    ps.max_depth = max_depth;
    ps.sink = sink;
    ps.user = user;
    ps.count = 0;
    ps.stopped = false;
    ps.err_at = NULL;
    ps.err_reason = NULL;
    ps.seen = 0;

    if (len > max_frame) {
        emit_error(&ps, max_frame, R_FRAME);
        return ps.count;
    }
    parse_array(&ps);
    if (ps.err_reason != NULL && !ps.stopped)
        emit_error(&ps, (size_t)(ps.err_at - ps.buf), ps.err_reason);
    return ps.count;
}

/* ------------------------------------------------------------------ names */

static const char *const status_words[] = {
    [PWS_STATUS_UNKNOWN] = "unknown",
    [PWS_STATUS_CONNECTED] = "connected",
    [PWS_STATUS_AUTH_SUCCESS] = "auth_success",
    [PWS_STATUS_AUTH_FAILED] = "auth_failed",
    [PWS_STATUS_AUTH_TIMEOUT] = "auth_timeout",
    [PWS_STATUS_AUTH_REQUIRED] = "auth_required",
    [PWS_STATUS_SUCCESS] = "success",
    [PWS_STATUS_ERROR] = "error",
    [PWS_STATUS_MAX_CONNECTIONS] = "max_connections",
    [PWS_STATUS_FORCE_DISCONNECT] = "force_disconnect",
    [PWS_STATUS_SLOW_CONSUMER] = "slow_consumer",
};

#define NSTATUS (sizeof status_words / sizeof status_words[0])

pws_status_kind pws_status_kind_from_word(const char *word, size_t len)
{
    if (word == NULL)
        return PWS_STATUS_UNKNOWN;
    /* Linear over 10 short words: status messages are rare, no hash needed. */
    for (size_t k = PWS_STATUS_CONNECTED; k < NSTATUS; k++) {
        if (strlen(status_words[k]) == len && memcmp(status_words[k], word, len) == 0)
            return (pws_status_kind)k;
    }
    return PWS_STATUS_UNKNOWN;
}

const char *pws_status_kind_name(pws_status_kind kind)
{
    if ((unsigned)kind < NSTATUS)
        return status_words[kind];
    return "unknown";
}

const char *pws_event_type_name(pws_event_type type)
{
    static const char *const names[] = {
        [PWS_EV_STATUS] = "status",   [PWS_EV_AGG] = "agg",
        [PWS_EV_TRADE] = "trade",     [PWS_EV_QUOTE] = "quote",
        [PWS_EV_OTHER] = "other",     [PWS_EV_PARSE_ERROR] = "parse_error",
        [PWS_EV_CONNECTION] = "connection",
    };
    if ((unsigned)type < sizeof names / sizeof names[0])
        return names[type];
    return "unknown";
}

const char *pws_conn_state_name(pws_conn_state state)
{
    static const char *const names[] = {
        [PWS_CONN_CONNECTING] = "connecting",
        [PWS_CONN_OPEN] = "open",
        [PWS_CONN_AUTHENTICATED] = "authenticated",
        [PWS_CONN_DISCONNECTED] = "disconnected",
        [PWS_CONN_RECONNECT_WAIT] = "reconnect_wait",
        [PWS_CONN_FATAL] = "fatal",
        [PWS_CONN_STOPPED] = "stopped",
    };
    if ((unsigned)state < sizeof names / sizeof names[0])
        return names[state];
    return "unknown";
}

const char *pws_event_symbol(const pws_event *ev)
{
    if (ev == NULL)
        return NULL;
    switch (ev->type) {
    case PWS_EV_AGG: return ev->u.agg.sym;
    case PWS_EV_TRADE: return ev->u.trade.sym;
    case PWS_EV_QUOTE: return ev->u.quote.sym;
    default: return NULL;
    }
}
