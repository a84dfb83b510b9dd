#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The full package check, opt-in (not a test_*.sh: tests/run does not run
# it; dpkg-buildpackage takes about a minute):
#
#   tests/integration/package_deb.sh PATH/TO/rdma-tcp
#
# 1. copies the work tree's files (git ls-files) to a scratch directory and
#    runs `dpkg-buildpackage -us -uc -b` there (the .debs land beside it,
#    never in the repository's parent);
# 2. lintian on the .changes: an error fails, warnings are printed;
# 3. test_package.sh with RDMA_TCP_TEST_DEB="rdma-tcp_*.deb
#    rdma-tcp-dev_*.deb": `dpkg -i` of the packages (maintainer scripts and
#    all) into the scratch root of a mount namespace, the same checks as
#    with `cmake --install`, and `dpkg -r` at the end.
# Needs debhelper and lintian (tests/lib/deps.sh: rtcp_deps_package).
#
# Prints one line per check and "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"
# shellcheck source=../lib/deps.sh
. "$HERE/../lib/deps.sh"

rt_args "$@"
rtcp_deps_package >/dev/null || exit 2
need_tools dpkg-buildpackage lintian git

WORK=$(mktemp -d /tmp/rdma-tcp-deb.XXXXXX) || exit 2
trap 'rm -rf "$WORK"' EXIT
VER=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
TREE=$WORK/rdma-tcp-$VER
mkdir -p "$TREE" &&
	(cd "$SRC" && git ls-files -co --exclude-standard | tar -cf - -T -) |
	tar -xf - -C "$TREE" || exit 2

start=$(date +%s)
if out=$(cd "$TREE" && dpkg-buildpackage -us -uc -b -j"${JOBS:-2}" 2>&1); then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
	fail "dpkg-buildpackage -us -uc -b" "$(printf '%s\n' "$out" | tail -30)"
	finish
	exit
fi
CHANGES=$(ls "$WORK"/rdma-tcp_"$VER"_*.changes)
lint=$(lintian "$CHANGES" 2>&1)
check_nomatch "lintian: no error" '(^|'$'\n'')E: ' "$lint"
printf '%s\n' "$lint" | grep '^W: ' | sed 's/^/    lintian /'

DEB="$(ls "$WORK"/rdma-tcp_"$VER"_*.deb) $(ls "$WORK"/rdma-tcp-dev_"$VER"_*.deb)"
if RDMA_TCP_TEST_DEB=$DEB bash "$HERE/test_package.sh" "$RDMA_TCP" >"$WORK/log" 2>&1; then
	ok "test_package.sh with dpkg -i: $(tail -1 "$WORK/log")"
else
	fail "test_package.sh with dpkg -i" "$(grep -v '^ok' "$WORK/log")"
fi
finish
