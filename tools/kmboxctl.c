// SPDX-License-Identifier: GPL-2.0
/*
 * kmboxctl - create, use and inspect kmbox mailboxes from the shell.
 *
 *   kmboxctl create NAME [--max-msgs N] [--max-msgsize N] [--mode M]
 *                        [--zc-slots N [--zc-slot-size N]]
 *   kmboxctl unlink NAME
 *   kmboxctl send NAME [--prio P] [--timeout S] [--nonblock] [MESSAGE|-]
 *   kmboxctl recv NAME [--timeout S] [--nonblock] [--verbose]
 *   kmboxctl stat NAME
 *   kmboxctl list
 *   kmboxctl info
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmbox.h"

#define PROC_MAILBOXES	"/proc/kmbox/mailboxes"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct command {
	const char *name;
	int (*run)(const struct command *cmd, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

/* --- reporting ----------------------------------------------------------- */

/*
 * "kmboxctl: recv q1: Resource temporarily unavailable", exit status 1.
 * ENOENT is also what a missing /dev/kmbox gives: say so when it is.
 */
static int fail(const char *cmd, const char *what)
{
	int err = errno;
	const char *hint = "";

	if ((err == ENOENT || err == ENODEV) && access(KMBOX_DEVICE, F_OK))
		hint = " (is the kmbox module loaded?)";
	fprintf(stderr, "kmboxctl: %s %s: %s%s\n", cmd, what, strerror(err),
		hint);
	return EXIT_FAIL;
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
		"Try 'kmboxctl %s --help'.\n", cmd->name,
		*cmd->synopsis ? " " : "", cmd->synopsis, cmd->name);
	return EXIT_USAGE;
}

static int print_help(const struct command *cmd)
{
	printf("usage: kmboxctl %s%s%s\n\n%s", cmd->name,
	       *cmd->synopsis ? " " : "", cmd->synopsis, cmd->help);
	return EXIT_OK;
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

static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long v;

	if (parse_uint(s, 10, UINT32_MAX, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
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
 * Check that exactly @min..@max operands are left after the options;
 * returns their count or -1 after a usage message.
 */
static int operands(const struct command *cmd, int argc, char **argv,
		    int min, int max)
{
	int n = argc - optind;

	if (n < min) {
		usage_error(cmd, "missing mailbox NAME");
		return -1;
	}
	if (n > max) {
		usage_error(cmd, "unexpected operand '%s'", argv[optind + max]);
		return -1;
	}
	return n;
}

/* --- commands ------------------------------------------------------------- */

static int cmd_create(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-msgs",     required_argument, NULL, 'm' },
		{ "max-msgsize",  required_argument, NULL, 's' },
		{ "mode",         required_argument, NULL, 'M' },
		{ "zc-slots",     required_argument, NULL, 'z' },
		{ "zc-slot-size", required_argument, NULL, 'Z' },
		{ "help",         no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct kmbox_attr attr = { 0 };
	unsigned long mode = 0600;
	const char *name;
	int c, fd;

	while ((c = next_opt(cmd, argc, argv, ":m:s:M:z:Z:h", longopts)) != -1) {
		switch (c) {
		case 'm':
			if (parse_u32(optarg, &attr.max_msgs))
				return usage_error(cmd, "bad --max-msgs '%s'",
						   optarg);
			break;
		case 's':
			if (parse_u32(optarg, &attr.max_msgsize))
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
			if (parse_u32(optarg, &attr.zc_slots))
				return usage_error(cmd, "bad --zc-slots '%s'",
						   optarg);
			break;
		case 'Z':
			if (parse_u32(optarg, &attr.zc_slot_size))
				return usage_error(cmd,
						   "bad --zc-slot-size '%s'",
						   optarg);
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
	name = argv[optind];

	/* Read access is enough to create; the mode decides who may use it. */
	fd = kmbox_open(name, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			(mode_t)mode, &attr);
	if (fd < 0)
		return fail(cmd->name, name);
	close(fd);
	return EXIT_OK;
}

static int cmd_unlink(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = next_opt(cmd, argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return print_help(cmd);
		return EXIT_USAGE;
	}
	if (operands(cmd, argc, argv, 1, 1) < 0)
		return EXIT_USAGE;
	if (kmbox_unlink(argv[optind]))
		return fail(cmd->name, argv[optind]);
	return EXIT_OK;
}

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
		{ "help",     no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct timespec deadline, *abs = NULL;
	int c, fd, oflag = O_WRONLY | O_CLOEXEC, ret = EXIT_OK;
	const char *name, *msg = NULL;
	struct kmbox_attr attr;
	char *buf = NULL;
	uint32_t prio = 0;
	size_t len;

	while ((c = next_opt(cmd, argc, argv, ":p:t:nh", longopts)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u32(optarg, &prio))
				return usage_error(cmd, "bad --prio '%s'",
						   optarg);
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

	if (msg) {
		len = strlen(msg);
	} else {
		if (kmbox_getattr(fd, &attr)) {
			ret = fail(cmd->name, name);
			goto out_close;
		}
		buf = read_stdin(attr.max_msgsize, &len);
		if (!buf) {
			ret = fail(cmd->name, "stdin");
			goto out_close;
		}
		msg = buf;
	}
	if (kmbox_timedsend(fd, msg, len, prio, abs))
		ret = fail(cmd->name, name);
	free(buf);
out_close:
	close(fd);
	return ret;
}

static int cmd_recv(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout",  required_argument, NULL, 't' },
		{ "nonblock", no_argument,       NULL, 'n' },
		{ "verbose",  no_argument,       NULL, 'v' },
		{ "help",     no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, fd, verbose = 0, oflag = O_RDONLY | O_CLOEXEC, ret = EXIT_OK;
	struct timespec deadline, *abs = NULL;
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	const char *name;
	char *buf;
	ssize_t n;

	while ((c = next_opt(cmd, argc, argv, ":t:nvh", longopts)) != -1) {
		switch (c) {
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
			verbose = 1;
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

	fd = kmbox_open(name, oflag);
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
	n = kmbox_receive_info(fd, buf, attr.max_msgsize, &info, abs);
	if (n < 0) {
		ret = fail(cmd->name, name);
		goto out_free;
	}
	if (verbose)
		fprintf(stderr, "prio=%u pid=%ld uid=%lu gid=%lu len=%zd%s\n",
			info.prio, (long)info.pid, (unsigned long)info.uid,
			(unsigned long)info.gid, n,
			info.flags & KMBOX_MSG_ZC ? " zc" : "");
	if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout))
		ret = fail(cmd->name, "stdout");
out_free:
	free(buf);
out_close:
	close(fd);
	return ret;
}

/*
 * Owner and mode are not in struct kmbox_attr; take them from the /proc
 * listing if the mailbox is there (named, not unlinked).  Best effort.
 */
static void print_owner(const char *name)
{
	char line[1024], *tok[16], *t, *save;
	FILE *f = fopen(PROC_MAILBOXES, "re");
	int n;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		/*
		 * id name uid gid mode ... flags: 15 columns.  Names with
		 * blanks are escaped there and simply not found.
		 */
		n = 0;
		for (t = strtok_r(line, " \t\n", &save); t && n < 16;
		     t = strtok_r(NULL, " \t\n", &save))
			tok[n++] = t;
		if (n != 15 || strcmp(tok[1], name) ||
		    !strchr(tok[14], 'N') || strchr(tok[14], 'U'))
			continue;
		printf("owner:         %s:%s\nmode:          %s\n",
		       tok[2], tok[3], tok[4]);
		break;
	}
	fclose(f);
}

static int cmd_stat(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct kmbox_attr a;
	const char *name;
	int c, fd;

	while ((c = next_opt(cmd, argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return print_help(cmd);
		return EXIT_USAGE;
	}
	if (operands(cmd, argc, argv, 1, 1) < 0)
		return EXIT_USAGE;
	name = argv[optind];

	/* Any access will do: try read, then write permission. */
	fd = kmbox_open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = kmbox_open(name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(cmd->name, name);
	if (kmbox_getattr(fd, &a)) {
		close(fd);
		return fail(cmd->name, name);
	}
	close(fd);

	printf("name:          %s\n", name);
	print_owner(name);
	printf("max_msgs:      %" PRIu32 "\n"
	       "max_msgsize:   %" PRIu32 "\n"
	       "cur_msgs:      %" PRIu32 "\n"
	       "cur_bytes:     %" PRIu64 "\n"
	       "rd_waiters:    %" PRIu32 "\n"
	       "wr_waiters:    %" PRIu32 "\n",
	       a.max_msgs, a.max_msgsize, a.cur_msgs, (uint64_t)a.cur_bytes,
	       a.rd_waiters, a.wr_waiters);
	if (a.zc_slots)
		printf("zc_slots:      %" PRIu32 "\n"
		       "zc_slot_size:  %" PRIu32 "\n"
		       "zc_free:       %" PRIu32 "\n"
		       "zc_in_use:     %" PRIu32 "\n",
		       a.zc_slots, a.zc_slot_size, a.zc_free,
		       a.zc_slots - a.zc_free);
	else
		printf("zc_slots:      0 (no zero-copy region)\n");
	return EXIT_OK;
}

static int cmd_list(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char buf[4096];
	size_t n;
	FILE *f;
	int c;

	while ((c = next_opt(cmd, argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return print_help(cmd);
		return EXIT_USAGE;
	}
	if (operands(cmd, argc, argv, 0, 0) < 0)
		return EXIT_USAGE;

	f = fopen(PROC_MAILBOXES, "re");
	if (!f)
		return fail(cmd->name, PROC_MAILBOXES);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (fwrite(buf, 1, n, stdout) != n)
			break;
	if (ferror(f)) {
		fclose(f);
		return fail(cmd->name, PROC_MAILBOXES);
	}
	fclose(f);
	if (ferror(stdout) || fflush(stdout))
		return fail(cmd->name, "stdout");
	return EXIT_OK;
}

static int cmd_info(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct kmbox_info in;
	int c;

	while ((c = next_opt(cmd, argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return print_help(cmd);
		return EXIT_USAGE;
	}
	if (operands(cmd, argc, argv, 0, 0) < 0)
		return EXIT_USAGE;

	if (kmbox_info(-1, &in))
		return fail(cmd->name, KMBOX_DEVICE);

	printf("api_version:         %" PRIu32 "\n"
	       "prio_max:            %" PRIu32 "\n"
	       "features:           %s%s%s%s\n"
	       "max_msgs_cap:        %" PRIu32 "\n"
	       "max_msgsize_cap:     %" PRIu32 "\n"
	       "default_max_msgs:    %" PRIu32 "\n"
	       "default_max_msgsize: %" PRIu32 "\n"
	       "user_quota:          %" PRIu64 "%s\n"
	       "region_cap:          %" PRIu64 "\n",
	       in.api_version, in.prio_max,
	       in.features & KMBOX_FEAT_ZEROCOPY ? " zerocopy" : "",
	       in.features & KMBOX_FEAT_BATCH ? " batch" : "",
	       in.features & KMBOX_FEAT_CREDS ? " creds" : "",
	       in.features ? "" : " none",
	       in.max_msgs_cap, in.max_msgsize_cap,
	       in.default_max_msgs, in.default_max_msgsize,
	       (uint64_t)in.user_quota, in.user_quota ? "" : " (unlimited)",
	       (uint64_t)in.region_cap);
	return EXIT_OK;
}

static const struct command commands[] = {
	{
		"create", cmd_create,
		"NAME [--max-msgs N] [--max-msgsize N] [--mode M]\n"
		"                       [--zc-slots N [--zc-slot-size N]]",
		"Create the named mailbox NAME; fails if it exists.\n"
		"  -m, --max-msgs N       messages it holds (0: module default)\n"
		"  -s, --max-msgsize N    largest message in bytes (0: default)\n"
		"  -M, --mode M           octal permission bits, default 0600;\n"
		"                         the umask applies\n"
		"  -z, --zc-slots N       zero-copy region of N slots\n"
		"  -Z, --zc-slot-size N   bytes per slot, a power of two >= 64\n"
		"                         (0: max-msgsize rounded up)\n",
	},
	{
		"unlink", cmd_unlink, "NAME",
		"Remove the name NAME.  Processes that have the mailbox open\n"
		"keep using it until they close it.\n",
	},
	{
		"send", cmd_send,
		"NAME [--prio P] [--timeout S] [--nonblock] [MESSAGE|-]",
		"Send MESSAGE as one message, or all of standard input if\n"
		"MESSAGE is '-' or missing.  No newline is added.\n"
		"  -p, --prio P      priority 0..32767, higher first (default 0)\n"
		"  -t, --timeout S   give up after S seconds (e.g. 0.5) if full\n"
		"  -n, --nonblock    fail at once if the mailbox is full\n"
		"A MESSAGE starting with '-' goes after '--'.\n",
	},
	{
		"recv", cmd_recv, "NAME [--timeout S] [--nonblock] [--verbose]",
		"Receive one message (highest priority first) and write it to\n"
		"standard output as it is.\n"
		"  -t, --timeout S   give up after S seconds if empty\n"
		"  -n, --nonblock    fail at once if the mailbox is empty\n"
		"  -v, --verbose     print prio, sender pid/uid/gid and length\n"
		"                    to standard error\n",
	},
	{
		"stat", cmd_stat, "NAME",
		"Print the mailbox's limits, queued messages and bytes,\n"
		"waiters and zero-copy region usage.\n",
	},
	{
		"list", cmd_list, "",
		"Print " PROC_MAILBOXES ": every mailbox of this IPC namespace.\n",
	},
	{
		"info", cmd_info, "",
		"Print the loaded module's version, features and limits.\n",
	},
	{ NULL, NULL, NULL, NULL }
};

static void main_usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: kmboxctl COMMAND [ARGS]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %s%s%s\n", c->name, *c->synopsis ? " " : "",
			c->synopsis);
	fprintf(f, "\n'kmboxctl COMMAND --help' describes one command.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		main_usage(stdout);
		return EXIT_OK;
	}
	for (c = commands; c->name; c++)
		if (!strcmp(argv[1], c->name))
			return c->run(c, argc - 1, argv + 1);

	fprintf(stderr, "kmboxctl: unknown command '%s'\n", argv[1]);
	main_usage(stderr);
	return EXIT_USAGE;
}
