// SPDX-License-Identifier: GPL-2.0
/*
 * /proc and /sys readers for tools: see kmbox_proc.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmbox_proc.h"

const char *kmbox_proc_dir(void)
{
	const char *d = getenv("KMBOX_PROC_DIR");

	return d && *d ? d : "/proc/kmbox";
}

/* All of @path, NUL-terminated; NULL with errno on failure. */
static char *slurp(const char *path)
{
	size_t cap = 8192, n = 0, got;
	char *buf = malloc(cap), *nbuf;
	FILE *f;
	int err;

	if (!buf)
		return NULL;
	f = fopen(path, "re");
	if (!f)
		goto out_free;
	for (;;) {
		if (cap - n < 2) {
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto out_close;
			buf = nbuf;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (!got)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto out_close;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;

out_close:
	err = errno;
	fclose(f);
	errno = err;
out_free:
	err = errno;
	free(buf);
	errno = err;
	return NULL;
}

/* Split @line in place on blanks into at most @max fields; return the count. */
static int split(char *line, char **field, int max)
{
	char *save, *t;
	int n = 0;

	for (t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return max + 1;
		field[n++] = t;
	}
	return n;
}

int kmbox_proc_read(struct kmbox_proc_table *t)
{
	return kmbox_proc_read_file(t, "mailboxes");
}

int kmbox_proc_read_file(struct kmbox_proc_table *t, const char *file)
{
	char path[4096], *line, *next;
	struct kmbox_proc_row *rows;
	int n, cap = 0;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/%s", kmbox_proc_dir(), file);
	t->text = slurp(path);
	if (!t->text)
		return -1;
	for (line = t->text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!t->ncols) {
			t->ncols = split(line, t->col, KMBOX_PROC_COLS_MAX);
			if (t->ncols > KMBOX_PROC_COLS_MAX || t->ncols < 2) {
				kmbox_proc_free(t);
				errno = EPROTO;
				return -1;
			}
			continue;
		}
		if (t->nrows == cap) {
			cap = cap ? cap * 2 : 64;
			rows = realloc(t->rows, (size_t)cap * sizeof(*rows));
			if (!rows) {
				kmbox_proc_free(t);
				errno = ENOMEM;
				return -1;
			}
			t->rows = rows;
		}
		n = split(line, t->rows[t->nrows].field, KMBOX_PROC_COLS_MAX);
		if (n == t->ncols)
			t->nrows++;
	}
	if (!t->ncols) {
		kmbox_proc_free(t);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

void kmbox_proc_free(struct kmbox_proc_table *t)
{
	free(t->rows);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

int kmbox_proc_col(const struct kmbox_proc_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->col[i], name))
			return i;
	return -1;
}

const struct kmbox_proc_row *kmbox_proc_find_id(const struct kmbox_proc_table *t,
						uint64_t id)
{
	int c = kmbox_proc_col(t, "id"), i;

	if (c < 0)
		return NULL;
	for (i = 0; i < t->nrows; i++)
		if (kmbox_proc_is_number(t->rows[i].field[c]) &&
		    strtoull(t->rows[i].field[c], NULL, 10) == id)
			return &t->rows[i];
	return NULL;
}

size_t kmbox_proc_unescape(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	while (*in && n + 1 < outsz) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
			out[n++] = (char)((in[1] - '0') << 6 | (in[2] - '0') << 3 |
					  (in[3] - '0'));
			in += 4;
		} else {
			out[n++] = *in++;
		}
	}
	if (outsz)
		out[n] = '\0';
	return n;
}

int kmbox_proc_is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int kmbox_fdinfo(int fd, const char *key, char *buf, size_t size)
{
	char path[64], line[1024];
	size_t klen = strlen(key), len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "kmbox-", 6) || strncmp(line + 6, key, klen) ||
		    line[6 + klen] != ':')
			continue;
		fclose(f);
		len = strcspn(line + 7 + klen, "\n");
		memmove(line, line + 7 + klen, len);
		line[len] = '\0';
		snprintf(buf, size, "%s", line + strspn(line, " \t"));
		return 0;
	}
	fclose(f);
	errno = ENOENT;
	return -1;
}

int kmbox_param(const char *name, uint64_t *val)
{
	char path[256];
	int ret;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/kmbox/parameters/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ret = fscanf(f, "%" SCNu64, val) == 1 ? 0 : -1;
	fclose(f);
	if (ret)
		errno = EPROTO;
	return ret;
}
