/*
 * polyws/parse.h - the Polygon frame parser, usable without a connection.
 *
 * pws_parse_frame() is the hot path of the connector: a single-pass,
 * zero-allocation scanner over one text frame (a JSON array of event
 * objects).  It never touches a socket, so the live connector, the mock
 * server, the replayer, the benchmark and the fuzzers all feed the same code.
 *
 * Thread safety: all functions here are reentrant; they keep no global state.
 */
#ifndef POLYWS_PARSE_H
#define POLYWS_PARSE_H

#include <polyws/events.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of pws_parse_limits; zero fields take these. */
#define PWS_DEFAULT_MAX_FRAME_BYTES (16u * 1024u * 1024u) /* a frame larger than this is rejected */
#define PWS_DEFAULT_MAX_DEPTH 32u                         /* JSON nesting depth limit */
#define PWS_PARSE_MAX_DEPTH_CAP 1024u /* larger max_depth values are clamped to this */

/** Parser limits.  Zero-initialize; zero fields take the defaults above. */
typedef struct pws_parse_limits {
    size_t max_frame_bytes; /**< larger frames yield one parse error ("frame too large"); the connector takes at most 64 MiB */
    unsigned max_depth;     /**< deeper nesting yields a parse error ("nesting too deep");
                                 the top-level array is depth 1, its objects depth 2 */
} pws_parse_limits;

/** Receives each event parsed from a frame.  The event (and anything it
 * points to, such as `u.other.json`, which points into the frame) is valid only
 * during the call.  Return 0 to go on, non-zero to stop parsing this frame. */
typedef int (*pws_event_sink)(const pws_event *ev, void *user);

/** Parses one Polygon text frame and calls sink once per event, in order.
 *
 * Accepted input: a JSON array of objects, each with an "ev" key.  Keys may
 * come in any order, unknown keys (of any JSON type) are skipped, whitespace
 * and string escapes are handled, duplicate keys: the last one wins.  A lone
 * object (not in an array) is rejected ("top level is not an array").
 *
 * Errors are events, not return codes: invalid JSON, truncation, invalid
 * UTF-8, NaN/Infinity literals, nesting deeper than the limit or a frame over
 * the size limit produce one PWS_EV_PARSE_ERROR (with byte offset, reason and
 * excerpt) after the events completed before the error; a wrong field type,
 * a missing "sym"/"ev", or a value too long for its buffer produce one
 * PWS_EV_PARSE_ERROR for that element and parsing continues with the next one.
 *
 * Numbers are converted exactly as strtod() in the "C" locale would (correctly
 * rounded); integer fields take JSON integers that fit in their C type.  A
 * literal that overflows a double field to +-infinity ("number out of range"),
 * a number literal longer than 512 bytes in a known field ("number too long"),
 * a JSON null where a field expects a value, and a U+0000 in a decoded string
 * are element errors.  A frame over the size limit yields only the "frame too
 * large" error, with offset = the limit.  An element with both a syntax error
 * and an element error reports only the syntax error.
 *
 * `limits` may be NULL for the defaults.  Returns the number of events passed
 * to sink (parse errors included), or -1 (PWS_ERR_INVALID) if buf is NULL
 * with len > 0 or sink is NULL.  Allocates nothing (the first number that needs the strtod_l()
 * slow path creates one process-wide "C" locale object, once). */
PWS_API long pws_parse_frame(const char *buf, size_t len, const pws_parse_limits *limits,
                             pws_event_sink sink, void *user);

/** Maps a status word ("auth_success", ...) to its kind.  `success` is mapped
 * to PWS_STATUS_SUCCESS; the connector treats it as the greeting when it
 * arrives before auth (the protocol spec's enum names it so). */
PWS_API pws_status_kind pws_status_kind_from_word(const char *word, size_t len);

/** Converts a JSON number literal exactly as strtod() in the "C" locale (the
 * literal must match the JSON number grammar in full).  Returns 0 and sets
 * *out on success, -1 (PWS_ERR_INVALID) if the text is not a JSON number or
 * is longer than 512 bytes.  Like strtod(), a literal whose magnitude overflows gives +-HUGE_VAL
 * (infinity) and one that underflows gives a subnormal or +-0; both still
 * return 0 (the frame parser rejects infinities itself).  Thread-safe; the
 * first call of a slow-path conversion creates a "C" locale object once.
 * Exposed for the differential test and for adapters. */
PWS_API int pws_parse_double(const char *s, size_t len, double *out);

/** True if buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF).  Reentrant; an ASCII fast path reads 8 bytes at a
 * time.  Used by the mock journal and the tape codec to choose text vs base64. */
PWS_API bool pws_utf8_valid(const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* POLYWS_PARSE_H */
