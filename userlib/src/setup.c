// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libkmbox cold paths: binding files to mailboxes, unlinking, module and
 * mailbox attributes, mapping the zero-copy region.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmbox.h"
#include "lib.h"
#include "syscall.h"

/* oflag bits of a descriptor the library returns */
#define KMBOX_FILE_FLAGS	(O_ACCMODE | O_NONBLOCK | O_CLOEXEC | KMBOX_O_NOCLOEXEC)

static void close_keep_errno(int fd)
{
	int saved = errno;

	sys_close(fd);
	errno = saved;
}

/*
 * open(2) of /dev/kmbox.  A missing node (ENOENT) or a node with no
 * driver behind it (ENXIO, ENODEV) all mean that the module is not
 * loaded: ENODEV, so that ENOENT keeps meaning "no such mailbox".
 */
static int open_device(int flags)
{
	int fd = sys_open_device(KMBOX_DEVICE, flags);

	if (fd < 0 && (errno == ENOENT || errno == ENXIO))
		errno = ENODEV;
	return fd;
}

/* The open(2) flags of a validated @oflag: close-on-exec unless opted out. */
static int file_flags(int oflag)
{
	int flags = oflag & (O_ACCMODE | O_NONBLOCK);

	if (!(oflag & KMBOX_O_NOCLOEXEC))
		flags |= O_CLOEXEC;
	return flags;
}

/*
 * Open /dev/kmbox with the access mode and file flags of @oflag and bind
 * the file with KMBOX_IOC_OPEN; @oflag has been validated by the caller.
 */
static int bind_new_file(int oflag, struct kmbox_open *op)
{
	int fd;

	fd = open_device(file_flags(oflag));
	if (fd < 0)
		return -1;
	if (sys_ioctl(fd, KMBOX_IOC_OPEN, op) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int check_oflag(int oflag, int allowed)
{
	if ((oflag & ~allowed) || (oflag & O_ACCMODE) == O_ACCMODE ||
	    ((oflag & O_CLOEXEC) && (oflag & KMBOX_O_NOCLOEXEC))) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int kmbox_open(const char *name, int oflag, ...)
{
	const struct kmbox_attr *attr = NULL;
	__u32 flags = 0;
	mode_t mode = 0;
	va_list ap;

	if (kmbox_check_name(name) ||
	    check_oflag(oflag, KMBOX_FILE_FLAGS | O_CREAT | O_EXCL))
		return -1;

	if (oflag & O_CREAT) {
		va_start(ap, oflag);
		mode = va_arg(ap, mode_t);
		attr = va_arg(ap, const struct kmbox_attr *);
		va_end(ap);
		if (mode & ~(mode_t)0777) {
			errno = EINVAL;
			return -1;
		}
		flags |= KMBOX_OPEN_CREAT;
		/* As with open(2), O_EXCL means something only with O_CREAT. */
		if (oflag & O_EXCL)
			flags |= KMBOX_OPEN_EXCL;
	}

	struct kmbox_open op = {
		.name = (__u64)(uintptr_t)name,
		.attr = (__u64)(uintptr_t)attr,
		.flags = flags,
		.mode = mode,
	};

	return bind_new_file(oflag, &op);
}

int kmbox_create_anon(int oflag, const struct kmbox_attr *attr)
{
	if (check_oflag(oflag, KMBOX_FILE_FLAGS))
		return -1;

	struct kmbox_open op = {
		.attr = (__u64)(uintptr_t)attr,
		.flags = KMBOX_OPEN_ANON,
		/* not checked for anonymous mailboxes; shown in /proc */
		.mode = 0600,
	};

	return bind_new_file(oflag, &op);
}

int kmbox_create_anon_qos(int oflag, const struct kmbox_attr *attr,
			  const struct kmbox_qos *qos)
{
	if (check_oflag(oflag, KMBOX_FILE_FLAGS))
		return -1;

	struct kmbox_open op = {
		.attr = (__u64)(uintptr_t)attr,
		.flags = KMBOX_OPEN_ANON,
		.mode = 0600,
		.qos = (__u64)(uintptr_t)qos,
	};

	return bind_new_file(oflag, &op);
}

int kmbox_open_qos(const char *name, int oflag, mode_t mode,
		   const struct kmbox_attr *attr, const struct kmbox_qos *qos)
{
	if (kmbox_check_name(name) ||
	    check_oflag(oflag, KMBOX_FILE_FLAGS | O_CREAT | O_EXCL))
		return -1;
	if (!(oflag & O_CREAT) || (mode & ~(mode_t)0777)) {
		errno = EINVAL;
		return -1;
	}

	struct kmbox_open op = {
		.name = (__u64)(uintptr_t)name,
		.attr = (__u64)(uintptr_t)attr,
		.flags = KMBOX_OPEN_CREAT | ((oflag & O_EXCL) ? KMBOX_OPEN_EXCL : 0),
		.mode = mode,
		.qos = (__u64)(uintptr_t)qos,
	};

	return bind_new_file(oflag, &op);
}

int kmbox_getqos(int fd, struct kmbox_qos *qos)
{
	return sys_ioctl(fd, KMBOX_IOC_QOS, qos) < 0 ? -1 : 0;
}

int kmbox_reopen(int fd, int oflag)
{
	if (check_oflag(oflag, KMBOX_FILE_FLAGS))
		return -1;

	struct kmbox_reopen r = {
		.flags = (__u32)file_flags(oflag),
	};

	return sys_ioctl(fd, KMBOX_IOC_REOPEN, &r);
}

/* Run a command that works on any /dev/kmbox file, bound or not. */
static int ioctl_on_device(unsigned long cmd, void *arg)
{
	int fd, ret;

	fd = open_device(O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = sys_ioctl(fd, cmd, arg);
	close_keep_errno(fd);
	return ret;
}

int kmbox_unlink(const char *name)
{
	if (kmbox_check_name(name))
		return -1;

	struct kmbox_unlink ul = {
		.name = (__u64)(uintptr_t)name,
	};

	return ioctl_on_device(KMBOX_IOC_UNLINK, &ul) < 0 ? -1 : 0;
}

int kmbox_getattr(int fd, struct kmbox_attr *attr)
{
	return sys_ioctl(fd, KMBOX_IOC_GETATTR, attr) < 0 ? -1 : 0;
}

int kmbox_stats(int fd, struct kmbox_stats *stats, unsigned int flags)
{
	if (!stats || (flags & ~(unsigned int)KMBOX_STATS_RESET)) {
		errno = EINVAL;
		return -1;
	}
	memset(stats, 0, sizeof(*stats));
	stats->flags = flags;
	return sys_ioctl(fd, KMBOX_IOC_STATS, stats) < 0 ? -1 : 0;
}

int kmbox_info(int fd, struct kmbox_info *info)
{
	int ret;

	if (fd == -1)
		ret = ioctl_on_device(KMBOX_IOC_INFO, info);
	else
		ret = sys_ioctl(fd, KMBOX_IOC_INFO, info);
	return ret < 0 ? -1 : 0;
}

unsigned int kmbox_version(void)
{
	return LIBKMBOX_VERSION;
}

int kmbox_deadline_after(struct timespec *abs_timeout, uint64_t ns)
{
	struct timespec now;
	uint64_t sec;

	if (!abs_timeout) {
		errno = EINVAL;
		return -1;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &now))
		return -1;
	sec = ns / NSEC_PER_SEC;
	now.tv_nsec += (long)(ns % NSEC_PER_SEC);
	if (now.tv_nsec >= NSEC_PER_SEC) {
		now.tv_nsec -= NSEC_PER_SEC;
		sec++;
	}
	/* Saturate: kmbox_deadline() caps whatever is past KTIME_MAX. */
	if (sec > (uint64_t)(KMBOX_TIME_T_MAX - now.tv_sec)) {
		now.tv_sec = KMBOX_TIME_T_MAX;
		now.tv_nsec = NSEC_PER_SEC - 1;
	} else {
		now.tv_sec += (time_t)sec;
	}
	*abs_timeout = now;
	return 0;
}

int kmbox_region_map(int fd, struct kmbox_region *r)
{
	struct kmbox_attr attr;
	size_t page, size;
	int fl, prot;
	void *base;

	if (!r) {
		errno = EINVAL;
		return -1;
	}
	*r = (struct kmbox_region){ .base = NULL, .fd = -1 };

	if (kmbox_getattr(fd, &attr))
		return -1;
	if (!attr.zc_slots || !attr.zc_slot_size) {
		errno = ENODEV;
		return -1;
	}
	fl = sys_getfl(fd);
	if (fl < 0)
		return -1;

	page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size_t)attr.zc_slots * attr.zc_slot_size;
	size = (size + page - 1) & ~(page - 1);

	prot = PROT_READ;
	if ((fl & O_ACCMODE) != O_RDONLY)
		prot |= PROT_WRITE;

	base = sys_mmap(size, prot, fd, (off_t)KMBOX_OFF_REGION);
	if (base == MAP_FAILED)
		return -1;

	*r = (struct kmbox_region){
		.base = base,
		.size = size,
		.slot_size = attr.zc_slot_size,
		.nslots = attr.zc_slots,
		.fd = fd,
		.writable = !!(prot & PROT_WRITE),
	};
	return 0;
}

int kmbox_region_unmap(struct kmbox_region *r)
{
	if (!r || !r->base) {
		errno = EINVAL;
		return -1;
	}
	if (sys_munmap(r->base, r->size))
		return -1;
	*r = (struct kmbox_region){ .base = NULL, .fd = -1 };
	return 0;
}
