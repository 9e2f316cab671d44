// SPDX-License-Identifier: GPL-2.0
/*
 * Selective receive against queue depth (the tagdepth workload): what it
 * costs to send one message with tag T and take it back by its tag when
 * @depth messages of other tags are queued ahead of it.
 *
 * One process, pinned to CPU A, opens the queue for reading and writing
 * (no peer, so no wake-up is involved: only the queue's own lookup and
 * copies are measured).  It fills the queue with @depth messages whose
 * tags are not T (random, among about a million values) and whose
 * priorities are random in 0..31, then repeats
 *
 *	send one message with tag T at priority 0, timed
 *	receive the first message with tag T, timed
 *
 * so the queue keeps its @depth other messages throughout and the one
 * wanted is always the last of the queue in receive order: priority 0
 * and the newest.  A receive that walks the queue in order meets every
 * other message before it (its worst case, and SysV's every case); one
 * that looks the tag up does not care where it is.
 *
 * The three ways to do it are the "mechanisms" of this workload (they
 * run in no other):
 *  kmbox-tag      KMBOX_IOC_RECV with KMBOX_F_MATCH and an exact mask
 *                 (~0): the module's tag index (module/tags.c), O(log n)
 *  kmbox-tagmask  the same with one wildcard bit (mask ~1): no index
 *                 serves it, the receive walks the queue in order
 *  sysv-msgtyp    System V msgsnd(mtype = T) / msgrcv(msgtyp = T), the
 *                 only kernel queue with a selective receive; it walks
 *                 its list in arrival order
 * The kmbox sends are KMBOX_IOC_SEND with KMBOX_F_TAG (the tag needs the
 * ioctl).  Every call is non-blocking: a receive that does not find the
 * message fails the measurement instead of hanging it.
 *
 * Each call is timed on its own with CLOCK_MONOTONIC into a histogram and
 * the medians are reported, as in the depth workload (depth.c), whose
 * structure this follows; the receive is the figure that matters.  The
 * payload is written before the send and checked after the receive (word
 * 0 = seed), with the tag received, outside the timed calls.  A mailbox
 * holds at most max_msgs_cap messages (65536 by default), so the deepest
 * row is 65535 others + the one wanted.  SysV needs its queue's msg_qbytes
 * raised for deep queues (IPC_SET: CAP_SYS_RESOURCE past msgmnb); without
 * it that depth is reported n/a with the limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kmbox.h>

#include "bench.h"

#define TD_PRIOS	32
/* the tag (SysV type) wanted: even, so that mask ~1 matches T and T + 1 */
#define TD_TAG		0x42ULL
/* the others' tags: 2^20 values from here, never T or T + 1 */
#define TD_OTHER_BASE	0x100000ULL

enum { TD_EXACT, TD_MASK, TD_SYSV };

struct td_res {
	int err;
	int msqid;		/* SysV queue, removed by the parent */
	char what[160];
	uint64_t bad;
	struct hist hs, hr;
};

struct td_q {
	int kind;
	int fd;			/* kmbox */
	int msqid;		/* SysV */
	void *sbuf;		/* SysV: long mtype + payload */
	size_t size;
};

static int td_kind(const struct mech *m)
{
	if (!strcmp(m->name, "kmbox-tag"))
		return TD_EXACT;
	if (!strcmp(m->name, "kmbox-tagmask"))
		return TD_MASK;
	return TD_SYSV;
}

static int td_send(struct td_q *q, const void *buf, size_t len, uint64_t tag,
		   unsigned int prio)
{
	if (q->kind != TD_SYSV) {
		struct kmbox_send s = {
			.buf = (__u64)(uintptr_t)buf, .len = (__u32)len, .prio = prio,
			.flags = KMBOX_F_TAG | KMBOX_F_NONBLOCK, .tag = tag,
		};

		return ioctl(q->fd, KMBOX_IOC_SEND, &s);
	}
	/* SysV has no priorities: the type is the tag */
	*(long *)q->sbuf = (long)tag;
	memcpy((char *)q->sbuf + sizeof(long), buf, len);
	return msgsnd(q->msqid, q->sbuf, len, IPC_NOWAIT);
}

/* receive the first message with tag TD_TAG; *@tag gets the tag taken */
static ssize_t td_recv(struct td_q *q, void *buf, size_t len, uint64_t *tag)
{
	ssize_t n;

	if (q->kind != TD_SYSV) {
		struct kmbox_recv r = {
			.buf = (__u64)(uintptr_t)buf, .len = (__u32)len,
			.flags = KMBOX_F_MATCH | KMBOX_F_NONBLOCK,
			.match_mask = q->kind == TD_EXACT ? ~0ULL : ~1ULL,
			.tag = TD_TAG,
		};
		int ret = ioctl(q->fd, KMBOX_IOC_RECV, &r);

		*tag = r.tag;
		return ret < 0 ? -1 : (ssize_t)r.len;
	}
	n = msgrcv(q->msqid, q->sbuf, len, (long)TD_TAG, IPC_NOWAIT);
	if (n >= 0) {
		*tag = (uint64_t)*(long *)q->sbuf;
		memcpy(buf, (char *)q->sbuf + sizeof(long), (size_t)n);
	}
	return n;
}

static bool td_limit_errno(int e)
{
	return e == EINVAL || e == EMFILE || e == ENOSPC || e == ENOBUFS ||
	       e == ENOMEM || e == EMSGSIZE || e == EPERM || e == EAGAIN;
}

static int td_open(const struct job *j, struct td_q *q, struct td_res *r)
{
	unsigned int want = j->depth + 1;
	char name[96];

	if (q->kind != TD_SYSV) {
		snprintf(name, sizeof(name), "kmbox-bench-tagdepth-%s-%d", bench_tag,
			 (int)getpid());
		q->fd = kmbox_depth_open(name, want, q->size);
		if (q->fd >= 0)
			return 0;
		r->err = errno;
		if (errno == EINVAL && kmbox_max_msgs_cap() && want > kmbox_max_msgs_cap())
			snprintf(r->what, sizeof(r->what),
				 "kmbox max_msgs_cap is %u, %u needed (module parameter; root can raise it)",
				 kmbox_max_msgs_cap(), want);
		else
			snprintf(r->what, sizeof(r->what), "kmbox mailbox of %u messages: %s",
				 want, strerror(errno));
		return -1;
	}
	q->sbuf = xaligned(sizeof(long) + (q->size < 8 ? 8 : q->size));
	q->msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (q->msqid < 0) {
		r->err = errno;
		snprintf(r->what, sizeof(r->what), "msgget: %s", strerror(errno));
		return -1;
	}
	r->msqid = q->msqid;
	{
		struct msqid_ds ds;
		/* msg_fits_inqueue(): bytes, and messages, both within qbytes */
		unsigned long need = (unsigned long)want * (q->size ? q->size : 1);

		if (need < want)
			need = want;
		if (msgctl(q->msqid, IPC_STAT, &ds) < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what), "IPC_STAT: %s", strerror(errno));
			return -1;
		}
		if (ds.msg_qbytes < need) {
			ds.msg_qbytes = need;
			if (msgctl(q->msqid, IPC_SET, &ds) < 0) {
				r->err = errno;
				snprintf(r->what, sizeof(r->what),
					 "SysV queue of %u x %zu B: msg_qbytes %lu needed, above msgmnb (%ld): %s",
					 want, q->size, need, read_long("/proc/sys/kernel/msgmnb"),
					 strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

static void td_child(const struct job *j, struct td_res *r)
{
	struct td_q q = { .kind = td_kind(j->m), .fd = -1, .msqid = -1, .size = j->size };
	size_t bufsz = j->size < 8 ? 8 : j->size;
	char *buf = xaligned(bufsz);
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ j->depth ^ ((uint64_t)q.kind << 32);
	uint64_t seq = 0, i, tag;
	uint64_t t_begin, t0, t1, t2, stop_at = 0, cap_at;
	bool measuring = false;

#define XS() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	if (td_open(j, &q, r) < 0)
		return;
	/* the others: tags != T, T + 1; mixed priorities (SysV: none) */
	for (i = 0; i < j->depth; i++) {
		uint64_t t = TD_OTHER_BASE + XS() % (1ULL << 20);

		bench_fill(buf, j->size, seq++ * 0xD1342543DE82EF95ULL + 1);
		if (td_send(&q, buf, j->size, t, (unsigned int)(XS() % TD_PRIOS)) < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what),
				 "queue full after %llu of %u messages: %s%s",
				 (unsigned long long)i, j->depth, strerror(errno),
				 td_limit_errno(errno) ? " (a memory quota?)" : "");
			return;
		}
	}
	t_begin = now_ns();
	cap_at = t_begin + j->warm_cap_ns + j->cap_ns;
	for (i = 0;; i++) {
		uint64_t snd, rcv;
		ssize_t len;

		bench_fill(buf, j->size, seq++ * 0xD1342543DE82EF95ULL + 1);
		t0 = now_ns();
		if (td_send(&q, buf, j->size, TD_TAG, 0) < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what), "send: %s", strerror(errno));
			return;
		}
		t1 = now_ns();
		len = td_recv(&q, buf, bufsz, &tag);
		t2 = now_ns();
		if (len < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what), "receive by tag: %s", strerror(errno));
			/* EAGAIN: the message sent was not found, a real failure */
			if (errno == EAGAIN)
				r->err = EIO;
			return;
		}
		snd = t1 - t0;
		rcv = t2 - t1;
		if ((size_t)len != j->size || tag != TD_TAG || (len >= 8 &&
		    bench_verify(buf, (size_t)len, *(const uint64_t *)buf)))
			r->bad++;
		if (measuring) {
			hist_add(&r->hs, snd);
			hist_add(&r->hr, rcv);
			if ((r->hr.n >= j->min_msgs && t2 >= stop_at) || t2 >= cap_at)
				break;
		} else if ((i + 1 >= j->warm_min && t2 - t_begin >= j->warm_ns) ||
			   t2 - t_begin >= j->warm_cap_ns) {
			measuring = true;
			stop_at = t2 + j->run_ns;
			cap_at = t2 + j->cap_ns;
		}
	}
#undef XS
}

int run_tagdepth_job(const struct job *j, struct outcome *o)
{
	struct td_res *r;
	uint64_t t_start = now_ns(), deadline = t_start + j->timeout_ns;
	int st = 0;
	pid_t pid, w = 0;

	memset(o, 0, sizeof(*o));
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "mmap: %s", strerror(errno));
		return -1;
	}
	memset(r, 0, sizeof(*r));
	r->msqid = -1;
	hist_init(&r->hs);
	hist_init(&r->hr);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "fork: %s", strerror(errno));
		munmap(r, sizeof(*r));
		return -1;
	}
	if (pid == 0) {
		cpu_set_t set;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		CPU_ZERO(&set);
		CPU_SET(j->cpu_tx, &set);
		sched_setaffinity(0, sizeof(set), &set);
		td_child(j, r);
		_exit(r->err ? 1 : 0);
	}
	/* SIGCHLD may be blocked (run.c): poll for the child */
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_ns() < deadline) {
		struct timespec ts = { 0, 10000000L };

		nanosleep(&ts, NULL);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	/* a SysV queue outlives its process: remove it whatever happened */
	if (r->msqid >= 0)
		msgctl(r->msqid, IPC_RMID, NULL);
	if (w == 0) {
		snprintf(o->status, sizeof(o->status), "timeout");
		snprintf(o->note, sizeof(o->note), "no result after %.0f s; process killed",
			 (double)j->timeout_ns / 1e9);
	} else if (r->err) {
		snprintf(o->status, sizeof(o->status), "%s",
			 td_limit_errno(r->err) ? "n/a" : "error");
		snprintf(o->note, sizeof(o->note), "%s", r->what);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "the process died without a result");
	} else if (r->bad) {
		snprintf(o->status, sizeof(o->status), "corrupt");
		snprintf(o->note, sizeof(o->note),
			 "%llu message(s) failed the payload or tag check",
			 (unsigned long long)r->bad);
	} else if (!r->hr.n) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "no sample after warm-up");
	} else {
		snprintf(o->status, sizeof(o->status), "ok");
		o->n = r->hr.n;
		o->capped = o->n < j->min_msgs;
		if (o->capped)
			snprintf(o->note, sizeof(o->note),
				 "stopped at the time cap short of %llu receives",
				 (unsigned long long)j->min_msgs);
		o->send_us = hist_quantile(&r->hs, 0.5) / 1e3;
		o->recv_us = hist_quantile(&r->hr, 0.5) / 1e3;
		/* p50/p99: one message, sent and received by its tag */
		o->p50 = o->send_us + o->recv_us;
		o->p99 = (hist_quantile(&r->hs, 0.99) + hist_quantile(&r->hr, 0.99)) / 1e3;
	}
	o->secs = (double)(now_ns() - t_start) / 1e9;
	munmap(r, sizeof(*r));
	return strcmp(o->status, "ok") ? -1 : 0;
}

/* ------------------------------------------------ the three "mechanisms" */

static int td_probe_kmbox(char *why, size_t n)
{
	return kmbox_probe_features(why, n, KMBOX_FEAT_TAGS);
}

static int td_probe_sysv(char *why, size_t n)
{
	int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);

	if (id < 0) {
		snprintf(why, n, "msgget: %s", strerror(errno));
		return -1;
	}
	msgctl(id, IPC_RMID, NULL);
	return 0;
}

const struct mech mech_td_tag = {
	.name = "kmbox-tag",
	.desc = "kmbox receive by exact tag (KMBOX_F_MATCH, mask ~0: the tag index); tagdepth workload only",
	.flags = MF_KMBOX | MF_SELECT,
	.probe = td_probe_kmbox,
};

const struct mech mech_td_tagmask = {
	.name = "kmbox-tagmask",
	.desc = "kmbox receive by tag with a wildcard bit (mask ~1: walks the queue); tagdepth workload only",
	.flags = MF_KMBOX | MF_SELECT,
	.probe = td_probe_kmbox,
};

const struct mech mech_td_sysv = {
	.name = "sysv-msgtyp",
	.desc = "System V msgrcv(msgtyp = tag) (walks the queue); tagdepth workload only",
	.flags = MF_SELECT,
	.probe = td_probe_sysv,
};
