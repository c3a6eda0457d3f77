/* libFuzzer target for the Shamir share encoding (src/lib/shamir.h).
   First byte even: the rest is up to 3 newline-separated share texts; each is decoded, and when 2 or more decode they
   are combined. First byte odd: a property run that never needs a valid check by luck — a secret, k, n and a pick
   of shares come from the input; the shares are split for real, optionally one is tampered with (check recomputed so
   it passes), and combine must succeed exactly when it has k distinct untampered shares, giving the secret. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "lib/shamir.h"

ZK_FUZZ_INIT_MEM()

static void decode_texts(const uint8_t *data, size_t size)
{
	unsigned char rows[3][ZK_SHARE_MAX];
	char line[512];
	size_t count = 0;
	while (size > 0 && count < 3) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		if (n < sizeof(line)) {
			memcpy(line, data, n);
			line[n] = '\0';
			enum zk_share_error why = ZK_SHARE_OK;
			size_t sz = 0;
			if (zk_share_from_text(rows[count], &sz, line, &why) == 0) {
				struct zk_share_info info;
				char text[ZK_SHARE_TEXT_MAX];
				unsigned char again[ZK_SHARE_MAX];
				size_t sz2 = 0;
				/* Accepted text re-encodes canonically and decodes to the same bytes. */
				if (zk_share_inspect(&info, rows[count], sz, NULL) != 0 || info.size != sz ||
				    zk_share_to_text(text, rows[count], sz, NULL) != 0 ||
				    zk_share_from_text(again, &sz2, text, NULL) != 0 || sz2 != sz ||
				    memcmp(again, rows[count], sz) != 0)
					__builtin_trap();
				count++;
			} else if (why == ZK_SHARE_OK) {
				__builtin_trap();
			}
		}
		if (!nl)
			break;
		data = nl + 1;
		size -= n + 1;
	}
	if (count >= 2) {
		struct zk_share_info info;
		if (zk_share_inspect(&info, rows[0], ZK_SHARE_BYTES(rows[0][ZK_SHARE_HEADER_BYTES - 1]), NULL) != 0)
			__builtin_trap();
		unsigned char secret[ZK_SHAMIR_SECRET_MAX];
		enum zk_share_error why = ZK_SHARE_OK;
		int rc = zk_shamir_combine(secret, info.len, (const unsigned char(*)[ZK_SHARE_MAX])rows, count, NULL, &why);
		if ((rc == 0) != (why == ZK_SHARE_OK) || (rc == 0 && count < info.k))
			__builtin_trap();
		sodium_memzero(secret, sizeof(secret));
	}
	sodium_memzero(rows, sizeof(rows));
}

static void property(const uint8_t *data, size_t size)
{
	if (size < 5)
		return;
	size_t n = 2 + data[0] % 7;      /* 2..8 */
	size_t k = 2 + data[1] % (n - 1); /* 2..n */
	size_t len = 1 + data[2] % ZK_SHAMIR_SECRET_MAX;
	unsigned pick = data[3];          /* which shares are given, one bit per x */
	int tamper = data[4] % 9 - 1;     /* -1: none, else the index of the share to tamper with */
	data += 5;
	size -= 5;
	unsigned char secret[ZK_SHAMIR_SECRET_MAX] = {0}, set_id[16] = {0}, shares[8][ZK_SHARE_MAX];
	memcpy(secret, data, size < len ? size : len);
	enum zk_share_error why;
	if (zk_shamir_split(shares, n, k, secret, len, set_id, &why) != 0)
		__builtin_trap();

	unsigned char rows[8][ZK_SHARE_MAX];
	size_t count = 0;
	int tampered_given = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(pick & (1u << i)))
			continue;
		memcpy(rows[count], shares[i], ZK_SHARE_MAX);
		if ((int)i == tamper) {
			rows[count][ZK_SHARE_HEADER_BYTES] ^= 0x01;
			crypto_generichash(rows[count] + ZK_SHARE_HEADER_BYTES + len, ZK_SHARE_CHECK_BYTES, rows[count],
					   ZK_SHARE_HEADER_BYTES + len, (const unsigned char *)ZK_SHARE_CHECK_KEY,
					   sizeof(ZK_SHARE_CHECK_KEY) - 1);
			tampered_given = 1;
		}
		count++;
	}
	unsigned char out[ZK_SHAMIR_SECRET_MAX];
	int rc = zk_shamir_combine(out, len, (const unsigned char(*)[ZK_SHARE_MAX])rows, count, set_id, &why);
	if (count < k) {
		if (rc != -1 || why != ZK_SHARE_TOO_FEW)
			__builtin_trap();
	} else if (!tampered_given) {
		if (rc != 0 || memcmp(out, secret, len) != 0)
			__builtin_trap();
	} else if (count > k) {
		/* A spare share exposes the tampered one. */
		if (rc != -1 || why != ZK_SHARE_INCONSISTENT)
			__builtin_trap();
	} else if (rc == 0 && memcmp(out, secret, len) == 0) {
		/* Exactly k shares, one tampered: undetectable by design, but it cannot give the right secret. */
		__builtin_trap();
	}
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 4096)
		return 0;
	if (data[0] & 1)
		property(data + 1, size - 1);
	else
		decode_texts(data + 1, size - 1);
	return 0;
}
