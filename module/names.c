// SPDX-License-Identifier: GPL-2.0
/*
 * Naming: IPC namespaces, binding a file to a named or anonymous mailbox,
 * unlink, and what /proc/kmbox and fdinfo show.
 *
 * Namespaces.  Named mailboxes live per IPC namespace, as POSIX message
 * queues do.  A module cannot hold a reference to an IPC namespace
 * (put_ipc_ns() is not exported), so kmbox keeps a struct kmbox_ns for
 * each namespace it has been used in, keyed by the namespace's mqueue
 * mount, ipc_namespace->mq_mnt, on which it holds a reference (mntget()).
 *
 *  - The key cannot alias.  Every IPC namespace makes a mount of its own
 *    when it is created (create_ipc_ns() -> mq_init_ns() ->
 *    mq_create_mount()) and drops it only when it is freed (free_ipc_ns()
 *    -> mq_put_mnt() -> kern_unmount()): ipc/namespace.c and ipc/mqueue.c
 *    of 6.1.  While kmbox holds its reference the struct vfsmount stays
 *    allocated, so no later namespace can get a mount at that address:
 *    for as long as a kmbox_ns exists, its pointer means one namespace.
 *    A caller finds its own by current->nsproxy->ipc_ns->mq_mnt, which is
 *    valid while the caller is a member.
 *  - Death.  When the last reference to a namespace goes, put_ipc_ns()
 *    (ipc/namespace.c) calls mq_clear_sbinfo() (ipc/mqueue.c) under
 *    mq_lock, which sets the mqueue superblock's s_fs_info to NULL, and
 *    only then queues the namespace to be freed.  Nothing brings it back:
 *    mqueue takes new references only through get_ns_from_inode(), which
 *    reads s_fs_info under mq_lock.  Our mount reference keeps the
 *    superblock, so "the namespace ended" is the load
 *    READ_ONCE(mnt->mnt_sb->s_fs_info) == NULL (kmbox_ns_ended()); a
 *    namespace with a member never tests as ended.  kern_unmount()'s
 *    mntput() is then not the last; ours is, and frees the mount and the
 *    superblock, whose s_fs_info mqueue already expects to be NULL.
 *  - Reaping.  A kmbox_ns whose namespace ended is taken off the list of
 *    live namespaces and its names are unlinked: the name table's
 *    references are dropped, so each named mailbox is freed, and its
 *    charges returned, as soon as no file refers to it.  Every bind,
 *    unlink and /proc read reaps first (a walk of the namespaces kmbox
 *    knows, one load each), and a delayed work does the same every
 *    KMBOX_REAP_PERIOD while any namespace but the initial one is on the
 *    list, so that memory comes back even if nobody calls kmbox again.
 *  - Files still open on a dead namespace's mailbox keep working: the
 *    mailbox is unlinked, as by KMBOX_IOC_UNLINK, and lives until its last
 *    file is closed.  A kmbox_ns, and the mount with it, lives as long as
 *    any mailbox created in the namespace; fdinfo flags such a mailbox
 *    'D'.  Anonymous mailboxes are not touched.
 *  - Limits and /proc.  max_mailboxes counts per namespace, like mqueue's
 *    queues_max, and /proc/kmbox shows the reader's namespace only.
 *
 * Creation.  A mailbox, and its region of up to region_cap bytes, is
 * allocated with no lock held.  Its name is then inserted under
 * kmbox_mutex, unless a racing creator got there first: the loser frees
 * its mailbox and opens the winner's (EEXIST with KMBOX_OPEN_EXCL).
 *
 * /proc/kmbox/mailboxes walks its namespace's list of mailboxes under RCU,
 * holding no lock while it formats (kmbox_list_show()).
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
#include <linux/percpu.h>
#include <linux/proc_ns.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringhash.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include <linux/workqueue.h>

#include "kmbox.h"

#ifndef CONFIG_POSIX_MQUEUE
#error "kmbox needs CONFIG_POSIX_MQUEUE: it keys IPC namespaces on their mqueue mount"
#endif

/* How often the reaper looks for ended namespaces while there are any. */
#define KMBOX_REAP_PERIOD	HZ

/* Guards kmbox_nss, kmbox_nss_other, the name table and kmbox_ns->named. */
static DEFINE_MUTEX(kmbox_mutex);
static DEFINE_HASHTABLE(kmbox_names, 10);
static LIST_HEAD(kmbox_nss);		/* namespaces believed alive */
static unsigned int kmbox_nss_other;	/* of them, not the initial one */

/* For /proc/kmbox/stats: kmbox_ns alive but the initial one's, and dead. */
static atomic_t kmbox_ns_count = ATOMIC_INIT(0);
static atomic_t kmbox_ns_dead_count = ATOMIC_INIT(0);

static void kmbox_reap_workfn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kmbox_reap_work, kmbox_reap_workfn);

static struct ipc_namespace *kmbox_cur_ipc_ns(void)
{
	return current->nsproxy->ipc_ns;
}

/* Has the namespace of @ns ended?  See the top of this file. */
static bool kmbox_ns_ended(const struct kmbox_ns *ns)
{
	return !READ_ONCE(ns->mnt->mnt_sb->s_fs_info);
}

static struct kmbox_ns *kmbox_ns_alloc(struct ipc_namespace *ipc)
{
	struct kmbox_ns *ns;

	ns = kzalloc(sizeof(*ns), GFP_KERNEL_ACCOUNT);
	if (!ns)
		return NULL;
	ns->pcpu = alloc_percpu_gfp(struct kmbox_pcpu_stats, GFP_KERNEL_ACCOUNT);
	if (!ns->pcpu) {
		kfree(ns);
		return NULL;
	}
	ns->mnt = mntget(ipc->mq_mnt);
	refcount_set(&ns->ref, 1);
	INIT_LIST_HEAD(&ns->node);
	INIT_LIST_HEAD(&ns->named);
	spin_lock_init(&ns->lock);
	INIT_LIST_HEAD(&ns->mailboxes);
	atomic_set(&ns->nr_mailboxes, 0);
	atomic_long_set(&ns->region_pages, 0);
	atomic_long_set(&ns->pool_buffers, 0);
	ns->initial = ipc->ns.inum == PROC_IPC_INIT_INO;
	if (!ns->initial)
		atomic_inc(&kmbox_ns_count);
	return ns;
}

/* The sums over every CPU (exact once the counted activity has stopped). */
static void kmbox_ns_stat_sum(struct kmbox_ns *ns, struct kmbox_pcpu_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct kmbox_pcpu_stats *c = per_cpu_ptr(ns->pcpu, cpu);

		sum->messages += c->messages;
		sum->bytes += c->bytes;
		sum->slots_held += c->slots_held;
	}
}

static void kmbox_ns_free(struct kmbox_ns *ns)
{
	struct kmbox_pcpu_stats left;

	WARN_ON_ONCE(!list_empty(&ns->mailboxes) || !list_empty(&ns->named));
	/* All 0 unless something leaked: kmbox_exit() checks. */
	kmbox_ns_stat_sum(ns, &left);
	atomic_long_add(left.messages, &kmbox_stats.messages);
	atomic_long_add(left.bytes, &kmbox_stats.bytes);
	atomic_long_add(left.slots_held, &kmbox_stats.slots_held);
	if (!ns->initial)
		atomic_dec(&kmbox_ns_count);
	if (ns->dead)
		atomic_dec(&kmbox_ns_dead_count);
	free_percpu(ns->pcpu);
	mntput(ns->mnt);
	kfree(ns);
}

/**
 * kmbox_ns_put() - drop a reference to a namespace's kmbox state
 * @ns: the namespace
 *
 * The last reference goes only once @ns is off the list of live
 * namespaces: its namespace ended, or the module is being unloaded.
 *
 * Context: Process context, no kmbox lock held: the last put may free a
 * dead namespace's mount and superblock, which sleeps.
 */
void kmbox_ns_put(struct kmbox_ns *ns)
{
	if (refcount_dec_and_test(&ns->ref))
		kmbox_ns_free(ns);
}

/*
 * Take @ns off the list of live namespaces, and its mailboxes out of the
 * name table, onto @reaped; kmbox_reap_finish() drops the references.
 */
static void kmbox_ns_detach_locked(struct kmbox_ns *ns, struct list_head *reaped)
{
	struct kmbox *mb;

	lockdep_assert_held(&kmbox_mutex);
	list_for_each_entry(mb, &ns->named, nsnode) {
		hash_del(&mb->hnode);
		WRITE_ONCE(mb->unlinked, true);
	}
	list_move(&ns->node, reaped);
	if (!ns->initial)
		kmbox_nss_other--;
	ns->dead = true;
	atomic_inc(&kmbox_ns_dead_count);
}

/*
 * After kmbox_mutex is dropped: drop the name table's references to the
 * names of the namespaces on @reaped, and the list's reference to each.
 * Nobody else reaches these ->named lists any more.
 */
static void kmbox_reap_finish(struct list_head *reaped)
{
	struct kmbox_ns *ns, *ntmp;
	struct kmbox *mb, *tmp;

	list_for_each_entry_safe(ns, ntmp, reaped, node) {
		list_for_each_entry_safe(mb, tmp, &ns->named, nsnode) {
			list_del_init(&mb->nsnode);
			kmbox_put(mb);
		}
		list_del_init(&ns->node);
		kmbox_ns_put(ns);
	}
}

static struct kmbox_ns *kmbox_ns_find_locked(struct vfsmount *mnt)
{
	struct kmbox_ns *ns;

	lockdep_assert_held(&kmbox_mutex);
	list_for_each_entry(ns, &kmbox_nss, node)
		if (ns->mnt == mnt)
			return ns;
	return NULL;
}

/*
 * Detach every namespace that ended onto @reaped, and return the one whose
 * mount is @mnt, referenced, or NULL.
 */
static struct kmbox_ns *kmbox_ns_scan_locked(struct vfsmount *mnt, struct list_head *reaped)
{
	struct kmbox_ns *ns, *tmp, *found = NULL;

	lockdep_assert_held(&kmbox_mutex);
	list_for_each_entry_safe(ns, tmp, &kmbox_nss, node) {
		if (ns->mnt == mnt) {
			refcount_inc(&ns->ref);
			found = ns;
		} else if (!ns->initial && kmbox_ns_ended(ns)) {
			kmbox_ns_detach_locked(ns, reaped);
		}
	}
	return found;
}

/*
 * The caller's namespace, referenced, after reaping those that ended.  The
 * caller being a member, its namespace stays on the list for the call.
 *
 * Return: it; if kmbox has no state there yet, a new one when @create and
 * NULL otherwise; or ERR_PTR(-ENOMEM), or -ENODEV without mqueue.
 */
static struct kmbox_ns *kmbox_ns_current(bool create)
{
	struct ipc_namespace *ipc = kmbox_cur_ipc_ns();
	struct kmbox_ns *ns, *fresh;
	LIST_HEAD(reaped);

	/* Only if mqueue failed to initialise at boot. */
	if (IS_ERR_OR_NULL(ipc->mq_mnt))
		return create ? ERR_PTR(-ENODEV) : NULL;
	mutex_lock(&kmbox_mutex);
	ns = kmbox_ns_scan_locked(ipc->mq_mnt, &reaped);
	mutex_unlock(&kmbox_mutex);
	kmbox_reap_finish(&reaped);
	if (ns || !create)
		return ns;

	fresh = kmbox_ns_alloc(ipc);
	if (!fresh)
		return ERR_PTR(-ENOMEM);
	mutex_lock(&kmbox_mutex);
	ns = kmbox_ns_find_locked(fresh->mnt);
	if (ns) {
		refcount_inc(&ns->ref);
	} else {
		ns = fresh;
		fresh = NULL;
		refcount_inc(&ns->ref);		/* the list's */
		list_add_tail(&ns->node, &kmbox_nss);
		if (!ns->initial) {
			kmbox_nss_other++;
			schedule_delayed_work(&kmbox_reap_work, KMBOX_REAP_PERIOD);
		}
	}
	mutex_unlock(&kmbox_mutex);
	if (fresh)
		kmbox_ns_free(fresh);
	return ns;
}

/* Reap; again later while namespaces other than the initial one exist. */
static void kmbox_reap_workfn(struct work_struct *work)
{
	LIST_HEAD(reaped);

	mutex_lock(&kmbox_mutex);
	kmbox_ns_scan_locked(NULL, &reaped);
	if (kmbox_nss_other)
		schedule_delayed_work(&kmbox_reap_work, KMBOX_REAP_PERIOD);
	mutex_unlock(&kmbox_mutex);
	kmbox_reap_finish(&reaped);
}

static u32 kmbox_name_hash(const struct kmbox_ns *ns, const char *name)
{
	return full_name_hash(ns, name, strlen(name));
}

static struct kmbox *kmbox_lookup_locked(const struct kmbox_ns *ns, const char *name)
{
	struct kmbox *mb;

	lockdep_assert_held(&kmbox_mutex);
	hash_for_each_possible(kmbox_names, mb, hnode, kmbox_name_hash(ns, name))
		if (mb->ns == ns && !strcmp(mb->name, name))
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

	name = kmalloc(KMBOX_NAME_MAX + 1, GFP_KERNEL_ACCOUNT);
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

/* Owner and mode of a new mailbox; nobody else sees it yet. */
static void kmbox_set_identity(struct kmbox *mb, umode_t mode)
{
	mb->uid = current_fsuid();
	mb->gid = current_fsgid();
	mb->mode = mode;
}

/* Make a new mailbox visible in /proc/kmbox/mailboxes. */
static void kmbox_publish(struct kmbox *mb)
{
	spin_lock(&mb->ns->lock);
	list_add_tail_rcu(&mb->all, &mb->ns->mailboxes);
	spin_unlock(&mb->ns->lock);
}

/* Give the new mailbox @mb the name @name (which it now owns). */
static void kmbox_insert_locked(struct kmbox *mb, char *name)
{
	lockdep_assert_held(&kmbox_mutex);
	mb->name = name;
	hash_add(kmbox_names, &mb->hnode, kmbox_name_hash(mb->ns, name));
	list_add_tail(&mb->nsnode, &mb->ns->named);
	kref_get(&mb->ref);		/* the name table's */
	kmbox_publish(mb);
}

/* Find or create the named mailbox @o asks for; return it referenced. */
static struct kmbox *kmbox_open_named(struct file *file, struct kmbox_file *kf,
				      const struct kmbox_open *o,
				      const struct kmbox_attr *attr, const struct kmbox_qos *qos)
{
	bool creat = o->flags & KMBOX_OPEN_CREAT;
	bool excl = creat && (o->flags & KMBOX_OPEN_EXCL);
	struct kmbox *mb, *fresh = NULL;
	struct kmbox_ns *ns;
	char *name;
	int ret;

	name = kmbox_get_name(o->name);
	if (IS_ERR(name))
		return ERR_CAST(name);
	ns = kmbox_ns_current(creat);
	if (IS_ERR_OR_NULL(ns)) {
		kfree(name);
		return ns ? ERR_CAST(ns) : ERR_PTR(-ENOENT);
	}

	mutex_lock(&kmbox_mutex);
	mb = kmbox_lookup_locked(ns, name);
	if (!mb && creat) {
		mutex_unlock(&kmbox_mutex);
		fresh = kmbox_alloc(attr, qos, ns, kf->chain);
		if (!IS_ERR(fresh))
			kmbox_set_identity(fresh, o->mode & ~current_umask());
		mutex_lock(&kmbox_mutex);
		mb = kmbox_lookup_locked(ns, name);
		if (!mb && !IS_ERR(fresh)) {
			kmbox_insert_locked(fresh, name);
			mb = fresh;
			fresh = NULL;
			name = NULL;
			goto out_unlock;
		}
		/* else a racing creator won, or none did and we failed */
	}
	if (!mb)
		ret = fresh ? PTR_ERR(fresh) : -ENOENT;
	else if (excl)
		ret = -EEXIST;
	else
		ret = kmbox_permission(mb, file->f_mode);
	if (ret)
		mb = ERR_PTR(ret);
	else
		kref_get(&mb->ref);
out_unlock:
	mutex_unlock(&kmbox_mutex);
	if (!IS_ERR_OR_NULL(fresh))
		kmbox_put(fresh);
	kmbox_ns_put(ns);
	kfree(name);
	return mb;
}

/* A new anonymous mailbox; return it referenced. */
static struct kmbox *kmbox_open_anon(struct kmbox_file *kf, const struct kmbox_open *o,
				     const struct kmbox_attr *attr, const struct kmbox_qos *qos)
{
	struct kmbox_ns *ns;
	struct kmbox *mb;

	ns = kmbox_ns_current(true);
	if (IS_ERR(ns))
		return ERR_CAST(ns);
	mb = kmbox_alloc(attr, qos, ns, kf->chain);
	if (!IS_ERR(mb)) {
		kmbox_set_identity(mb, o->mode);
		kmbox_publish(mb);
	}
	kmbox_ns_put(ns);
	return mb;
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
	struct kmbox_qos qos, *qosp = NULL;
	struct kmbox_attr attr = {};
	struct kmbox *mb;

	/* __reserved[0] is qos, only for a call that may create */
	if (o->flags & ~(KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL | KMBOX_OPEN_ANON) ||
	    o->mode & ~0777 || o->__reserved[1] || o->__reserved[2] ||
	    (o->qos && !(o->flags & (KMBOX_OPEN_ANON | KMBOX_OPEN_CREAT))))
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
	if (o->qos) {
		if (copy_from_user(&qos, u64_to_user_ptr(o->qos), sizeof(qos)))
			return -EFAULT;
		if (kmbox_qos_check(&qos, NULL))
			return -EINVAL;
		qosp = &qos;
	}

	if (anon)
		mb = kmbox_open_anon(kf, o, &attr, qosp);
	else
		mb = kmbox_open_named(file, kf, o, &attr, qosp);
	if (IS_ERR(mb))
		return PTR_ERR(mb);

	/* Pairs with smp_load_acquire() in kmbox_file_mb(). */
	if (cmpxchg_release(&kf->mb, NULL, mb)) {
		kmbox_put(mb);
		return -EBUSY;
	}
	kmbox_loss_bind(kf);
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
	struct kmbox_ns *ns;
	struct kmbox *mb;
	char *name;
	int ret = 0;

	name = kmbox_get_name(uname);
	if (IS_ERR(name))
		return PTR_ERR(name);
	ns = kmbox_ns_current(false);
	if (IS_ERR_OR_NULL(ns)) {
		kfree(name);
		return -ENOENT;
	}

	mutex_lock(&kmbox_mutex);
	mb = kmbox_lookup_locked(ns, name);
	if (!mb)
		ret = -ENOENT;
	else if (!uid_eq(current_fsuid(), mb->uid) && !ns_capable(uns, CAP_IPC_OWNER) &&
		 !ns_capable(uns, CAP_SYS_ADMIN))
		ret = -EACCES;
	if (!ret) {
		hash_del(&mb->hnode);
		list_del_init(&mb->nsnode);
		WRITE_ONCE(mb->unlinked, true);
	}
	mutex_unlock(&kmbox_mutex);
	kfree(name);
	if (!ret)
		kmbox_put(mb);		/* the name table's reference */
	kmbox_ns_put(ns);
	return ret;
}

/**
 * kmbox_unlist() - a mailbox lost its last reference
 * @mb: the mailbox
 *
 * /proc readers that still find @mb on its namespace's list see it dead
 * and skip it; the struct is freed a grace period later.
 */
void kmbox_unlist(struct kmbox *mb)
{
	struct kmbox_ns *ns = mb->ns;

	spin_lock(&mb->lock);
	mb->dead = true;
	spin_unlock(&mb->lock);
	spin_lock(&ns->lock);
	if (!list_empty(&mb->all))	/* published */
		list_del_rcu(&mb->all);
	spin_unlock(&ns->lock);
}

/**
 * kmbox_names_exit() - at unload, drop the name table's references
 *
 * No file is open any more; every mailbox left is named and is freed here.
 */
void kmbox_names_exit(void)
{
	struct kmbox_ns *ns, *tmp;
	LIST_HEAD(reaped);

	/* Only a bind schedules the work, and none can come any more. */
	cancel_delayed_work_sync(&kmbox_reap_work);
	mutex_lock(&kmbox_mutex);
	list_for_each_entry_safe(ns, tmp, &kmbox_nss, node)
		kmbox_ns_detach_locked(ns, &reaped);
	mutex_unlock(&kmbox_mutex);
	kmbox_reap_finish(&reaped);
	WARN_ON(atomic_read(&kmbox_ns_count));
	/* kmbox_free_rcu() is module text: let every pending call finish. */
	rcu_barrier();
}

/*
 * A name for /proc and fdinfo: every byte but the printable ASCII ones
 * ('!' to '~'), and backslash, as a \ooo octal escape, so that a name is
 * one word on one line and carries no terminal control sequence.  NULL,
 * an anonymous mailbox, is "-".
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

/* The flags column: A anonymous, N named, U unlinked, D namespace ended. */
static void kmbox_flags(struct kmbox *mb, char buf[4])
{
	char *p = buf;

	if (!mb->name) {
		*p++ = 'A';
	} else {
		*p++ = 'N';
		if (READ_ONCE(mb->unlinked))
			*p++ = 'U';
	}
	if (kmbox_ns_ended(mb->ns))
		*p++ = 'D';
	*p = '\0';
}

/* One line of /proc/kmbox/mailboxes; in an RCU read-side section. */
static void kmbox_show_one(struct seq_file *m, struct user_namespace *uns, struct kmbox *mb)
{
	struct kmbox_zc_counts c = {};
	char flags[4];
	u32 msgs, used;
	u64 bytes;

	spin_lock(&mb->lock);
	if (mb->dead) {
		spin_unlock(&mb->lock);
		return;
	}
	msgs = mb->nr_msgs;
	used = atomic_read(&mb->used);
	bytes = mb->bytes;
	if (mb->region)
		kmbox_zc_counts_locked(mb, &c);
	spin_unlock(&mb->lock);

	/* The rest does not change, or is read racily anyway. */
	kmbox_flags(mb, flags);
	seq_printf(m, "%llu ", mb->id);
	kmbox_seq_name(m, mb->name);
	seq_printf(m, " %u %u %04o %u %u %u %llu %d %d %u %u %u %s %u %u %u %u %u\n",
		   from_kuid_munged(uns, mb->uid), from_kgid_munged(uns, mb->gid),
		   mb->mode, mb->max_msgs, mb->max_msgsize, msgs, bytes,
		   READ_ONCE(mb->rd_waiters) + atomic_read(&mb->flt_sleepers),
		   atomic_read(&mb->wr_waiters), c.slots, c.slot_size, c.free, flags,
		   used - msgs, c.reserved, c.queued, c.taken, c.held);
}

/**
 * kmbox_list_show() - /proc/kmbox/mailboxes
 * @m: the seq_file
 *
 * One line per mailbox created in the reader's IPC namespace.  The walk
 * holds no lock: the list is RCU, a mailbox's struct is freed a grace
 * period after it is taken off, and one found dead (under its own lock)
 * is skipped.  Each line is a snapshot of one mailbox, not the listing of
 * one instant.
 */
void kmbox_list_show(struct seq_file *m)
{
	struct user_namespace *uns = seq_user_ns(m);
	struct kmbox_ns *ns;
	struct kmbox *mb;

	seq_puts(m, "id name uid gid mode max_msgs max_msgsize msgs bytes rd_waiters wr_waiters zc_slots zc_slot_size zc_free flags inflight zc_reserved zc_queued zc_taken zc_held\n");
	ns = kmbox_ns_current(false);
	if (IS_ERR_OR_NULL(ns))
		return;
	rcu_read_lock();
	list_for_each_entry_rcu(mb, &ns->mailboxes, all)
		kmbox_show_one(m, uns, mb);
	rcu_read_unlock();
	kmbox_ns_put(ns);
}

/**
 * kmbox_list_walk() - call @show for each mailbox of the reader's namespace
 * @m: the seq_file of a /proc/kmbox file
 * @show: called in an RCU read-side section; it takes the mailbox's lock
 *	and skips one found dead, as kmbox_show_one() does
 */
void kmbox_list_walk(struct seq_file *m, void (*show)(struct seq_file *m, struct kmbox *mb))
{
	struct kmbox_ns *ns = kmbox_ns_current(false);
	struct kmbox *mb;

	if (IS_ERR_OR_NULL(ns))
		return;
	rcu_read_lock();
	list_for_each_entry_rcu(mb, &ns->mailboxes, all)
		show(m, mb);
	rcu_read_unlock();
	kmbox_ns_put(ns);
}

/**
 * kmbox_stats_show() - /proc/kmbox/stats
 * @m: the seq_file
 *
 * The counts of the reader's IPC namespace, "users" those of
 * kmbox_users_visible(); in the initial namespace also how many other
 * namespaces kmbox keeps state for, and how many of them ended.
 */
void kmbox_stats_show(struct seq_file *m)
{
	struct kmbox_ns *ns = kmbox_ns_current(false);
	struct kmbox_pcpu_stats sum = {};
	long mailboxes = 0, pages = 0, pooled = 0;

	if (!IS_ERR_OR_NULL(ns)) {
		mailboxes = atomic_read(&ns->nr_mailboxes);
		kmbox_ns_stat_sum(ns, &sum);
		pages = atomic_long_read(&ns->region_pages);
		pooled = atomic_long_read(&ns->pool_buffers);
		kmbox_ns_put(ns);
	}
	seq_printf(m, "mailboxes %ld\nmessages %ld\nbytes %ld\nzc_slots_held %ld\n"
		   "region_pages %ld\nusers %ld\npool_buffers %ld\n", mailboxes, sum.messages,
		   sum.bytes, sum.slots_held, pages, kmbox_users_visible(seq_user_ns(m)), pooled);
	if (kmbox_cur_ipc_ns()->ns.inum == PROC_IPC_INIT_INO)
		seq_printf(m, "namespaces %d\nnamespaces_dead %d\n",
			   atomic_read(&kmbox_ns_count), atomic_read(&kmbox_ns_dead_count));
}

/**
 * kmbox_show_fdinfo() - the kmbox lines of /proc/PID/fdinfo/FD
 * @m: the seq_file
 * @file: a /dev/kmbox file
 *
 * The format is in kmbox(4).
 */
void kmbox_show_fdinfo(struct seq_file *m, struct file *file)
{
	static const char *const access[] = { "-", "r", "w", "rw" };
	struct user_namespace *uns = seq_user_ns(m);
	struct kmbox_file *kf = file->private_data;
	struct kmbox *mb = kmbox_file_mb(kf);
	u32 held, reserved = 0, received = 0, calls = 0;
	struct kmbox_zc_counts c = {};
	unsigned int acc = 0;
	struct rb_node *n;
	char flags[4];

	if (file->f_mode & FMODE_READ)
		acc |= 1;
	if (file->f_mode & FMODE_WRITE)
		acc |= 2;
	seq_printf(m, "kmbox-access:\t%s\nkmbox-nonblock:\t%d\nkmbox-bound:\t%d\n",
		   access[acc], !!(READ_ONCE(file->f_flags) & O_NONBLOCK), !!mb);
	if (!mb)
		return;
	spin_lock(&mb->lock);
	held = kf->zc_held;
	if (mb->region) {
		kmbox_zc_counts_locked(mb, &c);
		kmbox_zc_file_counts_locked(kf, &reserved, &received);
	}
	/* Requests received through this file and not answered yet. */
	for (n = rb_first(&kf->calls); n; n = rb_next(n))
		calls++;
	spin_unlock(&mb->lock);
	kmbox_flags(mb, flags);
	seq_printf(m, "kmbox-id:\t%llu\nkmbox-name:\t", mb->id);
	kmbox_seq_name(m, mb->name);
	seq_printf(m, "\nkmbox-flags:\t%s\nkmbox-zc-held:\t%u\n", flags, held);
	seq_printf(m, "kmbox-zc-reserved:\t%u\nkmbox-zc-received:\t%u\n"
		   "kmbox-calls-pending:\t%u\n", reserved, received, calls);
	seq_printf(m, "kmbox-uid:\t%u\nkmbox-gid:\t%u\nkmbox-mode:\t%04o\n",
		   from_kuid_munged(uns, mb->uid), from_kgid_munged(uns, mb->gid), mb->mode);
	seq_printf(m, "kmbox-max-msgs:\t%u\nkmbox-max-msgsize:\t%u\nkmbox-rendezvous:\t%d\n"
		   "kmbox-zc-slots:\t%u\nkmbox-pool-buffers:\t%d\nkmbox-recycled-pages:\t%d\n",
		   mb->max_msgs, mb->max_msgsize, mb->rendezvous, c.slots,
		   atomic_read(&mb->pool_size), atomic_read(&mb->recycled_pages));
}
