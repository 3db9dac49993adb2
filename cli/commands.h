/*
 * commands.h - the polyws subcommands.  Each takes argc/argv starting at the
 * subcommand name and returns the process exit code: 0 success, 1 failure
 * of the job itself, 2 usage error.
 */
#ifndef POLYWS_CLI_COMMANDS_H
#define POLYWS_CLI_COMMANDS_H

#include <polyws/polyws.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

int pws_cmd_watch(int argc, char **argv);
int pws_cmd_mock(int argc, char **argv);
int pws_cmd_check(int argc, char **argv);
int pws_cmd_record(int argc, char **argv);
int pws_cmd_replay(int argc, char **argv);
int pws_cmd_tape(int argc, char **argv);

/* Reads s as a plain decimal integer in [min, max] (no sign, no spaces, no
 * suffix) into *out; 0, or -1 and *out untouched. */
int pws_cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* --count on the delivery thread: counts a market-data event (under mu) and
 * stops c when the count is reached.  False if the event comes after the
 * count and must not be shown; true for every other event. */
bool pws_cli_count(const pws_event *ev, pthread_mutex_t *mu, uint64_t count, uint64_t *seen, pws_connector *c);

#endif
