#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile application input: tests/integration/hostile/ calls every
# verb the tcp provider implements, through the real libibverbs, with NULL,
# garbage or oversize arguments (sge counts, lengths, queue sizes, access
# flags, attribute masks and values, opcodes, WR chains longer than the
# queue, objects of another context, objects still in use). Each call must
# fail with the errno libibverbs documents and rxe gives (and bad_wr at the
# first WR not posted), never crash; the ASan build catches memory errors.
#
#   tests/integration/test_hostile.sh PATH/TO/rdma-tcp
#
# As root: registers tcp0 on lo in a private registry (RDMA_TCP_ROOT). All
# traffic is on loopback. Prints one line per check and "N passed,
# N failed"; exit status 1 on any failure, 2 on a usage or setup error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/testlib.sh"

rt_args "$@"
PROG=$(built tests/integration/hostile_verbs) || exit 2
lo_device tcp0
own_san_options
run_c_suite 300 "$PROG" tcp0
