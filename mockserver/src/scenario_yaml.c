/*
 * scenario_yaml.c - libyaml events -> a small tree with marks.
 *
 * Why events rather than yaml_parser_load(): the document API builds the whole
 * node graph first (a 1 MiB file of "[" is a million nodes) and lets an alias
 * name the sequence it sits in, a cycle.  Here depth, node count and anchors
 * are checked as the events arrive, and an anchor is only usable once its
 * node is complete.  Cost: one allocation per node and per container growth.
 */
#include "scenario_yaml.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YTAG_STR "tag:yaml.org,2002:str"
#define YTAG_SEQ "tag:yaml.org,2002:seq"
#define YTAG_MAP "tag:yaml.org,2002:map"

typedef struct anchor {
    char *name;        /* anchor name */
    pwss__ynode *node; /* the complete node it names */
    size_t seq;        /* definition order: the latest definition of a name wins */
} anchor;

typedef struct open_node {
    pwss__ynode *node; /* a sequence or mapping still receiving kids */
    char *anchor;      /* its anchor, registered when it ends, or NULL */
    size_t anchor_seq; /* definition order of that anchor */
} open_node;

typedef struct builder {
    pwss__ydoc *doc;                       /* what is built */
    open_node stack[PWSS__YAML_MAX_DEPTH]; /* open containers, innermost last */
    size_t depth;                          /* entries in stack */
    anchor *anchors;                       /* complete anchored nodes */
    size_t nanchors, capanchors;           /* entries, allocated */
    size_t anchor_seq;                     /* anchors defined so far */
    int documents;                         /* documents started */
    int eline, ecol;                       /* error position */
    char *msg;                             /* error message buffer */
    size_t msgcap;                         /* its size */
} builder;

static int berr(builder *b, const yaml_mark_t *m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int berr(builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    b->eline = m ? (int)m->line + 1 : 1;
    b->ecol = m ? (int)m->column + 1 : 1;
    if (b->msg && b->msgcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->msg, b->msgcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        return -1;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static pwss__ynode *new_node(builder *b, pwss__ykind kind, const yaml_mark_t *m)
{
    pwss__ydoc *d = b->doc;
    if (d->nnodes >= PWSS__YAML_MAX_NODES) {
        berr(b, m, "too many YAML nodes (limit %u)", PWSS__YAML_MAX_NODES);
        return NULL;
    }
    if (grow((void **)&d->nodes, &d->capnodes, d->nnodes + 1, sizeof *d->nodes)) {
        berr(b, m, "out of memory");
        return NULL;
    }
    pwss__ynode *n = calloc(1, sizeof *n);
    if (!n) {
        berr(b, m, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->column = (int)m->column + 1;
    d->nodes[d->nnodes++] = n;
    return n;
}

/* Keys of a mapping must be unique (YAML 1.2, 3.2.1.1).  Checked when the
 * mapping ends: O(pairs^2) up to 64 pairs, else on a sorted copy. */
static int key_cmp(const void *a, const void *b)
{
    const pwss__ynode *x = *(pwss__ynode *const *)a, *y = *(pwss__ynode *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    /* equal keys: earliest written first, so the later one is reported */
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->column < y->column ? -1 : x->column > y->column;
}

static bool same_key(const pwss__ynode *x, const pwss__ynode *y)
{
    return x->kind == PWSS__Y_SCALAR && y->kind == PWSS__Y_SCALAR && x->len == y->len &&
           !memcmp(x->text, y->text, x->len);
}

static int check_unique_keys(builder *b, const pwss__ynode *map)
{
    size_t pairs = map->nkids / 2;
    const pwss__ynode *first = NULL, *dup = NULL;
    if (pairs <= 64) {
        for (size_t i = 1; i < pairs && !dup; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(map->kids[2 * i], map->kids[2 * j])) {
                    first = map->kids[2 * j];
                    dup = map->kids[2 * i];
                    break;
                }
    } else {
        const pwss__ynode **keys = malloc(pairs * sizeof *keys);
        if (!keys)
            return berr(b, NULL, "out of memory");
        size_t n = 0;
        for (size_t i = 0; i < pairs; i++)
            if (map->kids[2 * i]->kind == PWSS__Y_SCALAR)
                keys[n++] = map->kids[2 * i];
        qsort(keys, n, sizeof *keys, key_cmp);
        for (size_t i = 1; i < n && !dup; i++)
            if (same_key(keys[i - 1], keys[i])) {
                first = keys[i - 1];
                dup = keys[i];
            }
        free(keys);
    }
    if (!dup)
        return 0;
    yaml_mark_t m = {0, (size_t)dup->line - 1, (size_t)dup->column - 1};
    return berr(b, &m, "duplicate key '%.64s' (first written at %d:%d)", dup->text, first->line,
                first->column);
}

static int attach(builder *b, pwss__ynode *n, const yaml_mark_t *m)
{
    if (!b->depth) {
        b->doc->root = n;
        return 0;
    }
    pwss__ynode *parent = b->stack[b->depth - 1].node;
    if (grow((void **)&parent->kids, &parent->capkids, parent->nkids + 1, sizeof *parent->kids))
        return berr(b, m, "out of memory");
    parent->kids[parent->nkids++] = n;
    return 0;
}

static int add_anchor(builder *b, char *name, size_t seq, pwss__ynode *n, const yaml_mark_t *m)
{
    if (!name)
        return 0;
    if (b->nanchors >= PWSS__YAML_MAX_ANCHORS) {
        free(name);
        return berr(b, m, "too many anchors (limit %u)", PWSS__YAML_MAX_ANCHORS);
    }
    if (grow((void **)&b->anchors, &b->capanchors, b->nanchors + 1, sizeof *b->anchors)) {
        free(name);
        return berr(b, m, "out of memory");
    }
    b->anchors[b->nanchors].name = name;
    b->anchors[b->nanchors].node = n;
    b->anchors[b->nanchors].seq = seq;
    b->nanchors++;
    return 0;
}

static char *dup_anchor(builder *b, const yaml_char_t *a, const yaml_mark_t *m)
{
    if (!a)
        return NULL;
    char *s = strdup((const char *)a);
    if (!s)
        berr(b, m, "out of memory");
    return s;
}

static int check_tag(builder *b, const yaml_char_t *tag, const char *allowed, const yaml_mark_t *m)
{
    if (!tag || !strcmp((const char *)tag, allowed) || !strcmp((const char *)tag, "!"))
        return 0;
    return berr(b, m, "unsupported tag '%.64s' (scenarios use plain YAML; only !!str is understood)",
                (const char *)tag);
}

static int on_event(builder *b, yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return berr(b, m, "only one YAML document per scenario file (found a second '---')");
        return 0;
    case YAML_ALIAS_EVENT: {
        /* the latest definition of the name wins; if that is a node still
         * open around us, the alias would make a cycle */
        const char *name = (const char *)ev->data.alias.anchor;
        const anchor *done = NULL;
        for (size_t i = b->nanchors; i-- > 0 && !done;)
            if (!strcmp(b->anchors[i].name, name))
                done = &b->anchors[i];
        for (size_t i = 0; i < b->depth; i++)
            if (b->stack[i].anchor && !strcmp(b->stack[i].anchor, name) &&
                (!done || b->stack[i].anchor_seq > done->seq))
                return berr(b, m, "alias *%.64s refers to a node that contains it", name);
        if (done)
            return attach(b, done->node, m);
        return berr(b, m, "unknown anchor *%.64s (define it with &%.64s before use)", name, name);
    }
    case YAML_SCALAR_EVENT: {
        const yaml_char_t *tag = ev->data.scalar.tag;
        bool is_str = tag && !strcmp((const char *)tag, YTAG_STR);
        if (!is_str && check_tag(b, tag, YTAG_STR, m))
            return -1;
        pwss__ynode *n = new_node(b, PWSS__Y_SCALAR, m);
        if (!n)
            return -1;
        n->len = ev->data.scalar.length;
        n->text = malloc(n->len + 1);
        if (!n->text)
            return berr(b, m, "out of memory");
        memcpy(n->text, ev->data.scalar.value, n->len);
        n->text[n->len] = '\0';
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
        n->str_tag = is_str;
        if (attach(b, n, m))
            return -1;
        char *a = dup_anchor(b, ev->data.scalar.anchor, m);
        if (ev->data.scalar.anchor && !a)
            return -1;
        return add_anchor(b, a, a ? ++b->anchor_seq : 0, n, m);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (check_tag(b, seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag,
                      seq ? YTAG_SEQ : YTAG_MAP, m))
            return -1;
        if (b->depth >= PWSS__YAML_MAX_DEPTH)
            return berr(b, m, "nesting deeper than %u levels", PWSS__YAML_MAX_DEPTH);
        pwss__ynode *n = new_node(b, seq ? PWSS__Y_SEQ : PWSS__Y_MAP, m);
        if (!n || attach(b, n, m))
            return -1;
        const yaml_char_t *an = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        char *a = dup_anchor(b, an, m);
        if (an && !a)
            return -1;
        b->stack[b->depth].node = n;
        b->stack[b->depth].anchor = a;
        b->stack[b->depth].anchor_seq = a ? ++b->anchor_seq : 0;
        b->depth++;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (!b->depth)
            return berr(b, m, "internal error: unbalanced YAML events");
        open_node top = b->stack[--b->depth];
        b->stack[b->depth].anchor = NULL;
        if (top.node->kind == PWSS__Y_MAP && check_unique_keys(b, top.node)) {
            free(top.anchor);
            return -1;
        }
        return add_anchor(b, top.anchor, top.anchor_seq, top.node, m);
    }
    default: return 0;
    }
}

/* 1-based line and column of a byte offset (libyaml's reader errors carry only the offset). */
static void offset_mark(const char *text, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int parser_error(builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    switch (p->error) {
    case YAML_MEMORY_ERROR: return berr(b, NULL, "out of memory while parsing YAML");
    case YAML_READER_ERROR:
        offset_mark(text, len, p->problem_offset, &b->eline, &b->ecol);
        if (b->msg && b->msgcap)
            snprintf(b->msg, b->msgcap, "YAML syntax error: %s (byte 0x%02X at offset %zu)", problem,
                     (unsigned)(p->problem_value & 0xFF), p->problem_offset);
        return -1;
    default: break;
    }
    int r;
    if (p->context)
        r = berr(b, &p->problem_mark, "YAML syntax error: %s %s (from %d:%d)", problem, p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        r = berr(b, &p->problem_mark, "YAML syntax error: %s", problem);
    return r;
}

int pwss__yaml_parse(const char *text, size_t len, pwss__ydoc *doc, int *line, int *column, char *msg,
                     size_t msgcap)
{
    memset(doc, 0, sizeof *doc);
    builder b;
    memset(&b, 0, sizeof b);
    b.doc = doc;
    b.msg = msg;
    b.msgcap = msgcap;
    yaml_parser_t p;
    int rc = 0;
    if (!yaml_parser_initialize(&p)) {
        berr(&b, NULL, "out of memory");
        rc = -1;
    } else {
        yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
        for (;;) {
            yaml_event_t ev;
            if (!yaml_parser_parse(&p, &ev)) {
                rc = parser_error(&b, &p, text, len);
                break;
            }
            yaml_event_type_t type = ev.type;
            rc = on_event(&b, &ev);
            yaml_event_delete(&ev);
            if (rc || type == YAML_STREAM_END_EVENT)
                break;
        }
        yaml_parser_delete(&p);
    }
    for (size_t i = 0; i < b.depth; i++)
        free(b.stack[i].anchor);
    for (size_t i = 0; i < b.nanchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    if (rc) {
        *line = b.eline;
        *column = b.ecol;
        pwss__yaml_free(doc);
        return -1;
    }
    return 0;
}

void pwss__yaml_free(pwss__ydoc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nnodes; i++) {
        free(doc->nodes[i]->text);
        free(doc->nodes[i]->kids);
        free(doc->nodes[i]);
    }
    free(doc->nodes);
    memset(doc, 0, sizeof *doc);
}
