/*
 * har.c - `polyws tape to-har`: a HAR file (HTTP Archive 1.2, as browser
 * DevTools save them) from a tape.  Chrome keeps a WebSocket's frames in the
 * entry's `_webSocketMessages`: [{"type":"send"|"receive","time":<Unix
 * seconds>,"opcode":1|2,"data":"..."}], binary data in base64.
 *
 * HAR has no place for pings, pongs, closes or TCP drops: to-har leaves them
 * out (and counts them).  Frames keep their time to the microsecond (as far
 * as a double of Unix seconds holds it).  The way back, from-har, is
 * har_import.c.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return pws_tape_to_har_opts(path, file, NULL, skipped, errbuf, errcap);
}

int pws_tape_to_har_opts(const char *path, FILE *file, const pws_tape_tool_options *o, size_t *skipped,
                         char *errbuf, size_t errcap)
{
    if (skipped)
        *skipped = 0;
    pws_tape_reader *r;
    int rc = pws_tape_reader_open(path, &r, errbuf, errcap);
    if (rc)
        return rc;
    pwsr__progress pr;
    pwsr__progress_start(&pr, o, "reading", 0, pws_tape_reader_size(r));
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
        pwsr__progress_line(&pr, r);
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
        pwsr__progress_read_done(&pr, r);
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
