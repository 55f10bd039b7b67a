/* evsink.h: a test sink for event sources: copies every event it receives
 * (the fields the source tests check, strings duplicated) so tests can
 * look them up by type and pid after dispatching. Test code only. */
#ifndef DE_TEST_EVSINK_H
#define DE_TEST_EVSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* A copy of what the tests look at in one event. */
struct rec {
	enum de_event_type type;
	uint32_t have;
	int32_t pid, tid, ppid;
	uint8_t id[DE_ENTITY_ID_LEN], pid_id[DE_ENTITY_ID_LEN];
	uint64_t start_ticks;
	uint32_t uid[4], gid[4];
	uint32_t loginuid, sessionid;
	uint64_t cgroup_id;
	char comm[DE_COMM_MAX];
	char *argv;
	size_t argv_len;
	uint32_t argc;
	bool argv_truncated;
	char *filename;
	uint64_t exe_dev, exe_ino;
	bool have_exe_file;          /* DE_EVF_EXE_ID and DE_EVF_EXE_STAT */
	struct de_file_id exe_file;
	int32_t exit_code, exit_signal;
	enum de_status_kind status;
	uint64_t drops[DE_EV__COUNT];
};

struct sink {
	struct rec *r;
	size_t n, cap;
	size_t snapshots;
	bool snap_self; /* a snapshot event for this test process, with detail */
};

/* A de_event_sink_fn: ud is a struct sink. Returns 0 or -ENOMEM. */
int de_test_sink_event(const struct de_event *ev, void *ud);
void de_test_sink_free(struct sink *k);
/* The first event of that type for that pid, or NULL; how many there are. */
const struct rec *de_test_find(const struct sink *k, enum de_event_type type, int32_t pid);
size_t de_test_count(const struct sink *k, enum de_event_type type, int32_t pid);

#endif
