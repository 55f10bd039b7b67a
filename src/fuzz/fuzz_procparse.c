/* fuzz_procparse.c: every /proc text parser on arbitrary bytes.
 * The first input byte picks the parser; the rest is the file content. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "procparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *buf = (const char *)data + 1;
	size_t n = size - 1;
	switch (data[0] % 7) {
	case 0: {
		struct de_stat st;
		de_parse_stat(buf, n, &st);
		break;
	}
	case 1: {
		uint32_t groups[8];
		struct de_status st = { .groups = groups, .groups_cap = 8 };
		de_parse_status(buf, n, &st);
		break;
	}
	case 2: {
		struct de_io io;
		de_parse_io(buf, n, &io);
		break;
	}
	case 3: {
		uint64_t v;
		de_parse_u64_file(buf, n, &v);
		break;
	}
	case 4: {
		char path[256], id[65];
		const char *rt;
		if (de_parse_cgroup(buf, n, path, sizeof(path)) >= 0)
			de_container_id(path, id, &rt);
		break;
	}
	case 5: {
		char path[4096];
		bool del, memfd;
		size_t len = n < sizeof(path) - 1 ? n : sizeof(path) - 1;
		memcpy(path, buf, len);
		path[len] = '\0';
		size_t plen = strnlen(path, len);
		size_t kept = de_exe_classify_links(path, plen, true, len & 1, &del, &memfd);
		if (kept > plen || path[kept] != '\0')
			__builtin_trap(); /* the name kept is a C string within the input */
		break;
	}
	default:
		de_cmdline_argc(buf, n);
		break;
	}
	return 0;
}
