/* dynlib.h: a library the agent loads only when a feature needs it.
 *
 * The alert sinks' transports (libcurl for webhooks, libssl for TLS
 * syslog) are dlopen()ed when the first sink that needs one opens instead
 * of being linked: a linked library is mapped and relocated in every
 * daemoneye process (procmond and `ps` included), which costs RSS even when
 * no sink is configured. A user fills a table of function pointers once
 * (under pthread_once) and reads it after.
 */
#ifndef DE_DYNLIB_H
#define DE_DYNLIB_H

#include <stddef.h>

/* One function to resolve: its name and where its pointer goes in the
 * caller's table. */
struct de_dynsym {
	const char *name;
	size_t off;
};
#define DE_DYNSYM(table_type, field, name) { name, offsetof(table_type, field) }

/* dlopen(soname) (RTLD_NOW | RTLD_LOCAL) and store every symbol's address
 * at table + off. 0, or -ENOENT with "loading SONAME: ..." / "SONAME has
 * no NAME" in err. The handle is never closed (the functions stay in use
 * until exit). */
int de_dynlib_load(const char *soname, const struct de_dynsym *syms, size_t n, void *table,
		   char *err, size_t err_len);

#endif
