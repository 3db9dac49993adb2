/*
 * test_table.c - the keyed table (libpolyws, table.c): Pathway change
 * semantics, key modes, the row limit, growth and foreach.
 */
#include <polyws/polyws.h>

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

#define MAX_CHANGES 16

/* One recorded on_change call (row copied: it is valid only in the call). */
typedef struct change {
    char key[64];       /* key as passed */
    pws_event row;      /* row as passed */
    int64_t time;       /* time as passed */
    bool is_addition;   /* addition or retraction */
} change;

/* Recorder for on_change calls. */
typedef struct recorder {
    change c[MAX_CHANGES]; /* first MAX_CHANGES calls since the last reset */
    int n;                 /* calls since the last reset */
} recorder;

static void record_change(const char *key, const pws_event *row, int64_t time, bool is_addition,
                          void *user)
{
    recorder *r = user;
    if (r->n < MAX_CHANGES) {
        snprintf(r->c[r->n].key, sizeof(r->c[r->n].key), "%s", key);
        r->c[r->n].row = *row;
        r->c[r->n].time = time;
        r->c[r->n].is_addition = is_addition;
    }
    r->n++;
}

static pws_event mk_agg(const char *sym, bool minute, double close, int64_t end_ms)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_AGG;
    snprintf(ev.u.agg.sym, sizeof(ev.u.agg.sym), "%s", sym);
    ev.u.agg.minute = minute;
    ev.u.agg.c = close;
    ev.u.agg.s = end_ms - (minute ? 60000 : 1000);
    ev.u.agg.e = end_ms;
    ev.u.agg.present = PWS_AGG_C | PWS_AGG_S | PWS_AGG_E;
    return ev;
}

static pws_event mk_trade(const char *sym, double price, int64_t t_ms)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_TRADE;
    snprintf(ev.u.trade.sym, sizeof(ev.u.trade.sym), "%s", sym);
    ev.u.trade.p = price;
    ev.u.trade.t = t_ms;
    return ev;
}

static pws_event mk_quote(const char *sym, double bid, int64_t t_ms)
{
    pws_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = PWS_EV_QUOTE;
    snprintf(ev.u.quote.sym, sizeof(ev.u.quote.sym), "%s", sym);
    ev.u.quote.bp = bid;
    ev.u.quote.t = t_ms;
    return ev;
}

static pws_table *mk_table(pws_table_key key, size_t max_rows, recorder *r)
{
    pws_table_options o;
    pws_table *t = NULL;
    memset(&o, 0, sizeof(o));
    o.key = key;
    o.max_rows = max_rows;
    o.on_change = r != NULL ? record_change : NULL;
    o.user = r;
    CU_ASSERT_EQUAL(pws_table_create(&o, &t), PWS_OK);
    CU_ASSERT_PTR_NOT_NULL(t);
    return t;
}

/* -------------------------------------------------------------- tests */

static void test_create_invalid(void)
{
    pws_table_options o;
    pws_table *t = (pws_table *)&o;

    memset(&o, 0, sizeof(o));
    CU_ASSERT_EQUAL(pws_table_create(NULL, &t), PWS_ERR_INVALID);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(pws_table_create(&o, NULL), PWS_ERR_INVALID);
    o.key = (pws_table_key)5;
    CU_ASSERT_EQUAL(pws_table_create(&o, &t), PWS_ERR_INVALID);
    CU_ASSERT_PTR_NULL(t);
    o.key = PWS_TABLE_KEY_SYMBOL;
    CU_ASSERT_EQUAL(pws_table_create(&o, &t), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_size(t), 0);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "AAPL")); /* empty table, nothing allocated */
    CU_ASSERT_EQUAL(pws_table_apply(t, NULL), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws_table_apply(NULL, NULL), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws_table_size(NULL), 0);
    CU_ASSERT_PTR_NULL(pws_table_get(NULL, "AAPL"));
    CU_ASSERT_PTR_NULL(pws_table_get(t, NULL));
    pws_table_destroy(t);
    pws_table_destroy(NULL);
}

static void test_addition_then_update(void)
{
    recorder r;
    memset(&r, 0, sizeof(r));
    pws_table *t = mk_table(PWS_TABLE_KEY_SYMBOL, 0, &r);

    pws_event a1 = mk_agg("AAPL", false, 190.25, 1700000001000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a1), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 1);
    CU_ASSERT_STRING_EQUAL(r.c[0].key, "AAPL");
    CU_ASSERT_TRUE(r.c[0].is_addition);
    CU_ASSERT_EQUAL(r.c[0].time, 1700000001000);
    CU_ASSERT_DOUBLE_EQUAL(r.c[0].row.u.agg.c, 190.25, 0.0);
    CU_ASSERT_EQUAL(pws_table_size(t), 1);

    /* Update: retraction carrying the old row, then addition of the new,
     * both at the new event's time. */
    memset(&r, 0, sizeof(r));
    pws_event a2 = mk_agg("AAPL", false, 191.5, 1700000002000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a2), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_FALSE(r.c[0].is_addition);
    CU_ASSERT_STRING_EQUAL(r.c[0].key, "AAPL");
    CU_ASSERT_DOUBLE_EQUAL(r.c[0].row.u.agg.c, 190.25, 0.0);
    CU_ASSERT_EQUAL(r.c[0].row.u.agg.e, 1700000001000);
    CU_ASSERT_TRUE(r.c[1].is_addition);
    CU_ASSERT_STRING_EQUAL(r.c[1].key, "AAPL");
    CU_ASSERT_DOUBLE_EQUAL(r.c[1].row.u.agg.c, 191.5, 0.0);
    CU_ASSERT_EQUAL(r.c[0].time, 1700000002000);
    CU_ASSERT_EQUAL(r.c[1].time, r.c[0].time);
    CU_ASSERT_EQUAL(pws_table_size(t), 1);

    const pws_event *row = pws_table_get(t, "AAPL");
    CU_ASSERT_PTR_NOT_NULL_FATAL(row);
    CU_ASSERT_DOUBLE_EQUAL(row->u.agg.c, 191.5, 0.0);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "MSFT"));

    /* An identical row is still an update (retraction + addition). */
    memset(&r, 0, sizeof(r));
    CU_ASSERT_EQUAL(pws_table_apply(t, &a2), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 2);

    /* A second key is an addition. */
    memset(&r, 0, sizeof(r));
    pws_event m1 = mk_agg("MSFT", false, 410.0, 1700000003000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &m1), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 1);
    CU_ASSERT_TRUE(r.c[0].is_addition);
    CU_ASSERT_EQUAL(pws_table_size(t), 2);
    pws_table_destroy(t);
}

static void test_key_symbol_mode(void)
{
    recorder r;
    memset(&r, 0, sizeof(r));
    pws_table *t = mk_table(PWS_TABLE_KEY_SYMBOL, 0, &r);

    /* Only aggregates are kept; everything else is ignored silently. */
    pws_event tr = mk_trade("AAPL", 1.0, 5);
    pws_event qu = mk_quote("AAPL", 1.0, 5);
    pws_event st;
    memset(&st, 0, sizeof(st));
    st.type = PWS_EV_STATUS;
    pws_event ot;
    memset(&ot, 0, sizeof(ot));
    ot.type = PWS_EV_OTHER;
    ot.u.other.json = "{\"ev\":\"LULD\",\"T\":\"AAPL\"}";
    ot.u.other.json_len = strlen(ot.u.other.json);
    pws_event pe;
    memset(&pe, 0, sizeof(pe));
    pe.type = PWS_EV_PARSE_ERROR;
    pws_event cn;
    memset(&cn, 0, sizeof(cn));
    cn.type = PWS_EV_CONNECTION;
    CU_ASSERT_EQUAL(pws_table_apply(t, &tr), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &qu), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &st), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &ot), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &pe), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &cn), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_EQUAL(pws_table_size(t), 0);

    /* A and AM of one symbol share the key "AAPL". */
    pws_event a = mk_agg("AAPL", false, 1.0, 1000);
    pws_event am = mk_agg("AAPL", true, 2.0, 60000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &am), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 3);
    CU_ASSERT_EQUAL(pws_table_size(t), 1);
    CU_ASSERT_TRUE(pws_table_get(t, "AAPL")->u.agg.minute);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "A.AAPL"));

    /* A symbol that fills its buffer without a NUL is refused. */
    pws_event bad = mk_agg("X", false, 1.0, 1);
    memset(bad.u.agg.sym, 'Z', sizeof(bad.u.agg.sym));
    CU_ASSERT_EQUAL(pws_table_apply(t, &bad), PWS_ERR_INVALID);
    CU_ASSERT_EQUAL(pws_table_size(t), 1);
    /* The longest legal symbol (31 bytes) works. */
    pws_event longest = mk_agg("X", false, 1.0, 1);
    memset(longest.u.agg.sym, 'L', PWS_SYMBOL_MAX - 1);
    longest.u.agg.sym[PWS_SYMBOL_MAX - 1] = '\0';
    CU_ASSERT_EQUAL(pws_table_apply(t, &longest), PWS_OK);
    CU_ASSERT_PTR_NOT_NULL(pws_table_get(t, longest.u.agg.sym));
    pws_table_destroy(t);
}

static void test_key_type_symbol_mode(void)
{
    recorder r;
    memset(&r, 0, sizeof(r));
    pws_table *t = mk_table(PWS_TABLE_KEY_TYPE_SYMBOL, 0, &r);

    pws_event a = mk_agg("AAPL", false, 1.0, 1000);
    pws_event am = mk_agg("AAPL", true, 2.0, 60000);
    pws_event tr = mk_trade("AAPL", 3.0, 1234);
    pws_event qu = mk_quote("AAPL", 4.0, 5678);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &am), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &tr), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &qu), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_size(t), 4);
    CU_ASSERT_EQUAL_FATAL(r.n, 4);
    CU_ASSERT_STRING_EQUAL(r.c[0].key, "A.AAPL");
    CU_ASSERT_STRING_EQUAL(r.c[1].key, "AM.AAPL");
    CU_ASSERT_STRING_EQUAL(r.c[2].key, "T.AAPL");
    CU_ASSERT_STRING_EQUAL(r.c[3].key, "Q.AAPL");
    /* Times: aggregate end, trade and quote SIP timestamps. */
    CU_ASSERT_EQUAL(r.c[0].time, 1000);
    CU_ASSERT_EQUAL(r.c[1].time, 60000);
    CU_ASSERT_EQUAL(r.c[2].time, 1234);
    CU_ASSERT_EQUAL(r.c[3].time, 5678);

    CU_ASSERT_DOUBLE_EQUAL(pws_table_get(t, "A.AAPL")->u.agg.c, 1.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(pws_table_get(t, "AM.AAPL")->u.agg.c, 2.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(pws_table_get(t, "T.AAPL")->u.trade.p, 3.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(pws_table_get(t, "Q.AAPL")->u.quote.bp, 4.0, 0.0);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "AAPL"));

    /* A trade update: retraction of the old trade at the new trade's time. */
    memset(&r, 0, sizeof(r));
    pws_event tr2 = mk_trade("AAPL", 3.5, 2000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &tr2), PWS_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_FALSE(r.c[0].is_addition);
    CU_ASSERT_DOUBLE_EQUAL(r.c[0].row.u.trade.p, 3.0, 0.0);
    CU_ASSERT_EQUAL(r.c[0].time, 2000);
    CU_ASSERT_TRUE(r.c[1].is_addition);
    CU_ASSERT_DOUBLE_EQUAL(r.c[1].row.u.trade.p, 3.5, 0.0);
    CU_ASSERT_EQUAL(r.c[1].time, 2000);
    CU_ASSERT_EQUAL(pws_table_size(t), 4);

    /* Longest symbol with the longest prefix still fits. */
    pws_event longest = mk_agg("X", true, 1.0, 1);
    char key[64];
    memset(longest.u.agg.sym, 'L', PWS_SYMBOL_MAX - 1);
    longest.u.agg.sym[PWS_SYMBOL_MAX - 1] = '\0';
    CU_ASSERT_EQUAL(pws_table_apply(t, &longest), PWS_OK);
    snprintf(key, sizeof(key), "AM.%s", longest.u.agg.sym);
    CU_ASSERT_PTR_NOT_NULL(pws_table_get(t, key));
    pws_table_destroy(t);
}

static void test_max_rows(void)
{
    recorder r;
    memset(&r, 0, sizeof(r));
    pws_table *t = mk_table(PWS_TABLE_KEY_SYMBOL, 3, &r);
    const char *syms[] = {"A", "B", "C", "D"};

    for (int i = 0; i < 3; i++) {
        pws_event ev = mk_agg(syms[i], false, i, 1000 + i);
        CU_ASSERT_EQUAL(pws_table_apply(t, &ev), PWS_OK);
    }
    CU_ASSERT_EQUAL(r.n, 3);
    pws_event d = mk_agg(syms[3], false, 3, 1003);
    CU_ASSERT_EQUAL(pws_table_apply(t, &d), PWS_ERR_LIMIT);
    CU_ASSERT_EQUAL(r.n, 3); /* refused: no callback */
    CU_ASSERT_EQUAL(pws_table_size(t), 3);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "D"));
    /* Existing keys still update at the limit. */
    pws_event b2 = mk_agg("B", false, 42, 2000);
    CU_ASSERT_EQUAL(pws_table_apply(t, &b2), PWS_OK);
    CU_ASSERT_EQUAL(r.n, 5);
    CU_ASSERT_DOUBLE_EQUAL(pws_table_get(t, "B")->u.agg.c, 42, 0.0);
    pws_table_destroy(t);

    /* A limit that is not a growth step: 16 rows, then capped growth to 20. */
    t = mk_table(PWS_TABLE_KEY_SYMBOL, 20, NULL);
    char sym[16];
    for (int i = 0; i < 21; i++) {
        snprintf(sym, sizeof(sym), "K%d", i);
        pws_event ev = mk_agg(sym, false, i, i);
        CU_ASSERT_EQUAL(pws_table_apply(t, &ev), i < 20 ? PWS_OK : PWS_ERR_LIMIT);
    }
    CU_ASSERT_EQUAL(pws_table_size(t), 20);
    for (int i = 0; i < 20; i++) {
        snprintf(sym, sizeof(sym), "K%d", i);
        CU_ASSERT_PTR_NOT_NULL(pws_table_get(t, sym));
    }
    pws_table_destroy(t);

    /* Absurd limits are refused at creation. */
    pws_table_options o;
    pws_table *t2 = NULL;
    memset(&o, 0, sizeof(o));
    o.max_rows = (size_t)1 << 40;
    CU_ASSERT_EQUAL(pws_table_create(&o, &t2), PWS_ERR_LIMIT);
    CU_ASSERT_PTR_NULL(t2);
}

/* foreach visitor: sums the closes and checks each key maps to its row. */
typedef struct visit {
    const pws_table *t; /* table being visited */
    size_t rows;        /* rows visited */
    double sum;         /* sum of agg.c */
    size_t mismatches;  /* rows whose key does not match their symbol */
} visit;

static void visit_row(const char *key, const pws_event *row, void *user)
{
    visit *v = user;
    v->rows++;
    v->sum += row->u.agg.c;
    if (strcmp(key, row->u.agg.sym) != 0 || pws_table_get(v->t, key) != row)
        v->mismatches++;
}

static void test_many_keys_and_foreach(void)
{
    recorder r;
    const int n = 50000;
    char sym[PWS_SYMBOL_MAX];
    double expect = 0;

    memset(&r, 0, sizeof(r));
    pws_table *t = mk_table(PWS_TABLE_KEY_SYMBOL, 0, &r);
    for (int i = 0; i < n; i++) {
        snprintf(sym, sizeof(sym), "S%05d", i);
        pws_event ev = mk_agg(sym, false, i, 1000 + i);
        CU_ASSERT_EQUAL(pws_table_apply(t, &ev), PWS_OK);
        expect += i;
    }
    CU_ASSERT_EQUAL(pws_table_size(t), (size_t)n);
    CU_ASSERT_EQUAL(r.n, n); /* all additions */
    /* Every key survives the rehashes. */
    size_t missing = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        snprintf(sym, sizeof(sym), "S%05d", i);
        const pws_event *row = pws_table_get(t, sym);
        if (row == NULL)
            missing++;
        else if (row->u.agg.c != i || strcmp(row->u.agg.sym, sym) != 0)
            wrong++;
    }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_PTR_NULL(pws_table_get(t, "S99999"));

    /* Updating all of them: two callbacks each, size unchanged. */
    r.n = 0;
    for (int i = 0; i < n; i++) {
        snprintf(sym, sizeof(sym), "S%05d", i);
        pws_event ev = mk_agg(sym, false, i + 0.5, 5000 + i);
        CU_ASSERT_EQUAL(pws_table_apply(t, &ev), PWS_OK);
        expect += 0.5;
    }
    CU_ASSERT_EQUAL(r.n, 2 * n);
    CU_ASSERT_EQUAL(pws_table_size(t), (size_t)n);

    visit v = {t, 0, 0, 0};
    pws_table_foreach(t, visit_row, &v);
    CU_ASSERT_EQUAL(v.rows, (size_t)n);
    CU_ASSERT_EQUAL(v.mismatches, 0);
    CU_ASSERT_DOUBLE_EQUAL(v.sum, expect, 1e-6);
    pws_table_foreach(t, NULL, NULL); /* no-op */
    pws_table_foreach(NULL, visit_row, &v);
    pws_table_destroy(t);
}

static void test_no_callback(void)
{
    pws_table *t = mk_table(PWS_TABLE_KEY_SYMBOL, 0, NULL);
    pws_event a = mk_agg("AAPL", false, 1, 1);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_apply(t, &a), PWS_OK);
    CU_ASSERT_EQUAL(pws_table_size(t), 1);
    pws_table_destroy(t);
}

int main(void)
{
    CU_pSuite suite;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite("table", NULL, NULL);
    if (suite == NULL ||
        !CU_add_test(suite, "create and invalid arguments", test_create_invalid) ||
        !CU_add_test(suite, "addition, then update = retraction + addition", test_addition_then_update) ||
        !CU_add_test(suite, "key mode symbol", test_key_symbol_mode) ||
        !CU_add_test(suite, "key mode type.symbol", test_key_type_symbol_mode) ||
        !CU_add_test(suite, "max_rows", test_max_rows) ||
        !CU_add_test(suite, "many keys, rehash, foreach", test_many_keys_and_foreach) ||
        !CU_add_test(suite, "no callback", test_no_callback)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
