/*
 * har.c - tapes to and from HAR files (HTTP Archive 1.2, as browser DevTools
 * save them).  Chrome keeps a WebSocket's frames in the entry's
 * `_webSocketMessages`: [{"type":"send"|"receive","time":<Unix seconds>,
 * "opcode":1|2,"data":"..."}], binary data in base64.
 *
 * HAR has no place for pings, pongs, closes or TCP drops: to-har leaves them
 * out (and counts them), from-har cannot invent them.  Frames keep their
 * time to the microsecond (as far as a double of Unix seconds holds it).
 * A HAR file written by a browser holds the real API key in its auth
 * messages: from-har redacts it (and the usual headers) like the recorder.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HAR_MAX_FILE (512u << 20)  /* bytes of a HAR file read */
#define HAR_MAX_FRAMES 10000000u   /* frames converted from one HAR file */

/* ------------------------------------------------------------ to-har */

typedef struct har_conn {
    uint32_t conn;        /* tape ordinal */
    cJSON *entry;         /* the HAR entry */
    cJSON *msgs;          /* its _webSocketMessages */
    int64_t first_us;     /* first line */
    int64_t last_us;      /* last line */
} har_conn;

static cJSON *headers_from_json(const char *hj)
{
    cJSON *out = cJSON_CreateArray();
    cJSON *pairs = hj ? cJSON_Parse(hj) : NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, pairs)
    {
        const cJSON *n = cJSON_GetArrayItem(p, 0), *v = cJSON_GetArrayItem(p, 1);
        if (!cJSON_IsString(n) || !cJSON_IsString(v))
            continue;
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "name", n->valuestring);
        cJSON_AddStringToObject(h, "value", v->valuestring);
        cJSON_AddItemToArray(out, h);
    }
    cJSON_Delete(pairs);
    return out;
}

static cJSON *new_entry(const char *url)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "startedDateTime", "");
    cJSON_AddNumberToObject(e, "time", 0);
    cJSON *req = cJSON_AddObjectToObject(e, "request");
    cJSON_AddStringToObject(req, "method", "GET");
    cJSON_AddStringToObject(req, "url", url);
    cJSON_AddStringToObject(req, "httpVersion", "HTTP/1.1");
    cJSON_AddItemToObject(req, "headers", cJSON_CreateArray());
    cJSON_AddItemToObject(req, "queryString", cJSON_CreateArray());
    cJSON_AddItemToObject(req, "cookies", cJSON_CreateArray());
    cJSON_AddNumberToObject(req, "headersSize", -1);
    cJSON_AddNumberToObject(req, "bodySize", 0);
    cJSON *resp = cJSON_AddObjectToObject(e, "response");
    cJSON_AddNumberToObject(resp, "status", 101);
    cJSON_AddStringToObject(resp, "statusText", "Switching Protocols");
    cJSON_AddStringToObject(resp, "httpVersion", "HTTP/1.1");
    cJSON_AddItemToObject(resp, "headers", cJSON_CreateArray());
    cJSON_AddItemToObject(resp, "cookies", cJSON_CreateArray());
    cJSON *content = cJSON_AddObjectToObject(resp, "content");
    cJSON_AddNumberToObject(content, "size", 0);
    cJSON_AddStringToObject(content, "mimeType", "x-unknown");
    cJSON_AddStringToObject(resp, "redirectURL", "");
    cJSON_AddNumberToObject(resp, "headersSize", -1);
    cJSON_AddNumberToObject(resp, "bodySize", 0);
    cJSON_AddObjectToObject(e, "cache");
    cJSON *t = cJSON_AddObjectToObject(e, "timings");
    cJSON_AddNumberToObject(t, "send", 0);
    cJSON_AddNumberToObject(t, "wait", 0);
    cJSON_AddNumberToObject(t, "receive", 0);
    cJSON_AddStringToObject(e, "_resourceType", "websocket");
    return e;
}

/* scheme://host[:port] of a URL (without its path), into out. */
static void url_origin(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *end = p ? strchr(p + 3, '/') : NULL;
    size_t n = end ? (size_t)(end - url) : strlen(url);
    snprintf(out, cap, "%.*s", (int)n, url);
}

int pws_tape_to_har(const char *path, FILE *file, size_t *skipped, char *errbuf, size_t errcap)
{
    if (skipped)
        *skipped = 0;
    pws_tape_reader *r;
    int rc = pws_tape_reader_open(path, &r, errbuf, errcap);
    if (rc)
        return rc;
    const pws_tape_header *h = pws_tape_reader_header(r);
    int64_t start_us = h ? h->start_us : 0;
    char origin[1024];
    url_origin(h && h->url[0] ? h->url : "ws://unknown", origin, sizeof origin);
    cJSON *root = cJSON_CreateObject();
    cJSON *log = cJSON_AddObjectToObject(root, "log");
    cJSON_AddStringToObject(log, "version", "1.2");
    cJSON *creator = cJSON_AddObjectToObject(log, "creator");
    cJSON_AddStringToObject(creator, "name", "polyws");
    cJSON_AddStringToObject(creator, "version", PWS_VERSION_STRING);
    cJSON_AddItemToObject(log, "pages", cJSON_CreateArray());
    cJSON *entries = cJSON_AddArrayToObject(log, "entries");
    har_conn *conns = NULL;
    size_t nconns = 0, cap = 0;
    pws_tape_frame f;
    pws_tape_buf b64 = {0};
    while ((rc = pws_tape_next(r, &f)) == 1) {
        har_conn *c = NULL;
        for (size_t i = nconns; i-- > 0 && !c;)
            if (conns[i].conn == f.conn)
                c = &conns[i];
        if (!c) {
            if (nconns == cap) {
                cap = cap ? cap * 2 : 8;
                har_conn *n = realloc(conns, cap * sizeof *n);
                if (!n) {
                    rc = PWS_ERR_NOMEM;
                    break;
                }
                conns = n;
            }
            c = &conns[nconns++];
            memset(c, 0, sizeof *c);
            c->conn = f.conn;
            c->first_us = c->last_us = f.t_us;
            char url[2048];
            snprintf(url, sizeof url, "%s/", origin);
            c->entry = new_entry(url);
            c->msgs = cJSON_AddArrayToObject(c->entry, "_webSocketMessages");
            cJSON_AddItemToArray(entries, c->entry);
        }
        c->last_us = f.t_us;
        if (f.kind == PWS_TAPE_OPEN) {
            char url[2048];
            snprintf(url, sizeof url, "%s%s", origin, f.len ? (const char *)f.data : "/");
            cJSON *req = cJSON_GetObjectItemCaseSensitive(c->entry, "request");
            cJSON_ReplaceItemInObjectCaseSensitive(req, "url", cJSON_CreateString(url));
            cJSON_ReplaceItemInObjectCaseSensitive(req, "headers", headers_from_json(f.headers_json));
            continue;
        }
        bool text = f.kind == PWS_TAPE_TEXT && pws_utf8_valid(f.data, f.len) && !memchr(f.data, 0, f.len);
        bool binary = f.kind == PWS_TAPE_BINARY || (f.kind == PWS_TAPE_TEXT && !text);
        if (f.dir == '-' || (!text && !binary)) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", f.dir == 'c' ? "send" : "receive");
        cJSON_AddNumberToObject(m, "time", (double)(start_us + f.t_us) / 1e6);
        cJSON_AddNumberToObject(m, "opcode", text ? 1 : 2);
        if (text) {
            cJSON_AddStringToObject(m, "data", (const char *)f.data);
        } else {
            b64.len = 0;
            if (pwsr__buf_base64(&b64, f.data, f.len, false)) {
                cJSON_Delete(m);
                rc = PWS_ERR_NOMEM;
                break;
            }
            cJSON_AddStringToObject(m, "data", b64.p ? b64.p : "");
        }
        cJSON_AddItemToArray(c->msgs, m);
    }
    pws_tape_buf_free(&b64);
    if (rc < 0) {
        snprintf(errbuf, errcap, "%s: %s", path, rc == PWS_ERR_NOMEM ? "out of memory" : pws_tape_reader_error(r));
    } else {
        for (size_t i = 0; i < nconns; i++) {
            char iso[40];
            pwsr__iso_time(start_us + conns[i].first_us, iso, sizeof iso);
            cJSON_ReplaceItemInObjectCaseSensitive(conns[i].entry, "startedDateTime", cJSON_CreateString(iso));
            cJSON_ReplaceItemInObjectCaseSensitive(conns[i].entry, "time",
                                                   cJSON_CreateNumber((double)(conns[i].last_us - conns[i].first_us) / 1e3));
        }
        char *text = cJSON_Print(root);
        if (!text || fputs(text, file) < 0 || fputc('\n', file) < 0) {
            snprintf(errbuf, errcap, "cannot write the HAR: %s", text ? strerror(errno) : "out of memory");
            rc = text ? PWS_ERR_SYSTEM : PWS_ERR_NOMEM;
        } else {
            rc = PWS_OK;
        }
        free(text);
    }
    free(conns);
    cJSON_Delete(root);
    pws_tape_reader_close(r);
    return rc;
}

/* ------------------------------------------------------------ from-har */

typedef struct hframe {
    int64_t t_us;          /* absolute, Unix microseconds */
    uint32_t conn;         /* ordinal */
    char dir;              /* c, s, - */
    pws_tape_kind kind;    /* TEXT, BINARY, PING, PONG, CLOSE, OPEN */
    char *data;            /* owned */
    size_t len;
    int code;              /* CLOSE */
    char *headers;         /* OPEN: headers JSON, owned */
    size_t seq;            /* file order, for a stable sort */
} hframe;

static int hframe_cmp(const void *a, const void *b)
{
    const hframe *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
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

/* Why text[0..len) did not parse as JSON: where, as byte (1-based), line and column, and
 * whether the file simply ends too early (a truncated download or copy). */
static void describe_json_error(const char *path, const char *text, size_t len, const char *at, char *err,
                                size_t errcap)
{
    if (!len) {
        snprintf(err, errcap, "%s: empty file, not a HAR", path);
        return;
    }
    size_t pos = at && at >= text && at <= text + len ? (size_t)(at - text) : len;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (pos + 1 >= len)
        snprintf(err, errcap, "%s: truncated: the JSON ends inside a value at byte %zu (line %zu, column %zu), "
                 "not a complete HAR", path, len, line, col);
    else
        snprintf(err, errcap, "%s: invalid JSON at byte %zu (line %zu, column %zu), not a HAR", path, pos + 1,
                 line, col);
}

static const char *path_of_url(const char *url)
{
    const char *p = strstr(url, "://");
    const char *slash = p ? strchr(p + 3, '/') : NULL;
    return slash ? slash : "/";
}

int pws_tape_from_har(const char *har_path, const char *tape_path, char *errbuf, size_t errcap)
{
    FILE *in = fopen(har_path, "rb");
    if (!in) {
        snprintf(errbuf, errcap, "cannot open %s: %s", har_path, strerror(errno));
        return PWS_ERR_SYSTEM;
    }
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    if (size < 0 || (unsigned long)size > HAR_MAX_FILE) {
        fclose(in);
        snprintf(errbuf, errcap, "%s: larger than %u bytes", har_path, HAR_MAX_FILE);
        return PWS_ERR_LIMIT;
    }
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, in) != (size_t)size) {
        fclose(in);
        free(text);
        snprintf(errbuf, errcap, "cannot read %s", har_path);
        return PWS_ERR_SYSTEM;
    }
    fclose(in);
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)size, &parse_end, false);
    if (!root) {
        describe_json_error(har_path, text, (size_t)size, parse_end, errbuf, errcap);
        free(text);
        return PWS_ERR_INVALID;
    }
    free(text);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "log"), "entries");
    if (!cJSON_IsArray(entries)) {
        cJSON_Delete(root);
        snprintf(errbuf, errcap, "%s: not a HAR file (no log.entries)", har_path);
        return PWS_ERR_INVALID;
    }
    pws_redact_rules rules = {.auth_params = true};
    char *keys[PWS_TAPE_MAX_REDACT] = {0};
    hframe *fr = NULL;
    size_t n = 0, cap = 0, seq = 0;
    uint32_t conn = 0;
    int rc = PWS_OK;
    const char *first_url = NULL;
    const cJSON *e;
    int ei = -1; /* index of e in log.entries, for errors */
    cJSON_ArrayForEach(e, entries)
    {
        ei++;
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(e, "_webSocketMessages");
        if (!cJSON_IsArray(msgs))
            continue;
        conn++;
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(e, "request");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(req, "url");
        const char *u = cJSON_IsString(url) ? url->valuestring : "ws://unknown/";
        if (!first_url)
            first_url = u;
        int64_t start = 0, first = 0;
        const char *started = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "startedDateTime"));
        if (started && *started && !parse_iso(started, &start)) {
            rc = PWS_ERR_INVALID;
            snprintf(errbuf, errcap, "%s: log.entries[%d].startedDateTime \"%.40s\" is not a date and time "
                     "(YYYY-MM-DDTHH:MM:SS[.frac] then Z or +HH:MM, years 1 to 9999)", har_path, ei, started);
            break;
        }
        const cJSON *m0 = cJSON_GetArrayItem(msgs, 0);
        const cJSON *t0 = cJSON_GetObjectItemCaseSensitive(m0, "time");
        if (cJSON_IsNumber(t0) && har_time_us(t0->valuedouble, &first) && (!start || first < start))
            start = first; /* an out-of-range time is reported with its message below */
        /* the open line: path and (redacted) request headers */
        pws_tape_buf hj = {0};
        pwsr__buf_str(&hj, "[");
        const cJSON *hd;
        size_t nh = 0;
        cJSON_ArrayForEach(hd, cJSON_GetObjectItemCaseSensitive(req, "headers"))
        {
            const char *hn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hd, "name"));
            const char *hv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hd, "value"));
            if (!hn || !hv)
                continue;
            bool secret = pwsr__ieq(hn, "authorization") || pwsr__ieq(hn, "cookie") || pwsr__ieq(hn, "x-api-key") ||
                          pwsr__ieq(hn, "proxy-authorization");
            if ((nh++ && pwsr__buf_str(&hj, ",")) || pwsr__buf_str(&hj, "[") || pwsr__buf_json_string(&hj, hn, strlen(hn)) ||
                pwsr__buf_str(&hj, ",") ||
                pwsr__buf_json_string(&hj, secret ? PWS_TAPE_PLACEHOLDER : hv, secret ? 3 : strlen(hv)) ||
                pwsr__buf_str(&hj, "]"))
                rc = PWS_ERR_NOMEM;
        }
        pwsr__buf_str(&hj, "]");
        const cJSON *m;
        int mi = -1; /* index of m in _webSocketMessages, for errors */
        size_t total = (size_t)cJSON_GetArraySize(msgs) + 1;
        if (n + total > HAR_MAX_FRAMES) {
            pws_tape_buf_free(&hj);
            rc = PWS_ERR_LIMIT;
            snprintf(errbuf, errcap, "%s: more than %u frames", har_path, HAR_MAX_FRAMES);
            break;
        }
        if (n + total > cap) {
            cap = (n + total) * 2;
            hframe *nf = realloc(fr, cap * sizeof *nf);
            if (!nf) {
                pws_tape_buf_free(&hj);
                rc = PWS_ERR_NOMEM;
                break;
            }
            fr = nf;
        }
        char *path = pwsr__redact_query(path_of_url(u), NULL, 0);
        fr[n++] = (hframe){.t_us = start, .conn = conn, .dir = '-', .kind = PWS_TAPE_OPEN, .data = path,
                           .len = path ? strlen(path) : 0, .headers = hj.p, .seq = seq++};
        if (!path) {
            rc = PWS_ERR_NOMEM;
            break;
        }
        cJSON_ArrayForEach(m, msgs)
        {
            mi++;
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "type"));
            const cJSON *tm = cJSON_GetObjectItemCaseSensitive(m, "time");
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(m, "opcode");
            const char *data = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "data"));
            if (!type || !cJSON_IsNumber(tm) || !cJSON_IsNumber(op))
                continue;
            int64_t t_us;
            if (!har_time_us(tm->valuedouble, &t_us)) {
                rc = PWS_ERR_INVALID;
                snprintf(errbuf, errcap, "%s: log.entries[%d]._webSocketMessages[%d].time %g is not a time "
                         "(Unix seconds within +-%.0f, the year 10000)", har_path, ei, mi, tm->valuedouble,
                         (double)PWS_TAPE_MAX_TIME_US / 1e6);
                break;
            }
            hframe x = {.t_us = t_us, .conn = conn, .dir = !strcmp(type, "send") ? 'c' : 's', .seq = seq++};
            int opcode = op->valueint;
            size_t dl = data ? strlen(data) : 0;
            if (opcode == 1) {
                x.kind = PWS_TAPE_TEXT;
                if (x.dir == 'c') {
                    char key[PWS_MAX_KEY_LEN + 1];
                    if (pws_auth_key_of(data, dl, key, sizeof key) && strlen(key) >= 4 &&
                        rules.nsecrets < PWS_TAPE_MAX_REDACT) {
                        keys[rules.nsecrets] = strdup(key);
                        if (keys[rules.nsecrets]) {
                            rules.secrets[rules.nsecrets] = keys[rules.nsecrets];
                            rules.nsecrets++;
                        }
                    }
                }
                x.data = data ? strdup(data) : strdup("");
                x.len = dl;
            } else if (opcode == 2 || opcode == 8 || opcode == 9 || opcode == 10) {
                x.kind = opcode == 2 ? PWS_TAPE_BINARY : opcode == 8 ? PWS_TAPE_CLOSE
                                                     : opcode == 9 ? PWS_TAPE_PING
                                                                   : PWS_TAPE_PONG;
                x.data = malloc(dl / 4 * 3 + 4);
                size_t bl = x.data && data ? pws__base64_decode(data, dl, (unsigned char *)x.data) : 0;
                if (bl == (size_t)-1)
                    bl = 0;
                x.len = bl;
                if (x.kind == PWS_TAPE_CLOSE) {
                    x.code = bl >= 2 ? ((unsigned char)x.data[0] << 8 | (unsigned char)x.data[1]) : 0;
                    if (bl >= 2) {
                        memmove(x.data, x.data + 2, bl - 2);
                        x.len = bl - 2;
                    }
                }
            } else {
                continue;
            }
            if (!x.data) {
                rc = PWS_ERR_NOMEM;
                break;
            }
            fr[n++] = x;
        }
        if (rc)
            break;
    }
    if (!rc && !conn) {
        rc = PWS_ERR_INVALID;
        snprintf(errbuf, errcap, "%s: no WebSocket entry (_webSocketMessages) in the HAR", har_path);
    }
    pws_tape_writer *w = NULL;
    if (!rc) {
        qsort(fr, n, sizeof *fr, hframe_cmp);
        int64_t t0 = n ? fr[0].t_us : 0;
        pws_tape_header h = {.version = PWS_TAPE_VERSION, .start_us = t0, .tool = "polyws " PWS_VERSION_STRING,
                             .mode = "har"};
        size_t ul;
        char *qurl = first_url ? pwsr__redact_query(first_url, NULL, 0) : NULL;
        char *url = qurl ? pws_redact_message(&rules, qurl, strlen(qurl), &ul, NULL) : NULL;
        free(qurl);
        h.url = url ? url : "";
        h.redacted.auth_params = true;
        h.redacted.headers[0] = "authorization";
        h.redacted.headers[1] = "cookie";
        h.redacted.headers[2] = "x-api-key";
        h.redacted.headers[3] = "proxy-authorization";
        h.redacted.nheaders = 4;
        h.redacted.secrets = (uint32_t)rules.nsecrets;
        rc = pws_tape_writer_open(tape_path, &h, false, &w, errbuf, errcap);
        free(url);
        for (size_t i = 0; i < n && !rc; i++) {
            hframe *x = &fr[i];
            size_t rl = x->len;
            char *red = x->kind == PWS_TAPE_TEXT || x->kind == PWS_TAPE_OPEN
                            ? pws_redact_message(&rules, x->data, x->len, &rl, NULL)
                            : NULL;
            pws_tape_frame f = {.t_us = x->t_us - t0, .conn = x->conn, .dir = x->dir, .kind = x->kind,
                                .data = (const unsigned char *)(red ? red : x->data), .len = rl, .code = x->code,
                                .headers_json = x->headers};
            char reason[PWS_TAPE_MAX_REASON + 1] = "";
            if (x->kind == PWS_TAPE_CLOSE) {
                snprintf(reason, sizeof reason, "%.*s", (int)(x->len < PWS_TAPE_MAX_REASON ? x->len : PWS_TAPE_MAX_REASON),
                         x->data);
                f.reason = reason;
                f.len = 0;
            }
            rc = pws_tape_write(w, &f);
            free(red);
            if (rc)
                snprintf(errbuf, errcap, "%s", pws_tape_writer_error(w));
        }
        if (pws_tape_writer_close(w) && !rc) {
            rc = PWS_ERR_SYSTEM;
            snprintf(errbuf, errcap, "cannot write %s", tape_path);
        }
    } else if (rc == PWS_ERR_NOMEM) {
        snprintf(errbuf, errcap, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        free(fr[i].data);
        free(fr[i].headers);
    }
    free(fr);
    for (size_t i = 0; i < rules.nsecrets; i++)
        free(keys[i]);
    cJSON_Delete(root);
    return rc;
}
