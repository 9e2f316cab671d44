// SPDX-License-Identifier: GPL-2.0
/*
 * The zero-copy region: a mailbox's mmap-able array of payload slots.
 *
 * Layout.  zc_slots slots of zc_slot_size bytes (a power of two), slot i
 * at offset i * zc_slot_size of one vmalloc_user() area mapped at
 * KMBOX_OFF_REGION.  The region holds payload bytes and nothing else:
 * every slot index, length and state the kernel acts on lives in kernel
 * memory and reaches it through ioctl arguments, which are range-checked
 * (array_index_nospec()) and checked against the slot's state and owner
 * under kmbox->lock.  A peer that scribbles over the mapping can spoil
 * payloads, never a kernel decision.
 *
 * Life of a slot (all transitions under kmbox->lock):
 *
 *   FREE --ZC_RESERVE--> RESERVED(owner = sender file)
 *   RESERVED --SEND with KMBOX_F_ZC--> QUEUED(sender remembered)
 *   QUEUED --RECV with KMBOX_F_ZC--> HELD(owner = receiver file)
 *   QUEUED --read()/RECV without ZC: copied out--> FREE
 *   HELD --ZC_RELEASE / close of the owner--> FREE
 *   RESERVED --ZC_RELEASE / close of the owner--> FREE
 *
 * A slot is handed out by ZC_RESERVE only from FREE, so a slot that is
 * queued or being read is never given to a sender again until released.
 * When a slot a sender queued becomes FREE, that sender file's
 * zc_completed count goes up and EPOLLWRBAND is signalled.
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

#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kmbox.h"

enum kmbox_slot_state {
	KMBOX_SLOT_FREE,
	KMBOX_SLOT_RESERVED,
	KMBOX_SLOT_QUEUED,
	KMBOX_SLOT_HELD,
};

/* Set in ->state while kmbox_zc_release() checks a list for duplicates. */
#define KMBOX_SLOT_MARK		0x80

/**
 * struct kmbox_slot - kernel-side state of one slot
 * @owner: file holding the slot while RESERVED or HELD
 * @sender: file that queued it, until it is freed or that file closes
 * @state: enum kmbox_slot_state
 */
struct kmbox_slot {
	struct kmbox_file *owner;
	struct kmbox_file *sender;
	u8 state;
};

/**
 * struct kmbox_region - a mailbox's zero-copy region
 * @base: vmalloc_user() area, @size bytes
 * @size: @nslots * @slot_size rounded up to a page
 * @nslots: number of slots
 * @slot_size: bytes per slot, a power of two
 * @slot_shift: log2(@slot_size)
 * @nfree: entries in @free
 * @free: stack of free slot indices
 * @slots: per-slot state
 */
struct kmbox_region {
	void *base;
	size_t size;
	u32 nslots;
	u32 slot_size;
	unsigned int slot_shift;
	u32 nfree;
	u32 *free;
	struct kmbox_slot *slots;
};

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
	u32 i;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->nslots = nslots;
	r->slot_size = slot_size;
	r->slot_shift = ilog2(slot_size);
	r->size = PAGE_ALIGN((size_t)nslots * slot_size);
	r->free = kvmalloc_array(nslots, sizeof(*r->free), GFP_KERNEL_ACCOUNT);
	r->slots = kvcalloc(nslots, sizeof(*r->slots), GFP_KERNEL_ACCOUNT);
	r->base = vmalloc_user(r->size);
	if (!r->free || !r->slots || !r->base) {
		vfree(r->base);
		kvfree(r->slots);
		kvfree(r->free);
		kfree(r);
		return -ENOMEM;
	}
	/* Hand out low slots first: slot 0 on top of the stack. */
	for (i = 0; i < nslots; i++)
		r->free[i] = nslots - 1 - i;
	r->nfree = nslots;
	mb->region = r;
	kmbox_stat_pages(mb->ns, r->size >> PAGE_SHIFT);
	return 0;
}

/**
 * kmbox_region_destroy() - free @mb's region; no file refers to @mb
 * @mb: the mailbox
 *
 * Return: the region's size, for uncharging.
 */
size_t kmbox_region_destroy(struct kmbox *mb)
{
	struct kmbox_region *r = mb->region;
	size_t size = r->size;

	kmbox_stat_pages(mb->ns, -(long)(size >> PAGE_SHIFT));
	vfree(r->base);
	kvfree(r->slots);
	kvfree(r->free);
	kfree(r);
	mb->region = NULL;
	return size;
}

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
	vma->vm_flags &= ~VM_MAYEXEC;
	/* Sets VM_DONTEXPAND | VM_DONTDUMP: mremap() cannot grow it. */
	return remap_vmalloc_range(vma, r->base, 0);
}

/**
 * kmbox_slot_addr() - kernel address of a slot's payload
 * @mb: a mailbox with a region
 * @slot: a checked slot index
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

static void kmbox_zc_free_locked(struct kmbox *mb, u32 slot)
{
	struct kmbox_region *r = mb->region;
	struct kmbox_slot *s = &r->slots[slot];

	if (s->sender) {
		s->sender->zc_completed++;
		s->sender = NULL;
	}
	s->owner = NULL;
	s->state = KMBOX_SLOT_FREE;
	r->free[r->nfree++] = slot;
}

/**
 * kmbox_zc_check_send_locked() - may @kf queue @slot?
 * @kf: the sending file
 * @slot: checked index
 * @len: payload length (checked)
 *
 * Return: 0 if @kf holds @slot reserved, else -EINVAL.
 */
int kmbox_zc_check_send_locked(struct kmbox_file *kf, u32 slot, u32 len)
{
	struct kmbox_slot *s = &kf->mb->region->slots[slot];

	lockdep_assert_held(&kf->mb->lock);
	if (s->state != KMBOX_SLOT_RESERVED || s->owner != kf)
		return -EINVAL;
	return 0;
}

/**
 * kmbox_zc_queued_locked() - @kf's reserved @slot goes into the queue
 * @kf: the sending file
 * @slot: a slot kmbox_zc_check_send_locked() accepted
 */
void kmbox_zc_queued_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = &kf->mb->region->slots[slot];

	s->state = KMBOX_SLOT_QUEUED;
	s->owner = NULL;
	s->sender = kf;
	kf->zc_held--;
	kmbox_stat_add(kf->mb, slots_held, -1);
}

/**
 * kmbox_zc_hold_locked() - a receiver takes a queued slot
 * @kf: the receiving file
 * @slot: the slot of a message just taken off the queue
 */
void kmbox_zc_hold_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = &kf->mb->region->slots[slot];

	s->state = KMBOX_SLOT_HELD;
	s->owner = kf;
	kf->zc_used = true;
	kf->zc_held++;
	kmbox_stat_add(kf->mb, slots_held, 1);
}

/**
 * kmbox_zc_unhold_locked() - undo kmbox_zc_hold_locked() (message put back)
 * @kf: the receiving file
 * @slot: the slot
 */
void kmbox_zc_unhold_locked(struct kmbox_file *kf, u32 slot)
{
	struct kmbox_slot *s = &kf->mb->region->slots[slot];

	if (s->state != KMBOX_SLOT_HELD)
		return;
	s->state = KMBOX_SLOT_QUEUED;
	s->owner = NULL;
	kf->zc_held--;
	kmbox_stat_add(kf->mb, slots_held, -1);
}

/**
 * kmbox_zc_consumed_locked() - a message in @slot was delivered
 * @mb: the mailbox
 * @slot: the slot
 *
 * If it was copied out (the slot is still QUEUED) the slot is free now;
 * if it was handed over (HELD) it stays with the receiver.
 *
 * Return: true if the slot was freed.
 */
bool kmbox_zc_consumed_locked(struct kmbox *mb, u32 slot)
{
	if (mb->region->slots[slot].state != KMBOX_SLOT_QUEUED)
		return false;
	kmbox_zc_free_locked(mb, slot);
	return true;
}

static bool kmbox_has_free_slot(struct kmbox *mb)
{
	return READ_ONCE(mb->region->nfree) != 0;
}

/**
 * kmbox_zc_nfree() - free slots now (lockless snapshot)
 * @mb: a mailbox with a region
 */
u32 kmbox_zc_nfree(struct kmbox *mb)
{
	return READ_ONCE(mb->region->nfree);
}

/**
 * kmbox_zc_reserve() - hand @kf up to @n free slots
 * @kf: the sending file
 * @slots: out: the slot indices
 * @n: 1..KMBOX_BATCH_MAX
 * @w: how to wait for the first free slot
 *
 * Return: how many (>= 1), or -EINVAL without a region, -EAGAIN,
 * -ETIMEDOUT, -ERESTARTSYS.
 */
int kmbox_zc_reserve(struct kmbox_file *kf, u32 *slots, unsigned int n,
		     const struct kmbox_wait *w)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	unsigned int got = 0;
	int ret;

	if (!r)
		return -EINVAL;
	for (;;) {
		spin_lock(&mb->lock);
		while (got < n && r->nfree) {
			u32 slot = r->free[--r->nfree];
			struct kmbox_slot *s = &r->slots[slot];

			s->state = KMBOX_SLOT_RESERVED;
			s->owner = kf;
			slots[got++] = slot;
		}
		kf->zc_held += got;
		kf->zc_used |= got != 0;
		spin_unlock(&mb->lock);
		if (got)
			break;
		ret = kmbox_wait_event(&mb->zc_wait, &mb->wr_waiters, kmbox_has_free_slot, mb, w);
		if (ret)
			return ret;
	}
	kmbox_stat_add(mb, slots_held, got);
	if (kmbox_has_free_slot(mb) && wq_has_sleeper(&mb->zc_wait))
		wake_up_interruptible(&mb->zc_wait);
	return got;
}

/**
 * kmbox_zc_release() - @kf gives back slots it holds
 * @kf: the file
 * @slots: indices from user space (range-checked here)
 * @n: how many
 *
 * All or nothing: if any index is out of range, not held by @kf, or
 * listed twice, nothing changes.
 *
 * Return: 0 or -EINVAL.
 */
int kmbox_zc_release(struct kmbox_file *kf, const u32 *slots, unsigned int n)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	unsigned int i, j;

	if (!r)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (slots[i] >= r->nslots)
			return -EINVAL;

	spin_lock(&mb->lock);
	for (i = 0; i < n; i++) {
		struct kmbox_slot *s = &r->slots[array_index_nospec(slots[i], r->nslots)];

		/* A duplicate finds the mark set and fails this test. */
		if (s->owner != kf ||
		    (s->state != KMBOX_SLOT_RESERVED && s->state != KMBOX_SLOT_HELD))
			goto undo;
		s->state |= KMBOX_SLOT_MARK;
	}
	for (i = 0; i < n; i++)
		kmbox_zc_free_locked(mb, array_index_nospec(slots[i], r->nslots));
	kf->zc_held -= n;
	spin_unlock(&mb->lock);

	kmbox_stat_add(mb, slots_held, -(s64)n);
	if (wq_has_sleeper(&mb->zc_wait))
		wake_up_interruptible_poll(&mb->zc_wait, EPOLLWRBAND);
	return 0;

undo:
	for (j = 0; j < i; j++)
		r->slots[array_index_nospec(slots[j], r->nslots)].state &= ~KMBOX_SLOT_MARK;
	spin_unlock(&mb->lock);
	return -EINVAL;
}

/**
 * kmbox_zc_file_detach_locked() - free the slots @kf holds, forget @kf
 * @kf: a closing file
 */
void kmbox_zc_file_detach_locked(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_region *r = mb->region;
	u32 i;

	lockdep_assert_held(&mb->lock);
	for (i = 0; i < r->nslots; i++) {
		struct kmbox_slot *s = &r->slots[i];

		if (s->sender == kf)
			s->sender = NULL;
		if (s->owner == kf)
			kmbox_zc_free_locked(mb, i);
	}
	kmbox_stat_add(mb, slots_held, -(s64)kf->zc_held);
	kf->zc_held = 0;
}

/**
 * kmbox_zc_attr() - region fields of struct kmbox_attr
 * @mb: a mailbox with a region
 * @attr: out
 */
void kmbox_zc_attr(struct kmbox *mb, struct kmbox_attr *attr)
{
	attr->zc_slots = mb->region->nslots;
	attr->zc_slot_size = mb->region->slot_size;
	attr->zc_free = READ_ONCE(mb->region->nfree);
}
