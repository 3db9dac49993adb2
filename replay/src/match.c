/*
 * match.c - does a client's message match the one on the tape?
 *
 * JSON values compare structurally (cJSON trees: client messages are small
 * and rare, so the allocation does not matter).  "***" on the tape matches
 * anything because the recorder put it where a secret was; the params of
 * subscribe and unsubscribe compare as sets of channels because a client may
 * list them in any order.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_MAX_CHANNELS 100000u /* channels in one subscribe compared as a set */

static bool whyf(char *why, size_t cap, const char *path, const char *fmt, const char *a, const char *b)
{
    if (why && cap) {
        char m[200];
        snprintf(m, sizeof m, fmt, a ? a : "", b ? b : "");
        snprintf(why, cap, "%s%s%s", path[0] ? path : "", path[0] ? ": " : "", m);
    }
    return false;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits "A.AAPL, T.MSFT" into sorted, trimmed, deduplicated tokens inside buf. */
static size_t channel_set(char *buf, char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (l)
            out[n++] = tok;
    }
    qsort(out, n, sizeof *out, str_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || strcmp(out[u - 1], out[i]))
            out[u++] = out[i];
    return u;
}

static bool channels_equal(const char *want, const char *got, char *why, size_t cap, const char *path)
{
    char *wb = strdup(want), *gb = strdup(got);
    size_t wl = strlen(want) / 2 + 2, gl = strlen(got) / 2 + 2;
    if (wl > MATCH_MAX_CHANNELS)
        wl = MATCH_MAX_CHANNELS;
    if (gl > MATCH_MAX_CHANNELS)
        gl = MATCH_MAX_CHANNELS;
    char **wv = malloc(wl * sizeof *wv), **gv = malloc(gl * sizeof *gv);
    bool ok = false;
    if (!wb || !gb || !wv || !gv) {
        ok = strcmp(want, got) == 0;
        if (!ok)
            whyf(why, cap, path, "expected \"%.80s\", got \"%.80s\"", want, got);
        goto out;
    }
    size_t nw = channel_set(wb, wv, wl), ng = channel_set(gb, gv, gl);
    size_t i = 0, j = 0, diffs = 0;
    char list[400] = "";
    while (i < nw || j < ng) {
        int c = i >= nw ? 1 : j >= ng ? -1 : strcmp(wv[i], gv[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        size_t l = strlen(list);
        if (diffs < 4)
            snprintf(list + l, sizeof list - l, "%s%s%.64s%s", diffs ? ", " : "", c < 0 ? "channel " : "unexpected channel ",
                     c < 0 ? wv[i] : gv[j], c < 0 ? " missing" : "");
        else if (diffs == 4)
            snprintf(list + l, sizeof list - l, ", ...");
        diffs++;
        if (c < 0)
            i++;
        else
            j++;
    }
    if (diffs) {
        whyf(why, cap, path, "%s", list, NULL);
        goto out;
    }
    ok = true;
out:
    free(wb);
    free(gb);
    free(wv);
    free(gv);
    return ok;
}

static bool value_equal(const cJSON *w, const cJSON *g, char *why, size_t cap, char *path, size_t pcap);

static bool object_equal(const cJSON *w, const cJSON *g, char *why, size_t cap, char *path, size_t pcap)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(w, "action");
    bool sets = cJSON_IsString(act) &&
                (!strcmp(act->valuestring, "subscribe") || !strcmp(act->valuestring, "unsubscribe"));
    size_t plen = strlen(path);
    const cJSON *m;
    cJSON_ArrayForEach(m, w)
    {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(g, m->string);
        snprintf(path + plen, pcap - plen, "%s%.40s", plen ? "." : "", m->string);
        if (!o) {
            if (!(cJSON_IsString(m) && !strcmp(m->valuestring, PWS_TAPE_PLACEHOLDER)))
                return whyf(why, cap, path, "member missing", NULL, NULL);
            continue;
        }
        bool ok = sets && !strcmp(m->string, "params") && cJSON_IsString(m) && cJSON_IsString(o)
                      ? channels_equal(m->valuestring, o->valuestring, why, cap, path)
                      : value_equal(m, o, why, cap, path, pcap);
        if (!ok)
            return false;
        path[plen] = '\0';
    }
    cJSON_ArrayForEach(m, g)
    {
        if (!cJSON_GetObjectItemCaseSensitive(w, m->string)) {
            snprintf(path + plen, pcap - plen, "%s%.40s", plen ? "." : "", m->string);
            return whyf(why, cap, path, "unexpected member", NULL, NULL);
        }
    }
    return true;
}

static bool value_equal(const cJSON *w, const cJSON *g, char *why, size_t cap, char *path, size_t pcap)
{
    if (cJSON_IsString(w) && !strcmp(w->valuestring, PWS_TAPE_PLACEHOLDER))
        return true;
    if ((w->type & 0xFF) != (g->type & 0xFF) && !(cJSON_IsBool(w) && cJSON_IsBool(g)))
        return whyf(why, cap, path, "expected %s, got %s", type_name(w), type_name(g));
    if (cJSON_IsBool(w) && cJSON_IsTrue(w) != cJSON_IsTrue(g))
        return whyf(why, cap, path, "expected %s, got %s", cJSON_IsTrue(w) ? "true" : "false",
                    cJSON_IsTrue(g) ? "true" : "false");
    if (cJSON_IsNumber(w) && w->valuedouble != g->valuedouble) {
        char a[40], b[40];
        snprintf(a, sizeof a, "%.17g", w->valuedouble);
        snprintf(b, sizeof b, "%.17g", g->valuedouble);
        return whyf(why, cap, path, "expected %s, got %s", a, b);
    }
    if (cJSON_IsString(w) && strcmp(w->valuestring, g->valuestring))
        return whyf(why, cap, path, "expected \"%.80s\", got \"%.80s\"", w->valuestring, g->valuestring);
    if (cJSON_IsArray(w)) {
        int nw = cJSON_GetArraySize(w), ng = cJSON_GetArraySize(g);
        if (nw != ng) {
            char a[24], b[24];
            snprintf(a, sizeof a, "%d", nw);
            snprintf(b, sizeof b, "%d", ng);
            return whyf(why, cap, path, "expected %s elements, got %s", a, b);
        }
        size_t plen = strlen(path);
        const cJSON *x = w->child, *y = g->child;
        for (int i = 0; x && y; i++, x = x->next, y = y->next) {
            snprintf(path + plen, pcap - plen, "[%d]", i);
            if (!value_equal(x, y, why, cap, path, pcap))
                return false;
        }
        path[plen] = '\0';
    }
    if (cJSON_IsObject(w))
        return object_equal(w, g, why, cap, path, pcap);
    return true;
}

bool pws_tape_match(const char *want, size_t wlen, const char *got, size_t glen, bool binary, char *why,
                    size_t whycap)
{
    if (why && whycap)
        why[0] = '\0';
    if (wlen == glen && (wlen == 0 || !memcmp(want, got, wlen)))
        return true;
    if (binary) {
        size_t i = 0;
        while (i < wlen && i < glen && want[i] == got[i])
            i++;
        if (why)
            snprintf(why, whycap, "binary messages differ at byte %zu (%zu vs %zu bytes)", i, wlen, glen);
        return false;
    }
    cJSON *w = cJSON_ParseWithLength(want, wlen);
    if (!w) {
        if (why)
            snprintf(why, whycap, "text differs");
        return false;
    }
    cJSON *g = cJSON_ParseWithLength(got, glen);
    bool ok;
    char path[256] = "";
    if (!g) {
        ok = false;
        if (why)
            snprintf(why, whycap, "expected JSON, got text that is not JSON");
    } else {
        ok = value_equal(w, g, why, whycap, path, sizeof path);
    }
    cJSON_Delete(w);
    cJSON_Delete(g);
    return ok;
}
