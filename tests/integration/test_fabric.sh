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
#    a RoCE NIC does: modify_qp to RTR and create_ah fail with EINVAL.
# Plain build only (the sanitizer pass skips it). Runs in about 10 s.
# Traffic stays on lo. Prints one line per check and "N passed, N failed".

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
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	alive "$QPERF_PID" && kill "$QPERF_PID" 2>/dev/null
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT" "$LOGS"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$RDMA_TCP" link add tcp0 netdev lo >/dev/null || exit 2
eval "$("$RDMA_TCP" env)" || exit 2

# A port of this run's own, free on lo
free_port() {
	local p=$(($1 + $$ % 1000))
	while port_used "" "$p"; do p=$((p + 1)); done
	echo "$p"
}

info=$(timeout 20 fi_info -p verbs 2>&1)
check_match "fi_info: tcp0 msg endpoint" \
	'domain: tcp0'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_MSG' "$info"
check_match "fi_info: tcp0-dgram dgram endpoint" \
	'domain: tcp0-dgram'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_DGRAM' "$info"
check_match "fi_info: verbs;ofi_rxm rdm endpoint on tcp0" \
	'provider: verbs;ofi_rxm'$'\n''[^'$'\n'']*'$'\n''    domain: tcp0'$'\n''[^'$'\n'']*'$'\n''[^'$'\n'']*type: FI_EP_RDM' "$info"

# fi_pingpong PROVIDER EPTYPE: server, then the client once the server's
# out-of-band socket listens
pingpong() {
	local prov=$1 ep=$2 port spid crc src
	port=$(free_port 47000)
	timeout 20 fi_pingpong -p "$prov" -e "$ep" -B "$port" -S 4096 -I 200 \
		>"$LOGS/s" 2>&1 &
	spid=$!
	if ! poll 10 listening "" "$port"; then
		wait "$spid"
		fail "fi_pingpong $prov $ep: server listens" "$(cat "$LOGS/s")"
		return
	fi
	timeout 20 fi_pingpong -p "$prov" -e "$ep" -P "$port" -S 4096 -I 200 \
		127.0.0.1 >"$LOGS/c" 2>&1
	crc=$?
	wait "$spid"
	src=$?
	if [ "$crc" -eq 0 ] && [ "$src" -eq 0 ] &&
		grep -Eq '^4k +200 +=200 ' "$LOGS/c"; then
		ok "fi_pingpong -p '$prov' -e $ep"
	else
		fail "fi_pingpong -p '$prov' -e $ep (client $crc, server $src)" \
			"$(cat "$LOGS/c" "$LOGS/s")"
	fi
}
pingpong verbs msg
pingpong "verbs;ofi_rxm" rdm

# A qperf server of its own on a new port (QPORT, QPERF_PID): a test that
# fails at setup leaves the server waiting for its peer until qperf's timeout
qperf_server() {
	alive "$QPERF_PID" && kill "$QPERF_PID" 2>/dev/null && wait "$QPERF_PID"
	QPORT=$(free_port $((19000 + ${QPORT:-19000} % 1000 + 1)))
	timeout 60 qperf -lp "$QPORT" >"$LOGS/q" 2>&1 &
	QPERF_PID=$!
	poll 10 listening "" "$QPORT" ||
		fail "qperf server listens" "$(cat "$LOGS/q")"
}
qperf_server

# qperf ARGS... against the current server -> its output
qperf_run() {
	timeout 20 qperf -lp "$QPORT" 127.0.0.1 -t 1 "$@" 2>&1
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
# LID-only addressing on a RoCE-like port: refused as on RoCE
qperf_server
out=$(qperf_run rc_lat)
check_match "qperf rc_lat without -cm1: RTR refused (no GRH)" \
	"failed to modify QP to RTR: Invalid argument" "$out"
qperf_server
out=$(qperf_run uc_bw)
check_match "qperf uc_bw: RTR refused (no GRH, no rdma_cm in qperf)" \
	"failed to modify QP to RTR: Invalid argument" "$out"
qperf_server
out=$(qperf_run ud_lat)
check_match "qperf ud_lat: address handle refused (no GRH)" \
	"failed to create address handle: Invalid argument" "$out"

finish
