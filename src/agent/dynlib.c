/* dynlib.c: load a library on first use and resolve a table of its
 * functions (see dynlib.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"

int de_dynlib_load(const char *soname, const struct de_dynsym *syms, size_t n, void *table,
		   char *err, size_t err_len)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, err_len, "loading %s: %s", soname, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		void *f = dlsym(h, syms[i].name);
		if (!f) {
			snprintf(err, err_len, "%s has no %s", soname, syms[i].name);
			return -ENOENT; /* the handle stays open: harmless, nothing uses it */
		}
		memcpy((char *)table + syms[i].off, &f, sizeof(f));
	}
	return 0;
}
