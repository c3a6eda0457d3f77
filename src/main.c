/* zkvault: one binary, one table of subcommands (like wg(8)). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/subcommands.h"

static const struct subcommand {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "dev", dev_main, "Run everything on localhost for development" },
	{ "vaultd", vaultd_main, "Run a vault server (group or user)" },
	{ "mcp", mcp_main, "MCP server for agents (stdio or Streamable HTTP)" },
#define ZK_CLI_ENTRY(n, f, d) { n, f, d },
#include "cli/commands.def"
#undef ZK_CLI_ENTRY
};

static void usage(FILE *f)
{
	fprintf(f, "usage: zkvault <command> [<args>]\n\nAvailable commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "\nRun 'zkvault <command> --help' for the options of one command.\n%s\n", CLI_EXIT_CODES);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2) {
			for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
				if (!strcmp(argv[2], subcommands[i].name)) {
					char *help_argv[] = { argv[2], "--help", NULL };
					return subcommands[i].fn(2, help_argv);
				}
		}
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "zkvault: '%s' is not a command. See 'zkvault help'.\n", argv[1]);
	return 2;
}
