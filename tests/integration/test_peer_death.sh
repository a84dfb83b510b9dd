#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A peer process dies (SIGKILL) or resets its QP with work outstanding:
# the survivor's oldest request fails with IBV_WC_RETRY_EXC_ERR, the rest
# and its receives flush, the QP is in ERR, IBV_EVENT_QP_FATAL arrives and
# nothing hangs. And a receiver that exits (no ibv_destroy_qp) right after
# it polled a message still acknowledged it: the sender's WR succeeds.
# Two processes on one host (tests/tools/peer_death.c).
#
#   tests/integration/test_peer_death.sh PATH/TO/rdma-tcp

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
TOOL=$(built tests/tools/peer_death) || exit 2
lo_device tcp0
# the tool is built like the provider (plain or sanitized): no preload needed
run_c_suite 120 "$TOOL" tcp0
