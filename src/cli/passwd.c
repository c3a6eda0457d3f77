/* zkvault passwd: change the vault password (the vault key is rewrapped; recovery methods keep working). */
#include <string.h>

#include "cli/recovery.h"
#include "lib/mem.h"

const struct cli_spec cli_passwd_spec = {
	.name = "passwd",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_PASSWORD | CLI_JSON,
	.summary = "Change the vault password. Asks for the current password, then the new one twice (at\n"
		   "least 16 characters), on the terminal with echo off; with --password-stdin reads two lines\n"
		   "from standard input: the current password, then the new one. The old password fails from\n"
		   "the next request on; the recovery methods keep working. Works locked or unlocked; a wrong\n"
		   "current password exits 1 and counts against the unlock rate limit.",
	.examples = "  zkvault passwd\n"
		    "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | zkvault passwd --password-stdin\n",
};

int cli_passwd(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL, *cur = NULL, *next = NULL;
	char *current = NULL, *fresh = NULL;
	size_t clen, flen;
	int rc = cli_begin(&c, &cli_passwd_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = cli_read_password(&c, "Current vault password: ", false, &current, &clen)) != CLI_OK) {
		current = NULL; /* cli_read_password frees what it refuses */
		goto out;
	}
	if ((rc = cli_read_new_password(&c, &fresh, &flen)) != CLI_OK)
		goto out;
	cur = json_stringn(current, clen);
	next = json_stringn(fresh, flen);
	if (!cur || !next) {
		rc = cli_error("the password is not valid UTF-8");
		goto out;
	}
	body = json_pack("{sOsO}", "currentPassword", cur, "newPassword", next);
	rc = body ? cli_request(&c, "POST", "/password", body, &out) : cli_error("out of memory");
	/* A wrong password is an ordinary failure, not a denied credential (as for unlock). */
	if (rc == CLI_DENIED && !strcmp(c.error, "Invalid password"))
		rc = CLI_ERROR;
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Password changed: the old one no longer opens the vault; recovery methods keep working.\n");
out:
	zk_wipe_free(current);
	zk_wipe_free(fresh);
	json_decref(cur);
	json_decref(next);
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}
