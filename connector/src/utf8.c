/*
 * utf8.c - pws_utf8_valid, libpolyws' public name for wire's UTF-8 check
 * (wire/codec.h), which the connector, the mock journal and tapes share.
 */
#include <polyws/parse.h>

#include "wire/codec.h"

bool pws_utf8_valid(const void *buf, size_t len)
{
    return pws__utf8_valid(buf, len);
}
