// SPDX-License-Identifier: GPL-2.0
/*
 * The zero-copy region: a mailbox's mmap-able array of payload slots, and
 * the one state machine that says who may touch each slot.
 *
 * Layout.  zc_slots slots of zc_slot_size bytes (a power of two), slot i
 * at offset i * zc_slot_size of one virtually contiguous kernel mapping
 * (vmap()) mapped at KMBOX_OFF_REGION, page by page from
 * kmbox_region_fault().  Its pages are allocated in physically contiguous
 * runs of up to KMBOX_REGION_RUN bytes where the allocator has them
 * (kmbox_region_pages()), with __GFP_ACCOUNT, so memory cgroups see them.
 * vmalloc() would take single pages from all over memory, and every
 * refill of a TLB entry for them (each one, after every switch between
 * two processes) then finds its page in a different place: a slot of 1
 * MiB read and written after a TLB flush cost a third more in scattered
 * pages than in contiguous ones, measured in the QEMU guest, which is as
 * much as a 1 MiB zero-copy message lost to a shared-memory ring.  The
 * region holds payload bytes
 * and nothing else: every slot index, length and state the kernel acts on
 * lives in kernel memory and reaches it through ioctl arguments, which are
 * range-checked (array_index_nospec()) and checked against the slot's
 * state and owner under kmbox->lock.  A peer that scribbles over the
 * mapping can spoil payloads, never a kernel decision.
 *
 * Life of a slot.  Every transition is one function below, called with
 * kmbox->lock held; nothing outside this file writes a slot's state.
 *
 *            reserve (sender file S)          send (S)
 *     FREE ------------------------> RESERVED ----------> QUEUED
 *      ^  ^                          owner S  <----------  |  ^
 *      |  |                                   |  unsend    |  |
 *      |  |                                   |  (S)       |  |
 *      |  |      release/close (S)            |      take  |  | untake
 *      |  +-----------------------------------+   (recv)   v  | (copy-out
 *      |                                                 TAKEN   faulted)
 *      |  release/close (R)              deliver as slot  |  |
 *      +------------------------ HELD <-------------------+  |
 *      |                        owner R  (to receiver R)     |
 *      +-----------------------------------------------------+
 *                      deliver by copy (read() and the like)
 *
 *  - reserve        FREE -> RESERVED      ZC_RESERVE through S
 *  - unreserve      RESERVED -> FREE      S rolls back its own RESERVE
 *  - release        RESERVED|HELD -> FREE  ZC_RELEASE by the owner only
 *  - send           RESERVED -> QUEUED    SEND with KMBOX_F_ZC by the owner
 *  - unsend         QUEUED -> RESERVED    the sender withdraws a synchronous
 *                                         send (call.c) before any receive
 *                                         took it: the slot is its own again
 *  - take           QUEUED -> TAKEN       a receive takes the message off
 *                                         the queue, or a sender hands it
 *                                         to a sleeping receiver; the
 *                                         receiving file is recorded if
 *                                         it takes the slot itself
 *  - untake         TAKEN -> QUEUED       the receive failed (copy-out
 *                                         fault): the message is requeued
 *  - deliver        TAKEN -> HELD | FREE  the receive committed: a slot
 *                                         taken as a slot now belongs to
 *                                         its receiver; one whose payload
 *                                         was copied out is free
 *  - detach         RESERVED|HELD -> FREE  the owner's file closes
 *
 * A TAKEN slot has no owner anybody can act through: neither release nor
 * close can free it while its receive may still fail and put it back.  A
 * slot is handed out by reserve only from FREE, so a slot that is queued
 * or being read is never given to a sender again until it is released.
 * Requests from user space that do not fit the state (releasing a slot
 * one does not hold, sending a slot one did not reserve) fail with EINVAL;
 * a transition the kernel itself asks for in the wrong state is a kmbox
 * bug: it WARNs once and fails, and changes nothing.
 *
 * The free slots are a bitmap, so that freeing a slot twice is caught
 * (__test_and_set_bit()) instead of corrupting a store; per-state counts
 * are kept beside it, and always add up to the number of slots.  When a
 * slot a sender queued comes free, that sender file's zc_completed count
 * goes up and EPOLLWRBAND is signalled.
 *
 * Memory-ordering contract.  The payload is plain shared memory; the
 * ordering between a sender's stores and a receiver's loads comes from
 * the system calls between them: the sender's stores precede its
 * KMBOX_IOC_SEND, which queues the slot under kmbox->lock (release); the
 * receiver's KMBOX_IOC_RECV takes the slot under the same lock (acquire)
 * before returning, and only then does it read the payload.  Likewise a
 * receiver's loads precede its ZC_RELEASE, and the next sender's stores
 * follow its ZC_RESERVE, both under the lock.  User space needs no
 * barriers of its own as long as it touches a slot only while it holds
 * it (between RESERVE and SEND, or between RECV and RELEASE).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kmbox.h"
#include "trace.h"

enum kmbox_slot_state {
	KMBOX_SLOT_FREE,
	KMBOX_SLOT_RESERVED,
	KMBOX_SLOT_QUEUED,
	KMBOX_SLOT_TAKEN,
	KMBOX_SLOT_HELD,
	KMBOX_SLOT_NSTATES
};

/* trace.h names the states by these numbers (kmbox_zc_slot). */
static_assert(KMBOX_SLOT_FREE == 0 && KMBOX_SLOT_RESERVED == 1 && KMBOX_SLOT_QUEUED == 2 &&
	      KMBOX_SLOT_TAKEN == 3 && KMBOX_SLOT_HELD == 4);

/**
 * struct kmbox_slot - kernel-side state of one slot
 * @owner: RESERVED: the sender file; HELD: the receiver file; TAKEN: the
 *	receiving file if it takes the slot itself, else NULL
 * @sender: file that queued the slot, until the slot is free again or
 *	that file closes
 * @state: enum kmbox_slot_state
 * @mark: set while kmbox_zc_release() checks its list for duplicates
 * @tag: RESERVED: which reserve call handed it out (kmbox_zc_unreserve())
 */
struct kmbox_slot {
	struct kmbox_file *owner;
	struct kmbox_file *sender;
	u8 state;
	bool mark;
	u32 tag;
};

/**
 * struct kmbox_region - a mailbox's zero-copy region
 * @base: the payload area, @size bytes, the vmap() of @pages
 * @pages: its pages, in order (@size / PAGE_SIZE of them)
 * @size: @nslots * @slot_size rounded up to a page
 * @nslots: number of slots
 * @slot_size: bytes per slot, a power of two
 * @slot_shift: log2(@slot_size)
 * @count: slots in each state; they add up to @nslots.  @count[FREE] is
 *	also read without the lock (poll, sleepers' condition)
 * @free: bitmap of the FREE slots
 * @tag: the last reserve call's tag
 * @slots: per-slot state
 */
struct kmbox_region {
	void *base;
	struct page **pages;
	size_t size;
	u32 nslots;
	u32 slot_size;
	unsigned int slot_shift;
	u32 count[KMBOX_SLOT_NSTATES];
	unsigned long *free;
	u32 tag;
	struct kmbox_slot *slots;
};

/* What kvmalloc() can really take for @size bytes: its size class. */
static size_t kmbox_kv_size(size_t size)
{
	if (size <= KMALLOC_MAX_CACHE_SIZE)
		return kmalloc_size_roundup(size);
	return PAGE_SIZE << get_order(size);
}

/**
 * kmbox_region_cost() - memory a region of @nslots x @slot_size pins
 * @nslots: slots
 * @slot_size: bytes per slot
 *
 * The payload pages, the array of them, and the slot bookkeeping; this is
 * what the creator is charged.
 *
 * Return: bytes.
 */
size_t kmbox_region_cost(u32 nslots, u32 slot_size)
{
	size_t size = PAGE_ALIGN((size_t)nslots * slot_size);

	return size + kmbox_kv_size((size >> PAGE_SHIFT) * sizeof(struct page *)) +
	       kmbox_kv_size(sizeof(struct kmbox_region)) +
	       kmbox_kv_size(array_size(nslots, sizeof(struct kmbox_slot))) +
	       kmbox_kv_size(BITS_TO_LONGS(nslots) * sizeof(unsigned long));
}

/* The longest physically contiguous run a region's pages are taken in. */
#define KMBOX_REGION_RUN	SZ_2M

/* Free the first @n of @pages. */
static void kmbox_region_free_pages(struct page **pages, unsigned long n)
{
	while (n)
		__free_page(pages[--n]);
}

/*
 * kmbox_region_pages() - fill @pages with @n zeroed pages, in runs of
 * physically contiguous pages as long as the allocator gives: a run of
 * 2^order pages is one allocation, split into single pages (split_page())
 * so that each is mapped, referenced and freed on its own.  A run that
 * is not to be had at once (no reclaim or compaction is asked for above
 * order 0, and no warning) is looked for at the next lower order, and so
 * on down to single pages, which may wait for reclaim as vmalloc() would.
 * A fatal signal ends the wait.
 *
 * Return: 0, or -ENOMEM with nothing allocated.
 */
static int kmbox_region_pages(struct page **pages, unsigned long n)
{
	unsigned int max_order = get_order(KMBOX_REGION_RUN);
	unsigned long i = 0, k;

	while (i < n) {
		unsigned int order = min_t(unsigned int, max_order, ilog2(n - i));
		struct page *page;

		for (;;) {
			gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO;

			if (order)
				gfp |= __GFP_NORETRY | __GFP_NOWARN;
			page = alloc_pages(gfp, order);
			if (page || !order)
				break;
			/* Not at this order: no need to ask again for the rest. */
			max_order = --order;
		}
		if (!page || fatal_signal_pending(current)) {
			if (page)
				__free_pages(page, order);
			kmbox_region_free_pages(pages, i);
			return -ENOMEM;
		}
		if (order)
			split_page(page, order);
		for (k = 0; k < (1UL << order); k++)
			pages[i++] = page + k;
		cond_resched();
	}
	return 0;
}

/**
 * kmbox_region_create() - give @mb a region
 * @mb: a mailbox under construction
 * @nslots: slots
 * @slot_size: bytes per slot, a power of two (checked by the caller)
 *
 * Return: 0 or -ENOMEM.
 */
int kmbox_region_create(struct kmbox *mb, u32 nslots, u32 slot_size)
{
	struct kmbox_region *r;
	unsigned long npages;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->nslots = nslots;
	r->slot_size = slot_size;
	r->slot_shift = ilog2(slot_size);
	r->size = PAGE_ALIGN((size_t)nslots * slot_size);
	npages = r->size >> PAGE_SHIFT;
	r->free = kvmalloc_array(BITS_TO_LONGS(nslots), sizeof(unsigned long),
				 GFP_KERNEL_ACCOUNT);
	r->slots = kvcalloc(nslots, sizeof(*r->slots), GFP_KERNEL_ACCOUNT);
	r->pages = kvmalloc_array(npages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT);
	if (!r->free || !r->slots || !r->pages || kmbox_region_pages(r->pages, npages))
		goto fail;
	r->base = vmap(r->pages, npages, VM_MAP, PAGE_KERNEL);
	if (!r->base) {
		kmbox_region_free_pages(r->pages, npages);
		goto fail;
	}
	bitmap_fill(r->free, nslots);
	r->count[KMBOX_SLOT_FREE] = nslots;
	mb->region = r;
	kmbox_stat_pages(mb->ns, npages);
	return 0;

fail:
	kvfree(r->pages);
	kvfree(r->slots);
	kvfree(r->free);
	kfree(r);
	return -ENOMEM;
}

/**
 * kmbox_region_destroy() - free @mb's region; no file refers to @mb
 * @mb: the mailbox
 *
 * Slots of messages still queued may be QUEUED; every other slot must be
 * free by now (all files are gone).
 *
 * Return: what the region cost its creator (kmbox_region_cost()).
 */
size_t kmbox_region_destroy(struct kmbox *mb)
{
	struct kmbox_region *r = mb->region;
	size_t cost = kmbox_region_cost(r->nslots, r->slot_size);

	WARN_ON_ONCE(r->count[KMBOX_SLOT_FREE] + r->count[KMBOX_SLOT_QUEUED] != r->nslots ||
		     bitmap_weight(r->free, r->nslots) != r->count[KMBOX_SLOT_FREE]);
	kmbox_stat_pages(mb->ns, -(long)(r->size >> PAGE_SHIFT));
	vunmap(r->base);
	kmbox_region_free_pages(r->pages, r->size >> PAGE_SHIFT);
	kvfree(r->pages);
	kvfree(r->slots);
	kvfree(r->free);
	kfree(r);
	mb->region = NULL;
	return cost;
}

/*
 * A page of the region, mapped on first touch (and again after
 * MADV_DONTNEED zapped it).  The vma pins its file, the file its mailbox,
 * the mailbox its region: the pages outlive every mapping.
 */
static vm_fault_t kmbox_region_fault(struct vm_fault *vmf)
{
	struct kmbox *mb = vmf->vma->vm_private_data;
	struct kmbox_region *r = mb->region;
	struct page *page;

	if (vmf->pgoff >= r->size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	page = r->pages[array_index_nospec(vmf->pgoff, r->size >> PAGE_SHIFT)];
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct kmbox_region_vm_ops = {
	.fault = kmbox_region_fault,
};

/**
 * kmbox_region_mmap() - map @mb's region into @vma
 * @mb: the mailbox
 * @vma: a shared, non-executable mapping at offset 0, at most the region
 *
 * Return: 0, -ENODEV without a region, -EINVAL for a private mapping or
 * a bad offset or length, -EPERM for an executable one.
 */
int kmbox_region_mmap(struct kmbox *mb, struct vm_area_struct *vma)
{
	struct kmbox_region *r = mb->region;

	if (!r)
		return -ENODEV;
	/* Not VM_SHARED: mmap() clears it for files not open for writing. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (vma->vm_pgoff != (KMBOX_OFF_REGION >> PAGE_SHIFT) ||
	    vma->vm_end - vma->vm_start > r->size)
		return -EINVAL;
	/* Never executable, never grown by mremap(), not in core dumps. */
	kmbox_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYEXEC);
	vma->vm_ops = &kmbox_region_vm_ops;
	vma->vm_private_data = mb;
	return 0;
}

/**
 * kmbox_slot_addr() - kernel address of a slot's payload
 * @mb: a mailbox with a region
 * @slot: a checked slot index
 *
 * Return: the address.
 */
void *kmbox_slot_addr(struct kmbox *mb, u32 slot)
{
	return mb->region->base + ((size_t)slot << mb->region->slot_shift);
}

/**
 * kmbox_zc_check_slot() - check a slot number and length from user space
 * @mb: the mailbox
 * @slot: in: index from user space; out: the same, clamped for speculation
 * @len: payload length
 *
 * Only the range is checked here; ownership is checked under the lock.
 *
 * Return: 0, -EINVAL (no region, or index out of range), or -EMSGSIZE
 * (@len past the slot or the mailbox's max_msgsize).
 */
int kmbox_zc_check_slot(struct kmbox *mb, u32 *slot, u32 len)
{
	struct kmbox_region *r = mb->region;

	if (!r || *slot >= r->nslots)
		return -EINVAL;
	*slot = array_index_nospec(*slot, r->nslots);
	if (len > r->slot_size || len > mb->max_msgsize)
		return -EMSGSIZE;
	return 0;
}

static struct kmbox_slot *kmbox_slot(struct kmbox *mb, u32 slot)
{
	lockdep_assert_held(&mb->lock);
	return &mb->region->slots[slot];
}

/* The one place a slot changes state (the counts follow). */
static void kmbox_slot_move(struct kmbox *mb, struct kmbox_slot *s,
			    enum kmbox_slot_state to)
{
	struct kmbox_region *r = mb->region;

	trace_kmbox_zc_slot(mb, s - r->slots, s->state, to);
	/* count[FREE] is also read without the lock. */
	WRITE_ONCE(r->count[s->state], r->count[s->state] - 1);
	WRITE_ONCE(r->count[to], r->count[to] + 1);
	s->state = to;
}

/* Anything -> FREE.  Return: 0, or -EINVAL if it was free already. */
static int kmbox_slot_free(struct kmbox *mb, u32 slot)
{
	struct kmbox_region *r = mb->region;
	struct kmbox_slot *s = kmbox_slot(mb, slot);

	if (WARN_ON_ONCE(s->state == KMBOX_SLOT_FREE || __test_and_set_bit(slot, r->free)))
		return -EINVAL;
	if (s->sender) {
		s->sender->zc_completed++;
		s->sender = NULL;
	}
	s->owner = NULL;
	kmbox_slot_move(mb, s, KMBOX_SLOT_FREE);
	return 0;
}

/* RESERVED or HELD, owned by @kf -> FREE. */
static void kmbox_slot_give_back(struct kmbox_file *kf, u32 slot)
{
	if (kmbox_slot_free(kf->mb, slot))
		return;
	kf->zc_held--;
	kmbox_stat_add(kf->mb, slots_held, -1);
}

/**
 * kmbox_zc_check_send_locked() - may @kf queue @slot?
 * @kf: the sending file
 * @slot: checked index
 *
 * Return: 0 if @kf holds @slot reserved, else -EINVAL.
 */
int kmbox_zc_check_send_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = kmbox_slot(kf->mb, slot);

	if (s->state != KMBOX_SLOT_RESERVED || s->owner != kf)
		return -EINVAL;
	return 0;
}

/**
 * kmbox_zc_send_locked() - send: @kf's reserved @slot goes into the queue
 * @kf: the sending file
 * @slot: a slot kmbox_zc_check_send_locked() accepted
 *
 * Return: 0, or -EINVAL (a kmbox bug) if @kf does not hold it reserved.
 */
int kmbox_zc_send_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = kmbox_slot(kf->mb, slot);

	if (WARN_ON_ONCE(s->state != KMBOX_SLOT_RESERVED || s->owner != kf))
		return -EINVAL;
	kmbox_slot_move(kf->mb, s, KMBOX_SLOT_QUEUED);
	s->owner = NULL;
	s->sender = kf;
	kf->zc_held--;
	kmbox_stat_add(kf->mb, slots_held, -1);
	return 0;
}

/**
 * kmbox_zc_unsend_locked() - unsend: a withdrawn synchronous send's slot
 * is @kf's again
 * @kf: the file that sent it
 * @slot: the slot of the message its sender withdrew from the queue
 *
 * Return: 0, or -EINVAL (a kmbox bug) if @slot is not queued by @kf.
 */
int kmbox_zc_unsend_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = kmbox_slot(kf->mb, slot);

	if (WARN_ON_ONCE(s->state != KMBOX_SLOT_QUEUED || s->sender != kf))
		return -EINVAL;
	kmbox_slot_move(kf->mb, s, KMBOX_SLOT_RESERVED);
	s->owner = kf;
	s->sender = NULL;
	kf->zc_held++;
	kmbox_stat_add(kf->mb, slots_held, 1);
	return 0;
}

/**
 * kmbox_zc_take_locked() - take: a queued slot's message goes to a receiver
 * @mb: the mailbox
 * @slot: the slot of the message
 * @rkf: the receiving file if it takes the slot itself (zero-copy
 *	receive), NULL if the payload is to be copied out
 *
 * Until kmbox_zc_deliver_locked() or kmbox_zc_untake_locked(), nobody
 * can release the slot, @rkf included.
 *
 * Return: 0, or -EINVAL (a kmbox bug) if @slot is not queued.
 */
int kmbox_zc_take_locked(struct kmbox *mb, u32 slot, struct kmbox_file *rkf)
{
	struct kmbox_slot *s = kmbox_slot(mb, slot);

	if (WARN_ON_ONCE(s->state != KMBOX_SLOT_QUEUED))
		return -EINVAL;
	kmbox_slot_move(mb, s, KMBOX_SLOT_TAKEN);
	s->owner = rkf;
	if (rkf)
		rkf->zc_used = true;
	return 0;
}

/**
 * kmbox_zc_untake_locked() - untake: the receive failed, the message goes back
 * @mb: the mailbox
 * @slot: the slot of the message
 *
 * Return: 0, or -EINVAL (a kmbox bug) if @slot is not taken.
 */
int kmbox_zc_untake_locked(struct kmbox *mb, u32 slot)
{
	struct kmbox_slot *s = kmbox_slot(mb, slot);

	if (WARN_ON_ONCE(s->state != KMBOX_SLOT_TAKEN))
		return -EINVAL;
	kmbox_slot_move(mb, s, KMBOX_SLOT_QUEUED);
	s->owner = NULL;
	return 0;
}

/**
 * kmbox_zc_deliver_locked() - deliver: the receive of @slot's message committed
 * @mb: the mailbox
 * @slot: the slot
 *
 * A slot taken by its receiver is HELD by it from now on; a slot whose
 * payload was copied out is free.
 *
 * Return: 1 if the slot is free now, 0 if held, -EINVAL (a kmbox bug)
 * if it was not taken.
 */
int kmbox_zc_deliver_locked(struct kmbox *mb, u32 slot)
{
	struct kmbox_slot *s = kmbox_slot(mb, slot);
	struct kmbox_file *rkf = s->owner;

	if (WARN_ON_ONCE(s->state != KMBOX_SLOT_TAKEN))
		return -EINVAL;
	if (!rkf)
		return kmbox_slot_free(mb, slot) ?: 1;
	kmbox_slot_move(mb, s, KMBOX_SLOT_HELD);
	rkf->zc_held++;
	kmbox_stat_add(mb, slots_held, 1);
	return 0;
}

/**
 * kmbox_zc_wake() - slots came free: wake a blocked reserver and the
 * EPOLLWRBAND pollers
 * @mb: the mailbox, after the lock round that freed them
 *
 * Pollers wait on wr_wait (a file polls two queues at most); blocked
 * senders there let this wake-up pass them by (kmbox_waiter_wake()).
 */
void kmbox_zc_wake(struct kmbox *mb)
{
	/* The waker's barrier of the rule at the top of mbox.c, for both. */
	smp_mb();
	/* waitqueue_active() is safe: ordered by the barrier above */
	if (waitqueue_active(&mb->zc_wait))
		wake_up_interruptible_poll(&mb->zc_wait, EPOLLWRBAND);
	/* waitqueue_active() is safe: ordered by the barrier above */
	if (waitqueue_active(&mb->wr_wait))
		wake_up_interruptible_poll(&mb->wr_wait, EPOLLWRBAND);
}

static bool kmbox_has_free_slot(struct kmbox *mb)
{
	return READ_ONCE(mb->region->count[KMBOX_SLOT_FREE]) != 0;
}

/**
 * kmbox_zc_nfree() - free slots now (lockless snapshot)
 * @mb: a mailbox with a region
 *
 * Return: the count.
 */
u32 kmbox_zc_nfree(struct kmbox *mb)
{
	return READ_ONCE(mb->region->count[KMBOX_SLOT_FREE]);
}

/**
 * kmbox_zc_reserve() - reserve: hand @kf up to @n free slots
 * @kf: the sending file
 * @slots: out: the slot indices, lowest free first
 * @n: 1..KMBOX_BATCH_MAX
 * @w: how to wait for the first free slot
 * @tag: out: what names this call's slots to kmbox_zc_unreserve()
 *
 * Return: how many (>= 1), or -EINVAL without a region, -EAGAIN,
 * -ETIMEDOUT, -ERESTARTSYS.
 */
int kmbox_zc_reserve(struct kmbox_file *kf, u32 *slots, unsigned int n,
		     const struct kmbox_wait *w, u32 *tag)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	unsigned int got = 0;
	unsigned long slot;
	int ret;

	if (!r)
		return -EINVAL;
	for (;;) {
		spin_lock(&mb->lock);
		*tag = ++r->tag;
		for (slot = 0; got < n && r->count[KMBOX_SLOT_FREE]; slot++) {
			struct kmbox_slot *s;

			slot = find_next_bit(r->free, r->nslots, slot);
			if (WARN_ON_ONCE(slot >= r->nslots))
				break;
			s = kmbox_slot(mb, slot);
			if (WARN_ON_ONCE(s->state != KMBOX_SLOT_FREE))
				break;
			__clear_bit(slot, r->free);
			kmbox_slot_move(mb, s, KMBOX_SLOT_RESERVED);
			s->owner = kf;
			s->tag = *tag;
			slots[got++] = slot;
		}
		kf->zc_held += got;
		kf->zc_used |= got != 0;
		spin_unlock(&mb->lock);
		if (got)
			break;
		ret = kmbox_wait_event(&mb->zc_wait, EPOLLWRBAND, &mb->wr_waiters,
				       kmbox_has_free_slot, mb, w);
		if (ret)
			return ret;
	}
	kmbox_stat_add(mb, slots_held, got);
	/* Slots left: the next reserver's turn. */
	if (kmbox_has_free_slot(mb) && wq_has_sleeper(&mb->zc_wait))
		wake_up_interruptible_poll(&mb->zc_wait, EPOLLWRBAND);
	return got;
}

/**
 * kmbox_zc_unreserve() - unreserve: undo a kmbox_zc_reserve() of @kf's
 * @kf: the file that reserved @slots
 * @slots: what kmbox_zc_reserve() returned
 * @n: how many
 * @tag: what kmbox_zc_reserve() returned with them
 *
 * For a RESERVE whose answer could not reach user space.  Slots that are
 * no longer reserved by @kf through that call (another thread sharing the
 * file guessed them and sent or released them meanwhile, and maybe
 * reserved them again) are left as they are; the others are free again.
 */
void kmbox_zc_unreserve(struct kmbox_file *kf, const u32 *slots, unsigned int n, u32 tag)
{
	struct kmbox *mb = kf->mb;
	bool freed = false;
	unsigned int i;

	spin_lock(&mb->lock);
	for (i = 0; i < n; i++) {
		struct kmbox_slot *s = kmbox_slot(mb, slots[i]);

		if (s->state == KMBOX_SLOT_RESERVED && s->owner == kf && s->tag == tag) {
			kmbox_slot_give_back(kf, slots[i]);
			freed = true;
		}
	}
	spin_unlock(&mb->lock);
	if (freed)
		kmbox_zc_wake(mb);
}

/**
 * kmbox_zc_release() - release: @kf gives back slots it holds
 * @kf: the file
 * @slots: indices from user space (range-checked here)
 * @n: how many
 *
 * All or nothing: if any index is out of range, not held by @kf (reserved
 * by it, or received by it and delivered), or listed twice, nothing
 * changes.  A slot whose receive has not returned yet is not held.
 *
 * Return: 0 or -EINVAL.
 */
int kmbox_zc_release(struct kmbox_file *kf, const u32 *slots, unsigned int n)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	unsigned int i, j;
	int ret = 0;

	if (!r)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (slots[i] >= r->nslots)
			return -EINVAL;

	spin_lock(&mb->lock);
	for (i = 0; i < n; i++) {
		struct kmbox_slot *s = kmbox_slot(mb, array_index_nospec(slots[i], r->nslots));

		if (s->owner != kf || s->mark ||
		    (s->state != KMBOX_SLOT_RESERVED && s->state != KMBOX_SLOT_HELD)) {
			ret = -EINVAL;
			break;
		}
		s->mark = true;
	}
	for (j = 0; j < i; j++)
		r->slots[array_index_nospec(slots[j], r->nslots)].mark = false;
	if (!ret)
		for (i = 0; i < n; i++)
			kmbox_slot_give_back(kf, array_index_nospec(slots[i], r->nslots));
	spin_unlock(&mb->lock);

	if (!ret)
		kmbox_zc_wake(mb);
	return ret;
}

/**
 * kmbox_zc_file_detach_locked() - detach: free the slots @kf holds, forget @kf
 * @kf: a closing file
 *
 * No receive through @kf is in flight (it would hold the file open), so
 * @kf owns no TAKEN slot.
 *
 * Return: true if a slot came free.
 */
bool kmbox_zc_file_detach_locked(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	bool freed = false;
	u32 i;

	lockdep_assert_held(&mb->lock);
	for (i = 0; i < r->nslots; i++) {
		struct kmbox_slot *s = &r->slots[i];

		if (s->sender == kf)
			s->sender = NULL;
		if (s->owner != kf)
			continue;
		if (WARN_ON_ONCE(s->state == KMBOX_SLOT_TAKEN)) {
			s->owner = NULL;
			continue;
		}
		kmbox_slot_give_back(kf, i);
		freed = true;
	}
	WARN_ON_ONCE(kf->zc_held);
	return freed;
}

/**
 * kmbox_zc_file_counts_locked() - the slots @kf holds, by state (fdinfo)
 * @kf: a bound file of a mailbox with a region
 * @reserved: out: reserved through @kf and not sent
 * @received: out: received by @kf as slots and not released
 *
 * A walk over the slots, like kmbox_zc_file_detach_locked()'s, that stops
 * once it has found the @kf->zc_held slots @kf holds (at once when none).
 */
void kmbox_zc_file_counts_locked(struct kmbox_file *kf, u32 *reserved, u32 *received)
{
	struct kmbox_region *r = kf->mb->region;
	u32 i;

	lockdep_assert_held(&kf->mb->lock);
	*reserved = 0;
	*received = 0;
	for (i = 0; i < r->nslots && *reserved + *received < kf->zc_held; i++) {
		const struct kmbox_slot *s = &r->slots[i];

		if (s->owner != kf)
			continue;
		if (s->state == KMBOX_SLOT_RESERVED)
			(*reserved)++;
		else if (s->state == KMBOX_SLOT_HELD)
			(*received)++;
	}
}

/**
 * kmbox_zc_counts_locked() - slots per state, for /proc and GETATTR
 * @mb: a mailbox with a region
 * @c: out
 */
void kmbox_zc_counts_locked(struct kmbox *mb, struct kmbox_zc_counts *c)
{
	struct kmbox_region *r = mb->region;

	lockdep_assert_held(&mb->lock);
	c->slots = r->nslots;
	c->slot_size = r->slot_size;
	c->free = r->count[KMBOX_SLOT_FREE];
	c->reserved = r->count[KMBOX_SLOT_RESERVED];
	c->queued = r->count[KMBOX_SLOT_QUEUED];
	c->taken = r->count[KMBOX_SLOT_TAKEN];
	c->held = r->count[KMBOX_SLOT_HELD];
}
