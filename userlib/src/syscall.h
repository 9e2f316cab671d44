/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * The only place libkmbox enters the kernel.
 *
 * Each wrapper is the libc call itself and keeps its convention (-1 and
 * errno), because the whole library reports errors that way, like mq_*.
 * None of them retries on EINTR: see the restart rule in kmbox(7).
 * Keeping every entry in one file makes it easy to audit what the library
 * does to a descriptor, and to trace or fake the kernel in a test.
 */
#ifndef KMBOX_SRC_SYSCALL_H
#define KMBOX_SRC_SYSCALL_H

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

static inline int sys_open_device(const char *path, int flags)
{
	return open(path, flags);
}

static inline int sys_close(int fd)
{
	return close(fd);
}

static inline int sys_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg);
}

static inline int sys_getfl(int fd)
{
	return fcntl(fd, F_GETFL);
}

static inline void *sys_mmap(size_t len, int prot, int fd, off_t off)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, off);
}

static inline int sys_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}

#endif /* KMBOX_SRC_SYSCALL_H */
