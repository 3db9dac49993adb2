/*
 * parse.c - the Polygon frame parser: one JSON array of event objects in,
 * typed events out, with no allocation.  This file is its driver (the
 * top-level array, the element loop on its two paths); parse_internal.h
 * lists the files that hold the rest.
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
 * tests shuffle keys to check it).  Before either, each element is offered
 * to the schema fast path (parse_fast.c), which reads the feed's exact
 * layout in a straight line and hands anything else back untouched; the
 * tests run with it on and off and must see the same events.  Duplicate keys: the last one wins, so a
 * bad value replaced later is no error, and a second "ev" sends the object
 * back to the record path.
 *
 * Cost.  The frame is read once, plus the few recorded spans on the record
 * path (and, for an element the fast path gave up on, its part already read
 * there).  Numbers, keys and short strings are examined 8 bytes at a time
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
 * Nesting is followed with an explicit bit stack instead of recursion
 * (parse_scan.c), so a hostile frame cannot exhaust the C stack whatever
 * max_depth says.
 */
#include "parse_internal.h"

/* ------------------------------------------------------- the element loop */

/* The direct path's end of object: the same checks, in the same order, as
 * decode_market() makes on the record path. */
static void finish_direct(parser *ps, const char *obj, const market_type *mt, char *base, uint32_t seen,
                          uint32_t bad, uint32_t present)
{
    if (!(seen & SLOT_BIT(SLOT_SYM))) {
        pws__parse_element_error(ps, obj, R_NO_SYM);
        return;
    }
    if (bad != 0) {
        /* Re-decode the first bad field in list order from its recorded
         * value, to report exactly what the record path would. */
        for (size_t k = 0; k < mt->nfields; k++) {
            const field_spec *f = &mt->fields[k];
            enum reason reason;
            const char *err_at;
            if (!(bad & SLOT_BIT(f->slot)))
                continue;
            reason = pws__parse_decode_field(ps, f, &ps->vals[f->slot], base, &err_at);
            pws__parse_element_error(ps, err_at, reason != R_NONE ? reason : R_WANT_STRING);
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
        p = pws__parse_scan_value(ps, p, 2, &kind, &esc);
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
            if ((p = pws__parse_scan_string(ps, p, &esc)) == NULL)
                return NULL;
            if (!esc) {
                slot = pws__parse_classify_key(key, (size_t)(p - 1 - key));
            } else {
                /* Escaped key (rare): decode it first, "\u0065v" is "ev". */
                char decoded[KEY_MAX_LEN + 1];
                bool truncated = false, nul = false;
                size_t n = decode_string(key - 1, p, true, decoded, sizeof decoded, &truncated, &nul);
                slot = (truncated || nul) ? -1 : pws__parse_classify_key(decoded, n);
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
                p = pws__parse_scan_value(ps, p, 2, NULL, NULL);
            } else if (direct != NULL) {
                const field_spec *f = &direct->by_slot[slot];
                unsigned type = f->type; /* loaded once: see decode_field() */
                field_value fv = { NULL, NULL, VK_NULL, false, { 0, 0, 0 } };
                enum reason reason;
                const char *err_at;
                if (slot == SLOT_EV) {
                    allow_direct = false;
                    direct = NULL;
                    goto restart;
                }
                if (type == FT_NONE) {
                    p = pws__parse_scan_value(ps, p, 2, NULL, NULL);
                } else if ((p = scan_known_value(ps, p, &fv)) != NULL) {
                    if (seen & SLOT_BIT(slot))
                        pws__parse_clear_field(f, base);
                    seen |= SLOT_BIT(slot);
                    if ((reason = decode_field(ps, f, type, &fv, base, &err_at)) == R_NONE) {
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
        pws__parse_decode_element(ps, obj, p);
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
                const char *after = NULL;
                if (pws__parse_kernels & PWS__PARSE_FAST)
                    after = pws__parse_fast_element(ps, p);
                p = after != NULL ? after : parse_element(ps, p);
            } else {
                const char *item = p;
                if ((p = pws__parse_scan_value(ps, p, 1, NULL, NULL)) != NULL)
                    pws__parse_element_error(ps, item, R_NOT_OBJECT);
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
        pws__parse_emit_error(&ps, max_frame, pws__parse_reason_text[R_FRAME]);
        return ps.count;
    }
    parse_array(&ps);
    if (ps.err_reason != NULL && !ps.stopped)
        pws__parse_emit_error(&ps, (size_t)(ps.err_at - ps.buf), ps.err_reason);
    return ps.count;
}
