// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox: kernel-buffered message mailboxes.
 *
 * The misc device /dev/kmbox, its file operations, the module parameters
 * and /proc/kmbox.  The mailbox itself is in mbox.c, message memory in
 * msg.c, naming in names.c, the zero-copy region in region.c, ioctls in
 * ioctl.c, accounting in user.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "kmbox.h"

struct kmbox_params kmbox_params = {
	.default_max_msgs	= 64,
	.default_max_msgsize	= 8192,
	.max_msgs_cap		= 65536,
	.max_msgsize_cap	= 4 << 20,
	.max_mailboxes		= 4096,
	.user_max_mailboxes	= 256,
	.user_quota		= 64UL << 20,
	.region_cap		= 64UL << 20,
};

/*
 * Module parameters.  Each has bounds, checked when it is set, at insmod
 * or through /sys/module/kmbox/parameters/; a value out of range is
 * refused with EINVAL and the old one stays.  The bounds keep every
 * derived size sane: a message is at most 4 MiB (far below INT_MAX), a
 * slot size rounds up to at most 4 MiB, max_msgs + KMBOX_POOL_EXTRA cannot
 * wrap, a region is at most 1 GiB.  A default may not exceed its cap: a
 * write that would break that is refused too, and at insmod (where
 * parameters come in any order) the module refuses to load.
 */
#define KMBOX_MSGS_LIMIT	65536		/* as mqueue's HARD_MSGMAX */
#define KMBOX_MSGSIZE_LIMIT	SZ_4M
#define KMBOX_MAILBOXES_LIMIT	1048576
#define KMBOX_QUOTA_LIMIT	(1024UL * SZ_1G)	/* 1 TiB; 0 = no limit */
#define KMBOX_REGION_LIMIT	SZ_1G		/* 0 = no regions */

/* Set once the relations were checked at load: sets check them from then on. */
static bool kmbox_params_live;

/**
 * struct kmbox_param - one module parameter and its bounds
 * @uint: the value, if an unsigned int
 * @ulong: the value, if an unsigned long
 * @min: smallest value accepted
 * @max: largest value accepted
 * @fits: whether a new value keeps the relations to the other parameters
 *	(called under the parameter lock), or NULL
 */
struct kmbox_param {
	unsigned int *uint;
	unsigned long *ulong;
	unsigned long min;
	unsigned long max;
	bool (*fits)(unsigned long v);
};

static bool kmbox_fits_default_msgs(unsigned long v)
{
	return v <= kmbox_params.max_msgs_cap;
}

static bool kmbox_fits_msgs_cap(unsigned long v)
{
	return v >= kmbox_params.default_max_msgs;
}

static bool kmbox_fits_default_msgsize(unsigned long v)
{
	return v <= kmbox_params.max_msgsize_cap;
}

static bool kmbox_fits_msgsize_cap(unsigned long v)
{
	return v >= kmbox_params.default_max_msgsize;
}

static int kmbox_param_set(const char *val, const struct kernel_param *kp)
{
	const struct kmbox_param *p = kp->arg;
	unsigned long v;

	if (kstrtoul(val, 0, &v) || v < p->min || v > p->max)
		return -EINVAL;
	if (p->fits && kmbox_params_live && !p->fits(v))
		return -EINVAL;
	if (p->uint)
		WRITE_ONCE(*p->uint, v);
	else
		WRITE_ONCE(*p->ulong, v);
	return 0;
}

static int kmbox_param_get(char *buf, const struct kernel_param *kp)
{
	const struct kmbox_param *p = kp->arg;

	return sysfs_emit(buf, "%lu\n", p->uint ? READ_ONCE(*p->uint) : READ_ONCE(*p->ulong));
}

static const struct kernel_param_ops kmbox_param_ops = {
	.set	= kmbox_param_set,
	.get	= kmbox_param_get,
};

static struct kmbox_param kmbox_param_default_max_msgs = {
	.uint = &kmbox_params.default_max_msgs, .min = 1, .max = KMBOX_MSGS_LIMIT,
	.fits = kmbox_fits_default_msgs,
};
module_param_cb(default_max_msgs, &kmbox_param_ops, &kmbox_param_default_max_msgs, 0644);
MODULE_PARM_DESC(default_max_msgs,
		 "Capacity in messages of a mailbox created with max_msgs 0, 1..max_msgs_cap (64)");

static struct kmbox_param kmbox_param_default_max_msgsize = {
	.uint = &kmbox_params.default_max_msgsize, .min = 1, .max = KMBOX_MSGSIZE_LIMIT,
	.fits = kmbox_fits_default_msgsize,
};
module_param_cb(default_max_msgsize, &kmbox_param_ops, &kmbox_param_default_max_msgsize, 0644);
MODULE_PARM_DESC(default_max_msgsize,
		 "Largest message of a mailbox created with max_msgsize 0, 1..max_msgsize_cap (8192)");

static struct kmbox_param kmbox_param_max_msgs_cap = {
	.uint = &kmbox_params.max_msgs_cap, .min = 1, .max = KMBOX_MSGS_LIMIT,
	.fits = kmbox_fits_msgs_cap,
};
module_param_cb(max_msgs_cap, &kmbox_param_ops, &kmbox_param_max_msgs_cap, 0644);
MODULE_PARM_DESC(max_msgs_cap,
		 "Largest max_msgs accepted at creation, default_max_msgs..65536 (65536)");

static struct kmbox_param kmbox_param_max_msgsize_cap = {
	.uint = &kmbox_params.max_msgsize_cap, .min = 1, .max = KMBOX_MSGSIZE_LIMIT,
	.fits = kmbox_fits_msgsize_cap,
};
module_param_cb(max_msgsize_cap, &kmbox_param_ops, &kmbox_param_max_msgsize_cap, 0644);
MODULE_PARM_DESC(max_msgsize_cap,
		 "Largest max_msgsize and zero-copy slot accepted, bytes, default_max_msgsize..4 MiB (4 MiB)");

static struct kmbox_param kmbox_param_max_mailboxes = {
	.uint = &kmbox_params.max_mailboxes, .min = 1, .max = KMBOX_MAILBOXES_LIMIT,
};
module_param_cb(max_mailboxes, &kmbox_param_ops, &kmbox_param_max_mailboxes, 0644);
MODULE_PARM_DESC(max_mailboxes,
		 "Mailboxes alive at once per IPC namespace, 1..1048576; CAP_SYS_RESOURCE exceeds it (4096)");

static struct kmbox_param kmbox_param_user_max_mailboxes = {
	.uint = &kmbox_params.user_max_mailboxes, .min = 1, .max = KMBOX_MAILBOXES_LIMIT,
};
module_param_cb(user_max_mailboxes, &kmbox_param_ops, &kmbox_param_user_max_mailboxes, 0644);
MODULE_PARM_DESC(user_max_mailboxes,
		 "Mailboxes one user may have alive, 1..1048576; CAP_SYS_RESOURCE exceeds it (256)");

static struct kmbox_param kmbox_param_user_quota = {
	.ulong = &kmbox_params.user_quota, .min = 0, .max = KMBOX_QUOTA_LIMIT,
};
module_param_cb(user_quota, &kmbox_param_ops, &kmbox_param_user_quota, 0644);
MODULE_PARM_DESC(user_quota,
		 "Bytes of kernel memory one user may pin, 0..1 TiB; 0 = no limit (64 MiB)");

static struct kmbox_param kmbox_param_region_cap = {
	.ulong = &kmbox_params.region_cap, .min = 0, .max = KMBOX_REGION_LIMIT,
};
module_param_cb(region_cap, &kmbox_param_ops, &kmbox_param_region_cap, 0644);
MODULE_PARM_DESC(region_cap,
		 "Largest zero-copy region of one mailbox, bytes, 0..1 GiB; 0 = none (64 MiB)");

/*
 * At load, once every parameter is in: the defaults within their caps.
 * From then on each write checks it.  Return: 0 or -EINVAL.
 */
static int kmbox_params_init(void)
{
	int ret = 0;

	kernel_param_lock(THIS_MODULE);
	if (kmbox_params.default_max_msgs > kmbox_params.max_msgs_cap) {
		pr_err("default_max_msgs %u is over max_msgs_cap %u\n",
		       kmbox_params.default_max_msgs, kmbox_params.max_msgs_cap);
		ret = -EINVAL;
	}
	if (kmbox_params.default_max_msgsize > kmbox_params.max_msgsize_cap) {
		pr_err("default_max_msgsize %u is over max_msgsize_cap %u\n",
		       kmbox_params.default_max_msgsize, kmbox_params.max_msgsize_cap);
		ret = -EINVAL;
	}
	kmbox_params_live = !ret;
	kernel_param_unlock(THIS_MODULE);
	return ret;
}

struct kmbox_totals kmbox_stats;

static int kmbox_open(struct inode *inode, struct file *file)
{
	struct kmbox_file *kf;

	kf = kzalloc(sizeof(*kf), GFP_KERNEL_ACCOUNT);
	if (!kf)
		return -ENOMEM;
	kf->chain = kmbox_chain_get(file->f_cred,
				    file_ns_capable(file, &init_user_ns, CAP_SYS_RESOURCE));
	if (!kf->chain) {
		kfree(kf);
		return -ENOMEM;
	}
	init_waitqueue_head(&kf->unbound_wait);
	kmbox_tags_file_init(kf);
	file->private_data = kf;
	kf->opener = get_pid(task_tgid(current));
	kf->cred = file->f_cred;
	/* IOCB_NOWAIT is honoured: see kmbox_iocb_nonblock() */
	file->f_mode |= FMODE_NOWAIT;
	return stream_open(inode, file);
}

static int kmbox_release_file(struct inode *inode, struct file *file)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);
	unsigned int i;

	if (mb) {
		for (i = 0; i < kf->nrelays; i++)
			remove_wait_queue(kf->relays[i].head, &kf->relays[i].entry);
		kmbox_tags_file_release(kf);
		kmbox_file_detach(kf);
		kmbox_put(mb);
	}
	kmbox_batch_mem_release(kf);
	kmbox_chain_put(kf->chain);
	put_pid(kf->opener);
	kfree(kf);
	return 0;
}

/* IOCB_NOWAIT (io_uring, RWF_NOWAIT) never sleeps for a message or room. */
static bool kmbox_iocb_nonblock(const struct kiocb *iocb)
{
	return (iocb->ki_filp->f_flags & O_NONBLOCK) || (iocb->ki_flags & IOCB_NOWAIT);
}

/*
 * read(), readv(), io_uring reads: one message per call, scattered over
 * the buffers.  If they hold less than the message, EMSGSIZE and the
 * message stays; if the copy faults, it goes back where it was.
 */
static ssize_t kmbox_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct kmbox_file *kf = iocb->ki_filp->private_data;
	struct kmbox_wait w = { .nonblock = kmbox_iocb_nonblock(iocb) };
	u32 bufsz = min_t(size_t, iov_iter_count(to), U32_MAX);
	struct kmbox_msg *msg;
	u32 need, len;
	int ret;

	if (!kmbox_file_mb(kf))
		return -EBADFD;
	ret = kmbox_recv_many(kf, &msg, &bufsz, 1, false, &w, &need);
	if (ret < 0)
		return ret;
	if (kmbox_msg_copy_to_iter(kf->mb, msg, to)) {
		kmbox_requeue(kf, &msg, 1);
		return -EFAULT;
	}
	len = msg->len;
	/* A call's request read this way fails its caller: no token here. */
	kmbox_consume(kf, &msg, 1, false);
	return len;
}

/*
 * write(), writev(), io_uring writes: one message per call, gathered from
 * all the buffers; its whole length is checked before anything is copied.
 */
static ssize_t kmbox_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct kmbox_file *kf = iocb->ki_filp->private_data;
	struct kmbox_wait w = { .nonblock = kmbox_iocb_nonblock(iocb) };
	size_t count = iov_iter_count(from);
	struct kmbox_msg *msg;
	int ret;

	if (!kmbox_file_mb(kf))
		return -EBADFD;
	if (count > kf->mb->max_msgsize)
		return -EMSGSIZE;
	/* The opener's credentials, not those of whoever writes. */
	msg = kmbox_msg_alloc(kf, count, KMBOX_NO_SLOT, NULL, KMBOX_CREDS_OPENER);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	ret = kmbox_msg_fill(msg, from);
	if (ret) {
		kmbox_msg_free(kf->mb, msg);
		return ret;
	}
	/* Synchronous on a rendezvous mailbox. */
	ret = kmbox_send_msg(kf, msg, &w, false);
	return ret ?: count;
}

/*
 * read() and write(): as kmbox_read_iter() and kmbox_write_iter() for one
 * plain buffer, without a kiocb and an iov_iter on the way (the VFS calls
 * ->read and ->write first when a file has them; readv(), writev(),
 * preadv2() flags and io_uring still take the _iter ones).  The payload of
 * a message that fits a page is inline ("Message layouts" in kmbox.h):
 * copied straight from the user's buffer.
 */
static ssize_t kmbox_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox_wait w = { .nonblock = file->f_flags & O_NONBLOCK };
	u32 bufsz = min_t(size_t, count, U32_MAX);
	struct kmbox_msg *msg;
	u32 need, len;
	int ret;

	if (!kmbox_file_mb(kf))
		return -EBADFD;
	ret = kmbox_recv_many(kf, &msg, &bufsz, 1, false, &w, &need);
	if (ret < 0)
		return ret;
	if (kmbox_copy_out(kf->mb, buf, msg)) {
		kmbox_requeue(kf, &msg, 1);
		return -EFAULT;
	}
	len = msg->len;
	/* A call's request read this way fails its caller: no token here. */
	kmbox_consume(kf, &msg, 1, false);
	return len;
}

static ssize_t kmbox_write(struct file *file, const char __user *buf, size_t count,
			   loff_t *ppos)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox_wait w = { .nonblock = file->f_flags & O_NONBLOCK };
	struct kmbox_msg *msg;
	int ret;

	if (!kmbox_file_mb(kf))
		return -EBADFD;
	if (count > kf->mb->max_msgsize)
		return -EMSGSIZE;
	/* The opener's credentials, not those of whoever writes. */
	msg = kmbox_msg_alloc(kf, count, KMBOX_NO_SLOT, NULL, KMBOX_CREDS_OPENER);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	ret = kmbox_msg_fill_user(msg, buf);
	if (ret) {
		kmbox_msg_free(kf->mb, msg);
		return ret;
	}
	/* Synchronous on a rendezvous mailbox. */
	ret = kmbox_send_msg(kf, msg, &w, false);
	return ret ?: count;
}

/*
 * A relay forwards a wake-up of a mailbox queue, with its key, to the
 * queue the file was polled on before it was bound.
 */
static int kmbox_relay_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
			    void *key)
{
	struct kmbox_file *kf = entry->private;

	wake_up_poll(&kf->unbound_wait, key_to_poll(key));
	return 0;
}

static void kmbox_relay_add(struct kmbox_file *kf, wait_queue_head_t *head)
{
	struct kmbox_relay *relay = &kf->relays[kf->nrelays++];

	init_waitqueue_func_entry(&relay->entry, kmbox_relay_wake);
	relay->entry.private = kf;
	relay->head = head;
	add_wait_queue(head, &relay->entry);
}

/**
 * kmbox_poll_bound() - @kf was just bound: keep its earlier pollers informed
 * @file: the file
 * @kf: its private data, bound by this thread a moment ago
 *
 * Somebody who polled the file while it was unbound (an epoll watch added
 * before KMBOX_IOC_OPEN) waits on @kf->unbound_wait, where the mailbox's
 * events never arrive, and epoll polls a watched file's queues only once,
 * when the watch is added.  So wire the mailbox queues the file's access
 * mode can use to @kf->unbound_wait for the rest of the file's life, and
 * have the pollers look again now.
 */
void kmbox_poll_bound(struct file *file, struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;

	/*
	 * Pairs with smp_mb() in kmbox_poll(): a poller that joined
	 * unbound_wait too late for us to see it sees @kf->mb, and
	 * registers on the mailbox's queues itself.
	 */
	smp_mb();
	/* waitqueue_active() is safe: ordered by the barrier above */
	if (!waitqueue_active(&kf->unbound_wait))
		return;
	if (file->f_mode & FMODE_READ)
		kmbox_relay_add(kf, &mb->rd_wait);
	if (file->f_mode & FMODE_WRITE)
		kmbox_relay_add(kf, &mb->wr_wait);
	wake_up_poll(&kf->unbound_wait, EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM |
			EPOLLWRBAND);
}

/*
 * Poll: the sleeper's side of the wake-up rule at the top of mbox.c.  The
 * file registers on the queues its access mode can use (a read-only file
 * is not woken for room, a write-only one not for messages), then reads
 * the mailbox's words after a full barrier.  An unbound file polls as
 * EPOLLERR, registered on its own queue until it is bound.
 */
static __poll_t kmbox_poll(struct file *file, poll_table *wait)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);

	if (!mb) {
		poll_wait(file, &kf->unbound_wait, wait);
		/* Pairs with smp_mb() in kmbox_poll_bound(). */
		smp_mb();
		mb = kmbox_file_mb(kf);
		if (!mb)
			return EPOLLERR;
	}
	/* A file with a filter waits on a queue of its own (tags.c). */
	if (file->f_mode & FMODE_READ)
		poll_wait(file, kmbox_tags_poll_queue(kf), wait);
	/* EPOLLWRBAND is signalled on wr_wait too: two queues at most. */
	if (file->f_mode & FMODE_WRITE)
		poll_wait(file, &mb->wr_wait, wait);
	/*
	 * poll_wait() unlocks the queue's lock, which orders nothing after
	 * it: the full barrier pairs with the waker's (wq_has_sleeper(),
	 * smp_mb__after_atomic() in kmbox_wake_writers()), so that we see
	 * the new state or the waker sees us on the queue.
	 */
	smp_mb();
	return kmbox_tags_poll(kf, kmbox_poll_mask(mb, file->f_mode));
}

static int kmbox_fasync(int fd, struct file *file, int on)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);

	if (!mb)
		return -EBADFD;
	return fasync_helper(fd, file, on, &mb->fasync);
}

static int kmbox_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);

	if (!mb)
		return -EBADFD;
	return kmbox_region_mmap(mb, vma);
}

static const struct file_operations kmbox_fops = {
	.owner		= THIS_MODULE,
	.open		= kmbox_open,
	.release	= kmbox_release_file,
	.read		= kmbox_read,
	.write		= kmbox_write,
	.read_iter	= kmbox_read_iter,
	.write_iter	= kmbox_write_iter,
	.poll		= kmbox_poll,
	.fasync		= kmbox_fasync,
	.mmap		= kmbox_mmap,
	.unlocked_ioctl	= kmbox_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
	.show_fdinfo	= kmbox_show_fdinfo,
	.uring_cmd	= kmbox_uring_cmd,
};

static struct miscdevice kmbox_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbox",
	.fops	= &kmbox_fops,
	.mode	= 0666,
};

static int kmbox_proc_mailboxes(struct seq_file *m, void *v)
{
	kmbox_list_show(m);
	return 0;
}

static int kmbox_proc_stats(struct seq_file *m, void *v)
{
	kmbox_stats_show(m);
	return 0;
}

static int kmbox_proc_mbstats(struct seq_file *m, void *v)
{
	kmbox_mbstats_show(m);
	return 0;
}

static struct proc_dir_entry *kmbox_proc_dir;

static void kmbox_check_abi(void)
{
	BUILD_BUG_ON(sizeof(struct kmbox_info) != 64);
	BUILD_BUG_ON(sizeof(struct kmbox_attr) != 64);
	BUILD_BUG_ON(sizeof(struct kmbox_open) != 48);
	BUILD_BUG_ON(sizeof(struct kmbox_unlink) != 32);
	BUILD_BUG_ON(sizeof(struct kmbox_send) != 48);
	BUILD_BUG_ON(sizeof(struct kmbox_recv) != 72);
	BUILD_BUG_ON(sizeof(struct kmbox_mmsg) != 24);
	BUILD_BUG_ON(sizeof(struct kmbox_batch) != 40);
	BUILD_BUG_ON(sizeof(struct kmbox_slots) != 40);
	BUILD_BUG_ON(sizeof(struct kmbox_call) != 80);
	BUILD_BUG_ON(sizeof(struct kmbox_reply) != 40);
	BUILD_BUG_ON(sizeof(struct kmbox_reopen) != 16);
	BUILD_BUG_ON(sizeof(struct kmbox_stats) != 112 + 8 * KMBOX_STATS_BUCKETS);
	BUILD_BUG_ON(sizeof(struct kmbox_uring_recv) != 80);
	BUILD_BUG_ON(KMBOX_PRIO_MAX > U32_MAX);
}

static int __init kmbox_init(void)
{
	int ret;

	kmbox_check_abi();
	ret = kmbox_params_init();
	if (ret)
		return ret;
	ret = kmbox_pool_init();
	if (ret)
		return ret;
	kmbox_proc_dir = proc_mkdir("kmbox", NULL);
	if (!kmbox_proc_dir) {
		ret = -ENOMEM;
		goto out_pool;
	}
	if (!proc_create_single("mailboxes", 0444, kmbox_proc_dir, kmbox_proc_mailboxes) ||
	    !proc_create_single("stats", 0444, kmbox_proc_dir, kmbox_proc_stats) ||
	    !proc_create_single("mailbox_stats", 0444, kmbox_proc_dir, kmbox_proc_mbstats)) {
		ret = -ENOMEM;
		goto out_proc;
	}
	ret = misc_register(&kmbox_misc);
	if (ret)
		goto out_proc;
	return 0;

out_proc:
	proc_remove(kmbox_proc_dir);
out_pool:
	kmbox_pool_exit();
	return ret;
}

static void __exit kmbox_exit(void)
{
	misc_deregister(&kmbox_misc);
	proc_remove(kmbox_proc_dir);
	kmbox_names_exit();
	kmbox_users_exit();
	kmbox_pool_exit();
	WARN_ON(atomic_long_read(&kmbox_stats.mailboxes) ||
		atomic_long_read(&kmbox_stats.pool_buffers) ||
		atomic_long_read(&kmbox_stats.messages) ||
		atomic_long_read(&kmbox_stats.bytes) ||
		atomic_long_read(&kmbox_stats.slots_held) ||
		atomic_long_read(&kmbox_stats.region_pages));
}

module_init(kmbox_init);
module_exit(kmbox_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel-buffered message mailboxes");
MODULE_AUTHOR("The kmbox developers");
