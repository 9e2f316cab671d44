/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libkmbox internals shared by setup.c and queue.c: argument checks done
 * before the kernel is asked, so that bad input fails the same way whether
 * or not the module is loaded.
 */
#ifndef KMBOX_SRC_LIB_H
#define KMBOX_SRC_LIB_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kmbox.h"

#define NSEC_PER_SEC	1000000000LL

/* The largest time_t: it is signed, of 32 or 64 bits. */
#define KMBOX_TIME_T_MAX \
	((time_t)(sizeof(time_t) == 8 ? INT64_MAX : INT32_MAX))

/*
 * Largest deadline handed to the kernel: KTIME_MAX, so that a kernel
 * converting deadline_ns to ktime_t (s64) never sees a negative, already
 * passed, time.  Later deadlines are "never" for any practical purpose.
 */
#define KMBOX_DEADLINE_MAX	((__u64)INT64_MAX)

/**
 * kmbox_check_name() - validate a mailbox name as the kernel would
 * @name: candidate
 *
 * Return: 0, or -1 and errno EINVAL (NULL, empty, contains '/') or
 * ENAMETOOLONG (more than KMBOX_NAME_MAX bytes).  Length is checked before
 * '/', as the kernel does after copying the name in.
 */
static inline int kmbox_check_name(const char *name)
{
	size_t len;

	if (!name) {
		errno = EINVAL;
		return -1;
	}
	len = strnlen(name, KMBOX_NAME_MAX + 1);
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (len > KMBOX_NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (memchr(name, '/', len)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/**
 * kmbox_deadline() - turn an optional timespec into uapi flags + deadline
 * @ts: absolute CLOCK_MONOTONIC time, or NULL for none
 * @flags: KMBOX_F_TIMEOUT is or-ed in when @ts is given
 * @deadline_ns: set to the deadline in ns (saturated at
 *	KMBOX_DEADLINE_MAX), or 0 when @ts is NULL
 *
 * Return: 0, or -1 and errno EINVAL for tv_sec < 0 or tv_nsec outside
 * [0, 1e9).
 */
static inline int kmbox_deadline(const struct timespec *ts, __u32 *flags,
				 __u64 *deadline_ns)
{
	if (!ts) {
		*deadline_ns = 0;
		return 0;
	}
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= NSEC_PER_SEC) {
		errno = EINVAL;
		return -1;
	}
	if ((__u64)ts->tv_sec >
	    (KMBOX_DEADLINE_MAX - (NSEC_PER_SEC - 1)) / NSEC_PER_SEC)
		*deadline_ns = KMBOX_DEADLINE_MAX;
	else
		*deadline_ns = (__u64)ts->tv_sec * NSEC_PER_SEC +
			       (__u64)ts->tv_nsec;
	*flags |= KMBOX_F_TIMEOUT;
	return 0;
}

/**
 * kmbox_check_flags() - reject flags the library sets itself
 * @flags: caller's flags
 *
 * KMBOX_F_TIMEOUT comes from the abs_timeout argument, never from the
 * caller.  Other bits go to the kernel, which rejects the ones it does not
 * know, so a newer module's flags work without a newer library.
 *
 * Return: 0, or -1 and errno EINVAL.
 */
static inline int kmbox_check_flags(int flags)
{
	if ((unsigned int)flags & KMBOX_F_TIMEOUT) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/*
 * Lengths travel as __u32.  The casts to uint64_t keep the comparisons
 * meaningful, and warning-free, where size_t is 32 bits.
 */
static inline int kmbox_len_too_big(size_t len)
{
	return (uint64_t)len > UINT32_MAX;
}

/* Buffer sizes beyond __u32 are clamped: no message is that large. */
static inline __u32 kmbox_clamp_len(size_t len)
{
	return kmbox_len_too_big(len) ? UINT32_MAX : (__u32)len;
}

#endif /* KMBOX_SRC_LIB_H */
