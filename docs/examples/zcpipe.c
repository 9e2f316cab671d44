// SPDX-License-Identifier: MIT
/*
 * zcpipe: a three-stage pipeline of 1 MiB frames, zero-copy.
 *
 *   producer --[ab]--> filter --[bc]--> consumer
 *
 * ab and bc are anonymous mailboxes with a zero-copy region of 1 MiB
 * slots.  The producer writes each frame straight into a slot of ab's
 * region and sends the slot; the filter reads it in place, writes its
 * result into a slot of bc's region (a slot received from one mailbox
 * cannot be sent on to another: that is the one copy per hop), and gives
 * the first slot back; the consumer checks the frame in place.  An empty
 * copied message ends the stream.
 *
 * Each stage gets a file of its own with kmbox_reopen(), rather than the
 * descriptors fork() shares: slots belong to a file, so a stage that dies
 * gives back the slots it holds, whatever the others keep open.
 * max_msgsize is left 0, so it follows the slot size.
 *
 * Build:  cc -o zcpipe zcpipe.c $(pkg-config --cflags --libs kmbox)
 * Run:    ./zcpipe        (needs the kmbox module: /dev/kmbox)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <kmbox.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAME	(1U << 20)
#define FRAMES	16
#define SLOTS	4

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Frame @i as the producer makes it, byte @k. */
static unsigned char pattern(uint32_t i, size_t k)
{
	return (unsigned char)(i * 31 + k * 7 + (k >> 12));
}

static void producer(int out)
{
	struct kmbox_region r;
	uint32_t i, slot;
	unsigned char *p;
	size_t k;

	if (kmbox_region_map(out, &r))
		die("producer: kmbox_region_map");
	for (i = 0; i < FRAMES; i++) {
		if (kmbox_zc_reserve(out, &slot, 1, 0, NULL) != 1)
			die("producer: kmbox_zc_reserve");
		p = kmbox_slot_ptr(&r, slot);
		for (k = 0; k < FRAME; k++)
			p[k] = pattern(i, k);
		if (kmbox_zc_send(out, slot, FRAME, 0, 0, NULL))
			die("producer: kmbox_zc_send");
	}
	if (kmbox_send(out, "", 0, 0))	/* end of stream */
		die("producer: kmbox_send");
}

/*
 * Receive a frame as a slot; 1 with *@slot set, 0 at the end of the
 * stream.  A copied message other than the empty end marker does not fit
 * the NULL buffer: its length comes back in info.len, and it is read and
 * dropped.
 */
static int next_frame(int in, uint32_t *slot, ssize_t *len)
{
	struct kmbox_msginfo info;
	char *junk;

	for (;;) {
		*len = kmbox_zc_receive(in, NULL, 0, &info, slot, NULL);
		if (*len >= 0)
			return *slot != KMBOX_NO_SLOT;
		if (errno != EMSGSIZE)
			die("kmbox_zc_receive");
		fprintf(stderr, "zcpipe: dropping a copied message of %u bytes\n", info.len);
		junk = malloc(info.len);
		if (!junk || kmbox_receive(in, junk, info.len, NULL) < 0)
			die("kmbox_receive");
		free(junk);
	}
}

static void filter(int in, int out)
{
	struct kmbox_region rin, rout;
	uint32_t islot, oslot;
	const unsigned char *s;
	unsigned char *d;
	ssize_t len;
	size_t k;

	if (kmbox_region_map(in, &rin) || kmbox_region_map(out, &rout))
		die("filter: kmbox_region_map");
	while (next_frame(in, &islot, &len)) {
		if (kmbox_zc_reserve(out, &oslot, 1, 0, NULL) != 1)
			die("filter: kmbox_zc_reserve");
		s = kmbox_slot_ptr(&rin, islot);
		d = kmbox_slot_ptr(&rout, oslot);
		for (k = 0; k < (size_t)len; k++)
			d[k] = (unsigned char)~s[k];
		if (kmbox_zc_release(in, &islot, 1))
			die("filter: kmbox_zc_release");
		if (kmbox_zc_send(out, oslot, (size_t)len, 0, 0, NULL))
			die("filter: kmbox_zc_send");
	}
	if (kmbox_send(out, "", 0, 0))
		die("filter: kmbox_send");
}

static int consumer(int in)
{
	struct kmbox_region r;
	uint32_t i = 0, slot;
	const unsigned char *p;
	ssize_t len;
	size_t k;
	int bad = 0;

	if (kmbox_region_map(in, &r))
		die("consumer: kmbox_region_map");
	while (next_frame(in, &slot, &len)) {
		p = kmbox_slot_ptr(&r, slot);
		if (len != FRAME)
			bad++;
		for (k = 0; k < (size_t)len; k++) {
			if (p[k] != (unsigned char)~pattern(i, k)) {
				bad++;
				break;
			}
		}
		if (kmbox_zc_release(in, &slot, 1))
			die("consumer: kmbox_zc_release");
		i++;
	}
	printf("zcpipe: %u frames of %u KiB through 3 stages, %s\n", i, FRAME >> 10,
	       bad || i != FRAMES ? "CORRUPT" : "all intact");
	return bad || i != FRAMES;
}

/* Run @fn's stage in a child that keeps only the descriptors it is given. */
static pid_t stage(int a, int b, int all[], int nall, int which)
{
	pid_t pid = fork();
	int i;

	if (pid < 0)
		die("fork");
	if (pid)
		return pid;
	for (i = 0; i < nall; i++)
		if (all[i] != a && all[i] != b)
			close(all[i]);
	if (which == 0)
		producer(a);
	else if (which == 1)
		filter(a, b);
	else
		_exit(consumer(a));
	_exit(0);
}

int main(void)
{
	const struct kmbox_attr attr = {
		.max_msgs = SLOTS,
		.zc_slots = SLOTS,
		.zc_slot_size = FRAME,	/* max_msgsize 0: one frame */
	};
	int ab, bc, fd[4], i, status, ret = 0;
	pid_t pid[3];

	ab = kmbox_create_anon(O_RDWR, &attr);
	bc = kmbox_create_anon(O_RDWR, &attr);
	if (ab < 0 || bc < 0) {
		fprintf(stderr, "zcpipe: kmbox_create_anon: %s%s\n", strerror(errno),
			errno == ENODEV ? " (is the kmbox module loaded?)" : "");
		return 1;
	}
	/*
	 * A file per stage and mailbox.  Senders map their region writable,
	 * and mmap needs read access too: O_RDWR; receivers O_RDONLY.
	 */
	fd[0] = kmbox_reopen(ab, O_RDWR);	/* producer's */
	fd[1] = kmbox_reopen(ab, O_RDONLY);	/* filter's, in */
	fd[2] = kmbox_reopen(bc, O_RDWR);	/* filter's, out */
	fd[3] = kmbox_reopen(bc, O_RDONLY);	/* consumer's */
	for (i = 0; i < 4; i++)
		if (fd[i] < 0)
			die("zcpipe: kmbox_reopen");
	close(ab);
	close(bc);

	pid[0] = stage(fd[0], -1, fd, 4, 0);
	pid[1] = stage(fd[1], fd[2], fd, 4, 1);
	pid[2] = stage(fd[3], -1, fd, 4, 2);
	for (i = 0; i < 4; i++)
		close(fd[i]);
	for (i = 0; i < 3; i++)
		if (waitpid(pid[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			ret = 1;
	return ret;
}
