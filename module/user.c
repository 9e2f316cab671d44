// SPDX-License-Identifier: GPL-2.0
/*
 * Per-user memory accounting.
 *
 * Every byte kmbox pins on behalf of a user space caller is charged to a
 * user: a mailbox and its zero-copy region to the creator, a queued
 * copied message to the user who opened the sending file.  A charge that
 * would take the user past the user_quota parameter fails, unless the
 * opener had CAP_SYS_RESOURCE.  Records live while anything is charged
 * to them or a file refers to them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>

#include "kmbox.h"

static DEFINE_HASHTABLE(kmbox_users, 6);
static DEFINE_SPINLOCK(kmbox_users_lock);

static struct kmbox_user *kmbox_user_find_locked(kuid_t uid)
{
	struct kmbox_user *u;

	lockdep_assert_held(&kmbox_users_lock);
	hash_for_each_possible(kmbox_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/**
 * kmbox_user_get() - find or make the accounting record of @uid
 * @uid: the user
 *
 * Context: Process context; may sleep.
 * Return: a referenced record, or NULL when out of memory.
 */
struct kmbox_user *kmbox_user_get(kuid_t uid)
{
	struct kmbox_user *u, *fresh;

	spin_lock(&kmbox_users_lock);
	u = kmbox_user_find_locked(uid);
	if (u)
		refcount_inc(&u->ref);
	spin_unlock(&kmbox_users_lock);
	if (u)
		return u;

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh)
		return NULL;
	fresh->uid = uid;
	refcount_set(&fresh->ref, 1);
	atomic_long_set(&fresh->bytes, 0);
	atomic_set(&fresh->mailboxes, 0);

	spin_lock(&kmbox_users_lock);
	u = kmbox_user_find_locked(uid);
	if (u) {
		refcount_inc(&u->ref);
	} else {
		hash_add(kmbox_users, &fresh->node, __kuid_val(uid));
		atomic_long_inc(&kmbox_stats.users);
		u = fresh;
		fresh = NULL;
	}
	spin_unlock(&kmbox_users_lock);
	kfree(fresh);
	return u;
}

/**
 * kmbox_user_put() - drop a reference taken by kmbox_user_get()
 * @u: the record, or NULL
 */
void kmbox_user_put(struct kmbox_user *u)
{
	if (!u || refcount_dec_not_one(&u->ref))
		return;
	spin_lock(&kmbox_users_lock);
	if (!refcount_dec_and_test(&u->ref)) {
		spin_unlock(&kmbox_users_lock);
		return;
	}
	hash_del(&u->node);
	spin_unlock(&kmbox_users_lock);
	WARN_ON_ONCE(atomic_long_read(&u->bytes));
	atomic_long_dec(&kmbox_stats.users);
	kfree(u);
}

/**
 * kmbox_charge() - charge @bytes to @u
 * @u: the user
 * @bytes: how much
 * @exempt: ignore the quota (the charge is still counted)
 *
 * Return: 0, or -EDQUOT when the quota would be exceeded (nothing charged).
 */
int kmbox_charge(struct kmbox_user *u, unsigned long bytes, bool exempt)
{
	unsigned long quota = READ_ONCE(kmbox_params.user_quota);
	long now = atomic_long_add_return(bytes, &u->bytes);

	if (quota && !exempt && (unsigned long)now > quota) {
		atomic_long_sub(bytes, &u->bytes);
		return -EDQUOT;
	}
	return 0;
}

/**
 * kmbox_uncharge() - return @bytes charged by kmbox_charge()
 * @u: the user
 * @bytes: how much
 */
void kmbox_uncharge(struct kmbox_user *u, unsigned long bytes)
{
	atomic_long_sub(bytes, &u->bytes);
}

/**
 * kmbox_users_visible() - how many records are for users @ns can name
 * @ns: the reader's user namespace
 *
 * /proc/kmbox/stats counts, as "users", the records whose uid maps into
 * the reader's user namespace: all of them in the initial one, a
 * container's own users in a container.
 *
 * Return: the count.
 */
long kmbox_users_visible(struct user_namespace *ns)
{
	struct kmbox_user *u;
	long n = 0;
	int bkt;

	spin_lock(&kmbox_users_lock);
	hash_for_each(kmbox_users, bkt, u, node)
		n += kuid_has_mapping(ns, u->uid);
	spin_unlock(&kmbox_users_lock);
	return n;
}

/**
 * kmbox_users_exit() - check at unload that every record was freed
 */
void kmbox_users_exit(void)
{
	WARN_ON(!hash_empty(kmbox_users));
}
