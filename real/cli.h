/*
 * cli.h - `vss-node`: argument parsing and the subcommands that run in
 * the CLI process (init, serve, add's copy, checksum, help); the rest are
 * ops (ops.h), forwarded to the daemon when one runs.
 */
#ifndef VSS_REAL_CLI_H
#define VSS_REAL_CLI_H

int cli_main(int argc, char **argv);

#endif
