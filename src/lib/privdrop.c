/* privdrop.c: switch to an unprivileged user keeping only named
 * capabilities (see privdrop.h). Uses the raw capget/capset system calls
 * (capability ABI version 3, 64-bit sets): two calls do not justify a
 * library. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "privdrop.h"

static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
	"setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
	"net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
	"sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
	"audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};

int de_caps_format(uint64_t caps, struct de_buf *out)
{
	if (!caps)
		return de_buf_puts(out, "none");
	bool first = true;
	for (unsigned c = 0; c < 64; c++) {
		if (!(caps & DE_CAP_BIT(c)))
			continue;
		if (!first)
			de_buf_putc(out, ',');
		first = false;
		if (c < DE_ARRAY_SIZE(cap_names))
			de_buf_printf(out, "cap_%s", cap_names[c]);
		else
			de_buf_printf(out, "cap_%u", c);
	}
	return out->err;
}

int de_caps_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return de_neg_errno();
	if (effective)
		*effective = d[0].effective | (uint64_t)d[1].effective << 32;
	if (permitted)
		*permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
	if (inheritable)
		*inheritable = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = (uint32_t)caps, .permitted = (uint32_t)caps, .inheritable = 0 },
		{ .effective = (uint32_t)(caps >> 32), .permitted = (uint32_t)(caps >> 32),
		  .inheritable = 0 },
	};
	return syscall(SYS_capset, &h, d) < 0 ? de_neg_errno() : 0;
}

/* The highest capability this kernel knows (bounding-set drops past it
 * fail with EINVAL). */
static unsigned last_cap(void)
{
	char buf[32];
	unsigned v = CAP_LAST_CAP;
	if (de_read_file_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) > 0)
		sscanf(buf, "%u", &v);
	return v < 63 ? v : 63;
}

/* Look the target user up; fall back when it does not exist. */
static int resolve(const struct de_privdrop_opts *o, struct de_privdrop_result *res, char *why,
		   size_t why_len)
{
	const char *names[2] = { o->user ? o->user : "daemoneye",
				 o->fallback_user ? o->fallback_user : "nobody" };
	for (int i = 0; i < 2; i++) {
		char buf[4096];
		struct passwd pw, *found = NULL;
		int rc = getpwnam_r(names[i], &pw, buf, sizeof(buf), &found);
		if (rc != 0 && rc != ENOENT && rc != ESRCH) {
			de_why(why, why_len, "looking up user %s: %s", names[i], strerror(rc));
			return -rc;
		}
		if (!found)
			continue;
		if (pw.pw_uid == 0) {
			de_why(why, why_len, "user %s has uid 0: refusing to run as it", names[i]);
			return -EINVAL;
		}
		res->uid = pw.pw_uid;
		res->gid = pw.pw_gid;
		snprintf(res->user, sizeof(res->user), "%s", names[i]);
		res->fell_back = i == 1;
		return 0;
	}
	de_why(why, why_len, "neither user %s nor %s exists", names[0], names[1]);
	return -ENOENT;
}

int de_privdrop_target(const struct de_privdrop_opts *o, struct de_privdrop_result *res,
		       char *why, size_t why_len)
{
	memset(res, 0, sizeof(*res));
	if (geteuid() == 0)
		return resolve(o, res, why, why_len);
	res->uid = getuid();
	res->gid = getgid();
	struct passwd *pw = getpwuid(res->uid);
	snprintf(res->user, sizeof(res->user), "%s", pw ? pw->pw_name : "?");
	return 0;
}

int de_privdrop(const struct de_privdrop_opts *o, struct de_privdrop_result *res, char *why,
		size_t why_len)
{
	uint64_t keep = o->keep_caps;
	int rc;
	bool root = geteuid() == 0;

	if ((rc = de_privdrop_target(o, res, why, why_len)) < 0)
		return rc;

	/* 1. Bounding set and ambient set (needs CAP_SETPCAP: before the switch). */
	uint64_t eff = 0;
	if (de_caps_get(&eff, NULL, NULL) == 0 && (eff & DE_CAP_BIT(CAP_SETPCAP))) {
		unsigned last = last_cap();
		for (unsigned c = 0; c <= last; c++)
			if (!(keep & DE_CAP_BIT(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
			    errno != EINVAL) {
				de_why(why, why_len, "dropping capability %u from the bounding set: %m", c);
				return de_neg_errno();
			}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		de_why(why, why_len, "clearing ambient capabilities: %m");
		return de_neg_errno();
	}

	/* 2. Groups, gid, uid; keep the permitted set across the uid change. */
	if (root) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
			de_why(why, why_len, "PR_SET_KEEPCAPS: %m");
			return de_neg_errno();
		}
		if (setgroups(1, &res->gid) < 0 || setresgid(res->gid, res->gid, res->gid) < 0 ||
		    setresuid(res->uid, res->uid, res->uid) < 0) {
			de_why(why, why_len, "switching to user %s (%u:%u): %m", res->user,
			       (unsigned)res->uid, (unsigned)res->gid);
			return de_neg_errno();
		}
		res->changed_ids = true;
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}

	/* 3. Exactly the kept capabilities (only those we still have). */
	uint64_t prm = 0;
	if (de_caps_get(NULL, &prm, NULL) < 0) {
		de_why(why, why_len, "capget: %m");
		return de_neg_errno();
	}
	if ((rc = caps_set(keep & prm)) < 0) {
		de_why(why, why_len, "setting capabilities: %s", strerror(-rc));
		return rc;
	}

	/* 4. No way back up through exec. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		de_why(why, why_len, "PR_SET_NO_NEW_PRIVS: %m");
		return de_neg_errno();
	}

	/* 5. Verify. */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	uint64_t e2 = 0, p2 = 0, i2 = 0;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    de_caps_get(&e2, &p2, &i2) < 0) {
		de_why(why, why_len, "verifying the drop: %m");
		return de_neg_errno();
	}
	if (ru != res->uid || eu != res->uid || su != res->uid || rg != res->gid ||
	    eg != res->gid || sg != res->gid) {
		de_why(why, why_len, "verifying the drop: ids are %u/%u/%u:%u/%u/%u", (unsigned)ru,
		       (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg);
		return -EPERM;
	}
	if ((e2 | p2) & ~keep || i2) {
		de_why(why, why_len, "verifying the drop: capabilities 0x%llx remain",
		       (unsigned long long)((e2 | p2 | i2) & ~keep));
		return -EPERM;
	}
	if (res->changed_ids && !(keep & DE_CAP_BIT(CAP_SETUID)) && setuid(0) == 0) {
		de_why(why, why_len, "verifying the drop: setuid(0) still works");
		return -EPERM;
	}
	res->caps = e2;
	return 0;
}
