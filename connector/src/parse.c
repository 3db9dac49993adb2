/*
 * parse.c - the Polygon frame parser: one JSON array of event objects in,
 * typed events out, with no allocation.
 *
 * Strategy.  The "ev" key decides how every other key is read, but JSON does
 * not promise it comes first.  Each element object is scanned once from '{'
 * to '}', validating everything (grammar, escapes, UTF-8, depth).  Keys are
 * mapped to one of ~30 slots (the keys any supported event reads; the rest
 * are skipped) and values are handled on one of two paths:
 *   - the direct path, when "ev" is the first known key and names A, AM, T
 *     or Q, as it always does in Polygon's feed: each value is converted
 *     into the typed struct the moment it is scanned, and the next key is
 *     predicted from the feed's usual key order (one 8-byte compare);
 *   - the record path otherwise: each known value's span, JSON type and
 *     pre-scanned number go into a small fixed table, and after the closing
 *     brace "ev" is looked up and the recorded values decoded.
 * Both give the same result for the same object in any key order (the unit
 * tests shuffle keys to check it).  Duplicate keys: the last one wins, so a
 * bad value replaced later is no error, and a second "ev" sends the object
 * back to the record path.
 *
 * Cost.  The frame is read once, plus the few recorded spans on the record
 * path.  Numbers, keys and short strings are examined 8 bytes at a time
 * (SWAR) on little-endian GCC/Clang targets, with a byte loop elsewhere and
 * near the end of the buffer.  See bench/parse_bench.c for the numbers.
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

#include "wire/json.h" /* pws__json_unquote */

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

/* A key of up to 7 bytes packed little-endian into a uint64_t, zero-filled:
 * keys cannot contain a NUL byte (raw control bytes are invalid JSON, and a
 * decoded \u0000 makes the key unknown), so the word identifies the key. */
#define KW(a, b, c, d, e, f, g)                                                                    \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |              \
     (uint64_t)(e) << 32 | (uint64_t)(f) << 40 | (uint64_t)(g) << 48)

/* Perfect hash of the 30 known key words into 64 buckets: the top 6 bits of
 * word * KEY_HASH_MUL.  The multiplier was found by a random search; a
 * collision would show up at compile time as an overridden initializer
 * (-Woverride-init, part of -Wextra) and in the unit test of every key. */
#define KEY_HASH_MUL 0x04af0423315cdfb1ull
#define KEY_HASH(w) ((unsigned)(((uint64_t)(w) * KEY_HASH_MUL) >> 58))

/* One bucket: the key word and its slot + 1 (0 marks an empty bucket). */
typedef struct key_entry {
    uint64_t word; /* KW() of the key */
    uint8_t slot1; /* enum slot + 1, or 0 */
} key_entry;

#define KEY(w, slot) [KEY_HASH(w)] = { (w), (slot) + 1 }
static const key_entry key_table[64] = {
    KEY(KW('e', 'v', 0, 0, 0, 0, 0), SLOT_EV),
    KEY(KW('s', 'y', 'm', 0, 0, 0, 0), SLOT_SYM),
    KEY(KW('v', 0, 0, 0, 0, 0, 0), SLOT_V),
    KEY(KW('a', 'v', 0, 0, 0, 0, 0), SLOT_AV),
    KEY(KW('o', 'p', 0, 0, 0, 0, 0), SLOT_OP),
    KEY(KW('v', 'w', 0, 0, 0, 0, 0), SLOT_VW),
    KEY(KW('o', 0, 0, 0, 0, 0, 0), SLOT_O),
    KEY(KW('c', 0, 0, 0, 0, 0, 0), SLOT_C),
    KEY(KW('h', 0, 0, 0, 0, 0, 0), SLOT_H),
    KEY(KW('l', 0, 0, 0, 0, 0, 0), SLOT_L),
    KEY(KW('a', 0, 0, 0, 0, 0, 0), SLOT_A),
    KEY(KW('z', 0, 0, 0, 0, 0, 0), SLOT_Z),
    KEY(KW('s', 0, 0, 0, 0, 0, 0), SLOT_S),
    KEY(KW('e', 0, 0, 0, 0, 0, 0), SLOT_E),
    KEY(KW('o', 't', 'c', 0, 0, 0, 0), SLOT_OTC),
    KEY(KW('x', 0, 0, 0, 0, 0, 0), SLOT_X),
    KEY(KW('i', 0, 0, 0, 0, 0, 0), SLOT_I),
    KEY(KW('p', 0, 0, 0, 0, 0, 0), SLOT_P),
    KEY(KW('t', 0, 0, 0, 0, 0, 0), SLOT_T),
    KEY(KW('q', 0, 0, 0, 0, 0, 0), SLOT_Q),
    KEY(KW('t', 'r', 'f', 'i', 0, 0, 0), SLOT_TRFI),
    KEY(KW('t', 'r', 'f', 't', 0, 0, 0), SLOT_TRFT),
    KEY(KW('b', 'x', 0, 0, 0, 0, 0), SLOT_BX),
    KEY(KW('b', 'p', 0, 0, 0, 0, 0), SLOT_BP),
    KEY(KW('b', 's', 0, 0, 0, 0, 0), SLOT_BS),
    KEY(KW('a', 'x', 0, 0, 0, 0, 0), SLOT_AX),
    KEY(KW('a', 'p', 0, 0, 0, 0, 0), SLOT_AP),
    KEY(KW('a', 's', 0, 0, 0, 0, 0), SLOT_AS),
    KEY(KW('s', 't', 'a', 't', 'u', 's', 0), SLOT_STATUS),
    KEY(KW('m', 'e', 's', 's', 'a', 'g', 'e'), SLOT_MESSAGE),
};
#undef KEY

/* Maps a packed key word to its slot, or -1 for a key no event reads. */
static inline int classify_word(uint64_t word)
{
    const key_entry *e = &key_table[KEY_HASH(word)];
    return e->word == word ? (int)e->slot1 - 1 : -1;
}

/* Maps a key (decoded bytes, no NUL inside) to its slot, or -1. */
static int classify_key(const char *k, size_t n)
{
    uint64_t word = 0;
    if (n > KEY_MAX_LEN)
        return -1;
    for (size_t i = 0; i < n; i++)
        word |= (uint64_t)(unsigned char)k[i] << (8 * i);
    return classify_word(word);
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
    /* One compare in the common case: compact feeds have no whitespace. */
    while (p < end && (unsigned char)*p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
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

/* Bit 7 of each byte of the result is set where that byte of the 8 at p is
 * special ('"', '\\', < 0x20 or >= 0x80).  SWAR "has a zero byte" tests on
 * x ^ '"' and x ^ '\\', and "has a byte < 0x20", may also flag bytes above a
 * flagged one (borrows run upward), so only the lowest set bit is exact,
 * which is all the caller uses. */
static inline uint64_t special_bytes(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    uint64_t v, q, b;

    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v) & highs;
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

/* scan_string() with a fast path for the usual short plain value ("MSFT"):
 * the closing quote within the next 8 bytes with nothing special before it. */
static inline const char *scan_string_quick(parser *ps, const char *p, bool *escaped)
{
#if PWS__SWAR_DIGITS
    if (ps->end - p > 8) {
        uint64_t special = special_bytes(p + 1);
        if (special != 0) {
            unsigned n = (unsigned)__builtin_ctzll(special) >> 3;
            if (p[1 + n] == '"') {
                *escaped = false;
                return p + n + 2;
            }
        }
    }
#endif
    return scan_string(ps, p, escaped);
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

PWS__HOT_INLINE const char *scan_number(parser *ps, const char *p, pws__number *num)
{
    const char *err_at, *reason;
    const char *q = pws__scan_number(p, ps->end, num, &err_at, &reason);
    return q ? q : fail(ps, err_at, reason);
}

/* The reason for a byte that cannot start a value. */
static const char *bad_value_reason(const char *p, const char *end)
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
 * storing its kind (and, for strings, whether it has escapes) if the
 * pointers are not NULL.  Returns the position after it. */
static const char *scan_value(parser *ps, const char *p, unsigned depth, uint8_t *kind_out, bool *escaped_out)
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

/* ------------------------------------------------------------- decoding */

/* Decodes a validated string value start..end (from its opening quote to
 * past its closing one) into out[cap] as NUL-terminated UTF-8.  If it does
 * not fit, the output is cut at a code-point boundary and *truncated is set;
 * *nul is set if it contained U+0000 (which a C string cannot hold).  Returns
 * the decoded length.  An escape-free string (the feed's usual case) is
 * copied here; escapes go to wire's one JSON string decoder.  Takes the span
 * by value, not a field_value pointer, so the direct path's field_value can
 * live in registers. */
static size_t decode_string(const char *start, const char *end, bool escaped, char *out, size_t cap,
                            bool *truncated, bool *nul)
{
    const char *s = start + 1;
    const char *e = end - 1;

    if (!escaped) {
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
    pws__json_str r;
    pws__json_unquote(s, (size_t)(end - s), out, cap, &r);
    *truncated |= r.truncated;
    *nul |= r.nul;
    return r.len;
}

/* Field types of the typed structs.  FT_NONE marks a key the type ignores. */
enum field_type { FT_NONE = 0, FT_STR, FT_I64, FT_I32, FT_F64, FT_BOOL, FT_I32_LIST };

/* How one key is stored in one event struct. */
typedef struct field_spec {
    uint8_t slot;    /* enum slot of the key */
    uint8_t type;    /* enum field_type */
    uint16_t offset; /* offset of the value in the struct */
    uint16_t aux;    /* FT_STR: buffer size; FT_I32_LIST: offset of the uint32_t count */
    uint32_t bit;    /* presence bit (0 for "sym", which is required instead) */
} field_spec;

/* The fields of each market-data type, "sym" first, then in struct order
 * (which is also the order in which the first bad field is reported).
 * X(struct, slot, type, member, aux, presence bit). */
#define AGG_FIELDS(X)                                                                              \
    X(pws_agg, SLOT_SYM, FT_STR, sym, PWS_SYMBOL_MAX, 0)                                           \
    X(pws_agg, SLOT_V, FT_I64, v, 0, PWS_AGG_V)                                                    \
    X(pws_agg, SLOT_AV, FT_I64, av, 0, PWS_AGG_AV)                                                 \
    X(pws_agg, SLOT_OP, FT_F64, op, 0, PWS_AGG_OP)                                                 \
    X(pws_agg, SLOT_VW, FT_F64, vw, 0, PWS_AGG_VW)                                                 \
    X(pws_agg, SLOT_O, FT_F64, o, 0, PWS_AGG_O)                                                    \
    X(pws_agg, SLOT_C, FT_F64, c, 0, PWS_AGG_C)                                                    \
    X(pws_agg, SLOT_H, FT_F64, h, 0, PWS_AGG_H)                                                    \
    X(pws_agg, SLOT_L, FT_F64, l, 0, PWS_AGG_L)                                                    \
    X(pws_agg, SLOT_A, FT_F64, a, 0, PWS_AGG_A)                                                    \
    X(pws_agg, SLOT_Z, FT_I64, z, 0, PWS_AGG_Z)                                                    \
    X(pws_agg, SLOT_S, FT_I64, s, 0, PWS_AGG_S)                                                    \
    X(pws_agg, SLOT_E, FT_I64, e, 0, PWS_AGG_E)                                                    \
    X(pws_agg, SLOT_OTC, FT_BOOL, otc, 0, PWS_AGG_OTC)

#define TRADE_FIELDS(X)                                                                            \
    X(pws_trade, SLOT_SYM, FT_STR, sym, PWS_SYMBOL_MAX, 0)                                         \
    X(pws_trade, SLOT_X, FT_I32, x, 0, PWS_TRADE_X)                                                \
    X(pws_trade, SLOT_I, FT_STR, i, PWS_TRADE_ID_MAX, PWS_TRADE_I)                                 \
    X(pws_trade, SLOT_Z, FT_I32, z, 0, PWS_TRADE_Z)                                                \
    X(pws_trade, SLOT_P, FT_F64, p, 0, PWS_TRADE_P)                                                \
    X(pws_trade, SLOT_S, FT_I64, s, 0, PWS_TRADE_S)                                                \
    X(pws_trade, SLOT_C, FT_I32_LIST, c, offsetof(pws_trade, nc), PWS_TRADE_C)                     \
    X(pws_trade, SLOT_T, FT_I64, t, 0, PWS_TRADE_T)                                                \
    X(pws_trade, SLOT_Q, FT_I64, q, 0, PWS_TRADE_Q)                                                \
    X(pws_trade, SLOT_TRFI, FT_I32, trfi, 0, PWS_TRADE_TRFI)                                       \
    X(pws_trade, SLOT_TRFT, FT_I64, trft, 0, PWS_TRADE_TRFT)

#define QUOTE_FIELDS(X)                                                                            \
    X(pws_quote, SLOT_SYM, FT_STR, sym, PWS_SYMBOL_MAX, 0)                                         \
    X(pws_quote, SLOT_BX, FT_I32, bx, 0, PWS_QUOTE_BX)                                             \
    X(pws_quote, SLOT_BP, FT_F64, bp, 0, PWS_QUOTE_BP)                                             \
    X(pws_quote, SLOT_BS, FT_I64, bs, 0, PWS_QUOTE_BS)                                             \
    X(pws_quote, SLOT_AX, FT_I32, ax, 0, PWS_QUOTE_AX)                                             \
    X(pws_quote, SLOT_AP, FT_F64, ap, 0, PWS_QUOTE_AP)                                             \
    X(pws_quote, SLOT_AS, FT_I64, as, 0, PWS_QUOTE_AS)                                             \
    X(pws_quote, SLOT_C, FT_I32, c, 0, PWS_QUOTE_C)                                                \
    X(pws_quote, SLOT_I, FT_I32_LIST, i, offsetof(pws_quote, ni), PWS_QUOTE_I)                     \
    X(pws_quote, SLOT_T, FT_I64, t, 0, PWS_QUOTE_T)                                                \
    X(pws_quote, SLOT_Q, FT_I64, q, 0, PWS_QUOTE_Q)                                                \
    X(pws_quote, SLOT_Z, FT_I32, z, 0, PWS_QUOTE_Z)

#define SPEC(st, sl, ty, fld, ax, b) { sl, ty, (uint16_t)offsetof(st, fld), (uint16_t)(ax), b },
#define SPEC_BY_SLOT(st, sl, ty, fld, ax, b) [sl] = SPEC(st, sl, ty, fld, ax, b)

static const field_spec agg_fields[] = { AGG_FIELDS(SPEC) };
static const field_spec agg_by_slot[SLOT__COUNT] = { AGG_FIELDS(SPEC_BY_SLOT) };
static const field_spec trade_fields[] = { TRADE_FIELDS(SPEC) };
static const field_spec trade_by_slot[SLOT__COUNT] = { TRADE_FIELDS(SPEC_BY_SLOT) };
static const field_spec quote_fields[] = { QUOTE_FIELDS(SPEC) };
static const field_spec quote_by_slot[SLOT__COUNT] = { QUOTE_FIELDS(SPEC_BY_SLOT) };

#undef SPEC
#undef SPEC_BY_SLOT

/* Key prediction.  Polygon writes the keys of each event type in a fixed
 * order ("ev","sym","x","i","z","p",... for a trade).  On the direct path the
 * parser guesses the next key and checks the guess with one 8-byte load and
 * compare against the bytes `"key":`, instead of finding the closing quote and
 * hashing the key.  A wrong guess (an optional field left out, another
 * order) costs one compare and falls back to the general key scan, after
 * which the guess resynchronises on the key actually found. */
typedef struct key_guess {
    uint64_t pattern; /* the bytes `"key":`, little-endian */
    uint64_t mask;    /* the low `len` bytes */
    uint8_t len;      /* bytes in the pattern (key length + 3, at most 7) */
    uint8_t slot;     /* the key's slot */
} key_guess;

/* `"key":` for a key of n (1..4) bytes a, b, c, d (unused ones 0). */
#define GUESS_PATTERN(n, a, b, c, d)                                                               \
    ((uint64_t)'"' | (uint64_t)(a) << 8 | (uint64_t)(b) << 16 | (uint64_t)(c) << 24 |               \
     (uint64_t)(d) << 32 | (uint64_t)'"' << (8 * ((n) + 1)) | (uint64_t)':' << (8 * ((n) + 2)))
#define GUESS(idx, slot, n, a, b, c, d)                                                            \
    [idx] = { GUESS_PATTERN(n, a, b, c, d), ((uint64_t)1 << (8 * ((n) + 3))) - 1, (n) + 3, slot },
#define GUESS_NEXT(idx, slot, n, a, b, c, d) [slot] = (idx) + 1,
/* A final entry that never matches (mask 0, pattern 1). */
#define GUESS_END(idx) [idx] = { 1, 0, 0, 0 }

/* X(index, slot, key length, key bytes...) in the order Polygon sends. */
#define AGG_ORDER(X)                                                                               \
    X(0, SLOT_EV, 2, 'e', 'v', 0, 0) X(1, SLOT_SYM, 3, 's', 'y', 'm', 0)                           \
    X(2, SLOT_V, 1, 'v', 0, 0, 0) X(3, SLOT_AV, 2, 'a', 'v', 0, 0) X(4, SLOT_OP, 2, 'o', 'p', 0, 0) \
    X(5, SLOT_VW, 2, 'v', 'w', 0, 0) X(6, SLOT_O, 1, 'o', 0, 0, 0) X(7, SLOT_C, 1, 'c', 0, 0, 0)    \
    X(8, SLOT_H, 1, 'h', 0, 0, 0) X(9, SLOT_L, 1, 'l', 0, 0, 0) X(10, SLOT_A, 1, 'a', 0, 0, 0)      \
    X(11, SLOT_Z, 1, 'z', 0, 0, 0) X(12, SLOT_S, 1, 's', 0, 0, 0) X(13, SLOT_E, 1, 'e', 0, 0, 0)   \
    X(14, SLOT_OTC, 3, 'o', 't', 'c', 0)
#define AGG_ORDER_LEN 15

#define TRADE_ORDER(X)                                                                             \
    X(0, SLOT_EV, 2, 'e', 'v', 0, 0) X(1, SLOT_SYM, 3, 's', 'y', 'm', 0)                           \
    X(2, SLOT_X, 1, 'x', 0, 0, 0) X(3, SLOT_I, 1, 'i', 0, 0, 0) X(4, SLOT_Z, 1, 'z', 0, 0, 0)      \
    X(5, SLOT_P, 1, 'p', 0, 0, 0) X(6, SLOT_S, 1, 's', 0, 0, 0) X(7, SLOT_C, 1, 'c', 0, 0, 0)      \
    X(8, SLOT_T, 1, 't', 0, 0, 0) X(9, SLOT_Q, 1, 'q', 0, 0, 0)                                    \
    X(10, SLOT_TRFI, 4, 't', 'r', 'f', 'i') X(11, SLOT_TRFT, 4, 't', 'r', 'f', 't')
#define TRADE_ORDER_LEN 12

#define QUOTE_ORDER(X)                                                                             \
    X(0, SLOT_EV, 2, 'e', 'v', 0, 0) X(1, SLOT_SYM, 3, 's', 'y', 'm', 0)                           \
    X(2, SLOT_BX, 2, 'b', 'x', 0, 0) X(3, SLOT_BP, 2, 'b', 'p', 0, 0)                              \
    X(4, SLOT_BS, 2, 'b', 's', 0, 0) X(5, SLOT_AX, 2, 'a', 'x', 0, 0)                              \
    X(6, SLOT_AP, 2, 'a', 'p', 0, 0) X(7, SLOT_AS, 2, 'a', 's', 0, 0) X(8, SLOT_C, 1, 'c', 0, 0, 0) \
    X(9, SLOT_I, 1, 'i', 0, 0, 0) X(10, SLOT_T, 1, 't', 0, 0, 0) X(11, SLOT_Q, 1, 'q', 0, 0, 0)    \
    X(12, SLOT_Z, 1, 'z', 0, 0, 0)
#define QUOTE_ORDER_LEN 13

static const key_guess agg_guess[] = { AGG_ORDER(GUESS) GUESS_END(AGG_ORDER_LEN) };
static const uint8_t agg_guess_next[SLOT__COUNT] = { AGG_ORDER(GUESS_NEXT) };
static const key_guess trade_guess[] = { TRADE_ORDER(GUESS) GUESS_END(TRADE_ORDER_LEN) };
static const uint8_t trade_guess_next[SLOT__COUNT] = { TRADE_ORDER(GUESS_NEXT) };
static const key_guess quote_guess[] = { QUOTE_ORDER(GUESS) GUESS_END(QUOTE_ORDER_LEN) };
static const uint8_t quote_guess_next[SLOT__COUNT] = { QUOTE_ORDER(GUESS_NEXT) };

#undef GUESS
#undef GUESS_NEXT
#undef GUESS_END

/* One market-data event type: its fields two ways, where its struct keeps
 * the presence bits, and its usual key order. */
typedef struct market_type {
    pws_event_type type;       /* PWS_EV_AGG, _TRADE or _QUOTE */
    const field_spec *fields;  /* "sym" first, then struct order */
    size_t nfields;            /* entries in fields */
    const field_spec *by_slot; /* the same specs indexed by slot; FT_NONE elsewhere */
    size_t present_offset;     /* offset of the uint32_t `present` in the struct */
    const key_guess *guess;    /* keys in the usual order, ending in a never-matching entry */
    const uint8_t *guess_next; /* slot -> index of the guess after that key (0 if not in the order) */
} market_type;

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
static const market_type agg_type = { PWS_EV_AGG, agg_fields, COUNT_OF(agg_fields), agg_by_slot,
                                      offsetof(pws_agg, present), agg_guess, agg_guess_next };
static const market_type trade_type = { PWS_EV_TRADE, trade_fields, COUNT_OF(trade_fields), trade_by_slot,
                                        offsetof(pws_trade, present), trade_guess, trade_guess_next };
static const market_type quote_type = { PWS_EV_QUOTE, quote_fields, COUNT_OF(quote_fields), quote_by_slot,
                                        offsetof(pws_quote, present), quote_guess, quote_guess_next };

/* The event type named by a decoded "ev" of n bytes, or NULL if not a
 * market-data type.  Sets *minute for "AM". */
static const market_type *market_type_of(const char *name, size_t n, bool *minute)
{
    *minute = false;
    if (n == 1) {
        switch (name[0]) {
        case 'T': return &trade_type;
        case 'Q': return &quote_type;
        case 'A': return &agg_type;
        default: return NULL;
        }
    }
    if (n == 2 && name[0] == 'A' && name[1] == 'M') {
        *minute = true;
        return &agg_type;
    }
    return NULL;
}

/* Starts a market-data event in ps->ev; returns the base of its struct. */
static char *begin_market_event(parser *ps, const market_type *mt, bool minute)
{
    pws_event *ev = &ps->ev;
    memset(ev, 0, sizeof *ev);
    ev->type = mt->type;
    if (mt->type == PWS_EV_AGG) {
        ev->u.agg.minute = minute;
        return (char *)&ev->u.agg;
    }
    return mt->type == PWS_EV_TRADE ? (char *)&ev->u.trade : (char *)&ev->u.quote;
}

/* Converts a recorded number to an integer of the field's width. */
static inline const char *decode_int(const pws__number *num, bool narrow, int64_t *out)
{
    int rc = pws__number_to_int64(num, out);
    if (rc == PWS__INT_NOT_INTEGER)
        return R_WANT_INT;
    if (rc != PWS__INT_OK || (narrow && (*out < INT32_MIN || *out > INT32_MAX)))
        return R_INT_RANGE;
    return NULL;
}

/* Reads a validated array of integers start..end ('[' to past ']') into
 * list[PWS_MAX_CONDITIONS]. */
static const char *decode_int_list(parser *ps, const char *start, const char *end, int32_t *list,
                                   uint32_t *count, const char **err_at)
{
    const char *p = skip_ws(start + 1, end);
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

/* Decodes one value into its struct field.  Returns NULL, or an
 * element-error reason with *err_at set. */
PWS__HOT_INLINE const char *decode_field(parser *ps, const field_spec *f, const field_value *fv, char *base,
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
        decode_string(fv->start, fv->end, fv->escaped, base + f->offset, f->aux, &truncated, &nul);
        if (truncated)
            return R_STR_LONG;
        return nul ? R_NUL : NULL;
    }
    case FT_I32_LIST: {
        uint32_t n = 0;
        int32_t list[PWS_MAX_CONDITIONS];
        if (fv->kind != VK_ARRAY)
            return R_WANT_INT_LIST;
        if ((reason = decode_int_list(ps, fv->start, fv->end, list, &n, err_at)) != NULL)
            return reason;
        memcpy(base + f->offset, list, n * sizeof list[0]);
        memcpy(base + f->aux, &n, sizeof n);
        return NULL;
    }
    default:
        return R_WANT_STRING; /* unreachable: FT_NONE is never decoded */
    }
}

/* decode_field() out of line, for the record path and error reports. */
static const char *decode_field_outline(parser *ps, const field_spec *f, const field_value *fv, char *base,
                                        const char **err_at)
{
    return decode_field(ps, f, fv, base, err_at);
}

/* Zeroes a field before a duplicate key is decoded into it, so the struct
 * ends up byte for byte as if only the last value had been seen. */
static void clear_field(const field_spec *f, char *base)
{
    switch (f->type) {
    case FT_STR: memset(base + f->offset, 0, f->aux); break;
    case FT_I64: case FT_F64: memset(base + f->offset, 0, 8); break;
    case FT_I32: memset(base + f->offset, 0, 4); break;
    case FT_BOOL: memset(base + f->offset, 0, sizeof(bool)); break;
    case FT_I32_LIST:
        memset(base + f->offset, 0, PWS_MAX_CONDITIONS * sizeof(int32_t));
        memset(base + f->aux, 0, sizeof(uint32_t));
        break;
    default: break;
    }
}

/* Decodes "sym" and the recorded fields of one market-data struct (the
 * record path).  Returns false after emitting an element error. */
static bool decode_market(parser *ps, const char *obj, char *base, const market_type *mt)
{
    uint32_t seen = ps->seen;
    uint32_t bits = 0;
    const char *reason, *err_at;

    if (!(seen & SLOT_BIT(SLOT_SYM))) {
        element_error(ps, obj, R_NO_SYM);
        return false;
    }
    for (size_t k = 0; k < mt->nfields; k++) {
        const field_spec *f = &mt->fields[k];
        if (!(seen & SLOT_BIT(f->slot)))
            continue;
        if ((reason = decode_field_outline(ps, f, &ps->vals[f->slot], base, &err_at)) != NULL) {
            element_error(ps, err_at, reason);
            return false;
        }
        bits |= f->bit;
    }
    memcpy(base + mt->present_offset, &bits, sizeof bits);
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
    decode_string(fv->start, fv->end, fv->escaped, out, cap, truncated, &nul);
    if (nul) {
        element_error(ps, fv->start, R_NUL);
        return false;
    }
    return true;
}

/* The record path: turns the recorded values of one well-formed object
 * obj..obj_end into an event (or an element error) and hands it to the sink. */
static void decode_element(parser *ps, const char *obj, const char *obj_end)
{
    const field_value *evv = &ps->vals[SLOT_EV];
    const market_type *mt;
    pws_event *ev = &ps->ev;
    char name[PWS_EV_NAME_MAX];
    bool truncated = false, nul = false, minute;
    size_t n;

    if (!(ps->seen & SLOT_BIT(SLOT_EV))) {
        element_error(ps, obj, R_NO_EV);
        return;
    }
    if (evv->kind != VK_STRING) {
        element_error(ps, evv->start, R_EV_TYPE);
        return;
    }
    n = decode_string(evv->start, evv->end, evv->escaped, name, sizeof name, &truncated, &nul);
    if (nul) {
        element_error(ps, evv->start, R_NUL);
        return;
    }
    if (!truncated && (mt = market_type_of(name, n, &minute)) != NULL) {
        if (decode_market(ps, obj, begin_market_event(ps, mt, minute), mt))
            emit(ps);
        return;
    }
    memset(ev, 0, sizeof *ev);
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

/* The direct path's end of object: the same checks, in the same order, as
 * decode_market() makes on the record path. */
static void finish_direct(parser *ps, const char *obj, const market_type *mt, char *base, uint32_t seen,
                          uint32_t bad, uint32_t present)
{
    if (!(seen & SLOT_BIT(SLOT_SYM))) {
        element_error(ps, obj, R_NO_SYM);
        return;
    }
    if (bad != 0) {
        /* Re-decode the first bad field in list order from its recorded
         * value, to report exactly what the record path would. */
        for (size_t k = 0; k < mt->nfields; k++) {
            const field_spec *f = &mt->fields[k];
            const char *reason, *err_at;
            if (!(bad & SLOT_BIT(f->slot)))
                continue;
            reason = decode_field_outline(ps, f, &ps->vals[f->slot], base, &err_at);
            element_error(ps, err_at, reason ? reason : R_WANT_STRING);
            return;
        }
    }
    memcpy(base + mt->present_offset, &present, sizeof present);
    emit(ps);
}

/* Scans the value of a known key at p (p < end) into fv.  Returns the
 * position after it. */
PWS__HOT_INLINE const char *scan_known_value(parser *ps, const char *p, field_value *fv)
{
    unsigned char c = (unsigned char)*p;

    fv->start = p;
    if (c == '-' || (c >= '0' && c <= '9')) {
        /* Numbers are most values: scanned inline. */
        p = scan_number(ps, p, &fv->num);
        fv->kind = VK_NUMBER;
    } else if (c == '"') {
        bool esc = false; /* a local, so that fv itself never escapes */
        p = scan_string_quick(ps, p, &esc);
        fv->kind = VK_STRING;
        fv->escaped = esc;
    } else {
        /* Literals and containers; numbers and strings were handled above. */
        uint8_t kind = VK_NULL;
        bool esc = false;
        p = scan_value(ps, p, 2, &kind, &esc);
        fv->kind = kind;
        fv->escaped = esc;
    }
    fv->end = p;
    return p;
}

/* Parses one element object at p ('{') and hands its event (or element
 * error) to the sink.  Returns the position after the object, or NULL on a
 * syntax error.
 *
 * Two paths share the scan.  The record path stores each known key's value
 * in ps->vals and decodes after the closing brace, whatever the key order.
 * The direct path is taken when "ev" is the first known key and names A, AM,
 * T or Q (always so in Polygon's feed): each later value is decoded into the
 * struct the moment it is scanned, which saves the second pass.  A bad value
 * is remembered (in ps->vals) rather than reported at once, because a later
 * duplicate key may replace it; a second "ev" restarts the object on the
 * record path, since the last "ev" decides the type. */
static const char *parse_element(parser *ps, const char *p)
{
    const char *end = ps->end;
    const char *obj = p;
    const market_type *direct = NULL; /* the type being decoded directly, or NULL */
    char *base = NULL;                /* its struct inside ps->ev */
    uint32_t seen, bad, present;      /* keys seen, direct-path fields in error, presence bits */
    unsigned guess = 0;               /* direct path: index of the predicted next key */
    bool allow_direct = true;
    bool esc;

    if (ps->max_depth < 2)
        return fail(ps, p, R_DEPTH);
restart:
    seen = bad = present = 0;
    p = skip_ws(obj + 1, end);
    if (p == end)
        return fail(ps, end, R_EOF);
    if (*p != '}') {
        for (;;) {
            const char *key = p + 1;
            int slot;
            if (*p != '"')
                return fail(ps, p, R_KEY);
#if PWS__SWAR_DIGITS
            /* Fastest path: the predicted key, colon included. */
            if (direct != NULL && end - p >= 8) {
                const key_guess *g = &direct->guess[guess];
                if ((pws__load8(p) & g->mask) == g->pattern) {
                    slot = g->slot;
                    p += g->len;
                    guess++;
                    goto colon_done;
                }
            }
            /* Fast path: a plain key of at most 7 bytes, found and classified
             * from one 8-byte load. */
            if (end - p > 8) {
                uint64_t special = special_bytes(key);
                unsigned n = special ? (unsigned)__builtin_ctzll(special) >> 3 : 8u;
                if (n < 8 && key[n] == '"') {
                    slot = classify_word(pws__load8(key) & (((uint64_t)1 << (8 * n)) - 1));
                    p = key + n + 1;
                    goto key_done;
                }
            }
#endif
            if ((p = scan_string(ps, p, &esc)) == NULL)
                return NULL;
            if (!esc) {
                slot = classify_key(key, (size_t)(p - 1 - key));
            } else {
                /* Escaped key (rare): decode it first, "\u0065v" is "ev". */
                char decoded[KEY_MAX_LEN + 1];
                bool truncated = false, nul = false;
                size_t n = decode_string(key - 1, p, true, decoded, sizeof decoded, &truncated, &nul);
                slot = (truncated || nul) ? -1 : classify_key(decoded, n);
            }
#if PWS__SWAR_DIGITS
        key_done:
#endif
            if (direct != NULL && slot >= 0)
                guess = direct->guess_next[slot];
            if (p < end && *p == ':') {
                p++;
            } else {
                p = skip_ws(p, end);
                if (p == end)
                    return fail(ps, end, R_EOF);
                if (*p != ':')
                    return fail(ps, p, R_COLON);
                p++;
            }
#if PWS__SWAR_DIGITS
        colon_done:
#endif
            p = skip_ws(p, end);
            if (p == end)
                return fail(ps, end, R_EOF);

            if (slot < 0) {
                p = scan_value(ps, p, 2, NULL, NULL);
            } else if (direct != NULL) {
                const field_spec *f = &direct->by_slot[slot];
                field_value fv = { NULL, NULL, VK_NULL, false, { 0, 0, 0 } };
                const char *reason, *err_at;
                if (slot == SLOT_EV) {
                    allow_direct = false;
                    direct = NULL;
                    goto restart;
                }
                if (f->type == FT_NONE) {
                    p = scan_value(ps, p, 2, NULL, NULL);
                } else if ((p = scan_known_value(ps, p, &fv)) != NULL) {
                    if (seen & SLOT_BIT(slot))
                        clear_field(f, base);
                    seen |= SLOT_BIT(slot);
                    if ((reason = decode_field(ps, f, &fv, base, &err_at)) == NULL) {
                        bad &= ~SLOT_BIT(slot);
                        present |= f->bit;
                    } else {
                        field_value *keep = &ps->vals[slot];
                        bad |= SLOT_BIT(slot);
                        /* Field by field: a whole-struct copy would keep fv
                         * out of registers on the hot path. */
                        keep->start = fv.start;
                        keep->end = fv.end;
                        keep->kind = fv.kind;
                        keep->escaped = fv.escaped;
                        keep->num.digits = fv.num.digits;
                        keep->num.exp10 = fv.num.exp10;
                        keep->num.flags = fv.num.flags;
                    }
                }
            } else {
                field_value *fv = &ps->vals[slot];
                if ((p = scan_known_value(ps, p, fv)) != NULL) {
                    seen |= SLOT_BIT(slot);
                    /* "ev" first among the known keys, a plain A/AM/T/Q:
                     * switch to the direct path. */
                    if (seen == SLOT_BIT(SLOT_EV) && allow_direct && fv->kind == VK_STRING && !fv->escaped) {
                        bool minute;
                        const market_type *mt =
                            market_type_of(fv->start + 1, (size_t)(fv->end - fv->start - 2), &minute);
                        if (mt != NULL) {
                            direct = mt;
                            base = begin_market_event(ps, mt, minute);
                            guess = mt->guess_next[SLOT_EV];
                        }
                    }
                }
            }
            if (p == NULL)
                return NULL;

            if (p < end && *p == ',') {
                p++;
            } else {
                p = skip_ws(p, end);
                if (p == end)
                    return fail(ps, end, R_EOF);
                if (*p == '}')
                    break;
                if (*p != ',')
                    return fail(ps, p, R_OBJECT_SEP);
                p++;
            }
            p = skip_ws(p, end);
            if (p == end)
                return fail(ps, end, R_EOF);
        }
    }
    p++; /* the '}' */
    if (direct != NULL) {
        finish_direct(ps, obj, direct, base, seen, bad, present);
    } else {
        ps->seen = seen;
        decode_element(ps, obj, p);
    }
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
                if ((p = scan_value(ps, p, 1, NULL, NULL)) != NULL)
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
