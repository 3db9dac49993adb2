/*
 * parse_internal.h - what the files of the frame parser share (not installed,
 * included by the parse*.c files only).
 *
 * The parser is one single-pass scan split by concept:
 *
 *   parse.c         the frame driver: the top-level array, each element
 *                   object scanned once on the direct or the record path
 *                   (see there);
 *   parse_fast.c    the schema fast path, tried first on each element: the
 *                   feed's exact layout read straight, anything else handed
 *                   back untouched to parse.c;
 *   parse_error.c   parse-error events: reason texts, offset and excerpt
 *                   (a leaf every other file reports through);
 *   parse_scan.c    the JSON tokenizer: strings (escapes, UTF-8), literals,
 *                   skipping any value with a depth limit, without recursion;
 *   parse_keys.c    the known keys: a perfect hash from key to slot;
 *   parse_values.c  one scanned value into one struct field, out of line:
 *                   integer lists, the record path's decode_field(), the
 *                   clearing of a duplicate key's field;
 *   parse_events.c  the event types: the fields and usual key order of A/AM,
 *                   T and Q, and the record path's mapping of a finished
 *                   object to a market-data, status or other event.
 *
 * Inlining across the split.  What runs for every key or value is static
 * inline here (skipping whitespace, the 8-byte string and key tests, number
 * scanning, key classification, the event-type lookup and decoding one field)
 * so that parse.c's element loop compiles as it did when the parser was one
 * file; what runs out of line (long or escaped strings, containers, literals,
 * condition lists, errors) was out of line then too.  bench/parse_bench.c
 * measures the result.
 *
 * Names here are short where they were file-local before the split (the
 * header is private to the parser); symbols with linkage carry pws__parse_.
 */
#ifndef POLYWS_PARSE_INTERNAL_H
#define POLYWS_PARSE_INTERNAL_H

#include "numparse.h"
#include "parse_kernels.h"

#include <polyws/parse.h>

#include "wire/json.h" /* pws__json_unquote */

#include <math.h>
#include <stddef.h>
#include <string.h>

/* --------------------------------------------------------------- reasons */

/* Why a frame or an element failed.  Events carry a pointer to the text in
 * pws__parse_reason_text (static strings, never copies); number syntax errors
 * carry numparse.h's own texts. */
#define PWS__PARSE_REASONS(X)                                                                      \
    /* syntax errors: the frame ends */                                                            \
    X(R_EOF, "unexpected end of input")                                                            \
    X(R_TOP, "top level is not an array")                                                          \
    X(R_TRAILING, "trailing characters after array")                                               \
    X(R_VALUE, "expected a value")                                                                 \
    X(R_ARRAY_SEP, "expected ',' or ']'")                                                          \
    X(R_OBJECT_SEP, "expected ',' or '}'")                                                         \
    X(R_KEY, "expected a string key")                                                              \
    X(R_COLON, "expected ':'")                                                                     \
    X(R_LITERAL, "invalid literal")                                                                \
    X(R_NAN, "NaN or Infinity not allowed")                                                        \
    X(R_CONTROL, "control character in string")                                                    \
    X(R_ESCAPE, "invalid escape")                                                                  \
    X(R_UESCAPE, "invalid \\u escape")                                                             \
    X(R_SURROGATE, "invalid surrogate pair")                                                       \
    X(R_UTF8, "invalid UTF-8")                                                                     \
    X(R_DEPTH, "nesting too deep")                                                                 \
    X(R_FRAME, "frame too large")                                                                  \
    /* element errors: the next element follows */                                                \
    X(R_NOT_OBJECT, "element is not an object")                                                    \
    X(R_NO_EV, "missing \"ev\"")                                                                   \
    X(R_EV_TYPE, "\"ev\" is not a string")                                                         \
    X(R_NO_SYM, "missing \"sym\"")                                                                 \
    X(R_WANT_STRING, "expected a string")                                                          \
    X(R_WANT_NUMBER, "expected a number")                                                          \
    X(R_WANT_INT, "expected an integer")                                                           \
    X(R_WANT_BOOL, "expected a boolean")                                                           \
    X(R_WANT_INT_LIST, "expected an array of integers")                                            \
    X(R_INT_RANGE, "integer out of range")                                                         \
    X(R_NUM_RANGE, "number out of range")                                                          \
    X(R_NUM_LONG, "number too long")                                                               \
    X(R_STR_LONG, "string too long")                                                               \
    X(R_TOO_MANY, "too many conditions")                                                           \
    X(R_NUL, "NUL character in string")

#define PWS__PARSE_REASON_ENUM(name, text) name,
/* R_NONE (0): no error. */
enum reason { R_NONE = 0, PWS__PARSE_REASONS(PWS__PARSE_REASON_ENUM) R__COUNT };
#undef PWS__PARSE_REASON_ENUM

/* The text of each reason (parse_error.c); [R_NONE] is NULL. */
extern const char *const pws__parse_reason_text[R__COUNT];

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

/* Perfect hash of the known key words (parse_keys.c) into 64 buckets: the
 * top 6 bits of word * KEY_HASH_MUL. */
#define KEY_HASH_MUL 0x04af0423315cdfb1ull
#define KEY_HASH(w) ((unsigned)(((uint64_t)(w) * KEY_HASH_MUL) >> 58))

/* One bucket: the key word and its slot + 1 (0 marks an empty bucket). */
typedef struct key_entry {
    uint64_t word; /* the key's bytes packed little-endian, zero-filled (KW() in parse_keys.c) */
    uint8_t slot1; /* enum slot + 1, or 0 */
} key_entry;

/* The buckets (parse_keys.c). */
extern const key_entry pws__parse_key_table[64];

/* Maps a packed key word to its slot, or -1 for a key no event reads. */
static inline int classify_word(uint64_t word)
{
    const key_entry *e = &pws__parse_key_table[KEY_HASH(word)];
    return e->word == word ? (int)e->slot1 - 1 : -1;
}

/* Maps a key (decoded bytes, no NUL inside) to its slot, or -1. */
int pws__parse_classify_key(const char *k, size_t n);

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

/* Hard cap on max_depth: the container bit stack of the tokenizer has this
 * many bits (128 bytes of stack).  Larger requested limits are clamped to it. */
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
 * `return fail(...)`.  The text is static (ours, or numparse.h's). */
static inline const char *fail_text(parser *ps, const char *at, const char *text)
{
    if (ps->err_reason == NULL) {
        ps->err_at = at;
        ps->err_reason = text;
    }
    return NULL;
}

static inline const char *fail(parser *ps, const char *at, enum reason reason)
{
    return fail_text(ps, at, pws__parse_reason_text[reason]);
}

/* Hands ps->ev to the sink. */
static inline void emit(parser *ps)
{
    ps->count++;
    if (ps->sink(&ps->ev, ps->user) != 0)
        ps->stopped = true;
}

/* parse_error.c: one PWS_EV_PARSE_ERROR at byte offset `offset` of the frame ... */
void pws__parse_emit_error(parser *ps, size_t offset, const char *reason);
/* ... or for the element at `at`, with the text of `reason`. */
void pws__parse_element_error(parser *ps, const char *at, enum reason reason);

/* ------------------------------------------------------------- scanning */

static inline const char *skip_ws(const char *p, const char *end)
{
    /* One compare in the common case: compact feeds have no whitespace. */
    while (p < end && (unsigned char)*p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Bit 7 of each byte of the result is set where that byte of the 8 at p is
 * special ('"', '\\', < 0x20 or >= 0x80).  SWAR "has a zero byte" tests on
 * x ^ '"' and x ^ '\\', and "has a byte < 0x20", may also flag bytes above a
 * flagged one (borrows run upward), so only the lowest set bit is exact,
 * which is all the callers use. */
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

/* Scans a string at p ('"'), validating escapes and UTF-8 (parse_scan.c).
 * Returns the position after the closing quote; *escaped tells whether a
 * backslash occurred (an escape-free string can be copied as is). */
const char *pws__parse_scan_string(parser *ps, const char *p, bool *escaped);

/* pws__parse_scan_string() with a fast path for the usual short plain value
 * ("MSFT"): the closing quote within the next 8 bytes with nothing special
 * before it. */
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
    return pws__parse_scan_string(ps, p, escaped);
}

PWS__HOT_INLINE const char *scan_number(parser *ps, const char *p, pws__number *num)
{
    const char *err_at;
    const char *reason;
    const char *q = pws__scan_number(p, ps->end, num, &err_at, &reason);
    return q ? q : fail_text(ps, err_at, reason);
}

/* Scans any value at p (p < end) inside a container of depth `depth`,
 * storing its kind (and, for strings, whether it has escapes) if the
 * pointers are not NULL (parse_scan.c).  Returns the position after it. */
const char *pws__parse_scan_value(parser *ps, const char *p, unsigned depth, uint8_t *kind_out,
                                  bool *escaped_out);

/* ------------------------------------------------------ values and fields */

/* Decodes a validated string value start..end (from its opening quote to
 * past its closing one) into out[cap] as NUL-terminated UTF-8.  If it does
 * not fit, the output is cut at a code-point boundary and *truncated is set;
 * *nul is set if it contained U+0000 (which a C string cannot hold).  Returns
 * the decoded length.  Takes the span by value, not a field_value pointer, so
 * the direct path's field_value can live in registers.  The plain case (every
 * "sym") is a copy, inline; escapes go to wire's one JSON string decoder. */
static inline size_t decode_string(const char *start, const char *end, bool escaped, char *out, size_t cap,
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

/* Reads a validated array of integers start..end ('[' to past ']') into
 * list[PWS_MAX_CONDITIONS] (parse_values.c).  R_NONE, or a reason with
 * *err_at set. */
enum reason pws__parse_decode_int_list(parser *ps, const char *start, const char *end, int32_t *list,
                                       uint32_t *count, const char **err_at);

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

/* Converts a recorded number to an integer of the field's width. */
static inline enum reason decode_int(const pws__number *num, bool narrow, int64_t *out)
{
    int rc = pws__number_to_int64(num, out);
    if (rc == PWS__INT_NOT_INTEGER)
        return R_WANT_INT;
    if (rc != PWS__INT_OK || (narrow && (*out < INT32_MIN || *out > INT32_MAX)))
        return R_INT_RANGE;
    return R_NONE;
}

/* Decodes one value into its struct field; type is f->type, which the
 * direct path has in a register already (through f, the compiler would load
 * it again after every call in between, since the tables are in another
 * file).  Returns R_NONE, or an element-error reason with *err_at set.
 * Inline for the direct path; pws__parse_decode_field() is the out-of-line
 * copy. */
PWS__HOT_INLINE enum reason decode_field(parser *ps, const field_spec *f, unsigned type, const field_value *fv,
                                         char *base, const char **err_at)
{
    enum reason reason;
    int64_t iv;
    double dv;

    *err_at = fv->start;
    switch (type) {
    case FT_I64:
        if (fv->kind != VK_NUMBER)
            return R_WANT_INT;
        if ((reason = decode_int(&fv->num, false, &iv)) != R_NONE)
            return reason;
        memcpy(base + f->offset, &iv, sizeof iv);
        return R_NONE;
    case FT_I32: {
        int32_t narrow;
        if (fv->kind != VK_NUMBER)
            return R_WANT_INT;
        if ((reason = decode_int(&fv->num, true, &iv)) != R_NONE)
            return reason;
        narrow = (int32_t)iv;
        memcpy(base + f->offset, &narrow, sizeof narrow);
        return R_NONE;
    }
    case FT_F64:
        if (fv->kind != VK_NUMBER)
            return R_WANT_NUMBER;
        if (pws__number_to_double(&fv->num, fv->start, (size_t)(fv->end - fv->start), &dv) != 0)
            return R_NUM_LONG;
        if (isinf(dv))
            return R_NUM_RANGE;
        memcpy(base + f->offset, &dv, sizeof dv);
        return R_NONE;
    case FT_BOOL: {
        bool b = fv->kind == VK_TRUE;
        if (fv->kind != VK_TRUE && fv->kind != VK_FALSE)
            return R_WANT_BOOL;
        memcpy(base + f->offset, &b, sizeof b);
        return R_NONE;
    }
    case FT_STR: {
        bool truncated = false, nul = false;
        if (fv->kind != VK_STRING)
            return R_WANT_STRING;
        decode_string(fv->start, fv->end, fv->escaped, base + f->offset, f->aux, &truncated, &nul);
        if (truncated)
            return R_STR_LONG;
        return nul ? R_NUL : R_NONE;
    }
    case FT_I32_LIST: {
        uint32_t n = 0;
        int32_t list[PWS_MAX_CONDITIONS];
        if (fv->kind != VK_ARRAY)
            return R_WANT_INT_LIST;
        if ((reason = pws__parse_decode_int_list(ps, fv->start, fv->end, list, &n, err_at)) != R_NONE)
            return reason;
        memcpy(base + f->offset, list, n * sizeof list[0]);
        memcpy(base + f->aux, &n, sizeof n);
        return R_NONE;
    }
    default:
        return R_WANT_STRING; /* unreachable: FT_NONE is never decoded */
    }
}

/* decode_field() out of line, for the record path and error reports
 * (parse_values.c). */
enum reason pws__parse_decode_field(parser *ps, const field_spec *f, const field_value *fv, char *base,
                                    const char **err_at);

/* Zeroes a field before a duplicate key is decoded into it, so the struct
 * ends up byte for byte as if only the last value had been seen
 * (parse_values.c). */
void pws__parse_clear_field(const field_spec *f, char *base);

/* ------------------------------------------------------------ event types */

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

/* The three market-data types (parse_events.c). */
extern const market_type pws__parse_agg_type, pws__parse_trade_type, pws__parse_quote_type;

/* The event type named by a decoded "ev" of n bytes, or NULL if not a
 * market-data type.  Sets *minute for "AM". */
static inline const market_type *market_type_of(const char *name, size_t n, bool *minute)
{
    *minute = false;
    if (n == 1) {
        switch (name[0]) {
        case 'T': return &pws__parse_trade_type;
        case 'Q': return &pws__parse_quote_type;
        case 'A': return &pws__parse_agg_type;
        default: return NULL;
        }
    }
    if (n == 2 && name[0] == 'A' && name[1] == 'M') {
        *minute = true;
        return &pws__parse_agg_type;
    }
    return NULL;
}

/* Starts a market-data event in ps->ev; returns the base of its struct. */
static inline char *begin_market_event(parser *ps, const market_type *mt, bool minute)
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

/* The schema fast path (parse_fast.c): parses the element at p ('{') if it
 * is laid out exactly as Polygon writes it and hands its event to the sink;
 * returns the position after it.  Returns NULL, having reported nothing, for
 * any other element, which the caller then parses on the general path. */
const char *pws__parse_fast_element(parser *ps, const char *p);

/* The record path (parse_events.c): turns the recorded values (ps->seen,
 * ps->vals) of one well-formed object obj..obj_end into an event (or an
 * element error) and hands it to the sink. */
void pws__parse_decode_element(parser *ps, const char *obj, const char *obj_end);

#endif
