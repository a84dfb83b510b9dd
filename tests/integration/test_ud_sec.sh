#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UD datagram security (docs/design.md, "UD datagram security"), as an
# attacker on the host sees it: tests/tools/ud_attack.py runs a victim UD
# QP and a genuine sender on a device in `auth`, then `encrypt`, and
# between the sender's messages sends the victim, from a UDP socket of its
# own, a datagram captured off lo (AF_PACKET) and replayed, tampered ones
# (payload, header, tag), one forged under a key from another PSK, a
# downgrade to `off`, a flood of random sids, and an old datagram after
# newer ones. Nothing of them may be delivered: each genuine message lands
# in the next posted receive, the unused receives keep their canaries,
# the victim stays in RTS. Then `off`, the control: the attacks that need
# no key are delivered (unauthenticated, documented), which shows the
# script tells delivery from dropping. Last, a device with certificates
# (tests/lib/mkcerts.sh): no shared key, so UD QPs are EOPNOTSUPP there.
#
#   tests/integration/test_ud_sec.sh PATH/TO/rdma-tcp
#
# As root (the capture). One private registry, tcp0 on lo, removed at
# exit; all traffic on loopback. Prints one line per check and
# "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
PYTHON=/usr/bin/python3
ATTACK=$SRC/tests/tools/ud_attack.py
lo_device tcp0 psp auth
san_setup "$RDMA_TCP" || exit 2
export RDMA_TCP_DEV=tcp0

# the words of `link set` for a mode; cert: a certificate made for the run
link_words() {
	case $1 in
	cert) echo psp auth cert "$CERTS/a.pem" certkey "$CERTS/a.key" ca "$CERTS/ca.pem" ;;
	*) echo psp "$1" ;;
	esac
}

CERTS=$RDMA_TCP_ROOT/certs
modes="auth encrypt off"
if sh "$SRC/tests/lib/mkcerts.sh" "$CERTS" >/dev/null 2>&1 &&
	chmod 600 "$CERTS"/*.key; then
	modes="$modes cert"
else
	fail "mkcerts.sh: certificates for the cert phase"
fi

for mode in $modes; do
	# shellcheck disable=SC2046 # the words split on purpose (no spaces in paths)
	if ! out=$("$RDMA_TCP" link set tcp0 $(link_words "$mode") 2>&1); then
		fail "link set tcp0 $(link_words "$mode")" "$out"
		continue
	fi
	out=$(stock timeout -k 5 60 "$PYTHON" -X faulthandler "$ATTACK" "$mode" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(ok|FAIL) - '
	last=$(printf '%s\n' "$out" | tail -n 1)
	if san_report_in "$out"; then
		fail "$mode: sanitizer report" "$out"
	elif [ "$rc" -gt 1 ] || ! [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		fail "$mode: ud_attack.py ran to its end (exit $rc)" "$out"
	else
		T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
		T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
	fi
done
# ud_pair PORT: ibv_ud_pingpong, server on tcp0, client on tcp1, 5
# iterations within a 4 s deadline; the client's exit status
ud_pair() {
	local port=$1 spid rc
	stock timeout -k 2 4 ibv_ud_pingpong -d tcp0 -g 0 -p "$port" -n 5 \
		>"$RDMA_TCP_ROOT/s.log" 2>&1 &
	spid=$!
	if ! poll 10 listening "" "$port"; then
		kill "$spid" 2>/dev/null
		wait "$spid"
		sed 's/^/    | server: /' "$RDMA_TCP_ROOT/s.log"
		return 99
	fi
	stock timeout -k 2 4 ibv_ud_pingpong -d tcp1 -g 0 -p "$port" -n 5 \
		127.0.0.1 >"$RDMA_TCP_ROOT/c.log" 2>&1
	rc=$?
	wait "$spid"
	return "$rc"
}

# Two devices, two key files: a UD datagram's key comes from its device's
# key, so a device with another key hears nothing of the other; with the
# same key file the pair runs (the control).
two_keys() {
	local k2=$RDMA_TCP_ROOT/k2.key host=$RDMA_TCP_ROOT/etc/host.key out
	local port=$((20000 + $$ % 10000))
	(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$k2" &&
		echo >>"$k2")
	"$RDMA_TCP" link set tcp0 psp auth key "$host" >/dev/null 2>&1
	if ! out=$("$RDMA_TCP" link add tcp1 netdev lo psp auth key "$k2" 2>&1); then
		fail "link add tcp1 with its own key" "$out"
		return
	fi
	# below the ephemeral range, and free (QP listeners take ports too)
	while port_used "" "$port" || port_used "" $((port + 1)); do
		port=$((port + 2))
	done
	ud_pair "$port"
	check "two keys: ibv_ud_pingpong hears nothing (deadline)" \
		test "$?" -eq 124
	"$RDMA_TCP" link set tcp1 psp auth key "$host" >/dev/null 2>&1
	ud_pair $((port + 1))
	check "one key: ibv_ud_pingpong runs" test "$?" -eq 0
	"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
}

two_keys_cleanup() {
	local rc=$?
	"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
	(exit "$rc") # _lo_device_cleanup exits with the script's status
	_lo_device_cleanup
}
trap two_keys_cleanup EXIT
two_keys
finish
