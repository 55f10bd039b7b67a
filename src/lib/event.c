/* event.c: names and small conversions for the process event model
 * (event.h). The model itself is a plain struct; nothing here allocates. */
#include <errno.h>
#include <string.h>

#include "event.h"
#include "exehash.h"
#include "macros.h"

static const char *const type_names[DE_EV__COUNT] = {
	[DE_EV_EXEC] = "exec",
	[DE_EV_FORK] = "fork",
	[DE_EV_EXIT] = "exit",
	[DE_EV_SNAPSHOT] = "snapshot",
	[DE_EV_STATUS] = "status",
};

const char *de_event_type_name(enum de_event_type t)
{
	return (unsigned)t < DE_EV__COUNT && type_names[t] ? type_names[t] : "unknown";
}

int de_event_type_parse(const char *s)
{
	for (unsigned t = 1; t < DE_EV__COUNT; t++)
		if (strcmp(s, type_names[t]) == 0)
			return (int)t;
	return -EINVAL;
}

const char *de_event_source_name(enum de_event_source s)
{
	switch (s) {
	case DE_EVSRC_EBPF: return "ebpf";
	case DE_EVSRC_NETLINK: return "netlink";
	case DE_EVSRC_PROC: return "proc";
	}
	return "unknown";
}

const char *de_status_kind_name(enum de_status_kind k)
{
	switch (k) {
	case DE_ST_STARTED: return "started";
	case DE_ST_DEGRADED: return "degraded";
	case DE_ST_DROPS: return "drops";
	case DE_ST_RESYNC: return "resync";
	case DE_ST_STOPPED: return "stopped";
	}
	return "unknown";
}

/* /proc/PID/stat field 22 is nsec_to_clock_t(start_boottime) with
 * USER_HZ = 100 on every Linux architecture: ns / 10,000,000. */
uint64_t de_start_ticks(uint64_t start_boottime_ns)
{
	return start_boottime_ns / 10000000u;
}

void de_event_set_exe_file(struct de_event *ev, const struct de_file_id *id)
{
	ev->exe_dev = id->dev;
	ev->exe_ino = id->ino;
	ev->exe_size = id->size;
	ev->exe_mtime_ns = id->mtime_ns;
	ev->exe_ctime_ns = id->ctime_ns;
	ev->have |= DE_EVF_EXE_ID | DE_EVF_EXE_STAT;
}

bool de_event_exe_file(const struct de_event *ev, struct de_file_id *id)
{
	if ((ev->have & (DE_EVF_EXE_ID | DE_EVF_EXE_STAT)) != (DE_EVF_EXE_ID | DE_EVF_EXE_STAT))
		return false;
	*id = (struct de_file_id){ .dev = ev->exe_dev, .ino = ev->exe_ino, .size = ev->exe_size,
				   .mtime_ns = ev->exe_mtime_ns, .ctime_ns = ev->exe_ctime_ns };
	return true;
}
