// SPDX-License-Identifier: GPL-2.0
/*
 * Per-user memory accounting.
 *
 * Every byte kmbox pins on behalf of a user space caller is charged: a
 * mailbox, its zero-copy region and its pool to the creator, a queued
 * message not in the pool to the user who opened the sending file.  The
 * users charged are the file's charge chain (struct kmbox_chain): the
 * opener's euid and the owner of every user namespace above the opener's,
 * as mqueue charges its ucounts up to init_user_ns.  Each of them is held
 * to user_quota bytes and user_max_mailboxes mailboxes, unless the opener
 * had CAP_SYS_RESOURCE in the initial user namespace, so the ids a user
 * maps into its own namespaces share that user's limits.
 *
 * A chain is made once, when the file is opened, from the file's
 * credentials, and every message and mailbox charged through it holds a
 * reference, so the charge is given back to the same users later.  The
 * per-user records live while a chain lists them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/user_namespace.h>
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

/* A referenced record of @uid, or NULL when out of memory; may sleep. */
static struct kmbox_user *kmbox_user_get(kuid_t uid)
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

static void kmbox_user_put(struct kmbox_user *u)
{
	/* refcount_dec_and_lock(), in a form sparse follows */
	if (refcount_dec_not_one(&u->ref))
		return;
	spin_lock(&kmbox_users_lock);
	if (!refcount_dec_and_test(&u->ref)) {
		spin_unlock(&kmbox_users_lock);
		return;
	}
	hash_del(&u->node);
	spin_unlock(&kmbox_users_lock);
	WARN_ON_ONCE(atomic_long_read(&u->bytes) || atomic_read(&u->mailboxes));
	atomic_long_dec(&kmbox_stats.users);
	kfree(u);
}

/* Append @uid to @uids[*@n] unless it is there already. */
static void kmbox_chain_add(kuid_t *uids, unsigned int *n, kuid_t uid)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (uid_eq(uids[i], uid))
			return;
	if (!WARN_ON_ONCE(*n == KMBOX_CHAIN_MAX))
		uids[(*n)++] = uid;
}

/**
 * kmbox_chain_get() - make the charge chain of a file opened with @cred
 * @cred: the opener's credentials (the file's f_cred)
 * @exempt: the opener had CAP_SYS_RESOURCE in the initial user namespace
 *
 * Lists @cred's euid, then the owner of @cred's user namespace, of its
 * parent, and so on up to (not including) init_user_ns, each user once.
 *
 * Context: Process context; may sleep.
 * Return: the chain with one reference, or NULL when out of memory.
 */
struct kmbox_chain *kmbox_chain_get(const struct cred *cred, bool exempt)
{
	const struct user_namespace *ns;
	kuid_t uids[KMBOX_CHAIN_MAX];
	struct kmbox_chain *c;
	unsigned int n = 0;

	/* @cred pins its user namespace, which pins its ancestors. */
	kmbox_chain_add(uids, &n, cred->euid);
	for (ns = cred->user_ns; ns != &init_user_ns; ns = ns->parent)
		kmbox_chain_add(uids, &n, ns->owner);

	c = kmalloc(struct_size(c, users, n), GFP_KERNEL_ACCOUNT);
	if (!c)
		return NULL;
	refcount_set(&c->ref, 1);
	c->exempt = exempt;
	for (c->n = 0; c->n < n; c->n++) {
		c->users[c->n] = kmbox_user_get(uids[c->n]);
		if (!c->users[c->n]) {
			kmbox_chain_put(c);
			return NULL;
		}
	}
	return c;
}

/**
 * kmbox_chain_same() - do two charge chains charge the same users alike?
 * @a: a chain
 * @b: another
 *
 * Return: true when they list the same users, in the same order, and are
 * both exempt from the limits or both held to them.
 */
bool kmbox_chain_same(const struct kmbox_chain *a, const struct kmbox_chain *b)
{
	unsigned int i;

	if (a == b)
		return true;
	if (a->n != b->n || a->exempt != b->exempt)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->users[i] != b->users[i])
			return false;
	return true;
}

/**
 * kmbox_chain_put() - drop a reference to a charge chain
 * @c: the chain, or NULL
 *
 * Context: Process context, no kmbox lock held.
 */
void kmbox_chain_put(struct kmbox_chain *c)
{
	unsigned int i;

	if (!c || !refcount_dec_and_test(&c->ref))
		return;
	for (i = 0; i < c->n; i++)
		kmbox_user_put(c->users[i]);
	kfree(c);
}

/**
 * kmbox_charge() - charge @bytes to every user of @c
 * @c: the charge chain
 * @bytes: how much
 *
 * Each user is held to user_quota unless @c is exempt.
 *
 * Return: 0, or -EDQUOT when a user's quota would be exceeded (nothing
 * charged).
 */
int kmbox_charge(struct kmbox_chain *c, unsigned long bytes)
{
	unsigned long quota = READ_ONCE(kmbox_params.user_quota);
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		long now = atomic_long_add_return(bytes, &c->users[i]->bytes);

		if (quota && !c->exempt && (unsigned long)now > quota)
			goto undo;
	}
	return 0;

undo:
	do {
		atomic_long_sub(bytes, &c->users[i]->bytes);
	} while (i--);
	return -EDQUOT;
}

/**
 * kmbox_uncharge() - give back @bytes charged by kmbox_charge()
 * @c: the same chain
 * @bytes: how much
 */
void kmbox_uncharge(struct kmbox_chain *c, unsigned long bytes)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		atomic_long_sub(bytes, &c->users[i]->bytes);
}

/**
 * kmbox_charge_mailbox() - count one more mailbox for every user of @c
 * @c: the creator's charge chain
 *
 * Each user is held to user_max_mailboxes unless @c is exempt.
 *
 * Return: 0, or -EMFILE (nothing counted).
 */
int kmbox_charge_mailbox(struct kmbox_chain *c)
{
	unsigned int max = READ_ONCE(kmbox_params.user_max_mailboxes);
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		if (atomic_inc_return(&c->users[i]->mailboxes) > max && !c->exempt)
			goto undo;
	}
	return 0;

undo:
	do {
		atomic_dec(&c->users[i]->mailboxes);
	} while (i--);
	return -EMFILE;
}

/**
 * kmbox_uncharge_mailbox() - undo kmbox_charge_mailbox()
 * @c: the same chain
 */
void kmbox_uncharge_mailbox(struct kmbox_chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		atomic_dec(&c->users[i]->mailboxes);
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
