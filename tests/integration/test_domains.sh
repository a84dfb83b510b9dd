#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Thread and parent domains (destroy order: EBUSY with errno) and
# EOPNOTSUPP from the verbs a tcp device does not offer (device memory,
# counters, XRC domains, dmabuf MRs, ODP advice, flow steering, imports),
# through the calls pyverbs cannot make (tests/tools/verbs_domains.c);
# the rest is tests/pyverbs/test_domains.py.
#
#   tests/integration/test_domains.sh PATH/TO/rdma-tcp

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
TOOL=$(built tests/tools/verbs_domains) || exit 2
lo_device tcp0
run_c_suite 60 "$TOOL" tcp0
