/*
 * tape.c - tapes: the header line, the frame lines through wire's line codec,
 * the append-only writer and the streaming reader.  Pure: files and bytes,
 * no sockets.
 *
 * Kill safety.  The writer encodes a whole line in memory and hands it to
 * the kernel with one write(2) on an O_APPEND descriptor: once write returns
 * the line is in the page cache and survives the death of the process.  A
 * SIGKILL can at worst interrupt the one write in flight, leaving a cut last
 * line without its '\n'; the reader skips such a line and reports it.
 *
 * The frame lines are the journal's: wire's line codec (wire/tapeline.h)
 * encodes and decodes them for both; the header line, one per tape, goes
 * through cJSON.
 */
#include "internal.h"

#include "wire/tapeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20) /* bytes read from the file at a time */

static const char *const kind_names[] = {
    [PWS_TAPE_TEXT] = "text",   [PWS_TAPE_BINARY] = "binary", [PWS_TAPE_PING] = "ping",
    [PWS_TAPE_PONG] = "pong",   [PWS_TAPE_CLOSE] = "close",   [PWS_TAPE_OPEN] = "open",
    [PWS_TAPE_DROP] = "drop",   [PWS_TAPE_CLOSED] = "closed", [PWS_TAPE_ERROR] = "error",
    [PWS_TAPE_OTHER] = "other",
};

const char *pws_tape_kind_name(pws_tape_kind kind)
{
    return (unsigned)kind <= PWS_TAPE_OTHER ? kind_names[kind] : "other";
}

static pws_tape_kind kind_of(const char *s, size_t n)
{
    for (int k = 0; k < PWS_TAPE_OTHER; k++)
        if (strlen(kind_names[k]) == n && !memcmp(kind_names[k], s, n))
            return (pws_tape_kind)k;
    return PWS_TAPE_OTHER;
}

/* ------------------------------------------------------------ encoding */

static int encode_list(pws_tape_buf *b, const char *const *v, size_t n)
{
    if (pwsr__buf_str(b, "["))
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && pwsr__buf_str(b, ",")) || pwsr__buf_json_string(b, v[i], strlen(v[i])))
            return -1;
    return pwsr__buf_str(b, "]");
}

/* Width of the header's "secrets" count in a writer's tape: ten characters, the count then
 * spaces, so that pws_tape_writer_set_secrets can rewrite it in place. */
#define SECRETS_FIELD_WIDTH 10

/* The header line; with secrets_at, the count is padded to SECRETS_FIELD_WIDTH and
 * *secrets_at is its offset in the line. */
static int encode_header(const pws_tape_header *h, pws_tape_buf *b, size_t *secrets_at)
{
    if (!h || !b)
        return PWS_ERR_INVALID;
    b->len = 0;
    char iso[40];
    pwsr__iso_time(h->start_us, iso, sizeof iso);
    const char *url = h->url ? h->url : "", *tool = h->tool ? h->tool : "", *mode = h->mode ? h->mode : "";
    const pws_tape_redactions *r = &h->redacted;
    if (r->nfields > PWS_TAPE_MAX_REDACT || r->nheaders > PWS_TAPE_MAX_REDACT)
        return PWS_ERR_LIMIT;
    if (pwsr__buf_printf(b, "{\"polyws_tape\":%d,\"url\":", h->version ? h->version : PWS_TAPE_VERSION) ||
        pwsr__buf_json_string(b, url, strlen(url)) ||
        pwsr__buf_printf(b, ",\"start_us\":%lld,\"start\":\"%s\",\"tool\":", (long long)h->start_us, iso) ||
        pwsr__buf_json_string(b, tool, strlen(tool)) || pwsr__buf_str(b, ",\"mode\":") ||
        pwsr__buf_json_string(b, mode, strlen(mode)) ||
        pwsr__buf_printf(b, ",\"redacted\":{\"placeholder\":\"%s\",\"auth_params\":%s,\"fields\":",
                         PWS_TAPE_PLACEHOLDER, r->auth_params ? "true" : "false") ||
        encode_list(b, r->fields, r->nfields) || pwsr__buf_str(b, ",\"headers\":") ||
        encode_list(b, r->headers, r->nheaders) || pwsr__buf_str(b, ",\"secrets\":"))
        return b->len >= PWS_TAPE_MAX_LINE / 2 ? PWS_ERR_LIMIT : PWS_ERR_NOMEM;
    if (secrets_at)
        *secrets_at = b->len;
    int rc = secrets_at ? pwsr__buf_printf(b, "%-*u}}\n", SECRETS_FIELD_WIDTH, (unsigned)r->secrets)
                        : pwsr__buf_printf(b, "%u}}\n", (unsigned)r->secrets);
    if (rc)
        return PWS_ERR_NOMEM;
    return PWS_OK;
}

int pws_tape_encode_header(const pws_tape_header *h, pws_tape_buf *b)
{
    return encode_header(h, b, NULL);
}

/* The tape's own buffer type is public; the codec's is wire's pws__buf.  Both
 * are (p, len, cap) capped at the same size: lend one as the other. */
_Static_assert(PWS_TAPE_MAX_LINE == PWS__BUF_MAX, "tape lines and wire buffers share one limit");
_Static_assert(PWS_TAPE_MAX_PAYLOAD == PWS__LINE_MAX_PAYLOAD, "tape payloads and wire lines share one limit");

static pws__buf lend(const pws_tape_buf *t)
{
    return (pws__buf){t->p, t->len, t->cap, false};
}

static void take_back(pws_tape_buf *t, const pws__buf *b)
{
    t->p = b->p;
    t->len = b->len;
    t->cap = b->cap;
}

int pws_tape_encode_frame(const pws_tape_frame *f, pws_tape_buf *b)
{
    if (!f || !b || (f->dir != 'c' && f->dir != 's' && f->dir != '-') ||
        (f->kind == PWS_TAPE_OTHER && (!f->kind_name || !*f->kind_name)) || (unsigned)f->kind > PWS_TAPE_OTHER)
        return PWS_ERR_INVALID;
    if (f->len > PWS_TAPE_MAX_PAYLOAD)
        return PWS_ERR_LIMIT;
    pws__line l = {.t_us = f->t_us, .conn = f->conn, .dir = f->dir,
                   .kind = f->kind == PWS_TAPE_OTHER ? f->kind_name : kind_names[f->kind],
                   .data = f->data, .len = f->len, .code = f->code, .reason = f->reason,
                   .headers_json = f->headers_json};
    b->len = 0;
    pws__buf wb = lend(b);
    int rc = pws__line_encode(&l, &wb);
    take_back(b, &wb);
    return rc ? PWS_ERR_NOMEM : PWS_OK;
}

int pws_tape_decode_frame(const char *line, size_t len, pws_tape_frame *f, pws_tape_buf *scratch, char *errbuf,
                          size_t errcap)
{
    pws__line l;
    pws__buf wb = lend(scratch);
    int rc = pws__line_decode(line, len, &l, &wb, errbuf, errcap);
    take_back(scratch, &wb);
    memset(f, 0, sizeof *f);
    if (rc)
        return rc == PWS__LINE_NOMEM ? PWS_ERR_NOMEM : PWS_ERR_INVALID;
    if (l.t_us > PWS_TAPE_MAX_TIME_US || l.t_us < -PWS_TAPE_MAX_TIME_US) {
        /* the codec writes "t_us" as a key only (in a string its quotes are escaped) */
        const char *at = memmem(line, len, "\"t_us\"", 6);
        snprintf(errbuf, errcap, "t_us %lld is out of range (beyond +-%lld, the year 10000) at byte %zu",
                 (long long)l.t_us, (long long)PWS_TAPE_MAX_TIME_US, at ? (size_t)(at - line) + 1 : (size_t)1);
        return PWS_ERR_LIMIT; /* a whole line, not a cut one: not PWS_ERR_INVALID */
    }
    f->t_us = l.t_us;
    f->conn = l.conn;
    f->dir = l.dir;
    f->kind = kind_of(l.kind, l.kind_len);
    f->kind_name = f->kind == PWS_TAPE_OTHER ? l.kind : kind_names[f->kind];
    f->data = l.data;
    f->len = l.len;
    f->code = l.code;
    f->reason = l.reason;
    f->headers_json = l.headers_json;
    return PWS_OK;
}

/* ------------------------------------------------------------ writer */

struct pws_tape_writer {
    int fd;              /* O_APPEND descriptor, -1 after a failure */
    int hdr_fd;          /* the same file without O_APPEND, to rewrite the header's count; -1 for stdout */
    size_t secrets_at;   /* offset of the header's "secrets" count in the file */
    bool fsync_each;     /* fsync after every line */
    uint64_t lines;      /* lines written */
    uint64_t bytes;      /* bytes written */
    pws_tape_buf line;   /* encoding buffer, reused */
    bool failed;         /* a write failed: refuse the rest */
    char err[256];       /* last failure */
};

/* Writes all n bytes (a regular file takes them in one call; the loop covers
 * signals and odd file systems).  0 or -1 with errno. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int writer_emit(pws_tape_writer *w)
{
    if (write_all(w->fd, w->line.p, w->line.len) || (w->fsync_each && fsync(w->fd))) {
        snprintf(w->err, sizeof w->err, "tape write failed: %s", strerror(errno));
        w->failed = true;
        return PWS_ERR_SYSTEM;
    }
    w->lines++;
    w->bytes += w->line.len;
    return PWS_OK;
}

int pws_tape_writer_open(const char *path, const pws_tape_header *h, bool fsync_each, pws_tape_writer **out,
                         char *errbuf, size_t errcap)
{
    *out = NULL;
    if (!path || !h) {
        snprintf(errbuf, errcap, "tape: no path or header");
        return PWS_ERR_INVALID;
    }
    pws_tape_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(errbuf, errcap, "tape: out of memory");
        return PWS_ERR_NOMEM;
    }
    w->fsync_each = fsync_each;
    w->hdr_fd = -1;
    int rc = encode_header(h, &w->line, &w->secrets_at);
    if (rc) {
        snprintf(errbuf, errcap, "tape: cannot encode the header: %s", pws_strerror(rc));
        pws_tape_buf_free(&w->line);
        free(w);
        return rc;
    }
    w->fd = strcmp(path, "-") ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600)
                              : dup(STDOUT_FILENO);
    if (w->fd < 0) {
        snprintf(errbuf, errcap, "tape: cannot create %s: %s", path, strerror(errno));
        pws_tape_buf_free(&w->line);
        free(w);
        return PWS_ERR_SYSTEM;
    }
    /* pwrite on an O_APPEND descriptor appends on Linux: the header's count is rewritten
     * through a second descriptor (none for stdout, which may be a pipe) */
    if (strcmp(path, "-") && (w->hdr_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        snprintf(errbuf, errcap, "tape: cannot open %s again for its header: %s", path, strerror(errno));
        pws_tape_writer_close(w);
        return PWS_ERR_SYSTEM;
    }
    rc = writer_emit(w);
    if (rc) {
        snprintf(errbuf, errcap, "%s", w->err);
        pws_tape_writer_close(w);
        return rc;
    }
    *out = w;
    return PWS_OK;
}

int pws_tape_writer_set_secrets(pws_tape_writer *w, uint32_t secrets)
{
    if (!w)
        return PWS_ERR_INVALID;
    if (w->failed || w->hdr_fd < 0)
        return PWS_ERR_STATE;
    char field[SECRETS_FIELD_WIDTH + 1];
    snprintf(field, sizeof field, "%-*u", SECRETS_FIELD_WIDTH, (unsigned)secrets);
    /* one small pwrite inside the first line: the header is valid JSON before and after, and
     * its length, so every line after it, stays the same */
    ssize_t n = pwrite(w->hdr_fd, field, SECRETS_FIELD_WIDTH, (off_t)w->secrets_at);
    if (n != SECRETS_FIELD_WIDTH || (w->fsync_each && fsync(w->hdr_fd))) {
        snprintf(w->err, sizeof w->err, "tape header rewrite failed: %s", n < 0 ? strerror(errno) : "short write");
        return PWS_ERR_SYSTEM;
    }
    return PWS_OK;
}

int pws_tape_write(pws_tape_writer *w, const pws_tape_frame *f)
{
    if (!w || !f)
        return PWS_ERR_INVALID;
    if (w->failed)
        return PWS_ERR_STATE;
    int rc = pws_tape_encode_frame(f, &w->line);
    if (rc) {
        snprintf(w->err, sizeof w->err, "cannot encode a %s line: %s", pws_tape_kind_name(f->kind),
                 pws_strerror(rc));
        if (rc != PWS_ERR_INVALID && rc != PWS_ERR_LIMIT)
            w->failed = true; /* out of memory: stop rather than leave a gap */
        return rc;
    }
    return writer_emit(w);
}

uint64_t pws_tape_writer_lines(const pws_tape_writer *w)
{
    return w ? w->lines : 0;
}

uint64_t pws_tape_writer_bytes(const pws_tape_writer *w)
{
    return w ? w->bytes : 0;
}

const char *pws_tape_writer_error(const pws_tape_writer *w)
{
    return w ? w->err : "";
}

int pws_tape_writer_close(pws_tape_writer *w)
{
    if (!w)
        return PWS_OK;
    int rc = w->failed ? PWS_ERR_SYSTEM : PWS_OK;
    if (w->fd >= 0 && close(w->fd))
        rc = PWS_ERR_SYSTEM;
    if (w->hdr_fd >= 0 && close(w->hdr_fd))
        rc = PWS_ERR_SYSTEM;
    pws_tape_buf_free(&w->line);
    free(w);
    return rc;
}

/* ------------------------------------------------------------ reader */

struct pws_tape_reader {
    int fd;                   /* file, or -1 in memory mode */
    bool own_fd;              /* close fd at the end */
    const char *mem;          /* memory mode: the bytes */
    size_t mem_len;           /* ... and their length */
    char *buf;                /* file mode: read buffer */
    size_t cap, start, end;   /* allocated, first unread byte, end of data */
    bool eof;                 /* no more bytes to read */
    size_t lines;             /* lines consumed */
    uint64_t consumed;        /* bytes of those lines, their '\n' included */
    uint64_t size;            /* the input's size if known at open (regular file, memory), else 0 */
    pws_tape_buf scratch;     /* decoded strings of the current frame */
    bool pending;             /* the first line was a frame (no header): hold it */
    size_t pending_off, pending_len; /* where it is in buf/mem */
    bool pending_nl;          /* it ended in '\n' */
    bool has_header;          /* a header line was read */
    pws_tape_header hdr;      /* the header (strings owned below) */
    char *hdr_strings[3 + 2 * PWS_TAPE_MAX_REDACT]; /* owned copies */
    size_t nhdr_strings;
    uint64_t frames;          /* frame lines returned by pws_tape_next */
    bool truncated;           /* a cut last line was skipped */
    size_t trunc_bytes;       /* its length */
    char err[320];            /* last failure */
};

/* The next line: 1 (ptr/len/nl set), 0 at the end, -1 on error (r->err). */
static int next_line(pws_tape_reader *r, const char **ptr, size_t *len, bool *nl)
{
    if (r->fd < 0) {
        if (r->start >= r->mem_len)
            return 0;
        const char *s = r->mem + r->start;
        const char *e = memchr(s, '\n', r->mem_len - r->start);
        size_t n = e ? (size_t)(e - s) : r->mem_len - r->start;
        if (n > PWS_TAPE_MAX_LINE) {
            snprintf(r->err, sizeof r->err, "line %zu: longer than %u bytes", r->lines + 1, PWS_TAPE_MAX_LINE);
            return -1;
        }
        *ptr = s;
        *len = n;
        *nl = e != NULL;
        r->start += n + (e ? 1 : 0);
        r->consumed += n + (e ? 1 : 0);
        r->lines++;
        return 1;
    }
    for (;;) {
        const char *s = r->buf + r->start;
        const char *e = r->end > r->start ? memchr(s, '\n', r->end - r->start) : NULL;
        if (e || (r->eof && r->end > r->start)) {
            size_t n = e ? (size_t)(e - s) : r->end - r->start;
            *ptr = s;
            *len = n;
            *nl = e != NULL;
            r->start += n + (e ? 1 : 0);
            r->consumed += n + (e ? 1 : 0);
            r->lines++;
            return 1;
        }
        if (r->eof)
            return 0;
        if (r->end - r->start > PWS_TAPE_MAX_LINE) {
            snprintf(r->err, sizeof r->err, "line %zu: longer than %u bytes", r->lines + 1, PWS_TAPE_MAX_LINE);
            return -1;
        }
        /* make room: move the partial line to the front, grow if it fills the buffer */
        if (r->start) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        /* at least a quarter chunk to read into; the partial line is at most PWS_TAPE_MAX_LINE,
         * so the limit is never what fails */
        if (pws__grow(&r->buf, r->end, &r->cap, READ_CHUNK / 4, PWS_TAPE_MAX_LINE + READ_CHUNK)) {
            snprintf(r->err, sizeof r->err, "out of memory reading line %zu", r->lines + 1);
            return -1;
        }
        ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            snprintf(r->err, sizeof r->err, "read error: %s", strerror(errno));
            return -1;
        }
        if (got == 0)
            r->eof = true;
        r->end += (size_t)got;
    }
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static const char *hdr_dup(pws_tape_reader *r, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (r->nhdr_strings >= sizeof r->hdr_strings / sizeof r->hdr_strings[0])
        return "";
    char *d = strdup(s);
    if (!d)
        return "";
    r->hdr_strings[r->nhdr_strings++] = d;
    return d;
}

static void hdr_list(pws_tape_reader *r, const cJSON *arr, const char **out, size_t *n)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (*n < PWS_TAPE_MAX_REDACT && cJSON_IsString(it))
            out[(*n)++] = hdr_dup(r, it);
    }
}

/* Reads the first non-blank line: a header is parsed, a frame line is kept. */
static int read_header(pws_tape_reader *r)
{
    const char *s;
    size_t n;
    bool nl;
    int got;
    while ((got = next_line(r, &s, &n, &nl)) == 1 && blank(s, n))
        ;
    if (got < 0)
        return got;
    if (got == 0) {
        /* a recorder writes the header before anything else, a journal its first line at once */
        snprintf(r->err, sizeof r->err, "%s, not a tape (no header line and no frame lines)",
                 r->lines ? "only blank lines" : "empty file");
        return -1;
    }
    cJSON *j = NULL;
    if (memmem(s, n < 64 ? n : 64, "\"polyws_tape\"", 13))
        j = cJSON_ParseWithLength(s, n);
    const cJSON *ver = j ? cJSON_GetObjectItemCaseSensitive(j, "polyws_tape") : NULL;
    if (!cJSON_IsNumber(ver)) {
        cJSON_Delete(j);
        if (memmem(s, n < 64 ? n : 64, "\"polyws_tape\"", 13)) {
            if (!nl) { /* a cut header: an empty tape */
                r->truncated = true;
                r->trunc_bytes = n;
                return 0;
            }
            snprintf(r->err, sizeof r->err, "line %zu: a broken header line", r->lines);
            return -1;
        }
        r->pending = true;
        r->pending_off = (size_t)(s - (r->fd < 0 ? r->mem : r->buf));
        r->pending_len = n;
        r->pending_nl = nl;
        return 1;
    }
    r->has_header = true;
    r->hdr.version = ver->valueint;
    r->hdr.url = hdr_dup(r, cJSON_GetObjectItemCaseSensitive(j, "url"));
    r->hdr.tool = hdr_dup(r, cJSON_GetObjectItemCaseSensitive(j, "tool"));
    r->hdr.mode = hdr_dup(r, cJSON_GetObjectItemCaseSensitive(j, "mode"));
    /* numbers come as doubles: range-check before converting (1e999 is inf, and out of
     * range a conversion is undefined) */
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(j, "start_us");
    if (cJSON_IsNumber(su) && !(fabs(su->valuedouble) <= (double)PWS_TAPE_MAX_TIME_US)) {
        snprintf(r->err, sizeof r->err, "line %zu: header start_us %g is out of range (beyond +-%lld, the year 10000)",
                 r->lines, su->valuedouble, (long long)PWS_TAPE_MAX_TIME_US);
        cJSON_Delete(j);
        return -1;
    }
    r->hdr.start_us = cJSON_IsNumber(su) ? (int64_t)su->valuedouble : 0;
    const cJSON *red = cJSON_GetObjectItemCaseSensitive(j, "redacted");
    if (cJSON_IsObject(red)) {
        r->hdr.redacted.auth_params = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(red, "auth_params"));
        hdr_list(r, cJSON_GetObjectItemCaseSensitive(red, "fields"), r->hdr.redacted.fields,
                 &r->hdr.redacted.nfields);
        hdr_list(r, cJSON_GetObjectItemCaseSensitive(red, "headers"), r->hdr.redacted.headers,
                 &r->hdr.redacted.nheaders);
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(red, "secrets");
        if (cJSON_IsNumber(sec) && !(sec->valuedouble >= 0 && sec->valuedouble <= UINT32_MAX)) {
            snprintf(r->err, sizeof r->err, "line %zu: header redacted.secrets %g is not a count (0..%u)", r->lines,
                     sec->valuedouble, (unsigned)UINT32_MAX);
            cJSON_Delete(j);
            return -1;
        }
        r->hdr.redacted.secrets = cJSON_IsNumber(sec) ? (uint32_t)sec->valuedouble : 0;
    }
    cJSON_Delete(j);
    if (r->hdr.version > PWS_TAPE_VERSION) {
        snprintf(r->err, sizeof r->err, "tape format version %d is newer than this reader (%d)", r->hdr.version,
                 PWS_TAPE_VERSION);
        return -1;
    }
    return 1;
}

static int reader_init(pws_tape_reader *r, const char *path, char *err, size_t errcap)
{
    int rc = read_header(r);
    if (rc < 0) {
        snprintf(err, errcap, "%s%s%s", path ? path : "", path ? ": " : "", r->err);
        pws_tape_reader_close(r);
        return PWS_ERR_INVALID;
    }
    return PWS_OK;
}

int pws_tape_reader_open(const char *path, pws_tape_reader **out, char *errbuf, size_t errcap)
{
    *out = NULL;
    pws_tape_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->buf = malloc(READ_CHUNK))) {
        free(r);
        snprintf(errbuf, errcap, "tape: out of memory");
        return PWS_ERR_NOMEM;
    }
    r->cap = READ_CHUNK;
    if (!strcmp(path, "-")) {
        r->fd = STDIN_FILENO;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        r->own_fd = true;
        if (r->fd < 0) {
            snprintf(errbuf, errcap, "cannot open %s: %s", path, strerror(errno));
            free(r->buf);
            free(r);
            return PWS_ERR_SYSTEM;
        }
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
        r->size = (uint64_t)st.st_size;
    int rc = reader_init(r, path, errbuf, errcap);
    if (rc)
        return rc;
    *out = r;
    return PWS_OK;
}

int pws_tape_reader_open_mem(const char *data, size_t len, pws_tape_reader **out, char *errbuf, size_t errcap)
{
    *out = NULL;
    pws_tape_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(errbuf, errcap, "tape: out of memory");
        return PWS_ERR_NOMEM;
    }
    r->fd = -1;
    r->mem = data ? data : "";
    r->mem_len = data ? len : 0;
    r->size = r->mem_len;
    int rc = reader_init(r, NULL, errbuf, errcap);
    if (rc)
        return rc;
    *out = r;
    return PWS_OK;
}

const pws_tape_header *pws_tape_reader_header(const pws_tape_reader *r)
{
    return r && r->has_header ? &r->hdr : NULL;
}

int pws_tape_next(pws_tape_reader *r, pws_tape_frame *f)
{
    const char *s;
    size_t n;
    bool nl;
    int got;
    if (r->pending) {
        r->pending = false;
        s = (r->fd < 0 ? r->mem : r->buf) + r->pending_off;
        n = r->pending_len;
        nl = r->pending_nl;
        got = 1;
    } else {
        while ((got = next_line(r, &s, &n, &nl)) == 1 && blank(s, n))
            ;
    }
    if (got < 0)
        return PWS_ERR_SYSTEM;
    if (got == 0)
        return 0;
    char why[160];
    int rc = pws_tape_decode_frame(s, n, f, &r->scratch, why, sizeof why);
    if (rc == PWS_OK) {
        f->line = r->lines;
        r->frames++;
        return 1;
    }
    /* Before any header or frame, only the start of a frame line can be a cut tape: what
     * does not begin like one is some other file. */
    static const char frame_start[] = "{\"t_us\":";
    bool first = !r->has_header && !r->frames;
    bool starts_like_frame = !memcmp(s, frame_start, n < sizeof frame_start - 1 ? n : sizeof frame_start - 1);
    if (!nl && rc == PWS_ERR_INVALID && (!first || starts_like_frame)) {
        /* the last line, cut while it was written: everything before it is the tape */
        r->truncated = true;
        r->trunc_bytes = n;
        return 0;
    }
    if (first && rc == PWS_ERR_INVALID)
        snprintf(r->err, sizeof r->err, "line %zu: not a tape (no header line, and not a frame line: %s)",
                 r->lines, why);
    else
        snprintf(r->err, sizeof r->err, "line %zu: %s", r->lines, why);
    return rc;
}

bool pws_tape_reader_truncated(const pws_tape_reader *r, size_t *bytes)
{
    if (bytes)
        *bytes = r && r->truncated ? r->trunc_bytes : 0;
    return r && r->truncated;
}

size_t pws_tape_reader_lines(const pws_tape_reader *r)
{
    return r ? r->lines : 0;
}

uint64_t pws_tape_reader_bytes(const pws_tape_reader *r)
{
    return r ? r->consumed : 0;
}

uint64_t pws_tape_reader_size(const pws_tape_reader *r)
{
    return r ? r->size : 0;
}

const char *pws_tape_reader_error(const pws_tape_reader *r)
{
    return r ? r->err : "";
}

void pws_tape_reader_close(pws_tape_reader *r)
{
    if (!r)
        return;
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    free(r->buf);
    pws_tape_buf_free(&r->scratch);
    for (size_t i = 0; i < r->nhdr_strings; i++)
        free(r->hdr_strings[i]);
    free(r);
}
