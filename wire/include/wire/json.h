/*
 * wire/json.h - JSON string literals: the one quoting and the one decoding.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h).  pws__json_quote writes every JSON string the project emits
 * byte for byte the same way: the connector's event lines, the mock's
 * scenario frames, the journal and tape lines (wire/tapeline.h), the
 * proxy's header lists.  pws__json_unquote decodes a string literal for the
 * connector's frame parser (strings it has already validated) and for the
 * tape line decoder (lines it validates as it goes).  Names are pws__; pure
 * functions, callable from any thread.
 */
#ifndef PWS_WIRE_JSON_H
#define PWS_WIRE_JSON_H

#include "wire/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Writes s[0..n) as a JSON string literal, quotes included, through put:
 * '"', '\\' and control characters escaped (\b \f \n \r \t, the others as
 * \u00XX), every other byte (UTF-8 included) as it is.  Returns 0, or put's
 * first non-zero return. */
int pws__json_quote(pws__put_fn put, void *ctx, const void *s, size_t n);

/* What pws__json_unquote found. */
typedef struct pws__json_str {
    size_t used;     /* bytes of in read: through the closing quote, or up to the error */
    size_t len;      /* bytes written to out (a NUL follows them when cap > 0) */
    bool truncated;  /* out was too small: it holds a prefix cut at a code-point boundary */
    bool nul;        /* out holds a U+0000 (written from \u0000) */
    const char *why; /* NULL, or what is wrong ("unterminated string", "bad escape", ...) */
} pws__json_str;

/* Decodes the JSON string literal whose opening quote is just before in,
 * reading at most n bytes, into out (cap bytes, NUL included; out NULL or
 * cap 0: nothing is written, the string is only skipped).  Escapes are
 * decoded to UTF-8 and a surrogate pair to one code point; a lone surrogate
 * is kept as its 3-byte form (the caller that needs strict JSON validated the
 * string before, as the frame parser does).  Runs without escapes are found
 * 8 bytes at a time and copied whole.  If out is too small, the decoding goes
 * on without writing so that r->used still ends after the closing quote.
 * Returns true, or false on a malformed string (r->why says what, r->used
 * where).  Decoded text is never longer than the encoded, so cap = n + 1 is
 * always enough. */
bool pws__json_unquote(const char *in, size_t n, char *out, size_t cap, pws__json_str *r);

#endif
