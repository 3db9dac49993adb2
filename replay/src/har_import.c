/*
 * har_import.c - `polyws tape from-har`: a tape from the WebSocket entries of
 * a HAR file (HTTP Archive 1.2, as browser DevTools save it), read as a
 * stream.
 *
 * Chrome keeps a WebSocket's frames in its entry's `_webSocketMessages`:
 * [{"type":"send"|"receive","time":<Unix seconds>,"opcode":1|2,"data":"..."}],
 * binary data in base64; opcodes 8, 9 and 10 (close, ping, pong) are read too,
 * if a tool wrote them.  Entry n with such an array becomes connection n.
 *
 * Memory.  Exports of long sessions reach hundreds of megabytes, so the file
 * is never parsed whole: json_pull.c hands out its tokens through a fixed read
 * buffer, and this file keeps only the current entry's request (URL, headers,
 * start) and the current message's strings.  Peak memory is a constant (the
 * sort's budget, PWSR__FRAME_SORT_MEMORY) plus a few times the largest string.
 *
 * Order.  A tape is in time order across its connections, and a HAR is not:
 * each entry lists its own connection's frames, entries overlap in time, and a
 * message may even be older than its entry's start.  Frames go to frame_sort.c
 * as they are found and come back by time, ties in file order (as the stable
 * sort of the whole file did before); past the budget it keeps sorted runs in
 * an unlinked temporary file ($TMPDIR or /tmp, about the size of the frames).
 *
 * Secrets.  A browser HAR holds the real API key in its auth messages.  Every
 * key found in any of them is redacted from every text line and open line and
 * from the header's URL, and the header counts them, so nothing is written
 * before the whole file has been read; the usual secret headers and query
 * parameters are redacted too.
 *
 * The tapes are byte for byte those of the earlier version, which parsed the
 * whole file with cJSON: json_pull.c accepts what cJSON accepts, and members
 * are looked up as cJSON_GetObjectItemCaseSensitive does (the first of
 * duplicate names counts; the value must have the right type, or it is as if
 * the member were absent).  Errors keep their precedence: a JSON error
 * anywhere wins (the whole file is read to find one), then "no log.entries",
 * then the first entry's failure in the order startedDateTime, the frame
 * limit, then its messages' times.
 */
#include "internal.h"

#include "frame_sort.h"
#include "json_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HAR_MAX_FILE (512u << 20) /* bytes of a HAR file read */
#define HAR_MAX_FRAMES 10000000u  /* frames converted from one HAR file */

/* The log.entries element being read. */
typedef struct har_entry {
    size_t index;             /* in log.entries, for errors */
    bool ws;                  /* its first _webSocketMessages is an array: a connection */
    uint32_t conn;            /* then its ordinal */
    uint64_t open_seq;        /* the open line's place in file order (before its messages) */
    uint64_t frames_before;   /* frames kept from earlier entries */
    uint64_t items;           /* elements of _webSocketMessages so far */
    bool over_limit;          /* frames_before + items + 1 > HAR_MAX_FRAMES */
    bool m0_time;             /* the first element has a number "time" ... */
    double m0_seconds;        /* ... this one */
    char *url;                /* request.url if a string (owned), else NULL */
    char *started;            /* startedDateTime if a string (owned), else NULL */
    pws_tape_buf headers;     /* request.headers as the open line's JSON, "[" so far */
    size_t nheaders;          /* headers in it */
    bool headers_nomem;       /* building it failed */
    int msg_rc;               /* the first message whose time is not a time ... */
    char msg_err[400];        /* ... and what to say about it */
} har_entry;

/* The _webSocketMessages element being read: its first type, time, opcode, data. */
typedef struct har_msg {
    bool type;                /* "type" is a string ... */
    bool send;                /* ... "send" */
    bool time;                /* "time" is a number ... */
    double seconds;           /* ... this one */
    bool opcode;              /* "opcode" is a number ... */
    double opcode_value;      /* ... this one */
    bool data;                /* "data" is a string, in har_import.data */
} har_msg;

typedef struct har_import {
    const char *path;         /* the HAR file, for messages */
    pwsr__jp jp;              /* its tokens */
    pwsr__frame_sort *sort;   /* frames found, to come back in time order */
    pws_redact_rules rules;   /* auth params, and every key found so far */
    char *keys[PWS_TAPE_MAX_REDACT]; /* owned copies of rules.secrets */
    pws__secrets set;         /* the same keys, compiled once for the redactor (wire/secrets.h) */
    char *first_url;          /* request.url of the first WebSocket entry (owned) */
    uint32_t conns;           /* WebSocket entries so far */
    uint64_t seq;             /* frames numbered in file order */
    uint64_t nframes;         /* frames given to the sort */
    int64_t t_min;            /* the earliest frame's time: the tape's start */
    bool entries_found;       /* log.entries is an array */
    int rc;                   /* the first failure that is not the JSON's, 0 if none */
    bool fatal;               /* it stops the reading (memory, the temporary file) */
    char err[512];            /* what to say about it */
    char *data;               /* the current message's "data" (decoded, NUL-terminated), taken from jp */
    size_t data_cap;          /* bytes allocated for it */
    unsigned char *bin;       /* its base64 decoded */
    size_t bin_cap;           /* bytes allocated for bin */
    char *hname, *hvalue;     /* the current request header's first name and value (owned) */
    har_entry e;              /* the current entry */
    har_msg m;                /* the current message */
    const pws_tape_tool_options *opts; /* the caller's options, or NULL */
    pwsr__progress pr;        /* progress: messages and bytes read, then lines written */
} har_import;

static int failf(har_import *h, int rc, bool fatal, const char *fmt, ...) PWSR__PRINTF(4, 5);

/* Records the first failure (later ones are consequences); -1 if it stops the reading, else 0. */
static int failf(har_import *h, int rc, bool fatal, const char *fmt, ...)
{
    if (!h->rc) {
        h->rc = rc;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->err, sizeof h->err, fmt, ap);
        va_end(ap);
    }
    h->fatal |= fatal;
    return fatal ? -1 : 0;
}

static int nomem(har_import *h)
{
    return failf(h, PWS_ERR_NOMEM, true, "out of memory");
}

/* "2024-01-02T14:30:00.123Z", or with an offset "+01:00", into Unix microseconds.  Every field
 * is range-checked before any arithmetic (a year of -2147483648 must not reach "Y - 1900").
 * False if s is not such a time. */
static bool parse_iso(const char *s, int64_t *out)
{
    int Y, M, D, h, m, n = 0;
    double sec;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%n", &Y, &M, &D, &h, &m, &sec, &n) < 6 || Y < 1 || M < 1 ||
        M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || !(sec >= 0 && sec < 61))
        return false;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m};
    int64_t t = (int64_t)timegm(&tm) * 1000000 + llround(sec * 1e6);
    const char *z = s + n;
    if (*z == '+' || *z == '-') {
        int oh = 0, om = 0;
        if (sscanf(z + 1, "%2d:%2d", &oh, &om) < 1 || oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        t -= (*z == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60) * 1000000;
    }
    *out = t;
    return true;
}

/* A HAR message time (Unix seconds, a double) in microseconds; false if it is not finite or
 * beyond PWS_TAPE_MAX_TIME_US (converting such a double is undefined, and later differences
 * of times would overflow). */
static bool har_time_us(double seconds, int64_t *out)
{
    double us = seconds * 1e6;
    if (!(fabs(us) <= (double)PWS_TAPE_MAX_TIME_US))
        return false;
    *out = llround(us);
    return true;
}

/* A JSON number as an int the way cJSON's valueint has it: saturated, truncated toward zero. */
static int number_int(double d)
{
    if (d >= INT_MAX)
        return INT_MAX;
    if (d <= (double)INT_MIN)
        return INT_MIN;
    return d == d ? (int)d : 0;
}

static const char *path_of_url(const char *url)
{
    const char *p = strstr(url, "://");
    const char *slash = p ? strchr(p + 3, '/') : NULL;
    return slash ? slash : "/";
}

/* ------------------------------------------------------------ tokens */

static pwsr__jp_tok next(har_import *h)
{
    pwsr__jp_tok t = pwsr__jp_next(&h->jp);
    if (h->pr.fn) {
        h->pr.p.bytes = pwsr__jp_bytes_read(&h->jp);
        pwsr__progress_step(&h->pr);
    }
    return t;
}

static int skip(har_import *h, pwsr__jp_tok t)
{
    return pwsr__jp_skip(&h->jp, t);
}

/* True if the key just read is name and no member of that name came before (*seen). */
static bool first_member(har_import *h, bool *seen, const char *name)
{
    if (*seen || strcmp(h->jp.str, name))
        return false;
    *seen = true;
    return true;
}

/* A copy of the string just read, as a C string (cut at a NUL, as cJSON's valuestring is used). */
static char *dup_str(har_import *h)
{
    char *s = strdup(h->jp.str);
    if (!s)
        nomem(h);
    return s;
}

/* ------------------------------------------------------------ frames */

static int keep_frame(har_import *h, const pwsr__sort_frame *f)
{
    int rc = pwsr__frame_sort_add(h->sort, f);
    if (rc)
        return failf(h, rc, true, "%s", pwsr__frame_sort_error(h->sort));
    if (!h->nframes || f->t_us < h->t_min)
        h->t_min = f->t_us;
    h->nframes++;
    return 0;
}

/* A key in a client's auth message is redacted everywhere (PWS_TAPE_MAX_REDACT of them). */
static void learn_key(har_import *h, const char *data, size_t len)
{
    char key[PWS_MAX_KEY_LEN + 1];
    if (pws_auth_key_of(data, len, key, sizeof key) && strlen(key) >= 4 && h->rules.nsecrets < PWS_TAPE_MAX_REDACT) {
        char *k = strdup(key);
        if (k) {
            h->keys[h->rules.nsecrets] = k;
            h->rules.secrets[h->rules.nsecrets] = k;
            h->rules.nsecrets++;
            (void)pws__secrets_add(&h->set, k); /* no memory: the auth params are still redacted */
        }
    }
    explicit_bzero(key, sizeof key);
}

/* The message just read (element mi of _webSocketMessages) as a frame, if it is one. */
static int message_frame(har_import *h, size_t mi)
{
    har_entry *e = &h->e;
    const har_msg *m = &h->m;
    if (e->msg_rc || e->over_limit || !m->type || !m->time || !m->opcode)
        return 0;
    int64_t t_us;
    if (!har_time_us(m->seconds, &t_us)) {
        e->msg_rc = PWS_ERR_INVALID;
        snprintf(e->msg_err, sizeof e->msg_err,
                 "%s: log.entries[%zu]._webSocketMessages[%zu].time %g is not a time "
                 "(Unix seconds within +-%.0f, the year 10000)",
                 h->path, e->index, mi, m->seconds, (double)PWS_TAPE_MAX_TIME_US / 1e6);
        return 0;
    }
    pwsr__sort_frame f = {.t_us = t_us, .seq = h->seq++, .conn = e->conn, .dir = m->send ? 'c' : 's'};
    int opcode = number_int(m->opcode_value);
    const char *data = m->data ? h->data : NULL;
    size_t dl = data ? strlen(data) : 0;
    if (opcode == 1) {
        f.kind = PWS_TAPE_TEXT;
        if (f.dir == 'c')
            learn_key(h, data, dl);
        f.data = data ? data : "";
        f.len = dl;
    } else if (opcode == 2 || opcode == 8 || opcode == 9 || opcode == 10) {
        f.kind = opcode == 2 ? PWS_TAPE_BINARY : opcode == 8 ? PWS_TAPE_CLOSE : opcode == 9 ? PWS_TAPE_PING : PWS_TAPE_PONG;
        size_t room = dl / 4 * 3 + 4;
        if (room > h->bin_cap) {
            unsigned char *n = realloc(h->bin, room);
            if (!n)
                return nomem(h);
            h->bin = n;
            h->bin_cap = room;
        }
        size_t bl = data ? pws__base64_decode(data, dl, h->bin) : 0;
        if (bl == (size_t)-1)
            bl = 0;
        f.data = (const char *)h->bin;
        f.len = bl;
        if (f.kind == PWS_TAPE_CLOSE && bl >= 2) {
            f.code = h->bin[0] << 8 | h->bin[1];
            f.data += 2;
            f.len -= 2;
        }
    } else {
        return 0;
    }
    return keep_frame(h, &f);
}

/* ------------------------------------------------------------ the document */

/* One element of _webSocketMessages, an object (just opened). */
static int read_message(har_import *h, size_t mi)
{
    har_msg *m = &h->m;
    memset(m, 0, sizeof *m);
    bool seen_type = false, seen_time = false, seen_opcode = false, seen_data = false;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_OBJECT_END)
            break;
        if (t != PWSR__JP_KEY)
            return -1;
        int which = first_member(h, &seen_type, "type")     ? 1
                    : first_member(h, &seen_time, "time")   ? 2
                    : first_member(h, &seen_opcode, "opcode") ? 3
                    : first_member(h, &seen_data, "data")   ? 4
                                                            : 0;
        t = next(h);
        if (which == 1 && t == PWSR__JP_STRING) {
            m->type = true;
            m->send = !strcmp(h->jp.str, "send");
        } else if (which == 2 && t == PWSR__JP_NUMBER) {
            m->time = true;
            m->seconds = h->jp.num;
        } else if (which == 3 && t == PWSR__JP_NUMBER) {
            m->opcode = true;
            m->opcode_value = h->jp.num;
        } else if (which == 4 && t == PWSR__JP_STRING) {
            pwsr__jp_swap_str(&h->jp, &h->data, &h->data_cap); /* no copy of the largest string */
            m->data = true;
        } else if (skip(h, t)) {
            return -1;
        }
    }
    if (mi == 0 && m->time) {
        h->e.m0_time = true;
        h->e.m0_seconds = m->seconds;
    }
    return message_frame(h, mi);
}

/* _webSocketMessages (just opened). */
static int read_messages(har_import *h)
{
    har_entry *e = &h->e;
    for (size_t mi = 0;; mi++) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_ARRAY_END)
            return 0;
        e->items++;
        h->pr.p.items++;
        if (e->frames_before + e->items + 1 > HAR_MAX_FRAMES)
            e->over_limit = true;
        if (t == PWSR__JP_OBJECT) {
            if (read_message(h, mi))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
}

/* One request header, an object (just opened): its first name and value, if both are strings. */
static int read_header(har_import *h)
{
    har_entry *e = &h->e;
    bool seen_name = false, seen_value = false;
    free(h->hname);
    free(h->hvalue);
    h->hname = h->hvalue = NULL;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_OBJECT_END)
            break;
        if (t != PWSR__JP_KEY)
            return -1;
        int which = first_member(h, &seen_name, "name") ? 1 : first_member(h, &seen_value, "value") ? 2 : 0;
        t = next(h);
        if (which && t == PWSR__JP_STRING) {
            char **to = which == 1 ? &h->hname : &h->hvalue;
            if (!(*to = dup_str(h)))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
    const char *hn = h->hname, *hv = h->hvalue;
    if (!hn || !hv)
        return 0;
    bool secret = pwsr__ieq(hn, "authorization") || pwsr__ieq(hn, "cookie") || pwsr__ieq(hn, "x-api-key") ||
                  pwsr__ieq(hn, "proxy-authorization");
    pws_tape_buf *b = &e->headers;
    if ((e->nheaders++ && pwsr__buf_str(b, ",")) || pwsr__buf_str(b, "[") || pwsr__buf_json_string(b, hn, strlen(hn)) ||
        pwsr__buf_str(b, ",") ||
        pwsr__buf_json_string(b, secret ? PWS_TAPE_PLACEHOLDER : hv, secret ? 3 : strlen(hv)) ||
        pwsr__buf_str(b, "]"))
        e->headers_nomem = true;
    return 0;
}

/* request.headers (just opened, an array or, as cJSON iterates it too, an object). */
static int read_headers(har_import *h, pwsr__jp_tok open)
{
    pwsr__jp_tok close = open == PWSR__JP_ARRAY ? PWSR__JP_ARRAY_END : PWSR__JP_OBJECT_END;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == close)
            return 0;
        if (open == PWSR__JP_OBJECT) {
            if (t != PWSR__JP_KEY)
                return -1;
            t = next(h);
        }
        if (t == PWSR__JP_OBJECT) {
            if (read_header(h))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
}

/* request (just opened): its first url and headers. */
static int read_request(har_import *h)
{
    bool seen_url = false, seen_headers = false;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_OBJECT_END)
            return 0;
        if (t != PWSR__JP_KEY)
            return -1;
        int which = first_member(h, &seen_url, "url") ? 1 : first_member(h, &seen_headers, "headers") ? 2 : 0;
        t = next(h);
        if (which == 1 && t == PWSR__JP_STRING) {
            if (!(h->e.url = dup_str(h)))
                return -1;
        } else if (which == 2 && (t == PWSR__JP_ARRAY || t == PWSR__JP_OBJECT)) {
            if (read_headers(h, t))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
}

static void entry_reset(har_entry *e, size_t index)
{
    free(e->url);
    free(e->started);
    pws_tape_buf_free(&e->headers);
    memset(e, 0, sizeof *e);
    e->index = index;
}

/* The end of a WebSocket entry: its open line, or its failure. */
static int finish_entry(har_import *h)
{
    har_entry *e = &h->e;
    const char *u = e->url ? e->url : "ws://unknown/";
    if (!h->first_url && !(h->first_url = strdup(u)))
        return nomem(h);
    int64_t start = 0, first = 0;
    if (e->started && *e->started && !parse_iso(e->started, &start))
        return failf(h, PWS_ERR_INVALID, false,
                     "%s: log.entries[%zu].startedDateTime \"%.40s\" is not a date and time "
                     "(YYYY-MM-DDTHH:MM:SS[.frac] then Z or +HH:MM, years 1 to 9999)",
                     h->path, e->index, e->started);
    if (e->over_limit)
        return failf(h, PWS_ERR_LIMIT, false, "%s: more than %u frames", h->path, HAR_MAX_FRAMES);
    /* an out-of-range time is reported with its message below */
    if (e->m0_time && har_time_us(e->m0_seconds, &first) && (!start || first < start))
        start = first;
    if (e->headers_nomem || pwsr__buf_str(&e->headers, "]"))
        return nomem(h);
    char *path = pwsr__redact_query(path_of_url(u), NULL, 0);
    if (!path)
        return nomem(h);
    pwsr__sort_frame f = {.t_us = start, .seq = e->open_seq, .conn = e->conn, .dir = '-', .kind = PWS_TAPE_OPEN,
                          .data = path, .len = strlen(path), .headers = e->headers.p};
    int rc = keep_frame(h, &f);
    free(path);
    if (rc)
        return rc;
    if (e->msg_rc)
        return failf(h, e->msg_rc, false, "%s", e->msg_err);
    return 0;
}

/* An element of log.entries, an object (just opened). */
static int read_entry(har_import *h, size_t index)
{
    har_entry *e = &h->e;
    entry_reset(e, index);
    if (pwsr__buf_str(&e->headers, "["))
        return nomem(h);
    bool seen_msgs = false, seen_request = false, seen_started = false;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_OBJECT_END)
            break;
        if (t != PWSR__JP_KEY)
            return -1;
        int which = first_member(h, &seen_msgs, "_webSocketMessages")       ? 1
                    : first_member(h, &seen_request, "request")           ? 2
                    : first_member(h, &seen_started, "startedDateTime")   ? 3
                                                                          : 0;
        t = next(h);
        if (which == 1 && t == PWSR__JP_ARRAY) {
            e->ws = true;
            e->conn = ++h->conns;
            e->open_seq = h->seq++;
            e->frames_before = h->nframes;
            if (read_messages(h))
                return -1;
        } else if (which == 2 && t == PWSR__JP_OBJECT) {
            if (read_request(h))
                return -1;
        } else if (which == 3 && t == PWSR__JP_STRING) {
            if (!(e->started = dup_str(h)))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
    return e->ws ? finish_entry(h) : 0;
}

/* log.entries (just opened).  After the first failing entry the rest is only read through. */
static int read_entries(har_import *h)
{
    h->entries_found = true;
    for (size_t i = 0;; i++) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_ARRAY_END)
            return 0;
        if (t == PWSR__JP_OBJECT && !h->rc) {
            if (read_entry(h, i))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
}

/* An object (just opened) of which only the first member called name counts, through fn when
 * its value opens with want. */
static int read_member(har_import *h, const char *name, pwsr__jp_tok want, int (*fn)(har_import *))
{
    bool seen = false;
    for (;;) {
        pwsr__jp_tok t = next(h);
        if (t == PWSR__JP_OBJECT_END)
            return 0;
        if (t != PWSR__JP_KEY)
            return -1;
        bool it = first_member(h, &seen, name);
        t = next(h);
        if (it && t == want) {
            if (fn(h))
                return -1;
        } else if (skip(h, t)) {
            return -1;
        }
    }
}

static int read_log(har_import *h)
{
    return read_member(h, "entries", PWSR__JP_ARRAY, read_entries);
}

/* The root value; 0 when it was read to its end, -1 on a JSON error or a fatal failure. */
static int read_root(har_import *h)
{
    pwsr__jp_tok t = next(h);
    if (t != PWSR__JP_OBJECT)
        return skip(h, t);
    return read_member(h, "log", PWSR__JP_OBJECT, read_log);
}

/* ------------------------------------------------------------ writing */

static void json_error(har_import *h, char *errbuf, size_t errcap)
{
    const pwsr__jp *j = &h->jp;
    unsigned long long total = pwsr__jp_bytes_read(j), line = j->err_line, col = j->err_col;
    switch (j->err) {
    case PWSR__JP_TRUNCATED:
        if (!total)
            snprintf(errbuf, errcap, "%s: empty file, not a HAR", h->path);
        else
            snprintf(errbuf, errcap, "%s: truncated: the JSON ends inside a value at byte %llu (line %llu, column %llu), "
                     "not a complete HAR", h->path, total, line, col);
        break;
    case PWSR__JP_TOO_DEEP:
        snprintf(errbuf, errcap, "%s: invalid JSON at byte %llu (line %llu, column %llu): arrays and objects nested "
                 "deeper than %u, not a HAR", h->path, (unsigned long long)j->err_pos + 1, line, col, PWSR__JP_MAX_DEPTH);
        break;
    case PWSR__JP_TOO_BIG:
        snprintf(errbuf, errcap, "%s: larger than %u bytes", h->path, HAR_MAX_FILE);
        break;
    case PWSR__JP_READ:
        snprintf(errbuf, errcap, "cannot read %s: %s", h->path, strerror(j->err_errno));
        break;
    case PWSR__JP_NOMEM:
        snprintf(errbuf, errcap, "out of memory");
        break;
    default:
        snprintf(errbuf, errcap, "%s: invalid JSON at byte %llu (line %llu, column %llu), not a HAR", h->path,
                 (unsigned long long)j->err_pos + 1, line, col);
        break;
    }
}

/* Writes the tape: the header, then every frame in time order, redacted with every key found. */
static int write_tape(har_import *h, const char *tape_path, char *errbuf, size_t errcap)
{
    int64_t t0 = h->t_min;
    pws_tape_header hd = {.version = PWS_TAPE_VERSION, .start_us = t0, .tool = "polyws " PWS_VERSION_STRING,
                          .mode = "har"};
    size_t ul;
    char *qurl = pwsr__redact_query(h->first_url, NULL, 0);
    char *url = qurl ? pwsr__redact(&h->rules, &h->set, qurl, strlen(qurl), &ul, NULL) : NULL;
    free(qurl);
    hd.url = url ? url : "";
    hd.redacted.auth_params = true;
    hd.redacted.headers[0] = "authorization";
    hd.redacted.headers[1] = "cookie";
    hd.redacted.headers[2] = "x-api-key";
    hd.redacted.headers[3] = "proxy-authorization";
    hd.redacted.nheaders = 4;
    hd.redacted.secrets = (uint32_t)h->rules.nsecrets;
    pws_tape_writer *w = NULL;
    int rc = pws_tape_writer_open(tape_path, &hd, false, &w, errbuf, errcap);
    free(url);
    pwsr__sort_frame x;
    int got = 0;
    pwsr__progress *pr = &h->pr;
    if (!rc) {
        pwsr__progress_start(pr, h->opts, "writing", h->nframes, 0);
        pr->p.bytes = pws_tape_writer_bytes(w);
    }
    while (!rc && (got = pwsr__frame_sort_next(h->sort, &x)) == 1) {
        /* every payload (text, binary, ping, pong, a close's reason) and the open line's headers,
         * as the recording proxy does: a key may sit in any of them, e.g. an X-Polygon-Key header */
        size_t rl = 0, hl = 0;
        char *red = pwsr__redact(&h->rules, &h->set, x.data ? x.data : "", x.len, &rl, NULL);
        char *rh = x.headers ? pwsr__redact(&h->rules, &h->set, x.headers, strlen(x.headers), &hl, NULL) : NULL;
        if (!red || (x.headers && !rh)) {
            free(red);
            free(rh);
            snprintf(errbuf, errcap, "out of memory");
            rc = PWS_ERR_NOMEM;
            break;
        }
        pws_tape_frame f = {.t_us = x.t_us - t0, .conn = x.conn, .dir = x.dir, .kind = x.kind,
                            .data = (const unsigned char *)red, .len = rl, .code = x.code, .headers_json = rh};
        char reason[PWS_TAPE_MAX_REASON + 1] = "";
        if (x.kind == PWS_TAPE_CLOSE) {
            snprintf(reason, sizeof reason, "%.*s", (int)(rl < PWS_TAPE_MAX_REASON ? rl : PWS_TAPE_MAX_REASON), red);
            f.reason = reason;
            f.len = 0;
        }
        rc = pws_tape_write(w, &f);
        free(red);
        free(rh);
        if (rc)
            snprintf(errbuf, errcap, "%s", pws_tape_writer_error(w));
        if (pr->fn && !rc) {
            pr->p.items++;
            pr->p.bytes = pws_tape_writer_bytes(w);
            pwsr__progress_step(pr);
        }
    }
    if (!rc && got < 0) {
        rc = got;
        snprintf(errbuf, errcap, "%s", pwsr__frame_sort_error(h->sort));
    }
    if (pws_tape_writer_close(w) && !rc) {
        rc = PWS_ERR_SYSTEM;
        snprintf(errbuf, errcap, "cannot write %s", tape_path);
    }
    if (!rc)
        pwsr__progress_call(pr, true);
    return rc;
}

int pwsr__tape_from_har(const char *har_path, const char *tape_path, size_t sort_budget,
                        const pws_tape_tool_options *o, char *errbuf, size_t errcap)
{
    int fd = open(har_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errcap, "cannot open %s: %s", har_path, strerror(errno));
        return PWS_ERR_SYSTEM;
    }
    struct stat st;
    uint64_t size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0; /* 0: a pipe */
    if (size > HAR_MAX_FILE) {
        close(fd);
        snprintf(errbuf, errcap, "%s: larger than %u bytes", har_path, HAR_MAX_FILE);
        return PWS_ERR_LIMIT;
    }
    har_import *h = calloc(1, sizeof *h);
    int rc = h ? PWS_OK : PWS_ERR_NOMEM;
    if (h) {
        h->path = har_path;
        h->opts = o;
        pwsr__progress_start(&h->pr, o, "reading", 0, size);
        h->rules.auth_params = true;
        if (pwsr__jp_init(&h->jp, fd, HAR_MAX_FILE))
            rc = PWS_ERR_NOMEM;
        else
            rc = pwsr__frame_sort_open(sort_budget, NULL, &h->sort);
    }
    if (rc) {
        snprintf(errbuf, errcap, "out of memory");
    } else if (read_root(h)) {
        if (h->fatal) {
            rc = h->rc;
            snprintf(errbuf, errcap, "%s", h->err);
        } else {
            rc = h->jp.err == PWSR__JP_READ ? PWS_ERR_SYSTEM
                 : h->jp.err == PWSR__JP_TOO_BIG ? PWS_ERR_LIMIT
                 : h->jp.err == PWSR__JP_NOMEM ? PWS_ERR_NOMEM
                                               : PWS_ERR_INVALID;
            json_error(h, errbuf, errcap);
        }
    } else if (!h->entries_found) {
        rc = PWS_ERR_INVALID;
        snprintf(errbuf, errcap, "%s: not a HAR file (no log.entries)", har_path);
    } else if (h->rc) {
        rc = h->rc;
        snprintf(errbuf, errcap, "%s", h->err);
    } else if (!h->conns) {
        rc = PWS_ERR_INVALID;
        snprintf(errbuf, errcap, "%s: no WebSocket entry (_webSocketMessages) in the HAR", har_path);
    } else {
        if (h->pr.fn) {
            h->pr.p.bytes = pwsr__jp_bytes_read(&h->jp);
            pwsr__progress_call(&h->pr, true);
        }
        /* the reading's buffers are not needed any more: the largest message is held again
         * while it is written */
        close(fd);
        fd = -1;
        pwsr__jp_free(&h->jp);
        free(h->data);
        free(h->bin);
        h->data = NULL;
        h->bin = NULL;
        rc = write_tape(h, tape_path, errbuf, errcap);
    }
    if (fd >= 0)
        close(fd);
    if (h) {
        pwsr__jp_free(&h->jp);
        pwsr__frame_sort_close(h->sort);
        for (size_t i = 0; i < h->rules.nsecrets; i++) {
            explicit_bzero(h->keys[i], strlen(h->keys[i]));
            free(h->keys[i]);
        }
        pws__secrets_free(&h->set);
        free(h->first_url);
        free(h->data);
        free(h->bin);
        free(h->hname);
        free(h->hvalue);
        entry_reset(&h->e, 0);
        free(h);
    }
    return rc;
}

int pws_tape_from_har(const char *har_path, const char *tape_path, char *errbuf, size_t errcap)
{
    return pwsr__tape_from_har(har_path, tape_path, 0, NULL, errbuf, errcap);
}

int pws_tape_from_har_opts(const char *har_path, const char *tape_path, const pws_tape_tool_options *o,
                           char *errbuf, size_t errcap)
{
    return pwsr__tape_from_har(har_path, tape_path, 0, o, errbuf, errcap);
}
