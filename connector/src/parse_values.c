/*
 * parse_values.c - one scanned value into one struct field, out of line:
 * lists of integers (trade and quote conditions), the record path's copy of
 * decode_field(), and the clearing of a field that a duplicate key
 * overwrites.  Numbers are converted by numparse.h and strings copied (or
 * decoded by wire's JSON string decoder) inline in decode_field()
 * (parse_internal.h), since nearly every value is one or the other.
 */
#include "parse_internal.h"

enum reason pws__parse_decode_int_list(parser *ps, const char *start, const char *end, int32_t *list,
                                       uint32_t *count, const char **err_at)
{
    const char *p = skip_ws(start + 1, end);
    uint32_t n = 0;

    while (*p != ']') {
        pws__number num;
        const char *item = p;
        int64_t v;
        enum reason reason;
        if (*p != '-' && (*p < '0' || *p > '9')) {
            *err_at = item;
            return R_WANT_INT_LIST;
        }
        p = scan_number(ps, p, &num);
        if (p == NULL) { /* cannot happen: the scan validated it */
            *err_at = item;
            return R_WANT_INT_LIST;
        }
        if ((reason = decode_int(&num, true, &v)) != R_NONE) {
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
    return R_NONE;
}

enum reason pws__parse_decode_field(parser *ps, const field_spec *f, const field_value *fv, char *base,
                                    const char **err_at)
{
    return decode_field(ps, f, f->type, fv, base, err_at);
}

void pws__parse_clear_field(const field_spec *f, char *base)
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
