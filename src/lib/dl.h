#ifndef ZK_DL_H
#define ZK_DL_H

#include <pthread.h>
#include <stddef.h>

/*
 * A shared library loaded on first use, with dlopen(). Every library linked normally is mapped, relocated and
 * initialised in each vault process at start, whether the process ever calls it or not; with thousands of
 * vaults on a machine that is start-up time and resident memory each of them pays. The libraries only a rare
 * path needs (libcurl for /use and OAuth, libgfshare for Shamir shares, liboath for base32, libqrencode for the
 * terminal QR code, libargon2 for the OCMT import) are loaded here instead.
 *
 * A user lists the symbols it needs in an X-macro; ZK_DL_DEFINE makes a struct of typed pointers named after
 * them and the struct zk_dl that fills it:
 *
 *	#define GF_SYMBOLS(X) X(gfshare_ctx_init_enc) X(gfshare_ctx_free)
 *	ZK_DL_DEFINE(gf, "libgfshare.so.2", "libgfshare2", GF_SYMBOLS);
 *
 *	if (zk_dl_load(&gf_dl) != 0) ... zk_dl_error(&gf_dl) says why ...
 *	gf.gfshare_ctx_free(ctx);
 *
 * The library is opened RTLD_LOCAL (its symbols stay out of the global namespace) once per process; later
 * calls return the first result, and it is safe to call from several threads.
 */
#define ZK_DL_POINTER(name) __typeof__(name) *name;
#define ZK_DL_NAME(name) #name,

struct zk_dl {
	const char *soname;
	const char *package;	  /* the Debian package that ships it, for the error message */
	const char *const *names; /* NULL-terminated */
	void *syms;		  /* a struct of as many pointers as names, in their order */
	pthread_once_t once;
	int result;
	char error[160];
};

#define ZK_DL(soname, package, names, syms) { (soname), (package), (names), (syms), PTHREAD_ONCE_INIT, -1, "" }

#define ZK_DL_DEFINE(var, soname, package, SYMBOLS)                                                            \
	static struct {                                                                                        \
		SYMBOLS(ZK_DL_POINTER)                                                                         \
	} var;                                                                                                 \
	static const char *const var##_names[] = { SYMBOLS(ZK_DL_NAME) NULL };                                 \
	static struct zk_dl var##_dl = ZK_DL(soname, package, var##_names, &var)

int zk_dl_load(struct zk_dl *d);
/* After zk_dl_load failed: why. */
const char *zk_dl_error(const struct zk_dl *d);

#endif
