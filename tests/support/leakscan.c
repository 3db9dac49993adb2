/*
 * leakscan.c - leakscan KEYFILE FILE... : does any FILE hold a trace of the
 * key (the first line of KEYFILE, so the key never shows on a command line)
 * in any encoding tests/support/leakcheck.c knows (raw, 8-byte pieces,
 * JSON-escaped, percent-encoded, base64/base64url, nested)?  Prints
 * "FILE: leaks the key" for each one that does and exits 1; exits 0 if none
 * does, 2 on a usage or read error.  With --each-line, every line of each
 * FILE must leak on its own instead (a positive control: the test's list of
 * encodings really spells the key), else "FILE:LINE: does not leak" and 1.
 * Output never quotes the key or the files' contents.
 */
#include "leakcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *p = malloc(cap + 1);
    size_t got;
    while (p && (got = fread(p + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *np = realloc(p, 2 * cap + 1);
            if (!np) {
                free(p);
                p = NULL;
                break;
            }
            p = np;
            cap *= 2;
        }
    }
    fclose(f);
    if (p)
        p[len] = '\0';
    *n = len;
    return p;
}

int main(int argc, char **argv)
{
    int a = 1;
    int each_line = argc > 1 && !strcmp(argv[1], "--each-line");
    a += each_line;
    if (argc - a < 2) {
        fprintf(stderr, "usage: leakscan [--each-line] KEYFILE FILE...\n");
        return 2;
    }
    size_t kn;
    char *key = slurp(argv[a], &kn);
    if (!key) {
        fprintf(stderr, "leakscan: cannot read %s\n", argv[a]);
        return 2;
    }
    key[strcspn(key, "\r\n")] = '\0';
    if (strlen(key) < 8) {
        fprintf(stderr, "leakscan: the key in %s is shorter than 8 bytes\n", argv[a]);
        return 2;
    }
    int rc = 0;
    for (int i = a + 1; i < argc; i++) {
        size_t n;
        char *text = slurp(argv[i], &n);
        if (!text) {
            fprintf(stderr, "leakscan: cannot read %s\n", argv[i]);
            rc = 2;
            continue;
        }
        if (!each_line) {
            if (pws_test_leaks(text, n, key)) {
                printf("%s: leaks the key\n", argv[i]);
                if (!rc)
                    rc = 1;
            }
        } else {
            size_t line = 0;
            for (char *p = text; p < text + n; line++) {
                char *e = memchr(p, '\n', (size_t)(text + n - p));
                size_t len = e ? (size_t)(e - p) : (size_t)(text + n - p);
                if (len && !pws_test_leaks(p, len, key)) {
                    printf("%s:%zu: does not leak\n", argv[i], line + 1);
                    if (!rc)
                        rc = 1;
                }
                p += len + 1;
            }
        }
        free(text);
    }
    free(key);
    return rc;
}
