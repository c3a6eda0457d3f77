#include "lib/qr.h"

#include <qrencode.h>
#include <sodium.h>

#include "lib/dl.h"

/* libqrencode, loaded on first use (lib/dl.h): only the CLI draws QR codes. */
#define QR_SYMBOLS(X) X(QRcode_encodeString) X(QRcode_free)
ZK_DL_DEFINE(qrlib, "libqrencode.so.4", "libqrencode4", QR_SYMBOLS);

#define BLOCK_FULL "\xe2\x96\x88"  /* U+2588 █ */
#define BLOCK_UPPER "\xe2\x96\x80" /* U+2580 ▀ */
#define BLOCK_LOWER "\xe2\x96\x84" /* U+2584 ▄ */

static QRcode *encode(const char *text)
{
	if (!text || !*text || zk_dl_load(&qrlib_dl) != 0)
		return NULL;
	/* Version 0 = the smallest that fits; QR_MODE_8 as the hint lets libqrencode pick numeric/alphanumeric runs. */
	return qrlib.QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

static void release(QRcode *qr)
{
	sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
	qrlib.QRcode_free(qr);
}

/* 1 when the module at (x, y) of the symbol with its quiet zone is light; outside the symbol (the last half line)
   counts as background, i.e. dark. */
static int light(const QRcode *qr, int x, int y, int side)
{
	if (y >= side)
		return 0;
	int qx = x - ZK_QR_QUIET_ZONE, qy = y - ZK_QR_QUIET_ZONE;
	if (qx < 0 || qy < 0 || qx >= qr->width || qy >= qr->width)
		return 1;
	return !(qr->data[qy * qr->width + qx] & 1);
}

int zk_qr_modules(const char *text)
{
	QRcode *qr = encode(text);
	if (!qr)
		return -1;
	int side = qr->width + 2 * ZK_QR_QUIET_ZONE;
	release(qr);
	return side;
}

int zk_qr_render(FILE *out, const char *text)
{
	if (!out)
		return -1;
	QRcode *qr = encode(text);
	if (!qr)
		return -1;
	int side = qr->width + 2 * ZK_QR_QUIET_ZONE, rc = 0;
	for (int y = 0; y < side && rc == 0; y += 2) {
		for (int x = 0; x < side; x++) {
			int top = light(qr, x, y, side), bottom = light(qr, x, y + 1, side);
			const char *glyph = top ? (bottom ? BLOCK_FULL : BLOCK_UPPER) : (bottom ? BLOCK_LOWER : " ");
			if (fputs(glyph, out) == EOF)
				rc = -1;
		}
		if (fputc('\n', out) == EOF)
			rc = -1;
	}
	release(qr);
	return rc;
}
