/* libFuzzer target for the personal vault's request bodies (src/vaultd/personal.h): PUT
   /v1/integrations/:service, POST /v1/transcripts/:id and POST /v1/oauth/:service/start, parsed as the routes
   do, and the raw input as a service or transcript id. Checks: an accepted integration builds a record whose metadata view never carries the
   credential; accepted ids stay inside the secret-name alphabet; the reserved-namespace check holds. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "vaultd/personal.h"
#include "vaultd/validate.h"

ZK_FUZZ_INIT_MEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char details[160];
	json_t *body = NULL;

	if (!validate_parse_body(&body, data, size, details, sizeof(details))) {
		const char *problem = integration_body_problem(body, details, sizeof(details));
		if (!problem) {
			json_t *rec = integration_build(body);
			CHECK(rec);
			json_t *cred = json_object_get(rec, "credential");
			CHECK(json_is_object(cred) && json_object_size(cred) >= 1);
			json_object_set_new(rec, "service", json_string("svc"));
			json_t *view = integration_view(rec, false), *full = integration_view(rec, true);
			CHECK(view && full && !json_object_get(view, "credential"));
			CHECK(json_equal(json_object_get(full, "credential"), cred));
			json_decref(view);
			json_decref(full);
			json_decref(rec);
		} else {
			CHECK(*problem);
		}
		problem = oauth_start_problem(body);
		CHECK(!problem || *problem);
		if (!problem)
			CHECK(json_is_string(json_object_get(body, "clientId")) &&
			      json_is_string(json_object_get(body, "redirectUri")));
		problem = transcript_body_problem(body);
		CHECK(!problem || *problem);
		if (!problem)
			CHECK(json_object_get(body, "content"));
		json_decref(body);
	}

	if (size <= 300) {
		char *s = malloc(size + 1);
		if (s) {
			memcpy(s, data, size);
			s[size] = '\0';
			if (!personal_id_problem(s)) {
				CHECK(strlen(s) >= 1 && strlen(s) <= PERSONAL_ID_MAX); /* up to the first NUL */
				CHECK(!personal_reserved_name(s) && !secret_name_problem(s));
			}
			CHECK(personal_reserved_name(s) == (memchr(s, ':', strlen(s)) != NULL));
			free(s);
		}
	}
	return 0;
}
