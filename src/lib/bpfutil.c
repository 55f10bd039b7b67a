/* bpfutil.c: libbpf logging and failure reasons (see bpfutil.h). */
#include "bpfutil.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "exe_id.h"
#include "exehash.h"
#include "log.h"

__attribute__((format(printf, 2, 0)))
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || !getenv("DE_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void de_bpf_quiet_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

void de_bpf_why(char *why, size_t len, const char *what, int err, const char *feature)
{
	const char *hint = "", *tail = "";
	if ((err == -EPERM || err == -EACCES) && geteuid())
		hint = " (needs root)";
	else if (err == -EACCES || err == -EINVAL)
		hint = " (rejected by the kernel's verifier; DE_BPF_DEBUG=1 shows its log)";
	else if (err == -EPERM)
		hint = " (BPF not permitted here)";
	else if (err == -ENOENT || err == -ESRCH || err == -ENOTSUP) {
		hint = " (kernel lacks BTF or ";
		tail = ")";
	}
	de_why(why, len, "%s: %s%s%s%s", what, strerror(-err), hint, *tail ? feature : "", tail);
}

void de_bpf_release_elf(const void *p, size_t n)
{
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t b = ((uintptr_t)p + n) & ~(page - 1);
	if (b > a)
		(void)madvise((void *)a, b - a, MADV_DONTNEED); /* advice: failure changes nothing */
}

void de_bpf_file_id(const struct de_bpf_exe_id *x, struct de_file_id *id)
{
	unsigned maj = (unsigned)(x->dev >> 20), min = (unsigned)(x->dev & 0xfffff);
	*id = (struct de_file_id){
		.dev = makedev(maj, min),
		.ino = x->ino,
		.size = x->size,
		.mtime_ns = (int64_t)((uint64_t)x->mtime_sec * 1000000000u + x->mtime_nsec),
		.ctime_ns = (int64_t)((uint64_t)x->ctime_sec * 1000000000u + x->ctime_nsec),
	};
}
