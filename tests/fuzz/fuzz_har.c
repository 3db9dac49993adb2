/*
 * fuzz_har.c - libFuzzer target for the HAR importer (pws_tape_from_har in
 * replay/src/har.c), which reads browser DevTools exports.
 *
 * The importer reads and writes files, so each input is written to a
 * temporary HAR file (made once per process with mkstemp, removed at exit)
 * and converted to a temporary tape next to it, twice: with the default
 * sort budget (frames sorted in memory) and with a budget of one byte
 * (pwsr__tape_from_har: every frame its own run in the sort's temporary
 * file, merged on the way out).  Checks:
 *   - both give the same result: the same error message, or the same tape
 *     byte for byte;
 *   - a refusal leaves a NUL-terminated, non-empty message (a tape may be
 *     left half written when a write fails: not checked);
 *   - a tape that was written reads back to its end with pws_tape_reader_open
 *     and pws_tape_next, without an error and without a cut last line;
 *   - auth params are redacted on the way in (docs/tapes.md, from-har): no
 *     client text on the tape is an auth action whose params are anything but
 *     the placeholder "***".
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus (corpus_har/)
 * through the same checks under any compiler (fuzz_har_corpus).
 */
#include <polyws/polyws.h>
#include <polyws/tape.h>

#include "../../replay/src/internal.h" /* pwsr__tape_from_har */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_har: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char har_path[64];    /* the temporary HAR file, "" until made */
static char tape_path[80];   /* the tape written next to it */
static char spill_path[80];  /* the tape written with the one-byte sort budget */

static void remove_files(void)
{
    if (har_path[0]) {
        unlink(har_path);
        unlink(tape_path);
        unlink(spill_path);
    }
}

/* Makes the two paths once; the HAR file exists from then on. */
static void make_paths(void)
{
    if (har_path[0])
        return;
    const char *dir = getenv("TMPDIR");
    snprintf(har_path, sizeof har_path, "%s/pws-fuzz-har-XXXXXX", dir && strlen(dir) < 32 ? dir : "/tmp");
    int fd = mkstemp(har_path);
    FUZZ_CHECK(fd >= 0);
    close(fd);
    snprintf(tape_path, sizeof tape_path, "%s.tape", har_path);
    snprintf(spill_path, sizeof spill_path, "%s.spill", har_path);
    atexit(remove_files);
}

static void write_input(const uint8_t *data, size_t size)
{
    FILE *f = fopen(har_path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
}

static void check_tape(void)
{
    pws_tape_reader *r = NULL;
    pws_tape_frame f;
    char err[256], key[512];
    int rc;

    rc = pws_tape_reader_open(tape_path, &r, err, sizeof err);
    if (rc != PWS_OK)
        fprintf(stderr, "fuzz_har: the tape does not open: %s\n", err);
    FUZZ_CHECK(rc == PWS_OK);
    while ((rc = pws_tape_next(r, &f)) == 1) {
        if (f.dir == 'c' && f.kind == PWS_TAPE_TEXT && pws_auth_key_of((const char *)f.data, f.len, key, sizeof key))
            FUZZ_CHECK(strcmp(key, PWS_TAPE_PLACEHOLDER) == 0);
    }
    if (rc != 0)
        fprintf(stderr, "fuzz_har: reading the tape back: %s\n", pws_tape_reader_error(r));
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(!pws_tape_reader_truncated(r, NULL));
    pws_tape_reader_close(r);
}

/* The whole file into a malloc'd buffer (*len bytes); NULL if it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *n = realloc(buf, cap);
            FUZZ_CHECK(n != NULL);
            buf = n;
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (!got)
            break;
    }
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], spill_err[256];

    make_paths();
    write_input(data, size);
    unlink(tape_path);
    unlink(spill_path);
    memset(err, 'x', sizeof err);
    int rc = pws_tape_from_har(har_path, tape_path, err, sizeof err);
    int spill_rc = pwsr__tape_from_har(har_path, spill_path, 1, NULL, spill_err, sizeof spill_err);
    FUZZ_CHECK(rc == spill_rc);
    if (rc == PWS_OK) {
        check_tape();
        size_t n1 = 0, n2 = 0;
        char *t1 = read_file(tape_path, &n1), *t2 = read_file(spill_path, &n2);
        FUZZ_CHECK(t1 != NULL && t2 != NULL && n1 == n2 && memcmp(t1, t2, n1) == 0);
        free(t1);
        free(t2);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        FUZZ_CHECK(strcmp(err, spill_err) == 0);
    }
    unlink(tape_path);
    unlink(spill_path);
    return 0;
}
