// SPDX-License-Identifier: GPL-2.0
/*
 * kmboxctl - create, use and inspect kmbox mailboxes from the shell.
 *
 *   kmboxctl create NAME [-m N] [-s N] [-M MODE] [-z N [-Z N]] [-e]
 *   kmboxctl unlink [-f] NAME...
 *   kmboxctl send NAME [-p P] [-t S] [-n] [MESSAGE|-]
 *   kmboxctl recv NAME [-t S] [-n] [-v] [-c N | -a] [-0]
 *   kmboxctl call NAME [-p P] [-t S] [-n] [MESSAGE|-]
 *   kmboxctl serve NAME [-c N] -- COMMAND [ARG...]
 *   kmboxctl stat NAME [-J] [-R]
 *   kmboxctl list [-J | -r] [--noheadings]
 *   kmboxctl top [--once [-J]] [-d S] [-n N]
 *   kmboxctl info [-J]
 *   kmboxctl help [COMMAND] | --help | --version
 *
 * Exit status (kmboxctl(1)): 0 success, 1 failure, 2 usage error,
 * 3 would block or timed out, 4 module not loaded, 5 permission denied,
 * 6 no such mailbox.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "kmbox.h"
#include "json.h"
#include "kmbox_proc.h"

enum {
	EXIT_OK		= 0,
	EXIT_FAIL	= 1,
	EXIT_USAGE	= 2,
	EXIT_AGAIN	= 3,	/* EAGAIN (empty, full), ETIMEDOUT */
	EXIT_NOMODULE	= 4,	/* ENODEV: no /dev/kmbox or no driver */
	EXIT_PERM	= 5,	/* EACCES, EPERM */
	EXIT_NOENT	= 6,	/* ENOENT: no such mailbox */
};

struct command {
	const char *name;
	int (*run)(const struct command *cmd, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct command commands[];

/* --- reporting ----------------------------------------------------------- */

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{ EACCES, "EACCES" }, { EAGAIN, "EAGAIN" }, { EBADF, "EBADF" },
	{ EBADFD, "EBADFD" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
	{ EFAULT, "EFAULT" }, { EINTR, "EINTR" }, { EINVAL, "EINVAL" },
	{ EIO, "EIO" }, { EMFILE, "EMFILE" }, { EMSGSIZE, "EMSGSIZE" },
	{ ENAMETOOLONG, "ENAMETOOLONG" }, { ENFILE, "ENFILE" },
	{ ENOBUFS, "ENOBUFS" }, { ENODEV, "ENODEV" }, { ENOENT, "ENOENT" },
	{ ENOMEM, "ENOMEM" }, { ENOSPC, "ENOSPC" }, { ENOTTY, "ENOTTY" },
	{ ENXIO, "ENXIO" }, { EPERM, "EPERM" }, { EPIPE, "EPIPE" },
	{ EPROTO, "EPROTO" }, { ETIMEDOUT, "ETIMEDOUT" },
};

static const char *errname(int err)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

static int exit_code(int err)
{
	switch (err) {
	case EAGAIN:
	case ETIMEDOUT:
		return EXIT_AGAIN;
	case ENODEV:
		return EXIT_NOMODULE;
	case EACCES:
	case EPERM:
		return EXIT_PERM;
	case ENOENT:
		return EXIT_NOENT;
	default:
		return EXIT_FAIL;
	}
}

/* What to try next, for the errors whose cause is not obvious. */
static const char *hint(const char *cmd, int err)
{
	bool create = !strcmp(cmd, "create");

	switch (err) {
	case ENODEV:
		return "the kmbox module is not loaded (modprobe kmbox)";
	case ENOENT:
		return "no such mailbox ('kmboxctl list' shows them)";
	case EACCES:
		return "the mailbox's owner and mode do not allow it ('kmboxctl list')";
	case EAGAIN:
		return !strcmp(cmd, "send") ? "the mailbox is full" :
		       !strcmp(cmd, "recv") ? "the mailbox is empty" : NULL;
	case EMFILE:
		return create ? "a per-user limit: user_max_mailboxes mailboxes, or user_quota bytes ('kmboxctl info')" :
		       NULL;
	case ENOSPC:
		return create ? "this IPC namespace has max_mailboxes mailboxes ('kmboxctl info')" : NULL;
	case ENOBUFS:
		return "the sender's user_quota is used up by queued messages ('kmboxctl info')";
	case EMSGSIZE:
		return !strcmp(cmd, "send") || !strcmp(cmd, "call") ?
		       "longer than the mailbox's max_msgsize ('kmboxctl stat')" : NULL;
	case EPIPE:
		return !strcmp(cmd, "call") ?
		       "the server's file closed, or it read the request without taking calls" :
		       NULL;
	case EINVAL:
		return create ? "a limit is outside what the module accepts ('kmboxctl info')" : NULL;
	default:
		return NULL;
	}
}

/*
 * "kmboxctl: recv q1: Resource temporarily unavailable (EAGAIN); the
 * mailbox is empty"; returns the exit status errno maps to.
 */
static int fail_err(const char *cmd, const char *what, int err)
{
	const char *h = hint(cmd, err);

	fprintf(stderr, "kmboxctl: %s %s: %s (%s)%s%s\n", cmd, what,
		strerror(err), errname(err), h ? "; " : "", h ? h : "");
	return exit_code(err);
}

static int fail(const char *cmd, const char *what)
{
	return fail_err(cmd, what, errno);
}

static int __attribute__((format(printf, 2, 3)))
usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kmboxctl: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: kmboxctl %s%s%s\n"
		"Try 'kmboxctl help %s'.\n", cmd->name,
		*cmd->synopsis ? " " : "", cmd->synopsis, cmd->name);
	return EXIT_USAGE;
}

static int print_help(const struct command *cmd)
{
	printf("usage: kmboxctl %s%s%s\n\n%s", cmd->name,
	       *cmd->synopsis ? " " : "", cmd->synopsis, cmd->help);
	return EXIT_OK;
}

/* A name as /proc shows it: \ooo for every byte but '!'..'~' and '\'. */
static void put_escaped(FILE *f, const char *name)
{
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '\\')
			fputc(*p, f);
		else
			fprintf(f, "\\%03o", *p);
	}
}

/* --- strict argument parsing ---------------------------------------------- */

/*
 * Parse an unsigned number: digits only in @base (no sign, no blanks, no
 * 0x), the whole string, no overflow, at most @max.
 */
static int parse_uint(const char *s, int base, unsigned long max,
		      unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long v;

	if (parse_uint(s, 10, max, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* A 64-bit tag: decimal, or hexadecimal after 0x. */
static int parse_tag(const char *s, uint64_t *out)
{
	unsigned long long v;
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		base = 16;
	}
	if (!isxdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* TAG or TAG/MASK (MASK defaults to all ones: exactly TAG). */
static int parse_match(const char *s, uint64_t *tag, uint64_t *mask)
{
	char buf[64];
	const char *slash = strchr(s, '/');

	*mask = UINT64_MAX;
	if (!slash)
		return parse_tag(s, tag);
	if ((size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (parse_tag(buf, tag) || parse_tag(slash + 1, mask))
		return -1;
	return *tag & ~*mask ? -1 : 0;
}

/*
 * Turn "S" or "S.FRACTION" seconds (digits only) into an absolute
 * CLOCK_MONOTONIC deadline that far from now.  Digits past nanoseconds are
 * ignored; a deadline time_t cannot hold is an error.
 */
static int parse_timeout(const char *s, struct timespec *abs)
{
	unsigned long long sec = 0;
	long nsec = 0, scale = 100000000;
	struct timespec now;
	const char *p = s;
	int digits = 0;
	char *end;

	if (isdigit((unsigned char)*p)) {
		errno = 0;
		sec = strtoull(p, &end, 10);
		if (errno)
			return -1;
		digits = (int)(end - p);
		p = end;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			nsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p || !digits)
		return -1;

	if (clock_gettime(CLOCK_MONOTONIC, &now))
		return -1;
	if (sec >= (unsigned long long)INT64_MAX - (unsigned long long)now.tv_sec)
		return -1;
	abs->tv_sec = now.tv_sec + (time_t)sec;
	abs->tv_nsec = now.tv_nsec + nsec;
	if (abs->tv_nsec >= 1000000000L) {
		abs->tv_sec++;
		abs->tv_nsec -= 1000000000L;
	}
	return 0;
}

/* Seconds with an optional fraction ("0.25"), as nanoseconds, > 0. */
static int parse_duration_ns(const char *s, __u64 *ns)
{
	unsigned long long sec = 0, frac = 0, scale = 100000000;
	const char *p = s;
	int digits = 0;
	char *end;

	if (isdigit((unsigned char)*p)) {
		errno = 0;
		sec = strtoull(p, &end, 10);
		if (errno || sec > (unsigned long long)INT64_MAX / 1000000000ULL - 1)
			return -1;
		digits = (int)(end - p);
		p = end;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			frac += (unsigned long long)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p || !digits)
		return -1;
	*ns = sec * 1000000000ULL + frac;
	return *ns ? 0 : -1;
}

/*
 * getopt_long() for one command: argv[0] is the command name.  Returns the
 * option ('h' for --help) or -1 at the end; for an unknown option or a
 * missing value it prints the usage error itself and returns '?'.
 */
static int next_opt(const struct command *cmd, int argc, char **argv,
		    const char *shortopts, const struct option *longopts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == ':') {
		usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		c = '?';
	} else if (c == '?') {
		if (optopt)
			usage_error(cmd, "unknown option '-%c'", optopt);
		else
			usage_error(cmd, "unknown option '%s'",
				    argv[optind - 1]);
	}
	return c;
}

/*
 * Check that @min..@max operands are left after the options (@max < 0:
 * any number); returns their count or -1 after a usage message.
 */
static int operands(const struct command *cmd, int argc, char **argv,
		    int min, int max)
{
	int n = argc - optind;

	if (n < min) {
		usage_error(cmd, "missing mailbox NAME");
		return -1;
	}
	if (max >= 0 && n > max) {
		usage_error(cmd, "unexpected operand '%s'", argv[optind + max]);
		return -1;
	}
	return n;
}

/* Options every command has; -h is handled by next_opt()'s callers. */
#define HELP_OPTION	{ "help", no_argument, NULL, 'h' }
#define JSON_OPTION	{ "json", no_argument, NULL, 'J' }

/* --- create, unlink ------------------------------------------------------- */

static const char *const policy_names[] = {
	[KMBOX_POLICY_BLOCK] = "block",
	[KMBOX_POLICY_DROP_OLDEST] = "drop-oldest",
	[KMBOX_POLICY_REJECT] = "reject",
	[KMBOX_POLICY_REPLACE] = "replace",
};

static int parse_policy(const char *s, __u32 *policy)
{
	__u32 i;

	for (i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
		if (!strcmp(s, policy_names[i])) {
			*policy = i;
			return 0;
		}
	}
	return -1;
}

static const char *policy_name(__u32 policy)
{
	return policy < sizeof(policy_names) / sizeof(policy_names[0]) ?
	       policy_names[policy] : "unknown";
}

static int cmd_create(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-msgs",     required_argument, NULL, 'm' },
		{ "max-msgsize",  required_argument, NULL, 's' },
		{ "mode",         required_argument, NULL, 'M' },
		{ "zc-slots",     required_argument, NULL, 'z' },
		{ "zc-slot-size", required_argument, NULL, 'Z' },
		{ "exist-ok",     no_argument,       NULL, 'e' },
		{ "policy",       required_argument, NULL, 'P' },
		{ "urgent",       required_argument, NULL, 'u' },
		{ "urgent-room",  required_argument, NULL, 'r' },
		{ "ttl",          required_argument, NULL, 'L' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	struct kmbox_attr attr = { 0 };
	struct kmbox_qos qos = { 0 };
	unsigned long mode = 0600;
	bool exist_ok = false, with_qos = false;
	const char *name;
	int c, fd;

	while ((c = next_opt(cmd, argc, argv, ":m:s:M:z:Z:eP:u:r:L:h", longopts)) != -1) {
		switch (c) {
		case 'L':
			if (parse_duration_ns(optarg, &qos.ttl_ns))
				return usage_error(cmd, "bad --ttl '%s' (seconds, e.g. 0.5)",
						   optarg);
			with_qos = true;
			break;
		case 'P':
			if (parse_policy(optarg, &qos.policy))
				return usage_error(cmd,
					"bad --policy '%s' (block, drop-oldest, reject, replace)",
					optarg);
			with_qos = true;
			break;
		case 'u':
			if (parse_u32(optarg, KMBOX_PRIO_MAX - 1, &qos.urgent_prio) ||
			    !qos.urgent_prio)
				return usage_error(cmd, "bad --urgent '%s' (1 to %u)",
						   optarg, KMBOX_PRIO_MAX - 1);
			with_qos = true;
			break;
		case 'r':
			if (parse_u32(optarg, UINT32_MAX, &qos.urgent_room))
				return usage_error(cmd, "bad --urgent-room '%s'", optarg);
			with_qos = true;
			break;
		case 'm':
			if (parse_u32(optarg, UINT32_MAX, &attr.max_msgs))
				return usage_error(cmd, "bad --max-msgs '%s'",
						   optarg);
			break;
		case 's':
			if (parse_u32(optarg, UINT32_MAX, &attr.max_msgsize))
				return usage_error(cmd, "bad --max-msgsize '%s'",
						   optarg);
			break;
		case 'M':
			if (parse_uint(optarg, 8, 0777, &mode))
				return usage_error(cmd,
					"bad --mode '%s' (octal, up to 0777)",
					optarg);
			break;
		case 'z':
			if (parse_u32(optarg, KMBOX_SLOTS_MAX, &attr.zc_slots))
				return usage_error(cmd,
					"bad --zc-slots '%s' (0 to %u)",
					optarg, KMBOX_SLOTS_MAX);
			break;
		case 'Z':
			if (parse_u32(optarg, UINT32_MAX, &attr.zc_slot_size) ||
			    (attr.zc_slot_size &&
			     (attr.zc_slot_size < KMBOX_SLOT_MIN ||
			      (attr.zc_slot_size & (attr.zc_slot_size - 1)))))
				return usage_error(cmd,
					"bad --zc-slot-size '%s' (a power of two, at least %u)",
					optarg, KMBOX_SLOT_MIN);
			break;
		case 'e':
			exist_ok = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, 1) < 0)
		return EXIT_USAGE;
	if (attr.zc_slot_size && !attr.zc_slots)
		return usage_error(cmd, "--zc-slot-size needs --zc-slots");
	if (qos.urgent_room && !qos.urgent_prio)
		return usage_error(cmd, "--urgent-room needs --urgent");
	name = argv[optind];

	/* Read access is enough to create; the mode decides who may use it. */
	if (with_qos)
		fd = kmbox_open_qos(name, O_RDONLY | O_CREAT | O_EXCL, (mode_t)mode, &attr,
				    &qos);
	else
		fd = kmbox_open(name, O_RDONLY | O_CREAT | O_EXCL, (mode_t)mode, &attr);
	if (fd < 0) {
		/* mkdir -p: the mailbox is there, whatever its limits. */
		if (errno == EEXIST && exist_ok)
			return EXIT_OK;
		return fail(cmd->name, name);
	}
	close(fd);
	return EXIT_OK;
}

static int cmd_unlink(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	int c, i, ret = EXIT_OK, r;
	bool force = false;

	while ((c = next_opt(cmd, argc, argv, ":fh", longopts)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, -1) < 0)
		return EXIT_USAGE;
	for (i = optind; i < argc; i++) {
		if (!kmbox_unlink(argv[i]) || (force && errno == ENOENT))
			continue;
		r = fail(cmd->name, argv[i]);
		if (ret == EXIT_OK)
			ret = r;
	}
	return ret;
}

/* --- send, recv ----------------------------------------------------------- */

/*
 * Read all of stdin as one message.  More than @max bytes cannot be sent,
 * so reading stops at @max + 1 and lets the kernel answer EMSGSIZE.
 */
static char *read_stdin(size_t max, size_t *len)
{
	size_t cap = 4096, n = 0, chunk, got;
	char *buf = malloc(cap), *nbuf;

	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto out_free;
			buf = nbuf;
		}
		chunk = cap - n;
		if (chunk > max + 1 - n)
			chunk = max + 1 - n;
		got = fread(buf + n, 1, chunk, stdin);
		n += got;
		if (n > max || got < chunk)	/* too long, EOF or error */
			break;
	}
	if (ferror(stdin))
		goto out_free;
	*len = n;
	return buf;

out_free:
	free(buf);
	return NULL;
}

static int cmd_send(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "prio",     required_argument, NULL, 'p' },
		{ "timeout",  required_argument, NULL, 't' },
		{ "nonblock", no_argument,       NULL, 'n' },
		{ "tag",      required_argument, NULL, 'T' },
		{ "urgent",   no_argument,       NULL, 'u' },
		{ "ttl",      required_argument, NULL, 'L' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	struct timespec deadline, *abs = NULL, expiry, *exp = NULL;
	int c, fd, oflag = O_WRONLY, ret = EXIT_OK;
	const char *name, *msg = NULL;
	struct kmbox_attr attr;
	struct kmbox_qos qos;
	bool urgent = false;
	char *buf = NULL;
	uint32_t prio = 0;
	uint64_t tag = 0;
	size_t len;

	while ((c = next_opt(cmd, argc, argv, ":p:t:nT:uL:h", longopts)) != -1) {
		switch (c) {
		case 'L':
			if (parse_timeout(optarg, &expiry))
				return usage_error(cmd, "bad --ttl '%s' (seconds, e.g. 0.5)",
						   optarg);
			exp = &expiry;
			break;
		case 'u':
			urgent = true;
			break;
		case 'T':
			if (parse_tag(optarg, &tag))
				return usage_error(cmd, "bad --tag '%s' (a number, 0x for hex)",
						   optarg);
			break;
		case 'p':
			if (parse_u32(optarg, KMBOX_PRIO_MAX - 1, &prio))
				return usage_error(cmd, "bad --prio '%s' (0 to %u)",
						   optarg, KMBOX_PRIO_MAX - 1);
			break;
		case 't':
			if (parse_timeout(optarg, &deadline))
				return usage_error(cmd, "bad --timeout '%s'",
						   optarg);
			abs = &deadline;
			break;
		case 'n':
			oflag |= O_NONBLOCK;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, 2) < 0)
		return EXIT_USAGE;
	name = argv[optind];
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-"))
		msg = argv[optind + 1];

	fd = kmbox_open(name, oflag);
	if (fd < 0)
		return fail(cmd->name, name);
	/* --urgent: the mailbox's urgent priority, if -p is lower */
	if (urgent) {
		if (kmbox_getqos(fd, &qos)) {
			ret = fail(cmd->name, name);
			goto out_close;
		}
		if (!qos.urgent_prio) {
			fprintf(stderr, "kmboxctl: send %s: --urgent: the mailbox has no urgent lane\n",
				name);
			ret = EXIT_FAIL;
			goto out_close;
		}
		if (prio < qos.urgent_prio)
			prio = qos.urgent_prio;
	}

	if (msg) {
		len = strlen(msg);
	} else {
		if (kmbox_getattr(fd, &attr)) {
			ret = fail(cmd->name, name);
			goto out_close;
		}
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "kmboxctl: send %s: reading the message from the terminal; end it with Ctrl-D\n",
				name);
		buf = read_stdin(attr.max_msgsize, &len);
		if (!buf) {
			ret = fail(cmd->name, "stdin");
			goto out_close;
		}
		msg = buf;
	}
	if (exp ? kmbox_send_expiring(fd, msg, len, prio, tag, exp, abs) :
		  kmbox_send_tagged(fd, msg, len, prio, tag, abs))
		ret = fail(cmd->name, name);
	free(buf);
out_close:
	close(fd);
	return ret;
}

/* Write all of @buf to @fd; return 0 or -1 with errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static int cmd_call(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "prio",     required_argument, NULL, 'p' },
		{ "timeout",  required_argument, NULL, 't' },
		{ "nonblock", no_argument,       NULL, 'n' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	struct timespec deadline, *abs = NULL;
	int c, fd, oflag = O_WRONLY, ret = EXIT_OK;
	const char *name, *msg = NULL;
	char *buf = NULL, *reply = NULL;
	struct kmbox_attr attr;
	uint32_t prio = 0;
	size_t len;
	ssize_t n;

	while ((c = next_opt(cmd, argc, argv, ":p:t:nh", longopts)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u32(optarg, KMBOX_PRIO_MAX - 1, &prio))
				return usage_error(cmd, "bad --prio '%s' (0 to %u)",
						   optarg, KMBOX_PRIO_MAX - 1);
			break;
		case 't':
			if (parse_timeout(optarg, &deadline))
				return usage_error(cmd, "bad --timeout '%s'",
						   optarg);
			abs = &deadline;
			break;
		case 'n':
			oflag |= O_NONBLOCK;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, 2) < 0)
		return EXIT_USAGE;
	name = argv[optind];
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-"))
		msg = argv[optind + 1];

	fd = kmbox_open(name, oflag);
	if (fd < 0)
		return fail(cmd->name, name);
	if (kmbox_getattr(fd, &attr)) {
		ret = fail(cmd->name, name);
		goto out_close;
	}
	if (msg) {
		len = strlen(msg);
	} else {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "kmboxctl: call %s: reading the request from the terminal; end it with Ctrl-D\n",
				name);
		buf = read_stdin(attr.max_msgsize, &len);
		if (!buf) {
			ret = fail(cmd->name, "stdin");
			goto out_close;
		}
		msg = buf;
	}
	/* A reply can be as long as any message of the mailbox. */
	reply = malloc(attr.max_msgsize ? attr.max_msgsize : 1);
	if (!reply) {
		ret = fail(cmd->name, name);
		goto out_free;
	}
	n = kmbox_call(fd, msg, len, prio, reply, attr.max_msgsize, NULL, abs);
	if (n < 0)
		ret = fail(cmd->name, name);
	else if (write_all(STDOUT_FILENO, reply, n))
		ret = fail(cmd->name, "stdout");
out_free:
	free(reply);
	free(buf);
out_close:
	close(fd);
	return ret;
}

/*
 * Run @argv with @in on its standard input; its standard output, up to
 * @cap bytes (the rest is read and dropped), goes to @out.  Return: the
 * output's length, or -1 with errno.  *@status gets the wait status.
 */
static ssize_t run_filter(char **argv, const char *in, size_t inlen, char *out, size_t cap,
			  int *status)
{
	int pin[2], pout[2];
	size_t off = 0, got = 0;
	char drop[4096];
	pid_t pid;

	if (pipe(pin))
		return -1;
	if (pipe(pout)) {
		close(pin[0]);
		close(pin[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pin[0], STDIN_FILENO);
		dup2(pout[1], STDOUT_FILENO);
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "kmboxctl: serve: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	if (!inlen) {
		close(pin[1]);
		pin[1] = -1;
	}
	/* Feed and drain at once: a command may write before it reads it all. */
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = pout[0], .events = POLLIN },
			{ .fd = pin[1], .events = POLLOUT },
		};
		ssize_t n;

		if (poll(p, pin[1] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pin[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(pin[1], in + off, inlen - off);
			if (n > 0)
				off += n;
			if (n < 0 || off == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(pout[0], got < cap ? out + got : drop,
				 got < cap ? cap - got : sizeof(drop));
			if (n == 0)
				break;
			if (n > 0 && got < cap)
				got += n;
			if (n < 0 && errno != EINTR)
				break;
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	close(pout[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return got;
}

static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static int cmd_serve(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	struct sigaction sa = { .sa_handler = serve_on_signal };
	char *req = NULL, *out = NULL;
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	uint32_t count = 0, done = 0;
	int c, fd, status, ret = EXIT_OK;
	uint64_t token = 0;
	const char *name;
	ssize_t n, m = 0;

	/* The command's own options come after "--", where getopt stops. */
	while ((c = next_opt(cmd, argc, argv, ":c:h", longopts)) != -1) {
		switch (c) {
		case 'c':
			if (parse_u32(optarg, UINT32_MAX, &count) || !count)
				return usage_error(cmd, "bad --count '%s' (1 or more)", optarg);
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return usage_error(cmd, "a mailbox and a command are needed");
	name = argv[optind];
	argv += optind + 1;

	fd = kmbox_open(name, O_RDWR);
	if (fd < 0)
		return fail(cmd->name, name);
	if (kmbox_getattr(fd, &attr)) {
		ret = fail(cmd->name, name);
		goto out_close;
	}
	req = malloc(attr.max_msgsize ? attr.max_msgsize : 1);
	out = malloc(attr.max_msgsize ? attr.max_msgsize : 1);
	if (!req || !out) {
		ret = fail(cmd->name, name);
		goto out_free;
	}
	/* SIGINT and SIGTERM end the loop between requests, not a request. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Each answer goes with the receive of the next request, in one
	 * call (kmbox_reply_recv()); the last answer, after --count
	 * requests or a signal, goes alone.
	 */
	for (;;) {
		if (serve_stop || (count && done >= count)) {
			if (token && kmbox_reply(fd, token, out, m) && errno == EMSGSIZE) {
				fprintf(stderr, "kmboxctl: serve %s: a %zd-byte reply is too long for the caller\n",
					name, m);
				kmbox_reply(fd, token, out, 0);
			}
			break;
		}
		n = kmbox_reply_recv(fd, &token, out, m, req, attr.max_msgsize, &info, NULL);
		if (n < 0 && token) {
			/* The reply failed and nothing was received. */
			if (errno == EMSGSIZE && m) {
				/* Longer than the caller can take: it gets an empty reply. */
				fprintf(stderr, "kmboxctl: serve %s: a %zd-byte reply is too long for the caller\n",
					name, m);
				m = 0;
			} else {
				token = 0;	/* its caller gave up */
			}
			continue;
		}
		m = 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = fail(cmd->name, name);
			break;
		}
		if (!token) {
			fprintf(stderr, "kmboxctl: serve %s: a message that is not a call (%zd bytes) skipped\n",
				name, n);
			continue;
		}
		m = run_filter(argv, req, n, out, attr.max_msgsize, &status);
		if (m < 0) {
			ret = fail(cmd->name, argv[0]);
			m = 0;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "kmboxctl: serve %s: %s failed; its output is the reply\n",
				name, argv[0]);
		}
		done++;
	}
out_free:
	free(req);
	free(out);
out_close:
	close(fd);
	return ret;
}

/*
 * Give a message we could not write out back to the mailbox, at its
 * priority (behind the messages of that priority queued since), if the
 * file may send and there is room.  Return: 0 or -1 with errno.
 */
static int put_back(int fd, const char *buf, size_t len, unsigned int prio,
		    uint64_t tag)
{
	struct timespec now;

	if (clock_gettime(CLOCK_MONOTONIC, &now))
		return -1;
	/* A deadline already passed: no waiting, but room is used if there. */
	return kmbox_send_tagged(fd, buf, len, prio, tag, &now);
}

/* Write one message and its separator; 0 or -1 with errno. */
static int write_message(const char *buf, size_t len, int sep)
{
	errno = EIO;
	if (fwrite(buf, 1, len, stdout) != len ||
	    (sep >= 0 && putchar(sep) == EOF) || fflush(stdout))
		return -1;
	return 0;
}

static int cmd_recv(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout",  required_argument, NULL, 't' },
		{ "nonblock", no_argument,       NULL, 'n' },
		{ "verbose",  no_argument,       NULL, 'v' },
		{ "count",    required_argument, NULL, 'c' },
		{ "all",      no_argument,       NULL, 'a' },
		{ "null",     no_argument,       NULL, '0' },
		{ "match",    required_argument, NULL, 'm' },
		{ "peek",     no_argument,       NULL, 'P' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	int c, fd, sep = -1, ret = EXIT_OK, oflag = 0, err;
	struct timespec deadline, *abs = NULL;
	bool verbose = false, all = false, nul = false, writable = true;
	bool counted = false, match = false, peek = false;
	uint64_t tag = 0, mask = 0;
	uint32_t count = 1, got;
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	const char *name;
	char *buf;
	ssize_t n;

	while ((c = next_opt(cmd, argc, argv, ":t:nvc:a0m:Ph", longopts)) != -1) {
		switch (c) {
		case 'm':
			if (parse_match(optarg, &tag, &mask))
				return usage_error(cmd, "bad --match '%s' (TAG or TAG/MASK, no bit of TAG outside MASK)",
						   optarg);
			match = true;
			break;
		case 'P':
			peek = true;
			break;
		case 't':
			if (parse_timeout(optarg, &deadline))
				return usage_error(cmd, "bad --timeout '%s'",
						   optarg);
			abs = &deadline;
			break;
		case 'n':
			oflag |= O_NONBLOCK;
			break;
		case 'v':
			verbose = true;
			break;
		case 'c':
			if (parse_u32(optarg, UINT32_MAX, &count) || !count)
				return usage_error(cmd, "bad --count '%s' (1 or more)",
						   optarg);
			counted = true;
			sep = '\n';
			break;
		case 'a':
			all = true;
			sep = '\n';
			break;
		case '0':
			nul = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, 1) < 0)
		return EXIT_USAGE;
	if (all && (abs || (oflag & O_NONBLOCK) || counted))
		return usage_error(cmd, "--all takes what is queued without waiting: no --timeout, --nonblock or --count");
	if (nul && sep < 0)
		return usage_error(cmd, "--null goes with --count or --all");
	if (peek && (all || counted))
		return usage_error(cmd, "--peek shows one message: no --count or --all");
	if (nul)
		sep = '\0';
	if (all)
		oflag |= O_NONBLOCK;
	name = argv[optind];

	/*
	 * With write access too, a message that cannot be written out is put
	 * back; without it (the mode allows reading only), it is lost.
	 */
	fd = kmbox_open(name, O_RDWR | oflag);
	if (fd < 0 && errno == EACCES) {
		writable = false;
		fd = kmbox_open(name, O_RDONLY | oflag);
	}
	if (fd < 0)
		return fail(cmd->name, name);
	if (kmbox_getattr(fd, &attr)) {
		ret = fail(cmd->name, name);
		goto out_close;
	}
	/* + 1: malloc(0) may return NULL */
	buf = malloc((size_t)attr.max_msgsize + 1);
	if (!buf) {
		ret = fail(cmd->name, name);
		goto out_close;
	}
	/* A closed pipe is EPIPE to us, not a death that loses the message. */
	signal(SIGPIPE, SIG_IGN);

	for (got = 0; all || got < count; got++) {
		if (peek)
			n = kmbox_peek(fd, buf, attr.max_msgsize, match ? KMBOX_F_MATCH : 0, tag,
				       mask, &info, abs);
		else if (match)
			n = kmbox_receive_match(fd, buf, attr.max_msgsize, tag, mask, &info,
						abs);
		else
			n = kmbox_receive_info(fd, buf, attr.max_msgsize, &info, abs);
		if (n < 0) {
			/* --all stops at empty; --count N wanted N */
			if (!(all && errno == EAGAIN))
				ret = fail(cmd->name, name);
			break;
		}
		if (verbose)
			fprintf(stderr, "prio=%u pid=%ld uid=%lu gid=%lu len=%zd tag=%#llx%s lost=%llu\n",
				info.prio, (long)info.pid,
				(unsigned long)info.uid,
				(unsigned long)info.gid, n,
				(unsigned long long)info.tag,
				info.flags & KMBOX_MSG_ZC ? " zc" : "",
				(unsigned long long)info.lost);
		if (write_message(buf, (size_t)n, sep)) {
			err = errno;
			ret = fail_err(cmd->name, "stdout", err);
			/* A peeked message never left. */
			if (peek)
				break;
			if (!writable || put_back(fd, buf, (size_t)n, info.prio, info.tag))
				fprintf(stderr, "kmboxctl: recv %s: a message of %zd bytes could not be put back: %s; it is lost\n",
					name, n, writable ? strerror(errno) :
					"no write permission");
			else
				fprintf(stderr, "kmboxctl: recv %s: the message (%zd bytes, prio %u) was put back\n",
					name, n, info.prio);
			break;
		}
	}
	free(buf);
out_close:
	close(fd);
	return ret;
}

/* --- stat, list, info ----------------------------------------------------- */

/* A /proc field as JSON: name unescaped (null if anonymous), numbers as numbers. */
static void json_field(struct json *j, const char *col, const char *val,
		       bool anon)
{
	char name[4 * KMBOX_NAME_MAX + 1];
	size_t len;

	if (!strcmp(col, "name")) {
		if (anon) {
			json_null(j, col);
		} else {
			len = kmbox_proc_unescape(val, name, sizeof(name));
			json_string(j, col, name, len);
		}
	} else if (strcmp(col, "mode") && kmbox_proc_is_number(val)) {
		json_u64(j, col, strtoull(val, NULL, 10));
	} else {
		json_cstring(j, col, val);
	}
}

/* --- time in queue: the log2 histogram of struct kmbox_stats ---------------- */

/* @ns as a short human time: 512ns, 1.5us, 12ms, 3.2s. */
static void human_ns(char *buf, size_t size, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.3gus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.3gms", ns / 1e6);
	else
		snprintf(buf, size, "%.3gs", ns / 1e9);
}

/*
 * The range of bucket @b of @n: "0" (bucket 0: hand-offs), "<2^b ns" with
 * the lower bound, or ">=" the last bucket's lower bound.
 */
static void bucket_range(char *buf, size_t size, int b, int n)
{
	char lo[16], hi[16];

	if (b == 0) {
		snprintf(buf, size, "0");
		return;
	}
	human_ns(lo, sizeof(lo), 1ULL << (b - 1));
	if (b == n - 1) {
		snprintf(buf, size, ">=%s", lo);
		return;
	}
	human_ns(hi, sizeof(hi), 1ULL << b);
	snprintf(buf, size, "%s-%s", lo, hi);
}

/*
 * The bucket that holds the @pct-th percentile of the @n counts of @h
 * (the first whose running total reaches @pct % of all), or -1 if @h is
 * all zero.
 */
static int hist_percentile(const __u64 *h, int n, unsigned int pct)
{
	uint64_t total = 0, run = 0, want;
	int b;

	for (b = 0; b < n; b++)
		total += h[b];
	if (!total)
		return -1;
	want = (total / 100) * pct + ((total % 100) * pct + 99) / 100;
	if (!want)
		want = 1;
	for (b = 0; b < n; b++) {
		run += h[b];
		if (run >= want)
			return b;
	}
	return n - 1;
}

/*
 * What a percentile in bucket @b says, as an upper bound in ns: 0 for
 * bucket 0, 2^b - 1 for the others, UINT64_MAX for the open last one.
 */
static uint64_t bucket_upper_ns(int b, int n)
{
	if (b <= 0)
		return 0;
	if (b >= n - 1)
		return UINT64_MAX;
	return (1ULL << b) - 1;
}

/* A percentile for people: "-" (no message), "0", "<1.02us", ">=275s". */
static void percentile_text(char *buf, size_t size, int b, int n)
{
	char t[16];

	if (b < 0) {
		snprintf(buf, size, "-");
	} else if (b == 0) {
		snprintf(buf, size, "0");
	} else if (b == n - 1) {
		human_ns(t, sizeof(t), 1ULL << (b - 1));
		snprintf(buf, size, ">=%s", t);
	} else {
		human_ns(t, sizeof(t), 1ULL << b);
		snprintf(buf, size, "<%s", t);
	}
}

static bool row_anonymous(const struct kmbox_proc_table *t,
			  const struct kmbox_proc_row *r)
{
	int f = kmbox_proc_col(t, "flags");

	return f >= 0 && strchr(r->field[f], 'A');
}

static int cmd_stat(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		JSON_OPTION,
		{ "reset",  no_argument, NULL, 'R' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	/* /proc columns stat shows besides what GETATTR and fdinfo give */
	static const char *const proc_cols[] = {
		"uid", "gid", "mode", "inflight", "zc_reserved", "zc_queued",
		"zc_taken", "zc_held",
	};
	const struct kmbox_proc_row *row = NULL;
	struct kmbox_proc_table t = { 0 };
	char id[32] = "", flags[16] = "";
	bool json = false, have_proc, reset = false, have_st, have_qos;
	struct kmbox_stats st;
	struct kmbox_qos qos;
	struct kmbox_attr a;
	const char *name;
	struct json j;
	size_t i;
	int c, fd, col, b;

	while ((c = next_opt(cmd, argc, argv, ":JRh", longopts)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'R':
			reset = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 1, 1) < 0)
		return EXIT_USAGE;
	name = argv[optind];

	/*
	 * Any access will do: try read, then write permission.  A reset
	 * needs a file open for writing, or the owner: write first.
	 */
	fd = kmbox_open(name, reset ? O_WRONLY : O_RDONLY);
	if (fd < 0 && errno == EACCES)
		fd = kmbox_open(name, reset ? O_RDONLY : O_WRONLY);
	if (fd < 0)
		return fail(cmd->name, name);
	if (kmbox_getattr(fd, &a)) {
		close(fd);
		return fail(cmd->name, name);
	}
	/* A module without KMBOX_IOC_STATS (ENOTTY): no counts to show. */
	have_st = !kmbox_stats(fd, &st, reset ? KMBOX_STATS_RESET : 0);
	if (!have_st && (reset || errno != ENOTTY)) {
		close(fd);
		return fail(cmd->name, reset ? "reset" : name);
	}
	/* A module without KMBOX_IOC_QOS: no policy to show. */
	have_qos = !kmbox_getqos(fd, &qos);
	kmbox_fdinfo(fd, "id", id, sizeof(id));
	kmbox_fdinfo(fd, "flags", flags, sizeof(flags));
	/* Owner and mode are not in struct kmbox_attr: /proc has them. */
	have_proc = kmbox_proc_is_number(id) && !kmbox_proc_read(&t);
	if (have_proc)
		row = kmbox_proc_find_id(&t, strtoull(id, NULL, 10));
	close(fd);

	if (json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_cstring(&j, "name", name);
		if (kmbox_proc_is_number(id))
			json_u64(&j, "id", strtoull(id, NULL, 10));
		if (*flags)
			json_cstring(&j, "flags", flags);
	} else {
		printf("name:          ");
		put_escaped(stdout, name);
		printf("\n");
		if (*id)
			printf("id:            %s\n", id);
		if (*flags)
			printf("flags:         %s\n", flags);
	}
	for (i = 0; row && i < sizeof(proc_cols) / sizeof(proc_cols[0]); i++) {
		if (!strncmp(proc_cols[i], "zc_", 3) && !a.zc_slots)
			continue;
		col = kmbox_proc_col(&t, proc_cols[i]);
		if (col < 0)
			continue;
		if (json)
			json_field(&j, proc_cols[i], row->field[col], false);
		else
			printf("%s:%*s%s\n", proc_cols[i],
			       (int)(14 - strlen(proc_cols[i])), "", row->field[col]);
	}
	if (json) {
		json_u64(&j, "max_msgs", a.max_msgs);
		json_u64(&j, "max_msgsize", a.max_msgsize);
		json_u64(&j, "cur_msgs", a.cur_msgs);
		json_u64(&j, "cur_bytes", a.cur_bytes);
		json_u64(&j, "rd_waiters", a.rd_waiters);
		json_u64(&j, "wr_waiters", a.wr_waiters);
		json_u64(&j, "zc_slots", a.zc_slots);
		json_u64(&j, "zc_slot_size", a.zc_slot_size);
		json_u64(&j, "zc_free", a.zc_free);
		if (have_qos) {
			json_cstring(&j, "policy", policy_name(qos.policy));
			json_u64(&j, "urgent_prio", qos.urgent_prio);
			json_u64(&j, "urgent_room", qos.urgent_room);
			json_u64(&j, "ttl_ns", qos.ttl_ns);
			json_u64(&j, "dropped", qos.lost.dropped);
			json_u64(&j, "rejected", qos.lost.rejected);
			json_u64(&j, "replaced", qos.lost.replaced);
			json_u64(&j, "expired", qos.lost.expired);
		}
		if (have_st) {
			json_object_begin(&j, "stats");
			json_u64(&j, "msgs_in", st.msgs_in);
			json_u64(&j, "msgs_out", st.msgs_out);
			json_u64(&j, "bytes_in", st.bytes_in);
			json_u64(&j, "bytes_out", st.bytes_out);
			json_u64(&j, "max_depth", st.max_depth);
			json_u64(&j, "handoffs", st.handoffs);
			json_u64(&j, "full_waits", st.full_waits);
			json_u64(&j, "empty_waits", st.empty_waits);
			json_u64(&j, "since_ns", st.since_ns);
			if (reset)
				json_bool(&j, "reset", true);
			b = hist_percentile(st.qtime_hist, KMBOX_STATS_BUCKETS, 50);
			if (b < 0)
				json_null(&j, "qtime_p50_ns");
			else
				json_u64(&j, "qtime_p50_ns", bucket_upper_ns(b, KMBOX_STATS_BUCKETS));
			b = hist_percentile(st.qtime_hist, KMBOX_STATS_BUCKETS, 99);
			if (b < 0)
				json_null(&j, "qtime_p99_ns");
			else
				json_u64(&j, "qtime_p99_ns", bucket_upper_ns(b, KMBOX_STATS_BUCKETS));
			json_array_begin(&j, "qtime_hist");
			for (b = 0; b < KMBOX_STATS_BUCKETS; b++)
				json_u64(&j, NULL, st.qtime_hist[b]);
			json_array_end(&j);
			json_object_end(&j);
		}
		json_object_end(&j);
		json_finish(&j);
	} else {
		printf("max_msgs:      %" PRIu32 "\n"
		       "max_msgsize:   %" PRIu32 "\n"
		       "cur_msgs:      %" PRIu32 "\n"
		       "cur_bytes:     %" PRIu64 "\n"
		       "rd_waiters:    %" PRIu32 "\n"
		       "wr_waiters:    %" PRIu32 "\n"
		       "zc_slots:      %" PRIu32 "\n",
		       a.max_msgs, a.max_msgsize, a.cur_msgs,
		       (uint64_t)a.cur_bytes, a.rd_waiters, a.wr_waiters,
		       a.zc_slots);
		if (a.zc_slots)
			printf("zc_slot_size:  %" PRIu32 "\n"
			       "zc_free:       %" PRIu32 "\n",
			       a.zc_slot_size, a.zc_free);
		if (have_qos) {
			printf("policy:        %s\n", policy_name(qos.policy));
			if (qos.urgent_prio)
				printf("urgent_prio:   %" PRIu32 "\n"
				       "urgent_room:   %" PRIu32 "\n",
				       qos.urgent_prio, qos.urgent_room);
			if (qos.ttl_ns)
				printf("ttl_ns:        %" PRIu64 "\n", (uint64_t)qos.ttl_ns);
			printf("dropped:       %" PRIu64 "\n"
			       "rejected:      %" PRIu64 "\n"
			       "replaced:      %" PRIu64 "\n"
			       "expired:       %" PRIu64 "\n",
			       (uint64_t)qos.lost.dropped, (uint64_t)qos.lost.rejected,
			       (uint64_t)qos.lost.replaced, (uint64_t)qos.lost.expired);
		}
		if (have_st) {
			char p50[24], p99[24], range[40];

			percentile_text(p50, sizeof(p50),
					hist_percentile(st.qtime_hist, KMBOX_STATS_BUCKETS, 50),
					KMBOX_STATS_BUCKETS);
			percentile_text(p99, sizeof(p99),
					hist_percentile(st.qtime_hist, KMBOX_STATS_BUCKETS, 99),
					KMBOX_STATS_BUCKETS);
			printf("msgs_in:       %" PRIu64 "\n"
			       "msgs_out:      %" PRIu64 "\n"
			       "bytes_in:      %" PRIu64 "\n"
			       "bytes_out:     %" PRIu64 "\n"
			       "max_depth:     %" PRIu32 "\n"
			       "handoffs:      %" PRIu64 "\n"
			       "full_waits:    %" PRIu64 "\n"
			       "empty_waits:   %" PRIu64 "\n"
			       "qtime_p50:     %s\n"
			       "qtime_p99:     %s\n",
			       (uint64_t)st.msgs_in, (uint64_t)st.msgs_out,
			       (uint64_t)st.bytes_in, (uint64_t)st.bytes_out, st.max_depth,
			       (uint64_t)st.handoffs, (uint64_t)st.full_waits,
			       (uint64_t)st.empty_waits, p50, p99);
			for (b = 0; b < KMBOX_STATS_BUCKETS; b++) {
				if (!st.qtime_hist[b])
					continue;
				bucket_range(range, sizeof(range), b, KMBOX_STATS_BUCKETS);
				printf("qtime %-17s %" PRIu64 "\n", range,
				       (uint64_t)st.qtime_hist[b]);
			}
			if (reset)
				printf("(reset)\n");
		}
	}
	kmbox_proc_free(&t);
	if (fflush(stdout) || ferror(stdout))
		return fail(cmd->name, "stdout");
	return EXIT_OK;
}

/* Columns of the 'list' table (all of them with --raw and --json). */
static const char *const list_cols[] = {
	"id", "name", "uid", "gid", "mode", "msgs", "max_msgs", "bytes",
	"max_msgsize", "zc_free", "zc_slots", "flags",
};

static int cmd_list(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		JSON_OPTION,
		{ "raw",         no_argument, NULL, 'r' },
		{ "noheadings",  no_argument, NULL, 'N' },
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	int c, i, k, ncol = 0, idx[KMBOX_PROC_COLS_MAX], width[KMBOX_PROC_COLS_MAX];
	bool json = false, raw = false, headings = true;
	bool numeric[KMBOX_PROC_COLS_MAX];
	struct kmbox_proc_table t;
	struct json j;

	while ((c = next_opt(cmd, argc, argv, ":JrNh", longopts)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'N':
			headings = false;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 0, 0) < 0)
		return EXIT_USAGE;
	if (json && raw)
		return usage_error(cmd, "--json or --raw, not both");

	if (kmbox_proc_read(&t)) {
		int err = errno == ENOENT ? ENODEV : errno;
		char path[4096];

		snprintf(path, sizeof(path), "%s/mailboxes", kmbox_proc_dir());
		return fail_err(cmd->name, path, err);
	}
	if (json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_array_begin(&j, "mailboxes");
		for (i = 0; i < t.nrows; i++) {
			json_object_begin(&j, NULL);
			for (k = 0; k < t.ncols; k++)
				json_field(&j, t.col[k], t.rows[i].field[k],
					   row_anonymous(&t, &t.rows[i]));
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
		goto out;
	}

	/* The table: its columns that this module has, aligned. */
	if (raw) {
		for (k = 0; k < t.ncols; k++)
			idx[ncol++] = k;
	} else {
		for (k = 0; k < (int)(sizeof(list_cols) / sizeof(list_cols[0])); k++)
			if ((c = kmbox_proc_col(&t, list_cols[k])) >= 0)
				idx[ncol++] = c;
	}
	for (k = 0; k < ncol; k++) {
		width[k] = raw ? 0 : (int)strlen(t.col[idx[k]]);
		numeric[k] = !raw && strcmp(t.col[idx[k]], "mode");
		for (i = 0; i < t.nrows; i++) {
			const char *v = t.rows[i].field[idx[k]];

			if (!raw && (int)strlen(v) > width[k])
				width[k] = (int)strlen(v);
			if (!kmbox_proc_is_number(v))
				numeric[k] = false;
		}
	}
	for (i = headings ? -1 : 0; i < t.nrows; i++) {
		for (k = 0; k < ncol; k++) {
			const char *v = i < 0 ? t.col[idx[k]] : t.rows[i].field[idx[k]];
			bool last = k == ncol - 1;
			char upper[64];
			size_t m;

			if (i < 0 && !raw) {
				for (m = 0; v[m] && m + 1 < sizeof(upper); m++)
					upper[m] = (char)toupper((unsigned char)v[m]);
				upper[m] = '\0';
				v = upper;
			}
			/* numbers to the right, text to the left */
			if (numeric[k])
				printf("%*s", width[k], v);
			else
				printf("%-*s", last ? 0 : width[k], v);
			if (!last)
				fputs(raw ? " " : "  ", stdout);
		}
		printf("\n");
	}
out:
	kmbox_proc_free(&t);
	if (fflush(stdout) || ferror(stdout))
		return fail(cmd->name, "stdout");
	return EXIT_OK;
}

/* --- top ------------------------------------------------------------------ */

/* One mailbox of a 'top' sample: /proc/kmbox/mailboxes joined with _stats. */
struct top_row {
	uint64_t id;
	const char *name;		/* as /proc has it (escaped) */
	bool anon;
	uint64_t depth, max_msgs, rd_waiters, wr_waiters;
	bool have_st;
	uint64_t in, out;
	__u64 hist[KMBOX_STATS_BUCKETS];
};

struct top_sample {
	struct kmbox_proc_table mb, st;
	struct top_row *rows;
	int n;
	bool have_st;			/* the module has mailbox_stats */
	uint64_t t_ns;			/* CLOCK_MONOTONIC of the read */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t field_u64(const struct kmbox_proc_table *t, const struct kmbox_proc_row *r,
			  const char *col)
{
	int c = kmbox_proc_col(t, col);

	if (c < 0 || !kmbox_proc_is_number(r->field[c]))
		return 0;
	return strtoull(r->field[c], NULL, 10);
}

static int top_row_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static const struct top_row *top_find(const struct top_sample *s, uint64_t id)
{
	struct top_row key = { .id = id };

	if (!s || !s->n)
		return NULL;
	return bsearch(&key, s->rows, (size_t)s->n, sizeof(key), top_row_cmp);
}

static void top_free(struct top_sample *s)
{
	kmbox_proc_free(&s->mb);
	kmbox_proc_free(&s->st);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}

/* Read both tables: 0, or -1 with errno (for mailboxes; stats may lack). */
static int top_read(struct top_sample *s)
{
	int i, c, k;

	memset(s, 0, sizeof(*s));
	s->t_ns = mono_ns();
	if (kmbox_proc_read(&s->mb))
		return -1;
	s->have_st = !kmbox_proc_read_file(&s->st, "mailbox_stats");
	s->rows = calloc((size_t)s->mb.nrows + 1, sizeof(*s->rows));
	if (!s->rows) {
		top_free(s);
		errno = ENOMEM;
		return -1;
	}
	c = kmbox_proc_col(&s->mb, "name");
	for (i = 0; i < s->mb.nrows; i++) {
		const struct kmbox_proc_row *r = &s->mb.rows[i];
		struct top_row *row = &s->rows[s->n];

		if (kmbox_proc_col(&s->mb, "id") < 0)
			break;
		row->id = field_u64(&s->mb, r, "id");
		row->name = c >= 0 ? r->field[c] : "?";
		row->anon = row_anonymous(&s->mb, r);
		row->depth = field_u64(&s->mb, r, "msgs");
		row->max_msgs = field_u64(&s->mb, r, "max_msgs");
		row->rd_waiters = field_u64(&s->mb, r, "rd_waiters");
		row->wr_waiters = field_u64(&s->mb, r, "wr_waiters");
		s->n++;
	}
	qsort(s->rows, (size_t)s->n, sizeof(*s->rows), top_row_cmp);
	for (i = 0; s->have_st && i < s->st.nrows; i++) {
		const struct kmbox_proc_row *r = &s->st.rows[i];
		struct top_row *row = (struct top_row *)top_find(s, field_u64(&s->st, r, "id"));
		char *h, *save = NULL, *tok;
		int hc = kmbox_proc_col(&s->st, "qtime_hist");

		if (!row)
			continue;
		row->have_st = true;
		row->in = field_u64(&s->st, r, "msgs_in");
		row->out = field_u64(&s->st, r, "msgs_out");
		if (hc < 0)
			continue;
		/* "3,0,5": the buckets up to the last non-zero one */
		h = r->field[hc];
		for (k = 0, tok = strtok_r(h, ",", &save); tok && k < KMBOX_STATS_BUCKETS;
		     tok = strtok_r(NULL, ",", &save), k++)
			row->hist[k] = strtoull(tok, NULL, 10);
	}
	return 0;
}

/*
 * What happened to @cur since @prev (NULL: since its statistics started):
 * the messages in and out and the histogram of those received.  Return:
 * false if the counts went back (a reset): nothing to compare.
 */
static bool top_delta(const struct top_row *cur, const struct top_row *prev,
		      uint64_t *din, uint64_t *dout, __u64 *hist)
{
	int b;

	if (!prev || !prev->have_st) {
		*din = cur->in;
		*dout = cur->out;
		memcpy(hist, cur->hist, sizeof(cur->hist));
		return true;
	}
	if (cur->in < prev->in || cur->out < prev->out)
		return false;
	*din = cur->in - prev->in;
	*dout = cur->out - prev->out;
	for (b = 0; b < KMBOX_STATS_BUCKETS; b++) {
		if (cur->hist[b] < prev->hist[b])
			return false;
		hist[b] = cur->hist[b] - prev->hist[b];
	}
	return true;
}

static void top_rate(char *buf, size_t size, uint64_t n, uint64_t dt_ns, bool ok)
{
	double r;

	if (!ok || !dt_ns) {
		snprintf(buf, size, "-");
		return;
	}
	r = (double)n * 1e9 / (double)dt_ns;
	if (r < 1000)
		snprintf(buf, size, "%.1f", r);
	else if (r < 1e6)
		snprintf(buf, size, "%.1fk", r / 1e3);
	else
		snprintf(buf, size, "%.1fM", r / 1e6);
}

/*
 * One frame: @prev is the sample before (NULL: none, rates are "-" and
 * the percentiles are over everything since the statistics started);
 * @max_rows limits the table (0: no limit).
 */
static void top_frame(const struct top_sample *cur, const struct top_sample *prev,
		      int max_rows)
{
	uint64_t dt = prev ? cur->t_ns - prev->t_ns : 0;
	int i, w = 4, shown;
	char clock[16];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	for (i = 0; i < cur->n; i++)
		if ((int)strlen(cur->rows[i].name) > w)
			w = (int)strlen(cur->rows[i].name);
	if (w > 32)
		w = 32;
	printf("kmboxctl top - %s, %d mailbox%s", clock, cur->n, cur->n == 1 ? "" : "es");
	if (prev)
		printf(", rates over %.2f s", (double)dt / 1e9);
	if (!cur->have_st)
		printf(", no statistics (module without /proc/kmbox/mailbox_stats)");
	printf("\n%8s  %-*s %7s %7s %8s %8s %10s %10s %9s %9s %4s %4s\n", "ID", w, "NAME",
	       "DEPTH", "MAX", "IN/S", "OUT/S", "IN", "OUT", "P50", "P99", "RDW", "WRW");
	shown = 0;
	for (i = 0; i < cur->n; i++) {
		const struct top_row *r = &cur->rows[i];
		const struct top_row *p = prev ? top_find(prev, r->id) : NULL;
		char rin[16], rout[16], p50[24], p99[24], tin[24], tout[24];
		uint64_t din = 0, dout = 0;
		__u64 hist[KMBOX_STATS_BUCKETS];
		bool ok = r->have_st && top_delta(r, p, &din, &dout, hist);

		if (max_rows && shown == max_rows) {
			printf("... %d more\n", cur->n - shown);
			break;
		}
		top_rate(rin, sizeof(rin), din, dt, ok && p);
		top_rate(rout, sizeof(rout), dout, dt, ok && p);
		if (ok) {
			percentile_text(p50, sizeof(p50),
					hist_percentile(hist, KMBOX_STATS_BUCKETS, 50),
					KMBOX_STATS_BUCKETS);
			percentile_text(p99, sizeof(p99),
					hist_percentile(hist, KMBOX_STATS_BUCKETS, 99),
					KMBOX_STATS_BUCKETS);
		} else {
			snprintf(p50, sizeof(p50), "-");
			snprintf(p99, sizeof(p99), "-");
		}
		snprintf(tin, sizeof(tin), r->have_st ? "%" PRIu64 : "-", r->in);
		snprintf(tout, sizeof(tout), r->have_st ? "%" PRIu64 : "-", r->out);
		printf("%8" PRIu64 "  %-*.*s %7" PRIu64 " %7" PRIu64 " %8s %8s %10s %10s %9s %9s"
		       " %4" PRIu64 " %4" PRIu64 "\n", r->id, w, w, r->name, r->depth,
		       r->max_msgs, rin, rout, tin, tout, p50, p99, r->rd_waiters, r->wr_waiters);
		shown++;
	}
}

/* One frame as JSON: counts, not rates, with the interval they cover. */
static void top_json(const struct top_sample *cur, const struct top_sample *prev)
{
	struct json j;
	int i;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_u64(&j, "interval_ns", prev ? cur->t_ns - prev->t_ns : 0);
	json_bool(&j, "stats", cur->have_st);
	json_array_begin(&j, "mailboxes");
	for (i = 0; i < cur->n; i++) {
		const struct top_row *r = &cur->rows[i];
		const struct top_row *p = prev ? top_find(prev, r->id) : NULL;
		char name[4 * KMBOX_NAME_MAX + 1];
		__u64 hist[KMBOX_STATS_BUCKETS];
		uint64_t din = 0, dout = 0;
		bool ok = r->have_st && top_delta(r, p, &din, &dout, hist);
		int b;

		json_object_begin(&j, NULL);
		json_u64(&j, "id", r->id);
		if (r->anon)
			json_null(&j, "name");
		else
			json_string(&j, "name", name,
				    kmbox_proc_unescape(r->name, name, sizeof(name)));
		json_u64(&j, "depth", r->depth);
		json_u64(&j, "max_msgs", r->max_msgs);
		json_u64(&j, "rd_waiters", r->rd_waiters);
		json_u64(&j, "wr_waiters", r->wr_waiters);
		if (r->have_st) {
			json_u64(&j, "msgs_in", r->in);
			json_u64(&j, "msgs_out", r->out);
		}
		if (ok && p) {
			json_u64(&j, "in_delta", din);
			json_u64(&j, "out_delta", dout);
		}
		if (ok) {
			b = hist_percentile(hist, KMBOX_STATS_BUCKETS, 50);
			if (b < 0)
				json_null(&j, "qtime_p50_ns");
			else
				json_u64(&j, "qtime_p50_ns", bucket_upper_ns(b, KMBOX_STATS_BUCKETS));
			b = hist_percentile(hist, KMBOX_STATS_BUCKETS, 99);
			if (b < 0)
				json_null(&j, "qtime_p99_ns");
			else
				json_u64(&j, "qtime_p99_ns", bucket_upper_ns(b, KMBOX_STATS_BUCKETS));
		}
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

/* "S" or "S.FRACTION" seconds, at most an hour, into nanoseconds. */
static int parse_seconds(const char *s, uint64_t *ns)
{
	uint64_t sec = 0, frac = 0, scale = 100000000;
	const char *p = s;
	int digits = 0;

	for (; isdigit((unsigned char)*p) && sec <= 3600; p++, digits++)
		sec = sec * 10 + (uint64_t)(*p - '0');
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			frac += (uint64_t)(*p - '0') * scale;
			scale /= 10;
		}
	if (*p || !digits || sec > 3600 || (sec == 3600 && frac))
		return -1;
	*ns = sec * 1000000000ULL + frac;
	return 0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) && errno == EINTR && !top_stop)
		;
}

static int cmd_top(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once",        no_argument,       NULL, '1' },
		{ "delay",       required_argument, NULL, 'd' },
		{ "iterations",  required_argument, NULL, 'n' },
		JSON_OPTION,
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	struct sigaction sa = { .sa_handler = top_on_signal };
	struct top_sample cur, prev;
	bool once = false, json = false, have_prev = false, tty;
	uint64_t delay = 1000000000ULL;
	unsigned long iterations = 0, frames = 0;
	int c, rows = 0;

	while ((c = next_opt(cmd, argc, argv, ":1d:n:Jh", longopts)) != -1) {
		switch (c) {
		case '1':
			once = true;
			break;
		case 'd':
			if (parse_seconds(optarg, &delay))
				return usage_error(cmd, "bad --delay '%s' (seconds, at most 3600)",
						   optarg);
			break;
		case 'n':
			if (parse_uint(optarg, 10, 1000000000UL, &iterations) || !iterations)
				return usage_error(cmd, "bad --iterations '%s'", optarg);
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 0, 0) < 0)
		return EXIT_USAGE;
	if (json && !once)
		return usage_error(cmd, "--json goes with --once");
	if (once)
		iterations = 1;
	if (!once && !delay)
		return usage_error(cmd, "--delay 0 goes with --once");

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	tty = isatty(STDOUT_FILENO) && !once;
	if (tty) {
		struct winsize ws;

		if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 4)
			rows = ws.ws_row - 3;
	}
	/* --once: two samples --delay apart, for rates; --delay 0: one. */
	if (once && delay) {
		if (top_read(&prev))
			goto fail;
		have_prev = true;
		sleep_ns(delay);
	}
	for (;;) {
		if (top_read(&cur)) {
			if (have_prev)
				top_free(&prev);
			goto fail;
		}
		if (json) {
			top_json(&cur, have_prev ? &prev : NULL);
		} else {
			if (tty)
				fputs("\033[H\033[J", stdout);	/* home, clear to the end */
			top_frame(&cur, have_prev ? &prev : NULL, rows);
		}
		if (fflush(stdout) || ferror(stdout)) {
			top_free(&cur);
			if (have_prev)
				top_free(&prev);
			return fail(cmd->name, "stdout");
		}
		if (have_prev)
			top_free(&prev);
		prev = cur;
		have_prev = true;
		if ((iterations && ++frames >= iterations) || top_stop)
			break;
		if (!tty)
			printf("\n");
		sleep_ns(delay);
		if (top_stop)
			break;
	}
	top_free(&prev);
	return EXIT_OK;

fail:
	{
		int err = errno == ENOENT ? ENODEV : errno;
		char path[4096];

		snprintf(path, sizeof(path), "%s/mailboxes", kmbox_proc_dir());
		return fail_err(cmd->name, path, err);
	}
}

static int cmd_info(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		JSON_OPTION,
		HELP_OPTION,
		{ NULL, 0, NULL, 0 }
	};
	/* Module parameters that struct kmbox_info does not carry. */
	static const char *const params[] = {
		"max_mailboxes", "user_max_mailboxes",
	};
	static const struct { uint64_t bit; const char *name; } feats[] = {
		{ KMBOX_FEAT_ZEROCOPY, "zerocopy" },
		{ KMBOX_FEAT_BATCH, "batch" },
		{ KMBOX_FEAT_CREDS, "creds" },
		{ KMBOX_FEAT_SYNC, "sync" },
		{ KMBOX_FEAT_STATS, "stats" },
		{ KMBOX_FEAT_TAGS, "tags" },
		{ KMBOX_FEAT_POLICY, "policy" },
		{ KMBOX_FEAT_URGENT, "urgent" },
		{ KMBOX_FEAT_EXPIRY, "expiry" },
		{ KMBOX_FEAT_URING, "uring" },
		{ KMBOX_FEAT_BATCH_LOSS, "batch-loss" },
		{ KMBOX_FEAT_REPLY_RECV, "reply-recv" },
	};
	struct {
		const char *name;
		uint64_t val;
	} rows[16];
	char lib[32], feat[128] = "";
	struct kmbox_info in;
	unsigned int v = kmbox_version();
	bool json = false;
	struct json j;
	size_t i, n = 0;
	uint64_t p;
	int c;

	while ((c = next_opt(cmd, argc, argv, ":Jh", longopts)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'h':
			return print_help(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	if (operands(cmd, argc, argv, 0, 0) < 0)
		return EXIT_USAGE;

	if (kmbox_info(-1, &in))
		return fail(cmd->name, KMBOX_DEVICE);

	rows[n].name = "api_version", rows[n++].val = in.api_version;
	rows[n].name = "prio_max", rows[n++].val = in.prio_max;
	rows[n].name = "max_msgs_cap", rows[n++].val = in.max_msgs_cap;
	rows[n].name = "max_msgsize_cap", rows[n++].val = in.max_msgsize_cap;
	rows[n].name = "default_max_msgs", rows[n++].val = in.default_max_msgs;
	rows[n].name = "default_max_msgsize", rows[n++].val = in.default_max_msgsize;
	rows[n].name = "user_quota", rows[n++].val = in.user_quota;
	rows[n].name = "region_cap", rows[n++].val = in.region_cap;
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (!kmbox_param(params[i], &p))
			rows[n].name = params[i], rows[n++].val = p;
	snprintf(lib, sizeof(lib), "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);

	if (json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_cstring(&j, "library_version", lib);
		for (i = 0; i < n; i++)
			json_u64(&j, rows[i].name, rows[i].val);
		json_array_begin(&j, "features");
		for (i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
			if (in.features & feats[i].bit)
				json_cstring(&j, NULL, feats[i].name);
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		for (i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
			if (in.features & feats[i].bit)
				snprintf(feat + strlen(feat), sizeof(feat) - strlen(feat),
					 "%s%s", *feat ? " " : "", feats[i].name);
		printf("%-21s%s\n", "library_version:", lib);
		for (i = 0; i < n; i++)
			printf("%s:%*s%" PRIu64 "\n", rows[i].name,
			       (int)(20 - strlen(rows[i].name)), "", rows[i].val);
		printf("%-21s%s\n", "features:", feat);
	}
	if (fflush(stdout) || ferror(stdout))
		return fail(cmd->name, "stdout");
	return EXIT_OK;
}

/* --- help ----------------------------------------------------------------- */

static void main_usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: kmboxctl COMMAND [ARGS]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %s%s%s\n", c->name, *c->synopsis ? " " : "",
			c->synopsis);
	fprintf(f, "\n'kmboxctl help COMMAND' describes one command; 'kmboxctl --version'.\n"
		"Exit status: 0 success, 1 failure, 2 usage error, 3 would block or\n"
		"timed out, 4 module not loaded, 5 permission denied, 6 no such mailbox.\n");
}

static int cmd_help(const struct command *cmd, int argc, char **argv)
{
	const struct command *c;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		main_usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2)
		return usage_error(cmd, "unexpected operand '%s'", argv[2]);
	for (c = commands; c->name; c++)
		if (!strcmp(argv[1], c->name))
			return print_help(c);
	return usage_error(cmd, "unknown command '%s'", argv[1]);
}

static const struct command commands[] = {
	{
		"create", cmd_create,
		"NAME [-m N] [-s N] [-M MODE] [-z N [-Z N]] [-P POLICY] [-u P [-r N]] [-L S] [-e]",
		"Create the named mailbox NAME.\n"
		"  -m, --max-msgs N       messages it holds (0: module default)\n"
		"  -s, --max-msgsize N    largest message in bytes (0: default, or\n"
		"                         the slot size with -Z)\n"
		"  -M, --mode MODE        octal permission bits, default 0600;\n"
		"                         the umask applies\n"
		"  -z, --zc-slots N       zero-copy region of N slots (at most 65536)\n"
		"  -Z, --zc-slot-size N   bytes per slot, a power of two >= 64\n"
		"                         (0: max-msgsize rounded up)\n"
		"  -P, --policy POLICY    what a send to a full mailbox does: block\n"
		"                         (default), drop-oldest, reject, replace\n"
		"                         (a message replaces the queued one with\n"
		"                         its tag, full or not)\n"
		"  -u, --urgent P         messages of priority P and up are urgent\n"
		"                         (POLLPRI while one is queued)\n"
		"  -r, --urgent-room N    of max-msgs, N kept for urgent messages\n"
		"  -L, --ttl S            messages expire S seconds after their send\n"
		"                         (unless sent with their own --ttl)\n"
		"  -e, --exist-ok         succeed if NAME exists (its limits and\n"
		"                         mode are left as they are)\n",
	},
	{
		"unlink", cmd_unlink, "[-f] NAME...",
		"Remove the names.  Processes that have a mailbox open keep using\n"
		"it until they close it.\n"
		"  -f, --force    a name that does not exist is not an error\n"
		"The exit status is that of the first name that failed.\n",
	},
	{
		"send", cmd_send,
		"NAME [-p P] [-u] [-T TAG] [-L S] [-t S] [-n] [MESSAGE|-]",
		"Send MESSAGE as one message, or all of standard input if\n"
		"MESSAGE is '-' or missing.  No newline is added.\n"
		"  -p, --prio P      priority 0..32767, higher first (default 0)\n"
		"  -u, --urgent      at least the mailbox's urgent priority\n"
		"  -L, --ttl S       the message expires S seconds from now: never\n"
		"                    delivered after that\n"
		"  -T, --tag TAG     the message's tag, decimal or 0x hex (default 0)\n"
		"  -t, --timeout S   give up after S seconds (e.g. 0.5) if full\n"
		"  -n, --nonblock    fail at once if the mailbox is full\n"
		"A MESSAGE starting with '-' goes after '--'.\n",
	},
	{
		"recv", cmd_recv, "NAME [-m TAG[/MASK]] [-P] [-t S] [-n] [-v] [-c N | -a] [-0]",
		"Receive one message (highest priority first) and write it to\n"
		"standard output as it is.\n"
		"  -m, --match TAG[/MASK]  only messages whose tag & MASK is TAG\n"
		"                    (MASK: all ones unless given)\n"
		"  -P, --peek        write the message and leave it queued\n"
		"  -t, --timeout S   give up after S seconds (for all of -c N)\n"
		"  -n, --nonblock    fail at once if the mailbox is empty\n"
		"  -c, --count N     receive N messages, each followed by a newline\n"
		"  -a, --all         receive what is queued, without waiting, each\n"
		"                    followed by a newline\n"
		"  -0, --null        with -c or -a: a NUL after each, not a newline\n"
		"  -v, --verbose     print prio, sender pid/uid/gid and length\n"
		"                    to standard error\n"
		"A message that cannot be written to standard output is put back\n"
		"(at its priority, behind those queued since) if the mailbox's mode\n"
		"lets us send.\n",
	},
	{
		"call", cmd_call, "NAME [-p P] [-t S] [-n] [MESSAGE|-]",
		"Send MESSAGE (or standard input, with - or no MESSAGE) as a\n"
		"request and write the reply to standard output as it is.\n"
		"  -p, --prio P      the request's priority, 0 to 32767\n"
		"  -t, --timeout S   give up after S seconds (exit status 3)\n"
		"  -n, --nonblock    only if a server is waiting already\n"
		"Exit status 1 with EPIPE: the server's file closed without\n"
		"answering, or it read the request without taking calls.\n",
	},
	{
		"serve", cmd_serve, "NAME [-c N] -- COMMAND [ARG...]",
		"Answer each request of NAME with the standard output of COMMAND,\n"
		"run with the request on its standard input.  A message that is\n"
		"not a call is skipped.  SIGINT or SIGTERM stop it between requests.\n"
		"  -c, --count N     answer N requests, then exit\n",
	},
	{
		"stat", cmd_stat, "NAME [-J] [-R]",
		"Print the mailbox's id, flags, owner, mode, limits, queued\n"
		"messages and bytes, waiters and zero-copy region usage, and its\n"
		"statistics: messages and bytes in and out, deepest queue,\n"
		"hand-offs, waits, time in queue (p50, p99, histogram).\n"
		"  -J, --json    as a JSON object (statistics under \"stats\")\n"
		"  -R, --reset   zero the statistics after printing them (needs\n"
		"                write permission or ownership)\n",
	},
	{
		"list", cmd_list, "[-J | -r] [--noheadings]",
		"List every mailbox of this IPC namespace (/proc/kmbox/mailboxes).\n"
		"  -J, --json        as JSON: {\"mailboxes\": [{column: value}...]}\n"
		"  -r, --raw         every column, one blank between, as /proc has it\n"
		"      --noheadings  no header line\n"
		"Names are shown as /proc shows them (\\ooo escapes); --json\n"
		"unescapes them, and an anonymous mailbox's name is null.\n",
	},
	{
		"top", cmd_top, "[--once [-J]] [-d S] [-n N]",
		"Show every mailbox of this IPC namespace, refreshed every second:\n"
		"depth and limit, messages in and out per second and in all,\n"
		"median and 99th percentile of the time messages spent queued\n"
		"(of those received since the frame before), sleeping receivers\n"
		"and senders.  Ctrl-C stops it.\n"
		"  -1, --once          print one frame and exit (rates over --delay)\n"
		"  -d, --delay S       seconds between frames (default 1; 0 with\n"
		"                      --once: no rates, percentiles over all)\n"
		"  -n, --iterations N  stop after N frames\n"
		"  -J, --json          with --once: the frame as JSON (counts per\n"
		"                      interval, not rates)\n",
	},
	{
		"info", cmd_info, "[-J]",
		"Print the library version and the loaded module's version,\n"
		"features and limits.\n"
		"  -J, --json    as a JSON object\n",
	},
	{
		"help", cmd_help, "[COMMAND]",
		"Describe COMMAND, or list the commands.\n",
	},
	{ NULL, NULL, NULL, NULL }
};

/*
 * A standard descriptor that is closed must stay unusable: otherwise the
 * mailbox we open would take its number, and a recv with stdout closed
 * would write the message into the mailbox.  Hold the number with
 * /dev/null opened the wrong way round, so that I/O on it still fails.
 */
static void hold_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd ? O_RDONLY : O_WRONLY) != fd)
			exit(EXIT_FAIL);
}

int main(int argc, char **argv)
{
	const struct command *c;
	unsigned int v = LIBKMBOX_VERSION;
	int ret;

	hold_std_fds();

	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		main_usage(stdout);
		ret = EXIT_OK;
	} else if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("kmboxctl from kmbox %u.%u.%u\n", v >> 16,
		       (v >> 8) & 0xff, v & 0xff);
		ret = EXIT_OK;
	} else {
		for (c = commands; c->name; c++)
			if (!strcmp(argv[1], c->name))
				break;
		if (!c->name) {
			fprintf(stderr, "kmboxctl: unknown command '%s'\nTry 'kmboxctl --help'.\n",
				argv[1]);
			return EXIT_USAGE;
		}
		ret = c->run(c, argc - 1, argv + 1);
	}
	/* What a command wrote must have reached standard output. */
	if (ret == EXIT_OK && (fflush(stdout) || ferror(stdout)))
		ret = fail_err(argv[1], "stdout", errno ? errno : EIO);
	return ret;
}
