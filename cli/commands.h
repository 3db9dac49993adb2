/*
 * commands.h - the polyws subcommands.  Each takes argc/argv starting at the
 * subcommand name and returns the process exit code: 0 success, 1 failure
 * of the job itself, 2 usage error.
 */
#ifndef POLYWS_CLI_COMMANDS_H
#define POLYWS_CLI_COMMANDS_H

int pws_cmd_watch(int argc, char **argv);
int pws_cmd_mock(int argc, char **argv);
int pws_cmd_check(int argc, char **argv);
int pws_cmd_record(int argc, char **argv);
int pws_cmd_replay(int argc, char **argv);
int pws_cmd_tape(int argc, char **argv);

#endif
