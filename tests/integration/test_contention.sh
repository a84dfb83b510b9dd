#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Stock programs on an oversubscribed host: the latency tests (with -a, the
# case that once failed with RETRY_EXC_ERR under load), the SRQ pingpong
# (a side exits while its peer's last sends are in flight) and SEND
# bandwidth, on tcp0 over lo, while two busy-looping processes per CPU
# compete with them. No retries: slowness must never become an error.
#
#   tests/integration/test_contention.sh PATH/TO/rdma-tcp
#
# CONTENTION_LOAD (default 2 x nproc) sets the number of busy processes.
# Prints the matrix's lines and "N passed, N failed" (test_stock.sh).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export STOCK_LOAD=${CONTENTION_LOAD:-$((2 * $(nproc)))}
export STOCK_RETRY=0
export STOCK_PHASES=lo
export STOCK_TIMEOUT=${STOCK_TIMEOUT:-90}
export STOCK_ONLY='^(ib_(send|write|read|atomic)_lat|ibv_srq_pingpong|ib_send_bw +-a|ib_read_bw +-q)'
exec bash "$HERE/test_stock.sh" "$@"
