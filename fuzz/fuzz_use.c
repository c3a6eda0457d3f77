/* libFuzzer target for POST /secrets/:key/use (src/vaultd/use.h): the request body parser and URL origin
   normaliser on the input, and the redaction on the input split into a "response" and a "secret" (first byte
   = secret length). Checks: a redacted output never contains the raw secret, and origins are well formed. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "vaultd/use.h"
#include "vaultd/validate.h"

ZK_FUZZ_INIT_MEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char details[160];
	json_t *body = NULL;

	/* 1. The body, parsed as the route does. */
	if (!validate_parse_body(&body, data, size, details, sizeof(details))) {
		struct use_request u;
		const char *problem = use_parse(&u, body, details, sizeof(details));
		if (!problem) {
			CHECK(u.url && *u.method);
			CHECK(!strncmp(u.origin, "http://", 7) || !strncmp(u.origin, "https://", 8));
			CHECK(u.insecure == !strncmp(u.origin, "http://", 7));
			/* Normalising is idempotent. */
			char again[USE_ORIGIN_MAX];
			bool insecure;
			CHECK(use_origin(again, u.origin, &insecure) == 0 && !strcmp(again, u.origin));
			CHECK(!u.inject_header || !use_check_inject(u.inject_header, u.inject_format));
			json_t *meta = json_object_get(body, "metadata");
			use_check_origin(meta, u.origin);
			const char *h, *f;
			use_metadata_inject(body, &h, &f);
		} else {
			CHECK(*problem);
		}
		use_request_clear(&u);
		json_decref(body);
	}

	/* 2. The raw input as a URL. */
	if (size < USE_URL_MAX) {
		char *url = malloc(size + 1), origin[USE_ORIGIN_MAX];
		bool insecure;
		if (url) {
			memcpy(url, data, size);
			url[size] = '\0';
			if (use_origin(origin, url, &insecure) == 0)
				use_origin_loopback(origin);
			free(url);
		}
	}

	/* 3. Redaction: the secret must not survive in any output. */
	if (size >= 1) {
		size_t slen = data[0] % 64, out_len;
		if (slen + 1 <= size) {
			const unsigned char *secret = data + 1, *in = data + 1 + slen;
			size_t len = size - 1 - slen;
			char *out = use_redact(in, len, secret, slen, &out_len);
			CHECK(out);
			CHECK(out[out_len] == '\0');
			/* Any occurrence of the secret left must overlap a marker (a marker can complete a short
			   secret with the text beside it); none may stand in plain text. */
			unsigned char *mark = slen ? calloc(out_len + 1, 1) : NULL;
			if (mark) {
				for (const char *m = out; (m = memmem(m, out_len - (size_t)(m - out), "[REDACTED]", 10)); m++)
					memset(mark + (m - out), 1, 10);
				for (size_t i = 0; i + slen <= out_len; i++) {
					if (memcmp(out + i, secret, slen))
						continue;
					bool covered = false;
					for (size_t k = 0; k < slen; k++)
						covered = covered || mark[i + k];
					CHECK(covered);
				}
				free(mark);
			}
			zk_wipe_free(out);
		}
	}
	return 0;
}
