#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Many QPs feeding one CQ that the application polls itself, as UCX's
# endpoints do (tests/tools/cq_many.c): SEND, WRITE and READ on 64 pairs
# at once, half of them destroyed and the rest still served, and idle
# polls that read no socket. Before the CQ's ready set (design.md, "Many
# QPs on one CQ") each poll read every QP's socket: 128 system calls a
# poll here, 4 ms a poll at 2000 QPs. strace counts the socket reads
# between the tool's markers around its idle polls.
#
#   tests/integration/test_cq_many.sh PATH/TO/rdma-tcp

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
need_tools strace timeout
TOOL=$(built tests/tools/cq_many) || exit 2
own_san_options
lo_device tcp0

POLLS=2000
PAIRS=64
TRACE=$(mktemp /tmp/rdma-tcp-cq-many.XXXXXX)
# (the status the script exits with is the one the cleanup finds)
trap 'rc=$?; rm -f "$TRACE"; (exit "$rc"); _lo_device_cleanup' EXIT

# the traffic and the idle polls, checked (and, in a sanitizer build,
# with leak detection, which does not work under ptrace)
run_c_suite 120 "$TOOL" -d tcp0 -n "$PAIRS" -p "$POLLS" 2>&1 | sed 's/^/    /'
check "cq_many: $PAIRS pairs on one CQ" test "${PIPESTATUS[0]}" -eq 0

# the same under strace, for the count
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
if ! strace -f -qq -o /dev/null true 2>/dev/null; then
	fail "strace runs here" "strace -f true failed (ptrace not permitted?)"
	finish
fi
out=$(timeout -k 5 300 strace -f -qq -o "$TRACE" \
	-e trace=recvfrom,recvmsg,readv,write \
	"$TOOL" -d tcp0 -n "$PAIRS" -p "$POLLS" 2>&1)
rc=$?
check "cq_many under strace" test "$rc" -eq 0
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/    /'
# socket reads of any thread between the markers
reads=$(awk '/idle polls begin/ { on = 1; seen++; next }
	/idle polls end/ { on = 0; seen++ }
	on && /^[0-9]+ +(recvfrom|recvmsg|readv)\(/ { n++ }
	END { print (seen == 2 ? n + 0 : "no-markers") }' "$TRACE")
if [ "$reads" = no-markers ]; then
	fail "idle polls traced" "the markers are not in strace's output"
elif [ "$reads" -lt $((POLLS / 100)) ]; then
	ok "$POLLS idle polls of a CQ fed by $((2 * PAIRS)) QPs: socket reads: $reads"
else
	fail "$POLLS idle polls of a CQ fed by $((2 * PAIRS)) QPs: socket reads: $reads" \
		"each poll reads the QPs' sockets (at most $((POLLS / 100)) expected)"
fi
finish
