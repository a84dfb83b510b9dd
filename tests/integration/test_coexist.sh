#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Coexistence with kernel RDMA devices, on a kernel that has none, and
# fork support through librdma-tcp-nl (the RDMA netlink preload of
# `rdma-tcp env`).
#
#   tests/integration/test_coexist.sh PATH/TO/rdma-tcp
#
# On a host with ib_core loaded, libibverbs 44 lists devices through RDMA
# netlink, not SYSFS_PATH, and for a device with a driver id (rxe, mlx5...)
# walks every provider's match table (try_drivers -> match_driver_id,
# libibverbs/init.c). This kernel has no RDMA netlink, so
# tests/tools/fake_rdma_nl.so (LD_PRELOAD) answers the NETLINK_RDMA socket
# as such a kernel would, with the devices named in FAKE_RDMA_NL_DEVICES.
# Their char device is tcp0's /dev/infiniband node (this kernel has no
# uverbs to name), and no kernel driver is behind them: they can be
# listed, never opened. Stacked under librdma-tcp-nl, it is the kernel
# that preload talks to.
#
# As root. Private registry with tcp0 on lo. Checks, with stock tools,
# pyverbs and tests/tools/nl_probe (our provider enabled by RDMAV_DRIVERS):
#  - no kernel, no preload: the sysfs path lists tcp0 (index -1);
#  - no kernel, librdma-tcp-nl (this machine under `rdma-tcp env`): tcp0
#    listed through netlink with an index, ibv_devinfo and ibv_rc_pingpong
#    on it, fork support UNNEEDED, and a forked child touching a page
#    shared with an MR after ibv_fork_init() lives (C and pyverbs); without
#    the preload the same child has no such page (libibverbs 44 marks it
#    MADV_DONTFORK: a touch is SIGSEGV), which shows the check can fail;
#  - a raw NETLINK_RDMA client under the preload: its char device answer,
#    clean errors for requests it cannot serve or that are malformed;
#  - a fake rxe0 (driver id RDMA_DRIVER_RXE) without our preload: no crash,
#    netlink was asked, Debian's rxe provider claims rxe0;
#  - the same under librdma-tcp-nl: rxe0 and tcp0 in one list, each with
#    its index, rxe0 still the rxe provider's, tcp0 opened and
#    ibv_rc_pingpong traffic on it, the kernel's copy-on-fork answer
#    passed through (absent: fork protection set up; 1: UNNEEDED);
#  - nes0 and tcp9 with a driver id no provider of rdma-core 44 has: no
#    crash, neither claimed (tcp9 has our name prefix but is not ours);
#  - ibv_devinfo over all of them: not killed by a signal;
#  - the registry's mirror of the kernel's /sys/class/infiniband (a mount
#    namespace shows a fake rxe0 there): made by `env`, read through
#    SYSFS_PATH, removed when the device goes; and with a kernel
#    infiniband_verbs class there, `link add` numbers from uverbs512.
#
# Traffic only on lo. Prints one line per check and "N passed, N failed";
# exit status 1 on any failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"
# shellcheck source=../lib/stock_matrix.sh
. "$HERE/../lib/stock_matrix.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ibv_devices ibv_devinfo ibv_rc_pingpong unshare ss timeout readelf nm
SHIM=$(built tests/tools/fake_rdma_nl.so) || exit 2
NL=$(built kernel-glue/librdma-tcp-nl.so) || exit 2
PROBE=$(built tests/tools/nl_probe) || exit 2
PYTHON=/usr/bin/python3 # pyverbs exists only for Debian's python
if ! "$PYTHON" -c 'import pyverbs.device' 2>/dev/null; then
	echo "$0: pyverbs not found (bash tests/lib/deps.sh installs it)" >&2
	exit 2
fi

# enum rdma_driver_id (rdma/ib_user_ioctl_verbs.h): RXE has a provider in
# rdma-core 44, NES was removed from it
DRIVER_RXE=14
DRIVER_NES=8
# librdma-tcp-nl's indexes (kernel-glue/nl_preload.h): from 2^30
NL_INDEX_MIN=1073741824

lo_device tcp0
UVERBS=$(cat "$RDMA_TCP_ROOT/sys/class/infiniband/tcp0/tcp_uverbs") || exit 2
ENV_PRELOAD=$(sed -n "s/^export LD_PRELOAD=//p" <<<"$("$RDMA_TCP" env)" |
	tr -d "'")
check_match "rdma-tcp env puts librdma-tcp-nl in LD_PRELOAD" \
	"(^|:)$NL(:|$)" "$ENV_PRELOAD"
# cheap for programs that never use RDMA: libc only, the interposed calls
# only (nothing else of a program can land in it)
NEEDED=$(readelf -d "$NL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
check_match "librdma-tcp-nl needs libc only (got: $NEEDED)" '^libc\.so\.6 $' "$NEEDED"
EXPORTS=$(nm -D --defined-only "$NL" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')
check_match "librdma-tcp-nl exports the interposed calls only" \
	'^bind close getsockname ibv_fork_init recvfrom recvmsg send sendmsg sendto setsockopt socket $' \
	"$EXPORTS"
SM_LOGDIR=$(mktemp -d /tmp/rdma-tcp-coexist.XXXXXX) || exit 2
SM_RETRY=0
SM_TIMEOUT=30
cleanup() {
	sm_cleanup
	rm -rf "$SM_LOGDIR"
	_lo_device_cleanup
}
trap cleanup EXIT

# A program with LD_PRELOAD=$1 (after the sanitizer runtime in a sanitizer
# build; empty: none) and the fake kernel's devices $2 (empty: no fake).
# Output (stdout and stderr) in $OUT, status in $RC. FAKE_RDMA_NL_COF is
# passed on when set.
run_pre() {
	local preload=$1 devs=$2 pre=()
	shift 2
	if [ -n "$devs" ]; then
		preload=${preload:+$preload:}$SHIM
	fi
	if [ "$SAN_ACTIVE" = 1 ]; then
		LD_PRELOAD=$preload san_refresh
		pre=("${STOCK[@]}")
		san_refresh
	else
		pre=(env "LD_PRELOAD=$preload")
	fi
	OUT=$(FAKE_RDMA_NL_DEVICES=$devs FAKE_RDMA_NL_TRACE=1 \
		IBV_SHOW_WARNINGS=1 "${pre[@]}" "$@" 2>&1)
	RC=$?
	if san_report_in "$OUT"; then
		fail "$*: no sanitizer report" "$OUT"
	fi
}
run_nl() { run_pre "" "$@"; }

# $1: what; passes if the tool exited by itself (no signal: 128+N)
check_no_signal() {
	if [ "$RC" -lt 128 ]; then
		ok "$1: no crash (exit $RC)"
	else
		fail "$1: no crash" "exit $RC"$'\n'"$OUT"
	fi
}

# the index nl_probe printed for device $1 in $OUT
index_of() { awk -v d="$1" '$1 == d { print $2 }' <<<"$OUT"; }

# 1. this kernel, as it is, without our preload: SYSFS_PATH lists tcp0
run_nl "" ibv_devices
check "ibv_devices, sysfs path: exit 0" test "$RC" = 0
check_match "ibv_devices, sysfs path: tcp0 listed" $'\n'"[[:space:]]*tcp0[[:space:]]" "$OUT"
run_nl "" "$PROBE" list
check_match "sysfs path: tcp0 has no index" $'(^|\n)tcp0 -1 ' "$OUT"

# 2. this kernel under librdma-tcp-nl: it is RDMA netlink
run_pre "$NL" "" "$PROBE" list
check_match "preload, no kernel: tcp0 listed" $'(^|\n)tcp0 ' "$OUT"
IDX=$(index_of tcp0)
check "preload, no kernel: tcp0 has an index from 2^30 (got '$IDX')" \
	test "${IDX:-0}" -ge "$NL_INDEX_MIN"
check_match "preload, no kernel: fork support UNNEEDED" $'\nfork UNNEEDED' "$OUT"
run_pre "$NL" "" ibv_devinfo -d tcp0
check_match "preload, no kernel: ibv_devinfo -d tcp0, port active" \
	"state:[[:space:]]+PORT_ACTIVE" "$OUT"
run_pre "$NL" "" "$PROBE" fork tcp0
check "preload, no kernel: forked child touching an MR's page lives" \
	test "$RC" = 0
check_match "preload, no kernel: ibv_fork_init 0, status UNNEEDED" \
	$'fork_init 0\nstatus UNNEEDED\nchild exit 0' "$OUT"
run_pre "" "" "$PROBE" fork tcp0
check_match "control, no preload: libibverbs 44 marks the page, the child has none" \
	$'status ENABLED\nchild: page not mapped' "$OUT"
SM_PRELOAD=$ENV_PRELOAD
sm_run_case "preload, no kernel: ibv_rc_pingpong on tcp0" "" tcp0 "" tcp0 \
	127.0.0.1 ibv_rc_pingpong -n 200

# pyverbs, as rdma-core's suite uses it: list, fork_init, MRs beside the
# heap, a forked child that walks the heap
PYCODE='
import os, sys
import pyverbs.device as d
import pyverbs.enums as e
from pyverbs.fork import fork_init, is_fork_initialized
from pyverbs.mr import MR
from pyverbs.pd import PD
print("devices", *[x.name.decode() for x in d.get_device_list()])
fork_init()
print("fork", {e.IBV_FORK_DISABLED: "DISABLED", e.IBV_FORK_ENABLED: "ENABLED",
               e.IBV_FORK_UNNEEDED: "UNNEEDED"}[is_fork_initialized()])
pd = PD(d.Context(name="tcp0"))
mrs = [MR(pd, 100, e.IBV_ACCESS_LOCAL_WRITE) for _ in range(50)]
heap = [bytearray(100) for _ in range(1000)]
pid = os.fork()
if pid == 0:
    os._exit(0 if sum(len(b) for b in heap) == 100000 else 3)
_, st = os.waitpid(pid, 0)
print("child", os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st))
'
run_pre "$ENV_PRELOAD" "" "$PYTHON" -c "$PYCODE"
check_match "pyverbs, no kernel: tcp0 listed" $'(^|\n)devices tcp0' "$OUT"
check_match "pyverbs, no kernel: fork_init, UNNEEDED, the child lives" \
	$'fork UNNEEDED\nchild 0' "$OUT"

# A raw NETLINK_RDMA client (as iproute2's rdma, which uses libmnl), with
# requests libibverbs never sends: the device's char device, the wrong
# char device type, an unknown index, an attribute running past the
# message, a header longer than what was sent and 3 stray bytes (no
# answer, as from the kernel), then copy-on-fork with an ack.
RAWCODE='
import socket, struct
# uapi values (rdma/rdma_netlink.h): a stable ABI
NLDEV, GET, SYS_GET, GET_CHARDEV = 5, 1, 6, 15
ATTR_INDEX, ATTR_NAME, ATTR_CHARDEV_NAME, ATTR_CHARDEV_TYPE = 1, 2, 70, 69
COF = 93
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 20)
s.bind((0, 0))
s.settimeout(5)
def attr(typ, data):
    return struct.pack("=HH", 4 + len(data), typ) + data + b"\0" * (-len(data) % 4)
def send(op, flags, seq, attrs=b"", length=None):
    s.send(struct.pack("=IHHII", length or 16 + len(attrs), (NLDEV << 10) + op,
                       flags, seq, 0) + attrs)
def recv():
    b = s.recv(65536)
    typ, seq = struct.unpack_from("=H", b, 4)[0], struct.unpack_from("=I", b, 8)[0]
    attrs, off = {}, 16
    while typ not in (2, 3) and off + 4 <= len(b):
        alen, atyp = struct.unpack_from("=HH", b, off)
        attrs[atyp] = b[off + 4:off + alen]
        off += (alen + 3) & ~3
    err = struct.unpack_from("=i", b, 16)[0] if typ == 2 else None
    return typ, seq, attrs, err
send(GET, 0x301, 1)
devs = {}
while True:
    typ, seq, a, _ = recv()
    if typ == 3: break
    devs[a[ATTR_NAME][:-1].decode()] = struct.unpack("=I", a[ATTR_INDEX])[0]
print("dump", *sorted(devs))
idx = devs["tcp0"]
send(GET_CHARDEV, 1, 2, attr(ATTR_INDEX, struct.pack("=I", idx)) + attr(ATTR_CHARDEV_TYPE, b"uverbs\0"))
typ, seq, a, _ = recv()
print("chardev", seq, a[ATTR_CHARDEV_NAME][:-1].decode())
send(GET_CHARDEV, 1, 3, attr(ATTR_INDEX, struct.pack("=I", idx)) + attr(ATTR_CHARDEV_TYPE, b"umad\0"))
print("chardev-umad error", recv()[3])
send(GET_CHARDEV, 1, 4, attr(ATTR_INDEX, struct.pack("=I", 0x7ffffff0)))
print("chardev-unknown error", recv()[3])
# an attribute running past the end of the message
send(GET_CHARDEV, 1, 5, struct.pack("=HHI", 200, ATTR_INDEX, idx))
print("chardev-bad-attr error", recv()[3])
# a header claiming more than was sent, and bytes short of a header: no
# answer, as from the kernel
send(GET_CHARDEV, 1, 6, length=4000)
s.send(b"\x01\x02\x03")
send(SYS_GET, 1 | 4, 7)
typ, seq, a, _ = recv()
print("sys", seq, "cof", a[COF][0])
typ, seq, a, err = recv()
print("ack", seq, err)
'
run_pre "$NL" "" "$PYTHON" -c "$RAWCODE"
check "raw client: exit 0" test "$RC" = 0
check_match "raw client: the dump lists tcp0" $'(^|\n)dump tcp0\n' "$OUT"
check_match "raw client: GET_CHARDEV names tcp0's $UVERBS" \
	$'\nchardev 2 '"$UVERBS"$'\n' "$OUT"
check_match "raw client: another char device type: EOPNOTSUPP" \
	$'\nchardev-umad error -95\n' "$OUT"
check_match "raw client: an unknown index: EOPNOTSUPP (no kernel to ask)" \
	$'\nchardev-unknown error -95\n' "$OUT"
check_match "raw client: an attribute past the message's end: refused" \
	$'\nchardev-bad-attr error -95\n' "$OUT"
check_match "raw client: truncated requests unanswered, the next one answered, then acked" \
	$'\nsys 7 cof 1\nack 7 0' "$OUT"

# 3. a kernel rxe device beside our provider, without our preload
run_nl "rxe0:$DRIVER_RXE:$UVERBS" ibv_devices
check_no_signal "ibv_devices, netlink rxe0"
check "ibv_devices, netlink rxe0: exit 0" test "$RC" = 0
check_match "ibv_devices, netlink rxe0: the device dump was asked for" \
	"fake_rdma_nl: answered RDMA_NLDEV_CMD_GET"$'\n' "$OUT"
check_match "ibv_devices, netlink rxe0: its char device was asked for" \
	"answered RDMA_NLDEV_CMD_GET_CHARDEV" "$OUT"
check_match "ibv_devices, netlink rxe0: claimed by the rxe provider" \
	$'\n'"[[:space:]]*rxe0[[:space:]]+0200000000000000" "$OUT"
check_nomatch "ibv_devices, netlink rxe0: tcp0 not listed without the preload" \
	$'\n'"[[:space:]]*tcp0[[:space:]]" "$OUT"

# 4. the same host under librdma-tcp-nl: both listed, each its own
run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS" "$PROBE" list
check "preload + kernel: nl_probe list exit 0" test "$RC" = 0
check_match "preload + kernel: the kernel's dump was asked for" \
	"fake_rdma_nl: answered RDMA_NLDEV_CMD_GET"$'\n' "$OUT"
check_match "preload + kernel: rxe0 listed with the kernel's index 1" \
	$'(^|\n)rxe0 1 0200000000000000' "$OUT"
IDX=$(index_of tcp0)
check "preload + kernel: tcp0 listed with an index from 2^30 (got '$IDX')" \
	test "${IDX:-0}" -ge "$NL_INDEX_MIN"
check_nomatch "preload + kernel: every device claimed" \
	"no userspace device-specific driver" "$OUT"
check_match "preload + kernel: the kernel's copy-on-fork asked" \
	"answered RDMA_NLDEV_CMD_SYS_GET" "$OUT"
check_match "preload + kernel without copy-on-fork: status DISABLED" \
	$'\nfork DISABLED' "$OUT"
run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS" ibv_devices
check_match "preload + kernel: ibv_devices lists rxe0" \
	$'\n'"[[:space:]]*rxe0[[:space:]]+0200000000000000" "$OUT"
check_match "preload + kernel: ibv_devices lists tcp0" \
	$'\n'"[[:space:]]*tcp0[[:space:]]" "$OUT"
# rdma-core 44 has one provider for RDMA_DRIVER_RXE: with ours loaded
# first (RDMAV_DRIVERS), rxe0 is still rxe's (ours would answer
# EOPNOTSUPP to every verb; rxe's ibv_open_device fails on this node)
run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS" ibv_devinfo -d tcp0
check_match "preload + kernel: ibv_devinfo -d tcp0, port active" \
	"state:[[:space:]]+PORT_ACTIVE" "$OUT"
FAKE_RDMA_NL_COF=1 run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS" "$PROBE" fork tcp0
check_match "preload + kernel with copy-on-fork: UNNEEDED, the child lives" \
	$'fork_init 0\nstatus UNNEEDED\nchild exit 0' "$OUT"
FAKE_RDMA_NL_COF=0 run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS" "$PROBE" fork tcp0
check_match "preload + kernel saying no copy-on-fork: protection set up" \
	$'fork_init 0\nstatus ENABLED\nchild: page not mapped' "$OUT"
export FAKE_RDMA_NL_DEVICES="rxe0:$DRIVER_RXE:$UVERBS"
SM_PRELOAD=$NL:$SHIM
sm_run_case "preload + kernel rxe0: ibv_rc_pingpong on tcp0" "" tcp0 "" tcp0 \
	127.0.0.1 ibv_rc_pingpong -n 200
unset FAKE_RDMA_NL_DEVICES

# 5. devices no provider claims, one named like ours
run_pre "$NL" "nes0:$DRIVER_NES:$UVERBS,tcp9:$DRIVER_NES:$UVERBS" ibv_devices
check_no_signal "ibv_devices, netlink nes0 tcp9"
check "ibv_devices, netlink nes0 tcp9: exit 0" test "$RC" = 0
check_match "ibv_devices, netlink nes0 tcp9: nes0 unclaimed" \
	"no userspace device-specific driver found for nes0" "$OUT"
check_match "ibv_devices, netlink nes0 tcp9: tcp9 unclaimed (not in the registry)" \
	"no userspace device-specific driver found for tcp9" "$OUT"
check_match "ibv_devices, netlink nes0 tcp9: tcp0 listed" \
	$'\n'"[[:space:]]*tcp0[[:space:]]" "$OUT"

# 6. ibv_devinfo opens each listed device; rxe0 has no kernel behind it, so
# opening it fails, cleanly
run_pre "$NL" "rxe0:$DRIVER_RXE:$UVERBS,nes0:$DRIVER_NES:$UVERBS" ibv_devinfo
check_no_signal "ibv_devinfo, netlink rxe0 nes0"
check_match "ibv_devinfo, netlink rxe0 nes0: the device dump was asked for" \
	"answered RDMA_NLDEV_CMD_GET"$'\n' "$OUT"

# 7. the mirror of the kernel's devices: in a mount namespace whose
# /sys/class has infiniband/rxe0 (as rdmacore.sh shows a netdev)
mirror_run() {
	local view=$SM_LOGDIR/class real=$SM_LOGDIR/class.real c ib
	ib=$RDMA_TCP_ROOT/sys/class/infiniband
	mkdir -p "$view/infiniband/rxe0" "$view/infiniband_verbs" "$real" &&
		echo "0200:0000:0000:0000" >"$view/infiniband/rxe0/node_guid" &&
		mount --bind /sys/class "$real" || return
	for c in "$real"/*; do
		[ "${c##*/}" = infiniband ] || ln -s "$c" "$view/${c##*/}"
	done
	mount --bind "$view" /sys/class || return
	"$RDMA_TCP" env >/dev/null || return
	[ -L "$ib/rxe0" ] && echo "link $(readlink "$ib/rxe0")"
	eval "$("$RDMA_TCP" env)"
	echo "read $(cat "$SYSFS_PATH/class/infiniband/rxe0/node_guid")"
	# the kernel has uverbs devices: ours number from a high base
	"$RDMA_TCP" link add tcp1 netdev lo >/dev/null &&
		echo "tcp1 $(cat "$ib/tcp1/tcp_uverbs")"
	"$RDMA_TCP" link del tcp1 >/dev/null
	rm -r "$view/infiniband/rxe0"
	"$RDMA_TCP" env >/dev/null
	[ -e "$ib/rxe0" ] || [ -L "$ib/rxe0" ] || echo "gone"
	[ -d "$ib/tcp0" ] && [ ! -L "$ib/tcp0" ] && echo "tcp0 kept"
}
export SM_LOGDIR RDMA_TCP
OUT=$(unshare --mount --propagation private bash -c "$(declare -f mirror_run)
	mirror_run" 2>&1)
check_match "mirror: env links ROOT's class/infiniband/rxe0 to the kernel's" \
	$'(^|\n)link /sys/class/infiniband/rxe0\n' "$OUT"
check_match "mirror: rxe0's sysfs file read through SYSFS_PATH" \
	$'\nread 0200:0000:0000:0000\n' "$OUT"
N=$(sed -n 's/^tcp1 uverbs//p' <<<"$OUT")
check "kernel with uverbs: a device added numbers from uverbs512 (got uverbs$N)" \
	test "${N:-0}" -ge 512
check_match "mirror: the link goes with the device, tcp0 stays" \
	$'\ngone\ntcp0 kept' "$OUT"
check "mirror: nothing of rxe0 left outside the namespace" \
	test ! -e "$RDMA_TCP_ROOT/sys/class/infiniband/rxe0"

finish
