#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile UDP datagrams against a live UD QP: tests/tools/ud_hostile.py
# (pyverbs, one process) makes a UD QP of tcp0 and aims a plain UDP socket
# at its port: bad magic, version, opcode, flags, mode; len above, below
# and over the MTU; truncated, empty and 64 KiB datagrams; wrong, oversize
# and multicast dst_qpn; wrong and privileged Q_Keys; a wrong destination
# address; random garbage; every header byte flipped. None may be
# delivered, the one posted receive must take the genuine datagram sent
# behind them (checked by content), the QP stays in RTS with no async
# event; then a flood with no receive posted must leave memory,
# descriptors and threads as they were and never deliver garbage. Last, on
# tcp1 in the default mode (psp auth), forged datagrams -- plaintext and
# sealed-looking with random sids and tags -- are dropped and a verbs
# sender's sealed datagram behind them is delivered.
#
#   tests/integration/test_ud_hostile.sh PATH/TO/rdma-tcp
#
# As root: registers tcp0 on lo in a private registry (RDMA_TCP_ROOT), in
# the mode whose datagrams are plaintext an attacker can forge, `psp off`
# (testlib.sh's RAW_PSP), and tcp1 in the default mode, whose datagrams
# carry a tag that ud_sec.c checks. All traffic is on loopback. Prints one line per check
# and "N passed, N failed"; exit status 1 on any failure, 2 on a usage or
# setup error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
PYTHON=/usr/bin/python3 # pyverbs exists only for Debian's python
lo_device tcp0 "${RAW_PSP[@]}"
export RDMA_TCP_DEV=tcp0 RDMA_TCP_TEST_PSP=${RAW_PSP[1]}
# and tcp1 in the default mode (auth): forgeries without the key
cleanup() {
	"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
	_lo_device_cleanup
}
trap cleanup EXIT
if ! out=$("$RDMA_TCP" link add tcp1 netdev lo 2>&1); then
	echo "$0: link add tcp1 netdev lo: $out" >&2
	exit 2
fi
export UD_HOSTILE_SECURED_DEV=tcp1
# the sanitizer runtimes first when the provider is an ASan build, whose
# quarantine holds every freed block (up to 256 MiB, the interpreter's
# too): the flood's memory growth is then printed, checked in the plain
# build only
san_refresh
[ "$SAN_ACTIVE" = 0 ] || export UD_HOSTILE_RSS_CHECK=0
run_c_suite 120 "${STOCK[@]}" "$PYTHON" -X faulthandler \
	"$HERE/../tools/ud_hostile.py"
