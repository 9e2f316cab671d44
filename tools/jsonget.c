// SPDX-License-Identifier: GPL-2.0
/*
 * jsonget - check that standard input is one JSON text (RFC 8259, strict)
 * and print a value from it.  A test helper for kmboxctl --json: the QEMU
 * guest has busybox, but no jq or python.
 *
 *   jsonget < file              "ok" if the input is valid JSON
 *   jsonget PATH < file         the value at PATH
 *
 * PATH is a sequence of .KEY and [INDEX], e.g. .mailboxes[0].name; a
 * final # prints the number of members of an object or array, a final @
 * the keys of an object, one per line.  A string prints unescaped, a
 * number as written, true, false and null as such.
 *
 * Exit status: 0 found, 1 invalid JSON, 2 usage, 3 no such path or not a
 * scalar.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum type { T_NULL, T_BOOL, T_NUM, T_STR, T_ARR, T_OBJ };

struct node {
	enum type type;
	char *text;		/* T_STR: unescaped (len bytes); T_NUM, T_BOOL: as written */
	size_t len;
	size_t n;		/* members of T_ARR, T_OBJ */
	char **keys;		/* T_OBJ */
	size_t *klen;
	struct node **kids;
};

static const char *p, *end;
static const char *err;

static void *xrealloc(void *q, size_t size)
{
	q = realloc(q, size);
	if (!q) {
		fputs("jsonget: out of memory\n", stderr);
		exit(2);
	}
	return q;
}

static void ws(void)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
}

static int hex4(unsigned int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++, p++) {
		if (p >= end)
			return -1;
		*v <<= 4;
		if (*p >= '0' && *p <= '9')
			*v |= (unsigned int)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			*v |= (unsigned int)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			*v |= (unsigned int)(*p - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static void put_byte(char **s, size_t *len, size_t *cap, char b)
{
	if (*len + 1 >= *cap) {
		*cap = *cap * 2 + 16;
		*s = xrealloc(*s, *cap);
	}
	(*s)[(*len)++] = b;
}

static void put_utf8(char **s, size_t *len, size_t *cap, unsigned int c)
{
	char b[4];
	size_t n, i;

	if (c < 0x80) {
		b[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3f)), n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f)), n = 3;
	} else {
		b[0] = (char)(0xf0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f)), b[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	for (i = 0; i < n; i++)
		put_byte(s, len, cap, b[i]);
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int c;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

static int string(char **out, size_t *outlen)
{
	size_t len = 0, cap = 16, n;
	char *s = xrealloc(NULL, cap);
	unsigned int c, lo;

	p++;	/* the opening quote */
	for (;;) {
		if (p >= end)
			goto bad;
		c = (unsigned char)*p;
		if (c == '"') {
			p++;
			break;
		}
		if (c < 0x20)
			goto bad;
		if (c == '\\') {
			if (++p >= end)
				goto bad;
			switch (*p++) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				if (hex4(&c))
					goto bad;
				if (c >= 0xdc00 && c <= 0xdfff)
					goto bad;
				if (c >= 0xd800 && c <= 0xdbff) {
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
						goto bad;
					p += 2;
					if (hex4(&lo) || lo < 0xdc00 || lo > 0xdfff)
						goto bad;
					c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				}
				break;
			default:
				goto bad;
			}
			put_utf8(&s, &len, &cap, c);
			continue;
		}
		if (c < 0x80) {
			put_utf8(&s, &len, &cap, c);
			p++;
			continue;
		}
		n = utf8_ok((const unsigned char *)p, (size_t)(end - p));
		if (!n) {
			err = "invalid UTF-8 in a string";
			goto bad_set;
		}
		while (n--)
			put_byte(&s, &len, &cap, *p++);
	}
	s[len] = '\0';
	*out = s;
	*outlen = len;
	return 0;
bad:
	err = "bad string";
bad_set:
	free(s);
	return -1;
}

static struct node *value(int depth);

static struct node *new_node(enum type t)
{
	struct node *n = xrealloc(NULL, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->type = t;
	return n;
}

static struct node *number(void)
{
	const char *start = p;
	struct node *n;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
	} else if (p < end && *p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return NULL;
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	n = new_node(T_NUM);
	n->len = (size_t)(p - start);
	n->text = xrealloc(NULL, n->len + 1);
	memcpy(n->text, start, n->len);
	n->text[n->len] = '\0';
	return n;
}

static struct node *word(const char *w, enum type t)
{
	size_t len = strlen(w);
	struct node *n;

	if ((size_t)(end - p) < len || memcmp(p, w, len))
		return NULL;
	p += len;
	n = new_node(t);
	n->text = xrealloc(NULL, len + 1);
	memcpy(n->text, w, len + 1);
	n->len = len;
	return n;
}

static struct node *container(int depth, bool obj)
{
	struct node *n = new_node(obj ? T_OBJ : T_ARR), *kid;
	char *key = NULL;
	size_t klen = 0;

	p++;
	ws();
	if (p < end && *p == (obj ? '}' : ']')) {
		p++;
		return n;
	}
	for (;;) {
		ws();
		if (obj) {
			if (p >= end || *p != '"' || string(&key, &klen))
				return NULL;
			ws();
			if (p >= end || *p++ != ':')
				return NULL;
		}
		kid = value(depth + 1);
		if (!kid)
			return NULL;
		n->kids = xrealloc(n->kids, (n->n + 1) * sizeof(*n->kids));
		n->kids[n->n] = kid;
		if (obj) {
			n->keys = xrealloc(n->keys, (n->n + 1) * sizeof(*n->keys));
			n->klen = xrealloc(n->klen, (n->n + 1) * sizeof(*n->klen));
			n->keys[n->n] = key;
			n->klen[n->n] = klen;
		}
		n->n++;
		ws();
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == (obj ? '}' : ']')) {
			p++;
			return n;
		}
		return NULL;
	}
}

static struct node *value(int depth)
{
	struct node *n;

	if (depth > 64) {
		err = "nested too deep";
		return NULL;
	}
	ws();
	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
		return container(depth, true);
	case '[':
		return container(depth, false);
	case '"':
		n = new_node(T_STR);
		if (string(&n->text, &n->len))
			return NULL;
		return n;
	case 't':
		return word("true", T_BOOL);
	case 'f':
		return word("false", T_BOOL);
	case 'n':
		return word("null", T_NULL);
	default:
		return number();
	}
}

int main(int argc, char **argv)
{
	size_t cap = 65536, len = 0, got;
	char *buf = xrealloc(NULL, cap), mode = 0;
	const char *path;
	struct node *n, *root;
	size_t i;

	if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
		fputs("usage: jsonget [PATH] < json   (PATH: .key[0].key, then # or @)\n",
		      argc > 2 ? stderr : stdout);
		return argc > 2 ? 2 : 0;
	}
	while ((got = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += got;
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	p = buf;
	end = buf + len;
	root = value(0);
	ws();
	if (!root || p != end) {
		fprintf(stderr, "jsonget: invalid JSON at byte %zu%s%s\n",
			(size_t)(p - buf), err ? ": " : "", err ? err : "");
		return 1;
	}
	if (argc < 2) {
		puts("ok");
		return 0;
	}

	n = root;
	path = argv[1];
	while (*path) {
		if (*path == '.' && path[1] && path[1] != '[' && path[1] != '#' &&
		    path[1] != '@') {
			size_t kl = strcspn(path + 1, ".[#@");

			if (n->type != T_OBJ)
				goto nopath;
			for (i = 0; i < n->n; i++)
				if (n->klen[i] == kl && !memcmp(n->keys[i], path + 1, kl))
					break;
			if (i == n->n)
				goto nopath;
			n = n->kids[i];
			path += 1 + kl;
		} else if (*path == '.') {
			path++;
		} else if (*path == '[') {
			char *e;
			unsigned long ix = strtoul(path + 1, &e, 10);

			if (*e != ']' || n->type != T_ARR || ix >= n->n)
				goto nopath;
			n = n->kids[ix];
			path = e + 1;
		} else if ((*path == '#' || *path == '@') && !path[1]) {
			mode = *path++;
		} else {
			fprintf(stderr, "jsonget: bad path '%s'\n", argv[1]);
			return 2;
		}
	}
	if (mode == '#') {
		if (n->type != T_OBJ && n->type != T_ARR)
			goto nopath;
		printf("%zu\n", n->n);
	} else if (mode == '@') {
		if (n->type != T_OBJ)
			goto nopath;
		for (i = 0; i < n->n; i++) {
			fwrite(n->keys[i], 1, n->klen[i], stdout);
			putchar('\n');
		}
	} else {
		if (n->type == T_OBJ || n->type == T_ARR)
			goto nopath;
		fwrite(n->text, 1, n->len, stdout);
		putchar('\n');
	}
	return fflush(stdout) ? 1 : 0;

nopath:
	fprintf(stderr, "jsonget: no value at '%s'\n", argv[1]);
	return 3;
}
