/*
 * What the recovery commands share (passwd, rekey, recover, recovery, threshold, keygen; implemented in
 * src/cli/recovery.c): X25519 key files, fingerprints, exclusive 0600 files, secret lines read without echo.
 */
#ifndef ZK_CLI_RECOVERY_H
#define ZK_CLI_RECOVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

/* "abcd-ef01-2345-6789": the first 8 bytes of BLAKE2b-256(pk) in hex, as vaultd's recovery_fingerprint. */
#define CLI_FINGERPRINT_MAX 20
void cli_fingerprint(char out[CLI_FINGERPRINT_MAX], const unsigned char pk[32]);

/*
 * Reads a key file written by 'zkvault keygen' (one line: the 32-byte X25519 secret key in base64) into *sk
 * (sodium_malloc'd; sodium_free it) and derives its public key. Warns when others may read the file.
 */
int cli_load_secret_key(const char *file, unsigned char **sk, unsigned char pk[32]);

/* Creates file exclusively with mode 0600, never through a symbolic link, and writes data (fsync'd). */
int cli_write_new_file(const char *file, const char *data, size_t n);

/* Appends {"id", "publicKey"} for "ID=PUBKEY" (32 bytes of base64, e.g. from 'zkvault keygen') to holders. */
int cli_parse_holder(struct cli *c, const char *option, const char *arg, json_t *holders);

/*
 * Reads one secret line: from standard input when it is not a terminal or with --password-stdin, else from the
 * terminal with echo off after prompt. Returns an exit code; *out is from zk_wipe_malloc.
 */
int cli_read_secret(struct cli *c, const char *prompt, const char *what, char **out, size_t *len);

/* Reads the new password (twice on a terminal) and checks its length (16 bytes at least) before any request. */
int cli_read_new_password(struct cli *c, char **password, size_t *len);

/* Asks "question [yes/no]" on the terminal; CLI_OK only for "yes". Without a terminal: a usage error naming flag. */
int cli_confirm(struct cli *c, const char *question, const char *flag);

/* "password", "recovery phrase", ... for a wrapper type of a rekey's removedWrappers. */
const char *cli_wrapper_name(json_int_t type);

/* Prints the removed methods of a rekey answer and that every token stopped working. */
void cli_print_rekeyed(const json_t *answer);

#endif
