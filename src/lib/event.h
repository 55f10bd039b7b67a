/* event.h: the process event, as every event source produces it.
 *
 * One struct for every kind of event so that the pipeline (collector ->
 * IPC -> store -> rules) stays generic over event kinds: a new kind is a
 * new enum value plus the fields it needs, never a new pipeline. Sources
 * (src/collector/source.h) fill a struct de_event and hand it to a
 * callback; the event and the strings it points to are valid only for the
 * duration of that callback (copy what must outlive it: de_event_copy).
 *
 * Identity: `entity_id` names the process instance (boot id, pid, start
 * time; see proc.h). For a fork it is the child's and `parent_entity_id`
 * the parent's. An exec keeps the process's entity id (same pid, same start
 * time): the image changes, the instance does not; consumers count images
 * by exec events. Sources that know the start time only as start_boottime
 * (eBPF) convert with de_start_ticks() so the id equals the /proc one.
 *
 * `have` says which optional field groups are valid (DE_EVF_*); a field
 * outside `have` is unknown, never zero-filled guesswork. `partial` means
 * the process was gone before everything could be read (netlink + /proc).
 */
#ifndef DE_EVENT_H
#define DE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"

enum de_event_type {
	DE_EV_EXEC = 1,   /* a process replaced its image (execve) */
	DE_EV_FORK,       /* a new process (thread group) was created */
	DE_EV_EXIT,       /* a process (thread group) ended */
	DE_EV_SNAPSHOT,   /* a process seen alive by a snapshot or resync */
	DE_EV_STATUS,     /* the source itself: started, degraded, drops, resync */
	DE_EV__COUNT
};

/* Which source produced an event (also the forced choice of --source). */
enum de_event_source {
	DE_EVSRC_EBPF = 1,
	DE_EVSRC_NETLINK,
	DE_EVSRC_PROC,
};

/* Optional field groups (de_event.have). */
#define DE_EVF_CREDS    0x0001  /* uid/gid arrays */
#define DE_EVF_LOGINUID 0x0002  /* loginuid, sessionid */
#define DE_EVF_ARGV     0x0004  /* argv, argc, argv_truncated */
#define DE_EVF_FILENAME 0x0008  /* filename (the path given to execve) */
#define DE_EVF_EXE      0x0010  /* exe path, exe_deleted, exe_memfd */
#define DE_EVF_EXE_ID   0x0020  /* exe_dev, exe_ino (and exe_file when from /proc) */
#define DE_EVF_CGROUP   0x0040  /* cgroup_id and/or cgroup path, container id */
#define DE_EVF_EXIT     0x0080  /* exit_code, exit_signal */
#define DE_EVF_HASH     0x0100  /* hashes */
#define DE_EVF_PARENT   0x0200  /* ppid, parent_entity_id */
#define DE_EVF_PROC     0x0400  /* proc: a full struct de_proc (snapshot, netlink enrichment) */
#define DE_EVF_EXE_STAT 0x0800  /* exe_size, exe_mtime_ns, exe_ctime_ns (with DE_EVF_EXE_ID: the
				 * executable's identity as the hash cache keys it, exehash.h) */

/* Status events (DE_EV_STATUS): what happened to the source. */
enum de_status_kind {
	DE_ST_STARTED = 1,  /* source running; detail says which and how */
	DE_ST_DEGRADED,     /* a fallback is in use or a feature is missing; detail says why */
	DE_ST_DROPS,        /* events were lost: drops[] holds counts since the last report */
	DE_ST_RESYNC,       /* a resync snapshot completed; detail has counts */
	DE_ST_STOPPED,
};

struct de_event {
	enum de_event_type type;
	enum de_event_source source;
	uint32_t have;            /* DE_EVF_* */
	bool partial;
	uint64_t seq;             /* assigned by the collector, monotonic per run */
	int64_t time_ns;          /* when it happened, UTC ns since the epoch */

	/* The process (for a fork: the child). Global (init namespace) ids. */
	int32_t pid, tid;         /* tgid and the thread that did it (exec from a thread) */
	int32_t ppid;
	uint64_t start_ticks;     /* since boot, clock ticks: as /proc/PID/stat */
	uint8_t entity_id[DE_ENTITY_ID_LEN];
	uint8_t parent_entity_id[DE_ENTITY_ID_LEN];
	char comm[DE_COMM_MAX];

	uint32_t uid[4], gid[4];  /* DE_ID_REAL, _EFFECTIVE, _SAVED, _FS */
	uint32_t loginuid, sessionid;

	const char *filename;     /* exec: path given to execve */
	const char *argv;         /* NUL-separated, argv_len bytes */
	size_t argv_len;
	uint32_t argc;
	bool argv_truncated;

	const char *exe;
	bool exe_deleted, exe_memfd;
	uint64_t exe_dev, exe_ino;
	uint64_t exe_size;        /* DE_EVF_EXE_STAT: as stat() gives them, times in ns */
	int64_t exe_mtime_ns, exe_ctime_ns;

	uint64_t cgroup_id;
	const char *cgroup;        /* path, when known */
	const char *container_id;  /* NULL when not in a container */

	int32_t exit_code;        /* exit: WEXITSTATUS-style code, valid when exit_signal == 0 */
	int32_t exit_signal;      /* exit: terminating signal, 0 if it exited normally */

	struct de_hashes hashes;  /* DE_EVF_HASH */
	const char *hash_note;    /* why hashes are absent ("deferred", "-EACCES", ...) or NULL */

	const struct de_proc *proc; /* DE_EVF_PROC: full detail, valid during the callback */

	/* DE_EV_STATUS */
	enum de_status_kind status;
	const char *detail;       /* one line, plain text */
	uint64_t drops[DE_EV__COUNT]; /* DE_ST_DROPS: lost events per type since the last report */
	/* drops[0] (no type has the value 0): lost events whose type the
	 * source cannot know (netlink ENOBUFS: only the count is known). */
};

const char *de_event_type_name(enum de_event_type t);     /* "exec", "fork", ... */
const char *de_event_source_name(enum de_event_source s); /* "ebpf", "netlink", "proc" */
const char *de_status_kind_name(enum de_status_kind k);
/* Parse "exec" etc.; returns the type or -EINVAL. */
int de_event_type_parse(const char *s);

/* The executable's identity (exehash.h) into ev: exe_dev, exe_ino and the
 * DE_EVF_EXE_STAT fields, with both flags; and back out of it (false when
 * the event does not carry all of it). */
struct de_file_id;
void de_event_set_exe_file(struct de_event *ev, const struct de_file_id *id);
bool de_event_exe_file(const struct de_event *ev, struct de_file_id *id);

/* Clock ticks since boot from the kernel's start_boottime (ns), the way
 * /proc/PID/stat computes field 22, so both give the same entity id. */
uint64_t de_start_ticks(uint64_t start_boottime_ns);

#endif
