/* fuzz_bpfsnap.c: the BPF task iterator's record parser (lib/bpfsnap.c,
 * records of src/bpf/snapshot.h) over arbitrary bytes: it must reject what
 * is malformed (-EPROTO), never read outside the buffer (ASan), and every
 * process it accepts must fill a struct de_proc whose strings lie inside
 * the snapshot and end in NUL. The first byte picks the cgroup v2 flag
 * and the argv cap; the rest is the iterator's output. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpfsnap.h"
#include "proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const char *str)
{
	if (str)
		(void)strlen(str); /* ASan: inside an allocation, NUL-terminated */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || !de_bpfsnap_built())
		return 0;
	bool cgroup_v2 = data[0] & 1;
	uint32_t argv_max = data[0] & 2 ? 65536 : 4096;
	struct de_bpfsnap *s = NULL;
	if (de_bpfsnap_parse(data + 1, size - 1, argv_max, cgroup_v2, &s) < 0)
		return 0;
	struct de_proc *p = malloc(sizeof(*p));
	if (!p) {
		de_bpfsnap_free(s);
		return 0;
	}
	int32_t prev = INT32_MIN;
	for (size_t i = 0; i < de_bpfsnap_count(s); i++) {
		int32_t pid = de_bpfsnap_pid(s, i);
		if (pid <= prev)
			abort(); /* pid order, each once */
		prev = pid;
		unsigned have = de_bpfsnap_fill(s, i, p);
		if (!have)
			continue;
		touch(p->exe);
		touch(p->cwd);
		touch(p->root);
		touch(p->cgroup);
		touch(p->container_id);
		const volatile char *a = p->argv;
		for (size_t k = 0; a && k < p->argv_len; k++)
			(void)a[k];
	}
	free(p);
	de_bpfsnap_free(s);
	return 0;
}
