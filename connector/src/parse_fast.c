/*
 * parse_fast.c - the frame parser's schema fast path: an element object laid
 * out exactly as Polygon writes it is read in one straight pass, with no key
 * lookup, no tables and no indirect branches.
 *
 * What "exactly" means.  No whitespace; "ev" first with the value A, AM, T or
 * Q; "sym" second; then any subset of the type's other keys in the feed's
 * order (parse_events.c lists it), each at most once; then '}'.  Strings are
 * plain ASCII (no escape, control or non-ASCII byte) and fit their buffer;
 * numbers fit their field (integers in range, doubles finite); condition lists
 * are integers separated by bare commas.  Each expected key is checked with
 * one 8-byte load and compare of `,"key":`, separator included, and each
 * value is parsed by the same inline code as on the general path (numparse.h's
 * scanner and conversions, decode_int()), so the values are the same.
 *
 * Anything else - another order, an unknown or repeated key, whitespace, an
 * escape, an out-of-range value, a syntax error, the end of the buffer - makes
 * pws__parse_fast_element() return NULL having reported nothing, and the
 * caller parses the element again on the general path (parse.c), which
 * decides what it is.  The fast path's only side effect before that is on
 * ps->ev, which the general path rebuilds from scratch.  So the fast path
 * changes speed, never results: the tests run every parser test with it on
 * and off (parse_kernels.h), and the fuzz target checks both give identical
 * events for every input.
 *
 * Strings are scanned 16 bytes at a time with SSE2 (the x86-64 baseline: no
 * run-time check needed) and 8 bytes at a time (SWAR) elsewhere or when
 * PWS__PARSE_SIMD is off.  SSE2 gains ~1.7% on the 1M corpus (0.1135 vs
 * 0.1155 s best, 7 alternating builds); the feed's strings are at most 15
 * bytes, so a wider (AVX2) scan with run-time dispatch has nothing to add.
 */
#include "parse_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define FAST_SSE2 1
#else
#define FAST_SSE2 0
#endif

unsigned pws__parse_kernels = PWS__PARSE_ALL;

#if PWS__SWAR_DIGITS /* little-endian 8-byte words: the whole fast path needs them */

/* Eight bytes as a little-endian word. */
#define W8(a, b, c, d, e, f, g, h)                                                                 \
    ((uint64_t)(unsigned char)(a) | (uint64_t)(unsigned char)(b) << 8 |                            \
     (uint64_t)(unsigned char)(c) << 16 | (uint64_t)(unsigned char)(d) << 24 |                     \
     (uint64_t)(unsigned char)(e) << 32 | (uint64_t)(unsigned char)(f) << 40 |                     \
     (uint64_t)(unsigned char)(g) << 48 | (uint64_t)(unsigned char)(h) << 56)

/* The bytes `,"key":` of a key of 1..4 bytes, and the mask of their n + 4 bytes. */
#define KEY1(a) W8(',', '"', a, '"', ':', 0, 0, 0)
#define KEY2(a, b) W8(',', '"', a, b, '"', ':', 0, 0)
#define KEY3(a, b, c) W8(',', '"', a, b, c, '"', ':', 0)
#define KEY4(a, b, c, d) W8(',', '"', a, b, c, d, '"', ':')
#define MASK1 0x000000FFFFFFFFFFull
#define MASK2 0x0000FFFFFFFFFFFFull
#define MASK3 0x00FFFFFFFFFFFFFFull
#define MASK4 0xFFFFFFFFFFFFFFFFull

/* The start of an element, `{"ev":"` and the type's first letter, and the
 * `,"sym":"` that must follow the type. */
#define HEAD(t) W8('{', '"', 'e', 'v', '"', ':', '"', t)
#define SYM_KEY W8(',', '"', 's', 'y', 'm', '"', ':', '"')

/* p is at the key pattern (n + 4 bytes, whole 8 readable). */
static inline bool at_key(const char *p, const char *end, uint64_t pattern, uint64_t mask)
{
    return end - p >= 8 && (pws__load8(p) & mask) == pattern;
}

/* ----------------------------------------------------------------- values */

/* An integer literal at p into *out (int32 range if narrow).  NULL if it is
 * not a JSON integer of that range. */
PWS__HOT_INLINE const char *fast_int(const char *p, const char *end, bool narrow, int64_t *out)
{
    pws__number num;
    const char *err_at, *reason;
    unsigned char c;

    if (p >= end)
        return NULL;
    c = (unsigned char)*p;
    if (c != '-' && (unsigned)(c - '0') > 9u)
        return NULL;
    p = pws__scan_number(p, end, &num, &err_at, &reason);
    if (p == NULL || decode_int(&num, narrow, out) != R_NONE)
        return NULL;
    return p;
}

PWS__HOT_INLINE const char *fast_i64(const char *p, const char *end, int64_t *out)
{
    int64_t v;
    if ((p = fast_int(p, end, false, &v)) != NULL)
        *out = v;
    return p;
}

PWS__HOT_INLINE const char *fast_i32(const char *p, const char *end, int32_t *out)
{
    int64_t v;
    if ((p = fast_int(p, end, true, &v)) != NULL)
        *out = (int32_t)v;
    return p;
}

/* A number literal at p into *out, converted as on the general path.  NULL
 * if it is not a number, too long, or overflows to infinity. */
PWS__HOT_INLINE const char *fast_f64(const char *p, const char *end, double *out)
{
    pws__number num;
    const char *err_at, *reason;
    const char *start = p;
    unsigned char c;
    double d;

    if (p >= end)
        return NULL;
    c = (unsigned char)*p;
    if (c != '-' && (unsigned)(c - '0') > 9u)
        return NULL;
    p = pws__scan_number(p, end, &num, &err_at, &reason);
    if (p == NULL || pws__number_to_double(&num, start, (size_t)(p - start), &d) != 0 || isinf(d))
        return NULL;
    *out = d;
    return p;
}

static inline const char *fast_bool(const char *p, const char *end, bool *out)
{
    if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
        *out = true;
        return p + 4;
    }
    if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
        *out = false;
        return p + 5;
    }
    return NULL;
}

/* Length of the plain run of a string's content at s, up to its closing
 * quote, or -1 if something special (escape, control, non-ASCII) comes first
 * or the quote is not within the 16 bytes at s (16 readable bytes). */
static inline int plain_len16(const char *s)
{
    unsigned bits;
#if FAST_SSE2
    if (pws__parse_kernels & PWS__PARSE_SIMD) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                       _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))); /* < 0x20 or >= 0x80 */
        bits = (unsigned)_mm_movemask_epi8(special);
        if (bits == 0)
            return -1;
        unsigned n = (unsigned)__builtin_ctz(bits);
        return s[n] == '"' ? (int)n : -1;
    }
#endif
    uint64_t special = special_bytes(s);
    if (special == 0) {
        special = special_bytes(s + 8);
        if (special == 0)
            return -1;
        bits = 8u + ((unsigned)__builtin_ctzll(special) >> 3);
    } else {
        bits = (unsigned)__builtin_ctzll(special) >> 3;
    }
    return s[bits] == '"' ? (int)bits : -1;
}

/* A plain string value at p (a quote is checked) of at most 15 bytes into
 * out[cap] (cap >= 16, zero-filled before): the 16 bytes are copied with the
 * bytes from the closing quote on masked to zero, which also writes the NUL.
 * NULL if the string is not plain, longer, or too near the end. */
static inline const char *fast_str(const char *p, const char *end, char *out, size_t cap)
{
    const char *s = p + 1;
    uint64_t lo, hi;
    int n;

    if (*p != '"' || end - s < 16 || (n = plain_len16(s)) < 0 || (size_t)n >= cap)
        return NULL;
    lo = pws__load8(s);
    hi = pws__load8(s + 8);
    if (n < 8) {
        lo &= ((uint64_t)1 << (8 * n)) - 1;
        hi = 0;
    } else {
        hi &= ((uint64_t)1 << (8 * (n - 8))) - 1;
    }
    memcpy(out, &lo, 8);
    memcpy(out + 8, &hi, 8);
    return s + n + 1;
}

/* A list of integers at p ('[') into list[PWS_MAX_CONDITIONS] and *count. */
static inline const char *fast_list(const char *p, const char *end, int32_t *list, uint32_t *count)
{
    uint32_t n = 0;

    if (*p != '[' || ++p >= end)
        return NULL;
    if (*p != ']') {
        for (;;) {
            if (n == PWS_MAX_CONDITIONS || (p = fast_i32(p, end, &list[n])) == NULL || p >= end)
                return NULL;
            n++;
            if (*p == ']')
                break;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    *count = n;
    return p + 1;
}

/* ------------------------------------------------------------ event types */

/* One optional field: if the key `pattern` is at p, read its value with
 * `read` (which assigns p, NULL on failure) and set `bit`. */
#define FIELD(pattern, mask, read, bit)                                                            \
    if (at_key(p, end, pattern, mask)) {                                                           \
        p += __builtin_popcountll(mask) / 8;                                                       \
        read;                                                                                      \
        if (p == NULL)                                                                             \
            return NULL;                                                                           \
        present |= (bit);                                                                          \
    }

/* Ends an element at p ('}'): sets the presence bits, hands the event over. */
#define FINISH(st)                                                                                 \
    if (p >= end || *p != '}')                                                                     \
        return NULL;                                                                               \
    (st)->present = present;                                                                       \
    emit(ps);                                                                                      \
    return p + 1

/* memset(ev, 0, sizeof *ev) as 16-byte stores: GCC expands the memset of
 * the ~330-byte event into `rep stos`, whose start-up cost was ~8% of a
 * trade's parse time. */
static inline void zero_event(pws_event *ev)
{
#if FAST_SSE2
    char *b = (char *)ev;
    size_t k = 0;
    for (; k + 16 <= sizeof *ev; k += 16)
        _mm_storeu_si128((__m128i *)(void *)(b + k), _mm_setzero_si128());
    if (k < sizeof *ev)
        memset(b + k, 0, sizeof *ev - k);
#else
    memset(ev, 0, sizeof *ev);
#endif
}

/* Starts ps->ev as a market event of `type` and reads the `,"sym":"..."` at p. */
static inline const char *begin(parser *ps, const char *p, pws_event_type type, char *sym)
{
    pws_event *ev = &ps->ev;
    zero_event(ev);
    ev->type = type;
    if (!at_key(p, ps->end, SYM_KEY, MASK4))
        return NULL;
    return fast_str(p + 7, ps->end, sym, PWS_SYMBOL_MAX);
}

static const char *fast_agg(parser *ps, const char *p, bool minute)
{
    const char *end = ps->end;
    pws_agg *a = &ps->ev.u.agg;
    uint32_t present = 0;

    if ((p = begin(ps, p, PWS_EV_AGG, a->sym)) == NULL)
        return NULL;
    a->minute = minute;
    FIELD(KEY1('v'), MASK1, p = fast_i64(p, end, &a->v), PWS_AGG_V)
    FIELD(KEY2('a', 'v'), MASK2, p = fast_i64(p, end, &a->av), PWS_AGG_AV)
    FIELD(KEY2('o', 'p'), MASK2, p = fast_f64(p, end, &a->op), PWS_AGG_OP)
    FIELD(KEY2('v', 'w'), MASK2, p = fast_f64(p, end, &a->vw), PWS_AGG_VW)
    FIELD(KEY1('o'), MASK1, p = fast_f64(p, end, &a->o), PWS_AGG_O)
    FIELD(KEY1('c'), MASK1, p = fast_f64(p, end, &a->c), PWS_AGG_C)
    FIELD(KEY1('h'), MASK1, p = fast_f64(p, end, &a->h), PWS_AGG_H)
    FIELD(KEY1('l'), MASK1, p = fast_f64(p, end, &a->l), PWS_AGG_L)
    FIELD(KEY1('a'), MASK1, p = fast_f64(p, end, &a->a), PWS_AGG_A)
    FIELD(KEY1('z'), MASK1, p = fast_i64(p, end, &a->z), PWS_AGG_Z)
    FIELD(KEY1('s'), MASK1, p = fast_i64(p, end, &a->s), PWS_AGG_S)
    FIELD(KEY1('e'), MASK1, p = fast_i64(p, end, &a->e), PWS_AGG_E)
    FIELD(KEY3('o', 't', 'c'), MASK3, p = fast_bool(p, end, &a->otc), PWS_AGG_OTC)
    FINISH(a);
}

static const char *fast_trade(parser *ps, const char *p)
{
    const char *end = ps->end;
    pws_trade *t = &ps->ev.u.trade;
    uint32_t present = 0;

    if ((p = begin(ps, p, PWS_EV_TRADE, t->sym)) == NULL)
        return NULL;
    FIELD(KEY1('x'), MASK1, p = fast_i32(p, end, &t->x), PWS_TRADE_X)
    FIELD(KEY1('i'), MASK1, p = fast_str(p, end, t->i, sizeof t->i), PWS_TRADE_I)
    FIELD(KEY1('z'), MASK1, p = fast_i32(p, end, &t->z), PWS_TRADE_Z)
    FIELD(KEY1('p'), MASK1, p = fast_f64(p, end, &t->p), PWS_TRADE_P)
    FIELD(KEY1('s'), MASK1, p = fast_i64(p, end, &t->s), PWS_TRADE_S)
    FIELD(KEY1('c'), MASK1, p = fast_list(p, end, t->c, &t->nc), PWS_TRADE_C)
    FIELD(KEY1('t'), MASK1, p = fast_i64(p, end, &t->t), PWS_TRADE_T)
    FIELD(KEY1('q'), MASK1, p = fast_i64(p, end, &t->q), PWS_TRADE_Q)
    FIELD(KEY4('t', 'r', 'f', 'i'), MASK4, p = fast_i32(p, end, &t->trfi), PWS_TRADE_TRFI)
    FIELD(KEY4('t', 'r', 'f', 't'), MASK4, p = fast_i64(p, end, &t->trft), PWS_TRADE_TRFT)
    FINISH(t);
}

static const char *fast_quote(parser *ps, const char *p)
{
    const char *end = ps->end;
    pws_quote *q = &ps->ev.u.quote;
    uint32_t present = 0;

    if ((p = begin(ps, p, PWS_EV_QUOTE, q->sym)) == NULL)
        return NULL;
    FIELD(KEY2('b', 'x'), MASK2, p = fast_i32(p, end, &q->bx), PWS_QUOTE_BX)
    FIELD(KEY2('b', 'p'), MASK2, p = fast_f64(p, end, &q->bp), PWS_QUOTE_BP)
    FIELD(KEY2('b', 's'), MASK2, p = fast_i64(p, end, &q->bs), PWS_QUOTE_BS)
    FIELD(KEY2('a', 'x'), MASK2, p = fast_i32(p, end, &q->ax), PWS_QUOTE_AX)
    FIELD(KEY2('a', 'p'), MASK2, p = fast_f64(p, end, &q->ap), PWS_QUOTE_AP)
    FIELD(KEY2('a', 's'), MASK2, p = fast_i64(p, end, &q->as), PWS_QUOTE_AS)
    FIELD(KEY1('c'), MASK1, p = fast_i32(p, end, &q->c), PWS_QUOTE_C)
    FIELD(KEY1('i'), MASK1, p = fast_list(p, end, q->i, &q->ni), PWS_QUOTE_I)
    FIELD(KEY1('t'), MASK1, p = fast_i64(p, end, &q->t), PWS_QUOTE_T)
    FIELD(KEY1('q'), MASK1, p = fast_i64(p, end, &q->q), PWS_QUOTE_Q)
    FIELD(KEY1('z'), MASK1, p = fast_i32(p, end, &q->z), PWS_QUOTE_Z)
    FINISH(q);
}

const char *pws__parse_fast_element(parser *ps, const char *p)
{
    uint64_t head;

    /* 32 bytes cover the head and "sym" of any element the path takes; the
     * list depth is 3. */
    if (ps->end - p < 32 || ps->max_depth < 3)
        return NULL;
    head = pws__load8(p);
    if (head == HEAD('T'))
        return p[8] == '"' ? fast_trade(ps, p + 9) : NULL;
    if (head == HEAD('Q'))
        return p[8] == '"' ? fast_quote(ps, p + 9) : NULL;
    if (head == HEAD('A')) {
        if (p[8] == '"')
            return fast_agg(ps, p + 9, false);
        if (p[8] == 'M' && p[9] == '"')
            return fast_agg(ps, p + 10, true);
    }
    return NULL;
}

#else /* no little-endian 8-byte words: the general path does everything */

const char *pws__parse_fast_element(parser *ps, const char *p)
{
    (void)ps;
    (void)p;
    return NULL;
}

#endif
