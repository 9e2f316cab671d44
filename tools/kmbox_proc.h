/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading what the kmbox module shows in /proc and /sys, for kmboxctl and
 * other tools of tools/ (a 'top' reads the same table every second):
 *
 *  - /proc/kmbox/mailboxes (and /proc/kmbox/mailbox_stats, the same
 *    way) as a table whose columns are named by the file's header line,
 *    so a column the module adds shows up without a change here
 *    (kmbox(4) lists the columns);
 *  - the kmbox-* lines of /proc/self/fdinfo/FD;
 *  - the module parameters in /sys/module/kmbox/parameters/.
 *
 * KMBOX_PROC_DIR in the environment replaces /proc/kmbox (tests feed a
 * made-up table that way).
 */
#ifndef KMBOX_TOOLS_PROC_H
#define KMBOX_TOOLS_PROC_H

#include <stddef.h>
#include <stdint.h>

#define KMBOX_PROC_COLS_MAX	48

struct kmbox_proc_row {
	char *field[KMBOX_PROC_COLS_MAX];	/* as in the file */
};

struct kmbox_proc_table {
	int ncols;
	char *col[KMBOX_PROC_COLS_MAX];		/* header names */
	int nrows;
	struct kmbox_proc_row *rows;
	char *text;				/* the file; fields point in */
};

/* The directory of "mailboxes" and "stats": $KMBOX_PROC_DIR or /proc/kmbox. */
const char *kmbox_proc_dir(void);

/*
 * Read /proc/kmbox/mailboxes.  Lines whose field count is not the
 * header's are skipped.  Return: 0, or -1 with errno.
 */
int kmbox_proc_read(struct kmbox_proc_table *t);
/* The same for another table of the directory: "mailbox_stats". */
int kmbox_proc_read_file(struct kmbox_proc_table *t, const char *file);
void kmbox_proc_free(struct kmbox_proc_table *t);

/* Index of the column called @name, or -1. */
int kmbox_proc_col(const struct kmbox_proc_table *t, const char *name);

/* The row whose "id" column is @id, or NULL. */
const struct kmbox_proc_row *kmbox_proc_find_id(const struct kmbox_proc_table *t,
						uint64_t id);

/*
 * Undo the module's name escaping (\ooo for every byte but '!'..'~' and
 * the backslash) into @out, NUL-terminated.  Return: the name's length.
 */
size_t kmbox_proc_unescape(const char *in, char *out, size_t outsz);

/* Is @s a plain decimal number (digits only)? */
int kmbox_proc_is_number(const char *s);

/*
 * The value of "kmbox-@key:" in /proc/self/fdinfo/@fd into @buf.
 * Return: 0, or -1 with errno (ENOENT: no such line).
 */
int kmbox_fdinfo(int fd, const char *key, char *buf, size_t size);

/*
 * A module parameter from /sys/module/kmbox/parameters/@name.
 * Return: 0, or -1 with errno.
 */
int kmbox_param(const char *name, uint64_t *val);

#endif /* KMBOX_TOOLS_PROC_H */
