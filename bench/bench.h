/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmbox-bench: shared declarations.  The method is described at the top of
 * main.c and in README.md.
 */
#ifndef KMBOX_BENCH_H
#define KMBOX_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hist.h"

#define KiB		1024UL
#define MiB		(1024UL * 1024UL)
#define MAX_SIDE	4		/* producers or consumers per queue */
#define MAX_PROCS	(2 * MAX_SIDE)

enum { ROLE_TX, ROLE_RX };

/* mech.flags */
#define MF_STREAM	(1U << 0)	/* byte stream: framed with a header */
#define MF_MPMC		(1U << 1)	/* several senders and receivers on one queue */
#define MF_KMBOX	(1U << 2)	/* needs /dev/kmbox */
#define MF_DUPLEX	(1U << 3)	/* one connection carries both directions */
#define MF_EXTRA	(1U << 4)	/* not in the default set */
#define MF_CALL		(1U << 5)	/* request/reply only: the call workload */
#define MF_SELECT	(1U << 6)	/* selective receive only: tagdepth.c */

/* What a channel is created for; fixed before fork. */
struct chan_cfg {
	size_t msg_size;	/* payload of data messages */
	size_t max_size;	/* largest message carried (data or end marker) */
	unsigned int depth;	/* messages the queue should hold */
	unsigned int nprod, ncons;
	bool latency;		/* ping-pong: nothing may be held back */
};

/*
 * One direction of communication (a queue), created by the parent before
 * fork and inherited by the children.  A duplex mechanism used for
 * ping-pong creates one connection and a second struct chan that refers to
 * it reversed (@rev_of).
 */
struct chan {
	const struct mech *m;
	struct chan_cfg cfg;
	int fd[4];
	int id;			/* SysV queue id */
	char name[96];		/* FIFO path, mq name, kmbox name */
	void *shm;		/* shared ring */
	size_t shm_len;
	struct chan *rev_of;	/* duplex: the chan whose ends we swap */
	unsigned long priv;	/* mechanism-specific */
};

/* One process's end of a channel. */
struct ep {
	struct chan *ch;
	int role;
	void *st;		/* mechanism state, freed by detach */
};

/*
 * A mechanism.  Every call returns -1 (or NULL) with errno set on failure.
 * tx_begin() gives a buffer the caller fills with @len bytes in place and
 * tx_commit() sends it; rx_begin() returns the next message in place and
 * rx_end() gives it back.  So a zero-copy path and a shared ring are used
 * exactly like a copying one: the sender writes every byte once into what
 * tx_begin() returned and the receiver reads every byte of what rx_begin()
 * returned.
 */
struct mech {
	const char *name;
	const char *desc;
	unsigned int flags;
	/* 0 if usable; else a reason in @why (e.g. module not loaded) */
	int (*probe)(char *why, size_t n);
	/* largest payload, 0 = no limit of its own */
	size_t (*max_msg)(const struct chan_cfg *cfg);
	int (*create)(struct chan *c);
	void (*destroy)(struct chan *c);
	int (*attach)(struct chan *c, struct ep *e, int role);
	void (*detach)(struct ep *e);
	void *(*tx_begin)(struct ep *e, size_t len);
	int (*tx_commit)(struct ep *e, size_t len);
	int (*tx_flush)(struct ep *e);		/* may be NULL */
	const void *(*rx_begin)(struct ep *e, size_t *len);
	int (*rx_end)(struct ep *e);
	/* messages already taken from the kernel, not yet handed out */
	unsigned int (*rx_pending)(struct ep *e);	/* may be NULL */
	/*
	 * MF_CALL mechanisms (one channel, both directions): the client
	 * fills what tx_begin() returned and call() sends it as a request
	 * and returns the reply in place (@rlen its length); the server
	 * takes a request with rx_begin()/rx_end() and answers it with
	 * tx_begin()/tx_commit() on the same end.
	 */
	const void *(*call)(struct ep *e, size_t len, size_t *rlen);
};

extern const struct mech *const mechs[];
extern const unsigned int nmechs;

/* helpers shared by the mechanism files (util.c) */
int write_all(int fd, const void *buf, size_t len);
int write_file(const char *path, const char *val);
int read_file(const char *path, char *buf, size_t n);
long read_long(const char *path);
size_t pow2_at_least(size_t v);
void *xcalloc(size_t n, size_t sz);
void *xaligned(size_t len);	/* page-aligned, zeroed; free with free() */
uint64_t now_ns(void);
/* map every page of a shared mapping now, so no measurement pays faults */
void prefault(void *p, size_t len, bool write);
extern char bench_tag[32];	/* unique per run: names of IPC objects */
extern int kmbox_present;	/* /dev/kmbox opened fine */
extern char mech_err[160];	/* set by create() to explain a failure */
/*
 * Set by SIGUSR1 in a consumer: a blocking receive of a mechanism that
 * buffers received messages (batches) gives up with ECANCELED.  See
 * "end of stream" in run.c.
 */
extern volatile int bench_cancel;

/* ------------------------------------------------------- measurements */

enum { WL_LAT, WL_STREAM, WL_MPMC, WL_CALL, WL_DEPTH, WL_TAGDEPTH, NWL };
enum { PL_CROSS, PL_SAME, NPL };

/* one measurement to run */
struct job {
	const struct mech *m;
	int wl, place;
	size_t size, poison_len;
	unsigned int nprod, ncons, depth;
	int cpu_tx, cpu_rx;
	/*
	 * Warm-up ends after warm_min iterations and warm_ns, or at
	 * warm_cap_ns; the measured part after min_msgs and run_ns, or at
	 * cap_ns from its start.
	 */
	uint64_t warm_ns, warm_cap_ns, run_ns, cap_ns;
	uint64_t warm_min, min_msgs;		/* iterations / messages */
	uint64_t timeout_ns;			/* parent kills after this */
};

/* what a measurement gave */
struct outcome {
	char status[12];	/* ok, n/a, error, timeout, corrupt, skipped */
	char note[160];
	uint64_t n;		/* samples (lat) or messages (stream) measured */
	double p50, p90, p99, p999, pmax, mean;	/* microseconds, lat */
	double mps, mbps;	/* stream */
	double cpu_us;		/* CPU time of all processes per message/RT */
	double send_us, recv_us;	/* depth: median cost of one send, receive */
	/*
	 * Stopped at its time cap short of its minimum count: starved (the
	 * host took the vCPUs within the measurement, where the probes
	 * around its group may not see it); counted as disturbed.
	 */
	bool capped;
	double secs;		/* wall time of the whole measurement */
};

int run_job(const struct job *j, struct outcome *o);
void run_kill_children(void);

/* a stored result */
struct rec {
	int round, place, wl, mech, size_i, pc_i;
	int variant;		/* --ab: 0 = module A, 1 = module B */
	double noise;		/* CPU-loop slowdown around its group */
	double xnoise;		/* cross-CPU spin slowdown around it */
	struct outcome o;
};

/* ------------------------------------------------------ configuration */

#define MAX_SIZES	16
#define MAX_PCS		8
#define MAX_MECHS	32

struct config {
	bool quick;
	int rounds;
	uint64_t run_ms, warm_ms;
	uint64_t lat_min, stream_min;	/* messages, per measurement */
	size_t sizes[MAX_SIZES];
	int nsizes;
	size_t mpmc_sizes[MAX_SIZES];
	int nmpmc_sizes;
	size_t call_sizes[MAX_SIZES];	/* request = reply size, >= 8 B */
	int ncall_sizes;
	size_t depths[MAX_SIZES];	/* depth workload: messages queued */
	int ndepths;
	size_t depth_size;		/* depth workloads: message size */
	size_t tagdepths[MAX_SIZES];	/* tagdepth workload: others queued */
	int ntagdepths;
	unsigned int pcs[MAX_PCS][2];	/* producers, consumers */
	int npcs;
	bool wl_on[NWL], pl_on[NPL];
	int mech[MAX_MECHS];		/* indexes into mechs[] */
	int nmech;
	char skip_why[MAX_MECHS][160];	/* probe failure, per mechs[] index */
	unsigned int depth;		/* 0: by size */
	const char *out;
	double max_time;		/* seconds for the whole run */
	int cpu_a, cpu_b;
	bool raise_limits;
	int verbose;
	char cmd[512];
	int argc;			/* the command line, for the rerun hint */
	char **argv;
	char limits_note[512];		/* what was raised */
	double elapsed;			/* filled at the end */
	int truncated;			/* measurements skipped by max_time */
	double probe_base_us;		/* interference probe: quiet time */
	double spin_base_rtt_us;	/* cross-CPU spin round trip, quiet */
	bool spin_base_capped;		/* no quiet reading at start */
	double quiet_wait, quiet_waited;	/* s allowed / used */
	/* --ab A.ko,B.ko: the two modules measured against each other */
	bool ab;
	char ab_ko[2][256];
	int ab_swaps;			/* module reloads done */
	double ab_swap_s;		/* time they took */
};

unsigned int depth_for(const struct config *cfg, size_t size);
/* a measurement next to host interference (probe thresholds) */
static inline bool disturbed(double noise, double xnoise)
{
	return noise > 1.5 || xnoise > 3.0;
}
const char *size_label(size_t size, char *buf, size_t n);

/* fanin.c: the fan-in workload (--fanin), appended to @report */
int fanin_run(const struct config *cfg, int n, const char *report);

/* report.c */
void sysinfo_collect(void);
void sysinfo_set(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sysinfo_print(FILE *f);
int report_write(const struct config *cfg, const struct rec *recs, size_t n);
/* after report_write(): why verdicts were refused and how to rerun, or "" */
const char *report_inconclusive(void);

/* report.c: why no verdict may be drawn on this system, or "" */
const char *report_config_bad(void);

/* ab.c: --ab, module A against module B in one run */
int ab_parse(struct config *cfg, const char *arg);
/* load module @variant (0 = A, 1 = B) in place of whatever is loaded */
int ab_load(struct config *cfg, int variant);
int ab_report_write(const struct config *cfg, const struct rec *recs, size_t n);
/* after ab_report_write(): why readings were refused, or "" */
const char *ab_inconclusive(void);

/* mech_kmbox.c */
void kmbox_describe(char *buf, size_t n);
/* depth workload: create a mailbox, open it O_RDWR, unlink it */
int kmbox_depth_open(const char *name, unsigned int max_msgs, size_t msgsize);
int kmbox_depth_send(int fd, const void *buf, size_t len, unsigned int prio);
ssize_t kmbox_depth_recv(int fd, void *buf, size_t len);
unsigned int kmbox_max_msgs_cap(void);	/* 0 if not known */
/* 0 if the module is there with every bit of @feat, else a reason in @why */
int kmbox_probe_features(char *why, size_t n, uint64_t feat);

/* depth.c */
int run_depth_job(const struct job *j, struct outcome *o);

/* tagdepth.c: selective receive against queue depth */
int run_tagdepth_job(const struct job *j, struct outcome *o);

/* run.c: the payload pattern (word 0 = seed) */
void bench_fill(void *p, size_t len, uint64_t seed);
int bench_verify(const void *p, size_t len, uint64_t seed);

#endif /* KMBOX_BENCH_H */
