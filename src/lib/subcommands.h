#ifndef ZK_SUBCOMMANDS_H
#define ZK_SUBCOMMANDS_H

/* Entry points of the subcommands dispatched by src/main.c. */
int vaultd_main(int argc, char *argv[]);
int dev_main(int argc, char *argv[]);
int mcp_main(int argc, char *argv[]);

#define ZK_CLI_ENTRY(n, f, d) int f(int argc, char *argv[]);
#include "cli/commands.def"
#undef ZK_CLI_ENTRY

#endif
