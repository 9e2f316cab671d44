#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
# kmbox.h must compile on its own: strict C99/C11 and C++, no warnings.
# Usage: header-test.sh CC CXX  (run from userlib/)
set -eu

cc=${1:-cc}
cxx=${2:-c++}
src='#include <kmbox.h>
int main(void) { return kmbox_slot_ptr((const struct kmbox_region *)0, 0) != 0; }'

for std in c99 c11 gnu11; do
	printf '%s\n' "$src" | $cc -std=$std -pedantic -Wall -Wextra -Werror \
		-Wconversion -Wsign-conversion -I. -I../uapi -fsyntax-only -x c -
done
printf '%s\n' "$src" | $cxx -std=c++11 -Wall -Wextra -Werror -I. -I../uapi \
	-fsyntax-only -x c++ -
echo "ok: kmbox.h compiles alone as C99, C11, gnu11 and C++11"

# kmbox_uring.h, after liburing's header (where liburing-dev is installed;
# liburing's header wants _GNU_SOURCE).
usrc='#include <string.h>
#include <liburing.h>
#include <kmbox_uring.h>
int main(void)
{
	struct io_uring_sqe sqe[4];
	struct kmbox_send s;
	struct kmbox_recv r;
	struct kmbox_batch b;
	struct kmbox_loss l;

	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	memset(&b, 0, sizeof(b));
	kmbox_uring_prep_send(&sqe[0], 3, &s);
	kmbox_uring_prep_recv(&sqe[1], 3, &r, &r);
	kmbox_uring_prep_recv_batch(&sqe[2], 3, &b, &l);
	kmbox_uring_prep_send_batch(&sqe[3], 3, &b);
	return 0;
}'
if printf '#include <liburing.h>\n' | $cc -fsyntax-only -x c - 2>/dev/null; then
	for std in c99 c11 gnu11; do
		printf '%s\n' "$usrc" | $cc -std=$std -D_GNU_SOURCE -Wall -Wextra -Werror \
			-Wconversion -Wsign-conversion -I. -I../uapi -fsyntax-only -x c -
	done
	printf '%s\n' "$usrc" | $cxx -std=c++11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -I../uapi \
		-fsyntax-only -x c++ -
	echo "ok: kmbox_uring.h compiles after liburing.h as C99, C11, gnu11 and C++11"
else
	echo "ok: kmbox_uring.h not checked: no liburing.h (liburing-dev)"
fi
