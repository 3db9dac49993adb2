/*
 * engine_match.c - what EXPECT compares, and how failures quote bytes.
 *
 * Pure functions: no sockets, no clock.
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Recursion follows the pattern's nesting, which cJSON caps (CJSON_NESTING_LIMIT). */
bool pwsm__json_subset(const cJSON *pattern, const cJSON *value)
{
    if (!pattern || !value)
        return false;
    if (cJSON_IsObject(pattern)) {
        if (!cJSON_IsObject(value))
            return false;
        for (const cJSON *p = pattern->child; p; p = p->next) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(value, p->string);
            if (!v || !pwsm__json_subset(p, v))
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(pattern)) {
        if (!cJSON_IsArray(value))
            return false;
        const cJSON *v = value->child;
        for (const cJSON *p = pattern->child; p; p = p->next, v = v->next)
            if (!v || !pwsm__json_subset(p, v))
                return false;
        return true;
    }
    if (cJSON_IsString(pattern))
        return cJSON_IsString(value) && strcmp(pattern->valuestring, value->valuestring) == 0;
    if (cJSON_IsNumber(pattern))
        return cJSON_IsNumber(value) && pattern->valuedouble == value->valuedouble;
    if (cJSON_IsBool(pattern))
        return cJSON_IsBool(value) && cJSON_IsTrue(pattern) == cJSON_IsTrue(value);
    if (cJSON_IsNull(pattern))
        return cJSON_IsNull(value);
    return false;
}

size_t pwsm__excerpt(char *out, size_t cap, const char *data, size_t len, size_t max)
{
    size_t o = 0;
    if (cap < 4) { /* no room for "..." */
        if (cap)
            out[0] = '\0';
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)data[i];
        char esc[5];
        size_t n = 1;
        if (ch >= 0x20 && ch < 0x7f) {
            esc[0] = (char)ch;
        } else {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            n = 4;
        }
        if (i >= max || o + n + 4 > cap) { /* room for "..." and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}
