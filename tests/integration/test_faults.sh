#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Faults between two network namespaces joined by a veth pair (made and
# deleted here, 10.85.0.1/24 in A with tcpA, 10.85.0.2/24 in B with tcpB),
# with RC traffic (WRITE, SEND, READ) running (tests/tools/faults.c):
#
#   sigkill    peer killed                       -> RETRY_EXC_ERR, flushes,
#   reset      peer's sockets destroyed (RST)       QP_FATAL, within 2x the
#   linklong   link down past the QP's budget       QP's retry budget
#   linkread   ...for a requester whose only request is an acknowledged READ
#   sigstop    peer stopped FAULTS_STOP_SECS (15) -> both survive, data intact
#   linkshort  link down 5 s, budget 17.2 s      -> both survive, data intact
#
# Each scenario prints its time to error ("time-to-error ...").
#
#   tests/integration/test_faults.sh PATH/TO/rdma-tcp
#
# FAULTS_ONLY="sigkill reset" runs some scenarios only.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
TOOL=$(built tests/tools/faults) || exit 2
need_tools ip ss timeout

SCENARIOS=${FAULTS_ONLY:-sigkill reset linklong linkread sigstop linkshort}
# 15 s: past the 10 s after which TCP_USER_TIMEOUT once killed such a
# peer, and past the stopped kernel's answer to the zero-window probe
# that ends a silence of about 6.4 s, three times the QPs' 2.15 s budget
# (the probes back off from RTO_MIN, 0.2 s, doubling: 0.2, 0.6, 1.4, 3.0,
# 6.2, 12.6 s after the window shut). A longer stop only repeats such a
# silence, longer.
STOP_SECS=${FAULTS_STOP_SECS:-15}
NSA=rtcp-fA-$$
NSB=rtcp-fB-$$
IPA=10.85.0.1
IPB=10.85.0.2
RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-faults.XXXXXX)
export RDMA_TCP_ROOT
T0=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$RDMA_TCP" env)" || exit 1
unset LD_PRELOAD # no rdma_cm here; the tool is built like the provider

# both ends of the veth carry traffic again
link_up() {
	ip -n "$NSA" link set vethA up 2>/dev/null
	[[ $(ip -n "$NSA" link show vethA) == *LOWER_UP* ]] &&
		[[ $(ip -n "$NSB" link show vethB) == *LOWER_UP* ]]
}

if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) &&
	out=$(ip netns exec "$NSA" "$RDMA_TCP" link add tcpA netdev vethA 2>&1) &&
	out=$(ip netns exec "$NSB" "$RDMA_TCP" link add tcpB netdev vethB 2>&1) &&
	poll 10 link_up; then
	ok "namespaces $NSA ($IPA) and $NSB ($IPB) joined by veth, tcpA and tcpB"
else
	fail "namespaces joined by veth, tcpA and tcpB" "$out"
	finish
	exit 1
fi

for s in $SCENARIOS; do
	t=$(date +%s)
	out=$(ip netns exec "$NSA" timeout 120 "$TOOL" "$s" "$NSB" tcpA tcpB \
		vethA "$IPA" "$STOP_SECS" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(FAIL|time-to-error)' | sed 's/^/# /'
	counts=$(printf '%s\n' "$out" | tail -n 1)
	if [ $rc -eq 0 ] && [[ $counts =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
		ok "$s ($counts, $(($(date +%s) - t)) s)"
	else
		fail "$s (exit $rc)" "$out"
	fi
	poll 10 link_up || fail "$s: veth back up"
done

echo "# $(($(date +%s) - T0)) s in all"
finish
