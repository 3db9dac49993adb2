/*
 * journal_match.h - finding entries in the mock's journal (polyws/mock.h),
 * shared by the mock and engine suites (tests/unit/test_mock.c,
 * tests/unit/test_engine.c).
 */
#ifndef POLYWS_TEST_JOURNAL_MATCH_H
#define POLYWS_TEST_JOURNAL_MATCH_H

#include <polyws/mock.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an entry must have; 0 / NULL fields match anything. */
typedef struct match {
    uint32_t conn;     /* connection ordinal, 0 = any */
    char dir;          /* 'c', 's', '-', 0 = any */
    const char *kind;  /* NULL = any */
    const char *data;  /* substring of the data, NULL = any */
} match;

/* A pwsm_wait_for predicate over a match. */
bool match_pred(const pwsm_entry *e, void *u);
/* Waits up to timeout_ms for a matching entry. */
bool wait_entry(pwsm_server *s, uint32_t conn, char dir, const char *kind, const char *data, int timeout_ms);
/* Matching entries so far. */
size_t count_entries(pwsm_server *s, uint32_t conn, char dir, const char *kind, const char *data);

#endif
