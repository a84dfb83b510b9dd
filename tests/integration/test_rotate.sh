#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Device key rotation (docs/design.md, "Security model"): `rdma-tcp link
# rotate` while two RC QPs carry WRITE+SEND round trips, in auth and in
# encrypt mode. psp_rotate checks that every message arrives intact, no
# work request fails, and each QP's receive SA is renewed from the new
# device key with the previous one kept and the peer sealing with the new
# one (tcpdv_query_qp_security).
#
#   tests/integration/test_rotate.sh PATH/TO/rdma-tcp
#
# Prints "N passed, N failed"; exit status 1 on any failure.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
require_root
PROG=$(built tests/tools/psp_rotate) || exit 2
lo_device tcp0
own_san_options

for mode in auth encrypt; do
	check "link set tcp0 psp $mode" "$RDMA_TCP" link set tcp0 psp "$mode"
	if run_c_suite 120 "$PROG" tcp0 "$RDMA_TCP link rotate tcp0"; then
		ok "$mode: rotation twice under traffic"
	else
		fail "$mode: rotation twice under traffic"
	fi
done
finish
