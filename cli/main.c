/*
 * main.c - `polyws`, one binary with subcommands.
 */
#include "commands.h"

#include <polyws/polyws.h>
#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;                 /* subcommand word */
    int (*run)(int argc, char **argv); /* entry point */
    const char *summary;              /* one line for the overview */
} command;

static const command commands[] = {
    {"watch", pws_cmd_watch, "connect, subscribe and print live events (JSON lines or a live table)"},
    {"mock", pws_cmd_mock, "run a mock Polygon server on loopback"},
    {"check", pws_cmd_check, "run YAML scenarios against a client and judge its behaviour"},
    {"record", pws_cmd_record, "record WebSocket sessions on a tape (proxy, or our own connector)"},
    {"replay", pws_cmd_replay, "serve the recorded server side of a tape to new clients"},
    {"tape", pws_cmd_tape, "tape stats, and conversions to a scenario and to/from HAR"},
    {"explore", pws_cmd_explore, "random scenarios against a client, failures shrunk to a minimal file"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: polyws <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'polyws <command> --help' describes a command.  polyws %s\n", PWS_VERSION_STRING);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("polyws %s\n", PWS_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "polyws: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
