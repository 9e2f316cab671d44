// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox_fuzz: seeded, bounded fuzzer of /dev/kmbox with an invariant oracle.
 *
 * Usage: kmbox_fuzz [--seed S] [--ops N] [--duration SECONDS]
 *                   [--mode all|LIST] [--threads N]
 *                   [--proc-every N] [--faults] [--keep-going] [--verbose]
 * Arguments are also taken from $KMBOX_FUZZ_ARGS (command line wins).
 * Defaults: --seed 1 --ops 1000000 --duration 30 --mode all --threads 3
 * --proc-every 32; it stops at whichever limit comes first (--duration 0:
 * no time limit, --ops 0: no op limit).  --ops counts all threads of all
 * workers together; each thread gets an equal share.
 *
 * Workers.  A supervisor that does no fuzzing itself forks them; they run
 * at the same time and share four files the supervisor made (two plain
 * mailboxes, two with a zero-copy region; one of each named) as well as
 * names in its IPC namespace:
 *   A, B  (--mode procs)    two single-threaded processes, root without
 *                           CAP_SYS_RESOURCE, racing each other
 *   T     (--mode threads)  one process, --threads threads sharing one file
 *                           table: every op of one thread may meet another
 *                           thread's op on the same file
 *   Z     (--mode zc)       --threads + 1 threads of one process on small
 *                           zero-copy mailboxes, started on one CPU:
 *                           receives with the argument or the batch
 *                           entries on a read-only page (the copy-out
 *                           faults after the slot was taken), half of
 *                           thread 0's receives as SCHED_IDLE (a sender
 *                           that hands it a slot goes on first, as do the
 *                           others), reserves, sends, releases of held and
 *                           of random slots through duplicates of the same
 *                           files, a few ops as SCHED_IDLE or on another CPU
 *   U     (--mode unpriv)   generations of processes that setresuid to
 *                           1000 or 65534, enter fresh user and IPC
 *                           namespaces (mapped to 0 there or not; every
 *                           other generation drops all capabilities in
 *                           it), fuzz with 2 threads for a slice and exit,
 *                           so their named mailboxes die with the namespace
 * --mode all runs them all; --mode takes a comma-separated list too.
 *
 * Ops: open (access modes 0, 1, 2 and 3)/close/dup of /dev/kmbox files;
 * every ioctl (known and random command numbers) with random and boundary
 * values in every field; read/write; mmap with random protections, flags,
 * lengths and offsets; munmap, mprotect, mremap of region mappings;
 * scribbling over the shared region while others send and receive
 * zero-copy messages in it; poll; O_NONBLOCK/O_ASYNC/F_SETOWN/F_SETSIG;
 * fork of a short-lived grandchild; scheduling policy and CPU affinity;
 * synchronous messaging: KMBOX_F_SYNC sends and send batches, receives
 * and receive batches with KMBOX_F_CALLS (which answer most requests at
 * once), KMBOX_IOC_CALL (mostly sane, the rest random) and KMBOX_IOC_REPLY
 * (a recent token of the file, another file's, or one never issued), and
 * rendezvous mailboxes among those bind creates.  Calls and receives of
 * calls go mostly to bound files, the shared named mailbox first.
 * Pointers are NULL, unmapped, read-only (garbage, or a valid argument on
 * a read-only view of a page the fuzzer writes through another mapping),
 * kernel, non-canonical, running off the end of a page into a PROT_NONE
 * page, or point into the region mapping itself.
 *
 * Every op is bounded: a per-thread 10 ms interval timer (SIGALRM without
 * SA_RESTART) ends any call that would sleep.  Root workers drop
 * CAP_SYS_RESOURCE first, so the per-user quota bounds what they pin.
 *
 * "Impossible" results make the run fail: success of a call whose
 * arguments are nonsense (unknown flags, non-zero reserved fields, bad
 * priority, a deadline without KMBOX_F_TIMEOUT, an oversized message, a
 * bad count, an unknown command with our magic), an errno outside the
 * documented set, results out of range, the kernel writing past the
 * returned length into a receive buffer, a receive that succeeds although
 * its result cannot be written, reads or writes through a file without
 * that access, a file with access mode 3 bound to a named mailbox by a
 * process without CAP_DAC_OVERRIDE, a slot release that succeeds for
 * slots this file does not hold, a region mapping that grows or becomes
 * executable, and a SIGSEGV/SIGBUS outside the fuzzer's deliberate
 * accesses (which are fenced with sigsetjmp).
 *
 * The invariant oracle.  After every op, KMBOX_IOC_GETATTR on the file
 * the op used: zc_free <= zc_slots, zc_free + this file's zc_held <=
 * zc_slots, cur_msgs <= max_msgs, cur_bytes 0 when cur_msgs is 0 and at
 * most cur_msgs * max_msgsize, no counter wrapped (>= 2^31).  Every
 * --proc-every ops, /proc/kmbox/mailboxes (columns looked up by the names
 * in its header): the same per mailbox, waiter counts not negative, and
 * where the module has the columns inflight zc_reserved zc_queued
 * zc_taken zc_held: zc_free + zc_reserved + zc_queued + zc_taken +
 * zc_held == zc_slots, msgs + inflight <= max_msgs, zc_queued + zc_taken
 * <= msgs + inflight.  And slot hand-outs: every slot RESERVE or RECV
 * gives to a file is recorded in memory shared by all workers, per
 * mailbox, until that file sends or releases it (or its last descriptor
 * is closed); a slot handed out while recorded as held is a double
 * hand-out.  (Recorded: mailboxes whose identity the fuzzer knows, the
 * supervisor's and anonymous ones; a file's slot-returning calls are
 * serialised by a lock per file so that the record stays exact.)  An
 * oracle failure prints the thread's last 32 calls (op, arguments,
 * result; "fd 5 #12": descriptor 5 of file 12), the other threads' last
 * 16, and the /proc lines, then stops every worker (--keep-going: goes
 * on, printing the first few failures) and fails the run.
 * Reply tokens (struct tok): a token reported twice on one file, a REPLY
 * that succeeds with a token no receive of that file reported (forged, or
 * another file's) or that was answered already, a call returning a reply
 * longer than its buffer or stored in unwritable memory break it; at the
 * end the calls that returned a reply must be no more than the REPLYs
 * that succeeded, and those no more than the calls that returned a reply,
 * failed with EFAULT or never returned.
 * At the end, with every file closed: /proc/kmbox/stats all zero and no
 * mailbox left in the supervisor's namespace.
 *
 * --faults: the fuzzing threads write 1 to /proc/thread-self/make-it-fail,
 * so that failslab (set up by the caller with task-filter=Y, e.g.
 * qemu/debug/guest-debug.sh) fails their allocations; ENOMEM and EFAULT
 * are then accepted everywhere and calls that must succeed may fail.
 *
 * Output: KTAP (one case per worker, then the oracle, crash/hang, calls
 * and replies, counters and leftovers), the number of ops and checks done,
 * and how the calls ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <liburing.h>

#include "kmbox.h"
#include "kmbox_uring.h"
#include "stress_util.h"

#define NFD		16
#define NMAP		4
#define NNAMES		8
#define MAX_HELD	64
#define PG		4096UL
#define NWORKERS	8
#define MAXTHREADS	8

static unsigned long long opt_seed = 1, opt_ops = 1000000, opt_duration = 30;
static unsigned long long opt_threads = 3, opt_proc_every = 32;
static const char *opt_mode = "all";
static bool opt_verbose, opt_faults, opt_keep_going;

/* ---- state shared by every worker (a MAP_SHARED mapping made before fork) ---- */

/*
 * Files and mailboxes get numbers of our own: a "fid" per open file
 * description (kept by dup and fork), an "mbid" per mailbox whose identity
 * we know (the supervisor's, and anonymous ones: a fresh one per
 * successful KMBOX_OPEN_ANON).  0 means untracked.
 */
#define FID_MAX		(1u << 18)
#define MBID_MAX	(1u << 13)
#define TSLOTS		64		/* slots tracked per mailbox */
#define NLOCKS		1024

enum { HOW_RESERVE = 1, HOW_RECV, HOW_RECVB };
static const char *const how_name[] = { "?", "RESERVE", "RECV", "RECV_BATCH" };

struct holder {
	uint32_t fid_how;	/* fid << 2 | HOW_*, 0: not held */
	uint32_t who;		/* worker << 8 | thread, for diagnostics */
	uint64_t op;
};

struct wstat {
	char name[8];
	char desc[96];
	unsigned long nops, impossible, oracle;
	int used;
};

/*
 * Call/reply bookkeeping.  Every reply token a receive reports is entered
 * in shm->tok under its key, the token with the fid of the file that
 * received it (tokens are per mailbox and far below 2^44), and a recent
 * few in shm->ring, where REPLY ops find tokens to answer (any process:
 * the files are shared).  A token reported twice on one file is a request
 * delivered twice; a REPLY that succeeds must find its key RECEIVED and
 * moves it to ANSWERED, so a token that succeeds twice, or one no receive
 * of that file reported, breaks the oracle.
 */
#define NTOK		(1u << 16)
#define NRING		256
#define TOK_KEY(fid, t)	((uint64_t)(t) | (uint64_t)(fid) << 44)
enum { TOK_RECEIVED = 1, TOK_ANSWERED };

struct tok {
	uint64_t key;			/* 0: free */
	uint32_t state;
	/* Who received it first (printed when it comes again): */
	uint32_t who;			/* worker << 8 | thread */
	uint64_t op;			/* that thread's op number */
	int32_t pid;			/* its process */
	int32_t fd;			/* the descriptor it used */
	uint64_t kid;			/* the mailbox's kernel id (fdinfo), 0: unknown */
	const char *how;		/* RECV or RECV_BATCH (string literals) */
};

/* A file's receive filter as the fuzzer set it (see op_filter()). */
struct fltrec {
	uint32_t seq;			/* odd while a FILTER op is in its call (or died in it) */
	uint32_t unknown;		/* we lost track */
	uint64_t tag, mask;
};

/* How each KMBOX_IOC_CALL ended. */
enum { CO_REPLY, CO_EPIPE, CO_ETIMEDOUT, CO_EINTR, CO_EAGAIN, CO_EFAULT, CO_EINVAL, CO_EBADF,
       CO_OTHER, CO_N };

struct callstat {
	unsigned long started, ended, out[CO_N];
	unsigned long replies_ok, replies_enoent, replies_emsgsize, replies_err;
	unsigned long forged_enoent, tokens, tok_full, sync_ok, sync_err, rdv_bound;
	/* op_reply_recv(): calls, replies that went, requests it received */
	unsigned long rr_calls, rr_went, rr_received;
};

struct shm {
	int stop;			/* set by the first oracle failure */
	uint32_t next_fid, next_mbid;
	unsigned long getattr_checks, proc_checks, handouts, oracle_fail;
	uint32_t kinds[32];		/* oracle failures printed, by kind */
	struct wstat w[NWORKERS];
	pthread_mutex_t lk[NLOCKS];	/* per fid: its slot-returning calls */
	int32_t nfd[FID_MAX];		/* descriptors open on it, all processes */
	uint32_t gen[FID_MAX];		/* bumped by every slot-returning call */
	uint32_t fid_mbid[FID_MAX];
	struct fltrec flt[FID_MAX];	/* each file's filter: see op_filter() */
	unsigned long flt_ops, flt_checks, stat_ops, stat_checks;
	/* op_policy() runs (exact: against the model), RECV_BATCHX calls */
	unsigned long pol_runs, pol_exact, bx_calls, bx_msgs, bx_faults, bx_general;
	/* KMBOX_URING_RECV_BATCH: on policy mailboxes (of bx_calls), elsewhere */
	unsigned long bx_uring, ur_general, ur_retired;
	/* KMBOX_URING_SEND_BATCH: on policy mailboxes (messages, cut by a bad entry), elsewhere */
	unsigned long sb_uring, sb_msgs, sb_cut, sb_general;
	uint32_t mb_nslots[MBID_MAX];
	struct holder holder[MBID_MAX][TSLOTS];
	struct callstat cs;
	uint64_t ring[NRING];
	uint32_t ring_pos;
	struct tok tok[NTOK];
};

static struct shm *shm;

#define LD(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ST(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

/* ---- per-process state ---------------------------------------------------- */

struct ffile {
	pthread_rwlock_t lk;	/* read: an op uses it; write: close/reuse */
	int fd;			/* -1: free */
	uint32_t fid;
	bool own;		/* opened by this single-threaded process: exact checks */
	int acc;		/* O_RDONLY/O_WRONLY/O_RDWR, or 3 */
	bool bound;
	__u32 max_msgsize;	/* known after GETATTR */
	__u32 nslots;
	__u32 held[MAX_HELD];	/* own files: slots we hold */
	int nheld;
	bool held_unknown;	/* we lost track (e.g. batch recv faulted) */
	char hist[16][64];	/* last changes to @held, for diagnostics */
	unsigned int nhist;
};

struct fmap {
	unsigned char *p;	/* NULL: free */
	size_t len;
	int prot;
	pthread_rwlock_t lk;	/* read: someone uses the memory; write: unmap */
};

static struct ffile files[NFD];
static uint32_t call_fid;		/* the supervisor's plain named mailbox */
static struct fmap maps[NMAP];
/* Structural changes of files[] and maps[] (and fork) happen under it. */
static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *ro;		/* one read-only page of garbage, then PROT_NONE */
static unsigned char *unmapped;		/* a PROT_NONE page: faults like a hole */
static int widx;			/* this worker's index in shm->w */
static bool capless;			/* no CAP_DAC_OVERRIDE over our mailboxes */
static bool in_grandchild;		/* a forked child of a fuzzing thread */
static int pin_cpu;

/* ---- per-thread state --------------------------------------------------------- */

#define NTRACE		256
#define NLOCKED		12

/* Op mixes: weights per op, out of their sum. */
enum op {
	OP_OPEN, OP_CLOSE, OP_DUP, OP_BIND, OP_UNLINK, OP_INFO, OP_GETATTR, OP_SEND,
	OP_RECV, OP_SENDB, OP_RECVB, OP_RESV, OP_REL, OP_RIOCTL, OP_RW, OP_MMAP,
	OP_MAPMISC, OP_POLL, OP_FCNTL, OP_FORK, OP_SCHED, OP_SLEEP, OP_CALL, OP_REPLY,
	OP_FILTER, OP_STATS, OP_N
};

static const char *const op_name[OP_N] = {
	"open", "close", "dup", "bind", "unlink", "info", "getattr", "send", "recv",
	"sendb", "recvb", "resv", "rel", "rioctl", "rw", "mmap", "mapmisc", "poll",
	"fcntl", "fork", "sched", "sleep", "call", "reply", "filter", "stats",
};

struct mix {
	unsigned short w[OP_N];
	unsigned int zc_pct;		/* send/recv with KMBOX_F_ZC */
	unsigned int rov_pct;		/* recv argument/entries on a read-only view */
	unsigned int rel_random_pct;	/* release slots we do not know we hold */
	unsigned int idle_recv_pct;	/* thread 0: a receive as SCHED_IDLE */
	bool pinned;			/* threads start on one CPU */
	bool small_zc;			/* bind: small regions, mostly anonymous */
};

static const struct mix mix_general = {
	.w = { [OP_OPEN] = 40, [OP_CLOSE] = 30, [OP_DUP] = 10, [OP_BIND] = 90,
	       [OP_UNLINK] = 20, [OP_INFO] = 10, [OP_GETATTR] = 40, [OP_SEND] = 140,
	       [OP_RECV] = 140, [OP_SENDB] = 50, [OP_RECVB] = 50, [OP_RESV] = 80,
	       [OP_REL] = 60, [OP_RIOCTL] = 40, [OP_RW] = 60, [OP_MMAP] = 40,
	       [OP_MAPMISC] = 60, [OP_POLL] = 15, [OP_FCNTL] = 15, [OP_FORK] = 2,
	       [OP_SLEEP] = 8, [OP_CALL] = 50, [OP_REPLY] = 40, [OP_FILTER] = 25,
	       [OP_STATS] = 20 },
	.zc_pct = 40, .rov_pct = 10, .rel_random_pct = 20,
};

/* Threads of one process: as general, with read-only views more often. */
static const struct mix mix_threads = {
	.w = { [OP_OPEN] = 40, [OP_CLOSE] = 30, [OP_DUP] = 15, [OP_BIND] = 80,
	       [OP_UNLINK] = 20, [OP_INFO] = 10, [OP_GETATTR] = 40, [OP_SEND] = 140,
	       [OP_RECV] = 150, [OP_SENDB] = 50, [OP_RECVB] = 60, [OP_RESV] = 90,
	       [OP_REL] = 80, [OP_RIOCTL] = 30, [OP_RW] = 50, [OP_MMAP] = 30,
	       [OP_MAPMISC] = 40, [OP_POLL] = 15, [OP_FCNTL] = 15, [OP_FORK] = 2,
	       [OP_SLEEP] = 3, [OP_CALL] = 50, [OP_REPLY] = 40, [OP_FILTER] = 25,
	       [OP_STATS] = 20 },
	.zc_pct = 50, .rov_pct = 30, .rel_random_pct = 30,
};

/*
 * Zero-copy receivers, senders and releasers on small regions, few files
 * (mostly duplicates of the same ones): a receive whose copy-out faults,
 * or that runs as SCHED_IDLE after a sender handed it a slot, is open to
 * a release of that slot through the same file by another thread.
 */
static const struct mix mix_zc = {
	.w = { [OP_OPEN] = 2, [OP_CLOSE] = 10, [OP_DUP] = 15, [OP_BIND] = 6,
	       [OP_GETATTR] = 10, [OP_SEND] = 130, [OP_RECV] = 220, [OP_SENDB] = 15,
	       [OP_RECVB] = 110, [OP_RESV] = 160, [OP_REL] = 250, [OP_RW] = 15,
	       [OP_MMAP] = 5, [OP_MAPMISC] = 5, [OP_POLL] = 5, [OP_FCNTL] = 3,
	       [OP_SCHED] = 25, [OP_SLEEP] = 2, [OP_CALL] = 10, [OP_REPLY] = 10,
	       [OP_FILTER] = 10, [OP_STATS] = 10 },
	.zc_pct = 85, .rov_pct = 60, .rel_random_pct = 50, .small_zc = true,
	.idle_recv_pct = 50, .pinned = true,
};

struct thr {
	struct rng rng_s;
	char who[12];
	int tidx;
	pid_t tid;			/* as the kernel's trace names it */
	unsigned long nops, budget;
	uint64_t end;
	const struct mix *mix;
	unsigned int cum[OP_N];
	unsigned char *good_p;		/* 3 RW pages, then a PROT_NONE page */
	unsigned char *args_p;		/* argument structs, arrays, names */
	unsigned char *rov_rw, *rov_ro;	/* one memfd, mapped RW and RO */
	sigjmp_buf jb;
	volatile sig_atomic_t deliberate, faulted;
	char trace[NTRACE][128];
	unsigned int ntrace;
	pthread_rwlock_t *locked[NLOCKED];
	int nlocked;
	struct ffile *cur_f;
	const char *cur_o;
	unsigned int half;
	bool rov_next;
	unsigned long proc_due;
	timer_t timer;
	bool has_timer;
	unsigned int idle_left;		/* ops left as SCHED_IDLE */
	bool reported;			/* its history was printed */
	bool idle_now;			/* this call runs as SCHED_IDLE */
	/* --verbose: time spent per op kind and in the oracle */
	unsigned long nop[OP_N], ns_op[OP_N], n_ga, ns_ga, n_proc, ns_proc;
};

static __thread struct thr *T;
/* This process's fuzzing threads (never freed before exit), for reports. */
static struct thr *threads[MAXTHREADS];

#define R		(T->rng_s)
#define ops		(T->nops)
#define good		(T->good_p)
#define args		(T->args_p)
#define cur_file	(T->cur_f)
#define cur_op		(T->cur_o)
#define arg_half	(T->half)

#define GOOD_LEN	(3 * PG)
#define ARGS_LEN	(4 * PG)
#define ARG_MMSG	(args + PG)		/* up to 256 entries */
#define ARG_SLOTS	(args + 3 * PG)		/* up to 256 slots */
#define ARG_NAME	(args + 3 * PG + 1536)	/* up to 257 bytes */
#define ARG_ATTR	(args + 3 * PG + 2048)	/* a struct kmbox_attr */
#define ROV_LEN		(3 * PG)		/* [0, PG): structs; [PG, 3 PG): entries */

static void say(const char *fmt, ...)
{
	char buf[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag("fuzz %s: %s", T ? T->who : "?", buf);
}

static void trace_dump(const struct thr *t, unsigned int n);

static void bad(const char *fmt, ...)
{
	unsigned long n = ADD(&shm->w[widx].impossible, 1);
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n <= 20)
		diag("fuzz %s op %lu: IMPOSSIBLE: %s", T->who, ops, buf);
	if (n <= 3) {
		diag("fuzz %s   the last 8 calls of this thread, oldest first:", T->who);
		trace_dump(T, 8);
	}
}

/* Which of our areas @a is in, for the report of an unexpected fault. */
static const char *area(const void *a)
{
	const unsigned char *c = a;
	int i;

	if (!T)
		return "?";
	if (c >= ro && c < ro + PG)
		return "the read-only page";
	if (c >= unmapped && c < unmapped + PG)
		return "the PROT_NONE page";
	if (c >= T->good_p && c < T->good_p + GOOD_LEN + PG)
		return "the good buffer";
	if (c >= T->args_p && c < T->args_p + ARGS_LEN)
		return "the args page";
	if (c >= T->rov_ro && c < T->rov_ro + ROV_LEN)
		return "the read-only view";
	if (c >= T->rov_rw && c < T->rov_rw + ROV_LEN)
		return "the read-write view";
	for (i = 0; i < NMAP; i++)
		if (maps[i].p && c >= maps[i].p && c < maps[i].p + maps[i].len)
			return "a region mapping";
	return "none of ours";
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	char m[300];
	int n;

	if (T && T->deliberate) {
		T->faulted = 1;
		siglongjmp(T->jb, 1);
	}
	n = snprintf(m, sizeof(m), "# fuzz %s op %lu (%s): unexpected signal %d at %p (%s), ip %#llx; last call: %s\n",
		     T ? T->who : "?", T ? T->nops : 0, T && T->cur_o ? T->cur_o : "?", sig,
		     si->si_addr, area(si->si_addr),
		     (unsigned long long)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP],
		     T && T->ntrace ? T->trace[(T->ntrace - 1) % NTRACE] : "-");
	if (write(STDOUT_FILENO, m, n) < 0) {
		/* nothing */
	}
	_exit(99);
}

static void on_alrm(int sig)
{
}

/* ---- a trace of recent calls: the op history ------------------------------ */

static void tr(const char *fmt, ...)
{
	va_list ap;
	char *e = T->trace[T->ntrace++ % NTRACE];
	int n;

	n = snprintf(e, sizeof(T->trace[0]), "op %lu ", ops);
	va_start(ap, fmt);
	vsnprintf(e + n, sizeof(T->trace[0]) - n, fmt, ap);
	va_end(ap);
}

/* The last @n entries of @t (another thread's: read as they are). */
static void trace_dump(const struct thr *t, unsigned int n)
{
	unsigned int end = t->ntrace, i = end > n ? end - n : 0;

	for (; i < end; i++)
		diag("fuzz %s   history of %s: %s", T->who, t->who, t->trace[i % NTRACE]);
}

/* The trace entries about fd @fd (and forks, dups, closes). */
static void trace_dump_fd(int fd)
{
	unsigned int i = T->ntrace > NTRACE ? T->ntrace - NTRACE : 0;
	char key[16];

	snprintf(key, sizeof(key), "fd %d ", fd);
	for (; i < T->ntrace; i++) {
		const char *t = T->trace[i % NTRACE];

		if (strstr(t, key) || strstr(t, "fork") || strstr(t, "dup"))
			diag("fuzz %s   trace: %s", T->who, t);
	}
}

static bool in_args(const void *p, size_t len)
{
	const unsigned char *c = p;

	return c >= args && c + len <= args + ARGS_LEN;
}

static bool in_rov(const void *p, size_t len)
{
	const unsigned char *c = p;

	return c >= T->rov_ro && c + len <= T->rov_ro + ROV_LEN;
}

/* Where an argument is, for the trace. */
static const char *where(const void *p, size_t len)
{
	if (in_args(p, len))
		return "";
	if (in_rov(p, len))
		return " [RO]";
	return " [elsewhere]";
}

/* The readable copy of an argument: itself, or its RW view. */
static const void *readable(const void *p, size_t len)
{
	if (in_args(p, len))
		return p;
	if (in_rov(p, len))
		return T->rov_rw + ((const unsigned char *)p - T->rov_ro);
	return NULL;
}

/* " #fid" of the op's file, if @fd is it. */
static const char *fid_of(int fd)
{
	static __thread char b[16];
	const struct ffile *f = T->cur_f;

	if (!f || f->fd != fd || !f->fid)
		return "";
	snprintf(b, sizeof(b), " #%u", f->fid);
	return b;
}

/* kb_ioctl with a trace entry: command, fd, arguments, result. */
static long fz_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r = kb_ret(ioctl(fd, cmd, arg));
	char extra[96] = "";
	const void *a;

	if (cmd == KMBOX_IOC_SEND && (a = readable(arg, sizeof(struct kmbox_send)))) {
		const struct kmbox_send *s = a;

		snprintf(extra, sizeof(extra), "SEND%s flags %#x slot %u len %u", where(arg, 1),
			 s->flags, s->slot, s->len);
	} else if (cmd == KMBOX_IOC_RECV && (a = readable(arg, sizeof(struct kmbox_recv)))) {
		const struct kmbox_recv *v = a;

		snprintf(extra, sizeof(extra), "RECV%s flags %#x -> len %u mflags %#x slot %u",
			 where(arg, 1), v->flags, v->len, v->msg_flags, v->slot);
	} else if ((cmd == KMBOX_IOC_ZC_RESERVE || cmd == KMBOX_IOC_ZC_RELEASE) &&
		   (a = readable(arg, sizeof(struct kmbox_slots)))) {
		const struct kmbox_slots *z = a;
		const __u32 *sl = (const __u32 *)(uintptr_t)z->slots;

		if (in_args(sl, 16))
			snprintf(extra, sizeof(extra), "%s%s count %u slots %u %u %u %u",
				 cmd == KMBOX_IOC_ZC_RESERVE ? "RESERVE" : "RELEASE",
				 where(arg, 1), z->count, sl[0], sl[1], sl[2], sl[3]);
		else
			snprintf(extra, sizeof(extra), "%s%s count %u slots [elsewhere]",
				 cmd == KMBOX_IOC_ZC_RESERVE ? "RESERVE" : "RELEASE",
				 where(arg, 1), z->count);
	} else if ((cmd == KMBOX_IOC_SEND_BATCH || cmd == KMBOX_IOC_RECV_BATCH ||
		    cmd == KMBOX_IOC_RECV_BATCHX) &&
		   (a = readable(arg, sizeof(struct kmbox_batch)))) {
		const struct kmbox_batch *b = a;
		const struct kmbox_mmsg *m = readable((void *)(uintptr_t)b->msgs, 2 * sizeof(*m));

		if (m)
			snprintf(extra, sizeof(extra),
				 "%s%s count %u flags %#x ents%s e0 %#x/%u e1 %#x/%u",
				 cmd == KMBOX_IOC_SEND_BATCH ? "SEND_BATCH" :
				 cmd == KMBOX_IOC_RECV_BATCH ? "RECV_BATCH" : "RECV_BATCHX",
				 where(arg, 1), b->count, b->flags,
				 where((void *)(uintptr_t)b->msgs, 1), m[0].flags, m[0].slot,
				 m[1].flags, m[1].slot);
		else
			snprintf(extra, sizeof(extra), "%s%s count %u flags %#x ents [elsewhere]",
				 cmd == KMBOX_IOC_SEND_BATCH ? "SEND_BATCH" :
				 cmd == KMBOX_IOC_RECV_BATCH ? "RECV_BATCH" : "RECV_BATCHX",
				 where(arg, 1), b->count, b->flags);
	} else if (cmd == KMBOX_IOC_OPEN && (a = readable(arg, sizeof(struct kmbox_open)))) {
		const struct kmbox_open *o = a;

		snprintf(extra, sizeof(extra), "OPEN flags %#x mode %#o", o->flags, o->mode);
	} else {
		snprintf(extra, sizeof(extra), "nr %lu%s", _IOC_NR(cmd),
			 _IOC_TYPE(cmd) == KMBOX_IOC_MAGIC ? "" : " (other magic)");
	}
	tr("ioctl fd %d%s %s%s -> %ld", fd, fid_of(fd), extra,
	   T->idle_now || T->idle_left ? " (idle)" : "", r);
	return r;
}

#define kb_ioctl fz_ioctl

/* ---- locks an op holds until it ends ------------------------------------------------ */

static bool hold_rd(pthread_rwlock_t *l)
{
	if (T->nlocked >= NLOCKED || pthread_rwlock_tryrdlock(l))
		return false;
	T->locked[T->nlocked++] = l;
	return true;
}

static void release_holds(void)
{
	while (T->nlocked)
		pthread_rwlock_unlock(T->locked[--T->nlocked]);
}

/* ---- the shared slot record ----------------------------------------------------------- */

static void oracle_fail(const char *fmt, ...);
static void slot_log_dump(int fd, uint32_t slot);

static void fid_lock(uint32_t fid)
{
	pthread_mutex_t *m = &shm->lk[fid % NLOCKS];

	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

static void fid_unlock(uint32_t fid)
{
	pthread_mutex_unlock(&shm->lk[fid % NLOCKS]);
}

static uint32_t new_fid(void)
{
	uint32_t fid = ADD(&shm->next_fid, 1);

	if (fid >= FID_MAX)
		return 0;
	ST(&shm->nfd[fid], 1);
	return fid;
}

static uint32_t file_mbid(const struct ffile *f)
{
	return f->fid ? LD(&shm->fid_mbid[f->fid]) : 0;
}

/* Slots of @f's mailbox we track: min(its slots, TSLOTS). */
static uint32_t tracked_slots(uint32_t mbid)
{
	uint32_t n = LD(&shm->mb_nslots[mbid]);

	return n < TSLOTS ? n : TSLOTS;
}

static void bind_mbid(struct ffile *f, uint32_t mbid, __u32 nslots)
{
	if (!f->fid || !mbid)
		return;
	ST(&shm->mb_nslots[mbid], nslots);
	ST(&shm->fid_mbid[f->fid], mbid);
}

static uint32_t new_mbid(void)
{
	uint32_t id = ADD(&shm->next_mbid, 1);

	return id < MBID_MAX ? id : 0;
}

/* Before a call that may hand out slots to @f. */
static uint32_t take_begin(const struct ffile *f)
{
	return f->fid ? LD(&shm->gen[f->fid]) : 0;
}

/*
 * After it handed @f the @n slots: record them.  If a slot-returning call
 * of @f began or ended since take_begin() (each bumps the generation at
 * both ends), one of them may already be back, so nothing is recorded.
 * A slot recorded as held by someone is a double hand-out.
 */
static void take_end(const struct ffile *f, uint32_t g0, const __u32 *slots, int n, int how)
{
	uint32_t mbid = file_mbid(f), nt, fid = f->fid;
	int i;

	if (!mbid || n <= 0)
		return;
	nt = tracked_slots(mbid);
	fid_lock(fid);
	if (LD(&shm->gen[fid]) != g0) {
		fid_unlock(fid);
		return;
	}
	for (i = 0; i < n; i++) {
		struct holder *h;
		uint32_t old = 0;

		if (slots[i] >= nt)
			continue;
		h = &shm->holder[mbid][slots[i]];
		if (!__atomic_compare_exchange_n(&h->fid_how, &old, fid << 2 | how, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			struct holder was = *h;

			fid_unlock(fid);
			oracle_fail("slot %u of mailbox #%u handed out twice: %s gave it to file #%u while file #%u holds it (from %s, worker %c thread %u op %lu)",
				    slots[i], mbid, how_name[how], fid, old >> 2, how_name[old & 3],
				    shm->w[(was.who >> 8) % NWORKERS].name[0], was.who & 0xff,
				    (unsigned long)was.op);
			slot_log_dump(f->fd, slots[i]);
			return;
		}
		h->who = (uint32_t)widx << 8 | T->tidx;
		h->op = ops;
		ADD(&shm->handouts, 1);
	}
	fid_unlock(fid);
}

/* Remove @slot from @f's record if @f holds it there; true if it did. */
static bool drop_slot(uint32_t mbid, uint32_t fid, uint32_t slot)
{
	struct holder *h;
	uint32_t cur;

	if (slot >= tracked_slots(mbid))
		return false;
	h = &shm->holder[mbid][slot];
	cur = LD(&h->fid_how);
	return cur >> 2 == fid &&
	       __atomic_compare_exchange_n(&h->fid_how, &cur, 0, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* Everything @fid holds in @mbid's record goes (its outcome is unknown). */
static void drop_all(uint32_t mbid, uint32_t fid)
{
	uint32_t s, nt = tracked_slots(mbid);

	for (s = 0; s < nt; s++)
		drop_slot(mbid, fid, s);
}

/*
 * A call that may give back slots of @f: under @f's lock, the slots it
 * names leave the record before the call (afterwards someone may already
 * have them again), and come back if the call gave nothing back.
 */
struct giveback {
	uint32_t mbid, fid;
	int fd;
	__u32 slot[KMBOX_BATCH_MAX];
	int n;
	bool locked;
};

enum { GB_NONE, GB_EXACT, GB_UNKNOWN };

/*
 * @mode: GB_EXACT, the kernel reads @slots as we wrote them; GB_UNKNOWN,
 * it reads bytes we do not know (in a region others scribble on), so
 * everything @f holds leaves the record for good; GB_NONE: it cannot read
 * the argument at all.
 */
static void giveback_begin(struct giveback *g, const struct ffile *f, const __u32 *slots,
			   int n, int mode)
{
	int i, j;

	g->mbid = file_mbid(f);
	g->fid = f->fid;
	g->fd = f->fd;
	g->n = 0;
	g->locked = g->mbid != 0 && mode != GB_NONE;
	if (!g->locked)
		return;
	fid_lock(g->fid);
	ADD(&shm->gen[g->fid], 1);
	if (mode == GB_UNKNOWN) {
		drop_all(g->mbid, g->fid);
		return;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (slots[j] == slots[i])
				break;
		if (j == i && drop_slot(g->mbid, g->fid, slots[i]))
			g->slot[g->n++] = slots[i];
	}
}

/*
 * The slots named from index @from on were not given back (a slot named
 * twice was given back by its first mention if that was before @from).
 */
static void giveback_end(struct giveback *g, const __u32 *slots, int n, int from)
{
	int i, j, k;

	if (!g->locked)
		return;
	/*
	 * Again after the call: a take that read the generation after the
	 * first bump may have got a slot the call then gave back.
	 */
	ADD(&shm->gen[g->fid], 1);
	for (i = from; i < n; i++) {
		if (slots[i] >= TSLOTS)
			continue;	/* never recorded (and the marker below) */
		for (j = 0; j < from && slots[j] != slots[i]; j++)
			;
		if (j < from)
			continue;
		for (k = 0; k < g->n; k++)
			if (g->slot[k] == slots[i])
				break;
		if (k < g->n) {
			struct holder *h = &shm->holder[g->mbid][slots[i]];
			uint32_t old = 0;

			g->slot[k] = KMBOX_NO_SLOT;	/* once */
			if (!__atomic_compare_exchange_n(&h->fid_how, &old, g->fid << 2 | HOW_RESERVE,
							 false, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE)) {
				fid_unlock(g->fid);
				g->locked = false;
				oracle_fail("slot %u of mailbox #%u: file #%u's call failed, so it still holds it, but file #%u was handed it meanwhile",
					    slots[i], g->mbid, g->fid, old >> 2);
				slot_log_dump(g->fd, slots[i]);
				return;
			}
			h->who = (uint32_t)widx << 8 | T->tidx;
			h->op = ops;
		}
	}
	fid_unlock(g->fid);
	g->locked = false;
}

/* Slots the record says @f holds (at most @max). */
static int recorded_slots(const struct ffile *f, __u32 *out, int max)
{
	uint32_t mbid = file_mbid(f), s, nt;
	int n = 0;

	if (!mbid)
		return 0;
	nt = tracked_slots(mbid);
	for (s = 0; s < nt && n < max; s++)
		if (LD(&shm->holder[mbid][s].fid_how) >> 2 == f->fid)
			out[n++] = s;
	return n;
}

/* A descriptor of @f goes away; the last one takes @f's record with it. */
static void fid_put(uint32_t fid)
{
	uint32_t mbid;

	if (!fid || ADD(&shm->nfd[fid], -1) > 0)
		return;
	mbid = LD(&shm->fid_mbid[fid]);
	if (!mbid)
		return;
	fid_lock(fid);
	ADD(&shm->gen[fid], 1);
	drop_all(mbid, fid);
	fid_unlock(fid);
}

/*
 * ---- the kernel's own log of slots ------------------------------------------------
 *
 * When the slot record and the kernel disagree, the question is which was
 * wrong, and the record cannot say.  So, as root, the supervisor turns on
 * kmbox:kmbox_zc_slot (every transition of region.c's slot state machine)
 * in a trace instance of its own, and a slot oracle report prints the
 * kernel's last transitions of that slot, with the threads' ids to read
 * them by.  Best effort: without tracefs the report says why.
 */
static int slot_log_dir = -1;
static char slot_log_path[96];
static char slot_log_why[96] = "not set up";

static int write_at(int dir, const char *file, const char *val)
{
	int fd = openat(dir, file, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

static void slot_log_setup(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	unsigned int i;
	int dir;

	if (geteuid()) {
		snprintf(slot_log_why, sizeof(slot_log_why), "tracefs needs root");
		return;
	}
	if (access("/sys/kernel/tracing/instances", F_OK))
		mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(slot_log_path, sizeof(slot_log_path), "%s/instances/kmbox-fuzz-%d",
			 roots[i], (int)getpid());
		if (!mkdir(slot_log_path, 0700))
			break;
	}
	if (i == ARRAY_SIZE(roots)) {
		snprintf(slot_log_why, sizeof(slot_log_why), "no trace instance: %s",
			 strerror(errno));
		slot_log_path[0] = 0;
		return;
	}
	dir = open(slot_log_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || write_at(dir, "buffer_size_kb", "8192") ||
	    write_at(dir, "events/kmbox/kmbox_zc_slot/enable", "1")) {
		snprintf(slot_log_why, sizeof(slot_log_why), "kmbox:kmbox_zc_slot: %s",
			 strerror(errno));
		if (dir >= 0)
			close(dir);
		return;
	}
	slot_log_dir = dir;
}

static void slot_log_teardown(void)
{
	if (slot_log_dir >= 0) {
		write_at(slot_log_dir, "events/kmbox/kmbox_zc_slot/enable", "0");
		close(slot_log_dir);
		slot_log_dir = -1;
	}
	if (slot_log_path[0])
		rmdir(slot_log_path);
}

/* The kernel id of the mailbox @fd is bound to, from its fdinfo; 0 if none. */
static unsigned long long fd_mailbox_id(int fd)
{
	char path[64], line[256];
	unsigned long long id = 0;
	FILE *in;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	in = fopen(path, "re");
	if (!in)
		return 0;
	while (fgets(line, sizeof(line), in))
		if (sscanf(line, "kmbox-id: %llu", &id) == 1)
			break;
	fclose(in);
	return id;
}

#define SLOT_LOG_LINES	40

/* The kernel's last transitions of @slot of @fd's mailbox. */
static void slot_log_dump(int fd, uint32_t slot)
{
	static char ring[SLOT_LOG_LINES][200];
	unsigned long long id = fd_mailbox_id(fd);
	unsigned int n = 0, i;
	char key[64], line[512];
	FILE *in = NULL;
	int tfd;

	for (i = 0; i < MAXTHREADS; i++)
		if (threads[i])
			diag("fuzz %s   thread %s is tid %d", T->who, threads[i]->who,
			     (int)threads[i]->tid);
	if (slot_log_dir < 0 || !id) {
		diag("fuzz %s   no kernel log of slot %u: %s", T->who, slot,
		     id ? slot_log_why : "fd not bound");
		return;
	}
	/* Reading the trace stops it: nothing after this report is logged. */
	tfd = openat(slot_log_dir, "trace", O_RDONLY | O_CLOEXEC);
	if (tfd >= 0)
		in = fdopen(tfd, "r");
	if (!in) {
		diag("fuzz %s   no kernel log of slot %u: %s", T->who, slot, strerror(errno));
		if (tfd >= 0)
			close(tfd);
		return;
	}
	snprintf(key, sizeof(key), "mbox=%llu slot=%u ", id, slot);
	while (fgets(line, sizeof(line), in))
		if (strstr(line, key))
			snprintf(ring[n++ % SLOT_LOG_LINES], sizeof(ring[0]), "%.*s",
				 (int)sizeof(ring[0]) - 1, line);
	fclose(in);
	diag("fuzz %s   the kernel's last %u transitions of slot %u of mailbox %llu (of %u logged):",
	     T->who, n < SLOT_LOG_LINES ? n : SLOT_LOG_LINES, slot, id, n);
	for (i = n > SLOT_LOG_LINES ? n - SLOT_LOG_LINES : 0; i < n; i++) {
		char *l = ring[i % SLOT_LOG_LINES];

		l[strcspn(l, "\n")] = 0;
		diag("fuzz %s   kernel: %s", T->who, l + strspn(l, " "));
	}
}

/* ---- the oracle -------------------------------------------------------------------- */

/* A line of /proc/kmbox/mailboxes: a name may be all \ooo escapes. */
#define PROC_LINE	(4 * KMBOX_NAME_MAX + 512)

/* Print /proc/kmbox/mailboxes (our namespace), at most @max lines. */
static void proc_dump(int max)
{
	FILE *fp = fopen("/proc/kmbox/mailboxes", "r");
	char line[PROC_LINE];
	int n = 0;

	if (!fp) {
		say("  /proc/kmbox/mailboxes: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), fp) && n++ <= max) {
		line[strcspn(line, "\n")] = 0;
		diag("fuzz %s   /proc: %s", T->who, line);
	}
	fclose(fp);
}

/*
 * True the first time a failure of this kind (its text without digits)
 * is seen, so that a --keep-going run prints every invariant that broke.
 */
static bool new_kind(const char *msg)
{
	uint32_t h = 2166136261u, old;
	unsigned int i;

	for (; *msg; msg++)
		if (*msg < '0' || *msg > '9')
			h = (h ^ (unsigned char)*msg) * 16777619u;
	h |= 1;
	for (i = 0; i < ARRAY_SIZE(shm->kinds); i++) {
		old = 0;
		if (LD(&shm->kinds[i]) == h)
			return false;
		if (__atomic_compare_exchange_n(&shm->kinds[i], &old, h, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
		if (old == h)
			return false;
	}
	return false;
}

static void oracle_fail(const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	unsigned long n;
	int i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = ADD(&shm->oracle_fail, 1);
	ADD(&shm->w[widx].oracle, 1);
	if (!opt_keep_going)
		ST(&shm->stop, 1);
	if (n > 3 && !new_kind(buf))
		return;
	diag("fuzz %s op %lu: ORACLE: %s", T->who, ops, buf);
	if (T->reported)
		return;
	T->reported = true;
	diag("fuzz %s   the last 32 calls of this thread, oldest first:", T->who);
	trace_dump(T, 32);
	for (i = 0; i < MAXTHREADS; i++)
		if (threads[i] && threads[i] != T) {
			diag("fuzz %s   the last 16 calls of thread %s, as they stand:", T->who,
			     threads[i]->who);
			trace_dump(threads[i], 16);
		}
	proc_dump(24);
}

#define WRAPPED(v)	((v) >= 0x80000000u)

/* GETATTR on the file the op used; f is held. */
static void oracle_getattr(struct ffile *f)
{
	struct kmbox_attr a;
	char why[200] = "";

	memset(&a, 0, sizeof(a));
	if (ioctl(f->fd, KMBOX_IOC_GETATTR, &a))
		return;
	ADD(&shm->getattr_checks, 1);
	if (a.zc_free > a.zc_slots)
		snprintf(why, sizeof(why), "zc_free %u > zc_slots %u", a.zc_free, a.zc_slots);
	else if (a.zc_held > a.zc_slots)
		snprintf(why, sizeof(why), "zc_held %u > zc_slots %u", a.zc_held, a.zc_slots);
	else if ((uint64_t)a.zc_free + a.zc_held > a.zc_slots)
		snprintf(why, sizeof(why), "zc_free %u + this file's zc_held %u > zc_slots %u",
			 a.zc_free, a.zc_held, a.zc_slots);
	else if (!a.zc_slots && (a.zc_free || a.zc_held || a.zc_slot_size))
		snprintf(why, sizeof(why), "no region, but zc_free %u zc_held %u zc_slot_size %u",
			 a.zc_free, a.zc_held, a.zc_slot_size);
	else if (a.cur_msgs > a.max_msgs)
		snprintf(why, sizeof(why), "cur_msgs %u > max_msgs %u", a.cur_msgs, a.max_msgs);
	else if (!a.cur_msgs && a.cur_bytes)
		snprintf(why, sizeof(why), "cur_msgs 0 but cur_bytes %llu",
			 (unsigned long long)a.cur_bytes);
	else if (a.cur_bytes > (uint64_t)a.cur_msgs * a.max_msgsize)
		snprintf(why, sizeof(why), "cur_bytes %llu > cur_msgs %u * max_msgsize %u",
			 (unsigned long long)a.cur_bytes, a.cur_msgs, a.max_msgsize);
	else if (WRAPPED(a.cur_msgs) || WRAPPED(a.zc_free) || WRAPPED(a.zc_held) ||
		 WRAPPED(a.rd_waiters) || WRAPPED(a.wr_waiters) || (int64_t)a.cur_bytes < 0 ||
		 (int64_t)a.zc_completed < 0)
		snprintf(why, sizeof(why), "a counter wrapped: cur_msgs %u zc_free %u zc_held %u rd_waiters %u wr_waiters %u cur_bytes %llu zc_completed %llu",
			 a.cur_msgs, a.zc_free, a.zc_held, a.rd_waiters, a.wr_waiters,
			 (unsigned long long)a.cur_bytes, (unsigned long long)a.zc_completed);
	else if (!a.max_msgs || !a.max_msgsize || a.__reserved[0] || a.__reserved[1])
		snprintf(why, sizeof(why), "max_msgs %u max_msgsize %u reserved %u/%u",
			 a.max_msgs, a.max_msgsize, a.__reserved[0], a.__reserved[1]);
	if (why[0])
		oracle_fail("GETATTR of fd %d (file #%u, mailbox #%u): %s", f->fd, f->fid,
			    file_mbid(f), why);
}

/* Columns of /proc/kmbox/mailboxes the oracle reads. */
enum pcol {
	PC_MSGS, PC_BYTES, PC_MAXMSGS, PC_MAXSIZE, PC_RDW, PC_WRW, PC_SLOTS, PC_FREE,
	PC_INFLIGHT, PC_RESERVED, PC_QUEUED, PC_TAKEN, PC_HELD, PC_N
};

static const char *const pcol_name[PC_N] = {
	"msgs", "bytes", "max_msgs", "max_msgsize", "rd_waiters", "wr_waiters", "zc_slots",
	"zc_free", "inflight", "zc_reserved", "zc_queued", "zc_taken", "zc_held",
};

/* The mailboxes of our namespace, one line each, checked. */
static void oracle_proc(void)
{
	FILE *fp = fopen("/proc/kmbox/mailboxes", "r");
	char line[PROC_LINE], copy[PROC_LINE], *tok[KB_MB_MAXCOLS], why[240];
	struct kb_mbcols c;
	int col[PC_N], i, n;
	bool states;

	if (!fp)
		return;
	if (!fgets(line, sizeof(line), fp) || kb_mb_header(&c, line) < 3) {
		fclose(fp);
		return;
	}
	for (i = 0; i < PC_N; i++)
		col[i] = kb_mb_col(&c, pcol_name[i]);
	states = col[PC_INFLIGHT] >= 0 && col[PC_RESERVED] >= 0 && col[PC_QUEUED] >= 0 &&
		 col[PC_TAKEN] >= 0 && col[PC_HELD] >= 0;
	ADD(&shm->proc_checks, 1);
	while (fgets(line, sizeof(line), fp)) {
		long long v[PC_N] = { 0 };

		snprintf(copy, sizeof(copy), "%s", line);
		n = kb_mb_fields(copy, tok, KB_MB_MAXCOLS);
		why[0] = 0;
		for (i = 0; i < PC_N && !why[0]; i++) {
			if (col[i] < 0)
				continue;
			if (col[i] >= n || !kb_mb_num(tok[col[i]], &v[i]))
				snprintf(why, sizeof(why), "column %s unreadable", pcol_name[i]);
			else if (v[i] < 0 || v[i] >= 0x80000000LL * (i == PC_BYTES ? 0x10000 : 1))
				snprintf(why, sizeof(why), "%s is %lld", pcol_name[i], v[i]);
		}
		if (why[0])
			;
		else if (col[PC_MSGS] >= 0 && col[PC_MAXMSGS] >= 0 && v[PC_MSGS] > v[PC_MAXMSGS])
			snprintf(why, sizeof(why), "msgs %lld > max_msgs %lld", v[PC_MSGS],
				 v[PC_MAXMSGS]);
		else if (col[PC_MSGS] >= 0 && col[PC_BYTES] >= 0 && !v[PC_MSGS] && v[PC_BYTES])
			snprintf(why, sizeof(why), "msgs 0 but bytes %lld", v[PC_BYTES]);
		else if (col[PC_MSGS] >= 0 && col[PC_BYTES] >= 0 && col[PC_MAXSIZE] >= 0 &&
			 v[PC_BYTES] > v[PC_MSGS] * v[PC_MAXSIZE])
			snprintf(why, sizeof(why), "bytes %lld > msgs %lld * max_msgsize %lld",
				 v[PC_BYTES], v[PC_MSGS], v[PC_MAXSIZE]);
		else if (col[PC_SLOTS] >= 0 && col[PC_FREE] >= 0 && v[PC_FREE] > v[PC_SLOTS])
			snprintf(why, sizeof(why), "zc_free %lld > zc_slots %lld", v[PC_FREE],
				 v[PC_SLOTS]);
		else if (states && col[PC_SLOTS] >= 0 && col[PC_FREE] >= 0 &&
			 v[PC_FREE] + v[PC_RESERVED] + v[PC_QUEUED] + v[PC_TAKEN] + v[PC_HELD] !=
			 v[PC_SLOTS])
			snprintf(why, sizeof(why), "zc_free %lld + zc_reserved %lld + zc_queued %lld + zc_taken %lld + zc_held %lld != zc_slots %lld",
				 v[PC_FREE], v[PC_RESERVED], v[PC_QUEUED], v[PC_TAKEN], v[PC_HELD],
				 v[PC_SLOTS]);
		else if (states && col[PC_MSGS] >= 0 && col[PC_MAXMSGS] >= 0 &&
			 v[PC_MSGS] + v[PC_INFLIGHT] > v[PC_MAXMSGS])
			snprintf(why, sizeof(why), "msgs %lld + inflight %lld > max_msgs %lld",
				 v[PC_MSGS], v[PC_INFLIGHT], v[PC_MAXMSGS]);
		else if (states && col[PC_MSGS] >= 0 &&
			 v[PC_QUEUED] + v[PC_TAKEN] > v[PC_MSGS] + v[PC_INFLIGHT])
			snprintf(why, sizeof(why), "zc_queued %lld + zc_taken %lld > msgs %lld + inflight %lld",
				 v[PC_QUEUED], v[PC_TAKEN], v[PC_MSGS], v[PC_INFLIGHT]);
		if (why[0]) {
			fclose(fp);
			line[strcspn(line, "\n")] = 0;
			oracle_fail("/proc/kmbox/mailboxes: %s in: %s", why, line);
			return;
		}
	}
	fclose(fp);
}

/* ---- value pools ------------------------------------------------------------ */

static __u32 rand_u32(void)
{
	static const __u32 edge[] = { 0, 1, 2, 3, 7, 8, 63, 64, 65, 255, 256, 257, 4095, 4096,
				      4097, 8192, 32767, 32768, 32769, 65535, 65536, 1u << 20,
				      1u << 22, (1u << 22) + 1, 0x7fffffff, 0x80000000,
				      0xfffffffe, 0xffffffff };

	if (rng_pct(&R, 60))
		return edge[rng_below(&R, ARRAY_SIZE(edge))];
	if (rng_pct(&R, 50))
		return rng_below(&R, 300);
	return (__u32)rng_next(&R);
}

static __u64 rand_u64(void)
{
	static const __u64 edge[] = { 0, 1, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
				      ~0ULL, 1ULL << 32 };

	if (rng_pct(&R, 30))
		return edge[rng_below(&R, ARRAY_SIZE(edge))];
	return rand_u32();
}

/* A deadline: usually valid and soon, sometimes past or absurd. */
static __u64 rand_deadline(void)
{
	unsigned int x = rng_below(&R, 100);

	if (x < 40)
		return now_ns() + rng_below(&R, 5000000);
	if (x < 60)
		return 1;				/* long past */
	if (x < 70)
		return 0;
	return rand_u64();
}

enum pkind { P_GOOD, P_NULL, P_UNMAPPED, P_RO, P_KERNEL, P_NONCANON, P_STRADDLE, P_REGION,
	     P_ODD, P_ROV };

/* A pointer for @len bytes; *kind says what it is. */
static void *rand_ptr(size_t len, enum pkind *kind)
{
	unsigned int x = rng_below(&R, 100);
	int i;

	if (x < 55 && len <= GOOD_LEN) {
		*kind = P_GOOD;
		return good + rng_below(&R, GOOD_LEN - len + 1);
	}
	if (x < 60) {
		*kind = P_NULL;
		return NULL;
	}
	if (x < 65) {
		*kind = P_UNMAPPED;
		return unmapped + rng_below(&R, PG);
	}
	if (x < 72) {
		*kind = P_RO;
		return ro + rng_below(&R, PG);
	}
	if (x < 75) {
		*kind = P_KERNEL;
		return (void *)0xffffffff81000000UL;
	}
	if (x < 77) {
		*kind = P_NONCANON;
		return (void *)0x8000000000001000UL;
	}
	if (x < 85 && len > 0) {
		/* Runs off the end of the good area into the PROT_NONE page. */
		*kind = P_STRADDLE;
		return good + GOOD_LEN - rng_below(&R, len < PG ? len : PG);
	}
	if (x < 97) {
		for (i = 0; i < NMAP; i++) {
			struct fmap *m = &maps[(i + x) % NMAP];

			/* Kept mapped until the op ends. */
			if (m->p && hold_rd(&m->lk)) {
				if (m->p) {
					*kind = P_REGION;
					return m->p + rng_below(&R, m->len);
				}
				pthread_rwlock_unlock(&m->lk);
				T->nlocked--;
			}
		}
	}
	*kind = P_ODD;
	return good + 1 + rng_below(&R, 7);
}

/* Our own memory: the kernel reads what we wrote and we read what it wrote. */
static bool ptr_ok(enum pkind k)
{
	return k == P_GOOD || k == P_ODD;
}

/* The kernel reads what we wrote (it may not be able to write there). */
static bool ptr_in_ok(enum pkind k)
{
	return ptr_ok(k) || k == P_ROV;
}

/*
 * The kernel cannot read a byte there.  (A pointer that straddles into the
 * PROT_NONE page is readable up to it: a short array there can be read
 * whole.)
 */
static bool ptr_never_readable(enum pkind k)
{
	return k == P_NULL || k == P_UNMAPPED || k == P_KERNEL || k == P_NONCANON;
}

/* How a slot-returning call's argument of kind @k is judged. */
static int gb_mode(enum pkind k)
{
	return ptr_in_ok(k) ? GB_EXACT : k == P_REGION ? GB_UNKNOWN : GB_NONE;
}

/* Bytes the kernel could legitimately write at @p (of kind @k). */
static size_t ptr_room(const void *p, enum pkind k)
{
	switch (k) {
	case P_GOOD:
	case P_ODD:
	case P_STRADDLE:
		if ((const unsigned char *)p >= args && (const unsigned char *)p < args + ARGS_LEN)
			return args + ARGS_LEN - (const unsigned char *)p;
		return good + GOOD_LEN - (const unsigned char *)p;
	case P_REGION:
		return SIZE_MAX;
	default:
		return 0;
	}
}

/* ---- files ------------------------------------------------------------------ */

static bool acc_rd(const struct ffile *f)
{
	return f->acc == O_RDONLY || f->acc == O_RDWR;
}

static bool acc_wr(const struct ffile *f)
{
	return f->acc == O_WRONLY || f->acc == O_RDWR;
}

/* A file in use, held (read-locked) until the op ends. */
static struct ffile *rand_file(void)
{
	int i, start = rng_below(&R, NFD);

	for (i = 0; i < NFD; i++) {
		struct ffile *f = &files[(start + i) % NFD];

		if (f->fd < 0)
			continue;
		if (!hold_rd(&f->lk))
			continue;
		if (f->fd >= 0)
			return cur_file = f;
		pthread_rwlock_unlock(&f->lk);
		T->nlocked--;
	}
	return NULL;
}

/*
 * A file for a call (@rd false) or for a receive of calls (@rd true):
 * mostly a bound one open for that, the supervisor's plain named mailbox
 * (which every worker shares) first if this process still has it, so that
 * callers meet servers; otherwise any.
 */
static struct ffile *call_file(bool rd)
{
	int pass, i, start = rng_below(&R, NFD);

	for (pass = rng_pct(&R, 50) ? 0 : 1; pass < 2 && rng_pct(&R, 85); pass++) {
		for (i = 0; i < NFD; i++) {
			struct ffile *f = &files[(start + i) % NFD];

			if (f->fd < 0 || !f->bound || !(rd ? acc_rd(f) : acc_wr(f)) ||
			    (pass == 0 && (!f->fid || f->fid != call_fid)))
				continue;
			if (!hold_rd(&f->lk))
				continue;
			if (f->fd >= 0 && f->bound)
				return cur_file = f;
			pthread_rwlock_unlock(&f->lk);
			T->nlocked--;
		}
	}
	return rand_file();
}

#define FFILE_DATA	offsetof(struct ffile, fd)

/* Everything but the lock, which may be held. */
static void file_forget(struct ffile *f)
{
	memset((char *)f + FFILE_DATA, 0, sizeof(*f) - FFILE_DATA);
	f->fd = -1;
}

static void file_copy(struct ffile *dst, const struct ffile *src)
{
	memcpy((char *)dst + FFILE_DATA, (const char *)src + FFILE_DATA,
	       sizeof(*dst) - FFILE_DATA);
}

/* Close @f: under tab_mu, with @f write-locked by the caller (or alone). */
static void file_close_locked(struct ffile *f)
{
	tr("close fd %d (file #%u)", f->fd, f->fid);
	fid_put(f->fid);
	close(f->fd);
	file_forget(f);
}

/* A free entry, or an entry closed to be reused; write-locked.  Under tab_mu. */
static struct ffile *file_slot_locked(bool reuse)
{
	int i, start = rng_below(&R, NFD);

	for (i = 0; i < NFD; i++) {
		struct ffile *f = &files[(start + i) % NFD];

		if (f->fd < 0 && !pthread_rwlock_trywrlock(&f->lk)) {
			if (f->fd < 0)
				return f;
			pthread_rwlock_unlock(&f->lk);
		}
	}
	if (!reuse)
		return NULL;
	for (i = 0; i < NFD; i++) {
		struct ffile *f = &files[(start + i) % NFD];

		if (!pthread_rwlock_trywrlock(&f->lk)) {
			if (f->fd >= 0)
				file_close_locked(f);
			return f;
		}
	}
	return NULL;
}

static void op_open(void)
{
	static const int accs[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDWR, O_RDWR | O_WRONLY };
	int acc = accs[rng_below(&R, ARRAY_SIZE(accs))], fl = acc | O_CLOEXEC, fd;
	struct ffile *f;

	if (rng_pct(&R, 30) && T->mix != &mix_zc)
		fl |= O_NONBLOCK;
	pthread_mutex_lock(&tab_mu);
	f = file_slot_locked(true);
	if (!f) {
		pthread_mutex_unlock(&tab_mu);
		return;
	}
	fd = open(KMBOX_DEVICE, fl);
	tr("open acc %d -> fd %d", acc, fd < 0 ? -errno : fd);
	if (fd < 0) {
		/* Access mode 3 may be refused at open. */
		if (errno != EMFILE && errno != ENFILE && errno != ENOMEM && errno != EINTR &&
		    !(acc == 3 && (errno == EINVAL || errno == EACCES || errno == EPERM)))
			bad("open(/dev/kmbox, %#x): %s", fl, strerror(errno));
	} else {
		f->fd = fd;
		f->fid = new_fid();
		/* Only a single-threaded worker knows everything done to its own files. */
		f->own = T->mix == &mix_general && !in_grandchild;
		f->acc = acc;
	}
	pthread_rwlock_unlock(&f->lk);
	pthread_mutex_unlock(&tab_mu);
}

static void op_close(void)
{
	int i, start = rng_below(&R, NFD);

	pthread_mutex_lock(&tab_mu);
	for (i = 0; i < NFD; i++) {
		struct ffile *f = &files[(start + i) % NFD];

		if (f->fd >= 0 && !pthread_rwlock_trywrlock(&f->lk)) {
			if (f->fd >= 0)
				file_close_locked(f);
			pthread_rwlock_unlock(&f->lk);
			break;
		}
	}
	pthread_mutex_unlock(&tab_mu);
}

static void op_dup(void)
{
	struct ffile *f = rand_file(), *g;
	int fd;

	if (!f)
		return;
	pthread_mutex_lock(&tab_mu);
	g = file_slot_locked(false);
	if (!g) {
		pthread_mutex_unlock(&tab_mu);
		return;
	}
	fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	tr("dup fd %d -> %d (file #%u)", f->fd, fd, f->fid);
	if (fd >= 0) {
		file_copy(g, f);
		g->fd = fd;
		if (f->fid)
			ADD(&shm->nfd[f->fid], 1);
		/* Two descriptors, one file: neither can track slots exactly any more. */
		g->own = f->own = false;
	}
	pthread_rwlock_unlock(&g->lk);
	pthread_mutex_unlock(&tab_mu);
}

/* ---- ioctls ------------------------------------------------------------------ */

static bool errno_in(long err, const int *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (-err == set[i])
			return true;
	return false;
}

#define CHECK_ERRNO(what, err, ...) do {					\
	static const int set_[] = { __VA_ARGS__ };				\
	if ((err) < 0 && !errno_in((err), set_, ARRAY_SIZE(set_)) &&		\
	    !(opt_faults && ((err) == -ENOMEM || (err) == -EFAULT)))		\
		bad("%s: undocumented errno %ld (%s)", (what), -(long)(err),	\
		    strerror((int)-(err)));					\
} while (0)

/*
 * Fill an argument struct (random bytes or sane values) somewhere.
 *
 * Which half of the first args page place_arg() uses: an op that places
 * two arguments (OPEN: the struct and the attr it points to) puts them in
 * different halves: overlapping, the second would overwrite the first and
 * the kernel would see other bytes than the op judged.
 *
 * With T->rov_next set, the struct goes on the read-only view (kind
 * P_ROV): the kernel reads it fine and faults writing it back.
 */
static void *place_arg(void *tmpl, size_t size, enum pkind *kind)
{
	void *p;

	if (T->rov_next) {
		T->rov_next = false;
		*kind = P_ROV;
		p = T->rov_rw + arg_half * (PG / 2) + rng_below(&R, (PG / 2 - size) / 8) * 8;
		memcpy(p, tmpl, size);
		return T->rov_ro + ((unsigned char *)p - T->rov_rw);
	}
	p = rng_pct(&R, 85) ? NULL : rand_ptr(size, kind);
	if (!p || ptr_ok(*kind)) {
		/* In the args page, away from the buffers the call uses. */
		*kind = P_GOOD;
		p = args + arg_half * (PG / 2) + rng_below(&R, (PG / 2 - size) / 8) * 8;
	}
	if (*kind == P_GOOD || *kind == P_ODD) {
		memcpy(p, tmpl, size);
	} else if (*kind == P_REGION || *kind == P_STRADDLE) {
		/* Copy what fits; the region mapping may be read-only. */
		T->deliberate = 1;
		if (!sigsetjmp(T->jb, 1))
			memcpy(p, tmpl, size);
		T->deliberate = 0;
	}
	return p;
}

static const char *const fuzz_names[NNAMES] = {
	"kmbox-fuzz-A", "kmbox-fuzz-Z", "kmbox-fuzz-r0", "kmbox-fuzz-r1",
	"kmbox-fuzz-r2", "kmbox-fuzz-r3", "kmbox-fuzz-r4", "kmbox-fuzz-r5",
};

/* A name pointer: good names, bad names, bad pointers. */
static __u64 rand_name(bool *nonsense, bool *maybe_bad)
{
	unsigned int x = rng_below(&R, 100);
	unsigned char *p = ARG_NAME;
	enum pkind k;

	*nonsense = false;
	*maybe_bad = false;
	if (x < 60) {
		strcpy((char *)p, fuzz_names[rng_below(&R, NNAMES)]);
		return U64(p);
	}
	if (x < 65) {
		p[0] = 0;			/* "" */
		*nonsense = true;
		return U64(p);
	}
	if (x < 70) {
		strcpy((char *)p, "kmbox/fuzz");
		*nonsense = true;
		return U64(p);
	}
	if (x < 75) {
		memset(p, 'n', 256);		/* 256 bytes: too long */
		p[256] = 0;
		*nonsense = true;
		return U64(p);
	}
	if (x < 78) {
		memset(p, 'm', 255);		/* exactly KMBOX_NAME_MAX */
		p[255] = 0;
		return U64(p);
	}
	if (x < 85) {
		/* No NUL before the PROT_NONE page. */
		memset(good + GOOD_LEN - 16, 'x', 16);
		*nonsense = true;
		return U64(good + GOOD_LEN - 1 - rng_below(&R, 16));
	}
	*maybe_bad = true;
	return U64(rand_ptr(1, &k));
}

static void fill_attr(struct kmbox_attr *a, bool *nonsense)
{
	static const __u32 slot_sizes[] = { 0, 64, 128, 256, 4096, 63, 100, 1u << 22, 1u << 23 };

	memset(a, 0, sizeof(*a));
	*nonsense = false;
	if (T->mix->small_zc && rng_pct(&R, 80)) {
		/* Few slots: a slot handed out twice shows at once. */
		a->max_msgs = 1 + rng_below(&R, 8);
		a->max_msgsize = 64;
		a->zc_slots = 1 + rng_below(&R, 4);
		a->zc_slot_size = 64;
		if (rng_pct(&R, 10))
			a->flags = KMBOX_ATTR_RENDEZVOUS;
		return;
	}
	if (rng_pct(&R, 30)) {
		rng_fill(&R, a, sizeof(*a));
		*nonsense = a->__reserved[0] || a->__reserved[1];
		return;
	}
	a->max_msgs = rng_pct(&R, 60) ? rng_below(&R, 32) : rand_u32();
	a->max_msgsize = rng_pct(&R, 60) ? rng_below(&R, 4096) : rand_u32();
	if (rng_pct(&R, 50)) {
		a->zc_slots = rng_pct(&R, 70) ? 1 + rng_below(&R, 16) : rand_u32();
		a->zc_slot_size = slot_sizes[rng_below(&R, ARRAY_SIZE(slot_sizes))];
	}
	if (rng_pct(&R, 15))
		a->flags = KMBOX_ATTR_RENDEZVOUS;	/* zero capacity */
	if (rng_pct(&R, 5)) {
		a->__reserved[rng_below(&R, 2)] = 1;
		*nonsense = true;
	}
}

static void op_bind(void)
{
	struct ffile *f = rand_file();
	struct kmbox_open o = { 0 };
	struct kmbox_attr at;
	bool name_nonsense, name_maybe_bad, attr_nonsense, nonsense = false;
	enum pkind ak, ok;
	long r;

	if (!f)
		return;
	o.flags = rng_below(&R, 8);
	if (T->mix->small_zc && rng_pct(&R, 70))
		o.flags = KMBOX_OPEN_ANON;
	if (rng_pct(&R, 5)) {
		o.flags |= 1u << (3 + rng_below(&R, 29));
		nonsense = true;
	}
	o.mode = rng_pct(&R, 90) ? rng_below(&R, 01000) : rand_u32();
	if (o.mode > 0777)
		nonsense = true;
	if (rng_pct(&R, 5)) {
		o.__reserved[rng_below(&R, 3)] = rand_u64() | 1;
		nonsense = true;
	}
	if (o.flags & KMBOX_OPEN_ANON) {
		if (rng_pct(&R, 80))
			o.name = 0;
		else
			o.name = rand_name(&name_nonsense, &name_maybe_bad);
		if (o.name || (o.flags & (KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL)))
			nonsense = true;
	} else {
		o.name = rand_name(&name_nonsense, &name_maybe_bad);
		nonsense |= name_nonsense;
	}
	attr_nonsense = false;
	ak = P_NULL;
	if (rng_pct(&R, 70) || T->mix->small_zc) {
		fill_attr(&at, &attr_nonsense);
		if (rng_pct(&R, 85)) {
			ak = P_GOOD;
			memcpy(ARG_ATTR, &at, sizeof(at));
			o.attr = U64(ARG_ATTR);
		} else {
			arg_half = 1;
			o.attr = U64(place_arg(&at, sizeof(at), &ak));
			arg_half = 0;
		}
		/* Only looked at when creating; unknown if not where we put it. */
		if ((o.flags & (KMBOX_OPEN_ANON | KMBOX_OPEN_CREAT)) && attr_nonsense &&
		    ptr_ok(ak))
			nonsense = true;
	}
	r = kb_ioctl(f->fd, KMBOX_IOC_OPEN, place_arg(&o, sizeof(o), &ok));
	if (!ptr_ok(ok))
		nonsense = false;	/* the kernel may not even have read it */
	if (r >= 0 && nonsense)
		bad("KMBOX_IOC_OPEN succeeded with nonsense (flags %#x mode %#o reserved %llx/%llx/%llx name %s attr %s)",
		    o.flags, o.mode, (unsigned long long)o.__reserved[0],
		    (unsigned long long)o.__reserved[1], (unsigned long long)o.__reserved[2],
		    o.name == U64(ARG_NAME) ? (char *)ARG_NAME : "(elsewhere)",
		    o.attr ? "given" : "none");
	if (r >= 0 && f->bound && f->own)
		bad("KMBOX_IOC_OPEN rebound a bound file");
	/* Neither read nor write access: nothing to open a named mailbox for. */
	if (r >= 0 && f->acc == 3 && capless && ptr_ok(ok) && !(o.flags & KMBOX_OPEN_ANON) &&
	    !(o.flags & KMBOX_OPEN_CREAT))
		bad("KMBOX_IOC_OPEN bound a file with access mode 3 (O_RDWR|O_WRONLY) to named mailbox %s without CAP_DAC_OVERRIDE",
		    o.name == U64(ARG_NAME) ? (char *)ARG_NAME : "(elsewhere)");
	if (r == -EBADF && f->acc != 3)
		bad("OPEN: EBADF on a file opened with access mode %d", f->acc);
	CHECK_ERRNO("OPEN", r, EBUSY, EINVAL, EFAULT, ENAMETOOLONG, ENOENT, EEXIST, EACCES,
		    ENOSPC, EMFILE, ENOMEM, EBADF);
	if (r >= 0) {
		struct kmbox_attr a;

		f->bound = true;
		if (!kb_getattr(f->fd, &a)) {
			if (a.flags & KMBOX_ATTR_RENDEZVOUS)
				ADD(&shm->cs.rdv_bound, 1);
			f->max_msgsize = a.max_msgsize;
			f->nslots = a.zc_slots;
			/* A new anonymous mailbox: we know who it is. */
			if ((o.flags & KMBOX_OPEN_ANON) && ptr_ok(ok) && a.zc_slots &&
			    !(a.flags & KMBOX_ATTR_NAMED))
				bind_mbid(f, new_mbid(), a.zc_slots);
		}
	}
}

static void op_unlink(void)
{
	struct ffile *f = rand_file();
	struct kmbox_unlink u = { 0 };
	bool nonsense, maybe_bad;
	enum pkind k;
	long r;

	if (!f)
		return;
	u.name = rand_name(&nonsense, &maybe_bad);
	if (rng_pct(&R, 5)) {
		u.__reserved[rng_below(&R, 3)] = 1;
		nonsense = true;
	}
	/* Leave the two shared names alone most of the time. */
	if (rng_pct(&R, 80) && !nonsense && !maybe_bad && u.name == U64(ARG_NAME) &&
	    (!strcmp((char *)ARG_NAME, "kmbox-fuzz-A") ||
	     !strcmp((char *)ARG_NAME, "kmbox-fuzz-Z")))
		return;
	r = kb_ioctl(f->fd, KMBOX_IOC_UNLINK, place_arg(&u, sizeof(u), &k));
	if (r >= 0 && nonsense && ptr_ok(k))
		bad("KMBOX_IOC_UNLINK succeeded with a bad name or reserved field");
	CHECK_ERRNO("UNLINK", r, ENOENT, EACCES, EINVAL, ENAMETOOLONG, EFAULT, ENOMEM);
}

static void op_info(void)
{
	struct ffile *f = rand_file();
	struct kmbox_info *in;
	enum pkind k;
	long r;

	if (!f)
		return;
	in = rand_ptr(sizeof(*in), &k);
	r = kb_ioctl(f->fd, KMBOX_IOC_INFO, in);
	if (r >= 0 && ptr_room(in, k) < sizeof(*in))
		bad("KMBOX_IOC_INFO succeeded into a bad pointer (kind %d)", k);
	if (r >= 0 && ptr_ok(k) &&
	    (in->api_version != KMBOX_API_VERSION || in->prio_max != KMBOX_PRIO_MAX ||
	     in->__reserved[0] || in->__reserved[1]))
		bad("KMBOX_IOC_INFO: api %u prio_max %u", in->api_version, in->prio_max);
	CHECK_ERRNO("INFO", r, EFAULT);
}

static void op_getattr(void)
{
	struct ffile *f = rand_file();
	struct kmbox_attr *a;
	enum pkind k;
	long r;

	if (!f)
		return;
	a = rand_ptr(sizeof(*a), &k);
	r = kb_ioctl(f->fd, KMBOX_IOC_GETATTR, a);
	if (r >= 0 && ptr_room(a, k) < sizeof(*a))
		bad("KMBOX_IOC_GETATTR succeeded into a bad pointer (kind %d)", k);
	if (r >= 0 && f->own && !f->bound)
		bad("GETATTR succeeded on an unbound file");
	if (r >= 0 && ptr_ok(k)) {
		if (f->own && !f->held_unknown && a->zc_held != (__u32)f->nheld)
			bad("GETATTR zc_held %u, but this file holds %d slots", a->zc_held,
			    f->nheld);
		f->bound = true;
		f->max_msgsize = a->max_msgsize;
		f->nslots = a->zc_slots;
	}
	if (r == -EBADF && acc_rd(f))
		bad("GETATTR: EBADF on a file opened for reading");
	CHECK_ERRNO("GETATTR", r, EBADFD, EFAULT, EBADF);
}

static __u32 rand_flags(bool *nonsense, __u32 allowed)
{
	__u32 fl = rng_below(&R, 8) & allowed;

	*nonsense = false;
	if (rng_pct(&R, 5)) {
		fl |= 1u << rng_below(&R, 32);
		*nonsense = fl & ~allowed;
	}
	return fl;
}

/* With the mix's probability, KMBOX_F_ZC on; otherwise as drawn. */
static __u32 zc_bias(__u32 fl, __u32 allowed)
{
	if (!(allowed & KMBOX_F_ZC))
		return fl;
	return rng_pct(&R, T->mix->zc_pct) ? fl | KMBOX_F_ZC : fl & ~KMBOX_F_ZC;
}

/*
 * A receive as SCHED_IDLE: if it sleeps and a sender on its CPU hands it
 * a message, it stays runnable but unrun while the sender's thread and
 * the others on that CPU go on (and may release the slot it is taking).
 * Only thread 0 does it: on a busy machine an idle-class thread waits
 * long for the CPU, and the others must go on meanwhile.
 */
static bool idle_begin(void)
{
	struct sched_param sp = { 0 };

	T->idle_now = T->mix->idle_recv_pct && !T->tidx && !T->idle_left &&
		      rng_pct(&R, T->mix->idle_recv_pct) &&
		      !sched_setscheduler(0, SCHED_IDLE, &sp);
	return T->idle_now;
}

static void idle_end(bool idle)
{
	struct sched_param sp = { 0 };

	if (idle)
		sched_setscheduler(0, SCHED_OTHER, &sp);
	T->idle_now = false;
}

static void hist(struct ffile *f, char what, __u32 slot)
{
	snprintf(f->hist[f->nhist++ % 16], sizeof(f->hist[0]), "op %lu %s %c%u errno %d", ops,
		 cur_op, what, slot, errno);
}

static void hist_dump(struct ffile *f)
{
	unsigned int i = f->nhist > 16 ? f->nhist - 16 : 0;

	for (; i < f->nhist; i++)
		diag("fuzz %s   fd %d: %s", T->who, f->fd, f->hist[i % 16]);
}

static void held_add(struct ffile *f, __u32 slot)
{
	if (!f->own)
		return;
	hist(f, '+', slot);
	if (f->nheld < MAX_HELD)
		f->held[f->nheld++] = slot;
	else
		f->held_unknown = true;
}

static bool held_del(struct ffile *f, __u32 slot)
{
	int i;

	hist(f, '-', slot);
	for (i = 0; i < f->nheld; i++)
		if (f->held[i] == slot) {
			f->held[i] = f->held[--f->nheld];
			return true;
		}
	return false;
}

static bool held_has(struct ffile *f, __u32 slot)
{
	int i;

	for (i = 0; i < f->nheld; i++)
		if (f->held[i] == slot)
			return true;
	return false;
}

/* A slot to send or release: one we hold, or any. */
static __u32 pick_slot(struct ffile *f, unsigned int random_pct)
{
	__u32 rec[TSLOTS];
	int n;

	if (!rng_pct(&R, random_pct)) {
		if (f->own && f->nheld)
			return f->held[rng_below(&R, f->nheld)];
		n = recorded_slots(f, rec, TSLOTS);
		if (n)
			return rec[rng_below(&R, n)];
	}
	if (f->nslots && rng_pct(&R, 80))
		return rng_below(&R, f->nslots);
	return rng_pct(&R, 50) ? rng_below(&R, 20) : rand_u32();
}

/* ---- call/reply bookkeeping (see struct tok) ------------------------------------- */

/* Memory the kernel can never write: a receive or a reply into it must fail. */
static bool ptr_never_writable(enum pkind k)
{
	return k == P_NULL || k == P_UNMAPPED || k == P_RO || k == P_KERNEL || k == P_NONCANON;
}


static struct tok *tok_slot(uint64_t key, bool insert)
{
	uint32_t h = (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 40) & (NTOK - 1);
	unsigned int i;

	for (i = 0; i < 64; i++) {
		struct tok *t = &shm->tok[(h + i) & (NTOK - 1)];
		uint64_t k = LD(&t->key);

		if (k == key)
			return t;
		if (k)
			continue;
		if (!insert)
			return NULL;
		if (__atomic_compare_exchange_n(&t->key, &k, key, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE) || k == key)
			return t;
	}
	return NULL;
}

/* The kernel's id of the mailbox @fd is bound to (its fdinfo), 0 if unknown. */
static uint64_t fd_kmbox_id(int fd)
{
	char path[64], line[128];
	unsigned long long id = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "kmbox-id: %llu", &id) == 1)
			break;
	fclose(fp);
	return id;
}

/* A receive through @f reported @token (0: an ordinary message). */
static void tok_received(const struct ffile *f, __u64 token, const char *how)
{
	uint32_t zero = 0;
	struct tok *t;

	if (!token)
		return;
	ADD(&shm->cs.tokens, 1);
	if (token >> 44) {
		bad("%s reported reply token %#llx, beyond any the mailbox issued", how,
		    (unsigned long long)token);
		return;
	}
	if (!f->fid)
		return;
	t = tok_slot(TOK_KEY(f->fid, token), true);
	if (!t) {
		ADD(&shm->cs.tok_full, 1);
		return;
	}
	if (!__atomic_compare_exchange_n(&t->state, &zero, TOK_RECEIVED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		uint32_t who = LD(&t->who);

		oracle_fail("%s reported reply token %llu on file #%u (fd %d, mailbox id %llu) a second time: a request delivered twice; first by %s of worker %c thread %u (pid %d) op %lu on fd %d, mailbox id %llu",
			    how, (unsigned long long)token, f->fid, f->fd,
			    (unsigned long long)fd_kmbox_id(f->fd), t->how ? t->how : "?",
			    shm->w[(who >> 8) % NWORKERS].name[0], who & 0xff, (int)LD(&t->pid),
			    (unsigned long)LD(&t->op), (int)LD(&t->fd),
			    (unsigned long long)LD(&t->kid));
		return;
	}
	t->how = how;
	ST(&t->fd, f->fd);
	ST(&t->pid, (int32_t)getpid());
	ST(&t->op, (uint64_t)ops);
	ST(&t->kid, fd_kmbox_id(f->fd));
	ST(&t->who, (uint32_t)widx << 8 | T->tidx);
	ST(&shm->ring[ADD(&shm->ring_pos, 1) % NRING], TOK_KEY(f->fid, token));
}

/*
 * A REPLY with @token on @f succeeded: a receive of @f reported it, and it
 * was not answered before.  (Another thread's receive may have reported
 * it a moment ago and not recorded it yet: a token of another mailbox
 * can have the same number.  So a miss is looked at again for 100 ms.)
 */
static void tok_answered(const struct ffile *f, __u64 token, const char *what)
{
	struct tok *t = NULL;
	uint32_t state = 0;
	int tries;

	if (!f->fid || (token >> 44))
		goto never;
	for (tries = 0; tries < 100; tries++) {
		t = tok_slot(TOK_KEY(f->fid, token), false);
		state = t ? LD(&t->state) : 0;
		if (state)
			break;
		sleep_us(1000);
	}
	if (!state)
		goto never;
	if (!__atomic_compare_exchange_n(&t->state, &state, TOK_ANSWERED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		oracle_fail("REPLY with token %llu succeeded on file #%u twice (state %u)",
			    (unsigned long long)token, f->fid, state);
	return;
never:
	if (!LD(&shm->cs.tok_full) && f->fid)
		oracle_fail("REPLY with token %#llx (%s) succeeded on file #%u, which no receive of that file reported",
			    (unsigned long long)token, what, f->fid);
}

/* Answer a request just received, as a server would (or leave it for later). */
static void serve(struct ffile *f, __u64 token)
{
	unsigned char body[32];
	struct kmbox_reply rp = {
		.token = token, .buf = U64(body), .len = rng_below(&R, sizeof(body)),
	};
	long r;

	if (!token || !f->fid || rng_pct(&R, 40))
		return;
	memset(body, 'r', sizeof(body));
	r = kb_ioctl(f->fd, KMBOX_IOC_REPLY, &rp);
	if (r == 0) {
		ADD(&shm->cs.replies_ok, 1);
		tok_answered(f, token, "just received");
	} else if (r == -ENOENT) {
		ADD(&shm->cs.replies_enoent, 1);	/* the caller gave up meanwhile */
	} else if (r == -EMSGSIZE) {
		ADD(&shm->cs.replies_emsgsize, 1);
	} else {
		ADD(&shm->cs.replies_err, 1);
		CHECK_ERRNO("REPLY (serve)", r, ENOBUFS, ENOMEM);
	}
}

/* ---- filters, selective receive and statistics ------------------------------------ */

/*
 * The filter of each file (KMBOX_IOC_FILTER), as far as the fuzzer knows
 * it: shm->flt[fid], mask 0 (everything) for a new file.  Only op_filter()
 * changes a filter, holding the fid's lock, and makes seq odd around its
 * call.  A receive that finds the same even seq before and after its call
 * knows the filter it ran with (a receive reads it once, as it starts),
 * unless the record is unknown: a FILTER whose argument was in the region
 * (its bytes may change under us) or a worker killed in the middle.
 */
struct fmatch {
	uint64_t tag, mask;
};

struct fltsnap {
	uint32_t seq;
	bool known;
	uint64_t tag, mask;
};

static void flt_begin(const struct ffile *f, struct fltsnap *s)
{
	struct fltrec *r;

	s->known = false;
	if (!f->fid)
		return;
	r = &shm->flt[f->fid];
	s->seq = LD(&r->seq);
	if ((s->seq & 1) || LD(&r->unknown))
		return;
	s->tag = LD(&r->tag);
	s->mask = LD(&r->mask);
	s->known = LD(&r->seq) == s->seq;
}

/* A receive through @f whose filter was @s (or @m with KMBOX_F_MATCH) reported @tag. */
static void flt_check(const struct ffile *f, const struct fltsnap *s, const struct fmatch *m,
		      uint64_t tag, const char *how)
{
	ADD(&shm->flt_checks, 1);
	if (m) {
		if ((tag & m->mask) != m->tag)
			oracle_fail("%s with KMBOX_F_MATCH (tag %#llx mask %#llx) through file #%u returned tag %#llx",
				    how, (unsigned long long)m->tag, (unsigned long long)m->mask,
				    f->fid, (unsigned long long)tag);
		return;
	}
	if (!s->known || LD(&shm->flt[f->fid].seq) != s->seq)
		return;
	if ((tag & s->mask) != s->tag)
		oracle_fail("%s through file #%u returned tag %#llx, which the file's filter (tag %#llx mask %#llx) keeps out",
			    how, f->fid, (unsigned long long)tag, (unsigned long long)s->tag,
			    (unsigned long long)s->mask);
}

/* A filter as a user would set one: mostly small tags, masks 0, ~0, 1, 3. */
static void rand_filter(__u64 *tag, __u64 *mask)
{
	unsigned int x = rng_below(&R, 100);

	*mask = x < 30 ? 0 : x < 65 ? ~0ULL : x < 80 ? 3 : x < 90 ? 1 : rand_u64();
	*tag = (rng_pct(&R, 85) ? rng_below(&R, 4) : rand_u64()) & *mask;
}

static void op_filter(void)
{
	struct ffile *f = rand_file();
	struct kmbox_filter fl = { 0 }, *up;
	struct fltrec *rec = NULL;
	uint64_t was_tag = 0, was_mask = 0;
	bool nonsense = false, set, was_known = false;
	enum pkind k;
	long r;

	if (!f)
		return;
	set = rng_pct(&R, 70);
	if (set) {
		fl.flags = KMBOX_FILTER_SET;
		rand_filter(&fl.tag, &fl.mask);
		/* Mostly open again on the shared call file: servers must see calls. */
		if (f->fid && f->fid == call_fid && rng_pct(&R, 80))
			fl.tag = fl.mask = 0;
		if (rng_pct(&R, 3))	/* a tag bit the mask ignores: EINVAL */
			fl.tag |= ~fl.mask & (1ULL << rng_below(&R, 64));
	} else if (rng_pct(&R, 5)) {
		fl.mask = 1;			/* a filter without KMBOX_FILTER_SET */
	}
	if (rng_pct(&R, 3))
		fl.flags |= 1u << rng_below(&R, 32);
	else if (rng_pct(&R, 3))
		fl.__reserved[rng_below(&R, 3)] = 1;
	/* Judged on what the call gets (a random flag may be the SET bit). */
	set = fl.flags & KMBOX_FILTER_SET;
	nonsense = (fl.flags & ~KMBOX_FILTER_SET) || fl.__reserved[0] || fl.__reserved[1] ||
		   fl.__reserved[2] || (set ? (fl.tag & ~fl.mask) != 0 : (fl.tag || fl.mask));
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	up = place_arg(&fl, sizeof(fl), &k);
	if (f->fid) {
		rec = &shm->flt[f->fid];
		fid_lock(f->fid);
		/* Odd: its last changer died in its call (a worker's exit). */
		if (LD(&rec->seq) & 1)
			ST(&rec->unknown, 1);
		ADD(&rec->seq, 1);
		was_known = !LD(&rec->unknown);
		was_tag = rec->tag;
		was_mask = rec->mask;
	}
	r = kb_ioctl(f->fd, KMBOX_IOC_FILTER, up);
	if (rec) {
		/* EFAULT: nothing changed, even if the argument could be read */
		if (set && !nonsense && r == 0) {
			ST(&rec->tag, fl.tag);
			ST(&rec->mask, fl.mask);
		} else if (k == P_REGION && (r == 0 || r == -EFAULT)) {
			ST(&rec->unknown, 1);	/* the kernel read whatever was there */
		}
		if (r == 0 && ptr_ok(k) && was_known && (up->tag != was_tag || up->mask != was_mask))
			oracle_fail("FILTER on file #%u reported the old filter tag %#llx mask %#llx, but the last one set was tag %#llx mask %#llx",
				    f->fid, (unsigned long long)up->tag, (unsigned long long)up->mask,
				    (unsigned long long)was_tag, (unsigned long long)was_mask);
		ADD(&rec->seq, 1);
		fid_unlock(f->fid);
	}
	ADD(&shm->flt_ops, 1);
	if (!ptr_in_ok(k) && k != P_REGION && k != P_RO && r != -EFAULT && r != -EBADF &&
	    r != -EBADFD)
		bad("FILTER with an unreadable argument (kind %d) returned %ld", k, r);
	if (r == 0 && k != P_REGION && nonsense)
		bad("FILTER succeeded with nonsense (flags %#x tag %#llx mask %#llx)", fl.flags,
		    (unsigned long long)fl.tag, (unsigned long long)fl.mask);
	if (r == 0 && (!acc_rd(f) || (f->own && !f->bound)))
		bad("FILTER succeeded on a file %s", f->bound ? "not open for reading" : "not bound");
	if (r == 0 && !ptr_ok(k) && k != P_REGION)
		bad("FILTER succeeded although its result cannot be written (kind %d)", k);
	if (r == -EBADF && acc_rd(f))
		bad("FILTER: EBADF on a file open for reading");
	CHECK_ERRNO("FILTER", r, EBADF, EBADFD, EFAULT, EINVAL);
}

/*
 * What one thread last read of a file's counts (KMBOX_IOC_STATS): until
 * a reset (a new since_ns) the counts that never go back must not have.
 * (msgs_out and bytes_out may: a receive that faults puts its message
 * back and uncounts it.)
 */
struct statsnap {
	uint32_t fid;
	uint64_t since_ns, msgs_in, bytes_in, handoffs, full_waits, empty_waits;
	uint32_t max_depth;
};

static __thread struct statsnap stat_last[NFD];

/* An unsigned field of @fd's fdinfo, or @dflt. */
static uint64_t fd_info_u64(int fd, const char *key, uint64_t dflt)
{
	char path[64], line[160], fmt[64];
	unsigned long long v;
	uint64_t ret = dflt;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(fmt, sizeof(fmt), "%s: %%llu", key);
	fp = fopen(path, "r");
	if (!fp)
		return dflt;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, fmt, &v) == 1) {
			ret = v;
			break;
		}
	fclose(fp);
	return ret;
}

/* A key of /proc/kmbox/stats, or LONG_MIN if absent or unreadable. */
static long proc_stat_long(const char *key)
{
	char k[64];
	long v, ret = LONG_MIN;
	FILE *fp = fopen("/proc/kmbox/stats", "re");

	if (!fp)
		return LONG_MIN;
	while (fscanf(fp, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			ret = v;
	fclose(fp);
	return ret;
}

static void stats_check(struct ffile *f, const struct kmbox_stats *st, bool reset)
{
	struct statsnap *p = &stat_last[f - files];
	uint64_t sum = 0, max_msgs, max_size, pool;
	bool zc;
	unsigned int b;

	ADD(&shm->stat_checks, 1);
	for (b = 0; b < KMBOX_STATS_BUCKETS; b++)
		sum += st->qtime_hist[b];
	if (st->nbuckets != KMBOX_STATS_BUCKETS || st->__pad ||
	    st->__reserved[0] || st->__reserved[1] || st->__reserved[2] || st->__reserved[3])
		oracle_fail("STATS on file #%u: nbuckets %u, pad or reserved not zero", f->fid,
			    st->nbuckets);
	if (sum != st->msgs_out)
		oracle_fail("STATS on file #%u: the qtime_hist buckets add up to %llu, msgs_out is %llu",
			    f->fid, (unsigned long long)sum, (unsigned long long)st->msgs_out);
	if (st->handoffs > st->msgs_in)
		oracle_fail("STATS on file #%u: %llu hand-offs but only %llu messages in", f->fid,
			    (unsigned long long)st->handoffs, (unsigned long long)st->msgs_in);
	/*
	 * Each read of fdinfo may fail (failslab): 0 is "unknown" for the
	 * limits, which are never 0, and an unknown region counts as one.
	 */
	max_msgs = fd_info_u64(f->fd, "kmbox-max-msgs", 0);
	max_size = fd_info_u64(f->fd, "kmbox-max-msgsize", 0);
	zc = fd_info_u64(f->fd, "kmbox-zc-slots", 1) != 0;
	/*
	 * The message pool, where the module shows it (kmbox-pool-buffers,
	 * /proc/kmbox/stats pool_buffers): it grows with the queue to
	 * max_msgs + 8 buffers (KMBOX_POOL_EXTRA), never more, and no count
	 * of it goes negative (which %llu reads as a huge number).
	 */
	pool = fd_info_u64(f->fd, "kmbox-pool-buffers", UINT64_MAX);
	if (max_msgs && pool != UINT64_MAX && pool > max_msgs + 8)
		oracle_fail("STATS on file #%u: a pool of %lld buffers, max_msgs %llu", f->fid,
			    (long long)pool, (unsigned long long)max_msgs);
	{
		long pb = proc_stat_long("pool_buffers");

		if (pb < 0 && pb != LONG_MIN)
			oracle_fail("/proc/kmbox/stats: pool_buffers %ld", pb);
	}
	if (max_msgs) {
		/*
		 * Messages out since the last reset were sent since, or were
		 * queued or in flight then: at most max_msgs of those.
		 */
		if (st->max_depth > max_msgs)
			oracle_fail("STATS on file #%u: max_depth %u > max_msgs %llu", f->fid,
				    st->max_depth, (unsigned long long)max_msgs);
		if (st->msgs_out > st->msgs_in + max_msgs)
			oracle_fail("STATS on file #%u: %llu messages out, %llu in, max_msgs %llu",
				    f->fid, (unsigned long long)st->msgs_out,
				    (unsigned long long)st->msgs_in, (unsigned long long)max_msgs);
		/* (a zero-copy message's length is up to the slot size: not known here) */
		if (!zc && max_size && st->bytes_out > st->bytes_in + max_msgs * max_size)
			oracle_fail("STATS on file #%u: %llu bytes out, %llu in", f->fid,
				    (unsigned long long)st->bytes_out,
				    (unsigned long long)st->bytes_in);
	}
	if (p->fid == f->fid && p->since_ns == st->since_ns &&
	    (st->msgs_in < p->msgs_in || st->bytes_in < p->bytes_in ||
	     st->handoffs < p->handoffs || st->full_waits < p->full_waits ||
	     st->empty_waits < p->empty_waits || st->max_depth < p->max_depth))
		oracle_fail("STATS on file #%u went back without a reset (since %llu): in %llu -> %llu, bytes %llu -> %llu, handoffs %llu -> %llu, waits %llu/%llu -> %llu/%llu, max_depth %u -> %u",
			    f->fid, (unsigned long long)st->since_ns,
			    (unsigned long long)p->msgs_in, (unsigned long long)st->msgs_in,
			    (unsigned long long)p->bytes_in, (unsigned long long)st->bytes_in,
			    (unsigned long long)p->handoffs, (unsigned long long)st->handoffs,
			    (unsigned long long)p->full_waits, (unsigned long long)p->empty_waits,
			    (unsigned long long)st->full_waits, (unsigned long long)st->empty_waits,
			    p->max_depth, st->max_depth);
	p->fid = reset ? 0 : f->fid;
	p->since_ns = st->since_ns;
	p->msgs_in = st->msgs_in;
	p->bytes_in = st->bytes_in;
	p->handoffs = st->handoffs;
	p->full_waits = st->full_waits;
	p->empty_waits = st->empty_waits;
	p->max_depth = st->max_depth;
}

static void op_stats(void)
{
	struct ffile *f = rand_file();
	struct kmbox_stats st, *up;
	bool nonsense = false, reset, owner;
	uint64_t uid;
	enum pkind k;
	long r;

	if (!f)
		return;
	memset(&st, 0, sizeof(st));
	if (rng_pct(&R, 25))
		st.flags = KMBOX_STATS_RESET;
	if (rng_pct(&R, 3)) {
		st.flags |= 1u << rng_below(&R, 32);
		nonsense = st.flags & ~KMBOX_STATS_RESET;
	} else if (rng_pct(&R, 2)) {
		st.__pad = 1;
		nonsense = true;
	} else if (rng_pct(&R, 2)) {
		st.__reserved[rng_below(&R, 4)] = 1;
		nonsense = true;
	}
	if (rng_pct(&R, 5))
		st.msgs_in = rand_u64();	/* output fields: ignored */
	reset = st.flags & KMBOX_STATS_RESET;
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	up = place_arg(&st, sizeof(st), &k);
	r = kb_ioctl(f->fd, KMBOX_IOC_STATS, up);
	ADD(&shm->stat_ops, 1);
	if (r > 0)
		bad("STATS returned %ld", r);
	if (r == 0 && k != P_REGION && nonsense)
		bad("STATS succeeded with nonsense (flags %#x)", st.flags);
	if (r == 0 && f->own && !f->bound)
		bad("STATS succeeded on an unbound file");
	if (r == 0 && !ptr_ok(k) && k != P_REGION)
		bad("STATS succeeded although its result cannot be written (kind %d)", k);
	if (r == -EPERM && (!reset || acc_wr(f)))
		bad("STATS: EPERM %s", reset ? "resetting through a file open for writing" :
			"without KMBOX_STATS_RESET");
	if ((r == 0 || r == -EPERM) && reset && !acc_wr(f) && k != P_REGION) {
		/* Only the owner may reset through a read-only file. */
		uid = fd_info_u64(f->fd, "kmbox-uid", 65534);
		owner = uid == (uint64_t)geteuid();
		if (uid != 65534 && r == 0 && !owner)
			bad("STATS reset through a file not open for writing by uid %u, not the owner %llu",
			    (unsigned int)geteuid(), (unsigned long long)uid);
		if (uid != 65534 && r == -EPERM && owner)
			bad("STATS: EPERM for the owner (uid %llu)", (unsigned long long)uid);
	}
	if (r == 0 && ptr_ok(k)) {
		if (up->flags != st.flags)
			bad("STATS changed flags %#x to %#x", st.flags, up->flags);
		stats_check(f, up, reset);
	}
	CHECK_ERRNO("STATS", r, EBADFD, EFAULT, EINVAL, EPERM, ENOMEM);
}

/* After a receive through @f: the tags it returned pass its filter. */
static void recv_tag_check(const struct ffile *f, const struct fltsnap *s,
			   const struct kmbox_recv *in, const struct kmbox_recv *out, const char *how)
{
	struct fmatch m = { .tag = in->tag, .mask = in->match_mask };

	flt_check(f, s, (in->flags & KMBOX_F_MATCH) ? &m : NULL, out->tag, how);
}

static void op_send(void)
{
	struct ffile *f = rand_file();
	struct kmbox_send s = { 0 };
	struct giveback g = { .locked = false };
	bool nonsense, zc;
	enum pkind bk, sk;
	long r;

	if (!f)
		return;
	s.flags = zc_bias(rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_ZC |
					      KMBOX_F_SYNC | KMBOX_F_TAG | KMBOX_F_EXPIRE),
			  KMBOX_F_ZC);
	if (rng_pct(&R, 20))
		s.flags |= KMBOX_F_SYNC;
	if (rng_pct(&R, 10))
		s.flags |= KMBOX_F_EXPIRE;
	/* a deadline a few ms ahead, past, 0, or anything */
	if (s.flags & KMBOX_F_EXPIRE)
		s.expire_ns = rand_deadline();
	if ((s.flags & KMBOX_F_TAG) && rng_pct(&R, 80))
		s.tag = rng_pct(&R, 80) ? rng_below(&R, 4) : rand_u64();
	zc = s.flags & KMBOX_F_ZC;
	if (zc)
		s.slot = pick_slot(f, 100 - 70);
	else if (rng_pct(&R, 5))
		s.slot = rng_pct(&R, 50) ? rng_below(&R, 20) : rand_u32();
	if (!zc && s.slot)
		nonsense = true;
	s.len = rng_pct(&R, 70) ? rng_below(&R, zc && T->mix->small_zc ? 80 : 600) : rand_u32();
	if (f->max_msgsize && s.len > f->max_msgsize && f->own)
		nonsense = true;
	s.prio = rng_pct(&R, 80) ? rng_below(&R, 8) : rand_u32();
	if (s.prio >= KMBOX_PRIO_MAX)
		nonsense = true;
	if (s.flags & KMBOX_F_TIMEOUT)
		s.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		s.deadline_ns = rand_u64();
	if (!(s.flags & KMBOX_F_TIMEOUT) && s.deadline_ns)
		nonsense = true;
	if (s.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		unsigned int i = rng_below(&R, 2);

		/* [0] is the tag, [1] the expiry: only with their flags */
		s.__reserved[i] = 1;
		if (!(s.flags & (i ? KMBOX_F_EXPIRE : KMBOX_F_TAG)))
			nonsense = true;
	}
	/* After the line above, which may have replaced it with 1. */
	if (s.expire_ns > (__u64)INT64_MAX)
		nonsense = true;
	s.buf = U64(rand_ptr(s.len < GOOD_LEN ? s.len : GOOD_LEN, &bk));
	if (!zc && s.len && !ptr_ok(bk) && bk != P_RO && bk != P_REGION)
		nonsense = true;
	if (!zc && s.len > GOOD_LEN && bk != P_REGION)
		nonsense = true;	/* runs off our buffers into a PROT_NONE page */
	{
		void *up = place_arg(&s, sizeof(s), &sk);

		/* A zero-copy send gives the slot back to the mailbox. */
		if (zc || !ptr_in_ok(sk))
			giveback_begin(&g, f, &s.slot, 1, zc ? gb_mode(sk) :
				       sk == P_REGION ? GB_UNKNOWN : GB_NONE);
		r = kb_ioctl(f->fd, KMBOX_IOC_SEND, up);
		giveback_end(&g, &s.slot, 1, r == 0 ? 1 : 0);
	}
	if (!ptr_in_ok(sk)) {
		/* The kernel read whatever was there, not our template. */
		nonsense = false;
		if (r == 0)
			f->held_unknown = true;
	}
	if (s.flags & KMBOX_F_SYNC)
		ADD(r == 0 ? &shm->cs.sync_ok : &shm->cs.sync_err, 1);
	if (r > 0)
		bad("SEND returned %ld", r);
	if (r == 0 && nonsense)
		bad("SEND succeeded with nonsense (len %u prio %u flags %#x slot %u deadline %llu buf kind %d)",
		    s.len, s.prio, s.flags, s.slot, (unsigned long long)s.deadline_ns, bk);
	if (r == 0 && !acc_wr(f))
		bad("SEND succeeded on a file opened with access mode %d", f->acc);
	if (r == 0 && zc && f->own && !f->held_unknown && ptr_in_ok(sk)) {
		if (!held_del(f, s.slot))
			bad("zero-copy SEND of slot %u that this file did not hold", s.slot);
	}
	CHECK_ERRNO("SEND", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR,
		    ENOBUFS, ENOMEM);
}

/* Pattern after a receive buffer, to catch writes past the length returned. */
#define GUARD	0xa5

static void op_recv(void)
{
	bool calls = rng_pct(&R, 35);
	struct ffile *f = calls ? call_file(true) : rand_file();
	struct kmbox_recv rv = { 0 }, *up;
	struct fltsnap fs;
	bool nonsense, buf_good, idle, peek;
	enum pkind bk, rk;
	uint32_t g0;
	__u32 cap;
	long r, w;

	if (!f)
		return;
	rv.flags = zc_bias(rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_ZC |
					       KMBOX_F_CALLS | KMBOX_F_MATCH | KMBOX_F_PEEK),
			   KMBOX_F_ZC);
	if (calls)
		rv.flags |= KMBOX_F_CALLS;
	rv.len = rng_pct(&R, 70) ? rng_below(&R, 700) : rand_u32();
	if (calls && rng_pct(&R, 60)) {
		/* A server's receive: it waits a few ms for a request. */
		rv.flags = KMBOX_F_CALLS | KMBOX_F_TIMEOUT;
		rv.len = 64 + rng_below(&R, 256);
		nonsense = false;
	}
	peek = rv.flags & KMBOX_F_PEEK;
	if (peek && (rv.flags & (KMBOX_F_ZC | KMBOX_F_CALLS)))
		nonsense = true;
	if (rv.flags & KMBOX_F_MATCH) {
		rv.match_mask = rng_pct(&R, 50) ? ~0ULL : rng_pct(&R, 50) ? 3 : rand_u64();
		rv.tag = (rng_pct(&R, 80) ? rng_below(&R, 4) : rand_u64()) & rv.match_mask;
	}
	if ((rv.flags & KMBOX_F_TIMEOUT) && rv.flags == (KMBOX_F_CALLS | KMBOX_F_TIMEOUT))
		rv.deadline_ns = now_ns() + rng_below(&R, 8000000);
	else if (rv.flags & KMBOX_F_TIMEOUT)
		rv.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		rv.deadline_ns = rand_u64();
	if (!(rv.flags & KMBOX_F_TIMEOUT) && rv.deadline_ns)
		nonsense = true;
	if (rv.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		if (rng_below(&R, 2))
			rv.__reserved = 1;	/* the tag */
		else
			rv.reply_token = 1;	/* the mask on input */
	}
	/* tag and match_mask: only with KMBOX_F_MATCH, and a tag the mask sees */
	if ((rv.flags & KMBOX_F_MATCH) ? (rv.tag & ~rv.match_mask) != 0 :
					 (rv.tag || rv.match_mask))
		nonsense = true;
	cap = rv.len < GOOD_LEN ? rv.len : GOOD_LEN;
	rv.buf = U64(rand_ptr(cap, &bk));
	buf_good = ptr_ok(bk) && rv.len <= GOOD_LEN;
	if (rng_pct(&R, 3))
		rv.slot = rand_u32();		/* output field: ignored */
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	up = place_arg(&rv, sizeof(rv), &rk);
	if (buf_good)
		memset((void *)(uintptr_t)rv.buf, GUARD,
		       good + GOOD_LEN - (unsigned char *)(uintptr_t)rv.buf);
	g0 = take_begin(f);
	flt_begin(f, &fs);
	idle = idle_begin();
	r = kb_ioctl(f->fd, KMBOX_IOC_RECV, up);
	idle_end(idle);
	if (!ptr_in_ok(rk)) {
		nonsense = false;
		if (r >= 0)
			f->held_unknown = true;
	}
	if (r >= 0 && nonsense)
		bad("RECV succeeded with nonsense (flags %#x deadline %llu reserved)", rv.flags,
		    (unsigned long long)rv.deadline_ns);
	if (r >= 0 && !acc_rd(f))
		bad("RECV succeeded on a file opened with access mode %d", f->acc);
	if (r >= 0 && rk == P_ROV)
		bad("RECV succeeded although its argument is read-only (the result cannot have been written)");
	if (r >= 0 && ptr_ok(rk)) {
		bool zcmsg = up->msg_flags & KMBOX_MSG_ZC;

		/* A peek returns the whole length and copies what fits. */
		w = peek && r > (long)rv.len ? (long)rv.len : r;
		if ((__u32)r != up->len || (f->max_msgsize && up->len > f->max_msgsize && f->own) ||
		    up->prio >= KMBOX_PRIO_MAX ||
		    (up->msg_flags & ~(KMBOX_MSG_ZC | (peek ? KMBOX_MSG_TRUNC : 0))) ||
		    (peek && !(up->msg_flags & KMBOX_MSG_TRUNC) != (r <= (long)rv.len)) ||
		    (zcmsg && (peek || !(rv.flags & KMBOX_F_ZC))) ||
		    (zcmsg && f->nslots && up->slot >= f->nslots) ||
		    (!zcmsg && up->slot != KMBOX_NO_SLOT) ||
		    (!(rv.flags & KMBOX_F_CALLS) && up->reply_token))
			bad("RECV result: ret %ld len %u prio %u flags %#x slot %u", r, up->len,
			    up->prio, up->msg_flags, up->slot);
		if (!zcmsg && w > (long)rv.len)
			bad("RECV returned %ld bytes into a %u-byte buffer", r, rv.len);
		recv_tag_check(f, &fs, &rv, up, peek ? "a peek" : "RECV");
		if (rv.flags & KMBOX_F_CALLS) {
			tok_received(f, up->reply_token, "RECV");
			serve(f, up->reply_token);
		}
		if (!zcmsg && w > 0 && (size_t)w > ptr_room((void *)(uintptr_t)rv.buf, bk))
			bad("RECV of %ld bytes succeeded into an unwritable buffer (kind %d)", r, bk);
		if (!zcmsg && buf_good) {
			unsigned char *b = (unsigned char *)(uintptr_t)rv.buf;
			size_t i, end = good + GOOD_LEN - b;

			for (i = w; i < end && i < (size_t)w + 64; i++)
				if (b[i] != GUARD) {
					bad("RECV of %ld bytes wrote at offset %zu", r, i);
					break;
				}
		}
		if (zcmsg) {
			take_end(f, g0, &up->slot, 1, HOW_RECV);
			if (f->own) {
				if (!f->held_unknown && held_has(f, up->slot)) {
					bad("RECV handed over slot %u which this file already holds",
					    up->slot);
					hist_dump(f);
					trace_dump_fd(f->fd);
				}
				held_add(f, up->slot);
			}
		}
	}
	if (r == -EMSGSIZE && ptr_ok(rk) && up->len <= rv.len && !(rv.flags & KMBOX_F_ZC))
		bad("RECV EMSGSIZE but len %u fits the %u-byte buffer", up->len, rv.len);
	if (r == -EMSGSIZE && peek)
		bad("a peek failed with EMSGSIZE");
	/* ENOMEM: a peek's kernel buffer */
	CHECK_ERRNO("RECV", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR,
		    ENOMEM);
}

/* ---- KMBOX_URING_RECV_BATCH: a receive batch through io_uring ---------------------- */

/* This thread's ring (SQE128), made again in a forked child; or -errno. */
static __thread struct io_uring fz_ring;
static __thread pid_t fz_ring_pid;
static __thread int fz_ring_err;

static bool fz_uring_ok(void)
{
	if (fz_ring_pid != getpid()) {
		fz_ring_pid = getpid();
		fz_ring_err = io_uring_queue_init(2, &fz_ring, IORING_SETUP_SQE128);
	}
	return !fz_ring_err;
}

/*
 * Run the receive batch at @arg (a struct kmbox_batch, or with @ext a
 * struct kmbox_batchx whose losses and reserved words go into the
 * command) as KMBOX_URING_RECV_BATCH on @fd: the CQE's res (a count or
 * -errno).  The command never waits, so it is done when the submission
 * returns; the wait is for io_uring's posting alone.
 *
 * Another thread sharing our file table may close a stale descriptor
 * number that is now the ring's, or reuse it: then the submission fails
 * before the command is read, the SQE stays queued and the ring soon has
 * no free one.  Such a ring is retired for good (not closed: its number
 * may be someone else's file by now), and the batch goes as the ioctl of
 * the same meaning instead, on the same argument (fz_uring_arg() puts it
 * in plain memory), so that every caller's oracle stays valid.
 */
/* How fz_uring_one() says the ring is retired: no errno is this. */
#define FZ_RETIRED	LONG_MIN

/*
 * Submit the one SQE prepared on this thread's ring and wait for its
 * CQE: its res, or FZ_RETIRED (and the ring is retired) if the
 * submission failed.
 */
static long fz_uring_one(const char *what)
{
	struct io_uring_cqe *cqe;
	long r;

	do
		r = io_uring_submit(&fz_ring);
	while (r == -EINTR);
	if (r != 1) {
		tr("uring submit -> %ld: the ring is retired", r);
		if (!fz_ring_err)
			ADD(&shm->ur_retired, 1);
		fz_ring_err = -EBADF;
		return FZ_RETIRED;
	}
	do
		r = io_uring_wait_cqe(&fz_ring, &cqe);
	while (r == -EINTR);
	if (r || !cqe) {
		/* Submitted, so posted already: the CQ ring needs no fd to read. */
		bad("uring %s: no completion (%ld)", what, r);
		fz_ring_err = -EIO;
		return r ? r : -EIO;
	}
	r = cqe->res;
	io_uring_cqe_seen(&fz_ring, cqe);
	return r;
}

/* The next SQE of this thread's ring, or NULL if the ring is retired (now). */
static struct io_uring_sqe *fz_uring_sqe(void)
{
	struct io_uring_sqe *sqe = fz_ring_err ? NULL : io_uring_get_sqe(&fz_ring);

	if (!sqe) {
		if (!fz_ring_err)
			ADD(&shm->ur_retired, 1);
		fz_ring_err = -EBADF;
	}
	return sqe;
}

static long fz_uring_recv_batch(int fd, void *arg, bool ext)
{
	struct kmbox_batchx *x = arg;
	struct io_uring_sqe *sqe = fz_uring_sqe();
	long r;

	if (!sqe)
		goto retired;
	kmbox_uring_prep_recv_batch(sqe, fd, &x->b, ext ? &x->lost : NULL);
	if (ext)
		memcpy(((struct kmbox_uring_recv_batch *)sqe->cmd)->__reserved, x->__reserved,
		       sizeof(x->__reserved));
	r = fz_uring_one("RECV_BATCH");
	if (r == FZ_RETIRED)
		goto retired;
	tr("uring fd %d%s RECV_BATCH%s count %u flags %#x -> %ld", fd, fid_of(fd),
	   ext ? " lost" : "", x->b.count, x->b.flags, r);
	return r;

retired:
	return kb_ioctl(fd, ext ? KMBOX_IOC_RECV_BATCHX : KMBOX_IOC_RECV_BATCH, arg);
}

/*
 * The send batch at @arg (a struct kmbox_batch) as KMBOX_URING_SEND_BATCH
 * on @fd: the CQE's res (a count or -errno).  A retired ring sends it as
 * the ioctl does what the command would: KMBOX_F_TIMEOUT and KMBOX_F_SYNC
 * refused, never waiting.
 */
static long fz_uring_send_batch(int fd, const struct kmbox_batch *arg)
{
	struct io_uring_sqe *sqe = fz_uring_sqe();
	struct kmbox_batch nb;
	long r;

	if (!sqe)
		goto retired;
	kmbox_uring_prep_send_batch(sqe, fd, arg);
	r = fz_uring_one("SEND_BATCH");
	if (r == FZ_RETIRED)
		goto retired;
	tr("uring fd %d%s SEND_BATCH count %u flags %#x -> %ld", fd, fid_of(fd), arg->count,
	   arg->flags, r);
	return r;

retired:
	if (arg->flags & (KMBOX_F_TIMEOUT | KMBOX_F_SYNC))
		return -EINVAL;
	nb = *arg;
	nb.flags |= KMBOX_F_NONBLOCK;
	return kb_ioctl(fd, KMBOX_IOC_SEND_BATCH, &nb);
}

static void *fz_uring_arg(struct kmbox_batchx *buf, const void *tmpl, size_t size,
			  enum pkind *kind)
{
	memset(buf, 0, sizeof(*buf));
	memcpy(buf, tmpl, size);
	T->rov_next = false;
	*kind = P_GOOD;
	return buf;
}

static void op_batch(bool send)
{
	bool calls = !send && rng_pct(&R, 35), bx = !send && rng_pct(&R, 30);
	/* the batch as an io_uring command: its argument is in the SQE */
	bool ur = rng_pct(&R, 25) && fz_uring_ok();
	static __thread struct kmbox_batchx urarg;
	struct ffile *f = calls ? call_file(true) : rand_file();
	struct kmbox_batchx bxa;
	void *bxup = NULL;
	struct kmbox_batch b = { 0 };
	struct kmbox_mmsg *mm, *mmw;
	struct giveback g = { .locked = false };
	__u32 zslots[KMBOX_BATCH_MAX];
	struct fltsnap fs;
	bool nonsense, filled, rov = false, idle;
	static __thread __u64 tokbuf[KMBOX_BATCH_MAX];
	enum pkind mk, bk, tk = P_NULL;
	__u32 i, n, nz = 0;
	uint32_t g0;
	long r;

	if (!f)
		return;
	b.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_TAG |
			     (send ? KMBOX_F_SYNC : KMBOX_F_ZC | KMBOX_F_CALLS));
	b.flags = zc_bias(b.flags, send ? 0 : KMBOX_F_ZC);
	if (send && rng_pct(&R, 15))
		b.flags |= KMBOX_F_SYNC;
	if (calls)
		b.flags |= KMBOX_F_CALLS;
	calls = !send && (b.flags & KMBOX_F_CALLS);
	if (send && (b.flags & KMBOX_F_ZC))
		nonsense = true;
	b.count = rng_pct(&R, 80) ? 1 + rng_below(&R, 8) : rand_u32();
	if (!b.count || b.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (b.flags & KMBOX_F_TIMEOUT)
		b.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		b.deadline_ns = rand_u64();
	if (!(b.flags & KMBOX_F_TIMEOUT) && b.deadline_ns)
		nonsense = true;
	if (b.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	n = b.count <= KMBOX_BATCH_MAX ? b.count : KMBOX_BATCH_MAX;
	if (rng_pct(&R, 3)) {
		if (rng_below(&R, 2) || calls)
			b.__reserved = 1;	/* the tags pointer */
		else
			b.tokens = 1;	/* only with KMBOX_F_CALLS on a receive */
		nonsense = true;
	} else if (b.flags & KMBOX_F_TAG) {
		/* send reads them, recv writes them: our scratch buffer */
		static __thread __u64 tagbuf[KMBOX_BATCH_MAX];

		b.tags = U64(tagbuf);
	}
	if (!(b.flags & KMBOX_F_TAG) != !b.tags)
		nonsense = true;
	if (calls) {
		/* Where the tokens go: ours, none (EINVAL), or anywhere. */
		if (rng_pct(&R, 85)) {
			tk = P_GOOD;
			memset(tokbuf, 0, n * sizeof(tokbuf[0]));
			b.tokens = U64(tokbuf);
		} else if (rng_pct(&R, 30)) {
			tk = P_NULL;
			b.tokens = 0;
			nonsense = true;
		} else {
			b.tokens = U64(rand_ptr(n * sizeof(tokbuf[0]), &tk));
			if (!b.tokens)
				nonsense = true;
		}
	}
	if (!send && rng_pct(&R, T->mix->rov_pct)) {
		/* Entries the kernel can read but not write back. */
		rov = true;
		mk = P_ROV;
		mmw = (void *)(T->rov_rw + PG);
		mm = (void *)(T->rov_ro + PG);
	} else {
		mm = rng_pct(&R, 85) ? (void *)ARG_MMSG : rand_ptr(n * sizeof(*mm), &mk);
		mk = (unsigned char *)mm == ARG_MMSG ? P_GOOD : mk;
		mmw = mm;
	}
	filled = ptr_in_ok(mk) && (rov || n * sizeof(*mm) <= ptr_room(mm, mk));
	if (filled) {
		for (i = 0; i < n; i++) {
			memset(&mmw[i], 0, sizeof(mmw[i]));
			mmw[i].len = rng_pct(&R, 80) ? rng_below(&R, 300) : rand_u32();
			mmw[i].buf = U64(rand_ptr(mmw[i].len < PG ? mmw[i].len : PG, &bk));
			mmw[i].prio = rng_pct(&R, 80) ? rng_below(&R, 4) : rand_u32();
			if (send && rng_pct(&R, T->mix->zc_pct / 4)) {
				mmw[i].flags = KMBOX_MSG_ZC;
				mmw[i].slot = pick_slot(f, 100 - 70);
				mmw[i].len = rng_below(&R, 80);
			} else if (rng_pct(&R, 3)) {
				mmw[i].flags = rand_u32();
			}
			if (send && (mmw[i].flags & KMBOX_MSG_ZC))
				zslots[nz++] = mmw[i].slot;
		}
		if (send && n && (mmw[0].prio >= KMBOX_PRIO_MAX || (mmw[0].flags & ~KMBOX_MSG_ZC)))
			nonsense = true;
	}
	b.msgs = U64(mm);
	if (bx) {
		/*
		 * The same batch with losses: what goes in @lost is never read,
		 * and is written only when the call returns a count; the
		 * argument itself on a read-only view now and then.
		 */
		memset(&bxa, 0, sizeof(bxa));
		bxa.b = b;
		rng_fill(&R, &bxa.lost, sizeof(bxa.lost));
		if (rng_pct(&R, 3)) {
			bxa.__reserved[rng_below(&R, 2)] = rand_u64() | 1;
			nonsense = true;
		}
		T->rov_next = rng_pct(&R, T->mix->rov_pct / 2);
	}
	/* The send command refuses what would wait. */
	if (ur && send && (b.flags & (KMBOX_F_TIMEOUT | KMBOX_F_SYNC)))
		nonsense = true;
	{
		void *up = ur ? fz_uring_arg(&urarg, bx ? (void *)&bxa : (void *)&b,
					     bx ? sizeof(bxa) : sizeof(b), &bk) :
			   bx ? place_arg(&bxa, sizeof(bxa), &bk) : place_arg(&b, sizeof(b), &bk);

		bxup = up;

		if (send && (nz || !filled || !ptr_in_ok(bk)))
			giveback_begin(&g, f, zslots, nz,
				       !ptr_in_ok(bk) ? gb_mode(bk) :
				       filled ? GB_EXACT : mk == P_REGION ? GB_UNKNOWN : GB_NONE);
		g0 = take_begin(f);
		flt_begin(f, &fs);
		idle = !send && idle_begin();
		if (ur)
			ADD(send ? &shm->sb_general : &shm->ur_general, 1);
		r = ur ? send ? fz_uring_send_batch(f->fd, up) : fz_uring_recv_batch(f->fd, up, bx) :
		    kb_ioctl(f->fd, send ? KMBOX_IOC_SEND_BATCH :
				    bx ? KMBOX_IOC_RECV_BATCHX : KMBOX_IOC_RECV_BATCH, up);
		idle_end(idle);
		if (g.locked) {
			/* Entries from r on were not sent: their slots are still ours. */
			__u32 z = 0, kept = 0;

			for (i = 0; i < n && filled && ptr_in_ok(bk); i++)
				if (mmw[i].flags & KMBOX_MSG_ZC) {
					if (r > 0 && i < (__u32)r)
						kept = ++z;
					else
						z++;
				}
			giveback_end(&g, zslots, nz, r > 0 ? (int)kept : 0);
		}
	}
	if (bx) {
		const struct kmbox_batchx *ux = bxup;

		ADD(&shm->bx_general, 1);
		if (r > 0 && bk == P_ROV)
			bad("RECV_BATCHX returned %ld although its argument is read-only", r);
		if (ptr_ok(bk) && memcmp(&ux->b, &bxa.b, sizeof(bxa.b)))
			bad("RECV_BATCHX (%ld) wrote into its struct kmbox_batch", r);
		if (ptr_ok(bk) && r < 0 && memcmp(&ux->lost, &bxa.lost, sizeof(bxa.lost)))
			bad("RECV_BATCHX failed (%ld) and wrote its losses", r);
		/* Only op_policy() makes mailboxes that drop, refuse or replace. */
		if (ptr_ok(bk) && r > 0 && (ux->lost.dropped | ux->lost.rejected | ux->lost.replaced))
			bad("RECV_BATCHX reported losses %llu/%llu/%llu/%llu on a mailbox that blocks",
			    (unsigned long long)ux->lost.dropped,
			    (unsigned long long)ux->lost.rejected,
			    (unsigned long long)ux->lost.replaced,
			    (unsigned long long)ux->lost.expired);
	}
	if (!ptr_in_ok(bk))
		nonsense = false;
	if (r >= 0 && nonsense)
		bad("%s_BATCH%s succeeded with nonsense (count %u flags %#x)", send ? "SEND" : "RECV",
		    bx ? "X" : "", b.count, b.flags);
	if (r == 0 || r > (long)(ptr_in_ok(bk) ? b.count : KMBOX_BATCH_MAX))
		bad("%s_BATCH of %u returned %ld", send ? "SEND" : "RECV", b.count, r);
	if (r > 0 && (send ? !acc_wr(f) : !acc_rd(f)))
		bad("%s_BATCH succeeded on a file opened with access mode %d",
		    send ? "SEND" : "RECV", f->acc);
	/*
	 * Only when the kernel read our argument: one placed in a region
	 * mapping (P_REGION) holds what the mapping held, a read-only one's
	 * old bytes, or another thread's argument placed there since, with
	 * entries of its own.
	 */
	if (r > 0 && !send && rov && ptr_in_ok(bk))
		bad("RECV_BATCH returned %ld although its entries are read-only", r);
	if (r > 0 && calls && ptr_in_ok(bk) && ptr_never_writable(tk))
		bad("RECV_BATCH returned %ld although its tokens cannot be written (kind %d)", r, tk);
	if (r > 0 && calls && ptr_in_ok(bk) && ptr_ok(tk)) {
		/*
		 * Read the tokens where the kernel wrote them: tokbuf, or the
		 * random pointer when that was good memory too.  (tokbuf then
		 * still holds an earlier batch's tokens: reading it reported
		 * those a second time, which the kernel never did.)
		 */
		__u64 got[KMBOX_BATCH_MAX];

		memcpy(got, (const void *)(uintptr_t)b.tokens,
		       (size_t)(r < (long)n ? r : n) * sizeof(got[0]));
		for (i = 0; i < (__u32)r && i < n; i++) {
			tok_received(f, got[i], "RECV_BATCH");
			serve(f, got[i]);
		}
	}
	if (r > 0 && !send && (b.flags & KMBOX_F_TAG) && ptr_in_ok(bk))
		for (i = 0; i < (__u32)r && i < n; i++)
			flt_check(f, &fs, NULL, ((const __u64 *)(uintptr_t)b.tags)[i], "RECV_BATCH");
	if (r > 0 && send && (b.flags & KMBOX_F_SYNC))
		ADD(&shm->cs.sync_ok, 1);
	if (r > 0 && !send && filled && ptr_in_ok(bk) && !rov) {
		__u32 got[KMBOX_BATCH_MAX], ng = 0;

		for (i = 0; i < (__u32)r && i < n; i++)
			if (mm[i].flags & KMBOX_MSG_ZC)
				got[ng++] = mm[i].slot;
		if (ng)
			take_end(f, g0, got, ng, HOW_RECVB);
	}
	if (r > 0 && f->own) {
		/* Zero-copy entries change what we hold; keep it exact when we can. */
		if (!filled || !ptr_ok(bk) || rov) {
			f->held_unknown = true;
		} else {
			for (i = 0; i < (__u32)r && i < n; i++) {
				if (send && (mm[i].flags & KMBOX_MSG_ZC) && !held_del(f, mm[i].slot))
					f->held_unknown = true;
				if (!send && (mm[i].flags & KMBOX_MSG_ZC)) {
					if (!(b.flags & KMBOX_F_ZC))
						bad("RECV_BATCH handed over a slot without KMBOX_F_ZC");
					held_add(f, mm[i].slot);
				}
				if (!send && !(mm[i].flags & KMBOX_MSG_ZC) &&
				    mm[i].slot != KMBOX_NO_SLOT)
					bad("RECV_BATCH copied entry with slot %u", mm[i].slot);
			}
		}
	}
	if (send && ur)
		/* EOPNOTSUPP: a rendezvous mailbox */
		CHECK_ERRNO("URING_SEND_BATCH", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN,
			    EOPNOTSUPP, ENOBUFS, ENOMEM);
	else if (send)
		CHECK_ERRNO("SEND_BATCH", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN,
			    ETIMEDOUT, EINTR, ENOBUFS, ENOMEM);
	else
		CHECK_ERRNO("RECV_BATCH", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN,
			    ETIMEDOUT, EINTR, ENOMEM);
}

static void op_reserve(void)
{
	struct ffile *f = rand_file();
	struct kmbox_slots s = { 0 };
	bool nonsense;
	enum pkind sk, ak;
	__u32 *slots, i, j;
	uint32_t g0;
	long r;

	if (!f)
		return;
	s.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT);
	s.count = rng_pct(&R, 80) ? 1 + rng_below(&R, T->mix->small_zc ? 2 : 4) : rand_u32();
	if (!s.count || s.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (s.flags & KMBOX_F_TIMEOUT)
		s.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		s.deadline_ns = rand_u64();
	if (!(s.flags & KMBOX_F_TIMEOUT) && s.deadline_ns)
		nonsense = true;
	if (s.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		s.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	slots = rng_pct(&R, 85) ? (void *)ARG_SLOTS : rand_ptr(4 * 8, &sk);
	sk = (unsigned char *)slots == ARG_SLOTS ? P_GOOD : sk;
	s.slots = U64(slots);
	g0 = take_begin(f);
	r = kb_ioctl(f->fd, KMBOX_IOC_ZC_RESERVE, place_arg(&s, sizeof(s), &ak));
	if (!ptr_in_ok(ak))
		nonsense = false;
	if (r >= 0 && nonsense)
		bad("ZC_RESERVE succeeded with nonsense (count %u flags %#x)", s.count, s.flags);
	if (r == 0 || r > (long)s.count)
		bad("ZC_RESERVE of %u returned %ld", s.count, r);
	if (r > 0 && !acc_wr(f))
		bad("ZC_RESERVE succeeded on a file opened with access mode %d", f->acc);
	if (r > 0 && ptr_room(slots, sk) < r * sizeof(__u32))
		bad("ZC_RESERVE wrote slots to a bad pointer (kind %d)", sk);
	if (r > 0 && ptr_ok(sk) && ptr_in_ok(ak)) {
		for (i = 0; i < (__u32)r; i++) {
			if (f->nslots && slots[i] >= f->nslots)
				bad("ZC_RESERVE gave slot %u of %u", slots[i], f->nslots);
			for (j = 0; j < i; j++)
				if (slots[j] == slots[i])
					bad("ZC_RESERVE gave slot %u twice", slots[i]);
			if (f->own) {
				if (!f->held_unknown && held_has(f, slots[i])) {
					bad("ZC_RESERVE gave slot %u, already held by this file",
					    slots[i]);
					hist_dump(f);
					trace_dump_fd(f->fd);
				}
				held_add(f, slots[i]);
			}
		}
		take_end(f, g0, slots, (int)r, HOW_RESERVE);
	} else if (r > 0 && f->own) {
		f->held_unknown = true;
	}
	CHECK_ERRNO("ZC_RESERVE", r, EBADF, EBADFD, EFAULT, EINVAL, EAGAIN, ETIMEDOUT, EINTR,
		    ENOMEM);
}

static void op_release(void)
{
	struct ffile *f = rand_file();
	struct kmbox_slots s = { 0 };
	struct giveback g = { .locked = false };
	bool nonsense = false, expect_ok;
	__u32 *slots = (void *)ARG_SLOTS, i, j;
	enum pkind sk = P_GOOD, ak;
	__u32 nk;
	void *up;
	long r;

	if (!f)
		return;
	s.count = rng_pct(&R, 85) ? 1 + rng_below(&R, T->mix->small_zc ? 2 : 4) : rand_u32();
	if (!s.count || s.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (rng_pct(&R, 5)) {
		s.flags = 1u << rng_below(&R, 32);
		nonsense = true;
	}
	if (rng_pct(&R, 3)) {
		s.deadline_ns = 1;
		nonsense = true;
	}
	if (rng_pct(&R, 3)) {
		s.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	/* Mostly slots we hold; sometimes others, out of range, duplicates. */
	for (i = 0; i < s.count && i < KMBOX_BATCH_MAX; i++)
		slots[i] = pick_slot(f, T->mix->rel_random_pct);
	if (rng_pct(&R, 10))
		slots = rand_ptr(16, &sk);
	expect_ok = f->own && !f->held_unknown && !nonsense && ptr_ok(sk) && s.count <= 4;
	if (expect_ok) {
		for (i = 0; i < s.count; i++) {
			if (!held_has(f, slots[i]))
				expect_ok = false;
			for (j = 0; j < i; j++)
				if (slots[j] == slots[i])
					expect_ok = false;
		}
	}
	s.slots = U64(slots);
	up = place_arg(&s, sizeof(s), &ak);
	/* The slots we can read: all of our array, 16 bytes elsewhere. */
	nk = (__u32 *)ARG_SLOTS == slots ? KMBOX_BATCH_MAX : 4;
	if (!ptr_in_ok(ak))
		giveback_begin(&g, f, NULL, 0, gb_mode(ak));
	else if (!s.count || s.count > KMBOX_BATCH_MAX)
		giveback_begin(&g, f, NULL, 0, GB_NONE);
	else if (ptr_ok(sk) && s.count <= nk)
		giveback_begin(&g, f, slots, (int)s.count, GB_EXACT);
	else
		giveback_begin(&g, f, NULL, 0, ptr_never_readable(sk) ? GB_NONE : GB_UNKNOWN);
	r = kb_ioctl(f->fd, KMBOX_IOC_ZC_RELEASE, up);
	/* All or nothing: on failure every slot named is still where it was. */
	giveback_end(&g, slots, g.n ? (int)s.count : 0, r == 0 ? (int)s.count : 0);
	if (!ptr_in_ok(ak)) {
		if (r == 0)
			f->held_unknown = true;
		return;
	}
	if (r > 0)
		bad("ZC_RELEASE returned %ld", r);
	if (r == 0 && nonsense)
		bad("ZC_RELEASE succeeded with nonsense (count %u flags %#x)", s.count, s.flags);
	if (f->own && !f->held_unknown && ptr_ok(sk) && s.count <= 4 && !nonsense) {
		if (r == 0 && !expect_ok)
			bad("ZC_RELEASE succeeded for slots this file does not hold (or twice)");
		if (r < 0 && expect_ok && f->bound && !opt_faults)
			bad("ZC_RELEASE of held slots failed: %s", strerror(-r));
	}
	if (r == 0 && f->own) {
		if (ptr_ok(sk))
			for (i = 0; i < s.count && i < KMBOX_BATCH_MAX; i++)
				held_del(f, slots[i]);
		else
			f->held_unknown = true;
	}
	CHECK_ERRNO("ZC_RELEASE", r, EBADFD, EFAULT, EINVAL, ENOMEM);
}

/* ---- overflow policies: the loss-accounting invariant and its model ---------- */

/*
 * The model of a policy mailbox (op_policy()).  The mailbox is this
 * thread's own, anonymous, on a descriptor no other op knows, so every
 * message in it is one we sent.  Each payload starts with the run's nonce
 * plus the message's index, the rest a pattern of both: a message
 * received twice, or one never sent, is seen at once, in every run.
 *
 * When time plays no part (no time to live, no KMBOX_F_EXPIRE), the queue
 * is known exactly: received by priority, then arrival number; a full
 * mailbox of policy DROP_OLDEST drops its oldest message of the lowest
 * priority (the new one itself if it is lower than every queued one),
 * REJECT refuses and counts (a batch: every entry from the one refused
 * on), REPLACE puts the new message in the place (arrival number) of the
 * first queued one with its tag, full or not, BLOCK refuses (the
 * descriptor is non-blocking); the urgent lane is max_msgs for urgent
 * messages and max_msgs - urgent_room for the others.  Every receive must
 * then return the model's next message, with the losses since the
 * previous loss-reporting receive; every batch receive exactly the count
 * the model and the faults we placed give (the entries up to the first
 * whose buffer faults; none if the entries, the tags or the argument
 * itself cannot be written, and then nothing may be consumed); peeks the
 * head.  Anything we cannot predict (an argument the fuzzer placed on
 * foreign memory) makes the model loose for the rest of the run: the
 * payload identities and the final equation are still checked.
 */
#define PM_MAX		8
#define PM_IDS		1024
#define PM_ENT		64		/* bytes of buffer per batch entry */

struct pmsg {
	uint32_t idx, seq, prio, len;
	uint64_t tag;
};

struct pmodel {
	bool exact;
	uint32_t policy, max, normal_max, urgent_prio;
	uint32_t n, seq, nids;
	uint64_t nonce;
	struct pmsg q[PM_MAX];
	struct kmbox_loss tot, seen;
	unsigned char rcvd[PM_IDS];
};

static void pm_fill(unsigned char *p, const struct pmodel *m, uint32_t idx, uint32_t len)
{
	uint64_t id = m->nonce + idx;
	uint32_t i;

	memcpy(p, &id, sizeof(id));
	for (i = sizeof(id); i < len; i++)
		p[i] = (unsigned char)(idx * 7 + i + (m->nonce >> 8));
}

/* The index of a payload we sent, or -1 (reported). */
static int pm_ident(struct pmodel *m, const unsigned char *p, uint32_t len, const char *how)
{
	unsigned char want[PM_ENT];
	uint64_t id;
	uint32_t idx;

	if (len < sizeof(id) || len > PM_ENT) {
		oracle_fail("policy %s: a message of %u bytes, none was sent", how, len);
		return -1;
	}
	memcpy(&id, p, sizeof(id));
	idx = (uint32_t)(id - m->nonce);
	if (id - m->nonce >= m->nids) {
		oracle_fail("policy %s: a message never sent (id %#llx)", how,
			    (unsigned long long)id);
		return -1;
	}
	pm_fill(want, m, idx, len);
	if (memcmp(want, p, len)) {
		oracle_fail("policy %s: message %u received with other bytes than sent", how, idx);
		return -1;
	}
	if (m->rcvd[idx]++) {
		oracle_fail("policy %s: message %u received twice", how, idx);
		return -1;
	}
	return (int)idx;
}

static int pm_cmp(const struct pmsg *a, const struct pmsg *b)
{
	if (a->prio != b->prio)
		return a->prio > b->prio ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The queue in receive order. */
static void pm_sort(struct pmodel *m)
{
	uint32_t i, j;

	for (i = 1; i < m->n; i++)
		for (j = i; j > 0 && pm_cmp(&m->q[j], &m->q[j - 1]) < 0; j--) {
			struct pmsg t = m->q[j];

			m->q[j] = m->q[j - 1];
			m->q[j - 1] = t;
		}
}

static void pm_remove(struct pmodel *m, uint32_t i)
{
	memmove(&m->q[i], &m->q[i + 1], (m->n - i - 1) * sizeof(m->q[0]));
	m->n--;
}

/* One message sent: 0, or -EAGAIN (refused, counted when REJECT). */
static int pm_send(struct pmodel *m, uint32_t idx, uint32_t prio, uint64_t tag, uint32_t len)
{
	uint32_t limit = prio >= m->urgent_prio ? m->max : m->normal_max, i;
	struct pmsg msg = { .idx = idx, .prio = prio, .tag = tag, .len = len };

	if (m->policy == KMBOX_POLICY_REPLACE) {
		for (i = 0; i < m->n; i++)	/* q is in receive order */
			if (m->q[i].tag == tag) {
				msg.seq = m->q[i].seq;
				m->q[i] = msg;
				m->tot.replaced++;
				pm_sort(m);
				return 0;
			}
	}
	if (m->n >= limit) {
		if (m->policy == KMBOX_POLICY_REJECT) {
			m->tot.rejected++;
			return -EAGAIN;
		}
		if (m->policy != KMBOX_POLICY_DROP_OLDEST)
			return -EAGAIN;
		while (m->n >= limit) {
			/* the oldest of the lowest priority: the last of its priority's first */
			uint32_t lo = m->n - 1;

			while (lo > 0 && m->q[lo - 1].prio == m->q[lo].prio)
				lo--;
			m->tot.dropped++;
			if (m->q[lo].prio > prio) {
				m->seq++;	/* dropped on arrival */
				return 0;
			}
			pm_remove(m, lo);
		}
	}
	msg.seq = m->seq++;
	m->q[m->n++] = msg;
	pm_sort(m);
	return 0;
}

/* A loss-reporting receive took messages: what it must report. */
static struct kmbox_loss pm_loss_take(struct pmodel *m)
{
	struct kmbox_loss d = {
		.dropped = m->tot.dropped - m->seen.dropped,
		.rejected = m->tot.rejected - m->seen.rejected,
		.replaced = m->tot.replaced - m->seen.replaced,
		.expired = m->tot.expired - m->seen.expired,
	};

	m->seen = m->tot;
	return d;
}

static void pm_loose(struct pmodel *m)
{
	m->exact = false;
}

static bool loss_eq(const struct kmbox_loss *a, const struct kmbox_loss *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void loss_add(struct kmbox_loss *to, const struct kmbox_loss *l)
{
	to->dropped += l->dropped;
	to->rejected += l->rejected;
	to->replaced += l->replaced;
	to->expired += l->expired;
}

#define LOSS_FMT	"%llu/%llu/%llu/%llu"
#define LOSS_ARGS(l)	(unsigned long long)(l).dropped, (unsigned long long)(l).rejected, \
			(unsigned long long)(l).replaced, (unsigned long long)(l).expired

/*
 * A loss-reporting receive returned message @idx (-1: unidentified) with
 * @prio, and @tag and losses @lost when known (NULL: not known; a batch
 * reports its losses with its first message).  Exact model: it must be
 * the head, with the losses the model gives.
 */
static void pm_got(struct pmodel *m, int idx, uint32_t prio, const __u64 *tag,
		   const struct kmbox_loss *lost, struct kmbox_loss *seen, const char *how)
{
	struct kmbox_loss want;

	if (lost)
		loss_add(seen, lost);
	if (!m->exact)
		return;
	if (!m->n) {
		oracle_fail("policy %u %s: a message from a mailbox the model says is empty",
			    m->policy, how);
		pm_loose(m);
		return;
	}
	want = pm_loss_take(m);
	if ((idx >= 0 && (uint32_t)idx != m->q[0].idx) || prio != m->q[0].prio ||
	    (tag && *tag != m->q[0].tag)) {
		oracle_fail("policy %u %s: got message %d prio %u tag %lld, the model's next is %u prio %u tag %llu",
			    m->policy, how, idx, prio, tag ? (long long)*tag : -1LL, m->q[0].idx,
			    m->q[0].prio, (unsigned long long)m->q[0].tag);
		pm_loose(m);
		return;
	}
	if (lost && !loss_eq(lost, &want)) {
		oracle_fail("policy %u %s: losses " LOSS_FMT " reported, the model says " LOSS_FMT,
			    m->policy, how, LOSS_ARGS(*lost), LOSS_ARGS(want));
		pm_loose(m);
		return;
	}
	pm_remove(m, 0);
}

/* One KMBOX_IOC_RECVX with good arguments. */
static long policy_recv(int fd, struct pmodel *m, struct kmbox_loss *seen)
{
	struct kmbox_recvx x = { 0 };
	unsigned char buf[PM_ENT];
	long r;

	x.r.buf = U64(buf);
	x.r.len = sizeof(buf);
	x.r.flags = KMBOX_F_NONBLOCK;
	r = kb_ioctl(fd, KMBOX_IOC_RECVX, &x);
	if (r >= 0)
		pm_got(m, pm_ident(m, buf, (uint32_t)r, "RECVX"), x.r.prio, &x.r.tag, &x.lost,
		       seen, "RECVX");
	else if (r == -EAGAIN && m->exact && m->n)
		oracle_fail("policy %u RECVX: EAGAIN with %u messages in the model", m->policy,
			    m->n);
	return r;
}

/*
 * A bad entry for a send batch: what it fails with, alone or first.  The
 * batch sends none of it nor what follows it.
 */
static long bad_mmsg(struct kmbox_mmsg *e)
{
	switch (rng_below(&R, 6)) {
	case 0:
		e->buf = U64(unmapped + rng_below(&R, 64));
		return -EFAULT;
	case 1:
		e->buf = U64(good + GOOD_LEN - 4);	/* straddles a PROT_NONE page */
		return -EFAULT;
	case 2:
		e->len = PM_ENT + 1 + rng_below(&R, 100);
		return -EMSGSIZE;
	case 3:
		e->prio = KMBOX_PRIO_MAX + rng_below(&R, 10);
		return -EINVAL;
	case 4:
		e->flags = 2U << rng_below(&R, 31);
		return -EINVAL;
	default:
		e->slot = 1 + rng_below(&R, 100);	/* a slot without KMBOX_MSG_ZC */
		return -EINVAL;
	}
}

/*
 * A send (@batch: SEND_BATCH of 1 to 4, some as KMBOX_URING_SEND_BATCH)
 * of new messages; how many were sent.  A batch may have a bad entry:
 * the model sends the entries before it as a batch of their own, and one
 * bad first sends nothing and fails with the entry's error.
 */
static long policy_send(int fd, struct pmodel *m, bool timed, unsigned long *rejected)
{
	struct kmbox_mmsg mm[4];
	__u64 tags[4];
	uint32_t c = rng_pct(&R, 30) ? 1 + rng_below(&R, 4) : 0, i, want = 0, cut;
	bool batch = c > 0, stop = false, ur = batch && rng_pct(&R, 40) && fz_uring_ok();
	long r, bad_err = 0;
	int wr = 0;

	if (!batch)
		c = 1;
	if (m->nids + c > PM_IDS)
		return 0;
	for (i = 0; i < c; i++) {
		unsigned char *p = good + 2048 + i * PM_ENT;

		mm[i] = (struct kmbox_mmsg){ .buf = U64(p), .len = 8 + rng_below(&R, 25),
					     .prio = rng_below(&R, 8) };
		tags[i] = rng_below(&R, 3);
		pm_fill(p, m, m->nids + i, mm[i].len);
	}
	/* the batch the kernel sends: the entries before a bad one */
	cut = c;
	if (batch && rng_pct(&R, 12)) {
		cut = rng_below(&R, c);
		bad_err = bad_mmsg(&mm[cut]);
	}
	if (m->exact) {
		for (i = 0; i < cut && !stop; i++) {
			wr = pm_send(m, m->nids + i, mm[i].prio, tags[i], mm[i].len);
			if (wr) {
				stop = true;
				/* REJECT counts each message of the batch from there on */
				if (m->policy == KMBOX_POLICY_REJECT)
					m->tot.rejected += cut - i - 1;
			} else {
				want++;
			}
		}
	}
	if (!batch) {
		struct kmbox_send s = { .buf = mm[0].buf, .len = mm[0].len, .prio = mm[0].prio,
					.flags = KMBOX_F_TAG, .tag = tags[0] };

		if (timed && rng_pct(&R, 15)) {
			s.flags |= KMBOX_F_EXPIRE;
			s.expire_ns = rand_deadline() & (__u64)INT64_MAX;
		}
		r = kb_ioctl(fd, KMBOX_IOC_SEND, &s);
		if (r == 0)
			r = 1;
	} else {
		struct kmbox_batch b = { .msgs = U64(mm), .count = c, .flags = KMBOX_F_TAG,
					 .tags = U64(tags) };

		r = ur ? fz_uring_send_batch(fd, &b) : kb_ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
		if (ur) {
			ADD(&shm->sb_uring, 1);
			ADD(&shm->sb_msgs, r > 0 ? (unsigned long)r : 0);
			ADD(&shm->sb_cut, cut < c);
		}
	}
	m->nids += c;
	if (!cut) {
		/* Entry 0 is bad: its error, and nothing sent nor refused. */
		if (r != bad_err && !(opt_faults && r == -ENOMEM))
			bad("policy: a send batch%s whose first entry is bad returned %ld, not %ld",
			    ur ? " (io_uring)" : "", r, bad_err);
		return r > 0 ? r : 0;
	}
	if (r == -EAGAIN && m->policy == KMBOX_POLICY_REJECT)
		*rejected += cut;
	else if (r > 0 && r < (long)cut && m->policy == KMBOX_POLICY_REJECT)
		*rejected += cut - (unsigned long)r;
	else if (r < 0)
		CHECK_ERRNO("policy SEND", r, EAGAIN, ENOBUFS, ENOMEM);
	/* Never more than the entries before a bad one. */
	if (r > (long)cut || r == 0)
		bad("policy: a send%s of %u (bad entry %u) returned %ld", ur ? " (io_uring)" : "",
		    c, cut, r);
	if (m->exact && (r > 0 ? r != (long)want : (want || r != -EAGAIN))) {
		oracle_fail("policy %u: a send%s of %u (bad entry %u) returned %ld, the model says %u sent",
			    m->policy, batch ? ur ? " batch (io_uring)" : " batch" : "", c, cut, r,
			    want);
		pm_loose(m);
	}
	return r > 0 ? r : 0;
}

/*
 * KMBOX_IOC_RECV_BATCHX of 1..12 entries on our mailbox, with faults placed
 * where we know what they do: entry buffers too short (the batch ends
 * before them), unmapped (the copy faults: the batch delivers those
 * before), the entries, the tags or the argument on a read-only view (the
 * batch delivers nothing and consumes nothing: EFAULT).
 */
static void policy_recv_batch(int fd, struct pmodel *m, struct kmbox_loss *seen,
			      unsigned long *got)
{
	static __thread __u64 tagbuf[KMBOX_BATCH_MAX];
	struct kmbox_batchx x = { 0 }, *ux;
	struct kmbox_mmsg *mm, *mmw;
	bool ents_ro = rng_pct(&R, 8), tags_ro = false, arg_ro = rng_pct(&R, 8);
	bool resv = rng_pct(&R, 3), tagged = rng_pct(&R, 60);
	/*
	 * Or as KMBOX_URING_RECV_BATCH: the same argument, copied into the
	 * SQE, its losses written through a pointer to @ux->lost, so that a
	 * read-only @ux faults there as the ioctl does, with the same model.
	 */
	bool ur = rng_pct(&R, 30) && fz_uring_ok();
	uint32_t c = 1 + rng_below(&R, rng_pct(&R, 80) ? 4 : 12), i;
	uint32_t take = 0, deliver;
	long r, want;

	if (ents_ro) {
		mmw = (void *)(T->rov_rw + PG);
		mm = (void *)(T->rov_ro + PG);
	} else {
		mm = mmw = (void *)ARG_MMSG;
	}
	for (i = 0; i < c; i++) {
		mmw[i] = (struct kmbox_mmsg){ .buf = U64(good + i * PM_ENT), .len = PM_ENT,
					      .prio = 0xdead, .slot = 0xbeef, .flags = 0 };
		if (rng_pct(&R, 8))
			mmw[i].len = rng_below(&R, 33);		/* may be too short */
		if (rng_pct(&R, 6))
			mmw[i].buf = U64(unmapped + rng_below(&R, 64));
		if (rng_pct(&R, 3))
			mmw[i].buf = U64(good + GOOD_LEN - 4);	/* straddles a PROT_NONE page */
	}
	x.b.msgs = U64(mm);
	x.b.count = c;
	x.b.flags = KMBOX_F_NONBLOCK | (rng_pct(&R, 20) ? KMBOX_F_ZC : 0);
	if (tagged) {
		x.b.flags |= KMBOX_F_TAG;
		tags_ro = rng_pct(&R, 6);
		x.b.tags = tags_ro ? U64(T->rov_ro + 2 * PG + 1024) : U64(tagbuf);
		memset(tagbuf, 0xa5, c * sizeof(tagbuf[0]));
	}
	/* What the caller passes in @lost is never read. */
	rng_fill(&R, &x.lost, sizeof(x.lost));
	if (resv)
		x.__reserved[rng_below(&R, 2)] = 1 + rng_below(&R, 1000);
	if (arg_ro) {
		unsigned char *p = T->rov_rw + rng_below(&R, (PG - sizeof(x)) / 8) * 8;

		memcpy(p, &x, sizeof(x));
		ux = (void *)(T->rov_ro + (p - T->rov_rw));
	} else {
		ux = (void *)(args + arg_half * (PG / 2));
		memcpy(ux, &x, sizeof(x));
	}

	/* What the model expects. */
	want = -EINVAL;
	if (!resv) {
		while (take < c && take < m->n && m->q[take].len <= mm[take].len)
			take++;
		deliver = take;
		for (i = 0; i < take; i++)
			if (mm[i].buf != U64(good + i * PM_ENT)) {
				deliver = i;	/* its copy faults */
				break;
			}
		if (ents_ro || tags_ro || arg_ro)
			deliver = 0;
		if (!m->n)
			want = -EAGAIN;
		else if (!take)
			want = ents_ro ? -EFAULT : -EMSGSIZE;	/* the length goes to entry 0 */
		else
			want = deliver ? (long)deliver : -EFAULT;
	}

	ADD(&shm->bx_calls, 1);
	r = ur ? fz_uring_recv_batch(fd, ux, true) : kb_ioctl(fd, KMBOX_IOC_RECV_BATCHX, ux);
	if (ur)
		ADD(&shm->bx_uring, 1);
	if (r > (long)c || r == 0) {
		bad("policy RECV_BATCHX of %u returned %ld", c, r);
		pm_loose(m);
		return;
	}
	if (r > 0 && (resv || ents_ro || tags_ro || arg_ro))
		bad("policy RECV_BATCHX returned %ld with%s%s%s%s", r, resv ? " reserved bits" : "",
		    ents_ro ? " read-only entries" : "", tags_ro ? " read-only tags" : "",
		    arg_ro ? " a read-only argument" : "");
	CHECK_ERRNO("policy RECV_BATCHX", r, EAGAIN, EFAULT, EINVAL, EMSGSIZE);
	if (r == -EFAULT)
		ADD(&shm->bx_faults, 1);
	if (m->exact && r != want) {
		oracle_fail("policy %u: RECV_BATCHX of %u (queued %u, take %u) returned %ld, the model says %ld",
			    m->policy, c, m->n, take, r, want);
		pm_loose(m);
	}
	if (r == -EMSGSIZE && !ents_ro && m->exact && m->n && mm[0].len != m->q[0].len)
		oracle_fail("policy RECV_BATCHX: EMSGSIZE gave length %u, the message has %u",
			    mm[0].len, m->q[0].len);
	if (r <= 0)
		return;
	if (!arg_ro && memcmp(&ux->b, &x.b, sizeof(x.b)))
		bad("policy RECV_BATCHX wrote into its struct kmbox_batch");
	ADD(&shm->bx_msgs, (unsigned long)r);
	*got += (unsigned long)r;
	for (i = 0; i < (uint32_t)r; i++) {
		char how[48];
		int idx;

		snprintf(how, sizeof(how), "RECV_BATCHX[%u/%d]", i, (int)r);
		if (mm[i].slot != KMBOX_NO_SLOT || mm[i].flags)
			bad("policy %s: slot %u flags %#x for a copied message", how, mm[i].slot,
			    mm[i].flags);
		if (mm[i].len > PM_ENT || (mm[i].len > 0 && mm[i].buf != U64(good + i * PM_ENT))) {
			bad("policy %s: %u bytes delivered through a bad buffer", how, mm[i].len);
			pm_loose(m);
			continue;
		}
		idx = pm_ident(m, good + i * PM_ENT, mm[i].len, how);
		/* The batch's losses come with its first message. */
		pm_got(m, idx, mm[i].prio, tagged ? &tagbuf[i] : NULL, i ? NULL : &ux->lost, seen,
		       how);
	}
}

/*
 * A mailbox of this thread's own with a random overflow policy, urgent lane
 * and time to live; a burst of sends and send batches (some expiring, some
 * past their time already, when the run is not exact), loss-reporting
 * receives (KMBOX_IOC_RECVX, some with an argument or buffer that faults:
 * the message and its losses must come back) and batch receives
 * (KMBOX_IOC_RECV_BATCHX: policy_recv_batch()), peeks.  Exact runs check
 * each result against the model above.  Then, once drained: sent =
 * received + dropped + replaced + expired + queued (refused sends were
 * never sent), the refusals are those the kernel counted, every loss was
 * reported in band exactly once, and (exact) the totals are the model's.
 */
static void op_policy(void)
{
	static __thread struct pmodel pm;
	struct pmodel *m = &pm;
	struct kmbox_qos q = { 0 }, tot;
	struct kmbox_attr a = { 0 };
	struct kmbox_open o = { 0 };
	struct kmbox_loss seen = { 0 };
	unsigned long sent = 0, got = 0, rejected = 0;
	bool unknown = false, timed;
	unsigned int i, n;
	int fd;
	long r;

	fd = open("/dev/kmbox", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	memset(m, 0, sizeof(*m));
	q.policy = rng_below(&R, 4);
	a.max_msgs = 1 + rng_below(&R, PM_MAX);
	a.max_msgsize = PM_ENT;
	if (rng_pct(&R, 30)) {
		q.urgent_prio = 4 + rng_below(&R, 4);
		q.urgent_room = rng_below(&R, a.max_msgs);
	}
	timed = rng_pct(&R, 30);
	if (timed && rng_pct(&R, 60))
		q.ttl_ns = 1 + rng_below(&R, 3000000);
	o.attr = U64(&a);
	o.qos = U64(&q);
	o.flags = KMBOX_OPEN_ANON;
	o.mode = 0600;
	r = kb_ioctl(fd, KMBOX_IOC_OPEN, &o);
	if (r) {
		CHECK_ERRNO("policy OPEN", r, ENOMEM, EMFILE, ENOSPC);
		close(fd);
		return;
	}
	m->exact = !timed && !opt_faults;
	m->policy = q.policy;
	m->max = a.max_msgs;
	m->normal_max = a.max_msgs - q.urgent_room;
	m->urgent_prio = q.urgent_prio ? q.urgent_prio : KMBOX_PRIO_MAX;
	m->nonce = rng_next(&R) & ~0xffffULL;
	ADD(&shm->pol_runs, 1);
	if (m->exact)
		ADD(&shm->pol_exact, 1);
	n = 20 + rng_below(&R, 200);
	for (i = 0; i < n; i++) {
		unsigned int x = rng_below(&R, 100);

		if (x < 50) {
			sent += (unsigned long)policy_send(fd, m, timed, &rejected);
		} else if (x < 65) {
			policy_recv_batch(fd, m, &seen, &got);
		} else if (x < 88) {
			struct kmbox_recvx rx = { 0 }, *up;
			unsigned char *buf;
			enum pkind bk, xk;

			rx.r.len = PM_ENT;
			buf = rand_ptr(PM_ENT, &bk);
			rx.r.buf = U64(buf);
			if (rng_pct(&R, 10))
				rx.r.flags |= KMBOX_F_PEEK;
			T->rov_next = rng_pct(&R, 15);
			up = place_arg(&rx, sizeof(rx), &xk);
			r = kb_ioctl(fd, KMBOX_IOC_RECVX, up);
			/*
			 * An argument placed in a region mapping (read-only, or
			 * written by others) says whatever the mapping holds:
			 * any length, so EMSGSIZE too.
			 */
			if (r == -EMSGSIZE && xk == P_REGION)
				continue;
			if (r < 0) {
				CHECK_ERRNO("policy RECVX", r, EAGAIN, EFAULT, EINVAL);
				if (r == -EAGAIN && m->exact && m->n && xk != P_REGION)
					oracle_fail("policy %u RECVX: EAGAIN with %u messages in the model",
						    m->policy, m->n);
				continue;
			}
			if (!ptr_ok(xk)) {
				/* written where we cannot trust what we read back */
				unknown = true;
				pm_loose(m);
				continue;
			}
			if (up->r.flags & KMBOX_F_PEEK) {
				if (up->lost.dropped | up->lost.rejected | up->lost.replaced |
				    up->lost.expired)
					bad("policy: a peek reported losses");
				if (m->exact && (!m->n || (uint32_t)r != m->q[0].len ||
						 up->r.prio != m->q[0].prio)) {
					oracle_fail("policy %u: a peek saw %ld bytes prio %u, the model's next has %u prio %u",
						    m->policy, r, up->r.prio, m->n ? m->q[0].len : 0,
						    m->n ? m->q[0].prio : 0);
					pm_loose(m);
				}
				continue;
			}
			got++;
			pm_got(m, bk == P_GOOD ? pm_ident(m, buf, (uint32_t)r, "RECVX") : -1,
			       up->r.prio, &up->r.tag, &up->lost, &seen, "RECVX");
		} else {
			r = policy_recv(fd, m, &seen);
			if (r >= 0)
				got++;
			else
				CHECK_ERRNO("policy RECVX (64-byte buffer)", r, EAGAIN);
		}
	}
	/* Drain, then one more message so that the last losses are reported. */
	while ((r = policy_recv(fd, m, &seen)) >= 0)
		got++;
	/* (a deadline of its own: the mailbox's TTL must not expire it) */
	if (m->nids < PM_IDS) {
		unsigned char *p = good + 2048;

		pm_fill(p, m, m->nids, 8);
		r = kb_ioctl(fd, KMBOX_IOC_SEND, &(struct kmbox_send){ .buf = U64(p), .len = 8,
								    .flags = KMBOX_F_EXPIRE,
								    .expire_ns = INT64_MAX });
		if (m->exact && !r)
			pm_send(m, m->nids, 0, 0, 8);
		m->nids++;
		if (r == 0) {
			sent++;
			if (policy_recv(fd, m, &seen) >= 0)
				got++;
		}
	}
	r = kb_ioctl(fd, KMBOX_IOC_QOS, &tot);
	if (r == 0 && !unknown) {
		struct kmbox_attr now;

		if (kb_ioctl(fd, KMBOX_IOC_GETATTR, &now) == 0 &&
		    sent != got + tot.lost.dropped + tot.lost.replaced + tot.lost.expired +
			    now.cur_msgs)
			bad("policy %u: sent %lu != received %lu + dropped %llu + replaced %llu + expired %llu + queued %u",
			    q.policy, sent, got, (unsigned long long)tot.lost.dropped,
			    (unsigned long long)tot.lost.replaced,
			    (unsigned long long)tot.lost.expired, now.cur_msgs);
		if (tot.lost.rejected != rejected)
			bad("policy %u: %lu sends refused, %llu counted", q.policy, rejected,
			    (unsigned long long)tot.lost.rejected);
		if (!loss_eq(&seen, &tot.lost))
			bad("policy %u: losses reported in band " LOSS_FMT ", totals " LOSS_FMT,
			    q.policy, LOSS_ARGS(seen), LOSS_ARGS(tot.lost));
		if (m->exact && !loss_eq(&m->tot, &tot.lost))
			oracle_fail("policy %u: loss totals " LOSS_FMT ", the model's " LOSS_FMT,
				    q.policy, LOSS_ARGS(tot.lost), LOSS_ARGS(m->tot));
	} else if (r) {
		CHECK_ERRNO("policy QOS", r, EFAULT);
	}
	close(fd);
}

static void op_random_ioctl(void)
{
	struct ffile *f = rand_file();
	unsigned long cmd;
	enum pkind k;
	void *arg;
	long r;

	if (!f)
		return;
	if (rng_pct(&R, 50)) {
		/* Our magic, unknown number or wrong size/direction. */
		unsigned int nr = rng_pct(&R, 50) ? 0x0a + rng_below(&R, 0xf6) : rng_below(&R, 10);
		unsigned int size = rng_below(&R, 128), dir = rng_below(&R, 4);

		cmd = _IOC(dir, KMBOX_IOC_MAGIC, nr, size);
		if (cmd == KMBOX_IOC_INFO || cmd == KMBOX_IOC_OPEN || cmd == KMBOX_IOC_UNLINK ||
		    cmd == KMBOX_IOC_GETATTR || cmd == KMBOX_IOC_SEND || cmd == KMBOX_IOC_RECV ||
		    cmd == KMBOX_IOC_SEND_BATCH || cmd == KMBOX_IOC_RECV_BATCH ||
		    cmd == KMBOX_IOC_ZC_RESERVE || cmd == KMBOX_IOC_ZC_RELEASE ||
		    cmd == KMBOX_IOC_CALL || cmd == KMBOX_IOC_REPLY || cmd == KMBOX_IOC_REOPEN ||
		    cmd == KMBOX_IOC_FILTER || cmd == KMBOX_IOC_STATS ||
		    cmd == KMBOX_IOC_QOS || cmd == KMBOX_IOC_RECVX ||
		    cmd == KMBOX_IOC_RECV_BATCHX)
			return;
		arg = rand_ptr(128, &k);
		r = kb_ioctl(f->fd, cmd, arg);
		if (r != -ENOTTY)
			bad("unknown ioctl %#lx gave %ld, want ENOTTY", cmd, r);
		return;
	}
	/* Anything at all, except the generic ones the VFS acts on itself. */
	cmd = (__u32)rng_next(&R);
	if (((cmd >> 8) & 0xff) == 'T' || ((cmd >> 8) & 0xff) == 'f' ||
	    ((cmd >> 8) & 0xff) == 'X' || ((cmd >> 8) & 0xff) == 0x94 ||
	    ((cmd >> 8) & 0xff) == 0x15 || ((cmd >> 8) & 0xff) == 0x12 ||
	    ((cmd >> 8) & 0xff) == 0x58 || (cmd & 0xffff0000) == 0 ||
	    ((cmd >> 8) & 0xff) == KMBOX_IOC_MAGIC)
		return;
	arg = rand_ptr(128, &k);
	r = kb_ioctl(f->fd, cmd, arg);
	if (r >= 0 && ((cmd >> 8) & 0xff) == KMBOX_IOC_MAGIC)
		bad("random ioctl %#lx succeeded", cmd);
}

static void op_rw(void)
{
	struct ffile *f = rand_file();
	size_t len = rng_pct(&R, 80) ? rng_below(&R, 700) : rand_u32();
	enum pkind k;
	void *p;
	long r;

	if (!f)
		return;
	p = rand_ptr(len < GOOD_LEN ? len : GOOD_LEN, &k);
	if (rng_pct(&R, 50)) {
		r = write(f->fd, p, len);
		r = r < 0 ? -errno : r;
		tr("write fd %d len %zu -> %ld", f->fd, len, r);
		if (r >= 0 && (size_t)r != len)
			bad("write of %zu returned %ld", len, r);
		if (r >= 0 && f->own && f->max_msgsize && len > f->max_msgsize)
			bad("write of %zu > max_msgsize %u succeeded", len, f->max_msgsize);
		if (r >= 0 && (!acc_wr(f) || (f->own && !f->bound)))
			bad("write succeeded on %s file", f->bound ? "a read-only" : "an unbound");
		CHECK_ERRNO("write", r, EBADF, EBADFD, EFAULT, EMSGSIZE, EAGAIN, EINTR, ENOBUFS,
			    ENOMEM, EINVAL);
	} else {
		r = read(f->fd, p, len);
		r = r < 0 ? -errno : r;
		tr("read fd %d len %zu -> %ld", f->fd, len, r);
		if (r >= 0 && (size_t)r > len)
			bad("read of %zu returned %ld", len, r);
		if (r > 0 && (size_t)r > ptr_room(p, k))
			bad("read of %ld bytes into a bad pointer (kind %d) succeeded", r, k);
		if (r >= 0 && (!acc_rd(f) || (f->own && !f->bound)))
			bad("read succeeded on %s file", f->bound ? "a write-only" : "an unbound");
		CHECK_ERRNO("read", r, EBADF, EBADFD, EFAULT, EMSGSIZE, EAGAIN, EINTR, EINVAL);
	}
}

/* ---- mappings ------------------------------------------------------------------ */

static void op_mmap(void)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE,
				     PROT_READ | PROT_EXEC, PROT_NONE };
	struct ffile *f = rand_file();
	struct kmbox_attr a;
	struct fmap *m = NULL;
	size_t len, region = 0;
	int prot, flags, i;
	off_t off = 0;
	bool bound;
	void *p;

	if (!f)
		return;
	pthread_mutex_lock(&tab_mu);
	for (i = 0; i < NMAP && !m; i++)
		if (!maps[i].p && !pthread_rwlock_trywrlock(&maps[i].lk)) {
			if (!maps[i].p)
				m = &maps[i];
			else
				pthread_rwlock_unlock(&maps[i].lk);
		}
	if (!m) {
		i = rng_below(&R, NMAP);
		if (pthread_rwlock_trywrlock(&maps[i].lk)) {
			pthread_mutex_unlock(&tab_mu);
			return;
		}
		m = &maps[i];
		if (m->p)
			munmap(m->p, m->len);
		m->p = NULL;
	}
	pthread_mutex_unlock(&tab_mu);
	bound = !kb_getattr(f->fd, &a);
	if (bound && a.zc_slots)
		region = ((size_t)a.zc_slots * a.zc_slot_size + PG - 1) & ~(PG - 1);
	prot = prots[rng_below(&R, ARRAY_SIZE(prots))];
	flags = rng_pct(&R, 90) ? MAP_SHARED : MAP_PRIVATE;
	if (flags == MAP_PRIVATE)
		prot &= ~PROT_WRITE;	/* no commit charge for absurd lengths */
	switch (rng_below(&R, 5)) {
	case 0:
		len = PG;
		break;
	case 1:
		len = region + PG;
		break;
	case 2:
		len = (size_t)rand_u32() + 1;
		break;
	default:
		len = region ? region : PG;
		break;
	}
	if (rng_pct(&R, 10))
		off = rng_pct(&R, 50) ? PG : (off_t)rand_u32() * PG;
	p = mmap(NULL, len, prot, flags, f->fd, off);
	tr("mmap fd %d len %zu prot %#x flags %#x off %lld -> %s", f->fd, len, prot, flags,
	   (long long)off, p == MAP_FAILED ? strerror(errno) : "mapped");
	if (p == MAP_FAILED) {
		if (errno != EINVAL && errno != EPERM && errno != EACCES && errno != ENODEV &&
		    errno != EBADFD && errno != ENOMEM && errno != EOVERFLOW && errno != EAGAIN)
			bad("mmap: undocumented errno %d (%s)", errno, strerror(errno));
	} else {
		/* Unbound a moment ago: someone sharing the file may have bound it since. */
		if (!bound && !kb_getattr(f->fd, &a) && a.zc_slots)
			region = ((size_t)a.zc_slots * a.zc_slot_size + PG - 1) & ~(PG - 1);
		if (flags != MAP_SHARED || (prot & PROT_EXEC) || off || !region || len > region ||
		    ((prot & PROT_WRITE) && !acc_wr(f)))
			bad("mmap succeeded: len %zu region %zu prot %#x flags %#x off %lld acc %d",
			    len, region, prot, flags, (long long)off, f->acc);
		m->p = p;
		m->len = len;
		m->prot = prot;
	}
	pthread_rwlock_unlock(&m->lk);
}

static void op_map_misc(void)
{
	struct fmap *m = &maps[rng_below(&R, NMAP)];
	unsigned int x = rng_below(&R, 100);
	size_t i;

	if (!m->p)
		return;
	if (x < 40) {
		/* Scribble over (or read) the region; others use it too. */
		if (!hold_rd(&m->lk))
			return;
		if (!m->p)
			return;
		T->deliberate = 1;
		T->faulted = 0;
		if (!sigsetjmp(T->jb, 1)) {
			if (m->prot & PROT_WRITE) {
				for (i = 0; i < 32; i++)
					m->p[rng_below(&R, m->len)] = (unsigned char)rng_next(&R);
				if (rng_pct(&R, 10))
					memset(m->p, (int)rng_below(&R, 256), m->len);
			} else {
				volatile unsigned char c = m->p[rng_below(&R, m->len)];

				(void)c;
				if (rng_pct(&R, 20) && (m->prot & PROT_READ))
					m->p[0] = 1;	/* must fault */
			}
		}
		T->deliberate = 0;
		if (T->faulted && (m->prot & PROT_WRITE))
			bad("SIGSEGV writing a PROT_WRITE region mapping");
		return;
	}
	pthread_mutex_lock(&tab_mu);
	if (pthread_rwlock_trywrlock(&m->lk)) {
		pthread_mutex_unlock(&tab_mu);
		return;
	}
	if (!m->p) {
		/* gone meanwhile */
	} else if (x < 50) {
		if (!mprotect(m->p, m->len, PROT_READ | PROT_EXEC))
			bad("mprotect(PROT_EXEC) of a region mapping succeeded");
	} else if (x < 60) {
		void *q = mremap(m->p, m->len, m->len + PG, MREMAP_MAYMOVE);

		if (q != MAP_FAILED) {
			bad("mremap grew a region mapping");
			m->p = q;
			m->len += PG;
		}
	} else if (x < 70 && m->len > PG) {
		munmap(m->p + PG, m->len - PG);		/* split */
		m->len = PG;
	} else if (x < 80) {
		if (!mprotect(m->p, m->len, PROT_READ))
			m->prot = PROT_READ;
	} else {
		munmap(m->p, m->len);
		m->p = NULL;
	}
	tr("map op %u", x);
	pthread_rwlock_unlock(&m->lk);
	pthread_mutex_unlock(&tab_mu);
}

static void op_poll(void)
{
	struct pollfd pf[4];
	int i, n = 0, r;

	for (i = 0; i < 4; i++) {
		struct ffile *f = rand_file();

		if (!f)
			break;
		pf[n].fd = f->fd;
		pf[n].events = (short)rng_next(&R);
		pf[n].revents = 0;
		n++;
	}
	r = poll(pf, n, 0);
	tr("poll %d fds -> %d", n, r);
	if (r < 0 && errno != EINTR && errno != ENOMEM)
		bad("poll: %s", strerror(errno));
	for (i = 0; r > 0 && i < n; i++)
		if (pf[i].revents & ~(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLWRBAND |
				      POLLERR | POLLNVAL))
			bad("poll revents %#x", pf[i].revents);
}

static void op_fcntl(void)
{
	struct ffile *f = rand_file();
	int fl;

	if (!f)
		return;
	fl = fcntl(f->fd, F_GETFL);
	switch (rng_below(&R, 4)) {
	case 0:
		fcntl(f->fd, F_SETFL, fl ^ O_NONBLOCK);
		break;
	case 1:
		fcntl(f->fd, F_SETOWN, getpid());
		fcntl(f->fd, F_SETFL, fl ^ O_ASYNC);
		break;
	case 2:
		fcntl(f->fd, F_SETSIG, rng_pct(&R, 50) ? 0 : SIGURG);
		break;
	default:
		fcntl(f->fd, F_SETFL, fl | O_NONBLOCK);
		break;
	}
	tr("fcntl fd %d", f->fd);
}

/*
 * Scheduling games: the next few ops as SCHED_IDLE (a receiver that
 * sleeps then is not run before the thread that woke it goes on, if both
 * share a CPU), or pinned to one CPU.  Idle only briefly: an idle thread
 * starves beside busy ones.
 */
static void op_sched(void)
{
	struct sched_param sp = { 0 };
	unsigned int x = rng_below(&R, 100);
	cpu_set_t set;
	int i;

	if (x < 60) {
		if (!sched_setscheduler(0, SCHED_IDLE, &sp))
			T->idle_left = 1 + rng_below(&R, 3);
	} else if (x < 80) {
		CPU_ZERO(&set);
		CPU_SET(pin_cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	} else {
		CPU_ZERO(&set);
		for (i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	tr("sched %u -> policy %d", x, sched_getscheduler(0));
}

/* Close everything this process has, its record going with the last descriptor. */
static void close_all(void)
{
	int i;

	for (i = 0; i < NFD; i++)
		if (files[i].fd >= 0) {
			fid_put(files[i].fid);
			close(files[i].fd);
			file_forget(&files[i]);
		}
	for (i = 0; i < NMAP; i++)
		if (maps[i].p) {
			munmap(maps[i].p, maps[i].len);
			maps[i].p = NULL;
		}
}

static void op_recv(void);

static void op_fork(void)
{
	pid_t pid;
	int i;

	/* No structural change runs meanwhile, and every descriptor counts twice. */
	pthread_mutex_lock(&tab_mu);
	for (i = 0; i < NFD; i++)
		if (files[i].fd >= 0 && files[i].fid)
			ADD(&shm->nfd[files[i].fid], 1);
	pid = fork();
	if (pid == 0) {
		/* A grandchild does a few ops on the shared files, then dies. */
		struct itimerval it = { { 0, 10000 }, { 0, 10000 } };

		in_grandchild = true;
		setitimer(ITIMER_REAL, &it, NULL);	/* timers are not inherited */
		for (i = 0; i < NFD; i++)
			files[i].own = false;
		for (i = 0; i < 10; i++) {
			op_recv();
			release_holds();
		}
		it = (struct itimerval){ 0 };
		setitimer(ITIMER_REAL, &it, NULL);
		close_all();
		_exit(0);
	}
	if (pid < 0)
		for (i = 0; i < NFD; i++)
			if (files[i].fd >= 0 && files[i].fid)
				fid_put(files[i].fid);
	pthread_mutex_unlock(&tab_mu);
	tr("fork -> %d", pid);
	if (pid > 0) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 99))
			bad("forked grandchild crashed (status %#x)", st);
		/* It may have taken slots through our files. */
		for (i = 0; i < NFD; i++)
			files[i].held_unknown = true;
	}
}

/* ---- call and reply ---------------------------------------------------------------- */

static void op_call(void)
{
	struct ffile *f = call_file(false);
	struct kmbox_call c = { 0 }, *up;
	enum pkind qk, rk, ck;
	bool nonsense;
	int out;
	long r;

	if (!f)
		return;
	if (rng_pct(&R, 70)) {
		/* A sane call, as a client makes it: meant to meet a server. */
		c.flags = (rng_pct(&R, 10) ? KMBOX_F_NONBLOCK : 0) |
			  (rng_pct(&R, 40) ? KMBOX_F_TIMEOUT : 0) |
			  (rng_pct(&R, 20) ? KMBOX_F_TAG : 0);
		if (c.flags & KMBOX_F_TAG)
			c.tag = rng_below(&R, 4);
		if (c.flags & KMBOX_F_TIMEOUT)
			c.deadline_ns = now_ns() + rng_below(&R, 20000000);
		c.req_len = rng_below(&R, 64);
		c.req = U64(good + rng_below(&R, GOOD_LEN - 64));
		c.prio = rng_below(&R, 4);
		c.reply_len = 32 + rng_below(&R, 256);
		c.reply = U64(good + rng_below(&R, GOOD_LEN - 300));
		qk = rk = P_GOOD;
		nonsense = false;
		goto place;
	}
	c.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_TAG);
	if ((c.flags & KMBOX_F_TAG) && rng_pct(&R, 80))
		c.tag = rng_pct(&R, 80) ? rng_below(&R, 4) : rand_u64();
	c.req_len = rng_pct(&R, 80) ? rng_below(&R, 300) : rand_u32();
	if (f->max_msgsize && c.req_len > f->max_msgsize && f->own)
		nonsense = true;
	c.prio = rng_pct(&R, 80) ? rng_below(&R, 8) : rand_u32();
	if (c.prio >= KMBOX_PRIO_MAX)
		nonsense = true;
	if (c.flags & KMBOX_F_TIMEOUT)
		c.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		c.deadline_ns = rand_u64();
	if ((!(c.flags & KMBOX_F_TIMEOUT) && c.deadline_ns) || c.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	c.req = U64(rand_ptr(c.req_len < GOOD_LEN ? c.req_len : GOOD_LEN, &qk));
	if (c.req_len && !ptr_ok(qk) && qk != P_RO && qk != P_REGION)
		nonsense = true;
	if (c.req_len > GOOD_LEN && qk != P_REGION)
		nonsense = true;
	c.reply_len = rng_pct(&R, 85) ? rng_below(&R, 64) : rng_pct(&R, 50) ?
		      rng_below(&R, 700) : rand_u32();
	c.reply = U64(rand_ptr(c.reply_len < GOOD_LEN ? c.reply_len : GOOD_LEN, &rk));
	if (rng_pct(&R, 3)) {
		unsigned int i = rng_below(&R, 3);

		/* __reserved[0] is the tag: only with KMBOX_F_TAG */
		if (i == 2)
			c.__pad = 1;
		else
			c.__reserved[i] = 1;
		if (i || !(c.flags & KMBOX_F_TAG))
			nonsense = true;
	}
	if (rng_pct(&R, 3))
		c.pid = (__s32)rand_u32();	/* output fields: ignored */
place:
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	up = place_arg(&c, sizeof(c), &ck);
	ADD(&shm->cs.started, 1);
	r = kb_ioctl(f->fd, KMBOX_IOC_CALL, up);
	ADD(&shm->cs.ended, 1);
	out = r >= 0 ? CO_REPLY : r == -EPIPE ? CO_EPIPE : r == -ETIMEDOUT ? CO_ETIMEDOUT :
	      r == -EINTR ? CO_EINTR : r == -EAGAIN ? CO_EAGAIN : r == -EFAULT ? CO_EFAULT :
	      r == -EINVAL || r == -EMSGSIZE ? CO_EINVAL : r == -EBADF || r == -EBADFD ? CO_EBADF :
	      CO_OTHER;
	ADD(&shm->cs.out[out], 1);
	if (!ptr_in_ok(ck))
		nonsense = false;	/* the kernel read whatever was there */
	if (r >= 0 && nonsense)
		bad("CALL succeeded with nonsense (req_len %u prio %u flags %#x deadline %llu)",
		    c.req_len, c.prio, c.flags, (unsigned long long)c.deadline_ns);
	if (r >= 0 && !acc_wr(f))
		bad("CALL succeeded on a file opened with access mode %d", f->acc);
	if (r >= 0 && ck == P_ROV)
		bad("CALL succeeded although its argument is read-only (the result cannot have been written)");
	if (r >= 0 && ptr_in_ok(ck)) {
		if (r > (long)c.reply_len)
			bad("CALL returned a %ld-byte reply for a %u-byte buffer", r, c.reply_len);
		if (r > 0 && (ptr_never_writable(rk) ||
			      (size_t)r > ptr_room((void *)(uintptr_t)c.reply, rk)))
			bad("CALL stored a %ld-byte reply in unwritable memory (kind %d)", r, rk);
		if (ptr_ok(ck) && up->reply_len != (__u32)r)
			bad("CALL returned %ld but reply_len %u", r, up->reply_len);
	}
	CHECK_ERRNO("CALL", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR,
		    EPIPE, ENOBUFS, ENOMEM);
}

/*
 * Answer a token a receive of this file reported (any process's), one
 * another file received, or one never issued: the last two are ENOENT.
 */
static void op_reply(void)
{
	struct ffile *f = call_file(true);
	struct kmbox_reply rp = { 0 }, *up;
	bool nonsense = false, mine = false, foreign = false;
	unsigned int i, start;
	enum pkind bk, pk;
	uint64_t key = 0;
	long r;

	if (!f)
		return;
	start = rng_below(&R, NRING);
	for (i = 0; f->fid && rng_pct(&R, 85) && i < NRING; i++) {
		uint64_t k = LD(&shm->ring[(start + i) % NRING]);

		if (k && (uint32_t)(k >> 44) == f->fid) {
			key = k;
			mine = true;
			break;
		}
	}
	for (i = 0; !key && rng_pct(&R, 30) && i < NRING; i++) {
		uint64_t k = LD(&shm->ring[(start + i) % NRING]);

		if (k && (uint32_t)(k >> 44) != f->fid) {
			key = k;
			foreign = true;
		}
	}
	rp.token = key ? key & ((1ULL << 44) - 1) : (1ULL << 63) | rand_u64();
	rp.len = rng_pct(&R, 85) ? rng_below(&R, 64) : rng_pct(&R, 50) ? rng_below(&R, 700) :
		 rand_u32();
	if (f->max_msgsize && rp.len > f->max_msgsize && f->own)
		nonsense = true;
	rp.buf = U64(rand_ptr(rp.len < GOOD_LEN ? rp.len : GOOD_LEN, &bk));
	if (rp.len && !ptr_ok(bk) && bk != P_RO && bk != P_REGION)
		nonsense = true;
	if (rp.len > GOOD_LEN && bk != P_REGION)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		rp.flags = 1u << rng_below(&R, 32);
		nonsense = true;
	} else if (rng_pct(&R, 3)) {
		rp.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	up = place_arg(&rp, sizeof(rp), &pk);
	r = kb_ioctl(f->fd, KMBOX_IOC_REPLY, up);
	if (r == 0)
		ADD(&shm->cs.replies_ok, 1);
	else if (r == -ENOENT)
		ADD(!mine && ptr_in_ok(pk) ? &shm->cs.forged_enoent : &shm->cs.replies_enoent, 1);
	else if (r == -EMSGSIZE)
		ADD(&shm->cs.replies_emsgsize, 1);
	else
		ADD(&shm->cs.replies_err, 1);
	if (r > 0)
		bad("REPLY returned %ld", r);
	if (ptr_in_ok(pk)) {
		if (r == 0 && nonsense)
			bad("REPLY succeeded with nonsense (len %u flags %#x buf kind %d)", rp.len,
			    rp.flags, bk);
		if (r == 0)
			tok_answered(f, rp.token, mine ? "received by this file" :
				     foreign ? "received by another file" : "never issued");
	}
	CHECK_ERRNO("REPLY", r, EBADFD, EFAULT, EINVAL, EMSGSIZE, ENOENT, ENOBUFS, ENOMEM);
}

/*
 * KMBOX_IOC_REPLY_RECV: op_reply()'s answer (a token this file received,
 * one never issued, or none), then a server's receive.  Oracle: the token
 * word of the argument says which half ended the call, whatever it
 * returned: kept, nothing was done (no message received, and a reply
 * that went would show as a call with no REPLY to give it its reply);
 * zeroed, the reply went once (tok_answered()), and no reply-half error
 * may follow.  A request received is recorded and served as op_recv()
 * does.  The argument is where the kernel can be judged: in our pages
 * (writable, or the read-only view: the token cannot be zeroed, so no
 * reply may go), or where nothing can be read.
 */
static void reply_recv_once(struct ffile *f, __u64 token, int depth)
{
	struct kmbox_reply_recv a = { 0 }, *up;
	struct kmbox_recvx x = { 0 }, *ux;
	bool nonsense = false, rnonsense = false, went;
	enum pkind bk, rbk, ak, xk;
	__u64 tz;
	long r;

	a.reply.token = token;
	a.reply.len = rng_pct(&R, 90) ? rng_below(&R, 64) : rand_u32();
	a.reply.buf = U64(rand_ptr(a.reply.len < GOOD_LEN ? a.reply.len : GOOD_LEN, &bk));
	if ((f->max_msgsize && a.reply.len > f->max_msgsize && f->own) ||
	    (a.reply.len && !ptr_ok(bk) && bk != P_RO && bk != P_REGION) ||
	    (a.reply.len > GOOD_LEN && bk != P_REGION))
		rnonsense = true;	/* only if there is a reply to make */
	/* The receive: mostly a server's, waiting a few ms or not at all. */
	x.r.flags = KMBOX_F_CALLS | (rng_pct(&R, 60) ? KMBOX_F_TIMEOUT : KMBOX_F_NONBLOCK);
	if (x.r.flags & KMBOX_F_TIMEOUT)
		x.r.deadline_ns = now_ns() + rng_below(&R, 8000000);
	x.r.len = 64 + rng_below(&R, 256);
	x.r.buf = U64(rand_ptr(x.r.len, &rbk));
	if (rng_pct(&R, 5)) {
		switch (rng_below(&R, 5)) {
		case 0: a.reply.flags = 1u << rng_below(&R, 32); break;
		case 1: a.reply.__reserved[rng_below(&R, 2)] = 1; break;
		case 2: a.__reserved = 1; break;
		case 3: x.__reserved[rng_below(&R, 2)] = 1; break;
		default: x.r.flags |= 1u << (9 + rng_below(&R, 23)); break;
		}
		nonsense = true;
	}
	arg_half = 1;
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	ux = place_arg(&x, sizeof(x), &xk);
	arg_half = 0;
	a.recv = U64(ux);
	T->rov_next = rng_pct(&R, T->mix->rov_pct);
	up = place_arg(&a, sizeof(a), &ak);
	if (!ptr_in_ok(ak) && !ptr_never_readable(ak)) {
		/* Readable but not ours to judge (the region, the zero page): ours. */
		T->rov_next = false;
		up = (void *)(args + rng_below(&R, (PG / 2 - sizeof(a)) / 8) * 8);
		memcpy(up, &a, sizeof(a));
		ak = P_GOOD;
	}
	if (ak == P_GOOD && rng_pct(&R, 3)) {
		/* Misaligned (room for 7 bytes is left): EINVAL, nothing done. */
		up = memmove((char *)up + 1 + rng_below(&R, 7), up, sizeof(a));
		ak = P_ODD;
	}
	if (!ptr_in_ok(xk))
		nonsense = false;	/* the kernel read whatever was there */
	ADD(&shm->cs.rr_calls, 1);
	r = kb_ioctl(f->fd, KMBOX_IOC_REPLY_RECV, up);
	if (r > 0x7fffffff)
		bad("REPLY_RECV returned %ld", r);
	if (ak == P_ODD) {
		if (r != -EINVAL && r != -EBADF && r != -EBADFD)
			bad("REPLY_RECV with a misaligned argument returned %ld", r);
		if (up->reply.token != token)
			bad("REPLY_RECV changed the token of a misaligned argument to %#llx",
			    (unsigned long long)up->reply.token);
		return;
	}
	if (ptr_never_readable(ak)) {
		/* (EBADF, EBADFD: the file is judged before the argument is read) */
		if (r != -EFAULT && r != -EBADF && r != -EBADFD)
			bad("REPLY_RECV with an unreadable argument (kind %d) returned %ld", ak, r);
		return;
	}
	tz = up->reply.token;
	went = token && !tz;
	if (tz && tz != token)
		bad("REPLY_RECV left token %#llx for %#llx", (unsigned long long)tz,
		    (unsigned long long)token);
	if (went) {
		ADD(&shm->cs.replies_ok, 1);
		ADD(&shm->cs.rr_went, 1);
		tok_answered(f, token, "REPLY_RECV");
		if (ak == P_ROV)
			bad("REPLY_RECV zeroed the token of a read-only argument");
		if (rnonsense || nonsense)
			bad("REPLY_RECV delivered a reply with nonsense (len %u buf kind %d)",
			    a.reply.len, bk);
		if (r == -ENOENT || r == -EBADF || r == -EINVAL)
			bad("REPLY_RECV failed with %ld after its reply went", r);
	}
	if (token && !went && r >= 0)
		bad("REPLY_RECV received a message although its reply did not go");
	if (r >= 0 && nonsense)
		bad("REPLY_RECV succeeded with nonsense");
	if (r >= 0 && !acc_rd(f))
		bad("REPLY_RECV succeeded on a file opened with access mode %d", f->acc);
	if (r >= 0 && xk == P_ROV)
		bad("REPLY_RECV received into a read-only receive argument");
	if (r >= 0 && ptr_ok(xk)) {
		ADD(&shm->cs.rr_received, 1);
		if ((__u32)r != ux->r.len || ux->r.len > x.r.len || ux->r.slot != KMBOX_NO_SLOT ||
		    ux->r.msg_flags)
			bad("REPLY_RECV result: ret %ld len %u flags %#x slot %u", r, ux->r.len,
			    ux->r.msg_flags, ux->r.slot);
		if (r > 0 && (ptr_never_writable(rbk) ||
			      (size_t)r > ptr_room((void *)(uintptr_t)x.r.buf, rbk)))
			bad("REPLY_RECV stored %ld bytes in unwritable memory (kind %d)", r, rbk);
		tok_received(f, ux->r.reply_token, "REPLY_RECV");
		/* A server's loop: answer it with the next receive, or as op_recv(). */
		if (ux->r.reply_token && depth < 4 && rng_pct(&R, 60)) {
			reply_recv_once(f, ux->r.reply_token, depth + 1);
			return;
		}
		serve(f, ux->r.reply_token);
	}
	CHECK_ERRNO("REPLY_RECV", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, ENOENT, ENOBUFS,
		    ENOMEM, EAGAIN, ETIMEDOUT, EINTR);
}

/* A token this file received (mostly), one never issued, or none. */
static void op_reply_recv(void)
{
	struct ffile *f = call_file(true);
	unsigned int i, start;
	__u64 token = 0;

	if (!f)
		return;
	start = rng_below(&R, NRING);
	for (i = 0; f->fid && rng_pct(&R, 80) && i < NRING; i++) {
		uint64_t k = LD(&shm->ring[(start + i) % NRING]);

		if (k && (uint32_t)(k >> 44) == f->fid) {
			token = k & ((1ULL << 44) - 1);
			break;
		}
	}
	if (!token && rng_pct(&R, 30))
		token = (1ULL << 63) | rand_u64();	/* never issued: ENOENT */
	reply_recv_once(f, token, 0);
}

/* Drop CAP_SYS_RESOURCE (all: everything) so the user quota bounds what we pin. */
static void drop_caps(bool all)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	int i;

	if (syscall(SYS_capget, &h, d))
		return;
	for (i = 0; i < 2; i++) {
		__u32 keep = all ? 0 : ~0u;

		if (!all && i == CAP_SYS_RESOURCE / 32)
			keep = ~(1u << (CAP_SYS_RESOURCE % 32));
		d[i].effective &= keep;
		d[i].permitted &= keep;
		d[i].inheritable &= keep;
	}
	if (syscall(SYS_capset, &h, d))
		say("capset: %s (the quota will not bound the fuzzer)", strerror(errno));
}

/* ---- the loop ------------------------------------------------------------------- */

static void do_op(enum op op)
{
	switch (op) {
	case OP_OPEN: op_open(); break;
	case OP_CLOSE: op_close(); break;
	case OP_DUP: op_dup(); break;
	case OP_BIND: op_bind(); break;
	case OP_UNLINK: op_unlink(); break;
	/* half of the "info" ops check the policies' accounting (op_policy()) */
	case OP_INFO: rng_pct(&R, 50) ? op_policy() : op_info(); break;
	case OP_GETATTR: op_getattr(); break;
	case OP_SEND: op_send(); break;
	case OP_RECV: op_recv(); break;
	case OP_SENDB: op_batch(true); break;
	case OP_RECVB: op_batch(false); break;
	case OP_RESV: op_reserve(); break;
	case OP_REL: op_release(); break;
	case OP_RIOCTL: op_random_ioctl(); break;
	case OP_RW: op_rw(); break;
	case OP_MMAP: op_mmap(); break;
	case OP_MAPMISC: op_map_misc(); break;
	case OP_POLL: op_poll(); break;
	case OP_FCNTL: op_fcntl(); break;
	case OP_FORK: op_fork(); break;
	case OP_SCHED: op_sched(); break;
	case OP_CALL: op_call(); break;
	case OP_REPLY: rng_pct(&R, 40) ? op_reply_recv() : op_reply(); break;
	case OP_FILTER: op_filter(); break;
	case OP_STATS: op_stats(); break;
	default: sleep_us(rng_below(&R, 200)); break;
	}
}

struct thr_arg {
	char who[12];
	int tidx;
	const struct mix *mix;
	unsigned long budget;
	uint64_t end;
	uint64_t seed_stream;
};

/* Per-thread memory and timer. */
static int thr_setup(struct thr *t, const struct thr_arg *a)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec its = { { 0, 10000000 }, { 0, 10000000 } };
	unsigned int i, sum = 0;
	int mfd;

	memset(t, 0, sizeof(*t));
	T = t;
	if (!in_grandchild && a->tidx < MAXTHREADS)
		threads[a->tidx] = t;
	snprintf(t->who, sizeof(t->who), "%s", a->who);
	t->tidx = a->tidx;
	t->mix = a->mix;
	t->budget = a->budget;
	t->end = a->end;
	rng_seed(&t->rng_s, opt_seed, a->seed_stream);
	for (i = 0; i < OP_N; i++)
		t->cum[i] = sum += a->mix->w[i];
	t->good_p = mmap(NULL, GOOD_LEN + PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->args_p = mmap(NULL, ARGS_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	mfd = memfd_create("kmbox-fuzz-rov", MFD_CLOEXEC);
	if (t->good_p == MAP_FAILED || t->args_p == MAP_FAILED || mfd < 0 || ftruncate(mfd, ROV_LEN))
		return -1;
	t->rov_rw = mmap(NULL, ROV_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	t->rov_ro = mmap(NULL, ROV_LEN, PROT_READ, MAP_SHARED, mfd, 0);
	close(mfd);
	if (t->rov_rw == MAP_FAILED || t->rov_ro == MAP_FAILED)
		return -1;
	mprotect(t->good_p + GOOD_LEN, PG, PROT_NONE);
	t->tid = gettid();
	sev._sigev_un._tid = gettid();
	if (!timer_create(CLOCK_MONOTONIC, &sev, &t->timer)) {
		t->has_timer = true;
		timer_settime(t->timer, 0, &its, NULL);
	} else {
		say("timer_create: %s", strerror(errno));
		return -1;
	}
	if (opt_faults && !geteuid()) {
		/* Subject this thread to failslab's task filter (root only). */
		int fd = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "1", 1) != 1)
			say("cannot set make-it-fail: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	/* Capabilities are per thread; make-it-fail needed CAP_SYS_RESOURCE. */
	drop_caps(false);
	if (a->mix->pinned) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(pin_cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	return 0;
}

static void thr_teardown(struct thr *t)
{
	struct sched_param sp = { 0 };

	if (t->has_timer)
		timer_delete(t->timer);
	sched_setscheduler(0, SCHED_OTHER, &sp);
	munmap(t->good_p, GOOD_LEN + PG);
	munmap(t->args_p, ARGS_LEN);
	munmap(t->rov_rw, ROV_LEN);
	munmap(t->rov_ro, ROV_LEN);
}

static void *thr_main(void *p)
{
	const struct thr_arg *a = p;
	struct thr *t = calloc(1, sizeof(*t));
	unsigned int total, i;
	uint64_t t0, t1;

	if (!t || thr_setup(t, a)) {
		diag("fuzz %s: thread setup failed", a->who);
		ADD(&shm->w[widx].impossible, 1);
		return NULL;
	}
	total = t->cum[OP_N - 1];
	while ((!t->budget || t->nops < t->budget) && !LD(&shm->stop) &&
	       (t->nops & 63 || now_ns() < t->end)) {
		unsigned int x = rng_below(&t->rng_s, total);

		t->nops++;
		for (i = 0; x >= t->cum[i]; i++)
			;
		cur_op = op_name[i];
		cur_file = NULL;
		t0 = opt_verbose ? now_ns() : 0;
		do_op((enum op)i);
		if (opt_verbose) {
			t1 = now_ns();
			t->nop[i]++;
			t->ns_op[i] += t1 - t0;
			t0 = t1;
		}
		if (cur_file && cur_file->fd >= 0 && cur_file->own && !cur_file->held_unknown &&
		    i >= OP_SEND && i <= OP_REL)
			hist(cur_file, '=', cur_file->nheld);
		if (cur_file && cur_file->fd >= 0) {
			oracle_getattr(cur_file);
			if (opt_verbose) {
				t1 = now_ns();
				t->n_ga++;
				t->ns_ga += t1 - t0;
				t0 = t1;
			}
		}
		release_holds();
		if (t->idle_left && !--t->idle_left) {
			struct sched_param sp = { 0 };

			sched_setscheduler(0, SCHED_OTHER, &sp);
		}
		if (opt_proc_every && t->nops >= t->proc_due) {
			t->proc_due = t->nops + opt_proc_every;
			oracle_proc();
			if (opt_verbose) {
				t->n_proc++;
				t->ns_proc += now_ns() - t0;
			}
		}
	}
	if (opt_verbose) {
		char buf[400];
		int n = 0;

		for (i = 0; i < OP_N; i++)
			if (t->nop[i])
				n += snprintf(buf + n, sizeof(buf) - n, " %s %lu/%lu", op_name[i],
					      t->nop[i], t->ns_op[i] / t->nop[i] / 1000);
		say("%lu ops; per kind, count/mean us:%s", t->nops, buf);
		say("oracle: %lu GETATTR checks, mean %lu us; %lu /proc checks, mean %lu us",
		    t->n_ga, t->n_ga ? t->ns_ga / t->n_ga / 1000 : 0, t->n_proc,
		    t->n_proc ? t->ns_proc / t->n_proc / 1000 : 0);
	}
	ADD(&shm->w[widx].nops, t->nops);
	thr_teardown(t);
	/* Not freed: another thread's report may read its history. */
	return NULL;
}

/*
 * Run @nthreads fuzzing threads (this thread is the first) in this process,
 * until the op budget or @end; close everything then.
 */
static void run_threads(const char *name, int nthreads, const struct mix *mix,
			unsigned long budget, uint64_t end, uint64_t stream)
{
	struct thr_arg a[MAXTHREADS];
	pthread_t th[MAXTHREADS];
	struct thr *saved;
	int i;

	if (nthreads > MAXTHREADS)
		nthreads = MAXTHREADS;
	for (i = 0; i < nthreads; i++) {
		snprintf(a[i].who, sizeof(a[i].who), nthreads > 1 ? "%s%d" : "%s", name, i);
		a[i].tidx = i;
		a[i].mix = mix;
		a[i].budget = budget;
		a[i].end = end;
		a[i].seed_stream = stream * 64 + i;
	}
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, thr_main, &a[i])) {
			diag("fuzz %s: pthread_create: %s", a[i].who, strerror(errno));
			nthreads = i;
			break;
		}
	saved = T;
	thr_main(&a[0]);
	T = saved;
	for (i = 1; i < nthreads; i++)
		pthread_join(th[i], NULL);
	close_all();
}

/* ---- workers ---------------------------------------------------------------------- */

struct worker {
	char name[8];
	char desc[96];
	char kind;		/* 'p' procs, 't' threads, 'z' zc, 'u' unpriv */
	int nthreads;
};

static void worker_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sa = (struct sigaction){ .sa_handler = on_alrm };	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGIO, SIG_IGN);
	signal(SIGURG, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

static void process_setup(void)
{
	int i;

	for (i = 0; i < NFD; i++) {
		pthread_rwlock_init(&files[i].lk, NULL);
		file_forget(&files[i]);
	}
	for (i = 0; i < NMAP; i++) {
		pthread_rwlock_init(&maps[i].lk, NULL);
		maps[i].p = NULL;
	}
	/* The read-only page, then a PROT_NONE one: a long read from it faults. */
	ro = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unmapped = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED || unmapped == MAP_FAILED)
		_exit(98);
	memset(ro, 'r', PG);
	mprotect(ro, PG, PROT_READ);
	mprotect(ro + PG, PG, PROT_NONE);
	/* Kept mapped PROT_NONE, so that no later mmap() lands there. */
	pin_cpu = 0;
}

/* Put the supervisor's shared files into this process's table. */
static void adopt(const int *fd, const uint32_t *fid, int n)
{
	int i;

	call_fid = fid[0];
	for (i = 0; i < n && i < NFD; i++) {
		files[i].fd = fd[i];
		files[i].fid = fid[i];
		files[i].acc = O_RDWR;
		files[i].bound = true;
	}
}

/* A small zero-copy mailbox of this worker's own, and a duplicate of it. */
static void add_small_zc(__u32 nslots, __u32 max_msgs)
{
	struct kmbox_attr at = { .max_msgs = max_msgs, .max_msgsize = 64, .zc_slots = nslots,
				 .zc_slot_size = 64 };
	int i, k, fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &at), d;
	uint32_t fid, mbid;

	if (fd < 0) {
		diag("fuzz: small zero-copy mailbox: %s", strerror(-fd));
		return;
	}
	fid = new_fid();
	mbid = new_mbid();
	for (i = 0; i < NFD && files[i].fd >= 0; i++)
		;
	if (i == NFD) {
		close(fd);
		return;
	}
	files[i].fd = fd;
	files[i].fid = fid;
	files[i].acc = O_RDWR;
	files[i].bound = true;
	files[i].max_msgsize = 64;
	files[i].nslots = nslots;
	if (fid)
		ST(&shm->fid_mbid[fid], mbid);
	if (mbid)
		ST(&shm->mb_nslots[mbid], nslots);
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	for (k = i; k < NFD && files[k].fd >= 0; k++)
		;
	if (d >= 0 && k < NFD) {
		file_copy(&files[k], &files[i]);
		files[k].fd = d;
		if (fid)
			ADD(&shm->nfd[fid], 1);
	} else if (d >= 0) {
		close(d);
	}
}

/*
 * Become an unprivileged user (@uid) in fresh user and IPC namespaces.
 * Must run before any thread exists (unshare(CLONE_NEWUSER) requires it).
 */
static void become_unprivileged(uid_t uid, bool map_root, bool drop_all_caps)
{
	char map[64];
	int fd;

	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
		say("cannot become uid %u: %s", uid, strerror(errno));
		return;
	}
	/* Credentials changed: dumpable (for our own /proc files) and death signal again. */
	prctl(PR_SET_DUMPABLE, 1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWUSER | CLONE_NEWIPC)) {
		say("uid %u: unshare(CLONE_NEWUSER|CLONE_NEWIPC): %s (fuzzing as uid %u in our namespaces)",
		    uid, strerror(errno), uid);
		capless = true;
		return;
	}
	if (map_root) {
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "deny", 4) < 0)
				say("setgroups deny: %s", strerror(errno));
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1\n", uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			say("uid_map: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			say("gid_map: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	/* Capabilities in the new namespace only; without them, mode bits apply. */
	if (drop_all_caps) {
		drop_caps(true);
		capless = true;
	}
}

static uint64_t run_end;
static unsigned long per_thread_ops;

static void worker_main(const struct worker *w, int idx, const int *sfd, const uint32_t *sfid,
			int nshared)
{
	struct thr boot;

	widx = idx;
	memset(&boot, 0, sizeof(boot));
	snprintf(boot.who, sizeof(boot.who), "%s", w->name);
	T = &boot;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	worker_signals();
	process_setup();
	adopt(sfd, sfid, nshared);
	pin_cpu = (int)(opt_seed % 2);
	switch (w->kind) {
	case 'p':
		run_threads(w->name, 1, &mix_general, per_thread_ops, run_end, idx);
		break;
	case 't':
		run_threads(w->name, w->nthreads, &mix_threads, per_thread_ops, run_end, idx);
		break;
	case 'z':
		add_small_zc(2, 4);
		add_small_zc(3, 8);
		run_threads(w->name, w->nthreads, &mix_zc, per_thread_ops, run_end, idx);
		break;
	case 'u': {
		/* Generations; each in namespaces that die with it. */
		unsigned long left = per_thread_ops, slice;
		unsigned int gen;

		for (gen = 0; !LD(&shm->stop) && now_ns() < run_end &&
		     (!per_thread_ops || left); gen++) {
			uint64_t end = now_ns() + 3000000000ULL;
			pid_t pid;
			int st, i;

			if (end > run_end)
				end = run_end;
			slice = per_thread_ops ? (left < 4000 ? left : 4000) : 0;
			left -= slice;
			for (i = 0; i < NFD; i++)
				if (files[i].fd >= 0 && files[i].fid)
					ADD(&shm->nfd[files[i].fid], 1);
			pid = fork();
			if (pid == 0) {
				char name[8];

				become_unprivileged(gen % 2 ? 65534 : 1000, gen % 4 < 2, gen % 2);
				snprintf(name, sizeof(name), "U%u.", gen);
				run_threads(name, w->nthreads, &mix_threads, slice, end,
					    idx * 1000 + gen);
				_exit(0);
			}
			if (pid < 0) {
				for (i = 0; i < NFD; i++)
					if (files[i].fd >= 0 && files[i].fid)
						fid_put(files[i].fid);
				break;
			}
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				diag("fuzz %s: generation %u ended with status %#x", w->name, gen,
				     st);
				ADD(&shm->w[widx].impossible, 1);
			}
		}
		if (opt_verbose)
			diag("fuzz %s: %u generations", w->name, gen);
		close_all();
		break;
	}
	}
	_exit(0);
}

/* ---- the supervisor ------------------------------------------------------------------- */

/*
 * Unlink every named mailbox of our (private) IPC namespace: the fuzzer
 * creates names from random bytes.  /proc/kmbox/mailboxes escapes space,
 * tab, newline and backslash as \ooo; every other byte comes as is.
 */
static int unlink_all_names(void)
{
	FILE *f = fopen("/proc/kmbox/mailboxes", "r");
	char line[4096], copy[4096], name[KMBOX_NAME_MAX + 2], *tok[KB_MB_MAXCOLS];
	struct kb_mbcols c;
	int n = 0, cname, cflags;

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	kb_mb_header(&c, line);
	cname = kb_mb_col(&c, "name");
	cflags = kb_mb_col(&c, "flags");
	while (cname >= 0 && cflags >= 0 && fgets(line, sizeof(line), f)) {
		char *p;
		size_t k = 0;
		int nt;

		snprintf(copy, sizeof(copy), "%s", line);
		nt = kb_mb_fields(copy, tok, KB_MB_MAXCOLS);
		if (nt <= cname || nt <= cflags || !strchr(tok[cflags], 'N') ||
		    strchr(tok[cflags], 'U'))
			continue;
		for (p = tok[cname]; *p && k < sizeof(name) - 1;) {
			if (*p == '\\' && strlen(p) >= 4) {
				name[k++] = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
				p += 4;
			} else {
				name[k++] = *p++;
			}
		}
		name[k] = 0;
		if (!kb_unlink(name))
			n++;
	}
	fclose(f);
	return n;
}

/* Lines of /proc/kmbox/mailboxes after the header, printed. */
static int leftover_mailboxes(void)
{
	FILE *f = fopen("/proc/kmbox/mailboxes", "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		while (fgets(line, sizeof(line), f)) {
			if (n++ < 10)
				diag("left over: %.*s", (int)strcspn(line, "\n"), line);
		}
	fclose(f);
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: kmbox_fuzz [--seed S] [--ops N] [--duration SECONDS]\n"
			"                  [--mode all|procs,threads,zc,unpriv] [--threads N]\n"
			"                  [--proc-every N] [--faults] [--keep-going] [--verbose]\n"
			"(also reads $KMBOX_FUZZ_ARGS)\n");
	exit(2);
}

/* Is worker kind @m in --mode (all, or a comma-separated list)? */
static bool mode_has(const char *m)
{
	size_t n = strlen(m);
	const char *p;

	if (!strcmp(opt_mode, "all"))
		return true;
	for (p = opt_mode; (p = strstr(p, m)); p += n)
		if ((p == opt_mode || p[-1] == ',') && (!p[n] || p[n] == ','))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct kmbox_attr zc = { .max_msgs = 16, .max_msgsize = 256, .zc_slots = 8,
				 .zc_slot_size = 256 };
	struct kmbox_attr pl = { .max_msgs = 16, .max_msgsize = 512 };
	struct worker ws[NWORKERS];
	int shared[4], i, j, st, pfd[2], nw = 0, nthreads = 0;
	uint32_t sfid[4];
	bool crashed = false, hung = false;
	pid_t pid[NWORKERS];
	struct kb_stats kst;
	pthread_mutexattr_t ma;
	unsigned long total = 0;
	__u64 t0, limit;
	char line[512];
	struct thr boot;
	FILE *in;

	env_args("KMBOX_FUZZ_ARGS", &argc, &argv);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed"))
			opt_seed = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--ops"))
			opt_ops = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--duration"))
			opt_duration = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--threads"))
			opt_threads = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--proc-every"))
			opt_proc_every = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			opt_mode = argv[++i];
		else if (!strcmp(argv[i], "--verbose"))
			opt_verbose = true;
		else if (!strcmp(argv[i], "--faults"))
			opt_faults = true;
		else if (!strcmp(argv[i], "--keep-going"))
			opt_keep_going = true;
		else
			usage();
	}
	if (!mode_has("procs") && !mode_has("threads") && !mode_has("zc") && !mode_has("unpriv"))
		usage();
	if (opt_threads < 1 || opt_threads > MAXTHREADS)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&boot, 0, sizeof(boot));
	snprintf(boot.who, sizeof(boot.who), "sup");
	T = &boot;

	if (mode_has("procs")) {
		ws[nw++] = (struct worker){ "A", "A (procs: one of two processes sharing files)", 'p', 1 };
		ws[nw++] = (struct worker){ "B", "B (procs: the other one)", 'p', 1 };
	}
	if (mode_has("threads"))
		ws[nw++] = (struct worker){ "T", "", 't', (int)opt_threads };
	if (mode_has("zc"))
		ws[nw++] = (struct worker){ "Z", "", 'z',
					    (int)(opt_threads < MAXTHREADS ? opt_threads + 1 : MAXTHREADS) };
	if (mode_has("unpriv"))
		ws[nw++] = (struct worker){ "U", "U (unpriv: uid 1000/65534 in new user+IPC namespaces, 2 threads)", 'u', 2 };
	for (i = 0; i < nw; i++) {
		if (ws[i].kind == 't')
			snprintf(ws[i].desc, sizeof(ws[i].desc),
				 "T (threads: %d threads sharing one file table)", ws[i].nthreads);
		if (ws[i].kind == 'z')
			snprintf(ws[i].desc, sizeof(ws[i].desc),
				 "Z (zc: %d threads, zero-copy on small regions, RO arguments, SCHED_IDLE)",
				 ws[i].nthreads);
		nthreads += ws[i].nthreads;
	}
	per_thread_ops = opt_ops ? (opt_ops + nthreads - 1) / nthreads : 0;

	ktap_plan(nw + 5);
	diag("kmbox_fuzz --seed %llu --ops %llu --duration %llu --mode %s --threads %llu --proc-every %llu%s",
	     opt_seed, opt_ops, opt_duration, opt_mode, opt_threads, opt_proc_every,
	     opt_faults ? " --faults" : "");
	if (mode_has("zc"))
		slot_log_setup();
	/* Our names in a namespace of our own: nothing else is touched. */
	if (unshare(CLONE_NEWIPC))
		diag("unshare(CLONE_NEWIPC): %s (using the current namespace)", strerror(errno));

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		ktap_result(false, "fuzz setup: shared memory: %s", strerror(errno));
		return 1;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	for (i = 0; i < NLOCKS; i++)
		pthread_mutex_init(&shm->lk[i], &ma);
	for (i = 0; i < nw; i++) {
		memcpy(shm->w[i].name, ws[i].name, sizeof(shm->w[i].name));
		snprintf(shm->w[i].desc, sizeof(shm->w[i].desc), "%s", ws[i].desc);
		shm->w[i].used = 1;
	}

	for (i = 0; i < NNAMES; i++)
		kb_unlink(fuzz_names[i]);
	shared[0] = kb_open("kmbox-fuzz-A", O_RDWR, KMBOX_OPEN_CREAT, 0600, &pl);
	shared[1] = kb_open("kmbox-fuzz-Z", O_RDWR, KMBOX_OPEN_CREAT, 0600, &zc);
	shared[2] = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &zc);
	shared[3] = kb_open(NULL, O_RDWR | O_NONBLOCK, KMBOX_OPEN_ANON, 0, &pl);
	for (i = 0; i < 4; i++) {
		if (shared[i] < 0) {
			ktap_result(false, "fuzz setup: %s", strerror(-shared[i]));
			return 1;
		}
		/* Counted per worker that inherits it, below. */
		sfid[i] = ADD(&shm->next_fid, 1);
	}
	/* The two with a region: mailboxes we know. */
	for (i = 1; i <= 2; i++) {
		uint32_t mb = ADD(&shm->next_mbid, 1);

		shm->fid_mbid[sfid[i]] = mb;
		shm->mb_nslots[mb] = zc.zc_slots;
	}

	if (pipe(pfd))
		return 1;
	t0 = now_ns();
	run_end = opt_duration ? t0 + opt_duration * 1000000000ULL : ~0ULL;
	for (i = 0; i < nw; i++) {
		for (j = 0; j < 4; j++)
			ADD(&shm->nfd[sfid[j]], 1);
		fflush(stdout);
		pid[i] = fork();
		if (pid[i] == 0) {
			close(pfd[0]);
			dup2(pfd[1], STDOUT_FILENO);
			close(pfd[1]);
			worker_main(&ws[i], i, shared, sfid, 4);
		}
	}
	close(pfd[1]);
	for (i = 0; i < 4; i++)
		close(shared[i]);

	/* Relay the workers' lines. */
	limit = (opt_duration ? opt_duration : 3600) + 120;
	in = fdopen(pfd[0], "r");
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };

		if (now_ns() - t0 > limit * 1000000000ULL)
			break;
		if (poll(&pf, 1, 1000) <= 0)
			continue;
		if (!fgets(line, sizeof(line), in))
			break;
		fputs(line, stdout);
	}
	for (i = 0; i < nw; i++) {
		struct wstat *s = &shm->w[i];
		bool ok;

		while (waitpid(pid[i], &st, WNOHANG) == 0) {
			if (now_ns() - t0 > limit * 1000000000ULL) {
				char path[64], buf[256] = "";
				FILE *w;

				snprintf(path, sizeof(path), "/proc/%d/wchan", pid[i]);
				w = fopen(path, "r");
				if (w) {
					if (!fgets(buf, sizeof(buf), w))
						buf[0] = 0;
					fclose(w);
				}
				diag("fuzz %s hangs (wchan %s); killing it", ws[i].name, buf);
				hung = true;
				kill(pid[i], SIGKILL);
			}
			sleep_us(100000);
		}
		if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 99)) {
			if (!hung)
				crashed = true;
			diag("fuzz %s: %s %d", ws[i].name,
			     WIFSIGNALED(st) ? "killed by signal" : "exit",
			     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
		ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !LD(&s->impossible) && !LD(&s->oracle);
		total += LD(&s->nops);
		diag("fuzz %s: %lu ops, %lu impossible results, %lu invariant failures", ws[i].name,
		     LD(&s->nops), LD(&s->impossible), LD(&s->oracle));
		ktap_result(ok, "fuzz %s: no impossible result, no broken invariant", s->desc);
	}
	diag("fuzz oracle: %lu GETATTR checks, %lu /proc checks, %lu slot hand-outs recorded",
	     LD(&shm->getattr_checks), LD(&shm->proc_checks), LD(&shm->handouts));
	diag("fuzz filters and stats: %lu FILTER ops, %lu received tags checked, %lu STATS ops, %lu snapshots checked",
	     LD(&shm->flt_ops), LD(&shm->flt_checks), LD(&shm->stat_ops), LD(&shm->stat_checks));
	diag("fuzz policies: %lu runs (%lu against the exact model), %lu RECV_BATCHX on them (%lu messages, %lu EFAULT), %lu on shared files",
	     LD(&shm->pol_runs), LD(&shm->pol_exact), LD(&shm->bx_calls), LD(&shm->bx_msgs),
	     LD(&shm->bx_faults), LD(&shm->bx_general));
	diag("fuzz io_uring: %lu KMBOX_URING_RECV_BATCH on policy mailboxes, %lu elsewhere; %lu rings retired (their fd closed by another thread)",
	     LD(&shm->bx_uring), LD(&shm->ur_general), LD(&shm->ur_retired));
	diag("fuzz io_uring: %lu KMBOX_URING_SEND_BATCH on policy mailboxes (%lu messages, %lu cut by a bad entry), %lu elsewhere",
	     LD(&shm->sb_uring), LD(&shm->sb_msgs), LD(&shm->sb_cut), LD(&shm->sb_general));
	ktap_result(!LD(&shm->oracle_fail), "fuzz invariant oracle held (%lu failures)",
		    LD(&shm->oracle_fail));
	ktap_result(!crashed && !hung, "fuzz no crash or hang of the fuzzer");
	{
		const struct callstat *cs = &shm->cs;
		unsigned long lost = cs->started - cs->ended;
		bool agree;

		diag("fuzz calls: %lu made: reply %lu, EPIPE %lu, ETIMEDOUT %lu, EINTR %lu, EAGAIN %lu, EFAULT %lu, EINVAL/EMSGSIZE %lu, EBADF/EBADFD %lu, other %lu; %lu never returned (killed)",
		     cs->started, cs->out[CO_REPLY], cs->out[CO_EPIPE], cs->out[CO_ETIMEDOUT],
		     cs->out[CO_EINTR], cs->out[CO_EAGAIN], cs->out[CO_EFAULT], cs->out[CO_EINVAL],
		     cs->out[CO_EBADF], cs->out[CO_OTHER], lost);
		diag("fuzz replies: %lu ok, %lu ENOENT (caller gone), %lu ENOENT (token forged or another file's), %lu EMSGSIZE, %lu other errors; %lu reply tokens received%s",
		     cs->replies_ok, cs->replies_enoent, cs->forged_enoent, cs->replies_emsgsize,
		     cs->replies_err, cs->tokens, cs->tok_full ? " (token table full: some not checked)" : "");
		diag("fuzz synchronous sends: %lu received, %lu failed; %lu binds to rendezvous mailboxes",
		     cs->sync_ok, cs->sync_err, cs->rdv_bound);
		diag("fuzz REPLY_RECV: %lu made, %lu replies went, %lu requests received",
		     cs->rr_calls, cs->rr_went, cs->rr_received);
		/* A call returns a reply only if a REPLY gave it one; a REPLY that
		 * succeeded reached a call, which returned it or could not store it. */
		agree = cs->out[CO_REPLY] <= cs->replies_ok &&
			cs->replies_ok <= cs->out[CO_REPLY] + cs->out[CO_EFAULT] + lost;
		ktap_result(agree, "fuzz calls and replies agree (%lu replies returned, %lu REPLY succeeded)",
			    cs->out[CO_REPLY], cs->replies_ok);
	}

	slot_log_teardown();
	for (i = 0; i < NNAMES; i++)
		kb_unlink(fuzz_names[i]);
	i = unlink_all_names();
	if (opt_verbose)
		diag("unlinked %d more names made by the fuzzer", i);
	if (access("/proc/kmbox/stats", R_OK)) {
		ktap_skip("fuzz kernel counters back to zero (no /proc/kmbox/stats)");
		ktap_skip("fuzz no mailbox left (no /proc/kmbox/mailboxes)");
	} else {
		bool z = kb_wait_stats_zero(&kst, 5000);
		int left = leftover_mailboxes();

		if (!z)
			kb_stats_diag("/proc/kmbox/stats", &kst);
		ktap_result(z, "fuzz kernel counters back to zero");
		ktap_result(left == 0, "fuzz no mailbox left in our namespace (%d)", left);
	}
	diag("fuzz: %lu ops done in %.1f s", total, (now_ns() - t0) / 1e9);
	return ktap_failed ? 1 : 0;
}
