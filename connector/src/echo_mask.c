/*
 * echo_mask.c - masking the API key in texts the server sent back.
 *
 * A server may echo the key in a status message ("key ... is over its
 * quota") or a close reason.  Those texts reach events, logs and
 * pws_last_error() after being cut to fixed buffers, so a whole-key search
 * (pws_redact) is not enough: a cut can leave a prefix of the key at the end
 * of a text, or a suffix of it at the start.  Only status, close and error
 * texts come through here, never market data, so the O(len * key) scan of
 * the edges costs nothing that matters.
 */
#include "internal.h"

#include <string.h>

/* Shortest piece of the key at a text's edge that is masked: shorter ones
 * are too likely to be ordinary words. */
#define PWS__ECHO_MIN_PIECE 8u

/* Replaces text[at..at+n) by "***" in place (n >= 3: the text never grows). */
static size_t put_stars(char *text, size_t len, size_t at, size_t n)
{
    memcpy(text + at, "***", 3);
    memmove(text + at + 3, text + at + n, len - at - n + 1);
    return len - n + 3;
}

size_t pws__mask_echoed_key(char *text, const char *key)
{
    size_t klen = key ? strlen(key) : 0;
    if (!text || klen < 4)
        return text ? strlen(text) : 0;
    size_t len = strlen(text);
    /* every whole occurrence */
    for (char *hit = text; (hit = strstr(hit, key)) != NULL; hit += 3)
        len = put_stars(text, len, (size_t)(hit - text), klen);
    /* a prefix of the key ending the text (the longest one) */
    for (size_t n = klen - 1 < len ? klen - 1 : len; n >= PWS__ECHO_MIN_PIECE; n--)
        if (memcmp(text + len - n, key, n) == 0) {
            len = put_stars(text, len, len - n, n);
            break;
        }
    /* a suffix of the key starting the text */
    for (size_t n = klen - 1 < len ? klen - 1 : len; n >= PWS__ECHO_MIN_PIECE; n--)
        if (memcmp(text, key + klen - n, n) == 0) {
            len = put_stars(text, len, 0, n);
            break;
        }
    return len;
}
