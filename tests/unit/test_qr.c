/* Terminal QR rendering (src/lib/qr.h): the glyphs are read back into modules and compared with libqrencode's own
   symbol for the same text, plus the quiet zone, the size and determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/qr.h"

#define KEY_TEXT "AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ"

static char *render(const char *text, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	assert_int_equal(zk_qr_render(f, text), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Decodes one glyph at *p into (top light, bottom light) and advances; -1 for anything else. */
static int glyph(const char **p, int *top, int *bottom)
{
	static const struct {
		const char *utf8;
		int top, bottom;
	} g[] = {{"\xe2\x96\x88", 1, 1}, {"\xe2\x96\x80", 1, 0}, {"\xe2\x96\x84", 0, 1}, {" ", 0, 0}};
	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(g[i].utf8);
		if (strncmp(*p, g[i].utf8, n) == 0) {
			*p += n;
			*top = g[i].top;
			*bottom = g[i].bottom;
			return 0;
		}
	}
	return -1;
}

static void check_against_libqrencode(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(qr);
	int side = qr->width + 2 * ZK_QR_QUIET_ZONE;
	assert_int_equal(zk_qr_modules(text), side);

	size_t len = 0;
	char *out = render(text, &len);
	const char *p = out;
	int lines = 0;
	for (int y = 0; y < side; y += 2, lines++) {
		for (int x = 0; x < side; x++) {
			int top = -1, bottom = -1;
			assert_int_equal(glyph(&p, &top, &bottom), 0);
			int rows[2] = {y, y + 1}, got[2] = {top, bottom};
			for (int r = 0; r < 2; r++) {
				int qx = x - ZK_QR_QUIET_ZONE, qy = rows[r] - ZK_QR_QUIET_ZONE, want;
				if (rows[r] >= side)
					want = 0; /* below the symbol: background */
				else if (qx < 0 || qy < 0 || qx >= qr->width || qy >= qr->width)
					want = 1; /* quiet zone: light */
				else
					want = !(qr->data[qy * qr->width + qx] & 1);
				assert_int_equal(got[r], want);
			}
		}
		assert_int_equal(*p, '\n');
		p++;
	}
	assert_int_equal(*p, '\0');
	assert_int_equal(p - out, (long)len);
	assert_int_equal(lines, (side + 1) / 2);
	/* Deterministic: the same text renders to the same bytes. */
	size_t len2 = 0;
	char *again = render(text, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, out, len);
	free(again);
	free(out);
	QRcode_free(qr);
}

static void test_hardware_key(void **state)
{
	check_against_libqrencode(KEY_TEXT);
	/* 64 upper-case/digit/dash characters in alphanumeric mode: version 4 (33 modules) at level M (version 3 holds 61). */
	assert_int_equal(zk_qr_modules(KEY_TEXT), 33 + 4);
}

static void test_other_texts(void **state)
{
	check_against_libqrencode("a");
	check_against_libqrencode("zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHR");
	check_against_libqrencode("otpauth://totp/zkvault:alice?secret=JBSWY3DPEHPK3PXP&issuer=zkvault");
}

static void test_quiet_zone_and_errors(void **state)
{
	size_t len = 0;
	char *out = render(KEY_TEXT, &len);
	/* The first line is the top two quiet-zone rows: all full blocks. */
	int side = zk_qr_modules(KEY_TEXT);
	for (int x = 0; x < side; x++)
		assert_memory_equal(out + 3 * x, "\xe2\x96\x88", 3);
	assert_int_equal(out[3 * side], '\n');
	free(out);

	assert_int_equal(zk_qr_modules(""), -1);
	assert_int_equal(zk_qr_modules(NULL), -1);
	assert_int_equal(zk_qr_render(NULL, KEY_TEXT), -1);
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(zk_qr_render(f, ""), -1);
	/* More than a version-40 symbol holds at level M. */
	char *huge = malloc(4000);
	memset(huge, 'x', 3999);
	huge[3999] = '\0';
	assert_int_equal(zk_qr_render(f, huge), -1);
	fclose(f);
	assert_int_equal(len, 0);
	free(buf);
	free(huge);
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hardware_key),
		cmocka_unit_test(test_other_texts),
		cmocka_unit_test(test_quiet_zone_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
