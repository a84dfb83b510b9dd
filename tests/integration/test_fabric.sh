#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Middleware on tcp0: libfabric's verbs provider (Debian libfabric-bin's
# fi_info and fi_pingpong) and qperf, stock binaries on both ends.
#
#   tests/integration/test_fabric.sh PATH/TO/rdma-tcp
#
# As root. A private registry (RDMA_TCP_ROOT=$(mktemp -d)) with tcp0 on lo,
# the environment of `rdma-tcp env` (the rdma_cm preload included: both
# libfabric's msg endpoints and qperf -cm1 use rdma_cm). Checks:
#  - fi_info -p verbs, no other argument, lists tcp0 for FI_EP_MSG,
#    tcp0-dgram for FI_EP_DGRAM and tcp0 under verbs;ofi_rxm for FI_EP_RDM
#    (the preload's getifaddrs() lets libfabric see lo: librdmacm-ext/ifaddrs.c);
#  - fi_pingpong -e msg over verbs and -e rdm over verbs;ofi_rxm: both
#    sides exit 0 and the client prints its result row;
#  - qperf -cm1 rc_bw, rc_lat, rc_rdma_read_bw, rc_rdma_write_lat,
#    rc_compare_swap_mr: a figure printed, exit 0;
#  - qperf without -cm1 addresses by LID with no GRH (uc_* and ud_* always
#    do: qperf has no rdma_cm for them), which a RoCE-like port refuses as
#    a RoCE NIC does: modify_qp to RTR and create_ah fail with EINVAL;
#  - across two network namespaces joined by a veth pair (10.85.0.0/24,
#    tcpA in one, tcpB in the other, one registry): fi_info's msg
#    endpoint has the veth's address, not 127.0.0.1 (libfabric binds
#    "localhost" when given no address: librdmacm-ext/cm_addr.c), the two
#    fi_pingpong runs, and qperf -cm1 rc_bw and rc_rdma_read_bw.
# Plain build only (the sanitizer pass skips it). Runs in about 15 s.
# Traffic stays on lo and the veth pair. Prints one line per check and
# "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
if [ "$SAN_ACTIVE" = 1 ]; then
	# the suite's time budget: the plain pass runs this; the code it
	# drives is the rdma_cm and verbs paths the sanitizer pass covers
	# with perftest -R and the rdmacm tests
	echo "skipped in the sanitizer build (plain build only)"
	finish
	exit
fi
need_tools fi_info fi_pingpong qperf ss timeout

RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX) || exit 2
export RDMA_TCP_ROOT
LOGS=$(mktemp -d /tmp/rdma-tcp-fabric.XXXXXX) || exit 2
QPERF_PID=
NSA=fabA$$ NSB=fabB$$ IPA=10.85.0.1 IPB=10.85.0.2
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	alive "$QPERF_PID" && kill "$QPERF_PID" 2>/dev/null
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	rm -rf "$RDMA_TCP_ROOT" "$LOGS"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$RDMA_TCP" link add tcp0 netdev lo >/dev/null || exit 2
eval "$("$RDMA_TCP" env)" || exit 2

# A port of this run's own from $1 on, free on lo (or in namespace $2)
free_port_from() {
	local p=$(($1 + $$ % 1000))
	while port_used "${2:-}" "$p"; do p=$((p + 1)); done
	echo "$p"
}

info=$(timeout 20 fi_info -p verbs 2>&1)
check_match "fi_info: tcp0 msg endpoint" \
	'domain: tcp0'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_MSG' "$info"
check_match "fi_info: tcp0-dgram dgram endpoint" \
	'domain: tcp0-dgram'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_DGRAM' "$info"
check_match "fi_info: verbs;ofi_rxm rdm endpoint on tcp0" \
	'provider: verbs;ofi_rxm'$'\n''[^'$'\n'']*'$'\n''    domain: tcp0'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_RDM' "$info"

# fi_pingpong PROVIDER EPTYPE [SERVER_NS CLIENT_NS SERVER_ADDR]: server,
# then the client once the server's out-of-band socket listens (default:
# both here, over 127.0.0.1)
pingpong() {
	local prov=$1 ep=$2 sns=${3:-} cns=${4:-} addr=${5:-127.0.0.1}
	local what="fi_pingpong -p '$prov' -e $ep${3:+ across namespaces}"
	local port spid crc src
	# below the ephemeral range, where QP listeners take their ports
	port=$(free_port_from 27000 "$sns")
	in_ns "$sns" timeout 20 fi_pingpong -p "$prov" -e "$ep" -B "$port" \
		-S 4096 -I 200 >"$LOGS/s" 2>&1 &
	spid=$!
	if ! poll 10 listening "$sns" "$port"; then
		wait "$spid"
		fail "$what: server listens" "$(cat "$LOGS/s")"
		return
	fi
	in_ns "$cns" timeout 20 fi_pingpong -p "$prov" -e "$ep" -P "$port" \
		-S 4096 -I 200 "$addr" >"$LOGS/c" 2>&1
	crc=$?
	wait "$spid"
	src=$?
	if [ "$crc" -eq 0 ] && [ "$src" -eq 0 ] &&
		grep -Eq '^4k +200 +=200 ' "$LOGS/c"; then
		ok "$what"
	else
		fail "$what (client $crc, server $src)" \
			"$(cat "$LOGS/c" "$LOGS/s")"
	fi
}
pingpong verbs msg
pingpong "verbs;ofi_rxm" rdm

# A qperf server of its own on a new port (QPORT, QPERF_PID), here or in
# namespace $1: a test that fails at setup leaves the server waiting for
# its peer until qperf's timeout
qperf_server() {
	alive "$QPERF_PID" && kill "$QPERF_PID" 2>/dev/null && wait "$QPERF_PID"
	QNS=${1:-}
	QPORT=$(free_port_from $((19000 + ${QPORT:-19000} % 1000 + 1)) "$QNS")
	in_ns "$QNS" timeout 60 qperf -lp "$QPORT" >"$LOGS/q" 2>&1 &
	QPERF_PID=$!
	poll 10 listening "$QNS" "$QPORT" ||
		fail "qperf server listens" "$(cat "$LOGS/q")"
}
qperf_server

# [QCLIENT_NS=NS QADDR=ADDR] qperf_run ARGS... against the current server
# -> its output
qperf_run() {
	in_ns "${QCLIENT_NS:-}" timeout 20 qperf -lp "$QPORT" \
		"${QADDR:-127.0.0.1}" -t 1 "$@" 2>&1
}
for t in rc_bw rc_rdma_read_bw; do
	out=$(qperf_run -cm1 -m 4096 "$t")
	check_match "qperf -cm1 $t" "bw += +[0-9.]+ [KMG]B/sec" "$out"
done
for t in rc_lat rc_rdma_write_lat; do
	out=$(qperf_run -cm1 -m 64 "$t")
	check_match "qperf -cm1 $t" "latency += +[0-9.]+ (ns|us|ms)" "$out"
done
out=$(qperf_run -cm1 rc_compare_swap_mr)
check_match "qperf -cm1 rc_compare_swap_mr" "msg_rate += +[0-9.]+ [KM]?/sec" "$out"
if alive "$QPERF_PID"; then
	ok "qperf server alive after the -cm1 tests"
else
	fail "qperf server alive after the -cm1 tests" "$(cat "$LOGS/q")"
fi
# LID-only addressing on a RoCE-like port: refused as on RoCE.
# Both qperf sides make the call; whichever fails first prints the error
# and relays it to the other with an urgent byte and a write, and that
# relay can arrive empty ("server: "). So the refusal counts if the
# client printed it or the server logged it (the server's child flushes
# its log when it exits, after the client has gone: polled for).
# qperf_refused WHAT TEST MESSAGE
qperf_refused() {
	local out
	qperf_server
	out=$(qperf_run "$2")
	if [[ $out =~ $3 ]] || poll 10 grep -q "$3" "$LOGS/q"; then
		ok "$1"
	else
		fail "$1" "expected /$3/ from either side
client:
$out
server:
$(cat "$LOGS/q")"
	fi
}
qperf_refused "qperf rc_lat without -cm1: RTR refused (no GRH)" rc_lat \
	"failed to modify QP to RTR: Invalid argument"
qperf_refused "qperf uc_bw: RTR refused (no GRH, no rdma_cm in qperf)" uc_bw \
	"failed to modify QP to RTR: Invalid argument"
qperf_refused "qperf ud_lat: address handle refused (no GRH)" ud_lat \
	"failed to create address handle: Invalid argument"

# ---- across two namespaces ----
# DEV in NS is up: its port active, GID 0 the veth's address
ns_dev_ready() {
	local out
	out=$(ip netns exec "$1" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ state:[[:space:]]+PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}
setup_ns() {
	local side ns dev nd addr out
	out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) || {
		fail "namespaces $NSA, $NSB joined by a veth pair" "$out"
		return 1
	}
	for side in "$NSA tcpA vethA $IPA" "$NSB tcpB vethB $IPB"; do
		read -r ns dev nd addr <<<"$side"
		out=$(ip netns exec "$ns" "$RDMA_TCP" link add "$dev" netdev "$nd" 2>&1) &&
			poll 10 ns_dev_ready "$ns" "$dev" "$addr" || {
			fail "$dev on $nd in $ns, port active" "$out"
			return 1
		}
	done
	ok "namespaces $NSA (tcpA, $IPA) and $NSB (tcpB, $IPB) joined by a veth pair"
}
if setup_ns; then
	info=$(ip netns exec "$NSA" timeout 20 fi_info -p verbs -t FI_EP_MSG -v 2>&1)
	check_match "fi_info in $NSA: the msg endpoint's address is the veth's ($IPA)" \
		"src_addr: fi_sockaddr_in://${IPA//./\\.}:0" "$info"
	check_nomatch "fi_info in $NSA: no msg endpoint on 127.0.0.1" \
		"src_addr: fi_sockaddr_in://127\\." "$info"
	pingpong verbs msg "$NSA" "$NSB" "$IPA"
	pingpong "verbs;ofi_rxm" rdm "$NSA" "$NSB" "$IPA"
	qperf_server "$NSA"
	for t in rc_bw rc_rdma_read_bw; do
		out=$(QCLIENT_NS=$NSB QADDR=$IPA qperf_run -cm1 -m 4096 "$t")
		check_match "qperf -cm1 $t across namespaces" \
			"bw += +[0-9.]+ [KMG]B/sec" "$out"
	done
fi

finish
