// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox: kernel-buffered message mailboxes.
 *
 * The misc device /dev/kmbox, its file operations, the module parameters
 * and /proc/kmbox.  The mailbox itself is in mbox.c, naming in names.c,
 * the zero-copy region in region.c, ioctls in ioctl.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

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

module_param_named(default_max_msgs, kmbox_params.default_max_msgs, uint, 0644);
MODULE_PARM_DESC(default_max_msgs, "Capacity in messages of a mailbox created with max_msgs 0 (64)");
module_param_named(default_max_msgsize, kmbox_params.default_max_msgsize, uint, 0644);
MODULE_PARM_DESC(default_max_msgsize, "Largest message of a mailbox created with max_msgsize 0 (8192)");
module_param_named(max_msgs_cap, kmbox_params.max_msgs_cap, uint, 0644);
MODULE_PARM_DESC(max_msgs_cap, "Largest max_msgs accepted at creation (65536)");
module_param_named(max_msgsize_cap, kmbox_params.max_msgsize_cap, uint, 0644);
MODULE_PARM_DESC(max_msgsize_cap, "Largest max_msgsize and zero-copy slot accepted, bytes (4 MiB)");
module_param_named(max_mailboxes, kmbox_params.max_mailboxes, uint, 0644);
MODULE_PARM_DESC(max_mailboxes, "Mailboxes alive at once per IPC namespace; CAP_SYS_RESOURCE exceeds it (4096)");
module_param_named(user_max_mailboxes, kmbox_params.user_max_mailboxes, uint, 0644);
MODULE_PARM_DESC(user_max_mailboxes, "Mailboxes one user may have alive; CAP_SYS_RESOURCE exceeds it (256)");
module_param_named(user_quota, kmbox_params.user_quota, ulong, 0644);
MODULE_PARM_DESC(user_quota, "Bytes of kernel memory one user may pin; 0 = no limit (64 MiB)");
module_param_named(region_cap, kmbox_params.region_cap, ulong, 0644);
MODULE_PARM_DESC(region_cap, "Largest zero-copy region of one mailbox, bytes (64 MiB)");

struct kmbox_stats kmbox_stats;

static int kmbox_open(struct inode *inode, struct file *file)
{
	struct kmbox_file *kf;

	kf = kzalloc(sizeof(*kf), GFP_KERNEL_ACCOUNT);
	if (!kf)
		return -ENOMEM;
	kf->user = kmbox_user_get(file->f_cred->euid);
	if (!kf->user) {
		kfree(kf);
		return -ENOMEM;
	}
	kf->exempt = file_ns_capable(file, &init_user_ns, CAP_SYS_RESOURCE);
	file->private_data = kf;
	return stream_open(inode, file);
}

static int kmbox_release_file(struct inode *inode, struct file *file)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);

	if (mb) {
		kmbox_file_detach(kf);
		kmbox_put(mb);
	}
	kmbox_user_put(kf->user);
	kfree(kf);
	return 0;
}

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
	msg = kmbox_prepare(kf, buf, count, 0, false, 0, NULL);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	ret = kmbox_send_many(kf, &msg, 1, &w);
	if (ret < 0) {
		kmbox_msg_free(kf->mb, msg);
		return ret;
	}
	return count;
}

static __poll_t kmbox_poll(struct file *file, poll_table *wait)
{
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);

	if (!mb)
		return EPOLLERR;
	poll_wait(file, &mb->rd_wait, wait);
	poll_wait(file, &mb->wr_wait, wait);
	if (mb->region)
		poll_wait(file, &mb->zc_wait, wait);
	return kmbox_poll_mask(mb, file->f_mode);
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
	.poll		= kmbox_poll,
	.fasync		= kmbox_fasync,
	.mmap		= kmbox_mmap,
	.unlocked_ioctl	= kmbox_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
	.show_fdinfo	= kmbox_show_fdinfo,
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
	BUILD_BUG_ON(KMBOX_PRIO_MAX > U32_MAX);
}

static int __init kmbox_init(void)
{
	int ret;

	kmbox_check_abi();
	kmbox_proc_dir = proc_mkdir("kmbox", NULL);
	if (!kmbox_proc_dir)
		return -ENOMEM;
	if (!proc_create_single("mailboxes", 0444, kmbox_proc_dir, kmbox_proc_mailboxes) ||
	    !proc_create_single("stats", 0444, kmbox_proc_dir, kmbox_proc_stats)) {
		ret = -ENOMEM;
		goto out_proc;
	}
	ret = misc_register(&kmbox_misc);
	if (ret)
		goto out_proc;
	return 0;

out_proc:
	proc_remove(kmbox_proc_dir);
	return ret;
}

static void __exit kmbox_exit(void)
{
	misc_deregister(&kmbox_misc);
	proc_remove(kmbox_proc_dir);
	kmbox_names_exit();
	kmbox_users_exit();
	WARN_ON(atomic_long_read(&kmbox_stats.mailboxes) ||
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
