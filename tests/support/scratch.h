/*
 * scratch.h - a per-suite scratch directory and whole-file reads, shared by
 * the tape and record suites (tests/unit/test_tape.c,
 * tests/integration/test_record.c).
 */
#ifndef POLYWS_TEST_SCRATCH_H
#define POLYWS_TEST_SCRATCH_H

#include <stddef.h>

/* Creates /tmp/PREFIX.XXXXXX (mkdtemp); 0, or -1.  A CUnit suite init. */
int scratch_init(const char *prefix);
/* Removes it with everything in it; 0, or -1.  A CUnit suite cleanup. */
int scratch_clean(void);
/* The scratch directory's path. */
const char *scratch_dir(void);
/* buf = the path of name inside the scratch directory. */
void path_of(char *buf, size_t cap, const char *name);
/* The whole file, NUL-terminated (malloc'd), its length in *len if not NULL;
 * NULL if it cannot be read. */
char *slurp(const char *path, size_t *len);

#endif
