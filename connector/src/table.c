/*
 * table.c - the keyed table: the latest event per key, with Pathway-style
 * change callbacks (see the pws_table_* contract in polyws.h).
 *
 * Layout.  Rows live in a dense array (insertion order, never moved except by
 * growth), so foreach is a linear scan and a row costs sizeof(pws_event) + a
 * key, about 360 bytes: the default limit of 100000 rows is ~36 MB at most.
 * An open-addressing index of uint32 row numbers (linear probing, load factor
 * at most 1/2) maps a key to its row; it stores no keys, so probing compares
 * the cached 64-bit hash first and the key string only on a hash match.
 * Rows are never deleted, so the index needs no tombstones.
 *
 * Growth doubles both arrays (capped at max_rows) and rebuilds the index from
 * the cached hashes: O(rows) once per doubling, amortized O(1) per insert.
 *
 * Hash: FNV-1a over a short key.  Keys are ticker symbols sent by the server
 * the user subscribed to, not attacker-chosen input, and max_rows bounds any
 * probe sequence; a keyed hash would cost more than it buys here.
 */
#include <polyws/polyws.h>

#include <stdlib.h>
#include <string.h>

/* "AM." + a symbol of up to PWS_SYMBOL_MAX - 1 bytes + NUL. */
#define TABLE_KEY_MAX (3 + PWS_SYMBOL_MAX)
/* Rows allocated on the first insert. */
#define TABLE_MIN_ROWS 16u
/* Row numbers are stored as uint32 + 1 in the index; this keeps them far
 * from overflow (and 2^30 rows would be ~380 GB anyway). */
#define TABLE_HARD_MAX_ROWS (1u << 30)

typedef struct table_row {
    pws_event ev;            /* the latest event for this key (never PWS_EV_OTHER) */
    uint64_t hash;           /* hash of key, cached so growth never rehashes strings */
    uint8_t key_len;         /* strlen(key) */
    char key[TABLE_KEY_MAX]; /* NUL-terminated key, owned by the table */
} table_row;

struct pws_table {
    pws_table_key mode;      /* which events are kept and how they are keyed */
    size_t max_rows;         /* new keys beyond this many rows are refused */
    pws_change_fn on_change; /* change callback, or NULL */
    void *user;              /* passed to on_change */
    table_row *rows;         /* dense array of nrows rows */
    size_t nrows;            /* rows in use */
    size_t rows_cap;         /* rows allocated */
    uint32_t *index;         /* open addressing: 0 = empty, else row number + 1 */
    size_t index_cap;        /* slots in index: a power of two >= 2 * rows_cap */
};

static uint64_t table_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int pws_table_create(const pws_table_options *opts, pws_table **out)
{
    pws_table *t;

    if (out == NULL)
        return PWS_ERR_INVALID;
    *out = NULL;
    if (opts == NULL)
        return PWS_ERR_INVALID;
    if (opts->key != PWS_TABLE_KEY_SYMBOL && opts->key != PWS_TABLE_KEY_TYPE_SYMBOL)
        return PWS_ERR_INVALID;
    if (opts->max_rows > TABLE_HARD_MAX_ROWS)
        return PWS_ERR_LIMIT;

    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return PWS_ERR_NOMEM;
    t->mode = opts->key;
    t->max_rows = opts->max_rows != 0 ? opts->max_rows : PWS_DEFAULT_TABLE_MAX_ROWS;
    t->on_change = opts->on_change;
    t->user = opts->user;
    /* Arrays are allocated on the first insert: an unused table costs one
     * small struct. */
    *out = t;
    return PWS_OK;
}

void pws_table_destroy(pws_table *t)
{
    if (t == NULL)
        return;
    free(t->rows);
    free(t->index);
    free(t);
}

/* Builds the key of ev into key[TABLE_KEY_MAX] and its time.  Returns 1 if
 * the table keeps ev, 0 if it ignores it, PWS_ERR_INVALID if the symbol is
 * not NUL-terminated within its buffer. */
static int table_key_of(const pws_table *t, const pws_event *ev, char *key, size_t *key_len,
                        int64_t *time)
{
    const char *prefix;
    const char *sym;
    size_t plen;
    size_t slen;

    switch (ev->type) {
    case PWS_EV_AGG:
        sym = ev->u.agg.sym;
        prefix = ev->u.agg.minute ? "AM." : "A.";
        *time = ev->u.agg.e;
        break;
    case PWS_EV_TRADE:
        if (t->mode != PWS_TABLE_KEY_TYPE_SYMBOL)
            return 0;
        sym = ev->u.trade.sym;
        prefix = "T.";
        *time = ev->u.trade.t;
        break;
    case PWS_EV_QUOTE:
        if (t->mode != PWS_TABLE_KEY_TYPE_SYMBOL)
            return 0;
        sym = ev->u.quote.sym;
        prefix = "Q.";
        *time = ev->u.quote.t;
        break;
    default:
        /* Status, lifecycle, parse errors and PWS_EV_OTHER (whose json
         * pointer would dangle once the event is gone) are never rows. */
        return 0;
    }

    slen = strnlen(sym, PWS_SYMBOL_MAX);
    if (slen == PWS_SYMBOL_MAX)
        return PWS_ERR_INVALID;
    plen = t->mode == PWS_TABLE_KEY_TYPE_SYMBOL ? strlen(prefix) : 0;
    memcpy(key, prefix, plen);
    memcpy(key + plen, sym, slen);
    key[plen + slen] = '\0';
    *key_len = plen + slen;
    return 1;
}

/* Index slot holding key, or the empty slot where it would go. */
static size_t table_find_slot(const pws_table *t, const char *key, size_t len, uint64_t hash)
{
    size_t mask = t->index_cap - 1;
    size_t i = (size_t)hash & mask;

    /* Terminates: the load factor is at most 1/2, so an empty slot exists. */
    for (;;) {
        uint32_t r = t->index[i];
        if (r == 0)
            return i;
        const table_row *row = &t->rows[r - 1];
        if (row->hash == hash && row->key_len == len && memcmp(row->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Grows rows and index so one more row fits.  On failure nothing changes. */
static int table_grow(pws_table *t)
{
    size_t rows_cap = t->rows_cap == 0 ? TABLE_MIN_ROWS : t->rows_cap * 2;
    size_t index_cap = t->index_cap == 0 ? 2 * TABLE_MIN_ROWS : t->index_cap;
    uint32_t *index;
    table_row *rows;

    if (rows_cap > t->max_rows)
        rows_cap = t->max_rows;
    while (index_cap < 2 * rows_cap)
        index_cap *= 2;

    /* The index first: if the rows realloc then fails, freeing it undoes
     * everything. */
    index = calloc(index_cap, sizeof(*index));
    if (index == NULL)
        return PWS_ERR_NOMEM;
    rows = realloc(t->rows, rows_cap * sizeof(*rows));
    if (rows == NULL) {
        free(index);
        return PWS_ERR_NOMEM;
    }
    free(t->index);
    t->rows = rows;
    t->rows_cap = rows_cap;
    t->index = index;
    t->index_cap = index_cap;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t i = (size_t)rows[r].hash & (index_cap - 1);
        while (index[i] != 0)
            i = (i + 1) & (index_cap - 1);
        index[i] = (uint32_t)(r + 1);
    }
    return PWS_OK;
}

int pws_table_apply(pws_table *t, const pws_event *ev)
{
    char key[TABLE_KEY_MAX];
    size_t key_len = 0;
    int64_t time = 0;
    uint64_t hash;
    size_t slot;
    table_row *row;
    int rc;

    if (t == NULL || ev == NULL)
        return PWS_ERR_INVALID;
    rc = table_key_of(t, ev, key, &key_len, &time);
    if (rc <= 0)
        return rc;

    hash = table_hash(key, key_len);
    if (t->index_cap != 0) {
        slot = table_find_slot(t, key, key_len, hash);
        if (t->index[slot] != 0) {
            /* Update: retract the old row, then add the new one, both at the
             * new event's time, as Pathway does.  The callback must not apply
             * to this table (rows may move), so `row` stays valid. */
            row = &t->rows[t->index[slot] - 1];
            if (t->on_change != NULL)
                t->on_change(row->key, &row->ev, time, false, t->user);
            row->ev = *ev;
            if (t->on_change != NULL)
                t->on_change(row->key, &row->ev, time, true, t->user);
            return PWS_OK;
        }
    }

    if (t->nrows >= t->max_rows)
        return PWS_ERR_LIMIT;
    if (t->nrows == t->rows_cap) {
        rc = table_grow(t);
        if (rc != PWS_OK)
            return rc;
    }
    /* Found again after a possible growth: the index was rebuilt. */
    slot = table_find_slot(t, key, key_len, hash);
    row = &t->rows[t->nrows];
    row->ev = *ev;
    row->hash = hash;
    row->key_len = (uint8_t)key_len;
    memcpy(row->key, key, key_len + 1);
    t->index[slot] = (uint32_t)(t->nrows + 1);
    t->nrows++;
    if (t->on_change != NULL)
        t->on_change(row->key, &row->ev, time, true, t->user);
    return PWS_OK;
}

const pws_event *pws_table_get(const pws_table *t, const char *key)
{
    size_t len;
    size_t slot;

    if (t == NULL || key == NULL || t->index_cap == 0)
        return NULL;
    len = strnlen(key, TABLE_KEY_MAX);
    if (len == TABLE_KEY_MAX)
        return NULL;
    slot = table_find_slot(t, key, len, table_hash(key, len));
    return t->index[slot] != 0 ? &t->rows[t->index[slot] - 1].ev : NULL;
}

size_t pws_table_size(const pws_table *t)
{
    return t != NULL ? t->nrows : 0;
}

void pws_table_foreach(const pws_table *t,
                       void (*fn)(const char *key, const pws_event *row, void *user), void *user)
{
    if (t == NULL || fn == NULL)
        return;
    /* Insertion order in practice; the contract promises no order. */
    for (size_t r = 0; r < t->nrows; r++)
        fn(t->rows[r].key, &t->rows[r].ev, user);
}
