/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libkmbox: the C library for kmbox mailboxes (/dev/kmbox).
 *
 * The calls follow POSIX mq_*(3): a mailbox is a file descriptor, every
 * call returns -1 and sets errno on failure, deadlines are absolute.  Unlike
 * mq_*, deadlines are on CLOCK_MONOTONIC, so a clock step does not shorten
 * or stretch a wait.
 *
 * The structs of the kernel ABI (<linux/kmbox.h>) are used as they are:
 * struct kmbox_attr for limits and state, struct kmbox_info for module
 * limits, struct kmbox_mmsg for batches.  Only struct kmbox_msginfo and
 * struct kmbox_region belong to the library.
 *
 * Descriptors are close-on-exec unless KMBOX_O_NOCLOEXEC is given, as
 * with mq_open(3) and io_uring_setup(2).
 *
 * Threads and signals: every call is MT-Safe (the library keeps no state
 * of its own; the kernel serialises what shares a mailbox), and every call
 * but kmbox_region_map() and kmbox_region_unmap() (mmap(2), munmap(2)) is
 * AS-Safe: system calls only, no allocation, no lock.  See
 * "Threads, processes and signals" in kmbox(7).
 *
 * Restart rule: no call loops on EINTR.  A signal whose handler was
 * installed with SA_RESTART restarts a blocked call inside the kernel
 * (deadlines are absolute, so a restarted call keeps its deadline); any
 * other handled signal makes the call fail with EINTR, and nothing was
 * sent or received.  See kmbox(7).
 *
 * Overview in kmbox(7), the device in kmbox(4), each call in kmbox_*(3).
 */
#ifndef LIBKMBOX_H
#define LIBKMBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <linux/kmbox.h>

/* The device every kmbox file is opened on. */
#define KMBOX_DEVICE		"/dev/kmbox"

/*
 * The library's version: LIBKMBOX_VERSION of the header a program was
 * compiled with; kmbox_version() returns that of the library it runs with.
 * A minor version adds calls (in a new symbol version node, KMBOX_1.<minor>)
 * and never changes what an older call does; the soname changes only with
 * the major version.
 */
#define LIBKMBOX_VERSION_MAJOR	1
#define LIBKMBOX_VERSION_MINOR	1
#define LIBKMBOX_VERSION_PATCH	0
#define LIBKMBOX_VERSION_NUM(major, minor, patch) \
	(((major) << 16) | ((minor) << 8) | (patch))
#define LIBKMBOX_VERSION	LIBKMBOX_VERSION_NUM(LIBKMBOX_VERSION_MAJOR, \
						     LIBKMBOX_VERSION_MINOR, \
						     LIBKMBOX_VERSION_PATCH)

/*
 * oflag of kmbox_open(), kmbox_create_anon() and kmbox_reopen(): leave the
 * descriptor open across execve(2).  Without it every descriptor the
 * library returns is close-on-exec.  Not an open(2) flag: a bit no
 * architecture's O_* flags use, cleared before the kernel sees oflag.
 */
#define KMBOX_O_NOCLOEXEC	0x40000000

#ifdef __cplusplus
extern "C" {
#endif

/* Declared by <time.h> under POSIX; named here so strict ISO C builds too. */
struct timespec;

/**
 * struct kmbox_msginfo - what a receive learns about a message
 * @prio: the message's priority, 0 .. KMBOX_PRIO_MAX-1
 * @pid: sender's process id in the receiver's pid namespace, 0 if the
 *	sender is not visible there or has exited and been reaped
 * @uid: sender's effective uid, in the receiver's user namespace
 * @gid: sender's effective gid, in the receiver's user namespace
 *	(for a message sent with write(), the sender is the process that
 *	opened the file; see "Sender credentials" in kmbox(7))
 * @send_ns: CLOCK_MONOTONIC time, in nanoseconds, the message was queued
 *	(on the receiver's clock: that of its time namespace)
 * @flags: KMBOX_MSG_* bits; KMBOX_MSG_ZC if the payload is in a slot
 * @len: the message's length: the call's return value, or, when the call
 *	failed with EMSGSIZE, the length the buffer was short of (the
 *	message stays queued; every other field is then 0)
 * @reply_token: a call's request: the token to answer it with
 *	(kmbox_reply() on the same descriptor); 0 for an ordinary message
 * @tag: the message's tag (0 unless its sender gave one: since 1.1)
 * @lost: messages the mailbox dropped, replaced (its overflow policy,
 *	struct kmbox_qos) or let expire since the previous receive on this
 *	descriptor
 *	that reported losses: every receive that fills a kmbox_msginfo
 *	does (since 1.1; 0 with a module without KMBOX_FEAT_POLICY)
 * @__reserved: 0; room for fields of later versions (the library fills
 *	the whole struct, so a program built against an older header, whose
 *	struct is this size, is never written past)
 */
struct kmbox_msginfo {
	unsigned int	prio;
	pid_t		pid;
	uid_t		uid;
	gid_t		gid;
	uint64_t	send_ns;
	unsigned int	flags;
	uint32_t	len;
	uint64_t	reply_token;
	uint64_t	tag;
	uint64_t	lost;
	uint64_t	__reserved[1];
};

/**
 * struct kmbox_region - a mapping of a mailbox's zero-copy region
 * @base: start of the mapping, NULL when not mapped
 * @size: bytes mapped (slot_size * nslots rounded up to a page)
 * @slot_size: bytes per slot
 * @nslots: slots in the region
 * @fd: the mailbox file the region was mapped from (not owned: unmapping
 *	does not close it)
 * @writable: non-zero if mapped PROT_READ|PROT_WRITE (the file was
 *	opened for writing), zero if PROT_READ only
 * @__reserved: 0; room for fields of later versions
 */
struct kmbox_region {
	void		*base;
	size_t		size;
	uint32_t	slot_size;
	uint32_t	nslots;
	int		fd;
	int		writable;
	uint64_t	__reserved[4];
};

/* Setup and administration (cold paths) */

/**
 * kmbox_open() - open, and optionally create, a named mailbox
 * @name: 1..KMBOX_NAME_MAX bytes, no '/'
 * @oflag: O_RDONLY, O_WRONLY or O_RDWR, or-ed with any of O_CREAT,
 *	O_EXCL, O_NONBLOCK, O_CLOEXEC (the default), KMBOX_O_NOCLOEXEC
 *
 * With O_CREAT two more arguments are read, as for mq_open(3):
 * mode_t mode (permission bits 0..0777, the umask is applied) and
 * const struct kmbox_attr *attr (NULL: module defaults; only max_msgs,
 * max_msgsize, zc_slots and zc_slot_size are read; __reserved must be
 * zero).  They are used only if the call creates the mailbox.
 *
 * Return: a file descriptor bound to the mailbox, or -1 and errno:
 * EINVAL (NULL, empty or '/'-containing name, unknown oflag bits, bad
 * access mode, mode above 0777, bad attr), ENAMETOOLONG, ENOENT (no such
 * mailbox), EEXIST, EACCES, ENOSPC, EMFILE, EFAULT, ENODEV (the module
 * is not loaded: no /dev/kmbox, or no driver behind it); other errors of
 * open(2) on /dev/kmbox.
 */
int kmbox_open(const char *name, int oflag, ...);

/**
 * kmbox_unlink() - remove a mailbox's name
 * @name: as for kmbox_open()
 *
 * Files already open on the mailbox keep using it; the name can be
 * created again at once, as a new mailbox.
 *
 * Return: 0, or -1 and errno: EINVAL, ENAMETOOLONG, ENOENT, EACCES
 * (neither the owner nor privileged), ENODEV (module not loaded), other
 * errors of open(2) on /dev/kmbox.
 */
int kmbox_unlink(const char *name);

/**
 * kmbox_create_anon() - create an anonymous mailbox
 * @oflag: O_RDONLY, O_WRONLY or O_RDWR, or-ed with O_NONBLOCK, O_CLOEXEC
 *	(the default), KMBOX_O_NOCLOEXEC
 * @attr: limits as for kmbox_open(), or NULL for module defaults
 *
 * The mailbox has no name and no permission checks; it is shared by
 * fork(2), dup(2) and SCM_RIGHTS and freed when its last file closes.
 * Those share one open file; kmbox_reopen() makes another.
 *
 * Return: a file descriptor, or -1 and errno: EINVAL, ENOSPC, EMFILE,
 * EFAULT, ENODEV, other errors of open(2) on /dev/kmbox.
 */
int kmbox_create_anon(int oflag, const struct kmbox_attr *attr);

/**
 * kmbox_reopen() - another open file on the same mailbox
 * @fd: mailbox file
 * @oflag: O_RDONLY, O_WRONLY or O_RDWR, within @fd's access mode, or-ed
 *	with O_NONBLOCK, O_CLOEXEC (the default), KMBOX_O_NOCLOEXEC
 *
 * Unlike dup(2), the new descriptor is a file of its own: its own
 * O_NONBLOCK, its own zero-copy slots (freed when it closes, whoever else
 * keeps @fd), its own zc_completed; messages it write(2)s carry the
 * caller's credentials.  Give each process that shares an anonymous
 * mailbox a file of its own this way.  Since KMBOX_1.1.
 *
 * Return: a file descriptor, or -1 and errno: EINVAL (bad @oflag),
 * EACCES (@oflag asks for access @fd lacks), EBADF, EBADFD (@fd is not
 * bound), ENOTTY (not a kmbox file, or a module without
 * KMBOX_IOC_REOPEN), EMFILE, ENFILE, ENOMEM.
 */
int kmbox_reopen(int fd, int oflag);

/**
 * kmbox_getattr() - read a mailbox's limits and state
 * @fd: mailbox file
 * @attr: filled in (struct kmbox_attr of <linux/kmbox.h>)
 *
 * zc_held and zc_completed count this file's slots and sends; the rest
 * describes the mailbox.
 *
 * Return: 0, or -1 and errno: EBADF, EBADFD (not bound), ENOTTY (not a
 * kmbox file), EFAULT.
 */
int kmbox_getattr(int fd, struct kmbox_attr *attr);

/**
 * kmbox_stats() - read, and maybe reset, a mailbox's statistics
 * @fd: mailbox file
 * @stats: filled in (struct kmbox_stats of <linux/kmbox.h>): messages and
 *	bytes in and out, hand-offs, waits, the deepest queue and the
 *	histogram of time in queue, since creation or the last reset
 * @flags: 0, or KMBOX_STATS_RESET to zero the counts after reading them
 *	(one step: no message escapes both)
 *
 * Since KMBOX_1.1.
 *
 * Return: 0, or -1 and errno: EINVAL (unknown @flags), EPERM (a reset
 * through a file not open for writing, by somebody who does not own the
 * mailbox), EBADF, EBADFD (not bound), ENOTTY (not a kmbox file, or a
 * module without KMBOX_FEAT_STATS), EFAULT, ENOMEM.
 */
int kmbox_stats(int fd, struct kmbox_stats *stats, unsigned int flags);

/**
 * kmbox_create_anon_qos() - kmbox_create_anon() with an overflow policy
 * @oflag: as kmbox_create_anon()
 * @attr: as kmbox_create_anon()
 * @qos: the mailbox's overflow policy, urgent lane and default time to
 *	live (struct kmbox_qos of <linux/kmbox.h>: policy, urgent_prio,
 *	urgent_room, ttl_ns; the rest 0);
 *	NULL: KMBOX_POLICY_BLOCK, no urgent lane
 *
 * Since KMBOX_1.1.
 *
 * Return: a new descriptor, or -1 and errno as kmbox_create_anon(), and
 * EINVAL for a bad @qos, EFAULT.
 */
int kmbox_create_anon_qos(int oflag, const struct kmbox_attr *attr,
			  const struct kmbox_qos *qos);

/**
 * kmbox_open_qos() - kmbox_open() with O_CREAT and an overflow policy
 * @name: as kmbox_open()
 * @oflag: as kmbox_open(); must hold O_CREAT
 * @mode: permission bits of a mailbox created
 * @attr: limits of a mailbox created, or NULL
 * @qos: policy of a mailbox created (checked, and ignored, if @name
 *	exists already), or NULL
 *
 * Since KMBOX_1.1.
 *
 * Return: a new descriptor, or -1 and errno as kmbox_open(), and EINVAL
 * for a bad @qos or no O_CREAT, EFAULT.
 */
int kmbox_open_qos(const char *name, int oflag, mode_t mode,
		   const struct kmbox_attr *attr, const struct kmbox_qos *qos);

/**
 * kmbox_getqos() - read a mailbox's overflow policy and loss totals
 * @fd: mailbox file
 * @qos: filled in: policy, urgent lane and the totals of messages
 *	dropped, rejected, replaced and expired since creation
 *
 * Since KMBOX_1.1.
 *
 * Return: 0, or -1 and errno: EBADF, EBADFD (not bound), ENOTTY (not a
 * kmbox file, or a module without KMBOX_FEAT_POLICY), EFAULT.
 */
int kmbox_getqos(int fd, struct kmbox_qos *qos);

/**
 * kmbox_info() - read the module's version, features and limits
 * @fd: any /dev/kmbox file, bound or not; -1 to let the library open
 *	(and close) /dev/kmbox itself
 * @info: filled in (struct kmbox_info of <linux/kmbox.h>)
 *
 * Return: 0, or -1 and errno: EBADF, ENOTTY, EFAULT, errors of open(2)
 * on /dev/kmbox.
 */
int kmbox_info(int fd, struct kmbox_info *info);

/**
 * kmbox_version() - the version of the library the program runs with
 *
 * Compare with LIBKMBOX_VERSION_NUM(major, minor, patch).  Since KMBOX_1.1.
 *
 * Return: LIBKMBOX_VERSION of the running library.
 */
unsigned int kmbox_version(void);

/**
 * kmbox_deadline_after() - an absolute deadline @ns nanoseconds from now
 * @abs_timeout: set to CLOCK_MONOTONIC now + @ns (saturated far in the
 *	future), for the calls' abs_timeout arguments
 * @ns: relative timeout, nanoseconds
 *
 * One deadline can then serve a sequence of calls (send a request, wait
 * for the reply) without the sequence taking longer than @ns.  Since
 * KMBOX_1.1.
 *
 * Return: 0, or -1 and errno: EINVAL (@abs_timeout NULL), errors of
 * clock_gettime(2).
 */
int kmbox_deadline_after(struct timespec *abs_timeout, uint64_t ns);

/**
 * kmbox_region_map() - map a mailbox's zero-copy region
 * @fd: mailbox file of a mailbox created with zc_slots != 0, opened
 *	O_RDWR (a sender) or O_RDONLY (a receiver)
 * @r: filled in; r->base is NULL after a failure
 *
 * Maps the region MAP_SHARED, PROT_READ|PROT_WRITE for an O_RDWR file,
 * PROT_READ for an O_RDONLY one.  mmap(2) needs read access, so an
 * O_WRONLY file cannot map: a zero-copy sender opens O_RDWR.  The mapping
 * stays valid after @fd is closed, but slots are reserved and released
 * through a file.
 *
 * Return: 0, or -1 and errno: ENODEV (the mailbox has no region), EACCES
 * (@fd is O_WRONLY), errors of kmbox_getattr() and mmap(2).
 */
int kmbox_region_map(int fd, struct kmbox_region *r);

/**
 * kmbox_region_unmap() - unmap a region mapped by kmbox_region_map()
 * @r: the region; cleared (base NULL, fd -1) on success
 *
 * Does not close r->fd and releases no slot.
 *
 * Return: 0, or -1 and errno: EINVAL (@r is NULL or not mapped).
 */
int kmbox_region_unmap(struct kmbox_region *r);

/**
 * kmbox_slot_ptr() - address of a slot in a mapped region
 * @r: mapped region
 * @slot: slot index
 *
 * Return: r->base + slot * r->slot_size, or NULL if @r is not mapped or
 * @slot is out of range (KMBOX_NO_SLOT included).
 */
static inline void *kmbox_slot_ptr(const struct kmbox_region *r,
				   uint32_t slot)
{
	if (!r || !r->base || slot >= r->nslots)
		return NULL;
	return (char *)r->base + (size_t)slot * r->slot_size;
}

/* Messages (hot paths) */

/**
 * kmbox_send() - queue one message
 * @fd: mailbox file opened for writing
 * @msg: payload
 * @len: payload length, 0..max_msgsize
 * @prio: priority, 0..KMBOX_PRIO_MAX-1; higher is received first
 *
 * Sleeps while the mailbox is full, unless @fd has O_NONBLOCK.
 *
 * Return: 0, or -1 and errno: EAGAIN (full and O_NONBLOCK), EBADF (not
 * open for writing), EBADFD, EINTR, EINVAL (@prio), EMSGSIZE (@len above
 * max_msgsize), ENOBUFS (sender's quota), EFAULT.
 */
int kmbox_send(int fd, const void *msg, size_t len, unsigned int prio);

/**
 * kmbox_timedsend() - kmbox_send() with a deadline
 * @fd: mailbox file opened for writing
 * @msg: payload
 * @len: payload length
 * @prio: priority
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * A send that can proceed at once does, even past the deadline.
 *
 * Return: as kmbox_send(); also ETIMEDOUT, and EINVAL if @abs_timeout has
 * a negative tv_sec or tv_nsec outside 0..999999999 (checked first).
 */
int kmbox_timedsend(int fd, const void *msg, size_t len, unsigned int prio,
		    const struct timespec *abs_timeout);

/**
 * kmbox_receive() - take the next message
 * @fd: mailbox file opened for reading
 * @buf: buffer
 * @len: size of @buf; must hold the message
 * @prio: if not NULL, set to the message's priority
 *
 * Takes the oldest message of the highest priority.  Sleeps while the
 * mailbox is empty, unless @fd has O_NONBLOCK.  A zero-copy message is
 * copied into @buf and its slot freed.
 *
 * Return: the message length (0 for an empty message), or -1 and errno:
 * EAGAIN, EBADF (not open for reading), EBADFD, EINTR, EMSGSIZE (@len
 * shorter than the message, which stays queued: kmbox_receive_info()
 * reports the length needed), EFAULT.
 */
ssize_t kmbox_receive(int fd, void *buf, size_t len, unsigned int *prio);

/**
 * kmbox_timedreceive() - kmbox_receive() with a deadline
 * @fd: mailbox file opened for reading
 * @buf: buffer
 * @len: size of @buf
 * @prio: if not NULL, set to the message's priority
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Return: as kmbox_receive(); also ETIMEDOUT, and EINVAL for a bad
 * @abs_timeout (checked first).
 */
ssize_t kmbox_timedreceive(int fd, void *buf, size_t len, unsigned int *prio,
			   const struct timespec *abs_timeout);

/**
 * kmbox_receive_info() - receive a message with what is known of its sender
 * @fd: mailbox file opened for reading
 * @buf: buffer
 * @len: size of @buf
 * @info: if not NULL, filled in: priority, sender pid/uid/gid, send time,
 *	length; on EMSGSIZE only the length (the size @buf must have)
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Return: as kmbox_timedreceive().
 */
ssize_t kmbox_receive_info(int fd, void *buf, size_t len,
			   struct kmbox_msginfo *info,
			   const struct timespec *abs_timeout);

/**
 * kmbox_send_batch() - queue several messages in one call
 * @fd: mailbox file opened for writing
 * @msgs: entries: buf (set with kmbox_mmsg_prep()), len and prio; slot
 *	with flags = KMBOX_MSG_ZC for a zero-copy entry, else slot and
 *	flags 0
 * @n: entries; more than KMBOX_BATCH_MAX are not looked at
 * @flags: KMBOX_F_NONBLOCK or 0
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Like sendmmsg(2): sleeps (unless non-blocking) only until the first
 * entry can be queued, then queues as many as it can, in order.
 *
 * Return: entries queued (1..@n), or -1 and errno of the first entry;
 * EINVAL also for @n == 0, KMBOX_F_TIMEOUT in @flags, or a bad
 * @abs_timeout.
 */
int kmbox_send_batch(int fd, struct kmbox_mmsg *msgs, unsigned int n,
		     int flags, const struct timespec *abs_timeout);

/**
 * kmbox_receive_batch() - take several messages in one call
 * @fd: mailbox file opened for reading
 * @msgs: entries: in buf and len (buffer size); out len, prio, flags and
 *	slot (KMBOX_NO_SLOT unless flags has KMBOX_MSG_ZC)
 * @n: entries; more than KMBOX_BATCH_MAX are not looked at
 * @flags: KMBOX_F_NONBLOCK, KMBOX_F_ZC (zero-copy messages come back as
 *	slots this file then holds), or 0
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Like recvmmsg(2): sleeps (unless non-blocking) only until a message is
 * queued, then takes as many as are queued, up to @n.
 *
 * Return: entries filled (1..@n), or -1 and errno as kmbox_send_batch().
 */
int kmbox_receive_batch(int fd, struct kmbox_mmsg *msgs, unsigned int n,
			int flags, const struct timespec *abs_timeout);

/**
 * kmbox_receive_batch_lost() - take several messages, and learn what the
 * mailbox lost before them
 * @fd: mailbox file opened for reading
 * @msgs: entries, as kmbox_receive_batch()
 * @n: entries; more than KMBOX_BATCH_MAX are not looked at
 * @flags: as kmbox_receive_batch(): KMBOX_F_NONBLOCK, KMBOX_F_ZC, or 0
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 * @lost: out, when the call returns a count: the messages the mailbox
 *	dropped, refused, replaced or let expire since the previous
 *	loss-reporting receive on this descriptor (this call, or one that
 *	fills a kmbox_msginfo), by cause
 *
 * kmbox_receive_batch() with the losses in band (KMBOX_IOC_RECV_BATCHX).
 * Each loss is reported once, to whichever loss-reporting receive on the
 * descriptor takes a message first; a call that fails reports none and
 * consumes none.  Since 1.1.
 *
 * Return: entries filled (1..@n), or -1 and errno as kmbox_receive_batch();
 * EINVAL also for @lost NULL; ENOTTY from a module without
 * KMBOX_FEAT_BATCH_LOSS (nothing taken).
 */
int kmbox_receive_batch_lost(int fd, struct kmbox_mmsg *msgs, unsigned int n,
			     int flags, const struct timespec *abs_timeout,
			     struct kmbox_loss *lost);

/**
 * kmbox_mmsg_prep() - fill one batch entry
 * @m: entry
 * @buf: payload (send) or buffer (receive)
 * @len: payload length or buffer size (clamped to UINT32_MAX)
 * @prio: priority (send); ignored by receive
 *
 * Sets slot and flags to 0 (a copied message).
 */
static inline void kmbox_mmsg_prep(struct kmbox_mmsg *m, const void *buf,
				   size_t len, unsigned int prio)
{
	m->buf = (__u64)(uintptr_t)buf;
	m->len = (uint64_t)len > UINT32_MAX ? UINT32_MAX : (__u32)len;
	m->prio = prio;
	m->slot = 0;
	m->flags = 0;
}

/* Zero-copy */

/**
 * kmbox_zc_reserve() - take free slots of the region
 * @fd: mailbox file opened for writing, of a mailbox with a region
 * @slots: receives up to @n slot indices, now held by @fd
 * @n: wanted; more than KMBOX_BATCH_MAX are not looked at
 * @flags: KMBOX_F_NONBLOCK or 0
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Sleeps (unless non-blocking) until at least one slot is free.  Write
 * the payload at kmbox_slot_ptr(), then kmbox_zc_send() or
 * kmbox_zc_release() each slot.
 *
 * Return: slots reserved (1..@n), or -1 and errno: EAGAIN, ETIMEDOUT,
 * EINTR, EBADF, EBADFD, EINVAL (no region, @n == 0, bad flags or
 * @abs_timeout), EFAULT.
 */
int kmbox_zc_reserve(int fd, uint32_t *slots, unsigned int n, int flags,
		     const struct timespec *abs_timeout);

/**
 * kmbox_zc_send() - queue the payload written into a reserved slot
 * @fd: the file that reserved @slot
 * @slot: slot index
 * @len: payload length, 0..min(zc_slot_size, max_msgsize)
 * @prio: priority
 * @flags: KMBOX_F_NONBLOCK or 0
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * On success the slot belongs to the mailbox until a receiver releases
 * it: do not touch it again.  On failure @fd still holds it.
 *
 * Return: 0, or -1 and errno as kmbox_timedsend(); EINVAL also for a
 * slot @fd does not hold.
 */
int kmbox_zc_send(int fd, uint32_t slot, size_t len, unsigned int prio,
		  int flags, const struct timespec *abs_timeout);

/**
 * kmbox_zc_receive() - receive a message, zero-copy ones by reference
 * @fd: mailbox file opened for reading
 * @buf: buffer for a copied message (may be NULL with @len 0)
 * @len: size of @buf
 * @info: if not NULL, filled in as by kmbox_receive_info() (on EMSGSIZE,
 *	the length of the copied message @buf was too short for)
 * @slot: set to the message's slot, now held by @fd, or to KMBOX_NO_SLOT
 *	if the message was copied into @buf
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline; NULL: none
 *
 * Read a zero-copy message at kmbox_slot_ptr(region, *slot), then give
 * the slot back with kmbox_zc_release().
 *
 * Return: the message length, or -1 and errno as kmbox_timedreceive();
 * EINVAL also if @slot is NULL.
 */
ssize_t kmbox_zc_receive(int fd, void *buf, size_t len,
			 struct kmbox_msginfo *info, uint32_t *slot,
			 const struct timespec *abs_timeout);

/**
 * kmbox_zc_release() - give back slots held by this file
 * @fd: the file holding them
 * @slots: slot indices, reserved and not sent, or received
 * @n: 1..KMBOX_BATCH_MAX
 *
 * All or nothing: if one slot is not held by @fd, none is released.
 *
 * Return: 0, or -1 and errno: EINVAL (a slot not held, duplicate, @n out
 * of range), EBADF, EBADFD, EFAULT.
 */
int kmbox_zc_release(int fd, const uint32_t *slots, unsigned int n);

/* ---- synchronous messaging (KMBOX_1.1) ------------------------------- */

/**
 * kmbox_send_sync() - send a message and wait until a receiver took it
 * @fd: a mailbox open for writing
 * @msg: payload
 * @len: 0..max_msgsize
 * @prio: 0..KMBOX_PRIO_MAX-1
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline, or NULL
 *
 * Returns once a receiver's receive has returned the message.  At the
 * deadline or a handled signal before any receiver took it, the message
 * is withdrawn (never delivered later).  With O_NONBLOCK it is sent only
 * if a receiver is waiting already.
 *
 * Return: 0, or -1 and errno: EAGAIN, ETIMEDOUT, EINTR, EMSGSIZE, EINVAL,
 * ENOBUFS, EBADF, EBADFD, EFAULT.
 */
int kmbox_send_sync(int fd, const void *msg, size_t len, unsigned int prio,
		    const struct timespec *abs_timeout);

/**
 * kmbox_call() - send a request and wait for its reply
 * @fd: a mailbox open for writing
 * @req: the request's payload
 * @reqlen: its length, 0..max_msgsize
 * @prio: its priority
 * @reply: buffer for the reply
 * @replylen: its size (a longer reply is refused to the replier)
 * @info: NULL, or where the replier's credentials go
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline for the whole call, or
 *	NULL
 *
 * The request is an ordinary message that carries a reply token; a server
 * receives it with kmbox_receive_info() (or kmbox_zc_receive()) and
 * answers with kmbox_reply().
 *
 * Return: the reply's length, or -1 and errno: EPIPE (the server's
 * descriptor closed without answering, or the request was received by a
 * call that cannot report the token, such as read() or kmbox_receive()),
 * ETIMEDOUT, EINTR (a request still queued is withdrawn; one received can
 * no longer be answered), EAGAIN (O_NONBLOCK and no receiver waiting),
 * EMSGSIZE, EINVAL, ENOBUFS, EBADF, EBADFD, EFAULT.
 */
ssize_t kmbox_call(int fd, const void *req, size_t reqlen, unsigned int prio,
		   void *reply, size_t replylen, struct kmbox_msginfo *info,
		   const struct timespec *abs_timeout);

/**
 * kmbox_reply() - answer a call
 * @fd: the descriptor the request was received on
 * @token: kmbox_msginfo.reply_token of that receive
 * @msg: the reply's payload
 * @len: its length
 *
 * Return: 0, or -1 and errno: ENOENT (no unanswered request of this
 * descriptor has @token: never issued, answered already, or its caller
 * gave up), EMSGSIZE (longer than the caller's buffer: the caller keeps
 * waiting; or than max_msgsize), EINVAL, ENOBUFS, EBADFD, EFAULT.
 */
int kmbox_reply(int fd, uint64_t token, const void *msg, size_t len);

/**
 * kmbox_reply_recv() - answer a call and receive the next message, in one
 * system call
 * @fd: the descriptor the request was received on, open for reading
 * @token: in: the token to answer (kmbox_msginfo.reply_token), or 0 for
 *	no reply; out: see below
 * @reply: the reply's payload (not looked at when *@token is 0)
 * @replylen: its length
 * @buf: buffer for the next message
 * @len: size of @buf
 * @info: NULL, or filled in as by kmbox_receive_info()
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline for the receive, or NULL
 *
 * kmbox_reply(), then, only if the reply was delivered,
 * kmbox_receive_info(): a server's loop in one call per request.
 *
 * Return: the next message's length, with *@token set to its token (0 for
 * an ordinary message); or -1 and errno, with *@token left as it was if
 * the reply was not delivered (errno is the reply's, as kmbox_reply(), and
 * nothing was received), or set to 0 if the reply went or there was none
 * (errno is the receive's, as kmbox_receive_info(): the message stays
 * queued).
 */
ssize_t kmbox_reply_recv(int fd, uint64_t *token, const void *reply,
			 size_t replylen, void *buf, size_t len,
			 struct kmbox_msginfo *info,
			 const struct timespec *abs_timeout);

/**
 * kmbox_send_tagged() - kmbox_timedsend() with a tag
 * @fd: a mailbox open for writing
 * @msg: payload
 * @len: 0..max_msgsize
 * @prio: 0..KMBOX_PRIO_MAX-1
 * @tag: the message's tag, any 64-bit value
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline, or NULL
 *
 * Return: as kmbox_timedsend().
 */
int kmbox_send_tagged(int fd, const void *msg, size_t len, unsigned int prio,
		      uint64_t tag, const struct timespec *abs_timeout);

/**
 * kmbox_send_expiring() - kmbox_send_tagged() of a message that expires
 * @fd: a mailbox open for writing
 * @msg: payload
 * @len: 0..max_msgsize
 * @prio: 0..KMBOX_PRIO_MAX-1
 * @tag: the message's tag
 * @expiry: absolute CLOCK_MONOTONIC time from which the message is never
 *	delivered (kmbox_deadline_after() makes one); NULL: the mailbox's
 *	time to live, if it has one
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline of the send, or NULL
 *
 * An expired message is freed unseen and counted (kmbox_getqos(), and
 * kmbox_msginfo.lost of the next receive); one past its time already is
 * counted at once, and the send succeeds.  Since KMBOX_1.1.
 *
 * Return: as kmbox_timedsend(); EINVAL also for a malformed @expiry.
 */
int kmbox_send_expiring(int fd, const void *msg, size_t len, unsigned int prio,
			uint64_t tag, const struct timespec *expiry,
			const struct timespec *abs_timeout);

/**
 * kmbox_receive_match() - receive the first message whose tag matches
 * @fd: a mailbox open for reading
 * @buf: buffer
 * @len: size of @buf
 * @tag: the tag wanted (no bit outside @mask)
 * @mask: the bits of a message's tag compared with @tag: ~0 for exactly
 *	@tag, 0 for any message
 * @info: NULL, or what is known of the message (its tag included)
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline, or NULL
 *
 * Takes the first message, in priority then arrival order, whose
 * tag & @mask == @tag, whatever else is queued; sleeps until one is sent
 * (unless O_NONBLOCK).  The descriptor's filter (kmbox_set_filter()) does
 * not apply.
 *
 * Return: as kmbox_receive_info(); EINVAL also for a @tag with a bit
 * outside @mask.
 */
ssize_t kmbox_receive_match(int fd, void *buf, size_t len, uint64_t tag,
			    uint64_t mask, struct kmbox_msginfo *info,
			    const struct timespec *abs_timeout);

/**
 * kmbox_peek() - copy the next message out and leave it queued
 * @fd: a mailbox open for reading
 * @buf: buffer (NULL with @len 0 to learn the length alone)
 * @len: size of @buf; a longer message is cut (KMBOX_MSG_TRUNC in
 *	@info->flags)
 * @flags: KMBOX_F_NONBLOCK; KMBOX_F_MATCH to look for @tag/@mask rather
 *	than through the descriptor's filter
 * @tag: with KMBOX_F_MATCH, as kmbox_receive_match(); else 0
 * @mask: with KMBOX_F_MATCH, as kmbox_receive_match(); else 0
 * @info: NULL, or what is known of the message
 * @abs_timeout: absolute CLOCK_MONOTONIC deadline, or NULL
 *
 * The message a receive would take now stays where it is.  Sleeps until
 * there is one, like a receive.
 *
 * Return: the message's whole length, or -1 and errno as
 * kmbox_receive_match() (never EMSGSIZE).
 */
ssize_t kmbox_peek(int fd, void *buf, size_t len, int flags, uint64_t tag,
		   uint64_t mask, struct kmbox_msginfo *info,
		   const struct timespec *abs_timeout);

/**
 * kmbox_set_filter() - set the descriptor's receive filter
 * @fd: a mailbox open for reading
 * @tag: the tag wanted (no bit outside @mask)
 * @mask: the bits compared; 0 (and @tag 0) lets every message through
 *
 * Every receive on the open file description that does not bring its own
 * filter, read() and poll() included, then sees only the messages whose
 * tag & @mask == @tag.  A receive already asleep keeps the filter it
 * started with.
 *
 * Return: 0, or -1 and errno: EINVAL, EBADF (not open for reading),
 * EBADFD, EFAULT.
 */
int kmbox_set_filter(int fd, uint64_t tag, uint64_t mask);

/**
 * kmbox_get_filter() - read the descriptor's receive filter
 * @fd: a mailbox open for reading
 * @tag: if not NULL, set to the filter's tag
 * @mask: if not NULL, set to its mask
 *
 * Return: 0, or -1 and errno as kmbox_set_filter().
 */
int kmbox_get_filter(int fd, uint64_t *tag, uint64_t *mask);

#ifdef __cplusplus
}
#endif

#endif /* LIBKMBOX_H */
