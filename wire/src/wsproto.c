/*
 * wsproto.c - HTTP upgrade heads and WebSocket frames (RFC 6455), pure (wire/wsproto.h).
 */
#include "wire/wsproto.h"

#include "wire/clock.h"
#include "wire/codec.h" /* pws__utf8_prefix */

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

size_t pws__http_head_len(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        s[--l] = '\0';
    return s;
}

int pws__http_parse(const char *buf, size_t headlen, bool request, pws__http_head *h, char *err, size_t cap)
{
    memset(h, 0, offsetof(pws__http_head, names));
    h->nheaders = 0;
    if (headlen > PWS__MAX_HEAD) {
        snprintf(err, cap, "HTTP head over %u bytes", PWS__MAX_HEAD);
        return -1;
    }
    memcpy(h->buf, buf, headlen);
    h->buf[headlen] = '\0';
    char *save = NULL;
    char *line = strtok_r(h->buf, "\r\n", &save);
    if (!line) {
        snprintf(err, cap, "empty HTTP head");
        return -1;
    }
    if (request) {
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
            snprintf(err, cap, "not an HTTP/1.1 request line: %.60s", line);
            return -1;
        }
        *sp1 = *sp2 = '\0';
        h->method = line;
        h->target = sp1 + 1;
    } else {
        /* "HTTP/1.x" SP 3DIGIT [SP reason]: the status is three digits (atoi took "1011",
         * "-5" or an overflowing number, which the proxy then passed on to its client) */
        if (strncmp(line, "HTTP/1.", 7) || strlen(line) < 12 || line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
            !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) || (line[12] && line[12] != ' ')) {
            snprintf(err, cap, "not an HTTP/1.1 status line: %.60s", line);
            return -1;
        }
        h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        h->reason = line[12] ? line + 13 : "";
    }
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon) {
            snprintf(err, cap, "malformed header line: %.60s", line);
            return -1;
        }
        if (h->nheaders >= PWS__MAX_HEADERS) {
            snprintf(err, cap, "more than %u header lines", PWS__MAX_HEADERS);
            return -1;
        }
        *colon = '\0';
        h->names[h->nheaders] = trim(line);
        h->values[h->nheaders] = trim(colon + 1);
        h->nheaders++;
    }
    return 0;
}

const char *pws__http_get(const pws__http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (ieq(h->names[i], name))
            return h->values[i];
    return NULL;
}

bool pws__http_has_token(const char *value, const char *token)
{
    if (!value)
        return false;
    size_t tl = strlen(token);
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t l = (size_t)(e - p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
            l--;
        if (l == tl && !strncasecmp(p, token, tl))
            return true;
        p = e;
    }
    return false;
}

void pws__ws_accept(const char *key, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.180s%s", key, guid);
    SHA1((const unsigned char *)buf, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

void pws__ws_new_key(char out[32])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        int64_t t = pws__mono_us();
        memcpy(raw, &t, sizeof t);
        memcpy(raw + 8, &t, sizeof t);
    }
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
}

int pws__ws_frame(pws__buf *out, int opcode, bool fin, const unsigned char *mask, const void *payload,
                   size_t len)
{
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0F));
    unsigned char m = mask ? 0x80 : 0;
    if (len < 126) {
        h[1] = (unsigned char)(m | len);
    } else if (len <= 0xFFFF) {
        h[1] = m | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = m | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    if (mask) {
        memcpy(h + hl, mask, 4);
        hl += 4;
    }
    size_t at = out->len;
    if (pws__buf_put(out, h, hl) || pws__buf_put(out, payload, len))
        return -1;
    if (mask) {
        unsigned char *p = (unsigned char *)out->p + at + hl;
        for (size_t i = 0; i < len; i++)
            p[i] ^= mask[i & 3];
    }
    return 0;
}

int pws__ws_close_frame(pws__buf *out, int code, const char *reason, const unsigned char *mask)
{
    unsigned char p[2 + PWS__WS_MAX_CLOSE_REASON];
    size_t n = 0;
    if (code) {
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        size_t rl = reason ? pws__utf8_prefix(reason, strlen(reason), PWS__WS_MAX_CLOSE_REASON) : 0;
        if (rl)
            memcpy(p + 2, reason, rl);
        n = 2 + rl;
    }
    return pws__ws_frame(out, PWS__OP_CLOSE, true, mask, p, n);
}

void pws__ws_reader_init(pws__wsreader *r, bool want_masked, size_t max_message)
{
    memset(r, 0, sizeof *r);
    r->want_masked = want_masked;
    r->max_message = max_message && max_message < PWS__WS_MAX_MESSAGE ? max_message : PWS__WS_MAX_MESSAGE;
}

void pws__ws_reader_free(pws__wsreader *r)
{
    pws__buf_free(&r->msg);
}

static int die(pws__wsreader *r, char *err, size_t cap, const char *why)
{
    r->dead = true;
    snprintf(err, cap, "%s (frame at byte %llu of the stream)", why, (unsigned long long)r->frame_at);
    return -1;
}

/* Header complete: validate it and set up the payload. */
static int begin_payload(pws__wsreader *r, char *err, size_t cap)
{
    unsigned char b0 = r->hdr[0], b1 = r->hdr[1];
    if (r->reject_rsv && (b0 & 0x70))
        return die(r, err, cap, "reserved bits (RSV1-3) set with no extension negotiated");
    r->fin = b0 & 0x80;
    r->opcode = b0 & 0x0F;
    r->masked = b1 & 0x80;
    uint64_t len = b1 & 0x7F;
    size_t at = 2;
    if (len == 126) {
        len = (uint64_t)r->hdr[2] << 8 | r->hdr[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | r->hdr[2 + i];
        at = 10;
        if (len >> 63)
            return die(r, err, cap, "frame length with the top bit set");
    }
    if (r->masked)
        memcpy(r->mask, r->hdr + at, 4);
    if (r->masked != r->want_masked)
        return die(r, err, cap, r->want_masked ? "client frame not masked" : "server frame masked");
    bool control = r->opcode & 0x08;
    if (control) {
        if (r->opcode > PWS__OP_PONG)
            return die(r, err, cap, "reserved control opcode");
        if (!r->fin)
            return die(r, err, cap, "fragmented control frame");
        if (len > 125)
            return die(r, err, cap, "control frame over 125 bytes");
        r->ctl_len = 0;
    } else if (r->opcode == PWS__OP_CONT) {
        if (!r->in_msg)
            return die(r, err, cap, "continuation frame without a message");
    } else if (r->opcode == PWS__OP_TEXT || r->opcode == PWS__OP_BINARY) {
        if (r->in_msg)
            return die(r, err, cap, "new message inside a fragmented one");
        r->in_msg = true;
        r->msg_opcode = r->opcode;
        r->msg_total = 0;
        r->msg_too_big = false;
        r->msg.len = 0;
    } else {
        return die(r, err, cap, "reserved data opcode");
    }
    r->remaining = len;
    r->pos = 0;
    r->in_payload = true;
    return 0;
}

static void end_frame(pws__wsreader *r, pws__ws_msg_fn fn, void *user)
{
    r->in_payload = false;
    r->hdr_have = 0;
    if (r->opcode & 0x08) {
        fn(user, r->opcode, r->ctl, r->ctl_len, false, r->ctl_len);
        return;
    }
    if (!r->fin)
        return;
    r->in_msg = false;
    if (r->msg_too_big)
        fn(user, r->msg_opcode, (const unsigned char *)"", 0, true, r->msg_total);
    else
        fn(user, r->msg_opcode, r->msg.len ? (const unsigned char *)r->msg.p : (const unsigned char *)"",
           r->msg.len, false, r->msg_total);
    if (r->msg.cap > (1u << 20) && !r->pause) /* give back memory after a large message */
        pws__buf_free(&r->msg);
    r->msg.len = 0;
}

/* The frame loop behind pws__ws_feed_some; *ip is the bytes consumed. */
static int feed(pws__wsreader *r, const unsigned char *in, size_t len, pws__ws_msg_fn fn, void *user, size_t *ip,
                char *err, size_t errcap)
{
    size_t i = 0;
    int rc = 0;
    while (i < len || (r->in_payload && r->remaining == 0)) {
        if (!r->in_payload) {
            if (r->hdr_have == 0)
                r->frame_at = r->offset + i;
            /* collect the header: 2 bytes, then the extended length and mask */
            while (r->hdr_have < 2 && i < len)
                r->hdr[r->hdr_have++] = in[i++];
            if (r->hdr_have < 2)
                break;
            size_t need = 2 + ((r->hdr[1] & 0x7F) == 126 ? 2 : (r->hdr[1] & 0x7F) == 127 ? 8 : 0) +
                          ((r->hdr[1] & 0x80) ? 4 : 0);
            while (r->hdr_have < need && i < len)
                r->hdr[r->hdr_have++] = in[i++];
            if (r->hdr_have < need)
                break;
            if (begin_payload(r, err, errcap)) {
                rc = -1;
                break;
            }
            if (r->remaining == 0) {
                end_frame(r, fn, user);
                if (r->pause)
                    break;
                continue;
            }
        }
        size_t take = len - i;
        if (take > r->remaining)
            take = (size_t)r->remaining;
        const unsigned char *src = in + i;
        unsigned char *dst = NULL;
        if (r->opcode & 0x08) {
            dst = r->ctl + r->ctl_len;
            r->ctl_len += take;
        } else {
            r->msg_total += take;
            if (!r->msg_too_big && r->msg.len + take > r->max_message) {
                r->msg_too_big = true;
                pws__buf_free(&r->msg);
            }
            if (!r->msg_too_big) {
                if (pws__buf_reserve(&r->msg, take)) {
                    r->msg_too_big = true;
                    pws__buf_free(&r->msg);
                } else {
                    dst = (unsigned char *)r->msg.p + r->msg.len;
                    r->msg.len += take;
                    r->msg.p[r->msg.len] = '\0';
                }
            }
        }
        if (dst) {
            if (r->masked)
                for (size_t k = 0; k < take; k++)
                    dst[k] = src[k] ^ r->mask[(r->pos + k) & 3];
            else
                memcpy(dst, src, take);
        }
        r->pos += take;
        r->remaining -= take;
        i += take;
        if (r->remaining == 0) {
            end_frame(r, fn, user);
            if (r->pause)
                break;
        }
    }
    *ip = i;
    return rc;
}

int pws__ws_feed(pws__wsreader *r, const unsigned char *in, size_t len, pws__ws_msg_fn fn, void *user, char *err,
                  size_t errcap)
{
    return pws__ws_feed_some(r, in, len, fn, user, NULL, err, errcap);
}

int pws__ws_feed_some(pws__wsreader *r, const unsigned char *in, size_t len, pws__ws_msg_fn fn, void *user,
                      size_t *used, char *err, size_t errcap)
{
    size_t i = 0;
    if (used)
        *used = 0;
    if (r->dead) {
        snprintf(err, errcap, "the stream is unusable after an earlier protocol error");
        return -1;
    }
    int rc = feed(r, in, len, fn, user, &i, err, errcap);
    r->offset += i;
    if (used)
        *used = i;
    return rc;
}

void pws__url_for_error(const char *url, char *out, size_t cap)
{
    const char *scheme_end = strstr(url, "://");
    const char *auth = scheme_end ? scheme_end + 3 : url;
    size_t authority = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', authority);
    size_t head = (size_t)(auth - url);
    const char *rest = at ? at + 1 : auth;
    size_t keep = strcspn(rest, "?#");
    if (keep > 200)
        keep = 200;
    snprintf(out, cap, "%.*s%s%.*s%s", (int)head, url, at ? "***@" : "", (int)keep, rest,
             rest[keep] == '?' || rest[keep] == '#' ? "?***" : "");
}

void pws__url_error(char *err, size_t cap, const char *what, const char *url)
{
    char shown[256];
    pws__url_for_error(url, shown, sizeof shown);
    snprintf(err, cap, "%s: %s", what, shown);
}

int pws__url_parse(const char *url, pws__url *u, char *err, size_t cap)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (!url) {
        snprintf(err, cap, "no URL");
        return -1;
    }
    if (!strncmp(url, "wss://", 6)) {
        u->tls = true;
        u->port = 443;
        p = url + 6;
    } else if (!strncmp(url, "ws://", 5)) {
        u->port = 80;
        p = url + 5;
    } else {
        pws__url_error(err, cap, "URL must start with ws:// or wss://", url);
        return -1;
    }
    const char *hs = p, *he;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(p, ']');
        if (!he) {
            pws__url_error(err, cap, "URL has an unterminated IPv6 address", url);
            return -1;
        }
        p = he + 1;
    } else {
        he = p + strcspn(p, ":/?#");
        p = he;
    }
    size_t hl = (size_t)(he - hs);
    if (!hl || hl >= sizeof u->host) {
        pws__url_error(err, cap, hl ? "URL has a too long host" : "URL has no host", url);
        return -1;
    }
    memcpy(u->host, hs, hl);
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/' && *end != '?')) {
            pws__url_error(err, cap, "URL has an invalid port", url);
            return -1;
        }
        u->port = (int)port;
        p = end;
    }
    size_t hpl = (size_t)(p - (url + (u->tls ? 6 : 5)));
    if (hpl >= sizeof u->hostport) {
        snprintf(err, cap, "URL host too long");
        return -1;
    }
    memcpy(u->hostport, url + (u->tls ? 6 : 5), hpl);
    if (*p == '#')
        p = "";
    if (strlen(p) + 2 > sizeof u->path) {
        snprintf(err, cap, "URL path too long");
        return -1;
    }
    snprintf(u->path, sizeof u->path, "%s%s", *p == '/' ? "" : "/", p);
    char *hash = strchr(u->path, '#');
    if (hash)
        *hash = '\0';
    return 0;
}
