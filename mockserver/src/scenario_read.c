/*
 * scenario_read.c - the scenario compiler's typed value readers and error helpers.
 *
 * Leaf of the compiler (see scenario_compile.h): scenario.c and scenario_steps.c
 * call these; these call only scenario_json.c (scalar classes) and protocol.c
 * (list joining).  Every reader checks one node and reports the first error as
 * "FILE:LINE:COLUMN: message" into the context, returning false.
 */
#include "scenario_compile.h"

#include "protocol.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and helpers */

bool pwss__fail(pwss__ctx *c, const pwss__ynode *at, const char *fmt, ...)
{
    if (c->failed)
        return false;
    c->failed = true;
    if (!c->err || !c->errcap)
        return false;
    int n = snprintf(c->err, c->errcap, "%s:%d:%d: ", c->path, at ? at->line : 1, at ? at->column : 1);
    if (n >= 0 && (size_t)n < c->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool pwss__visit(pwss__ctx *c, const pwss__ynode *n)
{
    if (!c->budget)
        return pwss__fail(c, n, "the document expands to more than %u nodes (aliases repeated too often)",
                          PWSS__MAX_EXPANDED_NODES);
    c->budget--;
    return true;
}

const char *pwss__describe(const pwss__ynode *n, char *buf, size_t cap)
{
    if (!n)
        return "nothing";
    if (n->kind == PWSS__Y_MAP)
        return "a mapping";
    if (n->kind == PWSS__Y_SEQ)
        return "a sequence";
    char text[48];
    size_t k = 0;
    for (size_t i = 0; i < n->len && k + 4 < sizeof text; i++) {
        unsigned char ch = (unsigned char)n->text[i];
        text[k++] = (ch >= 0x20 && ch != 0x7f) ? (char)ch : '?';
    }
    if (k < n->len)
        text[k++] = '.', text[k++] = '.', text[k++] = '.';
    text[k] = '\0';
    switch (pwss__scalar_class(n)) {
    case PWSS__S_NULL: return "nothing (null)";
    case PWSS__S_TRUE: return "true";
    case PWSS__S_FALSE: return "false";
    case PWSS__S_NUMBER:
    case PWSS__S_BAD_NUMBER: snprintf(buf, cap, "the number %s", text); return buf;
    case PWSS__S_STRING: break;
    }
    snprintf(buf, cap, "the string \"%s\"", text);
    return buf;
}

/* Edit distance, for "did you mean" hints; words over 63 bytes get no hint. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *pwss__closest(const char *word, const char *const *names)
{
    const char *best = NULL;
    size_t bestd = 3; /* at most 2 edits ... */
    for (size_t i = 0; names[i]; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < bestd && d < strlen(names[i])) { /* ... and not a whole rewrite of a short word */
            best = names[i];
            bestd = d;
        }
    }
    return best;
}

bool pwss__check_map(pwss__ctx *c, const pwss__ynode *n, const char *what, const char *const *allowed)
{
    char d[96];
    if (!n || n->kind != PWSS__Y_MAP)
        return pwss__fail(c, n, "%s: expected a mapping (key: value lines), got %s", what,
                          pwss__describe(n, d, sizeof d));
    for (size_t i = 0; i < n->nkids; i += 2) {
        const pwss__ynode *k = n->kids[i];
        if (!pwss__visit(c, k))
            return false;
        if (k->kind != PWSS__Y_SCALAR)
            return pwss__fail(c, k, "%s: a key must be a plain word, not %s", what,
                              pwss__describe(k, d, sizeof d));
        bool known = false;
        for (size_t j = 0; allowed[j] && !known; j++)
            known = !strcmp(k->text, allowed[j]) && strlen(allowed[j]) == k->len;
        if (!known) {
            char list[512];
            pwsm__join_names(allowed, list, sizeof list);
            const char *hint = pwss__closest(k->text, allowed);
            return pwss__fail(c, k, "unknown key '%.64s' in %s (allowed: %s)%s%s%s", k->text, what, list,
                              hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
        }
    }
    return true;
}

const pwss__ynode *pwss__get(const pwss__ynode *map, const char *key)
{
    if (!map || map->kind != PWSS__Y_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const pwss__ynode *k = map->kids[i];
        if (k->kind == PWSS__Y_SCALAR && k->len == kl && !memcmp(k->text, key, kl))
            return map->kids[i + 1];
    }
    return NULL;
}

bool pwss__need(pwss__ctx *c, const pwss__ynode *map, const char *key, const char *what,
                const pwss__ynode **out)
{
    *out = pwss__get(map, key);
    if (!*out)
        return pwss__fail(c, map, "%s: missing required key '%s'", what, key);
    return true;
}

bool pwss__is_null(const pwss__ynode *n)
{
    return n && n->kind == PWSS__Y_SCALAR && pwss__scalar_class(n) == PWSS__S_NULL;
}

bool pwss__read_string(pwss__ctx *c, const pwss__ynode *n, const char *what, size_t max, bool one_line,
                       char **out)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    if (n->kind != PWSS__Y_SCALAR || pwss__is_null(n))
        return pwss__fail(c, n, "%s: expected a string, got %s", what, pwss__describe(n, d, sizeof d));
    size_t len = n->len;
    if (one_line) /* the line break a block scalar (`>`, `|`) ends with is not a second line */
        while (len && (n->text[len - 1] == '\n' || n->text[len - 1] == '\r'))
            len--;
    if (!len)
        return pwss__fail(c, n, "%s: must not be empty", what);
    if (len > max)
        return pwss__fail(c, n, "%s: %zu bytes is too long (limit %zu)", what, len, max);
    if (memchr(n->text, '\0', len))
        return pwss__fail(c, n, "%s: must not contain NUL bytes", what);
    if (one_line && (memchr(n->text, '\n', len) || memchr(n->text, '\r', len)))
        return pwss__fail(c, n, "%s: must be one line", what);
    char *s = strndup(n->text, len);
    if (!s)
        return pwss__fail(c, n, "out of memory");
    free(*out);
    *out = s;
    return true;
}

bool pwss__read_uint(pwss__ctx *c, const pwss__ynode *n, const char *what, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    bool digits = n->kind == PWSS__Y_SCALAR && pwss__scalar_class(n) == PWSS__S_NUMBER &&
                  strspn(n->text, "0123456789") == n->len;
    if (!digits) {
        if (n->kind == PWSS__Y_SCALAR && pwss__scalar_class(n) == PWSS__S_NUMBER && n->text[0] == '-')
            return pwss__fail(c, n, "%s: %s is out of range (allowed %llu..%llu)", what, n->text,
                              (unsigned long long)min, (unsigned long long)max);
        return pwss__fail(c, n, "%s: expected a whole number, got %s", what, pwss__describe(n, d, sizeof d));
    }
    uint64_t v = 0;
    bool over = false;
    for (size_t i = 0; i < n->len; i++) {
        unsigned dg = (unsigned)(n->text[i] - '0');
        if (v > (UINT64_MAX - dg) / 10)
            over = true;
        else
            v = v * 10 + dg;
    }
    if (over || v < min || v > max)
        return pwss__fail(c, n, "%s: %.40s is out of range (allowed %llu..%llu)", what, n->text,
                          (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return true;
}

bool pwss__read_bool(pwss__ctx *c, const pwss__ynode *n, const char *what, bool *out)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    pwss__sclass k = n->kind == PWSS__Y_SCALAR ? pwss__scalar_class(n) : PWSS__S_STRING;
    if (n->kind != PWSS__Y_SCALAR || (k != PWSS__S_TRUE && k != PWSS__S_FALSE))
        return pwss__fail(c, n, "%s: expected true or false, got %s", what, pwss__describe(n, d, sizeof d));
    *out = k == PWSS__S_TRUE;
    return true;
}

bool pwss__read_duration(pwss__ctx *c, const pwss__ynode *n, const char *what, uint32_t min, uint32_t max,
                         uint32_t *out)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    if (n->kind != PWSS__Y_SCALAR || pwss__is_null(n) || pwss__scalar_class(n) == PWSS__S_TRUE ||
        pwss__scalar_class(n) == PWSS__S_FALSE)
        return pwss__fail(c, n, "%s: expected a duration (250ms, 2s, 1.5s, 1m or milliseconds), got %s", what,
                          pwss__describe(n, d, sizeof d));
    const char *s = n->text;
    size_t i = 0, intd = 0, fracd = 0;
    while (i < n->len && s[i] >= '0' && s[i] <= '9')
        i++, intd++;
    if (i < n->len && s[i] == '.') {
        i++;
        while (i < n->len && s[i] >= '0' && s[i] <= '9')
            i++, fracd++;
    }
    const char *unit = s + i;
    double factor = 0;
    if (!strcmp(unit, "ms") || !*unit)
        factor = 1;
    else if (!strcmp(unit, "s"))
        factor = 1000;
    else if (!strcmp(unit, "m"))
        factor = 60000;
    if (!factor || !intd || i > 32 || strlen(s) != n->len || (fracd == 0 && s[intd] == '.'))
        return pwss__fail(c, n, "%s: bad duration '%.40s' (write 250ms, 2s, 1.5s, 1m or plain milliseconds)",
                          what, s);
    char num[40];
    memcpy(num, s, i);
    num[i] = '\0';
    double ms = strtod(num, NULL) * factor;
    double whole = floor(ms + 0.5);
    if (fabs(ms - whole) > 1e-6)
        return pwss__fail(c, n, "%s: '%.40s' is not a whole number of milliseconds", what, s);
    if (whole < (double)min || whole > (double)max)
        return pwss__fail(c, n, "%s: %.40s is out of range (allowed %u ms..%u ms)", what, s, min, max);
    *out = (uint32_t)whole;
    return true;
}

bool pwss__read_number(pwss__ctx *c, const pwss__ynode *n, const char *what, double min, double max,
                       double *out)
{
    char d[96];
    if (!pwss__visit(c, n))
        return false;
    if (n->kind != PWSS__Y_SCALAR || pwss__scalar_class(n) != PWSS__S_NUMBER)
        return pwss__fail(c, n, "%s: expected a number, got %s", what, pwss__describe(n, d, sizeof d));
    double v = strtod(n->text, NULL);
    if (!isfinite(v) || v < min || v > max)
        return pwss__fail(c, n, "%s: %.40s is out of range (allowed %g..%g)", what, n->text, min, max);
    *out = v;
    return true;
}

/* Size of the tree glibc's regcomp builds, estimated before calling it: regcomp copies
 * the operand of `+` (a+ is aa*) and of bounds (a{3} is aaa), so "a++++..." or
 * "((a{9}){9}){9}" cost exponential time and memory.  Recursive descent over the ERE
 * syntax; the result saturates at PWSS__MAX_REGEX_COST + 1, and deep group nesting also
 * gives that. */
typedef struct rx_scan {
    const char *p;  /* next character */
    unsigned depth; /* open groups */
    bool backref;   /* a \1..\9 back-reference was seen */
} rx_scan;

static size_t rx_add(size_t a, size_t b)
{
    return a + b > PWSS__MAX_REGEX_COST ? PWSS__MAX_REGEX_COST + 1 : a + b;
}

static size_t rx_mul(size_t a, size_t b)
{
    return b && a > PWSS__MAX_REGEX_COST / b ? PWSS__MAX_REGEX_COST + 1 : rx_add(a * b, 0);
}

static size_t rx_alt(rx_scan *r);

static size_t rx_atom(rx_scan *r)
{
    char ch = *r->p;
    if (ch == '(') {
        r->p++;
        if (++r->depth > PWSS__YAML_MAX_DEPTH)
            return PWSS__MAX_REGEX_COST + 1;
        size_t n = rx_alt(r);
        if (*r->p == ')')
            r->p++;
        r->depth--;
        return rx_add(n, 1);
    }
    if (ch == '[') { /* bracket expression: []...], [^]...], [[:alpha:]] */
        r->p++;
        if (*r->p == '^')
            r->p++;
        if (*r->p == ']')
            r->p++;
        while (*r->p && *r->p != ']') {
            if (r->p[0] == '[' && (r->p[1] == ':' || r->p[1] == '.' || r->p[1] == '=')) {
                char kind = r->p[1];
                r->p += 2;
                while (*r->p && !(r->p[0] == kind && r->p[1] == ']'))
                    r->p++;
                if (*r->p)
                    r->p += 2;
            } else {
                r->p++;
            }
        }
        if (*r->p)
            r->p++;
        return 1;
    }
    if (ch == '\\') {
        r->p++;
        if (*r->p >= '1' && *r->p <= '9')
            r->backref = true;
        if (*r->p)
            r->p++;
        return 1;
    }
    r->p++;
    return 1;
}

static size_t rx_piece(rx_scan *r)
{
    size_t n = rx_atom(r);
    for (;;) {
        char ch = *r->p;
        if (ch == '*' || ch == '?') {
            n = rx_add(n, 1);
            r->p++;
        } else if (ch == '+') {
            n = rx_add(rx_mul(n, 2), 1);
            r->p++;
        } else if (ch == '{') {
            const char *q = r->p + 1;
            size_t lo = 0, hi = 0;
            bool digits = false, comma = false, hidigits = false;
            while (*q >= '0' && *q <= '9' && lo <= PWSS__MAX_REGEX_COST)
                lo = lo * 10 + (size_t)(*q++ - '0'), digits = true;
            if (*q == ',') {
                comma = true;
                q++;
                while (*q >= '0' && *q <= '9' && hi <= PWSS__MAX_REGEX_COST)
                    hi = hi * 10 + (size_t)(*q++ - '0'), hidigits = true;
            }
            if (*q != '}' || (!digits && !hidigits))
                return n; /* not a bound: regcomp judges it */
            size_t copies = !comma ? lo : hidigits ? hi : lo + 1;
            n = rx_add(rx_mul(n, copies ? copies : 1), 1);
            r->p = q + 1;
        } else {
            return n;
        }
    }
}

static size_t rx_alt(rx_scan *r)
{
    size_t n = 0;
    for (;;) {
        while (*r->p && *r->p != '|' && *r->p != ')')
            n = rx_add(n, rx_piece(r));
        if (*r->p != '|')
            return n;
        r->p++;
        n = rx_add(n, 1);
    }
}

bool pwss__read_regex(pwss__ctx *c, const pwss__ynode *n, const char *what, char **out)
{
    char *re = NULL;
    if (!pwss__read_string(c, n, what, PWSS__MAX_REGEX, false, &re))
        return false;
    rx_scan scan = {.p = re};
    size_t cost = 0;
    while (*scan.p) {
        cost = rx_add(cost, rx_alt(&scan));
        if (*scan.p == ')') /* unbalanced: regcomp reports it below */
            scan.p++;
    }
    if (scan.backref) {
        free(re);
        return pwss__fail(c, n,
                          "%s: back-references (\\1 ... \\9) are not supported: matching with them can "
                          "take exponential time",
                          what);
    }
    if (cost > PWSS__MAX_REGEX_COST) {
        free(re);
        return pwss__fail(c, n,
                          "%s: regular expression too complex (repetitions such as +, {n} or nested "
                          "groups expand to more than %u nodes)",
                          what, PWSS__MAX_REGEX_COST);
    }
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char m[160];
        regerror(rc, &rx, m, sizeof m);
        free(re);
        return pwss__fail(c, n, "%s: bad regular expression: %s", what, m);
    }
    regfree(&rx);
    free(*out);
    *out = re;
    return true;
}
