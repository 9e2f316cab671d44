// SPDX-License-Identifier: GPL-2.0
/*
 * The practical limit: a single-producer single-consumer ring in shared
 * memory, with the kernel entered only to sleep and to wake a sleeper.
 *
 * Layout (one MAP_SHARED mapping made before fork): a header of three
 * cache lines, then an array of lengths, then @depth slots of
 * @slot_size bytes (a multiple of 64).  The producer writes the payload in
 * place in the slot, the consumer reads it in place, so the payload is
 * touched exactly once on each side and never copied.
 *
 *  - Indices are free-running 32-bit counters; depth is a power of two.
 *  - Each side caches the other side's index and re-reads it only when
 *    the ring looks full (producer) or empty (consumer).
 *  - The producer publishes tail with an exchange (a full barrier on x86,
 *    seq_cst in C11) and then reads the consumer's "waiting" flag; the
 *    consumer, finding the ring empty, sets its flag (seq_cst) and then
 *    re-reads tail.  Either the producer sees the flag and wakes it, or the
 *    consumer sees the new tail: no lost wakeup (Dekker's pattern).  The
 *    full side is symmetric with head and the producer's flag.
 *  - Only the waiter clears its own flag (after its wait, or when the
 *    re-check found work).  A waker that cleared it could spend a wake on
 *    an earlier check of the waiter and leave the waiter's next sleep, on
 *    an index that has not moved since, without a flag: the next publish
 *    would not wake it (seen as a hang here, once in ~50 runs).  So while
 *    the flag is up every publish wakes; that window is short.
 *  - The fast path (ring neither empty nor full, peer awake) makes no
 *    system call.  No spinning: a side that has to wait sleeps at once,
 *    so the ring is fair on a shared CPU and under TCG.
 *
 * Waking: "futex" sleeps with FUTEX_WAIT on the index word it waits for
 * (value check = the index it saw, so a wake that raced ahead makes the
 * wait return at once); "eventfd" sleeps in read() on one eventfd per
 * direction of waiting and is woken by write().  A stale eventfd count
 * only causes one spurious loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

struct ring_hdr {
	_Alignas(64) uint32_t tail;	/* producer index; futex word */
	uint32_t cons_waiting;		/* consumer sleeps for data */
	_Alignas(64) uint32_t head;	/* consumer index; futex word */
	uint32_t prod_waiting;		/* producer sleeps for space */
	_Alignas(64) uint32_t depth;
	uint32_t slot_size;
	uint32_t max;
};

#define RING_LENS_OFF	sizeof(struct ring_hdr)

struct ring_st {
	struct ring_hdr *h;
	uint32_t *lens;
	char *slots;
	uint32_t mask, slot_size, max;
	uint32_t idx;		/* my index (tail or head), private copy */
	uint32_t other;		/* cached other index */
	int use_futex;
	int efd_data, efd_space;
};

static size_t ring_slots_off(unsigned int depth)
{
	size_t off = RING_LENS_OFF + depth * sizeof(uint32_t);

	return (off + 4095) & ~(size_t)4095;
}

static int ring_create(struct chan *c, int use_futex)
{
	unsigned int depth = (unsigned int)pow2_at_least(c->cfg.depth);
	size_t slot = (c->cfg.max_size + 63) & ~(size_t)63;
	struct ring_hdr *h;

	if (!slot)
		slot = 64;
	c->shm_len = ring_slots_off(depth) + depth * slot;
	c->shm = mmap(NULL, c->shm_len, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->shm == MAP_FAILED) {
		c->shm = NULL;
		return -1;
	}
	h = c->shm;
	h->depth = depth;
	h->slot_size = (uint32_t)slot;
	h->max = (uint32_t)c->cfg.max_size;
	c->priv = (unsigned long)use_futex;
	if (!use_futex) {
		c->fd[0] = eventfd(0, EFD_CLOEXEC);	/* data available */
		c->fd[1] = eventfd(0, EFD_CLOEXEC);	/* space available */
		if (c->fd[0] < 0 || c->fd[1] < 0) {
			int err = errno;

			if (c->fd[0] >= 0)
				close(c->fd[0]);
			munmap(c->shm, c->shm_len);
			c->shm = NULL;
			errno = err;
			return -1;
		}
	}
	return 0;
}

static int futex_ring_create(struct chan *c)
{
	return ring_create(c, 1);
}

static int efd_ring_create(struct chan *c)
{
	return ring_create(c, 0);
}

static void ring_destroy(struct chan *c)
{
	for (int i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	c->fd[0] = c->fd[1] = -1;
	if (c->shm)
		munmap(c->shm, c->shm_len);
	c->shm = NULL;
}

static int ring_attach(struct chan *c, struct ep *e, int role)
{
	struct ring_st *s = xcalloc(1, sizeof(*s));

	s->h = c->shm;
	s->lens = (uint32_t *)((char *)c->shm + RING_LENS_OFF);
	s->slots = (char *)c->shm + ring_slots_off(s->h->depth);
	s->mask = s->h->depth - 1;
	s->slot_size = s->h->slot_size;
	s->max = s->h->max;
	s->use_futex = (int)c->priv;
	s->efd_data = c->fd[0];
	s->efd_space = c->fd[1];
	/* shared mappings are not copied at fork: map the ring before timing */
	prefault(c->shm, c->shm_len, role == ROLE_TX);
	e->st = s;
	return 0;
}

static void ring_detach(struct ep *e)
{
	free(e->st);
	e->st = NULL;
}

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static void wake(struct ring_st *s, uint32_t *word, int efd)
{
	if (s->use_futex) {
		futex(word, FUTEX_WAKE, 1);
	} else {
		uint64_t one = 1;

		while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

/*
 * Sleep until *word differs from @seen.  The caller has set its waiting
 * flag and re-checked the ring after doing so.
 */
static int sleep_on(struct ring_st *s, uint32_t *word, uint32_t seen, int efd)
{
	if (s->use_futex) {
		if (futex(word, FUTEX_WAIT, seen) < 0 && errno != EAGAIN &&
		    errno != EINTR)
			return -1;
	} else {
		uint64_t v;

		if (read(efd, &v, sizeof(v)) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static void *ring_tx_begin(struct ep *e, size_t len)
{
	struct ring_st *s = e->st;
	struct ring_hdr *h = s->h;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (s->idx - s->other > s->mask) {
		s->other = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		while (s->idx - s->other > s->mask) {
			uint32_t seen = s->other;

			__atomic_store_n(&h->prod_waiting, 1, __ATOMIC_SEQ_CST);
			s->other = __atomic_load_n(&h->head, __ATOMIC_SEQ_CST);
			if (s->idx - s->other > s->mask &&
			    sleep_on(s, &h->head, seen, s->efd_space) < 0)
				return NULL;
			__atomic_store_n(&h->prod_waiting, 0, __ATOMIC_RELAXED);
			s->other = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		}
	}
	return s->slots + (size_t)(s->idx & s->mask) * s->slot_size;
}

static int ring_tx_commit(struct ep *e, size_t len)
{
	struct ring_st *s = e->st;
	struct ring_hdr *h = s->h;

	s->lens[s->idx & s->mask] = (uint32_t)len;
	s->idx++;
	/* publish payload and length; full barrier before reading the flag */
	__atomic_exchange_n(&h->tail, s->idx, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&h->cons_waiting, __ATOMIC_SEQ_CST))
		wake(s, &h->tail, s->efd_data);
	return 0;
}

static const void *ring_rx_begin(struct ep *e, size_t *len)
{
	struct ring_st *s = e->st;
	struct ring_hdr *h = s->h;
	uint32_t i;

	if (s->idx == s->other) {
		s->other = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
		while (s->idx == s->other) {
			uint32_t seen = s->other;

			__atomic_store_n(&h->cons_waiting, 1, __ATOMIC_SEQ_CST);
			s->other = __atomic_load_n(&h->tail, __ATOMIC_SEQ_CST);
			if (s->idx == s->other &&
			    sleep_on(s, &h->tail, seen, s->efd_data) < 0)
				return NULL;
			__atomic_store_n(&h->cons_waiting, 0, __ATOMIC_RELAXED);
			s->other = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
		}
	}
	i = s->idx & s->mask;
	*len = s->lens[i];
	if (*len > s->max) {
		errno = EPROTO;
		return NULL;
	}
	return s->slots + (size_t)i * s->slot_size;
}

static int ring_rx_end(struct ep *e)
{
	struct ring_st *s = e->st;
	struct ring_hdr *h = s->h;

	s->idx++;
	/* the slot is free once head passes it; then check the flag */
	__atomic_exchange_n(&h->head, s->idx, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&h->prod_waiting, __ATOMIC_SEQ_CST))
		wake(s, &h->head, s->efd_space);
	return 0;
}

const struct mech mech_futex_shm = {
	.name = "futex-shm", .desc = "SPSC shared-memory ring, futex wakeups only when a side sleeps",
	.flags = 0,
	.create = futex_ring_create, .destroy = ring_destroy,
	.attach = ring_attach, .detach = ring_detach,
	.tx_begin = ring_tx_begin, .tx_commit = ring_tx_commit,
	.rx_begin = ring_rx_begin, .rx_end = ring_rx_end,
};

const struct mech mech_eventfd_shm = {
	.name = "eventfd-shm", .desc = "SPSC shared-memory ring, eventfd wakeups only when a side sleeps",
	.flags = 0,
	.create = efd_ring_create, .destroy = ring_destroy,
	.attach = ring_attach, .detach = ring_detach,
	.tx_begin = ring_tx_begin, .tx_commit = ring_tx_commit,
	.rx_begin = ring_rx_begin, .rx_end = ring_rx_end,
};
