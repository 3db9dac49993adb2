/*
 * engine_script.c - the server's own checked copy of a scenario's scripts.
 *
 * pwsm_start() copies what it needs from its options, so a caller may free
 * its scenario once the server runs.  The copy is also where a hand-built
 * scenario is checked: the server never trusts the loader to have done it.
 */
#include "engine.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <polyws/mock.h>

static const char *const step_names[] = {
    [PWSS_STEP_GREET] = "GREET",         [PWSS_STEP_AUTH] = "AUTH",
    [PWSS_STEP_CONFIRM] = "CONFIRM",     [PWSS_STEP_HANDSHAKE] = "HANDSHAKE",
    [PWSS_STEP_SEND_TEXT] = "SEND_TEXT", [PWSS_STEP_SEND_BINARY] = "SEND_BINARY",
    [PWSS_STEP_STREAM] = "STREAM",       [PWSS_STEP_SLEEP] = "SLEEP",
    [PWSS_STEP_EXPECT] = "EXPECT",       [PWSS_STEP_CLOSE] = "CLOSE",
    [PWSS_STEP_DROP] = "DROP",           [PWSS_STEP_STALL] = "STALL",
    [PWSS_STEP_PING] = "PING",           [PWSS_STEP_PONG] = "PONG",
    [PWSS_STEP_RAW] = "RAW",             [PWSS_STEP_SERVE] = "SERVE",
    [PWSS_STEP_REPEAT] = "REPEAT",
};
#define NKINDS (sizeof step_names / sizeof step_names[0])

const char *pwsm__step_name(pwss_step_kind kind)
{
    return (unsigned)kind < NKINDS ? step_names[kind] : "?";
}

/* ---------------------------------------------------------------- checks */

typedef struct checker {
    char *err;               /* message buffer */
    size_t errcap;
    const char *script;      /* "default" or "connection N", for messages */
    size_t steps;            /* steps seen so far, against PWSS_MAX_STEPS */
} checker;

static int bad(checker *k, const pwss_step *s, const char *msg)
{
    snprintf(k->err, k->errcap, "scenario: %s script, step at %d:%d (%s): %s", k->script, s->line, s->column,
             pwsm__step_name(s->kind), msg);
    return -1;
}

static bool stream_type_known(const char *t)
{
    return strcmp(t, "A") == 0 || strcmp(t, "AM") == 0 || strcmp(t, "T") == 0 || strcmp(t, "Q") == 0;
}

static int check_expect(checker *k, const pwss_step *s)
{
    if (s->regex) {
        regex_t re;
        int rc = regcomp(&re, s->data, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128], msg[192];
            regerror(rc, &re, why, sizeof why);
            snprintf(msg, sizeof msg, "invalid regex: %s", why);
            return bad(k, s, msg);
        }
        regfree(&re);
        return 0;
    }
    cJSON *p = cJSON_ParseWithLength(s->data, s->len);
    if (!p)
        return bad(k, s, "the pattern is not valid JSON");
    cJSON_Delete(p);
    return 0;
}

static int check_steps(checker *k, const pwss_step *steps, size_t n, unsigned depth)
{
    if (n && !steps) {
        snprintf(k->err, k->errcap, "scenario: %s script: steps missing", k->script);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const pwss_step *s = &steps[i];
        if (++k->steps > PWSS_MAX_STEPS) {
            snprintf(k->err, k->errcap, "scenario: more than %u steps", PWSS_MAX_STEPS);
            return -1;
        }
        if ((unsigned)s->kind >= NKINDS) {
            snprintf(k->err, k->errcap, "scenario: %s script, step at %d:%d: unknown kind %d", k->script,
                     s->line, s->column, (int)s->kind);
            return -1;
        }
        if (s->len && !s->data)
            return bad(k, s, "len without data");
        switch (s->kind) {
        case PWSS_STEP_PING:
        case PWSS_STEP_PONG:
            if (s->len > 125)
                return bad(k, s, "a control frame payload is at most 125 bytes (use a raw frame for more)");
            break;
        case PWSS_STEP_CLOSE:
            if (s->code < 0 || s->code > 65535)
                return bad(k, s, "close code out of 0..65535");
            if (s->reason && strlen(s->reason) > 123)
                return bad(k, s, "close reason over 123 bytes (use a raw frame for more)");
            break;
        case PWSS_STEP_EXPECT:
            if (!s->data)
                return bad(k, s, "no pattern");
            if (check_expect(k, s) != 0)
                return -1;
            break;
        case PWSS_STEP_STREAM: {
            const pwss_stream *st = &s->stream;
            if (st->count == 0)
                return bad(k, s, "count must be > 0");
            if (isnan(st->rate))
                return bad(k, s, "rate is NaN");
            if (st->batch > PWSM_MAX_BATCH)
                return bad(k, s, "batch over PWSM_MAX_BATCH");
            if (st->ntypes > sizeof st->types / sizeof st->types[0])
                return bad(k, s, "too many types");
            for (uint32_t t = 0; t < st->ntypes; t++)
                if (!memchr(st->types[t], '\0', sizeof st->types[t]) || !stream_type_known(st->types[t]))
                    return bad(k, s, "types must be among A, AM, T, Q");
            if (st->nsymbols && !st->symbols)
                return bad(k, s, "nsymbols without symbols");
            for (uint32_t y = 0; y < st->nsymbols; y++)
                if (!st->symbols[y])
                    return bad(k, s, "NULL symbol");
            break;
        }
        case PWSS_STEP_REPEAT:
            if (s->times > PWSS_MAX_REPEAT)
                return bad(k, s, "times over PWSS_MAX_REPEAT");
            if (depth + 1 > PWSS_MAX_DEPTH)
                return bad(k, s, "repeat blocks nested deeper than PWSS_MAX_DEPTH");
            if (check_steps(k, s->body, s->nbody, depth + 1) != 0)
                return -1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- copy and free */

static void free_steps(pwss_step *steps, size_t n)
{
    if (!steps)
        return;
    for (size_t i = 0; i < n; i++) {
        pwss_step *s = &steps[i];
        free(s->data);
        free(s->reason);
        if (s->stream.symbols) {
            for (uint32_t y = 0; y < s->stream.nsymbols; y++)
                free(s->stream.symbols[y]);
            free(s->stream.symbols);
        }
        free_steps(s->body, s->nbody);
    }
    free(steps);
}

/* Copies n checked steps; NULL on OOM (nothing left allocated). */
static pwss_step *copy_steps(const pwss_step *src, size_t n)
{
    if (!n)
        return NULL;
    pwss_step *dst = calloc(n, sizeof *dst);
    if (!dst)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const pwss_step *s = &src[i];
        pwss_step *d = &dst[i];
        *d = *s;
        d->data = NULL;
        d->reason = NULL;
        d->stream.symbols = NULL;
        d->stream.nsymbols = 0;
        d->body = NULL;
        d->nbody = 0;
        bool ok = true;
        if (s->data) {
            d->data = malloc(s->len + 1);
            ok = d->data != NULL;
            if (ok) {
                memcpy(d->data, s->data, s->len);
                d->data[s->len] = '\0';
            }
        }
        if (ok && s->reason)
            ok = (d->reason = strdup(s->reason)) != NULL;
        if (ok && s->stream.nsymbols) {
            d->stream.symbols = calloc(s->stream.nsymbols, sizeof *d->stream.symbols);
            ok = d->stream.symbols != NULL;
            for (uint32_t y = 0; ok && y < s->stream.nsymbols; y++) {
                ok = (d->stream.symbols[y] = strdup(s->stream.symbols[y])) != NULL;
                d->stream.nsymbols = y + 1;
            }
        }
        if (ok && s->nbody) {
            d->body = copy_steps(s->body, s->nbody);
            ok = d->body != NULL;
            if (ok)
                d->nbody = s->nbody;
        }
        if (!ok) {
            free_steps(dst, i + 1);
            return NULL;
        }
    }
    return dst;
}

static int copy_script(pwss_conn_script *dst, const pwss_conn_script *src)
{
    dst->ordinal = src->ordinal;
    dst->nsteps = 0;
    dst->steps = copy_steps(src->steps, src->nsteps);
    if (src->nsteps && !dst->steps)
        return -1;
    dst->nsteps = src->nsteps;
    return 0;
}

void pwsm__scripts_free(pwss_scenario *dst)
{
    for (size_t i = 0; i < dst->nscripts; i++)
        free_steps(dst->scripts[i].steps, dst->scripts[i].nsteps);
    free(dst->scripts);
    free_steps(dst->default_script.steps, dst->default_script.nsteps);
    memset(dst, 0, sizeof *dst);
}

int pwsm__scripts_copy(pwss_scenario *dst, const pwss_scenario *src, char *err, size_t errcap)
{
    memset(dst, 0, sizeof *dst);
    checker k = {err, errcap, "default", 0};
    if (src->nscripts > PWSS_MAX_CONN_SCRIPTS) {
        snprintf(err, errcap, "scenario: more than %u connection scripts", PWSS_MAX_CONN_SCRIPTS);
        return -1;
    }
    if (src->nscripts && !src->scripts) {
        snprintf(err, errcap, "scenario: nscripts without scripts");
        return -1;
    }
    if (src->has_default &&
        check_steps(&k, src->default_script.steps, src->default_script.nsteps, 0) != 0)
        return -1;
    for (size_t i = 0; i < src->nscripts; i++) {
        char name[32];
        snprintf(name, sizeof name, "connection %u", src->scripts[i].ordinal);
        k.script = name;
        if (src->scripts[i].ordinal == 0) {
            snprintf(err, errcap, "scenario: a connection script has ordinal 0 (ordinals are 1-based)");
            return -1;
        }
        if (i && src->scripts[i].ordinal <= src->scripts[i - 1].ordinal) {
            snprintf(err, errcap, "scenario: connection scripts must be sorted by ordinal, without duplicates");
            return -1;
        }
        if (check_steps(&k, src->scripts[i].steps, src->scripts[i].nsteps, 0) != 0)
            return -1;
    }
    if (src->nscripts) {
        dst->scripts = calloc(src->nscripts, sizeof *dst->scripts);
        if (!dst->scripts)
            goto oom;
    }
    for (size_t i = 0; i < src->nscripts; i++) {
        if (copy_script(&dst->scripts[i], &src->scripts[i]) != 0)
            goto oom;
        dst->nscripts = i + 1;
    }
    if (src->has_default) {
        if (copy_script(&dst->default_script, &src->default_script) != 0)
            goto oom;
        dst->has_default = true;
    }
    return 0;
oom:
    pwsm__scripts_free(dst);
    snprintf(err, errcap, "out of memory");
    return -1;
}
