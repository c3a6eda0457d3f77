/* libFuzzer target for capability tokens: PASETO v4.public verification and footer split, PASERK k4.public
   decoding (src/lib/paseto.h) and the claims parser of vaultd (claims_parse, src/vaultd/tokens.h).
   Each input is used three ways:
     a) as a token string, verified with a fixed key (the official PASETO 4-S-* vector key, so those vectors and
        the committed seeds signed with it verify), and as a PASERK string;
     b) as the claims JSON of an already verified token;
     c) as a message, signed with the fixed key: verifying the result must give back exactly the input. */
#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "lib/paseto.h"
#include "vaultd/tokens.h"

/* The issuer and group of the claims in the committed seeds (fuzz/corpus/token/token-*.txt, claims-*.json). */
#define VAULT_ID_HEX "8e204a49c79696bc24efd43299b22f77"
#define GROUP_ID "g"

static const char SK_HEX[] = "b4cbfb43df4ce210727d953e4a713307fa19bb7d9f85041438d9e11b942a3774"
			     "1eb9dbbbbc047c03fd70604e0071f0987e16b28b757225c11f00415d0e20b1a2";
static unsigned char sk[64], pk[32];
static char kid_footer[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char kid[ZK_PASERK_K4_PID_MAX];
	if (zk_mem_init() != 0 || sodium_hex2bin(sk, sizeof(sk), SK_HEX, strlen(SK_HEX), NULL, NULL, NULL) != 0)
		return -1;
	memcpy(pk, sk + 32, sizeof(pk));
	if (zk_paserk_k4_pid(kid, pk) != 0)
		return -1;
	snprintf(kid_footer, sizeof(kid_footer), "{\"kid\":\"%s\"}", kid);
	return 0;
}

static void check_claims(const char *text, size_t len)
{
	struct claims c;
	memset(&c, 0xa5, sizeof(c));
	if (claims_parse(&c, text, len, VAULT_ID_HEX, GROUP_ID) != 0)
		return;
	CHECK(strlen(c.jti) == 32);
	CHECK(memchr(c.sub, '\0', sizeof(c.sub)) != NULL);
	CHECK(c.npatterns >= 0 && c.npatterns <= CLAIMS_MAX_PATTERNS);
	for (int i = 0; i < c.npatterns; i++) {
		CHECK(c.pattern_off[i] < sizeof(c.patterns));
		CHECK(memchr(c.patterns + c.pattern_off[i], '\0', sizeof(c.patterns) - c.pattern_off[i]) != NULL);
	}
	/* What every request then does with them. */
	(void)claims_allow(&c, "db.password", PERM_READ);
	(void)claims_allow(&c, "", PERM_WRITE);
	if (c.npatterns)
		(void)claims_allow_name(&c, c.patterns + c.pattern_off[c.npatterns - 1]);
}

static void as_token(const char *s)
{
	unsigned char *msg = NULL;
	size_t mlen = 0;
	char *footer = NULL, *split = NULL;

	int split_rc = zk_paseto_footer(&split, s);
	if (zk_paseto_v4_public_verify(&msg, &mlen, &footer, s, NULL, NULL, pk) == 0) {
		CHECK(msg[mlen] == '\0');
		CHECK(split_rc == 0 && strcmp(split, footer) == 0);
		/* Ed25519 is deterministic and the encoding strict: signing the same message and footer again
		   gives back the very same token. */
		char *again = NULL;
		CHECK(zk_paseto_v4_public_sign(&again, msg, mlen, footer, NULL, sk) == 0);
		CHECK(strcmp(again, s) == 0);
		free(again);
		/* The footer is checked when one is expected. */
		unsigned char *m2;
		size_t m2len;
		CHECK(zk_paseto_v4_public_verify(&m2, &m2len, NULL, s, footer, NULL, pk) == 0);
		CHECK(m2len == mlen && memcmp(m2, msg, mlen) == 0);
		free(m2);
		CHECK(zk_paseto_v4_public_verify(&m2, &m2len, NULL, s, footer, "implicit", pk) == -1);
		check_claims((const char *)msg, mlen);
		free(msg);
		free(footer);
	}
	if (split_rc == 0)
		free(split);

	unsigned char key[32];
	if (zk_paserk_k4_public_decode(key, s) == 0) {
		char back[ZK_PASERK_K4_PUBLIC_MAX];
		CHECK(zk_paserk_k4_public(back, key) == 0 && strcmp(back, s) == 0);
	}
}

static void round_trip(const uint8_t *data, size_t size)
{
	char *token = NULL;
	/* Odd sizes also bind an implicit assertion, which verification must then be given. */
	const char *implicit = size & 1 ? "zkvault" : NULL;
	if (zk_paseto_v4_public_sign(&token, data, size, kid_footer, implicit, sk) != 0) {
		/* Only a token over the length bound may be refused. */
		const int b64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
		size_t total = strlen("v4.public.") + sodium_base64_encoded_len(size + 64, b64) - 1 + 1 +
			       sodium_base64_encoded_len(strlen(kid_footer), b64) - 1;
		CHECK(total > ZK_PASETO_MAX_TOKEN);
		return;
	}
	unsigned char *msg = NULL;
	size_t mlen = 0;
	char *footer = NULL;
	CHECK(zk_paseto_v4_public_verify(&msg, &mlen, &footer, token, kid_footer, implicit, pk) == 0);
	CHECK(mlen == size && (size == 0 || memcmp(msg, data, size) == 0) && msg[mlen] == '\0');
	CHECK(strcmp(footer, kid_footer) == 0);
	free(msg);
	free(footer);
	/* Flipping one bit of the payload breaks the signature. */
	size_t at = 10 + (size % 40);
	token[at] = token[at] == 'A' ? 'B' : 'A';
	CHECK(zk_paseto_v4_public_verify(&msg, &mlen, NULL, token, kid_footer, implicit, pk) == -1);
	free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	as_token(s);
	free(s);
	check_claims((const char *)data, size);
	round_trip(data, size);
	return 0;
}
