// SPDX-License-Identifier: MIT
/*
 * reqrep: request and reply over two mailboxes, with deadlines.
 *
 * A server process reads requests from a named mailbox and answers each
 * on the reply mailbox of the client that sent it.  A client gives every
 * call one absolute deadline, for sending the request and for waiting for
 * the answer together.  A reply can come after its client gave up; it
 * then waits in the reply mailbox, so requests carry a sequence number
 * and the client drops replies to older ones.
 *
 * The server trusts the sender's uid that the kernel reports with each
 * request, not anything written in it.
 *
 * Build:  cc -o reqrep reqrep.c $(pkg-config --cflags --libs kmbox)
 * Run:    ./reqrep        (needs the kmbox module: /dev/kmbox)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <kmbox.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS		1000000ULL	/* ns */
#define TEXT_MAX	64

struct request {
	int32_t client;		/* pid: names the reply mailbox */
	uint32_t seq;
	uint32_t delay_ms;	/* how long the server takes */
	char text[TEXT_MAX];
};

struct reply {
	uint32_t seq;
	char text[TEXT_MAX];
};

static char base[48];

static void reply_name(char *buf, size_t size, int client)
{
	snprintf(buf, size, "%s.reply.%d", base, client);
}

static void nap_ms(uint32_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Answer requests until one says "quit". */
static int serve(int requests)
{
	struct kmbox_msginfo info;
	struct request req;
	struct reply rep;
	char name[96];
	ssize_t n;
	size_t i;
	int out;

	for (;;) {
		n = kmbox_receive_info(requests, &req, sizeof(req), &info, NULL);
		if (n < 0) {
			perror("reqrep server: receive");
			return 1;
		}
		if (n != (ssize_t)sizeof(req) || info.uid != getuid())
			continue;	/* not from one of ours */
		req.text[TEXT_MAX - 1] = '\0';
		if (!strcmp(req.text, "quit"))
			return 0;
		nap_ms(req.delay_ms);

		rep.seq = req.seq;
		for (i = 0; i < TEXT_MAX; i++)
			rep.text[i] = (char)(req.text[i] >= 'a' && req.text[i] <= 'z' ?
					     req.text[i] - 'a' + 'A' : req.text[i]);
		/* Non-blocking: a client that stopped reading cannot stall us. */
		reply_name(name, sizeof(name), req.client);
		out = kmbox_open(name, O_WRONLY | O_NONBLOCK);
		if (out < 0)
			continue;	/* the client is gone */
		if (kmbox_send(out, &rep, sizeof(rep), 0))
			fprintf(stderr, "reqrep server: reply to %d: %s\n",
				(int)req.client, strerror(errno));
		close(out);
	}
}

struct client {
	int requests, replies;
	uint32_t seq;
};

/*
 * One call: send @text, wait for its answer, at most @timeout_ms in all.
 * Return: the reply's length, or -1 with errno (ETIMEDOUT).
 */
static ssize_t call(struct client *c, const char *text, uint32_t delay_ms,
		    uint64_t timeout_ms, struct reply *rep)
{
	struct request req = { .client = (int32_t)getpid(), .delay_ms = delay_ms };
	struct timespec deadline;
	ssize_t n;

	req.seq = ++c->seq;
	snprintf(req.text, sizeof(req.text), "%s", text);
	if (kmbox_deadline_after(&deadline, timeout_ms * MS) ||
	    kmbox_timedsend(c->requests, &req, sizeof(req), 1, &deadline))
		return -1;
	for (;;) {
		n = kmbox_timedreceive(c->replies, rep, sizeof(*rep), NULL, &deadline);
		if (n < 0)
			return -1;
		if (n == (ssize_t)sizeof(*rep) && rep->seq == req.seq)
			return n;
		printf("reqrep client: dropped a late reply to request %u\n", rep->seq);
	}
}

static int client(const char *reqname)
{
	struct client c = { .seq = 0 };
	struct reply rep;
	char name[96];
	int bad = 0;

	c.requests = kmbox_open(reqname, O_WRONLY);
	reply_name(name, sizeof(name), getpid());
	c.replies = kmbox_open(name, O_RDONLY | O_CREAT | O_EXCL, 0600, NULL);
	if (c.requests < 0 || c.replies < 0) {
		perror("reqrep client: kmbox_open");
		return 1;
	}

	if (call(&c, "hello", 0, 2000, &rep) < 0 || strcmp(rep.text, "HELLO")) {
		fprintf(stderr, "reqrep client: hello: %s\n", strerror(errno));
		bad++;
	} else {
		printf("reqrep client: hello -> %s\n", rep.text);
	}
	/* The server takes 300 ms: give up after 50. */
	if (call(&c, "slow", 300, 50, &rep) >= 0 || errno != ETIMEDOUT) {
		fprintf(stderr, "reqrep client: slow: expected a timeout\n");
		bad++;
	} else {
		printf("reqrep client: slow -> timed out, as it should\n");
	}
	/* Its late answer arrives meanwhile, and is dropped here. */
	if (call(&c, "again", 0, 5000, &rep) < 0 || strcmp(rep.text, "AGAIN")) {
		fprintf(stderr, "reqrep client: again: %s\n", strerror(errno));
		bad++;
	} else {
		printf("reqrep client: again -> %s\n", rep.text);
	}

	call(&c, "quit", 0, 0, &rep);	/* no answer comes; times out at once */
	kmbox_unlink(name);
	close(c.replies);
	close(c.requests);
	return bad ? 1 : 0;
}

int main(void)
{
	const struct kmbox_attr attr = {
		.max_msgs = 16,
		.max_msgsize = sizeof(struct request),
	};
	char reqname[64];
	int requests, status, ret;
	pid_t server;

	snprintf(base, sizeof(base), "reqrep.%d", (int)getpid());
	snprintf(reqname, sizeof(reqname), "%s.requests", base);
	requests = kmbox_open(reqname, O_RDONLY | O_CREAT | O_EXCL, 0600, &attr);
	if (requests < 0) {
		fprintf(stderr, "reqrep: kmbox_open %s: %s%s\n", reqname, strerror(errno),
			errno == ENODEV ? " (is the kmbox module loaded?)" : "");
		return 1;
	}
	server = fork();
	if (server < 0) {
		perror("reqrep: fork");
		return 1;
	}
	if (server == 0)
		_exit(serve(requests));
	close(requests);	/* the server's now */

	ret = client(reqname);
	if (waitpid(server, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		ret = 1;
	kmbox_unlink(reqname);
	printf("reqrep: %s\n", ret ? "FAILED" : "ok");
	return ret;
}
