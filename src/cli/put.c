/* zkvault put: store a new version of a secret, its value read from stdin or a file, never argv. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/mem.h"
#include "lib/term.h"

/* The vault takes request bodies up to 1 MiB. */
#define VALUE_MAX (1u << 20)

static const struct cli_option options[] = {
	{ "file", 'f', "FILE", "read the value from FILE, byte for byte", NULL },
	{ "metadata", 0, "JSON", "a JSON object stored with the value (not secret-grade: shown by ls)", NULL },
	{ 0 },
};

const struct cli_spec cli_put_spec = {
	.name = "put",
	.operands = "NAME",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_CAP | CLI_JSON,
	.options = options,
	.summary = "Store a new version of secret NAME. The value never comes from the command line: it is\n"
		   "read from standard input (one trailing newline removed), from --file (exactly), or\n"
		   "asked on the terminal with echo off when standard input is a terminal. Names are\n"
		   "letters, digits, '_', '.' and '-'. Needs the write permission.",
	.examples = "  zkvault put api-key                      # asks for the value\n"
		    "  printf %s \"$KEY\" | zkvault put api-key\n"
		    "  zkvault put tls-cert --file cert.pem --metadata '{\"owner\":\"ops\"}'\n",
};

static int read_value(struct cli *c, char **value, size_t *len)
{
	const char *file = cli_opt(c, "file");
	int rc;

	if (file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_error("cannot open %s: %s", file, strerror(errno));
		rc = zk_term_read_all(fd, VALUE_MAX, value, len);
		close(fd);
	} else if (isatty(STDIN_FILENO)) {
		char prompt[300];
		snprintf(prompt, sizeof(prompt), "Value of %.255s: ", c->args[0]);
		rc = zk_term_read_hidden(prompt, value, len);
	} else {
		rc = zk_term_read_all(STDIN_FILENO, VALUE_MAX, value, len);
		if (rc == 0 && *len && (*value)[*len - 1] == '\n')
			(*value)[--*len] = '\0';
		if (rc == 0 && *len && (*value)[*len - 1] == '\r')
			(*value)[--*len] = '\0';
	}
	if (rc == -2)
		return cli_error("the value is larger than %u bytes", VALUE_MAX);
	if (rc == -3)
		*len = 0;
	else if (rc != 0)
		return cli_error("cannot read the value: %s", strerror(errno));
	if (*len == 0) {
		if (rc == 0)
			zk_wipe_free(*value);
		return cli_error("the value is empty");
	}
	return CLI_OK;
}

static int build_body(struct cli *c, json_t **body)
{
	const char *meta = cli_opt(c, "metadata");
	json_t *metadata = NULL, *v;
	char *value;
	size_t len;
	int rc;

	if (meta)
		metadata = json_loads(meta, JSON_REJECT_DUPLICATES, NULL);
	if (meta && !json_is_object(metadata)) {
		json_decref(metadata);
		return cli_usage_error(c, "--metadata expects a JSON object, like '{\"owner\":\"ops\"}'");
	}
	if ((rc = read_value(c, &value, &len)) != CLI_OK) {
		json_decref(metadata);
		return rc;
	}
	v = json_stringn(value, len);
	zk_wipe_free(value);
	if (!v) {
		json_decref(metadata);
		return cli_error("the value is not UTF-8 text (encode binary values, e.g. with base64)");
	}
	*body = json_pack("{so}", "value", v);
	if (*body && metadata)
		json_object_set_new(*body, "metadata", metadata);
	else
		json_decref(metadata);
	return *body ? CLI_OK : cli_error("out of memory");
}

int cli_put(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	char *path = NULL;
	int rc = cli_begin(&c, &cli_put_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = build_body(&c, &body)) != CLI_OK)
		goto out;
	if (!(path = cli_path(&c, "/secrets/", c.args[0], NULL))) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_request(&c, "POST", path, body, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("%s %s (version %lld).\n", json_is_true(json_object_get(out, "created")) ? "Created" : "Updated",
		       c.args[0], (long long)json_integer_value(json_object_get(out, "version")));
out:
	free(path);
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}
