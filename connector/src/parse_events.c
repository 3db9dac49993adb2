/*
 * parse_events.c - the event types the frame parser maps elements to.  For
 * each market-data type (A/AM aggregates, T trades, Q quotes): the fields of
 * its struct, by list and by key slot, and the order in which Polygon writes
 * its keys (the direct path's key prediction, see key_guess).  Then the record
 * path: a finished object whose values were recorded becomes a market-data
 * event, a status, an "other" event carrying its JSON, or an element error.
 */
#include "parse_internal.h"

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

/* The usual key order of each type, as key_guess tables (see parse_internal.h).
 * `"key":` for a key of n (1..4) bytes a, b, c, d (unused ones 0). */
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

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
const market_type pws__parse_agg_type = { PWS_EV_AGG, agg_fields, COUNT_OF(agg_fields), agg_by_slot,
                                          offsetof(pws_agg, present), agg_guess, agg_guess_next };
const market_type pws__parse_trade_type = { PWS_EV_TRADE, trade_fields, COUNT_OF(trade_fields),
                                            trade_by_slot, offsetof(pws_trade, present), trade_guess,
                                            trade_guess_next };
const market_type pws__parse_quote_type = { PWS_EV_QUOTE, quote_fields, COUNT_OF(quote_fields),
                                            quote_by_slot, offsetof(pws_quote, present), quote_guess,
                                            quote_guess_next };

/* Decodes "sym" and the recorded fields of one market-data struct (the
 * record path).  Returns false after emitting an element error. */
static bool decode_market(parser *ps, const char *obj, char *base, const market_type *mt)
{
    uint32_t seen = ps->seen;
    uint32_t bits = 0;
    enum reason reason;
    const char *err_at;

    if (!(seen & SLOT_BIT(SLOT_SYM))) {
        pws__parse_element_error(ps, obj, R_NO_SYM);
        return false;
    }
    for (size_t k = 0; k < mt->nfields; k++) {
        const field_spec *f = &mt->fields[k];
        if (!(seen & SLOT_BIT(f->slot)))
            continue;
        if ((reason = pws__parse_decode_field(ps, f, &ps->vals[f->slot], base, &err_at)) != R_NONE) {
            pws__parse_element_error(ps, err_at, reason);
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
        pws__parse_element_error(ps, fv->start, R_WANT_STRING);
        return false;
    }
    decode_string(fv->start, fv->end, fv->escaped, out, cap, truncated, &nul);
    if (nul) {
        pws__parse_element_error(ps, fv->start, R_NUL);
        return false;
    }
    return true;
}

void pws__parse_decode_element(parser *ps, const char *obj, const char *obj_end)
{
    const field_value *evv = &ps->vals[SLOT_EV];
    const market_type *mt;
    pws_event *ev = &ps->ev;
    char name[PWS_EV_NAME_MAX];
    bool truncated = false, nul = false, minute;
    size_t n;

    if (!(ps->seen & SLOT_BIT(SLOT_EV))) {
        pws__parse_element_error(ps, obj, R_NO_EV);
        return;
    }
    if (evv->kind != VK_STRING) {
        pws__parse_element_error(ps, evv->start, R_EV_TYPE);
        return;
    }
    n = decode_string(evv->start, evv->end, evv->escaped, name, sizeof name, &truncated, &nul);
    if (nul) {
        pws__parse_element_error(ps, evv->start, R_NUL);
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
