/*
 * scenario_out.c - `polyws tape to-scenario`: a tape as an editable YAML
 * scenario (docs/scenarios.md) that makes the mock play the same session.
 *
 * Each tape connection becomes a script for its ordinal:
 *   server text        send_raw: '<the bytes>'   (base64 when YAML could not hold them as text)
 *   server binary      send_binary: {base64: ...}
 *   server ping        ping: ...                  (server pongs are left to the mock's WebSocket layer)
 *   gaps >= 1 ms       sleep: Nms                 (measured from the last frame, as the mock does)
 *   client message     expect: {json: <the message without its redacted members>}
 *                      (text that is not JSON: a regex that accepts anything, the text in a comment)
 *   server close       close: {code: N, reason: ...}   (the client's answering close is implied)
 *   upstream TCP drop  drop
 *   client.s end       sleep: 60m   (nothing more is sent; the client ends the connection)
 * Messages the mock cannot expect (binary from the client) and events
 * (errors, journal kinds) become comments.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCN_MAX_CONNS 64u          /* scripts by ordinal the loader accepts (PWSS_MAX_CONN_SCRIPTS) */
#define SCN_STEP_LIMIT 4096u       /* steps the loader accepts (PWSS_MAX_STEPS) */
#define SCN_FILE_LIMIT (1u << 20)  /* bytes the loader accepts (PWSS_MAX_FILE_BYTES) */
#define SCN_WAIT_MS 10000          /* expect timeout written */

typedef struct scn_conn {
    uint32_t conn;          /* tape ordinal */
    pws_tape_buf yaml;      /* its steps */
    int64_t last_us;        /* time of the last frame the script accounts for */
    bool have_last;         /* last_us set */
    bool skip_client_close; /* the next client close answers a server close */
    bool client_closed;     /* the client closed first: the server's close is only its answer */
    bool ended;             /* close/drop/end written */
    size_t steps;           /* steps written */
} scn_conn;

/* True if s can be a YAML single-quoted scalar as it is: UTF-8 without
 * control characters, and without the characters YAML 1.1 reads as line
 * breaks (NEL, LS, PS) or a byte order mark. */
static bool yaml_safe(const unsigned char *s, size_t n)
{
    if (!pws_utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
        if (s[i] == 0xC2 && i + 1 < n && s[i + 1] == 0x85)
            return false;
        if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
            return false;
        if (s[i] == 0xEF && i + 2 < n && s[i + 1] == 0xBB && s[i + 2] == 0xBF)
            return false;
    }
    return true;
}

/* Appends a payload: 'text' (quotes doubled) or {base64: ...}. */
static int put_payload(pws_tape_buf *b, const unsigned char *s, size_t n)
{
    if (yaml_safe(s, n)) {
        if (pwsr__buf_str(b, "'"))
            return -1;
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\'') {
                if (pwsr__buf_put(b, s + i - run, run + 1) || pwsr__buf_str(b, "'"))
                    return -1;
                run = 0;
            } else {
                run++;
            }
        }
        return pwsr__buf_put(b, s + n - run, run) || pwsr__buf_str(b, "'");
    }
    return pwsr__buf_str(b, "{base64: ") || pwsr__buf_base64(b, s, n, true) || pwsr__buf_str(b, "}");
}

/* A JSON value as YAML flow: JSON strings double-quoted (YAML reads the same
 * escapes), numbers as cJSON prints them, ": " and ", " separators.  Members
 * whose value is the redaction placeholder are left out (the subset match of
 * `expect` then accepts any value there). */
static int put_flow(pws_tape_buf *b, const cJSON *v, int depth)
{
    if (depth > 60)
        return -1;
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        if (pwsr__buf_str(b, obj ? "{" : "["))
            return -1;
        bool first = true;
        const cJSON *m;
        cJSON_ArrayForEach(m, v)
        {
            if (obj && cJSON_IsString(m) && !strcmp(m->valuestring, PWS_TAPE_PLACEHOLDER))
                continue;
            if (!first && pwsr__buf_str(b, ", "))
                return -1;
            first = false;
            if (obj && (pwsr__buf_json_string(b, m->string, strlen(m->string)) || pwsr__buf_str(b, ": ")))
                return -1;
            if (put_flow(b, m, depth + 1))
                return -1;
        }
        return pwsr__buf_str(b, obj ? "}" : "]");
    }
    if (cJSON_IsString(v))
        return pwsr__buf_json_string(b, v->valuestring, strlen(v->valuestring));
    char *t = cJSON_PrintUnformatted(v);
    int rc = t ? pwsr__buf_str(b, t) : -1;
    free(t);
    return rc;
}

static int step_sleep(scn_conn *c, int64_t t_us)
{
    int rc = 0;
    if (c->have_last && t_us - c->last_us >= 1000) {
        rc = pwsr__buf_printf(&c->yaml, "    - sleep: %lldms\n", (long long)((t_us - c->last_us) / 1000));
        c->steps++;
    }
    c->last_us = t_us;
    c->have_last = true;
    return rc;
}

static int comment(scn_conn *c, const char *what, const unsigned char *data, size_t len)
{
    char buf[200];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < sizeof buf; i++)
        buf[o++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.';
    buf[o] = '\0';
    return pwsr__buf_printf(&c->yaml, "    # %s%s%s%s\n", what, len ? ": " : "", buf, len > o ? "..." : "");
}

static int add_frame(scn_conn *c, const pws_tape_frame *f)
{
    pws_tape_buf *y = &c->yaml;
    if (c->ended)
        return f->dir == '-' ? 0 : comment(c, "after the end of the session", f->data, f->len);
    if (f->dir == '-') {
        switch (f->kind) {
        case PWS_TAPE_OPEN:
            c->last_us = f->t_us;
            c->have_last = true;
            return pwsr__buf_printf(y, "    # opened %.*s\n", (int)(f->len < 200 ? f->len : 200), (const char *)f->data);
        case PWS_TAPE_DROP:
        case PWS_TAPE_CLOSED: {
            bool by_client = f->len == 6 && !memcmp(f->data, "client", 6);
            c->ended = true;
            if (f->kind == PWS_TAPE_DROP && !by_client) {
                c->steps += 2;
                return step_sleep(c, f->t_us) || pwsr__buf_str(y, "    - drop\n");
            }
            c->steps++;
            return pwsr__buf_str(y, "    - sleep: 60m   # the client ended the recorded session here\n");
        }
        default:
            return comment(c, f->kind_name, f->data, f->len);
        }
    }
    if (f->dir == 'c') {
        if (f->kind == PWS_TAPE_CLOSE) {
            if (c->skip_client_close) {
                c->skip_client_close = false;
                return 0;
            }
            c->client_closed = true;
            return pwsr__buf_printf(y, "    # the client closed with %d here (the mock answers it)\n", f->code);
        }
        if (f->kind == PWS_TAPE_PING || f->kind == PWS_TAPE_PONG)
            return 0;
        if (f->kind != PWS_TAPE_TEXT)
            return comment(c, "the client sent a binary message (expect takes text only)", NULL, 0);
        cJSON *j = cJSON_ParseWithLength((const char *)f->data, f->len);
        int rc;
        c->steps++;
        if (j) {
            rc = pwsr__buf_str(y, "    - expect: {json: ") || put_flow(y, j, 0) ||
                 pwsr__buf_printf(y, ", timeout: %dms}\n", SCN_WAIT_MS);
        } else {
            rc = comment(c, "the client sent", f->data, f->len) ||
                 pwsr__buf_printf(y, "    - expect: {regex: '.*', timeout: %dms}\n", SCN_WAIT_MS);
        }
        cJSON_Delete(j);
        /* the server's next frames answer this message: time from here */
        c->last_us = f->t_us;
        c->have_last = true;
        return rc;
    }
    /* dir 's' */
    if (f->kind == PWS_TAPE_PONG || f->kind == PWS_TAPE_OTHER || (f->kind == PWS_TAPE_CLOSE && c->client_closed))
        return 0;
    if (step_sleep(c, f->t_us))
        return -1;
    c->steps++;
    switch (f->kind) {
    case PWS_TAPE_TEXT:
        return pwsr__buf_str(y, "    - send_raw: ") || put_payload(y, f->data, f->len) || pwsr__buf_str(y, "\n");
    case PWS_TAPE_BINARY:
        return pwsr__buf_str(y, "    - send_binary: {base64: ") || pwsr__buf_base64(y, f->data, f->len, true) ||
               pwsr__buf_str(y, "}\n");
    case PWS_TAPE_PING:
        if (!f->len)
            return pwsr__buf_str(y, "    - ping\n");
        return pwsr__buf_str(y, "    - ping: ") || put_payload(y, f->data, f->len) || pwsr__buf_str(y, "\n");
    case PWS_TAPE_CLOSE:
        c->ended = true;
        c->skip_client_close = true;
        if (!f->code)
            return pwsr__buf_str(y, "    - close: {code: none}\n");
        return pwsr__buf_printf(y, "    - close: {code: %d, reason: ", f->code) ||
               put_payload(y, (const unsigned char *)f->reason, strlen(f->reason)) || pwsr__buf_str(y, "}\n");
    default:
        return 0;
    }
}

/* Base name without directories and extension, for `name:`. */
static void base_name(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strcspn(b, ".");
    if (!n)
        n = strlen(b);
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap && o < 100; i++)
        out[o++] = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9') ||
                           b[i] == '-' || b[i] == '_'
                       ? b[i]
                       : '_';
    out[o] = '\0';
    if (!o)
        snprintf(out, cap, "tape");
}

int pws_tape_to_scenario(const char *path, FILE *file, char *errbuf, size_t errcap)
{
    return pws_tape_to_scenario_opts(path, file, NULL, errbuf, errcap);
}

int pws_tape_to_scenario_opts(const char *path, FILE *file, const pws_tape_tool_options *o, char *errbuf,
                              size_t errcap)
{
    pws_tape_reader *r;
    int rc = pws_tape_reader_open(path, &r, errbuf, errcap);
    if (rc)
        return rc;
    pwsr__progress pr;
    pwsr__progress_start(&pr, o, "reading", 0, pws_tape_reader_size(r));
    const pws_tape_header *h = pws_tape_reader_header(r);
    scn_conn *conns = NULL;
    size_t nconns = 0, extra_conns = 0;
    char subscribe[8192] = "";
    uint64_t server_frames = 0;
    pws_tape_frame f;
    while ((rc = pws_tape_next(r, &f)) == 1) {
        pwsr__progress_line(&pr, r);
        scn_conn *c = NULL;
        for (size_t i = 0; i < nconns && !c; i++)
            if (conns[i].conn == f.conn)
                c = &conns[i];
        if (!c) {
            if (nconns >= SCN_MAX_CONNS) {
                extra_conns++;
                continue;
            }
            scn_conn *nc = realloc(conns, (nconns + 1) * sizeof *nc);
            if (!nc) {
                rc = PWS_ERR_NOMEM;
                break;
            }
            conns = nc;
            c = &conns[nconns++];
            memset(c, 0, sizeof *c);
            c->conn = f.conn;
        }
        if (f.dir == 's' && (f.kind == PWS_TAPE_TEXT || f.kind == PWS_TAPE_BINARY))
            server_frames++;
        if (!subscribe[0] && f.dir == 'c' && f.kind == PWS_TAPE_TEXT && memmem(f.data, f.len, "subscribe", 9)) {
            cJSON *j = cJSON_ParseWithLength((const char *)f.data, f.len);
            const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "action"));
            const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "params"));
            if (a && p && !strcmp(a, "subscribe") && strlen(p) < sizeof subscribe && !strchr(p, '"') &&
                !strchr(p, '\\'))
                snprintf(subscribe, sizeof subscribe, "%s", p);
            cJSON_Delete(j);
        }
        if (add_frame(c, &f)) {
            rc = PWS_ERR_NOMEM;
            break;
        }
    }
    if (rc < 0) {
        snprintf(errbuf, errcap, "%s: %s", path, rc == PWS_ERR_NOMEM ? "out of memory" : pws_tape_reader_error(r));
    } else if (!nconns) {
        rc = PWS_ERR_INVALID;
        snprintf(errbuf, errcap, "%s holds no connection", path);
    } else {
        rc = PWS_OK;
        pwsr__progress_read_done(&pr, r);
        char name[128], start[40] = "an unknown time";
        base_name(path, name, sizeof name);
        if (h)
            pwsr__iso_time(h->start_us, start, sizeof start);
        const char *url = h && h->url[0] ? h->url : "an unknown URL";
        size_t steps = 0;
        for (size_t i = 0; i < nconns; i++)
            steps += conns[i].steps;
        fprintf(file, "# Generated by polyws %s from %s (polyws tape to-scenario): edit freely.\n", PWS_VERSION_STRING,
                path);
        fprintf(file, "# Server frames are sent as recorded, client messages are waited for with expect,\n"
                      "# gaps of 1 ms or more are sleeps.  Validate with: polyws mock --validate FILE\n");
        if (steps > SCN_STEP_LIMIT)
            fprintf(file, "# NOTE: %zu steps: the loader accepts %u; cut the tape or merge steps.\n", steps,
                    SCN_STEP_LIMIT);
        if (extra_conns)
            fprintf(file, "# NOTE: the tape has more than %u connections; only the first %u are scripted.\n",
                    SCN_MAX_CONNS, SCN_MAX_CONNS);
        fprintf(file, "name: %s\n", name);
        fprintf(file, "description: Plays the session recorded from %.120s at %s (%zu connection%s, %llu server frames).\n",
                url, start, nconns, nconns == 1 ? "" : "s", (unsigned long long)server_frames);
        if (h && !strncmp(h->url, "wss://", 6))
            fprintf(file, "server:\n  tls: true\n");
        if (subscribe[0])
            fprintf(file, "client:\n  subscribe: \"%s\"\n", subscribe);
        fprintf(file, "connections:\n");
        for (size_t i = 0; i < nconns; i++) {
            fprintf(file, "  %u:\n", conns[i].conn);
            if (!conns[i].yaml.len)
                fprintf(file, "    []\n");
            else
                fwrite(conns[i].yaml.p, 1, conns[i].yaml.len, file);
        }
        if (ferror(file)) {
            rc = PWS_ERR_SYSTEM;
            snprintf(errbuf, errcap, "cannot write the scenario");
        }
    }
    for (size_t i = 0; i < nconns; i++)
        pws_tape_buf_free(&conns[i].yaml);
    free(conns);
    pws_tape_reader_close(r);
    return rc;
}
