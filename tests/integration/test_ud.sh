#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UD queue pairs with stock programs: Debian's unmodified ibv_ud_pingpong
# (ibverbs-utils) and perftest's ib_send_bw / ib_send_lat -c UD on both
# ends, server and client in separate processes, at a small size and at
# the port's MTU (the largest UD message).
#
#   tests/integration/test_ud.sh PATH/TO/rdma-tcp
#
# As root. Uses a private registry (RDMA_TCP_ROOT=$(mktemp -d)) and runs
# every case of UD_CASES below in each phase:
#  1. loopback: tcp0 on lo, client -> 127.0.0.1;
#  2. two hosts: network namespaces made for the test joined by a veth pair
#     (vethA 10.86.0.1/24, vethB 10.86.0.2/24), tcpA on vethA and tcpB on
#     vethB, servers in A, clients in B;
# each first with the devices in the default mode (psp auth, datagrams
# authenticated) and then registered with `psp off` (plaintext
# datagrams). UD_PHASES (default "lo netns", "lo" in a sanitizer build)
# and UD_MODES (default "auth off"; "auth" = the default mode, no psp
# word) pick them; UD_ONLY=REGEX runs only the matching cases.
# Pairs are run by tests/lib/stock_matrix.sh: the client starts once the
# server listens on its TCP port (ss), each side under `timeout`
# (UD_TIMEOUT, default 30 s); a case passes when both sides exit 0, the
# client printed its result (pingpong: the 'iters in' line on both sides;
# perftest: its table under '#bytes') and no log has a sanitizer report.
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

# One case a line: the program and the arguments both sides get; MTU is
# replaced by the device's active MTU in bytes. The script adds -d DEV,
# -g 0 (pingpong) or -x 0 (perftest), -p PORT and the server's address.
# A line starting "lo:" runs in the loopback phase only (the namespace
# phase runs the MTU cases: the size a veth's 1500 bytes must carry).
# perftest's bandwidth server waits for every message, and UD loses what
# does not fit the receiving socket (a receiver descheduled through the
# whole burst): a burst of 500 MTU messages (~4 MiB of kernel memory) fits
# the UD QP's socket buffer (4 MiB, which the kernel doubles), 1000 did
# not always.
UD_CASES=(
	"lo: ibv_ud_pingpong -s 64 -n 500"
	"ibv_ud_pingpong -s MTU -n 500"
	"lo: ib_send_bw -c UD -s 64 -n 1000"
	"ib_send_bw -c UD -s MTU -n 500"
	"lo: ib_send_lat -c UD -s 2 -n 500"
	"ib_send_lat -c UD -s MTU -n 500"
)

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ip ss timeout ibv_devinfo ibv_ud_pingpong ib_send_bw ib_send_lat

SM_TIMEOUT=${UD_TIMEOUT:-30}
SM_LISTEN_WAIT=10
SM_PORT=19800
if [ "$SAN_ACTIVE" = 1 ]; then
	PHASES=${UD_PHASES:-lo}
else
	PHASES=${UD_PHASES:-lo netns}
fi
MODES=${UD_MODES:-auth off}
ONLY=${UD_ONLY:-}
NSA=rtcp-udA-$$
NSB=rtcp-udB-$$
IPA=10.86.0.1
IPB=10.86.0.2
WORK=$(mktemp -d /tmp/rdma-tcp-ud.XXXXXX)
RDMA_TCP_ROOT=$WORK/root
mkdir -p "$RDMA_TCP_ROOT"
export RDMA_TCP_ROOT
SM_LOGDIR=$WORK/logs
mkdir -p "$SM_LOGDIR"
T0=$(date +%s)
RESULTS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	sm_cleanup
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if out=$("$RDMA_TCP" env 2>&1); then
	eval "$out"
	# only the stock programs get the preload (sm_prefix)
	SM_PRELOAD=${LD_PRELOAD:-}
	unset LD_PRELOAD
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi

# The active MTU in bytes of device $2 in namespace $1, once the port is
# ACTIVE with GID[0] ::ffff:$3 (printed; false until then)
dev_mtu() {
	local out
	sm_prefix
	out=$(in_ns "$1" "${SM_PREFIX[@]}" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ state:[[:space:]]+PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]] &&
		[[ $out =~ active_mtu:[[:space:]]+([0-9]+) ]] &&
		echo "${BASH_REMATCH[1]}"
}

# register $2 on netdev $3 in namespace $1 with the psp words of mode $5;
# sets MTU from the device once it is ready with GID ::ffff:$4
add_dev() {
	local ns=$1 dev=$2 nd=$3 ip=$4 mode=$5 words=() out
	[ "$mode" = auth ] || words=(psp "$mode")
	if ! out=$(in_ns "$ns" "$RDMA_TCP" link add "$dev" netdev "$nd" "${words[@]}" 2>&1); then
		fail "link add $dev netdev $nd ${words[*]}${ns:+ (in $ns)}" "$out"
		return 1
	fi
	if ! poll 10 dev_mtu "$ns" "$dev" "$ip" >/dev/null; then
		fail "$dev PORT_ACTIVE with GID[0] ::ffff:$ip within 10 s"
		return 1
	fi
	MTU=$(dev_mtu "$ns" "$dev" "$ip")
	# the phase runs in the mode it is named after (auth: the default)
	out=$(in_ns "$ns" "$RDMA_TCP" link show "$dev" 2>&1)
	if ! [[ $out == *" psp $mode "* ]]; then
		fail "$dev registered in psp $mode" "$out"
		return 1
	fi
	ok "$dev (psp $mode) on $nd${ns:+ in $ns}: PORT_ACTIVE, MTU $MTU"
}

# run_cases LABEL SRV_NS SRV_DEV CLI_NS CLI_DEV SRV_IP
run_cases() {
	local c words
	for c in "${UD_CASES[@]}"; do
		if [ -n "$ONLY" ] && ! [[ $c =~ $ONLY ]]; then
			continue
		fi
		case $c in
		lo:*) [ "${1%%/*}" = lo ] || continue ;;
		esac
		c=${c#lo: }
		read -ra words <<<"${c//MTU/$MTU}"
		sm_run_case "$@" "${words[@]}"
		RESULTS+=("$(printf '%-5s %-10s %6s s  %s' \
			"$([ "$SM_LAST_OK" = 1 ] && echo ok || echo FAIL)" "$1" \
			"$SM_LAST_SECS" "${words[*]}")")
	done
}

phase_lo() {
	local mode=$1 t
	echo "# loopback, $mode: tcp0 on lo, client -> 127.0.0.1"
	add_dev "" tcp0 lo 127.0.0.1 "$mode" || return
	t=$(date +%s)
	run_cases "lo/$mode" "" tcp0 "" tcp0 127.0.0.1
	echo "# loopback, $mode: $(($(date +%s) - t)) s"
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1 || fail "link del tcp0"
}

phase_netns() {
	local mode=$1 t
	echo "# two namespaces, $mode: $NSA ($IPA) <-> $NSB ($IPB)"
	add_dev "$NSA" tcpA vethA "$IPA" "$mode" || return
	add_dev "$NSB" tcpB vethB "$IPB" "$mode" || return
	t=$(date +%s)
	run_cases "netns/$mode" "$NSA" tcpA "$NSB" tcpB "$IPA"
	echo "# two namespaces, $mode: $(($(date +%s) - t)) s"
	ip netns exec "$NSA" "$RDMA_TCP" link del tcpA >/dev/null 2>&1 ||
		fail "link del tcpA"
	ip netns exec "$NSB" "$RDMA_TCP" link del tcpB >/dev/null 2>&1 ||
		fail "link del tcpB"
}

for mode in $MODES; do
	[[ " $PHASES " != *" lo "* ]] || phase_lo "$mode"
done
if [[ " $PHASES " == *" netns "* ]]; then
	if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1); then
		ok "namespaces $NSA, $NSB joined by veth, $IPA/24 and $IPB/24"
		for mode in $MODES; do
			phase_netns "$mode"
		done
	else
		fail "namespaces with a veth pair" "$out"
	fi
fi

echo "# results ($(($(date +%s) - T0)) s in all):"
printf '#   %s\n' "${RESULTS[@]}"
echo "# cases that passed only on retry: $SM_RETRIED"
finish
