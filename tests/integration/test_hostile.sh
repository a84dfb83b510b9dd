#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile application input: tests/integration/hostile_verbs.c calls every
# verb the tcp provider implements, through the real libibverbs, with NULL,
# garbage or oversize arguments (sge counts, lengths, queue sizes, access
# flags, attribute masks and values, opcodes, WR chains longer than the
# queue, objects of another context, objects still in use). Each call must
# fail with the errno libibverbs documents and rxe gives (and bad_wr at the
# first WR not posted), never crash; the ASan build catches memory errors.
#
#   tests/integration/test_hostile.sh PATH/TO/rdma-tcp
#
# As root: registers tcp0 on lo in a private registry (RDMA_TCP_ROOT). All
# traffic is on loopback. Prints one line per check and "N passed,
# N failed"; exit status 1 on any failure, 2 on a usage or setup error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH/TO/rdma-tcp" >&2
	exit 2
fi
require_root
RDMA_TCP=$(readlink -f "$1")
PROG=${RDMA_TCP%/kernel-glue/rdma-tcp}/tests/integration/hostile_verbs
if [ ! -x "$PROG" ]; then
	echo "$0: $PROG not built" >&2
	exit 2
fi

RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX)
export RDMA_TCP_ROOT
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! out=$("$RDMA_TCP" link add tcp0 netdev lo 2>&1); then
	echo "$0: link add tcp0 netdev lo: $out" >&2
	exit 2
fi
env_out=$("$RDMA_TCP" env) || exit 2
eval "$env_out"
# hostile_verbs is built like the provider (plain or ASan+UBSan), so it carries
# its own sanitizer runtime. It uses neither rdma_cm nor completion
# channels, so the librdmacm-ext preload is left out: preloaded ahead of an
# ASan executable it would keep ASan's runtime from loading first.
unset LD_PRELOAD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# the program has its own 240 s watchdog; this is the backstop. A sanitizer
# report ends it without its count line: that is a failure too.
out=$(mktemp)
timeout -k 5 300 "$PROG" tcp0 | tee "$out"
rc=${PIPESTATUS[0]}
last=$(tail -n 1 "$out")
rm -f "$out"
if [ "$rc" -le 1 ] && [[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
	exit "$rc"
fi
case $rc in
124 | 137) echo "FAIL - hostile_verbs hung (killed by timeout)" ;;
*) echo "FAIL - hostile_verbs died (exit status $rc, a sanitizer report or a crash)" ;;
esac
echo "0 passed, 1 failed"
exit 1
