#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bounded resources under attack (tests/tools/res_attack.c):
#
# 1. reach: a listener is reachable only through its device's own
#    addresses -- a device on lo not through the namespace's other
#    addresses (nor 127.0.0.2), a device on d0 not through lo -- and
#    follows the netdev's addresses as they come and go.
# 2. flood: hundreds of idle connections and half-hellos to a victim's
#    listener are closed (the pending cap at once, the rest at the hello
#    timeout); its fds stay within the cap and come back, its traffic
#    goes on.
# 3. nofile: a victim under a low RLIMIT_NOFILE with more QPs than fds
#    allow: its engine does not spin, every WR completes or fails, QPs
#    that could not connect fail with an async event, connected ones work.
#
#   tests/integration/test_resources.sh PATH/TO/rdma-tcp
#
# The flood and nofile victims' device (tcp0) is registered with `psp off`
# (testlib.sh's RAW_PSP): the attacker sends hand-made half-hellos, the
# unauthenticated rendezvous. The reach checks only connect(): default mode.
#
# As root. Traffic on loopback and in a namespace of its own (10.86.0.0/24
# and 10.86.1.0/24 on a dummy netdev). Prints one line per check and
# "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
TOOL=$(built tests/tools/res_attack) || exit 2

NS=rtcp-res-$$
RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX)
export RDMA_TCP_ROOT
VPID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NS" tcp1 tcp2
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$RDMA_TCP" env)" || exit 2
# the tool is built like the provider (plain or ASan+UBSan) and carries
# its own runtime; it uses no rdma_cm, so no preload
unset LD_PRELOAD
own_san_options

nsx() { ip netns exec "$NS" "$@"; }

########################################################################
echo "# reach: listeners on the device's own addresses (namespace $NS)"

mk_ns() {
	ip netns add "$NS" && ip -n "$NS" link set lo up || return 1
	if ! ip -n "$NS" link add d0 type dummy 2>/dev/null; then
		# no dummy driver: a veth pair, both ends in the namespace
		ip -n "$NS" link add d0 type veth peer name d0p &&
			ip -n "$NS" link set d0p up || return 1
	fi
	ip -n "$NS" addr add 10.86.0.1/24 dev d0 && ip -n "$NS" link set d0 up
}
if ! out=$(mk_ns 2>&1) ||
	! out=$(nsx "$RDMA_TCP" link add tcp1 netdev lo 2>&1) ||
	! out=$(nsx "$RDMA_TCP" link add tcp2 netdev d0 2>&1); then
	fail "namespace $NS with tcp1 on lo, tcp2 on d0 10.86.0.1" "$out"
	finish
	exit 1
fi
ok "namespace $NS with tcp1 on lo, tcp2 on d0 10.86.0.1"

# hold DEV: starts a victim with one QP pair on DEV in the namespace;
# sets VPID, VIN (its stdin) and PORT (its listener's port)
hold() {
	local line
	coproc VICTIM { nsx "$TOOL" "$1" hold; }
	VPID=$VICTIM_PID
	VIN=${VICTIM[1]}
	PORT=
	if read -r -t 30 line <&"${VICTIM[0]}" && [[ $line =~ ^port\ ([0-9]+)$ ]]; then
		PORT=${BASH_REMATCH[1]}
	fi
	[ -n "$PORT" ]
}

unhold() {
	exec {VIN}>&-
	wait "$VPID" 2>/dev/null
	VPID=
}

probe() { nsx "$TOOL" probe "$1" "$PORT" >/dev/null 2>&1; }
refused() { ! probe "$1"; }

if hold tcp1; then
	ok "victim on tcp1 (lo): port $PORT"
	check "tcp1 reachable on 127.0.0.1" probe 127.0.0.1
	if nsx ip -6 addr show dev lo | grep -q '::1/128'; then
		check "tcp1 reachable on ::1" probe ::1
	fi
	check "tcp1 refused on 127.0.0.2 (lo's /8, not its address)" refused 127.0.0.2
	check "tcp1 refused on 10.86.0.1 (d0's address)" refused 10.86.0.1
	unhold
else
	fail "victim on tcp1 (lo)"
fi

if hold tcp2; then
	ok "victim on tcp2 (d0): port $PORT"
	check "tcp2 reachable on 10.86.0.1" probe 10.86.0.1
	check "tcp2 refused on 127.0.0.1" refused 127.0.0.1
	# another subnet: a secondary address would go with the primary
	nsx ip addr add 10.86.1.1/24 dev d0
	check "tcp2 reachable on 10.86.1.1 once added" poll 10 probe 10.86.1.1
	nsx ip addr del 10.86.0.1/24 dev d0
	check "tcp2 refused on 10.86.0.1 once removed" poll 10 refused 10.86.0.1
	check "tcp2 still reachable on 10.86.1.1" probe 10.86.1.1
	unhold
else
	fail "victim on tcp2 (d0)"
fi

########################################################################
if ! out=$("$RDMA_TCP" link add tcp0 netdev lo "${RAW_PSP[@]}" 2>&1); then
	fail "link add tcp0 netdev lo ${RAW_PSP[*]}" "$out"
	finish
	exit 1
fi

# run_tool WHAT ARGS...: the tool's own checks count as one each
run_tool() {
	local what=$1 out rc
	shift
	echo "# $what"
	out=$(timeout -k 5 180 "$TOOL" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	if [ $rc -eq 0 ]; then
		ok "$what"
	else
		fail "$what" "exit $rc"
	fi
}

run_tool "flood: 300 idle connections and 200 half-hellos" tcp0 flood
run_tool "nofile: RLIMIT_NOFILE 64, 40 QP pairs, 20 connections knocking" \
	tcp0 nofile 64

finish
