// SPDX-License-Identifier: GPL-2.0
/*
 * Naming: binding a file to a named or anonymous mailbox, unlink, and the
 * list of all mailboxes behind /proc/kmbox/mailboxes.
 *
 * Named mailboxes live per IPC namespace.  A module cannot pin an IPC
 * namespace (put_ipc_ns() is not exported), so a mailbox records the
 * namespace's address together with a cookie that tells incarnations at
 * the same address apart: the inode number of the namespace's mqueue
 * root (from get_next_ino(), which does not repeat in practice), or the
 * namespace's proc inode number without CONFIG_POSIX_MQUEUE.  The address
 * is only ever compared, never dereferenced.  A named mailbox outlives a
 * namespace that ends without unlinking it until the module is unloaded;
 * it stays charged to its creator meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/ipc_namespace.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringhash.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include "kmbox.h"

/* Guards the name table, kmbox_all and kmbox list membership. */
DEFINE_MUTEX(kmbox_mutex);
static DEFINE_HASHTABLE(kmbox_names, 8);
static LIST_HEAD(kmbox_all);

static struct ipc_namespace *kmbox_cur_ipc_ns(void)
{
	return current->nsproxy->ipc_ns;
}

static void kmbox_cur_nskey(struct kmbox_nskey *key)
{
	struct ipc_namespace *ns = kmbox_cur_ipc_ns();

	key->ns = ns;
	key->cookie = (u64)ns->ns.inum << 32;
#ifdef CONFIG_POSIX_MQUEUE
	if (!IS_ERR_OR_NULL(ns->mq_mnt))
		key->cookie = d_inode(ns->mq_mnt->mnt_root)->i_ino;
#endif
}

static bool kmbox_nskey_eq(const struct kmbox_nskey *a, const struct kmbox_nskey *b)
{
	return a->ns == b->ns && a->cookie == b->cookie;
}

static u32 kmbox_name_hash(const struct kmbox_nskey *key, const char *name)
{
	return full_name_hash(key->ns, name, strlen(name)) ^ (u32)key->cookie;
}

static struct kmbox *kmbox_lookup_locked(const struct kmbox_nskey *key, const char *name)
{
	struct kmbox *mb;

	lockdep_assert_held(&kmbox_mutex);
	hash_for_each_possible(kmbox_names, mb, hnode, kmbox_name_hash(key, name))
		if (kmbox_nskey_eq(&mb->nskey, key) && !strcmp(mb->name, name))
			return mb;
	return NULL;
}

/*
 * Copy a name from user space.  Return: the name (kfree() it) or
 * ERR_PTR(-EFAULT, -EINVAL for "" or a '/', -ENAMETOOLONG).
 */
static char *kmbox_get_name(u64 uname)
{
	char *name;
	long len;

	name = kmalloc(KMBOX_NAME_MAX + 1, GFP_KERNEL);
	if (!name)
		return ERR_PTR(-ENOMEM);
	len = strncpy_from_user(name, u64_to_user_ptr(uname), KMBOX_NAME_MAX + 1);
	if (len < 0) {
		kfree(name);
		return ERR_PTR(-EFAULT);
	}
	if (len > KMBOX_NAME_MAX) {
		kfree(name);
		return ERR_PTR(-ENAMETOOLONG);
	}
	if (!len || strchr(name, '/')) {
		kfree(name);
		return ERR_PTR(-EINVAL);
	}
	return name;
}

/* May the caller open @mb with @fmode?  Return: 0 or -EACCES. */
static int kmbox_permission(struct kmbox *mb, fmode_t fmode)
{
	struct user_namespace *uns = kmbox_cur_ipc_ns()->user_ns;
	umode_t want = 0, bits;

	if (fmode & FMODE_READ)
		want |= 04;
	if (fmode & FMODE_WRITE)
		want |= 02;
	if (uid_eq(current_fsuid(), mb->uid))
		bits = mb->mode >> 6;
	else if (in_group_p(mb->gid))
		bits = mb->mode >> 3;
	else
		bits = mb->mode;
	if ((bits & want) == want || ns_capable(uns, CAP_DAC_OVERRIDE))
		return 0;
	return -EACCES;
}

static void kmbox_set_identity(struct kmbox *mb, char *name, umode_t mode)
{
	mb->name = name;
	mb->uid = current_fsuid();
	mb->gid = current_fsgid();
	mb->mode = mode;
	kmbox_cur_nskey(&mb->nskey);
}

/* Find or create the named mailbox @o asks for; return it referenced. */
static struct kmbox *kmbox_open_named(struct file *file, struct kmbox_file *kf,
				      const struct kmbox_open *o,
				      const struct kmbox_attr *attr)
{
	struct kmbox_nskey key;
	struct kmbox *mb;
	char *name;
	int ret;

	name = kmbox_get_name(o->name);
	if (IS_ERR(name))
		return ERR_CAST(name);
	kmbox_cur_nskey(&key);

	mutex_lock(&kmbox_mutex);
	mb = kmbox_lookup_locked(&key, name);
	if (mb) {
		if ((o->flags & KMBOX_OPEN_CREAT) && (o->flags & KMBOX_OPEN_EXCL))
			ret = -EEXIST;
		else
			ret = kmbox_permission(mb, file->f_mode);
		if (ret)
			goto out_unlock;
		kref_get(&mb->ref);
		goto out_unlock_free;
	}
	if (!(o->flags & KMBOX_OPEN_CREAT)) {
		ret = -ENOENT;
		goto out_unlock;
	}
	mb = kmbox_alloc(attr, kf->user, kf->exempt);
	if (IS_ERR(mb)) {
		ret = PTR_ERR(mb);
		goto out_unlock;
	}
	kmbox_set_identity(mb, name, o->mode & ~current_umask());
	hash_add(kmbox_names, &mb->hnode, kmbox_name_hash(&key, name));
	list_add_tail(&mb->all, &kmbox_all);
	kref_get(&mb->ref);		/* the name table's */
	mutex_unlock(&kmbox_mutex);
	return mb;

out_unlock_free:
	mutex_unlock(&kmbox_mutex);
	kfree(name);
	return mb;
out_unlock:
	mutex_unlock(&kmbox_mutex);
	kfree(name);
	return ERR_PTR(ret);
}

/**
 * kmbox_bind() - KMBOX_IOC_OPEN: bind @file to a mailbox
 * @file: an unbound /dev/kmbox file
 * @kf: its private data
 * @o: the checked-for-layout argument
 *
 * Return: 0, or -EBUSY (already bound), -EINVAL (also for a file open
 * for neither reading nor writing), -EFAULT, -ENAMETOOLONG, -ENOENT,
 * -EEXIST, -EACCES, -ENOSPC, -EMFILE, -ENOMEM.
 */
int kmbox_bind(struct file *file, struct kmbox_file *kf, const struct kmbox_open *o)
{
	bool anon = o->flags & KMBOX_OPEN_ANON;
	struct kmbox_attr attr = {};
	struct kmbox *mb;

	if (o->flags & ~(KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL | KMBOX_OPEN_ANON) ||
	    o->mode & ~0777 || memchr_inv(o->__reserved, 0, sizeof(o->__reserved)))
		return -EINVAL;
	if (anon && (o->name || (o->flags & (KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL))))
		return -EINVAL;
	/* As mq_open(): open(2) with O_RDWR|O_WRONLY gives neither mode. */
	if (!(file->f_mode & (FMODE_READ | FMODE_WRITE)))
		return -EINVAL;
	if (READ_ONCE(kf->mb))
		return -EBUSY;

	/* As mq_open(): the attributes matter only when creating. */
	if (o->attr && (anon || (o->flags & KMBOX_OPEN_CREAT))) {
		if (copy_from_user(&attr, u64_to_user_ptr(o->attr), sizeof(attr)))
			return -EFAULT;
		if (memchr_inv(attr.__reserved, 0, sizeof(attr.__reserved)))
			return -EINVAL;
	}

	if (anon) {
		mb = kmbox_alloc(&attr, kf->user, kf->exempt);
		if (IS_ERR(mb))
			return PTR_ERR(mb);
		kmbox_set_identity(mb, NULL, o->mode);
		mutex_lock(&kmbox_mutex);
		list_add_tail(&mb->all, &kmbox_all);
		mutex_unlock(&kmbox_mutex);
	} else {
		mb = kmbox_open_named(file, kf, o, &attr);
		if (IS_ERR(mb))
			return PTR_ERR(mb);
	}

	/* Pairs with smp_load_acquire() in kmbox_file_mb(). */
	if (cmpxchg_release(&kf->mb, NULL, mb)) {
		kmbox_put(mb);
		return -EBUSY;
	}
	return 0;
}

/**
 * kmbox_unlink_name() - KMBOX_IOC_UNLINK
 * @uname: user pointer to the name
 *
 * Return: 0, -ENOENT, -EACCES (not the owner, no CAP_IPC_OWNER or
 * CAP_SYS_ADMIN), or an error of the name.
 */
int kmbox_unlink_name(u64 uname)
{
	struct user_namespace *uns = kmbox_cur_ipc_ns()->user_ns;
	struct kmbox_nskey key;
	struct kmbox *mb;
	char *name;
	int ret = 0;

	name = kmbox_get_name(uname);
	if (IS_ERR(name))
		return PTR_ERR(name);
	kmbox_cur_nskey(&key);

	mutex_lock(&kmbox_mutex);
	mb = kmbox_lookup_locked(&key, name);
	if (!mb)
		ret = -ENOENT;
	else if (!uid_eq(current_fsuid(), mb->uid) && !ns_capable(uns, CAP_IPC_OWNER) &&
		 !ns_capable(uns, CAP_SYS_ADMIN))
		ret = -EACCES;
	if (!ret) {
		hash_del(&mb->hnode);
		WRITE_ONCE(mb->unlinked, true);
	}
	mutex_unlock(&kmbox_mutex);
	kfree(name);
	if (!ret)
		kmbox_put(mb);		/* the name table's reference */
	return ret;
}

/**
 * kmbox_unlist() - take a dying mailbox off the list of all mailboxes
 * @mb: the mailbox
 *
 * Context: kmbox_mutex held.
 */
void kmbox_unlist(struct kmbox *mb)
{
	lockdep_assert_held(&kmbox_mutex);
	list_del(&mb->all);
}

/**
 * kmbox_names_exit() - at unload, drop the name table's references
 */
void kmbox_names_exit(void)
{
	struct hlist_node *tmp;
	struct kmbox *mb;
	int bkt;

	hash_for_each_safe(kmbox_names, bkt, tmp, mb, hnode) {
		hash_del(&mb->hnode);
		kmbox_put(mb);
	}
}

/*
 * A name for /proc: every byte but the printable ASCII ones ('!' to '~'),
 * and backslash, as a \ooo octal escape, so that a name is one word on
 * one line and carries no terminal control sequence.  NULL, an anonymous
 * mailbox, is "-".
 */
static void kmbox_seq_name(struct seq_file *m, const char *name)
{
	const unsigned char *p;

	if (!name) {
		seq_putc(m, '-');
		return;
	}
	for (p = (const unsigned char *)name; *p; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '\\')
			seq_putc(m, *p);
		else
			seq_printf(m, "\\%03o", *p);
	}
}

/**
 * kmbox_list_show() - /proc/kmbox/mailboxes
 * @m: the seq_file
 *
 * One line per mailbox created in the reader's IPC namespace.
 */
void kmbox_list_show(struct seq_file *m)
{
	struct user_namespace *uns = seq_user_ns(m);
	struct kmbox_nskey key;
	struct kmbox *mb;

	kmbox_cur_nskey(&key);
	seq_puts(m, "id name uid gid mode max_msgs max_msgsize msgs bytes rd_waiters wr_waiters zc_slots zc_slot_size zc_free flags\n");
	mutex_lock(&kmbox_mutex);
	list_for_each_entry(mb, &kmbox_all, all) {
		struct kmbox_attr a = {};
		u32 msgs;
		u64 bytes;

		if (!kmbox_nskey_eq(&mb->nskey, &key))
			continue;
		spin_lock(&mb->lock);
		msgs = mb->nr_msgs;
		bytes = mb->bytes;
		if (mb->region)
			kmbox_zc_attr(mb, &a);
		spin_unlock(&mb->lock);

		seq_printf(m, "%llu ", mb->id);
		kmbox_seq_name(m, mb->name);
		seq_printf(m, " %u %u %04o %u %u %u %llu %d %d %u %u %u %s\n",
			   from_kuid_munged(uns, mb->uid), from_kgid_munged(uns, mb->gid),
			   mb->mode, mb->max_msgs, mb->max_msgsize, msgs, bytes,
			   READ_ONCE(mb->rd_waiters), atomic_read(&mb->wr_waiters),
			   a.zc_slots, a.zc_slot_size, a.zc_free,
			   !mb->name ? "A" : mb->unlinked ? "NU" : "N");
	}
	mutex_unlock(&kmbox_mutex);
}
