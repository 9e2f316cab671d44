// SPDX-License-Identifier: MIT
/*
 * jobq: a job queue with priorities and a pool of worker threads.
 *
 * One named mailbox holds the jobs.  The main thread submits them in
 * batches, urgent ones at a higher priority; WORKERS threads share one
 * descriptor and each takes the next job.  The kernel serves threads
 * asleep on one mailbox one message each, in the order they went to
 * sleep, and a job goes to exactly one of them.  A stop message per
 * worker, at the lowest priority, ends the pool once the jobs are done.
 *
 * Build:  cc -o jobq jobq.c $(pkg-config --cflags --libs kmbox) -pthread
 * Run:    ./jobq          (needs the kmbox module: /dev/kmbox)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <kmbox.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOBS		2000
#define WORKERS		4
#define PRIO_URGENT	10
#define PRIO_NORMAL	1
#define PRIO_STOP	0	/* below every job: workers stop last */

struct job {
	uint32_t id;		/* JOBS: stop */
	uint32_t arg;
};

static int queue;
static unsigned int done[JOBS];		/* times each job was run */
static unsigned long work[WORKERS];	/* jobs each worker ran */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *p)
{
	unsigned int me = (unsigned int)(uintptr_t)p;
	struct kmbox_msginfo info;
	struct job job;
	ssize_t n;

	for (;;) {
		/* Blocks until a job comes; no lock needed around the call. */
		n = kmbox_receive_info(queue, &job, sizeof(job), &info, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("jobq: kmbox_receive_info");
			exit(1);
		}
		if (n != (ssize_t)sizeof(job) || job.id > JOBS) {
			fprintf(stderr, "jobq: bad job from pid %d\n", (int)info.pid);
			continue;
		}
		if (job.id == JOBS)
			return NULL;
		pthread_mutex_lock(&lock);
		done[job.id]++;
		work[me]++;
		pthread_mutex_unlock(&lock);
	}
}

/* Send @n jobs in as few calls as the batch API allows. */
static int submit(const struct job *jobs, const unsigned int *prio, unsigned int n)
{
	struct kmbox_mmsg m[KMBOX_BATCH_MAX];
	unsigned int i, k;
	int sent;

	for (i = 0; i < n; i += (unsigned int)sent) {
		for (k = 0; k < KMBOX_BATCH_MAX && i + k < n; k++)
			kmbox_mmsg_prep(&m[k], &jobs[i + k], sizeof(jobs[0]), prio[i + k]);
		/* Sleeps while the queue is full; may queue fewer than k. */
		sent = kmbox_send_batch(queue, m, k, 0, NULL);
		if (sent < 0) {
			if (errno == EINTR) {
				sent = 0;
				continue;
			}
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	const struct kmbox_attr attr = {
		.max_msgs = 256,
		.max_msgsize = sizeof(struct job),
	};
	static struct job jobs[JOBS + WORKERS];
	static unsigned int prio[JOBS + WORKERS];
	pthread_t tid[WORKERS];
	unsigned int i, bad = 0;
	char name[64];

	snprintf(name, sizeof(name), "jobq.%d", (int)getpid());
	queue = kmbox_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
	if (queue < 0) {
		fprintf(stderr, "jobq: kmbox_open %s: %s%s\n", name, strerror(errno),
			errno == ENODEV ? " (is the kmbox module loaded?)" : "");
		return 1;
	}
	/* The name is not needed once the queue is open: nothing is left behind. */
	if (kmbox_unlink(name))
		perror("jobq: kmbox_unlink");

	for (i = 0; i < WORKERS; i++) {
		if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i)) {
			fputs("jobq: pthread_create failed\n", stderr);
			return 1;
		}
	}
	for (i = 0; i < JOBS; i++) {
		jobs[i] = (struct job){ .id = i, .arg = i * 7 };
		prio[i] = i % 10 == 0 ? PRIO_URGENT : PRIO_NORMAL;
	}
	for (i = 0; i < WORKERS; i++) {
		jobs[JOBS + i] = (struct job){ .id = JOBS };
		prio[JOBS + i] = PRIO_STOP;
	}
	if (submit(jobs, prio, JOBS + WORKERS)) {
		perror("jobq: kmbox_send_batch");
		return 1;
	}
	for (i = 0; i < WORKERS; i++)
		pthread_join(tid[i], NULL);
	close(queue);

	for (i = 0; i < JOBS; i++)
		if (done[i] != 1)
			bad++;
	printf("jobq: %u jobs, %u workers (", JOBS, WORKERS);
	for (i = 0; i < WORKERS; i++)
		printf("%s%lu", i ? " " : "", work[i]);
	printf(" jobs each): %s\n", bad ? "some not run exactly once" : "every job run exactly once");
	return bad ? 1 : 0;
}
