/*
 * cli.h: subcommands of the `kvidx` tool. Each subcommand lives in its own
 * file (cmd_<name>.c) and registers itself with KVIDX_CLI_COMMAND, so adding
 * one touches no other file. A subcommand gets argv starting at its own name
 * and returns the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef KVIDX_TOOLS_CLI_H
#define KVIDX_TOOLS_CLI_H

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} kvidx_cli_command;

void kvidx_cli_register(const kvidx_cli_command *cmd);

#define KVIDX_CLI_COMMAND(ident, cmd_name, cmd_summary, cmd_fn)                \
  static const kvidx_cli_command ident = {cmd_name, cmd_summary, cmd_fn};      \
  __attribute__((constructor)) static void ident##_register(void) {            \
    kvidx_cli_register(&ident);                                                \
  }

#endif
