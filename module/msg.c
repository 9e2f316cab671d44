// SPDX-License-Identifier: GPL-2.0
/*
 * Message memory: the per-mailbox pool of small buffers, allocating,
 * filling and freeing messages, and copying payloads out.
 *
 * Layouts and charges: see "Message layouts" in kmbox.h.  A message too
 * big for a page is kept in order-0 pages, copied in and out one page at
 * a time, so that neither a large message nor a fragmented machine ever
 * needs a high-order allocation (ipc/msgutil.c chains page-sized segments
 * for the same reason).
 *
 * Buffers.  Small messages (and all zero-copy ones, which carry no
 * payload) live in buffers from the mailbox's pool (max_msgs +
 * KMBOX_POOL_EXTRA at most, charged to the creator; the policy, and how
 * the surplus over KMBOX_POOL_KEEP goes back, is in kmbox.h).  A receiver gives a delivered buffer
 * back with llist_add(), lock-free; a sender takes one from its file's
 * spare, and refills the spare from the pool while it holds kmbox->lock to
 * queue, so taking costs no lock round of its own and llist_del_first()
 * always runs under the lock, as it must.  Larger messages, and small ones
 * once the pool is all in use, are allocated and charged to the sender;
 * a freed paged message is kept whole for the mailbox's next one, a few
 * at most ("Recycled pages" in kmbox.h).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/llist.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/workqueue.h>

#include "kmbox.h"

/*
 * Pools with a surplus (more than KMBOX_POOL_KEEP buffers), for the
 * shrinker and the trim pass.  A mailbox is put on the list by the send
 * that grows its pool past KMBOX_POOL_KEEP, taken off by a trim that
 * brings it back, or by kmbox_pool_destroy(); both hold the mutex, so a
 * mailbox found on the list under it is alive.  Nothing allocates under
 * it, and the shrinker only tries it: reclaim entered under it, or under
 * a mailbox's lock, cannot wait for it.
 */
static DEFINE_MUTEX(kmbox_pools_lock);
static LIST_HEAD(kmbox_pools);
/* Buffers beyond KMBOX_POOL_KEEP over every pool, free or in use. */
static atomic_long_t kmbox_pool_surplus = ATOMIC_LONG_INIT(0);
/* Pages on every mailbox's recycled list. */
static atomic_long_t kmbox_recycled_total = ATOMIC_LONG_INIT(0);
static struct shrinker *kmbox_pool_shrinker;
static void kmbox_pool_trim_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kmbox_pool_trim_work, kmbox_pool_trim_fn);

/* @n more buffers in @mb's pool (< 0: freed), for /proc/kmbox/stats. */
static void kmbox_pool_count(struct kmbox *mb, long n)
{
	atomic_long_add(n, &mb->ns->pool_buffers);
	atomic_long_add(n, &kmbox_stats.pool_buffers);
}

/* Free a chain of @n pooled buffers taken off @mb's pool. */
static void kmbox_pool_free_chain(struct kmbox *mb, struct llist_node *chain, long n)
{
	struct kmbox_msg *msg, *next;

	llist_for_each_entry_safe(msg, next, chain, pool_node) {
		put_pid(msg->pid);
		kfree(msg);
	}
	kmbox_uncharge(mb->creator, n * KMBOX_POOL_COST);
	kmbox_pool_count(mb, -n);
}

static void kmbox_free_pages(struct list_head *pages)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru)
		__free_page(page);
}

static size_t kmbox_msg_cost(u32 len, u32 slot);

/*
 * Free a chain of recycled messages taken off @mb's list.  Return: the
 * pages; *@cost gets what they were charged to the creator.
 */
static unsigned long kmbox_recycled_free_chain(struct kmbox *mb, struct llist_node *chain,
					       unsigned long *cost)
{
	unsigned long pages = 0;
	struct kmbox_msg *msg, *next;

	*cost = 0;
	llist_for_each_entry_safe(msg, next, chain, pool_node) {
		pages += DIV_ROUND_UP(msg->len, PAGE_SIZE);
		*cost += kmbox_msg_cost(msg->len, KMBOX_NO_SLOT);
		kmbox_free_pages(&msg->pages);
		kfree(msg);
	}
	atomic_sub(pages, &mb->recycled_pages);
	atomic_long_sub(pages, &kmbox_recycled_total);
	return pages;
}

/*
 * Free every recycled message of @mb; may sleep.  Return: the pages.
 *
 * The recycled list is only ever added to and emptied whole (llist_add(),
 * llist_del_all()), which need no lock: no llist_del_first(), so a taker
 * never holds @mb->lock, which its queue's senders and receivers contend.
 */
static unsigned long kmbox_recycled_trim(struct kmbox *mb)
{
	unsigned long cost, pages;

	if (llist_empty(&mb->recycled))
		return 0;
	pages = kmbox_recycled_free_chain(mb, llist_del_all(&mb->recycled), &cost);
	kmbox_uncharge(mb->creator, cost);
	return pages;
}

/*
 * Keep @msg, a freed paged message of @mb (nobody charged for it any
 * more), for reuse.  Return: false if it must be freed instead.
 */
static bool kmbox_recycle(struct kmbox *mb, struct kmbox_msg *msg)
{
	unsigned int n = DIV_ROUND_UP(msg->len, PAGE_SIZE);

	if (atomic_add_return(n, &mb->recycled_pages) > KMBOX_RECYCLE_MAX)
		goto out;
	if (kmbox_charge(mb->creator, kmbox_msg_cost(msg->len, KMBOX_NO_SLOT)))
		goto out;
	msg->chain = NULL;
	msg->pid = NULL;
	atomic_long_add(n, &kmbox_recycled_total);
	llist_add(&msg->pool_node, &mb->recycled);
	return true;
out:
	atomic_sub(n, &mb->recycled_pages);
	return false;
}

/*
 * Are @msg's pages charged to the current task's memory cgroup?  Recycled
 * pages keep the charge of whoever allocated them: handed to a sender of
 * another cgroup, they would carry its messages uncharged.  A page
 * charged to no cgroup (allocated in the root cgroup, or with kmem
 * accounting off) goes to the root cgroup's tasks only.  A cgroup that
 * died since hands its charges to its parent: its pages then match
 * nobody's, and the shrinker or the idle trim frees them.
 */
static bool kmbox_recycled_ours(struct kmbox_msg *msg)
{
#ifdef CONFIG_MEMCG
	struct mem_cgroup *mine, *theirs;
	struct page *page;
	bool same;

	if (list_empty(&msg->pages))
		return true;
	page = list_first_entry(&msg->pages, struct page, lru);
	rcu_read_lock();
	theirs = folio_memcg(page_folio(page));
	mine = mem_cgroup_from_task(current);
	same = theirs ? theirs == mine : !mine || !mine->css.parent;
	rcu_read_unlock();
	return same;
#else
	return true;
#endif
}

/*
 * A recycled message of @mb whose pages are charged to the current task's
 * memory cgroup, no longer charged to anyone's quota; or NULL.
 */
static struct kmbox_msg *kmbox_recycled_get(struct kmbox *mb)
{
	struct llist_node *node, *prev = NULL, *chain;
	struct kmbox_msg *msg = NULL;
	unsigned int n;

	if (llist_empty(&mb->recycled))
		return NULL;
	/* Take them all, keep one of ours, give the rest back (see above). */
	chain = llist_del_all(&mb->recycled);
	for (node = chain; node; prev = node, node = node->next) {
		if (kmbox_recycled_ours(llist_entry(node, struct kmbox_msg, pool_node))) {
			msg = llist_entry(node, struct kmbox_msg, pool_node);
			if (prev)
				prev->next = node->next;
			else
				chain = node->next;
			break;
		}
	}
	if (chain) {
		struct llist_node *last = chain;

		while (last->next)
			last = last->next;
		llist_add_batch(chain, last, &mb->recycled);
	}
	if (!msg)
		return NULL;
	n = DIV_ROUND_UP(msg->len, PAGE_SIZE);
	atomic_sub(n, &mb->recycled_pages);
	atomic_long_sub(n, &kmbox_recycled_total);
	kmbox_uncharge(mb->creator, kmbox_msg_cost(msg->len, KMBOX_NO_SLOT));
	return msg;
}

/*
 * Free @mb's free pooled buffers down to @keep pooled buffers (not below
 * KMBOX_POOL_KEEP), @max at most; the pool list's mutex held.  The
 * mailbox's lock is taken for 32 buffers at a time.  May sleep.
 * Return: how many.
 */
static unsigned long kmbox_pool_trim(struct kmbox *mb, int keep, unsigned long max)
{
	unsigned long freed = 0;

	lockdep_assert_held(&kmbox_pools_lock);
	keep = max(keep, KMBOX_POOL_KEEP);
	while (freed < max) {
		struct llist_node *chain = NULL, *node;
		long n = 0, surplus = 0;

		spin_lock(&mb->lock);
		while (n < 32 && freed + n < max && atomic_read(&mb->pool_size) > keep &&
		       (node = llist_del_first(&mb->pool))) {
			/* As in kmbox_pool_grow(): by the value it had. */
			if (atomic_dec_return(&mb->pool_size) >= KMBOX_POOL_KEEP)
				surplus++;
			node->next = chain;
			chain = node;
			n++;
		}
		spin_unlock(&mb->lock);
		if (!n)
			break;
		atomic_long_sub(surplus, &kmbox_pool_surplus);
		kmbox_pool_free_chain(mb, chain, n);
		freed += n;
		/* 65 536 buffers are a lot of batches (shrinkers may sleep). */
		cond_resched();
	}
	return freed;
}

/* Has @mb something for the shrinker: a pool surplus, recycled pages? */
static bool kmbox_pool_listable(struct kmbox *mb)
{
	return atomic_read(&mb->pool_size) > KMBOX_POOL_KEEP ||
	       atomic_read(&mb->recycled_pages);
}

/* Take @mb off the list if it has nothing for the shrinker left; mutex held. */
static void kmbox_pool_unlist_idle(struct kmbox *mb)
{
	lockdep_assert_held(&kmbox_pools_lock);
	if (kmbox_pool_listable(mb))
		return;
	list_del_init(&mb->pool_link);
	/*
	 * A send growing the pool past KMBOX_POOL_KEEP meanwhile either sees
	 * it off the list and lists it, or is seen here.  Pairs with
	 * atomic_inc_return() before list_empty_careful() in
	 * kmbox_pool_grow() and kmbox_pool_list().
	 */
	smp_mb();
	if (kmbox_pool_listable(mb))
		list_add_tail(&mb->pool_link, &kmbox_pools);
}

/*
 * The trim pass: a pool that grew since the last pass is left alone (its
 * queue is filling); any other gives back the free buffers beyond what
 * its mailbox's messages of the moment need.  Runs while pools have a
 * surplus.
 */
static void kmbox_pool_trim_fn(struct work_struct *work)
{
	struct kmbox *mb, *tmp;

	mutex_lock(&kmbox_pools_lock);
	list_for_each_entry_safe(mb, tmp, &kmbox_pools, pool_link) {
		if (READ_ONCE(mb->pool_grew)) {
			WRITE_ONCE(mb->pool_grew, false);
			continue;
		}
		kmbox_pool_trim(mb, atomic_read(&mb->used) + KMBOX_POOL_EXTRA, ULONG_MAX);
		kmbox_recycled_trim(mb);
		kmbox_pool_unlist_idle(mb);
		cond_resched();
	}
	if (!list_empty(&kmbox_pools))
		queue_delayed_work(system_unbound_wq, &kmbox_pool_trim_work,
				   msecs_to_jiffies(KMBOX_POOL_TRIM_MS));
	mutex_unlock(&kmbox_pools_lock);
}

static unsigned long kmbox_pool_shrink_count(struct shrinker *s, struct shrink_control *sc)
{
	return atomic_long_read(&kmbox_pool_surplus) + atomic_long_read(&kmbox_recycled_total) ?:
	       SHRINK_EMPTY;
}

static unsigned long kmbox_pool_shrink_scan(struct shrinker *s, struct shrink_control *sc)
{
	unsigned long freed = 0;
	struct kmbox *mb, *tmp;

	if (!mutex_trylock(&kmbox_pools_lock))
		return SHRINK_STOP;
	list_for_each_entry_safe(mb, tmp, &kmbox_pools, pool_link) {
		freed += kmbox_pool_trim(mb, KMBOX_POOL_KEEP, sc->nr_to_scan - freed);
		freed += kmbox_recycled_trim(mb);
		kmbox_pool_unlist_idle(mb);
		if (freed >= sc->nr_to_scan)
			break;
	}
	/* Start with the next one next time. */
	if (!list_empty(&kmbox_pools))
		list_rotate_left(&kmbox_pools);
	mutex_unlock(&kmbox_pools_lock);
	return freed ?: SHRINK_STOP;
}

/**
 * kmbox_pool_init() - register the pools' shrinker, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int kmbox_pool_init(void)
{
	kmbox_pool_shrinker = kmbox_shrinker_register(kmbox_pool_shrink_count,
						      kmbox_pool_shrink_scan, "kmbox-pool");
	return kmbox_pool_shrinker ? 0 : -ENOMEM;
}

/**
 * kmbox_pool_exit() - unregister the shrinker, at module unload
 *
 * Every mailbox is gone, so no pool is listed and the trim pass, if still
 * queued, finds nothing.
 */
void kmbox_pool_exit(void)
{
	kmbox_shrinker_unregister(kmbox_pool_shrinker);
	cancel_delayed_work_sync(&kmbox_pool_trim_work);
	WARN_ON(!list_empty(&kmbox_pools) || atomic_long_read(&kmbox_pool_surplus) ||
		atomic_long_read(&kmbox_recycled_total));
}

/**
 * kmbox_pool_destroy() - free @mb's pooled buffers and recycled messages for good
 * @mb: a mailbox no file refers to any more
 *
 * Every file has given its spare back: all buffers are in the pool.
 *
 * Context: may sleep (the pool list's mutex).
 * Return: the bytes they were charged to the creator.
 */
unsigned long kmbox_pool_destroy(struct kmbox *mb)
{
	struct kmbox_msg *msg, *next;
	unsigned long recycled;
	int pooled = 0;

	/*
	 * Only a pool that may grow past KMBOX_POOL_KEEP, or a mailbox of
	 * paged messages, is ever listed.
	 */
	if (mb->pool_max > KMBOX_POOL_KEEP || mb->max_msgsize > KMBOX_INLINE_MAX) {
		mutex_lock(&kmbox_pools_lock);
		list_del_init(&mb->pool_link);
		mutex_unlock(&kmbox_pools_lock);
	}
	llist_for_each_entry_safe(msg, next, llist_del_all(&mb->pool), pool_node) {
		put_pid(msg->pid);
		kfree(msg);
		pooled++;
	}
	WARN_ON(pooled != atomic_read(&mb->pool_size));
	if (pooled > KMBOX_POOL_KEEP)
		atomic_long_sub(pooled - KMBOX_POOL_KEEP, &kmbox_pool_surplus);
	kmbox_pool_count(mb, -pooled);
	kmbox_recycled_free_chain(mb, llist_del_all(&mb->recycled), &recycled);
	WARN_ON(atomic_read(&mb->recycled_pages));
	return pooled * KMBOX_POOL_COST + recycled;
}

/*
 * @mb's pool grew past KMBOX_POOL_KEEP, or it sends a paged message:
 * list it for the trim pass and the shrinker.
 */
static void kmbox_pool_list(struct kmbox *mb)
{
	WRITE_ONCE(mb->pool_grew, true);
	/* Lockless peek: see kmbox_pool_unlist_idle(). */
	if (!list_empty_careful(&mb->pool_link))
		return;
	mutex_lock(&kmbox_pools_lock);
	if (list_empty(&mb->pool_link)) {
		list_add_tail(&mb->pool_link, &kmbox_pools);
		queue_delayed_work(system_unbound_wq, &kmbox_pool_trim_work,
				   msecs_to_jiffies(KMBOX_POOL_TRIM_MS));
	}
	mutex_unlock(&kmbox_pools_lock);
}

/*
 * May a send through @kf grow @mb's pool to @size buffers?  Up to
 * KMBOX_POOL_KEEP, any send may: the creator accepted that charge by
 * creating the mailbox.  Beyond, only a send charged to the creator's own
 * users: another user's messages must not spend the creator's quota, so
 * theirs are allocated and charged to them as before (kmbox.h, "Message
 * pool").
 */
static bool kmbox_pool_may_grow(const struct kmbox_file *kf, const struct kmbox *mb, int size)
{
	return size <= KMBOX_POOL_KEEP || kmbox_chain_same(kf->chain, mb->creator);
}

/* A new pooled buffer for @kf's mailbox, or NULL when the pool is full or over quota. */
static struct kmbox_msg *kmbox_pool_grow(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_msg *msg;
	int size;

	BUILD_BUG_ON(KMBOX_POOL_DATA < 512);
	if (atomic_read(&mb->pool_size) >= mb->pool_max ||
	    !kmbox_pool_may_grow(kf, mb, atomic_read(&mb->pool_size) + 1))
		return NULL;
	/*
	 * kmbox_pool_surplus follows every change of a pool's size across
	 * KMBOX_POOL_KEEP by the value it changed from, so it is exact once
	 * the pool is quiet, whatever the order of grows and trims.
	 */
	size = atomic_inc_return(&mb->pool_size);
	if (size > KMBOX_POOL_KEEP)
		atomic_long_inc(&kmbox_pool_surplus);
	if (size > mb->pool_max || !kmbox_pool_may_grow(kf, mb, size))
		goto out_dec;
	if (kmbox_charge(mb->creator, KMBOX_POOL_COST))
		goto out_dec;
	msg = kmalloc(KMBOX_POOL_COST, KMBOX_MSG_GFP);
	if (!msg)
		goto out_uncharge;
	msg->pooled = true;
	msg->pid = NULL;
	kmbox_pool_count(mb, 1);
	if (size > KMBOX_POOL_KEEP)
		kmbox_pool_list(mb);
	return msg;

out_uncharge:
	kmbox_uncharge(mb->creator, KMBOX_POOL_COST);
out_dec:
	if (atomic_dec_return(&mb->pool_size) >= KMBOX_POOL_KEEP)
		atomic_long_dec(&kmbox_pool_surplus);
	return NULL;
}

/**
 * kmbox_pool_take() - take up to @n free pooled buffers of @mb at once
 * @mb: the mailbox
 * @n: how many at most
 *
 * For a batch of sends: one lock round instead of one per message.
 *
 * Return: a NULL-terminated chain of buffers (pool_node), maybe empty.
 */
struct llist_node *kmbox_pool_take(struct kmbox *mb, unsigned int n)
{
	struct llist_node *chain = NULL, **tail = &chain, *node;

	if (llist_empty(&mb->pool))
		return NULL;
	spin_lock(&mb->lock);
	while (n-- && (node = llist_del_first(&mb->pool))) {
		*tail = node;
		tail = &node->next;
	}
	*tail = NULL;
	spin_unlock(&mb->lock);
	return chain;
}

/**
 * kmbox_pool_give() - give a chain from kmbox_pool_take() back
 * @mb: the mailbox
 * @chain: what is left of it
 */
void kmbox_pool_give(struct kmbox *mb, struct llist_node *chain)
{
	struct llist_node *last = chain;

	if (!chain)
		return;
	while (last->next)
		last = last->next;
	llist_add_batch(chain, last, &mb->pool);
}

/* A free pooled buffer for a send through @kf, or NULL. */
static struct kmbox_msg *kmbox_pool_get(struct kmbox_file *kf, struct llist_node **chain)
{
	struct kmbox *mb = kf->mb;
	struct llist_node *node;
	struct kmbox_msg *msg;

	if (chain && *chain) {
		node = *chain;
		*chain = node->next;
		return llist_entry(node, struct kmbox_msg, pool_node);
	}
	msg = xchg(&kf->spare, NULL);
	if (msg)
		return msg;
	node = kmbox_pool_take(mb, 1);
	if (node)
		return llist_entry(node, struct kmbox_msg, pool_node);
	return kmbox_pool_grow(kf);
}

/**
 * kmbox_pool_refill_locked() - set a free buffer aside for @kf's next send
 * @kf: the sending file
 *
 * Context: @kf->mb->lock held.
 */
void kmbox_pool_refill_locked(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;
	struct llist_node *node;

	lockdep_assert_held(&mb->lock);
	if (READ_ONCE(kf->spare) || llist_empty(&mb->pool))
		return;
	node = llist_del_first(&mb->pool);
	if (node && cmpxchg(&kf->spare, NULL,
			    llist_entry(node, struct kmbox_msg, pool_node)))
		llist_add(node, &mb->pool);
}

/* A copied message whose payload is kept in pages. */
static bool kmbox_msg_paged(const struct kmbox_msg *msg)
{
	return msg->slot == KMBOX_NO_SLOT && msg->len > KMBOX_INLINE_MAX;
}

/* What a message of @len (in @slot) not from the pool takes: its charge. */
static size_t kmbox_msg_cost(u32 len, u32 slot)
{
	if (slot != KMBOX_NO_SLOT)
		return kmalloc_size_roundup(KMBOX_MSG_HDR);
	if (len <= KMBOX_INLINE_MAX)
		return kmalloc_size_roundup(KMBOX_MSG_HDR + len);
	return kmalloc_size_roundup(sizeof(struct kmbox_msg)) + PAGE_ALIGN((size_t)len);
}

/*
 * A message of @len (in @slot) for @mb not from the pool, or NULL.  A
 * paged one is a recycled one if @mb has one, with pages added or freed
 * to fit @len.
 */
static struct kmbox_msg *kmbox_msg_new(struct kmbox *mb, u32 len, u32 slot)
{
	unsigned long i, npages = DIV_ROUND_UP(len, PAGE_SIZE);
	struct kmbox_msg *msg;

	if (slot != KMBOX_NO_SLOT)
		return kmalloc(KMBOX_MSG_HDR, KMBOX_MSG_GFP);
	if (len <= KMBOX_INLINE_MAX)
		return kmalloc(KMBOX_MSG_HDR + len, KMBOX_MSG_GFP);

	/* What it frees now may be recycled: the shrinker must see it. */
	kmbox_pool_list(mb);
	msg = kmbox_recycled_get(mb);
	if (msg) {
		i = DIV_ROUND_UP(msg->len, PAGE_SIZE);
		for (; i > npages; i--) {
			struct page *page = list_last_entry(&msg->pages, struct page, lru);

			list_del(&page->lru);
			__free_page(page);
		}
	} else {
		msg = kmalloc(sizeof(*msg), KMBOX_MSG_GFP);
		if (!msg)
			return NULL;
		INIT_LIST_HEAD(&msg->pages);
		i = 0;
	}
	for (; i < npages; i++) {
		/* Never highmem (no __GFP_HIGHMEM); kmap_local_page() anyway. */
		struct page *page = alloc_page(KMBOX_MSG_GFP);

		if (!page) {
			kmbox_free_pages(&msg->pages);
			kfree(msg);
			return NULL;
		}
		list_add_tail(&page->lru, &msg->pages);
	}
	return msg;
}

/**
 * kmbox_msg_alloc() - get a message buffer to send through @kf
 * @kf: the sending file (bound)
 * @len: payload length
 * @slot: region slot holding the payload, or KMBOX_NO_SLOT for a copied
 *	message, whose @len bytes the caller then fills in
 * @pool: a chain from kmbox_pool_take() to use first, or NULL
 * @creds: whose pid, euid and egid the message carries
 *
 * A small or zero-copy message comes from the mailbox's pool when it can.
 * Any other message is charged to @kf's chain, for what it takes, until
 * it is freed.
 *
 * Return: the message, ERR_PTR(-ENOBUFS) over quota, or -ENOMEM.
 */
struct kmbox_msg *kmbox_msg_alloc(struct kmbox_file *kf, u32 len, u32 slot,
				  struct llist_node **pool, enum kmbox_creds creds)
{
	bool opener = creds == KMBOX_CREDS_OPENER;
	struct pid *pid = opener ? kf->opener : task_tgid(current);
	bool copied = slot == KMBOX_NO_SLOT;
	struct kmbox_msg *msg = NULL;

	if (!copied || len <= KMBOX_POOL_DATA)
		msg = kmbox_pool_get(kf, pool);
	if (msg) {
		if (msg->pid != pid) {
			put_pid(msg->pid);
			msg->pid = get_pid(pid);
		}
		msg->chain = NULL;
	} else {
		size_t cost = kmbox_msg_cost(len, slot);

		if (kmbox_charge(kf->chain, cost))
			return ERR_PTR(-ENOBUFS);
		msg = kmbox_msg_new(kf->mb, len, slot);
		if (!msg) {
			kmbox_uncharge(kf->chain, cost);
			return ERR_PTR(-ENOMEM);
		}
		msg->pooled = false;
		msg->chain = kmbox_chain_hold(kf->chain);
		msg->pid = get_pid(pid);
	}
	msg->uid = opener ? kf->cred->euid : current_euid();
	msg->gid = opener ? kf->cred->egid : current_egid();
	msg->len = len;
	msg->prio = 0;
	msg->slot = slot;
	msg->sync = NULL;
	msg->token = 0;
	msg->tag = 0;
	msg->expires = 0;
	if (copied)
		kmbox_stat_add(kf->mb, bytes, len);
	kmbox_stat_add(kf->mb, messages, 1);
	return msg;
}

/* A message is freed: the statistics forget it. */
static void kmbox_msg_uncount(struct kmbox *mb, const struct kmbox_msg *msg)
{
	if (msg->slot == KMBOX_NO_SLOT)
		kmbox_stat_add(mb, bytes, -(s64)msg->len);
	kmbox_stat_add(mb, messages, -1);
}

/**
 * kmbox_msg_free() - free a message that is in no queue
 * @mb: the mailbox it was allocated for
 * @msg: the message
 *
 * A pooled buffer goes back to @mb's pool (lock-free).
 */
void kmbox_msg_free(struct kmbox *mb, struct kmbox_msg *msg)
{
	kmbox_msg_uncount(mb, msg);
	if (msg->pooled) {
		llist_add(&msg->pool_node, &mb->pool);
		return;
	}
	kmbox_uncharge(msg->chain, kmbox_msg_cost(msg->len, msg->slot));
	kmbox_chain_put(msg->chain);
	put_pid(msg->pid);
	if (kmbox_msg_paged(msg)) {
		if (kmbox_recycle(mb, msg))
			return;
		kmbox_free_pages(&msg->pages);
	}
	kfree(msg);
}

/**
 * kmbox_msg_free_many() - kmbox_msg_free() for @n messages
 * @mb: the mailbox they were allocated for
 * @msgs: the messages
 * @n: how many
 *
 * The pooled buffers among them go back in one llist_add_batch().
 */
void kmbox_msg_free_many(struct kmbox *mb, struct kmbox_msg **msgs, unsigned int n)
{
	struct llist_node *first = NULL, *last = NULL;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct kmbox_msg *msg = msgs[i];

		if (!msg->pooled) {
			kmbox_msg_free(mb, msg);
			continue;
		}
		kmbox_msg_uncount(mb, msg);
		msg->pool_node.next = first;
		first = &msg->pool_node;
		if (!last)
			last = first;
	}
	if (first)
		llist_add_batch(first, last, &mb->pool);
}

/*
 * Payloads of up to KMBOX_BOUNCE_MAX bytes pass between user space and a
 * message through a buffer on the stack.  Hardened usercopy then checks
 * a stack object (bounds on the current stack) instead of a pooled
 * buffer's slab object (__check_heap_object()) and the kernel text:
 * 107 fewer instructions per 64 B write()+read() pair under QEMU -icount,
 * net of the two memcpy().  The copy into or out of the message is
 * bounded by the length it was allocated for, as before.  The buffer is
 * __uninitialized: CONFIG_INIT_STACK_ALL_ZERO would zero its 128 bytes
 * on every call, and no byte of it is ever read that the call did not
 * write first (a copy in that faults fails the send and is not used).
 */
#define KMBOX_BOUNCE_MAX	128

static int kmbox_copy_from_user(void *dst, const void __user *src, size_t len)
{
	if (len <= KMBOX_BOUNCE_MAX) {
		char b[KMBOX_BOUNCE_MAX] __uninitialized;

		if (copy_from_user(b, src, len))
			return -EFAULT;
		memcpy(dst, b, len);
		return 0;
	}
	return copy_from_user(dst, src, len) ? -EFAULT : 0;
}

static int kmbox_copy_to_user(void __user *dst, const void *src, size_t len)
{
	if (len <= KMBOX_BOUNCE_MAX) {
		char b[KMBOX_BOUNCE_MAX] __uninitialized;

		memcpy(b, src, len);
		return copy_to_user(dst, b, len) ? -EFAULT : 0;
	}
	return copy_to_user(dst, src, len) ? -EFAULT : 0;
}

/**
 * kmbox_msg_fill() - copy a copied message's payload in
 * @msg: a message from kmbox_msg_alloc() with KMBOX_NO_SLOT
 * @from: at least @msg->len bytes
 *
 * Return: 0, or -EFAULT (the payload is then partly filled).
 */
int kmbox_msg_fill(struct kmbox_msg *msg, struct iov_iter *from)
{
	size_t left = msg->len;
	struct page *page;

	if (left <= KMBOX_BOUNCE_MAX) {
		char b[KMBOX_BOUNCE_MAX] __uninitialized;

		if (!copy_from_iter_full(b, left, from))
			return -EFAULT;
		memcpy(msg->data, b, left);
		return 0;
	}
	if (!kmbox_msg_paged(msg))
		return copy_from_iter_full(msg->data, left, from) ? 0 : -EFAULT;
	list_for_each_entry(page, &msg->pages, lru) {
		size_t n = min_t(size_t, left, PAGE_SIZE);

		if (copy_page_from_iter(page, 0, n, from) != n)
			return -EFAULT;
		left -= n;
	}
	return 0;
}

/**
 * kmbox_msg_fill_user() - copy a copied message's payload in from @buf
 * @msg: a message from kmbox_msg_alloc() with KMBOX_NO_SLOT
 * @buf: at least @msg->len bytes
 *
 * Return: 0, or -EFAULT (the payload is then partly filled).
 */
int kmbox_msg_fill_user(struct kmbox_msg *msg, const void __user *buf)
{
	struct iov_iter iter;

	if (!kmbox_msg_paged(msg))
		return kmbox_copy_from_user(msg->data, buf, msg->len);
	iov_iter_ubuf(&iter, ITER_SOURCE, (void __user *)buf, msg->len);
	return kmbox_msg_fill(msg, &iter);
}

/* The payload of @msg when it is in one piece: inline or in its slot. */
static const void *kmbox_msg_payload(struct kmbox *mb, const struct kmbox_msg *msg)
{
	return msg->slot == KMBOX_NO_SLOT ? msg->data : kmbox_slot_addr(mb, msg->slot);
}

/**
 * kmbox_msg_copy_to_iter() - copy a taken message's payload out
 * @mb: its mailbox
 * @msg: the message (not changed)
 * @to: room for at least @msg->len bytes
 *
 * Return: 0, or -EFAULT (@to then holds part of the payload).
 */
int kmbox_msg_copy_to_iter(struct kmbox *mb, const struct kmbox_msg *msg, struct iov_iter *to)
{
	size_t left = msg->len;
	struct page *page;

	if (left <= KMBOX_BOUNCE_MAX) {
		char b[KMBOX_BOUNCE_MAX] __uninitialized;

		memcpy(b, kmbox_msg_payload(mb, msg), left);
		return copy_to_iter(b, left, to) == left ? 0 : -EFAULT;
	}
	if (!kmbox_msg_paged(msg))
		return copy_to_iter(kmbox_msg_payload(mb, msg), left, to) == left ? 0 : -EFAULT;
	list_for_each_entry(page, &msg->pages, lru) {
		size_t n = min_t(size_t, left, PAGE_SIZE);

		if (copy_page_to_iter(page, 0, n, to) != n)
			return -EFAULT;
		left -= n;
	}
	return 0;
}

/**
 * kmbox_copy_out() - copy a taken message's payload to user space
 * @mb: its mailbox
 * @buf: where to (at least @msg->len bytes)
 * @msg: the message (not changed)
 *
 * Return: 0 or -EFAULT.
 */
int kmbox_copy_out(struct kmbox *mb, void __user *buf, const struct kmbox_msg *msg)
{
	struct iov_iter iter;

	if (!kmbox_msg_paged(msg))
		return kmbox_copy_to_user(buf, kmbox_msg_payload(mb, msg), msg->len);
	iov_iter_ubuf(&iter, ITER_DEST, buf, msg->len);
	return kmbox_msg_copy_to_iter(mb, msg, &iter);
}

/**
 * kmbox_prepare() - build a message to send through @kf (an ioctl's)
 * @kf: a bound file
 * @buf: payload (copied messages)
 * @len: payload length
 * @prio: priority
 * @zc: the payload is in @slot of the region
 * @slot: region slot (zero-copy only)
 * @pool: pooled buffers to use first (kmbox_pool_take()), or NULL
 *
 * Return: the message, or ERR_PTR(-EINVAL, -EMSGSIZE, -EFAULT, -ENOBUFS,
 * -ENOMEM).
 */
struct kmbox_msg *kmbox_prepare(struct kmbox_file *kf, const void __user *buf, u32 len,
				u32 prio, bool zc, u32 slot, struct llist_node **pool)
{
	struct kmbox_msg *msg;
	int ret;

	if (prio >= KMBOX_PRIO_MAX)
		return ERR_PTR(-EINVAL);
	if (zc) {
		ret = kmbox_zc_check_slot(kf->mb, &slot, len);
		if (ret)
			return ERR_PTR(ret);
	} else {
		if (slot)
			return ERR_PTR(-EINVAL);
		if (len > kf->mb->max_msgsize)
			return ERR_PTR(-EMSGSIZE);
		slot = KMBOX_NO_SLOT;
	}
	msg = kmbox_msg_alloc(kf, len, slot, pool, KMBOX_CREDS_CALLER);
	if (IS_ERR(msg))
		return msg;
	if (!zc) {
		ret = kmbox_msg_fill_user(msg, buf);
		if (ret) {
			kmbox_msg_free(kf->mb, msg);
			return ERR_PTR(ret);
		}
	}
	msg->prio = prio;
	return msg;
}
