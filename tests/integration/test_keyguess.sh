#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Memory keys cannot be guessed (issue 15 item 5): an attacker with
# connected QPs to a victim fires RDMA WRITEs with random rkeys (RC: a
# fresh connection a guess, since a wrong key fails the QP; UC: a stream,
# since UC drops a bad WRITE and carries on) and with the neighbours of a
# key it knows. tests/integration/keyguess/ checks that every guess is
# refused and every canary byte of the victim's regions is intact, and
# prints the guessing rates and the expected time to a hit that
# docs/design.md quotes.
#
# The attacker is an insider: it may use the device. The figure wanted is
# the fastest guessing, so the device should be unauthenticated (`psp off`
# once devices have a PSP mode; with `auth` the test still holds, at the
# handshake's slower connection rate).
#
#   tests/integration/test_keyguess.sh PATH/TO/rdma-tcp
#
# As root: registers tcp0 on lo in a private registry (RDMA_TCP_ROOT). All
# traffic is on loopback. Prints one line per check and "N passed,
# N failed"; exit status 1 on any failure, 2 on a usage or setup error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/testlib.sh"

rt_args "$@"
PROG=$(built tests/integration/keyguess) || exit 2
lo_device tcp0
own_san_options
run_c_suite 300 "$PROG" tcp0
