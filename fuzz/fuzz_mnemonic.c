/* libFuzzer target for the BIP39 phrase parser (src/lib/bip39.h): zk_bip39_to_entropy on arbitrary bytes. When it
   accepts, the entropy must round-trip through zk_bip39_from_entropy to a phrase that parses back to the same bytes;
   when it refuses, the error must be well-formed and the outputs untouched. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/bip39.h"
#include "lib/mem.h"

ZK_FUZZ_INIT_MEM()

static int printable(const char *s, size_t max)
{
	const char *end = memchr(s, '\0', max);
	if (!end)
		return 0;
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7F)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	unsigned char ent[ZK_BIP39_ENTROPY_MAX], back[ZK_BIP39_ENTROPY_MAX];
	memset(ent, 0xa5, sizeof(ent));
	size_t len = sizeof(ent), backlen = sizeof(back);
	struct zk_bip39_error err;
	int rc = zk_bip39_to_entropy(ent, &len, text, &err);
	if (rc == 0) {
		char phrase[ZK_BIP39_MNEMONIC_MAX];
		if (len < ZK_BIP39_ENTROPY_MIN || len > ZK_BIP39_ENTROPY_MAX || len % 4 != 0 || err.code != ZK_BIP39_OK)
			__builtin_trap();
		if (zk_bip39_from_entropy(phrase, sizeof(phrase), ent, len) != 0)
			__builtin_trap();
		if (zk_bip39_to_entropy(back, &backlen, phrase, NULL) != 0 || backlen != len || memcmp(back, ent, len) != 0)
			__builtin_trap();
		/* A 16-byte buffer takes 12-word phrases only, and refuses longer ones as such. */
		size_t small = 16;
		unsigned char ent16[16];
		struct zk_bip39_error e16;
		int rc16 = zk_bip39_to_entropy(ent16, &small, text, &e16);
		if ((len == 16) != (rc16 == 0) || (rc16 != 0 && e16.code != ZK_BIP39_TOO_LONG))
			__builtin_trap();
	} else {
		if (rc != -1 || len != sizeof(ent) || ent[0] != 0xa5 || ent[sizeof(ent) - 1] != 0xa5)
			__builtin_trap();
		if (err.code == ZK_BIP39_OK || !printable(err.msg, sizeof(err.msg)) || err.msg[0] == '\0' ||
		    !printable(err.word, sizeof(err.word)) || !printable(err.suggestion, sizeof(err.suggestion)))
			__builtin_trap();
		if ((err.code == ZK_BIP39_UNKNOWN_WORD) != (err.word_index != 0))
			__builtin_trap();
	}
	sodium_memzero(&err, sizeof(err));
	free(text);
	return 0;
}
