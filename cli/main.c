/*
 * main.c - `polyws`, one binary with subcommands.
 */
#include "commands.h"

#include <polyws/polyws.h>
#include <signal.h>
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

#define MAIN_HELP_ARGS 8 /* words after `polyws help` (the command and its subcommands) */

static void usage(FILE *f)
{
    fprintf(f, "usage: polyws <command> [options]\n"
               "       polyws help [<command> [<subcommand>]]\n"
               "       polyws --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'polyws <command> --help' (or 'polyws help <command>') describes a command;\n"
               "every command takes --version, which prints \"polyws %s\".\n"
               "\n"
               "Exit status:\n"
               "  0  success (the commands' own --help tell theirs)\n"
               "  2  bad usage: no command, or an unknown one\n",
            pws_version());
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* `polyws help [CMD [SUB...]]`: what `polyws CMD [SUB...] --help` prints. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return pws_cli_stdout_done(NULL, 0);
    }
    const command *cmd = find_command(argv[2]);
    if (!cmd) {
        fprintf(stderr, "polyws help: no such command '%s'; 'polyws help' lists them\n", argv[2]);
        return 2;
    }
    if (argc - 2 > MAIN_HELP_ARGS) {
        fprintf(stderr, "polyws help: too many words; see 'polyws help %s'\n", argv[2]);
        return 2;
    }
    char *args[MAIN_HELP_ARGS + 2];
    int n = 0;
    for (int i = 2; i < argc; i++)
        args[n++] = argv[i];
    args[n++] = "--help";
    args[n] = NULL;
    return cmd->run(n, args);
}

int main(int argc, char **argv)
{
    /* A write to a peer or a reader that went away is an error each command handles (EPIPE):
     * the sockets' owners (libwebsockets, OpenSSL) need that, and every command's stdout ends
     * through pws_cli_stdout_done, which takes a reader gone as a clean end (status 0). */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return pws_cli_stdout_done(NULL, 0);
    }
    if (!strcmp(argv[1], "help"))
        return help(argc, argv);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))
        return pws_cli_version();
    const command *cmd = find_command(argv[1]);
    if (cmd)
        return cmd->run(argc - 1, argv + 1);
    fprintf(stderr, "polyws: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
