/*
 * scenario_json.h - bytes for scenario steps (private to the scenario loader):
 * a bounded byte buffer, what a YAML scalar means (string, number, bool,
 * null), YAML values -> compact JSON, and hex/base64 decoding.
 */
#ifndef POLYWS_SCENARIO_JSON_H
#define POLYWS_SCENARIO_JSON_H

#include "scenario_yaml.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWSS__JSON_MAX_DEPTH 64u /* nesting of a value written as JSON (aliases included) */

/** A growable byte buffer that refuses to grow past max bytes: wire's pws__append underneath,
 *  with the two failures told apart (the loader reports "too big" and "out of memory"). */
typedef struct pwss__buf {
    char *data;   /* bytes, NUL-terminated when non-NULL */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    size_t max;   /* limit on len (0 = SIZE_MAX / 2) */
    bool too_big; /* an append was refused: it would pass max */
    bool oom;     /* an allocation failed */
} pwss__buf;

/** Appends n bytes; 0, or -1 (too_big or oom set, buffer unchanged). */
int pwss__buf_put(pwss__buf *b, const void *p, size_t n);
/** Appends a NUL-terminated string. */
int pwss__buf_puts(pwss__buf *b, const char *s);
/** Appends one byte. */
int pwss__buf_putc(pwss__buf *b, char c);
/** Hands the bytes over (never NULL unless oom: an empty buffer gives ""); the buffer is reset. */
char *pwss__buf_take(pwss__buf *b, size_t *len);
/** Frees the bytes and resets the buffer (max is kept). */
void pwss__buf_free(pwss__buf *b);

/** What a YAML scalar is, by YAML 1.2 core schema rules, seen through JSON. */
typedef enum pwss__sclass {
    PWSS__S_STRING = 0, /* quoted, !!str, or plain text that is nothing else */
    PWSS__S_NUMBER,     /* plain, and exactly a JSON number: written as is */
    PWSS__S_TRUE,       /* plain true, True, TRUE */
    PWSS__S_FALSE,      /* plain false, False, FALSE */
    PWSS__S_NULL,       /* plain null, Null, NULL, ~ or empty */
    PWSS__S_BAD_NUMBER /* plain YAML number that JSON cannot hold as written: +1, .5, 0x1F, 007, .inf, .nan */
} pwss__sclass;

pwss__sclass pwss__scalar_class(const pwss__ynode *n);

/** Why encoding stopped. */
typedef struct pwss__json_error {
    const pwss__ynode *at; /* the offending node */
    char msg[200];         /* what is wrong */
} pwss__json_error;

/** Writes node n as compact JSON into out: mappings keep their key order, plain
 * numbers stay numbers, quoted scalars are strings.  *budget is decremented per
 * node visited (aliases expand); reaching 0 is an error, so is nesting over
 * PWSS__JSON_MAX_DEPTH, a non-scalar key, a plain YAML number JSON cannot hold
 * and out reaching its max.  Returns 0 or -1 with *err filled. */
int pwss__json_encode(const pwss__ynode *n, pwss__buf *out, size_t *budget, pwss__json_error *err);

/** Writes s/len as a JSON string (with quotes). */
int pwss__json_string(pwss__buf *out, const char *s, size_t len);

/** Decodes hex digits (whitespace, ':' and '-' between bytes are ignored) into out.
 * Returns 0, or -1 with a message in msg. */
int pwss__hex_decode(const char *s, size_t len, pwss__buf *out, char *msg, size_t msgcap);
/** Decodes standard base64 (RFC 4648 alphabet, '=' padding optional, whitespace ignored). */
int pwss__base64_decode(const char *s, size_t len, pwss__buf *out, char *msg, size_t msgcap);

#endif
