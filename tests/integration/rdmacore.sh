#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma-core's own test suite (the one rxe and siw are checked with) against
# a tcp device: Debian's copy (python3-pyverbs ships it gzipped under
# /usr/share/doc/rdma-core/tests) unpacked into a temporary directory, its
# device-generic modules run against tcp0 on lo in a private registry, with
# the rdma_cm preload of `rdma-tcp env`.
#
#   tests/integration/rdmacore.sh PATH/TO/rdma-tcp
#
# As root. Prints each test's outcome, the pass/fail/skip counts, the
# failures and the skip reasons; "N passed, N failed" counts rdma-core's
# tests that ran (skips are neither). Exit 1 if a test that does not skip
# fails, unless it is listed in docs/conformance.md's "Known failures"
# table; 2 on a usage error. RDMACORE_TESTS=DIR takes another copy of the
# suite (plain or gzipped files), RDMACORE_MODULES="test_x ..." other
# modules, RDMACORE_TIMEOUT (default 600 s) bounds the run.
#
# Not among tests/integration/test_*.sh: tests/run runs it for the plain
# build only.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools gunzip timeout ip

PYTHON=/usr/bin/python3 # pyverbs exists only for Debian's python
SRC_TESTS=${RDMACORE_TESTS:-/usr/share/doc/rdma-core/tests}
# test_fork anywhere: under librdma-tcp-nl (LD_PRELOAD of `rdma-tcp env`)
# its ibv_fork_init() finds fork protection unneeded and marks no page
# (docs/conformance.md)
MODULES=${RDMACORE_MODULES:-test_device test_pd test_fork test_addr test_cq
	test_cq_events test_cqex test_qp test_qpex test_atomic test_mr
	test_parent_domain test_relaxed_ordering test_shared_pd test_odp
	test_tag_matching test_rdmacm}
CONFORMANCE=$HERE/../../docs/conformance.md
DEV=tcp0

if [ ! -e "$SRC_TESTS/run_tests.py" ]; then
	echo "$0: no rdma-core tests in $SRC_TESTS (python3-pyverbs)" >&2
	exit 2
fi

WORK=$(mktemp -d /tmp/rdma-tcp-rdmacore.XXXXXX) || exit 2
RDMA_TCP_ROOT=$WORK/root
mkdir -p "$RDMA_TCP_ROOT"
export RDMA_TCP_ROOT
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$RDMA_TCP" link del "$DEV" >/dev/null 2>&1
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The ids in the first column of the "Known failures" table.
known_failures() {
	# shellcheck disable=SC2016 # backquotes of markdown
	awk '/^## /{on = ($0 ~ /^## Known failures/)} on' "$CONFORMANCE" |
		sed -n 's/^| *`\(tests\.[A-Za-z0-9_.]*\)`.*/\1/p'
}

cp -r "$SRC_TESTS" "$WORK/tests" || exit 2
find "$WORK/tests" -name '*.gz' -exec gunzip -f {} + || exit 2
known_failures >"$WORK/known" || exit 2
echo "# $(wc -l <"$WORK/known") known failures (docs/conformance.md)"

out=$("$RDMA_TCP" link add "$DEV" netdev lo 2>&1) || {
	echo "$0: link add $DEV netdev lo: $out" >&2
	exit 2
}
out=$("$RDMA_TCP" env) || exit 2
eval "$out"
# the preloads (RDMA netlink, rdma_cm) go to python only, after the
# sanitizer runtime
pre=${LD_PRELOAD:-}
unset LD_PRELOAD
export RDMA_TCP_DEV=$DEV

# The suite finds a device's netdev (and so the address its rdma_cm tests
# use) in the real /sys/class/infiniband/DEV/device/net/, which a
# registry's device does not have: in a mount namespace of its own, python
# sees /sys/class as it is plus infiniband/DEV/device/net/lo, as the kernel
# shows an rxe device on lo.
class_view() {
	local view=$WORK/class real=$WORK/class.real c
	mkdir -p "$view/infiniband/$DEV/device/net/lo" "$real" &&
		mount --bind /sys/class "$real" || return
	for c in "$real"/*; do
		[ "${c##*/}" = infiniband ] || ln -s "$c" "$view/${c##*/}"
	done
	mount --bind "$view" /sys/class
}

# the preloads, after the sanitizer runtime in an ASan build
LD_PRELOAD=$pre san_refresh
ENVPFX=("${STOCK[@]}")
[ "${#ENVPFX[@]}" -gt 0 ] || ENVPFX=(env "LD_PRELOAD=$pre")

T0=$(date +%s)
export WORK DEV # class_view's, in the namespace's shell
# shellcheck disable=SC2086 # MODULES is a word list
unshare --mount --propagation private bash -c "$(declare -f class_view)
	class_view || echo '# no /sys/class view: the rdma_cm tests skip'
	cd \"\$WORK\" && exec \"\$@\"" _ \
	"${ENVPFX[@]}" timeout -k 10 "${RDMACORE_TIMEOUT:-600}" \
	"$PYTHON" -X faulthandler "$HERE/rdmacore_runner.py" "$WORK/tests" \
	"$WORK/known" $MODULES -- --dev "$DEV" --gid 0 | tee "$WORK/log"
rc=${PIPESTATUS[0]}
echo "# $(($(date +%s) - T0)) s"

counts=$(grep -E '^[0-9]+ tests: ' "$WORK/log")
ran=$(sed -nE 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' <<<"$counts")
case $rc in
0 | 1) check "rdma-core suite: no unexpected failure" test "$rc" -eq 0 ;;
124 | 137) fail "rdma-core suite hung (killed by timeout)" ;;
*) fail "rdma-core suite died (exit status $rc)" ;;
esac
check "rdma-core suite: some tests ran" test -n "$ran"
# the suite's rdma_cm tests count a side killed by a signal as passed
check_nomatch "rdma-core suite: no process crashed" \
	'Fatal Python error|Segmentation fault|Sanitizer|runtime error:' "$(cat "$WORK/log")"
if [ -n "$ran" ]; then
	echo "rdma-core tests: ${ran% *} passed, ${ran#* } failed"
fi
finish
