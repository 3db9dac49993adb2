/*
 * wire/secrets.h - the one redactor of secrets: a set of secrets (API keys),
 * and the scrub that replaces every trace of them in a text by "***".
 *
 * Every writer of an artifact goes through this: tapes and the proxy's log
 * (libpwsreplay), the mock's journal and the judge's excerpts (libpwsmock),
 * JUnit, the HTML report and the client output tails (polyws check), the
 * replay deviation report, and the connector's log, last error and events.
 * Structure-aware redaction (the "params" of an auth message, named JSON
 * members) stays with its owners; this is what runs on every byte after it.
 *
 * A trace is any run of PWS__SECRET_PIECE bytes or more of a secret (so a
 * whole key, a long prefix, a cut suffix), shorter secrets only whole, in
 * any of the encodings a key takes on its way:
 *   - raw;
 *   - JSON-escaped, any mix of \uXXXX, \/ and friends, also escaped twice
 *     (a run of backslashes counts as one);
 *   - percent-encoded, any mix of %XX in either case, also %25XX;
 *   - base64 and base64url, at any of the three alignments the key can have
 *     inside a longer encoded text (the characters that hold key bits only).
 * The escapes are decoded into a view that remembers where each decoded
 * byte came from, so a trace that mixes raw bytes and escapes is replaced
 * whole, escapes included.  What is not looked for: other encodings (hex,
 * HTML entities, base64 of an escaped key), and runs shorter than
 * PWS__SECRET_PIECE; docs/tapes.md lists them.
 *
 * Cost: one 4-byte load, a multiply and a bit test per 4 bytes of text (a
 * 64 Kbit filter over the secrets' 4-byte grams: every run of 8 bytes holds a
 * gram at an offset that is a multiple of 4), plus a binary search and a
 * compare per filter hit; texts with a '\\' or '%' are scanned twice (raw and
 * decoded).
 *
 * Part of wire, the internal component the libraries share (see wire/buf.h).
 * Names are pws__.  Threads: a set is built by one thread; once built,
 * any number of threads may scrub with it at the same time (it is only
 * read), but not while a secret is being added.
 */
#ifndef PWS_WIRE_SECRETS_H
#define PWS_WIRE_SECRETS_H

#include "wire/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWS__SECRET_MIN 4u       /* shorter secrets are not scrubbed: they would mangle ordinary text */
#define PWS__SECRET_PIECE 8u     /* a run of this many bytes of a secret (in one encoding) is a trace */
#define PWS__SECRET_MAX_LEN 4096u /* longer secrets are refused */
#define PWS__SECRETS_MAX 64u     /* secrets in one set; adding one more drops the oldest */
#define PWS__SECRET_MARK "***"   /* what a trace becomes */
#define PWS__SECRETS_FILTER_BITS 16u /* log2 of the gram filter's bits */

/* One way a secret is spelled (raw, or a base64 alignment). */
typedef struct pws__secret_form {
    char *p;    /* the bytes (malloc'd, wiped when freed) */
    size_t len; /* their count */
} pws__secret_form;

/* A set of secrets.  Zero-initialize (an empty set scrubs nothing); free with
 * pws__secrets_free. */
typedef struct pws__secrets {
    char *keys[PWS__SECRETS_MAX];    /* the secrets as given, oldest first (malloc'd copies) */
    size_t nkeys;                    /* secrets in keys */
    pws__secret_form *forms;         /* every spelling looked for: raw, base64, base64url per key */
    size_t nforms;                   /* entries in forms */
    uint32_t *grams;                 /* each form's 4-byte grams (forms of 8 bytes or more), as loaded, sorted */
    uint32_t *piece_at;              /* per gram: form index << 16 | offset in the form */
    size_t npieces;                  /* entries in grams and piece_at */
    uint64_t *filter;                /* 1 << PWS__SECRETS_FILTER_BITS bits: a gram may hash here */
    size_t nshort;                   /* forms shorter than a piece (matched whole), at the end of forms */
} pws__secrets;

/* Adds a secret (copied).  Returns 1 if added, 0 if it is already in the set
 * or shorter than PWS__SECRET_MIN (nothing to do), -1 without memory or when
 * longer than PWS__SECRET_MAX_LEN (the set is unchanged then).  A full set
 * drops its oldest secret first. */
int pws__secrets_add(pws__secrets *s, const char *secret);
/* Adds each of a list: NULL-terminated when n is (size_t)-1, else n entries
 * (NULL entries skipped).  0, or -1 if one could not be added. */
int pws__secrets_add_list(pws__secrets *s, const char *const *list, size_t n);
/* True if secret is in the set. */
bool pws__secrets_has(const pws__secrets *s, const char *secret);
/* Frees what the set holds (wiped) and empties it; NULL is fine. */
void pws__secrets_free(pws__secrets *s);

/* Writes text[0..n) to put, every trace replaced by PWS__SECRET_MARK (a run
 * of adjacent traces by one).  *found (may be NULL) gets the number of
 * marks written.  0, or -1 when put failed or memory ran out (then nothing
 * was written if the scan itself failed: a caller that gets -1 must not
 * show the text). */
int pws__secrets_scrub(const pws__secrets *s, const char *text, size_t n, pws__put_fn put, void *ctx,
                       size_t *found);
/* The same into a pws__buf (appended). */
int pws__secrets_scrub_buf(const pws__secrets *s, const char *text, size_t n, pws__buf *out, size_t *found);
/* The same in place: a trace is never shorter than its mark, so text only
 * shrinks; bytes from the new length on are left as they were (text[n] is
 * never touched).  Returns the new length.  Without memory, the whole text
 * becomes the mark (fail closed). */
size_t pws__secrets_scrub_inplace(const pws__secrets *s, char *text, size_t n);
/* For a NUL-terminated string: scrubbed in place, NUL-terminated again; the new length. */
size_t pws__secrets_scrub_str(const pws__secrets *s, char *text);

#endif
