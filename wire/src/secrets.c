/*
 * secrets.c - the one redactor of secrets (wire/secrets.h).
 *
 * Building a set spells each secret every way it is looked for (raw, and
 * base64/base64url at three alignments), cuts every spelling into its
 * overlapping 4-byte grams, sorts them and sets their bits in a filter.
 * Scrubbing looks at the text 4 bytes at a time, at offsets that are
 * multiples of 4: any run of 8 bytes holds one such aligned window, so no
 * trace is missed while only a quarter of the positions are looked at.  A
 * window whose filter bit is clear (nearly all of them) costs a load, a
 * multiply and a bit test; one that is a gram is grown both ways as far as it
 * keeps matching that spelling, and a run of PWS__SECRET_PIECE bytes or more
 * becomes one range to replace.  Escapes (JSON,
 * percent) are decoded first into a view that keeps, per decoded byte, the
 * source bytes it came from, and the same scan runs over it; that view is
 * decoded again, up to DECODE_LEVELS levels, for escapes that nest.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "wire/secrets.h"
#include "wire/codec.h"

#include <stdlib.h>
#include <string.h>

#define PIECE PWS__SECRET_PIECE
#define GRAM 4u /* bytes of a gram: PIECE >= 2 * GRAM - 1, so every piece holds an aligned gram */
_Static_assert(PWS__SECRET_PIECE >= 2 * 4 - 1, "a trace of PIECE bytes holds a gram at a multiple of GRAM");
#define FILTER_WORDS ((size_t)1 << (PWS__SECRETS_FILTER_BITS - 6))
#define AT_SHIFT 16u /* piece_at: offset bits (a base64 form of the longest secret is 5,464 bytes) */

/* ---------------------------------------------------------------- building */

static void wipe_bytes(void *p, size_t n)
{
    volatile unsigned char *v = p;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
}

static void wipe_free(char *p, size_t n)
{
    if (!p)
        return;
    wipe_bytes(p, n);
    free(p);
}

static void free_derived(pws__secrets *s)
{
    for (size_t i = 0; i < s->nforms; i++)
        wipe_free(s->forms[i].p, s->forms[i].len);
    free(s->forms);
    free(s->grams);
    free(s->piece_at);
    free(s->filter);
    s->forms = NULL;
    s->grams = NULL;
    s->piece_at = NULL;
    s->filter = NULL;
    s->nforms = s->npieces = s->nshort = 0;
}

static uint32_t load4(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static size_t filter_slot(uint32_t gram)
{
    return (size_t)((gram * 0x9E3779B1u) >> (32 - PWS__SECRETS_FILTER_BITS));
}

/* The base64 characters of (align zero bytes, key) that hold key bits only:
 * what the key looks like inside any longer base64 text where it starts at
 * a byte offset = align (mod 3).  url: the base64url alphabet.  Returns the
 * count written to out (room for (len + 7) / 3 * 4 bytes); (size_t)-1
 * without memory. */
static size_t base64_inner(const char *key, size_t len, unsigned align, bool url, char *out)
{
    unsigned char *in = calloc(len + 5, 1);
    size_t cap = (len + 5 + 2) / 3 * 4, n = (size_t)-1;
    char *enc = malloc(cap);
    if (in && enc) {
        n = 0;
        memcpy(in + align, key, len);
        size_t m = pws__base64_encode(in, align + len + 2, enc);
        /* character c holds bits [6c, 6c + 6) of the stream; the key is bits [8 align, 8 (align + len)) */
        for (size_t c = 0; c < m; c++) {
            if (6 * c < 8 * (size_t)align || 6 * c + 6 > 8 * ((size_t)align + len))
                continue;
            char ch = enc[c];
            if (url)
                ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
            out[n++] = ch;
        }
    }
    wipe_free((char *)in, in ? len + 5 : 0);
    wipe_free(enc, enc ? cap : 0);
    return n;
}

static int add_form(pws__secrets *s, size_t *cap, const char *p, size_t len)
{
    if (len < PWS__SECRET_MIN)
        return 0;
    for (size_t i = 0; i < s->nforms; i++)
        if (s->forms[i].len == len && !memcmp(s->forms[i].p, p, len))
            return 0; /* base64url spells most keys as base64 does */
    if (s->nforms == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pws__secret_form *nf = realloc(s->forms, nc * sizeof *nf);
        if (!nf)
            return -1;
        s->forms = nf;
        *cap = nc;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, p, len);
    copy[len] = '\0';
    s->forms[s->nforms++] = (pws__secret_form){copy, len};
    return 0;
}

static int by_piece(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* Rebuilds forms, pieces and filter from keys. */
static int rebuild(pws__secrets *s)
{
    free_derived(s);
    size_t cap = 0;
    for (size_t k = 0; k < s->nkeys; k++) {
        const char *key = s->keys[k];
        size_t len = strlen(key);
        if (add_form(s, &cap, key, len))
            return -1;
        size_t enc_cap = (len + 5 + 2) / 3 * 4;
        char *enc = malloc(enc_cap);
        if (!enc)
            return -1;
        for (unsigned align = 0; align < 3; align++)
            for (int url = 0; url < 2; url++) {
                size_t n = base64_inner(key, len, align, url, enc);
                if (n == (size_t)-1 || add_form(s, &cap, enc, n)) {
                    wipe_free(enc, enc_cap);
                    return -1;
                }
            }
        wipe_free(enc, enc_cap);
    }
    /* forms shorter than a piece go last: matched whole */
    size_t nlong = 0;
    for (size_t i = 0; i < s->nforms; i++)
        if (s->forms[i].len >= PIECE) {
            pws__secret_form t = s->forms[nlong];
            s->forms[nlong++] = s->forms[i];
            s->forms[i] = t;
        }
    s->nshort = s->nforms - nlong;
    size_t total = 0;
    for (size_t i = 0; i < nlong; i++)
        total += s->forms[i].len - GRAM + 1;
    s->filter = calloc(FILTER_WORDS, sizeof *s->filter);
    if (!s->filter)
        return -1;
    if (!total)
        return 0;
    /* (piece, at) pairs sorted by piece */
    uint64_t *pairs = malloc(total * 2 * sizeof *pairs);
    s->grams = malloc(total * sizeof *s->grams);
    s->piece_at = malloc(total * sizeof *s->piece_at);
    if (!pairs || !s->grams || !s->piece_at) {
        free(pairs);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < nlong; i++)
        for (size_t o = 0; o + GRAM <= s->forms[i].len; o++, n++) {
            pairs[2 * n] = load4(s->forms[i].p + o);
            pairs[2 * n + 1] = (uint64_t)i << AT_SHIFT | o;
        }
    qsort(pairs, total, 2 * sizeof *pairs, by_piece);
    for (size_t i = 0; i < total; i++) {
        s->grams[i] = (uint32_t)pairs[2 * i];
        s->piece_at[i] = (uint32_t)pairs[2 * i + 1];
        size_t slot = filter_slot((uint32_t)pairs[2 * i]);
        s->filter[slot >> 6] |= (uint64_t)1 << (slot & 63);
    }
    wipe_bytes(pairs, total * 2 * sizeof *pairs);
    free(pairs);
    s->npieces = total;
    return 0;
}

bool pws__secrets_has(const pws__secrets *s, const char *secret)
{
    for (size_t k = 0; s && secret && k < s->nkeys; k++)
        if (!strcmp(s->keys[k], secret))
            return true;
    return false;
}

int pws__secrets_add(pws__secrets *s, const char *secret)
{
    size_t len = secret ? strlen(secret) : 0;
    if (len < PWS__SECRET_MIN || pws__secrets_has(s, secret))
        return 0;
    if (len > PWS__SECRET_MAX_LEN)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, secret, len + 1);
    if (s->nkeys == PWS__SECRETS_MAX) {
        wipe_free(s->keys[0], strlen(s->keys[0]));
        memmove(s->keys, s->keys + 1, (PWS__SECRETS_MAX - 1) * sizeof *s->keys);
        s->nkeys--;
    }
    s->keys[s->nkeys++] = copy;
    if (rebuild(s)) {
        /* keep the set usable without the new key */
        wipe_free(s->keys[--s->nkeys], len);
        s->keys[s->nkeys] = NULL;
        rebuild(s);
        return -1;
    }
    return 1;
}

int pws__secrets_add_list(pws__secrets *s, const char *const *list, size_t n)
{
    int rc = 0;
    for (size_t i = 0; list && (n == (size_t)-1 ? list[i] != NULL : i < n); i++)
        if (list[i] && pws__secrets_add(s, list[i]) < 0)
            rc = -1;
    return rc;
}

void pws__secrets_free(pws__secrets *s)
{
    if (!s)
        return;
    free_derived(s);
    for (size_t k = 0; k < s->nkeys; k++)
        wipe_free(s->keys[k], strlen(s->keys[k]));
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- scanning */

/* Ranges of source bytes to replace. */
typedef struct ranges {
    size_t (*r)[2]; /* [start, end) pairs */
    size_t n, cap;  /* used, allocated */
    bool oom;       /* a range could not be kept */
} ranges;

static void add_range(ranges *rs, size_t a, size_t b)
{
    if (rs->n && rs->r[rs->n - 1][1] >= a && rs->r[rs->n - 1][0] <= a) {
        if (b > rs->r[rs->n - 1][1])
            rs->r[rs->n - 1][1] = b; /* the common case: a run found piece by piece */
        return;
    }
    if (rs->n == rs->cap) {
        size_t nc = rs->cap ? rs->cap * 2 : 8;
        size_t(*nr)[2] = realloc(rs->r, nc * sizeof *nr);
        if (!nr) {
            rs->oom = true;
            return;
        }
        rs->r = nr;
        rs->cap = nc;
    }
    rs->r[rs->n][0] = a;
    rs->r[rs->n][1] = b;
    rs->n++;
}

/* A view of the text: bytes, and for each the source bytes [from, to) it
 * stands for (NULL maps: the identity). */
typedef struct view {
    const unsigned char *b; /* bytes */
    size_t n;               /* their count */
    const uint32_t *from;   /* source start per byte, or NULL */
    const uint32_t *to;     /* source end per byte, or NULL */
} view;

static void add_view_range(ranges *rs, const view *v, size_t a, size_t b)
{
    if (v->from)
        add_range(rs, v->from[a], v->to[b - 1]);
    else
        add_range(rs, a, b);
}

/* The longest run around the gram v[p..p+GRAM) that matches a spelling
 * holding it there: true, with its bounds in *ra, *rb, if that run has
 * PIECE bytes or more (or is a whole spelling). */
static bool grow_match(const pws__secrets *s, const view *v, size_t p, size_t first, size_t *ra, size_t *rb)
{
    size_t best_a = p, best_b = p;
    uint32_t gram = s->grams[first];
    for (size_t i = first; i < s->npieces && s->grams[i] == gram; i++) {
        const pws__secret_form *f = &s->forms[s->piece_at[i] >> AT_SHIFT];
        size_t o = s->piece_at[i] & ((1u << AT_SHIFT) - 1);
        size_t back = 0, fwd = GRAM;
        while (back < p && back < o && v->b[p - back - 1] == (unsigned char)f->p[o - back - 1])
            back++;
        while (p + fwd < v->n && o + fwd < f->len && v->b[p + fwd] == (unsigned char)f->p[o + fwd])
            fwd++;
        if (back + fwd < PIECE && back + fwd < f->len)
            continue;
        if (best_b == p || p - back < best_a)
            best_a = p - back;
        if (p + fwd > best_b)
            best_b = p + fwd;
    }
    *ra = best_a;
    *rb = best_b;
    return best_b > p;
}

static void scan_view(const pws__secrets *s, const view *v, ranges *rs)
{
    if (s->npieces && v->n >= PIECE) {
        for (size_t p = 0; p + GRAM <= v->n; p += GRAM) {
            uint32_t w = load4(v->b + p);
            size_t slot = filter_slot(w);
            if (!(s->filter[slot >> 6] >> (slot & 63) & 1))
                continue;
            size_t lo = 0, hi = s->npieces;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->grams[mid] < w)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t a, b;
            if (lo == s->npieces || s->grams[lo] != w || !grow_match(s, v, p, lo, &a, &b))
                continue;
            add_view_range(rs, v, a, b);
            /* a trace that starts at b or later holds an aligned gram at or after b rounded down */
            size_t next = b / GRAM * GRAM;
            if (next > p + GRAM)
                p = next - GRAM;
        }
    }
    for (size_t f = s->nforms - s->nshort; f < s->nforms; f++) {
        const pws__secret_form *sf = &s->forms[f];
        const unsigned char *at = v->b, *end = v->b + v->n;
        while ((size_t)(end - at) >= sf->len && (at = memmem(at, (size_t)(end - at), sf->p, sf->len)) != NULL) {
            size_t a = (size_t)(at - v->b);
            add_view_range(rs, v, a, a + sf->len);
            at += sf->len;
        }
    }
}

/* How a view is decoded.  An escape can often be read two ways ("%25Bc" is
 * "%Bc" to one percent-decoding and the byte 0xBC to a chained one; "\\n" is
 * a line feed to JSON and a backslash and an 'n' to a URL decoder), so a text
 * is decoded along three chains: both kinds together with %25 chained, percent
 * escapes alone one level per pass, JSON escapes alone. */
typedef enum decode_mode { DECODE_MIXED, DECODE_PERCENT, DECODE_JSON, DECODE_MODES } decode_mode;

/* One escape at text[i] (a run of backslashes then u+4 hex or a character,
 * a pair of backslashes before anything else, or % then 2 hex, %25
 * repeated in DECODE_MIXED): its byte in *out, its end in *end; false if
 * text[i] starts none that mode decodes. */
static bool decode_escape(decode_mode mode, const char *t, size_t n, size_t i, unsigned char *out, size_t *end)
{
    if (t[i] == '\\' && mode != DECODE_PERCENT) {
        size_t q = i;
        while (q < n && t[q] == '\\')
            q++;
        if (q >= n)
            return false;
        if (t[q] == 'u' && q + 4 < n) {
            int v = 0;
            for (size_t k = 1; k <= 4; k++) {
                int h = pws__hexval(t[q + k]);
                if (h < 0)
                    return false;
                v = v << 4 | h;
            }
            *out = v < 0x80 ? (unsigned char)v : 0x80; /* beyond ASCII: a byte no secret holds here */
            *end = q + 5;
            return true;
        }
        static const char plain[] = "/\"'";
        static const char ctrl[] = "bfnrt", ctrl_v[] = "\b\f\n\r\t";
        const char *c;
        if ((c = strchr(plain, t[q])) != NULL && *c) {
            *out = (unsigned char)*c;
        } else if ((c = strchr(ctrl, t[q])) != NULL && *c) {
            *out = (unsigned char)ctrl_v[c - ctrl];
        } else if (q - i >= 2) {
            *out = '\\'; /* an escaped backslash: the pair stands for one */
            *end = i + 2;
            return true;
        } else {
            return false;
        }
        *end = q + 1;
        return true;
    }
    if (t[i] == '%' && mode != DECODE_JSON) {
        /* %XX; in DECODE_MIXED a %25 (an encoded '%') followed by two hex digits is one more level */
        size_t q = i + 1;
        int v;
        for (;;) {
            if (q + 1 >= n || pws__hexval(t[q]) < 0 || pws__hexval(t[q + 1]) < 0)
                return false;
            v = pws__hexval(t[q]) << 4 | pws__hexval(t[q + 1]);
            q += 2;
            if (mode != DECODE_MIXED || v != '%' || q + 1 >= n || pws__hexval(t[q]) < 0 ||
                pws__hexval(t[q + 1]) < 0)
                break;
        }
        *out = (unsigned char)v;
        *end = q;
        return true;
    }
    return false;
}

static int by_start(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* An escape of an escape of an escape (`%2541`, `%3%33` after one pass, `\\u0025...`): the
 * levels of decoding a trace is looked for at, as deep as the independent checker looks. */
#define DECODE_LEVELS 3

/* A view that owns its buffers. */
typedef struct owned_view {
    unsigned char *b;
    uint32_t *from, *to;
    size_t n;
} owned_view;

static void owned_free(owned_view *o)
{
    free(o->b);
    free(o->from);
    free(o->to);
    memset(o, 0, sizeof *o);
}

/* in with one level of escapes decoded into *out, each byte mapped back to the source bytes
 * that in's bytes came from: the number of escapes decoded, or -1 without memory. */
static long decode_view(decode_mode mode, const view *in, owned_view *out)
{
    size_t n = in->n, cells = n ? n : 1;
    const char *t = (const char *)in->b;
    memset(out, 0, sizeof *out);
    out->b = malloc(cells);
    out->from = malloc(cells * sizeof *out->from);
    out->to = malloc(cells * sizeof *out->to);
    if (!out->b || !out->from || !out->to) {
        owned_free(out);
        return -1;
    }
    size_t m = 0;
    long escapes = 0;
    for (size_t i = 0; i < n;) {
        size_t end;
        unsigned char c;
        if ((t[i] == '\\' || t[i] == '%') && decode_escape(mode, t, n, i, &c, &end)) {
            escapes++;
        } else {
            c = (unsigned char)t[i];
            end = i + 1;
        }
        out->b[m] = c;
        out->from[m] = in->from ? in->from[i] : (uint32_t)i;
        out->to[m++] = in->to ? in->to[end - 1] : (uint32_t)end;
        i = end;
    }
    out->n = m;
    return escapes;
}

static bool has_escape(const view *v)
{
    return memchr(v->b, '\\', v->n) || memchr(v->b, '%', v->n);
}

/* Finds every trace in text[0..n): ranges in rs, sorted and merged. */
static void find_traces(const pws__secrets *s, const char *text, size_t n, ranges *rs)
{
    view raw = {(const unsigned char *)text, n, NULL, NULL};
    scan_view(s, &raw, rs);
    if (has_escape(&raw) && n >= UINT32_MAX) {
        rs->oom = true; /* source offsets do not fit the maps: fail closed */
    } else {
        bool percent = memchr(text, '%', n) != NULL, json = memchr(text, '\\', n) != NULL;
        for (int mode = 0; mode < DECODE_MODES && !rs->oom; mode++) {
            if ((mode == DECODE_PERCENT && !percent) || (mode == DECODE_JSON && !json))
                continue; /* that chain would decode nothing: the first pass finds no escape of its kind */
            owned_view cur = {0};
            view v = raw;
            for (int level = 0; level < DECODE_LEVELS && has_escape(&v); level++) {
                owned_view next;
                long k = decode_view((decode_mode)mode, &v, &next);
                if (k < 0) {
                    rs->oom = true;
                    break;
                }
                owned_free(&cur);
                cur = next;
                if (k == 0)
                    break; /* nothing decoded: the next level would be the same text */
                v = (view){cur.b, cur.n, cur.from, cur.to};
                scan_view(s, &v, rs);
            }
            owned_free(&cur);
        }
    }
    if (rs->n < 2)
        return;
    qsort(rs->r, rs->n, sizeof *rs->r, by_start);
    size_t w = 0;
    for (size_t i = 1; i < rs->n; i++) {
        if (rs->r[i][0] <= rs->r[w][1]) {
            if (rs->r[i][1] > rs->r[w][1])
                rs->r[w][1] = rs->r[i][1];
        } else {
            w++;
            rs->r[w][0] = rs->r[i][0];
            rs->r[w][1] = rs->r[i][1];
        }
    }
    rs->n = w + 1;
}

int pws__secrets_scrub(const pws__secrets *s, const char *text, size_t n, pws__put_fn put, void *ctx,
                       size_t *found)
{
    if (found)
        *found = 0;
    if (s && s->nkeys && !s->filter)
        return -1; /* a set that lost its spellings to a failed rebuild: show nothing */
    if (!s || !s->nforms || !n)
        return n ? put(ctx, text, n) : 0;
    ranges rs = {0};
    find_traces(s, text, n, &rs);
    if (rs.oom) {
        free(rs.r);
        return -1;
    }
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < rs.n && !rc; i++) {
        rc = put(ctx, text + at, rs.r[i][0] - at) || put(ctx, PWS__SECRET_MARK, sizeof PWS__SECRET_MARK - 1);
        at = rs.r[i][1];
    }
    if (!rc && at < n)
        rc = put(ctx, text + at, n - at);
    if (found)
        *found = rs.n;
    free(rs.r);
    return rc ? -1 : 0;
}

int pws__secrets_scrub_buf(const pws__secrets *s, const char *text, size_t n, pws__buf *out, size_t *found)
{
    return pws__secrets_scrub(s, text, n, pws__buf_put_cb, out, found);
}

size_t pws__secrets_scrub_inplace(const pws__secrets *s, char *text, size_t n)
{
    size_t mark = sizeof PWS__SECRET_MARK - 1;
    if (!s || !n || !s->nkeys)
        return n;
    ranges rs = {0};
    if (s->filter)
        find_traces(s, text, n, &rs);
    if (rs.oom || !s->filter) {
        /* without memory, or with a set that lost its spellings: fail closed */
        free(rs.r);
        size_t m = n < mark ? n : mark;
        memcpy(text, PWS__SECRET_MARK, m);
        return m;
    }
    size_t w = 0, at = 0;
    for (size_t i = 0; i < rs.n; i++) {
        memmove(text + w, text + at, rs.r[i][0] - at);
        w += rs.r[i][0] - at;
        memcpy(text + w, PWS__SECRET_MARK, mark);
        w += mark;
        at = rs.r[i][1];
    }
    memmove(text + w, text + at, n - at);
    w += n - at;
    free(rs.r);
    return w;
}

size_t pws__secrets_scrub_str(const pws__secrets *s, char *text)
{
    if (!text)
        return 0;
    size_t n = pws__secrets_scrub_inplace(s, text, strlen(text));
    text[n] = '\0';
    return n;
}
