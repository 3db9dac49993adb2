/*
 * json_pull.h - an incremental JSON reader (a pull tokenizer) over a file
 * descriptor, for documents too big to hold: HAR files of long sessions.
 *
 * It reads through one fixed-size buffer and hands out one token at a time;
 * it keeps only the current string (or number) and a stack of one byte per
 * open array or object.  Memory is the read buffer, the nesting stack and the
 * largest string of the document.
 *
 * It accepts exactly what cJSON 1.7 (which read HAR files before) accepts,
 * and decodes strings as cJSON does, so that a file converts to the same
 * bytes: any byte up to 32 is whitespace, a UTF-8 byte order mark is skipped
 * in a document of at least 5 bytes, raw control characters may stand in
 * strings, "\u" escapes with bad hex digits decode to a NUL byte, a number is
 * the longest run of [0-9+-.eE] read with strtod, at most 1000 arrays and
 * objects nest, and nothing after the root value is read.  Errors say where:
 * the byte offset, line and column; a document that ends inside a value is
 * TRUNCATED (cJSON named the start of a cut string instead).
 *
 * Not thread-safe: one reader, one thread.  Names are pwsr__ (libpwsreplay
 * internal).
 */
#ifndef PWSR_JSON_PULL_H
#define PWSR_JSON_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWSR__JP_READ_BUF (64u << 10) /* bytes read from the file at a time */
#define PWSR__JP_MAX_DEPTH 1000u      /* arrays and objects open at once (cJSON's CJSON_NESTING_LIMIT) */

/* What pwsr__jp_next read. */
typedef enum pwsr__jp_tok {
    PWSR__JP_ERROR = -1,    /* see err, err_pos, err_line, err_col */
    PWSR__JP_END = 0,       /* the root value is complete; what follows it is not read */
    PWSR__JP_OBJECT,        /* '{' */
    PWSR__JP_OBJECT_END,    /* '}' */
    PWSR__JP_ARRAY,         /* '[' */
    PWSR__JP_ARRAY_END,     /* ']' */
    PWSR__JP_KEY,           /* a member name, decoded in str */
    PWSR__JP_STRING,        /* a string value, decoded in str */
    PWSR__JP_NUMBER,        /* a number, in num */
    PWSR__JP_TRUE,
    PWSR__JP_FALSE,
    PWSR__JP_NULL,
} pwsr__jp_tok;

/* Why pwsr__jp_next returned PWSR__JP_ERROR. */
typedef enum pwsr__jp_err {
    PWSR__JP_OK = 0,
    PWSR__JP_SYNTAX,    /* not JSON at err_pos */
    PWSR__JP_TRUNCATED, /* the input ends inside a value; err_pos is its last byte */
    PWSR__JP_TOO_DEEP,  /* the array or object at err_pos would nest deeper than PWSR__JP_MAX_DEPTH */
    PWSR__JP_TOO_BIG,   /* more than max_bytes of input */
    PWSR__JP_READ,      /* read(2) failed with err_errno */
    PWSR__JP_NOMEM,     /* no memory for a string */
} pwsr__jp_err;

typedef struct pwsr__jp {
    int fd;                    /* the input (not owned, read with read(2) from where it is) */
    uint64_t max_bytes;        /* input beyond this many bytes is TOO_BIG */
    unsigned char *buf;        /* read buffer, PWSR__JP_READ_BUF bytes */
    size_t pos;                /* next unread byte in buf */
    size_t end;                /* end of the bytes in buf */
    bool eof;                  /* read(2) returned 0 */
    bool started;              /* the byte order mark was looked for */
    uint64_t base;             /* file offset of buf[0] */
    size_t counted;            /* newlines in buf[0..counted) are counted into line */
    uint64_t line;             /* 1-based line of file offset base + counted */
    uint64_t line_start;       /* file offset where that line starts */
    uint64_t prev_line_start;  /* ... and where the line before it started */
    uint64_t tok_line;         /* line of the current token's first byte */
    uint64_t tok_line_start;   /* file offset where that line starts */
    int state;                 /* what may come next (json_pull.c's enum) */
    size_t depth;              /* arrays and objects open */
    unsigned char open[PWSR__JP_MAX_DEPTH]; /* '{' or '[' for each open one, outermost first */
    char *str;                 /* KEY, STRING: decoded bytes, NUL-terminated (may hold NULs) */
    size_t str_len;            /* their length */
    size_t str_cap;            /* bytes allocated for str */
    double num;                /* NUMBER: its value */
    pwsr__jp_err err;          /* why the last call failed */
    uint64_t err_pos;          /* 0-based byte offset of the failure */
    uint64_t err_line;         /* its 1-based line */
    uint64_t err_col;          /* and 1-based column (bytes) */
    int err_errno;             /* READ: errno */
} pwsr__jp;

/* Prepares r to read fd from its current offset; 0, or -1 without memory.
 * Free with pwsr__jp_free (also after a failed init). */
int pwsr__jp_init(pwsr__jp *r, int fd, uint64_t max_bytes);
void pwsr__jp_free(pwsr__jp *r);

/* The next token; after PWSR__JP_END or PWSR__JP_ERROR every call returns
 * the same again.  str and num stay valid until the next call. */
pwsr__jp_tok pwsr__jp_next(pwsr__jp *r);

/* Reads past the value that tok (just returned by pwsr__jp_next) began: for
 * an ARRAY or OBJECT, up to its end; for a scalar, nothing.  0, or -1 on an
 * error (r->err). */
int pwsr__jp_skip(pwsr__jp *r, pwsr__jp_tok tok);

/* Hands the string just read (STRING or KEY) to the caller without a copy:
 * swaps (*buf, *cap) with the reader's buffer, which continues with the
 * caller's (either may be NULL and 0).  The string is then (*buf)[0..str_len]. */
void pwsr__jp_swap_str(pwsr__jp *r, char **buf, size_t *cap);

/* Frees the string buffer (the reader may go on; it allocates again). */
void pwsr__jp_drop_str(pwsr__jp *r);

/* Bytes of input read so far: the file's length once it ended. */
uint64_t pwsr__jp_bytes_read(const pwsr__jp *r);

#endif
