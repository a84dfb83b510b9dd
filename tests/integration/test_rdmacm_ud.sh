#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma_cm's UDP port space with stock programs, unmodified: udaddy (SIDR
# through rdma_connect/rdma_accept, then UD traffic with the AH of the
# ESTABLISHED event and ibv_create_ah_from_wc on the way back) and mckey
# (rdma_join_multicast), both from rdmacm-utils, through librdmacm-ext.
#
#   tests/integration/test_rdmacm_ud.sh PATH/TO/rdma-tcp
#
# As root, with a private registry and namespaces made for the test
# (udaddy's CM port is fixed, 7174: each phase has a namespace of its
# own, so nothing else on the host can hold it):
#  1. loopback: namespace L with tcp0 on its lo; udaddy over 127.0.0.1
#     (one connection, then four with 1000-byte messages) and ::1; a
#     client with no server (UNREACHABLE, at once); RDMA_PS_IPOIB (-P
#     ipoib: refused with EINVAL, as on RoCE); mckey: the join (MGID
#     ::ffff:GROUP) and a sender's messages -- or, from a provider without
#     multicast, MULTICAST_ERROR with -EOPNOTSUPP (-95), as documented;
#  2. two namespaces joined by a veth pair (10.83.0.1/24 with tcpA,
#     10.83.0.2/24 with tcpB): udaddy, server in A, client in B; mckey,
#     receiver in A, sender in B.
# Devices keep the default mode (auth): the CM exchange runs in TLS.
# Each process runs under `timeout` (RDMACM_UD_TIMEOUT, default 30 s);
# the client starts once the server listens. Prints one line per check
# and "N passed, N failed"; exit 1 on any failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ip ss timeout udaddy mckey ibv_devinfo

TMO=${RDMACM_UD_TIMEOUT:-30}
NSL=rtcp-udL-$$
NSA=rtcp-udA-$$
NSB=rtcp-udB-$$
IPA=10.83.0.1
IPB=10.83.0.2
UDPORT=7174 # udaddy's, fixed
WORK=$(mktemp -d /tmp/rdma-tcp-rdmacm-ud.XXXXXX)
RDMA_TCP_ROOT=$WORK/root
LOGS=$WORK/logs
mkdir -p "$RDMA_TCP_ROOT" "$LOGS"
export RDMA_TCP_ROOT
BG_PID=
N=0
T0=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$BG_PID" ]; then
		kill "$BG_PID" 2>/dev/null
		wait "$BG_PID" 2>/dev/null
	fi
	ns_del "$NSL" tcp0
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if out=$("$RDMA_TCP" env 2>&1); then
	eval "$out"
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi
# the preload goes to the stock programs only (after the sanitizer
# runtimes in an ASan build), not to this script's own tools
PRE=$LD_PRELOAD
unset LD_PRELOAD
if [ "$SAN_ACTIVE" = 1 ]; then
	LD_PRELOAD=$PRE san_refresh
	RUN=("${STOCK[@]}")
else
	RUN=(env "LD_PRELOAD=$PRE")
fi

# device $2 in namespace $1 is ACTIVE
dev_ready() {
	in_ns "$1" "${RUN[@]}" ibv_devinfo -d "$2" 2>&1 | grep -q PORT_ACTIVE
}

# udp_listening NS: udaddy's server has its CM port
udaddy_listening() { listening "$1" "$UDPORT"; }

# bg NS LOG CMD...: CMD in NS in the background, BG_PID
bg() {
	local ns=$1 log=$2
	shift 2
	in_ns "$ns" timeout -k 5 "$TMO" "${RUN[@]}" "$@" >"$log" 2>&1 </dev/null &
	BG_PID=$!
}

# bg_wait: the background program's exit status
bg_wait() {
	local rc
	wait "$BG_PID"
	rc=$?
	BG_PID=
	return $rc
}

logs() {
	local f
	for f; do
		printf -- '--- %s, last lines:\n' "${f##*/}"
		tail -n 8 "$f"
	done
}

# udaddy_pair LABEL SNS CNS ADDR [ARGS...]: server bound to ADDR in SNS,
# client to ADDR from CNS; both must exit 0 having moved their data
udaddy_pair() {
	local label=$1 sns=$2 cns=$3 addr=$4 slog clog src crc t0 secs
	shift 4
	N=$((N + 1))
	slog=$LOGS/$N-server.log
	clog=$LOGS/$N-client.log
	local what="$label: udaddy -b $addr $* | udaddy -s $addr $*"
	t0=$(date +%s%N)
	bg "$sns" "$slog" udaddy -b "$addr" "$@"
	if ! poll 15 udaddy_listening "$sns"; then
		kill "$BG_PID" 2>/dev/null
		bg_wait
		fail "$what" "server not listening on $UDPORT"$'\n'"$(logs "$slog")"
		return
	fi
	in_ns "$cns" timeout -k 5 "$TMO" "${RUN[@]}" udaddy -s "$addr" "$@" \
		>"$clog" 2>&1 </dev/null
	crc=$?
	[ $crc -eq 0 ] || kill "$BG_PID" 2>/dev/null
	bg_wait
	src=$?
	secs=$(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')
	if [ $src -eq 0 ] && [ $crc -eq 0 ] &&
		grep -q '^data transfers complete' "$slog" &&
		grep -q '^data transfers complete' "$clog" &&
		grep -q '^return status 0' "$clog" &&
		! san_report_in "$(cat "$slog" "$clog")"; then
		ok "$what ($secs s)"
	else
		fail "$what ($secs s)" "server exit $src, client exit $crc"$'\n'"$(logs "$slog" "$clog")"
	fi
}

# client_fails LABEL NS REGEX CMD...: CMD fails cleanly (an exit code,
# not a timeout or signal) within 10 s, its output matching REGEX
client_fails() {
	local label=$1 ns=$2 re=$3 out rc
	shift 3
	out=$(in_ns "$ns" timeout -k 5 10 "${RUN[@]}" "$@" 2>&1 </dev/null)
	rc=$?
	# (udaddy exits with its negative status: -111 is 145, above the
	# signals a crash or the timeout give)
	if [ $rc -ne 0 ] && { [ $rc -lt 124 ] || [ $rc -ge 144 ]; } &&
		[[ $out =~ $re ]] && ! san_report_in "$out"; then
		ok "$label: $* fails: exit $rc, /$re/"
	else
		fail "$label: $* fails with /$re/" "exit $rc: $out"
	fi
}

# the mckey receiver in MC_NS has its QP attached (the provider's member
# socket on RoCE v2's port, 4791), or is gone (its stdout is a file:
# mckey's lines come at its exit)
mc_joined() {
	in_ns "$MC_NS" ss -Hlun 'sport = :4791' | grep -q . || ! alive "$BG_PID"
}

# mckey_case NS ADDR SNS SADDR GROUP: a receiver in NS bound to ADDR
# joins GROUP, a sender in SNS bound to SADDR sends it 5 messages; a
# provider without multicast ends the join in MULTICAST_ERROR
# -EOPNOTSUPP (librdmacm-ext/README.md)
mckey_case() {
	local ns=$1 addr=$2 sns=$3 saddr=$4 group=$5 rlog slog
	N=$((N + 1))
	rlog=$LOGS/$N-mckey-recv.log
	slog=$LOGS/$N-mckey-send.log
	bg "$ns" "$rlog" mckey -m "$group" -b "$addr" -C 5
	MC_NS=$ns
	poll 15 mc_joined
	if ! alive "$BG_PID" && grep -q 'MULTICAST_ERROR, error: -95' "$rlog"; then
		bg_wait
		if grep -q '^return status' "$rlog" && ! san_report_in "$(cat "$rlog")"; then
			ok "mckey -m $group ($addr <- $saddr): no multicast in the provider: MULTICAST_ERROR -EOPNOTSUPP, clean exit"
		else
			fail "mckey -m $group ($addr <- $saddr): MULTICAST_ERROR, clean exit" "$(logs "$rlog")"
		fi
		return
	fi
	if ! alive "$BG_PID"; then
		bg_wait
		fail "mckey -m $group ($addr <- $saddr): the receiver joins" "$(logs "$rlog")"
		return
	fi
	# the sender waits 3 s after its own join before it sends (mckey's
	# pause for a subnet manager): the receiver polls by then
	in_ns "$sns" timeout -k 5 "$TMO" "${RUN[@]}" mckey -m "$group" -b "$saddr" -s -C 5 \
		>"$slog" 2>&1 </dev/null
	bg_wait
	if grep -q "joined dgid: ::ffff:$group" "$rlog" &&
		grep -q "joined dgid: ::ffff:$group" "$slog" &&
		grep -q '^data transfers complete' "$rlog" &&
		grep -q '^data transfers complete' "$slog" &&
		! san_report_in "$(cat "$rlog" "$slog")"; then
		ok "mckey -m $group ($addr <- $saddr): joined ::ffff:$group, 5 messages from a sender"
	else
		fail "mckey -m $group ($addr <- $saddr): joined ::ffff:$group, 5 messages from a sender" \
			"$(logs "$rlog" "$slog")"
	fi
}

########################################################################
echo "# loopback: namespace $NSL, tcp0 on its lo"
if out=$(ip netns add "$NSL" 2>&1 && ip -n "$NSL" link set lo up 2>&1 &&
	ip netns exec "$NSL" "$RDMA_TCP" link add tcp0 netdev lo 2>&1) &&
	poll 10 dev_ready "$NSL" tcp0; then
	ok "tcp0 on lo of $NSL, PORT_ACTIVE"
	t=$(date +%s)
	udaddy_pair lo "$NSL" "$NSL" 127.0.0.1
	udaddy_pair lo "$NSL" "$NSL" 127.0.0.1 -c 4 -C 20 -S 1000
	udaddy_pair lo6 "$NSL" "$NSL" ::1
	client_fails lo "$NSL" 'UNREACHABLE, error: -111' \
		udaddy -s 127.0.0.1 -b 127.0.0.1
	client_fails lo "$NSL" 'Invalid argument' \
		udaddy -s 127.0.0.1 -b 127.0.0.1 -P ipoib
	mckey_case "$NSL" 127.0.0.1 "$NSL" 127.0.0.1 239.1.2.3
	echo "# loopback phase: $(($(date +%s) - t)) s"
else
	fail "tcp0 on lo of $NSL, PORT_ACTIVE" "$out"
fi

########################################################################
echo "# namespaces: $NSA (tcpA, $IPA) <-> $NSB (tcpB, $IPB)"
if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) &&
	out=$(ip netns exec "$NSA" "$RDMA_TCP" link add tcpA netdev vethA 2>&1) &&
	out=$(ip netns exec "$NSB" "$RDMA_TCP" link add tcpB netdev vethB 2>&1) &&
	poll 10 dev_ready "$NSA" tcpA && poll 10 dev_ready "$NSB" tcpB; then
	ok "namespaces joined by veth, tcpA and tcpB ACTIVE"
	t=$(date +%s)
	udaddy_pair netns "$NSA" "$NSB" "$IPA"
	udaddy_pair netns "$NSA" "$NSB" "$IPA" -c 2 -C 50
	mckey_case "$NSA" "$IPA" "$NSB" "$IPB" 239.1.2.4
	echo "# namespace phase: $(($(date +%s) - t)) s"
else
	fail "namespaces joined by veth, tcpA and tcpB ACTIVE" "$out"
fi

echo "# $(($(date +%s) - T0)) s in all"
finish
