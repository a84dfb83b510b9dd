#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Placement safety and malformed frames against a real QP: the program
# tests/integration/malformed/ plays a hostile peer (plain TCP socket,
# hand-made frames) against an RC QP of tcp0 in the same process: unknown
# opcodes, bad header lengths and flags, desynchronised stream sequence,
# impossible lengths, bad / stale / foreign / under-privileged keys,
# ranges outside the region, misaligned atomics, out-of-order msn,
# unsolicited responses, truncated frames, garbage, bad hellos, a second
# connection to a connected QP. Each must put the QP in ERR with an async
# event (TERMINATE to the requester where the responder refused a request)
# and write no byte outside accepted writes (canaries around every region).
#
#   tests/integration/test_malformed.sh PATH/TO/rdma-tcp
#
# As root: registers tcp0 on lo in a private registry (RDMA_TCP_ROOT), in
# the unauthenticated mode (`psp off`, testlib.sh's RAW_PSP): the peer
# speaks frames without the handshake, so this documents what `off`
# accepts and refuses; test_psp.sh covers the secured modes. All
# traffic is on loopback. Prints one line per check and "N passed,
# N failed"; exit status 1 on any failure, 2 on a usage or setup error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/testlib.sh"

rt_args "$@"
PROG=$(built tests/integration/malformed) || exit 2
lo_device tcp0 "${RAW_PSP[@]}"
own_san_options
run_c_suite 300 "$PROG" tcp0
