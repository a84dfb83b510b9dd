#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The direct verbs (<infiniband/tcpdv.h>, libtcp.so.1) on real devices, from
# the build tree and from an installed copy.
#
#   tests/integration/test_tcpdv.sh PATH/TO/rdma-tcp
#
# As root, in a private registry, on lo only:
#  - for each psp mode (off, auth, encrypt: `link add tcp0 netdev lo psp
#    MODE`), test_tcpdv tcp0 MODE: tcpdv_query_device() reports the mode,
#    the real capability bits and a well-formed fingerprint, the same one
#    `rdma-tcp link show` prints; tcpdv_query_qp_security() on two RC QPs,
#    before and after they connect (each seals with the SPI the other
#    receives with); bad arguments; one copy of the library mapped;
#  - tcpdv_dlopen: libibverbs loads the provider, then the program
#    dlopen()s libtcp.so.1: one object, which knows the context;
#  - the build tree's provider name libtcp-rdmav34.so is a link to the
#    library;
#  - `cmake --install` into a scratch DESTDIR: libtcp.so.1 in libdir, the
#    provider directory's libtcp-rdmav34.so a relative link to it, tcpdv.h,
#    tcpdv.pc; test_tcpdv rebuilt from source against that copy with
#    `pkg-config tcpdv` passes with libibverbs loading the installed
#    provider (RDMAV_DRIVERS): the provider name dlopen()s the object
#    -ltcp loaded; tcpdv_dlopen too.
#
# Prints one line per check and "N passed, N failed"; exit status 1 on any
# failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
BUILD=${RDMA_TCP%/kernel-glue/rdma-tcp}
TEST=$(built tests/unit/test_tcpdv) || exit 2
DLOPEN=$(built tests/unit/tcpdv_dlopen) || exit 2
need_tools cmake cc pkg-config readelf
own_san_options

RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX) || exit 2
export RDMA_TCP_ROOT
DEST=$(mktemp -d /tmp/rdma-tcp-install.XXXXXX) || exit 2
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT" "$DEST"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The device with psp MODE; false (and $ADD_ERR) if it cannot be made.
add_dev() {
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ADD_ERR=$("$RDMA_TCP" link add tcp0 netdev lo psp "$1" 2>&1)
}

# test_tcpdv (PROG, default the build's) on tcp0 in mode $1 ("" unknown):
# its checks as ours, its fingerprint in $FPR
run_dev_suite() {
	local mode=$1 prog=${2:-$TEST} out
	out=$(run_c_suite 60 "$prog" tcp0 ${mode:+"$mode"})
	local rc=$?
	printf '%s\n' "$out" | grep -E '^(FAIL|ok)' || true
	FPR=$(printf '%s\n' "$out" | sed -n 's/^fingerprint=//p' | tail -n 1)
	if [ $rc -eq 0 ]; then
		ok "test_tcpdv tcp0 ${mode:-(mode unknown)}: $(tail -n 1 <<<"$out")"
	else
		fail "test_tcpdv tcp0 ${mode:-(mode unknown)}" "$out"
	fi
}

# `link add ... psp MODE` comes with issue 15's configuration (rdma-tcp(8))
MODES=(off auth encrypt)
if ! "$RDMA_TCP" help 2>&1 | grep -qw psp; then
	echo "skip - rdma-tcp has no psp option yet: the default device only"
	"$RDMA_TCP" link add tcp0 netdev lo || exit 2
	eval "$("$RDMA_TCP" env)" && unset LD_PRELOAD
	run_dev_suite ""
	MODES=()
fi
for mode in "${MODES[@]}"; do
	if ! add_dev "$mode"; then
		fail "link add tcp0 netdev lo psp $mode" "$ADD_ERR"
		continue
	fi
	eval "$("$RDMA_TCP" env)" && unset LD_PRELOAD
	run_dev_suite "$mode"
	show=$("$RDMA_TCP" link show tcp0 2>&1)
	if [ "$mode" = off ]; then
		check_match "link show says mode off" '(^|[^a-z])off([^a-z]|$)' "$show"
	elif [ -n "$FPR" ]; then
		check_match "link show prints the fingerprint tcpdv reports ($mode)" \
			"${FPR}" "$show"
	else
		fail "no fingerprint reported in mode $mode"
	fi
done

# the other order: libibverbs loads the provider, then the program dlopen()s
# libtcp.so.1 (the build tree's, beside the provider's name)
run_dlopen() {
	local out
	if out=$(LD_LIBRARY_PATH=$1 timeout 60 "$DLOPEN" tcp0 2>&1); then
		ok "tcpdv_dlopen ($2): $(tail -n 1 <<<"$out")"
	else
		fail "tcpdv_dlopen ($2)" "$out"
	fi
}
run_dlopen "$BUILD/providers/tcp" "build tree"

# ------------------------------------------------ the library's file layout

so=$BUILD/providers/tcp/libtcp.so.1
prov=$BUILD/providers/tcp/libtcp-rdmav34.so
check "build tree: libtcp-rdmav34.so is a symlink" test -L "$prov"
check "build tree: it names libtcp.so.1's file" \
	test "$(readlink -f "$prov")" = "$(readlink -f "$so")"

# cache VAR: a value from the build's CMake cache
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
PREFIX=$(cache CMAKE_INSTALL_PREFIX)
LIBDIR=$(cache CMAKE_INSTALL_LIBDIR)
case $LIBDIR in /*) ;; *) LIBDIR=$PREFIX/$LIBDIR ;; esac
PROVDIR=$(cache VERBS_PROVIDER_DIR)
INCDIR=$PREFIX/include
if out=$(DESTDIR=$DEST cmake --install "$BUILD" 2>&1); then
	ok "cmake --install into a scratch DESTDIR"
else
	fail "cmake --install" "$out"
fi
check "installed: $LIBDIR/libtcp.so.1 (soname link)" test -L "$DEST$LIBDIR/libtcp.so.1"
check "installed: $LIBDIR/libtcp.so (for -ltcp)" test -e "$DEST$LIBDIR/libtcp.so"
link=$(readlink "$DEST$PROVDIR/libtcp-rdmav34.so" 2>/dev/null)
check_match "installed: the provider name is a relative link" '^\.\./' "$link"
check "installed: ...to the installed library" \
	test "$(readlink -f "$DEST$PROVDIR/libtcp-rdmav34.so")" = \
	"$(readlink -f "$DEST$LIBDIR/libtcp.so.1")"
check "installed: no provider file of its own" \
	test "$(find "$DEST$PROVDIR" -type f | wc -l)" -eq 0
check "installed: infiniband/tcpdv.h" test -f "$DEST$INCDIR/infiniband/tcpdv.h"
check "installed: tcpdv.pc" test -f "$DEST$LIBDIR/pkgconfig/tcpdv.pc"

# test_tcpdv from source against the installed header and library, through
# pkg-config (sysroot: the scratch DESTDIR)
flags=$(PKG_CONFIG_PATH=$DEST$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST \
	pkg-config --cflags --libs tcpdv 2>&1)
check_match "pkg-config tcpdv: -ltcp -libverbs" '-ltcp.*-libverbs' "$flags"
san=()
grep -q '^RDMA_TCP_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" &&
	san=("-fsanitize=address,undefined")
prog=$DEST/test_tcpdv
# shellcheck disable=SC2086 # pkg-config's flags are words
if out=$(cc -std=gnu11 "${san[@]}" -o "$prog" -I"$SRC/tests/unit" \
	-I"$SRC/tests/lib" $flags -I"$SRC/providers/tcp" \
	"$SRC/tests/unit/test_tcpdv.c" "$SRC/tests/unit/tcpdv_dev.c" \
	$flags 2>&1); then
	ok "test_tcpdv builds against the installed copy"
	eval "$("$RDMA_TCP" env)" && unset LD_PRELOAD
	export RDMAV_DRIVERS=$DEST$PROVDIR/libtcp
	export LD_LIBRARY_PATH=$DEST$LIBDIR
	check "it links the installed libtcp.so.1" \
		sh -c "ldd '$prog' | grep -q '$DEST$LIBDIR/libtcp.so.1'"
	run_dev_suite "" "$prog"
	run_dlopen "$DEST$LIBDIR" installed
	unset RDMAV_DRIVERS LD_LIBRARY_PATH
else
	fail "test_tcpdv against the installed copy does not build" "$out"
fi

finish
