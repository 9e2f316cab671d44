/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmbox: the kernel API changes between the kernels we support, bridged
 * in one place.  Supported: Debian bookworm's 6.1, 6.12 (bookworm-
 * backports, trixie) and 7.x (trixie-backports); 'make check-kernels'
 * builds and tests each.  No other file tests a kernel version: each
 * entry below names the upstream change it bridges, and goes when the
 * oldest supported kernel has it.
 *
 * Where the new API exists on every supported kernel, or the old spelling
 * is a macro we can test for, the preprocessor does it; where a change
 * left nothing to test for, module/Kbuild looks in the kernel's headers
 * (KMBOX_HAVE_*).  No test of LINUX_VERSION_CODE.
 */
#ifndef _KMBOX_COMPAT_H
#define _KMBOX_COMPAT_H

#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/mm.h>
#include <linux/shrinker.h>
#include <linux/slab.h>

/*
 * no_llseek: NULL since 868941b14441 ("fs: remove no_llseek", v6.0), then
 * gone in cb787f4ac0c2 ("[tree-wide] finally take no_llseek out",
 * v6.12).  A NULL ->llseek makes lseek() fail with ESPIPE on every
 * supported kernel, so the old spelling stays meaningful.
 */
#ifndef no_llseek
#define no_llseek NULL
#endif

/*
 * vma->vm_flags is const since bc292ab00f6c ("mm: introduce vma->vm_flags
 * wrapper functions", v6.3): changes go through vm_flags_{set,clear,mod}(),
 * which also assert the mmap lock.  Before it, plain stores.  No macro
 * comes with the wrappers, so module/Kbuild looks for vm_flags_mod() in
 * the kernel's <linux/mm.h> and defines KMBOX_HAVE_VM_FLAGS_MOD (a
 * distribution kernel may have backported them, which a version test
 * would miss).
 */
#ifdef KMBOX_HAVE_VM_FLAGS_MOD
static inline void kmbox_vm_flags_mod(struct vm_area_struct *vma,
				      vm_flags_t set, vm_flags_t clear)
{
	vm_flags_mod(vma, set, clear);
}
#else
static inline void kmbox_vm_flags_mod(struct vm_area_struct *vma,
				      vm_flags_t set, vm_flags_t clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#endif

/*
 * current_umask(): exported from fs/fs_struct.c and declared in
 * <linux/fs.h> on 6.1 and 6.12; an inline in <linux/fs_struct.h> since
 * "fs: inline current_umask() and move it to fs_struct.h" (Mateusz
 * Guzik, lore Message-ID <20251104170448.630414-1-mjguzik@gmail.com>,
 * merged after 6.18, present in 7.x; its commit id was not at hand when
 * this was written).  <linux/fs_struct.h> exists on every supported
 * kernel, so it is simply included above.
 */

/*
 * io_uring commands.  ->uring_cmd came with ee692a21e9bf ("fs,io_uring:
 * add infrastructure for uring-cmd", v5.19): there struct io_uring_cmd
 * and io_uring_cmd_done(cmd, ret, res2) are in <linux/io_uring.h>, and
 * ioucmd->cmd points at the SQE's cmd area.
 *  - fd9b8547bc5c ("io_uring: Pass whole sqe to commands", v6.5) replaced
 *    ioucmd->cmd with ioucmd->sqe (KMBOX_HAVE_UCMD_SQE); sqe->cmd is the
 *    same bytes.  (io_uring_sqe_cmd(), the accessor it added, later
 *    became a macro that takes the type and refuses more than 16 bytes,
 *    with io_uring_sqe128_cmd() for 80: neither spelling exists on every
 *    supported kernel, so the field is read directly.)
 *  - The declarations moved to <linux/io_uring/cmd.h> (v6.7; present in
 *    6.12 and 7.x: KMBOX_HAVE_IO_URING_CMD_H).
 *  - 9d2789ac9d60 ("block/io_uring: pass in issue_flags for uring_cmd
 *    task_work handling", v6.3, and backported to 6.1.y: Debian's 6.1
 *    has it) added issue_flags to io_uring_cmd_done()
 *    (KMBOX_HAVE_UCMD_DONE_FLAGS: io_uring_cmd_done(cmd, ret, res2,
 *    issue_flags));
 *  - 79525b51acc1 ("io_uring: fix nvme's 32b cqes on mixed cq") added
 *    io_uring_cmd_done32() for res2, and ef9f603fd3d4 ("io_uring/cmd: drop
 *    unused res2 param from io_uring_cmd_done()", v6.18) left
 *    io_uring_cmd_done(cmd, ret, issue_flags) (KMBOX_HAVE_UCMD_DONE32).
 * module/Kbuild looks for each in the kernel's headers.
 */
#ifdef KMBOX_HAVE_IO_URING_CMD_H
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/* Bytes of cmd area in a 128-byte SQE (IORING_SETUP_SQE128). */
#define KMBOX_URING_CMD_MAX	80

static inline const void *kmbox_uring_cmd_payload(const struct io_uring_cmd *ioucmd)
{
#ifdef KMBOX_HAVE_UCMD_SQE
	return ioucmd->sqe->cmd;
#else
	return ioucmd->cmd;
#endif
}

static inline void kmbox_uring_cmd_done(struct io_uring_cmd *ioucmd, int ret,
					unsigned int issue_flags)
{
#if defined(KMBOX_HAVE_UCMD_DONE32)
	io_uring_cmd_done(ioucmd, ret, issue_flags);
#elif defined(KMBOX_HAVE_UCMD_DONE_FLAGS)
	io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
#else
	io_uring_cmd_done(ioucmd, ret, 0);
#endif
}

/*
 * Shrinkers.  Until 6.7 a shrinker is a struct of the caller's, given to
 * register_shrinker(shrinker, fmt, ...) (which takes a name since "mm:
 * shrinkers: provide shrinkers with names", v6.0; its commit id was not
 * at hand when this was written) and
 * unregister_shrinker().  c42d50aefd17 ("mm: shrinker: add infrastructure
 * for dynamically allocating shrinker", v6.7) added shrinker_alloc(),
 * shrinker_register() and shrinker_free(), and the same series removed
 * the old calls.  module/Kbuild looks for
 * shrinker_alloc() in <linux/shrinker.h> (KMBOX_HAVE_SHRINKER_ALLOC).
 * Either way kmbox gets a registered shrinker, or NULL when out of memory.
 */
typedef unsigned long (*kmbox_shrink_fn)(struct shrinker *, struct shrink_control *);

#ifdef KMBOX_HAVE_SHRINKER_ALLOC
static inline struct shrinker *kmbox_shrinker_register(kmbox_shrink_fn count,
						       kmbox_shrink_fn scan, const char *name)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	shrinker_register(s);
	return s;
}

static inline void kmbox_shrinker_unregister(struct shrinker *s)
{
	shrinker_free(s);
}
#else
static inline struct shrinker *kmbox_shrinker_register(kmbox_shrink_fn count,
						       kmbox_shrink_fn scan, const char *name)
{
	struct shrinker *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	if (register_shrinker(s, "%s", name)) {
		kfree(s);
		return NULL;
	}
	return s;
}

static inline void kmbox_shrinker_unregister(struct shrinker *s)
{
	unregister_shrinker(s);
	kfree(s);
}
#endif

#endif /* _KMBOX_COMPAT_H */
