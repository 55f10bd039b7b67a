/* privdrop.h: give up root, keeping only the capabilities a role needs.
 *
 * A daemon role (procmond, the agent) starts as root, opens what needs
 * root (BPF programs, the netlink socket, its state directory), and then
 * calls de_privdrop() before it parses any untrusted data. The drop is
 * all-or-nothing and checked after the fact:
 *   1. the bounding set is cut to `keep_caps` (no later exec or setuid
 *      can get anything else back) and ambient capabilities are cleared;
 *   2. supplementary groups are replaced by the user's group, then gid and
 *      uid (real, effective, saved) switch to the target user;
 *   3. permitted and effective capabilities become exactly `keep_caps`,
 *      inheritable none;
 *   4. no_new_privs is set;
 *   5. it verifies: getresuid/getresgid show the target, capget shows
 *      exactly keep_caps, and setuid(0) fails.
 * The target user is `user` ("daemoneye", created by the install scripts)
 * or, when that user does not exist, `fallback_user` ("nobody"), which the
 * result reports so the caller can warn. Called when not root, it changes
 * no ids, drops every capability not in keep_caps and sets no_new_privs.
 *
 * Which capabilities each role keeps, and why, is in docs/SECURITY.md.
 */
#ifndef DE_PRIVDROP_H
#define DE_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define DE_CAP_BIT(c) (1ull << (c))

struct de_privdrop_opts {
	const char *user;           /* NULL: "daemoneye" */
	const char *fallback_user;  /* NULL: "nobody" */
	uint64_t keep_caps;         /* DE_CAP_BIT(CAP_SYS_PTRACE) | ... */
};

struct de_privdrop_result {
	uid_t uid;
	gid_t gid;
	char user[64];
	bool fell_back;             /* `user` did not exist: running as fallback_user */
	bool changed_ids;           /* false when called without root */
	uint64_t caps;              /* effective = permitted after the drop */
};

/* Returns 0, or a negative errno with a one-line reason in why (the
 * process is then in an unknown state and must exit). */
int de_privdrop(const struct de_privdrop_opts *o, struct de_privdrop_result *res, char *why,
		size_t why_len);

/* Who de_privdrop() would switch to, without changing anything: as root
 * the target user (or the fallback; fell_back says so), otherwise the
 * caller's own ids. Daemons call it before the drop to give their
 * directories to that user and to allow its uid on their sockets.
 * Returns 0 or a negative errno with the reason in why. */
int de_privdrop_target(const struct de_privdrop_opts *o, struct de_privdrop_result *res,
		       char *why, size_t why_len);

/* The capability sets of the calling process (capget). */
int de_caps_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);

/* Append "cap_dac_read_search,cap_sys_ptrace" (or "none") for a mask, for
 * status and logs. Returns 0 or the buffer's error. */
int de_caps_format(uint64_t caps, struct de_buf *out);

#endif
