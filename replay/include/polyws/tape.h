/*
 * polyws/tape.h - tapes: recorded WebSocket sessions as JSON Lines (libpwsreplay).
 *
 * A tape is a header line followed by one line per frame or connection event,
 * in the order they happened.  The frame lines are the mock server's journal
 * lines (mockserver/src/journal.c), so a journal is a tape without a header:
 *
 *   {"polyws_tape":1,"url":"wss://socket.polygon.io/stocks","start_us":1700000000000000,
 *    "start":"2023-11-14T22:13:20.000000Z","tool":"polyws 0.1.0","mode":"proxy",
 *    "redacted":{"placeholder":"***","auth_params":true,"fields":["token"],
 *                "headers":["authorization"],"secrets":1}}
 *   {"t_us":0,"conn":1,"dir":"-","kind":"open","data":"/stocks"}
 *   {"t_us":812,"conn":1,"dir":"s","kind":"text","data":"[{\"ev\":\"status\",...}]"}
 *   {"t_us":1040,"conn":1,"dir":"c","kind":"text","data":"{\"action\":\"auth\",\"params\":\"***\"}"}
 *   {"t_us":20001,"conn":1,"dir":"s","kind":"ping","data_b64":"cGluZw=="}
 *   {"t_us":90000,"conn":1,"dir":"c","kind":"close","code":1000,"reason":"bye"}
 *   {"t_us":90400,"conn":1,"dir":"-","kind":"closed","data":"upstream"}
 *
 * docs/tapes.md is the full reference.  Everything in this header is pure:
 * it reads and writes bytes and files, never sockets (the proxy and the
 * replayer are in polyws/replay.h).
 *
 * Errors follow libpolyws: PWS_OK (0) or a negative pws_err from
 * <polyws/polyws.h>, plus a human message written to an `err` buffer.
 * Nothing here keeps global state; separate objects may be used from
 * separate threads, one object from one thread at a time.
 */
#ifndef POLYWS_TAPE_H
#define POLYWS_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PWS_TAPE_VERSION 1                    /* "polyws_tape" in the header line */
#define PWS_TAPE_MAX_LINE (96u << 20)         /* bytes of one line: a 64 MiB payload in base64 fits */
#define PWS_TAPE_MAX_PAYLOAD (64u << 20)      /* bytes of one recorded message */
#define PWS_TAPE_MAX_REASON 123u              /* bytes of a close reason (the WebSocket limit) */
#define PWS_TAPE_MAX_REDACT 32u               /* redacted field names, and header names, per tape */
#define PWS_TAPE_MAX_NAME 64u                 /* bytes of one field or header name */
#define PWS_TAPE_PLACEHOLDER "***"            /* what a redacted value becomes */
/* Times on a tape ("t_us", "start_us", HAR "time") lie within +-PWS_TAPE_MAX_TIME_US: the
 * start of the year 10000 in Unix microseconds.  Readers refuse a time outside it, so the sum
 * or difference of any two times fits an int64_t. */
#define PWS_TAPE_MAX_TIME_US INT64_C(253402300800000000)

/* ------------------------------------------------------------------ lines */

/** What a line records. */
typedef enum pws_tape_kind {
    PWS_TAPE_TEXT = 0,   /**< a text message (dir c or s); "data", or "data_b64" if not UTF-8 */
    PWS_TAPE_BINARY,     /**< a binary message, "data_b64" */
    PWS_TAPE_PING,       /**< a ping frame, "data_b64" */
    PWS_TAPE_PONG,       /**< a pong frame, "data_b64" */
    PWS_TAPE_CLOSE,      /**< a close frame: "code" (0 = no code at all) and "reason" */
    PWS_TAPE_OPEN,       /**< dir '-': a connection opened; data = the request path */
    PWS_TAPE_DROP,       /**< dir '-': the TCP connection ended without any close frame;
                              data = the side that ended it ("upstream", "client") if known */
    PWS_TAPE_CLOSED,     /**< dir '-': the TCP connection ended after a close frame; data as for DROP */
    PWS_TAPE_ERROR,      /**< dir '-': something went wrong on this connection; data = message */
    PWS_TAPE_OTHER       /**< any other kind (the mock's "fault", "step", "raw" ...); see kind_name */
} pws_tape_kind;

/** One line.  As read, the pointers are owned by the reader and stay valid
 * until its next call; as written, they are the caller's. */
typedef struct pws_tape_frame {
    int64_t t_us;              /**< microseconds since the start of the recording (monotonic) */
    uint32_t conn;             /**< connection ordinal, 1-based */
    char dir;                  /**< 'c' client to server, 's' server to client, '-' event */
    pws_tape_kind kind;        /**< what it is */
    const char *kind_name;     /**< the kind as written ("text", ..., or the OTHER name) */
    const unsigned char *data; /**< payload bytes (NUL-terminated as read, may hold NULs) */
    size_t len;                /**< payload length */
    int code;                  /**< CLOSE: the close code, 0 if the frame had none */
    const char *reason;        /**< CLOSE: the reason ("" if none); NULL means "" when writing */
    const char *headers_json;  /**< OPEN: the client's request headers as a JSON array of
                                    [name, value] pairs (redacted), or NULL; written verbatim */
    size_t line;               /**< as read: the 1-based line number in the file */
} pws_tape_frame;

/** Name of a kind ("text", "close", "open" ...).  "other" for PWS_TAPE_OTHER. */
const char *pws_tape_kind_name(pws_tape_kind kind);

/** What was redacted while recording (listed in the header line). */
typedef struct pws_tape_redactions {
    bool auth_params;          /**< params of {"action":"auth",...} messages */
    const char *fields[PWS_TAPE_MAX_REDACT];  /**< JSON member names redacted anywhere */
    size_t nfields;            /**< entries in fields */
    const char *headers[PWS_TAPE_MAX_REDACT]; /**< HTTP header names redacted (case-insensitive) */
    size_t nheaders;           /**< entries in headers */
    uint32_t secrets;          /**< literal secrets (API keys) scrubbed wherever they appeared */
} pws_tape_redactions;

/** The header line.  Every field may be empty in a tape written by another
 * tool; a journal has no header at all (see pws_tape_reader_header). */
typedef struct pws_tape_header {
    int version;               /**< PWS_TAPE_VERSION */
    const char *url;           /**< the upstream URL that was recorded ("" if unknown) */
    int64_t start_us;          /**< wall-clock start of the recording, Unix microseconds */
    const char *tool;          /**< e.g. "polyws 0.1.0" */
    const char *mode;          /**< "proxy", "direct", "har" ... */
    pws_tape_redactions redacted; /**< what was redacted */
} pws_tape_header;

/** A growable byte buffer for the encoders.  Zero-initialize; free with
 * pws_tape_buf_free.  Never grows beyond PWS_TAPE_MAX_LINE. */
typedef struct pws_tape_buf {
    char *p;                   /**< bytes, NUL-terminated when not empty */
    size_t len;                /**< bytes used */
    size_t cap;                /**< bytes allocated */
} pws_tape_buf;

/** Frees b's bytes and empties it.  NULL is fine. */
void pws_tape_buf_free(pws_tape_buf *b);

/** Encodes the header as one line ending in '\n', replacing b's contents.
 * Returns PWS_OK, PWS_ERR_NOMEM or PWS_ERR_LIMIT. */
int pws_tape_encode_header(const pws_tape_header *h, pws_tape_buf *b);

/** Encodes one frame as one line ending in '\n', replacing b's contents: the
 * journal's byte format (text that is not valid UTF-8 goes to data_b64).
 * Returns PWS_OK, PWS_ERR_INVALID (dir not c/s/-, OTHER without kind_name),
 * PWS_ERR_NOMEM or PWS_ERR_LIMIT (payload over PWS_TAPE_MAX_PAYLOAD). */
int pws_tape_encode_frame(const pws_tape_frame *f, pws_tape_buf *b);

/** Decodes one frame line (without its '\n').  Pointers in *f point into
 * scratch (or at static strings) and stay valid until scratch is reused.
 * Unknown members are ignored, so newer tapes stay readable.  Returns PWS_OK,
 * PWS_ERR_INVALID with a message naming the byte offset, PWS_ERR_NOMEM or
 * PWS_ERR_LIMIT (with a message naming the byte: a t_us beyond
 * +-PWS_TAPE_MAX_TIME_US). */
int pws_tape_decode_frame(const char *line, size_t len, pws_tape_frame *f, pws_tape_buf *scratch,
                          char *errbuf, size_t errcap);

/* ----------------------------------------------------------------- writer */

typedef struct pws_tape_writer pws_tape_writer;

/** Creates (truncates) path and writes the header line.  Every later line
 * goes to the file with one write(2) call as soon as it is encoded, append-
 * only, so a writer killed at any moment leaves a valid tape of every line
 * written before (at worst a cut last line, which readers skip and report).
 * Lines live in the kernel's page cache at once; `fsync` also syncs each line
 * to disk (slow; only for power loss).  Returns PWS_OK and sets *out, or an
 * error with a message (nothing created on PWS_ERR_INVALID). */
int pws_tape_writer_open(const char *path, const pws_tape_header *h, bool fsync_each,
                         pws_tape_writer **out, char *errbuf, size_t errcap);

/** Appends one frame line.  Returns PWS_OK, or an error (the writer then
 * refuses further lines: a tape never has a gap in the middle). */
int pws_tape_write(pws_tape_writer *w, const pws_tape_frame *f);

/** Lines and bytes written so far, header included. */
uint64_t pws_tape_writer_lines(const pws_tape_writer *w);
uint64_t pws_tape_writer_bytes(const pws_tape_writer *w);

/** Sets the header's redacted.secrets to secrets, rewriting it in place: a
 * recorder learns keys after the header was written.  The writer pads that
 * count to a fixed width ("secrets":1 followed by spaces), so the header keeps
 * its length and every line after it stays where it is; one pwrite of ten
 * bytes changes it, and the header is valid JSON before and after.  A reader
 * of a tape still being written sees the count as it was when it read the
 * header.  Returns PWS_OK, PWS_ERR_STATE for a tape written to stdout ("-",
 * maybe a pipe: its header cannot change), or PWS_ERR_SYSTEM. */
int pws_tape_writer_set_secrets(pws_tape_writer *w, uint32_t secrets);

/** The message of the last failure ("" if none); valid until close. */
const char *pws_tape_writer_error(const pws_tape_writer *w);

/** Closes the file and frees the writer.  Returns PWS_OK or PWS_ERR_SYSTEM
 * if any write or the close failed.  NULL is fine. */
int pws_tape_writer_close(pws_tape_writer *w);

/* ----------------------------------------------------------------- reader */

typedef struct pws_tape_reader pws_tape_reader;

/** Opens a tape (or a mock journal) for reading and reads its header line if
 * there is one.  "-" reads stdin.  Returns PWS_OK and sets *out, or an error
 * with a message that starts with the path: a file that cannot be opened, an
 * empty file (or only blank lines: a recorder writes its header first), a
 * broken header, a header time or count out of range (PWS_ERR_INVALID). */
int pws_tape_reader_open(const char *path, pws_tape_reader **out, char *errbuf, size_t errcap);

/** Reads a tape held in memory (data must stay valid while the reader lives). */
int pws_tape_reader_open_mem(const char *data, size_t len, pws_tape_reader **out, char *errbuf,
                             size_t errcap);

/** The header, or NULL if the tape has none (a journal).  Owned by the reader. */
const pws_tape_header *pws_tape_reader_header(const pws_tape_reader *r);

/** Reads the next frame line: returns 1 and fills *f (valid until the next
 * call), 0 at the end, or a negative pws_err (message in
 * pws_tape_reader_error; the line number is in it).  Blank lines are skipped.
 * A last line without its '\n' is a cut line (the writer was killed while
 * writing it): it is skipped and pws_tape_reader_truncated() says so.  Not
 * so the first line of a file without a header when it does not begin like
 * a frame line ({"t_us":): that file is not a tape, and the error says so. */
int pws_tape_next(pws_tape_reader *r, pws_tape_frame *f);

/** True once a cut last line was skipped; *bytes (if not NULL) = its length. */
bool pws_tape_reader_truncated(const pws_tape_reader *r, size_t *bytes);

/** Lines read so far (header and blank lines included). */
size_t pws_tape_reader_lines(const pws_tape_reader *r);

/** Bytes of input consumed so far (whole lines, their '\n' included): the
 * input's size once pws_tape_next returned 0. */
uint64_t pws_tape_reader_bytes(const pws_tape_reader *r);

/** The input's size in bytes if known when it was opened (a regular file or
 * memory), else 0 (a pipe, a terminal). */
uint64_t pws_tape_reader_size(const pws_tape_reader *r);

/** The message of the last failure ("" if none); valid until close. */
const char *pws_tape_reader_error(const pws_tape_reader *r);

/** Closes and frees.  NULL is fine. */
void pws_tape_reader_close(pws_tape_reader *r);

/* -------------------------------------------------------------- redaction */

/** Redaction rules.  Zero-initialize; zero fields redact nothing. */
typedef struct pws_redact_rules {
    bool auth_params;          /**< redact "params" of objects with "action":"auth" */
    const char *fields[PWS_TAPE_MAX_REDACT];  /**< JSON member names redacted at any depth */
    size_t nfields;            /**< entries in fields */
    const char *secrets[PWS_TAPE_MAX_REDACT]; /**< literal strings (>= 4 bytes) replaced wherever
                                                   they appear, JSON or not (API keys seen so far) */
    size_t nsecrets;           /**< entries in secrets */
} pws_redact_rules;

/** Redacts one message: in JSON text, the value of every redacted member
 * becomes the string "***" and all other bytes stay exactly as they were (no
 * re-serialization); then every literal secret becomes "***" anywhere (also
 * in text that is not JSON, and in binary).  Returns a malloc'd copy (NUL-
 * terminated; *outlen its length) that the caller frees, or NULL without
 * memory.  *changed (if not NULL) tells whether anything was replaced. */
char *pws_redact_message(const pws_redact_rules *r, const char *msg, size_t len, size_t *outlen,
                         bool *changed);

/** If msg is a JSON object {"action":"auth","params":"KEY",...}, copies KEY
 * (unescaped, NUL-terminated) to out and returns its length; else 0.  The
 * proxy learns the key this way and scrubs it from everything after. */
size_t pws_auth_key_of(const char *msg, size_t len, char *out, size_t cap);

/* --------------------------------------------------------------- matching */

/** Compares a client message the replayer received (`got`) with the one on
 * the tape (`want`).  JSON texts are compared as values: member order does
 * not matter, numbers compare by value, a tape string equal to "***" matches
 * any value (it was redacted), and the params of subscribe/unsubscribe
 * actions compare as sets of channels.  Non-JSON texts and binary compare
 * byte for byte.  Returns true on a match; otherwise writes a short reason
 * (e.g. "params: channel T.MSFT missing") to why. */
bool pws_tape_match(const char *want, size_t wlen, const char *got, size_t glen, bool binary,
                    char *why, size_t whycap);

/* ------------------------------------------------------------------ tools */

/** Where a tool below stands, for a progress meter.  Counts only: no path,
 * no payload (nothing that could hold a key). */
typedef struct pws_tape_progress {
    const char *phase;     /**< "reading" the input, or "writing" (from-har's tape, once the
                                whole HAR was read); a static string */
    uint64_t items;        /**< reading a tape: lines read (header and blank lines not counted);
                                reading a HAR: _webSocketMessages elements read;
                                writing: tape lines written (the header not counted) */
    uint64_t items_total;  /**< writing: the lines to write; 0 while reading (unknown) */
    uint64_t bytes;        /**< reading: input bytes consumed; writing: tape bytes written
                                (the header included) */
    uint64_t bytes_total;  /**< reading: the input's size if known (a regular file), else 0;
                                writing: 0 */
    bool done;             /**< the phase is over: the counts are its totals */
} pws_tape_progress;

/** A progress callback; called on the tool's own thread. */
typedef void (*pws_tape_progress_fn)(const pws_tape_progress *p, void *user);

#define PWS_TAPE_PROGRESS_ITEMS 64u          /* items between two progress calls, at most ... */
#define PWS_TAPE_PROGRESS_BYTES (256u << 10) /* ... or input bytes (for large items) */

/** Options of the tools.  Zero-initialize: zero means no progress calls. */
typedef struct pws_tape_tool_options {
    pws_tape_progress_fn progress; /**< called after every PWS_TAPE_PROGRESS_ITEMS items or
                                        PWS_TAPE_PROGRESS_BYTES bytes (whichever first) and once
                                        with done = true at the end of each phase that ran to
                                        its end; never after the tool returned; NULL: never */
    void *progress_user;           /**< passed to progress */
} pws_tape_tool_options;

/** Statistics of a tape (pws_tape_stats_*). */
typedef struct pws_tape_stats pws_tape_stats;

/** Reads the whole tape and computes counts by connection, direction, kind
 * and event type (server text frames are parsed with the connector's parser),
 * bytes, durations and rates.  Returns PWS_OK and *out, or an error with a
 * message.  A cut last line is no error (the stats say so). */
int pws_tape_stats_compute(const char *path, pws_tape_stats **out, char *errbuf, size_t errcap);
/** The same with options (o may be NULL): progress while reading. */
int pws_tape_stats_compute_opts(const char *path, const pws_tape_tool_options *o, pws_tape_stats **out,
                                char *errbuf, size_t errcap);
/** Writes the stats as text (json = false) or as one JSON object (json = true). */
void pws_tape_stats_print(const pws_tape_stats *s, bool json, FILE *file);
/** Frees the stats.  NULL is fine. */
void pws_tape_stats_free(pws_tape_stats *s);

/** Writes a HAR 1.2 file (one websocket entry per connection, frames in
 * `_webSocketMessages`) for the tape at path to file.  Only text
 * and binary messages have a HAR form; *skipped (if not NULL) counts the
 * other lines (pings, pongs, closes, events) that were left out. */
int pws_tape_to_har(const char *path, FILE *file, size_t *skipped, char *errbuf, size_t errcap);
/** The same with options (o may be NULL): progress while reading the tape. */
int pws_tape_to_har_opts(const char *path, FILE *file, const pws_tape_tool_options *o, size_t *skipped,
                         char *errbuf, size_t errcap);

/** Converts a HAR file's WebSocket entries into a tape at tape_path: entry
 * n (in file order) becomes connection n; "send" is dir c, "receive" dir s;
 * opcode 1 text, 2 binary (data base64 as Chrome writes it); times become
 * t_us relative to the first frame, lines in time order (ties in file
 * order).  The file is read as a stream (it may be a pipe): memory stays
 * about 14 MB plus three times the largest message; frames past 8 MiB are
 * sorted through an unlinked temporary file in $TMPDIR (else /tmp).  The
 * tape is written only once the whole file was read (keys found anywhere
 * are redacted everywhere).  Returns PWS_OK or an error. */
int pws_tape_from_har(const char *har_path, const char *tape_path, char *errbuf, size_t errcap);
/** The same with options (o may be NULL): progress while reading the HAR
 * (bytes of the HAR file, messages read), then while writing the tape. */
int pws_tape_from_har_opts(const char *har_path, const char *tape_path, const pws_tape_tool_options *o,
                           char *errbuf, size_t errcap);

/** Writes a YAML scenario (docs/scenarios.md) that plays the server side of
 * the tape's connections to file: server text and binary frames
 * become send_raw / send_binary, waits become sleep, client messages become
 * expect (auth with a wildcard key), closes and drops the same.  Returns
 * PWS_OK or an error. */
int pws_tape_to_scenario(const char *path, FILE *file, char *errbuf, size_t errcap);
/** The same with options (o may be NULL): progress while reading the tape. */
int pws_tape_to_scenario_opts(const char *path, FILE *file, const pws_tape_tool_options *o, char *errbuf,
                              size_t errcap);

#ifdef __cplusplus
}
#endif
#endif /* POLYWS_TAPE_H */
