/*
 * scenario_yaml.h - one YAML document as a small tree that remembers where
 * every node was written (private to the scenario loader).
 *
 * Built from libyaml's event API so that depth, node count and aliases are
 * checked while parsing, before any of it is interpreted.  Aliases point at
 * the anchored node (shared, not copied): a walker must bound its own work
 * (see PWSS__MAX_EXPANDED_NODES in scenario_compile.h).  An alias can only
 * name a node that is complete, so the tree has no cycles.
 */
#ifndef POLYWS_SCENARIO_YAML_H
#define POLYWS_SCENARIO_YAML_H

#include <stdbool.h>
#include <stddef.h>

#define PWSS__YAML_MAX_DEPTH 64u     /* nesting of sequences and mappings */
#define PWSS__YAML_MAX_NODES 262144u /* nodes in one document (aliases not counted) */
#define PWSS__YAML_MAX_ANCHORS 4096u /* anchors in one document */

typedef enum pwss__ykind {
    PWSS__Y_SCALAR = 0, /* text */
    PWSS__Y_SEQ,        /* kids are the items */
    PWSS__Y_MAP         /* kids are key0, value0, key1, value1, ... */
} pwss__ykind;

typedef struct pwss__ynode pwss__ynode;
struct pwss__ynode {
    pwss__ykind kind;   /* what it is */
    int line, column;   /* where it starts, 1-based */
    char *text;         /* scalar: the value, NUL-terminated (may hold NULs: see len) */
    size_t len;         /* scalar: bytes in text */
    bool plain;         /* scalar: plain style (unquoted), so it may be a number, bool or null */
    bool str_tag;       /* scalar: tagged !!str, so it is a string whatever it looks like */
    pwss__ynode **kids; /* sequence items, or mapping keys and values interleaved */
    size_t nkids;       /* entries in kids (twice the pairs for a mapping) */
    size_t capkids;     /* allocated entries */
};

typedef struct pwss__ydoc {
    pwss__ynode *root;   /* NULL when the file holds no document (empty or comments only) */
    pwss__ynode **nodes; /* every node once, to free them (aliases share nodes) */
    size_t nnodes;       /* entries in nodes */
    size_t capnodes;     /* allocated entries */
} pwss__ydoc;

/** Parses one YAML document from text/len into *doc (zeroed by the call).
 * Returns 0, or -1 with the 1-based *line and *column and a message in msg; *doc is
 * then already freed.  Duplicate keys in a mapping are errors (YAML requires
 * unique keys).  Tags other than the standard ones for a node's kind and !!str
 * are refused. */
int pwss__yaml_parse(const char *text, size_t len, pwss__ydoc *doc, int *line, int *column, char *msg,
                     size_t msgcap);

/** Frees everything in doc (not doc itself). */
void pwss__yaml_free(pwss__ydoc *doc);

/** Mapping pairs. */
static inline size_t pwss__ymap_pairs(const pwss__ynode *map)
{
    return map->nkids / 2;
}

#endif
