// SPDX-License-Identifier: GPL-2.0
/* Small helpers shared by the mechanisms and the driver. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

char bench_tag[32];
int kmbox_present;
char mech_err[160];
volatile int bench_cancel;

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write_all(fd, val, strlen(val)) < 0)
		ret = -1;
	if (close(fd) < 0)
		ret = -1;
	return ret;
}

/* reads at most n-1 bytes, strips the trailing newline */
int read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (!n)
		return -1;
	buf[0] = 0;
	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = 0;
	return (int)r;
}

long read_long(const char *path)
{
	char b[64];

	if (read_file(path, b, sizeof(b)) <= 0)
		return -1;
	return strtol(b, NULL, 10);
}

size_t pow2_at_least(size_t v)
{
	size_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		perror("kmbox-bench: calloc");
		_exit(3);
	}
	return p;
}

void *xaligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? len : 1)) {
		perror("kmbox-bench: posix_memalign");
		_exit(3);
	}
	memset(p, 0, len);
	return p;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22	/* Linux 5.14 */
#define MADV_POPULATE_WRITE	23
#endif

void prefault(void *p, size_t len, bool write)
{
	volatile const char *c = p;
	size_t pg = 4096;

	if (!p || !len)
		return;
	if (madvise(p, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
		return;
	/* older kernel: reading each page maps it (never write what we don't own) */
	for (size_t off = 0; off < len; off += pg)
		(void)c[off];
}
