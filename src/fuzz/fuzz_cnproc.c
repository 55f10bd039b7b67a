/* fuzz_cnproc.c: the process connector parser (collector/cnproc.c) on
 * arbitrary datagrams: every message is walked until the end or an error,
 * and each parsed message is checked for what the parser promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, prev = 0;
	unsigned skipped = 0;
	struct de_cnproc_msg m;
	int r;
	while ((r = de_cnproc_next(data, size, &off, &m, &skipped)) > 0) {
		if (off <= prev || off > size)
			abort(); /* must make progress and stay inside */
		prev = off;
		if (memchr(m.comm, '\0', sizeof(m.comm)) == NULL)
			abort();
		int32_t code, sig;
		de_cnproc_wait_status(m.exit_status, &code, &sig);
		if (code < 0 || code > 255 || sig < 0 || sig > 127)
			abort();
	}
	if (off > size)
		abort();
	return 0;
}
