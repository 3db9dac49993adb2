/*
 * protocol.c - parse client messages, print status frames, redact secrets, frame headers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "protocol.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

pwsm__msg pwsm__msg_parse(const char *text, size_t len)
{
    pwsm__msg m = {PWSM__ACT_INVALID, NULL};
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return m;
    }
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (cJSON_IsString(action)) {
        const char *a = action->valuestring;
        m.action = strcmp(a, "auth") == 0          ? PWSM__ACT_AUTH
                   : strcmp(a, "subscribe") == 0   ? PWSM__ACT_SUBSCRIBE
                   : strcmp(a, "unsubscribe") == 0 ? PWSM__ACT_UNSUBSCRIBE
                                                   : PWSM__ACT_UNKNOWN;
        if (cJSON_IsString(params)) {
            m.params = strdup(params->valuestring);
            if (!m.params)
                m.action = PWSM__ACT_INVALID;
        }
    }
    cJSON_Delete(root);
    return m;
}

void pwsm__msg_free(pwsm__msg *m)
{
    free(m->params);
    m->params = NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t pwsm__next_channel(const char **cursor, const char **start)
{
    const char *p = *cursor;
    for (;;) {
        while (*p == ',' || is_blank(*p))
            p++;
        if (!*p) {
            *cursor = p;
            return 0;
        }
        const char *b = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > b && is_blank(e[-1]))
            e--;
        if (e > b) {
            *cursor = p;
            *start = b;
            return (size_t)(e - b);
        }
    }
}

const char *const pwsm__market_names[] = {
    [PWSM__MARKET_STOCKS] = "stocks", [PWSM__MARKET_OPTIONS] = "options", [PWSM__MARKET_FOREX] = "forex",
    [PWSM__MARKET_CRYPTO] = "crypto", [PWSM__MARKET_INDICES] = "indices", NULL,
};

/* Every event type some market serves, in the order of the markets' lists below; a plan's
 * types are a bit mask over this list. */
const char *const pwsm__event_types[] = {
    "T", "Q", "A", "AM", "LULD", "NOI", "FMV", "C", "CA", "CAS", "XT", "XQ", "XA", "XAS", "XL2", "V", NULL,
};

int pwsm__market_from_name(const char *name, size_t len)
{
    for (size_t i = 0; pwsm__market_names[i]; i++)
        if (strlen(pwsm__market_names[i]) == len && memcmp(pwsm__market_names[i], name, len) == 0)
            return (int)i;
    return -1;
}

int pwsm__market_from_path(const char *path)
{
    if (!path || path[0] != '/')
        return -1;
    size_t len = strlen(path + 1);
    if (len && path[len] == '/')
        len--; /* one trailing slash */
    return pwsm__market_from_name(path + 1, len);
}

int pwsm__event_type_index(const char *ev, size_t len)
{
    for (size_t i = 0; pwsm__event_types[i]; i++)
        if (strlen(pwsm__event_types[i]) == len && memcmp(pwsm__event_types[i], ev, len) == 0)
            return (int)i;
    return -1;
}

pwsm__chan pwsm__channel_check(pwsm__market m, const char *ch, size_t len)
{
    /* Space separated, each with a trailing space, so " T " finds the type T alone. */
    static const char *const types[] = {
        [PWSM__MARKET_STOCKS] = " T Q A AM LULD NOI FMV ",
        [PWSM__MARKET_OPTIONS] = " T Q A AM FMV ",
        [PWSM__MARKET_FOREX] = " C CA CAS FMV ",
        [PWSM__MARKET_CRYPTO] = " XT XQ XA XAS XL2 FMV ",
        [PWSM__MARKET_INDICES] = " V A AM ",
    };
    const char *dot = memchr(ch, '.', len);
    if (!dot || dot == ch || dot == ch + len - 1)
        return PWSM__CHAN_MALFORMED;
    size_t evlen = (size_t)(dot - ch);
    if ((unsigned)m >= sizeof types / sizeof types[0] || evlen > 8 || memchr(ch, ' ', evlen))
        return PWSM__CHAN_NOT_SERVED; /* a blank would match across two names */
    char word[12];
    word[0] = ' ';
    memcpy(word + 1, ch, evlen);
    word[evlen + 1] = ' ';
    word[evlen + 2] = '\0';
    return strstr(types[m], word) ? PWSM__CHAN_OK : PWSM__CHAN_NOT_SERVED;
}

void pwsm__join_names(const char *const *names, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* One list of a plan: the bits of the names in list (comma-separated), each found by
 * index_of among names; -1 with a message naming `what` on an unknown or no name. */
static int plan_list(const char *list, const char *what, const char *noun, const char *const *names,
                     int (*index_of)(const char *, size_t), uint32_t *bits, char *err, size_t errcap)
{
    const char *cursor = list, *item;
    size_t n;
    *bits = 0;
    while ((n = pwsm__next_channel(&cursor, &item)) > 0) {
        int i = index_of(item, n);
        if (i < 0) {
            char all[160];
            pwsm__join_names(names, all, sizeof all);
            snprintf(err, errcap, "%s: unknown %s '%.*s' (%ss: %s)", what, noun, (int)(n > 64 ? 64 : n), item, noun,
                     all);
            return -1;
        }
        *bits |= 1u << i;
    }
    if (!*bits) {
        snprintf(err, errcap, "%s: an empty list (leave it unset to allow every %s)", what, noun);
        return -1;
    }
    return 0;
}

int pwsm__plan_init(pwsm__plan *p, const char *markets, const char *types, char *err, size_t errcap)
{
    p->markets = p->types = UINT32_MAX;
    if (markets && plan_list(markets, "plan_markets", "market", pwsm__market_names, pwsm__market_from_name,
                             &p->markets, err, errcap))
        return -1;
    if (types && plan_list(types, "plan_types", "event type", pwsm__event_types, pwsm__event_type_index,
                           &p->types, err, errcap))
        return -1;
    return 0;
}

pwsm__chan pwsm__plan_check(const pwsm__plan *p, pwsm__market m, const char *ch, size_t len)
{
    if (!(p->markets & (1u << m)))
        return PWSM__CHAN_NOT_IN_PLAN; /* the whole cluster is outside the plan */
    pwsm__chan kind = pwsm__channel_check(m, ch, len);
    if (kind != PWSM__CHAN_OK || p->types == UINT32_MAX)
        return kind;
    const char *dot = memchr(ch, '.', len);
    int i = pwsm__event_type_index(ch, (size_t)(dot - ch)); /* served, so known and dotted */
    return i >= 0 && (p->types & (1u << i)) ? PWSM__CHAN_OK : PWSM__CHAN_NOT_IN_PLAN;
}

char *pwsm__status_frame(const char *status, const char *message, size_t *len)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *obj = cJSON_CreateObject();
    char *out = NULL;
    if (arr && obj && cJSON_AddItemToArray(arr, obj)) {
        obj = NULL; /* owned by arr now */
        cJSON *item = cJSON_GetArrayItem(arr, 0);
        if (cJSON_AddStringToObject(item, "ev", "status") &&
            cJSON_AddStringToObject(item, "status", status) &&
            cJSON_AddStringToObject(item, "message", message))
            out = cJSON_PrintUnformatted(arr);
    }
    cJSON_Delete(obj);
    cJSON_Delete(arr);
    if (out && len)
        *len = strlen(out);
    return out;
}

char *pwsm__status_frame2(const char *status, const char *prefix, const char *suffix, size_t suffix_len,
                          size_t *len)
{
    size_t plen = strlen(prefix);
    char *msg = malloc(plen + suffix_len + 1);
    if (!msg)
        return NULL;
    memcpy(msg, prefix, plen);
    memcpy(msg + plen, suffix, suffix_len);
    msg[plen + suffix_len] = '\0';
    char *out = pwsm__status_frame(status, msg, len);
    free(msg);
    return out;
}

const char *pwsm__status_text(const char *status)
{
    static const struct {
        const char *status, *text;
    } texts[] = {
        {"connected", "Connected Successfully"},
        {"auth_success", "authenticated"},
        {"auth_failed", "authentication failed"},
        {"auth_timeout", "No authentication request received."},
        {"max_connections", "Maximum number of connections exceeded."},
        /* The following texts are not documented by Polygon: ours. */
        {"auth_required", "authentication required"},
        {"force_disconnect", "Connection closed by the server."},
        {"slow_consumer", "Connection closed: slow consumer."},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i].status, status) == 0)
            return texts[i].text;
    return status;
}

static char *dup_len(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *pwsm__redact(const char *data, size_t len, bool binary, const pws__secrets *secrets, size_t *outlen)
{
    char *out = NULL;
    size_t olen = 0;
    if (!binary) {
        cJSON *root = cJSON_ParseWithLength(data, len);
        if (root) {
            const cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
            if (cJSON_IsObject(root) && cJSON_IsString(action) &&
                strcmp(action->valuestring, "auth") == 0 &&
                cJSON_HasObjectItem(root, "params")) {
                cJSON *stars = cJSON_CreateString("***");
                if (!stars || !cJSON_ReplaceItemInObjectCaseSensitive(root, "params", stars)) {
                    cJSON_Delete(stars);
                    cJSON_Delete(root);
                    return NULL;
                }
                out = cJSON_PrintUnformatted(root);
                if (!out) {
                    cJSON_Delete(root);
                    return NULL;
                }
                olen = strlen(out);
            }
            cJSON_Delete(root);
        } else {
            /* Unparseable: if it may be an auth attempt, its key cannot be found reliably. */
            for (size_t i = 0; i + 4 <= len && !out; i++)
                if (memcmp(data + i, "auth", 4) == 0) {
                    out = dup_len("***", 3);
                    if (!out)
                        return NULL;
                    olen = 3;
                }
        }
    }
    if (!out) {
        out = dup_len(data, len);
        if (!out)
            return NULL;
        olen = len;
    }
    char *clean = NULL;
    size_t clen = 0;
    int rc = pwsm__scrub(out, olen, secrets, &clean, &clen);
    if (rc < 0) {
        free(out);
        return NULL;
    }
    if (rc == 1) {
        free(out);
        out = clean;
        olen = clen;
    }
    *outlen = olen;
    return out;
}

int pwsm__scrub(const char *data, size_t len, const pws__secrets *secrets, char **out, size_t *outlen)
{
    *out = NULL;
    if (!secrets || !secrets->nkeys)
        return 0;
    pws__buf b = {0};
    size_t found = 0;
    if (pws__secrets_scrub_buf(secrets, data, len, &b, &found)) {
        pws__buf_free(&b);
        return -1;
    }
    if (!found) {
        pws__buf_free(&b);
        return 0;
    }
    if (pws__buf_reserve(&b, 1)) { /* the copy is NUL-terminated, as dup_len's */
        pws__buf_free(&b);
        return -1;
    }
    b.p[b.len] = '\0';
    *out = b.p;
    *outlen = b.len;
    return 1;
}

int pwsm__ws_client_frame(const unsigned char *buf, size_t len, size_t max_payload, pwsm__wsframe *f)
{
    if (len < 2)
        return 0;
    int opcode = buf[0] & 0x0f;
    bool known = opcode <= 2 || (opcode >= 8 && opcode <= 10);
    if ((buf[0] & 0x70) || !known || !(buf[1] & 0x80))
        return -1; /* reserved bits, unknown opcode or unmasked: not a client frame */
    uint64_t plen = buf[1] & 0x7f;
    size_t h = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        h = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        h = 10;
    }
    if (plen > max_payload || (opcode >= 8 && (plen > 125 || !(buf[0] & 0x80))))
        return -1;
    if (len < h + 4)
        return 0;
    memcpy(f->mask, buf + h, 4);
    f->opcode = opcode;
    f->fin = (buf[0] & 0x80) != 0;
    f->header = h + 4;
    f->payload = (size_t)plen;
    return len - f->header >= f->payload ? 1 : 0;
}

/* Writes an unmasked text frame header for a payload of len bytes; returns its size. */
size_t pwsm__ws_text_header(unsigned char *p, size_t len)
{
    p[0] = 0x81; /* FIN | text */
    if (len < 126) {
        p[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        p[1] = 126;
        p[2] = (unsigned char)(len >> 8);
        p[3] = (unsigned char)len;
        return 4;
    }
    p[1] = 127;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}
