/*
 * leakcheck.h - the tests' own check that a text holds no trace of a key:
 * any run of 8 bytes of it (the whole key if shorter), raw, after decoding
 * JSON escapes (\uXXXX, \/, runs of backslashes) and percent escapes up to
 * three levels deep, and inside any run of base64 or base64url characters
 * decoded from each of its first four offsets.  Independent of the redactor
 * (wire/secrets.h) on purpose: it decodes the text rather than spelling the
 * key.  Used by test_secrets and the fuzz_redact target.
 */
#ifndef PWS_TEST_LEAKCHECK_H
#define PWS_TEST_LEAKCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* True if key (NUL-terminated) leaks from s[0..n) in an encoding named above. */
bool pws_test_leaks(const char *s, size_t n, const char *key);

#endif
