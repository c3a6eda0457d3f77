#include "lib/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* pthread_once passes no argument: the library being loaded is handed over under this lock. */
static pthread_mutex_t loading_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zk_dl *loading;

static void load(void)
{
	struct zk_dl *d = loading;
	void *lib = dlopen(d->soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(d->error, sizeof(d->error), "cannot load %s (install the %s package)", d->soname, d->package);
		return;
	}
	/*
	 * POSIX guarantees that a dlsym() result converts to a function pointer; the struct holds only pointers.
	 * A definition already in the global scope comes first: when the program itself links the library (the
	 * tests do, to check against it), a variable such as gfshare_fill_rand lives in the program by copy
	 * relocation and the library's code uses that copy, not the one dlsym(lib) would name.
	 */
	void **slot = d->syms;
	for (size_t i = 0; d->names[i]; i++) {
		if (!(slot[i] = dlsym(RTLD_DEFAULT, d->names[i])) && !(slot[i] = dlsym(lib, d->names[i]))) {
			snprintf(d->error, sizeof(d->error), "%s lacks %s (a newer %s is needed)", d->soname, d->names[i],
				 d->package);
			dlclose(lib);
			return;
		}
	}
	d->result = 0;
}

int zk_dl_load(struct zk_dl *d)
{
	pthread_mutex_lock(&loading_lock);
	loading = d;
	pthread_once(&d->once, load);
	loading = NULL;
	pthread_mutex_unlock(&loading_lock);
	return d->result;
}

const char *zk_dl_error(const struct zk_dl *d)
{
	return d->error;
}
