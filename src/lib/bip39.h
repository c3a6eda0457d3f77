#ifndef ZK_BIP39_H
#define ZK_BIP39_H

/*
 * BIP39 mnemonics, English wordlist only (src/lib/bip39_english.h, from Debian's python3-mnemonic).
 * zkvault makes 12-word phrases from 128-bit entropy; 128..256-bit entropy (12..24 words) is accepted so the
 * official vectors run. Checksum = the first ENT/32 bits of SHA-256(entropy) (libsodium); seed =
 * PBKDF2-HMAC-SHA512 with 2048 iterations (GnuTLS gnutls_pbkdf2). The seed KDF is a wallet parameter, not password
 * hardening: use it only on phrases this code generated from random entropy, never on words a user chose.
 */
#include <stddef.h>

#define ZK_BIP39_ENTROPY_MIN 16
#define ZK_BIP39_ENTROPY_MAX 32
#define ZK_BIP39_SEED_BYTES 64
/* 24 words of at most 8 letters, 23 single spaces, NUL. */
#define ZK_BIP39_MNEMONIC_MAX 216
/* Longest passphrase zk_bip39_seed() takes, in bytes. */
#define ZK_BIP39_PASSPHRASE_MAX 1024

enum zk_bip39_code {
	ZK_BIP39_OK = 0,
	ZK_BIP39_EMPTY,           /* no words at all */
	ZK_BIP39_WORD_COUNT,      /* not 12, 15, 18, 21 or 24 words */
	ZK_BIP39_UNKNOWN_WORD,    /* a word that is not in the list: word_index names it */
	ZK_BIP39_CHECKSUM,        /* every word is known but the checksum does not match */
	ZK_BIP39_TOO_LONG,        /* valid, but more entropy than the caller's buffer holds */
};

/*
 * Why a phrase was refused. msg is one English sentence for the person who typed the phrase, e.g.
 *   word 5 "abandn" is not in the BIP39 English list (did you mean "abandon"?)
 * CAUTION: for ZK_BIP39_UNKNOWN_WORD, word and msg quote (part of) the phrase the user typed, and the suggestion
 * usually is the intended word: they are secret. Show them to that user only; never log them (log code and
 * word_index), and sodium_memzero() the struct when done. Quoted text is cut to 24 bytes and any byte outside
 * printable ASCII is shown as '?', so msg is safe to print on a terminal or put in JSON.
 */
struct zk_bip39_error {
	enum zk_bip39_code code;
	size_t word_index;  /* 1-based position of the bad word (ZK_BIP39_UNKNOWN_WORD), else 0 */
	size_t word_count;  /* number of words found */
	char word[32];      /* the bad word as typed (sanitised), or "" */
	char suggestion[16];  /* closest list word by edit distance (at most 2 edits), or "" */
	char msg[160];
};

/*
 * Entropy (16, 20, 24, 28 or 32 bytes) -> mnemonic: lowercase words joined by single spaces, NUL-terminated.
 * outlen is the size of out; ZK_BIP39_MNEMONIC_MAX always suffices (12 words need at most 108).
 * Returns 0, or -1 (bad length, out too small) leaving out untouched.
 */
int zk_bip39_from_entropy(char *out, size_t outlen, const unsigned char *entropy, size_t len);

/*
 * Mnemonic -> entropy. *len is in/out: on entry the size of entropy (ZK_BIP39_ENTROPY_MAX holds any phrase; 16
 * admits only 12 words), on success the number of bytes written.
 * Normalisation, exactly: words are the maximal runs of bytes other than ASCII whitespace (space, \t, \n, \v, \f,
 * \r); leading, trailing and repeated whitespace is ignored; ASCII A-Z are folded to a-z. Nothing else is changed:
 * a word with any other byte (digit, punctuation, any non-ASCII byte such as a Cyrillic look-alike letter) is an
 * unknown word, and so is a 4-letter prefix ("aban"): only whole list words are accepted.
 * Every word must be in the list (the first that is not is reported; only the first 24 words are looked up), then
 * the count must be 12, 15, 18, 21 or 24, then the checksum must match.
 * Returns 0, or -1 with err (may be NULL) filled and entropy and *len untouched.
 * Word lookups are constant-time over the whole list; the edit-distance suggestion runs only on the error path.
 */
int zk_bip39_to_entropy(unsigned char *entropy, size_t *len, const char *mnemonic, struct zk_bip39_error *err);

/*
 * BIP39 seed = PBKDF2-HMAC-SHA512(password = mnemonic, salt = "mnemonic" || passphrase, 2048, 64 bytes).
 * The mnemonic must be valid (as zk_bip39_to_entropy) and is first normalised as described there, then re-joined
 * with single spaces: so "Abandon  abandon ..." gives the same seed as "abandon abandon ...".
 * BIP39 specifies NFKD for both strings. For the English list NFKD is the identity (every word is ASCII a-z), so the
 * mnemonic needs no normalisation beyond the above. The passphrase (NULL = "") must be ASCII (bytes 0x01..0x7F,
 * at most ZK_BIP39_PASSPHRASE_MAX bytes), where NFKD is also the identity; non-ASCII passphrases are refused
 * rather than risk a seed that other implementations would not reproduce.
 * Returns 0, or -1 (invalid mnemonic — zk_bip39_to_entropy says why —, bad passphrase, GnuTLS or allocation
 * failure) leaving seed untouched. Temporaries (canonical phrase, salt) live in sodium_malloc'd memory and are wiped.
 */
int zk_bip39_seed(unsigned char seed[ZK_BIP39_SEED_BYTES], const char *mnemonic, const char *passphrase);

#endif
