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

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH/TO/rdma-tcp" >&2
	exit 2
fi
require_root
RDMA_TCP=$(readlink -f "$1")
TOOL=${RDMA_TCP%/kernel-glue/rdma-tcp}/tests/tools/peer_death
[ -x "$TOOL" ] || { echo "$0: $TOOL not built" >&2; exit 2; }

RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX)
export RDMA_TCP_ROOT
cleanup() {
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
}
trap cleanup EXIT INT TERM

"$RDMA_TCP" link add tcp0 netdev lo || exit 1
eval "$("$RDMA_TCP" env)"
unset LD_PRELOAD # no rdma_cm here; see test_devinfo.sh
# the tool is built like the provider (plain or sanitized): no preload needed
timeout 120 "$TOOL" tcp0
