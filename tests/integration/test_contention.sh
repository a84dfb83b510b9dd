#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Stock programs on an oversubscribed host: latency loops (ib_send_lat once
# failed with RETRY_EXC_ERR under load), the SRQ pingpong (a side exits
# while its peer's last sends are in flight) and multi-QP bandwidth, on
# tcp0 over lo, while two busy-looping processes per CPU compete with
# them. No retries: slowness must never become an error.
#
#   tests/integration/test_contention.sh PATH/TO/rdma-tcp
#
# CONTENTION_LOAD (default 2 x nproc) sets the number of busy processes,
# CONTENTION_CASES the cases (one a line, as test_stock.sh's matrix).
# Then a 12 s loopback soak (test_soak.sh, CONTENTION_SOAK_SECONDS, 16 QPs)
# under the same load. Prints both scripts' lines, then "N passed, N
# failed" counting the two.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export STOCK_LOAD=${CONTENTION_LOAD:-$((2 * $(nproc)))}
export STOCK_RETRY=0
export STOCK_PHASES=lo
# Short cases (perftest's -a measures the CPU clock at every size, ~2 s a
# size on a loaded host: time spent in perftest, not in what is tested):
# small and large latency loops of each kind, the SRQ exit race, and
# multi-QP SEND and READ bandwidth.
CASES="ib_send_lat -n 200
ib_send_lat -s 1048576 -n 20
ib_write_lat -n 200
ib_write_lat -s 1048576 -n 20
ib_read_lat -n 200
ibv_srq_pingpong -n 200
ibv_srq_pingpong -q 1 -s 65536 -n 200
ib_send_bw -q 4 -n 1000
ib_read_bw -q 4 -n 1000"
# shellcheck source=../lib/sanitize.sh
. "$HERE/../lib/sanitize.sh"
if [ $# -eq 1 ] && san_elf_is_asan "$1"; then
	# ASan triples the CPU each case needs: the latency loop and the SRQ
	# exit race only
	CASES=$(grep -E '^(ib_send_lat -n|ibv_srq_pingpong -q)' <<<"$CASES")
fi
export STOCK_CASES_OVERRIDE=${CONTENTION_CASES:-$CASES}
export STOCK_TIMEOUT=${STOCK_TIMEOUT:-90}
bash "$HERE/test_stock.sh" "$@"
stock_rc=$?

# then the soak, briefly, under the same load (the plain build's run: the
# sanitizer build's CPU cost would make it a soak of ASan)
if san_elf_is_asan "$1"; then
	[ "$stock_rc" = 0 ] && echo "1 passed, 0 failed" && exit 0
	echo "0 passed, 1 failed"
	exit 1
fi
LOAD_PIDS=()
for _ in $(seq "$STOCK_LOAD"); do
	bash -c 'while :; do :; done' &
	LOAD_PIDS+=($!)
done
trap 'kill "${LOAD_PIDS[@]}" 2>/dev/null' EXIT
echo "# soak under load: $STOCK_LOAD busy processes"
SOAK_PHASES=lo SOAK_SECONDS=${CONTENTION_SOAK_SECONDS:-12} \
	SOAK_QPS=${SOAK_QPS:-16} bash "$HERE/test_soak.sh" "$@"
soak_rc=$?
if [ "$stock_rc" = 0 ] && [ "$soak_rc" = 0 ]; then
	echo "2 passed, 0 failed"
else
	echo "$(((stock_rc == 0) + (soak_rc == 0))) passed, $(((stock_rc != 0) + (soak_rc != 0))) failed"
	exit 1
fi
