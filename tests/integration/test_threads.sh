#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Posts, polls and destroys from several threads at once on one context
# (tests/tools/mt_stress.c): every message arrives once and intact, every
# WR succeeds, QPs and CQs come and go under traffic, nothing hangs. In a
# checked build (ASan, TSan, Debug) the provider's lock-order checker runs
# throughout and a violation aborts the tool; under ThreadSanitizer a data
# race or lock-order inversion report fails the test.
#
#   tests/integration/test_threads.sh PATH/TO/rdma-tcp
#   MT_SECONDS (default 4): how long the threads run

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
BUILD=${RDMA_TCP%/kernel-glue/rdma-tcp}
TOOL=$BUILD/tests/tools/mt_stress
SO=$BUILD/providers/tcp/libtcp-rdmav34.so
[ -x "$TOOL" ] || { echo "$0: $TOOL not built" >&2; exit 2; }

RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX)
export RDMA_TCP_ROOT
cleanup() {
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
}
trap cleanup EXIT INT TERM

"$RDMA_TCP" link add tcp0 netdev lo || exit 1
eval "$("$RDMA_TCP" env)"
unset LD_PRELOAD # no rdma_cm here; see test_devinfo.sh

# a build made to find bugs must have the checker in
cache=$BUILD/CMakeCache.txt
if grep -Eq '^(RDMA_TCP_SANITIZE|RDMA_TCP_TSAN):BOOL=ON|^CMAKE_BUILD_TYPE:STRING=Debug' "$cache"; then
	# (grep reads it all: -q would fail nm with SIGPIPE under pipefail)
	if nm "$SO" 2>/dev/null | grep tcp_mutex_lock_ >/dev/null; then
		ok "checked build: the provider's lock-order checker is on"
	else
		fail "checked build without the lock-order checker ($SO)"
	fi
fi

# the tool is built like the provider (plain or sanitized): no preload needed
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}
out=$(timeout 180 "$TOOL" tcp0 "${MT_SECONDS:-4}" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
if [ $rc -eq 0 ]; then
	ok "mt_stress: posters, pollers, an arming thread and a QP churn at once"
elif [ $rc -eq 124 ]; then
	fail "mt_stress hung (killed after 180 s)"
else
	fail "mt_stress (exit $rc)"
fi
check_nomatch "no lock-order violation" \
	'lock order violation|held$|not held|destroys a locked' "$out"
check_nomatch "no ThreadSanitizer report" 'WARNING: ThreadSanitizer' "$out"
finish
