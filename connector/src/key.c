/*
 * key.c - loading the API key and scrubbing it from text.
 *
 * The key is a secret: error messages name where we looked (the variable or
 * file), never what we found.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *errbuf, size_t errcap, const char *fmt, const char *what, const char *why)
{
    if (errbuf && errcap)
        snprintf(errbuf, errcap, fmt, what, why);
}

/* Trims trailing whitespace (CR, LF, spaces, tabs) in place. */
static size_t rtrim(char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return n;
}

/* A key is printable ASCII without spaces, quotes or backslashes: it is put
 * into a JSON string verbatim, so anything else is refused up front. */
static bool key_chars_ok(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

int pws_load_key(const char *env, const char *file, char *out, size_t cap, char *errbuf,
                 size_t errcap)
{
    if (!out || cap == 0) {
        set_err(errbuf, errcap, "%s%s", "no output buffer", "");
        return PWS_ERR_INVALID;
    }
    out[0] = '\0';
    if (env) {
        const char *v = getenv(env);
        if (!v || !*v) {
            set_err(errbuf, errcap, "API key: environment variable %s is %s", env,
                    v ? "empty" : "not set");
            return PWS_ERR_KEY;
        }
        size_t n = strlen(v);
        if (n >= cap || n > PWS_MAX_KEY_LEN) {
            set_err(errbuf, errcap, "API key: environment variable %s is %s", env,
                    "longer than the 256-byte limit");
            return PWS_ERR_KEY;
        }
        memcpy(out, v, n + 1);
        n = rtrim(out, n);
        if (!n || !key_chars_ok(out, n)) {
            memset(out, 0, cap);
            set_err(errbuf, errcap, "API key: environment variable %s %s", env,
                    "holds characters a key cannot have (spaces, quotes, control bytes)");
            return PWS_ERR_KEY;
        }
        return PWS_OK;
    }
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            set_err(errbuf, errcap, "API key: cannot open %s: %s", file, strerror(errno));
            return PWS_ERR_KEY;
        }
        char line[PWS_MAX_KEY_LEN + 4];
        bool got = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        if (!got) {
            set_err(errbuf, errcap, "API key: %s is %s", file, "empty");
            return PWS_ERR_KEY;
        }
        size_t n = strlen(line);
        bool whole_line = n && line[n - 1] == '\n';
        n = rtrim(line, n);
        if (!whole_line && n > PWS_MAX_KEY_LEN) {
            memset(line, 0, sizeof line);
            set_err(errbuf, errcap, "API key: first line of %s is %s", file,
                    "longer than the 256-byte limit");
            return PWS_ERR_KEY;
        }
        if (!n || n >= cap || !key_chars_ok(line, n)) {
            memset(line, 0, sizeof line);
            set_err(errbuf, errcap, "API key: first line of %s %s", file,
                    n ? "holds characters a key cannot have (spaces, quotes, control bytes)"
                      : "is empty");
            return PWS_ERR_KEY;
        }
        memcpy(out, line, n + 1);
        memset(line, 0, sizeof line);
        return PWS_OK;
    }
    set_err(errbuf, errcap, "API key: %s%s", "no key given (set an environment variable or a key file)", "");
    return PWS_ERR_KEY;
}

/* pws_redact's sink: the first cap - 1 bytes go to buf, all are counted. */
typedef struct capped {
    char *buf;   /* where the bytes go */
    size_t cap;  /* its size */
    size_t len;  /* bytes written so far, also those that did not fit */
} capped;

static int put_capped(void *ctx, const char *s, size_t n)
{
    capped *o = ctx;
    if (o->len + 1 < o->cap) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
    return 0;
}

size_t pws_redact(const char *text, size_t len, const char *secret, char *buf, size_t cap)
{
    pws__secrets set = {0};
    capped o = {buf, cap, 0};
    int rc = pws__secrets_add(&set, secret) < 0 ? -1 : pws__secrets_scrub(&set, text, len, put_capped, &o, NULL);
    pws__secrets_free(&set);
    if (rc) {
        /* no memory to look for the secret: show nothing of the text */
        o.len = 0;
        put_capped(&o, PWS__SECRET_MARK, sizeof PWS__SECRET_MARK - 1);
    }
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}
