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

#endif /* _KMBOX_COMPAT_H */
