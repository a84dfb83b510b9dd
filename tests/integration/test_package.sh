#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma-tcp installed as the Debian package installs it, and stock tools
# seeing its device with no environment at all.
#
#   tests/integration/test_package.sh PATH/TO/rdma-tcp
#
# As root, in a mount namespace of its own (unshare -m), so the host's /
# stays untouched: /usr, /etc and /var are overlays whose upper layers are
# a scratch tmpfs, /run and /dev/infiniband scratch tmpfs. Into that root:
#  - the build configured as debian/rules configures it (prefix /usr,
#    scratch build dir BUILD/package-test, reused) is installed with
#    `cmake --install`, or, with RDMA_TCP_TEST_DEB="FILE.deb...", those
#    packages with `dpkg -i` (maintainer scripts and all; removed with
#    `dpkg -r` at the end: the prerm takes the preload line out);
#  - then the postinst's step: ld-so-preload add (in /etc/ld.so.preload);
#    ld.so then says nothing to any program (it would name a bad line);
#  - layout: the provider link in /usr/lib/MA/libibverbs, tcp.driver in
#    /etc/libibverbs.d, the preload libraries, rdma-tcp in /usr/sbin,
#    rdma-tcp.service, links.conf, the man pages; a program built with
#    `pkg-config --cflags --libs rdma-tcp` against the installed headers
#    finds tcp0 through the installed libtcp.so.1 (tcpdv_query_device);
#  - links.conf with tcp0 on lo, restored by the unit's own ExecStart line
#    (twice: the second changes nothing), a bad links.conf refused whole;
#  - with `env -i` (no variable at all): ibv_devices lists tcp0,
#    ibv_devinfo shows its port active, ibv_rc_pingpong passes between two
#    env -i processes over 127.0.0.1; with a kernel that has RDMA
#    (test_coexist.sh's emulated netlink, fake_rdma_nl.so, stacked after
#    our line in /etc/ld.so.preload) ibv_devices lists its rxe0 and tcp0; with the ld.so.preload line removed
#    (the prerm's step) ibv_devices no longer lists it, and programs run
#    as before, ld.so silent.
# With the ASan build it checks nothing (the installed layout is the plain
# build's) and says so.
#
# Prints one line per check and "N passed, N failed"; exit status 1 on any
# failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

MA=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR=/usr/lib/$MA
PORT=18960

# ---- outside: build the /usr-prefixed tree, enter a mount namespace ----
if [ "${1:-}" != --inner ]; then
	rt_args "$@"
	BUILD=${RDMA_TCP%/kernel-glue/rdma-tcp}
	need_tools unshare cmake make cc pkg-config ibv_devices ibv_devinfo \
		ibv_rc_pingpong ss
	if grep -q '^RDMA_TCP_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
		echo "# skipped: the installed layout is the plain build's"
		finish
		exit
	fi
	if [ -z "${RDMA_TCP_TEST_DEB:-}" ]; then
		PB=$BUILD/package-test
		# what debian/rules does (dh_auto_configure: prefix /usr)
		if ! out=$(cmake -S "$SRC" -B "$PB" -DCMAKE_INSTALL_PREFIX=/usr \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo 2>&1) ||
			! out=$(make -C "$PB" -j"${JOBS:-2}" rdma-tcp tcp-rdmav34 \
				rdma-tcp-nl rdmacm-ext rdmacm-ext-tls 2>&1); then
			echo "$0: cannot build $PB:" >&2
			printf '%s\n' "$out" | tail -20 >&2
			exit 2
		fi
		export PB
	fi
	# the emulated kernel RDMA netlink of test_coexist.sh
	SHIM=$(built tests/tools/fake_rdma_nl.so) || exit 2
	export SHIM
	SCR=$(mktemp -d /tmp/rdma-tcp-pkg.XXXXXX) || exit 2
	unshare -m --propagation private bash "$0" --inner "$SCR"
	rc=$?
	rmdir "$SCR"
	exit $rc
fi

# ---- inside the mount namespace: $2 is the scratch mount point ----
SCR=$2
mount -t tmpfs -o mode=0755 rdma-tcp-pkg "$SCR" || exit 2
overlay() { # DIR: writes land in $SCR
	local n=${1//\//_}
	mkdir -p "$SCR/up$n" "$SCR/work$n" &&
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$SCR/up$n,workdir=$SCR/work$n" "$1"
}
if ! overlay /usr || ! overlay /etc || ! overlay /var ||
	! mount -t tmpfs -o mode=0755 run /run || ! mkdir -p /dev/infiniband ||
	! mount -t tmpfs -o mode=0755 ib /dev/infiniband; then
	echo "$0: cannot make the scratch root (overlay, tmpfs)" >&2
	exit 2
fi
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# the GID monitor of a device would keep this namespace alive
	/usr/sbin/rdma-tcp link del tcp0 >/dev/null 2>&1
	kill "${SRV:-}" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SYSPATH=PATH=/usr/sbin:/usr/bin:/sbin:/bin
if [ -n "${RDMA_TCP_TEST_DEB:-}" ]; then
	# shellcheck disable=SC2086 # a list of .debs
	check "dpkg -i$(for d in $RDMA_TCP_TEST_DEB; do printf ' %s' "${d##*/}"; done)" \
		env -i $SYSPATH dpkg -i $RDMA_TCP_TEST_DEB
else
	check "cmake --install (prefix /usr)" cmake --install "$PB"
	check "ldconfig" ldconfig
	check "ld-so-preload add (the postinst's step)" \
		/usr/libexec/rdma-tcp/ld-so-preload add
fi

# ---- layout ----
for f in "$LIBDIR/libtcp.so.1" "$LIBDIR/rdma-tcp/librdma-tcp-nl.so" \
	"$LIBDIR/rdma-tcp/librdmacm-ext.so" \
	"$LIBDIR/rdma-tcp/librdmacm-ext-tls.so" /usr/sbin/rdma-tcp \
	/etc/libibverbs.d/tcp.driver /etc/rdma-tcp/links.conf \
	/lib/systemd/system/rdma-tcp.service \
	/usr/include/infiniband/tcpdv.h /usr/include/rdma_tcp/wire.h \
	"$LIBDIR/pkgconfig/rdma-tcp.pc"; do
	check "installed: $f" test -f "$f"
done
check_match "provider beside rdma-core's: libibverbs/libtcp-rdmav34.so -> ../libtcp.so.1" \
	'^\.\./libtcp\.so\.1$' "$(readlink "$LIBDIR/libibverbs/libtcp-rdmav34.so")"
check "tcp.driver names the provider" grep -qx 'driver tcp' /etc/libibverbs.d/tcp.driver
check "/etc/ld.so.preload names librdma-tcp-nl.so" \
	grep -qx "$LIBDIR/rdma-tcp/librdma-tcp-nl.so" /etc/ld.so.preload
check_match "ld.so says nothing to a program with the preload line" '^$' \
	"$(env -i /bin/true 2>&1)"
for m in man7/rdma-tcp.7 man5/rdma-tcp-links.conf.5 man8/rdma-tcp.8; do
	check "man page $m" bash -c "ls /usr/share/man/$m* >/dev/null"
done

# ---- the boot service's command on a links.conf ----
EXEC=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/rdma-tcp.service)
check_match "the unit restores /etc/rdma-tcp/links.conf" \
	'^/usr/sbin/rdma-tcp link restore /etc/rdma-tcp/links.conf$' "$EXEC"
if command -v systemd-analyze >/dev/null; then
	check_match "systemd-analyze verify rdma-tcp.service: no complaint" '^ 0$' \
		"$(systemd-analyze verify /lib/systemd/system/rdma-tcp.service 2>&1; echo " $?")"
fi
printf 'tcp0 netdev lo\ntcp1 netdev lo psp maybe\n' >/etc/rdma-tcp/links.conf
out=$(env -i $EXEC 2>&1)
check_match "a bad links.conf is refused whole (exit 2, FILE:LINE)" \
	'^2 .*links.conf:2: psp MODE' "$? $out"
check "and adds nothing" test ! -e /run/rdma-tcp/sys/class/infiniband/tcp0
cat >/etc/rdma-tcp/links.conf <<'EOF'
# test_package.sh
tcp0 netdev lo    # the default security: psp auth, host key
EOF
check "the unit's ExecStart adds tcp0 (env -i)" env -i $EXEC
check "again: tcp0 left as it is" env -i $EXEC
check_match "tcp0 in the default registry /run/rdma-tcp" \
	'^link tcp0/1 state ACTIVE .*psp auth' "$(env -i /usr/sbin/rdma-tcp link show tcp0)"

# ---- stock tools, no environment ----
out=$(env -i ibv_devices 2>&1)
check_match "env -i ibv_devices lists tcp0" '[[:space:]]tcp0[[:space:]]+[0-9a-f]{16}' "$out"
out=$(env -i ibv_devinfo -d tcp0 2>&1)
check_match "env -i ibv_devinfo -d tcp0: port active" 'state:[[:space:]]+PORT_ACTIVE' "$out"
check_match "env -i ibv_devinfo -d tcp0: provider tcp's device" 'hca_id:[[:space:]]+tcp0' "$out"

env -i timeout 30 ibv_rc_pingpong -d tcp0 -g 0 -p $PORT -n 200 >"$SCR/srv" 2>&1 &
SRV=$!
if poll 15 listening "" $PORT; then
	cli=$(env -i timeout 30 ibv_rc_pingpong -d tcp0 -g 0 -p $PORT -n 200 127.0.0.1 2>&1)
	crc=$?
	wait "$SRV"
	src=$?
	check_match "env -i ibv_rc_pingpong client: 200 iters" "^0 .*200 iters" "$crc $cli"
	check_match "env -i ibv_rc_pingpong server: 200 iters" "^0 .*200 iters" "$src $(cat "$SCR/srv")"
else
	fail "ibv_rc_pingpong server listening on $PORT" "$(cat "$SCR/srv")"
fi
SRV=

# ---- a host with kernel RDMA devices (emulated: test_coexist.sh) ----
# tests/tools/fake_rdma_nl.so after our line in /etc/ld.so.preload is the
# kernel's RDMA netlink, with an rxe0 (driver id 14) on tcp0's node.
UV=$(cat /run/rdma-tcp/sys/class/infiniband/tcp0/tcp_uverbs)
cp /etc/ld.so.preload "$SCR/preload.saved"
echo "$SHIM" >>/etc/ld.so.preload
out=$(env -i FAKE_RDMA_NL_DEVICES="rxe0:14:$UV" ibv_devices 2>&1)
check_match "with a kernel: env -i ibv_devices lists the kernel's rxe0" \
	'[[:space:]]rxe0[[:space:]]+[0-9a-f]{16}' "$out"
check_match "with a kernel: and tcp0" '[[:space:]]tcp0[[:space:]]+[0-9a-f]{16}' "$out"
out=$(env -i FAKE_RDMA_NL_DEVICES="rxe0:14:$UV" ibv_devinfo -d tcp0 2>&1)
check_match "with a kernel: env -i ibv_devinfo -d tcp0: port active" \
	'state:[[:space:]]+PORT_ACTIVE' "$out"
cp "$SCR/preload.saved" /etc/ld.so.preload

# ---- pkg-config rdma-tcp and the installed headers ----
cat >"$SCR/dv.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <infiniband/tcpdv.h>
#include <rdma_tcp/registry.h>
#include <rdma_tcp/wire.h>

int main(void)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct tcpdv_device_attr a = { .comp_mask = TCPDV_DEVICE_ATTR_PSP };
	struct ibv_context *c = NULL;

	for (int i = 0; l && l[i] && !c; i++)
		if (!strcmp(ibv_get_device_name(l[i]), "tcp0"))
			c = ibv_open_device(l[i]);
	if (!c || !tcpdv_is_tcp_device(c) || tcpdv_query_device(c, &a))
		return 1;
	printf("tcp0 psp %u registry %s\n", a.psp_mode, RDMA_TCP_DEFAULT_ROOT);
	return 0;
}
EOF
flags=$(pkg-config --cflags --libs rdma-tcp 2>&1)
check_match "pkg-config --libs rdma-tcp: -ltcp and libibverbs" '-ltcp.*-libverbs' "$flags"
# shellcheck disable=SC2086
if out=$(cc -std=c11 -Wall -Werror -o "$SCR/dv" "$SCR/dv.c" $flags 2>&1); then
	ok "a program builds with pkg-config rdma-tcp"
	check_match "it finds tcp0 through the installed libtcp.so.1 (env -i)" \
		'^tcp0 psp [0-9]+ registry /run/rdma-tcp$' "$(env -i "$SCR/dv" 2>&1)"
else
	fail "a program builds with pkg-config rdma-tcp" "$out"
fi

# ---- without the ld.so.preload line (the prerm's step) ----
check "link del tcp0" /usr/sbin/rdma-tcp link del tcp0
if [ -n "${RDMA_TCP_TEST_DEB:-}" ]; then
	check "dpkg -r (prerm takes the line out)" \
		env -i $SYSPATH dpkg -r rdma-tcp-dev rdma-tcp
	check "the library is gone" test ! -e "$LIBDIR/rdma-tcp/librdma-tcp-nl.so"
else
	check "ld-so-preload remove" /usr/libexec/rdma-tcp/ld-so-preload remove
fi
check "/etc/ld.so.preload without it" bash -c \
	"! grep -q librdma-tcp-nl /etc/ld.so.preload 2>/dev/null"
out=$(env -i /bin/true 2>&1)
check_match "ld.so says nothing to a program (no stale preload line)" '^$' "$out"
out=$(env -i ibv_devices 2>&1)
check_nomatch "env -i ibv_devices: no tcp device without the preload" 'tcp0' "$out"
# the stock answers: a list, or this kernel's "no RDMA here"
check_match "and ibv_devices runs as without rdma-tcp" \
	'node GUID|Failed to get IB devices list' "$out"
finish
