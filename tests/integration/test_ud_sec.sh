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
# script tells delivery from dropping.
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

for mode in auth encrypt off; do
	if ! out=$("$RDMA_TCP" link set tcp0 psp "$mode" 2>&1); then
		fail "link set tcp0 psp $mode" "$out"
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
finish
