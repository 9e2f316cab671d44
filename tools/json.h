/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small streaming JSON writer for kmboxctl's --json output (and any
 * other tool of tools/ that prints JSON, such as a 'top').  It writes
 * RFC 8259 JSON, indented by two spaces, and cannot produce invalid
 * output whatever bytes it is given: strings are escaped, and a byte that
 * is not part of a valid UTF-8 sequence is written as \u00XX (the byte's
 * value as a Latin-1 code point), so a name that is not UTF-8 still gives
 * valid JSON.  Nesting is at most JSON_DEPTH_MAX deep.
 *
 * Usage:
 *	struct json j;
 *	json_init(&j, stdout);
 *	json_object_begin(&j, NULL);
 *	json_u64(&j, "cur_msgs", 4);
 *	json_string(&j, "name", name, strlen(name));
 *	json_object_end(&j);
 *	json_finish(&j);		(the final newline)
 * A NULL key is for values inside an array, or the top level.
 */
#ifndef KMBOX_TOOLS_JSON_H
#define KMBOX_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX	8

struct json {
	FILE *f;
	int depth;
	bool first[JSON_DEPTH_MAX + 1];	/* no member written yet at depth */
};

void json_init(struct json *j, FILE *f);
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_string(struct json *j, const char *key, const char *s, size_t len);
void json_cstring(struct json *j, const char *key, const char *s);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
void json_finish(struct json *j);

#endif /* KMBOX_TOOLS_JSON_H */
