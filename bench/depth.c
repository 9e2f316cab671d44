// SPDX-License-Identifier: GPL-2.0
/*
 * Cost against queue depth: what one send and one receive cost when the
 * queue already holds @depth messages of mixed priorities.
 *
 * One process, pinned to CPU A, opens the queue for reading and writing
 * (no peer, so no wake-up is ever involved: only the queue's own data
 * structure and copies are measured).  It fills the queue with @depth
 * messages of random priority 0..31, then repeats
 *
 *	receive (the queue holds depth messages), timed
 *	send one of random priority (it holds depth - 1), timed
 *
 * so the queue stays at its depth; a receive always takes the highest
 * priority queued, so the queue's mix drifts to lower priorities as it
 * would in use.  Each call is timed on its own with CLOCK_MONOTONIC (the
 * clock's cost, in the report header, is in every figure at every depth)
 * into a histogram; the medians are reported.  Payloads are written
 * before the send and checked after the receive (word 0 = seed), outside
 * the timed calls.  Warm-up and run length follow the other workloads
 * (--warm, --time, --min-lat).
 *
 * Backends: kmbox through KMBOX_IOC_SEND/RECV (the priority needs the
 * ioctl; reported as kmbox-ioctl) and POSIX mq_send/mq_receive.  A queue
 * the system does not let us create that deep (fs.mqueue.msg_max without
 * root, the module's max_msgs_cap) is reported n/a with the limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DEPTH_PRIOS	32

struct depth_res {
	int err;
	char what[160];
	uint64_t bad;
	struct hist hs, hr;
};

struct dq {
	bool kmbox;
	int fd;
	mqd_t mq;
};

static int dq_send(struct dq *q, const void *buf, size_t len, unsigned int prio)
{
	if (q->kmbox)
		return kmbox_depth_send(q->fd, buf, len, prio);
	return mq_send(q->mq, buf, len, prio);
}

static ssize_t dq_recv(struct dq *q, void *buf, size_t len)
{
	if (q->kmbox)
		return kmbox_depth_recv(q->fd, buf, len);
	return mq_receive(q->mq, buf, len, NULL);
}

static bool limit_errno(int e)
{
	return e == EINVAL || e == EMFILE || e == ENOSPC || e == ENOBUFS ||
	       e == ENOMEM || e == EMSGSIZE;
}

/* why the queue could not be created this deep: the limit in force */
static void explain(const struct job *j, bool kmbox, int err, char *buf, size_t n)
{
	if (kmbox) {
		unsigned int cap = kmbox_max_msgs_cap();

		if (err == EINVAL && cap && j->depth > cap)
			snprintf(buf, n, "kmbox max_msgs_cap is %u (module parameter; root can raise it)", cap);
		else
			snprintf(buf, n, "kmbox mailbox of %u messages: %s", j->depth, strerror(err));
		return;
	}
	if (err == EINVAL) {
		long mx = read_long("/proc/sys/fs/mqueue/msg_max");

		snprintf(buf, n, "POSIX mq of %u messages refused: fs.mqueue.msg_max is %ld%s",
			 j->depth, mx, geteuid() ? " (not root: cannot raise it)" : "");
	} else if (err == EMFILE) {
		snprintf(buf, n, "POSIX mq of %u messages is over RLIMIT_MSGQUEUE", j->depth);
	} else {
		snprintf(buf, n, "POSIX mq of %u messages: %s", j->depth, strerror(err));
	}
}

static void depth_child(const struct job *j, struct depth_res *r)
{
	struct dq q = { .kmbox = j->m->flags & MF_KMBOX, .fd = -1, .mq = (mqd_t)-1 };
	size_t bufsz = j->size < 8 ? 8 : j->size;
	char *buf = xaligned(bufsz), name[96];
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ j->depth, seq = 0, i;
	uint64_t t_begin, t0, t1, t2, stop_at = 0, cap_at;
	bool measuring = false;

#define XS() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	/* this child's own name; unlinked as soon as it is open */
	snprintf(name, sizeof(name), "%skmbox-bench-depth-%s-%d", q.kmbox ? "" : "/",
		 bench_tag, (int)getpid());
	if (q.kmbox) {
		q.fd = kmbox_depth_open(name, j->depth, bufsz);
		if (q.fd < 0) {
			r->err = errno;
			explain(j, true, errno, r->what, sizeof(r->what));
			return;
		}
	} else {
		struct mq_attr a = { .mq_maxmsg = j->depth, .mq_msgsize = (long)bufsz };

		q.mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
		if (q.mq == (mqd_t)-1) {
			r->err = errno;
			explain(j, false, errno, r->what, sizeof(r->what));
			return;
		}
		mq_unlink(name);
	}
	/* fill to the depth */
	for (i = 0; i < j->depth; i++) {
		bench_fill(buf, j->size, seq++ * 0xD1342543DE82EF95ULL + 1);
		if (dq_send(&q, buf, j->size, (unsigned int)(XS() % DEPTH_PRIOS)) < 0) {
			r->err = errno;
			if (limit_errno(errno))
				snprintf(r->what, sizeof(r->what),
					 "queue full after %llu of %u messages: %s (a memory quota?)",
					 (unsigned long long)i, j->depth, strerror(errno));
			else
				snprintf(r->what, sizeof(r->what), "fill: %s", strerror(errno));
			return;
		}
	}
	t_begin = now_ns();
	cap_at = t_begin + j->warm_cap_ns + j->cap_ns;
	for (i = 0;; i++) {
		unsigned int prio = (unsigned int)(XS() % DEPTH_PRIOS);
		uint64_t rcv, snd;
		ssize_t len;

		t0 = now_ns();
		len = dq_recv(&q, buf, bufsz);
		rcv = now_ns() - t0;
		if (len < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what), "receive: %s", strerror(errno));
			return;
		}
		if ((size_t)len != j->size || (len >= 8 &&
		    bench_verify(buf, (size_t)len, *(const uint64_t *)buf)))
			r->bad++;
		/* the next message, written outside the timed call */
		bench_fill(buf, j->size, seq++ * 0xD1342543DE82EF95ULL + 1);
		t1 = now_ns();
		if (dq_send(&q, buf, j->size, prio) < 0) {
			r->err = errno;
			snprintf(r->what, sizeof(r->what), "send: %s", strerror(errno));
			return;
		}
		t2 = now_ns();
		snd = t2 - t1;
		if (measuring) {
			hist_add(&r->hr, rcv);
			hist_add(&r->hs, snd);
			if ((r->hs.n >= j->min_msgs && t2 >= stop_at) || t2 >= cap_at)
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

int run_depth_job(const struct job *j, struct outcome *o)
{
	struct depth_res *r;
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
		depth_child(j, r);
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
		snprintf(o->status, sizeof(o->status), "timeout");
		snprintf(o->note, sizeof(o->note), "no result after %.0f s; process killed",
			 (double)j->timeout_ns / 1e9);
	} else if (r->err) {
		snprintf(o->status, sizeof(o->status), "%s", limit_errno(r->err) ? "n/a" : "error");
		snprintf(o->note, sizeof(o->note), "%s", r->what);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "the process died without a result");
	} else if (r->bad) {
		snprintf(o->status, sizeof(o->status), "corrupt");
		snprintf(o->note, sizeof(o->note), "%llu message(s) failed the payload check",
			 (unsigned long long)r->bad);
	} else if (!r->hs.n) {
		snprintf(o->status, sizeof(o->status), "error");
		snprintf(o->note, sizeof(o->note), "no sample after warm-up");
	} else {
		snprintf(o->status, sizeof(o->status), "ok");
		o->n = r->hs.n;
		o->capped = o->n < j->min_msgs;
		if (o->capped)
			snprintf(o->note, sizeof(o->note),
				 "stopped at the time cap short of %llu sends",
				 (unsigned long long)j->min_msgs);
		o->send_us = hist_quantile(&r->hs, 0.5) / 1e3;
		o->recv_us = hist_quantile(&r->hr, 0.5) / 1e3;
		/* p50/p99: a send plus a receive, for the generic tables */
		o->p50 = o->send_us + o->recv_us;
		o->p99 = (hist_quantile(&r->hs, 0.99) + hist_quantile(&r->hr, 0.99)) / 1e3;
	}
	o->secs = (double)(now_ns() - t_start) / 1e9;
	munmap(r, sizeof(*r));
	return strcmp(o->status, "ok") ? -1 : 0;
}
