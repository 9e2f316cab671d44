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
