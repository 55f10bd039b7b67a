/* exe_id.h: an executable's identity as the kernel holds it (device,
 * inode, size, modification and change times), recorded the same way by
 * both BPF programs: the exec event (events.bpf.c, the file execve opened)
 * and the task-iterator snapshot (snapshot.bpf.c, mm->exe_file). It is
 * what the executable-hash cache keys on (struct de_file_id, exehash.h),
 * so user space finds a cached hash without a stat() of its own;
 * de_bpf_file_id() (bpfutil.h) converts it.
 *
 * dev is the kernel's internal dev_t encoding (major << 20 | minor), not
 * stat()'s. Times come from the inode as the running kernel lays it out
 * (CO-RE variants in vmlinux_min.h: 6.11+, 6.6 to 6.10, older).
 */
#ifndef DE_BPF_EXE_ID_H
#define DE_BPF_EXE_ID_H

#ifndef __bpf__
#include <linux/types.h>
#endif

struct de_bpf_exe_id {
	__u64 dev, ino, size;
	__s64 mtime_sec, ctime_sec;
	__u32 mtime_nsec, ctime_nsec;
};

#ifdef __bpf__
/* Fill x from inode ino (vmlinux_min.h and bpf_core_read.h included first). */
static __always_inline void de_bpf_read_exe_id(struct inode *ino, struct de_bpf_exe_id *x)
{
	x->ino = ino->i_ino;
	struct super_block *sb = ino->i_sb;
	x->dev = sb ? sb->s_dev : 0;
	x->size = (__u64)ino->i_size;
	if (bpf_core_field_exists(((struct inode___v611 *)0)->i_mtime_sec)) {
		struct inode___v611 *i = (void *)ino;
		x->mtime_sec = i->i_mtime_sec;
		x->mtime_nsec = i->i_mtime_nsec;
		x->ctime_sec = i->i_ctime_sec;
		/* bit 31 is I_CTIME_QUERIED (multigrain timestamps, 6.13+) */
		x->ctime_nsec = i->i_ctime_nsec & 0x7fffffffu;
	} else {
		struct inode___v66 *n = (void *)ino;
		struct inode___old *o = (void *)ino;
		if (bpf_core_field_exists(n->__i_mtime)) {
			x->mtime_sec = n->__i_mtime.tv_sec;
			x->mtime_nsec = (__u32)n->__i_mtime.tv_nsec;
		} else {
			x->mtime_sec = o->i_mtime.tv_sec;
			x->mtime_nsec = (__u32)o->i_mtime.tv_nsec;
		}
		if (bpf_core_field_exists(n->__i_ctime)) {
			x->ctime_sec = n->__i_ctime.tv_sec;
			x->ctime_nsec = (__u32)n->__i_ctime.tv_nsec;
		} else {
			x->ctime_sec = o->i_ctime.tv_sec;
			x->ctime_nsec = (__u32)o->i_ctime.tv_nsec;
		}
	}
}
#endif

#endif
