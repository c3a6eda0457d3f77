/* libFuzzer target for the OCMT envelope check (src/lib/ocmt.h). Only zk_ocmt_check() runs: zk_ocmt_open() would
   spend an Argon2id with 64 MiB and t=3 on every input, far too slow to fuzz. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "lib/ocmt.h"

ZK_FUZZ_INIT_MEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
	if (!doc)
		return 0;
	char err[128];
	err[0] = '\0';
	int rc = zk_ocmt_check(doc, err, sizeof(err));
	/* The contract: 0 or -1, and a failure always says why, NUL-terminated within the buffer. */
	if (rc != 0 && rc != -1)
		__builtin_trap();
	if (rc == -1 && (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL))
		__builtin_trap();
	/* The check must not depend on or change the document: a second run agrees. */
	char err2[128];
	if (zk_ocmt_check(doc, err2, sizeof(err2)) != rc || (rc == -1 && strcmp(err, err2) != 0))
		__builtin_trap();
	json_decref(doc);
	return 0;
}
