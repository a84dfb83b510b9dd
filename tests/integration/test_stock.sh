#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The stock-program matrix: unmodified Debian binaries (ibverbs-utils'
# ibv_*_pingpong, perftest) on both ends, server and client in separate
# processes.
#
#   tests/integration/test_stock.sh PATH/TO/rdma-tcp
#
# As root. Uses a private registry (RDMA_TCP_ROOT=$(mktemp -d)) and runs
# every case of STOCK_CASES below twice:
#  1. loopback: tcp0 on lo, server and client in this network namespace,
#     the client connecting to 127.0.0.1;
#  2. two hosts: network namespaces A and B made for the test, joined by a
#     veth pair (vethA 10.77.0.1/24 in A, vethB 10.77.0.2/24 in B), device
#     tcpA on vethA registered from A and tcpB on vethB from B; servers in
#     A, clients in B connecting to 10.77.0.1.
# Each side runs under `timeout` (STOCK_TIMEOUT, default 90 s), the client
# starts once the server listens (ss), every pair gets its own TCP port.
# A case passes when both sides exit 0, the client printed its result
# (perftest: the table under '#bytes'; pingpong: the 'iters in' line) and
# neither log has a sanitizer report (tests/lib/stock_matrix.sh).
# STOCK_ONLY=REGEX runs only the cases whose line matches; STOCK_PHASES
# (default "lo netns", "lo" in a sanitizer build) picks the phases; STOCK_KEEP_LOGS=1 keeps the logs
# of a failed run (the path is printed). STOCK_LOAD=N keeps N busy-looping
# processes running for the whole matrix (an oversubscribed host);
# STOCK_RETRY=N sets how often a failed case runs again (default 1; a pass
# on retry is reported and counted, see tests/lib/stock_matrix.sh).
# STOCK_PSP=MODE registers the devices with `psp MODE` (default: none
# given, the default mode, auth -- the suite's; test_psp.sh runs a subset
# in the other modes).
#
# Traffic stays on lo and inside the test namespaces. Prints one line per
# check and "N passed, N failed"; exit status 1 on any failure, 2 on a
# usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"
# shellcheck source=../lib/stock_matrix.sh
. "$HERE/../lib/stock_matrix.sh"

########################################################################
# The matrix. One case a line: the program, then the arguments both sides
# get. The script adds -d DEV, the GID index (-g 0 for ibv_*_pingpong,
# -x 0 for perftest), -p PORT, and the server's address for the client.
# Notes: perftest refuses -a for atomics ("Message size cannot be changed
# for Atomic tests"), so ib_atomic_* run with the fixed 8-byte size, and
# -b does not apply to them (nor to the latency tests). Completion
# channels (-e) and rdma_cm (-R) are issue 4.
# ibv_srq_pingpong counts sends and receives over all its QPs (16 by
# default), so a side exits while its peer's last sends are in flight: the
# acks it sent must still complete them (they arrive with the connection's
# end).
STOCK_CASES=(
	"ibv_rc_pingpong  -s 1 -n 1000"
	"ibv_rc_pingpong  -s 4096 -n 1000"
	"ibv_rc_pingpong  -s 65536 -n 1000"
	"ibv_rc_pingpong  -s 4096 -n 1000 -N -c"
	"ibv_srq_pingpong -n 200"
	"ibv_srq_pingpong -q 1 -n 200"
	"ibv_srq_pingpong -q 1 -s 65536 -n 200"
	"ibv_uc_pingpong  -s 4096 -n 1000"
	"ib_write_bw      -a -n 100"
	"ib_write_bw      -q 4 -n 1000"
	"ib_write_bw      -b -n 1000"
	"ib_read_bw       -a -n 100"
	"ib_read_bw       -q 4 -n 1000"
	"ib_read_bw       -b -n 1000"
	"ib_send_bw       -a -n 100"
	"ib_send_bw       -q 4 -n 1000"
	"ib_send_bw       -b -n 1000"
	"ib_atomic_bw     -n 1000"
	"ib_atomic_bw     -q 4 -n 1000"
	"ib_atomic_bw     -A CMP_AND_SWAP -n 1000"
	"ib_write_lat     -n 200"
	"ib_read_lat      -n 200"
	"ib_send_lat      -n 200"
	"ib_atomic_lat    -n 200"
	"ib_atomic_lat    -A CMP_AND_SWAP -n 200"
	"ib_read_lat      -a -n 10"
)
# One latency sweep (READ: the responder's side at every size); the write
# and send paths get every size from the bandwidth sweeps, and each
# latency sweep costs ~10 s of perftest's clock calibration (the suite's
# time budget). STOCK_LAT_SWEEPS=1 adds the other two.
if [ "${STOCK_LAT_SWEEPS:-0}" = 1 ]; then
	STOCK_CASES+=("ib_write_lat     -a -n 10" "ib_send_lat      -a -n 10")
fi
# STOCK_CASES_OVERRIDE (one case a line) replaces the matrix
if [ -n "${STOCK_CASES_OVERRIDE:-}" ]; then
	mapfile -t STOCK_CASES <<<"$STOCK_CASES_OVERRIDE"
fi
########################################################################

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2

need_tools ip ss timeout ibv_rc_pingpong ibv_srq_pingpong ibv_uc_pingpong \
	ibv_devinfo ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw \
	ib_write_lat ib_read_lat ib_send_lat ib_atomic_lat

# 90 s per side: the slowest case takes ~16 s on an idle host (ASan
# build), but perftest's -a runs measure the CPU clock at every size, about
# 2 s a size when other work shares the CPUs (~45 s in all); a hung case
# must not push the whole matrix far past its ~6 minute budget
SM_TIMEOUT=${STOCK_TIMEOUT:-90}
SM_RETRY=${STOCK_RETRY:-1}
LOAD=${STOCK_LOAD:-0}
LOAD_PIDS=()
# The sanitizer build runs the loopback phase only: the namespace phase
# runs the same provider code over a veth (the plain build runs both), and
# the whole suite has a time budget.
if [ "$SAN_ACTIVE" = 1 ]; then
	PHASES=${STOCK_PHASES:-lo}
else
	PHASES=${STOCK_PHASES:-lo netns}
fi
ONLY=${STOCK_ONLY:-}
PSP_WORDS=()
[ -z "${STOCK_PSP:-}" ] || PSP_WORDS=(psp "$STOCK_PSP")
NSA=rtcp-stA-$$
NSB=rtcp-stB-$$
IPA=10.77.0.1
IPB=10.77.0.2
WORK=$(mktemp -d /tmp/rdma-tcp-stock.XXXXXX)
RDMA_TCP_ROOT=$WORK/root
mkdir -p "$RDMA_TCP_ROOT"
export RDMA_TCP_ROOT
SM_LOGDIR=$WORK/logs
mkdir -p "$SM_LOGDIR"
T0=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	sm_cleanup
	[ ${#LOAD_PIDS[@]} -eq 0 ] || kill "${LOAD_PIDS[@]}" 2>/dev/null
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	if [ "$rc" -ne 0 ] && [ -n "${STOCK_KEEP_LOGS:-}" ]; then
		echo "# logs kept in $SM_LOGDIR"
		rm -rf "$RDMA_TCP_ROOT"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The size sweeps of the latency programs (-a) run in the loopback phase
# only: perftest calibrates its clock at every size, ~10 s a sweep, and
# the namespace phase runs the same sizes' code paths in the bandwidth
# sweeps (the suite's time budget). So does ib_send_bw's sweep: across the
# veth, WRITE's and READ's sweeps carry every size in the same frames.
# STOCK_ALL_PHASES=1 runs them in both.
SWEEP_LO_ONLY='_lat +-a |ib_send_bw +-a '
[ "${STOCK_ALL_PHASES:-0}" = 1 ] && SWEEP_LO_ONLY='^$'
# The sanitizer pass sweeps WRITE (both directions' framing and
# placement at every size) and READ's latency (the responder at every
# size); READ's and SEND's bandwidth sweeps run in the plain pass, and the
# pyverbs data suites put every opcode's sizes through the sanitizer
# build. STOCK_ALL_PHASES=1 runs them here too.
SAN_SKIP='^$'
[ "$SAN_ACTIVE" = 1 ] && [ "${STOCK_ALL_PHASES:-0}" != 1 ] &&
	SAN_SKIP='^ib_(read|send)_bw +-a '

# runs the matrix: run_matrix LABEL SRV_NS SRV_DEV CLI_NS CLI_DEV SRV_IP
run_matrix() {
	local c words
	for c in "${STOCK_CASES[@]}"; do
		if [ -n "$ONLY" ] && ! [[ $c =~ $ONLY ]]; then
			continue
		fi
		if [ "$1" != lo ] && [[ $c =~ $SWEEP_LO_ONLY ]]; then
			continue
		fi
		[[ $c =~ $SAN_SKIP ]] && continue
		read -ra words <<<"$c"
		sm_run_case "$@" "${words[@]}"
		RESULTS+=("$(printf '%-5s %-6s %6s s  %s' \
			"$([ "$SM_LAST_OK" = 1 ] && echo ok || echo FAIL)" "$1" \
			"$SM_LAST_SECS" "${words[*]}")")
	done
}
RESULTS=()

# device $2 in namespace $1 ("" = here) is ACTIVE with GID[0] ::ffff:$3
dev_ready() {
	local out
	sm_prefix
	out=$(in_ns "$1" "${SM_PREFIX[@]}" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ state:[[:space:]]+PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}

# TCP from namespace $1 reaches $2: a connection to the discard port
# is accepted or refused (RST), not timed out (no ping on every machine)
tcp_reaches() {
	local err
	err=$(timeout 2 ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/9" 2>&1) ||
		[[ $err == *"refused"* ]]
}

if out=$("$RDMA_TCP" env 2>&1); then
	eval "$out"
	# only the stock programs get the preload (sm_prefix): in the ASan
	# build it is instrumented and would break ip, ss and rdma-tcp
	SM_PRELOAD=${LD_PRELOAD:-}
	unset LD_PRELOAD
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi

# The load: plain busy loops at the tests' own priority, so the stock
# programs and their engine threads compete for every CPU.
if [ "$LOAD" -gt 0 ]; then
	for _ in $(seq "$LOAD"); do
		bash -c 'while :; do :; done' &
		LOAD_PIDS+=($!)
	done
	echo "# load: $LOAD busy processes on $(nproc) CPUs"
fi

########################################################################
if [[ " $PHASES " == *" lo "* ]]; then
	echo "# loopback: tcp0 on lo, client -> 127.0.0.1 (registry $RDMA_TCP_ROOT)"
	if out=$("$RDMA_TCP" link add tcp0 netdev lo "${PSP_WORDS[@]}" 2>&1); then
		ok "link add tcp0 netdev lo ${PSP_WORDS[*]}"
		if poll 5 dev_ready "" tcp0 127.0.0.1; then
			ok "tcp0 PORT_ACTIVE, GID[0] ::ffff:127.0.0.1"
		else
			fail "tcp0 PORT_ACTIVE, GID[0] ::ffff:127.0.0.1"
		fi
		t=$(date +%s)
		run_matrix lo "" tcp0 "" tcp0 127.0.0.1
		echo "# loopback phase: $(($(date +%s) - t)) s"
		"$RDMA_TCP" link del tcp0 >/dev/null 2>&1 ||
			fail "link del tcp0"
	else
		fail "link add tcp0 netdev lo ${PSP_WORDS[*]}" "$out"
	fi
fi

########################################################################
if [[ " $PHASES " == *" netns "* ]]; then
	echo "# two namespaces: $NSA (tcpA on vethA $IPA) <-> $NSB (tcpB on vethB $IPB)"
	if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1); then
		ok "namespaces $NSA, $NSB joined by veth, $IPA/24 and $IPB/24"
		setup=ok
		for side in "$NSA tcpA vethA $IPA" "$NSB tcpB vethB $IPB"; do
			read -r ns dev nd addr <<<"$side"
			if out=$(ip netns exec "$ns" "$RDMA_TCP" link add "$dev" netdev "$nd" "${PSP_WORDS[@]}" 2>&1); then
				ok "link add $dev netdev $nd ${PSP_WORDS[*]} (in $ns)"
			else
				fail "link add $dev netdev $nd ${PSP_WORDS[*]} (in $ns)" "$out"
				setup=bad
				continue
			fi
			if poll 10 dev_ready "$ns" "$dev" "$addr"; then
				ok "$dev PORT_ACTIVE, GID[0] ::ffff:$addr"
			else
				fail "$dev PORT_ACTIVE, GID[0] ::ffff:$addr within 10 s"
			fi
		done
		if poll 5 tcp_reaches "$NSB" "$IPA"; then
			ok "$NSB reaches $IPA over TCP"
		else
			fail "$NSB reaches $IPA over TCP"
		fi
		if [ $setup = ok ]; then
			t=$(date +%s)
			run_matrix netns "$NSA" tcpA "$NSB" tcpB "$IPA"
			echo "# namespace phase: $(($(date +%s) - t)) s"
		fi
	else
		fail "namespaces with a veth pair" "$out"
	fi
fi

echo "# results ($(($(date +%s) - T0)) s in all):"
printf '#   %s\n' "${RESULTS[@]}"
echo "# cases that passed only on retry: $SM_RETRIED"
finish
