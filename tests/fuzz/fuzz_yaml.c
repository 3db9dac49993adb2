/*
 * fuzz_yaml.c - libFuzzer target for the scenario loader (pwss_load_mem():
 * libyaml, then mockserver/src/scenario*.c compiling the document).
 *
 * Each input is loaded as a scenario named "fuzz.yaml".  A refusal must come
 * with a NUL-terminated message that starts "fuzz.yaml:LINE:COLUMN: " and is
 * not cut short of its text; a scenario that loads must keep the limits that
 * polyws/scenario.h names (steps, repeat nesting and counts, scripts,
 * assertions), carry a name and a subscription, hold NUL-terminated payloads
 * of the length it says, and give each ordinal a script (or none) through
 * pwss_script_for().  Leaks and overflows are the sanitizers' to find.
 *
 * Built with -fsanitize=fuzzer (clang, -DPOLYWS_FUZZ=ON) this is a libFuzzer
 * target; linked with replay_main.c it replays the seed corpus (corpus_yaml/,
 * copies of files in scenarios/) through the same checks under any compiler
 * (fuzz_yaml_corpus).
 */
#include <polyws/scenario.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_yaml: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NAME "fuzz.yaml"

/* Checks steps[0..n) at repeat nesting depth; returns the steps written
 * (repeat bodies included, not unrolled). */
static size_t check_steps(const pwss_step *steps, size_t n, unsigned depth)
{
    size_t count = n;
    FUZZ_CHECK(depth <= PWSS_MAX_DEPTH);
    FUZZ_CHECK(n == 0 || steps != NULL);
    for (size_t i = 0; i < n; i++) {
        const pwss_step *st = &steps[i];
        FUZZ_CHECK(st->kind >= PWSS_STEP_GREET && st->kind <= PWSS_STEP_REPEAT);
        FUZZ_CHECK(st->line >= 1 && st->column >= 1);
        if (st->data)
            FUZZ_CHECK(st->data[st->len] == '\0');
        else
            FUZZ_CHECK(st->len == 0);
        if (st->reason)
            FUZZ_CHECK(strlen(st->reason) < 4096);
        if (st->kind == PWSS_STEP_STREAM) {
            FUZZ_CHECK(st->stream.count > 0);
            FUZZ_CHECK(st->stream.ntypes <= 8);
            for (uint32_t k = 0; k < st->stream.ntypes; k++)
                FUZZ_CHECK(memchr(st->stream.types[k], '\0', sizeof st->stream.types[k]) != NULL);
            for (uint32_t k = 0; k < st->stream.nsymbols; k++)
                FUZZ_CHECK(st->stream.symbols[k] != NULL);
        }
        if (st->kind == PWSS_STEP_REPEAT) {
            FUZZ_CHECK(st->times <= PWSS_MAX_REPEAT);
            count += check_steps(st->body, st->nbody, depth + 1);
        }
    }
    return count;
}

static void check_scenario(const pwss_scenario *sc)
{
    size_t steps = 0;
    FUZZ_CHECK(sc->name != NULL);
    FUZZ_CHECK(sc->client.subscribe != NULL);
    FUZZ_CHECK(sc->nscripts <= PWSS_MAX_CONN_SCRIPTS);
    FUZZ_CHECK(sc->nassertions <= PWSS_MAX_ASSERTIONS);
    for (size_t i = 0; i < sc->nscripts; i++) {
        FUZZ_CHECK(sc->scripts[i].ordinal >= 1);
        if (i > 0)
            FUZZ_CHECK(sc->scripts[i].ordinal > sc->scripts[i - 1].ordinal); /* sorted */
        steps += check_steps(sc->scripts[i].steps, sc->scripts[i].nsteps, 0);
        FUZZ_CHECK(pwss_script_for(sc, sc->scripts[i].ordinal) == &sc->scripts[i]);
    }
    steps += check_steps(sc->default_script.steps, sc->default_script.nsteps, 0);
    FUZZ_CHECK(steps <= PWSS_MAX_STEPS);
    for (size_t i = 0; i < sc->nassertions; i++) {
        const pwss_assertion *a = &sc->assertions[i];
        FUZZ_CHECK(a->kind >= PWSS_ASSERT_AUTH_WITHIN && a->kind <= PWSS_ASSERT_FAILS_CONNECTION);
        if (a->kind == PWSS_ASSERT_OUTPUT_EQUALS)
            FUZZ_CHECK(a->path != NULL);
    }
    (void)pwss_script_for(sc, 0);
    (void)pwss_script_for(sc, UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    memset(err, 'x', sizeof err);
    pwss_scenario *sc = pwss_load_mem((const char *)data, size, NAME, err, sizeof err);
    if (sc) {
        FUZZ_CHECK(err[0] == '\0');
        check_scenario(sc);
        pwss_free(sc);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
        FUZZ_CHECK(strlen(err) > strlen(NAME ":1:1: "));
    }
    return 0;
}
