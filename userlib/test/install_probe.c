// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * A program built by check-install.sh against an installed (or the
 * uninstalled) libkmbox with nothing but pkg-config's flags, static and
 * shared.  Its host-only part: the header and the library it runs with
 * agree on the version, every call links, and without the module the
 * library says ENODEV; with the module, a round trip through an anonymous
 * mailbox.  TAP output; exit status 0 if all pass.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <kmbox.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int n, bad;

static void ok(int cond, const char *what)
{
	n++;
	if (!cond)
		bad++;
	printf("%sok %d %s\n", cond ? "" : "not ", n, what);
}

int main(void)
{
	struct kmbox_info info;
	char buf[8];
	int fd;

	printf("TAP version 13\n");
	ok(kmbox_version() == LIBKMBOX_VERSION, "kmbox_version() == LIBKMBOX_VERSION");
	ok(LIBKMBOX_VERSION >= LIBKMBOX_VERSION_NUM(1, 1, 0), "version 1.1 or later");
	ok(sizeof(struct kmbox_msginfo) == 64, "struct kmbox_msginfo has its room");
	errno = 0;
	ok(kmbox_open("a/b", O_RDONLY) == -1 && errno == EINVAL, "bad name: EINVAL");
	ok(kmbox_reopen(-1, O_RDONLY) == -1 && errno == EBADF, "kmbox_reopen links");
	if (access(KMBOX_DEVICE, F_OK)) {
		errno = 0;
		ok(kmbox_info(-1, &info) == -1 && errno == ENODEV,
		   "no module: kmbox_info() says ENODEV");
		ok(kmbox_open("probe", O_RDONLY) == -1 && errno == ENODEV,
		   "no module: kmbox_open() says ENODEV");
	} else {
		ok(kmbox_info(-1, &info) == 0 && info.api_version == KMBOX_API_VERSION,
		   "kmbox_info() with the module");
		fd = kmbox_create_anon(O_RDWR | O_NONBLOCK, NULL);
		ok(fd >= 0 && kmbox_send(fd, "probe", 5, 1) == 0 &&
		   kmbox_receive(fd, buf, sizeof(buf), NULL) == 5 &&
		   !memcmp(buf, "probe", 5), "a round trip");
		if (fd >= 0)
			close(fd);
	}
	printf("1..%d\n", n);
	return bad ? 1 : 0;
}
