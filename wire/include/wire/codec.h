/*
 * wire/codec.h - small byte codecs: hex digits, base64, UTF-8 validation and cutting.
 *
 * Part of wire, the internal component the libraries share (see
 * wire/buf.h): the connector validates text messages with pws__utf8_valid
 * (libpolyws' public pws_utf8_valid is a wrapper of it), the tape line codec
 * and the mock journal choose "data" or "data_b64" with it, the replayer
 * decodes the journal's hex "raw" frames.  Names are pws__; pure functions,
 * no state but a read-only table, callable from any thread.
 */
#ifndef PWS_WIRE_CODEC_H
#define PWS_WIRE_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int pws__hexval(char c);

/* Standard base64 with padding of s[0..n) into out, which has room for
 * (n + 2) / 3 * 4 bytes; returns that count.  No NUL is added. */
size_t pws__base64_encode(const void *s, size_t n, char *out);
/* Decodes base64 (padding optional, base64url's '-' and '_' accepted, no
 * whitespace) into out (room for n / 4 * 3 + 3 bytes; out may be in itself:
 * decoding never writes ahead of what it read); returns the decoded length,
 * or (size_t)-1 on a bad character. */
size_t pws__base64_decode(const char *in, size_t n, unsigned char *out);

/* True if buf[0..len) is valid UTF-8 (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF).  ASCII runs go 8 bytes at a time. */
bool pws__utf8_valid(const void *buf, size_t len);

/* The length of the longest prefix of buf[0..len) that is valid UTF-8 and at most max bytes:
 * where to cut a text that must stay UTF-8 (a close reason) without splitting a character. */
size_t pws__utf8_prefix(const void *buf, size_t len, size_t max);

#endif
