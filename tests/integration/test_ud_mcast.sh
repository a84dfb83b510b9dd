#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UD multicast over IP multicast (docs/design.md, "UD queue pairs").
#
#   tests/integration/test_ud_mcast.sh PATH/TO/rdma-tcp
#
# As root. tests/tools/ud_mcast (three members, a sender, a detach, the
# refusals) in the device's default mode:
#  - on lo, an IPv4 group (::ffff:239.77.x.y, from the PID: lo is shared
#    with whatever else runs at the same time); lo has no IPv6 multicast
#    (no MULTICAST flag: the kernel answers ENETUNREACH);
#  - on one end of a veth pair in network namespaces made for the test
#    (10.88.0.0/24, fd88::/64), an IPv4 and an IPv6 group (ff0e::88).
# Multicast leaves with TTL 1 and only by the device's netdev; nothing
# leaves the host.
#
# Prints one line per check and "N passed, N failed"; exit status 1 on any
# failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
PROG=$(built tests/tools/ud_mcast) || exit 2
need_tools ip timeout ibv_devinfo
NSA=rtcp-udmA-$$
NSB=rtcp-udmB-$$

lo_device tcp0
own_san_options
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	ns_del "$NSA" tcpm0
	ns_del "$NSB"
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}
trap cleanup EXIT

# run_suite WHAT NS DEV MGID: the tool's checks, counted as ours
run_suite() {
	local what=$1 ns=$2 dev=$3 mgid=$4 out line
	out=$(in_ns "$ns" timeout -k 5 60 "$PROG" "$dev" "$mgid" 2>&1)
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "$what: ${line#ok - }" ;;
		"not ok - "*) fail "$what: ${line#not ok - }" ;;
		esac
	done <<<"$out"
	[[ $out =~ [0-9]+\ passed,\ 0\ failed ]] ||
		fail "$what: ud_mcast finished" "$out"
}

# lo is shared with whatever else runs on the host: a group of our own
run_suite "lo, IPv4 group" "" tcp0 \
	"::ffff:239.77.$((($$ >> 8) & 255)).$(($$ & 255))"

if veth_pair "$NSA" 10.88.0.1 "$NSB" 10.88.0.2 &&
	ip -n "$NSA" addr add fd88::1/64 dev vethA nodad &&
	ip -n "$NSB" addr add fd88::2/64 dev vethB nodad &&
	ip netns exec "$NSA" "$RDMA_TCP" link add tcpm0 netdev vethA; then
	# the GID table lists the IPv6 address once the daemon has seen it
	poll 5 bash -c "ip netns exec $NSA ibv_devinfo -v -d tcpm0 2>/dev/null |
		grep -q 'fd88::1'"
	run_suite "veth, IPv4 group" "$NSA" tcpm0 ::ffff:239.77.0.2
	run_suite "veth, IPv6 group" "$NSA" tcpm0 ff0e::88
else
	fail "veth pair with a device on vethA"
fi
finish
