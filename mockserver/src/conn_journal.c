/*
 * conn_journal.c - the journal entries of one connection (see conn_internal.h).
 *
 * Every frame in both directions and every connection event goes to the
 * server's journal under the connection's ordinal.  What the server sends is
 * scrubbed of secrets (a channel named after a key is echoed in confirmations);
 * what the client sends is redacted (auth messages, keys), and its pings, pongs
 * and close reasons are scrubbed too (a client may put anything there).  The bottom of the
 * connection layer: it calls only the journal and protocol.c.
 */
#include "conn_internal.h"

#include "wire/json.h"

#include <stdlib.h>
#include <string.h>

void pwsm__record(conn *c, char dir, const char *kind, const void *data, size_t len)
{
    pwsm__journal_add(&c->srv->journal, c->ordinal, dir, kind, data, len, 0, NULL);
}

void pwsm__record_scrubbed(conn *c, char dir, const char *kind, const void *data, size_t len)
{
    pwsm_server *s = c->srv;
    if (!pwsm__journal_wants(&s->journal))
        return; /* a standalone mock's journal is full after its first lines: no scrub for nothing */
    char *clean = NULL;
    size_t clen = 0;
    int rc = pwsm__scrub(data, len, &s->secrets, &clean, &clen);
    if (rc == 0)
        pwsm__record(c, dir, kind, data, len);
    else if (rc > 0)
        pwsm__record(c, dir, kind, clean, clen);
    else
        pwsm__record(c, dir, kind, "*** (out of memory while redacting)", 35);
    free(clean);
}

/* Records a frame the server sends, scrubbed of secrets: a channel named after a key is
 * echoed in confirmations and even streamed as a symbol. */
void pwsm__record_sent(conn *c, const char *kind, const void *data, size_t len)
{
    pwsm__record_scrubbed(c, 's', kind, data, len);
}

void pwsm__record_close(conn *c, char dir, int code, const char *reason)
{
    pwsm_server *s = c->srv;
    char *clean = NULL;
    size_t clen = 0;
    int rc = pwsm__scrub(reason, strlen(reason), &s->secrets, &clean, &clen);
    pwsm__journal_add(&s->journal, c->ordinal, dir, "close", NULL, 0, code,
                      rc == 0 ? reason : rc > 0 ? clean : "*** (out of memory while redacting)");
    free(clean);
}

void pwsm__record_str(conn *c, char dir, const char *kind, const char *text)
{
    pwsm__record(c, dir, kind, text, strlen(text));
}

/* s scrubbed of the server's secrets (a malloc'd copy), "***" without memory. */
static char *scrubbed_copy(conn *c, const char *s)
{
    char *clean = NULL;
    size_t clen = 0;
    int rc = pwsm__scrub(s, strlen(s), &c->srv->secrets, &clean, &clen);
    return rc > 0 ? clean : rc == 0 ? strdup(s) : strdup("***");
}

void pwsm__record_open(conn *c, const char *path, const char *const *names, const char *const *values, size_t n)
{
    pws__buf hj = {0};
    bool ok = pws__buf_str(&hj, "[") == 0;
    size_t kept = 0;
    for (size_t i = 0; i < n && i < PWSM__OPEN_HEADERS && ok; i++) {
        if (!values[i])
            continue;
        char *v = scrubbed_copy(c, values[i]);
        ok = v && (kept == 0 || pws__buf_str(&hj, ",") == 0) && pws__buf_str(&hj, "[") == 0 &&
             pws__json_quote(pws__buf_put_cb, &hj, names[i], strlen(names[i])) == 0 &&
             pws__buf_str(&hj, ",") == 0 && pws__json_quote(pws__buf_put_cb, &hj, v, strlen(v)) == 0 &&
             pws__buf_str(&hj, "]") == 0;
        free(v);
        kept++;
    }
    ok = ok && pws__buf_str(&hj, "]") == 0;
    char *p = scrubbed_copy(c, path ? path : "");
    pwsm__journal_add_open(&c->srv->journal, c->ordinal, p ? p : "", ok ? hj.p : NULL);
    free(p);
    pws__buf_free(&hj);
}

/* Records a frame written raw as lowercase hex (kind "raw"): the bytes are a whole WebSocket
 * frame, header included, and need not be text of any kind. */
void pwsm__record_raw(conn *c, const unsigned char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc(2 * len + 1);
    if (!hex) {
        pwsm__record_str(c, 's', "raw", "*** (out of memory)");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[data[i] >> 4];
        hex[2 * i + 1] = digits[data[i] & 15];
    }
    hex[2 * len] = '\0';
    pwsm__record(c, 's', "raw", hex, 2 * len);
    free(hex);
}

/* Records a data frame from the client, redacted (see pwsm__redact). */
void pwsm__record_received(conn *c, bool binary, const char *data, size_t len)
{
    pwsm_server *s = c->srv;
    size_t jlen = 0;
    char *redacted = pwsm__redact(data, len, binary, &s->secrets, &jlen);
    if (redacted)
        pwsm__record(c, 'c', binary ? "binary" : "text", redacted, jlen);
    else
        pwsm__record_str(c, 'c', binary ? "binary" : "text", "*** (out of memory while redacting)");
    free(redacted);
}

void pwsm__conn_journal(conn *c, const char *kind, const char *text)
{
    pwsm__record_str(c, '-', kind, text);
}
