/*
 * main.c: entry point of the `kvidx` command-line tool. Dispatches to the
 * subcommands registered by the cmd_*.c files (see cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kvidx.h"

#define KVIDX_CLI_MAX_COMMANDS 32

static const kvidx_cli_command *commands[KVIDX_CLI_MAX_COMMANDS];
static int n_commands;

void kvidx_cli_register(const kvidx_cli_command *cmd) {
  if (n_commands < KVIDX_CLI_MAX_COMMANDS)
    commands[n_commands++] = cmd;
}

static void usage(FILE *f) {
  fprintf(f, "usage: kvidx <command> [options]\n\ncommands:\n");
  for (int i = 0; i < n_commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(f, "  %-10s %s\n", "version", "print the library version");
  fprintf(f, "\nRun 'kvidx <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("kvidx %s\n", kvidx_version());
    return 0;
  }
  for (int i = 0; i < n_commands; i++) {
    if (strcmp(argv[1], commands[i]->name) == 0)
      return commands[i]->run(argc - 1, argv + 1);
  }
  fprintf(stderr, "kvidx: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
