#include "lib/bip39.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/bip39_english.h"

#define MAX_WORDS 24
#define PBKDF2_ITERATIONS 2048
#define SALT_PREFIX "mnemonic"
/* Entropy and checksum bits, plus two zero bytes so an 11-bit window read as 3 bytes never runs off the end. */
#define BITS_BYTES (ZK_BIP39_ENTROPY_MAX + 1 + 2)

/* Word indices of a phrase: secret. */
struct phrase {
	uint16_t idx[MAX_WORDS];
	size_t count;
};

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int valid_word_count(size_t n)
{
	return n >= 12 && n <= MAX_WORDS && n % 3 == 0;
}

/* The list packed one word per uint64_t (letters in little-endian byte order, zero-padded), so a lookup or a
   selection is one pass of word-sized operations over the whole list. Built once. */
static uint64_t packed_words[ZK_BIP39_WORDS];
static pthread_once_t packed_once = PTHREAD_ONCE_INIT;

static void pack_list(void)
{
	for (size_t i = 0; i < ZK_BIP39_WORDS; i++) {
		uint64_t v = 0;
		for (size_t j = 0; j < ZK_BIP39_WORD_MAXLEN && bip39_english[i][j]; j++)
			v |= (uint64_t)(unsigned char)bip39_english[i][j] << (8 * j);
		packed_words[i] = v;
	}
}

/* All ones when a == b, else 0, without a branch on either. */
static uint64_t ct_eq_mask(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ b;
	return ((x | (0 - x)) >> 63) - 1;
}

/*
 * The list index of the word w[0..n), or -1. Folds A-Z to a-z. Every list word is compared whatever the input, so
 * the time taken depends on n only, not on which word it is.
 */
static int lookup_word(const unsigned char *w, size_t n)
{
	if (n == 0 || n > ZK_BIP39_WORD_MAXLEN)
		return -1;
	uint64_t key = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = w[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c < 'a' || c > 'z') {
			sodium_memzero(&key, sizeof(key));
			return -1;
		}
		key |= (uint64_t)c << (8 * i);
	}
	pthread_once(&packed_once, pack_list);
	uint64_t found = 0, idx = 0;
	for (uint64_t i = 0; i < ZK_BIP39_WORDS; i++) {
		uint64_t eq = ct_eq_mask(packed_words[i], key);
		idx |= i & eq;
		found |= eq;
	}
	sodium_memzero(&key, sizeof(key));
	return found ? (int)idx : -1;
}

/* Copies list word idx (NUL-terminated) into out, reading every list word so the access pattern hides idx. */
static void select_word(char out[ZK_BIP39_WORD_MAXLEN + 1], uint32_t idx)
{
	pthread_once(&packed_once, pack_list);
	uint64_t v = 0;
	for (uint64_t i = 0; i < ZK_BIP39_WORDS; i++)
		v |= packed_words[i] & ct_eq_mask(i, idx);
	for (size_t j = 0; j < ZK_BIP39_WORD_MAXLEN; j++)
		out[j] = (char)(v >> (8 * j));
	out[ZK_BIP39_WORD_MAXLEN] = '\0';
	sodium_memzero(&v, sizeof(v));
}

static uint32_t get11(const unsigned char *bits, size_t i)
{
	size_t bit = i * 11, at = bit / 8;
	uint32_t v = ((uint32_t)bits[at] << 16) | ((uint32_t)bits[at + 1] << 8) | bits[at + 2];
	return (v >> (24 - 11 - bit % 8)) & 0x7FF;
}

static void put11(unsigned char *bits, size_t i, uint32_t value)
{
	size_t bit = i * 11, at = bit / 8;
	uint32_t v = (value & 0x7FF) << (24 - 11 - bit % 8);
	bits[at] |= (unsigned char)(v >> 16);
	bits[at + 1] |= (unsigned char)(v >> 8);
	bits[at + 2] |= (unsigned char)v;
}

/* ---------------------------------------------------------------- error messages (error path only) */

static void quote_word(char *dst, size_t dstlen, const unsigned char *w, size_t n)
{
	const size_t keep = 24;
	size_t o = 0;
	for (size_t i = 0; i < n && i < keep && o + 1 < dstlen; i++) {
		unsigned char c = w[i];
		dst[o++] = (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (n > keep && o + 4 < dstlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions) in the caller's table d. */
static size_t edit_distance(size_t d[25][ZK_BIP39_WORD_MAXLEN + 1], const char *a, size_t la, const char *b, size_t lb)
{
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The list word w (letters only, case folded) most likely stands for: the only word it is a prefix of (3+ letters,
   e.g. "aban"), else the closest word at most 2 edits away. NULL when there is none. */
static const char *suggest(const unsigned char *w, size_t n)
{
	char low[24];
	if (n == 0 || n > sizeof(low))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = w[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c < 'a' || c > 'z')
			return NULL;
		low[i] = (char)c;
	}
	const char *best = NULL, *prefix_of = NULL;
	size_t best_d = 3, prefixes = 0, d[25][ZK_BIP39_WORD_MAXLEN + 1];
	for (size_t i = 0; i < ZK_BIP39_WORDS; i++) {
		const char *e = bip39_english[i];
		size_t le = strlen(e);
		/* The distance is at least the difference in length: skip words that cannot be within 2 edits. */
		if ((le > n ? le - n : n - le) < best_d) {
			size_t dist = edit_distance(d, low, n, e, le);
			if (dist < best_d) {
				best_d = dist;
				best = e;
			}
		}
		if (n >= 3 && n < le && memcmp(low, e, n) == 0) {
			prefix_of = e;
			prefixes++;
		}
	}
	sodium_memzero(low, sizeof(low));
	sodium_memzero(d, sizeof(d));
	return prefixes == 1 ? prefix_of : best;
}

static void set_error(struct zk_bip39_error *err, enum zk_bip39_code code, size_t count)
{
	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	err->code = code;
	err->word_count = count;
	switch (code) {
	case ZK_BIP39_EMPTY:
		snprintf(err->msg, sizeof(err->msg), "the recovery phrase is empty");
		break;
	case ZK_BIP39_WORD_COUNT:
		snprintf(err->msg, sizeof(err->msg), "expected 12 words (or 15, 18, 21, 24), got %zu", count);
		break;
	case ZK_BIP39_CHECKSUM:
		snprintf(err->msg, sizeof(err->msg),
			 "the checksum does not match: all %zu words are in the list, but one is wrong or they are out "
			 "of order",
			 count);
		break;
	case ZK_BIP39_TOO_LONG:
		snprintf(err->msg, sizeof(err->msg), "the phrase has %zu words, more than expected here", count);
		break;
	default:
		break;
	}
}

static void set_unknown_word(struct zk_bip39_error *err, size_t pos, const unsigned char *w, size_t n, size_t count)
{
	if (!err)
		return;
	set_error(err, ZK_BIP39_UNKNOWN_WORD, count);
	err->word_index = pos;
	quote_word(err->word, sizeof(err->word), w, n);
	const char *s = suggest(w, n);
	if (s) {
		snprintf(err->suggestion, sizeof(err->suggestion), "%s", s);
		snprintf(err->msg, sizeof(err->msg), "word %zu \"%s\" is not in the BIP39 English list (did you mean \"%s\"?)",
			 pos, err->word, err->suggestion);
	} else {
		snprintf(err->msg, sizeof(err->msg), "word %zu \"%s\" is not in the BIP39 English list", pos, err->word);
	}
}

/* ---------------------------------------------------------------- parsing */

static size_t count_words(const unsigned char *s)
{
	size_t n = 0;
	while (*s) {
		while (*s && is_space(*s))
			s++;
		if (!*s)
			break;
		n++;
		while (*s && !is_space(*s))
			s++;
	}
	return n;
}

/* Splits and looks up the words (see zk_bip39_to_entropy for the normalisation); checks the count. */
static int parse_phrase(struct phrase *p, const char *mnemonic, struct zk_bip39_error *err)
{
	const unsigned char *s = (const unsigned char *)mnemonic;
	size_t total = count_words(s), pos = 0;
	p->count = 0;
	while (*s) {
		while (*s && is_space(*s))
			s++;
		if (!*s)
			break;
		const unsigned char *start = s;
		while (*s && !is_space(*s))
			s++;
		pos++;
		int idx = lookup_word(start, (size_t)(s - start));
		if (idx < 0) {
			set_unknown_word(err, pos, start, (size_t)(s - start), total);
			return -1;
		}
		p->idx[p->count++] = (uint16_t)idx;
		if (p->count == MAX_WORDS)
			break; /* more words fail the count anyway: a huge paste costs no more than 24 lookups */
	}
	if (total == 0) {
		set_error(err, ZK_BIP39_EMPTY, 0);
		return -1;
	}
	if (!valid_word_count(total)) {
		set_error(err, ZK_BIP39_WORD_COUNT, total);
		return -1;
	}
	return 0;
}

/* Recovers the entropy of a parsed phrase into ent (room for ZK_BIP39_ENTROPY_MAX) and checks the checksum. */
static int phrase_entropy(unsigned char ent[ZK_BIP39_ENTROPY_MAX], size_t *entlen, const struct phrase *p)
{
	unsigned char bits[BITS_BYTES] = {0};
	unsigned char hash[crypto_hash_sha256_BYTES];
	size_t ent_bytes = p->count * 4 / 3, cs_bits = p->count / 3;
	for (size_t i = 0; i < p->count; i++)
		put11(bits, i, p->idx[i]);
	crypto_hash_sha256(hash, bits, ent_bytes);
	unsigned mask = (0xFFU << (8 - cs_bits)) & 0xFF;
	int ok = ((hash[0] ^ bits[ent_bytes]) & mask) == 0;
	if (ok) {
		memcpy(ent, bits, ent_bytes);
		*entlen = ent_bytes;
	}
	sodium_memzero(bits, sizeof(bits));
	sodium_memzero(hash, sizeof(hash));
	return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- API */

int zk_bip39_from_entropy(char *out, size_t outlen, const unsigned char *entropy, size_t len)
{
	if (!out || !entropy || len < ZK_BIP39_ENTROPY_MIN || len > ZK_BIP39_ENTROPY_MAX || len % 4 != 0)
		return -1;
	unsigned char bits[BITS_BYTES] = {0};
	unsigned char hash[crypto_hash_sha256_BYTES];
	char words[MAX_WORDS][ZK_BIP39_WORD_MAXLEN + 1];
	size_t count = len * 3 / 4, need = 0;
	int rc = -1;

	memcpy(bits, entropy, len);
	crypto_hash_sha256(hash, entropy, len);
	bits[len] = hash[0]; /* only its top len/4 bits are read: the checksum */
	for (size_t i = 0; i < count; i++) {
		select_word(words[i], get11(bits, i));
		need += strlen(words[i]) + 1; /* a space after each word but the last, then the NUL */
	}
	if (need <= outlen) {
		size_t o = 0;
		for (size_t i = 0; i < count; i++) {
			size_t n = strlen(words[i]);
			memcpy(out + o, words[i], n);
			o += n;
			out[o++] = i + 1 < count ? ' ' : '\0';
		}
		rc = 0;
	}
	sodium_memzero(bits, sizeof(bits));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(words, sizeof(words));
	return rc;
}

int zk_bip39_to_entropy(unsigned char *entropy, size_t *len, const char *mnemonic, struct zk_bip39_error *err)
{
	struct phrase p;
	unsigned char ent[ZK_BIP39_ENTROPY_MAX];
	size_t entlen = 0;
	int rc = -1;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!entropy || !len || !mnemonic) {
		set_error(err, ZK_BIP39_EMPTY, 0);
		return -1;
	}
	if (parse_phrase(&p, mnemonic, err) != 0)
		goto out;
	if (phrase_entropy(ent, &entlen, &p) != 0) {
		set_error(err, ZK_BIP39_CHECKSUM, p.count);
		goto out;
	}
	if (entlen > *len) {
		set_error(err, ZK_BIP39_TOO_LONG, p.count);
		goto out;
	}
	memcpy(entropy, ent, entlen);
	*len = entlen;
	rc = 0;
out:
	sodium_memzero(&p, sizeof(p));
	sodium_memzero(ent, sizeof(ent));
	return rc;
}

struct seed_scratch {
	struct phrase p;
	unsigned char ent[ZK_BIP39_ENTROPY_MAX];
	char phrase[ZK_BIP39_MNEMONIC_MAX];
	unsigned char salt[sizeof(SALT_PREFIX) - 1 + ZK_BIP39_PASSPHRASE_MAX];
	unsigned char seed[ZK_BIP39_SEED_BYTES];
};

int zk_bip39_seed(unsigned char seed[ZK_BIP39_SEED_BYTES], const char *mnemonic, const char *passphrase)
{
	if (!seed || !mnemonic)
		return -1;
	if (!passphrase)
		passphrase = "";
	size_t plen = strnlen(passphrase, ZK_BIP39_PASSPHRASE_MAX + 1);
	if (plen > ZK_BIP39_PASSPHRASE_MAX)
		return -1;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)passphrase[i] >= 0x80)
			return -1;

	struct seed_scratch *s = sodium_malloc(sizeof(*s));
	if (!s)
		return -1;
	int rc = -1;
	size_t entlen = 0, o = 0;
	if (parse_phrase(&s->p, mnemonic, NULL) != 0 || phrase_entropy(s->ent, &entlen, &s->p) != 0)
		goto out;
	/* The canonical sentence: list words joined by single spaces. */
	for (size_t i = 0; i < s->p.count; i++) {
		char w[ZK_BIP39_WORD_MAXLEN + 1];
		select_word(w, s->p.idx[i]);
		size_t n = strlen(w);
		if (i > 0)
			s->phrase[o++] = ' ';
		memcpy(s->phrase + o, w, n);
		o += n;
		sodium_memzero(w, sizeof(w));
	}
	memcpy(s->salt, SALT_PREFIX, sizeof(SALT_PREFIX) - 1);
	memcpy(s->salt + sizeof(SALT_PREFIX) - 1, passphrase, plen);

	gnutls_datum_t key = {.data = (unsigned char *)s->phrase, .size = (unsigned)o};
	gnutls_datum_t salt = {.data = s->salt, .size = (unsigned)(sizeof(SALT_PREFIX) - 1 + plen)};
	if (gnutls_pbkdf2(GNUTLS_MAC_SHA512, &key, &salt, PBKDF2_ITERATIONS, s->seed, sizeof(s->seed)) != 0)
		goto out;
	memcpy(seed, s->seed, ZK_BIP39_SEED_BYTES);
	rc = 0;
out:
	sodium_free(s); /* sodium_free wipes before unmapping */
	return rc;
}
